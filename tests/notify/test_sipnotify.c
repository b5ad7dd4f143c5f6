/*
 * test_sipnotify.c - the NOTIFY sender's scheduling (proto/sipnotify.c): every target gets
 * exactly one result; --concurrency bounds the targets in flight, --rate spaces their starts,
 * a stop leaves the rest not_sent, a malformed URI is not sent; and the Digest answer against
 * a challenging phone played here (a UDP socket that answers each NOTIFY with the 401 the
 * test gives, and 200 or 401 once it carries credentials): only a challenge whose whole realm
 * has credentials is answered (realms of 158, 159, 160 and 4,000 characters), the one of two
 * challenges that has credentials is picked, and a refusal after credentials says so. Phones that
 * never answer are a bound UDP socket nobody reads; unreachable ones a port nobody listens on.
 * (What phones answer is tested against SIPp in test_notify.sh.)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
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

/* ---- a phone that challenges ---------------------------------------------------------- */

typedef struct challenger {
    int fd;
    unsigned port;
    const char *challenge;   /* the WWW-Authenticate line(s), each ending in \r\n */
    bool refuse_credentials; /* 401 again to a NOTIFY with credentials */
    atomic_bool stop;
    atomic_int notifies, authorized;
    char authorization[8192]; /* the last Authorization line received */
    pthread_t thr;
} challenger;

static bool header_is(const char *line, const char *name, const char *compact)
{
    size_t n = strlen(name);
    return (strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ' ')) ||
           (compact && strncasecmp(line, compact, 1) == 0 && (line[1] == ':' || line[1] == ' '));
}

