/*
 * test_sink_state.c - the sink's pure parts: event validation, applying full/delta/status
 * reports, removals, versions, drift transitions, masked values, profile reload, offsets
 * committed with the state, and the records it emits checked against the JSON Schemas with the
 * independent validator.
 */
#include "apitest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events_state.h"
#include "sink.h"

#define MAC  "00562b043615"
#define MAC2 "00562b043616"

typedef apitest fx; /* the API itself is not served here */

static int setup(void **state)
{
    *state = apitest_new("sink-state", NULL);
    return 0;
}

/* The stored value of a parameter, or NULL (static buffer): from the phone's document. */
static const char *param(fx *f, const char *mac, const char *name)
{
    static char buf[512];
    const char *v = NULL;
    json_t *o = NULL;
    char err[256];
    if (sink_query_config(f->st, mac, &o, err, sizeof err) != PR_OK)
        return NULL;
    const char *s = json_string_value(json_object_get(json_object_get(o, "params"), name));
    if (s) {
        snprintf(buf, sizeof buf, "%s", s);
        v = buf;
    }
    json_decref(o);
    return v;
}

static json_t *config_doc(fx *f, const char *mac)
{
    json_t *o = NULL;
    char err[256];
    assert_int_equal(sink_query_config(f->st, mac, &o, err, sizeof err), PR_OK);
    return o;
}

/* The outbox values of one topic, in order, as a JSON array. */
static json_t *outbox(fx *f, pr_topic t)
{
    json_t *a = json_array();
    sink_stmt *s =
        sink_store_prepare(f->st, "SELECT value FROM outbox WHERE topic = ?1 ORDER BY id");
    assert_non_null(s);
    sink_bind_int64(s, 1, (int64_t)t);
    while (sink_step(s) == SINK_ROW)
        json_array_append_new(a, json_loads(sink_col_text(s, 0), 0, NULL));
    sink_stmt_free(s);
    return a;
}

static void write_profile(fx *f, const char *file, const char *xml)
{
    char path[4300], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", f->profiles, file);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", f->profiles, file);
    assert_int_equal(ts_write_file(tmp, xml, strlen(xml)), 0);
    /* A distinct mtime even within one clock tick: bump it explicitly. */
    static long tick = 1;
    struct timespec ts[2] = {{1700000000 + tick, 0}, {1700000000 + tick, 0}};
    tick++;
    assert_int_equal(utimensat(AT_FDCWD, tmp, ts, 0), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* Applies a profile change the way the consumer loop does. */
static unsigned rescan(fx *f)
{
    sink_profiles_delta d = {0};
    unsigned transitions = 0;
    char err[256];
    if (sink_profiles_scan(f->pf, &d)) {
        assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
        assert_int_equal(sink_drift_profiles_changed(f->st, f->pf, &d, "2026-11-24T18:00:00.000Z",
                                                     NULL, true, &transitions, err, sizeof err),
                         PR_OK);
        assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    }
    sink_profiles_delta_release(&d);
    return transitions;
}

/* ---- application ---------------------------------------------------------------------- */

static void test_full_report_sets_params_and_completes_the_phone(void **state)
{
    fx *f = *state;
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"1\",\"B\":\"two\"}", "{\"A\":\"na\",\"B\":\"rw\"}");
    json_t *doc = config_doc(f, MAC);
    assert_json_equals(doc, "{\"mac\":\"" MAC "\",\"version\":1,\"complete\":true,"
                            "\"model\":\"CP-8832-3PCC\",\"firmware\":\"12.0.1\","
                            "\"params\":{\"A\":\"1\",\"B\":\"two\"},"
                            "\"access\":{\"A\":\"na\",\"B\":\"rw\"}}");
    json_decref(doc);
}

static void test_first_report_delta_leaves_the_phone_incomplete(void **state)
{
    fx *f = *state;
    apply_config(f->st, f->pf, MAC, "delta", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    json_t *doc = config_doc(f, MAC);
    assert_false(json_is_true(json_object_get(doc, "complete")));
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
    json_decref(doc);
    apply_config(f->st, f->pf, MAC, "full", "r2", "2026-11-24T17:01:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    doc = config_doc(f, MAC);
    assert_true(json_is_true(json_object_get(doc, "complete")));
    json_decref(doc);
    /* A later delta does not make it incomplete again. */
    apply_config(f->st, f->pf, MAC, "delta", "r3", "2026-11-24T17:02:00.000Z", "{\"A\":\"2\"}",
                 NULL);
    doc = config_doc(f, MAC);
    assert_true(json_is_true(json_object_get(doc, "complete")));
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 3);
    json_decref(doc);
}

static void test_delta_upserts_only_what_it_carries(void **state)
{
    fx *f = *state;
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"}", NULL);
    sink_apply_result res;
    char *t = ev_config(MAC, "delta", "r2", "2026-11-24T17:01:00.000Z", "{\"B\":\"20\",\"D\":\"\"}",
                        NULL);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_int_equal(res.changes, 2);
    assert_int_equal(res.upserts, 2);
    assert_string_equal(param(f, MAC, "A"), "1");
    assert_string_equal(param(f, MAC, "B"), "20");
    assert_string_equal(param(f, MAC, "C"), "3");
    assert_string_equal(param(f, MAC, "D"), ""); /* empty means "set to empty" */
    /* Repeating the same values changes nothing but the version. */
    t = ev_config(MAC, "delta", "r3", "2026-11-24T17:02:00.000Z", "{\"B\":\"20\"}", NULL);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_int_equal(res.changes, 0);
    assert_int_equal(res.upserts, 0);
    assert_int_equal(res.version, 3);
}

static void test_full_report_removes_vanished_params_as_changes_to_null(void **state)
{
    fx *f = *state;
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"1\",\"B\":\"2\"}", NULL);
    apply_config(f->st, f->pf, MAC, "full", "r2", "2026-11-24T17:01:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    assert_null(param(f, MAC, "B"));
    json_t *changes = outbox(f, PR_TOPIC_CHANGES);
    assert_int_equal(json_array_size(changes), 1); /* the first report is the baseline */
    json_t *last = json_array_get(changes, 0);
    assert_json_equals(last, "{\"schema\":\"phonereport.changes/1\",\"mac\":\"" MAC "\","
                             "\"param\":\"B\",\"old\":\"2\",\"new\":null,"
                             "\"at\":\"2026-11-24T17:01:00.000Z\",\"report_id\":\"r2\","
                             "\"via\":\"full\",\"version\":2}");
    json_decref(changes);
}

static void test_report_of_unknown_kind_is_applied_as_a_delta(void **state)
{
    fx *f = *state;
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"1\",\"B\":\"2\"}", NULL);
    apply_config(f->st, f->pf, MAC2, "unknown", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    apply_config(f->st, f->pf, MAC, "unknown", "r2", "2026-11-24T17:01:00.000Z", "{\"A\":\"9\"}",
                 NULL);
    assert_string_equal(param(f, MAC, "A"), "9");
    assert_string_equal(param(f, MAC, "B"), "2"); /* nothing removed */
    json_t *doc = config_doc(f, MAC2);
    assert_false(json_is_true(json_object_get(doc, "complete")));
    json_decref(doc);
    json_t *changes = outbox(f, PR_TOPIC_CHANGES);
    json_t *last = json_array_get(changes, json_array_size(changes) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "via")), "delta");
    json_decref(changes);
    char *t = ev_config(MAC, "bogus", "r", "2026-11-24T17:00:00.000Z", "{}", NULL);
    sink_event ev;
    char reason[64], err[256];
    assert_int_equal(sink_event_load(NULL, t, strlen(t), false, NULL, 0, &ev, reason, sizeof reason,
                                     err, sizeof err),
                     PR_EINVAL);
    assert_string_equal(reason, "kind");
    free(t);
}

