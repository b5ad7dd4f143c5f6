/*
 * store_int.h - what the store's files share: store.c (the portable statement layer and
 * transactions), store_sql.c (every SQL text), store_sqlite.c (the SQLite schema and its
 * upgrades), store_rows.c (names, offsets, outbox, ownership, profile files), store_doc.c
 * (a phone's configuration document and the parameter index), store_batch.c (what the writer
 * knows within a transaction, so that a PostgreSQL batch costs a few round trips) and
 * store_pg.c (PostgreSQL over libpq; its schema store_pg_schema.c). Not for the other
 * modules: they use sink_internal.h's statement layer.
 *
 * Layers: store_doc.c, store_rows.c and store_batch.c use store.c's statement layer; store.c
 * uses store_sql.c's texts, store_sqlite.c and store_pg.c; none calls back up.
 */
#ifndef SINK_STORE_INT_H
#define SINK_STORE_INT_H

#include "sink_internal.h"

/* ---- store_pg.c: one libpq connection and its statements ---------------------------- */

typedef struct sink_pg sink_pg;
typedef struct sink_pg_stmt sink_pg_stmt;

/* The schema (store_pg_schema.c): what a new store is made of (idempotent: IF NOT EXISTS), and
 * the upgrade from schema 1. */
extern const char sink_pg_schema_sql[];
extern const char sink_pg_migrate_2_sql[];
#define SINK_PG_SCHEMA 2
/* Creates the schema or upgrades it to SINK_PG_SCHEMA, in one transaction (store_pg_schema.c). */
pr_status sink_pg_schema(sink_pg *c, char *err, size_t errlen);
/* For it: a statement without parameters or result (false: sink_pg_errmsg says why), and the
 * schema version in meta (0 when none; *missing: no meta table, the transaction aborted). */
bool sink_pg_run(sink_pg *c, const char *sql);
int sink_pg_schema_version(sink_pg *c, bool *missing);
/* Connects; a writable connection creates or upgrades the schema (sink_store_open's codes). */
pr_status sink_pg_open(const char *conninfo, bool readonly, sink_pg **out, char *err,
                       size_t errlen);
void sink_pg_close(sink_pg *c); /* NULL is a no-op */
const char *sink_pg_errmsg(sink_pg *c);
/* Whether the connection works (false: lost, given up, or never made). */
bool sink_pg_connected(const sink_pg *c);
/* A statement over the portable text sql (?N rewritten to $N). `name` non-NULL: prepared once
 * per connection under that name; NULL: sent with its text each time. NULL on error. */
sink_pg_stmt *sink_pg_stmt_new(sink_pg *c, const char *sql, const char *name);
void sink_pg_stmt_free(sink_pg_stmt *s);
/* Binds text (len bytes, copied) or NULL to ?i; beyond the statement's parameters: ignored.
 * false when the copy could not be made (the statement then fails when stepped). */
bool sink_pg_bind(sink_pg_stmt *s, int i, const char *text, size_t len);
int sink_pg_step(sink_pg_stmt *s); /* SINK_ROW, SINK_DONE, SINK_ERROR */
/* Whether the next step executes the statement (no result held since the last reset). */
bool sink_pg_fresh(const sink_pg_stmt *s);
/* Column i of the current row: NULL when SQL NULL; *len its length. */
const char *sink_pg_col(sink_pg_stmt *s, int i, size_t *len);
/* Forgets the result (keeps the bindings unless clear). */
void sink_pg_reset(sink_pg_stmt *s, bool clear);
/* A statement without parameters or result (BEGIN, COMMIT, DDL). */
pr_status sink_pg_exec(sink_pg *c, const char *sql, char *err, size_t errlen);
bool sink_pg_in_txn(sink_pg *c);
/* Whether the connection answers; reconnects (with the server's own timeout) when it was lost. */
bool sink_pg_ping(sink_pg *c);
void sink_pg_set_idle_timeout(sink_pg *c, long ms);
/* Pipelined writes (libpq pipeline mode) inside a transaction: with `on`, a statement that
 * returns no rows is only queued by sink_pg_step (SINK_DONE at once); the queue is sent and
 * its results read at the next statement that returns rows, at COMMIT, or by sink_pg_flush,
 * and its first error fails that call. Round trips per batch: one per read, not per write. */
