/*
 * oracle.c - the oracle's trees behind report.c's writer interface (decoder_writers), so that
 * a record goes through exactly the same decryption and classification with either.
 */
#include "oracle.h"

static char *dumped(json_t *ev, size_t hint, size_t *len)
{
    char *text = ev ? oracle_dump(ev, hint, len) : NULL;
    json_decref(ev);
    return text;
}

static char *tree_config(const pr_event_envelope *env, const pr_flat_profile *fp, size_t hint,
                         size_t *len)
{
    return dumped(oracle_config_new(env, fp), hint, len);
}

static pr_status tree_status(const pr_event_envelope *env, const char *xml, size_t xml_len,
                             const pr_xml_limits *lim, char **text, size_t *len,
                             size_t *root_children, char *root_name, size_t root_name_len,
                             pr_xml_error *why, char *err, size_t errlen)
{
    json_t *tree = NULL;
    *text = NULL;
    if (oracle_status_parse(xml, xml_len, lim, &tree, root_children, root_name, root_name_len, why,
                            err, errlen) == PR_OK &&
        !(*text = dumped(oracle_status_new(env, tree), xml_len + 1024, len)))
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    return *text ? PR_OK : *why == PR_XML_OK ? PR_EFATAL : PR_EINVAL;
}

static char *tree_dlq(pr_dlq_reason reason, const char *detail, const char *mac, const char *topic,
                      int32_t partition, int64_t offset, const pr_event_header *headers,
                      size_t nheaders, const unsigned char *payload, size_t payload_len,
                      size_t max_payload, size_t *len)
{
    return dumped(oracle_dlq_new(reason, detail, mac, topic, partition, offset, headers, nheaders,
                                 payload, payload_len, max_payload),
                  4096, len);
}

const decoder_writers oracle_writers = {tree_config, tree_status, tree_dlq};
