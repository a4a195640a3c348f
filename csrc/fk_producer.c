/* A pool's producers: one created lazily in the process that uses it (a second one, without
   linger, for produce_sync when the pool lingers), its records, their deliveries queued for
   the caller to serve on its own thread, batches (produce_sync) and transactions. */
#include "fk_pool.h"
#include "fk_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One record of a batch: its librdkafka opaque (pointer-aligned, so the low tag bit that
   marks token deliveries stays 0) and what its delivery reported. */
typedef struct batch_slot {
    fk_batch   *batch;
    fk_delivery result;
} batch_slot;

struct fk_batch {
    fk_pool   *pool;
    long long  deadline_ms;   /* produce_sync's bound: start + the pool's delivery timeout */
    size_t     total;
    size_t     pending;
    size_t     failed;
    int        first_err;
    char       first_topic[256];
    int        released;
    size_t     count;         /* records handed to librdkafka so far */
    batch_slot slots[];
};

static int conf_set_double(rd_kafka_conf_t *conf, const char *name, double v, fk_error *err)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", v);
    return fk_conf_set(conf, name, buf, err);
}

/* ---------------------------------------------------------------- deliveries ---- */

static void dq_push(fk_pool *p, const fk_delivery *d)
{
    if (p->dq_count == p->dq_cap) {
        size_t ncap = p->dq_cap ? p->dq_cap * 2 : 64, i;
        fk_delivery *n = malloc(ncap * sizeof *n);
        if (!n) {
            p->dq_oom = 1;
            p->unreported_failures++;
            return;
        }
        for (i = 0; i < p->dq_count; i++) n[i] = p->dq[(p->dq_head + i) % p->dq_cap];
        free(p->dq);
        p->dq = n;
        p->dq_cap = ncap;
        p->dq_head = 0;
    }
    p->dq[(p->dq_head + p->dq_count) % p->dq_cap] = *d;
    p->dq_count++;
}

int fk_pool_next_delivery(fk_pool *p, fk_delivery *out)
{
    if (p->dq_count == 0) return 0;
    *out = p->dq[p->dq_head];
    p->dq_head = (p->dq_head + 1) % p->dq_cap;
    p->dq_count--;
    return 1;
}

/* Records that failed because the credentials were refused say so, not "timed out"; those
   purged because their producer hit a fatal error say _FATAL. */
static int delivery_error(const fk_pool *p, rd_kafka_t *rk, rd_kafka_resp_err_t err)
{
    if ((err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) &&
        rd_kafka_fatal_error(rk, NULL, 0))
        return RD_KAFKA_RESP_ERR__FATAL;
    if (err && p->auth_failed &&
        (err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
         err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT))
        return (rd_kafka_resp_err_t)p->auth_failed;
    return err;
}

/* Whether the record may be in the topic. A record purged in flight (by close, by a fatal
   error) may have reached the broker, whatever else librdkafka noted about it. */
static int persisted_status(const rd_kafka_message_t *m)
{
    switch (rd_kafka_message_status(m)) {
    case RD_KAFKA_MSG_STATUS_PERSISTED: return FK_PERSISTED_YES;
    case RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED: return FK_PERSISTED_POSSIBLY;
    default: return m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ? FK_PERSISTED_POSSIBLY : FK_PERSISTED_NO;
    }
}

static const char *persisted_text(int persisted)
{
    return persisted == FK_PERSISTED_YES ? "persisted"
         : persisted == FK_PERSISTED_POSSIBLY ? "possibly persisted" : "not persisted";
}

static producer_slot *slot_of(fk_pool *p, const rd_kafka_t *rk)
{
    int i;
    for (i = 0; i < SLOT_COUNT; i++)
        if (p->slots[i].rk == rk) return &p->slots[i];
    return NULL;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    fk_pool *p = opaque;
    if (fk_note_refusal(err, reason, &p->auth_failed, p->auth_error, sizeof p->auth_error))
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    else if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE)
        snprintf(p->down_reason, sizeof p->down_reason, "%s", reason);
    else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !p->down_since_ms)
        p->down_since_ms = fk_now_ms();
    else if (err == RD_KAFKA_RESP_ERR__FATAL && slot_of(p, rk))
        slot_of(p, rk)->fatal = 1;   /* replaced once this poll returned (replace_if_fatal) */
}

