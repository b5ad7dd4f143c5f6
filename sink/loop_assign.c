/*
 * loop_assign.c - the consumer's partitions: which ones this sink owns (claims and fences on
 * a shared PostgreSQL store), where each is read from (the stored offsets), the open batch
 * and its commit, store outages and the outbox's bound (back-pressure).
 *
 * The offsets in the store are the truth: on every assignment, after a rolled-back batch and
 * when the store answers again, each partition is sent back to its stored offset.
 *
 * Back-pressure: the publisher (outbox.c) may fall behind or stop (broker down, producer
 * dead). While the outbox holds sink-outbox-max rows the loop commits its batch and pauses
 * every assigned partition (nothing is polled, Kafka keeps the records: the lag grows and
 * says so), and resumes once the outbox is below nine tenths of the bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "loop_int.h"

/* ---- the open batch's offsets ---------------------------------------------------------- */

void sink_loop_drop_offsets(sink_loop *l)
{
    if (l->batch_offsets)
        rd_kafka_topic_partition_list_destroy(l->batch_offsets);
    l->batch_offsets = NULL;
}

/* ---- partition ownership (a store shared by several sinks) ----------------------------- */

struct claim *sink_loop_claim_find(sink_loop *l, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < l->nclaims; i++)
        if (l->claims[i].partition == partition && strcmp(l->claims[i].topic, topic) == 0)
            return &l->claims[i];
    return NULL;
}

/* The owned partition numbers (both topics: a phone's config and status share its number)
 * for the publisher and the drift pass. */
void sink_loop_claims_publish(sink_loop *l)
{
    int32_t v[SINK_PARTS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < l->nclaims && n < SINK_PARTS_MAX; i++) {
        bool dup = false;
        if (l->claims[i].epoch < 0)
            continue;
        for (size_t k = 0; k < n && !dup; k++)
            dup = v[k] == l->claims[i].partition;
        if (!dup)
            v[n++] = l->claims[i].partition;
    }
    sink_parts_set(l->owned, v, n);
}

void sink_loop_claims_unchecked(sink_loop *l)
{
    for (size_t i = 0; i < l->nclaims; i++)
        l->claims[i].checked = false;
}

/* Claims one partition (its own transaction): epoch 0 when the store cannot say. */
static pr_status claim_one(sink_loop *l, struct claim *c)
{
    char err[512];
    pr_status rc = sink_store_partition_claim(l->st, c->topic, c->partition, l->owner, &c->epoch,
                                              err, sizeof err);
    if (rc != PR_OK) {
        c->epoch = 0;
        PR_LOG(PR_LOG_WARN, "sink", "partition claim failed (store down?): retried",
               json_pack("{ss si ss}", "topic", c->topic, "partition", (int)c->partition, "error",
                         err));
    }
    return rc;
}

static void claims_add(sink_loop *l, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        struct claim *c = sink_loop_claim_find(l, parts->elems[i].topic, parts->elems[i].partition);
        if (!c) {
            if (l->nclaims == l->capclaims) {
                size_t cap = l->capclaims ? l->capclaims * 2 : 16;
                struct claim *n = realloc(l->claims, cap * sizeof *n);
                if (!n)
                    continue; /* unclaimed: its records are not applied (fail safe) */
                l->claims = n;
                l->capclaims = cap;
            }
            c = &l->claims[l->nclaims++];
            snprintf(c->topic, sizeof c->topic, "%s", parts->elems[i].topic);
            c->partition = parts->elems[i].partition;
        }
        c->checked = false;
        c->epoch = 0;
        if (l->shared)
            claim_one(l, c);
        else
            c->epoch = 1;
    }
    sink_loop_claims_publish(l);
}

static void claims_remove(sink_loop *l, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        struct claim *c = sink_loop_claim_find(l, parts->elems[i].topic, parts->elems[i].partition);
        if (c)
            *c = l->claims[--l->nclaims];
    }
    sink_loop_claims_publish(l);
}

