/* file.c - reading a whole file, bounded (file.h). */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pr_status pr_file_read(const char *path, size_t max, char **out, size_t *len, char *err,
                       size_t errlen)
{
    pr_status st = PR_OK;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    if (!f)
        return pr_err(PR_EINVAL, err, errlen, "cannot open %s: %s", path, strerror(errno));
    for (;;) {
        if (cap - n < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                st = pr_err(PR_EFATAL, err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) {
            st = pr_err(PR_EINVAL, err, errlen, "%s is larger than %zu bytes", path, max);
            goto out;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        st = pr_err(PR_EINVAL, err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len)
        *len = n;
out:
    fclose(f);
    free(buf);
    return st;
}
