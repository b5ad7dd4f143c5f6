/*
 * clock.h - time as the project measures it: a monotonic millisecond clock for durations and
 * deadlines, and condition variables that wait on that clock (a wall-clock step, NTP or an
 * operator's `date`, never shortens or stretches a wait).
 */
#ifndef PR_CLOCK_H
#define PR_CLOCK_H

#include <pthread.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
long long pr_mono_ms(void);
/* Initialises cv to wait on CLOCK_MONOTONIC (pthread_cond_init otherwise). 0 or an errno. */
int pr_cond_init_mono(pthread_cond_t *cv);
/* Waits on cv (initialised by pr_cond_init_mono, mu held) for at most ms milliseconds.
 * Returns 0 when signalled (or spuriously woken), ETIMEDOUT when the time is up. */
int pr_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long long ms);

#endif
