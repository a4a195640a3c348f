/* The registry and the builders: fk.new_registry(), fk.new_kafka_consumer_group(),
   fk.new_kafka_topic(). Arguments are checked here; the core checks consistency. */
#include "lfk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct registry_ud { lfk_object head; fk_registry *registry; } registry_ud;
typedef struct group_ud    { lfk_object head; fk_group_spec spec; } group_ud;
typedef struct topic_ud    { lfk_object head; fk_topic_spec spec; } topic_ud;

static fk_registry *check_registry_fn(lua_State *L, const char *fn)
{
    registry_ud *u = lfk_check_object(L, 1, LFK_REGISTRY, fn, "registry");
    return u->registry;
}

fk_registry *lfk_check_registry(lua_State *L, const char *fn)
{
    return check_registry_fn(L, fn);
}


static int new_registry(lua_State *L)
{
    registry_ud *u = lua_newuserdata(L, sizeof *u);
    lfk_object_init(&u->head);
    u->registry = NULL;
    luaL_getmetatable(L, LFK_REGISTRY);
    lua_setmetatable(L, -2);
    if (!(u->registry = fk_registry_new())) return luaL_error(L, "new_registry: out of memory");
    return 1;
}

static int registry_gc(lua_State *L)
{
    registry_ud *u = lfk_finalize(L, 1, LFK_REGISTRY);
    if (!u) return 0;
    fk_registry_free(u->registry);
    u->registry = NULL;
    return 0;
}

static int registry_tostring(lua_State *L)
{
    registry_ud *u = lfk_check_any(L, 1, LFK_REGISTRY, "__tostring");
    fk_registry *r = u->registry;
    if (lfk_is_finalized(u) || !r) {
        lua_pushliteral(L, "fluxakafka.registry (closed)");
        return 1;
    }
    lua_pushfstring(L, "fluxakafka.registry (%d pools, %d consumer groups, %d topics)",
                    (int)r->pool_count, (int)r->group_count, (int)r->topic_count);
    return 1;
}

/* ---- option helpers: each raises with the function and option name ---- */

static const char *opt_string(lua_State *L, int idx, const char *fn, const char *key)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: option '%s' must be a string, got %s", fn, key, luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

static double opt_number(lua_State *L, int idx, const char *fn, const char *key)
{
    double v;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "%s: option '%s' must be a number, got %s", fn, key, luaL_typename(L, idx));
    v = lua_tonumber(L, idx);
    if (!(v >= 0) && strcmp(key, "required_acks") != 0)
        luaL_error(L, "%s: option '%s' must not be negative", fn, key);
    return v;
}

static int opt_int(lua_State *L, int idx, const char *fn, const char *key, double max)
{
    double v = opt_number(L, idx, fn, key);
    if (v != floor(v) || v > max || v < -1)
        luaL_error(L, "%s: option '%s' must be an integer in range, got %f", fn, key, v);
    return (int)v;
}

static double opt_seconds_ms(lua_State *L, int idx, const char *fn, const char *key)
{
    double s = opt_number(L, idx, fn, key);
    if (s > 86400.0 * 365) luaL_error(L, "%s: option '%s' is too large", fn, key);
    return s * 1000.0;
}

static void parse_sasl(lua_State *L, int idx, fk_pool_options *o)
{
    const char *fn = "register_kafka";
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: option 'sasl' must be a table {mechanism=, user=, password=}", fn);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        int v = lua_gettop(L);
        if (strcmp(k, "mechanism") == 0) {
            int m = fk_sasl_mechanism_parse(opt_string(L, v, fn, "sasl.mechanism"));
            if (m < 0)
                luaL_error(L, "%s: option 'sasl.mechanism' must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got '%s'",
                           fn, lua_tostring(L, v));
            o->sasl_mechanism = (fk_sasl_mechanism)m;
        } else if (strcmp(k, "user") == 0) {
            fk_set_string(&o->sasl_user, opt_string(L, v, fn, "sasl.user"));
        } else if (strcmp(k, "password") == 0) {
            fk_set_string(&o->sasl_password, opt_string(L, v, fn, "sasl.password"));
        } else {
            luaL_error(L, "%s: unknown option 'sasl.%s' (known: mechanism, user, password)", fn, k);
        }
        lua_pop(L, 1);
    }
    if (o->sasl_mechanism == FK_SASL_NONE)
        luaL_error(L, "%s: option 'sasl.mechanism' is required", fn);
}

