/*
 * crypto_cbc.c - the `openssl enc -aes-256-cbc` format phones use with `--key`: "Salted__",
 * an 8-byte salt, then AES-256-CBC with PKCS#7 padding; key and IV from the password by
 * EVP_BytesToKey with one iteration. The digest is undocumented (MD5 in old firmware,
 * SHA-256 in new), so each configured digest is tried in order and a candidate is accepted
 * only if its padding is valid AND its plaintext starts like XML or gzip: a wrong digest
 * passes the padding check about once in 256 tries, never both checks in practice.
 * The one exception is an empty plaintext (a single block that is all padding): it is
 * accepted as it is, since a wrong key gives sixteen 0x10 bytes once in 2^128 tries, and the
 * caller dead-letters it as `empty` rather than as a decryption failure.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_int.h"

#define SALT_MAGIC     "Salted__"
#define SALT_MAGIC_LEN 8
#define SALT_LEN       8
#define BLOCK          16

bool decoder_cbc_detect(const unsigned char *body, size_t len)
{
    return len >= SALT_MAGIC_LEN && memcmp(body, SALT_MAGIC, SALT_MAGIC_LEN) == 0;
}

bool decoder_plaintext_plausible(const unsigned char *p, size_t len)
{
    size_t i = 0;
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return true;
    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        i = 3;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < len && p[i] == '<';
}

static const char *digest_name(decoder_digest d)
{
    return d == DECODER_DIGEST_MD5 ? "md5" : "sha256";
}

/* One candidate: PR_OK and a plausible plaintext in out, or an error (not logged). */
static decoder_crypt_result try_digest(const unsigned char *body, size_t len, const char *password,
                                       decoder_digest d, unsigned char *out, size_t *outlen)
{
    unsigned char key[32], iv[16];
    const EVP_MD *md = d == DECODER_DIGEST_MD5 ? EVP_md5() : EVP_sha256();
    const unsigned char *salt = body + SALT_MAGIC_LEN;
    const unsigned char *ct = body + SALT_MAGIC_LEN + SALT_LEN;
    size_t ctlen = len - SALT_MAGIC_LEN - SALT_LEN;
    decoder_crypt_result res = DECODER_CRYPT_FAILED;
    int n1 = 0, n2 = 0;

    if (EVP_BytesToKey(EVP_aes_256_cbc(), md, salt, (const unsigned char *)password,
                       (int)strlen(password), 1, key, iv) != 32)
        return DECODER_CRYPT_FAILED;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) {
        res = DECODER_CRYPT_NOMEM;
        goto out;
    }
    /* Padding checking on: EVP_DecryptFinal_ex rejects anything but valid PKCS#7. */
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv) != 1 ||
        EVP_DecryptUpdate(ctx, out, &n1, ct, (int)ctlen) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + n1, &n2) != 1)
        goto out;
    *outlen = (size_t)n1 + (size_t)n2;
    if (*outlen == 0 || decoder_plaintext_plausible(out, *outlen))
        res = DECODER_CRYPT_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    return res;
}

decoder_crypt_result decoder_cbc_decrypt(const unsigned char *body, size_t len,
                                         const char *password, const decoder_digest *digests,
                                         size_t ndigests, unsigned char **out, size_t *outlen,
                                         decoder_digest *used, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (!decoder_cbc_detect(body, len)) {
        pr_err(PR_EINVAL, err, errlen,
               "no Salted__ header: the salt is unknown, cannot decrypt (openssl enc -S?)");
        return DECODER_CRYPT_MALFORMED;
    }
    /* Two messages, so that a body shorter than the header never reports a negative size. */
    if (len < SALT_MAGIC_LEN + SALT_LEN + BLOCK) {
        pr_err(PR_EINVAL, err, errlen,
               "openssl enc body truncated: %zu bytes, shorter than the Salted__ header, its "
               "8-byte salt and one 16-byte block",
               len);
        return DECODER_CRYPT_MALFORMED;
    }
    if ((len - SALT_MAGIC_LEN - SALT_LEN) % BLOCK) {
        pr_err(PR_EINVAL, err, errlen,
               "openssl enc body truncated: %zu ciphertext bytes is not a multiple of 16",
               len - SALT_MAGIC_LEN - SALT_LEN);
        return DECODER_CRYPT_MALFORMED;
    }
    if (len > (size_t)INT32_MAX) {
        pr_err(PR_EINVAL, err, errlen, "openssl enc body too large");
        return DECODER_CRYPT_TOO_LARGE;
    }
    if (!password) {
        pr_err(PR_EINVAL, err, errlen, "openssl enc body but no password for this phone");
        return DECODER_CRYPT_NO_KEY;
    }
    unsigned char *buf = malloc(len + BLOCK);
    if (!buf)
        return DECODER_CRYPT_NOMEM;
    for (size_t i = 0; i < ndigests; i++) {
        decoder_crypt_result r = try_digest(body, len, password, digests[i], buf, outlen);
        if (r == DECODER_CRYPT_OK) {
            *out = buf;
            if (used)
                *used = digests[i];
            return DECODER_CRYPT_OK;
        }
        if (r == DECODER_CRYPT_NOMEM) {
            free(buf);
            return r;
        }
    }
    free(buf);
    *outlen = 0;
    pr_err(PR_EINVAL, err, errlen,
           "openssl enc: no digest (%s%s%s) gives valid padding and an XML or gzip plaintext",
           ndigests > 0 ? digest_name(digests[0]) : "none", ndigests > 1 ? "," : "",
           ndigests > 1 ? digest_name(digests[1]) : "");
    return DECODER_CRYPT_FAILED;
}
