/*
 * loop_poison.c - a record that fails on a healthy store (a poison record) must not stop the
 * sink, and must not be lost silently.
 *
 * An apply error is first taken for what it usually is, an outage of the store (connection
 * lost, busy, disk full): when the store does not answer a ping the loop backs off and
 * resumes from the stored offsets (loop_assign.c). When the store answers, the record becomes
 * the suspect: the batch is rolled back, every record from then on commits alone, and the
 * suspect is retried alone after a growing wait (250 ms, 500 ms, ...). Once it has failed
 * alone sink-poison-retries times it is skipped: a phonereport.sink-dlq record (its
 * coordinates, the store's error and the record's value) goes into the outbox in the same
 * transaction as the record's offset, so the skip, its evidence and the offset commit
 * together; phonereport_sink_poison_total counts it and one log line names it. A store that
 * cannot write even that transaction is down, and nothing is skipped.
 *
 * On PostgreSQL the writes are pipelined: a write the store refuses fails the batch at a later
 * read or at COMMIT, which names no record. A batch of one names its record (the suspect);
 * a larger one is read again one record per transaction, so that the record is found.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "loop_int.h"

static bool same(const struct suspect *s, const char *topic, int32_t partition, int64_t offset)
{
    return s->active && s->partition == partition && s->offset == offset &&
           strcmp(s->topic, topic) == 0;
}

void sink_loop_suspect(sink_loop *l, bool alone)
{
    struct suspect *f = &l->failed_at, *s = &l->suspect;
    if (!same(s, f->topic, f->partition, f->offset)) {
        *s = *f;
        s->alone = 0;
    }
    snprintf(s->error, sizeof s->error, "%s", f->error);
    s->active = true;
    if (alone)
        s->alone++;
    PR_LOG(PR_LOG_WARN, "sink", "apply failed on a store that answers: retried alone",
           json_pack("{ss si sI si ss}", "topic", s->topic, "partition", (int)s->partition,
                     "offset", (json_int_t)s->offset, "failures_alone", s->alone, "error",
                     s->error));
    int shift = s->alone < 5 ? s->alone : 5;
    sink_loop_hold(l, 250L << shift);
}

bool sink_loop_poison_due(const sink_loop *l, const char *topic, int32_t partition, int64_t offset)
{
    return same(&l->suspect, topic, partition, offset) &&
           l->suspect.alone >= l->cfg->poison_retries;
}

pr_status sink_loop_poison_skip(sink_loop *l, const rd_kafka_message_t *rkm, const char *mac,
                                char *err, size_t errlen)
{
    const struct suspect *s = &l->suspect;
    char now[32];
    sink_now_rfc3339(now, sizeof now);
    json_t *value = json_stringn((const char *)rkm->payload, rkm->len);
    json_t *rec =
        json_pack("{ss ss ss ss* s{ss si sI} si ss so*}", "schema", PR_SCHEMA_SINK_DLQ, "reason",
                  "apply_failed", "detail", s->error, "mac", mac && *mac ? mac : NULL, "source",
                  "topic", s->topic, "partition", (int)s->partition, "offset",
                  (json_int_t)s->offset, "failures_alone", s->alone, "at", now, "value", value);
    if (!rec)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    pr_status rc = sink_store_outbox_put(l->st, PR_TOPIC_SINK_DLQ, rkm->partition,
                                         mac && *mac ? mac : "", rec, err, errlen);
    if (rc != PR_OK)
        return rc;
    pr_counter_inc(l->c_poison);
    PR_LOG(PR_LOG_ERROR, "sink",
           "record fails on a healthy store: skipped, kept in the sink-dlq topic",
           json_pack("{ss si sI ss* si ss}", "topic", s->topic, "partition", (int)s->partition,
                     "offset", (json_int_t)s->offset, "mac", mac && *mac ? mac : NULL,
                     "failures_alone", s->alone, "error", s->error));
    return PR_OK;
}

void sink_loop_suspect_clear(sink_loop *l, const char *topic, int32_t partition, int64_t offset)
{
    if (same(&l->suspect, topic, partition, offset))
        memset(&l->suspect, 0, sizeof l->suspect);
}

void sink_loop_unnamed_failure(sink_loop *l, long n, const char *error)
{
    if (n <= 1 && l->last.active) {
        l->failed_at = l->last;
        snprintf(l->failed_at.error, sizeof l->failed_at.error, "%s", error);
        sink_loop_suspect(l, true);
        return;
    }
    l->solo = n > l->solo ? n : l->solo;
    PR_LOG(PR_LOG_WARN, "sink",
           "batch failed on a store that answers: its records commit one per transaction until "
           "the one that fails is found",
           json_pack("{sI ss}", "records", (json_int_t)n, "error", error));
    sink_loop_hold(l, 250);
}
