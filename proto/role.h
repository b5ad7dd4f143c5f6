/*
 * role.h - the one shape of a role (ingest, decoder, sink): a descriptor of hooks that the
 * commands (cmd/run.c) drive without knowing which role they hold, as nginx drives its modules
 * and Fluent Bit its plugins.
 *
 * DESIGN: each role defines one `const pr_role` in its own library (ingest_role, decoder_role,
 * sink_role, declared in the role's public header) whose hooks wrap the role's typed API.
 * Lifecycle, in the order run.c calls the hooks:
 *   cfg_new -> cfg_section (pr_cfg_load fills it) -> cfg_check -> create -> start
 *   -> (ready/failed polled, reload on SIGHUP) -> stop -> destroy -> cfg_free.
 * Roles are created in the table's order and stopped in the reverse order, so consumers are
 * ready before phones are accepted and the edge stops taking reports first.
 *
 * Errors: create and start return a pr_status whose class decides the exit status
 * (pr_status_exit_code): PR_EINVAL bad configuration (78), PR_ETRANSIENT a dependency not
 * reachable yet (75), PR_EFATAL anything else (70).
 *
 * Ownership: cfg and common are borrowed by create and must outlive the role; metrics is
 * shared by every role of the process and outlives them.
 */
#ifndef PR_ROLE_H
#define PR_ROLE_H

#include <stdbool.h>

#include "config.h"
#include "metrics.h"
#include "status.h"

typedef struct pr_role {
    const char *name;    /* "ingest", "decoder", "sink": logs and messages */
    const char *command; /* its subcommand: "ingest", "decode", "sink" */
    const char *summary; /* one line for `phonereport --help` */
    const char *about;   /* the paragraph of `phonereport <command> --help` */

    void *(*cfg_new)(void); /* a config struct with every field unset; NULL on OOM */
    pr_cfg_section (*cfg_section)(void *cfg);
    /* Cross-field checks after loading: one message per problem into errs. */
    pr_status (*cfg_check)(const void *cfg, const pr_common_cfg *common, pr_errlist *errs);
    void (*cfg_free)(void *cfg); /* NULL is a no-op */

    /* Creates the role's clients without starting threads or accepting work. */
    pr_status (*create)(const pr_common_cfg *common, const void *cfg, pr_metrics *metrics,
                        void **out, char *err, size_t errlen);
    pr_status (*start)(void *r, char *err, size_t errlen);
    void (*stop)(void *r);    /* graceful and bounded; returns when its threads ended */
    void (*destroy)(void *r); /* NULL is a no-op */

    bool (*ready)(const void *r);    /* serving (consumers assigned, producer connected) */
    bool (*failed)(const void *r);   /* stopped itself on a fatal error: the process exits 70 */
    void (*reload)(void *r);         /* SIGHUP: re-read files; called from the main thread */
    unsigned (*port)(const void *r); /* its HTTP port (bound one), 0 if it has none */
} pr_role;

#endif
