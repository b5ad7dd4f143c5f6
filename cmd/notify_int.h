/*
 * notify_int.h - what notify.c (the command: options, SIP, output) and notify_api.c (the
 * sink's API: the phones to notify and their addresses, the API token) share.
 */
#ifndef PR_NOTIFY_INT_H
#define PR_NOTIFY_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mac.h"
#include "sipcreds.h"

#define PROG "phonereport notify"

typedef struct notify_cfg {
    char *target, *mac, *api, *proxy, *model, *event, *subscription_state, *credentials;
    char *api_token, *api_token_file;
    char *bind, *from, *log_level;
    bool all, incomplete, drifted, tcp;
    long long not_seen_for, sip_port, line, concurrency, rate, t1, timeout, api_timeout;
} notify_cfg;

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

/* Appends a zeroed entry; NULL when out of memory. */
entry *notify_entries_add(entries *e);
void notify_entries_release(entries *e);

/* One JSON line on stdout for a phone (notify.c). */
void notify_print_line(const char *mac, const char *target, const char *result, int status,
                       const char *reason, long long elapsed_ms, bool challenged);

/* e->mac's target from the sink's API (summary: its GET /v1/phones entry when known, else
 * read): e->uri (and e->proxy), or e->unresolved with the reason. */
void notify_resolve(notify_run *r, entry *e, json_t *summary);
/* --all: every phone the API lists, narrowed by the filters, resolved. 0, or -1 (logged). */
int notify_collect_all(notify_run *r);
/* The API token as r->auth (wiped from every buffer). 0, or 78 with a message. */
int notify_load_token(notify_run *r);

#endif
