/*
 * useragent.h - model, firmware and MAC from a Cisco MPP User-Agent such as
 * `Cisco-CP-8841-3PCC/11.0 (00562b043615)`. Administrators can change the User-Agent, so the
 * parser is lenient with other shapes and never guesses: what it cannot find stays empty.
 */
#ifndef PR_USERAGENT_H
#define PR_USERAGENT_H

#include "mac.h"
#include "status.h"

typedef struct pr_user_agent {
    char model[48];           /* "CP-8841-3PCC", or "" */
    char firmware[64];        /* "11.0", "12.0.3_dcf719f39350_...", or "" */
    char mac[PR_MAC_LEN + 1]; /* normalised, or "" */
} pr_user_agent;

/* PR_OK if at least one field was found, PR_ENOTFOUND if none (out is then all empty). */
pr_status pr_useragent_parse(const char *ua, pr_user_agent *out);

#endif
