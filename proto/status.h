/*
 * status.h - the one error classification every phonereport API returns.
 *
 * The class, not the message, decides what a caller does: PR_EINVAL is bad input (answer 4xx,
 * dead-letter, exit 78 for config), PR_ETRANSIENT may succeed if retried later (503, rewind),
 * PR_EFATAL means the process cannot go on. Messages go into a caller-owned buffer
 * (char *err, size_t errlen) and are one line, without a trailing newline.
 */
#ifndef PR_STATUS_H
#define PR_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum pr_status {
    PR_OK = 0,
    PR_EINVAL,     /* invalid input: do not retry */
    PR_ENOTFOUND,  /* nothing there (lenient parsers, lookups); not a failure by itself */
    PR_ETRANSIENT, /* may succeed later: retry, back off, answer 503 */
    PR_EFATAL,     /* cannot go on */
} pr_status;

/* Exit code for bad configuration (sysexits EX_CONFIG). */
#define PR_EXIT_CONFIG 78

const char *pr_status_name(pr_status st);

/* Formats into err (if err and errlen are non-zero) and returns st, so that
 * `return pr_err(PR_EINVAL, err, errlen, "bad %s", x);` reads as one step. */
pr_status pr_err(pr_status st, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
