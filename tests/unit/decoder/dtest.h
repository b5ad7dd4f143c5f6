/*
 * dtest.h - helpers for the decoder's unit tests (header-only, static functions).
 */
#ifndef DTEST_H
#define DTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

/* base64url or base64, padding optional; returns a malloc'd buffer or NULL. */
static inline unsigned char *dt_b64url(const char *s, size_t *len)
{
    size_t n = strlen(s), o = 0;
    unsigned char *out = malloc(n * 3 / 4 + 3);
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n && out; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-' || c == '+')
            v = 62;
        else if (c == '_' || c == '/')
            v = 63;
        else
            continue;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

/* Reads a file of the shared samples; aborts the test run if missing. */
static inline char *dt_sample(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/samples/%s", PR_DATA_DIR, name);
    char *b = ts_read_file(path, len);
    if (!b) {
        fprintf(stderr, "missing sample %s\n", path);
        exit(1);
    }
    return b;
}

/* Runs a shell command built printf-style; returns its exit status. */
static inline int dt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int dt_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *out = NULL;
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n%s\n", rc, cmd, out ? out : "");
    free(out);
    return rc;
}

#endif
