/* test_rule_cmd.c - `phonereport rule`: generated elements, flag validation (all errors at
 * once, exit 78), and --check on the real 8832 profile and on broken profiles. rule_main
 * runs in-process with stdout and stderr redirected to files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

#include "flatprofile.h"
#include "rule.h"
#include "commands.h"
#include "testsupport.h"

#define SAMPLE_8832 PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml"

typedef struct run_result {
    int rc;
    char *out;
    char *err;
} run_result;

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    assert_true(n >= 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    rewind(f);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Runs `phonereport rule ARGS...` (NULL-terminated) in-process. */
static run_result run(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"rule";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(argc < 31);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;

    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    assert_true(so >= 0 && se >= 0);
    assert_true(dup2(fileno(fo), STDOUT_FILENO) >= 0);
    assert_true(dup2(fileno(fe), STDERR_FILENO) >= 0);
    run_result r = {.rc = rule_main(argc, argv)};
    fflush(stdout);
    fflush(stderr);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    fseek(fo, 0, SEEK_END);
    fseek(fe, 0, SEEK_END);
    r.out = slurp(fo);
    r.err = slurp(fe);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("missing '%s' in:\n%s", needle, hay);
}

/* The value the generated elements give to `name`, read back with the flat-profile parser. */
static char *generated_value(const char *out, const char *name)
{
    size_t cap = strlen(out) + 64;
    char *doc = malloc(cap);
    assert_non_null(doc);
    snprintf(doc, cap, "<flat-profile>\n%s</flat-profile>\n", out);
    pr_flat_profile fp;
    pr_xml_error why;
    char err[256];
    if (pr_flatprofile_parse(doc, strlen(doc), NULL, &fp, &why, err, sizeof err) != PR_OK)
        fail_msg("output is not a flat-profile fragment: %s", err);
    assert_int_equal(fp.len, 5);
    const pr_fp_param *p = pr_flatprofile_find(&fp, name);
    assert_non_null(p);
    assert_string_equal(p->ua, "na");
    char *v = strdup(p->value);
    pr_flatprofile_release(&fp);
    free(doc);
    return v;
}

