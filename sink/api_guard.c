/*
 * api_guard.c - what keeps one client from taking the API port from the others, besides
 * MHD's own connection limits (api.c):
 *
 * Header time-out. MHD's connection time-out is an idle one: a client sending a byte of its
 * request line within every period is never cut by it, and the handler is not called before
 * the headers are complete. Every connection is recorded from MHD's STARTED notification to
 * its CLOSED one and is "waiting for headers" from its start, and again after each completed
 * request (keep-alive), until the handler first sees the next request; a thread shuts down
 * the socket of one that has waited longer than api-header-timeout, and MHD then closes it.
 * Records are unlinked under the mutex in the CLOSED notification, before MHD closes the
 * descriptor, so a shutdown never reaches a reused descriptor.
 *
 * Failed logins. A request that presents credentials the token file does not hold is a
 * failed login: logged at warn with the client's address (the first of a window, and the one
 * that locks the address out; the others are counted), and after api-auth-max-failures
 * within api-auth-window the address is locked out for a window: every request from it that
 * needs credentials gets 429 with Retry-After, and its credentials are not even checked, so
 * guessing a token costs a window per few guesses. The table of addresses is bounded; when it
 * is full the entry seen longest ago gives way.
 */
#include <netdb.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api_int.h"
#include "clock.h"

#define FAIL_SLOTS 1024

typedef struct conn_watch {
    int fd;
    atomic_llong since_ms; /* waiting for headers since; 0 = not waiting */
    bool cut;
    struct conn_watch *prev, *next;
} conn_watch;

typedef struct fail_slot {
    char remote[64]; /* "" = free */
    long long window_ms, last_ms, locked_until_ms;
    long long count;
} fail_slot;

struct api_guard {
    api_guard_opts o;
    pthread_mutex_t mu; /* the connection list */
    pthread_cond_t cv;
    conn_watch *head;
    bool run, started;
    pthread_t thr;
    pthread_mutex_t fail_mu; /* the failure table */
    fail_slot fails[FAIL_SLOTS];
    pr_counter *c_cut, *c_failed, *c_locked;
};

