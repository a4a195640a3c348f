/* The registry: what the user declares, checked once by fk_registry_validate. */
#include "fk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fk_registry *fk_registry_new(void)
{
    return calloc(1, sizeof(fk_registry));
}

void fk_registry_free(fk_registry *r)
{
    size_t i;
    if (!r) return;
    for (i = 0; i < r->pool_count; i++) {
        free(r->pools[i].code);
        fk_strlist_clear(&r->pools[i].brokers);
        fk_pool_options_clear(&r->pools[i].options);
    }
    for (i = 0; i < r->group_count; i++) fk_group_spec_clear(&r->groups[i]);
    for (i = 0; i < r->topic_count; i++) fk_topic_spec_clear(&r->topics[i]);
    free(r->pools);
    free(r->groups);
    free(r->topics);
    free(r->async_flush_pool);
    free(r);
}

static int nonempty(const char *s) { return s && *s; }

int fk_registry_add_pool(fk_registry *r, const char *code, const fk_strlist *brokers,
                         const fk_pool_options *options, fk_error *err)
{
    fk_pool_spec *p;
    fk_pool_options defaults;
    size_t i;

    if (!nonempty(code)) {
        fk_error_set(err, NULL, "register_kafka: the pool code must be a non-empty string");
        return 0;
    }
    if (!brokers || brokers->count == 0) {
        fk_error_set(err, NULL, "register_kafka: pool '%s' needs at least one broker", code);
        return 0;
    }
    for (i = 0; i < brokers->count; i++) {
        if (!nonempty(brokers->items[i])) {
            fk_error_set(err, NULL, "register_kafka: pool '%s' has an empty broker address", code);
            return 0;
        }
    }
    if (!options) {
        fk_pool_options_init(&defaults);
        options = &defaults;
    }
    if (options->required_acks < -1 || options->required_acks > 1) {
        fk_error_set(err, NULL, "register_kafka: pool '%s': required_acks must be -1, 0 or 1, got %d",
                     code, options->required_acks);
        return 0;
    }
    if (options->linger_ms < 0 || options->max_buffered_records < 0 ||
        options->delivery_timeout_ms < 0 || options->connect_timeout_ms < 0) {
        fk_error_set(err, NULL, "register_kafka: pool '%s': durations and sizes must not be negative",
                     code);
        return 0;
    }
    if (options->linger_ms > FK_MAX_LINGER_MS) {
        /* librdkafka takes up to 900 s; more than a second is almost always milliseconds
           written where seconds are meant (producer_linger = 5 for 5 ms) */
        fk_error_set(err, NULL, "register_kafka: pool '%s': producer_linger of %g s is above the %d s limit "
                     "(the Lua option is in seconds: 5 ms is 0.005; producerLingerMs is in milliseconds)",
                     code, options->linger_ms / 1000.0, FK_MAX_LINGER_MS / 1000);
        return 0;
    }
    if (options->sasl_mechanism != FK_SASL_NONE &&
        (!nonempty(options->sasl_user) || !options->sasl_password)) {
        fk_error_set(err, NULL, "register_kafka: pool '%s': SASL %s needs a user and a password",
                     code, fk_sasl_mechanism_name(options->sasl_mechanism));
        return 0;
    }
    if (!fk_grow((void **)&r->pools, &r->pool_cap, r->pool_count, sizeof *r->pools)) goto oom;
    p = &r->pools[r->pool_count];
    memset(p, 0, sizeof *p);
    if (!(p->code = fk_strdup(code)) || !fk_strlist_copy(&p->brokers, brokers) ||
        !fk_pool_options_copy(&p->options, options)) {
        free(p->code);
        fk_strlist_clear(&p->brokers);
        goto oom;
    }
    r->pool_count++;
    return 1;
oom:
    fk_error_set(err, "_NO_MEMORY", "register_kafka: out of memory");
    return 0;
}

int fk_registry_add_group(fk_registry *r, const fk_group_spec *g, fk_error *err)
{
    if (!nonempty(g->name) || !nonempty(g->pool)) {
        fk_error_set(err, NULL, "register_kafka_consumer_group: the group name and pool code must be non-empty");
        return 0;
    }
    if (g->session_timeout_ms < 0 || g->rebalance_timeout_ms < 0 || g->fetch_max_bytes < 0 ||
        g->auto_commit_interval_ms < 0) {
        fk_error_set(err, NULL, "register_kafka_consumer_group: group '%s': durations and sizes must not be negative",
                     g->name);
        return 0;
    }
    if (!fk_grow((void **)&r->groups, &r->group_cap, r->group_count, sizeof *r->groups) ||
        !fk_group_spec_copy(&r->groups[r->group_count], g)) {
        fk_error_set(err, "_NO_MEMORY", "register_kafka_consumer_group: out of memory");
        return 0;
    }
    r->group_count++;
    return 1;
}

