/*
 * rule_cmd.h - `phonereport rule`: prints the cfg.xml elements that make a phone report to
 * phonereport, or (--check FILE.xml) reports problems in a profile's upload options.
 */
#ifndef PR_RULE_CMD_H
#define PR_RULE_CMD_H

/* argv[0] is "rule". Returns the exit code: 0, 1 (--check found problems), 64 or 78. */
int rule_cmd_main(int argc, char **argv);

#endif
