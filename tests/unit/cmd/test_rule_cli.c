/* test_rule_cli.c - `phonereport rule` through the built binary: main.c dispatches to it,
 * and the acceptance command (--check on the real 8832 profile) gives its verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "testsupport.h"

#define BIN         "'" PR_BINARY_DIR "/phonereport'"
#define SAMPLE_8832 PR_DATA_DIR "/samples/cisco-8832-mpp-full-profile.xml"

/* Runs `phonereport rule ARGS` (a shell word list); asserts its exit status; its output
 * (caller frees). */
static char *rule(const char *args, int want_status)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, BIN " rule %s", args);
    assert_int_equal(ts_run(cmd, &out), want_status);
    assert_non_null(out);
    return out;
}

static void test_cli_check_gives_the_8832_profile_a_clean_verdict(void **state)
{
    (void)state;
    char *out = rule("--check '" SAMPLE_8832 "' 2>&1", 0);
    assert_string_equal(out, SAMPLE_8832
                        ": upload options OK: Report_Rule empty (reporting "
                        "disabled), HTTP_Report_Method POST, Report_To_Server On Request, "
                        "Periodic_Upload_To_Server 3600, Upload_Delay_On_Local_Change 60\n");
    free(out);
}

static void test_cli_prints_the_elements(void **state)
{
    (void)state;
    char *out = rule("--url https://edge.example.net/r --delta --status --method PUT"
                     " --when 'On Local Change' --delay 60",
                     0);
    assert_non_null(strstr(out, "<Report_Rule ua=\"na\">[--delta]https://edge.example.net/r/"
                                "$MA/delta.xml [--status]https://edge.example.net/r/$MA/"
                                "status.xml</Report_Rule>\n"));
    assert_non_null(strstr(out, "<HTTP_Report_Method ua=\"na\">PUT</HTTP_Report_Method>\n"));
    free(out);
}

static void test_cli_exits_78_on_invalid_flags(void **state)
{
    (void)state;
    char *out = rule("--url https://e/r --period 1 --delay 1 2>&1", 78);
    assert_non_null(strstr(out, "--period (flag): 1 is out of range [600, 2592000]"));
    assert_non_null(strstr(out, "--delay (flag): 1 is out of range [10, 900]"));
    free(out);
}

static void test_cli_rule_help_exits_0(void **state)
{
    (void)state;
    char *out = rule("--help", 0);
    assert_non_null(strstr(out, "usage: phonereport rule"));
    free(out);
}

PR_TEST_MAIN(cmocka_unit_test(test_cli_check_gives_the_8832_profile_a_clean_verdict),
             cmocka_unit_test(test_cli_prints_the_elements),
             cmocka_unit_test(test_cli_exits_78_on_invalid_flags),
             cmocka_unit_test(test_cli_rule_help_exits_0))
