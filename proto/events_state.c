/* events_state.c - builders of phonereport.state/.changes/.drift values (events_state.h). */
#include "events_state.h"

#include <string.h>

#include "contract.h"
#include "jsonw.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void member(pr_jsonw *w, const char *key, const char *s)
{
    pr_jsonw_keyz(w, key);
    if (s)
        pr_jsonw_strz(w, s);
    else
        pr_jsonw_null(w);
}

char *pr_state_event_text(const pr_state_info *info, const pr_state_param *params, size_t n,
                          size_t *len)
{
    pr_jsonw w;
    size_t hint = 1024;
    for (size_t i = 0; i < n; i++)
        hint += 2 * strlen(params[i].name) + params[i].vlen + 16;
    pr_jsonw_init(&w, hint);
    pr_jsonw_obj_begin(&w);
    member(&w, "schema", PR_SCHEMA_STATE);
    member(&w, "mac", info->mac);
    pr_jsonw_keyz(&w, "version");
    pr_jsonw_int(&w, info->version);
    pr_jsonw_keyz(&w, "complete");
    pr_jsonw_bool(&w, info->complete);
    member(&w, "model", info->model);
    member(&w, "firmware", info->firmware);
    member(&w, "first_seen", info->first_seen);
    member(&w, "updated_at", info->updated_at);
    member(&w, "status_at", info->status_at);
    member(&w, "report_id", info->report_id);
    pr_jsonw_keyz(&w, "params");
    pr_jsonw_obj_begin(&w);
    for (size_t i = 0; i < n; i++) {
        pr_jsonw_keyz(&w, params[i].name);
        pr_jsonw_str(&w, params[i].value, params[i].vlen);
    }
    pr_jsonw_obj_end(&w);
    pr_jsonw_keyz(&w, "access");
    pr_jsonw_obj_begin(&w);
    for (size_t i = 0; i < n; i++)
        if (params[i].access) {
            pr_jsonw_keyz(&w, params[i].name);
            pr_jsonw_strz(&w, params[i].access);
        }
    pr_jsonw_obj_end(&w);
    pr_jsonw_obj_end(&w);
    return pr_jsonw_finish(&w, len);
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
