/*
 * status_xml.c - a status report (any XML) to the generic JSON form of DESIGN section 3,
 * written as JSON text (proto/jsonw.h) without a jansson tree.
 *
 * The status format is not documented, so nothing is assumed about names: elements become
 * objects, a name repeated under one parent becomes an array (document order), attributes
 * are kept as "@name", text as "#text" beside children or attributes, and an element with
 * neither is just its text. Text is trimmed and inner newlines become spaces, as in a
 * flat-profile. A DOCTYPE is refused before any entity could be declared; depth, element
 * count, value length and input size are bounded.
 *
 * DESIGN: a repeated name may come back after other siblings (<a/><b/><a/> is
 * {"a":[..,..],"b":..}), so the document is first read into a compact tree: nodes in one
 * array, names, attribute values and texts in one byte arena (offsets, so both may grow),
 * and siblings of the same name chained through a hash table keyed by (parent, name), seeded
 * per parse so that no sender can make its probes long. Writing then walks the tree once;
 * every step is O(1) per element. The text of an open element is gathered in a buffer of its
 * depth, reused by the next element at that depth.
 */
#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "decoder_int.h"

#define NONE SIZE_MAX

typedef struct sx_node {
    size_t name, name_len; /* in the arena */
    size_t text, text_len; /* trimmed text, in the arena */
    size_t attrs, nattrs;  /* first attribute in sx_doc.attrs */
    size_t first_child, last_child, next_sibling;
    size_t parent;
    size_t next_same; /* the next sibling with the same name */
    bool repeat;      /* an earlier sibling has this name (it is written there) */
} sx_node;

typedef struct sx_attr {
    size_t name, name_len; /* "@name" in the arena */
    size_t value, value_len;
} sx_attr;

struct decoder_status_doc {
    char *arena;
    size_t arena_len, arena_cap;
    sx_node *nodes;
    size_t nnodes, nodes_cap;
    sx_attr *attrs;
    size_t nattrs, attrs_cap;
};

typedef struct sx_frame {
    size_t node;
    char *text; /* raw text of the element open at this depth */
    size_t text_len, text_cap;
} sx_frame;

typedef struct sx_state {
    XML_Parser parser;
    const pr_xml_limits *lim;
    decoder_status_doc *doc;
    sx_frame *stack;
    size_t depth, cap;
    size_t elements;
    size_t *group; /* (parent, name) -> the last child of that name, + 1; 0 empty */
    size_t group_cap;
    uint64_t seed;
    size_t root_children;
    pr_xml_error why;
    bool nomem;
    char msg[160];
} sx_state;

static void fail(sx_state *s, pr_xml_error why, const char *msg)
{
    if (s->why == PR_XML_OK && !s->nomem) {
        s->why = why;
        snprintf(s->msg, sizeof s->msg, "%s", msg);
    }
    XML_StopParser(s->parser, XML_FALSE);
}

static void oom(sx_state *s)
{
    if (s->why == PR_XML_OK)
        s->nomem = true;
    XML_StopParser(s->parser, XML_FALSE);
}

/* Grows *p (of *cap elements of size sz) to hold need elements. */
static int grow(void **p, size_t *cap, size_t need, size_t sz, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : first;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sz)
            return -1;
        ncap *= 2;
    }
    void *np = realloc(*p, ncap * sz);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

/* Copies n bytes (after an optional prefix byte) into the arena; NONE on failure. */
static size_t arena_add(decoder_status_doc *d, char prefix, const char *s, size_t n)
{
    size_t extra = prefix ? 1 : 0;
    if (grow((void **)&d->arena, &d->arena_cap, d->arena_len + n + extra, 1, 4096) != 0)
        return NONE;
    size_t off = d->arena_len;
    if (prefix)
        d->arena[off] = prefix;
    memcpy(d->arena + off + extra, s, n);
    d->arena_len += n + extra;
    return off;
}

