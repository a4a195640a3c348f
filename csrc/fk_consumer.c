/* Consumer groups: one librdkafka high-level consumer per fk_consumer. This file makes its
   client and follows its membership (rebalances); the other files of the consumer build on
   it (see fk_consumer.h). */
#include "fk_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rebalance_event {
    int assign;
    rd_kafka_topic_partition_list_t *parts;
} rebalance_event;

/* The assignment and heartbeat settings of each protocol. In KIP-848's consumer protocol the
   broker assigns partitions (always incrementally) and decides the session and heartbeats. */
static int group_protocol_conf(rd_kafka_conf_t *conf, const fk_group_spec *g, fk_error *err)
{
    int ok;
    if (g->group_protocol == FK_GROUP_PROTOCOL_CONSUMER) return fk_conf_set(conf, "group.protocol", "consumer", err);
    /* FluxaORM's Go services (franz-go, no balancer set) and Kafka's newer clients join with
       cooperative-sticky only: a group mixing them with librdkafka's default
       (range,roundrobin) never forms. Raw properties may choose another. */
    ok = fk_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err);
    if (ok && g->session_timeout_ms > 0) {
        ok = fk_conf_set_int(conf, "session.timeout.ms", g->session_timeout_ms, err);
        /* heartbeats must be well inside the session or the member is evicted */
        if (ok && g->session_timeout_ms < 9000)
            ok = fk_conf_set_int(conf, "heartbeat.interval.ms",
                         g->session_timeout_ms / 3 > 0 ? g->session_timeout_ms / 3 : 1, err);
    }
    return ok;
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
             fk_conf_set(conf, "enable.auto.commit", g->auto_commit_interval_ms > 0 ? "true" : "false", err) &&
             group_protocol_conf(conf, g, err);
    if (ok && g->auto_commit_interval_ms > 0)
        ok = fk_conf_set_int(conf, "auto.commit.interval.ms", g->auto_commit_interval_ms, err);
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
int fk_consumer_start_positions(fk_consumer *c, rd_kafka_topic_partition_list_t *parts, fk_error *err)
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
        if (fk_consumer_start_positions(c, starts, &err)) {
            for (i = 0; i < parts->cnt && i < starts->cnt; i++)
                if (starts->elems[i].offset != RD_KAFKA_OFFSET_STORED) parts->elems[i].offset = starts->elems[i].offset;
            rd_kafka_topic_partition_list_destroy(starts);
            return;
        }
    }
    rd_kafka_topic_partition_list_destroy(starts);
    fk_log_client(rk, 4, "STARTPOS", "%s; partitions without a committed offset start at their beginning", err.msg);
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
void fk_consumer_finish_lookup(fk_consumer *c, int wait)
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
        if (c->spec.start_timestamp_ms > 0) fk_consumer_finish_lookup(c, 1);
        if (c->spec.start_timestamp_ms > 0 && parts->cnt > 0) {
            if (c->lookups_on_thread && !c->closing && start_lookup(c, parts)) return;
            apply_start_timestamp(c, rk, parts);
        }
        assign_now(c, rk, parts);
        return;
    }
    fk_consumer_finish_lookup(c, 1);
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

void fk_consumer_partitions_from(fk_partitions *out, const rd_kafka_topic_partition_list_t *l)
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
    fk_consumer_partitions_from(parts, ev.parts);
    rd_kafka_topic_partition_list_destroy(ev.parts);
    return 1;
}

void fk_consumer_revoke_deferred(fk_consumer *c)
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
    if (c->defer_revoke && !c->closer.running) fk_consumer_revoke_deferred(c);   /* else the close thread does it */
}

void fk_consumer_forget_rebalances(fk_consumer *c)
{
    size_t i;
    for (i = 0; i < c->event_count; i++) rd_kafka_topic_partition_list_destroy(c->events[i].parts);
    free(c->events);
    c->events = NULL;
    c->event_count = c->event_cap = 0;
    fk_consumer_revoke_deferred(c);
    free(c->deferred);
    c->deferred = NULL;
    c->deferred_cap = 0;
}

/* 1 when no partition of l has an error; else 0, with the first one in err. */
int fk_consumer_partition_errors(const fk_consumer *c, const char *what,
                                 const rd_kafka_topic_partition_list_t *l, fk_error *err)
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

rd_kafka_topic_partition_list_t *fk_consumer_offset_list(const fk_partition_offset *list, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n ? (int)n : 1);
    size_t i;
    for (i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, list[i].topic, list[i].partition)->offset = list[i].offset;
    return l;
}

/* The client of a new consumer of group g (no broker contact yet). */
fk_consumer *fk_consumer_client(fk_pool *p, const fk_group_spec *g, fk_error *err)
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
    fk_consumer_destroy(c);   /* no client yet: nothing to close */
    return NULL;
}
/* Subscribes the group's client to the group's topics (opening, and rejoining in close). */
rd_kafka_resp_err_t fk_consumer_subscribe(fk_consumer *c)
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

const fk_group_spec *fk_consumer_spec(const fk_consumer *c) { return &c->spec; }
void *fk_consumer_rd_kafka(fk_consumer *c) { return c->rk; }
int fk_consumer_is_closed(const fk_consumer *c) { return c->rk == NULL || c->closing; }

void fk_consumer_destroy(fk_consumer *c)
{
    fk_offsets_client_clear(&c->offsets);   /* a group that never had a client */
    fk_group_spec_clear(&c->spec);
    fk_stats_clear(&c->stats);
    free(c->pool_code);
    free(c);
}

/* A job that reads c when polled (its close, a commit) lets go of it. */
void fk_consumer_release(fk_consumer *c)
{
    if (--c->job_refs == 0 && c->freed) fk_consumer_destroy(c);
}
