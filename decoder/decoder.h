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

/* The API every role has (proto/role.h says what each function does and owns), then this
 * role's own. decoder_ready: true while the decoder has its transactional producer and consumer
 * working. */
PR_ROLE_API(decoder);

/* True once the role has stopped on a fatal error (e.g. its producer was fenced); the
 * process must then exit non-zero. The role also requests a process stop when it happens. */
bool decoder_failed(const decoder *r);

#endif
