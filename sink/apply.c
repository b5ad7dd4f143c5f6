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
 * One document per phone (store_doc.c): a full report is one write of the new document, a
 * delta one read, a merge in memory and one write; the changes, the parameter index entries
 * and the drift come from the diff of the old and the new document in memory. A full report
 * carries the SHA-256 of the exact bytes of its params and access; the phone row keeps the
 * digest of the last full report applied (NULL once a delta changed the document), so a full
 * report identical to the state (a reboot, a periodic upload) updates the phone row and
 * nothing else. Drift is re-checked for the names a delta carries, and for the whole profile
 * after a full report (the phone's drift rows read once, compared in memory).
 *
 * The writer builds no JSON trees: the report's parameters become compact entries (doc.c:
 * name id, value, access) once, the merge with the old document and the diff are one pass
 * over both sorted entry lists, and the weight is kept from the phone row (minus what a delta
 * replaces, plus what it brings).
 *
 * Bounds: the new document's parameter count and their weight in a state record are known
 * before anything is written, so a report that would take the phone past max_params or
 * max_state_bytes is refused (the state record must fit what the state topic takes).
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
    /* the report's changes not written yet: one statement per table for up to
     * SINK_ROWS_MAX of them (old/new borrowed from the documents, text owned) */
    size_t npending;
    struct {
        int64_t param;
        const char *old, *new;
        char *text;
    } pending[SINK_ROWS_MAX];
} phone_row;

