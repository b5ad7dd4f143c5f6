/*
 * role.c - the ingest role's descriptor (proto/role.h): the hooks through which the commands
 * (cmd/run.c) create, start, watch and stop it without knowing its types.
 */
#include "ingest.h"

PR_ROLE_HOOKS(ingest)
PR_ROLE_HOOK_PORT(ingest, ingest_port)

const pr_role ingest_role = {
    .name = "ingest",
    .command = "ingest",
    .summary = "HTTP edge: accept phone uploads, ack after Kafka has them",
    .about =
        "The HTTP edge: phones PUT or POST their reports; each is published to <prefix>raw and\n"
        "acknowledged (200) only after Kafka has it; 503 with Retry-After otherwise.",
    PR_ROLE_HOOKS_INIT(ingest),
    .failed = NULL,
    .port = ingest_hook_port,
};
