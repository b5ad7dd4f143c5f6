/*
 * decoder_int.h - the decoder's internal modules. The pure transforms (keystore lookups,
 * openssl-enc CBC, RFC 8188 aes128gcm, gzip, status XML to JSON, the record-to-event step)
 * have no Kafka in them and are tested alone; loop.c is the only file that talks to Kafka.
 *
 * Ownership: every `const` pointer parameter is borrowed; buffers a function returns through
 * `unsigned char **out` are malloc'd and owned by the caller, also set to NULL on failure.
 */
#ifndef DECODER_INT_H
#define DECODER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract.h"
#include "events_report.h"
#include "flatprofile.h"
#include "status.h"

/* ---- config.c ----------------------------------------------------------------------- */

struct decoder_cfg {
    char *group;               /* decoder-group */
    char *transactional_id;    /* decoder-transactional-id; NULL = "<group>-<hostname>" */
    char *keystore;            /* decoder-keystore: path of the JSON keystore */
    char *digests;             /* decoder-openssl-digests: "md5,sha256" */
    long long batch_max;       /* decoder-batch-max: records per transaction */
    long long batch_ms;        /* decoder-batch-ms: longest a transaction stays open */
    long long batch_linger;    /* decoder-batch-linger-ms: open at least, once drained */
    long long txn_timeout;     /* decoder-txn-timeout: init/commit/abort call timeout, ms */
    long long max_body;        /* decoder-max-body-bytes: raw body / plaintext cap */
    long long max_inflated;    /* decoder-max-inflated-bytes: gunzip output cap */
    long long xml_depth;       /* decoder-xml-max-depth */
    long long xml_elements;    /* decoder-xml-max-elements */
    long long xml_value;       /* decoder-xml-max-value-bytes */
    long long max_event;       /* decoder-max-event-bytes */
    long long max_dlq_payload; /* decoder-dlq-max-payload-bytes */
};

/* Options of the pure transforms from the config (keystore left NULL). */
struct decoder_opts;
void decoder_cfg_opts(const struct decoder_cfg *cfg, struct decoder_opts *opts);

/* ---- keystore.c --------------------------------------------------------------------- */

typedef struct decoder_keystore decoder_keystore;

#define DECODER_IKM_MAX      256
#define DECODER_PASSWORD_MAX 1024

typedef struct decoder_ikm {
    unsigned char bytes[DECODER_IKM_MAX];
    size_t len;
} decoder_ikm;

/* Loads the keystore JSON file (format: keystore.c). PR_EINVAL with a message (never a
 * secret) if the file cannot be read or is malformed. Warns (log) when the file is readable
 * by group or others. path NULL gives an empty keystore. */
pr_status decoder_keystore_load(const char *path, decoder_keystore **out, char *err, size_t errlen);
/* Parses the keystore from a JSON text (tests). */
pr_status decoder_keystore_parse(const char *json, decoder_keystore **out, char *err,
                                 size_t errlen);
void decoder_keystore_free(decoder_keystore *ks); /* NULL is a no-op */
/* The openssl enc password for mac, else the default; NULL if neither. */
const char *decoder_keystore_password(const decoder_keystore *ks, const char *mac);
/* IKM candidates in lookup order: key id, MAC, default (distinct entries only). Returns how
 * many were written to out[0..max). keyid may be binary (keyid_len bytes). */
size_t decoder_keystore_ikms(const decoder_keystore *ks, const unsigned char *keyid,
                             size_t keyid_len, const char *mac, const decoder_ikm **out,
                             size_t max);

/* ---- crypto_cbc.c ------------------------------------------------------------------- */

typedef enum decoder_digest { DECODER_DIGEST_MD5, DECODER_DIGEST_SHA256 } decoder_digest;

/* Result of a decryption attempt; maps onto DLQ reasons in report.c. */
typedef enum decoder_crypt_result {
    DECODER_CRYPT_OK,
    DECODER_CRYPT_NO_KEY,    /* no password/IKM to try */
    DECODER_CRYPT_FAILED,    /* every candidate failed (padding, tag, implausible plaintext) */
    DECODER_CRYPT_MALFORMED, /* container broken: truncated, no header, rs < 18, ... */
    DECODER_CRYPT_TOO_LARGE, /* plaintext over the cap */
    DECODER_CRYPT_NOMEM,
} decoder_crypt_result;

/* True if the body starts with "Salted__". */
bool decoder_cbc_detect(const unsigned char *body, size_t len);
/* openssl enc -d -aes-256-cbc -k password, trying digests[0..ndigests) in order; accepts a
 * candidate only with valid PKCS#7 padding and a plaintext that starts like XML or gzip.
 * *used gets the digest that worked. */
