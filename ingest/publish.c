/*
 * publish.c - the ingest role's Kafka producer: one record per report on <prefix>raw, key =
 * MAC, value = the body as received, the headers of DESIGN section 3.
 *
 * DESIGN (threads): HTTP threads call ingest_pub_send(), which never blocks (a full queue is
 * an immediate error, answered 503). A dedicated thread runs rd_kafka_poll(), so delivery
 * reports - the only place a phone's 200 may come from - are served there and handed to the
 * ack callback of the HTTP layer, which resumes the suspended connection. A second thread
 * probes the cluster (metadata for the raw topic) for /readyz and creates the raw topic if
 * it is missing; librdkafka's error callback marks Kafka unreachable at once when all
 * brokers are down. The producer is idempotent with acks=all and the murmur2_random
 * partitioner; those three, and delivery reports of successes, are forced after the kafka.*
 * pass-through because the edge's promise ("200 means Kafka has it, in per-phone order")
 * depends on them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest_int.h"
#include "kafka.h"
#include "log.h"
#include "clock.h"

struct ingest_pub {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char topic[256];
    ingest_ack_fn ack;
    void *ack_ctx;
    int partitions;
    int probe_ms;
    pthread_t poll_thr, probe_thr;
    bool threads_started;
    atomic_bool run;
    atomic_bool poll_run;
    atomic_bool ready;
    atomic_bool topic_ok;
    atomic_bool fatal; /* a fatal producer error: not ready until restarted */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pr_gauge *up;
};

static void set_ready(ingest_pub *p, bool up)
{
    if (up && atomic_load(&p->fatal))
        return;
    bool was = atomic_exchange(&p->ready, up);
    if (was != up) {
        pr_gauge_set(p->up, up ? 1.0 : 0.0);
        PR_LOG(up ? PR_LOG_INFO : PR_LOG_WARN, "ingest",
               up ? "kafka reachable" : "kafka unreachable", json_pack("{ss}", "topic", p->topic));
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    ingest_pub *p = opaque;
    (void)rk;
    if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        set_ready(p, true);
    p->ack(p->ack_ctx, rkm->_private, rkm->err);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ingest_pub *p = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
        PR_LOG(PR_LOG_ERROR, "ingest", "fatal producer error: the edge answers 503 until restarted",
               json_pack("{ssss}", "error", rd_kafka_err2name(orig), "reason", buf));
        atomic_store(&p->fatal, true);
        set_ready(p, false);
        return;
    }
    PR_LOG(PR_LOG_WARN, "ingest", "kafka error",
           json_pack("{ssss}", "error", rd_kafka_err2name(e), "reason", reason ? reason : ""));
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        e == RD_KAFKA_RESP_ERR__RESOLVE)
        set_ready(p, false);
}

static void *poll_main(void *arg)
{
    ingest_pub *p = arg;
    while (atomic_load(&p->poll_run))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

/* Waits ms or until stopped; false when stopped. */
static bool probe_wait(ingest_pub *p, long ms)
{
    long long deadline = pr_mono_ms() + ms;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->run)) {
        if (pr_cond_wait_ms(&p->cv, &p->mu, deadline - pr_mono_ms()) != 0)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    return atomic_load(&p->run);
}

static void probe_once(ingest_pub *p)
{
    char err[512];
    int timeout = p->probe_ms < 1000 ? 1000 : p->probe_ms;
    if (!atomic_load(&p->topic_ok)) {
        const char *names[] = {p->topic};
        pr_status st =
            pr_kafka_ensure_topics(p->rk, names, 1, p->partitions, NULL, timeout, err, sizeof err);
        if (st == PR_OK)
            atomic_store(&p->topic_ok, true);
        else
            PR_LOG(PR_LOG_DEBUG, "ingest", "cannot ensure the raw topic yet",
                   json_pack("{ssss}", "topic", p->topic, "error", err));
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, p->rkt, &md, timeout);
    bool up = false;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
        up = md->broker_cnt > 0 && md->topic_cnt == 1 && md->topics[0].err == 0 &&
             md->topics[0].partition_cnt > 0;
        if (!up && md->topic_cnt == 1 && md->topics[0].err)
            PR_LOG(PR_LOG_DEBUG, "ingest", "raw topic not available",
                   json_pack("{ssss}", "topic", p->topic, "error",
                             rd_kafka_err2name(md->topics[0].err)));
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    set_ready(p, up);
}

static void *probe_main(void *arg)
{
    ingest_pub *p = arg;
    do {
        probe_once(p);
    } while (probe_wait(p, p->probe_ms));
    return NULL;
}

