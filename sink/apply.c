/*
 * apply.c - one validated event into the store (DESIGN section 5), inside the caller's
 * transaction.
 *
 * A full report replaces the phone's parameter set: names it does not carry are deleted and
 * reported as changes to null. A delta upserts what it carries. Both bump `version` (the
 * count of configuration reports applied) and write one change row and one
 * phonereport.changes outbox record per changed value, plus a state-publication marker
 * (outbox_state: the publisher renders the phone's current state later, once per phone
 * however many reports a batch held) when the state's content changed. `complete` becomes
 * true with the first full report. A status report replaces the latest status and does not
 * bump `version` (it does not change the configuration).
 *
 * A change is a new value against a known previous one (DESIGN section 3): a phone's first
 * report is its baseline and records no change; while a phone is incomplete (only deltas so
 * far), a name it never reported has no known previous value either. Once complete, a name
 * the phone did not have was known to be absent, so its arrival is a change from null.
 *
 * Work is proportional to what changed. A full report carries the SHA-256 of its canonical
 * parameter set (names sorted, each name, value and access length-prefixed); the phone row
 * keeps the digest of the last full report applied (NULL once a delta changed a row), so a
 * full report identical to the state (a reboot, a periodic upload) updates the phone row and
 * nothing else. A delta reads and writes only the rows it names; drift is re-checked for those
 * names only, and for the whole profile after a full report that changed something.
 *
 * Bounds: the phone row also keeps its parameter count and their weight in a state record, so
 * a report that would take the phone past max_params or max_state_bytes is refused before
 * anything is written (the state record must fit what the state topic takes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_state.h"
#include "sink_internal.h"

static pr_status sqlfail(sink_store *st, char *err, size_t errlen, const char *what)
{
    return pr_err(PR_EFATAL, err, errlen, "apply %s: %s", what, sink_store_errmsg(st));
}

typedef struct phone_row {
    int64_t id, version;
    bool exists, complete;
    bool known; /* a name the phone does not hold is known to be absent (complete before) */
    bool has_digest;
    unsigned char digest[32];
    char *model, *firmware, *source_at; /* as stored, for the source-change test */
    long long nparams, weight;
    int64_t report; /* reports row of this report, written with its first change; 0 = none */
} phone_row;

static void phone_row_release(phone_row *ph)
{
    free(ph->model);
    free(ph->firmware);
    free(ph->source_at);
}

static char *dup_text(sink_stmt *s, int i)
{
    const char *v = sink_col_text(s, i);
    return v ? strdup(v) : NULL;
}

/* The stored phone, or ph->exists false. */
static pr_status phone_get(sink_store *st, const sink_event *ev, phone_row *ph, char *err,
                           size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_PHONE_GET);
    int rc;
    if (!s)
        return sqlfail(st, err, errlen, "phone");
    sink_bind_text(s, 1, ev->mac);
    rc = sink_step(s);
    if (rc == SINK_ROW) {
        ph->exists = true;
        ph->id = sink_col_int64(s, 0);
        ph->version = sink_col_int64(s, 1);
        ph->complete = (int)sink_col_int64(s, 2) != 0;
        ph->model = dup_text(s, 4);
        ph->firmware = dup_text(s, 5);
        ph->source_at = dup_text(s, 6);
        size_t dlen = 0;
        const void *d = sink_col_blob(s, 7, &dlen);
        ph->has_digest = d && dlen == sizeof ph->digest;
        if (ph->has_digest)
            memcpy(ph->digest, d, sizeof ph->digest);
        ph->nparams = sink_col_int64(s, 8);
        ph->weight = sink_col_int64(s, 9);
        rc = SINK_DONE;
    }
    sink_reset(s);
    return rc == SINK_DONE ? PR_OK : sqlfail(st, err, errlen, "phone");
}

