/*
 * fuzz_decoder.c - libFuzzer target: one raw record through the whole decoder transform
 * (detect the encoding, decrypt with openssl enc or aes128gcm, gunzip, parse flat-profile
 * or status XML, build the event or the dead letter). Any crash, leak or sanitizer report
 * is a bug; every input must give exactly one output value.
 *
 * The record's pr-kind and whether it says Content-Encoding: aes128gcm come from the input
 * length, so that the samples work as seeds unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_int.h"

static decoder_keystore *ks;

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
    decoder_output out;
    if (decoder_report_decode(&rec, &opts, &out, err, sizeof err) != PR_OK)
        abort(); /* only allocation failure may fail */
    if (!out.value || out.value_len == 0)
        abort();
    json_error_t je;
    json_t *v = json_loadb(out.value, out.value_len, 0, &je);
    if (!v) /* the value is always valid JSON */
        abort();
    json_decref(v);
    decoder_output_release(&out);
    return 0;
}
