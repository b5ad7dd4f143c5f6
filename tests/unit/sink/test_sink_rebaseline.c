/*
 * test_sink_rebaseline.c - the sink's side of "reports on request": the phone's last remote
 * address (stored on every applied report, the unchanged-report fast path included, and
 * served as "remote"), the re-baseline candidates (incomplete phones, phones not seen for a
 * while, the per-phone interval, phones skipped for lack of a full-report rule) and
 * POST /v1/phones/{mac}/report-request over HTTP against `phonereport-sim sip` as the phone
 * (a Digest challenge, then 200), with the result in the summary and the metric; only the
 * whole realm its credentials name is answered (realms of 158, 159, 160, 4,000 characters); and
 * `phonereport notify --mac` resolving the phone through this API.
 */
#include "sinktest.h"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

extern char **environ;

#define MAC1 "00562b043615"
#define MAC2 "00562b043616"
#define MAC3 "00562b043617"
#define MAC4 "00562b043618"

#define FULL_RULE  "http://edge.test/r/$MA/full.xml [--delta]http://edge.test/r/$MA/delta.xml"
#define DELTA_RULE "[--delta]http://edge.test/r/$MA/delta.xml [--status]http://edge.test/s.xml"

typedef struct fx {
    char *dir, data[4200];
    sink_store *st;
    pid_t sim;    /* phonereport-sim sip, stopped by teardown whatever happened */
    sink_cfg cfg; /* the re-baseline's (it keeps a pointer) */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char err[256];
    f->dir = ts_mkdtemp("sink-rb");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    if (sink_store_open(f->data, false, "normal", &f->st, err, sizeof err) != PR_OK)
        fail_msg("open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->sim > 0) {
        kill(f->sim, SIGTERM);
        waitpid(f->sim, NULL, 0);
    }
    sink_store_close(f->st);
    ts_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ev_config with another remote address than its 192.0.2.1. */
static char *with_remote(char *text, const char *remote)
{
    char *p = strstr(text, "192.0.2.1");
    assert_non_null(p);
    size_t n = strlen(text), rl = strlen(remote);
    char *out = malloc(n + rl + 1);
    memcpy(out, text, (size_t)(p - text));
    memcpy(out + (p - text), remote, rl);
    strcpy(out + (p - text) + rl, p + 9);
    free(text);
    return out;
}

static json_t *summary(fx *f, const char *mac)
{
    json_t *doc = NULL;
    char err[256];
    assert_int_equal(sink_query_phone(f->st, mac, &doc, err, sizeof err), PR_OK);
    return doc;
}

static void test_the_last_remote_address_is_stored_with_every_report(void **state)
{
    fx *f = *state;
    const char *params = "{\"A\":\"1\"}";
    apply_config(f->st, NULL, MAC1, "full", "r1", "2026-11-24T17:00:00.000Z", params, NULL);
    json_t *doc = summary(f, MAC1);
    assert_string_equal(json_string_value(json_object_get(doc, "remote")), "192.0.2.1");
    assert_true(json_is_null(json_object_get(doc, "report_request")));
    assert_true(json_is_null(json_object_get(doc, "report_requested_at")));
    json_decref(doc);
    /* The same report again from elsewhere: the fast path (phone row only) keeps it current. */
    apply_owned(f->st, NULL,
                with_remote(ev_config(MAC1, "full", "r2", "2026-11-24T17:01:00.000Z", params, NULL),
                            "2001:db8::7"),
                false);
    doc = summary(f, MAC1);
    assert_string_equal(json_string_value(json_object_get(doc, "remote")), "2001:db8::7");
    json_decref(doc);
    /* A phone seen only through a status report without an address has none. */
    apply_owned(f->st, NULL, ev_status(MAC2, "s", "2026-11-24T17:00:00.000Z", "{}"), true);
    doc = summary(f, MAC2);
    assert_true(json_is_null(json_object_get(doc, "remote")));
    json_decref(doc);
    /* The fleet list carries it too (phonereport notify --all reads it there). */
    sink_fleet_filter ff = {.drifted = -1, .complete = -1, .limit = 10};
    char err[256];
    assert_int_equal(sink_fleet_phones(f->st, &ff, &doc, err, sizeof err), PR_OK);
    json_t *first = json_array_get(json_object_get(doc, "phones"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "remote")), "2001:db8::7");
    json_decref(doc);
}

