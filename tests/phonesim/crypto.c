/*
 * crypto.c - the two encryptions a phone applies to a report, as small encoders over OpenSSL
 * EVP (a test tool's own; the decoder's decryption is tested against independent tools).
 *
 * openssl enc: "Salted__" || salt(8) || AES-256-CBC(PKCS#7), key and IV from
 * EVP_BytesToKey(md, salt, password, 1 iteration) as `openssl enc -k` does without -pbkdf2.
 * RFC 8188 aes128gcm: header salt(16) || rs(uint32 BE) || idlen || keyid, then records of at
 * most rs octets: AES-128-GCM(data || 0x01, or 0x02 for the last) with the 16-octet tag;
 * CEK and nonce from HKDF-SHA-256 (written out with HMAC, RFC 8188 section 2.2/2.3).
 */
#include "phonesim.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int sim_crypto_openssl_enc(const char *md_name, const char *password, const unsigned char *salt,
                           const void *in, size_t len, sim_buf *out)
{
    const EVP_MD *md = strcmp(md_name, "md5") == 0      ? EVP_md5()
                       : strcmp(md_name, "sha256") == 0 ? EVP_sha256()
                                                        : NULL;
    unsigned char s[8], key[32], iv[16];
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *ct = NULL;
    int rc = -1, n1 = 0, n2 = 0;

    if (!md || len > (size_t)1 << 30)
        return -1;
    if (salt)
        memcpy(s, salt, sizeof s);
    else if (RAND_bytes(s, sizeof s) != 1)
        return -1;
    if (EVP_BytesToKey(EVP_aes_256_cbc(), md, s, (const unsigned char *)password,
                       (int)strlen(password), 1, key, iv) != 32)
        goto out;
    ct = malloc(len + 32);
    ctx = EVP_CIPHER_CTX_new();
    if (!ct || !ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv) != 1 ||
        EVP_EncryptUpdate(ctx, ct, &n1, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + n1, &n2) != 1)
        goto out;
    if (sim_buf_put(out, "Salted__", 8) != 0 || sim_buf_put(out, s, sizeof s) != 0 ||
        sim_buf_put(out, ct, (size_t)n1 + (size_t)n2) != 0)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(ct);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    return rc;
}

/* HMAC-SHA-256(key, msg) into out[32]. */
static int hmac256(const unsigned char *key, size_t klen, const unsigned char *msg, size_t mlen,
                   unsigned char out[32])
{
    unsigned int olen = 0;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) && olen == 32 ? 0 : -1;
}

int sim_crypto_aes128gcm(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
                         uint32_t rs, const char *keyid, const void *in, size_t len, sim_buf *out)
{
    static const char cek_info[] = "Content-Encoding: aes128gcm"; /* || 0x00 || 0x01 */
    static const char nonce_info[] = "Content-Encoding: nonce";
    unsigned char s[16], prk[32], cek[32], nonce[32], info[64], rec_nonce[12], tag[16];
    size_t idlen = keyid ? strlen(keyid) : 0;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *rec = NULL;
    int rc = -1;

    if (rs < 18 || idlen > 255)
        return -1;
    if (salt)
        memcpy(s, salt, sizeof s);
    else if (RAND_bytes(s, sizeof s) != 1)
        return -1;

    /* HKDF-Extract, then one block of HKDF-Expand per secret (T(1) = HMAC(PRK, info||0x01)). */
    if (hmac256(s, sizeof s, ikm, ikm_len, prk) != 0)
        goto out;
    memcpy(info, cek_info, sizeof cek_info); /* copies the NUL: the 0x00 separator */
    info[sizeof cek_info] = 0x01;
    if (hmac256(prk, sizeof prk, info, sizeof cek_info + 1, cek) != 0)
        goto out;
    memcpy(info, nonce_info, sizeof nonce_info);
    info[sizeof nonce_info] = 0x01;
    if (hmac256(prk, sizeof prk, info, sizeof nonce_info + 1, nonce) != 0)
        goto out;

    unsigned char hdr[21];
    memcpy(hdr, s, 16);
    hdr[16] = (unsigned char)(rs >> 24);
    hdr[17] = (unsigned char)(rs >> 16);
    hdr[18] = (unsigned char)(rs >> 8);
    hdr[19] = (unsigned char)rs;
    hdr[20] = (unsigned char)idlen;
    if (sim_buf_put(out, hdr, sizeof hdr) != 0 || sim_buf_put(out, keyid ? keyid : "", idlen))
        goto out;

    size_t per = rs - 17; /* data octets per record: rs minus delimiter and tag */
    rec = malloc(rs);
    ctx = EVP_CIPHER_CTX_new();
    if (!rec || !ctx)
        goto out;
    const unsigned char *p = in;
    uint64_t seq = 0;
    size_t left = len;
    do {
        size_t take = left < per ? left : per;
        bool last = take == left;
        int n = 0, fin = 0;
        memcpy(rec, p, take);
        rec[take] = last ? 0x02 : 0x01;
        memcpy(rec_nonce, nonce, 12);
        for (int i = 0; i < 8; i++) /* NONCE XOR seq, seq as a 96-bit big-endian integer */
            rec_nonce[11 - i] ^= (unsigned char)(seq >> (8 * i));
        if (EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, cek, rec_nonce) != 1 ||
            EVP_EncryptUpdate(ctx, rec, &n, rec, (int)(take + 1)) != 1 ||
            EVP_EncryptFinal_ex(ctx, rec + n, &fin) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
            goto out;
        if (sim_buf_put(out, rec, (size_t)n + (size_t)fin) != 0 || sim_buf_put(out, tag, 16))
            goto out;
        p += take;
        left -= take;
        seq++;
    } while (left > 0);
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(rec);
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(cek, sizeof cek);
    return rc;
}
