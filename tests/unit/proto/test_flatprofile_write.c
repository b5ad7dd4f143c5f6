/* test_flatprofile_write.c - the flat-profile writer (the sink's XML export): every document
 * it writes parses with an independent parser (Python's xml.etree, tests/support/xml_parse.py)
 * and with our own reader, carries each value exactly, and leaves out and counts what XML 1.0
 * cannot carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"
#include <jansson.h>

#include "flatprofile.h"
#include "testsupport.h"

typedef struct row {
    const char *name, *value, *ua;
} row;

static char *write_doc(const char *comment, const row *rows, size_t n, size_t *omitted)
{
    pr_flatprofile_writer *w = pr_flatprofile_writer_new(comment);
    char *out = NULL;
    size_t len = 0;
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pr_flatprofile_writer_add(w, rows[i].name, rows[i].value, rows[i].ua),
                         PR_OK);
    assert_int_equal(pr_flatprofile_writer_finish(w, &out, &len, omitted), PR_OK);
    assert_int_equal(len, strlen(out));
    return out;
}

/* The independent parser's view of doc: {"root":..., "params":[[tag, text, ua], ...]}. */
static json_t *parse_independent(const char *doc)
{
    char *text = ts_xml_parse(doc, strlen(doc));
    if (!text)
        fail_msg("not well-formed XML for xml.etree");
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    free(text);
    assert_string_equal(json_string_value(json_object_get(j, "root")), "flat-profile");
    return j;
}

