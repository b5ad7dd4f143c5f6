/*
 * outbox.c - publishes what apply and drift wrote to the outbox, with an idempotent producer
 * (acks=all, murmur2_random, key = MAC), and deletes each row once its delivery report
 * confirms it.
 *
 * Guarantee (README "What the sink publishes"): a record is written to the outbox in the same
 * store transaction as the state it describes, so nothing committed is lost; it is deleted
 * only after the broker acknowledged it. After a crash every remaining row is published again,
 * so a record can repeat only if it had been published but its row was not yet deleted. Every
 * record carries (mac, version), so a consumer drops repeats.
 *
 * phonereport.state is not copied into the outbox: outbox_state holds (phone, version) and the
 * publisher renders the phone's *current* state when it sends, so one record covers any number
 * of reports in between, and a delta costs the store no more than its own rows.
 *
 * DESIGN: one thread owns the producer's poll loop and its own store connection. Delivery
 * reports are served by rd_kafka_poll() on that thread and collected into lists that the
 * thread deletes in one transaction. Rows are read by increasing id (AUTOINCREMENT, so ids
 * never go back); a failed delivery rewinds the cursor once nothing is in flight.
 *
 * On a PostgreSQL store shared by several sinks each row carries its phone's partition and a
 * sink reads only the rows of the partitions it owns (sink_parts, set by the consumer). Ids
 * come from an identity sequence, so rows of different writers commit out of id order; those
 * of one partition have one writer at a time, whose transactions commit in turn, so a cursor
 * over the owned partitions does not pass a row that is still to commit. When the owned set
 * changes the cursor starts again from 0: the previous owner's unpublished rows are sent (a
 * row it had sent but not yet deleted repeats, byte for byte).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "kafka.h"
#include "log.h"
#include "signals.h"
#include "sink_internal.h"
#include "thread.h"
#include "clock.h"

#define PAGE              500
#define STATE_PAGE        200
#define MAX_IN_FLIGHT     20000
#define DRAIN_MS          10000
#define CHECKPOINT_FRAMES 1000 /* SQLite's own autocheckpoint threshold */

typedef struct sent {
    bool is_state;
    bool refused; /* Kafka refused it for good (too large, invalid): deleted, not retried */
    bool solo;    /* sent alone, after Kafka refused the batch it was in */
    int64_t id;   /* outbox id, or phone id for state */
    int64_t version;
} sent;

typedef struct id_list {
    sent *v;
    size_t len, cap;
} id_list;

struct sink_outbox {
    const pr_common_cfg *common;
    const sink_cfg *cfg;
    rd_kafka_t *rk;
    sink_store *st;
    char topics[PR_TOPIC__COUNT][PR_TOPIC_NAME_CAP];
    /* handles of the output topics, made once they exist (sink_outbox_ensure_topics), so that
     * the first record of each does not wait for librdkafka's topic scan */
    rd_kafka_topic_t *rkt[PR_TOPIC__COUNT];
    pr_thread thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake;
    atomic_bool dead;     /* the producer failed for good: the thread has ended */
    char render_err[256]; /* the last error a state record could not be rendered with */
    /* Publisher-thread state. */
    int64_t cursor, state_cursor, rewind_to;
    long in_flight, states_in_flight;
    id_list done;
    /* Records whose batch Kafka refused: the broker refuses a whole batch when it is too
     * large, so a record that fits is sent again alone before it is taken for refused. */
    id_list solo;
    bool solo_in_flight;
    pr_counter *c_published[PR_TOPIC__COUNT], *c_refused[PR_TOPIC__COUNT], *c_failed;
    pr_gauge *g_in_flight;
    /* WAL checkpoints on behalf of the writer (sink_outbox_checkpoint_for). */
    atomic_long *wal_frames;
    long last_checkpoint_frames;
    char max_bytes[24]; /* producer message.max.bytes and the state topic's max.message.bytes */
    /* The partitions whose rows this sink publishes (a shared PostgreSQL store); NULL = all. */
    sink_parts *owned;
    unsigned owned_gen;
    char owned_text[8192];
};

/* Errors that retrying cannot cure: the record is dropped from the outbox, counted and logged
 * once (retrying them would hold the outbox and repeat the error for ever). */
static bool refusal(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
           e == RD_KAFKA_RESP_ERR_INVALID_RECORD;
}

