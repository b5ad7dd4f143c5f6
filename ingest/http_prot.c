/*
 * http_prot.c - the protocol side of the edge's answers: every answer of the edge's own is
 * a one-line text/plain reason (503s with Retry-After, counted by reason), uploads carry
 * X-Request-Id, and while stopping every answer says Connection: close; each answer is
 * counted in phonereport_ingest_requests_total. Also the request ids (random UUIDs, no lock
 * on the hot path) and the endpoints /healthz, /readyz and /metrics.
 */
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_int.h"
#include "log.h"
#include "hex.h"
#include "ops_http.h"

/* ------------------------------------------------------------------ metrics */

static const unsigned status_slots[INGEST_NSTATUS] = {200, 400, 401, 403, 404, 405,
                                                      413, 414, 500, 503, 0,   0};

void ingest_http_count(ingest *r, unsigned status, int kind)
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

enum MHD_Result ingest_http_queue(req *q, struct MHD_Connection *conn, unsigned status,
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
        ingest_http_count(q->r, status, q->upload ? (int)q->kind : -1);
    }
    return rc;
}

struct MHD_Response *ingest_http_text(const char *line)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), buf, MHD_RESPMEM_MUST_COPY);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return resp;
}

enum MHD_Result ingest_http_answer(req *q, struct MHD_Connection *conn, unsigned status,
                                   const char *line)
{
    return ingest_http_queue(q, conn, status, ingest_http_text(line));
}

static const char *const unavail_name[INGEST_U__COUNT] = {
    [INGEST_U_KAFKA_DOWN] = "kafka_down",   [INGEST_U_QUEUE_FULL] = "queue_full",
    [INGEST_U_INFLIGHT] = "inflight_limit", [INGEST_U_INFLIGHT_IP] = "inflight_ip_limit",
    [INGEST_U_TIMEOUT] = "timeout",         [INGEST_U_KAFKA_ERROR] = "kafka_error",
    [INGEST_U_SHUTDOWN] = "shutting_down",
};

static const char *const unavail_text[INGEST_U__COUNT] = {
    [INGEST_U_KAFKA_DOWN] = "kafka unavailable",
    [INGEST_U_QUEUE_FULL] = "kafka queue full",
    [INGEST_U_INFLIGHT] = "too many reports in flight",
    [INGEST_U_INFLIGHT_IP] = "too many reports in flight from this address",
    [INGEST_U_TIMEOUT] = "kafka did not acknowledge in time",
    [INGEST_U_KAFKA_ERROR] = "kafka refused the report",
    [INGEST_U_SHUTDOWN] = "shutting down",
};

enum MHD_Result ingest_http_unavailable(req *q, struct MHD_Connection *conn, ingest_unavail why)
{
    ingest *r = q->r;
    char ra[32];
    pr_counter_inc(r->stats.unavailable[why]);
    struct MHD_Response *resp = ingest_http_text(unavail_text[why]);
    if (resp) {
        snprintf(ra, sizeof ra, "%lld", ingest_limits_retry_after_s(r->cfg->retry_after_ms));
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    PR_LOG(PR_LOG_WARN, "ingest", "report refused: 503",
           json_pack("{ssssss}", "request_id", q->id, "reason", unavail_name[why], "remote",
                     q->remote));
    return ingest_http_queue(q, conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
}

enum MHD_Result ingest_http_method_not_allowed(req *q, struct MHD_Connection *conn,
                                               const char *allow)
{
    struct MHD_Response *resp = ingest_http_text("method not allowed");
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return ingest_http_queue(q, conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
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

void ingest_http_make_id(char out[37])
{
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
        pr_hex_encode(b + i, 1, out + o);
        o += 2;
    }
}

/* --------------------------------------------------------------- endpoints */

static const char *edge_ready(void *ctx)
{
    ingest *r = ctx;
    if (ingest_state_ready(r))
        return NULL;
    return atomic_load(&r->stopping) ? "shutting down" : "kafka unreachable";
}

/* /healthz, /readyz, /metrics: answered as on every port (proto/ops_http.c), counted here. */
enum MHD_Result ingest_http_serve_endpoint(ingest *r, req *q, struct MHD_Connection *conn,
                                           const char *url)
{
    unsigned code;
    struct MHD_Response *resp = pr_ops_response(url, r->metrics, edge_ready, r, &code);
    return ingest_http_queue(q, conn, code, resp);
}
