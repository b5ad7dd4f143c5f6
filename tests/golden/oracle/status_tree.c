/*
 * status_tree.c - the oracle's status reader: status XML to a jansson tree, as the decoder did
 * before decoder/status_xml.c wrote JSON text (kept unchanged but for the names).
 *
 * A status report (any XML) to the generic JSON form of DESIGN section 3.
 *
 * The status format is not documented, so nothing is assumed about names: elements become
 * objects, a name repeated under one parent becomes an array (document order), attributes
 * are kept as "@name", text as "#text" beside children or attributes, and an element with
 * neither is just its text. Text is trimmed and inner newlines become spaces, as in a
 * flat-profile. A DOCTYPE is refused before any entity could be declared; depth, element
 * count, value length and input size are bounded.
 *
 * DESIGN: a stack of frames, one per open element; a frame's JSON object is created on its
 * first attribute or child, so a leaf costs only its text buffer.
 */
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

typedef struct frame {
    char *name;
    json_t *obj; /* NULL until the element has an attribute or a child */
    char *text;
    size_t text_len, text_cap;
} frame;

typedef struct sx_state {
    XML_Parser parser;
    const pr_xml_limits *lim;
    frame *stack;
    size_t depth, cap;
    size_t elements;
    json_t *root; /* {"<root>": value} */
    size_t root_children;
    char root_name[64];
    pr_xml_error why;
    char msg[160];
} sx_state;

static void fail(sx_state *s, pr_xml_error why, const char *msg)
{
    if (s->why == PR_XML_OK) {
        s->why = why;
        snprintf(s->msg, sizeof s->msg, "%s", msg);
    }
    XML_StopParser(s->parser, XML_FALSE);
}

/* Adds value (stolen) under name to obj; a repeated name becomes an array. */
static int add_member(json_t *obj, const char *name, json_t *value)
{
    json_t *have = json_object_get(obj, name);
    if (!value)
        return -1;
    if (!have)
        return json_object_set_new(obj, name, value);
    if (json_is_array(have))
        return json_array_append_new(have, value);
    json_t *arr = json_array();
    if (!arr || json_array_append(arr, have) != 0 || json_array_append_new(arr, value) != 0) {
        json_decref(arr);
        return -1;
    }
    return json_object_set_new(obj, name, arr);
}

/* Trim, inner newlines to spaces; returns a new JSON string. */
static json_t *text_value(const char *t, size_t n)
{
    size_t a = 0, b = n;
    while (a < b && (t[a] == ' ' || t[a] == '\t' || t[a] == '\n' || t[a] == '\r'))
        a++;
    while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\n' || t[b - 1] == '\r'))
        b--;
    char *c = malloc(b - a + 1);
    if (!c)
        return NULL;
    for (size_t i = a; i < b; i++)
        c[i - a] = (t[i] == '\n' || t[i] == '\r') ? ' ' : t[i];
    c[b - a] = '\0';
    json_t *j = json_stringn(c, b - a);
    free(c);
    return j;
}

