/*
 * nonce.c - Digest nonce counts, tracked by the edge itself. libmicrohttpd 0.9.75 verifies
 * the Digest response but its nonce-count check has two holes: a request with nc=00000000 is
 * taken as "register a fresh nonce" before the response is checked, which resets the nonce's
 * count for anyone who knows the nonce (a captured Authorization header is then accepted again,
 * with any body); and a count just below the highest one seen is accepted once (nc=1 after
 * nc=2). So the edge reads nonce and nc from the header itself, refuses nc 0 and an ambiguous
 * header before libmicrohttpd sees it, and after libmicrohttpd verified the response accepts
 * only a count above the highest one accepted for that nonce.
 *
 * libmicrohttpd also resets a nonce's count when it issues the same nonce again (it derives a
 * nonce from the second, the method and the URL, so a second challenge within that second, e.g.
 * to a replayed request, repeats it): the table here keeps the count of a nonce it knows.
 * That same nonce also reaches a second client (a phone that retries an upload within the
 * second it was challenged, with a handle that forgot the first nonce), which rightly starts
 * at nc=1: so counts are kept per client nonce (cnonce) of a nonce, up to INGEST_NONCE_CLIENTS
 * of them. A replay cannot pick a new cnonce (the response covers it), so it meets its count.
 * The cnonce is kept as a 64-bit hash: a collision can only refuse an honest client.
 *
 * Memory is bounded: a fixed table of slots indexed by a hash of the nonce. A nonce gets a
 * slot when the edge issues it (the 401 challenge) and loses it when a newer nonce takes the
 * slot or its 300 s life ends; a nonce without its slot is refused as stale (the phone is
 * challenged again and retries with a fresh nonce), so losing a slot never reopens a replay.
 * One mutex guards the table (a lookup is a hash and a string compare).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"

typedef struct nonce_client {
    unsigned long long cnonce;  /* hash of the client nonce */
    unsigned long long highest; /* highest nc accepted; 0 = slot unused */
} nonce_client;

typedef struct nonce_slot {
    char nonce[INGEST_NONCE_MAX + 1]; /* "" = free */
    long long issued_ms;
    nonce_client client[INGEST_NONCE_CLIENTS];
} nonce_slot;

struct ingest_nonces {
    pthread_mutex_t mu;
    nonce_slot *slot;
    size_t n;
    long long ttl_ms;
};

pr_status ingest_nonces_new(size_t slots, long long ttl_ms, ingest_nonces **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    ingest_nonces *t = calloc(1, sizeof *t);
    if (!t || slots == 0 || !(t->slot = calloc(slots, sizeof *t->slot))) {
        free(t);
        return pr_err(PR_EFATAL, err, errlen, "out of memory for the Digest nonce table");
    }
    pthread_mutex_init(&t->mu, NULL);
    t->n = slots;
    t->ttl_ms = ttl_ms;
    *out = t;
    return PR_OK;
}

void ingest_nonces_free(ingest_nonces *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->slot);
    free(t);
}

static unsigned long long fnv1a(const char *text)
{
    unsigned long long h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static size_t slot_of(const ingest_nonces *t, const char *nonce)
{
    return (size_t)(fnv1a(nonce) % t->n);
}

void ingest_nonces_issue(ingest_nonces *t, const char *nonce, long long now_ms)
{
    if (strlen(nonce) > INGEST_NONCE_MAX)
        return;
    pthread_mutex_lock(&t->mu);
    nonce_slot *s = &t->slot[slot_of(t, nonce)];
    /* libmicrohttpd derives a nonce from the second, method and URL: a challenge in the same
     * second issues the same nonce again, which must not reset its count */
    if (strcmp(s->nonce, nonce) != 0 || now_ms - s->issued_ms > t->ttl_ms) {
        strcpy(s->nonce, nonce);
        s->issued_ms = now_ms;
        memset(s->client, 0, sizeof s->client);
    }
    pthread_mutex_unlock(&t->mu);
}

ingest_nonce_verdict ingest_nonces_use(ingest_nonces *t, const char *nonce, const char *cnonce,
                                       unsigned long long nc, long long now_ms)
{
    ingest_nonce_verdict v = INGEST_NONCE_UNKNOWN;
    if (nc == 0)
        return INGEST_NONCE_REPLAY;
    if (strlen(nonce) > INGEST_NONCE_MAX)
        return INGEST_NONCE_UNKNOWN;
    unsigned long long ch = fnv1a(cnonce);
    pthread_mutex_lock(&t->mu);
    nonce_slot *s = &t->slot[slot_of(t, nonce)];
    if (strcmp(s->nonce, nonce) == 0 && now_ms - s->issued_ms <= t->ttl_ms) {
        /* clients take the slots in order and lose them only all together (a new nonce): the
         * first slot that is free or holds this client nonce is the one */
        nonce_client *c = NULL;
        for (size_t i = 0; i < INGEST_NONCE_CLIENTS && !c; i++)
            if (s->client[i].highest == 0 || s->client[i].cnonce == ch)
                c = &s->client[i];
        if (c && nc <= c->highest) {
            v = INGEST_NONCE_REPLAY;
        } else if (c) {
            c->cnonce = ch;
            c->highest = nc;
            v = INGEST_NONCE_OK;
        } /* else no room for one more client of this nonce: stale, it is challenged again */
    }
    pthread_mutex_unlock(&t->mu);
    return v;
}

/*
 * The parameters of a Digest header are read the way libmicrohttpd 0.9.75 reads them, so that
 * both see the same nonce and nc: items `key=value` or `key="value"` separated by ','; a key
 * is compared without case and ends right at its '='; the first item of a key counts. Here a
 * key that appears twice makes the header ambiguous instead.
 */
static bool key_is(const char *p, const char *eq, const char *key)
{
    size_t n = strlen(key);
    return (size_t)(eq - p) == n && strncasecmp(p, key, n) == 0;
}

int ingest_digest_param(const char *header, const char *key, char *out, size_t cap)
{
    static const char base[] = "Digest ";
    int seen = 0;
    out[0] = '\0';
    if (!header || strncmp(header, base, sizeof base - 1) != 0)
        return 0;
    const char *p = header + sizeof base - 1;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        const char *v = eq + 1, *vend, *next;
        while (*v == ' ')
            v++;
        if (*v == '"') {
            v++;
            vend = strchr(v, '"');
            if (!vend)
                return 0;
            next = vend + 1;
        } else {
            vend = strchr(v, ',');
            next = vend;
            if (!vend)
                vend = v + strlen(v);
        }
        if (key_is(p, eq, key) && seen++ == 0) {
            size_t len = (size_t)(vend - v);
            if (len >= cap)
                return 0;
            memcpy(out, v, len);
            out[len] = '\0';
        }
        if (!next || !(p = strchr(next, ',')))
            break;
        p++;
        while (*p == ' ')
            p++;
    }
    return seen;
}

bool ingest_digest_nonce_nc(const char *header, ingest_digest_ids *id)
{
    char ncs[17];
    id->nc = 0;
    if (ingest_digest_param(header, "nonce", id->nonce, sizeof id->nonce) != 1 || !id->nonce[0] ||
        ingest_digest_param(header, "cnonce", id->cnonce, sizeof id->cnonce) != 1 ||
        !id->cnonce[0] || ingest_digest_param(header, "nc", ncs, sizeof ncs) != 1 || !ncs[0])
        return false;
    for (const char *c = ncs; *c; c++)
        if (!isxdigit((unsigned char)*c))
            return false;
    id->nc = strtoull(ncs, NULL, 16);
    return id->nc != 0;
}
