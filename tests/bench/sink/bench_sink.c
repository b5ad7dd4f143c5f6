/*
 * bench_sink.c - how fast the sink applies reports with durable commits (SQLite: WAL,
 * synchronous=FULL; PostgreSQL: the server's fsync), beside bare loops of the same writes in
 * the same run, and how many bytes a phone costs in the store with the real 8832 profile.
 *
 *   bench_sink [phones=200] [deltas=20000] [batch=100] [store=sqlite|postgresql://...]
 *
 * 1. first-full: `phones` first full reports of the 8832 profile (565 parameters) through the
 *    real path (sink_event_load + sink_apply): each is the phone's
 *    baseline (no change records), then bytes per phone: the whole file / phones, and per
 *    table with dbstat (SQLite) or pg_total_relation_size (PostgreSQL), before and after
 *    publication. Beside it the bare baseline: the same documents (params and access as JSON)
 *    inserted one row each into a table of (phone, document), the same reports per
 *    transaction and the same durability, on the same kind of store. Statements and round trips
 *    to the server per transaction (and per report) are printed for every pass: on PostgreSQL
 *    each transaction first reads its phones' rows in one statement (sink_store_prefetch, as the
 *    sink's loop does per round), so its round trips do not grow with `batch` (compare a run
 *    with batch 10 and one with 100: the per-report figure falls tenfold). The unchanged
 *    reports' digests are read on a connection of their own, as the sink's parse thread does.
 * 1b. unchanged-full: the same full reports again (a reboot of the same fleet): loaded with
 *    the fast path (the digest is read from the store, only the envelope parsed), each
 *    touches the phone row only; the rows written per report are printed.
 * 2. `deltas` delta reports of 1..8 parameters each over those phones, `batch` per
 *    transaction, each commit durable: deltas/s and parameter upserts/s.
 * 3. The same (phone, name, value) rows as plain INSERT ... ON CONFLICT DO UPDATE into a
 *    SQLite params table, same batch size, same durability: rows/s. The ratio says what
 *    validation, the document's read-merge-write, history, outbox and drift cost on top of
 *    the bare write of the rows.
 *
 * SQLite checkpoints: the sink's writer never checkpoints its WAL (its publisher thread does,
 * on its own connection, once the WAL holds 1,000 pages: outbox.c). Here the writer's WAL is
 * checkpointed the same way, so that it is timed as in the sink. Each bare loop runs twice:
 * as plain SQLite does it (the committing connection checkpoints at 1,000 pages itself) and
 * with the same checkpoint thread as the writer; the ratio is given to both. The pages each
 * transaction appends to the WAL are printed for every SQLite pass.
 */
#include <libpq-fe.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../bench_util.h"
#include "flatprofile.h"
#include "sink_internal.h"
#include "thread.h"

/* A SQLite database's WAL as the sink treats it: the writing connection's WAL hook (which
 * replaces SQLite's autocheckpoint) notes the WAL's size and the pages each commit appended;
 * a thread with a connection of its own runs a PASSIVE checkpoint once the WAL holds
 * WAL_CHECKPOINT_FRAMES pages and grew since its last attempt (outbox.c, checkpoint()), or,
 * SQLite's own way, the hook checkpoints inline at the same size. */
#define WAL_CHECKPOINT_FRAMES 1000

typedef struct wal_watch {
    bool inline_checkpoint;      /* SQLite's own way: the committing connection checkpoints */
    atomic_long frames;          /* the WAL's size after the last commit */
    long long commits, appended; /* the writer's commits and the pages they appended */
    long last;
    sqlite3 *ckpt; /* the checkpoint thread's connection */
    pr_thread thread;
} wal_watch;

