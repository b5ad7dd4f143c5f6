/*
 * jsonw.c - the streaming JSON writer; see jsonw.h.
 *
 * DESIGN: no stack of open containers. Whether a key or value needs a comma first follows
 * from the last byte written: none after '{', '[' or ':' (or at the very start), one after
 * anything else, which always ends a complete value. Strings are copied in runs of bytes
 * that need nothing (one table lookup per byte), so the common ASCII value costs a scan and
 * a memcpy; room for the worst case is reserved once per string, not per byte.
 */
#include "jsonw.h"

#include <stdint.h>
#include <string.h>

/* 1 for the bytes a JSON string carries as they are: printable ASCII but '"' and '\'. */
static const unsigned char plain[256] = {
#define R4(x)  x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
    R16(0), R16(0),                                           /* 0x00-0x1f: control characters */
    1,      1,      0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
    R16(1),                                                   /* 0x30-0x3f */
    R16(1),                                                   /* 0x40-0x4f */
    1,      1,      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5f: '\' */
    R16(1), R16(1),                                           /* 0x60-0x7f */
/* 0x80-0xff: 0, checked as UTF-8 */
#undef R16
#undef R4
};

void pr_jsonw_init(pr_jsonw *w, size_t hint)
{
    memset(w, 0, sizeof *w);
    (void)pr_buf_reserve(&w->b, hint < 256 ? 256 : hint);
}

void pr_jsonw_release(pr_jsonw *w)
{
    pr_buf_release(&w->b);
    memset(w, 0, sizeof *w);
}

/* Room for n more bytes and the final NUL. */
static bool reserve(pr_jsonw *w, size_t n)
{
    return pr_buf_reserve(&w->b, n);
}

/* The comma before a key or a value, where one is due; false if nothing may be written. */
static bool sep(pr_jsonw *w, size_t n)
{
    if (!reserve(w, n + 1))
        return false;
    if (w->b.len == 0)
        return true;
    char last = w->b.p[w->b.len - 1];
    if (last == '{' || last == '[' || last == ':')
        return true;
    if (w->depth == 0) { /* a second value at the top */
        w->bad = true;
        return false;
    }
    w->b.p[w->b.len++] = ',';
    return true;
}

static void put1(pr_jsonw *w, char c)
{
    if (sep(w, 1))
        w->b.p[w->b.len++] = c;
}

void pr_jsonw_obj_begin(pr_jsonw *w)
{
    put1(w, '{');
    w->depth++;
}

void pr_jsonw_arr_begin(pr_jsonw *w)
{
    put1(w, '[');
    w->depth++;
}

static void close1(pr_jsonw *w, char c)
{
    if (w->depth <= 0)
        w->bad = true;
    else if (reserve(w, 1))
        w->b.p[w->b.len++] = c;
    w->depth--;
}

void pr_jsonw_obj_end(pr_jsonw *w)
{
    close1(w, '}');
}

void pr_jsonw_arr_end(pr_jsonw *w)
{
    close1(w, ']');
}

/* Length of the valid UTF-8 sequence at s[0..n) that starts with a byte >= 0x80, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need;
}

/* The quoted string of s[0..n) at the end of the buffer (room already reserved). */
static void put_string(pr_jsonw *w, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o = w->b.p + w->b.len;
    size_t i = 0;
    *o++ = '"';
    while (i < n) {
        size_t run = i;
        while (run < n && plain[s[run]])
            run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        i = run;
        if (i == n)
            break;
        unsigned char c = s[i];
        size_t k = c >= 0x80 ? utf8_seq(s + i, n - i) : 0;
        if (k) {
            memcpy(o, s + i, k);
            o += k;
            i += k;
            continue;
        }
        i++;
        if (c >= 0x80 || c == 0) { /* not UTF-8, or a NUL: U+FFFD */
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    w->b.len = (size_t)(o - w->b.p);
}

/* Quotes and separators around a string of n bytes: at most 6 bytes out per byte in. */
static bool string_room(pr_jsonw *w, size_t n, size_t extra)
{
    if (n > (SIZE_MAX - 16) / 6) {
        w->b.oom = true;
        return false;
    }
    return sep(w, n * 6 + 2 + extra);
}

void pr_jsonw_key(pr_jsonw *w, const char *s, size_t len)
{
    if (!string_room(w, len, 1))
        return;
    put_string(w, (const unsigned char *)s, len);
    w->b.p[w->b.len++] = ':';
}

void pr_jsonw_keyz(pr_jsonw *w, const char *s)
{
    pr_jsonw_key(w, s, strlen(s));
}

void pr_jsonw_str(pr_jsonw *w, const char *s, size_t len)
{
    if (string_room(w, len, 0))
        put_string(w, (const unsigned char *)s, len);
}

void pr_jsonw_strz(pr_jsonw *w, const char *s)
{
    pr_jsonw_str(w, s ? s : "", s ? strlen(s) : 0);
}

void pr_jsonw_base64(pr_jsonw *w, const unsigned char *in, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > SIZE_MAX / 2 || !sep(w, 4 * ((len + 2) / 3) + 2))
        return;
    char *o = w->b.p + w->b.len;
    size_t i = 0;
    *o++ = '"';
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];
        *o++ = tbl[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0u);
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = i + 1 < len ? tbl[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    w->b.len = (size_t)(o - w->b.p);
}

void pr_jsonw_int(pr_jsonw *w, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    if (!sep(w, n))
        return;
    while (n)
        w->b.p[w->b.len++] = tmp[--n];
}

static void put_word(pr_jsonw *w, const char *s, size_t n)
{
    if (!sep(w, n))
        return;
    memcpy(w->b.p + w->b.len, s, n);
    w->b.len += n;
}

void pr_jsonw_bool(pr_jsonw *w, bool v)
{
    if (v)
        put_word(w, "true", 4);
    else
        put_word(w, "false", 5);
}

void pr_jsonw_null(pr_jsonw *w)
{
    put_word(w, "null", 4);
}

char *pr_jsonw_finish(pr_jsonw *w, size_t *len)
{
    char *text = NULL;
    if (!w->bad && w->depth == 0 && w->b.len > 0)
        text = pr_buf_steal(&w->b, len);
    pr_jsonw_release(w);
    return text;
}
