/*
 * sipnotify.h - sends out-of-dialog SIP NOTIFYs (e.g. `Event: report`) to phones and reports
 * one result per target: the phone's final SIP status, or why there is none.
 *
 * A Cisco MPP phone left at `Report_To_Server: On Request` uploads its report only when it
 * restarts or when it receives an authenticated NOTIFY (DESIGN section 5 "On request"). The
 * phone challenges the NOTIFY with a 401 (or a proxy with 407) Digest challenge; this module
 * answers it once per target with credentials from a caller callback and sends the NOTIFY
 * again. `phonereport notify` and the sink's re-baseline (sink/rebaseline.c) use it; it knows no
 * role.
 *
 * DESIGN: SIP transport, transactions (RFC 3261 timers E/F/K over UDP, TCP when the target
 * says ;transport=tcp) and the Digest client are Sofia-SIP's (nta, auc_*): nothing here parses
 * SIP. A pr_sipnotify owns one Sofia event loop (su_root) and one transaction agent bound to
 * its own local port; pr_sipnotify_send() runs that loop in the calling thread until every
 * target has a result, so one pr_sipnotify must be used by one thread at a time (several
 * may exist, one per thread). Credentials are passed to Sofia and never logged.
 */
#ifndef PR_SIPNOTIFY_H
#define PR_SIPNOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef enum pr_sipnotify_outcome {
    PR_SIPNOTIFY_ACCEPTED,     /* a 2xx final response */
    PR_SIPNOTIFY_REFUSED,      /* another final response from the phone or a proxy (status) */
    PR_SIPNOTIFY_TIMEOUT,      /* no final response within the transaction timer or deadline */
    PR_SIPNOTIFY_UNREACHABLE,  /* transport error: ICMP unreachable, TCP refused, DNS failure */
    PR_SIPNOTIFY_BAD_RESPONSE, /* a response this module cannot act on (e.g. a 401 without a
                                  Digest challenge it can answer); status says which */
    PR_SIPNOTIFY_NOT_SENT,     /* the target URI is malformed, or the run was stopped first */
} pr_sipnotify_outcome;

/* The outcome's name in results: "accepted", "refused", "timeout", "unreachable",
 * "bad_response", "not_sent". */
const char *pr_sipnotify_outcome_name(pr_sipnotify_outcome o);

typedef struct pr_sipnotify_target {
    const char *uri;   /* Request-URI and To: sip:[user@]host[:port][;transport=tcp] */
    const char *proxy; /* outbound proxy (next hop) sip:host[:port], or NULL: the URI's host */
    const char *mac;   /* the phone, if known (passed to the credentials callback), or NULL */
    void *opaque;      /* the caller's, handed back in the result callback */
} pr_sipnotify_target;

typedef struct pr_sipnotify_result {
    pr_sipnotify_outcome outcome;
    int status;           /* final SIP status received, 0 if none */
    char reason[160];     /* reason phrase, or what went wrong; one line */
    long long elapsed_ms; /* from the first transmission to the result */
    bool challenged;      /* a Digest challenge was answered with credentials */
} pr_sipnotify_result;

/*
 * Credentials for a Digest challenge. `realm` is the challenge's realm, `uri_user` the user
 * part of the target URI ("" if none). Write NUL-terminated user and password and return
 * PR_OK, or return PR_ENOTFOUND (the challenge's status is then the target's result).
 */
typedef pr_status (*pr_sipnotify_credentials_fn)(void *ctx, const pr_sipnotify_target *t,
                                                 const char *realm, const char *uri_user,
                                                 char *user, size_t userlen, char *password,
                                                 size_t passlen);

/* Called once per target, in completion order, from pr_sipnotify_send's thread. */
typedef void (*pr_sipnotify_result_fn)(void *ctx, const pr_sipnotify_target *t,
                                       const pr_sipnotify_result *r);

typedef struct pr_sipnotify_opts {
    const char *bind;               /* local address (IPv4/IPv6 literal or name), NULL = all */
    const char *event;              /* Event header value, NULL = "report" */
    const char *subscription_state; /* NULL = "terminated"; "" = no Subscription-State */
    const char *from;               /* From URI, NULL = sip:phonereport@<local address> */
    const char *user_agent;         /* User-Agent, NULL = "phonereport/<version>" */
    unsigned concurrency;           /* targets in flight at once, 0 = 1 */
    double rate;                    /* new targets per second, 0 = as fast as concurrency allows */
    unsigned t1_ms;                 /* RFC 3261 T1, 0 = 500; Timer F (no answer) is 64*T1 */
    long long deadline_ms;          /* per target, challenge round included; 0 = 3*64*T1 */
    bool tcp;                       /* also listen on TCP (needed for ;transport=tcp targets) */
    bool (*stop_requested)(void);   /* NULL, or true once targets not yet started must end
                                       as not_sent (e.g. pr_signals_stop_requested) */
    pr_sipnotify_credentials_fn credentials;
    void *credentials_ctx;
} pr_sipnotify_opts;

typedef struct pr_sipnotify pr_sipnotify;

/* Binds the local transport(s). The options are copied. PR_EINVAL for a bad option,
 * PR_EFATAL if the transport cannot be bound. */
pr_status pr_sipnotify_new(const pr_sipnotify_opts *opts, pr_sipnotify **out, char *err,
                           size_t errlen);
void pr_sipnotify_free(pr_sipnotify *s);

/* Checks a sip:/sips: URI (with a host and, if any, a port 1..65535) the way
 * pr_sipnotify_send() reads targets and proxies. PR_OK, or PR_EINVAL with the reason. */
pr_status pr_sipnotify_check_uri(const char *uri, char *err, size_t errlen);

/* The local UDP port the NOTIFYs leave from (for logs and tests). */
unsigned pr_sipnotify_port(const pr_sipnotify *s);

/*
 * Sends the NOTIFY to targets[0..n) (borrowed until it returns), at most `concurrency` in
 * flight and `rate` new ones per second, and calls on_result exactly once per target. Blocks
 * until every target has a result. PR_OK, or PR_EFATAL (out of memory) after which the
 * targets without a result got none.
 */
pr_status pr_sipnotify_send(pr_sipnotify *s, const pr_sipnotify_target *targets, size_t n,
                            pr_sipnotify_result_fn on_result, void *ctx, char *err, size_t errlen);

/* Counts of SIP messages the agent dropped as unparseable or unmatched since it was made
 * (garbage answers end as timeouts; this says that something did answer). */
typedef struct pr_sipnotify_stats {
    unsigned long bad_messages;    /* could not be parsed as SIP */
    unsigned long bad_responses;   /* responses with fatal header errors */
    unsigned long stray_responses; /* responses matching no transaction */
} pr_sipnotify_stats;
void pr_sipnotify_get_stats(pr_sipnotify *s, pr_sipnotify_stats *st);

#endif
