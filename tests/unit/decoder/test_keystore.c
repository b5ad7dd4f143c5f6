/*
 * test_keystore.c - the keystore file: explicit IKM encodings, lookup order (key id, MAC,
 * default), passwords by MAC then default, errors that never quote a secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testmain.h"
#include <sys/stat.h>

#include "decoder_int.h"
#include "dtest.h"

static const char ks_text[] =
    "{\"default\":{\"openssl_password\":\"test123\",\"ikm\":{\"text\":\"MyIKMsecret12345\"}},"
    " \"phones\":{\"00:56:2B:04:36:15\":{\"openssl_password\":\"phonepw\","
    "                                    \"ikm\":{\"base64url\":\"yqdlZ-tYemfogSmv7Ws5PQ\"}},"
    "            \"001122334455\":{\"ikm\":{\"hex\":\"000102030405060708090a0b0c0d0e0f\"}}},"
    " \"key_ids\":{\"a1\":{\"base64url\":\"BO3ZVPxUlnLORbVGMpbT1Q==\"}}}";

static void test_keystore_looks_up_passwords_by_mac_then_default(void **state)
{
    (void)state;
    decoder_keystore *ks = NULL;
    char err[256];
    assert_int_equal(decoder_keystore_parse(ks_text, &ks, err, sizeof err), PR_OK);
    assert_string_equal(decoder_keystore_password(ks, "00562b043615"), "phonepw");
    assert_string_equal(decoder_keystore_password(ks, "001122334455"), "test123");
    assert_string_equal(decoder_keystore_password(ks, "aabbccddeeff"), "test123");
    decoder_keystore_free(ks);
}

static void test_keystore_orders_ikms_key_id_then_mac_then_default(void **state)
{
    (void)state;
    decoder_keystore *ks = NULL;
    const decoder_ikm *c[3];
    char err[256];
    size_t n;
    assert_int_equal(decoder_keystore_parse(ks_text, &ks, err, sizeof err), PR_OK);
    n = decoder_keystore_ikms(ks, (const unsigned char *)"a1", 2, "00562b043615", c, 3);
    assert_int_equal(n, 3);
    assert_int_equal(c[0]->len, 16);
    assert_int_equal(c[0]->bytes[0], 0x04); /* BO3Z... */
    assert_int_equal(c[1]->bytes[0], 0xca); /* yqdl... */
    assert_memory_equal(c[2]->bytes, "MyIKMsecret12345", 16);
    /* Unknown key id: MAC, then default. */
    n = decoder_keystore_ikms(ks, (const unsigned char *)"zz", 2, "001122334455", c, 3);
    assert_int_equal(n, 2);
    assert_int_equal(c[0]->bytes[15], 0x0f);
    assert_memory_equal(c[1]->bytes, "MyIKMsecret12345", 16);
    n = decoder_keystore_ikms(ks, NULL, 0, "aabbccddeeff", c, 3);
    assert_int_equal(n, 1);
    decoder_keystore_free(ks);
    /* Empty keystore: nothing. */
    assert_int_equal(decoder_keystore_parse("{}", &ks, err, sizeof err), PR_OK);
    assert_int_equal(decoder_keystore_ikms(ks, NULL, 0, "aabbccddeeff", c, 3), 0);
    assert_null(decoder_keystore_password(ks, "aabbccddeeff"));
    decoder_keystore_free(ks);
}

static void assert_rejected(const char *text, const char *must_mention)
{
    decoder_keystore *ks = (decoder_keystore *)1;
    char err[256] = "";
    assert_int_not_equal(decoder_keystore_parse(text, &ks, err, sizeof err), PR_OK);
    assert_null(ks);
    if (must_mention && !strstr(err, must_mention)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, must_mention);
        fail();
    }
    /* A secret never appears in the message. */
    assert_null(strstr(err, "s3cret"));
}

static void test_keystore_rejects_ambiguous_or_unknown_entries(void **state)
{
    (void)state;
    assert_rejected("{\"default\":{\"ikm\":\"s3cret\"}}", "exactly one");
    assert_rejected("{\"default\":{\"ikm\":{\"text\":\"s3cret\",\"hex\":\"00\"}}}", "exactly one");
    assert_rejected("{\"default\":{\"ikm\":{\"hex\":\"s3cret\"}}}", "hex");
    assert_rejected("{\"default\":{\"ikm\":{\"base64url\":\"s3cret!\"}}}", "base64url");
    assert_rejected("{\"default\":{\"ikm\":{\"raw\":\"s3cret\"}}}", "unknown IKM encoding");
    assert_rejected("{\"default\":{\"password\":\"s3cret\"}}", "unknown member");
    assert_rejected("{\"defaults\":{}}", "unknown member");
    assert_rejected("{\"phones\":{\"not-a-mac\":{}}}", "not-a-mac");
    assert_rejected("{\"phones\":{\"00562b043615\":{},\"00:56:2b:04:36:15\":{}}}", "twice");
    assert_rejected("{\"default\":{\"openssl_password\":\"s3cret\" ", "not valid JSON");
}

static void test_keystore_file_loads_and_missing_file_fails(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("dec-ks");
    char path[1024];
    char err[256];
    decoder_keystore *ks = NULL;
    snprintf(path, sizeof path, "%s/keys.json", dir);
    assert_int_equal(ts_write_file(path, ks_text, strlen(ks_text)), 0);
    chmod(path, 0600);
    assert_int_equal(decoder_keystore_load(path, &ks, err, sizeof err), PR_OK);
    assert_string_equal(decoder_keystore_password(ks, "00562b043615"), "phonepw");
    decoder_keystore_free(ks);
    snprintf(path, sizeof path, "%s/absent.json", dir);
    assert_int_equal(decoder_keystore_load(path, &ks, err, sizeof err), PR_EINVAL);
    assert_null(ks);
    ts_rmtree(dir);
    free(dir);
}

PR_TEST_MAIN(cmocka_unit_test(test_keystore_looks_up_passwords_by_mac_then_default),
             cmocka_unit_test(test_keystore_orders_ikms_key_id_then_mac_then_default),
             cmocka_unit_test(test_keystore_rejects_ambiguous_or_unknown_entries),
             cmocka_unit_test(test_keystore_file_loads_and_missing_file_fails))
