/*
 * run.c - composes the roles in one process: `phonereport run` (all of them, on an embedded
 * broker unless --brokers is given) and `phonereport ingest|decode|sink` (one each).
 *
 * DESIGN: the roles never see each other; this file loads their config sections together
 * (names are unique across roles), validates everything before any socket opens, creates one
 * metrics registry for the process, then creates and starts the roles (sink, decoder, ingest:
 * consumers are ready before phones are accepted) and stops them in the reverse order on
 * SIGINT/SIGTERM. SIGHUP asks each role to re-read its files. The embedded broker is
 * librdkafka's in-process mock cluster: it keeps nothing across restarts.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "contract.h"
#include "decoder.h"
#include "ingest.h"
#include "kafka.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "rule_cmd.h"
#include "signals.h"
#include "sink.h"

int run_main(int argc, char **argv);
int ingest_main(int argc, char **argv);
int decoder_main(int argc, char **argv);
int sink_main(int argc, char **argv);

enum { ROLE_INGEST = 1, ROLE_DECODER = 2, ROLE_SINK = 4, ROLE_ALL = 7 };

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

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version, const char *upload,
                                       size_t *upload_len, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    struct MHD_Response *resp;
    unsigned code = MHD_HTTP_OK;
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0) {
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        resp = MHD_create_response_from_buffer(20, "method not allowed\n", MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, "Allow", "GET");
    } else if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *text = pr_metrics_render(cls, &len);
        if (!text) {
            code = MHD_HTTP_INTERNAL_SERVER_ERROR;
            resp = MHD_create_response_from_buffer(14, "out of memory\n", MHD_RESPMEM_PERSISTENT);
        } else {
            resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
            if (resp)
                MHD_add_response_header(resp, "Content-Type",
                                        "text/plain; version=0.0.4; charset=utf-8");
            else
                free(text);
        }
    } else if (strcmp(url, "/healthz") == 0) {
        resp = MHD_create_response_from_buffer(3, "ok\n", MHD_RESPMEM_PERSISTENT);
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

static struct MHD_Daemon *metrics_start(const char *spec, pr_metrics *m)
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
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, metrics_handler, m,
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

static int embedded_start(embedded *eb, const char *prefix, int partitions, char **bootstraps)
{
    char err[512], name[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "phonereport-embedded-broker", NULL, 0);
    /* It has no bootstrap.servers by design: silence that notice. */
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    eb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!eb->rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "phonereport run: cannot start the embedded broker: %s\n", err);
        return -1;
    }
    eb->mc = rd_kafka_mock_cluster_new(eb->rk, 1);
    if (!eb->mc) {
        fprintf(stderr, "phonereport run: cannot start the embedded broker\n");
        return -1;
    }
    for (int t = 0; t < PR_TOPIC__COUNT; t++) {
        pr_topic_name(prefix, (pr_topic)t, name, sizeof name);
        rd_kafka_mock_topic_create(eb->mc, name, partitions, 1);
    }
    *bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(eb->mc));
    return *bootstraps ? 0 : -1;
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

static void print_banner(const run_cfg *rc, bool embedded_broker, const char *brokers,
                         unsigned ingest_port, unsigned api_port)
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
    printf("  Query:  http://%s:%u/v1/phones   metrics: /metrics on both ports\n\n", host,
           api_port);
    printf("Put these upload options in the phones' cfg.xml (phonereport rule --help for more):\n");
    fflush(stdout);
    char *rargv[] = {"rule", "--url", url, "--delta", "--status", NULL};
    rule_cmd_main(5, rargv);
    printf("\nCtrl-C stops everything cleanly.\n");
    fflush(stdout);
}

/* Runs the roles' own checks (which write one line per problem) and reprints their lines
 * prefixed with the command. Returns the number of problems, counting `loader_failed`. */
