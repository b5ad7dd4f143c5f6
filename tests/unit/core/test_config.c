/* test_config.c - the table-driven loader: precedence, bounds, all errors at once, help,
 * print-config with secrets masked, kafka.* pass-through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "testsupport.h"

typedef struct demo_cfg {
    char *listen;
    char *password;
    long long max_body;
    long long timeout_ms;
    long long threads;
    bool verbose;
} demo_cfg;

static const pr_cfg_entry demo_table[] = {
    {"listen", PR_CFG_STR, "0.0.0.0:8080", offsetof(demo_cfg, listen), 0, 0, "address"},
    {"password", PR_CFG_SECRET, NULL, offsetof(demo_cfg, password), 0, 0, "a secret"},
    {"max-body-bytes", PR_CFG_BYTES, "4m", offsetof(demo_cfg, max_body), 1, 1LL << 30, "limit"},
    {"timeout", PR_CFG_MS, "5s", offsetof(demo_cfg, timeout_ms), 1, 3600000, "timeout"},
    {"threads", PR_CFG_INT, "4", offsetof(demo_cfg, threads), 1, 256, "threads"},
    {"verbose", PR_CFG_BOOL, "false", offsetof(demo_cfg, verbose), 0, 0, "talk more"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

typedef struct fixture {
    demo_cfg cfg;
    pr_common_cfg common;
    pr_cfg_section sec;
    char *out, *err;
    size_t outlen, errlen;
} fixture;

static pr_cfg_result load(fixture *f, int argc, char **argv, char **envp)
{
    memset(f, 0, sizeof *f);
    f->sec = (pr_cfg_section){"demo", demo_table, &f->cfg, NULL};
    FILE *out = open_memstream(&f->out, &f->outlen);
    FILE *err = open_memstream(&f->err, &f->errlen);
    pr_cfg_result r =
        pr_cfg_load(&f->sec, 1, &f->common, argc, argv, envp, "demo [options]", "about", out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void done(fixture *f)
{
    pr_cfg_release(&f->sec, 1, &f->common);
    free(f->out);
    free(f->err);
}

static void test_config_applies_defaults(void **state)
{
    (void)state;
    fixture f;
    char *argv[] = {"demo"};
    char *envp[] = {NULL};
    assert_int_equal(load(&f, 1, argv, envp), PR_CFG_OK);
    assert_string_equal(f.cfg.listen, "0.0.0.0:8080");
    assert_null(f.cfg.password);
    assert_int_equal(f.cfg.max_body, 4 * 1024 * 1024);
    assert_int_equal(f.cfg.timeout_ms, 5000);
    assert_int_equal(f.cfg.threads, 4);
    assert_false(f.cfg.verbose);
    assert_string_equal(f.common.topic_prefix, "phonereport.");
    assert_null(f.common.brokers);
    done(&f);
}

static void test_config_flags_beat_env_beat_file(void **state)
{
    (void)state;
    fixture f;
    char *dir = ts_mkdtemp("cfg");
    char path[4200];
    snprintf(path, sizeof path, "%s/c.json", dir);
    const char *json = "{\"threads\": 8, \"listen\": \"file:1\", \"timeout\": \"2m\","
                       " \"kafka\": {\"linger.ms\": 7}}";
    assert_int_equal(ts_write_file(path, json, strlen(json)), 0);
    char *argv[] = {"demo", "--config", path, "--listen=flag:3", "--verbose"};
    char *envp[] = {"PHONEREPORT_LISTEN=env:2", "PHONEREPORT_THREADS=16",
                    "PHONEREPORT_KAFKA_SASL_MECHANISMS=PLAIN", "PHONEREPORT_UNRELATED=1", NULL};
    assert_int_equal(load(&f, 5, argv, envp), PR_CFG_OK);
    assert_string_equal(f.cfg.listen, "flag:3");
    assert_int_equal(f.cfg.threads, 16);
    assert_int_equal(f.cfg.timeout_ms, 120000);
    assert_true(f.cfg.verbose);
    assert_string_equal(pr_cfg_kafka_get(&f.common, "linger.ms"), "7");
    assert_string_equal(pr_cfg_kafka_get(&f.common, "sasl.mechanisms"), "PLAIN");
    done(&f);
    ts_rmtree(dir);
    free(dir);
}

static void test_config_reports_every_error_at_once(void **state)
{
    (void)state;
    fixture f;
    char *argv[] = {"demo",    "--threads", "0",     "--max-body-bytes", "12x",
                    "--bogus", "1",         "stray", "--timeout"};
    char *envp[] = {"PHONEREPORT_VERBOSE=maybe", NULL};
    assert_int_equal(load(&f, 9, argv, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "--threads (flag): 0 is out of range [1, 256]"));
    assert_non_null(strstr(f.err, "--max-body-bytes (flag): '12x' is not a size"));
    assert_non_null(strstr(f.err, "unknown option --bogus"));
    assert_non_null(strstr(f.err, "unexpected argument 'stray'"));
    assert_non_null(strstr(f.err, "unexpected argument '1'"));
    assert_non_null(strstr(f.err, "--timeout needs a value"));
    assert_non_null(strstr(f.err, "'maybe' is not a boolean"));
    assert_non_null(strstr(f.err, "7 configuration errors"));
    done(&f);
}

static void test_config_rejects_unknown_file_keys_and_bad_json(void **state)
{
    (void)state;
    fixture f;
    char *dir = ts_mkdtemp("cfg");
    char path[4200];
    snprintf(path, sizeof path, "%s/c.json", dir);
    assert_int_equal(ts_write_file(path, "{\"lisen\": \"x\"}", 14), 0);
    char *argv[] = {"demo", "--config", path};
    char *envp[] = {NULL};
    assert_int_equal(load(&f, 3, argv, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "unknown key 'lisen'"));
    done(&f);
    assert_int_equal(ts_write_file(path, "{\"threads\": ", 12), 0);
    assert_int_equal(load(&f, 3, argv, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "config file"));
    done(&f);
    char *argv2[] = {"demo", "--config", "/nonexistent/x.json"};
    assert_int_equal(load(&f, 3, argv2, envp), PR_CFG_EXIT_ERROR);
    done(&f);
    ts_rmtree(dir);
    free(dir);
}

static void test_config_rejects_bad_log_level(void **state)
{
    (void)state;
    fixture f;
    char *argv[] = {"demo", "--log-level", "chatty"};
    char *envp[] = {NULL};
    assert_int_equal(load(&f, 3, argv, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "not one of debug, info, warn, error"));
    done(&f);
}

static void test_config_rejects_config_flag_without_a_file(void **state)
{
    (void)state;
    fixture f;
    char *argv[] = {"demo", "--threads", "8", "--config"};
    char *envp[] = {NULL};
    assert_int_equal(load(&f, 4, argv, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "--config needs a file"));
    done(&f);
}

static void test_config_rejects_topic_prefix_kafka_cannot_name(void **state)
{
    (void)state;
    fixture f;
    char *envp[] = {NULL};
    char *bad[] = {"demo", "--topic-prefix", "phone report/"};
    assert_int_equal(load(&f, 3, bad, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "--topic-prefix"));
    done(&f);
    char long_prefix[260];
    memset(long_prefix, 'p', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';
    char *too_long[] = {"demo", "--topic-prefix", long_prefix};
    assert_int_equal(load(&f, 3, too_long, envp), PR_CFG_EXIT_ERROR);
    assert_non_null(strstr(f.err, "--topic-prefix"));
    done(&f);
    char *good[] = {"demo", "--topic-prefix", "Site-1_pr."};
    assert_int_equal(load(&f, 3, good, envp), PR_CFG_OK);
    assert_string_equal(f.common.topic_prefix, "Site-1_pr.");
    done(&f);
}

static void test_config_help_lists_flags_env_and_defaults(void **state)
{
    (void)state;
    fixture f;
    char *argv[] = {"demo", "--threads", "0", "--help"};
    char *envp[] = {NULL};
    assert_int_equal(load(&f, 4, argv, envp), PR_CFG_EXIT_OK);
    assert_non_null(strstr(f.out, "usage: demo [options]"));
    assert_non_null(strstr(f.out, "--max-body-bytes SIZE"));
    assert_non_null(strstr(f.out, "env PHONEREPORT_MAX_BODY_BYTES; default 4m"));
    assert_non_null(strstr(f.out, "--kafka.PROPERTY VALUE"));
    done(&f);
}

static void test_config_print_masks_secrets(void **state)
{
    (void)state;
    fixture f;
    char *argv[] = {"demo", "--password",        "hunter2", "--kafka.sasl.password",
                    "pw",   "--kafka.linger.ms", "5",       "--print-config"};
    char *envp[] = {NULL};
    assert_int_equal(load(&f, 8, argv, envp), PR_CFG_EXIT_OK);
    assert_null(strstr(f.out, "hunter2"));
    assert_null(strstr(f.out, "\"pw\""));
    assert_non_null(strstr(f.out, "\"password\": \"***\""));
    assert_non_null(strstr(f.out, "\"linger.ms\": \"5\""));
    done(&f);
}

static void test_config_parses_units(void **state)
{
    (void)state;
    long long v;
    bool b;
    assert_int_equal(pr_cfg_parse_ms("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(pr_cfg_parse_ms("1h", &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(pr_cfg_parse_ms("-1s", &v), -1);
    assert_int_equal(pr_cfg_parse_ms("5 s", &v), -1);
    assert_int_equal(pr_cfg_parse_bytes("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(pr_cfg_parse_bytes("99999999999999999g", &v), -1);
    assert_int_equal(pr_cfg_parse_bool("Yes", &b), 0);
    assert_true(b);
    assert_int_equal(pr_cfg_parse_bool("nah", &b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_applies_defaults),
        cmocka_unit_test(test_config_flags_beat_env_beat_file),
        cmocka_unit_test(test_config_reports_every_error_at_once),
        cmocka_unit_test(test_config_rejects_unknown_file_keys_and_bad_json),
        cmocka_unit_test(test_config_rejects_bad_log_level),
        cmocka_unit_test(test_config_rejects_config_flag_without_a_file),
        cmocka_unit_test(test_config_rejects_topic_prefix_kafka_cannot_name),
        cmocka_unit_test(test_config_help_lists_flags_env_and_defaults),
        cmocka_unit_test(test_config_print_masks_secrets),
        cmocka_unit_test(test_config_parses_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
