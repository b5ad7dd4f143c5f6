/* test_metrics.c - the registry renders the Prometheus text format: HELP/TYPE once per
 * family, labels, cumulative histogram buckets; handles are shared and thread-safe. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "metrics.h"

static void test_metrics_renders_counters_gauges_and_histograms(void **state)
{
    (void)state;
    pr_metrics *m = pr_metrics_new();
    pr_counter *c = pr_metrics_counter(m, "pr_requests_total", "Requests.", "status=\"200\"");
    assert_ptr_equal(c, pr_metrics_counter(m, "pr_requests_total", "x", "status=\"200\""));
    pr_counter_add(c, 3);
    pr_counter_inc(pr_metrics_counter(m, "pr_requests_total", NULL, "status=\"503\""));
    pr_gauge_set(pr_metrics_gauge(m, "pr_inflight", "In flight.", NULL), 2.5);
    const double b[] = {0.1, 1};
    pr_histogram *h = pr_metrics_histogram(m, "pr_latency_seconds", "Latency.", "", b, 2);
    pr_histogram_observe(h, 0.05);
    pr_histogram_observe(h, 0.5);
    pr_histogram_observe(h, 3);
    /* same name, other type: refused */
    assert_null(pr_metrics_gauge(m, "pr_requests_total", "x", NULL));
    size_t len;
    char *txt = pr_metrics_render(m, &len);
    assert_non_null(txt);
    assert_int_equal(strlen(txt), len);
    assert_non_null(strstr(txt, "# HELP pr_requests_total Requests.\n"
                                "# TYPE pr_requests_total counter\n"
                                "pr_requests_total{status=\"200\"} 3\n"
                                "pr_requests_total{status=\"503\"} 1\n"));
    assert_non_null(strstr(txt, "# TYPE pr_inflight gauge\npr_inflight 2.5\n"));
    assert_non_null(strstr(txt, "pr_latency_seconds_bucket{le=\"0.1\"} 1\n"
                                "pr_latency_seconds_bucket{le=\"1\"} 2\n"
                                "pr_latency_seconds_bucket{le=\"+Inf\"} 3\n"
                                "pr_latency_seconds_sum 3.55\n"
                                "pr_latency_seconds_count 3\n"));
    /* families sorted by name */
    assert_true(strstr(txt, "pr_inflight") < strstr(txt, "pr_latency_seconds"));
    free(txt);
    pr_metrics_free(m);
    pr_metrics_free(NULL);
}

static pr_counter *shared;
static pr_gauge *gshared;

static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        pr_counter_inc(shared);
        pr_gauge_add(gshared, 1);
    }
    return NULL;
}

static void test_metrics_updates_are_atomic(void **state)
{
    (void)state;
    pr_metrics *m = pr_metrics_new();
    shared = pr_metrics_counter(m, "c_total", "c", NULL);
    gshared = pr_metrics_gauge(m, "g", "g", NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(pr_counter_value(shared), 400000);
    assert_true(pr_gauge_value(gshared) == 400000.0);
    pr_metrics_free(m);
}

PR_TEST_MAIN(cmocka_unit_test(test_metrics_renders_counters_gauges_and_histograms),
             cmocka_unit_test(test_metrics_updates_are_atomic))
