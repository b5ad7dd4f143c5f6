/*
 * events_report.h - writers of the values the decoder produces: phonereport.config/1,
 * phonereport.status/1 and phonereport.dlq/1 (DESIGN section 3). They live in proto because
 * they are the contract; proto/schemas/{config,status,dlq}.schema.json describe the same
 * shapes and the tests validate these writers' output against them, and compare it with the
 * jansson tree builders they replaced (tests/golden/oracle/, the oracle).
 *
 * Each writes JSON text straight into a pr_jsonw (jsonw.h), with no tree and no allocation per
 * parameter. Ownership: every input is borrowed. Strings that come from the wire (headers,
 * User-Agent) may be invalid UTF-8: each invalid byte is replaced by U+FFFD, never dropped.
 * Failure (memory) is the writer's: pr_jsonw_finish returns NULL.
 */
#ifndef PR_EVENTS_REPORT_H
#define PR_EVENTS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "contract.h"
#include "flatprofile.h"
#include "jsonw.h"

/* The "source" member: where and how the report arrived. model/firmware NULL or "" are left
 * out (they come from the User-Agent when it has them). */
typedef struct pr_event_source {
    const char *method;
    const char *path;
    const char *remote;
    const char *user_agent;
    const char *model;
    const char *firmware;
} pr_event_source;

/* What config and status events share. */
typedef struct pr_event_envelope {
    const char *mac;        /* 12 lower-case hex digits */
    const char *kind;       /* "full", "delta", "status" or "unknown" */
    const char *report_id;  /* the raw record's pr-request-id */
    long long received_ms;  /* Unix epoch milliseconds (pr-received-ms) */
    const char *encryption; /* PR_ENC_NONE, PR_ENC_OPENSSL_CBC or PR_ENC_AES128GCM */
    pr_event_source source;
    int32_t raw_partition; /* where the raw record was */
    int64_t raw_offset;
} pr_event_envelope;

/* Opens the event's object and writes "schema" and the envelope members ("mac", "kind",
 * "report_id", "received_at", "encryption", "source", "raw"); the caller adds its own
 * members and closes the object. */
void pr_event_begin(pr_jsonw *w, const char *schema, const pr_event_envelope *env);

/* {"schema":"phonereport.config/1", envelope..., "params":{name:value}, "access":{name:ua}}
 * plus "duplicates" when the profile repeated names. "access" holds only parameters that
 * had a ua attribute. */
void pr_event_config_write(pr_jsonw *w, const pr_event_envelope *env, const pr_flat_profile *fp);

typedef struct pr_event_header {
    const char *name;
    const unsigned char *value;
    size_t len;
} pr_event_header;

/* {"schema":"phonereport.dlq/1","reason","detail","mac"(string or null),
 *  "raw":{"topic","partition","offset"},"headers":{name:value},
 *  "payload_b64","payload_bytes","payload_truncated"}.
 * The payload is base64 (standard alphabet, padded) of at most max_payload bytes of it, so
 * that a dead letter always fits in a Kafka record; payload_bytes is the full size. A
 * repeated header keeps its last value; a header without a name is left out. */
void pr_event_dlq_write(pr_jsonw *w, pr_dlq_reason reason, const char *detail, const char *mac,
                        const char *topic, int32_t partition, int64_t offset,
                        const pr_event_header *headers, size_t nheaders,
                        const unsigned char *payload, size_t payload_len, size_t max_payload);

/* Formats Unix epoch milliseconds as RFC 3339 UTC with milliseconds
 * ("2026-11-24T17:26:00.123Z"). Returns 0, or -1 if it does not fit or is out of range. */
int pr_event_rfc3339_ms(long long ms, char *buf, size_t len);

#endif
