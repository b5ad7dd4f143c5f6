/*
 * store_batch.c - what the writer knows within a transaction, so that a batch costs a few
 * round trips to PostgreSQL whatever the number of reports and parameters in it.
 *
 * On PostgreSQL every read is a round trip; the writes are pipelined (store_pg.c) and a read
 * rides the same sync as the writes before it. What is left is what the writer reads:
 * - the phone rows: sink_store_prefetch reads (FOR UPDATE) the rows of every phone of a batch
 *   in one statement, reserves an id for each phone the store does not have and a report id
 *   per record (so that creating a phone and a report's row are pipelined writes, not
 *   INSERT ... RETURNING), and the writer tells what it writes to a phone row
 *   (sink_store_phone_learn), so a phone's next report in the transaction reads nothing;
 * - the documents: the first one the writer's memory lacks (store_doc.c) is fetched with
 *   those of every other phone the transaction read and did not write yet, in one statement
 *   (an unchanged report needs none, so a batch of them fetches none);
 * - the applied offsets: the ones the transaction wrote or read are kept;
 * - the parameter names: the names of a report that this connection does not know are read,
 *   or interned, in one statement (sink_store_names_resolve) instead of one or two a name.
 * All of it is forgotten at commit and rollback (the rows are locked only while the
 * transaction lasts; ids reserved by a rolled-back transaction are gaps, never reused).
 * SQLite (one sink, reads from its page cache) keeps none of it and reads as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store_int.h"

static bool batching(const sink_store *st)
{
    return st->dialect == SINK_DIALECT_PG && sink_pg_in_txn(st->pg);
}

static void info_release(sink_phone_info *i)
{
    free((char *)(uintptr_t)i->model);
    free((char *)(uintptr_t)i->firmware);
    free((char *)(uintptr_t)i->source_at);
    i->model = i->firmware = i->source_at = NULL;
}

void sink_store_known_clear(sink_store *st, bool release)
{
    sink_known *k = &st->known;
    for (size_t i = 0; i < k->cap && k->n; i++)
        if (k->phones[i].mac[0]) {
            info_release(&k->phones[i].info);
            json_decref(k->phones[i].drift);
            memset(&k->phones[i], 0, sizeof k->phones[i]);
        }
    k->n = 0;
    k->nreport = k->report_head = 0;
    for (size_t i = 0; i < k->noffsets; i++)
        free(k->offsets[i].topic);
    k->noffsets = 0;
    if (release) {
        free(k->phones);
        free(k->report_ids);
        memset(k, 0, sizeof *k);
    }
}

/* ---- phones ---------------------------------------------------------------------------- */

/* The slot of mac: its own, or the empty one where it goes (NULL: no table). */
static known_phone *slot_of(const sink_known *k, const char *mac)
{
    if (!k->cap)
        return NULL;
    for (size_t i = sink_store_hash(mac) & (k->cap - 1);; i = (i + 1) & (k->cap - 1))
        if (!k->phones[i].mac[0] || strcmp(k->phones[i].mac, mac) == 0)
            return &k->phones[i];
}

/* mac's slot, made when missing (NULL: a mac of another length, or out of memory). */
static known_phone *slot_make(sink_known *k, const char *mac)
{
    if (strlen(mac) != PR_MAC_LEN)
        return NULL;
    if ((k->n + 1) * 2 > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        known_phone *n = calloc(cap, sizeof *n), *old = k->phones;
        size_t oldcap = k->cap;
        if (!n)
            return NULL;
        k->phones = n;
        k->cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].mac[0])
                *slot_of(k, old[i].mac) = old[i];
        free(old);
    }
    known_phone *p = slot_of(k, mac);
    if (!p->mac[0]) {
        memcpy(p->mac, mac, PR_MAC_LEN + 1);
        k->n++;
    }
    return p;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Copies in into p (false: out of memory; p then knows nothing). */
static bool info_set(known_phone *p, const sink_phone_info *in)
{
    info_release(&p->info);
    p->info = *in;
    p->info.model = dup_or_null(in->model);
    p->info.firmware = dup_or_null(in->firmware);
    p->info.source_at = dup_or_null(in->source_at);
    p->have = (!in->model || p->info.model) && (!in->firmware || p->info.firmware) &&
              (!in->source_at || p->info.source_at);
    return p->have;
}

