/*
 * store_doc.c - a phone's configuration as one document in one row, and the parameter index.
 *
 * The document holds every parameter with its value and access. The writer keeps it in compact
 * form (doc.c: entries by interned name id). SQLite: configs.doc, doc.c's blob of those entries
 * (an 8832 profile of 565 parameters takes about its values' bytes plus ~2 bytes per
 * parameter). PostgreSQL: configs.params and configs.access as jsonb, a supported interface
 * for plain SQL (README), written as text from the compact form by the streaming JSON writer.
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

#include "clock.h"
#include "log.h"
#include "store_int.h"

/* ---- reading and writing a document ------------------------------------------------------ */

static pr_status doc_fail(sink_store *st, char *err, size_t errlen, const char *what)
{
    return pr_err(PR_EFATAL, err, errlen, "configuration document %s: %s", what,
                  sink_store_errmsg(st));
}

static const char *name_of(void *ctx, int64_t id)
{
    return sink_store_name_of(ctx, id);
}

pr_status sink_store_doc_of_json(sink_store *st, const json_t *params, const json_t *access,
                                 bool create, sink_doc *out, char *err, size_t errlen)
{
    const char *name;
    json_t *jv;
    pr_status rc = PR_OK;
    /* access names usually come in the params' order: followed along, looked up otherwise */
    void *ai = access ? json_object_iter((json_t *)access) : NULL;
    memset(out, 0, sizeof *out);
    if (!(out->e = malloc((json_object_size(params) + 1) * sizeof *out->e)))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    /* PostgreSQL: the names this connection does not know, in one statement (then every
     * name is known, or not in the store: no statement a name below) */
    bool batch = st->dialect == SINK_DIALECT_PG;
    if (batch) {
        const char **names = malloc((json_object_size(params) + 1) * sizeof *names);
        size_t n = 0;
        json_object_foreach((json_t *)params, name, jv)
        {
            if (names && !sink_store_name_cached(st, name))
                names[n++] = name;
        }
        rc = names ? sink_store_names_resolve(st, names, n, create, err, errlen)
                   : pr_err(PR_EFATAL, err, errlen, "out of memory");
        free(names);
        if (rc != PR_OK) {
            sink_doc_release(out);
            return rc;
        }
    }
    json_object_foreach((json_t *)params, name, jv)
    {
        sink_doc_entry *e = &out->e[out->n];
        const char *a;
        if (ai && strcmp(json_object_iter_key(ai), name) == 0) {
            a = json_string_value(json_object_iter_value(ai));
            ai = json_object_iter_next((json_t *)access, ai);
        } else {
            a = json_string_value(json_object_get(access, name));
        }
        if (batch && !sink_store_name_cached(st, name))
            rc = create ? pr_err(PR_EFATAL, err, errlen, "names: '%s' neither found nor inserted",
                                 name)
                        : PR_ENOTFOUND;
        else
            rc = sink_store_name_intern(st, name, create, &e->id, &e->name, err, errlen);
        if (rc == PR_ENOTFOUND) { /* not interned yet: after the bounds (sink_store_doc_intern) */
            e->id = SINK_DOC_ID_NEW + (int64_t)out->n;
            e->name = name;
            rc = PR_OK;
        }
        if (rc != PR_OK)
            break;
        e->value = json_string_value(jv);
        e->vlen = e->value ? (uint32_t)json_string_length(jv) : 0;
        e->value = e->value ? e->value : "";
        e->access = a && *a ? a : NULL;
        e->pos = (uint32_t)out->n++;
    }
    if (rc != PR_OK)
        sink_doc_release(out);
    else
        sink_doc_finish(out);
    return rc;
}

pr_status sink_store_doc_intern(sink_store *st, sink_doc *d, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    bool any = false;
    if (st->dialect == SINK_DIALECT_PG) { /* the new names in one statement */
        const char **names = malloc((d->n + 1) * sizeof *names);
        size_t n = 0;
        if (!names)
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        for (size_t i = 0; i < d->n; i++)
            if (d->e[i].id >= SINK_DOC_ID_NEW)
                names[n++] = d->e[i].name;
        rc = sink_store_names_resolve(st, names, n, true, err, errlen);
        free(names);
    }
    for (size_t i = 0; i < d->n && rc == PR_OK; i++)
        if (d->e[i].id >= SINK_DOC_ID_NEW) {
            rc = sink_store_name_intern(st, d->e[i].name, true, &d->e[i].id, &d->e[i].name, err,
                                        errlen);
            any = true;
        }
    if (any && rc == PR_OK)
        sink_doc_finish(d);
    return rc;
}

