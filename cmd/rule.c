/*
 * rule.c - `phonereport rule`: the operator's tool for the phone side of the pipeline.
 *
 *   phonereport rule --url BASE [--full|--delta|--status ...] [--key K] [--uid U --pwd P]
 *                    [--method PUT|POST] [--when WHEN] [--period S] [--delay S]
 *     prints the five cfg.xml elements (Report_Rule, HTTP_Report_Method, Report_To_Server,
 *     Periodic_Upload_To_Server, Upload_Delay_On_Local_Change) that make a phone upload to
 *     phonereport; each rule's URL is BASE/$MA/<kind>.xml, so the edge reads the phone's MAC
 *     from the path and the kind from the file name (ingest's default kind globs).
 *
 *   phonereport rule --check FILE.xml
 *     reads an existing profile with pr_flatprofile_parse and reports problems in those five
 *     parameters, one line each on stdout.
 *
 * Exit codes: 0 fine; 1 --check found problems; 78 (EX_CONFIG) for invalid flags (every one
 * reported on stderr before exiting, like the config loader) or a file --check cannot read
 * or parse. The generated Report_Rule is parsed back with pr_rules_parse before it is printed,
 * so the tool never prints a rule its own checker would refuse.
 */
#include "commands.h"

#include "buf.h"
#include "file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flatprofile.h"
#include "rule.h"
#include "status.h"

#define PROG "phonereport rule"

/* Upload option bounds (reference section 6). */
#define PERIOD_MIN          600L
#define PERIOD_MAX          2592000L /* 30 days: 7800 AG, 11.2(3) release notes */
#define PERIOD_DOC_MAX_8800 259200L  /* 3 days: the 8800 AG's maximum */
#define DELAY_MIN           10L
#define DELAY_MAX           900L

static const char *const WHEN_VALUES[] = {"On Request", "On Local Change", "Periodically"};
static const char *const WHEN_ALIASES[] = {"on-request", "on-local-change", "periodically"};

typedef struct rule_opts {
    const char *url;
    pr_kind kinds[3];
    size_t nkinds;
    const char *key, *uid, *pwd;
    const char *method; /* "PUT" or "POST" */
    const char *when;   /* one of WHEN_VALUES */
    long period, delay;
    const char *check;
    int help;
    int errors;
} rule_opts;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG " --url BASE [--full] [--delta] [--status] [--key K]\n"
        "                        [--uid U --pwd P] [--method PUT|POST] [--when WHEN]\n"
        "                        [--period SECONDS] [--delay SECONDS]\n"
        "       " PROG " --check FILE.xml\n"
        "\n"
        "Prints the cfg.xml elements (inside <flat-profile>) that make Cisco MPP phones upload\n"
        "their configuration and status to phonereport's edge, or checks the upload options\n"
        "of an existing profile.\n"
        "\n"
        "  --url BASE       the edge's base URL, http:// or https:// without query, e.g.\n"
        "                   https://edge.example.net/r; each rule uploads to\n"
        "                   BASE/$MA/full.xml, BASE/$MA/delta.xml or BASE/$MA/status.xml\n"
        "                   ($MA: the phone puts its lower-case MAC there)\n"
        "  --full           a rule for the full configuration report\n"
        "  --delta          a rule for the changed parameters only (since the last report)\n"
        "  --status         a rule for the status report\n"
        "                   A phone holds at most two rules; their order is the flags'\n"
        "                   order. Default: --full.\n"
        "  --key K          encrypt uploads with AES-256-CBC (openssl enc) under the\n"
        "                   passphrase K; the decoder needs the same passphrase. Without\n"
        "                   --key, phones with IKM_HTTP_Encrypt_Content use RFC 8188.\n"
        "  --uid U --pwd P  answer the edge's HTTP Basic/Digest challenge with U and P\n"
        "  --method M       PUT or POST (default POST, the phone's default)\n"
        "  --when WHEN      \"On Request\" (SIP NOTIFY and restart), \"On Local Change\" or\n"
        "                   \"Periodically\"; also on-request, on-local-change,\n"
        "                   periodically (default \"On Local Change\")\n"
        "  --period S       seconds between periodic uploads, %ld..%ld (default 3600);\n"
        "                   above %ld a warning: the 8800 guide documents %ld as the maximum\n"
        "  --delay S        seconds a phone batches local changes before uploading,\n"
        "                   %ld..%ld (default 60)\n"
        "  --check FILE     report problems in FILE's upload options, one line each;\n"
        "                   exit 1 if there are any\n"
        "  --help           this text\n"
        "\n"
        "Exit status: 0 fine, 1 --check found problems, 78 invalid flags (all reported)\n"
        "or a file --check cannot read or parse.\n",
        PERIOD_MIN, PERIOD_MAX, PERIOD_DOC_MAX_8800, PERIOD_DOC_MAX_8800, DELAY_MIN, DELAY_MAX);
}

