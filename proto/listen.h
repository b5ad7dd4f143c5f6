/*
 * listen.h - listen addresses as every role writes them: `host:port`, `[v6addr]:port` or
 * `:port` (all addresses), port 0 = any free port; resolved with getaddrinfo.
 */
#ifndef PR_LISTEN_H
#define PR_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

#include "status.h"

/* Parses and resolves `spec`. `what` names the setting in messages ("metrics-listen").
 * PR_EINVAL with a one-line message for a malformed spec or an unresolvable host. */
pr_status pr_listen_resolve(const char *spec, const char *what, struct sockaddr_storage *out,
                            unsigned *port, char *err, size_t errlen);

#endif
