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

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "file.h"
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

/* What the flags set, loaded by the config table machinery (proto/config.h) like every
 * command's options: --help comes from the table, later values win, PHONEREPORT_* variables
 * and --config files work here too. */
typedef struct rule_cfg {
    char *url, *key, *uid, *pwd, *method, *when, *check;
    bool full, delta, status;
    long long period, delay;
} rule_cfg;

#define PR_CFG_STRUCT rule_cfg
static const pr_cfg_entry rule_table[] = {
    PR_CFG_OPT(
        "url", PR_CFG_STR, NULL, url,
        "the edge's base URL, http:// or https:// without query, e.g. https://edge.example.net/r; "
        "each rule uploads to BASE/$MA/<kind>.xml ($MA: the phone's lower-case MAC)"),
    PR_CFG_OPT("full", PR_CFG_BOOL, "false", full,
               "a rule for the full configuration report (the default when no kind is given)"),
    PR_CFG_OPT("delta", PR_CFG_BOOL, "false", delta,
               "a rule for the parameters changed since the previous report"),
    PR_CFG_OPT(
        "status", PR_CFG_BOOL, "false", status,
        "a rule for the status report (a phone holds at most two rules, in the flags' order)"),
    PR_CFG_OPT(
        "key", PR_CFG_SECRET, NULL, key,
        "encrypt uploads with AES-256-CBC (openssl enc) under this passphrase (the decoder needs "
        "it too); without it, phones with IKM_HTTP_Encrypt_Content use RFC 8188"),
    PR_CFG_OPT("uid", PR_CFG_STR, NULL, uid,
               "user the phone answers the edge's HTTP Basic/Digest challenge with (with --pwd)"),
    PR_CFG_OPT("pwd", PR_CFG_SECRET, NULL, pwd, "password for --uid"),
    PR_CFG_OPT("method", PR_CFG_STR, "POST", method, "PUT or POST (POST is the phone's default)"),
    PR_CFG_OPT(
        "when", PR_CFG_STR, "On Local Change", when,
        "\"On Request\" (SIP NOTIFY and restart), \"On Local Change\" or \"Periodically\" (also "
        "on-request, on-local-change, periodically)"),
    PR_CFG_NUM(
        "period", PR_CFG_INT, "3600", period, PERIOD_MIN, PERIOD_MAX,
        "seconds between periodic uploads (above 259200, the 8800 guide's maximum, a warning)"),
    PR_CFG_NUM("delay", PR_CFG_INT, "60", delay, DELAY_MIN, DELAY_MAX,
               "seconds a phone batches local changes before uploading"),
    PR_CFG_OPT(
        "check", PR_CFG_STR, NULL, check,
        "report problems in this profile's upload options instead, one line each (exit 1 if any)"),
    PR_CFG_END,
};
#undef PR_CFG_STRUCT

#define ABOUT                                                                                      \
    "Prints the cfg.xml elements (inside <flat-profile>) that make Cisco MPP phones upload\n"      \
    "their configuration and status to phonereport's edge, or (--check FILE) checks the\n"         \
    "upload options of an existing profile.\n\n"                                                   \
    "Exit status: 0 fine, 1 --check found problems, 78 invalid flags (all reported) or a\n"        \
    "file --check cannot read or parse."

/* The validated options generate() prints. */
typedef struct rule_opts {
    const char *url;
    pr_kind kinds[3];
    size_t nkinds;
    const char *key, *uid, *pwd;
    const char *method; /* "PUT" or "POST" */
    const char *when;   /* one of WHEN_VALUES */
    long period, delay;
} rule_opts;

static void flag_error(pr_errlist *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void flag_error(pr_errlist *errs, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pr_errlist_add(errs, "%s", msg);
}

/* Where --<name> first appears on the command line (argc if it does not: from the
 * environment or a file), so that rules keep the flags' order. */
static int flag_position(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
            (argv[i][2 + n] == '\0' || argv[i][2 + n] == '='))
            return i;
    return argc;
}

