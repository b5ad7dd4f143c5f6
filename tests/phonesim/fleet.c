/*
 * fleet.c - what a simulated phone is and says: identity and keys from (seed, index), its
 * profile (the real 8832 profile with per-phone values), full/delta/status report bodies, the
 * local changes a user makes, the encryption it applies, and the decoder's keystore for it.
 *
 * Values live in sim_values arrays over the base profile's parameters: an entry that is the
 * base's own pointer is borrowed, any other non-NULL entry is owned, so a fleet of thousands
 * of phones shares the unchanged strings.
 */
#include "phonesim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "flatprofile.h"
#include "hex.h"

const char *sim_enc_name(sim_enc e)
{
    switch (e) {
    case SIM_ENC_NONE: return "none";
    case SIM_ENC_CBC_MD5: return "cbc-md5";
    case SIM_ENC_CBC_SHA256: return "cbc-sha256";
    case SIM_ENC_ECE: return "ece";
    }
    return "?";
}

int sim_enc_mode_parse(const char *s, sim_enc_mode *out)
{
    static const struct {
        const char *name;
        sim_enc_mode mode;
    } tab[] = {{"none", SIM_ENCM_NONE},
               {"cbc-md5", SIM_ENCM_CBC_MD5},
               {"cbc-sha256", SIM_ENCM_CBC_SHA256},
               {"ece", SIM_ENCM_ECE},
               {"mixed", SIM_ENCM_MIXED}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].name) == 0) {
            *out = tab[i].mode;
            return 0;
        }
    return -1;
}

int sim_method_mode_parse(const char *s, sim_method_mode *out)
{
    if (strcmp(s, "PUT") == 0)
        *out = SIM_METHOD_PUT;
    else if (strcmp(s, "POST") == 0)
        *out = SIM_METHOD_POST;
    else if (strcmp(s, "mixed") == 0)
        *out = SIM_METHOD_MIXED;
    else
        return -1;
    return 0;
}

/* ---- base profile ---------------------------------------------------------------------- */

