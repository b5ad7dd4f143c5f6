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
#include <stdlib.h>

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

/*
 * The typed API every role has, declared in its public header by PR_ROLE_API(X) for a role
 * type X (ingest, decoder, sink), with X's own additions after it:
 *   X_cfg_new      a config struct with every field unset; filled by pr_cfg_load() through
 *                  X_cfg_section; X_cfg_free frees it (NULL is a no-op).
 *   X_cfg_check    cross-field checks after loading (files exist, ranges that depend on each
 *                  other): one message per problem into errs; PR_EINVAL if any.
 *   X_new          creates the role's Kafka clients (librdkafka runs threads of its own from
 *                  here on) and opens what it owns, but accepts no work before X_start. cfg and
 *                  common are borrowed and must outlive the role; metrics is shared and must
 *                  outlive it too. The status class says why it failed: PR_EINVAL
 *                  configuration, PR_ETRANSIENT unreachable for now, PR_EFATAL otherwise.
 *   X_stop         graceful, bounded shutdown; returns when the role's threads have ended.
 *   X_free         NULL is a no-op.
 *   X_ready        true while the role serves (what that means is in its header).
 *   X_reload       re-reads what the role reads from files (SIGHUP); from the main thread.
 *   X_role         the role's descriptor for the commands.
 */
#define PR_ROLE_API(X)                                                                             \
    typedef struct X##_cfg X##_cfg;                                                                \
    typedef struct X X;                                                                            \
    X##_cfg *X##_cfg_new(void);                                                                    \
    pr_cfg_section X##_cfg_section(X##_cfg *cfg);                                                  \
    pr_status X##_cfg_check(const X##_cfg *cfg, const pr_common_cfg *common, pr_errlist *errs);    \
    void X##_cfg_free(X##_cfg *cfg);                                                               \
    pr_status X##_new(const pr_common_cfg *common, const X##_cfg *cfg, pr_metrics *metrics,        \
                      X **out, char *err, size_t errlen);                                          \
    pr_status X##_start(X *r, char *err, size_t errlen);                                           \
    void X##_stop(X *r);                                                                           \
    void X##_free(X *r);                                                                           \
    bool X##_ready(const X *r);                                                                    \
    void X##_reload(X *r);                                                                         \
    extern const pr_role X##_role

/*
 * The hooks every role has are thin wrappers of its typed API, which has the same names in
 * every role (X_cfg_new, X_cfg_section, X_cfg_check, X_cfg_free, X_new, X_start, X_stop,
 * X_free, X_ready, X_reload for a role type X). PR_ROLE_HOOKS(X) defines them (static, in the
 * role's role.c) and PR_ROLE_HOOKS_INIT(X) names them in the descriptor. `failed` and `port`,
 * which only some roles have, are PR_ROLE_HOOK_FAILED(X) (wrapping X_failed) and
 * PR_ROLE_HOOK_PORT(X, fn) (wrapping unsigned fn(const X *)), named `.failed = X_hook_failed`
 * and `.port = X_hook_port` in the descriptor of a role that has them.
 */
#define PR_ROLE_HOOKS(X)                                                                           \
    static void *X##_hook_cfg_new(void)                                                            \
    {                                                                                              \
        return X##_cfg_new();                                                                      \
    }                                                                                              \
    static pr_cfg_section X##_hook_cfg_section(void *cfg)                                          \
    {                                                                                              \
        return X##_cfg_section(cfg);                                                               \
    }                                                                                              \
    static pr_status X##_hook_cfg_check(const void *cfg, const pr_common_cfg *common,              \
                                        pr_errlist *errs)                                          \
    {                                                                                              \
        return X##_cfg_check(cfg, common, errs);                                                   \
    }                                                                                              \
    static void X##_hook_cfg_free(void *cfg)                                                       \
    {                                                                                              \
        X##_cfg_free(cfg);                                                                         \
    }                                                                                              \
    static pr_status X##_hook_create(const pr_common_cfg *common, const void *cfg,                 \
                                     pr_metrics *metrics, void **out, char *err, size_t errlen)    \
    {                                                                                              \
        X *r = NULL;                                                                               \
        pr_status st = X##_new(common, cfg, metrics, &r, err, errlen);                             \
        *out = r;                                                                                  \
        return st;                                                                                 \
    }                                                                                              \
    static pr_status X##_hook_start(void *r, char *err, size_t errlen)                             \
    {                                                                                              \
        return X##_start(r, err, errlen);                                                          \
    }                                                                                              \
    static void X##_hook_stop(void *r)                                                             \
    {                                                                                              \
        X##_stop(r);                                                                               \
    }                                                                                              \
    static void X##_hook_destroy(void *r)                                                          \
    {                                                                                              \
        X##_free(r);                                                                               \
    }                                                                                              \
    static bool X##_hook_ready(const void *r)                                                      \
    {                                                                                              \
        return X##_ready(r);                                                                       \
    }                                                                                              \
    static void X##_hook_reload(void *r)                                                           \
    {                                                                                              \
        X##_reload(r);                                                                             \
    }

#define PR_ROLE_HOOK_FAILED(X)                                                                     \
    static bool X##_hook_failed(const void *r)                                                     \
    {                                                                                              \
        return X##_failed(r);                                                                      \
    }

#define PR_ROLE_HOOK_PORT(X, fn)                                                                   \
    static unsigned X##_hook_port(const void *r)                                                   \
    {                                                                                              \
        return fn(r);                                                                              \
    }

/* X_cfg_new, X_cfg_section and X_cfg_free of a role whose config is one section: the struct
 * X_cfg that `table` (pr_cfg_entry rows) fills, under the heading `title` in --help. */
#define PR_ROLE_CFG(X, title, table)                                                               \
    X##_cfg *X##_cfg_new(void)                                                                     \
    {                                                                                              \
        return calloc(1, sizeof(X##_cfg));                                                         \
    }                                                                                              \
    pr_cfg_section X##_cfg_section(X##_cfg *cfg)                                                   \
    {                                                                                              \
        pr_cfg_section s = {title, table, cfg, NULL};                                              \
        return s;                                                                                  \
    }                                                                                              \
    void X##_cfg_free(X##_cfg *cfg)                                                                \
    {                                                                                              \
        if (cfg)                                                                                   \
            pr_cfg_section_free(X##_cfg_section(cfg));                                             \
    }

#define PR_ROLE_HOOKS_INIT(X)                                                                      \
    .cfg_new = X##_hook_cfg_new, .cfg_section = X##_hook_cfg_section,                              \
    .cfg_check = X##_hook_cfg_check, .cfg_free = X##_hook_cfg_free, .create = X##_hook_create,     \
    .start = X##_hook_start, .stop = X##_hook_stop, .destroy = X##_hook_destroy,                   \
    .ready = X##_hook_ready, .reload = X##_hook_reload

#endif