/* No broker reachable for connect_timeout while records wait, and none ever was (a wrong
   address): fail them now, naming the brokers, instead of letting each time out after
   delivery_timeout. Once a producer reached the brokers, an outage is a network's: its
   records get their whole delivery_timeout, however long the outage. */
static rd_kafka_t *live_producer(const struct producer_slot *slot);
static void drop_stage(fk_pool *p, producer_slot *slot, rd_kafka_resp_err_t err);

static int ever_reached(fk_pool *p)
{
    int i;
    for (i = 0; i < SLOT_COUNT && !p->reached; i++) {
        rd_kafka_t *rk = live_producer(&p->slots[i]);
        /* a controller id comes only with a metadata answer from a broker */
        if (rk && rd_kafka_controllerid(rk, 0) >= 0) p->reached = 1;
    }
    return p->reached;
}

static void fail_when_unreachable(fk_pool *p)
{
    int timeout_ms, i;
    char brokers[200];
    if (!p->in_flight || ever_reached(p)) p->down_since_ms = 0;
    if (!p->down_since_ms) return;
    timeout_ms = fk_connect_timeout_ms(p->spec);
    if (fk_now_ms() - p->down_since_ms < timeout_ms) return;
    p->down_since_ms = 0;
    if (p->auth_failed == RD_KAFKA_RESP_ERR__AUTHENTICATION || p->auth_failed == RD_KAFKA_RESP_ERR__SSL) return;
    fk_brokers_text(p->spec, brokers, sizeof brokers);
    p->auth_failed = RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    snprintf(p->auth_error, sizeof p->auth_error,
             "brokers %.100s could not be reached within %d s (connect_timeout)%s%.200s", brokers,
             (timeout_ms + 999) / 1000, p->down_reason[0] ? ": " : "", p->down_reason);
    for (i = 0; i < SLOT_COUNT; i++) {
        rd_kafka_t *rk = live_producer(&p->slots[i]);
        if (!rk) continue;
        drop_stage(p, &p->slots[i], RD_KAFKA_RESP_ERR__PURGE_QUEUE);
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
    }
}

const char *fk_pool_auth_error(const fk_pool *p)
{
    return p->auth_failed ? p->auth_error : NULL;
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    fk_stats_push(&((fk_pool *)opaque)->stats, json, len);
    return 0;   /* librdkafka frees json */
}

char *fk_pool_take_stats(fk_pool *p) { return fk_stats_pop(&p->stats); }

/* A record's end, from librdkafka's delivery report or from the stage (a staged record
   librdkafka refused): queued for its callback, noted in its produce_sync batch, or, when
   nobody asked, counted and logged. */
static void record_done(fk_pool *p, rd_kafka_t *rk, uintptr_t tag, rd_kafka_resp_err_t err, int persisted,
                        int32_t partition, int64_t offset, int64_t timestamp_ms, const char *topic)
{
    if (p->in_flight) p->in_flight--;
    if (tag & 1u) {
        fk_delivery d;
        d.token = (uint64_t)(tag >> 1);
        d.partition = partition;
        d.offset = offset;
        d.timestamp_ms = timestamp_ms;
        d.rd_err = err;
        d.persisted = persisted;
        dq_push(p, &d);
    } else if (tag) {
        batch_slot *slot = (batch_slot *)tag;
        fk_batch *b = slot->batch;
        slot->result.partition = partition;
        slot->result.offset = offset;
        slot->result.timestamp_ms = timestamp_ms;
        slot->result.rd_err = err;
        slot->result.persisted = persisted;
        if (err) {
            if (b->failed++ == 0) {
                b->first_err = err;
                snprintf(b->first_topic, sizeof b->first_topic, "%s", topic);
            }
        }
        if (--b->pending == 0 && b->released) free(b);
    } else if (err) {
        /* nobody asked to hear about this record: count it and say so, never drop it silently */
        p->unreported_failures++;
        fk_log_client(rk, 3, "DELIVERY", "pool '%s': record to '%s' failed (%s): %s", p->spec->code,
                      topic, persisted_text(persisted), rd_kafka_err2str(err));
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    fk_pool *p = opaque;
    rd_kafka_resp_err_t err = m->err ? delivery_error(p, rk, m->err) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!m->err) p->auth_failed = 0, p->down_since_ms = 0, p->reached = 1;
    record_done(p, rk, (uintptr_t)m->_private, err, persisted_status(m), m->partition, m->offset,
                rd_kafka_message_timestamp(m, NULL), rd_kafka_topic_name(m->rkt));
}

