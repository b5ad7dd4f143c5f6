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
 * DESIGN: every target is resolved (API calls, one at a time, with libcurl) before the first
 * NOTIFY leaves, so a fleet run's SIP part runs at the configured rate and concurrency
 * without waiting on HTTP; a phone that cannot be resolved gets its JSON line at once.
 */
#include "commands.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "mac.h"
#include "signals.h"
#include "sipcreds.h"
#include "sipnotify.h"
#include "status.h"

#define PROG       "phonereport notify"
#define EXIT_USAGE 64

typedef struct notify_cfg {
    char *target, *mac, *api, *proxy, *model, *event, *subscription_state, *credentials;
    char *api_token, *api_token_file;
    char *bind, *from, *log_level;
    bool all, incomplete, drifted, tcp;
    long long not_seen_for, sip_port, line, concurrency, rate, t1, timeout, api_timeout;
} notify_cfg;

/* clang-format off */
static const pr_cfg_entry notify_cfg_table[] = {
    {"target", PR_CFG_STR, NULL, offsetof(notify_cfg, target), 0, 0,
     "notify this SIP URI: sip:[user@]host[:port][;transport=tcp]"},
    {"mac", PR_CFG_STR, NULL, offsetof(notify_cfg, mac), 0, 0,
     "notify this phone at its last address known to the sink (needs --api)"},
    {"all", PR_CFG_BOOL, "false", offsetof(notify_cfg, all), 0, 0,
     "notify every phone the sink lists, narrowed by the filters below (needs --api)"},
    {"api", PR_CFG_STR, NULL, offsetof(notify_cfg, api), 0, 0,
     "the sink's query API, e.g. http://127.0.0.1:8081 (for --mac and --all)"},
    {"api-token-file", PR_CFG_STR, NULL, offsetof(notify_cfg, api_token_file), 0, 0,
     "file holding the token for a sink started with --api-tokens (its first line; sent as "
     "Authorization: Bearer, never logged)"},
    {"api-token", PR_CFG_SECRET, NULL, offsetof(notify_cfg, api_token), 0, 0,
     "the token itself, for the environment (PHONEREPORT_NOTIFY_API_TOKEN): on the command "
     "line other users see it in ps; --api-token-file wins"},
    {"incomplete", PR_CFG_BOOL, "false", offsetof(notify_cfg, incomplete), 0, 0,
     "--all: only phones whose state is incomplete (no full report yet)"},
    {"model", PR_CFG_STR, NULL, offsetof(notify_cfg, model), 0, 0,
     "--all: only phones of this model, e.g. CP-8841-3PCC"},
    {"drifted", PR_CFG_BOOL, "false", offsetof(notify_cfg, drifted), 0, 0,
     "--all: only phones with drifted parameters"},
    {"not-seen-for", PR_CFG_MS, "0", offsetof(notify_cfg, not_seen_for), 0, 0,
     "--all: only phones whose last report is older than this (e.g. 24h); 0 = any"},
    {"sip-port", PR_CFG_INT, "5060", offsetof(notify_cfg, sip_port), 1, 65535,
     "the phones' SIP port (the sink knows their address, not their SIP port)"},
    {"proxy", PR_CFG_STR, NULL, offsetof(notify_cfg, proxy), 0, 0,
     "outbound proxy sip:host[:port]; with --mac/--all the NOTIFY goes to the line's AOR"},
    {"line", PR_CFG_INT, "1", offsetof(notify_cfg, line), 1, 16,
     "--proxy: the line whose User_ID_n_@Proxy_n_ is the address of record"},
    {"event", PR_CFG_STR, "report", offsetof(notify_cfg, event), 0, 0,
     "Event header: report (upload a report), or e.g. resync, reboot_now, prt-gen"},
    {"subscription-state", PR_CFG_STR, "terminated", offsetof(notify_cfg, subscription_state),
     0, 0, "Subscription-State header (RFC 6665: every NOTIFY has one); \"\" omits it"},
    {"credentials", PR_CFG_STR, NULL, offsetof(notify_cfg, credentials), 0, 0,
     "JSON file of Digest credentials per MAC, per SIP user or default (see README)"},
    {"concurrency", PR_CFG_INT, "16", offsetof(notify_cfg, concurrency), 1, 1024,
     "phones notified at once"},
    {"rate", PR_CFG_INT, "20", offsetof(notify_cfg, rate), 0, 10000,
     "new NOTIFYs per second; 0 = no limit but --concurrency"},
    {"t1", PR_CFG_MS, "500ms", offsetof(notify_cfg, t1), 10, 10000,
     "RFC 3261 T1: UDP retransmits at T1, 2*T1, ...; no answer after 64*T1 = timeout"},
    {"timeout", PR_CFG_MS, "0", offsetof(notify_cfg, timeout), 0, 3600000,
     "deadline per phone, challenge round included; 0 = 3*64*T1"},
    {"bind", PR_CFG_STR, NULL, offsetof(notify_cfg, bind), 0, 0,
     "local address the NOTIFYs leave from (any port); default all IPv4 addresses"},
    {"tcp", PR_CFG_BOOL, "false", offsetof(notify_cfg, tcp), 0, 0,
     "also open TCP (needed for targets with ;transport=tcp)"},
    {"from", PR_CFG_STR, NULL, offsetof(notify_cfg, from), 0, 0,
     "From URI; default sip:phonereport@<local address>"},
    {"api-timeout", PR_CFG_MS, "10s", offsetof(notify_cfg, api_timeout), 100, 600000,
     "time limit of each request to the sink's API"},
    {"log-level", PR_CFG_STR, "info", offsetof(notify_cfg, log_level), 0, 0,
     "debug|info|warn|error (JSON lines on stderr)"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

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

/* One phone to notify, or one that could not be resolved (result set, no NOTIFY). */
typedef struct entry {
    char mac[PR_MAC_LEN + 1];
    char *uri, *proxy;
    const char *unresolved; /* result name when the phone cannot be notified, else NULL */
    char reason[200];
} entry;

typedef struct entries {
    entry *v;
    size_t len, cap;
} entries;

typedef struct notify_run {
    notify_cfg *cfg;
    pr_sipcreds *creds;
    CURL *curl;
    struct curl_slist *auth; /* the Authorization header, when a token is given */
    entries e;
    size_t accepted, failed;
} notify_run;

static entry *entries_add(entries *e)
{
    if (e->len == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        entry *n = realloc(e->v, cap * sizeof *n);
        if (!n)
            return NULL;
        e->v = n;
        e->cap = cap;
    }
    memset(&e->v[e->len], 0, sizeof e->v[0]);
    return &e->v[e->len++];
}

static void entries_release(entries *e)
{
    for (size_t i = 0; i < e->len; i++) {
        free(e->v[i].uri);
        free(e->v[i].proxy);
    }
    free(e->v);
}

/* ---- output ---------------------------------------------------------------------------- */

static void print_line(const char *mac, const char *target, const char *result, int status,
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

/* ---- the sink's API -------------------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t len;
} body;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    body *b = ud;
    size_t add = size * n;
    if (b->len + add > (8u << 20)) /* a phone's config is ~100 KB; a page far less than 8 MB */
        return 0;
    char *np = realloc(b->p, b->len + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->len, data, add);
    b->p = np;
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

/* GET api+path as JSON. PR_OK with *out; PR_ENOTFOUND for 404; PR_ETRANSIENT otherwise. */
static pr_status api_get(notify_run *r, const char *path, json_t **out, char *err, size_t errlen)
{
    body b = {NULL, 0};
    long code = 0;
    pr_status st = PR_OK;
    json_error_t je;
    size_t alen = strlen(r->cfg->api);
    char *url = malloc(alen + strlen(path) + 1);

    *out = NULL;
    if (!url)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    memcpy(url, r->cfg->api, alen);
    while (alen && url[alen - 1] == '/')
        alen--;
    strcpy(url + alen, path);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(r->curl);
    if (cc != CURLE_OK) {
        st = pr_err(PR_ETRANSIENT, err, errlen, "GET %s: %s", url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 404) {
        st = pr_err(PR_ENOTFOUND, err, errlen, "GET %s: 404", url);
        goto out;
    }
    if (code != 200) {
        st = pr_err(PR_ETRANSIENT, err, errlen, "GET %s: HTTP %ld", url, code);
        goto out;
    }
    *out = json_loadb(b.p ? b.p : "", b.len, 0, &je);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        st = pr_err(PR_ETRANSIENT, err, errlen, "GET %s: the answer is not a JSON object", url);
    }
out:
    free(b.p);
    free(url);
    return st;
}

/* The host part of the sink's "remote" (the address the phone last uploaded from:
 * "192.0.2.7", "192.0.2.7:51234", "[2001:db8::7]:51234" or "2001:db8::7"; the port is the
 * phone's HTTP source port, never its SIP port, so it is dropped). 0, or -1 if malformed. */
static int remote_host(const char *remote, char *host, size_t hostlen)
{
    const char *end;
    size_t n;
    if (!remote || !*remote)
        return -1;
    if (remote[0] == '[') {
        end = strchr(remote, ']');
        if (!end)
            return -1;
        remote++;
        n = (size_t)(end - remote);
    } else if ((end = strchr(remote, ':')) && !strchr(end + 1, ':')) {
        n = (size_t)(end - remote);
    } else {
        n = strlen(remote);
    }
    if (n == 0 || n + 3 > hostlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = remote[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == ':' || c == '-'))
            return -1;
    }
    if (memchr(remote, ':', n))
        snprintf(host, hostlen, "[%.*s]", (int)n, remote);
    else
        snprintf(host, hostlen, "%.*s", (int)n, remote);
    return 0;
}

static void unresolved(entry *e, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void unresolved(entry *e, const char *result, const char *fmt, ...)
{
    va_list ap;
    e->unresolved = result;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
}

/* Direct: sip:<remote host>:<sip-port>, from GET /v1/phones/{mac} (or the list's summary). */
static void resolve_direct(notify_run *r, entry *e, json_t *summary)
{
    char path[64], err[300], host[80];
    json_t *doc = NULL;
    if (!summary || !json_object_get(summary, "remote")) {
        snprintf(path, sizeof path, "/v1/phones/%s", e->mac);
        pr_status st = api_get(r, path, &doc, err, sizeof err);
        if (st == PR_ENOTFOUND) {
            unresolved(e, "unknown_phone", "the sink does not know this phone (%s)", err);
            return;
        }
        if (st != PR_OK) {
            unresolved(e, "api_error", "%s", err);
            return;
        }
        summary = doc;
    }
    json_t *rv = json_object_get(summary, "remote");
    const char *remote = json_string_value(rv);
    if (!remote && json_is_object(rv)) /* tolerate {"ip": ..., "port": ...} */
        remote = json_string_value(json_object_get(rv, "ip"));
    if (!remote || !*remote)
        unresolved(e, "no_address", "the sink knows no address for this phone (no \"remote\")");
    else if (remote_host(remote, host, sizeof host) != 0)
        unresolved(e, "no_address", "the sink's address for this phone is malformed");
    else if (!(e->uri = malloc(strlen(host) + 16)))
        unresolved(e, "not_sent", "out of memory");
    else
        sprintf(e->uri, "sip:%s:%lld", host, r->cfg->sip_port);
    json_decref(doc);
}

/* Through --proxy: sip:User_ID_n_@Proxy_n_ from GET /v1/phones/{mac}/config. */
static void resolve_aor(notify_run *r, entry *e)
{
    char path[64], err[300], uid_name[32], proxy_name[32];
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/v1/phones/%s/config", e->mac);
    pr_status st = api_get(r, path, &doc, err, sizeof err);
    if (st == PR_ENOTFOUND) {
        unresolved(e, "unknown_phone", "the sink does not know this phone (%s)", err);
        return;
    }
    if (st != PR_OK) {
        unresolved(e, "api_error", "%s", err);
        return;
    }
    snprintf(uid_name, sizeof uid_name, "User_ID_%lld_", r->cfg->line);
    snprintf(proxy_name, sizeof proxy_name, "Proxy_%lld_", r->cfg->line);
    json_t *params = json_object_get(doc, "params");
    const char *uid = json_string_value(json_object_get(params, uid_name));
    const char *px = json_string_value(json_object_get(params, proxy_name));
    char check[200];
    if (!uid || !*uid || !px || !*px) {
        unresolved(e, "no_address", "line %lld has no address of record (%s or %s is empty)",
                   r->cfg->line, uid_name, proxy_name);
    } else if (!(e->uri = malloc(strlen(uid) + strlen(px) + 6)) ||
               !(e->proxy = strdup(r->cfg->proxy))) {
        unresolved(e, "not_sent", "out of memory");
    } else {
        sprintf(e->uri, "sip:%s@%s", uid, px);
        if (pr_sipnotify_check_uri(e->uri, check, sizeof check) != PR_OK)
            unresolved(e, "no_address", "the address of record %s@%s is not a SIP URI (%s)",
                       uid_name, proxy_name, check);
    }
    json_decref(doc);
}

static void resolve(notify_run *r, entry *e, json_t *summary)
{
    if (r->cfg->proxy)
        resolve_aor(r, e);
    else
        resolve_direct(r, e, summary);
}

/* RFC 3339 UTC ("2026-11-29T20:24:17.123Z") to seconds since the epoch; -1 if not one. */
static long long parse_utc(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm);
}

/* The phone's last report: the newest of updated_at and status_at (or last_seen, if the
 * sink gives one). -1 if it has none. */
static long long last_seen(json_t *summary)
{
    static const char *const fields[] = {"last_seen", "updated_at", "status_at"};
    long long best = -1;
    for (size_t i = 0; i < 3; i++) {
        long long t = parse_utc(json_string_value(json_object_get(summary, fields[i])));
        if (t > best)
            best = t;
    }
    return best;
}

/* --all: pages of GET /v1/phones with the filters, then each phone resolved. 0, or -1 when
 * the list itself cannot be read (the message is logged). */
static int collect_all(notify_run *r)
{
    char after[PR_MAC_LEN + 1] = "", path[512], err[300];
    char *model = r->cfg->model ? curl_easy_escape(r->curl, r->cfg->model, 0) : NULL;
    long long now = (long long)time(NULL);
    int rc = 0;

    for (;;) {
        json_t *page = NULL, *phones, *ph;
        size_t i;
        snprintf(path, sizeof path, "/v1/phones?limit=1000%s%s%s%s%s%s",
                 r->cfg->incomplete ? "&complete=false" : "",
                 r->cfg->drifted ? "&drifted=true" : "", model ? "&model=" : "", model ? model : "",
                 *after ? "&after=" : "", after);
        if (api_get(r, path, &page, err, sizeof err) != PR_OK) {
            PR_LOG(PR_LOG_ERROR, "notify", "cannot list the phones",
                   json_pack("{ss}", "error", err));
            rc = -1;
            break;
        }
        phones = json_object_get(page, "phones");
        json_array_foreach(phones, i, ph)
        {
            const char *mac = json_string_value(json_object_get(ph, "mac"));
            char norm[PR_MAC_LEN + 1], why[128];
            if (!mac || pr_mac_parse(mac, strlen(mac), norm, why, sizeof why) != PR_OK)
                continue;
            if (r->cfg->not_seen_for > 0) {
                long long seen = last_seen(ph);
                if (seen >= 0 && (now - seen) * 1000 < r->cfg->not_seen_for)
                    continue;
            }
            entry *e = entries_add(&r->e);
            if (!e) {
                rc = -1;
                break;
            }
            memcpy(e->mac, norm, sizeof norm);
            resolve(r, e, ph);
        }
        const char *next = json_string_value(json_object_get(page, "next"));
        bool more =
            rc == 0 && next && pr_mac_parse(next, strlen(next), after, err, sizeof err) == PR_OK;
        json_decref(page);
        if (!more)
            break;
    }
    curl_free(model);
    return rc;
}

/* ---- SIP ------------------------------------------------------------------------------- */

static pr_status credentials_cb(void *ctx, const pr_sipnotify_target *t, const char *realm,
                                const char *uri_user, char *user, size_t userlen, char *password,
                                size_t passlen)
{
    notify_run *r = ctx;
    return pr_sipcreds_lookup(r->creds, t->mac, uri_user, realm, user, userlen, password, passlen);
}

static void result_cb(void *ctx, const pr_sipnotify_target *t, const pr_sipnotify_result *res)
{
    notify_run *r = ctx;
    if (res->outcome == PR_SIPNOTIFY_ACCEPTED)
        r->accepted++;
    else
        r->failed++;
    print_line(t->mac, t->uri, pr_sipnotify_outcome_name(res->outcome), res->status, res->reason,
               res->elapsed_ms, res->challenged);
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

/* The token (--api-token-file's first line, else --api-token) as an Authorization header in
 * r->auth; the secret is wiped from every buffer it passed through. 0, or 78 with a message. */
static int load_token(notify_run *r)
{
    char line[4096] = "", header[4200];
    const char *token = r->cfg->api_token;
    int rc = 0;
    if (r->cfg->api_token_file) {
        FILE *f = fopen(r->cfg->api_token_file, "r");
        if (!f || !fgets(line, sizeof line, f)) {
            fprintf(stderr, PROG ": --api-token-file: cannot read %s\n", r->cfg->api_token_file);
            rc = PR_EXIT_CONFIG;
        }
        if (f)
            fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        token = line;
    }
    if (rc == 0 && token && (!*token || strpbrk(token, " \t"))) {
        fprintf(stderr, PROG ": the API token is empty or holds blanks\n");
        rc = PR_EXIT_CONFIG;
    }
    if (rc == 0 && token) {
        snprintf(header, sizeof header, "Authorization: Bearer %s", token);
        if (!(r->auth = curl_slist_append(NULL, header))) {
            fprintf(stderr, PROG ": out of memory\n");
            rc = 1;
        }
    }
    OPENSSL_cleanse(line, sizeof line);
    OPENSSL_cleanse(header, sizeof header);
    return rc;
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
        .credentials = credentials_cb,
        .credentials_ctx = &r,
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
        if ((rc = load_token(&r)) != 0)
            goto out;
        rc = 1;
        if (r.auth) /* not sent again on a redirect to another host (libcurl's default) */
            curl_easy_setopt(r.curl, CURLOPT_HTTPHEADER, r.auth);
    }
    if (cfg.target) {
        entry *e = entries_add(&r.e);
        if (!e || !(e->uri = strdup(cfg.target)) || (cfg.proxy && !(e->proxy = strdup(cfg.proxy))))
            goto out;
    } else if (cfg.mac) {
        entry *e = entries_add(&r.e);
        if (!e)
            goto out;
        memcpy(e->mac, mac, sizeof mac);
        resolve(&r, e, NULL);
    } else if (collect_all(&r) != 0) {
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
            print_line(e->mac, e->uri, e->unresolved, 0, e->reason, 0, false);
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
    entries_release(&r.e);
    pr_sipcreds_free(r.creds);
    cfg_release(&cfg);
    return rc;
}
