/*
 * limits.c - the size decisions of the edge: Content-Length against the body limit, and the
 * in-flight byte budget shared by all connections (bodies being received plus records not
 * yet acknowledged by Kafka). Pure: no HTTP, no Kafka; the budget is a lock-free counter
 * used from every HTTP thread and the delivery-report thread.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "ingest_int.h"

ingest_length_verdict ingest_limits_content_length(const char *value, long long max,
                                                   unsigned long long *len)
{
    if (!value)
        return INGEST_LEN_ABSENT;
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return INGEST_LEN_INVALID;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(p, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return INGEST_LEN_INVALID;
    if (errno == ERANGE || v > (unsigned long long)max)
        return INGEST_LEN_TOO_LARGE;
    *len = v;
    return INGEST_LEN_OK;
}

void ingest_budget_init(ingest_budget *b, long long max)
{
    atomic_init(&b->used, 0);
    b->max = max;
}

bool ingest_budget_take(ingest_budget *b, long long n)
{
    long long cur = atomic_load(&b->used);
    do {
        if (n < 0 || cur + n > b->max)
            return false;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    return true;
}

void ingest_budget_give(ingest_budget *b, long long n)
{
    atomic_fetch_sub(&b->used, n);
}

long long ingest_budget_used(ingest_budget *b)
{
    return atomic_load(&b->used);
}

long long ingest_limits_retry_after_s(long long ms)
{
    long long s = (ms + 999) / 1000;
    return s < 1 ? 1 : s;
}
