/*
 * notify.c - `phonereport notify`: asks phones for a report now. A Cisco MPP phone at its
 * default Report_To_Server (On Request) uploads only when it restarts or when it receives an
 * authenticated SIP NOTIFY with `Event: report` (DESIGN section 5 "On request").
 *
 *   --target sip:user@host[:port]  one SIP URI, as given
 *   --mac MAC --api URL            one phone: its last remote address from the sink's API
 *                                  (GET /v1/phones/{mac} -> "remote"), SIP port --sip-port
 *   --all --api URL [filters]      every phone GET /v1/phones lists (paging with "next"),
 *                                  narrowed by --incomplete, --model, --drifted, --not-seen-for
 *   --proxy sip:host[:port]        with --mac/--all: send to the line's address of record
 *                                  User_ID_n_@Proxy_n_ from GET /v1/phones/{mac}/config
 *                                  through this outbound proxy; with --target: the next hop
 *
 * Prints one JSON line per phone on stdout ({"mac","target","result","status","reason",
 * "elapsed_ms","challenged"}), logs on stderr. The NOTIFY itself, the Digest answer and the
 * RFC 3261 timers are proto/sipnotify.c; the credentials file is proto/sipcreds.c.
 *
 * DESIGN: every target is resolved (notify_api.c: API calls, one at a time, with libcurl) before
 * the first NOTIFY leaves, so a fleet run's SIP part runs at the configured rate and concurrency
 * without waiting on HTTP; a phone that cannot be resolved gets its JSON line at once.
 */
#include "commands.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "mac.h"
#include "notify_int.h"
#include "signals.h"
#include "sipcreds.h"
#include "sipnotify.h"
#include "status.h"

#define EXIT_USAGE 64

#define PR_CFG_STRUCT notify_cfg
static const pr_cfg_entry notify_cfg_table[] = {
    PR_CFG_OPT("target", PR_CFG_STR, NULL, target,
               "notify this SIP URI: sip:[user@]host[:port][;transport=tcp]"),
    PR_CFG_OPT("mac", PR_CFG_STR, NULL, mac,
               "notify this phone at its last address known to the sink (needs --api)"),
    PR_CFG_OPT("all", PR_CFG_BOOL, "false", all,
               "notify every phone the sink lists, narrowed by the filters below (needs --api)"),
    PR_CFG_OPT("api", PR_CFG_STR, NULL, api,
               "the sink's query API, e.g. http://127.0.0.1:8081 (for --mac and --all)"),
    PR_CFG_OPT(
        "api-token-file", PR_CFG_STR, NULL, api_token_file,
        "file holding the token for a sink started with --api-tokens (its first line; sent as "
        "Authorization: Bearer, never logged)"),
    PR_CFG_OPT(
        "api-token", PR_CFG_SECRET, NULL, api_token,
        "the token itself, for the environment (PHONEREPORT_NOTIFY_API_TOKEN): on the command "
        "line other users see it in ps; --api-token-file wins"),
    PR_CFG_OPT("incomplete", PR_CFG_BOOL, "false", incomplete,
               "--all: only phones whose state is incomplete (no full report yet)"),
    PR_CFG_OPT("model", PR_CFG_STR, NULL, model,
               "--all: only phones of this model, e.g. CP-8841-3PCC"),
    PR_CFG_OPT("drifted", PR_CFG_BOOL, "false", drifted,
               "--all: only phones with drifted parameters"),
    PR_CFG_OPT("not-seen-for", PR_CFG_MS, "0", not_seen_for,
               "--all: only phones whose last report is older than this (e.g. 24h); 0 = any"),
    PR_CFG_NUM("sip-port", PR_CFG_INT, "5060", sip_port, 1, 65535,
               "the phones' SIP port (the sink knows their address, not their SIP port)"),
    PR_CFG_OPT(
        "proxy", PR_CFG_STR, NULL, proxy,
        "outbound proxy sip:host[:port]; with --mac/--all the NOTIFY goes to the line's AOR"),
    PR_CFG_NUM("line", PR_CFG_INT, "1", line, 1, 16,
               "--proxy: the line whose User_ID_n_@Proxy_n_ is the address of record"),
    PR_CFG_OPT("event", PR_CFG_STR, "report", event,
               "Event header: report (upload a report), or e.g. resync, reboot_now, prt-gen"),
    PR_CFG_OPT("subscription-state", PR_CFG_STR, "terminated", subscription_state,
               "Subscription-State header (RFC 6665: every NOTIFY has one); \"\" omits it"),
    PR_CFG_OPT("credentials", PR_CFG_STR, NULL, credentials,
               "JSON file of Digest credentials per MAC, per SIP user or default (see README)"),
    PR_CFG_NUM("concurrency", PR_CFG_INT, "16", concurrency, 1, 1024, "phones notified at once"),
    PR_CFG_NUM("rate", PR_CFG_INT, "20", rate, 0, 10000,
               "new NOTIFYs per second; 0 = no limit but --concurrency"),
    PR_CFG_NUM("t1", PR_CFG_MS, "500ms", t1, 10, 10000,
               "RFC 3261 T1: UDP retransmits at T1, 2*T1, ...; no answer after 64*T1 = timeout"),
    PR_CFG_NUM("timeout", PR_CFG_MS, "0", timeout, 0, 3600000,
               "deadline per phone, challenge round included; 0 = 3*64*T1"),
    PR_CFG_OPT("bind", PR_CFG_STR, NULL, bind,
               "local address the NOTIFYs leave from (any port); default all IPv4 addresses"),
    PR_CFG_OPT("tcp", PR_CFG_BOOL, "false", tcp,
               "also open TCP (needed for targets with ;transport=tcp)"),
    PR_CFG_OPT("from", PR_CFG_STR, NULL, from, "From URI; default sip:phonereport@<local address>"),
    PR_CFG_NUM("api-timeout", PR_CFG_MS, "10s", api_timeout, 100, 600000,
               "time limit of each request to the sink's API"),
    PR_CFG_OPT("log-level", PR_CFG_STR, "info", log_level,
               "debug|info|warn|error (JSON lines on stderr)"),
    PR_CFG_END,
};
#undef PR_CFG_STRUCT

