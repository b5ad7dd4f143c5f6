/*
 * test_sink_fleet.c - fleet search, summaries and export over real HTTP (curl as the client)
 * on a store of five phones filled through the apply path, with times relative to now so that
 * the last-seen buckets hold still: every /v1/phones filter alone and combined with paging,
 * /v1/fleet's counts, /v1/params/{name}'s value distribution, CSV and NDJSON export (CSV cells
 * that would start a spreadsheet formula neutralised), and the
 * bad-input catalogue (unknown names, malformed filters, huge limits: 400 with a reason).
 */
#include "apitest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define A "00562b000001"
#define B "00562b000002"
#define C "00562b000003"
#define D "00562b000004"
#define E "00562b000005"

typedef apitest fx;

static char *ev(const char *mac, const char *kind, long long ago_s, const char *model,
                const char *firmware, const char *params_json)
{
    char at[32];
    sink_fleet_time_ago(ago_s, at, sizeof at);
    json_t *params = json_loads(params_json, 0, NULL);
    assert_non_null(params);
    json_t *o =
        json_pack("{ss ss ss ss ss ss s{ss ss ss ss ss ss} so so s{si si}}", "schema",
                  "phonereport.config/1", "mac", mac, "kind", kind, "report_id", mac, "received_at",
                  at, "encryption", "none", "source", "method", "PUT", "path", "/r", "remote",
                  "192.0.2.1", "user_agent", "Cisco", "model", model, "firmware", firmware,
                  "params", params, "access", json_object(), "raw", "partition", 0, "offset", 1);
    assert_non_null(o);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int setup(void **state)
{
    fx *f =
        apitest_new("fleet", "<flat-profile><Proxy_1_>sip1.example.com</Proxy_1_></flat-profile>");
    apply_owned(f->st, f->pf,
                ev(A, "full", 600, "CP-8832-3PCC", "12.0.1",
                   "{\"Display_Name_1_\":\"Alice\",\"Dial_Plan_1_\":\"(*xx)\","
                   "\"Proxy_1_\":\"sip1.example.com\"}"),
                false);
    apply_owned(f->st, f->pf,
                ev(B, "full", 2 * 3600, "CP-8841-3PCC", "12.0.1",
                   "{\"Display_Name_1_\":\"Bob\",\"Proxy_1_\":\"sip1.example.com\"}"),
                false);
    apply_owned(f->st, f->pf,
                ev(C, "full", 3 * 86400, "CP-8845-3PCC", "11.3.7",
                   "{\"Display_Name_1_\":\"Carol\",\"Proxy_1_\":\"sip2.example.com\"}"),
                false);
    apply_owned(
        f->st, f->pf,
        ev(D, "delta", 40 * 86400, "CP-7841-3PCC", "11.3.7", "{\"Proxy_1_\":\"sip2.example.com\"}"),
        false);
    apply_owned(f->st, f->pf,
                ev(E, "full", 20 * 3600, "CP-8832-3PCC", "12.0.2",
                   "{\"Display_Name_1_\":\"Eve, \\\"E\\\"\",\"Proxy_1_\":\"sip1.example.org\"}"),
                false);
    apitest_serve(f, NULL);
    *state = f;
    return 0;
}

/* GET path (already URL-encoded) with extra curl arguments; status, body, content type. */
static int get(fx *f, const char *path, const char *extra, char **body, char **ctype)
{
    return apitest_curl(f->port, "GET", path, extra, body, ctype, NULL);
}

static json_t *get_json(fx *f, const char *path)
{
    return apitest_json(f->port, path, 200);
}

/* The MACs /v1/phones answers, comma-separated, and the next cursor ("" when none). */
static void expect_macs(fx *f, const char *query, const char *want, const char *want_next)
{
    char path[1024], got[256] = "";
    snprintf(path, sizeof path, "/v1/phones?%s", query);
    json_t *doc = get_json(f, path);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "phones"), i, p)
    {
        if (*got)
            strcat(got, ",");
        strcat(got, json_string_value(json_object_get(p, "mac")));
    }
    if (strcmp(got, want) != 0)
        fail_msg("%s: got [%s], wanted [%s]", query, got, want);
    json_t *next = json_object_get(doc, "next");
    const char *n = json_is_string(next) ? json_string_value(next) : "";
    if (strcmp(n, want_next ? want_next : "") != 0)
        fail_msg("%s: next %s, wanted %s", query, n, want_next);
    json_decref(doc);
}

static void expect_400(fx *f, const char *path, const char *reason)
{
    apitest_expect_error(f->port, "GET", path, 400, reason);
}

