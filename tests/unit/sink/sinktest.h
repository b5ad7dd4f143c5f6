/* sinktest.h - helpers shared by the sink's unit tests: events as JSON text, a store in a
 * temporary directory, applying one event in its own transaction. */
#ifndef SINKTEST_H
#define SINKTEST_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_internal.h"
#include "testsupport.h"

/* Asserts that got is the JSON value of the text want (as values: member order aside). */
static inline void assert_json_equals(const json_t *got, const char *want)
{
    json_error_t e;
    json_t *w = json_loads(want, 0, &e);
    if (!w)
        fail_msg("the expected value is not JSON: %s", e.text);
    if (!json_equal(got, w)) {
        char *text = got ? json_dumps(got, JSON_COMPACT) : NULL;
        fail_msg("got %s\nwant %s", text ? text : "NULL", want);
    }
    json_decref(w);
}

/* A phonereport.config/1 value; params_json like {"A":"1"}, access_json may be NULL. */
static inline char *ev_config(const char *mac, const char *kind, const char *report_id,
                              const char *at, const char *params_json, const char *access_json)
{
    json_t *params = json_loads(params_json, 0, NULL);
    json_t *access = access_json ? json_loads(access_json, 0, NULL) : json_object();
    json_t *o = json_pack(
        "{ss ss ss ss ss ss s{ss ss ss ss ss ss} so so s{si si}}", "schema", "phonereport.config/1",
        "mac", mac, "kind", kind, "report_id", report_id, "received_at", at, "encryption", "none",
        "source", "method", "PUT", "path", "/r", "remote", "192.0.2.1", "user_agent",
        "Cisco-CP-8832-3PCC/12.0.1", "model", "CP-8832-3PCC", "firmware", "12.0.1", "params",
        params, "access", access, "raw", "partition", 0, "offset", 1);
    assert_non_null(o);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static inline char *ev_status(const char *mac, const char *report_id, const char *at,
                              const char *status_json)
{
    json_t *status = json_loads(status_json, 0, NULL);
    json_t *o =
        json_pack("{ss ss ss ss ss ss s{ss ss} so s{si si}}", "schema", "phonereport.status/1",
                  "mac", mac, "kind", "status", "report_id", report_id, "received_at", at,
                  "encryption", "none", "source", "model", "CP-8832-3PCC", "firmware", "12.0.2",
                  "status", status, "raw", "partition", 0, "offset", 2);
    assert_non_null(o);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The record key a decoder gives a value: its "mac" (12 characters, "" if it has none). */
static inline const char *ev_key(const char *text, char key[PR_MAC_LEN + 1])
{
    const char *m = strstr(text, "\"mac\":\"");
    snprintf(key, PR_MAC_LEN + 1, "%s", m ? m + 7 : "");
    return key;
}

/* Parses and applies one record value (keyed by its mac) in its own transaction, keeping
 * keep change rows per phone; asserts success. */
static inline sink_apply_result apply_text_keep(sink_store *st, const sink_profiles *pf,
                                                const char *text, bool status_topic, long long keep)
{
    sink_event ev;
    sink_apply_result res;
    char reason[64] = "", err[256] = "", key[PR_MAC_LEN + 1];
    pr_status rc = sink_event_load(NULL, text, strlen(text), status_topic, ev_key(text, key),
                                   PR_MAC_LEN, &ev, reason, sizeof reason, err, sizeof err);
    if (rc != PR_OK)
        fail_msg("event rejected: %s %s", reason, err);
    assert_int_equal(sink_store_begin(st, err, sizeof err), PR_OK);
    sink_apply_opts opts = {.changes_keep = keep};
    rc = sink_apply(st, pf, &opts, &ev, &res, err, sizeof err);
    if (rc != PR_OK)
        fail_msg("apply: %s", err);
    assert_int_equal(sink_store_commit(st, err, sizeof err), PR_OK);
    sink_event_release(&ev);
    return res;
}

static inline sink_apply_result apply_text(sink_store *st, const sink_profiles *pf,
                                           const char *text, bool status_topic)
{
    return apply_text_keep(st, pf, text, status_topic, 1000);
}

static inline void apply_owned(sink_store *st, const sink_profiles *pf, char *text,
                               bool status_topic)
{
    apply_text(st, pf, text, status_topic);
    free(text);
}

/* Applies a phonereport.config/1 record (ev_config's fields) in its own transaction. */
static inline void apply_config(sink_store *st, const sink_profiles *pf, const char *mac,
                                const char *kind, const char *report_id, const char *at,
                                const char *params_json, const char *access_json)
{
    apply_owned(st, pf, ev_config(mac, kind, report_id, at, params_json, access_json), false);
}

/* One integer from a query (e.g. "SELECT count(*) FROM outbox"). */
static inline long long q_int(sink_store *st, const char *sql)
{
    long long v = -1;
    sink_stmt *s = sink_store_prepare(st, sql);
    if (!s)
        fail_msg("prepare %s: %s", sql, sink_store_errmsg(st));
    if (sink_step(s) == SINK_ROW)
        v = (long long)sink_col_int64(s, 0);
    sink_stmt_free(s);
    return v;
}

/* Runs one statement that returns no rows (DROP, LOCK, UPDATE ...); asserts it ran. */
static inline void q_exec(sink_store *st, const char *sql)
{
    sink_stmt *s = sink_store_prepare(st, sql);
    if (!s)
        fail_msg("prepare %s: %s", sql, sink_store_errmsg(st));
    assert_int_equal(sink_step(s), SINK_DONE);
    sink_stmt_free(s);
}

/* The tests run on both stores: PR_SINK_TEST_STORE=postgres gives each fixture a new schema on
 * the test PostgreSQL server (ts_pg), anything else the SQLite store in dir. */
static inline bool sinktest_pg(void)
{
    const char *e = getenv("PR_SINK_TEST_STORE");
    return e && strcmp(e, "postgres") == 0;
}

/* Where a fixture's store lives (caller frees). */
static inline char *sinktest_where(const char *dir, const char *tag)
{
    return sinktest_pg() ? ts_pg_schema_new(tag) : strdup(dir);
}

/* Runs tests[0..n) except, on PostgreSQL, those named in sqlite_only (NULL-terminated). */
static inline int sinktest_run(const char *group, const struct CMUnitTest *tests, size_t n,
                               const char *const *sqlite_only)
{
    struct CMUnitTest *keep = calloc(n, sizeof *keep);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t j = 0; sinktest_pg() && sqlite_only && sqlite_only[j]; j++)
            skip = skip || strcmp(tests[i].name, sqlite_only[j]) == 0;
        if (!skip)
            keep[k++] = tests[i];
    }
    int rc = _cmocka_run_group_tests(group, keep, k, NULL, NULL);
    free(keep);
    return rc;
}

#endif
