/* test_ingest_auth.c - the credentials file: format, hashes, MAC binding, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "ingest_int.h"
#include "testsupport.h"

/* sha256("secret"), md5("bob:phonereport:hunter2") */
#define SHA_SECRET "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
#define HA1_BOB    "fc1d444e26b700081c0a5d08a6cc200f"

static ingest_auth *parse_ok(const char *text)
{
    ingest_auth *a = NULL;
    char err[256] = "";
    pr_status st = ingest_auth_parse(text, strlen(text), &a, err, sizeof err);
    if (st != PR_OK)
        fail_msg("parse failed: %s", err);
    return a;
}

static void test_clear_text_entry_checks_password(void **state)
{
    (void)state;
    ingest_auth *a = parse_ok("# phones\n\nalice:s3cret\n");
    const ingest_cred *c = ingest_auth_find(a, "alice");
    assert_non_null(c);
    assert_int_equal(c->type, INGEST_SECRET_PLAIN);
    assert_true(ingest_auth_check_password(c, "phonereport", "s3cret"));
    assert_false(ingest_auth_check_password(c, "phonereport", "s3cre"));
    assert_false(ingest_auth_check_password(c, "phonereport", ""));
    assert_null(ingest_auth_find(a, "bob"));
    ingest_auth_free(a);
}

static void test_sha256_entry_checks_password_and_is_basic_only(void **state)
{
    (void)state;
    ingest_auth *a = parse_ok("alice:{sha256}" SHA_SECRET "\n");
    const ingest_cred *c = ingest_auth_find(a, "alice");
    assert_non_null(c);
    assert_true(ingest_auth_check_password(c, "phonereport", "secret"));
    assert_false(ingest_auth_check_password(c, "phonereport", "Secret"));
    assert_true(ingest_auth_has_basic_only(a));
    ingest_auth_free(a);
}

static void test_md5_ha1_entry_checks_password_with_realm(void **state)
{
    (void)state;
    ingest_auth *a = parse_ok("bob:{md5-ha1}" HA1_BOB "\r\n");
    const ingest_cred *c = ingest_auth_find(a, "bob");
    assert_non_null(c);
    assert_int_equal(c->secret_len, 16);
    assert_true(ingest_auth_check_password(c, "phonereport", "hunter2"));
    assert_false(ingest_auth_check_password(c, "other-realm", "hunter2"));
    assert_false(ingest_auth_has_basic_only(a));
    ingest_auth_free(a);
}

static void test_mac_field_binds_user_to_a_phone(void **state)
{
    (void)state;
    ingest_auth *a = parse_ok("alice:pw:00-56-2B-04-36-15\nbob:pw2\n");
    assert_string_equal(ingest_auth_find(a, "alice")->mac, "00562b043615");
    assert_string_equal(ingest_auth_find(a, "bob")->mac, "");
    ingest_auth_free(a);
}

static void test_password_with_colon_needs_trailing_colon(void **state)
{
    (void)state;
    ingest_auth *a = parse_ok("alice:pa:ss:\n");
    const ingest_cred *c = ingest_auth_find(a, "alice");
    assert_true(ingest_auth_check_password(c, "r", "pa:ss"));
    assert_string_equal(c->mac, "");
    ingest_auth_free(a);
}

static void test_plain_prefix_allows_brace_passwords(void **state)
{
    (void)state;
    ingest_auth *a = parse_ok("alice:{plain}{weird}\n");
    assert_true(ingest_auth_check_password(ingest_auth_find(a, "alice"), "r", "{weird}"));
    ingest_auth_free(a);
}

