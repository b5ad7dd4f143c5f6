/* test_util.c - the shared helpers every role uses instead of its own copy: the growable
 * buffer, hex digits, bounded whole-file reads and the monotonic clock's condition waits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

#include "buf.h"
#include "clock.h"
#include "file.h"
#include "hex.h"
#include "testsupport.h"

static void test_buf_appends_and_grows_past_its_first_size(void **state)
{
    (void)state;
    pr_buf b = {0};
    for (int i = 0; i < 1000; i++)
        pr_buf_printf(&b, "%04d,", i);
    pr_buf_str(&b, "end");
    pr_buf_add(&b, "xyz", 1);
    size_t len = 0;
    char *s = pr_buf_steal(&b, &len);
    assert_non_null(s);
    assert_int_equal(len, 5000 + 4);
    assert_int_equal(strncmp(s, "0000,0001,", 10), 0);
    assert_string_equal(s + 5000, "endx");
    assert_null(b.p);
    free(s);
}

static void test_buf_after_a_failed_append_yields_nothing(void **state)
{
    (void)state;
    pr_buf b = {0};
    pr_buf_str(&b, "abc");
    b.oom = true; /* as after a failed realloc */
    pr_buf_str(&b, "def");
    assert_null(pr_buf_steal(&b, NULL));
    assert_null(b.p);
}

static void test_grow_doubles_and_keeps_the_array_on_overflow(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0, len = 0;
    for (int i = 0; i < 100; i++) {
        int *n = pr_grow(v, &cap, len, sizeof *n, 4);
        assert_non_null(n);
        v = n;
        v[len++] = i;
    }
    assert_int_equal(cap, 128);                              /* 4, 8, ..., 128 */
    assert_ptr_equal(pr_grow(v, &cap, 99, sizeof *v, 4), v); /* room left: the same array */
    /* an element count whose bytes do not fit in size_t: NULL, the array and cap untouched */
    assert_null(pr_grow(v, &cap, cap, SIZE_MAX / 200, 4));
    assert_int_equal(cap, 128);
    for (int i = 0; i < 100; i++)
        assert_int_equal(v[i], i);
    free(v);
}

static void test_hex_round_trips_and_refuses_non_hex(void **state)
{
    (void)state;
    unsigned char out[4];
    char text[9];
    assert_true(pr_hex_decode("00aFfe10", 8, out));
    assert_int_equal(out[1], 0xaf);
    pr_hex_encode(out, 4, text);
    assert_string_equal(text, "00affe10");
    assert_false(pr_hex_decode("0g", 2, out));
    assert_false(pr_hex_decode("abc", 3, out));
    assert_int_equal(pr_hex_val('F'), 15);
    assert_int_equal(pr_hex_val('x'), -1);
}

static void test_file_read_is_bounded_and_names_the_file(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("util"), path[4200], err[512], *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/f", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100000; i++)
        fputc('a' + i % 26, f);
    fclose(f);
    assert_int_equal(pr_file_read(path, 100000, &buf, &len, err, sizeof err), PR_OK);
    assert_int_equal(len, 100000);
    assert_int_equal(buf[len], '\0');
    assert_int_equal(buf[26], 'a');
    free(buf);
    assert_int_equal(pr_file_read(path, 99999, &buf, &len, err, sizeof err), PR_EINVAL);
    assert_null(buf);
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(pr_file_read(path, 10, &buf, NULL, err, sizeof err), PR_EINVAL);
    assert_non_null(strstr(err, "missing"));
    ts_rmtree(dir);
    free(dir);
}

static void test_cond_wait_times_out_on_the_monotonic_clock(void **state)
{
    (void)state;
    pthread_cond_t cv;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    assert_int_equal(pr_cond_init_mono(&cv), 0);
    long long t0 = pr_mono_ms();
    pthread_mutex_lock(&mu);
    int rc;
    do
        rc = pr_cond_wait_ms(&cv, &mu, 30);
    while (rc == 0 && pr_mono_ms() - t0 < 30);
    pthread_mutex_unlock(&mu);
    assert_true(rc == ETIMEDOUT || rc == 0);
    assert_true(pr_mono_ms() - t0 >= 29);
    pthread_cond_destroy(&cv);
}

/* A test that fails half-way never reaches its ts_rmtree (cmocka's fail jumps past it): the
 * directories ts_mkdtemp made are removed when the test process exits all the same. */
static void test_mkdtemp_dirs_left_by_a_failed_test_go_at_exit(void **state)
{
    (void)state;
    char *tmp = ts_mkdtemp("tmpdir"), cmd[4300], *out = NULL;
    assert_non_null(tmp);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a test process whose test failed before its clean-up */
        setenv("TMPDIR", tmp, 1);
        char *dir = ts_mkdtemp("failed"), path[4200];
        snprintf(path, sizeof path, "%s/f", dir ? dir : "/nonexistent");
        int rc = dir && ts_write_file(path, "x", 1) == 0 ? 1 : 2;
        free(dir);
        exit(rc);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    snprintf(cmd, sizeof cmd, "ls -A '%s'", tmp);
    assert_int_equal(ts_run(cmd, &out), 0);
    assert_string_equal(out ? out : "", ""); /* nothing left in the child's TMPDIR */
    free(out);
    ts_rmtree(tmp);
    free(tmp);
}

PR_TEST_MAIN(cmocka_unit_test(test_buf_appends_and_grows_past_its_first_size),
             cmocka_unit_test(test_buf_after_a_failed_append_yields_nothing),
             cmocka_unit_test(test_grow_doubles_and_keeps_the_array_on_overflow),
             cmocka_unit_test(test_hex_round_trips_and_refuses_non_hex),
             cmocka_unit_test(test_file_read_is_bounded_and_names_the_file),
             cmocka_unit_test(test_cond_wait_times_out_on_the_monotonic_clock),
             cmocka_unit_test(test_mkdtemp_dirs_left_by_a_failed_test_go_at_exit))
