/*
 * report.c - one raw record in, one output value out: decrypt (openssl enc or aes128gcm),
 * gunzip, parse (flat-profile or status), build the event, or a dead letter with its reason.
 * Pure: no Kafka, no clock, no logging of payloads or keys; the same record always gives the
 * same output, which is what makes a replay after an aborted transaction harmless.
 *
 * How the encoding is decided (DESIGN section 1: nothing about it is documented):
 *   1. pr-content-encoding names aes128gcm: RFC 8188, and its errors are reported as such;
 *   2. the body starts with "Salted__": openssl enc;
 *   3. its first bytes parse as an aes128gcm header (rs <= 16 MiB): RFC 8188 is tried with
 *      the candidate IKMs, and accepted only if it decrypts (this comes before the plaintext
 *      guess because a random salt may start with '<');
 *   4. it starts like XML or gzip: plaintext;
 *   5. a binary body (control bytes or invalid UTF-8) of whole 16-byte blocks, and the phone
 *      has an openssl password: openssl enc without its Salted__ header, which cannot be
 *      decrypted (decrypt_failed);
 *   6. otherwise the XML parser has the last word (xml_malformed).
 * Classification: pr-kind status, or a well-formed body without a flat-profile element, is a
 * status report; a root element with no child elements (or an HTML page) is not_a_report.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decoder_int.h"
#include "events_report.h"
#include "mac.h"
#include "useragent.h"

#define ECE_SNIFF_MAX_RS   (16u << 20)
#define MAX_IKM_CANDIDATES 3

void decoder_opts_default(decoder_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->digests[0] = DECODER_DIGEST_MD5;
    opts->digests[1] = DECODER_DIGEST_SHA256;
    opts->ndigests = 2;
    opts->max_body = 4u << 20;
    opts->max_inflated = 16u << 20;
    opts->max_event = 900u << 10;
    opts->max_dlq_payload = 256u << 10;
    opts->limits.max_bytes = 16u << 20;
    opts->limits.max_depth = 64;
    opts->limits.max_elements = 100000;
    opts->limits.max_value_len = 64u << 10;
}

int decoder_digests_parse(const char *s, decoder_digest *digests, size_t *n)
{
    char buf[64];
    *n = 0;
    if (!s || strlen(s) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        decoder_digest d;
        if (strcasecmp(tok, "md5") == 0)
            d = DECODER_DIGEST_MD5;
        else if (strcasecmp(tok, "sha256") == 0 || strcasecmp(tok, "sha-256") == 0)
            d = DECODER_DIGEST_SHA256;
        else
            return -1;
        for (size_t i = 0; i < *n; i++)
            if (digests[i] == d)
                return -1;
        if (*n == 2)
            return -1;
        digests[(*n)++] = d;
    }
    return *n > 0 ? 0 : -1;
}

void decoder_output_release(decoder_output *out)
{
    if (!out)
        return;
    free(out->value);
    out->value = NULL;
    out->value_len = 0;
}

/* The headers read here; of each name the last one counts. */
enum {
    H_KIND,
    H_CONTENT_ENCODING,
    H_REQUEST_ID,
    H_RECEIVED_MS,
    H_METHOD,
    H_PATH,
    H_REMOTE,
    H_USER_AGENT,
    H__COUNT
};

#define HDR(n)                                                                                     \
    {                                                                                              \
        n, sizeof n - 1                                                                            \
    }
static const struct {
    const char *name;
    size_t len;
} hdr_names[H__COUNT] = {
    HDR(PR_HDR_KIND),        HDR(PR_HDR_CONTENT_ENCODING), HDR(PR_HDR_REQUEST_ID),
    HDR(PR_HDR_RECEIVED_MS), HDR(PR_HDR_METHOD),           HDR(PR_HDR_PATH),
    HDR(PR_HDR_REMOTE),      HDR(PR_HDR_USER_AGENT),
};
#undef HDR

/* One pass over the record's headers: found[h] the last header of hdr_names[h], or NULL. */
static void headers_index(const decoder_record *rec, const decoder_header **found)
{
    for (size_t h = 0; h < H__COUNT; h++)
        found[h] = NULL;
    for (size_t i = 0; i < rec->nheaders; i++) {
        const char *name = rec->headers[i].name;
        if (!name || strncmp(name, "pr-", 3) != 0)
            continue;
        size_t len = strlen(name);
        for (size_t h = 0; h < H__COUNT; h++)
            if (hdr_names[h].len == len && memcmp(name, hdr_names[h].name, len) == 0) {
                found[h] = &rec->headers[i];
                break;
            }
    }
}

