/*
 * test_report.c - one raw record to one output (report.c): the shared samples become config
 * and status events; every entry of the bad-input catalogue becomes a dead letter with its
 * reason (and the next record still decodes); every value emitted is validated against
 * proto/schemas/ by the independent validator (Python jsonschema).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "decoder_int.h"
#include "dtest.h"

static decoder_opts opts;
static decoder_keystore *ks;
static char *tmpdir;
static FILE *emitted[PR_TOPIC__COUNT]; /* JSON lines per output topic, for the schemas */

static const char keystore_json[] =
    "{\"default\":{\"openssl_password\":\"test123\",\"ikm\":{\"text\":\"MyIKMsecret12345\"}},"
    " \"phones\":{\"0011223344aa\":{\"openssl_password\":\"only-this\"}},"
    " \"key_ids\":{\"k1\":{\"text\":\"kid-ikm-16-bytes\"}}}";

static int setup(void **state)
{
    (void)state;
    char err[256], path[1024];
    decoder_opts_default(&opts);
    if (decoder_keystore_parse(keystore_json, &ks, err, sizeof err) != PR_OK)
        return -1;
    opts.keystore = ks;
    tmpdir = ts_mkdtemp("dec-report");
    static const pr_topic t[] = {PR_TOPIC_CONFIG, PR_TOPIC_STATUS, PR_TOPIC_DLQ};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", tmpdir, pr_topic_suffix(t[i]));
        emitted[t[i]] = fopen(path, "w");
    }
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < PR_TOPIC__COUNT; i++)
        if (emitted[i])
            fclose(emitted[i]);
    decoder_keystore_free(ks);
    ts_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

/* Decodes body as a record of phone `mac` with pr-kind `kind` and, if ce is not NULL,
 * pr-content-encoding `ce`. Returns the parsed output value; *topic and *reason set. */
static json_t *decode_ex(const char *mac, const char *kind, const char *ce, const void *body,
                         size_t len, const decoder_opts *o, pr_topic *topic)
{
    decoder_header h[] = {
        {"pr-request-id", (const unsigned char *)"req-42", 6},
        {"pr-received-ms", (const unsigned char *)"1795544354978", 13},
        {"pr-method", (const unsigned char *)"PUT", 3},
        {"pr-path", (const unsigned char *)"/r/00562b043615.xml", 19},
        {"pr-remote", (const unsigned char *)"198.51.100.7", 12},
        {"pr-user-agent", (const unsigned char *)"Cisco-CP-8841-3PCC/11.0 (00562b043615)", 38},
        {"pr-kind", (const unsigned char *)kind, strlen(kind)},
        {"pr-content-encoding", (const unsigned char *)(ce ? ce : ""), ce ? strlen(ce) : 0},
    };
    decoder_record rec = {
        .topic = "phonereport.raw",
        .partition = 2,
        .offset = 77,
        .timestamp_ms = -1,
        .key = (const unsigned char *)mac,
        .key_len = mac ? strlen(mac) : 0,
        .value = body,
        .value_len = len,
        .headers = h,
        .nheaders = ce ? 8 : 7,
    };
    decoder_output out;
    char err[256];
    assert_int_equal(decoder_report_decode(&rec, o, &out, err, sizeof err), PR_OK);
    assert_non_null(out.value);
    if (emitted[out.topic])
        fprintf(emitted[out.topic], "%s\n", out.value);
    json_error_t je;
    json_t *v = json_loadb(out.value, out.value_len, 0, &je);
    assert_non_null(v);
    *topic = out.topic;
    if (out.topic == PR_TOPIC_DLQ)
        assert_string_equal(json_string_value(json_object_get(v, "reason")),
                            pr_dlq_reason_name(out.reason));
    decoder_output_release(&out);
    return v;
}

static json_t *decode(const char *kind, const char *ce, const void *body, size_t len,
                      pr_topic *topic)
{
    return decode_ex("00562b043615", kind, ce, body, len, &opts, topic);
}

