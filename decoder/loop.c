/*
 * loop.c - the decoder's consume-transform-produce loop, exactly once (DESIGN section 4).
 *
 * One thread owns the consumer (group on <prefix>raw, read_committed, no auto commit) and the
 * transactional producer. Records are decoded one by one (report.c, pure) and their outputs
 * produced inside a transaction that is opened by the first record of a batch and committed,
 * together with the consumed offsets (send_offsets_to_transaction with the consumer's group
 * metadata), as soon as the consumer holds no further record (group commit: a lone report
 * is not kept waiting; decoder-batch-linger-ms can make a drained batch wait), or when the
 * batch reaches decoder-batch-max records or has been open decoder-batch-ms under a steady
 * flow.
 *
 * Errors follow librdkafka's classes: a retriable error retries the same call; one that
 * requires an abort aborts the transaction and rewinds the consumer to the committed offsets,
 * so that the batch is decoded again (the same input gives the same output); a fatal one
 * (e.g. fenced by another decoder with the same transactional.id) stops the role, which
 * reports it through decoder_failed() and makes the process exit non-zero. Retries are
 * bounded (retry.c): a commit or abort still failing after decoder-txn-timeout, or when a
 * stop is requested, is fatal too, so that a stop never waits for Kafka for ever.
 * On a revoke the open transaction is committed (or aborted if the partitions were lost)
 * before the partitions go; on stop the open batch is committed before the consumer closes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decoder_loop.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "signals.h"

#define COMP        "decoder"
#define MAX_HEADERS 64

static int txn_timeout(const decoder *r)
{
    return (int)r->cfg->txn_timeout;
}

/* Start-up and transactional calls wait in slices of at most this long, so that a stop
 * requested while Kafka is unreachable is honoured within seconds, not after the whole
 * transaction time-out (librdkafka resumes a timed-out call on the next one). */
#define CALL_SLICE_MS 3000

static int call_slice(const decoder *r)
{
    int t = txn_timeout(r);
    return t < CALL_SLICE_MS ? t : CALL_SLICE_MS;
}

static void go_fatal(decoder *r, const char *what, const char *why)
{
    if (!atomic_exchange(&r->fatal, true))
        PR_LOG(PR_LOG_ERROR, COMP, "fatal Kafka error: the decoder stops",
               json_pack("{ssss}", "during", what, "error", why));
    atomic_store(&r->ready, false);
    pr_thread_request_stop(&r->thread);
    pr_signals_request_stop();
}

static void txn_reset(decoder *r)
{
    r->in_txn = false;
    r->txn_records = 0;
    if (r->txn_offsets)
        rd_kafka_topic_partition_list_destroy(r->txn_offsets);
    if (r->txn_first)
        rd_kafka_topic_partition_list_destroy(r->txn_first);
    r->txn_offsets = NULL;
    r->txn_first = NULL;
    memset(r->txn_out, 0, sizeof r->txn_out);
    memset(r->txn_dlq, 0, sizeof r->txn_dlq);
}

/* Seeks every partition of the failed batch back to its committed offset (or, if the group
 * has none yet, to the first offset the batch consumed). */
static void rewind_consumer(decoder *r)
{
    if (!r->txn_first)
        return;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_copy(r->txn_first);
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(r->txn_first);
    if (!parts || !committed)
        goto out;
    if (rd_kafka_committed(r->consumer, committed, txn_timeout(r)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *c = &committed->elems[i];
            if (!c->err && c->offset >= 0)
                parts->elems[i].offset = c->offset;
        }
    }
    rd_kafka_error_t *error = rd_kafka_seek_partitions(r->consumer, parts, txn_timeout(r));
    if (error) {
        PR_LOG(PR_LOG_ERROR, COMP, "cannot rewind the consumer after an abort",
               json_pack("{ss}", "error", rd_kafka_error_string(error)));
        go_fatal(r, "rewind", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else {
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].err)
                go_fatal(r, "rewind", rd_kafka_err2str(parts->elems[i].err));
    }
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
}

/* Classifies a transactional error: abort (and rewind), retry, or fatal. Consumes error. */
typedef enum txn_action { TXN_OK, TXN_RETRY, TXN_ABORT, TXN_FATAL } txn_action;
static txn_action classify(decoder *r, rd_kafka_error_t *error, const char *what);

