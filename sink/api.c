/*
 * api.c - the query API (DESIGN section 6) on libmicrohttpd:
 *
 *   GET /v1/phones?drifted=&complete=&model=&firmware=&seen_after=&seen_before=
 *                  &param.<Name>[!]=<value>[*]&limit=&after=&format=json|ndjson|csv
 *                                                             phones, MAC order, paginated
 *   GET /v1/phones/{mac}                                      summary of one phone
 *   GET /v1/phones/{mac}/config[?format=json|xml]             current configuration
 *   GET /v1/phones/{mac}/status                               latest status report
 *   GET /v1/phones/{mac}/changes?limit=&after=                change history, oldest first
 *   GET /v1/drift?mac=&limit=&after=                          currently drifted parameters
 *   GET /v1/fleet                                             counts across the fleet
 *   GET /v1/params/{name}?limit=&offset=                      a parameter's values, counted
 *   POST /v1/phones/{mac}/report-request                      ask the phone for a report now
 *                                                             (rebaseline.c; 202, queued)
 *   GET /metrics, /healthz, /readyz                           open: no credentials asked
 *   GET /, /console/app.js, /console/app.css                  the console (api_console.c), open
 *
 * Errors are JSON {"error":"..."}: 400 for a malformed MAC or query parameter (unknown names
 * included) or an encoded NUL in the URL, 401 without valid credentials (when api-tokens is
 * set; api_auth.c), 403 for an action (any method but GET/HEAD) without an admin token, 404
 * for an unknown phone or path, 405 for any method but GET/HEAD (the one action excepted).
 *
 * DESIGN: MHD's single internal polling thread runs every handler, so the API's read-only
 * store connection (SQLite or PostgreSQL) is used by that thread alone (SQLite WAL: it never
 * blocks the writer).
 */
#include <errno.h>
#include <netdb.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "file.h"
#include "log.h"
#include "listen.h"
#include "sink_internal.h"
#include "ops_http.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX     1000

struct sink_api {
    struct MHD_Daemon *d;
    sink_store *st;
    pr_metrics *metrics;
    atomic_int *ready;
    unsigned port;
    pr_gauge *g_phones, *g_drifted, *g_outbox;
    pr_counter *c_requests[8]; /* 200, 400, 404, 405, 500, other, 401, 403 */
    sink_auth *auth;
    char *tls_cert_pem, *tls_key_pem;
    sink_rebaseline *rebaseline; /* NULL: re-baseline not configured */
};

#define AUTH_CHALLENGE "Bearer realm=\"phonereport\""

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned code, char *body, size_t len,
                                const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ok;
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, AUTH_CHALLENGE);
    ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static void count(sink_api *a, unsigned code)
{
    int i = code == 200   ? 0
            : code == 400 ? 1
            : code == 404 ? 2
            : code == 405 ? 3
            : code == 500 ? 4
            : code == 401 ? 6
            : code == 403 ? 7
                          : 5;
    pr_counter_inc(a->c_requests[i]);
}

/* Steals doc. */
static enum MHD_Result send_json(sink_api *a, struct MHD_Connection *c, unsigned code, json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    count(a, code);
    if (!body)
        return MHD_NO;
    size_t len = strlen(body);
    return send_buf(c, code, body, len, "application/json");
}