static void flag_error(rule_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flag_error(rule_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    o->errors++;
}

/* Strict decimal: digits only, no sign, no spaces. 0 and *out, or -1. */
static int parse_seconds(const char *s, long *out)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000L)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

static const char *kind_flag(pr_kind k)
{
    return k == PR_KIND_DELTA ? "--delta" : k == PR_KIND_STATUS ? "--status" : "--full";
}

/* A --key/--uid/--pwd value: non-empty, printable, nothing that ends a rule argument. */
static void check_secret(rule_opts *o, const char *flag, const char *v, int spaces_ok)
{
    if (!*v) {
        flag_error(o, "%s: empty value", flag);
        return;
    }
    if (!spaces_ok && v[0] == '-' && v[1] == '-') {
        flag_error(o, "%s: must not start with -- (it would read as the next argument)", flag);
        return;
    }
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            flag_error(o, "%s: control characters are not allowed", flag);
            return;
        }
        if (c == '"' || c == '[' || c == ']') {
            flag_error(o, "%s: the characters \" [ ] are not allowed (they end a rule argument)",
                       flag);
            return;
        }
        if (c == ' ' && !spaces_ok) {
            flag_error(o, "%s: white space is not allowed", flag);
            return;
        }
    }
}

static void check_url(rule_opts *o, const char *u)
{
    size_t skip = 0;
    if (strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    if (!skip) {
        flag_error(o,
                   "--url: must start with http:// or https:// (phonereport's edge speaks "
                   "HTTP): '%s'",
                   u);
        return;
    }
    if (!u[skip] || u[skip] == '/') {
        flag_error(o, "--url: no host in '%s'", u);
        return;
    }
    for (const char *p = u; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '"') {
            flag_error(o, "--url: white space, control characters and \" are not allowed");
            return;
        }
        if (c == '?' || c == '#') {
            flag_error(o, "--url: no query or fragment: the rule appends /$MA/<kind>.xml");
            return;
        }
    }
}

