/*
 * test_sink_api.c - the query API over real HTTP (curl as the independent client) on a store
 * filled through the apply path: the exact /config document the phone simulator checks,
 * pagination and filters, the XML round trip, and the bad-input catalogue (unknown MAC 404,
 * malformed MAC 400, bad or unknown query parameters 400, wrong method 405, unknown path 404).
 */
#include "apitest.h"

#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"

#define MAC  "00562b043615"
#define MAC2 "00562b043616"

typedef apitest fx;

static int setup(void **state)
{
    fx *f =
        apitest_new("api", "<flat-profile><Display_Name_1_>Alice</Display_Name_1_></flat-profile>");
    /* MAC's baseline, then a full report that changes its four values (four changes). */
    apply_config(f->st, f->pf, MAC, "full", "r0", "2026-11-24T16:59:00.000Z",
                 "{\"Display_Name_1_\":\"Bob\",\"Admin_Passwd\":\"***\","
                 "\"Dial_Plan_1_\":\"(xx)\",\"Empty\":\"e\"}",
                 NULL);
    apply_config(f->st, f->pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"Display_Name_1_\":\"Alice\",\"Admin_Passwd\":\"****\","
                 "\"Dial_Plan_1_\":\"(*xx|[3469]11|<:1>xx.)\",\"Empty\":\"\"}",
                 "{\"Display_Name_1_\":\"rw\",\"Admin_Passwd\":\"na\"}");
    apply_config(f->st, f->pf, MAC2, "delta", "r2", "2026-11-24T17:01:00.000Z",
                 "{\"Display_Name_1_\":\"Mallory\"}", NULL);
    apply_owned(f->st, f->pf,
                ev_status(MAC2, "s1", "2026-11-24T17:02:00.000Z", "{\"Uptime\":\"12\"}"), true);
    apitest_serve(f, NULL);
    *state = f;
    return 0;
}

static int http(fx *f, const char *method, const char *path, char **body, char **ctype)
{
    return apitest_curl(f->port, method, path, NULL, body, ctype, NULL);
}

static json_t *get_json(fx *f, const char *path, int want_code)
{
    return apitest_json(f->port, path, want_code);
}

static void expect_error(fx *f, const char *method, const char *path, int want_code)
{
    apitest_expect_error(f->port, method, path, want_code, NULL);
}

static void test_config_answers_exactly_the_documented_shape(void **state)
{
    fx *f = *state;
    json_t *doc = get_json(f, "/v1/phones/" MAC "/config", 200);
    assert_json_equals(
        doc,
        "{\"mac\":\"" MAC "\",\"version\":2,\"complete\":true,\"model\":\"CP-8832-3PCC\","
        "\"firmware\":\"12.0.1\",\"params\":{\"Display_Name_1_\":\"Alice\","
        "\"Admin_Passwd\":\"****\",\"Dial_Plan_1_\":\"(*xx|[3469]11|<:1>xx.)\",\"Empty\":\"\"},"
        "\"access\":{\"Display_Name_1_\":\"rw\",\"Admin_Passwd\":\"na\"}}");
    json_decref(doc);
    /* The colon form of the MAC names the same phone; ?format=json is the default. */
    doc = get_json(f, "/v1/phones/00:56:2B:04:36:15/config?format=json", 200);
    assert_string_equal(json_string_value(json_object_get(doc, "mac")), MAC);
    json_decref(doc);
    doc = get_json(f, "/v1/phones/" MAC2 "/config", 200);
    assert_false(json_is_true(json_object_get(doc, "complete")));
    json_decref(doc);
}

