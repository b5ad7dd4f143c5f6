/*
 * remediate.c - acting on drift (opt-in, --remediate-drift resync): a phone whose drift has
 * been open for remediate-after is sent a SIP NOTIFY with `Event: resync` (Cisco MPP: fetch
 * the profile from Profile_Rule again and apply it), at most once per remediate-interval,
 * never for parameters of remediate-ignore; POST /v1/phones/{mac}/resync asks one phone now.
 * The phone then reports (its Report_Rule), and the drift resolves by the usual compare.
 *
 * DESIGN: no thread of its own. The re-baseline thread (rebaseline.c) runs a round here after
 * its own NOTIFYs, on its own connection, within its fleet-wide rate (rebaseline-rate counts
 * both kinds): this file owns a second pr_sipnotify (the Event header is per sender) made and
 * freed on that thread. Outcomes go to `remediations` (one row per phone: the last attempt)
 * in one small transaction per round; the interval is that row's attempted_at. Whether the
 * drift resolved is read when the API asks (the drift table and the phone's last report), so
 * the writer never touches remediation rows.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sink_internal.h"
#include "sipnotify.h"

#define ROUND_MAX    512  /* API requests and candidates of one round */
#define SCAN_ROWS    4096 /* drift rows read per round at most */
#define PARAMS_SHOWN 16   /* drifted parameters named in a result */
#define IGNORE_MAX   64

struct sink_remediate {
    const sink_cfg *cfg;
    bool on; /* remediate-drift resync */
    char *ignore_spec;
    char *ignore[IGNORE_MAX];
    size_t nignore;
    pr_sipnotify *sip; /* the re-baseline thread's */
    pr_counter *c_outcome[SINK_NOTIFY_OUTCOMES];
    /* one round */
    sink_rb_target t[ROUND_MAX];
    json_t *params[ROUND_MAX]; /* the drifted parameters that triggered it (NULL: API) */
    json_t *result[ROUND_MAX];
    size_t n;
};

/* Splits a comma-separated list of names and globs into v (pointers into spec, blanks around
 * each trimmed); -1 for an empty entry or more than max. */
static int split(char *spec, char **v, size_t max, size_t *n)
{
    char *tok = spec;
    *n = 0;
    for (;;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (!len || *n == max)
            return -1;
        v[(*n)++] = tok;
        if (!comma)
            return 0;
        tok = comma + 1;
    }
}

pr_status sink_remediate_check(const sink_cfg *cfg, char *err, size_t errlen)
{
    const char *mode = cfg->remediate_drift;
    if (mode && strcmp(mode, "off") != 0 && strcmp(mode, "resync") != 0)
        return pr_err(PR_EINVAL, err, errlen, "remediate-drift: '%s' is not off or resync", mode);
    if (mode && strcmp(mode, "resync") == 0 && (!cfg->rebaseline_credentials || !cfg->profiles_dir))
        return pr_err(PR_EINVAL, err, errlen,
                      "remediate-drift resync needs rebaseline-credentials (to send the NOTIFY) "
                      "and profiles-dir (to know the drift)");
    if (cfg->remediate_ignore) {
        char *copy = strdup(cfg->remediate_ignore), *v[IGNORE_MAX];
        size_t n;
        int bad = !copy || split(copy, v, IGNORE_MAX, &n) != 0;
        free(copy);
        if (bad)
            return pr_err(PR_EINVAL, err, errlen,
                          "remediate-ignore: expected up to %d names or globs separated by "
                          "commas, none empty",
                          IGNORE_MAX);
    }
    return PR_OK;
}

json_t *sink_notify_result_new(const struct pr_sipnotify_result *r, const char *now,
                               const char *trigger, const char *target)
{
    return json_pack("{ss so ss ss ss ss sb}", "outcome", pr_sipnotify_outcome_name(r->outcome),
                     "status", r->status ? json_integer(r->status) : json_null(), "reason",
                     r->reason, "at", now, "trigger", trigger, "target", target, "challenged",
                     r->challenged);
}

