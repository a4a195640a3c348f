/* Opening a consumer of a group: its client, a broker round trip that checks the address
   and credentials, then the subscription; blocking or as a job on a thread. */
#include "fk_consumer.h"
#include "fk_async_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fk_group_spec *find_group(const fk_registry *r, const char *pool, const char *name)
{
    size_t i;
    for (i = 0; i < r->group_count; i++)
        if (strcmp(r->groups[i].pool, pool) == 0 && strcmp(r->groups[i].name, name) == 0)
            return &r->groups[i];
    return NULL;
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

/* Makes the client of a new consumer of a registered group (no broker contact yet). */
static fk_consumer *consumer_create(fk_pool *p, const char *group_name, fk_error *err)
{
    const fk_pool_spec *ps = fk_pool_spec_of(p);
    const fk_registry *r = fk_engine_registry(fk_pool_engine(p));
    const fk_group_spec *g = find_group(r, ps->code, group_name);
    fk_group_spec async_group;
    fk_consumer *c;

    if (g) return fk_consumer_client(p, g, err);
    /* register_async_flush implies FluxaORM's consumer group on its pool */
    if (r->async_flush_pool && strcmp(r->async_flush_pool, ps->code) == 0 &&
        strcmp(group_name, FK_ASYNC_SQL_CONSUMER_GROUP_NAME) == 0) {
        if (!fk_async_sql_group_spec(&async_group, ps->code, NULL, NULL)) {
            fk_error_set(err, "_NO_MEMORY", "consumer_group: out of memory");
            return NULL;
        }
        c = fk_consumer_client(p, &async_group, err);
        fk_group_spec_clear(&async_group);
        return c;
    }
    fk_error_set(err, "_UNKNOWN_GROUP", "kafka consumer group '%s' is not registered in pool '%s'",
                 group_name, ps->code);
    return NULL;
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
    e = fk_consumer_subscribe(c);
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
    return checked(fk_consumer_client(p, g, err), err);
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
    return open_job_start(fk_consumer_client(p, g, err), never_blocks, err);
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
