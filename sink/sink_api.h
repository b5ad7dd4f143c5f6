/*
 * sink_api.h - the sink's query API as the rest of the sink sees it (api.c and its files:
 * api_routes.c, api_phones.c, api_http.c, api_guard.c, api_console.c, api_auth.c; their own
 * shared declarations are in api_int.h). Included by sink_internal.h; it includes no sink
 * header itself.
 */
#ifndef SINK_API_H
#define SINK_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "status.h"

typedef struct sink_rebaseline sink_rebaseline; /* rebaseline.c */

/* ---- api.c: the query API -------------------------------------------------------------- */

typedef struct sink_api sink_api;
/* Binds host:port and starts MHD's threads with the default limits. Opens its own read-only
 * store connections on data_dir. `ready` (may be NULL) is read for /readyz. */
pr_status sink_api_start(const char *listen, const char *data_dir, pr_metrics *metrics,
                         atomic_int *ready, sink_api **out, char *err, size_t errlen);
unsigned sink_api_bound_port(const sink_api *a);
/* What sink_api_start_opts adds: access control, TLS, limits (0 = the default). */
typedef struct sink_api_opts {
    const char *listen, *data_dir;
    const char *tokens;               /* token file (api_auth.c); NULL = no credentials asked */
    const char *tls_cert, *tls_key;   /* PEM files; NULL = plain HTTP */
    sink_rebaseline *rebaseline;      /* POST /v1/phones/{mac}/report-request; NULL = 503 */
    long long threads;                /* MHD threads (and store connections); 0 = 4 */
    long long max_connections;        /* in total; 0 = 1024; never above the descriptor limit */
    long long max_connections_per_ip; /* 0 = 64 */
    long long connection_timeout_ms;  /* idle; 0 = 30 s */
    long long header_timeout_ms;      /* request line and headers; 0 = 10 s */
    long long auth_fail_max, auth_window_ms; /* failed logins per address; 0 = 10 per 60 s */
} sink_api_opts;
pr_status sink_api_start_opts(const sink_api_opts *o, pr_metrics *metrics, atomic_int *ready,
                              sink_api **out, char *err, size_t errlen);
/* Re-reads the token file (SIGHUP, main thread); a bad file keeps the tokens in force. */
void sink_api_reload(sink_api *a);
/* A readiness condition for /readyz: NULL when fine, else the reason (static text). */
typedef const char *(*sink_api_ready_fn)(void *ctx);
/* Adds a condition /readyz checks (before requests arrive, or from any thread; at most 4).
 * PR_EINVAL when full. */
pr_status sink_api_add_ready_check(sink_api *a, sink_api_ready_fn fn, void *ctx);

/* ---- api_console.c: the console's files (generated console_assets.c) ---------------- */

typedef struct sink_console_file {
    const char *url, *type;
    const unsigned char *data;
    size_t len;
} sink_console_file;
extern const sink_console_file sink_console_files[]; /* ends with a NULL url */
/* The file served at url ("/", "/console/app.js", ...), or NULL. */
const sink_console_file *sink_console_find(const char *url);
struct MHD_Connection;
/* Queues the file with its type and the console's security headers; MHD_YES or MHD_NO. */
int sink_console_send(struct MHD_Connection *c, const sink_console_file *f);

/* ---- api_auth.c: who may use the query API ----------------------------------------- */

typedef enum sink_access { SINK_ACCESS_NONE, SINK_ACCESS_READ, SINK_ACCESS_ADMIN } sink_access;
typedef struct sink_auth sink_auth;
/* path NULL: no credentials asked (every request is admin). PR_EINVAL for a bad file. */
pr_status sink_auth_new(const char *path, sink_auth **out, char *err, size_t errlen);
/* Parses the file and forgets it (configuration checks). */
pr_status sink_auth_check_file(const char *path, char *err, size_t errlen);
bool sink_auth_required(const sink_auth *a);
pr_status sink_auth_reload(sink_auth *a, char *err, size_t errlen);
/* The access an Authorization header value (NULL when absent) grants; *who gets the token's
 * name (never the secret). Any thread. */
sink_access sink_auth_check(sink_auth *a, const char *authorization, char *who, size_t wholen);
void sink_auth_free(sink_auth *a); /* NULL is a no-op */
/* Whether host:port resolves to a loopback address (127/8, ::1). */
bool sink_listen_is_loopback(const char *listen);
void sink_api_stop(sink_api *a); /* NULL is a no-op */

#endif
