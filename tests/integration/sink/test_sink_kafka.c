/*
 * test_sink_kafka.c - the sink against the real Kafka broker.
 *
 * A deterministic generator writes config reports (full and delta, first reports that are
 * deltas, removals), status reports and malformed records to unique topics; a small model in
 * this file computes what the state, the changes and the drift must be.
 *
 *  - in process: sink_new/sink_start; wait until every record is applied; every phone's
 *    /v1/phones/{mac}/config equals the model; the changes, drift and state topics hold exactly
 *    the model's records (no loss, no repeat) and validate against the JSON Schemas; malformed
 *    records are counted in /metrics and never reach the state.
 *  - kill -9: `phonereport sink` as a process, killed once part of the input is committed,
 *    restarted; the final store equals an uninterrupted run's store, and the changes topic
 *    holds every model record, any repeat being a byte-identical copy (README: a record
 *    published but not yet deleted from the outbox at the crash is published again).
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "contract.h"
#include "kafka.h"
#include "metrics.h"
#include "sink.h"
#include "signals.h"
#include "sink_internal.h"
#include "testsupport.h"

#define DEADLINE_MS 120000

/* ---- model ------------------------------------------------------------------------------ */

typedef struct model {
    json_t *phones;  /* mac -> {version, complete, params{}, access{}, drifted{}} */
    json_t *changes; /* "mac|version|param" -> change record (without schema) */
    json_t *drift;   /* array of "mac|param|state|since" */
    const char *intended_name, *intended_value; /* default.xml holds one parameter */
    long records; /* records produced (valid + invalid), per topic summed */
} model;

static json_t *phone_of(model *m, const char *mac)
{
    json_t *p = json_object_get(m->phones, mac);
    if (!p) {
        p = json_pack("{si sb s{} s{} sb}", "version", 0, "complete", 0, "params", "access",
                      "drifted", 0);
        json_object_set_new(m->phones, mac, p);
    }
    return p;
}

static bool masked(const char *v)
{
    return *v && strspn(v, "*") == strlen(v);
}

static void model_change(model *m, const char *mac, long version, const char *param,
                         const char *old, const char *new_value, const char *at,
                         const char *report_id, const char *via)
{
    char key[256];
    snprintf(key, sizeof key, "%s|%ld|%s", mac, version, param);
    json_object_set_new(m->changes, key,
                        json_pack("{ss ss ss? ss? ss ss ss si}", "mac", mac, "param", param, "old",
                                  old, "new", new_value, "at", at, "report_id", report_id, "via",
                                  via, "version", (int)version));
}

/* DESIGN section 3: a change is a new value against a known previous one. The first report is
 * the baseline; while a phone is incomplete, a name it never reported has no known previous
 * value. content_version is the version of the last report that changed what the state record
 * holds (the sink publishes the state again only then). */
static void model_apply(model *m, const char *mac, bool full, json_t *params, json_t *access,
                        const char *at, const char *report_id)
{
    json_t *p = phone_of(m, mac), *mp = json_object_get(p, "params");
    json_t *ma = json_object_get(p, "access");
    long version = (long)json_integer_value(json_object_get(p, "version")) + 1;
    bool known = json_is_true(json_object_get(p, "complete"));
    bool changed = version == 1 || (full && !known);
    const char *via = full ? "full" : "delta";
    const char *k;
    json_t *v, *tmp;
    json_object_set_new(p, "version", json_integer(version));
    if (full) {
        json_object_set_new(p, "complete", json_true());
        json_object_foreach_safe(mp, tmp, k, v)
        {
            if (!json_object_get(params, k)) {
                model_change(m, mac, version, k, json_string_value(v), NULL, at, report_id, via);
                json_object_del(ma, k);
                json_object_del(mp, k);
                changed = true;
            }
        }
    }
    json_object_foreach(params, k, v)
    {
        json_t *old = json_object_get(mp, k);
        if (old ? strcmp(json_string_value(old), json_string_value(v)) != 0 : known)
            model_change(m, mac, version, k, old ? json_string_value(old) : NULL,
                         json_string_value(v), at, report_id, via);
        json_t *a = json_object_get(access, k), *olda = json_object_get(ma, k);
        if (!old || !json_equal(old, v) || (a ? !olda || !json_equal(a, olda) : olda != NULL))
            changed = true;
        json_object_set(mp, k, v);
        if (a)
            json_object_set(ma, k, a);
        else
            json_object_del(ma, k);
    }
    if (changed)
        json_object_set_new(p, "content_version", json_integer(version));
    /* Drift of the one intended parameter. */
    json_t *actual = json_object_get(mp, m->intended_name);
    bool now = actual && !masked(json_string_value(actual)) &&
               strcmp(json_string_value(actual), m->intended_value) != 0;
    bool was = json_is_true(json_object_get(p, "drifted"));
    if (now != was) {
        char key[256];
        snprintf(key, sizeof key, "%s|%s|%s|%s", mac, m->intended_name,
                 now ? "drifted" : "resolved", at);
        json_array_append_new(m->drift, json_string(key));
        json_object_set_new(p, "drifted", json_boolean(now));
    }
}

/* ---- generator -------------------------------------------------------------------------- */

static unsigned long long rng_state = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

typedef struct producer {
    rd_kafka_t *rk;
    char topic_config[256], topic_status[256];
} producer;

