/*
 * store_doc.c - a phone's configuration as one document in one row, and the parameter index.
 *
 * The document holds every parameter with its value and access. SQLite: configs.doc, the JSON
 * text {"params":{name:value},"access":{name:access}} deflated with zlib (the names repeat in
 * both halves and across parameters: an 8832 profile of 565 parameters takes about 8 KB); a
 * blob that starts with '{' is read as plain JSON (what the schema-5 upgrade writes). PostgreSQL:
 * configs.params and configs.access as jsonb, a supported interface for plain SQL (README).
 *
 * The parameter index (pindex) holds (name, value, phone) for the parameters that the operator
 * names (--sink-index-params: names and globs), written from the diff of the old and the new
 * document (apply.c), and rebuilt from the documents at start-up when the set changed. A
 * search on another parameter scans the documents, bounded in time (fleet.c).
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clock.h"
#include "log.h"
#include "store_int.h"

/* ---- the SQLite encoding ---------------------------------------------------------------- */

pr_status sink_doc_encode(const json_t *params, const json_t *access, unsigned char **out,
                          size_t *len)
{
    json_t *doc = json_pack("{sOsO}", "params", params, "access", access);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    pr_status rc = PR_EFATAL;
    *out = NULL;
    *len = 0;
    json_decref(doc);
    if (!text)
        return PR_EFATAL;
    size_t n = strlen(text);
    uLongf cap = compressBound((uLong)n);
    unsigned char *z = malloc(cap + 4);
    if (z) {
        /* the text's length first (big-endian), then the deflated text */
        z[0] = (unsigned char)(n >> 24);
        z[1] = (unsigned char)(n >> 16);
        z[2] = (unsigned char)(n >> 8);
        z[3] = (unsigned char)n;
        if (compress2(z + 4, &cap, (const Bytef *)text, (uLong)n, 1) == Z_OK) {
            *out = z;
            *len = cap + 4;
            rc = PR_OK;
        } else {
            free(z);
        }
    }
    free(text);
    return rc;
}

pr_status sink_doc_decode(const void *blob, size_t len, json_t **params, json_t **access)
{
    const unsigned char *b = blob;
    char *text = NULL;
    json_t *doc = NULL;
    *params = *access = NULL;
    if (!b || len < 2)
        return PR_EFATAL;
    if (b[0] == '{') {
        doc = json_loadb((const char *)b, len, 0, NULL);
    } else if (len > 4) {
        uLongf n = (uLongf)b[0] << 24 | (uLongf)b[1] << 16 | (uLongf)b[2] << 8 | b[3];
        if (n > (1u << 30) || !(text = malloc(n + 1)))
            return PR_EFATAL;
        uLongf got = n;
        if (uncompress((Bytef *)text, &got, b + 4, (uLong)(len - 4)) == Z_OK && got == n)
            doc = json_loadb(text, n, 0, NULL);
        free(text);
    }
    json_t *p = json_object_get(doc, "params"), *a = json_object_get(doc, "access");
    if (json_is_object(p) && (!a || json_is_object(a) || json_is_null(a))) {
        *params = json_incref(p);
        *access = json_is_object(a) ? json_incref(a) : json_object();
    }
    json_decref(doc);
    if (!*params || !*access) {
        json_decref(*params);
        json_decref(*access);
        *params = *access = NULL;
        return PR_EFATAL;
    }
    return PR_OK;
}

/* ---- reading and writing a document ------------------------------------------------------ */

static pr_status doc_fail(sink_store *st, char *err, size_t errlen, const char *what)
{
    return pr_err(PR_EFATAL, err, errlen, "configuration document %s: %s", what,
                  sink_store_errmsg(st));
}

/* The document of the statement's current row from column i (PostgreSQL: i and i + 1). */
static pr_status doc_of_row(sink_stmt *s, int i, json_t **params, json_t **access)
{
    if (s->lite) {
        size_t n = 0;
        const void *b = sink_col_blob(s, i, &n);
        return sink_doc_decode(b, n, params, access);
    }
    const char *p = sink_col_text(s, i), *a = sink_col_text(s, i + 1);
    *params = p ? json_loads(p, 0, NULL) : NULL;
    *access = a ? json_loads(a, 0, NULL) : json_object();
    if (!json_is_object(*params) || !json_is_object(*access)) {
        json_decref(*params);
        json_decref(*access);
        *params = *access = NULL;
        return PR_EFATAL;
    }
    return PR_OK;
}

