/*
 * config.c - the table-driven configuration loader (see config.h for the rules).
 *
 * DESIGN: every source (defaults, JSON file, environment, flags) is turned into text and
 * goes through one setter, set_value(), so bounds and type checks are the same whatever the
 * origin. Errors are collected in a list and printed together after all sources were read;
 * nothing is opened or started by the loader.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "status.h"

extern char **environ;

#define PR_CFG_STRUCT pr_common_cfg
const pr_cfg_entry pr_common_cfg_table[] = {
    PR_CFG_OPT("brokers", PR_CFG_STR, NULL, brokers,
               "Kafka bootstrap servers, host:port[,host:port] (run: empty = embedded broker)"),
    PR_CFG_OPT("topic-prefix", PR_CFG_STR, "phonereport.", topic_prefix,
               "prefix of every topic name"),
    PR_CFG_OPT("log-level", PR_CFG_STR, "info", log_level,
               "debug|info|warn|error (JSON lines on stderr)"),
    PR_CFG_END,
};
#undef PR_CFG_STRUCT

/* One entry with the struct it writes to. */
typedef struct slot {
    const pr_cfg_entry *e;
    void *base;
    const char *env_prefix; /* its section's, never NULL */
} slot;

#define ENV_PREFIX "PHONEREPORT_"

typedef struct slots {
    slot *v;
    size_t len;
} slots;

static const slot *find_slot(const slots *s, const char *name, size_t namelen)
{
    for (size_t i = 0; i < s->len; i++)
        if (strlen(s->v[i].e->name) == namelen && strncmp(s->v[i].e->name, name, namelen) == 0)
            return &s->v[i];
    return NULL;
}

int pr_cfg_parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "1", "on"}, *const f[] = {"false", "no", "0",
                                                                             "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A non-negative integer followed by an optional unit from `units` (name, factor). */
static int parse_scaled(const char *s, long long *out, const char *const *unames,
                        const long long *factors, size_t nunits)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    if (*end == '\0') {
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < nunits; i++) {
        if (strcasecmp(end, unames[i]) == 0) {
            if (v > LLONG_MAX / factors[i])
                return -1;
            *out = v * factors[i];
            return 0;
        }
    }
    return -1;
}

int pr_cfg_parse_ms(const char *s, long long *out)
{
    static const char *const u[] = {"ms", "s", "m", "h"};
    static const long long f[] = {1, 1000, 60000, 3600000};
    return parse_scaled(s, out, u, f, 4);
}

int pr_cfg_parse_bytes(const char *s, long long *out)
{
    static const char *const u[] = {"b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib"};
    static const long long f[] = {1,       1024,    1024,    1024,      1048576,
                                  1048576, 1048576, 1 << 30, 1LL << 30, 1LL << 30};
    return parse_scaled(s, out, u, f, 10);
}

/* Appends n bytes of src to the buffer at *o (sized by the caller). */
static void put(char **o, const char *src, size_t n)
{
    memcpy(*o, src, n);
    *o += n;
}

char *pr_cfg_mask_secrets(const char *in)
{
    size_t len = strlen(in);
    char *out = malloc(len + 4 * (len / 9 + 2) + 1), *o = out; /* each mask adds at most 3 */
    const char *p = in, *scheme = strstr(in, "://");
    if (!out)
        return NULL;
    if (scheme) { /* URI userinfo user:password@ */
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            put(&o, in, (size_t)(colon + 1 - in));
            put(&o, "***", 3);
            p = at;
        }
    }
    while (*p) { /* password=value: libpq keywords and URI query parameters */
        const char *k = strstr(p, "password=");
        if (!k) {
            put(&o, p, strlen(p));
            break;
        }
        k += 9;
        put(&o, p, (size_t)(k - p));
        if (*k == '\'') { /* a quoted keyword value, with \' and \\ escapes */
            const char *q = k + 1;
            while (*q && *q != '\'')
                q += q[0] == '\\' && q[1] ? 2 : 1;
            p = *q ? q + 1 : q;
        } else {
            p = k + strcspn(k, "& \t");
        }
        put(&o, "***", 3);
    }
    *o = '\0';
    return out;
}