int sim_base_load(const char *path, sim_base *base, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    pr_flat_profile fp = {0};
    pr_xml_error why = PR_XML_OK;
    int rc = -1;

    memset(base, 0, sizeof *base);
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    for (;;) {
        if (len + 4096 > cap) {
            cap = (len + 4096) * 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                goto out;
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    char perr[256] = "";
    if (pr_flatprofile_parse(buf, len, NULL, &fp, &why, perr, sizeof perr) != PR_OK) {
        snprintf(err, errlen, "%s: %s", path, perr);
        goto out;
    }
    if (fp.len == 0) {
        snprintf(err, errlen, "%s: no parameters", path);
        goto out;
    }
    base->name = calloc(fp.len, sizeof *base->name);
    base->value = calloc(fp.len, sizeof *base->value);
    base->ua = calloc(fp.len, sizeof *base->ua);
    base->rw = calloc(fp.len, sizeof *base->rw);
    if (!base->name || !base->value || !base->ua || !base->rw)
        goto out;
    for (size_t i = 0; i < fp.len; i++) {
        base->name[i] = strdup(fp.params[i].name);
        base->value[i] = strdup(fp.params[i].value);
        base->n = i + 1;
        if (!base->name[i] || !base->value[i])
            goto out;
        memcpy(base->ua[i], fp.params[i].ua, sizeof base->ua[i]);
        base->ua[i][2] = '\0';
        if (strcmp(base->ua[i], "rw") == 0)
            base->rw[base->n_rw++] = i;
    }
    rc = 0;
out:
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "out of memory reading %s", path);
    if (rc != 0)
        sim_base_release(base);
    pr_flatprofile_release(&fp);
    free(buf);
    fclose(f);
    return rc;
}

void sim_base_release(sim_base *base)
{
    for (size_t i = 0; i < base->n; i++) {
        free(base->name[i]);
        free(base->value[i]);
    }
    free(base->name);
    free(base->value);
    free(base->ua);
    free(base->rw);
    memset(base, 0, sizeof *base);
}

size_t sim_base_find(const sim_base *base, const char *name)
{
    for (size_t i = 0; i < base->n; i++)
        if (strcmp(base->name[i], name) == 0)
            return i;
    return (size_t)-1;
}

sim_values sim_values_new(const sim_base *base)
{
    return calloc(base->n ? base->n : 1, sizeof(char *));
}

static void values_drop(const sim_base *base, sim_values v, size_t i)
{
    if (v[i] != base->value[i])
        free(v[i]);
    v[i] = NULL;
}

int sim_values_set(const sim_base *base, sim_values v, size_t i, const char *val)
{
    char *copy = NULL;
    if (val == base->value[i] || (val && strcmp(val, base->value[i]) == 0))
        copy = base->value[i]; /* borrow: the base's own string */
    else if (val && !(copy = strdup(val)))
        return -1;
    values_drop(base, v, i);
    v[i] = copy;
    return 0;
}

int sim_values_copy(const sim_base *base, sim_values dst, const sim_values src)
{
    for (size_t i = 0; i < base->n; i++)
        if (dst[i] != src[i] && sim_values_set(base, dst, i, src[i]) != 0)
            return -1;
    return 0;
}

void sim_values_free(const sim_base *base, sim_values v)
{
    if (!v)
        return;
    for (size_t i = 0; i < base->n; i++)
        values_drop(base, v, i);
    free(v);
}

/* ---- identity -------------------------------------------------------------------------- */

void sim_phone_identity(uint64_t seed, size_t index, sim_enc_mode enc, sim_method_mode method,
                        sim_phone *p)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    sim_rng fleet, r;
    unsigned char b[6];

    memset(p, 0, sizeof *p);
    p->index = index;

    /* One locally administered unicast "OUI" per fleet (bit 1 set, bit 0 clear), and a
     * 24-bit serial that is a bijection of the index: distinct MACs for 16M phones. */
    sim_rng_seed(&fleet, seed, 0);
    uint64_t oui = sim_rng_next(&fleet);
    uint64_t mult = sim_rng_next(&fleet) | 1; /* odd: invertible mod 2^24 */
    uint64_t add = sim_rng_next(&fleet);
    b[0] = (unsigned char)(((oui >> 16) & 0xfc) | 0x02);
    b[1] = (unsigned char)(oui >> 8);
    b[2] = (unsigned char)oui;
    if (b[0] == 0x02 && b[1] == 0xba && (b[2] & 0xf0) == 0xd0)
        b[1] ^= 0x01; /* keep clear of the `bad` phones' 02:ba:dX prefix */
    uint32_t serial = (uint32_t)((index * mult + add) & 0xffffff);
    b[3] = (unsigned char)(serial >> 16);
    b[4] = (unsigned char)(serial >> 8);
    b[5] = (unsigned char)serial;
    pr_hex_encode(b, 6, p->mac);

    sim_rng_seed(&r, seed, (uint64_t)index + 1);
    switch (enc) {
    case SIM_ENCM_NONE: p->enc = SIM_ENC_NONE; break;
    case SIM_ENCM_CBC_MD5: p->enc = SIM_ENC_CBC_MD5; break;
    case SIM_ENCM_CBC_SHA256: p->enc = SIM_ENC_CBC_SHA256; break;
    case SIM_ENCM_ECE: p->enc = SIM_ENC_ECE; break;
    case SIM_ENCM_MIXED: p->enc = (sim_enc)(index % 4); break;
    }
    p->put = method == SIM_METHOD_PUT || (method == SIM_METHOD_MIXED && (index / 4) % 2 == 0);
    p->chunked = index % 3 == 2;
    p->send_ce = (index / 8) % 2 == 0;

    for (size_t i = 0; i < 20; i++)
        p->password[i] = alnum[sim_rng_below(&r, sizeof alnum - 1)];
    p->password[20] = '\0';

    p->ikm_len = sizeof p->ikm;
    switch ((index / 4) % 3) {
    case 0: /* printable IKM, used as its ASCII bytes (like the sample's MyIKMsecret12345) */
        p->ikm_encoding = "text";
        for (size_t i = 0; i < p->ikm_len; i++)
            p->ikm[i] = (unsigned char)alnum[sim_rng_below(&r, sizeof alnum - 1)];
        memcpy(p->ikm_text, p->ikm, p->ikm_len);
        p->ikm_text[p->ikm_len] = '\0';
        break;
    case 1:
        p->ikm_encoding = "base64url";
        for (size_t i = 0; i < p->ikm_len; i++)
            p->ikm[i] = (unsigned char)sim_rng_next(&r);
        sim_b64url(p->ikm, p->ikm_len, p->ikm_text);
        break;
    default:
        p->ikm_encoding = "hex";
        for (size_t i = 0; i < p->ikm_len; i++)
            p->ikm[i] = (unsigned char)sim_rng_next(&r);
        pr_hex_encode(p->ikm, p->ikm_len, p->ikm_text);
        break;
    }
}

