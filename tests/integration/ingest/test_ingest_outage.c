/*
 * test_ingest_outage.c - the edge's promise under a broker outage, on a private broker this
 * test starts, halts and restarts (tests/kafka/broker.sh): while phones send and the broker
 * goes away, every answer is 200 or 503 (never another 2xx, never silence); once the edge
 * knows Kafka is gone every upload gets 503 with Retry-After; when the broker is back uploads
 * succeed again; and every upload that got 200 is on the topic (counted by request id). Also
 * the boot storm on a freshly started broker: phones send at once, concurrently, while the
 * edge's producer still waits for its idempotence producer id (the broker answers "coordinator
 * load in progress" at first), and every upload that got 200 is on the topic, under its MAC
 * and kind.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "edge.h"
#include "testsupport.h"

#define UA     "-H 'User-Agent: Cisco-CP-8841-3PCC/11.0 (00562b043615)'"
#define MAXREQ 4096

typedef struct outcome {
    int status;
    char id[64];
    char retry_after[32];
} outcome;

typedef struct run {
    edge e;
    char kafka_dir[1024];
    char brokers[256];
    const char *body;
    outcome out[MAXREQ];
    int n;
    pthread_mutex_t mu;
    volatile int stop_sender;
} run;

static void send_one(run *t, const char *path)
{
    char opts[4500];
    edge_resp r;
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, t->body);
    edge_curl(&t->e, opts, path, &r);
    pthread_mutex_lock(&t->mu);
    if (t->n < MAXREQ) {
        t->out[t->n].status = r.status;
        snprintf(t->out[t->n].id, sizeof t->out[t->n].id, "%s", r.request_id);
        snprintf(t->out[t->n].retry_after, sizeof t->out[t->n].retry_after, "%s", r.retry_after);
        t->n++;
    }
    pthread_mutex_unlock(&t->mu);
}

static void *sender(void *arg)
{
    run *t = arg;
    while (!t->stop_sender)
        send_one(t, "/r/00562b043615-delta.xml");
    return NULL;
}

static void broker(run *t, const char *verb)
{
    char cmd[2048];
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "PR_KAFKA_HEAP=256m '%s/kafka/broker.sh' %s %s", PR_TESTS_DIR, verb,
             t->kafka_dir);
    int rc = ts_run(cmd, &out);
    if (rc != 0)
        fail_msg("broker.sh %s failed: %s", verb, out ? out : "");
    if (strcmp(verb, "start") == 0 && out) {
        char *b = strstr(out, "PHONEREPORT_TEST_BROKERS=");
        char *d = strstr(out, "PR_KAFKA_DIR=");
        assert_non_null(b);
        assert_non_null(d);
        sscanf(b, "PHONEREPORT_TEST_BROKERS=%255s", t->brokers);
        sscanf(d, "PR_KAFKA_DIR=%1023s", t->kafka_dir);
    }
    free(out);
}

static int teardown(void **state)
{
    run *t = *state;
    if (t && t->kafka_dir[0]) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s/kafka/broker.sh' stop %s", PR_TESTS_DIR, t->kafka_dir);
        ts_run(cmd, NULL);
    }
    free(t);
    return 0;
}

static void test_outage_gives_503_never_2xx_and_every_200_is_on_the_topic(void **state)
{
    run *t = calloc(1, sizeof *t);
    *state = t;
    pthread_mutex_init(&t->mu, NULL);
    (void)ts_brokers(); /* like every integration test, refuse to run without the test setup */
    broker(t, "start");
    const char *args[] = {"--ack-timeout=3s", "--retry-after=7s", "--ingest-shutdown-timeout=2s",
                          NULL};
    edge_start(&t->e, t->brokers, "iout", args);
    t->body = edge_file(&t->e, "body.xml", "<flat-profile><A>1</A></flat-profile>", 37);

    /* 1. broker up */
    for (int i = 0; i < 10; i++)
        send_one(t, "/r/00562b043615.xml");
    for (int i = 0; i < 10; i++)
        assert_int_equal(t->out[i].status, 200);

    /* 2. halt it while a phone keeps sending */
    pthread_t thr;
    assert_int_equal(pthread_create(&thr, NULL, sender, t), 0);
    broker(t, "halt");
    bool down = edge_wait_ready(&t->e, 503, ts_deadline_ms(60000));
    t->stop_sender = 1;
    pthread_join(thr, NULL);
    assert_true(down);
    int during = t->n;
    for (int i = 0; i < 10; i++)
        send_one(t, "/r/00562b043615-status.xml");
    for (int i = during; i < t->n; i++) {
        assert_int_equal(t->out[i].status, 503);
        assert_string_equal(t->out[i].retry_after, "7");
    }
    for (int i = 10; i < during; i++)
        if (t->out[i].status != 200 && t->out[i].status != 503)
            fail_msg("request %d during the outage got %d", i, t->out[i].status);

    /* 3. broker back */
    broker(t, "start");
    assert_true(edge_wait_ready(&t->e, 200, ts_deadline_ms(120000)));
    int after = t->n;
    for (int i = 0; i < 10; i++)
        send_one(t, "/r/00562b043615.xml");
    for (int i = after; i < t->n; i++)
        assert_int_equal(t->out[i].status, 200);

    /* every 200 is on the topic */
    json_t *recs = edge_consume(&t->e);
    int ok = 0, n503 = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->out[i].status == 200) {
            ok++;
            if (!edge_find(recs, t->out[i].id))
                fail_msg("request %s got 200 but is not on the topic", t->out[i].id);
        } else {
            n503++;
        }
    }
    print_message("%d requests: %d got 200 (all on the topic, %zu records), %d got 503\n", t->n, ok,
                  json_array_size(recs), n503);
    assert_true(json_array_size(recs) >= (size_t)ok);
    json_decref(recs);

    edge_resp m;
    edge_curl(&t->e, "", "/metrics", &m);
    assert_non_null(strstr(m.body, "phonereport_ingest_unavailable_total"));
    edge_stop(&t->e);
    pthread_mutex_destroy(&t->mu);
}

