/*
 * events_tree.c - the oracle's event builders: the jansson trees the decoder built (and
 * dumped) before it wrote its events straight from the parse (proto/events_report.c). Kept
 * as they were but for the names and the UTF-8 check, as the reference the differential test
 * compares against.
 */
#include "oracle.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). Written here by decoding the code point, not by the
 * byte ranges proto/jsonw.c uses, so that the two checks are independent. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    static const unsigned long min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t need = s[0] < 0x80             ? 1
                  : (s[0] & 0xe0) == 0xc0 ? 2
                  : (s[0] & 0xf0) == 0xe0 ? 3
                  : (s[0] & 0xf8) == 0xf0 ? 4
                                          : 0;
    if (need == 0 || n < need)
        return 0;
    unsigned long cp = need == 1 ? s[0] : s[0] & (0x7fu >> need);
    for (size_t k = 1; k < need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3fu);
    }
    bool ok = cp >= min_cp[need] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    return ok ? need : 0;
}

json_t *oracle_string_lossy(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    if (!s)
        return json_string("");
    while (i < len && s[i] != 0) {
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == len) /* just validated: skip jansson's second UTF-8 pass */
        return json_stringn_nocheck(str, len);
    /* Slow path: rebuild with U+FFFD for every bad byte and NUL. */
    char *buf = malloc(len * 3 + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (i = 0; i < len;) {
        size_t k = s[i] ? utf8_seq(s + i, len - i) : 0;
        if (k == 0) {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

static json_t *str_or_empty(const char *s)
{
    return oracle_string_lossy(s ? s : "", s ? strlen(s) : 0);
}

/* Sets the envelope members on ev; -1 on failure. */
static int envelope_set(json_t *ev, const char *schema, const pr_event_envelope *env)
{
    char ts[40];
    if (pr_event_rfc3339_ms(env->received_ms, ts, sizeof ts) != 0)
        snprintf(ts, sizeof ts, "1970-01-01T00:00:00.000Z");
    json_t *src = json_object();
    json_t *raw = json_pack("{sisI}", "partition", (int)env->raw_partition, "offset",
                            (json_int_t)env->raw_offset);
    if (!src || !raw) {
        json_decref(src);
        json_decref(raw);
        return -1;
    }
    int rc = 0;
    rc |= json_object_set_new(src, "method", str_or_empty(env->source.method));
    rc |= json_object_set_new(src, "path", str_or_empty(env->source.path));
    rc |= json_object_set_new(src, "remote", str_or_empty(env->source.remote));
    rc |= json_object_set_new(src, "user_agent", str_or_empty(env->source.user_agent));
    if (env->source.model && *env->source.model)
        rc |= json_object_set_new(src, "model", str_or_empty(env->source.model));
    if (env->source.firmware && *env->source.firmware)
        rc |= json_object_set_new(src, "firmware", str_or_empty(env->source.firmware));
    rc |= json_object_set_new(ev, "schema", json_string(schema));
    rc |= json_object_set_new(ev, "mac", str_or_empty(env->mac));
    rc |= json_object_set_new(ev, "kind", str_or_empty(env->kind));
    rc |= json_object_set_new(ev, "report_id", str_or_empty(env->report_id));
    rc |= json_object_set_new(ev, "received_at", json_string(ts));
    rc |= json_object_set_new(ev, "encryption", str_or_empty(env->encryption));
    rc |= json_object_set_new(ev, "source", src);
    if (rc != 0) {
        json_decref(raw);
        return -1;
    }
    if (json_object_set_new(ev, "raw", raw) != 0)
        return -1;
    return 0;
}

/*
 * Repeated short values share one jansson string: a Cisco profile repeats "", "No", "Yes",
 * "0" and the like (the 8832 profile has 217 distinct values among 565), and each string
 * saved is two allocations and two frees. Bounded so that no input makes it slow: short
 * values only, a fixed table, a few probes, and a value that finds no place is simply not
 * shared. The table borrows: every string in it is held by the params object being built.
 */
#define SHARE_SLOTS   256
#define SHARE_MAX_LEN 24
#define SHARE_PROBES  4

typedef struct share_slot {
    const char *s; /* the value's bytes (in the flat profile) */
    size_t len;
    json_t *v;
} share_slot;

static json_t *value_string(share_slot *tab, const char *s, size_t len)
{
    if (len > SHARE_MAX_LEN)
        return json_stringn_nocheck(s, len);
    uint32_t h = 2166136261u ^ (uint32_t)len; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    for (uint32_t k = 0; k < SHARE_PROBES; k++) {
        share_slot *e = &tab[(h + k) & (SHARE_SLOTS - 1)];
        if (!e->v) {
            e->v = json_stringn_nocheck(s, len);
            e->s = s;
            e->len = len;
            return e->v; /* the caller's reference, given to params; the table borrows */
        }
        if (e->len == len && memcmp(e->s, s, len) == 0)
            return json_incref(e->v);
    }
    return json_stringn_nocheck(s, len);
}

json_t *oracle_config_new(const pr_event_envelope *env, const pr_flat_profile *fp)
{
    share_slot shared[SHARE_SLOTS];
    memset(shared, 0, sizeof shared);
    json_t *ev = json_object();
    json_t *params = json_object();
    json_t *access = json_object();
    if (!ev || !params || !access || envelope_set(ev, PR_SCHEMA_CONFIG, env) != 0)
        goto fail;
    /* Names and values come from expat, which only ever reports valid UTF-8 without NUL
     * (a NUL byte or &#0; is not well-formed XML); pr_flatprofile_parse only trims and
     * replaces ASCII bytes, so they need no second check. The ua attribute may be cut inside
     * a character, so it keeps the lossy copy. The ua values are shared strings (na/ro/rw)
     * rather than one string per parameter. */
    json_t *ua_na = json_string("na"), *ua_ro = json_string("ro"), *ua_rw = json_string("rw");
    int bad = !ua_na || !ua_ro || !ua_rw;
    for (size_t i = 0; i < fp->len && !bad; i++) {
        const pr_fp_param *p = &fp->params[i];
        json_t *v = value_string(shared, p->value, strlen(p->value));
        if (!v || json_object_set_new_nocheck(params, p->name, v) != 0) {
            bad = 1;
            break;
        }
        if (!p->ua[0])
            continue;
        json_t *ua = strcmp(p->ua, "na") == 0   ? json_incref(ua_na)
                     : strcmp(p->ua, "ro") == 0 ? json_incref(ua_ro)
                     : strcmp(p->ua, "rw") == 0 ? json_incref(ua_rw)
                                                : oracle_string_lossy(p->ua, strlen(p->ua));
        if (!ua || json_object_set_new_nocheck(access, p->name, ua) != 0)
            bad = 1;
    }
    json_decref(ua_na);
    json_decref(ua_ro);
    json_decref(ua_rw);
    if (bad)
        goto fail;
    if (json_object_set_new(ev, "params", params) != 0) {
        params = NULL;
        goto fail;
    }
    params = NULL;
    if (json_object_set_new(ev, "access", access) != 0) {
        access = NULL;
        goto fail;
    }
    access = NULL;
    if (fp->duplicates > 0 &&
        json_object_set_new(ev, "duplicates", json_integer((json_int_t)fp->duplicates)) != 0)
        goto fail;
    return ev;
fail:
    json_decref(ev);
    json_decref(params);
    json_decref(access);
    return NULL;
}

json_t *oracle_status_new(const pr_event_envelope *env, json_t *status)
{
    json_t *ev = json_object();
    if (!ev || !status || envelope_set(ev, PR_SCHEMA_STATUS, env) != 0) {
        json_decref(ev);
        json_decref(status);
        return NULL;
    }
    if (json_object_set_new(ev, "status", status) != 0) {
        json_decref(ev);
        return NULL;
    }
    return ev;
}

typedef struct dump_buf {
    char *p;
    size_t len, cap;
} dump_buf;

static int dump_grow(dump_buf *b, size_t n)
{
    size_t cap = b->cap;
    while (cap - b->len <= n) /* keeps a byte for the NUL */
        cap = cap * 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int dump_cb(const char *s, size_t n, void *data)
{
    dump_buf *b = data;
    if (n == 1 && b->cap - b->len > 1) { /* most calls: a quote, colon or comma */
        b->p[b->len++] = *s;
        return 0;
    }
    if (b->cap - b->len <= n && dump_grow(b, n) != 0)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

char *oracle_dump(const json_t *ev, size_t size_hint, size_t *len)
{
    dump_buf b = {.cap = size_hint < 256 ? 256 : size_hint};
    b.p = malloc(b.cap);
    if (!b.p || json_dump_callback(ev, dump_cb, &b, JSON_COMPACT) != 0) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    *len = b.len;
    return b.p;
}

static char *base64(const unsigned char *in, size_t len, size_t *outlen)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 4 * ((len + 2) / 3);
    char *out = malloc(n + 1);
    size_t o = 0, i = 0;
    if (!out)
        return NULL;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0u);
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

json_t *oracle_dlq_new(pr_dlq_reason reason, const char *detail, const char *mac, const char *topic,
                       int32_t partition, int64_t offset, const pr_event_header *headers,
                       size_t nheaders, const unsigned char *payload, size_t payload_len,
                       size_t max_payload)
{
    size_t keep = payload_len < max_payload ? payload_len : max_payload;
    size_t b64len = 0;
    char *b64 = base64(payload ? payload : (const unsigned char *)"", payload ? keep : 0, &b64len);
    json_t *hdrs = json_object();
    json_t *ev = json_object();
    if (!b64 || !hdrs || !ev)
        goto fail;
    for (size_t i = 0; i < nheaders; i++) {
        json_t *v = oracle_string_lossy((const char *)headers[i].value, headers[i].len);
        if (!v || !headers[i].name || json_object_set_new(hdrs, headers[i].name, v) != 0)
            goto fail;
    }
    int rc = 0;
    rc |= json_object_set_new(ev, "schema", json_string(PR_SCHEMA_DLQ));
    rc |= json_object_set_new(ev, "reason", json_string(pr_dlq_reason_name(reason)));
    rc |= json_object_set_new(ev, "detail", str_or_empty(detail));
    rc |= json_object_set_new(ev, "mac", mac && *mac ? json_string(mac) : json_null());
    rc |= json_object_set_new(ev, "raw",
                              json_pack("{sssisI}", "topic", topic ? topic : "", "partition",
                                        (int)partition, "offset", (json_int_t)offset));
    rc |= json_object_set_new(ev, "headers", hdrs);
    hdrs = NULL;
    rc |= json_object_set_new(ev, "payload_b64", json_stringn(b64, b64len));
    rc |= json_object_set_new(ev, "payload_bytes", json_integer((json_int_t)payload_len));
    rc |= json_object_set_new(ev, "payload_truncated", json_boolean(keep < payload_len));
    if (rc != 0)
        goto fail;
    free(b64);
    return ev;
fail:
    free(b64);
    json_decref(hdrs);
    json_decref(ev);
    return NULL;
}
