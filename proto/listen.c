/* listen.c - listen address parsing and resolution (see listen.h). */
#include "listen.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pr_status pr_listen_resolve(const char *spec, const char *what, struct sockaddr_storage *out,
                            unsigned *port, char *err, size_t errlen)
{
    char host[256], portstr[16];
    const char *colon, *h = spec, *he;
    struct addrinfo hints, *ai = NULL;

    if (!spec || !*spec)
        return pr_err(PR_EINVAL, err, errlen, "%s: empty", what);
    if (*spec == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':')
            return pr_err(PR_EINVAL, err, errlen, "%s: '%s' is not [v6-address]:port", what, spec);
        h = spec + 1;
        he = rb;
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            return pr_err(PR_EINVAL, err, errlen, "%s: '%s' lacks :port", what, spec);
        if (memchr(spec, ':', (size_t)(colon - spec)))
            return pr_err(PR_EINVAL, err, errlen, "%s: write an IPv6 address as [addr]:port", what);
        he = colon;
    }
    char *end = NULL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!isdigit((unsigned char)colon[1]) || *end || p > 65535)
        return pr_err(PR_EINVAL, err, errlen, "%s: bad port in '%s'", what, spec);
    if ((size_t)(he - h) >= sizeof host)
        return pr_err(PR_EINVAL, err, errlen, "%s: host name too long", what);
    snprintf(host, sizeof host, "%.*s", (int)(he - h), h);
    snprintf(portstr, sizeof portstr, "%lu", p);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(*host ? host : "0.0.0.0", portstr, &hints, &ai);
    if (gai != 0 || !ai || ai->ai_addrlen > sizeof *out) {
        if (ai)
            freeaddrinfo(ai);
        return pr_err(PR_EINVAL, err, errlen, "%s: cannot resolve '%s': %s", what, host,
                      gai ? gai_strerror(gai) : "no address");
    }
    memset(out, 0, sizeof *out);
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    *port = (unsigned)p;
    return PR_OK;
}
