/*
 * notify_api.c - `phonereport notify`'s side of the sink's query API (libcurl, one request at
 * a time, before the first NOTIFY leaves): the phones --all lists, each phone's address (its
 * last remote address, or its line's address of record with --proxy), the API token.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "notify_int.h"
#include "sipnotify.h"
#include "status.h"

entry *notify_entries_add(entries *e)
{
    entry *n = pr_grow(e->v, &e->cap, e->len, sizeof *n, 16);
    if (!n)
        return NULL;
    e->v = n;
    memset(&e->v[e->len], 0, sizeof e->v[0]);
    return &e->v[e->len++];
}

void notify_entries_release(entries *e)
{
    for (size_t i = 0; i < e->len; i++) {
        free(e->v[i].uri);
        free(e->v[i].proxy);
    }
    free(e->v);
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

/* GET path about e's phone; NULL with e unresolved (unknown_phone, api_error). */
static json_t *phone_get(notify_run *r, entry *e, const char *path)
{
    char err[300];
    json_t *doc = NULL;
    pr_status st = api_get(r, path, &doc, err, sizeof err);
    if (st == PR_ENOTFOUND)
        unresolved(e, "unknown_phone", "the sink does not know this phone (%s)", err);
    else if (st != PR_OK)
        unresolved(e, "api_error", "%s", err);
    return st == PR_OK ? doc : NULL;
}

/* Direct: sip:<remote host>:<sip-port>, from GET /v1/phones/{mac} (or the list's summary). */
static void resolve_direct(notify_run *r, entry *e, json_t *summary)
{
    char path[64], host[80];
    json_t *doc = NULL;
    if (!summary || !json_object_get(summary, "remote")) {
        snprintf(path, sizeof path, "/v1/phones/%s", e->mac);
        if (!(doc = phone_get(r, e, path)))
            return;
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
    char path[64], uid_name[32], proxy_name[32];
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/v1/phones/%s/config", e->mac);
    if (!(doc = phone_get(r, e, path)))
        return;
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

void notify_resolve(notify_run *r, entry *e, json_t *summary)
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
int notify_collect_all(notify_run *r)
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
            entry *e = notify_entries_add(&r->e);
            if (!e) {
                rc = -1;
                break;
            }
            memcpy(e->mac, norm, sizeof norm);
            notify_resolve(r, e, ph);
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

/* The token (--api-token-file's first line, else --api-token) as an Authorization header in
 * r->auth; the secret is wiped from every buffer it passed through. 0, or 78 with a message. */
int notify_load_token(notify_run *r)
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