static const char ABOUT[] =
    "Asks Cisco MPP phones for a report now: sends each an out-of-dialog SIP NOTIFY\n"
    "(Event: report, Subscription-State: terminated) and answers its Digest challenge\n"
    "(401/407) with credentials from --credentials. A phone at Report_To_Server \"On Request\"\n"
    "(the default) then uploads its report to its Report_Rule URL.\n"
    "\n"
    "Targets: exactly one of --target URI, --mac MAC, --all. --mac and --all read the\n"
    "phones' last remote address from the sink's API (--api; the \"remote\" field of\n"
    "GET /v1/phones/{mac}) and send to sip:<address>:<--sip-port>. With --proxy, --mac and\n"
    "--all send instead to the line's address of record User_ID_1_@Proxy_1_ (from\n"
    "GET /v1/phones/{mac}/config) through that proxy.\n"
    "\n"
    "Output: one JSON line per phone on stdout: mac (if known), target, result (accepted,\n"
    "refused, timeout, unreachable, bad_response, not_sent, unknown_phone, no_address,\n"
    "api_error), status (the final SIP status, or null), reason, elapsed_ms, challenged.\n"
    "Environment: PHONEREPORT_NOTIFY_<OPTION> (PHONEREPORT_TARGET and PHONEREPORT_API, the\n"
    "old names, still work and say they are deprecated).\n"
    "Exit status: 0 every phone accepted (2xx), 1 some did not, 64 no or several target\n"
    "selectors, 78 bad configuration (malformed URI or MAC, missing credentials file).";

/* ---- output ---------------------------------------------------------------------------- */

void notify_print_line(const char *mac, const char *target, const char *result, int status,
                       const char *reason, long long elapsed_ms, bool challenged)
{
    json_t *o = json_pack(
        "{s:o s:o s:s s:o s:s s:I s:b}", "mac", mac && *mac ? json_string(mac) : json_null(),
        "target", target ? json_string(target) : json_null(), "result", result, "status",
        status ? json_integer(status) : json_null(), "reason", reason ? reason : "", "elapsed_ms",
        (json_int_t)elapsed_ms, "challenged", challenged);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line) {
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(line);
    json_decref(o);
}

/* ---- SIP ------------------------------------------------------------------------------- */

static void result_cb(void *ctx, const pr_sipnotify_target *t, const pr_sipnotify_result *res)
{
    notify_run *r = ctx;
    if (res->outcome == PR_SIPNOTIFY_ACCEPTED)
        r->accepted++;
    else
        r->failed++;
    notify_print_line(t->mac, t->uri, pr_sipnotify_outcome_name(res->outcome), res->status,
                      res->reason, res->elapsed_ms, res->challenged);
}