static void parse_tls(lua_State *L, int idx, fk_pool_options *o)
{
    const char *fn = "register_kafka";
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        o->tls.enabled = lua_toboolean(L, idx);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: option 'tls' must be true or a table {ca_file=, cert_file=, key_file=, key_password=, verify=}", fn);
    o->tls.enabled = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        int v = lua_gettop(L);
        if (strcmp(k, "ca_file") == 0) fk_set_string(&o->tls.ca_file, opt_string(L, v, fn, "tls.ca_file"));
        else if (strcmp(k, "cert_file") == 0) fk_set_string(&o->tls.cert_file, opt_string(L, v, fn, "tls.cert_file"));
        else if (strcmp(k, "key_file") == 0) fk_set_string(&o->tls.key_file, opt_string(L, v, fn, "tls.key_file"));
        else if (strcmp(k, "key_password") == 0) fk_set_string(&o->tls.key_password, opt_string(L, v, fn, "tls.key_password"));
        else if (strcmp(k, "verify") == 0) {
            if (lua_type(L, v) != LUA_TBOOLEAN) luaL_error(L, "%s: option 'tls.verify' must be a boolean", fn);
            o->tls.verify = lua_toboolean(L, v);
        } else luaL_error(L, "%s: unknown option 'tls.%s' (known: ca_file, cert_file, key_file, key_password, verify)", fn, k);
        lua_pop(L, 1);
    }
}

/* A table of raw librdkafka properties: string keys; string, number or boolean values
   (converted to librdkafka's text). librdkafka checks them at validate. */
static void parse_rdkafka(lua_State *L, int idx, fk_kvlist *out, const char *what)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s must be a table of librdkafka property names to values, got %s", what,
                   luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char buf[64];
        const char *v;
        if (lua_type(L, -2) != LUA_TSTRING || lua_objlen(L, -2) == 0)
            luaL_error(L, "%s: property names must be non-empty strings", what);
        switch (lua_type(L, -1)) {
        case LUA_TSTRING: v = lua_tostring(L, -1); break;
        case LUA_TBOOLEAN: v = lua_toboolean(L, -1) ? "true" : "false"; break;
        case LUA_TNUMBER: {
            double d = lua_tonumber(L, -1);
            if (d == floor(d) && fabs(d) < 9.2e18) snprintf(buf, sizeof buf, "%lld", (long long)d);
            else snprintf(buf, sizeof buf, "%.17g", d);
            v = buf;
            break;
        }
        default:
            luaL_error(L, "%s: property '%s' must be a string, number or boolean, got %s", what,
                       lua_tostring(L, -2), luaL_typename(L, -1));
            return;
        }
        if (!fk_kvlist_set(out, lua_tostring(L, -2), v)) luaL_error(L, "%s: out of memory", what);
        lua_pop(L, 1);
    }
}

static const char *const compression_names[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };

static const char *const pool_option_names[] = {
    "client_id", "required_acks", "producer_linger", "max_buffered_records", "delivery_timeout",
    "connect_timeout", "sasl", "tls", "ignored_topics", "ignored_consumer_groups", "partitioner",
    "compression", "idempotent", "rdkafka", "statistics_interval", "transactional_id", NULL
};
/* the configuration document's names of the same options, for "did you mean" */
static const char *const pool_option_yaml_names[] = {
    "clientID", "requiredAcks", "producerLingerMs", "maxBufferedRecords", "deliveryTimeoutMs",
    "connectTimeoutMs", "saslMechanism", "tls", "ignoredTopics", "ignoredConsumerGroups", "partitioner",
    "compression", "idempotent", "rdkafka", "statisticsIntervalMs", "transactionalID", NULL
};

/* Fills o from the options table at idx; raises on a wrong type or an unknown key. The
   options are cleared by the caller (also when this raises: see register_kafka). */
