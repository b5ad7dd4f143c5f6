/*
 * doc.h - a phone's configuration in compact form (doc.c): what the sink's writer merges,
 * diffs and writes without JSON trees, and the SQLite encoding of it. Sink-internal.
 */
#ifndef SINK_DOC_H
#define SINK_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Ids from here on are provisional: a name not interned yet (sink_store_doc_of_json). */
#define SINK_DOC_ID_NEW (INT64_C(1) << 62)

typedef struct sink_doc_entry {
    int64_t id;         /* names.id */
    const char *name;   /* borrowed from the store's interned names */
    const char *value;  /* NUL-terminated (vlen bytes before the NUL) */
    const char *access; /* NULL: none */
    uint32_t vlen;
    uint32_t pos;  /* a report's entries: the order of its params */
    uint8_t acode; /* the access as doc.c codes it (set by sink_doc_finish and the decoder) */
} sink_doc_entry;

/* The blocks that hold a document's values and access texts, shared by reference count: a
 * delta's new document shares the old one's blocks and adds one for the report's strings. */
typedef struct sink_doc_block sink_doc_block;
#define SINK_DOC_BLOCKS_MAX 16

/* Entries sorted by id, unique. blocks: the strings, when the document owns them
 * (sink_doc_own, the decoder, sink_doc_merge), arena_len bytes in all of which `waste` belong
 * to no entry of this document; bytes: what it holds in memory. */
typedef struct sink_doc {
    sink_doc_entry *e;
    size_t n;
    sink_doc_block *blocks[SINK_DOC_BLOCKS_MAX];
    size_t nblocks, arena_len, waste;
    size_t bytes;
} sink_doc;

void sink_doc_release(sink_doc *d); /* NULL is a no-op; *d is empty afterwards */
/* A document built entry by entry: sorts the entries by id (a no-op when they are) and codes
 * each entry's access. */
void sink_doc_finish(sink_doc *d);
/* Copies the values and access texts the entries point to into one block of its own (names
 * stay borrowed). false when out of memory (the document is unchanged). */
bool sink_doc_own(sink_doc *d);
const sink_doc_entry *sink_doc_find(const sink_doc *d, int64_t id);
/* Whether two entries have the same access (none included). */
bool sink_doc_same_access(const sink_doc_entry *a, const sink_doc_entry *b);

/* What a report changes against the old document: per entry of the report (by its pos),
 * the old entry of the same name or NULL; a full report's removals in id order. The
 * pointers are into the old document. */
typedef struct sink_doc_diff {
    const sink_doc_entry **old_of;
    const sink_doc_entry **removed;
    size_t nremoved;
} sink_doc_diff;
/* The new document (owned) from old and a report's sorted entries ev in one pass: a full
 * report is its own set, a delta replaces or adds its entries (value and access). PR_EFATAL
 * when out of memory. */
pr_status sink_doc_merge(const sink_doc *old, const sink_doc *ev, bool full, sink_doc *out,
                         sink_doc_diff *diff);
void sink_doc_diff_release(sink_doc_diff *diff);

/* The SQLite encoding (doc.c says it): a malloc'd blob. */
pr_status sink_doc_encode(const sink_doc *d, unsigned char **out, size_t *len);
/* The name of an interned id, or NULL when unknown. */
typedef const char *(*sink_doc_name_fn)(void *ctx, int64_t id);
/* Decodes a blob into an owned document: PR_EINVAL malformed or truncated, PR_ENOTFOUND an
 * id that name_of does not know, PR_EFATAL out of memory. */
pr_status sink_doc_decode(const void *blob, size_t len, sink_doc_name_fn name_of, void *ctx,
                          sink_doc *out);
bool sink_doc_is_blob(const void *blob, size_t len); /* the encoding's first byte */
/* The value of id in a blob without decoding it (borrowed from the blob). */
bool sink_doc_blob_find(const void *blob, size_t len, int64_t id, const char **value, size_t *vlen);
/* The params (access false) or access object as compact JSON text (malloc'd). */
char *sink_doc_json(const sink_doc *d, bool access, size_t *len);
/* The document as jansson objects (readers: API, state records). */
pr_status sink_doc_to_json(const sink_doc *d, json_t **params, json_t **access);

#endif