static void test_each_filter_alone_and_combined_with_paging(void **state)
{
    fx *f = *state;
    expect_macs(f, "", A "," B "," C "," D "," E, NULL);
    expect_macs(f, "firmware=11.3.7", C "," D, NULL);
    expect_macs(f, "firmware=12.*", A "," B "," E, NULL);
    expect_macs(f, "firmware=12.0", "", NULL);
    expect_macs(f, "model=CP-8832-3PCC", A "," E, NULL);
    expect_macs(f, "model=CP-88*", A "," B "," C "," E, NULL);
    expect_macs(f, "complete=false", D, NULL);
    expect_macs(f, "drifted=true", C "," D "," E, NULL);
    expect_macs(f, "seen_after=1h", A, NULL);
    expect_macs(f, "seen_before=24h", C "," D, NULL);
    expect_macs(f, "seen_after=7d&seen_before=1h", B "," C "," E, NULL);
    expect_macs(f, "seen_after=2000-01-01&seen_before=2000-01-02T00:00:00Z", "", NULL);
    expect_macs(f, "seen_after=2000-01-01T00:00:00.5Z", A "," B "," C "," D "," E, NULL);
    expect_macs(f, "param.Proxy_1_=sip1.example.com", A "," B, NULL);
    expect_macs(f, "param.Proxy_1_=sip2*", C "," D, NULL);
    expect_macs(f, "param.Proxy_1_=sip1*", A "," B "," E, NULL);
    expect_macs(f, "param.Proxy_1_!=sip1.example.com", C "," D "," E, NULL);
    /* "not equal" includes phones that lack the parameter */
    expect_macs(f, "param.Dial_Plan_1_!=%28*xx%29", B "," C "," D "," E, NULL);
    expect_macs(f, "param.Dial_Plan_1_=%28*xx%29", A, NULL);
    expect_macs(f, "param.Display_Name_1_=Eve%2C%20%22E%22", E, NULL);
    /* a trailing \* is a literal star, not a prefix */
    expect_macs(f, "param.Proxy_1_=sip1%5C*", "", NULL);
    /* combined, and paged */
    expect_macs(f, "param.Proxy_1_=sip1*&firmware=12.0.1&limit=1", A, A);
    expect_macs(f, "param.Proxy_1_=sip1*&firmware=12.0.1&limit=1&after=" A, B, NULL);
    expect_macs(f, "param.Proxy_1_=sip*&param.Display_Name_1_=C*&drifted=true&complete=true", C,
                NULL);
    /* the list shows last_seen */
    json_t *doc = get_json(f, "/v1/phones?limit=1");
    json_t *p = json_array_get(json_object_get(doc, "phones"), 0);
    assert_true(json_is_string(json_object_get(p, "last_seen")));
    assert_int_equal(json_integer_value(json_object_get(p, "params")), 3);
    json_decref(doc);
}

static long long count_of(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        json_t *v = json_object_get(o, key);
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return json_integer_value(json_object_get(o, "count"));
    }
    return -1;
}

static void test_the_fleet_counts(void **state)
{
    fx *f = *state;
    json_t *doc = get_json(f, "/v1/fleet");
    assert_int_equal(json_integer_value(json_object_get(doc, "phones")), 5);
    json_t *complete = json_object_get(doc, "complete"), *drifted = json_object_get(doc, "drifted");
    assert_int_equal(json_integer_value(json_object_get(complete, "true")), 4);
    assert_int_equal(json_integer_value(json_object_get(complete, "false")), 1);
    assert_int_equal(json_integer_value(json_object_get(drifted, "true")), 3);
    assert_int_equal(json_integer_value(json_object_get(drifted, "false")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "drifted_params")), 3);
    json_t *models = json_object_get(doc, "models");
    assert_string_equal(json_string_value(json_object_get(json_array_get(models, 0), "value")),
                        "CP-8832-3PCC"); /* most common first */
    assert_int_equal(count_of(models, "value", "CP-8832-3PCC"), 2);
    assert_int_equal(count_of(models, "value", "CP-7841-3PCC"), 1);
    json_t *fw = json_object_get(doc, "firmware");
    assert_int_equal(count_of(fw, "value", "12.0.1"), 2);
    assert_int_equal(count_of(fw, "value", "11.3.7"), 2);
    assert_int_equal(count_of(fw, "value", "12.0.2"), 1);
    json_t *seen = json_object_get(doc, "last_seen");
    assert_int_equal(count_of(seen, "within", "1h"), 1);
    assert_int_equal(count_of(seen, "within", "24h"), 2);
    assert_int_equal(count_of(seen, "within", "7d"), 1);
    assert_int_equal(count_of(seen, "within", "30d"), 0);
    assert_int_equal(count_of(seen, "within", "older"), 1);
    assert_int_equal(count_of(json_object_get(doc, "drift_by_param"), "param", "Proxy_1_"), 3);
    json_decref(doc);
}

