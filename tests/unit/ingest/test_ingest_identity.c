/* test_ingest_identity.c - the phone's MAC from path, query, User-Agent; precedence,
 * disagreement, allow-list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ingest_int.h"

/* What ingest_identity_resolve makes of `in` with the sources in `order` (a setting's text). */
typedef struct resolved {
    ingest_identity_outcome rc;
    char mac[13];
    pr_mac_source src;
    char reason[64];
} resolved;

#define DEFAULT_ORDER "cert,path,query,user-agent"

static resolved resolve(const char *order, ingest_identity_input in)
{
    ingest_identity_order o;
    char err[128];
    resolved r = {0};
    assert_int_equal(ingest_identity_order_parse(order, &o, err, sizeof err), PR_OK);
    r.rc = ingest_identity_resolve(&o, &in, r.mac, &r.src, r.reason, sizeof r.reason);
    return r;
}

static const char *UA = "Cisco-CP-8841-3PCC/11.0 (00562b043615)";

static void test_path_token_lowercase_is_found(void **state)
{
    (void)state;
    char mac[13];
    assert_int_equal(ingest_identity_from_path("/r/00562b043615-delta.xml", mac), 1);
    assert_string_equal(mac, "00562b043615");
}

static void test_path_token_uppercase_is_normalised(void **state)
{
    (void)state;
    char mac[13];
    assert_int_equal(ingest_identity_from_path("/r/00562B043615/status.xml", mac), 1);
    assert_string_equal(mac, "00562b043615");
}

static void test_path_colon_form_is_found(void **state)
{
    (void)state;
    char mac[13];
    assert_int_equal(ingest_identity_from_path("/r/00:56:2b:04:36:15/full.xml", mac), 1);
    assert_string_equal(mac, "00562b043615");
}

static void test_path_token_inside_a_word_is_not_a_mac(void **state)
{
    (void)state;
    char mac[13] = "";
    assert_int_equal(ingest_identity_from_path("/r/cfg00562b043615.xml", mac), 0);
    assert_int_equal(ingest_identity_from_path("/r/00562b0436151.xml", mac), 0);
    assert_int_equal(ingest_identity_from_path("/r/00562b04361g.xml", mac), 0);
    assert_int_equal(ingest_identity_from_path("/aa:00:56:2b:04:36:15", mac), 0);
}

static void test_path_with_two_different_macs_is_ambiguous(void **state)
{
    (void)state;
    char mac[13];
    assert_int_equal(ingest_identity_from_path("/r/00562b043615/00562b043616.xml", mac), -1);
    /* the same MAC twice, in two shapes, is fine */
    assert_int_equal(ingest_identity_from_path("/r/00562b043615/00:56:2B:04:36:15", mac), 1);
}

static void test_path_all_zero_mac_is_ignored(void **state)
{
    (void)state;
    char mac[13];
    assert_int_equal(ingest_identity_from_path("/r/000000000000.xml", mac), 0);
    assert_int_equal(ingest_identity_from_path("/r/ffffffffffff.xml", mac), 0);
}

