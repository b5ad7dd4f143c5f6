/*
 * thread.h - a role's worker thread (the sink's consumer, publisher and re-baseline threads,
 * the decoder's loop): started once, asked to stop through one flag, joined once.
 *
 * The thread reads pr_thread_stopping() where it may stop; a thread that sleeps on a
 * condition variable is woken by the wake hook pr_thread_stop calls after raising the flag
 * (the hook signals under the thread's mutex, so a waiter that checked the flag just before
 * cannot miss it).
 */
#ifndef PR_THREAD_H
#define PR_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct pr_thread {
    pthread_t id;
    bool started;
    atomic_bool stop;
} pr_thread;

/* Runs fn(arg) on a new thread. PR_EFATAL ("cannot start the <what> thread") when it cannot
 * be created. */
pr_status pr_thread_start(pr_thread *t, void *(*fn)(void *), void *arg, const char *what, char *err,
                          size_t errlen);
/* Raises the stop flag, calls wake(arg) when wake is given, joins the thread. A thread not
 * started (or already stopped): nothing. */
void pr_thread_stop(pr_thread *t, void (*wake)(void *), void *arg);
/* Joins a thread that ends by itself (its start-up failed), without raising the flag. */
void pr_thread_join(pr_thread *t);

/* The thread itself gives up (a fatal error): it ends at its next pr_thread_stopping check. */
static inline void pr_thread_request_stop(pr_thread *t)
{
    atomic_store(&t->stop, true);
}

static inline bool pr_thread_stopping(pr_thread *t)
{
    return atomic_load(&t->stop);
}

#endif
