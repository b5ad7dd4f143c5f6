/*
 * test_decoder_kafka.c - the decoder against the real broker (tests/kafka/broker.sh):
 * N raw records of mixed kinds and encodings give exactly N outputs across config, status
 * and the DLQ, read back by an independent read_committed consumer (kcat); and a decoder
 * process killed with SIGKILL in the middle of a run, then restarted, loses no output and
 * writes none twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "contract.h"
#include "decoder.h"
#include "kafka.h"
#include "metrics.h"
#include "testsupport.h"

#define MAC "00562b043615"

static char *tmpdir;
static char keystore[1024];

typedef struct input {
    const char *file; /* under samples/, or NULL for `inline` */
    const char *inline_body;
    const char *kind;
    const char *ce;
    pr_topic expect;
} input;

/* One of each: the shared samples in every encoding, and bad records. */
static const input inputs[] = {
    {"cisco-8832-mpp-full-profile.xml", NULL, "full", NULL, PR_TOPIC_CONFIG},
    {"synthetic-delta-report.xml", NULL, "delta", NULL, PR_TOPIC_CONFIG},
    {"synthetic-delta-report.xml.aes256cbc-md5.enc", NULL, "delta", NULL, PR_TOPIC_CONFIG},
    {"synthetic-delta-report.xml.aes256cbc-sha256.enc", NULL, "delta", NULL, PR_TOPIC_CONFIG},
    {"synthetic-delta-report.xml.aes128gcm", NULL, "delta", "aes128gcm", PR_TOPIC_CONFIG},
    {"synthetic-delta-report.xml.aes128gcm", NULL, "delta", NULL, PR_TOPIC_CONFIG},
    {"synthetic-status-report-GUESS.xml", NULL, "status", NULL, PR_TOPIC_STATUS},
    {NULL, "<Status><Uptime>5</Uptime></Status>", "unknown", NULL, PR_TOPIC_STATUS},
    {NULL, "not xml at all", "full", NULL, PR_TOPIC_DLQ},
    {NULL, "", "full", NULL, PR_TOPIC_DLQ},
    {NULL, "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "full", NULL, PR_TOPIC_DLQ},
};
#define NINPUTS (sizeof inputs / sizeof inputs[0])

static int setup(void **state)
{
    (void)state;
    tmpdir = ts_mkdtemp("dec-int");
    snprintf(keystore, sizeof keystore, "%s/keystore.json", tmpdir);
    static const char ks[] =
        "{\"default\":{\"openssl_password\":\"test123\",\"ikm\":{\"text\":\"MyIKMsecret12345\"}}}";
    if (ts_write_file(keystore, ks, sizeof ks - 1) != 0)
        return -1;
    chmod(keystore, 0600);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

/* A producer to the test broker, with the extra properties kv (name, value, ..., NULL). */
static rd_kafka_t *producer_with(const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", ts_brokers(), err, sizeof err),
                     RD_KAFKA_CONF_OK);
    for (size_t i = 0; kv && kv[i]; i += 2)
        assert_int_equal(rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, sizeof err),
                         RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(rk);
    return rk;
}

static rd_kafka_t *producer(void)
{
    return producer_with(NULL);
}

/* Produces n raw records (inputs cycled) to <prefix>raw; returns how many of each expected
 * output topic they should give in counts[]. */
static void produce_raw(const char *prefix, size_t n, size_t counts[PR_TOPIC__COUNT])
{
    char topic[256];
    static const char *const kv[] = {"enable.idempotence", "true", "partitioner", "murmur2_random",
                                     NULL};
    rd_kafka_t *rk = producer_with(kv);
    snprintf(topic, sizeof topic, "%sraw", prefix);
    char *bodies[NINPUTS];
    size_t lens[NINPUTS];
    for (size_t i = 0; i < NINPUTS; i++) {
        if (inputs[i].file) {
            char path[1024];
            snprintf(path, sizeof path, "%s/samples/%s", PR_DATA_DIR, inputs[i].file);
            bodies[i] = ts_read_file(path, &lens[i]);
            assert_non_null(bodies[i]);
        } else {
            bodies[i] = strdup(inputs[i].inline_body);
            lens[i] = strlen(bodies[i]);
        }
    }
    memset(counts, 0, sizeof(size_t) * PR_TOPIC__COUNT);
    for (size_t k = 0; k < n; k++) {
        const input *in = &inputs[k % NINPUTS];
        char rid[32], ms[32];
        /* Different phones, so records spread over the partitions. */
        char mac[16];
        snprintf(mac, sizeof mac, "00562b%06zx", k % 64 + 1);
        snprintf(rid, sizeof rid, "req-%zu", k);
        snprintf(ms, sizeof ms, "%lld", 1795544354978LL + (long long)k);
        rd_kafka_headers_t *h = rd_kafka_headers_new(8);
        rd_kafka_header_add(h, "pr-request-id", -1, rid, -1);
        rd_kafka_header_add(h, "pr-received-ms", -1, ms, -1);
        rd_kafka_header_add(h, "pr-kind", -1, in->kind, -1);
        rd_kafka_header_add(h, "pr-method", -1, "PUT", -1);
        rd_kafka_header_add(h, "pr-user-agent", -1, "Cisco-CP-8841-3PCC/11.0 (00562b043615)", -1);
        if (in->ce)
            rd_kafka_header_add(h, "pr-content-encoding", -1, in->ce, -1);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(mac, 12),
                                      RD_KAFKA_V_VALUE(bodies[k % NINPUTS], lens[k % NINPUTS]),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        counts[in->expect]++;
    }
    assert_int_equal(rd_kafka_flush(rk, ts_timeout_ms(60000)), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < NINPUTS; i++)
        free(bodies[i]);
}

/* Produces n records of inputs[which] to `partition` of <prefix>raw (RD_KAFKA_PARTITION_UA:
 * the partitioner's choice by the key). */
static void produce_to(const char *prefix, size_t which, size_t n, int32_t partition)
{
    char topic[256], path[1024];
    size_t len;
    rd_kafka_t *rk = producer();
    snprintf(topic, sizeof topic, "%sraw", prefix);
    snprintf(path, sizeof path, "%s/samples/%s", PR_DATA_DIR, inputs[which].file);
    char *body = ts_read_file(path, &len);
    assert_non_null(body);
    for (size_t k = 0; k < n; k++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "pr-kind", -1, inputs[which].kind, -1);
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                           RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(MAC, 12),
                                           RD_KAFKA_V_VALUE(body, len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(rk, ts_timeout_ms(30000)), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    free(body);
}

/* Produces n records of inputs[which] to <prefix>raw. */
static void produce_one_kind(const char *prefix, size_t which, size_t n)
{
    produce_to(prefix, which, n, RD_KAFKA_PARTITION_UA);
}

/* Reads <prefix><suffix> to its end with kcat, read_committed; adds each value's raw
 * (partition, offset) to seen[] (index partition * stride + offset), counts values. */
static size_t read_committed(const char *prefix, pr_topic t, unsigned *seen, size_t stride,
                             size_t nparts)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "kcat -b '%s' -X isolation.level=read_committed -C -t '%s%s' -e -q -f '%%s\\n' "
             "2>/dev/null",
             ts_brokers(), prefix, pr_topic_suffix(t));
    if (ts_run(cmd, &out) != 0 || !out) {
        free(out);
        return 0; /* topic not there yet */
    }
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *v = json_loads(line, 0, &je);
        if (!v) {
            fprintf(stderr, "not JSON on %s: %.200s\n", pr_topic_suffix(t), line);
            fail();
        }
        json_t *raw = json_object_get(v, "raw");
        size_t p = (size_t)json_integer_value(json_object_get(raw, "partition"));
        size_t o = (size_t)json_integer_value(json_object_get(raw, "offset"));
        if (seen) {
            assert_true(p < nparts && o < stride);
            seen[p * stride + o]++;
        }
        json_decref(v);
        n++;
    }
    free(out);
    return n;
}

