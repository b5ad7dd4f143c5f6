/*
 * test_sink_pg_batch.c - on PostgreSQL, the round trips of a writer's transaction do not grow
 * with the reports in it (store_batch.c, store_pg.c's pipeline): a transaction of 100 reports
 * takes at most a small constant more round trips than one of 10, for first full reports of
 * the 8832 profile (565 parameters), the same reports again (unchanged) and deltas, also
 * deltas to phones the writer does not remember (a new connection) and to phones that report
 * twice in the transaction. Counts, not time (sink_store_round_trips); the state written is
 * checked too. Needs the real server (PHONEREPORT_TEST_PG, tests/pg/pg.sh): fails without it.
 *
 * Each transaction is applied as the sink's loop does: BEGIN, the batch's phone rows in one
 * statement (sink_store_prefetch), then per record the stored offset, the apply and the new
 * offset, then COMMIT.
 */
#include "flatprofile.h"
#include "apitest.h"

/* Transactions of 10 and 100 reports may differ by this many round trips at most. */
#define SLACK 3

typedef struct fx {
    apitest *t;              /* the store (a writer's connection) and the profiles, no API */
    json_t *params, *access; /* the 8832 profile */
    int64_t offset;
} fx;

static void mac_of(int i, char mac[PR_MAC_LEN + 1])
{
    snprintf(mac, PR_MAC_LEN + 1, "0056%08x", 0x2c000000u + (unsigned)i);
}

