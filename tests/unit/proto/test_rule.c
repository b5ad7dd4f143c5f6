/* test_rule.c - pr_rules_parse: Report_Rule values from Cisco's documentation and our own
 * generator, and every refusal with its column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "rule.h"

static void parse_ok(const char *s, pr_report_rules *r)
{
    char err[256] = "";
    pr_status st = pr_rules_parse(s, r, err, sizeof err);
    if (st != PR_OK)
        fail_msg("'%s' refused: %s", s, err);
}

static void expect_bad(const char *s, const char *reason)
{
    pr_report_rules r;
    char err[256] = "";
    pr_status st = pr_rules_parse(s, &r, err, sizeof err);
    if (st != PR_EINVAL)
        fail_msg("'%s' accepted (status %s)", s, pr_status_name(st));
    if (strcmp(err, reason) != 0)
        fail_msg("'%s': reason\n  '%s', want\n  '%s'", s, err, reason);
    assert_int_equal(r.n, 0);
    assert_null(r.rule[0].url);
    assert_null(r.rule[0].key);
    pr_rules_release(&r);
}

static void test_rule_reads_a_bare_url_as_a_full_report(void **state)
{
    (void)state;
    pr_report_rules r;
    parse_ok("http://my_http_server/report_upload.php", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.rule[0].kind, PR_KIND_FULL);
    assert_string_equal(r.rule[0].url, "http://my_http_server/report_upload.php");
    assert_null(r.rule[0].key);
    pr_rules_release(&r);
}

static void test_rule_reads_two_documented_rules(void **state)
{
    (void)state;
    pr_report_rules r;
    parse_ok("[--delta]http://my_http_server/config-mpp-delta.xml "
             "[--status]http://my_http_server/config-mpp-status.xml",
             &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.rule[0].kind, PR_KIND_DELTA);
    assert_string_equal(r.rule[0].url, "http://my_http_server/config-mpp-delta.xml");
    assert_int_equal(r.rule[1].kind, PR_KIND_STATUS);
    assert_string_equal(r.rule[1].url, "http://my_http_server/config-mpp-status.xml");
    pr_rules_release(&r);
}

static void test_rule_reads_key_uid_pwd_and_keeps_macros(void **state)
{
    (void)state;
    pr_report_rules r;
    parse_ok("  [--delta --key test123 --uid phone --pwd s3cret]https://edge.example.net/r/$MA/"
             "delta.xml\t\n",
             &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.rule[0].kind, PR_KIND_DELTA);
    assert_string_equal(r.rule[0].key, "test123");
    assert_string_equal(r.rule[0].uid, "phone");
    assert_string_equal(r.rule[0].pwd, "s3cret");
    assert_string_equal(r.rule[0].url, "https://edge.example.net/r/$MA/delta.xml");
    pr_rules_release(&r);
}

static void test_rule_strips_double_quotes_around_a_key(void **state)
{
    (void)state;
    pr_report_rules r;
    parse_ok("[--delta --key \"a b ] c\"]https://e/r/$MA-delta.xml [--key \"test123\"]tftp://t/x",
             &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rule[0].key, "a b ] c");
    assert_int_equal(r.rule[1].kind, PR_KIND_FULL);
    assert_string_equal(r.rule[1].key, "test123");
    assert_string_equal(r.rule[1].url, "tftp://t/x");
    pr_rules_release(&r);
}

static void test_rule_allows_white_space_inside_brackets_and_before_the_url(void **state)
{
    (void)state;
    pr_report_rules r;
    parse_ok("[ --key secretphrase ] http://prov.serv.net/spa/$MA/rep.xml.enc", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.rule[0].kind, PR_KIND_FULL);
    assert_string_equal(r.rule[0].key, "secretphrase");
    assert_string_equal(r.rule[0].url, "http://prov.serv.net/spa/$MA/rep.xml.enc");
    pr_rules_release(&r);

    parse_ok("[--delta] HTTPS://a/d [ ] http://a/f", &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rule[0].url, "HTTPS://a/d");
    assert_int_equal(r.rule[1].kind, PR_KIND_FULL);
    pr_rules_release(&r);
}

static void test_rule_treats_blank_as_reporting_disabled(void **state)
{
    (void)state;
    pr_report_rules r;
    parse_ok("", &r);
    assert_int_equal(r.n, 0);
    parse_ok(" \t\n ", &r);
    assert_int_equal(r.n, 0);
    parse_ok(NULL, &r);
    assert_int_equal(r.n, 0);
    pr_rules_release(&r);
    pr_rules_release(NULL);
}

static void test_rule_rejects_an_unclosed_bracket(void **state)
{
    (void)state;
    expect_bad("[--delta http://a/b", "at column 1: unclosed bracket '[' (no ']' before the end)");
    expect_bad("http://a/b [--status",
               "at column 12: unclosed bracket '[' (no ']' before the end)");
}

static void test_rule_rejects_an_unknown_argument(void **state)
{
    (void)state;
    expect_bad("[--delta --foo]http://a/b",
               "at column 10: unknown argument '--foo' (known: --delta, --status, --key, --uid, "
               "--pwd)");
    expect_bad("[delta]http://a/b",
               "at column 2: unknown argument 'delta' (known: --delta, --status, --key, --uid, "
               "--pwd)");
}

static void test_rule_rejects_delta_with_status(void **state)
{
    (void)state;
    expect_bad("[--delta --status]http://a/b",
               "at column 10: --status cannot be combined with --delta (column 2): use two rules");
    expect_bad("[--status --key k --delta]http://a/b",
               "at column 19: --delta cannot be combined with --status (column 2): use two rules");
}

static void test_rule_rejects_a_missing_value(void **state)
{
    (void)state;
    expect_bad("[--delta --key]http://a/b", "at column 10: --key needs a value");
    expect_bad("[--key --delta]http://a/b", "at column 2: --key needs a value");
    expect_bad("[--uid]http://a/b", "at column 2: --uid needs a value");
    expect_bad("[--uid u --pwd ]http://a/b", "at column 10: --pwd needs a value");
    expect_bad("[--key \"\"]http://a/b", "at column 2: --key needs a value");
    expect_bad("[--key", "at column 1: unclosed bracket '[' (no ']' before the end)");
}

static void test_rule_rejects_bad_quotes_and_repeats(void **state)
{
    (void)state;
    expect_bad("[--key \"abc]http://a/b",
               "at column 8: unclosed double quote in the value of --key");
    expect_bad("[--key \"abc\"d]http://a/b",
               "at column 13: unexpected character after the closing quote of --key");
    expect_bad("[--key a --key b]http://a/b", "at column 10: repeated --key");
}

static void test_rule_rejects_a_missing_url(void **state)
{
    (void)state;
    expect_bad("[--delta]", "at column 10: missing URL");
    expect_bad("[--delta]   ", "at column 13: missing URL");
    expect_bad("[--delta][--status]http://a/b", "at column 10: missing URL");
    expect_bad("http://a/b [--status]", "at column 22: missing URL");
}

static void test_rule_rejects_other_url_schemes(void **state)
{
    (void)state;
    expect_bad("[--delta]ftp://a/b", "at column 10: URL scheme must be http, https or tftp: "
                                     "'ftp://a/b'");
    expect_bad("/$PSN.xml", "at column 1: URL scheme must be http, https or tftp: '/$PSN.xml'");
    expect_bad("[--delta]]http://a/b",
               "at column 10: URL scheme must be http, https or tftp: ']http://a/b'");
    expect_bad("http://", "at column 1: URL has no host: 'http://'");
    expect_bad("https:///x", "at column 1: URL has no host: 'https:///x'");
}

static void test_rule_rejects_a_third_rule(void **state)
{
    (void)state;
    expect_bad("[--delta]http://a/d [--status]http://a/s http://a/f",
               "at column 42: a third rule (Report_Rule holds at most two)");
}

static void test_rule_never_echoes_secrets(void **state)
{
    (void)state;
    pr_report_rules r;
    char err[256];
    assert_int_equal(
        pr_rules_parse("[--key topsecret --pwd hunter2 --x]http://a", &r, err, sizeof err),
        PR_EINVAL);
    assert_null(strstr(err, "topsecret"));
    assert_null(strstr(err, "hunter2"));
}

PR_TEST_MAIN(cmocka_unit_test(test_rule_reads_a_bare_url_as_a_full_report),
             cmocka_unit_test(test_rule_reads_two_documented_rules),
             cmocka_unit_test(test_rule_reads_key_uid_pwd_and_keeps_macros),
             cmocka_unit_test(test_rule_strips_double_quotes_around_a_key),
             cmocka_unit_test(test_rule_allows_white_space_inside_brackets_and_before_the_url),
             cmocka_unit_test(test_rule_treats_blank_as_reporting_disabled),
             cmocka_unit_test(test_rule_rejects_an_unclosed_bracket),
             cmocka_unit_test(test_rule_rejects_an_unknown_argument),
             cmocka_unit_test(test_rule_rejects_delta_with_status),
             cmocka_unit_test(test_rule_rejects_a_missing_value),
             cmocka_unit_test(test_rule_rejects_bad_quotes_and_repeats),
             cmocka_unit_test(test_rule_rejects_a_missing_url),
             cmocka_unit_test(test_rule_rejects_other_url_schemes),
             cmocka_unit_test(test_rule_rejects_a_third_rule),
             cmocka_unit_test(test_rule_never_echoes_secrets))
