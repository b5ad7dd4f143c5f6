/*
 * sipnotify.c - out-of-dialog NOTIFYs over Sofia-SIP's transaction layer (see sipnotify.h).
 *
 * DESIGN: one job per target. A job makes a Sofia leg (From with a fresh tag, To, Call-ID) and
 * sends the NOTIFY as a client transaction; nta retransmits it (Timer E) and gives up after
 * Timer F (64*T1), reporting that as a local 408 with no message. A 401/407 from the network
 * is answered once per challenge round (at most MAX_ROUNDS) with credentials from the caller,
 * in a new transaction on the same leg (CSeq + 1). nta also answers locally (a 503 message)
 * for transport errors; those are told apart from the phone's own answers by the message's
 * source address, which a received message has and a local one has not.
 *
 * The loop in pr_sipnotify_send() is ours (su_root_step in short slices), so bounded
 * concurrency, the rate, per-target deadlines and the stop flag need no Sofia timers.
 */
#define SU_ROOT_MAGIC_T      struct pr_sipnotify
#define NTA_OUTGOING_MAGIC_T struct sip_job
#define NTA_AGENT_MAGIC_T    struct pr_sipnotify

#include "sipnotify.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/auth_client.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/url.h>

#include "log.h"

#define REALM_MAX  159 /* longest challenge realm answered */
#define MAX_ROUNDS 2   /* challenge rounds answered per target (a stale nonce gets a second) */

struct pr_sipnotify {
    su_home_t home[1];
    su_root_t *root;
    nta_agent_t *agent;
    char *event, *subscription_state, *from, *user_agent;
    unsigned concurrency;
    double rate;
    unsigned t1_ms;
    long long deadline_ms;
    unsigned port;
    bool (*stop_requested)(void);
    pr_sipnotify_credentials_fn credentials;
    void *credentials_ctx;
    /* per pr_sipnotify_send() */
    size_t in_flight, done;
    pr_sipnotify_result_fn on_result;
    void *result_ctx;
};

typedef enum job_state { JOB_WAITING, JOB_RUNNING, JOB_DONE } job_state;

typedef struct sip_job {
    pr_sipnotify *s;
    const pr_sipnotify_target *t;
    su_home_t *home; /* the job's URLs, leg headers and authenticators */
    url_t *uri, *proxy;
    char uri_user[128];
    char *route; /* "<proxy;lr>": the outbound proxy as a pre-loaded route, or NULL */
    nta_leg_t *leg;
    nta_outgoing_t *orq;
    auth_client_t *auc;
    int rounds;
    long long started_ms, deadline_ms;
    unsigned long bad_at_start; /* the agent's unparseable-message count when the job began */
    job_state state;
    pr_sipnotify_result r;
} sip_job;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *pr_sipnotify_outcome_name(pr_sipnotify_outcome o)
{
    switch (o) {
    case PR_SIPNOTIFY_ACCEPTED: return "accepted";
    case PR_SIPNOTIFY_REFUSED: return "refused";
    case PR_SIPNOTIFY_TIMEOUT: return "timeout";
    case PR_SIPNOTIFY_UNREACHABLE: return "unreachable";
    case PR_SIPNOTIFY_BAD_RESPONSE: return "bad_response";
    case PR_SIPNOTIFY_NOT_SENT: return "not_sent";
    }
    return "unknown";
}

/* Sofia's own diagnostics (su_log) become debug lines of our logger, never raw stderr. */
static void sofia_logger(void *stream, char const *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void sofia_logger(void *stream, char const *fmt, va_list ap)
{
    char line[512];
    (void)stream;
    if (!pr_log_enabled(PR_LOG_DEBUG))
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n)
        pr_log_write(PR_LOG_DEBUG, "sofia-sip", line, NULL);
}

static pthread_once_t sofia_once = PTHREAD_ONCE_INIT;

static void sofia_init(void)
{
    su_init(); /* also ignores SIGPIPE, which every role of ours does anyway */
    su_log_redirect(NULL, sofia_logger, NULL);
    su_log_set_level(NULL, pr_log_enabled(PR_LOG_DEBUG) ? 3 : 0);
}

static char *home_strdup(su_home_t *home, const char *s, const char *def)
{
    return su_strdup(home, s ? s : def);
}

