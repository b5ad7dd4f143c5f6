/*
 * api_routes.c - the query API's router and its resources (DESIGN section 6):
 *
 *   GET /v1/phones?...                                        fleet search and export
 *                                                             (api_phones.c)
 *   GET /v1/phones/{mac}                                      summary of one phone
 *   GET /v1/phones/{mac}/config[?format=json|xml]             current configuration
 *   GET /v1/phones/{mac}/config?at=, /diff?from=&to=           history (api_history.c)
 *   GET /v1/diff?a=&b=&only=                                  two phones compared
 *   GET /v1/phones/{mac}/status                               latest status report
 *   GET /v1/phones/{mac}/changes?limit=&after=                change history, oldest first
 *   GET /v1/drift?mac=&limit=&after=                          currently drifted parameters
 *   GET /v1/fleet                                             counts across the fleet
 *   GET /v1/params/{name}?limit=&offset=                      a parameter's values, counted
 *   POST /v1/phones/{mac}/report-request                      ask the phone for a report now
 *                                                             (rebaseline.c; 202, queued)
 *   POST /v1/phones/{mac}/resync                              ask it to resync (remediate.c)
 *   GET /metrics, /healthz, /readyz                           open: no credentials asked
 *   GET /, /console/app.js, /console/app.css                  the console (api_console.c), open
 *
 * Errors are JSON {"error":"..."}: 400 for a malformed MAC or query parameter (unknown names
 * included), an encoded NUL in the URL, or an ambiguous Authorization (two of them, or one
 * holding a NUL: the edge refuses ambiguous identities the same way); 401 without valid
 * credentials (when api-tokens is set; api_auth.c); 429 for an address with too many failed
 * logins in the window (api_guard.c); 403 for an action (any method but GET/HEAD) without an
 * admin token; 404 for an unknown phone or path; 405 for any method but GET/HEAD (the two
 * actions excepted); 410 for a point before the kept history (api_history.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "ops_http.h"

static const char *api_ready(void *ctx)
{
    sink_api *a = ctx;
    if (a->ready && !atomic_load(a->ready))
        return "no partitions assigned yet";
    int n = atomic_load(&a->nchecks);
    for (int i = 0; i < n; i++) {
        const char *why = a->checks[i].fn(a->checks[i].ctx);
        if (why)
            return why;
    }
    return NULL;
}

/* /healthz, /readyz, /metrics as on every port (proto/ops_http.c); the store's counts are
 * read into their gauges just before /metrics renders. */
static enum MHD_Result ops(sink_api *a, struct MHD_Connection *c, const char *url)
{
    int64_t phones = 0, drifted = 0, outbox = 0;
    unsigned code;
    char err[256];
    if (strcmp(url, "/metrics") == 0) {
        sink_store *st = api_store_take(a, err, sizeof err);
        if (st && sink_query_counts(st, &phones, &drifted, &outbox) == PR_OK) {
            pr_gauge_set(a->g_phones, (double)phones);
            pr_gauge_set(a->g_drifted, (double)drifted);
            pr_gauge_set(a->g_outbox, (double)outbox);
        }
        api_store_give(a, st);
    }
    struct MHD_Response *r = pr_ops_response(url, a->metrics, api_ready, a, &code);
    if (!r)
        return MHD_NO;
    api_count(a, code);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result phone_route(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                   const char *rest)
{
    char mac[PR_MAC_LEN + 1], err[256] = "";
    const char *slash = strchr(rest, '/');
    size_t maclen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash + 1 : NULL, *bad;
    json_t *doc = NULL;
    pr_status rc;
    static const char *const none[] = {NULL};
    static const char *const fmt_only[] = {"format", "at", NULL};
    static const char *const diff[] = {"from", "to", "format", NULL};
    static const char *const page[] = {"limit", "after", NULL};
    const char *const *allowed;

    if (!sub || strcmp(sub, "status") == 0)
        allowed = none;
    else if (strcmp(sub, "config") == 0)
        allowed = fmt_only;
    else if (strcmp(sub, "changes") == 0)
        allowed = page;
    else if (strcmp(sub, "diff") == 0)
        allowed = diff;
    else
        return api_send_error(a, c, MHD_HTTP_NOT_FOUND, "no such resource");
    if (pr_mac_parse(rest, maclen, mac, err, sizeof err) != PR_OK)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "malformed MAC: %s", err);
    if ((bad = api_arg_unknown(c, allowed)))
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", bad);

