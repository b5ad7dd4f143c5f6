/*
 * ingest_int.h - what the files of the ingest role share; not part of the public API.
 *
 * One file per concern:
 *   config.c    the config table, ingest_cfg_check
 *   list.c      comma-separated lists of settings, split (pure; below everything that parses)
 *   identity.c  the phone's MAC from cert/path/query/User-Agent, allow-list (pure)
 *   kind.c      report kind from path patterns, upload prefixes (pure)
 *   auth.c      the credentials file: parsing, lookup, password checks (pure but for OpenSSL)
 *   limits.c    body size decisions and the in-flight byte budget (pure)
 *   nonce.c     Digest nonce counts kept by the edge itself (pure)
 *   publish.c   the Kafka producer: produce, delivery reports, readiness probe
 *   http.c      the libmicrohttpd daemon: options, start, quiesce, stop
 *   http_conn.c the request state machine; http_prot.c answers, request ids, endpoints;
 *   http_auth.c Basic/Digest glue; watchdog.c connection records, header watchdog
 *               (these share http_int.h)
 *   ingest.c    the lifecycle of ingest.h: new, start, stop, free
 */
#ifndef INGEST_INT_H
#define INGEST_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "contract.h"
#include "ingest.h"
#include "mac.h"
#include "metrics.h"

/* ------------------------------------------------------------------ config.c */

struct ingest_cfg {
    char *listen;                        /* host:port, [v6]:port or :port; port 0 = any free port */
    char *upload_prefixes;               /* comma-separated path prefixes accepting PUT/POST */
    long long max_body_bytes;            /* 413 beyond */
    long long max_inflight_bytes;        /* bodies buffered + waiting for Kafka; 503 beyond */
    long long max_inflight_bytes_per_ip; /* one address's share of it; 0 = an eighth */
    long long max_header_bytes;          /* MHD per-connection memory (request line + headers) */
    char *identity_order;                /* comma-separated: cert,path,query,user-agent */
    char *allow_macs;          /* comma-separated MACs or hex prefixes (OUI); NULL = all */
    char *kind_status_pattern; /* comma-separated fnmatch globs on the path */
    char *kind_delta_pattern;
    char *kind_full_pattern;
    char *auth_file;   /* credentials file; NULL = no authentication */
    char *auth_scheme; /* basic|digest */
    char *auth_realm;
    char *tls_cert; /* PEM files; both or neither */
    char *tls_key;
    char *tls_client_ca;      /* PEM CA: phones' client certificates are requested, verified */
    bool tls_client_optional; /* with tls-client-ca: a phone may come without a certificate */
    long long connection_timeout_ms; /* idle time-out of a connection */
    long long header_timeout_ms;     /* longest wait for a request's line and headers */
    long long request_timeout_ms;    /* longest time from request line to last body byte */
    long long max_connections;
    long long max_connections_per_ip; /* 0 = unlimited */
    long long threads;                /* 0 = one per CPU */
    long long ack_timeout_ms;         /* message.timeout.ms: longest wait for Kafka's ack */
    long long shutdown_timeout_ms;
    long long retry_after_ms; /* Retry-After of 503 answers, rounded up to seconds */
    long long raw_partitions; /* partitions when ingest creates the raw topic; 0 = broker's */
    long long ready_probe_ms; /* period of the Kafka readiness probe */
};

/* ------------------------------------------------------------------ list.c */

/* Splits a comma-separated list into trimmed, non-empty items (malloc'd array of malloc'd
 * strings, *n items; none for NULL). PR_EFATAL on allocation failure. Free with
 * ingest_list_free. */
pr_status ingest_list_split(const char *s, char ***items, size_t *n, char *err, size_t errlen);
void ingest_list_free(char **items, size_t n);

/* ---------------------------------------------------------------- identity.c */

typedef struct ingest_identity_order {
    pr_mac_source src[PR_MAC_SRC__COUNT];
    size_t n;
} ingest_identity_order;

