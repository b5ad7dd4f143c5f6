/*
 * loop_int.h - what the consumer thread's files share (loop.c drives the thread; loop_assign.c
 * keeps the partitions: ownership, positions, batches, store outages and back-pressure;
 * loop_poison.c tells a record that fails on a healthy store from an outage). Not for the
 * sink's other modules: they meet the loop through sink_internal.h.
 *
 * Layers: loop.c above loop_poison.c above loop_assign.c; none calls up.
 *
 * DESIGN: every function here runs on the consumer thread (the rebalance callback too: it is
 * served from rd_kafka_consumer_poll there), so the struct needs no lock; only stop and reload
 * are written by other threads.
 */
#ifndef SINK_LOOP_INT_H
#define SINK_LOOP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "kafka.h"
#include "sink_internal.h"
#include "thread.h"

#define MAX_REASONS 16
#define POLL_MAX    32 /* records polled, parsed and applied per round */

struct sink_loop {
    const pr_common_cfg *common;
    const sink_cfg *cfg;
    pr_metrics *metrics;
    sink_store *st;
    sink_profiles *pf;
    sink_outbox *ob;
    sink_parts *owned;
    atomic_int *ready;
    rd_kafka_t *rk;
    bool shared;     /* a PostgreSQL store that other sinks of the group share */
    char owner[300]; /* host:pid, recorded with each claimed partition */
    /* Claimed partitions (shared store): the epoch each was claimed with, and whether the open
     * transaction has locked and checked it yet. */
    struct claim {
        char topic[256];
        int32_t partition;
        int64_t epoch; /* 0 = not claimed yet (the store was down) */
        bool checked;
    } * claims;
    size_t nclaims, capclaims;
    bool drift_all;           /* recompute the drift of every owned phone (new partitions) */
    bool store_down;          /* the store fails: nothing applied, retried with back-off */
    bool holding;             /* store_down only to wait before a record is retried alone */
    long long store_retry_ms; /* next attempt */
    long store_backoff_ms;
    /* A record whose apply failed on a store that answers (loop_poison.c): until it is
     * applied or skipped, every record commits alone. */
    struct suspect {
        bool active;
        char topic[256];
        int32_t partition;
        int64_t offset;
        int alone; /* failures while it was alone in its transaction */
        char error[512];
    } suspect;
    struct suspect failed_at; /* the record handle() failed to apply (active: it did) */
    struct suspect last;      /* the record handle() applied last in the open batch */
    /* Records still to commit one per transaction: a batch failed on a store that answers
     * without naming its record (a pipelined write fails at a later read or at COMMIT). */
    long solo;
    bool paused;            /* consumption paused: the outbox is at sink-outbox-max */
    int64_t outbox_rows;    /* the outbox's rows when last counted */
    long long outbox_added; /* rows (at most) this loop wrote since: counted again at the bound */
    char topic_config[256], topic_status[256];
    pr_thread thread;
    atomic_int reload;
    bool rebalanced; /* set by the rebalance callback (this thread) */
    sink_parse_pool *parser;
    sink_parse_job jobs[POLL_MAX];
    /* Open batch. */
    long batch_n;
    long long batch_start_ms;
    rd_kafka_topic_partition_list_t *batch_offsets;
    long pending_applied, pending_invalid;
    /* Metrics. */
    pr_counter *c_applied[4]; /* full, delta, status, unknown (applied as delta) */
    pr_counter *c_params, *c_changes, *c_drift, *c_batches, *c_skipped, *c_unchanged, *c_lazy;
    pr_counter *c_store_errors, *c_fenced, *c_poison, *c_pauses;
    pr_gauge *g_store_up, *g_paused;
    pr_histogram *h_commit;
    struct {
        char reason[32];
        pr_counter *c;
    } invalid[MAX_REASONS];
    size_t ninvalid;
};

/* ---- loop_assign.c ------------------------------------------------------------------- */

void sink_loop_drop_offsets(sink_loop *l);
/* The claim of a partition, NULL when it is not ours. */
struct claim *sink_loop_claim_find(sink_loop *l, const char *topic, int32_t partition);
/* The owned partition numbers for the publisher and the drift pass. */
void sink_loop_claims_publish(sink_loop *l);
/* The next transaction locks and checks every claim again. */
void sink_loop_claims_unchecked(sink_loop *l);
/* The store failed: nothing applied (not ready) until sink_loop_store_recover succeeds. */
void sink_loop_store_failed(sink_loop *l);
/* Waits ms before the next record is applied (what is polled meanwhile is read again). */
void sink_loop_hold(sink_loop *l, long ms);
/* Whether the store answers again; if so every partition is back at its stored offset. */
bool sink_loop_store_recover(sink_loop *l);
/* Commits the open batch (none: PR_OK); on failure it is rolled back, the store is down. */
pr_status sink_loop_batch_commit(sink_loop *l);
/* Whether the open batch has reached its size or its time (one record while a suspect is
 * being retried alone). */
bool sink_loop_batch_due(sink_loop *l);
/* Seeks every assigned partition to its stored offset (after a rolled-back batch). */
void sink_loop_rewind(sink_loop *l);
void sink_loop_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                            rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Lag per assigned partition, and the outbox's bound: pauses every assigned partition while
 * the outbox holds sink-outbox-max rows, resumes below nine tenths of it. */
void sink_loop_update_lag(sink_loop *l);
void sink_loop_backpressure(sink_loop *l);
/* The same as soon as what was written since the last count may have reached the bound. */
void sink_loop_backpressure_soon(sink_loop *l);

/* ---- loop_poison.c ------------------------------------------------------------------- */

/* handle() failed to apply l->failed_at on a store that answers: it becomes (or stays) the
 * suspect, retried alone after a short wait. */
void sink_loop_suspect(sink_loop *l, bool alone);
/* Whether the record at these coordinates is a suspect that failed alone often enough
 * (sink-poison-retries) to be skipped. */
bool sink_loop_poison_due(const sink_loop *l, const char *topic, int32_t partition, int64_t offset);
/* Skips the record in the open transaction: a phonereport.sink-dlq record (with the value)
 * through the outbox, counted and logged once with its coordinates. The caller then stores
 * the record's offset in the same transaction, so the skip and the record commit together. */
pr_status sink_loop_poison_skip(sink_loop *l, const rd_kafka_message_t *rkm, const char *mac,
                                char *err, size_t errlen);
/* The record at these coordinates was applied or skipped: the suspect (if it) is cleared. */
void sink_loop_suspect_clear(sink_loop *l, const char *topic, int32_t partition, int64_t offset);
/* A batch of n records failed on a store that answers without naming its record (its
 * COMMIT, or a read after pipelined writes): one record alone is the suspect; more are
 * committed one per transaction from now on until the one that fails alone is found. */
void sink_loop_unnamed_failure(sink_loop *l, long n, const char *error);

#endif
