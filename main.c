/*
 * main.c - the one `phonereport` binary: dispatches to a role or tool. Nothing else lives
 * here; run.c composes the roles (`run` all of them, `ingest`, `decode`, `sink` one each).
 */
#include <stdio.h>
#include <string.h>

#include "notify.h"
#include "rule_cmd.h"
#include "status.h"

/* run.c: composes one role or all of them in one process. */
int run_main(int argc, char **argv);
int ingest_main(int argc, char **argv);
int decoder_main(int argc, char **argv);
int sink_main(int argc, char **argv);

typedef struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", run_main, "all roles in one process, on an embedded broker unless --brokers is given"},
    {"ingest", ingest_main, "HTTP edge: accept phone uploads, ack after Kafka has them"},
    {"decode", decoder_main, "decrypt and parse raw reports into JSON events (transactional)"},
    {"sink", sink_main, "rebuild phone state in SQLite, emit changes and drift, serve the API"},
    {"rule", rule_cmd_main, "print the cfg.xml upload options for phones, or --check a profile"},
    {"notify", notify_main, "ask phones for a report now (SIP NOTIFY, Event: report, Digest)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: phonereport <command> [options]\n\n"
               "Collects the configuration and status reports that Cisco MPP phones upload,\n"
               "publishes them to Kafka, decodes them into JSON events and keeps every phone's\n"
               "current configuration, with drift alerts.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`phonereport <command> --help` lists a command's options.\n"
               "`phonereport --version` prints the version.\n");
}

int main(int argc, char **argv)
{
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
    fprintf(stderr, "phonereport: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 64;
}
