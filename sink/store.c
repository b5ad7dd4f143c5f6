/*
 * store.c - the sink's store: the statement table, the portable statement layer that every
 * module uses (sink_internal.h), transactions, applied offsets, the outbox, and the SQLite
 * implementation (the embedded default). store_pg.c implements the same layer over libpq.
 *
 * DESIGN: one file <data-dir>/sink.db in WAL mode. Phones get an integer id so that a
 * parameter row costs (id, name, value, access) and not the MAC again; params, drift and
 * status are keyed by (phone, name) in WITHOUT ROWID tables, so a delta touches only the rows
 * it names. The applied offsets and the outbox rows live in the same database and are written
 * in the same transaction as the state they belong to (DESIGN section 4). Each thread opens
 * its own connection; the writer uses BEGIN IMMEDIATE and a busy timeout.
 *
 * Every SQL text lives once in sql_text (?N placeholders, accepted by SQLite 3.40 and, with
 * ?N rewritten to $N, by PostgreSQL 15); pg_text overrides it only where the dialects differ
 * (scalar min/max, the partition filters that only a shared store needs, row locks).
 * The statement handle is a thin wrapper: on SQLite each call is one sqlite3_* call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

/* The writer's cache of interned parameter names (name -> names.id): a full report names
 * every parameter, and the names of one model repeat on every phone. Open addressing; ids
 * inserted by a transaction that rolls back would be stale, so a rollback empties it. */
typedef struct name_slot {
    char *name;
    int64_t id;
} name_slot;

#define NAME_CACHE_MAX (1u << 20)

/* The schema this build writes (meta 'schema'); a newer one is refused. */
#define STORE_SQLITE_SCHEMA 4

struct sink_stmt {
    sink_store *st;
    bool cached;
    sqlite3_stmt *lite;
    sink_pg_stmt *pg;
};

struct sink_store {
    sink_dialect dialect;
    sqlite3 *db;
    sink_pg *pg;
    sink_stmt stmt[Q__COUNT];
    name_slot *names;
    size_t ncap, nlen;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta VALUES('schema','4');"
    "CREATE TABLE IF NOT EXISTS phones("
    " id INTEGER PRIMARY KEY, mac TEXT NOT NULL UNIQUE, version INTEGER NOT NULL DEFAULT 0,"
    " complete INTEGER NOT NULL DEFAULT 0, model TEXT, firmware TEXT, first_seen TEXT NOT NULL,"
    " updated_at TEXT, status_at TEXT, report_id TEXT, source_at TEXT, digest BLOB,"
    " nparams INTEGER NOT NULL DEFAULT 0, state_bytes INTEGER NOT NULL DEFAULT 0,"
    " remote TEXT, rr_checked_at TEXT, report_requested_at TEXT, report_request TEXT,"
    " part INTEGER NOT NULL DEFAULT -1);"
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
    "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " part INTEGER NOT NULL DEFAULT -1);"
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
    "ALTER TABLE phones ADD COLUMN digest BLOB;"
    "ALTER TABLE phones ADD COLUMN nparams INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE phones ADD COLUMN state_bytes INTEGER NOT NULL DEFAULT 0;"
    "UPDATE phones SET nparams = (SELECT count(*) FROM params WHERE phone = phones.id),"
    " state_bytes = (SELECT coalesce(sum(2 * length(CAST(n.name AS BLOB))"
    "  + length(CAST(p.value AS BLOB)) + coalesce(length(CAST(p.access AS BLOB)), 0) + 12), 0)"
    "  FROM params p JOIN names n ON n.id = p.name WHERE p.phone = phones.id);"
    "UPDATE meta SET value = '2' WHERE key = 'schema';";

/* Schema 3 to 4: phones and outbox rows know their partition (used by a shared PostgreSQL
 * store; -1 until the phone's next report says). */
static const char migrate_4_sql[] =
    "ALTER TABLE phones ADD COLUMN part INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE outbox ADD COLUMN part INTEGER NOT NULL DEFAULT -1;"
    "UPDATE meta SET value = '4' WHERE key = 'schema';";