static void test_change_history_is_pruned_by_whole_reports(void **state)
{
    fx *f = *state;
    char err[256], reason[64];
    sink_apply_opts opts = {.changes_keep = 5};
    for (int v = 1; v <= 64; v++) {
        char params[128], at[40];
        sink_event ev;
        sink_apply_result res;
        snprintf(params, sizeof params, "{\"A\":\"a%d\",\"B\":\"b%d\"}", v, v);
        snprintf(at, sizeof at, "2026-11-24T17:%02d:00.000Z", v % 60);
        char *t = ev_config(MAC, "delta", "r", at, params, NULL);
        assert_int_equal(sink_event_load(NULL, t, strlen(t), false, MAC, PR_MAC_LEN, &ev, reason,
                                         sizeof reason, err, sizeof err),
                         PR_OK);
        assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
        assert_int_equal(sink_apply(f->st, f->pf, &opts, &ev, &res, err, sizeof err), PR_OK);
        assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
        sink_event_release(&ev);
        free(t);
    }
    /* At most 5 rows, whole reports only (2 rows each): the last 2 reports. */
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM changes"), 4);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM reports"), 2);
    assert_int_equal(q_int(f->st, "SELECT min(version) FROM reports"), 63);
    json_t *doc = NULL;
    assert_int_equal(sink_query_changes(f->st, MAC, 0, 10, &doc, err, sizeof err), PR_OK);
    json_t *first = json_array_get(json_object_get(doc, "changes"), 0);
    assert_int_equal(json_integer_value(json_object_get(first, "version")), 63);
    assert_string_equal(json_string_value(json_object_get(first, "old")), "a62");
    json_decref(doc);
}

