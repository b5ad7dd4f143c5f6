/*
 * test_ingest_bad_input.c - the bad-input catalogue: every case gets its expected status
 * (4xx with a one-line text/plain reason where the edge answers; libmicrohttpd's own 400/431
 * or a closed connection where the bytes are not HTTP), and nothing of it is published.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

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

/* Uploads `file` with curl options `before` and `after` around its --data-binary, to path;
 * the answer (in *r) must be `status` with the one-line `reason`. */
static void upload_expect(edge *e, edge_resp *r, const char *before, const char *file,
                          const char *after, const char *path, int status, const char *reason)
{
    char opts[8192];
    snprintf(opts, sizeof opts, "%s --data-binary @'%s' %s", before, file, after);
    edge_curl(e, opts, path, r);
    expect_reason(r, status, reason);
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
    const char *args[] = {"--upload-prefixes=/r/",   "--allow-macs=00:56:2b",
                          "--max-body-bytes=64k",    "--max-header-bytes=16k",
                          "--connection-timeout=1s", NULL};
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
    upload_expect(&e, &r, "-X PUT", small, "-A 'curl'", "/r/report.xml", 400, "no phone identity");
    assert_int_equal(strlen(r.request_id), 36);

    upload_expect(&e, &r, "-X PUT", small, UA, "/r/00562b043616.xml", 403, "mac mismatch");

    upload_expect(&e, &r, "-X PUT", small, "-A 'curl'", "/r/001122334455.xml", 403,
                  "mac not allowed");

    upload_expect(&e, &r, "-X POST", small, UA, "/r/report.xml?mac=zz", 400,
                  "invalid mac in query");

    upload_expect(&e, &r, "-X PUT", small, UA, "/r/00562b043615/00562b043699.xml", 400,
                  "ambiguous mac in path");

    /* size: announced, then discovered while reading a chunked body */
    upload_expect(&e, &r, "-X PUT", big_file, UA, "/r/00562b043615.xml", 413, "body too large");

    upload_expect(&e, &r, "-X PUT -H 'Transfer-Encoding: chunked'", big_file, UA,
                  "/r/00562b043615.xml", 413, "body too large");

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
    upload_expect(&e, &r, "-X POST", small, "", "/metrics", 405, "method not allowed");
    assert_string_equal(r.allow, "GET, HEAD");
    upload_expect(&e, &r, "-X PUT", small, UA, "/x/00562b043615.xml", 404, "not found");

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
    edge_start_auth(&e, ts_brokers(), "ibadauth", "alice:s3cret:00562b043615\n", "digest");
    const char *small = edge_file(&e, "small", "<flat-profile/>", 15);
    char opts[8192];
    edge_resp r;

    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 401, "authentication required");
    assert_true(strncmp(r.www_authenticate, "Digest ", 7) == 0);

    upload_expect(&e, &r, "--digest -u alice:wrong -X PUT", small, UA, "/r/00562b043615.xml", 401,
                  "authentication required");

    upload_expect(&e, &r, "--digest -u mallory:s3cret -X PUT", small, UA, "/r/00562b043615.xml",
                  401, "authentication required");

    /* Basic credentials do not answer a Digest challenge */
    upload_expect(&e, &r, "--basic -u alice:s3cret -X PUT", small, UA, "/r/00562b043615.xml", 401,
                  "authentication required");

    /* good credentials, but alice is bound to another phone */
    upload_expect(&e, &r, "--digest -u alice:s3cret -X PUT", small, "-A 'x'", "/r/001122334455.xml",
                  403, "mac not allowed for this user");

    assert_int_equal(count_records(&e), 0);
    edge_stop(&e);
}

/* Waits up to ms for fd to become readable; reads what is there into buf (NUL-terminated).
 * Returns bytes read, 0 if the server closed, -1 on time-out. */
static ssize_t wait_read(int fd, char *buf, size_t cap, long ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)ms) <= 0)
        return -1;
    ssize_t r = recv(fd, buf, cap - 1, 0);
    if (r < 0)
        r = 0; /* reset: closed */
    buf[r] = '\0';
    return r;
}

/* Starts an edge with `args`, sends `head`, then one byte every 100 ms: 600 bytes would take a
 * minute, so the edge must cut the connection long before; asserts it did, with no answer and
 * nothing published. */
static void assert_trickle_is_cut(const char *tag, const char *const *args, const char *head)
{
    edge e;
    edge_start(&e, ts_brokers(), tag, args);
    int fd = edge_dial(&e);
    assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    char buf[1024];
    bool closed = false;
    int sent = 0;
    long long deadline = ts_deadline_ms(60000);
    while (!closed && sent < 600 && ts_now_ms() < deadline) {
        if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
            closed = true;
            break;
        }
        sent++;
        ssize_t r = wait_read(fd, buf, sizeof buf, 100);
        if (r == 0)
            closed = true;
        else if (r > 0)
            fail_msg("an answer to a trickled request (%s): %s", tag, buf);
    }
    close(fd);
    assert_true(closed);
    assert_true(sent < 600);
    assert_int_equal(count_records(&e), 0);
    edge_stop(&e);
}

