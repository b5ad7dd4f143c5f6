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

/* The API every role has (proto/role.h says what each function does and owns), then this
 * role's own. sink_ready: true while the sink has its partitions assigned, applies records and can
 * publish. */
PR_ROLE_API(sink);

/* True once the sink stopped itself on a fatal error (its producer failed for good): the
 * process exits 70 (proto/role.h). */
bool sink_failed(const sink *r);

/* The TCP port of the query API (the bound one when configured as 0). */
unsigned sink_api_port(const sink *r);
/* Whether the query API asks for credentials (--api-tokens), for `run`'s banner. */
bool sink_api_asks_credentials(const sink *r);

#endif