/* DESIGN section 3: a phone's first report is its baseline; the state record carries it. */
static void test_first_report_is_a_baseline_and_emits_no_change(void **state)
{
    fx *f = *state;
    char *t = ev_config(MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                        "{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"}", NULL);
    sink_apply_result res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_int_equal(res.changes, 0);
    assert_int_equal(res.upserts, 3);
    assert_true(res.published);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM changes"), 0);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(q_int(f->st, "SELECT version FROM outbox_state"), 1);
    /* Once complete, a new name is a change from null (it was known to be absent). */
    t = ev_config(MAC, "full", "r2", "2026-11-24T17:01:00.000Z",
                  "{\"A\":\"9\",\"B\":\"2\",\"C\":\"3\",\"D\":\"4\"}", NULL);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_int_equal(res.changes, 2);
    json_t *changes = outbox(f, PR_TOPIC_CHANGES);
    assert_int_equal(json_array_size(changes), 2);
    assert_true(json_is_null(json_object_get(json_array_get(changes, 1), "old")));
    json_decref(changes);

    /* A phone whose first report is a delta: a baseline too, and while it is incomplete a
     * name it never reported has no known previous value; a reported one has. */
    t = ev_config(MAC2, "delta", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_int_equal(res.changes, 0);
    t = ev_config(MAC2, "delta", "r2", "2026-11-24T17:01:00.000Z", "{\"A\":\"2\",\"B\":\"x\"}",
                  NULL);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_int_equal(res.changes, 1); /* A: 1 -> 2; B unknown before */
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM changes"), 3);
}

/* Total rows changed by a statement of this connection so far (sqlite3_total_changes). */
static long long rows_written(fx *f)
{
    return (long long)sqlite3_total_changes(sink_store_db(f->st));
}

static void test_identical_full_report_touches_only_the_phone_row(void **state)
{
    fx *f = *state;
    char err[256], reason[64];
    write_profile(f, "default.xml", "<flat-profile><P7>other</P7></flat-profile>");
    rescan(f);
    /* 200 parameters, and the same set in reverse order (the digest is of the bytes). */
    json_t *p = json_object(), *a = json_object(), *rp = json_object(), *ra = json_object();
    for (int i = 0; i < 200; i++) {
        char n[16], v[16];
        snprintf(n, sizeof n, "P%d", i);
        snprintf(v, sizeof v, "v%d", i * 7);
        json_object_set_new(p, n, json_string(v));
        json_object_set_new(a, n, json_string(i % 2 ? "rw" : "na"));
    }
    for (int i = 199; i >= 0; i--) {
        char n[16];
        snprintf(n, sizeof n, "P%d", i);
        json_object_set(rp, n, json_object_get(p, n));
        json_object_set(ra, n, json_object_get(a, n));
    }
    char *ps = json_dumps(p, JSON_COMPACT), *as = json_dumps(a, JSON_COMPACT);
    char *rps = json_dumps(rp, JSON_COMPACT), *ras = json_dumps(ra, JSON_COMPACT);
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z", ps, as);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 1);
    long long drift_records = q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6");

    /* The same bytes again, loaded as the consumer's parse thread does (fast path: the digest
     * is read from the store, the parameters are not parsed). */
    sink_event ev;
    long long before = rows_written(f);
    char *t = ev_config(MAC, "full", "r2", "2026-11-24T17:05:00.000Z", ps, as);
    assert_int_equal(sink_event_load(f->st, t, strlen(t), false, MAC, 12, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_OK);
    assert_true(ev.lazy);
    assert_null(ev.params);
    sink_apply_result res;
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    sink_event_release(&ev);
    free(t);
    assert_true(res.unchanged);
    assert_false(res.published);
    assert_int_equal(res.changes, 0);
    assert_int_equal(res.upserts, 0);
    assert_int_equal(res.version, 2);
    assert_int_equal(rows_written(f) - before, 1); /* the phone row, nothing else */
    assert_int_equal(q_int(f->st, "SELECT version FROM outbox_state"), 1); /* not republished */
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6"), drift_records);
    json_t *doc = NULL;
    assert_int_equal(sink_query_phone(f->st, MAC, &doc, err, sizeof err), PR_OK);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "updated_at")),
                        "2026-11-24T17:05:00.000Z");
    assert_string_equal(json_string_value(json_object_get(doc, "report_id")), "r2");
    json_decref(doc);

    /* The same set in another order: other bytes, so compared row by row; nothing changes,
     * nothing is published, and the new digest is kept. */
    t = ev_config(MAC, "full", "r3", "2026-11-24T17:05:30.000Z", rps, ras);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_false(res.unchanged);
    assert_false(res.published);
    assert_int_equal(res.upserts, 0);
    assert_int_equal(res.changes, 0);
    t = ev_config(MAC, "full", "r3b", "2026-11-24T17:05:40.000Z", rps, ras);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_true(res.unchanged);

    /* One access attribute differs: not identical, compared row by row, no value change. */
    json_object_set_new(ra, "P3", json_string("ro"));
    free(ras);
    ras = json_dumps(ra, JSON_COMPACT);
    t = ev_config(MAC, "full", "r4", "2026-11-24T17:06:00.000Z", rps, ras);
    res = apply_text(f->st, f->pf, t, false);
    free(t);
    assert_false(res.unchanged);
    assert_true(res.published);
    assert_int_equal(res.upserts, 1);
    assert_int_equal(res.changes, 0);
    assert_int_equal(q_int(f->st, "SELECT version FROM outbox_state"), 5);

    /* Identical again, but the phone now runs other firmware: the state record changes, so it
     * is published again (still one row written besides the marker). */
    t = ev_config(MAC, "full", "r5", "2026-11-24T17:07:00.000Z", rps, ras);
    json_t *o = json_loads(t, 0, NULL);
    free(t);
    json_object_set_new(json_object_get(o, "source"), "firmware", json_string("12.1.1"));
    t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_int_equal(sink_event_load(f->st, t, strlen(t), false, MAC, PR_MAC_LEN, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_OK);
    assert_true(ev.lazy);
    before = rows_written(f);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    sink_event_release(&ev);
    free(t);
    assert_true(res.unchanged);
    assert_true(res.published);
    assert_int_equal(rows_written(f) - before, 2);
    assert_int_equal(q_int(f->st, "SELECT version FROM outbox_state"), 6);

    /* Loaded while identical, but a delta changed a row before it was applied: the writer
     * sees the digest gone and parses the report in full (P1 back to its value). */
    t = ev_config(MAC, "full", "r7", "2026-11-24T17:09:00.000Z", rps, ras);
    assert_int_equal(sink_event_load(f->st, t, strlen(t), false, MAC, PR_MAC_LEN, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_OK);
    assert_true(ev.lazy);
    apply_config(f->st, f->pf, MAC, "delta", "r6", "2026-11-24T17:08:00.000Z", "{\"P1\":\"x\"}",
                 NULL);
    assert_int_equal(q_int(f->st, "SELECT digest IS NULL FROM phones"), 1);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    sink_event_release(&ev);
    free(t);
    assert_false(res.unchanged);
    assert_int_equal(res.changes, 1);
    assert_string_equal(param(f, MAC, "P1"), "v7");
    assert_int_equal(q_int(f->st, "SELECT nparams FROM phones"), 200);
    free(ps);
    free(as);
    free(rps);
    free(ras);
    json_decref(p);
    json_decref(a);
    json_decref(rp);
    json_decref(ra);
}

/* The fast path finds params and access by a scan of the record; anything it cannot tell for
 * sure takes the full parse (which then decides, e.g. refuses a repeated member). */
static void test_fast_path_only_for_plain_identical_members(void **state)
{
    fx *f = *state;
    char err[256], reason[64];
    sink_event ev;
    char *t = ev_config(MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                        "{\"A\":\"}{\\\"[\",\"B\":\"2\"}", "{\"A\":\"rw\"}");
    apply_owned(f->st, f->pf, strdup(t), false);
    /* Same bytes: lazy, even with brackets and escaped quotes inside the values. */
    assert_int_equal(sink_event_load(f->st, t, strlen(t), false, MAC, PR_MAC_LEN, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_OK);
    assert_true(ev.lazy);
    sink_event_release(&ev);
    /* A member name written with an escape ("par\u0061ms"): full parse. */
    char *esc = strdup(t), *at = strstr(esc, "\"params\"");
    assert_non_null(at);
    char *alt = NULL;
    assert_true(asprintf(&alt, "%.*s\"par\\u0061ms\"%s", (int)(at - esc), esc, at + 8) > 0);
    assert_int_equal(sink_event_load(f->st, alt, strlen(alt), false, MAC, PR_MAC_LEN, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_OK);
    assert_false(ev.lazy);
    assert_int_equal(json_object_size(ev.params), 2);
    sink_event_release(&ev);
    free(alt);
    /* params repeated: not lazy, and the full parse refuses the record. */
    assert_true(asprintf(&alt, "%.*s\"params\":{},%s", (int)(at - esc), esc, at) > 0);
    assert_int_equal(sink_event_load(f->st, alt, strlen(alt), false, MAC, PR_MAC_LEN, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_EINVAL);
    assert_string_equal(reason, "bad_json");
    free(alt);
    free(esc);
    /* A delta with the same bytes is never lazy. */
    char *d = ev_config(MAC, "delta", "r2", "2026-11-24T17:00:00.000Z",
                        "{\"A\":\"}{\\\"[\",\"B\":\"2\"}", "{\"A\":\"rw\"}");
    assert_int_equal(sink_event_load(f->st, d, strlen(d), false, MAC, PR_MAC_LEN, &ev, reason,
                                     sizeof reason, err, sizeof err),
                     PR_OK);
    assert_false(ev.lazy);
    sink_event_release(&ev);
    free(d);
    free(t);
}

/* Applies text with bounds; returns the status (the transaction is committed either way, as
 * the consumer loop does for a refused report). */
static pr_status apply_bounded(fx *f, char *text, long long max_params, long long max_bytes)
{
    sink_event ev;
    sink_apply_result res;
    char reason[64], err[256];
    sink_apply_opts opts = {
        .changes_keep = 1000, .max_params = max_params, .max_state_bytes = max_bytes};
    char key[PR_MAC_LEN + 1];
    assert_int_equal(sink_event_load(NULL, text, strlen(text), false, ev_key(text, key), PR_MAC_LEN,
                                     &ev, reason, sizeof reason, err, sizeof err),
                     PR_OK);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    pr_status rc = sink_apply(f->st, f->pf, &opts, &ev, &res, err, sizeof err);
    if (rc == PR_EINVAL)
        assert_non_null(strstr(err, "sink-max-"));
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    sink_event_release(&ev);
    free(text);
    return rc;
}

static void test_report_beyond_the_bounds_is_refused_and_the_state_kept(void **state)
{
    fx *f = *state;
    long long before = rows_written(f);
    /* A first report over the bound: not even the phone row is written. */
    assert_int_equal(
        apply_bounded(f,
                      ev_config(MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                                "{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\",\"D\":\"4\"}", NULL),
                      3, 0),
        PR_EINVAL);
    assert_int_equal(rows_written(f), before);
    assert_int_equal(apply_bounded(f,
                                   ev_config(MAC, "full", "r2", "2026-11-24T17:01:00.000Z",
                                             "{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"}", NULL),
                                   3, 0),
                     PR_OK);
    /* A delta adding a fourth name is refused; one replacing values is not (exact count). */
    before = rows_written(f);
    assert_int_equal(apply_bounded(f,
                                   ev_config(MAC, "delta", "r3", "2026-11-24T17:02:00.000Z",
                                             "{\"A\":\"x\",\"E\":\"5\"}", NULL),
                                   3, 0),
                     PR_EINVAL);
    assert_int_equal(rows_written(f), before);
    assert_string_equal(param(f, MAC, "A"), "1");
    assert_int_equal(apply_bounded(f,
                                   ev_config(MAC, "delta", "r4", "2026-11-24T17:03:00.000Z",
                                             "{\"A\":\"x\",\"B\":\"y\",\"C\":\"z\"}", NULL),
                                   3, 0),
                     PR_OK);
    assert_int_equal(q_int(f->st, "SELECT version FROM phones"), 2);
    assert_int_equal(q_int(f->st, "SELECT nparams FROM phones"), 3);
    /* The state's size: a value that would take the record past the bound is refused, and the
     * stored weight follows the values that replace each other. */
    long long w = q_int(f->st, "SELECT state_bytes FROM phones");
    assert_int_equal(w, sink_param_weight("A", "x", NULL) + sink_param_weight("B", "y", NULL) +
                            sink_param_weight("C", "z", NULL));
    char big[2100], params[2200];
    memset(big, 'v', 2000);
    big[2000] = '\0';
    snprintf(params, sizeof params, "{\"B\":\"%s\"}", big);
    assert_int_equal(
        apply_bounded(f, ev_config(MAC, "delta", "r5", "2026-11-24T17:04:00.000Z", params, NULL), 0,
                      3000),
        PR_EINVAL);
    assert_string_equal(param(f, MAC, "B"), "y");
    assert_int_equal(
        apply_bounded(f, ev_config(MAC, "delta", "r6", "2026-11-24T17:05:00.000Z", params, NULL), 0,
                      4000),
        PR_OK);
    assert_int_equal(q_int(f->st, "SELECT state_bytes FROM phones"),
                     w - sink_param_weight("B", "y", NULL) + sink_param_weight("B", big, NULL));
    /* A value whose JSON escapes make it bigger weighs what the record will take. */
    assert_int_equal(sink_param_weight("a\"b", "\n\x01", "rw"), 4 + 8 + 6 + 4 + 2 + 6);
}

static void test_status_replaces_the_latest_status_without_a_version(void **state)
{
    fx *f = *state;
    char err[256];
    json_t *doc = NULL;
    apply_owned(f->st, f->pf,
                ev_status(MAC, "s1", "2026-11-24T17:00:00.000Z", "{\"Uptime\":\"1\",\"X\":\"y\"}"),
                true);
    apply_owned(f->st, f->pf,
                ev_status(MAC, "s2", "2026-11-24T17:05:00.000Z", "{\"Uptime\":\"2\"}"), true);
    assert_int_equal(sink_query_status(f->st, MAC, &doc, err, sizeof err), PR_OK);
    assert_json_equals(doc, "{\"mac\":\"" MAC "\",\"report_id\":\"s2\","
                            "\"received_at\":\"2026-11-24T17:05:00.000Z\","
                            "\"status\":{\"Uptime\":\"2\"}}");
    json_decref(doc);
    doc = config_doc(f, MAC);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 0);
    assert_false(json_is_true(json_object_get(doc, "complete")));
    assert_string_equal(json_string_value(json_object_get(doc, "firmware")), "12.0.2");
    json_decref(doc);
    /* No state publication and no changes for a status report. */
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox_state"), 0);
}

static void test_source_fields_do_not_depend_on_topic_interleaving(void **state)
{
    fx *f = *state;
    char err[256];
    /* MAC: status (later) applied before the config report; MAC2: the other way round. */
    apply_owned(f->st, f->pf, ev_status(MAC, "s", "2026-11-24T17:05:00.000Z", "{}"), true);
    apply_config(f->st, f->pf, MAC, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL);
    apply_config(f->st, f->pf, MAC2, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    apply_owned(f->st, f->pf, ev_status(MAC2, "s", "2026-11-24T17:05:00.000Z", "{}"), true);
    json_t *a = NULL, *b = NULL;
    assert_int_equal(sink_query_phone(f->st, MAC, &a, err, sizeof err), PR_OK);
    assert_int_equal(sink_query_phone(f->st, MAC2, &b, err, sizeof err), PR_OK);
    json_object_del(a, "mac");
    json_object_del(b, "mac");
    assert_true(json_equal(a, b));
    assert_string_equal(json_string_value(json_object_get(a, "firmware")), "12.0.2");
    assert_string_equal(json_string_value(json_object_get(a, "first_seen")),
                        "2026-11-24T17:00:00.000Z");
    json_decref(a);
    json_decref(b);
}

static void test_unknown_phone_is_not_found(void **state)
{
    fx *f = *state;
    json_t *doc = NULL;
    char err[256];
    assert_int_equal(sink_query_config(f->st, MAC, &doc, err, sizeof err), PR_ENOTFOUND);
    assert_int_equal(sink_query_status(f->st, MAC, &doc, err, sizeof err), PR_ENOTFOUND);
    assert_null(doc);
}

static void test_offsets_commit_and_roll_back_with_the_state(void **state)
{
    fx *f = *state;
    char err[256], reason[64];
    sink_event ev;
    sink_apply_result res;
    char *t = ev_config(MAC, "full", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL);
    assert_int_equal(sink_event_load(NULL, t, strlen(t), false, MAC, 12, &ev, reason, sizeof reason,
                                     err, sizeof err),
                     PR_OK);
    /* Crash before commit: neither the state nor the offset is there. */
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_put(f->st, "x.config", 2, 8, err, sizeof err), PR_OK);
    sink_store_rollback(f->st);
    assert_int_equal(sink_store_offset_get(f->st, "x.config", 2), -1);
    assert_null(param(f, MAC, "A"));
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox"), 0);
    /* Committed: both. */
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_put(f->st, "x.config", 2, 8, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_get(f->st, "x.config", 2), 8);
    assert_string_equal(param(f, MAC, "A"), "1");
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox"), 0); /* baseline */
    assert_int_equal(q_int(f->st, "SELECT version FROM outbox_state"), 1);
    sink_event_release(&ev);
    free(t);
}

/* A store that cannot be read must not answer "no offset stored" (the sink would apply the
 * partition's records again from the beginning). */
static void test_offset_read_failure_is_not_taken_for_no_offset(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_put(f->st, "x.config", 2, 8, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_get(f->st, "x.config", 2), 8);
    assert_int_equal(sink_store_offset_get(f->st, "x.config", 3), -1);
    /* The cached statement now fails (its table is gone), as on an I/O error. */
    q_exec(f->st, "DROP TABLE offsets");
    assert_true(sink_store_offset_get(f->st, "x.config", 2) < -1);
}

/* A store written by a newer phonereport (its schema version is higher than this build knows)
 * is refused as a configuration error (exit 78), on both stores, and left as it is. */
static void test_a_store_with_a_newer_schema_is_refused(void **state)
{
    fx *f = *state;
    char err[256] = "";
    q_exec(f->st, "UPDATE meta SET value = '99' WHERE key = 'schema'");
    char *where = strdup(f->where);
    sink_store_close(f->st);
    f->st = NULL;
    assert_int_equal(sink_store_open(where, false, "normal", &f->st, err, sizeof err), PR_EINVAL);
    assert_null(f->st);
    assert_non_null(strstr(err, "newer"));
    assert_int_equal(pr_status_exit_code(PR_EINVAL), 78);
    /* untouched: still refused, and a read-only handle (the API's) too */
    assert_int_equal(sink_store_open(where, false, "normal", &f->st, err, sizeof err), PR_EINVAL);
    assert_int_equal(sink_store_open(where, true, NULL, &f->st, err, sizeof err),
                     sinktest_pg() ? PR_EINVAL : PR_OK);
    sink_store_close(f->st);
    f->st = NULL;
    free(where);
}

/* Two sinks on one store (PostgreSQL): once another sink claimed a partition, the previous
 * owner's transaction fails its fence check and rolls back, applying nothing; the new owner
 * goes on. On SQLite (one sink) claims and fences are no-ops. */
static void test_a_sink_that_lost_its_partition_cannot_commit(void **state)
{
    fx *f = *state;
    char err[256] = "";
    sink_store *b = NULL;
    int64_t epoch_a = -1, epoch_b = -1;
    assert_int_equal(sink_store_open(f->where, false, "normal", &b, err, sizeof err), PR_OK);
    assert_int_equal(
        sink_store_partition_claim(f->st, "t.config", 0, "a", &epoch_a, err, sizeof err), PR_OK);
    /* A owns it: its batch commits */
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_partition_fence(f->st, "t.config", 0, epoch_a, err, sizeof err),
                     PR_OK);
    assert_int_equal(sink_store_offset_put(f->st, "t.config", 0, 5, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    /* B is given the partition (A paused, cut off): it claims it */
    assert_int_equal(sink_store_partition_claim(b, "t.config", 0, "b", &epoch_b, err, sizeof err),
                     PR_OK);
    if (!sinktest_pg()) {
        assert_int_equal(epoch_a, 0);
        assert_int_equal(epoch_b, 0);
        sink_store_close(b);
        return;
    }
    assert_true(epoch_b > epoch_a);
    /* A wakes up with a batch: fenced, rolled back, its offset not written */
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_partition_fence(f->st, "t.config", 0, epoch_a, err, sizeof err),
                     PR_ENOTFOUND);
    assert_non_null(strstr(err, "fenced"));
    sink_store_rollback(f->st);
    assert_int_equal(sink_store_offset_get(b, "t.config", 0), 5);
    /* B's batch commits */
    assert_int_equal(sink_store_begin(b, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_partition_fence(b, "t.config", 0, epoch_b, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_put(b, "t.config", 0, 9, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(b, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_get(f->st, "t.config", 0), 9);
    sink_store_close(b);
}

/* ---- event validation catalogue ----------------------------------------------------- */

static void expect_rejected(const char *text, bool status_topic, const char *key,
                            const char *want_reason)
{
    sink_event ev;
    char reason[64] = "", err[256] = "";
    pr_status rc = sink_event_parse(text, strlen(text), status_topic, key, key ? strlen(key) : 0,
                                    &ev, reason, sizeof reason, err, sizeof err);
    if (rc != PR_EINVAL)
        fail_msg("accepted: %s", text);
    assert_string_equal(reason, want_reason);
    assert_true(strlen(err) > 0);
    assert_null(ev.root);
    sink_event_release(&ev);
}

static void test_events_that_violate_the_contract_are_rejected(void **state)
{
    (void)state;
    expect_rejected("", false, NULL, "empty");
    expect_rejected("{not json", false, NULL, "bad_json");
    expect_rejected("[1,2]", false, NULL, "bad_json");
    expect_rejected("{\"schema\":\"phonereport.status/1\"}", false, NULL, "schema");
    char *ok = ev_config(MAC, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL);
    expect_rejected(ok, true, NULL, "schema"); /* config record on the status topic */
    expect_rejected(ok, false, MAC2, "key");
    free(ok);
    char *t = ev_config("00562B043615", "full", "r", "2026-11-24T17:00:00.000Z", "{}", NULL);
    expect_rejected(t, false, NULL, "mac");
    free(t);
    t = ev_config(MAC, "status", "r", "2026-11-24T17:00:00.000Z", "{}", NULL);
    expect_rejected(t, false, NULL, "kind");
    free(t);
    t = ev_config(MAC, "full", "", "2026-11-24T17:00:00.000Z", "{}", NULL);
    expect_rejected(t, false, NULL, "report_id");
    free(t);
    t = ev_config(MAC, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":1}", NULL);
    expect_rejected(t, false, NULL, "params");
    free(t);
    t = ev_config(MAC, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", "{\"A\":1}");
    expect_rejected(t, false, NULL, "access");
    free(t);
    t = ev_status(MAC, "s", "2026-11-24T17:00:00.000Z", "[]");
    expect_rejected(t, true, NULL, "status");
    free(t);
    /* Duplicate member names are refused rather than guessed. */
    expect_rejected("{\"schema\":\"phonereport.config/1\",\"schema\":\"x\"}", false, NULL,
                    "bad_json");
}

/* Every record is keyed by its phone's MAC (DESIGN section 3): a record without a key is as
 * wrong as one with another phone's. */
static void test_events_without_a_record_key_are_rejected(void **state)
{
    (void)state;
    char *t = ev_config(MAC, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL);
    expect_rejected(t, false, NULL, "key");
    expect_rejected(t, false, "", "key");
    expect_rejected(t, false, "00562B043615", "key");
    free(t);
    t = ev_status(MAC, "s", "2026-11-24T17:00:00.000Z", "{}");
    expect_rejected(t, true, NULL, "key");
    free(t);
}

/* received_at is RFC 3339 UTC with milliseconds, as the decoder writes it (the pattern of
 * proto/schemas/config.schema.json, and a real date and time). */
static void test_received_at_must_be_a_utc_timestamp_with_milliseconds(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2026-11-24",
        "2026-11-24T17:00:00Z",
        "2026-11-24T17:00:00.000+01:00",
        "2026-11-24T17:00:00.000z",
        "2026-11-24 17:00:00.000Z",
        "2026-11-24T17:00:00.0000Z",
        "2026-11-24T17:00:00.000Zjunk",
        "2026-13-01T00:00:00.000Z",
        "2026-00-01T00:00:00.000Z",
        "2026-11-00T00:00:00.000Z",
        "2026-02-29T00:00:00.000Z",
        "2026-04-31T00:00:00.000Z",
        "2026-11-24T24:00:00.000Z",
        "2026-11-24T17:60:00.000Z",
        "2026-11-24T17:00:61.000Z",
        "2026-11-24T17:00:60.000Z",
        "xxxxxxxxxxxxxxxxxxxxxxxx",
        "tomorrow, probably",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = ev_config(MAC, "full", "r", bad[i], "{}", NULL);
        expect_rejected(t, false, MAC, "received_at");
        free(t);
        t = ev_status(MAC, "s", bad[i], "{}");
        expect_rejected(t, true, MAC, "received_at");
        free(t);
    }
    static const char *const good[] = {"2024-02-29T23:59:59.999Z", "2000-02-29T00:00:00.000Z",
                                       "2026-12-31T23:59:60.000Z", "1970-01-01T00:00:00.000Z"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        sink_event ev;
        char reason[64] = "", err[256] = "";
        char *t = ev_config(MAC, "full", "r", good[i], "{}", NULL);
        if (sink_event_parse(t, strlen(t), false, MAC, 12, &ev, reason, sizeof reason, err,
                             sizeof err) != PR_OK)
            fail_msg("%s refused: %s %s", good[i], reason, err);
        assert_string_equal(ev.received_at, good[i]);
        sink_event_release(&ev);
        free(t);
    }
}

/* ---- drift ----------------------------------------------------------------------------- */

static void test_drift_emits_transitions_only_never_repeats(void **state)
{
    fx *f = *state;
    write_profile(f, MAC ".xml", "<flat-profile><A>1</A><B>x</B><Gone>z</Gone></flat-profile>");
    rescan(f);
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"1\",\"B\":\"wrong\"}", NULL);
    json_t *d = outbox(f, PR_TOPIC_DRIFT);
    assert_int_equal(json_array_size(d), 1);
    assert_json_equals(json_array_get(d, 0),
                       "{\"schema\":\"phonereport.drift/1\",\"mac\":\"" MAC "\","
                       "\"param\":\"B\",\"intended\":\"x\",\"actual\":\"wrong\","
                       "\"state\":\"drifted\",\"since\":\"2026-11-24T17:00:00.000Z\","
                       "\"version\":1}");
    json_decref(d);
    /* Still drifted (another wrong value, then the same full report again): no record. */
    apply_config(f->st, f->pf, MAC, "delta", "r2", "2026-11-24T17:01:00.000Z",
                 "{\"B\":\"wronger\"}", NULL);
    apply_config(f->st, f->pf, MAC, "full", "r3", "2026-11-24T17:02:00.000Z",
                 "{\"A\":\"1\",\"B\":\"wronger\"}", NULL);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6"), 1);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 1);
    /* Fixed: one resolved record. */
    apply_config(f->st, f->pf, MAC, "delta", "r4", "2026-11-24T17:03:00.000Z", "{\"B\":\"x\"}",
                 NULL);
    d = outbox(f, PR_TOPIC_DRIFT);
    assert_int_equal(json_array_size(d), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "state")),
                        "resolved");
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "since")),
                        "2026-11-24T17:03:00.000Z");
    json_decref(d);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 0);
    /* "Gone" is intended but never reported: not compared, never drifted. */
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6"), 2);
}

