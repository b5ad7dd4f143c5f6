/*
 * role.c - the ingest role's descriptor (proto/role.h): the hooks through which the commands
 * (cmd/run.c) create, start, watch and stop it without knowing its types.
 */
#include "ingest.h"

static void *cfg_new(void)
{
    return ingest_cfg_new();
}

static pr_cfg_section cfg_section(void *cfg)
{
    return ingest_cfg_section(cfg);
}

static pr_status cfg_check(const void *cfg, const pr_common_cfg *common, pr_errlist *errs)
{
    return ingest_cfg_check(cfg, common, errs);
}

static void cfg_free(void *cfg)
{
    ingest_cfg_free(cfg);
}

static pr_status create(const pr_common_cfg *common, const void *cfg, pr_metrics *metrics,
                        void **out, char *err, size_t errlen)
{
    ingest *r = NULL;
    pr_status st = ingest_new(common, cfg, metrics, &r, err, errlen);
    *out = r;
    return st;
}

static pr_status start(void *r, char *err, size_t errlen)
{
    return ingest_start(r, err, errlen);
}

static void stop(void *r)
{
    ingest_stop(r);
}

static void destroy(void *r)
{
    ingest_free(r);
}

static bool ready(const void *r)
{
    return ingest_ready(r);
}

static void reload(void *r)
{
    ingest_reload(r);
}

static unsigned port(const void *r)
{
    return ingest_port(r);
}

const pr_role ingest_role = {
    .name = "ingest",
    .command = "ingest",
    .summary = "HTTP edge: accept phone uploads, ack after Kafka has them",
    .about = "The HTTP edge: phones PUT or POST their reports; each is published to "
             "<prefix>raw and\nacknowledged (200) only after Kafka has it; 503 with "
             "Retry-After otherwise.",
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