static enum MHD_Result send_error(sink_api *a, struct MHD_Connection *c, unsigned code,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_error(sink_api *a, struct MHD_Connection *c, unsigned code,
                                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_json(a, c, code, json_pack("{ss}", "error", msg));
}

/* Every query parameter must be one of `allowed` (NULL-terminated). */
typedef struct arg_check {
    const char *const *allowed;
    const char *bad;
} arg_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    arg_check *ac = cls;
    (void)kind;
    (void)value;
    for (const char *const *p = ac->allowed; *p; p++)
        if (strcmp(*p, key) == 0)
            return MHD_YES;
    if (!ac->bad)
        ac->bad = key;
    return MHD_YES;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* -1 absent; 0/1; -2 malformed. */
static int arg_bool(struct MHD_Connection *c, const char *name)
{
    const char *v = arg(c, name);
    if (!v)
        return -1;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        return 1;
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        return 0;
    return -2;
}

/* 0 with *out (default def when absent), -1 malformed or outside [lo, hi]. */
static int arg_int(struct MHD_Connection *c, const char *name, long long def, long long lo,
                   long long hi, long long *out)
{
    const char *v = arg(c, name);
    char *end;
    *out = def;
    if (!v)
        return 0;
    if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
        return -1;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

static enum MHD_Result answer(sink_api *a, struct MHD_Connection *c, pr_status rc, json_t *doc,
                              const char *err)
{
    if (rc == PR_OK)
        return send_json(a, c, MHD_HTTP_OK, doc);
    if (rc == PR_ENOTFOUND)
        return send_error(a, c, MHD_HTTP_NOT_FOUND, "%s", *err ? err : "unknown phone");
    if (rc == PR_EINVAL)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s", err);
    PR_LOG(PR_LOG_ERROR, "sink", "query failed", json_pack("{ss}", "error", err));
    return send_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
}

static const char *api_ready(void *ctx)
{
    const sink_api *a = ctx;
    return !a->ready || atomic_load(a->ready) ? NULL : "no partitions assigned yet";
}

/* /healthz, /readyz, /metrics as on every port (proto/ops_http.c); the store's counts are
 * read into their gauges just before /metrics renders. */
static enum MHD_Result ops(sink_api *a, struct MHD_Connection *c, const char *url)
{
    int64_t phones = 0, drifted = 0, outbox = 0;
    unsigned code;
    if (strcmp(url, "/metrics") == 0 &&
        sink_query_counts(a->st, &phones, &drifted, &outbox) == PR_OK) {
        pr_gauge_set(a->g_phones, (double)phones);
        pr_gauge_set(a->g_drifted, (double)drifted);
        pr_gauge_set(a->g_outbox, (double)outbox);
    }
    struct MHD_Response *r = pr_ops_response(url, a->metrics, api_ready, a, &code);
    if (!r)
        return MHD_NO;
    count(a, code);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result phone_route(sink_api *a, struct MHD_Connection *c, const char *rest)
{
    char mac[PR_MAC_LEN + 1], err[256] = "";
    const char *slash = strchr(rest, '/');
    size_t maclen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash + 1 : NULL;
    json_t *doc = NULL;
    pr_status rc;
    static const char *const none[] = {NULL};
    static const char *const fmt_only[] = {"format", NULL};
    static const char *const page[] = {"limit", "after", NULL};
    const char *const *allowed;

    if (!sub || strcmp(sub, "status") == 0)
        allowed = none;
    else if (strcmp(sub, "config") == 0)
        allowed = fmt_only;
    else if (strcmp(sub, "changes") == 0)
        allowed = page;
    else
        return send_error(a, c, MHD_HTTP_NOT_FOUND, "no such resource");
    if (pr_mac_parse(rest, maclen, mac, err, sizeof err) != PR_OK)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "malformed MAC: %s", err);
    arg_check ac = {allowed, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &ac);
    if (ac.bad)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", ac.bad);

    if (!sub) {
        rc = sink_query_phone(a->st, mac, &doc, err, sizeof err);
    } else if (strcmp(sub, "config") == 0) {
        const char *format = arg(c, "format");
        if (format && strcmp(format, "xml") == 0) {
            char *xml = NULL;
            size_t len = 0;
            rc = sink_query_config_xml(a->st, mac, &xml, &len, err, sizeof err);
            if (rc != PR_OK)
                return answer(a, c, rc, NULL, err);
            count(a, 200);
            return send_buf(c, MHD_HTTP_OK, xml, len, "application/xml; charset=utf-8");
        }
        if (format && strcmp(format, "json") != 0)
            return send_error(a, c, MHD_HTTP_BAD_REQUEST, "format: expected json or xml");
        rc = sink_query_config(a->st, mac, &doc, err, sizeof err);
    } else if (strcmp(sub, "status") == 0) {
        rc = sink_query_status(a->st, mac, &doc, err, sizeof err);
    } else {
        long long limit, after;
        if (arg_int(c, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, &limit) != 0)
            return send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%d", LIMIT_MAX);
        if (arg_int(c, "after", 0, 0, INT64_MAX, &after) != 0)
            return send_error(a, c, MHD_HTTP_BAD_REQUEST, "after: expected a sequence number");
        rc = sink_query_changes(a->st, mac, after, (int)limit, &doc, err, sizeof err);
    }
    return answer(a, c, rc, doc, err);
}

/* ---- /v1/phones: fleet search (fleet.c) and export ---------------------------------- */

#define EXPORT_MAX 1000000

/* The query string of /v1/phones, collected into a fleet filter. Values are copied: a
 * prefix loses its '*', a "not equal" key its '!'. */
typedef struct phones_args {
    sink_fleet_filter f;
    char names[SINK_PARAM_FILTERS_MAX][256];
    char *values[SINK_PARAM_FILTERS_MAX + 2]; /* params, then model and firmware */
    size_t nvalues;
    char why[200]; /* the first problem, empty when none */
} phones_args;

static void phones_args_release(phones_args *pa)
{
    for (size_t i = 0; i < pa->nvalues; i++)
        free(pa->values[i]);
}

/* "X*" is a prefix, "X\*" the literal "X*", anything else exact. */
static int text_match(phones_args *pa, const char *v, sink_match exact, sink_text_match *m)
{
    size_t n = strlen(v);
    char *copy = strdup(v);
    if (!copy || pa->nvalues >= sizeof pa->values / sizeof pa->values[0]) {
        free(copy);
        return -1;
    }
    pa->values[pa->nvalues++] = copy;
    m->op = exact;
    if (n && copy[n - 1] == '*') {
        if (n >= 2 && copy[n - 2] == '\\') {
            copy[n - 2] = '*';
            copy[n - 1] = '\0';
        } else {
            copy[n - 1] = '\0';
            m->op = SINK_MATCH_PREFIX;
        }
    }
    m->value = copy;
    return 0;
}

static enum MHD_Result collect_phone_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    static const char *const known[] = {"drifted",     "complete",   "model", "firmware",
                                        "seen_before", "seen_after", "limit", "after",
                                        "format",      NULL};
    phones_args *pa = cls;
    (void)kind;
    if (*pa->why)
        return MHD_YES;
    if (strncmp(key, "param.", 6) == 0) {
        const char *name = key + 6;
        size_t n = strlen(name);
        sink_param_match *pm = &pa->f.params[pa->f.nparams];
        bool ne = n && name[n - 1] == '!';
        if (ne)
            n--;
        if (pa->f.nparams >= SINK_PARAM_FILTERS_MAX)
            snprintf(pa->why, sizeof pa->why, "at most %d param. filters", SINK_PARAM_FILTERS_MAX);
        else if (n == 0 || n >= sizeof pa->names[0])
            snprintf(pa->why, sizeof pa->why, "%s: expected param.<Name>=<value>", key);
        else if (!value)
            snprintf(pa->why, sizeof pa->why, "%s: needs a value (=, =prefix*, !=)", key);
        else if (text_match(pa, value, ne ? SINK_MATCH_NE : SINK_MATCH_EQ, &pm->m) != 0)
            snprintf(pa->why, sizeof pa->why, "out of memory");
        else if (ne && pm->m.op == SINK_MATCH_PREFIX)
            snprintf(pa->why, sizeof pa->why, "%s: a prefix cannot be combined with !=", key);
        else {
            memcpy(pa->names[pa->f.nparams], name, n);
            pa->names[pa->f.nparams][n] = '\0';
            pm->name = pa->names[pa->f.nparams];
            pa->f.nparams++;
        }
        return MHD_YES;
    }
    for (const char *const *p = known; *p; p++)
        if (strcmp(*p, key) == 0)
            return MHD_YES;
    snprintf(pa->why, sizeof pa->why, "unknown query parameter '%.100s'", key);
    return MHD_YES;
}

/* RFC 3339 UTC (seconds, optional fraction, Z), a date, or an age ("90s", "15m", "24h",
 * "7d" ago), as the store writes times: YYYY-MM-DDTHH:MM:SS.mmmZ. -1 when malformed. */
static int parse_time(const char *v, char out[32])
{
    size_t n = strlen(v);
    if (n >= 2 && n <= 12 && strspn(v, "0123456789") == n - 1 && strchr("smhd", v[n - 1])) {
        long long k = strtoll(v, NULL, 10);
        long long unit = v[n - 1] == 's'   ? 1
                         : v[n - 1] == 'm' ? 60
                         : v[n - 1] == 'h' ? 3600
                                           : 86400;
        if (k > 36500LL * 86400 / unit)
            return -1;
        sink_fleet_time_ago(k * unit, out, 32);
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (n == 10 && sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 && used == 10) {
        /* a date: midnight UTC */
    } else if (n >= 20 &&
               sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) == 6 &&
               used == 19 && v[n - 1] == 'Z') {
        const char *frac = v + 19;
        int ms = 0;
        if (*frac == '.') {
            size_t digits = strspn(frac + 1, "0123456789");
            if (digits == 0 || frac + 1 + digits != v + n - 1)
                return -1;
            for (size_t i = 0; i < 3; i++)
                ms = ms * 10 + (i < digits ? frac[1 + i] - '0' : 0);
        } else if (frac != v + n - 1) {
            return -1;
        }
        if (v[4] != '-' || v[7] != '-' || y < 0 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
            d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 || ms < 0 ||
            ms > 999)
            return -1;
        snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, ms);
        return 0;
    } else {
        return -1;
    }
    if (v[4] != '-' || v[7] != '-' || y < 0 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    snprintf(out, 32, "%04d-%02d-%02dT00:00:00.000Z", y, mo, d);
    return 0;
}

static void csv_field(pr_buf *b, const char *v)
{
    if (!v)
        return;
    if (!strpbrk(v, ",\"\r\n")) {
        pr_buf_str(b, v);
        return;
    }
    pr_buf_add(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            pr_buf_add(b, "\"", 1);
        pr_buf_add(b, p, 1);
    }
    pr_buf_add(b, "\"", 1);
}

/* The phone list as CSV (RFC 4180, a header line) or NDJSON (one summary per line). */
static enum MHD_Result send_export(sink_api *a, struct MHD_Connection *c, json_t *doc, bool csv)
{
    static const char *const cols[] = {
        "mac",        "model",      "firmware",  "version",   "complete",  "params", "drifted",
        "first_seen", "updated_at", "status_at", "last_seen", "report_id", NULL};
    pr_buf b = {0};
    size_t i, len = 0;
    json_t *o;
    if (csv) {
        for (const char *const *k = cols; *k; k++)
            pr_buf_printf(&b, "%s%s", k == cols ? "" : ",", *k);
        pr_buf_str(&b, "\r\n");
    }
    json_array_foreach(json_object_get(doc, "phones"), i, o)
    {
        if (!csv) {
            char *line = json_dumps(o, JSON_COMPACT);
            if (!line)
                b.oom = true;
            else
                pr_buf_printf(&b, "%s\n", line);
            free(line);
            continue;
        }
        for (const char *const *k = cols; *k; k++) {
            json_t *v = json_object_get(o, *k);
            char num[32];
            if (k != cols)
                pr_buf_add(&b, ",", 1);
            if (json_is_string(v))
                csv_field(&b, json_string_value(v));
            else if (json_is_integer(v)) {
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
                pr_buf_str(&b, num);
            } else if (json_is_boolean(v))
                pr_buf_str(&b, json_is_true(v) ? "true" : "false");
        }
        pr_buf_str(&b, "\r\n");
    }
    json_decref(doc);
    if (!b.p && !b.oom)
        pr_buf_str(&b, "");
    char *body = pr_buf_steal(&b, &len);
    count(a, body ? 200 : 500);
    if (!body)
        return MHD_NO;
    return send_buf(c, MHD_HTTP_OK, body, len,
                    csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
}

static enum MHD_Result phones_route(sink_api *a, struct MHD_Connection *c)
{
    phones_args pa;
    char after[PR_MAC_LEN + 1], err[256] = "", t_after[32], t_before[32];
    long long limit;
    json_t *doc = NULL;
    enum MHD_Result res;
    const char *v, *format = arg(c, "format");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    memset(&pa, 0, sizeof pa);
    pa.f.limit = LIMIT_DEFAULT;
    bool csv = format && strcmp(format, "csv") == 0;
    bool ndjson = (format && strcmp(format, "ndjson") == 0) ||
                  (!format && accept && strstr(accept, "application/x-ndjson"));
    long long max = csv || ndjson ? EXPORT_MAX : LIMIT_MAX;

    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_phone_arg, &pa);
    if (*pa.why) {
        res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s", pa.why);
        goto out;
    }
    if (format && !csv && !ndjson && strcmp(format, "json") != 0) {
        res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "format: expected json, ndjson or csv");
        goto out;
    }
    if ((pa.f.drifted = arg_bool(c, "drifted")) == -2) {
        res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "drifted: expected true or false");
        goto out;
    }
    if ((pa.f.complete = arg_bool(c, "complete")) == -2) {
        res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "complete: expected true or false");
        goto out;
    }
    if (arg_int(c, "limit", max == LIMIT_MAX ? LIMIT_DEFAULT : EXPORT_MAX, 1, max, &limit) != 0) {
        res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%lld", max);
        goto out;
    }
    pa.f.limit = (int)limit;
    static const char *const texts[] = {"model", "firmware"};
    for (int i = 0; i < 2; i++) {
        sink_text_match *m = i == 0 ? &pa.f.model : &pa.f.firmware;
        if (!(v = arg(c, texts[i])))
            continue;
        if (!*v || strcmp(v, "*") == 0) {
            res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s: must not be empty", texts[i]);
            goto out;
        }
        if (text_match(&pa, v, SINK_MATCH_EQ, m) != 0) {
            res = send_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            goto out;
        }
    }
    if ((v = arg(c, "seen_after"))) {
        if (parse_time(v, t_after) != 0) {
            res = send_error(a, c, MHD_HTTP_BAD_REQUEST,
                             "seen_after: expected an RFC 3339 UTC time, a date or an age "
                             "like 24h");
            goto out;
        }
        pa.f.seen_after = t_after;
    }
    if ((v = arg(c, "seen_before"))) {
        if (parse_time(v, t_before) != 0) {
            res = send_error(a, c, MHD_HTTP_BAD_REQUEST,
                             "seen_before: expected an RFC 3339 UTC time, a date or an age "
                             "like 7d");
            goto out;
        }
        pa.f.seen_before = t_before;
    }
    if ((v = arg(c, "after"))) {
        if (pr_mac_parse(v, strlen(v), after, err, sizeof err) != PR_OK) {
            res = send_error(a, c, MHD_HTTP_BAD_REQUEST, "after: malformed MAC: %s", err);
            goto out;
        }
        pa.f.after = after;
    }
    pr_status rc = sink_fleet_phones(a->st, &pa.f, &doc, err, sizeof err);
    if (rc == PR_OK && (csv || ndjson))
        res = send_export(a, c, doc, csv);
    else
        res = answer(a, c, rc, doc, err);