static void test_masked_values_are_never_compared(void **state)
{
    fx *f = *state;
    assert_true(sink_drift_masked("****"));
    assert_true(sink_drift_masked("*"));
    assert_false(sink_drift_masked(""));
    assert_false(sink_drift_masked("**a*"));
    write_profile(f, MAC ".xml",
                  "<flat-profile><Password>secret</Password><Admin>*****</Admin></flat-profile>");
    rescan(f);
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"Password\":\"********\",\"Admin\":\"other\"}", NULL);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 0);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6"), 0);
    /* Unmasked and different: drifts. */
    apply_config(f->st, f->pf, MAC, "delta", "r2", "2026-11-24T17:01:00.000Z",
                 "{\"Password\":\"guess\"}", NULL);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 1);
    /* Masked again: not comparable any more, so the drift resolves. */
    apply_config(f->st, f->pf, MAC, "delta", "r3", "2026-11-24T17:02:00.000Z",
                 "{\"Password\":\"**\"}", NULL);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 0);
}

static void test_phone_profile_overrides_default_per_parameter(void **state)
{
    fx *f = *state;
    write_profile(f, "default.xml", "<flat-profile><A>d</A><B>d</B></flat-profile>");
    write_profile(f, "00:56:2B:04:36:15.xml", "<flat-profile><B>own</B></flat-profile>");
    rescan(f);
    assert_int_equal(sink_profiles_count(f->pf), 2);
    assert_string_equal(sink_profiles_intended(f->pf, MAC, "A"), "d");
    assert_string_equal(sink_profiles_intended(f->pf, MAC, "B"), "own");
    assert_string_equal(sink_profiles_intended(f->pf, MAC2, "B"), "d");
    assert_null(sink_profiles_intended(f->pf, MAC2, "C"));
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"d\",\"B\":\"d\"}", NULL);
    apply_config(f->st, f->pf, MAC2, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"d\",\"B\":\"d\"}", NULL);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 1); /* MAC's B only */
}

