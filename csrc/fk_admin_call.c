/* An admin request awaited (see fk_admin_call.h): shared by the alters and the inspection. */
#include "fk_admin_call.h"

void fk_admin_call_begin(fk_admin_call *c, rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms)
{
    char errstr[256];
    fk_admin_watch_begin(&c->watch, rd_kafka_opaque(rk), rk);   /* an admin client's opaque is its pool */
    c->timeout_ms = timeout_ms;
    c->queue = rd_kafka_queue_new(rk);
    c->options = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(c->options, timeout_ms, errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(c->options, timeout_ms, errstr, sizeof errstr);
}

/* how often a waiting call looks for a refusal */
#define WAIT_STEP_MS 100

rd_kafka_event_t *fk_admin_call_end(fk_admin_call *c, const char *what, fk_error *err)
{
    rd_kafka_event_t *ev = NULL;
    long long deadline = fk_now_ms() + c->timeout_ms + 5000;
    int refused = 0;
    while (!ev && fk_now_ms() < deadline && !(refused = fk_admin_watch_failed(&c->watch, what, err)))
        ev = rd_kafka_queue_poll(c->queue, WAIT_STEP_MS);
    /* a request given up is answered later into the queue destroyed here: librdkafka drops it */
    rd_kafka_AdminOptions_destroy(c->options);
    rd_kafka_queue_destroy(c->queue);
    if (refused) return NULL;
    if (!ev) {
        fk_error_set_rd(err, RD_KAFKA_RESP_ERR__TIMED_OUT, "%s", what);
        return NULL;
    }
    if (rd_kafka_event_error(ev) >= 0) fk_admin_watch_answered(&c->watch);
    if (rd_kafka_event_error(ev)) {
        fk_error_set(err, rd_kafka_err2name(rd_kafka_event_error(ev)), "%s: %s", what,
                     rd_kafka_event_error_string(ev));
        err->rd_err = rd_kafka_event_error(ev);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}
