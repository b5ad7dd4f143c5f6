/*
 * kafka.h - librdkafka plumbing every role shares: a conf built from the common config
 * (bootstrap servers, kafka.* pass-through, logger), topic creation, and helpers for the
 * error classes of rdkafka_error.h.
 */
#ifndef PR_KAFKA_H
#define PR_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "contract.h"
#include "status.h"

/*
 * fetch.wait.max.ms of the pipeline's consumers (librdkafka's default is 500). librdkafka has
 * one fetch in flight per broker, and a partition that becomes fetchable while it waits joins
 * only the next one: right after an assignment the partitions start one by one (each after its
 * own offset look-up), the first fetch holds only the first of them and, when that one gets no
 * record, the records of the others waited the whole 500 ms (at the decoder, then again at
 * the sink: the first reports after a start). An idle consumer asks 10 times a second instead
 * of twice; a record that arrives ends the wait at once either way.
 */
#define PR_KAFKA_FETCH_WAIT_MS "100"

/*
 * Returns a new conf with bootstrap.servers = common->brokers, every kafka.* pass-through
 * applied, the log callback routed to pr_log (component `component`) and `defaults`
 * (NULL-terminated key/value pairs, applied before the pass-through so users can override
 * them). NULL with a message in err if librdkafka rejects a property (bad config).
 */
rd_kafka_conf_t *pr_kafka_conf_new(const pr_common_cfg *common, const char *component,
                                   const char *const *defaults, char *err, size_t errlen);

/*
 * Wraps rd_kafka_new into *out. Takes ownership of *conf in every case (librdkafka keeps it
 * only on success; this frees it on failure) and sets *conf to NULL. Every role gets the same
 * class for the same failure: PR_EINVAL (librdkafka refuses the configuration, e.g. a TLS file
 * it cannot read), which the commands turn into exit status 78.
 */
pr_status pr_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t **conf, rd_kafka_t **out, char *err,
                       size_t errlen);

/*
 * Creates the topics that do not exist yet (CreateTopics; an existing topic is not an
 * error). `configs` are NULL-terminated key/value pairs applied to each new topic (e.g.
 * cleanup.policy=compact), may be NULL. partitions <= 0 means the broker default.
 */
pr_status pr_kafka_ensure_topics(rd_kafka_t *rk, const char *const *names, size_t n, int partitions,
                                 const char *const *configs, int timeout_ms, char *err,
                                 size_t errlen);

/*
 * Makes the producer's handles of the topics which[0..n-1] it will produce to (handles[t] for
 * names[t], both indexed by pr_topic; a handle already set is kept) and asks once for their
 * metadata. librdkafka asks for the metadata of a topic that a produce call names for the
 * first time only in its once-a-second topic scan, so the first record to each such topic
 * waited up to a second (the first reports after a start). Best effort: a topic not in the
 * answer is asked for again by that scan. Returns the metadata request's error
 * (RD_KAFKA_RESP_ERR_NO_ERROR on success); the caller destroys every handle before its
 * producer.
 */
rd_kafka_resp_err_t pr_kafka_topic_handles(rd_kafka_t *rk, const pr_topic *which, size_t n,
                                           char (*names)[PR_TOPIC_NAME_CAP],
                                           rd_kafka_topic_t **handles, int timeout_ms);

/* Looks a header value up as a NUL-terminated copy in buf ("" if absent); returns buf. */
const char *pr_kafka_header(const rd_kafka_message_t *rkm, const char *name, char *buf, size_t len);

#endif