out:
    phones_args_release(&pa);
    return res;
}

static enum MHD_Result fleet_route(sink_api *a, struct MHD_Connection *c)
{
    static const char *const none[] = {NULL};
    arg_check ac = {none, NULL};
    char err[256] = "";
    json_t *doc = NULL;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &ac);
    if (ac.bad)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", ac.bad);
    pr_status rc = sink_fleet_summary(a->st, &doc, err, sizeof err);
    return answer(a, c, rc, doc, err);
}

static enum MHD_Result params_route(sink_api *a, struct MHD_Connection *c, const char *name)
{
    static const char *const allowed[] = {"limit", "offset", NULL};
    arg_check ac = {allowed, NULL};
    char err[256] = "";
    long long limit, offset;
    json_t *doc = NULL;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &ac);
    if (ac.bad)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", ac.bad);
    if (!*name || strlen(name) > 255 || strchr(name, '/'))
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "expected /v1/params/<parameter name>");
    if (arg_int(c, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, &limit) != 0)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%d", LIMIT_MAX);
    if (arg_int(c, "offset", 0, 0, 1000000000, &offset) != 0)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "offset: expected 0..1000000000");
    pr_status rc = sink_fleet_param_values(a->st, name, offset, (int)limit, &doc, err, sizeof err);
    return answer(a, c, rc, doc, err);
}