/* ---- the command ----------------------------------------------------------------------- */

#define ENV_PREFIX "PHONEREPORT_NOTIFY_"

static void cfg_release(notify_cfg *c)
{
    pr_cfg_section s = {"notify", notify_cfg_table, c, ENV_PREFIX};
    pr_cfg_release(&s, 1, NULL);
}

/* The environment names before PHONEREPORT_NOTIFY_: still read (when the new one is unset),
 * with a warning. */
static void env_deprecated(void)
{
    static const char *const old[][2] = {{"PHONEREPORT_TARGET", ENV_PREFIX "TARGET"},
                                         {"PHONEREPORT_API", ENV_PREFIX "API"}};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        const char *v = getenv(old[i][0]);
        if (!v || getenv(old[i][1]))
            continue;
        fprintf(stderr, PROG ": %s is deprecated: use %s\n", old[i][0], old[i][1]);
        setenv(old[i][1], v, 0);
    }
}

/* Checks what the loader cannot; prints each problem. Returns 0, EXIT_USAGE or 78. */
static int check_cfg(notify_cfg *c, char *mac)
{
    char err[256];
    int usage = 0, bad = 0;
    int selectors = (c->target != NULL) + (c->mac != NULL) + c->all;

    if (selectors != 1) {
        fprintf(stderr, PROG ": give exactly one of --target, --mac, --all (see --help)\n");
        usage = 1;
    }
    if ((c->mac || c->all) && (!c->api || !*c->api)) {
        fprintf(stderr, PROG ": --mac and --all need --api (the sink's query API)\n");
        usage = 1;
    }
    if (!c->all && (c->incomplete || c->drifted || c->model || c->not_seen_for)) {
        fprintf(stderr, PROG ": --incomplete, --drifted, --model, --not-seen-for need --all\n");
        usage = 1;
    }
    if (usage)
        return EXIT_USAGE;
    if (pr_log_set_level_name(c->log_level) != 0) {
        fprintf(stderr, PROG ": --log-level: '%s' is not one of debug, info, warn, error\n",
                c->log_level);
        bad = 1;
    }
    if (c->target && pr_sipnotify_check_uri(c->target, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG ": --target: %s\n", err);
        bad = 1;
    }
    if (c->proxy && pr_sipnotify_check_uri(c->proxy, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG ": --proxy: %s\n", err);
        bad = 1;
    }
    if (c->mac && pr_mac_parse(c->mac, strlen(c->mac), mac, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG ": --mac: %s\n", err);
        bad = 1;
    }
    if (c->api && strncmp(c->api, "http://", 7) != 0 && strncmp(c->api, "https://", 8) != 0) {
        fprintf(stderr, PROG ": --api: '%s' is not an http:// or https:// URL\n", c->api);
        bad = 1;
    }
    if (!c->event || !*c->event || strpbrk(c->event, " \t\r\n;,")) {
        fprintf(stderr, PROG ": --event: expected an event package name, e.g. report\n");
        bad = 1;
    }
    if (c->subscription_state && strpbrk(c->subscription_state, "\r\n")) {
        fprintf(stderr, PROG ": --subscription-state: must be one line\n");
        bad = 1;
    }
    return bad ? PR_EXIT_CONFIG : 0;
}

