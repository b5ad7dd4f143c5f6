/*
 * test_sink_upgrade.c - a store written by the release before store v2 (SQLite schema 4,
 * PostgreSQL schema 1: one row per parameter) opens in place: the writer upgrades it to one
 * document per phone, and every phone reads through the API exactly as that release answered
 * (tests/data/store-v4: the fixture as SQL, what the old API answered, and how both were made).
 * The same for a SQLite store of schema 5 (tests/data/store-v5: zlib JSON documents, written by
 * the release before the compact documents from the same events), upgraded to schema 6.
 * Then the upgraded store goes on: a delta applies, and the parameter index built at start-up
 * answers an indexed search while an unindexed one says so.
 */
#include "apitest.h"

#include <sys/stat.h>

#include "metrics.h"

#define FIXTURE    PR_DATA_DIR "/store-v4"
#define FIXTURE_V5 PR_DATA_DIR "/store-v5"

typedef struct fx {
    const char *fixture; /* the folder of the store's SQL */
    apitest *a;
    json_t *expected;
} fx;

/* The old release's store, from its SQL dump, where the fixture's store is to be. */
static void load_fixture(fx *f)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", f->fixture, sinktest_pg() ? "pg.sql.gz" : "sqlite.sql.gz");
    char *sql = ts_read_gzfile(path, NULL);
    assert_non_null(sql);
    if (sinktest_pg()) {
        assert_int_equal(ts_pg_exec(f->a->where, sql), 0);
    } else {
        sqlite3 *db = NULL;
        mkdir(f->a->data, 0700);
        snprintf(path, sizeof path, "%s/sink.db", f->a->data);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    free(sql);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char err[256];
    assert_non_null(f);
    f->fixture = *state ? *state : FIXTURE; /* the prestate: which fixture */
    f->a = apitest_prepare("sink-upgrade", NULL);
    load_fixture(f);
    /* as the sink starts: open (upgrade), then the parameter index for the default set */
    apitest_open(f->a);
    if (sink_store_index_configure(f->a->st, NULL, err, sizeof err) != PR_OK)
        fail_msg("index: %s", err);
    apitest_serve(f->a, NULL);
    /* both fixtures come from the same events, and both releases answered the same */
    f->expected = json_load_file(FIXTURE "/expected.json", 0, NULL);
    assert_non_null(f->expected);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    apitest_free(f->a);
    json_decref(f->expected);
    free(f);
    return 0;
}

/* GET path on the API; the body as JSON, asserting 200. */
static json_t *api_get(fx *f, const char *path)
{
    return apitest_json(f->a->port, path, 200);
}

static void expect_same(const char *what, json_t *want, json_t *got)
{
    if (!json_equal(want, got)) {
        char *w = json_dumps(want, JSON_SORT_KEYS), *g = json_dumps(got, JSON_SORT_KEYS);
        fprintf(stderr, "%s differs\n want %.2000s\n got  %.2000s\n", what, w, g);
        free(w);
        free(g);
        fail();
    }
}

