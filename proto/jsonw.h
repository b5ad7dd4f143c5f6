/*
 * jsonw.h - a small streaming JSON writer: the decoder writes its events with it straight
 * into the buffer that becomes the Kafka record, without a tree. jansson stays wherever JSON
 * is read; this is the one hand-written JSON piece, and it only writes.
 *
 * What it guarantees: the text is compact JSON (RFC 8259); every string is valid UTF-8, with
 * each byte that is not part of a valid sequence (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF) and each NUL replaced by U+FFFD, never dropped; '"', '\' and the
 * control characters are escaped. Commas and colons are placed by the writer (a value after
 * a key, a key or value after another member). Nesting is only counted: the caller opens and
 * closes in the right order (pr_jsonw_finish refuses a text left open).
 *
 * Errors: an allocation failure is remembered (b.oom) and every later call does nothing, so
 * a builder writes freely and checks once at pr_jsonw_finish.
 *
 * Ownership: the writer owns its buffer until pr_jsonw_finish hands it over (caller frees)
 * or pr_jsonw_release frees it. String arguments are borrowed.
 */
#ifndef PR_JSONW_H
#define PR_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct pr_jsonw {
    pr_buf b;   /* the text; b.oom: an allocation failed, the text is incomplete */
    long depth; /* objects and arrays open */
    bool bad;   /* closed more than was open, or a second value at the top */
} pr_jsonw;

/* An empty writer with a first buffer of about `hint` bytes (allocated now; a failure is
 * remembered like any other). */
void pr_jsonw_init(pr_jsonw *w, size_t hint);
void pr_jsonw_release(pr_jsonw *w);

void pr_jsonw_obj_begin(pr_jsonw *w);
void pr_jsonw_obj_end(pr_jsonw *w);
void pr_jsonw_arr_begin(pr_jsonw *w);
void pr_jsonw_arr_end(pr_jsonw *w);

/* A member name inside an object (then exactly one value). */
void pr_jsonw_key(pr_jsonw *w, const char *s, size_t len);
void pr_jsonw_keyz(pr_jsonw *w, const char *s); /* NUL-terminated */

/* A string value from bytes that should be UTF-8 (see above for what is replaced). */
void pr_jsonw_str(pr_jsonw *w, const char *s, size_t len);
void pr_jsonw_strz(pr_jsonw *w, const char *s); /* NUL-terminated; NULL writes "" */
/* A string value: the standard base64 (padded) of len bytes. */
void pr_jsonw_base64(pr_jsonw *w, const unsigned char *data, size_t len);

void pr_jsonw_int(pr_jsonw *w, int64_t v);
void pr_jsonw_bool(pr_jsonw *w, bool v);
void pr_jsonw_null(pr_jsonw *w);

/* The text, NUL-terminated (*len without the NUL); the caller frees it with free(). NULL (and
 * the buffer freed) after an allocation failure or when an object or array is still open or
 * closed once too often. The writer is empty afterwards (and may be written again). */
char *pr_jsonw_finish(pr_jsonw *w, size_t *len);

#endif
