/*
 * history.c - a phone's configuration at an earlier point and the differences of two
 * configurations. Pure (the store and jansson only), so tested without HTTP.
 *
 * The store keeps the current document of each phone and, per report that changed values,
 * a `reports` row and its `changes` rows (name, old, new). The configuration at a point is
 * the current document with the changes of every report applied after the point undone,
 * newest first: a change from `old` sets the value back to `old`, a change from null
 * (the parameter appeared) removes it. What the history does not hold is not rebuilt: access
 * attributes (an access-only change records nothing) are the current ones, and a parameter
 * brought back by the undo has none; model, firmware and completeness are not in it either.
 * --sink-changes-keep prunes the oldest reports: before it does, the writer records the
 * newest report it cuts (`history_horizon`), the oldest point still served exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_internal.h"

static pr_status sqlfail(sink_store *st, char *err, size_t errlen, const char *what)
{
    return pr_err(PR_EFATAL, err, errlen, "history %s: %s", what, sink_store_errmsg(st));
}

pr_status sink_history_horizon(sink_store *st, int64_t phone, long long keep, char *err,
                               size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_HIST_HORIZON_PUT);
    if (!s)
        return sqlfail(st, err, errlen, "horizon");
    sink_bind_int64(s, 1, phone);
    sink_bind_int64(s, 2, keep);
    return sink_exec_stmt(s, "history horizon", err, errlen);
}

void sink_hist_doc_release(sink_hist_doc *d)
{
    if (!d)
        return;
    json_decref(d->params);
    json_decref(d->access);
    memset(d, 0, sizeof *d);
}

/* The phone's row id, version and first report time. */
static pr_status phone_of(sink_store *st, const char *mac, int64_t *id, int64_t *version,
                          char first_seen[32], char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_HIST_PHONE);
    if (!s)
        return sqlfail(st, err, errlen, "phone");
    sink_bind_text(s, 1, mac);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        *id = sink_col_int64(s, 0);
        *version = sink_col_int64(s, 1);
        snprintf(first_seen, 32, "%s", sink_col_text(s, 2) ? sink_col_text(s, 2) : "");
    }
    sink_stmt_free(s);
    if (r == SINK_DONE)
        return pr_err(PR_ENOTFOUND, err, errlen, "unknown phone");
    return r == SINK_ROW ? PR_OK : sqlfail(st, err, errlen, "phone");
}

/* The horizon, when the history was ever pruned (d->oldest_*; version 0: never). */
static pr_status horizon_of(sink_store *st, int64_t id, sink_hist_doc *d, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_HIST_HORIZON_GET);
    if (!s)
        return sqlfail(st, err, errlen, "horizon");
    sink_bind_int64(s, 1, id);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        snprintf(d->oldest_at, sizeof d->oldest_at, "%s", sink_col_text(s, 0));
        d->oldest_version = sink_col_int64(s, 1);
    }
    sink_stmt_free(s);
    return r == SINK_ERROR ? sqlfail(st, err, errlen, "horizon") : PR_OK;
}

/* The oldest report to undo for pt (0: none) and what the answer names: the kept reports are
 * read newest first until the first one at or before the point. */
static pr_status cut_of(sink_store *st, int64_t id, const sink_hist_point *pt, sink_hist_doc *d,
                        int64_t *cut, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_HIST_REPORTS);
    int r;
    *cut = 0;
    d->version = d->current;
    if (!s)
        return sqlfail(st, err, errlen, "reports");
    sink_bind_int64(s, 1, id);
    while ((r = sink_step(s)) == SINK_ROW) {
        int64_t version = sink_col_int64(s, 1);
        const char *at = sink_col_text(s, 2);
        bool after = pt->version > 0 ? version > pt->version : strcmp(at ? at : "", pt->at) > 0;
        if (!after)
            break;
        *cut = sink_col_int64(s, 0);
        d->version = version - 1;
        snprintf(d->valid_until, sizeof d->valid_until, "%s", at ? at : "");
    }
    sink_stmt_free(s);
    if (r == SINK_ERROR)
        return sqlfail(st, err, errlen, "reports");
    if (pt->version > 0)
        d->version = pt->version;
    return PR_OK;
}

/* Undoes the changes of the reports from cut on (newest first) in params/access. */
static pr_status undo(sink_store *st, int64_t id, int64_t cut, json_t *params, json_t *access,
                      char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_HIST_UNDO);
    int r;
    bool oom = false;
    if (!s)
        return sqlfail(st, err, errlen, "changes");
    sink_bind_int64(s, 1, id);
    sink_bind_int64(s, 2, cut);
    while ((r = sink_step(s)) == SINK_ROW && !oom) {
        const char *name = sink_col_text(s, 0), *old = sink_col_text(s, 1);
        if (!name)
            continue;
        if (!old) {
            json_object_del(params, name);
            json_object_del(access, name);
        } else {
            oom = json_object_set_new(params, name, json_string(old)) != 0;
        }
    }
    sink_stmt_free(s);
    if (oom)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    return r == SINK_ERROR ? sqlfail(st, err, errlen, "changes") : PR_OK;
}

