/*
 * test_sink_api_auth.c - access control on the query API (api_auth.c) over real HTTP with
 * curl as the independent client: every data endpoint refuses a missing or wrong token with
 * 401 and a Bearer challenge, actions refuse a read token with 403, the probes stay open,
 * Basic works with the entry's name, hashed entries work, the file is re-read through the
 * sink's reload hook (SIGHUP) and a bad file keeps the old tokens, no secret reaches the log,
 * the configuration refuses a public address without credentials (exit 78), and HTTPS works
 * with the edge's kind of options.
 */
#include "sinktest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define MAC          "00562b043615"
#define READ_TOKEN   "read-token-0123456789abcdef"
#define ADMIN_TOKEN  "admin-token-0123456789abcdef"
#define HASHED_TOKEN "hashed-token-0123456789abcdef"
#define NEW_TOKEN    "fresh-token-0123456789abcdef"

typedef struct fx {
    char *dir;
    char data[4200], tokens[4200], log[4200];
    pr_common_cfg common;
    sink_cfg cfg;
    sink *snk;
    pr_metrics *m;
    unsigned port;
    int logfd;
} fx;

static void write_tokens(fx *f, const char *text)
{
    assert_int_equal(ts_write_file(f->tokens, text, strlen(text)), 0);
}

/* The SHA-256 of HASHED_TOKEN, as `printf %s TOKEN | sha256sum` prints it. */
static char *hashed_line(void)
{
    char *out = NULL, *line = NULL;
    assert_int_equal(ts_run("printf %s '" HASHED_TOKEN "' | sha256sum | cut -d' ' -f1", &out), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_true(asprintf(&line, "hashed:read:{sha256}%s\n", out) > 0);
    free(out);
    return line;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char err[256];
    sink_store *st = NULL;
    f->dir = ts_mkdtemp("sink-auth");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->tokens, sizeof f->tokens, "%s/tokens", f->dir);
    snprintf(f->log, sizeof f->log, "%s/log", f->dir);
    if (sink_store_open(f->data, false, "normal", &st, err, sizeof err) != PR_OK)
        fail_msg("open: %s", err);
    sink_profiles *pf = sink_profiles_new(NULL);
    apply_config(st, pf, MAC, "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"Display_Name_1_\":\"Alice\"}", NULL);
    apply_owned(st, pf, ev_status(MAC, "s1", "2026-11-24T17:02:00.000Z", "{\"Uptime\":\"12\"}"),
                true);
    sink_store_close(st);
    sink_profiles_free(pf);
    char *hl = hashed_line(), *text = NULL;
    assert_true(asprintf(&text,
                         "# test tokens\n"
                         "reader:read:" READ_TOKEN "\n"
                         "  boss:admin:{plain}" ADMIN_TOKEN "  \n\n%s",
                         hl) > 0);
    write_tokens(f, text);
    free(text);
    free(hl);
    /* Everything the sink logs goes to a file the tests read. */
    f->logfd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(f->logfd >= 0);
    pr_log_set_fd(f->logfd);
    pr_log_set_level(PR_LOG_DEBUG);
    /* The whole role without brokers: it serves the API over the store (sink.c). */
    f->cfg.api_listen = "127.0.0.1:0";
    f->cfg.data_dir = f->data;
    f->cfg.api_tokens = f->tokens;
    f->cfg.sync = "normal";
    f->cfg.group = "test";
    f->cfg.api_auth_max_failures = 1000; /* the refusal tests fail many logins on purpose */
    f->m = pr_metrics_new();
    if (sink_new(&f->common, &f->cfg, f->m, &f->snk, err, sizeof err) != PR_OK ||
        sink_start(f->snk, err, sizeof err) != PR_OK)
        fail_msg("sink: %s", err);
    f->port = sink_api_port(f->snk);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sink_free(f->snk);
    pr_log_set_fd(2);
    pr_log_set_level(PR_LOG_INFO);
    close(f->logfd);
    pr_metrics_free(f->m);
    ts_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* curl with optional extra arguments (e.g. -H 'Authorization: ...'); returns the status and
 * the response headers in *headers (caller frees, may be NULL). */
static int request(fx *f, const char *method, const char *path, const char *extra, char **headers)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "curl -sS -g -o /dev/null -D - -X %s %s -w '\\n%%{http_code}' "
             "'http://127.0.0.1:%u%s'",
             method, extra ? extra : "", f->port, path);
    assert_int_equal(ts_run(cmd, &out), 0);
    char *nl = strrchr(out, '\n');
    assert_non_null(nl);
    int code = atoi(nl + 1);
    if (headers)
        *headers = out;
    else
        free(out);
    return code;
}