int fk_registry_add_topic(fk_registry *r, const fk_topic_spec *t, fk_error *err)
{
    if (!nonempty(t->pool)) {
        fk_error_set(err, NULL, "register_kafka_topic: the pool code must be non-empty");
        return 0;
    }
    if (!fk_topic_name_valid(t->name, err)) return 0;
    if (t->partitions < 0 || t->replication_factor < 0) {
        fk_error_set(err, NULL, "register_kafka_topic: topic '%s': partitions and replication factor must not be negative",
                     t->name);
        return 0;
    }
    if (!fk_grow((void **)&r->topics, &r->topic_cap, r->topic_count, sizeof *r->topics) ||
        !fk_topic_spec_copy(&r->topics[r->topic_count], t)) {
        fk_error_set(err, "_NO_MEMORY", "register_kafka_topic: out of memory");
        return 0;
    }
    r->topic_count++;
    return 1;
}

/* Appends count items of item_size from src to the dst array. */
static int append_items(void **dst, size_t *dst_count, size_t *dst_cap, void *src,
                        size_t count, size_t item_size)
{
    while (*dst_cap < *dst_count + count)
        if (!fk_grow(dst, dst_cap, *dst_cap, item_size)) return 0;
    if (count) memcpy((char *)*dst + *dst_count * item_size, src, count * item_size);
    *dst_count += count;
    return 1;
}

int fk_registry_merge(fk_registry *dst, fk_registry *src, fk_error *err)
{
    /* Reserve everything first so a failure leaves both registries as they were. */
    size_t pc = dst->pool_count, gc = dst->group_count, tc = dst->topic_count;
    if (!append_items((void **)&dst->pools, &dst->pool_count, &dst->pool_cap, src->pools,
                      src->pool_count, sizeof *src->pools) ||
        !append_items((void **)&dst->groups, &dst->group_count, &dst->group_cap, src->groups,
                      src->group_count, sizeof *src->groups) ||
        !append_items((void **)&dst->topics, &dst->topic_count, &dst->topic_cap, src->topics,
                      src->topic_count, sizeof *src->topics)) {
        dst->pool_count = pc;
        dst->group_count = gc;
        dst->topic_count = tc;
        fk_error_set(err, "_NO_MEMORY", "out of memory while merging a configuration");
        return 0;
    }
    src->pool_count = src->group_count = src->topic_count = 0;
    if (src->async_flush_pool) {
        free(dst->async_flush_pool);
        dst->async_flush_pool = src->async_flush_pool;
        dst->async_flush_partitions = src->async_flush_partitions;
        src->async_flush_pool = NULL;
    }
    return 1;
}

const fk_pool_spec *fk_registry_find_pool(const fk_registry *r, const char *code)
{
    size_t i;
    for (i = 0; i < r->pool_count; i++)
        if (strcmp(r->pools[i].code, code) == 0) return &r->pools[i];
    return NULL;
}

/* The properties KIP-848's consumer protocol takes from the broker: librdkafka refuses a client
   that sets them, at creation, with a message that names no option of ours. */
static const char *const broker_side_props[] = {
    "partition.assignment.strategy", "heartbeat.interval.ms", "group.protocol.type", NULL
};

static const char *broker_side_prop_in(const fk_kvlist *props)
{
    size_t i, j;
    for (i = 0; i < props->count; i++)
        for (j = 0; broker_side_props[j]; j++)
            if (strcmp(props->keys[i], broker_side_props[j]) == 0) return broker_side_props[j];
    return NULL;
}

static int group_protocol_valid(const fk_group_spec *g, const fk_pool_spec *pool, const char *owner, fk_error *err)
{
    const char *prop;
    if (g->group_protocol != FK_GROUP_PROTOCOL_CONSUMER) return 1;
    if (rd_kafka_version() < FK_MIN_RDKAFKA_CONSUMER_PROTOCOL) {
        fk_error_set(err, "_INVALID_ARG", "%s: group_protocol 'consumer' (KIP-848) needs librdkafka 2.12.0 or later; "
                     "this process runs librdkafka %s (README: \"Kafka versions and librdkafka\")",
                     owner, rd_kafka_version_str());
        return 0;
    }
    if (g->session_timeout_ms > 0) {
        fk_error_set(err, "_INVALID_ARG", "%s: session_timeout cannot be set with group_protocol 'consumer': "
                     "the broker decides it (group.consumer.session.timeout.ms)", owner);
        return 0;
    }
    if ((prop = broker_side_prop_in(&g->rdkafka)) || (pool && (prop = broker_side_prop_in(&pool->options.rdkafka)))) {
        fk_error_set(err, "_INVALID_ARG", "%s: rdkafka property '%s'%s cannot be set with group_protocol 'consumer': "
                     "the broker assigns partitions and paces heartbeats in that protocol", owner, prop,
                     broker_side_prop_in(&g->rdkafka) ? "" : " (of the pool)");
        return 0;
    }
    return 1;
}

