/*
 * drift.c - compares what a phone reports with what its profile intends, and keeps only the
 * transitions: a parameter becomes `drifted` when both values are known, neither is masked,
 * and they differ; it becomes `resolved` when that stops being true (values agree again, the
 * parameter left the profile, or the phone no longer reports it). The drift table holds the
 * currently drifted parameters; each transition writes one phonereport.drift outbox record in
 * the caller's transaction, so the state and its alerts commit together. A phone's drift rows
 * are read once (one statement) and compared in memory with its document and its profile:
 * a phone costs two statements plus one per transition, whatever its profile's size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_state.h"
#include "sink_internal.h"

bool sink_drift_masked(const char *v)
{
    if (!v || !*v)
        return false;
    return strspn(v, "*") == strlen(v);
}

static pr_status sqlfail(sink_store *st, char *err, size_t errlen, const char *what)
{
    return pr_err(PR_EFATAL, err, errlen, "drift %s: %s", what, sink_store_errmsg(st));
}

static bool eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

pr_status sink_drift_rows_load(sink_store *st, int64_t phone, const char *mac, json_t **rows,
                               char *err, size_t errlen)
{
    return sink_store_drift_rows(st, phone, mac, rows, err, errlen);
}

pr_status sink_drift_decide(sink_store *st, const sink_phone_ref *ph, json_t *rows,
                            const char *name, const char *actual, const char *intended,
                            unsigned *transitions, char *err, size_t errlen)
{
    bool drifted = intended && actual && !sink_drift_masked(actual) &&
                   !sink_drift_masked(intended) && strcmp(actual, intended) != 0;
    json_t *row = json_object_get(rows, name);
    bool had = row != NULL;
    bool same = had && eq(json_string_value(json_array_get(row, 0)), intended) &&
                eq(json_string_value(json_array_get(row, 1)), actual);
    sink_stmt *s;
    int rc;

    if (drifted == had) {
        if (!drifted || same)
            return PR_OK;
        /* Still drifted, other values: keep the row current, publish nothing. */
        s = sink_store_stmt(st, Q_DRIFT_UPDATE);
        if (!s)
            return sqlfail(st, err, errlen, "update");
        sink_bind_int64(s, 1, ph->id);
        sink_bind_text(s, 2, name);
        sink_bind_text(s, 3, intended);
        sink_bind_text(s, 4, actual);
        rc = sink_step(s);
        sink_reset(s);
        if (rc != SINK_DONE)
            return sqlfail(st, err, errlen, "update");
        json_array_set_new(row, 0, json_string(intended));
        json_array_set_new(row, 1, json_string(actual));
        return PR_OK;
    }
    s = sink_store_stmt(st, drifted ? Q_DRIFT_INSERT : Q_DRIFT_DELETE);
    if (!s)
        return sqlfail(st, err, errlen, "write");
    sink_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, name);
    if (drifted) {
        sink_bind_text(s, 3, intended);
        sink_bind_text(s, 4, actual);
        sink_bind_text(s, 5, ph->at);
        sink_bind_int64(s, 6, ph->version);
    }
    rc = sink_step(s);
    sink_reset(s);
    if (rc != SINK_DONE)
        return sqlfail(st, err, errlen, "write");
    if (drifted)
        json_object_set_new(rows, name, json_pack("[ss]", intended, actual));
    else
        json_object_del(rows, name);
    if (transitions)
        (*transitions)++;
    return sink_store_outbox_put(st, PR_TOPIC_DRIFT, ph->part, ph->mac,
                                 pr_drift_event_new(ph->mac, name, intended, actual,
                                                    drifted ? "drifted" : "resolved", ph->at,
                                                    ph->version),
                                 err, errlen);
}

typedef struct phone_walk {
    sink_store *st;
    const sink_phone_ref *ph;
    const sink_doc *doc;
    json_t *rows;
    unsigned *transitions;
    char *err;
    size_t errlen;
    pr_status status;
} phone_walk;

static int walk_intended(void *ctx, const char *name, const char *value)
{
    phone_walk *w = ctx;
    const char *actual = sink_store_doc_value(w->st, w->doc, name);
    w->status = sink_drift_decide(w->st, w->ph, w->rows, name, actual, value, w->transitions,
                                  w->err, w->errlen);
    return w->status != PR_OK;
}

