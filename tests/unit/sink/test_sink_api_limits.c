/*
 * test_sink_api_limits.c - one client cannot take the API port from the others (issues 22.3,
 * 22.6, 23.1, 23.6), over real sockets and curl:
 *
 *   - 1,100 slow connections from one address (127.0.0.1): a normal client from another
 *     loopback address (127.0.0.2) and /healthz are still answered, and the connections over
 *     the per-address limit are closed;
 *   - a connection trickling its request line is cut by the header time-out (which the idle
 *     time-out alone never does);
 *   - an export of 20,000 phones streams: while it is in progress (its client has read only
 *     its first bytes), /healthz and a search are answered, and a phone added meanwhile is in
 *     it (it reads the store page by page, as the client reads); then it completes, every
 *     phone once, in MAC order;
 *   - on PostgreSQL, an export whose store read is blocked (a lock the test holds) does not
 *     block /healthz;
 *   - failed logins are logged at warn with the address and lock that address out (429) after
 *     api-auth-max-failures, while other addresses go on;
 *   - an Authorization header holding a NUL, or two Authorization headers, are refused (400).
 */
#include "apitest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define TOKEN "limits-token-0123456789abcdef"
/* The streaming export's fleet: its CSV (about 100 bytes a phone) is many times what the
 * kernel buffers for a client that stops reading; that the export streams is shown by a phone
 * added after it started (past what was sent) being in it, not by its size. */
#define EXPORT_FLEET 20000

/* A TCP connection to the API from source address src (NULL: any); rcvbuf > 0 shrinks the
 * receive buffer first (so that a client that stops reading stalls the server quickly). */
static int raw_connect(unsigned port, const char *src, int rcvbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &s.sin_addr);
        if (bind(fd, (struct sockaddr *)&s, sizeof s) != 0)
            fail_msg("bind %s: %s", src, strerror(errno));
    }
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what is there within ms: bytes read, 0 on end of stream (or reset), -1 nothing yet. */
static ssize_t read_within(int fd, char *buf, size_t len, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return -1;
    ssize_t n = recv(fd, buf, len, 0);
    return n < 0 ? 0 : n;
}

static int setup(void **state)
{
    apitest *f = apitest_new("limits", NULL);
    apply_config(f->st, f->pf, "00562b043615", "full", "r1", "2026-11-24T17:00:00.000Z",
                 "{\"Display_Name_1_\":\"Alice\"}", NULL);
    *state = f;
    return 0;
}

static void test_slow_connections_from_one_address_leave_the_port_to_others(void **state)
{
    apitest *f = *state;
    enum { SLOW = 1100 };
    static int fds[SLOW];
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < SLOW + 300)
        fail_msg("the descriptor limit (%llu) is too low for this test",
                 (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? SLOW + 2048 : rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    apitest_serve(f, NULL);
    /* every one starts a request line and never finishes it */
    for (int i = 0; i < SLOW; i++) {
        fds[i] = raw_connect(f->port, "127.0.0.1", 0);
        raw_send(fds[i], "GET /v1/phones HTTP/1.1\r\nHo", 27);
    }
    char *body = NULL;
    assert_int_equal(
        apitest_curl(f->port, "GET", "/healthz", "--interface 127.0.0.2 -m 60", &body, NULL, NULL),
        200);
    free(body);
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", "--interface 127.0.0.2 -m 60",
                                  &body, NULL, NULL),
                     200);
    assert_non_null(strstr(body, "00562b043615"));
    free(body);
    /* the address holds at most its limit (64): the others are closed at once */
    int closed = 0;
    long long deadline = ts_deadline_ms(60000);
    for (int i = 0; i < SLOW && ts_now_ms() < deadline; i++) {
        char c;
        if (read_within(fds[i], &c, 1, 100) == 0)
            closed++;
    }
    if (closed < SLOW - 64)
        fail_msg("only %d of %d connections from one address were closed", closed, SLOW);
    for (int i = 0; i < SLOW; i++)
        close(fds[i]);
}