int fk_registry_validate(const fk_registry *r, fk_error *err)
{
    size_t i, j;
    char owner[512];
    for (i = 0; i < r->pool_count; i++) {
        snprintf(owner, sizeof owner, "kafka pool '%.300s'", r->pools[i].code);
        if (!fk_rdkafka_check(&r->pools[i].options.rdkafka, 0, owner, err)) return 0;
        if (r->pools[i].options.statistics_interval_ms > 86400000) {
            fk_error_set(err, NULL, "%s: the statistics interval is at most 86400000 ms", owner);
            return 0;
        }
        if (r->pools[i].options.transactional_id) {
            if (r->pools[i].options.required_acks != -1) {
                fk_error_set(err, NULL, "%s: transactions (transactional_id) need required_acks = -1 (all), got %d",
                             owner, r->pools[i].options.required_acks);
                return 0;
            }
            for (j = 0; j < i; j++)
                if (r->pools[j].options.transactional_id &&
                    strcmp(r->pools[j].options.transactional_id, r->pools[i].options.transactional_id) == 0) {
                    /* the second producer to start would fence the first one's transactions */
                    fk_error_set(err, NULL, "%s: transactional_id '%.100s' is also the one of pool '%.100s' "
                                 "(each transactional producer needs its own)", owner,
                                 r->pools[i].options.transactional_id, r->pools[j].code);
                    return 0;
                }
        }
        if (r->pools[i].options.idempotent && r->pools[i].options.required_acks != -1) {
            fk_error_set(err, NULL, "%s: idempotent producers need required_acks = -1 (all), got %d",
                         owner, r->pools[i].options.required_acks);
            return 0;
        }
        if ((r->pools[i].options.idempotent || r->pools[i].options.transactional_id) &&
            r->pools[i].options.max_in_flight > FK_MAX_IDEMPOTENT_IN_FLIGHT) {
            /* librdkafka keeps ordering and exactly-once only up to 5 */
            fk_error_set(err, NULL, "%s: idempotent and transactional producers allow max_in_flight of at most %d, "
                         "got %d", owner, FK_MAX_IDEMPOTENT_IN_FLIGHT, r->pools[i].options.max_in_flight);
            return 0;
        }
    }
    for (i = 0; i < r->group_count; i++) {
        snprintf(owner, sizeof owner, "kafka consumer group '%.190s' of pool '%.190s'",
                 r->groups[i].name, r->groups[i].pool);
        if (!fk_rdkafka_check(&r->groups[i].rdkafka, 1, owner, err) ||
            !group_protocol_valid(&r->groups[i], fk_registry_find_pool(r, r->groups[i].pool), owner, err))
            return 0;
    }
    for (i = 0; i < r->pool_count; i++)
        for (j = 0; j < i; j++)
            if (strcmp(r->pools[i].code, r->pools[j].code) == 0) {
                fk_error_set(err, NULL, "kafka pool '%s' is registered more than once",
                             r->pools[i].code);
                return 0;
            }
    for (i = 0; i < r->group_count; i++) {
        const fk_group_spec *g = &r->groups[i];
        if (!fk_registry_find_pool(r, g->pool)) {
            fk_error_set(err, NULL, "kafka consumer group '%s' uses unknown pool '%s'",
                         g->name, g->pool);
            return 0;
        }
        if (g->topics.count == 0) {
            fk_error_set(err, NULL, "kafka consumer group '%s' of pool '%s' has no topics",
                         g->name, g->pool);
            return 0;
        }
        for (j = 0; j < i; j++)
            if (strcmp(g->name, r->groups[j].name) == 0 && strcmp(g->pool, r->groups[j].pool) == 0) {
                fk_error_set(err, NULL, "kafka consumer group '%s' is registered more than once in pool '%s'",
                             g->name, g->pool);
                return 0;
            }
    }
    for (i = 0; i < r->topic_count; i++) {
        const fk_topic_spec *t = &r->topics[i];
        if (!fk_registry_find_pool(r, t->pool)) {
            fk_error_set(err, NULL, "kafka topic '%s' uses unknown pool '%s'", t->name, t->pool);
            return 0;
        }
        for (j = 0; j < i; j++)
            if (strcmp(t->name, r->topics[j].name) == 0 && strcmp(t->pool, r->topics[j].pool) == 0) {
                fk_error_set(err, NULL, "kafka topic '%s' is registered more than once in pool '%s'",
                             t->name, t->pool);
                return 0;
            }
    }
    if (r->async_flush_pool && !fk_registry_find_pool(r, r->async_flush_pool)) {
        fk_error_set(err, NULL, "async flush uses unknown kafka pool '%s'", r->async_flush_pool);
        return 0;
    }
    return 1;
}

int fk_topic_name_valid(const char *name, fk_error *err)
{
    size_t n, i;
    if (!name || !*name) {
        fk_error_set(err, "INVALID_TOPIC_EXCEPTION", "topic name must be a non-empty string");
        return 0;
    }
    n = strlen(name);
    if (n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        fk_error_set(err, "INVALID_TOPIC_EXCEPTION", "topic name '%.300s' is not a valid Kafka topic name", name);
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            fk_error_set(err, "INVALID_TOPIC_EXCEPTION",
                         "topic name '%.300s' is not a valid Kafka topic name (allowed: letters, digits, '.', '_', '-')",
                         name);
            return 0;
        }
    }
    return 1;
}
