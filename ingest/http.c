/*
 * http.c - the HTTP side of the edge, on libmicrohttpd: the request state machine, the
 * answers, /healthz, /readyz and /metrics.
 *
 * DESIGN (one upload): the URI-log callback allocates the request (it alone sees the raw
 * URI with its query, which becomes pr-path). The first call of the access handler has the
 * headers: method, prefix, Content-Length, credentials, identity, allow-list and budget are
 * judged there, so a refused phone never sends its body (libmicrohttpd sends 100-continue only
 * when we queued nothing). Body calls append to a buffer. The last call hands the buffer to
 * Kafka (publish.c) and suspends the connection; the delivery report, on the producer's poll
 * thread, stores the outcome and resumes the connection; the handler then answers 200 or 503.
 * No HTTP thread ever waits for Kafka.
 *
 * Ownership and the race between suspend and ack: each request has a mutex. The handler
 * suspends the connection and marks the request suspended under it; the ack marks it acked
 * and resumes only a suspended request, under it, so whichever comes first the connection is
 * resumed exactly once after it is suspended. The request is freed by the completion
 * callback, except when the connection died while Kafka still held the record (daemon
 * stopped): then the ack frees it.
 *
 * A body found too large (or over the in-flight budget) after it started cannot be answered
 * at once (libmicrohttpd queues answers only before or after the body), so the rest of the
 * body is read and dropped, then 413 (or 503) is sent; past twice the limit the connection is
 * closed instead.
 */
#include <microhttpd.h>

#include <netdb.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ingest_int.h"
#include "log.h"

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

/* ------------------------------------------------------------------ metrics */

static const unsigned status_slots[INGEST_NSTATUS] = {200, 400, 401, 403, 404, 405,
                                                      413, 414, 500, 503, 0,   0};

static void count_request(ingest *r, unsigned status, int kind)
{
    size_t slot = INGEST_NSTATUS - 1;
    for (size_t i = 0; i < INGEST_NSTATUS; i++)
        if (status_slots[i] == status)
            slot = i;
    size_t k = kind < 0 ? PR_KIND_UNKNOWN + 1 : (size_t)kind;
    pr_counter *c = atomic_load(&r->stats.requests[slot][k]);
    if (!c) {
        char labels[96];
        if (slot == INGEST_NSTATUS - 1)
            snprintf(labels, sizeof labels, "status=\"other\",kind=\"%s\"",
                     kind < 0 ? "none" : pr_kind_name((pr_kind)kind));
        else
            snprintf(labels, sizeof labels, "status=\"%u\",kind=\"%s\"", status,
                     kind < 0 ? "none" : pr_kind_name((pr_kind)kind));
        c = pr_metrics_counter(r->metrics, "phonereport_ingest_requests_total",
                               "HTTP requests answered, by status and report kind", labels);
        atomic_store(&r->stats.requests[slot][k], c);
    }
    pr_counter_inc(c);
}

/* ---------------------------------------------------------------- responses */

static enum MHD_Result queue(req *q, struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (q && q->upload)
        MHD_add_response_header(resp, "X-Request-Id", q->id);
    if (q && q->r && atomic_load(&q->r->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    if (q) {
        q->state = REQ_ANSWERED;
        count_request(q->r, status, q->upload ? (int)q->kind : -1);
    }
    return rc;
}

static struct MHD_Response *text_response(const char *line)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), buf, MHD_RESPMEM_MUST_COPY);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return resp;
}

static enum MHD_Result answer(req *q, struct MHD_Connection *conn, unsigned status,
                              const char *line)
{
    return queue(q, conn, status, text_response(line));
}

static const char *const unavail_name[INGEST_U__COUNT] = {
    [INGEST_U_KAFKA_DOWN] = "kafka_down",   [INGEST_U_QUEUE_FULL] = "queue_full",
    [INGEST_U_INFLIGHT] = "inflight_limit", [INGEST_U_TIMEOUT] = "timeout",
    [INGEST_U_KAFKA_ERROR] = "kafka_error", [INGEST_U_SHUTDOWN] = "shutting_down",
};

static const char *const unavail_text[INGEST_U__COUNT] = {
    [INGEST_U_KAFKA_DOWN] = "kafka unavailable",
    [INGEST_U_QUEUE_FULL] = "kafka queue full",
    [INGEST_U_INFLIGHT] = "too many reports in flight",
    [INGEST_U_TIMEOUT] = "kafka did not acknowledge in time",
    [INGEST_U_KAFKA_ERROR] = "kafka refused the report",
    [INGEST_U_SHUTDOWN] = "shutting down",
};