pr_status sink_store_doc_get(sink_store *st, int64_t phone, json_t **params, json_t **access,
                             char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_GET);
    pr_status rc = PR_OK;
    *params = *access = NULL;
    if (!s)
        return doc_fail(st, err, errlen, "read");
    sink_bind_int64(s, 1, phone);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        if (doc_of_row(s, 0, params, access) != PR_OK)
            rc = pr_err(PR_EFATAL, err, errlen,
                        "the configuration document of phone %lld is "
                        "unreadable",
                        (long long)phone);
    } else if (r == SINK_DONE) {
        *params = json_object();
        *access = json_object();
        if (!*params || !*access)
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    } else {
        rc = doc_fail(st, err, errlen, "read");
    }
    sink_reset(s);
    return rc;
}

pr_status sink_store_doc_put(sink_store *st, int64_t phone, const json_t *params,
                             const json_t *access, char *err, size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_PUT);
    if (!s)
        return doc_fail(st, err, errlen, "write");
    sink_bind_int64(s, 1, phone);
    if (s->lite) {
        unsigned char *z = NULL;
        size_t n = 0;
        if (sink_doc_encode(params, access, &z, &n) != PR_OK)
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        sqlite3_bind_blob(s->lite, 2, z, (int)n, free); /* SQLite frees it */
    } else {
        char *p = json_dumps(params, JSON_COMPACT), *a = json_dumps(access, JSON_COMPACT);
        if (p && a) {
            sink_bind_text(s, 2, p);
            sink_bind_text(s, 3, a);
        }
        free(p);
        free(a);
        if (!p || !a) {
            sink_reset(s);
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        }
    }
    return sink_exec_stmt(s, "configuration document", err, errlen);
}

/* ---- the writer's last documents ---------------------------------------------------------
 * A delta reads the document it merges into; when the same writer wrote that document (its
 * phone row, read under the transaction's lock, still has the version it wrote it at), the
 * document is taken from memory instead (no read, no inflate, no parse). Another writer (a
 * shared store) raises the version, so its documents are never taken for ours. */

void sink_store_docs_clear(sink_store *st)
{
    for (size_t i = 0; st->docs && i < SINK_DOC_CACHE; i++) {
        json_decref(st->docs[i].params);
        json_decref(st->docs[i].access);
        memset(&st->docs[i], 0, sizeof st->docs[i]);
    }
}

void sink_store_doc_remember(sink_store *st, int64_t phone, int64_t version, json_t *params,
                             json_t *access)
{
    if (!st->docs && !(st->docs = calloc(SINK_DOC_CACHE, sizeof *st->docs)))
        return;
    doc_slot *s = &st->docs[(uint64_t)phone % SINK_DOC_CACHE];
    json_decref(s->params);
    json_decref(s->access);
    *s = (doc_slot){phone, version, json_incref(params), json_incref(access)};
}

void sink_store_doc_moved(sink_store *st, int64_t phone, int64_t from, int64_t to)
{
    doc_slot *s = st->docs ? &st->docs[(uint64_t)phone % SINK_DOC_CACHE] : NULL;
    if (s && s->phone == phone && s->version == from)
        s->version = to;
}

pr_status sink_store_doc_get_at(sink_store *st, int64_t phone, int64_t version, json_t **params,
                                json_t **access, char *err, size_t errlen)
{
    doc_slot *s = st->docs ? &st->docs[(uint64_t)phone % SINK_DOC_CACHE] : NULL;
    if (s && s->params && s->phone == phone && s->version == version) {
        *params = json_incref(s->params);
        *access = json_incref(s->access);
        return PR_OK;
    }
    return sink_store_doc_get(st, phone, params, access, err, errlen);
}

/* ---- the parameter index ---------------------------------------------------------------- */

void sink_index_set_release(sink_index_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->pat[i]);
    free(s->spec);
    memset(s, 0, sizeof *s);
}

pr_status sink_index_parse(const char *spec, sink_index_set *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!spec)
        spec = SINK_INDEX_DEFAULT;
    if (!(out->spec = strdup(spec)))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    if (strcmp(spec, "none") == 0)
        return PR_OK;
    for (const char *p = spec; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 200 || memchr(p, ' ', n)) {
            sink_index_set_release(out);
            return pr_err(PR_EINVAL, err, errlen,
                          "sink-index-params: '%.*s' is not a parameter name or glob", (int)n, p);
        }
        if (out->n == SINK_INDEX_MAX) {
            sink_index_set_release(out);
            return pr_err(PR_EINVAL, err, errlen, "sink-index-params: more than %d entries",
                          SINK_INDEX_MAX);
        }
        if (!(out->pat[out->n++] = strndup(p, n))) {
            sink_index_set_release(out);
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return PR_OK;
}

