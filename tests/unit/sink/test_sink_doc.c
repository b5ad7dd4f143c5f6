/*
 * test_sink_doc.c - the compact document (sink/doc.c): the SQLite encoding round trip, a
 * corrupt or truncated blob is an error and never a crash, an unknown name id, the empty
 * document; the merge and diff of a report (delta adding, replacing, access changes; a full
 * report removing names); the JSON texts written for PostgreSQL. Then through the store (both
 * stores): the weight kept incrementally equals the weight of the document the API shows.
 */
#include "apitest.h"

/* A small name table for the decoder: ids 1..NAMES (0 and the rest are unknown). */
#define NAMES 80000
static const char *name_of(void *ctx, int64_t id)
{
    static char names[8][16];
    (void)ctx;
    if (id <= 0 || id > NAMES || id == 77) /* 77: a name the store does not have */
        return NULL;
    char *n = names[id % 8];
    snprintf(n, sizeof names[0], "N%lld", (long long)id);
    return n;
}

/* The name text of name_of(id) that stays valid (the decoder's copies rotate). */
static const char *nm(int64_t id)
{
    static char names[64][16];
    char *n = names[id % 64];
    snprintf(n, sizeof names[0], "N%lld", (long long)id);
    return n;
}

static sink_doc doc_of(const sink_doc_entry *e, size_t n)
{
    sink_doc d = {0};
    d.e = malloc((n + 1) * sizeof *d.e);
    assert_non_null(d.e);
    memcpy(d.e, e, n * sizeof *e);
    d.n = n;
    for (size_t i = 0; i < n; i++)
        d.e[i].pos = (uint32_t)i;
    sink_doc_finish(&d);
    return d;
}

#define E(id, v, a)                                                                                \
    {                                                                                              \
        (id), nm(id), (v), (a), (uint32_t)strlen(v), 0, 0                                          \
    }

static void expect_entry(const sink_doc_entry *e, int64_t id, const char *v, const char *a)
{
    assert_non_null(e);
    assert_int_equal(e->id, id);
    assert_int_equal(e->vlen, strlen(v));
    assert_memory_equal(e->value, v, e->vlen);
    assert_int_equal(e->value[e->vlen], '\0');
    if (a)
        assert_string_equal(e->access, a);
    else
        assert_null(e->access);
}

static void test_encoding_round_trip(void **state)
{
    (void)state;
    sink_doc_entry in[] = {E(300, "sip.example.com", "na"), E(1, "", NULL),
                           E(70000, "x \"q\" \\ \xc3\xa9", "rw"), E(5, "long", "ro"),
                           E(6, "v", "custom access")};
    sink_doc d = doc_of(in, 5), back;
    unsigned char *b = NULL;
    size_t len = 0;
    assert_int_equal(sink_doc_encode(&d, &b, &len), PR_OK);
    assert_true(sink_doc_is_blob(b, len));
    assert_int_equal(sink_doc_decode(b, len, name_of, NULL, &back), PR_OK);
    assert_int_equal(back.n, 5);
    expect_entry(&back.e[0], 1, "", NULL);
    expect_entry(&back.e[1], 5, "long", "ro");
    expect_entry(&back.e[2], 6, "v", "custom access");
    expect_entry(&back.e[3], 300, "sip.example.com", "na");
    expect_entry(&back.e[4], 70000, "x \"q\" \\ \xc3\xa9", "rw");
    assert_true(back.bytes > 0);
    /* a value is found in the blob itself (pr_param) */
    const char *v = NULL;
    size_t vlen = 0;
    assert_true(sink_doc_blob_find(b, len, 300, &v, &vlen));
    assert_int_equal(vlen, strlen("sip.example.com"));
    assert_memory_equal(v, "sip.example.com", vlen);
    assert_true(sink_doc_blob_find(b, len, 1, &v, &vlen));
    assert_int_equal(vlen, 0);
    assert_false(sink_doc_blob_find(b, len, 4, &v, &vlen));
    assert_false(sink_doc_blob_find(b, len, 70001, &v, &vlen));
    /* compact: the values' bytes plus a few per entry */
    assert_true(len < 1 + 1 + 5 * 4 + 40 + strlen("custom access"));
    free(b);
    sink_doc_release(&back);
    sink_doc_release(&d);
}