static int wal_noted(void *arg, sqlite3 *db, const char *name, int frames)
{
    wal_watch *w = arg;
    /* a WAL that was checkpointed restarts from its first frame */
    w->appended += frames > w->last ? frames - w->last : frames;
    w->commits++;
    w->last = frames;
    atomic_store(&w->frames, (long)frames);
    if (w->inline_checkpoint && frames >= WAL_CHECKPOINT_FRAMES) /* sqlite3WalDefaultHook */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    wal_watch *w = arg;
    long tried = 0;
    while (!pr_thread_stopping(&w->thread)) {
        long frames = atomic_load(&w->frames);
        if (frames >= WAL_CHECKPOINT_FRAMES && frames != tried) {
            tried = frames;
            sqlite3_wal_checkpoint_v2(w->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        }
        usleep(2000); /* the publisher's loop polls Kafka about this often */
    }
    return NULL;
}

/* thread: checkpoints on a thread of its own (the sink's way), else inline (SQLite's). */
static void wal_watch_start(wal_watch *w, sqlite3 *db, const char *path, bool thread)
{
    char err[128];
    memset(w, 0, sizeof *w);
    w->inline_checkpoint = !thread;
    sqlite3_wal_hook(db, wal_noted, w);
    if (!thread)
        return;
    if (sqlite3_open(path, &w->ckpt) != SQLITE_OK ||
        pr_thread_start(&w->thread, checkpointer, w, "checkpoint", err, sizeof err) != PR_OK) {
        fprintf(stderr, "cannot start the checkpoint thread for %s\n", path);
        exit(1);
    }
}

static void wal_watch_stop(wal_watch *w)
{
    pr_thread_stop(&w->thread, NULL, NULL);
    sqlite3_close(w->ckpt); /* NULL: a no-op */
}

/* The pages appended per commit since the last call, and the counters reset. */
static double wal_pages_per_commit(wal_watch *w)
{
    double v = w->commits ? (double)w->appended / (double)w->commits : 0;
    w->appended = w->commits = 0;
    return v;
}

static void mac_of(int i, char mac[13])
{
    snprintf(mac, 13, "0056%08x", 0x2b000000u + (unsigned)i);
}

static char *event_text(const char *mac, const char *kind, int seq, json_t *params, json_t *access)
{
    char rid[40], at[40];
    /* A report id as long as the edge's request ids (a UUID). */
    snprintf(rid, sizeof rid, "%08x-0000-4000-8000-%012x", (unsigned)seq, (unsigned)seq * 7919u);
    snprintf(at, sizeof at, "2026-11-24T%02d:%02d:%02d.%03dZ", (seq / 3600000) % 24,
             (seq / 60000) % 60, (seq / 1000) % 60, seq % 1000);
    json_t *o = json_pack("{ss ss ss ss ss ss s{ss ss} sO sO}", "schema", PR_SCHEMA_CONFIG, "mac",
                          mac, "kind", kind, "report_id", rid, "received_at", at, "encryption",
                          "none", "source", "model", "CP-8832-3PCC", "firmware", "12.0.1", "params",
                          params, "access", access);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static long long q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void report_sizes(sqlite3 *db, int phones, const char *title)
{
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    long long pages = q_int(db, "PRAGMA page_count"), freep = q_int(db, "PRAGMA freelist_count");
    long long psize = q_int(db, "PRAGMA page_size");
    printf("  %s: %.0f bytes/phone in use (file %lld pages of %lld, %lld free)\n", title,
           (double)(pages - freep) * (double)psize / phones, pages, psize, freep);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
                           " HAVING sum(pgsize) > 8192 ORDER BY 2 DESC",
                           -1, &s, NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW)
            printf("      %-22s %10.0f bytes/phone\n", (const char *)sqlite3_column_text(s, 0),
                   (double)sqlite3_column_int64(s, 1) / phones);
    }
    sqlite3_finalize(s);
}

/* The bare baseline of first-full: each document inserted as one row, `batch` per durable
 * transaction, on a fresh table of the same kind of store. Returns documents per second. */