/* The header's value, NUL-terminated and truncated into buf ("" if absent). */
static const char *header_copy(const decoder_header *h, char *buf, size_t len)
{
    size_t n = h ? (h->len < len - 1 ? h->len : len - 1) : 0;
    if (n)
        memcpy(buf, h->value, n);
    buf[n] = '\0';
    return buf;
}

/* Work state of one record. */
typedef struct job {
    const decoder_record *rec;
    const decoder_opts *opts;
    decoder_output *out;
    const decoder_header *hdr[H__COUNT];
    char mac[PR_MAC_LEN + 1];
    const char *encryption;
    unsigned char *owned; /* current plaintext, when it is not the record's value */
    const unsigned char *data;
    size_t len;
    pr_dlq_reason reason;
    char detail[256];
} job;

static void set_plain(job *j, unsigned char *buf, size_t len)
{
    free(j->owned);
    j->owned = buf;
    j->data = buf;
    j->len = len;
}

/* Records a dead-letter reason; returns -1 so that callers can `return dead(...)`. */
static int dead(job *j, pr_dlq_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int dead(job *j, pr_dlq_reason r, const char *fmt, ...)
{
    va_list ap;
    j->reason = r;
    va_start(ap, fmt);
    vsnprintf(j->detail, sizeof j->detail, fmt, ap);
    va_end(ap);
    return -1;
}

static pr_dlq_reason crypt_reason(decoder_crypt_result r)
{
    switch (r) {
    case DECODER_CRYPT_NO_KEY: return PR_DLQ_NO_KEY;
    case DECODER_CRYPT_MALFORMED: return PR_DLQ_BAD_ENCODING;
    case DECODER_CRYPT_TOO_LARGE: return PR_DLQ_TOO_LARGE;
    default: return PR_DLQ_DECRYPT_FAILED;
    }
}

/* 0 decrypted, 1 not aes128gcm after all (sniffed only), -1 dead, -2 out of memory.
 * Sniffed (no Content-Encoding): a body that fails as aes128gcm but starts like XML or gzip
 * is plaintext after all (gzip's bytes 16..20 can look like a header). */
static int try_ece(job *j, bool announced)
{
    bool fallback = !announced && decoder_plaintext_plausible(j->data, j->len);
    decoder_ece_header h;
    char err[200];
    const decoder_ikm *ikms[MAX_IKM_CANDIDATES];
    decoder_crypt_result r = decoder_ece_header_parse(j->data, j->len, &h, err, sizeof err);
    if (r != DECODER_CRYPT_OK) {
        if (!announced)
            return 1;
        return dead(j, PR_DLQ_BAD_ENCODING, "%s", err);
    }
    if (!announced && h.rs > ECE_SNIFF_MAX_RS)
        return 1;
    size_t n = decoder_keystore_ikms(j->opts->keystore, h.keyid, h.keyid_len, j->mac, ikms,
                                     MAX_IKM_CANDIDATES);
    if (n == 0 && fallback)
        return 1;
    if (n == 0)
        return dead(j, PR_DLQ_NO_KEY,
                    "aes128gcm body (key id of %zu bytes) but no IKM for the key id, the phone "
                    "or the default",
                    h.keyid_len);
    for (size_t i = 0; i < n; i++) {
        unsigned char *plain = NULL;
        size_t plen = 0;
        r = decoder_ece_decrypt(j->data, j->len, ikms[i]->bytes, ikms[i]->len, j->opts->max_body,
                                &plain, &plen, err, sizeof err);
        if (r == DECODER_CRYPT_OK) {
            set_plain(j, plain, plen);
            j->encryption = PR_ENC_AES128GCM;
            return 0;
        }
        if (r == DECODER_CRYPT_NOMEM)
            return -2;
        if (r != DECODER_CRYPT_FAILED && fallback)
            return 1;
        if (r != DECODER_CRYPT_FAILED) /* the IKM was right: the body is at fault */
            return dead(j, crypt_reason(r), "%s", err);
    }
    if (fallback)
        return 1;
    return dead(j, PR_DLQ_DECRYPT_FAILED,
                "aes128gcm: %zu candidate IKM(s) (key id, phone, default) fail authentication", n);
}

/* True if p looks like ciphertext rather than text: a control byte (other than white space)
 * or a byte sequence that is not UTF-8. */
static bool looks_binary(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                return true;
            i++;
            continue;
        }
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (need == 0 || c > 0xf4 || i + need > len)
            return true;
        for (size_t k = 1; k < need; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return true;
        i += need;
    }
    return false;
}

