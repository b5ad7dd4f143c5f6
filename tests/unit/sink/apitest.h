/* apitest.h - the one fixture of the sink's store and API tests (test_sink_state,
 * test_sink_upgrade, test_sink_api, test_sink_fleet, test_sink_api_limits, test_sink_history,
 * test_sink_remediate): a store in a temporary directory (or a new PostgreSQL schema, sinktest.h)
 * with optional intended profiles, the API served over it on a free loopback port, and curl as the
 * independent HTTP client. */
#ifndef APITEST_H
#define APITEST_H

#include <sys/stat.h>

#include "metrics.h"
#include "sinktest.h"

typedef struct apitest {
    char *dir, *profiles, *data; /* the temporary directory, its profiles/ and data/ */
    char *where;                 /* the store: data, or a PostgreSQL schema */
    sink_store *st;              /* the fixture's own read-write connection */
    sink_profiles *pf;
    sink_api *api;
    pr_metrics *m;
    atomic_int ready;
    unsigned port;
} apitest;

/* The fixture before its store opens: the temporary directory (tag names it and the
 * PostgreSQL schema), its profiles directory (default_profile, when given, is its default.xml)
 * and where the store is to be; apitest_open opens it. A test that loads an old store first
 * (test_sink_upgrade) writes it there in between. */
static inline apitest *apitest_prepare(const char *tag, const char *default_profile)
{
    apitest *f = calloc(1, sizeof *f);
    char path[4200];
    assert_non_null(f);
    f->dir = ts_mkdtemp(tag);
    snprintf(path, sizeof path, "%s/profiles", f->dir);
    mkdir(path, 0700);
    f->profiles = strdup(path);
    if (default_profile) {
        char file[4300];
        snprintf(file, sizeof file, "%s/default.xml", path);
        ts_write_file(file, default_profile, strlen(default_profile));
    }
    snprintf(path, sizeof path, "%s/data", f->dir);
    f->data = strdup(path);
    f->where = sinktest_where(path, tag);
    return f;
}

/* Opens (and upgrades) the store, reads the profiles. */
static inline void apitest_open(apitest *f)
{
    char err[256];
    f->pf = sink_profiles_new(f->profiles);
    sink_profiles_scan(f->pf, NULL);
    if (sink_store_open(f->where, false, "normal", &f->st, err, sizeof err) != PR_OK)
        fail_msg("open: %s", err);
    f->m = pr_metrics_new();
    f->ready = 1;
}

/* A new store with its profiles, not yet served (apitest_serve). */
static inline apitest *apitest_new(const char *tag, const char *default_profile)
{
    apitest *f = apitest_prepare(tag, default_profile);
    apitest_open(f);
    return f;
}

/* Serves the API over the store; o may be NULL (the defaults), its listen and data_dir are
 * filled in when unset. */
static inline void apitest_serve(apitest *f, const sink_api_opts *o)
{
    sink_api_opts opts = {0};
    char err[256];
    if (o)
        opts = *o;
    if (!opts.listen)
        opts.listen = "127.0.0.1:0";
    if (!opts.data_dir)
        opts.data_dir = f->where;
    if (sink_api_start_opts(&opts, f->m, &f->ready, &f->api, err, sizeof err) != PR_OK)
        fail_msg("api: %s", err);
    f->port = sink_api_bound_port(f->api);
    assert_true(f->port > 0);
}

static inline void apitest_free(apitest *f)
{
    if (!f)
        return;
    sink_api_stop(f->api);
    sink_store_close(f->st);
    sink_profiles_free(f->pf);
    pr_metrics_free(f->m);
    ts_rmtree(f->dir);
    free(f->dir);
    free(f->profiles);
    free(f->data);
    free(f->where);
    free(f);
}

/* The cmocka teardown of a test whose state is an apitest; APITEST names a test with its setup
 * (a function that makes the apitest) and this teardown. */
static inline int apitest_teardown(void **state)
{
    apitest_free(*state);
    return 0;
}
#define APITEST(test, setup) cmocka_unit_test_setup_teardown(test, setup, apitest_teardown)

/*
 * curl METHOD http://127.0.0.1:port PATH (already URL-encoded) with extra curl arguments (may
 * be NULL, e.g. "-H 'Authorization: ...'"). Returns the status; the body, content type and
 * response headers go to the pointers that are not NULL (caller frees).
 */
static inline int apitest_curl(unsigned port, const char *method, const char *path,
                               const char *extra, char **body, char **ctype, char **headers)
{
    char cmd[4096], *out = NULL;
    bool head = strcmp(method, "HEAD") == 0;
    snprintf(cmd, sizeof cmd,
             "curl -sS -g -X %s %s %s -w '\\n%%{http_code} %%{content_type}' "
             "'http://127.0.0.1:%u%s'",
             method, head ? "-I" : "-D -", extra ? extra : "", port, path);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_non_null(out);
    char *nl = strrchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    int code = atoi(nl + 1);
    char *sp = strchr(nl + 1, ' ');
    if (ctype)
        *ctype = strdup(sp ? sp + 1 : "");
    char *start = out, *end = head ? NULL : strstr(out, "\r\n\r\n");
    if (end) {
        *end = '\0';
        start = end + 4;
    }
    if (headers)
        *headers = strdup(end ? out : "");
    if (body)
        *body = strdup(start);
    free(out);
    return code;
}

/* GET path: asserts the status and a JSON document, which it returns. */
static inline json_t *apitest_json(unsigned port, const char *path, int want_code)
{
    char *body = NULL, *ctype = NULL;
    int code = apitest_curl(port, "GET", path, NULL, &body, &ctype, NULL);
    if (code != want_code)
        fail_msg("GET %s: %d (wanted %d) %s", path, code, want_code, body);
    assert_non_null(strstr(ctype, "application/json"));
    json_t *doc = json_loads(body, 0, NULL);
    if (!doc)
        fail_msg("GET %s: not JSON: %s", path, body);
    free(body);
    free(ctype);
    return doc;
}

/* The request gets want_code and exactly {"error": "..."}, naming reason when given. */
static inline void apitest_expect_error(unsigned port, const char *method, const char *path,
                                        int want_code, const char *reason)
{
    char *body = NULL;
    int code = apitest_curl(port, method, path, NULL, &body, NULL, NULL);
    if (code != want_code || (reason && !strstr(body, reason)))
        fail_msg("%s %s: %d %s (wanted %d naming '%s')", method, path, code, body, want_code,
                 reason ? reason : "");
    json_t *doc = json_loads(body, 0, NULL);
    if (!doc)
        fail_msg("%s %s: not JSON: %s", method, path, body);
    assert_true(json_is_string(json_object_get(doc, "error")));
    assert_int_equal(json_object_size(doc), 1);
    json_decref(doc);
    free(body);
}

#endif