void sink_pg_set_pipeline(sink_pg *c, bool on);
pr_status sink_pg_flush(sink_pg *c, char *err, size_t errlen);
/* Round trips to the server so far (statements sent and pipeline syncs). */
long long sink_pg_round_trips(const sink_pg *c);

/* ---- store.c: the handle ------------------------------------------------------------- */

/* The writer's cache of interned parameter names (name -> names.id). */
typedef struct name_slot {
    char *name;
    int64_t id;
    signed char indexed; /* in the index set: 1 yes, -1 no, 0 not asked yet */
} name_slot;

/* A name by its id (store_rows.c), with its index answer (1 yes, -1 no, 0 not asked yet). */
typedef struct name_ref {
    const char *name; /* names[].name */
    signed char indexed;
} name_ref;

struct sink_stmt {
    sink_store *st;
    bool cached;
    sqlite3_stmt *lite;
    sink_pg_stmt *pg;
};

/* The parameter index's set (--sink-index-params): names and globs. */
#define SINK_INDEX_MAX 64
typedef struct sink_index_set {
    char *spec; /* as stored in meta('index_params'); NULL = the default set */
    char *pat[SINK_INDEX_MAX];
    size_t n;
} sink_index_set;

/* The writer's last documents (store_doc.c): what it wrote at a phone's version, one slot per
 * phone (phone id modulo the slots), within a memory budget: an 8832 document takes about
 * 35 KB in memory, so the default 64 MiB holds the last ~1,900 phones written. */
#define SINK_DOC_SLOTS       8192
#define SINK_DOC_CACHE_BYTES (64u << 20)
typedef struct doc_slot {
    int64_t phone, version; /* phone 0: empty */
    sink_doc doc;
} doc_slot;

/* store_batch.c: a phone row the writer knows within the transaction (PostgreSQL). */
typedef struct known_phone {
    char mac[PR_MAC_LEN + 1]; /* "": empty slot */
    bool have;                /* info is the row (else: only a reserved id) */
    bool learned;             /* the writer wrote the row in this transaction */
    bool doc_tried;           /* its document was fetched with the others (or needs none) */
    bool drift_tried;         /* its drift rows were (drift: until the writer takes them) */
    json_t *drift;
    int64_t new_id;       /* reserved for a phone not in the store, 0: none */
    sink_phone_info info; /* model, firmware, source_at owned */
} known_phone;
#define KNOWN_OFFSETS 64
typedef struct known_offset {
    char *topic;
    int32_t partition;
    int64_t next;
} known_offset;
typedef struct sink_known {
    known_phone *phones; /* open addressing by mac, cap a power of two */
    size_t cap, n;
    int64_t *report_ids; /* reserved, taken from head */
    size_t nreport, report_head, report_cap;
    known_offset offsets[KNOWN_OFFSETS];
    size_t noffsets;
} sink_known;

struct sink_store {
    sink_dialect dialect;
    sqlite3 *db;
    sink_pg *pg;
    sink_stmt stmt[Q__COUNT];
    sink_stmt rows[SINK_ROWS__COUNT][SINK_ROWS_MAX]; /* multi-row inserts by row count */
    name_slot *names;
    size_t ncap, nlen;
    name_ref *byid; /* id -> the interned name, ids below byid_cap */
    size_t byid_cap;
    int64_t byid_loaded; /* every name with an id up to this one was read */
    bool names_dirty;    /* this transaction interned a name (a rollback forgets them) */
    sink_index_set index;
    long long scan_deadline_ms; /* SQLite: an unindexed scan is interrupted past this */
    long long statements;       /* statements stepped (bench_sink's figure) */
    doc_slot *docs;             /* SINK_DOC_SLOTS slots, or NULL (none remembered yet) */
    size_t docs_bytes;          /* what the remembered documents hold */
    size_t docs_evict;          /* the next slot to free when over the budget */
    struct {
        int64_t phone;
        const char *name, *value; /* borrowed until sink_store_index_flush */
    } ipend[SINK_ROWS_MAX];       /* index entries waiting to be written */
    size_t nipend;
    sink_known known; /* store_batch.c */
};

