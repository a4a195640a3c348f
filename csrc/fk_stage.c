/* The stage of a pool's async producer (see fk_stage.h): records copied into one buffer and
   handed to librdkafka together. The lock is taken by the caller's thread for each offer and,
   in a stage of bursts, by the stage's own thread (the flusher) when a window ends with
   records left; a paced stage has no thread. */
#include "fk_stage.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct fk_stage {
    pthread_mutex_t    lock;
    pthread_cond_t     wake;            /* the flusher waits on it (monotonic clock) */
    pthread_t          flusher;
    int                flusher_started;
    int                flusher_idle;    /* waiting with no deadline: an offer must wake it */
    int                stopping;
    int                no_flusher;      /* it could not be started: nothing is staged */
    int                paced;           /* no thread: fk_stage_poll hands over once a window */
    long long          window_ms;       /* paced: at most one hand-over per window */
    long long          last_handover;   /* paced: coarse ms of the last record or batch sent */
    size_t             capacity;        /* records */
    size_t             arena_size;
    rd_kafka_t        *rk;
    rd_kafka_topic_t  *rkt;             /* the topic of every staged record */
    rd_kafka_message_t *msgs;
    size_t             count;
    size_t             used;            /* bytes of the arena the staged records hold */
    struct timespec    first;           /* when the oldest staged record came */
    long long          tick;            /* the coarse clock at the last offer, in ms */
    unsigned           tick_offers;     /* offers within that tick */
    fk_stage_failure  *failures;
    size_t             failure_count, failure_cap;
    size_t             failures_lost;   /* refused records no memory was left to list */
    unsigned long      batches;         /* rd_kafka_produce_batch calls that took records */
    char              *arena;
};

fk_stage *fk_stage_new(rd_kafka_t *rk, double paced_window_ms)
{
    pthread_condattr_t attr;
    fk_stage *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->paced = paced_window_ms > 0;
    s->window_ms = s->paced ? (long long)(paced_window_ms + 0.5) : 0;
    s->last_handover = -(1LL << 40);
    s->capacity = s->paced ? FK_STAGE_PACED_RECORDS : FK_STAGE_RECORDS;
    s->arena_size = s->capacity * FK_STAGE_RECORD_MAX;
    s->msgs = malloc(s->capacity * sizeof *s->msgs);
    s->arena = malloc(s->arena_size);
    if (!s->msgs || !s->arena) {
        free(s->msgs);
        free(s->arena);
        free(s);
        return NULL;
    }
    s->rk = rk;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    return s;
}

/* The coarse monotonic clock in ms: a few ns to read, advancing once per kernel tick (4 ms
   here), which is all a window or a burst needs. */
static long long coarse_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void add_failure(fk_stage *s, void *opaque, rd_kafka_resp_err_t err)
{
    if (!fk_grow((void **)&s->failures, &s->failure_cap, s->failure_count, sizeof *s->failures)) {
        s->failures_lost++;
        return;
    }
    s->failures[s->failure_count].opaque = opaque;
    s->failures[s->failure_count].err = err;
    s->failures[s->failure_count].rkt = s->rkt;
    s->failure_count++;
}

/* Hands the staged records over; those refused for a full queue stay, in order, and are
   tried again (after serving rk for up to 100 ms at a time) until block_ms passed. */
static void submit_locked(fk_stage *s, int block_ms)
{
    long long deadline = 0;
    while (s->count) {
        size_t i, kept = 0;
        /* F_PARTITION: each record's own partition, the partitioner's choice where it is UA */
        int good = rd_kafka_produce_batch(s->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_PARTITION,
                                          s->msgs, (int)s->count);
        if (good > 0) s->batches++;
        if (good == (int)s->count) {
            s->count = 0;
            break;
        }
        for (i = 0; i < s->count; i++) {
            rd_kafka_resp_err_t e = s->msgs[i].err;
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) s->msgs[kept++] = s->msgs[i];
            else if (e) add_failure(s, s->msgs[i]._private, e);
        }
        s->count = kept;
        if (!kept || block_ms == 0) break;
        if (!deadline) deadline = fk_now_ms() + (block_ms < 0 ? (long long)1 << 40 : block_ms);
        {
            long long left = deadline - fk_now_ms();
            if (left <= 0) break;
            rd_kafka_poll(s->rk, left < 100 ? (int)left : 100);
        }
    }
    if (!s->count) s->used = 0;
}

/* What the caller is told when staged records stay for want of room in librdkafka's queue. */
static int full(fk_stage *s, fk_error *err)
{
    if (!err) return -1;
    fk_error_set(err, "_QUEUE_FULL", "%zu staged record%s still wait%s for room in the producer's queue",
                 s->count, s->count == 1 ? "" : "s", s->count == 1 ? "s" : "");
    err->rd_err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    return -1;
}

/* A hand-over at the end of a paced stage's window (or of a full stage), which opens the
   next window. */
static void hand_over_window(fk_stage *s, long long now_ms)
{
    submit_locked(s, 0);
    s->last_handover = now_ms;
}

