/* Read-only requests on a pool's admin client: a partition's watermarks, the cluster's topics
   (metadata) and its consumer groups, named topics and groups described, a group's lag and
   offsets by time. librdkafka answers them only by blocking, so each is a job (fk_job.c)
   whose work runs on a thread of its own. None joins a group: groups are read through the
   admin API (ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets). */
#include "fk_internal.h"
#include "fk_admin_call.h"
#include "fk_offsets.h"
#include "fk_rdcompat.h"

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
    fk_strlist      names;       /* the topics or groups asked for */
    int             timeout_ms;
    rd_kafka_t     *rk;          /* the pool's admin client, held until the request ends */
    rd_kafka_resp_err_t rd_err;  /* the blocking calls' answer (watermarks, topics) */
    char            what[300];   /* the request, for messages */
    int64_t         low, high;
    const struct rd_kafka_metadata *md;
    rd_kafka_event_t *configs_ev;                    /* DescribeConfigs */
    const rd_kafka_ConfigResource_t **configs;       /* per topic answered, in order */
    rd_kafka_event_t *groups_ev;                     /* DescribeConsumerGroups */
    const rd_kafka_ConsumerGroupDescription_t **groups;   /* in order */
    size_t         *order;       /* topics (metadata indexes) or groups, in the answer's order */
    size_t          order_count;
    fk_partitions   parts;       /* group lag, offsets for times */
} fk_inspect;

static const char *const names[] = { "watermarks", "list_topics", "list_groups", "describe_topics",
                                     "describe_groups", "group_lag", "offsets_for_times" };

/* ---------------------------------------------------------------- sorting ---- */

static const void *sort_base;   /* only used under sort_lock */
static int sort_topics;
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *name_at(size_t i)
{
    if (sort_topics) return ((const struct rd_kafka_metadata *)sort_base)->topics[i].topic;
    return rd_kafka_ConsumerGroupDescription_group_id(((const rd_kafka_ConsumerGroupDescription_t *const *)sort_base)[i]);
}

static int cmp_index(const void *a, const void *b)
{
    return strcmp(name_at(*(const size_t *)a), name_at(*(const size_t *)b));
}

static int no_memory(fk_inspect *j)
{
    fk_error_set(&j->job.err, "_NO_MEMORY", "%s: out of memory", j->what);
    return 0;
}

static int new_order(fk_inspect *j, size_t n)
{
    if (!(j->order = malloc((n ? n : 1) * sizeof *j->order))) return no_memory(j);
    j->order_count = n;
    return 1;
}

/* order: 0..n-1 sorted by the names of base (metadata topics, or group descriptions) */
static int sort_names(fk_inspect *j, size_t n, const void *base, int topics)
{
    size_t i;
    if (!new_order(j, n)) return 0;
    for (i = 0; i < n; i++) j->order[i] = i;
    pthread_mutex_lock(&sort_lock);
    sort_base = base;
    sort_topics = topics;
    qsort(j->order, n, sizeof *j->order, cmp_index);
    pthread_mutex_unlock(&sort_lock);
    return 1;
}

/* ---------------------------------------------------------------- topics ---- */

/* watched like the plans' (fk_admin_metadata): refused credentials fail it at once */
static int all_metadata(fk_inspect *j)
{
    rd_kafka_resp_err_t e = fk_admin_metadata(j->rk, &j->md, j->timeout_ms, j->what, &j->job.err);
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT) fk_error_set_rd(&j->job.err, e, "%s", j->what);
    return !e;
}