static void set_value(const slot *sl, const char *text, const char *origin, pr_errlist *errs)
{
    const pr_cfg_entry *e = sl->e;
    char *field = (char *)sl->base + e->offset;
    long long v = 0;
    bool bounded = e->min != 0 || e->max != 0;

    switch (e->type) {
    case PR_CFG_STR:
    case PR_CFG_SECRET: {
        char **p = (char **)(void *)field;
        char *copy = strdup(text);
        if (!copy) {
            pr_errlist_add(errs, "--%s: out of memory", e->name);
            return;
        }
        free(*p);
        *p = copy;
        return;
    }
    case PR_CFG_BOOL:
        if (pr_cfg_parse_bool(text, (bool *)(void *)field) != 0)
            pr_errlist_add(errs, "--%s (%s): '%s' is not a boolean (true/false)", e->name, origin,
                           text);
        return;
    case PR_CFG_INT: {
        char *end;
        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno || end == text || *end) {
            pr_errlist_add(errs, "--%s (%s): '%s' is not an integer", e->name, origin, text);
            return;
        }
        break;
    }
    case PR_CFG_MS:
        if (pr_cfg_parse_ms(text, &v) != 0) {
            pr_errlist_add(errs, "--%s (%s): '%s' is not a duration (e.g. 250ms, 5s, 2m)", e->name,
                           origin, text);
            return;
        }
        break;
    case PR_CFG_BYTES:
        if (pr_cfg_parse_bytes(text, &v) != 0) {
            pr_errlist_add(errs, "--%s (%s): '%s' is not a size (e.g. 512k, 4m)", e->name, origin,
                           text);
            return;
        }
        break;
    }
    if (bounded && (v < e->min || v > e->max)) {
        pr_errlist_add(errs, "--%s (%s): %s is out of range [%lld, %lld]", e->name, origin, text,
                       e->min, e->max);
        return;
    }
    *(long long *)(void *)field = v;
}

static void kafka_set(pr_common_cfg *c, const char *key, const char *value, pr_errlist *errs)
{
    if (!c) {
        pr_errlist_add(errs, "kafka.%s: this command takes no Kafka settings", key);
        return;
    }
    if (!*key) {
        pr_errlist_add(errs, "kafka.: a Kafka property name is missing");
        return;
    }
    pr_cfg_kv *n = realloc(c->kafka, (c->kafka_len + 1) * sizeof *n);
    char *k = strdup(key), *v = strdup(value);
    if (n)
        c->kafka = n;
    if (!n || !k || !v) {
        free(k);
        free(v);
        pr_errlist_add(errs, "kafka.%s: out of memory", key);
        return;
    }
    n[c->kafka_len].key = k;
    n[c->kafka_len].value = v;
    c->kafka_len++;
}

const char *pr_cfg_kafka_get(const pr_common_cfg *common, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; common && i < common->kafka_len; i++)
        if (strcmp(common->kafka[i].key, key) == 0)
            v = common->kafka[i].value; /* last wins */
    return v;
}

static const char *type_hint(pr_cfg_type t)
{
    switch (t) {
    case PR_CFG_STR: return "TEXT";
    case PR_CFG_SECRET: return "SECRET";
    case PR_CFG_INT: return "N";
    case PR_CFG_BOOL: return "[BOOL]";
    case PR_CFG_MS: return "DURATION";
    case PR_CFG_BYTES: return "SIZE";
    }
    return "";
}

static void env_name(const char *prefix, const char *name, char *buf, size_t len)
{
    size_t i = 0;
    int n = snprintf(buf, len, "%s", prefix ? prefix : ENV_PREFIX);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return;
    }
    for (i = (size_t)n; *name && i + 1 < len; name++, i++)
        buf[i] = *name == '-' || *name == '.' ? '_' : (char)toupper((unsigned char)*name);
    buf[i] = '\0';
}

static void print_entries(FILE *out, const char *title, const pr_cfg_entry *t,
                          const char *env_prefix)
{
    fprintf(out, "\n%s:\n", title);
    for (; t->name; t++) {
        char flag[96], env[96];
        snprintf(flag, sizeof flag, "--%s %s", t->name, type_hint(t->type));
        env_name(env_prefix, t->name, env, sizeof env);
        fprintf(out, "  %-34s %s\n", flag, t->help);
        fprintf(out, "  %-34s env %s", "", env);
        if (t->def)
            fprintf(out, "; default %s", *t->def ? t->def : "\"\"");
        if (t->min != 0 || t->max != 0)
            fprintf(out, "; range %lld..%lld", t->min, t->max);
        fputc('\n', out);
    }
}

