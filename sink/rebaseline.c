/*
 * rebaseline.c - the sink asks phones it does not fully know for a report: an authenticated
 * SIP NOTIFY with `Event: report` (proto/sipnotify.h), as `phonereport notify` sends it.
 *
 * Why: a Cisco MPP phone at its default Report_To_Server (On Request) reports only when it
 * restarts or is asked. A phone whose first report was a delta stays incomplete until then,
 * and a fleet left at the default is invisible between restarts. With rebaseline-credentials
 * set, the sink asks (a) every phone whose state is incomplete and (b), with
 * rebaseline-after, every phone not seen for that long; each phone at most once per
 * rebaseline-interval, the fleet at most rebaseline-rate NOTIFYs per second. A phone whose
 * reported Report_Rule has no full-report rule (every rule is --delta or --status) would answer
 * with no full report: it is not asked, and the reason is stored for the API instead.
 *
 * DESIGN: one thread of its own (never the consumer's: a NOTIFY waits seconds for a phone),
 * which owns the pr_sipnotify (one per thread, its event loop runs in the calling thread) and
 * its own read-write store connection. It reads candidates on that connection and writes each
 * round's outcomes in one small transaction there (Q_REBASE_RESULT touches only the
 * re-baseline columns of the phone row): SQLite has one writer at a time, and the busy timeout
 * (10 s) makes this transaction wait for the consumer's open batch (sink-batch-time) rather
 * than fail, as the publisher's deletes of outbox rows do. Sending the outcomes to the
 * consumer thread instead would couple the SIP side to the Kafka loop for no gain: the columns
 * are the re-baseline's alone. The API thread only queues requests (a MAC) and wakes the
 * thread; the result shows in the phone summary once the NOTIFY is answered.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rule.h"
#include "sink_internal.h"
#include "sipcreds.h"
#include "sipnotify.h"
#include "thread.h"

#define QUEUE_MAX  256
#define BATCH_MAX  256
#define N_OUTCOMES SINK_NOTIFY_OUTCOMES /* the six of sipnotify.h, then "skipped" */

struct sink_rebaseline {
    const sink_cfg *cfg;
    pr_sipcreds *creds;
    pr_sipnotify *sip; /* made, used and freed by the thread: Sofia's loop is bound to it */
    int init;          /* under mu: 0 starting, 1 the thread runs, -1 it could not bind */
    char init_err[512];
    sink_store *st;    /* the thread's connection */
    sink_parts *owned; /* the sink's partitions (a shared store); NULL = every phone */
    pr_thread thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char queue[QUEUE_MAX][PR_MAC_LEN + 1]; /* under mu */
    bool qresync[QUEUE_MAX];               /* the entry asks for a resync (remediate.c) */
    size_t qlen;
    sink_remediate *rem; /* resyncs: their sender, candidates and outcomes */
    pr_counter *c_outcome[N_OUTCOMES];
    /* one round */
    sink_rb_target targets[BATCH_MAX + QUEUE_MAX];
    json_t *results[BATCH_MAX + QUEUE_MAX];
};

/* ---- time as the store writes it -------------------------------------------------------- */

static long long real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rfc3339(long long ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t n;
    gmtime_r(&t, &tm);
    n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03uZ", (unsigned)((unsigned long long)ms % 1000u));
}

/* ---- candidates ------------------------------------------------------------------------- */

static pr_status sqlfail(sink_store *st, char *err, size_t errlen)
{
    return pr_err(PR_EFATAL, err, errlen, "rebaseline: %s", sink_store_errmsg(st));
}

/* A reported parameter of the phone (copy in *out, NULL when the phone has not reported it). */
static pr_status param_of(sink_store *st, int64_t phone, const char *name, char **out, char *err,
                          size_t errlen)
{
    json_t *params = NULL, *access = NULL;
    pr_status rc = sink_store_doc_get(st, phone, &params, &access, err, errlen);
    const char *v = rc == PR_OK ? json_string_value(json_object_get(params, name)) : NULL;
    *out = NULL;
    if (v && !(*out = strdup(v)))
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    json_decref(params);
    json_decref(access);
    return rc;
}

/* Characters that stand in a SIP URI's user or host part without escaping. */
static bool uri_safe(const char *s, const char *extra)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              strchr(extra, *s)))
            return false;
    return true;
}

