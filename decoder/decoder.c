/* decoder.c - placeholder until the decoder role lands: says so and exits non-zero. */
#include "decoder.h"

int decoder_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "phonereport: the decoder role is not built yet\n");
    return 69; /* EX_UNAVAILABLE */
}