static int topic_index(const struct rd_kafka_metadata *md, const char *name)
{
    int i;
    for (i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0 && md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return i;
    return -1;
}

/* order: the metadata index of every topic asked for; fails naming one that does not exist */
static int find_topics(fk_inspect *j)
{
    size_t i;
    if (!new_order(j, j->names.count)) return 0;
    for (i = 0; i < j->names.count; i++) {
        int k = topic_index(j->md, j->names.items[i]);
        if (k < 0) {
            fk_error_set_rd(&j->job.err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "%s: topic '%.200s' does not exist",
                            j->what, j->names.items[i]);
            return 0;
        }
        j->order[i] = (size_t)k;
    }
    return 1;
}

static int describe_configs(fk_inspect *j)
{
    fk_admin_call c;
    rd_kafka_ConfigResource_t **req;
    const rd_kafka_ConfigResource_t **res;
    size_t i, k, n, count = j->names.count;
    if (!(req = calloc(count ? count : 1, sizeof *req)) || !(j->configs = calloc(count ? count : 1, sizeof *j->configs))) {
        free(req);
        return no_memory(j);
    }
    for (i = 0; i < count; i++) req[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, j->names.items[i]);
    fk_admin_call_begin(&c, j->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, j->timeout_ms);
    rd_kafka_DescribeConfigs(j->rk, req, count, c.options, c.queue);
    rd_kafka_ConfigResource_destroy_array(req, count);
    free(req);
    if (!(j->configs_ev = fk_admin_call_end(&c, j->what, &j->job.err))) return 0;
    res = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(j->configs_ev), &n);
    for (i = 0; i < n; i++) {
        const char *name = rd_kafka_ConfigResource_name(res[i]);
        if (rd_kafka_ConfigResource_error(res[i])) {
            fk_error_set_rd(&j->job.err, rd_kafka_ConfigResource_error(res[i]), "%s: configs of topic '%.200s'",
                            j->what, name);
            return 0;
        }
        for (k = 0; k < count; k++)
            if (strcmp(j->names.items[k], name) == 0) j->configs[k] = res[i];
    }
    return 1;
}

/* ---------------------------------------------------------------- groups ---- */

static const rd_kafka_error_t *group_error(const rd_kafka_ConsumerGroupDescription_t *d)
{
    const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(d);
    /* newer brokers and clients say so of a group that does not exist; older ones answer
       with a Dead group: the same thing, told the older way */
    return e && rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND ? e : NULL;
}

/* Describes the groups of j->names; with sorted, j->order sorts them by name, else it keeps
   the order asked. */
static int describe_groups(fk_inspect *j, int sorted)
{
    fk_admin_call c;
    size_t i, k, n;
    if (j->names.count == 0) return new_order(j, 0);
    fk_admin_call_begin(&c, j->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, j->timeout_ms);
    rd_kafka_DescribeConsumerGroups(j->rk, (const char **)j->names.items, j->names.count, c.options, c.queue);
    if (!(j->groups_ev = fk_admin_call_end(&c, j->what, &j->job.err))) return 0;
    j->groups = rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(j->groups_ev), &n);
    for (i = 0; i < n; i++) {
        const rd_kafka_error_t *e = group_error(j->groups[i]);
        if (e) {
            fk_error_set(&j->job.err, rd_kafka_error_name(e), "%s: consumer group '%.200s': %s", j->what,
                         rd_kafka_ConsumerGroupDescription_group_id(j->groups[i]), rd_kafka_error_string(e));
            j->job.err.rd_err = rd_kafka_error_code(e);
            return 0;
        }
    }
    if (sorted) return sort_names(j, n, j->groups, 0);
    if (!new_order(j, j->names.count)) return 0;
    for (k = 0; k < j->names.count; k++) {
        for (i = 0; i < n && strcmp(rd_kafka_ConsumerGroupDescription_group_id(j->groups[i]), j->names.items[k]) != 0; i++) {}
        if (i == n) {
            fk_error_set(&j->job.err, "_BAD_MSG", "%s: the broker did not describe consumer group '%.200s'", j->what,
                         j->names.items[k]);
            return 0;
        }
        j->order[k] = i;
    }
    return 1;
}

/* list_groups: the names from ListConsumerGroups, then described (for their members) */
static int list_groups(fk_inspect *j)
{
    fk_admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_ListConsumerGroups_result_t *res;
    const rd_kafka_ConsumerGroupListing_t **valid;
    const rd_kafka_error_t **errors;
    size_t n, ne, i;
    fk_admin_call_begin(&c, j->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, j->timeout_ms);
    rd_kafka_ListConsumerGroups(j->rk, c.options, c.queue);
    if (!(ev = fk_admin_call_end(&c, j->what, &j->job.err))) return 0;
    res = rd_kafka_event_ListConsumerGroups_result(ev);
    valid = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    errors = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
    if (ne > 0) {   /* a broker did not answer: a partial list would hide groups */
        fk_error_set(&j->job.err, rd_kafka_error_name(errors[0]), "%s: %s", j->what, rd_kafka_error_string(errors[0]));
        j->job.err.rd_err = rd_kafka_error_code(errors[0]);
        rd_kafka_event_destroy(ev);
        return 0;
    }
    for (i = 0; i < n; i++)
        if (!fk_strlist_push(&j->names, rd_kafka_ConsumerGroupListing_group_id(valid[i]))) {
            rd_kafka_event_destroy(ev);
            return no_memory(j);
        }
    rd_kafka_event_destroy(ev);
    return describe_groups(j, 1);
}

