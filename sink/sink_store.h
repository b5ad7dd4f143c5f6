/*
 * sink_store.h - the store's part of the sink's internal interface (included by
 * sink_internal.h, after the types it uses): the handle, transactions, the portable statement
 * layer, and what the other modules read and write through it. store_int.h says which
 * store*.c file does what.
 */
#ifndef SINK_STORE_H
#define SINK_STORE_H

/* ---- store*.c: the store (store_int.h says which file does what) ----------------------- */

typedef enum sink_sql {
    Q_PHONE_GET,
    Q_PHONE_INSERT,
    Q_PHONE_UPDATE_CONFIG,
    Q_PHONE_UPDATE_STATUS,
    Q_PHONE_LIST_ALL,
    Q_NAME_GET,
    Q_NAME_INSERT,
    Q_NAME_LIST,
    Q_NAME_BY_ID,
    Q_CONFIG_GET,
    Q_CONFIG_PUT,
    Q_CONFIG_LIST,
    Q_INDEX_DELETE,
    Q_INDEX_CLEAR,
    Q_META_GET,
    Q_META_PUT,
    Q_STATUS_PUT,
    Q_REPORT_INSERT,
    Q_CHANGE_PRUNE,
    Q_REPORT_PRUNE,
    Q_DRIFT_INSERT,
    Q_DRIFT_UPDATE,
    Q_DRIFT_DELETE,
    Q_DRIFT_ROWS,
    Q_OFFSET_PUT,
    Q_OFFSET_GET,
    Q_OUTBOX_PUT,
    Q_OUTBOX_STATE_PUT,
    Q_OUTBOX_NEXT,
    Q_OUTBOX_DELETE,
    Q_OUTBOX_STATE_NEXT,
    Q_OUTBOX_STATE_DELETE,
    Q_OUTBOX_GET,
    Q_OUTBOX_COUNT,
    Q_PHONE_DIGEST,
    Q_DOC_PHONE_BY_MAC,
    Q_DOC_PHONE_BY_ID,
    Q_DOC_PHONE_PARAMS,
    Q_DOC_PHONE_DRIFT,
    Q_DOC_STATUS,
    Q_DOC_CHANGES,
    Q_DOC_DRIFT,
    Q_DOC_COUNT_PHONES,
    Q_DOC_COUNT_DRIFT,
    Q_PROFILE_FILES_GET,
    Q_PROFILE_FILES_CLEAR,
    Q_PROFILE_FILES_PUT,
    Q_OWNER_CLAIM,
    Q_OWNER_CHECK,
    Q_REBASE_CANDIDATES,
    Q_REBASE_RESULT,
    Q_HIST_HORIZON_PUT,
    Q_HIST_HORIZON_GET,
    Q_HIST_PHONE,
    Q_HIST_REPORTS,
    Q_HIST_UNDO,
    Q_REMEDIATE_CANDIDATES,
    Q_REMEDIATE_RECORD,
    Q_REMEDIATE_GET,
    Q_PHONE_PREFETCH,  /* PostgreSQL only (store_batch.c) */
    Q_PHONE_INSERT_ID, /* PostgreSQL only: a reserved id */
    Q_REPORT_INSERT_ID,
    Q_NAME_RESOLVE,
    Q_NAME_LOOKUP,
    Q_CONFIG_GET_MANY,
    Q_DRIFT_ROWS_MANY,
    Q__COUNT
} sink_sql;

/* Inserts of several rows in one statement (store_sql.c's sink_store_rows_sql). */
typedef enum sink_rows {
    SINK_ROWS_CHANGES, /* (phone, report, param, old, new) */
    SINK_ROWS_OUTBOX,  /* (topic, key, value, part) */
    SINK_ROWS_INDEX,   /* (name, value, phone), an entry already there is kept */
    SINK_ROWS__COUNT
} sink_rows;
#define SINK_ROWS_MAX 16

typedef struct sink_store sink_store;

/* Which store implementation a handle uses (store_sqlite.c: SQLite; store_pg.c: PostgreSQL). */
typedef enum sink_dialect { SINK_DIALECT_SQLITE, SINK_DIALECT_PG } sink_dialect;