/* The host of the stored remote address ("192.0.2.7", "2001:db8::7", or either with a port:
 * the port is the phone's HTTP source port, never its SIP port). -1 when malformed. */
static int remote_host(const char *remote, char *host, size_t hostlen)
{
    const char *p = remote, *end;
    size_t n;
    if (!remote || !*remote)
        return -1;
    if (p[0] == '[') {
        if (!(end = strchr(++p, ']')))
            return -1;
        n = (size_t)(end - p);
    } else if ((end = strchr(p, ':')) && !strchr(end + 1, ':')) {
        n = (size_t)(end - p); /* IPv4 with a port */
    } else {
        n = strlen(p);
    }
    char h[80];
    if (n == 0 || n >= sizeof h)
        return -1;
    memcpy(h, p, n);
    h[n] = '\0';
    if (!uri_safe(h, ".:-"))
        return -1;
    if ((size_t)snprintf(host, hostlen, strchr(h, ':') ? "[%s]" : "%s", h) >= hostlen)
        return -1;
    return 0;
}

/* The NOTIFY's Request-URI for a phone: the line's AOR through the proxy, or its last
 * address (with User_ID_1_ as the user part when reported: the phone routes a request to a
 * line by it, and credentials files name users by it). "" with t->skipped set otherwise. */
static pr_status build_uri(sink_store *st, const sink_rb_policy *p, int64_t id, const char *remote,
                           sink_rb_target *t, char *err, size_t errlen)
{
    char *user = NULL, *proxy = NULL, host[100];
    pr_status rc = param_of(st, id, "User_ID_1_", &user, err, errlen);
    if (rc == PR_OK && p->proxy)
        rc = param_of(st, id, "Proxy_1_", &proxy, err, errlen);
    if (rc != PR_OK)
        goto out;
    bool user_ok = uri_safe(user, "-_.!~*'()&=+$,;?/");
    if (p->proxy) {
        if (!user_ok || !uri_safe(proxy, ".:-[]"))
            snprintf(t->skipped, sizeof t->skipped,
                     "no address of record (User_ID_1_ and Proxy_1_ not reported)");
        else
            snprintf(t->uri, sizeof t->uri, "sip:%s@%s", user, proxy);
    } else if (remote_host(remote, host, sizeof host) != 0) {
        snprintf(t->skipped, sizeof t->skipped, "no usable address (remote)");
    } else {
        snprintf(t->uri, sizeof t->uri, "sip:%s%s%s:%lld", user_ok ? user : "", user_ok ? "@" : "",
                 host, p->sip_port);
    }
out:
    free(user);
    free(proxy);
    return rc;
}

/* Whether the phone's reported Report_Rule lets it answer with a full report; why not in
 * t->skipped. A phone that has not reported its rule is asked (nothing says it cannot). */
static pr_status check_rule(sink_store *st, int64_t id, sink_rb_target *t, char *err, size_t errlen)
{
    char *text = NULL, why[100];
    pr_report_rules rules;
    pr_status rc = param_of(st, id, "Report_Rule", &text, err, errlen);
    if (rc != PR_OK || !text)
        return rc;
    if (pr_rules_parse(text, &rules, why, sizeof why) != PR_OK) {
        snprintf(t->skipped, sizeof t->skipped, "Report_Rule does not parse: %.80s", why);
    } else {
        bool full = false;
        for (size_t i = 0; i < rules.n; i++)
            full |= rules.rule[i].kind == PR_KIND_FULL;
        if (!full)
            snprintf(t->skipped, sizeof t->skipped, "no full-report rule");
        pr_rules_release(&rules);
    }
    free(text);
    return PR_OK;
}