void sink_notify_counters(pr_metrics *m, const char *name, const char *help, pr_counter **out)
{
    static const char *const names[SINK_NOTIFY_OUTCOMES] = {
        "accepted", "refused", "timeout", "unreachable", "bad_response", "not_sent", "skipped"};
    for (int i = 0; i < SINK_NOTIFY_OUTCOMES; i++)
        out[i] = pr_metrics_counter_by(m, name, help, "outcome", names[i]);
}

void sink_notify_count(pr_counter *const *counters, int outcome)
{
    if (outcome >= 0 && outcome < SINK_NOTIFY_OUTCOMES)
        pr_counter_inc(counters[outcome]);
}

pr_status sink_remediate_new(const sink_cfg *cfg, pr_metrics *metrics, sink_remediate **out,
                             char *err, size_t errlen)
{
    sink_remediate *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    r->cfg = cfg;
    r->on = cfg->remediate_drift && strcmp(cfg->remediate_drift, "resync") == 0;
    if (cfg->remediate_ignore && (!(r->ignore_spec = strdup(cfg->remediate_ignore)) ||
                                  split(r->ignore_spec, r->ignore, IGNORE_MAX, &r->nignore) != 0)) {
        sink_remediate_free(r);
        return pr_err(PR_EINVAL, err, errlen, "remediate-ignore: malformed");
    }
    sink_notify_counters(
        metrics, "phonereport_sink_remediations_total",
        "Phones asked to resync (SIP NOTIFY, Event: resync) for open drift or through the API, "
        "by outcome; skipped: not asked (no address, only ignored parameters drift)",
        r->c_outcome);
    *out = r;
    return PR_OK;
}

static void round_clear(sink_remediate *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->params[i]);
        json_decref(r->result[i]);
        r->params[i] = r->result[i] = NULL;
    }
    r->n = 0;
}

void sink_remediate_free(sink_remediate *r)
{
    if (!r)
        return;
    round_clear(r);
    sink_remediate_thread_end(r);
    free(r->ignore_spec);
    free(r);
}

pr_status sink_remediate_thread_start(sink_remediate *r, const struct pr_sipnotify_opts *o,
                                      char *err, size_t errlen)
{
    pr_sipnotify_opts ro = *o;
    ro.event = "resync";
    return pr_sipnotify_new(&ro, &r->sip, err, errlen);
}

void sink_remediate_thread_end(sink_remediate *r)
{
    if (!r)
        return;
    pr_sipnotify_free(r->sip);
    r->sip = NULL;
}

static bool ignored(const sink_remediate *r, const char *name)
{
    for (size_t i = 0; i < r->nignore; i++)
        if (fnmatch(r->ignore[i], name, 0) == 0)
            return true;
    return false;
}

/* A target for mac (trigger static), its address from the re-baseline's rules. */
static void add_target(sink_remediate *r, sink_store *st, const sink_rb_policy *p, const char *mac,
                       const char *trigger, json_t *params)
{
    char err[256];
    sink_rb_target *t = &r->t[r->n];
    pr_status rc = sink_rebaseline_target(st, p, mac, t, err, sizeof err);
    if (rc == PR_ENOTFOUND || rc == PR_EFATAL) {
        PR_LOG(PR_LOG_WARN, "sink", "resync dropped",
               json_pack("{ss ss}", "mac", mac, "error", err));
        json_decref(params);
        return;
    }
    snprintf(t->mac, sizeof t->mac, "%s", mac);
    if (rc == PR_EINVAL && !*t->skipped)
        snprintf(t->skipped, sizeof t->skipped, "%.119s", err);
    t->trigger = trigger;
    r->params[r->n] = params;
    r->result[r->n] = NULL;
    r->n++;
}

