/*
 * store_upgrade.c - the SQLite store's schema 5 to 6: every configuration document becomes
 * doc.c's blob of entries by interned name id. Schema 5 kept {"params":{...},"access":{...}}
 * as JSON text, deflated by zlib (a 4-byte big-endian length, then the deflated text) or plain
 * (a blob that starts with '{': what the schema 4 to 5 upgrade wrote). Run by
 * sink_sqlite_schema inside its transaction, a phone at a time, with progress in the log.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clock.h"
#include "log.h"
#include "store_int.h"

/* A schema-5 document as its params and access objects (new references). */
static pr_status legacy_decode(const unsigned char *b, size_t len, json_t **params, json_t **access)
{
    json_t *doc = NULL;
    *params = *access = NULL;
    if (!b || len < 2)
        return PR_EINVAL;
    if (b[0] == '{') {
        doc = json_loadb((const char *)b, len, 0, NULL);
    } else if (len > 4) {
        uLongf n = (uLongf)b[0] << 24 | (uLongf)b[1] << 16 | (uLongf)b[2] << 8 | b[3], got = n;
        char *text = n <= (1u << 30) ? malloc(n + 1) : NULL;
        if (!text)
            return PR_EINVAL;
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
        return PR_EINVAL;
    }
    return PR_OK;
}

typedef struct upgrade {
    sqlite3 *db;
    sqlite3_stmt *next, *put, *name_get, *name_put;
    char *err;
    size_t errlen;
} upgrade;

static pr_status upgrade_fail(upgrade *u, const char *what)
{
    return pr_err(PR_EFATAL, u->err, u->errlen, "store upgrade to schema 6: %s: %s", what,
                  sqlite3_errmsg(u->db));
}

/* The id of a name, interned when the store does not have it yet. */
static pr_status name_id(upgrade *u, const char *name, int64_t *id)
{
    sqlite3_stmt *s = u->name_get;
    for (int i = 0; i < 2; i++, s = u->name_put) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (r == SQLITE_ROW)
            return PR_OK;
        if (r != SQLITE_DONE)
            return upgrade_fail(u, "names");
    }
    return upgrade_fail(u, "names");
}

/* One phone's document rewritten in the new encoding. */
static pr_status upgrade_doc(upgrade *u, int64_t phone, const void *blob, size_t len)
{
    json_t *params = NULL, *access = NULL;
    sink_doc d = {0};
    unsigned char *out = NULL;
    size_t n = 0;
    pr_status rc = legacy_decode(blob, len, &params, &access);
    if (rc != PR_OK)
        return pr_err(PR_EFATAL, u->err, u->errlen,
                      "store upgrade to schema 6: the document of phone %lld is unreadable",
                      (long long)phone);
    const char *name;
    json_t *jv;
    if (!(d.e = malloc((json_object_size(params) + 1) * sizeof *d.e)))
        rc = pr_err(PR_EFATAL, u->err, u->errlen, "out of memory");
    json_object_foreach(params, name, jv)
    {
        sink_doc_entry *e = &d.e[d.n];
        const char *a = json_string_value(json_object_get(access, name));
        if (rc != PR_OK || (rc = name_id(u, name, &e->id)) != PR_OK)
            break;
        e->name = name;
        e->value = json_string_value(jv) ? json_string_value(jv) : "";
        e->vlen = (uint32_t)strlen(e->value);
        e->access = a && *a ? a : NULL;
        e->pos = (uint32_t)d.n++;
    }
    if (rc == PR_OK) {
        sink_doc_finish(&d);
        if (sink_doc_encode(&d, &out, &n) != PR_OK)
            rc = pr_err(PR_EFATAL, u->err, u->errlen, "out of memory");
    }
    if (rc == PR_OK) {
        sqlite3_bind_blob(u->put, 1, out, (int)n, free);
        sqlite3_bind_int64(u->put, 2, phone);
        if (sqlite3_step(u->put) != SQLITE_DONE)
            rc = upgrade_fail(u, "write");
        sqlite3_reset(u->put);
    }
    sink_doc_release(&d);
    json_decref(params);
    json_decref(access);
    return rc;
}

pr_status sink_sqlite_upgrade_6(sqlite3 *db, char *err, size_t errlen)
{
    upgrade u = {db, NULL, NULL, NULL, NULL, err, errlen};
    pr_status rc = PR_OK;
    long long phones = 0, t0 = pr_mono_ms();
    if (sqlite3_prepare_v2(db,
                           "SELECT phone, doc FROM configs WHERE phone > ?1 ORDER BY phone LIMIT 1",
                           -1, &u.next, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE configs SET doc = ?1 WHERE phone = ?2", -1, &u.put, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT id FROM names WHERE name = ?1", -1, &u.name_get, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO names(name) VALUES(?1) RETURNING id", -1, &u.name_put,
                           NULL) != SQLITE_OK) {
        rc = upgrade_fail(&u, "prepare");
        goto out;
    }
    PR_LOG(PR_LOG_INFO, "sink", "store upgrade to schema 6: re-encoding the documents", NULL);
    for (int64_t after = 0; rc == PR_OK;) {
        sqlite3_bind_int64(u.next, 1, after);
        int r = sqlite3_step(u.next);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = upgrade_fail(&u, "read");
            break;
        }
        after = sqlite3_column_int64(u.next, 0);
        const void *b = sqlite3_column_blob(u.next, 1);
        size_t len = (size_t)sqlite3_column_bytes(u.next, 1);
        void *copy = malloc(len ? len : 1); /* the update must not run under the read */
        if (!copy) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            break;
        }
        memcpy(copy, b, len);
        sqlite3_reset(u.next);
        rc = upgrade_doc(&u, after, copy, len);
        free(copy);
        if (++phones % 10000 == 0)
            PR_LOG(PR_LOG_INFO, "sink", "store upgrade to schema 6: re-encoding",
                   json_pack("{sI sI}", "phones", (json_int_t)phones, "ms",
                             (json_int_t)(pr_mono_ms() - t0)));
    }
    if (rc == PR_OK) {
        PR_LOG(PR_LOG_INFO, "sink", "store upgrade to schema 6: done",
               json_pack("{sI sI}", "phones", (json_int_t)phones, "ms",
                         (json_int_t)(pr_mono_ms() - t0)));
        rc = sink_sqlite_exec(db, "UPDATE meta SET value = '6' WHERE key = 'schema'", err, errlen);
    }
out:
    sqlite3_finalize(u.next);
    sqlite3_finalize(u.put);
    sqlite3_finalize(u.name_get);
    sqlite3_finalize(u.name_put);
    return rc;
}
