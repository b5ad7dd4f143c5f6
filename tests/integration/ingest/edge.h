/*
 * edge.h - helpers of the ingest integration tests: an in-process edge (ingest_new/start on
 * 127.0.0.1:0 with a unique topic prefix), requests through curl, raw sockets for what curl
 * will not send, and an independent reader of the raw topic (kcat).
 */
#ifndef INGEST_TEST_EDGE_H
#define INGEST_TEST_EDGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ingest.h"

typedef struct edge {
    ingest_cfg *cfg;
    pr_common_cfg common;
    pr_cfg_section sec;
    pr_metrics *metrics;
    ingest *r;
    char *prefix;
    char topic[256];
    char brokers[256];
    unsigned port;
    char *dir;        /* scratch directory for request and response files */
    char creds[4200]; /* with edge_start_auth: the credentials file (rewrite it, then reload) */
    bool https;       /* set when the args name --tls-cert; curl then uses -k */
} edge;

/* Loads the config from `args` (NULL-terminated flags, e.g. "--max-body-bytes=64k") on top of
 * --brokers, --topic-prefix and --listen=127.0.0.1:0, starts the edge and waits until it is
 * ready. Fails the test on any error. */
void edge_start(edge *e, const char *brokers, const char *tag, const char *const *args);
/* An edge with `--auth-file` naming a file of the scratch directory that holds `creds` (the
 * text of a credentials file; e->creds is its path) and --auth-scheme=scheme (basic, digest). */
void edge_start_auth(edge *e, const char *brokers, const char *tag, const char *creds,
                     const char *scheme);
void edge_stop(edge *e);
/* A socket connected to the edge (fails the test if it cannot connect). */
int edge_dial(edge *e);

typedef struct edge_resp {
    int status; /* 0 when no HTTP answer came */
    char request_id[64];
    char body[65536];
    char www_authenticate[512];
    char allow[128];
    char retry_after[32];
    char connection[32];
} edge_resp;

/* Runs curl with `opts` (shell words, e.g. "-X PUT --data-binary @f") against path. Safe to
 * call from several threads at once. */
void edge_curl(edge *e, const char *opts, const char *path, edge_resp *out);

/* Writes len bytes to a scratch file and returns its path (static buffer per call slot). */
const char *edge_file(edge *e, const char *name, const void *data, size_t len);

/* Sends raw bytes on a new connection, then reads until the server closes it or timeout_ms
 * passes. Returns the HTTP status of the first answer, 0 if none; *closed tells whether the
 * server closed the connection. */
int edge_raw(edge *e, const char *data, size_t len, long timeout_ms, bool *closed);
/* The same, with the answer's bytes (up to cap - 1, NUL-terminated) in resp; closed may be
 * NULL. timeout_ms is scaled (PR_TEST_TIMEOUT_SCALE). */
int edge_exchange(edge *e, const char *data, size_t len, long timeout_ms, char *resp, size_t cap,
                  bool *closed);

/* Every record of the raw topic as kcat -J objects (key, partition, offset, headers array). */
json_t *edge_consume(edge *e);
/* The value of one record, byte for byte; caller frees. */
char *edge_payload(edge *e, int partition, long long offset, size_t *len);
/* A header of a kcat -J record, or NULL. */
const char *edge_header(json_t *rec, const char *name);
/* The record whose pr-request-id is id, or NULL (borrowed from records). */
json_t *edge_find(json_t *records, const char *id);

/* Polls GET /readyz until its status is `want` (200 or 503) or deadline_ms passes. */
bool edge_wait_ready(edge *e, int want, long long deadline_ms);

#endif
