/*
 * buf.h - the one growable text buffer (and pr_grow, the growth of any array): append bytes,
 * strings or printf output; always NUL-terminated; an allocation failure is remembered (`oom`) and
 * later appends do nothing, so a writer appends freely and checks once at the end.
 *
 * Ownership: the buffer owns p; pr_buf_release() frees it, pr_buf_steal() hands it over.
 */
#ifndef PR_BUF_H
#define PR_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pr_buf {
    char *p;    /* NUL-terminated once anything was appended; NULL before */
    size_t len; /* bytes before the NUL */
    size_t cap;
    bool oom; /* an append failed: the contents are incomplete */
} pr_buf;

/* Makes room for `n` more bytes (plus the NUL); false (and oom) on failure. */
bool pr_buf_reserve(pr_buf *b, size_t n);
void pr_buf_add(pr_buf *b, const char *s, size_t n);
void pr_buf_str(pr_buf *b, const char *s);
void pr_buf_printf(pr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (caller frees; *len may be NULL), or NULL after an allocation failure. The buffer
 * is empty afterwards. */
char *pr_buf_steal(pr_buf *b, size_t *len);
void pr_buf_release(pr_buf *b);

/*
 * Room for one more element in the array v of *cap elements of elem bytes, len of them used:
 * v itself while len < *cap, else v grown (to twice *cap, or first elements the first time)
 * with *cap updated. NULL when out of memory; v is then unchanged and still the caller's.
 *   entry *n = pr_grow(e->v, &e->cap, e->len, sizeof *n, 16);
 */
void *pr_grow(void *v, size_t *cap, size_t len, size_t elem, size_t first);

#endif
