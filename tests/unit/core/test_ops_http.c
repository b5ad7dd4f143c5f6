/* test_ops_http.c - /healthz, /readyz and /metrics answered the one shared way, checked over
 * real HTTP (libmicrohttpd on port 0, curl as the client). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops_http.h"
#include "testsupport.h"

typedef struct fixture {
    pr_metrics *m;
    const char *why_not_ready; /* NULL = ready */
    struct MHD_Daemon *d;
    unsigned port;
} fixture;

static const char *ready(void *ctx)
{
    return ((fixture *)ctx)->why_not_ready;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_len, void **con_cls)
{
    (void)method, (void)version, (void)upload, (void)upload_len, (void)con_cls;
    fixture *f = cls;
    unsigned code;
    if (!pr_ops_is_endpoint(url))
        return MHD_NO;
    struct MHD_Response *r = pr_ops_response(url, f->m, ready, f, &code);
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->m = pr_metrics_new();
    pr_counter_add(pr_metrics_counter(f->m, "phonereport_test_total", "a test counter", NULL), 3);
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, f,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&lo, MHD_OPTION_END);
    assert_non_null(f->d);
    f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    MHD_stop_daemon(f->d);
    pr_metrics_free(f->m);
    free(f);
    return 0;
}

/* "<status> <body>" of a GET. */
static char *get(fixture *f, const char *path)
{
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "curl -s -w ' %%{http_code}' http://127.0.0.1:%u%s", f->port, path);
    assert_int_equal(ts_run(cmd, &out), 0);
    return out;
}

static void test_healthz_and_readyz_say_ok_and_ready(void **state)
{
    fixture *f = *state;
    char *a = get(f, "/healthz"), *b = get(f, "/readyz");
    assert_string_equal(a, "ok\n 200");
    assert_string_equal(b, "ready\n 200");
    free(a);
    free(b);
}

static void test_readyz_is_503_with_the_roles_reason(void **state)
{
    fixture *f = *state;
    f->why_not_ready = "kafka unreachable";
    char *a = get(f, "/readyz"), *b = get(f, "/healthz");
    assert_string_equal(a, "kafka unreachable\n 503");
    assert_string_equal(b, "ok\n 200"); /* alive all the same */
    free(a);
    free(b);
}

static void test_metrics_renders_the_registry(void **state)
{
    fixture *f = *state;
    char *a = get(f, "/metrics");
    assert_non_null(strstr(a, "# TYPE phonereport_test_total counter\nphonereport_test_total 3\n"));
    assert_non_null(strstr(a, " 200"));
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz_and_readyz_say_ok_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_is_503_with_the_roles_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_renders_the_registry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
