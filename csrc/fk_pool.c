/* The engine and its pools: the pools of a validated registry, looked up by code, their
   admin client (created on first use in the process) and their closing. A pool's producers
   are fk_producer.c's. */
#include "fk_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fk_engine {
    fk_registry *registry;
    fk_pool     *pools;
    size_t       pool_count;
};

/* ---------------------------------------------------------------- engine ---- */

static void pool_free_resources(fk_pool *p);

fk_engine *fk_engine_new(const fk_registry *r, fk_error *err)
{
    fk_engine *e;
    fk_registry *copy;
    size_t i;

    if (!fk_registry_validate(r, err)) return NULL;
    e = calloc(1, sizeof *e);
    copy = fk_registry_new();
    if (!e || !copy) goto oom;
    e->registry = copy;
    /* deep copy: later registrations must not change a running engine */
    for (i = 0; i < r->pool_count; i++)
        if (!fk_registry_add_pool(copy, r->pools[i].code, &r->pools[i].brokers, &r->pools[i].options, err))
            goto fail;
    for (i = 0; i < r->group_count; i++)
        if (!fk_registry_add_group(copy, &r->groups[i], err)) goto fail;
    for (i = 0; i < r->topic_count; i++)
        if (!fk_registry_add_topic(copy, &r->topics[i], err)) goto fail;
    if (r->async_flush_pool && !(copy->async_flush_pool = fk_strdup(r->async_flush_pool))) goto oom;
    copy->async_flush_partitions = r->async_flush_partitions;

    e->pool_count = copy->pool_count;
    e->pools = calloc(e->pool_count ? e->pool_count : 1, sizeof *e->pools);
    if (!e->pools) goto oom;
    for (i = 0; i < e->pool_count; i++) {
        e->pools[i].engine = e;
        e->pools[i].spec = &copy->pools[i];
        e->pools[i].log_code = copy->pools[i].code;
        e->pools[i].staging = FK_STAGING_BURSTS;
        pthread_mutex_init(&e->pools[i].admin_health.lock, NULL);
    }
    return e;
oom:
    fk_error_set(err, "_NO_MEMORY", "validate: out of memory");
fail:
    if (e) e->registry = NULL;
    fk_registry_free(copy);
    free(e);
    return NULL;
}

void fk_engine_free(fk_engine *e, int close_timeout_ms)
{
    size_t i;
    if (!e) return;
    for (i = 0; i < e->pool_count; i++) {
        fk_pool_close(&e->pools[i], close_timeout_ms);
        pool_free_resources(&e->pools[i]);
    }
    free(e->pools);
    fk_registry_free(e->registry);
    free(e);
}

const fk_registry *fk_engine_registry(const fk_engine *e) { return e->registry; }
size_t fk_engine_pool_count(const fk_engine *e) { return e->pool_count; }
fk_pool *fk_engine_pool_at(fk_engine *e, size_t i) { return i < e->pool_count ? &e->pools[i] : NULL; }

fk_pool *fk_engine_pool(fk_engine *e, const char *code)
{
    size_t i;
    for (i = 0; i < e->pool_count; i++)
        if (strcmp(e->pools[i].spec->code, code) == 0) return &e->pools[i];
    return NULL;
}

const fk_pool_spec *fk_pool_spec_of(const fk_pool *p) { return p->spec; }
fk_engine *fk_pool_engine(const fk_pool *p) { return p->engine; }
int fk_pool_is_closed(const fk_pool *p) { return p->closed; }

static void destroy_admin(fk_pool *p)
{
    /* a read-only request on another thread (fk_inspect) ends within connect_timeout */
    while (__atomic_load_n(&p->admin_users, __ATOMIC_ACQUIRE) > 0) fk_sleep_ms(1);
    if (p->admin && p->admin_pid == fk_process_id()) rd_kafka_destroy(p->admin);
    p->admin = NULL;
}

void fk_pool_close(fk_pool *p, int timeout_ms)
{
    long long deadline = fk_now_ms() + (timeout_ms < 0 ? (long long)1 << 40 : timeout_ms);
    if (p->closed) return;
    fk_producers_abort_transaction(p, timeout_ms);
    p->closed = 1;
    destroy_admin(p);
    fk_producers_close(p, deadline);
}

static void on_admin_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct admin_health *h = &((fk_pool *)opaque)->admin_health;
    (void)rk;
    pthread_mutex_lock(&h->lock);
    if (!fk_note_refusal(err, reason, &h->refused, h->refusal, sizeof h->refusal)) {
        if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
            h->failures++;
            h->failure_code = err;
            snprintf(h->failure, sizeof h->failure, "%s", reason);
            fk_mask_secrets(h->failure);
        } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            h->all_down = 1;
        }
    }
    pthread_mutex_unlock(&h->lock);
}