/* Staged records librdkafka refused end here, on the caller's thread: never in the stage's. */
static void report_stage_failures(fk_pool *p, producer_slot *slot)
{
    fk_stage_failure f[FK_STAGE_RECORDS];
    size_t n, i, lost = 0;
    if (!slot->stage) return;
    while ((n = fk_stage_take_failures(slot->stage, f, FK_STAGE_RECORDS, &lost)) > 0 || lost) {
        for (i = 0; i < n; i++)
            record_done(p, slot->rk, (uintptr_t)f[i].opaque, delivery_error(p, slot->rk, f[i].err),
                        FK_PERSISTED_NO, -1, -1, 0, rd_kafka_topic_name(f[i].rkt));
        if (lost) {
            p->unreported_failures += lost;
            p->in_flight = p->in_flight > lost ? p->in_flight - lost : 0;
            fk_log_client(slot->rk, 3, "DELIVERY", "pool '%s': %zu records failed and could not be reported "
                          "one by one (out of memory)", p->spec->code, lost);
            lost = 0;
        }
    }
}

/* The stage goes with its producer: what it still holds fails with err, reported here. */
static void drop_stage(fk_pool *p, producer_slot *slot, rd_kafka_resp_err_t err)
{
    /* only a live producer's: an inherited stage was abandoned with its producer */
    if (!slot->stage) return;
    fk_stage_discard(slot->stage, err);
    report_stage_failures(p, slot);
    fk_stage_free(slot->stage);
    slot->stage = NULL;
}

/* Staged records go before anything else the producer is asked to do; 0 when some are left
   because librdkafka's queue stayed full for block_ms, err (may be NULL) saying how many. */
static int submit_stage(producer_slot *slot, int block_ms, fk_error *err)
{
    return !slot->stage || fk_stage_submit(slot->stage, block_ms, err);
}

void fk_pool_set_staging(fk_pool *p, int mode) { p->staging = mode; }

void fk_pool_hand_over(fk_pool *p)
{
    if (live_producer(&p->slots[ASYNC_SLOT])) submit_stage(&p->slots[ASYNC_SLOT], 0, NULL);
}

unsigned long fk_pool_staged_batches(fk_pool *p)
{
    producer_slot *slot = &p->slots[ASYNC_SLOT];
    return live_producer(slot) && slot->stage ? fk_stage_batches(slot->stage) : 0;
}

/* ---------------------------------------------------------------- producer ---- */

static void forget_producer(producer_slot *slot, int destroy)
{
    size_t i;
    for (i = 0; i < slot->topic_count; i++) {
        if (destroy) rd_kafka_topic_destroy(slot->topics[i].rkt);
        free(slot->topics[i].name);
    }
    slot->topic_count = 0;
    /* a live stage was emptied by drop_stage; an inherited one is only memory */
    if (destroy) fk_stage_free(slot->stage);
    else fk_stage_abandon(slot->stage);
    slot->stage = NULL;
    if (destroy && slot->rk) rd_kafka_destroy(slot->rk);
    slot->rk = NULL;
}

/* The slot's producer when it lives in this process (NULL otherwise). */
static rd_kafka_t *live_producer(const producer_slot *slot)
{
    return slot->rk && slot->pid == fk_process_id() ? slot->rk : NULL;
}

static long long delivery_timeout_ms(const fk_pool_spec *spec)
{
    double t = spec->options.delivery_timeout_ms;
    return t > 0 ? (long long)t : 30000;
}

/* A producer's fatal error (an idempotent producer's broken sequence, say) ends it for good:
   librdkafka has failed its queued records; those in flight are failed now, each reported
   with whether it may be in the topic, and the slot is emptied so that the next record makes
   a new producer. A transactional pool keeps its producer: its calls say "fatal". */