pr_status sink_rebaseline_candidates(sink_store *st, const sink_rb_policy *p, size_t max,
                                     sink_rb_target *out, size_t *n, char *err, size_t errlen)
{
    struct cand {
        int64_t id;
        char mac[PR_MAC_LEN + 1];
        char *remote;
        bool complete;
    } *c = calloc(max ? max : 1, sizeof *c);
    size_t k = 0;
    pr_status rc = PR_OK;
    int r = SINK_DONE;
    sink_stmt *s = sink_store_stmt(st, Q_REBASE_CANDIDATES);
    *n = 0;
    if (!c || !s) {
        free(c);
        return c ? sqlfail(st, err, errlen) : pr_err(PR_EFATAL, err, errlen, "out of memory");
    }
    sink_bind_text(s, 1, p->seen_before);
    sink_bind_text(s, 2, p->checked_before);
    sink_bind_int64(s, 3, (int64_t)max);
    sink_bind_text(s, 4, p->parts);
    while (k < max && (r = sink_step(s)) == SINK_ROW) {
        c[k].id = sink_col_int64(s, 0);
        snprintf(c[k].mac, sizeof c[k].mac, "%s", sink_col_text(s, 1));
        const char *remote = sink_col_text(s, 2); /* NULL: no address known */
        c[k].remote = remote ? strdup(remote) : NULL;
        c[k].complete = (int)sink_col_int64(s, 3) != 0;
        k++;
        if (remote && !c[k - 1].remote) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            break;
        }
    }
    if (rc == PR_OK && k < max && r != SINK_DONE)
        rc = sqlfail(st, err, errlen);
    sink_reset(s);
    /* The statement is done before the per-phone reads (they use other statements). */
    for (size_t i = 0; i < k && rc == PR_OK; i++) {
        sink_rb_target *t = &out[*n];
        memset(t, 0, sizeof *t);
        memcpy(t->mac, c[i].mac, sizeof t->mac);
        t->trigger = c[i].complete ? "not_seen" : "incomplete";
        if ((rc = check_rule(st, c[i].id, t, err, errlen)) == PR_OK && !*t->skipped)
            rc = build_uri(st, p, c[i].id, c[i].remote, t, err, errlen);
        if (rc == PR_OK)
            (*n)++;
    }
    for (size_t i = 0; i < k; i++)
        free(c[i].remote);
    free(c);
    return rc;
}

pr_status sink_rebaseline_target(sink_store *st, const sink_rb_policy *p, const char *mac,
                                 sink_rb_target *out, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_DOC_PHONE_BY_MAC);
    int64_t id = 0;
    char *remote = NULL;
    pr_status rc = PR_OK;
    memset(out, 0, sizeof *out);
    if (!s)
        return sqlfail(st, err, errlen);
    sink_bind_text(s, 1, mac);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        id = sink_col_int64(s, 0);
        const char *rv = sink_col_text(s, 10);
        remote = rv ? strdup(rv) : NULL;
    }
    sink_reset(s);
    if (r == SINK_DONE)
        return pr_err(PR_ENOTFOUND, err, errlen, "unknown phone");
    if (r != SINK_ROW)
        return sqlfail(st, err, errlen);
    snprintf(out->mac, sizeof out->mac, "%s", mac);
    out->trigger = "api";
    if (!remote && !p->proxy)
        rc = pr_err(PR_EINVAL, err, errlen, "the sink knows no address for this phone");
    else if ((rc = build_uri(st, p, id, remote, out, err, errlen)) == PR_OK && *out->skipped)
        rc = pr_err(PR_EINVAL, err, errlen, "%s", out->skipped);
    free(remote);
    return rc;
}

pr_status sink_rebaseline_record(sink_store *st, const sink_rb_target *t, const char *now,
                                 bool sent, json_t *result, char *err, size_t errlen)
{
    char *text = result ? json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    sink_stmt *s = sink_store_stmt(st, Q_REBASE_RESULT);
    pr_status rc = PR_OK;
    json_decref(result);
    if (!text || !s) {
        free(text);
        return text ? sqlfail(st, err, errlen) : pr_err(PR_EFATAL, err, errlen, "out of memory");
    }
    sink_bind_text(s, 1, t->mac);
    sink_bind_text(s, 2, now);
    sink_bind_text(s, 3, sent ? now : NULL);
    sink_bind_text(s, 4, text);
    if (sink_step(s) != SINK_DONE)
        rc = sqlfail(st, err, errlen);
    sink_reset(s);
    free(text);
    return rc;
}

/* ---- the thread ------------------------------------------------------------------------- */

static _Thread_local sink_rebaseline *tl_self; /* for the stop hook, which has no context */

static bool stop_requested(void)
{
    return tl_self && pr_thread_stopping(&tl_self->thread);
}

