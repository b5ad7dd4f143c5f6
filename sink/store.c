/*
 * store.c - the sink's SQLite store: schema, connection set-up, cached statements,
 * transactions, applied offsets and the outbox.
 *
 * DESIGN: one file <data-dir>/sink.db in WAL mode. Phones get an integer id so that a
 * parameter row costs (id, name, value, access) and not the MAC again; params, drift and
 * status are keyed by (phone, name) in WITHOUT ROWID tables, so a delta touches only the rows
 * it names. The applied offsets and the outbox rows live in the same database and are written
 * in the same transaction as the state they belong to (DESIGN section 4). Each thread opens
 * its own connection; the writer uses BEGIN IMMEDIATE and a busy timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sink_internal.h"

struct sink_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[Q__COUNT];
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta VALUES('schema','1');"
    "CREATE TABLE IF NOT EXISTS phones("
    " id INTEGER PRIMARY KEY, mac TEXT NOT NULL UNIQUE, version INTEGER NOT NULL DEFAULT 0,"
    " complete INTEGER NOT NULL DEFAULT 0, model TEXT, firmware TEXT, first_seen TEXT NOT NULL,"
    " updated_at TEXT, status_at TEXT, report_id TEXT, source_at TEXT);"
    "CREATE TABLE IF NOT EXISTS names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS params(phone INTEGER NOT NULL, name INTEGER NOT NULL,"
    " value TEXT NOT NULL, access TEXT, PRIMARY KEY(phone, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS status(phone INTEGER PRIMARY KEY, report_id TEXT,"
    " received_at TEXT, body TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS reports(id INTEGER PRIMARY KEY, phone INTEGER NOT NULL,"
    " version INTEGER NOT NULL, report_id TEXT, at TEXT NOT NULL, via TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS reports_by_phone ON reports(phone, id);"
    "CREATE TABLE IF NOT EXISTS changes(id INTEGER PRIMARY KEY, phone INTEGER NOT NULL,"
    " report INTEGER NOT NULL, param INTEGER NOT NULL, old TEXT, new TEXT);"
    "CREATE INDEX IF NOT EXISTS changes_by_phone ON changes(phone, id);"
    "CREATE TABLE IF NOT EXISTS drift(phone INTEGER NOT NULL, param TEXT NOT NULL,"
    " intended TEXT, actual TEXT, since TEXT NOT NULL, version INTEGER NOT NULL,"
    " PRIMARY KEY(phone, param)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS offsets(topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    " next INTEGER NOT NULL, PRIMARY KEY(topic, partition)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, topic INTEGER NOT "
    "NULL,"
    " key TEXT NOT NULL, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS profile_files(mac TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL,"
    " size INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox_state(phone INTEGER PRIMARY KEY,"
    " version INTEGER NOT NULL);"
    /* fleet search (fleet.c): phones by a parameter's value, by model, by firmware */
    "CREATE INDEX IF NOT EXISTS params_by_value ON params(name, value);"
    "CREATE INDEX IF NOT EXISTS phones_by_model ON phones(model);"
    "CREATE INDEX IF NOT EXISTS phones_by_firmware ON phones(firmware);";