static void replace_if_fatal(fk_pool *p, producer_slot *slot)
{
    rd_kafka_t *rk = live_producer(slot);
    char reason[400];
    rd_kafka_resp_err_t e;
    long long deadline;
    if (!rk || !slot->fatal || p->spec->options.transactional_id) return;
    e = rd_kafka_fatal_error(rk, reason, sizeof reason);
    fk_log_client(rk, 3, "FATAL", "kafka pool '%s': the producer hit a fatal error (%s: %s): its unacknowledged "
                  "records fail with _FATAL and a new producer takes the next ones", p->spec->code,
                  rd_kafka_err2name(e), reason);
    drop_stage(p, slot, RD_KAFKA_RESP_ERR__FATAL);
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    /* purged records are reported at once; the bound is for a broker thread slow to let go */
    deadline = fk_now_ms() + 1000;
    while (rd_kafka_outq_len(rk) > 0 && fk_now_ms() < deadline) rd_kafka_poll(rk, 10);
    forget_producer(slot, 1);
    slot->fatal = 0;
}

static rd_kafka_t *producer(fk_pool *p, producer_slot *slot, fk_error *err)
{
    const fk_pool_options *o = &p->spec->options;
    rd_kafka_conf_t *conf;
    char errstr[512];

    if (p->closed) {
        fk_error_set(err, "_STATE", "kafka pool '%s' is closed", p->spec->code);
        return NULL;
    }
    if (slot->rk && slot->pid != fk_process_id()) {
        /* inherited across fork: its threads live in the parent; abandon every handle
           (destroying one would wait on threads that do not exist here) */
        int i;
        for (i = 0; i < SLOT_COUNT; i++)
            if (p->slots[i].rk && p->slots[i].pid != fk_process_id()) forget_producer(&p->slots[i], 0);
        p->in_flight = 0;
        p->txn_ready = p->in_txn = 0;   /* the parent's transaction is not ours */
    }
    if (slot->fatal) replace_if_fatal(p, slot);
    if (slot->rk) return slot->rk;

    if (!(conf = fk_pool_conf_new(p->spec, err))) return NULL;
    if (!fk_conf_set_int(conf, "acks", o->required_acks, err) ||
        !conf_set_double(conf, "linger.ms", slot == &p->slots[SYNC_SLOT] ? 0 : o->linger_ms, err) ||
        /* librdkafka lets 1 GiB of records wait per producer; a web worker with a slow broker
           should push back (_QUEUE_FULL) long before that */
        !fk_conf_set_int(conf, "queue.buffering.max.kbytes", FK_MAX_BUFFERED_KBYTES, err) ||
        /* librdkafka's own default (5 minutes) would hold produce_sync far too long. It gets
           the delivery timeout itself: its scanner (once a second) fails a record once that
           passed, never before; produce_sync enforces the bound on its own wait. */
        !fk_conf_set_int(conf, "message.timeout.ms", delivery_timeout_ms(p->spec), err) ||
        /* partitioner, compression, idempotence, ...: the options whose rows say producer */
        !fk_options_apply(conf, fk_pool_option_rows, o, FK_OPT_PRODUCER, err) ||
        /* the user's raw properties last: producer and global ones (fluxakafka's own were
           refused at validate, so linger.ms 0 of the sync producer stays) */
        !fk_rdkafka_apply(conf, &o->rdkafka, "P*", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (o->statistics_interval_ms > 0) rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, p);
    slot->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!slot->rk) {
        rd_kafka_conf_destroy(conf);
        fk_error_set(err, "_INVALID_ARG", "kafka pool '%s': cannot create producer: %s",
                     p->spec->code, errstr);
        return NULL;
    }
    slot->pid = fk_process_id();
    return slot->rk;
}

/* The cached handle of a topic; with `add`, a valid topic not cached yet is added (while
   there is room). */
static rd_kafka_topic_t *topic_handle(producer_slot *slot, const char *name, int add)
{
    size_t i;
    rd_kafka_topic_t *rkt;
    if (!name) return NULL;
    for (i = 0; i < slot->topic_count; i++)
        if (strcmp(slot->topics[i].name, name) == 0) return slot->topics[i].rkt;
    if (!add || slot->topic_count == TOPIC_CACHE_SIZE) return NULL;
    if (!(rkt = rd_kafka_topic_new(slot->rk, name, NULL))) return NULL;
    if (!(slot->topics[slot->topic_count].name = fk_strdup(name))) {
        rd_kafka_topic_destroy(rkt);
        return NULL;
    }
    slot->topics[slot->topic_count++].rkt = rkt;
    return rkt;
}