pr_status sink_drift_phone(sink_store *st, const sink_profiles *pf, const sink_phone_ref *ph,
                           const sink_doc *doc, bool fresh, unsigned *transitions, char *err,
                           size_t errlen)
{
    phone_walk w = {st, ph, doc, NULL, transitions, err, errlen, PR_OK};
    json_t *stale = NULL;
    const char *name;
    json_t *row;
    pr_status rc = PR_OK;

    if (fresh ? !(w.rows = json_object())
              : (rc = sink_drift_rows_load(st, ph->id, ph->mac, &w.rows, err, errlen)) != PR_OK)
        return fresh ? pr_err(PR_EFATAL, err, errlen, "out of memory") : rc;
    if (pf && sink_profiles_each(pf, ph->mac, walk_intended, &w) != 0) {
        rc = w.status;
        goto out;
    }
    /* Drifted rows whose parameter is no longer intended: resolve them (names collected
     * first: deciding removes them from rows). */
    if (!(stale = json_array())) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    json_object_foreach(w.rows, name, row)
    {
        if (!pf || !sink_profiles_intended(pf, ph->mac, name))
            json_array_append_new(stale, json_string(name));
    }
    for (size_t i = 0; i < json_array_size(stale) && rc == PR_OK; i++) {
        const char *n = json_string_value(json_array_get(stale, i));
        rc = sink_drift_decide(st, ph, w.rows, n, sink_store_doc_value(st, doc, n), NULL,
                               transitions, err, errlen);
    }
out:
    json_decref(stale);
    if (rc == PR_OK) /* as written: the phone's next report in the transaction reads none */
        sink_store_drift_keep(st, ph->mac, w.rows);
    else
        json_decref(w.rows);
    return rc;
}

/* Looks a phone up by MAC; PR_ENOTFOUND when the sink has never seen it. */
static pr_status phone_by_mac(sink_store *st, const char *mac, int64_t *id, int64_t *version,
                              int32_t *part)
{
    sink_stmt *s = sink_store_stmt(st, Q_PHONE_GET);
    pr_status rc = PR_ENOTFOUND;
    if (!s)
        return PR_EFATAL;
    sink_bind_text(s, 1, mac);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        *id = sink_col_int64(s, 0);
        *version = sink_col_int64(s, 1);
        *part = (int32_t)sink_col_int64(s, 10);
        rc = PR_OK;
    } else if (r != SINK_DONE) {
        rc = PR_EFATAL;
    }
    sink_reset(s);
    return rc;
}

/* A stored phone's drift from its document: two statements, then only transitions. */
static pr_status drift_of(sink_store *st, const sink_profiles *pf, const sink_phone_ref *ph,
                          unsigned *transitions, char *err, size_t errlen)
{
    sink_doc tmp = {0};
    const sink_doc *doc = NULL;
    pr_status rc = sink_store_doc_read(st, ph->id, ph->version, &tmp, &doc, err, errlen);
    if (rc == PR_OK)
        rc = sink_drift_phone(st, pf, ph, doc, false, transitions, err, errlen);
    sink_doc_release(&tmp);
    return rc;
}

pr_status sink_drift_profiles_changed(sink_store *st, const sink_profiles *pf,
                                      const sink_profiles_delta *d, const char *now,
                                      sink_parts *owned, bool commit_pages, unsigned *transitions,
                                      char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    char parts[8192];
    if (owned)
        sink_parts_text(owned, parts, sizeof parts);
    if (!d->all) {
        for (size_t i = 0; i < d->len && rc == PR_OK; i++) {
            sink_phone_ref ph = {0, d->macs[i], 0, now, -1};
            pr_status f = phone_by_mac(st, d->macs[i], &ph.id, &ph.version, &ph.part);
            /* another sink's phone: its partition's owner computes its drift */
            if (f == PR_ENOTFOUND || (f == PR_OK && owned && !sink_parts_has(owned, ph.part)))
                continue;
            rc = f == PR_OK ? drift_of(st, pf, &ph, transitions, err, errlen)
                            : sqlfail(st, err, errlen, "phone");
        }
        return rc;
    }
    /* Every phone, a page at a time (the page is copied before anything is written). */
    int64_t after = 0;
    for (;;) {
        struct {
            int64_t id, version;
            int32_t part;
            char mac[PR_MAC_LEN + 1];
        } page[256];
        size_t n = 0;
        sink_stmt *s = sink_store_stmt(st, Q_PHONE_LIST_ALL);
        if (!s)
            return sqlfail(st, err, errlen, "phones");
        sink_bind_int64(s, 1, after);
        sink_bind_int64(s, 2, 256);
        sink_bind_text(s, 3, owned ? parts : NULL);
        while (n < 256 && sink_step(s) == SINK_ROW) {
            page[n].id = sink_col_int64(s, 0);
            snprintf(page[n].mac, sizeof page[n].mac, "%s", sink_col_text(s, 1));
            page[n].version = sink_col_int64(s, 2);
            page[n].part = (int32_t)sink_col_int64(s, 3);
            n++;
        }
        sink_reset(s);
        for (size_t i = 0; i < n && rc == PR_OK; i++) {
            sink_phone_ref ph = {page[i].id, page[i].mac, page[i].version, now, page[i].part};
            rc = drift_of(st, pf, &ph, transitions, err, errlen);
        }
        if (rc != PR_OK || n < 256)
            return rc;
        after = page[n - 1].id;
        /* Bound the transaction: commit each page (recomputing is idempotent, so a crash in
         * between only means the next start recomputes again). */
        if (commit_pages && ((rc = sink_store_commit(st, err, errlen)) != PR_OK ||
                             (rc = sink_store_begin(st, err, errlen)) != PR_OK))
            return rc;
    }
}