static enum MHD_Result unavailable(req *q, struct MHD_Connection *conn, ingest_unavail why)
{
    ingest *r = q->r;
    char ra[32];
    pr_counter_inc(r->stats.unavailable[why]);
    struct MHD_Response *resp = text_response(unavail_text[why]);
    if (resp) {
        snprintf(ra, sizeof ra, "%lld", ingest_limits_retry_after_s(r->cfg->retry_after_ms));
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    PR_LOG(PR_LOG_WARN, "ingest", "report refused: 503",
           json_pack("{ssssss}", "request_id", q->id, "reason", unavail_name[why], "remote",
                     q->remote));
    return queue(q, conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
}

static enum MHD_Result method_not_allowed(req *q, struct MHD_Connection *conn, const char *allow)
{
    struct MHD_Response *resp = text_response("method not allowed");
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return queue(q, conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

/* ------------------------------------------------------------ request life */

static void budget_give(ingest *r, req *q)
{
    if (q->reserved) {
        ingest_budget_give(&r->budget, q->reserved);
        pr_gauge_add(r->stats.inflight_bytes, -(double)q->reserved);
        q->reserved = 0;
    }
}

static bool budget_take(ingest *r, req *q, long long n)
{
    if (!ingest_budget_take(&r->budget, n))
        return false;
    q->reserved += n;
    pr_gauge_add(r->stats.inflight_bytes, (double)n);
    return true;
}

static void req_free(req *q)
{
    budget_give(q->r, q);
    free(q->body);
    free(q->uri);
    free(q->auth_user);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Request ids need to be unique, not secret: a per-thread xorshift128+ generator seeded from
 * OpenSSL's RNG, so that the hot path takes no lock. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t st[2];
    if (st[0] == 0 && st[1] == 0) {
        if (RAND_bytes((unsigned char *)st, sizeof st) != 1 || (st[0] == 0 && st[1] == 0)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            st[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)st;
            st[1] = st[0] * 0x9e3779b97f4a7c15ULL + 1;
        }
    }
    uint64_t x = st[0];
    const uint64_t y = st[1];
    st[0] = y;
    x ^= x << 23;
    st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return st[1] + y;
}

static void make_id(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t a = next_random(), c = next_random();
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* UUID version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Header watchdog. libmicrohttpd's connection time-out is an idle time-out: a client that
 * sends one byte of its request line or headers within every idle period (slow-loris) is
 * never cut by it, and the access handler is not called before the headers are complete.
 * So every connection is tracked from libmicrohttpd's connection notifications: it is "in
 * headers" from its start and again after each completed request (keep-alive) until the
 * handler first sees the next request; a thread shuts down the socket of one in headers for
 * longer than header-timeout, and libmicrohttpd then closes it. Entries are unlinked (under
 * hw_mu) in the CLOSED notification, before libmicrohttpd closes the descriptor, so a
 * shutdown never reaches a reused descriptor.
 */
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

static conn_ctx *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void watch_headers(struct MHD_Connection *conn, bool waiting)
{
    conn_ctx *w = watch_of(conn);
    if (!w)
        return;
    if (waiting)
        atomic_store(&w->since_ms, mono_ms());
    atomic_store(&w->in_headers, waiting);
}

static void req_end(ingest *r, req *q, enum MHD_RequestTerminationCode toe);

static void conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                    enum MHD_ConnectionNotificationCode code)
{
    ingest *r = cls;
    conn_ctx *w = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        if (!(w = calloc(1, sizeof *w))) {
            /* without a context a request libmicrohttpd drops could not be freed: refuse */
            shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        w->fd = ci->connect_fd;
        atomic_init(&w->since_ms, mono_ms());
        atomic_init(&w->in_headers, true);
        pthread_mutex_lock(&r->hw_mu);
        w->next = r->hw_head;
        if (r->hw_head)
            r->hw_head->prev = w;
        r->hw_head = w;
        pthread_mutex_unlock(&r->hw_mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
        pthread_mutex_lock(&r->hw_mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            r->hw_head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&r->hw_mu);
        if (w->cur) {
            /* libmicrohttpd 0.9.75 drops some requests it cannot parse (e.g. out of pool
             * memory for the query's arguments) without calling the completion callback:
             * this notification is then the last word on the request. */
            PR_LOG(PR_LOG_DEBUG, "ingest", "request dropped by libmicrohttpd",
                   json_pack("{ss}", "request_id", w->cur->id));
            req_end(r, w->cur, MHD_REQUEST_TERMINATED_WITH_ERROR);
        }
        free(w);
        *socket_context = NULL;
    }
}

static void *watchdog(void *arg)
{
    ingest *r = arg;
    pthread_mutex_lock(&r->hw_mu);
    while (atomic_load(&r->hw_run)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->hw_cv, &r->hw_mu, &ts);
        long long now = mono_ms();
        for (conn_ctx *w = r->hw_head; w; w = w->next) {
            if (w->cut || !atomic_load(&w->in_headers) ||
                now - atomic_load(&w->since_ms) <= r->cfg->header_timeout_ms)
                continue;
            w->cut = true;
            shutdown(w->fd, SHUT_RDWR);
            pr_counter_inc(r->hw_cut);
        }
    }
    pthread_mutex_unlock(&r->hw_mu);
    return NULL;
}

/*
 * libmicrohttpd 0.9.75 parses the query into its per-connection pool right after this
 * callback, one header record per argument (7 pointer-sized fields, rounded to the pool's
 * 16-byte alignment); when the pool runs out it queues a 431, then overwrites the
 * connection's state and drops the request: no answer, no completion callback. A request line
 * of up to half the pool leaves the other half for records, so a request target of at most a
 * quarter of it whose arguments take at most another quarter is always parsed. Anything
 * larger is refused here with 414, and libmicrohttpd is kept from parsing its query by ending
 * the query string right after the '?' (the URI is libmicrohttpd's own writable request-line
 * buffer; its argument pointer was taken before this call).
 */
#define MHD_ARG_COST (8 * sizeof(void *))

static void guard_query(ingest *r, req *q, const char *uri)
{
    size_t budget = (size_t)r->cfg->max_header_bytes / 4;
    char *qm = strchr(uri, '?');
    size_t nargs = 0;
    if (qm && qm[1]) {
        nargs = 1;
        for (const char *p = qm + 1; *p; p++)
            nargs += *p == '&';
    }
    if (strlen(uri) > budget) {
        q->early_status = MHD_HTTP_URI_TOO_LONG;
        q->early_text = "uri too long";
    } else if (nargs * MHD_ARG_COST > budget) {
        q->early_status = MHD_HTTP_URI_TOO_LONG;
        q->early_text = "too many query arguments";
    }
    if (q->early_status && qm && qm[1])
        qm[1] = '\0';
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    ingest *r = cls;
    req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->r = r;
    q->conn = conn;
    pthread_mutex_init(&q->mu, NULL);
    q->uri = strdup(uri ? uri : "");
    q->kind = PR_KIND_UNKNOWN;
    make_id(q->id);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    q->received_ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    q->started_mono_ms = mono_ms();
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, sl, q->remote, sizeof q->remote, NULL, 0,
                        NI_NUMERICHOST) != 0)
            q->remote[0] = '\0';
    }
    if (uri)
        guard_query(r, q, uri);
    q->ctx = watch_of(conn);
    if (q->ctx)
        q->ctx->cur = q;
    return q;
}

static void pending_done(ingest *r)
{
    pthread_mutex_lock(&r->wait_mu);
    if (--r->pending == 0)
        pthread_cond_broadcast(&r->wait_cv);
    pthread_mutex_unlock(&r->wait_mu);
}

/* The end of a request as libmicrohttpd reports it (completion callback, or the CLOSED
 * notification for a request it dropped): frees q unless Kafka still holds its record. */
static void req_end(ingest *r, req *q, enum MHD_RequestTerminationCode toe)
{
    if (q->ctx && q->ctx->cur == q)
        q->ctx->cur = NULL;
    if (q->upload)
        pr_gauge_add(r->stats.inflight_requests, -1);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && q->upload)
        PR_LOG(PR_LOG_DEBUG, "ingest", "request ended without a complete answer",
               json_pack("{sssi}", "request_id", q->id, "code", (int)toe));
    pthread_mutex_lock(&q->mu);
    if (q->state == REQ_WAIT && !q->acked) {
        q->orphan = true; /* Kafka still holds the record: the ack frees q */
        pthread_mutex_unlock(&q->mu);
        return;
    }
    bool unanswered = q->state == REQ_WAIT; /* acked, but the connection died before the answer */
    pthread_mutex_unlock(&q->mu);
    req_free(q);
    if (unanswered)
        pending_done(r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ingest *r = cls;
    req *q = *con_cls;
    watch_headers(conn, true); /* keep-alive: the next request's headers are awaited */
    if (!q)
        return;
    *con_cls = NULL;
    req_end(r, q, toe);
}

void ingest_http_on_ack(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    ingest *r = ctx;
    req *q = opaque;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double lat =
        (double)(now.tv_sec - q->sent_at.tv_sec) + (double)(now.tv_nsec - q->sent_at.tv_nsec) / 1e9;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pr_histogram_observe(r->stats.ack_latency, lat);
        pr_counter_inc(r->stats.records);
    }
    pthread_mutex_lock(&q->mu);
    budget_give(r, q); /* librdkafka has freed or is done with the value */
    q->ack_err = err;
    q->acked = true;
    if (q->orphan) {
        pthread_mutex_unlock(&q->mu);
        PR_LOG(PR_LOG_WARN, "ingest", "phone left before Kafka answered",
               json_pack("{ssss}", "request_id", q->id, "kafka", rd_kafka_err2name(err)));
        req_free(q);
        pending_done(r);
        return;
    }
    if (q->suspended)
        MHD_resume_connection(q->conn);
    pthread_mutex_unlock(&q->mu);
}

