/*
 * store_sqlite.c - the SQLite store's schema (version 6: one document per phone, doc.c's blob) and
 * the upgrades from every earlier version, run in one transaction when a writer opens the store.
 * The README's "The store" section documents the tables.
 */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* The schema this build writes (meta 'schema'); a newer one is refused. */
#define STORE_SQLITE_SCHEMA 6

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta VALUES('schema','6');"
    "CREATE TABLE IF NOT EXISTS phones("
    " id INTEGER PRIMARY KEY, mac TEXT NOT NULL UNIQUE, version INTEGER NOT NULL DEFAULT 0,"
    " complete INTEGER NOT NULL DEFAULT 0, model TEXT, firmware TEXT, first_seen TEXT NOT NULL,"
    " updated_at TEXT, status_at TEXT, report_id TEXT, source_at TEXT, digest BLOB,"
    " nparams INTEGER NOT NULL DEFAULT 0, state_bytes INTEGER NOT NULL DEFAULT 0,"
    " remote TEXT, rr_checked_at TEXT, report_requested_at TEXT, report_request TEXT,"
    " part INTEGER NOT NULL DEFAULT -1);"
    "CREATE TABLE IF NOT EXISTS names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    /* a phone's configuration: one document, entries by name id (doc.c) */
    "CREATE TABLE IF NOT EXISTS configs(phone INTEGER PRIMARY KEY, doc BLOB NOT NULL);"
    /* the parameter index: the values of the parameters of --sink-index-params only */
    "CREATE TABLE IF NOT EXISTS pindex(name TEXT NOT NULL, value TEXT NOT NULL,"
    " phone INTEGER NOT NULL, PRIMARY KEY(name, value, phone)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS status(phone INTEGER PRIMARY KEY, report_id TEXT,"
    " received_at TEXT, body TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS reports(id INTEGER PRIMARY KEY, phone INTEGER NOT NULL,"
    " version INTEGER NOT NULL, report_id TEXT, at TEXT NOT NULL, via TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS reports_by_phone ON reports(phone, id);"
    "CREATE TABLE IF NOT EXISTS changes(id INTEGER PRIMARY KEY, phone INTEGER NOT NULL,"
    " report INTEGER NOT NULL, param INTEGER NOT NULL, old TEXT, new TEXT);"
    "CREATE INDEX IF NOT EXISTS changes_by_phone ON changes(phone, id);"
    /* how far a phone's kept history reaches (history.c): the newest pruned report */
    "CREATE TABLE IF NOT EXISTS history_horizon(phone INTEGER PRIMARY KEY, at TEXT NOT NULL,"
    " version INTEGER NOT NULL);"
    /* the last resync asked of a phone (remediate.c): when, and its outcome as JSON text */
    "CREATE TABLE IF NOT EXISTS remediations(phone INTEGER PRIMARY KEY,"
    " attempted_at TEXT NOT NULL, result TEXT NOT NULL);"
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
    /* fleet search (fleet.c): phones by model, by firmware */
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

static const char migrate_3_sql[] = "ALTER TABLE phones ADD COLUMN remote TEXT;"
                                    "ALTER TABLE phones ADD COLUMN rr_checked_at TEXT;"
                                    "ALTER TABLE phones ADD COLUMN report_requested_at TEXT;"
                                    "ALTER TABLE phones ADD COLUMN report_request TEXT;"
                                    "UPDATE meta SET value = '3' WHERE key = 'schema';";

/* Schema 3 to 4: phones and outbox rows know their partition (used by a shared PostgreSQL
 * store; -1 until the phone's next report says). */
static const char migrate_4_sql[] =
    "ALTER TABLE phones ADD COLUMN part INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE outbox ADD COLUMN part INTEGER NOT NULL DEFAULT -1;"
    "UPDATE meta SET value = '4' WHERE key = 'schema';";

/* Schema 4 to 5: one document per phone. Every phone's params rows become one JSON document
 * (plain JSON: the step to 6 re-encodes it, store_upgrade.c); the params
 * table and its (name, value) index go, and the parameter index (pindex) is built at the
 * writer's start from the documents (index_params unset: sink_store_index_configure). */
static const char migrate_5_sql[] =
    "CREATE TABLE configs(phone INTEGER PRIMARY KEY, doc BLOB NOT NULL);"
    "INSERT INTO configs(phone, doc) SELECT p.phone, json_object('params',"
    "  json_group_object(n.name, p.value), 'access', json_group_object(n.name, p.access)"
    "  FILTER (WHERE p.access IS NOT NULL AND p.access <> ''))"
    " FROM params p JOIN names n ON n.id = p.name GROUP BY p.phone;"
    "DROP INDEX IF EXISTS params_by_value;"
    "DROP TABLE params;"
    "DELETE FROM meta WHERE key = 'index_params';"
    "UPDATE meta SET value = '5' WHERE key = 'schema';";

pr_status sink_sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
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
pr_status sink_sqlite_schema(sqlite3 *db, char *err, size_t errlen)
{
    pr_status st;
    if ((st = sink_sqlite_exec(db, "BEGIN IMMEDIATE", err, errlen)) != PR_OK)
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
    if (v > 0 && !has_column(db, "digest") &&
        (st = sink_sqlite_exec(db, migrate_2_sql, err, errlen)) != PR_OK)
        goto out;
    if (v > 0 && !has_column(db, "remote") &&
        (st = sink_sqlite_exec(db, migrate_3_sql, err, errlen)) != PR_OK)
        goto out;
    if (v > 0 && !has_column(db, "part") &&
        (st = sink_sqlite_exec(db, migrate_4_sql, err, errlen)) != PR_OK)
        goto out;
    if (v > 0 && v < 5 && (st = sink_sqlite_exec(db, migrate_5_sql, err, errlen)) != PR_OK)
        goto out;
    if (v > 0 && v < 6 && (st = sink_sqlite_upgrade_6(db, err, errlen)) != PR_OK)
        goto out;
    if ((st = sink_sqlite_exec(db, schema_sql, err, errlen)) != PR_OK)
        goto out;
    st = sink_sqlite_exec(db, "COMMIT", err, errlen);
out:
    if (st != PR_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}
