/*
 * test_ingest_bad_input.c - the bad-input catalogue: every case gets its expected status
 * (4xx with a one-line text/plain reason where the edge answers; libmicrohttpd's own 400/431
 * or a closed connection where the bytes are not HTTP), and nothing of it is published.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge.h"
#include "testsupport.h"

#define UA "-H 'User-Agent: Cisco-CP-8841-3PCC/11.0 (00562b043615)'"

static void expect_reason(const edge_resp *r, int status, const char *line)
{
    if (r->status != status)
        fail_msg("expected %d '%s', got %d '%s'", status, line, r->status, r->body);
    char want[256];
    snprintf(want, sizeof want, "%s\n", line);
    assert_string_equal(r->body, want);
}

static size_t count_records(edge *e)
{
    json_t *recs = edge_consume(e);
    size_t n = json_array_size(recs);
    json_decref(recs);
    return n;
}

static void test_bad_uploads_get_their_status_and_publish_nothing(void **state)
{
    (void)state;
    edge e;
    const char *args[] = {"--upload-prefixes=/r/", "--allow-macs=00:56:2b", "--max-body-bytes=64k",
                          "--max-header-bytes=16k", "--connection-timeout=1s", NULL};
    edge_start(&e, ts_brokers(), "ibad", args);
    char opts[8192];
    edge_resp r;
    char *big = malloc(100 * 1024);
    memset(big, 'x', 100 * 1024);
    const char *big_file = edge_file(&e, "big", big, 100 * 1024);
    char *huge = malloc(300 * 1024);
    memset(huge, 'y', 300 * 1024);
    const char *huge_file = edge_file(&e, "huge", huge, 300 * 1024);
    const char *small = edge_file(&e, "small", "<flat-profile/>", 15);

    /* identity */
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' -A 'curl'", small);
    edge_curl(&e, opts, "/r/report.xml", &r);
    expect_reason(&r, 400, "no phone identity");
    assert_int_equal(strlen(r.request_id), 36);

    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043616.xml", &r);
    expect_reason(&r, 403, "mac mismatch");

    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' -A 'curl'", small);
    edge_curl(&e, opts, "/r/001122334455.xml", &r);
    expect_reason(&r, 403, "mac not allowed");

    snprintf(opts, sizeof opts, "-X POST --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/report.xml?mac=zz", &r);
    expect_reason(&r, 400, "invalid mac in query");

    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615/00562b043699.xml", &r);
    expect_reason(&r, 400, "ambiguous mac in path");

    /* size: announced, then discovered while reading a chunked body */
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, big_file);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 413, "body too large");

    snprintf(opts, sizeof opts, "-X PUT -H 'Transfer-Encoding: chunked' --data-binary @'%s' " UA,
             big_file);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 413, "body too large");

    /* far past the limit the edge stops reading: no answer, and certainly no 2xx */
    snprintf(opts, sizeof opts, "-X PUT -H 'Transfer-Encoding: chunked' --data-binary @'%s' " UA,
             huge_file);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    assert_true(r.status == 0 || r.status == 413);

    /* methods and paths */
    edge_curl(&e, "-X DELETE " UA, "/r/00562b043615.xml", &r);
    expect_reason(&r, 405, "method not allowed");
    assert_string_equal(r.allow, "PUT, POST");
    edge_curl(&e, UA, "/r/00562b043615.xml", &r);
    expect_reason(&r, 405, "method not allowed");
    snprintf(opts, sizeof opts, "-X POST --data-binary @'%s'", small);
    edge_curl(&e, opts, "/metrics", &r);
    expect_reason(&r, 405, "method not allowed");
    assert_string_equal(r.allow, "GET, HEAD");
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/x/00562b043615.xml", &r);
    expect_reason(&r, 404, "not found");

    /* bytes that are not (good) HTTP */
    bool closed;
    const char *bad_chunks = "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n";
    int st = edge_raw(&e, bad_chunks, strlen(bad_chunks), 30000, &closed);
    assert_true(st == 0 || st == 400);
    const char *bad_length = "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\n"
                             "Content-Length: 12abc\r\n\r\n<flat-profil";
    st = edge_raw(&e, bad_length, strlen(bad_length), 30000, &closed);
    assert_true(st == 0 || st == 400);
    const char *garbage = "GARBAGE\r\n\r\n";
    st = edge_raw(&e, garbage, strlen(garbage), 30000, &closed);
    assert_true(st == 0 || st == 400);
    assert_true(closed);
    char *hdr = malloc(40000);
    int n = snprintf(hdr, 40000, "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(hdr + n, 'h', 30000);
    snprintf(hdr + n + 30000, 40000 - (size_t)n - 30000, "\r\nContent-Length: 1\r\n\r\nx");
    st = edge_raw(&e, hdr, strlen(hdr), 30000, &closed);
    assert_true(st >= 400 && st < 500);

    /* slow-loris: headers that never end are cut by the connection time-out (1 s here) */
    const char *slow = "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nContent-Le";
    st = edge_raw(&e, slow, strlen(slow), 60000, &closed);
    assert_int_equal(st, 0);
    assert_true(closed);
    /* and a body that stops half-way */
    const char *slow_body = "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 100\r\n\r\n<flat-pro";
    st = edge_raw(&e, slow_body, strlen(slow_body), 60000, &closed);
    assert_true(st == 0 || st >= 400);
    assert_true(closed);

    assert_int_equal(count_records(&e), 0);

    /* the same edge accepts a good report: the catalogue was refused, not the edge broken */
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_records(&e), 1);

    edge_curl(&e, "", "/metrics", &r);
    assert_int_equal(r.status, 200);
    free(hdr);
    free(big);
    free(huge);
    edge_stop(&e);
}

static void test_bad_or_missing_credentials_get_401_and_publish_nothing(void **state)
{
    (void)state;
    edge e;
    char *dir = ts_mkdtemp("ibadauth");
    char creds[4200], af[4300];
    snprintf(creds, sizeof creds, "%s/creds", dir);
    const char *text = "alice:s3cret:00562b043615\n";
    assert_int_equal(ts_write_file(creds, text, strlen(text)), 0);
    snprintf(af, sizeof af, "--auth-file=%s", creds);
    const char *args[] = {af, "--auth-scheme=digest", NULL};
    edge_start(&e, ts_brokers(), "ibadauth", args);
    const char *small = edge_file(&e, "small", "<flat-profile/>", 15);
    char opts[8192];
    edge_resp r;

    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 401, "authentication required");
    assert_true(strncmp(r.www_authenticate, "Digest ", 7) == 0);

    snprintf(opts, sizeof opts, "--digest -u alice:wrong -X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 401, "authentication required");

    snprintf(opts, sizeof opts, "--digest -u mallory:s3cret -X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 401, "authentication required");

    /* Basic credentials do not answer a Digest challenge */
    snprintf(opts, sizeof opts, "--basic -u alice:s3cret -X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 401, "authentication required");

    /* good credentials, but alice is bound to another phone */
    snprintf(opts, sizeof opts, "--digest -u alice:s3cret -X PUT --data-binary @'%s' -A 'x'",
             small);
    edge_curl(&e, opts, "/r/001122334455.xml", &r);
    expect_reason(&r, 403, "mac not allowed for this user");

    assert_int_equal(count_records(&e), 0);
    edge_stop(&e);
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_uploads_get_their_status_and_publish_nothing),
        cmocka_unit_test(test_bad_or_missing_credentials_get_401_and_publish_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