static uint64_t group_hash(uint64_t seed, size_t parent, const char *name, size_t len)
{
    uint64_t h = seed ^ ((uint64_t)parent * 0x9e3779b97f4a7c15u);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3u;
    return h ^ h >> 29;
}

/* The slot of (parent, name): the one holding its last node so far, or an empty one. */
static size_t group_slot(const sx_state *s, size_t parent, const char *name, size_t len)
{
    const decoder_status_doc *d = s->doc;
    size_t mask = s->group_cap - 1;
    size_t j = (size_t)group_hash(s->seed, parent, name, len) & mask;
    for (; s->group[j]; j = (j + 1) & mask) {
        const sx_node *n = &d->nodes[s->group[j] - 1];
        if (n->parent == parent && n->name_len == len && memcmp(d->arena + n->name, name, len) == 0)
            break;
    }
    return j;
}

/* Keeps the table at most half full (every node is in it once at most). */
static int group_reserve(sx_state *s)
{
    if ((s->doc->nnodes + 1) * 2 <= s->group_cap)
        return 0;
    size_t ncap = s->group_cap ? s->group_cap * 2 : 64;
    size_t *old = s->group, ocap = s->group_cap;
    s->group = calloc(ncap, sizeof *s->group);
    if (!s->group) {
        s->group = old;
        return -1;
    }
    s->group_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i])
            continue;
        const sx_node *n = &s->doc->nodes[old[i] - 1];
        s->group[group_slot(s, n->parent, s->doc->arena + n->name, n->name_len)] = old[i];
    }
    free(old);
    return 0;
}

