/* buf.c - the growable text buffer (buf.h). Growth doubles, so n appends cost O(total). */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pr_buf_reserve(pr_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->len > n)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void pr_buf_add(pr_buf *b, const char *s, size_t n)
{
    if (!pr_buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void pr_buf_str(pr_buf *b, const char *s)
{
    pr_buf_add(b, s, strlen(s));
}

void pr_buf_printf(pr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (!pr_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *pr_buf_steal(pr_buf *b, size_t *len)
{
    char *p = NULL;
    if (!b->oom && pr_buf_reserve(b, 0)) {
        b->p[b->len] = '\0';
        p = b->p;
        if (len)
            *len = b->len;
        b->p = NULL;
    }
    pr_buf_release(b);
    return p;
}

void pr_buf_release(pr_buf *b)
{
    free(b->p);
    *b = (pr_buf){0};
}

void *pr_grow(void *v, size_t *cap, size_t len, size_t elem, size_t first)
{
    if (len < *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return NULL;
    void *n = realloc(v, ncap * elem);
    if (n)
        *cap = ncap;
    return n;
}
