/*
 * test_ingest_abuse.c - requests built to hurt the edge rather than to upload: a query with
 * more arguments (or header lines) than libmicrohttpd's per-connection pool holds, replayed
 * Digest credentials, connections that announce bodies and do not send them, one address
 * holding the in-flight budget, smuggling-shaped framing and ambiguous identities. Each case gets
 * an answer, frees what it took, publishes nothing it should not, and leaves the edge serving
 * phones. Run under LeakSanitizer (the test build), a request whose state is never freed fails the
 * run at exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

#include "edge.h"
#include "testsupport.h"

#define UA "-H 'User-Agent: Cisco-CP-8841-3PCC/11.0 (00562b043615)'"

static size_t count_records(edge *e)
{
    json_t *recs = edge_consume(e);
    size_t n = json_array_size(recs);
    json_decref(recs);
    return n;
}

static void send_all(int fd, const char *data, size_t len)
{
    assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A PUT of body to path with extra header lines (each ending in \r\n); returns the status. */
static int put_with(edge *e, const char *path, const char *headers, const char *body, char *resp,
                    size_t cap)
{
    char req[16384];
    int n = snprintf(req, sizeof req,
                     "PUT %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: "
                     "%zu\r\n\r\n%s",
                     path, headers, strlen(body), body);
    assert_true(n > 0 && n < (int)sizeof req);
    return edge_exchange(e, req, (size_t)n, 20000, resp, cap, NULL);
}

static void md5_hex(const char *text, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), d, &n, EVP_md5(), NULL), 1);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

#define DIGEST_PATH "/r/00562b043615.xml"

/* The Authorization line (with \r\n) of alice for nonce, client nonce and nc (RFC 2617, MD5,
 * qop=auth); a NULL response_hex computes the right response. */
static void digest_header_of(const char *nonce, const char *cnonce, unsigned nc,
                             const char *response_hex, char *out, size_t cap)
{
    char ha1[33], ha2[33], resp[33], text[1024], ncs[9];
    snprintf(ncs, sizeof ncs, "%08x", nc);
    md5_hex("alice:phonereport:s3cret", ha1);
    md5_hex("PUT:" DIGEST_PATH, ha2);
    snprintf(text, sizeof text, "%s:%s:%s:%s:auth:%s", ha1, nonce, ncs, cnonce, ha2);
    md5_hex(text, resp);
    snprintf(out, cap,
             "Authorization: Digest username=\"alice\", realm=\"phonereport\", nonce=\"%s\", "
             "uri=\"" DIGEST_PATH "\", algorithm=MD5, qop=auth, nc=%s, cnonce=\"%s\", "
             "response=\"%s\", opaque=\"phonereport\"\r\n",
             nonce, ncs, cnonce, response_hex ? response_hex : resp);
}

static void digest_header(const char *nonce, unsigned nc, const char *response_hex, char *out,
                          size_t cap)
{
    digest_header_of(nonce, "0a4f113b", nc, response_hex, out, cap);
}

/* The nonce of a 401 to an upload without credentials. libmicrohttpd derives it from the
 * second, method and URL: `differ_from` (or NULL) makes it wait (polling, with a deadline)
 * for a nonce that differs from an earlier one. */
static void fresh_nonce(edge *e, char *nonce, size_t cap, const char *differ_from)
{
    char resp[8192];
    long long deadline = ts_now_ms() + 10000;
    do {
        assert_int_equal(put_with(e, DIGEST_PATH, "", "x", resp, sizeof resp), 401);
        const char *p = strstr(resp, "nonce=\"");
        assert_non_null(p);
        p += 7;
        const char *end = strchr(p, '"');
        assert_non_null(end);
        assert_true((size_t)(end - p) < cap);
        memcpy(nonce, p, (size_t)(end - p));
        nonce[end - p] = '\0';
        if (!differ_from || strcmp(nonce, differ_from) != 0)
            return;
        usleep(50000); /* a short pause between polls; the condition ends the wait */
    } while (ts_now_ms() < deadline);
    fail_msg("no new nonce within 10 s");
}

