/*
 * api_auth.c - who may use the query API and the console (DESIGN section 6: phone
 * configurations are never served over the network without credentials by default).
 *
 * The token file (--api-tokens) holds one entry per line; blank lines and '#' comments are
 * ignored:
 *
 *     name:role:secret            role is `read` or `admin`
 *     name:role:{sha256}<64 hex>  the SHA-256 of the secret (what should be stored)
 *     name:role:{plain}secret     clear text, for a secret that starts with '{'
 *
 * A client presents the secret as `Authorization: Bearer <secret>`, or as HTTP Basic with the
 * entry's name as user and the secret as password. `admin` may do everything `read` may, and
 * the actions (any method but GET/HEAD; api.c asks sink_auth_check for SINK_ACCESS_ADMIN).
 *
 * DESIGN: only SHA-256 digests are kept in memory, clear-text secrets are hashed on load, and
 * a presented secret is hashed once and compared with every entry in constant time (no early
 * exit), so neither timing nor a memory dump gives a token away. Secrets are never logged:
 * only entry names and counts are. The set is replaced whole on reload (SIGHUP, from the main
 * thread) under a mutex that MHD's thread takes for each check; a file that does not parse
 * leaves the previous set in force.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "file.h"
#include "hex.h"
#include "listen.h"
#include "log.h"
#include "sink_internal.h"

#define DIGEST_LEN     32
#define NAME_MAX_LEN   64
#define SECRET_MIN_LEN 16
#define FILE_MAX       (1u << 20)

typedef struct token {
    char name[NAME_MAX_LEN + 1];
    sink_access role;
    unsigned char digest[DIGEST_LEN];
} token;

typedef struct token_set {
    token *v;
    size_t n;
} token_set;

struct sink_auth {
    char *path; /* NULL: no credentials asked, everyone is admin */
    pthread_mutex_t mu;
    token_set set;
};

static int sha256(const void *p, size_t n, unsigned char out[DIGEST_LEN])
{
    unsigned len = 0;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == DIGEST_LEN ? 0 : -1;
}

static void set_release(token_set *s)
{
    if (s->v)
        OPENSSL_cleanse(s->v, s->n * sizeof *s->v);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.' ||
              s[i] == '@'))
            return false;
    return true;
}

/* One entry (a line without its newline and surrounding blanks). The messages never quote
 * the secret. */