void fk_admin_watch_begin(fk_admin_watch *w, fk_pool *p, rd_kafka_t *rk)
{
    w->pool = p;
    w->rk = rk;
    pthread_mutex_lock(&p->admin_health.lock);
    w->failures_seen = p->admin_health.failures;
    pthread_mutex_unlock(&p->admin_health.lock);
}

/* An outage counts only once a connection failed again during this wait: "every broker down"
   may be old news, from before the brokers came back. */
int fk_admin_watch_failed(fk_admin_watch *w, const char *what, fk_error *err)
{
    struct admin_health *h = &w->pool->admin_health;
    char brokers[200];
    int failed = 0;
    rd_kafka_poll(w->rk, 0);   /* serves the error callback */
    pthread_mutex_lock(&h->lock);
    if (h->refused) {
        fk_error_set_rd(err, h->refused, "%s: %s", what, h->refusal);
        failed = 1;
    } else if (h->all_down && h->failures != w->failures_seen) {
        fk_brokers_text(w->pool->spec, brokers, sizeof brokers);
        fk_error_set_rd(err, h->failure_code, "%s: no broker of %s can be reached: %s", what, brokers, h->failure);
        failed = 1;
    }
    pthread_mutex_unlock(&h->lock);
    return failed;
}

void fk_admin_watch_answered(fk_admin_watch *w)
{
    struct admin_health *h = &w->pool->admin_health;
    pthread_mutex_lock(&h->lock);
    h->refused = 0;
    h->all_down = 0;
    pthread_mutex_unlock(&h->lock);
}

#define ADMIN_RETRY_PAUSE_MS 50

/* A metadata request cannot be waited for in steps, only sent again: the steps grow, so that a
   slow answer still arrives within one of them. */
rd_kafka_resp_err_t fk_admin_metadata(rd_kafka_t *admin, const struct rd_kafka_metadata **md, int timeout_ms,
                                      const char *what, fk_error *err)
{
    fk_admin_watch w;
    long long deadline = fk_now_ms() + timeout_ms;
    int step = 250;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    fk_admin_watch_begin(&w, rd_kafka_opaque(admin), admin);
    for (;;) {
        long long left = deadline - fk_now_ms();
        if (left <= 0) return RD_KAFKA_RESP_ERR__TIMED_OUT;
        e = rd_kafka_metadata(admin, 1, NULL, md, (int)(left < step ? left : step));
        if (!e) {
            fk_admin_watch_answered(&w);
            return e;
        }
        if (fk_admin_watch_failed(&w, what, err)) return (rd_kafka_resp_err_t)err->rd_err;
        /* a connection lost under the request (_TRANSPORT) is retried like a time-out, once the
           error callback has had the chance to say more */
        if (e != RD_KAFKA_RESP_ERR__TIMED_OUT && e != RD_KAFKA_RESP_ERR__TRANSPORT) {
            fk_error_set_rd(err, e, "%s: %s", what, rd_kafka_err2str(e));
            return e;
        }
        if (e == RD_KAFKA_RESP_ERR__TRANSPORT) fk_sleep_ms(ADMIN_RETRY_PAUSE_MS);
        if (step < 4000) step *= 2;
    }
}

rd_kafka_t *fk_pool_admin(fk_pool *p, fk_error *err)
{
    rd_kafka_conf_t *conf;
    char errstr[512];
    if (p->closed) {
        fk_error_set(err, "_STATE", "kafka pool '%s' is closed", p->spec->code);
        return NULL;
    }
    if (p->admin && p->admin_pid != fk_process_id()) p->admin = NULL;   /* inherited: abandon */
    if (p->admin) return p->admin;
    if (!(conf = fk_pool_conf_new(p->spec, err))) return NULL;
    /* global raw properties only: the admin client sends no records */
    if (!fk_rdkafka_apply(conf, &p->spec->options.rdkafka, "*", err) ||
        !fk_conf_set(conf, "allow.auto.create.topics", "false", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);   /* for on_log: the pool code comes first */
    rd_kafka_conf_set_error_cb(conf, on_admin_error);
    if (!(p->admin = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf);
        fk_error_set(err, "_INVALID_ARG", "kafka pool '%s': cannot create admin client: %s",
                     p->spec->code, errstr);
        return NULL;
    }
    p->admin_pid = fk_process_id();
    return p->admin;
}

rd_kafka_t *fk_pool_admin_hold(fk_pool *p, fk_error *err)
{
    rd_kafka_t *rk = fk_pool_admin(p, err);
    if (rk) __atomic_add_fetch(&p->admin_users, 1, __ATOMIC_ACQ_REL);
    return rk;
}

void fk_pool_admin_release(fk_pool *p)
{
    __atomic_sub_fetch(&p->admin_users, 1, __ATOMIC_ACQ_REL);
}

static void pool_free_resources(fk_pool *p)
{
    pthread_mutex_destroy(&p->admin_health.lock);
    destroy_admin(p);
    fk_stats_clear(&p->stats);
    free(p->dq);
    p->dq = NULL;
    p->dq_count = p->dq_cap = p->dq_head = 0;
}