/* Parses "cert,path,query,user-agent" (each at most once). PR_EINVAL with err. */
pr_status ingest_identity_order_parse(const char *s, ingest_identity_order *out, char *err,
                                      size_t errlen);

typedef struct ingest_identity_input {
    const char *cert_mac;   /* normalised MAC from the client certificate, or NULL */
    const char *path;       /* URL path, percent-decoded, without the query; or NULL */
    const char *query_mac;  /* value of the `mac` query parameter, or NULL */
    const char *user_agent; /* or NULL */
} ingest_identity_input;

typedef enum ingest_identity_outcome {
    INGEST_ID_OK,       /* mac and source set */
    INGEST_ID_NONE,     /* no source gave a MAC: 400 */
    INGEST_ID_INVALID,  /* a source gave something that is not a MAC: 400 */
    INGEST_ID_MISMATCH, /* two sources disagree: 403 */
} ingest_identity_outcome;

/* Consults the sources in `order`; the first one that gives a MAC names the source, every
 * other one that gives a MAC must agree. `reason` gets a one-line text for the response. */
ingest_identity_outcome ingest_identity_resolve(const ingest_identity_order *order,
                                                const ingest_identity_input *in,
                                                char mac[PR_MAC_LEN + 1], pr_mac_source *src,
                                                char *reason, size_t reasonlen);

/* MAC in a path: a 12-hex token ($MA, $MAU) or the colon form ($MAC) delimited by
 * non-alphanumerics. 1 found (mac set), 0 none, -1 two different ones. */
int ingest_identity_from_path(const char *path, char mac[PR_MAC_LEN + 1]);

/* MAC in a certificate's common name: `SEP` + 12 hex digits (Cisco's device name), else a
 * delimited token as in a path. 1 found, 0 none, -1 two different ones. (tls.c) */
int ingest_identity_from_cert_name(const char *cn, char mac[PR_MAC_LEN + 1]);

/* Allow-list: full MACs and hex prefixes (e.g. an OUI "00562b" or "00:56:2b"). */
typedef struct ingest_allow {
    char (*prefix)[PR_MAC_LEN + 1];
    size_t n;
} ingest_allow;

/* NULL s = allow everything (n = 0); a set value must name at least one MAC or prefix ("",
 * "," or " " are errors, not "allow all"). PR_EINVAL with err naming the bad item. */
pr_status ingest_allow_parse(const char *s, ingest_allow *out, char *err, size_t errlen);
bool ingest_allow_check(const ingest_allow *a, const char *mac);
void ingest_allow_release(ingest_allow *a);

/* -------------------------------------------------------------------- kind.c */

typedef struct ingest_kind_rules {
    char **status, **delta, **full;
    size_t nstatus, ndelta, nfull;
} ingest_kind_rules;

/* Patterns are comma-separated fnmatch(3) globs, matched case-insensitively against the
 * whole path. PR_EINVAL with err for a bad pattern. */
pr_status ingest_kind_rules_parse(const char *status, const char *delta, const char *full,
                                  ingest_kind_rules *out, char *err, size_t errlen);
/* status first, then delta, then full; no match is PR_KIND_UNKNOWN. */
pr_kind ingest_kind_of_path(const ingest_kind_rules *rules, const char *path);
void ingest_kind_rules_release(ingest_kind_rules *rules);

typedef struct ingest_prefixes {
    char **p;
    size_t n;
} ingest_prefixes;
/* PR_EINVAL with err for an empty list or a prefix not starting with '/'. */
pr_status ingest_prefixes_parse(const char *s, ingest_prefixes *out, char *err, size_t errlen);
/* True if path starts with one of the prefixes ("/r/" accepts "/r/x" and "/r"). */
bool ingest_prefixes_match(const ingest_prefixes *p, const char *path);
void ingest_prefixes_release(ingest_prefixes *p);

/* -------------------------------------------------------------------- auth.c */

