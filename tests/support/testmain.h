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

#endif
