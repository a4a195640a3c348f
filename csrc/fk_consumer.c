/* Consumer groups: one librdkafka high-level consumer per fk_consumer, and the fetches it
   hands out. A consumer owns the messages of its live fetches, so that closing it can return
   them to librdkafka before the client is destroyed. */
#include "fk_internal.h"
#include "fk_async_sql.h"
#include "fk_offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fetch_error {
    char   *topic;
    int32_t partition;
    char   *msg;
    char    code[64];
} fetch_error;

struct fk_fetches {
    int                  released;  /* first member: read through FFI by lua/fluxakafka.lua */
    fk_consumer         *owner;     /* NULL once the consumer released the messages */
    fk_fetches          *prev, *next;
    rd_kafka_message_t **msgs;
    size_t               count, cap;
    fetch_error         *errors;
    size_t               error_count, error_cap;
};

struct fk_consumer {
    char         *pool_code;   /* first member: read by the log callback (rd_kafka_opaque) */
    int           auth_failed;
    char          auth_error[400];
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

typedef struct rebalance_event {
    int assign;
    rd_kafka_topic_partition_list_t *parts;
} rebalance_event;

static const fk_group_spec *find_group(const fk_registry *r, const char *pool, const char *name)
{
    size_t i;
    for (i = 0; i < r->group_count; i++)
        if (strcmp(r->groups[i].pool, pool) == 0 && strcmp(r->groups[i].name, name) == 0)
            return &r->groups[i];
    return NULL;
}

static int group_conf(rd_kafka_conf_t *conf, const fk_group_spec *g, fk_error *err)
{
    int ok = fk_conf_set(conf, "group.id", g->name, err) &&
             fk_conf_set(conf, "auto.offset.reset", g->start_latest && g->start_timestamp_ms <= 0 ? "latest" : "earliest", err) &&
             fk_conf_set(conf, "enable.partition.eof", "false", err) &&
             /* like the producer: consuming a topic that does not exist yet creates it
                (when the broker allows), instead of waiting for a metadata refresh */
             fk_conf_set(conf, "allow.auto.create.topics", "true", err) &&
             /* librdkafka 2.0.2 stops fetching for about a second once a partition's local
                queue holds queued.min.messages: with the default 100000 a consumer busy with
                small records idles most of that second. The byte limit
                (queued.max.messages.kbytes, 64 MiB per consumer) still bounds the memory. */
             fk_conf_set(conf, "queued.min.messages", "1000000", err) &&
             /* a group subscribed to a topic that does not exist yet only sees it at the
                next metadata refresh: 5 minutes by default, 5 s here */
             fk_conf_set(conf, "topic.metadata.refresh.interval.ms", "5000", err) &&
             /* FluxaORM's Go services (franz-go, no balancer set) and Kafka's newer clients
                join with cooperative-sticky only: a group mixing them with librdkafka's
                default (range,roundrobin) never forms. Raw properties may choose another. */
             fk_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err) &&
             fk_conf_set(conf, "enable.auto.commit", g->auto_commit_interval_ms > 0 ? "true" : "false", err);
    if (ok && g->auto_commit_interval_ms > 0)
        ok = fk_conf_set_int(conf, "auto.commit.interval.ms", g->auto_commit_interval_ms, err);
    if (ok && g->session_timeout_ms > 0) {
        ok = fk_conf_set_int(conf, "session.timeout.ms", g->session_timeout_ms, err);
        /* heartbeats must be well inside the session or the member is evicted */
        if (ok && g->session_timeout_ms < 9000)
            ok = fk_conf_set_int(conf, "heartbeat.interval.ms",
                         g->session_timeout_ms / 3 > 0 ? g->session_timeout_ms / 3 : 1, err);
    }
    /* librdkafka sends max.poll.interval.ms as the JoinGroup rebalance timeout */
    if (ok && g->rebalance_timeout_ms > 0)
        ok = fk_conf_set_int(conf, "max.poll.interval.ms", g->rebalance_timeout_ms, err);
    if (ok && g->statistics_interval_ms > 0)
        ok = fk_conf_set_int(conf, "statistics.interval.ms", g->statistics_interval_ms, err);
    if (ok && g->fetch_max_bytes > 0) {
        if (g->fetch_max_bytes > 100000000 - 512)
            ok = fk_conf_set_int(conf, "receive.message.max.bytes", (long long)g->fetch_max_bytes + 512, err);
        if (ok) ok = fk_conf_set_int(conf, "fetch.max.bytes", g->fetch_max_bytes, err);
    }
    return ok;
}

static int on_consumer_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    fk_stats_push(&((fk_consumer *)opaque)->stats, json, len);
    return 0;
}

char *fk_consumer_take_stats(fk_consumer *c) { return fk_stats_pop(&c->stats); }

static void on_consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    fk_consumer *c = opaque;
    (void)rk;
    if (!fk_note_refusal(err, reason, &c->auth_failed, c->auth_error, sizeof c->auth_error) &&
        (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE))
        snprintf(c->down_reason, sizeof c->down_reason, "%s", reason);
}

/* One bounded broker round trip, in short steps so that refused credentials end it at once
   instead of at the time-out. */