decoder_crypt_result decoder_cbc_decrypt(const unsigned char *body, size_t len,
                                         const char *password, const decoder_digest *digests,
                                         size_t ndigests, unsigned char **out, size_t *outlen,
                                         decoder_digest *used, char *err, size_t errlen);

/* True if a plaintext starts like XML (optional BOM and white space, then '<') or gzip. */
bool decoder_plaintext_plausible(const unsigned char *p, size_t len);

/* ---- crypto_ece.c ------------------------------------------------------------------- */

typedef struct decoder_ece_header {
    const unsigned char *salt; /* 16 bytes, points into the body */
    uint32_t rs;
    const unsigned char *keyid;
    size_t keyid_len;
    size_t header_len; /* 21 + keyid_len */
} decoder_ece_header;

/* Reads the aes128gcm header. DECODER_CRYPT_MALFORMED if the body is too short for it, rs <
 * 18, or no record follows. */
decoder_crypt_result decoder_ece_header_parse(const unsigned char *body, size_t len,
                                              decoder_ece_header *h, char *err, size_t errlen);
/* Decrypts an aes128gcm body with one IKM: HKDF-SHA256, AES-128-GCM records of rs bytes,
 * delimiter 0x01 on every record but the last (0x02), zero padding, the last-record rule.
 * DECODER_CRYPT_FAILED when authentication fails (wrong IKM, tampered),
 * DECODER_CRYPT_MALFORMED for a structural error that authenticated records reveal (bad
 * delimiter or padding, truncated after a non-last record). max_out caps the plaintext. */
decoder_crypt_result decoder_ece_decrypt(const unsigned char *body, size_t len,
                                         const unsigned char *ikm, size_t ikm_len, size_t max_out,
                                         unsigned char **out, size_t *outlen, char *err,
                                         size_t errlen);

/* ---- gzip.c ------------------------------------------------------------------------- */

bool decoder_gzip_detect(const unsigned char *p, size_t len);
/* Inflates one gzip member. PR_OK; PR_EINVAL with *too_large set when the output would pass
 * max_out, or clear for a corrupt stream (trailing garbage included). */
pr_status decoder_gzip_inflate(const unsigned char *in, size_t len, size_t max_out,
                               unsigned char **out, size_t *outlen, bool *too_large, char *err,
                               size_t errlen);

/* ---- status_xml.c ------------------------------------------------------------------- */

/* A parsed status document (opaque; decoder_status_free). */
typedef struct decoder_status_doc decoder_status_doc;

/* Reads status XML for the generic JSON form of DESIGN section 3: {"<root>": value} where an
 * element with neither children nor attributes is its text (trimmed, inner newlines to
 * spaces; "" when empty), other elements are objects with "@attr" members, child members (a
 * repeated name becomes an array, in document order) and "#text" when there is non-blank text
 * too. DOCTYPE refused; limits enforced (PR_EINVAL, *why says which); PR_EFATAL when memory
 * runs out. On success *out is the caller's and *root_children the number of child elements
 * of the root. */
pr_status decoder_status_parse(const char *buf, size_t len, const pr_xml_limits *lim,
                               decoder_status_doc **out, size_t *root_children, char *root_name,
                               size_t root_name_len, pr_xml_error *why, char *err, size_t errlen);
/* Writes the document's JSON value into w. */
void decoder_status_write(const decoder_status_doc *doc, pr_jsonw *w);
void decoder_status_free(decoder_status_doc *doc); /* NULL is a no-op */

/* ---- report.c: one raw record to one output ------------------------------------------ */

typedef struct decoder_header {
    const char *name;
    const unsigned char *value;
    size_t len;
} decoder_header;

/* A raw record as the loop hands it over (everything borrowed). */
typedef struct decoder_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* record timestamp, -1 if none */
    const unsigned char *key;
    size_t key_len;
    const unsigned char *value;
    size_t value_len;
    const decoder_header *headers;
    size_t nheaders;
} decoder_record;

/* How report.c writes an event's text once the record is decrypted and classified: the
 * streaming writers (decoder_opts.writers NULL), or, in the tests, the jansson tree builders
 * they replaced (tests/golden/oracle/), so that both see exactly the same inputs. Each returns
 * malloc'd text (*len its length) or NULL when memory runs out. */
typedef struct decoder_writers {
    char *(*config)(const pr_event_envelope *env, const pr_flat_profile *fp, size_t hint,
                    size_t *len);
    /* Parses status XML (decoder_status_parse's rules and errors) and writes the whole
     * status event; *text only on PR_OK. */
    pr_status (*status)(const pr_event_envelope *env, const char *xml, size_t xml_len,
                        const pr_xml_limits *lim, char **text, size_t *len, size_t *root_children,
                        char *root_name, size_t root_name_len, pr_xml_error *why, char *err,
                        size_t errlen);
    char *(*dlq)(pr_dlq_reason reason, const char *detail, const char *mac, const char *topic,
                 int32_t partition, int64_t offset, const pr_event_header *headers, size_t nheaders,
                 const unsigned char *payload, size_t payload_len, size_t max_payload, size_t *len);
} decoder_writers;

