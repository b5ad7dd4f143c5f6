/*
 * flatprofile.c - reads a Cisco `<flat-profile>` (configuration reports, intended profiles)
 * with expat, a streaming parser: one pass, no tree.
 *
 * DESIGN notes:
 * - Safety first: a DOCTYPE (and any entity declaration) stops the parser at once, so no
 *   entity is ever declared, let alone expanded; expat's billion-laughs protection is switched
 *   on as well where the library has it. Limits on input size, depth, element count and value
 *   length are checked as expat reports each piece, before anything grows.
 * - Speed: the decoder parses every report with this, so per-element work is O(1): names are
 *   found in an open-addressing hash table (duplicates are detected without a scan), text is
 *   gathered in one reused buffer that grows geometrically, and each value is copied once.
 * - The flat-profile element may sit at any depth (wrappers such as <status> or <env>); its
 *   direct children are the parameters. Text of elements nested inside a parameter (profiles
 *   are flat, so this does not happen in practice) is ignored; such elements still count
 *   against the limits. Several flat-profile elements in one document are read as one.
 * - Ownership: every name and value lives in a chain of large blocks (fp->store) owned by the
 *   pr_flat_profile: a parameter costs no malloc of its own, and pr_flatprofile_release()
 *   frees the blocks. A value replaced by a later duplicate stays in its block until then.
 */
#include "flatprofile.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#if defined(__has_include)
#if __has_include(<expat_config.h>)
#include <expat_config.h> /* tells whether the library was built with XML_DTD */
#endif
#endif
#include <expat.h>

const pr_xml_limits pr_xml_limits_default = {
    .max_bytes = 16u << 20,
    .max_depth = 64,
    .max_elements = 100000,
    .max_value_len = 64u << 10,
};

static const char FLAT_PROFILE[] = "flat-profile";

/* A block of string storage; blocks are chained newest first from fp->store. */
typedef struct fp_block {
    struct fp_block *next;
    size_t used, cap;
    char data[];
} fp_block;

/* n bytes from the profile's storage; NULL when memory runs out. */
static char *store_alloc(pr_flat_profile *fp, size_t n, size_t hint)
{
    fp_block *b = fp->store;
    if (!b || b->cap - b->used < n) {
        size_t cap = b ? b->cap * 2 : hint;
        if (cap < n)
            cap = n;
        fp_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        fp->store = b = nb;
    }
    char *p = b->data + b->used;
    b->used += n;
    return p;
}

typedef struct fp_state {
    XML_Parser parser;
    const pr_xml_limits *lim;
    pr_flat_profile *fp;
    size_t params_cap;

    uint64_t *slots;  /* hash table of parameter names, see SLOT() */
    size_t slots_cap; /* a power of two, kept at most half full */
    uint64_t seed;    /* of hash_name() */

    size_t depth;    /* elements open now */
    size_t fp_depth; /* depth of the open flat-profile element, 0 when outside */
    size_t elements; /* elements seen */
    int found;       /* a flat-profile element was seen */
    size_t cur;      /* index of the parameter being read, or SIZE_MAX */
    char root[64];   /* the root element's name, for the "not a profile" message */

    size_t store_hint; /* size of the first storage block */
    char *text;        /* the current parameter's raw text */
    size_t text_len, text_cap;

    pr_status st; /* set by a handler that stops the parser */
    pr_xml_error why;
    char *err;
    size_t errlen;
} fp_state;

static unsigned long line_of(fp_state *s)
{
    return (unsigned long)XML_GetCurrentLineNumber(s->parser);
}

/* Records the first failure and stops the parser (handlers cannot return errors). */
static void stop(fp_state *s, pr_status st, pr_xml_error why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stop(fp_state *s, pr_status st, pr_xml_error why, const char *fmt, ...)
{
    if (s->st != PR_OK)
        return;
    s->st = st;
    s->why = why;
    if (s->err && s->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err, s->errlen, fmt, ap);
        va_end(ap);
    }
    XML_StopParser(s->parser, XML_FALSE);
}