bool sink_store_phone_known(sink_store *st, const char *mac, sink_phone_info *out)
{
    known_phone *p = batching(st) ? slot_of(&st->known, mac) : NULL;
    if (!p || !p->mac[0] || !p->have)
        return false;
    *out = p->info;
    return true;
}

void sink_store_phone_learn(sink_store *st, const char *mac, const sink_phone_info *in,
                            const char *model, const char *firmware, const char *at)
{
    known_phone *p = batching(st) ? slot_make(&st->known, mac) : NULL;
    if (!p)
        return;
    /* SOURCE_COLS (store_sql.c): the latest received_at that names a model or firmware sets
     * them (the times are the contract's fixed-width UTC text, so strcmp orders them as the
     * server does) */
    sink_phone_info now = *in;
    if ((model || firmware) && (!in->source_at || strcmp(at, in->source_at) >= 0)) {
        now.model = model ? model : in->model;
        now.firmware = firmware ? firmware : in->firmware;
        now.source_at = at;
    }
    p->new_id = 0;
    info_set(p, &now);
    p->learned = true;
}

size_t sink_store_known_wanted(sink_store *st, known_what what, int64_t *ids, int64_t *versions,
                               known_phone **slots, size_t max, char *list)
{
    size_t n = 0, len = 0;
    for (size_t i = 0; batching(st) && i < st->known.cap && n < max; i++) {
        known_phone *p = &st->known.phones[i];
        bool *tried = what == KNOWN_DOC ? &p->doc_tried : &p->drift_tried;
        if (!p->mac[0] || !p->have || p->learned || *tried || !p->info.exists ||
            (what == KNOWN_DOC && p->info.nparams <= 0))
            continue;
        *tried = true;
        ids[n] = p->info.id;
        versions[n] = p->info.version;
        if (slots)
            slots[n] = p;
        len += (size_t)snprintf(list + len, KNOWN_LIST_MAX(max) - len, "%c%lld", n ? ',' : '{',
                                (long long)ids[n]);
        n++;
    }
    snprintf(list + len, KNOWN_LIST_MAX(max) - len, "%s", n ? "}" : "{}");
    return n;
}

/* ---- drift rows ------------------------------------------------------------------------ */

/* The current row of a drift statement (param, intended, actual) into rows. */
static bool drift_row(sink_stmt *s, json_t *rows)
{
    const char *i = sink_col_text(s, 1), *a = sink_col_text(s, 2);
    return json_object_set_new(rows, sink_col_text(s, 0),
                               json_pack("[oo]", i ? json_string(i) : json_null(),
                                         a ? json_string(a) : json_null())) == 0;
}

/* The drift rows of the phones the transaction read and did not write yet, in one statement,
 * kept with them until the writer takes them. */
static pr_status drift_fetch(sink_store *st)
{
    enum { MANY = 256 };
    int64_t ids[MANY], versions[MANY];
    char list[KNOWN_LIST_MAX(MANY)];
    known_phone *of[MANY];
    size_t n = sink_store_known_wanted(st, KNOWN_DRIFT, ids, versions, of, MANY, list);
    if (n < 2) /* the one asked for: read alone */
        return PR_OK;
    for (size_t j = 0; j < n; j++)
        if (!(of[j]->drift = json_object()))
            of[j] = NULL; /* read alone then */
    sink_stmt *s = sink_store_stmt(st, Q_DRIFT_ROWS_MANY);
    int r = s ? SINK_DONE : SINK_ERROR;
    if (s) {
        sink_bind_text(s, 1, list);
        while ((r = sink_step(s)) == SINK_ROW) {
            int64_t phone = sink_col_int64(s, 3);
            size_t j = 0;
            while (j < n && ids[j] != phone)
                j++;
            if (j < n && of[j] && !drift_row(s, of[j]->drift)) {
                r = SINK_ERROR;
                break;
            }
        }
        sink_reset(s);
    }
    if (r != SINK_DONE) /* none of them is known then */
        for (size_t j = 0; j < n; j++)
            if (of[j]) {
                json_decref(of[j]->drift);
                of[j]->drift = NULL;
            }
    return r == SINK_DONE ? PR_OK : PR_EFATAL;
}