/* Takes the value of flag argv[*i] ("--x v" or "--x=v"); NULL (error reported) if none. */
static const char *flag_value(rule_opts *o, int argc, char **argv, int *i, const char *eq)
{
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc) {
        flag_error(o, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static void set_once(rule_opts *o, const char **dst, const char *flag, const char *v)
{
    if (*dst)
        flag_error(o, "%s given twice", flag);
    *dst = v;
}

static void parse_flags(rule_opts *o, int argc, char **argv)
{
    const char *method = NULL, *when = NULL, *period = NULL, *delay = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
#define IS(name) (n == sizeof(name) - 1 && strncmp(a, name, n) == 0)
        if (IS("--help") || IS("-h")) {
            o->help = 1;
        } else if (IS("--full") || IS("--delta") || IS("--status")) {
            pr_kind k = IS("--full")    ? PR_KIND_FULL
                        : IS("--delta") ? PR_KIND_DELTA
                                        : PR_KIND_STATUS;
            if (eq) {
                flag_error(o, "%.*s takes no value", (int)n, a);
                continue;
            }
            int seen = 0;
            for (size_t j = 0; j < o->nkinds; j++)
                seen |= o->kinds[j] == k;
            if (seen)
                flag_error(o, "%s given twice", kind_flag(k));
            else if (o->nkinds < sizeof o->kinds / sizeof o->kinds[0])
                o->kinds[o->nkinds++] = k;
        } else if (IS("--url") || IS("--key") || IS("--uid") || IS("--pwd") || IS("--method") ||
                   IS("--when") || IS("--period") || IS("--delay") || IS("--check")) {
            const char *v = flag_value(o, argc, argv, &i, eq);
            if (!v)
                continue;
            const char **dst = IS("--url")      ? &o->url
                               : IS("--key")    ? &o->key
                               : IS("--uid")    ? &o->uid
                               : IS("--pwd")    ? &o->pwd
                               : IS("--method") ? &method
                               : IS("--when")   ? &when
                               : IS("--period") ? &period
                               : IS("--delay")  ? &delay
                                                : &o->check;
            char flag[16];
            snprintf(flag, sizeof flag, "%.*s", (int)n, a);
            set_once(o, dst, flag, v);
        } else {
            flag_error(o, "unknown argument '%s' (see --help)", a);
        }
#undef IS
    }
    if (o->help)
        return;

    if (o->check) {
        if (o->url || o->nkinds || o->key || o->uid || o->pwd || method || when || period || delay)
            flag_error(o, "--check takes no other flag");
        return;
    }

    if (!o->url)
        flag_error(o, "--url is required, e.g. --url https://edge.example.net/r");
    else
        check_url(o, o->url);
    if (o->nkinds > PR_RULE_MAX)
        flag_error(o, "at most two of --full, --delta, --status: a phone holds two rules");
    if (o->nkinds == 0)
        o->kinds[o->nkinds++] = PR_KIND_FULL;
    if (o->key)
        check_secret(o, "--key", o->key, 1);
    if (o->uid)
        check_secret(o, "--uid", o->uid, 0);
    if (o->pwd)
        check_secret(o, "--pwd", o->pwd, 0);
    if (!o->uid != !o->pwd)
        flag_error(o, "--uid and --pwd go together");

    o->method = "POST";
    if (method) {
        if (strcasecmp(method, "PUT") == 0)
            o->method = "PUT";
        else if (strcasecmp(method, "POST") != 0)
            flag_error(o, "--method: '%s' is not PUT or POST", method);
    }
    o->when = WHEN_VALUES[1];
    if (when) {
        size_t k, nw = sizeof WHEN_VALUES / sizeof WHEN_VALUES[0];
        for (k = 0; k < nw; k++)
            if (strcasecmp(when, WHEN_VALUES[k]) == 0 || strcasecmp(when, WHEN_ALIASES[k]) == 0)
                break;
        if (k < nw)
            o->when = WHEN_VALUES[k];
        else
            flag_error(o,
                       "--when: '%s' is not \"On Request\", \"On Local Change\" or "
                       "\"Periodically\"",
                       when);
    }
    o->period = 3600;
    if (period) {
        if (parse_seconds(period, &o->period) != 0 || o->period < PERIOD_MIN ||
            o->period > PERIOD_MAX)
            flag_error(o, "--period: '%s' is not a number of seconds in %ld..%ld", period,
                       PERIOD_MIN, PERIOD_MAX);
        else if (o->period > PERIOD_DOC_MAX_8800)
            fprintf(stderr,
                    PROG ": warning: --period %ld is above %ld, the maximum the 8800 "
                         "administration guide documents; such phones may refuse it\n",
                    o->period, PERIOD_DOC_MAX_8800);
    }
    o->delay = 60;
    if (delay) {
        if (parse_seconds(delay, &o->delay) != 0 || o->delay < DELAY_MIN || o->delay > DELAY_MAX)
            flag_error(o, "--delay: '%s' is not a number of seconds in %ld..%ld", delay, DELAY_MIN,
                       DELAY_MAX);
    }
}

static void build_rule(const rule_opts *o, pr_buf *b)
{
    size_t base_len = strlen(o->url);
    while (base_len > 0 && o->url[base_len - 1] == '/')
        base_len--;
    for (size_t i = 0; i < o->nkinds; i++) {
        pr_kind k = o->kinds[i];
        if (i)
            pr_buf_str(b, " ");
        int args = k != PR_KIND_FULL || o->key || o->uid;
        if (args) {
            const char *sep = "[";
            if (k != PR_KIND_FULL) {
                pr_buf_str(b, sep);
                pr_buf_str(b, kind_flag(k));
                sep = " ";
            }
            if (o->key) {
                pr_buf_str(b, sep);
                /* Quoted when it holds white space or could be taken for an argument. */
                int quote = strchr(o->key, ' ') || o->key[0] == '-';
                pr_buf_str(b, quote ? "--key \"" : "--key ");
                pr_buf_str(b, o->key);
                if (quote)
                    pr_buf_str(b, "\"");
                sep = " ";
            }
            if (o->uid) {
                pr_buf_str(b, sep);
                pr_buf_str(b, "--uid ");
                pr_buf_str(b, o->uid);
                pr_buf_str(b, " --pwd ");
                pr_buf_str(b, o->pwd);
            }
            pr_buf_str(b, "]");
        }
        pr_buf_add(b, o->url, base_len);
        pr_buf_str(b, "/$MA/");
        pr_buf_str(b, pr_kind_name(k));
        pr_buf_str(b, ".xml");
    }
}

static void print_element(const char *name, const char *value)
{
    printf("<%s ua=\"na\">", name);
    for (const char *p = value; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        default: putchar(*p);
        }
    }
    printf("</%s>\n", name);
}