typedef enum ingest_secret_type {
    INGEST_SECRET_PLAIN,   /* the password itself */
    INGEST_SECRET_SHA256,  /* SHA-256 of the password (Basic only) */
    INGEST_SECRET_MD5_HA1, /* MD5(user:realm:password) (Basic and Digest) */
} ingest_secret_type;

typedef struct ingest_cred {
    char *user;
    ingest_secret_type type;
    char *secret; /* PLAIN: the password; else the hash as bytes */
    size_t secret_len;
    char mac[PR_MAC_LEN + 1]; /* "" when not bound to a phone */
} ingest_cred;

typedef struct ingest_auth ingest_auth;

/* Parses the text of a credentials file. PR_EINVAL with "line N: ..." in err. */
pr_status ingest_auth_parse(const char *text, size_t len, ingest_auth **out, char *err,
                            size_t errlen);
pr_status ingest_auth_load(const char *path, ingest_auth **out, char *err, size_t errlen);
void ingest_auth_free(ingest_auth *a);
size_t ingest_auth_count(const ingest_auth *a);
/* True if some entry cannot answer a Digest challenge (a {sha256} secret). */
bool ingest_auth_has_basic_only(const ingest_auth *a);
/* Borrowed pointer into a, or NULL. */
const ingest_cred *ingest_auth_find(const ingest_auth *a, const char *user);
/* Basic: checks a clear-text password against the entry (constant time). */
bool ingest_auth_check_password(const ingest_cred *c, const char *realm, const char *password);

/* ------------------------------------------------------------------- nonce.c */

#define INGEST_NONCE_MAX       128  /* longest nonce tracked (libmicrohttpd's own bound) */
#define INGEST_NONCE_SLOTS     4096 /* as many as libmicrohttpd's own nonce table (http.c) */
#define INGEST_NONCE_TIMEOUT_S 300  /* a nonce's life */
#define INGEST_NONCE_CLIENTS   4    /* client nonces (cnonce) counted per nonce */

typedef struct ingest_nonces ingest_nonces;
typedef enum ingest_nonce_verdict {
    INGEST_NONCE_OK,      /* a count above every one accepted for this nonce: recorded */
    INGEST_NONCE_UNKNOWN, /* not issued here, expired, or its slot was taken: stale */
    INGEST_NONCE_REPLAY,  /* a count already used or below the highest one: refuse */
} ingest_nonce_verdict;

/* A table of `slots` nonces, each valid ttl_ms after it was issued. */
pr_status ingest_nonces_new(size_t slots, long long ttl_ms, ingest_nonces **out, char *err,
                            size_t errlen);
void ingest_nonces_free(ingest_nonces *t); /* NULL is a no-op */
/* Records a nonce just sent in a challenge (count 0: nothing accepted yet). */
void ingest_nonces_issue(ingest_nonces *t, const char *nonce, long long now_ms);
/* Called once the Digest response was verified; thread-safe. The count is that of the
 * client nonce: two clients given the same nonce each count from 1. */
ingest_nonce_verdict ingest_nonces_use(ingest_nonces *t, const char *nonce, const char *cnonce,
                                       unsigned long long nc, long long now_ms);
/* The first value of `key` in a "Digest k=v, k=\"v\"" header, read as libmicrohttpd 0.9.75
 * reads it, into out. Returns how many times the key appears (0, 1, 2...); 0 also when the
 * header is not Digest, is malformed, or the value does not fit. */
int ingest_digest_param(const char *header, const char *key, char *out, size_t cap);
typedef struct ingest_digest_ids {
    char nonce[INGEST_NONCE_MAX + 1];
    char cnonce[INGEST_NONCE_MAX + 1]; /* libmicrohttpd's bound too */
    unsigned long long nc;
} ingest_digest_ids;
/* nonce, cnonce and nc of a Digest Authorization header: true if each appears exactly once,
 * the nonces fit and are not empty, and nc is 1 to 16 hex digits with a value above 0. */
bool ingest_digest_nonce_nc(const char *header, ingest_digest_ids *id);

/* ------------------------------------------------------------------ limits.c */