/* --------------------------------------------------------------- endpoints */

static enum MHD_Result serve_endpoint(ingest *r, req *q, struct MHD_Connection *conn,
                                      const char *url)
{
    if (strcmp(url, "/healthz") == 0)
        return answer(q, conn, MHD_HTTP_OK, "ok");
    if (strcmp(url, "/readyz") == 0) {
        if (ingest_ready(r))
            return answer(q, conn, MHD_HTTP_OK, "ready");
        return answer(q, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                      atomic_load(&r->stopping) ? "shutting down" : "kafka unreachable");
    }
    /* /metrics */
    size_t len = 0;
    char *text = pr_metrics_render(r->metrics, &len);
    if (!text)
        return answer(q, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    return queue(q, conn, MHD_HTTP_OK, resp);
}

static bool is_endpoint(const char *url)
{
    return strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
           strcmp(url, "/metrics") == 0;
}

/* ---------------------------------------------------------------- auth */

static enum MHD_Result auth_challenge(ingest *r, req *q, struct MHD_Connection *conn, bool stale)
{
    struct MHD_Response *resp = text_response("authentication required");
    enum MHD_Result rc;
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Request-Id", q->id);
    if (r->digest) {
        rc = MHD_queue_auth_fail_response2(conn, r->cfg->auth_realm, "phonereport", resp,
                                           stale ? MHD_YES : MHD_NO, MHD_DIGEST_ALG_MD5);
        /* the nonce just issued gets its slot in the edge's own nonce-count table */
        char nonce[INGEST_NONCE_MAX + 1];
        if (rc == MHD_YES &&
            ingest_digest_param(MHD_get_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE),
                                "nonce", nonce, sizeof nonce) == 1)
            ingest_nonces_issue(r->nonces, nonce, mono_ms());
    } else
        rc = MHD_queue_basic_auth_fail_response(conn, r->cfg->auth_realm, resp);
    MHD_destroy_response(resp);
    q->state = REQ_ANSWERED;
    count_request(r, MHD_HTTP_UNAUTHORIZED, (int)q->kind);
    return rc;
}

