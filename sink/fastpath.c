/*
 * fastpath.c - turns a consumed record into a sink_event, skipping the costly part for the
 * commonest report of a boot storm: a full report identical to the phone's state.
 *
 * Why: parsing a full report's params and access into a jansson tree costs more than every
 * other step of an unchanged report together (an 8832 report is 40 KB of JSON, 1,130 strings);
 * a fleet that reboots sends the same bytes again. The digest of a full report is the SHA-256
 * of the exact bytes of its params and access members; the phone row keeps the digest of the
 * last full report applied (apply.c). Before parsing, the top-level members of the record are
 * located by a scan (strings and nesting only); if the record is a full report whose digest
 * equals the phone's stored one (read on the caller's own connection), only the envelope is
 * parsed and validated (the record with those two members replaced by {}): the parameters are
 * byte for byte those of a report that was validated and applied before. The event is then
 * `lazy`: it has no parameters, and the writer either applies it as unchanged (its own,
 * authoritative read of the digest agrees) or parses it fully itself (the state moved on
 * between the two reads). Anything unusual (escaped or repeated member names, a malformed
 * scan) takes the ordinary full parse, which also gives the error reasons.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_internal.h"

#define MAX_DEPTH 128

typedef struct span {
    const char *p;
    size_t len;
} span;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': returns the end of the string (after the quote) or NULL; *escaped when it holds a
 * backslash escape. */
static const char *skip_string(const char *p, const char *end, bool *escaped)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            *escaped = true;
            if (++p == end)
                return NULL;
        }
    }
    return NULL;
}

