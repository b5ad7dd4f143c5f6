/*
 * apply.c - one validated event into the store (DESIGN section 5), inside the caller's
 * transaction.
 *
 * A full report replaces the phone's parameter set: names it does not carry are deleted and
 * reported as changes to null. A delta upserts what it carries. Both bump `version` (the
 * count of configuration reports applied) and write one change row and one
 * phonereport.changes outbox record per changed value, plus a state-publication marker
 * (outbox_state: the publisher renders the phone's current state later, once per phone
 * however many reports a batch held). `complete` becomes true with the first full report.
 * A status report replaces the latest status and does not bump `version` (it does not change
 * the configuration). Work is proportional to the report: a delta reads and writes only the
 * rows it names; drift is re-checked for those names only, and for the whole profile after a
 * full report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_state.h"
#include "sink_internal.h"

static pr_status sqlfail(sink_store *st, char *err, size_t errlen, const char *what)
{
    return pr_err(PR_EFATAL, err, errlen, "apply %s: %s", what, sqlite3_errmsg(sink_store_db(st)));
}

typedef struct phone_row {
    int64_t id, version;
    bool complete;
    int64_t report; /* reports row of this report, written with its first change; 0 = none */
} phone_row;

static pr_status phone_get_or_create(sink_store *st, const sink_event *ev, phone_row *ph, char *err,
                                     size_t errlen)
{
    sqlite3_stmt *s = sink_store_stmt(st, Q_PHONE_GET);
    int rc;
    if (!s)
        return sqlfail(st, err, errlen, "phone");
    sink_bind_text(s, 1, ev->mac);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        ph->id = sqlite3_column_int64(s, 0);
        ph->version = sqlite3_column_int64(s, 1);
        ph->complete = sqlite3_column_int(s, 2) != 0;
        sqlite3_reset(s);
        return PR_OK;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE || !(s = sink_store_stmt(st, Q_PHONE_INSERT)))
        return sqlfail(st, err, errlen, "phone");
    sink_bind_text(s, 1, ev->mac);
    sink_bind_text(s, 2, ev->received_at);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sqlfail(st, err, errlen, "phone insert");
    ph->id = sqlite3_last_insert_rowid(sink_store_db(st));
    ph->version = 0;
    ph->complete = false;
    return PR_OK;
}

/* What a report's changes share (version, report_id, at, via) is written once per report in
 * `reports`; a change row holds only the phone, the report, the name id and the values. */
static pr_status record_change(sink_store *st, const sink_event *ev, phone_row *ph,
                               const char *name, const char *old_value, const char *new_value,
                               char *err, size_t errlen)
{
    const char *via = pr_kind_name(ev->kind);
    sqlite3_stmt *s;
    int rc;
    if (!ph->report) {
        if (!(s = sink_store_stmt(st, Q_REPORT_INSERT)))
            return sqlfail(st, err, errlen, "report");
        sqlite3_bind_int64(s, 1, ph->id);
        sqlite3_bind_int64(s, 2, ph->version);
        sink_bind_text(s, 3, ev->report_id);
        sink_bind_text(s, 4, ev->received_at);
        sink_bind_text(s, 5, via);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return sqlfail(st, err, errlen, "report");
        ph->report = sqlite3_last_insert_rowid(sink_store_db(st));
    }
    if (!(s = sink_store_stmt(st, Q_CHANGE_INSERT)))
        return sqlfail(st, err, errlen, "change");
    sqlite3_bind_int64(s, 1, ph->id);
    sqlite3_bind_int64(s, 2, ph->report);
    sink_bind_text(s, 3, name);
    sink_bind_text(s, 4, old_value);
    sink_bind_text(s, 5, new_value);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sqlfail(st, err, errlen, "change");
    return sink_store_outbox_put(st, PR_TOPIC_CHANGES, ev->mac,
                                 pr_change_event_new(ev->mac, name, old_value, new_value,
                                                     ev->received_at, ev->report_id, via,
                                                     ph->version),
                                 err, errlen);
}

