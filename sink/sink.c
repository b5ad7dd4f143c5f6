/*
 * sink.c - the sink role's lifecycle (sink.h): opens the store, the profiles, the publisher,
 * the consumer and the query API, and starts and stops their threads in order.
 *
 * DESIGN: threads besides the caller's: the consumer (loop.c, the only writer of state) and
 * its parse helpers (parse.c, --sink-parse-threads), the publisher (outbox.c, which also
 * checkpoints the writer's SQLite WAL), MHD's polling thread (api.c), and with re-baseline on
 * the re-baseline thread (rebaseline.c: SIP NOTIFYs). Each has its own store connection (SQLite
 * or PostgreSQL). Stop order: the API first (no new queries), then the re-baseline thread, then
 * the consumer (commits its open batch and leaves the group), then the publisher (publishes
 * what the last batch wrote, within a deadline; anything left stays in the outbox for the next
 * start). Without brokers (common->brokers NULL) the sink serves the API over the existing
 * store only.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sink.h"
#include "sink_internal.h"

struct sink {
    const pr_common_cfg *common;
    const sink_cfg *cfg;
    pr_metrics *metrics;
    sink_store *st;    /* the consumer's connection; handed to the loop */
    sink_profiles *pf; /* used by the loop thread only */
    sink_outbox *ob;
    sink_loop *loop;
    sink_api *api;
    sink_rebaseline *rb; /* NULL: re-baseline off */
    atomic_int ready;
    atomic_long wal_frames; /* the writer's WAL size, checkpointed by the publisher */
    sink_parts owned;       /* partitions assigned to this sink (the loop sets, all read) */
};

/* /readyz: a dead publisher (a fatal producer error) is not ready, for good. */
static const char *publisher_ready(void *ctx)
{
    return sink_outbox_failed(ctx) ? "the publisher stopped on a fatal producer error" : NULL;
}

pr_status sink_new(const pr_common_cfg *common, const sink_cfg *cfg, pr_metrics *metrics,
                   sink **out, char *err, size_t errlen)
{
    pr_status rc;
    sink *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return pr_err(PR_EFATAL, err, errlen, "out of memory");
    r->common = common;
    r->cfg = cfg;
    r->metrics = metrics;
    sink_parts_init(&r->owned);
    if ((rc = sink_store_open(sink_cfg_store(cfg), false, cfg->sync, &r->st, err, errlen)) != PR_OK)
        goto fail;
    /* PostgreSQL: the writer's writes travel pipelined, a round trip per read, not per write */
    sink_store_set_pipeline(r->st, true);
    /* the parameter index's set: a change rebuilds the index here, before anything reads it */
    if ((rc = sink_store_index_configure(r->st, cfg->index_params, err, errlen)) != PR_OK)
        goto fail;
    if (!(r->pf = sink_profiles_new(cfg->profiles_dir))) {
        rc = pr_err(PR_EFATAL, err, errlen, "out of memory");
        goto fail;
    }
    if (common->brokers && *common->brokers) {
        if ((rc = sink_outbox_new(common, cfg, metrics, &r->owned, &r->ob, err, errlen)) != PR_OK)
            goto fail;
        sink_store_wal_report(r->st, &r->wal_frames);
        sink_outbox_checkpoint_for(r->ob, &r->wal_frames);
        if ((rc = sink_loop_new(common, cfg, metrics, r->st, r->pf, r->ob, &r->owned, &r->ready,
                                &r->loop, err, errlen)) != PR_OK)
            goto fail;
    }
    if (cfg->rebaseline_credentials &&
        (rc = sink_rebaseline_new(cfg, metrics, &r->rb, err, errlen)) != PR_OK)
        goto fail;
    if (r->rb)
        sink_rebaseline_set_owned(r->rb, &r->owned);
    *out = r;
    return PR_OK;
fail:
    sink_free(r);
    return rc;
}

pr_status sink_start(sink *r, char *err, size_t errlen)
{
    pr_status rc;
    if (r->ob && (rc = sink_outbox_ensure_topics(r->ob, err, errlen)) != PR_OK)
        return rc;
    const sink_cfg *c = r->cfg;
    sink_api_opts ao = {.listen = c->api_listen,
                        .data_dir = sink_cfg_store(c),
                        .tokens = c->api_tokens,
                        .tls_cert = c->api_tls_cert,
                        .tls_key = c->api_tls_key,
                        .rebaseline = r->rb,
                        .threads = c->api_threads,
                        .max_connections = c->api_max_connections,
                        .max_connections_per_ip = c->api_max_connections_per_ip,
                        .connection_timeout_ms = c->api_connection_timeout_ms,
                        .header_timeout_ms = c->api_header_timeout_ms,
                        .auth_fail_max = c->api_auth_max_failures,
                        .auth_window_ms = c->api_auth_window_ms};
    if ((rc = sink_api_start_opts(&ao, r->metrics, &r->ready, &r->api, err, errlen)) != PR_OK)
        return rc;
    if (r->ob && (rc = sink_api_add_ready_check(r->api, publisher_ready, r->ob)) != PR_OK)
        return pr_err(rc, err, errlen, "too many readiness checks");
    if (r->ob && (rc = sink_outbox_start(r->ob, err, errlen)) != PR_OK)
        return rc;
    if (r->loop && (rc = sink_loop_start(r->loop, err, errlen)) != PR_OK)
        return rc;
    if (r->rb && (rc = sink_rebaseline_start(r->rb, err, errlen)) != PR_OK)
        return rc;
    if (!r->loop) {
        atomic_store(&r->ready, 1);
        PR_LOG(PR_LOG_WARN, "sink", "no brokers: serving the existing store only", NULL);
    }
    PR_LOG(PR_LOG_INFO, "sink", "started",
           json_pack("{si ss ss* sb sb}", "api_port", (int)sink_api_bound_port(r->api), "store",
                     sink_store_is_pg(r->cfg->store) ? "postgresql" : r->cfg->data_dir,
                     "profiles_dir", r->cfg->profiles_dir, "api_credentials",
                     r->cfg->api_tokens != NULL, "api_tls", r->cfg->api_tls_cert != NULL));
    return PR_OK;
}

void sink_stop(sink *r)
{
    if (!r)
        return;
    sink_api_stop(r->api);
    r->api = NULL;
    sink_rebaseline_stop(r->rb); /* no request can arrive any more */
    sink_loop_stop(r->loop);
    sink_outbox_stop(r->ob);
    atomic_store(&r->ready, 0);
}

void sink_free(sink *r)
{
    if (!r)
        return;
    sink_stop(r);
    sink_rebaseline_free(r->rb);
    sink_loop_free(r->loop);
    sink_outbox_free(r->ob);
    sink_profiles_free(r->pf);
    sink_store_close(r->st);
    sink_parts_destroy(&r->owned);
    free(r);
}

bool sink_ready(const sink *r)
{
    return r && atomic_load(&r->ready) && !sink_outbox_failed(r->ob);
}

bool sink_failed(const sink *r)
{
    return r && sink_outbox_failed(r->ob);
}

sink_outbox *sink_outbox_of(sink *r)
{
    return r ? r->ob : NULL;
}

unsigned sink_api_port(const sink *r)
{
    return r ? sink_api_bound_port(r->api) : 0;
}

bool sink_api_asks_credentials(const sink *r)
{
    return r && r->cfg->api_tokens;
}

void sink_reload(sink *r)
{
    if (!r)
        return;
    sink_loop_request_reload(r->loop);
    sink_api_reload(r->api);
}