static void expect_line_error(const char *text, const char *needle)
{
    ingest_auth *a = NULL;
    char err[256] = "";
    assert_int_equal(ingest_auth_parse(text, strlen(text), &a, err, sizeof err), PR_EINVAL);
    assert_null(a);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_bad_entries_are_rejected_with_line_numbers(void **state)
{
    (void)state;
    expect_line_error("alice:pw\nnocolon\n", "line 2");
    expect_line_error(":pw\n", "line 1");
    expect_line_error("alice:\n", "empty password");
    expect_line_error("alice:{sha256}abc\n", "64 hex");
    expect_line_error("alice:{md5-ha1}zz1d444e26b700081c0a5d08a6cc200f\n", "hex");
    expect_line_error("alice:{bcrypt}xyz\n", "unknown");
    expect_line_error("alice:pw:notamac\n", "MAC");
    expect_line_error("alice:pw\nalice:pw2\n", "twice");
    expect_line_error("# only a comment\n", "no credentials");
}

static void test_nul_byte_in_an_entry_is_rejected(void **state)
{
    (void)state;
    /* a NUL would cut the password short of the length the checks read */
    static const char pw[] = "alice:pa\0ssword\n";
    static const char user[] = "al\0ice:password\n";
    ingest_auth *a = NULL;
    char err[256] = "";
    assert_int_equal(ingest_auth_parse(pw, sizeof pw - 1, &a, err, sizeof err), PR_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err, "line 1: NUL byte"));
    assert_int_equal(ingest_auth_parse(user, sizeof user - 1, &a, err, sizeof err), PR_EINVAL);
    assert_null(a);
}

static void test_load_reads_a_file(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("auth");
    char path[4200];
    snprintf(path, sizeof path, "%s/creds", dir);
    const char *text = "alice:pw\n";
    assert_int_equal(ts_write_file(path, text, strlen(text)), 0);
    ingest_auth *a = NULL;
    char err[256];
    assert_int_equal(ingest_auth_load(path, &a, err, sizeof err), PR_OK);
    assert_int_equal(ingest_auth_count(a), 1);
    ingest_auth_free(a);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(ingest_auth_load(path, &a, err, sizeof err), PR_EINVAL);
    ts_rmtree(dir);
    free(dir);
}

static void test_digest_header_gives_nonce_cnonce_and_nonzero_nc_once(void **state)
{
    (void)state;
    ingest_digest_ids id;
    assert_true(ingest_digest_nonce_nc(
        "Digest username=\"a\", nonce=\"abc\", nc=0000000a, cnonce=\"x\"", &id));
    assert_string_equal(id.nonce, "abc");
    assert_string_equal(id.cnonce, "x");
    assert_int_equal(id.nc, 10);
    /* nc 0 (libmicrohttpd's "fresh nonce"), twice, too long, not hex, missing: refused */
    assert_false(ingest_digest_nonce_nc("Digest nonce=\"abc\", cnonce=\"x\", nc=00000000", &id));
    assert_false(ingest_digest_nonce_nc(
        "Digest nonce=\"abc\", cnonce=\"x\", nc=00000002, nc=00000000", &id));
    assert_false(
        ingest_digest_nonce_nc("Digest nonce=\"abc\", nonce=\"abd\", cnonce=\"x\", nc=1", &id));
    assert_false(ingest_digest_nonce_nc(
        "Digest nonce=\"abc\", cnonce=\"x\", nc=00000000000000000000001", &id));
    assert_false(ingest_digest_nonce_nc("Digest nonce=\"abc\", cnonce=\"x\", nc=0000000g", &id));
    assert_false(ingest_digest_nonce_nc("Digest nonce=\"abc\", cnonce=\"x\"", &id));
    assert_false(ingest_digest_nonce_nc("Basic YWxpY2U6cw==", &id));
    /* the client nonce too: missing, empty or twice */
    assert_false(ingest_digest_nonce_nc("Digest nonce=\"abc\", nc=1", &id));
    assert_false(ingest_digest_nonce_nc("Digest nonce=\"abc\", cnonce=\"\", nc=1", &id));
    assert_false(
        ingest_digest_nonce_nc("Digest nonce=\"abc\", cnonce=\"x\", cnonce=\"y\", nc=1", &id));
    /* a key inside a quoted value is not a key; "cnonce" is not "nonce" */
    assert_true(ingest_digest_nonce_nc(
        "Digest username=\"x, nc=0\", cnonce=\"q\", nonce=\"n1\", nc=1", &id));
    assert_string_equal(id.nonce, "n1");
    assert_string_equal(id.cnonce, "q");
    assert_int_equal(id.nc, 1);
}

