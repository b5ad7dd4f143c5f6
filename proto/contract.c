/* contract.c - the string tables behind contract.h. */
#include "contract.h"

#include <stdio.h>
#include <string.h>

static const char *const topic_suffix[PR_TOPIC__COUNT] = {
    [PR_TOPIC_RAW] = "raw",     [PR_TOPIC_CONFIG] = "config",     [PR_TOPIC_STATUS] = "status",
    [PR_TOPIC_DLQ] = "dlq",     [PR_TOPIC_STATE] = "state",       [PR_TOPIC_CHANGES] = "changes",
    [PR_TOPIC_DRIFT] = "drift", [PR_TOPIC_SINK_DLQ] = "sink-dlq",
};

const char *pr_topic_suffix(pr_topic t)
{
    return (unsigned)t < PR_TOPIC__COUNT ? topic_suffix[t] : "unknown";
}

int pr_topic_name(const char *prefix, pr_topic t, char *buf, size_t len)
{
    int n =
        snprintf(buf, len, "%s%s", prefix ? prefix : PR_TOPIC_PREFIX_DEFAULT, pr_topic_suffix(t));
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static const char *const kind_name[] = {[PR_KIND_FULL] = "full",
                                        [PR_KIND_DELTA] = "delta",
                                        [PR_KIND_STATUS] = "status",
                                        [PR_KIND_UNKNOWN] = "unknown"};

const char *pr_kind_name(pr_kind k)
{
    return (unsigned)k <= PR_KIND_UNKNOWN ? kind_name[k] : "unknown";
}

pr_kind pr_kind_parse(const char *s)
{
    for (int k = PR_KIND_FULL; s && k < PR_KIND_UNKNOWN; k++)
        if (strcmp(s, kind_name[k]) == 0)
            return (pr_kind)k;
    return PR_KIND_UNKNOWN;
}

static const char *const mac_source_name[PR_MAC_SRC__COUNT] = {[PR_MAC_SRC_CERT] = "cert",
                                                               [PR_MAC_SRC_PATH] = "path",
                                                               [PR_MAC_SRC_QUERY] = "query",
                                                               [PR_MAC_SRC_USER_AGENT] =
                                                                   "user-agent"};

const char *pr_mac_source_name(pr_mac_source s)
{
    return (unsigned)s < PR_MAC_SRC__COUNT ? mac_source_name[s] : "unknown";
}

int pr_mac_source_parse(const char *s, pr_mac_source *out)
{
    for (int i = 0; s && i < PR_MAC_SRC__COUNT; i++) {
        if (strcmp(s, mac_source_name[i]) == 0) {
            *out = (pr_mac_source)i;
            return 0;
        }
    }
    return -1;
}

static const char *const dlq_reason_name[PR_DLQ_REASON__COUNT] = {
    [PR_DLQ_NO_MAC] = "no_mac",
    [PR_DLQ_EMPTY] = "empty",
    [PR_DLQ_NO_KEY] = "no_key",
    [PR_DLQ_DECRYPT_FAILED] = "decrypt_failed",
    [PR_DLQ_BAD_ENCODING] = "bad_encoding",
    [PR_DLQ_GUNZIP_FAILED] = "gunzip_failed",
    [PR_DLQ_TOO_LARGE] = "too_large",
    [PR_DLQ_XML_MALFORMED] = "xml_malformed",
    [PR_DLQ_XML_DOCTYPE_FORBIDDEN] = "xml_doctype_forbidden",
    [PR_DLQ_XML_LIMITS] = "xml_limits",
    [PR_DLQ_NOT_A_REPORT] = "not_a_report",
};

const char *pr_dlq_reason_name(pr_dlq_reason r)
{
    return (unsigned)r < PR_DLQ_REASON__COUNT ? dlq_reason_name[r] : "unknown";
}
