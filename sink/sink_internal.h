/*
 * sink_internal.h - the sink's modules and how they meet. Not for other roles.
 *
 * DESIGN (threads and data flow):
 *   loop.c    one consumer thread: polls phonereport.config/.status up to 32 records at a
 *             time, has them loaded (parse.c: helper threads run fastpath.c/event.c, each with
 *             its own read-only connection) and applies each in order (apply.c) inside an open
 *             store transaction together with the partition's next offset, and commits when
 *             the batch bound (count or time) is reached. On a PostgreSQL store shared by
 *             several sinks it claims each partition it is assigned and fences every
 *             transaction against a newer claim. It also polls the profile directory
 *             (profiles.c) and recomputes drift (drift.c) when a profile changed. It is the
 *             only writer of state (of its partitions' phones).
 *   outbox.c  one publisher thread: reads outbox rows written by apply/drift in the same
 *             transaction as the state, produces them (idempotent producer, key = MAC) and
 *             deletes each row once its delivery report confirms it; it also runs the WAL
 *             checkpoints of the writer's connection (PASSIVE; SQLite).
 *   api.c     libmicrohttpd's polling thread answers queries from its own read-only store
 *             connection (query.c builds the JSON documents).
 *   store*.c  the store behind one statement layer (store.c): SQLite (the embedded default,
 *             store_sqlite.c) or PostgreSQL (store_pg.c), chosen by --sink-store; the SQL
 *             texts in store_sql.c; a phone's configuration document and the parameter index
 *             in store_doc.c; offsets, outbox, names, ownership in store_rows.c.
 *   rebaseline.c  with rebaseline-credentials: one thread sends SIP NOTIFYs to phones whose
 *             state is incomplete or stale and writes only their re-baseline columns, on its
 *             own connection, in small transactions (busy timeout, as the publisher);
 *             remediate.c's resyncs for open drift run on the same thread, within its rate.
 * Every thread owns its own connection (SQLite WAL: readers never block the writer).
 *
 * Ownership: functions borrow their arguments unless the name says _new (caller frees) or the
 * comment says "steals".
 */
#ifndef SINK_INTERNAL_H
#define SINK_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "contract.h"
#include "doc.h"
#include "flatprofile.h"
#include "jarena.h"
#include "mac.h"
#include "metrics.h"
#include "sink.h"
#include "status.h"

typedef struct sink_store sink_store; /* store.c */

/* ---- config.c ---------------------------------------------------------------------- */

struct sink_cfg {
    char *api_listen;   /* host:port of the query API; port 0 = any free port */
    char *data_dir;     /* SQLite database directory */
    char *store;        /* "sqlite" or a PostgreSQL connection string */
    char *profiles_dir; /* intended profiles (<mac>.xml, default.xml); NULL = no drift */
    long long profiles_poll_ms;
    char *group;                /* consumer group id */
    long long batch_max;        /* records per SQLite transaction */
    long long batch_ms;         /* longest a transaction stays open */
    long long changes_keep;     /* change rows kept per phone in the store (0 = all) */
    long long state_partitions; /* partitions of output topics created by the sink */
    char *sync;                 /* SQLite synchronous: full|normal */
    long long max_params;       /* most parameters one phone may hold (0 = no bound) */
    long long max_state_bytes;  /* largest state record one phone may have (0 = no bound) */
    long long parse_threads;    /* threads that parse events beside the writer (0 = none) */
    long long outbox_max;       /* outbox rows at which consumption pauses (0 = no bound) */
    long long poison_retries;   /* failures alone before a record is skipped into sink-dlq */
    char *index_params;         /* the parameter index's set (store_doc.c) */
    /* query API access control and TLS (api_auth.c) */
    char *api_tokens;                 /* token file; NULL = no credentials asked */
    bool api_insecure_no_auth;        /* allow no credentials on a non-loopback address */
    char *api_tls_cert, *api_tls_key; /* PEM files; NULL = plain HTTP */
    /* query API limits (api.c, api_guard.c) */
    long long api_threads, api_max_connections, api_max_connections_per_ip;
    long long api_connection_timeout_ms, api_header_timeout_ms;
    long long api_auth_max_failures, api_auth_window_ms;
    /* re-baseline: NOTIFYs to phones whose state is incomplete or stale (rebaseline.c) */
    char *rebaseline_credentials; /* notify credentials file; NULL = re-baseline off */
    char *rebaseline_proxy;       /* outbound proxy: NOTIFY to the line's AOR; NULL = direct */
    long long rebaseline_sip_port, rebaseline_rate, rebaseline_interval_ms, rebaseline_after_ms,
        rebaseline_timeout_ms;
    /* remediation of open drift (remediate.c) */
    char *remediate_drift; /* "off" or "resync" */
    long long remediate_after_ms, remediate_interval_ms;
    char *remediate_ignore; /* names and globs, comma separated; NULL = none */
};

