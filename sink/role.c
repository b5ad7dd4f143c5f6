/*
 * role.c - the sink role's descriptor (proto/role.h): the hooks through which the commands
 * (cmd/run.c) create, start, watch and stop it without knowing its types.
 */
#include "sink.h"

PR_ROLE_HOOKS(sink)
PR_ROLE_HOOK_FAILED(sink)
PR_ROLE_HOOK_PORT(sink, sink_api_port)

const pr_role sink_role = {
    .name = "sink",
    .command = "sink",
    .summary = "rebuild phone state (SQLite or PostgreSQL), emit changes and drift, serve the API",
    .about =
        "Rebuilds every phone's current configuration from <prefix>config and <prefix>status in\n"
        "SQLite or PostgreSQL, publishes state, changes and drift, and serves the query API.",
    PR_ROLE_HOOKS_INIT(sink),
    .failed = sink_hook_failed,
    .port = sink_hook_port,
};