static int produce_one(fk_pool *p, producer_slot *slot, const fk_produce_record *rec,
                       void *opaque, int may_stage, int block_ms, fk_error *err)
{
    rd_kafka_t *rk = producer(p, slot, err);
    rd_kafka_topic_t *rkt;
    rd_kafka_resp_err_t e;
    long long deadline = 0;
    int replaced = 0;

    if (!rk) return 0;
    rkt = topic_handle(slot, rec->topic, 0);
    /* a cached topic was checked when it entered the cache */
    if (!rkt && !fk_topic_name_valid(rec->topic, NULL)) {
        fk_error_set(err, "INVALID_TOPIC_EXCEPTION",
                     "produce to '%.300s' failed: not a valid topic name (1 to 249 letters, digits, '.', '_' or '-')",
                     rec->topic ? rec->topic : "");
        return 0;
    }
    if (!rkt) rkt = topic_handle(slot, rec->topic, 1);
    {
        /* 0: a stage of bursts */
        double window_ms = p->staging == FK_STAGING_PACED ? p->spec->options.paced_window_ms : 0;
        int staged = 0;
        if (may_stage && !p->spec->options.transactional_id &&
            (p->staging == FK_STAGING_BURSTS || window_ms > 0)) {
            /* staged records count against max_buffered_records as queued ones do: with
               fewer records than that unacknowledged, librdkafka's queue has room for them */
            int max = p->spec->options.max_buffered_records;
            int room = p->in_flight + 1 < (size_t)(max > 0 ? max : FK_RDKAFKA_DEFAULT_MAX_RECORDS);
            if (!slot->stage) slot->stage = fk_stage_new(rk, window_ms);
            /* 0 also means the stage is empty, so this record goes after every staged one */
            if (slot->stage) staged = fk_stage_offer(slot->stage, rkt, rec, opaque, room, block_ms, err);
        } else if (!submit_stage(slot, block_ms, err)) {
            staged = -1;
        }
        if (staged > 0) {
            p->in_flight++;
            return 1;
        }
        if (staged < 0) {
            char why[sizeof err->msg];
            memcpy(why, err->msg, sizeof why);
            fk_error_set_rd(err, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce to '%.300s' failed (%s)", rec->topic, why);
            return 0;
        }
    }
    for (;;) {
        rd_kafka_headers_t *hdrs = NULL;
        if (rec->header_count) {
            size_t i;
            hdrs = rd_kafka_headers_new(rec->header_count);
            for (i = 0; i < rec->header_count; i++)
                rd_kafka_header_add(hdrs, rec->headers[i].key, (ssize_t)rec->headers[i].key_len,
                                    rec->headers[i].value, (ssize_t)rec->headers[i].value_len);
        }
        if (rkt)
            e = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt),
                                  RD_KAFKA_V_PARTITION(rec->partition < 0 ? RD_KAFKA_PARTITION_UA : rec->partition),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
                                  RD_KAFKA_V_KEY(rec->key, rec->key_len),
                                  RD_KAFKA_V_TIMESTAMP(rec->timestamp_ms),
                                  RD_KAFKA_V_HEADERS(hdrs),
                                  RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(rec->topic),
                                  RD_KAFKA_V_PARTITION(rec->partition < 0 ? RD_KAFKA_PARTITION_UA : rec->partition),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
                                  RD_KAFKA_V_KEY(rec->key, rec->key_len),
                                  RD_KAFKA_V_TIMESTAMP(rec->timestamp_ms),
                                  RD_KAFKA_V_HEADERS(hdrs),
                                  RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->in_flight++;
            return 1;
        }
        if (hdrs) rd_kafka_headers_destroy(hdrs);   /* only freed by librdkafka on success */
        if (e == RD_KAFKA_RESP_ERR__FATAL && !replaced && !p->spec->options.transactional_id) {
            /* the fatal error came before its report was served: replace the producer now */
            slot->fatal = replaced = 1;
            if (!(rk = producer(p, slot, err))) return 0;
            /* the new producer's stage is empty: nothing staged can overtake this record */
            rkt = topic_handle(slot, rec->topic, 1);
            continue;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || block_ms == 0) break;
        if (!deadline) deadline = fk_now_ms() + (block_ms < 0 ? (long long)1 << 40 : block_ms);
        {
            long long left = deadline - fk_now_ms();
            if (left <= 0) break;
            rd_kafka_poll(rk, left < 100 ? (int)left : 100);
        }
    }
    fk_error_set_rd(err, e, "produce to '%.300s' failed", rec->topic);
    if (e == RD_KAFKA_RESP_ERR__STATE && p->spec->options.transactional_id && !p->in_txn)
        fk_error_append(err, " (kafka pool '%s' is transactional: produce between pool:begin_transaction() "
                        "and pool:commit_transaction())", p->spec->code);
    return 0;
}