/* Whether `where` names a PostgreSQL store (postgresql:// or postgres://). */
bool sink_store_is_pg(const char *where);
/*
 * Opens a store. `where` is a data directory (SQLite: <dir>/sink.db in WAL mode, created when
 * writable) or a PostgreSQL connection string (libpq's PG* variables apply). `sync` is SQLite's
 * "full" or "normal" (NULL = full). A read-only handle is for the API. A writable handle creates
 * or upgrades the schema; a schema newer than this build knows is PR_EINVAL (configuration),
 * an unreachable server PR_ETRANSIENT, anything else PR_EFATAL, each with a message.
 */
pr_status sink_store_open(const char *where, bool readonly, const char *sync, sink_store **out,
                          char *err, size_t errlen);
void sink_store_close(sink_store *st); /* NULL is a no-op */
sink_dialect sink_store_dialect(const sink_store *st);
/* The SQLite connection (NULL for PostgreSQL): tests and SQLite-only maintenance. */
sqlite3 *sink_store_db(sink_store *st);
/* The last error of the store's connection (never NULL). */
const char *sink_store_errmsg(sink_store *st);
/* What the last failure of st was: PR_ETRANSIENT when the store is out of reach (PostgreSQL:
 * no working connection; SQLite: busy, locked, I/O error, full, cannot open), else PR_EFATAL
 * (a statement the store refuses). The API answers the first 503, the second 500. */
pr_status sink_store_failure(sink_store *st);
/* The portable SQL text of q (?N placeholders; store_sql.c's table). */
const char *sink_store_sql(sink_sql q);

/*
 * The statement layer: the only way modules talk to the store, so that apply, drift, the
 * outbox and the queries do not care which database is behind it. Placeholders are ?N
 * (1-based; rewritten to $N for PostgreSQL). A value bound to a placeholder that the
 * dialect's text does not use is ignored.
 */
typedef struct sink_stmt sink_stmt;
enum { SINK_DONE = 0, SINK_ROW = 1, SINK_ERROR = -1 };
/* The cached statement for q, reset and with bindings cleared; NULL on error. */
sink_stmt *sink_store_stmt(sink_store *st, sink_sql q);
/* A one-off statement (built SQL); sink_stmt_free() it. NULL on error. */
sink_stmt *sink_store_prepare(sink_store *st, const char *sql);
void sink_stmt_free(sink_stmt *s); /* NULL is a no-op; cached statements are only reset */
/* Binds a C string (copied) or NULL as SQL NULL. */
void sink_bind_text(sink_stmt *s, int i, const char *v);
/* The same without the copy on SQLite: v must stay alive until the statement is reset. */
void sink_bind_text_static(sink_stmt *s, int i, const char *v);
void sink_bind_int64(sink_stmt *s, int i, int64_t v);
void sink_bind_blob(sink_stmt *s, int i, const void *p, size_t n);
void sink_bind_null(sink_stmt *s, int i);
/* SINK_ROW, SINK_DONE or SINK_ERROR (sink_store_errmsg says why). */
int sink_step(sink_stmt *s);
/* Column text or NULL (valid until the next step or reset). */
const char *sink_col_text(sink_stmt *s, int i);
size_t sink_col_bytes(sink_stmt *s, int i); /* length of the text */
int64_t sink_col_int64(sink_stmt *s, int i);
bool sink_col_null(sink_stmt *s, int i);
/* A blob column: *len its size (0 when NULL). */
const void *sink_col_blob(sink_stmt *s, int i, size_t *len);
void sink_reset(sink_stmt *s);
/* Steps a statement that returns no row, then resets it: PR_OK or PR_EFATAL with err. */
pr_status sink_exec_stmt(sink_stmt *s, const char *what, char *err, size_t errlen);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
pr_status sink_store_begin(sink_store *st, char *err, size_t errlen);
pr_status sink_store_commit(sink_store *st, char *err, size_t errlen);
void sink_store_rollback(sink_store *st);
bool sink_store_in_txn(sink_store *st);
/* A read snapshot (deferred BEGIN) and its end, for documents that must agree with each other. */
pr_status sink_store_read_begin(sink_store *st, char *err, size_t errlen);
void sink_store_read_end(sink_store *st);
/* PostgreSQL: how long a transaction of this connection may sit idle before the server ends
 * the session (so that a stopped sink releases its locks); kept across reconnections. */