static void *flusher_main(void *arg)
{
    fk_stage *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec now, due;
        if (!s->count) {
            s->flusher_idle = 1;
            pthread_cond_wait(&s->wake, &s->lock);
            s->flusher_idle = 0;
            continue;
        }
        due = s->first;
        due.tv_nsec += FK_STAGE_WINDOW_US * 1000L;
        if (due.tv_nsec >= 1000000000L) {
            due.tv_sec++;
            due.tv_nsec -= 1000000000L;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec < due.tv_sec || (now.tv_sec == due.tv_sec && now.tv_nsec < due.tv_nsec)) {
            pthread_cond_timedwait(&s->wake, &s->lock, &due);
            continue;
        }
        /* never poll here: delivery reports are served on the caller's thread */
        submit_locked(s, 0);
        if (s->count) s->first = now;   /* the queue is full: again one window later */
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* The flusher, with every signal blocked: signals are the application's threads' business. */
static int start_flusher(fk_stage *s)
{
    sigset_t all, old;
    int e;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&s->flusher, NULL, flusher_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) return 0;
    s->flusher_started = 1;
    return 1;
}

int fk_stage_offer(fk_stage *s, rd_kafka_topic_t *rkt, const fk_produce_record *rec, void *opaque,
                   int room, int block_ms, fk_error *err)
{
    long long now_ms = coarse_ms();
    rd_kafka_message_t *m;
    int direct;
    /* what rd_kafka_produce_batch carries alike in every librdkafka; null and empty values and
       keys go directly, so that each keeps exactly the form it was given. (A partition that
       does not exist is then refused at hand-over, and reported like a failed delivery.) */
    int eligible = room && rkt && !rec->header_count && !rec->timestamp_ms &&
                   rec->value && rec->value_len && (!rec->key || rec->key_len) &&
                   rec->key_len + rec->value_len <= FK_STAGE_RECORD_MAX;

    pthread_mutex_lock(&s->lock);
    if (s->paced) {
        /* a record after a quiet window goes at once, and opens the next window */
        direct = !s->count && now_ms - s->last_handover >= s->window_ms;
        if (direct && eligible) s->last_handover = now_ms;
    } else {
        if (now_ms != s->tick) {
            s->tick = now_ms;
            s->tick_offers = 0;
        }
        s->tick_offers++;
        direct = !s->count && s->tick_offers <= FK_STAGE_BURST_CALLS;
    }
    direct = direct || !eligible || s->no_flusher;
    /* the staged records go first when this one goes directly, or does not fit with them */
    if (s->count && (direct || rkt != s->rkt || s->count == s->capacity ||
                     s->used + rec->key_len + rec->value_len > s->arena_size)) {
        submit_locked(s, block_ms);
        if (s->count) {
            int r = full(s, err);
            pthread_mutex_unlock(&s->lock);
            return r;
        }
    }
    if (!direct && !s->paced && !s->flusher_started && !start_flusher(s)) s->no_flusher = direct = 1;
    if (direct) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    m = &s->msgs[s->count];
    memset(m, 0, sizeof *m);
    m->payload = s->arena + s->used;
    m->len = rec->value_len;
    memcpy(m->payload, rec->value, rec->value_len);
    s->used += rec->value_len;
    if (rec->key) {
        m->key = s->arena + s->used;
        m->key_len = rec->key_len;
        memcpy(m->key, rec->key, rec->key_len);
        s->used += rec->key_len;
    }
    m->partition = rec->partition < 0 ? RD_KAFKA_PARTITION_UA : rec->partition;
    m->_private = opaque;
    s->rkt = rkt;
    if (s->count++ == 0 && !s->paced) {
        clock_gettime(CLOCK_MONOTONIC, &s->first);
        if (s->flusher_idle) pthread_cond_signal(&s->wake);
    }
    if (s->count == s->capacity || (s->paced && now_ms - s->last_handover >= s->window_ms))
        hand_over_window(s, now_ms);
    pthread_mutex_unlock(&s->lock);
    return 1;
}

void fk_stage_poll(fk_stage *s)
{
    long long now_ms;
    if (!s->paced) return;
    now_ms = coarse_ms();
    pthread_mutex_lock(&s->lock);
    if (s->count && now_ms - s->last_handover >= s->window_ms) hand_over_window(s, now_ms);
    pthread_mutex_unlock(&s->lock);
}

int fk_stage_submit(fk_stage *s, int block_ms, fk_error *err)
{
    int empty;
    pthread_mutex_lock(&s->lock);
    submit_locked(s, block_ms);
    empty = !s->count;
    if (!empty) full(s, err);
    pthread_mutex_unlock(&s->lock);
    return empty;
}

unsigned long fk_stage_batches(fk_stage *s)
{
    unsigned long n;
    pthread_mutex_lock(&s->lock);
    n = s->batches;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t fk_stage_take_failures(fk_stage *s, fk_stage_failure *out, size_t max, size_t *lost)
{
    size_t n;
    pthread_mutex_lock(&s->lock);
    n = s->failure_count < max ? s->failure_count : max;
    /* oldest first: callbacks run in the order of the records */
    memcpy(out, s->failures, n * sizeof *out);
    memmove(s->failures, s->failures + n, (s->failure_count - n) * sizeof *out);
    s->failure_count -= n;
    if (lost) {
        *lost = s->failures_lost;
        s->failures_lost = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

void fk_stage_discard(fk_stage *s, rd_kafka_resp_err_t err)
{
    size_t i;
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->count; i++) add_failure(s, s->msgs[i]._private, err);
    s->count = 0;
    s->used = 0;
    pthread_mutex_unlock(&s->lock);
}

static void free_memory(fk_stage *s)
{
    free(s->failures);
    free(s->msgs);
    free(s->arena);
    free(s);
}

void fk_stage_free(fk_stage *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->flusher_started) pthread_join(s->flusher, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free_memory(s);
}

void fk_stage_abandon(fk_stage *s)
{
    if (s) free_memory(s);
}
