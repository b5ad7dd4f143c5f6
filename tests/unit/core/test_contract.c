/* test_contract.c - topic names take the prefix; kinds, MAC sources and DLQ reasons have
 * names and parse back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "contract.h"

static void test_contract_builds_topic_names_with_prefix(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(pr_topic_name("phonereport.", PR_TOPIC_RAW, buf, sizeof buf), 0);
    assert_string_equal(buf, "phonereport.raw");
    assert_int_equal(pr_topic_name("acme-", PR_TOPIC_CHANGES, buf, sizeof buf), 0);
    assert_string_equal(buf, "acme-changes");
    assert_int_equal(pr_topic_name("a-very-long-prefix.", PR_TOPIC_DRIFT, buf, 8), -1);
}

static void test_contract_names_round_trip(void **state)
{
    (void)state;
    for (int k = PR_KIND_FULL; k <= PR_KIND_UNKNOWN; k++)
        assert_int_equal(pr_kind_parse(pr_kind_name((pr_kind)k)), k);
    assert_int_equal(pr_kind_parse("FULL"), PR_KIND_UNKNOWN);
    for (int s = 0; s < PR_MAC_SRC__COUNT; s++) {
        pr_mac_source out;
        assert_int_equal(pr_mac_source_parse(pr_mac_source_name((pr_mac_source)s), &out), 0);
        assert_int_equal(out, s);
    }
    pr_mac_source out;
    assert_int_equal(pr_mac_source_parse("dhcp", &out), -1);
    for (int r = 0; r < PR_DLQ_REASON__COUNT; r++) {
        const char *n = pr_dlq_reason_name((pr_dlq_reason)r);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        for (int q = 0; q < r; q++)
            assert_string_not_equal(n, pr_dlq_reason_name((pr_dlq_reason)q));
    }
}

PR_TEST_MAIN(cmocka_unit_test(test_contract_builds_topic_names_with_prefix),
             cmocka_unit_test(test_contract_names_round_trip))
