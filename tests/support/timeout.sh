# timeout.sh - sourced by the shell tests: fixed deadlines scaled for slow builds and machines
# (ASan, a loaded CI host) by PR_TEST_TIMEOUT_SCALE, a positive number (default 1), as
# ts_scaled_ms() does for the C tests (tests/support/testsupport.c).
#   pr_scaled N   prints N (seconds, or a count of fixed polling steps) times the scale,
#                 rounded up; a bad PR_TEST_TIMEOUT_SCALE fails the test.
pr_scaled() {
    awk -v n="$1" -v s="${PR_TEST_TIMEOUT_SCALE:-1}" 'BEGIN {
        if (s !~ /^[0-9]*\.?[0-9]+$/ || s + 0 <= 0 || s + 0 > 1000) {
            print "PR_TEST_TIMEOUT_SCALE=" s ": expected a positive number up to 1000" > "/dev/stderr"
            exit 1
        }
        x = n * s; r = int(x); if (r < x) r++; print r
    }'
}
# Checked once when sourced, so that a bad value fails the test at once.
pr_scaled 1 >/dev/null || exit 1