static enum MHD_Result drift_route(sink_api *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {"mac", "limit", "after", NULL};
    arg_check ac = {allowed, NULL};
    char mac[PR_MAC_LEN + 1], err[256] = "";
    long long limit;
    json_t *doc = NULL;
    const char *mv = arg(c, "mac");
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &ac);
    if (ac.bad)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", ac.bad);
    if (arg_int(c, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, &limit) != 0)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "limit: expected 1..%d", LIMIT_MAX);
    if (mv && pr_mac_parse(mv, strlen(mv), mac, err, sizeof err) != PR_OK)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "mac: %s", err);
    pr_status rc = sink_query_drift(a->st, mv ? mac : NULL, arg(c, "after"), (int)limit, &doc, err,
                                    sizeof err);
    return answer(a, c, rc, doc, err);
}

/* POST /v1/phones/{mac}/report-request: queued for the re-baseline thread (202); the result
 * shows later as the summary's report_request. 503 when re-baseline is not configured, 404
 * for an unknown phone, 409 when the sink knows no address for it. */
static enum MHD_Result report_request_route(sink_api *a, struct MHD_Connection *c, const char *macp,
                                            size_t maclen)
{
    char mac[PR_MAC_LEN + 1], err[256] = "";
    json_t *doc = NULL;
    if (pr_mac_parse(macp, maclen, mac, err, sizeof err) != PR_OK)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "malformed MAC: %s", err);
    if (!a->rebaseline)
        return send_error(a, c, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "report requests are not configured (rebaseline-credentials)");
    pr_status rc = sink_query_phone(a->st, mac, &doc, err, sizeof err);
    if (rc != PR_OK)
        return answer(a, c, rc, doc, err);
    bool known = json_is_string(json_object_get(doc, "remote"));
    json_decref(doc);
    if (!known)
        return send_error(a, c, MHD_HTTP_CONFLICT,
                          "the sink knows no address for this phone (no report carried one)");
    if (sink_rebaseline_request(a->rebaseline, mac, err, sizeof err) != PR_OK)
        return send_error(a, c, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
    return send_json(a, c, MHD_HTTP_ACCEPTED, json_pack("{ss sb}", "mac", mac, "queued", 1));
}