int fk_pool_produce(fk_pool *p, const fk_produce_record *rec, uint64_t token, int block_ms,
                    fk_error *err)
{
    void *opaque = token ? (void *)(uintptr_t)((token << 1) | 1u) : NULL;
    return produce_one(p, &p->slots[ASYNC_SLOT], rec, opaque, 1, block_ms, err);
}

fk_batch *fk_pool_produce_batch(fk_pool *p, const fk_produce_record *recs, size_t n,
                                int block_ms, fk_error *err)
{
    size_t i;
    /* a transaction is one producer's: a transactional pool has no second one */
    producer_slot *slot = &p->slots[p->spec->options.linger_ms > 0 && !p->spec->options.transactional_id
                                    ? SYNC_SLOT : ASYNC_SLOT];
    fk_batch *b = calloc(1, sizeof *b + n * sizeof b->slots[0]);
    if (!b) {
        fk_error_set(err, "_NO_MEMORY", "produce_sync: out of memory");
        return NULL;
    }
    b->pool = p;
    b->total = n;
    /* the clock reads whole milliseconds: one more, so that the bound never comes early */
    b->deadline_ms = fk_now_ms() + delivery_timeout_ms(p->spec) + 1;
    if (n > 0) snprintf(b->first_topic, sizeof b->first_topic, "%s", recs[0].topic ? recs[0].topic : "");
    for (i = 0; i < n; i++) {
        b->slots[i].batch = b;
        b->slots[i].result.token = i;
        b->slots[i].result.partition = -1;
        b->slots[i].result.offset = -1;
        /* until delivered: what a record still unanswered at the deadline reports */
        b->slots[i].result.rd_err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
        b->slots[i].result.persisted = FK_PERSISTED_POSSIBLY;
    }
    for (i = 0; i < n; i++) {
        b->pending++;
        b->count = i + 1;
        /* produce_sync's records are waited for: they go at once, after the staged ones */
        if (!produce_one(p, slot, &recs[i], &b->slots[i], 0, block_ms, err)) {
            b->pending--;
            if (i > 0) {
                /* earlier records are on their way: keep the batch alive for their deliveries
                   and say how many were already accepted */
                fk_error_append(err, " (records 1..%zu of %zu were already queued and will still be delivered)",
                                i, n);
            }
            fk_batch_release(b);
            return NULL;
        }
    }
    return b;
}

size_t fk_batch_pending(const fk_batch *b) { return b->pending; }

int fk_batch_delivery(const fk_batch *b, size_t i, fk_delivery *out)
{
    if (i >= b->count) return 0;
    *out = b->slots[i].result;
    return 1;
}

double fk_batch_remaining_ms(const fk_batch *b)
{
    long long left = b->deadline_ms - fk_now_ms();
    return left > 0 ? (double)left : 0;
}

int fk_batch_result(const fk_batch *b, fk_error *err)
{
    if (b->pending) {
        fk_error_set(err, "_MSG_TIMED_OUT",
                     "produce to '%s' failed: %zu of %zu record%s not acknowledged within the delivery "
                     "timeout of %.3g s (librdkafka may still deliver %s)",
                     b->first_topic, b->pending, b->total, b->total == 1 ? "" : "s",
                     delivery_timeout_ms(b->pool->spec) / 1000.0, b->pending == 1 ? "it" : "them");
        return 0;
    }
    if (b->failed == 0) return 1;
    fk_error_set_rd(err, b->first_err, "produce to '%s' failed (%zu record%s not delivered)",
                    b->first_topic, b->failed, b->failed == 1 ? "" : "s");
    if (b->first_err == b->pool->auth_failed && b->pool->auth_failed)
        fk_error_append(err, " (%s)", b->pool->auth_error);
    return 0;
}

void fk_batch_release(fk_batch *b)
{
    if (!b) return;
    if (b->pending == 0) free(b);
    else b->released = 1;
}

