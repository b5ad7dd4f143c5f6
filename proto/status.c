/* status.c - names of pr_status and the error-buffer formatter. */
#include "status.h"

#include <stdio.h>

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
