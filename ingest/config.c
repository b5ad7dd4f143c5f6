/*
 * config.c - the ingest role's configuration: its table for pr_cfg_load (flags, environment,
 * JSON file, --help), and ingest_cfg_check, which validates every setting (and reads the
 * files named) before any socket is opened, reporting all problems at once.
 *
 * Names are unique across roles because `run` loads every section together: generic ones
 * carry no prefix only where no other role could want them (`listen` is the phones' port).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest_int.h"
#include "listen.h"

#define PR_CFG_STRUCT struct ingest_cfg
static const pr_cfg_entry ingest_cfg_table[] = {
    PR_CFG_OPT("listen", PR_CFG_STR, "0.0.0.0:8080", listen,
               "address the phones reach: host:port, [v6]:port or :port (port 0 = any free port)"),
    PR_CFG_OPT("upload-prefixes", PR_CFG_STR, "/", upload_prefixes,
               "comma-separated URL path prefixes that accept PUT/POST uploads"),
    PR_CFG_NUM("max-body-bytes", PR_CFG_BYTES, "4m", max_body_bytes, 1, 1LL << 30,
               "largest report body; larger ones get 413"),
    PR_CFG_NUM("max-inflight-bytes", PR_CFG_BYTES, "256m", max_inflight_bytes, 1024, 1LL << 40,
               "bytes of bodies being received or waiting for Kafka's ack; beyond, 503"),
    PR_CFG_NUM("max-inflight-bytes-per-ip", PR_CFG_BYTES, "0", max_inflight_bytes_per_ip, 0,
               1LL << 40,
               "the part of max-inflight-bytes one client address may hold; beyond, 503 (0 = an "
               "eighth, at least max-body-bytes)"),
    PR_CFG_NUM("max-header-bytes", PR_CFG_BYTES, "32k", max_header_bytes, 4096, 1LL << 24,
               "memory per connection for the request line and headers (libmicrohttpd pool)"),
    PR_CFG_OPT("identity-order", PR_CFG_STR, "cert,path,query,user-agent", identity_order,
               "where the phone's MAC is looked for, first found names the source; all must agree"),
    PR_CFG_OPT(
        "allow-macs", PR_CFG_STR, NULL, allow_macs,
        "comma-separated MACs or hex prefixes (OUI, e.g. 00562b) allowed to upload; unset = all"),
    PR_CFG_OPT("kind-status-pattern", PR_CFG_STR, "*status*", kind_status_pattern,
               "comma-separated globs on the URL path that make a report a status report"),
    PR_CFG_OPT("kind-delta-pattern", PR_CFG_STR, "*delta*", kind_delta_pattern,
               "comma-separated globs on the URL path that make a report a delta"),
    PR_CFG_OPT("kind-full-pattern", PR_CFG_STR, "*", kind_full_pattern,
               "comma-separated globs for full reports (checked last); other paths are `unknown`"),
    PR_CFG_OPT("auth-file", PR_CFG_STR, NULL, auth_file,
               "credentials file (user:password[:mac] per line, see README); unset = no auth"),
    PR_CFG_OPT("auth-scheme", PR_CFG_STR, "digest", auth_scheme,
               "HTTP authentication challenge sent to phones: basic|digest"),
    PR_CFG_OPT("auth-realm", PR_CFG_STR, "phonereport", auth_realm, "authentication realm"),
    PR_CFG_OPT("tls-cert", PR_CFG_STR, NULL, tls_cert, "PEM certificate (chain) for HTTPS"),
    PR_CFG_OPT("tls-key", PR_CFG_STR, NULL, tls_key, "PEM private key for HTTPS"),
    PR_CFG_OPT(
        "tls-client-ca", PR_CFG_STR, NULL, tls_client_ca,
        "PEM CA: request and verify phones' client certificates (the `cert` identity source)"),
    PR_CFG_OPT("tls-client-cert-optional", PR_CFG_BOOL, "false", tls_client_optional,
               "with tls-client-ca, also accept phones that present no certificate"),
    PR_CFG_NUM("connection-timeout", PR_CFG_MS, "30s", connection_timeout_ms, 1000, 3600000,
               "idle time after which a connection is closed (cuts slow clients)"),
    PR_CFG_NUM("upload-timeout", PR_CFG_MS, "120s", request_timeout_ms, 1000, 3600000,
               "longest time to receive one upload (cuts clients that trickle a body)"),
    PR_CFG_NUM("header-timeout", PR_CFG_MS, "30s", header_timeout_ms, 1000, 3600000,
               "longest wait for a request's line and headers, also between keep-alive requests "
               "(cuts clients that trickle headers)"),
    PR_CFG_NUM("max-connections", PR_CFG_INT, "4096", max_connections, 1, 1000000,
               "simultaneous connections in total"),
    PR_CFG_NUM("max-connections-per-ip", PR_CFG_INT, "0", max_connections_per_ip, 0, 1000000,
               "simultaneous connections per client address (0 = no limit)"),
    PR_CFG_NUM("threads", PR_CFG_INT, "0", threads, 0, 1024, "HTTP threads (0 = one per CPU)"),
    PR_CFG_NUM("ack-timeout", PR_CFG_MS, "10s", ack_timeout_ms, 100, 900000,
               "longest wait for Kafka's ack before answering 503 (message.timeout.ms)"),
    PR_CFG_NUM("ingest-shutdown-timeout", PR_CFG_MS, "10s", shutdown_timeout_ms, 0, 600000,
               "on stop, how long to wait for reports still waiting for Kafka"),
    PR_CFG_NUM("retry-after", PR_CFG_MS, "5s", retry_after_ms, 1000, 86400000,
               "Retry-After sent with 503 answers"),
    PR_CFG_NUM("raw-partitions", PR_CFG_INT, "0", raw_partitions, 0, 100000,
               "partitions when ingest creates the raw topic (0 = broker default)"),
    PR_CFG_NUM("ingest-probe-interval", PR_CFG_MS, "1s", ready_probe_ms, 100, 60000,
               "how often Kafka reachability is probed for /readyz"),
    PR_CFG_END,
};
#undef PR_CFG_STRUCT

PR_ROLE_CFG(ingest, "ingest (HTTP edge)", ingest_cfg_table)

static int file_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

pr_status ingest_cfg_check(const ingest_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs)
{
    char err[512];
    int bad = 0;
    (void)common;

#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        pr_errlist_add(errs, "ingest: " __VA_ARGS__);                                              \
        bad++;                                                                                     \
    } while (0)

    struct sockaddr_storage addr;
    unsigned port = 0;
    if (pr_listen_resolve(cfg->listen, "listen", &addr, &port, err, sizeof err) != PR_OK)
        PROBLEM("%s", err);

    ingest_prefixes pfx;
    if (ingest_prefixes_parse(cfg->upload_prefixes, &pfx, err, sizeof err) != PR_OK)
        PROBLEM("upload-prefixes: %s", err);
    else
        ingest_prefixes_release(&pfx);

    ingest_identity_order order;
    int order_ok = 0, order_has_cert = 0;
    if (ingest_identity_order_parse(cfg->identity_order, &order, err, sizeof err) != PR_OK) {
        PROBLEM("identity-order: %s", err);
    } else {
        order_ok = 1;
        for (size_t i = 0; i < order.n; i++)
            order_has_cert |= order.src[i] == PR_MAC_SRC_CERT;
    }

    ingest_allow allow;
    if (ingest_allow_parse(cfg->allow_macs, &allow, err, sizeof err) != PR_OK)
        PROBLEM("allow-macs: %s", err);
    else
        ingest_allow_release(&allow);

    ingest_kind_rules rules;
    if (ingest_kind_rules_parse(cfg->kind_status_pattern, cfg->kind_delta_pattern,
                                cfg->kind_full_pattern, &rules, err, sizeof err) != PR_OK)
        PROBLEM("%s", err);
    else
        ingest_kind_rules_release(&rules);

    if (cfg->max_inflight_bytes < cfg->max_body_bytes)
        PROBLEM("max-inflight-bytes (%lld) must be at least max-body-bytes (%lld)",
                cfg->max_inflight_bytes, cfg->max_body_bytes);
    if (cfg->max_inflight_bytes_per_ip &&
        (cfg->max_inflight_bytes_per_ip < cfg->max_body_bytes ||
         cfg->max_inflight_bytes_per_ip > cfg->max_inflight_bytes))
        PROBLEM("max-inflight-bytes-per-ip (%lld) must be between max-body-bytes (%lld) and "
                "max-inflight-bytes (%lld)",
                cfg->max_inflight_bytes_per_ip, cfg->max_body_bytes, cfg->max_inflight_bytes);

    int basic = cfg->auth_scheme && strcmp(cfg->auth_scheme, "basic") == 0;
    int digest = cfg->auth_scheme && strcmp(cfg->auth_scheme, "digest") == 0;
    if (!basic && !digest)
        PROBLEM("auth-scheme: '%s' is not basic or digest",
                cfg->auth_scheme ? cfg->auth_scheme : "");
    if (!cfg->auth_realm || !*cfg->auth_realm || strchr(cfg->auth_realm, '"'))
        PROBLEM("auth-realm: must be non-empty and contain no '\"'");
    if (cfg->auth_file) {
        ingest_auth *a = NULL;
        if (ingest_auth_load(cfg->auth_file, &a, err, sizeof err) != PR_OK)
            PROBLEM("auth-file: %s", err);
        else if (digest && ingest_auth_has_basic_only(a))
            PROBLEM("auth-file: {sha256} entries cannot answer Digest; use auth-scheme=basic "
                    "or {md5-ha1}/clear-text entries");
        ingest_auth_free(a);
    }

    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
        PROBLEM("tls-cert and tls-key go together");
    if (cfg->tls_cert && !file_readable(cfg->tls_cert))
        PROBLEM("tls-cert: cannot read %s", cfg->tls_cert);
    if (cfg->tls_key && !file_readable(cfg->tls_key))
        PROBLEM("tls-key: cannot read %s", cfg->tls_key);
    if (cfg->tls_client_ca && !cfg->tls_cert)
        PROBLEM("tls-client-ca needs tls-cert and tls-key (client certificates need HTTPS)");
    if (cfg->tls_client_ca && !file_readable(cfg->tls_client_ca))
        PROBLEM("tls-client-ca: cannot read %s", cfg->tls_client_ca);
    if (cfg->tls_client_ca && order_ok && !order_has_cert)
        PROBLEM("tls-client-ca is set but identity-order does not name `cert`");
#undef PROBLEM
    return bad ? PR_EINVAL : PR_OK;
}