/* One JSON value starting at p: returns its end, or NULL when the bytes do not nest. */
static const char *skip_value(const char *p, const char *end)
{
    char closers[MAX_DEPTH];
    int depth = 0;
    bool esc = false;
    if (p == end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end, &esc);
    if (*p != '{' && *p != '[') { /* number or literal: up to a delimiter */
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
               *p != '\t' && *p != '\r')
            p++;
        return p;
    }
    while (p < end) {
        char c = *p;
        if (c == '"') {
            if (!(p = skip_string(p, end, &esc)))
                return NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH)
                return NULL;
            closers[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || closers[depth - 1] != c)
                return NULL;
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

/* The values of the top-level members "params" and "access" (len 0 when absent). false when
 * the record is not a plain object of uniquely named members. */
static bool find_members(const char *buf, size_t len, span *params, span *access)
{
    const char *p = buf, *end = buf + len;
    memset(params, 0, sizeof *params);
    memset(access, 0, sizeof *access);
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return false;
    for (;;) {
        p = skip_ws(p, end);
        bool esc = false;
        if (p == end || *p != '"')
            return false;
        const char *k = p + 1, *ke = skip_string(p, end, &esc);
        if (!ke || esc)
            return false; /* an escaped name could spell params: the full parse decides */
        size_t klen = (size_t)(ke - 1 - k);
        p = skip_ws(ke, end);
        if (p == end || *p++ != ':')
            return false;
        p = skip_ws(p, end);
        const char *v = p;
        if (!(p = skip_value(p, end)))
            return false;
        span *s = klen == 6 && memcmp(k, "params", 6) == 0   ? params
                  : klen == 6 && memcmp(k, "access", 6) == 0 ? access
                                                             : NULL;
        if (s) {
            if (s->p)
                return false; /* repeated: the full parse refuses it */
            s->p = v;
            s->len = (size_t)(p - v);
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}')
            return params->p != NULL && skip_ws(p + 1, end) == end;
        return false;
    }
}

static int digest_span(EVP_MD_CTX *md, char tag, const span *s)
{
    unsigned char head[5] = {(unsigned char)tag, (unsigned char)(s->len >> 24),
                             (unsigned char)(s->len >> 16), (unsigned char)(s->len >> 8),
                             (unsigned char)s->len};
    if (!s->p)
        head[1] = head[2] = head[3] = head[4] = 0xff; /* absent, not empty */
    if (EVP_DigestUpdate(md, head, sizeof head) != 1)
        return -1;
    return s->p && s->len ? (EVP_DigestUpdate(md, s->p, s->len) == 1 ? 0 : -1) : 0;
}

/* The SHA-256 of the exact bytes of a record's params and access members. */
static bool spans_digest(const span *params, const span *access, unsigned char digest[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              digest_span(md, 'p', params) == 0 && digest_span(md, 'a', access) == 0 &&
              EVP_DigestFinal_ex(md, digest, NULL) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* The record with the params and access values replaced by {} (malloc'd), or NULL. */
static char *envelope(const char *buf, size_t len, const span *params, const span *access,
                      size_t *outlen)
{
    const span *first = params, *second = access->p ? access : NULL;
    if (second && second->p < first->p) {
        first = access;
        second = params;
    }
    size_t taken = params->len + (second ? access->len : 0), n = len - taken + (second ? 4 : 2);
    char *out = malloc(n + 1), *o = out; /* the envelope only: a few hundred bytes */
    if (!out)
        return NULL;
    const char *p = buf;
    const span *cut[2] = {first, second};
    for (int i = 0; i < 2 && cut[i]; i++) {
        memcpy(o, p, (size_t)(cut[i]->p - p));
        o += cut[i]->p - p;
        memcpy(o, "{}", 2);
        o += 2;
        p = cut[i]->p + cut[i]->len;
    }
    memcpy(o, p, (size_t)(buf + len - p));
    o += buf + len - p;
    *outlen = (size_t)(o - out);
    return out;
}

/* ---- the event's own facts: digest and weight (what the writer needs, computed here) --- */

/* Length of s as the body of a JSON string (jansson's default escapes). */
static long long json_body_len(const char *s, size_t n)
{
    long long len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            len += 2;
        else if (c < 0x20)
            len += 6;
        else
            len++;
    }
    return len;
}

long long sink_param_weight(const char *name, const char *value, const char *access)
{
    long long nl = json_body_len(name, strlen(name));
    long long w = nl + json_body_len(value, strlen(value)) + 6; /* "n":"v", */
    if (access)
        w += nl + json_body_len(access, strlen(access)) + 6;
    return w;
}

/* What the writer needs from the event that the event alone decides; digest: the record's
 * (spans_digest), NULL when it has none. PR_EFATAL only when out of memory. */
static pr_status prepare(sink_event *ev, const unsigned char *digest, char *err, size_t errlen)
{
    const char *name;
    json_t *jv;
    if (ev->is_status) { /* the stored body, serialised here rather than by the writer */
        if (!(ev->status_text = json_dumps(ev->status, JSON_COMPACT)))
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        ev->prepared = true;
        return PR_OK;
    }
    ev->weight = 0;
    json_object_foreach(ev->params, name, jv)
    {
        json_t *ja = ev->access ? json_object_get(ev->access, name) : NULL;
        ev->weight += sink_param_weight(name, json_string_value(jv), json_string_value(ja));
    }
    ev->has_digest = ev->kind == PR_KIND_FULL && digest;
    if (ev->has_digest)
        memcpy(ev->digest, digest, sizeof ev->digest);
    ev->prepared = true;
    return PR_OK;
}

pr_status sink_event_load(sink_store *lookup, const char *buf, size_t len, bool status_topic,
                          const char *key, size_t keylen, sink_event *ev, char *reason,
                          size_t reasonlen, char *err, size_t errlen)
{
    span params, access;
    unsigned char digest[32];
    pr_status rc;
    bool digested = !status_topic && buf && find_members(buf, len, &params, &access) &&
                    spans_digest(&params, &access, digest);
    if (digested && lookup) {
        unsigned char stored[32];
        size_t elen = 0;
        char *env = envelope(buf, len, &params, &access, &elen);
        if (env && sink_event_parse(env, elen, false, key, keylen, ev, reason, reasonlen, err,
                                    errlen) == PR_OK) {
            if (ev->kind == PR_KIND_FULL && !ev->kind_unknown &&
                sink_store_phone_digest(lookup, ev->mac, stored) == PR_OK &&
                memcmp(stored, digest, sizeof digest) == 0) {
                ev->lazy = ev->prepared = ev->has_digest = true;
                memcpy(ev->digest, digest, sizeof digest);
                ev->raw = buf;
                ev->rawlen = len;
                ev->params = ev->access = NULL; /* not parsed: never to be applied as such */
                free(env);
                return PR_OK;
            }
            sink_event_release(ev);
        }
        free(env);
    }
    if ((rc = sink_event_parse(buf, len, status_topic, key, keylen, ev, reason, reasonlen, err,
                               errlen)) != PR_OK)
        return rc;
    if ((rc = prepare(ev, digested ? digest : NULL, err, errlen)) != PR_OK) {
        snprintf(reason, reasonlen, "internal");
        sink_event_release(ev);
    }
    return rc;
}
