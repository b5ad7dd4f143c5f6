/*
 * status_tree.c - the oracle's status reader: status XML to a jansson tree, the way the
 * decoder read status reports before decoder/status_xml.c wrote JSON text, written here in a
 * shape of its own (the open elements are a jansson array of objects; text in a pr_buf) so
 * that it shares no code with what it checks.
 *
 * The rules (DESIGN section 3): {"<root>": value}; an element with neither attributes nor
 * children is its text (trimmed, inner CR/LF as spaces), others are objects with "@attr"
 * members, child members (a repeated name becomes an array, in document order) and "#text"
 * when there is non-blank text too. A DOCTYPE stops the parse at its start (so no entity is
 * ever declared); elements, depth, attribute values and text are bounded with the decoder's
 * messages, so that a dead letter's detail compares too.
 */
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "oracle.h"

typedef struct open_el {
    json_t *el; /* {"name": s, "value": object or absent} */
    pr_buf text;
} open_el;

typedef struct tree_ctx {
    XML_Parser p;
    const pr_xml_limits *lim;
    open_el *open;
    size_t nopen, capopen;
    size_t count, kids;
    json_t *doc;
    char root[64];
    pr_xml_error why;
    const char *msg;
} tree_ctx;

/* Stops the parse (the first reason counts); -1 so that a handler can return it. */
static int refuse(tree_ctx *t, pr_xml_error why, const char *msg)
{
    if (t->why == PR_XML_OK) {
        t->why = why;
        t->msg = msg;
    }
    XML_StopParser(t->p, XML_FALSE);
    return -1;
}

/* The object of an open element, made on first need. */
static json_t *object_of(open_el *o)
{
    json_t *v = json_object_get(o->el, "value");
    if (!v && json_object_set_new(o->el, "value", json_object()) == 0)
        v = json_object_get(o->el, "value");
    return v;
}

static int start_el(tree_ctx *t, const XML_Char *name, const XML_Char **atts)
{
    if (t->why != PR_XML_OK)
        return 0;
    t->count++;
    if (t->count > t->lim->max_elements)
        return refuse(t, PR_XML_LIMITS, "too many elements");
    if (t->nopen >= t->lim->max_depth)
        return refuse(t, PR_XML_LIMITS, "elements nested too deep");
    if (t->nopen == t->capopen) {
        size_t cap = t->capopen * 2 + 8;
        open_el *grown = realloc(t->open, cap * sizeof *grown);
        if (!grown)
            return refuse(t, PR_XML_LIMITS, "out of memory");
        t->open = grown;
        t->capopen = cap;
    }
    if (t->nopen == 0)
        snprintf(t->root, sizeof t->root, "%s", name);
    else if (!object_of(&t->open[t->nopen - 1]))
        return refuse(t, PR_XML_LIMITS, "out of memory");
    if (t->nopen == 1)
        t->kids++;
    open_el *o = &t->open[t->nopen++];
    memset(o, 0, sizeof *o);
    o->el = json_pack("{ss}", "name", name);
    if (!o->el)
        return refuse(t, PR_XML_LIMITS, "out of memory");
    for (const XML_Char **a = atts; a[0] && a[1]; a += 2) {
        if (strlen(a[1]) > t->lim->max_value_len)
            return refuse(t, PR_XML_LIMITS, "attribute value too long");
        pr_buf key = {0};
        pr_buf_printf(&key, "@%s", a[0]);
        json_t *obj = object_of(o);
        int bad = key.oom || !obj || json_object_set_new(obj, key.p, json_string(a[1])) != 0;
        pr_buf_release(&key);
        if (bad)
            return refuse(t, PR_XML_LIMITS, "out of memory");
    }
    return 0;
}

static void XMLCALL el_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)start_el(ud, name, atts);
}

static void XMLCALL el_text(void *ud, const XML_Char *s, int len)
{
    tree_ctx *t = ud;
    if (t->why != PR_XML_OK || !t->nopen || len <= 0)
        return;
    pr_buf *b = &t->open[t->nopen - 1].text;
    if (b->len + (size_t)len > t->lim->max_value_len)
        refuse(t, PR_XML_LIMITS, "text value too long");
    else
        pr_buf_add(b, s, (size_t)len);
}

