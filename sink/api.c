/*
 * api.c - the query API's daemon (DESIGN section 6) on libmicrohttpd: its options, threads,
 * limits and store connections; start, reload, stop. What it answers is in api_routes.c
 * (the router and the per-phone resources), api_phones.c (fleet search and export),
 * api_auth.c (tokens), api_guard.c (header time-out, failed logins) and api_console.c.
 *
 * Limits, as the edge has them (the same port serves /healthz, /readyz and /metrics, so a
 * client that could fill it would make a healthy sink look dead): at most
 * max-connections-per-ip connections from one address, max-connections in total (kept below
 * the process's descriptor limit), an idle time-out, and a header time-out that cuts a
 * connection trickling its request line or headers (api_guard.c).
 *
 * DESIGN: a pool of `threads` MHD threads (epoll where there is one) serves the connections;
 * handlers take a read-only store connection (SQLite WAL: it never blocks the writer) from a
 * pool of at most `threads` connections for the time of one answer or one export page.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "api_int.h"
#include "clock.h"
#include "file.h"
#include "listen.h"

#define STORE_LOG_EVERY_MS 10000
#define FD_RESERVE         64 /* descriptors kept for the store, Kafka, files */

sink_store *api_store_take(sink_api *a, char *err, size_t errlen)
{
    sink_store *st = NULL;
    pthread_mutex_lock(&a->st_mu);
    while (!a->st_nfree && a->st_open >= a->st_max)
        pthread_cond_wait(&a->st_cv, &a->st_mu);
    if (a->st_nfree) {
        st = a->st_free[--a->st_nfree];
        pthread_mutex_unlock(&a->st_mu);
        return st;
    }
    a->st_open++; /* opened outside the lock: PostgreSQL may take a while */
    pthread_mutex_unlock(&a->st_mu);
    if (sink_store_open(a->where, true, NULL, &st, err, errlen) != PR_OK) {
        pthread_mutex_lock(&a->st_mu);
        a->st_open--;
        pthread_cond_signal(&a->st_cv);
        pthread_mutex_unlock(&a->st_mu);
        return NULL;
    }
    return st;
}

void api_store_give(sink_api *a, sink_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&a->st_mu);
    a->st_free[a->st_nfree++] = st;
    pthread_cond_signal(&a->st_cv);
    pthread_mutex_unlock(&a->st_mu);
}

void api_store_failed(sink_api *a, const char *err)
{
    long long now = pr_mono_ms(), last = atomic_load(&a->store_log_ms);
    if (last && now - last < STORE_LOG_EVERY_MS) {
        atomic_fetch_add(&a->store_log_quiet, 1);
        return;
    }
    if (!atomic_compare_exchange_strong(&a->store_log_ms, &last, now)) {
        atomic_fetch_add(&a->store_log_quiet, 1);
        return;
    }
    long quiet = atomic_exchange(&a->store_log_quiet, 0);
    PR_LOG(PR_LOG_ERROR, "sink", "query failed",
           json_pack("{ss si}", "error", err, "not_logged_since", (int)quiet));
}

pr_status sink_api_start(const char *listen, const char *data_dir, pr_metrics *metrics,
                         atomic_int *ready, sink_api **out, char *err, size_t errlen)
{
    sink_api_opts o = {.listen = listen, .data_dir = data_dir};
    return sink_api_start_opts(&o, metrics, ready, out, err, errlen);
}

static long long or_default(long long v, long long def)
{
    return v > 0 ? v : def;
}

/* max-connections, below the descriptor limit: a full table refuses new connections at once
 * instead of failing accept() for everyone. */
static unsigned connection_limit(long long want, long long threads)
{
    struct rlimit rl;
    long long lim = or_default(want, 1024);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long long)rl.rlim_cur - FD_RESERVE - 2 * threads < lim)
        lim = (long long)rl.rlim_cur - FD_RESERVE - 2 * threads;
    return lim < 8 ? 8 : (unsigned)lim;
}

static pr_status read_tls(sink_api *a, const sink_api_opts *o, char *err, size_t errlen)
{
    char terr[256];
    pr_status rc;
    if ((rc = pr_file_read(o->tls_cert, 1u << 20, &a->tls_cert_pem, NULL, terr, sizeof terr)) !=
            PR_OK ||
        (rc = pr_file_read(o->tls_key, 1u << 20, &a->tls_key_pem, NULL, terr, sizeof terr)) !=
            PR_OK)
        return pr_err(rc, err, errlen, "api TLS: %s", terr);
    return PR_OK;
}