/* The fast path's own copy of the row: an unchanged report must still write the address. */
static void test_unchanged_report_updates_the_address(void **state)
{
    fx *f = *state;
    const char *params = "{\"A\":\"1\",\"B\":\"2\"}";
    apply_config(f->st, NULL, MAC1, "full", "r1", "2026-11-24T17:00:00.000Z", params, NULL);
    char *text = with_remote(
        ev_config(MAC1, "full", "r2", "2026-11-24T17:05:00.000Z", params, NULL), "198.51.100.9");
    sink_apply_result res = apply_text(f->st, NULL, text, false);
    free(text);
    assert_true(res.unchanged);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM phones WHERE remote = '198.51.100.9'"), 1);
}

static size_t candidates(fx *f, const char *seen_before, const char *checked_before,
                         sink_rb_target *out, size_t max)
{
    char err[256];
    size_t n = 0;
    sink_rb_policy p = {"2026-11-24T18:00:00.000Z", seen_before, checked_before, 5062, NULL, NULL};
    if (sink_rebaseline_candidates(f->st, &p, max, out, &n, err, sizeof err) != PR_OK)
        fail_msg("candidates: %s", err);
    return n;
}

static const sink_rb_target *find(const sink_rb_target *t, size_t n, const char *mac)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].mac, mac) == 0)
            return &t[i];
    return NULL;
}

static void test_candidates_are_incomplete_or_unseen_phones_at_most_once_per_interval(void **state)
{
    fx *f = *state;
    sink_rb_target t[8];
    char err[256];
    /* MAC1: incomplete (a delta first), with a full-report rule and a line. */
    apply_config(f->st, NULL, MAC1, "delta", "r1", "2026-11-24T17:59:00.000Z",
                 "{\"Report_Rule\":\"" FULL_RULE "\",\"User_ID_1_\":\"1001\"}", NULL);
    /* MAC2: complete and seen recently. */
    apply_config(f->st, NULL, MAC2, "full", "r2", "2026-11-24T17:59:00.000Z", "{\"A\":\"1\"}",
                 NULL);
    /* MAC3: incomplete, but its rules send only deltas and status. */
    apply_config(f->st, NULL, MAC3, "delta", "r3", "2026-11-24T17:59:00.000Z",
                 "{\"Report_Rule\":\"" DELTA_RULE "\"}", NULL);
    /* MAC4: complete, last seen long ago (a later status report counts as seen). */
    apply_config(f->st, NULL, MAC4, "full", "r4", "2026-11-20T10:00:00.000Z", "{\"A\":\"1\"}",
                 NULL);

    size_t n = candidates(f, NULL, "2026-11-24T17:00:00.000Z", t, 8);
    assert_int_equal(n, 2);
    const sink_rb_target *a = find(t, n, MAC1), *c = find(t, n, MAC3);
    assert_non_null(a);
    assert_non_null(c);
    assert_string_equal(a->uri, "sip:1001@192.0.2.1:5062");
    assert_string_equal(a->trigger, "incomplete");
    assert_string_equal(a->skipped, "");
    assert_string_equal(c->uri, "");
    assert_string_equal(c->skipped, "no full-report rule");

    /* Not seen since 2026-11-24: MAC4 too, as "not_seen". */
    n = candidates(f, "2026-11-24T00:00:00.000Z", "2026-11-24T17:00:00.000Z", t, 8);
    assert_int_equal(n, 3);
    assert_non_null(find(t, n, MAC4));
    assert_string_equal(find(t, n, MAC4)->trigger, "not_seen");
    assert_string_equal(find(t, n, MAC4)->uri, "sip:192.0.2.1:5062"); /* no User_ID_1_ */
    apply_owned(f->st, NULL, ev_status(MAC4, "s4", "2026-11-24T17:30:00.000Z", "{}"), true);
    n = candidates(f, "2026-11-24T00:00:00.000Z", "2026-11-24T17:00:00.000Z", t, 8);
    assert_null(find(t, n, MAC4));

    /* Once considered, a phone waits for the interval: MAC1 asked, MAC3 skipped. */
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    sink_rb_target asked = *a, skipped = *c;
    assert_int_equal(
        sink_rebaseline_record(f->st, &asked, "2026-11-24T18:00:00.000Z", true,
                               json_pack("{ss si}", "outcome", "accepted", "status", 200), err,
                               sizeof err),
        PR_OK);
    assert_int_equal(sink_rebaseline_record(f->st, &skipped, "2026-11-24T18:00:00.000Z", false,
                                            json_pack("{ss}", "skipped", skipped.skipped), err,
                                            sizeof err),
                     PR_OK);
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    assert_int_equal(candidates(f, NULL, "2026-11-24T17:30:00.000Z", t, 8), 0);
    /* The interval over, both are considered again (the skip is re-checked, not sent). */
    assert_int_equal(candidates(f, NULL, "2026-11-24T18:30:00.000Z", t, 8), 2);
    /* max bounds a round. */
    assert_int_equal(candidates(f, NULL, "2026-11-24T18:30:00.000Z", t, 1), 1);

    /* The API shows the outcome and when a NOTIFY last left; a skip keeps that time. */
    json_t *doc = summary(f, MAC1);
    assert_string_equal(json_string_value(json_object_get(doc, "report_requested_at")),
                        "2026-11-24T18:00:00.000Z");
    json_t *rr = json_object_get(doc, "report_request");
    assert_string_equal(json_string_value(json_object_get(rr, "outcome")), "accepted");
    assert_int_equal(json_integer_value(json_object_get(rr, "status")), 200);
    json_decref(doc);
    doc = summary(f, MAC3);
    assert_true(json_is_null(json_object_get(doc, "report_requested_at")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "report_request"), "skipped")),
        "no full-report rule");
    json_decref(doc);
}