/* What sink_store_open takes: the PostgreSQL connection string, or the SQLite data-dir. */
const char *sink_cfg_store(const sink_cfg *cfg);

/* ---- event.c: the phonereport.config/1 and .status/1 records we consume ------------- */

typedef struct sink_event {
    json_t *root;     /* owned: in arena when there is one (borrow only, see jarena.h) */
    pr_jarena *arena; /* owned; NULL: root is on the heap (pr_jarena_install not called) */
    bool is_status;
    pr_kind kind;      /* FULL or DELTA for config, STATUS for status */
    bool kind_unknown; /* config of kind "unknown": applied as a delta */
    char mac[PR_MAC_LEN + 1];
    const char *report_id;   /* borrowed from root */
    const char *received_at; /* borrowed from root */
    const char *model;       /* NULL when the event does not say */
    const char *firmware;    /* NULL when the event does not say */
    const char *remote;      /* source.remote, the edge's pr-remote; NULL when absent or "" */
    json_t *params;          /* borrowed; config only: object of strings */
    json_t *access;          /* borrowed; config only: object of strings, may be NULL */
    json_t *status;          /* borrowed; status only: object */
    /* Filled by sink_event_load (any thread, before the apply). */
    bool prepared;
    bool has_digest; /* full: digest holds the record's digest (sink_event_load) */
    unsigned char digest[32];
    long long weight;  /* the carried parameters' bytes in a state record */
    char *status_text; /* status: the status object as compact JSON (owned) */
    int32_t partition; /* the record's partition (set by the consumer; kept with the phone) */
    /* sink_event_load's fast path: a full report whose digest was the phone's; only the
     * envelope is parsed (params and access are NULL). raw (borrowed, alive until the apply)
     * is parsed in full if the writer finds the phone changed meanwhile. */
    bool lazy;
    const char *raw;
    size_t rawlen;
} sink_event;

/*
 * Validates one record value against the contract (schema id matches the topic, MAC normal,
 * kind, report_id, received_at a UTC time with milliseconds, params and access as objects of
 * strings, status as an object; last, the record key present and equal to the MAC). PR_EINVAL with
 * a short reason code in `reason` (e.g. "bad_json", "schema", "mac", "params") and a detail in err.
 * Release ev in every case.
 */
pr_status sink_event_parse(const char *buf, size_t len, bool status_topic, const char *key,
                           size_t keylen, sink_event *ev, char *reason, size_t reasonlen, char *err,
                           size_t errlen);
void sink_event_release(sink_event *ev);

/* fastpath.c: sink_event_parse, then what the writer needs from the event that the event alone
 * decides (a full report's digest: the SHA-256 of the exact bytes of its params and access
 * members; the parameters' weight in a state record; a status body as text), off the writer
 * thread. sink_apply takes events loaded here only. Except that a full report whose digest equals
 * the one `lookup` (a connection the calling thread owns; NULL = never) holds for the phone is
 * parsed without its parameters (ev->lazy, see fastpath.c). */
pr_status sink_event_load(sink_store *lookup, const char *buf, size_t len, bool status_topic,
                          const char *key, size_t keylen, sink_event *ev, char *reason,
                          size_t reasonlen, char *err, size_t errlen);
