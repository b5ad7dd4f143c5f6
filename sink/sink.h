/*
 * sink.h - the sink role: rebuilds each phone's current state in SQLite from config/status events,
 * emits state/changes/drift, serves the query API.
 *
 * Public API, used by run.c, which composes one role (`phonereport sink`) or all of them
 * (`phonereport run`) in one process. Lifecycle: sink_cfg_new -> pr_cfg_load(section) ->
 * sink_new -> sink_start -> (wait for a stop signal) -> sink_stop -> sink_free.
 */
#ifndef SINK_H
#define SINK_H

#include <stdbool.h>

#include "config.h"
#include "metrics.h"
#include "role.h"
#include "status.h"

typedef struct sink_cfg sink_cfg;
typedef struct sink sink;

/* A config struct with every field unset; filled by pr_cfg_load() through the section. */
sink_cfg *sink_cfg_new(void);
pr_cfg_section sink_cfg_section(sink_cfg *cfg);
/* Cross-field checks after loading (files exist, ranges that depend on each other). Adds
 * one message per problem to errs; PR_EINVAL if any. */
pr_status sink_cfg_check(const sink_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs);
void sink_cfg_free(sink_cfg *cfg); /* NULL is a no-op */

/* Creates the role's Kafka clients (librdkafka runs threads of its own from here on) and
 * opens what it owns, but accepts no work before _start. cfg and common are borrowed and must
 * outlive the role; metrics is shared and must outlive it too. The status class says why it
 * failed: PR_EINVAL configuration, PR_ETRANSIENT unreachable for now, PR_EFATAL otherwise. */
pr_status sink_new(const pr_common_cfg *common, const sink_cfg *cfg, pr_metrics *metrics,
                   sink **out, char *err, size_t errlen);
pr_status sink_start(sink *r, char *err, size_t errlen);
/* Graceful, bounded shutdown; returns when the role's threads have ended. */
void sink_stop(sink *r);
void sink_free(sink *r); /* NULL is a no-op */

/* True while the sink has its partitions assigned, applies records and can publish. */
bool sink_ready(const sink *r);
/* True once the sink stopped itself on a fatal error (its producer failed for good): the
 * process exits 70 (proto/role.h). */
bool sink_failed(const sink *r);

/* The TCP port of the query API (the bound one when configured as 0). */
unsigned sink_api_port(const sink *r);
/* Whether the query API asks for credentials (--api-tokens), for `run`'s banner. */
bool sink_api_asks_credentials(const sink *r);

/* Re-reads what the role reads from files (SIGHUP). Called from the main thread. */
void sink_reload(sink *r);

/* The role's descriptor for the commands (proto/role.h). */
extern const pr_role sink_role;

#endif
