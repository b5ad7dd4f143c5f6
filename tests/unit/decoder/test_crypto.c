/*
 * test_crypto.c - openssl enc AES-256-CBC and RFC 8188 aes128gcm decryption, and gunzip,
 * against vectors made by independent tools: the shared samples, the `openssl` and `gzip`
 * command lines (run here), RFC 8188 sections 3.1 and 3.2, and the Python http_ece and
 * cryptography packages (gen_ece.py, run here with PR_PYTHON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decoder_int.h"
#include "dtest.h"

static const decoder_digest md5_sha[] = {DECODER_DIGEST_MD5, DECODER_DIGEST_SHA256};
static const decoder_digest sha_md5[] = {DECODER_DIGEST_SHA256, DECODER_DIGEST_MD5};
static char *tmpdir;

static int setup(void **state)
{
    (void)state;
    tmpdir = ts_mkdtemp("dec-crypto");
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ts_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

static void assert_cbc_sample(const char *file, const decoder_digest *order,
                              decoder_digest expect_used)
{
    size_t elen, plen, outlen = 0;
    char *enc = dt_sample(file, &elen);
    char *plain = dt_sample("synthetic-delta-report.xml", &plen);
    unsigned char *out = NULL;
    decoder_digest used;
    char err[256];
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, elen, "test123", order, 2, &out,
                                         &outlen, &used, err, sizeof err),
                     DECODER_CRYPT_OK);
    assert_int_equal(outlen, plen);
    assert_memory_equal(out, plain, plen);
    assert_int_equal(used, expect_used);
    free(out);
    free(enc);
    free(plain);
}

static void test_cbc_decrypts_the_md5_sample(void **state)
{
    (void)state;
    assert_cbc_sample("synthetic-delta-report.xml.aes256cbc-md5.enc", md5_sha, DECODER_DIGEST_MD5);
    assert_cbc_sample("synthetic-delta-report.xml.aes256cbc-md5.enc", sha_md5, DECODER_DIGEST_MD5);
}

static void test_cbc_decrypts_the_sha256_sample(void **state)
{
    (void)state;
    assert_cbc_sample("synthetic-delta-report.xml.aes256cbc-sha256.enc", md5_sha,
                      DECODER_DIGEST_SHA256);
    assert_cbc_sample("synthetic-delta-report.xml.aes256cbc-sha256.enc", sha_md5,
                      DECODER_DIGEST_SHA256);
}

static void test_cbc_with_only_the_other_digest_fails(void **state)
{
    (void)state;
    size_t elen, outlen;
    char *enc = dt_sample("synthetic-delta-report.xml.aes256cbc-md5.enc", &elen);
    unsigned char *out = NULL;
    char err[256];
    decoder_digest only_sha = DECODER_DIGEST_SHA256;
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, elen, "test123", &only_sha, 1, &out,
                                         &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_FAILED);
    assert_null(out);
    free(enc);
}

static void test_cbc_with_a_wrong_password_fails(void **state)
{
    (void)state;
    size_t elen, outlen;
    char *enc = dt_sample("synthetic-delta-report.xml.aes256cbc-sha256.enc", &elen);
    unsigned char *out = NULL;
    char err[256];
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, elen, "test124", md5_sha, 2, &out,
                                         &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_FAILED);
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, elen, NULL, md5_sha, 2, &out,
                                         &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_NO_KEY);
    free(enc);
}

/* Encrypts the 8832 profile with the openssl command line (after gzip when asked) and checks
 * that the decoder gets the bytes back. */