static size_t count_all(const char *prefix)
{
    return read_committed(prefix, PR_TOPIC_CONFIG, NULL, 0, 0) +
           read_committed(prefix, PR_TOPIC_STATUS, NULL, 0, 0) +
           read_committed(prefix, PR_TOPIC_DLQ, NULL, 0, 0);
}

/* Waits until the committed outputs reach `want` (or the deadline); returns the count. */
static size_t wait_outputs(const char *prefix, size_t want, long long deadline_ms)
{
    size_t n = 0;
    while (ts_now_ms() < deadline_ms) {
        n = count_all(prefix);
        if (n >= want)
            break;
        usleep(200 * 1000); /* polling interval of the condition, not a synchronisation */
    }
    return n;
}

/* Every raw record has exactly one output; per-topic counts as expected. */
static void assert_exactly_once(const char *prefix, size_t n, const size_t counts[])
{
    const size_t stride = n + 1, nparts = 16;
    unsigned *seen = calloc(stride * nparts, sizeof *seen);
    size_t got[PR_TOPIC__COUNT] = {0};
    got[PR_TOPIC_CONFIG] = read_committed(prefix, PR_TOPIC_CONFIG, seen, stride, nparts);
    got[PR_TOPIC_STATUS] = read_committed(prefix, PR_TOPIC_STATUS, seen, stride, nparts);
    got[PR_TOPIC_DLQ] = read_committed(prefix, PR_TOPIC_DLQ, seen, stride, nparts);
    size_t once = 0, twice = 0;
    for (size_t i = 0; i < stride * nparts; i++) {
        once += seen[i] == 1;
        twice += seen[i] > 1;
    }
    printf("outputs: config %zu status %zu dlq %zu; raw records with one output %zu, with "
           "more %zu (of %zu)\n",
           got[PR_TOPIC_CONFIG], got[PR_TOPIC_STATUS], got[PR_TOPIC_DLQ], once, twice, n);
    assert_int_equal(twice, 0);
    assert_int_equal(once, n);
    assert_int_equal(got[PR_TOPIC_CONFIG], counts[PR_TOPIC_CONFIG]);
    assert_int_equal(got[PR_TOPIC_STATUS], counts[PR_TOPIC_STATUS]);
    assert_int_equal(got[PR_TOPIC_DLQ], counts[PR_TOPIC_DLQ]);
    free(seen);
}

