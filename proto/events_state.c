/* events_state.c - builders of phonereport.state/.changes/.drift values (events_state.h). */
#include "events_state.h"

#include "contract.h"
#include "jsonw.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *pr_state_event_new(const pr_state_info *info, json_t *params, json_t *access)
{
    json_t *o = NULL;
    if (!params || !access)
        goto out;
    o = json_pack("{ss ss sI sb s,o s,o s,o s,o s,o s,o}", "schema", PR_SCHEMA_STATE, "mac",
                  info->mac, "version", (json_int_t)info->version, "complete", info->complete,
                  "model", str_or_null(info->model), "firmware", str_or_null(info->firmware),
                  "first_seen", str_or_null(info->first_seen), "updated_at",
                  str_or_null(info->updated_at), "status_at", str_or_null(info->status_at),
                  "report_id", str_or_null(info->report_id));
    if (!o)
        goto out;
    if (json_object_set_new(o, "params", params) != 0) {
        params = NULL;
        goto fail;
    }
    params = NULL;
    if (json_object_set_new(o, "access", access) != 0) {
        access = NULL;
        goto fail;
    }
    access = NULL;
    return o;
fail:
    json_decref(o);
    o = NULL;
out:
    json_decref(params);
    json_decref(access);
    return o;
}

static void member(pr_jsonw *w, const char *key, const char *s)
{
    pr_jsonw_keyz(w, key);
    if (s)
        pr_jsonw_strz(w, s);
    else
        pr_jsonw_null(w);
}

char *pr_change_event_text(const char *mac, const char *param, const char *old_value,
                           const char *new_value, const char *at, const char *report_id,
                           const char *via, long long version)
{
    pr_jsonw w;
    pr_jsonw_init(&w, 256);
    pr_jsonw_obj_begin(&w);
    member(&w, "schema", PR_SCHEMA_CHANGE);
    member(&w, "mac", mac);
    member(&w, "param", param);
    member(&w, "old", old_value);
    member(&w, "new", new_value);
    member(&w, "at", at);
    member(&w, "report_id", report_id);
    member(&w, "via", via);
    pr_jsonw_keyz(&w, "version");
    pr_jsonw_int(&w, version);
    pr_jsonw_obj_end(&w);
    return pr_jsonw_finish(&w, NULL);
}

json_t *pr_drift_event_new(const char *mac, const char *param, const char *intended,
                           const char *actual, const char *state, const char *since,
                           long long version)
{
    return json_pack("{ss ss ss s,o s,o ss ss sI}", "schema", PR_SCHEMA_DRIFT, "mac", mac, "param",
                     param, "intended", str_or_null(intended), "actual", str_or_null(actual),
                     "state", state, "since", since, "version", (json_int_t)version);
}
