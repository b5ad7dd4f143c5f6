/*
 * list.c - the comma-separated lists that settings hold (upload prefixes, identity order,
 * allow-list, kind patterns): split into trimmed, non-empty items. Pure; below config.c,
 * identity.c and kind.c, which all parse such lists.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"

pr_status ingest_list_split(const char *s, char ***items, size_t *n, char *err, size_t errlen)
{
    char **v = NULL;
    size_t cnt = 0;
    *items = NULL;
    *n = 0;
    if (!s)
        return PR_OK;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            char **nv = realloc(v, (cnt + 1) * sizeof *v);
            if (!nv)
                goto fail;
            v = nv;
            v[cnt] = strndup(a, (size_t)(b - a));
            if (!v[cnt])
                goto fail;
            cnt++;
        }
        p = *e ? e + 1 : e;
    }
    *items = v;
    *n = cnt;
    return PR_OK;
fail:
    ingest_list_free(v, cnt);
    return pr_err(PR_EFATAL, err, errlen, "out of memory");
}

void ingest_list_free(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}