/* A PUT whose query holds `nargs` arguments "a=b", with a 3-byte body. Caller frees. */
static char *many_args_request(size_t nargs, size_t *len)
{
    size_t cap = 256 + nargs * 4;
    char *req = malloc(cap);
    assert_non_null(req);
    size_t n = (size_t)snprintf(req, cap, "PUT /r/00562b043615?");
    for (size_t i = 0; i < nargs; i++) {
        memcpy(req + n, "a=b&", 4);
        n += 4;
    }
    n += (size_t)snprintf(req + n, cap - n, " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    *len = n;
    return req;
}

/* libmicrohttpd 0.9.75 runs out of pool while parsing such a query after the URI-log callback
 * made the request's state, then drops the request without telling the application: before
 * the fix the state leaked (LeakSanitizer at exit) and a client that waited got no answer. */
static void test_query_with_more_arguments_than_the_pool_holds_is_answered_and_freed(void **state)
{
    (void)state;
    edge e;
    edge_start(&e, ts_brokers(), "iargs", NULL);
    size_t len = 0;
    char *req = many_args_request(7000, &len);

    /* clients that send and leave at once */
    for (int i = 0; i < 50; i++) {
        int fd = edge_dial(&e);
        send_all(fd, req, len);
        close(fd);
    }
    /* a client that stays for the answer */
    bool closed = false;
    int status = edge_raw(&e, req, len, 10000, &closed);
    if (status != 414)
        fail_msg("a query over the pool got %d (0 = no answer), expected 414", status);

    /* the edge still serves phones, and published nothing of the above */
    edge_resp r;
    const char *small = edge_file(&e, "small", "<flat-profile/>", 15);
    char opts[8192];
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml?mac=00562b043615", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_records(&e), 1);
    free(req);
    edge_stop(&e);
}

/* libmicrohttpd 0.9.75 treats nc=00000000 as "a fresh nonce" before it checks the response,
 * which reset the nonce's count for anyone who knew the nonce; and it accepts nc=1 once more
 * after nc=2. Before the fix both replays below were answered 200 and published. */
static void test_replayed_or_out_of_order_digest_nonce_counts_are_refused(void **state)
{
    (void)state;
    edge e;
    edge_start_auth(&e, ts_brokers(), "ireplay", "alice:s3cret:00562b043615\n", "digest");
    char nonce[256], first[256], h1[2048], h[2048], resp[8192];

    /* the phone's request succeeds; its Authorization is captured */
    fresh_nonce(&e, nonce, sizeof nonce, NULL);
    digest_header(nonce, 1, NULL, h1, sizeof h1);
    assert_int_equal(put_with(&e, DIGEST_PATH, h1, "phone-1", resp, sizeof resp), 200);
    /* a plain replay is refused */
    assert_int_equal(put_with(&e, DIGEST_PATH, h1, "replay-1", resp, sizeof resp), 401);
    /* nc=0 with any response: refused, and must not reset the nonce */
    digest_header(nonce, 0, "00000000000000000000000000000000", h, sizeof h);
    assert_int_equal(put_with(&e, DIGEST_PATH, h, "reset", resp, sizeof resp), 401);
    int st = put_with(&e, DIGEST_PATH, h1, "forged", resp, sizeof resp);
    if (st != 401)
        fail_msg("the captured header replayed after nc=0 got %d, expected 401", st);

    /* on a new nonce: nc=1, nc=2, then nc=1 again */
    snprintf(first, sizeof first, "%s", nonce);
    fresh_nonce(&e, nonce, sizeof nonce, first);
    digest_header(nonce, 1, NULL, h1, sizeof h1);
    assert_int_equal(put_with(&e, DIGEST_PATH, h1, "phone-2", resp, sizeof resp), 200);
    digest_header(nonce, 2, NULL, h, sizeof h);
    assert_int_equal(put_with(&e, DIGEST_PATH, h, "phone-3", resp, sizeof resp), 200);
    st = put_with(&e, DIGEST_PATH, h1, "forged-2", resp, sizeof resp);
    if (st != 401)
        fail_msg("nc=1 after nc=2 got %d, expected 401", st);

    /* only the phone's three uploads are on the topic */
    assert_int_equal(count_records(&e), 3);
    edge_stop(&e);
}

/* libmicrohttpd gives every challenge to one URL within one second the same nonce. A phone
 * that retries an upload at once (after a 503, with a handle that forgot the nonce) is
 * challenged again, gets the nonce it used already and, with a new client nonce, rightly sends
 * nc=1. Before the fix the edge counted per nonce only and answered that 401 without stale,
 * so the phone gave up (e2e_pipeline failed now and then with "nonce count replayed"). */
static void test_a_second_client_given_the_same_nonce_counts_from_one(void **state)
{
    (void)state;
    edge e;
    edge_start_auth(&e, ts_brokers(), "isame", "alice:s3cret:00562b043615\n", "digest");
    char nonce[256], again[256], cnonce[16], h1[2048], h2[2048], resp[8192];
    /* the first client's upload, then a challenge to the second: until both fall in one second
     * (a second challenge also resets libmicrohttpd's own count of that nonce) */
    int uploads = 0;
    long long deadline = ts_now_ms() + 10000;
    do {
        fresh_nonce(&e, nonce, sizeof nonce, NULL);
        snprintf(cnonce, sizeof cnonce, "c1%06d", uploads);
        digest_header_of(nonce, cnonce, 1, NULL, h1, sizeof h1);
        assert_int_equal(put_with(&e, DIGEST_PATH, h1, "first", resp, sizeof resp), 200);
        uploads++;
        fresh_nonce(&e, again, sizeof again, NULL);
    } while (strcmp(nonce, again) != 0 && ts_now_ms() < deadline);
    assert_string_equal(nonce, again);

    digest_header_of(nonce, "c2000000", 1, NULL, h2, sizeof h2);
    int st = put_with(&e, DIGEST_PATH, h2, "second", resp, sizeof resp);
    if (st != 200)
        fail_msg("a second client on the same nonce at nc=1 got %d, expected 200", st);
    /* neither header can be replayed, even after one more challenge reset libmicrohttpd's count */
    fresh_nonce(&e, again, sizeof again, NULL);
    assert_int_equal(put_with(&e, DIGEST_PATH, h1, "replay-1", resp, sizeof resp), 401);
    assert_int_equal(put_with(&e, DIGEST_PATH, h2, "replay-2", resp, sizeof resp), 401);
    assert_int_equal(count_records(&e), uploads + 1);
    edge_stop(&e);
}

/* 64 connections that each announce the largest body (4 MiB) and send 2 bytes: before the fix
 * the announced sizes were reserved and took the whole 256 MiB budget, so every phone got 503
 * until they timed out. Now a body holds what arrived (in buffers of 16 KiB and up). */
static void test_bodies_announced_but_not_sent_do_not_starve_phones(void **state)
{
    (void)state;
    edge e;
    const char *args[] = {"--connection-timeout=60s", "--upload-timeout=60s", NULL};
    edge_start(&e, ts_brokers(), "istarve", args);
    int fd[64];
    const char *head = "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n"
                       "\r\nab";
    for (int i = 0; i < 64; i++) {
        fd[i] = edge_dial(&e);
        send_all(fd[i], head, strlen(head));
    }
    /* every attacker's bytes have reached the edge once its received-bytes count says so */
    long long deadline = ts_now_ms() + 20000;
    edge_resp r;
    char want[128];
    snprintf(want, sizeof want, "phonereport_ingest_received_bytes_total %d", 64 * 2);
    do {
        edge_curl(&e, "", "/metrics", &r);
        if (strstr(r.body, want))
            break;
        usleep(50000); /* a short pause between polls; the condition ends the wait */
    } while (ts_now_ms() < deadline);
    assert_non_null(strstr(r.body, want));

    const char *small = edge_file(&e, "small", "<flat-profile/>", 15);
    char opts[8192];
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    if (r.status != 200)
        fail_msg("a phone next to 64 stalled 4 MiB announcements got %d '%s'", r.status, r.body);
    for (int i = 0; i < 64; i++)
        close(fd[i]);
    assert_int_equal(count_records(&e), 1);
    edge_stop(&e);
}

/* The status and one-line reason of a raw answer. */
static void expect_answer(int st, const char *resp, int status, const char *line)
{
    const char *body = strstr(resp, "\r\n\r\n");
    char want[256];
    snprintf(want, sizeof want, "%s\n", line);
    if (st != status || !body || strcmp(body + 4, want) != 0)
        fail_msg("expected %d '%s', got %d:\n%s", status, line, st, resp);
}

#define UA1 "User-Agent: Cisco-CP-8841-3PCC/11.0 (00562b043615)\r\n"
#define UA2 "User-Agent: Cisco-CP-8841-3PCC/11.0 (001122334455)\r\n"

/* Framing two parsers could read differently: before the fix the first Content-Length won,
 * and Content-Length beside chunked was accepted. */
static void test_conflicting_body_framing_gets_400(void **state)
{
    (void)state;
    edge e;
    edge_start(&e, ts_brokers(), "ismuggle", NULL);
    char resp[8192];
    const char *two_lengths =
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" UA1
        "Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde";
    int st = edge_exchange(&e, two_lengths, strlen(two_lengths), 20000, resp, sizeof resp, NULL);
    expect_answer(st, resp, 400, "conflicting content-length");

    const char *length_and_chunked =
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" UA1
        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    st = edge_exchange(&e, length_and_chunked, strlen(length_and_chunked), 20000, resp, sizeof resp,
                       NULL);
    expect_answer(st, resp, 400, "content-length with transfer-encoding");

    const char *other_coding =
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" UA1
        "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    st = edge_exchange(&e, other_coding, strlen(other_coding), 20000, resp, sizeof resp, NULL);
    expect_answer(st, resp, 400, "unsupported transfer-encoding");

    /* the same Content-Length twice is one length */
    const char *same_twice =
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" UA1
        "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
    st = edge_exchange(&e, same_twice, strlen(same_twice), 20000, resp, sizeof resp, NULL);
    assert_int_equal(st, 200);
    assert_int_equal(count_records(&e), 1);
    edge_stop(&e);
}

/* Before the fix the first `mac` parameter and the first User-Agent named the phone, and a
 * %00 cut the path short, so the report was filed under the User-Agent's MAC. */
static void test_ambiguous_or_cut_identities_are_refused(void **state)
{
    (void)state;
    edge e;
    edge_start(&e, ts_brokers(), "iambig", NULL);
    char resp[8192];
    int st = put_with(&e, "/r/report.xml?mac=00562b043615&mac=001122334455", UA1, "abc", resp,
                      sizeof resp);
    expect_answer(st, resp, 400, "ambiguous mac in query");
    st = put_with(&e, "/r/report.xml", UA1 UA2, "abc", resp, sizeof resp);
    expect_answer(st, resp, 400, "ambiguous user-agent");
    st = put_with(&e, "/r/x%00/aabbccddeeff.xml", UA1, "abc", resp, sizeof resp);
    expect_answer(st, resp, 400, "nul byte in request target");
    st = put_with(&e, "/r/report.xml?mac=00562b043615%00", UA1, "abc", resp, sizeof resp);
    expect_answer(st, resp, 400, "nul byte in request target");
    assert_int_equal(count_records(&e), 0);
    /* one of each still works */
    st = put_with(&e, "/r/report.xml?mac=00562b043615", UA1, "abc", resp, sizeof resp);
    assert_int_equal(st, 200);
    assert_int_equal(count_records(&e), 1);
    edge_stop(&e);
}

/* More header lines than libmicrohttpd's pool holds records for: its own 431, and the
 * request's state freed (LeakSanitizer at exit). */
static void test_more_header_lines_than_the_pool_holds_get_an_answer(void **state)
{
    (void)state;
    edge e;
    edge_start(&e, ts_brokers(), "iheaders", NULL);
    size_t cap = 64 * 1024, n = 0;
    char *req = malloc(cap);
    assert_non_null(req);
    n += (size_t)snprintf(req, cap, "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(req + n, cap - n, "X-A: b\r\n");
    n += (size_t)snprintf(req + n, cap - n, "Content-Length: 3\r\n\r\nabc");
    for (int i = 0; i < 20; i++) {
        int fd = edge_dial(&e);
        send_all(fd, req, n);
        close(fd);
    }
    bool closed = false;
    int status = edge_raw(&e, req, n, 10000, &closed);
    if (status != 431)
        fail_msg("too many header lines got %d (0 = no answer), expected 431", status);
    free(req);
    assert_int_equal(count_records(&e), 0);
    edge_stop(&e);
}

/* A connection from another loopback address (Linux routes all of 127/8 to lo). */
static int dial_from(edge *e, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    sa.sin_port = htons((unsigned short)e->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* True once the edge has dealt with everything sent to it from src: each client's bytes are
 * out of its send queue (or the edge answered or closed it), and no connection from src has
 * bytes waiting in the edge's receive queue. */
static bool edge_read_all_from(edge *e, const int *fd, int n, const char *src)
{
    for (int i = 0; i < n; i++) {
        int unsent = 0;
        struct pollfd pfd = {fd[i], POLLIN, 0};
        bool answered = poll(&pfd, 1, 0) > 0;
        if (!answered && (ioctl(fd[i], SIOCOUTQ, &unsent) != 0 || unsent > 0))
            return false;
    }
    char cmd[512];
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "ss -Htn state established '( sport = :%u and dst %s )'", e->port,
             src);
    assert_int_equal(ts_run(cmd, &out), 0);
    bool idle = true;
    for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (atoi(l) != 0) /* Recv-Q, the first column */
            idle = false;
    free(out);
    return idle;
}

/* 16 connections from one address each send all but the last byte of a 64 KiB body, holding
 * 1 MiB: the whole budget before the fix, so a phone from another address got 503. Now one
 * address holds at most its share (an eighth of the budget) and the phone gets 200. */
static void test_one_address_cannot_hold_the_whole_budget(void **state)
{
    (void)state;
    edge e;
    const char *args[] = {"--max-body-bytes=64k", "--max-inflight-bytes=1m", "--upload-timeout=60s",
                          "--connection-timeout=60s", NULL};
    edge_start(&e, ts_brokers(), "ishare", args);
    int fd[16];
    size_t len = 65536 - 1;
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, 'h', len);
    const char *head =
        "PUT /r/00562b043615.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n";
    for (int i = 0; i < 16; i++) {
        fd[i] = dial_from(&e, "127.0.0.2");
        send_all(fd[i], head, strlen(head));
        send_all(fd[i], body, len);
    }
    long long deadline = ts_now_ms() + 20000;
    while (!edge_read_all_from(&e, fd, 16, "127.0.0.2") && ts_now_ms() < deadline)
        usleep(20000); /* a short pause between polls; the condition ends the wait */
    assert_true(edge_read_all_from(&e, fd, 16, "127.0.0.2"));

    edge_resp r;
    const char *small = edge_file(&e, "small", "<flat-profile/>", 15);
    char opts[8192];
    snprintf(opts, sizeof opts, "-X PUT --data-binary @'%s' " UA, small);
    edge_curl(&e, opts, "/r/00562b043615.xml", &r);
    if (r.status != 200)
        fail_msg("a phone next to an address holding 1 MiB got %d '%s'", r.status, r.body);
    for (int i = 0; i < 16; i++)
        close(fd[i]);
    free(body);
    assert_int_equal(count_records(&e), 1);
    edge_stop(&e);
}

PR_TEST_MAIN(
    cmocka_unit_test(test_one_address_cannot_hold_the_whole_budget),
    cmocka_unit_test(test_more_header_lines_than_the_pool_holds_get_an_answer),
    cmocka_unit_test(test_conflicting_body_framing_gets_400),
    cmocka_unit_test(test_ambiguous_or_cut_identities_are_refused),
    cmocka_unit_test(test_bodies_announced_but_not_sent_do_not_starve_phones),
    cmocka_unit_test(test_replayed_or_out_of_order_digest_nonce_counts_are_refused),
    cmocka_unit_test(test_a_second_client_given_the_same_nonce_counts_from_one),
    cmocka_unit_test(test_query_with_more_arguments_than_the_pool_holds_is_answered_and_freed))
