/* An admin request awaited (see fk_admin_call.h): shared by the alters and the inspection. */
#include "fk_admin_call.h"

void fk_admin_call_begin(fk_admin_call *c, rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms)
{
    char errstr[256];
    c->timeout_ms = timeout_ms;
    c->queue = rd_kafka_queue_new(rk);
    c->options = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(c->options, timeout_ms, errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(c->options, timeout_ms, errstr, sizeof errstr);
}

rd_kafka_event_t *fk_admin_call_end(fk_admin_call *c, const char *what, fk_error *err)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(c->queue, c->timeout_ms + 5000);
    rd_kafka_AdminOptions_destroy(c->options);
    rd_kafka_queue_destroy(c->queue);
    if (!ev) {
        fk_error_set_rd(err, RD_KAFKA_RESP_ERR__TIMED_OUT, "%s", what);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        fk_error_set(err, rd_kafka_err2name(rd_kafka_event_error(ev)), "%s: %s", what,
                     rd_kafka_event_error_string(ev));
        err->rd_err = rd_kafka_event_error(ev);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}