static rd_kafka_resp_err_t check_connection(fk_consumer *c, int timeout_ms)
{
    long long waited = 0;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_message_t *m;
        int step = timeout_ms - waited < 200 ? (int)(timeout_ms - waited) : 200;
        rd_kafka_resp_err_t e;
        if (fk_job_stopping(NULL)) return RD_KAFKA_RESP_ERR__DESTROY;   /* nobody waits for it */
        e = rd_kafka_metadata(c->rk, 0, NULL, &md, step > 0 ? step : 1);
        if (md) rd_kafka_metadata_destroy(md);
        if (!e) return e;
        /* serves the error callback (errors travel on the consumer queue once polled) */
        while ((m = rd_kafka_consumer_poll(c->rk, 0)) != NULL) rd_kafka_message_destroy(m);
        if (c->auth_failed) return (rd_kafka_resp_err_t)c->auth_failed;
        waited += step;
        if (waited >= timeout_ms) return e;
    }
}

static int usable(fk_consumer *c, fk_error *err);
static fk_consumer *consumer_client(fk_pool *p, const fk_group_spec *g, fk_error *err);

static int cooperative(rd_kafka_t *rk)
{
    const char *proto = rd_kafka_rebalance_protocol(rk);
    return proto && strcmp(proto, "COOPERATIVE") == 0;
}

static void revoke_now(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *e = NULL;
    if (cooperative(rk)) e = rd_kafka_incremental_unassign(rk, parts);
    else rd_kafka_assign(rk, NULL);
    if (e) rd_kafka_error_destroy(e);
}

/* Fills the offset of every partition of `parts` whose offset is RD_KAFKA_OFFSET_INVALID (no
   committed offset) with where the group starts: the first record at or after the start
   timestamp (the end when the partition has none), else the beginning or the end. Returns 0
   when the brokers could not say, leaving those offsets as they were. */
static int start_positions(fk_consumer *c, rd_kafka_topic_partition_list_t *parts, fk_error *err)
{
    rd_kafka_topic_partition_list_t *times;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    int i, j;
    if (c->spec.start_timestamp_ms <= 0) {
        for (i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset == RD_KAFKA_OFFSET_INVALID)
                parts->elems[i].offset = c->spec.start_latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        return 1;
    }
    times = rd_kafka_topic_partition_list_new(parts->cnt > 0 ? parts->cnt : 1);
    for (i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset == RD_KAFKA_OFFSET_INVALID)
            rd_kafka_topic_partition_list_add(times, parts->elems[i].topic, parts->elems[i].partition)->offset =
                c->spec.start_timestamp_ms;
    if (times->cnt) e = rd_kafka_offsets_for_times(c->rk, times, c->check_timeout_ms);
    for (i = 0; !e && i < times->cnt; i++) {
        if (times->elems[i].err) {
            e = times->elems[i].err;
            break;
        }
        if (times->elems[i].offset < 0) {
            /* no record that recent: the end as it is now, not when fetching starts (a record
               written in between would be skipped) */
            int64_t low, high;
            e = rd_kafka_query_watermark_offsets(c->rk, times->elems[i].topic, times->elems[i].partition,
                                                 &low, &high, c->check_timeout_ms);
            if (e) break;
            times->elems[i].offset = high;
        }
        for (j = 0; j < parts->cnt; j++)
            if (parts->elems[j].partition == times->elems[i].partition &&
                strcmp(parts->elems[j].topic, times->elems[i].topic) == 0)
                parts->elems[j].offset = times->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(times);
    if (e) {
        fk_error_set_rd(err, e, "kafka consumer group '%s': the offsets of start timestamp %lld could not be read",
                        c->spec.name, (long long)c->spec.start_timestamp_ms);
        return 0;
    }
    return 1;
}

/* start_offset(timestamp): librdkafka's auto.offset.reset knows only the ends of a partition,
   so the positions of newly assigned partitions without a committed offset are looked up
   here, before they are assigned. This asks the brokers twice (committed offsets, then
   offsets by time), bounded by connect_timeout each. When they cannot answer, the partitions
   start at their beginning (auto.offset.reset earliest): re-reading records rather than
   skipping any. */
static void apply_start_timestamp(fk_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *starts = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e;
    fk_error err;
    int i;
    for (i = 0; i < starts->cnt; i++) starts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    e = rd_kafka_committed(rk, starts, c->check_timeout_ms);
    if (e) {
        fk_error_set_rd(&err, e, "kafka consumer group '%s': committed offsets could not be read", c->spec.name);
    } else {
        /* a committed offset stays librdkafka's to use: only the others get a start */
        for (i = 0; i < starts->cnt; i++)
            if (starts->elems[i].offset >= 0) starts->elems[i].offset = RD_KAFKA_OFFSET_STORED;
        if (start_positions(c, starts, &err)) {
            for (i = 0; i < parts->cnt && i < starts->cnt; i++)
                if (starts->elems[i].offset != RD_KAFKA_OFFSET_STORED) parts->elems[i].offset = starts->elems[i].offset;
            rd_kafka_topic_partition_list_destroy(starts);
            return;
        }
    }
    rd_kafka_topic_partition_list_destroy(starts);
    fprintf(stderr, "fluxakafka: %s; partitions without a committed offset start at their beginning\n", err.msg);
}

/* Queues the event for fk_consumer_rebalance_next when the application asked for them;
   1 when queued. */
static int record_rebalance(fk_consumer *c, int assign, const rd_kafka_topic_partition_list_t *parts)
{
    rebalance_event *ev;
    if (!c->record_rebalances || c->closing ||
        !fk_grow((void **)&c->events, &c->event_cap, c->event_count, sizeof *c->events))
        return 0;
    ev = &c->events[c->event_count];
    if (!(ev->parts = rd_kafka_topic_partition_list_copy(parts))) return 0;
    ev->assign = assign;
    c->event_count++;
    return 1;
}

static void assign_now(fk_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *e = NULL;
    if (cooperative(rk)) e = rd_kafka_incremental_assign(rk, parts);
    else rd_kafka_assign(rk, parts);
    if (e) rd_kafka_error_destroy(e);
    c->group_error = 0;   /* the member is in the group again */
    record_rebalance(c, 1, parts);
}

static void lookup_main(void *arg)
{
    fk_consumer *c = arg;
    apply_start_timestamp(c, c->rk, c->lookup_parts);
}

/* 1 when the lookup for this assignment runs on a thread; 0: do it here */
static int start_lookup(fk_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    if (!(c->lookup_parts = rd_kafka_topic_partition_list_copy(parts))) return 0;
    if (!fk_thread_start(&c->lookup, lookup_main, c)) {
        rd_kafka_topic_partition_list_destroy(c->lookup_parts);
        c->lookup_parts = NULL;
        return 0;
    }
    return 1;
}

/* Makes the assignment whose lookup runs on a thread, once it ended, or at once with wait
   (waiting for the lookup: a revocation or the close must come after the assignment). */
static void finish_lookup(fk_consumer *c, int wait)
{
    if (!c->lookup.running || (!wait && !fk_thread_ended(&c->lookup))) return;
    fk_thread_join(&c->lookup);
    assign_now(c, c->rk, c->lookup_parts);
    rd_kafka_topic_partition_list_destroy(c->lookup_parts);
    c->lookup_parts = NULL;
}

/* Keeps a revocation for later; 0 when it cannot (out of memory): then it is done at once. */
static int defer_revocation(fk_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    if (!fk_grow((void **)&c->deferred, &c->deferred_cap, c->deferred_count, sizeof *c->deferred) ||
        !(c->deferred[c->deferred_count] = rd_kafka_topic_partition_list_copy(parts)))
        return 0;
    c->deferred_count++;
    return 1;
}

/* Served by rd_kafka_consumer_poll on the polling thread: assignments take effect at once
   (after the lookup of their start offsets, see lookups_on_thread). Revocations wait until
   the application is done with the records handed out before them: until on_revoke returned
   (defer_revoke, see rebalance.lua), else until the next poll (or the end of this one when it
   hands out no record). A partition revoked in the middle of a
   poll would be gone before the application commits the records that poll returned: their
   commit would be skipped, or, with explicit offsets, overwrite what the partition's next
   owner committed meanwhile. Under cooperative-sticky the group cannot move the partition
   before this member gave it up, so the commit made before the next poll is the one the next
   owner starts from. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    fk_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        c->ever_assigned = 1;
        /* a cooperative round that brings nothing new has nothing to look up */
        if (c->spec.start_timestamp_ms > 0) finish_lookup(c, 1);
        if (c->spec.start_timestamp_ms > 0 && parts->cnt > 0) {
            if (c->lookups_on_thread && !c->closing && start_lookup(c, parts)) return;
            apply_start_timestamp(c, rk, parts);
        }
        assign_now(c, rk, parts);
        return;
    }
    finish_lookup(c, 1);
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) record_rebalance(c, 0, parts);
    /* lost partitions (session or generation ended) wait too: while they are still assigned,
       a commit of what was handed out from them fails with _ASSIGNMENT_LOST; given up, a
       commit of the assignment would leave them out and succeed */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !c->closing && defer_revocation(c, parts)) return;
    revoke_now(rk, parts);
}