/* The decoder goes on after a bad record: the next one decodes. */
static void assert_still_decodes(void)
{
    pr_topic t;
    static const char ok[] = "<flat-profile><A ua=\"rw\">1</A></flat-profile>";
    json_t *v = decode("delta", NULL, ok, sizeof ok - 1, &t);
    assert_int_equal(t, PR_TOPIC_CONFIG);
    json_decref(v);
}

static void assert_dead(const char *kind, const char *ce, const void *body, size_t len,
                        const char *reason)
{
    pr_topic t;
    json_t *v = decode(kind, ce, body, len, &t);
    if (t != PR_TOPIC_DLQ || strcmp(json_string_value(json_object_get(v, "reason")), reason)) {
        char *s = json_dumps(v, JSON_COMPACT);
        fprintf(stderr, "expected DLQ %s, got: %.600s\n", reason, s);
        free(s);
        fail();
    }
    /* The detail never carries a password or an IKM. */
    const char *detail = json_string_value(json_object_get(v, "detail"));
    assert_non_null(detail);
    assert_null(strstr(detail, "test123"));
    assert_null(strstr(detail, "MyIKMsecret"));
    json_decref(v);
    assert_still_decodes();
}

static const char *str_at(json_t *v, const char *a, const char *b)
{
    json_t *o = json_object_get(v, a);
    return json_string_value(b ? json_object_get(o, b) : o);
}

/* The event a sample of tests/data/samples decodes to (as a report of kind, with the
 * Content-Encoding ce or none), asserting the topic it goes to. */
static json_t *decode_sample(const char *file, const char *kind, const char *ce, pr_topic want)
{
    size_t len;
    pr_topic t;
    char *body = dt_sample(file, &len);
    json_t *v = decode(kind, ce, body, len, &t);
    free(body);
    assert_int_equal(t, want);
    return v;
}

static void test_report_decodes_the_real_8832_profile(void **state)
{
    (void)state;
    json_t *v = decode_sample("cisco-8832-mpp-full-profile.xml", "full", NULL, PR_TOPIC_CONFIG);
    assert_string_equal(str_at(v, "schema", NULL), "phonereport.config/1");
    assert_string_equal(str_at(v, "kind", NULL), "full");
    assert_string_equal(str_at(v, "mac", NULL), "00562b043615");
    assert_string_equal(str_at(v, "report_id", NULL), "req-42");
    assert_string_equal(str_at(v, "received_at", NULL), "2026-11-24T18:19:14.978Z");
    assert_string_equal(str_at(v, "encryption", NULL), "none");
    assert_string_equal(str_at(v, "source", "model"), "CP-8841-3PCC");
    assert_string_equal(str_at(v, "source", "firmware"), "11.0");
    assert_string_equal(str_at(v, "params", "Enable_Web_Server"), "Yes");
    assert_string_equal(str_at(v, "params", "Restricted_Access_Domains"), "");
    assert_string_equal(str_at(v, "access", "IP_Mode"), "rw");
    assert_int_equal(json_object_size(json_object_get(v, "params")), 565);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "raw"), "offset")), 77);
    json_decref(v);
}

static void assert_delta_params(json_t *v, const char *encryption)
{
    assert_string_equal(str_at(v, "encryption", NULL), encryption);
    assert_string_equal(str_at(v, "kind", NULL), "delta");
    assert_int_equal(json_object_size(json_object_get(v, "params")), 7);
    assert_string_equal(str_at(v, "params", "Display_Name_1_"), "Reception Desk");
    assert_string_equal(str_at(v, "params", "Extended_Function_2_"),
                        "fnc=blf+sd+cp;sub=1002@pbx.example.com;nme=Front & Back");
    assert_string_equal(str_at(v, "params", "Primary_NTP_Server"), "");
    assert_string_equal(str_at(v, "access", "Ringer_Volume"), "rw");
}

/* body (then freed) decodes to the delta sample's event, encrypted as encryption says. */
static void assert_decodes_to_the_delta(char *body, size_t len, const char *encryption)
{
    pr_topic t;
    json_t *v = decode("delta", NULL, body, len, &t);
    free(body);
    assert_int_equal(t, PR_TOPIC_CONFIG);
    assert_delta_params(v, encryption);
    json_decref(v);
}