/* One parameter's bytes in a state record (JSON-escaped name and value, the access entry). */
long long sink_param_weight(const char *name, const char *value, const char *access);
/* What a state record holds besides its parameters, at most (envelope, MAC, timestamps). */
#define SINK_STATE_ENVELOPE 1024

/* ---- parse.c: events parsed beside the writer ---------------------------------------- */

typedef struct sink_parse_job {
    /* In: one polled record (borrowed). */
    const char *payload, *key;
    size_t len, keylen;
    bool is_status;
    /* Out: sink_event_load. ev is the caller's to release. */
    pr_status rc;
    sink_event ev;
    char reason[32], err[512];
    int state; /* parse.c's */
} sink_parse_job;

typedef struct sink_parse_pool sink_parse_pool;
/* nthreads helpers (0: every job is parsed by the thread that waits for it); each opens its
 * own read-only store on data_dir (NULL: none) for sink_event_load's fast path. */
sink_parse_pool *sink_parse_pool_new(int nthreads, const char *data_dir);
void sink_parse_pool_free(sink_parse_pool *p); /* NULL is a no-op */
/* Hands jobs[0..n) to the helpers; the array must stay until sink_parse_finish. */
void sink_parse_start(sink_parse_pool *p, sink_parse_job *jobs, size_t n);
/* Returns once job j is parsed (parsing it here, with lookup, when no helper started it). */
void sink_parse_wait(sink_parse_pool *p, sink_parse_job *j, sink_store *lookup);
/* Waits for every job of the round, which then ends. */
void sink_parse_finish(sink_parse_pool *p, sink_store *lookup);

/* ---- store*.c: the store (sink_store.h) ------------------------------------------------ */

#include "sink_store.h"

/* ---- profiles.c: the operator's intended configuration -------------------------------- */

typedef struct sink_profiles sink_profiles;

/* What a rescan changed: every phone (default.xml changed) or the listed MACs. */
typedef struct sink_profiles_delta {
    bool all;
    char (*macs)[PR_MAC_LEN + 1];
    size_t len, cap;
} sink_profiles_delta;
void sink_profiles_delta_release(sink_profiles_delta *d);

/* dir NULL gives an empty set (no drift). Does not read yet: call sink_profiles_scan(). */
sink_profiles *sink_profiles_new(const char *dir);
void sink_profiles_free(sink_profiles *p); /* NULL is a no-op */
/*
 * Re-reads the files whose (mtime, size) changed, added or removed since the last scan.
 * A file that fails to parse keeps its previous contents (and is logged once). Fills *d
 * (may be NULL) with what changed. Returns true if anything changed.
 */
bool sink_profiles_scan(sink_profiles *p, sink_profiles_delta *d);
/* The intended value of name for mac (mac.xml over default.xml), or NULL. */
const char *sink_profiles_intended(const sink_profiles *p, const char *mac, const char *name);
/* Calls fn for every intended parameter of mac (merged, each name once). Stops at non-zero
 * and returns it. */
int sink_profiles_each(const sink_profiles *p, const char *mac,
                       int (*fn)(void *ctx, const char *name, const char *value), void *ctx);
/* Number of profile files loaded (default.xml included). */
size_t sink_profiles_count(const sink_profiles *p);
/* Before the first scan: a file (mac "" = default.xml) as the previous run last applied it.
 * The first scan then reports only files that differ from that, and remembered files that
 * are gone, instead of every file (so a restart does not recompute every phone's drift). */
void sink_profiles_remember(sink_profiles *p, const char *mac, long long mtime_ns, long long size);
/* Calls fn for every file whose version on disk is the one in effect. */
int sink_profiles_each_file(const sink_profiles *p,
                            int (*fn)(void *ctx, const char *mac, long long mtime_ns,
                                      long long size),
                            void *ctx);
/* Forgets what was read, so that the next scan reports every file again (after a failed
 * recompute). */
void sink_profiles_invalidate(sink_profiles *p);

/* ---- drift.c: compare reported with intended, persist transitions --------------------- */

/* A value made only of asterisks (a masked secret): never compared. */
bool sink_drift_masked(const char *v);

