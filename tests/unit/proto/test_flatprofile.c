/* test_flatprofile.c - pr_flatprofile_parse on the real 8832 profile, the synthetic delta and
 * status samples, value rules, and every refusal (DOCTYPE, limits, malformed, not a profile). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "flatprofile.h"
#include "testsupport.h"

static char *read_sample(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/samples/%s", PR_DATA_DIR, name);
    char *buf = ts_read_file(path, len);
    if (!buf)
        fail_msg("cannot read %s", path);
    return buf;
}

static void parse_ok(const char *buf, size_t len, pr_flat_profile *fp)
{
    pr_xml_error why = PR_XML_MALFORMED;
    char err[256] = "";
    pr_status st = pr_flatprofile_parse(buf, len, NULL, fp, &why, err, sizeof err);
    if (st != PR_OK)
        fail_msg("refused: %s", err);
    assert_int_equal(why, PR_XML_OK);
}

static void expect_param(const pr_flat_profile *fp, const char *name, const char *value,
                         const char *ua)
{
    const pr_fp_param *p = pr_flatprofile_find(fp, name);
    if (!p)
        fail_msg("parameter %s missing", name);
    assert_string_equal(p->value, value);
    assert_string_equal(p->ua, ua);
}

/* Parses s with the given limits (NULL: default), expects a refusal for `want` whose message
 * contains `reason`. */
static void expect_bad_lim(const char *s, size_t len, const pr_xml_limits *lim, pr_xml_error want,
                           const char *reason)
{
    pr_flat_profile fp;
    pr_xml_error why = PR_XML_OK;
    char err[256] = "";
    pr_status st = pr_flatprofile_parse(s, len, lim, &fp, &why, err, sizeof err);
    if (st != PR_EINVAL)
        fail_msg("accepted (status %s), want a refusal with '%s'", pr_status_name(st), reason);
    assert_int_equal(why, want);
    if (!strstr(err, reason))
        fail_msg("reason '%s' lacks '%s'", err, reason);
    assert_int_equal(fp.len, 0);
    assert_null(fp.params);
    pr_flatprofile_release(&fp);
}

static void expect_bad(const char *s, pr_xml_error want, const char *reason)
{
    expect_bad_lim(s, strlen(s), NULL, want, reason);
}

static void test_xml_reads_the_real_8832_profile(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_sample("cisco-8832-mpp-full-profile.xml", &len);
    pr_flat_profile fp;
    parse_ok(buf, len, &fp);
    assert_int_equal(fp.len, 565);
    assert_int_equal(fp.duplicates, 0);
    assert_string_equal(fp.params[0].name, "Restricted_Access_Domains");
    assert_string_equal(fp.params[564].name, "BACKUP_ACS_User");

    expect_param(&fp, "Restricted_Access_Domains", "", "na");
    expect_param(&fp, "Phone-UI-readonly", "No", "na");
    expect_param(&fp, "Enable_802.1X_Authentication", "No", "rw");
    expect_param(&fp, "G722.2_Codec_Name", "AMR-WB", "na");
    expect_param(&fp, "Resync_At__HHmm_", "", "na");
    expect_param(&fp, "Set_Local_Date__mm_dd_yyyy_", "", "na");
    expect_param(&fp, "Log_Request_Msg",
                 "$PN $MAC -- Requesting resync $SCHEME://$SERVIP:$PORT$PATH", "na");
    expect_param(&fp, "Dial_Plan_1_",
                 "(*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)", "na");
    expect_param(&fp, "Profile_Rule", "/$PSN.xml", "na");
    expect_param(&fp, "Report_Rule", "", "na");
    expect_param(&fp, "Report_To_Server", "On Request", "na");
    expect_param(&fp, "Periodic_Upload_To_Server", "3600", "na");
    /* Commented-out secrets are not parameters; names are case-sensitive. */
    assert_null(pr_flatprofile_find(&fp, "Admin_Password"));
    assert_null(pr_flatprofile_find(&fp, "report_rule"));

    size_t rw = 0;
    for (size_t i = 0; i < fp.len; i++)
        rw += strcmp(fp.params[i].ua, "rw") == 0;
    assert_int_equal(rw, 63);
    pr_flatprofile_release(&fp);
    free(buf);
}

static void test_xml_reads_the_synthetic_delta(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_sample("synthetic-delta-report.xml", &len);
    pr_flat_profile fp;
    parse_ok(buf, len, &fp);
    assert_int_equal(fp.len, 7);
    expect_param(&fp, "Display_Name_1_", "Reception Desk", "na");
    expect_param(&fp, "Short_Name_1_", "$USER", "na");
    expect_param(&fp, "Ringer_Volume", "5", "rw");
    expect_param(&fp, "Extended_Function_2_",
                 "fnc=blf+sd+cp;sub=1002@pbx.example.com;nme=Front & Back", "na");
    expect_param(&fp, "Primary_NTP_Server", "", "rw");
    pr_flatprofile_release(&fp);
    free(buf);
}