typedef struct stopper {
    run *t;
    pthread_t thr[4];
    volatile int stopped;
} stopper;

static void *stop_sender(void *arg)
{
    stopper *s = arg;
    /* keep sending until the edge is gone (a few requests after ingest_stop returned) */
    int after = 0;
    while (after < 3) {
        if (s->stopped)
            after++;
        send_one(s->t, "/r/00562b043615-delta.xml");
    }
    return NULL;
}

static int count_status(run *t, int status)
{
    int n = 0;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n; i++)
        n += t->out[i].status == status;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static void test_stop_under_load_loses_no_acknowledged_report(void **state)
{
    run *t = calloc(1, sizeof *t);
    *state = t;
    pthread_mutex_init(&t->mu, NULL);
    const char *args[] = {"--ingest-shutdown-timeout=5s", NULL};
    edge_start(&t->e, ts_brokers(), "istop", args);
    t->body = edge_file(&t->e, "body.xml", "<flat-profile><A>1</A></flat-profile>", 37);
    stopper s = {.t = t};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&s.thr[i], NULL, stop_sender, &s), 0);
    long long deadline = ts_deadline_ms(60000);
    while (count_status(t, 200) < 40 && ts_now_ms() < deadline)
        usleep(20000); /* polling a counter; the condition ends the wait */
    ingest_stop(t->e.r);
    s.stopped = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(s.thr[i], NULL);
    assert_true(count_status(t, 200) >= 40);

    json_t *recs = edge_consume(&t->e);
    int ok = 0, other = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->out[i].status >= 200 && t->out[i].status < 300) {
            assert_int_equal(t->out[i].status, 200);
            ok++;
            if (!edge_find(recs, t->out[i].id))
                fail_msg("request %s got 200 but is not on the topic", t->out[i].id);
        } else {
            other++;
        }
    }
    print_message("%d requests around the stop: %d got 200 (all on the topic), %d did not\n", t->n,
                  ok, other);
    json_decref(recs);
    edge_stop(&t->e);
    pthread_mutex_destroy(&t->mu);
}

/* The boot storm: STORM_THREADS concurrent senders, each sending STORM_PER_THREAD uploads
 * (for each of its phones a full report, then a status report), PUT and POST. */
#define STORM_THREADS    16
#define STORM_PER_THREAD 24
#define STORM_N          (STORM_THREADS * STORM_PER_THREAD)

typedef struct storm_up {
    char mac[13];
    const char *kind;
    int status;   /* the last answer: 200 once acknowledged */
    int attempts; /* 503s are retried, as a phone retries */
    char id[64];  /* X-Request-Id of the 200 */
} storm_up;