pr_status pr_sipnotify_new(const pr_sipnotify_opts *o, pr_sipnotify **out, char *err, size_t errlen)
{
    pr_sipnotify *s;
    pr_status rc = PR_OK;
    char bind[300];
    const char *host = o->bind && *o->bind ? o->bind : "0.0.0.0";

    *out = NULL;
    if (o->t1_ms > 60000 || (o->rate < 0) || o->deadline_ms < 0)
        return pr_err(PR_EINVAL, err, errlen, "sip: T1, rate or deadline out of range");
    if (strchr(host, ':') && host[0] != '[')
        snprintf(bind, sizeof bind, "sip:[%s]:*", host); /* an IPv6 literal */
    else
        snprintf(bind, sizeof bind, "sip:%s:*", host);
    pthread_once(&sofia_once, sofia_init);

    s = calloc(1, sizeof *s);
    if (!s)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    su_home_init(s->home);
    s->concurrency = o->concurrency ? o->concurrency : 1;
    s->rate = o->rate;
    s->t1_ms = o->t1_ms ? o->t1_ms : 500;
    s->deadline_ms = o->deadline_ms ? o->deadline_ms : 3LL * 64 * s->t1_ms;
    s->stop_requested = o->stop_requested;
    s->credentials = o->credentials;
    s->credentials_ctx = o->credentials_ctx;
    s->event = home_strdup(s->home, o->event, "report");
    s->subscription_state = home_strdup(s->home, o->subscription_state, "terminated");
    s->user_agent = home_strdup(s->home, o->user_agent, "phonereport/" PR_VERSION);
    if (!s->event || !s->subscription_state || !s->user_agent) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto out;
    }
    s->root = su_root_create(s);
    if (!s->root) {
        rc = pr_err(PR_EFATAL, err, errlen, "sip: cannot create the event loop");
        goto out;
    }
    /* UDP always; TCP only on request (a listening socket nobody asked for is a surprise).
     * Added as a second transport: a "transport=udp,tcp" list crashes Sofia's tport_tbind. */
    char transports[320];
    snprintf(transports, sizeof transports, "%s;transport=udp", bind);
    s->agent = nta_agent_create(s->root, URL_STRING_MAKE(transports), NULL, NULL,
                                NTATAG_SIP_T1(s->t1_ms), NTATAG_SIP_T1X64(64 * s->t1_ms),
                                NTATAG_SIP_T2(s->t1_ms * 8 > 4000 ? 4000 : s->t1_ms * 8),
                                NTATAG_SIP_T4(s->t1_ms * 10 > 5000 ? 5000 : s->t1_ms * 10),
                                NTATAG_UA(1), NTATAG_CLIENT_RPORT(1), TAG_END());
    if (!s->agent) {
        rc = pr_err(PR_EFATAL, err, errlen, "sip: cannot bind %s: %s", transports, strerror(errno));
        goto out;
    }
    snprintf(transports, sizeof transports, "%s;transport=tcp", bind);
    if (o->tcp && nta_agent_add_tport(s->agent, URL_STRING_MAKE(transports), TAG_END()) < 0) {
        rc = pr_err(PR_EFATAL, err, errlen, "sip: cannot bind %s: %s", transports, strerror(errno));
        goto out;
    }
    const sip_contact_t *m = nta_agent_contact(s->agent);
    if (!m || !m->m_url->url_host) {
        rc = pr_err(PR_EFATAL, err, errlen, "sip: the agent has no local address");
        goto out;
    }
    s->port = m->m_url->url_port ? (unsigned)strtoul(m->m_url->url_port, NULL, 10) : 5060;
    if (o->from && *o->from)
        s->from = su_sprintf(s->home, "<%s>", o->from);
    else if (strchr(m->m_url->url_host, ':') && m->m_url->url_host[0] != '[')
        s->from = su_sprintf(s->home, "<sip:phonereport@[%s]>", m->m_url->url_host);
    else
        s->from = su_sprintf(s->home, "<sip:phonereport@%s>", m->m_url->url_host);
    if (!s->from)
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
out:
    if (rc != PR_OK)
        pr_sipnotify_free(s);
    else
        *out = s;
    return rc;
}

void pr_sipnotify_free(pr_sipnotify *s)
{
    if (!s)
        return;
    if (s->agent)
        nta_agent_destroy(s->agent);
    if (s->root)
        su_root_destroy(s->root);
    su_home_deinit(s->home);
    free(s);
}

