/*
 * main.c - the one `phonereport` binary: dispatches to a role or tool. Nothing else lives
 * here; run.c composes the roles (`run` all of them, `ingest`, `decode`, `sink` one each,
 * each known by its descriptor in cmd_roles), rule.c is the `rule` tool.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "jarena.h"
#include "status.h"

typedef struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} command;

/* The tools; the roles come from cmd_roles. */
static const command commands[] = {
    {"run", run_main, "all roles in one process, on an embedded broker unless --brokers is given"},
    {"rule", rule_main, "print the cfg.xml upload options for phones, or --check a profile"},
    {"notify", notify_main, "ask phones for a report now (SIP NOTIFY, Event: report, Digest)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: phonereport <command> [options]\n\n"
               "Collects the configuration and status reports that Cisco MPP phones upload,\n"
               "publishes them to Kafka, decodes them into JSON events and keeps every phone's\n"
               "current configuration, with drift alerts.\n\ncommands:\n");
    fprintf(f, "  %-8s %s\n", commands[0].name, commands[0].summary);
    for (size_t i = cmd_roles_len; i-- > 0;)
        fprintf(f, "  %-8s %s\n", cmd_roles[i]->command, cmd_roles[i]->summary);
    for (size_t i = 1; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`phonereport <command> --help` lists a command's options.\n"
               "`phonereport --version` prints the version.\n");
}

int main(int argc, char **argv)
{
    pr_jarena_install(); /* before any jansson call (the sink parses its events in arenas) */
    if (argc < 2) {
        usage(stderr);
        return 64; /* EX_USAGE */
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("phonereport %s\n", PR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    for (size_t i = 0; i < cmd_roles_len; i++)
        if (strcmp(argv[1], cmd_roles[i]->command) == 0)
            return role_main(cmd_roles[i], argc - 1, argv + 1);
    fprintf(stderr, "phonereport: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 64;
}
