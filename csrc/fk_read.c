/* Reading one partition without a consumer group (fk_read_start): a job whose work makes a
   consumer of its own, without group.id, reads with librdkafka's simple (legacy) consumer
   from the offset asked and destroys it again. No group is joined, nothing is committed.

   One client per read and not one per pool: reads of the same partition may run at once
   (the simple consumer takes one start per partition and client), a client made per read has
   nothing to share between threads or to close with the pool, and the records are copied
   out so that the client can go at the end of the work. The price is a connection per read
   (measured on a local broker: about 10 ms). */
#include "fk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_STEP_MS 100   /* between two checks of the deadline and of a cancel */

typedef struct read_record {
    fk_record_view v;
    fk_header     *headers;
    char          *block;   /* key, value, headers and their bytes, in one allocation */
} read_record;

typedef struct read_job {
    fk_job          job;
    fk_pool        *pool;
    char           *topic;
    int32_t         partition;
    fk_read_start_t start;
    int64_t         start_value;
    size_t          count;
    int             timeout_ms;
    int             connect_timeout_ms;
    rd_kafka_conf_t *conf;      /* until the work makes the client */
    int             held;       /* the pool's admin use count: closing the pool waits */
    char            what[300];
    int64_t         from, end;  /* the first offset read; the partition's end when it began */
    read_record    *records;
    size_t          record_count;
} read_job;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- copying ---- */

static int copy_record(read_job *j, const rd_kafka_message_t *m)
{
    read_record *r = &j->records[j->record_count];
    rd_kafka_headers_t *hdrs = NULL;
    size_t h, n = 0, size = m->key_len + m->len;
    char *at;
    if (!fk_message_has_no_headers(m) && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        n = rd_kafka_header_cnt(hdrs);
    for (h = 0; h < n; h++) {
        const char *key;
        const void *value;
        size_t len;
        rd_kafka_header_get_all(hdrs, h, &key, &value, &len);
        size += fk_header_key_len(key, value, len) + len;
    }
    if (!(r->block = malloc(n * sizeof *r->headers + size + 1))) return 0;
    r->headers = (fk_header *)r->block;
    at = r->block + n * sizeof *r->headers;
    memset(&r->v, 0, sizeof r->v);
    r->v.topic = j->topic;
    r->v.partition = m->partition;
    r->v.offset = m->offset;
    r->v.timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    r->v.header_count = n;
    if (m->key) {
        r->v.key = memcpy(at, m->key, m->key_len);
        r->v.key_len = m->key_len;
        at += m->key_len;
    }
    if (m->payload) {   /* NULL: a null value, which stays apart from an empty one */
        r->v.value = memcpy(at, m->payload, m->len);
        r->v.value_len = m->len;
        at += m->len;
    }
    for (h = 0; h < n; h++) {
        const char *key;
        const void *value;
        size_t len, key_len;
        rd_kafka_header_get_all(hdrs, h, &key, &value, &len);
        key_len = fk_header_key_len(key, value, len);
        r->headers[h].key = memcpy(at, key, key_len);
        r->headers[h].key_len = key_len;
        at += key_len;
        r->headers[h].value = value ? memcpy(at, value, len) : NULL;
        r->headers[h].value_len = value ? len : 0;
        at += value ? len : 0;
    }
    j->record_count++;
    return 1;
}

/* ---------------------------------------------------------------- the work ---- */

static int fail_rd(read_job *j, rd_kafka_resp_err_t e, const char *detail)
{
    fk_error_set_rd(&j->job.err, e, "%s: %s", j->what, detail);
    return 0;
}

/* The topic exists and has the partition (metadata of this one topic). */
static int check_partition(read_job *j, rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    const struct rd_kafka_metadata *md = NULL;
    char detail[300];
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, j->connect_timeout_ms);
    int ok = 1;
    if (e) return fail_rd(j, e, "the topic's metadata could not be read");
    if (md->topic_cnt < 1 || md->topics[0].err) {
        snprintf(detail, sizeof detail, "topic '%.200s' does not exist", j->topic);
        ok = fail_rd(j, md->topic_cnt < 1 ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : md->topics[0].err, detail);
    } else if (j->partition >= md->topics[0].partition_cnt) {
        snprintf(detail, sizeof detail, "topic '%.200s' has no partition %d (it has %d)", j->topic, (int)j->partition,
                 md->topics[0].partition_cnt);
        ok = fail_rd(j, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, detail);
    }
    rd_kafka_metadata_destroy(md);
    return ok;
}