const char *sink_store_doc_value(sink_store *st, const sink_doc *doc, const char *name)
{
    /* every name of a document this connection holds is known to it: no statement */
    int64_t id = sink_store_name_cached(st, name);
    const sink_doc_entry *e = id ? sink_doc_find(doc, id) : NULL;
    return e ? e->value : NULL;
}

/* The document of the statement's current row from column i (PostgreSQL: i and i + 1) in
 * compact form (names interned). PR_EINVAL: unreadable. */
static pr_status doc_of_row(sink_store *st, sink_stmt *s, int i, sink_doc *out, char *err,
                            size_t errlen)
{
    pr_status rc;
    if (s->lite) {
        size_t n = 0;
        const void *b = sink_col_blob(s, i, &n);
        rc = sink_doc_decode(b, n, name_of, st, out);
        return rc == PR_EFATAL ? pr_err(rc, err, errlen, "out of memory") : rc;
    }
    const char *p = sink_col_text(s, i), *a = sink_col_text(s, i + 1);
    json_t *jp = p ? json_loads(p, 0, NULL) : NULL, *ja = a ? json_loads(a, 0, NULL) : NULL;
    rc = PR_EINVAL;
    /* Every name of a stored document is interned (the writer interns before it writes), so
     * a read only looks names up: it may run in a read-only snapshot (the outbox's state
     * records), where interning is refused. A name the store lacks makes it unreadable. */
    if (json_is_object(jp) && (!ja || json_is_object(ja)) &&
        (rc = sink_store_doc_of_json(st, jp, ja, false, out, err, errlen)) == PR_OK) {
        if (out->n > 0 && out->e[out->n - 1].id >= SINK_DOC_ID_NEW)
            rc = PR_ENOTFOUND; /* sorted by id: a provisional one is last */
        else if (!sink_doc_own(out))
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        if (rc != PR_OK)
            sink_doc_release(out);
    }
    json_decref(jp);
    json_decref(ja);
    return rc;
}

pr_status sink_store_doc_load(sink_store *st, int64_t phone, sink_doc *out, char *err,
                              size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_GET);
    pr_status rc = PR_OK;
    memset(out, 0, sizeof *out);
    if (!s)
        return doc_fail(st, err, errlen, "read");
    sink_bind_int64(s, 1, phone);
    int r = sink_step(s);
    if (r == SINK_ROW)
        rc = doc_of_row(st, s, 0, out, err, errlen);
    else if (r != SINK_DONE)
        rc = doc_fail(st, err, errlen, "read");
    sink_reset(s);
    if (rc == PR_EINVAL || rc == PR_ENOTFOUND)
        rc = pr_err(PR_EFATAL, err, errlen,
                    "the configuration document of phone %lld is unreadable%s", (long long)phone,
                    rc == PR_ENOTFOUND ? " (a name id the store does not have)" : "");
    return rc;
}

pr_status sink_store_doc_get(sink_store *st, int64_t phone, json_t **params, json_t **access,
                             char *err, size_t errlen)
{
    *params = *access = NULL;
    if (st->dialect == SINK_DIALECT_PG) { /* jsonb text: parsed as it is */
        sink_stmt *s = sink_store_stmt(st, Q_CONFIG_GET);
        pr_status rc = PR_OK;
        if (!s)
            return doc_fail(st, err, errlen, "read");
        sink_bind_int64(s, 1, phone);
        int r = sink_step(s);
        const char *p = r == SINK_ROW ? sink_col_text(s, 0) : "{}";
        const char *a = r == SINK_ROW ? sink_col_text(s, 1) : "{}";
        *params = p ? json_loads(p, 0, NULL) : NULL;
        *access = a ? json_loads(a, 0, NULL) : json_object();
        if (r == SINK_ERROR)
            rc = doc_fail(st, err, errlen, "read");
        else if (!json_is_object(*params) || !json_is_object(*access))
            rc = pr_err(PR_EFATAL, err, errlen,
                        "the configuration document of phone %lld is unreadable", (long long)phone);
        sink_reset(s);
        if (rc != PR_OK) {
            json_decref(*params);
            json_decref(*access);
            *params = *access = NULL;
        }
        return rc;
    }
    sink_doc d;
    pr_status rc = sink_store_doc_load(st, phone, &d, err, errlen);
    if (rc == PR_OK && sink_doc_to_json(&d, params, access) != PR_OK)
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    sink_doc_release(&d);
    return rc;
}

