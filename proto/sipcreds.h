/*
 * sipcreds.h - the Digest credentials a phone's NOTIFY challenge is answered with, from a JSON
 * file (`phonereport notify --credentials FILE`; and the sink's re-baseline,
 * --rebaseline-credentials):
 *
 *   {
 *     "default": {"user": "admin", "password": "..."},
 *     "users":   {"1001": {"password": "..."},
 *                 "1002": {"user": "auth-1002", "password": "...", "realm": "pbx.example"}},
 *     "phones":  {"00562b043615": {"user": "1001", "password": "..."}}
 *   }
 *
 * Lookup order for a target: "phones" by its MAC, then "users" by the user part of the
 * NOTIFY's Request-URI (the line's User_ID when sent to the address of record), then
 * "default". An entry's "user" defaults to that URI user (for "users": the key itself); an
 * entry with "realm" answers only that realm's challenges. Every section is optional;
 * unknown keys are refused (a typo would otherwise silently send no credentials).
 *
 * Passwords are secrets: never logged, never printed. pr_sipcreds_load() logs a warning when
 * the file can be read or written by group or others, as the decoder's keystore does.
 */
#ifndef PR_SIPCREDS_H
#define PR_SIPCREDS_H

#include <stddef.h>

#include "status.h"

typedef struct pr_sipcreds pr_sipcreds;

/* Reads and checks the file. PR_EINVAL (missing, unreadable or malformed file) with the
 * reason in err; the message names the file and the entry, never a password. */
pr_status pr_sipcreds_load(const char *path, pr_sipcreds **out, char *err, size_t errlen);
void pr_sipcreds_free(pr_sipcreds *c);

/* Credentials for (mac or NULL, uri_user or "", realm). PR_OK with user and password
 * written, PR_ENOTFOUND if no entry applies, PR_EINVAL if they do not fit the buffers. */
pr_status pr_sipcreds_lookup(const pr_sipcreds *c, const char *mac, const char *uri_user,
                             const char *realm, char *user, size_t userlen, char *password,
                             size_t passlen);

/* pr_sipnotify's credentials callback (pr_sipnotify_credentials_fn) over a loaded file: ctx is
 * the pr_sipcreds, the target's MAC and the URI's user part choose the entry. */
struct pr_sipnotify_target;
pr_status pr_sipcreds_answer(void *ctx, const struct pr_sipnotify_target *t, const char *realm,
                             const char *uri_user, char *user, size_t userlen, char *password,
                             size_t passlen);

#endif
