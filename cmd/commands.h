/*
 * commands.h - the subcommands of the `phonereport` binary (cmd/main.c dispatches to them).
 * Each takes argv with argv[0] = the command's name and returns the process exit status:
 * 0 fine, 64 usage, 78 bad configuration (every problem reported at once), 75 a dependency
 * unreachable at start-up, 70 an internal or fatal error; `rule --check` also returns 1 when
 * it found problems.
 */
#ifndef PR_COMMANDS_H
#define PR_COMMANDS_H

#include "role.h"

/* `phonereport run`: every role in one process, on an embedded broker unless --brokers. */
int run_main(int argc, char **argv);
/* `phonereport ingest|decode|sink`: one role (role is one of the table cmd_roles). */
int role_main(const pr_role *role, int argc, char **argv);
/* `phonereport rule`: the cfg.xml upload options for phones, or --check a profile. */
int rule_main(int argc, char **argv);
/* `phonereport notify`: asks phones for a report now (SIP NOTIFY, Event: report). Exit 0 if
 * every phone accepted (2xx), 1 if some did not, 64 for a usage error (no or several target
 * selectors), 78 for bad configuration. */
int notify_main(int argc, char **argv);

/* The roles in start order (consumers before the edge): sink, decoder, ingest. */
extern const pr_role *const cmd_roles[];
extern const size_t cmd_roles_len;

#endif