typedef struct decoder_opts {
    const decoder_keystore *keystore;
    const decoder_writers *writers; /* NULL: the streaming writers (the only ones in use) */
    decoder_digest digests[2];
    size_t ndigests;
    size_t max_body;        /* raw body and plaintext */
    size_t max_inflated;    /* gunzip output */
    size_t max_event;       /* a config/status event larger than this is a DLQ too_large */
    size_t max_dlq_payload; /* raw bytes kept in a dead letter */
    pr_xml_limits limits;
} decoder_opts;

typedef struct decoder_output {
    pr_topic topic;       /* PR_TOPIC_CONFIG, PR_TOPIC_STATUS or PR_TOPIC_DLQ */
    pr_dlq_reason reason; /* when topic is PR_TOPIC_DLQ */
    char mac[13];         /* the record key ("" when not a valid MAC) */
    char *value;          /* JSON text, malloc'd, owned by the output */
    size_t value_len;
} decoder_output;

/* Turns one raw record into its event or dead letter. PR_OK with *out filled (DLQ included:
 * bad input is not an error here); PR_EFATAL only on allocation failure. */
pr_status decoder_report_decode(const decoder_record *rec, const decoder_opts *opts,
                                decoder_output *out, char *err, size_t errlen);
void decoder_output_release(decoder_output *out);
/* The dead letter of a record whose output (refused_len bytes) Kafka refused as too large:
 * reason too_large, no payload, so that it fits any sane topic. */
pr_status decoder_report_refused(const decoder_record *rec, const decoder_opts *opts,
                                 size_t refused_len, decoder_output *out, char *err, size_t errlen);

/* Default options with no keystore (tests, fuzz, bench). */
void decoder_opts_default(decoder_opts *opts);
/* Parses "md5,sha256" into opts->digests. -1 on an unknown or repeated name. */
int decoder_digests_parse(const char *s, decoder_digest *digests, size_t *n);

/* ---- refused.c: raw records whose output the broker refused as too large ------------ */

typedef struct decoder_refused_entry {
    int32_t partition;
    int64_t offset;
    size_t len;     /* bytes of the refused output */
    bool confirmed; /* refused even when produced alone: dead-letter it */
} decoder_refused_entry;

typedef struct decoder_refused {
    decoder_refused_entry *e;
    size_t n, cap;
} decoder_refused; /* zero-initialised is empty */

void decoder_refused_release(decoder_refused *m);
/* The index of the entry of (partition, offset), or -1. */
long decoder_refused_find(const decoder_refused *m, int32_t partition, int64_t offset);
/* A new suspect; its index, or -1 when memory runs out. */
long decoder_refused_add(decoder_refused *m, int32_t partition, int64_t offset, size_t len);
/* Removes entry i (indices of other entries may change). */
void decoder_refused_forget(decoder_refused *m, long i);
/* The partition's offsets below next_offset are committed: their entries go. */
void decoder_refused_settle(decoder_refused *m, int32_t partition, int64_t next_offset);
/* The partition was revoked: its entries go (this decoder will not commit them). */
void decoder_refused_drop_partition(decoder_refused *m, int32_t partition);

/* ---- retry.c ------------------------------------------------------------------------ */

/* What one attempt of a transactional call came to. */
typedef enum decoder_try {
    DECODER_TRY_DONE,   /* it succeeded */
    DECODER_TRY_AGAIN,  /* a retriable failure (a time-out included) */
    DECODER_TRY_FAILED, /* a failure that retrying cannot mend (the attempt recorded it) */
} decoder_try;

typedef enum decoder_retry_result {
    DECODER_RETRY_DONE,
    DECODER_RETRY_FAILED,    /* an attempt said DECODER_TRY_FAILED */
    DECODER_RETRY_STOPPED,   /* a stop was requested while the call kept failing */
    DECODER_RETRY_TIMED_OUT, /* budget_ms spent */
} decoder_retry_result;

typedef struct decoder_retry {
    decoder_try (*attempt)(void *ctx, int timeout_ms); /* one call, at most timeout_ms long */
    long long (*now_ms)(void *ctx);                    /* a monotonic clock */
    bool (*stopping)(void *ctx);                       /* whether a stop was requested */
    void *ctx;
    long long budget_ms; /* for all attempts together; > 0 */
    int slice_ms;        /* longest single attempt; > 0 */
} decoder_retry;

/* Calls rt->attempt until it is done or fails for good, the budget is spent, or a stop
 * requested after the start has interrupted the retries (rules in retry.c). */
decoder_retry_result decoder_retry_run(const decoder_retry *rt);

#endif
