/*
 * api_history.c - the query API's history resources (history.c rebuilds, diffs):
 *
 *   GET /v1/phones/{mac}/config?at=<RFC 3339 | date | age | version=N>[&format=json|xml]
 *   GET /v1/phones/{mac}/diff?from=<point>[&to=<point>][&format=json|csv|ndjson]
 *   GET /v1/diff?a=<mac>&b=<mac>[&only=differences|all][&format=json|csv|ndjson]
 *
 * A point before the kept history (--sink-changes-keep) is 410 with the oldest one served
 * ({"error","oldest","oldest_version"}); before the phone's first report 404; a malformed
 * point or a version the phone has not reached 400. A diff is small (one phone's
 * parameters): answered at once, CSV with the export's formula neutralisation
 * (api_csv_field), NDJSON one row per line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "buf.h"

/* "version=N" (N >= 1) or a time api_parse_time reads; -1 when malformed. */
static int parse_point(const char *v, sink_hist_point *pt)
{
    memset(pt, 0, sizeof *pt);
    if (strncmp(v, "version=", 8) == 0) {
        const char *n = v + 8;
        size_t len = strlen(n);
        if (len == 0 || len > 18 || strspn(n, "0123456789") != len)
            return -1;
        pt->version = strtoll(n, NULL, 10);
        return pt->version >= 1 ? 0 : -1;
    }
    return api_parse_time(v, pt->at);
}

static const char point_help[] =
    "expected RFC 3339 UTC (2026-11-24T17:00:00Z), a date, an age (90s, 15m, 2h, 7d) or "
    "version=N";

/* 410 with the oldest point the history serves. */
static enum MHD_Result send_gone(sink_api *a, struct MHD_Connection *c, const sink_hist_doc *d,
                                 const char *err)
{
    return api_send_json(a, c, MHD_HTTP_GONE,
                         json_pack("{ss ss sI}", "error", err, "oldest", d->oldest_at,
                                   "oldest_version", (json_int_t)d->oldest_version));
}

/* Rebuilds mac at the point named by argument arg (NULL or absent: now); the answer is
 * queued (*sent) when it fails. */
