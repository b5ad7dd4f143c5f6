/*
 * play.c - `phonereport-sim play`: a fleet of phones reporting to an ingest edge.
 *
 * Each phone boots at a random moment in the first tenth of the run (a full report, then a
 * status report), then makes --deltas local changes spread over the next eight tenths (each a
 * delta report; now and then a restart instead, which sends a full report, sometimes without
 * a parameter or two, and a status), and sends a status report every --status-every-s.
 *
 * DESIGN: --workers threads, each owning a fixed subset of the phones and one curl handle
 * (keep-alive). A phone has at most one report in flight and sends the next only after the
 * previous got a 2xx or was given up, so its reports stay in order. A 503 (or 429, or a
 * transport failure) is retried at most --max-retries times, after Retry-After (capped) or an
 * exponential back-off, without holding up the worker's other phones. A global token bucket
 * bounds the request rate. The expected state of a phone (what the sink must end up with) is
 * changed only by config reports that got a 2xx; phones whose last outcome is unknown (a
 * transport failure after sending, given up) are left out of --expect-out and reported.
 */
#include "phonesim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define MAX_CHANGES 4

static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct play_cfg {
    const char *url, *expect_out, *keystore_out, *stats_out, *journal_out, *profile, *user,
        *password;
    size_t phones, workers;
    uint64_t seed;
    long long duration_ms, status_every_ms;
    double rate;
    unsigned deltas, max_retries, reboot_pct;
    sim_method_mode method;
    sim_enc_mode enc;
    sim_auth auth;
    bool quiet;
    int ce_header; /* -1 per phone (mixed), 0 never, 1 always */
} play_cfg;

typedef enum ev_kind { EV_NONE, EV_FULL, EV_STATUS, EV_DELTA } ev_kind;

typedef struct phone_run {
    sim_phone id;
    sim_rng rng;
    sim_values local;  /* what the phone holds */
    sim_values expect; /* what the sink must hold: config reports that got a 2xx */
    bool known;        /* a config report of this phone got a 2xx */
    bool uncertain;    /* a config report's outcome is unknown: left out of the expectation */
    long long boot_ms, next_change_ms, next_status_ms, change_step_ms;
    unsigned changes_left;
    bool booted, status_after_full;
    /* the report in flight (rendered once, resent as is) */
    ev_kind pending;
    sim_buf body;
    size_t idx[MAX_CHANGES];
    size_t nidx;
    unsigned attempts;
    bool maybe_sent; /* a transport failure after sending: the edge may have published it */
    long long not_before_ms;
} phone_run;

typedef struct stats {
    unsigned long long sent, ok[4], retried, failed, bytes, dropped, maybe_retried;
} stats;

typedef struct shared {
    const play_cfg *cfg;
    const sim_base *base;
    phone_run *phones;
    long long start_ms, deadline_ms;
    pthread_mutex_t lock; /* rate bucket and stats */
    long long next_slot_us;
    stats st;
    FILE *journal; /* --journal-out, under lock */
    char ua_prefix[64];
} shared;

typedef struct worker {
    shared *sh;
    size_t id;
    pthread_t thread;
    int failed;
} worker;

static long long now_us(void)
{
    return sim_now_ms() * 1000;
}

/* Blocks until the global rate allows one more request; false if stopped or past the end. */
static bool rate_acquire(shared *sh)
{
    if (sh->cfg->rate <= 0)
        return true;
    long long interval = (long long)(1e6 / sh->cfg->rate), slot;
    pthread_mutex_lock(&sh->lock);
    long long now = now_us();
    slot = sh->next_slot_us > now ? sh->next_slot_us : now;
    sh->next_slot_us = slot + interval;
    pthread_mutex_unlock(&sh->lock);
    if (slot / 1000 >= sh->deadline_ms)
        return false;
    sim_sleep_ms((slot - now) / 1000, &g_stop);
    return !g_stop;
}

/* When the phone next wants to send, or LLONG_MAX when it is done. */
static long long due_ms(const phone_run *p)
{
    if (p->pending != EV_NONE)
        return p->not_before_ms;
    if (!p->booted)
        return p->boot_ms;
    if (p->status_after_full)
        return 0;
    if (p->changes_left == 0)
        return (long long)INT64_MAX;
    return p->next_status_ms < p->next_change_ms ? p->next_status_ms : p->next_change_ms;
}

