/*
 * test_differential.c - the decoder's streaming writers against the oracle (the jansson tree
 * builders they replaced, oracle/): every golden input with its own headers and keystore,
 * every fuzz seed and every sample under each kind and encoding announcement the fuzz target
 * gives them, and a set of documents made to be awkward for a writer (repeated names that
 * come back after others, escapes, invalid UTF-8 in headers, deep nesting, a large profile).
 * Each record is decoded twice, once per writer; both outputs must parse (jansson) to equal
 * JSON, go to the same topic, and the writer's must be valid against its topic's schema
 * (the independent Python validator, one run per topic over all outputs as JSON lines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"
#include "testsupport.h"

#define CASES PR_TESTS_DIR "/golden/decoder"

typedef struct diff_run {
    FILE *lines[PR_TOPIC__COUNT]; /* the writer's outputs, one JSON line each */
    char *dir;
    int records, failed;
    int per_topic[PR_TOPIC__COUNT];
} diff_run;

/* Decodes rec with both writers and compares; what failed is said on stderr. */
static void compare(diff_run *run, const char *what, const decoder_record *rec,
                    const decoder_opts *base)
{
    decoder_opts opts = *base;
    decoder_output mine, theirs;
    char err[256];
    json_error_t je;
    run->records++;
    opts.writers = NULL;
    pr_status a = decoder_report_decode(rec, &opts, &mine, err, sizeof err);
    opts.writers = &oracle_writers;
    pr_status b = decoder_report_decode(rec, &opts, &theirs, err, sizeof err);
    json_t *jm = a == PR_OK ? json_loadb(mine.value, mine.value_len, 0, &je) : NULL;
    json_t *jt = b == PR_OK ? json_loadb(theirs.value, theirs.value_len, 0, &je) : NULL;
    bool same = jm && jt && mine.topic == theirs.topic && json_equal(jm, jt);
    if (!same) {
        run->failed++;
        fprintf(stderr,
                "%s: the writer and the oracle differ (topic %d/%d)\n  writer: %.1500s\n"
                "  oracle: %.1500s\n",
                what, (int)mine.topic, (int)theirs.topic, a == PR_OK ? mine.value : "(failed)",
                b == PR_OK ? theirs.value : "(failed)");
    } else {
        fprintf(run->lines[mine.topic], "%s\n", mine.value);
        run->per_topic[mine.topic]++;
    }
    json_decref(jm);
    json_decref(jt);
    decoder_output_release(&mine);
    decoder_output_release(&theirs);
}

static void golden_inputs(diff_run *run)
{
    DIR *d = opendir(CASES);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 10 || strcmp(e->d_name + l - 10, ".case.json") != 0)
            continue;
        char path[2048], err[256];
        snprintf(path, sizeof path, "%s/%s", CASES, e->d_name);
        json_t *c = json_load_file(path, 0, NULL);
        assert_non_null(c);
        const char *input = json_string_value(json_object_get(c, "input"));
        if (strncmp(input, "@samples/", 9) == 0)
            snprintf(path, sizeof path, "%s/samples/%s", PR_DATA_DIR, input + 9);
        else
            snprintf(path, sizeof path, "%s/%s", CASES, input);
        size_t blen = 0;
        char *body = ts_read_file(path, &blen);
        assert_non_null(body);
        decoder_keystore *ks = NULL;
        json_t *kjs = json_object_get(c, "keystore");
        char *kt = kjs ? json_dumps(kjs, 0) : NULL;
        assert_int_equal(kt ? decoder_keystore_parse(kt, &ks, err, sizeof err)
                            : decoder_keystore_load(CASES "/keystore.json", &ks, err, sizeof err),
                         PR_OK);
        free(kt);
        decoder_header h[32];
        size_t nh = 0;
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(c, "headers"), name, v)
        {
            if (nh < 32)
                h[nh++] = (decoder_header){name, (const unsigned char *)json_string_value(v),
                                           json_string_length(v)};
        }
        const char *key = json_string_value(json_object_get(c, "key"));
        decoder_record rec = {"phonereport.raw",
                              (int32_t)json_integer_value(json_object_get(c, "partition")),
                              json_integer_value(json_object_get(c, "offset")),
                              -1,
                              (const unsigned char *)key,
                              key ? strlen(key) : 0,
                              (const unsigned char *)body,
                              blen,
                              h,
                              nh};
        decoder_opts opts;
        decoder_opts_default(&opts);
        opts.keystore = ks;
        compare(run, e->d_name, &rec, &opts);
        decoder_keystore_free(ks);
        free(body);
        json_decref(c);
    }
    closedir(d);
}

static decoder_keystore *fuzz_keystore(void)
{
    decoder_keystore *ks = NULL;
    char err[256];
    assert_int_equal(decoder_keystore_parse("{\"default\":{\"openssl_password\":\"test123\","
                                            "\"ikm\":{\"text\":\"MyIKMsecret12345\"}},"
                                            "\"key_ids\":{\"a1\":{\"base64url\":"
                                            "\"BO3ZVPxUlnLORbVGMpbT1Q\"}}}",
                                            &ks, err, sizeof err),
                     PR_OK);
    return ks;
}

/* One body under every kind, with and without Content-Encoding: aes128gcm, and with headers
 * a writer must repair (invalid UTF-8, a NUL, quotes and control characters). */