static void parse_pool_options(lua_State *L, int idx, fk_pool_options *o)
{
    const char *fn = "register_kafka";
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k;
        int v = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: option names must be strings", fn);
        k = lua_tostring(L, -2);
        if (strcmp(k, "client_id") == 0) fk_set_string(&o->client_id, opt_string(L, v, fn, k));
        else if (strcmp(k, "required_acks") == 0) {
            int a = opt_int(L, v, fn, k, 1);
            o->required_acks = a;
        } else if (strcmp(k, "producer_linger") == 0) {
            o->linger_ms = opt_seconds_ms(L, v, fn, k);
            if (o->linger_ms > FK_MAX_LINGER_MS)
                luaL_error(L, "%s: option 'producer_linger' is in seconds: %f s is above the %d s limit "
                           "(for 5 ms write 0.005)", fn, o->linger_ms / 1000.0, FK_MAX_LINGER_MS / 1000);
        }
        else if (strcmp(k, "max_buffered_records") == 0) o->max_buffered_records = opt_int(L, v, fn, k, 2147483647.0);
        else if (strcmp(k, "delivery_timeout") == 0) o->delivery_timeout_ms = opt_seconds_ms(L, v, fn, k);
        else if (strcmp(k, "connect_timeout") == 0) o->connect_timeout_ms = opt_seconds_ms(L, v, fn, k);
        else if (strcmp(k, "sasl") == 0) parse_sasl(L, v, o);
        else if (strcmp(k, "tls") == 0) parse_tls(L, v, o);
        else if (strcmp(k, "ignored_topics") == 0) lfk_check_string_array(L, v, &o->ignored_topics, "register_kafka: option 'ignored_topics'");
        else if (strcmp(k, "ignored_consumer_groups") == 0) lfk_check_string_array(L, v, &o->ignored_consumer_groups, "register_kafka: option 'ignored_consumer_groups'");
        else if (strcmp(k, "partitioner") == 0) {
            if (!fk_partitioner_valid(opt_string(L, v, fn, k)))
                luaL_error(L, "%s: option 'partitioner' must be one of random, consistent, consistent_random, "
                           "murmur2, murmur2_random, fnv1a, fnv1a_random, got '%s'", fn, lua_tostring(L, v));
            fk_set_string(&o->partitioner, lua_tostring(L, v));
        }
        else if (strcmp(k, "rdkafka") == 0) parse_rdkafka(L, v, &o->rdkafka, "register_kafka: option 'rdkafka'");
        else if (strcmp(k, "statistics_interval") == 0) {
            double ms = ceil(opt_seconds_ms(L, v, fn, k));
            if (ms > 86400000.0) luaL_error(L, "%s: option 'statistics_interval' is at most 86400 seconds", fn);
            o->statistics_interval_ms = (int)ms;
        }
        else if (strcmp(k, "transactional_id") == 0) {
            const char *id = opt_string(L, v, fn, k);
            if (!*id) luaL_error(L, "%s: option 'transactional_id' must be a non-empty string", fn);
            fk_set_string(&o->transactional_id, id);
        }
        else if (strcmp(k, "idempotent") == 0) {
            if (lua_type(L, v) != LUA_TBOOLEAN) luaL_error(L, "%s: option 'idempotent' must be a boolean, got %s", fn, luaL_typename(L, v));
            o->idempotent = lua_toboolean(L, v);
        } else if (strcmp(k, "compression") == 0) {
            const char *c = opt_string(L, v, fn, k);
            int i;
            for (i = 0; compression_names[i] && strcmp(c, compression_names[i]) != 0; i++) {}
            if (!compression_names[i])
                luaL_error(L, "%s: option 'compression' must be none, gzip, snappy, lz4 or zstd, got '%s'", fn, c);
            fk_set_string(&o->compression, c);
        }
        else {
            const char *hint = fk_suggest(k, pool_option_names, pool_option_yaml_names);
            luaL_error(L, "%s: unknown option '%s'%s%s%s (known: client_id, required_acks, producer_linger, "
                       "max_buffered_records, delivery_timeout, connect_timeout, sasl, tls, "
                       "ignored_topics, ignored_consumer_groups, partitioner, compression, idempotent, rdkafka, statistics_interval, "
                       "transactional_id)", fn, k,
                       hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        }
        lua_pop(L, 1);
    }
    if (o->required_acks < -1 || o->required_acks > 1)
        luaL_error(L, "%s: option 'required_acks' must be -1, 0 or 1", fn);
}