pr_status sink_store_doc_put(sink_store *st, int64_t phone, const sink_doc *doc, char *err,
                             size_t errlen)
{
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_PUT);
    if (!s)
        return doc_fail(st, err, errlen, "write");
    sink_bind_int64(s, 1, phone);
    if (s->lite) {
        unsigned char *b = NULL;
        size_t n = 0;
        if (sink_doc_encode(doc, &b, &n) != PR_OK)
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        sqlite3_bind_blob(s->lite, 2, b, (int)n, free); /* SQLite frees it */
    } else {
        size_t pl = 0, al = 0;
        char *p = sink_doc_json(doc, false, &pl), *a = sink_doc_json(doc, true, &al);
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
 * document is taken from memory instead (no read, no decode). Another writer (a shared store)
 * raises the version, so its documents are never taken for ours. One slot per phone (id
 * modulo SINK_DOC_SLOTS); past SINK_DOC_CACHE_BYTES the slots are freed in turn. */

static void slot_free(sink_store *st, doc_slot *s)
{
    st->docs_bytes -= s->doc.bytes;
    sink_doc_release(&s->doc);
    s->phone = s->version = 0;
}

void sink_store_docs_clear(sink_store *st)
{
    for (size_t i = 0; st->docs && i < SINK_DOC_SLOTS; i++)
        slot_free(st, &st->docs[i]);
    st->docs_bytes = 0;
}

void sink_store_doc_remember(sink_store *st, int64_t phone, int64_t version, sink_doc *doc)
{
    if (!st->docs && !(st->docs = calloc(SINK_DOC_SLOTS, sizeof *st->docs))) {
        sink_doc_release(doc);
        return;
    }
    doc_slot *s = &st->docs[(uint64_t)phone % SINK_DOC_SLOTS];
    slot_free(st, s);
    s->phone = phone;
    s->version = version;
    s->doc = *doc;
    memset(doc, 0, sizeof *doc);
    st->docs_bytes += s->doc.bytes;
    for (size_t tries = 0; st->docs_bytes > SINK_DOC_CACHE_BYTES && tries < SINK_DOC_SLOTS;
         tries++) {
        doc_slot *v = &st->docs[st->docs_evict];
        st->docs_evict = (st->docs_evict + 1) % SINK_DOC_SLOTS;
        if (v != s)
            slot_free(st, v);
    }
}

void sink_store_doc_moved(sink_store *st, int64_t phone, int64_t from, int64_t to)
{
    doc_slot *s = st->docs ? &st->docs[(uint64_t)phone % SINK_DOC_SLOTS] : NULL;
    if (s && s->phone == phone && s->version == from)
        s->version = to;
}

/* PostgreSQL, a miss of the writer's memory: the documents of the phones the transaction read
 * and did not write yet (store_batch.c) in one statement, remembered at their versions (their
 * rows are locked: nobody else writes them before the commit). */
static pr_status docs_fetch(sink_store *st, char *err, size_t errlen)
{
    enum { MANY = 256 };
    int64_t ids[MANY], versions[MANY];
    char list[KNOWN_LIST_MAX(MANY)];
    pr_status rc = PR_OK;
    size_t n = sink_store_known_wanted(st, KNOWN_DOC, ids, versions, NULL, MANY, list);
    if (n < 2) /* the one asked for: read alone */
        return PR_OK;
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_GET_MANY);
    if (!s)
        return doc_fail(st, err, errlen, "read");
    sink_bind_text(s, 1, list);
    int r = SINK_DONE;
    while (rc == PR_OK && (r = sink_step(s)) == SINK_ROW) {
        int64_t phone = sink_col_int64(s, 0);
        sink_doc d;
        size_t i = 0;
        while (i < n && ids[i] != phone)
            i++;
        if (i == n || doc_of_row(st, s, 1, &d, err, errlen) != PR_OK)
            continue; /* unreadable: its own read says so */
        sink_store_doc_remember(st, phone, versions[i], &d);
    }
    if (rc == PR_OK && r != SINK_DONE)
        rc = doc_fail(st, err, errlen, "read");
    sink_reset(s);
    return rc;
}

