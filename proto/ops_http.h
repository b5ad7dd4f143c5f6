/*
 * ops_http.h - the operations endpoints every HTTP port of phonereport serves the same way:
 * GET /healthz (the process is alive: 200 "ok"), /readyz (200 "ready", or 503 with the reason
 * the role gives) and /metrics (the process's registry in Prometheus text format). The edge,
 * the sink's API and --metrics-listen all answer through here, so a probe or a scraper sees
 * one behaviour whichever port it is pointed at.
 */
#ifndef PR_OPS_HTTP_H
#define PR_OPS_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>

#include "metrics.h"

/* How ready the role behind the port is: NULL reason means ready. */
typedef const char *(*pr_ops_ready_fn)(void *ctx);

/* True for the paths answered here. */
bool pr_ops_is_endpoint(const char *url);

/*
 * The response for an operations path (pr_ops_is_endpoint(url) must be true) and its status
 * in *code; NULL if out of memory. `ready` may be NULL (then /readyz is the same as /healthz).
 * The caller queues and destroys the response (and may add its own headers first).
 */
struct MHD_Response *pr_ops_response(const char *url, pr_metrics *m, pr_ops_ready_fn ready,
                                     void *ctx, unsigned *code);

#endif
