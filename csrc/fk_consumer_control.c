/* A consumer's control of its partitions: assignment, seek, pause, committed offsets, lag,
   going back to the committed offsets, and these requests as jobs on a thread. */
#include "fk_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rd_kafka_topic_partition_list_t *to_rd_list(const fk_partitions *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->count ? (int)parts->count : 1);
    size_t i;
    for (i = 0; i < parts->count; i++)
        rd_kafka_topic_partition_list_add(l, parts->items[i].topic, parts->items[i].partition)->offset =
            parts->items[i].offset;
    return l;
}

int fk_consumer_assignment(fk_consumer *c, fk_partitions *out, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t e;
    if (!fk_consumer_usable(c, err)) return 0;
    if ((e = rd_kafka_assignment(c->rk, &l)) != 0) {
        fk_error_set_rd(err, e, "assignment of kafka consumer group '%s' failed", c->spec.name);
        return 0;
    }
    fk_consumer_partitions_from(out, l);
    rd_kafka_topic_partition_list_destroy(l);
    return 1;
}

int fk_consumer_seek(fk_consumer *c, const char *topic, int32_t partition, int64_t offset,
                     fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_error_t *e;
    rd_kafka_resp_err_t pe;
    if (!fk_consumer_usable(c, err)) return 0;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    e = rd_kafka_seek_partitions(c->rk, l, c->check_timeout_ms);
    pe = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        fk_error_set_rd(err, rd_kafka_error_code(e), "seek of kafka consumer group '%s' to '%s' [%d] offset %lld failed",
                        c->spec.name, topic, (int)partition, (long long)offset);
        rd_kafka_error_destroy(e);
        return 0;
    }
    if (pe) {
        fk_error_set_rd(err, pe, "seek of kafka consumer group '%s' to '%s' [%d] offset %lld failed",
                        c->spec.name, topic, (int)partition, (long long)offset);
        return 0;
    }
    return 1;
}

