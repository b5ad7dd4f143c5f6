/*
 * gzip.c - gunzip with zlib, bounded: phones may gzip a report before encrypting it, and a
 * small body can inflate to gigabytes (a decompression bomb), so the output is capped and
 * inflating stops as soon as the cap would be passed.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "decoder_int.h"

bool decoder_gzip_detect(const unsigned char *p, size_t len)
{
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

pr_status decoder_gzip_inflate(const unsigned char *in, size_t len, size_t max_out,
                               unsigned char **out, size_t *outlen, bool *too_large, char *err,
                               size_t errlen)
{
    z_stream zs;
    pr_status st = PR_EINVAL;
    size_t cap = len * 4 < 65536 ? 65536 : len * 4;
    unsigned char *buf = NULL;

    *out = NULL;
    *outlen = 0;
    *too_large = false;
    memset(&zs, 0, sizeof zs);
    if (len > UINT32_MAX)
        return pr_err(PR_EINVAL, err, errlen, "gzip input too large");
    if (cap > max_out + 1)
        cap = max_out + 1;
    if (inflateInit2(&zs, 15 + 16) != Z_OK) /* 16: gzip wrapper only */
        return pr_err(PR_EFATAL, err, errlen, "zlib inflateInit2 failed");
    buf = malloc(cap);
    if (!buf) {
        st = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    for (;;) {
        if (zs.total_out == cap) {
            if (cap > max_out) {
                *too_large = true;
                st = pr_err(PR_EINVAL, err, errlen, "gzip output over %zu bytes", max_out);
                goto out;
            }
            size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                st = pr_err(PR_EFATAL, err, errlen, "out of memory");
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        zs.next_out = buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        int rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            break;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
            st = pr_err(PR_EINVAL, err, errlen, "gzip stream truncated");
            goto out;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = pr_err(PR_EINVAL, err, errlen, "gzip stream corrupt: %s",
                        zs.msg ? zs.msg : "inflate error");
            goto out;
        }
    }
    if (zs.total_out > max_out) {
        *too_large = true;
        st = pr_err(PR_EINVAL, err, errlen, "gzip output over %zu bytes", max_out);
        goto out;
    }
    if (zs.avail_in != 0) {
        st = pr_err(PR_EINVAL, err, errlen, "%u bytes of trailing data after the gzip stream",
                    zs.avail_in);
        goto out;
    }
    *outlen = zs.total_out;
    *out = buf;
    buf = NULL;
    st = PR_OK;
out:
    inflateEnd(&zs);
    free(buf);
    return st;
}
