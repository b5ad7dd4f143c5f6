/*
 * loop.c - the consumer thread: phonereport.config and phonereport.status into the store,
 * exactly once (DESIGN section 4).
 *
 * Each record is validated, applied, and its partition's next offset written, all inside one
 * open store transaction that commits when the batch reaches sink-batch-max records or has
 * been open sink-batch-time. The offsets in the store are the truth: on every assignment the
 * consumer starts each partition at the stored offset (the beginning when none), and a record
 * below the stored offset is skipped, so a record is never applied twice or skipped, whatever
 * happened to the process. Kafka's committed offsets are updated after each store commit for
 * monitoring only (consumer-group lag in the usual tools); they are never read back.
 *
 * A record that violates the contract is counted (phonereport_sink_invalid_events_total by
 * reason) and logged without its payload; its offset advances with the batch.
 *
 * The same thread rescans the profiles directory (every profiles-poll, and when asked by
 * sink_reload) and recomputes drift in its own transaction.
 *
 * DESIGN: librdkafka serves the rebalance callback from rd_kafka_consumer_poll() on this
 * thread, so the callback may commit the open batch before partitions go away.
 *
 * Several sinks on one PostgreSQL store: on assignment the sink claims each partition in the
 * store (partition_owner: epoch + 1, in its own transaction) before it reads the partition's
 * offsets; the first record of a partition in each transaction locks that row and checks the
 * epoch (sink_store_partition_fence), so a sink that lost the partition (stopped, cut off)
 * cannot commit: its batch rolls back and the partition is left to its new owner.
 * A store that fails (either kind) stops the applying: the thread keeps polling (the group sees
 * it alive) and drops what arrives, retries with a back-off and resumes from the stored offsets.
 * A record whose apply fails on a store that answers is retried alone and, failing again,
 * skipped into phonereport.sink-dlq (loop_poison.c). Partitions, batches, outages and the
 * outbox's bound are loop_assign.c's.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "contract.h"
#include "log.h"
#include "loop_int.h"

static pr_counter *invalid_counter(sink_loop *l, const char *reason)
{
    for (size_t i = 0; i < l->ninvalid; i++)
        if (strcmp(l->invalid[i].reason, reason) == 0)
            return l->invalid[i].c;
    if (l->ninvalid == MAX_REASONS)
        reason = "other";
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    pr_counter *c = pr_metrics_counter(l->metrics, "phonereport_sink_invalid_events_total",
                                       "Consumed records that violate the event contract "
                                       "(counted and skipped, never applied)",
                                       labels);
    if (l->ninvalid < MAX_REASONS) {
        snprintf(l->invalid[l->ninvalid].reason, sizeof l->invalid[0].reason, "%s", reason);
        l->invalid[l->ninvalid++].c = c;
    }
    return c;
}

pr_status sink_loop_new(const pr_common_cfg *common, const sink_cfg *cfg, pr_metrics *metrics,
                        sink_store *st, sink_profiles *pf, sink_outbox *ob, sink_parts *owned,
                        atomic_int *ready, sink_loop **out, char *err, size_t errlen)
{
    const char *defaults[] = {"group.id",
                              cfg->group,
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "isolation.level",
                              "read_committed",
                              "auto.offset.reset",
                              "earliest",
                              "enable.partition.eof",
                              "false",
                              "fetch.wait.max.ms",
                              PR_KAFKA_FETCH_WAIT_MS,
                              NULL};
    rd_kafka_conf_t *conf = NULL;
    pr_status rc = PR_OK;
    sink_loop *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    l->common = common;
    l->cfg = cfg;
    l->metrics = metrics;
    l->st = st;
    l->pf = pf;
    l->ob = ob;
    l->owned = owned;
    l->ready = ready;
    l->shared = sink_store_dialect(st) == SINK_DIALECT_PG;
    /* A batch is open at most batch_ms between statements (plus a rebalance): longer idle means
     * a stopped process, whose locks must go so that the partition's new owner can go on. */
    sink_store_set_idle_timeout(st, (long)cfg->batch_ms + 5000L);
    {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        snprintf(l->owner, sizeof l->owner, "%s:%ld", host, (long)getpid());
    }
    if (pr_topic_name(common->topic_prefix, PR_TOPIC_CONFIG, l->topic_config,
                      sizeof l->topic_config) != 0 ||
        pr_topic_name(common->topic_prefix, PR_TOPIC_STATUS, l->topic_status,
                      sizeof l->topic_status) != 0) {
        rc = pr_err(PR_EINVAL, err, errlen, "topic-prefix too long");
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "kind=\"%s\"", pr_kind_name((pr_kind)i));
        l->c_applied[i] = pr_metrics_counter(metrics, "phonereport_sink_applied_reports_total",
                                             "Reports applied to the store", labels);
    }
    l->c_params = pr_metrics_counter(metrics, "phonereport_sink_params_upserted_total",
                                     "Parameter rows written", "");
    l->c_changes = pr_metrics_counter(metrics, "phonereport_sink_changes_total",
                                      "Parameter changes recorded (removals included)", "");
    l->c_drift = pr_metrics_counter(metrics, "phonereport_sink_drift_transitions_total",
                                    "drifted/resolved transitions emitted", "");
    l->c_batches = pr_metrics_counter(metrics, "phonereport_sink_batches_total",
                                      "Store transactions committed", "");
    l->c_skipped = pr_metrics_counter(metrics, "phonereport_sink_already_applied_total",
                                      "Records below the stored offset, skipped", "");
    l->c_unchanged =
        pr_metrics_counter(metrics, "phonereport_sink_unchanged_reports_total",
                           "Full reports identical to the stored state (phone row only)", "");
    l->c_store_errors = pr_metrics_counter(
        metrics, "phonereport_sink_store_errors_total",
        "Store failures (batch rolled back, applying stopped until the store answers)", "");
    l->c_fenced = pr_metrics_counter(metrics, "phonereport_sink_fenced_total",
                                     "Batches rolled back because another sink claimed one of "
                                     "their partitions (shared PostgreSQL store)",
                                     "");
    l->c_poison = pr_metrics_counter(
        metrics, "phonereport_sink_poison_total",
        "Records that failed on a store that answers, sink-poison-retries times alone: skipped "
        "into the sink-dlq topic",
        "");
    l->c_pauses = pr_metrics_counter(metrics, "phonereport_sink_outbox_pauses_total",
                                     "Times consumption paused because the outbox was full", "");
    l->g_paused = pr_metrics_gauge(
        metrics, "phonereport_sink_outbox_paused",
        "1 while consumption is paused because the outbox holds sink-outbox-max rows", "");
    l->g_store_up =
        pr_metrics_gauge(metrics, "phonereport_sink_store_up",
                         "1 while the store answers, 0 while the sink waits for it", "");
    pr_gauge_set(l->g_store_up, 1);
    l->c_lazy = pr_metrics_counter(
        metrics, "phonereport_sink_unchanged_unparsed_total",
        "Unchanged full reports whose parameters were never parsed (fast path, fastpath.c)", "");
    if (!(l->parser = sink_parse_pool_new((int)cfg->parse_threads, sink_cfg_store(cfg)))) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto fail;
    }
    l->h_commit = pr_metrics_histogram(metrics, "phonereport_sink_commit_seconds",
                                       "Duration of a batch commit", "", pr_metrics_latency_buckets,
                                       pr_metrics_latency_buckets_len);
    if (!(conf = pr_kafka_conf_new(common, "sink", defaults, err, errlen))) {
        rc = PR_EINVAL;
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, sink_loop_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, l);
    if ((rc = pr_kafka_new(RD_KAFKA_CONSUMER, &conf, &l->rk, err, errlen)) != PR_OK)
        goto fail;
    rd_kafka_poll_set_consumer(l->rk);
    *out = l;
    return PR_OK;