static void test_a_connection_trickling_its_headers_is_cut(void **state)
{
    apitest *f = *state;
    sink_api_opts o = {.header_timeout_ms = 1000, .connection_timeout_ms = 600000};
    apitest_serve(f, &o);
    int fd = raw_connect(f->port, NULL, 0);
    const char *line = "GET /v1/phones HTTP/1.1\r\nX-Slow: ";
    size_t sent = 0;
    bool cut = false;
    long long deadline = ts_deadline_ms(20000);
    /* one byte every 200 ms: the idle time-out never fires, the header time-out must */
    while (!cut && ts_now_ms() < deadline) {
        char c;
        ssize_t n = read_within(fd, &c, 1, 200);
        if (n == 0) {
            cut = true;
            break;
        }
        if (send(fd, sent < strlen(line) ? line + sent : "x", 1, MSG_NOSIGNAL) != 1)
            cut = true;
        sent++;
    }
    close(fd);
    assert_true(cut);
    char *body = NULL;
    assert_int_equal(apitest_curl(f->port, "GET", "/metrics", NULL, &body, NULL, NULL), 200);
    assert_non_null(strstr(body, "phonereport_sink_api_header_timeouts_total 1"));
    free(body);
}

/* Applies n phones 0056<i as 8 hex digits>, i from `from` on, through the apply path, 1,000 to
 * a transaction (the store's own writes: the test does not know its encoding). */
static void apply_fleet(apitest *f, unsigned from, unsigned n)
{
    char err[256] = "", reason[64] = "";
    sink_apply_opts opts = {.changes_keep = 1000};
    for (unsigned k = 0; k < n; k++) {
        unsigned i = from + k;
        char mac[PR_MAC_LEN + 1], key[PR_MAC_LEN + 1];
        sink_event ev;
        sink_apply_result res;
        snprintf(mac, sizeof mac, "0056%08x", i);
        char *text = ev_config(mac, "full", "r", "2026-11-24T17:00:00.000Z", "{\"A\":\"1\"}", NULL);
        if (k % 1000 == 0)
            assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
        if (sink_event_load(NULL, text, strlen(text), false, ev_key(text, key), PR_MAC_LEN, &ev,
                            reason, sizeof reason, err, sizeof err) != PR_OK)
            fail_msg("event rejected: %s %s", reason, err);
        if (sink_apply(f->st, f->pf, &opts, &ev, &res, err, sizeof err) != PR_OK)
            fail_msg("apply: %s", err);
        sink_event_release(&ev);
        free(text);
        if (k % 1000 == 999 || k + 1 == n)
            assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    }
}

/* EXPORT_FLEET phones (SQLite), far more than the socket buffers between the API and a client
 * that stops reading hold. */
static int setup_big(void **state)
{
    apitest *f = apitest_new("export", NULL);
    apply_fleet(f, 0, EXPORT_FLEET);
    assert_int_equal(q_int(f->st, "SELECT count(*) FROM phones"), EXPORT_FLEET);
    *state = f;
    return 0;
}