static int generate(const rule_opts *o)
{
    pr_buf b = {0};
    int rc = 0;
    build_rule(o, &b);
    if (b.oom || !b.p) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = 71;
        goto out;
    }
    /* The rule must be one our own parser (and so --check) accepts. */
    pr_report_rules rules;
    char err[256];
    if (pr_rules_parse(b.p, &rules, err, sizeof err) != PR_OK || rules.n != o->nkinds) {
        fprintf(stderr, PROG ": the generated Report_Rule does not parse back: %s\n", err);
        pr_rules_release(&rules);
        rc = PR_EXIT_CONFIG;
        goto out;
    }
    pr_rules_release(&rules);

    if (o->key && strchr(o->key, '$'))
        fprintf(stderr, PROG ": warning: --key holds '$': phones expand $ macros inside the "
                             "rule's brackets ($$ stands for one $), so give the decoder the "
                             "expanded key\n");
    if (o->key && o->key[0] == '-' && o->key[1] == '-')
        fprintf(stderr, PROG ": warning: a --key starting with -- is quoted in the rule; check "
                             "that your phones' firmware strips the quotes\n");
    const char *path = strchr(o->url + (strncasecmp(o->url, "https", 5) == 0 ? 8 : 7), '/');
    if (path && (strstr(path, "delta") || strstr(path, "status")))
        fprintf(stderr, PROG ": warning: the path of --url contains 'delta' or 'status'; the "
                             "edge's default kind patterns (*status*, *delta*) would then "
                             "misfile full reports\n");

    char num[32];
    print_element("Report_Rule", b.p);
    print_element("HTTP_Report_Method", o->method);
    print_element("Report_To_Server", o->when);
    snprintf(num, sizeof num, "%ld", o->period);
    print_element("Periodic_Upload_To_Server", num);
    snprintf(num, sizeof num, "%ld", o->delay);
    print_element("Upload_Delay_On_Local_Change", num);
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write: %s\n", strerror(errno));
        rc = 74; /* EX_IOERR */
    }
out:
    pr_buf_release(&b);
    return rc;
}

typedef struct check_ctx {
    const char *file;
    int problems;
} check_ctx;

