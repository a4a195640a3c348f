/* The registry and the builders: fk.new_registry(), fk.new_kafka_consumer_group(),
   fk.new_kafka_topic(). Arguments are checked here; the core checks consistency. */
#include "lfk.h"
#include "../fk_options.h"

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
    if (!(u->registry = fk_registry_new())) return lfk_error(L, "new_registry: out of memory");
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
        return lfk_error(L, "register_kafka: argument #1 'brokers' must be an array of strings, got %s",
                         luaL_typename(L, 2));
    if (lua_type(L, 3) != LUA_TSTRING)
        return lfk_error(L, "register_kafka: argument #2 'code' must be a string, got %s", luaL_typename(L, 3));
    code = lua_tostring(L, 3);
    if (!lua_isnoneornil(L, 4) && lua_type(L, 4) != LUA_TTABLE)
        return lfk_error(L, "register_kafka: argument #3 'options' must be a table or nil, got %s",
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
    if (lua_istable(L, 4)) lfk_read_options(L, 4, fk_pool_option_rows, &a->options);
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
    if (!*name) return lfk_error(L, "new_kafka_consumer_group: argument #1 'name' must not be empty");
    if (!*pool) return lfk_error(L, "new_kafka_consumer_group: argument #2 'pool' must not be empty");
    if (!fk_set_string(&g->spec.name, name) || !fk_set_string(&g->spec.pool, pool))
        return lfk_error(L, "new_kafka_consumer_group: out of memory");
    return 1;
}

static int group_gc(lua_State *L)
{
    group_ud *g = lfk_finalize(L, 1, LFK_GROUP_BUILDER);
    if (g) fk_group_spec_clear(&g->spec);
    return 0;
}

/* builder:session_timeout(seconds), ...: one setter per row of fk_group_option_rows */
static int group_option(lua_State *L)
{
    const fk_option *row = lua_touserdata(L, lua_upvalueindex(1));
    group_ud *g = check_group_fn(L, 1, row->lua);   /* self first: a closed object says so */
    lfk_set_option_by_method(L, row, &g->spec);
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
    if (!*pool) return lfk_error(L, "new_kafka_topic: argument #2 'pool' must not be empty");
    if (!fk_set_string(&t->spec.name, name) || !fk_set_string(&t->spec.pool, pool))
        return lfk_error(L, "new_kafka_topic: out of memory");
    return 1;
}

static int topic_gc(lua_State *L)
{
    topic_ud *t = lfk_finalize(L, 1, LFK_TOPIC_BUILDER);
    if (t) fk_topic_spec_clear(&t->spec);
    return 0;
}

/* topic:partitions(n), topic:retention_ms(ms), ...: one setter per row of fk_topic_option_rows */
static int topic_option(lua_State *L)
{
    const fk_option *row = lua_touserdata(L, lua_upvalueindex(1));
    topic_ud *t = check_topic_fn(L, 1, row->lua);   /* self first: a closed object says so */
    lfk_set_option_by_method(L, row, &t->spec);
    lua_settop(L, 1);
    return 1;
}

static int topic_config(lua_State *L)
{
    topic_ud *t = check_topic_fn(L, 1, "config");
    const char *k, *v;
    if (lua_type(L, 2) != LUA_TSTRING || lua_objlen(L, 2) == 0)
        return lfk_error(L, "config: argument #1 'key' must be a non-empty string");
    if (lua_type(L, 3) != LUA_TSTRING && lua_type(L, 3) != LUA_TNUMBER)
        return lfk_error(L, "config: argument #2 'value' for '%s' must be a string", lua_tostring(L, 2));
    k = lua_tostring(L, 2);
    v = lua_tostring(L, 3);
    if (!fk_kvlist_set(&t->spec.configs, k, v)) return lfk_error(L, "config: out of memory");
    lua_settop(L, 1);
    return 1;
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
            return lfk_error(L, "register_async_flush: argument #2 'options' must be a table or nil, got %s",
                             luaL_typename(L, 3));
        lua_getfield(L, 3, "topic_partitions");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 1 ||
                lua_tonumber(L, -1) != floor(lua_tonumber(L, -1)))
                return lfk_error(L, "register_async_flush: option 'topic_partitions' must be a positive integer");
            partitions = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    if (!fk_set_string(&r->async_flush_pool, pool))
        return lfk_error(L, "register_async_flush: out of memory");
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
        return lfk_error(L, "_set_brokers: argument #1 'brokers' must not be empty");
    }
    for (i = 0; i < r->pool_count; i++) {
        fk_strlist copy = { 0 };
        if (!fk_strlist_copy(&copy, &list)) {
            fk_strlist_clear(&copy);
            fk_strlist_clear(&list);
            return lfk_error(L, "_set_brokers: out of memory");
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
    if (!ok) return lfk_error(L, "_add_ignored: out of memory");
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

/* register_kafka, register_kafka_consumer_group and validate are primitives: lua/fluxakafka.lua
   defines each public method once, keeping the options that hold Lua values (loggers,
   callbacks) on its side. */
static const luaL_Reg registry_methods[] = {
    { "_register_kafka", registry_register_kafka },
    { "_register_kafka_consumer_group", registry_register_kafka_consumer_group },
    { "register_kafka_topic", registry_register_kafka_topic },
    { "register_async_flush", registry_register_async_flush },
    { "_validate", registry_validate },
    { "_set_brokers", registry_set_brokers },
    { "_add_ignored", registry_add_ignored },
    { NULL, NULL }
};
static const luaL_Reg registry_meta[] = {
    { "__gc", registry_gc }, { "__tostring", registry_tostring }, { NULL, NULL }
};

static const luaL_Reg group_methods[] = {
    { "_identity", group_identity },
    { NULL, NULL }
};
static const luaL_Reg group_meta[] = {
    { "__gc", group_gc }, { "__tostring", group_tostring }, { NULL, NULL }
};

static const luaL_Reg topic_methods[] = {
    { "config", topic_config },
    { NULL, NULL }
};
static const luaL_Reg topic_meta[] = {
    { "__gc", topic_gc }, { "__tostring", topic_tostring }, { NULL, NULL }
};

/* core._pool_options_doc(): docs/API.md's table of the pool options, from the core's rows */
static int pool_options_doc(lua_State *L)
{
    char *text = fk_options_doc(fk_pool_option_rows);
    if (!text) return lfk_error(L, "_pool_options_doc: out of memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

void lfk_open_registry(lua_State *L)
{
    lfk_new_class(L, LFK_REGISTRY, registry_methods, registry_meta, "registry_methods");
    lfk_new_class(L, LFK_GROUP_BUILDER, group_methods, group_meta, "consumer_group_builder_methods");
    lfk_new_class(L, LFK_TOPIC_BUILDER, topic_methods, topic_meta, "topic_builder_methods");
    lfk_add_option_methods(L, "consumer_group_builder_methods", fk_group_option_rows, group_option);
    lfk_add_option_methods(L, "topic_builder_methods", fk_topic_option_rows, topic_option);
    lua_pushcfunction(L, new_registry);
    lua_setfield(L, -2, "new_registry");
    lua_pushcfunction(L, new_kafka_consumer_group);
    lua_setfield(L, -2, "new_kafka_consumer_group");
    lua_pushcfunction(L, new_kafka_topic);
    lua_setfield(L, -2, "new_kafka_topic");
    lua_pushcfunction(L, pool_options_doc);
    lua_setfield(L, -2, "_pool_options_doc");
}