static void print_help(FILE *out, const char *usage, const char *about,
                       const pr_cfg_section *sections, size_t n, bool common)
{
    fprintf(out, "usage: %s\n\n%s\n", usage, about ? about : "");
    for (size_t i = 0; i < n; i++)
        print_entries(out, sections[i].title, sections[i].table, sections[i].env_prefix);
    if (common) {
        print_entries(out, "common", pr_common_cfg_table, NULL);
        fprintf(out, "  %-34s any librdkafka property, passed as is (SASL, TLS, tuning)\n",
                "--kafka.PROPERTY VALUE");
        fprintf(out, "  %-34s env PHONEREPORT_KAFKA_PROPERTY ('_' read as '.')\n", "");
    }
    fprintf(out,
            "\nother:\n"
            "  %-34s JSON file with the same keys (and \"kafka\": {...}); env PHONEREPORT_CONFIG\n"
            "  %-34s print the resolved configuration as JSON (secrets masked) and exit\n"
            "  %-34s this text\n\n"
            "Precedence: flags > environment > config file > defaults. Sizes take k/m/g, "
            "durations ms/s/m/h.\nBad configuration: every problem is printed, exit status 78.\n",
            "--config FILE", "--print-config", "--help");
}

static bool is_secret_key(const char *k)
{
    return strstr(k, "password") || strstr(k, "secret") || strstr(k, "key");
}

static void print_config(FILE *out, const slots *s, const pr_common_cfg *common)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->len; i++) {
        const pr_cfg_entry *e = s->v[i].e;
        const char *field = (const char *)s->v[i].base + e->offset;
        json_t *v;
        switch (e->type) {
        case PR_CFG_STR: {
            const char *str = *(char *const *)(const void *)field;
            char *masked = str ? pr_cfg_mask_secrets(str) : NULL;
            v = masked ? json_string(masked) : str ? json_string("***") : json_null();
            free(masked);
            break;
        }
        case PR_CFG_SECRET:
            v = *(char *const *)(const void *)field ? json_string("***") : json_null();
            break;
        case PR_CFG_BOOL: v = json_boolean(*(const bool *)(const void *)field); break;
        default: v = json_integer(*(const long long *)(const void *)field); break;
        }
        json_object_set_new(o, e->name, v ? v : json_string("(not UTF-8)"));
    }
    if (common) {
        json_t *k = json_object();
        for (size_t i = 0; i < common->kafka_len; i++)
            json_object_set_new(
                k, common->kafka[i].key,
                json_string(is_secret_key(common->kafka[i].key) ? "***" : common->kafka[i].value));
        json_object_set_new(o, "kafka", k);
    }
    json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
}

static void load_file(const char *path, const slots *s, pr_common_cfg *common, pr_errlist *errs)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    const char *key;
    json_t *val;
    char num[64], origin[600];

    if (!root) {
        pr_errlist_add(errs, "config file %s: line %d: %s", path, jerr.line, jerr.text);
        return;
    }
    if (!json_is_object(root)) {
        pr_errlist_add(errs, "config file %s: the top level must be a JSON object", path);
        goto out;
    }
    snprintf(origin, sizeof origin, "config file %s", path);
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "kafka") == 0 && json_is_object(val)) {
            const char *kk;
            json_t *kv;
            json_object_foreach(val, kk, kv)
            {
                if (json_is_string(kv))
                    kafka_set(common, kk, json_string_value(kv), errs);
                else if (json_is_integer(kv)) {
                    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(kv));
                    kafka_set(common, kk, num, errs);
                } else if (json_is_boolean(kv))
                    kafka_set(common, kk, json_is_true(kv) ? "true" : "false", errs);
                else
                    pr_errlist_add(errs, "%s: kafka.%s must be a string, number or boolean", origin,
                                   kk);
            }
            continue;
        }
        const slot *sl = find_slot(s, key, strlen(key));
        if (!sl) {
            pr_errlist_add(errs, "%s: unknown key '%s'", origin, key);
            continue;
        }
        if (json_is_string(val))
            set_value(sl, json_string_value(val), origin, errs);
        else if (json_is_integer(val)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
            set_value(sl, num, origin, errs);
        } else if (json_is_boolean(val))
            set_value(sl, json_is_true(val) ? "true" : "false", origin, errs);
        else
            pr_errlist_add(errs, "%s: '%s' must be a string, integer or boolean", origin, key);
    }
