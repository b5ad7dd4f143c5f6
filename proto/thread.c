/* thread.c - a role's worker thread (thread.h). */
#include "thread.h"

pr_status pr_thread_start(pr_thread *t, void *(*fn)(void *), void *arg, const char *what, char *err,
                          size_t errlen)
{
    if (pthread_create(&t->id, NULL, fn, arg) != 0)
        return pr_err(PR_EFATAL, err, errlen, "cannot start the %s thread", what);
    t->started = true;
    return PR_OK;
}

void pr_thread_stop(pr_thread *t, void (*wake)(void *), void *arg)
{
    if (!t->started)
        return;
    pr_thread_request_stop(t);
    if (wake)
        wake(arg);
    pr_thread_join(t);
}

void pr_thread_join(pr_thread *t)
{
    if (t->started)
        pthread_join(t->id, NULL);
    t->started = false;
}