/* ---- store_sql.c --------------------------------------------------------------------- */

/* A multi-row insert's text up to VALUES, its columns per row and what follows the rows
 * (both dialects). */
const char *sink_store_rows_sql(sink_rows k, int *cols, const char **tail);
/* The text of q for the handle's dialect (pg_text over sql_text). */
const char *sink_store_dialect_sql(const sink_store *st, sink_sql q);

/* ---- store_sqlite.c: schema and upgrades --------------------------------------------- */

/* Creates the schema or brings an older one (1..5) to the current one, in one transaction;
 * registers the document functions on the connection. PR_EINVAL: a newer schema. */
pr_status sink_sqlite_schema(sqlite3 *db, char *err, size_t errlen);
/* store_upgrade.c: schema 5's JSON documents (zlib or plain) re-encoded (doc.c), in the
 * caller's transaction; sets the schema to 6. */
pr_status sink_sqlite_upgrade_6(sqlite3 *db, char *err, size_t errlen);
/* sqlite3_exec with the error in err (PR_EFATAL). */
pr_status sink_sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* Registers pr_param(doc, name_id) (an unindexed search) on a connection. */
void sink_sqlite_functions(sqlite3 *db);

/* ---- store_rows.c -------------------------------------------------------------------- */

void sink_store_names_clear(sink_store *st);

/* FNV-1a of a string (the names' and the known phones' tables). */
size_t sink_store_hash(const char *s);
/* Remembers name -> id (the interned copy, or NULL when out of memory). */
const char *sink_store_names_add(sink_store *st, const char *name, int64_t id);

/* ---- store_batch.c ------------------------------------------------------------------- */

/* Forgets what the writer knew in the transaction (commit, rollback, close). */
void sink_store_known_clear(sink_store *st, bool release);
/* The offset this transaction wrote or read for topic/partition: true with *next. */
bool sink_store_known_offset(sink_store *st, const char *topic, int32_t partition, int64_t *next);
void sink_store_known_offset_put(sink_store *st, const char *topic, int32_t partition,
                                 int64_t next);
/* The phones whose documents (or drift rows) a first read fetches with it: the rows this
 * transaction read and did not write yet (for documents: with parameters), not fetched
 * before (marked fetched now); up to max into ids[] and versions[], and as a PostgreSQL
 * bigint[] literal into list (room for max ids). */
typedef enum known_what { KNOWN_DOC, KNOWN_DRIFT } known_what;
#define KNOWN_LIST_MAX(max) ((max)*21 + 3)
size_t sink_store_known_wanted(sink_store *st, known_what what, int64_t *ids, int64_t *versions,
                               known_phone **slots, size_t max, char *list);
/* PostgreSQL: the names of names[0..n) that this connection does not know, read (and with
 * create, interned) in one statement. A name still unknown afterwards is not in the store
 * (only without create). */
pr_status sink_store_names_resolve(sink_store *st, const char *const *names, size_t n, bool create,
                                   char *err, size_t errlen);

/* ---- store_doc.c --------------------------------------------------------------------- */

/* The name of an interned id (read from names when this connection does not know it yet);
 * NULL for an id no name has. Valid until the names are forgotten (a rollback that interned). */
const char *sink_store_name_of(sink_store *st, int64_t id);
/* The id of a name this connection knows, without a statement; 0 when it does not. */
int64_t sink_store_name_cached(const sink_store *st, const char *name);
/* The id and the interned copy of a name (sink_store_name_id with the copy). */
pr_status sink_store_name_intern(sink_store *st, const char *name, bool create, int64_t *id,
                                 const char **interned, char *err, size_t errlen);
/* Reads meta('index_params') into st->index (readers and the writer alike). */
pr_status sink_store_index_load(sink_store *st);
void sink_index_set_release(sink_index_set *s);
/* Forgets the remembered documents (a rollback: their versions may be written again). */
void sink_store_docs_clear(sink_store *st);

#endif
