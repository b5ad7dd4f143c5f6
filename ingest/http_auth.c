/*
 * http_auth.c - HTTP authentication of uploads against the credentials file (auth.c): Basic,
 * or Digest (MD5) through libmicrohttpd, with the nonce counts checked by the edge itself
 * (nonce.c: libmicrohttpd 0.9.75's own check can be reset with nc=0 and takes a count just
 * below the highest once). A failure is answered 401 with a challenge (stale=true when only
 * the nonce is at fault, so the phone retries with a fresh one) and counted by reason.
 * The credentials are read under auth_lock, which ingest_reload takes to swap them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "log.h"
#include "clock.h"

static enum MHD_Result auth_challenge(ingest *r, req *q, struct MHD_Connection *conn, bool stale)
{
    struct MHD_Response *resp = ingest_http_text("authentication required");
    enum MHD_Result rc;
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Request-Id", q->id);
    if (r->digest) {
        rc = MHD_queue_auth_fail_response2(conn, r->cfg->auth_realm, "phonereport", resp,
                                           stale ? MHD_YES : MHD_NO, MHD_DIGEST_ALG_MD5);
        /* the nonce just issued gets its slot in the edge's own nonce-count table */
        char nonce[INGEST_NONCE_MAX + 1];
        if (rc == MHD_YES &&
            ingest_digest_param(MHD_get_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE),
                                "nonce", nonce, sizeof nonce) == 1)
            ingest_nonces_issue(r->nonces, nonce, pr_mono_ms());
    } else
        rc = MHD_queue_basic_auth_fail_response(conn, r->cfg->auth_realm, resp);
    MHD_destroy_response(resp);
    q->state = REQ_ANSWERED;
    ingest_http_count(r, MHD_HTTP_UNAUTHORIZED, (int)q->kind);
    return rc;
}

ingest_auth_result ingest_http_authenticate(ingest *r, req *q, struct MHD_Connection *conn,
                                            char bound_mac[PR_MAC_LEN + 1], enum MHD_Result *rc)
{
    bool ok = false, stale = false, missing = false, replay = false;
    char *user = NULL;
    bound_mac[0] = '\0';
    pthread_rwlock_rdlock(&r->auth_lock);
    if (r->digest) {
        user = MHD_digest_auth_get_username(conn);
        const ingest_cred *c = user ? ingest_auth_find(r->auth, user) : NULL;
        missing = user == NULL;
        ingest_digest_ids id;
        /* nc 0 or an ambiguous header never reaches libmicrohttpd (see nonce.c) */
        if (c && !ingest_digest_nonce_nc(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                     MHD_HTTP_HEADER_AUTHORIZATION),
                                         &id))
            c = NULL;
        if (c) {
            int v = MHD_NO;
            if (c->type == INGEST_SECRET_PLAIN)
                v = MHD_digest_auth_check2(conn, r->cfg->auth_realm, user, c->secret,
                                           INGEST_NONCE_TIMEOUT_S, MHD_DIGEST_ALG_MD5);
            else if (c->type == INGEST_SECRET_MD5_HA1)
                v = MHD_digest_auth_check_digest2(conn, r->cfg->auth_realm, user,
                                                  (const uint8_t *)c->secret, c->secret_len,
                                                  INGEST_NONCE_TIMEOUT_S, MHD_DIGEST_ALG_MD5);
            stale = v == MHD_INVALID_NONCE;
            if (v == MHD_YES) {
                switch (ingest_nonces_use(r->nonces, id.nonce, id.cnonce, id.nc, pr_mono_ms())) {
                case INGEST_NONCE_OK: ok = true; break;
                case INGEST_NONCE_UNKNOWN: stale = true; break;
                case INGEST_NONCE_REPLAY: replay = true; break;
                }
            }
            if (ok)
                memcpy(bound_mac, c->mac, PR_MAC_LEN + 1);
        }
    } else {
        char *pass = NULL;
        user = MHD_basic_auth_get_username_password(conn, &pass);
        missing = user == NULL;
        const ingest_cred *c = user ? ingest_auth_find(r->auth, user) : NULL;
        if (c && pass && ingest_auth_check_password(c, r->cfg->auth_realm, pass)) {
            ok = true;
            memcpy(bound_mac, c->mac, PR_MAC_LEN + 1);
        }
        if (pass) {
            memset(pass, 0, strlen(pass));
            MHD_free(pass);
        }
    }
    pthread_rwlock_unlock(&r->auth_lock);
    if (ok) {
        q->auth_user = strdup(user);
        MHD_free(user);
        return q->auth_user ? INGEST_AUTH_OK : INGEST_AUTH_NOMEM;
    }
    if (!missing && !stale) {
        pr_counter_inc(r->stats.auth_bad);
        PR_LOG(PR_LOG_WARN, "ingest",
               replay ? "authentication failed: nonce count replayed" : "authentication failed",
               json_pack("{ssssss}", "request_id", q->id, "remote", q->remote, "user",
                         user ? user : ""));
    } else if (missing) {
        pr_counter_inc(r->stats.auth_missing);
    }
    if (user)
        MHD_free(user);
    *rc = auth_challenge(r, q, conn, stale);
    return INGEST_AUTH_CHALLENGED;
}