int notify_main(int argc, char **argv)
{
    notify_cfg cfg;
    notify_run r;
    pr_sipnotify *sn = NULL;
    pr_sipnotify_target *targets = NULL;
    char mac[PR_MAC_LEN + 1] = "", err[512];
    int rc = 1;

    memset(&cfg, 0, sizeof cfg);
    memset(&r, 0, sizeof r);
    r.cfg = &cfg;
    pr_cfg_section sec = {"notify", notify_cfg_table, &cfg, ENV_PREFIX};
    env_deprecated();
    pr_cfg_result loaded =
        pr_cfg_load(&sec, 1, NULL, argc, argv, NULL, PROG " [options]", ABOUT, stdout, stderr);
    if (loaded == PR_CFG_EXIT_OK) {
        rc = 0;
        goto out;
    }
    if (loaded == PR_CFG_EXIT_ERROR) {
        rc = PR_EXIT_CONFIG;
        goto out;
    }
    if ((rc = check_cfg(&cfg, mac)) != 0)
        goto out;
    rc = PR_EXIT_CONFIG;
    if (cfg.credentials && pr_sipcreds_load(cfg.credentials, &r.creds, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG ": --credentials: %s\n", err);
        goto out;
    }
    pr_signals_install();

    pr_sipnotify_opts o = {
        .bind = cfg.bind,
        .event = cfg.event,
        .subscription_state = cfg.subscription_state ? cfg.subscription_state : "",
        .from = cfg.from,
        .concurrency = (unsigned)cfg.concurrency,
        .rate = (double)cfg.rate,
        .t1_ms = (unsigned)cfg.t1,
        .deadline_ms = cfg.timeout,
        .tcp = cfg.tcp,
        .stop_requested = pr_signals_stop_requested,
        .credentials = pr_sipcreds_answer,
        .credentials_ctx = r.creds,
    };
    if (cfg.from && pr_sipnotify_check_uri(cfg.from, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG ": --from: %s\n", err);
        goto out;
    }
    pr_status st = pr_sipnotify_new(&o, &sn, err, sizeof err);
    if (st != PR_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        rc = st == PR_EINVAL ? PR_EXIT_CONFIG : 1;
        goto out;
    }
    rc = 1;

    if (cfg.mac || cfg.all) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(r.curl = curl_easy_init())) {
            fprintf(stderr, PROG ": cannot initialise libcurl\n");
            goto out;
        }
        curl_easy_setopt(r.curl, CURLOPT_TIMEOUT_MS, (long)cfg.api_timeout);
        curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r.curl, CURLOPT_USERAGENT, "phonereport-notify/" PR_VERSION);
        if ((rc = notify_load_token(&r)) != 0)
            goto out;
        rc = 1;
        if (r.auth) /* not sent again on a redirect to another host (libcurl's default) */
            curl_easy_setopt(r.curl, CURLOPT_HTTPHEADER, r.auth);
    }
    if (cfg.target) {
        entry *e = notify_entries_add(&r.e);
        if (!e || !(e->uri = strdup(cfg.target)) || (cfg.proxy && !(e->proxy = strdup(cfg.proxy))))
            goto out;
    } else if (cfg.mac) {
        entry *e = notify_entries_add(&r.e);
        if (!e)
            goto out;
        memcpy(e->mac, mac, sizeof mac);
        notify_resolve(&r, e, NULL);
    } else if (notify_collect_all(&r) != 0) {
        goto out;
    }

    size_t n = 0;
    targets = calloc(r.e.len ? r.e.len : 1, sizeof *targets);
    if (!targets)
        goto out;
    for (size_t i = 0; i < r.e.len; i++) {
        entry *e = &r.e.v[i];
        if (e->unresolved) {
            r.failed++;
            notify_print_line(e->mac, e->uri, e->unresolved, 0, e->reason, 0, false);
            continue;
        }
        targets[n++] = (pr_sipnotify_target){e->uri, e->proxy, *e->mac ? e->mac : NULL, e};
    }
    PR_LOG(PR_LOG_INFO, "notify", "sending",
           json_pack("{sI sI ss si}", "phones", (json_int_t)n, "unresolved",
                     (json_int_t)(r.e.len - n), "event", cfg.event, "sip_port",
                     (int)pr_sipnotify_port(sn)));
    if (pr_sipnotify_send(sn, targets, n, result_cb, &r, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        goto out;
    }
    pr_sipnotify_stats ss;
    pr_sipnotify_get_stats(sn, &ss);
    if (ss.bad_messages || ss.bad_responses || ss.stray_responses)
        PR_LOG(PR_LOG_WARN, "notify", "dropped SIP messages that were not valid answers",
               json_pack("{sI sI sI}", "unparseable", (json_int_t)ss.bad_messages, "bad_responses",
                         (json_int_t)ss.bad_responses, "stray_responses",
                         (json_int_t)ss.stray_responses));
    PR_LOG(PR_LOG_INFO, "notify", "done",
           json_pack("{sI sI}", "accepted", (json_int_t)r.accepted, "not_accepted",
                     (json_int_t)r.failed));
    if (r.e.len == 0)
        PR_LOG(PR_LOG_WARN, "notify", "no phone matched", NULL);
    rc = r.failed == 0 ? 0 : 1;
out:
    free(targets);
    pr_sipnotify_free(sn);
    if (r.curl) {
        curl_easy_cleanup(r.curl);
        curl_global_cleanup();
    }
    curl_slist_free_all(r.auth);
    if (cfg.api_token)
        OPENSSL_cleanse(cfg.api_token, strlen(cfg.api_token));
    notify_entries_release(&r.e);
    pr_sipcreds_free(r.creds);
    cfg_release(&cfg);
    return rc;
}