static void test_xml_finds_flat_profile_inside_a_wrapper_and_counts_duplicates(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_sample("synthetic-status-report-GUESS.xml", &len);
    pr_flat_profile fp;
    parse_ok(buf, len, &fp);
    assert_int_equal(fp.len, 12);
    assert_int_equal(fp.duplicates, 2);
    expect_param(&fp, "Product_Name", "CP-8851-3PCC", "");
    expect_param(&fp, "Registration_State", "Not Registered", "");
    expect_param(&fp, "Operational_VLAN_ID", "", "");
    pr_flatprofile_release(&fp);
    free(buf);
}

static void test_xml_applies_the_value_rules(void **state)
{
    (void)state;
    const char *doc = "<?xml version=\"1.0\"?>\n<!-- c -->\n<env><flat-profile>\n"
                      "<A ua=\"rw\">\r\n  one\r\ntwo\nthree \t </A>\n"
                      "<B>a&#13;b&#10;c&#9;d &lt;&amp;&gt; &#x41;</B>\n"
                      "<C ua=\"xyz\"><![CDATA[ <raw> ]]></C>\n"
                      "<A ua=\"na\">last</A>\n"
                      "<D>x<nested>ignored</nested>y</D>\n"
                      "</flat-profile></env>";
    pr_flat_profile fp;
    parse_ok(doc, strlen(doc), &fp);
    assert_int_equal(fp.len, 4);
    assert_int_equal(fp.duplicates, 1);
    assert_string_equal(fp.params[0].name, "A"); /* order of first appearance */
    expect_param(&fp, "A", "last", "na");        /* last value wins, with its ua */
    expect_param(&fp, "B", "a b c\td <&> A", "");
    expect_param(&fp, "C", "<raw>", "xy");
    expect_param(&fp, "D", "xy", "");
    pr_flatprofile_release(&fp);

    const char *first = "<flat-profile><A>\n  one\n  two\n</A></flat-profile>";
    parse_ok(first, strlen(first), &fp);
    expect_param(&fp, "A", "one   two", "");
    pr_flatprofile_release(&fp);
}

static void test_xml_keeps_many_names_apart(void **state)
{
    (void)state;
    size_t n = 5000, cap = n * 64 + 64;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t off = (size_t)snprintf(doc, cap, "<flat-profile>");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(doc + off, cap - off, "<P_%zu_ ua=\"na\">v%zu</P_%zu_>", i, i, i);
    for (size_t i = 0; i < n; i += 7)
        off += (size_t)snprintf(doc + off, cap - off, "<P_%zu_>w%zu</P_%zu_>", i, i, i);
    off += (size_t)snprintf(doc + off, cap - off, "</flat-profile>");
    pr_flat_profile fp;
    parse_ok(doc, off, &fp);
    assert_int_equal(fp.len, n);
    assert_int_equal(fp.duplicates, (n + 6) / 7);
    for (size_t i = 0; i < n; i++) {
        char name[32], want[32];
        snprintf(name, sizeof name, "P_%zu_", i);
        snprintf(want, sizeof want, "%c%zu", i % 7 ? 'v' : 'w', i);
        assert_string_equal(fp.params[i].name, name);
        assert_string_equal(fp.params[i].value, want);
        assert_string_equal(fp.params[i].ua, i % 7 ? "na" : "");
    }
    pr_flatprofile_release(&fp);
    free(doc);
}

static void test_xml_accepts_an_empty_flat_profile(void **state)
{
    (void)state;
    pr_flat_profile fp;
    parse_ok("<flat-profile/>", 15, &fp);
    assert_int_equal(fp.len, 0);
    pr_flatprofile_release(&fp);
    pr_flatprofile_release(NULL);
    assert_null(pr_flatprofile_find(NULL, "x"));
}

static void test_xml_rejects_doctype(void **state)
{
    (void)state;
    expect_bad("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
               " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
               " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n"
               "<flat-profile><A>&lol3;</A></flat-profile>",
               PR_XML_DOCTYPE_FORBIDDEN, "DOCTYPE declaration at line 2 refused");
    expect_bad("<!DOCTYPE flat-profile SYSTEM \"file:///etc/passwd\"><flat-profile/>",
               PR_XML_DOCTYPE_FORBIDDEN, "DOCTYPE declaration at line 1 refused");
    expect_bad("<!DOCTYPE flat-profile><flat-profile/>", PR_XML_DOCTYPE_FORBIDDEN, "DOCTYPE");
}