static void test_config_xml_round_trips_through_the_flatprofile_parser(void **state)
{
    fx *f = *state;
    char *body = NULL, *ctype = NULL, err[256];
    assert_int_equal(http(f, "GET", "/v1/phones/" MAC "/config?format=xml", &body, &ctype), 200);
    assert_non_null(strstr(ctype, "xml"));
    pr_flat_profile fp;
    pr_xml_error why;
    assert_int_equal(pr_flatprofile_parse(body, strlen(body), NULL, &fp, &why, err, sizeof err),
                     PR_OK);
    json_t *doc = get_json(f, "/v1/phones/" MAC "/config", 200);
    json_t *params = json_object_get(doc, "params");
    assert_int_equal(fp.len, json_object_size(params));
    for (size_t i = 0; i < fp.len; i++)
        assert_string_equal(fp.params[i].value,
                            json_string_value(json_object_get(params, fp.params[i].name)));
    pr_flatprofile_release(&fp);
    json_decref(doc);
    free(body);
    free(ctype);
}

/* Whatever the store holds, the export is well-formed XML for an independent parser: what XML
 * 1.0 cannot carry (control characters, non-characters, names that are not ASCII XML names
 * or have a namespace prefix) is left out and counted in a comment. */
static void test_config_xml_is_well_formed_whatever_the_store_holds(void **state)
{
    fx *f = *state;
    const char *mac3 = "00562b043617";
    char *body = NULL, *ctype = NULL, path[64];
    apply_config(f->st, f->pf, mac3, "full", "r3", "2026-11-24T17:03:00.000Z",
                 "{\"Ctl\":\"a\\u0001b\",\"NonChar\":\"\\ufffe\",\"Space\\u2000\":\"1\","
                 "\"Times\\u00d7\":\"1\",\"Comb\\u0301\":\"1\",\"x:A\":\"1\","
                 "\"Ua\":\"1\",\"Ok\":\"fine & <dandy>\\r\\n\\t\\\"'\"}",
                 "{\"Ok\":\"rw\",\"Ua\":\"\\u0001\"}");
    snprintf(path, sizeof path, "/v1/phones/%s/config?format=xml", mac3);
    assert_int_equal(http(f, "GET", path, &body, &ctype), 200);
    char *parsed = ts_xml_parse(body, strlen(body));
    if (!parsed)
        fail_msg("the export is not well-formed XML");
    json_t *doc = json_loads(parsed, 0, NULL);
    assert_non_null(doc);
    json_t *want = json_loads("{\"root\":\"flat-profile\","
                              "\"params\":[[\"Ok\",\"fine & <dandy>\\r\\n\\t\\\"'\",\"rw\"]]}",
                              0, NULL);
    if (!json_equal(doc, want))
        fail_msg("parsed as %s", parsed);
    assert_non_null(strstr(body, "<!-- 4 parameter(s) omitted: name not valid in XML -->"));
    assert_non_null(strstr(body, "<!-- 3 parameter(s) omitted: value or access"));
    json_decref(want);
    json_decref(doc);
    free(parsed);
    free(body);
    free(ctype);
}

static void test_phones_list_filters_and_paginates(void **state)
{
    fx *f = *state;
    json_t *doc = get_json(f, "/v1/phones?limit=1", 200);
    json_t *phones = json_object_get(doc, "phones");
    assert_int_equal(json_array_size(phones), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(phones, 0), "mac")), MAC);
    assert_string_equal(json_string_value(json_object_get(doc, "next")), MAC);
    json_decref(doc);
    doc = get_json(f, "/v1/phones?limit=1&after=" MAC, 200);
    phones = json_object_get(doc, "phones");
    assert_int_equal(json_array_size(phones), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(phones, 0), "mac")), MAC2);
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);
    doc = get_json(f, "/v1/phones?complete=false", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "phones")), 1);
    json_decref(doc);
    doc = get_json(f, "/v1/phones?drifted=true", 200); /* MAC2 reports Mallory, not Alice */
    phones = json_object_get(doc, "phones");
    assert_int_equal(json_array_size(phones), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(phones, 0), "mac")), MAC2);
    json_decref(doc);
    doc = get_json(f, "/v1/phones?model=CP-8832-3PCC&drifted=false", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "phones")), 1);
    json_decref(doc);
    doc = get_json(f, "/v1/phones?model=CP-7841-3PCC", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "phones")), 0);
    json_decref(doc);
}