static void test_rule_cmd_prints_delta_and_status_rules(void **state)
{
    (void)state;
    run_result r = run("--url", "https://edge.example.net/r", "--delta", "--status", "--method",
                       "PUT", "--when", "On Local Change", "--delay", "60", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(
        r.out, "<Report_Rule ua=\"na\">[--delta]https://edge.example.net/r/$MA/delta.xml "
               "[--status]https://edge.example.net/r/$MA/status.xml</Report_Rule>\n"
               "<HTTP_Report_Method ua=\"na\">PUT</HTTP_Report_Method>\n"
               "<Report_To_Server ua=\"na\">On Local Change</Report_To_Server>\n"
               "<Periodic_Upload_To_Server ua=\"na\">3600</Periodic_Upload_To_Server>\n"
               "<Upload_Delay_On_Local_Change ua=\"na\">60</Upload_Delay_On_Local_Change>\n");
    run_free(&r);
}

static void test_rule_cmd_defaults_to_one_full_rule(void **state)
{
    (void)state;
    run_result r = run("--url", "http://10.0.0.5:8080/r///", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(
        r.out, "<Report_Rule ua=\"na\">http://10.0.0.5:8080/r/$MA/full.xml</Report_Rule>\n"
               "<HTTP_Report_Method ua=\"na\">POST</HTTP_Report_Method>\n"
               "<Report_To_Server ua=\"na\">On Local Change</Report_To_Server>\n"
               "<Periodic_Upload_To_Server ua=\"na\">3600</Periodic_Upload_To_Server>\n"
               "<Upload_Delay_On_Local_Change ua=\"na\">60</Upload_Delay_On_Local_Change>\n");
    run_free(&r);
}

static void test_rule_cmd_keeps_the_flag_order_of_rules(void **state)
{
    (void)state;
    run_result r = run("--status", "--full", "--url=https://e.example/x", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, ">[--status]https://e.example/x/$MA/status.xml "
                           "https://e.example/x/$MA/full.xml<");
    run_free(&r);
}

static void test_rule_cmd_escapes_xml_and_quotes_a_key_with_spaces(void **state)
{
    (void)state;
    run_result r = run("--url", "https://edge.example.net/r?", "--delta", "--key", "a & <b> c",
                       "--uid", "ph&1", "--pwd", "p<w", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG); /* a query in --url */
    run_free(&r);

    r = run("--url", "https://edge.example.net/r", "--delta", "--key", "a & <b> c", "--uid", "ph&1",
            "--pwd", "p<w", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "<Report_Rule ua=\"na\">[--delta --key \"a &amp; &lt;b&gt; c\" "
                           "--uid ph&amp;1 --pwd p&lt;w]https://edge.example.net/r/$MA/"
                           "delta.xml</Report_Rule>\n");
    /* What a phone reads back is the rule, and the rule parses to what was asked for. */
    char *rule = generated_value(r.out, "Report_Rule");
    pr_report_rules rules;
    char err[256];
    assert_int_equal(pr_rules_parse(rule, &rules, err, sizeof err), PR_OK);
    assert_int_equal(rules.n, 1);
    assert_int_equal(rules.rule[0].kind, PR_KIND_DELTA);
    assert_string_equal(rules.rule[0].key, "a & <b> c");
    assert_string_equal(rules.rule[0].uid, "ph&1");
    assert_string_equal(rules.rule[0].pwd, "p<w");
    assert_string_equal(rules.rule[0].url, "https://edge.example.net/r/$MA/delta.xml");
    pr_rules_release(&rules);
    free(rule);
    run_free(&r);
}

static void test_rule_cmd_accepts_when_aliases_and_any_case(void **state)
{
    (void)state;
    const char *in[] = {"on-request", "ON LOCAL CHANGE", "periodically"};
    const char *want[] = {"On Request", "On Local Change", "Periodically"};
    for (size_t i = 0; i < 3; i++) {
        run_result r = run("--url", "https://e/r", "--when", in[i], "--method", "post", NULL);
        assert_int_equal(r.rc, 0);
        char *v = generated_value(r.out, "Report_To_Server");
        assert_string_equal(v, want[i]);
        free(v);
        v = generated_value(r.out, "HTTP_Report_Method");
        assert_string_equal(v, "POST");
        free(v);
        run_free(&r);
    }
}

static void test_rule_cmd_checks_period_and_delay_bounds(void **state)
{
    (void)state;
    const char *good[][2] = {
        {"--period", "600"}, {"--period", "2592000"}, {"--delay", "10"}, {"--delay", "900"}};
    for (size_t i = 0; i < 4; i++) {
        run_result r = run("--url", "https://e/r", good[i][0], good[i][1], NULL);
        assert_int_equal(r.rc, 0);
        run_free(&r);
    }
    const char *bad[][2] = {{"--period", "599"},  {"--period", "2592001"},
                            {"--period", "-600"}, {"--period", "6e2"},
                            {"--delay", "9"},     {"--delay", "901"},
                            {"--delay", ""},      {"--delay", "99999999999999999999"}};
    for (size_t i = 0; i < 8; i++) {
        run_result r = run("--url", "https://e/r", bad[i][0], bad[i][1], NULL);
        assert_int_equal(r.rc, PR_EXIT_CONFIG);
        assert_string_equal(r.out, "");
        /* the problem and the loader's summary line */
        assert_int_equal(count_lines(r.err), 2);
        assert_contains(r.err, bad[i][0]);
        if (!strstr(r.err, "is out of range [") && !strstr(r.err, "is not an integer"))
            fail_msg("no bound or number message in:\n%s", r.err);
        run_free(&r);
    }
}

static void test_rule_cmd_warns_above_the_8800_period_maximum(void **state)
{
    (void)state;
    run_result r = run("--url", "https://e/r", "--period", "259201", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.err, "warning: --period 259201 is above 259200");
    char *v = generated_value(r.out, "Periodic_Upload_To_Server");
    assert_string_equal(v, "259201");
    free(v);
    run_free(&r);

    r = run("--url", "https://e/r", "--period", "259200", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    run_free(&r);
}

static void test_rule_cmd_reports_every_bad_flag_at_once(void **state)
{
    (void)state;
    run_result r = run("--url", "ftp://x", "--delta", "--delta", "--full", "--status", "--method",
                       "GET", "--when", "sometimes", "--period", "100", "--delay", "x", "--uid",
                       "a", "--key", "", "--bogus", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "phonereport rule: unknown option --bogus (see --help)\n");
    assert_contains(r.err, "phonereport rule: --url: must start with http:// or https://");
    assert_contains(r.err, "phonereport rule: at most two of --full, --delta, --status");
    assert_contains(r.err, "phonereport rule: --uid and --pwd go together\n");
    assert_contains(r.err, "phonereport rule: --key: empty value\n");
    assert_contains(r.err, "phonereport rule: --method: 'GET' is not PUT or POST\n");
    assert_contains(r.err, "phonereport rule: --when: 'sometimes' is not");
    assert_contains(r.err, "phonereport rule: --period (flag): 100 is out of range [600, 2592000]");
    assert_contains(r.err, "phonereport rule: --delay (flag): 'x' is not an integer");
    assert_contains(r.err, "phonereport rule: 3 configuration errors, see --help\n");
    assert_int_equal(count_lines(r.err), 10);
    run_free(&r);
}

static void test_rule_cmd_rejects_values_that_would_break_the_rule(void **state)
{
    (void)state;
    struct {
        const char *flag, *value, *reason;
    } cases[] = {
        {"--key", "a\"b", "--key: the characters \" [ ] are not allowed"},
        {"--key", "a]b", "--key: the characters \" [ ] are not allowed"},
        {"--key", "a\tb", "--key: control characters are not allowed"},
        {"--uid", "a b", "--uid: white space is not allowed"},
        {"--uid", "--delta", "--uid: must not start with --"},
        {"--url", "https://", "--url: no host"},
        {"--url", "https://e/r x", "--url: white space"},
        {"--url", "https://e/r#x", "--url: no query or fragment"},
        {"--url", "/r", "--url: must start with http:// or https://"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *url = strcmp(cases[i].flag, "--url") == 0 ? cases[i].value : "https://e/r";
        run_result r = strcmp(cases[i].flag, "--uid") == 0
                           ? run("--url", url, "--uid", cases[i].value, "--pwd", "p", NULL)
                       : strcmp(cases[i].flag, "--key") == 0
                           ? run("--url", url, "--key", cases[i].value, NULL)
                           : run("--url", url, NULL);
        assert_int_equal(r.rc, PR_EXIT_CONFIG);
        assert_contains(r.err, cases[i].reason);
        assert_int_equal(count_lines(r.err), 1);
        run_free(&r);
    }
}

static void test_rule_cmd_needs_url_and_values(void **state)
{
    (void)state;
    run_result r = run("--delta", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_string_equal(r.err, "phonereport rule: --url is required, e.g. --url "
                               "https://edge.example.net/r\n");
    run_free(&r);

    r = run("--url", "https://e/r", "--key", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_contains(r.err, "phonereport rule: --key needs a value\n");
    run_free(&r);

    /* Flags behave as every command's options: a later value wins, a kind is a boolean. */
    r = run("--url", "ftp://e/r", "--url", "https://f/r", "--delta=maybe", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_contains(r.err, "--delta (flag): 'maybe' is not a boolean");
    assert_null(strstr(r.err, "--url"));
    run_free(&r);
    r = run("--url", "https://f/r", "--delta=no", "--status", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, ">[--status]https://f/r/$MA/status.xml<");
    run_free(&r);
}

static void test_rule_cmd_warns_about_macros_in_the_key_and_kind_words_in_the_url(void **state)
{
    (void)state;
    run_result r = run("--url", "https://e/delta-reports", "--key", "pa$word", NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.err, "warning: --key holds '$'");
    assert_contains(r.err, "warning: the path of --url contains 'delta' or 'status'");
    assert_null(strstr(r.err, "pa$word")); /* keys are never printed on stderr */
    run_free(&r);
}

static void test_rule_cmd_help_explains_the_flags(void **state)
{
    (void)state;
    run_result r = run("--help", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    const char *flags[] = {"--url",   "--full",  "--delta",  "--status", "--key",
                           "--uid",   "--pwd",   "--method", "--when",   "--period",
                           "--delay", "--check", "$MA"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        assert_contains(r.out, flags[i]);
    run_free(&r);
}

static void test_rule_cmd_check_accepts_the_real_8832_profile(void **state)
{
    (void)state;
    /* The file holds: Report_Rule empty, POST, On Request, 3600, 60: nothing wrong. */
    run_result r = run("--check", SAMPLE_8832, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out,
                        SAMPLE_8832 ": upload options OK: Report_Rule empty (reporting "
                                    "disabled), HTTP_Report_Method POST, Report_To_Server On "
                                    "Request, Periodic_Upload_To_Server 3600, "
                                    "Upload_Delay_On_Local_Change 60\n");
    run_free(&r);
}

static char *write_profile(const char *dir, const char *name, const char *body)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/%s", dir, name);
    assert_int_equal(ts_write_file(path, body, strlen(body)), 0);
    return path;
}

static void test_rule_cmd_check_reports_each_problem_on_one_line(void **state)
{
    const char *dir = *state;
    char *path =
        write_profile(dir, "bad.xml",
                      "<?xml version=\"1.0\"?>\n<flat-profile>\n"
                      "<Report_Rule ua=\"na\">[--delta --foo]http://x/d</Report_Rule>\n"
                      "<HTTP_Report_Method ua=\"na\">GET</HTTP_Report_Method>\n"
                      "<Report_To_Server ua=\"na\">Sometimes</Report_To_Server>\n"
                      "<Periodic_Upload_To_Server ua=\"na\">59</Periodic_Upload_To_Server>\n"
                      "<Upload_Delay_On_Local_Change ua=\"na\">abc</Upload_Delay_On_Local_Change>\n"
                      "</flat-profile>\n");
    run_result r = run("--check", path, NULL);
    assert_int_equal(r.rc, 1);
    assert_int_equal(count_lines(r.out), 5);
    char line[512];
    snprintf(line, sizeof line, "%s: Report_Rule: at column 10: unknown argument '--foo'", path);
    assert_contains(r.out, line);
    snprintf(line, sizeof line, "%s: HTTP_Report_Method: unknown method 'GET' (PUT or POST)\n",
             path);
    assert_contains(r.out, line);
    snprintf(line, sizeof line, "%s: Report_To_Server: unknown value 'Sometimes'", path);
    assert_contains(r.out, line);
    snprintf(line, sizeof line, "%s: Periodic_Upload_To_Server: 59 is out of range 600..2592000\n",
             path);
    assert_contains(r.out, line);
    snprintf(line, sizeof line,
             "%s: Upload_Delay_On_Local_Change: 'abc' is not a number of seconds (10..900)\n",
             path);
    assert_contains(r.out, line);
    assert_null(strstr(r.out, "upload options OK"));
    run_free(&r);

    free(path);
    path = write_profile(dir, "range.xml",
                         "<flat-profile><Periodic_Upload_To_Server>2592001"
                         "</Periodic_Upload_To_Server><Upload_Delay_On_Local_Change>901"
                         "</Upload_Delay_On_Local_Change><HTTP_Report_Method/>"
                         "<Report_Rule>[--delta]http://a/d [--status]http://a/s http://a/f"
                         "</Report_Rule></flat-profile>");
    r = run("--check", path, NULL);
    assert_int_equal(r.rc, 1);
    assert_int_equal(count_lines(r.out), 4);
    assert_contains(r.out, "Periodic_Upload_To_Server: 2592001 is out of range");
    assert_contains(r.out, "Upload_Delay_On_Local_Change: 901 is out of range 10..900");
    assert_contains(r.out, "HTTP_Report_Method: unknown method '' (PUT or POST)");
    assert_contains(r.out, "Report_Rule: at column 42: a third rule");
    run_free(&r);
    free(path);
}

static void test_rule_cmd_check_accepts_never_report_and_warns_without_failing(void **state)
{
    const char *dir = *state;
    char *path = write_profile(
        dir, "ok.xml",
        "<env><flat-profile>\n"
        "<Report_Rule>[--delta --uid u]https://e/r/$MA/delta.xml [--status]https://e/r/$MA/"
        "status.xml</Report_Rule>\n"
        "<HTTP_Report_Method>PUT</HTTP_Report_Method>\n"
        "<Report_To_Server>Never Report</Report_To_Server>\n"
        "<Periodic_Upload_To_Server>300000</Periodic_Upload_To_Server>\n"
        "</flat-profile></env>\n");
    run_result r = run("--check", path, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "Report_Rule: warning: rule 1 has --uid without --pwd\n");
    assert_contains(r.out, "Periodic_Upload_To_Server: warning: 300000 is above 259200");
    char line[512];
    snprintf(line, sizeof line,
             "%s: upload options OK: Report_Rule 2 rules (delta, status), HTTP_Report_Method "
             "PUT, Report_To_Server Never Report, Periodic_Upload_To_Server 300000, "
             "Upload_Delay_On_Local_Change absent\n",
             path);
    assert_contains(r.out, line);
    assert_int_equal(count_lines(r.out), 3);
    run_free(&r);
    free(path);
}

static void test_rule_cmd_check_accepts_what_the_generator_prints(void **state)
{
    run_result g = run("--url", "https://edge.example.net/r", "--delta", "--status", "--key",
                       "my key", "--uid", "u", "--pwd", "p", "--when", "periodically", "--period",
                       "86400", "--delay", "30", NULL);
    assert_int_equal(g.rc, 0);
    const char *dir = *state;
    size_t n = strlen(g.out) + 64;
    char *doc = malloc(n);
    assert_non_null(doc);
    snprintf(doc, n, "<flat-profile>\n%s</flat-profile>\n", g.out);
    char *path = write_profile(dir, "gen.xml", doc);
    run_result r = run("--check", path, NULL);
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "upload options OK: Report_Rule 2 rules (delta, status), "
                           "HTTP_Report_Method POST, Report_To_Server Periodically, "
                           "Periodic_Upload_To_Server 86400, Upload_Delay_On_Local_Change 30");
    run_free(&r);
    run_free(&g);
    free(doc);
    free(path);
}

static void test_rule_cmd_check_exits_78_when_the_file_is_unusable(void **state)
{
    run_result r = run("--check", "/nonexistent/profile.xml", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "cannot open /nonexistent/profile.xml: No such file or directory");
    run_free(&r);

    const char *dir = *state;
    const char *bodies[][2] = {
        {"not XML at all", "XML not well-formed"},
        {"<!DOCTYPE x [<!ENTITY a \"b\">]><flat-profile/>", "DOCTYPE"},
        {"<config><A>1</A></config>", "no <flat-profile> element"},
        {"", "empty document"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char *path = write_profile(dir, "x.xml", bodies[i][0]);
        r = run("--check", path, NULL);
        assert_int_equal(r.rc, PR_EXIT_CONFIG);
        assert_string_equal(r.out, "");
        assert_contains(r.err, "not a usable profile: ");
        assert_contains(r.err, bodies[i][1]);
        assert_int_equal(count_lines(r.err), 1);
        run_free(&r);
        free(path);
    }

    r = run("--check", SAMPLE_8832, "--delta", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_contains(r.err, "--check takes no other flag");
    run_free(&r);

    r = run("--check", NULL);
    assert_int_equal(r.rc, PR_EXIT_CONFIG);
    assert_contains(r.err, "--check needs a value");
    run_free(&r);
}

PR_TEST_MAIN(
    cmocka_unit_test(test_rule_cmd_prints_delta_and_status_rules),
    cmocka_unit_test(test_rule_cmd_defaults_to_one_full_rule),
    cmocka_unit_test(test_rule_cmd_keeps_the_flag_order_of_rules),
    cmocka_unit_test(test_rule_cmd_escapes_xml_and_quotes_a_key_with_spaces),
    cmocka_unit_test(test_rule_cmd_accepts_when_aliases_and_any_case),
    cmocka_unit_test(test_rule_cmd_checks_period_and_delay_bounds),
    cmocka_unit_test(test_rule_cmd_warns_above_the_8800_period_maximum),
    cmocka_unit_test(test_rule_cmd_reports_every_bad_flag_at_once),
    cmocka_unit_test(test_rule_cmd_rejects_values_that_would_break_the_rule),
    cmocka_unit_test(test_rule_cmd_needs_url_and_values),
    cmocka_unit_test(test_rule_cmd_warns_about_macros_in_the_key_and_kind_words_in_the_url),
    cmocka_unit_test(test_rule_cmd_help_explains_the_flags),
    cmocka_unit_test(test_rule_cmd_check_accepts_the_real_8832_profile),
    TS_TMPDIR_TEST(test_rule_cmd_check_reports_each_problem_on_one_line),
    TS_TMPDIR_TEST(test_rule_cmd_check_accepts_never_report_and_warns_without_failing),
    TS_TMPDIR_TEST(test_rule_cmd_check_accepts_what_the_generator_prints),
    TS_TMPDIR_TEST(test_rule_cmd_check_exits_78_when_the_file_is_unusable))
