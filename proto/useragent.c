/*
 * useragent.c - model, firmware and MAC from the User-Agent of a Cisco MPP phone.
 *
 * The default User-Agent template is `$VERSION ($MA)`, which phones expand to
 * `Cisco-CP-8841-3PCC/11.0 (00562b043615)`. Administrators can change the template
 * (HTTP_User_Agent_Name), e.g. to `$SWVER ($MA)` -> `sip88xx.11-3-2MPP0001-609 (00562b043615)`,
 * and newer firmware writes longer versions (`12.0.3_dcf719f39350_x`). So two independent
 * pieces are looked for, and only those:
 *   - a leading `Cisco-<model>/<firmware>` token gives model and firmware;
 *   - a trailing `(<MAC>)` group gives the MAC (any shape pr_mac_parse accepts).
 * Anything else yields nothing: a field that is not plainly there stays empty (no guessing,
 * e.g. `sip88xx.11-3-2MPP0001-609` is not turned into a model or a firmware). A field that
 * does not fit its buffer is left empty rather than truncated. Model and firmware are visible
 * ASCII only: a product token with a control character in it yields neither (they are shown by
 * the console and exported to spreadsheets; the export neutralises formulas, sink/api_phones.c).
 */
#include "useragent.h"

#include <string.h>
#include <strings.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Characters allowed in a model token (CP-8841-3PCC). */
static int is_model_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Characters allowed in a firmware token: visible ASCII except parentheses. */
static int is_firmware_char(char c)
{
    return c > 0x20 && c < 0x7f && c != '(' && c != ')';
}

/* Copies s[0..n) into dst[size] with a NUL; returns 0, or -1 (dst untouched) if too long. */
static int copy_bounded(char *dst, size_t size, const char *s, size_t n)
{
    if (n == 0 || n >= size)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* `Cisco-<model>/<firmware>` at the start, followed by white space or the end. */
static void parse_product(const char *ua, pr_user_agent *out)
{
    static const char prefix[] = "Cisco-";
    if (strncasecmp(ua, prefix, sizeof prefix - 1) != 0)
        return;
    const char *model = ua + sizeof prefix - 1;
    size_t mlen = 0;
    while (is_model_char(model[mlen]))
        mlen++;
    if (model[mlen] != '/')
        return;
    const char *fw = model + mlen + 1;
    size_t flen = 0;
    while (is_firmware_char(fw[flen]))
        flen++;
    if (fw[flen] != '\0' && !is_space(fw[flen]))
        return;
    char m[sizeof out->model], f[sizeof out->firmware];
    if (copy_bounded(m, sizeof m, model, mlen) != 0 || copy_bounded(f, sizeof f, fw, flen) != 0)
        return;
    memcpy(out->model, m, sizeof m);
    memcpy(out->firmware, f, sizeof f);
}

/* `(<MAC>)` as the last thing in the string (trailing white space allowed). */
static void parse_mac(const char *ua, pr_user_agent *out)
{
    size_t len = strlen(ua);
    while (len > 0 && is_space(ua[len - 1]))
        len--;
    if (len < 2 || ua[len - 1] != ')')
        return;
    size_t open = len - 1;
    while (open > 0 && ua[open - 1] != '(' && ua[open - 1] != ')')
        open--;
    if (open == 0 || ua[open - 1] != '(')
        return;
    /* The group stands alone: at the start or after white space. */
    if (open >= 2 && !is_space(ua[open - 2]))
        return;
    char mac[PR_MAC_LEN + 1];
    if (pr_mac_parse(ua + open, len - 1 - open, mac, NULL, 0) == PR_OK)
        memcpy(out->mac, mac, sizeof mac);
}

pr_status pr_useragent_parse(const char *ua, pr_user_agent *out)
{
    memset(out, 0, sizeof *out);
    if (!ua)
        return PR_ENOTFOUND;
    parse_product(ua, out);
    parse_mac(ua, out);
    return out->model[0] || out->firmware[0] || out->mac[0] ? PR_OK : PR_ENOTFOUND;
}