fail:
    sink_loop_free(l);
    return rc;
}

/* The batch's transaction, begun when none is open. */
static pr_status batch_open(sink_loop *l, char *err, size_t errlen)
{
    if (sink_store_in_txn(l->st))
        return PR_OK;
    pr_status rc = sink_store_begin(l->st, err, errlen);
    if (rc == PR_OK)
        l->batch_start_ms = pr_mono_ms();
    return rc;
}

/* Shared store: lock the partition's owner row for the rest of the transaction and check
 * that no other sink claimed it since; a newer claim rolls the whole batch back. */
static pr_status fence(sink_loop *l, const char *topic, int32_t partition, struct claim *c)
{
    char err[512] = "";
    if (c->checked)
        return PR_OK;
    pr_status rc = sink_store_partition_fence(l->st, topic, partition, c->epoch, err, sizeof err);
    if (rc == PR_ENOTFOUND) {
        PR_LOG(PR_LOG_WARN, "sink", "fenced: another sink owns the partition now",
               json_pack("{ss si ss}", "topic", topic, "partition", (int)partition, "detail", err));
        c->epoch = -1;
        return PR_ENOTFOUND;
    }
    if (rc == PR_OK)
        c->checked = true;
    return rc;
}

/* A shared store: before the round is applied, its partitions are fenced and the phone rows
 * of its records read in one statement (store_batch.c), so that the round trips of a batch do
 * not grow with its reports. The record keys are the phones' macs (a record whose key is not
 * its event's mac is refused later). */