static void test_profile_reload_recomputes_drift(void **state)
{
    fx *f = *state;
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"A\":\"1\",\"B\":\"2\"}", NULL);
    apply_config(f->st, f->pf, MAC2, "full", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    assert_int_equal(rescan(f), 0); /* empty directory: nothing intended */
    write_profile(f, "default.xml", "<flat-profile><A>9</A></flat-profile>");
    assert_int_equal(rescan(f), 2); /* both phones drift on A */
    assert_int_equal(rescan(f), 0); /* nothing changed: nothing recomputed, no repeats */
    write_profile(f, MAC ".xml", "<flat-profile><A>1</A><B>3</B></flat-profile>");
    assert_int_equal(rescan(f), 2); /* MAC: A resolved, B drifted */
    json_t *d = outbox(f, PR_TOPIC_DRIFT);
    assert_int_equal(json_array_size(d), 4);
    json_t *last = json_array_get(d, 3);
    assert_string_equal(json_string_value(json_object_get(last, "param")), "B");
    assert_string_equal(json_string_value(json_object_get(last, "since")),
                        "2026-11-24T18:00:00.000Z");
    json_decref(d);
    /* A broken file keeps its previous contents (no storm of resolutions). */
    write_profile(f, MAC ".xml", "<flat-profile><A>1</A>");
    assert_int_equal(rescan(f), 0);
    assert_string_equal(sink_profiles_intended(f->pf, MAC, "B"), "3");
    /* Removing the files resolves everything. */
    char path[4300];
    snprintf(path, sizeof path, "%s/" MAC ".xml", f->profiles);
    unlink(path);
    snprintf(path, sizeof path, "%s/default.xml", f->profiles);
    unlink(path);
    assert_int_equal(rescan(f), 2);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 0);
}