bool sink_store_indexed(const sink_store *st, const char *name)
{
    for (size_t i = 0; i < st->index.n; i++)
        if (fnmatch(st->index.pat[i], name, 0) == 0)
            return true;
    return false;
}

/* meta('index_params') into *spec (copy; NULL when unset). */
static pr_status meta_get(sink_store *st, const char *key, char **out)
{
    sink_stmt *s = sink_store_stmt(st, Q_META_GET);
    *out = NULL;
    if (!s)
        return PR_EFATAL;
    sink_bind_text(s, 1, key);
    int r = sink_step(s);
    if (r == SINK_ROW && sink_col_text(s, 0) && !(*out = strdup(sink_col_text(s, 0))))
        r = SINK_ERROR;
    sink_reset(s);
    return r == SINK_ERROR ? PR_EFATAL : PR_OK;
}

pr_status sink_store_index_load(sink_store *st)
{
    char *spec = NULL, err[200];
    sink_index_set set;
    if (meta_get(st, "index_params", &spec) != PR_OK)
        return PR_OK; /* an empty index: every search scans (and says so) */
    if (spec && sink_index_parse(spec, &set, err, sizeof err) == PR_OK) {
        sink_index_set_release(&st->index);
        st->index = set;
    }
    free(spec);
    return PR_OK;
}

/* One index entry in or out (a value over SINK_INDEX_VALUE_MAX has none). */
static pr_status index_entry(sink_store *st, sink_sql q, int64_t phone, const char *name,
                             const char *value, char *err, size_t errlen)
{
    sink_stmt *s;
    if (!value || strlen(value) > SINK_INDEX_VALUE_MAX)
        return PR_OK;
    if (!(s = sink_store_stmt(st, q)))
        return doc_fail(st, err, errlen, "index");
    sink_bind_text(s, 1, name);
    sink_bind_text(s, 2, value);
    sink_bind_int64(s, 3, phone);
    return sink_exec_stmt(s, "index", err, errlen);
}

pr_status sink_store_index_change(sink_store *st, int64_t phone, const char *name,
                                  const char *old_value, const char *new_value, char *err,
                                  size_t errlen)
{
    pr_status rc = index_entry(st, Q_INDEX_DELETE, phone, name, old_value, err, errlen);
    return rc == PR_OK ? index_entry(st, Q_INDEX_PUT, phone, name, new_value, err, errlen) : rc;
}

/* One page of documents into the index; *after moves on, *n gets the page's size. */
static pr_status index_page(sink_store *st, int64_t *after, size_t *n, char *err, size_t errlen)
{
    enum { PAGE = 256 };
    struct {
        int64_t phone;
        json_t *params;
    } page[PAGE];
    pr_status rc = PR_OK;
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_LIST);
    *n = 0;
    if (!s)
        return doc_fail(st, err, errlen, "list");
    sink_bind_int64(s, 1, *after);
    sink_bind_int64(s, 2, PAGE);
    while (*n < PAGE && rc == PR_OK && sink_step(s) == SINK_ROW) {
        json_t *access = NULL;
        page[*n].phone = sink_col_int64(s, 0);
        if (doc_of_row(s, 1, &page[*n].params, &access) != PR_OK)
            rc = pr_err(PR_EFATAL, err, errlen,
                        "the configuration document of phone %lld is "
                        "unreadable",
                        (long long)page[*n].phone);
        else
            (*n)++;
        json_decref(access);
    }
    sink_reset(s);
    for (size_t i = 0; i < *n; i++) {
        const char *name;
        json_t *v;
        json_object_foreach(page[i].params, name, v)
        {
            if (rc == PR_OK && sink_store_indexed(st, name))
                rc = sink_store_index_change(st, page[i].phone, name, NULL, json_string_value(v),
                                             err, errlen);
        }
        json_decref(page[i].params);
        *after = page[i].phone;
    }
    return rc;
}