int fk_pool_poll(fk_pool *p, int timeout_ms)
{
    rd_kafka_t *async_rk = live_producer(&p->slots[ASYNC_SLOT]);
    rd_kafka_t *sync_rk = live_producer(&p->slots[SYNC_SLOT]);
    if (sync_rk) rd_kafka_poll(sync_rk, async_rk ? 0 : timeout_ms);
    if (async_rk && p->slots[ASYNC_SLOT].stage) fk_stage_poll(p->slots[ASYNC_SLOT].stage);
    if (async_rk) rd_kafka_poll(async_rk, timeout_ms);
    if (async_rk) report_stage_failures(p, &p->slots[ASYNC_SLOT]);
    replace_if_fatal(p, &p->slots[SYNC_SLOT]);
    replace_if_fatal(p, &p->slots[ASYNC_SLOT]);
    fail_when_unreachable(p);
    return (int)p->dq_count;
}

size_t fk_pool_in_flight(const fk_pool *p) { return p->in_flight; }
size_t fk_pool_queued_deliveries(const fk_pool *p) { return p->dq_count; }
size_t fk_pool_unreported_failures(const fk_pool *p) { return p->unreported_failures; }
void *fk_pool_rd_kafka(fk_pool *p, int sync) { return live_producer(&p->slots[sync ? SYNC_SLOT : ASYNC_SLOT]); }