static void produce(producer *pr, const char *topic, const char *key, const char *value)
{
    rd_kafka_resp_err_t e;
    do {
        e = rd_kafka_producev(pr->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)(uintptr_t)value, strlen(value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(pr->rk, 100);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void producer_open(producer *pr, const char *prefix)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", ts_brokers(), err, sizeof err),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
    pr->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(pr->rk);
    pr_topic_name(prefix, PR_TOPIC_CONFIG, pr->topic_config, sizeof pr->topic_config);
    pr_topic_name(prefix, PR_TOPIC_STATUS, pr->topic_status, sizeof pr->topic_status);
    const char *names[] = {pr->topic_config, pr->topic_status};
    assert_int_equal(
        pr_kafka_ensure_topics(pr->rk, names, 2, 3, NULL, ts_timeout_ms(30000), err, sizeof err),
        PR_OK);
}

static void producer_close(producer *pr)
{
    assert_int_equal(rd_kafka_flush(pr->rk, ts_timeout_ms(30000)), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(pr->rk);
}

/* Writes `phones` x `reports` config reports, a status report every few, and malformed
 * records; fills the model. */
static void generate(producer *pr, model *m, int phones, int reports, int nparams)
{
    for (int r = 0; r < reports; r++) {
        for (int ph = 0; ph < phones; ph++) {
            char mac[13], at[40], rid[64];
            snprintf(mac, sizeof mac, "0056%08x", 0x2b040000u + (unsigned)ph);
            snprintf(at, sizeof at, "2026-11-24T%02d:%02d:%02d.%03dZ", 10 + r / 60, r % 60, ph % 60,
                     ph);
            snprintf(rid, sizeof rid, "rep-%d-%d", ph, r);
            /* Phone 0 starts with deltas; every 7th report is full otherwise. */
            bool full = (r == 0 && ph != 0) || (r > 0 && rnd(7) == 0);
            json_t *params = json_object(), *access = json_object();
            int n = full ? nparams - (int)rnd(5) : 1 + (int)rnd(4);
            for (int i = 0; i < n; i++) {
                char name[32], value[32];
                int pi = full ? i : (int)rnd((unsigned)nparams);
                snprintf(name, sizeof name, "Param_%d_", pi);
                unsigned pick = rnd(6);
                if (pi == 0)
                    snprintf(value, sizeof value, "%s",
                             pick < 3   ? "Alice"
                             : pick < 5 ? "Bob"
                                        : "****");
                else
                    snprintf(value, sizeof value, "v%u", rnd(3));
                json_object_set_new(params, name, json_string(value));
                if (pi % 3 == 0)
                    json_object_set_new(access, name, json_string(pi % 2 ? "rw" : "na"));
            }
            json_t *ev = json_pack(
                "{ss ss ss ss ss ss s{ss ss} sO sO s{si si}}", "schema", PR_SCHEMA_CONFIG, "mac",
                mac, "kind", full ? "full" : "delta", "report_id", rid, "received_at", at,
                "encryption", "none", "source", "model", "CP-8832-3PCC", "firmware", "12.0.1",
                "params", params, "access", access, "raw", "partition", 0, "offset", r);
            char *text = json_dumps(ev, JSON_COMPACT);
            produce(pr, pr->topic_config, mac, text);
            m->records++;
            model_apply(m, mac, full, params, access, at, rid);
            free(text);
            json_decref(ev);
            json_decref(params);
            json_decref(access);
            if (rnd(5) == 0) {
                ev = json_pack("{ss ss ss ss ss ss s{} s{si}}", "schema", PR_SCHEMA_STATUS, "mac",
                               mac, "kind", "status", "report_id", rid, "received_at", at,
                               "encryption", "none", "source", "status", "Uptime", r);
                text = json_dumps(ev, JSON_COMPACT);
                produce(pr, pr->topic_status, mac, text);
                m->records++;
                free(text);
                json_decref(ev);
            }
            if (rnd(40) == 0) { /* malformed: never in state */
                produce(pr, pr->topic_config, mac,
                        rnd(2) ? "{\"schema\":\"phonereport.config/1\",\"mac\":\"nope\"}"
                               : "not json at all");
                m->records++;
            }
        }
    }
}

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    m->phones = json_object();
    m->changes = json_object();
    m->drift = json_array();
    m->intended_name = "Param_0_";
    m->intended_value = "Alice";
}

static void model_free(model *m)
{
    json_decref(m->phones);
    json_decref(m->changes);
    json_decref(m->drift);
}

/* ---- reading the store and the topics --------------------------------------------------- */

/* The tests run on both stores: PR_SINK_TEST_STORE=postgres puts each store in a schema of
 * its own on the test PostgreSQL server (ts_pg); `where` is then its connection string, else
 * the SQLite data directory. */
static bool on_pg(void)
{
    const char *e = getenv("PR_SINK_TEST_STORE");
    return e && strcmp(e, "postgres") == 0;
}

/* Fills where (len >= 4200) with a new store's location: dir/name or a new schema. */
static void store_where(char *where, size_t len, const char *dir, const char *name)
{
    if (on_pg()) {
        char *c = ts_pg_schema_new(name);
        snprintf(where, len, "%s", c);
        free(c);
    } else {
        snprintf(where, len, "%s/%s", dir, name);
    }
}

/* One integer from a query on the store at where (its own read-only connection): -1 when the
 * store or the table is not there yet. */
static long long store_int(const char *where, const char *sql)
{
    char path[4300], err[512];
    sink_store *st = NULL;
    long long n = -1;
    snprintf(path, sizeof path, "%s/sink.db", where);
    if (!on_pg() && access(path, F_OK) != 0)
        return -1;
    if (sink_store_open(where, true, NULL, &st, err, sizeof err) != PR_OK)
        return -1;
    sink_stmt *s = sink_store_prepare(st, sql);
    if (s && sink_step(s) == SINK_ROW)
        n = (long long)sink_col_int64(s, 0);
    sink_stmt_free(s);
    sink_store_close(st);
    return n;
}

/* Sum of the stored next offsets (records consumed and committed), -1 if no store yet. */
static long long committed_records(const char *data_dir)
{
    return store_int(data_dir, "SELECT coalesce(sum(next), 0) FROM offsets");
}

/* Outbox rows still waiting for a delivery report, for one output topic. */
static long long outbox_rows_of(const char *data_dir, pr_topic t)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE topic = %d", (int)t);
    return store_int(data_dir, sql);
}

static long long outbox_rows(const char *data_dir)
{
    return store_int(data_dir,
                     "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM outbox_state)");
}

/* Waits until every record is committed and the outbox is empty. */
static void wait_applied(const char *data_dir, long long records)
{
    long long deadline = ts_deadline_ms(DEADLINE_MS), got = -1;
    while (ts_now_ms() < deadline) {
        got = committed_records(data_dir);
        if (got == records && outbox_rows(data_dir) == 0)
            return;
        usleep(50 * 1000);
    }
    fail_msg("only %lld of %lld records committed (outbox %lld)", got, records,
             outbox_rows(data_dir));
}

/* A text dump of everything the store holds about phones (ids and offsets excluded). The
 * phone's digest (column `blob`, a 0-based index) is printed in hex. */
static char *dump_store(const char *data_dir)
{
    static const struct {
        const char *sql;
        int cols, blob;
    } queries[] = {
        {"SELECT mac, version, complete, model, firmware, first_seen, updated_at, status_at,"
         " report_id, digest, nparams, state_bytes FROM phones ORDER BY mac",
         12, 9},
        {"SELECT mac, s.report_id, received_at, body FROM status s JOIN phones ON id = phone"
         " ORDER BY mac",
         4, -1},
        {"SELECT mac, r.version, n.name, old, new, r.at, r.report_id, r.via FROM changes c"
         " JOIN phones p ON p.id = c.phone JOIN names n ON n.id = c.param"
         " JOIN reports r ON r.id = c.report ORDER BY mac, r.version, n.name",
         8, -1},
        {"SELECT mac, param, intended, actual, since, d.version FROM drift d"
         " JOIN phones p ON p.id = d.phone ORDER BY mac, param",
         6, -1},
    };
    char *buf = NULL, err[512];
    size_t len = 0;
    sink_store *st = NULL;
    FILE *out = open_memstream(&buf, &len);
    if (sink_store_open(data_dir, true, NULL, &st, err, sizeof err) != PR_OK)
        fail_msg("open %s: %s", data_dir, err);
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        sink_stmt *s = sink_store_prepare(st, queries[q].sql);
        assert_non_null(s);
        while (sink_step(s) == SINK_ROW) {
            for (int c = 0; c < queries[q].cols; c++) {
                fputs(c ? "|" : "", out);
                if (c == queries[q].blob) {
                    size_t n = 0;
                    const unsigned char *d = sink_col_blob(s, c, &n);
                    for (size_t k = 0; d && k < n; k++)
                        fprintf(out, "%02X", d[k]);
                    continue;
                }
                const char *v = sink_col_text(s, c);
                fputs(v ? v : "<null>", out);
            }
            fputc('\n', out);
        }
        sink_stmt_free(s);
        fputs("--\n", out);
    }
    /* every phone's configuration document, as the API reads it */
    sink_stmt *s = sink_store_prepare(st, "SELECT mac FROM phones ORDER BY mac");
    assert_non_null(s);
    json_t *macs = json_array();
    while (sink_step(s) == SINK_ROW)
        json_array_append_new(macs, json_string(sink_col_text(s, 0)));
    sink_stmt_free(s);
    for (size_t i = 0; i < json_array_size(macs); i++) {
        json_t *doc = NULL;
        assert_int_equal(sink_query_config(st, json_string_value(json_array_get(macs, i)), &doc,
                                           err, sizeof err),
                         PR_OK);
        char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
        fprintf(out, "%s\n", text);
        free(text);
        json_decref(doc);
    }
    json_decref(macs);
    sink_store_close(st);
    fclose(out);
    return buf;
}