static void test_an_export_streams_while_the_api_answers(void **state)
{
    apitest *f = *state;
    apitest_serve(f, NULL);
    int fd = raw_connect(f->port, NULL, 4096);
    const char *req = "GET /v1/phones?format=csv HTTP/1.0\r\n\r\n";
    raw_send(fd, req, strlen(req));
    /* the export's first bytes, then the client stops reading */
    size_t cap = 64u << 20, len = 0;
    char *got = malloc(cap);
    assert_non_null(got);
    long long deadline = ts_deadline_ms(60000);
    while (len < 2048 && ts_now_ms() < deadline) {
        ssize_t n = read_within(fd, got + len, 2048 - len, 1000);
        assert_true(n != 0);
        if (n > 0)
            len += (size_t)n;
    }
    assert_true(len >= 2048);
    assert_true(strncmp(got, "HTTP/1.0 200", 12) == 0 || strncmp(got, "HTTP/1.1 200", 12) == 0);
    /* the export is in progress (its connection open, most of it unsent): the API answers */
    char *body = NULL;
    assert_int_equal(apitest_curl(f->port, "GET", "/healthz", "-m 60", &body, NULL, NULL), 200);
    free(body);
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones?limit=1", "-m 60", &body, NULL, NULL),
                     200);
    assert_non_null(strstr(body, "\"next\":\"005600000000\""));
    free(body);
    /* a phone added now, past what was sent: in the export if it reads the store as the
     * client reads, not if the export was built when it started */
    apply_fleet(f, 0xffffffffu, 1);
    /* the rest: every phone once, in MAC order */
    for (;;) {
        ssize_t n = read_within(fd, got + len, cap - 1 - len, 60000);
        assert_true(n != -1);
        if (n == 0)
            break;
        len += (size_t)n;
        assert_true(len < cap - 1);
    }
    got[len] = '\0';
    close(fd);
    char *p = strstr(got, "\r\n\r\n");
    assert_non_null(p);
    p += 4;
    assert_true(strncmp(p, "mac,model,", 10) == 0);
    int rows = 0;
    for (p = strstr(p, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        char want[PR_MAC_LEN + 1];
        snprintf(want, sizeof want, "0056%08x", rows < EXPORT_FLEET ? (unsigned)rows : 0xffffffffu);
        if (strncmp(p + 2, want, PR_MAC_LEN) != 0)
            fail_msg("row %d: %.40s (wanted %s)", rows, p + 2, want);
        rows++;
    }
    assert_int_equal(rows, EXPORT_FLEET + 1);
    free(got);
}

/* PostgreSQL: the test holds a lock that makes the export's store read wait; /healthz is
 * answered meanwhile (one thread waits, not the API), and the export completes once the
 * lock is released. */