int fk_consumer_pause(fk_consumer *c, const fk_partitions *parts, int pause, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    int ok;
    if (!fk_consumer_usable(c, err)) return 0;
    l = to_rd_list(parts);
    e = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (e) fk_error_set_rd(err, e, "%s of kafka consumer group '%s' failed", pause ? "pause" : "resume", c->spec.name);
    ok = !e && fk_consumer_partition_errors(c, pause ? "pause" : "resume", l, err);
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

int fk_consumer_committed(fk_consumer *c, fk_partitions *parts, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    size_t i;
    if (!fk_consumer_usable(c, err)) return 0;
    l = to_rd_list(parts);
    e = rd_kafka_committed(c->rk, l, c->check_timeout_ms);
    if (e) {
        fk_error_set_rd(err, e, "committed offsets of kafka consumer group '%s' could not be read", c->spec.name);
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
    }
    for (i = 0; i < parts->count; i++) {
        parts->items[i].offset = l->elems[i].offset;
        parts->items[i].rd_err = l->elems[i].err;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return 1;
}

/* Once c->offsets has its client: the watermarks of every partition at once. */
static int lag_of(fk_consumer *c, fk_partitions *out, fk_error *err)
{
    char what[300];
    if (!fk_consumer_assignment(c, out, err) || !fk_consumer_committed(c, out, err)) return 0;
    snprintf(what, sizeof what, "lag of kafka consumer group '%.200s': watermarks could not be read", c->spec.name);
    return fk_offsets_watermarks(c->offsets.rk, out, FK_WM_HIGH | FK_WM_LOW_UNCOMMITTED, c->check_timeout_ms, what, err);
}

int fk_consumer_lag(fk_consumer *c, fk_partitions *out, fk_error *err)
{
    return fk_consumer_usable(c, err) && fk_offsets_client_get(&c->offsets, "lag", err) && lag_of(c, out, err);
}

int fk_consumer_rewind(fk_consumer *c, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t e;
    rd_kafka_error_t *se;
    int i, ok;
    if (!fk_consumer_usable(c, err)) return 0;
    if ((e = rd_kafka_assignment(c->rk, &l)) == 0) {
        for (i = 0; i < l->cnt; i++) l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        e = rd_kafka_committed(c->rk, l, c->check_timeout_ms);
    }
    if (e) {
        if (l) rd_kafka_topic_partition_list_destroy(l);
        fk_error_set_rd(err, e, "kafka consumer group '%s' could not go back to its committed offsets", c->spec.name);
        return 0;
    }
    ok = fk_consumer_partition_errors(c, "rewind", l, err) && fk_consumer_start_positions(c, l, err);
    if (ok && l->cnt && (se = rd_kafka_seek_partitions(c->rk, l, c->check_timeout_ms)) != NULL) {
        fk_error_set_rd(err, rd_kafka_error_code(se), "kafka consumer group '%s' could not go back to its committed offsets",
                        c->spec.name);
        rd_kafka_error_destroy(se);
        ok = 0;
    }
    ok = ok && fk_consumer_partition_errors(c, "rewind", l, err);
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

typedef struct request_job {
    fk_job          job;
    fk_consumer    *c;
    fk_request_kind kind;
    fk_partitions   parts;
} request_job;

static void request_run(fk_job *job)
{
    request_job *q = (request_job *)job;
    const fk_partition *target = q->parts.items;
    switch (q->kind) {
    case FK_REQUEST_COMMITTED: job->ok = fk_consumer_committed(q->c, &q->parts, &job->err); break;
    case FK_REQUEST_LAG:       job->ok = lag_of(q->c, &q->parts, &job->err); break;
    case FK_REQUEST_SEEK:
        job->ok = fk_consumer_seek(q->c, target->topic, target->partition, target->offset, &job->err);
        break;
    case FK_REQUEST_REWIND:    job->ok = fk_consumer_rewind(q->c, &job->err); break;
    }
    __atomic_sub_fetch(&q->c->request_users, 1, __ATOMIC_ACQ_REL);
}

static void request_destroy(fk_job *job) { fk_partitions_clear(&((request_job *)job)->parts); }

static const fk_job_ops request_ops = { FK_JOB_CONSUMER_REQUEST, request_run, NULL, request_destroy };

fk_job *fk_consumer_request_start(fk_consumer *c, fk_request_kind kind, fk_partitions *parts, fk_error *err)
{
    static const char *const names[] = { "committed", "lag", "seek", "seek_to_committed" };
    request_job *q;
    if (!fk_consumer_usable(c, err)) return NULL;
    if (kind == FK_REQUEST_SEEK && (!parts || parts->count != 1)) {
        fk_error_set(err, "_INVALID_ARG", "seek: exactly one partition to seek");
        return NULL;
    }
    if (kind == FK_REQUEST_LAG && !fk_offsets_client_get(&c->offsets, "lag", err)) return NULL;
    if (!(q = (request_job *)fk_job_new(&request_ops, sizeof *q, names[kind], err))) return NULL;
    q->c = c;
    q->kind = kind;
    if (parts) {
        q->parts = *parts;
        memset(parts, 0, sizeof *parts);
    }
    /* closing the consumer waits for this count: the thread uses the client until it ends */
    __atomic_add_fetch(&c->request_users, 1, __ATOMIC_ACQ_REL);
    if (fk_job_start(&q->job, err)) return &q->job;
    __atomic_sub_fetch(&c->request_users, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

int fk_job_take_partitions(fk_job *job, fk_partitions *out)
{
    request_job *q = (request_job *)job;
    if (job->ops != &request_ops || !job->ended || !job->ok) return 0;
    *out = q->parts;
    memset(&q->parts, 0, sizeof q->parts);
    return 1;
}

int fk_consumer_seek_offsets(fk_consumer *c, const fk_partition_offset *list, size_t n, int timeout_ms, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_error_t *e;
    int failed = 0;
    if (!fk_consumer_usable(c, err)) return 0;
    if (n == 0) return 1;
    l = fk_consumer_offset_list(list, n);
    if ((e = rd_kafka_seek_partitions(c->rk, l, timeout_ms)) != NULL) {
        fk_error_set_rd(err, rd_kafka_error_code(e), "seek of kafka consumer group '%s' failed", c->spec.name);
        rd_kafka_error_destroy(e);
        failed = 1;
    } else {
        failed = !fk_consumer_partition_errors(c, "seek", l, err);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return !failed;
}