typedef struct sink_phone_ref {
    int64_t id;
    const char *mac;
    int64_t version;
    const char *at; /* time of the transition: the report's received_at or now */
    int32_t part;   /* the phone's partition (its outbox rows carry it) */
} sink_phone_ref;

/* The phone's drift rows as {param: [intended, actual]} (sink_store_drift_rows; caller
 * decrefs). */
pr_status sink_drift_rows_load(sink_store *st, int64_t phone, const char *mac, json_t **rows,
                               char *err, size_t errlen);
/*
 * Decides one parameter (inside the caller's transaction) against rows (the phone's drift
 * rows, kept current): drifted when both values are known, neither is masked, and they
 * differ. Writes the drift row and a `drifted`/`resolved` outbox record only on a transition.
 * *transitions is incremented per record (may be NULL).
 */
pr_status sink_drift_decide(sink_store *st, const sink_phone_ref *ph, json_t *rows,
                            const char *name, const char *actual, const char *intended,
                            unsigned *transitions, char *err, size_t errlen);
/* Every intended parameter of the phone plus every drifted row, against doc (what the
 * phone reports). fresh: a phone created in this transaction (no drift rows to read). */
pr_status sink_drift_phone(sink_store *st, const sink_profiles *pf, const sink_phone_ref *ph,
                           const sink_doc *doc, bool fresh, unsigned *transitions, char *err,
                           size_t errlen);
/* After a profile change: sink_drift_phone for the phones of d (all phones if d->all) that
 * are in the owned partitions (NULL: every phone), in
 * the caller's transaction; with commit_pages, an all-phones pass commits and begins again
 * every 256 phones so that it never holds the writer for long. */
pr_status sink_drift_profiles_changed(sink_store *st, const sink_profiles *pf,
                                      const sink_profiles_delta *d, const char *now,
                                      sink_parts *owned, bool commit_pages, unsigned *transitions,
                                      char *err, size_t errlen);

/* ---- apply.c: one event into the store ------------------------------------------------ */

typedef struct sink_apply_opts {
    long long changes_keep;    /* 0 = keep all change rows */
    long long max_params;      /* 0 = no bound */
    long long max_state_bytes; /* 0 = no bound */
} sink_apply_opts;

typedef struct sink_apply_result {
    unsigned changes;     /* parameters changed (removals included) */
    unsigned upserts;     /* parameters written (added, changed or removed) */
    unsigned transitions; /* drift records */
    int64_t version;
    bool unchanged; /* a full report identical to the state: only the phone row was touched */
    bool published; /* the state record is to be published again */
} sink_apply_result;

/*
 * Applies ev inside the caller's open transaction: phone row, params (full replaces, delta
 * upserts), changes rows and outbox records, latest status, state publication marker, drift.
 * A phone's first configuration report is its baseline: no change records (DESIGN section 3).
 * A full report whose digest equals the stored one touches the phone row only.
 * PR_EINVAL (with the reason in err) when the report would make the phone exceed
 * max_params/max_state_bytes: nothing was written, the caller counts it and moves on. Any other
 * error leaves the transaction to be rolled back by the caller.
 */
pr_status sink_apply(sink_store *st, const sink_profiles *pf, const sink_apply_opts *opts,
                     const sink_event *ev, sink_apply_result *res, char *err, size_t errlen);

/* ---- query.c: read-side JSON documents (API and state publication) ------------------ */

/* Each returns PR_OK with *out (caller frees), PR_ENOTFOUND, or PR_EFATAL with err. */
pr_status sink_query_config(sink_store *st, const char *mac, json_t **out, char *err,
                            size_t errlen);
/* The flat-profile XML of the phone's params (malloc'd, NUL-terminated). */
pr_status sink_query_config_xml(sink_store *st, const char *mac, char **out, size_t *len, char *err,
                                size_t errlen);
pr_status sink_query_phone(sink_store *st, const char *mac, json_t **out, char *err, size_t errlen);
pr_status sink_query_status(sink_store *st, const char *mac, json_t **out, char *err,
                            size_t errlen);
pr_status sink_query_changes(sink_store *st, const char *mac, int64_t after, int limit,
                             json_t **out, char *err, size_t errlen);