/* An in-process decoder with its config, as run.c would build it. */
typedef struct inproc {
    decoder_cfg *cfg;
    pr_common_cfg common;
    pr_cfg_section sec;
    pr_metrics *m;
    decoder *d;
} inproc;

/* linger: --decoder-batch-linger-ms, how long a drained batch stays open. */
static void inproc_start_linger(inproc *ip, const char *prefix, const char *txn, const char *group,
                                const char *ks, const char *batch_max, const char *batch_ms,
                                const char *linger)
{
    memset(ip, 0, sizeof *ip);
    ip->cfg = decoder_cfg_new();
    ip->sec = decoder_cfg_section(ip->cfg);
    char *argv[] = {"decode",
                    "--brokers",
                    (char *)ts_brokers(),
                    "--topic-prefix",
                    (char *)prefix,
                    "--decoder-keystore",
                    (char *)ks,
                    "--decoder-transactional-id",
                    (char *)txn,
                    "--decoder-group",
                    (char *)group,
                    "--decoder-batch-max",
                    (char *)batch_max,
                    "--decoder-batch-ms",
                    (char *)batch_ms,
                    "--decoder-batch-linger-ms",
                    (char *)linger,
                    NULL};
    char *envp[] = {NULL};
    assert_int_equal(
        pr_cfg_load(&ip->sec, 1, &ip->common, 17, argv, envp, "test", "", stdout, stderr),
        PR_CFG_OK);
    assert_int_equal(ts_cfg_check(&decoder_role, ip->cfg, &ip->common), PR_OK);
    ip->m = pr_metrics_new();
    char err[512];
    assert_int_equal(decoder_new(&ip->common, ip->cfg, ip->m, &ip->d, err, sizeof err), PR_OK);
    assert_int_equal(decoder_start(ip->d, err, sizeof err), PR_OK);
}

/* Batches held open for batch_ms (no group commit): the tests that need records to share a
 * transaction rely on it. */
static void inproc_start_batch(inproc *ip, const char *prefix, const char *txn, const char *group,
                               const char *ks, const char *batch_max, const char *batch_ms)
{
    inproc_start_linger(ip, prefix, txn, group, ks, batch_max, batch_ms, batch_ms);
}

static void inproc_start(inproc *ip, const char *prefix, const char *txn, const char *group,
                         const char *ks)
{
    inproc_start_batch(ip, prefix, txn, group, ks, "7", "200ms");
}

static void inproc_free(inproc *ip)
{
    decoder_free(ip->d);
    pr_metrics_free(ip->m);
    pr_cfg_release(&ip->sec, 1, &ip->common);
    decoder_cfg_free(ip->cfg);
}

/* A new topic prefix for a test (freed by the test) and its decoder's transactional.id. */
static char *unique_names(const char *tag, char txn[128])
{
    char *prefix = ts_unique_prefix(tag);
    snprintf(txn, 128, "%stxn", prefix);
    return prefix;
}