void fk_consumer_rebalance_events(fk_consumer *c, int record, int defer_revoke)
{
    c->record_rebalances = record;
    c->defer_revoke = record && defer_revoke;
}

static void partitions_from(fk_partitions *out, const rd_kafka_topic_partition_list_t *l)
{
    int i;
    for (i = 0; l && i < l->cnt; i++)
        fk_partitions_add(out, l->elems[i].topic, l->elems[i].partition, l->elems[i].offset);
}

int fk_consumer_rebalance_next(fk_consumer *c, int *assign, fk_partitions *parts)
{
    rebalance_event ev;
    if (!c->event_count || c->closer.running) return 0;
    ev = c->events[0];
    memmove(c->events, c->events + 1, (c->event_count - 1) * sizeof *c->events);
    c->event_count--;
    *assign = ev.assign;
    partitions_from(parts, ev.parts);
    rd_kafka_topic_partition_list_destroy(ev.parts);
    return 1;
}

static void revoke_deferred(fk_consumer *c)
{
    size_t i;
    for (i = 0; i < c->deferred_count; i++) {
        if (c->rk) revoke_now(c->rk, c->deferred[i]);
        rd_kafka_topic_partition_list_destroy(c->deferred[i]);
    }
    c->deferred_count = 0;
}

/* on_revoke returned: its revocations take effect (rebalance.lua) */
void fk_consumer_rebalance_done(fk_consumer *c)
{
    if (c->defer_revoke && !c->closer.running) revoke_deferred(c);   /* else the close thread does it */
}

static void forget_rebalances(fk_consumer *c)
{
    size_t i;
    for (i = 0; i < c->event_count; i++) rd_kafka_topic_partition_list_destroy(c->events[i].parts);
    free(c->events);
    c->events = NULL;
    c->event_count = c->event_cap = 0;
    revoke_deferred(c);
    free(c->deferred);
    c->deferred = NULL;
    c->deferred_cap = 0;
}

