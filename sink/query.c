/*
 * query.c - read-side documents built from the store: what the API answers and what the
 * publisher sends to phonereport.state. Pure (the store and jansson only), so tested without
 * HTTP. The SQL is store_sql.c's, through the statement layer (cached per connection: the
 * API's connection and the publisher's are each used by one thread); a phone's parameters come
 * from its one configuration document (store_doc.c), so the state record is rendered from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_state.h"
#include "sink_internal.h"

static pr_status prep(sink_store *st, sink_sql q, sink_stmt **s, char *err, size_t errlen)
{
    if (!(*s = sink_store_stmt(st, q)))
        return pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
    return PR_OK;
}

static json_t *col_json_str(sink_stmt *s, int i)
{
    const char *v = sink_col_text(s, i);
    return v ? json_string(v) : json_null();
}

/* Phone row by MAC: id and the columns that every document shows. */
typedef struct phone_doc {
    int64_t id, version;
    bool complete;
    char *model, *firmware, *first_seen, *updated_at, *status_at, *report_id;
    char *remote, *report_requested_at, *report_request; /* report_request: JSON text */
} phone_doc;

static void phone_doc_release(phone_doc *p)
{
    free(p->model);
    free(p->firmware);
    free(p->first_seen);
    free(p->updated_at);
    free(p->status_at);
    free(p->report_id);
    free(p->remote);
    free(p->report_requested_at);
    free(p->report_request);
    memset(p, 0, sizeof *p);
}

static char *dup_col(sink_stmt *s, int i)
{
    const char *v = sink_col_text(s, i);
    return v ? strdup(v) : NULL;
}

static pr_status phone_load(sink_store *st, const char *mac, int64_t id, phone_doc *p,
                            char *mac_out, char *err, size_t errlen)
{
    sink_stmt *s = NULL;
    pr_status rc;
    memset(p, 0, sizeof *p);
    rc = prep(st, mac ? Q_DOC_PHONE_BY_MAC : Q_DOC_PHONE_BY_ID, &s, err, errlen);
    if (rc != PR_OK)
        return rc;
    if (mac)
        sink_bind_text(s, 1, mac);
    else
        sink_bind_int64(s, 2, id);
    int r = sink_step(s);
    if (r == SINK_ROW) {
        p->id = sink_col_int64(s, 0);
        p->version = sink_col_int64(s, 1);
        p->complete = (int)sink_col_int64(s, 2) != 0;
        p->model = dup_col(s, 3);
        p->firmware = dup_col(s, 4);
        p->first_seen = dup_col(s, 5);
        p->updated_at = dup_col(s, 6);
        p->status_at = dup_col(s, 7);
        p->report_id = dup_col(s, 8);
        p->remote = dup_col(s, 10);
        p->report_requested_at = dup_col(s, 11);
        p->report_request = dup_col(s, 12);
        if (mac_out)
            snprintf(mac_out, PR_MAC_LEN + 1, "%s", sink_col_text(s, 9));
        rc = PR_OK;
    } else if (r == SINK_DONE) {
        rc = PR_ENOTFOUND;
    } else {
        rc = pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
    }
    sink_stmt_free(s);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of an object in byte order (the order the API and the XML export show). */
static const char **sorted_names(json_t *o, size_t *n)
{
    const char *name;
    json_t *v;
    size_t k = 0;
    const char **names = malloc((json_object_size(o) + 1) * sizeof *names);
    if (!names)
        return NULL;
    json_object_foreach(o, name, v)
    {
        names[k++] = name;
    }
    qsort(names, k, sizeof *names, by_name);
    *n = k;
    return names;
}

pr_status sink_query_doc_order(json_t *p, json_t *a, json_t **params, json_t **access, char *err,
                               size_t errlen)
{
    size_t n = 0;
    const char **names = NULL;
    pr_status rc = PR_OK;
    *params = json_object();
    *access = json_object();
    if (!*params || !*access || !(names = sorted_names(p, &n))) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *av = json_object_get(a, names[i]);
        if (json_object_set(*params, names[i], json_object_get(p, names[i])) != 0 ||
            (av && json_object_set(*access, names[i], av) != 0)) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
    }
out:
    free(names);
    if (rc != PR_OK) {
        json_decref(*params);
        json_decref(*access);
        *params = *access = NULL;
    }
    return rc;
}

