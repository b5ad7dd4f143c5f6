/*
 * test_ingest_tls.c - HTTPS and the phone's client certificate: a certificate signed by
 * tls-client-ca whose common name is Cisco's `CP-8841-SEP<MAC>` identifies the phone
 * (pr-mac-source=cert); no certificate, a certificate from another CA, or one that disagrees
 * with the User-Agent is refused with 403 and nothing is published.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testmain.h"

#include "edge.h"
#include "testsupport.h"

static void openssl(const char *dir, const char *args)
{
    char cmd[4096];
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s' && openssl %s 2>&1", dir, args);
    if (ts_run(cmd, &out) != 0)
        fail_msg("openssl %s: %s", args, out ? out : "");
    free(out);
}

#define EC "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

static void make_pki(const char *d)
{
    const char *ext = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                      "extendedKeyUsage=clientAuth,serverAuth\n";
    char p[4200];
    snprintf(p, sizeof p, "%s/leaf.ext", d);
    assert_int_equal(ts_write_file(p, ext, strlen(ext)), 0);
    openssl(d, "req -x509 " EC " -keyout ca.key -out ca.pem -days 2 -subj '/CN=Test Phone CA'");
    openssl(d, "req -x509 " EC " -keyout rogue.key -out rogue.pem -days 2 -subj '/CN=Rogue CA'");
    openssl(d, "req " EC " -keyout server.key -out server.csr -subj '/CN=127.0.0.1'");
    openssl(d, "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
               "-out server.pem -days 2 -extfile leaf.ext");
    openssl(d, "req " EC " -keyout phone.key -out phone.csr -subj '/CN=CP-8841-SEP00562B043615'");
    openssl(d, "x509 -req -in phone.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
               "-out phone.pem -days 2 -extfile leaf.ext");
    openssl(d, "req " EC " -keyout fake.key -out fake.csr -subj '/CN=CP-8841-SEP00562B043615'");
    openssl(d, "x509 -req -in fake.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial "
               "-out fake.pem -days 2 -extfile leaf.ext");
}

/* A PKI in a fresh directory (returned; the caller removes it) and an HTTPS edge with its
 * server certificate; with client_ca the edge asks phones for certificates of its CA. */
static char *start_tls_edge(edge *e, const char *tag, bool client_ca)
{
    char *d = ts_mkdtemp(tag);
    assert_non_null(d);
    make_pki(d);
    char cert[4300], key[4300], ca[4300];
    snprintf(cert, sizeof cert, "--tls-cert=%s/server.pem", d);
    snprintf(key, sizeof key, "--tls-key=%s/server.key", d);
    snprintf(ca, sizeof ca, "--tls-client-ca=%s/ca.pem", d);
    const char *args[] = {cert, key, client_ca ? ca : NULL, NULL};
    edge_start(e, ts_brokers(), tag, args);
    return d;
}

/* Uploads a small report with METHOD to path over HTTPS, with User-Agent ua and, when cert
 * names one of d's keys ("phone", "fake"), that client certificate. */
static void tls_upload(edge *e, const char *d, const char *cert, const char *method,
                       const char *path, const char *ua, edge_resp *r)
{
    char opts[16384], with_cert[8700] = "";
    const char *body = edge_file(e, "body.xml", "<flat-profile/>", 15);
    if (cert)
        snprintf(with_cert, sizeof with_cert, "--cert '%s/%s.pem' --key '%s/%s.key'", d, cert, d,
                 cert);
    snprintf(opts, sizeof opts, "%s -X %s --data-binary @'%s' -A '%s'", with_cert, method, body,
             ua);
    edge_curl(e, opts, path, r);
}

/* Stops the edge and removes the certificates' directory. */
static void stop_tls_edge(edge *e, char *d)
{
    edge_stop(e);
    ts_rmtree(d);
    free(d);
}

static void test_client_certificate_identifies_the_phone(void **state)
{
    (void)state;
    edge e;
    edge_resp r;
    char *d = start_tls_edge(&e, "itls", true);
    tls_upload(&e, d, "phone", "PUT", "/upload/report.xml", "x", &r);
    assert_int_equal(r.status, 200);
    char id[64];
    snprintf(id, sizeof id, "%s", r.request_id);

    tls_upload(&e, d, "phone", "PUT", "/upload/report.xml",
               "Cisco-CP-8841-3PCC/11.0 (00562b043616)", &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "mac mismatch\n");

    tls_upload(&e, d, NULL, "PUT", "/upload/report.xml", "Cisco-CP-8841-3PCC/11.0 (00562b043615)",
               &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "client certificate required\n");

    tls_upload(&e, d, "fake", "PUT", "/upload/report.xml", "x", &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "client certificate not trusted\n");

    json_t *recs = edge_consume(&e);
    assert_int_equal(json_array_size(recs), 1);
    json_t *rec = edge_find(recs, id);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "key")), "00562b043615");
    assert_string_equal(edge_header(rec, "pr-mac-source"), "cert");
    json_decref(recs);
    stop_tls_edge(&e, d);
}

static void test_https_without_client_ca_serves_uploads(void **state)
{
    (void)state;
    edge e;
    edge_resp r;
    char *d = start_tls_edge(&e, "itls2", false);
    tls_upload(&e, d, NULL, "POST", "/r/status.xml", "Cisco-CP-8841-3PCC/11.0 (00562b043615)", &r);
    assert_int_equal(r.status, 200);
    json_t *recs = edge_consume(&e);
    assert_non_null(edge_find(recs, r.request_id));
    json_decref(recs);
    stop_tls_edge(&e, d);
}

PR_TEST_MAIN(cmocka_unit_test(test_client_certificate_identifies_the_phone),
             cmocka_unit_test(test_https_without_client_ca_serves_uploads))