static void test_phone_status_changes_and_drift_documents(void **state)
{
    fx *f = *state;
    json_t *doc = get_json(f, "/v1/phones/" MAC2, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "drifted")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "status_at")),
                        "2026-11-24T17:02:00.000Z");
    json_decref(doc);
    doc = get_json(f, "/v1/phones/" MAC2 "/status", 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "status"), "Uptime")), "12");
    json_decref(doc);
    expect_error(f, "GET", "/v1/phones/" MAC "/status", 404); /* known phone, no status yet */
    doc = get_json(f, "/v1/phones/" MAC "/changes?limit=2", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "changes")), 2);
    json_int_t next = json_integer_value(json_object_get(doc, "next"));
    json_decref(doc);
    char path[128];
    snprintf(path, sizeof path, "/v1/phones/" MAC "/changes?after=%lld", (long long)next);
    doc = get_json(f, path, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "changes")), 2);
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);
    doc = get_json(f, "/v1/drift", 200);
    json_t *d = json_object_get(doc, "drift");
    assert_int_equal(json_array_size(d), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "actual")),
                        "Mallory");
    json_decref(doc);
    doc = get_json(f, "/v1/drift?mac=" MAC, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "drift")), 0);
    json_decref(doc);
}

static void test_health_and_metrics(void **state)
{
    fx *f = *state;
    char *body = NULL, *ctype = NULL;
    /* the same answers as every port's (proto/ops_http.c) */
    assert_int_equal(http(f, "GET", "/healthz", &body, NULL), 200);
    assert_string_equal(body, "ok\n");
    free(body);
    assert_int_equal(http(f, "GET", "/readyz", &body, NULL), 200);
    assert_string_equal(body, "ready\n");
    free(body);
    assert_int_equal(http(f, "GET", "/metrics", &body, &ctype), 200);
    assert_non_null(strstr(ctype, "text/plain"));
    assert_non_null(strstr(body, "phonereport_sink_phones 2"));
    assert_non_null(strstr(body, "phonereport_sink_drifted_params 1"));
    free(body);
    free(ctype);
    assert_int_equal(http(f, "HEAD", "/healthz", NULL, NULL), 200);
    /* api-listen takes a host name too, and IPv6 literals. */
    char err[256];
    const char *data = f->where;
    sink_api *other = NULL;
    assert_int_equal(sink_api_start("localhost:0", data, f->m, NULL, &other, err, sizeof err),
                     PR_OK);
    assert_true(sink_api_bound_port(other) > 0);
    sink_api_stop(other);
    assert_int_equal(sink_api_start("nonsense", data, f->m, NULL, &other, err, sizeof err),
                     PR_EINVAL);
    assert_null(other);
}

static void test_bad_requests_get_json_errors(void **state)
{
    fx *f = *state;
    expect_error(f, "GET", "/v1/phones/00562b043699/config", 404); /* unknown MAC */
    expect_error(f, "GET", "/v1/phones/00562b043699", 404);
    expect_error(f, "GET", "/v1/phones/00562b043699/changes", 404);
    expect_error(f, "GET", "/v1/phones/zz/config", 400); /* malformed MAC */
    expect_error(f, "GET", "/v1/phones/00562b04361/config", 400);
    expect_error(f, "GET", "/v1/phones/000000000000", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/nope", 404);
    expect_error(f, "GET", "/v1/nope", 404);
    /* An encoded NUL would cut the decoded path short (the summary or the config answering). */
    expect_error(f, "GET", "/v1/phones/" MAC "%00/config", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/config%00/x", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/config?format=xml%00", 400);
    expect_error(f, "GET", "/v1", 404);
    expect_error(f, "GET", "/v1/phones?limit=0", 400);
    expect_error(f, "GET", "/v1/phones?limit=1001", 400);
    expect_error(f, "GET", "/v1/phones?limit=abc", 400);
    expect_error(f, "GET", "/v1/phones?limit=-1", 400);
    expect_error(f, "GET", "/v1/phones?drifted=maybe", 400);
    expect_error(f, "GET", "/v1/phones?complete=", 400);
    expect_error(f, "GET", "/v1/phones?after=xyz", 400);
    expect_error(f, "GET", "/v1/phones?model=", 400);
    expect_error(f, "GET", "/v1/phones?colour=red", 400); /* unknown parameter */
    expect_error(f, "GET", "/v1/phones/" MAC "/config?format=yaml", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/config?fmt=xml", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/changes?after=-1", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/changes?limit=99999999999999999999", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/changes?after=9223372036854775808", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/changes?after=%2B1", 400);
    expect_error(f, "GET", "/v1/phones/" MAC "/changes?after=%201", 400);
    expect_error(f, "GET", "/v1/drift?after=nonsense", 400);
    expect_error(f, "GET", "/v1/drift?mac=12", 400);
    expect_error(f, "POST", "/v1/phones", 405);
    expect_error(f, "PUT", "/v1/phones/" MAC "/config", 405);
    expect_error(f, "DELETE", "/v1/phones/" MAC, 405);
    /* A 405 names what is allowed. */
    char *out = NULL;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "curl -sS -D - -o /dev/null -X POST 'http://127.0.0.1:%u/healthz'",
             f->port);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_non_null(strcasestr(out, "Allow: GET, HEAD"));
    free(out);
}

/* The largest sequence number is a cursor like any other (nothing comes after it). */
static void test_changes_after_the_largest_sequence_number_is_empty(void **state)
{
    fx *f = *state;
    json_t *doc = get_json(f, "/v1/phones/" MAC "/changes?after=9223372036854775807", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "changes")), 0);
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);
}