/* The store failed: stop applying (not ready) until it answers again. The partitions are not
 * paused: librdkafka's resume seeks back to the last record it delivered, asynchronously, and
 * that seek can land after ours and skip the records of the rolled-back batch (seen in
 * sink_multisink_pg). Records polled meanwhile are dropped, and every partition is sent back to
 * its stored offset when the store answers (the fetch queue bounds what is read meanwhile). */
void sink_loop_store_failed(sink_loop *l)
{
    pr_counter_inc(l->c_store_errors);
    if (!l->store_down) {
        PR_LOG(PR_LOG_ERROR, "sink", "store unavailable: nothing applied until it answers",
               json_pack("{ss}", "error", sink_store_errmsg(l->st)));
        l->store_backoff_ms = 250;
    } else if (l->store_backoff_ms < 5000) {
        l->store_backoff_ms *= 2;
    }
    l->store_down = true;
    l->holding = false;
    l->store_retry_ms = pr_mono_ms() + l->store_backoff_ms;
    pr_gauge_set(l->g_store_up, 0);
    atomic_store(l->ready, 0);
}

void sink_loop_hold(sink_loop *l, long ms)
{
    if (l->store_down) /* an outage already holds everything */
        return;
    l->store_down = true;
    l->holding = true;
    l->store_retry_ms = pr_mono_ms() + ms;
}

/* Ready while partitions are assigned and the store answers (a dead publisher is the API's
 * readiness check and sink_ready's, sink.c). */
static void set_ready(sink_loop *l)
{
    atomic_store(l->ready, 1);
}

/* Whether the store answers again: claims what could not be claimed, sends every partition
 * back to its stored offset and resumes. */
bool sink_loop_store_recover(sink_loop *l)
{
    if (!sink_store_ping(l->st)) {
        sink_loop_store_failed(l);
        return false;
    }
    for (size_t i = 0; i < l->nclaims; i++)
        if (l->claims[i].epoch == 0 && l->shared && claim_one(l, &l->claims[i]) != PR_OK) {
            sink_loop_store_failed(l);
            return false;
        }
    sink_loop_claims_publish(l);
    l->store_down = false;
    /* Back to the stored offsets (what was fetched meanwhile is dropped by the seek); a seek
     * that fails keeps the store "down": consuming from the fetch position would skip the
     * records of the rolled-back batch. */
    sink_loop_rewind(l);
    if (l->store_down) /* the offsets could not be read, or a seek failed */
        return false;
    if (l->holding) { /* a wait before a retry alone, not an outage */
        l->holding = false;
        return true;
    }
    PR_LOG(PR_LOG_INFO, "sink", "store available again: consumption resumed", NULL);
    pr_gauge_set(l->g_store_up, 1);
    set_ready(l);
    l->drift_all = l->shared;
    return true;
}

/* Commits the open batch (if any). On failure the batch is rolled back and every assigned
 * partition is sent back to its stored offset, so the records are read again. */
pr_status sink_loop_batch_commit(sink_loop *l)
{
    char err[512];
    if (!sink_store_in_txn(l->st))
        return PR_OK;
    long long t0 = pr_mono_ms();
    sink_loop_claims_unchecked(l);
    if (sink_store_commit(l->st, err, sizeof err) != PR_OK) {
        long n = l->batch_n;
        PR_LOG(PR_LOG_ERROR, "sink", "batch commit failed; re-reading from stored offsets",
               json_pack("{ss}", "error", err));
        sink_store_rollback(l->st);
        l->batch_n = 0;
        sink_loop_drop_offsets(l);
        if (n > 0 && sink_store_ping(l->st)) /* the store refused one of its records */
            sink_loop_unnamed_failure(l, n, err);
        else
            sink_loop_store_failed(l);
        l->last.active = false;
        return PR_ETRANSIENT;
    }
    /* the batch's last record (alone while there is a suspect) is applied or skipped */
    if (l->last.active)
        sink_loop_suspect_clear(l, l->last.topic, l->last.partition, l->last.offset);
    l->last.active = false;
    l->solo = l->solo > l->batch_n ? l->solo - l->batch_n : 0;
    pr_histogram_observe(l->h_commit, (double)(pr_mono_ms() - t0) / 1000.0);
    pr_counter_inc(l->c_batches);
    if (l->batch_offsets && l->batch_offsets->cnt > 0)
        rd_kafka_commit(l->rk, l->batch_offsets, 1); /* monitoring only */
    sink_loop_drop_offsets(l);
    l->batch_n = 0;
    sink_outbox_wake(l->ob);
    return PR_OK;
}

