/*
 * retry.c - the bounded retry of the decoder's transactional calls (commit, abort, sending
 * the offsets). Without a bound, a retriable error repeated while Kafka is unreachable kept
 * the loop thread in the call for ever, stop requests included, though decoder_stop promises
 * a bounded shutdown.
 *
 * Rules: each attempt gets at most a slice of the budget (librdkafka resumes a timed-out
 * commit or abort on the next call; send_offsets_to_transaction, which a retry sends anew,
 * gets the whole budget), so a stop is noticed between slices; the loop gives up
 * when the budget (decoder-txn-timeout) is spent, or after the attempt during which a stop was
 * requested. A stop already requested when the loop starts (the final commit of a graceful
 * stop) does not end it early: that call is what a graceful stop waits for, and the budget
 * still bounds it. The caller turns giving up into a fatal error (the process exits 70).
 * Pure: the clock and the stop flag are the caller's functions, so it is tested without Kafka
 * and without sleeping.
 */
#include "decoder_int.h"

decoder_retry_result decoder_retry_run(const decoder_retry *rt)
{
    long long start = rt->now_ms(rt->ctx);
    bool stopping_at_start = rt->stopping(rt->ctx);
    for (;;) {
        long long left = start + rt->budget_ms - rt->now_ms(rt->ctx);
        if (left <= 0)
            return DECODER_RETRY_TIMED_OUT;
        int timeout = left < rt->slice_ms ? (int)left : rt->slice_ms;
        switch (rt->attempt(rt->ctx, timeout > 0 ? timeout : 1)) {
        case DECODER_TRY_DONE: return DECODER_RETRY_DONE;
        case DECODER_TRY_FAILED: return DECODER_RETRY_FAILED;
        case DECODER_TRY_AGAIN: break;
        }
        if (!stopping_at_start && rt->stopping(rt->ctx))
            return DECODER_RETRY_STOPPED;
    }
}