/* Waits until the decoder has joined and been assigned its partitions. */
static void await_ready(decoder *d, long long deadline)
{
    while (!decoder_ready(d) && ts_now_ms() < deadline)
        usleep(50 * 1000);
    assert_true(decoder_ready(d));
}

/* Stops the decoder; it must not have failed, `got` outputs must be the `want` expected, and
 * the committed outputs exactly `counts` per topic, each input once. */
static void stop_and_check(inproc *ip, const char *prefix, size_t got, size_t want,
                           const size_t counts[])
{
    decoder_stop(ip->d);
    assert_false(decoder_failed(ip->d));
    assert_int_equal(got, want);
    assert_exactly_once(prefix, want, counts);
}

/* stop_and_check for outputs to the config topic and the DLQ only. */
static void stop_expecting(inproc *ip, const char *prefix, size_t got, size_t config, size_t dlq)
{
    size_t counts[PR_TOPIC__COUNT] = {0};
    counts[PR_TOPIC_CONFIG] = config;
    counts[PR_TOPIC_DLQ] = dlq;
    stop_and_check(ip, prefix, got, config + dlq, counts);
}

static void test_decoder_turns_n_mixed_records_into_exactly_n_outputs(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("dec");
    const size_t n = 5 * NINPUTS;
    size_t counts[PR_TOPIC__COUNT];
    produce_raw(prefix, n, counts);

    char txn[128];
    snprintf(txn, sizeof txn, "%stxn", prefix);
    inproc ip;
    inproc_start(&ip, prefix, txn, "phonereport-decoder", keystore);
    size_t got = wait_outputs(prefix, n, ts_deadline_ms(90000));
    assert_true(decoder_ready(ip.d));
    stop_and_check(&ip, prefix, got, n, counts);
    /* The shared metrics saw the committed outputs. */
    char *text = pr_metrics_render(ip.m, NULL);
    assert_non_null(strstr(text, "phonereport_decoder_transactions_total{result=\"committed\"}"));
    char line[160];
    snprintf(line, sizeof line, "phonereport_decoder_events_total{topic=\"dlq\"} %zu",
             counts[PR_TOPIC_DLQ]);
    assert_non_null(strstr(text, line));
    free(text);
    inproc_free(&ip);
    free(prefix);
}

/* Counts the values of one output topic whose "reason" (DLQ) or "encryption" equals what. */
static size_t count_with(const char *prefix, pr_topic t, const char *member, const char *what)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "kcat -b '%s' -X isolation.level=read_committed -C -t '%s%s' -e -q -f '%%s\\n' "
             "2>/dev/null | grep -c '\"%s\":\"%s\"'",
             ts_brokers(), prefix, pr_topic_suffix(t), member, what);
    ts_run(cmd, &out);
    size_t n = out ? (size_t)strtoul(out, NULL, 10) : 0;
    free(out);
    return n;
}

/* SIGHUP path: a keystore change applies to the records after decoder_reload(). */
static void test_decoder_reload_applies_a_new_keystore(void **state)
{
    (void)state;
    char txn[128], ks[1024], tmp[1024], *prefix = unique_names("decks", txn);
    snprintf(ks, sizeof ks, "%s/reload.json", tmpdir);
    snprintf(tmp, sizeof tmp, "%s/reload.json.tmp", tmpdir);
    assert_int_equal(ts_write_file(ks, "{}", 2), 0);
    chmod(ks, 0600);
    /* Three openssl-encrypted reports (inputs[2]): no key yet. */
    size_t counts[PR_TOPIC__COUNT];
    inproc ip;
    inproc_start(&ip, prefix, txn, "phonereport-decoder", ks);
    produce_one_kind(prefix, 2, 3);
    assert_int_equal(wait_outputs(prefix, 3, ts_deadline_ms(60000)), 3);
    assert_int_equal(count_with(prefix, PR_TOPIC_DLQ, "reason", "no_key"), 3);
    static const char full[] = "{\"default\":{\"openssl_password\":\"test123\"}}";
    assert_int_equal(ts_write_file(tmp, full, sizeof full - 1), 0);
    chmod(tmp, 0600);
    assert_int_equal(rename(tmp, ks), 0);
    decoder_reload(ip.d);
    produce_one_kind(prefix, 2, 3);
    assert_int_equal(wait_outputs(prefix, 6, ts_deadline_ms(60000)), 6);
    assert_int_equal(count_with(prefix, PR_TOPIC_CONFIG, "encryption", "openssl-aes-256-cbc"), 3);
    /* A broken keystore is refused and the last good one stays. */
    assert_int_equal(ts_write_file(ks, "{broken", 7), 0);
    decoder_reload(ip.d);
    produce_one_kind(prefix, 2, 2);
    assert_int_equal(wait_outputs(prefix, 8, ts_deadline_ms(60000)), 8);
    assert_int_equal(count_with(prefix, PR_TOPIC_CONFIG, "encryption", "openssl-aes-256-cbc"), 5);
    assert_false(decoder_failed(ip.d));
    (void)counts;
    inproc_free(&ip);
    free(prefix);
}

