/*
 * doc.c - a phone's configuration in compact form, without JSON trees: an array of entries
 * (the name's interned id, the value, the access) sorted by name id. The writer (apply.c)
 * converts a report's parameters to entries once, merges a delta into the old document in one
 * pass over both, and gets the diff from the same pass; store_doc.c writes it.
 *
 * The SQLite encoding (configs.doc, schema 6), a blob:
 *   0xD6, varint count, then per entry in id order:
 *   varint (id - previous id), varint (value length * 8 + access code), the value's bytes,
 *   and for access code 4 a varint length and the access text.
 * Access codes: 0 none, 1 "na", 2 "ro", 3 "rw", 4 another text. Varints are LEB128. With the
 * names interned, an 8832 profile of 565 parameters takes about its values' bytes plus two
 * or three bytes per parameter.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "sink_internal.h"

#define DOC_MAGIC    0xD6
#define ACCESS_OTHER 4

static const char *const access_codes[] = {NULL, "na", "ro", "rw"};

struct sink_doc_block {
    size_t refs;
    char bytes[];
};

static sink_doc_block *block_new(size_t len)
{
    sink_doc_block *b = malloc(sizeof *b + (len ? len : 1));
    if (b)
        b->refs = 1;
    return b;
}

static void blocks_release(sink_doc *d)
{
    for (size_t i = 0; i < d->nblocks; i++)
        if (--d->blocks[i]->refs == 0)
            free(d->blocks[i]);
    d->nblocks = 0;
}

void sink_doc_release(sink_doc *d)
{
    if (!d)
        return;
    free(d->e);
    blocks_release(d);
    memset(d, 0, sizeof *d);
}

/* The static text of a common access value (entries may point to it), or NULL. */
static const char *access_static(const char *a, unsigned *code)
{
    for (unsigned i = 1; i < ACCESS_OTHER; i++)
        if (a && strcmp(a, access_codes[i]) == 0) {
            if (code)
                *code = i;
            return access_codes[i];
        }
    if (code)
        *code = a ? ACCESS_OTHER : 0;
    return NULL;
}

static int by_id(const void *a, const void *b)
{
    const sink_doc_entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

void sink_doc_finish(sink_doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        unsigned code;
        access_static(d->e[i].access, &code);
        d->e[i].acode = (uint8_t)code;
    }
    for (size_t i = 1; i < d->n; i++)
        if (d->e[i - 1].id >= d->e[i].id) {
            qsort(d->e, d->n, sizeof *d->e, by_id);
            return;
        }
}

/* Copies e's value and access text to p (then pointing there); returns the end. */
static char *copy_strings(sink_doc_entry *e, char *p)
{
    memcpy(p, e->value, e->vlen);
    p[e->vlen] = '\0';
    e->value = p;
    p += e->vlen + 1;
    if (e->acode == ACCESS_OTHER) {
        size_t n = strlen(e->access) + 1;
        memcpy(p, e->access, n);
        e->access = p;
        p += n;
    } else {
        e->access = access_codes[e->acode];
    }
    return p;
}

bool sink_doc_own(sink_doc *d)
{
    size_t total = 0;
    for (size_t i = 0; i < d->n; i++) {
        total += d->e[i].vlen + 1;
        if (d->e[i].acode == ACCESS_OTHER)
            total += strlen(d->e[i].access) + 1;
    }
    sink_doc_block *block = block_new(total);
    if (!block)
        return false;
    char *p = block->bytes;
    for (size_t i = 0; i < d->n; i++) {
        p = copy_strings(&d->e[i], p);
    }
    blocks_release(d);
    d->blocks[0] = block;
    d->nblocks = 1;
    d->arena_len = total;
    d->waste = 0;
    d->bytes = total + d->n * sizeof *d->e;
    return true;
}

