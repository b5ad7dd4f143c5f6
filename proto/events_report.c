/*
 * events_report.c - writers of the decoder's output values; see events_report.h.
 *
 * DESIGN: a config event is written from the parsed flat profile (names and values in the
 * profile's own storage, flatprofile.c) in one pass: params, then access. The profile keeps
 * the order of first appearance with the last value of a repeated name, so no member is ever
 * written twice. Nothing here allocates except the writer's buffer growing.
 */
#include "events_report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int pr_event_rfc3339_ms(long long ms, char *buf, size_t len)
{
    struct tm tm;
    /* Years 0000..9999 only, so the text keeps RFC 3339's four-digit year. */
    if (ms < -62167219200000LL || ms > 253402300799999LL)
        return -1;
    long long secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    if (!gmtime_r(&t, &tm))
        return -1;
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static void member(pr_jsonw *w, const char *key, const char *value)
{
    pr_jsonw_keyz(w, key);
    pr_jsonw_strz(w, value);
}

void pr_event_begin(pr_jsonw *w, const char *schema, const pr_event_envelope *env)
{
    char ts[40];
    if (pr_event_rfc3339_ms(env->received_ms, ts, sizeof ts) != 0)
        snprintf(ts, sizeof ts, "1970-01-01T00:00:00.000Z");
    pr_jsonw_obj_begin(w);
    member(w, "schema", schema);
    member(w, "mac", env->mac);
    member(w, "kind", env->kind);
    member(w, "report_id", env->report_id);
    member(w, "received_at", ts);
    member(w, "encryption", env->encryption);
    pr_jsonw_keyz(w, "source");
    pr_jsonw_obj_begin(w);
    member(w, "method", env->source.method);
    member(w, "path", env->source.path);
    member(w, "remote", env->source.remote);
    member(w, "user_agent", env->source.user_agent);
    if (env->source.model && *env->source.model)
        member(w, "model", env->source.model);
    if (env->source.firmware && *env->source.firmware)
        member(w, "firmware", env->source.firmware);
    pr_jsonw_obj_end(w);
    pr_jsonw_keyz(w, "raw");
    pr_jsonw_obj_begin(w);
    pr_jsonw_keyz(w, "partition");
    pr_jsonw_int(w, env->raw_partition);
    pr_jsonw_keyz(w, "offset");
    pr_jsonw_int(w, env->raw_offset);
    pr_jsonw_obj_end(w);
}

void pr_event_config_write(pr_jsonw *w, const pr_event_envelope *env, const pr_flat_profile *fp)
{
    pr_event_begin(w, PR_SCHEMA_CONFIG, env);
    pr_jsonw_keyz(w, "params");
    pr_jsonw_obj_begin(w);
    for (size_t i = 0; i < fp->len; i++) {
        const pr_fp_param *p = &fp->params[i];
        pr_jsonw_keyz(w, p->name);
        pr_jsonw_strz(w, p->value);
    }
    pr_jsonw_obj_end(w);
    /* The ua attribute may be cut inside a character: the writer replaces what is left. */
    pr_jsonw_keyz(w, "access");
    pr_jsonw_obj_begin(w);
    for (size_t i = 0; i < fp->len; i++) {
        const pr_fp_param *p = &fp->params[i];
        if (!p->ua[0])
            continue;
        pr_jsonw_keyz(w, p->name);
        pr_jsonw_strz(w, p->ua);
    }
    pr_jsonw_obj_end(w);
    if (fp->duplicates > 0) {
        pr_jsonw_keyz(w, "duplicates");
        pr_jsonw_int(w, (int64_t)fp->duplicates);
    }
    pr_jsonw_obj_end(w);
}

/* True if a later header has the same name (the last one is kept). */
static int repeated_later(const pr_event_header *h, size_t i, size_t n)
{
    for (size_t k = i + 1; k < n; k++)
        if (h[k].name && strcmp(h[k].name, h[i].name) == 0)
            return 1;
    return 0;
}

void pr_event_dlq_write(pr_jsonw *w, pr_dlq_reason reason, const char *detail, const char *mac,
                        const char *topic, int32_t partition, int64_t offset,
                        const pr_event_header *headers, size_t nheaders,
                        const unsigned char *payload, size_t payload_len, size_t max_payload)
{
    size_t keep = payload ? (payload_len < max_payload ? payload_len : max_payload) : 0;
    pr_jsonw_obj_begin(w);
    member(w, "schema", PR_SCHEMA_DLQ);
    member(w, "reason", pr_dlq_reason_name(reason));
    member(w, "detail", detail);
    pr_jsonw_keyz(w, "mac");
    if (mac && *mac)
        pr_jsonw_strz(w, mac);
    else
        pr_jsonw_null(w);
    pr_jsonw_keyz(w, "raw");
    pr_jsonw_obj_begin(w);
    member(w, "topic", topic);
    pr_jsonw_keyz(w, "partition");
    pr_jsonw_int(w, partition);
    pr_jsonw_keyz(w, "offset");
    pr_jsonw_int(w, offset);
    pr_jsonw_obj_end(w);
    pr_jsonw_keyz(w, "headers");
    pr_jsonw_obj_begin(w);
    for (size_t i = 0; i < nheaders; i++) {
        if (!headers[i].name || repeated_later(headers, i, nheaders))
            continue;
        pr_jsonw_keyz(w, headers[i].name);
        pr_jsonw_str(w, (const char *)headers[i].value, headers[i].value ? headers[i].len : 0);
    }
    pr_jsonw_obj_end(w);
    pr_jsonw_keyz(w, "payload_b64");
    pr_jsonw_base64(w, payload, keep);
    pr_jsonw_keyz(w, "payload_bytes");
    pr_jsonw_int(w, (int64_t)payload_len);
    pr_jsonw_keyz(w, "payload_truncated");
    pr_jsonw_bool(w, keep < payload_len);
    pr_jsonw_obj_end(w);
}
