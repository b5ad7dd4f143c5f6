/*
 * sdnotify.h - systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram
 * such as "READY=1" to the AF_UNIX socket named by $NOTIFY_SOCKET. The units in packaging/
 * are Type=notify; `phonereport run|ingest|decode|sink` sends READY=1 once every role it runs
 * is ready (what /readyz answers 200 for) and STOPPING=1 when it begins to stop.
 */
#ifndef PR_SDNOTIFY_H
#define PR_SDNOTIFY_H

#include <stddef.h>

#include "status.h"

/* Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET: PR_OK when it was sent or when the
 * variable is unset (not started by systemd: nothing to do); PR_EINVAL for a malformed socket
 * name, PR_ETRANSIENT when the datagram cannot be sent, with the reason in err. */
pr_status pr_sd_notify(const char *state, char *err, size_t errlen);

#endif