/* A --key/--uid/--pwd value: non-empty, printable, nothing that ends a rule argument. */
static void check_secret(pr_errlist *errs, const char *flag, const char *v, int spaces_ok)
{
    if (!*v) {
        flag_error(errs, "%s: empty value", flag);
        return;
    }
    if (!spaces_ok && v[0] == '-' && v[1] == '-') {
        flag_error(errs, "%s: must not start with -- (it would read as the next argument)", flag);
        return;
    }
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            flag_error(errs, "%s: control characters are not allowed", flag);
            return;
        }
        if (c == '"' || c == '[' || c == ']') {
            flag_error(errs, "%s: the characters \" [ ] are not allowed (they end a rule argument)",
                       flag);
            return;
        }
        if (c == ' ' && !spaces_ok) {
            flag_error(errs, "%s: white space is not allowed", flag);
            return;
        }
    }
}

static void check_url(pr_errlist *errs, const char *u)
{
    size_t skip = 0;
    if (strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    if (!skip) {
        flag_error(errs,
                   "--url: must start with http:// or https:// (phonereport's edge speaks "
                   "HTTP): '%s'",
                   u);
        return;
    }
    if (!u[skip] || u[skip] == '/') {
        flag_error(errs, "--url: no host in '%s'", u);
        return;
    }
    for (const char *p = u; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '"') {
            flag_error(errs, "--url: white space, control characters and \" are not allowed");
            return;
        }
        if (c == '?' || c == '#') {
            flag_error(errs, "--url: no query or fragment: the rule appends /$MA/<kind>.xml");
            return;
        }
    }
}