static pr_status phone_create(sink_store *st, const sink_event *ev, phone_row *ph, char *err,
                              size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_PHONE_INSERT);
    if (!s)
        return sqlfail(st, err, errlen, "phone insert");
    sink_bind_text(s, 1, ev->mac);
    sink_bind_text(s, 2, ev->received_at);
    sink_bind_int64(s, 3, ev->partition);
    int rc = sink_step(s);
    if (rc == SINK_ROW)
        ph->id = sink_col_int64(s, 0);
    sink_reset(s);
    if (rc != SINK_ROW)
        return sqlfail(st, err, errlen, "phone insert");
    ph->exists = true;
    return PR_OK;
}

/* ---- the event's own facts: digest and weight ---------------------------------------- */

/* Length of s as the body of a JSON string (jansson's default escapes). */
static long long json_body_len(const char *s, size_t n)
{
    long long len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            len += 2;
        else if (c < 0x20)
            len += 6;
        else
            len++;
    }
    return len;
}

long long sink_param_weight(const char *name, const char *value, const char *access)
{
    long long nl = json_body_len(name, strlen(name));
    long long w = nl + json_body_len(value, strlen(value)) + 6; /* "n":"v", */
    if (access)
        w += nl + json_body_len(access, strlen(access)) + 6;
    return w;
}

pr_status sink_event_prepare(sink_event *ev, const char *buf, size_t len, char *err, size_t errlen)
{
    const char *name;
    json_t *jv;
    if (ev->prepared)
        return PR_OK;
    if (ev->is_status) { /* the stored body, serialised here rather than by the writer */
        if (!(ev->status_text = json_dumps(ev->status, JSON_COMPACT)))
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        ev->prepared = true;
        return PR_OK;
    }
    ev->weight = 0;
    json_object_foreach(ev->params, name, jv)
    {
        json_t *ja = ev->access ? json_object_get(ev->access, name) : NULL;
        ev->weight += sink_param_weight(name, json_string_value(jv), json_string_value(ja));
    }
    ev->has_digest = ev->kind == PR_KIND_FULL && sink_event_digest(buf, len, ev->digest);
    ev->prepared = true;
    return PR_OK;
}

/* What a report's changes share (version, report_id, at, via) is written once per report in
 * `reports`; a change row holds only the phone, the report, the name id and the values. */
static pr_status record_change(sink_store *st, const sink_event *ev, phone_row *ph,
                               const char *name, int64_t name_id, const char *old_value,
                               const char *new_value, char *err, size_t errlen)
{
    const char *via = pr_kind_name(ev->kind);
    sink_stmt *s;
    int rc;
    if (!ph->report) {
        if (!(s = sink_store_stmt(st, Q_REPORT_INSERT)))
            return sqlfail(st, err, errlen, "report");
        sink_bind_int64(s, 1, ph->id);
        sink_bind_int64(s, 2, ph->version);
        sink_bind_text(s, 3, ev->report_id);
        sink_bind_text(s, 4, ev->received_at);
        sink_bind_text(s, 5, via);
        rc = sink_step(s);
        if (rc == SINK_ROW)
            ph->report = sink_col_int64(s, 0);
        sink_reset(s);
        if (rc != SINK_ROW)
            return sqlfail(st, err, errlen, "report");
    }
    if (!(s = sink_store_stmt(st, Q_CHANGE_INSERT)))
        return sqlfail(st, err, errlen, "change");
    sink_bind_int64(s, 1, ph->id);
    sink_bind_int64(s, 2, ph->report);
    sink_bind_int64(s, 3, name_id);
    sink_bind_text(s, 4, old_value);
    sink_bind_text(s, 5, new_value);
    rc = sink_step(s);
    sink_reset(s);
    if (rc != SINK_DONE)
        return sqlfail(st, err, errlen, "change");
    return sink_store_outbox_put(st, PR_TOPIC_CHANGES, ev->partition, ev->mac,
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
        int64_t id;
    } *gone = NULL;
    size_t n = 0, cap = 0;
    pr_status rc = PR_OK;
    sink_stmt *s = sink_store_stmt(st, Q_PARAM_NAMES);
    if (!s)
        return sqlfail(st, err, errlen, "names");
    sink_bind_int64(s, 1, ph->id);
    while (sink_step(s) == SINK_ROW) {
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
        gone[n].id = sink_col_int64(s, 2);
        n++;
        if (!gone[n - 1].name || !gone[n - 1].value) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
    }
    sink_reset(s);
    for (size_t i = 0; i < n && rc == PR_OK; i++) {
        if (!(s = sink_store_stmt(st, Q_PARAM_DELETE_ID))) {
            rc = sqlfail(st, err, errlen, "delete");
            break;
        }
        sink_bind_int64(s, 1, ph->id);
        sink_bind_int64(s, 2, gone[i].id);
        int r = sink_step(s);
        sink_reset(s);
        if (r != SINK_DONE) {
            rc = sqlfail(st, err, errlen, "delete");
            break;
        }
        res->upserts++; /* a row written */
        res->changes++;
        rc = record_change(st, ev, ph, gone[i].name, gone[i].id, gone[i].value, NULL, err, errlen);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(gone[i].name);
        free(gone[i].value);
    }
    free(gone);
    return rc;
}