static int offset_for_time(read_job *j, rd_kafka_t *rk, int64_t *offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;
    rd_kafka_topic_partition_list_add(l, j->topic, j->partition)->offset = j->start_value;
    e = rd_kafka_offsets_for_times(rk, l, j->connect_timeout_ms);
    if (!e) e = l->elems[0].err;
    *offset = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return e ? fail_rd(j, e, "the offset for the timestamp could not be read") : 1;
}

/* The offset the read starts at, from the start asked and the partition's watermarks. */
static int start_offset(read_job *j, rd_kafka_t *rk, int64_t *offset)
{
    int64_t low, high;
    char detail[300];
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, j->topic, j->partition, &low, &high,
                                                             j->connect_timeout_ms);
    if (e) return fail_rd(j, e, "the partition's watermarks could not be read");
    j->end = high;
    switch (j->start) {
    case FK_READ_OFFSET:
        if (j->start_value < low || j->start_value > high) {
            snprintf(detail, sizeof detail, "offset %lld is out of range: the partition holds offsets %lld to %lld "
                     "(%lld is its end)", (long long)j->start_value, (long long)low, (long long)high - 1, (long long)high);
            return fail_rd(j, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, detail);
        }
        *offset = j->start_value;
        return 1;
    case FK_READ_BEGINNING: *offset = low; return 1;
    case FK_READ_END: *offset = high; return 1;
    case FK_READ_FROM_END: *offset = high - j->start_value < low ? low : high - j->start_value; return 1;
    case FK_READ_TIMESTAMP:
        if (!offset_for_time(j, rk, offset)) return 0;
        if (*offset < 0) *offset = high;   /* no record that recent: what comes next */
        return 1;
    }
    return 0;
}

/* Takes one batch: 1 to go on, 0 when the read is over (*failed set on a failure). It is
   over at the partition's end as it was when the read began (librdkafka tells its end only
   with the next fetch, up to fetch.wait.max.ms later); a read that began there ends with the
   first batch of records. */
static int take(read_job *j, rd_kafka_message_t **msgs, ssize_t n, int *failed)
{
    ssize_t i;
    int more = 1, had_records = j->from < j->end;
    for (i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (*failed || (had_records && (!more || m->offset >= j->end))) {
        } else if (!m->err) {
            if (had_records && m->offset + 1 >= j->end) more = 0;
            if (!copy_record(j, m)) {
                fk_error_set(&j->job.err, "_NO_MEMORY", "%s: out of memory", j->what);
                *failed = 1;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            more = j->record_count == 0;   /* with none yet: waits for the first */
        } else {
            char text[300];   /* an error event's payload is its message, not NUL-terminated */
            snprintf(text, sizeof text, "%.*s", m->payload ? (int)(m->len < 299 ? m->len : 299) : 299,
                     m->payload ? (const char *)m->payload : rd_kafka_err2str(m->err));
            fail_rd(j, m->err, text);
            *failed = 1;
        }
        rd_kafka_message_destroy(m);
    }
    if (!had_records && j->record_count > 0) more = 0;
    return more && !*failed && j->record_count < j->count;
}

static int consume(read_job *j, rd_kafka_topic_t *rkt, int64_t offset)
{
    long long deadline = now_ms() + j->timeout_ms;
    int failed = 0, more = 1;
    if (!(j->records = calloc(j->count, sizeof *j->records))) {
        fk_error_set(&j->job.err, "_NO_MEMORY", "%s: out of memory", j->what);
        return 0;
    }
    if (rd_kafka_consume_start(rkt, j->partition, offset) == -1) return fail_rd(j, rd_kafka_last_error(), "the read could not start");
    /* one record at a time: a batch call would wait for a full batch */
    while (more && !fk_job_stopping(&j->job.err)) {
        long long left = deadline - now_ms();
        rd_kafka_message_t *m;
        if (left <= 0) break;
        if ((m = rd_kafka_consume(rkt, j->partition, left < WAIT_STEP_MS ? (int)left : WAIT_STEP_MS)) != NULL)
            more = take(j, &m, 1, &failed);
    }
    rd_kafka_consume_stop(rkt, j->partition);
    return !failed && !fk_job_stopping(&j->job.err);
}

static void run(fk_job *job)
{
    read_job *j = (read_job *)job;
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, j->conf, errstr, sizeof errstr);
    rd_kafka_topic_t *rkt;
    if (!rk) {
        rd_kafka_conf_destroy(j->conf);
        j->conf = NULL;
        fk_error_set(&job->err, "_INVALID_ARG", "%s: cannot create a client: %s", j->what, errstr);
        return;
    }
    j->conf = NULL;   /* the client's now */
    rkt = rd_kafka_topic_new(rk, j->topic, NULL);
    job->ok = check_partition(j, rk, rkt) && start_offset(j, rk, &j->from) && (j->count == 0 || consume(j, rkt, j->from));
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    fk_pool_admin_release(j->pool);
    j->held = 0;
}