/* Whether the open batch has reached its size or its time. */
bool sink_loop_batch_due(sink_loop *l)
{
    long long max = l->suspect.active || l->solo > 0 ? 1 : l->cfg->batch_max;
    return sink_store_in_txn(l->st) &&
           (l->batch_n >= max || pr_mono_ms() - l->batch_start_ms >= l->cfg->batch_ms);
}

/* Seeks every assigned partition to its stored offset (after a rolled-back batch). */
void sink_loop_rewind(sink_loop *l)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(l->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (parts->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(parts);
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int64_t next =
            sink_store_offset_get(l->st, parts->elems[i].topic, parts->elems[i].partition);
        if (next < -1) { /* unknown: never from the beginning; resumed when the store is back */
            rd_kafka_topic_partition_list_destroy(parts);
            sink_loop_store_failed(l);
            return;
        }
        parts->elems[i].offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_error_t *e = rd_kafka_seek_partitions(l->rk, parts, 5000);
    bool failed = e != NULL;
    if (e) {
        PR_LOG(PR_LOG_ERROR, "sink", "seek failed",
               json_pack("{ss}", "error", rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
    }
    /* A partition's own seek error is reported in its element, not as the call's error. */
    for (int i = 0; i < parts->cnt && !failed; i++)
        if (parts->elems[i].err) {
            PR_LOG(PR_LOG_ERROR, "sink", "seek failed",
                   json_pack("{ss si ss}", "topic", parts->elems[i].topic, "partition",
                             (int)parts->elems[i].partition, "error",
                             rd_kafka_err2str(parts->elems[i].err)));
            failed = true;
        }
    rd_kafka_topic_partition_list_destroy(parts);
    /* Never go on from the fetch position: it may be past records that were rolled back. */
    if (failed)
        sink_loop_store_failed(l);
}

/* A stored offset outside the partition's records: which partition, the offset, the edge. */
static void log_offset_gap(pr_log_level level, const char *msg,
                           const rd_kafka_topic_partition_t *tp, int64_t stored,
                           const char *edge_name, int64_t edge)
{
    PR_LOG(level, "sink", msg,
           json_pack("{ss si sI sI}", "topic", tp->topic, "partition", (int)tp->partition, "stored",
                     (json_int_t)stored, edge_name, (json_int_t)edge));
}

void sink_loop_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sink_loop *l = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *kerr = NULL;
    l->rebalanced = true;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* A shared store: claim each partition (raising its epoch fences the previous owner)
         * before reading its offsets, so they include the previous owner's last commit. */
        sink_loop_batch_commit(l);
        claims_add(l, parts);
        l->drift_all = l->shared;
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            int64_t next = sink_store_offset_get(l->st, tp->topic, tp->partition), lo = 0, hi = 0;
            if (next < -1) /* the partitions are resumed from the store when it is back */
                sink_loop_store_failed(l);
            if (next > 0 && rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi,
                                                             5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (next > hi) {
                    /* The partition is shorter than what we applied: the topic was deleted
                     * and created again (or an embedded broker restarted). Its records are
                     * new ones: read it from the beginning. */
                    char err[256];
                    log_offset_gap(PR_LOG_WARN,
                                   "stored offset is past the end of the partition (topic "
                                   "recreated?): reading it from the beginning",
                                   tp, next, "end", hi);
                    if (sink_store_offset_put(l->st, tp->topic, tp->partition, lo, err,
                                              sizeof err) == PR_OK)
                        next = lo;
                } else if (next < lo) {
                    log_offset_gap(PR_LOG_ERROR,
                                   "records were deleted before the sink applied them "
                                   "(retention): the state misses them",
                                   tp, next, "start", lo);
                }
            }
            tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
            PR_LOG(PR_LOG_INFO, "sink", "partition assigned",
                   json_pack("{ss si sI}", "topic", tp->topic, "partition", (int)tp->partition,
                             "offset", (json_int_t)tp->offset));
        }
        if (cooperative)
            kerr = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (l->paused) /* the outbox is still full: these wait too */
            rd_kafka_pause_partitions(rk, parts);
        if (!l->store_down)
            set_ready(l);
    } else {
        /* Partitions go away: what we applied from them commits now, with their offsets. */
        sink_loop_batch_commit(l);
        claims_remove(l, parts);
        for (int i = 0; i < parts->cnt; i++) /* a suspect there is its new owner's */
            if (parts->elems[i].partition == l->suspect.partition &&
                strcmp(parts->elems[i].topic, l->suspect.topic) == 0)
                memset(&l->suspect, 0, sizeof l->suspect);
        if (cooperative)
            kerr = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        PR_LOG(PR_LOG_INFO, "sink", "partitions revoked", json_pack("{si}", "count", parts->cnt));
    }
    if (kerr) {
        PR_LOG(PR_LOG_ERROR, "sink", "assignment failed",
               json_pack("{ss}", "error", rd_kafka_error_string(kerr)));
        rd_kafka_error_destroy(kerr);
    }
}

