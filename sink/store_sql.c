/*
 * store_sql.c - every SQL text of the sink's store, once (the statement table).
 *
 * Each text lives in sql_text (?N placeholders, accepted by SQLite 3.40 and, with ?N rewritten
 * to $N, by PostgreSQL 15); pg_text overrides it only where the dialects differ (scalar
 * min/max, jsonb, the partition filters that only a shared store needs, row locks).
 */
#include "store_int.h"

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
    /* The names a document's ids stand for (store_rows.c: read once per connection). */
    [Q_NAME_LIST] = "SELECT id, name FROM names WHERE id > ?1 ORDER BY id",
    [Q_NAME_BY_ID] = "SELECT id, name FROM names WHERE id = ?1",
    /* A phone's configuration document (store_doc.c): every parameter with its value and
     * access in one row. SQLite: one blob (doc.c); PostgreSQL: two jsonb columns. */
    [Q_CONFIG_GET] = "SELECT doc FROM configs WHERE phone = ?1",
    [Q_CONFIG_PUT] = "INSERT INTO configs(phone, doc) VALUES(?1, ?2)"
                     " ON CONFLICT(phone) DO UPDATE SET doc = excluded.doc",
    /* The parameter index (--sink-index-params): (name, value, phone) of the named
     * parameters only, kept from the diff of the old and the new document. */
    [Q_INDEX_DELETE] = "DELETE FROM pindex WHERE name = ?1 AND value = ?2 AND phone = ?3",
    [Q_INDEX_CLEAR] = "DELETE FROM pindex",
    [Q_CONFIG_LIST] = "SELECT phone, doc FROM configs WHERE phone > ?1 ORDER BY phone LIMIT ?2",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_STATUS_PUT] = "INSERT INTO status(phone, report_id, received_at, body)"
                     " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(phone) DO UPDATE SET"
                     " report_id = excluded.report_id, received_at = excluded.received_at,"
                     " body = excluded.body",
    [Q_REPORT_INSERT] = "INSERT INTO reports(phone, version, report_id, at, via)"
                        " VALUES(?1, ?2, ?3, ?4, ?5) RETURNING id",
    /* Keeps at most ?2 change rows per phone, dropping whole reports, oldest first. */
    [Q_CHANGE_PRUNE] = "DELETE FROM changes WHERE phone = ?1 AND report <= (SELECT report FROM"
                       " changes WHERE phone = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    [Q_REPORT_PRUNE] = "DELETE FROM reports WHERE phone = ?1 AND id < (SELECT"
                       " coalesce(min(report), 9223372036854775807) FROM changes WHERE phone = ?1)",
    [Q_DRIFT_INSERT] = "INSERT INTO drift(phone, param, intended, actual, since, version)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_DRIFT_UPDATE] =
        "UPDATE drift SET intended = ?3, actual = ?4 WHERE phone = ?1 AND param = ?2",
    [Q_DRIFT_DELETE] = "DELETE FROM drift WHERE phone = ?1 AND param = ?2",
    [Q_DRIFT_ROWS] = "SELECT param, intended, actual FROM drift WHERE phone = ?1",
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
    /* History (history.c). Before Q_CHANGE_PRUNE (same ?1, ?2): the report it is about to cut
     * at, the newest one to go, becomes the phone's horizon (no row: nothing goes). */
    [Q_HIST_HORIZON_PUT] = "INSERT INTO history_horizon(phone, at, version) SELECT phone, at,"
                           " version FROM reports WHERE id = (SELECT report FROM changes"
                           " WHERE phone = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"
                           " ON CONFLICT(phone) DO UPDATE SET at = excluded.at,"
                           " version = excluded.version",
    [Q_HIST_HORIZON_GET] = "SELECT at, version FROM history_horizon WHERE phone = ?1",
    [Q_HIST_PHONE] = "SELECT id, version, first_seen FROM phones WHERE mac = ?1",
    /* The kept reports, newest first (read until the point asked for). */
    [Q_HIST_REPORTS] = "SELECT id, version, at FROM reports WHERE phone = ?1 ORDER BY id DESC",
    /* The changes of the reports from ?2 on, newest first: undone in that order. */
    [Q_HIST_UNDO] = "SELECT n.name, c.old FROM changes c JOIN names n ON n.id = c.param"
                    " WHERE c.phone = ?1 AND c.report >= ?2 ORDER BY c.id DESC",
    /* Remediation (remediate.c): drifted parameters open since ?1 or earlier of phones not
     * asked to resync since ?2, the least recently asked first (a row per parameter). */
    [Q_REMEDIATE_CANDIDATES] = "SELECT p.mac, d.param FROM drift d JOIN phones p ON p.id = d.phone"
                               " LEFT JOIN remediations r ON r.phone = p.id WHERE d.since <= ?1"
                               " AND (r.attempted_at IS NULL OR r.attempted_at < ?2)"
                               " ORDER BY coalesce(r.attempted_at, ''), p.id, d.param LIMIT ?3",
    [Q_REMEDIATE_RECORD] = "INSERT INTO remediations(phone, attempted_at, result) SELECT id, ?2,"
                           " ?3 FROM phones WHERE mac = ?1 ON CONFLICT(phone) DO UPDATE SET"
                           " attempted_at = excluded.attempted_at, result = excluded.result",
    /* The last resync, the phone's last configuration report and its open drift now. */
    [Q_REMEDIATE_GET] = "SELECT r.attempted_at, r.result, p.updated_at, (SELECT count(*) FROM"
                        " drift WHERE phone = p.id) FROM remediations r JOIN phones p"
                        " ON p.id = r.phone WHERE p.id = ?1",
};