static pr_status prefetch(sink_loop *l, rd_kafka_message_t **msgs, size_t n)
{
    const char *macs[POLL_MAX];
    char keys[POLL_MAX][PR_MAC_LEN + 1], err[512] = "";
    size_t m = 0;
    pr_status rc = PR_OK;
    for (size_t i = 0; i < n && rc == PR_OK; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        struct claim *c = sink_loop_claim_find(l, topic, msgs[i]->partition);
        if (!c || c->epoch <= 0) /* not ours, or not claimed yet: handle() decides */
            continue;
        if ((rc = batch_open(l, err, sizeof err)) == PR_OK)
            rc = fence(l, topic, msgs[i]->partition, c);
        if (rc == PR_OK && msgs[i]->key && msgs[i]->key_len == PR_MAC_LEN) {
            memcpy(keys[m], msgs[i]->key, PR_MAC_LEN);
            keys[m][PR_MAC_LEN] = '\0';
            macs[m] = keys[m];
            m++;
        }
    }
    if (rc == PR_OK && (rc = sink_store_prefetch(l->st, macs, m, err, sizeof err)) != PR_OK)
        PR_LOG(PR_LOG_WARN, "sink", "batch prefetch failed", json_pack("{ss}", "error", err));
    return rc;
}

/* Applies one parsed record inside the open batch. Returns non-OK only for store failures;
 * when the apply itself failed, l->failed_at says which record and why. */
