/*
 * fleet.c - the fleet queries behind /v1/phones' search, /v1/fleet and /v1/params/{name}:
 * phones by firmware, model, completeness, drift, last seen and parameter values; counts of
 * the fleet by model, firmware, completeness, drift and last-seen age; a parameter's distinct
 * values with counts. Pure (the store's statement layer and jansson) like query.c, so tested
 * without HTTP; the few dialect differences (max/greatest, prefixes) are chosen here.
 *
 * DESIGN: the search is one statement built from the filters that are set (each adds an AND
 * with bound values, never text from the request). A filter on an indexed parameter
 * (--sink-index-params) is a subquery on the parameter index (name, value, phone), so "phones
 * whose X is V" reads the few matching index entries; a filter on another parameter reads the
 * value out of every candidate phone's document (PostgreSQL: params->>name; SQLite: pr_param),
 * bounded in time (SINK_SCAN_MS), and the answer says "indexed": false. Model and firmware have
 * indexes too, a prefix is a range on them. Last seen is the later of the last configuration and
 * the last status report, RFC 3339 UTC strings compared as text (the sink writes them all in one
 * format).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "sink_internal.h"

/* How long a search on a parameter without an index may scan the documents. */
#define SINK_SCAN_MS 2000

/* Two-argument max is max() in SQLite, greatest() in PostgreSQL. */
#define LAST_SEEN_OF(MAX) MAX "(coalesce(p.updated_at, ''), coalesce(p.status_at, ''))"
#define LAST_SEEN(st)                                                                              \
    (sink_store_dialect(st) == SINK_DIALECT_PG ? LAST_SEEN_OF("greatest") : LAST_SEEN_OF("max"))

static pr_status sql_fail(sink_store *st, char *err, size_t errlen)
{
    return pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
}

/* Upper bound of the strings that start with prefix: no UTF-8 text holds the byte 0xff. */
static char *prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *s = malloc(n + 2);
    if (s) {
        memcpy(s, prefix, n);
        s[n] = '\xff';
        s[n + 1] = '\0';
    }
    return s;
}

/* The statement's bound values, in order (texts owned when `owned`). */
typedef struct binds {
    struct {
        bool is_int;
        long long i;
        char *s;
    } v[64];
    int n;
    bool oom;
} binds;

/* The next text parameter, s (owned; NULL binds NULL); ok false means s could not be made. */
static int bind_text(binds *b, char *s, bool ok)
{
    if (!ok || b->n >= 64) {
        free(s);
        b->oom = true;
        return 0;
    }
    b->v[b->n].is_int = false;
    b->v[b->n].s = s;
    return ++b->n;
}

static int bind_str(binds *b, const char *s)
{
    char *d = s ? strdup(s) : NULL;
    return bind_text(b, d, !s || d);
}

/* s is owned; NULL (prefix_end out of memory) fails. */
static int bind_owned(binds *b, char *s)
{
    return bind_text(b, s, s != NULL);
}

static int bind_int(binds *b, long long i)
{
    if (b->n >= 64) {
        b->oom = true;
        return 0;
    }
    b->v[b->n].is_int = true;
    b->v[b->n].i = i;
    b->v[b->n].s = NULL;
    return ++b->n;
}

static void binds_release(binds *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->v[i].s);
    b->n = 0;
}

static void binds_apply(const binds *b, sink_stmt *s)
{
    for (int i = 0; i < b->n; i++) {
        if (b->v[i].is_int)
            sink_bind_int64(s, i + 1, (int64_t)b->v[i].i);
        else
            sink_bind_text(s, i + 1, b->v[i].s);
    }
}

/* " AND <col> = ?" or a prefix range on col (PostgreSQL: starts_with, as the byte 0xff that
 * bounds the range is not valid text there). */
static void where_text(sink_store *st, pr_buf *q, binds *b, const char *col,
                       const sink_text_match *m)
{
    if (!m->value)
        return;
    if (m->op == SINK_MATCH_PREFIX && sink_store_dialect(st) == SINK_DIALECT_PG) {
        pr_buf_printf(q, " AND starts_with(%s, ?%d)", col, bind_str(b, m->value));
    } else if (m->op == SINK_MATCH_PREFIX) {
        int lo = bind_str(b, m->value);
        int hi = bind_owned(b, prefix_end(m->value));
        pr_buf_printf(q, " AND %s >= ?%d AND %s < ?%d", col, lo, col, hi);
    } else if (m->op == SINK_MATCH_NE) {
        pr_buf_printf(q, " AND %s IS DISTINCT FROM ?%d", col, bind_str(b, m->value));
    } else {
        pr_buf_printf(q, " AND %s = ?%d", col, bind_str(b, m->value));
    }
}