/* A new node under parent (NONE for the root), linked into its siblings and its group. */
static size_t node_add(sx_state *s, size_t parent, const char *name)
{
    decoder_status_doc *d = s->doc;
    size_t len = strlen(name);
    if (grow((void **)&d->nodes, &d->nodes_cap, d->nnodes + 1, sizeof *d->nodes, 64) != 0 ||
        group_reserve(s) != 0)
        return NONE;
    size_t off = arena_add(d, 0, name, len);
    if (off == NONE)
        return NONE;
    size_t idx = d->nnodes++;
    sx_node *n = &d->nodes[idx];
    memset(n, 0, sizeof *n);
    n->name = off;
    n->name_len = len;
    n->parent = parent;
    n->first_child = n->last_child = n->next_sibling = n->next_same = NONE;
    if (parent == NONE)
        return idx;
    sx_node *p = &d->nodes[parent];
    if (p->last_child == NONE)
        p->first_child = idx;
    else
        d->nodes[p->last_child].next_sibling = idx;
    p->last_child = idx;
    size_t j = group_slot(s, parent, name, len);
    if (s->group[j]) {
        d->nodes[s->group[j] - 1].next_same = idx;
        n->repeat = true;
    }
    s->group[j] = idx + 1;
    return idx;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    sx_state *s = ud;
    decoder_status_doc *d = s->doc;
    if (s->why != PR_XML_OK || s->nomem)
        return;
    if (++s->elements > s->lim->max_elements) {
        fail(s, PR_XML_LIMITS, "too many elements");
        return;
    }
    if (s->depth + 1 > s->lim->max_depth) {
        fail(s, PR_XML_LIMITS, "elements nested too deep");
        return;
    }
    if (s->depth == s->cap) {
        size_t ocap = s->cap;
        if (grow((void **)&s->stack, &s->cap, s->depth + 1, sizeof *s->stack, 16) != 0) {
            oom(s);
            return;
        }
        memset(s->stack + ocap, 0, (s->cap - ocap) * sizeof *s->stack);
    }
    if (s->depth == 1)
        s->root_children++;
    size_t parent = s->depth ? s->stack[s->depth - 1].node : NONE;
    size_t idx = node_add(s, parent, name);
    if (idx == NONE) {
        oom(s);
        return;
    }
    sx_frame *f = &s->stack[s->depth++];
    f->node = idx;
    f->text_len = 0;
    size_t first = d->nattrs;
    for (size_t i = 0; atts[i] && atts[i + 1]; i += 2) {
        size_t vlen = strlen(atts[i + 1]);
        if (vlen > s->lim->max_value_len) {
            fail(s, PR_XML_LIMITS, "attribute value too long");
            return;
        }
        size_t nlen = strlen(atts[i]);
        size_t noff = arena_add(d, '@', atts[i], nlen);
        size_t voff = noff == NONE ? NONE : arena_add(d, 0, atts[i + 1], vlen);
        if (voff == NONE ||
            grow((void **)&d->attrs, &d->attrs_cap, d->nattrs + 1, sizeof *d->attrs, 16) != 0) {
            oom(s);
            return;
        }
        d->attrs[d->nattrs++] = (sx_attr){noff, nlen + 1, voff, vlen};
    }
    d->nodes[idx].attrs = first;
    d->nodes[idx].nattrs = d->nattrs - first;
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    sx_state *s = ud;
    if (s->why != PR_XML_OK || s->nomem || s->depth == 0 || len <= 0)
        return;
    sx_frame *f = &s->stack[s->depth - 1];
    if (f->text_len + (size_t)len > s->lim->max_value_len) {
        fail(s, PR_XML_LIMITS, "text value too long");
        return;
    }
    if (grow((void **)&f->text, &f->text_cap, f->text_len + (size_t)len, 1, 64) != 0) {
        oom(s);
        return;
    }
    memcpy(f->text + f->text_len, t, (size_t)len);
    f->text_len += (size_t)len;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The element's text, trimmed and with inner newlines as spaces, into the arena. */
static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    sx_state *s = ud;
    (void)name;
    if (s->why != PR_XML_OK || s->nomem || s->depth == 0)
        return;
    sx_frame *f = &s->stack[--s->depth];
    size_t a = 0, b = f->text_len;
    while (a < b && is_ws(f->text[a]))
        a++;
    while (b > a && is_ws(f->text[b - 1]))
        b--;
    size_t off = arena_add(s->doc, 0, f->text ? f->text + a : "", b - a);
    if (off == NONE) {
        oom(s);
        return;
    }
    char *v = s->doc->arena + off;
    for (size_t i = 0; i < b - a; i++)
        if (v[i] == '\n' || v[i] == '\r')
            v[i] = ' ';
    s->doc->nodes[f->node].text = off;
    s->doc->nodes[f->node].text_len = b - a;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, PR_XML_DOCTYPE_FORBIDDEN, "DOCTYPE is not allowed");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *entity, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)entity, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid,
        (void)pubid, (void)notation;
    fail(ud, PR_XML_DOCTYPE_FORBIDDEN, "entity declarations are not allowed");
}

void decoder_status_free(decoder_status_doc *d)
{
    if (!d)
        return;
    free(d->arena);
    free(d->nodes);
    free(d->attrs);
    free(d);
}