/* 1 authenticated (q->auth_user set, *bound_mac filled or ""), 0 challenge queued. */
static int authenticate(ingest *r, req *q, struct MHD_Connection *conn, char *bound_mac,
                        enum MHD_Result *rc)
{
    bool ok = false, stale = false, missing = false, replay = false;
    char *user = NULL;
    bound_mac[0] = '\0';
    pthread_rwlock_rdlock(&r->auth_lock);
    if (r->digest) {
        user = MHD_digest_auth_get_username(conn);
        const ingest_cred *c = user ? ingest_auth_find(r->auth, user) : NULL;
        missing = user == NULL;
        char nonce[INGEST_NONCE_MAX + 1];
        unsigned long long nc = 0;
        /* nc 0 or an ambiguous header never reaches libmicrohttpd (see nonce.c) */
        if (c && !ingest_digest_nonce_nc(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                     MHD_HTTP_HEADER_AUTHORIZATION),
                                         nonce, sizeof nonce, &nc))
            c = NULL;
        if (c) {
            int v = MHD_NO;
            if (c->type == INGEST_SECRET_PLAIN)
                v = MHD_digest_auth_check2(conn, r->cfg->auth_realm, user, c->secret,
                                           INGEST_NONCE_TIMEOUT_S, MHD_DIGEST_ALG_MD5);
            else if (c->type == INGEST_SECRET_MD5_HA1)
                v = MHD_digest_auth_check_digest2(conn, r->cfg->auth_realm, user,
                                                  (const uint8_t *)c->secret, c->secret_len,
                                                  INGEST_NONCE_TIMEOUT_S, MHD_DIGEST_ALG_MD5);
            stale = v == MHD_INVALID_NONCE;
            if (v == MHD_YES) {
                switch (ingest_nonces_use(r->nonces, nonce, nc, mono_ms())) {
                case INGEST_NONCE_OK: ok = true; break;
                case INGEST_NONCE_UNKNOWN: stale = true; break;
                case INGEST_NONCE_REPLAY: replay = true; break;
                }
            }
            if (ok)
                memcpy(bound_mac, c->mac, PR_MAC_LEN + 1);
        }
    } else {
        char *pass = NULL;
        user = MHD_basic_auth_get_username_password(conn, &pass);
        missing = user == NULL;
        const ingest_cred *c = user ? ingest_auth_find(r->auth, user) : NULL;
        if (c && pass && ingest_auth_check_password(c, r->cfg->auth_realm, pass)) {
            ok = true;
            memcpy(bound_mac, c->mac, PR_MAC_LEN + 1);
        }
        if (pass) {
            memset(pass, 0, strlen(pass));
            MHD_free(pass);
        }
    }
    pthread_rwlock_unlock(&r->auth_lock);
    if (ok) {
        q->auth_user = strdup(user);
        MHD_free(user);
        return q->auth_user ? 1 : -1;
    }
    if (!missing && !stale) {
        pr_counter_inc(r->stats.auth_bad);
        PR_LOG(PR_LOG_WARN, "ingest",
               replay ? "authentication failed: nonce count replayed" : "authentication failed",
               json_pack("{ssssss}", "request_id", q->id, "remote", q->remote, "user",
                         user ? user : ""));
    } else if (missing) {
        pr_counter_inc(r->stats.auth_missing);
    }
    if (user)
        MHD_free(user);
    *rc = auth_challenge(r, q, conn, stale);
    return 0;
}