static void log_refusal(const char *topic, const char *key, rd_kafka_resp_err_t e)
{
    PR_LOG(PR_LOG_ERROR, "sink",
           "output record refused by Kafka: dropped from the outbox, not retried (the topic keeps "
           "its previous record for this phone)",
           json_pack("{ss ss* ss}", "topic", topic, "mac", key, "error", rd_kafka_err2str(e)));
}

static bool list_add(id_list *l, sent s)
{
    sent *n = pr_grow(l->v, &l->cap, l->len, sizeof *n, 256);
    if (!n)
        return false;
    l->v = n;
    l->v[l->len++] = s;
    return true;
}

/* Sends a row again from the store when it could not be remembered (out of memory): a
 * repeat, never a loss, and never a row left behind until the next start. */
static void send_again(sink_outbox *ob, sent s)
{
    if (s.is_state)
        ob->state_cursor = 0;
    else if (ob->rewind_to < 0 || s.id - 1 < ob->rewind_to)
        ob->rewind_to = s.id - 1;
}

/* list_add, or send_again when the list cannot grow. */
static void remember(sink_outbox *ob, id_list *l, sent s)
{
    if (!list_add(l, s))
        send_again(ob, s);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    sink_outbox *ob = opaque;
    sent *s = rkm->_private;
    (void)rk;
    if (!s)
        return;
    if (s->is_state)
        ob->states_in_flight--;
    else
        ob->in_flight--;
    if (s->solo)
        ob->solo_in_flight = false;
    if (rkm->err && refusal(rkm->err) && !s->solo) {
        remember(ob, &ob->solo, *s); /* maybe refused for its batch-mates: once more, alone */
    } else if (rkm->err && refusal(rkm->err)) {
        char key[PR_MAC_LEN + 1] = "";
        if (rkm->key && rkm->key_len < sizeof key)
            memcpy(key, rkm->key, rkm->key_len);
        log_refusal(rd_kafka_topic_name(rkm->rkt), key, rkm->err);
        s->refused = true;
        remember(ob, &ob->done, *s);
    } else if (rkm->err) {
        bool purged = rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                      rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
        pr_counter_inc(ob->c_failed);
        if (!purged)
            PR_LOG(PR_LOG_WARN, "sink", "publish failed, will retry",
                   json_pack("{ss ss}", "topic", rd_kafka_topic_name(rkm->rkt), "error",
                             rd_kafka_err2str(rkm->err)));
        if (!s->is_state)
            send_again(ob, *s);
    } else {
        remember(ob, &ob->done, *s);
    }
    free(s);
}

pr_status sink_outbox_new(const pr_common_cfg *common, const sink_cfg *cfg, pr_metrics *metrics,
                          sink_parts *owned, sink_outbox **out, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    rd_kafka_conf_t *conf = NULL;
    sink_outbox *ob = calloc(1, sizeof *ob);
    *out = NULL;
    if (!ob)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    /* A state record may be as large as sink-max-state-bytes (plus its envelope): the producer
     * must take it (librdkafka checks the uncompressed size) and the state topic too (the
     * broker checks the compressed batch); lz4 keeps the batches small. */
    long long max_bytes = cfg->max_state_bytes > 0 ? cfg->max_state_bytes + 65536 : 0;
    snprintf(ob->max_bytes, sizeof ob->max_bytes, "%lld",
             max_bytes > 1000000 ? max_bytes : 1000000LL);
    const char *defaults[] = {"enable.idempotence",
                              "true",
                              "acks",
                              "all",
                              "partitioner",
                              "murmur2_random",
                              "linger.ms",
                              "5",
                              "message.timeout.ms",
                              "60000",
                              "compression.type",
                              "lz4",
                              "message.max.bytes",
                              ob->max_bytes,
                              NULL};
    ob->common = common;
    ob->cfg = cfg;
    ob->rewind_to = -1;
    pthread_mutex_init(&ob->mu, NULL);
    pr_cond_init_mono(&ob->cv);
    for (int t = PR_TOPIC_STATE; t <= PR_TOPIC_SINK_DLQ; t++) {
        char labels[64];
        if (pr_topic_name(common->topic_prefix, (pr_topic)t, ob->topics[t], sizeof ob->topics[t]) !=
            PR_OK) {
            rc = pr_err(PR_EINVAL, err, errlen, "topic prefix too long");
            goto fail;
        }
        snprintf(labels, sizeof labels, "topic=\"%s\"", pr_topic_suffix((pr_topic)t));
        ob->c_published[t] = pr_metrics_counter(metrics, "phonereport_sink_published_total",
                                                "Output records confirmed by Kafka", labels);
        ob->c_refused[t] = pr_metrics_counter(
            metrics, "phonereport_sink_publish_refused_total",
            "Output records Kafka refused for good (e.g. too large): dropped, not retried", labels);
    }
    ob->c_failed =
        pr_metrics_counter(metrics, "phonereport_sink_publish_failures_total",
                           "Output deliveries that failed (retried from the outbox)", "");
    ob->g_in_flight = pr_metrics_gauge(metrics, "phonereport_sink_publish_in_flight",
                                       "Output records sent and not yet confirmed", "");
    if ((rc = sink_store_open(sink_cfg_store(cfg), false, cfg->sync, &ob->st, err, errlen)) !=
        PR_OK)
        goto fail;
    /* SQLite has one sink: it publishes every row. */
    ob->owned = sink_store_dialect(ob->st) == SINK_DIALECT_PG ? owned : NULL;
    if (!(conf = pr_kafka_conf_new(common, "sink", defaults, err, errlen))) {
        rc = PR_EINVAL;
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, ob);
    if ((rc = pr_kafka_new(RD_KAFKA_PRODUCER, &conf, &ob->rk, err, errlen)) != PR_OK)
        goto fail;
    *out = ob;
    return PR_OK;
fail:
    sink_outbox_free(ob);
    return rc;
}

