/*
 * auth.c - the credentials file of the optional HTTP authentication (Basic or Digest, as
 * the phone's `--uid/--pwd` answer a 401 challenge): parsing, lookup, password checks.
 * No HTTP here: http_auth.c asks libmicrohttpd for the credentials and calls these.
 *
 * File format (one entry per line; blank lines and lines starting with '#' are ignored):
 *
 *     user:password                 clear text (Basic and Digest)
 *     user:{plain}password          clear text, for a password that starts with '{'
 *     user:{sha256}<64 hex>         SHA-256 of the password (Basic only)
 *     user:{md5-ha1}<32 hex>        MD5("user:realm:password") (Basic and Digest, MD5)
 *     any of these followed by :MAC binds the user to one phone (12 hex digits, or with '-'
 *     or '.' separators; the colon form is not possible here)
 *
 * The user name ends at the first ':'. When the rest holds a ':', the text after the last
 * one is the MAC field, which may be empty: so a password containing ':' is written with a
 * trailing ':' (`alice:pa:ss:` is user alice, password `pa:ss`, no MAC). A user may appear
 * once. Ownership: an ingest_auth owns its entries; ingest_auth_find returns borrowed ones.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "hex.h"
#include "file.h"

struct ingest_auth {
    ingest_cred *v;
    size_t n;
};

static void cred_release(ingest_cred *c)
{
    free(c->user);
    if (c->secret)
        OPENSSL_cleanse(c->secret, c->secret_len);
    free(c->secret);
}

void ingest_auth_free(ingest_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        cred_release(&a->v[i]);
    free(a->v);
    free(a);
}

/* Parses one line (without its newline) into c. PR_EINVAL (or PR_EFATAL) with err. */
static pr_status parse_line(const char *line, size_t len, ingest_cred *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (memchr(line, '\0', len)) { /* strndup would cut user or secret short of its length */
        return pr_err(PR_EINVAL, err, errlen, "NUL byte in the entry");
    }
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line) {
        return pr_err(PR_EINVAL, err, errlen, "expected user:password[:mac]");
    }
    const char *rest = colon + 1, *end = line + len;
    const char *secret_end = end;
    const char *last = NULL;
    for (const char *p = rest; p < end; p++)
        if (*p == ':')
            last = p;
    if (last) {
        secret_end = last;
        size_t mlen = (size_t)(end - last - 1);
        if (mlen) {
            char merr[128];
            if (pr_mac_parse(last + 1, mlen, c->mac, merr, sizeof merr) != PR_OK) {
                return pr_err(PR_EINVAL, err, errlen, "bad MAC field: %s", merr);
            }
        }
    }
    size_t slen = (size_t)(secret_end - rest);
    const char *s = rest;
    c->type = INGEST_SECRET_PLAIN;
    if (slen && *s == '{') {
        /* {scheme}secret: the schemes, and the hex digits of a hash */
        static const struct {
            const char *prefix;
            ingest_secret_type type;
            size_t hex;
        } schemes[] = {{"{sha256}", INGEST_SECRET_SHA256, 64},
                       {"{md5-ha1}", INGEST_SECRET_MD5_HA1, 32},
                       {"{plain}", INGEST_SECRET_PLAIN, 0}};
        size_t i = 0, n = 0;
        for (; i < sizeof schemes / sizeof schemes[0]; i++) {
            n = strlen(schemes[i].prefix);
            if (slen >= n && strncmp(s, schemes[i].prefix, n) == 0)
                break;
        }
        if (i == sizeof schemes / sizeof schemes[0])
            return pr_err(PR_EINVAL, err, errlen,
                          "unknown {scheme} (use {plain}, {sha256} or {md5-ha1})");
        if (schemes[i].hex && slen - n != schemes[i].hex)
            return pr_err(PR_EINVAL, err, errlen, "%s needs %zu hex digits", schemes[i].prefix,
                          schemes[i].hex);
        c->type = schemes[i].type;
        s += n;
        slen -= n;
    }
    if (slen == 0) {
        return pr_err(PR_EINVAL, err, errlen, "empty password");
    }
    c->user = strndup(line, (size_t)(colon - line));
    if (c->type == INGEST_SECRET_PLAIN) {
        c->secret = strndup(s, slen);
        c->secret_len = slen;
    } else {
        c->secret_len = slen / 2;
        c->secret = malloc(c->secret_len);
        if (c->secret && !pr_hex_decode(s, slen, (unsigned char *)c->secret)) {
            cred_release(c);
            memset(c, 0, sizeof *c);
            return pr_err(PR_EINVAL, err, errlen, "bad hex digits");
        }
    }
    if (!c->user || !c->secret) {
        cred_release(c);
        memset(c, 0, sizeof *c);
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    }
    return PR_OK;
}

