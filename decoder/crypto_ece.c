/*
 * crypto_ece.c - RFC 8188 `aes128gcm` content coding, the format phones use when they hold an
 * IKM (IKM_HTTP_Encrypt_Content) and no --key.
 *
 * Body: salt(16) || rs(uint32 BE) || idlen(1) || keyid(idlen) || records. PRK =
 * HKDF-Extract(salt, IKM); CEK = HKDF-Expand(PRK, "Content-Encoding: aes128gcm\0", 16); NONCE =
 * HKDF-Expand(PRK, "Content-Encoding: nonce\0", 12). The records are the rest split every rs
 * bytes (the last may be shorter); record i is AES-128-GCM(CEK, NONCE XOR i) of data ||
 * delimiter || zero padding, the 16-byte tag included in rs. Delimiter 0x02 marks the last
 * record and 0x01 every other one; a body whose final record carries 0x01 was truncated.
 * Nothing is assumed: rs and the key id always come from the body.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_int.h"

#define ECE_SALT       16
#define ECE_HEADER_MIN 21
#define ECE_TAG        16
#define ECE_RS_MIN     18

decoder_crypt_result decoder_ece_header_parse(const unsigned char *body, size_t len,
                                              decoder_ece_header *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (len < ECE_HEADER_MIN) {
        pr_err(PR_EINVAL, err, errlen, "aes128gcm body of %zu bytes is shorter than its header",
               len);
        return DECODER_CRYPT_MALFORMED;
    }
    h->salt = body;
    h->rs = (uint32_t)body[16] << 24 | (uint32_t)body[17] << 16 | (uint32_t)body[18] << 8 |
            (uint32_t)body[19];
    h->keyid_len = body[20];
    h->keyid = body + ECE_HEADER_MIN;
    h->header_len = ECE_HEADER_MIN + h->keyid_len;
    if (h->rs < ECE_RS_MIN) {
        pr_err(PR_EINVAL, err, errlen, "aes128gcm record size %u is below 18", h->rs);
        return DECODER_CRYPT_MALFORMED;
    }
    if (len < h->header_len + ECE_TAG + 1) {
        pr_err(PR_EINVAL, err, errlen,
               "aes128gcm body truncated: no complete record after the "
               "header");
        return DECODER_CRYPT_MALFORMED;
    }
    return DECODER_CRYPT_OK;
}

static int hkdf(const unsigned char *salt, const unsigned char *ikm, size_t ikm_len,
                const char *info, size_t info_len, unsigned char *out, size_t outlen)
{
    int ok = 0;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (kctx) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, ECE_SALT),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
            OSSL_PARAM_construct_end(),
        };
        ok = EVP_KDF_derive(kctx, out, outlen, params) == 1;
    }
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

/* Decrypts one record into out; returns its plaintext length, or -1 on a failed tag. */
static long open_record(EVP_CIPHER_CTX *ctx, const unsigned char *cek, const unsigned char *nonce0,
                        uint64_t seq, const unsigned char *rec, size_t reclen, unsigned char *out)
{
    unsigned char nonce[12];
    int n1 = 0, n2 = 0;
    memcpy(nonce, nonce0, sizeof nonce);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (unsigned char)(seq >> (8 * i));
    size_t ctlen = reclen - ECE_TAG;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)sizeof nonce, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, cek, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, out, &n1, rec, (int)ctlen) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ECE_TAG, (void *)(rec + ctlen)) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + n1, &n2) != 1)
        return -1;
    return (long)n1 + n2;
}

