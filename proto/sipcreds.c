/*
 * sipcreds.c - the NOTIFY Digest credentials file (format in sipcreds.h).
 *
 * The parsed JSON document is kept as is (jansson owns the strings); lookups are a few
 * object gets, cheap next to a SIP round trip. Error messages quote keys, never values, and
 * only the position of a JSON syntax error: jansson's own text could quote a password.
 */
#include "sipcreds.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "mac.h"
#include "sipnotify.h"

struct pr_sipcreds {
    json_t *def;    /* borrowed from root, or NULL */
    json_t *users;  /* object, or NULL */
    json_t *phones; /* object keyed by normalised MAC, owned */
    json_t *root;
};

void pr_sipcreds_free(pr_sipcreds *c)
{
    if (!c)
        return;
    json_decref(c->phones);
    json_decref(c->root);
    free(c);
}

/* An entry: {"password": string (required), "user": string, "realm": string}. */
static pr_status check_entry(const char *path, const char *where, json_t *e, char *err,
                             size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(e))
        return pr_err(PR_EINVAL, err, errlen, "credentials %s: %s must be an object", path, where);
    json_object_foreach(e, k, v)
    {
        if (strcmp(k, "password") != 0 && strcmp(k, "user") != 0 && strcmp(k, "realm") != 0)
            return pr_err(PR_EINVAL, err, errlen,
                          "credentials %s: %s: unknown member \"%.40s\" (user, password, realm)",
                          path, where, k);
        if (!json_is_string(v))
            return pr_err(PR_EINVAL, err, errlen, "credentials %s: %s.%s must be a string", path,
                          where, k);
    }
    v = json_object_get(e, "password");
    if (!v || !*json_string_value(v))
        return pr_err(PR_EINVAL, err, errlen, "credentials %s: %s has no password", path, where);
    return PR_OK;
}

static pr_status build(const char *path, pr_sipcreds *c, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    char where[120];
    pr_status st;

    if (!json_is_object(c->root))
        return pr_err(PR_EINVAL, err, errlen, "credentials %s: the top level must be an object",
                      path);
    c->phones = json_object();
    if (!c->phones)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    json_object_foreach(c->root, k, v)
    {
        if (strcmp(k, "default") == 0) {
            if ((st = check_entry(path, "default", v, err, errlen)) != PR_OK)
                return st;
            c->def = v;
        } else if (strcmp(k, "users") == 0 || strcmp(k, "phones") == 0) {
            const char *ek;
            json_t *ev;
            if (!json_is_object(v))
                return pr_err(PR_EINVAL, err, errlen, "credentials %s: %s must be an object", path,
                              k);
            json_object_foreach(v, ek, ev)
            {
                snprintf(where, sizeof where, "%s.%.40s", k, ek);
                if ((st = check_entry(path, where, ev, err, errlen)) != PR_OK)
                    return st;
                if (k[0] == 'p') {
                    char mac[PR_MAC_LEN + 1], why[128];
                    if (pr_mac_parse(ek, strlen(ek), mac, why, sizeof why) != PR_OK)
                        return pr_err(PR_EINVAL, err, errlen, "credentials %s: %s: %s", path, where,
                                      why);
                    if (json_object_get(c->phones, mac))
                        return pr_err(PR_EINVAL, err, errlen,
                                      "credentials %s: %s: the MAC is listed twice", path, where);
                    if (json_object_set(c->phones, mac, ev) != 0)
                        return pr_err(PR_EFATAL, err, errlen, "out of memory");
                }
            }
            if (k[0] == 'u')
                c->users = v;
        } else {
            return pr_err(PR_EINVAL, err, errlen,
                          "credentials %s: unknown member \"%.40s\" (default, users, phones)", path,
                          k);
        }
    }
    return PR_OK;
}

pr_status pr_sipcreds_load(const char *path, pr_sipcreds **out, char *err, size_t errlen)
{
    struct stat sb;
    json_error_t je;
    pr_sipcreds *c;
    pr_status st;

    *out = NULL;
    if (stat(path, &sb) != 0)
        return pr_err(PR_EINVAL, err, errlen, "credentials %s: cannot open (%s)", path,
                      strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return pr_err(PR_EINVAL, err, errlen, "credentials %s: not a regular file", path);
    if (sb.st_mode & (S_IRWXG | S_IRWXO))
        PR_LOG(PR_LOG_WARN, "notify", "credentials file is accessible by group or others",
               json_pack("{ss,so}", "path", path, "mode",
                         json_sprintf("%04o", (unsigned)(sb.st_mode & 07777))));
    c = calloc(1, sizeof *c);
    if (!c)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    c->root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!c->root) {
        st = pr_err(PR_EINVAL, err, errlen,
                    "credentials %s: cannot read or not valid JSON (line %d, column %d)", path,
                    je.line, je.column);
        goto out;
    }
    st = build(path, c, err, errlen);
out:
    if (st != PR_OK)
        pr_sipcreds_free(c);
    else
        *out = c;
    return st;
}

/* Uses entry e if it applies to realm; user_default when it names no user. */
static pr_status use_entry(json_t *e, const char *user_default, const char *realm, char *user,
                           size_t userlen, char *password, size_t passlen)
{
    const char *r = json_string_value(json_object_get(e, "realm"));
    const char *u = json_string_value(json_object_get(e, "user"));
    const char *p = json_string_value(json_object_get(e, "password"));
    if (!e || (r && (!realm || strcmp(r, realm) != 0)))
        return PR_ENOTFOUND;
    if (!u)
        u = user_default;
    if (!u || !*u || !p)
        return PR_ENOTFOUND;
    if (strlen(u) >= userlen || strlen(p) >= passlen)
        return PR_EINVAL;
    memcpy(user, u, strlen(u) + 1);
    memcpy(password, p, strlen(p) + 1);
    return PR_OK;
}

pr_status pr_sipcreds_lookup(const pr_sipcreds *c, const char *mac, const char *uri_user,
                             const char *realm, char *user, size_t userlen, char *password,
                             size_t passlen)
{
    pr_status st = PR_ENOTFOUND;
    const char *uu = uri_user && *uri_user ? uri_user : NULL;
    if (!c)
        return PR_ENOTFOUND;
    if (mac && *mac)
        st =
            use_entry(json_object_get(c->phones, mac), uu, realm, user, userlen, password, passlen);
    if (st == PR_ENOTFOUND && uu && c->users)
        st = use_entry(json_object_get(c->users, uu), uu, realm, user, userlen, password, passlen);
    if (st == PR_ENOTFOUND && c->def)
        st = use_entry(c->def, uu, realm, user, userlen, password, passlen);
    return st;
}

pr_status pr_sipcreds_answer(void *ctx, const pr_sipnotify_target *t, const char *realm,
                             const char *uri_user, char *user, size_t userlen, char *password,
                             size_t passlen)
{
    return pr_sipcreds_lookup(ctx, t->mac, uri_user, realm, user, userlen, password, passlen);
}
