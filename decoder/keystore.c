/*
 * keystore.c - the decoder's secrets: which `openssl enc` password and which RFC 8188 IKM
 * belong to which phone. The edge never sees them; the decoder never logs them.
 *
 * File format (JSON, UTF-8; unknown members are errors so that a typo is not a silent miss):
 *
 *   {
 *     "default": { "openssl_password": "test123",
 *                  "ikm": { "text": "MyIKMsecret12345" } },
 *     "phones": {
 *       "00562b043615": { "openssl_password": "other",
 *                         "ikm": { "base64url": "yqdlZ-tYemfogSmv7Ws5PQ" } }
 *     },
 *     "key_ids": {
 *       "a1": { "hex": "04edd954fc54964ace7545b63296d3d5" }
 *     }
 *   }
 *
 * Every member is optional. "phones" keys are MACs in any shape pr_mac_parse() accepts. An
 * IKM is an object with exactly one of "text" (the UTF-8 bytes as written), "base64url"
 * (RFC 4648 section 5, padding optional) or "hex"; it is never guessed. "key_ids" maps an
 * RFC 8188 key id (the header's keyid bytes, as text) to an IKM. Lookup order for an
 * aes128gcm body: key id, then the phone's MAC, then the default. For openssl enc: the
 * phone's password, then the default one.
 *
 * The file is read once at start and again on SIGHUP (decoder_reload); a reload that fails
 * keeps the previous keystore. A warning is logged when the file is readable by group or
 * others (it should be 0600 or 0400).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decoder_int.h"
#include "log.h"
#include "mac.h"
#include "hex.h"

typedef struct ks_phone {
    char mac[PR_MAC_LEN + 1];
    char *password; /* NULL if none */
    bool has_ikm;
    decoder_ikm ikm;
} ks_phone;

typedef struct ks_keyid {
    unsigned char id[255];
    size_t id_len;
    decoder_ikm ikm;
} ks_keyid;

struct decoder_keystore {
    ks_phone def;
    ks_phone *phones; /* sorted by mac */
    size_t nphones;
    ks_keyid *keyids;
    size_t nkeyids;
};

static void phone_clear(ks_phone *p)
{
    if (p->password) {
        OPENSSL_cleanse(p->password, strlen(p->password));
        free(p->password);
    }
    OPENSSL_cleanse(&p->ikm, sizeof p->ikm);
}

void decoder_keystore_free(decoder_keystore *ks)
{
    if (!ks)
        return;
    phone_clear(&ks->def);
    for (size_t i = 0; i < ks->nphones; i++)
        phone_clear(&ks->phones[i]);
    free(ks->phones);
    if (ks->keyids)
        OPENSSL_cleanse(ks->keyids, ks->nkeyids * sizeof *ks->keyids);
    free(ks->keyids);
    free(ks);
}

/* base64url (or standard base64) without or with padding, via OpenSSL's decoder. */
static int b64url_decode(const char *s, size_t n, unsigned char *out, size_t max, size_t *len)
{
    if (n == 0 || n > 4 * ((DECODER_IKM_MAX + 2) / 3) + 4)
        return -1;
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    char tmp[4 * ((DECODER_IKM_MAX + 2) / 3) + 8];
    unsigned char dec[sizeof tmp];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/'))
            return -1;
        tmp[m++] = c;
    }
    size_t pad = (4 - m % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        tmp[m++] = '=';
    int r = EVP_DecodeBlock(dec, (const unsigned char *)tmp, (int)m);
    if (r < 0 || (size_t)r < pad)
        return -1;
    size_t got = (size_t)r - pad;
    if (got == 0 || got > max)
        return -1;
    memcpy(out, dec, got);
    OPENSSL_cleanse(dec, sizeof dec);
    OPENSSL_cleanse(tmp, sizeof tmp);
    *len = got;
    return 0;
}