decoder_crypt_result decoder_ece_decrypt(const unsigned char *body, size_t len,
                                         const unsigned char *ikm, size_t ikm_len, size_t max_out,
                                         unsigned char **out, size_t *outlen, char *err,
                                         size_t errlen)
{
    decoder_ece_header h;
    unsigned char cek[16], nonce[12];
    unsigned char *plain = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    decoder_crypt_result res = decoder_ece_header_parse(body, len, &h, err, errlen);
    static const char cek_info[] = "Content-Encoding: aes128gcm"; /* + its NUL */
    static const char nonce_info[] = "Content-Encoding: nonce";

    *out = NULL;
    *outlen = 0;
    if (res != DECODER_CRYPT_OK)
        return res;
    if (len > (size_t)INT32_MAX) {
        pr_err(PR_EINVAL, err, errlen, "aes128gcm body too large");
        return DECODER_CRYPT_TOO_LARGE;
    }
    if (!hkdf(h.salt, ikm, ikm_len, cek_info, sizeof cek_info, cek, sizeof cek) ||
        !hkdf(h.salt, ikm, ikm_len, nonce_info, sizeof nonce_info, nonce, sizeof nonce)) {
        pr_err(PR_EFATAL, err, errlen, "HKDF-SHA256 unavailable in this OpenSSL");
        return DECODER_CRYPT_NOMEM;
    }
    const unsigned char *p = body + h.header_len;
    size_t left = len - h.header_len;
    plain = malloc(left);
    ctx = EVP_CIPHER_CTX_new();
    if (!plain || !ctx) {
        res = DECODER_CRYPT_NOMEM;
        goto out;
    }
    size_t n = 0;
    bool last_seen = false;
    for (uint64_t seq = 0; left > 0; seq++) {
        size_t reclen = left < h.rs ? left : h.rs;
        if (reclen < ECE_TAG + 1) {
            res = DECODER_CRYPT_MALFORMED;
            pr_err(PR_EINVAL, err, errlen, "aes128gcm record %llu truncated (%zu bytes)",
                   (unsigned long long)seq, reclen);
            goto out;
        }
        long m = open_record(ctx, cek, nonce, seq, p, reclen, plain + n);
        if (m < 0) {
            /* The first record failing means the wrong IKM; a later one, that the key was
             * right and the body was cut or altered. */
            res = seq == 0 ? DECODER_CRYPT_FAILED : DECODER_CRYPT_MALFORMED;
            pr_err(PR_EINVAL, err, errlen, "aes128gcm record %llu fails authentication%s",
                   (unsigned long long)seq, seq == 0 ? " (wrong IKM?)" : ": truncated or corrupt");
            goto out;
        }
        p += reclen;
        left -= reclen;
        /* Strip zero padding back to the delimiter. */
        size_t k = (size_t)m;
        while (k > 0 && plain[n + k - 1] == 0)
            k--;
        if (k == 0) {
            res = DECODER_CRYPT_MALFORMED;
            pr_err(PR_EINVAL, err, errlen, "aes128gcm record %llu has no delimiter",
                   (unsigned long long)seq);
            goto out;
        }
        unsigned char delim = plain[n + k - 1];
        bool final_record = left == 0;
        if (delim == 0x02) {
            if (!final_record) {
                res = DECODER_CRYPT_MALFORMED;
                pr_err(PR_EINVAL, err, errlen,
                       "aes128gcm record %llu is marked last but more records follow",
                       (unsigned long long)seq);
                goto out;
            }
            last_seen = true;
        } else if (delim != 0x01) {
            res = DECODER_CRYPT_MALFORMED;
            pr_err(PR_EINVAL, err, errlen, "aes128gcm record %llu has a bad delimiter 0x%02x",
                   (unsigned long long)seq, delim);
            goto out;
        } else if (reclen < h.rs) {
            /* A short record that is not marked last: the body ends early. */
            break;
        }
        n += k - 1;
        if (n > max_out) {
            res = DECODER_CRYPT_TOO_LARGE;
            pr_err(PR_EINVAL, err, errlen, "aes128gcm plaintext over %zu bytes", max_out);
            goto out;
        }
    }
    if (!last_seen) {
        res = DECODER_CRYPT_MALFORMED;
        pr_err(PR_EINVAL, err, errlen, "aes128gcm body truncated: no record is marked last");
        goto out;
    }
    *out = plain;
    *outlen = n;
    plain = NULL;
    res = DECODER_CRYPT_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(plain);
    OPENSSL_cleanse(cek, sizeof cek);
    OPENSSL_cleanse(nonce, sizeof nonce);
    return res;
}
