/*
 * test_sink_history.c - a phone's configuration at a version or a time, rebuilt from the
 * current document and the kept changes, and the diffs (one phone over time, two phones),
 * over real HTTP (curl) on a store filled through the apply path; with the bad-input
 * catalogue: unknown phone, malformed points, versions out of range, a time before the
 * first report, a history window that no longer reaches (410 with the oldest point served).
 * Run on SQLite and, as test_sink_history_pg, on PostgreSQL.
 */
#include "apitest.h"

#define MAC  "00562b043615" /* four versions: full, delta, full, the same full again */
#define MAC2 "00562b043616" /* compared with MAC */
#define MAC3 "00562b043617" /* 70 versions with 3 change rows kept: pruned at version 64 */
#define MACS "00562b043618" /* a status report only */
#define MACU "00562b0436ff" /* never reported */

#define T1 "2026-11-24T10:00:00.000Z"
#define T2 "2026-11-24T11:00:00.000Z"
#define T3 "2026-11-24T12:00:00.000Z"
#define T4 "2026-11-24T13:00:00.000Z"

typedef apitest fx;

static const char v3_params[] = "{\"A\":\"3\",\"C\":\"=SUM(1,2)\",\"P\":\"****\"}";

static char *x_at(int i)
{
    char at[48];
    snprintf(at, sizeof at, "2026-11-25T%02d:%02d:00.000Z", i / 60, i % 60);
    return strdup(at);
}

static int setup(void **state)
{
    fx *f = apitest_new("hist", NULL);
    apply_config(f->st, f->pf, MAC, "full", "r1", T1, "{\"A\":\"1\",\"B\":\"2\",\"P\":\"****\"}",
                 "{\"A\":\"rw\"}");
    apply_config(f->st, f->pf, MAC, "delta", "r2", T2, "{\"A\":\"3\"}", "{\"A\":\"rw\"}");
    /* B goes, C comes (changes to and from null) */
    apply_config(f->st, f->pf, MAC, "full", "r3", T3, v3_params, "{\"A\":\"rw\"}");
    apply_config(f->st, f->pf, MAC, "full", "r4", T4, v3_params, "{\"A\":\"rw\"}");
    apply_config(f->st, f->pf, MAC2, "full", "q1", T1,
                 "{\"A\":\"3\",\"C\":\"=SUM(1,2)\",\"P\":\"********\",\"D\":\"d\"}",
                 "{\"A\":\"na\"}");
    apply_owned(f->st, f->pf, ev_status(MACS, "s1", T1, "{\"Uptime\":\"1\"}"), true);
    /* MAC3: X is the version's number from version 2 on; pruned to 3 rows at version 64 */
    apply_config(f->st, f->pf, MAC3, "full", "x1", "2026-11-25T00:01:00.000Z",
                 "{\"X\":\"1\",\"Y\":\"y\"}", NULL);
    for (int v = 2; v <= 70; v++) {
        char id[16], params[64], *at = x_at(v);
        snprintf(id, sizeof id, "x%d", v);
        snprintf(params, sizeof params, "{\"X\":\"%d\"}", v);
        char *ev = ev_config(MAC3, "delta", id, at, params, NULL);
        apply_text_keep(f->st, f->pf, ev, false, 3);
        free(ev);
        free(at);
    }
    apitest_serve(f, NULL);
    *state = f;
    return 0;
}

static json_t *get(fx *f, const char *path, int code)
{
    return apitest_json(f->port, path, code);
}

/* GET path (curl's extra arguments may be NULL): asserts the status and, when type is given,
 * the content type; returns the body (caller frees). */
