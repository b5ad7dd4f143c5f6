/*
 * testsupport.h - helpers shared by the tests: files, temp dirs, running commands, the test
 * broker's address, unique topic names, waiting on a condition with a deadline.
 */
#ifndef PR_TESTSUPPORT_H
#define PR_TESTSUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "role.h"

/* Reads a whole file; NULL if it cannot. *len gets the size. Caller frees. */
char *ts_read_file(const char *path, size_t *len);
/* The same for a gzip file (gunzipped; a fixture kept compressed, e.g. an SQL dump). */
char *ts_read_gzfile(const char *path, size_t *len);
/* n copies of c as a string (malloc'd; aborts the test process when out of memory). */
char *ts_repeat(char c, size_t n);
/* Writes len bytes; 0 or -1. */
int ts_write_file(const char *path, const void *buf, size_t len);
/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path. A directory the test does not
 * ts_rmtree (it failed half-way) is removed when the process exits (PR_TEST_KEEP=1 keeps it). */
char *ts_mkdtemp(const char *tag);
/* rm -rf path (tests only). */
void ts_rmtree(const char *path);
/* A cmocka setup and teardown: *state is a new temporary directory (its path, a char *), removed
 * after the test however it ended. TS_TMPDIR_TEST (testmain.h) names a test with both. */
int ts_tmpdir_setup(void **state);
int ts_tmpdir_teardown(void **state);

/* Runs `sh -c cmd`, returns its exit status (or -1), stdout captured into *out (malloc'd,
 * may be NULL). */
int ts_run(const char *cmd, char **out);

/*
 * The bootstrap address of the real Kafka broker (PHONEREPORT_TEST_BROKERS, set by
 * tests/kafka/broker.sh through scripts/test.sh). Integration tests call this first: it
 * fails the test (never skips) when the variable is missing.
 */
const char *ts_brokers(void);
/* The test PostgreSQL server (PHONEREPORT_TEST_PG, set by tests/pg/pg.sh run); exits 1 (a
 * failure, never a skip) when it is not set. */
const char *ts_pg(void);
/* A connection string to a new, empty schema of the test server (its own name, so tests run in
 * parallel): ts_pg() with options=-csearch_path=<schema>. Caller frees. */
char *ts_pg_schema_new(const char *tag);
/* Runs one SQL text on conninfo; 0 on success. */
int ts_pg_exec(const char *conninfo, const char *sql);

/* A role's cross-field checks (role->cfg_check) on a loaded config, every problem printed on
 * stderr; the checks' status. */
pr_status ts_cfg_check(const pr_role *role, const void *cfg, const pr_common_cfg *common);

/* A topic prefix unique to this process and call, e.g. "t1234-5-". Caller frees. */
char *ts_unique_prefix(const char *tag);

/* Milliseconds on a monotonic clock. */
long long ts_now_ms(void);

/*
 * Fixed deadlines scaled for slow builds and machines (ASan, a loaded CI host), like
 * librdkafka's TEST_TIMEOUT_MULTIPLIER: PR_TEST_TIMEOUT_SCALE in the environment, a positive
 * number up to 1000 (default 1; anything else is an error that stops the test). Every fixed
 * deadline or time-out of a wait goes through these; the shell tests use tests/support/timeout.sh.
 */
double ts_timeout_scale(void);
/* ms * ts_timeout_scale(), rounded up. */
long long ts_scaled_ms(long long ms);
/* A deadline ms from now, scaled: ts_now_ms() + ts_scaled_ms(ms). */
long long ts_deadline_ms(long long ms);
/* A time-out argument of an API call (rd_kafka_flush and the like), scaled; INT_MAX at most. */
int ts_timeout_ms(int ms);

/* Validates a JSON document (a file path) against proto/schemas/<schema>.schema.json with
 * the independent validator (Python jsonschema). Returns 0 if valid; prints the errors. */
int ts_validate_schema(const char *schema, const char *json_path);

/* Parses xml[0..len) with the independent XML parser (support/xml_parse.py: Python's
 * xml.etree). Returns its JSON output {"root": tag, "params": [[tag, text, ua], ...]}
 * (caller frees), or NULL, with the parser's message and the document on stderr, when the
 * document is not well-formed. */
char *ts_xml_parse(const char *xml, size_t len);

#endif
