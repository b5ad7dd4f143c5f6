/* test_mac.c - pr_mac_parse: the five accepted shapes, and every refusal with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "mac.h"

static void expect_ok(const char *in, const char *want)
{
    char out[PR_MAC_LEN + 1] = "x";
    char err[256] = "";
    pr_status st = pr_mac_parse(in, strlen(in), out, err, sizeof err);
    if (st != PR_OK)
        fail_msg("'%s' refused: %s", in, err);
    assert_string_equal(out, want);
    assert_true(pr_mac_is_normal(out));
}

static void expect_bad(const char *in, size_t len, const char *reason)
{
    char out[PR_MAC_LEN + 1] = "x";
    char err[256] = "";
    assert_int_equal(pr_mac_parse(in, len, out, err, sizeof err), PR_EINVAL);
    assert_string_equal(out, "");
    if (!strstr(err, reason))
        fail_msg("'%.*s': reason '%s' lacks '%s'", (int)len, in, err, reason);
}

static void test_mac_accepts_the_five_shapes(void **state)
{
    (void)state;
    expect_ok("00562b043615", "00562b043615");
    expect_ok("00562B043615", "00562b043615");
    expect_ok("00:56:2b:04:36:15", "00562b043615");
    expect_ok("00-56-2B-04-36-15", "00562b043615");
    expect_ok("0056.2b04.3615", "00562b043615");
    expect_ok("0056.2B04.3615", "00562b043615");
}

static void test_mac_parses_only_the_given_length(void **state)
{
    (void)state;
    char out[PR_MAC_LEN + 1];
    const char *s = "00562b043615 trailing";
    assert_int_equal(pr_mac_parse(s, 12, out, NULL, 0), PR_OK);
    assert_string_equal(out, "00562b043615");
}

static void test_mac_rejects_wrong_length(void **state)
{
    (void)state;
    expect_bad("00562b04361", 11, "wrong length 11");
    expect_bad("00562b0436150", 13, "wrong length 13");
    expect_bad("", 0, "wrong length 0");
    expect_bad("00:56:2b:04:36:1", 16, "wrong length 16");
    expect_bad(" 00562b043615", 13, "wrong length 13");
}

static void test_mac_rejects_bad_hex_digit_with_its_position(void **state)
{
    (void)state;
    expect_bad("00562g043615", 12, "bad hex digit 'g' at position 6");
    expect_bad("00:56:2b:04:36:1z", 17, "bad hex digit 'z' at position 17");
    expect_bad("0056.2b04.36 5", 14, "bad hex digit ' ' at position 13");
    expect_bad("00562b04\x01"
               "615",
               12, "bad hex digit '\\x01' at position 9");
    expect_bad("00562b04\0"
               "615",
               12, "bad hex digit '\\x00' at position 9");
}

static void test_mac_rejects_mixed_separators(void **state)
{
    (void)state;
    expect_bad("00:56-2b:04:36:15", 17, "mixed separators ':' and '-' at position 6");
    expect_bad("0056.2b04:3615", 14, "mixed separators '.' and ':' at position 10");
}

static void test_mac_rejects_separators_in_the_wrong_place(void **state)
{
    (void)state;
    expect_bad("005:62b:04:36:15x", 17, "expected a separator at position 3");
    expect_bad("00.56.2b.04.36.15", 17, "'.' separates groups of four");
    expect_bad("0056:2b04:3615", 14, "':' separates pairs");
    expect_bad("0056-2b04-3615", 14, "'-' separates pairs");
}

static void test_mac_rejects_all_zero_and_broadcast(void **state)
{
    (void)state;
    expect_bad("000000000000", 12, "all-zero");
    expect_bad("00:00:00:00:00:00", 17, "all-zero");
    expect_bad("ffffffffffff", 12, "broadcast");
    expect_bad("FF-FF-FF-FF-FF-FF", 17, "broadcast");
}

static void test_mac_rejects_null_input(void **state)
{
    (void)state;
    char out[PR_MAC_LEN + 1];
    char err[64];
    assert_int_equal(pr_mac_parse(NULL, 0, out, err, sizeof err), PR_EINVAL);
}

static void test_mac_is_normal_only_for_twelve_lower_case_hex_digits(void **state)
{
    (void)state;
    assert_true(pr_mac_is_normal("00562b043615"));
    assert_false(pr_mac_is_normal("00562B043615"));
    assert_false(pr_mac_is_normal("00562b04361"));
    assert_false(pr_mac_is_normal("00562b0436150"));
    assert_false(pr_mac_is_normal("00:56:2b:04:36:15"));
    assert_false(pr_mac_is_normal(NULL));
}

PR_TEST_MAIN(cmocka_unit_test(test_mac_accepts_the_five_shapes),
             cmocka_unit_test(test_mac_parses_only_the_given_length),
             cmocka_unit_test(test_mac_rejects_wrong_length),
             cmocka_unit_test(test_mac_rejects_bad_hex_digit_with_its_position),
             cmocka_unit_test(test_mac_rejects_mixed_separators),
             cmocka_unit_test(test_mac_rejects_separators_in_the_wrong_place),
             cmocka_unit_test(test_mac_rejects_all_zero_and_broadcast),
             cmocka_unit_test(test_mac_rejects_null_input),
             cmocka_unit_test(test_mac_is_normal_only_for_twelve_lower_case_hex_digits))
