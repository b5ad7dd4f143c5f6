/*
 * run.c - composes the roles in one process: `phonereport run` (all of them, on an embedded
 * broker unless --brokers is given) and `phonereport ingest|decode|sink` (one each).
 *
 * DESIGN: the roles never see each other; this file knows them only through their
 * descriptors (proto/role.h) in the table cmd_roles. It loads their config sections together
 * (names are unique across roles), validates everything before any socket opens, creates one
 * metrics registry for the process, then creates and starts the roles in table order (sink,
 * decoder, ingest: consumers are ready before phones are accepted) and stops them in the
 * reverse order on SIGINT/SIGTERM. SIGHUP asks each role to re-read its files. Under systemd
 * (Type=notify) it sends READY=1 once every role is ready, as /readyz would answer 200. A
 * failure's status class decides the exit status (pr_status_exit_code). The embedded broker
 * is librdkafka's in-process mock cluster: it keeps nothing across restarts.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "contract.h"
#include "decoder.h"
#include "ingest.h"
#include "kafka.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "ops_http.h"
#include "sdnotify.h"
#include "signals.h"
#include "sink.h"

const pr_role *const cmd_roles[] = {&sink_role, &decoder_role, &ingest_role};
const size_t cmd_roles_len = sizeof cmd_roles / sizeof cmd_roles[0];
#define NROLES (sizeof cmd_roles / sizeof cmd_roles[0])

/* One role of this process: its descriptor, config and instance. */
typedef struct slot {
    const pr_role *role;
    void *cfg;
    void *inst;
} slot;

typedef struct run_cfg {
    long long embedded_partitions;
    char *public_url;
} run_cfg;

