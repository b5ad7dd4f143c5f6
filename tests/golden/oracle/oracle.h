/*
 * oracle.h - the tree builders the decoder used before it wrote its events as JSON text
 * (jansson trees, dumped), kept in the tests as the oracle: the differential test and the
 * fuzz target decode every input with both and compare the parsed results.
 *
 * Ownership as in jansson: the _new builders return a new reference (caller decrefs), or NULL
 * on allocation failure; oracle_status_new steals status (also on failure).
 */
#ifndef ORACLE_H
#define ORACLE_H

#include <jansson.h>

#include "decoder_int.h"

/* report.c's writers, built on the trees below (decoder_opts.writers = &oracle_writers). */
extern const decoder_writers oracle_writers;

json_t *oracle_string_lossy(const char *s, size_t len);
json_t *oracle_config_new(const pr_event_envelope *env, const pr_flat_profile *fp);
json_t *oracle_status_new(const pr_event_envelope *env, json_t *status);
json_t *oracle_dlq_new(pr_dlq_reason reason, const char *detail, const char *mac, const char *topic,
                       int32_t partition, int64_t offset, const pr_event_header *headers,
                       size_t nheaders, const unsigned char *payload, size_t payload_len,
                       size_t max_payload);
/* json_dumps(ev, JSON_COMPACT) into one buffer of at least size_hint bytes. */
char *oracle_dump(const json_t *ev, size_t size_hint, size_t *len);
/* Status XML to {"<root>": value} (the rules of decoder_status_parse). */
pr_status oracle_status_parse(const char *buf, size_t len, const pr_xml_limits *lim, json_t **out,
                              size_t *root_children, char *root_name, size_t root_name_len,
                              pr_xml_error *why, char *err, size_t errlen);

#endif
