/*
 * store_rows.c - what the modules keep in the store besides the phones' documents: the
 * writer's cache of interned parameter names, applied offsets, outbox rows, partition
 * ownership (a shared PostgreSQL store), the applied profile files, and the owned partitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Interned names (names.id): a document holds the ids of its names, a change row the id of
 * its parameter; a full report names every parameter, and the names of one model repeat on
 * every phone. Open addressing, and beside it the names by id (SQLite's ids are dense). Ids
 * inserted by a transaction that rolls back would be stale, so such a rollback empties both
 * (the documents that borrow the names are forgotten with them). */
#define NAME_ID_MAX (1 << 24) /* ids beyond: not kept by id (the decoder reports them) */

void sink_store_names_clear(sink_store *st)
{
    for (size_t i = 0; i < st->ncap; i++)
        free(st->names[i].name);
    free(st->names);
    free(st->byid);
    st->names = NULL;
    st->byid = NULL;
    st->ncap = st->nlen = st->byid_cap = 0;
    st->byid_loaded = 0;
    st->names_dirty = false;
}

size_t sink_store_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static name_slot *names_slot(const sink_store *st, const char *name)
{
    if (!st->ncap)
        return NULL;
    for (size_t i = sink_store_hash(name) & (st->ncap - 1);; i = (i + 1) & (st->ncap - 1)) {
        if (!st->names[i].name)
            return NULL;
        if (strcmp(st->names[i].name, name) == 0)
            return &st->names[i];
    }
}

int64_t sink_store_name_cached(const sink_store *st, const char *name)
{
    const name_slot *s = names_slot(st, name);
    return s ? s->id : 0;
}

bool sink_store_id_indexed(sink_store *st, int64_t id, const char *name)
{
    if (id <= 0 || (size_t)id >= st->byid_cap || !st->byid[id].name)
        return sink_store_name_indexed(st, name);
    if (!st->byid[id].indexed)
        st->byid[id].indexed = sink_store_name_indexed(st, name) ? 1 : -1;
    return st->byid[id].indexed > 0;
}

bool sink_store_name_indexed(sink_store *st, const char *name)
{
    name_slot *s = names_slot(st, name);
    if (s && s->indexed)
        return s->indexed > 0;
    bool r = sink_store_indexed(st, name); /* globs: worth remembering per name */
    if (s)
        s->indexed = r ? 1 : -1;
    return r;
}

static bool byid_put(sink_store *st, int64_t id, const char *name)
{
    if (id <= 0 || id >= NAME_ID_MAX)
        return true;
    if ((size_t)id >= st->byid_cap) {
        size_t cap = st->byid_cap ? st->byid_cap : 4096;
        while (cap <= (size_t)id)
            cap *= 2;
        name_ref *n = realloc(st->byid, cap * sizeof *n);
        if (!n)
            return false;
        memset(n + st->byid_cap, 0, (cap - st->byid_cap) * sizeof *n);
        st->byid = n;
        st->byid_cap = cap;
    }
    st->byid[id].name = name;
    st->byid[id].indexed = 0;
    return true;
}

const char *sink_store_names_add(sink_store *st, const char *name, int64_t id)
{
    name_slot *have = names_slot(st, name);
    if (have)
        return have->name;
    if ((st->nlen + 1) * 2 > st->ncap) {
        size_t cap = st->ncap ? st->ncap * 2 : 4096;
        name_slot *old = st->names, *n = calloc(cap, sizeof *n);
        size_t oldcap = st->ncap;
        if (!n)
            return NULL;
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].name)
                continue;
            size_t j = sink_store_hash(old[i].name) & (cap - 1);
            while (n[j].name)
                j = (j + 1) & (cap - 1);
            n[j] = old[i];
        }
        free(old);
        st->names = n;
        st->ncap = cap;
    }
    char *copy = strdup(name);
    if (!copy || !byid_put(st, id, copy)) {
        free(copy);
        return NULL;
    }
    size_t i = sink_store_hash(name) & (st->ncap - 1);
    while (st->names[i].name)
        i = (i + 1) & (st->ncap - 1);
    st->names[i].name = copy;
    st->names[i].id = id;
    st->names[i].indexed = 0;
    st->nlen++;
    return copy;
}

/* ---- names, offsets, outbox, ownership, profile files ---------------------------------- */

pr_status sink_store_name_intern(sink_store *st, const char *name, bool create, int64_t *id,
                                 const char **interned, char *err, size_t errlen)
{
    const name_slot *have = names_slot(st, name);
    if (have) {
        *id = have->id;
        *interned = have->name;
        return PR_OK;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        sink_stmt *s = sink_store_stmt(st, Q_NAME_GET);
        bool inserted = false;
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
            inserted = true;
        }
        if (r == SINK_DONE)
            return PR_ENOTFOUND;
        if (r != SINK_ROW)
            return pr_err(PR_EFATAL, err, errlen, "names: %s", sink_store_errmsg(st));
        st->names_dirty = st->names_dirty || inserted;
        if (!(*interned = sink_store_names_add(st, name, *id)))
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        return PR_OK;
    }
    return pr_err(PR_EFATAL, err, errlen, "names: '%s' neither found nor inserted", name);
}