static const char *const sql_text[Q__COUNT] = {
    [Q_PHONE_GET] = "SELECT id, version, complete, first_seen FROM phones WHERE mac = ?1",
    [Q_PHONE_INSERT] = "INSERT INTO phones(mac, first_seen) VALUES(?1, ?2)",
    /* model/firmware come from the report with the latest received_at that names them, and
     * first_seen is the earliest: the result does not depend on how the config and status
     * topics interleave. */
    [Q_PHONE_UPDATE_CONFIG] =
        "UPDATE phones SET version = ?2, complete = ?3,"
        " model = CASE WHEN ?4 IS NOT NULL AND (source_at IS NULL OR ?6 >= source_at)"
        "  THEN ?4 ELSE model END,"
        " firmware = CASE WHEN ?5 IS NOT NULL AND (source_at IS NULL OR ?6 >= source_at)"
        "  THEN ?5 ELSE firmware END,"
        " source_at = CASE WHEN (?4 IS NOT NULL OR ?5 IS NOT NULL)"
        "  AND (source_at IS NULL OR ?6 >= source_at) THEN ?6 ELSE source_at END,"
        " first_seen = min(first_seen, ?6), updated_at = ?6, report_id = ?7 WHERE id = ?1",
    [Q_PHONE_UPDATE_STATUS] =
        "UPDATE phones SET"
        " model = CASE WHEN ?2 IS NOT NULL AND (source_at IS NULL OR ?4 >= source_at)"
        "  THEN ?2 ELSE model END,"
        " firmware = CASE WHEN ?3 IS NOT NULL AND (source_at IS NULL OR ?4 >= source_at)"
        "  THEN ?3 ELSE firmware END,"
        " source_at = CASE WHEN (?2 IS NOT NULL OR ?3 IS NOT NULL)"
        "  AND (source_at IS NULL OR ?4 >= source_at) THEN ?4 ELSE source_at END,"
        " first_seen = min(first_seen, ?4), status_at = ?4 WHERE id = ?1",
    [Q_PHONE_LIST_ALL] = "SELECT id, mac, version FROM phones WHERE id > ?1 ORDER BY id LIMIT ?2",
    /* Parameter names are interned in `names` (an 8800 profile repeats the same ~1,800
     * names on every phone): a params row holds the name's integer id. */
    [Q_NAME_PUT] = "INSERT INTO names(name) VALUES(?1) ON CONFLICT(name) DO NOTHING",
    [Q_PARAM_GET] = "SELECT value, access FROM params WHERE phone = ?1"
                    " AND name = (SELECT id FROM names WHERE name = ?2)",
    [Q_PARAM_UPSERT] = "INSERT INTO params(phone, name, value, access)"
                       " VALUES(?1, (SELECT id FROM names WHERE name = ?2), ?3, ?4)"
                       " ON CONFLICT(phone, name) DO UPDATE SET value = excluded.value,"
                       " access = excluded.access",
    [Q_PARAM_DELETE] = "DELETE FROM params WHERE phone = ?1"
                       " AND name = (SELECT id FROM names WHERE name = ?2)",
    [Q_PARAM_NAMES] = "SELECT n.name, p.value FROM params p JOIN names n ON n.id = p.name"
                      " WHERE p.phone = ?1",
    [Q_PARAM_ALL] = "SELECT n.name, p.value, p.access FROM params p JOIN names n ON n.id = p.name"
                    " WHERE p.phone = ?1 ORDER BY n.name",
    [Q_STATUS_PUT] = "INSERT OR REPLACE INTO status(phone, report_id, received_at, body)"
                     " VALUES(?1, ?2, ?3, ?4)",
    [Q_REPORT_INSERT] = "INSERT INTO reports(phone, version, report_id, at, via)"
                        " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_CHANGE_INSERT] = "INSERT INTO changes(phone, report, param, old, new)"
                        " VALUES(?1, ?2, (SELECT id FROM names WHERE name = ?3), ?4, ?5)",
    /* Keeps at most ?2 change rows per phone, dropping whole reports, oldest first. */
    [Q_CHANGE_PRUNE] = "DELETE FROM changes WHERE phone = ?1 AND report <= (SELECT report FROM"
                       " changes WHERE phone = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    [Q_REPORT_PRUNE] = "DELETE FROM reports WHERE phone = ?1 AND id < (SELECT"
                       " coalesce(min(report), 9223372036854775807) FROM changes WHERE phone = ?1)",
    [Q_DRIFT_GET] = "SELECT intended, actual FROM drift WHERE phone = ?1 AND param = ?2",
    [Q_DRIFT_INSERT] = "INSERT INTO drift(phone, param, intended, actual, since, version)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_DRIFT_UPDATE] =
        "UPDATE drift SET intended = ?3, actual = ?4 WHERE phone = ?1 AND param = ?2",
    [Q_DRIFT_DELETE] = "DELETE FROM drift WHERE phone = ?1 AND param = ?2",
    [Q_DRIFT_NAMES] = "SELECT param FROM drift WHERE phone = ?1",
    [Q_OFFSET_PUT] = "INSERT INTO offsets(topic, partition, next) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(topic, partition) DO UPDATE SET next = excluded.next",
    [Q_OFFSET_GET] = "SELECT next FROM offsets WHERE topic = ?1 AND partition = ?2",
    [Q_OUTBOX_PUT] = "INSERT INTO outbox(topic, key, value) VALUES(?1, ?2, ?3)",
    [Q_OUTBOX_STATE_PUT] = "INSERT INTO outbox_state(phone, version) VALUES(?1, ?2)"
                           " ON CONFLICT(phone) DO UPDATE SET version = excluded.version",
    [Q_OUTBOX_NEXT] = "SELECT id, topic, key, value FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    [Q_OUTBOX_STATE_NEXT] = "SELECT phone, version FROM outbox_state WHERE phone > ?1"
                            " ORDER BY phone LIMIT ?2",
    [Q_OUTBOX_STATE_DELETE] = "DELETE FROM outbox_state WHERE phone = ?1 AND version <= ?2",
};

static pr_status exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        pr_status st = pr_err(PR_EFATAL, err, errlen, "sqlite: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return st;
    }
    return PR_OK;
}

pr_status sink_store_open(const char *dir, bool readonly, const char *sync, sink_store **out,
                          char *err, size_t errlen)
{
    pr_status st = PR_OK;
    char path[4096], pragmas[160];
    sink_store *s = NULL;
    *out = NULL;
    if (!readonly && mkdir(dir, 0750) != 0 && errno != EEXIST)
        return pr_err(PR_EFATAL, err, errlen, "cannot create %s: %s", dir, strerror(errno));
    if ((size_t)snprintf(path, sizeof path, "%s/sink.db", dir) >= sizeof path)
        return pr_err(PR_EFATAL, err, errlen, "data-dir path too long");
    s = calloc(1, sizeof *s);
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
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
        if ((st = exec(s->db, "PRAGMA journal_mode=WAL;", err, errlen)) != PR_OK)
            goto out;
        if ((st = exec(s->db, schema_sql, err, errlen)) != PR_OK)
            goto out;
    }
    st = exec(s->db, pragmas, err, errlen);
