/*
 * api_int.h - what the query API's files share (api.c lifecycle and store connections,
 * api_http.c answers and query arguments, api_routes.c the router, api_phones.c fleet search
 * and export, api_guard.c connection guards and failed logins). Only api*.c include it.
 *
 * DESIGN: MHD runs a pool of `threads` polling threads; any of them may run any handler, and
 * an export is a stream whose pages are read by whichever thread writes to that connection.
 * A handler (or a page) takes a read-only store connection from the pool for its own time
 * (api_store_take/api_store_give), so a slow request holds one connection and one thread,
 * never the API.
 */
#ifndef SINK_API_INT_H
#define SINK_API_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "buf.h"
#include "log.h"
#include "sink_internal.h"

#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX     1000
#define API_READY_MAX     4

typedef struct api_guard api_guard;

typedef struct api_ready_check {
    sink_api_ready_fn fn;
    void *ctx;
} api_ready_check;

struct sink_api {
    struct MHD_Daemon *d;
    char *where; /* the store: PostgreSQL connection string or SQLite data-dir */
    pthread_mutex_t st_mu;
    pthread_cond_t st_cv;
    sink_store **st_free; /* idle connections */
    size_t st_nfree, st_open, st_max;
    pr_metrics *metrics;
    atomic_int *ready;
    api_ready_check checks[API_READY_MAX];
    atomic_int nchecks;
    unsigned port;
    pr_gauge *g_phones, *g_drifted, *g_outbox;
    pr_counter *c_requests[9]; /* 200, 400, 404, 405, 500, other, 401, 403, 429 */
    pr_counter *c_export_failed;
    sink_auth *auth;
    api_guard *guard;
    char *tls_cert_pem, *tls_key_pem;
    sink_rebaseline *rebaseline; /* NULL: re-baseline not configured */
    atomic_llong store_log_ms;   /* when a store failure was last logged */
    atomic_long store_log_quiet; /* failures not logged since */
};

/* ---- api.c: store connections ------------------------------------------------------ */

/* A read-only store connection for the caller's exclusive use (opened on first need, at most
 * threads of them); NULL with err when it cannot be opened. */
sink_store *api_store_take(sink_api *a, char *err, size_t errlen);
void api_store_give(sink_api *a, sink_store *st); /* NULL is a no-op */
/* Logs a failed store read, at most once per 10 s (the others are counted in the next line). */
void api_store_failed(sink_api *a, const char *err);

/* ---- api_http.c: answers and arguments ------------------------------------------------ */

void api_count(sink_api *a, unsigned code);
/* Queues body (malloc'd, stolen) with the API's headers. */
enum MHD_Result api_send_buf(struct MHD_Connection *c, unsigned code, char *body, size_t len,
                             const char *type);
/* Steals doc (NULL: out of memory). */
enum MHD_Result api_send_json(sink_api *a, struct MHD_Connection *c, unsigned code, json_t *doc);
enum MHD_Result api_send_error(sink_api *a, struct MHD_Connection *c, unsigned code,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The store's answer: 200 with doc, 404, 400 with err, or 500 (logged, rate-limited). */
enum MHD_Result api_answer(sink_api *a, struct MHD_Connection *c, pr_status rc, json_t *doc,
                           const char *err);
const char *api_arg(struct MHD_Connection *c, const char *name);
/* -1 absent; 0/1; -2 malformed. */
int api_arg_bool(struct MHD_Connection *c, const char *name);
/* 0 with *out (def when absent), -1 malformed or outside [lo, hi]. */
int api_arg_int(struct MHD_Connection *c, const char *name, long long def, long long lo,
                long long hi, long long *out);
/* The first query parameter not in allowed (NULL-terminated), or NULL. */
const char *api_arg_unknown(struct MHD_Connection *c, const char *const *allowed);
/* RFC 3339 UTC, a date or an age ("24h") into the store's form; -1 when malformed. */
int api_parse_time(const char *v, char out[32]);

/* ---- api_phones.c: GET /v1/phones (search, CSV and NDJSON export) ------------------ */

enum MHD_Result api_phones_route(sink_api *a, sink_store *st, struct MHD_Connection *c);
/* A CSV cell: quoted when needed (RFC 4180), and a leading = + - @ tab or CR neutralised with
 * a ' (a spreadsheet would run it as a formula). */
void api_csv_field(pr_buf *b, const char *v);

/* ---- api_history.c: a phone's configuration at a point, diffs ------------------------ */

/* GET /v1/phones/{mac}/config?at=, /v1/phones/{mac}/diff, /v1/diff (mac: normalised). */
enum MHD_Result api_history_config(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                   const char *mac);
enum MHD_Result api_history_diff(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                 const char *mac);
enum MHD_Result api_history_compare(sink_api *a, sink_store *st, struct MHD_Connection *c);

/* ---- api_routes.c: the router ---------------------------------------------------------- */

/* What is known of a request before MHD decodes its target (its con_cls). */
typedef struct api_request {
    bool nul;       /* the target holds %00 */
    size_t uri_len; /* the raw target's length */
} api_request;
/* MHD_OPTION_URI_LOG_CALLBACK: the request's api_request (freed by api_guard_completed). */
void *api_raw_uri(void *cls, const char *uri, struct MHD_Connection *c);
enum MHD_Result api_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                           const char *version, const char *upload_data, size_t *upload_data_size,
                           void **con_cls);

/* ---- api_guard.c: header time-out and failed logins per address ---------------------- */

typedef struct api_guard_opts {
    long long header_timeout_ms;
    long long fail_max;       /* failed logins per address within fail_window_ms */
    long long fail_window_ms; /* 0 = no lock-out */
} api_guard_opts;

pr_status api_guard_new(const api_guard_opts *o, pr_metrics *metrics, api_guard **out, char *err,
                        size_t errlen);
void api_guard_free(api_guard *g); /* NULL is a no-op; stop MHD first */
/* MHD_OPTION_NOTIFY_CONNECTION: tracks every connection (cls: the guard). */
void api_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_NOTIFY_COMPLETED: the connection waits for its next request's headers again. */
void api_guard_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
/* The request's headers are in: the header time-out stops for this request. */
void api_guard_headers_done(struct MHD_Connection *c);
/* The client's address as text ("?" when unknown). */
void api_guard_remote(struct MHD_Connection *c, char *buf, size_t len);
/* Seconds until the address may try again (> 0: locked out), or 0. */
long long api_guard_locked(api_guard *g, const char *remote);
/* Counts one failed login from remote and logs it at warn (rate-limited per address). */
void api_guard_failed(api_guard *g, const char *remote, const char *method, const char *path);

#endif