pr_status decoder_status_parse(const char *buf, size_t len, const pr_xml_limits *lim,
                               decoder_status_doc **out, size_t *root_children, char *root_name,
                               size_t root_name_len, pr_xml_error *why, char *err, size_t errlen)
{
    sx_state s;
    pr_status st = PR_EINVAL;
    memset(&s, 0, sizeof s);
    s.lim = lim;
    *out = NULL;
    *why = PR_XML_OK;
    if (root_children)
        *root_children = 0;
    if (len > lim->max_bytes || len > INT_MAX) {
        *why = PR_XML_LIMITS;
        return pr_err(PR_EINVAL, err, errlen, "XML of %zu bytes is over the %zu-byte limit", len,
                      lim->max_bytes);
    }
    s.doc = calloc(1, sizeof *s.doc);
    s.parser = s.doc ? XML_ParserCreate(NULL) : NULL;
    if (!s.parser) {
        st = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    if (getrandom(&s.seed, sizeof s.seed, GRND_NONBLOCK) != (ssize_t)sizeof s.seed)
        s.seed = (uint64_t)(uintptr_t)&s * 0x9e3779b97f4a7c15u; /* ASLR, at least */
    XML_SetUserData(s.parser, &s);
    XML_SetElementHandler(s.parser, on_start, on_end);
    XML_SetCharacterDataHandler(s.parser, on_text);
    XML_SetStartDoctypeDeclHandler(s.parser, on_doctype);
    XML_SetEntityDeclHandler(s.parser, on_entity_decl);
    enum XML_Status xs = XML_Parse(s.parser, buf, (int)len, 1);
    if (s.nomem) {
        st = pr_err(PR_EFATAL, err, errlen, "out of memory");
    } else if (s.why != PR_XML_OK) {
        *why = s.why;
        st = pr_err(PR_EINVAL, err, errlen, "%s (line %lu)", s.msg,
                    (unsigned long)XML_GetCurrentLineNumber(s.parser));
    } else if (xs != XML_STATUS_OK || s.doc->nnodes == 0 || s.depth != 0) {
        *why = PR_XML_MALFORMED;
        st = pr_err(PR_EINVAL, err, errlen, "XML not well-formed: %s (line %lu)",
                    XML_ErrorString(XML_GetErrorCode(s.parser)),
                    (unsigned long)XML_GetCurrentLineNumber(s.parser));
    } else {
        *out = s.doc;
        s.doc = NULL;
        if (root_children)
            *root_children = s.root_children;
        if (root_name && root_name_len) {
            const sx_node *r = &(*out)->nodes[0];
            snprintf(root_name, root_name_len, "%.*s", (int)r->name_len, (*out)->arena + r->name);
        }
        st = PR_OK;
    }
out:
    for (size_t i = 0; i < s.cap; i++)
        free(s.stack[i].text);
    free(s.stack);
    free(s.group);
    decoder_status_free(s.doc);
    if (s.parser)
        XML_ParserFree(s.parser);
    return st;
}

static void write_node(const decoder_status_doc *d, size_t idx, pr_jsonw *w)
{
    const sx_node *n = &d->nodes[idx];
    const char *a = d->arena;
    if (n->nattrs == 0 && n->first_child == NONE) {
        pr_jsonw_str(w, a + n->text, n->text_len);
        return;
    }
    pr_jsonw_obj_begin(w);
    for (size_t i = n->attrs; i < n->attrs + n->nattrs; i++) {
        pr_jsonw_key(w, a + d->attrs[i].name, d->attrs[i].name_len);
        pr_jsonw_str(w, a + d->attrs[i].value, d->attrs[i].value_len);
    }
    for (size_t c = n->first_child; c != NONE; c = d->nodes[c].next_sibling) {
        const sx_node *cn = &d->nodes[c];
        if (cn->repeat)
            continue; /* written in its group's array */
        pr_jsonw_key(w, a + cn->name, cn->name_len);
        if (cn->next_same == NONE) {
            write_node(d, c, w);
            continue;
        }
        pr_jsonw_arr_begin(w);
        for (size_t k = c; k != NONE; k = d->nodes[k].next_same)
            write_node(d, k, w);
        pr_jsonw_arr_end(w);
    }
    if (n->text_len > 0) {
        pr_jsonw_keyz(w, "#text");
        pr_jsonw_str(w, a + n->text, n->text_len);
    }
    pr_jsonw_obj_end(w);
}

void decoder_status_write(const decoder_status_doc *doc, pr_jsonw *w)
{
    const sx_node *r = &doc->nodes[0];
    pr_jsonw_obj_begin(w);
    pr_jsonw_key(w, doc->arena + r->name, r->name_len);
    write_node(doc, 0, w);
    pr_jsonw_obj_end(w);
}
