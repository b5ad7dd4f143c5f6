/* test_status.c - the one error vocabulary: the exit status each class maps to, and the error
 * list that configuration checks fill (every problem kept, in order, none lost silently). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "status.h"

static void test_each_class_has_its_exit_status(void **state)
{
    (void)state;
    assert_int_equal(pr_status_exit_code(PR_OK), 0);
    assert_int_equal(pr_status_exit_code(PR_EINVAL), 78);
    assert_int_equal(pr_status_exit_code(PR_ETRANSIENT), 75);
    assert_int_equal(pr_status_exit_code(PR_EFATAL), 70);
}

static void test_errlist_keeps_every_message_in_order(void **state)
{
    (void)state;
    pr_errlist e = {0};
    char *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < 20; i++)
        pr_errlist_add(&e, "problem %d", i);
    assert_int_equal(pr_errlist_count(&e), 20);
    FILE *f = open_memstream(&buf, &len);
    pr_errlist_print(&e, "cmd: ", f);
    fclose(f);
    assert_non_null(strstr(buf, "cmd: problem 0\ncmd: problem 1\n"));
    assert_non_null(strstr(buf, "cmd: problem 19\n"));
    free(buf);
    pr_errlist_release(&e);
    assert_int_equal(pr_errlist_count(&e), 0);
    pr_errlist_release(&e); /* twice is fine */
}

static void test_errlist_counts_a_message_it_could_not_store(void **state)
{
    (void)state;
    pr_errlist e = {.lost = 1};
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(pr_errlist_count(&e), 1);
    FILE *f = open_memstream(&buf, &len);
    pr_errlist_print(&e, NULL, f);
    fclose(f);
    assert_non_null(strstr(buf, "out of memory"));
    free(buf);
    pr_errlist_release(&e);
}

PR_TEST_MAIN(cmocka_unit_test(test_each_class_has_its_exit_status),
             cmocka_unit_test(test_errlist_keeps_every_message_in_order),
             cmocka_unit_test(test_errlist_counts_a_message_it_could_not_store))
