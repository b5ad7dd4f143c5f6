/*
 * fuzz_decoder.c - libFuzzer target: one raw record through the whole decoder transform
 * (detect the encoding, decrypt with openssl enc or aes128gcm, gunzip, parse flat-profile
 * or status XML, write the event or the dead letter). Any crash, leak or sanitizer report
 * is a bug; every input must give exactly one output value, valid JSON, and the same JSON as
 * the oracle (the jansson tree builders the writers replaced, tests/golden/oracle/) gives for
 * the same record. The JSON writer is also fed the input directly, as a member name and as a
 * string: always valid JSON, and valid UTF-8 comes back unchanged.
 *
 * The record's pr-kind and whether it says Content-Encoding: aes128gcm come from the input
 * length, so that the samples work as seeds unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "oracle.h"

static decoder_keystore *ks;

/* The input as a member name (its first half) and a string value (all of it). */
static void writer_direct(const uint8_t *data, size_t size)
{
    pr_jsonw w;
    size_t len = 0;
    pr_jsonw_init(&w, size % 300);
    pr_jsonw_obj_begin(&w);
    pr_jsonw_key(&w, (const char *)data, size / 2);
    pr_jsonw_arr_begin(&w);
    pr_jsonw_str(&w, (const char *)data, size);
    pr_jsonw_int(&w, (int64_t)size * (size % 2 ? -1 : 1));
    pr_jsonw_base64(&w, data, size % 100);
    pr_jsonw_arr_end(&w);
    pr_jsonw_obj_end(&w);
    char *text = pr_jsonw_finish(&w, &len);
    json_error_t je;
    json_t *v = text ? json_loadb(text, len, 0, &je) : NULL;
    if (!v || json_object_size(v) != 1)
        abort();
    json_t *s = json_array_get(json_object_iter_value(json_object_iter(v)), 0);
    json_t *valid = json_stringn((const char *)data, size); /* jansson's UTF-8 check */
    if (valid && !memchr(data, 0, size) && !json_equal(valid, s))
        abort(); /* valid UTF-8 must come back unchanged */
    json_decref(valid);
    json_decref(v);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = {"full", "delta", "status", "unknown"};
    char err[256];
    if (!ks && decoder_keystore_parse("{\"default\":{\"openssl_password\":\"test123\","
                                      "\"ikm\":{\"text\":\"MyIKMsecret12345\"}},"
                                      "\"key_ids\":{\"a1\":{\"base64url\":"
                                      "\"BO3ZVPxUlnLORbVGMpbT1Q\"}}}",
                                      &ks, err, sizeof err) != PR_OK)
        abort();
    decoder_opts opts;
    decoder_opts_default(&opts);
    opts.keystore = ks;
    opts.max_body = 1u << 20;
    opts.max_inflated = 4u << 20;
    const char *kind = kinds[size % 4];
    decoder_header h[] = {
        {"pr-kind", (const unsigned char *)kind, strlen(kind)},
        {"pr-user-agent", (const unsigned char *)"Cisco-CP-8841-3PCC/11.0 (00562b043615)", 38},
        {"pr-content-encoding", (const unsigned char *)"aes128gcm", 9},
    };
    decoder_record rec = {
        .topic = "phonereport.raw",
        .partition = 0,
        .offset = 1,
        .timestamp_ms = 0,
        .key = (const unsigned char *)"00562b043615",
        .key_len = 12,
        .value = data,
        .value_len = size,
        .headers = h,
        .nheaders = (size / 4) % 2 ? 3 : 2,
    };
    decoder_output out, oracle;
    if (decoder_report_decode(&rec, &opts, &out, err, sizeof err) != PR_OK)
        abort(); /* only allocation failure may fail */
    if (!out.value || out.value_len == 0)
        abort();
    json_error_t je;
    json_t *v = json_loadb(out.value, out.value_len, 0, &je);
    if (!v) /* the value is always valid JSON */
        abort();
    opts.writers = &oracle_writers;
    if (decoder_report_decode(&rec, &opts, &oracle, err, sizeof err) != PR_OK)
        abort();
    json_t *o = json_loadb(oracle.value, oracle.value_len, 0, &je);
    if (!o || oracle.topic != out.topic || !json_equal(v, o))
        abort(); /* the writers and the oracle differ */
    json_decref(o);
    json_decref(v);
    decoder_output_release(&out);
    decoder_output_release(&oracle);
    writer_direct(data, size);
    return 0;
}
