/*
 * metrics.c - Prometheus registry (see metrics.h).
 *
 * DESIGN: families are kept in an array guarded by a mutex that only creation and rendering
 * take; each metric's values are C11 atomics (doubles stored as their bit patterns and
 * updated with compare-and-swap), so updates from the hot path never lock. Metrics are never
 * removed before pr_metrics_free().
 */
#include "metrics.h"

#include "buf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } mtype;

struct pr_counter {
    _Atomic uint64_t v;
};
struct pr_gauge {
    _Atomic uint64_t bits;
};
struct pr_histogram {
    double *bounds;
    size_t nbounds;
    _Atomic uint64_t *counts; /* nbounds + 1, the last is +Inf; not cumulative */
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t count;
};

typedef struct metric {
    char *labels;
    union {
        struct pr_counter c;
        struct pr_gauge g;
        struct pr_histogram h;
    } u;
} metric;

typedef struct family {
    char *name;
    char *help;
    mtype type;
    metric **items;
    size_t len, cap;
} family;

struct pr_metrics {
    pthread_mutex_t lock;
    family **fams;
    size_t len, cap;
};

const double pr_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t pr_metrics_latency_buckets_len =
    sizeof pr_metrics_latency_buckets / sizeof pr_metrics_latency_buckets[0];

static uint64_t dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double bitsd(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double delta)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

pr_metrics *pr_metrics_new(void)
{
    pr_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void metric_free(metric *it, mtype type)
{
    if (!it)
        return;
    if (type == M_HISTOGRAM) {
        free(it->u.h.bounds);
        free((void *)it->u.h.counts);
    }
    free(it->labels);
    free(it);
}

void pr_metrics_free(pr_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->len; i++) {
        family *f = m->fams[i];
        for (size_t j = 0; j < f->len; j++)
            metric_free(f->items[j], f->type);
        free(f->items);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->fams);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Finds or creates (name, labels); called with the lock held. */
static metric *lookup(pr_metrics *m, const char *name, const char *help, const char *labels,
                      mtype type, bool *created)
{
    family *f = NULL;
    *created = false;
    if (!labels)
        labels = "";
    for (size_t i = 0; i < m->len; i++) {
        if (strcmp(m->fams[i]->name, name) == 0) {
            f = m->fams[i];
            break;
        }
    }
    if (f && f->type != type)
        return NULL; /* same name, other type: a programming error */
    if (!f) {
        family **n = pr_grow(m->fams, &m->cap, m->len, sizeof *n, 32);
        if (!n)
            return NULL;
        m->fams = n;
        f = calloc(1, sizeof *f);
        if (!f)
            return NULL;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        f->type = type;
        if (!f->name || !f->help) {
            free(f->name);
            free(f->help);
            free(f);
            return NULL;
        }
        m->fams[m->len++] = f;
    }
    for (size_t j = 0; j < f->len; j++)
        if (strcmp(f->items[j]->labels, labels) == 0)
            return f->items[j];
    metric **items = pr_grow(f->items, &f->cap, f->len, sizeof *items, 8);
    if (!items)
        return NULL;
    f->items = items;
    metric *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->labels = strdup(labels);
    if (!it->labels) {
        free(it);
        return NULL;
    }
    f->items[f->len++] = it;
    *created = true;
    return it;
}

/* lookup() under the lock, for the types that need nothing more when created; NULL m: NULL. */
static metric *lookup_locked(pr_metrics *m, const char *name, const char *help, const char *labels,
                             mtype type)
{
    bool created;
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->lock);
    metric *it = lookup(m, name, help, labels, type, &created);
    pthread_mutex_unlock(&m->lock);
    return it;
}

pr_counter *pr_metrics_counter(pr_metrics *m, const char *name, const char *help,
                               const char *labels)
{
    metric *it = lookup_locked(m, name, help, labels, M_COUNTER);
    return it ? &it->u.c : NULL;
}

pr_counter *pr_metrics_counter_by(pr_metrics *m, const char *name, const char *help,
                                  const char *label, const char *value)
{
    char labels[256];
    snprintf(labels, sizeof labels, "%s=\"%s\"", label, value);
    return pr_metrics_counter(m, name, help, labels);
}

pr_gauge *pr_metrics_gauge(pr_metrics *m, const char *name, const char *help, const char *labels)
{
    metric *it = lookup_locked(m, name, help, labels, M_GAUGE);
    return it ? &it->u.g : NULL;
}