typedef struct storm {
    run *t;
    const char *full, *status; /* bodies */
    storm_up up[STORM_N];
    int next_thread;
    pthread_mutex_t mu;
} storm;

static void *storm_sender(void *arg)
{
    storm *s = arg;
    pthread_mutex_lock(&s->mu);
    int th = s->next_thread++;
    pthread_mutex_unlock(&s->mu);
    long long deadline = ts_deadline_ms(120000);
    for (int i = 0; i < STORM_PER_THREAD; i++) {
        storm_up *u = &s->up[th * STORM_PER_THREAD + i];
        bool full = i % 2 == 0; /* a phone's full report, then its status report */
        snprintf(u->mac, sizeof u->mac, "00562b%02x%04x", th, i / 2);
        u->kind = full ? "full" : "status";
        char opts[4500], path[128];
        snprintf(opts, sizeof opts,
                 "-X %s --data-binary @'%s' -H 'User-Agent: Cisco-CP-8832-3PCC/11.3.1 (%s)'",
                 i % 4 < 2 ? "PUT" : "POST", full ? s->full : s->status, u->mac);
        snprintf(path, sizeof path, "/r/%s/%s.xml", u->mac, u->kind);
        edge_resp r;
        for (;;) {
            edge_curl(&s->t->e, opts, path, &r);
            u->attempts++;
            u->status = r.status;
            if (r.status != 503 || ts_now_ms() >= deadline)
                break;
            usleep(100000); /* a phone's back-off before it sends the report again */
        }
        snprintf(u->id, sizeof u->id, "%s", r.request_id);
    }
    return NULL;
}

static void test_boot_storm_on_a_fresh_broker_loses_no_acknowledged_upload(void **state)
{
    run *t = calloc(1, sizeof *t);
    storm *s = calloc(1, sizeof *s);
    *state = t;
    assert_non_null(s);
    (void)ts_brokers(); /* like every integration test, refuse to run without the test setup */
    broker(t, "start"); /* fresh: no producer id, transaction or offsets state yet */
    edge_start(&t->e, t->brokers, "istorm", NULL);
    s->t = t;
    s->full = PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml";
    s->status = PR_DATA_DIR "/samples/synthetic-status-report-GUESS.xml";
    pthread_mutex_init(&s->mu, NULL);
    pthread_t thr[STORM_THREADS];
    for (int i = 0; i < STORM_THREADS; i++)
        assert_int_equal(pthread_create(&thr[i], NULL, storm_sender, s), 0);
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_join(thr[i], NULL);

    int retries = 0;
    for (int i = 0; i < STORM_N; i++) {
        if (s->up[i].status != 200)
            fail_msg("%s %s got %d after %d attempts", s->up[i].mac, s->up[i].kind, s->up[i].status,
                     s->up[i].attempts);
        if (!s->up[i].id[0])
            fail_msg("%s %s: a 200 without X-Request-Id", s->up[i].mac, s->up[i].kind);
        retries += s->up[i].attempts - 1;
    }
    /* Every 200 is a record under its own request id, MAC and kind. kcat reads every
     * partition to its end; the records of 503s may be there too (a retry is a new record). */
    json_t *recs = edge_consume(&t->e);
    int lost = 0;
    for (int i = 0; i < STORM_N; i++) {
        json_t *rec = edge_find(recs, s->up[i].id);
        if (!rec) {
            print_error("LOST: %s %s %s got 200 but is not on %s\n", s->up[i].id, s->up[i].mac,
                        s->up[i].kind, t->e.topic);
            lost++;
            continue;
        }
        assert_string_equal(json_string_value(json_object_get(rec, "key")), s->up[i].mac);
        assert_string_equal(edge_header(rec, "pr-kind"), s->up[i].kind);
    }
    print_message("%d uploads from %d connections on a fresh broker: all got 200 (%d retries"
                  " after 503), %zu records, %d lost\n",
                  STORM_N, STORM_THREADS, retries, json_array_size(recs), lost);
    assert_int_equal(lost, 0);
    assert_true(json_array_size(recs) >= (size_t)STORM_N);
    json_decref(recs);
    edge_stop(&t->e);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_outage_gives_503_never_2xx_and_every_200_is_on_the_topic,
                                  teardown),
        cmocka_unit_test_teardown(test_stop_under_load_loses_no_acknowledged_report, teardown),
        cmocka_unit_test_teardown(test_boot_storm_on_a_fresh_broker_loses_no_acknowledged_upload,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
