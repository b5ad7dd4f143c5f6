/*
 * test_refused.c - the decoder's memory of refused outputs (decoder/refused.c): entries are
 * settled by a commit, dropped with their revoked partition, and a refusal is remembered
 * however many partitions came and went before it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decoder_int.h"

static void test_a_commit_settles_the_refusals_below_its_offset(void **state)
{
    (void)state;
    decoder_refused m = {0};
    assert_true(decoder_refused_add(&m, 0, 10, 2000000) >= 0);
    assert_true(decoder_refused_add(&m, 0, 12, 2000000) >= 0);
    assert_true(decoder_refused_add(&m, 1, 5, 2000000) >= 0);
    decoder_refused_settle(&m, 0, 11); /* offset 10 committed, 12 not yet */
    assert_int_equal(decoder_refused_find(&m, 0, 10), -1);
    assert_true(decoder_refused_find(&m, 0, 12) >= 0);
    assert_true(decoder_refused_find(&m, 1, 5) >= 0);
    decoder_refused_release(&m);
}

/* Issue 17 item 5: a decoder that loses partitions with refusals outstanding (a rebalance
 * moved them to another decoder) kept their entries for ever; with 64 slots, a few such
 * rebalances left no room, and a refusal that could not be remembered was produced in full,
 * refused and aborted again on every batch (the livelock the memory exists to prevent). */
static void test_refusals_of_revoked_partitions_are_dropped_and_new_ones_remembered(void **state)
{
    (void)state;
    decoder_refused m = {0};
    for (int32_t p = 0; p < 50; p++) { /* 50 rebalances, each leaving refusals behind */
        for (int64_t off = 0; off < 3; off++) {
            long i = decoder_refused_add(&m, p, off, 1u << 20);
            assert_true(i >= 0);
            m.e[i].confirmed = off == 0;
        }
        decoder_refused_drop_partition(&m, p);
        assert_int_equal(decoder_refused_find(&m, p, 0), -1);
    }
    assert_int_equal(m.n, 0);
    /* And a batch of many refusals at once is remembered whole. */
    for (int64_t off = 0; off < 500; off++)
        assert_true(decoder_refused_add(&m, 7, off, 1u << 20) >= 0);
    for (int64_t off = 0; off < 500; off++)
        assert_true(decoder_refused_find(&m, 7, off) >= 0);
    decoder_refused_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_commit_settles_the_refusals_below_its_offset),
        cmocka_unit_test(test_refusals_of_revoked_partitions_are_dropped_and_new_ones_remembered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
