/*
 * sip.c - `phonereport-sim sip`: a fleet of phones behind one UDP port that honour
 * `Event: report` NOTIFYs the way a Cisco MPP phone at Report_To_Server "On Request" does:
 * a NOTIFY without credentials gets a 401 Digest challenge; one whose Authorization checks out
 * for the phone's line (User_ID_1_ and its SIP password) gets a 200, and the phone then
 * uploads its full configuration report to --url (as `play` does: URL/<mac>/full.xml).
 *
 * The phone a NOTIFY is for is the Request-URI's user part: the phone's User_ID_1_ (as `play`
 * gives it: 4081000000 + index) or its MAC; without a user part only a one-phone fleet
 * answers. Wrong credentials get 403, an unknown user 404, another event 489.
 *
 * `Event: resync` (with --resync-url) is a Cisco MPP phone's resync: after the same Digest
 * round the phone fetches its profile (URL/<mac>.xml, a flat profile), applies the values of
 * the parameters it has, and uploads its full report, which then carries them. A phone named
 * by --ignore-resync answers the resync with 200 and does nothing (a phone whose resync is
 * broken: the sink's drift stays open).
 *
 * DESIGN: SIP parsing, transactions and retransmissions are Sofia-SIP's (nta, one default
 * leg); the digest is checked with Sofia's auth_digest helpers (SIPp checks the other side of
 * it independently in tests/notify). The upload is made synchronously from the SIP callback,
 * after the 200 is sent: a test tool, not a phone farm. Identities, keys and profiles derive
 * from --seed/--phones/--encrypt exactly as in `play` and `keys`.
 */
#define SU_ROOT_MAGIC_T      struct sip_sim
#define NTA_LEG_MAGIC_T      struct sip_sim
#define NTA_INCOMING_MAGIC_T void

#include "phonesim.h"

#include "flatprofile.h"
#include "hex.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/su_wait.h>

#define REALM      "phonesim"
#define MAX_NONCES 4

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct sim_line {
    sim_phone id;
    json_t *applied; /* {name: value} applied by resyncs (owned), NULL = none */
    bool ignore_resync;
    char user[24];     /* User_ID_1_ */
    char password[64]; /* the line's SIP password */
    char nonces[MAX_NONCES][33];
    unsigned next_nonce;
} sim_line;

typedef struct sip_sim {
    su_root_t *root;
    nta_agent_t *agent;
    nta_leg_t *leg;
    sim_line *lines;
    size_t n;
    const char *url, *profile, *resync_url;
    const char *realm; /* of the challenges (--realm) */
    uint64_t seed;
    sim_base base;
    CURL *curl;
    long long uploads, target;
    int failed;
} sip_sim;

/* The line's SIP password: derived, so --credentials-out needs no state. */
static void line_password(uint64_t seed, const sim_phone *p, char *out, size_t len)
{
    sim_rng r;
    sim_rng_seed(&r, seed ^ 0x5195195195ULL, (uint64_t)p->index + 1);
    snprintf(out, len, "sip-%016llx", (unsigned long long)sim_rng_next(&r));
}

static sim_line *find_line(sip_sim *s, const char *user)
{
    if (!user || !*user)
        return s->n == 1 ? &s->lines[0] : NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->lines[i].user, user) == 0 || strcasecmp(s->lines[i].id.mac, user) == 0)
            return &s->lines[i];
    return NULL;
}