/* ------------------------------------------------------------- the handler */

static enum MHD_Result refuse_identity(req *q, struct MHD_Connection *conn, unsigned status,
                                       pr_counter *c, const char *line)
{
    pr_counter_inc(c);
    PR_LOG(
        PR_LOG_INFO, "ingest", "report refused: identity",
        json_pack("{sssisssss?}", "request_id", q->id, "status", (int)status, "reason", line,
                  "remote", q->remote, "user_agent",
                  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT)));
    return answer(q, conn, status, line);
}

#define BODY_FIRST_BUFFER 16384

/* The size of a body's first buffer: 16 KiB, or less when Content-Length says so. */
static long long first_buffer(ingest *r, req *q)
{
    long long n = BODY_FIRST_BUFFER;
    if (q->has_length && (long long)q->content_length < n)
        n = (long long)q->content_length;
    if (n > r->cfg->max_body_bytes)
        n = r->cfg->max_body_bytes;
    return n;
}

/* How often a header (or query argument) appears, and whether its values differ. Names are
 * compared without case, as libmicrohttpd's lookups compare them. */
typedef struct value_count {
    const char *name;
    const char *first;
    unsigned n;
    bool differ;
} value_count;

static enum MHD_Result count_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    value_count *c = cls;
    (void)kind;
    if (!key || strcasecmp(key, c->name) != 0)
        return MHD_YES;
    if (c->n++ == 0)
        c->first = value;
    else if (strcmp(value ? value : "", c->first ? c->first : "") != 0)
        c->differ = true;
    return MHD_YES;
}

static value_count count_values(struct MHD_Connection *conn, enum MHD_ValueKind kind,
                                const char *name)
{
    value_count c = {.name = name};
    MHD_get_connection_values(conn, kind, count_value, &c);
    return c;
}

/* Framing two HTTP parsers could read differently (request smuggling) is refused: Content-
 * Length repeated with different values, Content-Length beside Transfer-Encoding, and a
 * Transfer-Encoding other than one `chunked`. NULL if the framing is clear. */