/* Full report: delete (and report) the stored names the report does not carry. */
static pr_status remove_vanished(sink_store *st, const sink_event *ev, phone_row *ph,
                                 sink_apply_result *res, char *err, size_t errlen)
{
    struct gone {
        char *name, *value;
    } *gone = NULL;
    size_t n = 0, cap = 0;
    pr_status rc = PR_OK;
    sqlite3_stmt *s = sink_store_stmt(st, Q_PARAM_NAMES);
    if (!s)
        return sqlfail(st, err, errlen, "names");
    sqlite3_bind_int64(s, 1, ph->id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = sink_col_text(s, 0);
        if (json_object_get(ev->params, name))
            continue;
        if (n == cap) {
            struct gone *g = realloc(gone, (cap = cap ? cap * 2 : 16) * sizeof *gone);
            if (!g) {
                rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
                goto out;
            }
            gone = g;
        }
        gone[n].name = strdup(name);
        gone[n].value = strdup(sink_col_text(s, 1));
        n++;
        if (!gone[n - 1].name || !gone[n - 1].value) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
    }
    sqlite3_reset(s);
    for (size_t i = 0; i < n && rc == PR_OK; i++) {
        if (!(s = sink_store_stmt(st, Q_PARAM_DELETE))) {
            rc = sqlfail(st, err, errlen, "delete");
            break;
        }
        sqlite3_bind_int64(s, 1, ph->id);
        sink_bind_text(s, 2, gone[i].name);
        int r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r != SQLITE_DONE) {
            rc = sqlfail(st, err, errlen, "delete");
            break;
        }
        res->changes++;
        rc = record_change(st, ev, ph, gone[i].name, gone[i].value, NULL, err, errlen);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(gone[i].name);
        free(gone[i].value);
    }
    free(gone);
    return rc;
}

/* Upserts every parameter of the report; records value changes; re-checks drift of each
 * name when the report is a delta (a full report re-checks the whole profile afterwards). */
static pr_status upsert_params(sink_store *st, const sink_profiles *pf, const sink_event *ev,
                               phone_row *ph, const sink_phone_ref *ref, sink_apply_result *res,
                               char *err, size_t errlen)
{
    const char *name;
    json_t *jv;
    json_object_foreach(ev->params, name, jv)
    {
        const char *value = json_string_value(jv);
        json_t *ja = ev->access ? json_object_get(ev->access, name) : NULL;
        const char *access = ja ? json_string_value(ja) : NULL;
        char *old = NULL, *old_access = NULL;
        bool found = false;
        pr_status rc = PR_OK;
        sqlite3_stmt *s = sink_store_stmt(st, Q_PARAM_GET);
        if (!s)
            return sqlfail(st, err, errlen, "param");
        sqlite3_bind_int64(s, 1, ph->id);
        sink_bind_text(s, 2, name);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            found = true;
            const char *a = sink_col_text(s, 1);
            old = strdup(sink_col_text(s, 0));
            old_access = a ? strdup(a) : NULL;
            if (!old || (a && !old_access))
                r = SQLITE_NOMEM;
        }
        sqlite3_reset(s);
        if (r != SQLITE_ROW && r != SQLITE_DONE) {
            rc = sqlfail(st, err, errlen, "param");
            goto next;
        }
        bool value_changed = !found || strcmp(old, value) != 0;
        bool access_changed = !found || (access ? !old_access || strcmp(access, old_access) != 0
                                                : old_access != NULL);
        if (value_changed || access_changed) {
            if (!found) { /* a name this phone never had: make sure it is interned */
                if (!(s = sink_store_stmt(st, Q_NAME_PUT))) {
                    rc = sqlfail(st, err, errlen, "name");
                    goto next;
                }
                sink_bind_text(s, 1, name);
                r = sqlite3_step(s);
                sqlite3_reset(s);
                if (r != SQLITE_DONE) {
                    rc = sqlfail(st, err, errlen, "name");
                    goto next;
                }
            }
            if (!(s = sink_store_stmt(st, Q_PARAM_UPSERT))) {
                rc = sqlfail(st, err, errlen, "upsert");
                goto next;
            }
            sqlite3_bind_int64(s, 1, ph->id);
            sink_bind_text(s, 2, name);
            sink_bind_text(s, 3, value);
            sink_bind_text(s, 4, access);
            r = sqlite3_step(s);
            sqlite3_reset(s);
            if (r != SQLITE_DONE) {
                rc = sqlfail(st, err, errlen, "upsert");
                goto next;
            }
            res->upserts++;
        }
        if (value_changed) {
            res->changes++;
            rc = record_change(st, ev, ph, name, old, value, err, errlen);
        }
        if (rc == PR_OK && ev->kind == PR_KIND_DELTA && pf)
            rc = sink_drift_check(st, ref, name, value, sink_profiles_intended(pf, ev->mac, name),
                                  &res->transitions, err, errlen);
    next:
        free(old);
        free(old_access);
        if (rc != PR_OK)
            return rc;
    }
    return PR_OK;
}