/* Sees the request target before MHD decodes it. A %00 would decode to a NUL and cut the path
 * or a query value short (/v1/phones/{mac}%00/config would answer the summary), so such a
 * request is marked here (con_cls = the API) and refused in handle(). */
static void *raw_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    return strstr(uri, "%00") ? cls : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    sink_api *a = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    bool safe =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (*con_cls == a)
        return send_error(a, c, MHD_HTTP_BAD_REQUEST, "the URL holds an encoded NUL (%%00)");
    /* Open to anyone (Prometheus and orchestrators scrape them): nothing about phones. */
    if (safe && pr_ops_is_endpoint(url))
        return ops(a, c, url);
    /* The console's files hold no data: the page must load to ask for a token. */
    const sink_console_file *cf = safe ? sink_console_find(url) : NULL;
    if (cf) {
        count(a, 200);
        return (enum MHD_Result)sink_console_send(c, cf);
    }
    /* Everything else needs credentials when a token file is set; actions need admin. */
    char who[72];
    sink_access acc = sink_auth_check(
        a->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        who, sizeof who);
    if (acc == SINK_ACCESS_NONE) {
        PR_LOG(PR_LOG_DEBUG, "sink", "api request without valid credentials",
               json_pack("{ss ss}", "method", method, "path", url));
        return send_error(a, c, MHD_HTTP_UNAUTHORIZED, "credentials required: a bearer token");
    }
    if (!safe && acc != SINK_ACCESS_ADMIN)
        return send_error(a, c, MHD_HTTP_FORBIDDEN, "%s needs an admin token", method);
    static const char rr[] = "/report-request";
    size_t ulen = strlen(url);
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && strncmp(url, "/v1/phones/", 11) == 0 &&
        ulen > 11 + sizeof rr - 1 && strcmp(url + ulen - (sizeof rr - 1), rr) == 0)
        return report_request_route(a, c, url + 11, ulen - 11 - (sizeof rr - 1));
    if (!safe)
        return send_error(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed", method);
    if (strcmp(url, "/v1/phones") == 0 || strcmp(url, "/v1/phones/") == 0)
        return phones_route(a, c);
    if (strncmp(url, "/v1/phones/", 11) == 0)
        return phone_route(a, c, url + 11);
    if (strcmp(url, "/v1/drift") == 0)
        return drift_route(a, c);
    if (strcmp(url, "/v1/fleet") == 0)
        return fleet_route(a, c);
    if (strncmp(url, "/v1/params/", 11) == 0)
        return params_route(a, c, url + 11);
    return send_error(a, c, MHD_HTTP_NOT_FOUND, "no such resource");
}