/* Reads every record of a topic (all partitions, from the beginning, read_committed) until
 * `want` records are in or the deadline passes. Returns a JSON array of {key, value(text)}. */
static json_t *read_topic(const char *topic, size_t want)
{
    char err[512];
    json_t *out = json_array();
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ts_brokers(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "sink-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    long long deadline = ts_deadline_ms(30000);
    while (json_array_size(out) < want && ts_now_ms() < deadline) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);
        if (!rkm)
            continue;
        if (!rkm->err)
            json_array_append_new(out, json_pack("{s:s%, s:s%}", "key", (const char *)rkm->key,
                                                 rkm->key_len, "value", (const char *)rkm->payload,
                                                 rkm->len));
        rd_kafka_message_destroy(rkm);
    }
    /* A little more, to see repeats beyond `want` (bounded: one empty poll round). */
    for (;;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 1000);
        if (!rkm)
            break;
        if (!rkm->err)
            json_array_append_new(out, json_pack("{s:s%, s:s%}", "key", (const char *)rkm->key,
                                                 rkm->key_len, "value", (const char *)rkm->payload,
                                                 rkm->len));
        rd_kafka_message_destroy(rkm);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

/* The topic's cleanup.policy as the broker reports it (DescribeConfigs). Caller frees. */
static char *cleanup_policy(const char *topic)
{
    char err[512], *policy = NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ts_brokers(), err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ts_timeout_ms(30000));
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR);
    size_t nres = 0, ncfg = 0;
    const rd_kafka_ConfigResource_t **out =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    assert_int_equal(nres, 1);
    const rd_kafka_ConfigEntry_t **cfg = rd_kafka_ConfigResource_configs(out[0], &ncfg);
    for (size_t i = 0; i < ncfg; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(cfg[i]), "cleanup.policy") == 0)
            policy = strdup(rd_kafka_ConfigEntry_value(cfg[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return policy;
}

/* Writes the values as JSON lines and validates them against <schema>. */
static void validate_records(json_t *records, const char *schema, const char *dir)
{
    char path[4300];
    size_t i;
    json_t *r;
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, schema);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    json_array_foreach(records, i, r)
        fprintf(f, "%s\n", json_string_value(json_object_get(r, "value")));
    fclose(f);
    assert_int_equal(ts_validate_schema(schema, path), 0);
}

/*
 * Checks the changes topic against the model: every model record present with the same
 * content; nothing else; *repeats gets how many records were byte-identical repeats.
 */
static void check_changes(model *m, json_t *records, size_t *repeats)
{
    json_t *seen = json_object();
    size_t i;
    json_t *r;
    *repeats = 0;
    json_array_foreach(records, i, r)
    {
        const char *text = json_string_value(json_object_get(r, "value"));
        json_t *v = json_loads(text, 0, NULL);
        assert_non_null(v);
        char key[256];
        snprintf(key, sizeof key, "%s|%lld|%s", json_string_value(json_object_get(v, "mac")),
                 (long long)json_integer_value(json_object_get(v, "version")),
                 json_string_value(json_object_get(v, "param")));
        assert_string_equal(json_string_value(json_object_get(r, "key")),
                            json_string_value(json_object_get(v, "mac")));
        json_t *prev = json_object_get(seen, key);
        if (prev) {
            if (strcmp(json_string_value(prev), text) != 0)
                fail_msg("repeat of %s differs: %s vs %s", key, json_string_value(prev), text);
            (*repeats)++;
            json_decref(v);
            continue;
        }
        json_object_set_new(seen, key, json_string(text));
        json_t *want = json_object_get(m->changes, key);
        if (!want)
            fail_msg("unexpected change record %s", text);
        json_object_del(v, "schema");
        if (!json_equal(v, want)) {
            char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("change %s: got %s want %s", key, text, w);
        }
        json_decref(v);
    }
    if (json_object_size(seen) != json_object_size(m->changes))
        fail_msg("%zu distinct change records, model has %zu", json_object_size(seen),
                 json_object_size(m->changes));
    json_decref(seen);
}

/* ---- in-process sink ---------------------------------------------------------------------- */

typedef struct inproc {
    pr_common_cfg common;
    sink_cfg *cfg;
    pr_metrics *metrics;
    sink *snk;
} inproc;

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}

/* The next inproc_start's sink-batch-time (0: the default). */
static long long next_batch_ms;