/* ---------------------------------------------------------------- lag ---- */

static int cmp_partition(const void *a, const void *b)
{
    const fk_partition *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int add_partition(fk_inspect *j, const char *topic, int32_t partition, int64_t committed)
{
    size_t i;
    for (i = 0; i < j->parts.count; i++)
        if (j->parts.items[i].partition == partition && strcmp(j->parts.items[i].topic, topic) == 0) return 1;
    return fk_partitions_add(&j->parts, topic, partition, committed) || no_memory(j);
}

static int committed_offsets(fk_inspect *j)
{
    fk_admin_call c;
    rd_kafka_event_t *ev;
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(j->names.items[0], NULL);
    const rd_kafka_group_result_t **groups;
    const rd_kafka_topic_partition_list_t *l;
    size_t n;
    int i, ok = 1;
    fk_admin_call_begin(&c, j->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, j->timeout_ms);
    rd_kafka_ListConsumerGroupOffsets(j->rk, &req, 1, c.options, c.queue);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    if (!(ev = fk_admin_call_end(&c, j->what, &j->job.err))) return 0;
    groups = rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    if (n > 0 && rd_kafka_group_result_error(groups[0])) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(groups[0]);
        fk_error_set(&j->job.err, rd_kafka_error_name(e), "%s: %s", j->what, rd_kafka_error_string(e));
        j->job.err.rd_err = rd_kafka_error_code(e);
        ok = 0;
    }
    l = ok && n > 0 ? rd_kafka_group_result_partitions(groups[0]) : NULL;
    for (i = 0; l && i < l->cnt && ok; i++)
        ok = add_partition(j, l->elems[i].topic, l->elems[i].partition,
                           l->elems[i].err || l->elems[i].offset < 0 ? RD_KAFKA_OFFSET_INVALID : l->elems[i].offset);
    rd_kafka_event_destroy(ev);
    return ok;
}

/* the members' partitions without a committed offset count too (their lag: all of it) */
static int assigned_partitions(fk_inspect *j)
{
    const rd_kafka_ConsumerGroupDescription_t *d = j->groups[j->order[0]];
    size_t m, n = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (m = 0; m < n; m++) {
        const rd_kafka_MemberAssignment_t *a =
            rd_kafka_MemberDescription_assignment(rd_kafka_ConsumerGroupDescription_member(d, m));
        const rd_kafka_topic_partition_list_t *l = a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
        int i;
        for (i = 0; l && i < l->cnt; i++)
            if (!add_partition(j, l->elems[i].topic, l->elems[i].partition, RD_KAFKA_OFFSET_INVALID)) return 0;
    }
    return 1;
}

static int group_lag(fk_inspect *j)
{
    const rd_kafka_ConsumerGroupDescription_t *d;
    if (!describe_groups(j, 0) || !committed_offsets(j) || !assigned_partitions(j)) return 0;
    d = j->groups[j->order[0]];
    if (j->parts.count == 0 && rd_kafka_ConsumerGroupDescription_state(d) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        fk_error_set_rd(&j->job.err, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND,
                        "%s: consumer group '%.200s' does not exist (no members, no committed offsets)", j->what,
                        j->names.items[0]);
        return 0;
    }
    qsort(j->parts.items, j->parts.count, sizeof *j->parts.items, cmp_partition);
    return fk_offsets_watermarks(j->rk, &j->parts, FK_WM_HIGH | FK_WM_LOW_UNCOMMITTED, j->timeout_ms, j->what,
                                 &j->job.err);
}

/* ---------------------------------------------------------------- offsets for times ---- */