static pr_status handle(sink_loop *l, rd_kafka_message_t *rkm, sink_parse_job *j)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    char err[512] = "";
    sink_apply_result res;
    sink_apply_opts opts = {l->cfg->changes_keep, l->cfg->max_params, l->cfg->max_state_bytes};
    pr_status rc;

    struct claim *c = sink_loop_claim_find(l, topic, rkm->partition);
    if (!c || c->epoch < 0) /* not ours (any more): its owner applies it */
        return PR_OK;
    if (c->epoch == 0) /* not claimed yet: the store was down */
        return PR_ETRANSIENT;
    if ((rc = batch_open(l, err, sizeof err)) != PR_OK ||
        (rc = fence(l, topic, rkm->partition, c)) != PR_OK)
        return rc;
    int64_t next = sink_store_offset_get(l->st, topic, rkm->partition);
    if (next < -1) { /* unknown whether this record was applied: treat as a store failure */
        PR_LOG(PR_LOG_ERROR, "sink", "stored offset unreadable",
               json_pack("{ss}", "error", sink_store_errmsg(l->st)));
        return PR_EFATAL;
    }
    if (next >= 0 && rkm->offset < next) {
        pr_counter_inc(l->c_skipped);
        return PR_OK;
    }
    j->ev.partition = rkm->partition;
    l->last.active = true;
    snprintf(l->last.topic, sizeof l->last.topic, "%s", topic);
    l->last.partition = rkm->partition;
    l->last.offset = rkm->offset;
    if (j->rc == PR_OK && sink_loop_poison_due(l, topic, rkm->partition, rkm->offset)) {
        if ((rc = sink_loop_poison_skip(l, rkm, j->ev.mac, err, sizeof err)) != PR_OK)
            return rc;
    } else if (j->rc != PR_OK) {
        pr_counter_inc(invalid_counter(l, j->reason));
        PR_LOG(PR_LOG_WARN, "sink", "invalid event skipped",
               json_pack("{ss si sI ss ss}", "topic", topic, "partition", (int)rkm->partition,
                         "offset", (json_int_t)rkm->offset, "reason", j->reason, "detail", j->err));
    } else {
        rc = sink_apply(l->st, l->pf, &opts, &j->ev, &res, err, sizeof err);
        if (rc == PR_OK) {
            pr_counter_inc(l->c_applied[j->ev.is_status              ? 2
                                        : j->ev.kind_unknown         ? 3
                                        : j->ev.kind == PR_KIND_FULL ? 0
                                                                     : 1]);
            pr_counter_add(l->c_params, res.upserts);
            pr_counter_add(l->c_changes, res.changes);
            pr_counter_add(l->c_drift, res.transitions);
            if (res.unchanged)
                pr_counter_inc(l->c_unchanged);
            if (res.unchanged && j->ev.lazy)
                pr_counter_inc(l->c_lazy);
            /* its state marker, change and drift records, at most */
            l->outbox_added += 1 + (long long)res.changes + (long long)res.transitions;
        } else if (rc == PR_EINVAL) {
            /* Over the phone's bounds: nothing was written; refused like an invalid event. */
            pr_counter_inc(invalid_counter(l, "too_large"));
            PR_LOG(PR_LOG_WARN, "sink", "report refused: the phone would exceed its bounds",
                   json_pack("{ss ss si sI ss}", "mac", j->ev.mac, "topic", topic, "partition",
                             (int)rkm->partition, "offset", (json_int_t)rkm->offset, "detail",
                             err));
            rc = PR_OK;
        }
        if (rc != PR_OK) {
            struct suspect *f = &l->failed_at;
            f->active = true;
            snprintf(f->topic, sizeof f->topic, "%s", topic);
            f->partition = rkm->partition;
            f->offset = rkm->offset;
            snprintf(f->error, sizeof f->error, "%s", err);
            return rc;
        }
    }
    if ((rc = sink_store_offset_put(l->st, topic, rkm->partition, rkm->offset + 1, err,
                                    sizeof err)) != PR_OK)
        return rc;
    if (!l->batch_offsets)
        l->batch_offsets = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(l->batch_offsets, topic, rkm->partition);
    if (!tp)
        tp = rd_kafka_topic_partition_list_add(l->batch_offsets, topic, rkm->partition);
    tp->offset = rkm->offset + 1;
    l->batch_n++;
    return PR_OK;
}

/* Polls up to POLL_MAX records (waiting up to timeout for the first). A rebalance during the
 * round drops what it had collected (those records may belong to revoked partitions) and
 * sends every assigned partition back to its stored offset, so they are read again. */
static size_t collect(sink_loop *l, rd_kafka_message_t **msgs, int timeout)
{
    size_t n = 0;
    bool rewind = false;
    while (n < POLL_MAX) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(l->rk, n == 0 ? timeout : 0);
        if (l->rebalanced) {
            l->rebalanced = false;
            for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
            if (rkm)
                rd_kafka_message_destroy(rkm);
            n = 0;
            rewind = true;
            continue;
        }
        if (!rkm)
            break;
        if (rkm->err) {
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                PR_LOG(PR_LOG_WARN, "sink", "consumer error",
                       json_pack("{ss}", "error", rd_kafka_message_errstr(rkm)));
            rd_kafka_message_destroy(rkm);
            break;
        }
        msgs[n++] = rkm;
    }
    if (rewind) {
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
        n = 0;
        sink_loop_rewind(l);
    }
    return n;
}