    if (sub && strcmp(sub, "config") == 0 && api_arg(c, "at"))
        return api_history_config(a, st, c, mac);
    if (sub && strcmp(sub, "diff") == 0)
        return api_history_diff(a, st, c, mac);
    if (!sub) {
        rc = sink_query_phone(st, mac, &doc, err, sizeof err);
    } else if (strcmp(sub, "config") == 0) {
        const char *format = api_arg(c, "format");
        if (format && strcmp(format, "xml") == 0) {
            char *xml = NULL;
            size_t len = 0;
            rc = sink_query_config_xml(st, mac, &xml, &len, err, sizeof err);
            if (rc != PR_OK)
                return api_answer(a, c, rc, NULL, err);
            api_count(a, 200);
            return api_send_buf(c, MHD_HTTP_OK, xml, len, "application/xml; charset=utf-8");
        }
        if (format && strcmp(format, "json") != 0)
            return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "format: expected json or xml");
        rc = sink_query_config(st, mac, &doc, err, sizeof err);
    } else if (strcmp(sub, "status") == 0) {
        rc = sink_query_status(st, mac, &doc, err, sizeof err);
    } else {
        long long limit, after;
        if (api_arg_int(c, "limit", API_LIMIT_DEFAULT, 1, API_LIMIT_MAX, &limit) != 0)
            return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%d",
                                  API_LIMIT_MAX);
        if (api_arg_int(c, "after", 0, 0, INT64_MAX, &after) != 0)
            return api_send_error(a, c, MHD_HTTP_BAD_REQUEST,
                                  "after: expected a sequence number 0..%lld",
                                  (long long)INT64_MAX);
        rc = sink_query_changes(st, mac, after, (int)limit, &doc, err, sizeof err);
    }
    return api_answer(a, c, rc, doc, err);
}

static enum MHD_Result fleet_route(sink_api *a, sink_store *st, struct MHD_Connection *c)
{
    static const char *const none[] = {NULL};
    char err[256] = "";
    json_t *doc = NULL;
    const char *bad = api_arg_unknown(c, none);
    if (bad)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", bad);
    pr_status rc = sink_fleet_summary(st, &doc, err, sizeof err);
    return api_answer(a, c, rc, doc, err);
}

static enum MHD_Result params_route(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                    const char *name)
{
    static const char *const allowed[] = {"limit", "offset", NULL};
    char err[256] = "";
    long long limit, offset;
    json_t *doc = NULL;
    const char *bad = api_arg_unknown(c, allowed);
    if (bad)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", bad);
    if (!*name || strlen(name) > 255 || strchr(name, '/'))
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "expected /v1/params/<parameter name>");
    if (api_arg_int(c, "limit", API_LIMIT_DEFAULT, 1, API_LIMIT_MAX, &limit) != 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%d", API_LIMIT_MAX);
    if (api_arg_int(c, "offset", 0, 0, 1000000000, &offset) != 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "offset: expected 0..1000000000");
    pr_status rc = sink_fleet_param_values(st, name, offset, (int)limit, &doc, err, sizeof err);
    return api_answer(a, c, rc, doc, err);
}

static enum MHD_Result drift_route(sink_api *a, sink_store *st, struct MHD_Connection *c)
{
    static const char *const allowed[] = {"mac", "limit", "after", NULL};
    char mac[PR_MAC_LEN + 1], err[256] = "";
    long long limit;
    json_t *doc = NULL;
    const char *mv = api_arg(c, "mac"), *bad = api_arg_unknown(c, allowed);
    if (bad)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", bad);
    if (api_arg_int(c, "limit", API_LIMIT_DEFAULT, 1, API_LIMIT_MAX, &limit) != 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%d", API_LIMIT_MAX);
    if (mv && pr_mac_parse(mv, strlen(mv), mac, err, sizeof err) != PR_OK)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "mac: %s", err);
    pr_status rc = sink_query_drift(st, mv ? mac : NULL, api_arg(c, "after"), (int)limit, &doc, err,
                                    sizeof err);
    return api_answer(a, c, rc, doc, err);
}

