/*
 * bench_decoder.c - XML to JSON events beside a bare expat parse of the same bytes in the same
 * run: events/s, MB/s and the ratio (target >= 0.75), for two profiles: the real 8832 one
 * (565 parameters) and a synthetic flat profile of 1,800 parameters built from it (its
 * parameters repeated with unique names: Name, Name_c1, Name_c2, ...). Not a test.
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

#include "../bench_util.h"
#include "decoder_int.h"

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

#define SYNTHETIC_PARAMS 1800

/* A flat profile of n parameters from the profile in xml: its parameters in order, again and
 * again, each copy renamed (Name_c1, Name_c2, ...) so that every name is unique. */
static char *synthetic_profile(const char *xml, size_t len, size_t n, size_t *out_len)
{
    pr_flat_profile fp;
    pr_xml_error why;
    char err[256], name[512];
    char *text = NULL;
    if (pr_flatprofile_parse(xml, len, NULL, &fp, &why, err, sizeof err) != PR_OK || fp.len == 0) {
        fprintf(stderr, "cannot read the profile to copy: %s\n", err);
        pr_flatprofile_release(&fp);
        return NULL;
    }
    pr_flatprofile_writer *w = pr_flatprofile_writer_new("synthetic, for bench_decoder");
    for (size_t i = 0; w && i < n; i++) {
        const pr_fp_param *p = &fp.params[i % fp.len];
        size_t copy = i / fp.len;
        if (copy)
            snprintf(name, sizeof name, "%s_c%zu", p->name, copy);
        else
            snprintf(name, sizeof name, "%s", p->name);
        if (pr_flatprofile_writer_add(w, name, p->value, p->ua) != PR_OK)
            break;
    }
    size_t omitted = 0;
    if (!w || pr_flatprofile_writer_finish(w, &text, out_len, &omitted) != PR_OK || omitted) {
        free(text);
        text = NULL;
    }
    pr_flatprofile_release(&fp);
    /* Every name unique: the parse finds them all, none repeated. */
    if (text && (pr_flatprofile_parse(text, *out_len, NULL, &fp, &why, err, sizeof err) != PR_OK ||
                 fp.len != n || fp.duplicates)) {
        fprintf(stderr, "the synthetic profile does not have %zu unique parameters\n", n);
        free(text);
        text = NULL;
    }
    pr_flatprofile_release(&fp);
    return text;
}

typedef struct profile {
    const char *name;
    char *xml;
    size_t len;
    size_t params;
    decoder_record rec;
    size_t out_bytes;
} profile;

/* The three measured jobs on one profile: the bare expat parse, the XML -> JSON event, the
 * flat-profile parse alone. */
enum { JOB_EXPAT, JOB_DECODE, JOB_FLATPROFILE, JOBS };

static void run_job(int job, profile *pf, const decoder_opts *opts)
{
    decoder_output out;
    pr_flat_profile fp;
    pr_xml_error why;
    char err[256];
    switch (job) {
    case JOB_EXPAT: bare_expat(pf->xml, pf->len); break;
    case JOB_DECODE:
        decoder_report_decode(&pf->rec, opts, &out, err, sizeof err);
        decoder_output_release(&out);
        break;
    default:
        memset(&fp, 0, sizeof fp);
        pr_flatprofile_parse(pf->xml, pf->len, &opts->limits, &fp, &why, err, sizeof err);
        pr_flatprofile_release(&fp);
    }
}

/* N of each, no clock (callgrind). */
static void count_profile(profile *pf, const decoder_opts *opts, long count)
{
    for (long i = 0; i < count; i++)
        for (int job = 0; job < JOBS; job++)
            run_job(job, pf, opts);
    printf("%s: %ld of each done; event: %zu bytes of JSON\n", pf->name, count, pf->out_bytes);
}

/* Interleaves the measurements in rounds so that all see the same machine load. The
 * flat-profile parse alone (no event) shows where the time goes. Returns the ratio. */