/* While the store fails, every request gets its 500 but the log gets a line per 10 s, not
 * one per request (a drop of the table the route reads stands in for the outage). */
static void test_a_failing_store_is_logged_once_not_per_request(void **state)
{
    fx *f = *state;
    char log[4300], err[256];
    snprintf(log, sizeof log, "%s/log", f->dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    pr_log_set_fd(fd);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    q_exec(f->st, "DROP TABLE drift");
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    for (int i = 0; i < 20; i++)
        expect_error(f, "GET", "/v1/drift", 500);
    pr_log_set_fd(2);
    close(fd);
    char *text = ts_read_file(log, NULL);
    assert_non_null(text);
    int lines = 0;
    for (char *p = text; (p = strstr(p, "query failed")); p++)
        lines++;
    if (lines < 1 || lines > 2)
        fail_msg("%d log lines for 20 failed requests:\n%s", lines, text);
    free(text);
}

/* An idle API costs next to no CPU. Before: the header watchdog waited on a condition
 * variable on the wall clock with a deadline on the monotonic one, so every wait ended at once
 * and the thread spun a core whenever the API ran (seen in the boot storm: 70% of the sink's
 * CPU). A bound on resources, not on time: a spinning thread takes about 1 s of CPU per second,
 * an idle API almost none, under any sanitizer or load. */
static void test_an_idle_api_does_not_spin(void **state)
{
    (void)state;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    long long t0 = ts_now_ms();
    usleep(1000 * 1000);
    getrusage(RUSAGE_SELF, &r1);
    long long wall = ts_now_ms() - t0;
    long long cpu =
        (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) *
            1000LL +
        (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) /
            1000;
    printf("idle API: %lld ms of CPU in %lld ms\n", cpu, wall);
    if (cpu * 4 > wall)
        fail_msg("an idle API took %lld ms of CPU in %lld ms", cpu, wall);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        APITEST(test_config_answers_exactly_the_documented_shape, setup),
        APITEST(test_config_xml_round_trips_through_the_flatprofile_parser, setup),
        APITEST(test_config_xml_is_well_formed_whatever_the_store_holds, setup),
        APITEST(test_phones_list_filters_and_paginates, setup),
        APITEST(test_phone_status_changes_and_drift_documents, setup),
        APITEST(test_health_and_metrics, setup),
        APITEST(test_bad_requests_get_json_errors, setup),
        APITEST(test_changes_after_the_largest_sequence_number_is_empty, setup),
        APITEST(test_a_failing_store_is_logged_once_not_per_request, setup),
        APITEST(test_an_idle_api_does_not_spin, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