void sink_store_set_idle_timeout(sink_store *st, long ms);
/* Whether the store answers (reconnecting a PostgreSQL connection that was lost). */
bool sink_store_ping(sink_store *st);
/* The writer reports its WAL size after each commit in *frames instead of checkpointing
 * itself (another connection checkpoints: sink_store_checkpoint); past a backstop of 16,000
 * pages it checkpoints anyway, so the WAL stays bounded if nobody else does. SQLite only (a
 * no-op on PostgreSQL, as is the checkpoint). */
void sink_store_wal_report(sink_store *st, atomic_long *frames);
/* A PASSIVE checkpoint (never waits for the writer or readers). */
void sink_store_checkpoint(sink_store *st);
/*
 * What the writer knows within a transaction (store_batch.c; PostgreSQL, where a read is a
 * round trip: SQLite knows nothing and reads as before). A batch's phone rows are read, and
 * locked, in one statement (sink_store_prefetch, with the macs of the batch's records), with
 * an id reserved for each phone the store does not have and one report id per record; what
 * the writer then writes to a phone row it tells the store (sink_store_phone_learn), so a
 * phone's next report in the transaction reads nothing. Forgotten at commit and rollback.
 */
typedef struct sink_phone_info {
    int64_t id, version;
    bool exists, complete, has_digest;
    unsigned char digest[32];
    const char *model, *firmware, *source_at; /* borrowed (learn copies them) */
    long long nparams, weight;
} sink_phone_info;
/* Reads the phone rows of macs[0..n) (FOR UPDATE) in one statement, inside the caller's
 * transaction; a no-op outside one and on SQLite. PR_ETRANSIENT/PR_EFATAL with err. */
pr_status sink_store_prefetch(sink_store *st, const char *const *macs, size_t n, char *err,
                              size_t errlen);
/* What the writer knows of the phone (*out borrows the store's copy until the next call of
 * this family): true when known, out->exists false for a phone the store does not have. */
bool sink_store_phone_known(sink_store *st, const char *mac, sink_phone_info *out);
/* The phone row as the writer just wrote it (copied), before the model, firmware and their
 * time of a report received at `at` were applied to it (the rule of the phone updates). */
void sink_store_phone_learn(sink_store *st, const char *mac, const sink_phone_info *in,
                            const char *model, const char *firmware, const char *at);
/* The drift rows of phone (of that mac) as {param: [intended, actual]} (caller decrefs):
 * PostgreSQL, the first read of a transaction fetches, in one statement, those of every
 * phone it read and did not write yet. PR_EFATAL with err. */
pr_status sink_store_drift_rows(sink_store *st, int64_t phone, const char *mac, json_t **rows,
                                char *err, size_t errlen);
/* The phone's drift rows as the writer left them (stolen): its next report in the
 * transaction takes them instead of reading them. */
void sink_store_drift_keep(sink_store *st, const char *mac, json_t *rows);
/* An id reserved for a new phone of that mac, or a report id; 0: none reserved. */
int64_t sink_store_phone_id_take(sink_store *st, const char *mac);
int64_t sink_store_report_id_take(sink_store *st);
/* The digest stored with a complete phone (PR_ENOTFOUND: none, or no such phone). */
pr_status sink_store_phone_digest(sink_store *st, const char *mac, unsigned char digest[32]);
/* One outbox row's key and value (copies, caller frees; both NULL when the row is gone). */
pr_status sink_store_outbox_get(sink_store *st, int64_t id, char **key, char **value);
/* Rows waiting in the outbox (records and state markers). */
pr_status sink_store_outbox_count(sink_store *st, int64_t *n);
/* Applied offsets: the next offset to read for topic/partition, -1 if none stored, -2 if the
 * store cannot be read (never to be taken for "none": the records would be applied again). */