static void test_report_decodes_the_delta_and_the_three_encrypted_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *file, *ce, *enc;
    } c[] = {
        {"synthetic-delta-report.xml", NULL, "none"},
        {"synthetic-delta-report.xml.aes256cbc-md5.enc", NULL, "openssl-aes-256-cbc"},
        {"synthetic-delta-report.xml.aes256cbc-sha256.enc", NULL, "openssl-aes-256-cbc"},
        {"synthetic-delta-report.xml.aes128gcm", "aes128gcm", "aes128gcm"},
        /* Without Content-Encoding: detected by a successful parse. */
        {"synthetic-delta-report.xml.aes128gcm", NULL, "aes128gcm"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        json_t *v = decode_sample(c[i].file, "delta", c[i].ce, PR_TOPIC_CONFIG);
        assert_delta_params(v, c[i].enc);
        json_decref(v);
    }
}

static void test_report_decodes_the_status_sample(void **state)
{
    (void)state;
    json_t *v = decode_sample("synthetic-status-report-GUESS.xml", "status", NULL, PR_TOPIC_STATUS);
    assert_string_equal(str_at(v, "schema", NULL), "phonereport.status/1");
    json_t *fp =
        json_object_get(json_object_get(json_object_get(v, "status"), "status"), "flat-profile");
    assert_non_null(fp);
    json_t *reg = json_object_get(fp, "Registration_State");
    assert_true(json_is_array(reg));
    assert_int_equal(json_array_size(reg), 2);
    assert_string_equal(str_at(json_array_get(reg, 1), "@group", NULL), "Info/Ext_2_Status");
    assert_string_equal(str_at(json_array_get(reg, 1), "#text", NULL), "Not Registered");
    assert_string_equal(str_at(fp, "Operational_VLAN_ID", "@group"), "Info/Phone_Status");
    assert_null(json_object_get(json_object_get(fp, "Operational_VLAN_ID"), "#text"));
    json_decref(v);
}

static void test_report_treats_a_status_looking_body_as_status(void **state)
{
    (void)state;
    pr_topic t;
    static const char xml[] = "<?xml version=\"1.0\"?>\n<Status>\n <Uptime> 5 days\n 2 h </Uptime>"
                              "<Line n=\"1\">up</Line><Line n=\"2\"/></Status>";
    json_t *v = decode("full", NULL, xml, sizeof xml - 1, &t);
    assert_int_equal(t, PR_TOPIC_STATUS);
    assert_string_equal(str_at(v, "kind", NULL), "status");
    json_t *root = json_object_get(json_object_get(v, "status"), "Status");
    assert_string_equal(str_at(root, "Uptime", NULL), "5 days  2 h");
    assert_int_equal(json_array_size(json_object_get(root, "Line")), 2);
    json_decref(v);
    /* The same document under pr-kind unknown. */
    v = decode("unknown", NULL, xml, sizeof xml - 1, &t);
    assert_int_equal(t, PR_TOPIC_STATUS);
    json_decref(v);
}

/* ---- the bad-input catalogue --------------------------------------------------------- */

static char *file_in_tmp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char *b = ts_read_file(path, len);
    assert_non_null(b);
    return b;
}

/* An aes128gcm body sent without Content-Encoding whose random salt happens to start like
 * XML (1 body in 256 starts with '<'): still decrypted, never taken for plaintext. Made by the
 * independent http_ece package with the salt "<?xml version=1.". */
static void test_report_decrypts_aes128gcm_whose_salt_looks_like_xml(void **state)
{
    (void)state;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' -c \"import http_ece, sys; d = open(sys.argv[1], 'rb').read(); "
             "sys.stdout.buffer.write(http_ece.encrypt(d, salt=b'<?xml version=1.', "
             "key=b'MyIKMsecret12345', version='aes128gcm', rs=4096))\" "
             "'%s/samples/synthetic-delta-report.xml' > '%s/xml-salt.aes128gcm'",
             PR_PYTHON, PR_DATA_DIR, tmpdir);
    assert_int_equal(ts_run(cmd, NULL), 0);
    size_t len;
    char *body = file_in_tmp("xml-salt.aes128gcm", &len);
    assert_memory_equal(body, "<?xml version=1.", 16);
    assert_decodes_to_the_delta(body, len, "aes128gcm");
}