/* One transactional call under decoder_retry_run: what it is and how its last attempt
 * failed. */
typedef struct txn_call {
    decoder *r;
    const char *what;
    rd_kafka_consumer_group_metadata_t *cgmd; /* send_offsets_to_transaction only */
    txn_action failed;                        /* TXN_ABORT or TXN_FATAL after TRY_FAILED */
} txn_call;

static long long call_now(void *ctx)
{
    (void)ctx;
    return pr_mono_ms();
}

static bool call_stopping(void *ctx)
{
    return pr_thread_stopping(&((txn_call *)ctx)->r->thread);
}

static decoder_try call_settle(txn_call *c, rd_kafka_error_t *error)
{
    if (!error)
        return DECODER_TRY_DONE;
    c->failed = classify(c->r, error, c->what);
    return c->failed == TXN_RETRY ? DECODER_TRY_AGAIN : DECODER_TRY_FAILED;
}

static decoder_try try_send_offsets(void *ctx, int timeout_ms)
{
    txn_call *c = ctx;
    return call_settle(c, rd_kafka_send_offsets_to_transaction(c->r->producer, c->r->txn_offsets,
                                                               c->cgmd, timeout_ms));
}

static decoder_try try_commit(void *ctx, int timeout_ms)
{
    txn_call *c = ctx;
    return call_settle(c, rd_kafka_commit_transaction(c->r->producer, timeout_ms));
}

/* An abort that fails other than retriably leaves nothing to fall back on: fatal (as in
 * librdkafka's examples/transactions.c). */
static decoder_try try_abort(void *ctx, int timeout_ms)
{
    txn_call *c = ctx;
    rd_kafka_error_t *error = rd_kafka_abort_transaction(c->r->producer, timeout_ms);
    if (!error)
        return DECODER_TRY_DONE;
    bool again = rd_kafka_error_is_retriable(error) && !rd_kafka_error_is_fatal(error);
    if (!again) {
        go_fatal(c->r, c->what, rd_kafka_error_string(error));
        c->failed = TXN_FATAL;
    }
    rd_kafka_error_destroy(error);
    return again ? DECODER_TRY_AGAIN : DECODER_TRY_FAILED;
}

/* Runs a transactional call with bounded retries (retry.c), attempts of at most slice_ms:
 * call_slice() for the calls librdkafka resumes after a time-out (commit, abort), the whole
 * budget for send_offsets_to_transaction, which is retried by sending a new request. TXN_OK,
 * TXN_ABORT, or TXN_FATAL (the role has gone fatal: the call failed for good, kept failing for
 * decoder-txn-timeout, or a stop came while it kept failing). */
static txn_action txn_call_run(txn_call *c, decoder_try (*attempt)(void *, int), int slice_ms)
{
    decoder *r = c->r;
    decoder_retry rt = {attempt, call_now, call_stopping, c, r->cfg->txn_timeout, slice_ms};
    switch (decoder_retry_run(&rt)) {
    case DECODER_RETRY_DONE: return TXN_OK;
    case DECODER_RETRY_FAILED: return c->failed;
    case DECODER_RETRY_STOPPED:
        go_fatal(r, c->what, "stop requested while the call kept failing (Kafka unreachable?)");
        return TXN_FATAL;
    case DECODER_RETRY_TIMED_OUT:
        go_fatal(r, c->what, "still failing after decoder-txn-timeout (Kafka unreachable?)");
        return TXN_FATAL;
    }
    return TXN_FATAL;
}

static void abort_and_rewind(decoder *r, const char *why)
{
    txn_call c = {r, "abort_transaction", NULL, TXN_FATAL};
    PR_LOG(PR_LOG_WARN, COMP, "aborting the transaction; the batch will be decoded again",
           json_pack("{sssI}", "reason", why, "records", (json_int_t)r->txn_records));
    if (txn_call_run(&c, try_abort, call_slice(r)) != TXN_OK) {
        txn_reset(r);
        return;
    }
    rewind_consumer(r);
    pr_counter_inc(r->m_aborted);
    txn_reset(r);
}