/* The id of an interned parameter name; PR_ENOTFOUND when no phone has reported it. */
static pr_status name_id(sink_store *st, const char *name, int64_t *id, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_NAME_GET);
    pr_status rc;
    if (!s)
        return sql_fail(st, err, errlen);
    sink_bind_text(s, 1, name);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        *id = sink_col_int64(s, 0);
        rc = PR_OK;
    } else if (r == SINK_DONE) {
        rc = pr_err(PR_ENOTFOUND, err, errlen, "no phone reports a parameter named '%s'", name);
    } else {
        rc = sql_fail(st, err, errlen);
    }
    sink_stmt_free(s);
    return rc;
}

/* The value of a parameter in a phone's document (c: configs), for an unindexed search
 * (SQLite: by the name's id, looked up once, in each document's blob). */
static void doc_value(sink_store *st, pr_buf *q, int name_bind, int id_bind)
{
    if (sink_store_dialect(st) == SINK_DIALECT_PG)
        pr_buf_printf(q, "(c.params ->> ?%d::text)", name_bind);
    else
        pr_buf_printf(q, "pr_param(c.doc, ?%d)", id_bind);
}

/* " AND p.id [NOT] IN (phones whose parameter matches)": from the index when the parameter is
 * indexed (returns true), else from the documents (false). */
static bool param_where(sink_store *st, pr_buf *q, binds *b, const sink_param_match *pm, int64_t id)
{
    bool indexed = sink_store_indexed(st, pm->name) && strlen(pm->m.value) <= SINK_INDEX_VALUE_MAX;
    bool pg = sink_store_dialect(st) == SINK_DIALECT_PG;
    int nb = bind_str(b, pm->name), ib = indexed || pg ? nb : bind_int(b, id);
    pr_buf_printf(q, " AND p.id %s (SELECT ", pm->m.op == SINK_MATCH_NE ? "NOT IN" : "IN");
    if (indexed) {
        pr_buf_printf(q, "phone FROM pindex WHERE name = ?%d AND ", nb);
        pr_buf_str(q, "value");
    } else {
        pr_buf_str(q, "c.phone FROM configs c WHERE ");
        doc_value(st, q, nb, ib);
    }
    if (pm->m.op == SINK_MATCH_PREFIX && pg) {
        pr_buf_printf(q, " IS NOT NULL AND starts_with(");
        if (indexed)
            pr_buf_str(q, "value");
        else
            doc_value(st, q, nb, ib);
        pr_buf_printf(q, ", ?%d))", bind_str(b, pm->m.value));
    } else if (pm->m.op == SINK_MATCH_PREFIX) {
        int lo = bind_str(b, pm->m.value);
        int hi = bind_owned(b, prefix_end(pm->m.value));
        pr_buf_printf(q, " >= ?%d AND ", lo);
        if (indexed)
            pr_buf_str(q, "value");
        else
            doc_value(st, q, nb, ib);
        pr_buf_printf(q, " < ?%d)", hi);
    } else {
        pr_buf_printf(q, " = ?%d)", bind_str(b, pm->m.value));
    }
    return indexed;
}

static pr_status scan_fail(sink_store *st, char *err, size_t errlen)
{
    return pr_err(PR_EINVAL, err, errlen,
                  "a search on a parameter without an index stopped after %d ms (%s): narrow it "
                  "with model, firmware or an indexed parameter, or add the parameter to "
                  "sink-index-params",
                  SINK_SCAN_MS, sink_store_errmsg(st));
}

static json_t *col_str(sink_stmt *s, int i)
{
    const char *v = sink_col_text(s, i);
    return v && *v ? json_string(v) : json_null();
}

/* One page of a list: a new array *list (the caller's, on failure too) of at most limit rows of
 * s, each the object row(s, ctx) makes; *n the rows taken, *more whether a row follows them (a
 * next page). Errors as the statement failed: on a scan bounded in time (!indexed), scan_fail. */