static void event_line(const sim_line *l, const char *result, long status, const char *detail)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o = json_pack("{s:s s:s s:s s:I s:s s:I}", "mac", l ? l->id.mac : "", "user",
                          l ? l->user : "", "result", result, "upload_status", (json_int_t)status,
                          "detail", detail ? detail : "", "at_ms",
                          (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    char *t = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (t) {
        printf("%s\n", t);
        fflush(stdout);
    }
    free(t);
    json_decref(o);
}

/* 1 if an Authorization header answers one of the line's recent nonces with its password. */
static int digest_ok(const sip_sim *s, const sim_line *l, sip_t const *sip)
{
    int ok = 0;
    su_home_t *home = su_home_new(sizeof *home);
    if (!home)
        return 0;
    for (sip_authorization_t const *au = sip->sip_authorization; au && !ok; au = au->au_next) {
        auth_response_t ar[1];
        memset(ar, 0, sizeof ar);
        ar->ar_size = (int)sizeof ar;
        auth_hexmd5_t ha1, expect;
        if (!au->au_scheme || !su_casematch(au->au_scheme, "Digest") ||
            auth_digest_response_get(home, ar, au->au_params) < 0)
            continue;
        if (!ar->ar_username || strcmp(ar->ar_username, l->user) != 0 || !ar->ar_realm ||
            strcmp(ar->ar_realm, s->realm) != 0 || !ar->ar_nonce || !ar->ar_response)
            continue;
        int known = 0;
        for (unsigned i = 0; i < MAX_NONCES; i++)
            known |= l->nonces[i][0] && strcmp(l->nonces[i], ar->ar_nonce) == 0;
        if (!known)
            continue;
        if (auth_digest_a1(ar, ha1, l->password) < 0 ||
            auth_digest_response(ar, expect, ha1, "NOTIFY", NULL, 0) < 0)
            continue;
        ok = strcmp(expect, ar->ar_response) == 0;
    }
    su_home_unref(home);
    return ok;
}

/* The phone's full configuration report, uploaded as `play` uploads it. The HTTP status, or
 * -1 if it could not be made or sent. */
static long upload_full(sip_sim *s, const sim_line *l)
{
    sim_rng rng;
    sim_buf plain = {0}, body = {0};
    char url[2048], ua[128];
    long status = -1;
    sim_values v = sim_values_new(&s->base);

    sim_rng_seed(&rng, s->seed ^ 0xa5a5a5a5ULL, (uint64_t)l->id.index + 1);
    if (!v || sim_phone_profile(&s->base, &l->id, s->url, &rng, v) != 0)
        goto out;
    const char *name;
    json_t *jv;
    json_object_foreach(l->applied, name, jv)
    {
        size_t k = sim_base_find(&s->base, name);
        if (k != (size_t)-1 && sim_values_set(&s->base, v, k, json_string_value(jv)) != 0)
            goto out;
    }
    if (sim_render_full(&s->base, v, &plain) != 0 || sim_encrypt(&l->id, &plain, &body) != 0)
        goto out;
    snprintf(url, sizeof url, "%s/%s/full.xml", s->url, l->id.mac);
    snprintf(ua, sizeof ua, "Cisco-CP-8832-3PCC/11.3.1 (%s)", l->id.mac);
    sim_req rq = {
        .url = url,
        .put = l->id.put,
        .user_agent = ua,
        .content_encoding = l->id.enc == SIM_ENC_ECE && l->id.send_ce ? "aes128gcm" : NULL,
        .body = body.data,
        .len = body.len,
        .chunked = l->id.chunked,
    };
    sim_resp rs;
    if (sim_http_upload(s->curl, &rq, &rs) == 0)
        status = rs.status;
out:
    sim_values_free(&s->base, v);
    sim_buf_release(&plain);
    sim_buf_release(&body);
    return status;
}

/* A resync: the phone's profile from --resync-url applied to the parameters it has. 0, or -1
 * (detail says why). */
static int resync(sip_sim *s, sim_line *l, char *detail, size_t len)
{
    char url[2048], err[256];
    sim_buf body = {0};
    pr_flat_profile fp;
    pr_xml_error why;
    int rc = -1;
    memset(&fp, 0, sizeof fp);
    snprintf(url, sizeof url, "%s/%s.xml", s->resync_url, l->id.mac);
    long status = sim_http_get(s->curl, url, &body);
    if (status != 200) {
        snprintf(detail, len, "GET %s: %ld", url, status);
        goto out;
    }
    if (pr_flatprofile_parse((const char *)body.data, body.len, NULL, &fp, &why, err, sizeof err) !=
        PR_OK) {
        size_t n = (size_t)snprintf(detail, len, "%s", url); /* url then err, each as fits */
        if (n + 2 < len)
            snprintf(detail + n, len - n, ": %s", err);
        goto out;
    }
    if (!l->applied && !(l->applied = json_object()))
        goto out;
    for (size_t i = 0; i < fp.len; i++)
        if (sim_base_find(&s->base, fp.params[i].name) != (size_t)-1 &&
            json_object_set_new(l->applied, fp.params[i].name, json_string(fp.params[i].value)) !=
                0)
            goto out;
    rc = 0;
out:
    pr_flatprofile_release(&fp);
    sim_buf_release(&body);
    return rc;
}

static int on_request(sip_sim *s, nta_leg_t *leg, nta_incoming_t *irq, sip_t const *sip)
{
    (void)leg;
    if (!sip || !sip->sip_request)
        return 500;
    if (sip->sip_request->rq_method != sip_method_notify)
        return 501;
    const url_t *ru = sip->sip_request->rq_url;
    sim_line *l = find_line(s, ru ? ru->url_user : NULL);
    if (!l) {
        event_line(NULL, "unknown_user", 0, ru && ru->url_user ? ru->url_user : "(no user)");
        return 404;
    }
    const char *ev = sip->sip_event ? sip->sip_event->o_type : NULL;
    bool is_resync = ev && s->resync_url && su_casematch(ev, "resync");
    if (!ev || (!su_casematch(ev, "report") && !is_resync)) {
        event_line(l, "bad_event", 0, ev ? ev : "(none)");
        nta_incoming_treply(irq, 489, "Bad Event",
                            SIPTAG_ALLOW_EVENTS_STR(s->resync_url ? "report, resync" : "report"),
                            TAG_END());
        return 0;
    }
    if (!sip->sip_authorization) {
        unsigned char raw[16];
        char *nonce = l->nonces[l->next_nonce++ % MAX_NONCES], *challenge = NULL;
        if (RAND_bytes(raw, sizeof raw) != 1)
            return 500;
        pr_hex_encode(raw, sizeof raw, nonce);
        if (asprintf(&challenge, "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"",
                     s->realm, nonce) < 0)
            return 500;
        nta_incoming_treply(irq, SIP_401_UNAUTHORIZED, SIPTAG_WWW_AUTHENTICATE_STR(challenge),
                            TAG_END());
        free(challenge);
        event_line(l, "challenged", 0, NULL);
        return 0;
    }
    if (!digest_ok(s, l, sip)) {
        nta_incoming_treply(irq, 403, "Wrong credentials", TAG_END());
        event_line(l, "refused", 0, "the digest does not check out");
        return 0;
    }
    nta_incoming_treply(irq, SIP_200_OK, TAG_END());
    char detail[2200] = "";
    if (is_resync && l->ignore_resync) {
        event_line(l, "resync_ignored", 0, NULL);
        return 0;
    }
    if (is_resync && resync(s, l, detail, sizeof detail) != 0) {
        s->failed = 1;
        event_line(l, "resync_failed", 0, detail);
        return 0;
    }
    long status = upload_full(s, l);
    if (status >= 200 && status < 300)
        s->uploads++;
    else
        s->failed = 1;
    event_line(
        l, status >= 200 && status < 300 ? (is_resync ? "resynced" : "uploaded") : "upload_failed",
        status, NULL);
    return 0;
}

static void usage(FILE *f)
{
    /* clang-format off */
    fprintf(f,
"usage: phonereport-sim sip --url URL [--listen HOST:PORT] [--phones N] [--seed S]\n"
"                           [--encrypt MODE] [--method MODE] [--port-file FILE]\n"
"                           [--credentials-out FILE] [--count N] [--profile FILE]\n"
"                           [--expect-out FILE] [--realm REALM] [--resync-url URL]\n"
"                           [--ignore-resync MAC|INDEX]\n"
"\n"
"Phones behind one UDP port (--listen, default 127.0.0.1:0) answering SIP NOTIFY with\n"
"Event: report as a Cisco MPP phone at Report_To_Server \"On Request\" does: 401 Digest\n"
"challenge (realm \"" REALM "\" or --realm), then, for the right line credentials, 200 and\n"
"an upload of the phone's full report to URL/<mac>/full.xml (encrypted and PUT/POST as\n"
"`play` and `keys` with the same --phones/--seed/--encrypt/--method). A NOTIFY is for the phone whose\n"
"User_ID_1_ (4081000000 + index) or MAC is the Request-URI's user part; without a user part\n"
"only a one-phone fleet answers. Wrong credentials: 403; unknown user: 404; other event: 489.\n"
"\n"
"  --port-file FILE        write the bound UDP port there once listening\n"
"  --realm REALM           the challenges' realm (up to 8,000 characters, no '\"' or '\\')\n"
"  --credentials-out FILE  write `phonereport notify --credentials` for the fleet\n"
"                          (\"phones\" by MAC and \"users\" by User_ID_1_, mode 0600)\n"
"  --count N               exit 0 after N reports were uploaded (default: run until a signal)\n"
"  --expect-out FILE       write {mac: {param: value}} of each phone's full report, the\n"
"                          state `phonereport-sim verify --expect` checks after the uploads\n"
"  --resync-url URL        also honour Event: resync: fetch URL/<mac>.xml (a flat profile),\n"
"                          apply the values of the parameters the phone has, upload the\n"
"                          full report (which then carries them)\n"
"  --ignore-resync MAC|INDEX  that phone (by MAC or index from 0) answers a resync 200\n"
"                          and does nothing (repeatable, up to 16)\n"
"One JSON line per NOTIFY on stdout (result, at_ms). Exit 0, 1 if an upload or a resync\n"
"failed, 64 for bad options.\n");
    /* clang-format on */
}

static int write_credentials(const char *path, const sim_line *lines, size_t n)
{
    json_t *root = json_object(), *map = json_object(), *users = json_object();
    char *text = NULL;
    int rc = -1;
    if (!root || !map || !users || json_object_set(root, "phones", map) != 0 ||
        json_object_set(root, "users", users) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (json_object_set_new(map, lines[i].id.mac,
                                json_pack("{s:s s:s}", "user", lines[i].user, "password",
                                          lines[i].password)) != 0 ||
            json_object_set_new(users, lines[i].user,
                                json_pack("{s:s}", "password", lines[i].password)) != 0)
            goto out;
    text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    rc = text && sim_write_file(path, text, strlen(text)) == 0 ? 0 : -1;
out:
    free(text);
    json_decref(map);
    json_decref(users);
    json_decref(root);
    return rc;
}

/* {mac: {param: value}}: what each phone's full report (upload_full) holds, for `verify`. */
static int write_expect(const char *path, sip_sim *s)
{
    json_t *root = json_object();
    char *text = NULL;
    int rc = root ? 0 : -1;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        sim_rng rng;
        sim_values v = sim_values_new(&s->base);
        json_t *o = json_object();
        sim_rng_seed(&rng, s->seed ^ 0xa5a5a5a5ULL, (uint64_t)s->lines[i].id.index + 1);
        if (!v || !o || sim_phone_profile(&s->base, &s->lines[i].id, s->url, &rng, v) != 0)
            rc = -1;
        for (size_t k = 0; rc == 0 && k < s->base.n; k++)
            if (v[k] && json_object_set_new(o, s->base.name[k], json_string(v[k])) != 0)
                rc = -1;
        if (rc == 0 && json_object_set(root, s->lines[i].id.mac, o) != 0)
            rc = -1;
        json_decref(o);
        sim_values_free(&s->base, v);
    }
    if (rc == 0 && !(text = json_dumps(root, JSON_COMPACT)))
        rc = -1;
    if (rc == 0)
        rc = sim_write_file(path, text, strlen(text));
    free(text);
    json_decref(root);
    return rc;
}

/* Sofia's own diagnostics are not this tool's output. */
static void quiet_logger(void *stream, char const *fmt, va_list ap)
{
    (void)stream;
    (void)fmt;
    (void)ap;
}

int sim_sip_main(int argc, char **argv)
{
    enum {
        O_URL = 1,
        O_LISTEN,
        O_PHONES,
        O_SEED,
        O_ENC,
        O_METHOD,
        O_PORTFILE,
        O_CREDS,
        O_COUNT,
        O_PROFILE,
        O_EXPECT,
        O_REALM,
        O_RESYNC,
        O_IGNORE,
        O_HELP
    };
    static const struct option opts[] = {
        {"url", required_argument, NULL, O_URL},
        {"listen", required_argument, NULL, O_LISTEN},
        {"phones", required_argument, NULL, O_PHONES},
        {"seed", required_argument, NULL, O_SEED},
        {"encrypt", required_argument, NULL, O_ENC},
        {"method", required_argument, NULL, O_METHOD},
        {"port-file", required_argument, NULL, O_PORTFILE},
        {"credentials-out", required_argument, NULL, O_CREDS},
        {"count", required_argument, NULL, O_COUNT},
        {"profile", required_argument, NULL, O_PROFILE},
        {"expect-out", required_argument, NULL, O_EXPECT},
        {"realm", required_argument, NULL, O_REALM},
        {"resync-url", required_argument, NULL, O_RESYNC},
        {"ignore-resync", required_argument, NULL, O_IGNORE},
        {"help", no_argument, NULL, O_HELP},
        {0},
    };
    sip_sim s;
    const char *listen = "127.0.0.1:0", *port_file = NULL, *creds_out = NULL, *expect_out = NULL;
    unsigned long long phones = 1;
    sim_enc_mode enc = SIM_ENCM_NONE;
    sim_method_mode method = SIM_METHOD_MIXED;
    sim_phone *ids = NULL;
    char *base_url = NULL, *e, err[512], bind[300];
    int opt, bad = 0, rc = SIM_EXIT_FAIL;
    bool base_loaded = false;
    const char *ignore[16];
    size_t nignore = 0;
    char idx[24];

    memset(&s, 0, sizeof s);
    s.seed = 1;
    s.profile = PHONESIM_DEFAULT_PROFILE;
    s.realm = REALM;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_URL: s.url = optarg; break;
        case O_LISTEN: listen = optarg; break;
        case O_PHONES:
            phones = strtoull(optarg, &e, 10);
            bad |= *e || e == optarg || phones < 1 || phones > 100000;
            break;
        case O_SEED:
            s.seed = strtoull(optarg, &e, 10);
            bad |= *e || e == optarg;
            break;
        case O_ENC: bad |= sim_enc_mode_parse(optarg, &enc) != 0; break;
        case O_METHOD: bad |= sim_method_mode_parse(optarg, &method) != 0; break;
        case O_PORTFILE: port_file = optarg; break;
        case O_CREDS: creds_out = optarg; break;
        case O_COUNT:
            s.target = strtoll(optarg, &e, 10);
            bad |= *e || e == optarg || s.target < 0;
            break;
        case O_PROFILE: s.profile = optarg; break;
        case O_EXPECT: expect_out = optarg; break;
        case O_REALM:
            s.realm = optarg;
            bad |= strlen(optarg) > 8000 || strpbrk(optarg, "\"\\") != NULL;
            break;
        case O_RESYNC: s.resync_url = optarg; break;
        case O_IGNORE:
            if (nignore == sizeof ignore / sizeof *ignore)
                bad = 1;
            else
                ignore[nignore++] = optarg;
            break;
        case O_HELP: usage(stdout); return SIM_EXIT_OK;
        default: bad = 1;
        }
    }
    const char *colon = strrchr(listen, ':');
    if (!s.url || optind < argc || !colon || colon == listen) {
        fprintf(stderr, "phonereport-sim: sip needs --url, and --listen HOST:PORT (see --help)\n");
        return SIM_EXIT_USAGE;
    }
    if (bad) {
        fprintf(stderr, "phonereport-sim: sip: invalid --phones, --seed, --encrypt, --method, "
                        "--count or --realm (see --help)\n");
        return SIM_EXIT_USAGE;
    }
    size_t ulen = strlen(s.url);
    while (ulen && s.url[ulen - 1] == '/')
        ulen--;
    if (!(base_url = strndup(s.url, ulen)))
        goto out;
    s.url = base_url;
    if (sim_base_load(s.profile, &s.base, err, sizeof err) != 0) {
        fprintf(stderr, "phonereport-sim: %s\n", err);
        goto out;
    }
    base_loaded = true;
    s.n = (size_t)phones;
    ids = sim_fleet_identities(s.seed, s.n, enc, method);
    s.lines = calloc(s.n, sizeof *s.lines);
    s.curl = curl_easy_init();
    if (!ids || !s.lines || !s.curl)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        s.lines[i].id = ids[i];
        snprintf(s.lines[i].user, sizeof s.lines[i].user, "%llu",
                 4081000000ULL + (unsigned long long)ids[i].index);
        line_password(s.seed, &ids[i], s.lines[i].password, sizeof s.lines[i].password);
        snprintf(idx, sizeof idx, "%zu", ids[i].index);
        for (size_t k = 0; k < nignore; k++)
            s.lines[i].ignore_resync |=
                strcasecmp(ignore[k], ids[i].mac) == 0 || strcmp(ignore[k], idx) == 0;
    }
    if (creds_out && write_credentials(creds_out, s.lines, s.n) != 0) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", creds_out);
        goto out;
    }
    if (expect_out && write_expect(expect_out, &s) != 0) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", expect_out);
        goto out;
    }

    su_init();
    su_log_redirect(NULL, quiet_logger, NULL);
    if (!(s.root = su_root_create(&s))) {
        fprintf(stderr, "phonereport-sim: cannot create the SIP event loop\n");
        goto out;
    }
    snprintf(bind, sizeof bind, "sip:%.*s:%s;transport=udp", (int)(colon - listen), listen,
             strcmp(colon + 1, "0") == 0 ? "*" : colon + 1);
    s.agent = nta_agent_create(s.root, URL_STRING_MAKE(bind), NULL, NULL, NTATAG_UA(1), TAG_END());
    if (s.agent)
        s.leg = nta_leg_tcreate(s.agent, on_request, &s, NTATAG_NO_DIALOG(1), TAG_END());
    if (!s.leg) {
        fprintf(stderr, "phonereport-sim: cannot listen on %s\n", listen);
        goto out;
    }
    const sip_contact_t *m = nta_agent_contact(s.agent);
    const char *port = m && m->m_url->url_port ? m->m_url->url_port : "5060";
    if (port_file && sim_write_file(port_file, port, strlen(port)) != 0) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", port_file);
        goto out;
    }
    fprintf(stderr, "phonereport-sim: %zu phones listening for NOTIFY on udp port %s\n", s.n, port);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!g_stop && !(s.target && s.uploads >= s.target))
        su_root_step(s.root, 100);
    rc = s.failed ? SIM_EXIT_FAIL : SIM_EXIT_OK;
out:
    if (s.leg)
        nta_leg_destroy(s.leg);
    if (s.agent)
        nta_agent_destroy(s.agent);
    if (s.root)
        su_root_destroy(s.root);
    if (s.curl)
        curl_easy_cleanup(s.curl);
    if (base_loaded)
        sim_base_release(&s.base);
    for (size_t i = 0; s.lines && i < s.n; i++)
        json_decref(s.lines[i].applied);
    free(s.lines);
    free(ids);
    free(base_url);
    return rc;
}
