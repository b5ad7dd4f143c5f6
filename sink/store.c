/*
 * store.c - the sink's store behind one portable statement layer (sink_internal.h): opening,
 * statements, bindings, columns, transactions and the SQLite WAL. The SQL texts are
 * store_sql.c's, the SQLite schema store_sqlite.c's, PostgreSQL store_pg.c's; what the
 * modules store through it is in store_rows.c (offsets, outbox, names, ownership, profile
 * files) and store_doc.c (a phone's configuration document and the parameter index).
 *
 * DESIGN: SQLite keeps one file <data-dir>/sink.db in WAL mode; each thread opens its own
 * connection, the writer uses BEGIN IMMEDIATE and a busy timeout. A phone's configuration is
 * one row (configs), so a full report is one write and a delta one read and one write. The
 * applied offsets and the outbox rows are written in the same transaction as the state they
 * belong to (DESIGN section 4). On SQLite each call of the layer is one sqlite3_* call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

/* ---- the statement layer -------------------------------------------------------------- */

bool sink_store_is_pg(const char *where)
{
    return where &&
           (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0);
}

sink_dialect sink_store_dialect(const sink_store *st)
{
    return st->dialect;
}

sqlite3 *sink_store_db(sink_store *st)
{
    return st->db;
}

const char *sink_store_errmsg(sink_store *st)
{
    return st->dialect == SINK_DIALECT_PG ? sink_pg_errmsg(st->pg) : sqlite3_errmsg(st->db);
}

pr_status sink_store_failure(sink_store *st)
{
    if (st->dialect == SINK_DIALECT_PG)
        return sink_pg_connected(st->pg) ? PR_EFATAL : PR_ETRANSIENT;
    switch (sqlite3_errcode(st->db) & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN: return PR_ETRANSIENT;
    default: return PR_EFATAL;
    }
}

/* s prepared once per connection from sql (PostgreSQL: under `name`), else reset. */
static sink_stmt *stmt_cached(sink_store *st, sink_stmt *s, const char *sql, const char *name)
{
    if (st->dialect == SINK_DIALECT_PG) {
        if (!s->pg) {
            if (!(s->pg = sink_pg_stmt_new(st->pg, sql, name)))
                return NULL;
        } else {
            sink_pg_reset(s->pg, true);
        }
    } else if (!s->lite) {
        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->lite, NULL) !=
            SQLITE_OK)
            return NULL;
    } else {
        sqlite3_reset(s->lite);
        sqlite3_clear_bindings(s->lite);
    }
    s->st = st;
    s->cached = true;
    return s;
}

sink_stmt *sink_store_stmt(sink_store *st, sink_sql q)
{
    if ((unsigned)q >= Q__COUNT)
        return NULL;
    sink_stmt *s = &st->stmt[q];
    const char *sql = sink_store_dialect_sql(st, q);
    char name[16];
    if (!sql)
        return NULL;
    snprintf(name, sizeof name, "q%d", (int)q);
    return stmt_cached(st, s, sql, name);
}

sink_stmt *sink_store_stmt_rows(sink_store *st, sink_rows k, int rows)
{
    int cols = 0;
    const char *tail = "", *head = sink_store_rows_sql(k, &cols, &tail);
    if ((unsigned)k >= SINK_ROWS__COUNT || rows < 1 || rows > SINK_ROWS_MAX || !head)
        return NULL;
    sink_stmt *s = &st->rows[k][rows - 1];
    if (s->lite || s->pg)
        return stmt_cached(st, s, NULL, NULL);
    char sql[4096], name[16];
    size_t n = (size_t)snprintf(sql, sizeof sql, "%s", head);
    for (int r = 0; r < rows && n < sizeof sql; r++)
        for (int c = 0; c < cols && n < sizeof sql; c++)
            n += (size_t)snprintf(sql + n, sizeof sql - n, "%s?%d%s",
                                  c == 0 ? (r == 0 ? " (" : ", (") : ", ", r * cols + c + 1,
                                  c == cols - 1 ? ")" : "");
    if (n < sizeof sql)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s", tail);
    if (n >= sizeof sql)
        return NULL;
    snprintf(name, sizeof name, "r%d_%d", (int)k, rows);
    return stmt_cached(st, s, sql, name);
}