static pr_status load_point(sink_api *a, sink_store *st, struct MHD_Connection *c, const char *mac,
                            const char *arg, sink_hist_doc *d, char *at_out, enum MHD_Result *sent)
{
    char err[256] = "";
    sink_hist_point pt;
    const char *v = arg ? api_arg(c, arg) : NULL;
    memset(&pt, 0, sizeof pt);
    if (v && parse_point(v, &pt) != 0) {
        *sent = api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s: %s", arg, point_help);
        return PR_EINVAL;
    }
    snprintf(at_out, 32, "%s", pt.at);
    pr_status rc = sink_history_doc(st, mac, &pt, d, err, sizeof err);
    if (rc == PR_ENOTFOUND && d->gone)
        *sent = send_gone(a, c, d, err);
    else if (rc != PR_OK)
        *sent = api_answer(a, c, rc, NULL, err);
    return rc;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

enum MHD_Result api_history_config(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                   const char *mac)
{
    sink_hist_doc d;
    char at[32], err[256] = "", comment[128];
    enum MHD_Result sent = MHD_NO;
    const char *format = api_arg(c, "format");
    bool xml = format && strcmp(format, "xml") == 0;
    if (format && !xml && strcmp(format, "json") != 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "format: expected json or xml");
    if (load_point(a, st, c, mac, "at", &d, at, &sent) != PR_OK)
        return sent;
    if (xml) {
        char *out = NULL;
        size_t len = 0;
        snprintf(comment, sizeof comment, "phonereport: %s version %lld (rebuilt at %s)", mac,
                 (long long)d.version, *at ? at : "version");
        pr_status rc =
            sink_query_xml_render(comment, d.params, d.access, &out, &len, err, sizeof err);
        sink_hist_doc_release(&d);
        if (rc != PR_OK)
            return api_answer(a, c, rc, NULL, err);
        api_count(a, 200);
        return api_send_buf(c, MHD_HTTP_OK, out, len, "application/xml; charset=utf-8");
    }
    json_t *doc =
        json_pack("{ss sI sI so so sb sO sO}", "mac", mac, "version", (json_int_t)d.version,
                  "current_version", (json_int_t)d.current, "at", str_or_null(at), "valid_until",
                  str_or_null(d.valid_until), "rebuilt", 1, "params", d.params, "access", d.access);
    sink_hist_doc_release(&d);
    return api_send_json(a, c, MHD_HTTP_OK, doc);
}

/* ---- diffs ---------------------------------------------------------------------------- */

static const char *const diff_cols[] = {"change", "name",       "old", "new",
                                        "access", "old_access", NULL};

/* json (0), csv (1), ndjson (2); -1 unknown. */
static int diff_format(struct MHD_Connection *c)
{
    const char *format = api_arg(c, "format");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if (!format)
        return accept && strstr(accept, "application/x-ndjson") ? 2 : 0;
    return strcmp(format, "json") == 0     ? 0
           : strcmp(format, "csv") == 0    ? 1
           : strcmp(format, "ndjson") == 0 ? 2
                                           : -1;
}

/* The rows as CSV or NDJSON (rows borrowed). */
static enum MHD_Result send_rows(sink_api *a, struct MHD_Connection *c, json_t *rows, bool csv)
{
    pr_buf b = {0};
    size_t i;
    json_t *row;
    for (const char *const *k = diff_cols; csv && *k; k++)
        pr_buf_printf(&b, "%s%s", k == diff_cols ? "" : ",", *k);
    if (csv)
        pr_buf_str(&b, "\r\n");
    json_array_foreach(rows, i, row)
    {
        if (!csv) {
            char *line = json_dumps(row, JSON_COMPACT);
            if (line)
                pr_buf_printf(&b, "%s\n", line);
            else
                b.oom = true;
            free(line);
            continue;
        }
        for (const char *const *k = diff_cols; *k; k++) {
            const char *v = json_string_value(json_object_get(row, *k));
            if (k != diff_cols)
                pr_buf_add(&b, ",", 1);
            if (v)
                api_csv_field(&b, v);
        }
        pr_buf_str(&b, "\r\n");
    }
    if (b.oom) {
        pr_buf_release(&b);
        return api_send_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    size_t len = 0;
    char *body = pr_buf_steal(&b, &len);
    if (!body && !(body = strdup("")))
        return MHD_NO;
    api_count(a, 200);
    return api_send_buf(c, MHD_HTTP_OK, body, len,
                        csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
}

/* The diff's answer: head (stolen) gains "added", "removed", "changed" (and "same"). */
static enum MHD_Result send_diff(sink_api *a, struct MHD_Connection *c, json_t *head, json_t *rows,
                                 int format)
{
    static const char *const groups[] = {"added", "removed", "changed", "same", NULL};
    size_t i;
    json_t *row;
    if (!rows) {
        json_decref(head);
        return api_send_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    if (format != 0) {
        json_decref(head);
        enum MHD_Result r = send_rows(a, c, rows, format == 1);
        json_decref(rows);
        return r;
    }
    for (const char *const *g = groups; head && *g; g++)
        if (strcmp(*g, "same") != 0)
            json_object_set_new(head, *g, json_array());
    json_array_foreach(rows, i, row)
    {
        const char *change = json_string_value(json_object_get(row, "change"));
        json_t *list = json_object_get(head, change);
        if (!list && head) {
            list = json_array();
            json_object_set_new(head, change, list);
        }
        json_object_del(row, "change");
        json_array_append(list, row);
    }
    json_decref(rows);
    return api_send_json(a, c, MHD_HTTP_OK, head);
}

static json_t *point_json(const char *mac, const sink_hist_doc *d, const char *at)
{
    return json_pack("{ss sI so}", "mac", mac, "version", (json_int_t)d->version, "at",
                     str_or_null(at));
}

enum MHD_Result api_history_diff(sink_api *a, sink_store *st, struct MHD_Connection *c,
                                 const char *mac)
{
    sink_hist_doc from, to;
    char at_from[32], at_to[32];
    enum MHD_Result sent = MHD_NO;
    int format = diff_format(c);
    if (format < 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "format: expected json, csv or ndjson");
    if (!api_arg(c, "from"))
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "from: required (%s)", point_help);
    if (load_point(a, st, c, mac, "from", &from, at_from, &sent) != PR_OK)
        return sent;
    if (load_point(a, st, c, mac, "to", &to, at_to, &sent) != PR_OK) {
        sink_hist_doc_release(&from);
        return sent;
    }
    json_t *rows = sink_history_diff(from.params, from.access, to.params, to.access, false, false);
    json_t *head = json_pack("{ss so so}", "mac", mac, "from", point_json(mac, &from, at_from),
                             "to", point_json(mac, &to, at_to));
    sink_hist_doc_release(&from);
    sink_hist_doc_release(&to);
    return send_diff(a, c, head, rows, format);
}

/* GET /v1/diff?a=&b=: two phones' current configurations, value and access. */
enum MHD_Result api_history_compare(sink_api *a, sink_store *st, struct MHD_Connection *c)
{
    static const char *const allowed[] = {"a", "b", "only", "format", NULL};
    static const char *const side[] = {"a", "b"};
    char mac[2][PR_MAC_LEN + 1], err[256] = "", at[32];
    sink_hist_doc d[2];
    enum MHD_Result sent = MHD_NO;
    const char *bad = api_arg_unknown(c, allowed), *only = api_arg(c, "only");
    int format = diff_format(c);
    if (bad)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "unknown query parameter '%s'", bad);
    if (format < 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "format: expected json, csv or ndjson");
    if (only && strcmp(only, "differences") != 0 && strcmp(only, "all") != 0)
        return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "only: expected differences or all");
    for (int i = 0; i < 2; i++) {
        const char *v = api_arg(c, side[i]);
        if (!v)
            return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s: required (a MAC)", side[i]);
        if (pr_mac_parse(v, strlen(v), mac[i], err, sizeof err) != PR_OK)
            return api_send_error(a, c, MHD_HTTP_BAD_REQUEST, "%s: %s", side[i], err);
    }
    if (load_point(a, st, c, mac[0], NULL, &d[0], at, &sent) != PR_OK)
        return sent;
    if (load_point(a, st, c, mac[1], NULL, &d[1], at, &sent) != PR_OK) {
        sink_hist_doc_release(&d[0]);
        return sent;
    }
    bool all = only && strcmp(only, "all") == 0;
    json_t *rows = sink_history_diff(d[0].params, d[0].access, d[1].params, d[1].access, true, all);
    json_t *head =
        json_pack("{s{ss sI} s{ss sI}}", "a", "mac", mac[0], "version", (json_int_t)d[0].version,
                  "b", "mac", mac[1], "version", (json_int_t)d[1].version);
    sink_hist_doc_release(&d[0]);
    sink_hist_doc_release(&d[1]);
    return send_diff(a, c, head, rows, format);
}
