/*
 * decoder.c - the decoder role's lifecycle: decoder_new builds the Kafka clients and loads
 * the keystore, decoder_start runs loop.c on its own thread, decoder_stop asks it to commit
 * its open batch and leave the group, decoder_reload re-reads the keystore (SIGHUP).
 *
 * DESIGN: two threads touch a decoder: the caller's (lifecycle, reload, ready/failed) and
 * the loop thread (everything Kafka). They share only atomics and the keystore hand-over
 * slot under ks_lock.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decoder_loop.h"
#include "kafka.h"
#include "log.h"

#define COMP "decoder"

void decoder_loop_conf(rd_kafka_conf_t *conf, decoder *r);
void decoder_loop_producer_conf(rd_kafka_conf_t *conf, decoder *r);

static void metrics_init(decoder *r)
{
    pr_metrics *m = r->metrics;
    r->m_records =
        pr_metrics_counter(m, "phonereport_decoder_records_total",
                           "Raw records decoded (including retries after an abort)", NULL);
    for (int t = PR_TOPIC_CONFIG; t <= PR_TOPIC_DLQ; t++)
        r->m_events[t] = pr_metrics_counter_by(m, "phonereport_decoder_events_total",
                                               "Outputs committed, by topic", "topic",
                                               pr_topic_suffix((pr_topic)t));
    for (int d = 0; d < PR_DLQ_REASON__COUNT; d++)
        r->m_dlq[d] = pr_metrics_counter_by(m, "phonereport_decoder_dlq_total",
                                            "Dead letters committed, by reason", "reason",
                                            pr_dlq_reason_name((pr_dlq_reason)d));
    r->m_committed = pr_metrics_counter_by(m, "phonereport_decoder_transactions_total",
                                           "Kafka transactions, by outcome", "result", "committed");
    r->m_aborted = pr_metrics_counter_by(m, "phonereport_decoder_transactions_total",
                                         "Kafka transactions, by outcome", "result", "aborted");
    r->m_refused = pr_metrics_counter(
        m, "phonereport_decoder_outputs_refused_total",
        "Outputs the broker refused as too large (the batch is aborted; a record refused even "
        "alone is dead-lettered too_large)",
        NULL);
    r->m_latency =
        pr_metrics_histogram(m, "phonereport_decoder_decode_seconds",
                             "Time to decode one record (decrypt, gunzip, parse, "
                             "build)",
                             NULL, pr_metrics_latency_buckets, pr_metrics_latency_buckets_len);
}

/* One of the decoder's Kafka clients: its conf from common and defs, then the loop's callbacks
 * (hooks), into *out. PR_EINVAL when librdkafka refuses the configuration. */
static pr_status new_client(const pr_common_cfg *common, rd_kafka_type_t type,
                            const char *const *defs, void (*hooks)(rd_kafka_conf_t *, decoder *),
                            decoder *r, rd_kafka_t **out, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = pr_kafka_conf_new(common, COMP, defs, err, errlen);
    if (!conf)
        return PR_EINVAL;
    hooks(conf, r);
    return pr_kafka_new(type, &conf, out, err, errlen);
}