out:
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
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

sqlite3 *sink_store_db(sink_store *st)
{
    return st->db;
}

sqlite3_stmt *sink_store_stmt(sink_store *st, sink_sql q)
{
    if ((unsigned)q >= Q__COUNT)
        return NULL;
    if (!st->stmt[q]) {
        if (sqlite3_prepare_v3(st->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[q],
                               NULL) != SQLITE_OK)
            return NULL;
    } else {
        sqlite3_reset(st->stmt[q]);
        sqlite3_clear_bindings(st->stmt[q]);
    }
    return st->stmt[q];
}

pr_status sink_store_begin(sink_store *st, char *err, size_t errlen)
{
    return exec(st->db, "BEGIN IMMEDIATE", err, errlen) == PR_OK
               ? PR_OK
               : pr_err(PR_ETRANSIENT, err, errlen, "sqlite begin: %s", sqlite3_errmsg(st->db));
}

pr_status sink_store_commit(sink_store *st, char *err, size_t errlen)
{
    /* Statements must not hold read cursors open across COMMIT. */
    for (int i = 0; i < Q__COUNT; i++)
        if (st->stmt[i])
            sqlite3_reset(st->stmt[i]);
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return pr_err(PR_ETRANSIENT, err, errlen, "sqlite commit: %s", sqlite3_errmsg(st->db));
    return PR_OK;
}

void sink_store_rollback(sink_store *st)
{
    for (int i = 0; i < Q__COUNT; i++)
        if (st->stmt[i])
            sqlite3_reset(st->stmt[i]);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

bool sink_store_in_txn(sink_store *st)
{
    return !sqlite3_get_autocommit(st->db);
}

int sink_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

const char *sink_col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

int64_t sink_store_offset_get(sink_store *st, const char *topic, int32_t partition)
{
    sqlite3_stmt *s = sink_store_stmt(st, Q_OFFSET_GET);
    int64_t next = -1;
    if (!s)
        return -2;
    sink_bind_text(s, 1, topic);
    sqlite3_bind_int(s, 2, partition);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        next = sqlite3_column_int64(s, 0);
    else if (r != SQLITE_DONE)
        next = -2;
    sqlite3_reset(s);
    return next;
}

pr_status sink_store_offset_put(sink_store *st, const char *topic, int32_t partition, int64_t next,
                                char *err, size_t errlen)
{
    sqlite3_stmt *s = sink_store_stmt(st, Q_OFFSET_PUT);
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "sqlite: %s", sqlite3_errmsg(st->db));
    sink_bind_text(s, 1, topic);
    sqlite3_bind_int(s, 2, partition);
    sqlite3_bind_int64(s, 3, next);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE
               ? PR_OK
               : pr_err(PR_EFATAL, err, errlen, "offset store: %s", sqlite3_errmsg(st->db));
}

pr_status sink_store_outbox_put(sink_store *st, pr_topic topic, const char *key, json_t *value,
                                char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
    sqlite3_stmt *s = sink_store_stmt(st, Q_OUTBOX_PUT);
    if (!text || !s) {
        rc = pr_err(PR_EFATAL, err, errlen, "outbox: %s",
                    !text ? "out of memory" : sqlite3_errmsg(st->db));
        goto out;
    }
    sqlite3_bind_int(s, 1, (int)topic);
    sink_bind_text(s, 2, key);
    sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = pr_err(PR_EFATAL, err, errlen, "outbox: %s", sqlite3_errmsg(st->db));
    sqlite3_reset(s);
out:
    free(text);
    json_decref(value);
    return rc;
}

pr_status sink_store_profiles_load(sink_store *st, sink_profiles *p)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT mac, mtime_ns, size FROM profile_files", -1, &s, NULL) !=
        SQLITE_OK)
        return PR_EFATAL;
    while (sqlite3_step(s) == SQLITE_ROW)
        sink_profiles_remember(p, sink_col_text(s, 0), sqlite3_column_int64(s, 1),
                               sqlite3_column_int64(s, 2));
    sqlite3_finalize(s);
    return PR_OK;
}

static int save_file(void *ctx, const char *mac, long long mtime_ns, long long size)
{
    sqlite3_stmt *s = ctx;
    sqlite3_bind_text(s, 1, mac, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, mtime_ns);
    sqlite3_bind_int64(s, 3, size);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : -1;
}

pr_status sink_store_profiles_save(sink_store *st, const sink_profiles *p, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    pr_status rc = PR_OK;
    if (exec(st->db, "DELETE FROM profile_files", err, errlen) != PR_OK)
        return PR_EFATAL;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO profile_files VALUES(?1, ?2, ?3)", -1, &s, NULL) !=
            SQLITE_OK ||
        sink_profiles_each_file(p, save_file, s) != 0)
        rc = pr_err(PR_EFATAL, err, errlen, "profile_files: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return rc;
}
