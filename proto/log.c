/*
 * log.c - JSON-lines logger (see log.h).
 *
 * DESIGN: each line is built with jansson in memory and written with one write(2), so lines
 * from concurrent threads never interleave. The level and fd are plain process-wide settings
 * written once at start-up (before threads start) and read afterwards.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pr_log_level min_level = PR_LOG_INFO;
static int log_fd = 2;

static const char *const level_name[] = {"debug", "info", "warn", "error"};

int pr_log_set_level_name(const char *name)
{
    for (int i = 0; name && i <= PR_LOG_ERROR; i++) {
        if (strcmp(name, level_name[i]) == 0) {
            min_level = (pr_log_level)i;
            return 0;
        }
    }
    return -1;
}

void pr_log_set_level(pr_log_level lvl)
{
    min_level = lvl;
}

bool pr_log_enabled(pr_log_level lvl)
{
    return lvl >= min_level;
}

void pr_log_set_fd(int fd)
{
    log_fd = fd;
}

static void format_ts(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

void pr_log_write(pr_log_level lvl, const char *component, const char *msg, json_t *fields)
{
    char ts[40];
    json_t *line = json_object();
    char *text = NULL;

    if (!line)
        goto out;
    format_ts(ts, sizeof ts);
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_name[lvl <= PR_LOG_ERROR ? lvl : 0]));
    json_object_set_new(line, "component", json_string(component ? component : "phonereport"));
    /* json_string rejects invalid UTF-8: keep the line, say so. */
    json_t *m = json_string(msg ? msg : "");
    json_object_set_new(line, "msg", m ? m : json_string("(message not valid UTF-8)"));
    if (fields && json_is_object(fields))
        json_object_update_missing(line, fields);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n'; /* json_dumps leaves room: we replace the NUL and write n+1 bytes */
        const char *p = text;
        size_t left = n + 1;
        while (left > 0) {
            ssize_t w = write(log_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
out:
    free(text);
    json_decref(line);
    json_decref(fields);
}

void pr_log_writef(pr_log_level lvl, const char *component, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pr_log_write(lvl, component, msg, NULL);
}
