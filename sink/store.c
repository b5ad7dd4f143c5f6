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

/* The writer's cache of interned parameter names (name -> names.id): a full report names
 * every parameter, and the names of one model repeat on every phone. Open addressing; ids
 * inserted by a transaction that rolls back would be stale, so a rollback empties it. */
typedef struct name_slot {
    char *name;
    int64_t id;
} name_slot;

#define NAME_CACHE_MAX (1u << 20)

struct sink_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[Q__COUNT];
    name_slot *names;
    size_t ncap, nlen;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta VALUES('schema','3');"
    "CREATE TABLE IF NOT EXISTS phones("
    " id INTEGER PRIMARY KEY, mac TEXT NOT NULL UNIQUE, version INTEGER NOT NULL DEFAULT 0,"
    " complete INTEGER NOT NULL DEFAULT 0, model TEXT, firmware TEXT, first_seen TEXT NOT NULL,"
    " updated_at TEXT, status_at TEXT, report_id TEXT, source_at TEXT, digest BLOB,"
    " nparams INTEGER NOT NULL DEFAULT 0, state_bytes INTEGER NOT NULL DEFAULT 0,"
    " remote TEXT, rr_checked_at TEXT, report_requested_at TEXT, report_request TEXT);"
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

/* Schema 1 to 2: the phone row gains the digest and the bounds' counters, computed here for
 * the phones already stored (the weight approximately: JSON escapes are not counted). The
 * digest stays NULL: the next full report of each phone compares its rows once. */