/* Options and broker lists live in a userdata while parsing, so that a raise in the middle
   frees them through __gc instead of leaking. */
typedef struct pool_args { fk_pool_options options; fk_strlist brokers; } pool_args;

static int pool_args_gc(lua_State *L)
{
    pool_args *a = lua_touserdata(L, 1);
    fk_pool_options_clear(&a->options);
    fk_strlist_clear(&a->brokers);
    return 0;
}

static int registry_register_kafka(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "register_kafka");
    const char *code;
    pool_args *a;
    fk_error err;

    if (lua_type(L, 2) != LUA_TTABLE)
        return luaL_error(L, "register_kafka: argument #1 'brokers' must be an array of strings, got %s",
                          luaL_typename(L, 2));
    if (lua_type(L, 3) != LUA_TSTRING)
        return luaL_error(L, "register_kafka: argument #2 'code' must be a string, got %s", luaL_typename(L, 3));
    code = lua_tostring(L, 3);
    if (!lua_isnoneornil(L, 4) && lua_type(L, 4) != LUA_TTABLE)
        return luaL_error(L, "register_kafka: argument #3 'options' must be a table or nil, got %s",
                          luaL_typename(L, 4));
    lua_settop(L, 4);
    a = lua_newuserdata(L, sizeof *a);
    memset(a, 0, sizeof *a);
    fk_pool_options_init(&a->options);
    lua_newtable(L);
    lua_pushcfunction(L, pool_args_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lfk_check_string_array(L, 2, &a->brokers, "register_kafka: argument #1 'brokers'");
    if (lua_istable(L, 4)) parse_pool_options(L, 4, &a->options);
    if (!fk_registry_add_pool(r, code, &a->brokers, &a->options, &err)) return lfk_raise(L, &err);
    lua_settop(L, 1);
    return 1;
}

/* ---- consumer group builder ---- */

static group_ud *check_group_fn(lua_State *L, int idx, const char *fn)
{
    return lfk_check_object(L, idx, LFK_GROUP_BUILDER, fn, "consumer group builder");
}


static int new_kafka_consumer_group(lua_State *L)
{
    const char *name = lfk_check_string(L, 1, "new_kafka_consumer_group", 1, "name", NULL);
    const char *pool = lfk_check_string(L, 2, "new_kafka_consumer_group", 2, "pool", NULL);
    group_ud *g = lua_newuserdata(L, sizeof *g);
    lfk_object_init(&g->head);
    fk_group_spec_init(&g->spec);
    luaL_getmetatable(L, LFK_GROUP_BUILDER);
    lua_setmetatable(L, -2);
    if (!*name) return luaL_error(L, "new_kafka_consumer_group: argument #1 'name' must not be empty");
    if (!*pool) return luaL_error(L, "new_kafka_consumer_group: argument #2 'pool' must not be empty");
    if (!fk_set_string(&g->spec.name, name) || !fk_set_string(&g->spec.pool, pool))
        return luaL_error(L, "new_kafka_consumer_group: out of memory");
    return 1;
}

static int group_gc(lua_State *L)
{
    group_ud *g = lfk_finalize(L, 1, LFK_GROUP_BUILDER);
    if (g) fk_group_spec_clear(&g->spec);
    return 0;
}

static int group_topics(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "topics");
    int i, n = lua_gettop(L);
    if (n < 2) return luaL_error(L, "topics: expected at least one topic name");
    for (i = 2; i <= n; i++) {
        if (lua_type(L, i) != LUA_TSTRING || lua_objlen(L, i) == 0)
            return luaL_error(L, "topics: argument #%d must be a non-empty string, got %s", i - 1,
                              luaL_typename(L, i));
        if (!fk_strlist_contains(&g->spec.topics, lua_tostring(L, i)) &&
            !fk_strlist_push(&g->spec.topics, lua_tostring(L, i)))
            return luaL_error(L, "topics: out of memory");
    }
    lua_settop(L, 1);
    return 1;
}

/* A duration in seconds within librdkafka's range; the message names the method, the unit
   and the range, since 30000 for 30 s is the usual mistake. min_ms 0 also allows 0 (off). */