static const char *framing_problem(struct MHD_Connection *conn)
{
    value_count cl = count_values(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    value_count te = count_values(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl.differ)
        return "conflicting content-length";
    if (cl.n && te.n)
        return "content-length with transfer-encoding";
    if (te.n && (te.differ || !te.first || strcasecmp(te.first, "chunked") != 0))
        return "unsupported transfer-encoding";
    return NULL;
}

/* Identity sources that say two things, or a request target cut short by a NUL byte (%00:
 * libmicrohttpd decodes it, and the C string of the path or value ends there). */
static const char *identity_problem(req *q, struct MHD_Connection *conn)
{
    for (const char *p = strchr(q->uri, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return "nul byte in request target";
    if (count_values(conn, MHD_GET_ARGUMENT_KIND, "mac").n > 1)
        return "ambiguous mac in query";
    if (count_values(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT).differ)
        return "ambiguous user-agent";
    return NULL;
}

/* The first call of an upload: everything that can be judged from the headers. */
static enum MHD_Result judge_headers(ingest *r, req *q, struct MHD_Connection *conn,
                                     const char *url)
{
    enum MHD_Result rc = MHD_YES;
    if (!ingest_prefixes_match(&r->prefixes, url))
        return answer(q, conn, MHD_HTTP_NOT_FOUND, "not found");
    q->kind = ingest_kind_of_path(&r->kinds, url);
    if (atomic_load(&r->stopping))
        return unavailable(q, conn, INGEST_U_SHUTDOWN);

    const char *bad = framing_problem(conn);
    if (bad)
        return answer(q, conn, MHD_HTTP_BAD_REQUEST, bad);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    switch (ingest_limits_content_length(cl, r->cfg->max_body_bytes, &q->content_length)) {
    case INGEST_LEN_TOO_LARGE: return answer(q, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    case INGEST_LEN_INVALID: return answer(q, conn, MHD_HTTP_BAD_REQUEST, "bad content-length");
    case INGEST_LEN_OK: q->has_length = true; break;
    case INGEST_LEN_ABSENT: break;
    }

    char bound[PR_MAC_LEN + 1] = "";
    if (r->auth) {
        int a = authenticate(r, q, conn, bound, &rc);
        if (a == 0)
            return rc;
        if (a < 0)
            return answer(q, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }

    char cert_mac[PR_MAC_LEN + 1] = "";
    if (r->tls_ca_pem) {
        switch (ingest_tls_client_mac(conn, cert_mac)) {
        case INGEST_CERT_OK: break;
        case INGEST_CERT_NONE:
            if (!r->cfg->tls_client_optional)
                return refuse_identity(q, conn, MHD_HTTP_FORBIDDEN, r->stats.id_cert,
                                       "client certificate required");
            break;
        case INGEST_CERT_UNTRUSTED:
            return refuse_identity(q, conn, MHD_HTTP_FORBIDDEN, r->stats.id_cert,
                                   "client certificate not trusted");
        case INGEST_CERT_NO_MAC:
            return refuse_identity(q, conn, MHD_HTTP_FORBIDDEN, r->stats.id_cert,
                                   "client certificate names no mac");
        }
    }
    const char *ambiguous = identity_problem(q, conn);
    if (ambiguous)
        return refuse_identity(q, conn, MHD_HTTP_BAD_REQUEST, r->stats.id_invalid, ambiguous);
    ingest_identity_input in = {
        .cert_mac = cert_mac[0] ? cert_mac : NULL,
        .path = url,
        .query_mac = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "mac"),
        .user_agent =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT),
    };
    char reason[64];
    switch (ingest_identity_resolve(&r->order, &in, q->mac, &q->src, reason, sizeof reason)) {
    case INGEST_ID_OK: break;
    case INGEST_ID_NONE:
        return refuse_identity(q, conn, MHD_HTTP_BAD_REQUEST, r->stats.id_none, reason);
    case INGEST_ID_INVALID:
        return refuse_identity(q, conn, MHD_HTTP_BAD_REQUEST, r->stats.id_invalid, reason);
    case INGEST_ID_MISMATCH:
        return refuse_identity(q, conn, MHD_HTTP_FORBIDDEN, r->stats.id_mismatch, reason);
    }
    if (!ingest_allow_check(&r->allow, q->mac))
        return refuse_identity(q, conn, MHD_HTTP_FORBIDDEN, r->stats.id_not_allowed,
                               "mac not allowed");
    if (bound[0] && strcmp(bound, q->mac) != 0)
        return refuse_identity(q, conn, MHD_HTTP_FORBIDDEN, r->stats.id_user_mac,
                               "mac not allowed for this user");

    /* The budget is taken as the body arrives (take_body), not as announced: a client that
     * announces a large body and sends little holds little. A budget already too full for
     * this body's first buffer is answered now, before the phone sends the body. */
    if (ingest_budget_used(&r->budget) + first_buffer(r, q) > r->budget.max)
        return unavailable(q, conn, INGEST_U_INFLIGHT);
    q->state = REQ_BODY;
    return MHD_YES;
}

static void start_drain(req *q, unsigned status, ingest_unavail why, const char *text)
{
    budget_give(q->r, q);
    free(q->body);
    q->body = NULL;
    q->len = q->cap = 0;
    q->state = REQ_DRAIN;
    q->drain_status = status;
    q->drain_reason = why;
    q->drain_text = text;
}

static enum MHD_Result take_body(ingest *r, req *q, const char *data, size_t size)
{
    /* a body that trickles in keeps the idle time-out at bay: bound the whole upload */
    if (mono_ms() - q->started_mono_ms > r->cfg->request_timeout_ms) {
        PR_LOG(PR_LOG_INFO, "ingest", "upload too slow: connection closed",
               json_pack("{ssss}", "request_id", q->id, "remote", q->remote));
        return MHD_NO;
    }
    if (q->state == REQ_DRAIN) {
        q->dropped += size;
        /* past twice the limit, stop reading a client that does not stop sending */
        if (q->dropped > (size_t)r->cfg->max_body_bytes * 2)
            return MHD_NO;
        return MHD_YES;
    }
    pr_counter_add(r->stats.bytes, size);
    if (q->len + size > (size_t)r->cfg->max_body_bytes) {
        q->dropped = q->len + size;
        start_drain(q, MHD_HTTP_CONTENT_TOO_LARGE, INGEST_U__COUNT, "body too large");
        return MHD_YES;
    }
    if (q->len + size > q->cap) {
        /* grow by doubling, to at most Content-Length (which libmicrohttpd enforces) or the
         * body limit; the budget holds what is allocated */
        size_t limit = q->has_length ? (size_t)q->content_length : (size_t)r->cfg->max_body_bytes;
        if (q->len + size > limit)
            return MHD_NO;
        size_t ncap = q->cap ? q->cap * 2 : (size_t)first_buffer(r, q);
        if (ncap == 0)
            ncap = q->len + size;
        while (ncap < q->len + size)
            ncap *= 2;
        if (ncap > limit)
            ncap = limit;
        if (!budget_take(r, q, (long long)(ncap - q->cap))) {
            q->dropped = q->len + size;
            start_drain(q, MHD_HTTP_SERVICE_UNAVAILABLE, INGEST_U_INFLIGHT, NULL);
            return MHD_YES;
        }
        char *nb = realloc(q->body, ncap);
        if (!nb)
            return MHD_NO;
        q->body = nb;
        q->cap = ncap;
    }
    memcpy(q->body + q->len, data, size);
    q->len += size;
    return MHD_YES;
}

static ingest_unavail classify(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: return INGEST_U_QUEUE_FULL;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT: return INGEST_U_TIMEOUT;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT: return INGEST_U_SHUTDOWN;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: return INGEST_U_KAFKA_DOWN;
    default: return INGEST_U_KAFKA_ERROR;
    }
}

/* The last call of an upload: hand the body to Kafka and suspend. */
static enum MHD_Result publish(ingest *r, req *q, struct MHD_Connection *conn)
{
    if (!ingest_pub_ready(r->pub))
        return unavailable(q, conn, INGEST_U_KAFKA_DOWN);
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", q->received_ms);
    const ingest_hdr h[] = {
        {PR_HDR_REQUEST_ID, q->id},
        {PR_HDR_RECEIVED_MS, ms},
        {PR_HDR_METHOD, q->method},
        {PR_HDR_PATH, q->uri},
        {PR_HDR_REMOTE, q->remote},
        {PR_HDR_USER_AGENT,
         MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT)},
        {PR_HDR_CONTENT_TYPE,
         MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)},
        {PR_HDR_CONTENT_ENCODING,
         MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING)},
        {PR_HDR_KIND, pr_kind_name(q->kind)},
        {PR_HDR_MAC_SOURCE, pr_mac_source_name(q->src)},
        {PR_HDR_AUTH_USER, q->auth_user},
    };
    /* A Content-Length body that is shorter than announced cannot reach here (libmicrohttpd
     * waits for all of it); the reservation may exceed a chunked body's size: keep it, it is
     * given back on the ack. */
    pthread_mutex_lock(&r->wait_mu);
    r->pending++;
    pthread_mutex_unlock(&r->wait_mu);
    clock_gettime(CLOCK_MONOTONIC, &q->sent_at);
    q->state = REQ_WAIT;
    pthread_mutex_lock(&q->mu);
    rd_kafka_resp_err_t e =
        ingest_pub_send(r->pub, q->mac, q->body, q->len, h, sizeof h / sizeof h[0], q);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_unlock(&q->mu);
        q->state = REQ_BODY;
        pending_done(r);
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) /* permanent: a retry cannot help */
            return answer(q, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
        return unavailable(q, conn, classify(e));
    }
    q->body = NULL; /* librdkafka owns it now */
    q->len = q->cap = 0;
    if (!q->acked) {
        MHD_suspend_connection(conn);
        q->suspended = true;
        pthread_mutex_unlock(&q->mu);
        return MHD_YES;
    }
    pthread_mutex_unlock(&q->mu);
    return MHD_YES; /* acked already: handled by the resumed-call path right below */
}

