/*
 * rule.c - parses the phone's Report_Rule: up to two rules separated by white space, each an
 * optional bracketed argument list and a URL (reference section 1.0, DESIGN section 1).
 *
 *   rules := ws* [ rule ( ws+ rule )? ] ws*
 *   rule  := [ '[' ws* ( arg ws* )* ']' ws* ] URL
 *   arg   := --delta | --status | --key VALUE | --uid VALUE | --pwd VALUE
 *   VALUE := "any text but a double quote" | a token without white space or ']'
 *
 * White space is allowed inside the brackets and between ']' and the URL: Cisco's own
 * documentation writes `[ --key secretphrase ] http://prov.serv.net/spa/$MA/rep.xml.enc`
 * (SPA Provisioning Guide, quoted in reference section 2). This stays unambiguous because a
 * URL never starts with '[', so after ']' the next token is always this rule's URL, and a
 * rule ends at the white space after its URL.
 *
 * An unquoted value that starts with "--" is taken as a forgotten value (`[--key --delta]`),
 * not as a key; quote it to use such a key. A repeated --key/--uid/--pwd is refused (which one
 * would the phone use?); a repeated --delta or --status is harmless and accepted.
 *
 * Errors name the 1-based column where the problem starts. They never echo a --key, --uid or
 * --pwd value.
 */
#include "rule.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct scan {
    const char *s;
    size_t i;
    char *err;
    size_t errlen;
} scan;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(scan *sc)
{
    while (is_ws(sc->s[sc->i]))
        sc->i++;
}

static int token_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(t, word, n) == 0;
}

static void rule_release(pr_report_rule *r)
{
    free(r->key);
    free(r->uid);
    free(r->pwd);
    free(r->url);
    memset(r, 0, sizeof *r);
    r->kind = PR_KIND_FULL;
}

void pr_rules_release(pr_report_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < PR_RULE_MAX; i++)
        rule_release(&r->rule[i]);
    r->n = 0;
}

/* Reads the value of --key/--uid/--pwd (the argument's name at column argcol) into *dst. */
static pr_status read_value(scan *sc, const char *arg, size_t argcol, char **dst)
{
    const char *s = sc->s;
    if (*dst)
        return pr_err(PR_EINVAL, sc->err, sc->errlen, "at column %zu: repeated %s", argcol, arg);
    skip_ws(sc);
    size_t start = sc->i, n;
    const char *v;
    if (s[start] == '"') {
        const char *close = strchr(s + start + 1, '"');
        if (!close)
            return pr_err(PR_EINVAL, sc->err, sc->errlen,
                          "at column %zu: unclosed double quote in the value of %s", start + 1,
                          arg);
        v = s + start + 1;
        n = (size_t)(close - v);
        sc->i = (size_t)(close - s) + 1;
        if (s[sc->i] && !is_ws(s[sc->i]) && s[sc->i] != ']')
            return pr_err(PR_EINVAL, sc->err, sc->errlen,
                          "at column %zu: unexpected character after the closing quote of %s",
                          sc->i + 1, arg);
    } else {
        while (s[sc->i] && !is_ws(s[sc->i]) && s[sc->i] != ']')
            sc->i++;
        v = s + start;
        n = sc->i - start;
        if (n >= 2 && v[0] == '-' && v[1] == '-')
            n = 0; /* the next argument, not a value */
    }
    if (n == 0)
        return pr_err(PR_EINVAL, sc->err, sc->errlen, "at column %zu: %s needs a value", argcol,
                      arg);
    *dst = strndup(v, n);
    if (!*dst)
        return pr_err(PR_EFATAL, sc->err, sc->errlen, "out of memory");
    return PR_OK;
}

/* True if the '[' at s[open] has a matching ']' (one outside double quotes), or if a double
 * quote is left open (the parser then reports the quote, the more precise mistake). */
static int bracket_closes(const char *s, size_t open)
{
    int quoted = 0;
    for (size_t i = open + 1; s[i]; i++) {
        if (s[i] == '"')
            quoted = !quoted;
        else if (s[i] == ']' && !quoted)
            return 1;
    }
    return quoted;
}