static int checked_ms_int(lua_State *L, const char *what, int min_ms, int max_ms, const char *zero)
{
    double s, ms;
    if (lua_type(L, 2) != LUA_TNUMBER)
        luaL_error(L, "%s: expected a number of seconds, got %s", what, luaL_typename(L, 2));
    s = lua_tonumber(L, 2);
    ms = ceil(s * 1000.0);
    if (!(s >= 0) || ms > max_ms || (ms < min_ms && !(zero && s == 0)))
        luaL_error(L, "%s: %f seconds is out of range: the unit is seconds, from %f to %f%s%s",
                   what, s, min_ms / 1000.0, max_ms / 1000.0, zero ? "; 0 means " : "", zero ? zero : "");
    return (int)ms;
}

static int group_session_timeout(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "session_timeout");   /* self first: a closed object says so */
    g->spec.session_timeout_ms = checked_ms_int(L, "session_timeout", 1, FK_MAX_SESSION_TIMEOUT_MS, "the default (45 s)");
    lua_settop(L, 1);
    return 1;
}

static int group_rebalance_timeout(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "rebalance_timeout");   /* self first: a closed object says so */
    g->spec.rebalance_timeout_ms = checked_ms_int(L, "rebalance_timeout", 1, FK_MAX_REBALANCE_TIMEOUT_MS, "the default (300 s)");
    lua_settop(L, 1);
    return 1;
}

static int group_auto_commit_interval(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "auto_commit_interval");   /* self first: a closed object says so */
    g->spec.auto_commit_interval_ms = checked_ms_int(L, "auto_commit_interval", 1, FK_MAX_AUTO_COMMIT_INTERVAL_MS, "manual commits");
    lua_settop(L, 1);
    return 1;
}

static int group_fetch_max_bytes(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "fetch_max_bytes");
    double n;
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "fetch_max_bytes: expected a number of bytes, got %s", luaL_typename(L, 2));
    n = lua_tonumber(L, 2);
    if (!(n >= 0) || n != floor(n) || n > 2147483135.0)
        return luaL_error(L, "fetch_max_bytes: expected an integer between 0 and 2147483135, got %f", n);
    g->spec.fetch_max_bytes = (int)n;
    lua_settop(L, 1);
    return 1;
}

static int group_rdkafka(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "rdkafka");
    parse_rdkafka(L, 2, &g->spec.rdkafka, "rdkafka: argument #1 'properties'");
    lua_settop(L, 1);
    return 1;
}

static int group_start_offset(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "start_offset");
    const char *v = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
    if (lua_type(L, 2) == LUA_TNUMBER) {
        /* a record timestamp: milliseconds since the epoch, like record.timestamp */
        double ms = lua_tonumber(L, 2);
        if (!(ms > 0) || ms != floor(ms) || ms > 9.2e18)
            return luaL_error(L, "start_offset: a timestamp must be a whole number of milliseconds since "
                              "the epoch, above 0 (e.g. (os.time() - 3600) * 1000), got %s", lua_tostring(L, 2));
        g->spec.start_timestamp_ms = (int64_t)ms;
        g->spec.start_latest = 0;
        lua_settop(L, 1);
        return 1;
    }
    if (strcmp(v, "earliest") != 0 && strcmp(v, "latest") != 0)
        return luaL_error(L, "start_offset: expected \"earliest\", \"latest\" or a timestamp in milliseconds, got %s",
                          lua_type(L, 2) == LUA_TSTRING ? v : luaL_typename(L, 2));
    g->spec.start_latest = strcmp(v, "latest") == 0;
    g->spec.start_timestamp_ms = 0;
    lua_settop(L, 1);
    return 1;
}

/* builder:_identity() -> name, pool (for the Lua part, which keeps the callbacks) */
static int group_identity(lua_State *L)
{
    group_ud *g = check_group_fn(L, 1, "_identity");
    lua_pushstring(L, g->spec.name);
    lua_pushstring(L, g->spec.pool);
    return 2;
}

static int group_statistics_interval(lua_State *L)
{
    check_group_fn(L, 1, "statistics_interval")->spec.statistics_interval_ms =
        checked_ms_int(L, "statistics_interval", 0, 86400000, "no statistics");
    lua_settop(L, 1);
    return 1;
}