static char *get_text(fx *f, const char *path, const char *extra, int code, const char *type)
{
    char *body = NULL, *ctype = NULL;
    int got = apitest_curl(f->port, "GET", path, extra, &body, &ctype, NULL);
    if (got != code || (type && !strstr(ctype, type)))
        fail_msg("GET %s: %d %s (wanted %d %s)", path, got, ctype, code, type ? type : "");
    free(ctype);
    return body;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* The config at path: params as compact sorted JSON text, and its version. */
static void expect_config(fx *f, const char *path, long long version, const char *params)
{
    json_t *doc = get(f, path, 200);
    char *p = json_dumps(json_object_get(doc, "params"), JSON_COMPACT | JSON_SORT_KEYS);
    if (strcmp(p, params) != 0 || num(doc, "version") != version)
        fail_msg("GET %s: version %lld params %s (wanted %lld %s)", path, num(doc, "version"), p,
                 version, params);
    assert_true(json_is_true(json_object_get(doc, "rebuilt")));
    assert_int_equal(num(doc, "current_version"), 4); /* every path here is MAC's */
    free(p);
    json_decref(doc);
}

/* MAC's parameters at versions 1, 2 and 3 (4 is 3 again), as compact sorted JSON */
static const char v1[] = "{\"A\":\"1\",\"B\":\"2\",\"P\":\"****\"}";
static const char v2[] = "{\"A\":\"3\",\"B\":\"2\",\"P\":\"****\"}";
static const char v3[] = "{\"A\":\"3\",\"C\":\"=SUM(1,2)\",\"P\":\"****\"}";

static void test_config_at_a_version_undoes_the_later_changes(void **state)
{
    fx *f = *state;
    expect_config(f, "/v1/phones/" MAC "/config?at=version=1", 1, v1);
    expect_config(f, "/v1/phones/" MAC "/config?at=version=2", 2, v2);
    expect_config(f, "/v1/phones/" MAC "/config?at=version=3", 3, v3);
    expect_config(f, "/v1/phones/" MAC "/config?at=version=4", 4, v3);
    /* the access kept is the current one; a parameter brought back has none */
    json_t *doc = get(f, "/v1/phones/" MAC "/config?at=version=1", 200);
    assert_string_equal(str(json_object_get(doc, "access"), "A"), "rw");
    assert_null(json_object_get(json_object_get(doc, "access"), "B"));
    assert_string_equal(str(doc, "valid_until"), T2);
    assert_true(json_is_null(json_object_get(doc, "at")));
    json_decref(doc);
}

static void test_config_at_a_time_names_the_version_it_shows(void **state)
{
    fx *f = *state;
    expect_config(f, "/v1/phones/" MAC "/config?at=2026-11-24T10:30:00Z", 1, v1);
    expect_config(f, "/v1/phones/" MAC "/config?at=" T1, 1, v1);
    expect_config(f, "/v1/phones/" MAC "/config?at=2026-11-24T11:59:59.999Z", 2, v2);
    /* after the last change: the current document and version (an age is "now minus") */
    expect_config(f, "/v1/phones/" MAC "/config?at=2026-11-24T12:00:00Z", 4, v3);
    expect_config(f, "/v1/phones/" MAC "/config?at=1s", 4, v3);
    json_t *doc = get(f, "/v1/phones/" MAC "/config?at=2026-11-24T11:30:00Z", 200);
    assert_string_equal(str(doc, "at"), "2026-11-24T11:30:00.000Z");
    assert_string_equal(str(doc, "valid_until"), T3);
    json_decref(doc);
}

static void test_config_at_as_xml_is_the_flat_profile_of_that_version(void **state)
{
    fx *f = *state;
    char *body = get_text(f, "/v1/phones/" MAC "/config?at=version=1&format=xml", NULL, 200,
                          "application/xml");
    assert_non_null(strstr(body, "<B>2</B>"));
    assert_non_null(strstr(body, "<A ua=\"rw\">1</A>"));
    assert_null(strstr(body, "<C"));
    assert_non_null(strstr(body, "version 1"));
    free(body);
    apitest_expect_error(f->port, "GET", "/v1/phones/" MAC "/config?at=version=1&format=yaml", 400,
                         "format");
}

/* A catalogue of refusals: each GET gets the status and {"error"} naming the reason. */
typedef struct refusal {
    const char *path;
    int code;
    const char *reason;
} refusal;

static void expect_refusals(fx *f, const refusal *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        apitest_expect_error(f->port, "GET", r[i].path, r[i].code, r[i].reason);
}

static void test_config_at_refuses_bad_points(void **state)
{
    fx *f = *state;
    const char *bad[] = {"version=0",        "version=",  "version=-1", "version=x",
                         "version=1e3",      "yesterday", "2026-13-01", "2026-11-24T25:00:00Z",
                         "2026-11-24+10:00", "-2h",       "2h30m",      ""};
    char path[256];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "/v1/phones/" MAC "/config?at=%s", bad[i]);
        apitest_expect_error(f->port, "GET", path, 400, "at: expected");
    }
    static const refusal r[] = {
        {"/v1/phones/" MAC "/config?at=version=5", 400, "version 4 (expected 1..4)"},
        {"/v1/phones/" MAC "/config?at=2026-11-24T09:59:59Z", 404, "before the phone's first"},
        {"/v1/phones/" MACU "/config?at=version=1", 404, "unknown phone"},
        {"/v1/phones/" MACS "/config?at=version=1", 404, "no configuration report"},
        {"/v1/phones/zz/config?at=version=1", 400, "malformed MAC"},
        {"/v1/phones/" MAC "/config?at=1h&since=1", 400, "unknown query parameter"},
    };
    expect_refusals(f, r, sizeof r / sizeof *r);
}