static void make_metrics(sink_api *a, pr_metrics *metrics)
{
    static const char *const codes[9] = {"200",   "400", "404", "405", "500",
                                         "other", "401", "403", "429"};
    a->g_phones = pr_metrics_gauge(metrics, "phonereport_sink_phones", "Phones in the store", "");
    a->g_drifted = pr_metrics_gauge(metrics, "phonereport_sink_drifted_params",
                                    "Parameters currently drifted from the intended profile", "");
    a->g_outbox = pr_metrics_gauge(metrics, "phonereport_sink_outbox_pending",
                                   "Output records written but not yet confirmed by Kafka", "");
    for (int i = 0; i < 9; i++)
        a->c_requests[i] =
            pr_metrics_counter_by(metrics, "phonereport_sink_api_requests_total",
                                  "Query API responses by status code", "code", codes[i]);
    a->c_export_failed =
        pr_metrics_counter(metrics, "phonereport_sink_api_exports_failed_total",
                           "Exports cut short by a store error after their first page", "");
}

pr_status sink_api_start_opts(const sink_api_opts *o, pr_metrics *metrics, atomic_int *ready,
                              sink_api **out, char *err, size_t errlen)
{
    const char *listen = o->listen;
    unsigned port;
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    pr_status rc;
    sink_api *a = NULL;
    struct MHD_OptionItem extra[4] = {{MHD_OPTION_END, 0, NULL}};
    size_t nx = 0;
    long long threads = or_default(o->threads, 4);

    *out = NULL;
    memset(&ss, 0, sizeof ss);
    if ((rc = pr_listen_resolve(listen, "api-listen", &ss, &port, err, errlen)) != PR_OK)
        return rc;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (!(a = calloc(1, sizeof *a)))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    pthread_mutex_init(&a->st_mu, NULL);
    pthread_cond_init(&a->st_cv, NULL);
    a->metrics = metrics;
    a->ready = ready;
    a->rebaseline = o->rebaseline;
    a->st_max = (size_t)threads;
    if (!(a->where = strdup(o->data_dir)) ||
        !(a->st_free = calloc(a->st_max, sizeof *a->st_free))) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto fail;
    }
    /* One connection now: a store that cannot be opened fails the start, not the first
     * request. */
    sink_store *first = api_store_take(a, err, errlen);
    if (!first) {
        rc = PR_EFATAL;
        goto fail;
    }
    api_store_give(a, first);
    if ((rc = sink_auth_new(o->tokens, &a->auth, err, errlen)) != PR_OK)
        goto fail;
    api_guard_opts go = {or_default(o->header_timeout_ms, 10000), or_default(o->auth_fail_max, 10),
                         or_default(o->auth_window_ms, 60000)};
    if ((rc = api_guard_new(&go, metrics, &a->guard, err, errlen)) != PR_OK)
        goto fail;
    if (o->tls_cert) {
        if ((rc = read_tls(a, o, err, errlen)) != PR_OK)
            goto fail;
        flags |= MHD_USE_TLS;
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, a->tls_key_pem};
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, a->tls_cert_pem};
    }
    if (threads > 1)
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    extra[nx] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    make_metrics(a, metrics);
    long long idle_s = (or_default(o->connection_timeout_ms, 30000) + 999) / 1000;
    a->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, api_handle, a, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle_s,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit(o->max_connections, threads),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)or_default(o->max_connections_per_ip, 64),
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, a->guard,
        MHD_OPTION_NOTIFY_COMPLETED, api_guard_completed, a->guard, MHD_OPTION_URI_LOG_CALLBACK,
        api_raw_uri, a, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (!a->d) {
        rc = pr_err(PR_EFATAL, err, errlen, "cannot listen on %s%s", listen,
                    o->tls_cert ? " (in use, or bad TLS files?)" : "");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : port;
    *out = a;
    return PR_OK;
fail:
    sink_api_stop(a);
    return rc;
}

unsigned sink_api_bound_port(const sink_api *a)
{
    return a ? a->port : 0;
}

pr_status sink_api_add_ready_check(sink_api *a, sink_api_ready_fn fn, void *ctx)
{
    int n = atomic_load(&a->nchecks);
    if (n >= API_READY_MAX)
        return PR_EINVAL;
    a->checks[n] = (api_ready_check){fn, ctx};
    atomic_store(&a->nchecks, n + 1);
    return PR_OK;
}

void sink_api_stop(sink_api *a)
{
    if (!a)
        return;
    if (a->d)
        MHD_stop_daemon(a->d);
    for (size_t i = 0; i < a->st_nfree; i++)
        sink_store_close(a->st_free[i]);
    free(a->st_free);
    free(a->where);
    pthread_mutex_destroy(&a->st_mu);
    pthread_cond_destroy(&a->st_cv);
    sink_auth_free(a->auth);
    api_guard_free(a->guard);
    free(a->tls_cert_pem);
    free(a->tls_key_pem);
    free(a);
}

void sink_api_reload(sink_api *a)
{
    char err[512];
    if (a && sink_auth_reload(a->auth, err, sizeof err) != PR_OK)
        PR_LOG(PR_LOG_ERROR, "sink", "api tokens not reloaded: the previous ones stay in force",
               json_pack("{ss}", "error", err));
}