/* POST /v1/phones/{mac}/report-request: queued for the re-baseline thread (202); the result
 * shows later as the summary's report_request. 503 when re-baseline is not configured, 404
 * for an unknown phone, 409 when the sink knows no address for it. */
static enum MHD_Result report_request_route(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                            const char *macp, size_t maclen, bool resync)
{
    char mac[PR_MAC_LEN + 1], err[256] = "";
    json_t *doc = NULL;
    if (pr_mac_parse(macp, maclen, mac, err, sizeof err) != PR_OK)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "malformed MAC: %s", err);
    if (!a->rebaseline)
        return api_send_error(a, c, MHD_HTTP_SERVICE_UNAVAILABLE,
                              "report requests are not configured (rebaseline-credentials)");
    pr_status rc = sink_query_phone(st, mac, &doc, err, sizeof err);
    if (rc != PR_OK)
        return api_answer(a, c, rc, doc, err);
    bool known = json_is_string(json_object_get(doc, "remote"));
    json_decref(doc);
    if (!known)
        return api_send_error(a, c, MHD_HTTP_CONFLICT,
                              "the sink knows no address for this phone (no report carried one)");
    if ((resync ? sink_rebaseline_resync : sink_rebaseline_request)(a->rebaseline, mac, err,
                                                                    sizeof err) != PR_OK)
        return api_send_error(a, c, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
    return api_send_json(
        a, c, MHD_HTTP_ACCEPTED,
        json_pack("{ss sb ss}", "mac", mac, "queued", 1, "event", resync ? "resync" : "report"));
}

/* Sees the request target before MHD decodes it. A %00 would decode to a NUL and cut the path
 * or a query value short (/v1/phones/{mac}%00/config would answer the summary), so such a
 * request is marked here and refused in api_handle(). The raw target's length is kept for
 * the header-size check (hidden_bytes). Freed in api_guard_completed. */
void *api_raw_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    api_request *q = calloc(1, sizeof *q);
    (void)cls;
    (void)c;
    if (q) {
        q->nul = strstr(uri, "%00") != NULL;
        q->uri_len = strlen(uri);
    }
    return q;
}

typedef struct header_sum {
    size_t bytes;
    int authorization;
} header_sum;

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    header_sum *h = cls;
    (void)kind;
    h->bytes += strlen(key) + 2 + (value ? strlen(value) : 0) + 2; /* "key: value\r\n" */
    if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
        h->authorization++;
    return MHD_YES;
}

/* MHD 0.9.75 keeps a header value only up to a NUL byte in it, so "Bearer <token>\0junk"
 * would read as the token alone: the request's header size as received is compared with
 * what its parsed lines account for ("key: value" each), and bytes beyond that mean the
 * lines held more than MHD reports. */
static bool hidden_bytes(struct MHD_Connection *c, const api_request *q, const char *method,
                         const char *version, size_t headers)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    size_t line = strlen(method) + 1 + q->uri_len + 1 + strlen(version) + 2;
    return ci && q->uri_len && ci->header_size > line + headers + 2;
}

/* The one Authorization header (NULL when none); *why when it is ambiguous. */
static const char *authorization(struct MHD_Connection *c, const api_request *q, const char *method,
                                 const char *version, const char **why)
{
    header_sum h = {0, 0};
    *why = NULL;
    MHD_get_connection_values(c, MHD_HEADER_KIND, sum_header, &h);
    if (h.authorization > 1) {
        *why = "more than one Authorization header";
        return NULL;
    }
    if (h.authorization && q && hidden_bytes(c, q, method, version, h.bytes)) {
        *why = "malformed request headers (a NUL byte, or white space beyond one blank after "
               "a colon)";
        return NULL;
    }
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
}

static enum MHD_Result locked_out(sink_api *a, struct MHD_Connection *c, long long retry_s)
{
    char body[160], secs[24];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"too many failed logins from this address; retry in %lld s\"}",
                     retry_s);
    snprintf(secs, sizeof secs, "%lld", retry_s);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    api_count(a, 429);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_TOO_MANY_REQUESTS, r);
    MHD_destroy_response(r);
    return ok;
}

