/*
 * events_state.h - builders of the JSON values the sink publishes (DESIGN section 3):
 * phonereport.state (compacted, the phone's whole current state), phonereport.changes (one
 * record per changed parameter) and phonereport.drift (drifted/resolved transitions). The
 * schemas are proto/schemas/{state,changes,drift}.schema.json.
 *
 * Every record carries the phone's MAC and its `version` (the count of configuration reports
 * applied) so a consumer can drop a repeat: the key is (mac, version) for state,
 * (mac, version, param) for changes and (mac, param, state, since) for drift.
 *
 * Ownership: string arguments are borrowed (NULL becomes JSON null where the schema allows
 * it); json_t arguments documented as stolen are stolen also on failure. Each builder
 * returns a new reference, or NULL on allocation failure.
 */
#ifndef PR_EVENTS_STATE_H
#define PR_EVENTS_STATE_H

#include <jansson.h>
#include <stdbool.h>

typedef struct pr_state_info {
    const char *mac;
    long long version; /* configuration reports applied */
    bool complete;     /* a full report has been applied */
    const char *model; /* NULL if never reported */
    const char *firmware;
    const char *first_seen; /* RFC 3339 received_at of the first report */
    const char *updated_at; /* received_at of the last configuration report, or NULL */
    const char *status_at;  /* received_at of the last status report, or NULL */
    const char *report_id;  /* of the last configuration report, or NULL */
} pr_state_info;

/* One parameter of a state record: its value (vlen bytes) and access (NULL: none). */
typedef struct pr_state_param {
    const char *name, *value, *access;
    size_t vlen;
} pr_state_param;

/* {"schema":"phonereport.state/1","mac",...,"params":{},"access":{}} as compact JSON text
 * (malloc'd, *len its length; jsonw.h's streaming writer, no tree: the sink renders one per
 * changed phone), the n params in the order given. NULL when out of memory. */
char *pr_state_event_text(const pr_state_info *info, const pr_state_param *params, size_t n,
                          size_t *len);

/* {"schema":"phonereport.changes/1","mac","param","old","new","at","report_id","via",
 * "version"} as compact JSON text (malloc'd; written by jsonw.h's streaming writer, no tree:
 * the sink's writer emits one per changed parameter); old/new NULL mean "absent"
 * (added/removed). via is "full" or "delta". NULL when out of memory. */
char *pr_change_event_text(const char *mac, const char *param, const char *old_value,
                           const char *new_value, const char *at, const char *report_id,
                           const char *via, long long version);

/* {"schema":"phonereport.drift/1","mac","param","intended","actual","state","since",
 * "version"}; state is "drifted" or "resolved"; intended/actual NULL when absent. */
json_t *pr_drift_event_new(const char *mac, const char *param, const char *intended,
                           const char *actual, const char *state, const char *since,
                           long long version);

#endif