static int ikm_parse(json_t *j, decoder_ikm *ikm, const char *where, char *err, size_t errlen)
{
    const char *enc = NULL;
    json_t *v = NULL;
    if (!json_is_object(j) || json_object_size(j) != 1) {
        pr_err(PR_EINVAL, err, errlen,
               "%s: an IKM is an object with exactly one of \"text\", \"base64url\", \"hex\"",
               where);
        return -1;
    }
    json_object_foreach(j, enc, v) break;
    if (!json_is_string(v)) {
        pr_err(PR_EINVAL, err, errlen, "%s: the IKM must be a string", where);
        return -1;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    memset(ikm, 0, sizeof *ikm);
    if (strcmp(enc, "text") == 0) {
        if (n == 0 || n > DECODER_IKM_MAX)
            goto bad_len;
        memcpy(ikm->bytes, s, n);
        ikm->len = n;
    } else if (strcmp(enc, "hex") == 0) {
        if (n == 0 || n % 2 || n / 2 > DECODER_IKM_MAX)
            goto bad_len;
        if (!pr_hex_decode(s, n, ikm->bytes)) {
            pr_err(PR_EINVAL, err, errlen, "%s: the hex IKM has a non-hex digit", where);
            return -1;
        }
        ikm->len = n / 2;
    } else if (strcmp(enc, "base64url") == 0) {
        if (b64url_decode(s, n, ikm->bytes, sizeof ikm->bytes, &ikm->len) != 0) {
            pr_err(PR_EINVAL, err, errlen, "%s: the base64url IKM does not decode", where);
            return -1;
        }
    } else {
        pr_err(PR_EINVAL, err, errlen, "%s: unknown IKM encoding \"%s\" (text, base64url or hex)",
               where, enc);
        return -1;
    }
    return 0;
bad_len:
    pr_err(PR_EINVAL, err, errlen, "%s: the IKM must be 1..%d bytes", where, DECODER_IKM_MAX);
    return -1;
}

static int entry_parse(json_t *j, ks_phone *p, const char *where, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(j)) {
        pr_err(PR_EINVAL, err, errlen, "%s: must be an object", where);
        return -1;
    }
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "openssl_password") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) > DECODER_PASSWORD_MAX ||
                strlen(json_string_value(v)) != json_string_length(v)) {
                pr_err(PR_EINVAL, err, errlen,
                       "%s: openssl_password must be a non-empty string without NUL", where);
                return -1;
            }
            p->password = strdup(json_string_value(v));
            if (!p->password) {
                pr_err(PR_EFATAL, err, errlen, "out of memory");
                return -1;
            }
        } else if (strcmp(k, "ikm") == 0) {
            if (ikm_parse(v, &p->ikm, where, err, errlen) != 0)
                return -1;
            p->has_ikm = true;
        } else {
            pr_err(PR_EINVAL, err, errlen, "%s: unknown member \"%s\" (openssl_password, ikm)",
                   where, k);
            return -1;
        }
    }
    return 0;
}

static int phone_cmp(const void *a, const void *b)
{
    return strcmp(((const ks_phone *)a)->mac, ((const ks_phone *)b)->mac);
}

/* A zeroed array for the members of the object v (the keystore's member `name`), one more than
 * it has; NULL with *rc and err when v is not an object or memory is short. */
static void *member_array(json_t *v, const char *name, size_t elem, pr_status *rc, char *err,
                          size_t errlen)
{
    void *a = NULL;
    if (!json_is_object(v))
        *rc = pr_err(PR_EINVAL, err, errlen, "keystore %s: must be an object", name);
    else if (!(a = calloc(json_object_size(v) + 1, elem)))
        *rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
    return a;
}

static pr_status build(json_t *root, decoder_keystore *ks, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    char where[96];
    if (!json_is_object(root))
        return pr_err(PR_EINVAL, err, errlen, "keystore: the top level must be an object");
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "default") == 0) {
            if (entry_parse(v, &ks->def, "keystore default", err, errlen) != 0)
                return PR_EINVAL;
        } else if (strcmp(k, "phones") == 0) {
            const char *mk;
            json_t *mv;
            pr_status rc;
            if (!(ks->phones = member_array(v, "phones", sizeof *ks->phones, &rc, err, errlen)))
                return rc;
            json_object_foreach(v, mk, mv)
            {
                ks_phone *p = &ks->phones[ks->nphones];
                char merr[128];
                if (pr_mac_parse(mk, strlen(mk), p->mac, merr, sizeof merr) != PR_OK)
                    return pr_err(PR_EINVAL, err, errlen, "keystore phones: \"%s\": %s", mk, merr);
                ks->nphones++;
                snprintf(where, sizeof where, "keystore phones.%s", p->mac);
                if (entry_parse(mv, p, where, err, errlen) != 0)
                    return PR_EINVAL;
            }
            qsort(ks->phones, ks->nphones, sizeof *ks->phones, phone_cmp);
            for (size_t i = 1; i < ks->nphones; i++)
                if (strcmp(ks->phones[i - 1].mac, ks->phones[i].mac) == 0)
                    return pr_err(PR_EINVAL, err, errlen, "keystore phones: %s appears twice",
                                  ks->phones[i].mac);
        } else if (strcmp(k, "key_ids") == 0) {
            const char *ik;
            json_t *iv;
            pr_status rc;
            if (!(ks->keyids = member_array(v, "key_ids", sizeof *ks->keyids, &rc, err, errlen)))
                return rc;
            json_object_foreach(v, ik, iv)
            {
                ks_keyid *e = &ks->keyids[ks->nkeyids];
                size_t n = strlen(ik);
                if (n == 0 || n > sizeof e->id)
                    return pr_err(PR_EINVAL, err, errlen,
                                  "keystore key_ids: a key id is 1..255 bytes");
                memcpy(e->id, ik, n);
                e->id_len = n;
                ks->nkeyids++;
                snprintf(where, sizeof where, "keystore key_ids.%.40s", ik);
                if (ikm_parse(iv, &e->ikm, where, err, errlen) != 0)
                    return PR_EINVAL;
            }
        } else {
            return pr_err(PR_EINVAL, err, errlen,
                          "keystore: unknown member \"%s\" (default, phones, key_ids)", k);
        }
    }
    return PR_OK;
}