int64_t sink_store_offset_get(sink_store *st, const char *topic, int32_t partition);
pr_status sink_store_offset_put(sink_store *st, const char *topic, int32_t partition, int64_t next,
                                char *err, size_t errlen);
/*
 * Partition ownership (several sinks sharing one PostgreSQL store). claim: in its own
 * transaction, raises the partition's epoch and records `owner`; *epoch gets the new epoch.
 * fence: inside the caller's transaction, locks the partition's row and checks that its epoch
 * is still `epoch`: PR_ENOTFOUND ("fenced") when another sink claimed it since. Both are
 * no-ops (PR_OK, epoch 0) on SQLite, which has one sink.
 */
pr_status sink_store_partition_claim(sink_store *st, const char *topic, int32_t partition,
                                     const char *owner, int64_t *epoch, char *err, size_t errlen);
pr_status sink_store_partition_fence(sink_store *st, const char *topic, int32_t partition,
                                     int64_t epoch, char *err, size_t errlen);
/*
 * The partitions this process owns (set by the consumer thread on each assignment, read by the
 * publisher and the drift pass): the phones and outbox rows a sink touches when several share a
 * PostgreSQL store. Given to statements as a PostgreSQL int[] literal ("{0,3}") that SQLite's
 * texts ignore.
 */
#define SINK_PARTS_MAX 1024
typedef struct sink_parts {
    pthread_mutex_t mu;
    int32_t v[SINK_PARTS_MAX];
    size_t n;
    unsigned gen; /* raised on every change */
} sink_parts;
void sink_parts_init(sink_parts *p);
void sink_parts_destroy(sink_parts *p);
void sink_parts_set(sink_parts *p, const int32_t *v, size_t n);
/* The set as "{0,3}" in buf; returns gen. */
unsigned sink_parts_text(sink_parts *p, char *buf, size_t len);
bool sink_parts_has(sink_parts *p, int32_t part);
typedef struct sink_profiles sink_profiles; /* profiles.c */

/* The profile files whose drift is applied (profile_files table): loads them into p before
 * its first scan; saves p's current files, in the caller's transaction. */
pr_status sink_store_profiles_load(sink_store *st, sink_profiles *p);
pr_status sink_store_profiles_save(sink_store *st, const sink_profiles *p, char *err,
                                   size_t errlen);
/* Appends an outbox row of the phone's partition (value stolen and serialised compactly). */
pr_status sink_store_outbox_put(sink_store *st, pr_topic topic, int32_t part, const char *key,
                                json_t *value, char *err, size_t errlen);
/* A statement inserting `rows` rows (1..SINK_ROWS_MAX) of k: ?1.. the first row's columns,
 * then the next row's (prepared once per connection and row count). */
sink_stmt *sink_store_stmt_rows(sink_store *st, sink_rows k, int rows);
/* The same with the value as JSON text (stolen; NULL: out of memory). */
pr_status sink_store_outbox_put_text(sink_store *st, pr_topic topic, int32_t part, const char *key,
                                     char *text, char *err, size_t errlen);
/* n such rows of one key, SINK_ROWS_MAX per statement (texts stolen, freed either way). */
pr_status sink_store_outbox_put_texts(sink_store *st, pr_topic topic, int32_t part, const char *key,
                                      char **texts, size_t n, char *err, size_t errlen);
/* A phone's configuration document (store_doc.c): its params and access objects (new
 * references; empty objects for a phone without one). PR_EFATAL with err. */
pr_status sink_store_doc_get(sink_store *st, int64_t phone, json_t **params, json_t **access,
                             char *err, size_t errlen);
/* The same document in compact form (owned; empty for a phone without one). PR_EFATAL with
 * err, also for a document that cannot be read. */
pr_status sink_store_doc_load(sink_store *st, int64_t phone, sink_doc *out, char *err,
                              size_t errlen);
/* The writer: the phone's document as of its version in compact form: from memory when this
 * connection remembered it at that version (sink_store_doc_remember), else read into *tmp
 * (the caller releases tmp either way). *doc is valid until the next remember or rollback. */
pr_status sink_store_doc_read(sink_store *st, int64_t phone, int64_t version, sink_doc *tmp,
                              const sink_doc **doc, char *err, size_t errlen);