static void problem(check_ctx *c, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(check_ctx *c, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: %s: ", c->file, param);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    c->problems++;
}

static void warning(check_ctx *c, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warning(check_ctx *c, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: %s: warning: ", c->file, param);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* Checks a number of seconds; returns the value or -1. */
static long check_seconds(check_ctx *c, const pr_fp_param *p, long min, long max)
{
    long v;
    if (parse_seconds(p->value, &v) != 0) {
        problem(c, p->name, "'%.40s' is not a number of seconds (%ld..%ld)", p->value, min, max);
        return -1;
    }
    if (v < min || v > max) {
        problem(c, p->name, "%ld is out of range %ld..%ld", v, min, max);
        return -1;
    }
    return v;
}

static int check(const char *file)
{
    char err[256];
    size_t len = 0;
    char *buf = NULL;
    if (pr_file_read(file, pr_xml_limits_default.max_bytes, &buf, &len, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG " --check: %s\n", err);
        return PR_EXIT_CONFIG;
    }
    pr_flat_profile fp;
    pr_xml_error why;
    if (pr_flatprofile_parse(buf, len, NULL, &fp, &why, err, sizeof err) != PR_OK) {
        fprintf(stderr, PROG " --check: %s: not a usable profile: %s\n", file, err);
        pr_flatprofile_release(&fp);
        free(buf);
        return PR_EXIT_CONFIG;
    }
    free(buf);

    check_ctx c = {.file = file, .problems = 0};
    char summary[512] = "";
    size_t used = 0;
#define SUMMARY(...)                                                                               \
    do {                                                                                           \
        if (used < sizeof summary) {                                                               \
            int w_ = snprintf(summary + used, sizeof summary - used, __VA_ARGS__);                 \
            used += w_ > 0 ? (size_t)w_ : 0;                                                       \
        }                                                                                          \
    } while (0)

    const pr_fp_param *p = pr_flatprofile_find(&fp, "Report_Rule");
    if (!p) {
        SUMMARY("Report_Rule absent (reporting disabled)");
    } else {
        pr_report_rules rules;
        if (pr_rules_parse(p->value, &rules, err, sizeof err) != PR_OK) {
            problem(&c, p->name, "%s", err);
        } else if (rules.n == 0) {
            SUMMARY("Report_Rule empty (reporting disabled)");
        } else {
            SUMMARY("Report_Rule %zu rule%s (", rules.n, rules.n > 1 ? "s" : "");
            for (size_t i = 0; i < rules.n; i++) {
                const pr_report_rule *r = &rules.rule[i];
                SUMMARY("%s%s", i ? ", " : "", pr_kind_name(r->kind));
                if (!r->uid != !r->pwd)
                    warning(&c, p->name, "rule %zu has %s without %s", i + 1,
                            r->uid ? "--uid" : "--pwd", r->uid ? "--pwd" : "--uid");
            }
            SUMMARY(")");
        }
        pr_rules_release(&rules);
    }

    p = pr_flatprofile_find(&fp, "HTTP_Report_Method");
    if (p && strcmp(p->value, "PUT") != 0 && strcmp(p->value, "POST") != 0)
        problem(&c, p->name, "unknown method '%.40s' (PUT or POST)", p->value);
    else
        SUMMARY(", HTTP_Report_Method %s", p ? p->value : "absent");

    p = pr_flatprofile_find(&fp, "Report_To_Server");
    if (p) {
        static const char *const ok[] = {"On Request", "On Local Change", "Periodically",
                                         "Never Report"};
        size_t k, nk = sizeof ok / sizeof ok[0];
        for (k = 0; k < nk; k++)
            if (strcmp(p->value, ok[k]) == 0)
                break;
        if (k == nk)
            problem(&c, p->name,
                    "unknown value '%.40s' (On Request, On Local Change, Periodically or Never "
                    "Report)",
                    p->value);
        else
            SUMMARY(", Report_To_Server %s", p->value);
    } else {
        SUMMARY(", Report_To_Server absent");
    }

    p = pr_flatprofile_find(&fp, "Periodic_Upload_To_Server");
    if (p) {
        long v = check_seconds(&c, p, PERIOD_MIN, PERIOD_MAX);
        if (v > PERIOD_DOC_MAX_8800)
            warning(&c, p->name,
                    "%ld is above %ld, the maximum the 8800 administration guide documents", v,
                    PERIOD_DOC_MAX_8800);
        if (v >= 0)
            SUMMARY(", Periodic_Upload_To_Server %ld", v);
    } else {
        SUMMARY(", Periodic_Upload_To_Server absent");
    }

    p = pr_flatprofile_find(&fp, "Upload_Delay_On_Local_Change");
    if (p) {
        long v = check_seconds(&c, p, DELAY_MIN, DELAY_MAX);
        if (v >= 0)
            SUMMARY(", Upload_Delay_On_Local_Change %ld", v);
    } else {
        SUMMARY(", Upload_Delay_On_Local_Change absent");
    }
#undef SUMMARY

    if (c.problems == 0)
        printf("%s: upload options OK: %s\n", file, summary[0] == ',' ? summary + 2 : summary);
    pr_flatprofile_release(&fp);
    fflush(stdout);
    return c.problems ? 1 : 0;
}

int rule_main(int argc, char **argv)
{
    rule_opts o;
    memset(&o, 0, sizeof o);
    parse_flags(&o, argc, argv);
    if (o.help) {
        usage(stdout);
        fflush(stdout);
        return 0;
    }
    if (o.errors)
        return PR_EXIT_CONFIG;
    if (o.check)
        return check(o.check);
    return generate(&o);
}