/* outbox_max < 0: the default. */
static void inproc_start_bounded(inproc *ip, const char *prefix, const char *data_dir,
                                 const char *profiles_dir, const char *group, long long outbox_max)
{
    char err[512];
    memset(ip, 0, sizeof *ip);
    ip->cfg = sink_cfg_new();
    pr_cfg_section sec = sink_cfg_section(ip->cfg);
    char *argv[] = {"sink", NULL};
    assert_int_equal(
        pr_cfg_load(&sec, 1, &ip->common, 1, argv, (char *[]){NULL}, "t", "t", stdout, stderr),
        PR_CFG_OK);
    set_str(&ip->common.brokers, ts_brokers());
    set_str(&ip->common.topic_prefix, prefix);
    set_str(&ip->cfg->api_listen, "127.0.0.1:0");
    if (on_pg()) { /* data_dir is the connection string: the files go nowhere */
        set_str(&ip->cfg->store, data_dir);
        set_str(&ip->cfg->data_dir, "/tmp");
    } else {
        set_str(&ip->cfg->data_dir, data_dir);
    }
    set_str(&ip->cfg->profiles_dir, profiles_dir);
    set_str(&ip->cfg->group, group);
    ip->cfg->batch_max = 64;
    if (outbox_max >= 0)
        ip->cfg->outbox_max = outbox_max;
    if (next_batch_ms) { /* and no profile poll, which commits the open batch too */
        ip->cfg->batch_ms = next_batch_ms;
        ip->cfg->profiles_poll_ms = 3600000;
    }
    next_batch_ms = 0;
    assert_int_equal(ts_cfg_check(&sink_role, ip->cfg, &ip->common), PR_OK);
    ip->metrics = pr_metrics_new();
    if (sink_new(&ip->common, ip->cfg, ip->metrics, &ip->snk, err, sizeof err) != PR_OK)
        fail_msg("sink_new: %s", err);
    if (sink_start(ip->snk, err, sizeof err) != PR_OK)
        fail_msg("sink_start: %s", err);
}

static void inproc_start(inproc *ip, const char *prefix, const char *data_dir,
                         const char *profiles_dir, const char *group)
{
    inproc_start_bounded(ip, prefix, data_dir, profiles_dir, group, -1);
}

static void inproc_stop(inproc *ip)
{
    sink_stop(ip->snk);
    sink_free(ip->snk);
    pr_metrics_free(ip->metrics);
    pr_cfg_release(NULL, 0, &ip->common);
    sink_cfg_free(ip->cfg);
}

static int http_get(unsigned port, const char *path, char **body)
{
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd, "curl -sS -w '\\n%%{http_code}' 'http://127.0.0.1:%u%s'", port, path);
    assert_int_equal(ts_run(cmd, &out), 0);
    char *nl = strrchr(out, '\n');
    *nl = '\0';
    int code = atoi(nl + 1);
    *body = out;
    return code;
}

static void test_sink_rebuilds_state_and_publishes_changes_and_drift(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sink");
    char *dir = ts_mkdtemp("sink-it");
    char data[4200], profiles[4200], path[4300];
    model m;
    producer pr;
    model_init(&m);
    store_where(data, sizeof data, dir, "data");
    snprintf(profiles, sizeof profiles, "%s/profiles", dir);
    mkdir(profiles, 0700);
    snprintf(path, sizeof path, "%s/default.xml", profiles);
    const char *xml = "<flat-profile><Param_0_ ua=\"rw\">Alice</Param_0_></flat-profile>";
    assert_int_equal(ts_write_file(path, xml, strlen(xml)), 0);

    producer_open(&pr, prefix);
    generate(&pr, &m, 12, 15, 30);
    producer_close(&pr);

    inproc ip;
    inproc_start(&ip, prefix, data, profiles, "sink-it-1");
    wait_applied(data, m.records);
    unsigned port = sink_api_port(ip.snk);

    /* Every phone's configuration, exactly as the model says. */
    const char *mac;
    json_t *p;
    json_object_foreach(m.phones, mac, p)
    {
        char url[128], *body = NULL;
        snprintf(url, sizeof url, "/v1/phones/%s/config", mac);
        assert_int_equal(http_get(port, url, &body), 200);
        json_t *got = json_loads(body, 0, NULL);
        json_t *want =
            json_pack("{ss sO sO ss ss sO sO}", "mac", mac, "version",
                      json_object_get(p, "version"), "complete", json_object_get(p, "complete"),
                      "model", "CP-8832-3PCC", "firmware", "12.0.1", "params",
                      json_object_get(p, "params"), "access", json_object_get(p, "access"));
        if (!json_equal(got, want))
            fail_msg("%s: got %s", mac, body);
        json_decref(got);
        json_decref(want);
        free(body);
    }
    /* A profile change is picked up on sink_reload (SIGHUP) and drifts a phone. */
    const char *reload_mac = NULL;
    json_object_foreach(m.phones, mac, p)
    {
        json_t *v = json_object_get(json_object_get(p, "params"), "Param_1_");
        if (v && strcmp(json_string_value(v), "never-this") != 0) {
            reload_mac = mac;
            break;
        }
    }
    assert_non_null(reload_mac);
    snprintf(path, sizeof path, "%s/%s.xml", profiles, reload_mac);
    const char *own = "<flat-profile><Param_1_>never-this</Param_1_></flat-profile>";
    assert_int_equal(ts_write_file(path, own, strlen(own)), 0);
    sink_reload(ip.snk);
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "/v1/drift?mac=%s", reload_mac);
    long long deadline = ts_deadline_ms(DEADLINE_MS);
    bool seen = false;
    while (!seen && ts_now_ms() < deadline) {
        assert_int_equal(http_get(port, url, &body), 200);
        seen = strstr(body, "\"param\":\"Param_1_\"") != NULL;
        free(body);
        if (!seen)
            usleep(50 * 1000);
    }
    assert_true(seen);
    wait_applied(data, m.records); /* and its drift record published */

    /* Malformed records were counted, not applied. */
    char *metrics = NULL;
    assert_int_equal(http_get(port, "/metrics", &metrics), 200);
    assert_non_null(strstr(metrics, "phonereport_sink_invalid_events_total{reason="));
    free(metrics);
    inproc_stop(&ip);

    /* The output topics. */
    char topic[256];
    size_t repeats = 0;
    pr_topic_name(prefix, PR_TOPIC_CHANGES, topic, sizeof topic);
    json_t *changes = read_topic(topic, json_object_size(m.changes));
    check_changes(&m, changes, &repeats);
    assert_int_equal(repeats, 0); /* no crash: no repeat at all */
    validate_records(changes, "changes", dir);
    json_decref(changes);

    pr_topic_name(prefix, PR_TOPIC_DRIFT, topic, sizeof topic);
    json_t *drift = read_topic(topic, json_array_size(m.drift) + 1);
    assert_int_equal(json_array_size(drift), json_array_size(m.drift) + 1);
    size_t i;
    json_t *r;
    json_t *want_set = json_object(), *got_set = json_object();
    json_array_foreach(m.drift, i, r)
        json_object_set_new(want_set, json_string_value(r), json_true());
    json_array_foreach(drift, i, r)
    {
        json_t *v = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
        char key[256];
        if (strcmp(json_string_value(json_object_get(v, "param")), "Param_1_") == 0) {
            /* the one transition of the reload, at wall-clock time */
            assert_string_equal(json_string_value(json_object_get(v, "mac")), reload_mac);
            assert_string_equal(json_string_value(json_object_get(v, "state")), "drifted");
            assert_string_equal(json_string_value(json_object_get(v, "intended")), "never-this");
            json_decref(v);
            continue;
        }
        snprintf(key, sizeof key, "%s|%s|%s|%s", json_string_value(json_object_get(v, "mac")),
                 json_string_value(json_object_get(v, "param")),
                 json_string_value(json_object_get(v, "state")),
                 json_string_value(json_object_get(v, "since")));
        json_object_set_new(got_set, key, json_true());
        json_decref(v);
    }
    assert_true(json_equal(want_set, got_set));
    assert_true(json_array_size(m.drift) > 0);
    validate_records(drift, "drift", dir);
    json_decref(want_set);
    json_decref(got_set);
    json_decref(drift);

    /* State: a compacted topic (created so by the sink); the last record per phone is its
     * final state. */
    pr_topic_name(prefix, PR_TOPIC_STATE, topic, sizeof topic);
    char *policy = cleanup_policy(topic);
    assert_non_null(policy);
    assert_string_equal(policy, "compact");
    free(policy);
    json_t *states = read_topic(topic, json_object_size(m.phones));
    validate_records(states, "state", dir);
    json_t *last = json_object();
    json_array_foreach(states, i, r)
    {
        json_t *v = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
        json_object_set_new(last, json_string_value(json_object_get(r, "key")), v);
    }
    json_object_foreach(m.phones, mac, p)
    {
        json_t *s = json_object_get(last, mac);
        assert_non_null(s);
        /* Rendered after the last report that changed the state, before or after the reports
         * that changed nothing (those do not publish it again). */
        json_int_t v = json_integer_value(json_object_get(s, "version"));
        assert_true(v >= json_integer_value(json_object_get(p, "content_version")));
        assert_true(v <= json_integer_value(json_object_get(p, "version")));
        assert_true(json_equal(json_object_get(s, "params"), json_object_get(p, "params")));
        assert_true(json_equal(json_object_get(s, "access"), json_object_get(p, "access")));
        assert_true(json_equal(json_object_get(s, "complete"), json_object_get(p, "complete")));
    }
    json_decref(last);
    json_decref(states);

    model_free(&m);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* ---- kill -9 ------------------------------------------------------------------------------ */