static void roundtrip_openssl_cli(const char *md, bool gz)
{
    char in[1024], enc[1024];
    size_t plen, elen, outlen = 0;
    snprintf(in, sizeof in, "%s/samples/cisco-8832-mpp-full-profile.xml", PR_DATA_DIR);
    snprintf(enc, sizeof enc, "%s/%s%s.enc", tmpdir, md, gz ? "-gz" : "");
    assert_int_equal(dt_sh("%s '%s' | openssl enc -e -aes-256-cbc -md %s -k 'pass word!' "
                           "-out '%s' 2>&1",
                           gz ? "gzip -c" : "cat", in, md, enc),
                     0);
    char *plain = ts_read_file(in, &plen);
    char *body = ts_read_file(enc, &elen);
    unsigned char *out = NULL, *inflated = NULL;
    char err[256];
    assert_non_null(body);
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)body, elen, "pass word!", md5_sha, 2,
                                         &out, &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_OK);
    if (gz) {
        size_t ilen = 0;
        bool too_large = true;
        assert_true(decoder_gzip_detect(out, outlen));
        assert_int_equal(decoder_gzip_inflate(out, outlen, 1 << 20, &inflated, &ilen, &too_large,
                                              err, sizeof err),
                         PR_OK);
        assert_int_equal(ilen, plen);
        assert_memory_equal(inflated, plain, plen);
    } else {
        assert_int_equal(outlen, plen);
        assert_memory_equal(out, plain, plen);
    }
    /* The same body with a wrong password never passes both checks. */
    unsigned char *bad = NULL;
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)body, elen, "wrong", md5_sha, 2, &bad,
                                         &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_FAILED);
    free(out);
    free(inflated);
    free(plain);
    free(body);
}

static void test_cbc_decrypts_openssl_cli_md5(void **state)
{
    (void)state;
    roundtrip_openssl_cli("md5", false);
}

static void test_cbc_decrypts_openssl_cli_sha256(void **state)
{
    (void)state;
    roundtrip_openssl_cli("sha256", false);
}

static void test_cbc_decrypts_openssl_cli_gzip_then_encrypt(void **state)
{
    (void)state;
    roundtrip_openssl_cli("sha256", true);
    roundtrip_openssl_cli("md5", true);
}