static const char migrate_2_sql[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE phones ADD COLUMN digest BLOB;"
    "ALTER TABLE phones ADD COLUMN nparams INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE phones ADD COLUMN state_bytes INTEGER NOT NULL DEFAULT 0;"
    "UPDATE phones SET nparams = (SELECT count(*) FROM params WHERE phone = phones.id),"
    " state_bytes = (SELECT coalesce(sum(2 * length(CAST(n.name AS BLOB))"
    "  + length(CAST(p.value AS BLOB)) + coalesce(length(CAST(p.access AS BLOB)), 0) + 12), 0)"
    "  FROM params p JOIN names n ON n.id = p.name WHERE p.phone = phones.id);"
    "UPDATE meta SET value = '2' WHERE key = 'schema';"
    "COMMIT;";

/* Schema 2 to 3: the phone's last remote address and its re-baseline bookkeeping
 * (rebaseline.c): when it was last considered, when a NOTIFY was last sent, the last result. */
static const char migrate_3_sql[] = "BEGIN IMMEDIATE;"
                                    "ALTER TABLE phones ADD COLUMN remote TEXT;"
                                    "ALTER TABLE phones ADD COLUMN rr_checked_at TEXT;"
                                    "ALTER TABLE phones ADD COLUMN report_requested_at TEXT;"
                                    "ALTER TABLE phones ADD COLUMN report_request TEXT;"
                                    "UPDATE meta SET value = '3' WHERE key = 'schema';"
                                    "COMMIT;";

static const char *const sql_text[Q__COUNT] = {
    /* digest: SHA-256 of the parameter set of the last full report, NULL once a delta changed
     * it (apply.c); nparams, state_bytes: what the phone holds, kept with every apply so that
     * the bounds are checked without reading its parameters. */
    [Q_PHONE_GET] = "SELECT id, version, complete, first_seen, model, firmware, source_at,"
                    " digest, nparams, state_bytes FROM phones WHERE mac = ?1",
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
        " first_seen = min(first_seen, ?6), updated_at = ?6, report_id = ?7, digest = ?8,"
        " nparams = ?9, state_bytes = ?10,"
        " remote = CASE WHEN ?11 IS NOT NULL AND (remote IS NULL OR status_at IS NULL"
        "  OR ?6 >= status_at)"
        "  THEN ?11 ELSE remote END WHERE id = ?1",
    [Q_PHONE_UPDATE_STATUS] =
        "UPDATE phones SET"
        " model = CASE WHEN ?2 IS NOT NULL AND (source_at IS NULL OR ?4 >= source_at)"
        "  THEN ?2 ELSE model END,"
        " firmware = CASE WHEN ?3 IS NOT NULL AND (source_at IS NULL OR ?4 >= source_at)"
        "  THEN ?3 ELSE firmware END,"
        " source_at = CASE WHEN (?2 IS NOT NULL OR ?3 IS NOT NULL)"
        "  AND (source_at IS NULL OR ?4 >= source_at) THEN ?4 ELSE source_at END,"
        " first_seen = min(first_seen, ?4), status_at = ?4,"
        " remote = CASE WHEN ?5 IS NOT NULL AND (remote IS NULL OR updated_at IS NULL"
        "  OR ?4 >= updated_at)"
        "  THEN ?5 ELSE remote END WHERE id = ?1",
    [Q_PHONE_LIST_ALL] = "SELECT id, mac, version FROM phones WHERE id > ?1 ORDER BY id LIMIT ?2",
    /* Parameter names are interned in `names` (an 8800 profile repeats the same ~1,800
     * names on every phone): a params row holds the name's integer id. */
    [Q_NAME_GET] = "SELECT id FROM names WHERE name = ?1",
    [Q_NAME_INSERT] = "INSERT INTO names(name) VALUES(?1)",
    /* By name id (sink_store_name_id): what apply.c reads and writes. */
    [Q_PARAM_GET_ID] = "SELECT value, access FROM params WHERE phone = ?1 AND name = ?2",
    [Q_PARAM_PUT_ID] = "INSERT INTO params(phone, name, value, access) VALUES(?1, ?2, ?3, ?4)"
                       " ON CONFLICT(phone, name) DO UPDATE SET value = excluded.value,"
                       " access = excluded.access",
    [Q_PARAM_DELETE_ID] = "DELETE FROM params WHERE phone = ?1 AND name = ?2",
    [Q_PARAM_GET] = "SELECT value, access FROM params WHERE phone = ?1"
                    " AND name = (SELECT id FROM names WHERE name = ?2)",
    [Q_PARAM_NAMES] = "SELECT n.name, p.value, p.name FROM params p JOIN names n ON n.id = p.name"
                      " WHERE p.phone = ?1",
    [Q_PARAM_ALL] = "SELECT n.name, p.value, p.access FROM params p JOIN names n ON n.id = p.name"
                    " WHERE p.phone = ?1 ORDER BY n.name",
    [Q_STATUS_PUT] = "INSERT OR REPLACE INTO status(phone, report_id, received_at, body)"
                     " VALUES(?1, ?2, ?3, ?4)",
    [Q_REPORT_INSERT] = "INSERT INTO reports(phone, version, report_id, at, via)"
                        " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_CHANGE_INSERT] = "INSERT INTO changes(phone, report, param, old, new)"
                        " VALUES(?1, ?2, ?3, ?4, ?5)",
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
    /* Read-side documents (query.c), prepared per call on the API's connection. The phone
     * listing counts parameters from the phone row (kept by apply.c), not the params rows. */
    [Q_DOC_PHONE_BY_MAC] = "SELECT id, version, complete, model, firmware, first_seen, updated_at,"
                           " status_at, report_id, mac, remote, report_requested_at,"
                           " report_request FROM phones WHERE mac = ?1",
    [Q_DOC_PHONE_BY_ID] = "SELECT id, version, complete, model, firmware, first_seen, updated_at,"
                          " status_at, report_id, mac, remote, report_requested_at,"
                          " report_request FROM phones WHERE id = ?2",
    [Q_DOC_PHONE_PARAMS] = "SELECT nparams FROM phones WHERE id = ?1",
    [Q_DOC_PHONE_DRIFT] = "SELECT count(*) FROM drift WHERE phone = ?1",
    [Q_DOC_STATUS] = "SELECT report_id, received_at, body FROM status WHERE phone = ?1",
    [Q_DOC_CHANGES] = "SELECT c.id, r.version, n.name, c.old, c.new, r.at, r.report_id, r.via"
                      " FROM changes c JOIN names n ON n.id = c.param JOIN reports r"
                      " ON r.id = c.report WHERE c.phone = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3",
    [Q_DOC_DRIFT] =
        "SELECT p.mac, d.param, d.intended, d.actual, d.since, d.version"
        " FROM drift d JOIN phones p ON p.id = d.phone"
        " WHERE (?1 IS NULL OR p.mac = ?1) AND (p.mac > ?2 OR (p.mac = ?2 AND d.param > ?3))"
        " ORDER BY p.mac, d.param LIMIT ?4",
    [Q_DOC_COUNT_PHONES] = "SELECT count(*) FROM phones",
    [Q_DOC_COUNT_DRIFT] = "SELECT count(*) FROM drift",
    [Q_PROFILE_FILES_GET] = "SELECT mac, mtime_ns, size FROM profile_files",
    [Q_PROFILE_FILES_CLEAR] = "DELETE FROM profile_files",
    [Q_PROFILE_FILES_PUT] = "INSERT INTO profile_files VALUES(?1, ?2, ?3)",
    [Q_PHONE_DIGEST] = "SELECT digest FROM phones WHERE mac = ?1 AND complete",
    [Q_OUTBOX_GET] = "SELECT key, value FROM outbox WHERE id = ?1",
    [Q_OUTBOX_COUNT] = "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM outbox_state)",
    /* Re-baseline (rebaseline.c): phones with a known address whose state is incomplete, or
     * whose last report (configuration or status) is older than ?1 (NULL: not asked), and
     * that were not considered since ?2; the least recently considered first. */
    [Q_REBASE_CANDIDATES] = "SELECT id, mac, remote, complete FROM phones WHERE remote IS NOT NULL"
                            " AND (NOT complete OR (?1 IS NOT NULL AND CASE WHEN status_at IS NULL"
                            "  OR updated_at >= status_at THEN updated_at ELSE status_at END < ?1))"
                            " AND (rr_checked_at IS NULL OR rr_checked_at < ?2)"
                            " ORDER BY coalesce(rr_checked_at, ''), id LIMIT ?3",
    /* The outcome of considering a phone: ?3 the time a NOTIFY was sent (NULL: none was, the
     * previous time stays), ?4 the result as a JSON object (text). */
    [Q_REBASE_RESULT] = "UPDATE phones SET rr_checked_at = ?2,"
                        " report_requested_at = coalesce(?3, report_requested_at),"
                        " report_request = ?4 WHERE mac = ?1",
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
        /* journal_size_limit: a WAL that grew during a burst is cut back to 64 MiB when it
         * restarts, so the store's size on disk returns to its content. */
        if ((st = exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA journal_size_limit=67108864;", err,
                       errlen)) != PR_OK)
            goto out;
        if ((st = exec(s->db, schema_sql, err, errlen)) != PR_OK)
            goto out;
        sqlite3_stmt *probe = NULL;
        bool old = sqlite3_prepare_v2(s->db, "SELECT digest FROM phones LIMIT 0", -1, &probe,
                                      NULL) != SQLITE_OK;
        sqlite3_finalize(probe);
        if (old && (st = exec(s->db, migrate_2_sql, err, errlen)) != PR_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        old = sqlite3_prepare_v2(s->db, "SELECT remote FROM phones LIMIT 0", -1, &probe, NULL) !=
              SQLITE_OK;
        sqlite3_finalize(probe);
        if (old && (st = exec(s->db, migrate_3_sql, err, errlen)) != PR_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    st = exec(s->db, pragmas, err, errlen);
out:
    if (st != PR_OK)
        sink_store_close(s);
    else
        *out = s;
    return st;
}

static void names_clear(sink_store *st)
{
    for (size_t i = 0; i < st->ncap; i++)
        free(st->names[i].name);
    free(st->names);
    st->names = NULL;
    st->ncap = st->nlen = 0;
}

static size_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static int64_t names_find(const sink_store *st, const char *name)
{
    if (!st->ncap)
        return 0;
    for (size_t i = name_hash(name) & (st->ncap - 1);; i = (i + 1) & (st->ncap - 1)) {
        if (!st->names[i].name)
            return 0;
        if (strcmp(st->names[i].name, name) == 0)
            return st->names[i].id;
    }
}

/* Remembers name -> id; on allocation failure it simply does not (the store still answers). */
static void names_add(sink_store *st, const char *name, int64_t id)
{
    if (st->nlen >= NAME_CACHE_MAX)
        names_clear(st);
    if ((st->nlen + 1) * 2 > st->ncap) {
        size_t cap = st->ncap ? st->ncap * 2 : 4096;
        name_slot *old = st->names, *n = calloc(cap, sizeof *n);
        size_t oldcap = st->ncap;
        if (!n)
            return;
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].name)
                continue;
            size_t j = name_hash(old[i].name) & (cap - 1);
            while (n[j].name)
                j = (j + 1) & (cap - 1);
            n[j] = old[i];
        }
        free(old);
        st->names = n;
        st->ncap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return;
    size_t i = name_hash(name) & (st->ncap - 1);
    while (st->names[i].name)
        i = (i + 1) & (st->ncap - 1);
    st->names[i].name = copy;
    st->names[i].id = id;
    st->nlen++;
}