/* <prefix>config created with `partitions` partitions and max.message.bytes 8000, so that
 * the broker refuses a full 8832 event (about 30 KB, 13.5 KB after the decoder's lz4)
 * produced to it; with raw_partitions > 0,
 * <prefix>raw too, with that many partitions. */
static void small_config_topic(const char *prefix, int partitions, int raw_partitions)
{
    char topic[256], raw[256], err[512];
    snprintf(topic, sizeof topic, "%sconfig", prefix);
    snprintf(raw, sizeof raw, "%sraw", prefix);
    rd_kafka_t *rk = producer();
    const char *names[] = {topic}, *raws[] = {raw};
    const char *configs[] = {"max.message.bytes", "8000", NULL};
    assert_int_equal(pr_kafka_ensure_topics(rk, names, 1, partitions, configs, ts_timeout_ms(30000),
                                            err, sizeof err),
                     PR_OK);
    if (raw_partitions > 0)
        assert_int_equal(pr_kafka_ensure_topics(rk, raws, 1, raw_partitions, NULL,
                                                ts_timeout_ms(30000), err, sizeof err),
                         PR_OK);
    rd_kafka_destroy(rk);
}

/* The broker refuses an event larger than the topic's max.message.bytes: the transaction
 * aborts, the batch is decoded again, the culprit is found by sending it alone, and it ends
 * in the DLQ (too_large) while the other records of its batch are delivered, exactly once. */
static void test_decoder_dead_letters_an_event_the_broker_refuses(void **state)
{
    (void)state;
    char txn[128], *prefix = unique_names("decbig", txn);
    small_config_topic(prefix, 3, 0);
    /* One 8832 full profile (a 30 KB event) among small deltas, all from one phone, so that
     * they share a partition and a request batch. */
    produce_one_kind(prefix, 1, 3);
    produce_one_kind(prefix, 0, 1);
    produce_one_kind(prefix, 1, 3);
    inproc ip;
    inproc_start(&ip, prefix, txn, "phonereport-decoder", keystore);
    size_t got = wait_outputs(prefix, 7, ts_deadline_ms(90000));
    stop_expecting(&ip, prefix, got, 6, 1);
    assert_int_equal(count_with(prefix, PR_TOPIC_DLQ, "reason", "too_large"), 1);
    char *text = pr_metrics_render(ip.m, NULL);
    assert_null(strstr(text, "phonereport_decoder_transactions_total{result=\"aborted\"} 0"));
    free(text);
    inproc_free(&ip);
    free(prefix);
}

/* Produces inputs[which] once to partition `partition` of <prefix>raw. */
static void produce_to_partition(const char *prefix, size_t which, int32_t partition)
{
    produce_to(prefix, which, 1, partition);
}

/* Whether the decoder's metrics show at least one of `family` (a counter without labels). */
static bool counted_some(pr_metrics *m, const char *family)
{
    char *text = pr_metrics_render(m, NULL), line[160];
    snprintf(line, sizeof line, "\n%s 0\n", family);
    bool none = strstr(text, line) != NULL;
    free(text);
    return !none;
}

static bool decoded_some(pr_metrics *m)
{
    return counted_some(m, "phonereport_decoder_records_total");
}

/* The value of a counter without labels in the decoder's metrics (0 if absent). */
static unsigned long long counter_value(pr_metrics *m, const char *family)
{
    char *text = pr_metrics_render(m, NULL), line[160];
    snprintf(line, sizeof line, "\n%s ", family);
    const char *at = strstr(text, line);
    unsigned long long v = at ? strtoull(at + strlen(line), NULL, 10) : 0;
    free(text);
    return v;
}

/* What the decoder's transactions did, printed before the assertions on the outputs: when
 * none arrived, it tells a livelock (aborts growing) from a stall. */