pr_status sink_store_name_id(sink_store *st, const char *name, bool create, int64_t *id, char *err,
                             size_t errlen)
{
    const char *interned;
    return sink_store_name_intern(st, name, create, id, &interned, err, errlen);
}

/* Reads the names of q (Q_NAME_LIST: ids above ?1; Q_NAME_BY_ID: id ?1) into the cache. */
static void names_read(sink_store *st, sink_sql q, int64_t id)
{
    sink_stmt *s = sink_store_stmt(st, q);
    if (!s)
        return;
    sink_bind_int64(s, 1, id);
    while (sink_step(s) == SINK_ROW) {
        int64_t got = sink_col_int64(s, 0);
        const char *name = sink_col_text(s, 1);
        if (name && sink_store_names_add(st, name, got) && q == Q_NAME_LIST &&
            got > st->byid_loaded)
            st->byid_loaded = got;
    }
    sink_reset(s);
}

const char *sink_store_name_of(sink_store *st, int64_t id)
{
    if (id <= 0 || id >= NAME_ID_MAX)
        return NULL;
    if ((size_t)id < st->byid_cap && st->byid[id].name)
        return st->byid[id].name;
    names_read(st, id > st->byid_loaded ? Q_NAME_LIST : Q_NAME_BY_ID,
               id > st->byid_loaded ? st->byid_loaded : id);
    return (size_t)id < st->byid_cap ? st->byid[id].name : NULL;
}

pr_status sink_store_phone_digest(sink_store *st, const char *mac, unsigned char digest[32])
{
    sink_phone_info k;
    if (sink_store_phone_known(st, mac, &k)) { /* the writer's transaction knows the row */
        if (!k.exists || !k.complete || !k.has_digest)
            return PR_ENOTFOUND;
        memcpy(digest, k.digest, 32);
        return PR_OK;
    }
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
    int64_t next = -1;
    if (sink_store_known_offset(st, topic, partition, &next))
        return next;
    sink_stmt *s = sink_store_stmt(st, Q_OFFSET_GET);
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
    if (next >= -1)
        sink_store_known_offset_put(st, topic, partition, next);
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
    pr_status rc = sink_exec_stmt(s, "offset store", err, errlen);
    if (rc == PR_OK)
        sink_store_known_offset_put(st, topic, partition, next);
    return rc;
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
    char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    return sink_store_outbox_put_text(st, topic, part, key, text, err, errlen);
}

pr_status sink_store_outbox_put_text(sink_store *st, pr_topic topic, int32_t part, const char *key,
                                     char *text, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
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
    return rc;
}

pr_status sink_store_outbox_put_texts(sink_store *st, pr_topic topic, int32_t part, const char *key,
                                      char **texts, size_t n, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    for (size_t at = 0; at < n && rc == PR_OK;) {
        int rows = n - at < SINK_ROWS_MAX ? (int)(n - at) : SINK_ROWS_MAX;
        sink_stmt *s = sink_store_stmt_rows(st, SINK_ROWS_OUTBOX, rows);
        if (!s) {
            rc = pr_err(PR_EFATAL, err, errlen, "outbox: %s", sink_store_errmsg(st));
            break;
        }
        for (int i = 0; i < rows; i++) {
            if (!texts[at + (size_t)i])
                rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            sink_bind_int64(s, 4 * i + 1, (int64_t)topic);
            sink_bind_text_static(s, 4 * i + 2, key);
            sink_bind_text_static(s, 4 * i + 3, texts[at + (size_t)i]);
            sink_bind_int64(s, 4 * i + 4, part);
        }
        if (rc == PR_OK)
            rc = sink_exec_stmt(s, "outbox", err, errlen);
        else
            sink_reset(s);
        at += (size_t)rows;
    }
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    return rc;
}

pr_status sink_store_profiles_load(sink_store *st, sink_profiles *p)
{
    /* A shared PostgreSQL store: every sink computes the drift of its own partitions' phones
     * from its own reading of the profiles (their directories may differ), so no list is kept
     * in the shared store: each assignment (a start included) recomputes the drift of the
     * assigned phones, two statements a phone, which writes only transitions (none when
     * nothing changed: the drift rows are shared). test_sink_state_pg shows it. */
    if (st->dialect == SINK_DIALECT_PG)
        return PR_OK;
    sink_stmt *s = sink_store_prepare(st, sink_store_sql(Q_PROFILE_FILES_GET));
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