static void profiles_rescan(sink_loop *l)
{
    sink_profiles_delta d = {0};
    char err[512], now[32];
    unsigned transitions = 0;
    if (sink_loop_batch_commit(l) != PR_OK) {
        sink_loop_rewind(l);
        return;
    }
    bool changed = sink_profiles_scan(l->pf, &d);
    if (l->drift_all && l->cfg->profiles_dir) { /* new partitions: all their phones */
        changed = true;
        d.all = true;
    }
    l->drift_all = false;
    if (!changed)
        goto out;
    sink_now_rfc3339(now, sizeof now);
    /* The applied profile files are saved with the last page of the recompute, so a restart
     * recomputes only what changed meanwhile (or everything, if this pass did not finish). */
    if (sink_store_begin(l->st, err, sizeof err) != PR_OK ||
        sink_drift_profiles_changed(l->st, l->pf, &d, now, l->shared ? l->owned : NULL, true,
                                    &transitions, err, sizeof err) != PR_OK ||
        sink_store_profiles_save(l->st, l->pf, err, sizeof err) != PR_OK ||
        sink_store_commit(l->st, err, sizeof err) != PR_OK) {
        sink_store_rollback(l->st);
        sink_profiles_invalidate(l->pf); /* the next scan tries every file again */
        PR_LOG(PR_LOG_ERROR, "sink", "drift recompute failed", json_pack("{ss}", "error", err));
        goto out;
    }
    pr_counter_add(l->c_drift, transitions);
    PR_LOG(PR_LOG_INFO, "sink", "profiles changed, drift recomputed",
           json_pack("{sb si si}", "all_phones", d.all, "phones", (int)d.len, "transitions",
                     (int)transitions));
    sink_outbox_wake(l->ob);
out:
    sink_profiles_delta_release(&d);
}

