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

/* The API every role has (proto/role.h says what each function does and owns), then this
 * role's own. ingest_ready: true while the edge can take reports (Kafka reachable): its /readyz
 * answers 200. */
PR_ROLE_API(ingest);

/* The TCP port phones reach (the bound one when configured as 0). */
unsigned ingest_port(const ingest *r);

#endif