const sink_doc_entry *sink_doc_find(const sink_doc *d, int64_t id)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->e[mid].id == id)
            return &d->e[mid];
        if (d->e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- merge and diff: one pass over the old document and the report ---------------------- */

/* What an entry's strings take in an arena. */
static size_t entry_bytes(const sink_doc_entry *e)
{
    return e->vlen + 1 + (e->acode == ACCESS_OTHER ? strlen(e->access) + 1 : 0);
}

/* A delta's new document owns its strings: it shares the old document's blocks (the kept
 * entries point into them as they are) and adds one block for the report's strings. Past
 * SINK_DOC_BLOCKS_MAX blocks, or when what no entry uses would pass half of them, the strings
 * are copied into one block instead (compacted). */
static bool own_after_delta(sink_doc *out, const sink_doc *old, const sink_doc *ev,
                            const sink_doc_diff *diff)
{
    size_t add = 0, waste = old->waste;
    for (size_t j = 0; j < ev->n; j++) {
        add += entry_bytes(&ev->e[j]);
        waste += diff->old_of[ev->e[j].pos] ? entry_bytes(diff->old_of[ev->e[j].pos]) : 0;
    }
    if (!old->nblocks || old->nblocks >= SINK_DOC_BLOCKS_MAX || waste * 2 > old->arena_len + add)
        return sink_doc_own(out);
    sink_doc_block *block = block_new(add);
    if (!block)
        return false;
    char *tail = block->bytes;
    for (size_t j = 0; j < ev->n; j++) { /* the out entries of the report, found by id */
        sink_doc_entry *e = (sink_doc_entry *)(uintptr_t)sink_doc_find(out, ev->e[j].id);
        tail = copy_strings(e, tail);
    }
    for (size_t i = 0; i < old->nblocks; i++) {
        old->blocks[i]->refs++;
        out->blocks[i] = old->blocks[i];
    }
    out->blocks[old->nblocks] = block;
    out->nblocks = old->nblocks + 1;
    out->arena_len = old->arena_len + add;
    out->waste = waste;
    out->bytes = out->arena_len + out->n * sizeof *out->e;
    return true;
}

pr_status sink_doc_merge(const sink_doc *old, const sink_doc *ev, bool full, sink_doc *out,
                         sink_doc_diff *diff)
{
    size_t cap = (full ? 0 : old->n) + ev->n;
    memset(out, 0, sizeof *out);
    memset(diff, 0, sizeof *diff);
    out->e = malloc((cap ? cap : 1) * sizeof *out->e);
    diff->old_of = calloc(ev->n ? ev->n : 1, sizeof *diff->old_of); /* pos < ev->n */
    diff->removed = malloc((full && old->n ? old->n : 1) * sizeof *diff->removed);
    if (!out->e || !diff->old_of || !diff->removed)
        goto oom;
    size_t i = 0, j = 0;
    while (i < old->n || j < ev->n) {
        const sink_doc_entry *o = i < old->n ? &old->e[i] : NULL;
        const sink_doc_entry *r = j < ev->n ? &ev->e[j] : NULL;
        if (r && (!o || r->id <= o->id)) { /* the report's entry replaces or adds */
            if (o && o->id == r->id) {
                diff->old_of[r->pos] = o;
                i++;
            }
            out->e[out->n++] = *r;
            j++;
        } else if (full) { /* the old entry is not in the full report: removed */
            diff->removed[diff->nremoved++] = o;
            i++;
        } else { /* the old entries up to the report's next one, as they are */
            size_t k = i + 1;
            while (k < old->n && (!r || old->e[k].id < r->id))
                k++;
            memcpy(&out->e[out->n], o, (k - i) * sizeof *o);
            out->n += k - i;
            i = k;
        }
    }
    if (!(full ? sink_doc_own(out) : own_after_delta(out, old, ev, diff)))
        goto oom;
    return PR_OK;
oom:
    sink_doc_release(out);
    sink_doc_diff_release(diff);
    return PR_EFATAL;
}

void sink_doc_diff_release(sink_doc_diff *diff)
{
    free(diff->old_of);
    free(diff->removed);
    memset(diff, 0, sizeof *diff);
}

bool sink_doc_same_access(const sink_doc_entry *a, const sink_doc_entry *b)
{
    if (a->acode != ACCESS_OTHER || b->acode != ACCESS_OTHER)
        return a->acode == b->acode;
    return strcmp(a->access, b->access) == 0;
}

/* ---- the SQLite encoding ---------------------------------------------------------------- */

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    do {
        unsigned char b = (unsigned char)(v & 0x7f);
        v >>= 7;
        p[n++] = (unsigned char)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

/* A varint at *p (below end): false when truncated or longer than 64 bits. */
static bool get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* A varint, the one-byte case first (most ids gaps and short values). */
static inline unsigned char *put_small(unsigned char *p, uint64_t v)
{
    if (v < 0x80) {
        *p = (unsigned char)v;
        return p + 1;
    }
    return p + put_varint(p, v);
}

pr_status sink_doc_encode(const sink_doc *d, unsigned char **out, size_t *len)
{
    /* at most 10 bytes per varint: the id gap, the length and code, an access length */
    size_t cap = 1 + 10 + d->n * 30;
    if (d->nblocks)
        cap += d->arena_len;
    else
        for (size_t i = 0; i < d->n; i++)
            cap += d->e[i].vlen + (d->e[i].acode == ACCESS_OTHER ? strlen(d->e[i].access) : 0);
    unsigned char *b = malloc(cap), *p = b;
    *out = NULL;
    *len = 0;
    if (!b)
        return PR_EFATAL;
    *p++ = DOC_MAGIC;
    p = put_small(p, d->n);
    int64_t prev = 0;
    for (size_t i = 0; i < d->n; i++) {
        const sink_doc_entry *e = &d->e[i];
        p = put_small(p, (uint64_t)(e->id - prev));
        prev = e->id;
        p = put_small(p, (uint64_t)e->vlen * 8 + e->acode);
        if (e->vlen <= 16) /* short values: no call */
            for (uint32_t k = 0; k < e->vlen; k++)
                *p++ = (unsigned char)e->value[k];
        else {
            memcpy(p, e->value, e->vlen);
            p += e->vlen;
        }
        if (e->acode == ACCESS_OTHER) {
            size_t n = strlen(e->access);
            p = put_small(p, n);
            memcpy(p, e->access, n);
            p += n;
        }
    }
    *out = b;
    *len = (size_t)(p - b);
    return PR_OK;
}

/* One entry of a blob at *p: id (from prev), value and access spans. false: malformed. */
typedef struct raw_entry {
    int64_t id;
    const unsigned char *value, *access;
    uint64_t vlen, alen;
    unsigned code;
} raw_entry;

static bool next_entry(const unsigned char **p, const unsigned char *end, int64_t prev,
                       raw_entry *r)
{
    uint64_t gap, lc;
    if (!get_varint(p, end, &gap) || !get_varint(p, end, &lc) || gap == 0 ||
        gap > (uint64_t)INT64_MAX - (uint64_t)prev)
        return false;
    r->id = prev + (int64_t)gap;
    r->code = (unsigned)(lc & 7);
    r->vlen = lc >> 3;
    if (r->code > ACCESS_OTHER || r->vlen > (uint64_t)(end - *p) || r->vlen > UINT32_MAX)
        return false;
    r->value = *p;
    *p += r->vlen;
    r->alen = 0;
    r->access = NULL;
    if (r->code == ACCESS_OTHER) {
        if (!get_varint(p, end, &r->alen) || r->alen > (uint64_t)(end - *p))
            return false;
        r->access = *p;
        *p += r->alen;
    }
    return true;
}

/* The blob's entry count after its header; false when it is not this encoding. */
static bool blob_header(const unsigned char **p, const unsigned char *end, uint64_t *n)
{
    if (*p >= end || **p != DOC_MAGIC)
        return false;
    (*p)++;
    return get_varint(p, end, n) && *n <= (uint64_t)(end - *p) / 2;
}

bool sink_doc_is_blob(const void *blob, size_t len)
{
    return blob && len > 0 && *(const unsigned char *)blob == DOC_MAGIC;
}

pr_status sink_doc_decode(const void *blob, size_t len, sink_doc_name_fn name_of, void *ctx,
                          sink_doc *out)
{
    const unsigned char *p = blob, *end = p ? p + len : NULL;
    uint64_t n = 0;
    size_t total = 0;
    memset(out, 0, sizeof *out);
    if (!p || !blob_header(&p, end, &n))
        return PR_EINVAL;
    const unsigned char *first = p;
    int64_t prev = 0;
    raw_entry r;
    for (uint64_t i = 0; i < n; i++) { /* validate and size */
        if (!next_entry(&p, end, prev, &r))
            return PR_EINVAL;
        prev = r.id;
        total += (size_t)r.vlen + 1 + (r.access ? (size_t)r.alen + 1 : 0);
    }
    if (p != end)
        return PR_EINVAL;
    out->e = malloc((n ? n : 1) * sizeof *out->e);
    if (out->e && (out->blocks[0] = block_new(total)) != NULL)
        out->nblocks = 1;
    if (!out->e || !out->nblocks) {
        sink_doc_release(out);
        return PR_EFATAL;
    }
    char *a = out->blocks[0]->bytes;
    p = first;
    prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        next_entry(&p, end, prev, &r);
        prev = r.id;
        sink_doc_entry *e = &out->e[out->n];
        if (!(e->name = name_of(ctx, r.id))) {
            sink_doc_release(out);
            return PR_ENOTFOUND;
        }
        e->id = r.id;
        e->vlen = (uint32_t)r.vlen;
        e->pos = (uint32_t)i;
        memcpy(a, r.value, r.vlen);
        a[r.vlen] = '\0';
        e->value = a;
        a += r.vlen + 1;
        e->acode = (uint8_t)r.code;
        e->access = access_codes[r.code < ACCESS_OTHER ? r.code : 0];
        if (r.access) {
            memcpy(a, r.access, r.alen);
            a[r.alen] = '\0';
            e->access = a;
            a += r.alen + 1;
        }
        out->n++;
    }
    out->arena_len = total;
    out->bytes = total + out->n * sizeof *out->e;
    return PR_OK;
}

bool sink_doc_blob_find(const void *blob, size_t len, int64_t id, const char **value, size_t *vlen)
{
    const unsigned char *p = blob, *end = p ? p + len : NULL;
    uint64_t n = 0;
    int64_t prev = 0;
    raw_entry r;
    if (!p || !blob_header(&p, end, &n))
        return false;
    for (uint64_t i = 0; i < n && next_entry(&p, end, prev, &r) && r.id <= id; i++) {
        if (r.id == id) {
            *value = (const char *)r.value;
            *vlen = (size_t)r.vlen;
            return true;
        }
        prev = r.id;
    }
    return false;
}

/* ---- JSON forms: PostgreSQL's jsonb text, and jansson objects for the readers ------------ */

char *sink_doc_json(const sink_doc *d, bool access, size_t *len)
{
    pr_jsonw w;
    pr_jsonw_init(&w, access ? 64 + d->n * 8 : 64 + d->n * 40);
    pr_jsonw_obj_begin(&w);
    for (size_t i = 0; i < d->n; i++) {
        const sink_doc_entry *e = &d->e[i];
        if (access && !e->access)
            continue;
        pr_jsonw_keyz(&w, e->name);
        if (access)
            pr_jsonw_strz(&w, e->access);
        else
            pr_jsonw_str(&w, e->value, e->vlen);
    }
    pr_jsonw_obj_end(&w);
    return pr_jsonw_finish(&w, len);
}

pr_status sink_doc_to_json(const sink_doc *d, json_t **params, json_t **access)
{
    *params = json_object();
    *access = json_object();
    for (size_t i = 0; *params && *access && i < d->n; i++) {
        const sink_doc_entry *e = &d->e[i];
        if (json_object_set_new(*params, e->name, json_stringn(e->value, e->vlen)) != 0 ||
            (e->access && json_object_set_new(*access, e->name, json_string(e->access)) != 0))
            break;
        if (i + 1 == d->n)
            return PR_OK;
    }
    if (*params && *access && d->n == 0)
        return PR_OK;
    json_decref(*params);
    json_decref(*access);
    *params = *access = NULL;
    return PR_EFATAL;
}
