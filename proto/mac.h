/*
 * mac.h - a phone's identity: its MAC address, normalised to 12 lower-case hex digits.
 */
#ifndef PR_MAC_H
#define PR_MAC_H

#include <stddef.h>

#include "status.h"

#define PR_MAC_LEN 12

/*
 * Accepts 00562b043615, 00562B043615, 00:56:2b:04:36:15, 00-56-2B-04-36-15, 0056.2b04.3615
 * (exactly those shapes, the whole of s[0..len)). Writes 12 lower-case hex digits and a NUL
 * to out[13]. PR_EINVAL with a reason in err for anything else, and for the all-zero and
 * broadcast (ff..ff) addresses.
 */
pr_status pr_mac_parse(const char *s, size_t len, char out[PR_MAC_LEN + 1], char *err,
                       size_t errlen);

/* True if s is already normalised (12 lower-case hex digits and a NUL). */
int pr_mac_is_normal(const char *s);

#endif