static int group_tostring(lua_State *L)
{
    group_ud *g = lfk_check_any(L, 1, LFK_GROUP_BUILDER, "__tostring");
    if (lfk_is_finalized(g) || !g->spec.name || !g->spec.pool)
        lua_pushliteral(L, "fluxakafka.consumer_group_builder (closed)");
    else
        lua_pushfstring(L, "fluxakafka.consumer_group_builder(%s@%s)", g->spec.name, g->spec.pool);
    return 1;
}

static int registry_register_kafka_consumer_group(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "register_kafka_consumer_group");
    group_ud *g = check_group_fn(L, 2, "register_kafka_consumer_group");
    fk_error err;
    if (!fk_registry_add_group(r, &g->spec, &err)) return lfk_raise(L, &err);
    lua_settop(L, 1);
    return 1;
}

/* ---- topic builder ---- */

static topic_ud *check_topic_fn(lua_State *L, int idx, const char *fn)
{
    return lfk_check_object(L, idx, LFK_TOPIC_BUILDER, fn, "topic builder");
}


static int new_kafka_topic(lua_State *L)
{
    const char *name = lfk_check_string(L, 1, "new_kafka_topic", 1, "name", NULL);
    const char *pool = lfk_check_string(L, 2, "new_kafka_topic", 2, "pool", NULL);
    topic_ud *t = lua_newuserdata(L, sizeof *t);
    lfk_object_init(&t->head);
    fk_topic_spec_init(&t->spec);
    luaL_getmetatable(L, LFK_TOPIC_BUILDER);
    lua_setmetatable(L, -2);
    if (!*pool) return luaL_error(L, "new_kafka_topic: argument #2 'pool' must not be empty");
    if (!fk_set_string(&t->spec.name, name) || !fk_set_string(&t->spec.pool, pool))
        return luaL_error(L, "new_kafka_topic: out of memory");
    return 1;
}

static int topic_gc(lua_State *L)
{
    topic_ud *t = lfk_finalize(L, 1, LFK_TOPIC_BUILDER);
    if (t) fk_topic_spec_clear(&t->spec);
    return 0;
}

static double check_count(lua_State *L, const char *what, double min, double max)
{
    double n;
    if (lua_type(L, 2) != LUA_TNUMBER)
        luaL_error(L, "%s: expected a number, got %s", what, luaL_typename(L, 2));
    n = lua_tonumber(L, 2);
    if (n != floor(n) || n < min || n > max)
        luaL_error(L, "%s: expected an integer between %.0f and %.0f, got %f", what, min, max, n);
    return n;
}

static int topic_partitions(lua_State *L)
{
    topic_ud *t = check_topic_fn(L, 1, "partitions");   /* self first: a closed object says so */
    t->spec.partitions = (int32_t)check_count(L, "partitions", 1, 2147483647.0);
    lua_settop(L, 1);
    return 1;
}

static int topic_replication_factor(lua_State *L)
{
    topic_ud *t = check_topic_fn(L, 1, "replication_factor");   /* self first: a closed object says so */
    t->spec.replication_factor = (int16_t)check_count(L, "replication_factor", 1, 32767);
    lua_settop(L, 1);
    return 1;
}

static int set_config(lua_State *L, topic_ud *t, const char *key, const char *value)
{
    if (!fk_kvlist_set(&t->spec.configs, key, value)) return luaL_error(L, "config: out of memory");
    lua_settop(L, 1);
    return 1;
}

static int set_config_number(lua_State *L, const char *fn, const char *key, double min, double max)
{
    topic_ud *t = check_topic_fn(L, 1, fn);
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f", check_count(L, fn, min, max));
    return set_config(L, t, key, buf);
}

static int topic_retention_ms(lua_State *L) { return set_config_number(L, "retention_ms", "retention.ms", -1, 9.2e18); }
static int topic_retention_bytes(lua_State *L) { return set_config_number(L, "retention_bytes", "retention.bytes", -1, 9.2e18); }
static int topic_max_message_bytes(lua_State *L) { return set_config_number(L, "max_message_bytes", "max.message.bytes", 0, 2147483647.0); }
static int topic_min_insync_replicas(lua_State *L) { return set_config_number(L, "min_insync_replicas", "min.insync.replicas", 1, 2147483647.0); }