sim_phone *sim_fleet_identities(uint64_t seed, size_t n, sim_enc_mode enc, sim_method_mode method)
{
    sim_phone *phones = calloc(n ? n : 1, sizeof *phones);
    if (!phones)
        return NULL;
    for (size_t i = 0; i < n; i++)
        sim_phone_identity(seed, i, enc, method, &phones[i]);
    return phones;
}

/* ---- profiles and reports -------------------------------------------------------------- */

static int set_named(const sim_base *base, sim_values v, const char *name, const char *val)
{
    size_t i = sim_base_find(base, name);
    return i == (size_t)-1 ? 0 : sim_values_set(base, v, i, val);
}

int sim_phone_profile(const sim_base *base, const sim_phone *p, const char *rule_base, sim_rng *rng,
                      sim_values v)
{
    static const char *const zones[] = {"GMT-08:00", "GMT-05:00", "GMT",
                                        "GMT+01:00", "GMT+05:30", "GMT+09:00"};
    char buf[512], macu[PR_MAC_LEN + 1];
    int rc = 0;

    for (size_t i = 0; i < base->n; i++)
        v[i] = base->value[i];
    for (size_t i = 0; i <= PR_MAC_LEN; i++)
        macu[i] = (char)(p->mac[i] >= 'a' && p->mac[i] <= 'f' ? p->mac[i] - 32 : p->mac[i]);

    snprintf(buf, sizeof buf, "Sim Phone %zu", p->index);
    rc |= set_named(base, v, "Display_Name_1_", buf);
    snprintf(buf, sizeof buf, "%llu", 4081000000ULL + (unsigned long long)p->index);
    rc |= set_named(base, v, "User_ID_1_", buf);
    rc |= set_named(base, v, "Auth_ID_1_", buf);
    snprintf(buf, sizeof buf, "SEP%s", macu);
    rc |= set_named(base, v, "Station_Name", buf);
    snprintf(buf, sizeof buf, "[--delta]%s/$MA/delta.xml [--status]%s/$MA/status.xml", rule_base,
             rule_base);
    rc |= set_named(base, v, "Report_Rule", buf);
    rc |= set_named(base, v, "HTTP_Report_Method", p->put ? "PUT" : "POST");
    rc |= set_named(base, v, "Report_To_Server", "On Local Change");
    snprintf(buf, sizeof buf, "%u", 10 + (unsigned)sim_rng_below(rng, 891));
    rc |= set_named(base, v, "Upload_Delay_On_Local_Change", buf);
    snprintf(buf, sizeof buf, "%u", 1 + (unsigned)sim_rng_below(rng, 15));
    rc |= set_named(base, v, "Ringer_Volume", buf);
    rc |= set_named(base, v, "Time_Zone", zones[sim_rng_below(rng, sizeof zones / sizeof *zones)]);
    return rc ? -1 : 0;
}

static int render_param(sim_buf *out, const sim_base *base, size_t i, const char *val)
{
    int rc = sim_buf_printf(out, "<%s", base->name[i]);
    if (base->ua[i][0])
        rc |= sim_buf_printf(out, " ua=\"%s\"", base->ua[i]);
    if (!val[0])
        return rc | sim_buf_puts(out, "/>\n");
    rc |= sim_buf_puts(out, ">");
    rc |= sim_buf_put_xml_text(out, val);
    rc |= sim_buf_printf(out, "</%s>\n", base->name[i]);
    return rc ? -1 : 0;
}

int sim_render_full(const sim_base *base, const sim_values v, sim_buf *out)
{
    int rc = sim_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<flat-profile>\n"
                               " <!--  written by phonereport-sim  -->\n");
    for (size_t i = 0; i < base->n && rc == 0; i++)
        if (v[i])
            rc = render_param(out, base, i, v[i]);
    return rc | sim_buf_puts(out, "</flat-profile>\n") ? -1 : 0;
}

