/*
 * bench_fleet_fill.c - writes a fleet into a sink store for tests/bench/sink/bench_fleet.sh:
 * `phones` phones, each a first full report of the real 8832 profile (565 parameters) through
 * the sink's own path (sink_event_load + sink_apply, 500 reports per durable transaction), with
 * the values a fleet search looks for varied per phone:
 *
 *   Proxy_1_          proxyK.example.net, K = i % 20 (each value held by 1/20 of the fleet)
 *   Display_Name_1_   "Phone i" (unique)      User_ID_1_  1000000 + i (unique)
 *   Station_Name      "site-(i % 500)"        Voice_Mail_Number (not indexed): "*(i % 50)"
 *   model             CP-8832-3PCC, CP-8841-3PCC, CP-8851-3PCC by i % 3; firmware 12.0.1 or
 *                     12.0.2 by i % 2 (the event's source, as the edge sets it)
 *
 * Then the outbox is emptied (the bench measures the API, not the publisher catching up).
 *
 *   bench_fleet_fill PHONES DATA_DIR|postgresql://...
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "flatprofile.h"
#include "sink_internal.h"

#define BATCH 500

/* The event of phone i's first full report. */
static char *event_of(int i, json_t *params, json_t *access)
{
    static const char *const models[] = {"CP-8832-3PCC", "CP-8841-3PCC", "CP-8851-3PCC"};
    char mac[13], rid[40], at[40], v[64];
    snprintf(mac, sizeof mac, "0056%08x", 0x2b000000u + (unsigned)i);
    snprintf(rid, sizeof rid, "%08x-0000-4000-8000-%012x", (unsigned)i, (unsigned)i * 7919u);
    snprintf(at, sizeof at, "2026-11-24T%02d:%02d:%02d.%03dZ", (i / 3600000) % 24, (i / 60000) % 60,
             (i / 1000) % 60, i % 1000);
    snprintf(v, sizeof v, "proxy%d.example.net", i % 20);
    json_object_set_new(params, "Proxy_1_", json_string(v));
    snprintf(v, sizeof v, "Phone %d", i);
    json_object_set_new(params, "Display_Name_1_", json_string(v));
    snprintf(v, sizeof v, "%d", 1000000 + i);
    json_object_set_new(params, "User_ID_1_", json_string(v));
    snprintf(v, sizeof v, "site-%d", i % 500);
    json_object_set_new(params, "Station_Name", json_string(v));
    snprintf(v, sizeof v, "*%d", i % 50);
    json_object_set_new(params, "Voice_Mail_Number", json_string(v));
    json_t *o = json_pack("{ss ss ss ss ss ss s{ss ss} sO sO}", "schema", PR_SCHEMA_CONFIG, "mac",
                          mac, "kind", "full", "report_id", rid, "received_at", at, "encryption",
                          "none", "source", "model", models[i % 3], "firmware",
                          i % 2 ? "12.0.2" : "12.0.1", "params", params, "access", access);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_fleet_fill PHONES DATA_DIR|postgresql://...\n");
        return 64;
    }
    int phones = atoi(argv[1]);
    const char *where = argv[2];
    char path[1024], err[512], reason[64];
    pr_xml_error why;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/samples/cisco-8832-mpp-full-profile.xml", PR_DATA_DIR);
    char *xml = bench_read_file(path, &len);
    pr_flat_profile fp;
    if (!xml || pr_flatprofile_parse(xml, len, NULL, &fp, &why, err, sizeof err) != PR_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, xml ? err : "missing");
        return 1;
    }
    json_t *params = json_object(), *access = json_object();
    for (size_t i = 0; i < fp.len; i++) {
        json_object_set_new(params, fp.params[i].name, json_string(fp.params[i].value));
        if (fp.params[i].ua[0])
            json_object_set_new(access, fp.params[i].name, json_string(fp.params[i].ua));
    }
    sink_store *st = NULL;
    if (sink_store_open(where, false, "normal", &st, err, sizeof err) != PR_OK ||
        sink_store_index_configure(st, NULL, err, sizeof err) != PR_OK) {
        fprintf(stderr, "store %s: %s\n", where, err);
        return 1;
    }
    sink_apply_opts opts = {.changes_keep = 1000};
    sink_apply_result res;
    double t0 = bench_now_s();
    for (int i0 = 0; i0 < phones; i0 += BATCH) {
        int n = phones - i0 < BATCH ? phones - i0 : BATCH;
        if (sink_store_begin(st, err, sizeof err) != PR_OK) {
            fprintf(stderr, "begin: %s\n", err);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char *text = event_of(i0 + k, params, access);
            sink_event ev;
            const char *mac = strstr(text, "\"mac\":\"") + 7;
            if (sink_event_load(NULL, text, strlen(text), false, mac, PR_MAC_LEN, &ev, reason,
                                sizeof reason, err, sizeof err) != PR_OK ||
                sink_apply(st, NULL, &opts, &ev, &res, err, sizeof err) != PR_OK) {
                fprintf(stderr, "phone %d: %s %s\n", i0 + k, reason, err);
                return 1;
            }
            sink_event_release(&ev);
            free(text);
        }
        if (sink_store_commit(st, err, sizeof err) != PR_OK) {
            fprintf(stderr, "commit: %s\n", err);
            return 1;
        }
        if ((i0 / BATCH) % 20 == 19)
            fprintf(stderr, "bench_fleet_fill: %d phones (%.0f/s)\n", i0 + n,
                    (i0 + n) / (bench_now_s() - t0));
    }
    /* The bench measures the API: nothing left for the publisher to catch up on. */
    sink_stmt *del[2] = {sink_store_prepare(st, "DELETE FROM outbox"),
                         sink_store_prepare(st, "DELETE FROM outbox_state")};
    for (int i = 0; i < 2; i++) {
        if (!del[i] || sink_step(del[i]) != SINK_DONE) {
            fprintf(stderr, "emptying the outbox: %s\n", sink_store_errmsg(st));
            return 1;
        }
        sink_stmt_free(del[i]);
    }
    printf("bench_fleet_fill: %d phones in %.1f s\n", phones, bench_now_s() - t0);
    sink_store_close(st);
    json_decref(params);
    json_decref(access);
    pr_flatprofile_release(&fp);
    free(xml);
    return 0;
}