/* Remembers the document (stolen: *doc is empty afterwards) as the phone's at version, within
 * the cache's memory budget; forgotten at a rollback. */
void sink_store_doc_remember(sink_store *st, int64_t phone, int64_t version, sink_doc *doc);
/* The phone's version went from `from` to `to` without its document changing. */
void sink_store_doc_moved(sink_store *st, int64_t phone, int64_t from, int64_t to);
/* Writes the document (borrowed) in the caller's transaction: one statement. */
pr_status sink_store_doc_put(sink_store *st, int64_t phone, const sink_doc *doc, char *err,
                             size_t errlen);
/* A report's params and access objects as entries sorted by id (values and access borrowed
 * from the objects; pos: the params' order). Names are interned with create; without, a name
 * not interned yet gets a provisional id (SINK_DOC_ID_NEW + pos, after every real one) and its
 * name borrowed from params, until sink_store_doc_intern: so that a report refused by the
 * bounds writes nothing. */
pr_status sink_store_doc_of_json(sink_store *st, const json_t *params, const json_t *access,
                                 bool create, sink_doc *out, char *err, size_t errlen);
/* Interns the names of d's provisional ids and sorts d again. */
pr_status sink_store_doc_intern(sink_store *st, sink_doc *d, char *err, size_t errlen);
/* The value of name in doc (NULL: absent or a name this connection never interned). */
const char *sink_store_doc_value(sink_store *st, const sink_doc *doc, const char *name);
/* The parameter index (--sink-index-params, names and globs separated by commas; "none":
 * no parameter). The default set: what operations teams search for. */
#define SINK_INDEX_DEFAULT                                                                         \
    "Proxy_*,Outbound_Proxy_*,User_ID_*,Display_Name_*,Station_Name,Station_Display_Name,"         \
    "Profile_Rule*,Report_Rule,Upgrade_Rule"
/* Values longer than this are not indexed (PostgreSQL's B-tree keys are bounded). */
#define SINK_INDEX_VALUE_MAX 1024
/* PR_EINVAL with a message for a malformed set. */
pr_status sink_index_check(const char *spec, char *err, size_t errlen);
/* Whether name is in the store's index set (every connection reads it when it opens). */
bool sink_store_indexed(const sink_store *st, const char *name);
/* The same for a name interned by this connection (the answer is cached with it), and by its
 * id (no lookup of the name). */
bool sink_store_id_indexed(sink_store *st, int64_t id, const char *name);
bool sink_store_name_indexed(sink_store *st, const char *name);
/* An indexed parameter's value changed (NULL: absent) in the caller's transaction. The new
 * entry may wait (name and value borrowed) until sink_store_index_flush, which writes the
 * waiting entries in one statement: the caller flushes before they go. */
pr_status sink_store_index_change(sink_store *st, int64_t phone, const char *name,
                                  const char *old_value, const char *new_value, char *err,
                                  size_t errlen);
pr_status sink_store_index_flush(sink_store *st, char *err, size_t errlen);
/* The writer at start-up: spec (NULL: the default set) becomes the store's set; when it
 * differs from the stored one the index is rebuilt from the documents (progress in the log,
 * a transaction per page). */
pr_status sink_store_index_configure(sink_store *st, const char *spec, char *err, size_t errlen);
/* Bounds the next statements of this connection to ms (0: no bound again): an unindexed
 * search fails with an error instead of running on. */
void sink_store_scan_bound(sink_store *st, long long ms);
/* Statements stepped on this handle, and round trips to the server (SQLite: statements). */
long long sink_store_statements(const sink_store *st);
long long sink_store_round_trips(const sink_store *st);
/* PostgreSQL: writes that return no rows are pipelined until the next read or commit
 * (store_pg.c); a no-op on SQLite. */
void sink_store_set_pipeline(sink_store *st, bool on);
/* The id of an interned parameter name (cached by this connection), interning it when create;
 * PR_ENOTFOUND when it is not interned and !create. */
pr_status sink_store_name_id(sink_store *st, const char *name, bool create, int64_t *id, char *err,
                             size_t errlen);

#endif
