/* ingest.c - placeholder until the ingest role lands: says so and exits non-zero. */
#include "ingest.h"

int ingest_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "phonereport: the ingest role is not built yet\n");
    return 69; /* EX_UNAVAILABLE */
}