/* Renders the phone's next report into p->body (plaintext first, then encrypted). */
static int next_report(shared *sh, phone_run *p, long long now)
{
    const sim_base *base = sh->base;
    sim_buf plain = {0};
    int rc = -1;

    p->nidx = 0;
    p->attempts = 0;
    p->maybe_sent = false;
    p->not_before_ms = now;
    p->body.len = 0;
    if (!p->booted) {
        p->booted = true;
        p->status_after_full = true;
        p->pending = EV_FULL;
    } else if (p->status_after_full) {
        p->status_after_full = false;
        p->pending = EV_STATUS;
    } else if (p->next_status_ms <= p->next_change_ms) {
        p->next_status_ms += sh->cfg->status_every_ms;
        p->pending = EV_STATUS;
    } else {
        p->changes_left--;
        p->next_change_ms += p->change_step_ms;
        if (sim_rng_chance(&p->rng, sh->cfg->reboot_pct)) {
            /* A restart: a full report; after an upgrade a parameter or two may be gone. */
            p->pending = EV_FULL;
            p->status_after_full = true;
            if (sim_rng_chance(&p->rng, 50))
                for (unsigned k = 1 + (unsigned)sim_rng_below(&p->rng, 2); k > 0; k--) {
                    size_t i = (size_t)sim_rng_below(&p->rng, base->n);
                    if (sim_values_set(base, p->local, i, NULL) != 0)
                        goto out;
                }
        } else {
            int n = sim_local_change(base, p->local, &p->rng, MAX_CHANGES, p->idx);
            if (n < 0)
                goto out;
            p->nidx = (size_t)n;
            p->pending = EV_DELTA;
        }
    }
    if (p->pending == EV_FULL)
        rc = sim_render_full(base, p->local, &plain);
    else if (p->pending == EV_DELTA)
        rc = sim_render_delta(base, p->local, p->idx, p->nidx, &plain);
    else
        rc = sim_render_status(&p->id, (now - p->boot_ms) / 1000 + 30, &p->rng, &plain);
    if (rc == 0)
        rc = sim_encrypt(&p->id, &plain, &p->body);
out:
    sim_buf_release(&plain);
    return rc;
}

/* The report got a 2xx: the sink must now reflect it. */
static int applied(shared *sh, phone_run *p)
{
    if (p->pending == EV_FULL) {
        p->known = true;
        return sim_values_copy(sh->base, p->expect, p->local);
    }
    if (p->pending == EV_DELTA) {
        p->known = true;
        for (size_t k = 0; k < p->nidx; k++)
            if (sim_values_set(sh->base, p->expect, p->idx[k], p->local[p->idx[k]]) != 0)
                return -1;
    }
    return 0;
}

static const char *kind_file(ev_kind k)
{
    return k == EV_FULL ? "full.xml" : k == EV_DELTA ? "delta.xml" : "status.xml";
}