unsigned pr_sipnotify_port(const pr_sipnotify *s)
{
    return s->port;
}

static unsigned long bad_messages(pr_sipnotify *s)
{
    usize_t n = 0;
    nta_agent_get_stats(s->agent, NTATAG_S_BAD_MESSAGE_REF(n), TAG_END());
    return (unsigned long)n;
}

void pr_sipnotify_get_stats(pr_sipnotify *s, pr_sipnotify_stats *st)
{
    usize_t bad_msg = 0, bad_resp = 0, trless = 0;
    nta_agent_get_stats(s->agent, NTATAG_S_BAD_MESSAGE_REF(bad_msg),
                        NTATAG_S_BAD_RESPONSE_REF(bad_resp), NTATAG_S_TRLESS_RESPONSE_REF(trless),
                        TAG_END());
    st->bad_messages = bad_msg;
    st->bad_responses = bad_resp;
    st->stray_responses = trless;
}

/* Ends the job with a result and releases its Sofia objects. */
static void job_finish(sip_job *j, pr_sipnotify_outcome o, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void job_finish(sip_job *j, pr_sipnotify_outcome o, int status, const char *fmt, ...)
{
    pr_sipnotify *s = j->s;
    va_list ap;
    if (j->state == JOB_DONE)
        return;
    j->r.outcome = o;
    j->r.status = status;
    va_start(ap, fmt);
    vsnprintf(j->r.reason, sizeof j->r.reason, fmt, ap);
    va_end(ap);
    for (char *p = j->r.reason; *p; p++) /* one line, whatever the peer put in its phrase */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    j->r.elapsed_ms = j->started_ms ? now_ms() - j->started_ms : 0;
    if (j->orq)
        nta_outgoing_destroy(j->orq);
    j->orq = NULL;
    if (j->leg)
        nta_leg_destroy(j->leg);
    j->leg = NULL;
    if (j->state == JOB_RUNNING)
        s->in_flight--;
    j->state = JOB_DONE;
    s->done++;
    if (s->on_result)
        s->on_result(s->result_ctx, j->t, &j->r);
    if (j->home)
        su_home_unref(j->home);
    j->home = NULL;
    j->auc = NULL;
}

static int on_response(sip_job *j, nta_outgoing_t *orq, sip_t const *sip);

/* No final response in time. Unparseable datagrams (which nta drops without saying from
 * whom) that arrived meanwhile are this target's answer when no other target was in flight
 * (concurrency 1), and are mentioned as possibly its answer otherwise. */
static void job_timeout(sip_job *j, const char *what, long long ms)
{
    unsigned long bad = bad_messages(j->s) - j->bad_at_start;
    if (bad && j->s->concurrency == 1)
        job_finish(j, PR_SIPNOTIFY_BAD_RESPONSE, 0,
                   "only unparseable answers (%lu datagrams) within %s (%lld ms)", bad, what, ms);
    else if (bad)
        job_finish(j, PR_SIPNOTIFY_TIMEOUT, 0,
                   "no final response within %s (%lld ms); %lu unparseable datagrams arrived "
                   "meanwhile, from this or another target",
                   what, ms, bad);
    else
        job_finish(j, PR_SIPNOTIFY_TIMEOUT, 0, "no final response within %s (%lld ms)", what, ms);
}

/* Sends (or sends again, with the Authorization headers of the answered challenges). */
static int job_send(sip_job *j)
{
    pr_sipnotify *s = j->s;
    msg_header_t *auth = NULL;
    if (j->auc && auc_authorization_headers(&j->auc, j->home, "NOTIFY", j->uri, NULL, &auth) < 0)
        return -1;
    j->orq = nta_outgoing_tcreate(
        j->leg, on_response, j, j->proxy ? (url_string_t const *)j->proxy : NULL, SIP_METHOD_NOTIFY,
        (url_string_t const *)j->uri, SIPTAG_EVENT_STR(s->event),
        TAG_IF(*s->subscription_state, SIPTAG_SUBSCRIPTION_STATE_STR(s->subscription_state)),
        SIPTAG_CONTACT(nta_agent_contact(s->agent)), SIPTAG_USER_AGENT_STR(s->user_agent),
        TAG_IF(j->route, SIPTAG_ROUTE_STR(j->route)),
        TAG_IF(auth, SIPTAG_HEADER((sip_header_t *)auth)), TAG_END());
    return j->orq ? 0 : -1;
}

/* A response received from the network, as opposed to one nta made up (timeout, transport
 * error): only the former has a source address. */
static int from_network(nta_outgoing_t *orq, sip_t const *sip)
{
    int yes = 0;
    if (!sip)
        return 0;
    msg_t *m = nta_outgoing_getresponse(orq);
    if (m) {
        su_sockaddr_t *a = msg_addr(m);
        yes = a && (a->su_family == AF_INET || a->su_family == AF_INET6);
        msg_destroy(m);
    }
    return yes;
}

/* A challenge's realm, unquoted, whole: -1 when it is longer than REALM_MAX (a realm is never
 * cut, since credentials limited to a realm must not answer a longer one). */
static int challenge_realm(char const *qrealm, char realm[REALM_MAX + 1])
{
    size_t rl = strlen(qrealm);
    if (rl >= 2 && qrealm[0] == '"' && qrealm[rl - 1] == '"') {
        qrealm++;
        rl -= 2;
    }
    if (rl > REALM_MAX)
        return -1;
    memcpy(realm, qrealm, rl);
    realm[rl] = '\0';
    return 0;
}

static bool is_stale(msg_auth_t const *au)
{
    char const *v = msg_header_find_param(au->au_common, "stale=");
    return v && su_casematch(v, "true");
}

/* Answers a 401/407: the first Digest challenge whose realm the caller has credentials for
 * is answered (the others are left out: a challenge without credentials would keep Sofia
 * from sending any). After credentials were sent, another challenge that is not stale means
 * they were refused. 1 if the NOTIFY can be sent again, 0 if not (the result is set). */
static int answer_challenge(sip_job *j, sip_t const *sip, int status, const char *phrase)
{
    pr_sipnotify *s = j->s;
    msg_auth_t const *lists[2] = {sip->sip_www_authenticate, sip->sip_proxy_authenticate};
    msg_hclass_t *classes[2] = {sip_authorization_class, sip_proxy_authorization_class};
    int digest = 0, too_long = 0, stale = 0;
    char realm_seen[REALM_MAX + 1] = "";
    msg_auth_t const *chosen = NULL;
    msg_hclass_t *chosen_class = NULL;
    char user[256] = "", pass[256] = "";

    for (int l = 0; l < 2 && !chosen; l++) {
        for (msg_auth_t const *au = lists[l]; au && !chosen; au = au->au_next) {
            char const *qrealm = msg_header_find_param(au->au_common, "realm=");
            char realm[REALM_MAX + 1];
            if (!au->au_scheme || !su_casematch(au->au_scheme, "Digest") || !qrealm)
                continue;
            digest++;
            stale += is_stale(au);
            if (challenge_realm(qrealm, realm) != 0) {
                too_long++;
                continue;
            }
            snprintf(realm_seen, sizeof realm_seen, "%s", realm);
            if (s->credentials && s->credentials(s->credentials_ctx, j->t, realm, j->uri_user, user,
                                                 sizeof user, pass, sizeof pass) == PR_OK) {
                chosen = au;
                chosen_class = classes[l];
            }
        }
    }
    if (!digest) {
        job_finish(j, PR_SIPNOTIFY_BAD_RESPONSE, status, "%d %s without a Digest challenge", status,
                   phrase);
        return 0;
    }
    if (j->r.challenged && !stale) {
        OPENSSL_cleanse(pass, sizeof pass);
        job_finish(j, PR_SIPNOTIFY_REFUSED, status, "%d %s: credentials refused", status, phrase);
        return 0;
    }
    if (!chosen) {
        if (too_long && !*realm_seen)
            job_finish(j, PR_SIPNOTIFY_REFUSED, status,
                       "%d %s: the challenge's realm is longer than %d characters (refused)",
                       status, phrase, REALM_MAX);
        else
            job_finish(j, PR_SIPNOTIFY_REFUSED, status,
                       "%d %s: no credentials for realm \"%.60s%s\" (see --credentials)", status,
                       phrase, realm_seen, strlen(realm_seen) > 60 ? "..." : "");
        return 0;
    }
    int ok = 0;
    msg_header_t *one = msg_header_dup_one(j->home, (msg_header_t const *)chosen);
    if (!one || auc_challenge(&j->auc, j->home, (msg_auth_t const *)one, chosen_class) < 0) {
        /* Sofia's Digest client computes MD5 and MD5-sess only (no RFC 8760 SHA-256) */
        char const *alg = msg_header_find_param(chosen->au_common, "algorithm=");
        job_finish(j, PR_SIPNOTIFY_BAD_RESPONSE, status,
                   "%d %s: cannot answer this challenge (algorithm %s; MD5 is supported)", status,
                   phrase, alg ? alg : "MD5");
    } else if (auc_all_credentials(&j->auc, chosen->au_scheme,
                                   msg_header_find_param(chosen->au_common, "realm="), user,
                                   pass) <= 0) {
        job_finish(j, PR_SIPNOTIFY_BAD_RESPONSE, status, "%d %s: cannot answer the challenge",
                   status, phrase);
    } else {
        j->r.challenged = true;
        ok = 1;
    }
    OPENSSL_cleanse(pass, sizeof pass);
    return ok;
}

static int on_response(sip_job *j, nta_outgoing_t *orq, sip_t const *sip)
{
    int status = nta_outgoing_status(orq);
    const char *phrase =
        sip && sip->sip_status && sip->sip_status->st_phrase ? sip->sip_status->st_phrase : "";

    if (status < 200)
        return 0;
    if (!from_network(orq, sip)) {
        if (status == 408)
            job_timeout(j, "Timer F", 64LL * j->s->t1_ms);
        else
            job_finish(j, PR_SIPNOTIFY_UNREACHABLE, 0, "%s (transport: %d %s)",
                       strcmp(phrase, "No transport") == 0
                           ? "no transport for this target (;transport=tcp needs TCP enabled)"
                       : status == 503 ? "cannot reach the target"
                                       : "cannot send",
                       status, phrase[0] ? phrase : sip_status_phrase(status));
        return 0;
    }
    if (status >= 200 && status < 300) {
        job_finish(j, PR_SIPNOTIFY_ACCEPTED, status, "%s", phrase);
        return 0;
    }
    if ((status == 401 || status == 407) && j->rounds < MAX_ROUNDS) {
        const char *again = j->rounds ? " (credentials refused?)" : "";
        j->rounds++;
        if (!answer_challenge(j, sip, status, phrase))
            return 0;
        nta_outgoing_destroy(j->orq);
        j->orq = NULL;
        if (job_send(j) != 0)
            job_finish(j, PR_SIPNOTIFY_BAD_RESPONSE, status,
                       "%d %s: cannot answer the Digest challenge (unsupported algorithm?)%s",
                       status, phrase, again);
        return 0;
    }
    if ((status == 401 || status == 407) && j->r.challenged)
        job_finish(j, PR_SIPNOTIFY_REFUSED, status, "%s (credentials refused)", phrase);
    else
        job_finish(j, PR_SIPNOTIFY_REFUSED, status, "%s", phrase);
    return 0;
}

static url_t *parse_sip_url(su_home_t *home, const char *text, char *why, size_t whylen)
{
    url_t *u;
    if (!text || !*text) {
        snprintf(why, whylen, "empty URI");
        return NULL;
    }
    u = url_make(home, text);
    if (!u || (u->url_type != url_sip && u->url_type != url_sips)) {
        snprintf(why, whylen, "'%.100s' is not a sip: URI", text);
        return NULL;
    }
    if (!u->url_host || !*u->url_host) {
        snprintf(why, whylen, "'%.100s' has no host", text);
        return NULL;
    }
    if (u->url_port && *u->url_port) {
        char *end;
        unsigned long p = strtoul(u->url_port, &end, 10);
        if (*end || p == 0 || p > 65535) {
            snprintf(why, whylen, "'%.100s' has a bad port", text);
            return NULL;
        }
    }
    return u;
}

pr_status pr_sipnotify_check_uri(const char *uri, char *err, size_t errlen)
{
    char why[200];
    su_home_t *home = su_home_new(sizeof *home);
    if (!home)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    url_t *u = parse_sip_url(home, uri, why, sizeof why);
    su_home_unref(home);
    return u ? PR_OK : pr_err(PR_EINVAL, err, errlen, "%s", why);
}

static void job_start(sip_job *j)
{
    pr_sipnotify *s = j->s;
    char why[200], to[600];

    j->started_ms = now_ms();
    j->bad_at_start = bad_messages(s);
    j->deadline_ms = j->started_ms + s->deadline_ms;
    j->home = su_home_new(sizeof *j->home);
    if (!j->home) {
        job_finish(j, PR_SIPNOTIFY_NOT_SENT, 0, "out of memory");
        return;
    }
    if (!(j->uri = parse_sip_url(j->home, j->t->uri, why, sizeof why))) {
        job_finish(j, PR_SIPNOTIFY_NOT_SENT, 0, "target: %s", why);
        return;
    }
    if (j->t->proxy && !(j->proxy = parse_sip_url(j->home, j->t->proxy, why, sizeof why))) {
        job_finish(j, PR_SIPNOTIFY_NOT_SENT, 0, "proxy: %s", why);
        return;
    }
    /* RFC 3261 8.1.2: an outbound proxy is the request's pre-existing route set, a loose
     * router; the proxy removes its own entry and forwards to the Request-URI. The packet
     * goes to the proxy (route_url) either way. */
    if (j->proxy && !(j->route = su_sprintf(j->home, "<%s%s>", j->t->proxy,
                                            url_has_param(j->proxy, "lr") ? "" : ";lr"))) {
        job_finish(j, PR_SIPNOTIFY_NOT_SENT, 0, "out of memory");
        return;
    }
    snprintf(j->uri_user, sizeof j->uri_user, "%s", j->uri->url_user ? j->uri->url_user : "");
    snprintf(to, sizeof to, "<%s>", j->t->uri);
    /* A dialog leg, not NTATAG_NO_DIALOG: only a leg of its own keeps one Call-ID, so the
     * NOTIFY retried with credentials is the same request to the phone (RFC 3261 22.2). */
    j->leg = nta_leg_tcreate(s->agent, NULL, NULL, SIPTAG_FROM_STR(s->from), SIPTAG_TO_STR(to),
                             TAG_END());
    if (!j->leg || !nta_leg_tag(j->leg, NULL)) {
        job_finish(j, PR_SIPNOTIFY_NOT_SENT, 0, "target: cannot make a request to '%.100s'",
                   j->t->uri);
        return;
    }
    j->state = JOB_RUNNING;
    s->in_flight++;
    if (job_send(j) != 0)
        job_finish(j, PR_SIPNOTIFY_NOT_SENT, 0, "cannot send to '%.100s' (%s)", j->t->uri,
                   strerror(errno));
}

pr_status pr_sipnotify_send(pr_sipnotify *s, const pr_sipnotify_target *targets, size_t n,
                            pr_sipnotify_result_fn on_result, void *ctx, char *err, size_t errlen)
{
    sip_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t next = 0;
    long long next_start = now_ms();
    const long long gap = s->rate > 0 ? (long long)(1000.0 / s->rate) : 0;

    if (!jobs)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    s->in_flight = s->done = 0;
    s->on_result = on_result;
    s->result_ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        jobs[i].s = s;
        jobs[i].t = &targets[i];
    }
    while (s->done < n) {
        long long now = now_ms(), wait = 50;
        if (s->stop_requested && s->stop_requested()) {
            for (; next < n; next++)
                job_finish(&jobs[next], PR_SIPNOTIFY_NOT_SENT, 0, "stopped before sending");
        }
        /* The rate spaces starts evenly; a late loop does not burst to catch up. */
        while (next < n && s->in_flight < s->concurrency && now >= next_start) {
            job_start(&jobs[next++]);
            next_start = (gap > 0 ? now : next_start) + gap;
        }
        for (size_t i = 0; i < next; i++)
            if (jobs[i].state == JOB_RUNNING && now >= jobs[i].deadline_ms)
                job_timeout(&jobs[i], "the deadline", s->deadline_ms);
        if (s->done >= n)
            break;
        if (next < n && s->in_flight < s->concurrency && next_start > now)
            wait = next_start - now < wait ? next_start - now : wait;
        su_root_step(s->root, (su_duration_t)(wait > 0 ? wait : 0));
    }
    free(jobs);
    s->on_result = NULL;
    s->result_ctx = NULL;
    return PR_OK;
}