static void test_a_parameters_values_most_common_first_and_paged(void **state)
{
    fx *f = *state;
    json_t *doc = get_json(f, "/v1/params/Proxy_1_");
    assert_string_equal(json_string_value(json_object_get(doc, "param")), "Proxy_1_");
    assert_int_equal(json_integer_value(json_object_get(doc, "phones")), 5);
    assert_int_equal(json_integer_value(json_object_get(doc, "distinct")), 3);
    json_t *values = json_object_get(doc, "values");
    assert_int_equal(json_array_size(values), 3);
    const char *order[] = {"sip1.example.com", "sip2.example.com", "sip1.example.org"};
    const long long counts[] = {2, 2, 1};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(values, i);
        assert_string_equal(json_string_value(json_object_get(v, "value")), order[i]);
        assert_int_equal(json_integer_value(json_object_get(v, "count")), counts[i]);
    }
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);
    doc = get_json(f, "/v1/params/Proxy_1_?limit=1");
    assert_int_equal(json_array_size(json_object_get(doc, "values")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "next")), 1);
    json_decref(doc);
    doc = get_json(f, "/v1/params/Proxy_1_?limit=1&offset=2");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "values"), 0), "value")),
                        "sip1.example.org");
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);
    char *body = NULL;
    assert_int_equal(get(f, "/v1/params/No_Such_Param", NULL, &body, NULL), 404);
    assert_non_null(strstr(body, "No_Such_Param"));
    free(body);
}

static void test_the_list_exports_as_csv_and_ndjson(void **state)
{
    fx *f = *state;
    char *body = NULL, *ctype = NULL;
    assert_int_equal(get(f, "/v1/phones?format=csv&firmware=11.3.7", NULL, &body, &ctype), 200);
    assert_non_null(strstr(ctype, "text/csv"));
    assert_true(strncmp(body, "mac,model,firmware,version,complete,", 36) == 0);
    assert_non_null(strstr(body, "\r\n" C ",CP-8845-3PCC,11.3.7,1,true,2,1,"));
    assert_non_null(strstr(body, "\r\n" D ",CP-7841-3PCC,11.3.7,1,false,1,1,"));
    int lines = 0;
    for (char *p = body; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    assert_int_equal(lines, 3);
    free(body);
    free(ctype);
    /* NDJSON by Accept header: one phone per line, every one of them (no page limit) */
    assert_int_equal(get(f, "/v1/phones", "-H 'Accept: application/x-ndjson'", &body, &ctype), 200);
    assert_non_null(strstr(ctype, "application/x-ndjson"));
    lines = 0;
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        assert_true(json_is_string(json_object_get(o, "mac")));
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, 5);
    free(body);
    free(ctype);
    assert_int_equal(get(f, "/v1/phones?format=ndjson&limit=100000", NULL, &body, NULL), 200);
    free(body);
}

/* A CSV cell that would start a spreadsheet formula gets a leading ' (OWASP): every text column
 * a record can set (model and firmware come from the phone's User-Agent, the report id from
 * the record), for each of = + - @ tab and CR. NDJSON carries the values as they are. */