/* params and access objects of a phone (name order), from its document. */
static pr_status params_load(sink_store *st, int64_t id, json_t **params, json_t **access,
                             char *err, size_t errlen)
{
    json_t *p = NULL, *a = NULL;
    pr_status rc = sink_store_doc_get(st, id, &p, &a, err, errlen);
    *params = *access = NULL;
    if (rc == PR_OK)
        rc = sink_query_doc_order(p, a, params, access, err, errlen);
    json_decref(p);
    json_decref(a);
    return rc;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

pr_status sink_query_config(sink_store *st, const char *mac, json_t **out, char *err, size_t errlen)
{
    phone_doc p;
    json_t *params = NULL, *access = NULL;
    pr_status rc = phone_load(st, mac, 0, &p, NULL, err, errlen);
    *out = NULL;
    if (rc != PR_OK)
        return rc;
    if ((rc = params_load(st, p.id, &params, &access, err, errlen)) == PR_OK) {
        rc = sink_answer(json_pack("{ss sI sb so so so so}", "mac", mac, "version",
                                   (json_int_t)p.version, "complete", p.complete, "model",
                                   str_or_null(p.model), "firmware", str_or_null(p.firmware),
                                   "params", params, "access", access),
                         out, err, errlen);
    }
    phone_doc_release(&p);
    return rc;
}

pr_status sink_query_xml_render(const char *comment, json_t *params, json_t *access, char **out,
                                size_t *len, char *err, size_t errlen)
{
    pr_flatprofile_writer *w = pr_flatprofile_writer_new(comment);
    const char *name;
    json_t *jv;
    pr_status rc = PR_OK;
    *out = NULL;
    if (!w)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    json_object_foreach(params, name, jv)
    {
        if (pr_flatprofile_writer_add(w, name, json_string_value(jv),
                                      json_string_value(json_object_get(access, name))) != PR_OK) {
            pr_flatprofile_writer_free(w);
            return pr_err(PR_EFATAL, err, errlen, "out of memory");
        }
    }
    if (pr_flatprofile_writer_finish(w, out, len, NULL) != PR_OK)
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    return rc;
}

/* The flat-profile XML of a phone (the writer in proto/ decides what XML can carry). */
pr_status sink_query_config_xml(sink_store *st, const char *mac, char **out, size_t *len, char *err,
                                size_t errlen)
{
    phone_doc p;
    json_t *params = NULL, *access = NULL;
    char comment[96];
    pr_status rc = phone_load(st, mac, 0, &p, NULL, err, errlen);
    *out = NULL;
    if (rc != PR_OK)
        return rc;
    if ((rc = params_load(st, p.id, &params, &access, err, errlen)) == PR_OK) {
        snprintf(comment, sizeof comment, "phonereport: %s version %lld", mac,
                 (long long)p.version);
        /* params_load's objects keep the name order */
        rc = sink_query_xml_render(comment, params, access, out, len, err, errlen);
    }
    json_decref(params);
    json_decref(access);
    phone_doc_release(&p);
    return rc;
}

static pr_status count_of(sink_store *st, sink_sql q, int64_t id, int64_t *n)
{
    sink_stmt *s = sink_store_stmt(st, q);
    *n = 0;
    if (!s)
        return PR_EFATAL;
    if (id)
        sink_bind_int64(s, 1, id);
    int r = sink_step(s);
    if (r == SINK_ROW)
        *n = sink_col_int64(s, 0);
    sink_stmt_free(s);
    return r == SINK_ROW ? PR_OK : PR_EFATAL;
}

/* remote: the address the phone last reported from (the edge's pr-remote); report_request:
 * the last re-baseline result (rebaseline.c), an object, or null. */
static json_t *phone_summary(const char *mac, const phone_doc *p, int64_t nparams, int64_t ndrift)
{
    json_t *rr = p->report_request ? json_loads(p->report_request, 0, NULL) : NULL;
    return json_pack("{ss sI sb so so so so so so sI sI so so so}", "mac", mac, "version",
                     (json_int_t)p->version, "complete", p->complete, "model",
                     str_or_null(p->model), "firmware", str_or_null(p->firmware), "first_seen",
                     str_or_null(p->first_seen), "updated_at", str_or_null(p->updated_at),
                     "status_at", str_or_null(p->status_at), "report_id", str_or_null(p->report_id),
                     "params", (json_int_t)nparams, "drifted", (json_int_t)ndrift, "remote",
                     str_or_null(p->remote), "report_requested_at",
                     str_or_null(p->report_requested_at), "report_request", rr ? rr : json_null());
}

pr_status sink_query_phone(sink_store *st, const char *mac, json_t **out, char *err, size_t errlen)
{
    phone_doc p;
    int64_t np = 0, nd = 0;
    pr_status rc = phone_load(st, mac, 0, &p, NULL, err, errlen);
    *out = NULL;
    if (rc != PR_OK)
        return rc;
    if (count_of(st, Q_DOC_PHONE_PARAMS, p.id, &np) != PR_OK ||
        count_of(st, Q_DOC_PHONE_DRIFT, p.id, &nd) != PR_OK)
        rc = pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
    else if (!(*out = phone_summary(mac, &p, np, nd)))
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    json_t *rem = NULL; /* the last resync (remediate.c), or null */
    if (rc == PR_OK && (rc = sink_remediate_summary(st, p.id, &rem, err, errlen)) == PR_OK)
        json_object_set_new(*out, "remediation", rem ? rem : json_null());
    phone_doc_release(&p);
    return rc;
}

pr_status sink_query_status(sink_store *st, const char *mac, json_t **out, char *err, size_t errlen)
{
    phone_doc p;
    sink_stmt *s = NULL;
    pr_status rc = phone_load(st, mac, 0, &p, NULL, err, errlen);
    *out = NULL;
    if (rc != PR_OK)
        return rc;
    if ((rc = prep(st, Q_DOC_STATUS, &s, err, errlen)) != PR_OK)
        goto out;
    sink_bind_int64(s, 1, p.id);
    int r = sink_step(s);
    if (r == SINK_DONE) {
        rc = pr_err(PR_ENOTFOUND, err, errlen, "no status report from this phone yet");
    } else if (r != SINK_ROW) {
        rc = pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
    } else {
        json_t *body = json_loads(sink_col_text(s, 2), 0, NULL);
        rc = sink_answer(json_pack("{ss so so so}", "mac", mac, "report_id", col_json_str(s, 0),
                                   "received_at", col_json_str(s, 1), "status",
                                   body ? body : json_object()),
                         out, err, errlen);
    }
out:
    sink_stmt_free(s);
    phone_doc_release(&p);
    return rc;
}

pr_status sink_query_changes(sink_store *st, const char *mac, int64_t after, int limit,
                             json_t **out, char *err, size_t errlen)
{
    phone_doc p;
    sink_stmt *s = NULL;
    json_t *list = NULL;
    int64_t last = 0;
    int n = 0, r = SINK_DONE;
    pr_status rc = phone_load(st, mac, 0, &p, NULL, err, errlen);
    *out = NULL;
    if (rc != PR_OK)
        return rc;
    if ((rc = prep(st, Q_DOC_CHANGES, &s, err, errlen)) != PR_OK)
        goto out;
    sink_bind_int64(s, 1, p.id);
    sink_bind_int64(s, 2, after);
    sink_bind_int64(s, 3, limit + 1);
    list = json_array();
    while (list && (r = sink_step(s)) == SINK_ROW && n < limit) {
        last = sink_col_int64(s, 0);
        json_t *c =
            json_pack("{sI sI so so so so so so}", "seq", (json_int_t)last, "version",
                      (json_int_t)sink_col_int64(s, 1), "param", col_json_str(s, 2), "old",
                      col_json_str(s, 3), "new", col_json_str(s, 4), "at", col_json_str(s, 5),
                      "report_id", col_json_str(s, 6), "via", col_json_str(s, 7));
        if (!c || json_array_append_new(list, c) != 0) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
        n++;
    }
    /* One more row than asked for means there is a next page. */
    bool more = list && n == limit && r == SINK_ROW;
    rc = sink_answer(list ? json_pack("{ss so so}", "mac", mac, "changes", list, "next",
                                      more ? json_integer(last) : json_null())
                          : NULL,
                     out, err, errlen);
    list = NULL;
out:
    json_decref(list);
    sink_stmt_free(s);
    phone_doc_release(&p);
    return rc;
}

pr_status sink_query_drift(sink_store *st, const char *mac, const char *after, int limit,
                           json_t **out, char *err, size_t errlen)
{
    sink_stmt *s = NULL;
    json_t *list = NULL;
    char amac[PR_MAC_LEN + 1] = "";
    const char *aparam = "";
    char *cursor = NULL;
    int n = 0, r = SINK_DONE;
    pr_status rc;
    *out = NULL;
    if (after) { /* "mac/param" */
        const char *slash = strchr(after, '/');
        if (!slash || slash - after != PR_MAC_LEN)
            return pr_err(PR_EINVAL, err, errlen, "after: expected <mac>/<param>");
        memcpy(amac, after, PR_MAC_LEN);
        aparam = slash + 1;
    }
    list = json_array();
    rc = prep(st, Q_DOC_DRIFT, &s, err, errlen);
    if (rc != PR_OK || !list)
        goto out;
    sink_bind_text(s, 1, mac);
    sink_bind_text(s, 2, amac);
    sink_bind_text(s, 3, aparam);
    sink_bind_int64(s, 4, limit + 1);
    while ((r = sink_step(s)) == SINK_ROW && n < limit) {
        json_t *o = json_pack("{so so so so ss so sI}", "mac", col_json_str(s, 0), "param",
                              col_json_str(s, 1), "intended", col_json_str(s, 2), "actual",
                              col_json_str(s, 3), "state", "drifted", "since", col_json_str(s, 4),
                              "version", (json_int_t)sink_col_int64(s, 5));
        if (!o || json_array_append_new(list, o) != 0) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
        free(cursor);
        if (asprintf(&cursor, "%s/%s", sink_col_text(s, 0), sink_col_text(s, 1)) < 0)
            cursor = NULL;
        n++;
    }
    if (r != SINK_ROW && r != SINK_DONE) {
        rc = pr_err(sink_store_failure(st), err, errlen, "store: %s", sink_store_errmsg(st));
        goto out;
    }
    rc = sink_answer(
        json_pack("{so so}", "drift", list, "next",
                  n == limit && r == SINK_ROW && cursor ? json_string(cursor) : json_null()),
        out, err, errlen);
    list = NULL;
out:
    free(cursor);
    json_decref(list);
    sink_stmt_free(s);
    return rc;
}

static int param_by_name(const void *a, const void *b)
{
    return strcmp(((const pr_state_param *)a)->name, ((const pr_state_param *)b)->name);
}

pr_status sink_query_state_text(sink_store *st, int64_t phone, char **out, size_t *len,
                                int64_t *version, char mac_out[PR_MAC_LEN + 1], char *err,
                                size_t errlen)
{
    phone_doc p;
    sink_doc d = {0};
    pr_state_param *ps = NULL;
    pr_status rc = phone_load(st, NULL, phone, &p, mac_out, err, errlen);
    *out = NULL;
    if (rc != PR_OK)
        return rc;
    if ((rc = sink_store_doc_load(st, p.id, &d, err, errlen)) != PR_OK)
        goto out;
    if (!(ps = malloc((d.n + 1) * sizeof *ps))) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < d.n; i++)
        ps[i] = (pr_state_param){d.e[i].name, d.e[i].value, d.e[i].access, d.e[i].vlen};
    qsort(ps, d.n, sizeof *ps, param_by_name); /* byte order, as the API shows them */
    pr_state_info info = {mac_out,      p.version,    p.complete,  p.model,    p.firmware,
                          p.first_seen, p.updated_at, p.status_at, p.report_id};
    if (!(*out = pr_state_event_text(&info, ps, d.n, len)))
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    *version = p.version;
out:
    free(ps);
    sink_doc_release(&d);
    phone_doc_release(&p);
    return rc;
}

pr_status sink_query_counts(sink_store *st, int64_t *phones, int64_t *drifted, int64_t *outbox)
{
    if (count_of(st, Q_DOC_COUNT_PHONES, 0, phones) != PR_OK ||
        count_of(st, Q_DOC_COUNT_DRIFT, 0, drifted) != PR_OK ||
        count_of(st, Q_OUTBOX_COUNT, 0, outbox) != PR_OK)
        return PR_EFATAL;
    return PR_OK;
}
