/* testsupport.c - see testsupport.h. */
#include "testsupport.h"

#include <libpq-fe.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

char *ts_repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Reads src to its end through rd (bytes read, 0 at the end, < 0 on error) into a
 * NUL-terminated buffer; NULL on an error. */
static char *read_all(void *src, long (*rd)(void *src, char *buf, size_t n), size_t *len)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    long r;
    do {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        r = rd(src, buf + n, 65536);
        n += r > 0 ? (size_t)r : 0;
    } while (r > 0);
    if (r < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static long read_stdio(void *src, char *buf, size_t n)
{
    size_t r = fread(buf, 1, n, src);
    return r == 0 && ferror((FILE *)src) ? -1 : (long)r;
}

static long read_gz(void *src, char *buf, size_t n)
{
    return gzread(src, buf, (unsigned)n);
}

char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = read_all(f, read_stdio, len);
    fclose(f);
    return buf;
}

char *ts_read_gzfile(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = read_all(f, read_gz, len);
    if (gzclose(f) != Z_OK) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

int ts_write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* Every directory ts_mkdtemp made that ts_rmtree has not removed yet. A test that fails
 * half-way never reaches its own ts_rmtree (cmocka's fail jumps past it), so what is left is
 * removed when the process that made it exits (a forked child removes only its own);
 * PR_TEST_KEEP=1 keeps it and names it on stderr instead. The only mutable state here. */
typedef struct made_dir {
    char *path;
    pid_t pid; /* the process that made it */
} made_dir;
static struct {
    pthread_mutex_t mu;
    made_dir *dirs;
    size_t n;
    bool registered;
} made = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, false};

static void rm_rf(const char *path)
{
    char cmd[4200];
    if (!path || !*path || strcmp(path, "/") == 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "ts_rmtree: could not remove %s\n", path);
}

static void made_at_exit(void)
{
    const char *keep = getenv("PR_TEST_KEEP");
    pthread_mutex_lock(&made.mu);
    for (size_t i = 0; i < made.n; i++) {
        if (made.dirs[i].pid != getpid())
            ;
        else if (keep && strcmp(keep, "1") == 0)
            fprintf(stderr, "PR_TEST_KEEP=1: kept %s\n", made.dirs[i].path);
        else
            rm_rf(made.dirs[i].path);
        free(made.dirs[i].path);
    }
    free(made.dirs);
    made.dirs = NULL;
    made.n = 0;
    pthread_mutex_unlock(&made.mu);
}

static void made_add(const char *path)
{
    pthread_mutex_lock(&made.mu);
    if (!made.registered)
        made.registered = atexit(made_at_exit) == 0;
    made_dir *nd = realloc(made.dirs, (made.n + 1) * sizeof *nd);
    if (nd) {
        made.dirs = nd;
        made.dirs[made.n] = (made_dir){strdup(path), getpid()};
        if (made.dirs[made.n].path)
            made.n++;
    }
    pthread_mutex_unlock(&made.mu);
}

static void made_forget(const char *path)
{
    pthread_mutex_lock(&made.mu);
    for (size_t i = 0; i < made.n; i++) {
        if (strcmp(made.dirs[i].path, path) == 0) {
            free(made.dirs[i].path);
            made.dirs[i] = made.dirs[--made.n];
            break;
        }
    }
    pthread_mutex_unlock(&made.mu);
}

char *ts_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/pr-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(path))
        return NULL;
    made_add(path);
    return strdup(path);
}

void ts_rmtree(const char *path)
{
    rm_rf(path);
    if (path)
        made_forget(path);
}

int ts_tmpdir_setup(void **state)
{
    *state = ts_mkdtemp("test");
    return *state ? 0 : -1;
}

int ts_tmpdir_teardown(void **state)
{
    ts_rmtree(*state);
    free(*state);
    return 0;
}

int ts_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!p)
        return -1;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, p);
        n += r;
        if (r == 0)
            break;
    }
    if (buf)
        buf[n] = '\0';
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* The value of the variable name, or exit 1 saying why it is needed: a failure, never a skip. */
static const char *required_env(const char *name, const char *why)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: %s\n", name, why);
        exit(1);
    }
    return v;
}

