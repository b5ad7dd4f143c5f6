/*
 * decoder_loop.h - the role object shared by decoder.c (lifecycle, reload) and loop.c (the
 * consume-transform-produce thread). Internal to the decoder.
 */
#ifndef DECODER_LOOP_H
#define DECODER_LOOP_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "decoder.h"
#include "decoder_int.h"
#include "thread.h"

struct decoder {
    const pr_common_cfg *common;
    const decoder_cfg *cfg;
    pr_metrics *metrics;
    char topic[PR_TOPIC__COUNT][PR_TOPIC_NAME_CAP];
    char txn_id[256];

    rd_kafka_t *consumer; /* rk of the consumer group on raw */
    rd_kafka_t *producer; /* the transactional producer */
    /* The producer's handles of config, status and dlq, with their metadata before the first
     * record (decoder_outputs_warm, topics.c); NULL: produced by name. */
    rd_kafka_topic_t *out_rkt[PR_TOPIC__COUNT];
    pr_thread thread;
    atomic_bool ready;
    atomic_bool fatal;

    /* The keystore in use belongs to the loop thread; a reload parks the new one in
     * ks_pending (under ks_lock) and the loop swaps it in between records. */
    decoder_keystore *ks;
    pthread_mutex_t ks_lock;
    decoder_keystore *ks_pending;
    atomic_bool ks_changed; /* ks_pending was set: checked before every record */
    decoder_opts opts;

    /* The open transaction (loop thread only). */
    bool in_txn;
    rd_kafka_topic_partition_list_t *txn_offsets; /* next offset per consumed partition */
    rd_kafka_topic_partition_list_t *txn_first;   /* first offset per consumed partition */
    size_t txn_records;
    long long txn_started_ms;
    uint64_t txn_out[PR_TOPIC__COUNT];
    uint64_t txn_dlq[PR_DLQ_REASON__COUNT];

    /* Raw records whose output the broker refused as too large (delivery reports, served on
     * the loop thread). The broker refuses a whole request batch, so a refused record is
     * first a suspect: after the abort it is produced alone (queue flushed before and after);
     * refused again, it is confirmed, and after the next abort dead-lettered (too_large, no
     * payload) instead. One oversized event thus never blocks its partition. An entry goes
     * when its record's offset is committed, or (a suspect only) when its full output is
     * delivered; a confirmed entry outlives aborts, including the one that librdkafka 2.0.2
     * forces after a refusal: the refused messages used sequence numbers of their output
     * partition that the broker never saw, the abort does not bump the producer epoch, so the
     * next output to that partition fails with OUT_OF_ORDER_SEQUENCE_NUMBER and the
     * transaction after it is aborted with an epoch bump (sequences restart at 0). */
    decoder_refused refused; /* refused.c; entries of revoked partitions go with them */
    bool alone_active;       /* the output of (alone_partition, alone_offset) is in flight alone */
    int32_t alone_partition;
    int64_t alone_offset;

    /* Metrics handles (looked up once). */
    pr_counter *m_records;
    pr_counter *m_events[PR_TOPIC__COUNT];
    pr_counter *m_dlq[PR_DLQ_REASON__COUNT];
    pr_counter *m_committed, *m_aborted;
    pr_counter *m_refused; /* delivery reports refused as too large */
    pr_histogram *m_latency;
};

/* Start-up of the loop's clients (topics.c): the topics created where missing (logged, not
 * fatal), and the producer's handles of its output topics with their metadata (after
 * init_transactions); each call waits at most timeout_ms. */
void decoder_topics_ensure(decoder *r, int timeout_ms);
void decoder_outputs_warm(decoder *r, int timeout_ms);
/* Thread body of loop.c. */
void *decoder_loop_run(void *arg);
/* Swaps a reloaded keystore in (the loop thread, or decoder_reload before the loop runs). */
void decoder_take_pending_keystore(decoder *r);

#endif