static void print_txn_counters(pr_metrics *m, size_t got)
{
    char *text = pr_metrics_render(m, NULL);
    const char *c = strstr(text, "phonereport_decoder_transactions_total{result=\"committed\"}");
    const char *a = strstr(text, "phonereport_decoder_transactions_total{result=\"aborted\"}");
    printf("%zu outputs; decoder: %.*s, %.*s, refused outputs %llu\n", got,
           c ? (int)strcspn(c, "\n") : 4, c ? c : "none", a ? (int)strcspn(a, "\n") : 4,
           a ? a : "none", counter_value(m, "phonereport_decoder_outputs_refused_total"));
    free(text);
}

/* The set-up of the tests where X's output is refused: a small config topic (one partition,
 * raw_partitions raw ones), a decoder whose batches hold 1000 records for 8 s (so that X and Y
 * share a transaction), ready, and X (the 8832 full profile) on raw partition 0. Returns the
 * test's deadline, ms (scaled) from the decoder's start. */
static long long start_x_in_a_long_batch(inproc *ip, const char *prefix, const char *txn,
                                         int raw_partitions, long long ms)
{
    small_config_topic(prefix, 1, raw_partitions);
    inproc_start_batch(ip, prefix, txn, "phonereport-decoder", keystore, "1000", "8s");
    long long deadline = ts_deadline_ms(ms);
    await_ready(ip->d, deadline);
    produce_to_partition(prefix, 0, 0);
    return deadline;
}

/* Their end: Y (a small delta) on raw partition y_partition, then one output each for X (its
 * dead letter) and Y once the decoder stops. */
static void produce_y_and_stop(inproc *ip, const char *prefix, int y_partition)
{
    produce_to_partition(prefix, 1, y_partition);
    size_t got = wait_outputs(prefix, 2, ts_deadline_ms(60000));
    print_txn_counters(ip->m, got);
    stop_expecting(ip, prefix, got, 1, 1);
}

/* A record whose produce fails at once because the open transaction already needs an abort
 * (here: a too-large output of another partition was refused by the broker) is the first of
 * its partition in the batch: the abort must rewind its partition too, or it is never
 * decoded again (lost). X (30 KB, refused) goes to raw partition 0; Y (a small delta) to
 * partition 1 once X's refusal has had time to arrive; both must come out exactly once. */
static void test_decoder_rewinds_the_partition_of_a_record_whose_produce_aborts(void **state)
{
    (void)state;
    char txn[128], *prefix = unique_names("decrew", txn);
    inproc ip;
    long long deadline = start_x_in_a_long_batch(&ip, prefix, txn, 2, 60000);
    while (!decoded_some(ip.m) && ts_now_ms() < deadline)
        usleep(50 * 1000);
    assert_true(decoded_some(ip.m));
    /* Y is produced only once X's refusal has arrived, so that Y's produce is the one that
     * fails at once (the path under test), not a commit that fails later. */
    while (!counted_some(ip.m, "phonereport_decoder_outputs_refused_total") &&
           ts_now_ms() < deadline)
        usleep(50 * 1000);
    assert_true(counted_some(ip.m, "phonereport_decoder_outputs_refused_total"));
    produce_y_and_stop(&ip, prefix, 1); /* Y: a small delta */
    inproc_free(&ip);
    free(prefix);
}

/* Counts the records of <prefix><suffix>, read_uncommitted: outputs of a transaction still
 * open (or aborted) count too. */
static size_t count_uncommitted(const char *prefix, pr_topic t)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "kcat -b '%s' -X isolation.level=read_uncommitted -C -t '%s%s' -e -q -f 'x\n' "
             "2>/dev/null",
             ts_brokers(), prefix, pr_topic_suffix(t));
    size_t n = 0;
    if (ts_run(cmd, &out) == 0 && out)
        for (const char *c = out; *c; c++)
            n += *c == '\n';
    free(out);
    return n;
}

/* A record whose output the broker refused twice (confirmed) is dead-lettered; when the
 * transaction of that dead letter aborts after the dead letter was delivered, the record must
 * still be remembered as refused. Here the abort is the one librdkafka 2.0.2 forces: the
 * refused messages left a gap in the config partition's sequence numbers, so Y's small event
 * produced in the same transaction fails with OUT_OF_ORDER_SEQUENCE_NUMBER. A decoder that
 * forgot the refusal on the dead letter's delivery produced X in full again, was refused
 * again, and so on for ever (neither X nor Y ever committed). */