const char *ts_brokers(void)
{
    return required_env("PHONEREPORT_TEST_BROKERS",
                        "integration tests need the real broker; run them through scripts/test.sh");
}

const char *ts_pg(void)
{
    return required_env("PHONEREPORT_TEST_PG",
                        "these tests need the real PostgreSQL server; run them through "
                        "scripts/test.sh (tests/pg/pg.sh run)");
}

pr_status ts_cfg_check(const pr_role *role, const void *cfg, const pr_common_cfg *common)
{
    pr_errlist errs = {0};
    pr_status st = role->cfg_check(cfg, common, &errs);
    pr_errlist_print(&errs, NULL, stderr);
    pr_errlist_release(&errs);
    return st;
}

int ts_pg_exec(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
        if (rc != 0)
            fprintf(stderr, "ts_pg_exec: %s", PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "ts_pg_exec: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

char *ts_pg_schema_new(const char *tag)
{
    static unsigned seq;
    const char *base = ts_pg();
    char schema[96], sql[160], *out = NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(schema, sizeof schema, "t_%s_%ld_%ld_%u", tag, (long)getpid(),
             (long)(ts.tv_nsec % 1000000), ++seq);
    for (char *p = schema; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    if (ts_pg_exec(base, sql) != 0) {
        fprintf(stderr, "cannot create schema %s on %s\n", schema, base);
        exit(1);
    }
    if (asprintf(&out, "%s%coptions=-csearch_path%%3D%s", base, strchr(base, '?') ? '&' : '?',
                 schema) < 0)
        exit(1);
    return out;
}

char *ts_unique_prefix(const char *tag)
{
    static unsigned seq;
    char buf[128];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, sizeof buf, "t%s-%ld-%ld-%u.", tag, (long)getpid(), (long)(ts.tv_nsec % 100000),
             ++seq);
    return strdup(buf);
}

long long ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double ts_timeout_scale(void)
{
    const char *v = getenv("PR_TEST_TIMEOUT_SCALE");
    char *end = NULL;
    if (!v || !*v)
        return 1.0;
    double scale = strtod(v, &end);
    if (*end || !(scale > 0.0) || scale > 1000.0) {
        fprintf(stderr, "PR_TEST_TIMEOUT_SCALE=%s: expected a positive number up to 1000\n", v);
        exit(1); /* a failure, never a silent default */
    }
    return scale;
}

long long ts_scaled_ms(long long ms)
{
    double x = (double)ms * ts_timeout_scale();
    long long n = (long long)x;
    return (double)n < x ? n + 1 : n;
}

long long ts_deadline_ms(long long ms)
{
    return ts_now_ms() + ts_scaled_ms(ms);
}

int ts_timeout_ms(int ms)
{
    long long n = ts_scaled_ms(ms);
    return n > INT_MAX ? INT_MAX : (int)n;
}

int ts_validate_schema(const char *schema, const char *json_path)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s/schema/validate.py' '%s/../proto/schemas/%s.schema.json' '%s'", PR_PYTHON,
             PR_TESTS_DIR, PR_TESTS_DIR, schema, json_path);
    char *out = NULL;
    int rc = ts_run(cmd, &out);
    if (rc != 0 && out)
        fprintf(stderr, "%s", out);
    free(out);
    return rc;
}

char *ts_xml_parse(const char *xml, size_t len)
{
    char *dir = ts_mkdtemp("xml");
    char path[4200], cmd[8800];
    char *out = NULL;
    if (!dir)
        return NULL;
    snprintf(path, sizeof path, "%s/doc.xml", dir);
    if (ts_write_file(path, xml, len) == 0) {
        snprintf(cmd, sizeof cmd, "'%s' '%s/support/xml_parse.py' '%s'", PR_PYTHON, PR_TESTS_DIR,
                 path);
        if (ts_run(cmd, &out) != 0) {
            fprintf(stderr, "%s\n%.*s\n", out ? out : "xml_parse.py did not run", (int)len, xml);
            free(out);
            out = NULL;
        }
    }
    ts_rmtree(dir);
    free(dir);
    return out;
}