static int offsets_for_times(fk_inspect *j)
{
    size_t i;
    int k;
    if (!all_metadata(j)) return 0;
    if ((k = topic_index(j->md, j->topic)) < 0) {
        fk_error_set_rd(&j->job.err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "%s: topic '%.200s' does not exist",
                        j->what, j->topic);
        return 0;
    }
    for (i = 0; i < j->parts.count; i++)
        if (j->parts.items[i].partition >= j->md->topics[k].partition_cnt) {
            fk_error_set_rd(&j->job.err, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, "%s: topic '%.200s' has no partition %d (it has %d)",
                            j->what, j->topic, (int)j->parts.items[i].partition, j->md->topics[k].partition_cnt);
            return 0;
        }
    return fk_offsets_for_times(j->rk, &j->parts, j->timeout_ms, j->what, &j->job.err);
}

/* ---------------------------------------------------------------- the job ---- */

static int blocking_answer(fk_inspect *j, rd_kafka_resp_err_t e)
{
    if (e) fk_error_set_rd(&j->job.err, e, "%s", j->what);
    return !e;
}

static int work(fk_inspect *j)
{
    switch (j->kind) {
    case FK_INSPECT_WATERMARKS:
        return blocking_answer(j, rd_kafka_query_watermark_offsets(j->rk, j->topic, j->partition, &j->low, &j->high,
                                                                   j->timeout_ms));
    case FK_INSPECT_TOPICS:
        return all_metadata(j) && sort_names(j, (size_t)j->md->topic_cnt, j->md, 1);
    case FK_INSPECT_GROUPS: return list_groups(j);
    case FK_INSPECT_DESCRIBE_TOPICS: return all_metadata(j) && find_topics(j) && describe_configs(j);
    case FK_INSPECT_DESCRIBE_GROUPS: return describe_groups(j, 0);
    case FK_INSPECT_GROUP_LAG: return group_lag(j);
    case FK_INSPECT_OFFSETS_FOR_TIMES: return offsets_for_times(j);
    }
    return 0;
}

static void run(fk_job *job)
{
    fk_inspect *j = (fk_inspect *)job;
    job->ok = work(j);
    fk_pool_admin_release(j->pool);
    j->rk = NULL;
}

static void destroy(fk_job *job)
{
    fk_inspect *j = (fk_inspect *)job;
    if (j->rk) fk_pool_admin_release(j->pool);   /* never started */
    if (j->md) rd_kafka_metadata_destroy(j->md);
    if (j->configs_ev) rd_kafka_event_destroy(j->configs_ev);
    if (j->groups_ev) rd_kafka_event_destroy(j->groups_ev);
    free(j->configs);
    free(j->order);
    free(j->topic);
    fk_strlist_clear(&j->names);
    fk_partitions_clear(&j->parts);
}

static const fk_job_ops inspect_ops = { FK_JOB_INSPECT, run, NULL, destroy };

static void describe_request(fk_inspect *j)
{
    const char *code = fk_pool_spec_of(j->pool)->code;
    switch (j->kind) {
    case FK_INSPECT_WATERMARKS:
        snprintf(j->what, sizeof j->what, "watermarks of '%.100s' partition %d (kafka pool '%.100s') failed",
                 j->topic ? j->topic : "", (int)j->partition, code);
        break;
    case FK_INSPECT_GROUP_LAG:
        snprintf(j->what, sizeof j->what, "group_lag of consumer group '%.100s' (kafka pool '%.100s') failed",
                 j->names.count ? j->names.items[0] : "", code);
        break;
    case FK_INSPECT_OFFSETS_FOR_TIMES:
        snprintf(j->what, sizeof j->what, "offsets_for_times of '%.100s' (kafka pool '%.100s') failed",
                 j->topic ? j->topic : "", code);
        break;
    default:
        snprintf(j->what, sizeof j->what, "%s of kafka pool '%.200s' failed", names[j->kind], code);
    }
}

/* A job of this kind, its arguments set by fill (NULL: none); started, or NULL with err. */
static fk_job *start(fk_pool *p, fk_inspect_kind kind, const char *topic, int (*fill)(fk_inspect *, const void *),
                     const void *arg, fk_error *err)
{
    fk_inspect *j = (fk_inspect *)fk_job_new(&inspect_ops, sizeof *j, names[kind], err);
    if (!j) return NULL;
    j->pool = p;
    j->kind = kind;
    j->timeout_ms = fk_connect_timeout_ms(fk_pool_spec_of(p));
    if ((topic && !(j->topic = fk_strdup(topic))) || (fill && !fill(j, arg))) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", names[kind]);
        fk_job_free(&j->job);
        return NULL;
    }
    describe_request(j);
    if (!(j->rk = fk_pool_admin_hold(p, err))) {
        fk_job_free(&j->job);
        return NULL;
    }
    return fk_job_start(&j->job, err);
}