pr_histogram *pr_metrics_histogram(pr_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t nbounds)
{
    bool created;
    pr_histogram *h = NULL;
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->lock);
    metric *it = lookup(m, name, help, labels, M_HISTOGRAM, &created);
    if (it && created) {
        it->u.h.bounds = malloc((nbounds ? nbounds : 1) * sizeof(double));
        it->u.h.counts = calloc(nbounds + 1, sizeof(_Atomic uint64_t));
        if (it->u.h.bounds && it->u.h.counts) {
            memcpy(it->u.h.bounds, bounds, nbounds * sizeof(double));
            it->u.h.nbounds = nbounds;
        } else {
            /* keep the metric but with only the +Inf bucket */
            free(it->u.h.bounds);
            it->u.h.bounds = NULL;
            it->u.h.nbounds = 0;
            if (!it->u.h.counts)
                it->u.h.counts = calloc(1, sizeof(_Atomic uint64_t));
        }
    }
    if (it && it->u.h.counts)
        h = &it->u.h;
    pthread_mutex_unlock(&m->lock);
    return h;
}

void pr_counter_add(pr_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t pr_counter_value(const pr_counter *c)
{
    return c ? atomic_load_explicit(&((pr_counter *)c)->v, memory_order_relaxed) : 0;
}

void pr_gauge_set(pr_gauge *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

void pr_gauge_add(pr_gauge *g, double delta)
{
    if (g)
        atomic_add_double(&g->bits, delta);
}

double pr_gauge_value(const pr_gauge *g)
{
    return g ? bitsd(atomic_load_explicit(&((pr_gauge *)g)->bits, memory_order_relaxed)) : 0;
}

void pr_histogram_observe(pr_histogram *h, double v)
{
    if (!h)
        return;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(family *const *)a)->name, (*(family *const *)b)->name);
}

/* Writes `name{labels}` or `name{labels,extra}`. */
static void sb_series(pr_buf *b, const char *name, const char *suffix, const char *labels,
                      const char *extra)
{
    bool l = labels && *labels, e = extra && *extra;
    pr_buf_printf(b, "%s%s", name, suffix);
    if (l || e)
        pr_buf_printf(b, "{%s%s%s}", l ? labels : "", l && e ? "," : "", e ? extra : "");
}

char *pr_metrics_render(pr_metrics *m, size_t *len)
{
    pr_buf b = {0};
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    if (!m || !pr_buf_reserve(&b, 4096)) {
        pr_buf_release(&b);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    family **sorted = malloc((m->len ? m->len : 1) * sizeof *sorted);
    if (!sorted) {
        pthread_mutex_unlock(&m->lock);
        pr_buf_release(&b);
        return NULL;
    }
    memcpy(sorted, m->fams, m->len * sizeof *sorted);
    qsort(sorted, m->len, sizeof *sorted, cmp_family);
    for (size_t i = 0; i < m->len; i++) {
        family *f = sorted[i];
        pr_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      tname[f->type]);
        for (size_t j = 0; j < f->len; j++) {
            metric *it = f->items[j];
            if (f->type == M_COUNTER) {
                sb_series(&b, f->name, "", it->labels, NULL);
                pr_buf_printf(&b, " %llu\n", (unsigned long long)pr_counter_value(&it->u.c));
            } else if (f->type == M_GAUGE) {
                sb_series(&b, f->name, "", it->labels, NULL);
                pr_buf_printf(&b, " %.15g\n", pr_gauge_value(&it->u.g));
            } else {
                struct pr_histogram *h = &it->u.h;
                uint64_t cum = 0;
                char le[64];
                for (size_t k = 0; k <= h->nbounds; k++) {
                    cum += atomic_load_explicit(&h->counts[k], memory_order_relaxed);
                    if (k < h->nbounds)
                        snprintf(le, sizeof le, "le=\"%g\"", h->bounds[k]);
                    else
                        snprintf(le, sizeof le, "le=\"+Inf\"");
                    sb_series(&b, f->name, "_bucket", it->labels, le);
                    pr_buf_printf(&b, " %llu\n", (unsigned long long)cum);
                }
                sb_series(&b, f->name, "_sum", it->labels, NULL);
                pr_buf_printf(&b, " %.15g\n", bitsd(atomic_load(&h->sum_bits)));
                sb_series(&b, f->name, "_count", it->labels, NULL);
                pr_buf_printf(&b, " %llu\n", (unsigned long long)atomic_load(&h->count));
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    free(sorted);
    return pr_buf_steal(&b, len);
}