static void test_xml_rejects_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 10000;
    size_t len = depth * 7 + 1;
    char *doc = malloc(len);
    assert_non_null(doc);
    size_t off = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(doc + off, "<a>", 3);
        off += 3;
    }
    for (size_t i = 0; i < depth; i++) {
        memcpy(doc + off, "</a>", 4);
        off += 4;
    }
    expect_bad_lim(doc, off, NULL, PR_XML_LIMITS, "elements nested deeper than 64 at line 1");
    free(doc);
}

static void test_xml_rejects_too_many_elements(void **state)
{
    (void)state;
    pr_xml_limits lim = pr_xml_limits_default;
    lim.max_elements = 10;
    expect_bad_lim("<flat-profile><A/><B/><C/><D/><E/><F/><G/><H/><I/><J/></flat-profile>", 68,
                   &lim, PR_XML_LIMITS, "more than 10 elements");

    size_t n = pr_xml_limits_default.max_elements + 1;
    char *doc = malloc(n * 4 + 64);
    assert_non_null(doc);
    size_t off = (size_t)sprintf(doc, "<flat-profile>");
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(doc + off, "<A/>");
    off += (size_t)sprintf(doc + off, "</flat-profile>");
    expect_bad_lim(doc, off, NULL, PR_XML_LIMITS, "more than 100000 elements");
    free(doc);
}

static void test_xml_rejects_long_values_and_large_documents(void **state)
{
    (void)state;
    pr_xml_limits lim = pr_xml_limits_default;
    lim.max_value_len = 8;
    expect_bad_lim("<flat-profile><A>123456789</A></flat-profile>", 44, &lim, PR_XML_LIMITS,
                   "a value longer than 8 bytes");
    expect_bad_lim("<flat-profile><A ua=\"123456789\"/></flat-profile>", 47, &lim, PR_XML_LIMITS,
                   "an attribute value longer than 8 bytes");
    lim = pr_xml_limits_default;
    lim.max_bytes = 20;
    expect_bad_lim("<flat-profile><A>1</A></flat-profile>", 37, &lim, PR_XML_LIMITS,
                   "document of 37 bytes, larger than 20");
}

static void test_xml_rejects_malformed_input(void **state)
{
    (void)state;
    expect_bad_lim("", 0, NULL, PR_XML_MALFORMED, "empty document");
    expect_bad_lim(NULL, 0, NULL, PR_XML_MALFORMED, "empty document");
    expect_bad(" \n ", PR_XML_MALFORMED, "XML not well-formed at line 2");
    expect_bad("this is not XML", PR_XML_MALFORMED, "XML not well-formed at line 1");
    expect_bad("<flat-profile><A>1</B></flat-profile>", PR_XML_MALFORMED, "mismatched tag");
    expect_bad("<flat-profile><A>1</A>", PR_XML_MALFORMED, "XML not well-formed");
    expect_bad("<flat-profile/><x/>", PR_XML_MALFORMED, "junk after document element");
    expect_bad("<flat-profile><A>&undefined;</A></flat-profile>", PR_XML_MALFORMED,
               "undefined entity");
    expect_bad("<flat-profile>\n<A>caf\xc3</A></flat-profile>", PR_XML_MALFORMED,
               "XML not well-formed at line 2");
    expect_bad("<flat-profile><A>\xff\xfe</A></flat-profile>", PR_XML_MALFORMED, "not well-formed");
    expect_bad_lim("<flat-profile><A>a\0b</A></flat-profile>", 38, NULL, PR_XML_MALFORMED,
                   "not well-formed");
}

static void test_xml_rejects_a_document_without_flat_profile(void **state)
{
    (void)state;
    expect_bad("<?xml version=\"1.0\"?><config><A>1</A></config>", PR_XML_NOT_PROFILE,
               "no <flat-profile> element (the root is <config>)");
    expect_bad("<Flat-Profile/>", PR_XML_NOT_PROFILE, "no <flat-profile> element");
}

PR_TEST_MAIN(cmocka_unit_test(test_xml_reads_the_real_8832_profile),
             cmocka_unit_test(test_xml_reads_the_synthetic_delta),
             cmocka_unit_test(test_xml_finds_flat_profile_inside_a_wrapper_and_counts_duplicates),
             cmocka_unit_test(test_xml_applies_the_value_rules),
             cmocka_unit_test(test_xml_keeps_many_names_apart),
             cmocka_unit_test(test_xml_accepts_an_empty_flat_profile),
             cmocka_unit_test(test_xml_rejects_doctype),
             cmocka_unit_test(test_xml_rejects_deep_nesting),
             cmocka_unit_test(test_xml_rejects_too_many_elements),
             cmocka_unit_test(test_xml_rejects_long_values_and_large_documents),
             cmocka_unit_test(test_xml_rejects_malformed_input),
             cmocka_unit_test(test_xml_rejects_a_document_without_flat_profile))