pr_status sink_store_name_id(sink_store *st, const char *name, bool create, int64_t *id, char *err,
                             size_t errlen)
{
    if ((*id = names_find(st, name)) != 0)
        return PR_OK;
    sqlite3_stmt *s = sink_store_stmt(st, Q_NAME_GET);
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "names: %s", sqlite3_errmsg(st->db));
    sink_bind_text(s, 1, name);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (r == SQLITE_DONE && create) {
        if (!(s = sink_store_stmt(st, Q_NAME_INSERT)))
            return pr_err(PR_EFATAL, err, errlen, "names: %s", sqlite3_errmsg(st->db));
        sink_bind_text(s, 1, name);
        r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r == SQLITE_DONE) {
            *id = sqlite3_last_insert_rowid(st->db);
            r = SQLITE_ROW;
        }
    }
    if (r == SQLITE_DONE)
        return PR_ENOTFOUND;
    if (r != SQLITE_ROW)
        return pr_err(PR_EFATAL, err, errlen, "names: %s", sqlite3_errmsg(st->db));
    names_add(st, name, *id);
    return PR_OK;
}

void sink_store_close(sink_store *st)
{
    if (!st)
        return;
    names_clear(st);
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

sqlite3 *sink_store_db(sink_store *st)
{
    return st->db;
}

const char *sink_store_sql(sink_sql q)
{
    return (unsigned)q < Q__COUNT ? sql_text[q] : NULL;
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
    names_clear(st);
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

pr_status sink_store_read_begin(sink_store *st, char *err, size_t errlen)
{
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return pr_err(PR_ETRANSIENT, err, errlen, "sqlite begin: %s", sqlite3_errmsg(st->db));
    return PR_OK;
}

void sink_store_read_end(sink_store *st)
{
    sink_store_rollback(st); /* nothing was written: ending the snapshot is all it does */
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
    sqlite3_wal_hook(st->db, wal_hook, frames); /* replaces the autocheckpoint */
}

void sink_store_checkpoint(sink_store *st)
{
    sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

pr_status sink_store_phone_digest(sink_store *st, const char *mac, unsigned char digest[32])
{
    sqlite3_stmt *s = sink_store_stmt(st, Q_PHONE_DIGEST);
    pr_status rc = PR_ENOTFOUND;
    if (!s)
        return PR_EFATAL;
    sink_bind_text(s, 1, mac);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 32) {
        memcpy(digest, sqlite3_column_blob(s, 0), 32);
        rc = PR_OK;
    } else if (r != SQLITE_ROW && r != SQLITE_DONE) {
        rc = PR_EFATAL;
    }
    sqlite3_reset(s);
    return rc;
}

pr_status sink_store_outbox_get(sink_store *st, int64_t id, char **key, char **value)
{
    sqlite3_stmt *s = sink_store_stmt(st, Q_OUTBOX_GET);
    *key = *value = NULL;
    if (!s)
        return PR_EFATAL;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *key = strdup(sink_col_text(s, 0));
        *value = strdup(sink_col_text(s, 1));
        if (!*key || !*value) {
            free(*key);
            free(*value);
            *key = *value = NULL;
            r = SQLITE_NOMEM;
        } else {
            r = SQLITE_DONE;
        }
    }
    sqlite3_reset(s);
    return r == SQLITE_DONE ? PR_OK : PR_EFATAL;
}

pr_status sink_store_outbox_count(sink_store *st, int64_t *n)
{
    sqlite3_stmt *s = sink_store_stmt(st, Q_OUTBOX_COUNT);
    int r = s ? sqlite3_step(s) : SQLITE_ERROR;
    if (r == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return r == SQLITE_ROW ? PR_OK : PR_EFATAL;
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
    if (sqlite3_prepare_v2(st->db, sql_text[Q_PROFILE_FILES_GET], -1, &s, NULL) != SQLITE_OK)
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
    if (exec(st->db, sql_text[Q_PROFILE_FILES_CLEAR], err, errlen) != PR_OK)
        return PR_EFATAL;
    if (sqlite3_prepare_v2(st->db, sql_text[Q_PROFILE_FILES_PUT], -1, &s, NULL) != SQLITE_OK ||
        sink_profiles_each_file(p, save_file, s) != 0)
        rc = pr_err(PR_EFATAL, err, errlen, "profile_files: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return rc;
}