static double measure_profile(profile *pf, const decoder_opts *opts, double secs)
{
    size_t len = pf->len;
    double t[JOBS] = {0};
    long n[JOBS] = {0};
    int rounds = 6;
    for (int r = 0; r < rounds; r++) {
        for (int job = 0; job < JOBS; job++) {
            double t0 = bench_now_s(), end = t0 + secs / rounds;
            while (bench_now_s() < end) {
                for (int i = 0; i < 20; i++)
                    run_job(job, pf, opts);
                n[job] += 20;
            }
            t[job] += bench_now_s() - t0;
        }
    }
    double t_expat = t[JOB_EXPAT], t_dec = t[JOB_DECODE], t_fp = t[JOB_FLATPROFILE];
    long n_expat = n[JOB_EXPAT], n_dec = n[JOB_DECODE], n_fp = n[JOB_FLATPROFILE];
    double mb = (double)len / 1e6;
    double e_rate = (double)n_expat / t_expat, d_rate = (double)n_dec / t_dec;
    double f_rate = (double)n_fp / t_fp;
    printf("%s: %zu parameters, %zu bytes; event: %zu bytes of JSON\n", pf->name, pf->params, len,
           pf->out_bytes);
    printf("  bare expat parse:   %10.0f docs/s   %8.1f MB/s\n", e_rate, e_rate * mb);
    printf("  XML -> JSON event:  %10.0f events/s %8.1f MB/s\n", d_rate, d_rate * mb);
    printf("  ratio (event / bare expat): %.2f (target >= 0.75)\n", d_rate / e_rate);
    printf("  of which: pr_flatprofile_parse alone %.0f docs/s (%.2f of bare expat); the rest, "
           "event + JSON text, %.0f us per event\n",
           f_rate, f_rate / e_rate, (1.0 / d_rate - 1.0 / f_rate) * 1e6);
    return d_rate / e_rate;
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
    const char *path = argc > 2 ? argv[2] : PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml";
    profile pf[2] = {{.name = path}, {.name = "synthetic 1,800-parameter profile"}};
    pf[0].xml = bench_read_file(path, &pf[0].len);
    if (!pf[0].xml) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    pf[1].xml = synthetic_profile(pf[0].xml, pf[0].len, SYNTHETIC_PARAMS, &pf[1].len);
    if (!pf[1].xml)
        return 1;
    decoder_opts opts;
    decoder_opts_default(&opts);
    decoder_header h[] = {
        {"pr-kind", (const unsigned char *)"full", 4},
        {"pr-request-id", (const unsigned char *)"bench", 5},
        {"pr-received-ms", (const unsigned char *)"1795544354978", 13},
        {"pr-user-agent", (const unsigned char *)"Cisco-CP-8832-3PCC/12.0.1 (00562b043615)", 40},
    };
    int rc = 0;
    double ratio[2] = {0, 0};
    for (int k = 0; k < 2 && rc == 0; k++) {
        pf[k].rec = (decoder_record){.topic = "phonereport.raw",
                                     .key = (const unsigned char *)"00562b043615",
                                     .key_len = 12,
                                     .value = (const unsigned char *)pf[k].xml,
                                     .value_len = pf[k].len,
                                     .headers = h,
                                     .nheaders = 4,
                                     .timestamp_ms = -1};
        /* Warm up, and check the event is a config event with every parameter. */
        decoder_output out;
        char err[256];
        pr_flat_profile fp;
        pr_xml_error why;
        if (decoder_report_decode(&pf[k].rec, &opts, &out, err, sizeof err) != PR_OK ||
            out.topic != PR_TOPIC_CONFIG || !bare_expat(pf[k].xml, pf[k].len) ||
            pr_flatprofile_parse(pf[k].xml, pf[k].len, NULL, &fp, &why, err, sizeof err) != PR_OK) {
            fprintf(stderr, "%s: warm-up failed: %s\n", pf[k].name, err);
            rc = 1;
        }
        pf[k].params = fp.len;
        pf[k].out_bytes = out.value_len;
        pr_flatprofile_release(&fp);
        decoder_output_release(&out);
        if (rc == 0 && count > 0)
            count_profile(&pf[k], &opts, count);
        else if (rc == 0)
            ratio[k] = measure_profile(&pf[k], &opts, secs);
    }
    if (rc == 0 && count == 0)
        printf("ratios (event / bare expat): %.2f on the 8832 profile, %.2f on the 1,800-parameter "
               "one (target >= 0.75 on both)\n",
               ratio[0], ratio[1]);
    free(pf[0].xml);
    free(pf[1].xml);
    return rc;
}
