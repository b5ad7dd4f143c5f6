/* test_ingest_limits.c - Content-Length judgement, the in-flight budget, Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testmain.h"

#include "ingest_int.h"

static void test_content_length_within_limit_is_ok(void **state)
{
    (void)state;
    unsigned long long n = 0;
    assert_int_equal(ingest_limits_content_length("1024", 4096, &n), INGEST_LEN_OK);
    assert_int_equal(n, 1024);
    assert_int_equal(ingest_limits_content_length("4096", 4096, &n), INGEST_LEN_OK);
    assert_int_equal(ingest_limits_content_length("0", 4096, &n), INGEST_LEN_OK);
}

static void test_content_length_over_limit_is_too_large(void **state)
{
    (void)state;
    unsigned long long n = 0;
    assert_int_equal(ingest_limits_content_length("4097", 4096, &n), INGEST_LEN_TOO_LARGE);
    assert_int_equal(ingest_limits_content_length("99999999999999999999999", 4096, &n),
                     INGEST_LEN_TOO_LARGE);
}

static void test_content_length_garbage_is_invalid(void **state)
{
    (void)state;
    unsigned long long n = 0;
    assert_int_equal(ingest_limits_content_length("-1", 4096, &n), INGEST_LEN_INVALID);
    assert_int_equal(ingest_limits_content_length("12abc", 4096, &n), INGEST_LEN_INVALID);
    assert_int_equal(ingest_limits_content_length("", 4096, &n), INGEST_LEN_INVALID);
}

static void test_absent_content_length_means_chunked(void **state)
{
    (void)state;
    unsigned long long n = 0;
    assert_int_equal(ingest_limits_content_length(NULL, 4096, &n), INGEST_LEN_ABSENT);
}

static void test_budget_refuses_what_would_pass_the_maximum(void **state)
{
    (void)state;
    ingest_budget b;
    ingest_budget_init(&b, 100);
    assert_true(ingest_budget_take(&b, 60));
    assert_false(ingest_budget_take(&b, 41));
    assert_int_equal(ingest_budget_used(&b), 60);
    assert_true(ingest_budget_take(&b, 40));
    ingest_budget_give(&b, 60);
    assert_int_equal(ingest_budget_used(&b), 40);
    assert_true(ingest_budget_take(&b, 60));
    assert_false(ingest_budget_take(&b, -1));
}

static void test_retry_after_rounds_up_to_whole_seconds(void **state)
{
    (void)state;
    assert_int_equal(ingest_limits_retry_after_s(5000), 5);
    assert_int_equal(ingest_limits_retry_after_s(1001), 2);
    assert_int_equal(ingest_limits_retry_after_s(1), 1);
    assert_int_equal(ingest_limits_retry_after_s(0), 1);
}

static void test_each_address_holds_at_most_its_share(void **state)
{
    (void)state;
    ingest_shares *s = NULL;
    char err[64];
    assert_int_equal(ingest_shares_new(100, &s, err, sizeof err), PR_OK);
    assert_true(ingest_shares_take(s, "10.0.0.1", 60));
    assert_false(ingest_shares_take(s, "10.0.0.1", 41));
    assert_true(ingest_shares_take(s, "10.0.0.2", 100)); /* another address, its own share */
    assert_true(ingest_shares_take(s, "10.0.0.1", 40));
    assert_int_equal(ingest_shares_held(s, "10.0.0.1"), 100);
    ingest_shares_give(s, "10.0.0.1", 100);
    assert_int_equal(ingest_shares_held(s, "10.0.0.1"), 0);
    assert_true(ingest_shares_take(s, "10.0.0.1", 100));
    ingest_shares_free(s); /* frees what is still held */
}

static void test_default_share_is_an_eighth_but_at_least_one_body(void **state)
{
    (void)state;
    ingest_cfg c = {.max_body_bytes = 4 << 20, .max_inflight_bytes = 256 << 20};
    assert_int_equal(ingest_limits_ip_share(&c), 32 << 20);
    c.max_inflight_bytes = 8 << 20;
    assert_int_equal(ingest_limits_ip_share(&c), 4 << 20);
    c.max_inflight_bytes_per_ip = 6 << 20;
    assert_int_equal(ingest_limits_ip_share(&c), 6 << 20);
}

PR_TEST_MAIN(cmocka_unit_test(test_content_length_within_limit_is_ok),
             cmocka_unit_test(test_content_length_over_limit_is_too_large),
             cmocka_unit_test(test_content_length_garbage_is_invalid),
             cmocka_unit_test(test_absent_content_length_means_chunked),
             cmocka_unit_test(test_budget_refuses_what_would_pass_the_maximum),
             cmocka_unit_test(test_retry_after_rounds_up_to_whole_seconds),
             cmocka_unit_test(test_each_address_holds_at_most_its_share),
             cmocka_unit_test(test_default_share_is_an_eighth_but_at_least_one_body))