static enum MHD_Result answer_ack(ingest *r, req *q, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&q->mu); /* the ack is done with q once it unlocks */
    rd_kafka_resp_err_t e = q->ack_err;
    pthread_mutex_unlock(&q->mu);
    enum MHD_Result rc;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        PR_LOG(PR_LOG_DEBUG, "ingest", "report acknowledged",
               json_pack("{ssssss}", "request_id", q->id, "kind", pr_kind_name(q->kind), "source",
                         pr_mac_source_name(q->src)));
        rc = queue(q, conn, MHD_HTTP_OK, resp);
    } else if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        PR_LOG(PR_LOG_WARN, "ingest", "kafka refused the report as too large",
               json_pack("{ss}", "request_id", q->id));
        rc = answer(q, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    } else {
        PR_LOG(PR_LOG_WARN, "ingest", "kafka did not take the report",
               json_pack("{ssss}", "request_id", q->id, "kafka", rd_kafka_err2name(e)));
        rc = unavailable(q, conn, classify(e));
    }
    pending_done(r);
    return rc;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    ingest *r = cls;
    req *q = *con_cls;
    (void)version;
    if (!q)
        return MHD_NO; /* allocation failed in uri_log_cb */

    switch (q->state) {
    case REQ_NEW: {
        watch_headers(conn, false);
        if (q->early_status)
            return answer(q, conn, q->early_status, q->early_text);
        bool get =
            strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        bool up =
            strcmp(method, MHD_HTTP_METHOD_PUT) == 0 || strcmp(method, MHD_HTTP_METHOD_POST) == 0;
        if (is_endpoint(url))
            return get ? serve_endpoint(r, q, conn, url) : method_not_allowed(q, conn, "GET, HEAD");
        if (!up)
            return method_not_allowed(q, conn, "PUT, POST");
        q->upload = true;
        pr_gauge_add(r->stats.inflight_requests, 1);
        snprintf(q->method, sizeof q->method, "%s", method);
        return judge_headers(r, q, conn, url);
    }
    case REQ_BODY:
    case REQ_DRAIN:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            return take_body(r, q, upload_data, n);
        }
        if (q->state == REQ_DRAIN) {
            if (q->drain_status == MHD_HTTP_SERVICE_UNAVAILABLE)
                return unavailable(q, conn, q->drain_reason);
            return answer(q, conn, q->drain_status, q->drain_text);
        }
        if (publish(r, q, conn) == MHD_NO)
            return MHD_NO;
        if (q->state != REQ_WAIT || q->suspended)
            return MHD_YES;
        return answer_ack(r, q, conn); /* the ack came before we could suspend */
    case REQ_WAIT: return answer_ack(r, q, conn);
    case REQ_ANSWERED:
        /* a body after an early answer: libmicrohttpd closes the connection; drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

/* ------------------------------------------------------------- the daemon */

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    PR_LOG(PR_LOG_WARN, "ingest", "http", json_pack("{ss}", "detail", buf));
}