static void test_default_profile_change_pages_through_every_phone(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    for (int i = 0; i < 600; i++) {
        char mac[13], reason[64];
        sink_event ev;
        sink_apply_result res;
        snprintf(mac, sizeof mac, "0056%08x", 0x2b100000u + (unsigned)i);
        char *t = ev_config(mac, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"x\"}", NULL);
        assert_int_equal(sink_event_load(NULL, t, strlen(t), false, mac, PR_MAC_LEN, &ev, reason,
                                         sizeof reason, err, sizeof err),
                         PR_OK);
        assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
        sink_event_release(&ev);
        free(t);
    }
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    write_profile(f, "default.xml", "<flat-profile><A>y</A></flat-profile>");
    assert_int_equal(rescan(f), 600);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 600);
    write_profile(f, "default.xml", "<flat-profile><A>x</A></flat-profile>");
    assert_int_equal(rescan(f), 600);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 0);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6"), 1200);
}

static void test_restart_rescans_only_profiles_changed_meanwhile(void **state)
{
    fx *f = *state;
    char err[256], path[4300];
    write_profile(f, "default.xml", "<flat-profile><A>d</A></flat-profile>");
    write_profile(f, MAC ".xml", "<flat-profile><B>own</B></flat-profile>");
    write_profile(f, MAC2 ".xml", "<flat-profile><B>two</B></flat-profile>");
    rescan(f);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_profiles_save(f->st, f->pf, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM profile_files"), 3);

    /* A restart with nothing changed: nothing to recompute, everything in effect. */
    sink_profiles *again = sink_profiles_new(f->profiles);
    sink_profiles_delta d = {0};
    assert_int_equal(sink_store_profiles_load(f->st, again), PR_OK);
    assert_false(sink_profiles_scan(again, &d));
    assert_int_equal(d.len, 0);
    assert_false(d.all);
    assert_string_equal(sink_profiles_intended(again, MAC, "B"), "own");
    sink_profiles_free(again);

    /* Changed and removed while the sink was down: only those. */
    write_profile(f, MAC ".xml", "<flat-profile><B>changed</B></flat-profile>");
    snprintf(path, sizeof path, "%s/" MAC2 ".xml", f->profiles);
    unlink(path);
    again = sink_profiles_new(f->profiles);
    assert_int_equal(sink_store_profiles_load(f->st, again), PR_OK);
    assert_true(sink_profiles_scan(again, &d));
    assert_false(d.all);
    assert_int_equal(d.len, 2);
    assert_true((strcmp(d.macs[0], MAC) == 0 && strcmp(d.macs[1], MAC2) == 0) ||
                (strcmp(d.macs[0], MAC2) == 0 && strcmp(d.macs[1], MAC) == 0));
    sink_profiles_delta_release(&d);
    /* After a failed recompute everything is reported again. */
    sink_profiles_invalidate(again);
    assert_true(sink_profiles_scan(again, &d));
    assert_true(d.all);
    sink_profiles_delta_release(&d);
    sink_profiles_free(again);
}

/* ---- what the sink emits, checked by the independent validator ------------------------ */

static void dump_lines(json_t *arr, const char *path)
{
    FILE *out = fopen(path, "w");
    size_t i;
    json_t *v;
    assert_non_null(out);
    json_array_foreach(arr, i, v)
    {
        char *s = json_dumps(v, JSON_COMPACT);
        fprintf(out, "%s\n", s);
        free(s);
    }
    fclose(out);
}

static void test_emitted_records_match_their_schemas(void **state)
{
    fx *f = *state;
    char path[4300], err[256], mac[PR_MAC_LEN + 1];
    write_profile(f, "default.xml", "<flat-profile><A>1</A><B>x</B></flat-profile>");
    rescan(f);
    apply_config(f->st, f->pf, MAC, "delta", "r1", "2026-11-24T17:00:00.000Z", "{\"B\":\"y\"}",
                 NULL);
    apply_config(f->st, f->pf, MAC, "full", "r2", "2026-11-24T17:01:00.000Z",
                 "{\"A\":\"1\",\"C\":\"c\"}", "{\"A\":\"rw\"}");
    apply_owned(f->st, f->pf, ev_status(MAC, "s", "2026-11-24T17:02:00.000Z", "{}"), true);
    apply_config(f->st, f->pf, MAC, "delta", "r3", "2026-11-24T17:03:00.000Z", "{\"C\":\"d\"}",
                 NULL);
    json_t *changes = outbox(f, PR_TOPIC_CHANGES), *drift = outbox(f, PR_TOPIC_DRIFT);
    /* B removed by the full report (A and C were unknown before it: no change), C by r3. */
    assert_int_equal(json_array_size(changes), 2);
    assert_int_equal(json_array_size(drift), 2);
    snprintf(path, sizeof path, "%s/changes.jsonl", f->dir);
    dump_lines(changes, path);
    assert_int_equal(ts_validate_schema("changes", path), 0);
    snprintf(path, sizeof path, "%s/drift.jsonl", f->dir);
    dump_lines(drift, path);
    assert_int_equal(ts_validate_schema("drift", path), 0);
    char *s = NULL;
    size_t slen = 0;
    int64_t version = 0;
    assert_int_equal(sink_query_state_text(f->st, 1, &s, &slen, &version, mac, err, sizeof err),
                     PR_OK);
    assert_string_equal(mac, MAC);
    assert_int_equal(slen, strlen(s));
    json_t *st = json_loads(s, 0, NULL);
    assert_non_null(st);
    assert_int_equal(json_integer_value(json_object_get(st, "version")), version);
    snprintf(path, sizeof path, "%s/state.json", f->dir);
    ts_write_file(path, s, strlen(s));
    assert_int_equal(ts_validate_schema("state", path), 0);
    /* And the validator does fail on a broken record (so the checks above can fail). */
    json_object_set_new(st, "version", json_string("1"));
    free(s);
    s = json_dumps(st, JSON_COMPACT);
    ts_write_file(path, s, strlen(s));
    assert_int_not_equal(ts_validate_schema("state", path), 0);
    free(s);
    json_decref(st);
    json_decref(changes);
    json_decref(drift);
}

/* The state record is written from the compact document by the streaming writer; the API's
 * config answer is built from the same document through jansson: both must say the same. */
static void test_the_state_record_says_what_the_api_says(void **state)
{
    fx *f = *state;
    char err[256], mac[PR_MAC_LEN + 1], *text = NULL;
    size_t len = 0;
    int64_t version = 0;
    apply_owned(
        f->st, f->pf,
        ev_config(MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                  "{\"Zeta\":\"z\",\"Quote\":\"a \\\"b\\\" c\\\\d\",\"Ctl\":\"\\u0001\\t\\n\","
                  "\"Uni\":\"caf\u00e9 \u20ac \U0001F600\",\"Empty\":\"\",\"a_lower\":\"1\","
                  "\"Proxy_1_\":\"sip.example.com\"}",
                  "{\"Proxy_1_\":\"na\",\"Zeta\":\"rw\"}"),
        false);
    apply_owned(f->st, f->pf,
                ev_config(MAC, "delta", "r2", "2026-11-24T17:01:00.000Z", "{\"Zeta\":\"y\"}", NULL),
                false);
    assert_int_equal(sink_query_state_text(f->st, 1, &text, &len, &version, mac, err, sizeof err),
                     PR_OK);
    json_error_t jerr;
    json_t *state_rec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *cfg = NULL;
    if (!state_rec)
        fail_msg("state record is not JSON: %s: %s", jerr.text, text);
    assert_int_equal(sink_query_config(f->st, MAC, &cfg, err, sizeof err), PR_OK);
    assert_true(json_equal(json_object_get(state_rec, "params"), json_object_get(cfg, "params")));
    assert_true(json_equal(json_object_get(state_rec, "access"), json_object_get(cfg, "access")));
    assert_int_equal(json_object_size(json_object_get(state_rec, "params")), 7);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(state_rec, "params"), "Zeta")), "y");
    assert_int_equal(version, 2);
    assert_int_equal(json_integer_value(json_object_get(state_rec, "version")), 2);
    assert_true(json_is_true(json_object_get(state_rec, "complete")));
    assert_string_equal(json_string_value(json_object_get(state_rec, "report_id")), "r2");
    assert_string_equal(json_string_value(json_object_get(state_rec, "mac")), MAC);
    /* params in byte order, as the API shows them */
    const char *prev = "", *name;
    json_t *v;
    json_object_foreach(json_object_get(state_rec, "params"), name, v)
    {
        assert_true(strcmp(prev, name) < 0);
        prev = name;
    }
    free(text);
    json_decref(state_rec);
    json_decref(cfg);
}

