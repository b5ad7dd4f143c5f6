/* test_ingest_config.c - the ingest config table through pr_cfg_load, and ingest_cfg_check:
 * defaults pass, every bad setting is reported (all at once) before any socket is opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "ingest_int.h"

typedef struct loaded {
    ingest_cfg *cfg;
    pr_common_cfg common;
    pr_cfg_section sec;
} loaded;

static pr_cfg_result load(loaded *l, int argc, char **argv)
{
    static char *envp[] = {NULL};
    memset(l, 0, sizeof *l);
    l->cfg = ingest_cfg_new();
    l->sec = ingest_cfg_section(l->cfg);
    FILE *out = fopen("/dev/null", "w");
    pr_cfg_result res = pr_cfg_load(&l->sec, 1, &l->common, argc, argv, envp, "t", "t", out, out);
    fclose(out);
    return res;
}

static void unload(loaded *l)
{
    pr_cfg_release(NULL, 0, &l->common);
    ingest_cfg_free(l->cfg);
}

/* Runs the check; returns the number of lines written, text in buf. */
static int check(loaded *l, char *buf, size_t len, pr_status *st)
{
    pr_errlist errs = {0};
    FILE *f = fmemopen(buf, len, "w");
    *st = ingest_cfg_check(l->cfg, &l->common, &errs);
    pr_errlist_print(&errs, NULL, f);
    pr_errlist_release(&errs);
    fclose(f);
    int lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    return lines;
}

static void test_defaults_pass_the_check(void **state)
{
    (void)state;
    loaded l;
    char *argv[] = {"ingest", NULL};
    assert_int_equal(load(&l, 1, argv), PR_CFG_OK);
    assert_string_equal(l.cfg->listen, "0.0.0.0:8080");
    assert_int_equal(l.cfg->max_body_bytes, 4 * 1024 * 1024);
    assert_string_equal(l.cfg->identity_order, "cert,path,query,user-agent");
    char buf[2048] = "";
    pr_status st;
    assert_int_equal(check(&l, buf, sizeof buf, &st), 0);
    assert_int_equal(st, PR_OK);
    unload(&l);
}

/* "," or " " used to leave an empty allow-list, which allows every phone */
static void test_allow_macs_naming_no_mac_is_a_config_error(void **state)
{
    (void)state;
    const char *values[] = {"--allow-macs=,",
                            "--allow-macs= ", "--allow-macs=", "--allow-macs= , "};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        loaded l;
        char *argv[] = {"ingest", (char *)values[i], NULL};
        assert_int_equal(load(&l, 2, argv), PR_CFG_OK);
        char buf[4096] = "";
        pr_status st;
        check(&l, buf, sizeof buf, &st);
        if (st != PR_EINVAL || !strstr(buf, "allow-macs"))
            fail_msg("%s was accepted (%s)", values[i], buf);
        unload(&l);
    }
}

static void test_every_bad_setting_is_reported_at_once(void **state)
{
    (void)state;
    loaded l;
    char *argv[] = {"ingest",
                    "--listen=127.0.0.1",
                    "--identity-order=path,serial",
                    "--allow-macs=0056",
                    "--auth-scheme=ntlm",
                    "--tls-cert=/nonexistent/cert.pem",
                    "--tls-client-ca=/nonexistent/ca.pem",
                    "--upload-prefixes=r/",
                    "--max-body-bytes=8m",
                    "--max-inflight-bytes=1m",
                    "--max-inflight-bytes-per-ip=2m",
                    NULL};
    assert_int_equal(load(&l, 11, argv), PR_CFG_OK);
    char buf[4096] = "";
    pr_status st;
    int lines = check(&l, buf, sizeof buf, &st);
    assert_int_equal(st, PR_EINVAL);
    const char *needles[] = {
        "listen",          "identity-order",       "allow-macs",
        "auth-scheme",     "tls-cert and tls-key", "tls-client-ca",
        "upload-prefixes", "max-inflight-bytes",   "max-inflight-bytes-per-ip"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (!strstr(buf, needles[i]))
            fail_msg("'%s' not reported in:\n%s", needles[i], buf);
    assert_true(lines >= 9);
    unload(&l);
}

/* Checks one --listen value; returns the check's status, its text in buf. */
static pr_status check_listen(const char *value, char *buf, size_t len)
{
    loaded l;
    char arg[128];
    snprintf(arg, sizeof arg, "--listen=%s", value);
    char *argv[] = {"ingest", arg, NULL};
    assert_int_equal(load(&l, 2, argv), PR_CFG_OK);
    pr_status st;
    buf[0] = '\0';
    check(&l, buf, len, &st);
    unload(&l);
    return st;
}

static void test_listen_forms_are_accepted_by_the_check(void **state)
{
    (void)state;
    char buf[1024];
    const char *good[] = {"127.0.0.1:0", "[::1]:8443", ":8080", "localhost:80"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check_listen(good[i], buf, sizeof buf) != PR_OK)
            fail_msg("'%s' refused:\n%s", good[i], buf);
}

static void test_bad_listen_forms_are_reported_with_the_setting_name(void **state)
{
    (void)state;
    char buf[1024];
    const char *bad[] = {"::1:80", "host:99999", "host:", "127.0.0.1", "[::1]8443", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (check_listen(bad[i], buf, sizeof buf) != PR_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        if (!strstr(buf, "ingest: listen: "))
            fail_msg("'%s': the message does not name the setting:\n%s", bad[i], buf);
    }
}

PR_TEST_MAIN(cmocka_unit_test(test_defaults_pass_the_check),
             cmocka_unit_test(test_every_bad_setting_is_reported_at_once),
             cmocka_unit_test(test_allow_macs_naming_no_mac_is_a_config_error),
             cmocka_unit_test(test_listen_forms_are_accepted_by_the_check),
             cmocka_unit_test(test_bad_listen_forms_are_reported_with_the_setting_name))