int sim_render_delta(const sim_base *base, const sim_values v, const size_t *idx, size_t n,
                     sim_buf *out)
{
    int rc = sim_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<flat-profile>\n");
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = render_param(out, base, idx[k], v[idx[k]] ? v[idx[k]] : "");
    return rc | sim_buf_puts(out, "</flat-profile>\n") ? -1 : 0;
}

int sim_render_status(const sim_phone *p, long long uptime_s, sim_rng *rng, sim_buf *out)
{
    char macu[PR_MAC_LEN + 1], now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%m/%d/%Y %H:%M:%S", &tm);
    for (size_t i = 0; i <= PR_MAC_LEN; i++)
        macu[i] = (char)(p->mac[i] >= 'a' && p->mac[i] <= 'f' ? p->mac[i] - 32 : p->mac[i]);
    const char *pi = "Info/Product_Information", *ps = "Info/Phone_Status";
    int rc = 0;
    rc |=
        sim_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<status>\n<flat-profile>\n");
    rc |= sim_buf_printf(out, "<Product_Name group=\"%s\">CP-8832-3PCC</Product_Name>\n", pi);
    rc |=
        sim_buf_printf(out, "<Serial_Number group=\"%s\">FCH%06zX</Serial_Number>\n", pi, p->index);
    rc |= sim_buf_printf(out, "<MAC_Address group=\"%s\">%s</MAC_Address>\n", pi, macu);
    rc |= sim_buf_printf(out,
                         "<Software_Version group=\"%s\">sip8832.11-3-1MPP0001-272"
                         "</Software_Version>\n",
                         pi);
    rc |= sim_buf_printf(out, "<Hardware_Version group=\"%s\">V01</Hardware_Version>\n", pi);
    rc |= sim_buf_printf(out, "<Current_Time group=\"%s\">%s</Current_Time>\n", ps, now);
    rc |= sim_buf_printf(out, "<Elapsed_Time group=\"%s\">%02lld:%02lld:%02lld</Elapsed_Time>\n",
                         ps, uptime_s / 3600, uptime_s / 60 % 60, uptime_s % 60);
    rc |= sim_buf_printf(out, "<Operational_VLAN_ID group=\"%s\"/>\n", ps);
    rc |= sim_buf_printf(out,
                         "<Registration_State group=\"Info/Ext_1_Status\">%s"
                         "</Registration_State>\n",
                         sim_rng_chance(rng, 95) ? "Registered" : "Failed");
    rc |= sim_buf_printf(out,
                         "<Last_Registration_At group=\"Info/Ext_1_Status\">%s"
                         "</Last_Registration_At>\n",
                         now);
    rc |= sim_buf_printf(out,
                         "<Next_Registration_In group=\"Info/Ext_1_Status\">%u s"
                         "</Next_Registration_In>\n",
                         (unsigned)sim_rng_below(rng, 3600));
    rc |= sim_buf_printf(out, "<Message_Waiting group=\"Info/Ext_1_Status\">%s</Message_Waiting>\n",
                         sim_rng_chance(rng, 20) ? "Yes" : "No");
    rc |= sim_buf_puts(out, "<Registration_State group=\"Info/Ext_2_Status\">Not Registered"
                            "</Registration_State>\n"
                            "<Message_Waiting group=\"Info/Ext_2_Status\">No</Message_Waiting>\n"
                            "</flat-profile>\n</status>\n");
    return rc ? -1 : 0;
}

