/* A consumer's commits (jobs answered on its commit queue, and the blocking calls that wait
   for one) and its positions sent to a producer's transaction. */
#include "fk_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when every partition of list is assigned to this member; else 0 with err. The broker
   takes a commit for any partition from any member of the current generation: committing a
   partition another member owns now would overwrite what that member committed. */
static int owns_all(fk_consumer *c, const fk_partition_offset *list, size_t n, fk_error *err)
{
    rd_kafka_topic_partition_list_t *mine = NULL;
    rd_kafka_resp_err_t e;
    size_t i;
    if (rd_kafka_assignment_lost(c->rk)) {
        fk_error_set_rd(err, RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST, "commit of kafka consumer group '%s' refused: "
                        "the member's partitions were taken away (its session or generation ended)", c->spec.name);
        return 0;
    }
    if ((e = rd_kafka_assignment(c->rk, &mine)) != 0) {
        fk_error_set_rd(err, e, "commit of kafka consumer group '%s' failed", c->spec.name);
        return 0;
    }
    for (i = 0; i < n && rd_kafka_topic_partition_list_find(mine, list[i].topic, list[i].partition); i++) {}
    rd_kafka_topic_partition_list_destroy(mine);
    if (i == n) return 1;
    fk_error_set_rd(err, RD_KAFKA_RESP_ERR__STATE, "commit of kafka consumer group '%s' refused: '%s' [%d] is not "
                    "assigned to this member any more; its next owner reads it from the group's committed offset",
                    c->spec.name, list[i].topic, (int)list[i].partition);
    return 0;
}

/* A commit as a job: librdkafka posts its answer on the consumer's commit queue, carrying the
   commit's number. Whichever commit job polls takes every answer there and hands each to its
   job, so that each job gets its own. */
typedef struct commit_job {
    fk_job             job;
    fk_consumer       *c;
    intptr_t           number;
    int                waiting;   /* in c->commits */
    long long          deadline_ms;
    int                timeout_ms;
    struct commit_job *next;
} commit_job;

static void commit_forget(commit_job *q)
{
    commit_job **p;
    for (p = &q->c->commits; *p && *p != q; p = &(*p)->next) {}
    if (*p) *p = q->next;
    q->waiting = 0;
}

static void commit_answered(fk_consumer *c, rd_kafka_event_t *ev)
{
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    const rd_kafka_topic_partition_list_t *l = rd_kafka_event_topic_partition_list(ev);
    commit_job *q;
    for (q = c->commits; q && q->number != (intptr_t)rd_kafka_event_opaque(ev); q = q->next) {}
    if (!q) return;   /* its job was given up */
    commit_forget(q);
    if (e == RD_KAFKA_RESP_ERR__NO_OFFSET) return;   /* nothing new to commit */
    if (e) fk_error_set_rd(&q->job.err, e, "commit of kafka consumer group '%s' failed", c->spec.name);
    q->job.ok = !e && (!l || fk_consumer_partition_errors(c, "commit", l, &q->job.err));
}

/* No answer within the commit's timeout: librdkafka may still send the commit, but the
   caller hears now; the offsets stay with the member, so the next commit covers them. */
static void commit_given_up(commit_job *q)
{
    commit_forget(q);
    fk_error_set_rd(&q->job.err, RD_KAFKA_RESP_ERR__TIMED_OUT, "commit of kafka consumer group '%s' got no "
                    "answer within %.3g s", q->c->spec.name, q->timeout_ms / 1000.0);
    fk_error_append(&q->job.err, " (the offsets stay uncommitted here: the next commit includes them)");
    q->job.ok = 0;
}

static int commit_poll(fk_job *job, int timeout_ms)
{
    commit_job *q = (commit_job *)job;
    fk_consumer *c = q->c;
    int waited = 0;
    while (q->waiting) {
        rd_kafka_event_t *ev;
        long long left = q->deadline_ms - fk_now_ms();
        int step = timeout_ms < 0 || timeout_ms - waited > 100 ? 100 : timeout_ms - waited;
        if (left < step) step = left > 0 ? (int)left : 0;
        if (c->closing) {   /* its queue goes with the client, maybe on the close thread */
            commit_forget(q);
            fk_error_set(&job->err, "_STATE", "commit of kafka consumer group '%s': the group was closed "
                         "before the broker answered", c->spec.name);
            job->ok = 0;
            break;
        }
        if ((ev = rd_kafka_queue_poll(c->commit_queue, step)) != NULL) {
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) commit_answered(c, ev);
            rd_kafka_event_destroy(ev);
            continue;
        }
        waited += step;
        if (fk_now_ms() >= q->deadline_ms) {
            commit_given_up(q);
            break;
        }
        if (timeout_ms >= 0 && waited >= timeout_ms) return 0;
    }
    return 1;
}

static void commit_destroy(fk_job *job)
{
    commit_job *q = (commit_job *)job;
    if (q->waiting) commit_forget(q);
    fk_consumer_release(q->c);
}

static const fk_job_ops commit_ops = { FK_JOB_COMMIT, NULL, commit_poll, commit_destroy };