pr_status sink_store_drift_rows(sink_store *st, int64_t phone, const char *mac, json_t **rows,
                                char *err, size_t errlen)
{
    known_phone *p = batching(st) ? slot_of(&st->known, mac) : NULL;
    if (p && !p->mac[0])
        p = NULL;
    *rows = NULL;
    if (p && !p->drift_tried && !p->learned && drift_fetch(st) != PR_OK)
        return pr_err(PR_EFATAL, err, errlen, "drift rows: %s", sink_store_errmsg(st));
    if (p && p->drift) { /* taken once: the writer changes them */
        *rows = p->drift;
        p->drift = NULL;
        return PR_OK;
    }
    sink_stmt *s = sink_store_stmt(st, Q_DRIFT_ROWS);
    int r = SINK_ERROR;
    if (!(*rows = json_object()))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    if (s) {
        sink_bind_int64(s, 1, phone);
        while ((r = sink_step(s)) == SINK_ROW)
            if (!drift_row(s, *rows)) {
                r = SINK_ERROR;
                break;
            }
        sink_reset(s);
    }
    if (r == SINK_DONE)
        return PR_OK;
    json_decref(*rows);
    *rows = NULL;
    return pr_err(PR_EFATAL, err, errlen, "drift rows: %s", sink_store_errmsg(st));
}

void sink_store_drift_keep(sink_store *st, const char *mac, json_t *rows)
{
    known_phone *p = batching(st) && rows ? slot_make(&st->known, mac) : NULL;
    if (!p) {
        json_decref(rows);
        return;
    }
    json_decref(p->drift);
    p->drift = rows;
    p->drift_tried = true;
}

/* ---- reserved ids ---------------------------------------------------------------------- */

int64_t sink_store_phone_id_take(sink_store *st, const char *mac)
{
    known_phone *p = batching(st) ? slot_of(&st->known, mac) : NULL;
    int64_t id = p && p->mac[0] ? p->new_id : 0;
    if (id)
        p->new_id = 0;
    return id;
}

int64_t sink_store_report_id_take(sink_store *st)
{
    sink_known *k = &st->known;
    if (!batching(st) || k->report_head >= k->nreport)
        return 0;
    return k->report_ids[k->report_head++];
}

/* texts[0..n) as a PostgreSQL text[] literal ({"a","b"}: quotes and backslashes escaped);
 * malloc'd, NULL when out of memory. */