/* mac NULL = every phone; after = "mac/param" cursor or NULL. */
pr_status sink_query_drift(sink_store *st, const char *mac, const char *after, int limit,
                           json_t **out, char *err, size_t errlen);
/* The phonereport.state/1 record of a phone by row id as compact JSON text (*out malloc'd,
 * *len), rendered from its compact document without a JSON tree; *version gets the phone's
 * version, *mac_out its MAC. PR_ENOTFOUND: no such phone. */
pr_status sink_query_state_text(sink_store *st, int64_t phone, char **out, size_t *len,
                                int64_t *version, char mac_out[PR_MAC_LEN + 1], char *err,
                                size_t errlen);
/* A query's answer: *out = answer, PR_EFATAL ("out of memory") when it is NULL (a json_pack
 * that failed: its stolen references are released with it). */
static inline pr_status sink_answer(json_t *answer, json_t **out, char *err, size_t errlen)
{
    *out = answer;
    return answer ? PR_OK : pr_err(PR_EFATAL, err, errlen, "out of memory");
}
/* Counters for /metrics. */
pr_status sink_query_counts(sink_store *st, int64_t *phones, int64_t *drifted, int64_t *outbox);

/* A document's params and access objects (borrowed) as new objects in name order (the order
 * the API and the XML export show). */
pr_status sink_query_doc_order(json_t *p, json_t *a, json_t **params, json_t **access, char *err,
                               size_t errlen);
/* The flat-profile XML of params/access (borrowed; written in their order) under comment. */
pr_status sink_query_xml_render(const char *comment, json_t *params, json_t *access, char **out,
                                size_t *len, char *err, size_t errlen);

/* ---- history.c: a phone's configuration at an earlier point, and diffs --------------- */

/* A point in a phone's history: a version (> 0), or a time in the store's RFC 3339 form
 * (version 0; at "" = now). */
typedef struct sink_hist_point {
    int64_t version;
    char at[32];
} sink_hist_point;

/* A configuration rebuilt at a point. */
typedef struct sink_hist_doc {
    int64_t version;         /* the version shown (the content it kept until valid_until) */
    int64_t current;         /* the phone's version now */
    char valid_until[32];    /* the time of the next kept change after the point; "" = none */
    json_t *params, *access; /* name order; access: the current one (not in the history) */
    /* PR_ENOTFOUND with gone: the kept history does not reach the point; the oldest time and
     * version it can serve. */
    bool gone;
    char oldest_at[32];
    int64_t oldest_version;
} sink_hist_doc;

/* The configuration of mac at pt: the current document with the kept changes after pt undone,
 * in one read snapshot. PR_ENOTFOUND: unknown phone, no configuration report yet, a time
 * before its first report, or (d->gone) before the kept history; PR_EINVAL: a version the
 * phone has not reached (err says which). Release d in every case. */
pr_status sink_history_doc(sink_store *st, const char *mac, const sink_hist_point *pt,
                           sink_hist_doc *d, char *err, size_t errlen);
void sink_hist_doc_release(sink_hist_doc *d);
/* The differences from (op, oa) to (np, na), borrowed: an array of
 * {"change":"added|removed|changed|same","name","old","new","access","old_access"} in name
 * order; values that are both masked (a run of asterisks) are equal, so a secret is never
 * told apart; with_access: an access difference alone is a change; all: equal ones too. NULL
 * when out of memory. */
json_t *sink_history_diff(json_t *op, json_t *oa, json_t *np, json_t *na, bool with_access,
                          bool all);
/* The writer, before pruning a phone's changes to keep rows: records how far its history will
 * then reach (Q_HIST_HORIZON_PUT), in the caller's transaction. */
pr_status sink_history_horizon(sink_store *st, int64_t phone, long long keep, char *err,
                               size_t errlen);

/* ---- fleet.c: fleet search and summaries ------------------------------------------- */