static pr_status apply_status(sink_store *st, const sink_event *ev, const phone_row *ph, char *err,
                              size_t errlen)
{
    pr_status rc = PR_OK;
    char *body = json_dumps(ev->status, JSON_COMPACT);
    sqlite3_stmt *s = sink_store_stmt(st, Q_STATUS_PUT);
    if (!body || !s) {
        rc = body ? sqlfail(st, err, errlen, "status") : pr_err(PR_EFATAL, err, errlen, "oom");
        goto out;
    }
    sqlite3_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, ev->report_id);
    sink_bind_text(s, 3, ev->received_at);
    sqlite3_bind_text(s, 4, body, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE || !(s = sink_store_stmt(st, Q_PHONE_UPDATE_STATUS))) {
        rc = sqlfail(st, err, errlen, "status");
        goto out;
    }
    sqlite3_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, ev->model);
    sink_bind_text(s, 3, ev->firmware);
    sink_bind_text(s, 4, ev->received_at);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        rc = sqlfail(st, err, errlen, "status");
out:
    free(body);
    return rc;
}

static pr_status step_done(sink_store *st, sqlite3_stmt *s, char *err, size_t errlen,
                           const char *what)
{
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? PR_OK : sqlfail(st, err, errlen, what);
}

pr_status sink_apply(sink_store *st, const sink_profiles *pf, const sink_apply_opts *opts,
                     const sink_event *ev, sink_apply_result *res, char *err, size_t errlen)
{
    phone_row ph = {0, 0, false, 0};
    pr_status rc;
    sqlite3_stmt *s;
    memset(res, 0, sizeof *res);
    if ((rc = phone_get_or_create(st, ev, &ph, err, errlen)) != PR_OK)
        return rc;
    if (ev->is_status) {
        res->version = ph.version;
        return apply_status(st, ev, &ph, err, errlen);
    }
    ph.version++;
    ph.complete = ph.complete || ev->kind == PR_KIND_FULL;
    res->version = ph.version;
    sink_phone_ref ref = {ph.id, ev->mac, ph.version, ev->received_at};

    if (ev->kind == PR_KIND_FULL && (rc = remove_vanished(st, ev, &ph, res, err, errlen)) != PR_OK)
        return rc;
    if ((rc = upsert_params(st, pf, ev, &ph, &ref, res, err, errlen)) != PR_OK)
        return rc;

    if (!(s = sink_store_stmt(st, Q_PHONE_UPDATE_CONFIG)))
        return sqlfail(st, err, errlen, "phone update");
    sqlite3_bind_int64(s, 1, ph.id);
    sqlite3_bind_int64(s, 2, ph.version);
    sqlite3_bind_int(s, 3, ph.complete);
    sink_bind_text(s, 4, ev->model);
    sink_bind_text(s, 5, ev->firmware);
    sink_bind_text(s, 6, ev->received_at);
    sink_bind_text(s, 7, ev->report_id);
    if ((rc = step_done(st, s, err, errlen, "phone update")) != PR_OK)
        return rc;

    if (!(s = sink_store_stmt(st, Q_OUTBOX_STATE_PUT)))
        return sqlfail(st, err, errlen, "outbox state");
    sqlite3_bind_int64(s, 1, ph.id);
    sqlite3_bind_int64(s, 2, ph.version);
    if ((rc = step_done(st, s, err, errlen, "outbox state")) != PR_OK)
        return rc;

    /* Prune the change history now and then (every 64 reports), so that a delta does not
     * pay for the history on every apply. */
    if (opts && opts->changes_keep > 0 && ph.version % 64 == 0) {
        if (!(s = sink_store_stmt(st, Q_CHANGE_PRUNE)))
            return sqlfail(st, err, errlen, "prune");
        sqlite3_bind_int64(s, 1, ph.id);
        sqlite3_bind_int64(s, 2, opts->changes_keep);
        if ((rc = step_done(st, s, err, errlen, "prune")) != PR_OK)
            return rc;
        if (!(s = sink_store_stmt(st, Q_REPORT_PRUNE)))
            return sqlfail(st, err, errlen, "prune");
        sqlite3_bind_int64(s, 1, ph.id);
        if ((rc = step_done(st, s, err, errlen, "prune")) != PR_OK)
            return rc;
    }
    if (ev->kind == PR_KIND_FULL)
        rc = sink_drift_phone(st, pf, &ref, &res->transitions, err, errlen);
    return rc;
}