static double bare_documents(const char *dir, const char *pg, json_t *params, json_t *access,
                             int phones, int batch, bool thread, double *wal_pages)
{
    json_t *doc = json_pack("{sOsO}", "params", params, "access", access);
    char *text = json_dumps(doc, JSON_COMPACT), path[4200];
    double t0, t = 0;
    json_decref(doc);
    *wal_pages = 0;
    if (pg) {
        PGconn *c = PQconnectdb(pg);
        /* the documents compressed as the sink's connections compress them (store_pg.c) */
        PQclear(PQexec(c, "SELECT set_config('default_toast_compression', 'lz4', false) FROM "
                          "pg_settings WHERE name = 'default_toast_compression' AND source = "
                          "'default' AND 'lz4' = ANY(enumvals)"));
        PQclear(PQexec(c, "DROP TABLE IF EXISTS bare_docs;"
                          "CREATE TABLE bare_docs(phone BIGINT PRIMARY KEY, doc JSONB NOT NULL)"));
        t0 = bench_now_s();
        for (int i = 0; i < phones; i++) {
            char id[16];
            snprintf(id, sizeof id, "%d", i + 1);
            const char *vals[2] = {id, text};
            if (i % batch == 0)
                PQclear(PQexec(c, "BEGIN"));
            PQclear(PQexecParams(c, "INSERT INTO bare_docs VALUES($1, $2::jsonb)", 2, NULL, vals,
                                 NULL, NULL, 0));
            if (i % batch == batch - 1 || i == phones - 1)
                PQclear(PQexec(c, "COMMIT"));
        }
        t = bench_now_s() - t0;
        PQclear(PQexec(c, "DROP TABLE bare_docs"));
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        sqlite3_stmt *ins = NULL;
        snprintf(path, sizeof path, "%s/bare-docs-%s.db", dir, thread ? "thread" : "inline");
        sqlite3_open(path, &db);
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE docs(phone INTEGER PRIMARY KEY, doc BLOB NOT NULL);",
                     NULL, NULL, NULL);
        sqlite3_prepare_v2(db, "INSERT INTO docs VALUES(?1, ?2)", -1, &ins, NULL);
        wal_watch w;
        wal_watch_start(&w, db, path, thread);
        t0 = bench_now_s();
        for (int i = 0; i < phones; i++) {
            if (i % batch == 0)
                sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
            sqlite3_bind_int(ins, 1, i + 1);
            sqlite3_bind_blob(ins, 2, text, (int)strlen(text), SQLITE_STATIC);
            sqlite3_step(ins);
            sqlite3_reset(ins);
            if (i % batch == batch - 1 || i == phones - 1)
                sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        }
        t = bench_now_s() - t0;
        *wal_pages = wal_pages_per_commit(&w);
        wal_watch_stop(&w);
        sqlite3_finalize(ins);
        sqlite3_close(db);
    }
    free(text);
    return phones / t;
}

/* PostgreSQL: bytes per phone of the store's tables (indexes and TOAST included). */
static void report_pg_sizes(sink_store *st, int phones, const char *title)
{
    sink_stmt *s = sink_store_prepare(
        st, "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " WHERE c.relkind = 'r' AND c.relnamespace = to_regnamespace(current_schema())"
            " ORDER BY 2 DESC");
    long long total = 0;
    printf("  %s:\n", title);
    while (s && sink_step(s) == SINK_ROW) {
        long long b = sink_col_int64(s, 1);
        total += b;
        if (b > 16384)
            printf("      %-22s %10.0f bytes/phone\n", sink_col_text(s, 0), (double)b / phones);
    }
    sink_stmt_free(s);
    printf("      %-22s %10.0f bytes/phone\n", "(all tables)", (double)total / phones);
}

/* The record key of an event text: its MAC (the sink refuses an unkeyed record). */
static const char *key_of(const char *text)
{
    const char *m = strstr(text, "\"mac\":\"");
    return m ? m + 7 : "";
}

/* The rows of the deltas: delta d upserts rows start[d] .. start[d + 1] - 1. */
typedef struct delta_rows {
    int *phone;
    const char **name;
    char **value;
    size_t *start;
    int deltas;
} delta_rows;

/* The bare baseline of the deltas: a params table of (phone, name) -> value filled with every
 * phone's profile, then each delta's rows as plain upserts, `batch` deltas per durable
 * transaction. Returns the seconds of the upserts. */
