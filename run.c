/* run.c - placeholder until `phonereport run` lands. */
#include <stdio.h>

int run_main(int argc, char **argv);

int run_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "phonereport: `run` is not built yet\n");
    return 69; /* EX_UNAVAILABLE */
}
