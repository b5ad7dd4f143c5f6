/*
 * store_pg.c - the sink's store on PostgreSQL (libpq): the connection, the schema, and the
 * statements of the portable layer (store.c), for several sinks of one consumer group sharing
 * one database.
 *
 * DESIGN: a statement is the portable text with ?N rewritten to $N, prepared once per
 * connection (PQprepare) and run with text parameters (PQexecPrepared); its whole result set
 * is fetched and stepped through, so a caller may write while it walks rows it read. Every
 * value travels in text form (bytea as \x hex). A lost connection is re-opened by the next
 * statement or BEGIN outside a transaction (never inside one: the statements after it would
 * run on their own), and the prepared statements are prepared again on the new one.
 * The schema is store_pg_schema.c's.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_int.h"

/* Queued statements before their results are read: their answers (a few bytes each) stay
 * far below what the sockets buffer, so the server never blocks on us while we send. */
#define PIPELINE_MAX  1024
#define PG_MAX_PARAMS 128 /* the multi-row inserts: up to 16 rows of 5 (store_sql.c) */

struct sink_pg {
    PGconn *conn;
    char *conninfo;
    bool readonly;
    bool txn;      /* between our BEGIN and its COMMIT or ROLLBACK */
    unsigned gen;  /* raised on every new connection: statements prepare again */
    long idle_ms;  /* idle_in_transaction_session_timeout of a writer */
    bool pipeline; /* writes inside a transaction are queued (sink_pg_set_pipeline) */
    int pending;   /* queued writes whose results are not read yet */
    long long round_trips;
    long answer_ms; /* the longest wait for an answer before the connection is given up; 0: none */
    char msg[512];
};

struct sink_pg_stmt {
    sink_pg *c;
    char *sql;
    char name[16]; /* "" = not prepared */
    unsigned prepared_gen;
    int nparams;
    Oid types[PG_MAX_PARAMS]; /* 0 (inferred), text for a number the text does not use */
    char *vals[PG_MAX_PARAMS];
    int lens[PG_MAX_PARAMS];
    bool bind_failed; /* a value could not be copied: the next step fails */
    bool write;       /* INSERT/UPDATE/DELETE without RETURNING: may be queued */
    PGresult *res;
    int row, nrows;
};

