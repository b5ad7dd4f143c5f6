/*
 * rule.h - the phone's Report_Rule parameter: up to two rules separated by white space, each
 * an optional bracketed argument list and a URL:
 *   [--delta --key "test123"]https://edge.example.net/r/$MA-delta.xml [--status]https://...
 * Also the rest of the upload options of a profile (HTTP_Report_Method, Report_To_Server, ...)
 * as used by `phonereport rule`.
 */
#ifndef PR_RULE_H
#define PR_RULE_H

#include <stddef.h>

#include "contract.h"
#include "status.h"

#define PR_RULE_MAX 2

typedef struct pr_report_rule {
    pr_kind kind; /* FULL (no content argument), DELTA or STATUS */
    char *key;    /* --key, quotes stripped, or NULL */
    char *uid;    /* --uid or NULL */
    char *pwd;    /* --pwd or NULL */
    char *url;    /* http, https or tftp URL; macros such as $MA kept literally */
} pr_report_rule;

typedef struct pr_report_rules {
    pr_report_rule rule[PR_RULE_MAX];
    size_t n;
} pr_report_rules;

/*
 * Parses s. On PR_EINVAL, err says what and where ("at column 14: unknown argument --foo"):
 * unclosed bracket, unknown argument, --delta with --status, missing key/uid/pwd value,
 * missing URL, URL scheme not http/https/tftp, more than two rules. An empty or blank s gives
 * PR_OK with n == 0 (reporting disabled). Owns its strings: release with pr_rules_release().
 */
pr_status pr_rules_parse(const char *s, pr_report_rules *out, char *err, size_t errlen);
void pr_rules_release(pr_report_rules *r);

#endif
