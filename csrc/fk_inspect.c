/* Read-only requests on a pool's admin client: a partition's watermarks, the cluster's topics
   (metadata) and its consumer groups. librdkafka answers them only by blocking, so each is a
   job (fk_job.c) whose work runs on a thread of its own. */
#include "fk_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fk_inspect {
    fk_job          job;
    fk_pool        *pool;
    fk_inspect_kind kind;
    char           *topic;
    int32_t         partition;
    int             timeout_ms;
    rd_kafka_t     *rk;          /* the pool's admin client, held until the request ends */
    rd_kafka_resp_err_t rd_err;
    int64_t         low, high;
    const struct rd_kafka_metadata   *md;
    const struct rd_kafka_group_list *groups;
    size_t         *order;       /* topics or groups, sorted by name */
    size_t          order_count;
} fk_inspect;

static const void *sort_base;   /* only used under sort_lock */
static int sort_kind;
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *name_at(size_t i)
{
    if (sort_kind == FK_INSPECT_TOPICS)
        return ((const struct rd_kafka_metadata *)sort_base)->topics[i].topic;
    return ((const struct rd_kafka_group_list *)sort_base)->groups[i].group;
}

static int cmp_index(const void *a, const void *b)
{
    return strcmp(name_at(*(const size_t *)a), name_at(*(const size_t *)b));
}

static void sort_names(fk_inspect *j, size_t n, const void *base)
{
    size_t i;
    if (!(j->order = malloc((n ? n : 1) * sizeof *j->order))) {
        j->rd_err = RD_KAFKA_RESP_ERR__FAIL;
        return;
    }
    for (i = 0; i < n; i++) j->order[i] = i;
    j->order_count = n;
    pthread_mutex_lock(&sort_lock);
    sort_base = base;
    sort_kind = j->kind;
    qsort(j->order, n, sizeof *j->order, cmp_index);
    pthread_mutex_unlock(&sort_lock);
}

/* The job's status from librdkafka's answer, with the message the blocking call gave. */
static void set_answer(fk_inspect *j)
{
    const char *code = fk_pool_spec_of(j->pool)->code;
    j->job.ok = !j->rd_err;
    switch (j->kind) {
    case FK_INSPECT_WATERMARKS:
        if (j->rd_err)
            fk_error_set_rd(&j->job.err, j->rd_err, "watermarks of '%.200s' partition %d (kafka pool '%.200s') failed",
                            j->topic ? j->topic : "", (int)j->partition, code);
        break;
    case FK_INSPECT_TOPICS:
        if (j->rd_err) fk_error_set_rd(&j->job.err, j->rd_err, "list_topics of kafka pool '%.200s' failed", code);
        break;
    case FK_INSPECT_GROUPS:
        if (j->rd_err) fk_error_set_rd(&j->job.err, j->rd_err, "list_groups of kafka pool '%.200s' failed", code);
        break;
    }
}

static void run(fk_job *job)
{
    fk_inspect *j = (fk_inspect *)job;
    switch (j->kind) {
    case FK_INSPECT_WATERMARKS:
        j->rd_err = rd_kafka_query_watermark_offsets(j->rk, j->topic, j->partition, &j->low,
                                                     &j->high, j->timeout_ms);
        break;
    case FK_INSPECT_TOPICS:
        j->rd_err = rd_kafka_metadata(j->rk, 1, NULL, &j->md, j->timeout_ms);
        if (!j->rd_err) sort_names(j, (size_t)j->md->topic_cnt, j->md);
        break;
    case FK_INSPECT_GROUPS:
        j->rd_err = rd_kafka_list_groups(j->rk, NULL, &j->groups, j->timeout_ms);
        if (!j->rd_err) sort_names(j, (size_t)j->groups->group_cnt, j->groups);
        break;
    }
    fk_pool_admin_release(j->pool);
    j->rk = NULL;
    set_answer(j);
}