/* Applies a full report of MAC with params_json (and access_json), then reads its
 * configuration back as XML (?format=xml) and parses that: the XML text (caller frees) and fp. */
static char *full_report_as_xml(fx *f, const char *params_json, const char *access_json,
                                pr_flat_profile *fp)
{
    char err[256];
    char *xml = NULL;
    size_t len = 0;
    pr_xml_error why;
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z", params_json,
                 access_json);
    assert_int_equal(sink_query_config_xml(f->st, MAC, &xml, &len, err, sizeof err), PR_OK);
    if (pr_flatprofile_parse(xml, len, NULL, fp, &why, err, sizeof err) != PR_OK)
        fail_msg("the XML does not parse: %s", err);
    return xml;
}

static void test_config_xml_feeds_back_into_the_same_params(void **state)
{
    fx *f = *state;
    pr_flat_profile fp;
    char *xml =
        full_report_as_xml(f,
                           "{\"Display_Name_1_\":\"Alice & <Bob> \\\"q\\\"\",\"Empty\":\"\","
                           "\"Dial_Plan_1_\":\"(*xx|[3469]11|0|00)\",\"Odd.Name-x__y\":\"a'b\"}",
                           "{\"Display_Name_1_\":\"rw\",\"Empty\":\"na\"}", &fp);
    json_t *doc = config_doc(f, MAC);
    json_t *params = json_object_get(doc, "params"), *access = json_object_get(doc, "access");
    assert_int_equal(fp.len, json_object_size(params));
    for (size_t i = 0; i < fp.len; i++) {
        json_t *v = json_object_get(params, fp.params[i].name);
        assert_non_null(v);
        assert_string_equal(fp.params[i].value, json_string_value(v));
        json_t *a = json_object_get(access, fp.params[i].name);
        assert_string_equal(fp.params[i].ua, a ? json_string_value(a) : "");
    }
    pr_flatprofile_release(&fp);
    json_decref(doc);
    free(xml);
}

/* A parameter name that is not an XML name (the config contract does not forbid one) must
 * not inject markup into ?format=xml: here it would add Admin_Passwd=pwn to the profile. */
static void test_config_xml_omits_names_that_would_inject_markup(void **state)
{
    fx *f = *state;
    pr_flat_profile fp;
    char *xml = full_report_as_xml(
        f, "{\"Display_Name_1_\":\"Alice\",\"Admin_Passwd>pwn</Admin_Passwd><X\":\"\"}", NULL, &fp);
    assert_int_equal(fp.len, 1);
    assert_string_equal(fp.params[0].name, "Display_Name_1_");
    assert_string_equal(fp.params[0].value, "Alice");
    assert_null(strstr(xml, "Admin_Passwd"));
    pr_flatprofile_release(&fp);
    free(xml);
}

static void test_config_check_reports_every_problem(void **state)
{
    (void)state;
    sink_cfg cfg = {0};
    char *buf = NULL;
    size_t len = 0;
    cfg.api_listen = "nonsense";
    cfg.data_dir = "/nonexistent/deeper/dir";
    cfg.profiles_dir = "/nonexistent";
    cfg.group = "";
    cfg.sync = "sometimes";
    cfg.rebaseline_credentials = "/nonexistent/creds.json";
    cfg.rebaseline_proxy = "http://not-sip";
    pr_errlist errs = {0};
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(sink_cfg_check(&cfg, NULL, &errs), PR_EINVAL);
    pr_errlist_print(&errs, NULL, out);
    pr_errlist_release(&errs);
    fclose(out);
    assert_non_null(strstr(buf, "api-listen"));
    assert_non_null(strstr(buf, "data-dir"));
    assert_non_null(strstr(buf, "profiles-dir"));
    assert_non_null(strstr(buf, "sink-group"));
    assert_non_null(strstr(buf, "sink-sync"));
    assert_non_null(strstr(buf, "rebaseline-credentials"));
    assert_non_null(strstr(buf, "rebaseline-proxy"));
    free(buf);
}

