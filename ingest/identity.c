/*
 * identity.c - which phone is uploading: the MAC from the client certificate, the URL path,
 * a `mac` query parameter or the User-Agent, consulted in a configurable order, plus the
 * optional allow-list of MACs and OUI prefixes. Pure: no HTTP, no Kafka.
 *
 * Precedence: the first source in the order that yields a MAC names the source (the
 * pr-mac-source header); every later source that yields one must agree, otherwise the
 * request is refused (403 `mac mismatch`): a phone that says two different things about
 * itself is misconfigured or lying, and guessing would file its report under another phone.
 * A source that is present but malformed (a `mac` parameter that is not a MAC, two
 * different MACs in one path) is a client error too (400), never silently skipped.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "useragent.h"

/* out (outsize bytes) zeroed, then s split into its comma-separated items (ingest_list_split). */
static pr_status zero_and_split(void *out, size_t outsize, const char *s, char ***items, size_t *n,
                                char *err, size_t errlen)
{
    memset(out, 0, outsize);
    *items = NULL;
    *n = 0;
    return ingest_list_split(s, items, n, err, errlen);
}

pr_status ingest_identity_order_parse(const char *s, ingest_identity_order *out, char *err,
                                      size_t errlen)
{
    char **items;
    size_t n;
    pr_status rc = zero_and_split(out, sizeof *out, s, &items, &n, err, errlen);
    if (rc != PR_OK)
        return rc;
    if (n == 0) {
        rc = pr_err(PR_EINVAL, err, errlen,
                    "empty: name at least one of cert,path,query,user-agent");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pr_mac_source src;
        if (pr_mac_source_parse(items[i], &src) != 0) {
            rc = pr_err(PR_EINVAL, err, errlen, "unknown source '%s' (cert,path,query,user-agent)",
                        items[i]);
            goto out;
        }
        for (size_t j = 0; j < out->n; j++) {
            if (out->src[j] == src) {
                rc = pr_err(PR_EINVAL, err, errlen, "source '%s' named twice", items[i]);
                goto out;
            }
        }
        out->src[out->n++] = src;
    }
out:
    ingest_list_free(items, n);
    return rc;
}

static int is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}
static int is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

/* True if p[0..17) is hh:hh:hh:hh:hh:hh. */
static int colon_form_at(const char *p)
{
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (p[i] != ':')
                return 0;
        } else if (!is_hex(p[i])) {
            return 0;
        }
    }
    return 1;
}

int ingest_identity_from_path(const char *path, char mac[PR_MAC_LEN + 1])
{
    char found[PR_MAC_LEN + 1] = "";
    size_t len = strlen(path);
    size_t i = 0;
    while (i < len) {
        if (!is_alnum(path[i])) {
            i++;
            continue;
        }
        /* at the start of a token */
        size_t tok_len = 0;
        if (len - i >= 17 && (i == 0 || path[i - 1] != ':') && colon_form_at(path + i) &&
            (i + 17 == len || (!is_alnum(path[i + 17]) && path[i + 17] != ':')))
            tok_len = 17;
        size_t j = i;
        while (j < len && is_alnum(path[j]))
            j++;
        if (!tok_len && j - i == PR_MAC_LEN) {
            tok_len = PR_MAC_LEN;
            for (size_t k = i; k < j; k++)
                if (!is_hex(path[k]))
                    tok_len = 0;
        }
        if (tok_len) {
            char cand[PR_MAC_LEN + 1];
            char perr[128];
            /* all-zero and broadcast are not phones: not an identity, skip them */
            if (pr_mac_parse(path + i, tok_len, cand, perr, sizeof perr) == PR_OK) {
                if (!found[0])
                    memcpy(found, cand, sizeof found);
                else if (strcmp(found, cand) != 0)
                    return -1;
            }
            i += tok_len;
        } else {
            i = j;
        }
    }
    if (!found[0])
        return 0;
    memcpy(mac, found, PR_MAC_LEN + 1);
    return 1;
}