/* The bracketed argument list; sc->i is at '['. */
static pr_status parse_args(scan *sc, pr_report_rule *r)
{
    const char *s = sc->s;
    size_t open = sc->i++;
    size_t content_col = 0; /* column of the --delta/--status seen, for conflicts */
    /* Said first: otherwise the URL would be reported as an unknown argument. */
    if (!bracket_closes(s, open))
        return pr_err(PR_EINVAL, sc->err, sc->errlen,
                      "at column %zu: unclosed bracket '[' (no ']' before the end)", open + 1);
    for (;;) {
        skip_ws(sc);
        if (!s[sc->i])
            return pr_err(PR_EINVAL, sc->err, sc->errlen,
                          "at column %zu: unclosed bracket '[' (no ']' before the end)", open + 1);
        if (s[sc->i] == ']') {
            sc->i++;
            return PR_OK;
        }
        size_t start = sc->i;
        while (s[sc->i] && !is_ws(s[sc->i]) && s[sc->i] != ']')
            sc->i++;
        const char *t = s + start;
        size_t n = sc->i - start;
        pr_status st = PR_OK;
        if (token_is(t, n, "--delta") || token_is(t, n, "--status")) {
            pr_kind k = t[2] == 'd' ? PR_KIND_DELTA : PR_KIND_STATUS;
            if (r->kind != PR_KIND_FULL && r->kind != k)
                return pr_err(PR_EINVAL, sc->err, sc->errlen,
                              "at column %zu: %.*s cannot be combined with %s (column %zu): "
                              "use two rules",
                              start + 1, (int)n, t,
                              r->kind == PR_KIND_DELTA ? "--delta" : "--status", content_col);
            r->kind = k;
            content_col = start + 1;
        } else if (token_is(t, n, "--key")) {
            st = read_value(sc, "--key", start + 1, &r->key);
        } else if (token_is(t, n, "--uid")) {
            st = read_value(sc, "--uid", start + 1, &r->uid);
        } else if (token_is(t, n, "--pwd")) {
            st = read_value(sc, "--pwd", start + 1, &r->pwd);
        } else {
            return pr_err(PR_EINVAL, sc->err, sc->errlen,
                          "at column %zu: unknown argument '%.*s' (known: --delta, --status, "
                          "--key, --uid, --pwd)",
                          start + 1, n > 40 ? 40 : (int)n, t);
        }
        if (st != PR_OK)
            return st;
    }
}

static int has_prefix_ci(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && strncasecmp(s, prefix, p) == 0;
}

static pr_status parse_url(scan *sc, pr_report_rule *r)
{
    static const char *const schemes[] = {"http://", "https://", "tftp://"};
    const char *s = sc->s;
    size_t start = sc->i;
    if (!s[start] || s[start] == '[')
        return pr_err(PR_EINVAL, sc->err, sc->errlen, "at column %zu: missing URL", start + 1);
    while (s[sc->i] && !is_ws(s[sc->i]))
        sc->i++;
    const char *u = s + start;
    size_t n = sc->i - start;
    size_t scheme_len = 0;
    for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++)
        if (has_prefix_ci(u, n, schemes[k]))
            scheme_len = strlen(schemes[k]);
    if (!scheme_len)
        return pr_err(PR_EINVAL, sc->err, sc->errlen,
                      "at column %zu: URL scheme must be http, https or tftp: '%.*s'", start + 1,
                      n > 60 ? 60 : (int)n, u);
    if (n == scheme_len || u[scheme_len] == '/')
        return pr_err(PR_EINVAL, sc->err, sc->errlen, "at column %zu: URL has no host: '%.*s'",
                      start + 1, n > 60 ? 60 : (int)n, u);
    r->url = strndup(u, n);
    if (!r->url)
        return pr_err(PR_EFATAL, sc->err, sc->errlen, "out of memory");
    return PR_OK;
}

pr_status pr_rules_parse(const char *s, pr_report_rules *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < PR_RULE_MAX; i++)
        out->rule[i].kind = PR_KIND_FULL;
    if (err && errlen)
        err[0] = '\0';
    if (!s)
        return PR_OK;

    scan sc = {.s = s, .i = 0, .err = err, .errlen = errlen};
    pr_status st = PR_OK;
    skip_ws(&sc);
    while (s[sc.i]) {
        if (out->n == PR_RULE_MAX) {
            st = pr_err(PR_EINVAL, err, errlen,
                        "at column %zu: a third rule (Report_Rule holds at most two)", sc.i + 1);
            goto out;
        }
        pr_report_rule *r = &out->rule[out->n];
        if (s[sc.i] == '[') {
            st = parse_args(&sc, r);
            if (st != PR_OK)
                goto out;
            skip_ws(&sc);
        }
        st = parse_url(&sc, r);
        if (st != PR_OK)
            goto out;
        out->n++;
        skip_ws(&sc);
    }
out:
    if (st != PR_OK)
        pr_rules_release(out);
    return st;
}