/* 410 with the oldest point served, and that point served exactly. */
static void test_a_point_before_the_kept_history_is_gone(void **state)
{
    fx *f = *state;
    /* at version 64 the prune kept 3 change rows: the reports of versions 62..64; version 61
     * is the newest pruned, its state (X=61) the oldest one still known */
    char *oldest = x_at(61);
    char *body = get_text(f, "/v1/phones/" MAC3 "/config?at=version=60", NULL, 410, NULL);
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    assert_non_null(strstr(str(doc, "error"), "sink-changes-keep"));
    assert_string_equal(str(doc, "oldest"), oldest);
    assert_int_equal(num(doc, "oldest_version"), 61);
    json_decref(doc);
    free(body);
    body = get_text(f, "/v1/phones/" MAC3 "/config?at=2026-11-25T00:02:00Z", NULL, 410, NULL);
    assert_non_null(strstr(body, oldest));
    free(body);

    doc = get(f, "/v1/phones/" MAC3 "/config?at=version=61", 200);
    assert_string_equal(str(json_object_get(doc, "params"), "X"), "61");
    assert_string_equal(str(json_object_get(doc, "params"), "Y"), "y");
    json_decref(doc);
    char path[128];
    snprintf(path, sizeof path, "/v1/phones/" MAC3 "/config?at=%s", oldest);
    doc = get(f, path, 200);
    assert_string_equal(str(json_object_get(doc, "params"), "X"), "61");
    assert_int_equal(num(doc, "version"), 61);
    json_decref(doc);
    doc = get(f, "/v1/phones/" MAC3 "/config?at=version=66", 200);
    assert_string_equal(str(json_object_get(doc, "params"), "X"), "66");
    json_decref(doc);
    apitest_expect_error(f->port, "GET", "/v1/phones/" MAC3 "/config?at=version=71", 400,
                         "version 70");
    /* the diff from a point the history lost is gone too */
    free(get_text(f, "/v1/phones/" MAC3 "/diff?from=version=2", NULL, 410, NULL));
    free(oldest);
}

static json_t *entry(json_t *list, size_t i)
{
    return json_array_get(list, i);
}

