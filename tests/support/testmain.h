/*
 * testmain.h - the main of a test program that only runs its cmocka tests:
 *
 *   PR_TEST_MAIN(cmocka_unit_test(test_a), cmocka_unit_test(test_b))
 *
 * Include after <cmocka.h>. A program that does more first (a broker, a filter) writes its
 * own main.
 */
#ifndef PR_TESTMAIN_H
#define PR_TESTMAIN_H

#define PR_TEST_MAIN(...)                                                                          \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest tests_[] = {__VA_ARGS__};                                          \
        return cmocka_run_group_tests(tests_, NULL, NULL);                                         \
    }

/* A test whose *state is a temporary directory of its own (ts_tmpdir_setup, testsupport.h). */
#define TS_TMPDIR_TEST(test)                                                                       \
    cmocka_unit_test_setup_teardown(test, ts_tmpdir_setup, ts_tmpdir_teardown)

#endif
