/*
 * http_int.h - what the HTTP files of the ingest role share (not part of ingest_int.h, which
 * the pure files and the unit tests include): the request and connection records and the
 * functions one HTTP file calls in another.
 *
 *   http.c       the libmicrohttpd daemon: options, start, quiesce, stop
 *   http_conn.c  the request state machine: start (URI log), headers, body, publish, ack, end
 *   http_prot.c  answers (one-line reasons, 503 with Retry-After), request counts, request
 *                ids, the endpoints /healthz /readyz /metrics
 *   http_auth.c  Basic and Digest credentials through libmicrohttpd, with the edge's own
 *                nonce counts (nonce.c)
 *   watchdog.c   every connection's record, from libmicrohttpd's connection notifications;
 *                the header watchdog (slow-loris) and the last word on dropped requests
 */
#ifndef INGEST_HTTP_INT_H
#define INGEST_HTTP_INT_H

#include <microhttpd.h>

#include "ingest_int.h"

typedef enum req_state {
    REQ_NEW,      /* headers not judged yet */
    REQ_BODY,     /* receiving the body */
    REQ_DRAIN,    /* answer decided (413/503): reading and dropping the rest of the body */
    REQ_WAIT,     /* record sent, connection suspended until the ack */
    REQ_ANSWERED, /* response queued */
} req_state;

struct conn_ctx;

typedef struct req {
    ingest *r;
    struct MHD_Connection *conn;
    struct conn_ctx *ctx;  /* the connection's context (NULL if it has none) */
    unsigned early_status; /* refused from the request line alone (414); 0 = no */
    const char *early_text;
    pthread_mutex_t mu;
    req_state state;
    bool upload; /* counted in inflight_requests */
    bool suspended;
    bool acked;
    bool orphan; /* connection gone while Kafka held the record */
    rd_kafka_resp_err_t ack_err;
    char *uri; /* raw request target, with query */
    char id[37];
    long long received_ms;
    long long started_mono_ms; /* for upload-timeout */
    struct timespec sent_at;
    char mac[PR_MAC_LEN + 1];
    pr_mac_source src;
    pr_kind kind;
    char method[8];
    char remote[64];
    char *auth_user;
    char *body;
    size_t len, cap;
    unsigned long long content_length; /* 0 when chunked */
    bool has_length;
    long long reserved; /* bytes held in the in-flight budget */
    size_t dropped;     /* bytes read and dropped in REQ_DRAIN */
    unsigned drain_status;
    ingest_unavail drain_reason;
    const char *drain_text;
} req;

/* One per connection (libmicrohttpd's socket context), from its STARTED to its CLOSED
 * notification (watchdog.c). */
typedef struct conn_ctx {
    int fd;
    atomic_llong since_ms; /* when the current wait for headers began */
    atomic_bool in_headers;
    bool cut;
    struct conn_ctx *prev, *next;
    /* The request libmicrohttpd has not completed yet. Touched only on the connection's own
     * thread (URI log, completion and CLOSED notification all run there). */
    req *cur;
} conn_ctx;

/* ---------------------------------------------------------------- http_prot.c */

/* Counts an answer in phonereport_ingest_requests_total; kind < 0 = an endpoint. */
void ingest_http_count(ingest *r, unsigned status, int kind);
/* Queues resp (consumed; NULL = MHD_NO) with X-Request-Id for uploads and Connection: close
 * while stopping; q (may be NULL) becomes REQ_ANSWERED and is counted. */
enum MHD_Result ingest_http_queue(req *q, struct MHD_Connection *conn, unsigned status,
                                  struct MHD_Response *resp);
/* A text/plain response holding line and a newline. */
struct MHD_Response *ingest_http_text(const char *line);
enum MHD_Result ingest_http_answer(req *q, struct MHD_Connection *conn, unsigned status,
                                   const char *line);
/* 503 with Retry-After, counted by reason and logged. */
enum MHD_Result ingest_http_unavailable(req *q, struct MHD_Connection *conn, ingest_unavail why);
enum MHD_Result ingest_http_method_not_allowed(req *q, struct MHD_Connection *conn,
                                               const char *allow);
/* A random (version 4) UUID. */
void ingest_http_make_id(char out[37]);
enum MHD_Result ingest_http_serve_endpoint(ingest *r, req *q, struct MHD_Connection *conn,
                                           const char *url);

/* ---------------------------------------------------------------- http_auth.c */

typedef enum ingest_auth_result {
    INGEST_AUTH_OK,         /* q->auth_user set, bound_mac filled or "" */
    INGEST_AUTH_CHALLENGED, /* a 401 is queued (*rc is its result) */
    INGEST_AUTH_NOMEM,
} ingest_auth_result;

ingest_auth_result ingest_http_authenticate(ingest *r, req *q, struct MHD_Connection *conn,
                                            char bound_mac[PR_MAC_LEN + 1], enum MHD_Result *rc);

/* ---------------------------------------------------------------- http_conn.c */

/* libmicrohttpd's callbacks for requests (registered by http.c). */
void *ingest_http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
void ingest_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe);
enum MHD_Result ingest_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls);
/* The end of a request as libmicrohttpd reports it: frees q unless Kafka still holds its
 * record (then the ack frees it). */
void ingest_http_req_end(ingest *r, req *q, enum MHD_RequestTerminationCode toe);
/* The same for a request libmicrohttpd dropped without completing it (r->hw_dropped). */
void ingest_http_req_dropped(ingest *r, req *q);

/* ---------------------------------------------------------------- watchdog.c */

/* libmicrohttpd's connection notification (registered by http.c). */
void ingest_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode code);
/* The connection's record, or NULL. */
conn_ctx *ingest_watch_ctx(struct MHD_Connection *conn);
/* Marks the connection as waiting for a request's line and headers (or not). */
void ingest_watch_headers(struct MHD_Connection *conn, bool waiting);
pr_status ingest_watchdog_start(ingest *r, char *err, size_t errlen);
void ingest_watchdog_stop(ingest *r); /* joins the thread; a no-op if not started */

#endif