static const char *const data_paths[] = {
    "/v1/phones",
    "/v1/phones/" MAC,
    "/v1/phones/" MAC "/config",
    "/v1/phones/" MAC "/status",
    "/v1/phones/" MAC "/changes",
    "/v1/drift",
    "/v1/nope",
    NULL,
};

static void test_every_data_endpoint_refuses_a_missing_or_wrong_token(void **state)
{
    fx *f = *state;
    for (const char *const *p = data_paths; *p; p++) {
        char *h = NULL;
        if (request(f, "GET", *p, NULL, &h) != 401)
            fail_msg("GET %s without a token: not 401\n%s", *p, h);
        assert_non_null(strcasestr(h, "WWW-Authenticate: Bearer realm=\"phonereport\""));
        free(h);
        if (request(f, "GET", *p, "-H 'Authorization: Bearer wrong-token-0123456789abcdef'",
                    NULL) != 401)
            fail_msg("GET %s with a wrong token: not 401", *p);
        assert_int_equal(request(f, "GET", *p, "-H 'Authorization: Bearer '", NULL), 401);
        assert_int_equal(request(f, "GET", *p, "-H 'Authorization: Token " READ_TOKEN "'", NULL),
                         401);
        /* A token by another entry's name under Basic is refused too. */
        assert_int_equal(request(f, "GET", *p, "-u 'boss:" READ_TOKEN "'", NULL), 401);
    }
}

static void test_a_read_token_reads_and_basic_and_hashed_entries_work(void **state)
{
    fx *f = *state;
    for (const char *const *p = data_paths; p[1]; p++) { /* all but /v1/nope */
        int code = request(f, "GET", *p, "-H 'Authorization: Bearer " READ_TOKEN "'", NULL);
        if (code != 200)
            fail_msg("GET %s with a read token: %d", *p, code);
    }
    assert_int_equal(
        request(f, "GET", "/v1/nope", "-H 'Authorization: Bearer " READ_TOKEN "'", NULL), 404);
    assert_int_equal(request(f, "GET", "/v1/phones", "-u 'reader:" READ_TOKEN "'", NULL), 200);
    assert_int_equal(request(f, "GET", "/v1/phones", "-u 'boss:" ADMIN_TOKEN "'", NULL), 200);
    assert_int_equal(
        request(f, "GET", "/v1/phones", "-H 'Authorization: bearer " HASHED_TOKEN "'", NULL), 200);
    assert_int_equal(request(f, "GET", "/v1/phones", "-u 'hashed:" HASHED_TOKEN "'", NULL), 200);
}

static void test_actions_need_an_admin_token(void **state)
{
    fx *f = *state;
    const char *action = "/v1/phones/" MAC "/report-request";
    assert_int_equal(request(f, "POST", action, NULL, NULL), 401);
    assert_int_equal(request(f, "POST", action, "-H 'Authorization: Bearer " READ_TOKEN "'", NULL),
                     403);
    assert_int_equal(request(f, "DELETE", "/v1/phones/" MAC, "-u 'reader:" READ_TOKEN "'", NULL),
                     403);
    /* admin passes the access check: the action answers (re-baseline is not configured
     * here: 503); any other action is an unknown method */
    assert_int_equal(request(f, "POST", action, "-H 'Authorization: Bearer " ADMIN_TOKEN "'", NULL),
                     503);
    assert_int_equal(
        request(f, "DELETE", "/v1/phones/" MAC, "-H 'Authorization: Bearer " ADMIN_TOKEN "'", NULL),
        405);
}

