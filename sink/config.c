/*
 * config.c - the sink's configuration table (names unique across roles: `run` loads every
 * role's section at once) and its cross-field checks, done before anything opens.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sink.h"
#include "listen.h"
#include "sink_internal.h"
#include "sipcreds.h"
#include "sipnotify.h"

#define PR_CFG_STRUCT sink_cfg
static const pr_cfg_entry sink_cfg_table[] = {
    PR_CFG_OPT(
        "api-listen", PR_CFG_STR, "127.0.0.1:8081", api_listen,
        "query API and console address host:port (port 0 = any free port); beyond loopback it "
        "needs api-tokens"),
    PR_CFG_OPT("api-tokens", PR_CFG_STR, NULL, api_tokens,
               "file of API tokens, name:role:secret per line (role read|admin; secret may be "
               "{sha256}hex); re-read on SIGHUP"),
    PR_CFG_OPT(
        "api-insecure-no-auth", PR_CFG_BOOL, "false", api_insecure_no_auth,
        "serve the API without credentials on a non-loopback address (phone configurations to "
        "anyone)"),
    PR_CFG_OPT("api-tls-cert", PR_CFG_STR, NULL, api_tls_cert,
               "PEM certificate (chain) for HTTPS on the API port"),
    PR_CFG_OPT("api-tls-key", PR_CFG_STR, NULL, api_tls_key,
               "PEM private key for HTTPS on the API port"),
    PR_CFG_NUM(
        "api-threads", PR_CFG_INT, "4", api_threads, 1, 256,
        "threads serving the API (each with its own read-only store connection): a slow export "
        "holds one of them"),
    PR_CFG_NUM(
        "api-max-connections", PR_CFG_INT, "1024", api_max_connections, 8, 1000000,
        "simultaneous API connections in total (kept below the descriptor limit); beyond, new "
        "ones are closed at once"),
    PR_CFG_NUM(
        "api-max-connections-per-ip", PR_CFG_INT, "64", api_max_connections_per_ip, 1, 1000000,
        "simultaneous API connections from one client address; beyond, new ones are closed at "
        "once"),
    PR_CFG_NUM("api-connection-timeout", PR_CFG_MS, "30s", api_connection_timeout_ms, 1000, 3600000,
               "idle time after which an API connection is closed"),
    PR_CFG_NUM(
        "api-header-timeout", PR_CFG_MS, "10s", api_header_timeout_ms, 1000, 3600000,
        "longest wait for a request's line and headers, also between keep-alive requests (cuts "
        "clients that trickle them)"),
    PR_CFG_NUM(
        "api-auth-max-failures", PR_CFG_INT, "10", api_auth_max_failures, 1, 1000000,
        "failed API logins from one address within api-auth-window after which it gets 429 for "
        "a window"),
    PR_CFG_NUM("api-auth-window", PR_CFG_MS, "60s", api_auth_window_ms, 1000, 86400000,
               "the window of api-auth-max-failures, and how long a lock-out lasts"),
    PR_CFG_OPT("data-dir", PR_CFG_STR, "./phonereport-data", data_dir,
               "directory of the sink's SQLite store (created if missing)"),
    PR_CFG_OPT(
        "sink-store", PR_CFG_STR, "sqlite", store,
        "where the sink keeps its state: sqlite (one sink, in data-dir) or a PostgreSQL "
        "connection string postgresql://user@host:port/db (libpq's PG* variables apply) shared by "
        "several sinks of one sink-group"),
    PR_CFG_OPT("profiles-dir", PR_CFG_STR, NULL, profiles_dir,
               "intended profiles (<mac>.xml, default.xml) for drift; unset = no drift detection"),
    PR_CFG_NUM("profiles-poll", PR_CFG_MS, "5s", profiles_poll_ms, 100, 3600000,
               "how often the profiles directory is checked for changes (also on SIGHUP)"),
    PR_CFG_OPT("sink-group", PR_CFG_STR, "phonereport-sink", group, "consumer group of the sink"),
    PR_CFG_NUM("sink-batch-max", PR_CFG_INT, "1000", batch_max, 1, 1000000,
               "most records applied in one SQLite transaction"),
    PR_CFG_NUM("sink-batch-time", PR_CFG_MS, "200ms", batch_ms, 1, 60000,
               "longest time a batch stays open before it is committed"),
    PR_CFG_NUM("sink-changes-keep", PR_CFG_INT, "1000", changes_keep, 0, 100000000,
               "change rows kept per phone in the store for /changes (0 = all)"),
    PR_CFG_NUM(
        "sink-topic-partitions", PR_CFG_INT, "0", state_partitions, 0, 100000,
        "partitions of the state/changes/drift topics when the sink creates them (0 = broker "
        "default)"),
    PR_CFG_OPT("sink-sync", PR_CFG_STR, "full", sync,
               "SQLite synchronous mode: full (durable on power loss) or normal"),
    PR_CFG_NUM(
        "sink-max-params", PR_CFG_INT, "10000", max_params, 0, 10000000,
        "most parameters one phone may hold; a report that would exceed it is refused (counted "
        "as invalid, reason too_large) and the phone keeps its state (0 = no bound)"),
    PR_CFG_NUM(
        "sink-max-state-bytes", PR_CFG_BYTES, "2m", max_state_bytes, 0, 1000000000,
        "largest state record one phone may have (its parameters as JSON); a report that would "
        "exceed it is refused like one over sink-max-params; also the state topic's "
        "max.message.bytes when the sink creates it (0 = no bound)"),
    PR_CFG_OPT(
        "sink-index-params", PR_CFG_STR, SINK_INDEX_DEFAULT, index_params,
        "parameters whose values fleet search finds through an index (names and globs, comma "
        "separated; none = no index); others are found by a scan bounded in time that answers "
        "\"indexed\": false. A change rebuilds the index at start-up"),
    PR_CFG_NUM(
        "sink-parse-threads", PR_CFG_INT, "1", parse_threads, 0, 16,
        "threads that parse and digest events beside the thread that writes the store (0 = the "
        "writer parses)"),
    PR_CFG_NUM(
        "sink-outbox-max", PR_CFG_INT, "1000000", outbox_max, 0, 1000000000,
        "outbox rows (records not yet confirmed by Kafka) at which the sink pauses consumption "
        "until the publisher catches up (0 = no bound)"),
    PR_CFG_NUM("sink-poison-retries", PR_CFG_INT, "3", poison_retries, 1, 100,
               "times a record that fails on a store that answers is retried alone before it is "
               "skipped into the sink-dlq topic (counted, logged)"),
    PR_CFG_OPT(
        "rebaseline-credentials", PR_CFG_STR, NULL, rebaseline_credentials,
        "re-baseline on: Digest credentials file (as phonereport notify --credentials) for SIP "
        "NOTIFYs (Event: report) to phones whose state is incomplete (or not seen for "
        "rebaseline-after); unset = the sink sends none"),
    PR_CFG_NUM("rebaseline-sip-port", PR_CFG_INT, "5060", rebaseline_sip_port, 1, 65535,
               "the phones' SIP port: NOTIFYs go to sip:[User_ID_1_@]<last remote address>:<port>"),
    PR_CFG_OPT("rebaseline-proxy", PR_CFG_STR, NULL, rebaseline_proxy,
               "outbound proxy sip:host[:port]: NOTIFYs go instead to the line's address of record "
               "User_ID_1_@Proxy_1_ through it"),
    PR_CFG_NUM("rebaseline-rate", PR_CFG_INT, "10", rebaseline_rate, 1, 1000,
               "most NOTIFYs per second, fleet-wide"),
    PR_CFG_NUM("rebaseline-interval", PR_CFG_MS, "1h", rebaseline_interval_ms, 100,
               31LL * 86400 * 1000, "least time between two requests to one phone"),
    PR_CFG_NUM(
        "rebaseline-after", PR_CFG_MS, "0", rebaseline_after_ms, 0, 366LL * 86400 * 1000,
        "also ask phones not seen (no configuration or status report) for this long; 0 = only "
        "incomplete ones"),
    PR_CFG_NUM("rebaseline-timeout", PR_CFG_MS, "10s", rebaseline_timeout_ms, 100, 120000,
               "time for a phone to answer a NOTIFY, challenge round included"),
    PR_CFG_OPT(
        "remediate-drift", PR_CFG_STR, "off", remediate_drift,
        "what the sink does about open drift: off (alert only), or resync (a SIP NOTIFY with "
        "Event: resync, through the re-baseline thread and its rate, so that the phone fetches "
        "its profile again; needs rebaseline-credentials and profiles-dir)"),
    PR_CFG_NUM("remediate-after", PR_CFG_MS, "10m", remediate_after_ms, 0, 366LL * 86400 * 1000,
               "how long a drift stays open before its phone is asked to resync"),
    PR_CFG_NUM("remediate-interval", PR_CFG_MS, "1h", remediate_interval_ms, 1000,
               31LL * 86400 * 1000, "least time between two resyncs of one phone (drift or API)"),
    PR_CFG_OPT("remediate-ignore", PR_CFG_STR, NULL, remediate_ignore,
               "parameters (names and globs, comma separated) whose drift never triggers a resync"),
    PR_CFG_END,
};
#undef PR_CFG_STRUCT

const char *sink_cfg_store(const sink_cfg *cfg)
{
    return sink_store_is_pg(cfg->store) ? cfg->store : cfg->data_dir;
}

PR_ROLE_CFG(sink, "sink (state, drift, query API)", sink_cfg_table)

/* A directory that exists, or whose parent exists so that we can create it. */
static int dir_usable(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0)
        return S_ISDIR(sb.st_mode) && access(path, W_OK | X_OK) == 0 ? 0 : -1;
    char parent[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof parent)
        return -1;
    memcpy(parent, path, n + 1);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        strcpy(parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return stat(parent, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

pr_status sink_cfg_check(const sink_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs)
{
    int bad = 0;
    char err[512];
    unsigned port;
    struct sockaddr_storage ss;
    struct stat sb;
    (void)common;
    if (pr_listen_resolve(cfg->api_listen, "api-listen", &ss, &port, err, sizeof err) != PR_OK) {
        pr_errlist_add(errs, "%s", err);
        bad++;
    }
    if (cfg->store && strcmp(cfg->store, "sqlite") != 0 && !sink_store_is_pg(cfg->store)) {
        char *shown = pr_cfg_mask_secrets(cfg->store); /* a mistyped scheme still has a password */
        pr_errlist_add(errs,
                       "sink-store: '%s' is neither sqlite nor a postgresql:// connection string",
                       shown ? shown : "(not shown)");
        free(shown);
        bad++;
    }
    if (sink_store_is_pg(cfg->store)) {
        /* data-dir is not used */
    } else if (!cfg->data_dir || !*cfg->data_dir) {
        pr_errlist_add(errs, "data-dir: must be set");
        bad++;
    } else if (dir_usable(cfg->data_dir) != 0) {
        pr_errlist_add(errs, "data-dir: '%s' is not a writable directory and cannot be created",
                       cfg->data_dir);
        bad++;
    }
    if (cfg->profiles_dir && (stat(cfg->profiles_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        pr_errlist_add(errs, "profiles-dir: '%s' is not a directory", cfg->profiles_dir);
        bad++;
    }
    if (!cfg->group || !*cfg->group) {
        pr_errlist_add(errs, "sink-group: must not be empty");
        bad++;
    }
    if (sink_index_check(cfg->index_params, err, sizeof err) != PR_OK) {
        pr_errlist_add(errs, "%s", err);
        bad++;
    }
    /* Access control (api_auth.c): credentials by default beyond loopback. */
    if (cfg->api_tokens && sink_auth_check_file(cfg->api_tokens, err, sizeof err) != PR_OK) {
        pr_errlist_add(errs, "%s", err);
        bad++;
    }
    if (!cfg->api_tokens && !cfg->api_insecure_no_auth && cfg->api_listen &&
        !sink_listen_is_loopback(cfg->api_listen)) {
        pr_errlist_add(errs,
                       "api-listen: %s is not a loopback address and no api-tokens file is set: "
                       "give --api-tokens FILE, or --api-insecure-no-auth to serve phone "
                       "configurations to anyone who can reach it",
                       cfg->api_listen);
        bad++;
    }
    if ((cfg->api_tls_cert == NULL) != (cfg->api_tls_key == NULL)) {
        pr_errlist_add(errs, "api-tls-cert and api-tls-key go together");
        bad++;
    }
    if (cfg->api_tls_cert && access(cfg->api_tls_cert, R_OK) != 0) {
        pr_errlist_add(errs, "api-tls-cert: cannot read %s", cfg->api_tls_cert);
        bad++;
    }
    if (cfg->api_tls_key && access(cfg->api_tls_key, R_OK) != 0) {
        pr_errlist_add(errs, "api-tls-key: cannot read %s", cfg->api_tls_key);
        bad++;
    }
    if (cfg->rebaseline_credentials) { /* read now: a typo must not silently send none */
        pr_sipcreds *creds = NULL;
        if (pr_sipcreds_load(cfg->rebaseline_credentials, &creds, err, sizeof err) != PR_OK) {
            pr_errlist_add(errs, "rebaseline-credentials: %s", err);
            bad++;
        }
        pr_sipcreds_free(creds);
    }
    if (cfg->rebaseline_proxy &&
        pr_sipnotify_check_uri(cfg->rebaseline_proxy, err, sizeof err) != PR_OK) {
        pr_errlist_add(errs, "rebaseline-proxy: %s", err);
        bad++;
    }
    if (sink_remediate_check(cfg, err, sizeof err) != PR_OK) {
        pr_errlist_add(errs, "%s", err);
        bad++;
    }
    if (cfg->sync && strcmp(cfg->sync, "full") != 0 && strcmp(cfg->sync, "normal") != 0) {
        pr_errlist_add(errs, "sink-sync: '%s' is not full or normal", cfg->sync);
        bad++;
    }
    return bad ? PR_EINVAL : PR_OK;
}
