/*
 * kind.c - the report kind (pr-kind) from the URL path, and the path prefixes that accept
 * uploads. Pure: no HTTP, no Kafka.
 *
 * Phones say nothing about the kind in the request: the administrator's Report_Rule puts it
 * in the URL (`[--delta]https://edge/r/$MA-delta.xml`). So the kind comes from globs on the
 * path, checked status, then delta, then full; a path no glob matches is `unknown` (the
 * decoder decides from the body then).
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"

static pr_status parse_globs(const char *name, const char *s, char ***out, size_t *n, char *err,
                             size_t errlen)
{
    if (ingest_list_split(s, out, n, err, errlen) != PR_OK)
        return pr_err(PR_EFATAL, err, errlen, "%s: out of memory", name);
    for (size_t i = 0; i < *n; i++)
        if ((*out)[i][0] == '\0' || strlen((*out)[i]) > 256)
            return pr_err(PR_EINVAL, err, errlen, "%s: bad pattern '%s'", name, (*out)[i]);
    return PR_OK;
}

pr_status ingest_kind_rules_parse(const char *status, const char *delta, const char *full,
                                  ingest_kind_rules *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    pr_status rc =
        parse_globs("kind-status-pattern", status, &out->status, &out->nstatus, err, errlen);
    if (rc == PR_OK)
        rc = parse_globs("kind-delta-pattern", delta, &out->delta, &out->ndelta, err, errlen);
    if (rc == PR_OK)
        rc = parse_globs("kind-full-pattern", full, &out->full, &out->nfull, err, errlen);
    if (rc != PR_OK)
        ingest_kind_rules_release(out);
    return rc;
}

static int any_match(char **globs, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], path, FNM_CASEFOLD) == 0)
            return 1;
    return 0;
}

pr_kind ingest_kind_of_path(const ingest_kind_rules *rules, const char *path)
{
    if (any_match(rules->status, rules->nstatus, path))
        return PR_KIND_STATUS;
    if (any_match(rules->delta, rules->ndelta, path))
        return PR_KIND_DELTA;
    if (any_match(rules->full, rules->nfull, path))
        return PR_KIND_FULL;
    return PR_KIND_UNKNOWN;
}

void ingest_kind_rules_release(ingest_kind_rules *rules)
{
    ingest_list_free(rules->status, rules->nstatus);
    ingest_list_free(rules->delta, rules->ndelta);
    ingest_list_free(rules->full, rules->nfull);
    memset(rules, 0, sizeof *rules);
}

pr_status ingest_prefixes_parse(const char *s, ingest_prefixes *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    pr_status rc = ingest_list_split(s, &out->p, &out->n, err, errlen);
    if (rc != PR_OK)
        return rc;
    if (out->n == 0)
        return pr_err(PR_EINVAL, err, errlen, "empty: name at least one prefix, e.g. /");
    for (size_t i = 0; i < out->n; i++) {
        if (out->p[i][0] != '/') {
            rc = pr_err(PR_EINVAL, err, errlen, "'%s' does not start with /", out->p[i]);
            ingest_prefixes_release(out);
            return rc;
        }
    }
    return PR_OK;
}

bool ingest_prefixes_match(const ingest_prefixes *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++) {
        size_t l = strlen(p->p[i]);
        if (strncmp(path, p->p[i], l) == 0)
            return true;
        /* "/r/" also accepts "/r" itself */
        if (l > 1 && p->p[i][l - 1] == '/' && strlen(path) == l - 1 &&
            strncmp(path, p->p[i], l - 1) == 0)
            return true;
    }
    return false;
}

void ingest_prefixes_release(ingest_prefixes *p)
{
    ingest_list_free(p->p, p->n);
    memset(p, 0, sizeof *p);
}