static int topic_cleanup_policy(lua_State *L)
{
    topic_ud *t = check_topic_fn(L, 1, "cleanup_policy");
    const char *v = lfk_check_string(L, 2, "cleanup_policy", 1, "policy", NULL);
    if (strcmp(v, "delete") && strcmp(v, "compact") && strcmp(v, "delete,compact") && strcmp(v, "compact,delete"))
        return luaL_error(L, "cleanup_policy: expected \"delete\", \"compact\" or \"delete,compact\", got '%s'", v);
    return set_config(L, t, "cleanup.policy", v);
}

static int topic_compression_type(lua_State *L)
{
    static const char *const known[] = { "none", "gzip", "snappy", "lz4", "zstd", "uncompressed", "producer", NULL };
    topic_ud *t = check_topic_fn(L, 1, "compression_type");
    const char *v = lfk_check_string(L, 2, "compression_type", 1, "type", NULL);
    int i;
    for (i = 0; known[i]; i++)
        if (strcmp(v, known[i]) == 0) return set_config(L, t, "compression.type", v);
    return luaL_error(L, "compression_type: expected none, gzip, snappy, lz4, zstd, uncompressed or producer, got '%s'", v);
}

static int topic_config(lua_State *L)
{
    topic_ud *t = check_topic_fn(L, 1, "config");
    const char *k, *v;
    if (lua_type(L, 2) != LUA_TSTRING || lua_objlen(L, 2) == 0)
        return luaL_error(L, "config: argument #1 'key' must be a non-empty string");
    if (lua_type(L, 3) != LUA_TSTRING && lua_type(L, 3) != LUA_TNUMBER)
        return luaL_error(L, "config: argument #2 'value' for '%s' must be a string", lua_tostring(L, 2));
    k = lua_tostring(L, 2);
    v = lua_tostring(L, 3);
    return set_config(L, t, k, v);
}

static int topic_tostring(lua_State *L)
{
    topic_ud *t = lfk_check_any(L, 1, LFK_TOPIC_BUILDER, "__tostring");
    if (lfk_is_finalized(t) || !t->spec.name || !t->spec.pool)
        lua_pushliteral(L, "fluxakafka.topic_builder (closed)");
    else
        lua_pushfstring(L, "fluxakafka.topic_builder(%s@%s)", t->spec.name, t->spec.pool);
    return 1;
}

static int registry_register_kafka_topic(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "register_kafka_topic");
    topic_ud *t = check_topic_fn(L, 2, "register_kafka_topic");
    fk_error err;
    if (!fk_registry_add_topic(r, &t->spec, &err)) return lfk_raise(L, &err);
    lua_settop(L, 1);
    return 1;
}

static int registry_register_async_flush(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "register_async_flush");
    const char *pool = lfk_check_string(L, 2, "register_async_flush", 1, "pool", NULL);
    double partitions = 1;
    if (!lua_isnoneornil(L, 3)) {
        if (!lua_istable(L, 3))
            return luaL_error(L, "register_async_flush: argument #2 'options' must be a table or nil, got %s",
                              luaL_typename(L, 3));
        lua_getfield(L, 3, "topic_partitions");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 1 ||
                lua_tonumber(L, -1) != floor(lua_tonumber(L, -1)))
                return luaL_error(L, "register_async_flush: option 'topic_partitions' must be a positive integer");
            partitions = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    if (!fk_set_string(&r->async_flush_pool, pool))
        return luaL_error(L, "register_async_flush: out of memory");
    r->async_flush_partitions = (int32_t)partitions;
    lua_settop(L, 1);
    return 1;
}

/* registry:_set_brokers(brokers): every pool registered so far uses these brokers (the
   command line's --brokers). */
static int registry_set_brokers(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "_set_brokers");
    fk_strlist list = { 0 };
    size_t i;
    lfk_check_string_array(L, 2, &list, "_set_brokers: argument #1 'brokers'");
    if (list.count == 0) {
        fk_strlist_clear(&list);
        return luaL_error(L, "_set_brokers: argument #1 'brokers' must not be empty");
    }
    for (i = 0; i < r->pool_count; i++) {
        fk_strlist copy = { 0 };
        if (!fk_strlist_copy(&copy, &list)) {
            fk_strlist_clear(&copy);
            fk_strlist_clear(&list);
            return luaL_error(L, "_set_brokers: out of memory");
        }
        fk_strlist_clear(&r->pools[i].brokers);
        r->pools[i].brokers = copy;
    }
    fk_strlist_clear(&list);
    lua_settop(L, 1);
    return 1;
}

