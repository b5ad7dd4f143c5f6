/*
 * mac.c - parses a phone's MAC address in the five shapes phones, labels and operators use,
 * and normalises it to the one form every Kafka key and table uses: 12 lower-case hex digits.
 *
 * Strict on purpose: the MAC is the phone's identity (the record key), so a half-right
 * string (a missing digit, a stray separator) is refused with a reason instead of being
 * repaired into some other phone's identity.
 */
#include "mac.h"

#include "hex.h"

#include <string.h>

/* One character for a message: itself if printable ASCII, else \xNN. */
static const char *show_char(char c, char buf[8])
{
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7f) {
        buf[0] = c;
        buf[1] = '\0';
    } else {
        buf[0] = '\\';
        buf[1] = 'x';
        pr_hex_encode(&u, 1, buf + 2);
    }
    return buf;
}

static int is_sep(char c)
{
    return c == ':' || c == '-' || c == '.';
}

pr_status pr_mac_parse(const char *s, size_t len, char out[PR_MAC_LEN + 1], char *err,
                       size_t errlen)
{
    /* Shape by length: positions (0-based) where a separator must stand. */
    static const size_t colon_pos[] = {2, 5, 8, 11, 14};
    static const size_t dot_pos[] = {4, 9};
    const size_t *seps = NULL;
    size_t nseps = 0;
    char cbuf[8];

    if (out)
        out[0] = '\0';
    if (!s)
        return pr_err(PR_EINVAL, err, errlen, "bad MAC: missing");
    switch (len) {
    case 12: break;
    case 14:
        seps = dot_pos;
        nseps = 2;
        break;
    case 17:
        seps = colon_pos;
        nseps = 5;
        break;
    default:
        return pr_err(PR_EINVAL, err, errlen,
                      "bad MAC: wrong length %zu (want 12 hex digits, 00:56:2b:04:36:15, "
                      "00-56-2b-04-36-15 or 0056.2b04.3615)",
                      len);
    }

    /* Separators first, so that "00:56-2b..." says "mixed separators", not "bad hex". */
    char sep = 0;
    for (size_t i = 0; i < nseps; i++) {
        char c = s[seps[i]];
        if (!is_sep(c))
            return pr_err(PR_EINVAL, err, errlen,
                          "bad MAC: expected a separator at position %zu, found '%s'", seps[i] + 1,
                          show_char(c, cbuf));
        if (sep && c != sep)
            return pr_err(PR_EINVAL, err, errlen,
                          "bad MAC: mixed separators '%c' and '%c' at position %zu", sep, c,
                          seps[i] + 1);
        sep = c;
    }
    if (len == 17 && sep == '.')
        return pr_err(PR_EINVAL, err, errlen,
                      "bad MAC: '.' separates groups of four (0056.2b04.3615), not pairs");
    if (len == 14 && sep != '.')
        return pr_err(PR_EINVAL, err, errlen,
                      "bad MAC: '%c' separates pairs (00%c56%c2b...), not groups of four", sep, sep,
                      sep);

    char norm[PR_MAC_LEN + 1];
    size_t n = 0, next_sep = 0;
    int zero = 1, ones = 1;
    for (size_t i = 0; i < len; i++) {
        if (next_sep < nseps && i == seps[next_sep]) {
            next_sep++;
            continue;
        }
        int v = pr_hex_val(s[i]);
        if (v < 0)
            return pr_err(PR_EINVAL, err, errlen, "bad MAC: bad hex digit '%s' at position %zu",
                          show_char(s[i], cbuf), i + 1);
        norm[n++] = "0123456789abcdef"[v];
        zero &= v == 0;
        ones &= v == 15;
    }
    norm[n] = '\0';
    if (zero)
        return pr_err(PR_EINVAL, err, errlen, "bad MAC: all-zero address");
    if (ones)
        return pr_err(PR_EINVAL, err, errlen, "bad MAC: broadcast address ff:ff:ff:ff:ff:ff");
    if (out)
        memcpy(out, norm, sizeof norm);
    return PR_OK;
}

int pr_mac_is_normal(const char *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < PR_MAC_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[PR_MAC_LEN] == '\0';
}