static void test_cbc_rejects_truncated_and_headerless_bodies(void **state)
{
    (void)state;
    size_t elen, outlen;
    char *enc = dt_sample("synthetic-delta-report.xml.aes256cbc-sha256.enc", &elen);
    unsigned char *out = NULL;
    char err[256];
    /* Cut inside the last block. */
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, elen - 5, "test123", md5_sha, 2,
                                         &out, &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
    /* Only the header and salt. */
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, 16, "test123", md5_sha, 2, &out,
                                         &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
    /* Cut at a block boundary: the padding is then wrong (or the plaintext implausible). */
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)enc, elen - 16, "test123", md5_sha, 2,
                                         &out, &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_FAILED);
    /* openssl enc -S writes no Salted__ header. */
    char in[1024], path[1024];
    snprintf(in, sizeof in, "%s/samples/synthetic-delta-report.xml", PR_DATA_DIR);
    snprintf(path, sizeof path, "%s/nosalt.enc", tmpdir);
    assert_int_equal(dt_sh("openssl enc -e -aes-256-cbc -md sha256 -k test123 -S 0102030405060708 "
                           "-in '%s' -out '%s' 2>&1",
                           in, path),
                     0);
    size_t nlen;
    char *nos = ts_read_file(path, &nlen);
    assert_non_null(nos);
    assert_false(decoder_cbc_detect((unsigned char *)nos, nlen));
    assert_int_equal(decoder_cbc_decrypt((unsigned char *)nos, nlen, "test123", md5_sha, 2, &out,
                                         &outlen, NULL, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
    free(nos);
    free(enc);
}

static void assert_ece(const unsigned char *body, size_t len, const unsigned char *ikm,
                       size_t ikm_len, const void *plain, size_t plen)
{
    unsigned char *out = NULL;
    size_t outlen = 0;
    char err[256];
    decoder_crypt_result r =
        decoder_ece_decrypt(body, len, ikm, ikm_len, 1 << 20, &out, &outlen, err, sizeof err);
    if (r != DECODER_CRYPT_OK)
        fprintf(stderr, "ece: %s\n", err);
    assert_int_equal(r, DECODER_CRYPT_OK);
    assert_int_equal(outlen, plen);
    assert_memory_equal(out, plain, plen);
    free(out);
}

/* RFC 8188 section 3.1 (values as in samples/rfc8188_vectors.txt). */
static void test_ece_decrypts_rfc8188_section_3_1(void **state)
{
    (void)state;
    size_t blen, klen;
    unsigned char *body =
        dt_b64url("I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg", &blen);
    unsigned char *ikm = dt_b64url("yqdlZ-tYemfogSmv7Ws5PQ", &klen);
    decoder_ece_header h;
    char err[128];
    assert_int_equal(blen, 53);
    assert_int_equal(decoder_ece_header_parse(body, blen, &h, err, sizeof err), DECODER_CRYPT_OK);
    assert_int_equal(h.rs, 4096);
    assert_int_equal(h.keyid_len, 0);
    assert_ece(body, blen, ikm, klen, "I am the walrus", 15);
    free(body);
    free(ikm);
}

/* RFC 8188 section 3.2: key id "a1", rs 25, two records, one padding byte. */
static void test_ece_decrypts_rfc8188_section_3_2(void **state)
{
    (void)state;
    size_t blen, klen;
    unsigned char *body = dt_b64url("uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJF"
                                    "jEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA",
                                    &blen);
    unsigned char *ikm = dt_b64url("BO3ZVPxUlnLORbVGMpbT1Q", &klen);
    decoder_ece_header h;
    char err[128];
    assert_int_equal(blen, 73);
    assert_int_equal(decoder_ece_header_parse(body, blen, &h, err, sizeof err), DECODER_CRYPT_OK);
    assert_int_equal(h.rs, 25);
    assert_int_equal(h.keyid_len, 2);
    assert_memory_equal(h.keyid, "a1", 2);
    assert_ece(body, blen, ikm, klen, "I am the walrus", 15);
    /* Cut after the first record: a record marked "not last" ends the body. */
    unsigned char *out = NULL;
    size_t outlen;
    assert_int_equal(
        decoder_ece_decrypt(body, 23 + 25, ikm, klen, 1 << 20, &out, &outlen, err, sizeof err),
        DECODER_CRYPT_MALFORMED);
    /* Cut inside the second record: the key is right, so the body is at fault. */
    assert_int_equal(
        decoder_ece_decrypt(body, blen - 3, ikm, klen, 1 << 20, &out, &outlen, err, sizeof err),
        DECODER_CRYPT_MALFORMED);
    /* A wrong IKM fails the first record. */
    ikm[0] ^= 1;
    assert_int_equal(
        decoder_ece_decrypt(body, blen, ikm, klen, 1 << 20, &out, &outlen, err, sizeof err),
        DECODER_CRYPT_FAILED);
    assert_null(out);
    free(body);
    free(ikm);
}

static void test_ece_decrypts_the_shared_fixture(void **state)
{
    (void)state;
    size_t blen, plen;
    char *body = dt_sample("synthetic-delta-report.xml.aes128gcm", &blen);
    char *plain = dt_sample("synthetic-delta-report.xml", &plen);
    assert_ece((unsigned char *)body, blen, (const unsigned char *)"MyIKMsecret12345", 16, plain,
               plen);
    free(body);
    free(plain);
}

static void test_ece_rejects_a_record_size_below_18(void **state)
{
    (void)state;
    unsigned char body[64];
    decoder_ece_header h;
    char err[128];
    unsigned char *out = NULL;
    size_t outlen;
    memset(body, 0x41, sizeof body);
    body[16] = 0, body[17] = 0, body[18] = 0, body[19] = 17, body[20] = 0;
    assert_int_equal(decoder_ece_header_parse(body, sizeof body, &h, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
    assert_int_equal(decoder_ece_decrypt(body, sizeof body, (const unsigned char *)"k", 1, 1 << 20,
                                         &out, &outlen, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
    /* Too short for a header, and a header with no record. */
    assert_int_equal(decoder_ece_header_parse(body, 20, &h, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
    body[19] = 18;
    assert_int_equal(decoder_ece_header_parse(body, 21 + 16, &h, err, sizeof err),
                     DECODER_CRYPT_MALFORMED);
}

static void check_generated(const char *name, const char *ikm)
{
    char path[1024];
    size_t blen, plen;
    snprintf(path, sizeof path, "%s/ece/%s.bin", tmpdir, name);
    char *body = ts_read_file(path, &blen);
    snprintf(path, sizeof path, "%s/ece/%s.txt", tmpdir, name);
    char *plain = ts_read_file(path, &plen);
    assert_non_null(body);
    assert_non_null(plain);
    assert_ece((unsigned char *)body, blen, (const unsigned char *)ikm, strlen(ikm), plain, plen);
    free(body);
    free(plain);
}

static void test_ece_decrypts_http_ece_and_cryptography_vectors(void **state)
{
    (void)state;
    assert_int_equal(
        dt_sh("'%s' '%s/unit/decoder/gen_ece.py' '%s/ece' 2>&1", PR_PYTHON, PR_TESTS_DIR, tmpdir),
        0);
    const char ikm[] = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f";
    static const char *const names[] = {"multi", "exact", "padded"};
    for (size_t i = 0; i < 3; i++) {
        char path[1024];
        size_t blen, plen;
        snprintf(path, sizeof path, "%s/ece/%s.bin", tmpdir, names[i]);
        char *body = ts_read_file(path, &blen);
        snprintf(path, sizeof path, "%s/ece/%s.txt", tmpdir, names[i]);
        char *plain = ts_read_file(path, &plen);
        assert_non_null(body);
        assert_ece((unsigned char *)body, blen, (const unsigned char *)ikm, 16, plain, plen);
        /* Wrong IKM. */
        unsigned char *out = NULL;
        size_t outlen;
        char err[128];
        assert_int_equal(decoder_ece_decrypt((unsigned char *)body, blen,
                                             (const unsigned char *)"0123456789abcdef", 16, 1 << 20,
                                             &out, &outlen, err, sizeof err),
                         DECODER_CRYPT_FAILED);
        free(body);
        free(plain);
    }
    check_generated("keyid", "kid-ikm-16-bytes");
    /* The key id is read from the header. */
    char path[1024];
    size_t blen;
    snprintf(path, sizeof path, "%s/ece/keyid.bin", tmpdir);
    char *body = ts_read_file(path, &blen);
    decoder_ece_header h;
    char err[128];
    assert_int_equal(decoder_ece_header_parse((unsigned char *)body, blen, &h, err, sizeof err),
                     DECODER_CRYPT_OK);
    assert_int_equal(h.keyid_len, 2);
    assert_memory_equal(h.keyid, "k1", 2);
    free(body);
}

static void test_gzip_caps_a_decompression_bomb(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/bomb.gz", tmpdir);
    /* 64 MiB of zeros compress to ~64 KiB. */
    assert_int_equal(dt_sh("head -c 67108864 /dev/zero | gzip -9 -c > '%s'", path), 0);
    size_t len, outlen = 0;
    char *gz = ts_read_file(path, &len);
    unsigned char *out = NULL;
    bool too_large = false;
    char err[128];
    assert_int_equal(decoder_gzip_inflate((unsigned char *)gz, len, 1 << 20, &out, &outlen,
                                          &too_large, err, sizeof err),
                     PR_EINVAL);
    assert_true(too_large);
    assert_null(out);
    /* A corrupt stream is not "too large". */
    gz[len / 2] ^= 0x55;
    gz[len / 2 + 1] ^= 0x55;
    assert_int_equal(decoder_gzip_inflate((unsigned char *)gz, len / 2 + 8, 1 << 30, &out, &outlen,
                                          &too_large, err, sizeof err),
                     PR_EINVAL);
    assert_false(too_large);
    free(gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cbc_decrypts_the_md5_sample),
        cmocka_unit_test(test_cbc_decrypts_the_sha256_sample),
        cmocka_unit_test(test_cbc_with_only_the_other_digest_fails),
        cmocka_unit_test(test_cbc_with_a_wrong_password_fails),
        cmocka_unit_test(test_cbc_decrypts_openssl_cli_md5),
        cmocka_unit_test(test_cbc_decrypts_openssl_cli_sha256),
        cmocka_unit_test(test_cbc_decrypts_openssl_cli_gzip_then_encrypt),
        cmocka_unit_test(test_cbc_rejects_truncated_and_headerless_bodies),
        cmocka_unit_test(test_ece_decrypts_rfc8188_section_3_1),
        cmocka_unit_test(test_ece_decrypts_rfc8188_section_3_2),
        cmocka_unit_test(test_ece_decrypts_the_shared_fixture),
        cmocka_unit_test(test_ece_rejects_a_record_size_below_18),
        cmocka_unit_test(test_ece_decrypts_http_ece_and_cryptography_vectors),
        cmocka_unit_test(test_gzip_caps_a_decompression_bomb),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