static void test_diff_of_two_versions_lists_added_removed_changed(void **state)
{
    fx *f = *state;
    json_t *doc = get(f, "/v1/phones/" MAC "/diff?from=version=1&to=version=3", 200);
    json_t *added = json_object_get(doc, "added"), *removed = json_object_get(doc, "removed"),
           *changed = json_object_get(doc, "changed");
    assert_int_equal(json_array_size(added), 1);
    assert_int_equal(json_array_size(removed), 1);
    assert_int_equal(json_array_size(changed), 1);
    assert_string_equal(str(entry(added, 0), "name"), "C");
    assert_true(json_is_null(json_object_get(entry(added, 0), "old")));
    assert_string_equal(str(entry(added, 0), "new"), "=SUM(1,2)");
    assert_string_equal(str(entry(removed, 0), "name"), "B");
    assert_string_equal(str(entry(removed, 0), "old"), "2");
    assert_string_equal(str(entry(changed, 0), "name"), "A");
    assert_string_equal(str(entry(changed, 0), "old"), "1");
    assert_string_equal(str(entry(changed, 0), "new"), "3");
    assert_string_equal(str(entry(changed, 0), "access"), "rw");
    assert_int_equal(num(json_object_get(doc, "from"), "version"), 1);
    assert_int_equal(num(json_object_get(doc, "to"), "version"), 3);
    json_decref(doc);
    /* to defaults to now; a time works as well as a version */
    doc = get(f, "/v1/phones/" MAC "/diff?from=2026-11-24T11:30:00Z", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "changed")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "added")), 1);
    assert_int_equal(num(json_object_get(doc, "to"), "version"), 4);
    json_decref(doc);
    /* no difference: empty lists */
    doc = get(f, "/v1/phones/" MAC "/diff?from=version=3&to=version=4", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "added")) +
                         json_array_size(json_object_get(doc, "removed")) +
                         json_array_size(json_object_get(doc, "changed")),
                     0);
    json_decref(doc);
}

static void test_diff_as_csv_neutralises_formulas_and_as_ndjson(void **state)
{
    fx *f = *state;
    char *body =
        get_text(f, "/v1/phones/" MAC "/diff?from=version=1&format=csv", NULL, 200, "text/csv");
    const char *want = "change,name,old,new,access,old_access\r\n"
                       "changed,A,1,3,rw,rw\r\n"
                       "removed,B,2,,,\r\n"
                       "added,C,,\"'=SUM(1,2)\",,\r\n";
    if (strcmp(body, want) != 0)
        fail_msg("CSV:\n%s\nwanted:\n%s", body, want);
    free(body);
    body = get_text(f, "/v1/phones/" MAC "/diff?from=version=1",
                    "-H 'Accept: application/x-ndjson'", 200, "application/x-ndjson");
    int lines = 0;
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_t *row = json_loads(line, 0, NULL);
        assert_non_null(row);
        assert_non_null(str(row, "change"));
        json_decref(row);
    }
    assert_int_equal(lines, 3);
    free(body);
}

static void test_diff_refuses_bad_input(void **state)
{
    static const refusal r[] = {
        {"/v1/phones/" MAC "/diff", 400, "from: required"},
        {"/v1/phones/" MAC "/diff?from=soon", 400, "from: expected"},
        {"/v1/phones/" MAC "/diff?from=version=1&to=version=9", 400, "expected 1..4"},
        {"/v1/phones/" MAC "/diff?from=version=1&to=x", 400, "to: expected"},
        {"/v1/phones/" MAC "/diff?from=2020-01-01", 404, "first report"},
        {"/v1/phones/" MACU "/diff?from=version=1", 404, "unknown phone"},
        {"/v1/phones/" MAC "/diff?from=version=1&format=xml", 400, "format"},
        {"/v1/phones/" MAC "/diff?from=version=1&limit=2", 400, "unknown query parameter"},
    };
    expect_refusals(*state, r, sizeof r / sizeof *r);
}