/* PostgreSQL's own texts where the dialects differ. ?3 of the listings is the owned partitions
 * ({0,3}): with several sinks on one store, each touches only its partitions' phones and rows. */
static const char *const pg_text[Q__COUNT] = {
    /* FOR UPDATE: a phone's config and status can be applied by two sinks for a moment (while
     * a partition moves); the second waits for the first's commit instead of losing its update. */
    [Q_PHONE_GET] = "SELECT id, version, complete, first_seen, model, firmware, source_at,"
                    " digest, nparams, state_bytes, part FROM phones WHERE mac = ?1 FOR UPDATE",
    [Q_PHONE_UPDATE_CONFIG] = UPDATE_CONFIG("least", "::text"),
    /* jsonb: operators and analysts query the store in plain SQL (README, "The store"). */
    [Q_CONFIG_GET] = "SELECT params::text, access::text FROM configs WHERE phone = ?1",
    [Q_CONFIG_PUT] = "INSERT INTO configs(phone, params, access) VALUES(?1, ?2::jsonb, ?3::jsonb)"
                     " ON CONFLICT(phone) DO UPDATE SET params = excluded.params,"
                     " access = excluded.access",
    [Q_CONFIG_LIST] = "SELECT phone, params::text, access::text FROM configs WHERE phone > ?1"
                      " ORDER BY phone LIMIT ?2",
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
        " AND (?4::int[] IS NULL OR part = ANY(?4::int[]))"
        " ORDER BY coalesce(rr_checked_at, ''), id LIMIT ?3",
    /* The publisher never waits for the writer's row locks (it deletes many markers in one
     * transaction while the writer upserts others: the two deadlocked). A marker the writer
     * holds is being raised to a newer version anyway: left for the next pass. */
    [Q_OUTBOX_STATE_DELETE] = "DELETE FROM outbox_state WHERE phone = (SELECT phone FROM"
                              " outbox_state WHERE phone = ?1 AND version <= ?2"
                              " FOR UPDATE SKIP LOCKED)",
    [Q_REMEDIATE_CANDIDATES] =
        "SELECT p.mac, d.param FROM drift d JOIN phones p ON p.id = d.phone"
        " LEFT JOIN remediations r ON r.phone = p.id WHERE d.since <= ?1::text"
        " AND (r.attempted_at IS NULL OR r.attempted_at < ?2::text)"
        " AND (?4::int[] IS NULL OR p.part = ANY(?4::int[]))"
        " ORDER BY coalesce(r.attempted_at, ''), p.id, d.param LIMIT ?3",
    /* The new owner of a partition raises its epoch; the old owner's next commit sees it. */
    [Q_OWNER_CLAIM] = "INSERT INTO partition_owner(topic, partition, epoch, owner)"
                      " VALUES(?1, ?2, 1, ?3) ON CONFLICT(topic, partition) DO UPDATE"
                      " SET epoch = partition_owner.epoch + 1, owner = excluded.owner"
                      " RETURNING epoch",
    [Q_OWNER_CHECK] = "SELECT epoch FROM partition_owner WHERE topic = ?1 AND partition = ?2"
                      " FOR UPDATE",
    /* A batch's phones in one statement (store_batch.c), ?1 their macs (text[]), ?2 its
     * records: kind 0 a phone row (Q_PHONE_GET's columns after kind and mac), locked in mac
     * order; kind 1 an id reserved for a mac the store does not have; kind 2 a report id. */
    [Q_PHONE_PREFETCH] =
        "WITH want AS (SELECT DISTINCT unnest(?1::text[]) AS mac),"
        " got AS (SELECT p.mac, p.id, p.version, p.complete, p.model, p.firmware, p.source_at,"
        "  p.digest, p.nparams, p.state_bytes FROM phones p JOIN want w ON w.mac = p.mac"
        "  ORDER BY p.mac FOR UPDATE OF p)"
        " SELECT 0, mac, id, version, complete, model, firmware, source_at, digest, nparams,"
        "  state_bytes FROM got"
        " UNION ALL SELECT 1, w.mac, nextval(pg_get_serial_sequence('phones', 'id')), NULL, NULL,"
        "  NULL, NULL, NULL, NULL, NULL, NULL FROM want w"
        "  WHERE NOT EXISTS (SELECT 1 FROM got g WHERE g.mac = w.mac)"
        " UNION ALL SELECT 2, NULL, nextval(pg_get_serial_sequence('reports', 'id')), NULL, NULL,"
        "  NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(1, ?2::int)",
    /* The documents of the phones ?1 (bigint[]) in one statement (store_doc.c). */
    [Q_CONFIG_GET_MANY] = "SELECT phone, params::text, access::text FROM configs"
                          " WHERE phone = ANY(?1::bigint[])",
    [Q_DRIFT_ROWS_MANY] = "SELECT param, intended, actual, phone FROM drift"
                          " WHERE phone = ANY(?1::bigint[])",
    /* With the ids reserved by Q_PHONE_PREFETCH: pipelined writes, no RETURNING to wait for. */
    [Q_PHONE_INSERT_ID] = "INSERT INTO phones(id, mac, first_seen, part) VALUES(?4, ?1, ?2, ?3)",
    [Q_REPORT_INSERT_ID] = "INSERT INTO reports(id, phone, version, report_id, at, via)"
                           " VALUES(?6, ?1, ?2, ?3, ?4, ?5)",
    /* The ids of the names ?1 (text[]), interned first when ?2 <> 0; the third column says
     * which were inserted (store_batch.c). A name another sink inserts meanwhile is in
     * neither part: read on a second pass. */
    [Q_NAME_RESOLVE] = "WITH want AS (SELECT DISTINCT unnest(?1::text[]) AS name),"
                       " ins AS (INSERT INTO names(name) SELECT name FROM want WHERE ?2::int <> 0"
                       "  ORDER BY name ON CONFLICT(name) DO NOTHING RETURNING id, name)"
                       " SELECT n.id, n.name, 0 FROM names n JOIN want w ON w.name = n.name"
                       " UNION ALL SELECT id, name, 1 FROM ins",
    /* The same without interning: a statement a read-only snapshot may run (an INSERT in a
     * CTE is refused there even when it inserts nothing). */
    [Q_NAME_LOOKUP] = "SELECT id, name, 0 FROM names WHERE name = ANY(?1::text[])",
};