/* Whether pt lies before what the kept history serves (then d->gone). */
static bool before_horizon(const sink_hist_point *pt, sink_hist_doc *d)
{
    if (!d->oldest_version)
        return false;
    d->gone = pt->version > 0 ? pt->version < d->oldest_version
                              : *pt->at && strcmp(pt->at, d->oldest_at) < 0;
    return d->gone;
}

static pr_status rebuild(sink_store *st, const char *mac, const sink_hist_point *pt,
                         sink_hist_doc *d, char *err, size_t errlen)
{
    int64_t id = 0, cut = 0;
    char first[32];
    json_t *p = NULL, *a = NULL;
    pr_status rc = phone_of(st, mac, &id, &d->current, first, err, errlen);
    if (rc != PR_OK)
        return rc;
    if (d->current == 0)
        return pr_err(PR_ENOTFOUND, err, errlen, "no configuration report from this phone yet");
    if (pt->version > d->current)
        return pr_err(PR_EINVAL, err, errlen,
                      "version: the phone is at version %lld (expected 1..%lld)",
                      (long long)d->current, (long long)d->current);
    if (pt->version == 0 && *pt->at && strcmp(pt->at, first) < 0)
        return pr_err(PR_ENOTFOUND, err, errlen, "before the phone's first report (%s)", first);
    if ((rc = horizon_of(st, id, d, err, errlen)) != PR_OK)
        return rc;
    if (before_horizon(pt, d))
        return pr_err(PR_ENOTFOUND, err, errlen,
                      "the kept history (sink-changes-keep) reaches back to %s (version %lld)",
                      d->oldest_at, (long long)d->oldest_version);
    if ((*pt->at || pt->version > 0) && (rc = cut_of(st, id, pt, d, &cut, err, errlen)) != PR_OK)
        return rc;
    if (!*pt->at && pt->version == 0)
        d->version = d->current;
    if ((rc = sink_store_doc_get(st, id, &p, &a, err, errlen)) != PR_OK)
        return rc;
    /* undone on shallow copies (the store's objects are never changed), then put in order */
    json_t *up = json_copy(p), *ua = json_copy(a);
    if (!up || !ua)
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    else if (cut > 0)
        rc = undo(st, id, cut, up, ua, err, errlen);
    if (rc == PR_OK)
        rc = sink_query_doc_order(up, ua, &d->params, &d->access, err, errlen);
    json_decref(up);
    json_decref(ua);
    json_decref(p);
    json_decref(a);
    return rc;
}

pr_status sink_history_doc(sink_store *st, const char *mac, const sink_hist_point *pt,
                           sink_hist_doc *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    pr_status rc = sink_store_read_begin(st, err, errlen);
    if (rc != PR_OK)
        return rc;
    rc = rebuild(st, mac, pt, d, err, errlen);
    sink_store_read_end(st);
    if (rc != PR_OK) {
        bool gone = d->gone;
        char oldest[32];
        int64_t ov = d->oldest_version;
        snprintf(oldest, sizeof oldest, "%s", d->oldest_at);
        sink_hist_doc_release(d);
        d->gone = gone;
        d->oldest_version = ov;
        snprintf(d->oldest_at, sizeof d->oldest_at, "%s", oldest);
    }
    return rc;
}

/* ---- diffs ---------------------------------------------------------------------------- */

static bool same_value(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0 || (sink_drift_masked(a) && sink_drift_masked(b));
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The union of both objects' names, sorted, without repeats (*n of them). */
static const char **all_names(json_t *x, json_t *y, size_t *n)
{
    const char *name, **v = malloc((json_object_size(x) + json_object_size(y) + 1) * sizeof *v);
    json_t *jv;
    size_t k = 0, m = 0;
    if (!v)
        return NULL;
    json_object_foreach(x, name, jv)
    {
        v[k++] = name;
    }
    json_object_foreach(y, name, jv)
    {
        if (!json_object_get(x, name))
            v[k++] = name;
    }
    qsort(v, k, sizeof *v, by_name);
    for (size_t i = 0; i < k; i++)
        if (m == 0 || strcmp(v[m - 1], v[i]) != 0)
            v[m++] = v[i];
    *n = m;
    return v;
}

json_t *sink_history_diff(json_t *op, json_t *oa, json_t *np, json_t *na, bool with_access,
                          bool all)
{
    size_t n = 0;
    const char **names = all_names(op, np, &n);
    json_t *rows = json_array();
    if (!names || !rows)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const char *ov = json_string_value(json_object_get(op, names[i]));
        const char *nv = json_string_value(json_object_get(np, names[i]));
        const char *oacc = json_string_value(json_object_get(oa, names[i]));
        const char *nacc = json_string_value(json_object_get(na, names[i]));
        const char *change = !ov                                     ? "added"
                             : !nv                                   ? "removed"
                             : !same_value(ov, nv)                   ? "changed"
                             : with_access && !same_text(oacc, nacc) ? "changed"
                                                                     : "same";
        if (!all && strcmp(change, "same") == 0)
            continue;
        json_t *row = json_pack("{ss ss so so so so}", "change", change, "name", names[i], "old",
                                str_or_null(ov), "new", str_or_null(nv), "access",
                                str_or_null(nv ? nacc : oacc), "old_access", str_or_null(oacc));
        if (!row || json_array_append_new(rows, row) != 0)
            goto oom;
    }
    free(names);
    return rows;
oom:
    free(names);
    json_decref(rows);
    return NULL;
}