pr_status sink_outbox_ensure_topics(sink_outbox *ob, char *err, size_t errlen)
{
    const char *compact[] = {"cleanup.policy", "compact", "max.message.bytes", ob->max_bytes, NULL};
    const char *state[] = {ob->topics[PR_TOPIC_STATE]};
    const char *others[] = {ob->topics[PR_TOPIC_CHANGES], ob->topics[PR_TOPIC_DRIFT],
                            ob->topics[PR_TOPIC_SINK_DLQ]};
    int parts = (int)ob->cfg->state_partitions;
    pr_status rc = pr_kafka_ensure_topics(ob->rk, state, 1, parts, compact, 15000, err, errlen);
    if (rc == PR_OK)
        rc = pr_kafka_ensure_topics(ob->rk, others, 3, parts, NULL, 15000, err, errlen);
    if (rc != PR_OK)
        return rc;
    /* handles and metadata now, so that the first records are not held a second (kafka.h) */
    const pr_topic outs[] = {PR_TOPIC_STATE, PR_TOPIC_CHANGES, PR_TOPIC_DRIFT, PR_TOPIC_SINK_DLQ};
    pr_kafka_topic_handles(ob->rk, outs, 4, ob->topics, ob->rkt, 5000); /* best effort */
    return PR_OK;
}

/* Produces one record: 0; -1 when the local queue is full or the producer fails for now
 * (retried later); -2 when it refuses the record for good (counted, logged, s goes to the
 * done list as refused so that its row is deleted). */