static void test_a_phone_without_an_address_is_no_candidate(void **state)
{
    fx *f = *state;
    sink_rb_target t[2];
    char err[256];
    apply_owned(f->st, NULL, ev_status(MAC1, "s", "2026-11-24T17:59:00.000Z", "{}"), true);
    assert_int_equal(candidates(f, NULL, "2026-11-24T17:00:00.000Z", t, 2), 0);
    sink_rb_policy p = {"2026-11-24T18:00:00.000Z", NULL, NULL, 5060, NULL, NULL};
    assert_int_equal(sink_rebaseline_target(f->st, &p, MAC1, t, err, sizeof err), PR_EINVAL);
    assert_int_equal(sink_rebaseline_target(f->st, &p, MAC2, t, err, sizeof err), PR_ENOTFOUND);
}

/* ---- POST /v1/phones/{mac}/report-request against phonereport-sim sip -------------------- */

static int http(unsigned port, const char *method, const char *path, char **body)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "curl -sS -X %s -w '\\n%%{http_code}' 'http://127.0.0.1:%u%s'",
             method, port, path);
    assert_int_equal(ts_run(cmd, &out), 0);
    char *nl = strrchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    int code = atoi(nl + 1);
    if (body)
        *body = strdup(out);
    free(out);
    return code;
}

/* Starts one simulated phone (User_ID_1_ 4081000000, challenging with realm, NULL: its
 * default) that writes its credentials to creds; returns its UDP port. */
static int start_sim(fx *f, const char *realm, const char *creds)
{
    char portfile[4300];
    snprintf(portfile, sizeof portfile, "%s/sim.port", f->dir);
    unlink(portfile);
    char *argv[] = {PR_BINARY_DIR "/phonereport-sim",
                    "sip",
                    "--url",
                    "http://127.0.0.1:9/r",
                    "--phones",
                    "1",
                    "--port-file",
                    portfile,
                    "--credentials-out",
                    (char *)creds,
                    realm ? "--realm" : NULL,
                    (char *)realm,
                    NULL};
    assert_int_equal(posix_spawn(&f->sim, argv[0], NULL, NULL, argv, environ), 0);
    long long end = ts_deadline_ms(10000);
    char *text = NULL;
    while (!(text = ts_read_file(portfile, NULL)) || !*text) {
        free(text);
        text = NULL;
        if (ts_now_ms() > end)
            fail_msg("phonereport-sim sip did not start");
        usleep(20000);
    }
    int port = atoi(text);
    free(text);
    return port;
}

static void stop_sim(fx *f)
{
    kill(f->sim, SIGTERM);
    waitpid(f->sim, NULL, 0);
    f->sim = 0;
}

/* The re-baseline thread and the API over it (rb and api to stop and free). */
static unsigned start_rebaseline(fx *f, char *creds, int sim_port, pr_metrics *m,
                                 sink_rebaseline **rb, sink_api **api)
{
    char err[256];
    sink_cfg *cfg = &f->cfg;
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = f->data;
    cfg->sync = "normal";
    cfg->rebaseline_credentials = creds;
    cfg->rebaseline_sip_port = sim_port;
    cfg->rebaseline_rate = 10;
    cfg->rebaseline_interval_ms = 3600000;
    cfg->rebaseline_timeout_ms = 5000;
    if (sink_rebaseline_new(cfg, m, rb, err, sizeof err) != PR_OK)
        fail_msg("rebaseline: %s", err);
    assert_int_equal(sink_rebaseline_start(*rb, err, sizeof err), PR_OK);
    sink_api_opts o = {.listen = "127.0.0.1:0", .data_dir = f->data, .rebaseline = *rb};
    if (sink_api_start_opts(&o, m, NULL, api, err, sizeof err) != PR_OK)
        fail_msg("api: %s", err);
    return sink_api_bound_port(*api);
}