/* 0 plaintext in j->data, -1 dead, -2 out of memory. */
static int decrypt(job *j)
{
    char ce[128];
    char err[200];
    header_copy(j->hdr[H_CONTENT_ENCODING], ce, sizeof ce);
    j->encryption = PR_ENC_NONE;
    if (strcasestr(ce, "aes128gcm"))
        return try_ece(j, true);
    if (decoder_cbc_detect(j->data, j->len)) {
        unsigned char *plain = NULL;
        size_t plen = 0;
        const char *pw = decoder_keystore_password(j->opts->keystore, j->mac);
        decoder_crypt_result r =
            decoder_cbc_decrypt(j->data, j->len, pw, j->opts->digests, j->opts->ndigests, &plain,
                                &plen, NULL, err, sizeof err);
        if (r == DECODER_CRYPT_NOMEM)
            return -2;
        if (r != DECODER_CRYPT_OK)
            return dead(j, crypt_reason(r), "%s", err);
        set_plain(j, plain, plen);
        j->encryption = PR_ENC_OPENSSL_CBC;
        return 0;
    }
    /* Before the plaintext guess: an aes128gcm salt is random and starts with '<' once in
     * 256 bodies. Text never parses as a header here (its record size would need a NUL
     * byte), so this costs a plaintext body nothing. */
    int rc = try_ece(j, false);
    if (rc != 1)
        return rc;
    if (decoder_plaintext_plausible(j->data, j->len))
        return 0;
    if (j->len % 16 == 0 && looks_binary(j->data, j->len) &&
        decoder_keystore_password(j->opts->keystore, j->mac))
        return dead(j, PR_DLQ_DECRYPT_FAILED,
                    "binary body without the Salted__ header: if it is openssl enc, its salt "
                    "is unknown (openssl enc -S writes no header)");
    return 0;
}

static int gunzip(job *j)
{
    unsigned char *plain = NULL;
    size_t plen = 0;
    bool too_large = false;
    char err[200];
    if (!decoder_gzip_detect(j->data, j->len))
        return 0;
    pr_status st = decoder_gzip_inflate(j->data, j->len, j->opts->max_inflated, &plain, &plen,
                                        &too_large, err, sizeof err);
    if (st == PR_EFATAL)
        return -2;
    if (st != PR_OK)
        return dead(j, too_large ? PR_DLQ_TOO_LARGE : PR_DLQ_GUNZIP_FAILED, "%s", err);
    set_plain(j, plain, plen);
    return 0;
}

static pr_dlq_reason xml_reason(pr_xml_error why)
{
    switch (why) {
    case PR_XML_DOCTYPE_FORBIDDEN: return PR_DLQ_XML_DOCTYPE_FORBIDDEN;
    case PR_XML_LIMITS: return PR_DLQ_XML_LIMITS;
    case PR_XML_NOT_PROFILE: return PR_DLQ_NOT_A_REPORT;
    default: return PR_DLQ_XML_MALFORMED;
    }
}

/* Fills the envelope's strings from the headers (buffers owned by the caller's frame). */
typedef struct env_bufs {
    char kind[16], request_id[128], received[32], method[16], path[2048], remote[128], ua[512];
    char report_id[160];
    pr_user_agent ua_parsed;
} env_bufs;

static void envelope_fill(const job *j, env_bufs *b, pr_event_envelope *env)
{
    const decoder_record *rec = j->rec;
    memset(env, 0, sizeof *env);
    header_copy(j->hdr[H_REQUEST_ID], b->request_id, sizeof b->request_id);
    header_copy(j->hdr[H_RECEIVED_MS], b->received, sizeof b->received);
    header_copy(j->hdr[H_METHOD], b->method, sizeof b->method);
    header_copy(j->hdr[H_PATH], b->path, sizeof b->path);
    header_copy(j->hdr[H_REMOTE], b->remote, sizeof b->remote);
    header_copy(j->hdr[H_USER_AGENT], b->ua, sizeof b->ua);
    if (b->request_id[0])
        snprintf(b->report_id, sizeof b->report_id, "%s", b->request_id);
    else /* deterministic, so that a replay gives the same id */
        snprintf(b->report_id, sizeof b->report_id, "raw-%d-%lld", (int)rec->partition,
                 (long long)rec->offset);
    char *end = NULL;
    long long ms = strtoll(b->received, &end, 10);
    if (!b->received[0] || (end && *end))
        ms = rec->timestamp_ms >= 0 ? rec->timestamp_ms : 0;
    memset(&b->ua_parsed, 0, sizeof b->ua_parsed);
    if (b->ua[0])
        (void)pr_useragent_parse(b->ua, &b->ua_parsed);
    env->mac = j->mac;
    env->report_id = b->report_id;
    env->received_ms = ms;
    env->encryption = j->encryption;
    env->source.method = b->method;
    env->source.path = b->path;
    env->source.remote = b->remote;
    env->source.user_agent = b->ua;
    env->source.model = b->ua_parsed.model;
    env->source.firmware = b->ua_parsed.firmware;
    env->raw_partition = rec->partition;
    env->raw_offset = rec->offset;
}

