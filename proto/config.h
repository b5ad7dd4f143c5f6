/*
 * config.h - table-driven configuration: one table per component drives command-line flags,
 * PHONEREPORT_* environment variables, the optional JSON file, defaults, bounds, --help and
 * --print-config.
 *
 * DESIGN: a component declares `const pr_cfg_entry table[]` (terminated by {0}) describing the
 * fields of its own config struct (offsetof). pr_cfg_load() fills one or more such structs
 * (sections) in this order, later wins: defaults, JSON file (--config FILE or
 * PHONEREPORT_CONFIG), environment, flags. An entry "max-body-bytes" is the flag
 * --max-body-bytes, the variable PHONEREPORT_MAX_BODY_BYTES and the JSON key
 * "max-body-bytes". Any `kafka.<property>` (flag --kafka.<property>=V, JSON object "kafka",
 * variable PHONEREPORT_KAFKA_<PROPERTY> with '_' read as '.') is kept verbatim for librdkafka.
 * Every error is collected; pr_cfg_load() reports them all, and the caller exits 78
 * (PR_EXIT_CONFIG). Names are unique across the sections loaded together, so `run` loads the
 * sections of all three roles at once.
 *
 * Ownership: string fields are heap copies owned by the struct; pr_cfg_release() frees them.
 */
#ifndef PR_CONFIG_H
#define PR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum pr_cfg_type {
    PR_CFG_STR,    /* char *  (NULL when unset and no default) */
    PR_CFG_SECRET, /* char *, masked in --print-config */
    PR_CFG_INT,    /* long long, within [min, max] */
    PR_CFG_BOOL,   /* bool: true/false/yes/no/1/0/on/off; a bare flag means true */
    PR_CFG_MS,     /* long long milliseconds; accepts "250ms", "5s", "2m", "1h" or a number of ms */
    PR_CFG_BYTES,  /* long long bytes; accepts "512", "64k", "4m", "1g" (powers of 1024) */
} pr_cfg_type;

typedef struct pr_cfg_entry {
    const char *name; /* "max-body-bytes"; NULL terminates a table */
    pr_cfg_type type;
    const char *def;    /* default as text, or NULL for unset */
    size_t offset;      /* offsetof(struct, field) */
    long long min, max; /* bounds for INT/MS/BYTES; ignored when min == max == 0 */
    const char *help;   /* one line for --help */
} pr_cfg_entry;

/*
 * The rows of a table, for the fields of the struct its file names first
 * (`#define PR_CFG_STRUCT sink_cfg` ... `#undef PR_CFG_STRUCT`):
 *   PR_CFG_OPT("name", PR_CFG_STR, "default", field, "help")           no bounds
 *   PR_CFG_NUM("name", PR_CFG_MS, "default", field, min, max, "help")   a number in [min, max]
 *   PR_CFG_END                                                          the end of the table
 */
#define PR_CFG_OPT(name, type, def, field, help)                                                   \
    {                                                                                              \
        name, type, def, offsetof(PR_CFG_STRUCT, field), 0, 0, help                                \
    }
#define PR_CFG_NUM(name, type, def, field, min, max, help)                                         \
    {                                                                                              \
        name, type, def, offsetof(PR_CFG_STRUCT, field), min, max, help                            \
    }
#define PR_CFG_END                                                                                 \
    {                                                                                              \
        NULL, 0, NULL, 0, 0, 0, NULL                                                               \
    }

typedef struct pr_cfg_section {
    const char *title;         /* heading in --help, e.g. "ingest (HTTP edge)" */
    const pr_cfg_entry *table; /* terminated by an entry whose name is NULL */
    void *base;                /* the struct the offsets point into */
    /* Environment names: this prefix + the upper-cased name ('-' as '_'); NULL =
     * "PHONEREPORT_" (a tool whose option names are short gives "PHONEREPORT_<TOOL>_"). */
    const char *env_prefix;
} pr_cfg_section;

/* kafka.<property> pass-through, in the order given (later duplicates win in librdkafka). */
/* A copy of s (caller frees; NULL when out of memory) with every password masked as ***: the
 * user:password@ of a URI and the value of any password= (libpq keyword form, URI query).
 * --print-config shows string settings through it; use it for anything that logs one. */
char *pr_cfg_mask_secrets(const char *s);

typedef struct pr_cfg_kv {
    char *key; /* without "kafka." */
    char *value;
} pr_cfg_kv;

/* Settings every role has. */
typedef struct pr_common_cfg {
    char *brokers;      /* bootstrap.servers; NULL means "embedded" for run */
    char *topic_prefix; /* default "phonereport." */
    char *log_level;    /* debug|info|warn|error */
    pr_cfg_kv *kafka;   /* kafka.* pass-through */
    size_t kafka_len;
} pr_common_cfg;

extern const pr_cfg_entry pr_common_cfg_table[];

typedef enum pr_cfg_result {
    PR_CFG_OK,         /* loaded; run */
    PR_CFG_EXIT_OK,    /* --help, --print-config or --version was answered: exit 0 */
    PR_CFG_EXIT_ERROR, /* errors were printed to `out_err`: exit PR_EXIT_CONFIG */
} pr_cfg_result;

/*
 * Loads argv[1..] (argv[0] is the subcommand) and the environment into the sections and
 * `common` (which may be NULL for tools without Kafka). `usage` is the first line of --help
 * (e.g. "phonereport ingest [options]"), `about` a paragraph that follows it. Help and
 * print-config go to out; errors, one per line, to out_err. `envp` may be NULL to use environ.
 */
pr_cfg_result pr_cfg_load(const pr_cfg_section *sections, size_t nsections, pr_common_cfg *common,
                          int argc, char **argv, char **envp, const char *usage, const char *about,
                          FILE *out, FILE *out_err);

/* Frees the string fields of every section and of common; safe on a zeroed struct. */
void pr_cfg_release(const pr_cfg_section *sections, size_t nsections, pr_common_cfg *common);

/* Releases the section's strings, then frees its base (a heap struct); a NULL base is a
 * no-op. The X_cfg_free() of every role. */
void pr_cfg_section_free(pr_cfg_section s);

/* Looks up a kafka.* pass-through value; NULL if absent. */
const char *pr_cfg_kafka_get(const pr_common_cfg *common, const char *key);

/* Parsers used by the loader, exposed for tests. Return 0 or -1. */
int pr_cfg_parse_ms(const char *s, long long *out);
int pr_cfg_parse_bytes(const char *s, long long *out);
int pr_cfg_parse_bool(const char *s, bool *out);

#endif
