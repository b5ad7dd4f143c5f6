/* test_ingest_config.c - the ingest config table through pr_cfg_load, and ingest_cfg_check:
 * defaults pass, every bad setting is reported (all at once) before any socket is opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
    FILE *f = fmemopen(buf, len, "w");
    *st = ingest_cfg_check(l->cfg, &l->common, f);
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
                    NULL};
    assert_int_equal(load(&l, 10, argv), PR_CFG_OK);
    char buf[4096] = "";
    pr_status st;
    int lines = check(&l, buf, sizeof buf, &st);
    assert_int_equal(st, PR_EINVAL);
    const char *needles[] = {"listen",          "identity-order",       "allow-macs",
                             "auth-scheme",     "tls-cert and tls-key", "tls-client-ca",
                             "upload-prefixes", "max-inflight-bytes"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (!strstr(buf, needles[i]))
            fail_msg("'%s' not reported in:\n%s", needles[i], buf);
    assert_true(lines >= 8);
    unload(&l);
}

static void test_listen_forms_parse(void **state)
{
    (void)state;
    char *host;
    unsigned port;
    char err[128];
    assert_int_equal(ingest_listen_parse("127.0.0.1:0", &host, &port, err, sizeof err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(ingest_listen_parse("[::1]:8443", &host, &port, err, sizeof err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8443);
    free(host);
    assert_int_equal(ingest_listen_parse(":8080", &host, &port, err, sizeof err), 0);
    assert_string_equal(host, "");
    free(host);
    assert_int_not_equal(ingest_listen_parse("::1:80", &host, &port, err, sizeof err), 0);
    assert_int_not_equal(ingest_listen_parse("host:99999", &host, &port, err, sizeof err), 0);
    assert_int_not_equal(ingest_listen_parse("host:", &host, &port, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_pass_the_check),
        cmocka_unit_test(test_every_bad_setting_is_reported_at_once),
        cmocka_unit_test(test_listen_forms_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