static void test_a_blocked_export_does_not_block_the_probes(void **state)
{
    apitest *f = *state;
    char err[256], buf[4096];
    apitest_serve(f, NULL);
    assert_int_equal(sink_store_begin(f->st, err, sizeof err), PR_OK);
    q_exec(f->st, "LOCK TABLE phones IN ACCESS EXCLUSIVE MODE");
    int fd = raw_connect(f->port, NULL, 0);
    const char *req = "GET /v1/phones?format=ndjson HTTP/1.0\r\n\r\n";
    raw_send(fd, req, strlen(req));
    char *body = NULL;
    int code = apitest_curl(f->port, "GET", "/healthz", "-m 30", &body, NULL, NULL);
    free(body);
    assert_int_equal(read_within(fd, buf, sizeof buf, 0), -1); /* the export still waits */
    assert_int_equal(sink_store_commit(f->st, err, sizeof err), PR_OK);
    assert_int_equal(code, 200);
    size_t len = 0;
    for (;;) {
        ssize_t n = read_within(fd, buf + len, sizeof buf - 1 - len, 60000);
        assert_true(n != -1);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    assert_non_null(strstr(buf, " 200 "));
    assert_non_null(strstr(buf, "\"mac\":\"00562b043615\""));
}

static void write_tokens(apitest *f, char *path, size_t len)
{
    snprintf(path, len, "%s/tokens", f->dir);
    const char *text = "reader:read:" TOKEN "\n";
    assert_int_equal(ts_write_file(path, text, strlen(text)), 0);
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_failed_logins_are_logged_and_lock_the_address_out(void **state)
{
    apitest *f = *state;
    char tokens[4300], log[4300], *h = NULL;
    write_tokens(f, tokens, sizeof tokens);
    snprintf(log, sizeof log, "%s/log", f->dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    pr_log_set_fd(fd);
    sink_api_opts o = {.tokens = tokens, .auth_fail_max = 3, .auth_window_ms = 600000};
    apitest_serve(f, &o);
    const char *bad = "-H 'Authorization: Bearer wrong-token-0123456789abcdef'";
    const char *good = "-H 'Authorization: Bearer " TOKEN "'";
    /* no credentials at all is not a failed login (the console's first load) */
    for (int i = 0; i < 5; i++)
        assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", NULL, NULL, NULL, NULL), 401);
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", good, NULL, NULL, NULL), 200);
    for (int i = 0; i < 3; i++)
        assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", bad, NULL, NULL, NULL), 401);
    /* locked out: even the right token gets 429 with Retry-After, and is not checked */
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", good, NULL, NULL, &h), 429);
    assert_non_null(strcasestr(h, "Retry-After: "));
    free(h);
    for (int i = 0; i < 10; i++)
        assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", bad, NULL, NULL, NULL), 429);
    /* another address, and the open probes, go on */
    char extra[256];
    snprintf(extra, sizeof extra, "--interface 127.0.0.2 %s", good);
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones", extra, NULL, NULL, NULL), 200);
    assert_int_equal(apitest_curl(f->port, "GET", "/healthz", NULL, NULL, NULL, NULL), 200);
    pr_log_set_fd(2);
    close(fd);
    char *text = ts_read_file(log, NULL);
    assert_non_null(text);
    /* one warn line for the window's first failure, one for the lock-out; never the token */
    assert_int_equal(count_of(text, "\"api login failed\""), 1);
    assert_int_equal(count_of(text, "address locked out"), 1);
    assert_int_equal(count_of(text, "\"remote\":\"127.0.0.1\""), 2);
    assert_int_equal(count_of(text, "\"level\":\"warn\""), 2);
    assert_null(strstr(text, "0123456789abcdef"));
    free(text);
    assert_int_equal(apitest_curl(f->port, "GET", "/metrics", NULL, &h, NULL, NULL), 200);
    free(h);
}

static void test_an_ambiguous_authorization_is_refused(void **state)
{
    apitest *f = *state;
    char tokens[4300], buf[512];
    write_tokens(f, tokens, sizeof tokens);
    sink_api_opts o = {.tokens = tokens};
    apitest_serve(f, &o);
    /* two Authorization headers: the first must not decide */
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones",
                                  "-H 'Authorization: Bearer " TOKEN "' "
                                  "-H 'Authorization: Bearer other-token-0123456789abcdef'",
                                  NULL, NULL, NULL),
                     400);
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones",
                                  "-H 'Authorization: Bearer " TOKEN "' "
                                  "-H 'Authorization: Bearer " TOKEN "'",
                                  NULL, NULL, NULL),
                     400);
    /* a token followed by a NUL and junk */
    static const char req[] =
        "GET /v1/phones HTTP/1.0\r\nAuthorization: Bearer " TOKEN "\0junk\r\n\r\n";
    int fd = raw_connect(f->port, NULL, 0);
    raw_send(fd, req, sizeof req - 1);
    ssize_t n = read_within(fd, buf, sizeof buf - 1, 30000);
    close(fd);
    assert_true(n > 12);
    buf[n] = '\0';
    if (strncmp(buf + 9, "400", 3) != 0)
        fail_msg("a token with a NUL and junk: %.40s", buf);
    /* the same token alone is fine */
    assert_int_equal(apitest_curl(f->port, "GET", "/v1/phones",
                                  "-H 'Authorization: Bearer " TOKEN "'", NULL, NULL, NULL),
                     200);
}

int main(void)
{
    const struct CMUnitTest sqlite[] = {
        APITEST(test_slow_connections_from_one_address_leave_the_port_to_others, setup),
        APITEST(test_a_connection_trickling_its_headers_is_cut, setup),
        APITEST(test_failed_logins_are_logged_and_lock_the_address_out, setup),
        APITEST(test_an_ambiguous_authorization_is_refused, setup),
        APITEST(test_an_export_streams_while_the_api_answers, setup_big),
    };
    const struct CMUnitTest pg[] = {
        APITEST(test_a_blocked_export_does_not_block_the_probes, setup),
        APITEST(test_failed_logins_are_logged_and_lock_the_address_out, setup),
    };
    if (sinktest_pg())
        return cmocka_run_group_tests(pg, NULL, NULL);
    return cmocka_run_group_tests(sqlite, NULL, NULL);
}