static int produce(sink_outbox *ob, pr_topic t, const char *key, const char *value, size_t len,
                   sent s)
{
    sent *op = malloc(sizeof *op);
    if (!op)
        return -1;
    *op = s;
    /* by handle: made by sink_outbox_ensure_topics, or here (the publisher's thread only) */
    if (!ob->rkt[t] && !(ob->rkt[t] = rd_kafka_topic_new(ob->rk, ob->topics[t], NULL))) {
        free(op);
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        ob->rk, RD_KAFKA_V_RKT(ob->rkt[t]), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(op), RD_KAFKA_V_END);
    if (e) {
        free(op);
        if (refusal(e)) {
            log_refusal(ob->topics[t], key, e);
            s.refused = true;
            remember(ob, &ob->done, s);
            return -2;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            PR_LOG(PR_LOG_ERROR, "sink", "produce refused",
                   json_pack("{ss}", "error", rd_kafka_err2str(e)));
        return -1;
    }
    /* op now belongs to the message: dr_msg_cb frees it. */
    if (s.is_state) // NOLINT(clang-analyzer-unix.Malloc): handed to librdkafka above
        ob->states_in_flight++;
    else
        ob->in_flight++;
    return 0;
}

/* Sends the next page of outbox rows; returns how many were sent. */
static int send_rows(sink_outbox *ob)
{
    int n = 0;
    sink_stmt *s;
    if (ob->in_flight >= MAX_IN_FLIGHT || ob->rewind_to >= 0 || ob->solo.len > 0 ||
        ob->solo_in_flight)
        return 0;
    if (!(s = sink_store_stmt(ob->st, Q_OUTBOX_NEXT)))
        return 0;
    sink_bind_int64(s, 1, ob->cursor);
    sink_bind_int64(s, 2, PAGE);
    sink_bind_text(s, 3, ob->owned ? ob->owned_text : NULL);
    while (sink_step(s) == SINK_ROW) {
        int64_t id = sink_col_int64(s, 0);
        int t = (int)sink_col_int64(s, 1);
        const char *key = sink_col_text(s, 2), *value = sink_col_text(s, 3);
        if (t < PR_TOPIC_STATE || t > PR_TOPIC_SINK_DLQ) { /* cannot happen: we wrote it */
            remember(ob, &ob->done, (sent){false, false, false, id, 0});
            ob->cursor = id;
            continue;
        }
        if (produce(ob, (pr_topic)t, key, value, (size_t)sink_col_bytes(s, 3),
                    (sent){false, false, false, id, (int64_t)t}) == -1)
            break; /* queue full: the next round resumes at this row */
        ob->cursor = id;
        n++;
    }
    sink_reset(s);
    return n;
}

/* The phone's state record as text (caller frees) and its MAC, inside the caller's snapshot;
 * *version is raised to the rendered version. NULL if the phone cannot be rendered. */
static char *render_state(sink_outbox *ob, int64_t phone, int64_t *version,
                          char mac[PR_MAC_LEN + 1], size_t *len)
{
    char err[256], *text = NULL;
    int64_t v = 0;
    if (sink_query_state_text(ob->st, phone, &text, len, &v, mac, err, sizeof err) != PR_OK) {
        /* retried on the next pass; said once per distinct error, not once per phone */
        if (strcmp(err, ob->render_err) != 0) {
            PR_LOG(PR_LOG_ERROR, "sink", "a state record cannot be rendered: retried later",
                   json_pack("{ss}", "error", err));
            snprintf(ob->render_err, sizeof ob->render_err, "%s", err);
        }
        return NULL;
    }
    if (v > *version)
        *version = v;
    return text;
}

/* Sends the current state of the next phones marked in outbox_state. One pass at a time:
 * the next one starts when the previous one is confirmed. */
static int send_states(sink_outbox *ob)
{
    int64_t phones[STATE_PAGE], versions[STATE_PAGE];
    int n = 0, sent_n = 0;
    char err[256];
    sink_stmt *s;
    if (ob->states_in_flight > 0 || ob->solo.len > 0 || ob->solo_in_flight ||
        !(s = sink_store_stmt(ob->st, Q_OUTBOX_STATE_NEXT)))
        return 0;
    sink_bind_int64(s, 1, ob->state_cursor);
    sink_bind_int64(s, 2, STATE_PAGE);
    sink_bind_text(s, 3, ob->owned ? ob->owned_text : NULL);
    while (n < STATE_PAGE && sink_step(s) == SINK_ROW) {
        phones[n] = sink_col_int64(s, 0);
        versions[n] = sink_col_int64(s, 1);
        n++;
    }
    sink_reset(s);
    ob->state_cursor = n == STATE_PAGE ? phones[n - 1] : 0;
    if (n == 0)
        return 0;
    /* Render from one snapshot so that a state and its version agree. */
    if (sink_store_read_begin(ob->st, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_WARN, "sink", "state render: no snapshot, retried",
               json_pack("{ss}", "error", err));
        ob->state_cursor = 0;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        char mac[PR_MAC_LEN + 1];
        size_t len = 0;
        char *text = render_state(ob, phones[i], &versions[i], mac, &len);
        if (!text)
            continue;
        if (produce(ob, PR_TOPIC_STATE, mac, text, len,
                    (sent){true, false, false, phones[i], versions[i]}) != -1)
            sent_n++;
        free(text);
    }
    sink_store_read_end(ob->st);
    if (sent_n < n)
        ob->state_cursor = 0; /* retry the page later */
    return sent_n;
}

/* Sends the next record whose batch was refused, alone (nothing else in flight). */
static int send_solo(sink_outbox *ob)
{
    char err[256], mac[PR_MAC_LEN + 1];
    if (ob->solo.len == 0 || ob->solo_in_flight || ob->in_flight + ob->states_in_flight > 0)
        return 0;
    sent s = ob->solo.v[--ob->solo.len];
    s.solo = true;
    char *text = NULL, *key = NULL;
    size_t len = 0;
    pr_topic t = PR_TOPIC_STATE;
    if (s.is_state) {
        if (sink_store_read_begin(ob->st, err, sizeof err) != PR_OK) {
            remember(ob, &ob->solo, s); /* later */
            return 0;
        }
        text = render_state(ob, s.id, &s.version, mac, &len);
        sink_store_read_end(ob->st);
        key = mac;
    } else {
        t = (pr_topic)s.version;
        if (sink_store_outbox_get(ob->st, s.id, &key, &text) != PR_OK) {
            remember(ob, &ob->solo, s); /* later */
            return 0;
        }
        len = text ? strlen(text) : 0;
    }
    int r = text && key ? produce(ob, t, key, text, len, s) : -2;
    if (r == 0)
        ob->solo_in_flight = true;
    else if (r == -1)
        remember(ob, &ob->solo, s);
    else if (!text || !key)
        remember(ob, &ob->done, s); /* gone meanwhile (the row or the phone): nothing to send */
    free(text);
    if (key != mac)
        free(key);
    return r == 0;
}

/* Deletes the confirmed rows in one transaction. */
static void delete_done(sink_outbox *ob)
{
    char err[256];
    if (ob->done.len == 0)
        return;
    if (sink_store_begin(ob->st, err, sizeof err) != PR_OK)
        return; /* retried next round */
    for (size_t i = 0; i < ob->done.len; i++) {
        sent *d = &ob->done.v[i];
        sink_stmt *s =
            sink_store_stmt(ob->st, d->is_state ? Q_OUTBOX_STATE_DELETE : Q_OUTBOX_DELETE);
        if (!s)
            goto fail;
        sink_bind_int64(s, 1, d->id);
        if (d->is_state)
            sink_bind_int64(s, 2, d->version);
        int r = sink_step(s);
        sink_reset(s);
        if (r != SINK_DONE)
            goto fail;
    }
    if (sink_store_commit(ob->st, err, sizeof err) != PR_OK)
        goto fail;
    for (size_t i = 0; i < ob->done.len; i++) {
        sent *d = &ob->done.v[i];
        pr_topic t = d->is_state ? PR_TOPIC_STATE : (pr_topic)d->version;
        pr_counter_inc(d->refused ? ob->c_refused[t] : ob->c_published[t]);
    }
    ob->done.len = 0;
    return;
fail:
    PR_LOG(PR_LOG_WARN, "sink", "outbox delete failed, will retry",
           json_pack("{ss}", "error", sink_store_errmsg(ob->st)));
    sink_store_rollback(ob->st);
}

static bool outbox_empty(sink_outbox *ob)
{
    int64_t n = 0;
    return sink_store_outbox_count(ob->st, &n) == PR_OK && n == 0;
}

/* A PASSIVE checkpoint of the writer's WAL once it holds CHECKPOINT_FRAMES pages (and grew
 * since the last attempt: a reader holding an old snapshot can keep part of it): here, so
 * that the writer never copies pages or syncs the database file in its commit. */
static void checkpoint(sink_outbox *ob)
{
    long frames = ob->wal_frames ? atomic_load(ob->wal_frames) : 0;
    if (frames < CHECKPOINT_FRAMES || frames == ob->last_checkpoint_frames)
        return;
    ob->last_checkpoint_frames = frames;
    sink_store_checkpoint(ob->st);
}

static void *publisher(void *arg)
{
    sink_outbox *ob = arg;
    long long drain_deadline = 0;
    for (;;) {
        if (pr_thread_stopping(&ob->thread) && !drain_deadline)
            drain_deadline = pr_mono_ms() + DRAIN_MS;
        /* New partitions: their rows left by the previous owner have any id, so read again
         * from the start (rows already sent repeat byte for byte at most). */
        if (ob->owned &&
            sink_parts_text(ob->owned, ob->owned_text, sizeof ob->owned_text) != ob->owned_gen) {
            ob->owned_gen = sink_parts_text(ob->owned, ob->owned_text, sizeof ob->owned_text);
            ob->rewind_to = 0;
            ob->state_cursor = 0;
        }
        if (ob->rewind_to >= 0 && ob->in_flight == 0) {
            ob->cursor = ob->rewind_to;
            ob->rewind_to = -1;
        }
        int n = send_solo(ob) + send_rows(ob) + send_states(ob);
        rd_kafka_poll(ob->rk, n > 0 || ob->in_flight + ob->states_in_flight > 0 ? 20 : 0);
        delete_done(ob);
        checkpoint(ob);
        pr_gauge_set(ob->g_in_flight, (double)(ob->in_flight + ob->states_in_flight));
        if (rd_kafka_fatal_error(ob->rk, NULL, 0)) {
            char why[256];
            rd_kafka_fatal_error(ob->rk, why, sizeof why);
            PR_LOG(PR_LOG_ERROR, "sink",
                   "producer fatal error: publishing stops, the sink is not ready and the "
                   "process exits (70); the outbox keeps the records for the next start",
                   json_pack("{ss}", "error", why));
            atomic_store(&ob->dead, true);
            pr_signals_request_stop(); /* `run` and the roles exit; an orchestrator restarts */
            break;
        }
        if (drain_deadline) {
            /* a shared store's outbox holds other sinks' rows: ours are sent when nothing is */
            if ((ob->in_flight + ob->states_in_flight == 0 && n == 0 &&
                 (ob->owned || outbox_empty(ob))) ||
                pr_mono_ms() > drain_deadline)
                break;
            continue;
        }
        if (n == 0 && ob->in_flight + ob->states_in_flight == 0) {
            long long until = pr_mono_ms() + 200;
            pthread_mutex_lock(&ob->mu);
            while (!ob->wake && !pr_thread_stopping(&ob->thread))
                if (pr_cond_wait_ms(&ob->cv, &ob->mu, until - pr_mono_ms()) != 0)
                    break;
            ob->wake = false;
            pthread_mutex_unlock(&ob->mu);
        }
    }
    rd_kafka_flush(ob->rk, 2000);
    rd_kafka_poll(ob->rk, 0);
    delete_done(ob);
    return NULL;
}

pr_status sink_outbox_start(sink_outbox *ob, char *err, size_t errlen)
{
    return pr_thread_start(&ob->thread, publisher, ob, "publisher", err, errlen);
}

bool sink_outbox_failed(const sink_outbox *ob)
{
    return ob && atomic_load(&ob->dead);
}

void sink_outbox_inject_fatal(sink_outbox *ob, const char *reason)
{
    rd_kafka_test_fatal_error(ob->rk, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, reason);
    sink_outbox_wake(ob);
}

void sink_outbox_checkpoint_for(sink_outbox *ob, atomic_long *wal_frames)
{
    ob->wal_frames = wal_frames;
}

void sink_outbox_wake(sink_outbox *ob)
{
    if (!ob)
        return;
    pthread_mutex_lock(&ob->mu);
    ob->wake = true;
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
}

static void wake_hook(void *ob)
{
    sink_outbox_wake(ob);
}

void sink_outbox_stop(sink_outbox *ob)
{
    if (ob)
        pr_thread_stop(&ob->thread, wake_hook, ob);
}

void sink_outbox_free(sink_outbox *ob)
{
    if (!ob)
        return;
    sink_outbox_stop(ob);
    if (ob->rk) {
        /* What is still queued stays in the outbox for the next start; purging serves the
         * delivery reports, which free each record's opaque. */
        rd_kafka_purge(ob->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(ob->rk, 0);
        for (int t = 0; t < PR_TOPIC__COUNT; t++)
            if (ob->rkt[t]) /* before their producer goes */
                rd_kafka_topic_destroy(ob->rkt[t]);
        rd_kafka_destroy(ob->rk);
    }
    sink_store_close(ob->st);
    free(ob->done.v);
    free(ob->solo.v);
    pthread_mutex_destroy(&ob->mu);
    pthread_cond_destroy(&ob->cv);
    free(ob);
}