static void set_msg(sink_pg *c, const char *what, const char *detail)
{
    size_t n;
    snprintf(c->msg, sizeof c->msg, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    n = strlen(c->msg);
    while (n > 0 && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
        c->msg[--n] = '\0';
}

bool sink_pg_connected(const sink_pg *c)
{
    return c && c->conn && PQstatus(c->conn) == CONNECTION_OK;
}

const char *sink_pg_errmsg(sink_pg *c)
{
    return c && c->msg[0] ? c->msg : "postgresql: no error";
}

/* ---- waiting for the server, bounded --------------------------------------------------
 * The server's statement_timeout cancels a long statement, but a server that stops answering
 * without closing (SIGSTOPped, a frozen VM) cancels nothing, and its kernel still acknowledges
 * what we send, so TCP keepalives see a live peer. Every wait for an answer is therefore
 * bounded on our side too: c->answer_ms (statement_timeout and half of it again, at least 5 s
 * more; none when statement_timeout is 0). Past it the connection is closed (the server rolls
 * the transaction back when it wakes) and the call fails as an outage: the writer retries
 * with back-off, and the next statement connects again. */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Gives the connection up (see above). */
static void lost(sink_pg *c, const char *what)
{
    char detail[128];
    snprintf(detail, sizeof detail, "no answer within %ld ms, connection closed", c->answer_ms);
    set_msg(c, what, detail);
    PR_LOG(PR_LOG_WARN, "sink", "postgresql: no answer in time, connection closed",
           json_pack("{sI ss}", "answer_ms", (json_int_t)c->answer_ms, "role",
                     c->readonly ? "reader" : "writer"));
    PQfinish(c->conn);
    c->conn = NULL;
    c->txn = false;
    c->pending = 0;
}

/* Until a result can be read without blocking; false when the deadline passed (the
 * connection is then closed) or the connection broke. */
static bool await_answer(sink_pg *c)
{
    if (!c->conn)
        return false;
    long long deadline = c->answer_ms > 0 ? mono_ms() + c->answer_ms : 0;
    while (PQisBusy(c->conn)) {
        struct pollfd pfd = {.fd = PQsocket(c->conn), .events = POLLIN};
        long long left = deadline ? deadline - mono_ms() : -1;
        if (pfd.fd < 0)
            return false;
        if (deadline && left <= 0) {
            lost(c, "postgresql");
            return false;
        }
        int n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno != EINTR)
            return false;
        if (n > 0 && PQconsumeInput(c->conn) != 1)
            return false;
    }
    return true;
}

/* The results of what was sent (PQexec's rule: the first error, else the last result);
 * NULL when no answer came (c->msg says why). */
static PGresult *collect(sink_pg *c, int sent)
{
    PGresult *keep = NULL, *r;
    if (sent != 1) {
        set_msg(c, "postgresql", c->conn ? PQerrorMessage(c->conn) : "not connected");
        return NULL;
    }
    while (await_answer(c) && (r = PQgetResult(c->conn))) {
        bool error = keep && PQresultStatus(keep) == PGRES_FATAL_ERROR;
        if (error) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
        if (PQstatus(c->conn) != CONNECTION_OK)
            break;
    }
    if (!c->conn || PQisBusy(c->conn)) { /* given up or broken mid-answer */
        PQclear(keep);
        if (c->conn)
            set_msg(c, "postgresql", PQerrorMessage(c->conn));
        return NULL;
    }
    return keep;
}

static PGresult *exec_bounded(sink_pg *c, const char *sql)
{
    return collect(c, c->conn ? PQsendQuery(c->conn, sql) : 0);
}

static PGresult *run(sink_pg *c, const char *sql)
{
    c->round_trips++;
    PGresult *r = exec_bounded(c, sql);
    ExecStatusType t = PQresultStatus(r);
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
        if (r)
            set_msg(c, "postgresql", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Session settings of every (re)connection. A statement that runs longer than
 * PG_STATEMENT_TIMEOUT is cancelled by the server, unless the connection string (options=-c
 * statement_timeout=...), PGOPTIONS or the role's settings chose a time-out. */
#define PG_STATEMENT_TIMEOUT "60s"
#define PG_ANSWER_MARGIN_MS  5000L
static bool session(sink_pg *c)
{
    char sql[96];
    PGresult *t = run(c, "SELECT set_config('statement_timeout', '" PG_STATEMENT_TIMEOUT
                         "', false) WHERE current_setting('statement_timeout') = '0'");
    if (!t)
        return false;
    PQclear(t);
    /* our own bound on every wait for an answer (await_answer) follows the server's */
    if (!(t = run(c, "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")))
        return false;
    long st = PQntuples(t) == 1 ? atol(PQgetvalue(t, 0, 0)) : 0;
    PQclear(t);
    c->answer_ms = st > 0 ? st + (st / 2 > PG_ANSWER_MARGIN_MS ? st / 2 : PG_ANSWER_MARGIN_MS) : 0;
    /* A document is 10-30 KB of jsonb, compressed by TOAST on every write: lz4 where the server
     * has it (PostgreSQL 14 and later, built with it) and nobody chose otherwise; pglz made
     * the server's CPU the bound of a boot storm (first full reports 807 -> 1,348/s in
     * bench_sink, documents 12% larger). */
    if (!(t = run(c, "SELECT set_config('default_toast_compression', 'lz4', false) FROM "
                     "pg_settings WHERE name = 'default_toast_compression' AND source = "
                     "'default' AND 'lz4' = ANY(enumvals)")))
        return false;
    PQclear(t);
    if (c->readonly)
        snprintf(sql, sizeof sql, "SET default_transaction_read_only = on");
    else /* a sink stopped inside a transaction (SIGSTOP, a hung host) must not hold its row
          * locks (and the partitions' owner rows) for ever: the server ends its session */
        snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %ld",
                 c->idle_ms > 0 ? c->idle_ms : 30000L);
    PGresult *r = run(c, sql);
    PQclear(r);
    return r != NULL;
}

void sink_pg_set_idle_timeout(sink_pg *c, long ms)
{
    c->idle_ms = ms;
    if (!c->readonly && !c->txn && c->conn && PQstatus(c->conn) == CONNECTION_OK)
        session(c);
}

/* The server's notices (NOTICE: relation exists, the FATAL of a terminated session) would be
 * printed on stderr by libpq; the sink reports store failures itself. */
static void no_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/*
 * Connects (or reconnects). A server that stops answering without closing (a hung host, a
 * SIGSTOPped postmaster, a dropped route) must not block the sink for ever: connect_timeout
 * bounds the start-up, TCP keepalives and tcp_user_timeout end a connection whose peer is
 * gone. These are defaults that the connection string overrides: they stand before the
 * expanded dbname entry, and libpq lets later entries win.
 */
static bool connect_now(sink_pg *c)
{
    static const char *const keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    /* "": unset, so that libpq's PGCONNECT_TIMEOUT applies when it is given */
    const char *vals[] = {
        getenv("PGCONNECT_TIMEOUT") ? "" : "10", "1", "30", "10", "3", "30000", c->conninfo, NULL};
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
        return true;
    if (c->conn)
        PQreset(c->conn);
    else
        c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
        set_msg(c, "postgresql: cannot connect",
                c->conn ? PQerrorMessage(c->conn) : "out of memory");
        return false;
    }
    PQsetNoticeProcessor(c->conn, no_notice, NULL);
    c->gen++;
    return session(c);
}

bool sink_pg_ping(sink_pg *c)
{
    if (c->txn)
        return PQstatus(c->conn) == CONNECTION_OK;
    if (!connect_now(c))
        return false;
    PGresult *r = run(c, "SELECT 1");
    PQclear(r);
    return r != NULL;
}

bool sink_pg_run(sink_pg *c, const char *sql)
{
    PGresult *r = run(c, sql);
    PQclear(r);
    return r != NULL;
}

int sink_pg_schema_version(sink_pg *c, bool *missing)
{
    PGresult *r = exec_bounded(c, "SELECT value FROM meta WHERE key = 'schema'");
    int v =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    *missing = PQresultStatus(r) != PGRES_TUPLES_OK;
    PQclear(r);
    return v;
}

pr_status sink_pg_open(const char *conninfo, bool readonly, sink_pg **out, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    sink_pg *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c || !(c->conninfo = strdup(conninfo))) {
        free(c);
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    }
    c->readonly = readonly;
    c->answer_ms = 90000; /* until session() reads the server's statement_timeout */
    if (!connect_now(c)) {
        rc = pr_err(PR_ETRANSIENT, err, errlen, "%s", c->msg);
        goto out;
    }
    if (!readonly)
        rc = sink_pg_schema(c, err, errlen);
    else { /* the API's connection: the schema must be there and known */
        bool missing;
        int v = sink_pg_schema_version(c, &missing);
        if (v > SINK_PG_SCHEMA)
            rc = pr_err(PR_EINVAL, err, errlen,
                        "the PostgreSQL store's schema is version %d, newer than this "
                        "phonereport knows (%d)",
                        v, SINK_PG_SCHEMA);
    }
out:
    if (rc != PR_OK)
        sink_pg_close(c);
    else
        *out = c;
    return rc;
}