/* A new value for parameter i, different from cur, as a user or the phone would set it. */
static void new_value(const sim_base *base, size_t i, const char *cur, sim_rng *rng, char *out,
                      size_t outlen)
{
    static const char *const pairs[][2] = {{"Yes", "No"}, {"Enabled", "Disabled"}, {"On", "Off"}};
    const char *name = base->name[i];
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
        for (size_t j = 0; j < 2; j++)
            if (strcmp(cur, pairs[k][j]) == 0) {
                snprintf(out, outlen, "%s", pairs[k][1 - j]);
                return;
            }
    size_t digits = strspn(cur, "0123456789");
    if (cur[0] && !cur[digits] && digits < 9)
        snprintf(out, outlen, "%u", (unsigned)sim_rng_below(rng, 100));
    else if (strstr(name, "Name"))
        snprintf(out, outlen, "%s %u", sim_rng_chance(rng, 30) ? "R&D <Lab>" : "Desk",
                 (unsigned)sim_rng_below(rng, 1000));
    else if (strstr(name, "Number") || strstr(name, "Dest"))
        snprintf(out, outlen, "%u", 1000 + (unsigned)sim_rng_below(rng, 9000));
    else if (strstr(name, "DNS") || strstr(name, "NTP") || strstr(name, "Gateway") ||
             strstr(name, "IP"))
        snprintf(out, outlen, "10.%u.%u.%u", (unsigned)sim_rng_below(rng, 256),
                 (unsigned)sim_rng_below(rng, 256), 1 + (unsigned)sim_rng_below(rng, 254));
    else
        snprintf(out, outlen, "sim-%06x", (unsigned)sim_rng_below(rng, 0x1000000));
    if (strcmp(out, cur) == 0 && strlen(out) + 1 < outlen)
        strcat(out, "1");
}

int sim_local_change(const sim_base *base, sim_values v, sim_rng *rng, size_t max_changes,
                     size_t *idx)
{
    size_t want = 1 + (size_t)sim_rng_below(rng, max_changes), n = 0;
    char val[128];
    for (size_t tries = 0; n < want && tries < 64; tries++) {
        size_t i = base->n_rw && sim_rng_chance(rng, 80) ? base->rw[sim_rng_below(rng, base->n_rw)]
                                                         : (size_t)sim_rng_below(rng, base->n);
        bool dup = !v[i];
        for (size_t k = 0; k < n && !dup; k++)
            dup = idx[k] == i;
        if (dup)
            continue;
        if (v[i][0] && sim_rng_chance(rng, 12))
            val[0] = '\0'; /* set to empty: an empty element, never a removal */
        else
            new_value(base, i, v[i], rng, val, sizeof val);
        if (sim_values_set(base, v, i, val) != 0)
            return -1;
        idx[n++] = i;
    }
    return (int)n;
}

int sim_encrypt(const sim_phone *p, const sim_buf *plain, sim_buf *out)
{
    switch (p->enc) {
    case SIM_ENC_NONE: return sim_buf_put(out, plain->data, plain->len);
    case SIM_ENC_CBC_MD5:
        return sim_crypto_openssl_enc("md5", p->password, NULL, plain->data, plain->len, out);
    case SIM_ENC_CBC_SHA256:
        return sim_crypto_openssl_enc("sha256", p->password, NULL, plain->data, plain->len, out);
    case SIM_ENC_ECE:
        return sim_crypto_aes128gcm(p->ikm, p->ikm_len, NULL, 4096, "", plain->data, plain->len,
                                    out);
    }
    return -1;
}

/* ---- keystore: the decoder's format (decoder/keystore.c)
 * -------------------------------------------------------------------------- */

int sim_keystore_write(const char *path, const sim_phone *phones, size_t n, char *err,
                       size_t errlen)
{
    json_t *root = json_object(), *map = json_object();
    int rc = -1;
    char *text = NULL;
    if (!root || !map || json_object_set(root, "phones", map) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const sim_phone *p = &phones[i];
        json_t *e = NULL;
        if (p->enc == SIM_ENC_CBC_MD5 || p->enc == SIM_ENC_CBC_SHA256)
            e = json_pack("{s:s}", "openssl_password", p->password);
        else if (p->enc == SIM_ENC_ECE)
            e = json_pack("{s:{s:s}}", "ikm", p->ikm_encoding, p->ikm_text);
        else
            continue;
        if (!e || json_object_set_new(map, p->mac, e) != 0)
            goto out;
    }
    if (json_object_set_new(map, SIM_BAD_MAC_CBC,
                            json_pack("{s:s}", "openssl_password", SIM_BAD_PASSWORD)) != 0 ||
        json_object_set_new(map, SIM_BAD_MAC_ECE,
                            json_pack("{s:{s:s}}", "ikm", "text", SIM_BAD_IKM)) != 0)
        goto out;
    text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!text || sim_write_file(path, text, strlen(text)) != 0) {
        snprintf(err, errlen, "cannot write keystore %s", path);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "out of memory building the keystore");
    free(text);
    json_decref(map);
    json_decref(root);
    return rc;
}
