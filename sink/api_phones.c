/*
 * api_phones.c - GET /v1/phones: the fleet search (fleet.c) as a JSON page, or the whole
 * selection exported as CSV or NDJSON:
 *
 *   GET /v1/phones?drifted=&complete=&model=&firmware=&seen_after=&seen_before=
 *                  &param.<Name>[!]=<value>[*]&limit=&after=&format=json|ndjson|csv
 *
 * An export (format=csv|ndjson, or Accept: application/x-ndjson) streams: it is read from the
 * store in pages of EXPORT_PAGE phones in MAC order (keyset paging, each page its own short
 * read), and a page is read only when the client has taken the previous one, so an export
 * of a million phones holds one page in memory and one API thread only while a page is read.
 * Pages are separate reads: a phone that changes during the export shows as it was when its
 * page was read. A store error after the first page cuts the stream (the chunked body ends
 * without its last chunk, so the client sees an incomplete transfer), and is counted.
 *
 * CSV cells that a phone chooses (model and firmware come from its User-Agent) could start a
 * spreadsheet formula: a cell beginning with = + - @, a tab or a CR gets a leading ' (OWASP's
 * rule for CSV injection), so it is read as text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "buf.h"

#define EXPORT_MAX  1000000
#define EXPORT_PAGE 500

/* The query string of /v1/phones, collected into a fleet filter. Values are copied: a
 * prefix loses its '*', a "not equal" key its '!'. Lives on the heap: the filter points into
 * it for the life of an export. */
typedef struct phones_args {
    sink_fleet_filter f;
    char names[SINK_PARAM_FILTERS_MAX][256];
    char *values[SINK_PARAM_FILTERS_MAX + 2]; /* params, then model and firmware */
    size_t nvalues;
    char t_after[32], t_before[32];
    char why[200]; /* the first problem, empty when none */
} phones_args;

typedef struct export_stream {
    sink_api *a;
    phones_args pa;
    char cursor[PR_MAC_LEN + 1]; /* the last MAC sent; "" from the start */
    bool csv, done;
    long long left; /* phones the limit still allows */
    pr_buf out;     /* rendered, not yet handed to MHD from off */
    size_t off;
} export_stream;

static void stream_free(void *cls)
{
    export_stream *es = cls;
    if (!es)
        return;
    for (size_t i = 0; i < es->pa.nvalues; i++)
        free(es->pa.values[i]);
    pr_buf_release(&es->out);
    free(es);
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

static void param_arg(phones_args *pa, const char *key, const char *value)
{
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
        param_arg(pa, key, value);
        return MHD_YES;
    }
    for (const char *const *p = known; *p; p++)
        if (strcmp(*p, key) == 0)
            return MHD_YES;
    snprintf(pa->why, sizeof pa->why, "unknown query parameter '%.100s'", key);
    return MHD_YES;
}

void api_csv_field(pr_buf *b, const char *v)
{
    bool formula = *v && strchr("=+-@\t\r", *v);
    if (!formula && !strpbrk(v, ",\"\r\n")) {
        pr_buf_str(b, v);
        return;
    }
    pr_buf_add(b, "\"", 1);
    if (formula)
        pr_buf_add(b, "'", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            pr_buf_add(b, "\"", 1);
        pr_buf_add(b, p, 1);
    }
    pr_buf_add(b, "\"", 1);
}

static const char *const csv_cols[] = {
    "mac",        "model",      "firmware",  "version",   "complete",  "params", "drifted",
    "first_seen", "updated_at", "status_at", "last_seen", "report_id", NULL};