/* The streaming writers (decoder_writers); the defaults of report.c. */
static char *write_config(const pr_event_envelope *env, const pr_flat_profile *fp, size_t hint,
                          size_t *len)
{
    pr_jsonw w;
    pr_jsonw_init(&w, hint);
    pr_event_config_write(&w, env, fp);
    return pr_jsonw_finish(&w, len);
}

static pr_status write_status(const pr_event_envelope *env, const char *xml, size_t xml_len,
                              const pr_xml_limits *lim, char **text, size_t *len,
                              size_t *root_children, char *root_name, size_t root_name_len,
                              pr_xml_error *why, char *err, size_t errlen)
{
    decoder_status_doc *doc = NULL;
    pr_status st = decoder_status_parse(xml, xml_len, lim, &doc, root_children, root_name,
                                        root_name_len, why, err, errlen);
    *text = NULL;
    if (st != PR_OK)
        return st;
    pr_jsonw w;
    pr_jsonw_init(&w, xml_len + 1024);
    pr_event_begin(&w, PR_SCHEMA_STATUS, env);
    pr_jsonw_keyz(&w, "status");
    decoder_status_write(doc, &w);
    pr_jsonw_obj_end(&w);
    decoder_status_free(doc);
    *text = pr_jsonw_finish(&w, len);
    return *text ? PR_OK : pr_err(PR_EFATAL, err, errlen, "out of memory");
}

static char *write_dlq(pr_dlq_reason reason, const char *detail, const char *mac, const char *topic,
                       int32_t partition, int64_t offset, const pr_event_header *headers,
                       size_t nheaders, const unsigned char *payload, size_t payload_len,
                       size_t max_payload, size_t *len)
{
    /* The payload's base64 is most of a dead letter. */
    size_t keep = payload_len < max_payload ? payload_len : max_payload;
    pr_jsonw w;
    pr_jsonw_init(&w, keep / 3 * 4 + 4096);
    pr_event_dlq_write(&w, reason, detail, mac, topic, partition, offset, headers, nheaders,
                       payload, payload_len, max_payload);
    return pr_jsonw_finish(&w, len);
}

static const decoder_writers streaming_writers = {write_config, write_status, write_dlq};

static const decoder_writers *writers(const job *j)
{
    return j->opts->writers ? j->opts->writers : &streaming_writers;
}

/* Parses the plaintext and writes the event into out. 0, -1 dead, -2 out of memory. */
static int build_event(job *j, pr_kind kind)
{
    env_bufs b;
    pr_event_envelope env;
    pr_xml_error why = PR_XML_OK;
    char err[200];
    int rc = -1;
    decoder_output *out = j->out;
    envelope_fill(j, &b, &env);
    if (kind != PR_KIND_STATUS) {
        pr_flat_profile fp;
        memset(&fp, 0, sizeof fp);
        pr_status st = pr_flatprofile_parse((const char *)j->data, j->len, &j->opts->limits, &fp,
                                            &why, err, sizeof err);
        if (st == PR_OK) {
            env.kind = pr_kind_name(kind);
            /* A config event is about as long as the profile's XML, longer when values are
             * short (names are written twice when they have a ua): room for half as much again. */
            out->value = writers(j)->config(&env, &fp, j->len + j->len / 2 + 1024, &out->value_len);
            out->topic = PR_TOPIC_CONFIG;
            rc = out->value ? 0 : -2;
        } else if (st == PR_EFATAL) {
            rc = -2;
        } else if (why != PR_XML_NOT_PROFILE) {
            rc = dead(j, xml_reason(why), "%s", err);
        }
        pr_flatprofile_release(&fp);
        if (rc != -1 || why != PR_XML_NOT_PROFILE)
            return rc;
    }
    /* A status report, by kind or by shape. */
    size_t children = 0;
    char root[64] = "";
    env.kind = pr_kind_name(PR_KIND_STATUS);
    pr_status st =
        writers(j)->status(&env, (const char *)j->data, j->len, &j->opts->limits, &out->value,
                           &out->value_len, &children, root, sizeof root, &why, err, sizeof err);
    if (st == PR_EFATAL)
        return -2;
    if (st != PR_OK)
        return dead(j, xml_reason(why), "%s", err);
    if (kind != PR_KIND_STATUS && (children == 0 || strcasecmp(root, "html") == 0)) {
        decoder_output_release(out);
        return dead(j, PR_DLQ_NOT_A_REPORT,
                    "well-formed XML (root <%.40s>) with no flat-profile and nothing a status "
                    "report would hold",
                    root);
    }
    out->topic = PR_TOPIC_STATUS;
    return 0;
}