static void test_decoder_remembers_a_refusal_whose_delivered_dead_letter_is_aborted(void **state)
{
    (void)state;
    char txn[128], *prefix = unique_names("decdlab", txn);
    inproc ip;
    /* Long batches: each abort comes at the batch's commit, and Y must arrive while the
     * dead letter's transaction is still open. */
    long long deadline = start_x_in_a_long_batch(&ip, prefix, txn, 0, 90000);
    /* Refused in its batch, then alone: confirmed; the next batch dead-letters it. */
    while (count_uncommitted(prefix, PR_TOPIC_DLQ) == 0 && ts_now_ms() < deadline)
        usleep(100 * 1000);
    assert_true(counter_value(ip.m, "phonereport_decoder_outputs_refused_total") >= 2);
    assert_int_equal(count_uncommitted(prefix, PR_TOPIC_DLQ), 1);
    if (count_all(prefix) != 0) /* the load delayed us past the commit: Y is not aborted */
        printf("note: the dead letter committed before Y was produced\n");
    produce_y_and_stop(&ip, prefix, 0); /* Y: a small delta, to the same config partition */
    assert_int_equal(count_with(prefix, PR_TOPIC_DLQ, "reason", "too_large"), 1);
    inproc_free(&ip);
    free(prefix);
}

/* Group commit (issue 18 item 4): with decoder-batch-ms at a minute and no linger, a lone
 * record's output is committed as soon as the decoder has nothing more to read, not when the
 * minute is up (before: every transaction stayed open for decoder-batch-ms). The deadline is
 * kept below the minute whatever PR_TEST_TIMEOUT_SCALE says, or it would prove nothing. */
static void test_decoder_commits_a_lone_record_as_soon_as_its_input_is_drained(void **state)
{
    (void)state;
    char txn[128], *prefix = unique_names("decgc", txn);
    inproc ip;
    inproc_start_linger(&ip, prefix, txn, "phonereport-decoder", keystore, "500", "60s", "0ms");
    long long deadline = ts_deadline_ms(60000);
    await_ready(ip.d, deadline);
    produce_one_kind(prefix, 1, 1); /* the synthetic delta */
    long long wait = ts_scaled_ms(15000);
    size_t got = wait_outputs(prefix, 1, ts_now_ms() + (wait < 45000 ? wait : 45000));
    printf("%zu output(s) committed before the batch time was up\n", got);
    stop_expecting(&ip, prefix, got, 1, 0);
    inproc_free(&ip);
    free(prefix);
}

/* A second decoder with the same transactional.id fences the first, whose producer error is
 * fatal: the role reports it (run.c then exits non-zero). */
static void test_decoder_fenced_by_a_twin_reports_fatal(void **state)
{
    (void)state;
    char txn[128], *prefix = unique_names("decfence", txn);
    inproc a, b;
    inproc_start(&a, prefix, txn, "group-a", keystore);
    long long deadline = ts_deadline_ms(60000);
    await_ready(a.d, deadline);
    inproc_start(&b, prefix, txn, "group-b", keystore);
    await_ready(b.d, deadline);
    /* Records make the fenced one use its producer. */
    while (!decoder_failed(a.d) && ts_now_ms() < deadline) {
        produce_one_kind(prefix, 1, 3);
        usleep(300 * 1000);
    }
    assert_true(decoder_failed(a.d));
    assert_false(decoder_ready(a.d));
    assert_false(decoder_failed(b.d));
    inproc_free(&a);
    inproc_free(&b);
    free(prefix);
}

