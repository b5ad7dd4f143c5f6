/*
 * contract.h - the wire contract of DESIGN.md section 3, in one place.
 *
 * Every topic suffix, Kafka header name, schema id, report kind and dead-letter reason code
 * is spelled here and nowhere else; code and tests use these macros and tables.
 */
#ifndef PR_CONTRACT_H
#define PR_CONTRACT_H

#include <stddef.h>

#define PR_TOPIC_PREFIX_DEFAULT "phonereport."

typedef enum pr_topic {
    PR_TOPIC_RAW,
    PR_TOPIC_CONFIG,
    PR_TOPIC_STATUS,
    PR_TOPIC_DLQ,
    PR_TOPIC_STATE,
    PR_TOPIC_CHANGES,
    PR_TOPIC_DRIFT,
    PR_TOPIC_SINK_DLQ, /* records the sink could not apply on a healthy store (poison) */
    PR_TOPIC__COUNT
} pr_topic;

/* Room for a topic's full name (prefix + suffix) in the roles' tables of names. */
#define PR_TOPIC_NAME_CAP 256

/* "raw", "config", ... */
const char *pr_topic_suffix(pr_topic t);

/* Writes prefix + suffix into buf. Returns 0, or -1 if it does not fit. */
int pr_topic_name(const char *prefix, pr_topic t, char *buf, size_t len);

/* Kafka record headers on phonereport.raw (all UTF-8 strings). */
#define PR_HDR_REQUEST_ID       "pr-request-id"
#define PR_HDR_RECEIVED_MS      "pr-received-ms"
#define PR_HDR_METHOD           "pr-method"
#define PR_HDR_PATH             "pr-path"
#define PR_HDR_REMOTE           "pr-remote"
#define PR_HDR_USER_AGENT       "pr-user-agent"
#define PR_HDR_CONTENT_TYPE     "pr-content-type"
#define PR_HDR_CONTENT_ENCODING "pr-content-encoding"
#define PR_HDR_KIND             "pr-kind"
#define PR_HDR_MAC_SOURCE       "pr-mac-source"
#define PR_HDR_AUTH_USER        "pr-auth-user"

/* Schema ids carried in every JSON value's "schema" member. */
#define PR_SCHEMA_CONFIG   "phonereport.config/1"
#define PR_SCHEMA_STATUS   "phonereport.status/1"
#define PR_SCHEMA_DLQ      "phonereport.dlq/1"
#define PR_SCHEMA_SINK_DLQ "phonereport.sink-dlq/1"
#define PR_SCHEMA_STATE    "phonereport.state/1"
#define PR_SCHEMA_CHANGE   "phonereport.changes/1"
#define PR_SCHEMA_DRIFT    "phonereport.drift/1"

/* Report kinds (pr-kind header, "kind" member). */
typedef enum pr_kind { PR_KIND_FULL, PR_KIND_DELTA, PR_KIND_STATUS, PR_KIND_UNKNOWN } pr_kind;
const char *pr_kind_name(pr_kind k);
/* Parses "full|delta|status|unknown"; anything else is PR_KIND_UNKNOWN. */
pr_kind pr_kind_parse(const char *s);

/* Where the edge found the phone's MAC (pr-mac-source header). */
typedef enum pr_mac_source {
    PR_MAC_SRC_CERT,
    PR_MAC_SRC_PATH,
    PR_MAC_SRC_QUERY,
    PR_MAC_SRC_USER_AGENT,
    PR_MAC_SRC__COUNT
} pr_mac_source;
const char *pr_mac_source_name(pr_mac_source s);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int pr_mac_source_parse(const char *s, pr_mac_source *out);

/* Encryption of a report body as it arrived ("encryption" member of events). */
#define PR_ENC_NONE        "none"
#define PR_ENC_OPENSSL_CBC "openssl-aes-256-cbc"
#define PR_ENC_AES128GCM   "aes128gcm"

/*
 * Dead-letter reason codes: a closed list, documented in README.md ("Dead-letter reasons").
 * Add a code here, in pr_dlq_reason_name(), in proto/schemas/dlq.schema.json and in the
 * README together, with a test.
 */
typedef enum pr_dlq_reason {
    PR_DLQ_NO_MAC,                /* record key is not a valid MAC */
    PR_DLQ_EMPTY,                 /* empty body, or empty plaintext after decryption */
    PR_DLQ_NO_KEY,                /* encrypted, but no password/IKM for it (aes128gcm: none
                                     for its key id, the phone or the default) */
    PR_DLQ_DECRYPT_FAILED,        /* no candidate password/digest/IKM gives a valid plaintext
                                     (wrong key, bad padding, binary body without Salted__) */
    PR_DLQ_BAD_ENCODING,          /* malformed aes128gcm/openssl container: truncated, rs < 18,
                                     bad delimiter or padding, last record not marked last */
    PR_DLQ_GUNZIP_FAILED,         /* gzip stream is corrupt or truncated */
    PR_DLQ_TOO_LARGE,             /* body, plaintext, gunzip output or event over its limit
                                     (gzip bomb), or an output the broker refused as too large */
    PR_DLQ_XML_MALFORMED,         /* not XML, not well-formed, or invalid UTF-8 */
    PR_DLQ_XML_DOCTYPE_FORBIDDEN, /* a DOCTYPE (entity expansion risk) */
    PR_DLQ_XML_LIMITS,            /* depth, element count or value length over the limit */
    PR_DLQ_NOT_A_REPORT,          /* well-formed XML with no flat-profile and nothing a status
                                     report holds (root without child elements, HTML page) */
    PR_DLQ_REASON__COUNT
} pr_dlq_reason;
const char *pr_dlq_reason_name(pr_dlq_reason r);

#endif