static char *text_array(const char *const *texts, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(texts[i]) + 3;
    char *out = malloc(len), *w = out;
    if (!out)
        return NULL;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (const char *r = texts[i]; *r; r++) {
            if (*r == '"' || *r == '\\')
                *w++ = '\\';
            *w++ = *r;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

/* One row of Q_PHONE_PREFETCH: 0 a phone row, 1 an id for a new phone, 2 a report id. */
static bool prefetched(sink_store *st, sink_stmt *s)
{
    sink_known *k = &st->known;
    int kind = (int)sink_col_int64(s, 0);
    const char *mac = sink_col_text(s, 1);
    if (kind == 2) {
        int64_t *n = pr_grow(k->report_ids, &k->report_cap, k->nreport, sizeof *n, 64);
        if (!n)
            return false;
        k->report_ids = n;
        k->report_ids[k->nreport++] = sink_col_int64(s, 2);
        return true;
    }
    known_phone *p = mac ? slot_make(k, mac) : NULL;
    if (!p)
        return mac != NULL && strlen(mac) != PR_MAC_LEN; /* not a phone's: ignored */
    if (kind == 1) {
        sink_phone_info none = {0};
        p->new_id = sink_col_int64(s, 2);
        return info_set(p, &none);
    }
    sink_phone_info in = {.exists = true,
                          .id = sink_col_int64(s, 2),
                          .version = sink_col_int64(s, 3),
                          .complete = sink_col_int64(s, 4) != 0,
                          .model = sink_col_text(s, 5),
                          .firmware = sink_col_text(s, 6),
                          .source_at = sink_col_text(s, 7),
                          .nparams = sink_col_int64(s, 9),
                          .weight = sink_col_int64(s, 10)};
    size_t dlen = 0;
    const void *d = sink_col_blob(s, 8, &dlen);
    in.has_digest = d && dlen == sizeof in.digest;
    if (in.has_digest)
        memcpy(in.digest, d, sizeof in.digest);
    return info_set(p, &in);
}

pr_status sink_store_prefetch(sink_store *st, const char *const *macs, size_t n, char *err,
                              size_t errlen)
{
    const char **want = NULL;
    size_t m = 0;
    pr_status rc = PR_OK;
    if (!batching(st) || n == 0)
        return PR_OK;
    /* the phones it knows already are not read again (their rows are locked since) */
    if (!(want = malloc(n * sizeof *want)))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        known_phone *p = slot_of(&st->known, macs[i]);
        if (!p || !p->mac[0])
            want[m++] = macs[i];
    }
    char *array = text_array(want, m);
    sink_stmt *s = array ? sink_store_stmt(st, Q_PHONE_PREFETCH) : NULL;
    if (!s) {
        rc = array ? pr_err(PR_EFATAL, err, errlen, "prefetch: %s", sink_store_errmsg(st))
                   : pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    sink_bind_text(s, 1, array);
    sink_bind_int64(s, 2, (int64_t)n);
    int r;
    while ((r = sink_step(s)) == SINK_ROW)
        if (!prefetched(st, s)) {
            r = SINK_ERROR;
            break;
        }
    if (r != SINK_DONE)
        rc = pr_err(sink_store_failure(st), err, errlen, "prefetch: %s", sink_store_errmsg(st));
    sink_reset(s);
out:
    free(array);
    free(want);
    return rc;
}

/* ---- offsets --------------------------------------------------------------------------- */

static known_offset *offset_of(sink_store *st, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < st->known.noffsets; i++)
        if (st->known.offsets[i].partition == partition &&
            strcmp(st->known.offsets[i].topic, topic) == 0)
            return &st->known.offsets[i];
    return NULL;
}

bool sink_store_known_offset(sink_store *st, const char *topic, int32_t partition, int64_t *next)
{
    const known_offset *o = batching(st) ? offset_of(st, topic, partition) : NULL;
    if (o)
        *next = o->next;
    return o != NULL;
}

void sink_store_known_offset_put(sink_store *st, const char *topic, int32_t partition, int64_t next)
{
    if (!batching(st))
        return;
    known_offset *o = offset_of(st, topic, partition);
    if (!o && st->known.noffsets < KNOWN_OFFSETS) {
        char *t = strdup(topic);
        if (!t)
            return;
        o = &st->known.offsets[st->known.noffsets++];
        o->topic = t;
        o->partition = partition;
    }
    if (o)
        o->next = next;
}

/* ---- names ----------------------------------------------------------------------------- */

pr_status sink_store_names_resolve(sink_store *st, const char *const *names, size_t n, bool create,
                                   char *err, size_t errlen)
{
    const char **want = n ? malloc(n * sizeof *want) : NULL;
    pr_status rc = PR_OK;
    if (st->dialect != SINK_DIALECT_PG || n == 0)
        goto out;
    if (!want) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    /* twice at most: a name another sink interns meanwhile is read on the second pass */
    for (int attempt = 0; attempt < 2 && rc == PR_OK; attempt++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!sink_store_name_cached(st, names[i]))
                want[m++] = names[i];
        if (m == 0)
            break;
        char *array = text_array(want, m);
        sink_stmt *s = array ? sink_store_stmt(st, create ? Q_NAME_RESOLVE : Q_NAME_LOOKUP) : NULL;
        if (!s) {
            rc = array ? pr_err(PR_EFATAL, err, errlen, "names: %s", sink_store_errmsg(st))
                       : pr_err(PR_EFATAL, err, errlen, "out of memory");
            free(array);
            break;
        }
        sink_bind_text(s, 1, array);
        if (create)
            sink_bind_int64(s, 2, 1);
        int r;
        while ((r = sink_step(s)) == SINK_ROW) {
            const char *name = sink_col_text(s, 1);
            if (sink_col_int64(s, 2))
                st->names_dirty = true; /* inserted: a rollback forgets the names */
            if (name && !sink_store_names_add(st, name, sink_col_int64(s, 0))) {
                r = SINK_ERROR;
                break;
            }
        }
        if (r != SINK_DONE)
            rc = pr_err(PR_EFATAL, err, errlen, "names: %s", sink_store_errmsg(st));
        sink_reset(s);
        free(array);
        if (!create)
            break;
    }
out:
    free(want);
    return rc;
}