/* One JSON line per acknowledged report: what the edge said and what the report changed. */
static void journal(shared *sh, const phone_run *p, long status, const char *request_id)
{
    json_t *params = json_array();
    for (size_t k = 0; params && k < p->nidx; k++)
        json_array_append_new(params, json_string(sh->base->name[p->idx[k]]));
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o*}", "mac", p->id.mac, "kind",
                          p->pending == EV_FULL    ? "full"
                          : p->pending == EV_DELTA ? "delta"
                                                   : "status",
                          "status", (json_int_t)status, "request_id", request_id, "params",
                          p->pending == EV_DELTA ? params : NULL);
    if (p->pending != EV_DELTA)
        json_decref(params);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) {
        pthread_mutex_lock(&sh->lock);
        fprintf(sh->journal, "%s\n", line);
        pthread_mutex_unlock(&sh->lock);
    }
    free(line);
    json_decref(o);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    const play_cfg *cfg = sh->cfg;
    CURL *curl = curl_easy_init();
    char url[2048], ua[128];
    stats st = {0};

    if (!curl) {
        w->failed = 1;
        return NULL;
    }
    while (!g_stop) {
        long long now = sim_now_ms();
        if (now >= sh->deadline_ms)
            break;
        phone_run *p = NULL;
        long long due = (long long)INT64_MAX;
        for (size_t i = w->id; i < cfg->phones; i += cfg->workers) {
            long long d = due_ms(&sh->phones[i]);
            if (d < due) {
                due = d;
                p = &sh->phones[i];
            }
        }
        if (!p)
            break; /* every phone of this worker is done */
        if (due > now) {
            long long until = due < sh->deadline_ms ? due : sh->deadline_ms;
            sim_sleep_ms(until - now, &g_stop);
            continue;
        }
        if (p->pending == EV_NONE && next_report(sh, p, now) != 0) {
            fprintf(stderr, "phonereport-sim: out of memory rendering a report\n");
            w->failed = 1;
            break;
        }
        if (!rate_acquire(sh))
            break;
        snprintf(url, sizeof url, "%s/%s/%s", cfg->url, p->id.mac, kind_file(p->pending));
        snprintf(ua, sizeof ua, "%s (%s)", sh->ua_prefix, p->id.mac);
        sim_req rq = {
            .url = url,
            .put = p->id.put,
            .user_agent = ua,
            .content_encoding =
                p->id.enc == SIM_ENC_ECE && (cfg->ce_header < 0 ? p->id.send_ce : cfg->ce_header)
                    ? "aes128gcm"
                    : NULL,
            .body = p->body.data,
            .len = p->body.len,
            .chunked = p->id.chunked,
            .auth = cfg->auth,
            .user = cfg->user,
            .password = cfg->password,
        };
        sim_resp rs;
        int hrc = sim_http_upload(curl, &rq, &rs);
        st.sent++;
        st.bytes += p->body.len;
        if (hrc == 0 && rs.status >= 200 && rs.status < 300) {
            if (applied(sh, p) != 0) {
                w->failed = 1;
                break;
            }
            st.ok[p->pending]++;
            if (sh->journal)
                journal(sh, p, rs.status, rs.request_id);
            p->pending = EV_NONE;
            continue;
        }
        bool retriable = hrc != 0 || rs.status == 503 || rs.status == 429;
        if (hrc != 0 && rs.maybe_delivered)
            p->maybe_sent = true; /* resolved by a later 2xx of the same report */
        if (retriable && p->attempts < cfg->max_retries) {
            long long wait = rs.retry_after_s >= 0 ? rs.retry_after_s * 1000
                                                   : 250LL << (p->attempts < 6 ? p->attempts : 6);
            if (wait > 10000)
                wait = 10000;
            p->attempts++;
            p->not_before_ms = sim_now_ms() + wait;
            st.retried++;
            st.maybe_retried += hrc != 0 && rs.maybe_delivered;
            continue;
        }
        st.failed++;
        if (!cfg->quiet) {
            if (hrc != 0)
                fprintf(stderr, "phonereport-sim: %s %s: %s\n", p->id.mac, kind_file(p->pending),
                        curl_easy_strerror((CURLcode)rs.curl_code));
            else
                fprintf(stderr, "phonereport-sim: %s %s: HTTP %ld, given up\n", p->id.mac,
                        kind_file(p->pending), rs.status);
        }
        if (p->maybe_sent && p->pending != EV_STATUS)
            p->uncertain = true;
        p->pending = EV_NONE;
    }
    /* Reports not acknowledged before the end: rendered and in retry, or due and never
     * rendered (a phone that had not booted yet owes its full and its status report; one
     * whose full report was just acknowledged owes its status). A run that ends with such
     * reports did not send what it was asked to, and says so in its exit status. */
    for (size_t i = w->id; i < cfg->phones; i += cfg->workers) {
        phone_run *p = &sh->phones[i];
        if (p->pending != EV_NONE) {
            st.dropped++;
            if (p->maybe_sent && p->pending != EV_STATUS)
                p->uncertain = true;
        }
        if (!p->booted)
            st.dropped += 2;
        else if (p->status_after_full)
            st.dropped++;
        st.dropped += p->changes_left; /* every change is due before the end */
    }
    curl_easy_cleanup(curl);
    pthread_mutex_lock(&sh->lock);
    sh->st.sent += st.sent;
    sh->st.bytes += st.bytes;
    sh->st.retried += st.retried;
    sh->st.failed += st.failed;
    sh->st.dropped += st.dropped;
    sh->st.maybe_retried += st.maybe_retried;
    for (int k = 0; k < 4; k++)
        sh->st.ok[k] += st.ok[k];
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