static pr_status finish(json_t *root, decoder_keystore **out, char *err, size_t errlen)
{
    decoder_keystore *ks = calloc(1, sizeof *ks);
    pr_status st;
    if (!ks) {
        json_decref(root);
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    }
    st = build(root, ks, err, errlen);
    json_decref(root);
    if (st != PR_OK) {
        decoder_keystore_free(ks);
        return st;
    }
    *out = ks;
    return PR_OK;
}

pr_status decoder_keystore_parse(const char *text, decoder_keystore **out, char *err, size_t errlen)
{
    json_error_t je;
    *out = NULL;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return pr_err(PR_EINVAL, err, errlen, "keystore: not valid JSON (line %d, column %d)",
                      je.line, je.column);
    return finish(root, out, err, errlen);
}

pr_status decoder_keystore_load(const char *path, decoder_keystore **out, char *err, size_t errlen)
{
    json_error_t je;
    struct stat sb;
    *out = NULL;
    if (!path || !*path) {
        *out = calloc(1, sizeof **out);
        return *out ? PR_OK : pr_err(PR_EFATAL, err, errlen, "out of memory");
    }
    if (stat(path, &sb) != 0)
        return pr_err(PR_EINVAL, err, errlen, "keystore %s: cannot stat", path);
    if (sb.st_mode & (S_IRWXG | S_IRWXO))
        PR_LOG(PR_LOG_WARN, "decoder", "keystore file is accessible by group or others",
               json_pack("{ss,so}", "path", path, "mode",
                         json_sprintf("%04o", (unsigned)(sb.st_mode & 07777))));
    /* Only the position of a JSON error is reported: jansson's text may quote a secret. */
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return pr_err(PR_EINVAL, err, errlen,
                      "keystore %s: cannot read or not valid JSON (line %d, column %d)", path,
                      je.line, je.column);
    return finish(root, out, err, errlen);
}

const char *decoder_keystore_password(const decoder_keystore *ks, const char *mac)
{
    if (!ks)
        return NULL;
    if (mac && *mac && ks->nphones) {
        ks_phone key;
        memset(&key, 0, sizeof key);
        snprintf(key.mac, sizeof key.mac, "%s", mac);
        const ks_phone *p = bsearch(&key, ks->phones, ks->nphones, sizeof *p, phone_cmp);
        if (p && p->password)
            return p->password;
    }
    return ks->def.password;
}

size_t decoder_keystore_ikms(const decoder_keystore *ks, const unsigned char *keyid,
                             size_t keyid_len, const char *mac, const decoder_ikm **out, size_t max)
{
    size_t n = 0;
    if (!ks || max == 0)
        return 0;
    if (keyid_len > 0) {
        for (size_t i = 0; i < ks->nkeyids; i++) {
            if (ks->keyids[i].id_len == keyid_len &&
                memcmp(ks->keyids[i].id, keyid, keyid_len) == 0) {
                out[n++] = &ks->keyids[i].ikm;
                break;
            }
        }
    }
    if (mac && *mac && ks->nphones && n < max) {
        ks_phone key;
        memset(&key, 0, sizeof key);
        snprintf(key.mac, sizeof key.mac, "%s", mac);
        const ks_phone *p = bsearch(&key, ks->phones, ks->nphones, sizeof *p, phone_cmp);
        if (p && p->has_ikm)
            out[n++] = &p->ikm;
    }
    if (ks->def.has_ikm && n < max) {
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup = dup || (out[i]->len == ks->def.ikm.len &&
                          memcmp(out[i]->bytes, ks->def.ikm.bytes, out[i]->len) == 0);
        if (!dup)
            out[n++] = &ks->def.ikm;
    }
    return n;
}