static void test_probes_metrics_and_the_console_stay_open(void **state)
{
    fx *f = *state;
    assert_int_equal(request(f, "GET", "/healthz", NULL, NULL), 200);
    assert_int_equal(request(f, "GET", "/readyz", NULL, NULL), 200);
    char *h = NULL;
    assert_int_equal(request(f, "GET", "/metrics", NULL, &h), 200);
    free(h);
    /* the console's files hold no data: its login prompt must load without a token */
    assert_int_equal(request(f, "GET", "/", NULL, NULL), 200);
    assert_int_equal(request(f, "GET", "/console/app.js", NULL, NULL), 200);
    assert_int_equal(request(f, "GET", "/console/nope.js", NULL, NULL), 401);
    /* refusals are counted by code */
    request(f, "GET", "/v1/phones", NULL, NULL);
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "curl -sS 'http://127.0.0.1:%u/metrics'", f->port);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_non_null(strstr(out, "phonereport_sink_api_requests_total{code=\"401\"}"));
    free(out);
}

static void test_the_token_file_is_reread_on_reload_and_a_bad_one_is_ignored(void **state)
{
    fx *f = *state;
    const char *auth_new = "-H 'Authorization: Bearer " NEW_TOKEN "'";
    const char *auth_read = "-H 'Authorization: Bearer " READ_TOKEN "'";
    assert_int_equal(request(f, "GET", "/v1/phones", auth_new, NULL), 401);
    write_tokens(f, "fresh:read:" NEW_TOKEN "\n");
    sink_reload(f->snk); /* what SIGHUP calls */
    assert_int_equal(request(f, "GET", "/v1/phones", auth_new, NULL), 200);
    assert_int_equal(request(f, "GET", "/v1/phones", auth_read, NULL), 401);
    /* a file that does not parse leaves the tokens in force */
    write_tokens(f, "fresh:superuser:" NEW_TOKEN "\n");
    sink_reload(f->snk);
    assert_int_equal(request(f, "GET", "/v1/phones", auth_new, NULL), 200);
    char *log = ts_read_file(f->log, NULL);
    assert_non_null(strstr(log, "api tokens not reloaded"));
    free(log);
}

static void test_no_secret_reaches_the_log(void **state)
{
    fx *f = *state;
    request(f, "GET", "/v1/phones", "-H 'Authorization: Bearer " READ_TOKEN "'", NULL);
    request(f, "GET", "/v1/phones", "-H 'Authorization: Bearer " READ_TOKEN "x'", NULL);
    request(f, "GET", "/v1/phones", "-u 'boss:" ADMIN_TOKEN "x'", NULL);
    request(f, "POST", "/v1/phones", "-H 'Authorization: Bearer " READ_TOKEN "'", NULL);
    write_tokens(f, "reader:read:" READ_TOKEN "\nbroken\n");
    sink_reload(f->snk);
    write_tokens(f, "reader:read:" READ_TOKEN "\n");
    sink_reload(f->snk);
    char *log = ts_read_file(f->log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "api tokens reloaded")); /* the log is being written */
    assert_non_null(strstr(log, "api login failed"));
    assert_null(strstr(log, "0123456789abcdef"));
    free(log);
}