static void destroy(fk_job *job)
{
    read_job *j = (read_job *)job;
    size_t i;
    if (j->held) fk_pool_admin_release(j->pool);   /* never started */
    if (j->conf) rd_kafka_conf_destroy(j->conf);
    for (i = 0; i < j->record_count; i++) free(j->records[i].block);
    free(j->records);
    free(j->topic);
}

static const fk_job_ops read_ops = { FK_JOB_READ, run, NULL, destroy };

/* The client's configuration: the pool's, as a consumer without a group that never commits,
   and that stops at the partition's end (enable.partition.eof) instead of waiting there. */
static rd_kafka_conf_t *read_conf(fk_pool *p, fk_error *err)
{
    const fk_pool_spec *spec = fk_pool_spec_of(p);
    rd_kafka_conf_t *conf = fk_pool_conf_new(spec, err);
    if (!conf) return NULL;
    if (!fk_rdkafka_apply(conf, &spec->options.rdkafka, "C*", err) ||
        !fk_conf_set(conf, "enable.auto.commit", "false", err) ||
        !fk_conf_set(conf, "enable.auto.offset.store", "false", err) ||
        !fk_conf_set(conf, "enable.partition.eof", "true", err) ||
        !fk_conf_set(conf, "allow.auto.create.topics", "false", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);   /* for the log callback: the pool code comes first */
    return conf;
}

fk_job *fk_read_start(fk_pool *p, const char *topic, int32_t partition, fk_read_start_t start, int64_t start_value,
                      size_t count, int timeout_ms, fk_error *err)
{
    read_job *j = (read_job *)fk_job_new(&read_ops, sizeof *j, "read", err);
    if (!j) return NULL;
    j->pool = p;
    j->partition = partition;
    j->start = start;
    j->start_value = start_value;
    j->count = count;
    j->timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
    j->connect_timeout_ms = fk_connect_timeout_ms(fk_pool_spec_of(p));
    snprintf(j->what, sizeof j->what, "read of '%.100s' partition %d (kafka pool '%.100s') failed", topic,
             (int)partition, fk_pool_spec_of(p)->code);
    if (!(j->topic = fk_strdup(topic))) {
        fk_error_set(err, "_NO_MEMORY", "read: out of memory");
        fk_job_free(&j->job);
        return NULL;
    }
    /* closing the pool waits for the read, as for the admin client's requests */
    if (!fk_pool_admin_hold(p, err) || !(j->held = 1) || !(j->conf = read_conf(p, err))) {
        fk_job_free(&j->job);
        return NULL;
    }
    return fk_job_start(&j->job, err);
}

static const read_job *answer(const fk_job *job)
{
    return job->ops == &read_ops && job->ended && job->ok ? (const read_job *)job : NULL;
}

size_t fk_read_count(const fk_job *job)
{
    const read_job *j = answer(job);
    return j ? j->record_count : 0;
}

int fk_read_record(const fk_job *job, size_t i, fk_record_view *out)
{
    const read_job *j = answer(job);
    if (!j || i >= j->record_count) return 0;
    *out = j->records[i].v;
    return 1;
}

int fk_read_header(const fk_job *job, size_t i, size_t h, const char **key, size_t *key_len, const void **value,
                   size_t *value_len)
{
    const read_job *j = answer(job);
    const fk_header *hd;
    if (!j || i >= j->record_count || h >= j->records[i].v.header_count) return 0;
    hd = &j->records[i].headers[h];
    *key = hd->key;
    *key_len = hd->key_len;
    *value = hd->value;
    *value_len = hd->value_len;
    return 1;
}