static pr_status page_rows(sink_store *st, sink_stmt *s, int limit, bool indexed,
                           json_t *(*row)(sink_stmt *s, void *ctx), void *ctx, json_t **list,
                           int *n, bool *more, char *err, size_t errlen)
{
    int r = SINK_DONE;
    *n = 0;
    if (!(*list = json_array()))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    while ((r = sink_step(s)) == SINK_ROW && *n < limit) {
        json_t *o = row(s, ctx);
        if (!o || json_array_append_new(*list, o) != 0)
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        (*n)++;
    }
    if (r != SINK_ROW && r != SINK_DONE)
        return indexed ? sql_fail(st, err, errlen) : scan_fail(st, err, errlen);
    *more = *n == limit && r == SINK_ROW;
    return PR_OK;
}

/* A row of the phones' list; ctx is the MAC buffer that keeps the last one (the next page). */
static json_t *phone_row(sink_stmt *s, void *ctx)
{
    char *last = ctx;
    snprintf(last, PR_MAC_LEN + 1, "%s", sink_col_text(s, 0));
    return json_pack("{ss sI sb so so so so so so sI sI so so}", "mac", last, "version",
                     (json_int_t)sink_col_int64(s, 1), "complete", (int)sink_col_int64(s, 2) != 0,
                     "model", col_str(s, 3), "firmware", col_str(s, 4), "first_seen", col_str(s, 5),
                     "updated_at", col_str(s, 6), "status_at", col_str(s, 7), "report_id",
                     col_str(s, 8), "params", (json_int_t)sink_col_int64(s, 9), "drifted",
                     (json_int_t)sink_col_int64(s, 10), "last_seen", col_str(s, 11), "remote",
                     col_str(s, 12));
}

/* A row of a parameter's values: {"value": v, "count": n}. */
static json_t *value_row(sink_stmt *s, void *ctx)
{
    (void)ctx;
    return json_pack("{ss sI}", "value", sink_col_text(s, 0), "count",
                     (json_int_t)sink_col_int64(s, 1));
}

pr_status sink_fleet_phones(sink_store *st, const sink_fleet_filter *f, json_t **out, char *err,
                            size_t errlen)
{
    pr_buf q = {0};
    binds b = {0};
    sink_stmt *s = NULL;
    json_t *list = NULL;
    char last[PR_MAC_LEN + 1] = "";
    int n = 0;
    bool more = false;
    pr_status rc = PR_OK;
    bool indexed = true;
    *out = NULL;

    pr_buf_str(&q, "SELECT p.mac, p.version, p.complete, p.model, p.firmware, p.first_seen,"
                   " p.updated_at, p.status_at, p.report_id,"
                   " p.nparams,"
                   " (SELECT count(*) FROM drift WHERE phone = p.id), ");
    pr_buf_str(&q, LAST_SEEN(st));
    pr_buf_str(&q, ", p.remote FROM phones p WHERE");
    pr_buf_printf(&q, " p.mac > ?%d", bind_str(&b, f->after ? f->after : ""));
    if (f->complete >= 0)
        pr_buf_printf(&q, " AND p.complete = ?%d", bind_int(&b, f->complete));
    if (f->drifted >= 0)
        pr_buf_printf(&q,
                      " AND (CASE WHEN EXISTS(SELECT 1 FROM drift WHERE phone = p.id)"
                      " THEN 1 ELSE 0 END) = ?%d",
                      bind_int(&b, f->drifted));
    where_text(st, &q, &b, "p.model", &f->model);
    where_text(st, &q, &b, "p.firmware", &f->firmware);
    if (f->seen_after)
        pr_buf_printf(&q, " AND %s >= ?%d", LAST_SEEN(st), bind_str(&b, f->seen_after));
    if (f->seen_before)
        pr_buf_printf(&q, " AND %s < ?%d", LAST_SEEN(st), bind_str(&b, f->seen_before));
    for (size_t i = 0; i < f->nparams; i++) {
        const sink_param_match *pm = &f->params[i];
        int64_t id = 0;
        char perr[200];
        if ((rc = name_id(st, pm->name, &id, perr, sizeof perr)) != PR_OK) {
            rc = pr_err(rc == PR_ENOTFOUND ? PR_EINVAL : rc, err, errlen, "param.%s: %s", pm->name,
                        perr);
            goto out;
        }
        if (!param_where(st, &q, &b, pm, id))
            indexed = false;
    }
    pr_buf_printf(&q, " ORDER BY p.mac LIMIT ?%d", bind_int(&b, (long long)f->limit + 1));
    if (q.oom || b.oom) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    if (!(s = sink_store_prepare(st, q.p))) {
        rc = sql_fail(st, err, errlen);
        goto out;
    }
    binds_apply(&b, s);
    if (!indexed)
        sink_store_scan_bound(st, SINK_SCAN_MS);
    if ((rc = page_rows(st, s, f->limit, indexed, phone_row, last, &list, &n, &more, err,
                        errlen)) != PR_OK)
        goto out;
    rc = sink_answer(json_pack("{so so sb}", "phones", list, "next",
                               more ? json_string(last) : json_null(), "indexed", indexed),
                     out, err, errlen);
    list = NULL;
out:
    json_decref(list);
    sink_stmt_free(s);
    if (!indexed)
        sink_store_scan_bound(st, 0);
    binds_release(&b);
    pr_buf_release(&q);
    return rc;
}

