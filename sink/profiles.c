/*
 * profiles.c - the operator's intended configuration: a directory of flat-profiles,
 * `<mac>.xml` per phone and an optional `default.xml` for all; a phone's file overrides the
 * default per parameter.
 *
 * DESIGN: each file is parsed with pr_flatprofile_parse and its parameters sorted by name, so
 * a lookup is a binary search; files are sorted by MAC. A rescan stats every *.xml entry and
 * re-reads only those whose (mtime, size) changed. Owned by the consumer thread only.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "sink_internal.h"
#include "file.h"

#define DEFAULT_NAME "default.xml"

typedef struct profile_file {
    char mac[PR_MAC_LEN + 1]; /* "" for default.xml */
    char *path;
    struct timespec mtime;
    off_t size;
    bool loaded;     /* fp holds a successfully parsed version */
    bool current_ok; /* ... and it is the version on disk now */
    pr_flat_profile fp;
    bool seen; /* during a scan */
} profile_file;

/* A file as a previous run last applied it (see sink_profiles_remember). */
typedef struct known_file {
    char mac[PR_MAC_LEN + 1];
    long long mtime_ns, size;
    bool seen;
} known_file;

struct sink_profiles {
    char *dir;
    profile_file *files; /* sorted by mac; default.xml ("") first */
    size_t len, cap;
    known_file *known; /* until the first scan */
    size_t nknown;
    bool scanned;
};

static long long mtime_ns(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const pr_fp_param *)a)->name, ((const pr_fp_param *)b)->name);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const profile_file *)a)->mac, ((const profile_file *)b)->mac);
}

sink_profiles *sink_profiles_new(const char *dir)
{
    sink_profiles *p = calloc(1, sizeof *p);
    if (p && dir && !(p->dir = strdup(dir))) {
        free(p);
        return NULL;
    }
    return p;
}

static void file_release(profile_file *f)
{
    pr_flatprofile_release(&f->fp);
    free(f->path);
    memset(f, 0, sizeof *f);
}

void sink_profiles_free(sink_profiles *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->len; i++)
        file_release(&p->files[i]);
    free(p->files);
    free(p->known);
    free(p->dir);
    free(p);
}

void sink_profiles_delta_release(sink_profiles_delta *d)
{
    if (!d)
        return;
    free(d->macs);
    memset(d, 0, sizeof *d);
}

static void delta_add(sink_profiles_delta *d, const char *mac)
{
    if (!d)
        return;
    if (!*mac) {
        d->all = true;
        return;
    }
    void *n = pr_grow(d->macs, &d->cap, d->len, sizeof *d->macs, 16);
    if (!n) {
        d->all = true; /* cannot list them: recompute everything */
        return;
    }
    d->macs = n;
    memcpy(d->macs[d->len++], mac, PR_MAC_LEN + 1);
}

static profile_file *find_file(const sink_profiles *p, const char *mac)
{
    profile_file key;
    memset(&key, 0, sizeof key);
    snprintf(key.mac, sizeof key.mac, "%s", mac);
    return p->len ? bsearch(&key, p->files, p->len, sizeof key, cmp_file) : NULL;
}

/* Reads and parses one file into f->fp; keeps the old contents when it fails. */
static void load_file(profile_file *f)
{
    size_t len = 0;
    char *buf = NULL, errbuf[256];
    pr_xml_error why = PR_XML_OK;
    pr_flat_profile fp;
    memset(&fp, 0, sizeof fp);
    f->current_ok = false;
    /* the parser's own size limit refuses a larger file with a message */
    if (pr_file_read(f->path, pr_xml_limits_default.max_bytes + 1, &buf, &len, errbuf,
                     sizeof errbuf) != PR_OK) {
        PR_LOG(PR_LOG_WARN, "sink", "profile unreadable",
               json_pack("{ss ss}", "file", f->path, "error", errbuf));
        return;
    }
    if (pr_flatprofile_parse(buf, len, NULL, &fp, &why, errbuf, sizeof errbuf) != PR_OK) {
        PR_LOG(PR_LOG_WARN, "sink", "profile rejected, previous version kept",
               json_pack("{ss ss}", "file", f->path, "error", errbuf));
        pr_flatprofile_release(&fp);
        goto out;
    }
    qsort(fp.params, fp.len, sizeof *fp.params, cmp_param);
    pr_flatprofile_release(&f->fp);
    f->fp = fp;
    f->loaded = true;
    f->current_ok = true;
out:
    free(buf);
}

/* "<mac>.xml" with a MAC pr_mac_parse accepts, or default.xml (mac ""); -1 otherwise. */
static int file_mac(const char *name, char mac[PR_MAC_LEN + 1])
{
    size_t n = strlen(name);
    char err[64];
    if (strcmp(name, DEFAULT_NAME) == 0) {
        mac[0] = '\0';
        return 0;
    }
    if (n < 5 || strcmp(name + n - 4, ".xml") != 0)
        return -1;
    return pr_mac_parse(name, n - 4, mac, err, sizeof err) == PR_OK ? 0 : -1;
}