static void oom(fp_state *s)
{
    stop(s, PR_EFATAL, PR_XML_OK, "out of memory");
}

/*
 * The hash of a name, eight bytes at a time (names are 10 to 40 bytes). Seeded per parse from
 * getrandom(), so that a sender cannot choose names that all land in one chain and turn the
 * table into a list (hash flooding).
 */
static uint64_t hash_name(uint64_t seed, const char *name, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15u);
    const char *p = name;
    size_t n = len;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 29;
    return h;
}

/* A slot holds the top 32 bits of the name's hash and index + 1 (0: empty), so that a probe
 * compares strings only when the hashes agree. */
#define SLOT(hash, idx) (((hash)&0xffffffff00000000u) | (uint64_t)((idx) + 1))
#define SLOT_HASH(slot) ((slot)&0xffffffff00000000u)
#define SLOT_IDX(slot)  ((size_t)((slot)&0xffffffffu) - 1)

static int slots_resize(fp_state *s, size_t cap)
{
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->fp->len; i++) {
        const char *name = s->fp->params[i].name;
        uint64_t h = hash_name(s->seed, name, strlen(name));
        size_t j = (size_t)h & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = SLOT(h, i);
    }
    free(s->slots);
    s->slots = slots;
    s->slots_cap = cap;
    return 0;
}

/* The index of parameter `name`, added (value NULL) if new. SIZE_MAX on allocation failure. */
static size_t param_index(fp_state *s, const char *name)
{
    pr_flat_profile *fp = s->fp;
    if (fp->len >= UINT32_MAX - 1)
        return SIZE_MAX;
    if ((fp->len + 1) * 2 > s->slots_cap && slots_resize(s, s->slots_cap * 2) != 0)
        return SIZE_MAX;
    size_t len = strlen(name);
    uint64_t h = hash_name(s->seed, name, len);
    size_t mask = s->slots_cap - 1;
    size_t j = (size_t)h & mask;
    for (; s->slots[j]; j = (j + 1) & mask) {
        uint64_t slot = s->slots[j];
        if (SLOT_HASH(slot) == SLOT_HASH(h) && strcmp(fp->params[SLOT_IDX(slot)].name, name) == 0) {
            fp->duplicates++;
            return SLOT_IDX(slot);
        }
    }
    if (fp->len == s->params_cap) {
        size_t cap = s->params_cap * 2;
        pr_fp_param *p = realloc(fp->params, cap * sizeof *p);
        if (!p)
            return SIZE_MAX;
        fp->params = p;
        s->params_cap = cap;
    }
    char *copy = store_alloc(fp, len + 1, s->store_hint);
    if (!copy)
        return SIZE_MAX;
    memcpy(copy, name, len + 1);
    pr_fp_param *p = &fp->params[fp->len];
    p->name = copy;
    p->value = NULL;
    p->ua[0] = '\0';
    s->slots[j] = SLOT(h, fp->len);
    return fp->len++;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    fp_state *s = ud;
    if (s->st != PR_OK)
        return; /* expat may deliver a few more events after a stop */
    s->depth++;
    s->elements++;
    if (s->depth == 1)
        snprintf(s->root, sizeof s->root, "%s", name);
    if (s->depth > s->lim->max_depth) {
        stop(s, PR_EINVAL, PR_XML_LIMITS, "elements nested deeper than %zu at line %lu",
             s->lim->max_depth, line_of(s));
        return;
    }
    if (s->elements > s->lim->max_elements) {
        stop(s, PR_EINVAL, PR_XML_LIMITS, "more than %zu elements at line %lu",
             s->lim->max_elements, line_of(s));
        return;
    }
    const char *ua = NULL;
    for (size_t i = 0; atts[i]; i += 2) {
        if (strlen(atts[i + 1]) > s->lim->max_value_len) {
            stop(s, PR_EINVAL, PR_XML_LIMITS,
                 "an attribute value longer than %zu bytes at line %lu", s->lim->max_value_len,
                 line_of(s));
            return;
        }
        if (strcmp(atts[i], "ua") == 0)
            ua = atts[i + 1];
    }

    if (!s->fp_depth) {
        if (strcmp(name, FLAT_PROFILE) == 0) {
            s->fp_depth = s->depth;
            s->found = 1;
        }
        return;
    }
    if (s->depth != s->fp_depth + 1)
        return; /* inside a parameter: not flat, ignored */

    size_t i = param_index(s, name);
    if (i == SIZE_MAX) {
        oom(s);
        return;
    }
    pr_fp_param *p = &s->fp->params[i];
    p->ua[0] = '\0';
    if (ua) {
        /* "na", "ro", "rw"; anything else kept truncated to two bytes. */
        p->ua[0] = ua[0];
        p->ua[1] = ua[0] ? ua[1] : '\0';
        p->ua[2] = '\0';
    }
    s->cur = i;
    s->text_len = 0;
}