out:
    json_decref(root);
}

static void load_env(char **envp, const slots *s, pr_common_cfg *common, pr_errlist *errs)
{
    for (char **ep = envp; ep && *ep; ep++) {
        const char *kv = *ep, *eq = strchr(kv, '=');
        char name[256], origin[300];
        if (strncmp(kv, "PHONEREPORT_", 12) != 0 || !eq)
            continue;
        size_t n = (size_t)(eq - kv) - 12;
        if (n == 0 || n >= sizeof name)
            continue;
        snprintf(origin, sizeof origin, "env %.*s", (int)(eq - kv), kv);
        if (strncmp(kv + 12, "KAFKA_", 6) == 0) {
            size_t i;
            for (i = 0; i < n - 6; i++) {
                char c = kv[18 + i];
                name[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
            }
            name[i] = '\0';
            kafka_set(common, name, eq + 1, errs);
            continue;
        }
        /* Unknown variables are ignored: roles deployed together share one environment. */
        for (size_t i = 0; i < s->len; i++) {
            char env[300];
            env_name(s->v[i].env_prefix, s->v[i].e->name, env, sizeof env);
            if (strlen(env) == (size_t)(eq - kv) && strncmp(env, kv, (size_t)(eq - kv)) == 0) {
                set_value(&s->v[i], eq + 1, origin, errs);
                break;
            }
        }
    }
}

pr_cfg_result pr_cfg_load(const pr_cfg_section *sections, size_t nsections, pr_common_cfg *common,
                          int argc, char **argv, char **envp, const char *usage, const char *about,
                          FILE *out, FILE *out_err)
{
    pr_errlist errs = {0};
    slots s = {0};
    size_t total = 0;
    bool want_print = false;
    const char *file = NULL;
    pr_cfg_result res = PR_CFG_OK;
    const char *cmd = argc > 0 ? argv[0] : "phonereport";

    if (!envp)
        envp = environ;
    for (size_t i = 0; i < nsections; i++)
        for (const pr_cfg_entry *e = sections[i].table; e->name; e++)
            total++;
    if (common)
        for (const pr_cfg_entry *e = pr_common_cfg_table; e->name; e++)
            total++;
    s.v = calloc(total ? total : 1, sizeof *s.v);
    if (!s.v) {
        fprintf(out_err, "phonereport %s: out of memory\n", cmd);
        return PR_CFG_EXIT_ERROR;
    }
    for (size_t i = 0; i < nsections; i++)
        for (const pr_cfg_entry *e = sections[i].table; e->name; e++)
            s.v[s.len++] = (slot){e, sections[i].base,
                                  sections[i].env_prefix ? sections[i].env_prefix : ENV_PREFIX};
    if (common)
        for (const pr_cfg_entry *e = pr_common_cfg_table; e->name; e++)
            s.v[s.len++] = (slot){e, common, ENV_PREFIX};
    for (size_t i = 0; i < s.len; i++)
        for (size_t j = i + 1; j < s.len; j++)
            if (strcmp(s.v[i].e->name, s.v[j].e->name) == 0)
                pr_errlist_add(&errs, "internal: option --%s is defined twice", s.v[i].e->name);

    /* First pass: help, print-config and the config file, which the others depend on. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(out, usage, about, sections, nsections, common != NULL);
            res = PR_CFG_EXIT_OK;
            goto out;
        }
        if (strcmp(argv[i], "--print-config") == 0)
            want_print = true;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (!file) {
        for (char **ep = envp; *ep; ep++)
            if (strncmp(*ep, "PHONEREPORT_CONFIG=", 19) == 0 && (*ep)[19])
                file = *ep + 19;
    }

    for (size_t i = 0; i < s.len; i++)
        if (s.v[i].e->def)
            set_value(&s.v[i], s.v[i].e->def, "default", &errs);
    if (file)
        load_file(file, &s, common, &errs);
    load_env(envp, &s, common, &errs);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--print-config") == 0)
            continue;
        if (strcmp(a, "--config") == 0) {
            if (++i >= argc)
                pr_errlist_add(&errs, "--config needs a file");
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0) {
            pr_errlist_add(&errs, "unexpected argument '%s' (options start with --)", a);
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        if (strncmp(name, "kafka.", 6) == 0) {
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(nlen - 6), name + 6);
            if (!value && i + 1 < argc)
                value = argv[++i];
            if (!value)
                pr_errlist_add(&errs, "--kafka.%s needs a value", key);
            else
                kafka_set(common, key, value, &errs);
            continue;
        }
        const slot *sl = find_slot(&s, name, nlen);
        if (!sl && !eq && strncmp(name, "no-", 3) == 0) {
            sl = find_slot(&s, name + 3, nlen - 3);
            if (sl && sl->e->type == PR_CFG_BOOL) {
                set_value(sl, "false", "flag", &errs);
                continue;
            }
            sl = NULL;
        }
        if (!sl) {
            pr_errlist_add(&errs, "unknown option --%.*s (see --help)", (int)nlen, name);
            continue;
        }
        if (!value) {
            if (sl->e->type == PR_CFG_BOOL &&
                (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 ||
                 pr_cfg_parse_bool(argv[i + 1], &(bool){false}) != 0))
                value = "true";
            else if (i + 1 < argc)
                value = argv[++i];
        }
        if (!value)
            pr_errlist_add(&errs, "--%s needs a value", sl->e->name);
        else
            set_value(sl, value, "flag", &errs);
    }

    if (common && common->log_level) {
        static const char *const lv[] = {"debug", "info", "warn", "error"};
        bool ok = false;
        for (size_t i = 0; i < 4; i++)
            ok = ok || strcmp(common->log_level, lv[i]) == 0;
        if (!ok)
            pr_errlist_add(&errs, "--log-level: '%s' is not one of debug, info, warn, error",
                           common->log_level);
    }

    if (common && common->topic_prefix) {
        /* Kafka names topics with [a-zA-Z0-9._-], at most 249 characters */
        size_t longest = 0;
        for (int t = 0; t < PR_TOPIC__COUNT; t++)
            if (strlen(pr_topic_suffix((pr_topic)t)) > longest)
                longest = strlen(pr_topic_suffix((pr_topic)t));
        const char *p = common->topic_prefix;
        size_t plen =
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
        if (p[plen] != '\0' || plen + longest > 249)
            pr_errlist_add(
                &errs,
                "--topic-prefix: '%.40s' is not a Kafka topic prefix (letters, digits, '.', "
                "'_', '-'; at most %zu characters)",
                p, 249 - longest);
    }

    if (pr_errlist_count(&errs)) {
        char prefix[96];
        snprintf(prefix, sizeof prefix, "phonereport %s: ", cmd);
        pr_errlist_print(&errs, prefix, out_err);
        fprintf(out_err, "phonereport %s: %zu configuration error%s, see --help\n", cmd,
                pr_errlist_count(&errs), pr_errlist_count(&errs) == 1 ? "" : "s");
        res = PR_CFG_EXIT_ERROR;
        goto out;
    }
    if (want_print) {
        print_config(out, &s, common);
        res = PR_CFG_EXIT_OK;
    }
out:
    pr_errlist_release(&errs);
    free(s.v);
    return res;
}

static void release_table(const pr_cfg_entry *t, void *base)
{
    for (; t->name; t++) {
        if (t->type == PR_CFG_STR || t->type == PR_CFG_SECRET) {
            char **p = (char **)(void *)((char *)base + t->offset);
            free(*p);
            *p = NULL;
        }
    }
}

void pr_cfg_release(const pr_cfg_section *sections, size_t nsections, pr_common_cfg *common)
{
    for (size_t i = 0; sections && i < nsections; i++)
        if (sections[i].base)
            release_table(sections[i].table, sections[i].base);
    if (common) {
        release_table(pr_common_cfg_table, common);
        for (size_t i = 0; i < common->kafka_len; i++) {
            free(common->kafka[i].key);
            free(common->kafka[i].value);
        }
        free(common->kafka);
        common->kafka = NULL;
        common->kafka_len = 0;
    }
}

void pr_cfg_section_free(pr_cfg_section s)
{
    if (!s.base)
        return;
    pr_cfg_release(&s, 1, NULL);
    free(s.base);
}