static void test_report_dead_letters_broken_openssl_bodies(void **state)
{
    (void)state;
    size_t len;
    char *enc = dt_sample("synthetic-delta-report.xml.aes256cbc-sha256.enc", &len);
    /* Truncated CBC. */
    assert_dead("delta", NULL, enc, len - 7, "bad_encoding");
    /* Wrong key: this phone has its own password. */
    pr_topic t;
    json_t *v = decode_ex("0011223344aa", "delta", NULL, enc, len, &opts, &t);
    assert_int_equal(t, PR_TOPIC_DLQ);
    assert_string_equal(str_at(v, "reason", NULL), "decrypt_failed");
    json_decref(v);
    /* No password at all. */
    decoder_opts bare = opts;
    bare.keystore = NULL;
    v = decode_ex("00562b043615", "delta", NULL, enc, len, &bare, &t);
    assert_string_equal(str_at(v, "reason", NULL), "no_key");
    json_decref(v);
    free(enc);

    /* Bad padding: 32 bytes encrypted without padding by the openssl command line, so the
     * last plaintext byte ('>') is no PKCS#7 pad. */
    assert_int_equal(dt_sh("printf '<a>0123456789abcdefghijklmno</a>' | openssl enc -e "
                           "-aes-256-cbc -md sha256 -k test123 -nopad -out '%s/nopad.enc' 2>&1",
                           tmpdir),
                     0);
    char *nopad = file_in_tmp("nopad.enc", &len);
    assert_int_equal(len, 16 + 32);
    assert_dead("delta", NULL, nopad, len, "decrypt_failed");
    free(nopad);

    /* No Salted__ header (openssl enc -S): the salt is unknown. */
    assert_int_equal(dt_sh("openssl enc -e -aes-256-cbc -md sha256 -k test123 -S 0102030405060708"
                           " -in '%s/samples/synthetic-delta-report.xml' -out '%s/nosalt.enc' 2>&1",
                           PR_DATA_DIR, tmpdir),
                     0);
    char *nosalt = file_in_tmp("nosalt.enc", &len);
    assert_dead("delta", NULL, nosalt, len, "decrypt_failed");
    free(nosalt);
}

static void test_report_dead_letters_broken_aes128gcm_bodies(void **state)
{
    (void)state;
    size_t len, klen;
    char *body = dt_sample("synthetic-delta-report.xml.aes128gcm", &len);
    /* Truncated record (announced by Content-Encoding). */
    assert_dead("delta", "aes128gcm", body, len - 10, "decrypt_failed");
    assert_dead("delta", "aes128gcm", body, 30, "bad_encoding");
    /* Wrong IKM. */
    decoder_keystore *other = NULL;
    char err[256];
    assert_int_equal(
        decoder_keystore_parse("{\"default\":{\"ikm\":{\"text\":\"not-the-right-one\"}},"
                               "\"key_ids\":{\"k1\":{\"text\":\"x\"}}}",
                               &other, err, sizeof err),
        PR_OK);
    decoder_opts o = opts;
    o.keystore = other;
    pr_topic t;
    json_t *v = decode_ex("00562b043615", "delta", "aes128gcm", body, len, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "decrypt_failed");
    json_decref(v);
    decoder_keystore_free(other);
    free(body);

    /* rs < 18. */
    unsigned char small[80];
    memset(small, 0x33, sizeof small);
    small[16] = 0, small[17] = 0, small[18] = 0, small[19] = 17, small[20] = 0;
    assert_dead("delta", "aes128gcm", small, sizeof small, "bad_encoding");

    /* RFC 8188 3.2 cut after its first record: the last-record rule. */
    unsigned char *r32 = dt_b64url("uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJF"
                                   "jEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA",
                                   &klen);
    decoder_keystore *k32 = NULL;
    assert_int_equal(
        decoder_keystore_parse("{\"key_ids\":{\"a1\":{\"base64url\":\"BO3ZVPxUlnLORbVGMpbT1Q\"}}}",
                               &k32, err, sizeof err),
        PR_OK);
    o.keystore = k32;
    v = decode_ex("00562b043615", "delta", "aes128gcm", r32, 23 + 25, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "bad_encoding");
    json_decref(v);
    /* Whole, it decrypts to a text that is no XML. */
    v = decode_ex("00562b043615", "delta", "aes128gcm", r32, klen, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "xml_malformed");
    json_decref(v);
    /* Wrong key id and no MAC or default IKM to fall back on. */
    r32[21] = 'z';
    v = decode_ex("00562b043615", "delta", "aes128gcm", r32, klen, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "no_key");
    json_decref(v);
    decoder_keystore_free(k32);
    free(r32);
}