/* One phone as a CSV line (RFC 4180) or an NDJSON line. */
static void render(pr_buf *b, json_t *o, bool csv)
{
    if (!csv) {
        char *line = json_dumps(o, JSON_COMPACT);
        if (!line)
            b->oom = true;
        else
            pr_buf_printf(b, "%s\n", line);
        free(line);
        return;
    }
    for (const char *const *k = csv_cols; *k; k++) {
        json_t *v = json_object_get(o, *k);
        if (k != csv_cols)
            pr_buf_add(b, ",", 1);
        if (json_is_string(v))
            api_csv_field(b, json_string_value(v));
        else if (json_is_integer(v))
            pr_buf_printf(b, "%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
            pr_buf_str(b, json_is_true(v) ? "true" : "false");
    }
    pr_buf_str(b, "\r\n");
}

/* Reads and renders the next page into es->out. */
static pr_status next_page(export_stream *es, sink_store *st, char *err, size_t errlen)
{
    json_t *doc = NULL, *o;
    size_t i;
    es->pa.f.limit = (int)(es->left < EXPORT_PAGE ? es->left : EXPORT_PAGE);
    es->pa.f.after = *es->cursor ? es->cursor : NULL;
    pr_status rc = sink_fleet_phones(st, &es->pa.f, &doc, err, errlen);
    if (rc != PR_OK)
        return rc;
    json_t *phones = json_object_get(doc, "phones"), *next = json_object_get(doc, "next");
    json_array_foreach(phones, i, o) render(&es->out, o, es->csv);
    es->left -= (long long)json_array_size(phones);
    if (json_is_string(next) && es->left > 0)
        snprintf(es->cursor, sizeof es->cursor, "%s", json_string_value(next));
    else
        es->done = true;
    json_decref(doc);
    return es->out.oom ? pr_err(PR_EFATAL, err, errlen, "out of memory") : PR_OK;
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    export_stream *es = cls;
    char err[256];
    (void)pos;
    while (es->off >= es->out.len) {
        if (es->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pr_buf_release(&es->out);
        es->off = 0;
        sink_store *st = api_store_take(es->a, err, sizeof err);
        pr_status rc = st ? next_page(es, st, err, sizeof err) : PR_EFATAL;
        api_store_give(es->a, st);
        if (rc != PR_OK) {
            pr_counter_inc(es->a->c_export_failed);
            api_store_failed(es->a, err);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = es->out.len - es->off < max ? es->out.len - es->off : max;
    memcpy(buf, es->out.p + es->off, n);
    es->off += n;
    return (ssize_t)n;
}

/* The first page is read here, so that a bad filter is a 400 and a store failure a 500; the
 * rest as the client reads. Takes es. */
static enum MHD_Result send_export(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                   export_stream *es)
{
    char err[256] = "";
    if (es->csv) {
        for (const char *const *k = csv_cols; *k; k++)
            pr_buf_printf(&es->out, "%s%s", k == csv_cols ? "" : ",", *k);
        pr_buf_str(&es->out, "\r\n");
    }
    pr_status rc = next_page(es, st, err, sizeof err);
    if (rc != PR_OK) {
        stream_free(es);
        return api_answer(a, c, rc, NULL, err);
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                               export_read, es, stream_free);
    if (!r) {
        stream_free(es);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            es->csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    api_count(a, 200);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

/* The filters besides param.*: "" when fine, else the reason in pa->why. */
static void read_filters(phones_args *pa, struct MHD_Connection *c, long long max)
{
    static const char *const texts[] = {"model", "firmware"};
    long long limit;
    const char *v;
    if ((pa->f.drifted = api_arg_bool(c, "drifted")) == -2) {
        snprintf(pa->why, sizeof pa->why, "drifted: expected true or false");
        return;
    }
    if ((pa->f.complete = api_arg_bool(c, "complete")) == -2) {
        snprintf(pa->why, sizeof pa->why, "complete: expected true or false");
        return;
    }
    if (api_arg_int(c, "limit", max == API_LIMIT_MAX ? API_LIMIT_DEFAULT : EXPORT_MAX, 1, max,
                    &limit) != 0) {
        snprintf(pa->why, sizeof pa->why, "limit: expected 1..%lld", max);
        return;
    }
    pa->f.limit = (int)limit;
    for (int i = 0; i < 2; i++) {
        sink_text_match *m = i == 0 ? &pa->f.model : &pa->f.firmware;
        if (!(v = api_arg(c, texts[i])))
            continue;
        if (!*v || strcmp(v, "*") == 0) {
            snprintf(pa->why, sizeof pa->why, "%s: must not be empty", texts[i]);
            return;
        }
        if (text_match(pa, v, SINK_MATCH_EQ, m) != 0) {
            snprintf(pa->why, sizeof pa->why, "out of memory");
            return;
        }
    }
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "seen_after" : "seen_before";
        char *t = i == 0 ? pa->t_after : pa->t_before;
        if (!(v = api_arg(c, name)))
            continue;
        if (api_parse_time(v, t) != 0) {
            snprintf(pa->why, sizeof pa->why,
                     "%s: expected an RFC 3339 UTC time, a date or an age like 24h", name);
            return;
        }
        if (i == 0)
            pa->f.seen_after = t;
        else
            pa->f.seen_before = t;
    }
}

enum MHD_Result api_phones_route(sink_api *a, sink_store *st, struct MHD_Connection *c)
{
    char err[256] = "";
    json_t *doc = NULL;
    const char *v, *format = api_arg(c, "format");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    bool csv = format && strcmp(format, "csv") == 0;
    bool ndjson = (format && strcmp(format, "ndjson") == 0) ||
                  (!format && accept && strstr(accept, "application/x-ndjson"));
    export_stream *es = calloc(1, sizeof *es);
    if (!es)
        return api_send_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    phones_args *pa = &es->pa;
    es->a = a;
    es->csv = csv;

    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_phone_arg, pa);
    if (!*pa->why && format && !csv && !ndjson && strcmp(format, "json") != 0)
        snprintf(pa->why, sizeof pa->why, "format: expected json, ndjson or csv");
    if (!*pa->why)
        read_filters(pa, c, csv || ndjson ? EXPORT_MAX : API_LIMIT_MAX);
    if (!*pa->why && (v = api_arg(c, "after")) &&
        pr_mac_parse(v, strlen(v), es->cursor, err, sizeof err) != PR_OK)
        snprintf(pa->why, sizeof pa->why, "after: malformed MAC: %.150s", err);
    if (*pa->why) {
        enum MHD_Result res = api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s", pa->why);
        stream_free(es);
        return res;
    }
    if (csv || ndjson) {
        es->left = pa->f.limit;
        return send_export(a, st, c, es);
    }
    pa->f.after = *es->cursor ? es->cursor : NULL;
    pr_status rc = sink_fleet_phones(st, &pa->f, &doc, err, sizeof err);
    stream_free(es);
    return api_answer(a, c, rc, doc, err);
}