static int ensure_obj(frame *f)
{
    if (!f->obj)
        f->obj = json_object();
    return f->obj ? 0 : -1;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    sx_state *s = ud;
    if (s->why != PR_XML_OK)
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
        size_t ncap = s->cap ? s->cap * 2 : 16;
        frame *ns = realloc(s->stack, ncap * sizeof *ns);
        if (!ns) {
            fail(s, PR_XML_LIMITS, "out of memory");
            return;
        }
        s->stack = ns;
        s->cap = ncap;
    }
    if (s->depth == 0)
        snprintf(s->root_name, sizeof s->root_name, "%s", name);
    else {
        frame *parent = &s->stack[s->depth - 1];
        if (s->depth == 1)
            s->root_children++;
        if (ensure_obj(parent) != 0) {
            fail(s, PR_XML_LIMITS, "out of memory");
            return;
        }
    }
    frame *f = &s->stack[s->depth++];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    if (!f->name) {
        fail(s, PR_XML_LIMITS, "out of memory");
        return;
    }
    for (size_t i = 0; atts[i] && atts[i + 1]; i += 2) {
        size_t vlen = strlen(atts[i + 1]);
        if (vlen > s->lim->max_value_len) {
            fail(s, PR_XML_LIMITS, "attribute value too long");
            return;
        }
        size_t nlen = strlen(atts[i]);
        char *key = malloc(nlen + 2);
        if (!key || ensure_obj(f) != 0) {
            free(key);
            fail(s, PR_XML_LIMITS, "out of memory");
            return;
        }
        key[0] = '@';
        memcpy(key + 1, atts[i], nlen + 1);
        int rc = json_object_set_new(f->obj, key, json_stringn(atts[i + 1], vlen));
        free(key);
        if (rc != 0) {
            fail(s, PR_XML_LIMITS, "out of memory");
            return;
        }
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    sx_state *s = ud;
    if (s->why != PR_XML_OK || s->depth == 0 || len <= 0)
        return;
    frame *f = &s->stack[s->depth - 1];
    if (f->text_len + (size_t)len > s->lim->max_value_len) {
        fail(s, PR_XML_LIMITS, "text value too long");
        return;
    }
    if (f->text_len + (size_t)len > f->text_cap) {
        size_t ncap = (f->text_len + (size_t)len) * 2;
        char *nt = realloc(f->text, ncap);
        if (!nt) {
            fail(s, PR_XML_LIMITS, "out of memory");
            return;
        }
        f->text = nt;
        f->text_cap = ncap;
    }
    memcpy(f->text + f->text_len, t, (size_t)len);
    f->text_len += (size_t)len;
}

static void frame_release(frame *f)
{
    free(f->name);
    json_decref(f->obj);
    free(f->text);
    memset(f, 0, sizeof *f);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    sx_state *s = ud;
    (void)name;
    if (s->why != PR_XML_OK || s->depth == 0)
        return;
    frame *f = &s->stack[s->depth - 1];
    json_t *value = text_value(f->text ? f->text : "", f->text_len);
    if (value && f->obj) {
        if (json_string_length(value) > 0)
            json_object_set_new(f->obj, "#text", value);
        else
            json_decref(value);
        value = f->obj;
        f->obj = NULL;
    }
    int rc;
    if (s->depth == 1) {
        s->root = json_object();
        rc = s->root ? add_member(s->root, f->name, value) : (json_decref(value), -1);
    } else {
        rc = add_member(s->stack[s->depth - 2].obj, f->name, value);
    }
    frame_release(f);
    s->depth--;
    if (rc != 0)
        fail(s, PR_XML_LIMITS, "out of memory");
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

pr_status oracle_status_parse(const char *buf, size_t len, const pr_xml_limits *lim, json_t **out,
                              size_t *root_children, char *root_name, size_t root_name_len,
                              pr_xml_error *why, char *err, size_t errlen)
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
    s.parser = XML_ParserCreate(NULL);
    if (!s.parser)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    XML_SetUserData(s.parser, &s);
    XML_SetElementHandler(s.parser, on_start, on_end);
    XML_SetCharacterDataHandler(s.parser, on_text);
    XML_SetStartDoctypeDeclHandler(s.parser, on_doctype);
    XML_SetEntityDeclHandler(s.parser, on_entity_decl);
    enum XML_Status xs = XML_Parse(s.parser, buf, (int)len, 1);
    if (s.why != PR_XML_OK) {
        *why = s.why;
        st = pr_err(PR_EINVAL, err, errlen, "%s (line %lu)", s.msg,
                    (unsigned long)XML_GetCurrentLineNumber(s.parser));
    } else if (xs != XML_STATUS_OK || !s.root) {
        *why = PR_XML_MALFORMED;
        st = pr_err(PR_EINVAL, err, errlen, "XML not well-formed: %s (line %lu)",
                    XML_ErrorString(XML_GetErrorCode(s.parser)),
                    (unsigned long)XML_GetCurrentLineNumber(s.parser));
    } else {
        *out = s.root;
        s.root = NULL;
        if (root_children)
            *root_children = s.root_children;
        if (root_name && root_name_len)
            snprintf(root_name, root_name_len, "%s", s.root_name);
        st = PR_OK;
    }
    while (s.depth > 0)
        frame_release(&s.stack[--s.depth]);
    free(s.stack);
    json_decref(s.root);
    XML_ParserFree(s.parser);
    return st;
}
