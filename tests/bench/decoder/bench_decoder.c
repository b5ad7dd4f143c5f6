/*
 * bench_decoder.c - XML to JSON events on the real 8832 profile, beside a bare expat parse of
 * the same bytes in the same run: events/s, MB/s and the ratio (target >= 0.7). Not a test.
 *
 * usage: bench_decoder [seconds per measurement, default 3] [file, default the 8832 sample]
 *        bench_decoder --count N [file]   N of each, no clock: for callgrind, whose
 *        instruction counts (per call of decoder_report_decode, pr_flatprofile_parse and
 *        bare_expat) repeat exactly where the timings of a shared machine do not:
 *   valgrind --tool=callgrind bench_decoder --count 50 && callgrind_annotate --inclusive=yes
 * Build it Release for meaningful figures (-DCMAKE_BUILD_TYPE=Release, no sanitizers).
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decoder_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A bare expat parse: the parser with element and text handlers that do nothing. */
static void XMLCALL nop_start(void *ud, const XML_Char *n, const XML_Char **a)
{
    (void)ud, (void)n, (void)a;
}
static void XMLCALL nop_end(void *ud, const XML_Char *n)
{
    (void)ud, (void)n;
}
static void XMLCALL nop_text(void *ud, const XML_Char *t, int len)
{
    (void)ud, (void)t, (void)len;
}

__attribute__((noinline)) static int bare_expat(const char *buf, size_t len)
{
    XML_Parser p = XML_ParserCreate(NULL);
    XML_SetElementHandler(p, nop_start, nop_end);
    XML_SetCharacterDataHandler(p, nop_text);
    int ok = XML_Parse(p, buf, (int)len, 1) == XML_STATUS_OK;
    XML_ParserFree(p);
    return ok;
}

int main(int argc, char **argv)
{
    long count = 0;
    if (argc > 2 && strcmp(argv[1], "--count") == 0) {
        count = atol(argv[2]);
        argv += 1;
        argc -= 1;
    }
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    const char *path =
        argc > 2 ? argv[2] : PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml";
    size_t len;
    char *xml = read_all(path, &len);
    if (!xml) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    decoder_opts opts;
    decoder_opts_default(&opts);
    decoder_header h[] = {
        {"pr-kind", (const unsigned char *)"full", 4},
        {"pr-request-id", (const unsigned char *)"bench", 5},
        {"pr-received-ms", (const unsigned char *)"1795544354978", 13},
        {"pr-user-agent", (const unsigned char *)"Cisco-CP-8832-3PCC/12.0.1 (00562b043615)", 40},
    };
    decoder_record rec = {.topic = "phonereport.raw",
                          .key = (const unsigned char *)"00562b043615",
                          .key_len = 12,
                          .value = (const unsigned char *)xml,
                          .value_len = len,
                          .headers = h,
                          .nheaders = 4,
                          .timestamp_ms = -1};
    char err[256];
    size_t out_bytes = 0;

    /* Warm up both, and check the event is a config event. */
    decoder_output out;
    if (decoder_report_decode(&rec, &opts, &out, err, sizeof err) != PR_OK ||
        out.topic != PR_TOPIC_CONFIG || !bare_expat(xml, len)) {
        fprintf(stderr, "warm-up failed: %s\n", err);
        return 1;
    }
    out_bytes = out.value_len;
    decoder_output_release(&out);

    if (count > 0) {
        for (long i = 0; i < count; i++) {
            pr_flat_profile fp;
            pr_xml_error why;
            bare_expat(xml, len);
            decoder_report_decode(&rec, &opts, &out, err, sizeof err);
            decoder_output_release(&out);
            memset(&fp, 0, sizeof fp);
            pr_flatprofile_parse(xml, len, &opts.limits, &fp, &why, err, sizeof err);
            pr_flatprofile_release(&fp);
        }
        printf("%ld of each done; event: %zu bytes of JSON\n", count, out_bytes);
        free(xml);
        return 0;
    }

    /* Interleave the measurements in rounds so that all see the same machine load. The
     * flat-profile parse alone (no event) shows where the time goes. */
    double t_expat = 0, t_dec = 0, t_fp = 0;
    long n_expat = 0, n_dec = 0, n_fp = 0;
    int rounds = 6;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s(), end = t0 + secs / rounds;
        while (now_s() < end) {
            for (int i = 0; i < 20; i++)
                bare_expat(xml, len);
            n_expat += 20;
        }
        t_expat += now_s() - t0;
        t0 = now_s();
        end = t0 + secs / rounds;
        while (now_s() < end) {
            for (int i = 0; i < 20; i++) {
                decoder_report_decode(&rec, &opts, &out, err, sizeof err);
                decoder_output_release(&out);
            }
            n_dec += 20;
        }
        t_dec += now_s() - t0;
        t0 = now_s();
        end = t0 + secs / rounds;
        while (now_s() < end) {
            for (int i = 0; i < 20; i++) {
                pr_flat_profile fp;
                pr_xml_error why;
                memset(&fp, 0, sizeof fp);
                pr_flatprofile_parse(xml, len, &opts.limits, &fp, &why, err, sizeof err);
                pr_flatprofile_release(&fp);
            }
            n_fp += 20;
        }
        t_fp += now_s() - t0;
    }
    double mb = (double)len / 1e6;
    double e_rate = (double)n_expat / t_expat, d_rate = (double)n_dec / t_dec;
    double f_rate = (double)n_fp / t_fp;
    printf("input: %s, %zu bytes; event: %zu bytes of JSON\n", path, len, out_bytes);
    printf("bare expat parse:   %10.0f docs/s  %8.1f MB/s\n", e_rate, e_rate * mb);
    printf("XML -> JSON event:  %10.0f events/s %8.1f MB/s\n", d_rate, d_rate * mb);
    printf("ratio (event / bare expat): %.2f (target >= 0.70)\n", d_rate / e_rate);
    printf("of which: pr_flatprofile_parse alone %.0f docs/s (%.2f of bare expat); the rest, "
           "event build + JSON text, %.0f us per event\n",
           f_rate, f_rate / e_rate, (1.0 / d_rate - 1.0 / f_rate) * 1e6);
    free(xml);
    return 0;
}
