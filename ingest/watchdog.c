/*
 * watchdog.c - every connection's record (libmicrohttpd's socket context), kept from its
 * STARTED to its CLOSED notification, and the header watchdog thread.
 *
 * Header watchdog. libmicrohttpd's connection time-out is an idle time-out: a client that
 * sends one byte of its request line or headers within every idle period (slow-loris) is
 * never cut by it, and the access handler is not called before the headers are complete.
 * So every connection is tracked from libmicrohttpd's connection notifications: it is "in
 * headers" from its start and again after each completed request (keep-alive) until the
 * handler first sees the next request; a thread shuts down the socket of one in headers for
 * longer than header-timeout, and libmicrohttpd then closes it. Entries are unlinked (under
 * hw_mu) in the CLOSED notification, before libmicrohttpd closes the descriptor, so a
 * shutdown never reaches a reused descriptor.
 *
 * The record also holds the request libmicrohttpd has not completed yet: libmicrohttpd
 * 0.9.75 drops some requests (out of pool memory while parsing them) without calling the
 * completion callback, and the CLOSED notification then ends the request through the hook
 * r->hw_dropped (http_conn.c's, set by http.c: this file stands below http_conn.c).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http_int.h"
#include "log.h"
#include "clock.h"

conn_ctx *ingest_watch_ctx(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void ingest_watch_headers(struct MHD_Connection *conn, bool waiting)
{
    conn_ctx *w = ingest_watch_ctx(conn);
    if (!w)
        return;
    if (waiting)
        atomic_store(&w->since_ms, pr_mono_ms());
    atomic_store(&w->in_headers, waiting);
}

void ingest_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode code)
{
    ingest *r = cls;
    conn_ctx *w = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        if (!(w = calloc(1, sizeof *w))) {
            /* without a context a request libmicrohttpd drops could not be freed: refuse */
            shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        w->fd = ci->connect_fd;
        atomic_init(&w->since_ms, pr_mono_ms());
        atomic_init(&w->in_headers, true);
        pthread_mutex_lock(&r->hw_mu);
        w->next = r->hw_head;
        if (r->hw_head)
            r->hw_head->prev = w;
        r->hw_head = w;
        pthread_mutex_unlock(&r->hw_mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
        pthread_mutex_lock(&r->hw_mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            r->hw_head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&r->hw_mu);
        if (w->cur) {
            /* libmicrohttpd 0.9.75 drops some requests it cannot parse (e.g. out of pool
             * memory for the query's arguments) without calling the completion callback:
             * this notification is then the last word on the request. */
            PR_LOG(PR_LOG_DEBUG, "ingest", "request dropped by libmicrohttpd",
                   json_pack("{ss}", "request_id", w->cur->id));
            r->hw_dropped(r, w->cur);
        }
        free(w);
        *socket_context = NULL;
    }
}

static void *watchdog_main(void *arg)
{
    ingest *r = arg;
    pthread_mutex_lock(&r->hw_mu);
    while (atomic_load(&r->hw_run)) {
        pr_cond_wait_ms(&r->hw_cv, &r->hw_mu, 250);
        long long now = pr_mono_ms();
        for (conn_ctx *w = r->hw_head; w; w = w->next) {
            if (w->cut || !atomic_load(&w->in_headers) ||
                now - atomic_load(&w->since_ms) <= r->cfg->header_timeout_ms)
                continue;
            w->cut = true;
            shutdown(w->fd, SHUT_RDWR);
            pr_counter_inc(r->hw_cut);
        }
    }
    pthread_mutex_unlock(&r->hw_mu);
    return NULL;
}

pr_status ingest_watchdog_start(ingest *r, char *err, size_t errlen)
{
    r->hw_cut = pr_metrics_counter(r->metrics, "phonereport_ingest_header_timeouts_total",
                                   "Connections cut for taking longer than header-timeout to "
                                   "send a request's line and headers",
                                   "");
    atomic_store(&r->hw_run, true);
    if (pthread_create(&r->hw_thr, NULL, watchdog_main, r) != 0)
        return pr_err(PR_EFATAL, err, errlen, "cannot start the header watchdog thread");
    r->hw_started = true;
    return PR_OK;
}

void ingest_watchdog_stop(ingest *r)
{
    if (!r->hw_started)
        return;
    pthread_mutex_lock(&r->hw_mu);
    atomic_store(&r->hw_run, false);
    pthread_cond_signal(&r->hw_cv);
    pthread_mutex_unlock(&r->hw_mu);
    pthread_join(r->hw_thr, NULL);
    r->hw_started = false;
}