/* Phones with drift open since p->... (the candidates), grouped by phone. */
static void scan(sink_remediate *r, sink_store *st, const sink_rb_policy *p, size_t max)
{
    char since[32], asked[32], mac[PR_MAC_LEN + 1] = "";
    long long now = sink_real_ms();
    json_t *params = NULL;
    bool any = false; /* a parameter of the current phone not ignored */
    sink_stmt *s = sink_store_stmt(st, Q_REMEDIATE_CANDIDATES);
    int rc;
    sink_time_rfc3339(now - r->cfg->remediate_after_ms, since, sizeof since);
    sink_time_rfc3339(now - r->cfg->remediate_interval_ms, asked, sizeof asked);
    if (!s) {
        PR_LOG(PR_LOG_ERROR, "sink", "resync candidates unreadable",
               json_pack("{ss}", "error", sink_store_errmsg(st)));
        return;
    }
    sink_bind_text(s, 1, since);
    sink_bind_text(s, 2, asked);
    sink_bind_int64(s, 3, SCAN_ROWS);
    sink_bind_text(s, 4, p->parts);
    /* read first (the per-phone reads use other statements): macs and parameters */
    json_t *rows = json_array();
    while (rows && (rc = sink_step(s)) == SINK_ROW)
        json_array_append_new(rows, json_pack("[ss]", sink_col_text(s, 0), sink_col_text(s, 1)));
    sink_reset(s);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *m = json_string_value(json_array_get(row, 0));
        const char *name = json_string_value(json_array_get(row, 1));
        if (!m || !name)
            continue;
        if (strcmp(m, mac) != 0) {
            if (*mac && r->n < max)
                add_target(r, st, p, mac, any ? "drift" : "ignored", params);
            else
                json_decref(params);
            snprintf(mac, sizeof mac, "%s", m);
            params = json_array();
            any = false;
        }
        if (!ignored(r, name)) {
            any = true;
            if (json_array_size(params) < PARAMS_SHOWN)
                json_array_append_new(params, json_string(name));
        }
    }
    /* the last phone may be cut short by SCAN_ROWS: it is complete unless the rows were */
    if (*mac && r->n < max && json_array_size(rows) < SCAN_ROWS)
        add_target(r, st, p, mac, any ? "drift" : "ignored", params);
    else
        json_decref(params);
    json_decref(rows);
}

size_t sink_remediate_prepare(sink_remediate *r, sink_store *st, const sink_rb_policy *p,
                              bool scan_now, char (*queued)[PR_MAC_LEN + 1], size_t nq)
{
    size_t per_round = (size_t)(r->cfg->rebaseline_rate > 256 ? 256 : r->cfg->rebaseline_rate);
    size_t sends = 0;
    round_clear(r);
    for (size_t i = 0; i < nq && r->n < ROUND_MAX; i++)
        add_target(r, st, p, queued[i], "api", NULL);
    if (r->on && scan_now)
        scan(r, st, p, r->n + (per_round ? per_round : 1));
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->t[i].trigger, "ignored") == 0 && !*r->t[i].skipped)
            snprintf(r->t[i].skipped, sizeof r->t[i].skipped,
                     "every drifted parameter is in remediate-ignore");
        sends += !*r->t[i].skipped;
    }
    return sends;
}

static void on_result(void *ctx, const pr_sipnotify_target *t, const pr_sipnotify_result *res)
{
    sink_remediate *r = ctx;
    size_t i = (size_t)(uintptr_t)t->opaque;
    char now[32];
    sink_now_rfc3339(now, sizeof now);
    sink_notify_count(r->c_outcome, (int)res->outcome);
    r->result[i] = sink_notify_result_new(res, now, r->t[i].trigger, t->uri);
    PR_LOG(res->outcome == PR_SIPNOTIFY_ACCEPTED ? PR_LOG_INFO : PR_LOG_WARN, "sink",
           "resync requested",
           json_pack("{ss ss ss ss si}", "mac", t->mac, "trigger", r->t[i].trigger, "target",
                     t->uri, "outcome", pr_sipnotify_outcome_name(res->outcome), "status",
                     res->status));
}