/* The text as the rules want it, as a new JSON string. */
static json_t *clean_text(const pr_buf *b)
{
    const char *s = b->p ? b->p : "";
    size_t from = 0, to = b->len;
    while (from < to && strchr(" \t\r\n", s[from]))
        from++;
    while (to > from && strchr(" \t\r\n", s[to - 1]))
        to--;
    pr_buf out = {0};
    for (size_t i = from; i < to; i++)
        pr_buf_add(&out, s[i] == '\r' || s[i] == '\n' ? " " : s + i, 1);
    json_t *v = json_stringn(out.p ? out.p : "", out.len);
    pr_buf_release(&out);
    return v;
}

/* Puts value (stolen) under name in obj: a second one makes an array. */
static int put(json_t *obj, const char *name, json_t *value)
{
    json_t *old = json_object_get(obj, name);
    if (!value)
        return -1;
    if (json_is_array(old))
        return json_array_append_new(old, value);
    if (old)
        return json_object_set_new(obj, name, json_pack("[Oo]", old, value));
    return json_object_set_new(obj, name, value);
}

static void XMLCALL el_end(void *ud, const XML_Char *name)
{
    tree_ctx *t = ud;
    (void)name;
    if (t->why != PR_XML_OK || !t->nopen)
        return;
    open_el *o = &t->open[--t->nopen];
    json_t *text = clean_text(&o->text);
    json_t *value = json_incref(json_object_get(o->el, "value"));
    if (!value)
        value = json_incref(text);
    else if (json_string_length(text) > 0)
        json_object_set(value, "#text", text);
    json_decref(text);
    json_t *into = t->nopen ? json_object_get(t->open[t->nopen - 1].el, "value") : NULL;
    if (!t->nopen)
        into = t->doc = json_object();
    int rc = put(into, json_string_value(json_object_get(o->el, "name")), value);
    json_decref(o->el);
    pr_buf_release(&o->text);
    if (rc != 0)
        refuse(t, PR_XML_LIMITS, "out of memory");
}

static void XMLCALL dtd_start(void *ud, const XML_Char *n, const XML_Char *sys, const XML_Char *pub,
                              int subset)
{
    (void)n, (void)sys, (void)pub, (void)subset;
    refuse(ud, PR_XML_DOCTYPE_FORBIDDEN, "DOCTYPE is not allowed");
}

pr_status oracle_status_parse(const char *buf, size_t len, const pr_xml_limits *lim, json_t **out,
                              size_t *root_children, char *root_name, size_t root_name_len,
                              pr_xml_error *why, char *err, size_t errlen)
{
    tree_ctx t = {.lim = lim, .why = PR_XML_OK};
    pr_status st;
    *out = NULL;
    *why = PR_XML_OK;
    *root_children = 0;
    if (len > lim->max_bytes || len > INT_MAX) {
        *why = PR_XML_LIMITS;
        return pr_err(PR_EINVAL, err, errlen, "XML of %zu bytes is over the %zu-byte limit", len,
                      lim->max_bytes);
    }
    t.p = XML_ParserCreate(NULL);
    if (!t.p)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    XML_SetUserData(t.p, &t);
    XML_SetElementHandler(t.p, el_start, el_end);
    XML_SetCharacterDataHandler(t.p, el_text);
    XML_SetStartDoctypeDeclHandler(t.p, dtd_start);
    int parsed = XML_Parse(t.p, buf, (int)len, 1) == XML_STATUS_OK;
    unsigned long line = (unsigned long)XML_GetCurrentLineNumber(t.p);
    if (t.why != PR_XML_OK) {
        *why = t.why;
        st = pr_err(PR_EINVAL, err, errlen, "%s (line %lu)", t.msg, line);
    } else if (!parsed || !t.doc) {
        *why = PR_XML_MALFORMED;
        st = pr_err(PR_EINVAL, err, errlen, "XML not well-formed: %s (line %lu)",
                    XML_ErrorString(XML_GetErrorCode(t.p)), line);
    } else {
        *out = json_incref(t.doc);
        *root_children = t.kids;
        snprintf(root_name, root_name_len, "%s", t.root);
        st = PR_OK;
    }
    while (t.nopen) {
        open_el *o = &t.open[--t.nopen];
        json_decref(o->el);
        pr_buf_release(&o->text);
    }
    free(t.open);
    json_decref(t.doc);
    XML_ParserFree(t.p);
    return st;
}