typedef enum sink_match { SINK_MATCH_EQ, SINK_MATCH_PREFIX, SINK_MATCH_NE } sink_match;
typedef struct sink_text_match {
    const char *value; /* NULL: any */
    sink_match op;
} sink_text_match;
typedef struct sink_param_match {
    const char *name;
    sink_text_match m; /* NE also matches phones without the parameter */
} sink_param_match;
#define SINK_PARAM_FILTERS_MAX 8
typedef struct sink_fleet_filter {
    int drifted, complete;                /* -1 any, 0 no, 1 yes */
    sink_text_match model, firmware;      /* EQ or PREFIX */
    const char *seen_after, *seen_before; /* RFC 3339 UTC with milliseconds; NULL any */
    sink_param_match params[SINK_PARAM_FILTERS_MAX];
    size_t nparams;
    const char *after; /* MAC cursor, NULL from the start */
    int limit;
} sink_fleet_filter;
/* {"phones":[summary + last_seen], "next"}; PR_EINVAL names a parameter no phone has. */
pr_status sink_fleet_phones(sink_store *st, const sink_fleet_filter *f, json_t **out, char *err,
                            size_t errlen);
/* Counts by model, firmware, completeness, drift, last-seen age; top drifted parameters. */
pr_status sink_fleet_summary(sink_store *st, json_t **out, char *err, size_t errlen);
/* A parameter's distinct values, most common first; PR_ENOTFOUND for an unknown name. */
pr_status sink_fleet_param_values(sink_store *st, const char *name, long long offset, int limit,
                                  json_t **out, char *err, size_t errlen);
/* Now minus seconds, in the store's RFC 3339 form (buf >= 25). */
void sink_fleet_time_ago(long long seconds, char *buf, size_t len);

/* ---- rebaseline.c: asking phones for a full report (SIP NOTIFY, Event: report) ---------- */

typedef struct sink_rebaseline sink_rebaseline;

/* What the candidate search needs: times as the store writes them (RFC 3339 UTC, ms). */
typedef struct sink_rb_policy {
    const char *now;
    const char *seen_before;    /* "not seen since": last report older than this; NULL = off */
    const char *checked_before; /* per-phone interval: not considered since this */
    long long sip_port;
    const char *proxy; /* NULL: sip:[User_ID_1_@]<remote>:<sip_port>; else the line's AOR */
    const char *parts; /* a shared PostgreSQL store: the owned partitions ("{0,3}", see
                        * sink_parts_text), so each phone is asked by one sink; NULL = all */
} sink_rb_policy;

/* One phone considered: a NOTIFY target (uri set) or a skip (skipped set). */
typedef struct sink_rb_target {
    char mac[PR_MAC_LEN + 1];
    char uri[300];
    const char *trigger; /* "incomplete", "not_seen" or "api" (static) */
    char skipped[120];   /* why no NOTIFY is sent; "" = send */
} sink_rb_target;

/* Up to max candidates (st: a connection the caller owns) with their target or skip reason. */
pr_status sink_rebaseline_candidates(sink_store *st, const sink_rb_policy *p, size_t max,
                                     sink_rb_target *out, size_t *n, char *err, size_t errlen);
/* The target for one phone asked for through the API (no interval, no rule check);
 * PR_ENOTFOUND unknown phone, PR_EINVAL no known address (err says why). */
pr_status sink_rebaseline_target(sink_store *st, const sink_rb_policy *p, const char *mac,
                                 sink_rb_target *out, char *err, size_t errlen);
/* Writes the outcome of considering t (result: the JSON object shown as report_request,
 * stolen; sent: a NOTIFY left) in the caller's transaction. */
pr_status sink_rebaseline_record(sink_store *st, const sink_rb_target *t, const char *now,
                                 bool sent, json_t *result, char *err, size_t errlen);
/* Loads the credentials and binds the SIP transport; the thread opens its own store
 * connection on cfg->data_dir. PR_EINVAL for a bad setting. */
pr_status sink_rebaseline_new(const sink_cfg *cfg, pr_metrics *metrics, sink_rebaseline **out,
                              char *err, size_t errlen);
