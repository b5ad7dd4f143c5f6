/*
 * verify.c - `phonereport-sim verify`: compares what the sink's API says each phone holds with
 * what `play` was acknowledged for, polling until they agree or the time-out passes (the
 * pipeline is asynchronous: a 2xx from the edge means "in Kafka", not "in the sink" yet).
 *
 * A mismatch is one parameter of one phone: missing, extra, or with another value. A phone
 * the API does not know counts one mismatch per expected parameter and prints one line.
 */
#include "phonesim.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

typedef struct vphone {
    const char *mac;
    json_t *expect; /* borrowed from the loaded document */
    bool done;
} vphone;

/* Quoted JSON form of a string for the report, or <absent>. Caller frees. */
static char *show(const json_t *v)
{
    if (!v)
        return strdup("<absent>");
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    return s ? s : strdup("?");
}

/* Compares one answer with the expectation; prints each mismatch when `print`. Returns the
 * number of mismatches. */
static size_t compare(const vphone *vp, long status, const sim_buf *body, bool print)
{
    size_t nexp = json_object_size(vp->expect), bad = 0;
    if (status != 200) {
        if (print)
            printf("MISMATCH %s * expected %zu parameters, actual: HTTP %ld%s\n", vp->mac, nexp,
                   status, status < 0 ? " (no answer)" : "");
        return nexp ? nexp : 1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body->data, body->len, 0, &jerr);
    json_t *params = doc ? json_object_get(doc, "params") : NULL;
    json_t *mac = doc ? json_object_get(doc, "mac") : NULL;
    if (!json_is_object(params)) {
        if (print)
            printf("MISMATCH %s * expected %zu parameters, actual: no \"params\" object (%s)\n",
                   vp->mac, nexp, doc ? "missing" : jerr.text);
        json_decref(doc);
        return nexp ? nexp : 1;
    }
    if (!json_is_string(mac) || strcmp(json_string_value(mac), vp->mac) != 0) {
        bad++;
        if (print)
            printf("MISMATCH %s mac expected \"%s\" actual %s\n", vp->mac, vp->mac,
                   json_is_string(mac) ? json_string_value(mac) : "<absent>");
    }
    const char *k;
    json_t *ev;
    json_object_foreach(vp->expect, k, ev)
    {
        json_t *av = json_object_get(params, k);
        if (av && json_equal(av, ev))
            continue;
        bad++;
        if (print) {
            char *e = show(ev), *a = show(av);
            printf("MISMATCH %s %s expected %s actual %s\n", vp->mac, k, e, a);
            free(e);
            free(a);
        }
    }
    json_t *av;
    json_object_foreach(params, k, av)
    {
        if (json_object_get(vp->expect, k))
            continue;
        bad++;
        if (print) {
            char *a = show(av);
            printf("MISMATCH %s %s expected <absent> actual %s\n", vp->mac, k, a);
            free(a);
        }
    }
    json_decref(doc);
    return bad;
}

static void usage(FILE *f)
{
    /* clang-format off */
    fprintf(f,
"usage: phonereport-sim verify --api URL --expect FILE [--timeout-s T]\n"
"\n"
"Polls GET URL/v1/phones/<mac>/config for every phone in FILE (written by `play\n"
"--expect-out`) until each phone's \"params\" equal the expected ones exactly, or T seconds\n"
"(default 60) have passed. Then prints one line per mismatch:\n"
"  MISMATCH <mac> <param> expected <json or <absent>> actual <json or <absent>>\n"
"and a summary. Exit status 0 only with 0 mismatches; 1 otherwise; 64 on bad usage.\n");
    /* clang-format on */
}

int sim_verify_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"api", required_argument, NULL, 'a'},
        {"expect", required_argument, NULL, 'e'},
        {"timeout-s", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *api = NULL, *expect_path = NULL;
    double timeout_s = 60;
    int opt, bad = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *e;
        switch (opt) {
        case 'a': api = optarg; break;
        case 'e': expect_path = optarg; break;
        case 't':
            timeout_s = strtod(optarg, &e);
            if (e == optarg || *e || timeout_s < 0 || timeout_s > 86400) {
                fprintf(stderr, "phonereport-sim: --timeout-s must be 0..86400 seconds\n");
                bad = 1;
            }
            break;
        case 'h': usage(stdout); return SIM_EXIT_OK;
        default: bad = 1;
        }
    }
    if (!api || !expect_path || optind < argc) {
        fprintf(stderr, "phonereport-sim: verify needs --api and --expect (see --help)\n");
        bad = 1;
    }
    if (bad)
        return SIM_EXIT_USAGE;

    json_error_t jerr;
    json_t *doc = json_load_file(expect_path, 0, &jerr);
    if (!json_is_object(doc)) {
        fprintf(stderr, "phonereport-sim: %s: %s\n", expect_path,
                doc ? "not a JSON object" : jerr.text);
        json_decref(doc);
        return SIM_EXIT_FAIL;
    }
    size_t n = json_object_size(doc), left = n, total = 0;
    if (n == 0) {
        /* Nothing acknowledged means nothing proven: never a pass. */
        fprintf(stderr, "phonereport-sim: %s lists no phone: nothing to verify\n", expect_path);
        json_decref(doc);
        return SIM_EXIT_FAIL;
    }
    vphone *ph = calloc(n ? n : 1, sizeof *ph);
    CURL *curl = NULL;
    sim_buf body = {0};
    int rc = SIM_EXIT_FAIL;
    size_t alen = strlen(api);
    while (alen > 0 && api[alen - 1] == '/')
        alen--;
    if (!ph)
        goto out;
    size_t i = 0;
    const char *mac;
    json_t *exp;
    json_object_foreach(doc, mac, exp)
    {
        if (!json_is_object(exp)) {
            fprintf(stderr, "phonereport-sim: %s: %s is not an object\n", expect_path, mac);
            goto out;
        }
        ph[i++] = (vphone){.mac = mac, .expect = exp};
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(curl = curl_easy_init()))
        goto out;

    char url[1024];
    long long deadline = sim_now_ms() + (long long)(timeout_s * 1000);
    for (;;) {
        for (i = 0; i < n; i++) {
            if (ph[i].done)
                continue;
            snprintf(url, sizeof url, "%.*s/v1/phones/%s/config", (int)alen, api, ph[i].mac);
            long st = sim_http_get(curl, url, &body);
            if (compare(&ph[i], st, &body, false) == 0) {
                ph[i].done = true;
                left--;
            }
        }
        if (left == 0 || sim_now_ms() >= deadline)
            break;
        sim_sleep_ms(500, NULL); /* polling interval; the deadline bounds the wait */
    }
    for (i = 0; i < n; i++) {
        if (ph[i].done)
            continue;
        snprintf(url, sizeof url, "%.*s/v1/phones/%s/config", (int)alen, api, ph[i].mac);
        long st = sim_http_get(curl, url, &body);
        size_t m = compare(&ph[i], st, &body, true);
        if (m == 0) /* it caught up between the last poll and now */
            left--;
        total += m;
    }
    printf("verify: %zu phones, %zu match, %zu do not; %zu mismatches\n", n, n - left, left, total);
    rc = total == 0 ? SIM_EXIT_OK : SIM_EXIT_FAIL;
out:
    if (curl)
        curl_easy_cleanup(curl);
    curl_global_cleanup();
    sim_buf_release(&body);
    free(ph);
    json_decref(doc);
    return rc;
}
