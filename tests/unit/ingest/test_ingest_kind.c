/* test_ingest_kind.c - report kind from path globs; upload prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testmain.h"

#include "ingest_int.h"

static void test_default_rules_give_status_delta_full(void **state)
{
    (void)state;
    ingest_kind_rules k;
    char err[128];
    assert_int_equal(ingest_kind_rules_parse("*status*", "*delta*", "*", &k, err, sizeof err),
                     PR_OK);
    assert_int_equal(ingest_kind_of_path(&k, "/r/00562b043615-status.xml"), PR_KIND_STATUS);
    assert_int_equal(ingest_kind_of_path(&k, "/r/00562b043615-delta.xml"), PR_KIND_DELTA);
    assert_int_equal(ingest_kind_of_path(&k, "/r/00562b043615.xml"), PR_KIND_FULL);
    assert_int_equal(ingest_kind_of_path(&k, "/r/config-mpp-DELTA.xml"), PR_KIND_DELTA);
    ingest_kind_rules_release(&k);
}

static void test_status_wins_over_delta(void **state)
{
    (void)state;
    ingest_kind_rules k;
    char err[128];
    assert_int_equal(ingest_kind_rules_parse("*status*", "*delta*", "*", &k, err, sizeof err),
                     PR_OK);
    assert_int_equal(ingest_kind_of_path(&k, "/delta/status.xml"), PR_KIND_STATUS);
    ingest_kind_rules_release(&k);
}

static void test_path_matching_no_glob_is_unknown(void **state)
{
    (void)state;
    ingest_kind_rules k;
    char err[128];
    assert_int_equal(ingest_kind_rules_parse("/s/*", "/d/*", "/f/*, /full/*", &k, err, sizeof err),
                     PR_OK);
    assert_int_equal(ingest_kind_of_path(&k, "/s/x.xml"), PR_KIND_STATUS);
    assert_int_equal(ingest_kind_of_path(&k, "/full/x.xml"), PR_KIND_FULL);
    assert_int_equal(ingest_kind_of_path(&k, "/other/x.xml"), PR_KIND_UNKNOWN);
    ingest_kind_rules_release(&k);
}

static void test_prefix_accepts_paths_under_it(void **state)
{
    (void)state;
    ingest_prefixes p;
    char err[128];
    assert_int_equal(ingest_prefixes_parse("/r/, /upload", &p, err, sizeof err), PR_OK);
    assert_true(ingest_prefixes_match(&p, "/r/00562b043615.xml"));
    assert_true(ingest_prefixes_match(&p, "/r"));
    assert_true(ingest_prefixes_match(&p, "/upload/x"));
    assert_false(ingest_prefixes_match(&p, "/x/00562b043615.xml"));
    assert_false(ingest_prefixes_match(&p, "/"));
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

PR_TEST_MAIN(cmocka_unit_test(test_default_rules_give_status_delta_full),
             cmocka_unit_test(test_status_wins_over_delta),
             cmocka_unit_test(test_path_matching_no_glob_is_unknown),
             cmocka_unit_test(test_prefix_accepts_paths_under_it),
             cmocka_unit_test(test_prefixes_must_be_absolute_and_present))