static void test_writer_carries_every_value_exactly(void **state)
{
    (void)state;
    static const row rows[] = {
        {"Display_Name_1_", "Alice & Bob <x> \"q\" 'a'", "rw"},
        {"Dial_Plan_1_", "(*xx|[3469]11|<:1>xx.)", NULL},
        {"Tabs", "a\tb\nc\rd", "ro"},
        {"Unicode", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd \xc2\x85", "na"},
        {"Empty", "", NULL},
        {"Odd_ua", "1", "x<&\""},
        {"a.b-c_9", "]]>", ""},
    };
    size_t omitted = 99;
    char *doc = write_doc("phonereport: 00562b043615 version 3", rows, 7, &omitted);
    assert_int_equal(omitted, 0);
    assert_non_null(strstr(doc, "<!-- phonereport: 00562b043615 version 3 -->"));
    json_t *j = parse_independent(doc);
    json_t *params = json_object_get(j, "params");
    assert_int_equal(json_array_size(params), 7);
    for (size_t i = 0; i < 7; i++) {
        json_t *p = json_array_get(params, i);
        assert_string_equal(json_string_value(json_array_get(p, 0)), rows[i].name);
        assert_string_equal(json_string_value(json_array_get(p, 1)), rows[i].value);
        if (rows[i].ua && *rows[i].ua)
            assert_string_equal(json_string_value(json_array_get(p, 2)), rows[i].ua);
        else
            assert_true(json_is_null(json_array_get(p, 2)));
    }
    json_decref(j);
    /* Our own reader agrees on names and ua (its value rules trim and fold newlines). */
    pr_flat_profile fp;
    pr_xml_error why;
    char err[256];
    assert_int_equal(pr_flatprofile_parse(doc, strlen(doc), NULL, &fp, &why, err, sizeof err),
                     PR_OK);
    assert_int_equal(fp.len, 7);
    assert_string_equal(pr_flatprofile_find(&fp, "Display_Name_1_")->value, rows[0].value);
    assert_string_equal(pr_flatprofile_find(&fp, "Display_Name_1_")->ua, "rw");
    assert_string_equal(pr_flatprofile_find(&fp, "Unicode")->value, rows[3].value);
    assert_string_equal(pr_flatprofile_find(&fp, "Empty")->value, "");
    pr_flatprofile_release(&fp);
    free(doc);
}

static void test_writer_leaves_out_names_xml_cannot_carry(void **state)
{
    (void)state;
    static const row rows[] = {
        {"Space\xe2\x80\x80", "1", NULL}, /* U+2000 */
        {"Times\xc3\x97", "1", NULL},     /* U+00D7 */
        {"Comb\xcc\x81", "1", NULL},      /* a combining mark */
        {"\xc3\xa9t\xc3\xa9", "1", NULL}, /* a letter, but not ASCII */
        {"x:A", "1", NULL},               /* an unbound namespace prefix */
        {"1A", "1", NULL},
        {"-A", "1", NULL},
        {".A", "1", NULL},
        {"", "1", NULL},
        {"A B", "1", NULL},
        {"A<B", "1", NULL},
        {"A>", "1", NULL},
        {"A&", "1", NULL},
        {"A\"", "1", NULL},
        {"Kept", "1", NULL},
    };
    size_t omitted = 0;
    char *doc = write_doc(NULL, rows, 15, &omitted);
    assert_int_equal(omitted, 14);
    assert_non_null(strstr(doc, "<!-- 14 parameter(s) omitted: name not valid in XML -->"));
    json_t *j = parse_independent(doc);
    json_t *params = json_object_get(j, "params");
    assert_int_equal(json_array_size(params), 1);
    assert_string_equal(json_string_value(json_array_get(json_array_get(params, 0), 0)), "Kept");
    json_decref(j);
    free(doc);
}

static void test_writer_leaves_out_values_xml_cannot_carry(void **state)
{
    (void)state;
    static const row rows[] = {
        {"Ctl",
         "a\x01"
         "b",
         NULL},
        {"Esc", "\x1b[0m", NULL},
        {"Nonchar_fffe", "\xef\xbf\xbe", NULL},
        {"Nonchar_ffff", "x\xef\xbf\xbf", NULL},
        {"Cut", "\xc3", NULL},
        {"Surrogate", "\xed\xa0\x80", NULL},
        {"Overlong", "\xc0\xaf", NULL},
        {"Overlong3", "\xe0\x80\xaf", NULL},
        {"Too_high", "\xf4\x90\x80\x80", NULL},
        {"Lone_continuation", "\x80", NULL},
        {"Ua_ctl", "1", "\x01"},
        {"Ua_nonchar", "1", "\xef\xbf\xbe"},
        {"Kept", "\xf4\x8f\xbf\xbd", "rw"}, /* U+10FFFD is a Char */
    };
    size_t omitted = 0;
    char *doc = write_doc(NULL, rows, 13, &omitted);
    assert_int_equal(omitted, 12);
    assert_non_null(strstr(doc, "<!-- 12 parameter(s) omitted: value or access has a character "
                                "XML 1.0 cannot carry -->"));
    json_t *j = parse_independent(doc);
    json_t *params = json_object_get(j, "params");
    assert_int_equal(json_array_size(params), 1);
    assert_string_equal(json_string_value(json_array_get(json_array_get(params, 0), 1)),
                        rows[12].value);
    json_decref(j);
    free(doc);
}

static void test_writer_drops_a_comment_xml_cannot_carry(void **state)
{
    (void)state;
    static const row rows[] = {{"A", "1", NULL}};
    const char *bad[] = {"a -- b", "ends with -", "ctl \x01", "ok"};
    for (size_t i = 0; i < 4; i++) {
        char *doc = write_doc(bad[i], rows, 1, NULL);
        json_decref(parse_independent(doc));
        assert_true((strstr(doc, "<!--") != NULL) == (i == 3));
        free(doc);
    }
}

/* Random bytes for names, values and ua (a fixed seed, so a failure repeats): whatever goes
 * in, the document is well-formed and every parameter is either written or counted. */
static void test_writer_output_is_well_formed_for_random_input(void **state)
{
    (void)state;
    enum { N = 300 };
    static char names[N][8], values[N][24], uas[N][4];
    /* Mostly text and markup characters, now and then a byte XML cannot carry. */
    static const char good[] = "aZ_9.-: <>&\"'\t\r\n\xc3\xa9";
    static const char bad[] = "\x01\x7f\x80\xbf\xef\xbf\xbe\xed\xc3";
    unsigned seed = 20261129;
    pr_flatprofile_writer *w = pr_flatprofile_writer_new("random");
    size_t written = 0, omitted = 0, len = 0;
    char *doc = NULL;
    assert_non_null(w);
    for (size_t i = 0; i < N; i++) {
        char *fields[3] = {names[i], values[i], uas[i]};
        size_t sizes[3] = {sizeof names[i], sizeof values[i], sizeof uas[i]};
        for (size_t f = 0; f < 3; f++) {
            size_t n = (seed = seed * 1103515245u + 12345u) % sizes[f];
            for (size_t k = 0; k < n; k++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = seed >> 16;
                fields[f][k] = r % 16 == 0 ? bad[(r >> 4) % (sizeof bad - 1)]
                                           : good[(r >> 4) % (sizeof good - 1)];
            }
            fields[f][n] = '\0';
        }
        if (i % 3 == 0) /* a third with a plain name, so that values are exercised too */
            snprintf(names[i], sizeof names[i], "P%zu", i);
        assert_int_equal(pr_flatprofile_writer_add(w, names[i], values[i], uas[i]), PR_OK);
    }
    assert_int_equal(pr_flatprofile_writer_finish(w, &doc, &len, &omitted), PR_OK);
    json_t *j = parse_independent(doc);
    written = json_array_size(json_object_get(j, "params"));
    assert_int_equal(written + omitted, N);
    assert_true(written > 0 && omitted > 0);
    json_decref(j);
    free(doc);
}

static void test_writer_free_accepts_null(void **state)
{
    (void)state;
    pr_flatprofile_writer_free(NULL);
    pr_flatprofile_writer_free(pr_flatprofile_writer_new(NULL));
}

PR_TEST_MAIN(cmocka_unit_test(test_writer_carries_every_value_exactly),
             cmocka_unit_test(test_writer_leaves_out_names_xml_cannot_carry),
             cmocka_unit_test(test_writer_leaves_out_values_xml_cannot_carry),
             cmocka_unit_test(test_writer_drops_a_comment_xml_cannot_carry),
             cmocka_unit_test(test_writer_output_is_well_formed_for_random_input),
             cmocka_unit_test(test_writer_free_accepts_null))