typedef enum ingest_length_verdict {
    INGEST_LEN_OK,
    INGEST_LEN_ABSENT,    /* no Content-Length (chunked) */
    INGEST_LEN_TOO_LARGE, /* 413 */
    INGEST_LEN_INVALID,   /* 400 */
} ingest_length_verdict;

/* Judges a Content-Length header value (NULL = absent); *len gets the value when OK. */
ingest_length_verdict ingest_limits_content_length(const char *value, long long max,
                                                   unsigned long long *len);

/* The in-flight byte budget: bodies being received plus records waiting for Kafka. */
typedef struct ingest_budget {
    atomic_llong used;
    long long max;
} ingest_budget;
void ingest_budget_init(ingest_budget *b, long long max);
/* Reserves n bytes; false (nothing reserved) if that would pass the maximum. */
bool ingest_budget_take(ingest_budget *b, long long n);
void ingest_budget_give(ingest_budget *b, long long n);
long long ingest_budget_used(ingest_budget *b);

/* Each client address's share of the budget (thread-safe). */
typedef struct ingest_shares ingest_shares;
pr_status ingest_shares_new(long long max_per_key, ingest_shares **out, char *err, size_t errlen);
void ingest_shares_free(ingest_shares *s); /* NULL is a no-op */
/* Charges n bytes to key; false (nothing charged) if key would then hold more than its share. */
bool ingest_shares_take(ingest_shares *s, const char *key, long long n);
void ingest_shares_give(ingest_shares *s, const char *key, long long n);
long long ingest_shares_held(ingest_shares *s, const char *key);
/* The share of one address: max-inflight-bytes-per-ip, or when 0 an eighth of the budget
 * but at least one largest body. */
long long ingest_limits_ip_share(const ingest_cfg *cfg);

/* Retry-After seconds for a configured milliseconds value (at least 1). */
long long ingest_limits_retry_after_s(long long ms);

/* ----------------------------------------------------------------- publish.c */

typedef struct ingest_pub ingest_pub;
typedef struct ingest_hdr {
    const char *name;
    const char *value; /* NULL = header left out */
} ingest_hdr;

/* Called on the delivery-report thread once per record sent, with the opaque of the send. */
typedef void (*ingest_ack_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err);

/* Builds the producer (no threads yet). metrics is borrowed and must outlive the producer. */
pr_status ingest_pub_new(const pr_common_cfg *common, const ingest_cfg *cfg, pr_metrics *metrics,
                         ingest_ack_fn ack, void *ack_ctx, ingest_pub **out, char *err,
                         size_t errlen);
pr_status ingest_pub_start(ingest_pub *p, char *err, size_t errlen);
/* Never blocks. On NO_ERROR librdkafka owns body (malloc'd) and will call ack exactly once;
 * on any error the caller still owns body and no ack follows. */
rd_kafka_resp_err_t ingest_pub_send(ingest_pub *p, const char *mac, char *body, size_t len,
                                    const ingest_hdr *h, size_t nh, void *opaque);
bool ingest_pub_ready(const ingest_pub *p);
/* Waits up to timeout_ms for Kafka to ack what is queued, then purges the rest (their acks
 * report a purge error). Returns how many records were not delivered. */
int ingest_pub_drain(ingest_pub *p, int timeout_ms);
void ingest_pub_stop(ingest_pub *p);
void ingest_pub_free(ingest_pub *p); /* NULL is a no-op */

/* --------------------------------------------------------------------- tls.c */

struct MHD_Connection;
typedef enum ingest_cert_verdict {
    INGEST_CERT_OK,        /* verified against tls-client-ca; mac set */
    INGEST_CERT_NONE,      /* the client sent no certificate */
    INGEST_CERT_UNTRUSTED, /* not signed by the CA, expired, or unreadable */
    INGEST_CERT_NO_MAC,    /* trusted, but its common name names no MAC */
} ingest_cert_verdict;
ingest_cert_verdict ingest_tls_client_mac(struct MHD_Connection *conn, char mac[PR_MAC_LEN + 1]);