static void test_empty_document(void **state)
{
    (void)state;
    sink_doc d = {0}, back;
    unsigned char *b = NULL;
    size_t len = 0;
    assert_int_equal(sink_doc_encode(&d, &b, &len), PR_OK);
    assert_int_equal(len, 2);
    assert_int_equal(sink_doc_decode(b, len, name_of, NULL, &back), PR_OK);
    assert_int_equal(back.n, 0);
    char *p = sink_doc_json(&back, false, NULL), *a = sink_doc_json(&back, true, NULL);
    assert_string_equal(p, "{}");
    assert_string_equal(a, "{}");
    json_t *jp, *ja;
    assert_int_equal(sink_doc_to_json(&back, &jp, &ja), PR_OK);
    assert_int_equal(json_object_size(jp), 0);
    json_decref(jp);
    json_decref(ja);
    free(p);
    free(a);
    free(b);
    sink_doc_release(&back);
}

static void test_corrupt_or_truncated_blob_is_an_error(void **state)
{
    (void)state;
    sink_doc_entry in[] = {E(2, "alpha", "na"), E(9, "beta", "odd"), E(40, "gamma", NULL)};
    sink_doc d = doc_of(in, 3), back;
    unsigned char *b = NULL, *c;
    size_t len = 0;
    const char *v;
    size_t vlen;
    assert_int_equal(sink_doc_encode(&d, &b, &len), PR_OK);
    /* every truncation: an error, never a read past the end (ASan watches) */
    for (size_t n = 0; n < len; n++) {
        c = malloc(n ? n : 1);
        memcpy(c, b, n);
        assert_int_equal(sink_doc_decode(n ? c : NULL, n, name_of, NULL, &back), PR_EINVAL);
        sink_doc_blob_find(c, n, 40, &v, &vlen);
        free(c);
    }
    /* trailing bytes, another first byte (a schema-5 JSON text), NULL */
    c = malloc(len + 1);
    memcpy(c, b, len);
    c[len] = 0;
    assert_int_equal(sink_doc_decode(c, len + 1, name_of, NULL, &back), PR_EINVAL);
    free(c);
    assert_int_equal(sink_doc_decode("{\"params\":{}}", 13, name_of, NULL, &back), PR_EINVAL);
    assert_false(sink_doc_is_blob("{", 1));
    assert_int_equal(sink_doc_decode(NULL, 0, name_of, NULL, &back), PR_EINVAL);
    /* ids that do not increase (a zero gap), an access code past the known ones, a length
     * beyond the blob, a count beyond what the bytes can hold */
    static const unsigned char zero_gap[] = {0xD6, 2, 1, 8, 'a', 0, 8, 'b'};
    static const unsigned char bad_code[] = {0xD6, 1, 1, 8 + 5, 'a'};
    static const unsigned char long_value[] = {0xD6, 1, 1, 0xf8, 0x7f, 'a'};
    static const unsigned char many[] = {0xD6, 0xff, 0xff, 0x03, 1, 0};
    static const unsigned char overlong_varint[] = {0xD6, 1,    0xff, 0xff, 0xff, 0xff, 0xff,
                                                    0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
    assert_int_equal(sink_doc_decode(zero_gap, sizeof zero_gap, name_of, NULL, &back), PR_EINVAL);
    assert_int_equal(sink_doc_decode(bad_code, sizeof bad_code, name_of, NULL, &back), PR_EINVAL);
    assert_int_equal(sink_doc_decode(long_value, sizeof long_value, name_of, NULL, &back),
                     PR_EINVAL);
    assert_int_equal(sink_doc_decode(many, sizeof many, name_of, NULL, &back), PR_EINVAL);
    assert_int_equal(sink_doc_decode(overlong_varint, sizeof overlong_varint, name_of, NULL, &back),
                     PR_EINVAL);
    assert_false(sink_doc_blob_find(long_value, sizeof long_value, 1, &v, &vlen));
    /* every single byte changed to every value: an error or a document, never a crash */
    c = malloc(len);
    for (size_t i = 0; i < len; i++)
        for (unsigned x = 0; x < 256; x++) {
            memcpy(c, b, len);
            c[i] = (unsigned char)x;
            if (sink_doc_decode(c, len, name_of, NULL, &back) == PR_OK)
                sink_doc_release(&back);
            sink_doc_blob_find(c, len, 9, &v, &vlen);
        }
    free(c);
    free(b);
    sink_doc_release(&d);
}

static void test_unknown_name_id_is_reported(void **state)
{
    (void)state;
    sink_doc_entry in[] = {E(3, "a", NULL), E(77, "b", NULL)};
    sink_doc d = doc_of(in, 2), back;
    unsigned char *b = NULL;
    size_t len = 0;
    assert_int_equal(sink_doc_encode(&d, &b, &len), PR_OK);
    assert_int_equal(sink_doc_decode(b, len, name_of, NULL, &back), PR_ENOTFOUND);
    assert_int_equal(back.n, 0);
    assert_null(back.e);
    free(b);
    sink_doc_release(&d);
}

static void test_delta_merge_adds_replaces_and_changes_access(void **state)
{
    (void)state;
    sink_doc_entry o[] = {E(1, "a", NULL), E(3, "c", "ro"), E(5, "e", "na"), E(7, "g", "rw")};
    /* the report's order: 7 (access dropped), 2 (new), 3 (value and access), 5 (same) */
    sink_doc_entry r[] = {E(7, "g", NULL), E(2, "b", "na"), E(3, "C", "rw"), E(5, "e", "na")};
    sink_doc old = doc_of(o, 4), ev = doc_of(r, 4), out;
    sink_doc_diff diff;
    assert_int_equal(sink_doc_merge(&old, &ev, false, &out, &diff), PR_OK);
    assert_int_equal(out.n, 5);
    expect_entry(&out.e[0], 1, "a", NULL);
    expect_entry(&out.e[1], 2, "b", "na");
    expect_entry(&out.e[2], 3, "C", "rw");
    expect_entry(&out.e[3], 5, "e", "na");
    expect_entry(&out.e[4], 7, "g", NULL);
    assert_int_equal(diff.nremoved, 0);
    /* by the report's order (pos): the old entry of each of its names */
    assert_ptr_equal(diff.old_of[0], sink_doc_find(&old, 7));
    assert_null(diff.old_of[1]);
    assert_ptr_equal(diff.old_of[2], sink_doc_find(&old, 3));
    assert_ptr_equal(diff.old_of[3], sink_doc_find(&old, 5));
    assert_false(sink_doc_same_access(diff.old_of[0], sink_doc_find(&ev, 7)));
    assert_true(sink_doc_same_access(diff.old_of[3], sink_doc_find(&ev, 5)));
    assert_false(sink_doc_same_access(diff.old_of[2], sink_doc_find(&ev, 3)));
    /* the new document owns its values: the old one and the report may go */
    sink_doc_diff_release(&diff);
    sink_doc_release(&old);
    sink_doc_release(&ev);
    expect_entry(sink_doc_find(&out, 2), 2, "b", "na");
    sink_doc_release(&out);
}

static void test_full_report_removes_the_names_it_lacks(void **state)
{
    (void)state;
    sink_doc_entry o[] = {E(1, "a", NULL), E(2, "b", "ro"), E(3, "c", NULL), E(9, "i", NULL)};
    sink_doc_entry r[] = {E(4, "d", NULL), E(2, "B", NULL)};
    sink_doc old = doc_of(o, 4), ev = doc_of(r, 2), out, empty = {0};
    sink_doc_diff diff;
    assert_int_equal(sink_doc_merge(&old, &ev, true, &out, &diff), PR_OK);
    assert_int_equal(out.n, 2);
    expect_entry(&out.e[0], 2, "B", NULL);
    expect_entry(&out.e[1], 4, "d", NULL);
    assert_int_equal(diff.nremoved, 3); /* in id order */
    assert_int_equal(diff.removed[0]->id, 1);
    assert_int_equal(diff.removed[1]->id, 3);
    assert_int_equal(diff.removed[2]->id, 9);
    assert_null(diff.old_of[0]);
    assert_ptr_equal(diff.old_of[1], sink_doc_find(&old, 2));
    sink_doc_diff_release(&diff);
    sink_doc_release(&out);
    /* into an empty document: the report as it is; an empty full report removes all */
    assert_int_equal(sink_doc_merge(&empty, &ev, false, &out, &diff), PR_OK);
    assert_int_equal(out.n, 2);
    sink_doc_diff_release(&diff);
    sink_doc_release(&out);
    assert_int_equal(sink_doc_merge(&old, &empty, true, &out, &diff), PR_OK);
    assert_int_equal(out.n, 0);
    assert_int_equal(diff.nremoved, 4);
    sink_doc_diff_release(&diff);
    sink_doc_release(&out);
    sink_doc_release(&old);
    sink_doc_release(&ev);
}

/* Many deltas in a row, each merged into the previous result that is then freed (as the
 * writer's cache does): the kept strings move with the arena, the waste is compacted, and
 * every value and access stays what a plain model says. */
static void test_deltas_in_a_row_keep_every_value(void **state)
{
    (void)state;
    enum { N = 40, ROUNDS = 300 };
    char model_v[N + 1][64], model_a[N + 1][32];
    sink_doc_entry in[N];
    for (int i = 0; i < N; i++) {
        snprintf(model_v[i + 1], sizeof model_v[0], "initial value %d", i + 1);
        model_a[i + 1][0] = '\0';
        in[i] = (sink_doc_entry)E(i + 1, model_v[i + 1], NULL);
    }
    sink_doc cur = doc_of(in, N), next;
    assert_true(sink_doc_own(&cur));
    unsigned long long rng = 88172645463325252ULL;
    bool compacted = false;
    for (int round = 0; round < ROUNDS; round++) {
        char vals[3][64], accs[3][32];
        sink_doc_entry r[3];
        int ids[3], k = 0;
        for (int j = 0; j < 3; j++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            int id = 1 + (int)(rng % N);
            if ((j > 0 && ids[0] == id) || (j > 1 && ids[1] == id))
                continue;
            ids[k] = id;
            snprintf(vals[k], sizeof vals[0], "r%d-%.*s", round, (int)(rng >> 40) % 40,
                     "0123456789012345678901234567890123456789");
            static const char *const acc[] = {"", "na", "rw", "other access"};
            snprintf(accs[k], sizeof accs[0], "%s", acc[(rng >> 20) % 4]);
            r[k] = (sink_doc_entry)E(id, vals[k], accs[k][0] ? accs[k] : NULL);
            k++;
        }
        sink_doc ev = doc_of(r, (size_t)k);
        sink_doc_diff diff;
        assert_int_equal(sink_doc_merge(&cur, &ev, false, &next, &diff), PR_OK);
        compacted = compacted || next.waste < cur.waste;
        sink_doc_diff_release(&diff);
        sink_doc_release(&ev);
        sink_doc_release(&cur);
        for (int j = 0; j < k; j++) {
            snprintf(model_v[ids[j]], sizeof model_v[0], "%s", vals[j]);
            snprintf(model_a[ids[j]], sizeof model_a[0], "%s", accs[j]);
        }
        assert_int_equal(next.n, N);
        for (int i = 1; i <= N; i++)
            expect_entry(sink_doc_find(&next, i), i, model_v[i], model_a[i][0] ? model_a[i] : NULL);
        assert_true(next.waste <= next.arena_len);
        cur = next;
    }
    assert_true(compacted);
    sink_doc_release(&cur);
}

static void test_json_texts_for_postgresql(void **state)
{
    (void)state;
    sink_doc_entry in[] = {E(1, "x \"q\" \\ \xc3\xa9\n", "na"), E(2, "", NULL)};
    sink_doc d = doc_of(in, 2);
    size_t len = 0;
    char *p = sink_doc_json(&d, false, &len), *a = sink_doc_json(&d, true, NULL);
    json_t *jp = json_loads(p, 0, NULL), *ja = json_loads(a, 0, NULL);
    assert_int_equal(len, strlen(p));
    assert_string_equal(json_string_value(json_object_get(jp, "N1")), "x \"q\" \\ \xc3\xa9\n");
    assert_string_equal(json_string_value(json_object_get(jp, "N2")), "");
    assert_int_equal(json_object_size(ja), 1);
    assert_string_equal(json_string_value(json_object_get(ja, "N1")), "na");
    json_t *tp, *ta;
    assert_int_equal(sink_doc_to_json(&d, &tp, &ta), PR_OK);
    assert_true(json_equal(tp, jp));
    assert_true(json_equal(ta, ja));
    json_decref(tp);
    json_decref(ta);
    json_decref(jp);
    json_decref(ja);
    free(p);
    free(a);
    sink_doc_release(&d);
}

/* ---- through the store ------------------------------------------------------------------ */

typedef apitest fx; /* the store only: no API is served */

static int setup(void **state)
{
    *state = apitest_new("sink-doc", NULL);
    return 0;
}

/* The weight of what the API shows (sink_param_weight over the document). */
static long long shown_weight(sink_store *st, const char *mac)
{
    json_t *cfg = NULL;
    char err[256];
    const char *name;
    json_t *v;
    long long w = 0;
    assert_int_equal(sink_query_config(st, mac, &cfg, err, sizeof err), PR_OK);
    json_t *params = json_object_get(cfg, "params"), *access = json_object_get(cfg, "access");
    json_object_foreach(params, name, v)
    {
        w += sink_param_weight(name, json_string_value(v),
                               json_string_value(json_object_get(access, name)));
    }
    json_decref(cfg);
    return w;
}

static void test_weight_kept_from_the_phone_row_is_the_documents(void **state)
{
    fx *f = *state;
    const char *mac = "00562b00d0c0";
    apply_owned(f->st, NULL,
                ev_config(mac, "full", "w1", "2026-11-24T17:00:00.000Z",
                          "{\"A\":\"1\",\"B\":\"two\",\"C\":\"\\\"3\\\"\"}", "{\"A\":\"na\"}"),
                false);
    /* deltas: a new name, a replaced value, an access added, changed and dropped */
    static const char *const deltas[][2] = {
        {"{\"D\":\"\\u00e9\\n\"}", "{\"D\":\"rw\"}"},
        {"{\"B\":\"a much longer value than before\"}", "{\"B\":\"ro\"}"},
        {"{\"A\":\"1\"}", NULL},
        {"{\"C\":\"3\",\"E\":\"\"}", "{\"C\":\"custom\"}"},
    };
    char rid[16];
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
        snprintf(rid, sizeof rid, "w%zu", i + 2);
        apply_owned(
            f->st, NULL,
            ev_config(mac, "delta", rid, "2026-11-24T17:01:00.000Z", deltas[i][0], deltas[i][1]),
            false);
        assert_int_equal(q_int(f->st, "SELECT state_bytes FROM phones WHERE mac = '00562b00d0c0'"),
                         shown_weight(f->st, mac));
    }
    assert_int_equal(q_int(f->st, "SELECT nparams FROM phones WHERE mac = '00562b00d0c0'"), 5);
    /* a full report removing names: the weight is the report's */
    apply_owned(f->st, NULL,
                ev_config(mac, "full", "w9", "2026-11-24T17:02:00.000Z", "{\"B\":\"b\"}", NULL),
                false);
    assert_int_equal(q_int(f->st, "SELECT state_bytes FROM phones WHERE mac = '00562b00d0c0'"),
                     shown_weight(f->st, mac));
    assert_int_equal(q_int(f->st, "SELECT nparams FROM phones WHERE mac = '00562b00d0c0'"), 1);
}