/* The stored value and access of one parameter (copies; *found false when absent). */
static pr_status param_get(sink_store *st, int64_t phone, int64_t name_id, bool *found,
                           char **value, char **access, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_PARAM_GET_ID);
    *found = false;
    *value = *access = NULL;
    if (!s)
        return sqlfail(st, err, errlen, "param");
    sink_bind_int64(s, 1, phone);
    sink_bind_int64(s, 2, name_id);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        *found = true;
        *value = dup_text(s, 0);
        *access = dup_text(s, 1);
        if (!*value || (!sink_col_null(s, 1) && !*access))
            r = SINK_ERROR;
        else
            r = SINK_DONE;
    }
    sink_reset(s);
    if (r != SINK_DONE) {
        free(*value);
        free(*access);
        *value = *access = NULL;
        return sqlfail(st, err, errlen, "param");
    }
    return PR_OK;
}

/* Upserts every parameter of the report; records value changes; re-checks drift of each
 * name when the report is a delta (a full report re-checks the whole profile afterwards).
 * Keeps ph->nparams and ph->weight current. A phone that holds no parameter yet is written
 * without reading. */
static pr_status upsert_params(sink_store *st, const sink_profiles *pf, const sink_event *ev,
                               phone_row *ph, const sink_phone_ref *ref, sink_apply_result *res,
                               char *err, size_t errlen)
{
    const char *name;
    json_t *jv;
    bool empty = ph->nparams == 0;
    json_object_foreach(ev->params, name, jv)
    {
        const char *value = json_string_value(jv);
        json_t *ja = ev->access ? json_object_get(ev->access, name) : NULL;
        const char *access = ja ? json_string_value(ja) : NULL;
        char *old = NULL, *old_access = NULL;
        bool found = false;
        pr_status rc = PR_OK;
        sink_stmt *s;
        int64_t nid;
        int r;
        if ((rc = sink_store_name_id(st, name, true, &nid, err, errlen)) != PR_OK)
            return rc;
        if (!empty &&
            (rc = param_get(st, ph->id, nid, &found, &old, &old_access, err, errlen)) != PR_OK)
            return rc;
        bool value_changed = !found || strcmp(old, value) != 0;
        bool access_changed = !found || (access ? !old_access || strcmp(access, old_access) != 0
                                                : old_access != NULL);
        if (value_changed || access_changed) {
            if (!(s = sink_store_stmt(st, Q_PARAM_PUT_ID))) {
                rc = sqlfail(st, err, errlen, "upsert");
                goto next;
            }
            sink_bind_int64(s, 1, ph->id);
            sink_bind_int64(s, 2, nid);
            /* The event outlives the step: no copy of the strings (on SQLite). */
            sink_bind_text_static(s, 3, value);
            sink_bind_text_static(s, 4, access);
            r = sink_step(s);
            sink_reset(s);
            if (r != SINK_DONE) {
                rc = sqlfail(st, err, errlen, "upsert");
                goto next;
            }
            res->upserts++;
            if (found)
                ph->weight -= sink_param_weight(name, old, old_access);
            else
                ph->nparams++;
            ph->weight += sink_param_weight(name, value, access);
        }
        /* Baseline: a name with no known previous value records no change. */
        if (value_changed && (found || ph->known)) {
            res->changes++;
            rc = record_change(st, ev, ph, name, nid, old, value, err, errlen);
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

/* What the phone would hold after the report: the event's own count and weight for a full
 * report; for a delta an upper bound first (every name new, nothing replaced), and the exact
 * figure (reading the rows it names) only when that bound is over a limit. */
static pr_status bounds_check(sink_store *st, const sink_apply_opts *opts, const sink_event *ev,
                              const phone_row *ph, char *err, size_t errlen)
{
    long long max_n = opts ? opts->max_params : 0, max_b = opts ? opts->max_state_bytes : 0;
    long long n, w;
    if (max_n <= 0 && max_b <= 0)
        return PR_OK;
    if (ev->kind == PR_KIND_FULL) {
        n = (long long)json_object_size(ev->params);
        w = ev->weight;
    } else {
        n = ph->nparams + (long long)json_object_size(ev->params);
        w = ph->weight + ev->weight;
        if (((max_n > 0 && n > max_n) || (max_b > 0 && w + SINK_STATE_ENVELOPE > max_b)) &&
            ph->nparams > 0) {
            const char *name;
            json_t *jv;
            json_object_foreach(ev->params, name, jv)
            {
                bool found = false;
                char *old = NULL, *old_access = NULL;
                int64_t nid;
                pr_status rc = sink_store_name_id(st, name, false, &nid, err, errlen);
                if (rc == PR_OK)
                    rc = param_get(st, ph->id, nid, &found, &old, &old_access, err, errlen);
                else if (rc == PR_ENOTFOUND) /* a name no phone has: not this phone's either */
                    rc = PR_OK;
                if (rc != PR_OK)
                    return rc;
                if (found) {
                    n--;
                    w -= sink_param_weight(name, old, old_access);
                }
                free(old);
                free(old_access);
            }
        }
    }
    if (max_n > 0 && n > max_n)
        return pr_err(PR_EINVAL, err, errlen,
                      "the phone would hold %lld parameters (sink-max-params %lld)", n, max_n);
    if (max_b > 0 && w + SINK_STATE_ENVELOPE > max_b)
        return pr_err(PR_EINVAL, err, errlen,
                      "the phone's state record would take about %lld bytes "
                      "(sink-max-state-bytes %lld)",
                      w + SINK_STATE_ENVELOPE, max_b);
    return PR_OK;
}

static pr_status apply_status(sink_store *st, const sink_event *ev, const phone_row *ph, char *err,
                              size_t errlen)
{
    pr_status rc = PR_OK;
    const char *body = ev->status_text;
    sink_stmt *s = sink_store_stmt(st, Q_STATUS_PUT);
    if (!s) {
        rc = sqlfail(st, err, errlen, "status");
        goto out;
    }
    sink_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, ev->report_id);
    sink_bind_text(s, 3, ev->received_at);
    sink_bind_text(s, 4, body);
    int r = sink_step(s);
    sink_reset(s);
    if (r != SINK_DONE || !(s = sink_store_stmt(st, Q_PHONE_UPDATE_STATUS))) {
        rc = sqlfail(st, err, errlen, "status");
        goto out;
    }
    sink_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, ev->model);
    sink_bind_text(s, 3, ev->firmware);
    sink_bind_text(s, 4, ev->received_at);
    sink_bind_text(s, 5, ev->remote);
    sink_bind_int64(s, 6, ev->partition);
    r = sink_step(s);
    sink_reset(s);
    if (r != SINK_DONE)
        rc = sqlfail(st, err, errlen, "status");
out:
    return rc;
}

static pr_status step_done(sink_store *st, sink_stmt *s, char *err, size_t errlen, const char *what)
{
    int r = sink_step(s);
    sink_reset(s);
    return r == SINK_DONE ? PR_OK : sqlfail(st, err, errlen, what);
}

/* Whether the report's model or firmware replaces a different stored one (the rule of
 * Q_PHONE_UPDATE_CONFIG: the latest received_at that names them wins). */
static bool source_changes(const sink_event *ev, const phone_row *ph)
{
    bool newer = !ph->source_at || strcmp(ev->received_at, ph->source_at) >= 0;
    if (!newer)
        return false;
    return (ev->model && (!ph->model || strcmp(ev->model, ph->model) != 0)) ||
           (ev->firmware && (!ph->firmware || strcmp(ev->firmware, ph->firmware) != 0));
}

static pr_status phone_update(sink_store *st, const sink_event *ev, const phone_row *ph,
                              const unsigned char *digest, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_PHONE_UPDATE_CONFIG);
    if (!s)
        return sqlfail(st, err, errlen, "phone update");
    sink_bind_int64(s, 1, ph->id);
    sink_bind_int64(s, 2, ph->version);
    sink_bind_int64(s, 3, ph->complete);
    sink_bind_text(s, 4, ev->model);
    sink_bind_text(s, 5, ev->firmware);
    sink_bind_text(s, 6, ev->received_at);
    sink_bind_text(s, 7, ev->report_id);
    if (digest)
        sink_bind_blob(s, 8, digest, 32);
    else
        sink_bind_null(s, 8);
    sink_bind_int64(s, 9, ph->nparams);
    sink_bind_int64(s, 10, ph->weight);
    sink_bind_text(s, 11, ev->remote);
    sink_bind_int64(s, 12, ev->partition);
    return step_done(st, s, err, errlen, "phone update");
}