static void test_nonce_counts_must_rise_and_nonces_must_be_issued(void **state)
{
    (void)state;
    ingest_nonces *t = NULL;
    char err[128];
    assert_int_equal(ingest_nonces_new(16, 1000, &t, err, sizeof err), PR_OK);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 1, 0), INGEST_NONCE_UNKNOWN);
    ingest_nonces_issue(t, "n1", 0);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 1, 10), INGEST_NONCE_OK);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 1, 20), INGEST_NONCE_REPLAY);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 3, 30), INGEST_NONCE_OK);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 2, 40), INGEST_NONCE_REPLAY);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 0, 40), INGEST_NONCE_REPLAY);
    /* issuing the same nonce again keeps its count */
    ingest_nonces_issue(t, "n1", 50);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 3, 60), INGEST_NONCE_REPLAY);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 4, 70), INGEST_NONCE_OK);
    /* past its life it is unknown (stale) */
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 5, 1001), INGEST_NONCE_UNKNOWN);
    ingest_nonces_free(t);
}

/* libmicrohttpd hands the same nonce to every challenge of one URL within one second, so a
 * phone that retries at once, with a fresh handle, gets the nonce it already used: its new
 * client nonce counts from 1. Before, that was refused as a replay (a 401 without stale, so
 * the phone gave up: e2e_pipeline's rare "nonce count replayed"). */
static void test_each_client_nonce_of_a_nonce_counts_on_its_own(void **state)
{
    (void)state;
    ingest_nonces *t = NULL;
    char err[128];
    assert_int_equal(ingest_nonces_new(16, 1000, &t, err, sizeof err), PR_OK);
    ingest_nonces_issue(t, "n1", 0);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 1, 10), INGEST_NONCE_OK);
    ingest_nonces_issue(t, "n1", 20); /* the same second: the same nonce */
    assert_int_equal(ingest_nonces_use(t, "n1", "c2", 1, 30), INGEST_NONCE_OK);
    /* each one's replay is still refused, and each count still has to rise */
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 1, 40), INGEST_NONCE_REPLAY);
    assert_int_equal(ingest_nonces_use(t, "n1", "c2", 1, 40), INGEST_NONCE_REPLAY);
    assert_int_equal(ingest_nonces_use(t, "n1", "c2", 2, 50), INGEST_NONCE_OK);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 2, 50), INGEST_NONCE_OK);
    /* a nonce counts INGEST_NONCE_CLIENTS clients; one more is stale, none is forgotten */
    char cn[16];
    for (int i = 3; i <= INGEST_NONCE_CLIENTS; i++) {
        snprintf(cn, sizeof cn, "c%d", i);
        assert_int_equal(ingest_nonces_use(t, "n1", cn, 1, 60), INGEST_NONCE_OK);
    }
    assert_int_equal(ingest_nonces_use(t, "n1", "extra", 1, 70), INGEST_NONCE_UNKNOWN);
    for (int i = 1; i <= INGEST_NONCE_CLIENTS; i++) {
        snprintf(cn, sizeof cn, "c%d", i);
        assert_int_equal(ingest_nonces_use(t, "n1", cn, 1, 80), INGEST_NONCE_REPLAY);
    }
    /* a new nonce in the slot starts with no clients */
    ingest_nonces_issue(t, "n1", 2000);
    assert_int_equal(ingest_nonces_use(t, "n1", "c1", 1, 2010), INGEST_NONCE_OK);
    ingest_nonces_free(t);
}

PR_TEST_MAIN(cmocka_unit_test(test_clear_text_entry_checks_password),
             cmocka_unit_test(test_sha256_entry_checks_password_and_is_basic_only),
             cmocka_unit_test(test_md5_ha1_entry_checks_password_with_realm),
             cmocka_unit_test(test_mac_field_binds_user_to_a_phone),
             cmocka_unit_test(test_password_with_colon_needs_trailing_colon),
             cmocka_unit_test(test_plain_prefix_allows_brace_passwords),
             cmocka_unit_test(test_bad_entries_are_rejected_with_line_numbers),
             cmocka_unit_test(test_nul_byte_in_an_entry_is_rejected),
             cmocka_unit_test(test_load_reads_a_file),
             cmocka_unit_test(test_digest_header_gives_nonce_cnonce_and_nonzero_nc_once),
             cmocka_unit_test(test_nonce_counts_must_rise_and_nonces_must_be_issued),
             cmocka_unit_test(test_each_client_nonce_of_a_nonce_counts_on_its_own))