/* [{"value": v, "count": n}, ...] from a two-column statement; NULL values as null. */
static pr_status value_counts(sink_store *st, const char *sql, const char *key, json_t **out,
                              char *err, size_t errlen)
{
    sink_stmt *s = NULL;
    int r;
    pr_status rc = PR_OK;
    *out = json_array();
    if (!*out)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    if (!(s = sink_store_prepare(st, sql))) {
        rc = sql_fail(st, err, errlen);
        goto out;
    }
    while ((r = sink_step(s)) == SINK_ROW) {
        const char *v = sink_col_text(s, 0);
        json_t *o = json_pack("{so sI}", key, v ? json_string(v) : json_null(), "count",
                              (json_int_t)sink_col_int64(s, 1));
        if (!o || json_array_append_new(*out, o) != 0) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
    }
    if (r != SINK_DONE)
        rc = sql_fail(st, err, errlen);
out:
    sink_stmt_free(s);
    if (rc != PR_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

void sink_fleet_time_ago(long long seconds, char *buf, size_t len)
{
    time_t t = time(NULL) - (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

pr_status sink_fleet_summary(sink_store *st, json_t **out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        long long seconds;
    } buckets[] = {{"1h", 3600}, {"24h", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}};
    enum { NB = sizeof buckets / sizeof buckets[0] };
    sink_stmt *s = NULL;
    json_t *models = NULL, *firmware = NULL, *drift = NULL, *seen = NULL;
    pr_status rc;
    long long total = 0, complete = 0, drifted = 0, drift_rows = 0, counts[NB + 1] = {0};
    pr_buf q = {0};
    *out = NULL;

    if ((rc = value_counts(st,
                           "SELECT model, count(*) FROM phones GROUP BY model"
                           " ORDER BY count(*) DESC, model LIMIT 100",
                           "value", &models, err, errlen)) != PR_OK ||
        (rc = value_counts(st,
                           "SELECT firmware, count(*) FROM phones GROUP BY firmware"
                           " ORDER BY count(*) DESC, firmware LIMIT 100",
                           "value", &firmware, err, errlen)) != PR_OK ||
        (rc = value_counts(st,
                           "SELECT param, count(*) FROM drift GROUP BY param"
                           " ORDER BY count(*) DESC, param LIMIT 20",
                           "param", &drift, err, errlen)) != PR_OK)
        goto out;
    /* One pass: totals and the last-seen buckets (newest first; the rest is "older"). */
    pr_buf_str(&q, "SELECT count(*), coalesce(sum(p.complete), 0),"
                   " (SELECT count(DISTINCT phone) FROM drift),"
                   " (SELECT count(*) FROM drift)");
    for (int i = 0; i < NB; i++)
        pr_buf_printf(&q, ", coalesce(sum(CASE WHEN %s >= ?%d THEN 1 ELSE 0 END), 0)",
                      LAST_SEEN(st), i + 1); /* cumulative */
    pr_buf_str(&q, " FROM phones p");
    if (q.oom) {
        pr_buf_release(&q);
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    s = sink_store_prepare(st, q.p);
    pr_buf_release(&q);
    if (!s) {
        rc = sql_fail(st, err, errlen);
        goto out;
    }
    for (int i = 0; i < NB; i++) {
        char cut[32];
        sink_fleet_time_ago(buckets[i].seconds, cut, sizeof cut);
        sink_bind_text(s, i + 1, cut);
    }
    if (sink_step(s) != SINK_ROW) {
        rc = sql_fail(st, err, errlen);
        goto out;
    }
    total = sink_col_int64(s, 0);
    complete = sink_col_int64(s, 1);
    drifted = sink_col_int64(s, 2);
    drift_rows = sink_col_int64(s, 3);
    if (!(seen = json_array())) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    long long prev = 0;
    for (int i = 0; i < NB; i++) {
        long long cum = sink_col_int64(s, 4 + i);
        counts[i] = cum - prev;
        prev = cum;
        json_array_append_new(
            seen, json_pack("{ss sI}", "within", buckets[i].name, "count", (json_int_t)counts[i]));
    }
    json_array_append_new(
        seen, json_pack("{ss sI}", "within", "older", "count", (json_int_t)(total - prev)));
    rc = sink_answer(json_pack("{sI s{sIsI} s{sIsI} sI so so so so}", "phones", (json_int_t)total,
                               "complete", "true", (json_int_t)complete, "false",
                               (json_int_t)(total - complete), "drifted", "true",
                               (json_int_t)drifted, "false", (json_int_t)(total - drifted),
                               "drifted_params", (json_int_t)drift_rows, "models", models,
                               "firmware", firmware, "drift_by_param", drift, "last_seen", seen),
                     out, err, errlen);
    models = firmware = drift = seen = NULL;
out:
    sink_stmt_free(s);
    json_decref(models);
    json_decref(firmware);
    json_decref(drift);
    json_decref(seen);
    return rc;
}

pr_status sink_fleet_param_values(sink_store *st, const char *name, long long offset, int limit,
                                  json_t **out, char *err, size_t errlen)
{
    sink_stmt *s = NULL;
    json_t *values = NULL;
    int64_t id = 0, phones = 0, distinct = 0;
    int n = 0;
    bool more = false;
    pr_buf q = {0};
    bool indexed = sink_store_indexed(st, name);
    pr_status rc;
    *out = NULL;
    if ((rc = name_id(st, name, &id, err, errlen)) != PR_OK)
        return rc;
    /* (name, value) of every phone that has the parameter: the index, or the documents */
    const char *src = indexed ? "(SELECT value AS v FROM pindex WHERE name = ?1) x"
                      : sink_store_dialect(st) == SINK_DIALECT_PG
                          ? "(SELECT c.params ->> ?1::text AS v FROM configs c"
                            " WHERE c.params ? ?1::text) x"
                          : "(SELECT pr_param(c.doc, ?4) AS v FROM configs c) x";
    pr_buf_printf(&q, "SELECT count(v), count(DISTINCT v) FROM %s", src);
    if (q.oom || !(s = sink_store_prepare(st, q.p))) {
        rc = q.oom ? pr_err(PR_EFATAL, err, errlen, "out of memory") : sql_fail(st, err, errlen);
        goto out;
    }
    if (!indexed)
        sink_store_scan_bound(st, SINK_SCAN_MS);
    sink_bind_text(s, 1, name);
    sink_bind_int64(s, 4, id); /* SQLite's scan: the name's id */
    if (sink_step(s) != SINK_ROW) {
        rc = indexed ? sql_fail(st, err, errlen) : scan_fail(st, err, errlen);
        goto out;
    }
    phones = sink_col_int64(s, 0);
    distinct = sink_col_int64(s, 1);
    sink_stmt_free(s);
    s = NULL;
    pr_buf_release(&q);
    pr_buf_printf(&q,
                  "SELECT v, count(*) FROM %s WHERE v IS NOT NULL GROUP BY v"
                  " ORDER BY count(*) DESC, v LIMIT ?2 OFFSET ?3",
                  src);
    if (q.oom || !(s = sink_store_prepare(st, q.p))) {
        rc = q.oom ? pr_err(PR_EFATAL, err, errlen, "out of memory") : sql_fail(st, err, errlen);
        goto out;
    }
    sink_bind_text(s, 1, name);
    sink_bind_int64(s, 2, limit + 1);
    sink_bind_int64(s, 3, offset);
    sink_bind_int64(s, 4, id);
    if ((rc = page_rows(st, s, limit, indexed, value_row, NULL, &values, &n, &more, err, errlen)) !=
        PR_OK)
        goto out;
    rc = sink_answer(json_pack("{ss sI sI so so sb}", "param", name, "phones", (json_int_t)phones,
                               "distinct", (json_int_t)distinct, "values", values, "next",
                               more ? json_integer(offset + n) : json_null(), "indexed", indexed),
                     out, err, errlen);
    values = NULL;
out:
    if (!indexed)
        sink_store_scan_bound(st, 0);
    pr_buf_release(&q);
    json_decref(values);
    sink_stmt_free(s);
    return rc;
}
