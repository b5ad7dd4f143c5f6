/* test_kafka_plumbing.c - proto/kafka.c against the real broker: confs with pass-through,
 * topic creation that is idempotent (with the partition count asked for), bad properties
 * rejected as config errors, and the idempotent murmur2_random producer acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

#include "config.h"
#include "contract.h"
#include "kafka.h"
#include "testsupport.h"

static pr_common_cfg common_for(const char *brokers)
{
    pr_common_cfg c = {0};
    c.brokers = (char *)brokers;
    return c;
}

static void test_kafka_conf_rejects_unknown_property(void **state)
{
    (void)state;
    pr_common_cfg c = {0};
    pr_cfg_kv kv = {"no.such.property", "1"};
    c.kafka = &kv;
    c.kafka_len = 1;
    char err[512];
    assert_null(pr_kafka_conf_new(&c, "test", NULL, err, sizeof err));
    assert_non_null(strstr(err, "kafka.no.such.property"));
}

static void test_kafka_creates_topics_idempotently(void **state)
{
    (void)state;
    pr_common_cfg c = common_for(ts_brokers());
    char err[512], name[256], cmd[1024];
    char *prefix = ts_unique_prefix("plumb");
    pr_topic_name(prefix, PR_TOPIC_STATE, name, sizeof name);
    const char *const names[] = {name};
    const char *const cfgs[] = {"cleanup.policy", "compact", NULL};
    rd_kafka_conf_t *conf = pr_kafka_conf_new(&c, "test", NULL, err, sizeof err);
    assert_non_null(conf);
    rd_kafka_t *rk = NULL;
    pr_kafka_new(RD_KAFKA_PRODUCER, &conf, &rk, err, sizeof err);
    assert_non_null(rk);
    assert_null(conf);
    assert_int_equal(
        pr_kafka_ensure_topics(rk, names, 1, 2, cfgs, ts_timeout_ms(10000), err, sizeof err),
        PR_OK);
    assert_int_equal(
        pr_kafka_ensure_topics(rk, names, 1, 2, cfgs, ts_timeout_ms(10000), err, sizeof err),
        PR_OK);
    /* independent check: kcat sees the topic with 2 partitions (once the metadata it asks
     * for has caught up with the creation: waited for, not assumed) */
    snprintf(cmd, sizeof cmd, "kcat -L -b %s -t %s | grep -c 'partition [0-9]'", ts_brokers(),
             name);
    int partitions = -1;
    for (long long deadline = ts_deadline_ms(30000); partitions != 2 && ts_now_ms() < deadline;) {
        char *out = NULL;
        ts_run(cmd, &out);
        partitions = out ? atoi(out) : -1;
        free(out);
        if (partitions != 2)
            usleep(100 * 1000); /* polling interval of the condition */
    }
    assert_int_equal(partitions, 2);
    rd_kafka_destroy(rk);
    free(prefix);
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    int *acked = opaque;
    if (!rkm->err)
        (*acked)++;
}

static void test_kafka_idempotent_producer_is_acked(void **state)
{
    (void)state;
    pr_common_cfg c = common_for(ts_brokers());
    char err[512], topic[256], cmd[1024];
    char *prefix = ts_unique_prefix("plumb");
    pr_topic_name(prefix, PR_TOPIC_RAW, topic, sizeof topic);
    const char *const defs[] = {"enable.idempotence", "true",           "acks", "all",
                                "partitioner",        "murmur2_random", NULL};
    rd_kafka_conf_t *conf = pr_kafka_conf_new(&c, "test", defs, err, sizeof err);
    assert_non_null(conf);
    int acked = 0;
    rd_kafka_conf_set_opaque(conf, &acked);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *rk = NULL;
    pr_kafka_new(RD_KAFKA_PRODUCER, &conf, &rk, err, sizeof err);
    assert_non_null(rk);
    for (int i = 0; i < 10; i++)
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                           RD_KAFKA_V_KEY("00562b043615", 12),
                                           RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END),
                         0);
    assert_int_equal(rd_kafka_flush(rk, ts_timeout_ms(30000)), 0);
    assert_int_equal(acked, 10);
    /* murmur2 puts one key on one partition: kcat reads all 10 from one partition */
    snprintf(cmd, sizeof cmd, "kcat -C -b %s -t %s -e -q -f '%%p\\n' | sort -u | wc -l",
             ts_brokers(), topic);
    char *out = NULL;
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_int_equal(atoi(out), 1);
    free(out);
    rd_kafka_destroy(rk);
    free(prefix);
}

PR_TEST_MAIN(cmocka_unit_test(test_kafka_conf_rejects_unknown_property),
             cmocka_unit_test(test_kafka_creates_topics_idempotently),
             cmocka_unit_test(test_kafka_idempotent_producer_is_acked))