static sink_store *open_writer(fx *f)
{
    char err[256];
    sink_store *st = NULL;
    if (sink_store_open(f->t->where, false, "full", &st, err, sizeof err) != PR_OK)
        fail_msg("open: %s", err);
    sink_store_set_pipeline(st, true); /* as the sink's writer */
    return st;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    size_t len = 0;
    pr_flat_profile fp;
    pr_xml_error why;
    char err[256];
    char *xml = ts_read_file(PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml", &len);
    assert_non_null(xml);
    assert_int_equal(pr_flatprofile_parse(xml, len, NULL, &fp, &why, err, sizeof err), PR_OK);
    f->params = json_object();
    f->access = json_object();
    for (size_t i = 0; i < fp.len; i++) {
        json_object_set_new(f->params, fp.params[i].name, json_string(fp.params[i].value));
        if (fp.params[i].ua[0])
            json_object_set_new(f->access, fp.params[i].name, json_string(fp.params[i].ua));
    }
    /* the drift of every phone: intended values for the first parameters (the deltas') */
    char profile[1024];
    size_t n = (size_t)snprintf(profile, sizeof profile, "<flat-profile>");
    for (size_t i = 0; i < 8; i++)
        n += (size_t)snprintf(profile + n, sizeof profile - n, "<%s>intended</%s>",
                              fp.params[i].name, fp.params[i].name);
    snprintf(profile + n, sizeof profile - n, "</flat-profile>");
    /* the default profile intends another value for the parameters the deltas change */
    f->t = apitest_prepare("pgbatch", profile);
    f->t->pf = sink_profiles_new(f->t->profiles);
    sink_profiles_delta d = {0};
    assert_true(sink_profiles_scan(f->t->pf, &d));
    sink_profiles_delta_release(&d);
    pr_flatprofile_release(&fp);
    free(xml);
    f->t->st = open_writer(f);
    assert_int_equal(sink_store_index_configure(f->t->st, NULL, err, sizeof err), PR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    apitest_free(f->t);
    json_decref(f->params);
    json_decref(f->access);
    free(f);
    return 0;
}

/* A config record of phone i: a full report of the profile (k < 0: with its first parameter
 * changed), or a delta of k parameters. */
static char *report(fx *f, int i, int seq, int k)
{
    char mac[PR_MAC_LEN + 1], rid[40], at[40];
    mac_of(i, mac);
    snprintf(rid, sizeof rid, "r-%d", seq);
    snprintf(at, sizeof at, "2026-11-24T%02d:%02d:%02d.%03dZ", 10 + seq / 3600000,
             (seq / 60000) % 60, (seq / 1000) % 60, seq % 1000);
    json_t *params = k > 0 ? json_object() : k < 0 ? json_copy(f->params) : json_incref(f->params);
    const char *name;
    json_t *v;
    int n = 0, want = k < 0 ? 1 : k;
    json_object_foreach(f->params, name, v)
    {
        if (!k || n >= want)
            break;
        char value[48];
        snprintf(value, sizeof value, "%s-%d-%d", k < 0 ? "full" : "delta", seq, n++);
        json_object_set_new(params, name, json_string(value));
    }
    json_t *o = json_pack("{ss ss ss ss ss ss s{ss ss} so sO}", "schema", PR_SCHEMA_CONFIG, "mac",
                          mac, "kind", k > 0 ? "delta" : "full", "report_id", rid, "received_at",
                          at, "encryption", "none", "source", "model", "CP-8832-3PCC", "firmware",
                          "12.0.1", "params", params, "access", f->access);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* One transaction of the reports of phones[0..n) (a phone may come twice), k parameters a
 * delta (0: full reports); returns its round trips. */
static long long txn(fx *f, sink_store *st, const int *phones, int n, int k, unsigned *changes)
{
    char err[256], reason[64], key[PR_MAC_LEN + 1];
    sink_event *evs = calloc((size_t)n, sizeof *evs);
    const char **macs = calloc((size_t)n, sizeof *macs);
    sink_apply_opts opts = {.changes_keep = 1000};
    for (int i = 0; i < n; i++) {
        char *text = report(f, phones[i], (int)f->offset + i, k);
        if (sink_event_load(NULL, text, strlen(text), false, ev_key(text, key), PR_MAC_LEN, &evs[i],
                            reason, sizeof reason, err, sizeof err) != PR_OK)
            fail_msg("event: %s %s", reason, err);
        free(text);
        macs[i] = evs[i].mac;
    }
    long long r0 = sink_store_round_trips(st);
    assert_int_equal(sink_store_begin(st, err, sizeof err), PR_OK);
    if (sink_store_prefetch(st, macs, (size_t)n, err, sizeof err) != PR_OK)
        fail_msg("prefetch: %s", err);
    for (int i = 0; i < n; i++) {
        sink_apply_result res;
        int64_t next = sink_store_offset_get(st, "t.config", 0);
        assert_true(next == -1 || next == f->offset);
        if (sink_apply(st, f->t->pf, &opts, &evs[i], &res, err, sizeof err) != PR_OK)
            fail_msg("apply: %s", err);
        if (changes)
            *changes += res.changes;
        f->offset++;
        assert_int_equal(sink_store_offset_put(st, "t.config", 0, f->offset, err, sizeof err),
                         PR_OK);
    }
    assert_int_equal(sink_store_commit(st, err, sizeof err), PR_OK);
    long long trips = sink_store_round_trips(st) - r0;
    for (int i = 0; i < n; i++)
        sink_event_release(&evs[i]);
    free(evs);
    free(macs);
    return trips;
}

/* Phones from..from+n (each `times` times in a row). */
static int *range(int from, int n, int times)
{
    int *p = calloc((size_t)(n * times), sizeof *p);
    for (int i = 0; i < n * times; i++)
        p[i] = from + i / times;
    return p;
}

/* The round trips of a transaction of 10 reports, then of one of 100 (phones a and b, each
 * phone `times` times in a row), after a warm-up transaction of the same kind: each statement
 * of each shape is prepared once per connection, a round trip each. */
static void check(fx *f, sink_store *st, const char *what, int a, int b, int times, int k,
                  unsigned *changes)
{
    int *warm = range(1000, 100, times), *pa = range(a, 10 / times, times),
        *pb = range(b, 100 / times, times);
    txn(f, st, warm, 100, k, NULL);
    long long t10 = txn(f, st, pa, 10, k, changes);
    long long t100 = txn(f, st, pb, 100, k, changes);
    free(warm);
    free(pa);
    free(pb);
    printf("%s: %lld round trips for 10 reports, %lld for 100\n", what, t10, t100);
    if (t100 > t10 + SLACK)
        fail_msg("%s: a transaction of 100 reports took %lld round trips, one of 10 %lld "
                 "(at most %d more expected)",
                 what, t100, t10, SLACK);
}

static void test_round_trips_do_not_grow_with_the_reports(void **state)
{
    fx *f = *state;
    unsigned changes = 0;
    check(f, f->t->st, "first full reports", 0, 100, 1, 0, NULL);
    check(f, f->t->st, "unchanged full reports", 0, 100, 1, 0, NULL);
    check(f, f->t->st, "deltas of 8 parameters", 0, 100, 1, 8, &changes);
    assert_int_equal(changes, 110 * 8);
    /* twice each in the transaction: the second reads nothing */
    check(f, f->t->st, "deltas, each phone twice", 0, 100, 2, 3, NULL);
    /* a writer that remembers no document (a restart): the documents are fetched together */
    sink_store *fresh = open_writer(f);
    check(f, fresh, "deltas, documents not remembered", 0, 100, 1, 2, NULL);
    sink_store_close(fresh);
    fresh = open_writer(f);
    check(f, fresh, "changed full reports, documents not remembered", 0, 100, 1, -1, NULL);
    sink_store_close(fresh);
    /* every phone drifted on the 8 parameters, with the last value reported */
    assert_int_equal(q_int(f->t->st, "SELECT count(*) FROM drift"), 210 * 8);
    assert_int_equal(q_int(f->t->st, "SELECT count(*) FROM drift d JOIN phones p ON p.id = d.phone"
                                     " WHERE p.mac = '00562c000064' AND d.actual LIKE 'full-%'"),
                     1);

    /* what was written: every phone at its version, the deltas' values in its document, each
     * document TOAST-compressed with lz4 where the server has it (store_pg.c) */
    assert_int_equal(q_int(f->t->st, "SELECT count(*) FROM phones"), 210);
    if (q_int(f->t->st, "SELECT count(*) FROM pg_settings WHERE name = "
                        "'default_toast_compression' AND 'lz4' = ANY(enumvals)") == 1)
        assert_int_equal(q_int(f->t->st, "SELECT count(*) FROM configs WHERE "
                                         "pg_column_compression(params) = 'lz4'"),
                         210);
    assert_int_equal(q_int(f->t->st, "SELECT version FROM phones WHERE mac = '00562c000064'"), 7);
    assert_int_equal(q_int(f->t->st, "SELECT version FROM phones WHERE mac = '00562c0003e8'"), 7);
    assert_int_equal(q_int(f->t->st,
                           "SELECT count(*) FROM phones p JOIN configs c ON c.phone = p.id"
                           " WHERE c.params ? 'Station_Name'"),
                     210);
    assert_int_equal(q_int(f->t->st, "SELECT next FROM offsets WHERE topic = 't.config'"),
                     f->offset);
    assert_int_equal(q_int(f->t->st, "SELECT count(DISTINCT id) FROM reports"),
                     q_int(f->t->st, "SELECT count(*) FROM reports"));
    json_t *params = NULL, *access = NULL;
    char err[256];
    int64_t id = q_int(f->t->st, "SELECT id FROM phones WHERE mac = '00562c000064'");
    assert_int_equal(sink_store_doc_get(f->t->st, id, &params, &access, err, sizeof err), PR_OK);
    const char *first = json_object_iter_key(json_object_iter(f->params));
    assert_non_null(strstr(json_string_value(json_object_get(params, first)), "full-"));
    assert_int_equal(json_object_size(params), json_object_size(f->params));
    json_decref(params);
    json_decref(access);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trips_do_not_grow_with_the_reports, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
