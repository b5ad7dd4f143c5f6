/* test_retry.c - the bounded retry of the decoder's transactional calls (decoder/retry.c)
 * with a simulated clock, stop flag and call: no Kafka, no sleeping. Each simulated attempt
 * "takes" the time it is given, as a commit does while the broker is unreachable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testmain.h"

#include "decoder_int.h"

typedef struct sim {
    long long now;      /* the clock, ms */
    bool stop;          /* the stop flag */
    int attempts;       /* attempts made */
    int done_at;        /* the attempt (1-based) that succeeds; 0 never */
    int failed_at;      /* the attempt that fails for good; 0 never */
    int stop_at;        /* the attempt during which a stop is requested; 0 never */
    int longest, total; /* of the timeouts given */
} sim;

static long long sim_now(void *ctx)
{
    return ((sim *)ctx)->now;
}

static bool sim_stopping(void *ctx)
{
    return ((sim *)ctx)->stop;
}

static decoder_try sim_attempt(void *ctx, int timeout_ms)
{
    sim *s = ctx;
    s->attempts++;
    assert_true(timeout_ms > 0);
    if (timeout_ms > s->longest)
        s->longest = timeout_ms;
    s->total += timeout_ms;
    if (s->attempts == s->stop_at)
        s->stop = true;
    if (s->attempts == s->done_at) {
        s->now += 5;
        return DECODER_TRY_DONE;
    }
    if (s->attempts == s->failed_at)
        return DECODER_TRY_FAILED;
    s->now += timeout_ms; /* timed out */
    return DECODER_TRY_AGAIN;
}

static decoder_retry_result run(sim *s, long long budget_ms, int slice_ms)
{
    decoder_retry rt = {sim_attempt, sim_now, sim_stopping, s, budget_ms, slice_ms};
    return decoder_retry_run(&rt);
}

static void test_retry_returns_at_the_first_success(void **state)
{
    (void)state;
    sim s = {.now = 1000, .done_at = 3};
    assert_int_equal(run(&s, 30000, 3000), DECODER_RETRY_DONE);
    assert_int_equal(s.attempts, 3);
}

static void test_retry_stops_at_a_failure_retrying_cannot_mend(void **state)
{
    (void)state;
    sim s = {.failed_at = 2};
    assert_int_equal(run(&s, 30000, 3000), DECODER_RETRY_FAILED);
    assert_int_equal(s.attempts, 2);
}

/* Kafka unreachable, no stop: the call gives up when the budget is spent, and never waits
 * past it (the last slice is cut to what is left). */
static void test_retry_gives_up_when_the_budget_is_spent(void **state)
{
    (void)state;
    sim s = {.now = 50};
    assert_int_equal(run(&s, 10000, 3000), DECODER_RETRY_TIMED_OUT);
    assert_int_equal(s.attempts, 4); /* 3000 + 3000 + 3000 + 1000 */
    assert_int_equal(s.longest, 3000);
    assert_int_equal(s.total, 10000);
    assert_int_equal(s.now, 50 + 10000);
}

/* A stop requested while the call keeps failing ends the retries after that attempt. */
static void test_retry_honours_a_stop_requested_while_retrying(void **state)
{
    (void)state;
    sim s = {.stop_at = 2};
    assert_int_equal(run(&s, 600000, 3000), DECODER_RETRY_STOPPED);
    assert_int_equal(s.attempts, 2);
    assert_int_equal(s.now, 6000);
}

/* The final commit of a graceful stop starts with the stop already requested: it keeps
 * retrying (that commit is what the stop waits for), within the budget. */
static void test_retry_keeps_its_budget_when_stopping_already(void **state)
{
    (void)state;
    sim s = {.stop = true, .done_at = 3};
    assert_int_equal(run(&s, 30000, 3000), DECODER_RETRY_DONE);
    assert_int_equal(s.attempts, 3);
    sim t = {.stop = true};
    assert_int_equal(run(&t, 9000, 3000), DECODER_RETRY_TIMED_OUT);
    assert_int_equal(t.attempts, 3);
}

/* A budget shorter than a slice: one attempt of the whole budget. */
static void test_retry_never_gives_an_attempt_more_than_the_budget(void **state)
{
    (void)state;
    sim s = {0};
    assert_int_equal(run(&s, 1000, 3000), DECODER_RETRY_TIMED_OUT);
    assert_int_equal(s.attempts, 1);
    assert_int_equal(s.longest, 1000);
}

PR_TEST_MAIN(cmocka_unit_test(test_retry_returns_at_the_first_success),
             cmocka_unit_test(test_retry_stops_at_a_failure_retrying_cannot_mend),
             cmocka_unit_test(test_retry_gives_up_when_the_budget_is_spent),
             cmocka_unit_test(test_retry_honours_a_stop_requested_while_retrying),
             cmocka_unit_test(test_retry_keeps_its_budget_when_stopping_already),
             cmocka_unit_test(test_retry_never_gives_an_attempt_more_than_the_budget))
