/* test_log.c - the logger writes one valid JSON object per line, filters by level, and keeps
 * lines whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testmain.h"

#include "log.h"

static char *capture(void (*fn)(void))
{
    char tmpl[] = "/tmp/pr-log-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    pr_log_set_fd(fd);
    fn();
    pr_log_set_fd(2);
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    close(fd);
    unlink(tmpl);
    return buf;
}

static void emit(void)
{
    pr_log_set_level(PR_LOG_INFO);
    PR_LOGF(PR_LOG_DEBUG, "test", "hidden %d", 1);
    PR_LOG(PR_LOG_INFO, "ingest", "quote \" and newline \n inside",
           json_pack("{siss}", "port", 8080, "mac", "00562b043615"));
    pr_log_writef(PR_LOG_ERROR, "decoder", "failed: %s", "x");
}

static void test_log_writes_one_json_object_per_line(void **state)
{
    (void)state;
    char *out = capture(emit);
    assert_null(strstr(out, "hidden"));
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "component")), "ingest");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "quote \" and newline \n inside");
    assert_int_equal(json_integer_value(json_object_get(j, "port")), 8080);
    assert_non_null(json_object_get(j, "ts"));
    json_decref(j);
    json_t *j2 = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &e);
    assert_non_null(j2);
    assert_string_equal(json_string_value(json_object_get(j2, "level")), "error");
    json_decref(j2);
    free(out);
}

static void test_log_rejects_unknown_level_name(void **state)
{
    (void)state;
    assert_int_equal(pr_log_set_level_name("warn"), 0);
    assert_false(pr_log_enabled(PR_LOG_INFO));
    assert_true(pr_log_enabled(PR_LOG_WARN));
    assert_int_equal(pr_log_set_level_name("loud"), -1);
    pr_log_set_level(PR_LOG_INFO);
}

PR_TEST_MAIN(cmocka_unit_test(test_log_writes_one_json_object_per_line),
             cmocka_unit_test(test_log_rejects_unknown_level_name))
