/*
 * role.c - the decoder role's descriptor (proto/role.h): the hooks through which the commands
 * (cmd/run.c) create, start, watch and stop it without knowing its types.
 */
#include "decoder.h"

PR_ROLE_HOOKS(decoder)
PR_ROLE_HOOK_FAILED(decoder)

const pr_role decoder_role = {
    .name = "decoder",
    .command = "decode",
    .summary = "decrypt and parse raw reports into JSON events (transactional)",
    .about = "Consumes <prefix>raw, decrypts and parses each report and produces a JSON event to\n"
             "<prefix>config or <prefix>status, or a record to <prefix>dlq, in Kafka transactions.",
    PR_ROLE_HOOKS_INIT(decoder),
    .failed = decoder_hook_failed,
    .port = NULL,
};