void sink_pg_close(sink_pg *c)
{
    if (!c)
        return;
    if (c->conn)
        PQfinish(c->conn);
    free(c->conninfo);
    free(c);
}

/* ---- pipelined writes ----------------------------------------------------------------- */

void sink_pg_set_pipeline(sink_pg *c, bool on)
{
    c->pipeline = on;
}

long long sink_pg_round_trips(const sink_pg *c)
{
    return c->round_trips;
}

/* Reads the results of the queued statements (one sync: one round trip) and leaves pipeline
 * mode; false with c->msg set at the first that failed (the transaction is then aborted).
 * last non-NULL: the result of the last one queued (a read riding the sync) is kept there. */
static bool drain(sink_pg *c, PGresult **last)
{
    bool ok = true;
    if (PQpipelineStatus(c->conn) == PQ_PIPELINE_OFF)
        return true;
    c->round_trips++;
    if (PQpipelineSync(c->conn) != 1) {
        set_msg(c, "postgresql pipeline", PQerrorMessage(c->conn));
        ok = false;
    }
    for (int left = c->pending; left > 0 && ok;) {
        if (!await_answer(c)) { /* given up (c->conn closed: c->msg says so) or broken */
            if (c->conn)
                set_msg(c, "postgresql", PQerrorMessage(c->conn));
            ok = false;
            break;
        }
        PGresult *r = PQgetResult(c->conn);
        if (!r) { /* the end of one query's results */
            left--;
            if (PQstatus(c->conn) != CONNECTION_OK) {
                set_msg(c, "postgresql", PQerrorMessage(c->conn));
                ok = false;
            }
            continue;
        }
        ExecStatusType t = PQresultStatus(r);
        if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
            set_msg(c, "postgresql",
                    t == PGRES_PIPELINE_ABORTED ? "pipeline aborted" : PQresultErrorMessage(r));
            ok = false;
        } else if (last && left == 1 && !*last) {
            *last = r;
            continue;
        }
        PQclear(r);
    }
    if (!ok && last) {
        PQclear(*last);
        *last = NULL;
    }
    /* what is left up to the sync (after an error: aborted queries) */
    for (int nulls = 0; c->conn && nulls <= c->pending + 1;) {
        if (!await_answer(c))
            break;
        PGresult *r = PQgetResult(c->conn);
        if (!r) {
            nulls++;
            if (PQstatus(c->conn) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType t = PQresultStatus(r);
        PQclear(r);
        if (t == PGRES_PIPELINE_SYNC || t == PGRES_FATAL_ERROR ||
            PQstatus(c->conn) != CONNECTION_OK)
            break;
    }
    c->pending = 0;
    if (c->conn && PQexitPipelineMode(c->conn) != 1 && ok) {
        set_msg(c, "postgresql pipeline", PQerrorMessage(c->conn));
        ok = false;
    }
    return ok;
}

pr_status sink_pg_flush(sink_pg *c, char *err, size_t errlen)
{
    return drain(c, NULL) ? PR_OK : pr_err(PR_ETRANSIENT, err, errlen, "%s", c->msg);
}

/* Queues the prepared statement s, or (s NULL) the text sql without parameters. */
static bool queue(sink_pg *c, sink_pg_stmt *s, const char *sql)
{
    if (c->pending >= PIPELINE_MAX && !drain(c, NULL))
        return false;
    if (PQpipelineStatus(c->conn) == PQ_PIPELINE_OFF && PQenterPipelineMode(c->conn) != 1) {
        set_msg(c, "postgresql pipeline", PQerrorMessage(c->conn));
        return false;
    }
    int sent = s ? PQsendQueryPrepared(c->conn, s->name, s->nparams, (const char *const *)s->vals,
                                       s->lens, NULL, 0)
                 : PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (sent != 1) {
        set_msg(c, "postgresql", PQerrorMessage(c->conn));
        return false;
    }
    c->pending++;
    return true;
}

static int queue_write(sink_pg_stmt *s)
{
    if (!queue(s->c, s, NULL))
        return SINK_ERROR;
    s->nrows = 0;
    s->row = 0;
    return SINK_DONE;
}

/* COMMIT behind the queued writes: one sync answers them all. */
static PGresult *commit_queued(sink_pg *c)
{
    PGresult *r = NULL;
    if (!queue(c, NULL, "COMMIT") || !drain(c, &r))
        return NULL;
    return r;
}

pr_status sink_pg_exec(sink_pg *c, const char *sql, char *err, size_t errlen)
{
    bool begin = strncmp(sql, "BEGIN", 5) == 0;
    bool end = strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0;
    if (begin && !connect_now(c))
        return pr_err(PR_ETRANSIENT, err, errlen, "%s", c->msg);
    /* The writer's BEGIN is queued ahead of the batch's first statement (its failure fails
     * that statement), and its COMMIT rides the sync of the writes before it. */
    if (begin && c->pipeline && !c->txn && c->pending == 0) {
        if (!queue(c, NULL, sql))
            return pr_err(PR_ETRANSIENT, err, errlen, "%s", c->msg);
        c->txn = true;
        return PR_OK;
    }
    bool commit = strcmp(sql, "COMMIT") == 0;
    PGresult *r = NULL;
    bool ok =
        !c->conn || (commit && c->pending > 0 ? (r = commit_queued(c)) != NULL : drain(c, NULL));
    if (!ok && strcmp(sql, "ROLLBACK") != 0) {
        if (commit) { /* the transaction failed: end it */
            char msg[sizeof c->msg];
            memcpy(msg, c->msg, sizeof msg);
            PQclear(run(c, "ROLLBACK"));
            c->txn = false;
            memcpy(c->msg, msg, sizeof msg);
        }
        return pr_err(PR_ETRANSIENT, err, errlen, "%s", c->msg);
    }
    if (!r)
        r = run(c, sql);
    if (begin && r)
        c->txn = true;
    if (end)
        c->txn = false;
    /* COMMIT of an aborted transaction answers COMMAND_OK with the tag ROLLBACK */
    bool rolled_back = r && strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    if (rolled_back)
        set_msg(c, "postgresql: the transaction was rolled back", NULL);
    PQclear(r);
    if (!r || rolled_back)
        return pr_err(PR_ETRANSIENT, err, errlen, "%s", c->msg);
    return PR_OK;
}

bool sink_pg_in_txn(sink_pg *c)
{
    return c->txn;
}

/* ---- statements ------------------------------------------------------------------------ */

sink_pg_stmt *sink_pg_stmt_new(sink_pg *c, const char *sql, const char *name)
{
    sink_pg_stmt *s = calloc(1, sizeof *s);
    size_t n = strlen(sql);
    if (!s || !(s->sql = malloc(n + 1))) {
        free(s);
        return NULL;
    }
    bool used[PG_MAX_PARAMS + 1] = {false};
    s->c = c;
    for (size_t i = 0; i <= n; i++) {
        s->sql[i] = sql[i];
        if (sql[i] == '?' && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            s->sql[i] = '$';
            int k = atoi(sql + i + 1);
            if (k > PG_MAX_PARAMS) {
                sink_pg_stmt_free(s);
                return NULL;
            }
            used[k] = true;
            if (k > s->nparams)
                s->nparams = k;
        }
    }
    for (int k = 1; k <= s->nparams; k++)
        s->types[k - 1] = used[k] ? 0 : 25; /* text: PostgreSQL cannot infer an unused one */
    if (name)
        snprintf(s->name, sizeof s->name, "%s", name);
    s->write = (strncmp(sql, "INSERT", 6) == 0 || strncmp(sql, "UPDATE", 6) == 0 ||
                strncmp(sql, "DELETE", 6) == 0) &&
               !strstr(sql, "RETURNING");
    s->row = -1;
    return s;
}

void sink_pg_reset(sink_pg_stmt *s, bool clear)
{
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    s->nrows = 0;
    if (clear) {
        for (int i = 0; i < s->nparams; i++) {
            free(s->vals[i]);
            s->vals[i] = NULL;
        }
        s->bind_failed = false;
    }
}

void sink_pg_stmt_free(sink_pg_stmt *s)
{
    if (!s)
        return;
    sink_pg_reset(s, true);
    free(s->sql);
    free(s);
}

bool sink_pg_bind(sink_pg_stmt *s, int i, const char *text, size_t len)
{
    if (i < 1 || i > s->nparams)
        return true;
    free(s->vals[i - 1]);
    s->vals[i - 1] = NULL;
    s->lens[i - 1] = 0;
    if (!text)
        return true;
    if (len > (size_t)INT32_MAX || !(s->vals[i - 1] = malloc(len + 1))) {
        s->bind_failed = true; /* never NULL in its place: the step fails */
        return false;
    }
    memcpy(s->vals[i - 1], text, len);
    s->vals[i - 1][len] = '\0';
    s->lens[i - 1] = (int)len;
    return true;
}

bool sink_pg_fresh(const sink_pg_stmt *s)
{
    return !s->res && s->row < 0;
}

int sink_pg_step(sink_pg_stmt *s)
{
    sink_pg *c = s->c;
    if (s->bind_failed) {
        set_msg(c, "postgresql: out of memory binding a value", NULL);
        return SINK_ERROR;
    }
    if (!s->res && s->row < 0) {
        if (!c->txn && !connect_now(c))
            return SINK_ERROR;
        bool queue = c->pipeline && c->txn && s->write && s->name[0];
        /* a read after queued writes is queued behind them: one sync answers them all */
        bool ride = c->pipeline && c->txn && !s->write && s->name[0] && c->pending > 0 &&
                    s->prepared_gen == c->gen;
        if (((!queue && !ride) || s->prepared_gen != c->gen) && !drain(c, NULL))
            return SINK_ERROR;
        if (s->name[0] && s->prepared_gen != c->gen) {
            c->round_trips++;
            PGresult *p = collect(c, PQsendPrepare(c->conn, s->name, s->sql, s->nparams, s->types));
            if (PQresultStatus(p) != PGRES_COMMAND_OK) {
                /* prepared by a previous statement object of this connection: replace it */
                bool exists = p && PQresultErrorField(p, PG_DIAG_SQLSTATE) &&
                              strcmp(PQresultErrorField(p, PG_DIAG_SQLSTATE), "42P05") == 0;
                set_msg(c, "postgresql prepare",
                        p ? PQresultErrorMessage(p) : PQerrorMessage(c->conn));
                PQclear(p);
                if (!exists)
                    return SINK_ERROR;
            } else {
                PQclear(p);
            }
            s->prepared_gen = c->gen;
        }
        if (queue)
            return queue_write(s);
        const char *const *vals = (const char *const *)s->vals;
        if (ride) {
            if (queue_write(s) != SINK_DONE || !drain(c, &s->res))
                return SINK_ERROR;
        } else {
            c->round_trips++;
            s->res = collect(c, s->name[0] ? PQsendQueryPrepared(c->conn, s->name, s->nparams, vals,
                                                                 s->lens, NULL, 0)
                                           : PQsendQueryParams(c->conn, s->sql, s->nparams,
                                                               s->types, vals, s->lens, NULL, 0));
        }
        ExecStatusType t = PQresultStatus(s->res);
        if (t != PGRES_TUPLES_OK && t != PGRES_COMMAND_OK) {
            set_msg(c, "postgresql",
                    s->res ? PQresultErrorMessage(s->res) : PQerrorMessage(c->conn));
            PQclear(s->res);
            s->res = NULL;
            return SINK_ERROR;
        }
        s->nrows = t == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
        s->row = -1;
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        return SINK_ROW;
    }
    s->row = s->nrows;
    return SINK_DONE;
}

const char *sink_pg_col(sink_pg_stmt *s, int i, size_t *len)
{
    *len = 0;
    if (!s->res || s->row < 0 || s->row >= s->nrows || i >= PQnfields(s->res) ||
        PQgetisnull(s->res, s->row, i))
        return NULL;
    *len = (size_t)PQgetlength(s->res, s->row, i);
    return PQgetvalue(s->res, s->row, i);
}
