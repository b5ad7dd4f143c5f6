/*
 * make_fixture.c - writes the store fixture of tests/unit/sink/test_sink_upgrade.c with the
 * release before store v2 (commit c3a40c1: SQLite schema 4, PostgreSQL schema 1, one row per
 * parameter). Not built by the project: README.md beside this file says how it was run. It
 * applies the events of events.jsonl (the 8832 profile in full, deltas, a status, a removal)
 * through that release's apply path, with default.xml of this folder as the intended profile,
 * and writes what that release's API answered for every phone to expected.json.
 *
 *   make_fixture <events.jsonl> <profiles-dir> <store: data dir or postgresql://...> <out.json>
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_internal.h"

int main(int argc, char **argv)
{
    char err[512], reason[64];
    sink_store *st = NULL;
    if (argc != 5)
        return 64;
    sink_profiles *pf = sink_profiles_new(argv[2]);
    sink_profiles_scan(pf, NULL);
    if (sink_store_open(argv[3], false, "normal", &st, err, sizeof err) != PR_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    FILE *in = fopen(argv[1], "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    json_t *macs = json_object();
    int32_t part = 0;
    while (in && (n = getline(&line, &cap, in)) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        bool status = strstr(line, "phonereport.status/1") != NULL;
        const char *mac = json_string_value(json_object_get(o, "mac"));
        sink_event ev;
        sink_apply_result res;
        sink_apply_opts opts = {.changes_keep = 1000};
        if (sink_event_load(NULL, line, (size_t)n, status, mac, 12, &ev, reason, sizeof reason, err,
                            sizeof err) != PR_OK) {
            fprintf(stderr, "event: %s %s\n", reason, err);
            return 1;
        }
        ev.partition = part++ % 3;
        if (sink_store_begin(st, err, sizeof err) != PR_OK ||
            sink_apply(st, pf, &opts, &ev, &res, err, sizeof err) != PR_OK ||
            sink_store_commit(st, err, sizeof err) != PR_OK) {
            fprintf(stderr, "apply: %s\n", err);
            return 1;
        }
        json_object_set_new(macs, mac, json_true());
        sink_event_release(&ev);
        json_decref(o);
    }
    free(line);
    if (in)
        fclose(in);
    /* what the API answered, per phone: /v1/phones/{mac}, /config, /status, /changes */
    json_t *out = json_object();
    const char *mac;
    json_t *v;
    json_object_foreach(macs, mac, v)
    {
        json_t *phone = NULL, *config = NULL, *status = NULL, *changes = NULL;
        sink_query_phone(st, mac, &phone, err, sizeof err);
        sink_query_config(st, mac, &config, err, sizeof err);
        if (sink_query_status(st, mac, &status, err, sizeof err) != PR_OK)
            status = json_null();
        sink_query_changes(st, mac, 0, 1000, &changes, err, sizeof err);
        json_object_set_new(out, mac,
                            json_pack("{so so so so}", "phone", phone, "config", config, "status",
                                      status, "changes", changes));
    }
    json_t *drift = NULL;
    sink_query_drift(st, NULL, NULL, 1000, &drift, err, sizeof err);
    json_object_set_new(out, "drift", drift);
    json_dump_file(out, argv[4], JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(out);
    json_decref(macs);
    sink_store_close(st);
    sink_profiles_free(pf);
    return 0;
}
