/* test_ingest_kind.c - report kind from path globs; upload prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testmain.h"

#include "ingest_int.h"

static void test_the_kind_of_a_path_follows_the_globs(void **state)
{
    (void)state;
    static const struct {
        const char *why, *status, *delta, *full, *path;
        pr_kind want;
    } c[] = {
        {"the defaults", "*status*", "*delta*", "*", "/r/00562b043615-status.xml", PR_KIND_STATUS},
        {"the defaults", "*status*", "*delta*", "*", "/r/00562b043615-delta.xml", PR_KIND_DELTA},
        {"the defaults", "*status*", "*delta*", "*", "/r/00562b043615.xml", PR_KIND_FULL},
        {"case-blind", "*status*", "*delta*", "*", "/r/config-mpp-DELTA.xml", PR_KIND_DELTA},
        {"status wins over delta", "*status*", "*delta*", "*", "/delta/status.xml", PR_KIND_STATUS},
        {"paths", "/s/*", "/d/*", "/f/*, /full/*", "/s/x.xml", PR_KIND_STATUS},
        {"a list of globs", "/s/*", "/d/*", "/f/*, /full/*", "/full/x.xml", PR_KIND_FULL},
        {"no glob matches: unknown", "/s/*", "/d/*", "/f/*, /full/*", "/other/x.xml",
         PR_KIND_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        ingest_kind_rules k;
        char err[128];
        if (ingest_kind_rules_parse(c[i].status, c[i].delta, c[i].full, &k, err, sizeof err) !=
            PR_OK)
            fail_msg("%s: %s", c[i].why, err);
        pr_kind got = ingest_kind_of_path(&k, c[i].path);
        ingest_kind_rules_release(&k);
        if (got != c[i].want)
            fail_msg("%s: %s is %s, not %s", c[i].why, c[i].path, pr_kind_name(got),
                     pr_kind_name(c[i].want));
    }
}

static void test_prefixes_accept_the_paths_under_them(void **state)
{
    (void)state;
    static const char *const under[] = {"/r/00562b043615.xml", "/r", "/upload/x"};
    static const char *const outside[] = {"/x/00562b043615.xml", "/"};
    ingest_prefixes p;
    char err[128];
    assert_int_equal(ingest_prefixes_parse("/r/, /upload", &p, err, sizeof err), PR_OK);
    for (size_t i = 0; i < sizeof under / sizeof under[0]; i++)
        if (!ingest_prefixes_match(&p, under[i]))
            fail_msg("\"/r/, /upload\" refuses %s", under[i]);
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        if (ingest_prefixes_match(&p, outside[i]))
            fail_msg("\"/r/, /upload\" accepts %s", outside[i]);
    ingest_prefixes_release(&p);
}

static void test_prefixes_must_be_absolute_and_present(void **state)
{
    (void)state;
    ingest_prefixes p;
    char err[128];
    assert_int_equal(ingest_prefixes_parse("r/", &p, err, sizeof err), PR_EINVAL);
    assert_int_equal(ingest_prefixes_parse("", &p, err, sizeof err), PR_EINVAL);
}

PR_TEST_MAIN(cmocka_unit_test(test_the_kind_of_a_path_follows_the_globs),
             cmocka_unit_test(test_prefixes_accept_the_paths_under_them),
             cmocka_unit_test(test_prefixes_must_be_absolute_and_present))