static void test_first_source_in_order_names_the_source(void **state)
{
    (void)state;
    resolved r = resolve(DEFAULT_ORDER, (ingest_identity_input){.path = "/r/00562b043615.xml",
                                                                .query_mac = "00562B043615",
                                                                .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_OK);
    assert_string_equal(r.mac, "00562b043615");
    assert_int_equal(r.src, PR_MAC_SRC_PATH);
}

static void test_user_agent_alone_identifies_the_phone(void **state)
{
    (void)state;
    resolved r =
        resolve(DEFAULT_ORDER, (ingest_identity_input){.path = "/report.xml", .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_OK);
    assert_string_equal(r.mac, "00562b043615");
    assert_int_equal(r.src, PR_MAC_SRC_USER_AGENT);
}

static void test_query_identifies_the_phone(void **state)
{
    (void)state;
    resolved r = resolve(DEFAULT_ORDER, (ingest_identity_input){.path = "/report.xml",
                                                                .query_mac = "00-56-2B-04-36-15"});
    assert_int_equal(r.rc, INGEST_ID_OK);
    assert_string_equal(r.mac, "00562b043615");
    assert_int_equal(r.src, PR_MAC_SRC_QUERY);
}

static void test_disagreeing_sources_are_a_mismatch(void **state)
{
    (void)state;
    resolved r = resolve(DEFAULT_ORDER,
                         (ingest_identity_input){.path = "/r/00562b043616.xml", .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_MISMATCH);
    assert_string_equal(r.reason, "mac mismatch");
}

static void test_sources_left_out_of_the_order_are_not_consulted(void **state)
{
    (void)state;
    resolved r = resolve("user-agent",
                         (ingest_identity_input){.path = "/r/00562b043616.xml", .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_OK);
    assert_string_equal(r.mac, "00562b043615");
    assert_int_equal(r.src, PR_MAC_SRC_USER_AGENT);
}

static void test_order_decides_the_source_name(void **state)
{
    (void)state;
    resolved r = resolve("user-agent , path",
                         (ingest_identity_input){.path = "/r/00562b043615.xml", .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_OK);
    assert_int_equal(r.src, PR_MAC_SRC_USER_AGENT);
}

static void test_no_source_is_no_identity(void **state)
{
    (void)state;
    resolved r = resolve(DEFAULT_ORDER,
                         (ingest_identity_input){.path = "/report.xml", .user_agent = "curl/7.88"});
    assert_int_equal(r.rc, INGEST_ID_NONE);
    assert_string_equal(r.reason, "no phone identity");
}

static void test_bad_query_mac_is_invalid(void **state)
{
    (void)state;
    resolved r = resolve(
        DEFAULT_ORDER,
        (ingest_identity_input){.path = "/report.xml", .query_mac = "nope", .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_INVALID);
}

static void test_cert_mac_comes_first_by_default(void **state)
{
    (void)state;
    resolved r = resolve(DEFAULT_ORDER,
                         (ingest_identity_input){.cert_mac = "00562b043615", .user_agent = UA});
    assert_int_equal(r.rc, INGEST_ID_OK);
    assert_int_equal(r.src, PR_MAC_SRC_CERT);
}

static void test_order_rejects_unknown_and_repeated_sources(void **state)
{
    (void)state;
    ingest_identity_order o;
    char err[128];
    assert_int_equal(ingest_identity_order_parse("path,header", &o, err, sizeof err), PR_EINVAL);
    assert_int_equal(ingest_identity_order_parse("path,path", &o, err, sizeof err), PR_EINVAL);
    assert_int_equal(ingest_identity_order_parse(" , ", &o, err, sizeof err), PR_EINVAL);
}

static void test_cert_common_name_gives_the_mac(void **state)
{
    (void)state;
    char mac[13];
    assert_int_equal(ingest_identity_from_cert_name("CP-8841-SEP00562B043615", mac), 1);
    assert_string_equal(mac, "00562b043615");
    assert_int_equal(ingest_identity_from_cert_name("SEP00562B043615", mac), 1);
    assert_string_equal(mac, "00562b043615");
    assert_int_equal(ingest_identity_from_cert_name("phone 00:56:2b:04:36:15", mac), 1);
    assert_int_equal(ingest_identity_from_cert_name("SEP00562B0436150", mac), 0);
    assert_int_equal(ingest_identity_from_cert_name("XSEP00562B043615", mac), 0);
    assert_int_equal(ingest_identity_from_cert_name("Cisco Manufacturing CA", mac), 0);
}

static void test_allow_list_accepts_oui_prefix_and_full_mac(void **state)
{
    (void)state;
    ingest_allow a;
    char err[128];
    assert_int_equal(ingest_allow_parse("00:56:2B, 001122334455", &a, err, sizeof err), PR_OK);
    assert_true(ingest_allow_check(&a, "00562b043615"));
    assert_true(ingest_allow_check(&a, "001122334455"));
    assert_false(ingest_allow_check(&a, "001122334456"));
    assert_false(ingest_allow_check(&a, "0a562b043615"));
    ingest_allow_release(&a);
}

static void test_empty_allow_list_allows_every_phone(void **state)
{
    (void)state;
    ingest_allow a;
    char err[128];
    assert_int_equal(ingest_allow_parse(NULL, &a, err, sizeof err), PR_OK);
    assert_true(ingest_allow_check(&a, "00562b043615"));
}

static void test_allow_list_rejects_short_or_non_hex_items(void **state)
{
    (void)state;
    ingest_allow a;
    char err[128];
    assert_int_equal(ingest_allow_parse("0056", &a, err, sizeof err), PR_EINVAL);
    assert_int_equal(ingest_allow_parse("00562x", &a, err, sizeof err), PR_EINVAL);
    assert_int_equal(ingest_allow_parse("00562b0436150", &a, err, sizeof err), PR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_token_lowercase_is_found),
        cmocka_unit_test(test_path_token_uppercase_is_normalised),
        cmocka_unit_test(test_path_colon_form_is_found),
        cmocka_unit_test(test_path_token_inside_a_word_is_not_a_mac),
        cmocka_unit_test(test_path_with_two_different_macs_is_ambiguous),
        cmocka_unit_test(test_path_all_zero_mac_is_ignored),
        cmocka_unit_test(test_first_source_in_order_names_the_source),
        cmocka_unit_test(test_user_agent_alone_identifies_the_phone),
        cmocka_unit_test(test_query_identifies_the_phone),
        cmocka_unit_test(test_disagreeing_sources_are_a_mismatch),
        cmocka_unit_test(test_sources_left_out_of_the_order_are_not_consulted),
        cmocka_unit_test(test_order_decides_the_source_name),
        cmocka_unit_test(test_no_source_is_no_identity),
        cmocka_unit_test(test_bad_query_mac_is_invalid),
        cmocka_unit_test(test_cert_mac_comes_first_by_default),
        cmocka_unit_test(test_order_rejects_unknown_and_repeated_sources),
        cmocka_unit_test(test_cert_common_name_gives_the_mac),
        cmocka_unit_test(test_allow_list_accepts_oui_prefix_and_full_mac),
        cmocka_unit_test(test_empty_allow_list_allows_every_phone),
        cmocka_unit_test(test_allow_list_rejects_short_or_non_hex_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