static pid_t spawn_sink(const char *prefix, const char *data, const char *group, const char *log)
{
    char bin[4200];
    snprintf(bin, sizeof bin, "%s/phonereport", PR_BINARY_DIR);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execl(bin, bin, "sink", "--brokers", ts_brokers(), "--topic-prefix", prefix,
              on_pg() ? "--sink-store" : "--data-dir", data, "--api-listen", "127.0.0.1:0",
              "--sink-group", group, "--sink-batch-max", "25", "--sink-batch-time", "50ms",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_sink_killed_mid_batch_resumes_without_loss_or_double_apply(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkkill");
    char *dir = ts_mkdtemp("sink-kill");
    char data[4200], ref[4200], log[4200];
    model m;
    producer pr;
    model_init(&m);
    m.intended_name = "Param_0_";
    store_where(data, sizeof data, dir, "data");
    store_where(ref, sizeof ref, dir, "reference");
    snprintf(log, sizeof log, "%s/sink.log", dir);

    producer_open(&pr, prefix);
    /* fewer on PostgreSQL, whose applies are slower (a round trip a statement), so that the
     * kill still comes mid-run within the test's time */
    generate(&pr, &m, on_pg() ? 24 : 40, on_pg() ? 25 : 40, 40);
    producer_close(&pr);

    /* First run: killed once a quarter of the records is committed. */
    pid_t pid = spawn_sink(prefix, data, "sink-kill", log);
    long long deadline = ts_deadline_ms(DEADLINE_MS), at_kill = -1;
    while (ts_now_ms() < deadline) {
        at_kill = committed_records(data);
        if (at_kill >= m.records / 4)
            break;
        usleep(5 * 1000);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    long long after_kill = committed_records(data);
    long long pending_changes = outbox_rows_of(data, PR_TOPIC_CHANGES);
    fprintf(stderr, "killed with %lld of %ld records committed, %lld change records unconfirmed\n",
            after_kill, m.records, pending_changes);
    if (after_kill >= m.records)
        fail_msg("the sink finished before the kill: the test proved nothing");

    /* Restart; it must finish from the stored offsets. */
    pid = spawn_sink(prefix, data, "sink-kill", log);
    wait_applied(data, m.records);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The changes topic: nothing lost, repeats only as identical copies. */
    char topic[256];
    size_t repeats = 0;
    pr_topic_name(prefix, PR_TOPIC_CHANGES, topic, sizeof topic);
    json_t *changes = read_topic(topic, json_object_size(m.changes));
    check_changes(&m, changes, &repeats);
    fprintf(stderr, "changes: %zu records, %zu repeats\n", json_array_size(changes), repeats);
    /* The promise: only a record whose outbox row was still there at the crash can repeat. */
    assert_true((long long)repeats <= pending_changes);
    json_decref(changes);

    /* An uninterrupted run over the same input (another group, another store). */
    inproc ip;
    inproc_start(&ip, prefix, ref, NULL, "sink-kill-reference");
    wait_applied(ref, m.records);
    inproc_stop(&ip);
    char *a = dump_store(data), *b = dump_store(ref);
    if (strcmp(a, b) != 0) {
        char pa[4300], pb[4300];
        snprintf(pa, sizeof pa, "%s/killed.dump", dir);
        snprintf(pb, sizeof pb, "%s/reference.dump", dir);
        ts_write_file(pa, a, strlen(a));
        ts_write_file(pb, b, strlen(b));
        fail_msg("store after kill -9 differs from an uninterrupted run: diff %s %s", pa, pb);
    }
    /* And both equal the model (versions and params). */
    assert_non_null(strstr(a, "--"));
    free(a);
    free(b);
    model_free(&m);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* ---- a state record larger than the state topic takes ------------------------------------ */

/* A config value as the generator writes it, with this phone and these params. */
static char *full_report(const char *mac, const char *rid, const char *at, json_t *params)
{
    json_t *ev =
        json_pack("{ss ss ss ss ss ss s{ss ss} sO s{} s{si si}}", "schema", PR_SCHEMA_CONFIG, "mac",
                  mac, "kind", "full", "report_id", rid, "received_at", at, "encryption", "none",
                  "source", "model", "CP-8832-3PCC", "firmware", "12.0.1", "params", params,
                  "access", "raw", "partition", 0, "offset", 0);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

static long long metric_value(unsigned port, const char *series)
{
    char *body = NULL;
    assert_int_equal(http_get(port, "/metrics", &body), 200);
    const char *at = strstr(body, series);
    long long v = at ? atoll(at + strlen(series)) : -1;
    free(body);
    return v;
}

/* Before: the publisher retried a state record the broker refuses (Message size too large)
 * every few hundred milliseconds for ever; the outbox never drained. Now the refusal is
 * counted and logged once and the record dropped: the outbox drains, later states go out. */
static void test_state_record_the_topic_refuses_is_counted_once_not_retried(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkbig");
    char *dir = ts_mkdtemp("sink-big");
    char data[4200], topic[256], err[512];
    producer pr;
    store_where(data, sizeof data, dir, "data");
    producer_open(&pr, prefix);
    /* The operator created the state topic with a small record limit. */
    pr_topic_name(prefix, PR_TOPIC_STATE, topic, sizeof topic);
    const char *names[] = {topic};
    const char *configs[] = {"cleanup.policy", "compact", "max.message.bytes", "20000", NULL};
    assert_int_equal(pr_kafka_ensure_topics(pr.rk, names, 1, 1, configs, 30000, err, sizeof err),
                     PR_OK);
    /* A: about 90 KB of state that does not compress below the limit; B: small. */
    json_t *big = json_object(), *small = json_pack("{ss}", "Display_Name_1_", "Bob");
    for (int i = 0; i < 1200; i++) {
        char name[32], value[65];
        snprintf(name, sizeof name, "Param_%d_", i);
        for (int k = 0; k < 64; k++)
            value[k] = "0123456789abcdef"[rnd(16)];
        value[64] = '\0';
        json_object_set_new(big, name, json_string(value));
    }
    char *a = full_report("00562b0a0001", "a1", "2026-11-24T10:00:00.000Z", big);
    char *b1 = full_report("00562b0a0002", "b1", "2026-11-24T10:00:01.000Z", small);
    produce(&pr, pr.topic_config, "00562b0a0001", a);
    produce(&pr, pr.topic_config, "00562b0a0002", b1);
    assert_int_equal(rd_kafka_flush(pr.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

    inproc ip;
    inproc_start(&ip, prefix, data, NULL, "sink-big");
    unsigned port = sink_api_port(ip.snk);
    wait_applied(data, 2); /* both applied and the outbox empty: fails while it retries */
    const char *refused = "phonereport_sink_publish_refused_total{topic=\"state\"} ";
    assert_int_equal(metric_value(port, refused), 1);
    /* A later state of B goes out; the refusal is not repeated. */
    json_object_set_new(small, "Display_Name_1_", json_string("Carol"));
    char *b2 = full_report("00562b0a0002", "b2", "2026-11-24T10:00:02.000Z", small);
    produce(&pr, pr.topic_config, "00562b0a0002", b2);
    assert_int_equal(rd_kafka_flush(pr.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    wait_applied(data, 3);
    assert_int_equal(metric_value(port, refused), 1);
    inproc_stop(&ip);
    producer_close(&pr);

    json_t *states = read_topic(topic, 2);
    assert_int_equal(json_array_size(states), 2);
    size_t i;
    json_t *r;
    json_array_foreach(states, i, r)
        assert_string_equal(json_string_value(json_object_get(r, "key")), "00562b0a0002");
    json_decref(states);
    json_decref(big);
    json_decref(small);
    free(a);
    free(b1);
    free(b2);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* DESIGN section 3 on the real broker: a first report (full or delta) is a baseline and an
 * identical full report is unchanged: neither puts a record on phonereport.changes. */
static void test_baselines_and_identical_reports_publish_no_change(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkbase");
    char *dir = ts_mkdtemp("sink-base");
    char data[4200], topic[256];
    producer pr;
    store_where(data, sizeof data, dir, "data");
    producer_open(&pr, prefix);
    json_t *params = json_pack("{ss ss ss}", "A", "1", "B", "2", "C", "3");
    char *r1 = full_report("00562b0b0001", "r1", "2026-11-24T10:00:00.000Z", params);
    char *r2 = full_report("00562b0b0001", "r2", "2026-11-24T10:01:00.000Z", params);
    json_t *delta = json_pack("{ss}", "B", "20");
    json_t *ev = json_pack("{ss ss ss ss ss ss s{} sO s{} s{si si}}", "schema", PR_SCHEMA_CONFIG,
                           "mac", "00562b0b0001", "kind", "delta", "report_id", "r3", "received_at",
                           "2026-11-24T10:02:00.000Z", "encryption", "none", "source", "params",
                           delta, "access", "raw", "partition", 0, "offset", 0);
    char *r3 = json_dumps(ev, JSON_COMPACT);
    json_object_set_new(ev, "mac", json_string("00562b0b0002"));
    char *y1 = json_dumps(ev, JSON_COMPACT); /* another phone's first report: a delta */
    produce(&pr, pr.topic_config, "00562b0b0001", r1);
    produce(&pr, pr.topic_config, "00562b0b0001", r2);
    produce(&pr, pr.topic_config, "00562b0b0001", r3);
    produce(&pr, pr.topic_config, "00562b0b0002", y1);
    producer_close(&pr);

    inproc ip;
    inproc_start(&ip, prefix, data, NULL, "sink-base");
    unsigned port = sink_api_port(ip.snk);
    long long deadline = ts_now_ms() + DEADLINE_MS;
    while (committed_records(data) < 4 && ts_now_ms() < deadline)
        usleep(20 * 1000);
    wait_applied(data, committed_records(data)); /* and the outbox drained */
    assert_int_equal(metric_value(port, "\nphonereport_sink_unchanged_reports_total "), 1);
    assert_int_equal(metric_value(port, "\nphonereport_sink_changes_total "), 1);
    inproc_stop(&ip);

    pr_topic_name(prefix, PR_TOPIC_CHANGES, topic, sizeof topic);
    json_t *changes = read_topic(topic, 2); /* waits for a second one that must not come */
    assert_int_equal(json_array_size(changes), 1);
    json_t *c = json_loads(json_string_value(json_object_get(json_array_get(changes, 0), "value")),
                           0, NULL);
    assert_string_equal(json_string_value(json_object_get(c, "param")), "B");
    assert_string_equal(json_string_value(json_object_get(c, "old")), "2");
    assert_int_equal(json_integer_value(json_object_get(c, "version")), 3);
    json_decref(c);
    json_decref(changes);
    json_decref(params);
    json_decref(delta);
    json_decref(ev);
    free(r1);
    free(r2);
    free(r3);
    free(y1);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* Makes the store refuse any phone row for mac (a trigger), as a bug, a constraint or a value
 * the store refuses would: the store itself stays healthy. */
static void store_refuse_mac(const char *where, const char *mac)
{
    char sql[1024], err[512];
    sink_store *st = NULL;
    assert_int_equal(sink_store_open(where, false, NULL, &st, err, sizeof err), PR_OK);
    if (on_pg()) {
        snprintf(sql, sizeof sql,
                 "CREATE FUNCTION refuse_mac() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "IF NEW.mac = '%s' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                 "RETURN NEW; END $$; CREATE TRIGGER refuse_mac BEFORE INSERT OR UPDATE ON phones "
                 "FOR EACH ROW EXECUTE FUNCTION refuse_mac()",
                 mac);
        assert_int_equal(ts_pg_exec(where, sql), 0);
    } else {
        snprintf(sql, sizeof sql,
                 "CREATE TRIGGER refuse_mac BEFORE INSERT ON phones WHEN NEW.mac = '%s' "
                 "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                 mac);
        assert_int_equal(sqlite3_exec(sink_store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sink_store_close(st);
}

/* Before: any apply error was taken for a store outage; the batch rolled back and was read
 * again for ever, so one record the store refuses stopped every partition (the wait below
 * timed out with the good phones' records unapplied). Now it is retried alone, skipped into
 * phonereport.sink-dlq (coordinates, error, value), counted, and the rest is applied. */
static void test_record_failing_on_a_healthy_store_is_skipped_into_the_sink_dlq(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkpoison");
    char *dir = ts_mkdtemp("sink-poison");
    char data[4200], topic[256];
    const char *bad = "00562b0bad01";
    producer pr;
    store_where(data, sizeof data, dir, "data");
    store_refuse_mac(data, bad);
    producer_open(&pr, prefix);
    json_t *params = json_pack("{ss}", "Display_Name_1_", "Alice");
    int good = 12;
    for (int i = 0; i < good; i++) {
        char mac[13], rid[16];
        snprintf(mac, sizeof mac, "00562b0c%04x", (unsigned)i);
        snprintf(rid, sizeof rid, "g%d", i);
        char *v = full_report(mac, rid, "2026-11-24T10:00:00.000Z", params);
        produce(&pr, pr.topic_config, mac, v);
        free(v);
        if (i == good / 2) {
            char *p = full_report(bad, "bad", "2026-11-24T10:00:00.000Z", params);
            produce(&pr, pr.topic_config, bad, p);
            free(p);
        }
    }
    assert_int_equal(rd_kafka_flush(pr.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

    inproc ip;
    inproc_start(&ip, prefix, data, NULL, "sink-poison");
    unsigned port = sink_api_port(ip.snk);
    wait_applied(data, good + 1); /* every offset stored, the outbox (sink-dlq record) empty */
    assert_int_equal(metric_value(port, "\nphonereport_sink_poison_total "), 1);
    char *body = NULL, url[64];
    for (int i = 0; i < good; i++) {
        snprintf(url, sizeof url, "/v1/phones/00562b0c%04x", (unsigned)i);
        assert_int_equal(http_get(port, url, &body), 200);
        free(body);
    }
    snprintf(url, sizeof url, "/v1/phones/%s", bad);
    assert_int_equal(http_get(port, url, &body), 404);
    free(body);
    inproc_stop(&ip);
    producer_close(&pr);

    pr_topic_name(prefix, PR_TOPIC_SINK_DLQ, topic, sizeof topic);
    json_t *dlq = read_topic(topic, 1);
    assert_int_equal(json_array_size(dlq), 1);
    json_t *r = json_array_get(dlq, 0);
    assert_string_equal(json_string_value(json_object_get(r, "key")), bad);
    validate_records(dlq, "sink-dlq", dir);
    json_t *v = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "mac")), bad);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "source"), "topic")),
                        pr.topic_config);
    assert_true(strstr(json_string_value(json_object_get(v, "detail")), "refused by the test"));
    json_t *orig = json_loads(json_string_value(json_object_get(v, "value")), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(orig, "report_id")), "bad");
    json_decref(orig);
    json_decref(v);
    json_decref(dlq);
    json_decref(params);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* Waits until /readyz answers want. */
static void wait_readyz(unsigned port, int want)
{
    long long deadline = ts_deadline_ms(DEADLINE_MS);
    int code = 0;
    while (ts_now_ms() < deadline) {
        char *body = NULL;
        code = http_get(port, "/readyz", &body);
        free(body);
        if (code == want)
            return;
        usleep(50 * 1000);
    }
    fail_msg("/readyz answers %d, wanted %d", code, want);
}

/* Before: a fatal producer error ended the publisher thread while /readyz stayed 200, the
 * role never reported a failure (run.c exits 0) and the consumer filled the outbox without
 * end. Now the sink is not ready, reports failed (the process exits 70) and asks the process
 * to stop, and the outbox bound pauses consumption: the records stay in Kafka. */
static void test_dead_publisher_fails_the_sink_and_the_outbox_bound_pauses_consumption(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkdead");
    char *dir = ts_mkdtemp("sink-dead");
    char data[4200];
    producer pr;
    store_where(data, sizeof data, dir, "data");
    producer_open(&pr, prefix);
    json_t *params = json_pack("{ss}", "Display_Name_1_", "Alice");
    char *first = full_report("00562b0d0000", "first", "2026-11-24T10:00:00.000Z", params);
    produce(&pr, pr.topic_config, "00562b0d0000", first);
    assert_int_equal(rd_kafka_flush(pr.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

    inproc ip;
    long long bound = 20;
    inproc_start_bounded(&ip, prefix, data, NULL, "sink-dead", bound);
    unsigned port = sink_api_port(ip.snk);
    wait_applied(data, 1);
    wait_readyz(port, 200);
    assert_false(sink_failed(ip.snk));

    sink_outbox_inject_fatal(sink_outbox_of(ip.snk), "injected by the test");
    long long deadline = ts_deadline_ms(DEADLINE_MS);
    while (!sink_failed(ip.snk) && ts_now_ms() < deadline)
        usleep(20 * 1000);
    assert_true(sink_failed(ip.snk));
    assert_true(sink_role.failed(ip.snk)); /* run.c: exit 70 */
    assert_true(pr_signals_stop_requested());
    wait_readyz(port, 503);
    assert_false(sink_ready(ip.snk));

    /* Nothing is published any more: the outbox fills to its bound and consumption pauses. */
    int more = 300;
    for (int i = 1; i <= more; i++) {
        char mac[13];
        snprintf(mac, sizeof mac, "00562b0d%04x", (unsigned)i);
        char *v = full_report(mac, "r", "2026-11-24T10:00:01.000Z", params);
        produce(&pr, pr.topic_config, mac, v);
        free(v);
    }
    assert_int_equal(rd_kafka_flush(pr.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    deadline = ts_deadline_ms(DEADLINE_MS);
    while (metric_value(port, "\nphonereport_sink_outbox_paused ") != 1 && ts_now_ms() < deadline)
        usleep(50 * 1000);
    assert_int_equal(metric_value(port, "\nphonereport_sink_outbox_paused "), 1);
    long long applied = committed_records(data), rows = outbox_rows(data);
    /* Paused at the bound (plus at most the record that crossed it), far before the end. */
    assert_true(rows >= bound);
    assert_true(rows <= bound + 4);
    assert_true(applied < 1 + more);
    inproc_stop(&ip);
    producer_close(&pr);
    json_decref(params);
    free(first);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* The outbox bound with a live publisher: a burst far larger than sink-outbox-max fills the
 * outbox, consumption pauses, the publisher drains it, consumption resumes where it paused,
 * and every record ends applied once and published (before this test the resume was never
 * exercised: a pause that did not resume would leave records in Kafka for ever). */
static void test_a_full_outbox_pauses_consumption_and_resumes_once_published(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkresume");
    char *dir = ts_mkdtemp("sink-resume");
    char data[4200];
    producer pr;
    store_where(data, sizeof data, dir, "data");
    producer_open(&pr, prefix);
    json_t *params = json_pack("{ss}", "Display_Name_1_", "Alice");
    int burst = 100;                  /* 10 times the bound: several pauses, each resumed */
    for (int i = 0; i < burst; i++) { /* all in Kafka before the sink starts: big batches */
        char mac[13];
        snprintf(mac, sizeof mac, "00562b0e%04x", (unsigned)i);
        char *v = full_report(mac, "r", "2026-11-24T10:00:01.000Z", params);
        produce(&pr, pr.topic_config, mac, v);
        free(v);
    }
    assert_int_equal(rd_kafka_flush(pr.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

    inproc ip;
    inproc_start_bounded(&ip, prefix, data, NULL, "sink-resume", 10);
    unsigned port = sink_api_port(ip.snk);
    long long deadline = ts_deadline_ms(DEADLINE_MS);
    while ((committed_records(data) < burst || outbox_rows(data) > 0 ||
            metric_value(port, "\nphonereport_sink_outbox_paused ") != 0) &&
           ts_now_ms() < deadline)
        usleep(50 * 1000);
    assert_int_equal(committed_records(data), burst);
    assert_int_equal(outbox_rows(data), 0);
    assert_true(metric_value(port, "\nphonereport_sink_outbox_pauses_total ") >= 1);
    assert_int_equal(metric_value(port, "\nphonereport_sink_outbox_paused "), 0);
    assert_int_equal(store_int(data, "SELECT count(*) FROM phones"), burst);
    assert_false(sink_failed(ip.snk));
    inproc_stop(&ip);
    producer_close(&pr);
    json_decref(params);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

/* Group commit: on an idle sink a lone report commits as soon as the input is drained, not when
 * the batch's time (here the longest allowed, 60 s) runs out; the wait below (40 s, a bound, not
 * a measure) fails before that time. */
static void test_a_lone_report_commits_without_waiting_for_the_batch_time(void **state)
{
    (void)state;
    char *prefix = ts_unique_prefix("sinkgc");
    char *dir = ts_mkdtemp("sink-gc");
    char data[4200], *body = NULL;
    producer pr;
    store_where(data, sizeof data, dir, "data");
    producer_open(&pr, prefix);
    inproc ip;
    next_batch_ms = 60000;
    inproc_start(&ip, prefix, data, NULL, "sink-gc");
    unsigned port = sink_api_port(ip.snk);
    long long deadline = ts_deadline_ms(DEADLINE_MS);
    while (http_get(port, "/readyz", &body) != 200 && ts_now_ms() < deadline) {
        free(body);
        usleep(50 * 1000);
    }
    free(body);
    json_t *params = json_pack("{ss}", "A", "1");
    char *r1 = full_report("00562b0c0001", "r1", "2026-11-24T10:00:00.000Z", params);
    produce(&pr, pr.topic_config, "00562b0c0001", r1);
    producer_close(&pr);
    deadline = ts_now_ms() + 40000;
    while (committed_records(data) < 1 && ts_now_ms() < deadline)
        usleep(20 * 1000);
    assert_int_equal(committed_records(data), 1);
    assert_int_equal(http_get(port, "/v1/phones/00562b0c0001", &body), 200);
    free(body);
    inproc_stop(&ip);
    json_decref(params);
    free(r1);
    ts_rmtree(dir);
    free(dir);
    free(prefix);
}

int main(void)
{
    pr_jarena_install(); /* events parse in arenas, as in the binary */
    ts_brokers();
    if (getenv("PR_TEST_FILTER")) /* one test by name, for a quick loop */
        cmocka_set_test_filter(getenv("PR_TEST_FILTER"));
    if (on_pg())
        ts_pg(); /* fails (never skips) without the server */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_rebuilds_state_and_publishes_changes_and_drift),
        cmocka_unit_test(test_sink_killed_mid_batch_resumes_without_loss_or_double_apply),
        cmocka_unit_test(test_state_record_the_topic_refuses_is_counted_once_not_retried),
        cmocka_unit_test(test_baselines_and_identical_reports_publish_no_change),
        cmocka_unit_test(test_a_lone_report_commits_without_waiting_for_the_batch_time),
        cmocka_unit_test(test_record_failing_on_a_healthy_store_is_skipped_into_the_sink_dlq),
        /* last: it asks the process to stop (pr_signals_request_stop), as run.c needs */
        cmocka_unit_test(
            test_dead_publisher_fails_the_sink_and_the_outbox_bound_pauses_consumption),
        cmocka_unit_test(test_a_full_outbox_pauses_consumption_and_resumes_once_published),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