/* A `phonereport decode` process; group NULL: the default consumer group, else <prefix>group. */
static pid_t spawn_decoder_in(const char *prefix, const char *txn, const char *log,
                              const char *group)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        char bin[1024], grp[256];
        snprintf(bin, sizeof bin, "%s/phonereport", PR_BINARY_DIR);
        snprintf(grp, sizeof grp, "%s%s", prefix, group ? group : "");
        execl(bin, bin, "decode", "--brokers", ts_brokers(), "--topic-prefix", prefix,
              "--decoder-keystore", keystore, "--decoder-transactional-id", txn,
              "--decoder-batch-max", "3", "--kafka.session.timeout.ms=6000",
              "--kafka.heartbeat.interval.ms=1000", group ? "--decoder-group" : (char *)NULL, grp,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_decoder(const char *prefix, const char *txn, const char *log)
{
    return spawn_decoder_in(prefix, txn, log, NULL);
}

static void test_decoder_killed_mid_run_restarts_without_loss_or_duplicates(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("deckill");
    const size_t n = 400 * NINPUTS;
    size_t counts[PR_TOPIC__COUNT];
    char txn[128], log[1024];
    snprintf(txn, sizeof txn, "%stxn", prefix);
    snprintf(log, sizeof log, "%s/decoder-kill.log", tmpdir);
    produce_raw(prefix, n, counts);

    pid_t pid = spawn_decoder(prefix, txn, log);
    assert_true(pid > 0);
    /* Kill it as soon as some transactions have committed. */
    size_t at_kill = wait_outputs(prefix, 1, ts_deadline_ms(60000));
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    size_t after_kill = count_all(prefix);
    printf("killed the decoder with %zu (then %zu) of %zu outputs committed\n", at_kill, after_kill,
           n);
    assert_true(at_kill > 0);
    assert_true(after_kill < n); /* it really died in the middle */

    /* Restart with the same transactional.id: it fences the dead one, whose open
     * transaction is aborted, and resumes from the committed offsets. */
    pid = spawn_decoder(prefix, txn, log);
    size_t got = wait_outputs(prefix, n, ts_deadline_ms(120000));
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, n);
    assert_exactly_once(prefix, n, counts);
    free(prefix);
}

/* The process path of a fatal error (run.c): a `phonereport decode` fenced by a twin with the
 * same transactional.id exits 70 (EX_SOFTWARE), so that an orchestrator restarts it; the twin
 * goes on and stops cleanly (exit 0). The sink's dead publisher takes the same path (its role's
 * failed hook, test_sink_kafka). */
static void test_decoder_process_fenced_by_a_twin_exits_70(void **state)
{
    (void)state;
    char txn[128], log[1024], *prefix = unique_names("decfence70", txn);
    snprintf(log, sizeof log, "%s/decoder-fence.log", tmpdir);
    produce_one_kind(prefix, 1, 3);
    pid_t a = spawn_decoder(prefix, txn, log);
    assert_true(a > 0);
    assert_true(wait_outputs(prefix, 3, ts_deadline_ms(60000)) >= 3);
    /* The twin in a group of its own: the first keeps every partition (no rebalance leaves it
     * idle), so the next record it decodes meets the fence. */
    pid_t b = spawn_decoder_in(prefix, txn, log, "twin");
    assert_true(b > 0);
    int status = 0;
    pid_t done = 0;
    long long deadline = ts_deadline_ms(90000);
    while ((done = waitpid(a, &status, WNOHANG)) == 0 && ts_now_ms() < deadline) {
        produce_one_kind(prefix, 1, 1); /* records make the fenced one use its producer */
        usleep(300 * 1000);
    }
    if (done == 0) { /* not fenced in time: fail below, but leave no process behind */
        kill(a, SIGKILL);
        waitpid(a, &status, 0);
    }
    int twin = 0; /* the twin is stopped before any assertion can end the test */
    bool twin_signalled = kill(b, SIGTERM) == 0;
    bool twin_reaped = waitpid(b, &twin, 0) == b;
    assert_int_equal(done, a);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 70);
    assert_true(twin_signalled);
    assert_true(twin_reaped);
    assert_true(WIFEXITED(twin));
    assert_int_equal(WEXITSTATUS(twin), 0);
    free(prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder_turns_n_mixed_records_into_exactly_n_outputs),
        cmocka_unit_test(test_decoder_killed_mid_run_restarts_without_loss_or_duplicates),
        cmocka_unit_test(test_decoder_reload_applies_a_new_keystore),
        cmocka_unit_test(test_decoder_dead_letters_an_event_the_broker_refuses),
        cmocka_unit_test(test_decoder_fenced_by_a_twin_reports_fatal),
        cmocka_unit_test(test_decoder_process_fenced_by_a_twin_exits_70),
        cmocka_unit_test(test_decoder_commits_a_lone_record_as_soon_as_its_input_is_drained),
        cmocka_unit_test(test_decoder_rewinds_the_partition_of_a_record_whose_produce_aborts),
        cmocka_unit_test(test_decoder_remembers_a_refusal_whose_delivered_dead_letter_is_aborted),
    };
    ts_brokers(); /* fails, never skips, without the broker */
    /* PR_TEST_FILTER=<glob> runs only the matching tests (to repeat one, e.g. under load). */
    const char *filter = getenv("PR_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, setup, teardown);
}