/* {mac: {param: value}} for every phone the sink must know, streamed phone by phone. */
static int write_expect(const char *path, const shared *sh, size_t *nphones, size_t *nuncertain)
{
    sim_buf out = {0};
    int rc = sim_buf_puts(&out, "{");
    bool first = true;
    *nphones = *nuncertain = 0;
    for (size_t i = 0; i < sh->cfg->phones && rc == 0; i++) {
        const phone_run *p = &sh->phones[i];
        if (p->uncertain)
            (*nuncertain)++;
        if (!p->known || p->uncertain)
            continue;
        json_t *o = json_object();
        for (size_t k = 0; o && k < sh->base->n; k++)
            if (p->expect[k] &&
                json_object_set_new(o, sh->base->name[k], json_string(p->expect[k])) != 0)
                rc = -1;
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!s)
            rc = -1;
        else
            rc |= sim_buf_printf(&out, "%s\n\"%s\":%s", first ? "" : ",", p->id.mac, s);
        first = false;
        free(s);
        json_decref(o);
        (*nphones)++;
    }
    rc |= sim_buf_puts(&out, "\n}\n");
    if (rc == 0)
        rc = sim_write_file(path, out.data, out.len);
    sim_buf_release(&out);
    return rc;
}

static int write_stats(const char *path, const stats *st, size_t nexp, size_t nunc)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "sent", (json_int_t)st->sent,
        "bytes", (json_int_t)st->bytes, "ok_full", (json_int_t)st->ok[EV_FULL], "ok_delta",
        (json_int_t)st->ok[EV_DELTA], "ok_status", (json_int_t)st->ok[EV_STATUS], "retried",
        (json_int_t)st->retried, "maybe_delivered_retries", (json_int_t)st->maybe_retried, "failed",
        (json_int_t)st->failed, "dropped", (json_int_t)st->dropped, "phones_expected",
        (json_int_t)nexp, "phones_uncertain", (json_int_t)nunc);
    char *text = o ? json_dumps(o, JSON_INDENT(1)) : NULL;
    int rc = text ? sim_write_file(path, text, strlen(text)) : -1;
    free(text);
    json_decref(o);
    return rc;
}

static void usage(FILE *f)
{
    /* clang-format off */
    fprintf(f,
"usage: phonereport-sim play --url URL --expect-out FILE [options]\n"
"\n"
"Plays Cisco MPP phones reporting to an ingest edge at URL (a base such as\n"
"http://127.0.0.1:8080/r): phone <mac> uploads URL/<mac>/full.xml, delta.xml and status.xml,\n"
"as `[--delta]URL/$MA/delta.xml [--status]URL/$MA/status.xml` rules would, with the\n"
"User-Agent `Cisco-CP-8832-3PCC/11.3.1 (<mac>)`. Each phone boots (full report, status\n"
"report), makes --deltas local changes (delta reports; now and then a restart: a full\n"
"report) and reports status periodically. Writes the configuration the sink must end with.\n"
"\n"
"  --url URL              edge base URL (required)\n"
"  --expect-out FILE      write {mac: {param: value}} for phones whose reports got a 2xx\n"
"  --phones N             number of phones (default 10, at most 1000000)\n"
"  --seed S               fleet seed: MACs, keys and values derive from it (default 1)\n"
"  --duration-s D         length of the run; boots in the first tenth, changes spread over\n"
"                         the next eight tenths, everything stops at D (default 10)\n"
"  --rate R               at most R requests per second in total; 0 = unbounded (default 100)\n"
"  --deltas K             local changes per phone (default 3)\n"
"  --status-every-s T     a status report every T seconds per phone; 0 = only at boot\n"
"  --method PUT|POST|mixed          HTTP method (default mixed)\n"
"  --encrypt none|cbc-md5|cbc-sha256|ece|mixed\n"
"                         none; openssl enc AES-256-CBC with the MD5 or SHA-256 key\n"
"                         derivation (per-phone password); RFC 8188 aes128gcm (per-phone\n"
"                         IKM, rs 4096, empty key id); mixed: all four by phone (default none)\n"
"  --keystore-out FILE    write the decoder keystore for these phones (as `keys` does)\n"
"  --stats-out FILE       write the counts (requests, 2xx by kind, retries, failures) as JSON\n"
"  --journal-out FILE     one JSON line per acknowledged report: mac, kind, HTTP status,\n"
"                         X-Request-Id, and for a delta the parameters it changed\n"
"  --content-encoding-header mixed|always|never\n"
"                         whether aes128gcm bodies carry Content-Encoding: aes128gcm (the\n"
"                         phone's choice is undocumented); mixed: half of the phones (default)\n"
"  --auth none|basic|digest, --user U, --password P\n"
"                         answer the edge's 401 challenge (credentials only when asked)\n"
"  --workers W            sending threads, one keep-alive connection each (default 8)\n"
"  --max-retries N        retries of a report after 503/429/transport failure (default 5)\n"
"  --reboot-pct P         percent of changes that are restarts (full report) (default 10)\n"
"  --profile FILE         base profile (default: the real 8832 sample)\n"
"  --quiet                no per-failure lines\n"
"\n"
"Exit status: 0 when every report got a 2xx, 1 when some did not, including reports still\n"
"due when D ended (a phone that had not booted yet: raise D) (the expectation still holds\n"
"what was acknowledged), 64 on bad usage.\n");
    /* clang-format on */
}

