/* A consumer group member's memory, shared by the files of the consumer, each calling only
   those listed before it: fk_consumer.c (its client and membership: configuration,
   rebalances), fk_fetch.c (polls and the fetches they hand out), fk_consumer_control.c
   (assignment, seek, pause, committed offsets, lag), fk_commit.c (commits, offsets sent to a
   transaction), fk_consumer_close.c (leaving the group) and fk_consumer_open.c (joining it). */
#ifndef FK_CONSUMER_H
#define FK_CONSUMER_H

#include "fk_internal.h"
#include "fk_offsets.h"

struct fk_consumer {
    char         *pool_code;   /* first member: read by the log callback (rd_kafka_opaque) */
    int           auth_failed;
    char          auth_error[FK_REFUSAL_TEXT_MAX];
    char          down_reason[300];   /* the last connection failure librdkafka gave */
    char          brokers_text[200];  /* the pool's brokers, for error messages */
    fk_group_spec spec;
    int           check_timeout_ms;
    rd_kafka_t   *rk;
    rd_kafka_queue_t *queue;   /* the consumer queue, for batch reads */
    rd_kafka_queue_t *commit_queue;     /* answers to the commits of fk_consumer_commit_start */
    struct commit_job *commits;         /* its jobs still waiting for their answer */
    intptr_t      commit_number;        /* the last commit's, which its answer carries */
    /* the last error of the group itself (joining, finding the coordinator, ...): returned by
       the polls that have no record to hand out, until the member is assigned partitions
       (group_error_once: only by the next such poll) */
    int           group_error;
    int           group_error_once;
    char          group_error_msg[300];
    pid_t         rk_pid;
    fk_fetches   *live;
    /* rebalance events (fk_consumer_rebalance_events) */
    int           record_rebalances;
    int           defer_revoke;
    int           closing;         /* revocations take effect at once while closing */
    struct rebalance_event *events;
    size_t        event_count, event_cap;
    rd_kafka_topic_partition_list_t **deferred;   /* revocations not performed yet */
    size_t        deferred_count, deferred_cap;
    int           request_users;   /* atomic: request jobs (fk_consumer_request_start) still running */
    /* start_offset(timestamp) in a group opened for a caller that never blocks: an assignment's
       start offsets are looked up on a thread of its own; the first poll after the lookup
       ended makes the assignment */
    int           lookups_on_thread;
    fk_thread     lookup;
    rd_kafka_topic_partition_list_t *lookup_parts;   /* the assignment it is for */
    fk_thread     closer;          /* fk_consumer_close_start: leaving the group */
    int           ever_assigned;   /* an assignment (even an empty one) arrived once */
    int           job_refs;        /* jobs that read this consumer when polled (its close, a
                                      commit): its memory outlives them */
    int           freed;           /* fk_consumer_free was called while job_refs > 0 */
    fk_stats_queue stats;
    fk_offsets_client offsets;     /* lag's watermarks */
};

/* 1 when c can talk to the brokers (open, and made in this process); else 0 with err. */
static inline int fk_consumer_usable(fk_consumer *c, fk_error *err)
{
    if (!c->rk) {
        fk_error_set(err, "_STATE", "kafka consumer group '%s' is closed", c->spec.name);
        return 0;
    }
    if (c->rk_pid != fk_process_id()) {
        fk_error_set(err, "_STATE",
                     "kafka consumer group '%s' was created in another process (before a fork); "
                     "create consumer groups in the process that uses them", c->spec.name);
        return 0;
    }
    return 1;
}

/* fk_consumer.c: the client of a new consumer of group g (no broker contact yet), and its
   subscription to the group's topics (opening, and rejoining in the close). */
fk_consumer *fk_consumer_client(fk_pool *p, const fk_group_spec *g, fk_error *err);
rd_kafka_resp_err_t fk_consumer_subscribe(fk_consumer *c);
/* Rebalances (see on_rebalance): the assignment whose start offsets a thread looks up is
   made (at once with wait), deferred revocations take effect, and the close forgets what is
   left. */
void fk_consumer_finish_lookup(fk_consumer *c, int wait);
void fk_consumer_revoke_deferred(fk_consumer *c);
void fk_consumer_forget_rebalances(fk_consumer *c);
int  fk_consumer_start_positions(fk_consumer *c, rd_kafka_topic_partition_list_t *parts, fk_error *err);
/* Partition lists between librdkafka and the core. */
void fk_consumer_partitions_from(fk_partitions *out, const rd_kafka_topic_partition_list_t *l);
int  fk_consumer_partition_errors(const fk_consumer *c, const char *what,
                                  const rd_kafka_topic_partition_list_t *l, fk_error *err);
rd_kafka_topic_partition_list_t *fk_consumer_offset_list(const fk_partition_offset *list, size_t n);
/* Frees c's memory; a job that reads c when polled (its close, a commit) lets go of it with
   fk_consumer_release. */
void fk_consumer_destroy(fk_consumer *c);
void fk_consumer_release(fk_consumer *c);

/* fk_fetch.c */
void fk_consumer_empty_fetches(fk_consumer *c);

#endif
