/* status.c - names of pr_status, the exit code of each class, the error-buffer formatter and
 * the error list of checks that report every problem at once. */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

const char *pr_status_name(pr_status st)
{
    switch (st) {
    case PR_OK: return "ok";
    case PR_EINVAL: return "invalid";
    case PR_ENOTFOUND: return "not_found";
    case PR_ETRANSIENT: return "transient";
    case PR_EFATAL: return "fatal";
    }
    return "unknown";
}

pr_status pr_err(pr_status st, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

int pr_status_exit_code(pr_status st)
{
    switch (st) {
    case PR_OK: return 0;
    case PR_EINVAL: return PR_EXIT_CONFIG;
    case PR_ETRANSIENT: return PR_EXIT_TEMPFAIL;
    case PR_ENOTFOUND:
    case PR_EFATAL: break;
    }
    return PR_EXIT_SOFTWARE;
}

void pr_errlist_add(pr_errlist *e, const char *fmt, ...)
{
    char buf[512], *d;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **n = pr_grow(e->msg, &e->cap, e->len, sizeof *n, 8);
    if (!n) {
        e->lost++;
        return;
    }
    e->msg = n;
    if (!(d = strdup(buf))) {
        e->lost++;
        return;
    }
    e->msg[e->len++] = d;
}

size_t pr_errlist_count(const pr_errlist *e)
{
    return e->len + e->lost;
}

void pr_errlist_print(const pr_errlist *e, const char *prefix, FILE *f)
{
    for (size_t i = 0; i < e->len; i++)
        fprintf(f, "%s%s\n", prefix ? prefix : "", e->msg[i]);
    if (e->lost)
        fprintf(f, "%sout of memory (%zu more problems not shown)\n", prefix ? prefix : "",
                e->lost);
}

void pr_errlist_release(pr_errlist *e)
{
    for (size_t i = 0; i < e->len; i++)
        free(e->msg[i]);
    free(e->msg);
    *e = (pr_errlist){0};
}