static int check_roles(const char *cmd, bool is_run, bool loader_failed, const proc_cfg *pcfg,
                       const ingest_cfg *icfg, const decoder_cfg *dcfg, const sink_cfg *scfg,
                       const pr_common_cfg *common)
{
    struct sockaddr_storage ss;
    unsigned port;
    char err[512];
    char *text = NULL;
    size_t len = 0;
    int bad = loader_failed ? 1 : 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return bad + 1;
    if (!is_run && (!common->brokers || !*common->brokers)) {
        fprintf(f, "--brokers is required (or PHONEREPORT_BROKERS)\n");
        bad++;
    }
    if (pcfg->metrics_listen && pr_listen_resolve(pcfg->metrics_listen, "metrics-listen", &ss,
                                                  &port, err, sizeof err) != PR_OK) {
        fprintf(f, "%s\n", err);
        bad++;
    }
    /* kafka.* pass-through: what librdkafka refuses is known now, not at start-up */
    rd_kafka_conf_t *kc = pr_kafka_conf_new(common, "check", NULL, err, sizeof err);
    if (!kc) {
        fprintf(f, "%s\n", err);
        bad++;
    } else {
        rd_kafka_conf_destroy(kc);
    }
    if (icfg && ingest_cfg_check(icfg, common, f) != PR_OK)
        bad++;
    if (dcfg && decoder_cfg_check(dcfg, common, f) != PR_OK)
        bad++;
    if (scfg && sink_cfg_check(scfg, common, f) != PR_OK)
        bad++;
    fclose(f);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        fprintf(stderr, "phonereport %s: %.*s\n", cmd, nl ? (int)(nl - line) : (int)strlen(line),
                line);
        if (!nl)
            break;
    }
    free(text);
    return bad;
}

