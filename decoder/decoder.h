/*
 * decoder.h - the decoder role: decrypts and parses phonereport.raw into phonereport.config/status
 * events (or the DLQ), in Kafka transactions.
 *
 * Public API, used by run.c, which composes one role (`phonereport decode`) or all of them
 * (`phonereport run`) in one process. Lifecycle: decoder_cfg_new -> pr_cfg_load(section) ->
 * decoder_new -> decoder_start -> (wait for a stop signal) -> decoder_stop -> decoder_free.
 */
#ifndef DECODER_H
#define DECODER_H

#include <stdbool.h>

#include "config.h"
#include "metrics.h"
#include "role.h"
#include "status.h"

typedef struct decoder_cfg decoder_cfg;
typedef struct decoder decoder;

/* A config struct with every field unset; filled by pr_cfg_load() through the section. */
decoder_cfg *decoder_cfg_new(void);
pr_cfg_section decoder_cfg_section(decoder_cfg *cfg);
/* Cross-field checks after loading (files exist, ranges that depend on each other). Adds
 * one message per problem to errs; PR_EINVAL if any. */
pr_status decoder_cfg_check(const decoder_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs);
void decoder_cfg_free(decoder_cfg *cfg); /* NULL is a no-op */

/* Creates the role's Kafka clients (librdkafka runs threads of its own from here on) and
 * opens what it owns, but accepts no work before _start. cfg and common are borrowed and must
 * outlive the role; metrics is shared and must outlive it too. The status class says why it
 * failed: PR_EINVAL configuration, PR_ETRANSIENT unreachable for now, PR_EFATAL otherwise. */
pr_status decoder_new(const pr_common_cfg *common, const decoder_cfg *cfg, pr_metrics *metrics,
                      decoder **out, char *err, size_t errlen);
pr_status decoder_start(decoder *r, char *err, size_t errlen);
/* Graceful, bounded shutdown; returns when the role's threads have ended. */
void decoder_stop(decoder *r);
void decoder_free(decoder *r); /* NULL is a no-op */

/* True while the decoder has its transactional producer and consumer working. */
bool decoder_ready(const decoder *r);

/* True once the role has stopped on a fatal error (e.g. its producer was fenced); the
 * process must then exit non-zero. The role also requests a process stop when it happens. */
bool decoder_failed(const decoder *r);

/* Re-reads what the role reads from files (SIGHUP). Called from the main thread. */
void decoder_reload(decoder *r);

/* The role's descriptor for the commands (proto/role.h). */
extern const pr_role decoder_role;

#endif
