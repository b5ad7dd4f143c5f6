/*
 * console_fixture.c - a sink without Kafka for the console's browser test: applies a fleet
 * (a JSON file the test writes, so that the test knows independently what it should see)
 * through the sink's own apply path, serves the API and the console with a token file on
 * 127.0.0.1:<any port>, prints the port, then obeys one command per line on stdin:
 *
 *   delta <mac> <params JSON>   applies a delta configuration report (now)
 *   rescan                      re-reads the profiles directory and recomputes drift, as
 *                               the consumer does on SIGHUP
 *   (end of input)              stops
 *
 * Each command answers "ok" or "error <reason>" on stdout.
 *
 *   console_fixture <dir> <fleet.json> <tokens> [<notify-credentials> <proxy>]
 *
 * (<dir>/profiles may hold profiles.) With notify credentials, the re-baseline thread runs
 * too (the console's "request a report" and "resync" are queued, and their NOTIFYs go to the
 * phones' address of record through <proxy>, a sip: URI).
 *
 * fleet.json: [{"mac","model","firmware","kind":"full|delta","ago_s",
 *               "params":{...},"access":{...},"status":{...}|absent}, ...]
 * A phone with "params_file" takes its parameters from a flat-profile XML file instead.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <signal.h>

#include "file.h"
#include "flatprofile.h"
#include "metrics.h"
#include "sink_internal.h"

static pr_status apply_doc(sink_store *st, sink_profiles *pf, json_t *ev, bool status, char *err,
                           size_t errlen)
{
    sink_event e;
    sink_apply_result res;
    char reason[64] = "";
    char *text = json_dumps(ev, JSON_COMPACT);
    pr_status rc;
    if (!text)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    const char *mac = json_string_value(json_object_get(ev, "mac"));
    rc = sink_event_load(NULL, text, strlen(text), status, mac, mac ? strlen(mac) : 0, &e, reason,
                         sizeof reason, err, errlen);
    free(text);
    if (rc != PR_OK)
        return rc;
    sink_apply_opts opts = {.changes_keep = 1000};
    if ((rc = sink_store_begin(st, err, errlen)) == PR_OK &&
        (rc = sink_apply(st, pf, &opts, &e, &res, err, errlen)) == PR_OK)
        rc = sink_store_commit(st, err, errlen);
    if (rc != PR_OK)
        sink_store_rollback(st);
    sink_event_release(&e);
    return rc;
}

static json_t *config_event(const char *mac, const char *kind, long long ago_s, const char *model,
                            const char *firmware, json_t *params, json_t *access)
{
    static int seq;
    char at[32], rid[64];
    sink_fleet_time_ago(ago_s, at, sizeof at);
    snprintf(rid, sizeof rid, "fixture-%d", ++seq);
    return json_pack("{ss ss ss ss ss ss s{ss ss ss ss ss ss} sO sO s{si si}}", "schema",
                     "phonereport.config/1", "mac", mac, "kind", kind, "report_id", rid,
                     "received_at", at, "encryption", "none", "source", "method", "PUT", "path",
                     "/r", "remote", "192.0.2.10", "user_agent", "Cisco", "model", model,
                     "firmware", firmware, "params", params, "access", access, "raw", "partition",
                     0, "offset", seq);
}

/* A flat-profile file as params and access objects. */
static pr_status profile_params(const char *path, json_t **params, json_t **access, char *err,
                                size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    pr_flat_profile fp;
    pr_xml_error why;
    pr_status rc = pr_file_read(path, 16u << 20, &text, &len, err, errlen);
    if (rc != PR_OK)
        return rc;
    rc = pr_flatprofile_parse(text, len, NULL, &fp, &why, err, errlen);
    free(text);
    if (rc != PR_OK) {
        pr_flatprofile_release(&fp);
        return rc;
    }
    *params = json_object();
    *access = json_object();
    for (size_t i = 0; i < fp.len; i++) {
        json_object_set_new(*params, fp.params[i].name, json_string(fp.params[i].value));
        if (fp.params[i].ua[0])
            json_object_set_new(*access, fp.params[i].name, json_string(fp.params[i].ua));
    }
    pr_flatprofile_release(&fp);
    return PR_OK;
}

static pr_status load_fleet(sink_store *st, sink_profiles *pf, const char *path, char *err,
                            size_t errlen)
{
    json_error_t je;
    json_t *fleet = json_load_file(path, 0, &je), *ph;
    size_t i;
    pr_status rc = PR_OK;
    if (!json_is_array(fleet))
        return pr_err(PR_EINVAL, err, errlen, "%s: %s", path, je.text);
    json_array_foreach(fleet, i, ph)
    {
        const char *mac = json_string_value(json_object_get(ph, "mac"));
        const char *model = json_string_value(json_object_get(ph, "model"));
        const char *fw = json_string_value(json_object_get(ph, "firmware"));
        const char *kind = json_string_value(json_object_get(ph, "kind"));
        const char *file = json_string_value(json_object_get(ph, "params_file"));
        long long ago = json_integer_value(json_object_get(ph, "ago_s"));
        json_t *params = NULL, *access = NULL;
        if (file) {
            if ((rc = profile_params(file, &params, &access, err, errlen)) != PR_OK)
                break;
            json_t *extra = json_object_get(ph, "params");
            if (extra)
                json_object_update(params, extra);
        } else {
            params = json_incref(json_object_get(ph, "params"));
            access = json_object_get(ph, "access") ? json_incref(json_object_get(ph, "access"))
                                                   : json_object();
        }
        json_t *ev = config_event(mac, kind ? kind : "full", ago, model, fw, params, access);
        json_decref(params);
        json_decref(access);
        rc = apply_doc(st, pf, ev, false, err, errlen);
        json_decref(ev);
        if (rc != PR_OK)
            break;
        json_t *status = json_object_get(ph, "status");
        if (status) {
            char at[32];
            sink_fleet_time_ago(ago, at, sizeof at);
            ev = json_pack("{ss ss ss ss ss ss s{ss ss} sO s{si si}}", "schema",
                           "phonereport.status/1", "mac", mac, "kind", "status", "report_id",
                           "fixture-status", "received_at", at, "encryption", "none", "source",
                           "model", model, "firmware", fw, "status", status, "raw", "partition", 0,
                           "offset", 1);
            rc = apply_doc(st, pf, ev, true, err, errlen);
            json_decref(ev);
            if (rc != PR_OK)
                break;
        }
    }
    json_decref(fleet);
    return rc;
}