static void test_report_dead_letters_bad_xml(void **state)
{
    (void)state;
    static const char not_xml[] = "hello, this is certainly not XML";
    assert_dead("full", NULL, not_xml, sizeof not_xml - 1, "xml_malformed");
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<flat-profile><A>&lol3;</A></flat-profile>";
    assert_dead("full", NULL, laughs, sizeof laughs - 1, "xml_doctype_forbidden");
    assert_dead("status", NULL, laughs, sizeof laughs - 1, "xml_doctype_forbidden");
    static const char bad_utf8[] = "<flat-profile><A>caf\xc3\x28</A></flat-profile>";
    assert_dead("full", NULL, bad_utf8, sizeof bad_utf8 - 1, "xml_malformed");
    assert_dead("status", NULL, bad_utf8, sizeof bad_utf8 - 1, "xml_malformed");
    static const char unclosed[] = "<flat-profile><A>1</A>";
    assert_dead("delta", NULL, unclosed, sizeof unclosed - 1, "xml_malformed");
    static const char html[] = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    assert_dead("full", NULL, html, sizeof html - 1, "not_a_report");
    static const char lone[] = "<note>nothing here</note>";
    assert_dead("delta", NULL, lone, sizeof lone - 1, "not_a_report");
}

static void test_report_dead_letters_documents_over_the_limits(void **state)
{
    (void)state;
    /* 10,000-deep nesting. */
    size_t n = 10000, len = 0;
    char *deep = malloc(n * 7 + 64);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(deep + len, "<a>");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(deep + len, "</a>");
    assert_dead("full", NULL, deep, len, "xml_limits");
    assert_dead("status", NULL, deep, len, "xml_limits");
    free(deep);
    /* A million elements. */
    n = 1000000;
    char *many = malloc(n * 4 + 64);
    len = (size_t)sprintf(many, "<flat-profile>");
    for (size_t i = 0; i < n; i++) {
        memcpy(many + len, "<a/>", 4);
        len += 4;
    }
    len += (size_t)sprintf(many + len, "</flat-profile>");
    assert_dead("full", NULL, many, len, "xml_limits");
    assert_dead("status", NULL, many, len, "xml_limits");
    free(many);
    /* A value over the value limit. */
    decoder_opts o = opts;
    o.limits.max_value_len = 50;
    static const char longv[] = "<flat-profile><A>0123456789012345678901234567890123456789"
                                "01234567890123456789012345678901234567890123456789012345"
                                "</A></flat-profile>";
    pr_topic t;
    json_t *v = decode_ex("00562b043615", "full", NULL, longv, sizeof longv - 1, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "xml_limits");
    json_decref(v);
}

static void test_report_dead_letters_empty_oversized_and_keyless_records(void **state)
{
    (void)state;
    assert_dead("full", NULL, "", 0, "empty");
    pr_topic t;
    static const char ok[] = "<flat-profile><A>1</A></flat-profile>";
    json_t *v = decode_ex("not-a-mac", "full", NULL, ok, sizeof ok - 1, &opts, &t);
    assert_string_equal(str_at(v, "reason", NULL), "no_mac");
    assert_true(json_is_null(json_object_get(v, "mac")));
    json_decref(v);
    v = decode_ex(NULL, "full", NULL, ok, sizeof ok - 1, &opts, &t);
    assert_string_equal(str_at(v, "reason", NULL), "no_mac");
    json_decref(v);
    decoder_opts o = opts;
    o.max_body = 16;
    v = decode_ex("00562b043615", "full", NULL, ok, sizeof ok - 1, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "too_large");
    json_decref(v);
    /* An event over max_event bytes. */
    o = opts;
    o.max_event = 100;
    v = decode_ex("00562b043615", "full", NULL, ok, sizeof ok - 1, &o, &t);
    assert_string_equal(str_at(v, "reason", NULL), "too_large");
    json_decref(v);
}