/* registry:_add_ignored(topic_patterns, group_patterns): appended to every pool registered
   so far (the command line's --ignore-topic / --ignore-group). */
static int registry_add_ignored(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "_add_ignored");
    fk_strlist topics = { 0 }, groups = { 0 };
    size_t i;
    int ok = 1;
    lfk_check_strings(L, 2, "_add_ignored: argument #1 'topics'");
    lfk_check_strings(L, 3, "_add_ignored: argument #2 'groups'");
    lfk_check_string_array(L, 2, &topics, "_add_ignored: argument #1 'topics'");
    lfk_check_string_array(L, 3, &groups, "_add_ignored: argument #2 'groups'");
    for (i = 0; i < r->pool_count && ok; i++)
        ok = fk_strlist_copy(&r->pools[i].options.ignored_topics, &topics) &&
             fk_strlist_copy(&r->pools[i].options.ignored_consumer_groups, &groups);
    fk_strlist_clear(&topics);
    fk_strlist_clear(&groups);
    if (!ok) return luaL_error(L, "_add_ignored: out of memory");
    lua_settop(L, 1);
    return 1;
}

static int registry_validate(lua_State *L)
{
    fk_registry *r = check_registry_fn(L, "validate");
    fk_error err;
    fk_engine *e = fk_engine_new(r, &err);
    if (!e) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lfk_push_engine(L, e);
    return 1;
}

static const luaL_Reg registry_methods[] = {
    { "register_kafka", registry_register_kafka },
    { "register_kafka_consumer_group", registry_register_kafka_consumer_group },
    { "register_kafka_topic", registry_register_kafka_topic },
    { "register_async_flush", registry_register_async_flush },
    { "validate", registry_validate },
    { "_set_brokers", registry_set_brokers },
    { "_add_ignored", registry_add_ignored },
    { NULL, NULL }
};
static const luaL_Reg registry_meta[] = {
    { "__gc", registry_gc }, { "__tostring", registry_tostring }, { NULL, NULL }
};

static const luaL_Reg group_methods[] = {
    { "topics", group_topics },
    { "session_timeout", group_session_timeout },
    { "rebalance_timeout", group_rebalance_timeout },
    { "fetch_max_bytes", group_fetch_max_bytes },
    { "auto_commit_interval", group_auto_commit_interval },
    { "rdkafka", group_rdkafka },
    { "start_offset", group_start_offset },
    { "_identity", group_identity },
    { "statistics_interval", group_statistics_interval },
    { NULL, NULL }
};
static const luaL_Reg group_meta[] = {
    { "__gc", group_gc }, { "__tostring", group_tostring }, { NULL, NULL }
};

static const luaL_Reg topic_methods[] = {
    { "partitions", topic_partitions },
    { "replication_factor", topic_replication_factor },
    { "retention_ms", topic_retention_ms },
    { "retention_bytes", topic_retention_bytes },
    { "max_message_bytes", topic_max_message_bytes },
    { "cleanup_policy", topic_cleanup_policy },
    { "min_insync_replicas", topic_min_insync_replicas },
    { "compression_type", topic_compression_type },
    { "config", topic_config },
    { NULL, NULL }
};
static const luaL_Reg topic_meta[] = {
    { "__gc", topic_gc }, { "__tostring", topic_tostring }, { NULL, NULL }
};

void lfk_open_registry(lua_State *L)
{
    lfk_new_class(L, LFK_REGISTRY, registry_methods, registry_meta, "registry_methods");
    lfk_new_class(L, LFK_GROUP_BUILDER, group_methods, group_meta, "consumer_group_builder_methods");
    lfk_new_class(L, LFK_TOPIC_BUILDER, topic_methods, topic_meta, "topic_builder_methods");
    lua_pushcfunction(L, new_registry);
    lua_setfield(L, -2, "new_registry");
    lua_pushcfunction(L, new_kafka_consumer_group);
    lua_setfield(L, -2, "new_kafka_consumer_group");
    lua_pushcfunction(L, new_kafka_topic);
    lua_setfield(L, -2, "new_kafka_topic");
}
