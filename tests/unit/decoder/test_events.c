/*
 * test_events.c - proto/events_report writers: RFC 3339 times, UTF-8 from the profile,
 * dead letters whose payload is cut to fit a Kafka record (checked with the base64 command
 * line), and the keystore permission warning (through the logger).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testmain.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decoder_int.h"
#include "dtest.h"
#include "events_report.h"
#include "log.h"

static void test_events_format_received_at_as_rfc3339_milliseconds(void **state)
{
    (void)state;
    char buf[40];
    assert_int_equal(pr_event_rfc3339_ms(1795544354978LL, buf, sizeof buf), 0);
    assert_string_equal(buf, "2026-11-24T18:19:14.978Z");
    assert_int_equal(pr_event_rfc3339_ms(0, buf, sizeof buf), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    assert_int_equal(pr_event_rfc3339_ms(-1, buf, sizeof buf), 0);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    assert_int_equal(pr_event_rfc3339_ms(1795544354978LL, buf, 10), -1);
    assert_int_equal(pr_event_rfc3339_ms(300000000000000LL, buf, sizeof buf), -1);
}

/* A config event written by pr_event_config_write, parsed back (jansson). */
static json_t *config_event(const pr_event_envelope *env, const pr_flat_profile *fp, size_t hint)
{
    pr_jsonw w;
    size_t len = 0;
    pr_jsonw_init(&w, hint);
    pr_event_config_write(&w, env, fp);
    char *text = pr_jsonw_finish(&w, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_error_t jerr;
    json_t *back = json_loads(text, 0, &jerr);
    free(text);
    assert_non_null(back);
    return back;
}

/* What expat hands over must come out of the config writer intact (multi-byte names and values,
 * character references, characters JSON escapes), and what would break the JSON (NUL, invalid
 * UTF-8) must never get past the parser. */
static void test_events_config_keeps_utf8_from_the_profile_intact(void **state)
{
    (void)state;
    static const char xml[] =
        "<flat-profile><Na\xc3\xafve_1_ ua=\"rw\">caf\xc3\xa9 &#x1F600; \"q\" \\ &lt;\t"
        "x</Na\xc3\xafve_1_><Empty_ ua=\"r\xc3\xa9\"/><Odd_ ua=\"\xc3\xa9x\">&#xE9;</Odd_>"
        "</flat-profile>";
    pr_flat_profile fp;
    pr_xml_error why;
    char err[200];
    assert_int_equal(pr_flatprofile_parse(xml, sizeof xml - 1, NULL, &fp, &why, err, sizeof err),
                     PR_OK);
    pr_event_envelope env = {
        .mac = "00562b043615", .kind = "full", .report_id = "r", .encryption = PR_ENC_NONE};
    json_t *back = config_event(&env, &fp, 16); /* a small hint: the buffer grows */
    pr_flatprofile_release(&fp);
    json_t *params = json_object_get(back, "params");
    assert_string_equal(json_string_value(json_object_get(params, "Na\xc3\xafve_1_")),
                        "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ <\tx");
    assert_string_equal(json_string_value(json_object_get(params, "Empty_")), "");
    assert_string_equal(json_string_value(json_object_get(params, "Odd_")), "\xc3\xa9");
    json_t *access = json_object_get(back, "access");
    assert_string_equal(json_string_value(json_object_get(access, "Na\xc3\xafve_1_")), "rw");
    /* ua cut to two bytes: "r" plus half of an e-acute, replaced; "\xc3\xa9" stays whole. */
    assert_string_equal(json_string_value(json_object_get(access, "Empty_")), "r\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(access, "Odd_")), "\xc3\xa9");
    json_decref(back);

    static const char *const refused[] = {
        "<flat-profile><A_>x&#0;y</A_></flat-profile>",
        "<flat-profile><A_>x\xff y</A_></flat-profile>",
        "<flat-profile><A_>x\xed\xa0\x80y</A_></flat-profile>", /* a UTF-8 surrogate */
        "<flat-profile><A_>x&#xD800;y</A_></flat-profile>",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(
            pr_flatprofile_parse(refused[i], strlen(refused[i]), NULL, &fp, &why, err, sizeof err),
            PR_EINVAL);
        pr_flatprofile_release(&fp);
    }
    static const char nul[] = "<flat-profile><A_>x\0y</A_></flat-profile>";
    assert_int_equal(pr_flatprofile_parse(nul, sizeof nul - 1, NULL, &fp, &why, err, sizeof err),
                     PR_EINVAL);
    pr_flatprofile_release(&fp);
}

/* Each parameter gets its own value, also when values repeat, short and long (the tree
 * builder shared repeated strings; the writer must not mix them up either). */
static void test_events_config_repeated_values_each_keep_their_own_value(void **state)
{
    (void)state;
    size_t cap = 1u << 16, n = 0;
    char *xml = malloc(cap);
    assert_non_null(xml);
    n += (size_t)snprintf(xml + n, cap - n, "<flat-profile>");
    for (int i = 0; i < 900; i++) {
        int k = i % 450; /* every value twice; 450 distinct, more than the 256 slots */
        if (k % 3 == 0)
            n += (size_t)snprintf(xml + n, cap - n, "<P_%d_>v%d</P_%d_>", i, k, i);
        else if (k % 3 == 1)
            n += (size_t)snprintf(xml + n, cap - n,
                                  "<P_%d_>a long value of more than "
                                  "twenty-four bytes %d</P_%d_>",
                                  i, k, i);
        else
            n += (size_t)snprintf(xml + n, cap - n, "<P_%d_>%.*s</P_%d_>", i, k % 7, "xxxxxxx", i);
    }
    n += (size_t)snprintf(xml + n, cap - n, "</flat-profile>");
    assert_true(n < cap);
    pr_flat_profile fp;
    pr_xml_error why;
    char err[200];
    assert_int_equal(pr_flatprofile_parse(xml, n, NULL, &fp, &why, err, sizeof err), PR_OK);
    free(xml);
    pr_event_envelope env = {
        .mac = "00562b043615", .kind = "full", .report_id = "r", .encryption = PR_ENC_NONE};
    json_t *ev = config_event(&env, &fp, 256);
    pr_flatprofile_release(&fp);
    json_t *params = json_object_get(ev, "params");
    assert_int_equal(json_object_size(params), 900);
    for (int i = 0; i < 900; i++) {
        char name[32], want[64];
        int k = i % 450;
        snprintf(name, sizeof name, "P_%d_", i);
        if (k % 3 == 0)
            snprintf(want, sizeof want, "v%d", k);
        else if (k % 3 == 1)
            snprintf(want, sizeof want, "a long value of more than twenty-four bytes %d", k);
        else
            snprintf(want, sizeof want, "%.*s", k % 7, "xxxxxxx");
        assert_string_equal(json_string_value(json_object_get(params, name)), want);
    }
    json_decref(ev);
}

static void test_events_dead_letter_keeps_headers_and_cuts_the_payload(void **state)
{
    unsigned char payload[1000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (unsigned char)(i * 7);
    pr_event_header h[] = {{"pr-kind", (const unsigned char *)"full", 4},
                           {"pr-user-agent", (const unsigned char *)"bad\xfe", 4},
                           {"pr-kind", (const unsigned char *)"delta", 5}};
    pr_jsonw w;
    size_t tlen = 0;
    pr_jsonw_init(&w, 64);
    pr_event_dlq_write(&w, PR_DLQ_XML_LIMITS, "too deep", NULL, "p.raw", 1, 9, h, 3, payload,
                       sizeof payload, 100);
    char *dlq = pr_jsonw_finish(&w, &tlen);
    assert_non_null(dlq);
    json_t *ev = json_loadb(dlq, tlen, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "reason")), "xml_limits");
    assert_true(json_is_null(json_object_get(ev, "mac")));
    json_t *hd = json_object_get(ev, "headers");
    assert_string_equal(json_string_value(json_object_get(hd, "pr-kind")), "delta");
    assert_string_equal(json_string_value(json_object_get(hd, "pr-user-agent")), "bad\xef\xbf\xbd");
    assert_int_equal(json_integer_value(json_object_get(ev, "payload_bytes")), 1000);
    assert_true(json_is_true(json_object_get(ev, "payload_truncated")));
    /* The base64 decodes, with the command line, to the first 100 bytes. */
    const char *dir = *state;
    char path[1024], out[1024];
    snprintf(path, sizeof path, "%s/b64", dir);
    snprintf(out, sizeof out, "%s/bin", dir);
    const char *b64 = json_string_value(json_object_get(ev, "payload_b64"));
    assert_int_equal(ts_write_file(path, b64, strlen(b64)), 0);
    assert_int_equal(dt_sh("base64 -d '%s' > '%s'", path, out), 0);
    size_t n;
    char *bin = ts_read_file(out, &n);
    assert_int_equal(n, 100);
    assert_memory_equal(bin, payload, 100);
    free(bin);
    /* And the whole value is a valid dead letter. */
    snprintf(path, sizeof path, "%s/dlq.json", dir);
    assert_int_equal(ts_write_file(path, dlq, tlen), 0);
    assert_int_equal(ts_validate_schema("dlq", path), 0);
    free(dlq);
    json_decref(ev);
}

static void test_keystore_readable_by_others_is_warned_about_without_secrets(void **state)
{
    const char *dir = *state;
    char path[1024], logpath[1024], err[256];
    snprintf(path, sizeof path, "%s/keys.json", dir);
    snprintf(logpath, sizeof logpath, "%s/log", dir);
    static const char ks[] = "{\"default\":{\"openssl_password\":\"s3cret-pw\"}}";
    assert_int_equal(ts_write_file(path, ks, sizeof ks - 1), 0);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    pr_log_set_fd(fd);
    decoder_keystore *k = NULL;
    chmod(path, 0600);
    assert_int_equal(decoder_keystore_load(path, &k, err, sizeof err), PR_OK);
    decoder_keystore_free(k);
    size_t n;
    char *log = ts_read_file(logpath, &n);
    assert_int_equal(n, 0); /* 0600: nothing to say */
    free(log);
    chmod(path, 0644);
    assert_int_equal(decoder_keystore_load(path, &k, err, sizeof err), PR_OK);
    decoder_keystore_free(k);
    pr_log_set_fd(2);
    close(fd);
    log = ts_read_file(logpath, &n);
    assert_non_null(strstr(log, "accessible by group or others"));
    assert_non_null(strstr(log, "0644"));
    assert_null(strstr(log, "s3cret"));
    free(log);
}

PR_TEST_MAIN(cmocka_unit_test(test_events_format_received_at_as_rfc3339_milliseconds),
             cmocka_unit_test(test_events_config_keeps_utf8_from_the_profile_intact),
             cmocka_unit_test(test_events_config_repeated_values_each_keep_their_own_value),
             TS_TMPDIR_TEST(test_events_dead_letter_keeps_headers_and_cuts_the_payload),
             TS_TMPDIR_TEST(test_keystore_readable_by_others_is_warned_about_without_secrets))