int fk_pool_flush(fk_pool *p, int timeout_ms, fk_error *err)
{
    rd_kafka_resp_err_t e;
    if (p->closed) {
        fk_error_set(err, "_STATE", "kafka pool '%s' is closed", p->spec->code);
        return 0;
    }
    {
        long long deadline = fk_now_ms() + timeout_ms;
        int i;
        e = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (i = 0; i < SLOT_COUNT && !e; i++) {
            rd_kafka_t *rk = live_producer(&p->slots[i]);
            long long left = timeout_ms < 0 ? -1 : deadline - fk_now_ms();
            int ms = left < 0 && timeout_ms >= 0 ? 0 : (int)left;
            if (rk && !submit_stage(&p->slots[i], ms, NULL)) e = RD_KAFKA_RESP_ERR__TIMED_OUT;
            else if (rk) e = rd_kafka_flush(rk, ms);
            if (rk) report_stage_failures(p, &p->slots[i]);
        }
    }
    if (e) {
        fk_error_set_rd(err, e, "flush of kafka pool '%s' did not finish (%zu records still in flight)",
                        p->spec->code, p->in_flight);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- transactions ---- */

const char *fk_txn_kind_name(int kind)
{
    switch (kind) {
    case FK_TXN_RETRIABLE: return "retriable";
    case FK_TXN_ABORTABLE: return "abortable";
    case FK_TXN_FATAL: return "fatal";
    default: return "error";
    }
}

int fk_pool_txn_failed(fk_pool *p, const char *what, rd_kafka_error_t *e, fk_error *err, int *kind)
{
    int k = rd_kafka_error_is_fatal(e) ? FK_TXN_FATAL
          : rd_kafka_error_txn_requires_abort(e) ? FK_TXN_ABORTABLE
          : rd_kafka_error_is_retriable(e) ? FK_TXN_RETRIABLE : FK_TXN_ERROR;
    static const char *const next[] = {
        "", " (retriable: call it again)",
        " (abort the transaction with pool:abort_transaction(), then begin a new one)",
        " (fatal: this pool can no longer produce; close it and make a new engine)"
    };
    fk_error_set_rd(err, rd_kafka_error_code(e), "%s of kafka pool '%s' failed", what, p->spec->code);
    /* librdkafka's own string names the cause (fenced, coordinator, ...) better than the code */
    fk_error_append(err, " (%s)%s", rd_kafka_error_string(e), next[k]);
    if (kind) *kind = k;
    rd_kafka_error_destroy(e);
    return 0;
}

rd_kafka_t *fk_pool_txn_producer(fk_pool *p, const char *what, fk_error *err, int *kind)
{
    if (kind) *kind = FK_TXN_ERROR;
    if (!p->spec->options.transactional_id) {
        fk_error_set(err, "_NOT_CONFIGURED", "%s: kafka pool '%s' has no transactional_id option",
                     what, p->spec->code);
        return NULL;
    }
    return producer(p, &p->slots[ASYNC_SLOT], err);
}

int fk_pool_begin_transaction(fk_pool *p, int timeout_ms, fk_error *err, int *kind)
{
    rd_kafka_t *rk = fk_pool_txn_producer(p, "begin_transaction", err, kind);
    rd_kafka_error_t *e;
    if (!rk) return 0;
    if (p->in_txn) {
        fk_error_set(err, "_STATE", "begin_transaction: kafka pool '%s' is in a transaction already "
                     "(commit or abort it first)", p->spec->code);
        return 0;
    }
    if (!p->txn_ready) {
        if ((e = rd_kafka_init_transactions(rk, timeout_ms)) != NULL)
            return fk_pool_txn_failed(p, "begin_transaction (registering the transactional producer)", e, err, kind);
        p->txn_ready = 1;
    }
    if ((e = rd_kafka_begin_transaction(rk)) != NULL) return fk_pool_txn_failed(p, "begin_transaction", e, err, kind);
    p->in_txn = 1;
    return 1;
}

static int end_transaction(fk_pool *p, int commit, int timeout_ms, fk_error *err, int *kind)
{
    const char *what = commit ? "commit_transaction" : "abort_transaction";
    rd_kafka_t *rk = fk_pool_txn_producer(p, what, err, kind);
    rd_kafka_error_t *e;
    if (!rk) return 0;
    if (!p->in_txn) {
        fk_error_set(err, "_STATE", "%s: kafka pool '%s' is not in a transaction", what, p->spec->code);
        return 0;
    }
    e = commit ? rd_kafka_commit_transaction(rk, timeout_ms) : rd_kafka_abort_transaction(rk, timeout_ms);
    /* both serve the delivery reports of the transaction's records on this thread */
    if (e) {
        /* a timed-out call continues in the background and resumes when called again; after
           an abortable failure only abort is left, and a fatal one ends the producer */
        return fk_pool_txn_failed(p, what, e, err, kind);
    }
    p->in_txn = 0;
    return 1;
}

int fk_pool_commit_transaction(fk_pool *p, int timeout_ms, fk_error *err, int *kind)
{
    return end_transaction(p, 1, timeout_ms, err, kind);
}

int fk_pool_abort_transaction(fk_pool *p, int timeout_ms, fk_error *err, int *kind)
{
    return end_transaction(p, 0, timeout_ms, err, kind);
}

int fk_pool_in_transaction(const fk_pool *p) { return p->in_txn; }

void fk_producers_abort_transaction(fk_pool *p, int timeout_ms)
{
    rd_kafka_t *rk = live_producer(&p->slots[ASYNC_SLOT]);
    if (p->in_txn && rk) {
        /* an open transaction holds back every read_committed consumer of its partitions
           until the coordinator times it out: abort it now, and say so */
        fk_error err;
        int ok = fk_pool_abort_transaction(p, timeout_ms < 0 ? -1 : timeout_ms, &err, NULL);
        fk_log_client(rk, 4, "TXNCLOSE", "kafka pool '%s' closed in a transaction: %s", p->spec->code,
                      ok ? "aborted it (its records are not committed)" : err.msg);
    }
}

void fk_producers_close(fk_pool *p, long long deadline)
{
    rd_kafka_t *rk[SLOT_COUNT];
    int i;
    for (i = 0; i < SLOT_COUNT; i++) {
        if (p->slots[i].rk && !live_producer(&p->slots[i])) forget_producer(&p->slots[i], 0);
        if ((rk[i] = p->slots[i].rk) != NULL && p->in_flight) {
            long long left = deadline - fk_now_ms();
            submit_stage(&p->slots[i], left > 0 ? (int)left : 0, NULL);
            left = deadline - fk_now_ms();
            rd_kafka_flush(rk[i], left > 0 ? (int)left : 0);
        }
    }
    /* staged records librdkafka never took (its queue stayed full) fail like queued ones */
    for (i = 0; i < SLOT_COUNT; i++)
        if (rk[i]) drop_stage(p, &p->slots[i], RD_KAFKA_RESP_ERR__PURGE_QUEUE);
    if (p->in_flight) {
        /* time is up: fail what is left so that each record's delivery is still reported */
        long long purge_deadline = fk_now_ms() + 5000;
        for (i = 0; i < SLOT_COUNT; i++)
            if (rk[i]) rd_kafka_purge(rk[i], RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        while (p->in_flight && fk_now_ms() < purge_deadline)
            for (i = 0; i < SLOT_COUNT; i++)
                if (rk[i]) rd_kafka_poll(rk[i], 25);
    }
    for (i = 0; i < SLOT_COUNT; i++) forget_producer(&p->slots[i], 1);
}