/* Phone columns that a config or status report sets: model/firmware come from the report with
 * the latest received_at that names them, and first_seen is the earliest, so the result does not
 * depend on how the config and status topics interleave. M, F: the model and firmware
 * placeholders, AT: received_at. MIN: the dialect's two-argument minimum. */
#define SOURCE_COLS(M, F, AT, MIN)                                                                 \
    " model = CASE WHEN " M " IS NOT NULL AND (source_at IS NULL OR " AT " >= source_at)"          \
    "  THEN " M " ELSE model END,"                                                                 \
    " firmware = CASE WHEN " F " IS NOT NULL AND (source_at IS NULL OR " AT " >= source_at)"       \
    "  THEN " F " ELSE firmware END,"                                                              \
    " source_at = CASE WHEN (" M " IS NOT NULL OR " F " IS NOT NULL)"                              \
    "  AND (source_at IS NULL OR " AT " >= source_at) THEN " AT " ELSE source_at END,"             \
    " first_seen = " MIN "(first_seen, " AT "),"

/* T: a cast for the placeholders that PostgreSQL must type (IS NULL says nothing). The remote
 * address comes from the latest report, configuration or status (rebaseline.c). */
#define UPDATE_CONFIG(MIN, T)                                                                      \
    "UPDATE phones SET version = ?2, complete = ?3," SOURCE_COLS(                                  \
        "?4" T, "?5" T, "?6" T,                                                                    \
        MIN) " updated_at = ?6, report_id = ?7, digest = ?8,"                                      \
             " nparams = ?9, state_bytes = ?10,"                                                   \
             " remote = CASE WHEN ?11" T " IS NOT NULL AND (remote IS NULL OR status_at IS NULL"   \
             "  OR ?6 >= status_at) THEN ?11 ELSE remote END, part = ?12 WHERE id = ?1"
#define UPDATE_STATUS(MIN, T)                                                                      \
    "UPDATE phones SET" SOURCE_COLS(                                                               \
        "?2" T, "?3" T, "?4" T,                                                                    \
        MIN) " status_at = ?4,"                                                                    \
             " remote = CASE WHEN ?5" T " IS NOT NULL AND (remote IS NULL OR updated_at IS NULL"   \
             "  OR ?4 >= updated_at) THEN ?5 ELSE remote END, part = ?6 WHERE id = ?1"

/* Schema 2 to 3: the phone's last remote address and its re-baseline bookkeeping
 * (rebaseline.c): when it was last considered, when a NOTIFY was last sent, the last result. */
static const char migrate_3_sql[] = "ALTER TABLE phones ADD COLUMN remote TEXT;"
                                    "ALTER TABLE phones ADD COLUMN rr_checked_at TEXT;"
                                    "ALTER TABLE phones ADD COLUMN report_requested_at TEXT;"
                                    "ALTER TABLE phones ADD COLUMN report_request TEXT;"
                                    "UPDATE meta SET value = '3' WHERE key = 'schema';";

