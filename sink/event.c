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

/* received_at as the decoder writes it (proto/events_report.c) and the schemas require:
 * YYYY-MM-DDTHH:MM:SS.mmmZ, a real date (leap years counted) and time (a leap second only at
 * 23:59:60, as RFC 3339 allows). The sink stores and compares it as text, so nothing else
 * may pass for a timestamp. */
static bool utc_millis_ok(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
#define NUM2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
    int year = NUM2(0) * 100 + NUM2(2), mon = NUM2(5), day = NUM2(8);
    int hour = NUM2(11), min = NUM2(14), sec = NUM2(17);
#undef NUM2
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap))
        return false;
    return hour <= 23 && min <= 59 && (sec <= 59 || (sec == 60 && hour == 23 && min == 59));
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

static void drop_tree(sink_event *ev)
{
    if (ev->arena)
        pr_jarena_free(ev->arena); /* every json_t of the tree with it */
    else
        json_decref(ev->root);
    ev->arena = NULL;
    ev->root = NULL;
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
    /* The tree lives in an arena of its own: parsed once, read, dropped whole (jarena.h). */
    if ((ev->arena = pr_jarena_new()))
        pr_jarena_enter(ev->arena);
    ev->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (ev->arena)
        pr_jarena_leave();
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
    if (!json_is_string(v))
        BAD("received_at", "received_at is missing");
    if (!utc_millis_ok(json_string_value(v)))
        BAD("received_at", "received_at is not a UTC time with milliseconds (%.40s)",
            json_string_value(v));
    ev->received_at = json_string_value(v);

    source = json_object_get(ev->root, "source");
    if (source && !json_is_object(source) && !json_is_null(source))
        BAD("source", "source is not an object");
    if (opt_string(json_is_object(source) ? source : NULL, "model", &ev->model) != 0 ||
        opt_string(json_is_object(source) ? source : NULL, "firmware", &ev->firmware) != 0)
        BAD("source", "source.model/firmware is not a string");
    if (opt_string(json_is_object(source) ? source : NULL, "remote", &ev->remote) != 0)
        BAD("source", "source.remote is not a string");
    if (ev->remote && !*ev->remote)
        ev->remote = NULL; /* the edge did not know the address */

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
    /* Last, so that a record is judged on its content first. Every record is keyed by its
     * phone's MAC (DESIGN section 3); an unkeyed one did not come from a decoder. */
    if (!key)
        BAD("key", "record has no key (the phone's MAC)");
    if (keylen != PR_MAC_LEN || memcmp(key, ev->mac, PR_MAC_LEN) != 0)
        BAD("key", "record key differs from the event's mac");
out:
    if (st != PR_OK)
        drop_tree(ev);
    return st;
}

void sink_event_release(sink_event *ev)
{
    if (!ev)
        return;
    drop_tree(ev);
    free(ev->status_text);
    memset(ev, 0, sizeof *ev);
}
