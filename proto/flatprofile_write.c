/*
 * flatprofile_write.c - writes a Cisco `<flat-profile>` document, the inverse of
 * flatprofile.c: the sink's `?format=xml` export, which an operator may feed back to a phone.
 *
 * DESIGN notes:
 * - Every document it returns is well-formed XML 1.0 for any input. Names and values come
 *   from JSON events whose contract does not constrain them, so anything XML cannot carry is
 *   left out and counted, never written raw: a name that is not an ASCII XML name (a colon
 *   would be an unbound namespace prefix, and the Unicode name classes differ between XML
 *   editions and parsers), and a value or `ua` that holds a character outside XML 1.0's Char
 *   production (C0 controls other than tab, LF and CR, U+FFFE, U+FFFF) or invalid UTF-8:
 *   not even a character reference can express those. The counts end the document as
 *   comments, so that a reader sees that parameters are missing and why.
 * - Tab, LF and CR are written as character references: a parser would otherwise normalise
 *   them (CR to LF in text, all three to spaces in attributes).
 * - Ownership: the writer owns its growing buffer until _finish hands it to the caller.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "flatprofile.h"

struct pr_flatprofile_writer {
    pr_buf b;
    size_t bad_name, bad_value;
};

static void add(pr_flatprofile_writer *w, const char *s, size_t n)
{
    pr_buf_add(&w->b, s, n);
}

static void add_str(pr_flatprofile_writer *w, const char *s)
{
    pr_buf_str(&w->b, s);
}

/* Length of the UTF-8 sequence at s that encodes a character XML 1.0 allows, or 0 (invalid
 * UTF-8: overlong, surrogate, above U+10FFFF, cut short; or a character outside Char). */
static size_t xml_char_len(const unsigned char *s)
{
    uint32_t cp;
    size_t n;
    if (s[0] < 0x80)
        return s[0] >= 0x20 || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' ? 1 : 0;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0; /* overlong or out of range */
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
        return 0;
    return n;
}

/* Whether s can be written as character data: every character in XML 1.0's Char. */
static bool text_ok(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        size_t n = xml_char_len(c);
        if (!n)
            return false;
        c += n;
    }
    return true;
}

/* An ASCII XML name without a colon: [A-Za-z_][A-Za-z0-9_.-]*. Cisco's names are all of
 * this kind; anything else is left out rather than guessed at. */
static bool name_ok(const char *name)
{
    const unsigned char *c = (const unsigned char *)name;
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_'))
        return false;
    for (c++; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return false;
    return true;
}

/* Character data or an attribute value, escaped (s passed text_ok). */
static void add_escaped(pr_flatprofile_writer *w, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\t': rep = "&#9;"; break;
        case '\n': rep = "&#10;"; break;
        case '\r': rep = "&#13;"; break;
        default: continue;
        }
        add(w, run, (size_t)(s - run));
        add_str(w, rep);
        run = s + 1;
    }
    add(w, run, (size_t)(s - run));
}

/* A comment may hold any Char but "--" and may not end with '-'. */
static bool comment_ok(const char *s)
{
    size_t n = strlen(s);
    return text_ok(s) && !strstr(s, "--") && (n == 0 || s[n - 1] != '-');
}

pr_flatprofile_writer *pr_flatprofile_writer_new(const char *comment)
{
    pr_flatprofile_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    add_str(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    if (comment && comment_ok(comment)) {
        add_str(w, "<!-- ");
        add_str(w, comment);
        add_str(w, " -->\n");
    }
    add_str(w, "<flat-profile>\n");
    if (w->b.oom) {
        pr_flatprofile_writer_free(w);
        return NULL;
    }
    return w;
}

pr_status pr_flatprofile_writer_add(pr_flatprofile_writer *w, const char *name, const char *value,
                                    const char *ua)
{
    if (!name || !name_ok(name)) {
        w->bad_name++;
        return PR_OK;
    }
    if (!value)
        value = "";
    if (!text_ok(value) || (ua && !text_ok(ua))) {
        w->bad_value++;
        return PR_OK;
    }
    add_str(w, "<");
    add_str(w, name);
    if (ua && *ua) {
        add_str(w, " ua=\"");
        add_escaped(w, ua);
        add_str(w, "\"");
    }
    if (*value) {
        add_str(w, ">");
        add_escaped(w, value);
        add_str(w, "</");
        add_str(w, name);
        add_str(w, ">\n");
    } else {
        add_str(w, "/>\n");
    }
    return w->b.oom ? PR_EFATAL : PR_OK;
}

pr_status pr_flatprofile_writer_finish(pr_flatprofile_writer *w, char **out, size_t *len,
                                       size_t *omitted)
{
    char note[128];
    pr_status rc = PR_OK;
    *out = NULL;
    *len = 0;
    if (omitted)
        *omitted = w->bad_name + w->bad_value;
    if (w->bad_name) {
        snprintf(note, sizeof note, "<!-- %zu parameter(s) omitted: name not valid in XML -->\n",
                 w->bad_name);
        add_str(w, note);
    }
    if (w->bad_value) {
        snprintf(note, sizeof note,
                 "<!-- %zu parameter(s) omitted: value or access has a character XML 1.0 "
                 "cannot carry -->\n",
                 w->bad_value);
        add_str(w, note);
    }
    add_str(w, "</flat-profile>\n");
    if (!(*out = pr_buf_steal(&w->b, len)))
        rc = PR_EFATAL;
    pr_flatprofile_writer_free(w);
    return rc;
}

void pr_flatprofile_writer_free(pr_flatprofile_writer *w)
{
    if (!w)
        return;
    pr_buf_release(&w->b);
    free(w);
}
