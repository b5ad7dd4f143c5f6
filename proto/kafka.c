/*
 * kafka.c - librdkafka plumbing shared by the roles (see kafka.h): confs built the same way
 * everywhere, librdkafka's log routed to our JSON logger, idempotent topic creation.
 */
#include "kafka.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug */
    pr_log_level lvl = level <= 3   ? PR_LOG_ERROR
                       : level == 4 ? PR_LOG_WARN
                       : level <= 6 ? PR_LOG_INFO
                                    : PR_LOG_DEBUG;
    PR_LOG(lvl, "kafka", buf,
           json_pack("{ssss}", "client", rk ? rd_kafka_name(rk) : "", "facility", fac ? fac : ""));
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char rerr[512];
    if (rd_kafka_conf_set(conf, k, v, rerr, sizeof rerr) != RD_KAFKA_CONF_OK) {
        pr_err(PR_EINVAL, err, errlen, "kafka.%s: %s", k, rerr);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *pr_kafka_conf_new(const pr_common_cfg *common, const char *component,
                                   const char *const *defaults, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char client_id[128];

    if (!conf) {
        pr_err(PR_EFATAL, err, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    snprintf(client_id, sizeof client_id, "phonereport-%s", component ? component : "client");
    if (conf_set(conf, "client.id", client_id, err, errlen) != 0)
        goto fail;
    if (common && common->brokers && *common->brokers &&
        conf_set(conf, "bootstrap.servers", common->brokers, err, errlen) != 0)
        goto fail;
    for (size_t i = 0; defaults && defaults[i] && defaults[i + 1]; i += 2)
        if (conf_set(conf, defaults[i], defaults[i + 1], err, errlen) != 0)
            goto fail;
    for (size_t i = 0; common && i < common->kafka_len; i++)
        if (conf_set(conf, common->kafka[i].key, common->kafka[i].value, err, errlen) != 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

pr_status pr_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t **conf, rd_kafka_t **out, char *err,
                       size_t errlen)
{
    char rerr[512];
    pr_status st = PR_OK;
    *out = rd_kafka_new(type, *conf, rerr, sizeof rerr);
    if (!*out) {
        rd_kafka_conf_destroy(*conf); /* rd_kafka_new keeps conf only on success */
        st = pr_err(PR_EINVAL, err, errlen, "cannot create Kafka client: %s", rerr);
    }
    *conf = NULL;
    return st;
}

/* True if every topic is in the cluster's metadata (listing all topics creates none). */
static bool all_exist(rd_kafka_t *rk, const char *const *names, size_t n, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    size_t found = 0;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < md->topic_cnt; t++)
            if (!md->topics[t].err && strcmp(md->topics[t].topic, names[i]) == 0) {
                found++;
                break;
            }
    rd_kafka_metadata_destroy(md);
    return found == n;
}

rd_kafka_resp_err_t pr_kafka_topic_handles(rd_kafka_t *rk, const pr_topic *which, size_t n,
                                           char (*names)[PR_TOPIC_NAME_CAP],
                                           rd_kafka_topic_t **handles, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    for (size_t i = 0; i < n; i++)
        if (!handles[which[i]])
            handles[which[i]] = rd_kafka_topic_new(rk, names[which[i]], NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (!err)
        rd_kafka_metadata_destroy(md);
    return err;
}

pr_status pr_kafka_ensure_topics(rd_kafka_t *rk, const char *const *names, size_t n, int partitions,
                                 const char *const *configs, int timeout_ms, char *err,
                                 size_t errlen)
{
    pr_status st = PR_OK;
    char rerr[512];
    rd_kafka_NewTopic_t **topics = calloc(n ? n : 1, sizeof *topics);
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;

    if (!topics || !q) {
        st = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    /* Topics an operator created beforehand (clusters where clients may not create topics,
     * the embedded broker) need no CreateTopics request. */
    if (all_exist(rk, names, n, timeout_ms))
        goto out;
    for (size_t i = 0; i < n; i++) {
        topics[i] = rd_kafka_NewTopic_new(names[i], partitions > 0 ? partitions : -1, -1, rerr,
                                          sizeof rerr);
        if (!topics[i]) {
            st = pr_err(PR_EINVAL, err, errlen, "topic %s: %s", names[i], rerr);
            goto out;
        }
        for (size_t j = 0; configs && configs[j] && configs[j + 1]; j += 2)
            rd_kafka_NewTopic_set_config(topics[i], configs[j], configs[j + 1]);
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, rerr, sizeof rerr);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, rerr, sizeof rerr);
    rd_kafka_CreateTopics(rk, topics, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        st = pr_err(PR_ETRANSIENT, err, errlen, "creating topics timed out");
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        st = pr_err(PR_ETRANSIENT, err, errlen, "creating topics: %s",
                    rd_kafka_event_error_string(ev));
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            st = pr_err(e == RD_KAFKA_RESP_ERR_POLICY_VIOLATION ||
                                e == RD_KAFKA_RESP_ERR_INVALID_CONFIG
                            ? PR_EINVAL
                            : PR_ETRANSIENT,
                        err, errlen, "topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                        rd_kafka_topic_result_error_string(tr[i]));
            break;
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (topics) {
        for (size_t i = 0; i < n; i++)
            if (topics[i])
                rd_kafka_NewTopic_destroy(topics[i]);
        free(topics);
    }
    if (q)
        rd_kafka_queue_destroy(q);
    return st;
}

const char *pr_kafka_header(const rd_kafka_message_t *rkm, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v = NULL;
    size_t vlen = 0;
    buf[0] = '\0';
    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, name, &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        size_t n = vlen < len - 1 ? vlen : len - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
    }
    return buf;
}
