/*
 * tls.c - the phone's client certificate (mutual TLS): verification against tls-client-ca
 * and the MAC it names. Cisco phones carry a per-device certificate whose subject common name
 * holds the MAC, e.g. `CP-8841-SEP00562B043615` or `SEP00562B043615`.
 *
 * libmicrohttpd (Debian's is built on GnuTLS) asks for a client certificate when given a
 * trust list (MHD_OPTION_HTTPS_MEM_TRUST) but leaves verification to the application: this
 * file takes the GnuTLS session of the connection, verifies the peer's chain against that
 * trust list (validity dates included) and reads the common name. The GnuTLS calls are the
 * only ones in the project; they are needed because the session is GnuTLS's.
 */
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "ingest_int.h"

int ingest_identity_from_cert_name(const char *cn, char mac[PR_MAC_LEN + 1])
{
    /* SEP + 12 hex digits, the Cisco device name form */
    for (const char *p = cn; (p = strstr(p, "SEP")) != NULL; p++) {
        const char *h = p + 3;
        size_t k = 0;
        while (k < PR_MAC_LEN && isxdigit((unsigned char)h[k]))
            k++;
        if (k == PR_MAC_LEN && !isalnum((unsigned char)h[k]) &&
            (p == cn || !isalnum((unsigned char)p[-1]) || p[-1] == '-')) {
            char err[64];
            if (pr_mac_parse(h, PR_MAC_LEN, mac, err, sizeof err) == PR_OK)
                return 1;
        }
    }
    /* otherwise a delimited 12-hex or colon-form token, as in a path */
    return ingest_identity_from_path(cn, mac);
}

ingest_cert_verdict ingest_tls_client_mac(struct MHD_Connection *conn, char mac[PR_MAC_LEN + 1])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    mac[0] = '\0';
    if (!ci || !ci->tls_session)
        return INGEST_CERT_NONE;
    gnutls_session_t session = (gnutls_session_t)ci->tls_session;
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &n);
    if (!peers || n == 0)
        return INGEST_CERT_NONE;
    unsigned status = 0;
    if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0)
        return INGEST_CERT_UNTRUSTED;
    gnutls_x509_crt_t crt;
    ingest_cert_verdict v = INGEST_CERT_NO_MAC;
    if (gnutls_x509_crt_init(&crt) < 0)
        return INGEST_CERT_UNTRUSTED;
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0) {
        char cn[256];
        size_t len = sizeof cn;
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) >= 0 &&
            len < sizeof cn) {
            cn[len] = '\0';
            if (ingest_identity_from_cert_name(cn, mac) == 1)
                v = INGEST_CERT_OK;
        }
    } else {
        v = INGEST_CERT_UNTRUSTED;
    }
    gnutls_x509_crt_deinit(crt);
    return v;
}