static void *challenger_main(void *arg)
{
    challenger *ch = arg;
    static char msg[65536], out[65536];
    while (!atomic_load(&ch->stop)) {
        struct pollfd p = {.fd = ch->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(ch->fd, msg, sizeof msg - 1, 0, (struct sockaddr *)&from, &fl);
        if (n <= 0 || strncmp(msg, "NOTIFY ", 7) != 0)
            continue;
        msg[n] = '\0';
        atomic_fetch_add(&ch->notifies, 1);
        bool auth = false;
        size_t len = 0;
        char copied[8192] = "";
        for (char *line = strstr(msg, "\r\n") + 2; line && *line && strncmp(line, "\r\n", 2);) {
            char *end = strstr(line, "\r\n");
            size_t ll = end ? (size_t)(end - line) : strlen(line);
            if (header_is(line, "Authorization", NULL)) {
                auth = true;
                snprintf(ch->authorization, sizeof ch->authorization, "%.*s", (int)ll, line);
            } else if (header_is(line, "Via", "v") || header_is(line, "From", "f") ||
                       header_is(line, "Call-ID", "i") || header_is(line, "CSeq", NULL)) {
                strncat(copied, line, ll < sizeof copied - strlen(copied) - 3 ? ll : 0);
                strcat(copied, "\r\n");
            } else if (header_is(line, "To", "t")) {
                strncat(copied, line, ll < sizeof copied - strlen(copied) - 20 ? ll : 0);
                strcat(copied, ";tag=phone\r\n");
            }
            line = end ? end + 2 : NULL;
        }
        if (auth)
            atomic_fetch_add(&ch->authorized, 1);
        bool ok = auth && !ch->refuse_credentials;
        len = (size_t)snprintf(out, sizeof out, "SIP/2.0 %s\r\n%s%sContent-Length: 0\r\n\r\n",
                               ok ? "200 OK" : "401 Unauthorized", copied, ok ? "" : ch->challenge);
        sendto(ch->fd, out, len, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static void challenger_start(challenger *ch, const char *challenge, bool refuse)
{
    memset(ch, 0, sizeof *ch);
    ch->fd = silent_phone(&ch->port);
    ch->challenge = challenge;
    ch->refuse_credentials = refuse;
    assert_int_equal(pthread_create(&ch->thr, NULL, challenger_main, ch), 0);
}

static void challenger_stop(challenger *ch)
{
    atomic_store(&ch->stop, true);
    pthread_join(ch->thr, NULL);
    close(ch->fd);
}

/* Credentials limited to one realm (as a credentials file entry with "realm"). */
static pr_status realm_limited(void *ctx, const pr_sipnotify_target *t, const char *realm,
                               const char *uri_user, char *user, size_t userlen, char *password,
                               size_t passlen)
{
    (void)t;
    (void)uri_user;
    if (strcmp(realm, (const char *)ctx) != 0)
        return PR_ENOTFOUND;
    snprintf(user, userlen, "1001");
    snprintf(password, passlen, "secret");
    return PR_OK;
}

typedef struct one_result {
    pr_sipnotify_result r;
    int calls;
} one_result;

static void keep_result(void *ctx, const pr_sipnotify_target *t, const pr_sipnotify_result *r)
{
    one_result *o = ctx;
    (void)t;
    o->r = *r;
    o->calls++;
}

/* One NOTIFY to the challenger with credentials for `realm` only. */
static one_result notify_once(challenger *ch, const char *realm)
{
    char uri[64], err[256];
    one_result res = {0};
    pr_sipnotify *s = NULL;
    snprintf(uri, sizeof uri, "sip:1001@127.0.0.1:%u", ch->port);
    pr_sipnotify_opts o = {.bind = "127.0.0.1",
                           .t1_ms = 50,
                           .credentials = realm_limited,
                           .credentials_ctx = (void *)realm};
    pr_sipnotify_target t = {uri, NULL, NULL, NULL};
    assert_int_equal(pr_sipnotify_new(&o, &s, err, sizeof err), PR_OK);
    assert_int_equal(pr_sipnotify_send(s, &t, 1, keep_result, &res, err, sizeof err), PR_OK);
    pr_sipnotify_free(s);
    assert_int_equal(res.calls, 1);
    return res;
}

static char *challenge_for(const char *realm)
{
    char *h = NULL;
    assert_true(asprintf(&h,
                         "WWW-Authenticate: Digest realm=\"%s\", nonce=\"n1\", algorithm=MD5\r\n",
                         realm) > 0);
    return h;
}

/* One NOTIFY to a phone that challenges with a realm of realm_len 'r's (*realm, caller frees),
 * answered with the credentials for cred_realm (NULL: for that realm). */
static one_result notify_challenged(challenger *ch, size_t realm_len, const char *cred_realm,
                                    char **realm)
{
    char *h = challenge_for(*realm = ts_repeat('r', realm_len));
    challenger_start(ch, h, false);
    one_result res = notify_once(ch, cred_realm ? cred_realm : *realm);
    challenger_stop(ch);
    free(h);
    return res;
}

static void only_a_whole_realm_with_credentials_is_answered(void **state)
{
    (void)state;
    static const size_t lens[] = {158, 159};
    for (size_t i = 0; i < 2; i++) {
        challenger ch;
        char *realm;
        one_result res = notify_challenged(&ch, lens[i], NULL, &realm);
        if (res.r.outcome != PR_SIPNOTIFY_ACCEPTED)
            fail_msg("realm of %zu: %s", lens[i], res.r.reason);
        assert_int_equal(atomic_load(&ch.authorized), 1);
        assert_non_null(strstr(ch.authorization, realm));
        free(realm);
    }
    /* credentials limited to a 159-character realm R; the phone challenges with R and more */
    char *limited = ts_repeat('r', 159);
    static const size_t longer[] = {160, 4000};
    for (size_t i = 0; i < 2; i++) {
        challenger ch;
        char *realm;
        one_result res = notify_challenged(&ch, longer[i], limited, &realm);
        if (atomic_load(&ch.authorized) != 0)
            fail_msg("credentials for a 159-character realm answered one of %zu", longer[i]);
        assert_int_equal(res.r.outcome, PR_SIPNOTIFY_REFUSED);
        assert_int_equal(res.r.status, 401);
        assert_non_null(strstr(res.r.reason, "longer than 159"));
        free(realm);
    }
    free(limited);
}

static void of_two_challenges_the_one_with_credentials_is_answered(void **state)
{
    (void)state;
    const char *h = "WWW-Authenticate: Digest realm=\"other\", nonce=\"n1\", algorithm=MD5\r\n"
                    "WWW-Authenticate: Digest realm=\"mine\", nonce=\"n2\", algorithm=MD5\r\n";
    challenger ch;
    challenger_start(&ch, h, false);
    one_result res = notify_once(&ch, "mine");
    challenger_stop(&ch);
    if (res.r.outcome != PR_SIPNOTIFY_ACCEPTED)
        fail_msg("two challenges: %s", res.r.reason);
    assert_true(res.r.challenged);
    assert_int_equal(atomic_load(&ch.authorized), 1);
    assert_non_null(strstr(ch.authorization, "realm=\"mine\""));
    assert_null(strstr(ch.authorization, "other"));
}

static void credentials_refused_are_reported_as_refused(void **state)
{
    (void)state;
    const char *h = "WWW-Authenticate: Digest realm=\"mine\", nonce=\"n1\", algorithm=MD5\r\n";
    challenger ch;
    challenger_start(&ch, h, true);
    one_result res = notify_once(&ch, "mine");
    challenger_stop(&ch);
    assert_int_equal(atomic_load(&ch.authorized), 1);
    assert_int_equal(res.r.outcome, PR_SIPNOTIFY_REFUSED);
    assert_int_equal(res.r.status, 401);
    assert_true(res.r.challenged);
    if (!strstr(res.r.reason, "credentials refused") || strstr(res.r.reason, "no credentials"))
        fail_msg("reason: %s", res.r.reason);
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
             cmocka_unit_test(uri_check_accepts_sip_uris_only),
             cmocka_unit_test(only_a_whole_realm_with_credentials_is_answered),
             cmocka_unit_test(of_two_challenges_the_one_with_credentials_is_answered),
             cmocka_unit_test(credentials_refused_are_reported_as_refused))