/* Who may do this: NULL to go on, else the answer already queued in *res. */
static bool refused(sink_api *a, struct MHD_Connection *c, const api_request *q, const char *method,
                    const char *version, const char *url, bool safe, enum MHD_Result *res)
{
    const char *why = NULL, *h = authorization(c, q, method, version, &why);
    char who[72], remote[64];
    if (why) {
        *res = api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s", why);
        return true;
    }
    if (!sink_auth_required(a->auth))
        return false;
    api_guard_remote(c, remote, sizeof remote);
    long long retry = api_guard_locked(a->guard, remote);
    if (retry > 0) {
        *res = locked_out(a, c, retry);
        return true;
    }
    sink_access acc = sink_auth_check(a->auth, h, who, sizeof who);
    if (acc == SINK_ACCESS_NONE) {
        if (h)
            api_guard_failed(a->guard, remote, method, url);
        else
            PR_LOG(PR_LOG_DEBUG, "sink", "api request without credentials",
                   json_pack("{ss ss}", "method", method, "path", url));
        *res = api_send_error(a, c, MHD_HTTP_UNAUTHORIZED, "credentials required: a bearer token");
        return true;
    }
    if (!safe && acc != SINK_ACCESS_ADMIN) {
        *res = api_send_error(a, c, MHD_HTTP_FORBIDDEN, "%s needs an admin token", method);
        return true;
    }
    return false;
}

static enum MHD_Result route(sink_api *a, sink_store *st, struct MHD_Connection *c, const char *url,
                             const char *method, bool safe)
{
    static const char rr[] = "/report-request", rs[] = "/resync";
    size_t ulen = strlen(url);
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0 && strncmp(url, "/v1/phones/", 11) == 0;
    if (post && ulen > 11 + sizeof rr - 1 && strcmp(url + ulen - (sizeof rr - 1), rr) == 0)
        return report_request_route(a, st, c, url + 11, ulen - 11 - (sizeof rr - 1), false);
    if (post && ulen > 11 + sizeof rs - 1 && strcmp(url + ulen - (sizeof rs - 1), rs) == 0)
        return report_request_route(a, st, c, url + 11, ulen - 11 - (sizeof rs - 1), true);
    if (!safe)
        return api_send_error(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed", method);
    if (strcmp(url, "/v1/phones") == 0 || strcmp(url, "/v1/phones/") == 0)
        return api_phones_route(a, st, c);
    if (strncmp(url, "/v1/phones/", 11) == 0)
        return phone_route(a, st, c, url + 11);
    if (strcmp(url, "/v1/drift") == 0)
        return drift_route(a, st, c);
    if (strcmp(url, "/v1/diff") == 0)
        return api_history_compare(a, st, c);
    if (strcmp(url, "/v1/fleet") == 0)
        return fleet_route(a, st, c);
    if (strncmp(url, "/v1/params/", 11) == 0)
        return params_route(a, st, c, url + 11);
    return api_send_error(a, c, MHD_HTTP_NOT_FOUND, "no such resource");
}

enum MHD_Result api_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                           const char *version, const char *upload_data, size_t *upload_data_size,
                           void **con_cls)
{
    sink_api *a = cls;
    enum MHD_Result res;
    char err[256];
    const api_request *q = *con_cls;
    (void)upload_data;
    (void)upload_data_size;
    api_guard_headers_done(c);
    bool safe =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (q && q->nul)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "the URL holds an encoded NUL (%%00)");
    /* Open to anyone (Prometheus and orchestrators scrape them): nothing about phones. */
    if (safe && pr_ops_is_endpoint(url))
        return ops(a, c, url);
    /* The console's files hold no data: the page must load to ask for a token. */
    const sink_console_file *cf = safe ? sink_console_find(url) : NULL;
    if (cf) {
        api_count(a, 200);
        return (enum MHD_Result)sink_console_send(c, cf);
    }
    /* Everything else needs credentials when a token file is set; actions need admin. */
    if (refused(a, c, q, method, version, url, safe, &res))
        return res;
    sink_store *st = api_store_take(a, err, sizeof err);
    if (!st)
        return api_answer(a, c, PR_EFATAL, NULL, err);
    res = route(a, st, c, url, method, safe);
    api_store_give(a, st);
    return res;
}
