/* sink.c - placeholder until the sink role lands: says so and exits non-zero. */
#include "sink.h"

int sink_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "phonereport: the sink role is not built yet\n");
    return 69; /* EX_UNAVAILABLE */
}
