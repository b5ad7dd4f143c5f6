/* rule_cmd.c - placeholder until `phonereport rule` lands. */
#include "rule_cmd.h"

#include <stdio.h>

int rule_cmd_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "phonereport: `rule` is not built yet\n");
    return 69;
}