enum {
    O_URL = 1000,
    O_PHONES,
    O_SEED,
    O_DURATION,
    O_RATE,
    O_EXPECT,
    O_METHOD,
    O_ENCRYPT,
    O_KEYSTORE,
    O_AUTH,
    O_USER,
    O_PASSWORD,
    O_STATUS_EVERY,
    O_DELTAS,
    O_WORKERS,
    O_RETRIES,
    O_PROFILE,
    O_REBOOT,
    O_QUIET,
    O_HELP,
    O_STATS,
    O_JOURNAL,
    O_CE
};

static const struct option play_opts[] = {
    {"url", required_argument, NULL, O_URL},
    {"phones", required_argument, NULL, O_PHONES},
    {"seed", required_argument, NULL, O_SEED},
    {"duration-s", required_argument, NULL, O_DURATION},
    {"rate", required_argument, NULL, O_RATE},
    {"expect-out", required_argument, NULL, O_EXPECT},
    {"method", required_argument, NULL, O_METHOD},
    {"encrypt", required_argument, NULL, O_ENCRYPT},
    {"keystore-out", required_argument, NULL, O_KEYSTORE},
    {"auth", required_argument, NULL, O_AUTH},
    {"user", required_argument, NULL, O_USER},
    {"password", required_argument, NULL, O_PASSWORD},
    {"status-every-s", required_argument, NULL, O_STATUS_EVERY},
    {"deltas", required_argument, NULL, O_DELTAS},
    {"workers", required_argument, NULL, O_WORKERS},
    {"max-retries", required_argument, NULL, O_RETRIES},
    {"profile", required_argument, NULL, O_PROFILE},
    {"reboot-pct", required_argument, NULL, O_REBOOT},
    {"quiet", no_argument, NULL, O_QUIET},
    {"stats-out", required_argument, NULL, O_STATS},
    {"journal-out", required_argument, NULL, O_JOURNAL},
    {"content-encoding-header", required_argument, NULL, O_CE},
    {"help", no_argument, NULL, O_HELP},
    {0},
};