static void *watch_main(void *arg)
{
    api_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (g->run) {
        pr_cond_wait_ms(&g->cv, &g->mu, 250);
        long long now = pr_mono_ms();
        for (conn_watch *w = g->head; w; w = w->next) {
            long long since = atomic_load(&w->since_ms);
            if (w->cut || !since || now - since <= g->o.header_timeout_ms)
                continue;
            w->cut = true;
            shutdown(w->fd, SHUT_RDWR);
            pr_counter_inc(g->c_cut);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

pr_status api_guard_new(const api_guard_opts *o, pr_metrics *metrics, api_guard **out, char *err,
                        size_t errlen)
{
    api_guard *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    g->o = *o;
    pthread_mutex_init(&g->mu, NULL);
    pthread_mutex_init(&g->fail_mu, NULL);
    pr_cond_init_mono(&g->cv); /* pr_cond_wait_ms waits on the monotonic clock */
    g->c_cut = pr_metrics_counter(metrics, "phonereport_sink_api_header_timeouts_total",
                                  "API connections cut for taking longer than api-header-timeout "
                                  "to send a request's line and headers",
                                  "");
    g->c_failed =
        pr_metrics_counter(metrics, "phonereport_sink_api_auth_failures_total",
                           "API requests with credentials the token file does not hold", "");
    g->c_locked =
        pr_metrics_counter(metrics, "phonereport_sink_api_auth_lockouts_total",
                           "Client addresses locked out after too many failed logins", "");
    g->run = true;
    if (pthread_create(&g->thr, NULL, watch_main, g) != 0) {
        api_guard_free(g);
        return pr_err(PR_EFATAL, err, errlen, "cannot start the API's header watchdog");
    }
    g->started = true;
    *out = g;
    return PR_OK;
}

void api_guard_free(api_guard *g)
{
    if (!g)
        return;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->run = false;
        pthread_cond_signal(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->thr, NULL);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_mutex_destroy(&g->fail_mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void api_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    api_guard *g = cls;
    conn_watch *w = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        if (!(w = calloc(1, sizeof *w))) {
            shutdown(ci->connect_fd, SHUT_RDWR); /* unwatched, it could hold the port */
            return;
        }
        w->fd = ci->connect_fd;
        atomic_init(&w->since_ms, pr_mono_ms());
        pthread_mutex_lock(&g->mu);
        w->next = g->head;
        if (g->head)
            g->head->prev = w;
        g->head = w;
        pthread_mutex_unlock(&g->mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
        pthread_mutex_lock(&g->mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            g->head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&g->mu);
        free(w);
        *socket_context = NULL;
    }
}

static conn_watch *watch_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void api_guard_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_watch *w = watch_of(c);
    (void)cls;
    (void)toe;
    free(*con_cls); /* api_request, api_raw_uri */
    *con_cls = NULL;
    if (w)
        atomic_store(&w->since_ms, pr_mono_ms());
}

void api_guard_headers_done(struct MHD_Connection *c)
{
    conn_watch *w = watch_of(c);
    if (w)
        atomic_store(&w->since_ms, 0);
}

void api_guard_remote(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    socklen_t sl =
        sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!sa || getnameinfo(sa, sl, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(buf, len, "?");
}

/* The slot of remote (fail_mu held); with make, a new one (the oldest gives way when full). */
static fail_slot *slot_of(api_guard *g, const char *remote, bool make)
{
    fail_slot *oldest = NULL, *empty = NULL;
    for (size_t i = 0; i < FAIL_SLOTS; i++) {
        fail_slot *s = &g->fails[i];
        if (!*s->remote) {
            empty = empty ? empty : s;
            continue;
        }
        if (strcmp(s->remote, remote) == 0)
            return s;
        if (!oldest || s->last_ms < oldest->last_ms)
            oldest = s;
    }
    if (!make)
        return NULL;
    fail_slot *s = empty ? empty : oldest;
    memset(s, 0, sizeof *s);
    snprintf(s->remote, sizeof s->remote, "%s", remote);
    return s;
}

long long api_guard_locked(api_guard *g, const char *remote)
{
    long long now = pr_mono_ms(), left = 0;
    if (g->o.fail_window_ms <= 0)
        return 0;
    pthread_mutex_lock(&g->fail_mu);
    fail_slot *s = slot_of(g, remote, false);
    if (s && s->locked_until_ms > now)
        left = (s->locked_until_ms - now + 999) / 1000;
    pthread_mutex_unlock(&g->fail_mu);
    return left;
}

void api_guard_failed(api_guard *g, const char *remote, const char *method, const char *path)
{
    long long now = pr_mono_ms(), count;
    bool log_first, locked = false;
    pr_counter_inc(g->c_failed);
    pthread_mutex_lock(&g->fail_mu);
    fail_slot *s = slot_of(g, remote, true);
    if (!s->window_ms || now - s->window_ms > g->o.fail_window_ms) {
        s->window_ms = now;
        s->count = 0;
    }
    s->last_ms = now;
    count = ++s->count;
    log_first = count == 1;
    if (g->o.fail_window_ms > 0 && count >= g->o.fail_max && s->locked_until_ms <= now) {
        s->locked_until_ms = now + g->o.fail_window_ms;
        s->window_ms = 0; /* a new window after the lock-out */
        locked = true;
    }
    pthread_mutex_unlock(&g->fail_mu);
    if (locked) {
        pr_counter_inc(g->c_locked);
        PR_LOG(PR_LOG_WARN, "sink", "api login failures: address locked out",
               json_pack("{ss sI sI}", "remote", remote, "failures", (json_int_t)count, "for_ms",
                         (json_int_t)g->o.fail_window_ms));
    } else if (log_first) {
        PR_LOG(PR_LOG_WARN, "sink", "api login failed",
               json_pack("{ss ss ss}", "remote", remote, "method", method, "path", path));
    }
}