/* The checks the table cannot express: values, and options that go together. */
static void check_opts(const rule_cfg *c, int argc, char **argv, rule_opts *o, pr_errlist *errs)
{
    static const char *const others[] = {"url", "full",   "delta", "status", "key",  "uid",
                                         "pwd", "method", "when",  "period", "delay"};
    memset(o, 0, sizeof *o);
    if (c->check) {
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
            if (flag_position(argc, argv, others[i]) < argc) {
                flag_error(errs, "--check takes no other flag");
                break;
            }
        return;
    }
    if (!c->url)
        flag_error(errs, "--url is required, e.g. --url https://edge.example.net/r");
    else
        check_url(errs, c->url);
    o->url = c->url;

    struct {
        bool on;
        pr_kind kind;
        int pos;
    } k[3] = {{c->full, PR_KIND_FULL, flag_position(argc, argv, "full")},
              {c->delta, PR_KIND_DELTA, flag_position(argc, argv, "delta")},
              {c->status, PR_KIND_STATUS, flag_position(argc, argv, "status")}};
    for (int pass = 0; pass <= argc; pass++) /* in the flags' order */
        for (size_t i = 0; i < 3; i++)
            if (k[i].on && k[i].pos == pass)
                o->kinds[o->nkinds++] = k[i].kind;
    if (o->nkinds > PR_RULE_MAX)
        flag_error(errs, "at most two of --full, --delta, --status: a phone holds two rules");
    if (o->nkinds == 0)
        o->kinds[o->nkinds++] = PR_KIND_FULL;

    if (c->key)
        check_secret(errs, "--key", c->key, 1);
    if (c->uid)
        check_secret(errs, "--uid", c->uid, 0);
    if (c->pwd)
        check_secret(errs, "--pwd", c->pwd, 0);
    if (!c->uid != !c->pwd)
        flag_error(errs, "--uid and --pwd go together");
    o->key = c->key;
    o->uid = c->uid;
    o->pwd = c->pwd;

    if (strcasecmp(c->method, "PUT") == 0)
        o->method = "PUT";
    else if (strcasecmp(c->method, "POST") == 0)
        o->method = "POST";
    else
        flag_error(errs, "--method: '%s' is not PUT or POST", c->method);

    size_t w, nw = sizeof WHEN_VALUES / sizeof WHEN_VALUES[0];
    for (w = 0; w < nw; w++)
        if (strcasecmp(c->when, WHEN_VALUES[w]) == 0 || strcasecmp(c->when, WHEN_ALIASES[w]) == 0)
            break;
    if (w < nw)
        o->when = WHEN_VALUES[w];
    else
        flag_error(errs,
                   "--when: '%s' is not \"On Request\", \"On Local Change\" or \"Periodically\"",
                   c->when);

    o->period = (long)c->period;
    o->delay = (long)c->delay;
    if (o->period > PERIOD_DOC_MAX_8800)
        fprintf(stderr,
                PROG ": warning: --period %ld is above %ld, the maximum the 8800 "
                     "administration guide documents; such phones may refuse it\n",
                o->period, PERIOD_DOC_MAX_8800);
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

/* What --check says about a parameter: a problem (counted: exit 1) or only a warning. */
typedef enum check_severity { PROBLEM, WARNING } check_severity;

/* One line "<file>: <param>: [warning: ]<message>" on stdout. */
static void note(check_ctx *c, check_severity sev, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(check_ctx *c, check_severity sev, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: %s: %s", c->file, param, sev == WARNING ? "warning: " : "");
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (sev == PROBLEM)
        c->problems++;
}

/* Checks a number of seconds; returns the value or -1. */
static long check_seconds(check_ctx *c, const pr_fp_param *p, long min, long max)
{
    long v;
    if (parse_seconds(p->value, &v) != 0) {
        note(c, PROBLEM, p->name, "'%.40s' is not a number of seconds (%ld..%ld)", p->value, min,
             max);
        return -1;
    }
    if (v < min || v > max) {
        note(c, PROBLEM, p->name, "%ld is out of range %ld..%ld", v, min, max);
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
            note(&c, PROBLEM, p->name, "%s", err);
        } else if (rules.n == 0) {
            SUMMARY("Report_Rule empty (reporting disabled)");
        } else {
            SUMMARY("Report_Rule %zu rule%s (", rules.n, rules.n > 1 ? "s" : "");
            for (size_t i = 0; i < rules.n; i++) {
                const pr_report_rule *r = &rules.rule[i];
                SUMMARY("%s%s", i ? ", " : "", pr_kind_name(r->kind));
                if (!r->uid != !r->pwd)
                    note(&c, WARNING, p->name, "rule %zu has %s without %s", i + 1,
                         r->uid ? "--uid" : "--pwd", r->uid ? "--pwd" : "--uid");
            }
            SUMMARY(")");
        }
        pr_rules_release(&rules);
    }

    p = pr_flatprofile_find(&fp, "HTTP_Report_Method");
    if (p && strcmp(p->value, "PUT") != 0 && strcmp(p->value, "POST") != 0)
        note(&c, PROBLEM, p->name, "unknown method '%.40s' (PUT or POST)", p->value);
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
            note(&c, PROBLEM, p->name,
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
            note(&c, WARNING, p->name,
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
    rule_cfg c = {0};
    rule_opts o;
    pr_errlist errs = {0};
    int rc;
    pr_cfg_section sec = {"rule (phone upload options)", rule_table, &c, NULL};
    pr_cfg_result loaded =
        pr_cfg_load(&sec, 1, NULL, argc, argv, NULL,
                    "phonereport rule --url BASE [--full] [--delta] [--status] [options]\n"
                    "       phonereport rule --check FILE.xml",
                    ABOUT, stdout, stderr);
    if (loaded == PR_CFG_EXIT_OK) {
        rc = 0;
        goto out;
    }
    check_opts(&c, argc, argv, &o, &errs); /* after a failed load too: every problem at once */
    if (loaded != PR_CFG_OK || pr_errlist_count(&errs)) {
        pr_errlist_print(&errs, PROG ": ", stderr);
        rc = PR_EXIT_CONFIG;
        goto out;
    }
    rc = c.check ? check(c.check) : generate(&o);
out:
    pr_errlist_release(&errs);
    pr_cfg_release(&sec, 1, NULL);
    return rc;
}
