/*
 * bad.c - `phonereport-sim bad`: a handful of reports the edge must accept (they look like
 * phone uploads) but the decoder must dead-letter, each recorded with the reason code it
 * should produce (proto/contract.h), so a test can find every one in phonereport.dlq.
 *
 * Every report comes from its own phone 02bad00000NN (locally administered; never a `play`
 * MAC), so the DLQ record's "mac" identifies it. The keystore `keys`/`play` write lists the
 * keys the encrypted ones need (SIM_BAD_MAC_CBC, SIM_BAD_MAC_ECE).
 */
#include "phonesim.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "contract.h"

static const char valid_delta[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<flat-profile>\n"
    "<Display_Name_1_ ua=\"na\">Bad Report</Display_Name_1_>\n</flat-profile>\n";

typedef struct bad_case {
    const char *name;
    const char *mac;
    const char *file; /* full.xml, delta.xml */
    const char *content_encoding;
    int reason; /* pr_dlq_reason, or -1: the edge may refuse it (then nothing to find) */
    sim_buf body;
} bad_case;

/* Builds the catalogue's bodies. 0 or -1. */
static int build(bad_case *c, size_t n)
{
    static const unsigned char junk_gzip[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
                                              0x00, 0x03, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11,
                                              0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    static const unsigned char other_ikm[16] = "NotTheRightIKM00";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sim_buf *b = &c[i].body;
        const char *nm = c[i].name;
        if (strcmp(nm, "cbc-wrong-password") == 0)
            rc = sim_crypto_openssl_enc("md5", "not-the-password", NULL, valid_delta,
                                        sizeof valid_delta - 1, b);
        else if (strcmp(nm, "cbc-no-key-for-phone") == 0)
            rc = sim_crypto_openssl_enc("sha256", "some-password", NULL, valid_delta,
                                        sizeof valid_delta - 1, b);
        else if (strcmp(nm, "cbc-corrupt-gzip-inside") == 0)
            rc = sim_crypto_openssl_enc("sha256", SIM_BAD_PASSWORD, NULL, junk_gzip,
                                        sizeof junk_gzip, b);
        else if (strcmp(nm, "aes128gcm-wrong-ikm") == 0)
            rc = sim_crypto_aes128gcm(other_ikm, sizeof other_ikm, NULL, 4096, "", valid_delta,
                                      sizeof valid_delta - 1, b);
        else if (strcmp(nm, "aes128gcm-record-size-too-small") == 0) {
            /* A well-formed header with rs 10 (< 18, RFC 8188 section 2.1) and one record. */
            unsigned char hdr[21] = {0};
            memcpy(hdr, "sixteen-byte-slt", 16);
            hdr[19] = 10;
            rc = sim_buf_put(b, hdr, sizeof hdr) | sim_buf_put(b, "0123456789", 10);
        } else if (strcmp(nm, "doctype-with-entity") == 0)
            rc = sim_buf_puts(b, "<?xml version=\"1.0\"?>\n"
                                 "<!DOCTYPE flat-profile [<!ENTITY a \"aaaaaaaaaa\">"
                                 "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n"
                                 "<flat-profile><Display_Name_1_ ua=\"na\">&b;</Display_Name_1_>"
                                 "</flat-profile>\n");
        else if (strcmp(nm, "malformed-xml") == 0)
            rc = sim_buf_puts(b, "<flat-profile>\n<Display_Name_1_ ua=\"na\">x</Display_Name>\n"
                                 "</flat-profile>\n");
        else if (strcmp(nm, "not-a-report") == 0)
            rc = sim_buf_puts(b, "<?xml version=\"1.0\"?>\n<html><body><p>It works!</p></body>"
                                 "</html>\n");
        else if (strcmp(nm, "nesting-too-deep") == 0) {
            rc = sim_buf_puts(b, "<flat-profile>");
            for (int d = 0; d < 200 && rc == 0; d++)
                rc = sim_buf_puts(b, "<a>");
            for (int d = 0; d < 200 && rc == 0; d++)
                rc = sim_buf_puts(b, "</a>");
            rc |= sim_buf_puts(b, "</flat-profile>\n");
        } else if (strcmp(nm, "empty-body") == 0)
            rc = sim_buf_put(b, "", 0);
        else
            rc = -1;
    }
    return rc;
}

static void usage(FILE *f)
{
    /* clang-format off */
    fprintf(f,
"usage: phonereport-sim bad --url URL --count-out FILE [--auth basic|digest --user U\n"
"                           --password P]\n"
"\n"
"Sends, each from its own phone 02bad00000NN with a Cisco User-Agent, reports the edge\n"
"accepts but the decoder must dead-letter: an openssl-enc body under the wrong password\n"
"(decrypt_failed), one for a phone without a key (no_key), a corrupt gzip stream inside a\n"
"correctly encrypted body (gunzip_failed), aes128gcm under the wrong IKM (decrypt_failed)\n"
"and with a record size below 18 (bad_encoding), a DOCTYPE (xml_doctype_forbidden),\n"
"malformed XML (xml_malformed), an HTML page (not_a_report), nesting 200 deep (xml_limits),\n"
"and an empty body (empty, unless the edge refuses it with a 4xx). The keystore written by\n"
"`keys` or `play --keystore-out` holds the keys these phones need.\n"
"\n"
"FILE gets {\"count\": N, \"expected\": [{\"name\", \"mac\", \"reason\", \"http_status\",\n"
"\"request_id\"}...]}: N is the number of records the DLQ must hold, one per entry whose\n"
"reason is not null. Exit status 0 when every report was answered as expected.\n");
    /* clang-format on */
}

int sim_bad_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"count-out", required_argument, NULL, 'c'},
        {"auth", required_argument, NULL, 'a'},
        {"user", required_argument, NULL, 'U'},
        {"password", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *url = NULL, *count_out = NULL, *user = NULL, *password = NULL;
    sim_auth auth = SIM_AUTH_NONE;
    int opt, bad = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'c': count_out = optarg; break;
        case 'U': user = optarg; break;
        case 'P': password = optarg; break;
        case 'a':
            if (strcmp(optarg, "basic") == 0)
                auth = SIM_AUTH_BASIC;
            else if (strcmp(optarg, "digest") == 0)
                auth = SIM_AUTH_DIGEST;
            else if (strcmp(optarg, "none") != 0)
                bad = 1;
            break;
        case 'h': usage(stdout); return SIM_EXIT_OK;
        default: bad = 1;
        }
    }
    if (!url || !count_out || optind < argc || (auth != SIM_AUTH_NONE && (!user || !password))) {
        fprintf(stderr, "phonereport-sim: bad needs --url and --count-out (see --help)\n");
        bad = 1;
    }
    if (bad)
        return SIM_EXIT_USAGE;

    bad_case cases[] = {
        {"cbc-wrong-password", SIM_BAD_MAC_CBC, "delta.xml", NULL, PR_DLQ_DECRYPT_FAILED, {0}},
        {"cbc-no-key-for-phone", "02bad0000002", "delta.xml", NULL, PR_DLQ_NO_KEY, {0}},
        {"cbc-corrupt-gzip-inside", SIM_BAD_MAC_CBC, "full.xml", NULL, PR_DLQ_GUNZIP_FAILED, {0}},
        {"aes128gcm-wrong-ikm",
         SIM_BAD_MAC_ECE,
         "delta.xml",
         "aes128gcm",
         PR_DLQ_DECRYPT_FAILED,
         {0}},
        {"aes128gcm-record-size-too-small",
         SIM_BAD_MAC_ECE,
         "full.xml",
         "aes128gcm",
         PR_DLQ_BAD_ENCODING,
         {0}},
        {"doctype-with-entity",
         "02bad0000005",
         "full.xml",
         NULL,
         PR_DLQ_XML_DOCTYPE_FORBIDDEN,
         {0}},
        {"malformed-xml", "02bad0000006", "delta.xml", NULL, PR_DLQ_XML_MALFORMED, {0}},
        {"not-a-report", "02bad0000007", "full.xml", NULL, PR_DLQ_NOT_A_REPORT, {0}},
        {"nesting-too-deep", "02bad0000008", "full.xml", NULL, PR_DLQ_XML_LIMITS, {0}},
        {"empty-body", "02bad0000009", "delta.xml", NULL, PR_DLQ_EMPTY, {0}},
    };
    size_t n = sizeof cases / sizeof cases[0], expected = 0;
    json_t *list = json_array();
    CURL *curl = NULL;
    int rc = SIM_EXIT_FAIL, failures = 0;
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;

    if (!list || build(cases, n) != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(curl = curl_easy_init())) {
        fprintf(stderr, "phonereport-sim: cannot set up the bad reports\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        bad_case *c = &cases[i];
        char u[1024], ua[96];
        snprintf(u, sizeof u, "%.*s/%s/%s", (int)ulen, url, c->mac, c->file);
        snprintf(ua, sizeof ua, "Cisco-CP-8832-3PCC/11.3.1 (%s)", c->mac);
        sim_req rq = {.url = u,
                      .put = true,
                      .user_agent = ua,
                      .content_encoding = c->content_encoding,
                      .body = c->body.data,
                      .len = c->body.len,
                      .auth = auth,
                      .user = user,
                      .password = password};
        sim_resp rs;
        int attempt = 0, hrc;
        /* 503 is the edge saying "later" (Kafka busy): retry a few times, as a phone would. */
        while ((hrc = sim_http_upload(curl, &rq, &rs)) == 0 && rs.status == 503 && attempt < 5) {
            sim_sleep_ms(rs.retry_after_s > 0 ? rs.retry_after_s * 1000 : 500, NULL);
            attempt++;
        }
        bool ok2xx = hrc == 0 && rs.status >= 200 && rs.status < 300;
        bool refused = hrc == 0 && rs.status >= 400 && rs.status < 500;
        const char *reason = NULL;
        if (ok2xx) {
            reason = pr_dlq_reason_name((pr_dlq_reason)c->reason);
            expected++;
        } else if (!(refused && c->reason == PR_DLQ_EMPTY)) {
            fprintf(stderr, "phonereport-sim: bad report %s: %s%ld\n", c->name,
                    hrc ? "transport failure, HTTP " : "HTTP ", rs.status);
            failures++;
        }
        json_t *e = json_pack("{s:s, s:s, s:s, s:o, s:i, s:s}", "name", c->name, "mac", c->mac,
                              "file", c->file, "reason", reason ? json_string(reason) : json_null(),
                              "http_status", (json_int_t)rs.status, "request_id", rs.request_id);
        if (!e || json_array_append_new(list, e) != 0)
            goto out;
    }
    json_t *doc = json_pack("{s:I, s:O}", "count", (json_int_t)expected, "expected", list);
    char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    int wrc = text ? sim_write_file(count_out, text, strlen(text)) : -1;
    free(text);
    json_decref(doc);
    if (wrc != 0) {
        fprintf(stderr, "phonereport-sim: cannot write %s\n", count_out);
        goto out;
    }
    fprintf(stderr, "phonereport-sim: %zu bad reports sent, %zu must be in the DLQ%s\n", n,
            expected, failures ? ", some were not accepted" : "");
    rc = failures ? SIM_EXIT_FAIL : SIM_EXIT_OK;
out:
    for (size_t i = 0; i < n; i++)
        sim_buf_release(&cases[i].body);
    if (curl)
        curl_easy_cleanup(curl);
    curl_global_cleanup();
    json_decref(list);
    return rc;
}