static void test_report_dead_letters_gzip_bombs_and_corrupt_gzip(void **state)
{
    (void)state;
    /* 64 MiB of '<' compressed by zlib's gzip writer (an independent encoder of the format). */
    size_t big = 64u << 20;
    char *src = malloc(big);
    memset(src, '<', big);
    uLongf glen = compressBound((uLong)big) + 64;
    unsigned char *gz = malloc(glen);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)big;
    zs.next_out = gz;
    zs.avail_out = (uInt)glen;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzlen = zs.total_out;
    deflateEnd(&zs);
    free(src);
    assert_dead("full", NULL, gz, gzlen, "too_large");
    free(gz);
    /* A corrupt gzip stream (the command line's output, with its deflate data altered). */
    assert_int_equal(dt_sh("gzip -c '%s/samples/cisco-8832-mpp-full-profile.xml' > '%s/p.gz'",
                           PR_DATA_DIR, tmpdir),
                     0);
    size_t plen;
    char *pgz = file_in_tmp("p.gz", &plen);
    for (size_t i = plen / 3; i < plen / 3 + 16; i++)
        pgz[i] ^= 0x5a;
    assert_dead("full", NULL, pgz, plen, "gunzip_failed");
    /* Truncated. */
    assert_dead("full", NULL, pgz, 40, "gunzip_failed");
    free(pgz);
    /* gzip then encrypt, from the command lines: decodes. */
    assert_int_equal(dt_sh("gzip -c '%s/samples/synthetic-delta-report.xml' | openssl enc -e "
                           "-aes-256-cbc -md md5 -k test123 -out '%s/gz.enc' 2>&1",
                           PR_DATA_DIR, tmpdir),
                     0);
    size_t len;
    char *enc = file_in_tmp("gz.enc", &len);
    assert_decodes_to_the_delta(enc, len, "openssl-aes-256-cbc");
}

/* Runs last: everything emitted above, validated against the topic schemas. */
static void test_report_emits_values_valid_against_the_schemas(void **state)
{
    (void)state;
    static const pr_topic t[] = {PR_TOPIC_CONFIG, PR_TOPIC_STATUS, PR_TOPIC_DLQ};
    for (int i = 0; i < 3; i++) {
        char path[1024];
        fflush(emitted[t[i]]);
        snprintf(path, sizeof path, "%s/%s.jsonl", tmpdir, pr_topic_suffix(t[i]));
        size_t len = 0;
        free(ts_read_file(path, &len));
        assert_true(len > 0);
        assert_int_equal(ts_validate_schema(pr_topic_suffix(t[i]), path), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_decodes_the_real_8832_profile),
        cmocka_unit_test(test_report_decodes_the_delta_and_the_three_encrypted_fixtures),
        cmocka_unit_test(test_report_decrypts_aes128gcm_whose_salt_looks_like_xml),
        cmocka_unit_test(test_report_decodes_the_status_sample),
        cmocka_unit_test(test_report_treats_a_status_looking_body_as_status),
        cmocka_unit_test(test_report_dead_letters_broken_openssl_bodies),
        cmocka_unit_test(test_report_dead_letters_broken_aes128gcm_bodies),
        cmocka_unit_test(test_report_dead_letters_bad_xml),
        cmocka_unit_test(test_report_dead_letters_documents_over_the_limits),
        cmocka_unit_test(test_report_dead_letters_empty_oversized_and_keyless_records),
        cmocka_unit_test(test_report_dead_letters_gzip_bombs_and_corrupt_gzip),
        cmocka_unit_test(test_report_emits_values_valid_against_the_schemas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