static txn_action classify(decoder *r, rd_kafka_error_t *error, const char *what)
{
    txn_action a;
    if (rd_kafka_error_is_fatal(error)) {
        go_fatal(r, what, rd_kafka_error_string(error));
        a = TXN_FATAL;
    } else if (rd_kafka_error_txn_requires_abort(error)) {
        a = TXN_ABORT;
    } else if (rd_kafka_error_is_retriable(error)) {
        a = TXN_RETRY;
    } else {
        a = TXN_ABORT;
    }
    if (a != TXN_FATAL)
        PR_LOG(PR_LOG_WARN, COMP, "transaction call failed",
               json_pack("{ssssss}", "call", what, "error", rd_kafka_error_string(error), "action",
                         a == TXN_RETRY ? "retry" : "abort"));
    rd_kafka_error_destroy(error);
    return a;
}

/* Sends the offsets and commits the open transaction; on failure aborts and rewinds. */
static void commit_batch(decoder *r)
{
    if (!r->in_txn)
        return;
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(r->consumer);
    if (!cgmd) {
        go_fatal(r, "consumer_group_metadata", "no group metadata");
        return;
    }
    txn_call c = {r, "send_offsets_to_transaction", cgmd, TXN_FATAL};
    txn_action a = txn_call_run(&c, try_send_offsets, txn_timeout(r));
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (a == TXN_OK) {
        c = (txn_call){r, "commit_transaction", NULL, TXN_FATAL};
        a = txn_call_run(&c, try_commit, call_slice(r));
    }
    if (a == TXN_ABORT) /* resets the transaction */
        abort_and_rewind(r, c.cgmd ? "send_offsets_to_transaction failed"
                                   : "commit_transaction failed");
    else if (a != TXN_OK)
        txn_reset(r);
    if (a != TXN_OK)
        return;
    /* Refusals of records now committed are settled. */
    for (int i = 0; r->refused.n && i < r->txn_offsets->cnt; i++)
        decoder_refused_settle(&r->refused, r->txn_offsets->elems[i].partition,
                               r->txn_offsets->elems[i].offset);
    /* Only committed outputs are counted. */
    pr_counter_inc(r->m_committed);
    for (int t = 0; t < PR_TOPIC__COUNT; t++)
        if (r->txn_out[t])
            pr_counter_add(r->m_events[t], r->txn_out[t]);
    for (int d = 0; d < PR_DLQ_REASON__COUNT; d++)
        if (r->txn_dlq[d])
            pr_counter_add(r->m_dlq[d], r->txn_dlq[d]);
    PR_LOG(PR_LOG_DEBUG, COMP, "transaction committed",
           json_pack("{sI}", "records", (json_int_t)r->txn_records));
    txn_reset(r);
}

static int begin_batch(decoder *r)
{
    rd_kafka_error_t *error = rd_kafka_begin_transaction(r->producer);
    if (error) {
        go_fatal(r, "begin_transaction", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return -1;
    }
    r->txn_offsets = rd_kafka_topic_partition_list_new(8);
    r->txn_first = rd_kafka_topic_partition_list_new(8);
    r->in_txn = true;
    r->txn_records = 0;
    r->txn_started_ms = pr_mono_ms();
    return 0;
}

/* Records the record's partition for a rewind before anything of it is produced: a produce
 * that fails at once aborts the batch, and the rewind must then cover this record too. */
static void note_first(decoder *r, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    if (!rd_kafka_topic_partition_list_find(r->txn_first, topic, rkm->partition))
        rd_kafka_topic_partition_list_add(r->txn_first, topic, rkm->partition)->offset =
            rkm->offset;
}

static void note_offset(decoder *r, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(r->txn_offsets, topic, rkm->partition);
    if (!p)
        p = rd_kafka_topic_partition_list_add(r->txn_offsets, topic, rkm->partition);
    p->offset = rkm->offset + 1;
}

/* The raw record's place, carried in the produced message's opaque for the delivery report
 * (no allocation, so nothing to leak if the report is never served). */
static void *place_opaque(const rd_kafka_message_t *rkm)
{
    return (void *)(uintptr_t)((uint64_t)(uint16_t)rkm->partition << 48 |
                               ((uint64_t)rkm->offset & 0xffffffffffffULL));
}

static bool too_large_error(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    decoder *r = opaque;
    (void)rk;
    if (rkm->err && !too_large_error(rkm->err))
        return; /* any other failure: the commit fails, the batch is retried as it is */
    if (rkm->err)
        pr_counter_inc(r->m_refused);
    if (!rkm->err && r->refused.n == 0)
        return;
    uint64_t place = (uint64_t)(uintptr_t)rkm->_private;
    int32_t partition = (int32_t)(place >> 48);
    int64_t offset = (int64_t)(place & 0xffffffffffffULL);
    decoder_refused *m = &r->refused;
    long i = decoder_refused_find(m, partition, offset);
    if (!rkm->err) {
        /* A suspect whose full output went through is not the culprit. A confirmed one's
         * delivered output is its dead letter, which settles nothing until its transaction
         * commits (commit_batch forgets it then): if that transaction aborts (e.g. on the
         * sequence gap the refusal left, see decoder_loop.h), the record must be
         * dead-lettered again, not produced in full again, refused again, and so on for ever. */
        if (i >= 0 && !m->e[i].confirmed)
            decoder_refused_forget(m, i);
        return;
    }
    if (i >= 0) {
        if (r->alone_active && r->alone_partition == partition && r->alone_offset == offset) {
            m->e[i].confirmed = true;
            PR_LOG(PR_LOG_WARN, COMP,
                   "the broker refuses an output as too large; its raw record will be "
                   "dead-lettered",
                   json_pack("{sisIsI}", "partition", (int)partition, "offset", (json_int_t)offset,
                             "bytes", (json_int_t)rkm->len));
        }
        return;
    }
    if (decoder_refused_add(m, partition, offset, rkm->len) < 0)
        go_fatal(r, "delivery report", "out of memory remembering a refused output");
}

/* Kept here so that decoder.c can register it on the producer conf. */
void decoder_loop_producer_conf(rd_kafka_conf_t *conf, decoder *r);
void decoder_loop_producer_conf(rd_kafka_conf_t *conf, decoder *r)
{
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, r);
}