/* Applies a record as if it came from partition part (the consumer sets it). */
static void apply_in_part(fx *f, sink_store *st, char *text, int32_t part)
{
    sink_event ev;
    sink_apply_result res;
    char reason[64], err[256], key[PR_MAC_LEN + 1];
    assert_int_equal(sink_event_load(NULL, text, strlen(text), false, ev_key(text, key), PR_MAC_LEN,
                                     &ev, reason, sizeof reason, err, sizeof err),
                     PR_OK);
    ev.partition = part;
    assert_int_equal(sink_store_begin(st, err, sizeof err), PR_OK);
    assert_int_equal(sink_apply(st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(st, err, sizeof err), PR_OK);
    sink_event_release(&ev);
    free(text);
}

/* Two sinks sharing a PostgreSQL store each ask only their own partitions' phones for a report
 * (before, every sink asked every phone: N NOTIFYs per phone for N sinks). SQLite has one
 * sink, which owns every phone. */
static void test_rebaseline_candidates_are_the_owned_partitions_phones(void **state)
{
    fx *f = *state;
    char err[256];
    sink_store *other = NULL;
    apply_in_part(f, f->st,
                  ev_config(MAC, "delta", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL),
                  0);
    apply_in_part(f, f->st,
                  ev_config(MAC2, "delta", "r2", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL),
                  1);
    assert_int_equal(sink_store_open(f->where, false, "normal", &other, err, sizeof err), PR_OK);
    sink_rb_target out[8];
    size_t n = 0;
    sink_rb_policy p0 = {
        "2026-11-24T18:00:00.000Z", NULL, "2026-11-24T18:00:00.000Z", 5060, NULL, "{0}"};
    sink_rb_policy p1 = p0;
    p1.parts = "{1}";
    assert_int_equal(sink_rebaseline_candidates(f->st, &p0, 8, out, &n, err, sizeof err), PR_OK);
    if (sinktest_pg()) {
        assert_int_equal(n, 1);
        assert_string_equal(out[0].mac, MAC);
    } else {
        assert_int_equal(n, 2);
    }
    assert_int_equal(sink_rebaseline_candidates(other, &p1, 8, out, &n, err, sizeof err), PR_OK);
    if (sinktest_pg()) {
        assert_int_equal(n, 1);
        assert_string_equal(out[0].mac, MAC2);
    } else {
        assert_int_equal(n, 2);
    }
    sink_store_close(other);
}

/* A drift recompute costs two statements per phone (its document and its drift rows) plus one
 * per transition, whatever the profile's size (before: two per intended parameter and phone, so
 * a partition assignment on a shared store held the consumer thread for minutes). */
static void test_drift_recompute_costs_two_statements_per_phone(void **state)
{
    fx *f = *state;
    char prof[4096];
    size_t o = (size_t)snprintf(prof, sizeof prof, "<flat-profile>");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(prof + o, sizeof prof - o, "<P%d>v%d</P%d>", i, i, i);
    snprintf(prof + o, sizeof prof - o, "</flat-profile>");
    for (int i = 0; i < 50; i++) {
        char mac[13];
        snprintf(mac, sizeof mac, "0056%08x", 0x2b200000u + (unsigned)i);
        apply_config(f->st, f->pf, mac, "full", "r", "2026-11-24T17:00:00.000Z",
                     "{\"P0\":\"v0\",\"P1\":\"other\"}", NULL);
    }
    write_profile(f, "default.xml", prof);
    long long before = sink_store_statements(f->st);
    assert_int_equal(rescan(f), 50); /* P1 drifts on every phone */
    long long used = sink_store_statements(f->st) - before;
    /* per phone: document, drift rows, the drift row written and its outbox record; plus the
     * phone listing and the transaction's begin and commit */
    if (used > 50 * 4 + 8)
        fail_msg("%lld statements for 50 phones", used);
    before = sink_store_statements(f->st);
    write_profile(f, "default.xml", prof); /* touched, same content: no transition */
    assert_int_equal(rescan(f), 0);
    used = sink_store_statements(f->st) - before;
    if (used > 50 * 2 + 8)
        fail_msg("%lld statements for 50 phones without a transition", used);
}

/* What a restart means for drift: SQLite remembers the applied profile files and recomputes
 * only what changed meanwhile; a shared PostgreSQL store keeps no list (each sink reads its own
 * profiles directory), so every start recomputes the drift of the sink's phones, which writes
 * nothing when nothing changed: no transition is published twice. */
static void test_a_restart_publishes_no_drift_transition_twice(void **state)
{
    fx *f = *state;
    char err[256];
    write_profile(f, "default.xml", "<flat-profile><A>d</A></flat-profile>");
    rescan(f);
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"x\"}",
                 NULL);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_profiles_save(f->st, f->pf, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    long long records = q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6");
    assert_int_equal(records, 1);

    /* the start: load what was applied, scan, recompute (a shared store: every phone, as the
     * consumer does on its first assignment) */
    sink_profiles *again = sink_profiles_new(f->profiles);
    sink_profiles_delta d = {0};
    unsigned transitions = 0;
    assert_int_equal(sink_store_profiles_load(f->st, again), PR_OK);
    bool changed = sink_profiles_scan(again, &d);
    assert_true(changed == sinktest_pg());
    if (sinktest_pg())
        d.all = true;
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_drift_profiles_changed(f->st, again, &d, "2026-11-24T18:00:00.000Z", NULL,
                                                 true, &transitions, err, sizeof err),
                     PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    assert_int_equal(transitions, 0);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 6"), records);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 1);
    sink_profiles_delta_release(&d);
    sink_profiles_free(again);
}

/* PostgreSQL: the writer's writes are pipelined, so a batch costs a round trip per read, not
 * per statement; a write that fails in the pipeline fails the commit, and nothing of the
 * transaction stays. SQLite runs every statement at once (no round trips to save). */
static void test_pipelined_writes_save_round_trips_and_fail_the_commit(void **state)
{
    fx *f = *state;
    char err[256], reason[64];
    sink_store_set_pipeline(f->st, true);
    assert_int_equal(sink_store_index_configure(f->st, NULL, err, sizeof err), PR_OK);
    long long s0 = sink_store_statements(f->st), r0 = sink_store_round_trips(f->st);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    for (int i = 0; i < 40; i++) {
        char mac[13];
        sink_event ev;
        sink_apply_result res;
        snprintf(mac, sizeof mac, "0056%08x", 0x2b300000u + (unsigned)i);
        char *t = ev_config(mac, "full", "r", "2026-11-24T17:00:00.000Z",
                            "{\"A\":\"1\",\"B\":\"2\",\"Proxy_1_\":\"sip.example.com\"}", NULL);
        assert_int_equal(sink_event_load(NULL, t, strlen(t), false, mac, PR_MAC_LEN, &ev, reason,
                                         sizeof reason, err, sizeof err),
                         PR_OK);
        assert_int_equal(sink_apply(f->st, f->pf, NULL, &ev, &res, err, sizeof err), PR_OK);
        assert_int_equal(sink_store_offset_put(f->st, "x.config", 0, i + 1, err, sizeof err),
                         PR_OK);
        sink_event_release(&ev);
        free(t);
    }
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    long long stmts = sink_store_statements(f->st) - s0, trips = sink_store_round_trips(f->st) - r0;
    if (sinktest_pg() && trips * 10 > stmts * 6)
        fail_msg("%lld round trips for %lld statements", trips, stmts);
    if (!sinktest_pg())
        assert_int_equal(trips, stmts);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM phones"), 40);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM pindex"), 40);

    /* Two drift rows with the same key: the second write fails, at once (SQLite) or at the
     * commit (PostgreSQL); the transaction is rolled back either way. */
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    assert_int_equal(sink_store_offset_put(f->st, "x.config", 0, 99, err, sizeof err), PR_OK);
    pr_status rc = PR_OK;
    for (int k = 0; k < 2 && rc == PR_OK; k++) {
        sink_stmt *s = sink_store_stmt(f->st, Q_DRIFT_INSERT);
        assert_non_null(s);
        sink_bind_int64(s, 1, 1);
        sink_bind_text(s, 2, "A");
        sink_bind_text(s, 3, "x");
        sink_bind_text(s, 4, "y");
        sink_bind_text(s, 5, "2026-11-24T17:00:00.000Z");
        sink_bind_int64(s, 6, 1);
        rc = sink_exec_stmt(s, "drift", err, sizeof err);
    }
    assert_int_equal(rc == PR_OK, sinktest_pg()); /* PostgreSQL: queued, not yet run */
    if (rc == PR_OK)
        assert_int_not_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    sink_store_rollback(f->st);
    assert_int_equal(sink_store_offset_get(f->st, "x.config", 0), 40);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift WHERE param = 'A'"), 0);
    /* and the connection goes on */
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    assert_string_equal(param(f, MAC, "A"), "1");
}

int main(void)
{
    pr_jarena_install(); /* events parse in arenas, as in the binary */
    const struct CMUnitTest tests[] = {
        APITEST(test_full_report_sets_params_and_completes_the_phone, setup),
        APITEST(test_first_report_delta_leaves_the_phone_incomplete, setup),
        APITEST(test_delta_upserts_only_what_it_carries, setup),
        APITEST(test_full_report_removes_vanished_params_as_changes_to_null, setup),
        APITEST(test_first_report_is_a_baseline_and_emits_no_change, setup),
        APITEST(test_identical_full_report_touches_only_the_phone_row, setup),
        APITEST(test_fast_path_only_for_plain_identical_members, setup),
        APITEST(test_report_beyond_the_bounds_is_refused_and_the_state_kept, setup),
        APITEST(test_status_replaces_the_latest_status_without_a_version, setup),
        APITEST(test_source_fields_do_not_depend_on_topic_interleaving, setup),
        APITEST(test_change_history_is_pruned_by_whole_reports, setup),
        APITEST(test_report_of_unknown_kind_is_applied_as_a_delta, setup),
        APITEST(test_unknown_phone_is_not_found, setup),
        APITEST(test_offsets_commit_and_roll_back_with_the_state, setup),
        cmocka_unit_test(test_events_that_violate_the_contract_are_rejected),
        cmocka_unit_test(test_events_without_a_record_key_are_rejected),
        cmocka_unit_test(test_received_at_must_be_a_utc_timestamp_with_milliseconds),
        APITEST(test_drift_emits_transitions_only_never_repeats, setup),
        APITEST(test_masked_values_are_never_compared, setup),
        APITEST(test_phone_profile_overrides_default_per_parameter, setup),
        APITEST(test_profile_reload_recomputes_drift, setup),
        APITEST(test_default_profile_change_pages_through_every_phone, setup),
        APITEST(test_restart_rescans_only_profiles_changed_meanwhile, setup),
        APITEST(test_emitted_records_match_their_schemas, setup),
        APITEST(test_the_state_record_says_what_the_api_says, setup),
        APITEST(test_config_xml_feeds_back_into_the_same_params, setup),
        APITEST(test_config_xml_omits_names_that_would_inject_markup, setup),
        APITEST(test_offset_read_failure_is_not_taken_for_no_offset, setup),
        cmocka_unit_test(test_config_check_reports_every_problem),
        APITEST(test_a_store_with_a_newer_schema_is_refused, setup),
        APITEST(test_a_sink_that_lost_its_partition_cannot_commit, setup),
        APITEST(test_rebaseline_candidates_are_the_owned_partitions_phones, setup),
        APITEST(test_drift_recompute_costs_two_statements_per_phone, setup),
        APITEST(test_a_restart_publishes_no_drift_transition_twice, setup),
        APITEST(test_pipelined_writes_save_round_trips_and_fail_the_commit, setup),
    };
    /* The first two count rows written through SQLite's own counter (PostgreSQL has none per
     * connection that is current at once); a shared PostgreSQL store keeps no list of applied
     * profile files (each sink recomputes its own partitions' drift when it starts). */
    static const char *const sqlite_only[] = {
        "test_identical_full_report_touches_only_the_phone_row",
        "test_report_beyond_the_bounds_is_refused_and_the_state_kept",
        "test_restart_rescans_only_profiles_changed_meanwhile", NULL};
    return sinktest_run(sinktest_pg() ? "test_sink_state (postgres)" : "test_sink_state", tests,
                        sizeof tests / sizeof tests[0], sqlite_only);
}