/* The phone's summary once it holds a report_request result (caller frees). */
static json_t *wait_report_request(unsigned ap, const char *mac)
{
    char path[64], *body = NULL;
    snprintf(path, sizeof path, "/v1/phones/%s", mac);
    long long end = ts_deadline_ms(15000);
    for (;;) {
        assert_int_equal(http(ap, "GET", path, &body), 200);
        json_t *doc = json_loads(body, 0, NULL);
        free(body);
        if (json_is_object(json_object_get(doc, "report_request")))
            return doc;
        json_decref(doc);
        if (ts_now_ms() > end)
            fail_msg("no report_request result for %s after 15 s", mac);
        usleep(50000);
    }
}

static void test_report_request_endpoint(void **state)
{
    fx *f = *state;
    char creds[4300], port[16], path[64], *body = NULL;
    snprintf(creds, sizeof creds, "%s/creds.json", f->dir);
    snprintf(port, sizeof port, "%d", start_sim(f, NULL, creds));

    /* MAC1 reported from 127.0.0.1 (complete: the background scan leaves it alone); MAC2
     * only through a status report without an address. */
    apply_owned(f->st, NULL,
                with_remote(ev_config(MAC1, "full", "r1", "2026-11-24T17:00:00.000Z",
                                      "{\"User_ID_1_\":\"4081000000\"}", NULL),
                            "127.0.0.1"),
                false);
    apply_owned(f->st, NULL, ev_status(MAC2, "s", "2026-11-24T17:00:00.000Z", "{}"), true);

    pr_metrics *m = pr_metrics_new();
    sink_rebaseline *rb = NULL;
    sink_api *api = NULL;
    unsigned ap = start_rebaseline(f, creds, atoi(port), m, &rb, &api);

    assert_int_equal(http(ap, "POST", "/v1/phones/" MAC3 "/report-request", NULL), 404);
    assert_int_equal(http(ap, "POST", "/v1/phones/zz/report-request", NULL), 400);
    assert_int_equal(http(ap, "POST", "/v1/phones/" MAC2 "/report-request", &body), 409);
    assert_non_null(strstr(body, "no address"));
    free(body);
    /* resync (remediate.c): the same refusals */
    assert_int_equal(http(ap, "POST", "/v1/phones/" MAC3 "/resync", NULL), 404);
    assert_int_equal(http(ap, "POST", "/v1/phones/zz/resync", NULL), 400);
    assert_int_equal(http(ap, "POST", "/v1/phones/" MAC2 "/resync", &body), 409);
    free(body);
    assert_int_equal(http(ap, "POST", "/v1/phones/" MAC1 "/report-request", &body), 202);
    assert_non_null(strstr(body, "\"queued\":true"));
    free(body);

    /* The phone challenges, the credentials answer, it accepts: the summary says so. */
    json_t *doc = wait_report_request(ap, MAC1);
    json_t *rr = json_object_get(doc, "report_request");
    assert_string_equal(json_string_value(json_object_get(rr, "outcome")), "accepted");
    assert_int_equal(json_integer_value(json_object_get(rr, "status")), 200);
    assert_true(json_is_true(json_object_get(rr, "challenged")));
    assert_string_equal(json_string_value(json_object_get(rr, "trigger")), "api");
    assert_true(json_is_string(json_object_get(doc, "report_requested_at")));
    json_decref(doc);
    /* `phonereport notify --mac` resolves the phone through this API's "remote" (it sends
     * to sip:<address>:<port>, no user part: the line's credentials as the default). */
    char cmd[9000], defcreds[4300], *out = NULL;
    json_t *sc = json_load_file(creds, 0, NULL);
    json_t *line = json_object_get(json_object_get(sc, "users"), "4081000000");
    assert_non_null(line);
    json_t *dc = json_pack("{s{ss sO}}", "default", "user", "4081000000", "password",
                           json_object_get(line, "password"));
    snprintf(defcreds, sizeof defcreds, "%s/default.json", f->dir);
    assert_int_equal(json_dump_file(dc, defcreds, 0), 0);
    chmod(defcreds, 0600);
    json_decref(dc);
    json_decref(sc);
    snprintf(cmd, sizeof cmd,
             PR_BINARY_DIR "/phonereport notify --mac %s --api http://127.0.0.1:%u --sip-port %s"
                           " --credentials %s --log-level error",
             MAC1, ap, port, defcreds);
    assert_int_equal(ts_run(cmd, &out), 0);
    doc = json_loads(out, 0, NULL);
    if (!doc)
        fail_msg("notify printed: %s", out);
    assert_string_equal(json_string_value(json_object_get(doc, "result")), "accepted");
    snprintf(path, sizeof path, "sip:127.0.0.1:%s", port);
    assert_string_equal(json_string_value(json_object_get(doc, "target")), path);
    json_decref(doc);
    free(out);
    assert_int_equal(http(ap, "GET", "/metrics", &body), 200);
    assert_non_null(strstr(body, "phonereport_sink_report_requests_total{outcome=\"accepted\"} 1"));
    free(body);

    sink_api_stop(api);
    sink_rebaseline_free(rb);
    pr_metrics_free(m);
}