static void on_result(void *ctx, const pr_sipnotify_target *t, const pr_sipnotify_result *r)
{
    sink_rebaseline *rb = ctx;
    size_t i = (size_t)(uintptr_t)t->opaque;
    char now[32];
    if (r->outcome == PR_SIPNOTIFY_NOT_SENT && pr_thread_stopping(&rb->thread))
        return; /* stopped before sending: considered again at the next start */
    rfc3339(real_ms(), now, sizeof now);
    sink_notify_count(rb->c_outcome, (int)r->outcome);
    rb->results[i] = sink_notify_result_new(r, now, rb->targets[i].trigger, t->uri);
    PR_LOG(
        r->outcome == PR_SIPNOTIFY_ACCEPTED ? PR_LOG_INFO : PR_LOG_WARN, "sink", "report requested",
        json_pack("{ss ss ss si ss}", "mac", t->mac, "target", t->uri, "outcome",
                  pr_sipnotify_outcome_name(r->outcome), "status", r->status, "reason", r->reason));
}

/* Waits until deadline (monotonic ms) or stop, and with `any` until a queued request too. */
static void nap(sink_rebaseline *rb, long long deadline, bool any)
{
    pthread_mutex_lock(&rb->mu);
    while (!pr_thread_stopping(&rb->thread) && !(any && rb->qlen > 0) && mono_ms() < deadline) {
        struct timespec ts;
        long long left = deadline - mono_ms();
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (left > 200 ? 200 : left) * 1000000LL;
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&rb->cv, &rb->mu, &ts);
    }
    pthread_mutex_unlock(&rb->mu);
}

/* Writes the round's outcomes in one transaction. */
static void record_round(sink_rebaseline *rb, size_t n)
{
    char err[512], now[32];
    pr_status rc = sink_store_begin(rb->st, err, sizeof err);
    rfc3339(real_ms(), now, sizeof now);
    for (size_t i = 0; i < n && rc == PR_OK; i++) {
        sink_rb_target *t = &rb->targets[i];
        json_t *res = rb->results[i];
        rb->results[i] = NULL;
        if (*t->skipped) {
            res = json_pack("{ss ss ss}", "skipped", t->skipped, "at", now, "trigger", t->trigger);
            sink_notify_count(rb->c_outcome, N_OUTCOMES - 1);
        }
        if (res)
            rc = sink_rebaseline_record(rb->st, t, now, !*t->skipped, res, err, sizeof err);
    }
    for (size_t i = 0; i < n; i++) {
        json_decref(rb->results[i]);
        rb->results[i] = NULL;
    }
    if (rc == PR_OK)
        rc = sink_store_commit(rb->st, err, sizeof err);
    if (rc != PR_OK) {
        sink_store_rollback(rb->st);
        PR_LOG(PR_LOG_ERROR, "sink", "re-baseline results not stored (asked again later)",
               json_pack("{ss}", "error", err));
    }
}

