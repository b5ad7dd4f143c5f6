/*
 * sink_remediate.h - remediate.c's part of the sink's internal interface (included by
 * sink_internal.h, after the types it uses): a resync for phones whose drift stays open.
 */
#ifndef SINK_REMEDIATE_H
#define SINK_REMEDIATE_H

typedef struct sink_remediate sink_remediate;
struct pr_sipnotify_opts;
struct pr_sipnotify_result;
/* What the re-baseline and the remediation keep of a NOTIFY's outcome (report_request,
 * remediation): {"outcome","status","reason","at","trigger","target","challenged"}. */
json_t *sink_notify_result_new(const struct pr_sipnotify_result *r, const char *now,
                               const char *trigger, const char *target);
/* The NOTIFY outcomes a metric counts, sipnotify.h's then "skipped" (SINK_NOTIFY_SKIPPED). */
#define SINK_NOTIFY_OUTCOMES 7
#define SINK_NOTIFY_SKIPPED  6
/* One counter per outcome of the metric name, in out[SINK_NOTIFY_OUTCOMES]; sink_notify_count
 * counts one outcome (one out of range is not counted). */
void sink_notify_counters(pr_metrics *m, const char *name, const char *help, pr_counter **out);
void sink_notify_count(pr_counter *const *counters, int outcome);
/* The remediate-* settings: PR_EINVAL with a message (configuration checks). */
pr_status sink_remediate_check(const sink_cfg *cfg, char *err, size_t errlen);
/* Its counters (phonereport_sink_remediations_total{outcome}); made by sink_rebaseline_new. */
pr_status sink_remediate_new(const sink_cfg *cfg, pr_metrics *metrics, sink_remediate **out,
                             char *err, size_t errlen);
void sink_remediate_free(sink_remediate *r); /* NULL is a no-op */
/* The re-baseline thread: binds the resync sender (o as the report sender's, Event: resync)
 * and, at its end, frees it. */
pr_status sink_remediate_thread_start(sink_remediate *r, const struct pr_sipnotify_opts *o,
                                      char *err, size_t errlen);
void sink_remediate_thread_end(sink_remediate *r);
/* One round, on the re-baseline thread's connection st: the phones asked through the API
 * (queued[0..nq)) and, with scan and remediate-drift resync, the candidates; returns the
 * NOTIFYs to send (the caller waits for the fleet-wide rate, then sink_remediate_send), and
 * sink_remediate_record writes the round's outcomes in one transaction. */
size_t sink_remediate_prepare(sink_remediate *r, sink_store *st, const sink_rb_policy *p, bool scan,
                              char (*queued)[PR_MAC_LEN + 1], size_t nq);
void sink_remediate_send(sink_remediate *r);
void sink_remediate_record(sink_remediate *r, sink_store *st);
/* The phone's last resync for the API (*out NULL: never asked): its result, attempted_at,
 * "drift" open or resolved (the phone's drift now), open_drift (how many parameters) and
 * reported_since (a configuration report came after it). */
pr_status sink_remediate_summary(sink_store *st, int64_t phone, json_t **out, char *err,
                                 size_t errlen);

#endif