pr_status sink_store_index_configure(sink_store *st, const char *spec, char *err, size_t errlen)
{
    sink_index_set set;
    char *stored = NULL;
    pr_status rc;
    long long phones = 0, t0 = pr_mono_ms();
    if ((rc = sink_index_parse(spec, &set, err, errlen)) != PR_OK)
        return rc;
    if (meta_get(st, "index_params", &stored) != PR_OK) {
        sink_index_set_release(&set);
        return doc_fail(st, err, errlen, "index");
    }
    bool same = stored && strcmp(stored, set.spec) == 0;
    free(stored);
    sink_index_set_release(&st->index);
    st->index = set;
    if (same)
        return PR_OK;
    PR_LOG(PR_LOG_INFO, "sink", "parameter index: the set changed, rebuilding",
           json_pack("{ss}", "index_params", st->index.spec));
    sink_stmt *s;
    if ((rc = sink_store_begin(st, err, errlen)) != PR_OK)
        return rc;
    if (!(s = sink_store_stmt(st, Q_INDEX_CLEAR)) ||
        sink_exec_stmt(s, "index", err, errlen) != PR_OK) {
        rc = doc_fail(st, err, errlen, "index");
        goto fail;
    }
    /* A page per transaction; meta says the set only once every page is in, so a start that
     * stops half-way rebuilds again. */
    for (int64_t after = 0;;) {
        size_t n = 0;
        if ((rc = index_page(st, &after, &n, err, errlen)) != PR_OK)
            goto fail;
        phones += (long long)n;
        if (n == 0 || phones % 10240 == 0)
            PR_LOG(PR_LOG_INFO, "sink", "parameter index: rebuilding",
                   json_pack("{sI sI}", "phones", (json_int_t)phones, "ms",
                             (json_int_t)(pr_mono_ms() - t0)));
        if (n == 0)
            break;
        if ((rc = sink_store_commit(st, err, errlen)) != PR_OK ||
            (rc = sink_store_begin(st, err, errlen)) != PR_OK)
            goto fail;
    }
    if (!(s = sink_store_stmt(st, Q_META_PUT))) {
        rc = doc_fail(st, err, errlen, "index");
        goto fail;
    }
    sink_bind_text(s, 1, "index_params");
    sink_bind_text(s, 2, st->index.spec);
    if ((rc = sink_exec_stmt(s, "index", err, errlen)) != PR_OK ||
        (rc = sink_store_commit(st, err, errlen)) != PR_OK)
        goto fail;
    PR_LOG(
        PR_LOG_INFO, "sink", "parameter index rebuilt",
        json_pack("{sI sI}", "phones", (json_int_t)phones, "ms", (json_int_t)(pr_mono_ms() - t0)));
    return PR_OK;
fail:
    sink_store_rollback(st);
    return rc;
}

/* ---- unindexed search: a scan bounded in time ------------------------------------------- */

/* pr_param(doc, name): the value of a parameter in a SQLite document, or NULL. */
static void pr_param_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    json_t *params = NULL, *access = NULL;
    (void)argc;
    const char *name = (const char *)sqlite3_value_text(argv[1]);
    const void *b = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    if (!name || !b || sink_doc_decode(b, (size_t)n, &params, &access) != PR_OK) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *v = json_string_value(json_object_get(params, name));
    if (v)
        sqlite3_result_text(ctx, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
    json_decref(params);
    json_decref(access);
}

void sink_sqlite_functions(sqlite3 *db)
{
    sqlite3_create_function(db, "pr_param", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            pr_param_fn, NULL, NULL);
}

static int past_deadline(void *arg)
{
    const sink_store *st = arg;
    return st->scan_deadline_ms > 0 && pr_mono_ms() > st->scan_deadline_ms;
}

void sink_store_scan_bound(sink_store *st, long long ms)
{
    if (st->dialect == SINK_DIALECT_PG) {
        char sql[64], err[64];
        if (ms > 0)
            snprintf(sql, sizeof sql, "SET statement_timeout = %lld", ms);
        else
            snprintf(sql, sizeof sql, "SET statement_timeout = DEFAULT");
        sink_pg_exec(st->pg, sql, err, sizeof err);
        return;
    }
    st->scan_deadline_ms = ms > 0 ? pr_mono_ms() + ms : 0;
    sqlite3_progress_handler(st->db, ms > 0 ? 4096 : 0, ms > 0 ? past_deadline : NULL, st);
}

pr_status sink_index_check(const char *spec, char *err, size_t errlen)
{
    sink_index_set set;
    pr_status rc = sink_index_parse(spec, &set, err, errlen);
    if (rc == PR_OK)
        sink_index_set_release(&set);
    return rc;
}