static void phone_row_release(phone_row *ph)
{
    for (size_t i = 0; i < ph->npending; i++)
        free(ph->pending[i].text);
    ph->npending = 0;
    free(ph->model);
    free(ph->firmware);
    free(ph->source_at);
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

/* The stored phone, or ph->exists false: what the writer knows of it in this transaction
 * (store_batch.c: a prefetched row, or what it wrote), else its row. */
static pr_status phone_get(sink_store *st, const sink_event *ev, phone_row *ph, char *err,
                           size_t errlen)
{
    sink_phone_info k;
    if (sink_store_phone_known(st, ev->mac, &k)) {
        if (!k.exists)
            return PR_OK;
        ph->exists = true;
        ph->id = k.id;
        ph->version = k.version;
        ph->complete = k.complete;
        ph->has_digest = k.has_digest;
        memcpy(ph->digest, k.digest, sizeof ph->digest);
        ph->nparams = k.nparams;
        ph->weight = k.weight;
        ph->model = dup_or_null(k.model);
        ph->firmware = dup_or_null(k.firmware);
        ph->source_at = dup_or_null(k.source_at);
        if ((k.model && !ph->model) || (k.firmware && !ph->firmware) ||
            (k.source_at && !ph->source_at))
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        return PR_OK;
    }
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
        ph->model = dup_or_null(sink_col_text(s, 4));
        ph->firmware = dup_or_null(sink_col_text(s, 5));
        ph->source_at = dup_or_null(sink_col_text(s, 6));
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

/* The phone row as the writer just wrote it, told to the store (store_batch.c). */
static void phone_learn(sink_store *st, const sink_event *ev, const phone_row *ph)
{
    sink_phone_info k = {.id = ph->id,
                         .version = ph->version,
                         .exists = true,
                         .complete = ph->complete,
                         .has_digest = ph->has_digest,
                         .model = ph->model,
                         .firmware = ph->firmware,
                         .source_at = ph->source_at,
                         .nparams = ph->nparams,
                         .weight = ph->weight};
    memcpy(k.digest, ph->digest, sizeof k.digest);
    sink_store_phone_learn(st, ev->mac, &k, ev->model, ev->firmware, ev->received_at);
}

/* Steps an insert that returns its row's id, or, with an id the batch's prefetch reserved,
 * is only queued (a pipelined write, no answer to wait for): *id either way. */
static bool insert_id(sink_stmt *s, int64_t reserved, int64_t *id)
{
    int rc = sink_step(s);
    if (rc == SINK_ROW)
        *id = sink_col_int64(s, 0);
    else if (reserved && rc == SINK_DONE)
        *id = reserved;
    sink_reset(s);
    return rc == SINK_ROW || (reserved && rc == SINK_DONE);
}

static pr_status phone_create(sink_store *st, const sink_event *ev, phone_row *ph, char *err,
                              size_t errlen)
{
    int64_t id = sink_store_phone_id_take(st, ev->mac);
    sink_stmt *s = sink_store_stmt(st, id ? Q_PHONE_INSERT_ID : Q_PHONE_INSERT);
    if (!s)
        return sqlfail(st, err, errlen, "phone insert");
    sink_bind_text(s, 1, ev->mac);
    sink_bind_text(s, 2, ev->received_at);
    sink_bind_int64(s, 3, ev->partition);
    if (id)
        sink_bind_int64(s, 4, id);
    if (!insert_id(s, id, &ph->id))
        return sqlfail(st, err, errlen, "phone insert");
    ph->exists = true;
    return PR_OK;
}

/* What a report's changes share (version, report_id, at, via) is written once per report in
 * `reports`; a change row holds only the phone, the report, the name id and the values. The
 * pending changes go in one statement for the change rows and one for their outbox records. */
static pr_status flush_changes(sink_store *st, const sink_event *ev, phone_row *ph, char *err,
                               size_t errlen)
{
    sink_stmt *s;
    int rc, n = (int)ph->npending;
    char *texts[SINK_ROWS_MAX];
    if (n == 0)
        return PR_OK;
    if (!ph->report) {
        int64_t id = sink_store_report_id_take(st);
        if (!(s = sink_store_stmt(st, id ? Q_REPORT_INSERT_ID : Q_REPORT_INSERT)))
            return sqlfail(st, err, errlen, "report");
        sink_bind_int64(s, 1, ph->id);
        sink_bind_int64(s, 2, ph->version);
        sink_bind_text(s, 3, ev->report_id);
        sink_bind_text(s, 4, ev->received_at);
        sink_bind_text(s, 5, pr_kind_name(ev->kind));
        if (id)
            sink_bind_int64(s, 6, id);
        if (!insert_id(s, id, &ph->report))
            return sqlfail(st, err, errlen, "report");
    }
    if (!(s = sink_store_stmt_rows(st, SINK_ROWS_CHANGES, n)))
        return sqlfail(st, err, errlen, "change");
    for (int i = 0; i < n; i++) {
        sink_bind_int64(s, 5 * i + 1, ph->id);
        sink_bind_int64(s, 5 * i + 2, ph->report);
        sink_bind_int64(s, 5 * i + 3, ph->pending[i].param);
        sink_bind_text_static(s, 5 * i + 4, ph->pending[i].old);
        sink_bind_text_static(s, 5 * i + 5, ph->pending[i].new);
    }
    rc = sink_step(s);
    sink_reset(s);
    if (rc != SINK_DONE)
        return sqlfail(st, err, errlen, "change");
    for (int i = 0; i < n; i++)
        texts[i] = ph->pending[i].text;
    ph->npending = 0; /* the texts are handed over */
    return sink_store_outbox_put_texts(st, PR_TOPIC_CHANGES, ev->partition, ev->mac, texts,
                                       (size_t)n, err, errlen);
}

static pr_status record_change(sink_store *st, const sink_event *ev, phone_row *ph,
                               const char *name, int64_t name_id, const char *old_value,
                               const char *new_value, char *err, size_t errlen)
{
    char *text = pr_change_event_text(ev->mac, name, old_value, new_value, ev->received_at,
                                      ev->report_id, pr_kind_name(ev->kind), ph->version);
    if (!text)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    ph->pending[ph->npending].param = name_id;
    ph->pending[ph->npending].old = old_value;
    ph->pending[ph->npending].new = new_value;
    ph->pending[ph->npending++].text = text;
    return ph->npending == SINK_ROWS_MAX ? flush_changes(st, ev, ph, err, errlen) : PR_OK;
}

/* One parameter that the report changes (value or access), with its old value (NULL: new). */
static pr_status param_changed(sink_store *st, const sink_profiles *pf, const sink_event *ev,
                               phone_row *ph, const sink_phone_ref *ref, json_t *drift_rows,
                               const sink_doc_entry *e, const char *old, const char *value,
                               bool value_changed, sink_apply_result *res, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    res->upserts++;
    if (value_changed && sink_store_id_indexed(st, e->id, e->name) &&
        (rc = sink_store_index_change(st, ph->id, e->name, old, value, err, errlen)) != PR_OK)
        return rc;
    /* Baseline: a name with no known previous value records no change. */
    if (value_changed && (old || ph->known)) {
        res->changes++;
        rc = record_change(st, ev, ph, e->name, e->id, old, value, err, errlen);
    }
    if (rc == PR_OK && drift_rows && value &&
        (rc = flush_changes(st, ev, ph, err, errlen)) == PR_OK)
        rc = sink_drift_decide(st, ref, drift_rows, e->name, value,
                               sink_profiles_intended(pf, ev->mac, e->name), &res->transitions, err,
                               errlen);
    return rc;
}

static long long entry_weight(const sink_doc_entry *e)
{
    return sink_param_weight(e->name, e->value, e->access);
}

static pr_status bounds_check(const sink_apply_opts *opts, long long n, long long w, char *err,
                              size_t errlen)
{
    long long max_n = opts ? opts->max_params : 0, max_b = opts ? opts->max_state_bytes : 0;
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

/* The diff of the old and the new document (from the merge): what changed is written (index,
 * changes, drift of a delta's names); removals (a full report) come first, in name id order,
 * as changes to null, then the report's parameters in its order. */
static pr_status diff_docs(sink_store *st, const sink_profiles *pf, const sink_event *ev,
                           phone_row *ph, const sink_phone_ref *ref, const sink_doc *evd,
                           const sink_doc_diff *diff, sink_apply_result *res, char *err,
                           size_t errlen)
{
    json_t *drift_rows = NULL;
    pr_status rc = PR_OK;
    size_t *order = NULL;
    if (ev->kind != PR_KIND_FULL && pf && sink_profiles_count(pf) > 0 &&
        (rc = sink_drift_rows_load(st, ph->id, ev->mac, &drift_rows, err, errlen)) != PR_OK)
        return rc;
    for (size_t i = 0; i < diff->nremoved && rc == PR_OK; i++)
        rc = param_changed(st, pf, ev, ph, ref, NULL, diff->removed[i], diff->removed[i]->value,
                           NULL, true, res, err, errlen);
    if (rc == PR_OK && !(order = malloc((evd->n + 1) * sizeof *order)))
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    for (size_t i = 0; rc == PR_OK && i < evd->n; i++)
        order[evd->e[i].pos] = i;
    for (size_t k = 0; rc == PR_OK && k < evd->n; k++) {
        const sink_doc_entry *e = &evd->e[order[k]], *o = diff->old_of[k];
        bool value_changed = !o || o->vlen != e->vlen || memcmp(o->value, e->value, e->vlen) != 0;
        bool access_changed = !o || !sink_doc_same_access(e, o);
        if (value_changed || access_changed)
            rc = param_changed(st, pf, ev, ph, ref, drift_rows, e, o ? o->value : NULL, e->value,
                               value_changed, res, err, errlen);
        else if (drift_rows && (rc = flush_changes(st, ev, ph, err, errlen)) == PR_OK)
            rc = sink_drift_decide(st, ref, drift_rows, e->name, e->value,
                                   sink_profiles_intended(pf, ev->mac, e->name), &res->transitions,
                                   err, errlen);
    }
    if (rc == PR_OK && (rc = flush_changes(st, ev, ph, err, errlen)) == PR_OK)
        rc = sink_store_index_flush(st, err, errlen);
    free(order);
    if (rc == PR_OK) /* as written: the phone's next report in the transaction reads none */
        sink_store_drift_keep(st, ev->mac, drift_rows);
    else
        json_decref(drift_rows);
    return rc;
}

static pr_status step_done(sink_store *st, sink_stmt *s, char *err, size_t errlen, const char *what)
{
    int r = sink_step(s);
    sink_reset(s);
    return r == SINK_DONE ? PR_OK : sqlfail(st, err, errlen, what);
}

static pr_status apply_status(sink_store *st, const sink_event *ev, const phone_row *ph, char *err,
                              size_t errlen)
{
    pr_status rc;
    sink_stmt *s = sink_store_stmt(st, Q_STATUS_PUT);
    if (!s)
        return sqlfail(st, err, errlen, "status");
    sink_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, ev->report_id);
    sink_bind_text(s, 3, ev->received_at);
    sink_bind_text(s, 4, ev->status_text);
    if ((rc = step_done(st, s, err, errlen, "status")) != PR_OK)
        return rc;
    if (!(s = sink_store_stmt(st, Q_PHONE_UPDATE_STATUS)))
        return sqlfail(st, err, errlen, "status");
    sink_bind_int64(s, 1, ph->id);
    sink_bind_text(s, 2, ev->model);
    sink_bind_text(s, 3, ev->firmware);
    sink_bind_text(s, 4, ev->received_at);
    sink_bind_text(s, 5, ev->remote);
    sink_bind_int64(s, 6, ev->partition);
    return step_done(st, s, err, errlen, "status");
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
        sink_store_doc_moved(st, ph->id, ph->version, ph->version + 1);
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
    bool full = ev->kind == PR_KIND_FULL;
    sink_doc evd = {0}, tmp = {0}, nd = {0};
    sink_doc_diff diff = {0};
    const sink_doc *old = &tmp;
    /* the report's parameters as entries, then the new document and the diff in one pass */
    if ((rc = sink_store_doc_of_json(st, ev->params, ev->access, false, &evd, err, errlen)) !=
            PR_OK ||
        (ph->exists && ph->nparams > 0 &&
         (rc = sink_store_doc_read(st, ph->id, ph->version, &tmp, &old, err, errlen)) != PR_OK))
        goto out;
    if (sink_doc_merge(old, &evd, full, &nd, &diff) != PR_OK) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    /* the weight kept from the phone row: minus what the report replaces, plus what it brings */
    long long weight = full ? ev->weight : ph->weight;
    for (size_t i = 0; !full && i < evd.n; i++)
        weight += entry_weight(&evd.e[i]) -
                  (diff.old_of[evd.e[i].pos] ? entry_weight(diff.old_of[evd.e[i].pos]) : 0);
    if ((rc = bounds_check(opts, (long long)nd.n, weight, err, errlen)) != PR_OK ||
        (rc = sink_store_doc_intern(st, &evd, err, errlen)) != PR_OK ||
        (rc = sink_store_doc_intern(st, &nd, err, errlen)) != PR_OK)
        goto out;
    if (created && (rc = phone_create(st, ev, ph, err, errlen)) != PR_OK)
        goto out;
    ph->version++;
    ph->known = was_complete;
    ph->complete = ph->complete || full;
    res->version = ph->version;

    sink_phone_ref ref = {ph->id, ev->mac, ph->version, ev->received_at, ev->partition};
    if ((rc = diff_docs(st, pf, ev, ph, &ref, &evd, &diff, res, err, errlen)) != PR_OK)
        goto out;
    if ((res->upserts > 0 || created) &&
        (rc = sink_store_doc_put(st, ph->id, &nd, err, errlen)) != PR_OK)
        goto out;
    ph->nparams = (long long)nd.n;
    ph->weight = weight;
    /* The digest describes the document of the last full report; a delta that changed it
     * breaks that (NULL: the next full report is compared in memory once). */
    const unsigned char *digest = full                                  ? ev->digest
                                  : res->upserts == 0 && ph->has_digest ? ph->digest
                                                                        : NULL;
    if ((rc = phone_update(st, ev, ph, digest, err, errlen)) != PR_OK)
        goto out;
    if (digest && digest != ph->digest)
        memcpy(ph->digest, digest, sizeof ph->digest);
    ph->has_digest = digest != NULL;
    res->published = created || res->upserts > 0 || was_complete != ph->complete || source_changed;
    if (res->published && (rc = mark_state(st, ph, err, errlen)) != PR_OK)
        goto out;

    /* Prune the change history now and then (every 64 reports), so that a delta does not
     * pay for the history on every apply. */
    if (opts && opts->changes_keep > 0 && ph->version % 64 == 0) {
        if ((rc = sink_history_horizon(st, ph->id, opts->changes_keep, err, errlen)) != PR_OK)
            goto out;
        if (!(s = sink_store_stmt(st, Q_CHANGE_PRUNE))) {
            rc = sqlfail(st, err, errlen, "prune");
            goto out;
        }
        sink_bind_int64(s, 1, ph->id);
        sink_bind_int64(s, 2, opts->changes_keep);
        if ((rc = step_done(st, s, err, errlen, "prune")) != PR_OK)
            goto out;
        if (!(s = sink_store_stmt(st, Q_REPORT_PRUNE))) {
            rc = sqlfail(st, err, errlen, "prune");
            goto out;
        }
        sink_bind_int64(s, 1, ph->id);
        if ((rc = step_done(st, s, err, errlen, "prune")) != PR_OK)
            goto out;
    }
    if (full && (rc = sink_drift_phone(st, pf, &ref, &nd, created, &res->transitions, err,
                                       errlen)) != PR_OK)
        goto out;
    /* the old document (possibly the remembered one) is not used past here */
    sink_doc_diff_release(&diff);
    sink_store_doc_remember(st, ph->id, ph->version, &nd);
out:
    sink_doc_diff_release(&diff);
    sink_doc_release(&evd);
    sink_doc_release(&tmp);
    sink_doc_release(&nd);
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
    if (rc == PR_OK)
        phone_learn(st, ev, &ph);
    phone_row_release(&ph);
    return rc;
}