static void on_text(void *ud, const XML_Char *text, int len)
{
    fp_state *s = ud;
    if (s->st != PR_OK || s->cur == SIZE_MAX || s->depth != s->fp_depth + 1 || len <= 0)
        return;
    size_t n = (size_t)len;
    if (s->text_len + n > s->lim->max_value_len) {
        stop(s, PR_EINVAL, PR_XML_LIMITS, "a value longer than %zu bytes at line %lu",
             s->lim->max_value_len, line_of(s));
        return;
    }
    if (s->text_len + n > s->text_cap) {
        size_t cap = s->text_cap ? s->text_cap : 256;
        while (cap < s->text_len + n)
            cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) {
            oom(s);
            return;
        }
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, text, n);
    s->text_len += n;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The parameter's value: trimmed, inner CR and LF turned into spaces. */
static void finish_param(fp_state *s)
{
    const char *t = s->text;
    size_t a = 0, b = s->text_len;
    while (a < b && is_ws(t[a]))
        a++;
    while (b > a && is_ws(t[b - 1]))
        b--;
    char *v = store_alloc(s->fp, b - a + 1, s->store_hint);
    if (!v) {
        oom(s);
        return;
    }
    for (size_t i = a; i < b; i++)
        v[i - a] = t[i] == '\r' || t[i] == '\n' ? ' ' : t[i];
    v[b - a] = '\0';
    s->fp->params[s->cur].value = v; /* a repeated name: the last one wins */
    s->cur = SIZE_MAX;
}

static void on_end(void *ud, const XML_Char *name)
{
    fp_state *s = ud;
    (void)name;
    if (s->st != PR_OK)
        return;
    if (s->fp_depth && s->depth == s->fp_depth + 1 && s->cur != SIZE_MAX)
        finish_param(s);
    else if (s->depth == s->fp_depth)
        s->fp_depth = 0;
    s->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    fp_state *s = ud;
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(s, PR_EINVAL, PR_XML_DOCTYPE_FORBIDDEN,
         "DOCTYPE declaration at line %lu refused (no DTD or entity is ever processed)",
         line_of(s));
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                      int value_len, const XML_Char *base, const XML_Char *sysid,
                      const XML_Char *pubid, const XML_Char *notation)
{
    fp_state *s = ud;
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    stop(s, PR_EINVAL, PR_XML_DOCTYPE_FORBIDDEN, "entity declaration at line %lu refused",
         line_of(s));
}

