/*
 * ingest.c - the lifecycle of the ingest role (ingest.h): build the parsed rules, the
 * producer and the metrics in ingest_new, open the socket and start threads in
 * ingest_start, and shut down in order in ingest_stop:
 *
 *   1. stop accepting (the listening socket is closed; open keep-alive connections get 503
 *      `shutting down` with Connection: close);
 *   2. wait, at most ingest-shutdown-timeout, for Kafka to ack what it holds (their phones get
 * 200);
 *   3. purge what is left (their phones get 503), log how many were undelivered;
 *   4. wait for those answers to be queued, stop the HTTP daemon and the producer threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "ingest_int.h"
#include "listen.h"
#include "log.h"
#include "clock.h"
#include "file.h"

/* The largest certificate, key or CA bundle file read (PEM). */
#define PEM_MAX ((size_t)16 << 20)

static void stats_init(ingest *r)
{
    pr_metrics *m = r->metrics;
    ingest_stats *s = &r->stats;
    s->bytes = pr_metrics_counter(m, "phonereport_ingest_received_bytes_total",
                                  "report body bytes received", NULL);
    s->records = pr_metrics_counter(m, "phonereport_ingest_published_total",
                                    "reports acknowledged by Kafka", NULL);
    s->inflight_requests = pr_metrics_gauge(m, "phonereport_ingest_inflight_requests",
                                            "uploads being received or waiting for Kafka", NULL);
    s->inflight_bytes = pr_metrics_gauge(m, "phonereport_ingest_inflight_bytes",
                                         "bytes held in the in-flight budget", NULL);
    s->ack_latency = pr_metrics_histogram(
        m, "phonereport_ingest_ack_latency_seconds", "time from produce to Kafka's acknowledgement",
        NULL, pr_metrics_latency_buckets, pr_metrics_latency_buckets_len);
    static const char *const reasons[INGEST_U__COUNT] = {
        [INGEST_U_KAFKA_DOWN] = "kafka_down",   [INGEST_U_QUEUE_FULL] = "queue_full",
        [INGEST_U_INFLIGHT] = "inflight_limit", [INGEST_U_INFLIGHT_IP] = "inflight_ip_limit",
        [INGEST_U_TIMEOUT] = "timeout",         [INGEST_U_KAFKA_ERROR] = "kafka_error",
        [INGEST_U_SHUTDOWN] = "shutting_down",
    };
    for (int i = 0; i < INGEST_U__COUNT; i++)
        s->unavailable[i] = pr_metrics_counter_by(m, "phonereport_ingest_unavailable_total",
                                                  "503 answers, by reason", "reason", reasons[i]);
    const char *ah = "failed authentications, by reason";
    s->auth_missing =
        pr_metrics_counter(m, "phonereport_ingest_auth_failures_total", ah, "reason=\"missing\"");
    s->auth_bad =
        pr_metrics_counter(m, "phonereport_ingest_auth_failures_total", ah, "reason=\"bad\"");
    const char *ih = "uploads refused for their identity, by reason";
    const char *in = "phonereport_ingest_identity_failures_total";
    s->id_none = pr_metrics_counter(m, in, ih, "reason=\"none\"");
    s->id_invalid = pr_metrics_counter(m, in, ih, "reason=\"invalid\"");
    s->id_mismatch = pr_metrics_counter(m, in, ih, "reason=\"mismatch\"");
    s->id_not_allowed = pr_metrics_counter(m, in, ih, "reason=\"not_allowed\"");
    s->id_user_mac = pr_metrics_counter(m, in, ih, "reason=\"user_mac\"");
    s->id_cert = pr_metrics_counter(m, in, ih, "reason=\"cert\"");
}