/* Produces one output, waiting while the local queue is full. 0: librdkafka took the value
 * (out->value is NULL now: it frees it when done, so the event is never copied); 1 if
 * librdkafka refuses it as too large at once; -1 (batch aborted, or the role is fatal). The
 * value stays the caller's unless 0 is returned. */
static int produce(decoder *r, decoder_output *out, const rd_kafka_message_t *rkm)
{
    const void *key = out->mac[0] ? (const void *)out->mac : rkm->key;
    size_t keylen = out->mac[0] ? strlen(out->mac) : rkm->key_len;
    /* rd_kafka_produceva rather than the producev macros: those use GNU statement
     * expressions, which -Wpedantic refuses under clang. */
    rd_kafka_vu_t vus[5];
    if (r->out_rkt[out->topic]) {
        vus[0].vtype = RD_KAFKA_VTYPE_RKT;
        vus[0].u.rkt = r->out_rkt[out->topic];
    } else {
        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[0].u.cstr = r->topic[out->topic];
    }
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem.ptr = (void *)(uintptr_t)key;
    vus[1].u.mem.size = keylen;
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem.ptr = out->value;
    vus[2].u.mem.size = out->value_len;
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_FREE;
    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[4].u.ptr = place_opaque(rkm);
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_produceva(r->producer, vus, 5);
        if (!error) {
            out->value = NULL; /* librdkafka's now (the length stays, for the counts) */
            return 0;
        }
        rd_kafka_resp_err_t err = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(r->producer, 100);
            continue;
        }
        if (too_large_error(err))
            return 1;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            char why[256];
            rd_kafka_fatal_error(r->producer, why, sizeof why);
            go_fatal(r, "produce", why);
            return -1;
        }
        abort_and_rewind(r, rd_kafka_err2str(err));
        return -1;
    }
}

void decoder_take_pending_keystore(decoder *r)
{
    decoder_keystore *ks = NULL;
    if (!atomic_exchange(&r->ks_changed, false))
        return;
    pthread_mutex_lock(&r->ks_lock);
    ks = r->ks_pending;
    r->ks_pending = NULL;
    pthread_mutex_unlock(&r->ks_lock);
    if (ks) {
        decoder_keystore_free(r->ks);
        r->ks = ks;
        r->opts.keystore = ks;
        PR_LOG(PR_LOG_INFO, COMP, "keystore reloaded", NULL);
    }
}

