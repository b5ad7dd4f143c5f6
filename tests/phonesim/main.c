/*
 * main.c - `phonereport-sim`: plays Cisco MPP phones against a phonereport edge and checks
 * the result (a test tool built with the tests; see phonesim.h).
 */
#include "phonesim.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    /* clang-format off */
    fprintf(f,
"usage: phonereport-sim <command> [options]\n"
"\n"
"Plays a fleet of Cisco MPP (3PCC) phones uploading configuration and status reports to a\n"
"phonereport ingest edge, and checks what the sink rebuilt.\n"
"\n"
"commands:\n"
"  play     phones boot (full + status report), change settings (delta reports), restart\n"
"           now and then and report status; PUT/POST, plain/openssl-enc/RFC 8188, Basic or\n"
"           Digest auth, bounded rate; writes the configuration the sink must end with\n"
"  verify   polls the sink's API until every phone matches that expectation; prints each\n"
"           mismatch; exit 0 only with none\n"
"  bad      sends reports the decoder must dead-letter and writes the reason each must get\n"
"  keys     writes the decoder keystore for a fleet (same --phones/--seed/--encrypt as play)\n"
"  sip      phones on one UDP port answer SIP NOTIFY (Event: report): 401 Digest challenge,\n"
"           then 200 and an upload of the phone's full report (for `phonereport notify`)\n"
"\n"
"`phonereport-sim <command> --help` lists a command's options.\n"
"\n"
"A typical end-to-end run:\n"
"  phonereport-sim keys --phones 300 --seed 7 --encrypt mixed --keystore-out ks.json\n"
"  phonereport decode --decoder-keystore ks.json ...   (and ingest, sink)\n"
"  phonereport-sim play --url http://127.0.0.1:8080/r --phones 300 --seed 7 \\\n"
"      --encrypt mixed --method mixed --duration-s 20 --rate 200 --expect-out expect.json\n"
"  phonereport-sim verify --api http://127.0.0.1:8081 --expect expect.json --timeout-s 60\n");
    /* clang-format on */
}

int sim_keys_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"phones", required_argument, NULL, 'n'},  {"seed", required_argument, NULL, 's'},
        {"encrypt", required_argument, NULL, 'e'}, {"keystore-out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {0},
    };
    unsigned long long phones = 10, seed = 1;
    sim_enc_mode enc = SIM_ENCM_NONE;
    const char *out = NULL;
    int opt, bad = 0;
    char *e;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            phones = strtoull(optarg, &e, 10);
            bad |= *e || e == optarg || phones < 1 || phones > 1000000;
            break;
        case 's':
            seed = strtoull(optarg, &e, 10);
            bad |= *e || e == optarg;
            break;
        case 'e': bad |= sim_enc_mode_parse(optarg, &enc) != 0; break;
        case 'o': out = optarg; break;
        case 'h':
            /* clang-format off */
            printf("usage: phonereport-sim keys --keystore-out FILE [--phones N] [--seed S]\n"
                   "                            [--encrypt none|cbc-md5|cbc-sha256|ece|mixed]\n"
                   "\n"
                   "Writes the decoder keystore for the fleet `play` plays with the same\n"
                   "--phones, --seed and --encrypt (defaults 10, 1, none), plus the keys the\n"
                   "`bad` command's phones need. Format:\n"
                   "  {\"phones\": {\"<mac>\": {\"openssl_password\": \"...\"} |\n"
                   "                 {\"ikm\": {\"text\"|\"base64url\"|\"hex\": \"...\"}}}}\n"
                   "(the decoder's keystore format, decoder/keystore.c).\n"
                   "The file is created with mode 0600.\n");
            /* clang-format on */
            return SIM_EXIT_OK;
        default: bad = 1;
        }
    }
    if (!out || optind < argc)
        bad = 1;
    if (bad) {
        fprintf(stderr, "phonereport-sim: keys needs --keystore-out and valid --phones, --seed, "
                        "--encrypt (see --help)\n");
        return SIM_EXIT_USAGE;
    }
    sim_phone *ids = sim_fleet_identities(seed, (size_t)phones, enc, SIM_METHOD_MIXED);
    char err[256] = "";
    int rc = SIM_EXIT_FAIL;
    if (!ids)
        fprintf(stderr, "phonereport-sim: out of memory\n");
    else if (sim_keystore_write(out, ids, (size_t)phones, err, sizeof err) != 0)
        fprintf(stderr, "phonereport-sim: %s\n", err);
    else
        rc = SIM_EXIT_OK;
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } cmds[] = {{"play", sim_play_main},
                {"verify", sim_verify_main},
                {"bad", sim_bad_main},
                {"keys", sim_keys_main},
                {"sip", sim_sip_main}};
    if (argc < 2) {
        usage(stderr);
        return SIM_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return SIM_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "phonereport-sim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return SIM_EXIT_USAGE;
}