pr_status ingest_http_start(ingest *r, char *err, size_t errlen)
{
    unsigned threads = (unsigned)r->cfg->threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (r->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (r->tls_cert_pem)
        flags |= MHD_USE_TLS;

    struct MHD_OptionItem extra[10];
    size_t nx = 0;
    if (threads > 1)
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    if (r->cfg->max_connections_per_ip > 0)
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                              (intptr_t)r->cfg->max_connections_per_ip, NULL};
    if (r->tls_cert_pem) {
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, r->tls_key_pem};
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, r->tls_cert_pem};
        if (r->tls_ca_pem)
            extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, r->tls_ca_pem};
    }
    if (r->auth || r->cfg->auth_file) {
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_DIGEST_AUTH_RANDOM,
                                              sizeof r->digest_random, r->digest_random};
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_NONCE_NC_SIZE, 4096, NULL};
    }
    extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    long long timeout_s = (r->cfg->connection_timeout_ms + 999) / 1000;
    r->hw_cut = pr_metrics_counter(r->metrics, "phonereport_ingest_header_timeouts_total",
                                   "Connections cut for taking longer than header-timeout to "
                                   "send a request's line and headers",
                                   "");
    r->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, r, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&r->addr, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)r->cfg->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)r->cfg->max_header_bytes, MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, r,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, r, MHD_OPTION_NOTIFY_CONNECTION, conn_cb, r,
        MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (!r->daemon)
        return pr_err(PR_EFATAL, err, errlen, "cannot listen on %s (in use, or bad TLS files?)",
                      r->cfg->listen);
    atomic_store(&r->hw_run, true);
    if (pthread_create(&r->hw_thr, NULL, watchdog, r) != 0) {
        MHD_stop_daemon(r->daemon);
        r->daemon = NULL;
        return pr_err(PR_EFATAL, err, errlen, "cannot start the header watchdog thread");
    }
    r->hw_started = true;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (di)
        r->port = di->port;
    PR_LOG(PR_LOG_INFO, "ingest", "listening",
           json_pack("{sssisisb}", "listen", r->cfg->listen, "port", (int)r->port, "threads",
                     (int)threads, "tls", r->tls_cert_pem != NULL));
    return PR_OK;
}

void ingest_http_quiesce(ingest *r)
{
    if (!r->daemon)
        return;
    MHD_socket s = MHD_quiesce_daemon(r->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

void ingest_http_stop(ingest *r)
{
    if (r->daemon)
        MHD_stop_daemon(r->daemon); /* CLOSED notifications empty the watch list */
    r->daemon = NULL;
    if (r->hw_started) {
        pthread_mutex_lock(&r->hw_mu);
        atomic_store(&r->hw_run, false);
        pthread_cond_signal(&r->hw_cv);
        pthread_mutex_unlock(&r->hw_mu);
        pthread_join(r->hw_thr, NULL);
        r->hw_started = false;
    }
}