static void handle_record(decoder *r, rd_kafka_message_t *rkm)
{
    decoder_header hdrs[MAX_HEADERS];
    decoder_record rec;
    decoder_output out;
    char err[256];
    rd_kafka_headers_t *kh = NULL;

    memset(&rec, 0, sizeof rec);
    if (rd_kafka_message_headers(rkm, &kh) == RD_KAFKA_RESP_ERR_NO_ERROR && kh) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0;
             rec.nheaders < MAX_HEADERS && !rd_kafka_header_get_all(kh, i, &name, &val, &size);
             i++) {
            hdrs[rec.nheaders].name = name;
            hdrs[rec.nheaders].value = val;
            hdrs[rec.nheaders].len = val ? size : 0;
            rec.nheaders++;
        }
    }
    rec.headers = hdrs;
    rec.topic = rd_kafka_topic_name(rkm->rkt);
    rec.partition = rkm->partition;
    rec.offset = rkm->offset;
    rec.timestamp_ms = rd_kafka_message_timestamp(rkm, NULL);
    rec.key = rkm->key;
    rec.key_len = rkm->key_len;
    rec.value = rkm->payload;
    rec.value_len = rkm->len;

    decoder_take_pending_keystore(r); /* a reload applies from the next record on */
    if (!r->in_txn && begin_batch(r) != 0)
        return;
    note_first(r, rkm);
    struct timespec t0, t1; /* finer than milliseconds: most decodes take less */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pr_status st = decoder_report_decode(&rec, &r->opts, &out, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pr_histogram_observe(r->m_latency,
                         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    pr_counter_inc(r->m_records);
    if (st != PR_OK) {
        decoder_output_release(&out);
        abort_and_rewind(r, err);
        go_fatal(r, "decode", err);
        return;
    }
    long ri = r->refused.n ? decoder_refused_find(&r->refused, rkm->partition, rkm->offset) : -1;
    bool alone = false;
    if (ri >= 0 && r->refused.e[ri].confirmed) { /* refused even alone: dead-letter it (the
                                                  * entry stays until that is committed) */
        size_t refused = r->refused.e[ri].len;
        decoder_output_release(&out);
        if (decoder_report_refused(&rec, &r->opts, refused, &out, err, sizeof err) != PR_OK) {
            abort_and_rewind(r, err);
            go_fatal(r, "decode", err);
            return;
        }
    } else if (ri >= 0) { /* a suspect: send it alone to learn whether it is the culprit */
        alone = true;
        rd_kafka_flush(r->producer, txn_timeout(r));
        r->alone_active = true;
        r->alone_partition = rkm->partition;
        r->alone_offset = rkm->offset;
    }
    if (out.topic == PR_TOPIC_DLQ)
        PR_LOG(PR_LOG_INFO, COMP, "dead letter",
               json_pack("{sssssisI}", "reason", pr_dlq_reason_name(out.reason), "mac", out.mac,
                         "partition", (int)rkm->partition, "offset", (json_int_t)rkm->offset));
    int rc = produce(r, &out, rkm);
    if (rc == 1) { /* refused locally as too large: its small dead letter instead */
        size_t len = out.value_len;
        decoder_output_release(&out);
        if (decoder_report_refused(&rec, &r->opts, len, &out, err, sizeof err) != PR_OK) {
            abort_and_rewind(r, err);
            go_fatal(r, "decode", err);
            return;
        }
        rc = produce(r, &out, rkm);
        if (rc == 1) {
            abort_and_rewind(r, "even the smallest dead letter is refused as too large");
            go_fatal(r, "produce", "dead letter refused as too large");
            rc = -1;
        }
    }
    if (alone) {
        rd_kafka_flush(r->producer, txn_timeout(r));
        r->alone_active = false;
    }
    if (rc == 0) {
        note_offset(r, rkm);
        r->txn_records++;
        r->txn_out[out.topic]++;
        if (out.topic == PR_TOPIC_DLQ)
            r->txn_dlq[out.reason]++;
    }
    decoder_output_release(&out);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    decoder *r = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        PR_LOG(PR_LOG_INFO, COMP, "partitions assigned", json_pack("{si}", "count", parts->cnt));
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, parts);
    } else {
        PR_LOG(PR_LOG_INFO, COMP, "partitions revoked", json_pack("{si}", "count", parts->cnt));
        if (r->in_txn) {
            if (rd_kafka_assignment_lost(rk))
                abort_and_rewind(r, "partitions lost");
            else
                commit_batch(r);
        }
        /* Whatever of theirs is not committed now is another decoder's to decode. */
        for (int i = 0; i < parts->cnt; i++)
            decoder_refused_drop_partition(&r->refused, parts->elems[i].partition);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        PR_LOG(PR_LOG_ERROR, COMP, "assignment failed",
               json_pack("{ss}", "error", rd_kafka_error_string(error)));
        rd_kafka_error_destroy(error);
    } else if (rerr) {
        PR_LOG(PR_LOG_ERROR, COMP, "assignment failed",
               json_pack("{ss}", "error", rd_kafka_err2str(rerr)));
    }
}

