/*
 * store_int.h - what store.c (the portable front and the SQLite store) and store_pg.c (the
 * PostgreSQL store) share. Not for the other modules: they use sink_internal.h's statement
 * layer.
 */
#ifndef SINK_STORE_INT_H
#define SINK_STORE_INT_H

#include "sink_internal.h"

/* ---- store_pg.c: one libpq connection and its statements ---------------------------- */

typedef struct sink_pg sink_pg;
typedef struct sink_pg_stmt sink_pg_stmt;

/* Connects; a writable connection creates or upgrades the schema (sink_store_open's codes). */
pr_status sink_pg_open(const char *conninfo, bool readonly, sink_pg **out, char *err,
                       size_t errlen);
void sink_pg_close(sink_pg *c); /* NULL is a no-op */
const char *sink_pg_errmsg(sink_pg *c);
/* A statement over the portable text sql (?N rewritten to $N). `name` non-NULL: prepared once
 * per connection under that name; NULL: sent with its text each time. NULL on error. */
sink_pg_stmt *sink_pg_stmt_new(sink_pg *c, const char *sql, const char *name);
void sink_pg_stmt_free(sink_pg_stmt *s);
/* Binds text (len bytes, copied) or NULL to ?i; beyond the statement's parameters: ignored. */
void sink_pg_bind(sink_pg_stmt *s, int i, const char *text, size_t len);
int sink_pg_step(sink_pg_stmt *s); /* SINK_ROW, SINK_DONE, SINK_ERROR */
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

#endif
