/*
 * notify.h - `phonereport notify`: asks phones for a report now (SIP NOTIFY, Event: report).
 */
#ifndef PR_CMD_NOTIFY_H
#define PR_CMD_NOTIFY_H

/* The subcommand; argv[0] is "notify". Exit 0 if every phone accepted (2xx), 1 if some did
 * not, 64 for a usage error (no or several target selectors), 78 for bad configuration. */
int notify_main(int argc, char **argv);

#endif