/* A report of more changes than one multi-row statement takes (16 rows, 80 placeholders):
 * every change row, outbox record and index entry is written, on both stores. */
static void test_a_report_of_many_changes_writes_every_one(void **state)
{
    fx *f = *state;
    const char *mac = "00562b00d0c1";
    char full[4096], delta[4096];
    size_t nf = 0, nd = 0;
    nf += (size_t)snprintf(full + nf, sizeof full - nf, "{");
    nd += (size_t)snprintf(delta + nd, sizeof delta - nd, "{");
    for (int i = 0; i < 40; i++) { /* Proxy_N_: in the default index set */
        nf += (size_t)snprintf(full + nf, sizeof full - nf, "%s\"Proxy_%d_\":\"p%d\"", i ? "," : "",
                               i, i);
        nd += (size_t)snprintf(delta + nd, sizeof delta - nd, "%s\"Proxy_%d_\":\"q%d\"",
                               i ? "," : "", i, i);
    }
    snprintf(full + nf, sizeof full - nf, "}");
    snprintf(delta + nd, sizeof delta - nd, "}");
    char err[256];
    assert_int_equal(sink_store_index_configure(f->st, NULL, err, sizeof err), PR_OK);
    apply_owned(f->st, NULL, ev_config(mac, "full", "m1", "2026-11-24T17:00:00.000Z", full, NULL),
                false);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM pindex WHERE value LIKE 'p%'"), 40);
    char *text = ev_config(mac, "delta", "m2", "2026-11-24T17:01:00.000Z", delta, NULL);
    sink_apply_result res = apply_text(f->st, NULL, text, false);
    free(text);
    assert_int_equal(res.changes, 40);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM changes"), 40);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM outbox WHERE topic = 5"), 40);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM pindex WHERE value LIKE 'q%'"), 40);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM pindex WHERE value LIKE 'p%'"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_round_trip),
        cmocka_unit_test(test_empty_document),
        cmocka_unit_test(test_corrupt_or_truncated_blob_is_an_error),
        cmocka_unit_test(test_unknown_name_id_is_reported),
        cmocka_unit_test(test_delta_merge_adds_replaces_and_changes_access),
        cmocka_unit_test(test_full_report_removes_the_names_it_lacks),
        cmocka_unit_test(test_deltas_in_a_row_keep_every_value),
        cmocka_unit_test(test_json_texts_for_postgresql),
        APITEST(test_weight_kept_from_the_phone_row_is_the_documents, setup),
        APITEST(test_a_report_of_many_changes_writes_every_one, setup),
    };
    return sinktest_run("sink_doc", tests, sizeof tests / sizeof tests[0], NULL);
}