static void *run(void *arg)
{
    sink_rebaseline *rb = arg;
    const sink_cfg *cfg = rb->cfg;
    long long scan_ms = cfg->rebaseline_interval_ms / 2;
    long long next_scan = 0, next_send = 0;
    const long long gap = 1000 / (cfg->rebaseline_rate > 0 ? cfg->rebaseline_rate : 1);
    size_t per_round =
        (size_t)(cfg->rebaseline_rate > BATCH_MAX ? BATCH_MAX : cfg->rebaseline_rate);
    char err[512];
    pr_sipnotify_opts o = {
        .concurrency = BATCH_MAX + QUEUE_MAX,
        .rate = (double)cfg->rebaseline_rate,
        .deadline_ms = cfg->rebaseline_timeout_ms,
        .stop_requested = stop_requested,
        .credentials = pr_sipcreds_answer,
        .credentials_ctx = rb->creds,
    };
    pr_status rc = pr_sipnotify_new(&o, &rb->sip, err, sizeof err);
    if (rc == PR_OK)
        rc = sink_remediate_thread_start(rb->rem, &o, err, sizeof err);
    pthread_mutex_lock(&rb->mu);
    rb->init = rc == PR_OK ? 1 : -1;
    snprintf(rb->init_err, sizeof rb->init_err, "%s", rc == PR_OK ? "" : err);
    pthread_cond_broadcast(&rb->cv);
    pthread_mutex_unlock(&rb->mu);
    if (rc != PR_OK) {
        pr_sipnotify_free(rb->sip);
        rb->sip = NULL;
        return NULL;
    }
    tl_self = rb;
    scan_ms = scan_ms < 200 ? 200 : scan_ms > 5000 ? 5000 : scan_ms;
    per_round = per_round ? per_round : 1;
    while (!pr_thread_stopping(&rb->thread)) {
        char now[32], seen[32], checked[32];
        char queued[QUEUE_MAX][PR_MAC_LEN + 1], resync[QUEUE_MAX][PR_MAC_LEN + 1];
        size_t nq = 0, nr = 0, n = 0;
        long long t = real_ms();
        rfc3339(t, now, sizeof now);
        rfc3339(t - cfg->rebaseline_after_ms, seen, sizeof seen);
        rfc3339(t - cfg->rebaseline_interval_ms, checked, sizeof checked);
        char parts[8192];
        sink_rb_policy p = {now,
                            cfg->rebaseline_after_ms > 0 ? seen : NULL,
                            checked,
                            cfg->rebaseline_sip_port,
                            cfg->rebaseline_proxy,
                            NULL};
        if (rb->owned && sink_store_dialect(rb->st) == SINK_DIALECT_PG) {
            sink_parts_text(rb->owned, parts, sizeof parts);
            p.parts = parts; /* a shared store: only the phones of this sink's partitions */
        }
        pthread_mutex_lock(&rb->mu);
        for (size_t i = 0; i < rb->qlen; i++)
            memcpy(rb->qresync[i] ? resync[nr++] : queued[nq++], rb->queue[i], sizeof queued[0]);
        rb->qlen = 0;
        pthread_mutex_unlock(&rb->mu);
        /* Requests through the API first: no interval, no rule check (an operator asked). */
        for (size_t i = 0; i < nq; i++) {
            if (sink_rebaseline_target(rb->st, &p, queued[i], &rb->targets[n], err, sizeof err) ==
                PR_OK)
                n++;
            else
                PR_LOG(PR_LOG_WARN, "sink", "report request dropped",
                       json_pack("{ss ss}", "mac", queued[i], "error", err));
        }
        bool full_batch = false, scanned = mono_ms() >= next_scan;
        if (scanned) {
            size_t got = 0;
            if (sink_rebaseline_candidates(rb->st, &p, per_round, &rb->targets[n], &got, err,
                                           sizeof err) != PR_OK)
                PR_LOG(PR_LOG_ERROR, "sink", "re-baseline candidates unreadable",
                       json_pack("{ss}", "error", err));
            full_batch = got == per_round;
            n += got;
            next_scan = mono_ms() + (full_batch ? 0 : scan_ms);
        }
        /* The NOTIFYs of the round, at the fleet-wide rate across rounds too. */
        pr_sipnotify_target st[BATCH_MAX + QUEUE_MAX];
        size_t ns = 0;
        for (size_t i = 0; i < n; i++) {
            if (*rb->targets[i].skipped)
                continue;
            st[ns++] = (pr_sipnotify_target){rb->targets[i].uri, cfg->rebaseline_proxy,
                                             rb->targets[i].mac, (void *)(uintptr_t)i};
        }
        if (ns > 0) {
            nap(rb, next_send, false);
            if (pr_thread_stopping(&rb->thread))
                break;
            next_send = mono_ms() + (long long)ns * gap;
            if (pr_sipnotify_send(rb->sip, st, ns, on_result, rb, err, sizeof err) != PR_OK)
                PR_LOG(PR_LOG_ERROR, "sink", "re-baseline NOTIFYs failed",
                       json_pack("{ss}", "error", err));
        }
        if (n > 0)
            record_round(rb, n);
        /* Resyncs (remediate.c), within the same fleet-wide rate. */
        size_t nsync = sink_remediate_prepare(rb->rem, rb->st, &p, scanned, resync, nr);
        if (nsync > 0) {
            nap(rb, next_send, false);
            if (pr_thread_stopping(&rb->thread))
                break;
            next_send = mono_ms() + (long long)nsync * gap;
            sink_remediate_send(rb->rem);
        }
        sink_remediate_record(rb->rem, rb->st);
        if (!full_batch)
            nap(rb, next_scan, true);
    }
    sink_remediate_thread_end(rb->rem);
    pr_sipnotify_free(rb->sip);
    rb->sip = NULL;
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

pr_status sink_rebaseline_new(const sink_cfg *cfg, pr_metrics *metrics, sink_rebaseline **out,
                              char *err, size_t errlen)
{
    pr_status rc;
    char e[400];
    sink_rebaseline *rb = calloc(1, sizeof *rb);
    *out = NULL;
    if (!rb)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    rb->cfg = cfg;
    pthread_mutex_init(&rb->mu, NULL);
    pthread_cond_init(&rb->cv, NULL);
    if ((rc = pr_sipcreds_load(cfg->rebaseline_credentials, &rb->creds, e, sizeof e)) != PR_OK) {
        rc = pr_err(rc, err, errlen, "rebaseline-credentials: %s", e);
        goto fail;
    }
    if ((rc = sink_store_open(sink_cfg_store(cfg), false, cfg->sync, &rb->st, err, errlen)) !=
        PR_OK)
        goto fail;
    if ((rc = sink_remediate_new(cfg, metrics, &rb->rem, err, errlen)) != PR_OK)
        goto fail;
    sink_notify_counters(metrics, "phonereport_sink_report_requests_total",
                         "Phones asked for a report by SIP NOTIFY (re-baseline), by outcome; "
                         "skipped: not asked (no full-report rule, no address)",
                         rb->c_outcome);
    *out = rb;
    return PR_OK;
fail:
    sink_rebaseline_free(rb);
    return rc;
}

void sink_rebaseline_set_owned(sink_rebaseline *rb, sink_parts *owned)
{
    rb->owned = owned;
}

pr_status sink_rebaseline_start(sink_rebaseline *rb, char *err, size_t errlen)
{
    pr_status rc = pr_thread_start(&rb->thread, run, rb, "re-baseline", err, errlen);
    if (rc != PR_OK)
        return rc;
    pthread_mutex_lock(&rb->mu);
    while (rb->init == 0)
        pthread_cond_wait(&rb->cv, &rb->mu);
    int init = rb->init;
    pthread_mutex_unlock(&rb->mu);
    if (init < 0) {
        pr_thread_join(&rb->thread);
        return pr_err(PR_EFATAL, err, errlen, "rebaseline: %s", rb->init_err);
    }
    PR_LOG(PR_LOG_INFO, "sink", "re-baseline on",
           json_pack("{sI sI sI sI sI ss*}", "sip_port", (json_int_t)rb->cfg->rebaseline_sip_port,
                     "rate", (json_int_t)rb->cfg->rebaseline_rate, "interval_ms",
                     (json_int_t)rb->cfg->rebaseline_interval_ms, "after_ms",
                     (json_int_t)rb->cfg->rebaseline_after_ms, "local_port",
                     (json_int_t)pr_sipnotify_port(rb->sip), "proxy", rb->cfg->rebaseline_proxy));
    return PR_OK;
}

static pr_status enqueue(sink_rebaseline *rb, const char *mac, bool resync, char *err,
                         size_t errlen)
{
    pr_status rc = PR_OK;
    pthread_mutex_lock(&rb->mu);
    bool queued = false;
    for (size_t i = 0; i < rb->qlen; i++)
        queued |= strcmp(rb->queue[i], mac) == 0 && rb->qresync[i] == resync;
    if (!queued && rb->qlen == QUEUE_MAX)
        rc = pr_err(PR_ETRANSIENT, err, errlen, "%d requests are waiting already", QUEUE_MAX);
    else if (!queued) {
        rb->qresync[rb->qlen] = resync;
        snprintf(rb->queue[rb->qlen++], PR_MAC_LEN + 1, "%s", mac);
    }
    pthread_cond_signal(&rb->cv);
    pthread_mutex_unlock(&rb->mu);
    return rc;
}

pr_status sink_rebaseline_request(sink_rebaseline *rb, const char *mac, char *err, size_t errlen)
{
    return enqueue(rb, mac, false, err, errlen);
}

pr_status sink_rebaseline_resync(sink_rebaseline *rb, const char *mac, char *err, size_t errlen)
{
    return enqueue(rb, mac, true, err, errlen);
}

static void wake_hook(void *arg)
{
    sink_rebaseline *rb = arg;
    pthread_mutex_lock(&rb->mu);
    pthread_cond_signal(&rb->cv);
    pthread_mutex_unlock(&rb->mu);
}

void sink_rebaseline_stop(sink_rebaseline *rb)
{
    if (rb)
        pr_thread_stop(&rb->thread, wake_hook, rb);
}

void sink_rebaseline_free(sink_rebaseline *rb)
{
    if (!rb)
        return;
    sink_rebaseline_stop(rb);
    sink_remediate_free(rb->rem);
    pr_sipcreds_free(rb->creds);
    sink_store_close(rb->st);
    pthread_mutex_destroy(&rb->mu);
    pthread_cond_destroy(&rb->cv);
    free(rb);
}
