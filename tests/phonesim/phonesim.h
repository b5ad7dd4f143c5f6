/*
 * phonesim.h - the phone simulator `phonereport-sim` (a test tool, not part of the service).
 *
 * It plays a fleet of Cisco MPP phones against an ingest edge (`play`), checks what the sink
 * rebuilt against what the fleet was acknowledged for (`verify`), sends a catalogue of
 * invalid reports with the dead-letter reason each should produce (`bad`) and writes the
 * decoder's keystore for a fleet (`keys`), and answers `Event: report` SIP NOTIFYs with a
 * Digest challenge and then an upload of the phone's full report (`sip`).
 *
 * DESIGN: everything a phone is (MAC, keys, method, profile variation) derives from the seed
 * and the phone's index, so `keys` and `play` with the same --seed/--phones/--encrypt agree
 * without sharing a file. Report bodies are rendered from the real 8832 profile in
 * tests/data/samples; encryption uses our own small encoders over OpenSSL EVP (checked in
 * test_phonesim_crypto against the `openssl` command line, http_ece and the RFC 8188 vector).
 */
#ifndef PHONESIM_H
#define PHONESIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mac.h"

/* ---- small utilities (util.c) ---------------------------------------------------------- */

/* splitmix64: a tiny deterministic generator; one per phone, seeded from (seed, index). */
typedef struct sim_rng {
    uint64_t s;
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(sim_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t sim_rng_below(sim_rng *r, uint64_t n);
/* True with probability pct/100. */
bool sim_rng_chance(sim_rng *r, unsigned pct);

/* A growable byte buffer; data is always NUL-terminated (not counted in len). */
typedef struct sim_buf {
    char *data;
    size_t len, cap;
} sim_buf;

int sim_buf_put(sim_buf *b, const void *p, size_t n); /* 0 or -1 (out of memory) */
int sim_buf_puts(sim_buf *b, const char *s);
int sim_buf_printf(sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with &, <, >, " escaped for XML text. */
int sim_buf_put_xml_text(sim_buf *b, const char *s);
void sim_buf_release(sim_buf *b);

/* Milliseconds on the monotonic clock. */
long long sim_now_ms(void);
/* Sleeps up to ms, in slices, returning early when *stop becomes true. */
void sim_sleep_ms(long long ms, const volatile int *stop);

/* Base64url without padding (for IKMs written to the keystore). out needs 4*n/3+4 bytes. */
void sim_b64url(const unsigned char *in, size_t n, char *out);

/* Writes buf to path atomically (temp file + rename). 0 or -1 with errno. */
int sim_write_file(const char *path, const char *buf, size_t len);

/* ---- encryption (crypto.c) ------------------------------------------------------------- */

/* `openssl enc -e -aes-256-cbc -md <md> -k <password>`: "Salted__" + salt + ciphertext.
 * md is "md5" or "sha256". salt NULL draws 8 random bytes. Appends to out; 0 or -1. */
int sim_crypto_openssl_enc(const char *md, const char *password, const unsigned char *salt,
                           const void *in, size_t len, sim_buf *out);

/* RFC 8188 aes128gcm with record size rs (>= 18) and key id keyid (idlen <= 255), no padding.
 * salt NULL draws 16 random bytes. Appends to out; 0 or -1. */
int sim_crypto_aes128gcm(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
                         uint32_t rs, const char *keyid, const void *in, size_t len, sim_buf *out);

/* ---- the fleet (fleet.c) --------------------------------------------------------------- */

typedef enum sim_enc { SIM_ENC_NONE, SIM_ENC_CBC_MD5, SIM_ENC_CBC_SHA256, SIM_ENC_ECE } sim_enc;
const char *sim_enc_name(sim_enc e);

/* How --encrypt/--method choose per phone: one value for all, or mixed by index. */
typedef enum sim_enc_mode {
    SIM_ENCM_NONE,
    SIM_ENCM_CBC_MD5,
    SIM_ENCM_CBC_SHA256,
    SIM_ENCM_ECE,
    SIM_ENCM_MIXED
} sim_enc_mode;
int sim_enc_mode_parse(const char *s, sim_enc_mode *out); /* 0 or -1 */

typedef enum sim_method_mode { SIM_METHOD_PUT, SIM_METHOD_POST, SIM_METHOD_MIXED } sim_method_mode;
int sim_method_mode_parse(const char *s, sim_method_mode *out);

/* The real profile every simulated phone starts from. Read-only once loaded. */
typedef struct sim_base {
    size_t n;
    char **name;
    char **value;
    char (*ua)[3];
    size_t *rw; /* indices of ua="rw" parameters: what users change on the phone */
    size_t n_rw;
} sim_base;

/* Loads and parses the profile with pr_flatprofile_parse. 0, or -1 with a message in err. */
int sim_base_load(const char *path, sim_base *base, char *err, size_t errlen);
void sim_base_release(sim_base *base);
/* Index of a parameter, or (size_t)-1. */
size_t sim_base_find(const sim_base *base, const char *name);

/* A value array over the base parameters; NULL means absent. An entry equal (as a pointer)
 * to base->value[i] is borrowed from the base, any other non-NULL entry is owned. */
typedef char **sim_values;
sim_values sim_values_new(const sim_base *base);                                   /* all absent */
int sim_values_set(const sim_base *base, sim_values v, size_t i, const char *val); /* copies */
int sim_values_copy(const sim_base *base, sim_values dst, const sim_values src);
void sim_values_free(const sim_base *base, sim_values v);

/* A simulated phone. Identity and keys derive from (seed, index) only. */
typedef struct sim_phone {
    size_t index;
    char mac[PR_MAC_LEN + 1];
    sim_enc enc;
    bool put;              /* HTTP PUT, else POST */
    bool chunked;          /* upload with Transfer-Encoding: chunked */
    bool send_ce;          /* aes128gcm: send Content-Encoding: aes128gcm */
    char password[33];     /* openssl enc passphrase (CBC phones) */
    unsigned char ikm[16]; /* RFC 8188 IKM octets (ECE phones) */
    size_t ikm_len;
    char ikm_text[48];        /* the IKM as written to the keystore */
    const char *ikm_encoding; /* "text", "base64url" or "hex" */
} sim_phone;

/* Fills phone i of a fleet. MACs are locally administered unicast, distinct within a fleet
 * (sim_fleet_identities makes them so). */
void sim_phone_identity(uint64_t seed, size_t index, sim_enc_mode enc, sim_method_mode method,
                        sim_phone *p);
/* All identities of a fleet, with MAC collisions resolved; caller frees. NULL on OOM. */
sim_phone *sim_fleet_identities(uint64_t seed, size_t n, sim_enc_mode enc, sim_method_mode method);

/* Sets up the phone's own starting profile (per-phone Display_Name, User_ID, Station_Name,
 * report rule, a few preferences) in v, which starts as a copy of the base. */
int sim_phone_profile(const sim_base *base, const sim_phone *p, const char *rule_base, sim_rng *rng,
                      sim_values v);

/* Report bodies. */
int sim_render_full(const sim_base *base, const sim_values v, sim_buf *out);
int sim_render_delta(const sim_base *base, const sim_values v, const size_t *idx, size_t n,
                     sim_buf *out);
int sim_render_status(const sim_phone *p, long long uptime_s, sim_rng *rng, sim_buf *out);

/* Picks 1..max_changes parameters of v and changes them as a user would on the phone
 * (occasionally to the empty value); writes their indices to idx (room for max_changes) and
 * returns how many, or -1 on OOM. */
int sim_local_change(const sim_base *base, sim_values v, sim_rng *rng, size_t max_changes,
                     size_t *idx);

/* Encrypts body as the phone would (none, CBC with its password, aes128gcm with its IKM). */
int sim_encrypt(const sim_phone *p, const sim_buf *plain, sim_buf *out);

/* The phones `bad` uses: fixed locally administered MACs 02bad00000NN, never produced by
 * sim_phone_identity. The keystore always lists the ones that need a key. */
#define SIM_BAD_PASSWORD "bad-report-password"
#define SIM_BAD_IKM      "BadReportIKM0001"
#define SIM_BAD_MAC_CBC  "02bad0000001" /* keystore: password SIM_BAD_PASSWORD */
#define SIM_BAD_MAC_ECE  "02bad0000003" /* keystore: IKM SIM_BAD_IKM (text) */

/* Writes the decoder keystore for phones[0..n) (plus the `bad` phones) to path. */
int sim_keystore_write(const char *path, const sim_phone *phones, size_t n, char *err,
                       size_t errlen);

/* ---- HTTP (http.c) -------------------------------------------------------------------- */

typedef enum sim_auth { SIM_AUTH_NONE, SIM_AUTH_BASIC, SIM_AUTH_DIGEST } sim_auth;

typedef struct sim_req {
    const char *url;
    bool put; /* PUT, else POST */
    const char *user_agent;
    const char *content_encoding; /* NULL: no Content-Encoding header */
    const void *body;
    size_t len;
    bool chunked;  /* Transfer-Encoding: chunked instead of Content-Length */
    sim_auth auth; /* answered only when challenged, as a phone does */
    const char *user, *password;
} sim_req;

typedef struct sim_resp {
    long status;          /* final HTTP status, 0 if none */
    long retry_after_s;   /* Retry-After of the final response, -1 if absent */
    int curl_code;        /* CURLcode, 0 = the exchange completed */
    bool maybe_delivered; /* a transport failure after the request may have reached the edge */
    char request_id[64];  /* X-Request-Id of the final response */
} sim_resp;

/* One upload on handle `curl` (a CURL *, reused: keep-alive). Returns 0 when an HTTP status
 * was received (any), -1 on a transport failure (see rs->curl_code). */
int sim_http_upload(void *curl, const sim_req *rq, sim_resp *rs);
/* GET url into body (replaced). Returns the HTTP status, or -1 on a transport failure. */
long sim_http_get(void *curl, const char *url, sim_buf *body);

/* ---- commands -------------------------------------------------------------------------- */

int sim_play_main(int argc, char **argv);
int sim_verify_main(int argc, char **argv);
int sim_bad_main(int argc, char **argv);
int sim_keys_main(int argc, char **argv);
int sim_sip_main(int argc, char **argv); /* sip.c: phones answering NOTIFY (Event: report) */

/* Exit codes. */
#define SIM_EXIT_OK    0
#define SIM_EXIT_FAIL  1 /* mismatches, reports not acknowledged, setup failure */
#define SIM_EXIT_USAGE 64

#endif