/* The configuration checks, as `phonereport sink` runs them. */
static void test_a_public_address_without_credentials_is_refused(void **state)
{
    fx *f = *state;
    sink_cfg c = f->cfg;
    pr_errlist errs = {0};
    c.api_tokens = NULL;
    c.api_listen = "0.0.0.0:0";
    assert_int_equal(sink_cfg_check(&c, &f->common, &errs), PR_EINVAL);
    pr_errlist_release(&errs);
    c.api_insecure_no_auth = true;
    assert_int_equal(sink_cfg_check(&c, &f->common, &errs), PR_OK);
    c.api_insecure_no_auth = false;
    c.api_tokens = f->tokens;
    assert_int_equal(sink_cfg_check(&c, &f->common, &errs), PR_OK);
    c.api_tokens = NULL;
    c.api_listen = "[::1]:0";
    assert_int_equal(sink_cfg_check(&c, &f->common, &errs), PR_OK);
    c.api_listen = "localhost:0";
    assert_int_equal(sink_cfg_check(&c, &f->common, &errs), PR_OK);
    c.api_tls_cert = f->tokens; /* without a key */
    assert_int_equal(sink_cfg_check(&c, &f->common, &errs), PR_EINVAL);
    pr_errlist_release(&errs);

    /* The command: exit 78 and a message naming both ways out; a bad token file names the
     * line, never its secret. */
    char cmd[9000], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "'%s/phonereport' sink --brokers 127.0.0.1:1 --data-dir '%s' "
             "--api-listen 0.0.0.0:0 2>&1",
             PR_BINARY_DIR, f->data);
    assert_int_equal(ts_run(cmd, &out), 78);
    assert_non_null(strstr(out, "--api-tokens"));
    assert_non_null(strstr(out, "--api-insecure-no-auth"));
    free(out);
    write_tokens(f, "reader:read:" READ_TOKEN "\nboss:root:" ADMIN_TOKEN "\n");
    snprintf(cmd, sizeof cmd,
             "'%s/phonereport' sink --brokers 127.0.0.1:1 --data-dir '%s' "
             "--api-listen 0.0.0.0:0 --api-tokens '%s' 2>&1",
             PR_BINARY_DIR, f->data, f->tokens);
    assert_int_equal(ts_run(cmd, &out), 78);
    assert_non_null(strstr(out, "line 2: role"));
    assert_null(strstr(out, "0123456789abcdef"));
    free(out);
    write_tokens(f, "short:read:tooshort\n");
    assert_int_equal(ts_run(cmd, &out), 78);
    assert_non_null(strstr(out, "shorter than"));
    free(out);
}

static void test_https_with_the_edge_kind_of_options(void **state)
{
    fx *f = *state;
    char cmd[9000], *out = NULL, err[256];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout api.key -out api.pem -days 2 -subj '/CN=127.0.0.1' "
             "-addext subjectAltName=IP:127.0.0.1 2>&1",
             f->dir);
    if (ts_run(cmd, &out) != 0)
        fail_msg("openssl: %s", out);
    free(out);
    char cert[4300], key[4300];
    snprintf(cert, sizeof cert, "%s/api.pem", f->dir);
    snprintf(key, sizeof key, "%s/api.key", f->dir);
    sink_api_opts o = {.listen = "127.0.0.1:0",
                       .data_dir = f->data,
                       .tokens = f->tokens,
                       .tls_cert = cert,
                       .tls_key = key};
    sink_api *a = NULL;
    if (sink_api_start_opts(&o, f->m, NULL, &a, err, sizeof err) != PR_OK)
        fail_msg("api: %s", err);
    unsigned port = sink_api_bound_port(a);
    snprintf(cmd, sizeof cmd,
             "curl -sS --cacert '%s' -o /dev/null -w '%%{http_code}' "
             "-H 'Authorization: Bearer " READ_TOKEN "' 'https://127.0.0.1:%u/v1/phones'",
             cert, port);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_string_equal(out, "200");
    free(out);
    /* plain HTTP on the TLS port gets no answer */
    snprintf(cmd, sizeof cmd, "curl -sS -m 5 -o /dev/null 'http://127.0.0.1:%u/healthz' 2>&1",
             port);
    assert_int_not_equal(ts_run(cmd, &out), 0);
    free(out);
    sink_api_stop(a);
    o.tls_key = f->tokens; /* not a key */
    assert_int_not_equal(sink_api_start_opts(&o, f->m, NULL, &a, err, sizeof err), PR_OK);
    assert_null(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_data_endpoint_refuses_a_missing_or_wrong_token,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_read_token_reads_and_basic_and_hashed_entries_work,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions_need_an_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probes_metrics_and_the_console_stay_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_the_token_file_is_reread_on_reload_and_a_bad_one_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_reaches_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_public_address_without_credentials_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_https_with_the_edge_kind_of_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