pr_status sink_api_start(const char *listen, const char *data_dir, pr_metrics *metrics,
                         atomic_int *ready, sink_api **out, char *err, size_t errlen)
{
    sink_api_opts o = {listen, data_dir, NULL, NULL, NULL, NULL};
    return sink_api_start_opts(&o, metrics, ready, out, err, errlen);
}

pr_status sink_api_start_opts(const sink_api_opts *o, pr_metrics *metrics, atomic_int *ready,
                              sink_api **out, char *err, size_t errlen)
{
    const char *listen = o->listen, *data_dir = o->data_dir;
    unsigned port;
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    pr_status rc;
    sink_api *a = NULL;
    static const char *const codes[8] = {"200", "400", "404", "405", "500", "other", "401", "403"};
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};

    *out = NULL;
    memset(&ss, 0, sizeof ss);
    if ((rc = pr_listen_resolve(listen, "api-listen", &ss, &port, err, errlen)) != PR_OK)
        return rc;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (!(a = calloc(1, sizeof *a)))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    a->metrics = metrics;
    a->ready = ready;
    a->rebaseline = o->rebaseline;
    if ((rc = sink_store_open(data_dir, true, NULL, &a->st, err, errlen)) != PR_OK)
        goto fail;
    if ((rc = sink_auth_new(o->tokens, &a->auth, err, errlen)) != PR_OK)
        goto fail;
    if (o->tls_cert) {
        char terr[256];
        if ((rc = pr_file_read(o->tls_cert, 1u << 20, &a->tls_cert_pem, NULL, terr, sizeof terr)) !=
                PR_OK ||
            (rc = pr_file_read(o->tls_key, 1u << 20, &a->tls_key_pem, NULL, terr, sizeof terr)) !=
                PR_OK) {
            rc = pr_err(rc, err, errlen, "api TLS: %s", terr);
            goto fail;
        }
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, a->tls_key_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, a->tls_cert_pem};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    a->g_phones = pr_metrics_gauge(metrics, "phonereport_sink_phones", "Phones in the store", "");
    a->g_drifted = pr_metrics_gauge(metrics, "phonereport_sink_drifted_params",
                                    "Parameters currently drifted from the intended profile", "");
    a->g_outbox = pr_metrics_gauge(metrics, "phonereport_sink_outbox_pending",
                                   "Output records written but not yet confirmed by Kafka", "");
    for (int i = 0; i < 8; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "code=\"%s\"", codes[i]);
        a->c_requests[i] = pr_metrics_counter(metrics, "phonereport_sink_api_requests_total",
                                              "Query API responses by status code", labels);
    }
    a->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_URI_LOG_CALLBACK, raw_uri, a, MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
    if (!a->d) {
        rc = pr_err(PR_EFATAL, err, errlen, "cannot listen on %s%s", listen,
                    o->tls_cert ? " (in use, or bad TLS files?)" : "");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : port;
    *out = a;
    return PR_OK;
fail:
    sink_api_stop(a);
    return rc;
}

unsigned sink_api_bound_port(const sink_api *a)
{
    return a ? a->port : 0;
}

void sink_api_stop(sink_api *a)
{
    if (!a)
        return;
    if (a->d)
        MHD_stop_daemon(a->d);
    sink_store_close(a->st);
    sink_auth_free(a->auth);
    free(a->tls_cert_pem);
    free(a->tls_key_pem);
    free(a);
}

void sink_api_reload(sink_api *a)
{
    char err[512];
    if (a && sink_auth_reload(a->auth, err, sizeof err) != PR_OK)
        PR_LOG(PR_LOG_ERROR, "sink", "api tokens not reloaded: the previous ones stay in force",
               json_pack("{ss}", "error", err));
}
