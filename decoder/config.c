/*
 * config.c - the decoder's settings (one table: flags, PHONEREPORT_* variables, JSON keys,
 * defaults, bounds and --help all come from it) and their cross-field checks.
 *
 * decoder-transactional-id: exactly-once needs a transactional.id that is unique among the
 * decoders running at the same time and the SAME for an instance across its restarts, so
 * that a restarted decoder fences its previous incarnation and aborts that incarnation's
 * open transaction at once (a pid-based id would leave it open until the transaction
 * timeout, and read_committed readers stall behind it). The default, "<decoder-group>-<host
 * name>", fits one decoder per host (a container or pod with a stable name); set it
 * explicitly, e.g. "phonereport-decoder-2", when one host runs several decoders.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "decoder_int.h"

#define KIB 1024LL
#define MIB (1024LL * 1024LL)

#define PR_CFG_STRUCT decoder_cfg
static const pr_cfg_entry decoder_cfg_table[] = {
    PR_CFG_OPT("decoder-group", PR_CFG_STR, "phonereport-decoder", group,
               "consumer group of the decoders on <topic-prefix>raw"),
    PR_CFG_OPT("decoder-transactional-id", PR_CFG_STR, NULL, transactional_id,
               "transactional.id: unique per running decoder, stable across its restarts "
               "(default <decoder-group>-<hostname>)"),
    PR_CFG_OPT("decoder-keystore", PR_CFG_STR, NULL, keystore,
               "JSON file of openssl passwords and RFC 8188 IKMs by MAC, default and key id "
               "(re-read on SIGHUP; keep it mode 0600)"),
    PR_CFG_OPT("decoder-openssl-digests", PR_CFG_STR, "md5,sha256", digests,
               "EVP_BytesToKey digests to try for openssl enc bodies, in order (md5, sha256)"),
    PR_CFG_NUM("decoder-batch-max", PR_CFG_INT, "500", batch_max, 1, 100000,
               "records per Kafka transaction at most"),
    PR_CFG_NUM("decoder-batch-ms", PR_CFG_MS, "200ms", batch_ms, 1, 60000,
               "longest a transaction stays open while records keep coming"),
    PR_CFG_NUM(
        "decoder-batch-linger-ms", PR_CFG_MS, "0ms", batch_linger, 0, 60000,
        "a transaction whose input is drained commits once it has been open this long (0: at "
        "once, group commit: batches form only under load)"),
    PR_CFG_NUM("decoder-txn-timeout", PR_CFG_MS, "30s", txn_timeout, 1000, 600000,
               "time allowed to init, commit or abort a transaction"),
    PR_CFG_NUM("decoder-max-body-bytes", PR_CFG_BYTES, "4m", max_body, 1024, 256 * MIB,
               "largest raw body or plaintext decoded (larger: dead letter too_large)"),
    PR_CFG_NUM("decoder-max-inflated-bytes", PR_CFG_BYTES, "16m", max_inflated, 1024, 1024 * MIB,
               "largest gunzipped report (larger: too_large, e.g. a gzip bomb)"),
    PR_CFG_NUM("decoder-xml-max-depth", PR_CFG_INT, "64", xml_depth, 2, 10000,
               "deepest XML element nesting (deeper: xml_limits)"),
    PR_CFG_NUM("decoder-xml-max-elements", PR_CFG_INT, "100000", xml_elements, 1, 100000000,
               "most XML elements in one report (more: xml_limits)"),
    PR_CFG_NUM("decoder-xml-max-value-bytes", PR_CFG_BYTES, "64k", xml_value, 64, 64 * MIB,
               "longest XML text or attribute value (longer: xml_limits)"),
    PR_CFG_NUM("decoder-max-event-bytes", PR_CFG_BYTES, "900k", max_event, 4 * KIB, 64 * MIB,
               "largest event produced; keep below the topics' max.message.bytes"),
    PR_CFG_NUM("decoder-dlq-max-payload-bytes", PR_CFG_BYTES, "256k", max_dlq_payload, 0, 48 * MIB,
               "raw bytes kept (base64) in a dead letter; the rest is cut"),
    PR_CFG_END,
};
#undef PR_CFG_STRUCT

PR_ROLE_CFG(decoder, "decoder (decrypt and parse raw reports, transactional)", decoder_cfg_table)

pr_status decoder_cfg_check(const decoder_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs)
{
    pr_status st = PR_OK;
    decoder_digest d[2];
    size_t nd = 0;
    (void)common;
    if (decoder_digests_parse(cfg->digests, d, &nd) != 0) {
        pr_errlist_add(errs, "decoder-openssl-digests: \"%s\" is not a list of md5 and/or sha256",
                       cfg->digests ? cfg->digests : "");
        st = PR_EINVAL;
    }
    if (cfg->keystore && *cfg->keystore) {
        decoder_keystore *ks = NULL;
        char err[512];
        if (decoder_keystore_load(cfg->keystore, &ks, err, sizeof err) != PR_OK) {
            pr_errlist_add(errs, "decoder-keystore: %s", err);
            st = PR_EINVAL;
        }
        decoder_keystore_free(ks);
    }
    if (cfg->group && !*cfg->group) {
        pr_errlist_add(errs, "decoder-group: must not be empty");
        st = PR_EINVAL;
    }
    if (cfg->transactional_id && !*cfg->transactional_id) {
        pr_errlist_add(errs, "decoder-transactional-id: must not be empty");
        st = PR_EINVAL;
    }
    return st;
}

/* Options of the pure transforms from the config; keystore is set by the caller. */
void decoder_cfg_opts(const decoder_cfg *cfg, decoder_opts *opts)
{
    decoder_opts_default(opts);
    if (decoder_digests_parse(cfg->digests, opts->digests, &opts->ndigests) != 0) {
        opts->digests[0] = DECODER_DIGEST_MD5;
        opts->digests[1] = DECODER_DIGEST_SHA256;
        opts->ndigests = 2;
    }
    opts->max_body = (size_t)cfg->max_body;
    opts->max_inflated = (size_t)cfg->max_inflated;
    opts->max_event = (size_t)cfg->max_event;
    opts->max_dlq_payload = (size_t)cfg->max_dlq_payload;
    opts->limits.max_bytes =
        (size_t)(cfg->max_inflated > cfg->max_body ? cfg->max_inflated : cfg->max_body);
    opts->limits.max_depth = (size_t)cfg->xml_depth;
    opts->limits.max_elements = (size_t)cfg->xml_elements;
    opts->limits.max_value_len = (size_t)cfg->xml_value;
}