static void test_trickled_body_is_cut_by_the_request_timeout(void **state)
{
    (void)state;
    const char *args[] = {"--upload-timeout=1s", "--connection-timeout=60s", NULL};
    assert_trickle_is_cut(
        "itrickle", args,
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n");
}

static void test_trickled_headers_are_cut_by_the_header_timeout(void **state)
{
    (void)state;
    /* The idle time-out (60 s) never fires: a byte comes every 100 ms. */
    const char *args[] = {"--header-timeout=1s", "--connection-timeout=60s", NULL};
    assert_trickle_is_cut("ihtrickle", args,
                          "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nX-Slow: ");
}

static void test_connections_over_the_per_ip_limit_are_closed(void **state)
{
    (void)state;
    edge e;
    const char *args[] = {"--max-connections-per-ip=2", "--connection-timeout=60s", NULL};
    edge_start(&e, ts_brokers(), "iperip", args);
    int fd[3];
    for (int i = 0; i < 3; i++)
        fd[i] = edge_dial(&e);
    /* the server closes whichever of the three it accepted last */
    int closed = 0;
    char buf[256];
    long long deadline = ts_deadline_ms(20000);
    while (!closed && ts_now_ms() < deadline)
        for (int i = 0; i < 3; i++)
            if (wait_read(fd[i], buf, sizeof buf, 50) == 0)
                closed++;
    assert_int_equal(closed, 1);
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    edge_stop(&e);
}

static void test_full_inflight_budget_gives_503_with_retry_after(void **state)
{
    (void)state;
    edge e;
    const char *args[] = {"--max-body-bytes=1k", "--max-inflight-bytes=1k", NULL};
    edge_start(&e, ts_brokers(), "ibudget", args);
    /* A sends 950 of its 1000 bytes: the budget holds its body buffer (1000 bytes) */
    int fd = edge_dial(&e);
    const char *head =
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    char body[1000];
    memset(body, 'a', sizeof body);
    assert_int_equal(send(fd, body, 950, MSG_NOSIGNAL), 950);
    char buf[4096];
    edge_resp m;
    long long deadline = ts_deadline_ms(20000);
    do { /* wait until the edge has A's bytes */
        edge_curl(&e, "", "/metrics", &m);
        if (strstr(m.body, "phonereport_ingest_inflight_bytes 1000"))
            break;
        usleep(50000); /* a short pause between polls; the condition ends the wait */
    } while (ts_now_ms() < deadline);
    assert_non_null(strstr(m.body, "phonereport_ingest_inflight_bytes 1000"));

    char hundred[100];
    memset(hundred, 'b', sizeof hundred); /* 1000 + 100 > 1024 */
    const char *small = edge_file(&e, "hundred", hundred, sizeof hundred);
    char opts[8192];
    edge_resp r;
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    expect_reason(&r, 503, "too many reports in flight");
    assert_string_equal(r.retry_after, "5");

    /* A finishes its body and is published; then there is room again */
    assert_int_equal(send(fd, body + 950, 50, MSG_NOSIGNAL), 50);
    assert_true(wait_read(fd, buf, sizeof buf, ts_scaled_ms(30000)) > 0);
    assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    close(fd);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_records(&e), 2);
    edge_stop(&e);
}

/* A body Kafka can never hold is the phone's problem (413), not a passing one (503 with
 * Retry-After would have the phone retry it for ever): refused by the producer itself
 * (librdkafka's message.max.bytes, 1000000 by default while max-body-bytes is 4m), or by the
 * broker in the delivery report (its message.max.bytes, about 1 MiB by default). */
static void test_body_kafka_cannot_hold_gets_413_not_503(void **state)
{
    (void)state;
    size_t n = 1536 * 1024;
    char *body = malloc(n);
    assert_non_null(body);
    /* incompressible (the edge's producer compresses with lz4: a run of one byte would shrink
     * below the broker's limit) */
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        body[i] = (char)('a' + x % 26);
    }
    const char *over_local[] = {NULL};
    const char *over_broker[] = {"--kafka.message.max.bytes=4000000", NULL};
    const char *const *cases[] = {over_local, over_broker};
    for (size_t i = 0; i < 2; i++) {
        edge e;
        edge_start(&e, ts_brokers(), i == 0 ? "ibiglocal" : "ibigbroker", cases[i]);
        const char *f = edge_file(&e, "big", body, n);
        char opts[8192];
        edge_resp r;
        upload_expect(&e, &r, "-X PUT", f, UA, "/r/00562b043615.xml", 413, "body too large");
        assert_string_equal(r.retry_after, "");
        /* the edge still takes what fits */
        const char *small = edge_file(&e, "small", "<flat-profile/>", 15);
        snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
        edge_curl(&e, opts, "/r/00562b043615.xml", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(count_records(&e), 1);
        edge_stop(&e);
    }
    free(body);
}

PR_TEST_MAIN(cmocka_unit_test(test_bad_uploads_get_their_status_and_publish_nothing),
             cmocka_unit_test(test_bad_or_missing_credentials_get_401_and_publish_nothing),
             cmocka_unit_test(test_trickled_body_is_cut_by_the_request_timeout),
             cmocka_unit_test(test_trickled_headers_are_cut_by_the_header_timeout),
             cmocka_unit_test(test_connections_over_the_per_ip_limit_are_closed),
             cmocka_unit_test(test_full_inflight_budget_gives_503_with_retry_after),
             cmocka_unit_test(test_body_kafka_cannot_hold_gets_413_not_503))