static int fill_partition(fk_inspect *j, const void *arg)
{
    j->partition = *(const int32_t *)arg;
    return 1;
}

fk_job *fk_inspect_start(fk_pool *p, fk_inspect_kind kind, const char *topic, int32_t partition,
                         fk_error *err)
{
    if (kind > FK_INSPECT_GROUPS) {
        fk_error_set(err, "_INVALID_ARG", "%s: not started with fk_inspect_start", names[kind]);
        return NULL;
    }
    return start(p, kind, topic, fill_partition, &partition, err);
}

typedef struct name_list {
    const char *const *names;
    size_t n;
} name_list;

static int fill_names(fk_inspect *j, const void *arg)
{
    const name_list *l = arg;
    size_t i;
    for (i = 0; i < l->n; i++)
        if (!fk_strlist_push(&j->names, l->names[i])) return 0;
    return 1;
}

fk_job *fk_inspect_names_start(fk_pool *p, fk_inspect_kind kind, const char *const *names_, size_t n,
                               fk_error *err)
{
    name_list l;
    if (kind != FK_INSPECT_DESCRIBE_TOPICS && kind != FK_INSPECT_DESCRIBE_GROUPS && kind != FK_INSPECT_GROUP_LAG) {
        fk_error_set(err, "_INVALID_ARG", "%s: not started with fk_inspect_names_start", names[kind]);
        return NULL;
    }
    if (kind == FK_INSPECT_GROUP_LAG && n != 1) {
        fk_error_set(err, "_INVALID_ARG", "group_lag: exactly one consumer group");
        return NULL;
    }
    l.names = names_;
    l.n = n;
    return start(p, kind, NULL, fill_names, &l, err);
}

static int fill_times(fk_inspect *j, const void *arg)
{
    fk_partitions *times = (fk_partitions *)arg;
    j->parts = *times;
    memset(times, 0, sizeof *times);
    return 1;
}

fk_job *fk_inspect_times_start(fk_pool *p, const char *topic, fk_partitions *times, fk_error *err)
{
    return start(p, FK_INSPECT_OFFSETS_FOR_TIMES, topic, fill_times, times, err);
}

/* ---------------------------------------------------------------- answers ---- */

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

static const rd_kafka_metadata_topic_t *topic_at(const fk_job *job, size_t i)
{
    const fk_inspect *j = answer(job);
    return j && j->md && i < j->order_count ? &j->md->topics[j->order[i]] : NULL;
}

const char *fk_inspect_topic(const fk_job *job, size_t i, size_t *partitions, int *rd_err)
{
    const rd_kafka_metadata_topic_t *t = topic_at(job, i);
    if (!t) return NULL;
    *partitions = (size_t)t->partition_cnt;
    *rd_err = t->err;
    return t->topic;
}

int fk_inspect_partition(const fk_job *job, size_t i, size_t k, int32_t *id, int32_t *leader,
                         const int32_t **replicas, size_t *replica_count,
                         const int32_t **isrs, size_t *isr_count)
{
    const rd_kafka_metadata_topic_t *t = topic_at(job, i);
    const rd_kafka_metadata_partition_t *pt;
    if (!t || k >= (size_t)t->partition_cnt) return 0;
    pt = &t->partitions[k];
    *id = pt->id;
    *leader = pt->leader;
    *replicas = pt->replicas;
    *replica_count = (size_t)pt->replica_cnt;
    *isrs = pt->isrs;
    *isr_count = (size_t)pt->isr_cnt;
    return 1;
}

static const rd_kafka_ConfigEntry_t **configs_of(const fk_job *job, size_t i, size_t *n)
{
    const fk_inspect *j = answer(job);
    *n = 0;
    if (!j || !j->configs || i >= j->order_count || !j->configs[i]) return NULL;
    return rd_kafka_ConfigResource_configs(j->configs[i], n);
}

size_t fk_inspect_config_count(const fk_job *job, size_t i)
{
    size_t n;
    configs_of(job, i, &n);
    return n;
}