static void test_two_phones_compare_masked_values_as_masked(void **state)
{
    fx *f = *state;
    json_t *doc = get(f, "/v1/diff?a=" MAC "&b=00:56:2B:04:36:16", 200);
    assert_string_equal(str(json_object_get(doc, "b"), "mac"), MAC2);
    json_t *changed = json_object_get(doc, "changed"), *added = json_object_get(doc, "added");
    /* A: same value, access rw against na; P: **** against ********, both masked: equal */
    assert_int_equal(json_array_size(changed), 1);
    assert_string_equal(str(entry(changed, 0), "name"), "A");
    assert_string_equal(str(entry(changed, 0), "old_access"), "rw");
    assert_string_equal(str(entry(changed, 0), "access"), "na");
    assert_int_equal(json_array_size(added), 1);
    assert_string_equal(str(entry(added, 0), "name"), "D");
    assert_int_equal(json_array_size(json_object_get(doc, "removed")), 0);
    assert_null(json_object_get(doc, "same"));
    json_decref(doc);
    doc = get(f, "/v1/diff?a=" MAC "&b=" MAC2 "&only=all", 200);
    json_t *same = json_object_get(doc, "same");
    assert_int_equal(json_array_size(same), 2); /* C and P */
    assert_string_equal(str(entry(same, 1), "name"), "P");
    assert_string_equal(str(entry(same, 1), "old"), "****");
    assert_string_equal(str(entry(same, 1), "new"), "********");
    json_decref(doc);
    char *body = get_text(f, "/v1/diff?a=" MAC "&b=" MAC2 "&format=csv", NULL, 200, "text/csv");
    assert_string_equal(body, "change,name,old,new,access,old_access\r\n"
                              "changed,A,3,3,na,rw\r\n"
                              "added,D,,d,,\r\n");
    free(body);
}

static void test_two_phones_compare_refuses_bad_input(void **state)
{
    static const refusal r[] = {
        {"/v1/diff?a=" MAC, 400, "b: required"},
        {"/v1/diff?b=" MAC, 400, "a: required"},
        {"/v1/diff?a=" MAC "&b=xyz", 400, "b:"},
        {"/v1/diff?a=" MAC "&b=" MACU, 404, "unknown phone"},
        {"/v1/diff?a=" MACS "&b=" MAC, 404, "no configuration report"},
        {"/v1/diff?a=" MAC "&b=" MAC2 "&only=some", 400, "only: expected"},
        {"/v1/diff?a=" MAC "&b=" MAC2 "&c=1", 400, "unknown query parameter"},
        {"/v1/diff?a=" MAC "&b=" MAC2 "&format=xml", 400, "format"},
    };
    expect_refusals(*state, r, sizeof r / sizeof *r);
}

/* Without re-baseline (no SIP sender) a resync cannot be asked: 503; and the summary says
 * no resync was ever asked. */
static void test_resync_without_rebaseline_is_unavailable(void **state)
{
    fx *f = *state;
    apitest_expect_error(f->port, "POST", "/v1/phones/" MAC "/resync", 503, "not configured");
    apitest_expect_error(f->port, "GET", "/v1/phones/" MAC "/resync", 404, "no such resource");
    json_t *doc = get(f, "/v1/phones/" MAC, 200);
    assert_true(json_is_null(json_object_get(doc, "remediation")));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_at_a_version_undoes_the_later_changes),
        cmocka_unit_test(test_config_at_a_time_names_the_version_it_shows),
        cmocka_unit_test(test_config_at_as_xml_is_the_flat_profile_of_that_version),
        cmocka_unit_test(test_config_at_refuses_bad_points),
        cmocka_unit_test(test_a_point_before_the_kept_history_is_gone),
        cmocka_unit_test(test_diff_of_two_versions_lists_added_removed_changed),
        cmocka_unit_test(test_diff_as_csv_neutralises_formulas_and_as_ndjson),
        cmocka_unit_test(test_diff_refuses_bad_input),
        cmocka_unit_test(test_two_phones_compare_masked_values_as_masked),
        cmocka_unit_test(test_two_phones_compare_refuses_bad_input),
        cmocka_unit_test(test_resync_without_rebaseline_is_unavailable),
    };
    /* one store for every test: they only read it */
    return cmocka_run_group_tests(tests, setup, apitest_teardown);
}
