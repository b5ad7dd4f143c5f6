/*
 * role.c - the sink role's descriptor (proto/role.h): the hooks through which the commands
 * (cmd/run.c) create, start, watch and stop it without knowing its types.
 */
#include "sink.h"

static void *cfg_new(void)
{
    return sink_cfg_new();
}

static pr_cfg_section cfg_section(void *cfg)
{
    return sink_cfg_section(cfg);
}

static pr_status cfg_check(const void *cfg, const pr_common_cfg *common, pr_errlist *errs)
{
    return sink_cfg_check(cfg, common, errs);
}

static void cfg_free(void *cfg)
{
    sink_cfg_free(cfg);
}

static pr_status create(const pr_common_cfg *common, const void *cfg, pr_metrics *metrics,
                        void **out, char *err, size_t errlen)
{
    sink *r = NULL;
    pr_status st = sink_new(common, cfg, metrics, &r, err, errlen);
    *out = r;
    return st;
}

static pr_status start(void *r, char *err, size_t errlen)
{
    return sink_start(r, err, errlen);
}

static void stop(void *r)
{
    sink_stop(r);
}

static void destroy(void *r)
{
    sink_free(r);
}

static bool ready(const void *r)
{
    return sink_ready(r);
}

static void reload(void *r)
{
    sink_reload(r);
}

static unsigned port(const void *r)
{
    return sink_api_port(r);
}

const pr_role sink_role = {
    .name = "sink",
    .command = "sink",
    .summary = "rebuild phone state (SQLite or PostgreSQL), emit changes and drift, serve the API",
    .about = "Rebuilds every phone's current configuration from <prefix>config and "
             "<prefix>status in\nSQLite or PostgreSQL, publishes state, changes and drift, and "
             "serves the query API.",
    .cfg_new = cfg_new,
    .cfg_section = cfg_section,
    .cfg_check = cfg_check,
    .cfg_free = cfg_free,
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .ready = ready,
    .failed = NULL,
    .reload = reload,
    .port = port,
};