static pr_status rescan(sink_store *st, sink_profiles *pf, char *err, size_t errlen)
{
    sink_profiles_delta d = {0};
    char now[32];
    unsigned transitions = 0;
    pr_status rc = PR_OK;
    if (sink_profiles_scan(pf, &d)) {
        sink_now_rfc3339(now, sizeof now);
        if ((rc = sink_store_begin(st, err, errlen)) == PR_OK &&
            (rc = sink_drift_profiles_changed(st, pf, &d, now, NULL, false, &transitions, err,
                                              errlen)) == PR_OK)
            rc = sink_store_commit(st, err, errlen);
        if (rc != PR_OK)
            sink_store_rollback(st);
    }
    sink_profiles_delta_release(&d);
    return rc;
}

int main(int argc, char **argv)
{
    char err[512], data[4096], profiles[4096], line[65536];
    sink_store *st = NULL;
    sink_profiles *pf = NULL;
    sink_api *api = NULL;
    pr_metrics *m = pr_metrics_new();
    atomic_int ready = 1;
    int rc = 1;
    sink_rebaseline *rb = NULL;
    sink_cfg cfg = {0};
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: console_fixture <dir> <fleet.json> <tokens> "
                        "[<notify-credentials> <proxy>]\n");
        return 64;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
    snprintf(data, sizeof data, "%s/data", argv[1]);
    snprintf(profiles, sizeof profiles, "%s/profiles", argv[1]);
    mkdir(profiles, 0700);
    pf = sink_profiles_new(profiles);
    sink_profiles_scan(pf, NULL);
    if (sink_store_open(data, false, "normal", &st, err, sizeof err) != PR_OK ||
        load_fleet(st, pf, argv[2], err, sizeof err) != PR_OK)
        goto out;
    if (argc == 6) {
        cfg.data_dir = data;
        cfg.sync = "normal";
        cfg.rebaseline_credentials = argv[4];
        cfg.rebaseline_proxy = argv[5];
        cfg.rebaseline_sip_port = 5060;
        cfg.rebaseline_rate = 10;
        cfg.rebaseline_interval_ms = 3600000;
        cfg.rebaseline_timeout_ms = 1000;
        cfg.remediate_interval_ms = 3600000;
        if (sink_rebaseline_new(&cfg, m, &rb, err, sizeof err) != PR_OK ||
            sink_rebaseline_start(rb, err, sizeof err) != PR_OK)
            goto out;
    }
    sink_api_opts o = {
        .listen = "127.0.0.1:0", .data_dir = data, .tokens = argv[3], .rebaseline = rb};
    if (sink_api_start_opts(&o, m, &ready, &api, err, sizeof err) != PR_OK)
        goto out;
    printf("%u\n", sink_api_bound_port(api));
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        pr_status r = PR_OK;
        if (strncmp(line, "delta ", 6) == 0 && strlen(line) > 19) {
            char mac[PR_MAC_LEN + 1];
            snprintf(mac, sizeof mac, "%.12s", line + 6);
            json_t *params = json_loads(line + 19, 0, NULL), *access = json_object();
            /* the phone keeps its model and firmware */
            char model[64] = "", fw[64] = "";
            sink_stmt *q =
                sink_store_prepare(st, "SELECT model, firmware FROM phones WHERE mac = ?1");
            if (q) {
                sink_bind_text(q, 1, mac);
                if (sink_step(q) == SINK_ROW) {
                    snprintf(model, sizeof model, "%s", sink_col_text(q, 0));
                    snprintf(fw, sizeof fw, "%s", sink_col_text(q, 1));
                }
            }
            sink_stmt_free(q);
            json_t *ev = config_event(mac, "delta", 0, model, fw, params, access);
            r = params ? apply_doc(st, pf, ev, false, err, sizeof err)
                       : pr_err(PR_EINVAL, err, sizeof err, "bad params JSON");
            json_decref(ev);
            json_decref(params);
            json_decref(access);
        } else if (strcmp(line, "rescan") == 0) {
            r = rescan(st, pf, err, sizeof err);
        } else {
            r = pr_err(PR_EINVAL, err, sizeof err, "unknown command");
        }
        if (r == PR_OK)
            printf("ok\n");
        else
            printf("error %s\n", err);
        fflush(stdout);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "console_fixture: %s\n", err);
    sink_api_stop(api);
    sink_rebaseline_free(rb);
    sink_store_close(st);
    sink_profiles_free(pf);
    pr_metrics_free(m);
    return rc;
}
