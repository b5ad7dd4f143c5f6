/* test_useragent.c - pr_useragent_parse: the default Cisco shape, lenient variants, and the
 * shapes it must not guess from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "useragent.h"

static void expect(const char *ua, pr_status st, const char *model, const char *fw, const char *mac)
{
    pr_user_agent out;
    memset(&out, 'x', sizeof out);
    pr_status got = pr_useragent_parse(ua, &out);
    if (got != st)
        fail_msg("'%s': status %s, want %s", ua ? ua : "(null)", pr_status_name(got),
                 pr_status_name(st));
    assert_string_equal(out.model, model);
    assert_string_equal(out.firmware, fw);
    assert_string_equal(out.mac, mac);
}

static void test_useragent_reads_the_default_cisco_shape(void **state)
{
    (void)state;
    expect("Cisco-CP-8841-3PCC/11.0 (00562b043615)", PR_OK, "CP-8841-3PCC", "11.0", "00562b043615");
    expect("Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", PR_OK, "CP-7832-3PCC", "11.0.1",
           "00562b043615");
}

static void test_useragent_accepts_long_firmware_and_upper_case_mac(void **state)
{
    (void)state;
    expect("Cisco-CP-8865-3PCC/12.0.3_dcf719f39350_x (00562B043615)", PR_OK, "CP-8865-3PCC",
           "12.0.3_dcf719f39350_x", "00562b043615");
}

static void test_useragent_takes_only_the_mac_from_a_changed_template(void **state)
{
    (void)state;
    expect("sip88xx.11-3-2MPP0001-609 (00562b043615)", PR_OK, "", "", "00562b043615");
    expect("(00562b043615)", PR_OK, "", "", "00562b043615");
    expect("my phone (00:56:2b:04:36:15)  ", PR_OK, "", "", "00562b043615");
}

static void test_useragent_reads_product_without_mac(void **state)
{
    (void)state;
    expect("Cisco-CP-8841-3PCC/11.0", PR_OK, "CP-8841-3PCC", "11.0", "");
    expect("Cisco-CP-8841-3PCC/11.0 extra words", PR_OK, "CP-8841-3PCC", "11.0", "");
}

static void test_useragent_returns_not_found_for_unknown_shapes(void **state)
{
    (void)state;
    expect("Mozilla/5.0 (X11; Linux x86_64)", PR_ENOTFOUND, "", "", "");
    expect("curl/8.0.1", PR_ENOTFOUND, "", "", "");
    expect("", PR_ENOTFOUND, "", "", "");
    expect(NULL, PR_ENOTFOUND, "", "", "");
    expect("Cisco-/11.0", PR_ENOTFOUND, "", "", "");
    expect("Cisco-CP-8841-3PCC/ (00562b04361)", PR_ENOTFOUND, "", "", "");
    expect("Cisco-CP-8841-3PCC/11.0(00562b043615)", PR_ENOTFOUND, "", "", "");
}

static void test_useragent_refuses_a_bad_mac_but_keeps_the_product(void **state)
{
    (void)state;
    expect("Cisco-CP-8841-3PCC/11.0 (000000000000)", PR_OK, "CP-8841-3PCC", "11.0", "");
    expect("Cisco-CP-8841-3PCC/11.0 (00562b04361g)", PR_OK, "CP-8841-3PCC", "11.0", "");
    expect("Cisco-CP-8841-3PCC/11.0 (00562b043615) trailing", PR_OK, "CP-8841-3PCC", "11.0", "");
    expect("Cisco-CP-8841-3PCC/11.0 x(00562b043615)", PR_OK, "CP-8841-3PCC", "11.0", "");
}

static void test_useragent_leaves_oversized_fields_empty(void **state)
{
    (void)state;
    char ua[512];
    char fw[200];
    memset(fw, '1', sizeof fw - 1);
    fw[sizeof fw - 1] = '\0';
    snprintf(ua, sizeof ua, "Cisco-CP-8841-3PCC/%s (00562b043615)", fw);
    expect(ua, PR_OK, "", "", "00562b043615");

    char model[100];
    memset(model, 'M', sizeof model - 1);
    model[sizeof model - 1] = '\0';
    snprintf(ua, sizeof ua, "Cisco-%s/11.0", model);
    expect(ua, PR_ENOTFOUND, "", "", "");
}

/* Model and firmware are only ever visible ASCII (they reach the console, the exports and
 * spreadsheets): a product token holding a control character gives neither (the MAC group
 * still counts); white space (tab, CR) ends the firmware token. A formula-looking firmware is
 * kept as text: the CSV export neutralises it (sink/api_phones.c). */
static void test_useragent_drops_a_product_with_control_characters(void **state)
{
    (void)state;
    expect("Cisco-CP-8832-3PCC/12.0\x01x (00562b043615)", PR_OK, "", "", "00562b043615");
    expect("Cisco-CP-8832-3PCC/12.0\x1b[31m (00562b043615)", PR_OK, "", "", "00562b043615");
    expect("Cisco-CP-8832-3PCC/12.0\x7f", PR_ENOTFOUND, "", "", "");
    expect("Cisco-CP\x02-8832-3PCC/12.0", PR_ENOTFOUND, "", "", "");
    expect("Cisco-CP-8832-3PCC/12.0\t=1+1", PR_OK, "CP-8832-3PCC", "12.0", "");
    expect("Cisco-CP-8832-3PCC/12.0\r\nX: y", PR_OK, "CP-8832-3PCC", "12.0", "");
    expect("Cisco-CP-8832-3PCC/=cmd|'/Ccalc'!A0 (00562b043615)", PR_OK, "CP-8832-3PCC",
           "=cmd|'/Ccalc'!A0", "00562b043615");
}

PR_TEST_MAIN(cmocka_unit_test(test_useragent_reads_the_default_cisco_shape),
             cmocka_unit_test(test_useragent_accepts_long_firmware_and_upper_case_mac),
             cmocka_unit_test(test_useragent_takes_only_the_mac_from_a_changed_template),
             cmocka_unit_test(test_useragent_reads_product_without_mac),
             cmocka_unit_test(test_useragent_returns_not_found_for_unknown_shapes),
             cmocka_unit_test(test_useragent_refuses_a_bad_mac_but_keeps_the_product),
             cmocka_unit_test(test_useragent_leaves_oversized_fields_empty),
             cmocka_unit_test(test_useragent_drops_a_product_with_control_characters))