pr_status decoder_new(const pr_common_cfg *common, const decoder_cfg *cfg, pr_metrics *metrics,
                      decoder **out, char *err, size_t errlen)
{
    pr_status st = PR_OK;
    decoder *r = calloc(1, sizeof *r);
    const char *prefix = common->topic_prefix ? common->topic_prefix : PR_TOPIC_PREFIX_DEFAULT;

    *out = NULL;
    if (!r)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    r->common = common;
    r->cfg = cfg;
    r->metrics = metrics;
    pthread_mutex_init(&r->ks_lock, NULL);
    for (int t = 0; t < PR_TOPIC__COUNT; t++)
        if (pr_topic_name(prefix, (pr_topic)t, r->topic[t], sizeof r->topic[t]) != 0) {
            st = pr_err(PR_EINVAL, err, errlen, "topic-prefix is too long");
            goto fail;
        }
    if (cfg->transactional_id && *cfg->transactional_id) {
        snprintf(r->txn_id, sizeof r->txn_id, "%s", cfg->transactional_id);
    } else {
        char host[128] = "localhost";
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(r->txn_id, sizeof r->txn_id, "%s-%s", cfg->group, host);
    }
    st = decoder_keystore_load(cfg->keystore, &r->ks, err, errlen);
    if (st != PR_OK)
        goto fail;
    decoder_cfg_opts(cfg, &r->opts);
    r->opts.keystore = r->ks;
    metrics_init(r);

    const char *cdefs[] = {"group.id",
                           cfg->group,
                           "isolation.level",
                           "read_committed",
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           "auto.offset.reset",
                           "earliest",
                           "fetch.wait.max.ms",
                           PR_KAFKA_FETCH_WAIT_MS,
                           NULL};
    if ((st = new_client(common, RD_KAFKA_CONSUMER, cdefs, decoder_loop_conf, r, &r->consumer, err,
                         errlen)) != PR_OK)
        goto fail;
    rd_kafka_poll_set_consumer(r->consumer);

    /* lz4: a config event is 30 KB of JSON, 13.5 KB compressed: what the broker stores,
     * replicates and serves (its CPU per phone fell by a fifth in the boot storm). */
    const char *pdefs[] = {"transactional.id",
                           r->txn_id,
                           "partitioner",
                           "murmur2_random",
                           "enable.idempotence",
                           "true",
                           "compression.type",
                           "lz4",
                           NULL};
    if ((st = new_client(common, RD_KAFKA_PRODUCER, pdefs, decoder_loop_producer_conf, r,
                         &r->producer, err, errlen)) != PR_OK)
        goto fail;
    *out = r;
    return PR_OK;
fail:
    decoder_free(r);
    return st;
}

pr_status decoder_start(decoder *r, char *err, size_t errlen)
{
    if (r->thread.started)
        return PR_OK;
    return pr_thread_start(&r->thread, decoder_loop_run, r, "decoder", err, errlen);
}

void decoder_stop(decoder *r)
{
    if (!r || !r->thread.started)
        return;
    pr_thread_stop(&r->thread, NULL, NULL);
    if (r->producer)
        rd_kafka_flush(r->producer, 5000);
}

void decoder_free(decoder *r)
{
    if (!r)
        return;
    decoder_stop(r);
    if (r->consumer)
        rd_kafka_destroy(r->consumer);
    for (int t = 0; t < PR_TOPIC__COUNT; t++)
        if (r->out_rkt[t]) /* before their producer goes */
            rd_kafka_topic_destroy(r->out_rkt[t]);
    if (r->producer)
        rd_kafka_destroy(r->producer);
    decoder_keystore_free(r->ks);
    decoder_keystore_free(r->ks_pending);
    decoder_refused_release(&r->refused);
    pthread_mutex_destroy(&r->ks_lock);
    free(r);
}

bool decoder_ready(const decoder *r)
{
    return r && atomic_load(&r->ready) && !atomic_load(&r->fatal);
}

bool decoder_failed(const decoder *r)
{
    return r && atomic_load(&r->fatal);
}

void decoder_reload(decoder *r)
{
    decoder_keystore *ks = NULL;
    char err[512];
    if (!r)
        return;
    if (decoder_keystore_load(r->cfg->keystore, &ks, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, COMP, "keystore reload failed; the previous one stays in use",
               json_pack("{ss}", "error", err));
        return;
    }
    pthread_mutex_lock(&r->ks_lock);
    decoder_keystore_free(r->ks_pending);
    r->ks_pending = ks;
    atomic_store(&r->ks_changed, true);
    pthread_mutex_unlock(&r->ks_lock);
    if (!r->thread.started) /* no loop thread to hand it over to */
        decoder_take_pending_keystore(r);
}