pr_status ingest_pub_new(const pr_common_cfg *common, const ingest_cfg *cfg, pr_metrics *metrics,
                         ingest_ack_fn ack, void *ack_ctx, ingest_pub **out, char *err,
                         size_t errlen)
{
    pr_status st = PR_OK;
    rd_kafka_conf_t *conf = NULL;
    char timeout[32];
    *out = NULL;
    ingest_pub *p = calloc(1, sizeof *p);
    if (!p)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pr_cond_init_mono(&p->cv);
    p->ack = ack;
    p->ack_ctx = ack_ctx;
    p->partitions = (int)cfg->raw_partitions;
    p->probe_ms = (int)cfg->ready_probe_ms;
    p->up = pr_metrics_gauge(metrics, "phonereport_ingest_kafka_up",
                             "1 while the raw topic is reachable, else 0", NULL);
    pr_gauge_set(p->up, 0);
    if (pr_topic_name(common->topic_prefix, PR_TOPIC_RAW, p->topic, sizeof p->topic) != 0) {
        st = pr_err(PR_EINVAL, err, errlen, "topic prefix too long");
        goto out;
    }
    snprintf(timeout, sizeof timeout, "%lld", cfg->ack_timeout_ms);
    /* lz4: plain reports are XML that compresses several times (the broker's CPU per phone
     * fell by a fifth in the boot storm); an encrypted body costs lz4 little to pass over. */
    const char *defaults[] = {
        "message.timeout.ms", timeout, "linger.ms", "2", "queue.buffering.max.messages", "1000000",
        "compression.type",   "lz4",   NULL};
    conf = pr_kafka_conf_new(common, "ingest", defaults, err, errlen);
    if (!conf) {
        st = PR_EINVAL;
        goto out;
    }
    /* delivery.report.only.error: the phone's 200 comes from the report of a success */
    const char *forced[] = {
        "enable.idempotence",         "true",  "acks", "all", "partitioner", "murmur2_random",
        "delivery.report.only.error", "false", NULL};
    for (size_t i = 0; forced[i]; i += 2) {
        char rerr[256];
        if (rd_kafka_conf_set(conf, forced[i], forced[i + 1], rerr, sizeof rerr) !=
            RD_KAFKA_CONF_OK) {
            st = pr_err(PR_EINVAL, err, errlen, "%s: %s", forced[i], rerr);
            goto out;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, p);
    if ((st = pr_kafka_new(RD_KAFKA_PRODUCER, &conf, &p->rk, err, errlen)) != PR_OK)
        goto out;
    p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
    if (!p->rkt) {
        st = pr_err(PR_EFATAL, err, errlen, "cannot create topic handle: %s",
                    rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (st != PR_OK) {
        ingest_pub_free(p);
        p = NULL;
    }
    *out = p;
    return st;
}

pr_status ingest_pub_start(ingest_pub *p, char *err, size_t errlen)
{
    atomic_store(&p->run, true);
    atomic_store(&p->poll_run, true);
    if (pthread_create(&p->poll_thr, NULL, poll_main, p) != 0)
        return pr_err(PR_EFATAL, err, errlen, "cannot start the delivery-report thread");
    if (pthread_create(&p->probe_thr, NULL, probe_main, p) != 0) {
        atomic_store(&p->poll_run, false);
        pthread_join(p->poll_thr, NULL);
        return pr_err(PR_EFATAL, err, errlen, "cannot start the readiness thread");
    }
    p->threads_started = true;
    return PR_OK;
}

rd_kafka_resp_err_t ingest_pub_send(ingest_pub *p, const char *mac, char *body, size_t len,
                                    const ingest_hdr *h, size_t nh, void *opaque)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(nh);
    for (size_t i = 0; i < nh; i++)
        if (h[i].value)
            rd_kafka_header_add(hdrs, h[i].name, -1, h[i].value, -1);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_KEY(mac, strlen(mac)),
                          RD_KAFKA_V_VALUE(len ? body : NULL, len),
                          RD_KAFKA_V_MSGFLAGS(len ? RD_KAFKA_MSG_F_FREE : 0),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_headers_destroy(hdrs); /* kept by librdkafka only on success */
    else if (!len)
        free(body);
    return e;
}

bool ingest_pub_ready(const ingest_pub *p)
{
    return p && atomic_load(&((ingest_pub *)p)->ready);
}

int ingest_pub_drain(ingest_pub *p, int timeout_ms)
{
    if (!p || !p->rk)
        return 0;
    rd_kafka_flush(p->rk, timeout_ms);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0) {
        /* what Kafka did not take in time is answered 503 through purge delivery reports */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 5000);
    }
    return left;
}

void ingest_pub_stop(ingest_pub *p)
{
    if (!p || !p->threads_started)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->run, false);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->probe_thr, NULL);
    atomic_store(&p->poll_run, false);
    pthread_join(p->poll_thr, NULL);
    rd_kafka_poll(p->rk, 0);
    p->threads_started = false;
    atomic_store(&p->ready, false);
    pr_gauge_set(p->up, 0);
}

void ingest_pub_free(ingest_pub *p)
{
    if (!p)
        return;
    ingest_pub_stop(p);
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