/* Parses an unsigned number within [min, max]; prints and returns -1 otherwise. */
static int parse_num(const char *opt, const char *s, double min, double max, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || v < min || v > max) {
        fprintf(stderr, "phonereport-sim: --%s must be a number in [%g, %g], not '%s'\n", opt, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int sim_play_main(int argc, char **argv)
{
    play_cfg cfg = {
        .phones = 10,
        .workers = 8,
        .seed = 1,
        .duration_ms = 10000,
        .rate = 100,
        .deltas = 3,
        .max_retries = 5,
        .reboot_pct = 10,
        .method = SIM_METHOD_MIXED,
        .enc = SIM_ENCM_NONE,
        .auth = SIM_AUTH_NONE,
        .profile = PHONESIM_DEFAULT_PROFILE,
        .ce_header = -1,
    };
    int opt, bad = 0;
    double v;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", play_opts, NULL)) != -1) {
        switch (opt) {
        case O_URL: cfg.url = optarg; break;
        case O_EXPECT: cfg.expect_out = optarg; break;
        case O_KEYSTORE: cfg.keystore_out = optarg; break;
        case O_STATS: cfg.stats_out = optarg; break;
        case O_JOURNAL: cfg.journal_out = optarg; break;
        case O_CE:
            cfg.ce_header = strcmp(optarg, "always") == 0  ? 1
                            : strcmp(optarg, "never") == 0 ? 0
                            : strcmp(optarg, "mixed") == 0 ? -1
                                                           : -2;
            if (cfg.ce_header == -2) {
                fprintf(stderr, "phonereport-sim: --content-encoding-header is mixed, always or "
                                "never\n");
                bad = 1;
            }
            break;
        case O_PROFILE: cfg.profile = optarg; break;
        case O_USER: cfg.user = optarg; break;
        case O_PASSWORD: cfg.password = optarg; break;
        case O_QUIET: cfg.quiet = true; break;
        case O_PHONES:
            bad |= parse_num("phones", optarg, 1, 1000000, &v);
            cfg.phones = (size_t)v;
            break;
        case O_SEED:
            bad |= parse_num("seed", optarg, 0, 9007199254740992.0, &v);
            cfg.seed = (uint64_t)v;
            break;
        case O_DURATION:
            bad |= parse_num("duration-s", optarg, 1, 86400, &v);
            cfg.duration_ms = (long long)(v * 1000);
            break;
        case O_RATE: bad |= parse_num("rate", optarg, 0, 1e6, &cfg.rate); break;
        case O_STATUS_EVERY:
            bad |= parse_num("status-every-s", optarg, 0, 86400, &v);
            cfg.status_every_ms = (long long)(v * 1000);
            break;
        case O_DELTAS:
            bad |= parse_num("deltas", optarg, 0, 10000, &v);
            cfg.deltas = (unsigned)v;
            break;
        case O_WORKERS:
            bad |= parse_num("workers", optarg, 1, 256, &v);
            cfg.workers = (size_t)v;
            break;
        case O_RETRIES:
            bad |= parse_num("max-retries", optarg, 0, 100, &v);
            cfg.max_retries = (unsigned)v;
            break;
        case O_REBOOT:
            bad |= parse_num("reboot-pct", optarg, 0, 100, &v);
            cfg.reboot_pct = (unsigned)v;
            break;
        case O_METHOD:
            if (sim_method_mode_parse(optarg, &cfg.method) != 0) {
                fprintf(stderr, "phonereport-sim: --method is PUT, POST or mixed\n");
                bad = 1;
            }
            break;
        case O_ENCRYPT:
            if (sim_enc_mode_parse(optarg, &cfg.enc) != 0) {
                fprintf(stderr, "phonereport-sim: --encrypt is none, cbc-md5, cbc-sha256, ece "
                                "or mixed\n");
                bad = 1;
            }
            break;
        case O_AUTH:
            if (strcmp(optarg, "none") == 0)
                cfg.auth = SIM_AUTH_NONE;
            else if (strcmp(optarg, "basic") == 0)
                cfg.auth = SIM_AUTH_BASIC;
            else if (strcmp(optarg, "digest") == 0)
                cfg.auth = SIM_AUTH_DIGEST;
            else {
                fprintf(stderr, "phonereport-sim: --auth is none, basic or digest\n");
                bad = 1;
            }
            break;
        case O_HELP: usage(stdout); return SIM_EXIT_OK;
        default: bad = 1; break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phonereport-sim: unexpected argument '%s'\n", argv[optind]);
        bad = 1;
    }
    if (!cfg.url || !cfg.expect_out) {
        fprintf(stderr, "phonereport-sim: play needs --url and --expect-out\n");
        bad = 1;
    }
    if (cfg.auth != SIM_AUTH_NONE && (!cfg.user || !cfg.password)) {
        fprintf(stderr, "phonereport-sim: --auth %s needs --user and --password\n",
                cfg.auth == SIM_AUTH_BASIC ? "basic" : "digest");
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, "`phonereport-sim play --help` lists the options.\n");
        return SIM_EXIT_USAGE;
    }
    if (cfg.workers > cfg.phones)
        cfg.workers = cfg.phones;
    size_t ulen = strlen(cfg.url);
    while (ulen > 0 && cfg.url[ulen - 1] == '/')
        ulen--;
    char *base_url = strndup(cfg.url, ulen);
    cfg.url = base_url;

    sim_base base;
    char err[512] = "";
    shared sh = {.cfg = &cfg, .base = &base};
    worker *ws = NULL;
    sim_phone *ids = NULL;
    int rc = SIM_EXIT_FAIL;
    bool base_loaded = false;

    if (!base_url)
        goto out;
    if (sim_base_load(cfg.profile, &base, err, sizeof err) != 0) {
        fprintf(stderr, "phonereport-sim: %s\n", err);
        goto out;
    }
    base_loaded = true;
    ids = sim_fleet_identities(cfg.seed, cfg.phones, cfg.enc, cfg.method);
    sh.phones = calloc(cfg.phones, sizeof *sh.phones);
    ws = calloc(cfg.workers, sizeof *ws);
    if (!ids || !sh.phones || !ws)
        goto out;
    if (cfg.keystore_out &&
        sim_keystore_write(cfg.keystore_out, ids, cfg.phones, err, sizeof err) != 0) {
        fprintf(stderr, "phonereport-sim: %s\n", err);
        goto out;
    }
    if (cfg.journal_out && !(sh.journal = fopen(cfg.journal_out, "w"))) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", cfg.journal_out);
        goto out;
    }
    snprintf(sh.ua_prefix, sizeof sh.ua_prefix, "Cisco-CP-8832-3PCC/11.3.1");
    sh.start_ms = sim_now_ms();
    sh.deadline_ms = sh.start_ms + cfg.duration_ms;
    for (size_t i = 0; i < cfg.phones; i++) {
        phone_run *p = &sh.phones[i];
        p->id = ids[i];
        sim_rng_seed(&p->rng, cfg.seed ^ 0xa5a5a5a5ULL, (uint64_t)i + 1);
        p->local = sim_values_new(&base);
        p->expect = sim_values_new(&base);
        if (!p->local || !p->expect ||
            sim_phone_profile(&base, &p->id, cfg.url, &p->rng, p->local) != 0)
            goto out;
        p->boot_ms =
            sh.start_ms + (long long)sim_rng_below(&p->rng, (uint64_t)cfg.duration_ms / 10 + 1);
        p->changes_left = cfg.deltas;
        p->change_step_ms = cfg.deltas ? cfg.duration_ms * 8 / 10 / cfg.deltas : 0;
        p->next_change_ms = p->boot_ms + p->change_step_ms / 2 +
                            (long long)sim_rng_below(&p->rng, (uint64_t)p->change_step_ms / 2 + 1);
        p->next_status_ms =
            cfg.status_every_ms > 0 ? p->boot_ms + cfg.status_every_ms : (long long)INT64_MAX;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    pthread_mutex_init(&sh.lock, NULL);
    size_t started = 0;
    for (; started < cfg.workers; started++) {
        ws[started] = (worker){.sh = &sh, .id = started};
        if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0)
            break;
    }
    int wfailed = started < cfg.workers;
    if (wfailed)
        g_stop = 1;
    for (size_t i = 0; i < started; i++) {
        pthread_join(ws[i].thread, NULL);
        wfailed |= ws[i].failed;
    }
    pthread_mutex_destroy(&sh.lock);
    curl_global_cleanup();

    size_t nexp = 0, nunc = 0;
    if (write_expect(cfg.expect_out, &sh, &nexp, &nunc) != 0) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", cfg.expect_out);
        goto out;
    }
    stats *st = &sh.st;
    fprintf(stderr,
            "phonereport-sim: %zu phones, %llu requests (%llu bytes) in %.1f s: 2xx full %llu, "
            "delta %llu, status %llu; %llu retries, %llu given up, %llu unsent at the end; "
            "%zu phones expected, %zu uncertain%s\n",
            cfg.phones, st->sent, st->bytes, (double)(sim_now_ms() - sh.start_ms) / 1000.0,
            st->ok[EV_FULL], st->ok[EV_DELTA], st->ok[EV_STATUS], st->retried, st->failed,
            st->dropped, nexp, nunc, g_stop ? " (interrupted)" : "");
    if (cfg.stats_out && write_stats(cfg.stats_out, st, nexp, nunc) != 0) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", cfg.stats_out);
        goto out;
    }
    rc = wfailed || st->failed || st->dropped || nunc || g_stop ? SIM_EXIT_FAIL : SIM_EXIT_OK;
out:
    if (sh.phones)
        for (size_t i = 0; i < cfg.phones; i++) {
            sim_values_free(&base, sh.phones[i].local);
            sim_values_free(&base, sh.phones[i].expect);
            sim_buf_release(&sh.phones[i].body);
        }
    if (sh.journal)
        fclose(sh.journal);
    free(sh.phones);
    free(ws);
    free(ids);
    if (base_loaded)
        sim_base_release(&base);
    free(base_url);
    return rc;
}
