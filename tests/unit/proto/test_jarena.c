/*
 * test_jarena.c - jansson trees parsed in an arena (proto/jarena.c): before the install there
 * is no arena; a tree parsed inside a window equals the same text parsed on the heap (large
 * values, hash tables that grow, nesting); jansson outside a window still allocates and frees
 * on the heap (json_dumps freed with free()); a failed parse goes with its arena, an arena
 * may be freed on another thread, and chunks taken again from the pool read as new (the
 * Debug build's address sanitizer watches every chunk).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testmain.h"
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jarena.h"

/* {"p0":"v0",...} with n members, one of them a value of big bytes. */
static char *object_text(int n, size_t big)
{
    json_t *o = json_object();
    char name[32], value[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "p%d", i);
        snprintf(value, sizeof value, "v%d \"q\" \\ é", i);
        json_object_set_new(o, name, json_string(value));
    }
    char *b = malloc(big + 1);
    assert_non_null(b);
    memset(b, 'x', big);
    b[big] = '\0';
    json_object_set_new(o, "big", json_string(b));
    json_object_set_new(o, "nested", json_pack("{s[iii]s{sb}}", "a", 1, 2, 3, "o", "t", 1));
    free(b);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void test_no_arena_before_the_install(void **state)
{
    (void)state;
    assert_false(pr_jarena_installed());
    assert_null(pr_jarena_new());
    pr_jarena_install();
    assert_true(pr_jarena_installed());
}

static void test_a_tree_parsed_in_an_arena_equals_the_heap_parse(void **state)
{
    (void)state;
    char *text = object_text(2000, 100000); /* a value larger than a chunk */
    json_t *heap = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(heap);
    pr_jarena *a = pr_jarena_new();
    assert_non_null(a);
    pr_jarena_enter(a);
    json_t *in = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    pr_jarena_leave();
    assert_non_null(in);
    assert_true(json_equal(in, heap));
    assert_true(pr_jarena_bytes(a) > strlen(text)); /* the tree is in the arena */
    assert_int_equal(strlen(json_string_value(json_object_get(in, "big"))), 100000);
    /* reading it outside the window allocates on the heap: free() takes the result */
    char *again = json_dumps(in, JSON_COMPACT);
    assert_string_equal(again, text);
    free(again);
    pr_jarena_free(a);
    json_decref(heap);
    free(text);
}

static void test_a_failed_parse_in_an_arena_goes_with_it(void **state)
{
    (void)state;
    char *text = object_text(500, 10);
    text[strlen(text) - 1] = ','; /* not JSON any more */
    pr_jarena *a = pr_jarena_new();
    json_error_t e;
    pr_jarena_enter(a);
    json_t *in = json_loads(text, 0, &e);
    pr_jarena_leave();
    assert_null(in);
    assert_true(strlen(e.text) > 0);
    pr_jarena_free(a); /* every partial allocation with it */
    free(text);
}

static void *free_it(void *arg)
{
    pr_jarena_free(arg);
    return NULL;
}

static void test_an_arena_may_be_freed_on_another_thread(void **state)
{
    (void)state;
    char *text = object_text(100, 10);
    pr_jarena *a = pr_jarena_new();
    pr_jarena_enter(a);
    json_t *in = json_loads(text, 0, NULL);
    pr_jarena_leave();
    assert_non_null(in);
    assert_int_equal(json_object_size(in), 102);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_it, a), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* the heap is still the heap for everyone else */
    json_t *h = json_loads(text, 0, NULL);
    assert_int_equal(json_object_size(h), 102);
    json_decref(h);
    free(text);
}

/* Many arenas one after another: each takes chunks the previous ones gave back. */
static void test_chunks_from_the_pool_serve_new_arenas(void **state)
{
    (void)state;
    char *text = object_text(3000, 10);
    json_t *heap = json_loads(text, 0, NULL);
    for (int i = 0; i < 20; i++) {
        pr_jarena *a = pr_jarena_new();
        pr_jarena_enter(a);
        json_t *in = json_loads(text, 0, NULL);
        pr_jarena_leave();
        assert_true(json_equal(in, heap));
        pr_jarena_free(a);
    }
    json_decref(heap);
    free(text);
}

PR_TEST_MAIN(cmocka_unit_test(test_no_arena_before_the_install),
             cmocka_unit_test(test_a_tree_parsed_in_an_arena_equals_the_heap_parse),
             cmocka_unit_test(test_a_failed_parse_in_an_arena_goes_with_it),
             cmocka_unit_test(test_an_arena_may_be_freed_on_another_thread),
             cmocka_unit_test(test_chunks_from_the_pool_serve_new_arenas))
