/*
 * test_ingest_publish.c - what phones send reaches phonereport.raw byte for byte, keyed by
 * the MAC, with every header of DESIGN section 3, and only after Kafka has it: PUT and POST,
 * a form-labelled body that must not be decoded, a binary (encrypted) body, a chunked
 * upload, Basic and Digest authentication. Read back with kcat, an independent consumer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "edge.h"
#include "testsupport.h"

#define UA  "Cisco-CP-8841-3PCC/11.0 (00562b043615)"
#define MAC "00562b043615"

typedef struct sent {
    char id[64];
    const char *file;
    const char *method, *path, *kind, *source, *content_type, *auth_user;
} sent;

/* Uploads s->file with s->method to s->path, with its Content-Type when s names one, the
 * phones' User-Agent and the curl options `extra`; expects 200 and keeps the request id. */
static void upload(edge *e, sent *s, const char *extra)
{
    char opts[8192], ct[160] = "";
    edge_resp r;
    if (s->content_type)
        snprintf(ct, sizeof ct, "-H 'Content-Type: %s'", s->content_type);
    snprintf(opts, sizeof opts, "-X %s --data-binary @'%s' %s %s -H 'User-Agent: " UA "'",
             s->method, s->file, ct, extra);
    edge_curl(e, opts, s->path, &r);
    assert_int_equal(r.status, 200);
    snprintf(s->id, sizeof s->id, "%s", r.request_id);
}

static void expect_on_topic(edge *e, const sent *s, size_t n)
{
    json_t *recs = edge_consume(e);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = edge_find(recs, s[i].id);
        if (!rec) {
            char *dump = json_dumps(recs, JSON_COMPACT);
            fprintf(stderr, "records: %.2000s\n", dump ? dump : "");
            free(dump);
        }
        if (!rec)
            fail_msg("request %s (%s) is not on %s", s[i].id, s[i].path, e->topic);
        assert_string_equal(json_string_value(json_object_get(rec, "key")), MAC);
        assert_string_equal(edge_header(rec, "pr-method"), s[i].method);
        assert_string_equal(edge_header(rec, "pr-path"), s[i].path);
        assert_string_equal(edge_header(rec, "pr-kind"), s[i].kind);
        assert_string_equal(edge_header(rec, "pr-mac-source"), s[i].source);
        assert_string_equal(edge_header(rec, "pr-remote"), "127.0.0.1");
        assert_string_equal(edge_header(rec, "pr-user-agent"), UA);
        const char *ms = edge_header(rec, "pr-received-ms");
        assert_non_null(ms);
        assert_true(atoll(ms) > 1700000000000LL);
        if (s[i].content_type)
            assert_string_equal(edge_header(rec, "pr-content-type"), s[i].content_type);
        if (s[i].auth_user)
            assert_string_equal(edge_header(rec, "pr-auth-user"), s[i].auth_user);
        else
            assert_null(edge_header(rec, "pr-auth-user"));
        size_t want_len = 0, got_len = 0;
        char *want = ts_read_file(s[i].file, &want_len);
        char *got = edge_payload(e, (int)json_integer_value(json_object_get(rec, "partition")),
                                 json_integer_value(json_object_get(rec, "offset")), &got_len);
        assert_non_null(want);
        assert_non_null(got);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        free(want);
        free(got);
    }
    assert_int_equal(json_array_size(recs), n); /* nothing else was published */
    json_decref(recs);
}

static void test_put_and_post_reports_arrive_byte_for_byte(void **state)
{
    (void)state;
    edge e;
    edge_start(&e, ts_brokers(), "ipub", NULL);
    sent s[5];
    memset(s, 0, sizeof s);
    char opts[8192];
    edge_resp r;

    s[0] = (sent){"",     PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml",
                  "PUT",  "/r/" MAC ".xml",
                  "full", "path",
                  NULL,   NULL};
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' -H 'User-Agent: " UA "'", s[0].file);
    edge_curl(&e, opts, s[0].path, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    assert_int_equal(strlen(r.request_id), 36);
    strcpy(s[0].id, r.request_id);

    /* a form-labelled POST body with characters a form decoder would change */
    const char *form = "<flat-profile><A ua=\"na\">a+b%20c&amp;d=e</A></flat-profile>\n";
    s[1] = (sent){"",
                  edge_file(&e, "form.xml", form, strlen(form)),
                  "POST",
                  "/r/" MAC "-delta.xml?x=1&y=a%20b",
                  "delta",
                  "path",
                  "application/x-www-form-urlencoded",
                  NULL};
    upload(&e, &s[1], "");

    /* an encrypted (binary) status report, identified by the User-Agent only */
    s[2] = (sent){"",
                  PR_DATA_DIR "/samples/synthetic-delta-report.xml.aes128gcm",
                  "PUT",
                  "/upload/status",
                  "status",
                  "user-agent",
                  "application/octet-stream",
                  NULL};
    upload(&e, &s[2], "");

    /* a chunked upload, MAC in the colon form */
    s[3] = (sent){"",     PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml",
                  "PUT",  "/r/00:56:2b:04:36:15/full.xml",
                  "full", "path",
                  NULL,   NULL};
    upload(&e, &s[3], "-H 'Transfer-Encoding: chunked'");

    /* an empty body is published too (the decoder dead-letters it as `empty`) */
    s[4] = (sent){"",     edge_file(&e, "empty", "", 0),
                  "POST", "/r/report?mac=00562B043615",
                  "full", "query",
                  NULL,   NULL};
    upload(&e, &s[4], "");

    expect_on_topic(&e, s, 5);

    /* the metrics saw them */
    edge_curl(&e, "", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "phonereport_ingest_requests_total{status=\"200\",kind=\"full\"} 3"));
    assert_non_null(
        strstr(r.body, "phonereport_ingest_requests_total{status=\"200\",kind=\"delta\"} 1"));
    assert_non_null(strstr(r.body, "phonereport_ingest_published_total 5"));
    assert_non_null(strstr(r.body, "phonereport_ingest_ack_latency_seconds_count 5"));
    assert_non_null(strstr(r.body, "phonereport_ingest_kafka_up 1"));
    edge_curl(&e, "", "/healthz", &r);
    assert_int_equal(r.status, 200);
    edge_stop(&e);
}