void pr_flatprofile_release(pr_flat_profile *fp)
{
    if (!fp)
        return;
    for (fp_block *b = fp->store, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(fp->params);
    memset(fp, 0, sizeof *fp);
}

const pr_fp_param *pr_flatprofile_find(const pr_flat_profile *fp, const char *name)
{
    if (!fp || !name)
        return NULL;
    for (size_t i = 0; i < fp->len; i++)
        if (strcmp(fp->params[i].name, name) == 0)
            return &fp->params[i];
    return NULL;
}

static XML_Parser parser_new(fp_state *s)
{
    XML_Parser p = XML_ParserCreate(NULL);
    if (!p)
        return NULL;
    XML_SetUserData(p, s);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#if defined(XML_DTD) &&                                                                            \
    (XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4))
    /* Unreachable while DOCTYPE is refused; kept as a second wall. */
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(p, 50.0f);
    XML_SetBillionLaughsAttackProtectionActivationThreshold(p, 1u << 20);
#endif
    return p;
}

pr_status pr_flatprofile_parse(const char *buf, size_t len, const pr_xml_limits *lim,
                               pr_flat_profile *out, pr_xml_error *why, char *err, size_t errlen)
{
    fp_state s = {
        .lim = lim ? lim : &pr_xml_limits_default,
        .fp = out,
        .cur = SIZE_MAX,
        .st = PR_OK,
        .why = PR_XML_OK,
        .err = err,
        .errlen = errlen,
        /* Names and values together are about as long as the document's text. */
        .store_hint = len / 2 + 1024,
    };
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';

    if (!buf || len == 0) {
        s.why = PR_XML_MALFORMED;
        s.st = pr_err(PR_EINVAL, err, errlen, "empty document");
        goto out;
    }
    if (len > s.lim->max_bytes) {
        s.why = PR_XML_LIMITS;
        s.st = pr_err(PR_EINVAL, err, errlen, "document of %zu bytes, larger than %zu", len,
                      s.lim->max_bytes);
        goto out;
    }
    /* Sized for this document (a parameter takes some 40 to 60 bytes of XML), so that the
     * arrays seldom grow while parsing; a huge document still starts modestly. */
    s.params_cap = len / 48 + 16;
    if (s.params_cap > 8192)
        s.params_cap = 8192;
    for (s.slots_cap = 64; s.slots_cap < 2 * s.params_cap;)
        s.slots_cap *= 2;
    out->params = malloc(s.params_cap * sizeof *out->params);
    s.slots = calloc(s.slots_cap, sizeof *s.slots);
    if (getrandom(&s.seed, sizeof s.seed, GRND_NONBLOCK) != (ssize_t)sizeof s.seed)
        s.seed = (uint64_t)(uintptr_t)&s * 0x9e3779b97f4a7c15u; /* ASLR, at least */
    s.parser = parser_new(&s);
    if (!out->params || !s.slots || !s.parser) {
        s.st = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }

    /* XML_Parse takes an int length: feed large inputs in pieces. */
    size_t off = 0;
    do {
        size_t n = len - off > (size_t)INT_MAX / 2 ? (size_t)INT_MAX / 2 : len - off;
        int final = off + n == len;
        enum XML_Status xs = XML_Parse(s.parser, buf + off, (int)n, final);
        if (s.st != PR_OK)
            goto out; /* a handler stopped the parser and said why */
        if (xs != XML_STATUS_OK) {
            s.why = PR_XML_MALFORMED;
            s.st = pr_err(PR_EINVAL, err, errlen, "XML not well-formed at line %lu: %s",
                          (unsigned long)XML_GetCurrentLineNumber(s.parser),
                          XML_ErrorString(XML_GetErrorCode(s.parser)));
            goto out;
        }
        off += n;
    } while (off < len);

    if (!s.found) {
        s.why = PR_XML_NOT_PROFILE;
        s.st = pr_err(PR_EINVAL, err, errlen, "no <%s> element (the root is <%s>)", FLAT_PROFILE,
                      s.root);
    }
out:
    if (s.parser)
        XML_ParserFree(s.parser);
    free(s.slots);
    free(s.text);
    if (s.st != PR_OK)
        pr_flatprofile_release(out);
    if (why)
        *why = s.why;
    return s.st;
}
