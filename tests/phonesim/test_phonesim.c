/*
 * test_phonesim.c - the simulator's own parts: its encoders against independent
 * implementations (the `openssl enc` fixtures and command line, Python http_ece, the RFC 8188
 * 3.1 vector), its reports against the project's flat-profile parser, its fleet identities.
 * The end-to-end test trusts these; if they were wrong it would test the simulator instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "flatprofile.h"
#include "mac.h"
#include "phonesim.h"
#include "testsupport.h"

#define SAMPLES PR_DATA_DIR "/samples/"

/* base64url without padding -> bytes; returns the length. */
static size_t b64url_decode(const char *s, unsigned char *out)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s; s++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *p = strchr(tab, *s);
        assert_non_null(p);
        acc = (acc << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

static void test_aes128gcm_matches_rfc8188_example_3_1(void **state)
{
    (void)state;
    unsigned char ikm[32], salt[32], want[128];
    assert_int_equal(b64url_decode("yqdlZ-tYemfogSmv7Ws5PQ", ikm), 16);
    assert_int_equal(b64url_decode("I1BsxtFttlv3u_Oo94xnmw", salt), 16);
    size_t wlen = b64url_decode(
        "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg", want);
    assert_int_equal(wlen, 53);
    sim_buf out = {0};
    assert_int_equal(sim_crypto_aes128gcm(ikm, 16, salt, 4096, "", "I am the walrus", 15, &out), 0);
    assert_int_equal(out.len, wlen);
    assert_memory_equal(out.data, want, wlen);
    sim_buf_release(&out);
}

/* The fixtures were made with `openssl enc -e -aes-256-cbc -md <md> -k test123`: the same
 * salt must give the same bytes. */
static void check_cbc_fixture(const char *md, const char *fixture)
{
    size_t plen = 0, flen = 0;
    char *plain = ts_read_file(SAMPLES "synthetic-delta-report.xml", &plen);
    char *enc = ts_read_file(fixture, &flen);
    assert_non_null(plain);
    assert_non_null(enc);
    assert_true(flen > 16);
    assert_memory_equal(enc, "Salted__", 8);
    sim_buf out = {0};
    assert_int_equal(
        sim_crypto_openssl_enc(md, "test123", (const unsigned char *)enc + 8, plain, plen, &out),
        0);
    assert_int_equal(out.len, flen);
    assert_memory_equal(out.data, enc, flen);
    sim_buf_release(&out);
    free(plain);
    free(enc);
}

static void test_openssl_enc_md5_reproduces_the_openssl_fixture(void **state)
{
    (void)state;
    check_cbc_fixture("md5", SAMPLES "synthetic-delta-report.xml.aes256cbc-md5.enc");
}

static void test_openssl_enc_sha256_reproduces_the_openssl_fixture(void **state)
{
    (void)state;
    check_cbc_fixture("sha256", SAMPLES "synthetic-delta-report.xml.aes256cbc-sha256.enc");
}

/* What the encryption tests share: the 8832 profile as the body, and a scratch directory for
 * the files the independent tools read. */
typedef struct enc_fixture {
    char *plain;
    size_t plen;
    char *dir;
} enc_fixture;

static enc_fixture enc_fixture_new(void)
{
    enc_fixture f = {0};
    f.plain = ts_read_file(SAMPLES "cisco-8832-mpp-full-profile.xml", &f.plen);
    f.dir = ts_mkdtemp("phonesim");
    assert_non_null(f.plain);
    assert_non_null(f.dir);
    return f;
}

static void enc_fixture_free(enc_fixture *f)
{
    ts_rmtree(f->dir);
    free(f->dir);
    free(f->plain);
}

/* Our output (random salt, a 34 KB body) decrypts with the openssl command line. */
static void test_openssl_enc_output_decrypts_with_the_openssl_command(void **state)
{
    (void)state;
    enc_fixture f = enc_fixture_new();
    char *plain = f.plain, *dir = f.dir;
    size_t plen = f.plen;
    const char *mds[] = {"md5", "sha256"};
    for (size_t i = 0; i < 2; i++) {
        sim_buf out = {0};
        char path[4200], cmd[8600], *dec = NULL;
        assert_int_equal(sim_crypto_openssl_enc(mds[i], "pass word\"1", NULL, plain, plen, &out),
                         0);
        snprintf(path, sizeof path, "%s/body.enc", dir);
        assert_int_equal(ts_write_file(path, out.data, out.len), 0);
        snprintf(cmd, sizeof cmd,
                 "openssl enc -d -aes-256-cbc -md %s -pass 'pass:pass word\"1' -in '%s'", mds[i],
                 path);
        assert_int_equal(ts_run(cmd, &dec), 0);
        assert_non_null(dec);
        assert_int_equal(strlen(dec), plen);
        assert_memory_equal(dec, plain, plen);
        free(dec);
        sim_buf_release(&out);
    }
    enc_fixture_free(&f);
}

/* The independent http_ece package decrypts out (aes128gcm, key: 16 ASCII characters) to
 * exactly plain[0..plen); the files go to dir. */
static void expect_http_ece_decrypts(const char *dir, const sim_buf *out, const char *key,
                                     const char *plain, size_t plen)
{
    char in[4200], outp[4200], cmd[9000];
    snprintf(in, sizeof in, "%s/body.ece", dir);
    snprintf(outp, sizeof outp, "%s/body.xml", dir);
    assert_int_equal(ts_write_file(in, out->data, out->len), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import http_ece,sys; d=open(sys.argv[1],\"rb\").read(); "
             "open(sys.argv[2],\"wb\").write(http_ece.decrypt(d, key=b\"%.16s\", "
             "version=\"aes128gcm\"))' '%s' '%s'",
             PR_PYTHON, key, in, outp);
    assert_int_equal(ts_run(cmd, NULL), 0);
    size_t dlen = 0;
    char *dec = ts_read_file(outp, &dlen);
    assert_non_null(dec);
    assert_int_equal(dlen, plen);
    assert_memory_equal(dec, plain, plen);
    free(dec);
}

/* Several 4096-octet records (a 34 KB body) decrypt with the independent http_ece package. */
static void test_aes128gcm_output_decrypts_with_python_http_ece(void **state)
{
    (void)state;
    enc_fixture f = enc_fixture_new();
    char *plain = f.plain, *dir = f.dir;
    size_t plen = f.plen;
    const unsigned char ikm[16] = "MyIKMsecret12345";
    sim_buf out = {0};
    assert_int_equal(sim_crypto_aes128gcm(ikm, sizeof ikm, NULL, 4096, "", plain, plen, &out), 0);
    assert_true(out.len > plen + 21 + 17 * 8); /* nine records */
    expect_http_ece_decrypts(dir, &out, "MyIKMsecret12345", plain, plen);
    sim_buf_release(&out);
    enc_fixture_free(&f);
}

/* A body whose length is an exact multiple of the record payload still ends with a 0x02
 * record that http_ece accepts. */
static void test_aes128gcm_exact_multiple_of_record_size_decrypts(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("phonesim");
    assert_non_null(dir);
    char plain[4079 * 2];
    memset(plain, 'x', sizeof plain);
    const unsigned char ikm[16] = "0123456789abcdef";
    sim_buf out = {0};
    assert_int_equal(sim_crypto_aes128gcm(ikm, 16, NULL, 4096, "", plain, sizeof plain, &out), 0);
    assert_int_equal(out.len, 21 + 2 * 4096);
    expect_http_ece_decrypts(dir, &out, (const char *)ikm, plain, sizeof plain);
    sim_buf_release(&out);
    ts_rmtree(dir);
    free(dir);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_fleet_macs_are_valid_distinct_stable_and_never_bad_phones(void **state)
{
    (void)state;
    const size_t n = 20000;
    sim_phone *a = sim_fleet_identities(42, n, SIM_ENCM_MIXED, SIM_METHOD_MIXED);
    sim_phone *b = sim_fleet_identities(42, n, SIM_ENCM_MIXED, SIM_METHOD_MIXED);
    sim_phone *c = sim_fleet_identities(43, 1, SIM_ENCM_MIXED, SIM_METHOD_MIXED);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    char **macs = calloc(n, sizeof *macs);
    assert_non_null(macs);
    size_t counts[4] = {0}, puts = 0;
    for (size_t i = 0; i < n; i++) {
        char norm[PR_MAC_LEN + 1], err[128];
        assert_int_equal(pr_mac_parse(a[i].mac, strlen(a[i].mac), norm, err, sizeof err), PR_OK);
        assert_string_equal(norm, a[i].mac);
        assert_string_equal(a[i].mac, b[i].mac);
        assert_string_equal(a[i].password, b[i].password);
        assert_true(strncmp(a[i].mac, "02bad", 5) != 0);
        unsigned first = (unsigned)strtoul((char[]){a[i].mac[0], a[i].mac[1], 0}, NULL, 16);
        assert_int_equal(first & 1, 0); /* unicast */
        counts[a[i].enc]++;
        puts += a[i].put;
        macs[i] = a[i].mac;
    }
    assert_string_not_equal(a[0].mac, c[0].mac);
    for (int k = 0; k < 4; k++)
        assert_int_equal(counts[k], n / 4);
    assert_true(puts > n / 3 && puts < 2 * n / 3);
    qsort(macs, n, sizeof *macs, cmp_str);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(macs[i - 1], macs[i]) != 0);
    free(macs);
    free(a);
    free(b);
    free(c);
}

/* What the renderer writes, the project's parser reads back value for value. */
static void check_parses_to(const sim_base *base, const sim_values v, const size_t *idx, size_t n,
                            const sim_buf *xml)
{
    pr_flat_profile fp = {0};
    pr_xml_error why;
    char err[256];
    assert_int_equal(pr_flatprofile_parse(xml->data, xml->len, NULL, &fp, &why, err, sizeof err),
                     PR_OK);
    assert_int_equal(fp.duplicates, 0);
    size_t want = 0;
    for (size_t k = 0; k < (idx ? n : base->n); k++) {
        size_t i = idx ? idx[k] : k;
        if (!v[i])
            continue;
        want++;
        const pr_fp_param *p = pr_flatprofile_find(&fp, base->name[i]);
        assert_non_null(p);
        assert_string_equal(p->value, v[i]);
        assert_string_equal(p->ua, base->ua[i]);
    }
    assert_int_equal(fp.len, want);
    pr_flatprofile_release(&fp);
}

static void test_full_and_delta_reports_parse_back_to_the_phone_values(void **state)
{
    (void)state;
    sim_base base;
    char err[256] = "";
    assert_int_equal(
        sim_base_load(SAMPLES "cisco-8832-mpp-full-profile.xml", &base, err, sizeof err), 0);
    assert_int_equal(base.n, 565);
    assert_true(base.n_rw > 50);
    sim_phone p;
    sim_phone_identity(5, 3, SIM_ENCM_NONE, SIM_METHOD_PUT, &p);
    sim_rng rng;
    sim_rng_seed(&rng, 5, 99);
    sim_values v = sim_values_new(&base);
    assert_non_null(v);
    assert_int_equal(sim_phone_profile(&base, &p, "http://edge.example/r", &rng, v), 0);
    assert_string_equal(v[sim_base_find(&base, "Display_Name_1_")], "Sim Phone 3");
    sim_buf xml = {0};
    assert_int_equal(sim_render_full(&base, v, &xml), 0);
    check_parses_to(&base, v, NULL, 0, &xml);

    /* Many changes: values with & and <, empty values, toggles; each delta holds exactly the
     * changed parameters. */
    size_t seen_empty = 0, seen_amp = 0;
    for (int round = 0; round < 300; round++) {
        size_t idx[4];
        int n = sim_local_change(&base, v, &rng, 4, idx);
        assert_true(n >= 1 && n <= 4);
        for (int k = 0; k < n; k++) {
            seen_empty += v[idx[k]][0] == '\0';
            seen_amp += strchr(v[idx[k]], '&') != NULL;
        }
        xml.len = 0;
        assert_int_equal(sim_render_delta(&base, v, idx, (size_t)n, &xml), 0);
        check_parses_to(&base, v, idx, (size_t)n, &xml);
    }
    assert_true(seen_empty > 0);
    assert_true(seen_amp > 0);
    xml.len = 0;
    assert_int_equal(sim_render_full(&base, v, &xml), 0);
    check_parses_to(&base, v, NULL, 0, &xml);

    sim_buf_release(&xml);
    sim_values_free(&base, v);
    sim_base_release(&base);
}

static void test_keystore_lists_each_encrypting_phone_with_its_key(void **state)
{
    (void)state;
    const size_t n = 24;
    sim_phone *ph = sim_fleet_identities(9, n, SIM_ENCM_MIXED, SIM_METHOD_MIXED);
    char *dir = ts_mkdtemp("phonesim");
    assert_non_null(ph);
    assert_non_null(dir);
    char path[4200], err[256] = "";
    snprintf(path, sizeof path, "%s/keystore.json", dir);
    assert_int_equal(sim_keystore_write(path, ph, n, err, sizeof err), 0);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    assert_non_null(doc);
    json_t *phones = json_object_get(doc, "phones");
    assert_true(json_is_object(phones));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object_get(phones, ph[i].mac);
        if (ph[i].enc == SIM_ENC_NONE) {
            assert_null(e);
        } else if (ph[i].enc == SIM_ENC_ECE) {
            json_t *ikm = json_object_get(e, "ikm");
            assert_int_equal(json_object_size(ikm), 1);
            assert_string_equal(json_string_value(json_object_get(ikm, ph[i].ikm_encoding)),
                                ph[i].ikm_text);
        } else {
            assert_string_equal(json_string_value(json_object_get(e, "openssl_password")),
                                ph[i].password);
        }
    }
    assert_non_null(json_object_get(phones, SIM_BAD_MAC_CBC));
    assert_non_null(json_object_get(phones, SIM_BAD_MAC_ECE));
    assert_null(json_object_get(phones, "02bad0000002")); /* the no_key case */
    json_decref(doc);
    ts_rmtree(dir);
    free(dir);
    free(ph);
}

/* Runs `phonereport-sim verify` against fake_api.py serving `state`; returns its exit status
 * and its output in *out. */
static int run_verify(const char *expect, const char *state, char **out)
{
    char *dir = ts_mkdtemp("verify");
    char path[4200], cmd[16384];
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/expect.json", dir);
    assert_int_equal(ts_write_file(path, expect, strlen(expect)), 0);
    snprintf(path, sizeof path, "%s/state.json", dir);
    assert_int_equal(ts_write_file(path, state, strlen(state)), 0);
    /* The fake API writes its port once it listens: wait for that file, with a deadline. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { '%s' '%s/phonesim/fake_api.py' state.json port & p=$!; i=0; "
             "while [ ! -f port ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
             "'%s/phonereport-sim' verify --api http://127.0.0.1:$(cat port) --expect expect.json "
             "--timeout-s 1 2>&1; rc=$?; kill $p; wait $p 2>/dev/null; exit $rc; }",
             dir, PR_PYTHON, PR_TESTS_DIR, PR_BINARY_DIR);
    int rc = ts_run(cmd, out);
    ts_rmtree(dir);
    free(dir);
    return rc;
}

static void test_verify_passes_only_when_every_phone_matches_exactly(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = run_verify("{\"02aa00000001\": {\"A\": \"1\", \"B\": \"\"}}",
                        "{\"02aa00000001\": {\"mac\": \"02aa00000001\", \"version\": 2, "
                        "\"params\": {\"A\": \"1\", \"B\": \"\"}, \"access\": {}}}",
                        &out);
    assert_non_null(out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "0 mismatches"));
    free(out);
}

static void test_verify_reports_every_kind_of_mismatch(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = run_verify("{\"02aa00000001\": {\"p1\": \"x\", \"p2\": \"\", \"p3\": \"z\"},"
                        " \"02aa00000002\": {\"q\": \"1\", \"r\": \"2\"}}",
                        "{\"02aa00000001\": {\"mac\": \"02aa00000001\", \"params\": "
                        "{\"p1\": \"x\", \"p2\": \"y\", \"p4\": \"extra\"}}}",
                        &out);
    assert_non_null(out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "MISMATCH 02aa00000001 p2 expected \"\" actual \"y\""));
    assert_non_null(strstr(out, "MISMATCH 02aa00000001 p3 expected \"z\" actual <absent>"));
    assert_non_null(strstr(out, "MISMATCH 02aa00000001 p4 expected <absent> actual \"extra\""));
    assert_null(strstr(out, "MISMATCH 02aa00000001 p1"));
    assert_non_null(strstr(out, "MISMATCH 02aa00000002 * expected 2 parameters, actual: HTTP 404"));
    assert_non_null(strstr(out, "2 phones, 0 match, 2 do not; 5 mismatches"));
    free(out);
}

static void test_verify_fails_when_the_answer_is_for_another_phone(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = run_verify(
        "{\"02aa00000001\": {\"A\": \"1\"}}",
        "{\"02aa00000001\": {\"mac\": \"02aa00000009\", \"params\": {\"A\": \"1\"}}}", &out);
    assert_int_equal(rc, 1);
    assert_non_null(out);
    assert_non_null(strstr(out, "MISMATCH 02aa00000001 mac"));
    free(out);
}

static void test_verify_refuses_an_empty_expectation(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = run_verify("{}", "{}", &out);
    assert_int_equal(rc, 1);
    assert_non_null(out);
    assert_non_null(strstr(out, "nothing to verify"));
    free(out);
}

/* Runs `phonereport-sim play` (4 phones, one worker: 8 reports, each phone a full and a status
 * report) against fake_edge.py answering each upload 200 after delay_s; returns play's exit
 * status, its output in *out and, when log is not NULL, the edge's "<request id> <path>"
 * lines in *log and play's journal in *journal. */
static int run_play(const char *delay_s, int duration_s, char **out, char **log, char **journal)
{
    char *dir = ts_mkdtemp("play");
    char cmd[16384], path[4200];
    assert_non_null(dir);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { '%s' '%s/phonesim/fake_edge.py' port %s & p=$!; i=0; "
             "while [ ! -f port ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
             "'%s/phonereport-sim' play --url http://127.0.0.1:$(cat port)/r --phones 4 "
             "--workers 1 --seed 3 --duration-s %d --rate 0 --deltas 0 --status-every-s 0 "
             "--expect-out expect.json --journal-out journal.jsonl 2>&1; rc=$?; kill $p; "
             "wait $p 2>/dev/null; exit $rc; }",
             dir, PR_PYTHON, PR_TESTS_DIR, delay_s, PR_BINARY_DIR, duration_s);
    int rc = ts_run(cmd, out);
    if (log) {
        size_t n;
        snprintf(path, sizeof path, "%s/port.log", dir);
        *log = ts_read_file(path, &n);
        snprintf(path, sizeof path, "%s/journal.jsonl", dir);
        *journal = ts_read_file(path, &n);
    }
    ts_rmtree(dir);
    free(dir);
    return rc;
}

static void test_play_journals_each_acknowledged_report_with_the_edge_request_id(void **state)
{
    (void)state;
    char *out = NULL, *log = NULL, *journal = NULL;
    int rc = run_play("0", 30, &out, &log, &journal);
    assert_non_null(out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "2xx full 4, delta 0, status 4"));
    assert_non_null(strstr(out, "0 unsent at the end"));
    assert_non_null(log);
    assert_non_null(journal);
    /* every line of the journal names a request id the edge answered, for the same phone */
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(journal, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        json_t *o = json_loads(l, 0, NULL);
        assert_non_null(o);
        const char *id = json_string_value(json_object_get(o, "request_id"));
        const char *mac = json_string_value(json_object_get(o, "mac"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        assert_non_null(id);
        assert_int_equal(strlen(id), 36);
        char want[128];
        snprintf(want, sizeof want, "%s /r/%s/%s.xml\n", id, mac, kind);
        if (!strstr(log, want))
            fail_msg("journal line %s: the edge answered no such request (%s)", l, log);
        json_decref(o);
    }
    assert_int_equal(lines, 8);
    free(out);
    free(log);
    free(journal);
}

static void test_play_fails_when_reports_were_still_due_at_the_end(void **state)
{
    (void)state;
    char *out = NULL;
    /* The edge takes 2 s to answer and the run lasts 1 s: the worker's first upload (a full
     * report) is answered after the end, the 7 other reports are never sent. */
    int rc = run_play("2", 1, &out, NULL, NULL);
    assert_non_null(out);
    assert_int_equal(rc, 1);
    if (!strstr(out, "2xx full 1, delta 0, status 0; 0 retries, 0 given up, 7 unsent at the end"))
        fail_msg("play's summary: %s", out);
    assert_non_null(strstr(out, "1 phones expected"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aes128gcm_matches_rfc8188_example_3_1),
        cmocka_unit_test(test_openssl_enc_md5_reproduces_the_openssl_fixture),
        cmocka_unit_test(test_openssl_enc_sha256_reproduces_the_openssl_fixture),
        cmocka_unit_test(test_openssl_enc_output_decrypts_with_the_openssl_command),
        cmocka_unit_test(test_aes128gcm_output_decrypts_with_python_http_ece),
        cmocka_unit_test(test_aes128gcm_exact_multiple_of_record_size_decrypts),
        cmocka_unit_test(test_fleet_macs_are_valid_distinct_stable_and_never_bad_phones),
        cmocka_unit_test(test_full_and_delta_reports_parse_back_to_the_phone_values),
        cmocka_unit_test(test_keystore_lists_each_encrypting_phone_with_its_key),
        cmocka_unit_test(test_verify_passes_only_when_every_phone_matches_exactly),
        cmocka_unit_test(test_verify_reports_every_kind_of_mismatch),
        cmocka_unit_test(test_verify_fails_when_the_answer_is_for_another_phone),
        cmocka_unit_test(test_verify_refuses_an_empty_expectation),
        cmocka_unit_test(test_play_journals_each_acknowledged_report_with_the_edge_request_id),
        cmocka_unit_test(test_play_fails_when_reports_were_still_due_at_the_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