/* Multi-row inserts: the writer puts a report's change rows and their outbox records in one
 * statement each (store.c adds the rows' placeholders). */
static const struct {
    const char *head;
    int cols;
    const char *tail;
} rows_text[SINK_ROWS__COUNT] = {
    [SINK_ROWS_CHANGES] = {"INSERT INTO changes(phone, report, param, old, new) VALUES", 5, ""},
    [SINK_ROWS_OUTBOX] = {"INSERT INTO outbox(topic, key, value, part) VALUES", 4, ""},
    /* the parameter index's new entries of a report (store_doc.c) */
    [SINK_ROWS_INDEX] = {"INSERT INTO pindex(name, value, phone) VALUES", 3,
                         " ON CONFLICT DO NOTHING"},
};

const char *sink_store_rows_sql(sink_rows k, int *cols, const char **tail)
{
    if ((unsigned)k >= SINK_ROWS__COUNT)
        return NULL;
    *cols = rows_text[k].cols;
    *tail = rows_text[k].tail;
    return rows_text[k].head;
}

const char *sink_store_sql(sink_sql q)
{
    return (unsigned)q < Q__COUNT ? sql_text[q] : NULL;
}

const char *sink_store_dialect_sql(const sink_store *st, sink_sql q)
{
    if ((unsigned)q >= Q__COUNT)
        return NULL;
    if (st->dialect == SINK_DIALECT_PG && pg_text[q])
        return pg_text[q];
    return sql_text[q];
}