static void body_variants(diff_run *run, const char *what, const unsigned char *body, size_t len,
                          const decoder_keystore *ks)
{
    static const char *const kinds[] = {"full", "delta", "status", "unknown"};
    decoder_opts opts;
    decoder_opts_default(&opts);
    opts.keystore = ks;
    for (size_t k = 0; k < 4; k++)
        for (size_t enc = 0; enc < 2; enc++) {
            decoder_header h[] = {
                {"pr-kind", (const unsigned char *)kinds[k], strlen(kinds[k])},
                {"pr-user-agent", (const unsigned char *)"Cisco-CP-8841-3PCC/11.0 (00562b043615)",
                 38},
                {"pr-request-id", (const unsigned char *)"id-\"\\\n\x01\xff\xc3", 10},
                {"pr-path", (const unsigned char *)"/r/a\0b", 6},
                {"pr-remote", (const unsigned char *)"\xf0\x9f\x98\x80 \xed\xa0\x80", 8},
                {"pr-received-ms", (const unsigned char *)"-1", 2},
                {"pr-content-encoding", (const unsigned char *)"aes128gcm", 9},
            };
            decoder_record rec = {"phonereport.raw",
                                  3,
                                  99,
                                  0,
                                  (const unsigned char *)"00562b043615",
                                  12,
                                  body,
                                  len,
                                  h,
                                  enc ? 7 : 6};
            char label[1200];
            snprintf(label, sizeof label, "%s (kind %s%s)", what, kinds[k],
                     enc ? ", aes128gcm announced" : "");
            compare(run, label, &rec, &opts);
        }
}

static void files_in(diff_run *run, const char *dir, const decoder_keystore *ks)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *body = ts_read_file(path, &len);
        assert_non_null(body);
        body_variants(run, path, (const unsigned char *)body, len, ks);
        free(body);
    }
    closedir(d);
}

/* Documents made for the writer: what the samples do not hold. */
static void awkward_documents(diff_run *run, const decoder_keystore *ks)
{
    static const char *const docs[] = {
        "<status><a>1</a><b x=\"y\">2</b><a>3</a><c/><b>4</b><a><d>5</d></a></status>",
        "<status v=\"1\">  text \r\n more  <i>x</i> tail </status>",
        "<s><q>&quot;&amp;&lt;&gt;&#9;&#xA;&#13;&#x7F;&#x80;&#xFFFD;&#x10FFFF;\\/</q></s>",
        "<s xmlns:p=\"urn:x\"><p:a p:b=\"c\">d</p:a><p:a/></s>",
        "<s><e/><e></e><e>   </e><e a=\"\"/></s>",
        "<flat-profile><A_ ua=\"rw\">&quot;q&quot; \\ &#x1F600;</A_><B_ ua=\"x\">1</B_>"
        "<A_ ua=\"na\">last</A_><C_>\tline1\nline2\r\n</C_><D_/></flat-profile>",
        "<env><flat-profile><X_>1</X_></flat-profile><flat-profile><Y_>2</Y_><X_>3</X_>"
        "</flat-profile></env>",
        "<html><body>not a report</body></html>",
        "<lonely/>",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "awkward document %zu", i);
        body_variants(run, label, (const unsigned char *)docs[i], strlen(docs[i]), ks);
    }
    /* Nesting as deep as the limits allow, and a large profile with unique names. */
    size_t cap = 1u << 20, n = 0;
    char *x = malloc(cap);
    assert_non_null(x);
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(x + n, cap - n, "<l%d a=\"%d\">", i % 3, i);
    for (int i = 59; i >= 0; i--)
        n += (size_t)snprintf(x + n, cap - n, "t%d</l%d>", i, i % 3);
    body_variants(run, "deep status", (const unsigned char *)x, n, ks);
    n = (size_t)snprintf(x, cap, "<flat-profile>");
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(x + n, cap - n, "<P%d_ ua=\"%s\">value \xc3\xa9 %d</P%d_>", i,
                              i % 3 ? "rw" : "na", i % 97, i);
    n += (size_t)snprintf(x + n, cap - n, "</flat-profile>");
    body_variants(run, "5000 parameters", (const unsigned char *)x, n, ks);
    free(x);
}

static void test_the_writers_give_the_oracles_json_for_every_input(void **state)
{
    (void)state;
    diff_run run;
    char path[4200];
    memset(&run, 0, sizeof run);
    run.dir = ts_mkdtemp("differential");
    assert_non_null(run.dir);
    for (int t = 0; t < PR_TOPIC__COUNT; t++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", run.dir, pr_topic_suffix((pr_topic)t));
        run.lines[t] = fopen(path, "w");
        assert_non_null(run.lines[t]);
    }
    decoder_keystore *ks = fuzz_keystore();
    golden_inputs(&run);
    files_in(&run, PR_FUZZ_SEEDS, ks);
    files_in(&run, PR_DATA_DIR "/samples", ks);
    awkward_documents(&run, ks);
    decoder_keystore_free(ks);
    for (int t = 0; t < PR_TOPIC__COUNT; t++)
        fclose(run.lines[t]);
    printf("%d records, %d differ; config %d, status %d, dlq %d\n", run.records, run.failed,
           run.per_topic[PR_TOPIC_CONFIG], run.per_topic[PR_TOPIC_STATUS],
           run.per_topic[PR_TOPIC_DLQ]);
    assert_int_equal(run.failed, 0);
    /* Every kind of output was compared, not only dead letters. */
    assert_true(run.per_topic[PR_TOPIC_CONFIG] >= 20);
    assert_true(run.per_topic[PR_TOPIC_STATUS] >= 20);
    assert_true(run.per_topic[PR_TOPIC_DLQ] >= 20);
    static const pr_topic checked[] = {PR_TOPIC_CONFIG, PR_TOPIC_STATUS, PR_TOPIC_DLQ};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", run.dir, pr_topic_suffix(checked[i]));
        assert_int_equal(ts_validate_schema(pr_topic_suffix(checked[i]), path), 0);
    }
    ts_rmtree(run.dir);
    free(run.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_writers_give_the_oracles_json_for_every_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