sink_stmt *sink_store_prepare(sink_store *st, const char *sql)
{
    sink_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->st = st;
    if (st->dialect == SINK_DIALECT_PG
            ? !(s->pg = sink_pg_stmt_new(st->pg, sql, NULL))
            : sqlite3_prepare_v2(st->db, sql, -1, &s->lite, NULL) != SQLITE_OK) {
        sqlite3_finalize(s->lite);
        free(s);
        return NULL;
    }
    return s;
}

void sink_stmt_free(sink_stmt *s)
{
    if (!s)
        return;
    if (s->cached) {
        sink_reset(s);
        return;
    }
    sqlite3_finalize(s->lite);
    sink_pg_stmt_free(s->pg);
    free(s);
}

void sink_bind_text(sink_stmt *s, int i, const char *v)
{
    if (s->pg)
        sink_pg_bind(s->pg, i, v, v ? strlen(v) : 0); /* a failed copy fails the step */
    else if (v)
        sqlite3_bind_text(s->lite, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s->lite, i);
}

void sink_bind_text_static(sink_stmt *s, int i, const char *v)
{
    if (s->pg || !v)
        sink_bind_text(s, i, v);
    else
        sqlite3_bind_text(s->lite, i, v, -1, SQLITE_STATIC);
}

void sink_bind_int64(sink_stmt *s, int i, int64_t v)
{
    if (s->pg) {
        char buf[24];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
        sink_pg_bind(s->pg, i, buf, (size_t)n);
    } else {
        sqlite3_bind_int64(s->lite, i, v);
    }
}

void sink_bind_null(sink_stmt *s, int i)
{
    if (s->pg)
        sink_pg_bind(s->pg, i, NULL, 0);
    else
        sqlite3_bind_null(s->lite, i);
}

void sink_bind_blob(sink_stmt *s, int i, const void *p, size_t n)
{
    if (!s->pg) {
        sqlite3_bind_blob(s->lite, i, p, (int)n, SQLITE_TRANSIENT);
        return;
    }
    /* bytea's text form: \x and two hex digits a byte */
    static const char hex[] = "0123456789abcdef";
    char buf[2 + 2 * 64 + 1];
    const unsigned char *b = p;
    if (n > 64) /* the sink binds digests only */
        n = 64;
    buf[0] = '\\';
    buf[1] = 'x';
    for (size_t k = 0; k < n; k++) {
        buf[2 + 2 * k] = hex[b[k] >> 4];
        buf[3 + 2 * k] = hex[b[k] & 15];
    }
    sink_pg_bind(s->pg, i, buf, 2 + 2 * n);
}

int sink_step(sink_stmt *s)
{
    if (s->lite ? !sqlite3_stmt_busy(s->lite) : sink_pg_fresh(s->pg))
        s->st->statements++; /* an execution, not a row */
    if (s->pg)
        return sink_pg_step(s->pg);
    int r = sqlite3_step(s->lite);
    return r == SQLITE_ROW ? SINK_ROW : r == SQLITE_DONE ? SINK_DONE : SINK_ERROR;
}

const char *sink_col_text(sink_stmt *s, int i)
{
    size_t len;
    return s->pg ? sink_pg_col(s->pg, i, &len) : (const char *)sqlite3_column_text(s->lite, i);
}

size_t sink_col_bytes(sink_stmt *s, int i)
{
    size_t len = 0;
    if (s->pg) {
        sink_pg_col(s->pg, i, &len);
        return len;
    }
    sqlite3_column_text(s->lite, i); /* the length of the text form */
    return (size_t)sqlite3_column_bytes(s->lite, i);
}

int64_t sink_col_int64(sink_stmt *s, int i)
{
    if (!s->pg)
        return sqlite3_column_int64(s->lite, i);
    size_t len;
    const char *v = sink_pg_col(s->pg, i, &len);
    return v ? (int64_t)strtoll(v, NULL, 10) : 0;
}

bool sink_col_null(sink_stmt *s, int i)
{
    size_t len;
    return s->pg ? sink_pg_col(s->pg, i, &len) == NULL
                 : sqlite3_column_type(s->lite, i) == SQLITE_NULL;
}

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

