/*
 * http_conn.c - the request state machine of the edge, on libmicrohttpd's callbacks: a
 * request is made in the URI-log callback, judged on its headers, fed its body, handed to
 * Kafka, answered from the delivery report, and ended by the completion callback (or by the
 * connection's CLOSED notification when libmicrohttpd drops it: watchdog.c).
 *
 * DESIGN (one upload): the URI-log callback allocates the request (it alone sees the raw
 * URI with its query, which becomes pr-path). The first call of the access handler has the
 * headers: method, prefix, framing, Content-Length, credentials, identity, allow-list and a
 * full in-flight budget are judged there, so a refused phone never sends its body
 * (libmicrohttpd sends 100-continue only when we queued nothing). Body calls append to a
 * buffer that grows as bytes arrive, charged to the in-flight budget as it grows (never for
 * the announced length). The last call hands the buffer to
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
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "http_int.h"
#include "log.h"
#include "clock.h"
#include "ops_http.h"

/* ------------------------------------------------------------ request life */

static void budget_give(ingest *r, req *q)
{
    if (q->reserved) {
        ingest_shares_give(r->shares, q->remote, q->reserved);
        ingest_budget_give(&r->budget, q->reserved);
        pr_gauge_add(r->stats.inflight_bytes, -(double)q->reserved);
        q->reserved = 0;
    }
}

/* INGEST_U__COUNT when n bytes were taken, else why not (the budget, or this address's share
 * of it). */
static ingest_unavail budget_take(ingest *r, req *q, long long n)
{
    if (!ingest_budget_take(&r->budget, n))
        return INGEST_U_INFLIGHT;
    if (!ingest_shares_take(r->shares, q->remote, n)) {
        ingest_budget_give(&r->budget, n);
        return INGEST_U_INFLIGHT_IP;
    }
    q->reserved += n;
    pr_gauge_add(r->stats.inflight_bytes, (double)n);
    return INGEST_U__COUNT;
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

void *ingest_http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
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
    ingest_http_make_id(q->id);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    q->received_ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    q->started_mono_ms = pr_mono_ms();
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
    q->ctx = ingest_watch_ctx(conn);
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

/* Called from the completion callback, or through ingest_http_req_dropped from the CLOSED
 * notification for a request libmicrohttpd dropped (watchdog.c). */
void ingest_http_req_end(ingest *r, req *q, enum MHD_RequestTerminationCode toe)
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

void ingest_http_req_dropped(ingest *r, req *q)
{
    ingest_http_req_end(r, q, MHD_REQUEST_TERMINATED_WITH_ERROR);
}

void ingest_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    ingest *r = cls;
    req *q = *con_cls;
    ingest_watch_headers(conn, true); /* keep-alive: the next request's headers are awaited */
    if (!q)
        return;
    *con_cls = NULL;
    ingest_http_req_end(r, q, toe);
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
    return ingest_http_answer(q, conn, status, line);
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
        return ingest_http_answer(q, conn, MHD_HTTP_NOT_FOUND, "not found");
    q->kind = ingest_kind_of_path(&r->kinds, url);
    if (atomic_load(&r->stopping))
        return ingest_http_unavailable(q, conn, INGEST_U_SHUTDOWN);

    const char *bad = framing_problem(conn);
    if (bad)
        return ingest_http_answer(q, conn, MHD_HTTP_BAD_REQUEST, bad);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    switch (ingest_limits_content_length(cl, r->cfg->max_body_bytes, &q->content_length)) {
    case INGEST_LEN_TOO_LARGE:
        return ingest_http_answer(q, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    case INGEST_LEN_INVALID:
        return ingest_http_answer(q, conn, MHD_HTTP_BAD_REQUEST, "bad content-length");
    case INGEST_LEN_OK: q->has_length = true; break;
    case INGEST_LEN_ABSENT: break;
    }

    char bound[PR_MAC_LEN + 1] = "";
    if (r->auth) {
        switch (ingest_http_authenticate(r, q, conn, bound, &rc)) {
        case INGEST_AUTH_OK: break;
        case INGEST_AUTH_CHALLENGED: return rc;
        case INGEST_AUTH_NOMEM:
            return ingest_http_answer(q, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        }
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
        return ingest_http_unavailable(q, conn, INGEST_U_INFLIGHT);
    if (ingest_shares_held(r->shares, q->remote) + first_buffer(r, q) >
        ingest_limits_ip_share(r->cfg))
        return ingest_http_unavailable(q, conn, INGEST_U_INFLIGHT_IP);
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
    if (pr_mono_ms() - q->started_mono_ms > r->cfg->request_timeout_ms) {
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
        ingest_unavail full = budget_take(r, q, (long long)(ncap - q->cap));
        if (full != INGEST_U__COUNT) {
            q->dropped = q->len + size;
            start_drain(q, MHD_HTTP_SERVICE_UNAVAILABLE, full, NULL);
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
        return ingest_http_unavailable(q, conn, INGEST_U_KAFKA_DOWN);
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
            return ingest_http_answer(q, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
        return ingest_http_unavailable(q, conn, classify(e));
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
        rc = ingest_http_queue(q, conn, MHD_HTTP_OK, resp);
    } else if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        PR_LOG(PR_LOG_WARN, "ingest", "kafka refused the report as too large",
               json_pack("{ss}", "request_id", q->id));
        rc = ingest_http_answer(q, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    } else {
        PR_LOG(PR_LOG_WARN, "ingest", "kafka did not take the report",
               json_pack("{ssss}", "request_id", q->id, "kafka", rd_kafka_err2name(e)));
        rc = ingest_http_unavailable(q, conn, classify(e));
    }
    pending_done(r);
    return rc;
}

enum MHD_Result ingest_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    ingest *r = cls;
    req *q = *con_cls;
    (void)version;
    if (!q)
        return MHD_NO; /* allocation failed in uri_log_cb */

    switch (q->state) {
    case REQ_NEW: {
        ingest_watch_headers(conn, false);
        if (q->early_status)
            return ingest_http_answer(q, conn, q->early_status, q->early_text);
        bool get =
            strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        bool up =
            strcmp(method, MHD_HTTP_METHOD_PUT) == 0 || strcmp(method, MHD_HTTP_METHOD_POST) == 0;
        if (pr_ops_is_endpoint(url))
            return get ? ingest_http_serve_endpoint(r, q, conn, url)
                       : ingest_http_method_not_allowed(q, conn, "GET, HEAD");
        if (!up)
            return ingest_http_method_not_allowed(q, conn, "PUT, POST");
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
                return ingest_http_unavailable(q, conn, q->drain_reason);
            return ingest_http_answer(q, conn, q->drain_status, q->drain_text);
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
