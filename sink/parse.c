/*
 * parse.c - loads (sink_event_load: parse and prepare, fastpath.c) the records the consumer
 * polled, on helper threads, while the consumer thread applies the ones before them.
 *
 * Why: JSON parsing and the digest of a full report cost about as much as applying it when the
 * report is unchanged; on a second core they overlap with the SQLite writer. The writer still
 * applies every record itself, in the order polled, so exactly-once and per-phone order do not
 * depend on this module: it only turns bytes into events earlier.
 *
 * DESIGN: a round is an array of jobs handed out under one mutex (a job is large compared with
 * a lock). The consumer takes the job it needs next itself when no helper has started it, so a
 * round never waits for a helper that is busy or absent (0 helper threads parses inline).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_internal.h"

enum { JOB_WAITING, JOB_TAKEN, JOB_DONE };

struct sink_parse_pool {
    char *data_dir; /* each helper's read-only store for the fast path */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    sink_parse_job *jobs;
    size_t njobs, next;
    bool stop;
};

static void parse_one(sink_parse_job *j, sink_store *lookup)
{
    j->rc = sink_event_load(lookup, j->payload, j->len, j->is_status, j->key, j->keylen, &j->ev,
                            j->reason, sizeof j->reason, j->err, sizeof j->err);
}

/* The next job nobody took, or NULL. Called with mu held. */
static sink_parse_job *claim(sink_parse_pool *p)
{
    while (p->next < p->njobs && p->jobs[p->next].state != JOB_WAITING)
        p->next++;
    if (p->next == p->njobs)
        return NULL;
    sink_parse_job *j = &p->jobs[p->next++];
    j->state = JOB_TAKEN;
    return j;
}

static void *helper(void *arg)
{
    sink_parse_pool *p = arg;
    sink_store *lookup = NULL;
    char err[256];
    if (p->data_dir && sink_store_open(p->data_dir, true, NULL, &lookup, err, sizeof err) != PR_OK)
        lookup = NULL; /* no fast path: every record is parsed in full */
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        sink_parse_job *j = claim(p);
        if (!j) {
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        parse_one(j, lookup);
        pthread_mutex_lock(&p->mu);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    sink_store_close(lookup);
    return NULL;
}

sink_parse_pool *sink_parse_pool_new(int nthreads, const char *data_dir)
{
    sink_parse_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (data_dir && !(p->data_dir = strdup(data_dir))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (nthreads > 0 && !(p->threads = calloc((size_t)nthreads, sizeof *p->threads))) {
        sink_parse_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, helper, p) != 0)
            break; /* fewer helpers: the consumer parses what they do not */
        p->nthreads++;
    }
    return p;
}

void sink_parse_pool_free(sink_parse_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->data_dir);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p);
}

void sink_parse_start(sink_parse_pool *p, sink_parse_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jobs[i].state = JOB_WAITING;
    pthread_mutex_lock(&p->mu);
    p->jobs = jobs;
    p->njobs = n;
    p->next = 0;
    if (p->nthreads > 0)
        pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void sink_parse_wait(sink_parse_pool *p, sink_parse_job *j, sink_store *lookup)
{
    pthread_mutex_lock(&p->mu);
    if (j->state == JOB_WAITING) { /* nobody started it: do it here rather than wait */
        j->state = JOB_TAKEN;
        pthread_mutex_unlock(&p->mu);
        parse_one(j, lookup);
        pthread_mutex_lock(&p->mu);
        j->state = JOB_DONE;
    }
    while (j->state != JOB_DONE)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void sink_parse_finish(sink_parse_pool *p, sink_store *lookup)
{
    for (size_t i = 0; i < p->njobs; i++)
        sink_parse_wait(p, &p->jobs[i], lookup);
    pthread_mutex_lock(&p->mu);
    p->jobs = NULL;
    p->njobs = p->next = 0;
    pthread_mutex_unlock(&p->mu);
}