static void destroy(fk_job *job)
{
    fk_inspect *j = (fk_inspect *)job;
    if (j->rk) fk_pool_admin_release(j->pool);   /* never started */
    if (j->md) rd_kafka_metadata_destroy(j->md);
    if (j->groups) rd_kafka_group_list_destroy(j->groups);
    free(j->order);
    free(j->topic);
}

static const fk_job_ops inspect_ops = { FK_JOB_INSPECT, run, NULL, destroy };
static const char *const names[] = { "watermarks", "list_topics", "list_groups" };

fk_job *fk_inspect_start(fk_pool *p, fk_inspect_kind kind, const char *topic, int32_t partition,
                         fk_error *err)
{
    fk_inspect *j = (fk_inspect *)fk_job_new(&inspect_ops, sizeof *j, names[kind], err);
    if (!j) return NULL;
    j->pool = p;
    j->kind = kind;
    j->partition = partition;
    j->timeout_ms = fk_connect_timeout_ms(fk_pool_spec_of(p));
    if (topic && !(j->topic = fk_strdup(topic))) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", names[kind]);
        fk_job_free(&j->job);
        return NULL;
    }
    if (!(j->rk = fk_pool_admin_hold(p, err))) {
        fk_job_free(&j->job);
        return NULL;
    }
    return fk_job_start(&j->job, err);
}

/* The answer of a job that succeeded, NULL for any other job. */
static const fk_inspect *answer(const fk_job *job)
{
    return job->ops == &inspect_ops && job->ended && job->ok ? (const fk_inspect *)job : NULL;
}

fk_inspect_kind fk_inspect_kind_of(const fk_job *job) { return ((const fk_inspect *)job)->kind; }

void fk_inspect_watermarks(const fk_job *job, int64_t *low, int64_t *high)
{
    const fk_inspect *j = answer(job);
    *low = j ? j->low : -1;
    *high = j ? j->high : -1;
}

size_t fk_inspect_topic_count(const fk_job *job)
{
    const fk_inspect *j = answer(job);
    return j && j->md ? j->order_count : 0;
}

const char *fk_inspect_topic(const fk_job *job, size_t i, size_t *partitions, int *rd_err)
{
    const fk_inspect *j = answer(job);
    const rd_kafka_metadata_topic_t *t;
    if (!j || !j->md || i >= j->order_count) return NULL;
    t = &j->md->topics[j->order[i]];
    *partitions = (size_t)t->partition_cnt;
    *rd_err = t->err;
    return t->topic;
}

int fk_inspect_partition(const fk_job *job, size_t i, size_t k, int32_t *id, int32_t *leader,
                         const int32_t **replicas, size_t *replica_count,
                         const int32_t **isrs, size_t *isr_count)
{
    const fk_inspect *j = answer(job);
    const rd_kafka_metadata_topic_t *t;
    const rd_kafka_metadata_partition_t *pt;
    if (!j || !j->md || i >= j->order_count) return 0;
    t = &j->md->topics[j->order[i]];
    if (k >= (size_t)t->partition_cnt) return 0;
    pt = &t->partitions[k];
    *id = pt->id;
    *leader = pt->leader;
    *replicas = pt->replicas;
    *replica_count = (size_t)pt->replica_cnt;
    *isrs = pt->isrs;
    *isr_count = (size_t)pt->isr_cnt;
    return 1;
}

size_t fk_inspect_group_count(const fk_job *job)
{
    const fk_inspect *j = answer(job);
    return j && j->groups ? j->order_count : 0;
}

int fk_inspect_group(const fk_job *job, size_t i, const char **name, const char **state,
                     const char **protocol_type, size_t *members)
{
    const fk_inspect *j = answer(job);
    const struct rd_kafka_group_info *g;
    if (!j || !j->groups || i >= j->order_count) return 0;
    g = &j->groups->groups[j->order[i]];
    *name = g->group;
    *state = g->state ? g->state : "";
    *protocol_type = g->protocol_type ? g->protocol_type : "";
    *members = (size_t)(g->member_cnt > 0 ? g->member_cnt : 0);
    return 1;
}