static const char *const sql_text[Q__COUNT] = {
    /* digest: SHA-256 of the parameter set of the last full report, NULL once a delta changed
     * it (apply.c); nparams, state_bytes: what the phone holds, kept with every apply so that
     * the bounds are checked without reading its parameters. */
    [Q_PHONE_GET] = "SELECT id, version, complete, first_seen, model, firmware, source_at,"
                    " digest, nparams, state_bytes, part FROM phones WHERE mac = ?1",
    [Q_PHONE_INSERT] = "INSERT INTO phones(mac, first_seen, part) VALUES(?1, ?2, ?3) RETURNING id",
    [Q_PHONE_UPDATE_CONFIG] = UPDATE_CONFIG("min", ""),
    [Q_PHONE_UPDATE_STATUS] = UPDATE_STATUS("min", ""),
    [Q_PHONE_LIST_ALL] =
        "SELECT id, mac, version, part FROM phones WHERE id > ?1 ORDER BY id LIMIT ?2",
    /* Parameter names are interned in `names` (an 8800 profile repeats the same ~1,800
     * names on every phone): a params row holds the name's integer id. */
    [Q_NAME_GET] = "SELECT id FROM names WHERE name = ?1",
    /* DO NOTHING: another sink sharing the store may intern the same name meanwhile (then no row
     * comes back and the caller reads it). */
    [Q_NAME_INSERT] =
        "INSERT INTO names(name) VALUES(?1) ON CONFLICT(name) DO NOTHING RETURNING id",
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
    [Q_STATUS_PUT] = "INSERT INTO status(phone, report_id, received_at, body)"
                     " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(phone) DO UPDATE SET"
                     " report_id = excluded.report_id, received_at = excluded.received_at,"
                     " body = excluded.body",
    [Q_REPORT_INSERT] = "INSERT INTO reports(phone, version, report_id, at, via)"
                        " VALUES(?1, ?2, ?3, ?4, ?5) RETURNING id",
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
    [Q_OUTBOX_PUT] = "INSERT INTO outbox(topic, key, value, part) VALUES(?1, ?2, ?3, ?4)",
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
    [Q_PHONE_DIGEST] = "SELECT digest FROM phones WHERE mac = ?1 AND complete <> 0",
    [Q_OUTBOX_GET] = "SELECT key, value FROM outbox WHERE id = ?1",
    [Q_OUTBOX_COUNT] = "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM outbox_state)",
    /* Re-baseline (rebaseline.c): phones with a known address whose state is incomplete, or
     * whose last report (configuration or status) is older than ?1 (NULL: not asked), and
     * that were not considered since ?2; the least recently considered first. */
    [Q_REBASE_CANDIDATES] = "SELECT id, mac, remote, complete FROM phones WHERE remote IS NOT NULL"
                            " AND (complete = 0 OR (?1 IS NOT NULL AND CASE WHEN status_at IS NULL"
                            "  OR updated_at >= status_at THEN updated_at ELSE status_at END < ?1))"
                            " AND (rr_checked_at IS NULL OR rr_checked_at < ?2)"
                            " ORDER BY coalesce(rr_checked_at, ''), id LIMIT ?3",
    /* The outcome of considering a phone: ?3 the time a NOTIFY was sent (NULL: none was, the
     * previous time stays), ?4 the result as a JSON object (text). */
    [Q_REBASE_RESULT] = "UPDATE phones SET rr_checked_at = ?2,"
                        " report_requested_at = coalesce(?3, report_requested_at),"
                        " report_request = ?4 WHERE mac = ?1",
    /* Partition ownership: PostgreSQL only (pg_text). */
};

/* PostgreSQL's own texts where the dialects differ. ?3 of the listings is the owned partitions
 * ({0,3}): with several sinks on one store, each touches only its partitions' phones and rows. */
static const char *const pg_text[Q__COUNT] = {
    /* FOR UPDATE: a phone's config and status can be applied by two sinks for a moment (while
     * a partition moves); the second waits for the first's commit instead of losing its update. */
    [Q_PHONE_GET] = "SELECT id, version, complete, first_seen, model, firmware, source_at,"
                    " digest, nparams, state_bytes, part FROM phones WHERE mac = ?1 FOR UPDATE",
    [Q_PHONE_UPDATE_CONFIG] = UPDATE_CONFIG("least", "::text"),
    [Q_PHONE_UPDATE_STATUS] = UPDATE_STATUS("least", "::text"),
    [Q_PHONE_LIST_ALL] = "SELECT id, mac, version, part FROM phones WHERE id > ?1"
                         " AND (?3::int[] IS NULL OR part = ANY(?3::int[])) ORDER BY id LIMIT ?2",
    [Q_OUTBOX_NEXT] = "SELECT id, topic, key, value FROM outbox WHERE id > ?1"
                      " AND (?3::int[] IS NULL OR part = ANY(?3::int[])) ORDER BY id LIMIT ?2",
    [Q_OUTBOX_STATE_NEXT] = "SELECT o.phone, o.version FROM outbox_state o JOIN phones p"
                            " ON p.id = o.phone WHERE o.phone > ?1"
                            " AND (?3::int[] IS NULL OR p.part = ANY(?3::int[]))"
                            " ORDER BY o.phone LIMIT ?2",
    [Q_DOC_DRIFT] =
        "SELECT p.mac, d.param, d.intended, d.actual, d.since, d.version"
        " FROM drift d JOIN phones p ON p.id = d.phone"
        " WHERE (?1::text IS NULL OR p.mac = ?1) AND (p.mac > ?2 OR (p.mac = ?2 AND d.param > ?3))"
        " ORDER BY p.mac, d.param LIMIT ?4",
    [Q_REBASE_CANDIDATES] =
        "SELECT id, mac, remote, complete FROM phones WHERE remote IS NOT NULL"
        " AND (complete = 0 OR (?1::text IS NOT NULL AND CASE WHEN status_at IS NULL"
        "  OR updated_at >= status_at THEN updated_at ELSE status_at END < ?1::text))"
        " AND (rr_checked_at IS NULL OR rr_checked_at < ?2::text)"
        " ORDER BY coalesce(rr_checked_at, ''), id LIMIT ?3",
    /* The publisher never waits for the writer's row locks (it deletes many markers in one
     * transaction while the writer upserts others: the two deadlocked). A marker the writer
     * holds is being raised to a newer version anyway: left for the next pass. */
    [Q_OUTBOX_STATE_DELETE] = "DELETE FROM outbox_state WHERE phone = (SELECT phone FROM"
                              " outbox_state WHERE phone = ?1 AND version <= ?2"
                              " FOR UPDATE SKIP LOCKED)",
    /* The new owner of a partition raises its epoch; the old owner's next commit sees it. */
    [Q_OWNER_CLAIM] = "INSERT INTO partition_owner(topic, partition, epoch, owner)"
                      " VALUES(?1, ?2, 1, ?3) ON CONFLICT(topic, partition) DO UPDATE"
                      " SET epoch = partition_owner.epoch + 1, owner = excluded.owner"
                      " RETURNING epoch",
    [Q_OWNER_CHECK] = "SELECT epoch FROM partition_owner WHERE topic = ?1 AND partition = ?2"
                      " FOR UPDATE",
};

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