/* Kept here so that decoder.c can register it on the consumer conf. */
void decoder_loop_conf(rd_kafka_conf_t *conf, decoder *r);
void decoder_loop_conf(rd_kafka_conf_t *conf, decoder *r)
{
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, r);
}

static int init_transactions(decoder *r)
{
    while (!pr_thread_stopping(&r->thread)) {
        /* A timed-out init_transactions is retriable and resumes where it stopped. */
        rd_kafka_error_t *error = rd_kafka_init_transactions(r->producer, call_slice(r));
        if (!error)
            return 0;
        bool retry = rd_kafka_error_is_retriable(error) && !rd_kafka_error_is_fatal(error);
        PR_LOG(retry ? PR_LOG_WARN : PR_LOG_ERROR, COMP, "init_transactions failed",
               json_pack("{sssb}", "error", rd_kafka_error_string(error), "retry", retry));
        if (!retry) {
            go_fatal(r, "init_transactions", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            return -1;
        }
        rd_kafka_error_destroy(error);
    }
    return -1;
}

void *decoder_loop_run(void *arg)
{
    decoder *r = arg;
    rd_kafka_topic_partition_list_t *sub = NULL;

    decoder_topics_ensure(r, call_slice(r));
    if (init_transactions(r) != 0)
        goto out;
    decoder_outputs_warm(r, call_slice(r));
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, r->topic[PR_TOPIC_RAW], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(r->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        go_fatal(r, "subscribe", rd_kafka_err2str(err));
        goto out;
    }
    atomic_store(&r->ready, true);
    PR_LOG(PR_LOG_INFO, COMP, "consuming",
           json_pack("{ssss}", "topic", r->topic[PR_TOPIC_RAW], "transactional_id", r->txn_id));

    while (!pr_thread_stopping(&r->thread)) {
        decoder_take_pending_keystore(r);
        /* Group commit: while a batch is open, only what the consumer holds already is taken
         * (no wait); once nothing is waiting the batch commits (after decoder-batch-linger-ms,
         * 0 by default), so a lone report is not held for decoder-batch-ms, and batches grow
         * only under load (records keep arriving while a commit is under way). A lingering
         * batch, and an idle loop, wait at most 200 ms, so that the producer's delivery
         * reports (a refusal among them) are served soon after they arrive. */
        int wait = 200;
        if (r->in_txn && r->cfg->batch_linger == 0) {
            wait = 0;
        } else if (r->in_txn) {
            long long left = r->txn_started_ms + r->cfg->batch_ms - pr_mono_ms();
            wait = left < 0 ? 0 : left < wait ? (int)left : wait;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->consumer, wait);
        bool drained = !rkm;
        if (rkm) {
            if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                handle_record(r, rkm);
            } else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                PR_LOG(PR_LOG_WARN, COMP, "consumer error",
                       json_pack("{ss}", "error", rd_kafka_message_errstr(rkm)));
                if (rkm->err == RD_KAFKA_RESP_ERR__FATAL)
                    go_fatal(r, "consume", rd_kafka_message_errstr(rkm));
            }
            rd_kafka_message_destroy(rkm);
        }
        rd_kafka_poll(r->producer, 0);
        long long open_ms = r->in_txn ? pr_mono_ms() - r->txn_started_ms : 0;
        if (r->in_txn && !atomic_load(&r->fatal) &&
            ((drained && open_ms >= r->cfg->batch_linger) ||
             (long long)r->txn_records >= r->cfg->batch_max || open_ms >= r->cfg->batch_ms))
            commit_batch(r);
    }
    /* Graceful stop: the open batch is committed, then the group is left. */
    if (r->in_txn && !atomic_load(&r->fatal))
        commit_batch(r);
out:
    atomic_store(&r->ready, false);
    txn_reset(r);
    rd_kafka_consumer_close(r->consumer);
    return NULL;
}