static void *consume(void *arg)
{
    sink_loop *l = arg;
    long long next_scan = 0, next_lag = 0;
    if (sink_store_profiles_load(l->st, l->pf) != PR_OK)
        PR_LOG(PR_LOG_WARN, "sink", "applied profile list unreadable: recomputing all drift", NULL);
    while (!pr_thread_stopping(&l->thread)) {
        long long now = pr_mono_ms();
        if (l->store_down) {
            /* Keep polling (rebalances are served here, and the group must see us poll) and
             * retry; what arrives is read again from the store's offsets. */
            if (now >= l->store_retry_ms)
                sink_loop_store_recover(l);
            if (!l->store_down)
                continue;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, 100);
            if (m) {
                rd_kafka_message_destroy(m);
                nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
            }
            l->rebalanced = false;
            continue;
        }
        if (atomic_exchange(&l->reload, 0) || now >= next_scan || l->drift_all) {
            profiles_rescan(l);
            next_scan = pr_mono_ms() + l->cfg->profiles_poll_ms;
        }
        if (now >= next_lag) {
            next_lag = now + 1000;
            sink_loop_update_lag(l);
            /* An idle sink notices a lost store too (not ready, retried), within a second. */
            if (!sink_store_in_txn(l->st) && !sink_store_ping(l->st)) {
                sink_loop_store_failed(l);
                continue;
            }
            sink_loop_backpressure(l);
        }
        int timeout = 100;
        if (sink_store_in_txn(l->st)) {
            long long left = l->batch_start_ms + l->cfg->batch_ms - now;
            timeout = left <= 0 ? 0 : left < 100 ? (int)left : 100;
        }
        rd_kafka_message_t *msgs[POLL_MAX];
        size_t n = collect(l, msgs, timeout), i = 0;
        if (n > 0) {
            sink_parse_job *jobs = l->jobs;
            for (i = 0; i < n; i++) {
                memset(&jobs[i], 0, sizeof jobs[i]);
                jobs[i].payload = msgs[i]->payload;
                jobs[i].len = msgs[i]->len;
                jobs[i].key = msgs[i]->key;
                jobs[i].keylen = msgs[i]->key_len;
                jobs[i].is_status = strcmp(rd_kafka_topic_name(msgs[i]->rkt), l->topic_status) == 0;
            }
            sink_parse_start(l->parser, jobs, n);
            bool failed = false, fenced = false, alone = false;
            l->failed_at.active = false;
            for (i = 0; i < n; i++) {
                /* a shared store: the round's phone rows (again after a commit in it) */
                pr_status hr = l->shared && (i == 0 || !sink_store_in_txn(l->st))
                                   ? prefetch(l, msgs + i, n - i)
                                   : PR_OK;
                if (hr == PR_OK) {
                    sink_parse_wait(l->parser, &jobs[i], l->st);
                    alone = l->batch_n == 0;
                    l->failed_at.active = false;
                    hr = handle(l, msgs[i], &jobs[i]);
                }
                if (hr != PR_OK) {
                    failed = true;
                    fenced = hr == PR_ENOTFOUND;
                    break;
                }
                if (sink_loop_batch_due(l) && sink_loop_batch_commit(l) != PR_OK) {
                    /* Rolled back: the rest of the round is read again with the batch. */
                    sink_loop_rewind(l);
                    break;
                }
                sink_loop_backpressure_soon(l);
                if (l->paused || l->store_down) /* the round's rest is read again later */
                    break;
            }
            sink_parse_finish(l->parser, l->st);
            for (i = 0; i < n; i++) {
                if (jobs[i].rc == PR_OK)
                    sink_event_release(&jobs[i].ev);
                rd_kafka_message_destroy(msgs[i]);
            }
            if (failed) {
                long batch_n = l->batch_n;
                char why[512];
                snprintf(why, sizeof why, "%s", sink_store_errmsg(l->st));
                sink_store_rollback(l->st);
                sink_loop_claims_unchecked(l);
                l->batch_n = 0;
                sink_loop_drop_offsets(l);
                if (fenced) {
                    /* Nothing of the batch was applied. The lost partition's records are
                     * dropped from now on (its claim is gone) until Kafka's rebalance gives it
                     * to us again; the others are read again from their stored offsets. */
                    pr_counter_inc(l->c_fenced);
                    sink_loop_claims_publish(l);
                    sink_loop_rewind(l);
                } else if (l->failed_at.active && sink_store_ping(l->st)) {
                    sink_loop_suspect(l, alone); /* a poison record, or a passing fault */
                } else if (batch_n > 0 && sink_store_ping(l->st)) {
                    /* a read before any record (the round's phone rows) failed on a write
                     * of the records before */
                    sink_loop_unnamed_failure(l, batch_n, why);
                } else {
                    /* an outage: sink_loop_store_recover re-reads from stored offsets */
                    sink_loop_store_failed(l);
                }
                l->last.active = false;
                continue;
            }
        }
        /* Group commit: the batch commits as soon as the input is drained (a round that
         * did not fill), so an idle pipeline shows a report at once; under load the rounds
         * fill and the batch grows to its bounds. */
        bool drained = n < POLL_MAX;
        if ((drained || sink_loop_batch_due(l)) && sink_loop_batch_commit(l) != PR_OK)
            sink_loop_rewind(l);
    }
    sink_loop_batch_commit(l);
    rd_kafka_consumer_close(l->rk);
    atomic_store(l->ready, 0);
    return NULL;
}

pr_status sink_loop_start(sink_loop *l, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, l->topic_config, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, l->topic_status, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(l->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return pr_err(PR_EFATAL, err, errlen, "subscribe: %s", rd_kafka_err2str(e));
    return pr_thread_start(&l->thread, consume, l, "consumer", err, errlen);
}

void sink_loop_request_reload(sink_loop *l)
{
    if (l)
        atomic_store(&l->reload, 1);
}

void sink_loop_stop(sink_loop *l)
{
    if (l)
        pr_thread_stop(&l->thread, NULL, NULL);
}

void sink_loop_free(sink_loop *l)
{
    if (!l)
        return;
    sink_loop_stop(l);
    if (l->rk)
        rd_kafka_destroy(l->rk);
    sink_loop_drop_offsets(l);
    sink_parse_pool_free(l->parser);
    free(l->claims);
    free(l);
}
