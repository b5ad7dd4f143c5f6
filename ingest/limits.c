/*
 * limits.c - the size decisions of the edge: Content-Length against the body limit, and the
 * in-flight byte budget shared by all connections (bodies being received plus records not
 * yet acknowledged by Kafka), and each client address's share of it. Pure: no HTTP, no
 * Kafka; the budget is a lock-free counter used from every HTTP thread and the
 * delivery-report thread.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"

ingest_length_verdict ingest_limits_content_length(const char *value, long long max,
                                                   unsigned long long *len)
{
    if (!value)
        return INGEST_LEN_ABSENT;
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return INGEST_LEN_INVALID;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(p, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return INGEST_LEN_INVALID;
    if (errno == ERANGE || v > (unsigned long long)max)
        return INGEST_LEN_TOO_LARGE;
    *len = v;
    return INGEST_LEN_OK;
}

void ingest_budget_init(ingest_budget *b, long long max)
{
    atomic_init(&b->used, 0);
    b->max = max;
}

bool ingest_budget_take(ingest_budget *b, long long n)
{
    long long cur = atomic_load(&b->used);
    do {
        if (n < 0 || cur + n > b->max)
            return false;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    return true;
}

void ingest_budget_give(ingest_budget *b, long long n)
{
    atomic_fetch_sub(&b->used, n);
}

long long ingest_budget_used(ingest_budget *b)
{
    return atomic_load(&b->used);
}

long long ingest_limits_retry_after_s(long long ms)
{
    long long s = (ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

/*
 * Per-address shares of the in-flight budget: how many bytes each client address holds, so
 * that one address (many connections sending large bodies and holding the last bytes) cannot
 * take the whole budget from every other phone. A chained hash table under one mutex; an
 * entry lives while its address holds bytes, so the table is no larger than the number of
 * addresses with uploads in flight.
 */
typedef struct share {
    struct share *next;
    long long held;
    char key[];
} share;

#define SHARE_BUCKETS 1024

struct ingest_shares {
    pthread_mutex_t mu;
    long long max;
    share *bucket[SHARE_BUCKETS];
};

pr_status ingest_shares_new(long long max_per_key, ingest_shares **out, char *err, size_t errlen)
{
    ingest_shares *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->max = max_per_key;
    *out = s;
    return PR_OK;
}

void ingest_shares_free(ingest_shares *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SHARE_BUCKETS; i++)
        for (share *e = s->bucket[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static share **find(ingest_shares *s, const char *key)
{
    unsigned long long h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    share **e = &s->bucket[h % SHARE_BUCKETS];
    while (*e && strcmp((*e)->key, key) != 0)
        e = &(*e)->next;
    return e;
}

bool ingest_shares_take(ingest_shares *s, const char *key, long long n)
{
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    share **e = find(s, key);
    long long held = *e ? (*e)->held : 0;
    if (n >= 0 && held + n <= s->max) {
        if (!*e) {
            size_t len = strlen(key);
            share *ne = calloc(1, sizeof *ne + len + 1);
            if (!ne)
                goto out;
            memcpy(ne->key, key, len + 1);
            *e = ne;
        }
        (*e)->held += n;
        ok = true;
    }
out:
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void ingest_shares_give(ingest_shares *s, const char *key, long long n)
{
    pthread_mutex_lock(&s->mu);
    share **e = find(s, key);
    if (*e) {
        (*e)->held -= n;
        if ((*e)->held <= 0) {
            share *dead = *e;
            *e = dead->next;
            free(dead);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

long long ingest_shares_held(ingest_shares *s, const char *key)
{
    pthread_mutex_lock(&s->mu);
    share **e = find(s, key);
    long long held = *e ? (*e)->held : 0;
    pthread_mutex_unlock(&s->mu);
    return held;
}

long long ingest_limits_ip_share(const ingest_cfg *cfg)
{
    if (cfg->max_inflight_bytes_per_ip > 0)
        return cfg->max_inflight_bytes_per_ip;
    long long eighth = cfg->max_inflight_bytes / 8;
    return eighth < cfg->max_body_bytes ? cfg->max_body_bytes : eighth;
}
