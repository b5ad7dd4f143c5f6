/*
 * signals.h - the process's only mutable globals: sig_atomic_t flags set by SIGINT/SIGTERM
 * (stop) and SIGHUP (reload). Roles poll them from their own loops; nothing else happens in
 * a signal handler.
 */
#ifndef PR_SIGNALS_H
#define PR_SIGNALS_H

#include <stdbool.h>

/* Installs the handlers (SIGINT, SIGTERM, SIGHUP) and ignores SIGPIPE. */
void pr_signals_install(void);
bool pr_signals_stop_requested(void);
/* Returns true once per SIGHUP received since the last call. */
bool pr_signals_take_reload(void);
/* For tests and for `run`'s own shutdown path. */
void pr_signals_request_stop(void);

/* Sleeps up to ms milliseconds, returning early (true) if a stop was requested. */
bool pr_signals_wait_stop(long ms);

#endif