static int compose(int argc, char **argv, unsigned roles, const char *usage, const char *about)
{
    int rc = 1;
    char err[1024];
    ingest_cfg *icfg = NULL;
    decoder_cfg *dcfg = NULL;
    sink_cfg *scfg = NULL;
    ingest *ing = NULL;
    decoder *dec = NULL;
    sink *snk = NULL;
    run_cfg rcfg = {0};
    proc_cfg pcfg = {0};
    struct MHD_Daemon *metrics_d = NULL;
    pr_common_cfg common = {0};
    pr_cfg_section secs[5];
    size_t nsecs = 0;
    pr_metrics *metrics = NULL;
    embedded eb = {0};
    bool is_run = roles == ROLE_ALL, use_embedded = false;

    if (roles & ROLE_INGEST) {
        if (!(icfg = ingest_cfg_new()))
            goto out;
        secs[nsecs++] = ingest_cfg_section(icfg);
    }
    if (roles & ROLE_DECODER) {
        if (!(dcfg = decoder_cfg_new()))
            goto out;
        secs[nsecs++] = decoder_cfg_section(dcfg);
    }
    if (roles & ROLE_SINK) {
        if (!(scfg = sink_cfg_new()))
            goto out;
        secs[nsecs++] = sink_cfg_section(scfg);
    }
    if (is_run)
        secs[nsecs++] = (pr_cfg_section){"run", run_cfg_table, &rcfg};
    secs[nsecs++] = (pr_cfg_section){"process", proc_cfg_table, &pcfg};

    /* Every problem is reported at once: the loader's, then each role's own checks, each
     * line prefixed with the command; nothing has been opened yet. */
    pr_cfg_result loaded =
        pr_cfg_load(secs, nsecs, &common, argc, argv, NULL, usage, about, stdout, stderr);
    if (loaded == PR_CFG_EXIT_OK) {
        rc = 0;
        goto out;
    }
    if (check_roles(argv[0], is_run, loaded == PR_CFG_EXIT_ERROR, &pcfg, icfg, dcfg, scfg,
                    &common) != 0) {
        rc = PR_EXIT_CONFIG;
        goto out;
    }
    pr_log_set_level_name(common.log_level);
    pr_signals_install();
    if (!(metrics = pr_metrics_new()))
        goto out;

    if (pcfg.metrics_listen && !(metrics_d = metrics_start(pcfg.metrics_listen, metrics)))
        goto out;
    if (is_run && (!common.brokers || !*common.brokers)) {
        free(common.brokers);
        common.brokers = NULL;
        if (embedded_start(&eb, common.topic_prefix, (int)rcfg.embedded_partitions,
                           &common.brokers) != 0)
            goto out;
        use_embedded = true;
        PR_LOG(PR_LOG_WARN, "run", "embedded broker: nothing is kept across restarts",
               json_pack("{ss}", "brokers", common.brokers));
    }

    if (scfg && sink_new(&common, scfg, metrics, &snk, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot create the sink", json_pack("{ss}", "error", err));
        goto out;
    }
    if (dcfg && decoder_new(&common, dcfg, metrics, &dec, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot create the decoder", json_pack("{ss}", "error", err));
        goto out;
    }
    if (icfg && ingest_new(&common, icfg, metrics, &ing, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot create ingest", json_pack("{ss}", "error", err));
        goto out;
    }
    if (snk && sink_start(snk, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot start the sink", json_pack("{ss}", "error", err));
        goto out;
    }
    if (dec && decoder_start(dec, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot start the decoder", json_pack("{ss}", "error", err));
        goto out;
    }
    if (ing && ingest_start(ing, err, sizeof err) != PR_OK) {
        PR_LOG(PR_LOG_ERROR, "run", "cannot start ingest", json_pack("{ss}", "error", err));
        goto out;
    }
    PR_LOG(PR_LOG_INFO, "run", "started",
           json_pack("{sssbsisi}", "brokers", common.brokers, "embedded", use_embedded,
                     "ingest_port", ing ? (int)ingest_port(ing) : 0, "api_port",
                     snk ? (int)sink_api_port(snk) : 0));
    if (is_run)
        print_banner(&rcfg, use_embedded, common.brokers, ingest_port(ing), sink_api_port(snk));

    while (!pr_signals_wait_stop(200)) {
        if (pr_signals_take_reload()) {
            PR_LOG(PR_LOG_INFO, "run", "SIGHUP: reloading", NULL);
            if (ing)
                ingest_reload(ing);
            if (dec)
                decoder_reload(dec);
            if (snk)
                sink_reload(snk);
        }
    }
    PR_LOG(PR_LOG_INFO, "run", "stopping", NULL);
    rc = 0;
    if (dec && decoder_failed(dec)) {
        PR_LOG(PR_LOG_ERROR, "run", "the decoder stopped on a fatal error", NULL);
        rc = 70; /* EX_SOFTWARE */
    }
out:
    /* Stop in reverse order: no new reports, then drain the decoder, then the sink. */
    if (ing)
        ingest_stop(ing);
    if (dec)
        decoder_stop(dec);
    if (snk)
        sink_stop(snk);
    ingest_free(ing);
    decoder_free(dec);
    sink_free(snk);
    embedded_stop(&eb);
    if (metrics_d)
        MHD_stop_daemon(metrics_d);
    pr_metrics_free(metrics);
    pr_cfg_release(secs, nsecs, &common);
    ingest_cfg_free(icfg);
    decoder_cfg_free(dcfg);
    sink_cfg_free(scfg);
    if (rc != PR_EXIT_CONFIG && (ing || dec || snk))
        PR_LOG(PR_LOG_INFO, "run", "stopped", NULL);
    return rc;
}

int run_main(int argc, char **argv)
{
    return compose(argc, argv, ROLE_ALL, "phonereport run [options]",
                   "Runs ingest, decoder and sink in one process. Without --brokers it starts an "
                   "embedded\nKafka-protocol broker (librdkafka's mock cluster) that keeps "
                   "nothing across restarts:\nfor trying phonereport on one machine. "
                   "Production uses real Kafka (--brokers).");
}

int ingest_main(int argc, char **argv)
{
    return compose(argc, argv, ROLE_INGEST, "phonereport ingest --brokers HOST:PORT [options]",
                   "The HTTP edge: phones PUT or POST their reports; each is published to "
                   "<prefix>raw and\nacknowledged (200) only after Kafka has it; 503 with "
                   "Retry-After otherwise.");
}

int decoder_main(int argc, char **argv)
{
    return compose(argc, argv, ROLE_DECODER, "phonereport decode --brokers HOST:PORT [options]",
                   "Consumes <prefix>raw, decrypts and parses each report and produces a JSON "
                   "event to\n<prefix>config or <prefix>status, or a record to <prefix>dlq, "
                   "in Kafka transactions.");
}

int sink_main(int argc, char **argv)
{
    return compose(argc, argv, ROLE_SINK, "phonereport sink --brokers HOST:PORT [options]",
                   "Rebuilds every phone's current configuration from <prefix>config and "
                   "<prefix>status in\nSQLite, publishes state, changes and drift, and "
                   "serves the query API.");
}