/* ---- control: assignment, seek, pause, committed offsets, lag ---- */

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
    if (!usable(c, err)) return 0;
    if ((e = rd_kafka_assignment(c->rk, &l)) != 0) {
        fk_error_set_rd(err, e, "assignment of kafka consumer group '%s' failed", c->spec.name);
        return 0;
    }
    partitions_from(out, l);
    rd_kafka_topic_partition_list_destroy(l);
    return 1;
}

int fk_consumer_seek(fk_consumer *c, const char *topic, int32_t partition, int64_t offset,
                     fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_error_t *e;
    rd_kafka_resp_err_t pe;
    if (!usable(c, err)) return 0;
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

/* 1 when no partition of l has an error; else 0, with the first one in err. */
static int partition_errors(const fk_consumer *c, const char *what, const rd_kafka_topic_partition_list_t *l,
                            fk_error *err)
{
    int i;
    for (i = 0; i < l->cnt; i++)
        if (l->elems[i].err) {
            fk_error_set_rd(err, l->elems[i].err, "%s of kafka consumer group '%s' failed for '%s' [%d]",
                            what, c->spec.name, l->elems[i].topic, (int)l->elems[i].partition);
            return 0;
        }
    return 1;
}

int fk_consumer_pause(fk_consumer *c, const fk_partitions *parts, int pause, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    int ok;
    if (!usable(c, err)) return 0;
    l = to_rd_list(parts);
    e = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (e) fk_error_set_rd(err, e, "%s of kafka consumer group '%s' failed", pause ? "pause" : "resume", c->spec.name);
    ok = !e && partition_errors(c, pause ? "pause" : "resume", l, err);
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

int fk_consumer_committed(fk_consumer *c, fk_partitions *parts, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    size_t i;
    if (!usable(c, err)) return 0;
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
    return usable(c, err) && fk_offsets_client_get(&c->offsets, "lag", err) && lag_of(c, out, err);
}

/* ---- transactions (fk_pool_send_offsets_to_transaction, fk_pool_abort_transaction) ---- */

rd_kafka_topic_partition_list_t *fk_consumer_positions(fk_consumer *c,
                                                       rd_kafka_consumer_group_metadata_t **metadata,
                                                       fk_error *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t e;
    if (!usable(c, err)) return NULL;
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

int fk_consumer_rewind(fk_consumer *c, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t e;
    rd_kafka_error_t *se;
    int i, ok;
    if (!usable(c, err)) return 0;
    if ((e = rd_kafka_assignment(c->rk, &l)) == 0) {
        for (i = 0; i < l->cnt; i++) l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        e = rd_kafka_committed(c->rk, l, c->check_timeout_ms);
    }
    if (e) {
        if (l) rd_kafka_topic_partition_list_destroy(l);
        fk_error_set_rd(err, e, "kafka consumer group '%s' could not go back to its committed offsets", c->spec.name);
        return 0;
    }
    ok = partition_errors(c, "rewind", l, err) && start_positions(c, l, err);
    if (ok && l->cnt && (se = rd_kafka_seek_partitions(c->rk, l, c->check_timeout_ms)) != NULL) {
        fk_error_set_rd(err, rd_kafka_error_code(se), "kafka consumer group '%s' could not go back to its committed offsets",
                        c->spec.name);
        rd_kafka_error_destroy(se);
        ok = 0;
    }
    ok = ok && partition_errors(c, "rewind", l, err);
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
    if (!usable(c, err)) return NULL;
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

/* Makes the client of a new consumer of a registered group (no broker contact yet). */
static fk_consumer *consumer_create(fk_pool *p, const char *group_name, fk_error *err)
{
    const fk_pool_spec *ps = fk_pool_spec_of(p);
    const fk_registry *r = fk_engine_registry(fk_pool_engine(p));
    const fk_group_spec *g = find_group(r, ps->code, group_name);
    fk_group_spec async_group;
    fk_consumer *c;

    if (g) return consumer_client(p, g, err);
    /* register_async_flush implies FluxaORM's consumer group on its pool */
    if (r->async_flush_pool && strcmp(r->async_flush_pool, ps->code) == 0 &&
        strcmp(group_name, FK_ASYNC_SQL_CONSUMER_GROUP_NAME) == 0) {
        if (!fk_async_sql_group_spec(&async_group, ps->code, NULL, NULL)) {
            fk_error_set(err, "_NO_MEMORY", "consumer_group: out of memory");
            return NULL;
        }
        c = consumer_client(p, &async_group, err);
        fk_group_spec_clear(&async_group);
        return c;
    }
    fk_error_set(err, "_UNKNOWN_GROUP", "kafka consumer group '%s' is not registered in pool '%s'",
                 group_name, ps->code);
    return NULL;
}

/* The client of a new consumer of group g (no broker contact yet). */
static fk_consumer *consumer_client(fk_pool *p, const fk_group_spec *g, fk_error *err)
{
    const fk_pool_spec *ps = fk_pool_spec_of(p);
    const char *group_name = g->name;
    rd_kafka_conf_t *conf;
    fk_consumer *c;
    char errstr[512];

    if (!(c = calloc(1, sizeof *c)) || !fk_group_spec_copy(&c->spec, g) ||
        !(c->pool_code = fk_strdup(ps->code))) {
        if (c) fk_group_spec_clear(&c->spec);
        free(c);
        fk_error_set(err, "_NO_MEMORY", "consumer_group: out of memory");
        return NULL;
    }
    c->check_timeout_ms = fk_connect_timeout_ms(ps);
    fk_brokers_text(ps, c->brokers_text, sizeof c->brokers_text);
    if (!fk_offsets_client_init(&c->offsets, ps, &g->rdkafka, c, err) || !(conf = fk_pool_conf_new(ps, err)))
        goto fail;
    /* raw properties: the pool's consumer and global ones, then the group's own */
    if (!group_conf(conf, g, err) || !fk_rdkafka_apply(conf, &ps->options.rdkafka, "C*", err) ||
        !fk_rdkafka_apply(conf, &g->rdkafka, "C*", err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_error_cb(conf, on_consumer_error);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    if (g->statistics_interval_ms > 0) rd_kafka_conf_set_stats_cb(conf, on_consumer_stats);
    rd_kafka_conf_set_opaque(conf, c);
    if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf);
        fk_error_set(err, "_INVALID_ARG", "kafka consumer group '%s': cannot create client: %s",
                     group_name, errstr);
        goto fail;
    }
    c->rk_pid = fk_process_id();
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    return c;
fail:
    fk_consumer_free(c);
    return NULL;
}
/* Subscribes the group's client to the group's topics (opening, and rejoining in close). */
static rd_kafka_resp_err_t subscribe(fk_consumer *c)
{
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)c->spec.topics.count);
    rd_kafka_resp_err_t e;
    size_t i;
    for (i = 0; i < c->spec.topics.count; i++)
        rd_kafka_topic_partition_list_add(subs, c->spec.topics.items[i], RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    return e;
}

/* After the connection check: explains its failure, or subscribes. */
static int consumer_start(fk_consumer *c, rd_kafka_resp_err_t e, fk_error *err)
{
    if (e && e == (rd_kafka_resp_err_t)c->auth_failed) {
        fk_error_set_rd(err, e, "kafka consumer group '%s' of pool '%s' was refused by the brokers",
                        c->spec.name, c->pool_code);
        fk_error_append(err, " (%s)", c->auth_error);
        return 0;
    }
    if (e) {
        fk_error_set_rd(err, e, "kafka consumer group '%s' of pool '%s': brokers %s could not be reached within %d s (connect_timeout)",
                        c->spec.name, c->pool_code, c->brokers_text, (c->check_timeout_ms + 999) / 1000);
        if (c->down_reason[0]) fk_error_append(err, " (%s)", c->down_reason);
        return 0;
    }
    e = subscribe(c);
    if (e) {
        fk_error_set_rd(err, e, "kafka consumer group '%s' cannot subscribe", c->spec.name);
        return 0;
    }
    return 1;
}

/* A broker round trip now, so that a wrong address or credentials fail here and not
   silently inside every later poll; then the subscription. */
static fk_consumer *checked(fk_consumer *c, fk_error *err)
{
    if (c && !consumer_start(c, check_connection(c, c->check_timeout_ms), err)) {
        fk_consumer_free(c);
        return NULL;
    }
    return c;
}

fk_consumer *fk_consumer_new(fk_pool *p, const char *group_name, fk_error *err)
{
    return checked(consumer_create(p, group_name, err), err);
}

fk_consumer *fk_consumer_open(fk_pool *p, const fk_group_spec *g, fk_error *err)
{
    return checked(consumer_client(p, g, err), err);
}

/* ---- opening as a job: the connection check and the subscription on its thread ---- */

typedef struct open_job {
    fk_job       job;
    fk_consumer *c;   /* the caller's once taken */
} open_job;

static void open_run(fk_job *job)
{
    fk_consumer *c = ((open_job *)job)->c;
    job->ok = consumer_start(c, check_connection(c, c->check_timeout_ms), &job->err);
}

static void open_destroy(fk_job *job) { fk_consumer_free(((open_job *)job)->c); }

static const fk_job_ops open_ops = { FK_JOB_CONSUMER_OPEN, open_run, NULL, open_destroy };

static fk_job *open_job_start(fk_consumer *c, int never_blocks, fk_error *err)
{
    open_job *o;
    if (!c) return NULL;
    if (!(o = (open_job *)fk_job_new(&open_ops, sizeof *o, "consumer_group", err))) {
        fk_consumer_free(c);
        return NULL;
    }
    o->c = c;
    c->lookups_on_thread = never_blocks;
    return fk_job_start(&o->job, err);
}

fk_job *fk_consumer_new_start(fk_pool *p, const char *group_name, int never_blocks, fk_error *err)
{
    return open_job_start(consumer_create(p, group_name, err), never_blocks, err);
}

fk_job *fk_consumer_open_start(fk_pool *p, const fk_group_spec *g, int never_blocks, fk_error *err)
{
    return open_job_start(consumer_client(p, g, err), never_blocks, err);
}

fk_consumer *fk_job_take_consumer(fk_job *job)
{
    open_job *o = (open_job *)job;
    fk_consumer *c;
    if (job->ops != &open_ops || !job->ended || !job->ok) return NULL;
    c = o->c;
    o->c = NULL;
    return c;
}

const fk_group_spec *fk_consumer_spec(const fk_consumer *c) { return &c->spec; }
void *fk_consumer_rd_kafka(fk_consumer *c) { return c->rk; }
int fk_consumer_is_closed(const fk_consumer *c) { return c->rk == NULL || c->closing; }

static int usable(fk_consumer *c, fk_error *err)
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

static int add_error(fk_fetches *f, const rd_kafka_message_t *m)
{
    fetch_error *fe;
    const char *msg = m->payload ? (const char *)m->payload : rd_kafka_err2str(m->err);
    if (!fk_grow((void **)&f->errors, &f->error_cap, f->error_count, sizeof *f->errors)) return 0;
    fe = &f->errors[f->error_count];
    fe->topic = fk_strdup(m->rkt ? rd_kafka_topic_name(m->rkt) : "");
    fe->partition = m->partition;
    /* the payload of an error event is its message, not NUL-terminated */
    if (m->payload) {
        fe->msg = malloc(m->len + 1);
        if (fe->msg) {
            memcpy(fe->msg, msg, m->len);
            fe->msg[m->len] = '\0';
        }
    } else {
        fe->msg = fk_strdup(msg);
    }
    snprintf(fe->code, sizeof fe->code, "%s", rd_kafka_err2name(m->err));
    if (!fe->topic || !fe->msg) {
        free(fe->topic);
        free(fe->msg);
        return 0;
    }
    f->error_count++;
    return 1;
}

static int add_message(fk_fetches *f, rd_kafka_message_t *m)
{
    if (m->err) {
        int ok = add_error(f, m);
        rd_kafka_message_destroy(m);
        return ok;
    }
    if (!fk_grow((void **)&f->msgs, &f->cap, f->count, sizeof *f->msgs)) {
        rd_kafka_message_destroy(m);
        return 0;
    }
    f->msgs[f->count++] = m;
    return 1;
}

/* The broker's reasons to keep a member out of the group: they hold until it joins. */
static int refused_membership(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL || e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
           e == RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT || e == RD_KAFKA_RESP_ERR_GROUP_MAX_SIZE_REACHED ||
           e == RD_KAFKA_RESP_ERR_INVALID_GROUP_ID || e == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION;
}

/* An error event without a topic is about the group, not a partition: librdkafka posts one
   when it gives up on a request it does not retry (JoinGroup refused with
   INCONSISTENT_GROUP_PROTOCOL, GROUP_AUTHORIZATION_FAILED, ...; FindCoordinator refused;
   the committed offsets of the assignment unreadable; the poll interval exceeded; a fatal
   error). It is kept for fk_consumer_poll to return instead of an empty result: a refused
   membership until the member joins, anything else once. */
static int take_group_error(fk_consumer *c, rd_kafka_message_t *m)
{
    if (!m->err || m->rkt) return 0;
    c->group_error = m->err;
    c->group_error_once = !refused_membership(m->err);
    snprintf(c->group_error_msg, sizeof c->group_error_msg, "%.*s",
             m->payload ? (int)(m->len < 299 ? m->len : 299) : 299,
             m->payload ? (const char *)m->payload : rd_kafka_err2str(m->err));
    rd_kafka_message_destroy(m);
    return 1;
}

static int take_message(fk_consumer *c, fk_fetches *f, rd_kafka_message_t *m)
{
    return take_group_error(c, m) || add_message(f, m);
}

/* The reason a poll with no record to hand out fails: refused credentials, a fatal error, or
   the group's own last error (see take_group_error); 0 when there is none. */
static int poll_failure(fk_consumer *c, fk_error *err)
{
    char fatal[256];
    rd_kafka_resp_err_t e;
    if (c->auth_failed) {
        fk_error_set_rd(err, c->auth_failed, "poll of kafka consumer group '%s' failed", c->spec.name);
        fk_error_append(err, " (%s)", c->auth_error);
        c->auth_failed = 0;
        return 1;
    }
    if ((e = rd_kafka_fatal_error(c->rk, fatal, sizeof fatal)) != 0) {
        fk_error_set(err, rd_kafka_err2name(e), "kafka consumer group '%s' failed for good: %s", c->spec.name, fatal);
        err->rd_err = e;
        return 1;
    }
    if (!c->group_error) return 0;
    /* librdkafka's text already says what the code means */
    fk_error_set(err, rd_kafka_err2name(c->group_error), "kafka consumer group '%s' cannot consume: %s",
                 c->spec.name, c->group_error_msg);
    err->rd_err = c->group_error;
    if (c->group_error == RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL)
        fk_error_append(err, " (its members use other partition.assignment.strategy values: "
                        "fluxakafka's default is cooperative-sticky)");
    if (c->group_error_once) c->group_error = 0;
    return 1;
}

fk_fetches *fk_consumer_poll(fk_consumer *c, int timeout_ms, size_t max_records, fk_error *err)
{
    fk_fetches *f;
    rd_kafka_message_t *m;
    int ok = 1;

    if (!usable(c, err)) return NULL;
    if (!(f = calloc(1, sizeof *f))) {
        fk_error_set(err, "_NO_MEMORY", "poll_fetches: out of memory");
        return NULL;
    }
    finish_lookup(c, 0);
    /* the application is done with what earlier polls handed out */
    if (!c->defer_revoke) revoke_deferred(c);
    if (max_records == 0) max_records = 10000;
    m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (m) {
        ok = take_message(c, f, m);
        /* the rest of what is ready, in one call instead of one queue round trip each */
        while (f->count + f->error_count < max_records) {
            rd_kafka_message_t *batch[256];
            size_t want = max_records - f->count - f->error_count, i;
            ssize_t n = rd_kafka_consume_batch_queue(c->queue, 0, batch, want < 256 ? want : 256);
            if (n <= 0) break;
            for (i = 0; i < (size_t)n; i++) ok = take_message(c, f, batch[i]) && ok;
        }
    }
    if (!c->defer_revoke && f->count == 0) revoke_deferred(c);
    /* records are never dropped to say so: the next poll without any does */
    if (f->count == 0 && poll_failure(c, err)) {
        fk_fetches_free(f);
        return NULL;
    }
    f->owner = c;
    f->next = c->live;
    if (c->live) c->live->prev = f;
    c->live = f;
    if (!ok) {
        /* a message handed out by librdkafka could not be kept: its offset was stored, so say
           so instead of letting the record vanish */
        fk_error_set(err, "_NO_MEMORY", "poll_fetches: out of memory; records of this poll may be lost");
        fk_fetches_free(f);
        return NULL;
    }
    return f;
}

static rd_kafka_topic_partition_list_t *offset_list(const fk_partition_offset *list, size_t n);

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
    q->job.ok = !e && (!l || partition_errors(c, "commit", l, &q->job.err));
}

static int commit_poll(fk_job *job, int timeout_ms)
{
    commit_job *q = (commit_job *)job;
    fk_consumer *c = q->c;
    int waited = 0;
    while (q->waiting) {
        rd_kafka_event_t *ev;
        int step = timeout_ms < 0 || timeout_ms - waited > 100 ? 100 : timeout_ms - waited;
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
        if (timeout_ms >= 0 && waited >= timeout_ms) return 0;
    }
    return 1;
}

static void consumer_release(fk_consumer *c);

static void commit_destroy(fk_job *job)
{
    commit_job *q = (commit_job *)job;
    if (q->waiting) commit_forget(q);
    consumer_release(q->c);
}

static const fk_job_ops commit_ops = { FK_JOB_COMMIT, NULL, commit_poll, commit_destroy };

fk_job *fk_consumer_commit_start(fk_consumer *c, const fk_partition_offset *list, size_t n, fk_error *err)
{
    rd_kafka_topic_partition_list_t *offsets = list ? offset_list(list, n) : NULL;
    rd_kafka_resp_err_t e;
    commit_job *q = NULL;
    if (!usable(c, err) || (list && !owns_all(c, list, n, err))) goto fail;
    if (!c->commit_queue && !(c->commit_queue = rd_kafka_queue_new(c->rk))) {
        fk_error_set(err, "_NO_MEMORY", "commit of kafka consumer group '%s': out of memory", c->spec.name);
        goto fail;
    }
    if (!(q = (commit_job *)fk_job_new(&commit_ops, sizeof *q, "commit", err))) goto fail;
    q->c = c;
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

static rd_kafka_topic_partition_list_t *offset_list(const fk_partition_offset *list, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n ? (int)n : 1);
    size_t i;
    for (i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, list[i].topic, list[i].partition)->offset = list[i].offset;
    return l;
}

/* The blocking commits: a commit job waited for here. */
static int commit_and_wait(fk_consumer *c, const fk_partition_offset *list, size_t n, fk_error *err)
{
    fk_job *j = fk_consumer_commit_start(c, list, n, err);
    int ok = j && fk_job_wait(j, -1) && fk_job_error(j, err);
    fk_job_free(j);
    return ok;
}

int fk_consumer_commit(fk_consumer *c, fk_error *err) { return commit_and_wait(c, NULL, 0, err); }

int fk_consumer_commit_offsets(fk_consumer *c, const fk_partition_offset *list, size_t n, fk_error *err)
{
    return commit_and_wait(c, list, n, err);
}

int fk_consumer_seek_offsets(fk_consumer *c, const fk_partition_offset *list, size_t n, int timeout_ms, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_error_t *e;
    int failed = 0;
    if (!usable(c, err)) return 0;
    if (n == 0) return 1;
    l = offset_list(list, n);
    if ((e = rd_kafka_seek_partitions(c->rk, l, timeout_ms)) != NULL) {
        fk_error_set_rd(err, rd_kafka_error_code(e), "seek of kafka consumer group '%s' failed", c->spec.name);
        rd_kafka_error_destroy(e);
        failed = 1;
    } else {
        failed = !partition_errors(c, "seek", l, err);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return !failed;
}

static void release_messages(fk_fetches *f)
{
    size_t i;
    for (i = 0; i < f->count; i++) rd_kafka_message_destroy(f->msgs[i]);
    free(f->msgs);
    f->msgs = NULL;
    f->count = f->cap = 0;
}

/* The first part of closing, on the calling thread: fetches still alive become empty and
   the group counts as closed from here on (usable() refuses it). */
static void close_begin(fk_consumer *c)
{
    fk_fetches *f, *next;
    for (f = c->live; f; f = next) {
        next = f->next;
        release_messages(f);
        f->released = 1;
        f->owner = NULL;
        f->prev = f->next = NULL;
    }
    c->live = NULL;
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
    while (__atomic_load_n(&c->request_users, __ATOMIC_ACQUIRE) > 0) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    fk_offsets_client_clear(&c->offsets);
    if (c->rk_pid != fk_process_id()) return;   /* inherited through fork: not ours to close */
    finish_lookup(c, 1);
    revoke_deferred(c);   /* leaving: deferred revocations happen now */
    destroy = safe_to_destroy(c);
    if (destroy && rd_kafka_version() < 0x02030000 && !c->ever_assigned) {
        /* A JoinGroup answer may still be on its way: once unsubscribed the group takes
           none (its join state is back to the start), so the protocol read now is final.
           One that arrived just before joins again, to get the first assignment. */
        rd_kafka_unsubscribe(c->rk);
        if (sticky_state_missing(c)) destroy = subscribe(c) == RD_KAFKA_RESP_ERR_NO_ERROR && safe_to_destroy(c);
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
    forget_rebalances(c);
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

static void consumer_destroy(fk_consumer *c)
{
    fk_offsets_client_clear(&c->offsets);   /* a group that never had a client */
    fk_group_spec_clear(&c->spec);
    fk_stats_clear(&c->stats);
    free(c->pool_code);
    free(c);
}

/* A job that reads c when polled (its close, a commit) lets go of it. */
static void consumer_release(fk_consumer *c)
{
    if (--c->job_refs == 0 && c->freed) consumer_destroy(c);
}

static void close_destroy(fk_job *job) { consumer_release(((close_job *)job)->c); }

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
    else consumer_destroy(c);
}

size_t fk_fetches_count(const fk_fetches *f) { return f->count; }
int fk_fetches_released(const fk_fetches *f) { return f->released; }

void *const *fk_fetches_messages(const fk_fetches *f, const int **released_flag)
{
    *released_flag = &f->released;
    return (void *const *)f->msgs;
}

/* Why not always rd_kafka_message_headers: librdkafka (1.x, 2.x) answers it by wrapping the
   message's header block in a newly allocated buffer every time, even when the block says
   "no headers" and even for a message already asked; for 100-byte records that was most of
   the CPU a consumer spends per record (bench/RESULTS.md).
   In the v2 record format the header count directly follows the value, and librdkafka hands
   the value out in place, inside the record. So when the value is there, the bytes just
   before it are the varint of its length (which proves v2: v0/v1 put a 4-byte big-endian
   length there, which never reads as that varint for lengths 1 to 2^27-1), and the byte just
   after it is a zero varint, the record has no headers. Anything else takes the public call:
   among them null values (length -1 on the wire; librdkafka hands out no pointer, so there
   are no bytes to look around) and empty ones (pointed at a constant string, not the record).
   Only for the librdkafka majors whose reader was checked to work this way. */
int fk_message_has_no_headers(const void *message)
{
    static int layout_known = -1;
    const rd_kafka_message_t *m = message;
    const unsigned char *value = m->payload;
    unsigned char varint[4];
    uint32_t zigzag;
    size_t n = 0, i;
    int known = __atomic_load_n(&layout_known, __ATOMIC_RELAXED);
    if (known < 0) {
        int v = rd_kafka_version();
        known = v >= 0x01000000 && v < 0x03000000;
        __atomic_store_n(&layout_known, known, __ATOMIC_RELAXED);
    }
    if (!known || m->err || !value || m->len == 0 || m->len >= (1u << 27)) return 0;
    zigzag = (uint32_t)m->len << 1;
    do {
        varint[n++] = (unsigned char)((zigzag & 0x7f) | (zigzag > 0x7f ? 0x80 : 0));
        zigzag >>= 7;
    } while (zigzag);
    for (i = 0; i < n; i++)
        if (value[(ptrdiff_t)i - (ptrdiff_t)n] != varint[i]) return 0;
    return value[m->len] == 0;
}

int fk_fetches_record(const fk_fetches *f, size_t i, fk_record_view *out)
{
    const rd_kafka_message_t *m;
    rd_kafka_headers_t *hdrs = NULL;
    if (i >= f->count) return 0;
    m = f->msgs[i];
    out->topic = rd_kafka_topic_name(m->rkt);
    out->key = m->key;
    out->key_len = m->key_len;
    out->value = m->payload;
    out->value_len = m->len;
    out->partition = m->partition;
    out->offset = m->offset;
    out->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    out->header_count = 0;
    if (!fk_message_has_no_headers(m) && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        out->header_count = rd_kafka_header_cnt(hdrs);
    return 1;
}

int fk_fetches_header(const fk_fetches *f, size_t i, size_t h, const char **key, size_t *key_len,
                      const void **value, size_t *value_len)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (i >= f->count) return 0;
    if (rd_kafka_message_headers(f->msgs[i], &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return 0;
    if (rd_kafka_header_get_all(hdrs, h, key, value, value_len) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    *key_len = fk_header_key_len(*key, *value, *value_len);
    return 1;
}

size_t fk_fetches_error_count(const fk_fetches *f) { return f->error_count; }

int fk_fetches_error(const fk_fetches *f, size_t i, const char **topic, int32_t *partition,
                     const char **msg, const char **code)
{
    if (i >= f->error_count) return 0;
    *topic = f->errors[i].topic;
    *partition = f->errors[i].partition;
    *msg = f->errors[i].msg;
    *code = f->errors[i].code;
    return 1;
}

void fk_fetches_free(fk_fetches *f)
{
    size_t i;
    if (!f) return;
    if (f->owner) {
        if (f->prev) f->prev->next = f->next;
        else f->owner->live = f->next;
        if (f->next) f->next->prev = f->prev;
    }
    release_messages(f);
    for (i = 0; i < f->error_count; i++) {
        free(f->errors[i].topic);
        free(f->errors[i].msg);
    }
    free(f->errors);
    free(f);
}