pr_status ingest_auth_parse(const char *text, size_t len, ingest_auth **out, char *err,
                            size_t errlen)
{
    ingest_auth *a = calloc(1, sizeof *a);
    pr_status st = PR_OK;
    size_t lineno = 0;
    if (!a)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *b = p, *e = le;
        while (e > b && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        p = nl ? nl + 1 : end;
        if (b == e || *b == '#')
            continue;
        ingest_cred c;
        char lerr[200];
        pr_status lst = parse_line(b, (size_t)(e - b), &c, lerr, sizeof lerr);
        if (lst != PR_OK) {
            st = pr_err(lst, err, errlen, "line %zu: %s", lineno, lerr);
            goto out;
        }
        if (ingest_auth_find(a, c.user)) {
            st =
                pr_err(PR_EINVAL, err, errlen, "line %zu: user '%s' appears twice", lineno, c.user);
            cred_release(&c);
            goto out;
        }
        ingest_cred *nv = realloc(a->v, (a->n + 1) * sizeof *nv);
        if (!nv) {
            cred_release(&c);
            st = pr_err(PR_EFATAL, err, errlen, "out of memory");
            goto out;
        }
        a->v = nv;
        a->v[a->n++] = c;
    }
    if (a->n == 0)
        st = pr_err(PR_EINVAL, err, errlen, "no credentials in the file");
out:
    if (st != PR_OK) {
        ingest_auth_free(a);
        a = NULL;
    }
    *out = a;
    return st;
}

pr_status ingest_auth_load(const char *path, ingest_auth **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t n = 0;
    pr_status st;
    *out = NULL;
    if ((st = pr_file_read(path, (size_t)1 << 24, &buf, &n, err, errlen)) != PR_OK)
        return st;
    char perr[300];
    st = ingest_auth_parse(buf ? buf : "", n, out, perr, sizeof perr);
    if (st != PR_OK)
        pr_err(st, err, errlen, "%s: %s", path, perr);
    if (buf)
        OPENSSL_cleanse(buf, n);
    free(buf);
    return st;
}

size_t ingest_auth_count(const ingest_auth *a)
{
    return a ? a->n : 0;
}

bool ingest_auth_has_basic_only(const ingest_auth *a)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (a->v[i].type == INGEST_SECRET_SHA256)
            return true;
    return false;
}

const ingest_cred *ingest_auth_find(const ingest_auth *a, const char *user)
{
    for (size_t i = 0; a && user && i < a->n; i++)
        if (strcmp(a->v[i].user, user) == 0)
            return &a->v[i];
    return NULL;
}

static int digest(const char *md, const void *a, size_t alen, unsigned char *out, unsigned *outlen)
{
    return EVP_Digest(a, alen, out, outlen, EVP_get_digestbyname(md), NULL) == 1 ? 0 : -1;
}

bool ingest_auth_check_password(const ingest_cred *c, const char *realm, const char *password)
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hlen = 0;
    size_t plen = strlen(password);
    switch (c->type) {
    case INGEST_SECRET_PLAIN:
        /* hash both so the comparison takes the same time whatever the lengths */
        {
            unsigned char h2[EVP_MAX_MD_SIZE];
            unsigned h2len = 0;
            if (digest("SHA256", password, plen, h, &hlen) != 0 ||
                digest("SHA256", c->secret, c->secret_len, h2, &h2len) != 0)
                return false;
            return CRYPTO_memcmp(h, h2, hlen) == 0;
        }
    case INGEST_SECRET_SHA256:
        if (digest("SHA256", password, plen, h, &hlen) != 0 || hlen != c->secret_len)
            return false;
        return CRYPTO_memcmp(h, c->secret, hlen) == 0;
    case INGEST_SECRET_MD5_HA1: {
        size_t n = strlen(c->user) + strlen(realm) + plen + 3;
        char *s = malloc(n);
        if (!s)
            return false;
        snprintf(s, n, "%s:%s:%s", c->user, realm, password);
        int rc = digest("MD5", s, n - 1, h, &hlen);
        OPENSSL_cleanse(s, n);
        free(s);
        if (rc != 0 || hlen != c->secret_len)
            return false;
        return CRYPTO_memcmp(h, c->secret, hlen) == 0;
    }
    }
    return false;
}