static pr_status mark_state(sink_store *st, const phone_row *ph, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_OUTBOX_STATE_PUT);
    if (!s)
        return sqlfail(st, err, errlen, "outbox state");
    sink_bind_int64(s, 1, ph->id);
    sink_bind_int64(s, 2, ph->version);
    return step_done(st, s, err, errlen, "outbox state");
}

/* A full report byte for byte like the last one applied, to a phone that is complete. */
static bool unchanged(const sink_event *ev, const phone_row *ph)
{
    return ev->kind == PR_KIND_FULL && ph->exists && ph->complete && ph->has_digest &&
           ev->has_digest && memcmp(ph->digest, ev->digest, sizeof ph->digest) == 0;
}

static pr_status apply_config(sink_store *st, const sink_profiles *pf, const sink_apply_opts *opts,
                              const sink_event *ev, phone_row *ph, sink_apply_result *res,
                              char *err, size_t errlen)
{
    pr_status rc;
    sink_stmt *s;
    bool created = !ph->exists, was_complete = ph->complete;
    bool source_changed = source_changes(ev, ph);

    /* An identical full report: the phone row only (the bounds held for the same content). */
    if (unchanged(ev, ph)) {
        ph->version++;
        res->version = ph->version;
        res->unchanged = true;
        if ((rc = phone_update(st, ev, ph, ph->digest, err, errlen)) != PR_OK)
            return rc;
        res->published = source_changed;
        return source_changed ? mark_state(st, ph, err, errlen) : PR_OK;
    }
    if (ev->lazy) /* not parsed: sink_apply parses it before it gets here */
        return pr_err(PR_EFATAL, err, errlen, "internal: unparsed report");
    if ((rc = bounds_check(st, opts, ev, ph, err, errlen)) != PR_OK)
        return rc;
    if (created && (rc = phone_create(st, ev, ph, err, errlen)) != PR_OK)
        return rc;
    ph->version++;
    ph->known = was_complete;
    ph->complete = ph->complete || ev->kind == PR_KIND_FULL;
    res->version = ph->version;

    sink_phone_ref ref = {ph->id, ev->mac, ph->version, ev->received_at, ev->partition};
    if (ev->kind == PR_KIND_FULL && ph->nparams > 0 &&
        (rc = remove_vanished(st, ev, ph, res, err, errlen)) != PR_OK)
        return rc;
    if ((rc = upsert_params(st, pf, ev, ph, &ref, res, err, errlen)) != PR_OK)
        return rc;
    if (ev->kind == PR_KIND_FULL) { /* what the phone holds now is exactly the report */
        ph->nparams = (long long)json_object_size(ev->params);
        ph->weight = ev->weight;
    }
    /* The digest describes the rows of the last full report; a delta that wrote a row breaks
     * that (NULL: the next full report compares its rows once). */
    const unsigned char *digest = ev->kind == PR_KIND_FULL              ? ev->digest
                                  : res->upserts == 0 && ph->has_digest ? ph->digest
                                                                        : NULL;
    if ((rc = phone_update(st, ev, ph, digest, err, errlen)) != PR_OK)
        return rc;
    res->published = created || res->upserts > 0 || was_complete != ph->complete || source_changed;
    if (res->published && (rc = mark_state(st, ph, err, errlen)) != PR_OK)
        return rc;

    /* Prune the change history now and then (every 64 reports), so that a delta does not
     * pay for the history on every apply. */
    if (opts && opts->changes_keep > 0 && ph->version % 64 == 0) {
        if (!(s = sink_store_stmt(st, Q_CHANGE_PRUNE)))
            return sqlfail(st, err, errlen, "prune");
        sink_bind_int64(s, 1, ph->id);
        sink_bind_int64(s, 2, opts->changes_keep);
        if ((rc = step_done(st, s, err, errlen, "prune")) != PR_OK)
            return rc;
        if (!(s = sink_store_stmt(st, Q_REPORT_PRUNE)))
            return sqlfail(st, err, errlen, "prune");
        sink_bind_int64(s, 1, ph->id);
        if ((rc = step_done(st, s, err, errlen, "prune")) != PR_OK)
            return rc;
    }
    if (ev->kind == PR_KIND_FULL)
        rc = sink_drift_phone(st, pf, &ref, &res->transitions, err, errlen);
    return rc;
}