/* The re-baseline answers a challenge only with credentials for its whole realm (issue 23.3):
 * credentials for a realm of 158 or 159 characters answer it; credentials for the first 159
 * characters of a 160- or 4,000-character realm do not (the realm is never cut: it is refused,
 * and nothing the phone could attack offline is sent). */
static void test_the_rebaseline_answers_only_the_whole_realm_of_its_credentials(void **state)
{
    fx *f = *state;
    static const size_t lens[] = {158, 159, 160, 4000};
    char creds[4300], simcreds[4300], mac[PR_MAC_LEN + 1], *body = NULL;
    snprintf(simcreds, sizeof simcreds, "%s/sim-creds.json", f->dir);
    snprintf(creds, sizeof creds, "%s/creds.json", f->dir);
    pr_metrics *m = pr_metrics_new();
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char *realm = ts_repeat('r', lens[i]);
        int port = start_sim(f, realm, simcreds);
        json_t *sc = json_load_file(simcreds, 0, NULL);
        json_t *line = json_object_get(json_object_get(sc, "users"), "4081000000");
        assert_non_null(line);
        realm[lens[i] > 159 ? 159 : lens[i]] = '\0'; /* the realm the credentials name */
        json_t *dc = json_pack("{s{ss sO ss}}", "default", "user", "4081000000", "password",
                               json_object_get(line, "password"), "realm", realm);
        assert_int_equal(json_dump_file(dc, creds, 0), 0);
        chmod(creds, 0600);
        json_decref(dc);
        json_decref(sc);
        snprintf(mac, sizeof mac, "00562b0000a%x", (unsigned)i & 0xfu);
        apply_owned(f->st, NULL,
                    with_remote(ev_config(mac, "full", "r1", "2026-11-24T17:00:00.000Z",
                                          "{\"User_ID_1_\":\"4081000000\"}", NULL),
                                "127.0.0.1"),
                    false);
        sink_rebaseline *rb = NULL;
        sink_api *api = NULL;
        unsigned ap = start_rebaseline(f, creds, port, m, &rb, &api);
        char path[64];
        snprintf(path, sizeof path, "/v1/phones/%s/report-request", mac);
        assert_int_equal(http(ap, "POST", path, &body), 202);
        free(body);
        json_t *doc = wait_report_request(ap, mac);
        json_t *rr = json_object_get(doc, "report_request");
        const char *outcome = json_string_value(json_object_get(rr, "outcome"));
        if (lens[i] <= 159) {
            if (strcmp(outcome, "accepted") != 0)
                fail_msg("realm of %zu: %s", lens[i], json_dumps(rr, JSON_COMPACT));
        } else {
            const char *reason = json_string_value(json_object_get(rr, "reason"));
            if (strcmp(outcome, "refused") != 0 || !reason || !strstr(reason, "longer than 159"))
                fail_msg("realm of %zu answered: %s", lens[i], json_dumps(rr, JSON_COMPACT));
            assert_int_equal(json_integer_value(json_object_get(rr, "status")), 401);
        }
        json_decref(doc);
        sink_api_stop(api);
        sink_rebaseline_free(rb);
        stop_sim(f);
        free(realm);
    }
    pr_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_last_remote_address_is_stored_with_every_report,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_report_updates_the_address, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_candidates_are_incomplete_or_unseen_phones_at_most_once_per_interval, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_phone_without_an_address_is_no_candidate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_report_request_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_the_rebaseline_answers_only_the_whole_realm_of_its_credentials, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
