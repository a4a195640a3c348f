/* One admin request of librdkafka awaited: begin it with its options and a queue of its own,
   send it with those, then end it, waiting (bounded) for its result event. */
#ifndef FK_ADMIN_CALL_H
#define FK_ADMIN_CALL_H

#include "fk_internal.h"

typedef struct fk_admin_call {
    rd_kafka_queue_t        *queue;
    rd_kafka_AdminOptions_t *options;
    int                      timeout_ms;
    fk_admin_watch           watch;   /* ends the wait early when the brokers refuse the client */
} fk_admin_call;

/* The request times out after timeout_ms at the broker (and, for the operations that have
   one, the operation too). rk is a pool's admin client (fk_pool_admin). */
void fk_admin_call_begin(fk_admin_call *c, rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms);
/* The result event (the caller destroys it); NULL with err filled (starting with `what`) on a
   request-level failure, also when no answer came within the timeout and 5 s more, and at once
   when the brokers refuse the client or none can be reached (fk_admin_watch_failed). */
rd_kafka_event_t *fk_admin_call_end(fk_admin_call *c, const char *what, fk_error *err);

#endif