pr_status sink_apply(sink_store *st, const sink_profiles *pf, const sink_apply_opts *opts,
                     const sink_event *ev, sink_apply_result *res, char *err, size_t errlen)
{
    phone_row ph;
    pr_status rc;
    memset(res, 0, sizeof *res);
    memset(&ph, 0, sizeof ph);
    if (!ev->prepared)
        return pr_err(PR_EFATAL, err, errlen, "internal: event not prepared (sink_event_load)");
    if ((rc = phone_get(st, ev, &ph, err, errlen)) != PR_OK)
        goto out;
    if (ev->is_status) {
        res->version = ph.version;
        if (!ph.exists && (rc = phone_create(st, ev, &ph, err, errlen)) != PR_OK)
            goto out;
        rc = apply_status(st, ev, &ph, err, errlen);
        goto out;
    }
    if (ev->lazy && !unchanged(ev, &ph)) {
        /* The phone changed since the parse thread read its digest: parse it all now. */
        sink_event full;
        char reason[32];
        phone_row_release(&ph);
        if ((rc = sink_event_load(NULL, ev->raw, ev->rawlen, false, ev->mac, PR_MAC_LEN, &full,
                                  reason, sizeof reason, err, errlen)) != PR_OK)
            return rc == PR_EINVAL ? pr_err(PR_EFATAL, err, errlen, "reparse: %s", err) : rc;
        full.partition = ev->partition;
        rc = sink_apply(st, pf, opts, &full, res, err, errlen);
        sink_event_release(&full);
        return rc;
    }
    rc = apply_config(st, pf, opts, ev, &ph, res, err, errlen);
out:
    phone_row_release(&ph);
    return rc;
}