/* Lag per assigned partition: high watermark minus the position. */
void sink_loop_update_lag(sink_loop *l)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(l->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    rd_kafka_position(l->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo = 0, hi = 0, pos = parts->elems[i].offset;
        if (rd_kafka_get_watermark_offsets(l->rk, parts->elems[i].topic, parts->elems[i].partition,
                                           &lo, &hi) != 0 ||
            hi < 0)
            continue;
        if (pos < 0) {
            pos = sink_store_offset_get(l->st, parts->elems[i].topic, parts->elems[i].partition);
            if (pos < 0)
                pos = lo;
        }
        char labels[320];
        snprintf(labels, sizeof labels, "topic=\"%s\",partition=\"%d\"", parts->elems[i].topic,
                 (int)parts->elems[i].partition);
        pr_gauge_set(pr_metrics_gauge(l->metrics, "phonereport_sink_lag",
                                      "Records not yet applied, per partition", labels),
                     (double)(hi > pos ? hi - pos : 0));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Pauses (or resumes) every assigned partition; true when librdkafka took it. */
static bool pause_all(sink_loop *l, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(l->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return false;
    rd_kafka_resp_err_t e =
        pause ? rd_kafka_pause_partitions(l->rk, parts) : rd_kafka_resume_partitions(l->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void sink_loop_backpressure(sink_loop *l)
{
    int64_t rows = 0;
    long long max = l->cfg->outbox_max;
    if (max <= 0 || l->store_down || sink_store_outbox_count(l->st, &rows) != PR_OK)
        return;
    l->outbox_rows = rows;
    l->outbox_added = 0;
    if (!l->paused && rows >= max) {
        /* What was applied commits first: the partitions stop right after it. */
        if (sink_loop_batch_commit(l) != PR_OK) {
            sink_loop_rewind(l);
            return;
        }
        if (!pause_all(l, true))
            return;
        l->paused = true;
        pr_counter_inc(l->c_pauses);
        pr_gauge_set(l->g_paused, 1);
        PR_LOG(PR_LOG_WARN, "sink",
               "outbox full (the publisher is behind or stopped): consumption paused",
               json_pack("{sI sI sb}", "outbox_rows", (json_int_t)rows, "sink_outbox_max",
                         (json_int_t)max, "publisher_failed", sink_outbox_failed(l->ob)));
    } else if (l->paused && rows < max - max / 10) {
        if (!pause_all(l, false))
            return;
        l->paused = false;
        pr_gauge_set(l->g_paused, 0);
        /* Nothing was applied while paused: the stored offsets are where reading goes on. */
        sink_loop_rewind(l);
        PR_LOG(PR_LOG_INFO, "sink", "outbox below its bound: consumption resumed",
               json_pack("{sI}", "outbox_rows", (json_int_t)rows));
    }
}

void sink_loop_backpressure_soon(sink_loop *l)
{
    if (l->cfg->outbox_max > 0 && !l->paused &&
        l->outbox_rows + l->outbox_added >= l->cfg->outbox_max)
        sink_loop_backpressure(l);
}
