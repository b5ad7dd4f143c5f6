/*
 * test_sipnotify.c - the NOTIFY sender's scheduling (proto/sipnotify.c): every target gets
 * exactly one result; --concurrency bounds the targets in flight, --rate spaces their starts,
 * a stop leaves the rest not_sent, a malformed URI is not sent. Phones that never answer are
 * a bound UDP socket nobody reads; unreachable ones a port nobody listens on. (What phones
 * answer is tested against SIPp in test_notify.sh.)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

#include "sipnotify.h"
#include "testsupport.h"

typedef struct collected {
    int calls;
    pr_sipnotify_outcome outcome[16];
    long long elapsed[16];
} collected;

static void on_result(void *ctx, const pr_sipnotify_target *t, const pr_sipnotify_result *r)
{
    collected *c = ctx;
    size_t i = (size_t)(uintptr_t)t->opaque;
    c->calls++;
    c->outcome[i] = r->outcome;
    c->elapsed[i] = r->elapsed_ms;
}

/* A UDP socket on 127.0.0.1 that is bound (so no ICMP) and never read: a silent phone. */
static int silent_phone(unsigned *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A loopback UDP port nobody listens on (bound, read, closed). */
static unsigned closed_port(void)
{
    unsigned port;
    close(silent_phone(&port));
    return port;
}

static long long run(const pr_sipnotify_opts *o, const char *const *uris, size_t n, collected *c)
{
    pr_sipnotify *s = NULL;
    pr_sipnotify_target t[16];
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++)
        t[i] = (pr_sipnotify_target){uris[i], NULL, NULL, (void *)(uintptr_t)i};
    assert_int_equal(pr_sipnotify_new(o, &s, err, sizeof err), PR_OK);
    long long start = ts_now_ms();
    assert_int_equal(pr_sipnotify_send(s, t, n, on_result, c, err, sizeof err), PR_OK);
    long long took = ts_now_ms() - start;
    pr_sipnotify_free(s);
    assert_int_equal(c->calls, (int)n);
    return took;
}

static void concurrency_bounds_the_targets_in_flight(void **state)
{
    unsigned port;
    char uri[64];
    collected c;
    (void)state;
    int fd = silent_phone(&port);
    snprintf(uri, sizeof uri, "sip:1001@127.0.0.1:%u", port);
    const char *uris[4] = {uri, uri, uri, uri};
    pr_sipnotify_opts o = {.bind = "127.0.0.1", .concurrency = 2, .t1_ms = 10, .deadline_ms = 200};
    long long took = run(&o, uris, 4, &c);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c.outcome[i], PR_SIPNOTIFY_TIMEOUT);
        assert_in_range(c.elapsed[i], 190, 1000);
    }
    /* two waves of two: at least two deadlines; four at once would take one */
    assert_in_range(took, 390, 3000);
    o.concurrency = 4;
    took = run(&o, uris, 4, &c);
    assert_in_range(took, 190, 390);
    close(fd);
}

static void the_rate_spaces_new_targets(void **state)
{
    char uri[64];
    collected c;
    (void)state;
    snprintf(uri, sizeof uri, "sip:1001@127.0.0.1:%u", closed_port());
    const char *uris[5] = {uri, uri, uri, uri, uri};
    pr_sipnotify_opts o = {.bind = "127.0.0.1", .concurrency = 8, .rate = 20, .t1_ms = 10};
    long long took = run(&o, uris, 5, &c);
    for (int i = 0; i < 5; i++)
        assert_int_equal(c.outcome[i], PR_SIPNOTIFY_UNREACHABLE);
    assert_in_range(took, 190, 2000); /* four gaps of 50 ms */
    o.rate = 0;
    took = run(&o, uris, 5, &c);
    assert_in_range(took, 0, 150);
}

static bool always(void)
{
    return true;
}

static void a_stop_leaves_the_targets_not_started_not_sent(void **state)
{
    char uri[64];
    collected c;
    (void)state;
    snprintf(uri, sizeof uri, "sip:1001@127.0.0.1:%u", closed_port());
    const char *uris[3] = {uri, uri, uri};
    pr_sipnotify_opts o = {.bind = "127.0.0.1", .stop_requested = always};
    run(&o, uris, 3, &c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(c.outcome[i], PR_SIPNOTIFY_NOT_SENT);
}

static void a_malformed_target_is_not_sent_and_the_others_are(void **state)
{
    char uri[64];
    collected c;
    (void)state;
    snprintf(uri, sizeof uri, "sip:1001@127.0.0.1:%u", closed_port());
    const char *uris[3] = {"http://127.0.0.1/", uri, "sip:"};
    pr_sipnotify_opts o = {.bind = "127.0.0.1"};
    run(&o, uris, 3, &c);
    assert_int_equal(c.outcome[0], PR_SIPNOTIFY_NOT_SENT);
    assert_int_equal(c.outcome[1], PR_SIPNOTIFY_UNREACHABLE);
    assert_int_equal(c.outcome[2], PR_SIPNOTIFY_NOT_SENT);
}

static void uri_check_accepts_sip_uris_only(void **state)
{
    char err[200];
    (void)state;
    assert_int_equal(pr_sipnotify_check_uri("sip:1001@192.0.2.7:5060", err, sizeof err), PR_OK);
    assert_int_equal(pr_sipnotify_check_uri("sip:[2001:db8::7]", err, sizeof err), PR_OK);
    assert_int_equal(pr_sipnotify_check_uri("sips:pbx.example;transport=tcp", err, sizeof err),
                     PR_OK);
    assert_int_equal(pr_sipnotify_check_uri("tel:+1555", err, sizeof err), PR_EINVAL);
    assert_int_equal(pr_sipnotify_check_uri("sip:a@h:0", err, sizeof err), PR_EINVAL);
    assert_int_equal(pr_sipnotify_check_uri("", err, sizeof err), PR_EINVAL);
}

PR_TEST_MAIN(cmocka_unit_test(concurrency_bounds_the_targets_in_flight),
             cmocka_unit_test(the_rate_spaces_new_targets),
             cmocka_unit_test(a_stop_leaves_the_targets_not_started_not_sent),
             cmocka_unit_test(a_malformed_target_is_not_sent_and_the_others_are),
             cmocka_unit_test(uri_check_accepts_sip_uris_only))