pr_status ingest_new(const pr_common_cfg *common, const ingest_cfg *cfg, pr_metrics *metrics,
                     ingest **out, char *err, size_t errlen)
{
    pr_status st = PR_OK;
    char perr[512];
    *out = NULL;
    ingest *r = calloc(1, sizeof *r);
    if (!r)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    r->common = common;
    r->cfg = cfg;
    r->metrics = metrics;
    pthread_rwlock_init(&r->auth_lock, NULL);
    pthread_mutex_init(&r->wait_mu, NULL);
    pr_cond_init_mono(&r->wait_cv);
    pthread_mutex_init(&r->hw_mu, NULL);
    pr_cond_init_mono(&r->hw_cv);
    ingest_budget_init(&r->budget, cfg->max_inflight_bytes);
    stats_init(r);
    st = ingest_shares_new(ingest_limits_ip_share(cfg), &r->shares, err, errlen);
    if (st != PR_OK)
        goto out;

    if (!common->brokers || !*common->brokers) {
        st = pr_err(PR_EINVAL, err, errlen, "ingest needs --brokers");
        goto out;
    }
    if (pr_listen_resolve(cfg->listen, "listen", &r->addr, &r->port, perr, sizeof perr) != PR_OK ||
        ingest_identity_order_parse(cfg->identity_order, &r->order, perr, sizeof perr) != PR_OK ||
        ingest_allow_parse(cfg->allow_macs, &r->allow, perr, sizeof perr) != PR_OK ||
        ingest_kind_rules_parse(cfg->kind_status_pattern, cfg->kind_delta_pattern,
                                cfg->kind_full_pattern, &r->kinds, perr, sizeof perr) != PR_OK ||
        ingest_prefixes_parse(cfg->upload_prefixes, &r->prefixes, perr, sizeof perr) != PR_OK) {
        st = pr_err(PR_EINVAL, err, errlen, "%s", perr);
        goto out;
    }
    r->digest = cfg->auth_scheme && strcmp(cfg->auth_scheme, "digest") == 0;
    if (cfg->auth_file) {
        st = ingest_auth_load(cfg->auth_file, &r->auth, perr, sizeof perr);
        if (st != PR_OK) {
            pr_err(st, err, errlen, "auth-file: %s", perr);
            goto out;
        }
    }
    if (r->digest && cfg->auth_file) {
        st = ingest_nonces_new(INGEST_NONCE_SLOTS, INGEST_NONCE_TIMEOUT_S * 1000LL, &r->nonces, err,
                               errlen);
        if (st != PR_OK)
            goto out;
    }
    if (RAND_bytes((unsigned char *)r->digest_random, sizeof r->digest_random) != 1) {
        st = pr_err(PR_EFATAL, err, errlen, "no randomness for Digest nonces");
        goto out;
    }
    if (cfg->tls_cert) {
        if ((st = pr_file_read(cfg->tls_cert, PEM_MAX, &r->tls_cert_pem, NULL, err, errlen)) !=
                PR_OK ||
            (st = pr_file_read(cfg->tls_key, PEM_MAX, &r->tls_key_pem, NULL, err, errlen)) !=
                PR_OK ||
            (cfg->tls_client_ca && (st = pr_file_read(cfg->tls_client_ca, PEM_MAX, &r->tls_ca_pem,
                                                      NULL, err, errlen)) != PR_OK))
            goto out;
    }
    st = ingest_pub_new(common, cfg, metrics, ingest_http_on_ack, r, &r->pub, err, errlen);
out:
    if (st != PR_OK) {
        ingest_free(r);
        r = NULL;
    }
    *out = r;
    return st;
}

pr_status ingest_start(ingest *r, char *err, size_t errlen)
{
    pr_status st = ingest_pub_start(r->pub, err, errlen);
    if (st != PR_OK)
        return st;
    st = ingest_http_start(r, err, errlen);
    if (st != PR_OK) {
        ingest_pub_stop(r->pub);
        return st;
    }
    atomic_store(&r->started, true);
    return PR_OK;
}