/* ------------------------------------------- http.c, http_conn.c (see http_int.h) */

/* 503 reasons, the `reason` label of phonereport_ingest_unavailable_total. */
typedef enum ingest_unavail {
    INGEST_U_KAFKA_DOWN,
    INGEST_U_QUEUE_FULL,
    INGEST_U_INFLIGHT,
    INGEST_U_INFLIGHT_IP,
    INGEST_U_TIMEOUT,
    INGEST_U_KAFKA_ERROR,
    INGEST_U_SHUTDOWN,
    INGEST_U__COUNT
} ingest_unavail;

#define INGEST_NSTATUS 12

typedef struct ingest_stats {
    pr_counter *_Atomic requests[INGEST_NSTATUS][PR_KIND_UNKNOWN + 2];
    pr_counter *bytes;
    pr_counter *records;
    pr_gauge *inflight_requests;
    pr_gauge *inflight_bytes;
    pr_histogram *ack_latency;
    pr_counter *unavailable[INGEST_U__COUNT];
    pr_counter *auth_missing, *auth_bad;
    pr_counter *id_none, *id_invalid, *id_mismatch, *id_not_allowed, *id_user_mac, *id_cert;
} ingest_stats;

struct req; /* http_int.h */
struct ingest {
    const pr_common_cfg *common;
    const ingest_cfg *cfg;
    pr_metrics *metrics;
    ingest_stats stats;

    ingest_identity_order order;
    ingest_allow allow;
    ingest_kind_rules kinds;
    ingest_prefixes prefixes;

    pthread_rwlock_t auth_lock; /* guards auth, swapped by ingest_reload */
    ingest_auth *auth;
    bool digest;
    char digest_random[32];
    ingest_nonces *nonces; /* nonce counts (Digest only); see nonce.c */

    ingest_budget budget;
    ingest_shares *shares; /* each client address's share of the budget */
    ingest_pub *pub;

    struct MHD_Daemon *daemon;
    char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;
    struct sockaddr_storage addr; /* `listen` resolved by pr_listen_resolve */
    unsigned port;
    atomic_bool started;
    atomic_bool stopping;
    bool daemon_abandoned; /* suspended connections outlived the stop: daemon not stopped */

    /* Header watchdog (watchdog.c): connections still waiting for a request's headers past
     * header-timeout are shut down, which idle time-outs alone cannot do (a trickle). */
    pthread_mutex_t hw_mu;    /* guards the list; each entry's flags are atomics */
    struct conn_ctx *hw_head; /* every open connection */
    pthread_cond_t hw_cv;
    pthread_t hw_thr;
    bool hw_started;
    atomic_bool hw_run;
    pr_counter *hw_cut; /* connections cut */
    /* Ends a request libmicrohttpd dropped without completing it (CLOSED notification): set
     * by http.c to http_conn.c's ingest_http_req_dropped before the daemon starts, so that
     * watchdog.c, below http_conn.c, never calls up into it. */
    void (*hw_dropped)(ingest *r, struct req *q);

    pthread_mutex_t wait_mu; /* pending: records sent whose answer is not queued yet */
    pthread_cond_t wait_cv;
    long pending;
};

/* Started, not stopping, and Kafka reachable (publish.c's probe): ingest_ready (ingest.c)
 * and /readyz (http_prot.c, which stands below ingest.c) both ask this. */
static inline bool ingest_state_ready(const ingest *r)
{
    ingest *w = (ingest *)r; /* C11's atomic_load takes a non-const pointer */
    return atomic_load(&w->started) && !atomic_load(&w->stopping) && ingest_pub_ready(r->pub);
}

pr_status ingest_http_start(ingest *r, char *err, size_t errlen);
/* Stops accepting new connections (the listening socket is closed). */
void ingest_http_quiesce(ingest *r);
void ingest_http_stop(ingest *r);
/* The ack callback given to ingest_pub_new. */
void ingest_http_on_ack(void *ctx, void *opaque, rd_kafka_resp_err_t err);

#endif