const char *sink_store_sql(sink_sql q)
{
    return (unsigned)q < Q__COUNT ? sql_text[q] : NULL;
}

static const char *dialect_sql(const sink_store *st, sink_sql q)
{
    if (st->dialect == SINK_DIALECT_PG && pg_text[q])
        return pg_text[q];
    return sql_text[q];
}

sink_stmt *sink_store_stmt(sink_store *st, sink_sql q)
{
    if ((unsigned)q >= Q__COUNT)
        return NULL;
    sink_stmt *s = &st->stmt[q];
    const char *sql = dialect_sql(st, q);
    if (!sql)
        return NULL;
    if (st->dialect == SINK_DIALECT_PG) {
        if (!s->pg) {
            char name[16];
            snprintf(name, sizeof name, "q%d", (int)q);
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
        sink_pg_bind(s->pg, i, v, v ? strlen(v) : 0);
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

static int schema_of(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static bool has_column(sqlite3 *db, const char *col)
{
    char sql[96];
    sqlite3_stmt *probe = NULL;
    snprintf(sql, sizeof sql, "SELECT %s FROM phones LIMIT 0", col);
    bool has = sqlite3_prepare_v2(db, sql, -1, &probe, NULL) == SQLITE_OK;
    sqlite3_finalize(probe);
    return has;
}

/* Creates the schema or brings an older one to STORE_SQLITE_SCHEMA, in one transaction. */
static pr_status sqlite_schema(sqlite3 *db, char *err, size_t errlen)
{
    pr_status st;
    if ((st = exec(db, "BEGIN IMMEDIATE", err, errlen)) != PR_OK)
        return st;
    int v = schema_of(db);
    if (v > STORE_SQLITE_SCHEMA) {
        st = pr_err(PR_EINVAL, err, errlen,
                    "the store's schema is version %d, newer than this phonereport knows (%d): "
                    "run a newer phonereport",
                    v, STORE_SQLITE_SCHEMA);
        goto out;
    }
    /* each step adds columns: probed, so that a step is never run twice */
    if (v > 0 && !has_column(db, "digest") && (st = exec(db, migrate_2_sql, err, errlen)) != PR_OK)
        goto out;
    if (v > 0 && !has_column(db, "remote") && (st = exec(db, migrate_3_sql, err, errlen)) != PR_OK)
        goto out;
    if (v > 0 && !has_column(db, "part") && (st = exec(db, migrate_4_sql, err, errlen)) != PR_OK)
        goto out;
    if ((st = exec(db, schema_sql, err, errlen)) != PR_OK)
        goto out;
    st = exec(db, "COMMIT", err, errlen);
out:
    if (st != PR_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

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
        if ((st = exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA journal_size_limit=67108864;", err,
                       errlen)) != PR_OK)
            goto out;
        if ((st = sqlite_schema(s->db, err, errlen)) != PR_OK)
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
    names_clear(st);
    for (int i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(st->stmt[i].lite);
        sink_pg_stmt_free(st->stmt[i].pg);
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
}

pr_status sink_store_begin(sink_store *st, char *err, size_t errlen)
{
    if (st->dialect == SINK_DIALECT_PG)
        return sink_pg_exec(st->pg, "BEGIN", err, errlen) == PR_OK
                   ? PR_OK
                   : pr_err(PR_ETRANSIENT, err, errlen, "postgresql begin: %s",
                            sink_pg_errmsg(st->pg));
    return exec(st->db, "BEGIN IMMEDIATE", err, errlen) == PR_OK
               ? PR_OK
               : pr_err(PR_ETRANSIENT, err, errlen, "sqlite begin: %s", sqlite3_errmsg(st->db));
}

pr_status sink_store_commit(sink_store *st, char *err, size_t errlen)
{
    /* Statements must not hold read cursors open across COMMIT. */
    reset_all(st);
    if (st->dialect == SINK_DIALECT_PG) {
        if (sink_pg_exec(st->pg, "COMMIT", err, errlen) != PR_OK) {
            names_clear(st);
            return pr_err(PR_ETRANSIENT, err, errlen, "postgresql commit: %s",
                          sink_pg_errmsg(st->pg));
        }
        return PR_OK;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return pr_err(PR_ETRANSIENT, err, errlen, "sqlite commit: %s", sqlite3_errmsg(st->db));
    return PR_OK;
}

void sink_store_rollback(sink_store *st)
{
    names_clear(st);
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

/* ---- names, offsets, outbox, ownership, profile files ---------------------------------- */

pr_status sink_store_name_id(sink_store *st, const char *name, bool create, int64_t *id, char *err,
                             size_t errlen)
{
    if ((*id = names_find(st, name)) != 0)
        return PR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        sink_stmt *s = sink_store_stmt(st, Q_NAME_GET);
        if (!s)
            return pr_err(PR_EFATAL, err, errlen, "names: %s", sink_store_errmsg(st));
        sink_bind_text(s, 1, name);
        int r = sink_step(s);
        if (r == SINK_ROW)
            *id = sink_col_int64(s, 0);
        sink_reset(s);
        if (r == SINK_DONE && create) {
            if (!(s = sink_store_stmt(st, Q_NAME_INSERT)))
                return pr_err(PR_EFATAL, err, errlen, "names: %s", sink_store_errmsg(st));
            sink_bind_text(s, 1, name);
            r = sink_step(s);
            if (r == SINK_ROW)
                *id = sink_col_int64(s, 0);
            sink_reset(s);
            if (r == SINK_DONE) /* interned by another sink meanwhile: read it */
                continue;
        }
        if (r == SINK_DONE)
            return PR_ENOTFOUND;
        if (r != SINK_ROW)
            return pr_err(PR_EFATAL, err, errlen, "names: %s", sink_store_errmsg(st));
        names_add(st, name, *id);
        return PR_OK;
    }
    return pr_err(PR_EFATAL, err, errlen, "names: '%s' neither found nor inserted", name);
}

pr_status sink_store_phone_digest(sink_store *st, const char *mac, unsigned char digest[32])
{
    sink_stmt *s = sink_store_stmt(st, Q_PHONE_DIGEST);
    pr_status rc = PR_ENOTFOUND;
    size_t n = 0;
    if (!s)
        return PR_EFATAL;
    sink_bind_text(s, 1, mac);
    int r = sink_step(s);
    const void *d = r == SINK_ROW ? sink_col_blob(s, 0, &n) : NULL;
    if (d && n == 32) {
        memcpy(digest, d, 32);
        rc = PR_OK;
    } else if (r == SINK_ERROR) {
        rc = PR_EFATAL;
    }
    sink_reset(s);
    return rc;
}

pr_status sink_store_outbox_get(sink_store *st, int64_t id, char **key, char **value)
{
    sink_stmt *s = sink_store_stmt(st, Q_OUTBOX_GET);
    *key = *value = NULL;
    if (!s)
        return PR_EFATAL;
    sink_bind_int64(s, 1, id);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        *key = strdup(sink_col_text(s, 0));
        *value = strdup(sink_col_text(s, 1));
        if (!*key || !*value) {
            free(*key);
            free(*value);
            *key = *value = NULL;
            r = SINK_ERROR;
        } else {
            r = SINK_DONE;
        }
    }
    sink_reset(s);
    return r == SINK_DONE ? PR_OK : PR_EFATAL;
}

pr_status sink_store_outbox_count(sink_store *st, int64_t *n)
{
    sink_stmt *s = sink_store_stmt(st, Q_OUTBOX_COUNT);
    int r = s ? sink_step(s) : SINK_ERROR;
    if (r == SINK_ROW)
        *n = sink_col_int64(s, 0);
    if (s)
        sink_reset(s);
    return r == SINK_ROW ? PR_OK : PR_EFATAL;
}

int64_t sink_store_offset_get(sink_store *st, const char *topic, int32_t partition)
{
    sink_stmt *s = sink_store_stmt(st, Q_OFFSET_GET);
    int64_t next = -1;
    if (!s)
        return -2;
    sink_bind_text(s, 1, topic);
    sink_bind_int64(s, 2, partition);
    int r = sink_step(s);
    if (r == SINK_ROW)
        next = sink_col_int64(s, 0);
    else if (r != SINK_DONE)
        next = -2;
    sink_reset(s);
    return next;
}

pr_status sink_store_offset_put(sink_store *st, const char *topic, int32_t partition, int64_t next,
                                char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_OFFSET_PUT);
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "offset store: %s", sink_store_errmsg(st));
    sink_bind_text(s, 1, topic);
    sink_bind_int64(s, 2, partition);
    sink_bind_int64(s, 3, next);
    return sink_exec_stmt(s, "offset store", err, errlen);
}

pr_status sink_store_partition_claim(sink_store *st, const char *topic, int32_t partition,
                                     const char *owner, int64_t *epoch, char *err, size_t errlen)
{
    pr_status rc;
    *epoch = 0;
    if (st->dialect != SINK_DIALECT_PG)
        return PR_OK;
    if ((rc = sink_store_begin(st, err, errlen)) != PR_OK)
        return rc;
    sink_stmt *s = sink_store_stmt(st, Q_OWNER_CLAIM);
    int r = SINK_ERROR;
    if (s) {
        sink_bind_text(s, 1, topic);
        sink_bind_int64(s, 2, partition);
        sink_bind_text(s, 3, owner);
        if ((r = sink_step(s)) == SINK_ROW)
            *epoch = sink_col_int64(s, 0);
        sink_reset(s);
    }
    if (r != SINK_ROW) {
        rc = pr_err(PR_ETRANSIENT, err, errlen, "partition claim: %s", sink_store_errmsg(st));
        sink_store_rollback(st);
        return rc;
    }
    return sink_store_commit(st, err, errlen);
}

pr_status sink_store_partition_fence(sink_store *st, const char *topic, int32_t partition,
                                     int64_t epoch, char *err, size_t errlen)
{
    if (st->dialect != SINK_DIALECT_PG)
        return PR_OK;
    sink_stmt *s = sink_store_stmt(st, Q_OWNER_CHECK);
    if (!s)
        return pr_err(PR_ETRANSIENT, err, errlen, "partition fence: %s", sink_store_errmsg(st));
    sink_bind_text(s, 1, topic);
    sink_bind_int64(s, 2, partition);
    int r = sink_step(s);
    int64_t now = r == SINK_ROW ? sink_col_int64(s, 0) : -1;
    sink_reset(s);
    if (r == SINK_ERROR)
        return pr_err(PR_ETRANSIENT, err, errlen, "partition fence: %s", sink_store_errmsg(st));
    if (now != epoch)
        return pr_err(PR_ENOTFOUND, err, errlen,
                      "fenced: %s/%d was claimed by another sink (epoch %lld, ours %lld)", topic,
                      (int)partition, (long long)now, (long long)epoch);
    return PR_OK;
}

pr_status sink_store_outbox_put(sink_store *st, pr_topic topic, int32_t part, const char *key,
                                json_t *value, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
    sink_stmt *s = sink_store_stmt(st, Q_OUTBOX_PUT);
    if (!text || !s) {
        rc = pr_err(PR_EFATAL, err, errlen, "outbox: %s",
                    !text ? "out of memory" : sink_store_errmsg(st));
        goto out;
    }
    sink_bind_int64(s, 1, (int64_t)topic);
    sink_bind_text(s, 2, key);
    if (s->lite) /* the text is ours until the step: no copy */
        sqlite3_bind_text(s->lite, 3, text, -1, SQLITE_STATIC);
    else
        sink_bind_text(s, 3, text);
    sink_bind_int64(s, 4, part);
    rc = sink_exec_stmt(s, "outbox", err, errlen);
out:
    free(text);
    json_decref(value);
    return rc;
}

pr_status sink_store_profiles_load(sink_store *st, sink_profiles *p)
{
    /* A shared PostgreSQL store: every sink computes the drift of its own partitions' phones
     * from its own reading of the profiles, so it keeps no list (a start recomputes). */
    if (st->dialect == SINK_DIALECT_PG)
        return PR_OK;
    sink_stmt *s = sink_store_prepare(st, sql_text[Q_PROFILE_FILES_GET]);
    if (!s)
        return PR_EFATAL;
    while (sink_step(s) == SINK_ROW)
        sink_profiles_remember(p, sink_col_text(s, 0), sink_col_int64(s, 1), sink_col_int64(s, 2));
    sink_stmt_free(s);
    return PR_OK;
}

static int save_file(void *ctx, const char *mac, long long mtime_ns, long long size)
{
    sink_stmt *s = ctx;
    sink_reset(s);
    sink_bind_text(s, 1, mac);
    sink_bind_int64(s, 2, mtime_ns);
    sink_bind_int64(s, 3, size);
    int r = sink_step(s);
    sink_reset(s);
    return r == SINK_DONE ? 0 : -1;
}

pr_status sink_store_profiles_save(sink_store *st, const sink_profiles *p, char *err, size_t errlen)
{
    sink_stmt *s = NULL;
    pr_status rc = PR_OK;
    if (st->dialect == SINK_DIALECT_PG)
        return PR_OK;
    if (!(s = sink_store_stmt(st, Q_PROFILE_FILES_CLEAR)) ||
        sink_exec_stmt(s, "profile_files", err, errlen) != PR_OK)
        return pr_err(PR_EFATAL, err, errlen, "profile_files: %s", sink_store_errmsg(st));
    if (!(s = sink_store_stmt(st, Q_PROFILE_FILES_PUT)) ||
        sink_profiles_each_file(p, save_file, s) != 0)
        rc = pr_err(PR_EFATAL, err, errlen, "profile_files: %s", sink_store_errmsg(st));
    return rc;
}

/* ---- owned partitions ------------------------------------------------------------------ */

void sink_parts_init(sink_parts *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
}

void sink_parts_destroy(sink_parts *p)
{
    pthread_mutex_destroy(&p->mu);
}

void sink_parts_set(sink_parts *p, const int32_t *v, size_t n)
{
    pthread_mutex_lock(&p->mu);
    p->n = n < SINK_PARTS_MAX ? n : SINK_PARTS_MAX;
    if (p->n)
        memcpy(p->v, v, p->n * sizeof *v);
    p->gen++;
    pthread_mutex_unlock(&p->mu);
}

unsigned sink_parts_text(sink_parts *p, char *buf, size_t len)
{
    size_t o = 0;
    pthread_mutex_lock(&p->mu);
    o += (size_t)snprintf(buf, len, "{");
    for (size_t i = 0; i < p->n && o + 16 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%d", i ? "," : "", (int)p->v[i]);
    snprintf(buf + o, len - o, "}");
    unsigned gen = p->gen;
    pthread_mutex_unlock(&p->mu);
    return gen;
}

bool sink_parts_has(sink_parts *p, int32_t part)
{
    bool found = false;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n && !found; i++)
        found = p->v[i] == part;
    pthread_mutex_unlock(&p->mu);
    return found;
}
