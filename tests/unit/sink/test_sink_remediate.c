/*
 * test_sink_remediate.c - which phones the drift remediation asks to resync, on a store
 * filled through the apply path with a profile: drift open for remediate-after (not a fresh
 * one), never for an ignored parameter (the phone is recorded as skipped instead), at most
 * once per remediate-interval, and a phone asked through the API whatever its drift; the
 * outcome in the phone summary's `remediation`; the settings' checks. No NOTIFY is sent here
 * (tests/e2e/remediate.sh sends them to `phonereport-sim sip`). Run on SQLite and, as
 * test_sink_remediate_pg, on PostgreSQL.
 */
#include "apitest.h"

#define MACA "00562b043615" /* drifted two hours ago: asked */
#define MACB "00562b043616" /* drifted a moment ago: not yet */
#define MACC "00562b043617" /* drifts only on an ignored parameter: skipped */
#define MACD "00562b043618" /* no drift */

static const char profile[] =
    "<flat-profile><Station_Name>Intended</Station_Name><Text_Logo>Logo</Text_Logo>"
    "</flat-profile>";

static void report(apitest *f, const char *mac, long long ago_s, const char *params)
{
    char at[32];
    sink_fleet_time_ago(ago_s, at, sizeof at);
    apply_config(f->st, f->pf, mac, "full", "r", at, params, NULL);
}

static int setup(void **state)
{
    apitest *f = apitest_new("remediate", profile);
    report(f, MACA, 7200, "{\"Station_Name\":\"Other\",\"Text_Logo\":\"Logo\"}");
    report(f, MACB, 1, "{\"Station_Name\":\"Other\",\"Text_Logo\":\"Logo\"}");
    report(f, MACC, 7200, "{\"Station_Name\":\"Intended\",\"Text_Logo\":\"Mine\"}");
    report(f, MACD, 7200, "{\"Station_Name\":\"Intended\",\"Text_Logo\":\"Logo\"}");
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM drift"), 3);
    *state = f;
    return 0;
}

static sink_cfg remediate_cfg(const char *mode, const char *ignore)
{
    sink_cfg cfg = {0};
    cfg.remediate_drift = (char *)mode;
    cfg.remediate_after_ms = 600000;
    cfg.remediate_interval_ms = 3600000;
    cfg.remediate_ignore = (char *)ignore;
    cfg.rebaseline_rate = 10;
    cfg.rebaseline_sip_port = 5060;
    return cfg;
}

static json_t *summary(apitest *f, const char *mac)
{
    char err[256];
    json_t *doc = NULL;
    assert_int_equal(sink_query_phone(f->st, mac, &doc, err, sizeof err), PR_OK);
    return doc;
}

static void test_candidates_after_interval_and_ignore(void **state)
{
    apitest *f = *state;
    char err[256];
    sink_cfg cfg = remediate_cfg("resync", "Text_*,Dial_Plan_*");
    sink_rb_policy p = {.sip_port = 5060};
    sink_remediate *r = NULL;
    pr_metrics *m = pr_metrics_new();
    assert_int_equal(sink_remediate_new(&cfg, m, &r, err, sizeof err), PR_OK);
    /* A is to be asked; C is skipped (only Text_Logo drifts); B's drift is too fresh */
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, true, NULL, 0), 1);
    sink_remediate_record(r, f->st);
    json_t *c = summary(f, MACC), *rem = json_object_get(c, "remediation");
    assert_true(json_is_object(rem));
    assert_string_equal(json_string_value(json_object_get(rem, "skipped")),
                        "every drifted parameter is in remediate-ignore");
    assert_string_equal(json_string_value(json_object_get(rem, "drift")), "open");
    json_decref(c);
    /* A was not sent (no sender here): nothing recorded, asked again next round; C waits
     * for its interval */
    json_t *a = summary(f, MACA);
    assert_true(json_is_null(json_object_get(a, "remediation")));
    json_decref(a);
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, true, NULL, 0), 1);
    sink_remediate_record(r, f->st);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM remediations"), 1);
    /* through the API: B and D now, whatever their drift; without scan no candidate */
    char queued[2][PR_MAC_LEN + 1] = {MACB, MACD};
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, false, queued, 2), 2);
    sink_remediate_record(r, f->st);
    /* an unknown phone asked through the API is dropped, not sent */
    char unknown[1][PR_MAC_LEN + 1] = {"00562b0436ff"};
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, false, unknown, 1), 0);
    sink_remediate_record(r, f->st);
    sink_remediate_free(r);
    pr_metrics_free(m);
}

static void test_off_asks_only_what_the_api_queues(void **state)
{
    apitest *f = *state;
    char err[256];
    sink_cfg cfg = remediate_cfg("off", NULL);
    sink_rb_policy p = {.sip_port = 5060};
    sink_remediate *r = NULL;
    pr_metrics *m = pr_metrics_new();
    assert_int_equal(sink_remediate_new(&cfg, m, &r, err, sizeof err), PR_OK);
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, true, NULL, 0), 0);
    char queued[1][PR_MAC_LEN + 1] = {MACA};
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, true, queued, 1), 1);
    sink_remediate_record(r, f->st);
    sink_remediate_free(r);
    pr_metrics_free(m);
    /* with no ignore list, C's Text_Logo is a candidate too */
    cfg = remediate_cfg("resync", NULL);
    m = pr_metrics_new();
    assert_int_equal(sink_remediate_new(&cfg, m, &r, err, sizeof err), PR_OK);
    assert_int_equal(sink_remediate_prepare(r, f->st, &p, true, NULL, 0), 2);
    sink_remediate_free(r);
    pr_metrics_free(m);
}

static void test_settings_are_checked(void **state)
{
    char err[256];
    (void)state;
    sink_cfg cfg = remediate_cfg("fix", NULL);
    assert_int_equal(sink_remediate_check(&cfg, err, sizeof err), PR_EINVAL);
    assert_non_null(strstr(err, "'fix' is not off or resync"));
    cfg = remediate_cfg("resync", NULL);
    assert_int_equal(sink_remediate_check(&cfg, err, sizeof err), PR_EINVAL);
    assert_non_null(strstr(err, "needs rebaseline-credentials"));
    cfg.rebaseline_credentials = "creds.json";
    cfg.profiles_dir = "profiles";
    assert_int_equal(sink_remediate_check(&cfg, err, sizeof err), PR_OK);
    const char *bad[] = {"A,,B", ",", "A, ,B"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cfg.remediate_ignore = (char *)bad[i];
        if (sink_remediate_check(&cfg, err, sizeof err) != PR_EINVAL)
            fail_msg("remediate-ignore '%s' accepted", bad[i]);
    }
    cfg.remediate_ignore = "Text_*, Dial_Plan_?_";
    assert_int_equal(sink_remediate_check(&cfg, err, sizeof err), PR_OK);
    cfg.remediate_drift = "off";
    cfg.rebaseline_credentials = NULL;
    assert_int_equal(sink_remediate_check(&cfg, err, sizeof err), PR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        APITEST(test_candidates_after_interval_and_ignore, setup),
        APITEST(test_off_asks_only_what_the_api_queues, setup),
        cmocka_unit_test(test_settings_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