ingest_identity_outcome ingest_identity_resolve(const ingest_identity_order *order,
                                                const ingest_identity_input *in,
                                                char mac[PR_MAC_LEN + 1], pr_mac_source *src,
                                                char *reason, size_t reasonlen)
{
    char first[PR_MAC_LEN + 1] = "";
    pr_mac_source first_src = PR_MAC_SRC_PATH;
    for (size_t i = 0; i < order->n; i++) {
        char cand[PR_MAC_LEN + 1] = "";
        char perr[128];
        switch (order->src[i]) {
        case PR_MAC_SRC_CERT:
            if (in->cert_mac && *in->cert_mac)
                snprintf(cand, sizeof cand, "%s", in->cert_mac);
            break;
        case PR_MAC_SRC_PATH:
            if (in->path) {
                int r = ingest_identity_from_path(in->path, cand);
                if (r < 0) {
                    snprintf(reason, reasonlen, "ambiguous mac in path");
                    return INGEST_ID_INVALID;
                }
            }
            break;
        case PR_MAC_SRC_QUERY:
            if (in->query_mac && pr_mac_parse(in->query_mac, strlen(in->query_mac), cand, perr,
                                              sizeof perr) != PR_OK) {
                snprintf(reason, reasonlen, "invalid mac in query");
                return INGEST_ID_INVALID;
            }
            break;
        case PR_MAC_SRC_USER_AGENT:
            if (in->user_agent) {
                pr_user_agent ua;
                if (pr_useragent_parse(in->user_agent, &ua) == PR_OK && ua.mac[0])
                    snprintf(cand, sizeof cand, "%s", ua.mac);
            }
            break;
        default: break;
        }
        if (!cand[0])
            continue;
        if (!first[0]) {
            memcpy(first, cand, sizeof first);
            first_src = order->src[i];
        } else if (strcmp(first, cand) != 0) {
            snprintf(reason, reasonlen, "mac mismatch");
            return INGEST_ID_MISMATCH;
        }
    }
    if (!first[0]) {
        snprintf(reason, reasonlen, "no phone identity");
        return INGEST_ID_NONE;
    }
    memcpy(mac, first, PR_MAC_LEN + 1);
    *src = first_src;
    return INGEST_ID_OK;
}

pr_status ingest_allow_parse(const char *s, ingest_allow *out, char *err, size_t errlen)
{
    char **items;
    size_t n;
    pr_status rc = zero_and_split(out, sizeof *out, s, &items, &n, err, errlen);
    if (rc != PR_OK)
        return rc;
    if (n == 0) {
        free(items);
        if (!s)
            return PR_OK;
        /* set but naming nothing ("," or " "): an allow-list that allowed every phone */
        return pr_err(PR_EINVAL, err, errlen,
                      "'%s' names no mac (leave it unset to allow every phone)", s);
    }
    out->prefix = calloc(n, sizeof *out->prefix);
    if (!out->prefix) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        for (const char *p = items[i]; *p; p++) {
            if (*p == ':' || *p == '-' || *p == '.')
                continue;
            if (!is_hex(*p) || k == PR_MAC_LEN) {
                k = 0;
                break;
            }
            out->prefix[i][k++] = (char)tolower((unsigned char)*p);
        }
        if (k < 6) { /* an OUI is the shortest prefix that names a vendor */
            rc = pr_err(PR_EINVAL, err, errlen,
                        "'%s' is not a MAC or a prefix of at least 6 hex digits", items[i]);
            goto fail;
        }
        out->prefix[i][k] = '\0';
        out->n++;
    }
    ingest_list_free(items, n);
    return PR_OK;
fail:
    ingest_list_free(items, n);
    ingest_allow_release(out);
    return rc;
}

bool ingest_allow_check(const ingest_allow *a, const char *mac)
{
    if (a->n == 0)
        return true;
    for (size_t i = 0; i < a->n; i++)
        if (strncmp(mac, a->prefix[i], strlen(a->prefix[i])) == 0)
            return true;
    return false;
}

void ingest_allow_release(ingest_allow *a)
{
    free(a->prefix);
    a->prefix = NULL;
    a->n = 0;
}