static void test_every_phone_reads_exactly_as_the_old_release_answered(void **state)
{
    fx *f = *state;
    const char *mac;
    json_t *want;
    char path[200];
    int phones = 0;
    assert_int_equal(q_int(f->a->st, "SELECT value FROM meta WHERE key = 'schema'"),
                     sinktest_pg() ? 2 : 6);
    if (!sinktest_pg()) /* every document re-encoded (doc.c's blob starts with 0xD6) */
        assert_int_equal(q_int(f->a->st, "SELECT count(*) FROM configs WHERE hex(substr(doc, 1, 1))"
                                         " <> 'D6'"),
                         0);
    json_object_foreach(f->expected, mac, want)
    {
        if (strcmp(mac, "drift") == 0)
            continue;
        static const char *const docs[][2] = {
            {"phone", ""}, {"config", "/config"}, {"status", "/status"}, {"changes", "/changes"}};
        for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
            json_t *w = json_object_get(want, docs[i][0]);
            if (json_is_null(w)) /* the old release had no status for it: 404 */
                continue;
            snprintf(path, sizeof path, "/v1/phones/%s%s", mac, docs[i][1]);
            json_t *got = api_get(f, path);
            if (i == 0) { /* what this release adds to the summary: no resync was ever asked */
                assert_true(json_is_null(json_object_get(got, "remediation")));
                json_object_del(got, "remediation");
            }
            expect_same(path, w, got);
            json_decref(got);
        }
        phones++;
    }
    assert_int_equal(phones, 3);
    json_t *got = api_get(f, "/v1/drift");
    expect_same("/v1/drift", json_object_get(f->expected, "drift"), got);
    json_decref(got);
    /* the 8832 phone: 565 parameters plus the delta's one, in one document */
    json_t *cfg = api_get(f, "/v1/phones/00562b000001/config");
    assert_int_equal(json_object_size(json_object_get(cfg, "params")), 566);
    json_decref(cfg);
}

static void test_the_upgraded_store_goes_on_with_its_index(void **state)
{
    fx *f = *state;
    /* a delta on the upgraded document: one change from the value the old store held */
    char *delta = ev_config("00562b000003", "delta", "c3", "2026-11-24T17:10:00.000Z",
                            "{\"Proxy_1_\":\"sip3.example.com\"}", NULL);
    sink_apply_result res = apply_text(f->a->st, NULL, delta, false);
    free(delta);
    assert_int_equal(res.changes, 1);
    assert_int_equal(res.version, 3);
    json_t *cfg = api_get(f, "/v1/phones/00562b000003/config");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "params"), "A")),
                        "1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "access"), "A")),
                        "ro");
    json_decref(cfg);
    /* Proxy_1_ is in the default index set: found through the index, kept from the diff */
    json_t *doc = api_get(f, "/v1/phones?param.Proxy_1_=sip3.example.com");
    assert_int_equal(json_array_size(json_object_get(doc, "phones")), 1);
    assert_true(json_is_true(json_object_get(doc, "indexed")));
    json_decref(doc);
    doc = api_get(f, "/v1/phones?param.Proxy_1_=sip2.example.com");
    assert_int_equal(json_array_size(json_object_get(doc, "phones")), 0);
    json_decref(doc);
    assert_int_equal(q_int(f->a->st, "SELECT count(*) FROM pindex WHERE name = 'Proxy_1_'"), 2);
    /* New_Param is not: found by a scan of the documents, which says so */
    doc = api_get(f, "/v1/phones?param.New_Param=x%20%22q%22%20%5C%20%C3%A9");
    assert_int_equal(json_array_size(json_object_get(doc, "phones")), 1);
    assert_true(json_is_false(json_object_get(doc, "indexed")));
    json_decref(doc);
    doc = api_get(f, "/v1/params/Display_Name_1_");
    assert_true(json_is_true(json_object_get(doc, "indexed")));
    assert_int_equal(json_integer_value(json_object_get(doc, "phones")), 2);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_phone_reads_exactly_as_the_old_release_answered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_upgraded_store_goes_on_with_its_index, setup,
                                        teardown),
        {"schema 5: every phone reads exactly as the release before answered",
         test_every_phone_reads_exactly_as_the_old_release_answered, setup, teardown,
         (void *)FIXTURE_V5},
        {"schema 5: the upgraded store goes on with its index",
         test_the_upgraded_store_goes_on_with_its_index, setup, teardown, (void *)FIXTURE_V5},
    };
    /* PostgreSQL kept jsonb documents: no schema-5 fixture of its own */
    static const char *const sqlite_only[] = {
        "schema 5: every phone reads exactly as the release before answered",
        "schema 5: the upgraded store goes on with its index", NULL};
    return sinktest_run("sink_upgrade", tests, sizeof tests / sizeof tests[0], sqlite_only);
}
