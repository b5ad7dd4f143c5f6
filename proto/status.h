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
#include <stdio.h>

typedef enum pr_status {
    PR_OK = 0,
    PR_EINVAL,     /* invalid input: do not retry */
    PR_ENOTFOUND,  /* nothing there (lenient parsers, lookups); not a failure by itself */
    PR_ETRANSIENT, /* may succeed later: retry, back off, answer 503 */
    PR_EFATAL,     /* cannot go on */
} pr_status;

/* Exit codes (sysexits): bad configuration, a failure that may pass if run again later
 * (Kafka or the store unreachable at start-up), and an internal error. */
#define PR_EXIT_CONFIG   78 /* EX_CONFIG */
#define PR_EXIT_TEMPFAIL 75 /* EX_TEMPFAIL */
#define PR_EXIT_SOFTWARE 70 /* EX_SOFTWARE */

const char *pr_status_name(pr_status st);

/* The process exit status a command returns for a failure of class st (PR_OK gives 0):
 * invalid input is a configuration error (78), transient 75, anything else 70. */
int pr_status_exit_code(pr_status st);

/* Formats into err (if err and errlen are non-zero) and returns st, so that
 * `return pr_err(PR_EINVAL, err, errlen, "bad %s", x);` reads as one step. */
pr_status pr_err(pr_status st, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A list of one-line messages, for checks that report every problem at once (configuration).
 * Zero-initialise; pr_errlist_release() frees the messages. A message that cannot be stored
 * (out of memory) is still counted, and printed as "out of memory" by pr_errlist_print.
 */
typedef struct pr_errlist {
    char **msg;
    size_t len, cap;
    size_t lost; /* messages dropped for lack of memory */
} pr_errlist;

void pr_errlist_add(pr_errlist *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Messages added, lost ones included. */
size_t pr_errlist_count(const pr_errlist *e);
/* Writes each message on its own line, after `prefix` (may be NULL). */
void pr_errlist_print(const pr_errlist *e, const char *prefix, FILE *f);
void pr_errlist_release(pr_errlist *e);

#endif
