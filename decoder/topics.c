/*
 * topics.c - the decoder's topics at the start of its loop: created where missing, and the
 * producer's handles of its output topics with their metadata, so that the first output of
 * each is not held back by librdkafka's once-a-second topic scan (kafka.h,
 * pr_kafka_topic_handles). Used by loop.c; the handles are destroyed by decoder_free.
 */
#include "decoder_loop.h"
#include "kafka.h"
#include "log.h"

#define COMP "decoder"

void decoder_topics_ensure(decoder *r, int timeout_ms)
{
    const char *names[] = {r->topic[PR_TOPIC_RAW], r->topic[PR_TOPIC_CONFIG],
                           r->topic[PR_TOPIC_STATUS], r->topic[PR_TOPIC_DLQ]};
    char err[512];
    if (pr_kafka_ensure_topics(r->producer, names, 4, 0, NULL, timeout_ms, err, sizeof err) !=
        PR_OK)
        PR_LOG(PR_LOG_WARN, COMP, "could not create the topics (they may exist already)",
               json_pack("{ss}", "error", err));
}

/* The producer's handles of its output topics, with their metadata, before the first record
 * is consumed (pr_kafka_topic_handles: else the first output of each topic waited up to a
 * second, and the first reports after a start all showed about a second late). */
void decoder_outputs_warm(decoder *r, int timeout_ms)
{
    const pr_topic outs[] = {PR_TOPIC_CONFIG, PR_TOPIC_STATUS, PR_TOPIC_DLQ};
    /* handles already made (a run after a fenced one) are kept */
    rd_kafka_resp_err_t err =
        pr_kafka_topic_handles(r->producer, outs, 3, r->topic, r->out_rkt, timeout_ms);
    if (err)
        PR_LOG(PR_LOG_WARN, COMP,
               "no metadata for the output topics yet: their first outputs may wait a second",
               json_pack("{ss}", "error", rd_kafka_err2str(err)));
}
