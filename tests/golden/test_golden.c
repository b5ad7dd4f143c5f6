/*
 * test_golden.c - runs the decoder's golden cases (tests/golden/decoder/NAME.case.json and
 * NAME.expected.json, see README.md there) through the record-to-event step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testmain.h"
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_int.h"
#include "testsupport.h"

#define CASES PR_TESTS_DIR "/golden/decoder"

/* Every member of want is in have with an equal value (objects recursively). */
static int subset(json_t *want, json_t *have)
{
    if (json_is_object(want) && json_is_object(have)) {
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) if (!subset(v, json_object_get(have, k))) return 0;
        return 1;
    }
    return have && json_equal(want, have);
}

static char *input_path(const char *input)
{
    char path[2048];
    if (strncmp(input, "@samples/", 9) == 0)
        snprintf(path, sizeof path, "%s/samples/%s", PR_DATA_DIR, input + 9);
    else
        snprintf(path, sizeof path, "%s/%s", CASES, input);
    return strdup(path);
}

static int run_case(const char *name, char *tmpdir)
{
    char path[2048], err[512];
    json_error_t je;
    int ok = 0;
    decoder_keystore *ks = NULL;
    decoder_output out;
    char *body = NULL, *ipath = NULL;
    json_t *want = NULL, *have = NULL;
    memset(&out, 0, sizeof out);

    snprintf(path, sizeof path, "%s/%s.case.json", CASES, name);
    json_t *c = json_load_file(path, 0, &je);
    if (!c) {
        fprintf(stderr, "%s: %s\n", path, je.text);
        return 0;
    }
    json_t *kjs = json_object_get(c, "keystore");
    if (kjs) {
        char *t = json_dumps(kjs, 0);
        if (decoder_keystore_parse(t, &ks, err, sizeof err) != PR_OK)
            fprintf(stderr, "%s: %s\n", name, err);
        free(t);
    } else if (decoder_keystore_load(CASES "/keystore.json", &ks, err, sizeof err) != PR_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
    }
    size_t blen = 0;
    ipath = input_path(json_string_value(json_object_get(c, "input")));
    body = ts_read_file(ipath, &blen);
    if (!ks || !body) {
        fprintf(stderr, "%s: cannot read its input %s or keystore\n", name, ipath);
        goto out;
    }
    decoder_header h[32];
    size_t nh = 0;
    const char *hk;
    json_t *hv;
    json_object_foreach(json_object_get(c, "headers"), hk, hv)
    {
        if (nh == 32)
            break;
        h[nh].name = hk;
        h[nh].value = (const unsigned char *)json_string_value(hv);
        h[nh].len = json_string_length(hv);
        nh++;
    }
    const char *key = json_string_value(json_object_get(c, "key"));
    json_t *jp = json_object_get(c, "partition"), *jo = json_object_get(c, "offset");
    decoder_record rec = {
        .topic = "phonereport.raw",
        .partition = jp ? (int32_t)json_integer_value(jp) : 0,
        .offset = jo ? json_integer_value(jo) : 0,
        .timestamp_ms = -1,
        .key = (const unsigned char *)key,
        .key_len = key ? strlen(key) : 0,
        .value = (const unsigned char *)body,
        .value_len = blen,
        .headers = h,
        .nheaders = nh,
    };
    decoder_opts opts;
    decoder_opts_default(&opts);
    opts.keystore = ks;
    if (decoder_report_decode(&rec, &opts, &out, err, sizeof err) != PR_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        goto out;
    }
    have = json_loadb(out.value, out.value_len, 0, &je);
    snprintf(path, sizeof path, "%s/%s.expected.json", CASES, name);
    if (getenv("PR_GOLDEN_UPDATE")) {
        json_dump_file(have, path, JSON_INDENT(1) | JSON_ENSURE_ASCII);
        fprintf(stderr, "%s: wrote %s\n", name, path);
    }
    want = json_load_file(path, 0, &je);
    if (!want) {
        fprintf(stderr, "%s: %s: %s\n", name, path, je.text);
        goto out;
    }
    const char *schema = json_string_value(json_object_get(want, "schema"));
    bool dlq = schema && strcmp(schema, "phonereport.dlq/1") == 0;
    ok = dlq ? subset(want, have) : json_equal(want, have);
    if (!ok) {
        char *s = json_dumps(have, JSON_COMPACT);
        fprintf(stderr, "%s: output differs from %s:\n%.2000s\n", name, path, s);
        free(s);
        goto out;
    }
    /* And the output is valid against its topic's schema. */
    snprintf(path, sizeof path, "%s/%s.json", tmpdir, name);
    ts_write_file(path, out.value, out.value_len);
    if (ts_validate_schema(pr_topic_suffix(out.topic), path) != 0) {
        fprintf(stderr, "%s: output is not valid against its schema\n", name);
        ok = 0;
    }
out:
    decoder_output_release(&out);
    decoder_keystore_free(ks);
    json_decref(c);
    json_decref(want);
    json_decref(have);
    free(body);
    free(ipath);
    return ok;
}

static void test_golden_cases_give_their_expected_outputs(void **state)
{
    (void)state;
    DIR *d = opendir(CASES);
    struct dirent *e;
    int n = 0, failed = 0;
    char *tmpdir = ts_mkdtemp("golden");
    assert_non_null(d);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 10 || strcmp(e->d_name + l - 10, ".case.json") != 0)
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(l - 10), e->d_name);
        n++;
        if (!run_case(name, tmpdir))
            failed++;
        else
            printf("golden %s: ok\n", name);
    }
    closedir(d);
    ts_rmtree(tmpdir);
    free(tmpdir);
    printf("%d golden cases, %d failed\n", n, failed);
    assert_true(n >= 10);
    assert_int_equal(failed, 0);
}

PR_TEST_MAIN(cmocka_unit_test(test_golden_cases_give_their_expected_outputs))