fk_job *fk_consumer_commit_start(fk_consumer *c, const fk_partition_offset *list, size_t n, int timeout_ms,
                                 fk_error *err)
{
    rd_kafka_topic_partition_list_t *offsets = list ? fk_consumer_offset_list(list, n) : NULL;
    rd_kafka_resp_err_t e;
    commit_job *q = NULL;
    if (!fk_consumer_usable(c, err) || (list && !owns_all(c, list, n, err))) goto fail;
    if (!c->commit_queue && !(c->commit_queue = rd_kafka_queue_new(c->rk))) {
        fk_error_set(err, "_NO_MEMORY", "commit of kafka consumer group '%s': out of memory", c->spec.name);
        goto fail;
    }
    if (!(q = (commit_job *)fk_job_new(&commit_ops, sizeof *q, "commit", err))) goto fail;
    q->c = c;
    q->timeout_ms = timeout_ms < 0 ? c->check_timeout_ms : timeout_ms;
    q->deadline_ms = fk_now_ms() + q->timeout_ms;
    c->job_refs++;
    q->job.ok = 1;
    if (list && n == 0) goto done;   /* nothing to commit: answered at once */
    q->number = ++c->commit_number;
    e = rd_kafka_commit_queue(c->rk, offsets, c->commit_queue, NULL, (void *)q->number);
    if (e == RD_KAFKA_RESP_ERR__NO_OFFSET) goto done;
    if (e) {
        fk_error_set_rd(err, e, "commit of kafka consumer group '%s' failed", c->spec.name);
        goto fail;
    }
    q->waiting = 1;
    q->next = c->commits;
    c->commits = q;
done:
    if (offsets) rd_kafka_topic_partition_list_destroy(offsets);
    return &q->job;
fail:
    if (offsets) rd_kafka_topic_partition_list_destroy(offsets);
    fk_job_free(q ? &q->job : NULL);
    return NULL;
}

/* The blocking commits: a commit job waited for here. */
static int commit_and_wait(fk_consumer *c, const fk_partition_offset *list, size_t n, fk_error *err)
{
    fk_job *j = fk_consumer_commit_start(c, list, n, -1, err);
    int ok = j && fk_job_wait(j, -1) && fk_job_error(j, err);
    fk_job_free(j);
    return ok;
}

int fk_consumer_commit(fk_consumer *c, fk_error *err) { return commit_and_wait(c, NULL, 0, err); }

int fk_consumer_commit_offsets(fk_consumer *c, const fk_partition_offset *list, size_t n, fk_error *err)
{
    return commit_and_wait(c, list, n, err);
}

/* ---- transactions: the consumer's positions committed with a producer's records ---- */

/* The positions (next offsets) of every partition assigned to c, and its group metadata (the
   caller destroys both). NULL with err when c commits on its own or the positions cannot be
   read. */
static rd_kafka_topic_partition_list_t *consumer_positions(fk_consumer *c,
                                                           rd_kafka_consumer_group_metadata_t **metadata,
                                                           fk_error *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t e;
    if (!fk_consumer_usable(c, err)) return NULL;
    if (c->spec.auto_commit_interval_ms > 0) {
        /* its own commits would race the transaction's */
        fk_error_set(err, "_INVALID_ARG", "kafka consumer group '%s' commits on its own (auto_commit_interval): "
                     "offsets sent to a transaction need a group that commits only by hand", c->spec.name);
        return NULL;
    }
    if ((e = rd_kafka_assignment(c->rk, &l)) == 0) e = rd_kafka_position(c->rk, l);
    if (e) {
        if (l) rd_kafka_topic_partition_list_destroy(l);
        fk_error_set_rd(err, e, "positions of kafka consumer group '%s' could not be read", c->spec.name);
        return NULL;
    }
    *metadata = rd_kafka_consumer_group_metadata(c->rk);
    return l;
}

int fk_pool_send_offsets_to_transaction(fk_pool *p, fk_consumer *c, int timeout_ms, fk_error *err,
                                        int *kind)
{
    rd_kafka_t *rk = fk_pool_txn_producer(p, "send_offsets_to_transaction", err, kind);
    rd_kafka_consumer_group_metadata_t *metadata = NULL;
    rd_kafka_topic_partition_list_t *positions;
    rd_kafka_error_t *e;
    if (!rk) return 0;
    if (!fk_pool_in_transaction(p)) {
        fk_error_set(err, "_STATE", "send_offsets_to_transaction: kafka pool '%s' is not in a transaction "
                     "(call pool:begin_transaction() first)", fk_pool_spec_of(p)->code);
        return 0;
    }
    if (!(positions = consumer_positions(c, &metadata, err))) return 0;
    e = rd_kafka_send_offsets_to_transaction(rk, positions, metadata, timeout_ms);
    rd_kafka_topic_partition_list_destroy(positions);
    rd_kafka_consumer_group_metadata_destroy(metadata);
    return e ? fk_pool_txn_failed(p, "send_offsets_to_transaction", e, err, kind) : 1;
}
