/* test_listen.c - listen addresses: host:port, [v6]:port, :port, names; bad ones refused
 * with a message naming the setting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "listen.h"

static void test_listen_resolves_v4_v6_any_and_names(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    unsigned port = 1;
    char err[256];
    assert_int_equal(pr_listen_resolve("127.0.0.1:0", "x", &ss, &port, err, sizeof err), PR_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(port, 0);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(pr_listen_resolve("[::1]:8081", "x", &ss, &port, err, sizeof err), PR_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(port, 8081);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8081);
    assert_int_equal(pr_listen_resolve(":9", "x", &ss, &port, err, sizeof err), PR_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(pr_listen_resolve("localhost:80", "x", &ss, &port, err, sizeof err), PR_OK);
}

static void test_listen_refuses_malformed_addresses_with_the_setting_name(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    unsigned port;
    char err[256];
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"", "api-listen: empty"},
        {"nope", "api-listen: 'nope' lacks :port"},
        {":99999", "api-listen: bad port in ':99999'"},
        {"1.2.3.4:", "api-listen: bad port in '1.2.3.4:'"},
        {"1.2.3.4:+80", "api-listen: bad port in '1.2.3.4:+80'"},
        {":-0", "api-listen: bad port in ':-0'"},
        {": 80", "api-listen: bad port in ': 80'"},
        {"::1:80", "api-listen: write an IPv6 address as [addr]:port"},
        {"[::1]80", "api-listen: '[::1]80' is not [v6-address]:port"},
        {"no-such-host.invalid:80", "api-listen: cannot resolve 'no-such-host.invalid'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pr_listen_resolve(bad[i].spec, "api-listen", &ss, &port, err, sizeof err),
                         PR_EINVAL);
        assert_non_null(strstr(err, bad[i].msg));
    }
    assert_int_equal(pr_listen_resolve(NULL, "api-listen", &ss, &port, err, sizeof err), PR_EINVAL);
}

PR_TEST_MAIN(cmocka_unit_test(test_listen_resolves_v4_v6_any_and_names),
             cmocka_unit_test(test_listen_refuses_malformed_addresses_with_the_setting_name))