static pr_status parse_entry(const char *line, size_t len, token *t, char *err, size_t errlen)
{
    const char *end = line + len;
    const char *c1 = memchr(line, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
    memset(t, 0, sizeof *t);
    if (!c1 || !c2)
        return pr_err(PR_EINVAL, err, errlen, "expected name:role:secret");
    if (!name_ok(line, (size_t)(c1 - line)))
        return pr_err(PR_EINVAL, err, errlen, "name: 1 to %d of A-Z a-z 0-9 . _ - @", NAME_MAX_LEN);
    memcpy(t->name, line, (size_t)(c1 - line));
    size_t rlen = (size_t)(c2 - c1 - 1);
    if (rlen == 4 && strncmp(c1 + 1, "read", 4) == 0)
        t->role = SINK_ACCESS_READ;
    else if (rlen == 5 && strncmp(c1 + 1, "admin", 5) == 0)
        t->role = SINK_ACCESS_ADMIN;
    else
        return pr_err(PR_EINVAL, err, errlen, "role: expected read or admin");
    const char *s = c2 + 1;
    size_t slen = (size_t)(end - s);
    if (memchr(s, '\0', slen))
        return pr_err(PR_EINVAL, err, errlen, "NUL byte in the secret");
    if (slen >= 8 && strncmp(s, "{sha256}", 8) == 0) {
        if (slen - 8 != 2 * DIGEST_LEN || !pr_hex_decode(s + 8, slen - 8, t->digest))
            return pr_err(PR_EINVAL, err, errlen, "{sha256} needs 64 hex digits");
        return PR_OK;
    }
    if (slen >= 7 && strncmp(s, "{plain}", 7) == 0) {
        s += 7;
        slen -= 7;
    } else if (slen && *s == '{') {
        return pr_err(PR_EINVAL, err, errlen, "unknown {scheme} (use {sha256} or {plain})");
    }
    if (slen < SECRET_MIN_LEN)
        return pr_err(PR_EINVAL, err, errlen, "secret shorter than %d characters", SECRET_MIN_LEN);
    if (sha256(s, slen, t->digest) != 0)
        return pr_err(PR_EFATAL, err, errlen, "SHA-256 failed");
    return PR_OK;
}

static pr_status set_parse(const char *text, size_t len, token_set *out, char *err, size_t errlen)
{
    token_set s = {0};
    pr_status rc = PR_OK;
    size_t lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *b = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        lineno++;
        while (e > b && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        if (b == e || *b == '#')
            continue;
        token t;
        char lerr[160];
        if ((rc = parse_entry(b, (size_t)(e - b), &t, lerr, sizeof lerr)) != PR_OK) {
            rc = pr_err(rc, err, errlen, "line %zu: %s", lineno, lerr);
            goto out;
        }
        for (size_t i = 0; i < s.n; i++)
            if (strcmp(s.v[i].name, t.name) == 0) {
                rc = pr_err(PR_EINVAL, err, errlen, "line %zu: name '%s' appears twice", lineno,
                            t.name);
                goto out;
            }
        token *nv = realloc(s.v, (s.n + 1) * sizeof *nv);
        if (!nv) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
        s.v = nv;
        s.v[s.n++] = t;
        OPENSSL_cleanse(&t, sizeof t);
    }
    if (s.n == 0)
        rc = pr_err(PR_EINVAL, err, errlen, "no tokens in the file");
out:
    if (rc != PR_OK)
        set_release(&s);
    *out = s;
    return rc;
}

static pr_status set_load(const char *path, token_set *out, char *err, size_t errlen)
{
    char *text = NULL, perr[256];
    size_t len = 0;
    pr_status rc = pr_file_read(path, FILE_MAX, &text, &len, perr, sizeof perr);
    memset(out, 0, sizeof *out);
    if (rc != PR_OK)
        return pr_err(rc, err, errlen, "api-tokens: %s", perr);
    if ((rc = set_parse(text, len, out, perr, sizeof perr)) != PR_OK)
        pr_err(rc, err, errlen, "api-tokens: %s: %s", path, perr);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

pr_status sink_auth_check_file(const char *path, char *err, size_t errlen)
{
    token_set s;
    pr_status rc = set_load(path, &s, err, errlen);
    set_release(&s);
    return rc;
}

pr_status sink_auth_new(const char *path, sink_auth **out, char *err, size_t errlen)
{
    pr_status rc = PR_OK;
    sink_auth *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    if (path) {
        if (!(a->path = strdup(path))) {
            rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
        if ((rc = set_load(path, &a->set, err, errlen)) != PR_OK)
            goto out;
        PR_LOG(PR_LOG_INFO, "sink", "api tokens loaded",
               json_pack("{si}", "tokens", (int)a->set.n));
    }
out:
    if (rc != PR_OK)
        sink_auth_free(a);
    else
        *out = a;
    return rc;
}

bool sink_auth_required(const sink_auth *a)
{
    return a && a->path;
}

pr_status sink_auth_reload(sink_auth *a, char *err, size_t errlen)
{
    token_set s, old;
    pr_status rc;
    if (!sink_auth_required(a))
        return PR_OK;
    if ((rc = set_load(a->path, &s, err, errlen)) != PR_OK)
        return rc;
    pthread_mutex_lock(&a->mu);
    old = a->set;
    a->set = s;
    pthread_mutex_unlock(&a->mu);
    set_release(&old);
    PR_LOG(PR_LOG_INFO, "sink", "api tokens reloaded", json_pack("{si}", "tokens", (int)s.n));
    return PR_OK;
}

void sink_auth_free(sink_auth *a)
{
    if (!a)
        return;
    set_release(&a->set);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

/* The entry whose digest equals d (and whose name equals user, when given); every entry is
 * compared so that the time does not depend on which one matches. */
static sink_access match(sink_auth *a, const unsigned char d[DIGEST_LEN], const char *user,
                         char *who, size_t wholen)
{
    sink_access found = SINK_ACCESS_NONE;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->set.n; i++) {
        const token *t = &a->set.v[i];
        bool same = CRYPTO_memcmp(t->digest, d, DIGEST_LEN) == 0;
        if (same && (!user || strcmp(user, t->name) == 0) && found == SINK_ACCESS_NONE) {
            found = t->role;
            if (who)
                snprintf(who, wholen, "%s", t->name);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return found;
}

static sink_access check_basic(sink_auth *a, const char *b64, char *who, size_t wholen)
{
    size_t n = strlen(b64);
    sink_access res = SINK_ACCESS_NONE;
    unsigned char d[DIGEST_LEN];
    if (n == 0 || n % 4 || n > 1024)
        return SINK_ACCESS_NONE;
    unsigned char *dec = malloc(n / 4 * 3 + 1);
    if (!dec)
        return SINK_ACCESS_NONE;
    int dl = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    if (dl < 0)
        goto out;
    /* EVP_DecodeBlock counts the '=' padding as zero bytes: take them off. */
    size_t len = (size_t)dl;
    for (size_t i = n; i > 0 && b64[i - 1] == '=' && len > 0; i--)
        len--;
    dec[len] = '\0';
    char *colon = memchr(dec, ':', len);
    if (!colon || memchr(dec, '\0', len))
        goto out;
    *colon = '\0';
    size_t plen = len - (size_t)(colon + 1 - (char *)dec);
    if (sha256(colon + 1, plen, d) == 0)
        res = match(a, d, (const char *)dec, who, wholen);
out:
    OPENSSL_cleanse(dec, n / 4 * 3 + 1);
    free(dec);
    return res;
}

sink_access sink_auth_check(sink_auth *a, const char *authorization, char *who, size_t wholen)
{
    unsigned char d[DIGEST_LEN];
    if (who && wholen)
        *who = '\0';
    if (!sink_auth_required(a))
        return SINK_ACCESS_ADMIN;
    if (!authorization)
        return SINK_ACCESS_NONE;
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        if (!*t || sha256(t, strlen(t), d) != 0)
            return SINK_ACCESS_NONE;
        return match(a, d, NULL, who, wholen);
    }
    if (strncasecmp(authorization, "Basic ", 6) == 0) {
        const char *t = authorization + 6;
        while (*t == ' ')
            t++;
        return check_basic(a, t, who, wholen);
    }
    return SINK_ACCESS_NONE;
}

bool sink_listen_is_loopback(const char *listen)
{
    struct sockaddr_storage ss;
    unsigned port;
    char err[256];
    if (pr_listen_resolve(listen, "api-listen", &ss, &port, err, sizeof err) != PR_OK)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}
