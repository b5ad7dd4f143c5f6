/*
 * event.c - validates the records the sink consumes (phonereport.config/1 and
 * phonereport.status/1, DESIGN section 3) before anything reaches the store. A violation is
 * reported with a short reason code (the label of the invalid-events counter) and a detail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_internal.h"

#define BAD(code, ...)                                                                             \
    do {                                                                                           \
        snprintf(reason, reasonlen, "%s", code);                                                   \
        st = pr_err(PR_EINVAL, err, errlen, __VA_ARGS__);                                          \
        goto out;                                                                                  \
    } while (0)

/* An object whose members are all strings with non-empty names. access: each at most 8
 * bytes (the decoder keeps an odd ua attribute truncated rather than dropping it). */
static bool strings_object(json_t *o, bool access)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o))
        return false;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v) || !*k)
            return false;
        if (access && json_string_length(v) > 8)
            return false;
    }
    return true;
}

/* Optional string member: absent or null gives NULL; anything but a string is an error. */
static int opt_string(json_t *o, const char *name, const char **out)
{
    json_t *v = o ? json_object_get(o, name) : NULL;
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

pr_status sink_event_parse(const char *buf, size_t len, bool status_topic, const char *key,
                           size_t keylen, sink_event *ev, char *reason, size_t reasonlen, char *err,
                           size_t errlen)
{
    pr_status st = PR_OK;
    json_error_t jerr;
    json_t *v, *source;
    memset(ev, 0, sizeof *ev);
    ev->is_status = status_topic;
    if (!buf || len == 0)
        BAD("empty", "empty record value");
    ev->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev->root)
        BAD("bad_json", "not JSON: %s (column %d)", jerr.text, jerr.column);
    if (!json_is_object(ev->root))
        BAD("bad_json", "not a JSON object");

    v = json_object_get(ev->root, "schema");
    const char *want = status_topic ? PR_SCHEMA_STATUS : PR_SCHEMA_CONFIG;
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        BAD("schema", "schema is not %s", want);

    v = json_object_get(ev->root, "mac");
    if (!json_is_string(v) || !pr_mac_is_normal(json_string_value(v)))
        BAD("mac", "mac is not 12 lower-case hex digits");
    memcpy(ev->mac, json_string_value(v), PR_MAC_LEN + 1);
    if (key && (keylen != PR_MAC_LEN || memcmp(key, ev->mac, PR_MAC_LEN) != 0))
        BAD("key", "record key differs from the event's mac");

    v = json_object_get(ev->root, "kind");
    if (status_topic && !v) {
        ev->kind = PR_KIND_STATUS; /* a status envelope may omit kind */
    } else {
        if (!json_is_string(v))
            BAD("kind", "kind is missing");
        ev->kind = pr_kind_parse(json_string_value(v));
        if (status_topic
                ? ev->kind != PR_KIND_STATUS
                : (ev->kind == PR_KIND_STATUS ||
                   (ev->kind == PR_KIND_UNKNOWN && strcmp(json_string_value(v), "unknown") != 0)))
            BAD("kind", "kind '%s' does not belong on this topic", json_string_value(v));
        /* The URL did not say full or delta: apply it as a delta (upserts only, nothing is
         * removed, the phone does not become complete). */
        if (ev->kind == PR_KIND_UNKNOWN) {
            ev->kind = PR_KIND_DELTA;
            ev->kind_unknown = true;
        }
    }

    v = json_object_get(ev->root, "report_id");
    if (!json_is_string(v) || !*json_string_value(v))
        BAD("report_id", "report_id is missing");
    ev->report_id = json_string_value(v);
    v = json_object_get(ev->root, "received_at");
    if (!json_is_string(v) || strlen(json_string_value(v)) < 10)
        BAD("received_at", "received_at is missing");
    ev->received_at = json_string_value(v);

    source = json_object_get(ev->root, "source");
    if (source && !json_is_object(source) && !json_is_null(source))
        BAD("source", "source is not an object");
    if (opt_string(json_is_object(source) ? source : NULL, "model", &ev->model) != 0 ||
        opt_string(json_is_object(source) ? source : NULL, "firmware", &ev->firmware) != 0)
        BAD("source", "source.model/firmware is not a string");

    if (status_topic) {
        ev->status = json_object_get(ev->root, "status");
        if (!json_is_object(ev->status))
            BAD("status", "status is not an object");
    } else {
        ev->params = json_object_get(ev->root, "params");
        if (!strings_object(ev->params, false))
            BAD("params", "params is not an object of strings");
        ev->access = json_object_get(ev->root, "access");
        if (json_is_null(ev->access))
            ev->access = NULL;
        if (ev->access && !strings_object(ev->access, true))
            BAD("access", "access is not an object of short strings");
    }
out:
    if (st != PR_OK) {
        json_decref(ev->root);
        ev->root = NULL;
    }
    return st;
}

void sink_event_release(sink_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->root);
    free(ev->status_text);
    memset(ev, 0, sizeof *ev);
}
