/* Closing a consumer: leaving the group, here or on a thread of its own (as a job), and
   freeing it. */
#include "fk_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The first part of closing, on the calling thread: fetches still alive become empty and
   the group counts as closed from here on (fk_consumer_usable() refuses it). */
static void close_begin(fk_consumer *c)
{
    fk_consumer_empty_fetches(c);
    c->closing = 1;
}

/* librdkafka before 2.3.0 aborts the process (an assertion in
   rd_kafka_sticky_assignor_state_destroy, librdkafka issue 4312) when a cooperative-sticky
   member is destroyed after the group chose its protocol (JoinGroup answered) but before its
   first assignment arrived (SyncGroup answered): the assignor's state is only made then.
   Such a member waits, up to STICKY_STATE_WAIT_MS, for that first assignment before it
   leaves; one that was never assigned unsubscribes first, so that no JoinGroup answer can
   arrive between the last look and the close. */
#define STICKY_STATE_WAIT_MS 10000

static int sticky_state_missing(fk_consumer *c)
{
    const char *protocol;
    if (rd_kafka_version() >= 0x02030000 || c->ever_assigned) return 0;
    protocol = rd_kafka_rebalance_protocol(c->rk);
    return !protocol || strcmp(protocol, "COOPERATIVE") == 0;   /* an unanswered question counts as yes */
}

static int safe_to_destroy(fk_consumer *c)
{
    int waited = 0;
    while (sticky_state_missing(c)) {
        rd_kafka_message_t *m;
        if (waited >= STICKY_STATE_WAIT_MS) return 0;
        /* serves the rebalance callback; records read now are not handed out, and were not
           committed: the partitions' next owner reads them */
        if ((m = rd_kafka_consumer_poll(c->rk, 100)) != NULL) rd_kafka_message_destroy(m);
        waited += 100;
    }
    return 1;
}

/* The part that waits for the brokers (leaving the group), here or on the close thread. */
static void close_client(fk_consumer *c)
{
    int destroy;
    /* a committed / lag request on another thread ends within the connect timeout */
    while (__atomic_load_n(&c->request_users, __ATOMIC_ACQUIRE) > 0) fk_sleep_ms(1);
    fk_offsets_client_clear(&c->offsets);
    if (c->rk_pid != fk_process_id()) return;   /* inherited through fork: not ours to close */
    fk_consumer_finish_lookup(c, 1);
    fk_consumer_revoke_deferred(c);   /* leaving: deferred revocations happen now */
    destroy = safe_to_destroy(c);
    if (destroy && rd_kafka_version() < 0x02030000 && !c->ever_assigned) {
        /* A JoinGroup answer may still be on its way: once unsubscribed the group takes
           none (its join state is back to the start), so the protocol read now is final.
           One that arrived just before joins again, to get the first assignment. */
        rd_kafka_unsubscribe(c->rk);
        if (sticky_state_missing(c))
            destroy = fk_consumer_subscribe(c) == RD_KAFKA_RESP_ERR_NO_ERROR && safe_to_destroy(c);
    }
    if (c->commit_queue) rd_kafka_queue_destroy(c->commit_queue);
    if (c->queue) rd_kafka_queue_destroy(c->queue);
    rd_kafka_consumer_close(c->rk);
    if (destroy) {
        rd_kafka_destroy(c->rk);
        return;
    }
    /* its threads idle once it left the group; destroying it would abort the process */
    fk_log_client(c->rk, 3, "CLOSE", "consumer group '%s': left without destroying the client: its first "
                  "assignment did not arrive within %d ms, and librdkafka %s aborts the process when a "
                  "cooperative-sticky member is destroyed before it (fixed in librdkafka 2.3.0)",
                  c->spec.name, STICKY_STATE_WAIT_MS, rd_kafka_version_str());
}

static void close_end(fk_consumer *c)
{
    c->queue = NULL;
    c->commit_queue = NULL;
    c->rk = NULL;
    if (c->lookup_parts) rd_kafka_topic_partition_list_destroy(c->lookup_parts);   /* forked */
    c->lookup_parts = NULL;
    c->lookup.running = 0;   /* forked: the thread was the parent's */
    fk_consumer_forget_rebalances(c);
}

static void close_main(void *arg) { close_client(arg); }

typedef struct close_job {
    fk_job       job;
    fk_consumer *c;
} close_job;

static int close_poll(fk_job *job, int timeout_ms)
{
    fk_consumer *c = ((close_job *)job)->c;
    if (c->closer.running) {
        if (!fk_thread_wait(&c->closer, timeout_ms)) return 0;
        close_end(c);
    }
    job->ok = 1;
    return 1;
}

static void close_destroy(fk_job *job) { fk_consumer_release(((close_job *)job)->c); }

static const fk_job_ops close_ops = { FK_JOB_CONSUMER_CLOSE, NULL, close_poll, close_destroy };

fk_job *fk_consumer_close_start(fk_consumer *c, fk_error *err)
{
    close_job *j = (close_job *)fk_job_new(&close_ops, sizeof *j, "close", err);
    if (!j) return NULL;
    j->c = c;
    c->job_refs++;
    if (!c->rk || c->closing) return &j->job;   /* closed, or a close under way to wait for */
    close_begin(c);
    if (c->rk_pid == fk_process_id() && fk_thread_start(&c->closer, close_main, c)) return &j->job;
    close_client(c);   /* no thread (or forked: nothing to leave): here and now */
    close_end(c);
    return &j->job;
}

void fk_consumer_close(fk_consumer *c)
{
    if (c->closer.running) {
        fk_thread_join(&c->closer);
        close_end(c);
        return;
    }
    if (!c->rk) return;
    close_begin(c);
    close_client(c);
    close_end(c);
}

void fk_consumer_free(fk_consumer *c)
{
    if (!c) return;
    fk_consumer_close(c);
    if (c->job_refs) c->freed = 1;   /* the last job frees it */
    else fk_consumer_destroy(c);
}
