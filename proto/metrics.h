/*
 * metrics.h - a small Prometheus registry: counters, gauges and histograms, rendered in the
 * text exposition format (version 0.0.4).
 *
 * DESIGN: a metric is identified by its family name plus a label string written as
 * Prometheus does (`status="200",kind="full"`, or "" for none). pr_metrics_counter() and
 * friends return the same handle for the same (name, labels); creation takes a mutex, updates
 * are lock-free atomics, so hot paths look a handle up once and keep it. Handles live as long
 * as the registry. The registry is shared by every role in a process (one /metrics).
 */
#ifndef PR_METRICS_H
#define PR_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pr_metrics pr_metrics;
typedef struct pr_counter pr_counter;
typedef struct pr_gauge pr_gauge;
typedef struct pr_histogram pr_histogram;

pr_metrics *pr_metrics_new(void);
void pr_metrics_free(pr_metrics *m); /* NULL is a no-op */

/* `help` is used the first time a family is seen. `labels` may be NULL or "". Returns NULL
 * only on allocation failure; updating a NULL handle is a no-op. */
pr_counter *pr_metrics_counter(pr_metrics *m, const char *name, const char *help,
                               const char *labels);
/* The series of a counter with one label: label="value" (a name without quotes or '\\'). */
pr_counter *pr_metrics_counter_by(pr_metrics *m, const char *name, const char *help,
                                  const char *label, const char *value);
pr_gauge *pr_metrics_gauge(pr_metrics *m, const char *name, const char *help, const char *labels);
/* `bounds` are the upper bounds of the buckets, ascending, without +Inf (copied). */
pr_histogram *pr_metrics_histogram(pr_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t nbounds);

void pr_counter_add(pr_counter *c, uint64_t n);
static inline void pr_counter_inc(pr_counter *c)
{
    pr_counter_add(c, 1);
}
uint64_t pr_counter_value(const pr_counter *c);

void pr_gauge_set(pr_gauge *g, double v);
void pr_gauge_add(pr_gauge *g, double delta);
double pr_gauge_value(const pr_gauge *g);

void pr_histogram_observe(pr_histogram *h, double v);

/* Renders every family, sorted by name. Returns a malloc'd NUL-terminated string (caller
 * frees) and its length in *len (may be NULL); NULL on allocation failure. */
char *pr_metrics_render(pr_metrics *m, size_t *len);

/* Default latency buckets in seconds (0.5 ms .. 10 s). */
extern const double pr_metrics_latency_buckets[];
extern const size_t pr_metrics_latency_buckets_len;

#endif