pr_status sink_store_doc_read(sink_store *st, int64_t phone, int64_t version, sink_doc *tmp,
                              const sink_doc **doc, char *err, size_t errlen)
{
    memset(tmp, 0, sizeof *tmp);
    for (int pass = 0; pass < 2; pass++) {
        doc_slot *s = st->docs ? &st->docs[(uint64_t)phone % SINK_DOC_SLOTS] : NULL;
        if (s && s->phone == phone && s->version == version) {
            *doc = &s->doc;
            return PR_OK;
        }
        pr_status rc =
            pass == 0 && st->dialect == SINK_DIALECT_PG ? docs_fetch(st, err, errlen) : PR_OK;
        if (rc != PR_OK)
            return rc;
        if (pass == 0 && st->dialect != SINK_DIALECT_PG)
            break;
    }
    *doc = tmp;
    return sink_store_doc_load(st, phone, tmp, err, errlen);
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

/* Whether a value has an index entry (one over SINK_INDEX_VALUE_MAX has none). */
static bool index_value(const char *value)
{
    return value && strlen(value) <= SINK_INDEX_VALUE_MAX;
}

pr_status sink_store_index_flush(sink_store *st, char *err, size_t errlen)
{
    int n = (int)st->nipend;
    st->nipend = 0;
    if (n == 0)
        return PR_OK;
    sink_stmt *s = sink_store_stmt_rows(st, SINK_ROWS_INDEX, n);
    if (!s)
        return doc_fail(st, err, errlen, "index");
    for (int i = 0; i < n; i++) {
        sink_bind_text_static(s, 3 * i + 1, st->ipend[i].name);
        sink_bind_text_static(s, 3 * i + 2, st->ipend[i].value);
        sink_bind_int64(s, 3 * i + 3, st->ipend[i].phone);
    }
    return sink_exec_stmt(s, "index", err, errlen);
}

pr_status sink_store_index_change(sink_store *st, int64_t phone, const char *name,
                                  const char *old_value, const char *new_value, char *err,
                                  size_t errlen)
{
    if (index_value(old_value)) {
        sink_stmt *s = sink_store_stmt(st, Q_INDEX_DELETE);
        if (!s)
            return doc_fail(st, err, errlen, "index");
        sink_bind_text(s, 1, name);
        sink_bind_text(s, 2, old_value);
        sink_bind_int64(s, 3, phone);
        pr_status rc = sink_exec_stmt(s, "index", err, errlen);
        if (rc != PR_OK)
            return rc;
    }
    if (!index_value(new_value))
        return PR_OK;
    st->ipend[st->nipend].phone = phone;
    st->ipend[st->nipend].name = name;
    st->ipend[st->nipend++].value = new_value;
    return st->nipend == SINK_ROWS_MAX ? sink_store_index_flush(st, err, errlen) : PR_OK;
}

/* One page of documents into the index; *after moves on, *n gets the page's size. */
static pr_status index_page(sink_store *st, int64_t *after, size_t *n, char *err, size_t errlen)
{
    enum { PAGE = 256 };
    struct {
        int64_t phone;
        sink_doc doc;
    } page[PAGE];
    pr_status rc = PR_OK;
    sink_stmt *s = sink_store_stmt(st, Q_CONFIG_LIST);
    *n = 0;
    if (!s)
        return doc_fail(st, err, errlen, "list");
    sink_bind_int64(s, 1, *after);
    sink_bind_int64(s, 2, PAGE);
    while (*n < PAGE && rc == PR_OK && sink_step(s) == SINK_ROW) {
        page[*n].phone = sink_col_int64(s, 0);
        if ((rc = doc_of_row(st, s, 1, &page[*n].doc, err, errlen)) == PR_OK)
            (*n)++;
        else if (rc != PR_EFATAL)
            rc = pr_err(PR_EFATAL, err, errlen,
                        "the configuration document of phone %lld is unreadable",
                        (long long)page[*n].phone);
    }
    sink_reset(s);
    for (size_t i = 0; i < *n; i++) {
        for (size_t k = 0; k < page[i].doc.n && rc == PR_OK; k++) {
            const sink_doc_entry *e = &page[i].doc.e[k];
            if (sink_store_id_indexed(st, e->id, e->name))
                rc = sink_store_index_change(st, page[i].phone, e->name, NULL, e->value, err,
                                             errlen);
        }
        if (rc == PR_OK) /* before the document (the values) goes */
            rc = sink_store_index_flush(st, err, errlen);
        sink_doc_release(&page[i].doc);
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

/* pr_param(doc, name_id): the value of a parameter in a SQLite document, or NULL. */
static void pr_param_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *v = NULL;
    size_t n = 0;
    (void)argc;
    const void *b = sqlite3_value_blob(argv[0]); /* before its size (SQLite's rule) */
    size_t len = (size_t)sqlite3_value_bytes(argv[0]);
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL ||
        !sink_doc_blob_find(b, len, sqlite3_value_int64(argv[1]), &v, &n))
        sqlite3_result_null(ctx);
    else
        sqlite3_result_text(ctx, v, (int)n, SQLITE_TRANSIENT);
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