const void *sink_col_blob(sink_stmt *s, int i, size_t *len)
{
    if (!s->pg) {
        const void *p = sqlite3_column_blob(s->lite, i);
        *len = (size_t)sqlite3_column_bytes(s->lite, i);
        return p;
    }
    /* bytea's hex text form, decoded in place (the result is ours until the next step) */
    size_t n = 0;
    char *v = (char *)(uintptr_t)sink_pg_col(s->pg, i, &n);
    *len = 0;
    if (!v || n < 2 || v[0] != '\\' || v[1] != 'x')
        return NULL;
    unsigned char *out = (unsigned char *)v;
    for (size_t k = 2; k + 1 < n; k += 2) {
        int hi = unhex(v[k]), lo = unhex(v[k + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        out[(*len)++] = (unsigned char)(hi << 4 | lo);
    }
    return out;
}

void sink_reset(sink_stmt *s)
{
    if (s->pg)
        sink_pg_reset(s->pg, false);
    else
        sqlite3_reset(s->lite);
}

pr_status sink_exec_stmt(sink_stmt *s, const char *what, char *err, size_t errlen)
{
    int r = sink_step(s);
    sink_reset(s);
    if (r == SINK_ERROR)
        return pr_err(PR_EFATAL, err, errlen, "%s: %s", what, sink_store_errmsg(s->st));
    return PR_OK;
}

/* ---- opening ------------------------------------------------------------------------ */
pr_status sink_store_open(const char *where, bool readonly, const char *sync, sink_store **out,
                          char *err, size_t errlen)
{
    pr_status st = PR_OK;
    char path[4096], pragmas[160];
    sink_store *s = NULL;
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    if (sink_store_is_pg(where)) {
        s->dialect = SINK_DIALECT_PG;
        st = sink_pg_open(where, readonly, &s->pg, err, errlen);
        goto out;
    }
    if (!readonly && mkdir(where, 0750) != 0 && errno != EEXIST) {
        st = pr_err(PR_EFATAL, err, errlen, "cannot create %s: %s", where, strerror(errno));
        goto out;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/sink.db", where) >= sizeof path) {
        st = pr_err(PR_EFATAL, err, errlen, "data-dir path too long");
        goto out;
    }
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        st = pr_err(PR_EFATAL, err, errlen, "cannot open %s: %s", path,
                    s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s->db, 10000);
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384;",
             sync && strcmp(sync, "normal") == 0 ? "NORMAL" : "FULL");
    if (!readonly) {
        /* journal_size_limit: a WAL that grew during a burst is cut back to 64 MiB when it
         * restarts, so the store's size on disk returns to its content. */
        if ((st = sink_sqlite_exec(s->db,
                                   "PRAGMA journal_mode=WAL; PRAGMA journal_size_limit=67108864;",
                                   err, errlen)) != PR_OK)
            goto out;
        if ((st = sink_sqlite_schema(s->db, err, errlen)) != PR_OK)
            goto out;
    }
    if ((st = sink_sqlite_exec(s->db, pragmas, err, errlen)) != PR_OK)
        goto out;
    sink_sqlite_functions(s->db);
out:
    if (st == PR_OK)
        st = sink_store_index_load(s);
    if (st != PR_OK)
        sink_store_close(s);
    else
        *out = s;
    return st;
}

void sink_store_close(sink_store *st)
{
    if (!st)
        return;
    sink_store_names_clear(st);
    sink_index_set_release(&st->index);
    sink_store_docs_clear(st);
    sink_store_known_clear(st, true);
    free(st->docs);
    for (int i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(st->stmt[i].lite);
        sink_pg_stmt_free(st->stmt[i].pg);
    }
    for (int k = 0; k < SINK_ROWS__COUNT; k++)
        for (int i = 0; i < SINK_ROWS_MAX; i++) {
            sqlite3_finalize(st->rows[k][i].lite);
            sink_pg_stmt_free(st->rows[k][i].pg);
        }
    sqlite3_close(st->db);
    sink_pg_close(st->pg);
    free(st);
}

/* ---- transactions --------------------------------------------------------------------- */

static void reset_all(sink_store *st)
{
    for (int i = 0; i < Q__COUNT; i++)
        if (st->stmt[i].lite || st->stmt[i].pg)
            sink_reset(&st->stmt[i]);
    for (int k = 0; k < SINK_ROWS__COUNT; k++)
        for (int i = 0; i < SINK_ROWS_MAX; i++)
            if (st->rows[k][i].lite || st->rows[k][i].pg)
                sink_reset(&st->rows[k][i]);
}

pr_status sink_store_begin(sink_store *st, char *err, size_t errlen)
{
    st->statements++;
    if (st->dialect == SINK_DIALECT_PG)
        return sink_pg_exec(st->pg, "BEGIN", err, errlen) == PR_OK
                   ? PR_OK
                   : pr_err(PR_ETRANSIENT, err, errlen, "postgresql begin: %s",
                            sink_pg_errmsg(st->pg));
    return sink_sqlite_exec(st->db, "BEGIN IMMEDIATE", err, errlen) == PR_OK
               ? PR_OK
               : pr_err(PR_ETRANSIENT, err, errlen, "sqlite begin: %s", sqlite3_errmsg(st->db));
}

pr_status sink_store_commit(sink_store *st, char *err, size_t errlen)
{
    /* Statements must not hold read cursors open across COMMIT. */
    reset_all(st);
    sink_store_known_clear(st, false);
    st->statements++;
    if (st->dialect == SINK_DIALECT_PG) {
        if (sink_pg_exec(st->pg, "COMMIT", err, errlen) != PR_OK) {
            sink_store_names_clear(st);
            sink_store_docs_clear(st);
            return pr_err(PR_ETRANSIENT, err, errlen, "postgresql commit: %s",
                          sink_pg_errmsg(st->pg));
        }
        st->names_dirty = false;
        return PR_OK;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return pr_err(PR_ETRANSIENT, err, errlen, "sqlite commit: %s", sqlite3_errmsg(st->db));
    st->names_dirty = false;
    return PR_OK;
}

void sink_store_rollback(sink_store *st)
{
    /* names interned by the transaction are gone (a read-only one keeps what it read) */
    if (st->names_dirty)
        sink_store_names_clear(st);
    st->nipend = 0;
    sink_store_docs_clear(st);
    sink_store_known_clear(st, false);
    reset_all(st);
    if (st->dialect == SINK_DIALECT_PG) {
        if (sink_pg_in_txn(st->pg))
            sink_pg_exec(st->pg, "ROLLBACK", NULL, 0);
    } else if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

bool sink_store_in_txn(sink_store *st)
{
    return st->dialect == SINK_DIALECT_PG ? sink_pg_in_txn(st->pg)
                                          : !sqlite3_get_autocommit(st->db);
}

pr_status sink_store_read_begin(sink_store *st, char *err, size_t errlen)
{
    if (st->dialect == SINK_DIALECT_PG)
        return sink_pg_exec(st->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
                            errlen) == PR_OK
                   ? PR_OK
                   : PR_ETRANSIENT;
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return pr_err(PR_ETRANSIENT, err, errlen, "sqlite begin: %s", sqlite3_errmsg(st->db));
    return PR_OK;
}

void sink_store_read_end(sink_store *st)
{
    sink_store_rollback(st); /* nothing was written: ending the snapshot is all it does */
}

void sink_store_set_idle_timeout(sink_store *st, long ms)
{
    if (st->dialect == SINK_DIALECT_PG)
        sink_pg_set_idle_timeout(st->pg, ms);
}

bool sink_store_ping(sink_store *st)
{
    if (st->dialect == SINK_DIALECT_PG)
        return sink_pg_ping(st->pg);
    return true;
}

#define WAL_BACKSTOP_FRAMES 16000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    atomic_store((atomic_long *)arg, (long)frames);
    if (frames >= WAL_BACKSTOP_FRAMES)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

void sink_store_wal_report(sink_store *st, atomic_long *frames)
{
    if (st->db)
        sqlite3_wal_hook(st->db, wal_hook, frames); /* replaces the autocheckpoint */
}

void sink_store_checkpoint(sink_store *st)
{
    if (st->db)
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

void sink_store_set_pipeline(sink_store *st, bool on)
{
    if (st->dialect == SINK_DIALECT_PG)
        sink_pg_set_pipeline(st->pg, on);
}

long long sink_store_statements(const sink_store *st)
{
    return st->statements;
}

long long sink_store_round_trips(const sink_store *st)
{
    return st->dialect == SINK_DIALECT_PG ? sink_pg_round_trips(st->pg) : st->statements;
}
