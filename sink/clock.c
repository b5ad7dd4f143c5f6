/*
 * clock.c - the sink's wall-clock times as the store and the output records write them.
 */
#include <stdio.h>
#include <time.h>

#include "sink_internal.h"

void sink_time_rfc3339(long long unix_ms, char *buf, size_t len)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ms % 1000);
}

long long sink_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sink_now_rfc3339(char *buf, size_t len)
{
    sink_time_rfc3339(sink_real_ms(), buf, len);
}
