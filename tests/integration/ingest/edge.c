/* edge.c - see edge.h. */
#include "edge.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "contract.h"
#include "log.h"
#include "testsupport.h"

static void edge_begin(edge *e, const char *brokers, const char *tag)
{
    memset(e, 0, sizeof *e);
    snprintf(e->brokers, sizeof e->brokers, "%s", brokers);
    e->prefix = ts_unique_prefix(tag);
    e->dir = ts_mkdtemp(tag);
    assert_non_null(e->dir);
}

static void edge_run(edge *e, const char *brokers, const char *auth_file, const char *const *args)
{
    static char *envp[] = {NULL};
    char *argv[64];
    char b[300], p[300], af[4300];
    int argc = 0;
    snprintf(b, sizeof b, "--brokers=%s", brokers);
    snprintf(p, sizeof p, "--topic-prefix=%s", e->prefix);
    argv[argc++] = "ingest";
    argv[argc++] = b;
    argv[argc++] = p;
    argv[argc++] = "--listen=127.0.0.1:0";
    argv[argc++] = "--ingest-probe-interval=200ms";
    if (auth_file) {
        snprintf(af, sizeof af, "--auth-file=%s", auth_file);
        argv[argc++] = af;
    }
    for (size_t i = 0; args && args[i] && argc < 62; i++) {
        argv[argc++] = (char *)args[i];
        if (strncmp(args[i], "--tls-cert=", 11) == 0)
            e->https = true;
    }
    argv[argc] = NULL;
    e->cfg = ingest_cfg_new();
    e->sec = ingest_cfg_section(e->cfg);
    assert_int_equal(
        pr_cfg_load(&e->sec, 1, &e->common, argc, argv, envp, "t", "t", stdout, stderr), PR_CFG_OK);
    assert_int_equal(ts_cfg_check(&ingest_role, e->cfg, &e->common), PR_OK);
    pr_log_set_level_name(getenv("PR_TEST_LOG") ? getenv("PR_TEST_LOG") : "warn");
    e->metrics = pr_metrics_new();
    char err[512] = "";
    if (ingest_new(&e->common, e->cfg, e->metrics, &e->r, err, sizeof err) != PR_OK)
        fail_msg("ingest_new: %s", err);
    if (ingest_start(e->r, err, sizeof err) != PR_OK)
        fail_msg("ingest_start: %s", err);
    e->port = ingest_port(e->r);
    assert_true(e->port > 0);
    pr_topic_name(e->prefix, PR_TOPIC_RAW, e->topic, sizeof e->topic);
    if (!edge_wait_ready(e, 200, ts_deadline_ms(60000)))
        fail_msg("the edge did not become ready (Kafka at %s)", brokers);
}

void edge_start(edge *e, const char *brokers, const char *tag, const char *const *args)
{
    edge_begin(e, brokers, tag);
    edge_run(e, brokers, NULL, args);
}

void edge_start_auth(edge *e, const char *brokers, const char *tag, const char *creds,
                     const char *scheme)
{
    char flag[64];
    snprintf(flag, sizeof flag, "--auth-scheme=%s", scheme);
    const char *args[] = {flag, NULL};
    edge_begin(e, brokers, tag);
    snprintf(e->creds, sizeof e->creds, "%s/creds", e->dir);
    assert_int_equal(ts_write_file(e->creds, creds, strlen(creds)), 0);
    edge_run(e, brokers, e->creds, args);
}

int edge_dial(edge *e)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)e->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

void edge_stop(edge *e)
{
    ingest_stop(e->r);
    ingest_free(e->r);
    pr_metrics_free(e->metrics);
    pr_cfg_release(&e->sec, 1, &e->common);
    free(e->cfg);
    ts_rmtree(e->dir);
    free(e->dir);
    free(e->prefix);
    memset(e, 0, sizeof *e);
}

const char *edge_file(edge *e, const char *name, const void *data, size_t len)
{
    static char paths[8][4200];
    static int slot;
    char *path = paths[slot++ % 8];
    snprintf(path, 4200, "%s/%s", e->dir, name);
    assert_int_equal(ts_write_file(path, data, len), 0);
    return path;
}

static void header_value(const char *headers, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = headers; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t n = (size_t)((eol ? eol : v + strlen(v)) - v);
            while (n && (v[n - 1] == '\r' || v[n - 1] == ' '))
                n--;
            if (n >= len)
                n = len - 1;
            memcpy(out, v, n);
            out[n] = '\0';
        }
        p = eol ? eol + 1 : NULL;
    }
}

