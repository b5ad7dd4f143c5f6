/*
 * ingest.h - the ingest role: the HTTP edge: phones PUT/POST reports, published to phonereport.raw,
 * acked only after Kafka has them.
 *
 * Public API, used by run.c, which composes one role (`phonereport ingest`) or all of them
 * (`phonereport run`) in one process. Lifecycle: ingest_cfg_new -> pr_cfg_load(section) ->
 * ingest_new -> ingest_start -> (wait for a stop signal) -> ingest_stop -> ingest_free.
 */
#ifndef INGEST_H
#define INGEST_H

#include <stdbool.h>

#include "config.h"
#include "metrics.h"
#include "role.h"
#include "status.h"

typedef struct ingest_cfg ingest_cfg;
typedef struct ingest ingest;

/* A config struct with every field unset; filled by pr_cfg_load() through the section. */
ingest_cfg *ingest_cfg_new(void);
pr_cfg_section ingest_cfg_section(ingest_cfg *cfg);
/* Cross-field checks after loading (files exist, ranges that depend on each other). Adds
 * one message per problem to errs; PR_EINVAL if any. */
pr_status ingest_cfg_check(const ingest_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs);
void ingest_cfg_free(ingest_cfg *cfg); /* NULL is a no-op */

/* Creates the role's Kafka clients (librdkafka runs threads of its own from here on) and
 * opens what it owns, but accepts no work before _start. cfg and common are borrowed and must
 * outlive the role; metrics is shared and must outlive it too. The status class says why it
 * failed: PR_EINVAL configuration, PR_ETRANSIENT unreachable for now, PR_EFATAL otherwise. */
pr_status ingest_new(const pr_common_cfg *common, const ingest_cfg *cfg, pr_metrics *metrics,
                     ingest **out, char *err, size_t errlen);
pr_status ingest_start(ingest *r, char *err, size_t errlen);
/* Graceful, bounded shutdown; returns when the role's threads have ended. */
void ingest_stop(ingest *r);
void ingest_free(ingest *r); /* NULL is a no-op */

/* True while the edge can take reports (Kafka reachable): its /readyz answers 200. */
bool ingest_ready(const ingest *r);

/* The TCP port phones reach (the bound one when configured as 0). */
unsigned ingest_port(const ingest *r);

/* Re-reads what the role reads from files (SIGHUP). Called from the main thread. */
void ingest_reload(ingest *r);

/* The role's descriptor for the commands (proto/role.h). */
extern const pr_role ingest_role;

#endif