int fk_inspect_config(const fk_job *job, size_t i, size_t k, fk_config_entry *out)
{
    size_t n;
    const rd_kafka_ConfigEntry_t **entries = configs_of(job, i, &n);
    if (k >= n) return 0;
    out->name = rd_kafka_ConfigEntry_name(entries[k]);
    out->value = rd_kafka_ConfigEntry_value(entries[k]);
    out->source = rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(entries[k]));
    out->is_default = rd_kafka_ConfigEntry_is_default(entries[k]);
    out->is_sensitive = rd_kafka_ConfigEntry_is_sensitive(entries[k]);
    out->is_read_only = rd_kafka_ConfigEntry_is_read_only(entries[k]);
    return 1;
}

size_t fk_inspect_group_count(const fk_job *job)
{
    const fk_inspect *j = answer(job);
    return j && (j->kind == FK_INSPECT_GROUPS || j->kind == FK_INSPECT_DESCRIBE_GROUPS) ? j->order_count : 0;
}

static const rd_kafka_ConsumerGroupDescription_t *group_at(const fk_job *job, size_t i)
{
    const fk_inspect *j = answer(job);
    return i < fk_inspect_group_count(job) ? j->groups[j->order[i]] : NULL;
}

int fk_inspect_group_info(const fk_job *job, size_t i, fk_group_info *out)
{
    const rd_kafka_ConsumerGroupDescription_t *d = group_at(job, i);
    const rd_kafka_Node_t *node;
    const char *assignor;
    if (!d) return 0;
    node = rd_kafka_ConsumerGroupDescription_coordinator(d);
    assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    out->name = rd_kafka_ConsumerGroupDescription_group_id(d);
    out->state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d));
    out->protocol_type = rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) ? "" : "consumer";
    out->protocol = assignor ? assignor : "";
    out->type = fk_rd_group_type(d);
    out->coordinator_id = node ? rd_kafka_Node_id(node) : -1;
    out->coordinator_host = node ? rd_kafka_Node_host(node) : NULL;
    out->coordinator_port = node ? rd_kafka_Node_port(node) : 0;
    out->member_count = rd_kafka_ConsumerGroupDescription_member_count(d);
    return 1;
}

int fk_inspect_group(const fk_job *job, size_t i, const char **name, const char **state,
                     const char **protocol_type, size_t *members)
{
    fk_group_info g;
    if (!fk_inspect_group_info(job, i, &g)) return 0;
    *name = g.name;
    *state = g.state;
    *protocol_type = g.protocol_type;
    *members = g.member_count;
    return 1;
}

static const rd_kafka_topic_partition_list_t *assignment_of(const rd_kafka_MemberDescription_t *m)
{
    const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
    return a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
}

static const rd_kafka_MemberDescription_t *member_at(const fk_job *job, size_t i, size_t m)
{
    const rd_kafka_ConsumerGroupDescription_t *d = group_at(job, i);
    return d && m < rd_kafka_ConsumerGroupDescription_member_count(d) ? rd_kafka_ConsumerGroupDescription_member(d, m)
                                                                       : NULL;
}

int fk_inspect_member(const fk_job *job, size_t i, size_t m, fk_member_info *out)
{
    const rd_kafka_MemberDescription_t *md = member_at(job, i, m);
    const rd_kafka_topic_partition_list_t *l;
    if (!md) return 0;
    l = assignment_of(md);
    out->id = rd_kafka_MemberDescription_consumer_id(md);
    out->client_id = rd_kafka_MemberDescription_client_id(md);
    out->host = rd_kafka_MemberDescription_host(md);
    out->instance_id = rd_kafka_MemberDescription_group_instance_id(md);
    out->partition_count = l ? (size_t)l->cnt : 0;
    return 1;
}

int fk_inspect_member_partition(const fk_job *job, size_t i, size_t m, size_t k, const char **topic,
                                int32_t *partition)
{
    const rd_kafka_MemberDescription_t *md = member_at(job, i, m);
    const rd_kafka_topic_partition_list_t *l = md ? assignment_of(md) : NULL;
    if (!l || k >= (size_t)l->cnt) return 0;
    *topic = l->elems[k].topic;
    *partition = l->elems[k].partition;
    return 1;
}

int fk_inspect_take_partitions(fk_job *job, fk_partitions *out)
{
    fk_inspect *j = (fk_inspect *)answer(job);
    if (!j) return 0;
    *out = j->parts;
    memset(&j->parts, 0, sizeof j->parts);
    return 1;
}