/* Waits until every sent record has its answer queued, or the deadline passes. */
static long wait_pending(ingest *r, long long timeout_ms)
{
    long long deadline = pr_mono_ms() + timeout_ms;
    pthread_mutex_lock(&r->wait_mu);
    while (r->pending > 0)
        if (pr_cond_wait_ms(&r->wait_cv, &r->wait_mu, deadline - pr_mono_ms()) != 0)
            break;
    long left = r->pending;
    pthread_mutex_unlock(&r->wait_mu);
    return left;
}

void ingest_stop(ingest *r)
{
    if (!r || !atomic_load(&r->started))
        return;
    atomic_store(&r->stopping, true);
    ingest_http_quiesce(r);
    PR_LOG(PR_LOG_INFO, "ingest", "stopping: no new connections, waiting for Kafka",
           json_pack("{sI}", "timeout_ms", (json_int_t)r->cfg->shutdown_timeout_ms));
    int undelivered = ingest_pub_drain(r->pub, (int)r->cfg->shutdown_timeout_ms);
    long unanswered = wait_pending(r, 5000);
    /* A body that finished during the drain was produced after the purge: purge and wait
     * again, in bounded rounds. libmicrohttpd aborts the process if its daemon is stopped
     * while a connection is suspended, so the daemon is only stopped once none is. */
    for (int round = 0; unanswered > 0 && round < 10; round++) {
        undelivered += ingest_pub_drain(r->pub, 0);
        unanswered = wait_pending(r, 1000);
    }
    if (unanswered > 0) {
        PR_LOG(PR_LOG_ERROR, "ingest",
               "connections still wait for Kafka: the HTTP daemon is left to process exit",
               json_pack("{sI}", "unanswered", (json_int_t)unanswered));
        r->daemon_abandoned = true;
    } else {
        ingest_http_stop(r);
    }
    ingest_pub_stop(r->pub);
    atomic_store(&r->started, false);
    PR_LOG(undelivered ? PR_LOG_WARN : PR_LOG_INFO, "ingest", "stopped",
           json_pack("{sisI}", "undelivered", undelivered, "unanswered", (json_int_t)unanswered));
}

void ingest_free(ingest *r)
{
    if (!r)
        return;
    ingest_stop(r);
    if (r->daemon_abandoned) /* see ingest_stop: stopping it would abort the process */
        return;
    ingest_http_stop(r);
    ingest_pub_free(r->pub);
    ingest_auth_free(r->auth);
    ingest_nonces_free(r->nonces);
    ingest_shares_free(r->shares);
    ingest_allow_release(&r->allow);
    ingest_kind_rules_release(&r->kinds);
    ingest_prefixes_release(&r->prefixes);
    free(r->tls_cert_pem);
    free(r->tls_key_pem);
    free(r->tls_ca_pem);
    pthread_cond_destroy(&r->wait_cv);
    pthread_mutex_destroy(&r->wait_mu);
    pthread_cond_destroy(&r->hw_cv);
    pthread_mutex_destroy(&r->hw_mu);
    pthread_rwlock_destroy(&r->auth_lock);
    free(r);
}

bool ingest_ready(const ingest *r)
{
    return r && ingest_state_ready(r);
}

unsigned ingest_port(const ingest *r)
{
    return r ? r->port : 0;
}

void ingest_reload(ingest *r)
{
    char err[512];
    if (!r || !r->cfg->auth_file)
        return;
    ingest_auth *a = NULL;
    if (ingest_auth_load(r->cfg->auth_file, &a, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "ingest", "reload: keeping the old credentials",
               json_pack("{ss}", "error", err));
        return;
    }
    if (r->digest && ingest_auth_has_basic_only(a))
        PR_LOG(PR_LOG_WARN, "ingest", "reload: {sha256} entries cannot answer Digest", NULL);
    pthread_rwlock_wrlock(&r->auth_lock);
    ingest_auth *old = r->auth;
    r->auth = a;
    pthread_rwlock_unlock(&r->auth_lock);
    ingest_auth_free(old);
    PR_LOG(PR_LOG_INFO, "ingest", "credentials reloaded",
           json_pack("{sI}", "users", (json_int_t)ingest_auth_count(a)));
}