void sink_remediate_send(sink_remediate *r)
{
    pr_sipnotify_target st[ROUND_MAX];
    size_t ns = 0;
    char err[256];
    if (!r->sip)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (!*r->t[i].skipped)
            st[ns++] = (pr_sipnotify_target){r->t[i].uri, r->cfg->rebaseline_proxy, r->t[i].mac,
                                             (void *)(uintptr_t)i};
    if (ns > 0 && pr_sipnotify_send(r->sip, st, ns, on_result, r, err, sizeof err) != PR_OK)
        PR_LOG(PR_LOG_ERROR, "sink", "resync NOTIFYs failed", json_pack("{ss}", "error", err));
}

void sink_remediate_record(sink_remediate *r, sink_store *st)
{
    char err[512], now[32];
    if (r->n == 0)
        return;
    sink_now_rfc3339(now, sizeof now);
    pr_status rc = sink_store_begin(st, err, sizeof err);
    for (size_t i = 0; i < r->n && rc == PR_OK; i++) {
        json_t *res = r->result[i];
        r->result[i] = NULL;
        if (*r->t[i].skipped) {
            res = json_pack("{ss ss ss}", "skipped", r->t[i].skipped, "at", now, "trigger",
                            r->t[i].trigger);
            sink_notify_count(r->c_outcome, SINK_NOTIFY_SKIPPED);
        }
        if (!res) /* not sent: stopped meanwhile, asked again later */
            continue;
        if (r->params[i])
            json_object_set(res, "params", r->params[i]);
        char *text = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
        sink_stmt *s = sink_store_stmt(st, Q_REMEDIATE_RECORD);
        json_decref(res);
        if (!text || !s) {
            rc = pr_err(PR_EFATAL, err, sizeof err, "resync record: %s",
                        text ? sink_store_errmsg(st) : "out of memory");
        } else {
            sink_bind_text(s, 1, r->t[i].mac);
            sink_bind_text(s, 2, now);
            sink_bind_text(s, 3, text);
            rc = sink_exec_stmt(s, "resync record", err, sizeof err);
        }
        free(text);
    }
    if (rc == PR_OK)
        rc = sink_store_commit(st, err, sizeof err);
    if (rc != PR_OK) {
        sink_store_rollback(st);
        PR_LOG(PR_LOG_ERROR, "sink", "resync results not stored (asked again later)",
               json_pack("{ss}", "error", err));
    }
    round_clear(r);
}

pr_status sink_remediate_summary(sink_store *st, int64_t phone, json_t **out, char *err,
                                 size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_REMEDIATE_GET);
    pr_status rc = PR_OK;
    *out = NULL;
    if (!s)
        return pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
    sink_bind_int64(s, 1, phone);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        const char *at = sink_col_text(s, 0), *updated = sink_col_text(s, 2);
        int64_t open = sink_col_int64(s, 3);
        json_t *o = json_loads(sink_col_text(s, 1) ? sink_col_text(s, 1) : "", 0, NULL);
        bool reported = updated && at && strcmp(updated, at) > 0;
        if (!json_is_object(o)) {
            json_decref(o);
            o = json_object();
        }
        if (!o || json_object_set_new(o, "attempted_at", json_string(at ? at : "")) != 0 ||
            json_object_set_new(o, "drift", json_string(open ? "open" : "resolved")) != 0 ||
            json_object_set_new(o, "reported_since", json_boolean(reported)) != 0 ||
            json_object_set_new(o, "open_drift", json_integer(open)) != 0) {
            json_decref(o);
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        } else {
            *out = o;
        }
    } else if (r != SINK_DONE) {
        rc = pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
    }
    sink_stmt_free(s);
    return rc;
}