static void test_authenticated_uploads_carry_the_user(void **state)
{
    (void)state;
    const char *schemes[] = {"basic", "digest"};
    for (int i = 0; i < 2; i++) {
        edge e;
        const char *text = "alice:s3cret:" MAC "\nbob:{md5-ha1}fc1d444e26b700081c0a5d08a6cc200f\n";
        edge_start_auth(&e, ts_brokers(), "iauth", text, schemes[i]);
        const char *f = edge_file(&e, "body.xml", "<flat-profile/>", 15);
        sent s[2] = {{"", f, "PUT", "/r/" MAC ".xml", "full", "path", NULL, "alice"},
                     {"", f, "POST", "/r/" MAC "-delta.xml", "delta", "path", NULL, "bob"}};
        const char *password[2] = {"s3cret", "hunter2"};
        for (int k = 0; k < 2; k++) {
            char creds[128];
            snprintf(creds, sizeof creds, "--%s -u %s:%s", schemes[i], s[k].auth_user, password[k]);
            upload(&e, &s[k], creds);
        }
        expect_on_topic(&e, s, 2);
        edge_stop(&e);
    }
}

/* An upload with the curl options opts gets status. */
static void expect_answer(edge *e, const char *opts, int status)
{
    edge_resp r;
    edge_curl(e, opts, "/r/x.xml", &r);
    assert_int_equal(r.status, status);
}

static void test_reload_swaps_the_credentials_file(void **state)
{
    (void)state;
    edge e;
    edge_start_auth(&e, ts_brokers(), "ireload", "alice:old\n", "basic");
    const char *f = edge_file(&e, "body.xml", "<flat-profile/>", 15);
    char old_opts[8192], new_opts[8192];
    snprintf(old_opts, sizeof old_opts, "-u alice:old -X PUT --data-binary @'%s' -A '" UA "'", f);
    snprintf(new_opts, sizeof new_opts, "-u alice:new -X PUT --data-binary @'%s' -A '" UA "'", f);
    expect_answer(&e, old_opts, 200);

    assert_int_equal(ts_write_file(e.creds, "alice:new\n", 10), 0);
    ingest_reload(e.r);
    expect_answer(&e, old_opts, 401);
    expect_answer(&e, new_opts, 200);

    /* a broken file is refused and the last good credentials stay */
    assert_int_equal(ts_write_file(e.creds, "alice\n", 6), 0);
    ingest_reload(e.r);
    expect_answer(&e, new_opts, 200);
    edge_stop(&e);
}

/* The 200 comes from the delivery report: a kafka.* pass-through that would suppress the
 * reports of successful deliveries must not leave phones waiting for an answer that never
 * comes (and the edge unable to stop). */
static void test_kafka_settings_cannot_turn_off_delivery_reports(void **state)
{
    (void)state;
    edge e;
    const char *args[] = {"--kafka.delivery.report.only.error=true", NULL};
    edge_start(&e, ts_brokers(), "idronly", args);
    const char *f = edge_file(&e, "p.xml", "<flat-profile/>", 15);
    char opts[8192];
    edge_resp r;
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' -H 'User-Agent: " UA "'", f);
    edge_curl(&e, opts, "/r/" MAC ".xml", &r);
    assert_int_equal(r.status, 200);
    json_t *recs = edge_consume(&e);
    assert_non_null(edge_find(recs, r.request_id));
    json_decref(recs);
    edge_stop(&e);
}

PR_TEST_MAIN(cmocka_unit_test(test_put_and_post_reports_arrive_byte_for_byte),
             cmocka_unit_test(test_authenticated_uploads_carry_the_user),
             cmocka_unit_test(test_reload_swaps_the_credentials_file),
             cmocka_unit_test(test_kafka_settings_cannot_turn_off_delivery_reports))