static double bare_upserts(const char *path, const pr_flat_profile *fp, int phones, int batch,
                           const delta_rows *dr, bool thread, double *wal_pages)
{
    sqlite3 *bare = NULL;
    sqlite3_stmt *up = NULL;
    sqlite3_open(path, &bare);
    sqlite3_exec(bare,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE params(phone INTEGER NOT NULL, name TEXT NOT NULL,"
                 " value TEXT NOT NULL, access TEXT, PRIMARY KEY(phone, name)) WITHOUT ROWID;",
                 NULL, NULL, NULL);
    sqlite3_exec(bare, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(bare,
                       "INSERT INTO params VALUES(?1, ?2, ?3, NULL) ON CONFLICT(phone, name)"
                       " DO UPDATE SET value = excluded.value",
                       -1, &up, NULL);
    for (int i = 0; i < phones; i++)
        for (size_t j = 0; j < fp->len; j++) {
            sqlite3_bind_int(up, 1, i + 1);
            sqlite3_bind_text(up, 2, fp->params[j].name, -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 3, fp->params[j].value, -1, SQLITE_STATIC);
            sqlite3_step(up);
            sqlite3_reset(up);
        }
    sqlite3_exec(bare, "COMMIT", NULL, NULL, NULL);
    sqlite3_exec(bare, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    wal_watch w;
    wal_watch_start(&w, bare, path, thread);
    double t0 = bench_now_s();
    for (int d = 0; d < dr->deltas; d++) {
        if (d % batch == 0)
            sqlite3_exec(bare, "BEGIN", NULL, NULL, NULL);
        for (size_t r = dr->start[d]; r < dr->start[d + 1]; r++) {
            sqlite3_bind_int(up, 1, dr->phone[r]);
            sqlite3_bind_text(up, 2, dr->name[r], -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 3, dr->value[r], -1, SQLITE_STATIC);
            sqlite3_step(up);
            sqlite3_reset(up);
        }
        if (d % batch == batch - 1 || d == dr->deltas - 1)
            sqlite3_exec(bare, "COMMIT", NULL, NULL, NULL);
    }
    double t = bench_now_s() - t0;
    *wal_pages = wal_pages_per_commit(&w);
    wal_watch_stop(&w);
    sqlite3_finalize(up);
    sqlite3_close(bare);
    return t;
}

int main(int argc, char **argv)
{
    pr_jarena_install(); /* events parse in arenas, as in the binary */
    int phones = argc > 1 ? atoi(argv[1]) : 200;
    int deltas = argc > 2 ? atoi(argv[2]) : 20000;
    int batch = argc > 3 ? atoi(argv[3]) : 100;
    const char *pg = argc > 4 && strncmp(argv[4], "postgres", 8) == 0 ? argv[4] : NULL;
    char dir[] = "/tmp/pr-bench-sink-XXXXXX", path[4200], err[512], reason[64];
    size_t len = 0;
    pr_flat_profile fp;
    pr_xml_error why;
    sink_store *st = NULL;
    if (phones < 1 || deltas < 1 || batch < 1 || !mkdtemp(dir))
        return 64;
    char *xml = bench_read_file(PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml", &len);
    if (!xml || pr_flatprofile_parse(xml, len, NULL, &fp, &why, err, sizeof err) != PR_OK) {
        fprintf(stderr, "cannot read the 8832 profile: %s\n", xml ? err : "missing");
        return 1;
    }
    json_t *params = json_object(), *access = json_object();
    size_t value_bytes = 0, name_bytes = 0;
    for (size_t i = 0; i < fp.len; i++) {
        json_object_set_new(params, fp.params[i].name, json_string(fp.params[i].value));
        if (fp.params[i].ua[0])
            json_object_set_new(access, fp.params[i].name, json_string(fp.params[i].ua));
        value_bytes += strlen(fp.params[i].value);
        name_bytes += strlen(fp.params[i].name);
    }
    printf("8832 profile: %zu parameters, %zu bytes of names, %zu bytes of values (%zu bytes "
           "of XML)\n",
           fp.len, name_bytes, value_bytes, len);
    snprintf(path, sizeof path, "%s/sink", dir);
    if (sink_store_open(pg ? pg : path, false, "full", &st, err, sizeof err) != PR_OK ||
        sink_store_index_configure(st, NULL, err, sizeof err) != PR_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sink_store_set_pipeline(st, true); /* as the sink's writer */
    /* the parse thread's own connection (the fast path reads the digests there) */
    sink_store *lookup = NULL;
    if (sink_store_open(pg ? pg : path, true, "full", &lookup, err, sizeof err) != PR_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("store: %s\n", pg ? "postgresql" : "sqlite");
    sink_apply_opts opts = {.changes_keep = 1000};
    sink_apply_result res;

    /* 1. first full reports (generated beforehand, so that only the sink is timed) */
    char **fulls = calloc((size_t)phones * 2, sizeof *fulls);
    for (int i = 0; i < phones * 2; i++) {
        char mac[13];
        mac_of(i % phones, mac);
        fulls[i] = event_text(mac, "full", i, params, access);
    }
    double t0 = 0, t_parse_full = 0, t_full = 0, t_parse_same = 0, t_same = 0;
    sqlite3 *db = sink_store_db(st);
    long long rows0 = 0, rows1 = 0, stmts[2] = {0}, trips[2] = {0};
    double wal_pages[2] = {0}, bare_full_pages = 0, bare_full_t_pages = 0, delta_pages = 0;
    wal_watch ww;
    if (db)
        wal_watch_start(&ww, db, sqlite3_db_filename(db, "main"), true);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            if (db)
                report_sizes(db, phones, "store with the unpublished outbox (state markers)");
            else
                report_pg_sizes(st, phones, "store with the unpublished outbox (state markers)");
            rows0 = db ? sqlite3_total_changes64(db) : 0;
        }
        long long s0 = sink_store_statements(st), r0 = sink_store_round_trips(st);
        double *tp = round ? &t_parse_same : &t_parse_full, *ta = round ? &t_same : &t_full;
        for (int i0 = 0; i0 < phones; i0 += batch) {
            int n = phones - i0 < batch ? phones - i0 : batch;
            sink_event *evs = calloc((size_t)n, sizeof *evs);
            /* Parse and prepare (the parse thread's work in the sink), then apply a durable
             * transaction of them (the writer's), timed apart. */
            t0 = bench_now_s();
            for (int k = 0; k < n; k++) {
                const char *text = fulls[round * phones + i0 + k];
                if (sink_event_load(round ? lookup : NULL, text, strlen(text), false, key_of(text),
                                    PR_MAC_LEN, &evs[k], reason, sizeof reason, err,
                                    sizeof err) != PR_OK) {
                    fprintf(stderr, "parse: %s %s\n", reason, err);
                    return 1;
                }
            }
            *tp += bench_now_s() - t0;
            t0 = bench_now_s();
            sink_store_begin(st, err, sizeof err);
            /* the batch's phone rows in one statement, as the sink's loop does per round */
            const char **macs = calloc((size_t)n, sizeof *macs);
            for (int k = 0; k < n; k++)
                macs[k] = evs[k].mac;
            if (sink_store_prefetch(st, macs, (size_t)n, err, sizeof err) != PR_OK) {
                fprintf(stderr, "prefetch: %s\n", err);
                return 1;
            }
            free(macs);
            for (int k = 0; k < n; k++) {
                if (sink_apply(st, NULL, &opts, &evs[k], &res, err, sizeof err) != PR_OK ||
                    res.changes || res.unchanged != (round == 1)) {
                    fprintf(stderr, "apply: %s\n", err);
                    return 1;
                }
                sink_store_offset_put(st, "bench.config", 0, round * phones + i0 + k + 1, err,
                                      sizeof err);
            }
            sink_store_commit(st, err, sizeof err);
            *ta += bench_now_s() - t0;
            for (int k = 0; k < n; k++)
                sink_event_release(&evs[k]);
            free(evs);
        }
        stmts[round] = sink_store_statements(st) - s0;
        trips[round] = sink_store_round_trips(st) - r0;
        wal_pages[round] = db ? wal_pages_per_commit(&ww) : 0;
    }
    rows1 = db ? sqlite3_total_changes64(db) : 0;
    int txns = (phones + batch - 1) / batch;
    /* PostgreSQL: one bare loop (the server checkpoints on its own) */
    double bare_full =
        bare_documents(dir, pg, params, access, phones, batch, false, &bare_full_pages);
    double bare_full_t =
        pg ? 0 : bare_documents(dir, pg, params, access, phones, batch, true, &bare_full_t_pages);
    printf("\nfirst-full: %d first full reports (%zu params each), %d per durable transaction:\n"
           "  parse thread (validate + digest): %.1f reports/s\n"
           "  writer thread: %.1f reports/s, %.0f params/s; %.1f statements, %.1f round trips "
           "per transaction (%.3f per report)\n",
           phones, fp.len, batch, phones / t_parse_full, phones / t_full,
           (double)phones * (double)fp.len / t_full, (double)stmts[0] / txns,
           (double)trips[0] / txns, (double)trips[0] / phones);
    if (pg) {
        printf("  bare loop of the same documents, one row each: %.1f documents/s; ratio "
               "writer/bare %.2f\n",
               bare_full, (phones / t_full) / bare_full);
    } else {
        printf("  bare loop of the same documents, one row each, checkpoints inline (SQLite's "
               "default): %.1f documents/s; ratio writer/bare %.2f\n"
               "  the same bare loop, checkpoints on a thread (as the sink's writer): %.1f "
               "documents/s; ratio writer/bare %.2f\n"
               "  WAL pages appended per transaction: writer %.1f, bare loop %.1f / %.1f\n",
               bare_full, (phones / t_full) / bare_full, bare_full_t,
               (phones / t_full) / bare_full_t, wal_pages[0], bare_full_pages, bare_full_t_pages);
    }
    printf("unchanged-full: the same %d full reports again:\n"
           "  parse thread (validate + digest): %.1f reports/s\n"
           "  writer thread: %.1f reports/s; %.1f statements, %.1f round trips per transaction "
           "(%.3f per report)",
           phones, phones / t_parse_same, phones / t_same, (double)stmts[1] / txns,
           (double)trips[1] / txns, (double)trips[1] / phones);
    if (db)
        printf(", %.1f rows written per report (phone row + offset), %.1f WAL pages per "
               "transaction",
               (double)(rows1 - rows0) / phones, wal_pages[1]);
    printf("\n");
    if (db) {
        sqlite3_exec(db, "DELETE FROM outbox; DELETE FROM outbox_state; VACUUM;", NULL, NULL, NULL);
        report_sizes(db, phones, "state after publication (phones + documents)");
    } else {
        sink_stmt *del = sink_store_prepare(st, "DELETE FROM outbox");
        sink_step(del);
        sink_stmt_free(del);
        del = sink_store_prepare(st, "DELETE FROM outbox_state");
        sink_step(del);
        sink_stmt_free(del);
        del = sink_store_prepare(st, "VACUUM FULL");
        sink_step(del);
        sink_stmt_free(del);
        report_pg_sizes(st, phones, "state after publication (phones + documents)");
    }

    /* 2. deltas through the sink's path. Pre-generated so that only the sink is timed. */
    char **texts = calloc((size_t)deltas, sizeof *texts);
    int *rows_phone = malloc(sizeof(int) * (size_t)deltas * 8);
    const char **rows_name = malloc(sizeof(char *) * (size_t)deltas * 8);
    char **rows_value = malloc(sizeof(char *) * (size_t)deltas * 8);
    size_t nrows = 0, *row_start = malloc(sizeof(size_t) * ((size_t)deltas + 1));
    unsigned long long rng = 88172645463325252ULL;
    for (int d = 0; d < deltas; d++) {
        json_t *dp = json_object(), *da = json_object();
        char mac[13];
        row_start[d] = nrows;
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int ph = (int)(rng % (unsigned)phones), k = 1 + (int)((rng >> 20) % 8);
        mac_of(ph, mac);
        for (int j = 0; j < k; j++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            const pr_fp_param *p = &fp.params[rng % fp.len];
            char value[48];
            snprintf(value, sizeof value, "delta-%d-%d", d, j);
            if (json_object_get(dp, p->name))
                continue;
            json_object_set_new(dp, p->name, json_string(value));
            if (p->ua[0])
                json_object_set_new(da, p->name, json_string(p->ua));
            rows_phone[nrows] = ph + 1;
            rows_name[nrows] = p->name;
            rows_value[nrows] = strdup(value);
            nrows++;
        }
        texts[d] = event_text(mac, "delta", 2 * phones + d, dp, da);
        json_decref(dp);
        json_decref(da);
    }
    row_start[deltas] = nrows;
    unsigned long long upserts = 0, changes = 0;
    /* Parsing is timed apart: in the sink it runs on the parse thread, beside the writer. */
    sink_event *evs = calloc((size_t)deltas, sizeof *evs);
    t0 = bench_now_s();
    for (int d = 0; d < deltas; d++)
        if (sink_event_load(NULL, texts[d], strlen(texts[d]), false, key_of(texts[d]), PR_MAC_LEN,
                            &evs[d], reason, sizeof reason, err, sizeof err) != PR_OK) {
            fprintf(stderr, "parse: %s %s\n", reason, err);
            return 1;
        }
    double t_parse = bench_now_s() - t0;
    long long ds0 = sink_store_statements(st), dr0 = sink_store_round_trips(st);
    if (db)
        wal_pages_per_commit(&ww); /* the clean-up above is not counted */
    t0 = bench_now_s();
    for (int d = 0; d < deltas; d++) {
        if (d % batch == 0) {
            int n = deltas - d < batch ? deltas - d : batch;
            const char **macs = calloc((size_t)n, sizeof *macs);
            for (int k = 0; k < n; k++)
                macs[k] = evs[d + k].mac;
            sink_store_begin(st, err, sizeof err);
            if (sink_store_prefetch(st, macs, (size_t)n, err, sizeof err) != PR_OK) {
                fprintf(stderr, "prefetch: %s\n", err);
                return 1;
            }
            free(macs);
        }
        if (sink_apply(st, NULL, &opts, &evs[d], &res, err, sizeof err) != PR_OK) {
            fprintf(stderr, "apply: %s\n", err);
            return 1;
        }
        upserts += res.upserts;
        changes += res.changes;
        sink_store_offset_put(st, "bench.config", 0, 2 * phones + d + 1, err, sizeof err);
        if (d % batch == batch - 1 || d == deltas - 1)
            sink_store_commit(st, err, sizeof err);
    }
    double t_sink = bench_now_s() - t0;
    if (db)
        delta_pages = wal_pages_per_commit(&ww);
    for (int d = 0; d < deltas; d++)
        sink_event_release(&evs[d]);
    free(evs);
    printf("\ndelta: %d deltas (1..8 params, %llu upserts, %llu changes), %d per durable "
           "transaction:\n  parse thread (validate + prepare): %.0f deltas/s\n"
           "  writer thread (apply + history + outbox + offsets): %.0f deltas/s, %.0f params "
           "upserted/s; %.1f statements, %.1f round trips per transaction (%.3f per report)\n",
           deltas, upserts, changes, batch, deltas / t_parse, deltas / t_sink,
           (double)upserts / t_sink,
           (double)(sink_store_statements(st) - ds0) / ((deltas + batch - 1) / batch),
           (double)(sink_store_round_trips(st) - dr0) / ((deltas + batch - 1) / batch),
           (double)(sink_store_round_trips(st) - dr0) / deltas);

    /* 3. bare SQLite upserts of the same rows, same batch of reports, same durability:
     * checkpoints inline (SQLite's default), then on a thread (as the writer's) */
    delta_rows dr = {rows_phone, rows_name, rows_value, row_start, deltas};
    double bare_pages[2] = {0}, t_bare[2];
    for (int thread = 0; thread < 2; thread++) {
        snprintf(path, sizeof path, "%s/bare-%d.db", dir, thread);
        t_bare[thread] = bare_upserts(path, &fp, phones, batch, &dr, thread, &bare_pages[thread]);
        printf("  bare SQLite upsert loop of the same %zu rows, %d commits, checkpoints %s: "
               "%.0f rows/s; ratio writer/bare (params upserted per second) %.2f\n",
               nrows, (deltas + batch - 1) / batch,
               thread ? "on a thread (as the writer's)" : "inline (SQLite's default)",
               (double)nrows / t_bare[thread],
               ((double)upserts / t_sink) / ((double)nrows / t_bare[thread]));
    }
    if (db)
        printf("  WAL pages appended per transaction: writer %.1f, bare loop %.1f / %.1f\n",
               delta_pages, bare_pages[0], bare_pages[1]);
    printf("  the writer takes %.1fx / %.1fx the time, writing per row also a change row and an "
           "outbox record, per report the document, the phone row, the state marker and the "
           "offset\n",
           t_sink / t_bare[0], t_sink / t_bare[1]);
    printf("\nstore: %s (removed)\n", dir);
    if (db)
        wal_watch_stop(&ww);
    sink_store_close(st);
    sink_store_close(lookup);
    for (int d = 0; d < deltas; d++)
        free(texts[d]);
    for (int i = 0; i < phones * 2; i++)
        free(fulls[i]);
    free(fulls);
    for (size_t i = 0; i < nrows; i++)
        free(rows_value[i]);
    free(texts);
    free(rows_phone);
    free(rows_name);
    free(rows_value);
    free(row_start);
    json_decref(params);
    json_decref(access);
    pr_flatprofile_release(&fp);
    free(xml);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