void edge_curl(edge *e, const char *opts, const char *path, edge_resp *out)
{
    char cmd[16384], hdr[4200], body[4200];
    char *o = NULL;
    memset(out, 0, sizeof *out);
    static atomic_uint seq; /* callers may be concurrent: one file pair per call */
    unsigned n_call = atomic_fetch_add(&seq, 1);
    snprintf(hdr, sizeof hdr, "%s/resp-headers-%u", e->dir, n_call);
    snprintf(body, sizeof body, "%s/resp-body-%u", e->dir, n_call);
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 60 -o '%s' -D '%s' -w '%%{http_code}' %s %s "
             "'%s://127.0.0.1:%u%s'",
             body, hdr, e->https ? "-k" : "", opts, e->https ? "https" : "http", e->port, path);
    ts_run(cmd, &o);
    out->status = o ? atoi(o) : 0;
    free(o);
    size_t n = 0;
    char *h = ts_read_file(hdr, &n);
    /* with --digest curl makes two requests: keep the last answer's headers */
    const char *last = h;
    for (char *s = h; s && (s = strstr(s, "HTTP/1.1 ")) != NULL; s++)
        last = s;
    header_value(last, "X-Request-Id", out->request_id, sizeof out->request_id);
    header_value(last, "WWW-Authenticate", out->www_authenticate, sizeof out->www_authenticate);
    header_value(last, "Allow", out->allow, sizeof out->allow);
    header_value(last, "Retry-After", out->retry_after, sizeof out->retry_after);
    header_value(last, "Connection", out->connection, sizeof out->connection);
    free(h);
    char *bd = ts_read_file(body, &n);
    if (bd) {
        snprintf(out->body, sizeof out->body, "%s", bd);
        free(bd);
    }
    unlink(hdr);
    unlink(body);
}

int edge_exchange(edge *e, const char *data, size_t len, long timeout_ms, char *resp, size_t cap,
                  bool *closed)
{
    size_t got = 0;
    bool eof = false;
    int fd = edge_dial(e);
    if (len)
        assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
    long long deadline = ts_deadline_ms(timeout_ms);
    while (got < cap - 1) {
        long long left = deadline - ts_now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(fd, resp + got, cap - 1 - got, 0);
        if (r <= 0) {
            eof = true;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    resp[got] = '\0';
    if (closed)
        *closed = eof;
    return strncmp(resp, "HTTP/1.", 7) == 0 ? atoi(resp + 9) : 0;
}

int edge_raw(edge *e, const char *data, size_t len, long timeout_ms, bool *closed)
{
    char buf[8192];
    return edge_exchange(e, data, len, timeout_ms, buf, sizeof buf, closed);
}

/* kcat -J would mix binary payloads into the lines: ask for partition, offset, key and the
 * headers only (%h is name=value joined by ','; every name of ours starts with "pr-"). */
json_t *edge_consume(edge *e)
{
    char cmd[2048];
    char *out = NULL;
    snprintf(cmd, sizeof cmd,
             "kcat -q -C -b '%s' -t '%s' -o beginning -e -f '%%p\\t%%o\\t%%k\\t%%h\\n' "
             "2>/dev/null",
             e->brokers, e->topic);
    ts_run(cmd, &out);
    if (getenv("EDGE_DEBUG"))
        fprintf(stderr, "cmd: %s\nout: %.300s\n", cmd, out ? out : "(null)");
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = out ? strtok_r(out, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {line, NULL, NULL, NULL};
        for (int i = 1; i < 4; i++) {
            f[i] = f[i - 1] ? strchr(f[i - 1], '\t') : NULL;
            if (f[i])
                *f[i]++ = '\0';
        }
        if (!f[3])
            continue;
        json_t *hdrs = json_array();
        for (char *h = f[3]; h && *h;) {
            char *next = strstr(h, ",pr-");
            if (next)
                *next = '\0';
            char *eq = strchr(h, '=');
            if (eq) {
                *eq = '\0';
                json_array_append_new(hdrs, json_string(h));
                json_array_append_new(hdrs, json_string(eq + 1));
            }
            h = next ? next + 1 : NULL;
        }
        json_array_append_new(arr, json_pack("{sIsIssso}", "partition", (json_int_t)atoll(f[0]),
                                             "offset", (json_int_t)atoll(f[1]), "key", f[2],
                                             "headers", hdrs));
    }
    free(out);
    return arr;
}

char *edge_payload(edge *e, int partition, long long offset, size_t *len)
{
    char cmd[8192], path[4200];
    snprintf(path, sizeof path, "%s/payload", e->dir);
    snprintf(cmd, sizeof cmd,
             "kcat -q -C -b '%s' -t '%s' -p %d -o %lld -c 1 -e -f '%%s' > '%s' 2>/dev/null",
             e->brokers, e->topic, partition, offset, path);
    ts_run(cmd, NULL);
    char *p = ts_read_file(path, len);
    unlink(path);
    return p;
}

const char *edge_header(json_t *rec, const char *name)
{
    json_t *h = json_object_get(rec, "headers");
    for (size_t i = 0; h && i + 1 < json_array_size(h); i += 2)
        if (strcmp(json_string_value(json_array_get(h, i)), name) == 0)
            return json_string_value(json_array_get(h, i + 1));
    return NULL;
}

json_t *edge_find(json_t *records, const char *id)
{
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec)
    {
        const char *v = edge_header(rec, "pr-request-id");
        if (v && strcmp(v, id) == 0)
            return rec;
    }
    return NULL;
}

bool edge_wait_ready(edge *e, int want, long long deadline_ms)
{
    edge_resp r;
    do {
        edge_curl(e, "", "/readyz", &r);
        if (r.status == want)
            return true;
        /* a short pause between polls; the condition, not the pause, ends the wait */
        usleep(100000);
    } while (ts_now_ms() < deadline_ms);
    return false;
}