bool sink_profiles_scan(sink_profiles *p, sink_profiles_delta *d)
{
    bool changed = false;
    DIR *dh;
    struct dirent *de;
    if (!p->dir)
        return false;
    for (size_t i = 0; i < p->len; i++)
        p->files[i].seen = false;
    dh = opendir(p->dir);
    if (!dh) {
        PR_LOG(PR_LOG_WARN, "sink", "profiles-dir unreadable", json_pack("{ss}", "dir", p->dir));
        return false; /* keep what we have rather than resolving every drift */
    }
    while ((de = readdir(dh)) != NULL) {
        char mac[PR_MAC_LEN + 1], path[4096];
        struct stat sb;
        if (de->d_name[0] == '.' || file_mac(de->d_name, mac) != 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", p->dir, de->d_name) >= sizeof path ||
            stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        profile_file *f = find_file(p, mac);
        if (f && f->seen)
            continue; /* two spellings of one MAC: the first one read wins */
        if (!f) {
            profile_file *n = pr_grow(p->files, &p->cap, p->len, sizeof *n, 16);
            if (!n)
                continue;
            p->files = n;
            f = &p->files[p->len++];
            memset(f, 0, sizeof *f);
            memcpy(f->mac, mac, sizeof mac);
            f->path = strdup(path);
            qsort(p->files, p->len, sizeof *p->files, cmp_file);
            f = find_file(p, mac);
            if (!f->path)
                continue;
        }
        f->seen = true;
        if (f->size == sb.st_size && f->mtime.tv_sec == sb.st_mtim.tv_sec &&
            f->mtime.tv_nsec == sb.st_mtim.tv_nsec)
            continue;
        f->size = sb.st_size;
        f->mtime = sb.st_mtim;
        bool was = f->loaded;
        load_file(f);
        /* First scan: a file exactly as the previous run applied it changes nothing. */
        known_file *k = NULL;
        for (size_t i = 0; !p->scanned && i < p->nknown; i++)
            if (strcmp(p->known[i].mac, f->mac) == 0)
                k = &p->known[i];
        if (k)
            k->seen = true;
        if (k && f->current_ok && k->size == (long long)sb.st_size &&
            k->mtime_ns == mtime_ns(&sb.st_mtim))
            continue;
        if (f->loaded || was || k) {
            changed = true;
            delta_add(d, f->mac);
        }
    }
    closedir(dh);
    /* Files that disappeared. */
    size_t w = 0;
    for (size_t i = 0; i < p->len; i++) {
        if (p->files[i].seen) {
            p->files[w++] = p->files[i];
            continue;
        }
        changed = true;
        delta_add(d, p->files[i].mac);
        file_release(&p->files[i]);
    }
    p->len = w;
    /* Files the previous run applied that are gone now. */
    for (size_t i = 0; !p->scanned && i < p->nknown; i++) {
        if (!p->known[i].seen) {
            changed = true;
            delta_add(d, p->known[i].mac);
        }
    }
    p->scanned = true;
    free(p->known);
    p->known = NULL;
    p->nknown = 0;
    return changed;
}

void sink_profiles_remember(sink_profiles *p, const char *mac, long long mtime, long long size)
{
    if (p->scanned)
        return;
    known_file *n = realloc(p->known, (p->nknown + 1) * sizeof *n);
    if (!n)
        return; /* then that file counts as changed: a recompute, never a miss */
    p->known = n;
    memset(&n[p->nknown], 0, sizeof *n);
    snprintf(n[p->nknown].mac, sizeof n->mac, "%s", mac);
    n[p->nknown].mtime_ns = mtime;
    n[p->nknown].size = size;
    p->nknown++;
}

int sink_profiles_each_file(const sink_profiles *p,
                            int (*fn)(void *ctx, const char *mac, long long mtime, long long size),
                            void *ctx)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->len; i++)
        if (p->files[i].current_ok)
            rc =
                fn(ctx, p->files[i].mac, mtime_ns(&p->files[i].mtime), (long long)p->files[i].size);
    return rc;
}

void sink_profiles_invalidate(sink_profiles *p)
{
    for (size_t i = 0; i < p->len; i++)
        p->files[i].size = -1;
}

static const char *lookup(const profile_file *f, const char *name)
{
    pr_fp_param key;
    const pr_fp_param *hit;
    if (!f || !f->loaded || !f->fp.len)
        return NULL;
    key.name = (char *)(uintptr_t)name;
    hit = bsearch(&key, f->fp.params, f->fp.len, sizeof key, cmp_param);
    return hit ? hit->value : NULL;
}

const char *sink_profiles_intended(const sink_profiles *p, const char *mac, const char *name)
{
    const char *v = lookup(find_file(p, mac), name);
    return v ? v : lookup(find_file(p, ""), name);
}

int sink_profiles_each(const sink_profiles *p, const char *mac,
                       int (*fn)(void *ctx, const char *name, const char *value), void *ctx)
{
    const profile_file *own = find_file(p, mac), *def = find_file(p, "");
    size_t i = 0, j = 0, ni = own && own->loaded ? own->fp.len : 0;
    size_t nj = def && def->loaded ? def->fp.len : 0;
    int rc = 0;
    /* Merge two name-sorted arrays; the phone's own file wins on equal names. */
    while (rc == 0 && (i < ni || j < nj)) {
        int c = i >= ni ? 1 : j >= nj ? -1 : strcmp(own->fp.params[i].name, def->fp.params[j].name);
        if (c <= 0) {
            rc = fn(ctx, own->fp.params[i].name, own->fp.params[i].value);
            i++;
            if (c == 0)
                j++;
        } else {
            rc = fn(ctx, def->fp.params[j].name, def->fp.params[j].value);
            j++;
        }
    }
    return rc;
}

size_t sink_profiles_count(const sink_profiles *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->len; i++)
        n += p->files[i].loaded;
    return n;
}
