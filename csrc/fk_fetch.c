/* A consumer's polls and the fetches they hand out. A consumer owns the messages of its
   live fetches, so that closing it can return them to librdkafka before the client is
   destroyed. */
#include "fk_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    if (!fk_consumer_usable(c, err)) return NULL;
    if (!(f = calloc(1, sizeof *f))) {
        fk_error_set(err, "_NO_MEMORY", "poll_fetches: out of memory");
        return NULL;
    }
    fk_consumer_finish_lookup(c, 0);
    /* the application is done with what earlier polls handed out */
    if (!c->defer_revoke) fk_consumer_revoke_deferred(c);
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
    if (!c->defer_revoke && f->count == 0) fk_consumer_revoke_deferred(c);
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

static void release_messages(fk_fetches *f)
{
    size_t i;
    for (i = 0; i < f->count; i++) rd_kafka_message_destroy(f->msgs[i]);
    free(f->msgs);
    f->msgs = NULL;
    f->count = f->cap = 0;
}

/* The first part of closing (fk_consumer_close.c): the fetches still alive become empty,
   their messages returned to librdkafka before its client goes. */
void fk_consumer_empty_fetches(fk_consumer *c)
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