static const pr_cfg_entry run_cfg_table[] = {
    {"embedded-partitions", PR_CFG_INT, "3", offsetof(run_cfg, embedded_partitions), 1, 64,
     "partitions per topic on the embedded broker (when --brokers is not given)"},
    {"public-url", PR_CFG_STR, NULL, offsetof(run_cfg, public_url), 0, 0,
     "base URL phones use to reach ingest, for the printed Report_Rule (default: this host)"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* Settings of the process itself, whatever roles it runs. */
typedef struct proc_cfg {
    char *metrics_listen;
} proc_cfg;

static const pr_cfg_entry proc_cfg_table[] = {
    {"metrics-listen", PR_CFG_STR, NULL, offsetof(proc_cfg, metrics_listen), 0, 0,
     "extra HTTP port for /metrics and /healthz, host:port (for `decode`, which has no port)"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* --metrics-listen: the operations endpoints of the whole process (the process is ready when
 * every role it runs is). */
typedef struct ops_ctx {
    pr_metrics *metrics;
    const slot *slots;
    size_t n;
    atomic_bool started; /* slots[].inst are written before this is set, and not after */
} ops_ctx;

static const char *process_ready(void *ctx)
{
    ops_ctx *o = ctx;
    if (!atomic_load(&o->started))
        return "starting";
    for (size_t i = 0; i < o->n; i++)
        if (!o->slots[i].inst || !o->slots[i].role->ready(o->slots[i].inst))
            return "not ready";
    return NULL;
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version, const char *upload,
                                       size_t *upload_len, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    ops_ctx *o = cls;
    struct MHD_Response *resp;
    unsigned code = MHD_HTTP_OK;
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        resp = MHD_create_response_from_buffer(19, "method not allowed\n", MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, "Allow", "GET, HEAD");
    } else if (pr_ops_is_endpoint(url)) {
        resp = pr_ops_response(url, o->metrics, process_ready, o, &code);
    } else {
        code = MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(10, "not found\n", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static struct MHD_Daemon *metrics_start(const char *spec, ops_ctx *o)
{
    struct sockaddr_storage ss;
    unsigned port;
    char err[512];
    if (pr_listen_resolve(spec, "metrics-listen", &ss, &port, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot serve metrics", json_pack("{ss}", "error", err));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, metrics_handler, o,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 30U, MHD_OPTION_END);
    if (!d) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot listen for metrics",
               json_pack("{ss}", "metrics_listen", spec));
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    PR_LOG(PR_LOG_INFO, "run", "serving metrics",
           json_pack("{si}", "metrics_port", info ? (int)info->port : (int)port));
    return d;
}

/* The embedded broker: a mock cluster owned by a throw-away producer handle. */
typedef struct embedded {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
} embedded;

static pr_status embedded_start(embedded *eb, const char *prefix, int partitions, char **bootstraps,
                                char *err, size_t errlen)
{
    char name[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "phonereport-embedded-broker", NULL, 0);
    /* It has no bootstrap.servers by design: silence that notice. */
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    eb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!eb->rk) {
        rd_kafka_conf_destroy(conf);
        return PR_EFATAL;
    }
    eb->mc = rd_kafka_mock_cluster_new(eb->rk, 1);
    if (!eb->mc)
        return pr_err(PR_EFATAL, err, errlen, "the mock cluster cannot start");
    for (int t = 0; t < PR_TOPIC__COUNT; t++) {
        if (pr_topic_name(prefix, (pr_topic)t, name, sizeof name) != PR_OK)
            return pr_err(PR_EINVAL, err, errlen, "topic prefix too long");
        rd_kafka_mock_topic_create(eb->mc, name, partitions, 1);
    }
    *bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(eb->mc));
    return *bootstraps ? PR_OK : pr_err(PR_EFATAL, err, errlen, "out of memory");
}

static void embedded_stop(embedded *eb)
{
    if (eb->mc)
        rd_kafka_mock_cluster_destroy(eb->mc);
    if (eb->rk)
        rd_kafka_destroy(eb->rk);
    eb->mc = NULL;
    eb->rk = NULL;
}

/* api_credentials: the API asks for them (--api-tokens); else it answers anyone who reaches
 * it, which the sink allows beyond loopback only with --api-insecure-no-auth. */
static void print_banner(const run_cfg *rc, bool embedded_broker, const char *brokers,
                         unsigned ingest_port, unsigned api_port, bool api_credentials)
{
    char host[256] = "localhost", url[512];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    if (rc->public_url && *rc->public_url)
        snprintf(url, sizeof url, "%s", rc->public_url);
    else
        snprintf(url, sizeof url, "http://%s:%u/r", host, ingest_port);
    printf("phonereport %s is running: ingest, decoder and sink in one process.\n\n", PR_VERSION);
    if (embedded_broker)
        printf("  Kafka:  EMBEDDED test broker (librdkafka mock cluster) at %s.\n"
               "          It keeps NOTHING across restarts: for trying phonereport out only.\n"
               "          Production uses real Kafka: --brokers HOST:PORT (see README).\n",
               brokers);
    else
        printf("  Kafka:  %s\n", brokers);
    printf("  Phones: report to %s/$MA/... (HTTP PUT or POST)\n", url);
    printf("  Query:  http://127.0.0.1:%u/ (console) and /v1/phones; metrics: /metrics on both "
           "ports\n",
           api_port);
    if (api_credentials)
        printf("          The API asks for a token or password from --api-tokens (README, "
               "\"Access control\");\n          the probes, /metrics and the console's page stay "
               "open.\n\n");
    else
        printf("          The API answers without credentials: keep --api-listen on loopback, or "
               "give\n          --api-tokens FILE (README, \"Access control\").\n\n");
    printf("Put these upload options in the phones' cfg.xml (phonereport rule --help for more):\n");
    fflush(stdout);
    char *rargv[] = {"rule", "--url", url, "--delta", "--status", NULL};
    rule_main(5, rargv);
    printf("\nCtrl-C stops everything cleanly.\n");
    fflush(stdout);
}

/* The checks after loading: what the loader cannot know (addresses, librdkafka's verdict on the
 * kafka.* pass-through, each role's cross-field checks). Every problem goes into errs. */
static void check_all(bool is_run, const proc_cfg *pcfg, const slot *slots, size_t n,
                      const pr_common_cfg *common, pr_errlist *errs)
{
    struct sockaddr_storage ss;
    unsigned port;
    char err[512];
    if (!is_run && (!common->brokers || !*common->brokers))
        pr_errlist_add(errs, "--brokers is required (or PHONEREPORT_BROKERS)");
    if (pcfg->metrics_listen && pr_listen_resolve(pcfg->metrics_listen, "metrics-listen", &ss,
                                                  &port, err, sizeof err) != PR_OK)
        pr_errlist_add(errs, "%s", err);
    /* kafka.* pass-through: what librdkafka refuses is known now, not at start-up */
    rd_kafka_conf_t *kc = pr_kafka_conf_new(common, "check", NULL, err, sizeof err);
    if (!kc)
        pr_errlist_add(errs, "%s", err);
    else
        rd_kafka_conf_destroy(kc);
    for (size_t i = 0; i < n; i++)
        slots[i].role->cfg_check(slots[i].cfg, common, errs);
}

static void *inst_of(const slot *slots, size_t n, const pr_role *role)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i].role == role)
            return slots[i].inst;
    return NULL;
}

/* Composes the roles `which` (a subset of cmd_roles, in that order). */
static int compose(int argc, char **argv, const pr_role *const *which, size_t n, bool is_run,
                   const char *usage, const char *about)
{
    int rc = PR_EXIT_SOFTWARE;
    pr_status st;
    char err[1024];
    slot slots[NROLES] = {{0}};
    run_cfg rcfg = {0};
    proc_cfg pcfg = {0};
    struct MHD_Daemon *metrics_d = NULL;
    pr_common_cfg common = {0};
    pr_cfg_section secs[NROLES + 2];
    size_t nsecs = 0, created = 0;
    pr_metrics *metrics = NULL;
    pr_errlist errs = {0};
    ops_ctx ops = {.slots = slots, .n = n, .started = false};
    embedded eb = {0};
    bool use_embedded = false;

    for (size_t i = 0; i < n; i++) {
        slots[i].role = which[i];
        if (!(slots[i].cfg = which[i]->cfg_new()))
            goto out;
        secs[nsecs++] = which[i]->cfg_section(slots[i].cfg);
    }
    if (is_run)
        secs[nsecs++] = (pr_cfg_section){"run", run_cfg_table, &rcfg, NULL};
    secs[nsecs++] = (pr_cfg_section){"process", proc_cfg_table, &pcfg, NULL};

    /* Every problem is reported at once: the loader's, then the checks', each line prefixed
     * with the command; nothing has been opened yet. */
    pr_cfg_result loaded =
        pr_cfg_load(secs, nsecs, &common, argc, argv, NULL, usage, about, stdout, stderr);
    if (loaded == PR_CFG_EXIT_OK) {
        rc = 0;
        goto out;
    }
    check_all(is_run, &pcfg, slots, n, &common, &errs);
    if (loaded != PR_CFG_OK || pr_errlist_count(&errs)) {
        char prefix[96];
        snprintf(prefix, sizeof prefix, "phonereport %s: ", argv[0]);
        pr_errlist_print(&errs, prefix, stderr);
        rc = PR_EXIT_CONFIG;
        goto out;
    }
    pr_log_set_level_name(common.log_level);
    pr_signals_install();
    if (!(metrics = pr_metrics_new()))
        goto out;

    ops.metrics = metrics;
    if (pcfg.metrics_listen && !(metrics_d = metrics_start(pcfg.metrics_listen, &ops)))
        goto out;
    if (is_run && (!common.brokers || !*common.brokers)) {
        free(common.brokers);
        common.brokers = NULL;
        if ((st = embedded_start(&eb, common.topic_prefix, (int)rcfg.embedded_partitions,
                                 &common.brokers, err, sizeof err)) != PR_OK) {
            PR_LOG(PR_LOG_ERROR, "run", "cannot start the embedded broker",
                   json_pack("{ss}", "error", err));
            rc = pr_status_exit_code(st);
            goto out;
        }
        use_embedded = true;
        PR_LOG(PR_LOG_WARN, "run", "embedded broker: nothing is kept across restarts",
               json_pack("{ss}", "brokers", common.brokers));
    }

    for (created = 0; created < n; created++) {
        const pr_role *r = slots[created].role;
        if ((st = r->create(&common, slots[created].cfg, metrics, &slots[created].inst, err,
                            sizeof err)) != PR_OK) {
            PR_LOG(
                PR_LOG_ERROR, "run", "cannot create a role",
                json_pack("{ssssss}", "role", r->name, "error", err, "class", pr_status_name(st)));
            rc = pr_status_exit_code(st);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const pr_role *r = slots[i].role;
        if ((st = r->start(slots[i].inst, err, sizeof err)) != PR_OK) {
            PR_LOG(
                PR_LOG_ERROR, "run", "cannot start a role",
                json_pack("{ssssss}", "role", r->name, "error", err, "class", pr_status_name(st)));
            rc = pr_status_exit_code(st);
            goto out;
        }
    }
    atomic_store(&ops.started, true);
    void *ing = inst_of(slots, n, &ingest_role), *snk = inst_of(slots, n, &sink_role);
    unsigned ingest_port = ing ? ingest_role.port(ing) : 0,
             api_port = snk ? sink_role.port(snk) : 0;
    PR_LOG(PR_LOG_INFO, "run", "started",
           json_pack("{sssbsisi}", "brokers", common.brokers, "embedded", use_embedded,
                     "ingest_port", (int)ingest_port, "api_port", (int)api_port));
    if (is_run)
        print_banner(&rcfg, use_embedded, common.brokers, ingest_port, api_port,
                     snk && sink_api_asks_credentials(snk));

    bool notified = false; /* systemd's READY=1 (Type=notify units in packaging/) */
    bool failed = false;
    while (!failed && !pr_signals_wait_stop(200)) {
        if (!notified && !process_ready(&ops)) {
            notified = true;
            if ((st = pr_sd_notify("READY=1", err, sizeof err)) != PR_OK)
                PR_LOG(PR_LOG_WARN, "run", "cannot tell systemd we are ready",
                       json_pack("{ss}", "error", err));
        }
        if (pr_signals_take_reload()) {
            PR_LOG(PR_LOG_INFO, "run", "SIGHUP: reloading", NULL);
            for (size_t i = 0; i < n; i++)
                slots[i].role->reload(slots[i].inst);
        }
        /* A role that stopped itself on a fatal error (the sink's dead publisher) ends the
         * process with 70 (below), so that an orchestrator restarts it. */
        for (size_t i = 0; i < n && !failed; i++)
            failed = slots[i].role->failed && slots[i].role->failed(slots[i].inst);
    }
    PR_LOG(PR_LOG_INFO, "run", "stopping", NULL);
    pr_sd_notify("STOPPING=1", err, sizeof err);
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        const pr_role *r = slots[i].role;
        if (r->failed && r->failed(slots[i].inst)) {
            PR_LOG(PR_LOG_ERROR, "run", "a role stopped on a fatal error",
                   json_pack("{ss}", "role", r->name));
            rc = PR_EXIT_SOFTWARE;
        }
    }
out:
    /* Stop in reverse order: no new reports, then drain the decoder, then the sink. */
    for (size_t i = created; i-- > 0;)
        slots[i].role->stop(slots[i].inst);
    /* The metrics port asks the roles whether they are ready: it ends before they are freed. */
    if (metrics_d)
        MHD_stop_daemon(metrics_d);
    for (size_t i = created; i-- > 0;)
        slots[i].role->destroy(slots[i].inst);
    embedded_stop(&eb);
    pr_metrics_free(metrics);
    pr_cfg_release(secs, nsecs, &common);
    for (size_t i = 0; i < n; i++)
        if (slots[i].cfg)
            slots[i].role->cfg_free(slots[i].cfg);
    pr_errlist_release(&errs);
    if (rc != PR_EXIT_CONFIG && created)
        PR_LOG(PR_LOG_INFO, "run", "stopped", NULL);
    return rc;
}

int run_main(int argc, char **argv)
{
    return compose(argc, argv, cmd_roles, NROLES, true, "phonereport run [options]",
                   "Runs ingest, decoder and sink in one process. Without --brokers it starts an "
                   "embedded\nKafka-protocol broker (librdkafka's mock cluster) that keeps "
                   "nothing across restarts:\nfor trying phonereport on one machine. "
                   "Production uses real Kafka (--brokers).");
}

int role_main(const pr_role *role, int argc, char **argv)
{
    char usage[128];
    snprintf(usage, sizeof usage, "phonereport %s --brokers HOST:PORT [options]", role->command);
    return compose(argc, argv, &role, 1, false, usage, role->about);
}
