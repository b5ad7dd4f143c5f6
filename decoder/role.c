/*
 * role.c - the decoder role's descriptor (proto/role.h): the hooks through which the commands
 * (cmd/run.c) create, start, watch and stop it without knowing its types.
 */
#include "decoder.h"

static void *cfg_new(void)
{
    return decoder_cfg_new();
}

static pr_cfg_section cfg_section(void *cfg)
{
    return decoder_cfg_section(cfg);
}

static pr_status cfg_check(const void *cfg, const pr_common_cfg *common, pr_errlist *errs)
{
    return decoder_cfg_check(cfg, common, errs);
}

static void cfg_free(void *cfg)
{
    decoder_cfg_free(cfg);
}

static pr_status create(const pr_common_cfg *common, const void *cfg, pr_metrics *metrics,
                        void **out, char *err, size_t errlen)
{
    decoder *r = NULL;
    pr_status st = decoder_new(common, cfg, metrics, &r, err, errlen);
    *out = r;
    return st;
}

static pr_status start(void *r, char *err, size_t errlen)
{
    return decoder_start(r, err, errlen);
}

static void stop(void *r)
{
    decoder_stop(r);
}

static void destroy(void *r)
{
    decoder_free(r);
}

static bool ready(const void *r)
{
    return decoder_ready(r);
}

static bool failed(const void *r)
{
    return decoder_failed(r);
}

static void reload(void *r)
{
    decoder_reload(r);
}

const pr_role decoder_role = {
    .name = "decoder",
    .command = "decode",
    .summary = "decrypt and parse raw reports into JSON events (transactional)",
    .about = "Consumes <prefix>raw, decrypts and parses each report and produces a JSON "
             "event to\n<prefix>config or <prefix>status, or a record to <prefix>dlq, "
             "in Kafka transactions.",
    .cfg_new = cfg_new,
    .cfg_section = cfg_section,
    .cfg_check = cfg_check,
    .cfg_free = cfg_free,
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .ready = ready,
    .failed = failed,
    .reload = reload,
    .port = NULL,
};
