/* Jobs: the one way a call that waits for the brokers is started without waiting, polled or
   waited for with a bound, answered and freed (see fk_job in fluxakafka.h). Each kind brings
   its work and its answer (fk_job_ops); the waiting, the answer's status and the freeing
   live here once. */
#include "fk_internal.h"

#include <stdlib.h>

/* The job whose work runs on this thread, for fk_job_stopping deep inside that work. */
static __thread fk_job *current;

fk_job *fk_job_new(const fk_job_ops *ops, size_t size, const char *what, fk_error *err)
{
    fk_job *j = calloc(1, size);
    if (!j) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
        return NULL;
    }
    j->ops = ops;
    j->what = what;
    return j;
}

static void job_main(void *arg)
{
    fk_job *j = arg;
    current = j;
    j->ops->run(j);
    current = NULL;
}

fk_job *fk_job_start(fk_job *j, fk_error *err)
{
    if (fk_thread_start(&j->thread, job_main, j)) return j;
    fk_error_set(err, "_FAIL", "%s: cannot start a thread for the request", j->what);
    fk_job_free(j);
    return NULL;
}

fk_job_kind fk_job_kind_of(const fk_job *j) { return j->ops->kind; }

int fk_job_wait(fk_job *j, int timeout_ms)
{
    if (j->ended) return 1;
    if (j->ops->poll ? !j->ops->poll(j, timeout_ms) : !fk_thread_wait(&j->thread, timeout_ms)) return 0;
    j->ended = 1;
    return 1;
}

int fk_job_ready(fk_job *j) { return fk_job_wait(j, 0); }

int fk_job_error(fk_job *j, fk_error *err)
{
    if (!fk_job_ready(j)) {
        fk_error_set(err, "_STATE", "%s: the request is still running", j->what);
        return 0;
    }
    if (!j->ok) *err = j->err;
    return j->ok;
}

void fk_job_cancel(fk_job *j) { __atomic_store_n(&j->cancelled, 1, __ATOMIC_RELEASE); }

int fk_job_stopping(fk_error *err)
{
    if (!current || !__atomic_load_n(&current->cancelled, __ATOMIC_ACQUIRE)) return 0;
    if (err) {
        fk_error_set(err, "_DESTROY", "%s was cancelled", current->what);
        err->rd_err = RD_KAFKA_RESP_ERR__DESTROY;
    }
    return 1;
}

void fk_job_free(fk_job *j)
{
    if (!j) return;
    fk_job_cancel(j);
    /* a thread's work uses the job until it returns; work done elsewhere is not the job's */
    if (!j->ops->poll) fk_thread_join(&j->thread);
    if (j->ops->destroy) j->ops->destroy(j);
    free(j);
}
