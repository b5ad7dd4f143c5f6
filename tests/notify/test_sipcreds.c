/*
 * test_sipcreds.c - the NOTIFY credentials file (proto/sipcreds.c): lookup order, realms,
 * defaults for the user, and every malformed file refused with a message that names the
 * entry but never a password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sipcreds.h"
#include "testsupport.h"

static char *dir;

static pr_sipcreds *load_text(const char *text, pr_status want, char *err, size_t errlen)
{
    char path[512];
    pr_sipcreds *c = NULL;
    snprintf(path, sizeof path, "%s/creds.json", dir);
    assert_int_equal(ts_write_file(path, text, strlen(text)), 0);
    chmod(path, 0600);
    assert_int_equal(pr_sipcreds_load(path, &c, err, errlen), want);
    return c;
}

static void lookup_prefers_mac_then_uri_user_then_default(void **state)
{
    char err[256], user[64], pass[64];
    (void)state;
    pr_sipcreds *c = load_text("{\"default\": {\"user\": \"admin\", \"password\": \"d\"},"
                               " \"users\": {\"1001\": {\"password\": \"u\"}},"
                               " \"phones\": {\"00:56:2B:04:36:15\": {\"password\": \"m\"}}}",
                               PR_OK, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(
        pr_sipcreds_lookup(c, "00562b043615", "1001", "r", user, sizeof user, pass, sizeof pass),
        PR_OK);
    assert_string_equal(user, "1001"); /* the phone entry names no user: the URI's */
    assert_string_equal(pass, "m");
    assert_int_equal(
        pr_sipcreds_lookup(c, "020000000001", "1001", "r", user, sizeof user, pass, sizeof pass),
        PR_OK);
    assert_string_equal(pass, "u");
    assert_int_equal(pr_sipcreds_lookup(c, NULL, "2002", "r", user, sizeof user, pass, sizeof pass),
                     PR_OK);
    assert_string_equal(user, "admin");
    assert_string_equal(pass, "d");
    pr_sipcreds_free(c);
}

static void an_entry_with_a_realm_answers_only_that_realm(void **state)
{
    char err[256], user[64], pass[64];
    (void)state;
    pr_sipcreds *c = load_text("{\"users\": {\"1001\": {\"password\": \"p\", \"realm\": \"pbx\"}}}",
                               PR_OK, err, sizeof err);
    assert_int_equal(
        pr_sipcreds_lookup(c, NULL, "1001", "pbx", user, sizeof user, pass, sizeof pass), PR_OK);
    assert_int_equal(
        pr_sipcreds_lookup(c, NULL, "1001", "other", user, sizeof user, pass, sizeof pass),
        PR_ENOTFOUND);
    pr_sipcreds_free(c);
}

static void without_a_user_anywhere_nothing_is_found(void **state)
{
    char err[256], user[64], pass[64];
    (void)state;
    pr_sipcreds *c = load_text("{\"default\": {\"password\": \"p\"}}", PR_OK, err, sizeof err);
    /* a Request-URI without user part and an entry without "user": no username to send */
    assert_int_equal(
        pr_sipcreds_lookup(c, "00562b043615", "", "r", user, sizeof user, pass, sizeof pass),
        PR_ENOTFOUND);
    pr_sipcreds_free(c);
    assert_int_equal(
        pr_sipcreds_lookup(NULL, NULL, "1001", "r", user, sizeof user, pass, sizeof pass),
        PR_ENOTFOUND);
}

static void malformed_files_are_refused_without_quoting_a_password(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"{\"users\": {\"1001\": {\"pasword\": \"secret-1\"}}}", "unknown member \"pasword\""},
        {"{\"users\": {\"1001\": {\"user\": \"x\"}}}", "users.1001 has no password"},
        {"{\"phones\": {\"nope\": {\"password\": \"secret-1\"}}}", "phones.nope"},
        {"{\"phones\": {\"00562b043615\": {\"password\": \"a\"},"
         " \"00:56:2b:04:36:15\": {\"password\": \"secret-1\"}}}",
         "listed twice"},
        {"{\"default\": \"secret-1\"}", "default must be an object"},
        {"{\"user\": {}}", "unknown member \"user\""},
        {"[1]", "the top level must be an object"},
        {"{\"default\": {\"password\": \"secret-1\"", "not valid JSON"},
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_null(load_text(cases[i].text, PR_EINVAL, err, sizeof err));
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        assert_null(strstr(err, "secret-1"));
    }
}

static void a_missing_file_is_refused(void **state)
{
    char err[256];
    pr_sipcreds *c = NULL;
    (void)state;
    assert_int_equal(pr_sipcreds_load("/nonexistent/creds.json", &c, err, sizeof err), PR_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
    dir = ts_mkdtemp("sipcreds");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lookup_prefers_mac_then_uri_user_then_default),
        cmocka_unit_test(an_entry_with_a_realm_answers_only_that_realm),
        cmocka_unit_test(without_a_user_anywhere_nothing_is_found),
        cmocka_unit_test(malformed_files_are_refused_without_quoting_a_password),
        cmocka_unit_test(a_missing_file_is_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ts_rmtree(dir);
    free(dir);
    return rc;
}