/* Before start: the sink's owned partitions (a shared store asks only their phones). */
void sink_rebaseline_set_owned(sink_rebaseline *rb, sink_parts *owned);
pr_status sink_rebaseline_start(sink_rebaseline *rb, char *err, size_t errlen);
/* Queues a request for mac (any thread); PR_ETRANSIENT when the queue is full. */
pr_status sink_rebaseline_request(sink_rebaseline *rb, const char *mac, char *err, size_t errlen);
/* The same for a resync (Event: resync, remediate.c). */
pr_status sink_rebaseline_resync(sink_rebaseline *rb, const char *mac, char *err, size_t errlen);
/* Ends the thread (a NOTIFY in flight is waited for, up to rebaseline-timeout). */
void sink_rebaseline_stop(sink_rebaseline *rb);
void sink_rebaseline_free(sink_rebaseline *rb); /* NULL is a no-op */

/* ---- remediate.c: a resync for phones whose drift stays open (sink_remediate.h) ------ */

#include "sink_remediate.h"

/* ---- api.c, api_console.c, api_auth.c: the query API (sink_api.h) --------------------- */

#include "sink_api.h"

/* ---- outbox.c: the publisher of phonereport.state/.changes/.drift ------------------- */

typedef struct sink_outbox sink_outbox;
/* Creates the idempotent producer and opens the publisher's own store connection. */
pr_status sink_outbox_new(const pr_common_cfg *common, const sink_cfg *cfg, pr_metrics *metrics,
                          sink_parts *owned, sink_outbox **out, char *err, size_t errlen);
/* Creates the output topics that are missing (state compacted). */
pr_status sink_outbox_ensure_topics(sink_outbox *ob, char *err, size_t errlen);
pr_status sink_outbox_start(sink_outbox *ob, char *err, size_t errlen);
/* Before start: the publisher checkpoints the WAL whose size the writer reports in
 * *wal_frames (sink_store_wal_report), so the writer does not. */
void sink_outbox_checkpoint_for(sink_outbox *ob, atomic_long *wal_frames);
/* Tells the publisher that new rows were committed (any thread). */
void sink_outbox_wake(sink_outbox *ob);
/* Whether the producer failed for good and the publisher ended (any thread): the sink is then
 * not ready and the process is asked to stop (it exits 70). NULL: false. */
bool sink_outbox_failed(const sink_outbox *ob);
/* Tests: raises a fatal error in the producer (librdkafka's rd_kafka_test_fatal_error), as a
 * fenced or unauthorised producer would get from the broker. */
void sink_outbox_inject_fatal(sink_outbox *ob, const char *reason);
/* The sink's publisher (NULL without brokers): tests. */
sink_outbox *sink_outbox_of(sink *r);
/* Publishes what is left (bounded by a deadline), then ends the thread. */
void sink_outbox_stop(sink_outbox *ob);
void sink_outbox_free(sink_outbox *ob); /* NULL is a no-op */

/* ---- loop.c: the consumer thread ------------------------------------------------------ */

typedef struct sink_loop sink_loop;
/* st and pf are handed to the loop thread (it alone uses them while it runs); ob may be NULL;
 * *ready is set while partitions are assigned. */
pr_status sink_loop_new(const pr_common_cfg *common, const sink_cfg *cfg, pr_metrics *metrics,
                        sink_store *st, sink_profiles *pf, sink_outbox *ob, sink_parts *owned,
                        atomic_int *ready, sink_loop **out, char *err, size_t errlen);
pr_status sink_loop_start(sink_loop *l, char *err, size_t errlen);
/* Asks the loop to rescan the profiles directory now (any thread). */
void sink_loop_request_reload(sink_loop *l);
/* Commits the open batch, leaves the group, ends the thread. */
void sink_loop_stop(sink_loop *l);
void sink_loop_free(sink_loop *l); /* NULL is a no-op */

/* ---- time ------------------------------------------------------------------------------ */

/* Now as RFC 3339 UTC with milliseconds, e.g. 2026-11-24T17:26:00.123Z (buf >= 25). */
void sink_now_rfc3339(char *buf, size_t len);
/* The same for a time in milliseconds since the epoch (>= 0), and the wall clock in them. */
void sink_time_rfc3339(long long unix_ms, char *buf, size_t len);
long long sink_real_ms(void);

#endif
