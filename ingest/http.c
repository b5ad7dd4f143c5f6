/*
 * http.c - the libmicrohttpd daemon of the edge: its options (threads, limits, TLS, Digest
 * nonces, the callbacks of http_conn.c and watchdog.c), start, quiesce (stop accepting) and
 * stop. How one upload is handled is in http_conn.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"
#include "log.h"

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    PR_LOG(PR_LOG_WARN, "ingest", "http", json_pack("{ss}", "detail", buf));
}

pr_status ingest_http_start(ingest *r, char *err, size_t errlen)
{
    unsigned threads = (unsigned)r->cfg->threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (r->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (r->tls_cert_pem)
        flags |= MHD_USE_TLS;

    struct MHD_OptionItem extra[10];
    size_t nx = 0;
    if (threads > 1)
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    if (r->cfg->max_connections_per_ip > 0)
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                              (intptr_t)r->cfg->max_connections_per_ip, NULL};
    if (r->tls_cert_pem) {
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, r->tls_key_pem};
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, r->tls_cert_pem};
        if (r->tls_ca_pem)
            extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, r->tls_ca_pem};
    }
    if (r->auth || r->cfg->auth_file) {
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_DIGEST_AUTH_RANDOM,
                                              sizeof r->digest_random, r->digest_random};
        extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_NONCE_NC_SIZE, INGEST_NONCE_SLOTS, NULL};
    }
    extra[nx++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    long long timeout_s = (r->cfg->connection_timeout_ms + 999) / 1000;
    r->hw_dropped = ingest_http_req_dropped; /* before the first CLOSED notification */
    r->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, ingest_http_handler, r, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&r->addr, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)r->cfg->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)r->cfg->max_header_bytes, MHD_OPTION_URI_LOG_CALLBACK, ingest_http_uri_log, r,
        MHD_OPTION_NOTIFY_COMPLETED, ingest_http_completed, r, MHD_OPTION_NOTIFY_CONNECTION,
        ingest_watch_notify, r, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (!r->daemon)
        return pr_err(PR_EFATAL, err, errlen, "cannot listen on %s (in use, or bad TLS files?)",
                      r->cfg->listen);
    pr_status st = ingest_watchdog_start(r, err, errlen);
    if (st != PR_OK) {
        MHD_stop_daemon(r->daemon);
        r->daemon = NULL;
        return st;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (di)
        r->port = di->port;
    PR_LOG(PR_LOG_INFO, "ingest", "listening",
           json_pack("{sssisisb}", "listen", r->cfg->listen, "port", (int)r->port, "threads",
                     (int)threads, "tls", r->tls_cert_pem != NULL));
    return PR_OK;
}

void ingest_http_quiesce(ingest *r)
{
    if (!r->daemon)
        return;
    MHD_socket s = MHD_quiesce_daemon(r->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

void ingest_http_stop(ingest *r)
{
    if (r->daemon)
        MHD_stop_daemon(r->daemon); /* CLOSED notifications empty the watch list */
    r->daemon = NULL;
    ingest_watchdog_stop(r);
}