static pr_status emit_dlq(job *j, char *err, size_t errlen)
{
    const decoder_record *rec = j->rec;
    pr_event_header hb[64];
    size_t nh = rec->nheaders < 64 ? rec->nheaders : 64;
    for (size_t i = 0; i < nh; i++) {
        hb[i].name = rec->headers[i].name;
        hb[i].value = rec->headers[i].value;
        hb[i].len = rec->headers[i].len;
    }
    j->out->topic = PR_TOPIC_DLQ;
    j->out->reason = j->reason;
    j->out->value = writers(j)->dlq(j->reason, j->detail, j->mac, rec->topic, rec->partition,
                                    rec->offset, hb, nh, rec->value, rec->value_len,
                                    j->opts->max_dlq_payload, &j->out->value_len);
    if (!j->out->value)
        return pr_err(PR_EFATAL, err, errlen, "out of memory writing a dead letter");
    return PR_OK;
}

pr_status decoder_report_decode(const decoder_record *rec, const decoder_opts *opts,
                                decoder_output *out, char *err, size_t errlen)
{
    job j;
    char kindbuf[16];
    char merr[128];
    pr_status st = PR_OK;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&j, 0, sizeof j);
    j.rec = rec;
    j.opts = opts;
    j.out = out;
    j.data = rec->value;
    j.len = rec->value_len;
    j.encryption = PR_ENC_NONE;
    headers_index(rec, j.hdr);
    pr_kind kind = pr_kind_parse(header_copy(j.hdr[H_KIND], kindbuf, sizeof kindbuf));

    if (!rec->key ||
        pr_mac_parse((const char *)rec->key, rec->key_len, j.mac, merr, sizeof merr) != PR_OK) {
        j.mac[0] = '\0';
        rc = dead(&j, PR_DLQ_NO_MAC, "record key is not a MAC: %s", rec->key ? merr : "no key");
    } else if (rec->value_len == 0 || !rec->value) {
        rc = dead(&j, PR_DLQ_EMPTY, "empty body");
    } else if (rec->value_len > opts->max_body) {
        rc = dead(&j, PR_DLQ_TOO_LARGE, "body of %zu bytes is over the %zu-byte limit",
                  rec->value_len, opts->max_body);
    } else if ((rc = decrypt(&j)) == 0 && (rc = gunzip(&j)) == 0) {
        if (j.len == 0)
            rc = dead(&j, PR_DLQ_EMPTY, "empty plaintext");
        else
            rc = build_event(&j, kind);
    }
    snprintf(out->mac, sizeof out->mac, "%s", j.mac);
    if (rc == -2) {
        st = pr_err(PR_EFATAL, err, errlen, "out of memory decoding a record");
        goto out;
    }
    if (rc == 0) {
        if (out->value_len <= opts->max_event)
            goto out;
        dead(&j, PR_DLQ_TOO_LARGE, "event of %zu bytes is over the %zu-byte limit", out->value_len,
             opts->max_event);
        decoder_output_release(out);
    }
    st = emit_dlq(&j, err, errlen);
out:
    free(j.owned);
    return st;
}

pr_status decoder_report_refused(const decoder_record *rec, const decoder_opts *opts,
                                 size_t refused_len, decoder_output *out, char *err, size_t errlen)
{
    job j;
    char merr[128];
    decoder_opts o = *opts;
    pr_status st;
    memset(out, 0, sizeof *out);
    memset(&j, 0, sizeof j);
    o.max_dlq_payload = 0; /* the smallest dead letter there is */
    j.rec = rec;
    j.opts = &o;
    j.out = out;
    if (!rec->key ||
        pr_mac_parse((const char *)rec->key, rec->key_len, j.mac, merr, sizeof merr) != PR_OK)
        j.mac[0] = '\0';
    dead(&j, PR_DLQ_TOO_LARGE,
         "the broker refused the output of %zu bytes (max.message.bytes of the topic or "
         "message.max.bytes); payload left out",
         refused_len);
    snprintf(out->mac, sizeof out->mac, "%s", j.mac);
    st = emit_dlq(&j, err, errlen);
    return st;
}
