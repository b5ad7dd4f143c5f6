/*
 * test_jsonw.c - the streaming JSON writer (proto/jsonw.c): commas and nesting, escapes,
 * UTF-8 repair, numbers, base64, misuse refused, growth from a tiny buffer, no reallocation
 * once the buffer is large enough; every text read back with jansson, an independent parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* The finished text, checked to be what jansson reads back as one value. */
static char *finish_valid(pr_jsonw *w, size_t *len)
{
    char *text = pr_jsonw_finish(w, len);
    assert_non_null(text);
    assert_int_equal(strlen(text), *len);
    json_error_t je;
    json_t *v = json_loadb(text, *len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        fail_msg("jansson refuses %s: %s", text, je.text);
    json_decref(v);
    return text;
}

static void test_jsonw_places_commas_and_colons_in_nested_values(void **state)
{
    (void)state;
    pr_jsonw w;
    size_t len;
    pr_jsonw_init(&w, 0);
    pr_jsonw_obj_begin(&w);
    pr_jsonw_keyz(&w, "a");
    pr_jsonw_arr_begin(&w);
    pr_jsonw_int(&w, 1);
    pr_jsonw_int(&w, -2);
    pr_jsonw_bool(&w, true);
    pr_jsonw_bool(&w, false);
    pr_jsonw_null(&w);
    pr_jsonw_obj_begin(&w);
    pr_jsonw_obj_end(&w);
    pr_jsonw_arr_begin(&w);
    pr_jsonw_arr_end(&w);
    pr_jsonw_arr_end(&w);
    pr_jsonw_keyz(&w, "b");
    pr_jsonw_obj_begin(&w);
    pr_jsonw_keyz(&w, "c");
    pr_jsonw_strz(&w, "d");
    pr_jsonw_keyz(&w, "e");
    pr_jsonw_strz(&w, NULL);
    pr_jsonw_obj_end(&w);
    pr_jsonw_keyz(&w, "");
    pr_jsonw_int(&w, INT64_MIN);
    pr_jsonw_keyz(&w, "max");
    pr_jsonw_int(&w, INT64_MAX);
    pr_jsonw_keyz(&w, "zero");
    pr_jsonw_int(&w, 0);
    pr_jsonw_obj_end(&w);
    char *text = finish_valid(&w, &len);
    assert_string_equal(text, "{\"a\":[1,-2,true,false,null,{},[]],\"b\":{\"c\":\"d\",\"e\":\"\"},"
                              "\"\":-9223372036854775808,\"max\":9223372036854775807,\"zero\":0}");
    free(text);
    pr_jsonw_release(&w);
}

static void test_jsonw_escapes_what_json_strings_cannot_carry(void **state)
{
    (void)state;
    char in[40];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        in[n++] = (char)c;
    in[n++] = '"';
    in[n++] = '\\';
    in[n++] = '/';
    in[n++] = 0x7f;
    pr_jsonw w;
    size_t len;
    pr_jsonw_init(&w, 1);
    pr_jsonw_obj_begin(&w);
    pr_jsonw_key(&w, in, n); /* keys are escaped the same way */
    pr_jsonw_str(&w, in, n);
    pr_jsonw_obj_end(&w);
    char *text = finish_valid(&w, &len);
    json_t *v = json_loads(text, 0, NULL);
    const char *k;
    json_t *s;
    json_object_foreach(v, k, s)
    {
        assert_int_equal(strlen(k), n);
        assert_memory_equal(k, in, n);
        assert_int_equal(json_string_length(s), n);
        assert_memory_equal(json_string_value(s), in, n);
    }
    assert_int_equal(json_object_size(v), 1);
    assert_non_null(strstr(text, "\\n\\u000b\\f\\r\\u000e"));
    json_decref(v);
    free(text);
}

/* The string value jansson reads back from the writer's text for in[0..n). */
static char *round_trip(const char *in, size_t n, size_t *out_len)
{
    pr_jsonw w;
    size_t len;
    pr_jsonw_init(&w, 0);
    pr_jsonw_str(&w, in, n);
    char *text = finish_valid(&w, &len);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_true(json_is_string(v));
    *out_len = json_string_length(v);
    char *s = malloc(*out_len + 1);
    memcpy(s, json_string_value(v), *out_len + 1);
    json_decref(v);
    free(text);
    return s;
}

static void expect_round_trip(const char *in, size_t n, const char *want)
{
    size_t len;
    char *s = round_trip(in, n, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
    free(s);
}

#define FFFD "\xef\xbf\xbd"

static void test_jsonw_replaces_each_byte_that_is_not_utf8_and_keeps_the_rest(void **state)
{
    (void)state;
    expect_round_trip("ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 19,
                      "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
    expect_round_trip("a\xff"
                      "b\xc0\xaf"
                      "c",
                      6, "a" FFFD "b" FFFD FFFD "c");
    expect_round_trip("x\0y", 3, "x" FFFD "y");                             /* a NUL */
    expect_round_trip("\xed\xa0\x80", 3, FFFD FFFD FFFD);                   /* a surrogate */
    expect_round_trip("\xe0\x80\x80", 3, FFFD FFFD FFFD);                   /* overlong */
    expect_round_trip("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);          /* above U+10FFFF */
    expect_round_trip("\xf8\x88\x80\x80\x80", 5, FFFD FFFD FFFD FFFD FFFD); /* 5 bytes */
    expect_round_trip("end \xe2\x82", 6, "end " FFFD FFFD);                 /* cut at the end */
    expect_round_trip("\xc3", 1, FFFD);
    expect_round_trip("", 0, "");
}

/* Random bytes: always valid JSON (finish_valid), and valid UTF-8 comes back unchanged. */
static void test_jsonw_writes_valid_json_for_any_bytes(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char buf[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 64);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            /* Mostly bytes around the interesting edges. */
            static const unsigned char pick[] = {0x00, 0x1f, 0x20, '"',  '\\', 'a',  0x7f, 0x80,
                                                 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4};
            buf[i] = (char)(r & 0x100 ? pick[r & 15] : (unsigned char)r);
        }
        size_t len;
        char *s = round_trip(buf, n, &len);
        json_t *valid = json_stringn(buf, n); /* jansson's own UTF-8 check of the input */
        if (valid && !memchr(buf, 0, n)) {
            assert_int_equal(len, n);
            assert_memory_equal(s, buf, n);
        }
        json_decref(valid);
        free(s);
    }
}

static void test_jsonw_base64_follows_rfc4648(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"\"\"",         "\"Zg==\"",     "\"Zm8=\"",    "\"Zm9v\"",
                                      "\"Zm9vYg==\"", "\"Zm9vYmE=\"", "\"Zm9vYmFy\""};
    for (size_t i = 0; i < 7; i++) {
        pr_jsonw w;
        size_t len;
        pr_jsonw_init(&w, 0);
        pr_jsonw_base64(&w, (const unsigned char *)in[i], strlen(in[i]));
        char *text = finish_valid(&w, &len);
        assert_string_equal(text, out[i]);
        free(text);
    }
}

static void test_jsonw_refuses_text_left_open_or_closed_too_often(void **state)
{
    (void)state;
    pr_jsonw w;
    size_t len = 0;
    pr_jsonw_init(&w, 0);
    pr_jsonw_obj_begin(&w);
    assert_null(pr_jsonw_finish(&w, &len)); /* still open */
    pr_jsonw_arr_begin(&w);
    pr_jsonw_arr_end(&w);
    pr_jsonw_arr_end(&w);
    assert_null(pr_jsonw_finish(&w, &len)); /* closed once too often */
    pr_jsonw_int(&w, 1);
    pr_jsonw_int(&w, 2);
    assert_null(pr_jsonw_finish(&w, &len)); /* two values at the top */
    assert_null(pr_jsonw_finish(&w, &len)); /* nothing written */
    pr_jsonw_strz(&w, "after all that, a writer that works");
    char *text = finish_valid(&w, &len);
    free(text);
    pr_jsonw_release(&w);
    pr_jsonw_release(&w); /* twice is harmless */
}

/* From a one-byte hint to megabytes; and with a large enough hint, never reallocated. */
static void test_jsonw_grows_and_does_not_reallocate_once_large_enough(void **state)
{
    (void)state;
    size_t big = 3u << 20;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, 'x', big);
    s[7] = '\n';
    s[big - 1] = '\xc3'; /* cut: replaced */
    pr_jsonw w;
    size_t len;
    pr_jsonw_init(&w, 1);
    pr_jsonw_arr_begin(&w);
    pr_jsonw_str(&w, s, big);
    pr_jsonw_arr_end(&w);
    char *text = finish_valid(&w, &len);
    assert_int_equal(len, big + 1 + 2 + 2 + 2);
    free(text);
    free(s);

    pr_jsonw_init(&w, 1u << 20);
    pr_jsonw_obj_begin(&w);
    const char *first = w.b.p;
    assert_non_null(first);
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof name, "Param_%d_", i);
        pr_jsonw_keyz(&w, name);
        pr_jsonw_strz(&w, "a value of some length, as a profile has");
    }
    pr_jsonw_obj_end(&w);
    assert_ptr_equal(w.b.p, first);
    text = finish_valid(&w, &len);
    json_t *v = json_loads(text, 0, NULL);
    assert_int_equal(json_object_size(v), 2000);
    json_decref(v);
    free(text);
    pr_jsonw_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonw_places_commas_and_colons_in_nested_values),
        cmocka_unit_test(test_jsonw_escapes_what_json_strings_cannot_carry),
        cmocka_unit_test(test_jsonw_replaces_each_byte_that_is_not_utf8_and_keeps_the_rest),
        cmocka_unit_test(test_jsonw_writes_valid_json_for_any_bytes),
        cmocka_unit_test(test_jsonw_base64_follows_rfc4648),
        cmocka_unit_test(test_jsonw_refuses_text_left_open_or_closed_too_often),
        cmocka_unit_test(test_jsonw_grows_and_does_not_reallocate_once_large_enough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