static void test_csv_cells_that_would_start_a_formula_are_neutralised(void **state)
{
    fx *f = *state;
    static const char starts[] = "=+-@\t\r";
    char mac[PR_MAC_LEN + 1], model[64], firmware[64], report[64], want[256];
    for (int i = 0; starts[i]; i++) {
        snprintf(mac, sizeof mac, "00562b0000f%x", (unsigned)i & 0xfu);
        snprintf(model, sizeof model, "%cSUM(1+1)", starts[i]);
        snprintf(firmware, sizeof firmware, "%ccmd|'/Ccalc'!A0", starts[i]);
        snprintf(report, sizeof report, "%cHYPERLINK(\"x\")", starts[i]);
        char *text = ev(mac, "full", 60, model, firmware, "{\"A\":\"1\"}");
        json_t *o = json_loads(text, 0, NULL);
        assert_non_null(o);
        json_object_set_new(o, "report_id", json_string(report));
        free(text);
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        apply_owned(f->st, f->pf, text, false);
    }
    char *body = NULL;
    assert_int_equal(get(f, "/v1/phones?format=csv&model=CP-8832-3PCC", NULL, &body, NULL), 200);
    /* a '-' inside a cell is nothing */
    assert_non_null(strstr(body, "\r\n" A ",CP-8832-3PCC,12.0.1,"));
    free(body);
    assert_int_equal(get(f, "/v1/phones?format=csv&after=00562b0000ef", NULL, &body, NULL), 200);
    char *line = body;
    for (int i = 0; starts[i]; i++) {
        snprintf(want, sizeof want,
                 "00562b0000f%x,\"'%cSUM(1+1)\",\"'%ccmd|'/Ccalc'!A0\",1,true,1,0,", (unsigned)i,
                 starts[i], starts[i]);
        line = strstr(line, "\r\n");
        assert_non_null(line);
        line += 2;
        if (strncmp(line, want, strlen(want)) != 0)
            fail_msg("row %d: %.80s (wanted %s)", i, line, want);
        snprintf(want, sizeof want, ",\"'%cHYPERLINK(\"\"x\"\")\"\r\n", starts[i]);
        if (!strstr(line, want))
            fail_msg("row %d: no report id %s in %.200s", i, want, line);
    }
    free(body);
    assert_int_equal(
        get(f, "/v1/phones?format=ndjson&after=00562b0000ef&limit=1", NULL, &body, NULL), 200);
    assert_non_null(strstr(body, "\"model\":\"=SUM(1+1)\""));
    assert_non_null(strstr(body, "\"firmware\":\"=cmd|'/Ccalc'!A0\""));
    free(body);
}

static void test_bad_filters_get_a_clear_400(void **state)
{
    fx *f = *state;
    expect_400(f, "/v1/phones?param.No_Such_Param=1", "No_Such_Param");
    expect_400(f, "/v1/phones?param.=1", "param.");
    expect_400(f, "/v1/phones?param.Proxy_1_", "needs a value");
    expect_400(f, "/v1/phones?param.Proxy_1_!=sip*", "prefix");
    expect_400(f,
               "/v1/phones?param.A=1&param.B=1&param.C=1&param.D=1&param.E=1&param.F=1&param.G=1"
               "&param.H=1&param.I=1",
               "at most");
    expect_400(f, "/v1/phones?colour=red", "colour");
    expect_400(f, "/v1/phones?model=", "model");
    expect_400(f, "/v1/phones?firmware=*", "firmware");
    expect_400(f, "/v1/phones?seen_after=yesterday", "seen_after");
    expect_400(f, "/v1/phones?seen_before=2026-13-01", "seen_before");
    expect_400(f, "/v1/phones?seen_before=2026-11-01T10:00:00", "seen_before");
    expect_400(f, "/v1/phones?seen_after=99999999999d", "seen_after");
    /* not a real date, a space before the year (read as year 26 before), signs */
    expect_400(f, "/v1/phones?seen_after=2026-02-31", "seen_after");
    expect_400(f, "/v1/phones?seen_after=2025-02-29", "seen_after");
    expect_400(f, "/v1/phones?seen_after=%20026-01-01", "seen_after");
    expect_400(f, "/v1/phones?seen_after=+026-01-01", "seen_after");
    expect_400(f, "/v1/phones?seen_before=2026-01-01T-1:00:00Z", "seen_before");
    expect_400(f, "/v1/phones?limit=1001", "limit");
    expect_400(f, "/v1/phones?limit=99999999999999999999", "limit");
    expect_400(f, "/v1/phones?format=csv&limit=1000001", "limit");
    expect_400(f, "/v1/phones?format=xml", "format");
    expect_400(f, "/v1/phones?drifted=perhaps", "drifted");
    expect_400(f, "/v1/phones?after=nope", "after");
    expect_400(f, "/v1/fleet?model=x", "model");
    expect_400(f, "/v1/params/Proxy_1_?limit=0", "limit");
    expect_400(f, "/v1/params/Proxy_1_?limit=5000", "limit");
    expect_400(f, "/v1/params/Proxy_1_?offset=-1", "offset");
    expect_400(f, "/v1/params/Proxy_1_?top=3", "top");
    expect_400(f, "/v1/params/", "parameter name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        APITEST(test_each_filter_alone_and_combined_with_paging, setup),
        APITEST(test_the_fleet_counts, setup),
        APITEST(test_a_parameters_values_most_common_first_and_paged, setup),
        APITEST(test_the_list_exports_as_csv_and_ndjson, setup),
        APITEST(test_csv_cells_that_would_start_a_formula_are_neutralised, setup),
        APITEST(test_bad_filters_get_a_clear_400, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
