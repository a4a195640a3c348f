/* A producer's stage: small records copied here and handed to librdkafka together, one
   rd_kafka_produce_batch call for many of them. librdkafka then reads its clocks and takes its
   topic lock once per call instead of once per record, which is most of what a record costs
   it (bench/RESULTS.md). Two kinds:
   - bursts (no window given): only during a burst (more than FK_STAGE_BURST_CALLS records
     within one tick of the coarse clock), up to FK_STAGE_RECORDS per call; a thread of the
     stage hands over what a burst left behind once FK_STAGE_WINDOW_US passed, so a staged
     record never waits on the caller.
   - paced (a window of W ms, for an event loop that serves the pool, OpenResty's): records
     are handed over at most once per window: a record after a quiet window goes at once and
     opens the next one, the others of that window wait for its end, checked at each offer and
     by fk_stage_poll, which the event loop calls. Fewer, larger produce requests at any rate,
     for at most W of waiting, and no thread.
   Records the batch call cannot carry (headers, an explicit timestamp, null or empty values,
   large ones) and records outside a burst or window go directly, after fk_stage_submit, so that
   order is kept. */
#ifndef FK_STAGE_H
#define FK_STAGE_H

#include "fk_internal.h"

#define FK_STAGE_RECORDS     64      /* per call, a stage of bursts */
#define FK_STAGE_PACED_RECORDS 256  /* per call, a paced stage */
#define FK_STAGE_RECORD_MAX  1024    /* key plus value, bytes */
#define FK_STAGE_WINDOW_US   1000
#define FK_STAGE_BURST_CALLS 16      /* offers within one coarse tick before staging starts */

typedef struct fk_stage fk_stage;

/* A staged record librdkafka refused (not for a full queue: those stay staged). */
typedef struct fk_stage_failure {
    void               *opaque;
    rd_kafka_resp_err_t err;
    rd_kafka_topic_t   *rkt;
} fk_stage_failure;

/* A stage of rk's, in the calling process: of bursts, or paced with that window (> 0); NULL
   without memory. */
fk_stage *fk_stage_new(rd_kafka_t *rk, double paced_window_ms);

/* 1: the record was copied into the stage (librdkafka gets it within the window); 0: not
   one to stage now (or `room` is 0: the producer's queue may be full, so that librdkafka is to
   answer for it), and the stage is empty, so the caller may produce it directly; -1: err
   is set (_QUEUE_FULL: the stage is full, or holds records that must go first, and
   librdkafka's queue had no room within block_ms; the record was not taken). */
int fk_stage_offer(fk_stage *s, rd_kafka_topic_t *rkt, const fk_produce_record *rec, void *opaque,
                   int room, int block_ms, fk_error *err);

/* Hands the staged records to librdkafka, waiting up to block_ms (-1: no bound) for room in
   its queue, serving rk on this thread meanwhile. 1 when none is left; else 0, with err (may
   be NULL) saying how many wait (_QUEUE_FULL). */
int fk_stage_submit(fk_stage *s, int block_ms, fk_error *err);

/* A paced stage hands over its records when their window ended (else nothing). */
void fk_stage_poll(fk_stage *s);

/* How many batches of staged records librdkafka took so far. */
unsigned long fk_stage_batches(fk_stage *s);

/* Moves up to max refused records into out, oldest first; how many. *lost: how many more
   were refused with no memory left to list them (only counted). */
size_t fk_stage_take_failures(fk_stage *s, fk_stage_failure *out, size_t max, size_t *lost);

/* Every staged record becomes a failure with err (its producer is going away). */
void fk_stage_discard(fk_stage *s, rd_kafka_resp_err_t err);

/* Stops the stage's thread and frees it; failures not taken are lost, so take them first. */
void fk_stage_free(fk_stage *s);

/* Frees a stage inherited across fork without touching its lock or thread (both are the
   parent's); its records are the parent's to deliver. */
void fk_stage_abandon(fk_stage *s);

#endif
