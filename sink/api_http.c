/*
 * api_http.c - how the query API answers and reads its query strings: JSON documents and
 * {"error": "..."} with a one-line reason, the request counters by status, and the parsers
 * of query values (booleans, bounded integers, times) that refuse anything they do not
 * read exactly (a sign, blanks, a day the calendar lacks).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define AUTH_CHALLENGE "Bearer realm=\"phonereport\""

void api_count(sink_api *a, unsigned code)
{
    int i = code == 200   ? 0
            : code == 400 ? 1
            : code == 404 ? 2
            : code == 405 ? 3
            : code == 500 ? 4
            : code == 401 ? 6
            : code == 403 ? 7
            : code == 429 ? 8
                          : 5;
    pr_counter_inc(a->c_requests[i]);
}

enum MHD_Result api_send_buf(struct MHD_Connection *c, unsigned code, char *body, size_t len,
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

enum MHD_Result api_send_json(sink_api *a, struct MHD_Connection *c, unsigned code, json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    api_count(a, code);
    if (!body)
        return MHD_NO;
    size_t len = strlen(body);
    return api_send_buf(c, code, body, len, "application/json");
}

enum MHD_Result api_send_error(sink_api *a, struct MHD_Connection *c, unsigned code,
                               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return api_send_json(a, c, code, json_pack("{ss}", "error", msg));
}

enum MHD_Result api_answer(sink_api *a, struct MHD_Connection *c, pr_status rc, json_t *doc,
                           const char *err)
{
    if (rc == PR_OK)
        return api_send_json(a, c, MHD_HTTP_OK, doc);
    if (rc == PR_ENOTFOUND)
        return api_send_error(a, c, MHD_HTTP_NOT_FOUND, "%s", *err ? err : "unknown phone");
    if (rc == PR_EINVAL)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s", err);
    api_store_failed(a, err);
    if (rc == PR_ETRANSIENT) /* the store is out of reach: a client or a probe retries */
        return api_send_error(a, c, MHD_HTTP_SERVICE_UNAVAILABLE, "the store is unavailable");
    return api_send_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
}

const char *api_arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

int api_arg_bool(struct MHD_Connection *c, const char *name)
{
    const char *v = api_arg(c, name);
    if (!v)
        return -1;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        return 1;
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        return 0;
    return -2;
}

int api_arg_int(struct MHD_Connection *c, const char *name, long long def, long long lo,
                long long hi, long long *out)
{
    const char *v = api_arg(c, name);
    char *end;
    *out = def;
    if (!v)
        return 0;
    /* digits only (no sign, no blanks strtoll would skip); 19 of them reach INT64_MAX */
    if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19)
        return -1;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

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

const char *api_arg_unknown(struct MHD_Connection *c, const char *const *allowed)
{
    arg_check ac = {allowed, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &ac);
    return ac.bad;
}

/* n decimal digits at s (nothing else), into *out. */
static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in(int y, int mo)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mo == 2 && leap ? 29 : days[mo - 1];
}

/* YYYY-MM-DD at v, a day the calendar has. */
static bool date_ok(const char *v, int *y, int *mo, int *d)
{
    return digits(v, 4, y) && v[4] == '-' && digits(v + 5, 2, mo) && v[7] == '-' &&
           digits(v + 8, 2, d) && *mo >= 1 && *mo <= 12 && *d >= 1 && *d <= days_in(*y, *mo);
}

/* An age ("90s", "15m", "24h", "7d" ago). */
static int parse_age(const char *v, size_t n, char out[32])
{
    long long k = strtoll(v, NULL, 10);
    long long unit = v[n - 1] == 's' ? 1 : v[n - 1] == 'm' ? 60 : v[n - 1] == 'h' ? 3600 : 86400;
    if (k > 36500LL * 86400 / unit)
        return -1;
    sink_fleet_time_ago(k * unit, out, 32);
    return 0;
}

int api_parse_time(const char *v, char out[32])
{
    size_t n = strlen(v);
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    if (n >= 2 && n <= 12 && strspn(v, "0123456789") == n - 1 && strchr("smhd", v[n - 1]))
        return parse_age(v, n, out);
    if (n < 10 || !date_ok(v, &y, &mo, &d))
        return -1;
    if (n > 10) {
        /* THH:MM:SS, an optional fraction, Z */
        if (n < 20 || v[10] != 'T' || !digits(v + 11, 2, &h) || v[13] != ':' ||
            !digits(v + 14, 2, &mi) || v[16] != ':' || !digits(v + 17, 2, &sec) ||
            v[n - 1] != 'Z' || h > 23 || mi > 59 || sec > 60)
            return -1;
        const char *frac = v + 19;
        if (*frac == '.') {
            size_t nd = strspn(frac + 1, "0123456789");
            if (nd == 0 || frac + 1 + nd != v + n - 1)
                return -1;
            for (size_t i = 0; i < 3; i++)
                ms = ms * 10 + (i < nd ? frac[1 + i] - '0' : 0);
        } else if (frac != v + n - 1) {
            return -1;
        }
    }
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, ms);
    return 0;
}
