/* Read-only requests on the pool's admin client: pool:_inspect_start(kind, ...) starts
   watermarks(topic, partition), list_topics(), list_groups(), describe_topics(names),
   describe_groups(names), group_lag(group) or offsets_for_times(topic, times) as a job
   (lfk_job.c), which fluxakafka.lua's methods of those names wait for. */
#include "lfk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = { "watermarks", "list_topics", "list_groups", "describe_topics",
                                          "describe_groups", "group_lag", "offsets_for_times", NULL };

static void push_int_array(lua_State *L, const int32_t *v, size_t n)
{
    size_t i;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static void set_string(lua_State *L, const char *key, const char *value)
{
    if (!value) return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static void set_number(lua_State *L, const char *key, double value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, key);
}

static void set_boolean(lua_State *L, const char *key, int value)
{
    lua_pushboolean(L, value);
    lua_setfield(L, -2, key);
}

static void push_partitions(lua_State *L, fk_job *j, size_t i, size_t parts)
{
    size_t k;
    lua_createtable(L, (int)parts, 0);
    for (k = 0; k < parts; k++) {
        int32_t id, leader;
        const int32_t *replicas, *isrs;
        size_t nr, ni;
        if (!fk_inspect_partition(j, i, k, &id, &leader, &replicas, &nr, &isrs, &ni)) break;
        lua_createtable(L, 0, 4);
        set_number(L, "id", id);
        set_number(L, "leader", leader);
        push_int_array(L, replicas, nr);
        lua_setfield(L, -2, "replicas");
        push_int_array(L, isrs, ni);
        lua_setfield(L, -2, "isrs");
        lua_rawseti(L, -2, (int)k + 1);
    }
}

/* configs = { [name] = { value=, source=, is_default=, is_sensitive=, is_read_only= } } */
static void push_configs(lua_State *L, fk_job *j, size_t i)
{
    size_t k, n = fk_inspect_config_count(j, i);
    fk_config_entry c;
    lua_createtable(L, 0, (int)n);
    for (k = 0; k < n && fk_inspect_config(j, i, k, &c); k++) {
        lua_createtable(L, 0, 5);
        set_string(L, "value", c.value);   /* nil: sensitive, hidden by the broker */
        set_string(L, "source", c.source);
        set_boolean(L, "is_default", c.is_default);
        set_boolean(L, "is_sensitive", c.is_sensitive);
        set_boolean(L, "is_read_only", c.is_read_only);
        lua_setfield(L, -2, c.name);
    }
}

static int push_topics(lua_State *L, fk_job *j, int configs)
{
    size_t i, n = fk_inspect_topic_count(j);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        size_t parts;
        int rd_err;
        const char *name = fk_inspect_topic(j, i, &parts, &rd_err);
        lua_createtable(L, 0, 4);
        set_string(L, "name", name);
        if (rd_err) set_string(L, "error", fk_err_name(rd_err));
        push_partitions(L, j, i, parts);
        lua_setfield(L, -2, "partitions");
        if (configs) {
            push_configs(L, j, i);
            lua_setfield(L, -2, "configs");
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int push_group_list(lua_State *L, fk_job *j)
{
    size_t i, n = fk_inspect_group_count(j);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        const char *name, *state, *protocol_type;
        size_t members;
        if (!fk_inspect_group(j, i, &name, &state, &protocol_type, &members)) break;
        lua_createtable(L, 0, 4);
        set_string(L, "name", name);
        set_string(L, "state", state);
        set_number(L, "members", (double)members);
        set_string(L, "protocol_type", protocol_type);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static void push_member(lua_State *L, fk_job *j, size_t i, size_t m)
{
    fk_member_info info;
    size_t k;
    fk_inspect_member(j, i, m, &info);
    lua_createtable(L, 0, 5);
    set_string(L, "id", info.id);
    set_string(L, "client_id", info.client_id);
    set_string(L, "host", info.host);
    set_string(L, "instance_id", info.instance_id);
    lua_createtable(L, (int)info.partition_count, 0);
    for (k = 0; k < info.partition_count; k++) {
        const char *topic;
        int32_t partition;
        if (!fk_inspect_member_partition(j, i, m, k, &topic, &partition)) break;
        lua_createtable(L, 0, 2);
        set_string(L, "topic", topic);
        set_number(L, "partition", partition);
        lua_rawseti(L, -2, (int)k + 1);
    }
    lua_setfield(L, -2, "assignment");
}

static int push_group_descriptions(lua_State *L, fk_job *j)
{
    size_t i, m, n = fk_inspect_group_count(j);
    fk_group_info g;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n && fk_inspect_group_info(j, i, &g); i++) {
        lua_createtable(L, 0, 8);
        set_string(L, "name", g.name);
        set_string(L, "state", g.state);
        set_string(L, "type", g.type);
        set_string(L, "protocol_type", g.protocol_type);
        set_string(L, "protocol", g.protocol);
        if (g.coordinator_id >= 0) {
            lua_createtable(L, 0, 3);
            set_number(L, "id", g.coordinator_id);
            set_string(L, "host", g.coordinator_host);
            set_number(L, "port", g.coordinator_port);
            lua_setfield(L, -2, "coordinator");
        }
        lua_createtable(L, (int)g.member_count, 0);
        for (m = 0; m < g.member_count; m++) {
            push_member(L, j, i, m);
            lua_rawseti(L, -2, (int)m + 1);
        }
        lua_setfield(L, -2, "members");
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* group_lag: as cg:lag(); offsets_for_times: { [partition] = offset } */
static int push_partition_answer(lua_State *L, fk_job *j, fk_inspect_kind kind)
{
    fk_partitions l = { 0 };
    size_t i;
    fk_inspect_take_partitions(j, &l);
    if (kind == FK_INSPECT_GROUP_LAG) {
        lfk_push_lag(L, &l);
    } else {
        lua_createtable(L, 0, (int)l.count);
        for (i = 0; i < l.count; i++) {
            lua_pushnumber(L, (lua_Number)l.items[i].offset);
            lua_rawseti(L, -2, (int)l.items[i].partition);
        }
    }
    fk_partitions_clear(&l);
    return 1;
}

/* The answer of a request that succeeded, as the method returns it. */
static int push_answer(lua_State *L, fk_job *j, int owner_idx)
{
    fk_inspect_kind kind = fk_inspect_kind_of(j);
    (void)owner_idx;
    switch (kind) {
    case FK_INSPECT_WATERMARKS: {
        int64_t low, high;
        fk_inspect_watermarks(j, &low, &high);
        lua_pushnumber(L, (lua_Number)low);
        lua_pushnumber(L, (lua_Number)high);
        return 2;
    }
    case FK_INSPECT_TOPICS: return push_topics(L, j, 0);
    case FK_INSPECT_DESCRIBE_TOPICS: return push_topics(L, j, 1);
    case FK_INSPECT_GROUPS: return push_group_list(L, j);
    case FK_INSPECT_DESCRIBE_GROUPS: return push_group_descriptions(L, j);
    default: return push_partition_answer(L, j, kind);
    }
}

/* A non-empty string at idx, named `what` in errors of fn (argument #argn). */
static const char *check_name(lua_State *L, int idx, const char *fn, int argn, const char *what)
{
    if (lua_type(L, idx) != LUA_TSTRING || lua_objlen(L, idx) == 0)
        lfk_error(L, "%s: argument #%d '%s' must be a non-empty string, got %s", fn, argn, what, luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

static int32_t check_partition(lua_State *L, int idx, const char *fn, const char *what)
{
    double v;
    if (lua_type(L, idx) != LUA_TNUMBER) lfk_error(L, "%s: %s must be a number, got %s", fn, what, luaL_typename(L, idx));
    v = lua_tonumber(L, idx);
    if (v != floor(v) || v < 0 || v > 2147483647.0) lfk_error(L, "%s: %s must be a partition number (0 or more)", fn, what);
    return (int32_t)v;
}

/* names (argument #1, at index 3): one name or a non-empty array of them, into l */
static void check_names(lua_State *L, const char *fn, const char *what, fk_strlist *l)
{
    int i, n;
    if (lua_type(L, 3) == LUA_TSTRING) {
        if (!fk_strlist_push(l, check_name(L, 3, fn, 1, what))) lfk_error(L, "%s: out of memory", fn);
        return;
    }
    if (lua_type(L, 3) != LUA_TTABLE || (n = (int)lua_objlen(L, 3)) == 0)
        lfk_error(L, "%s: argument #1 'names' must be a name or a non-empty array of names, got %s", fn,
                  lua_type(L, 3) == LUA_TTABLE ? "an empty table" : luaL_typename(L, 3));
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, 3, i);
        if (lua_type(L, -1) != LUA_TSTRING || lua_objlen(L, -1) == 0) {
            fk_strlist_clear(l);
            lfk_error(L, "%s: names[%d] must be a non-empty string, got %s", fn, i, luaL_typename(L, -1));
        }
        if (!fk_strlist_push(l, lua_tostring(L, -1))) {
            fk_strlist_clear(l);
            lfk_error(L, "%s: out of memory", fn);
        }
        lua_pop(L, 1);
    }
}

/* offsets_for_times(topic, { [partition] = ms, ... }): times (argument #2, at index 4) */
static void check_times(lua_State *L, const char *topic, fk_partitions *times)
{
    if (lua_type(L, 4) != LUA_TTABLE)
        lfk_error(L, "offsets_for_times: argument #2 'times' must be a table { [partition] = ms, ... }, got %s",
                  luaL_typename(L, 4));
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        double ms = lua_tonumber(L, -1), key = lua_tonumber(L, -2);
        if (lua_type(L, -2) != LUA_TNUMBER || key != floor(key) || key < 0 || key > 2147483647.0) {
            fk_partitions_clear(times);
            lfk_error(L, "offsets_for_times: argument #2 'times': the keys must be partition numbers (0 or more)");
        }
        if (lua_type(L, -1) != LUA_TNUMBER || ms < 0 || ms != floor(ms)) {
            fk_partitions_clear(times);
            lfk_error(L, "offsets_for_times: argument #2 'times': the values must be times in ms since the epoch "
                      "(0 or more)");
        }
        if (!fk_partitions_add(times, topic, (int32_t)key, (int64_t)ms)) {
            fk_partitions_clear(times);
            lfk_error(L, "offsets_for_times: out of memory");
        }
        lua_pop(L, 1);
    }
}

/* pool:_inspect_start(kind, ...) -> job | nil, err, code, where kind and its arguments are
   those of the method of that name (whose name the errors carry). */
static int pool_inspect_start(lua_State *L)
{
    const char *fn, *topic = NULL;
    int32_t partition = 0;
    fk_strlist names = { 0 };
    fk_partitions times = { 0 };
    fk_pool *p;
    int kind;
    fk_error err;
    fk_job *j;
    for (kind = 0; kind_names[kind] && !(lua_type(L, 2) == LUA_TSTRING && strcmp(kind_names[kind], lua_tostring(L, 2)) == 0);
         kind++) {}
    fn = kind_names[kind] ? kind_names[kind] : "_inspect_start";
    p = lfk_check_open_pool(L, fn);   /* self first: a closed pool says so */
    if (!kind_names[kind])
        return lfk_error(L, "_inspect_start: argument #1 'request' must be watermarks, list_topics, list_groups, "
                         "describe_topics, describe_groups, group_lag or offsets_for_times");
    if (kind == FK_INSPECT_WATERMARKS) {
        topic = check_name(L, 3, fn, 1, "topic");
        partition = check_partition(L, 4, fn, "argument #2 'partition'");
    } else if (kind == FK_INSPECT_OFFSETS_FOR_TIMES) {
        check_times(L, topic = check_name(L, 3, fn, 1, "topic"), &times);
    } else if (kind == FK_INSPECT_GROUP_LAG) {
        if (!fk_strlist_push(&names, check_name(L, 3, fn, 1, "group"))) lfk_error(L, "%s: out of memory", fn);
    } else if (kind >= FK_INSPECT_DESCRIBE_TOPICS) {
        check_names(L, fn, kind == FK_INSPECT_DESCRIBE_TOPICS ? "topic" : "group", &names);
    }
    lfk_push_job(L, 1, push_answer);
    if (kind == FK_INSPECT_OFFSETS_FOR_TIMES) j = fk_inspect_times_start(p, topic, &times, &err);
    else if (kind >= FK_INSPECT_DESCRIBE_TOPICS)
        j = fk_inspect_names_start(p, (fk_inspect_kind)kind, (const char *const *)names.items, names.count, &err);
    else j = fk_inspect_start(p, (fk_inspect_kind)kind, topic, partition, &err);
    fk_strlist_clear(&names);
    fk_partitions_clear(&times);
    return lfk_job_started(L, j, &err);
}

/* pool:_take_stats() -> the oldest queued statistics JSON text, or nil */
static int pool_take_stats(lua_State *L)
{
    char *json = fk_pool_take_stats(lfk_check_open_pool(L, "_take_stats"));
    if (!json) return 0;
    lua_pushstring(L, json);
    free(json);
    return 1;
}

static const luaL_Reg pool_inspect_methods[] = {
    { "_inspect_start", pool_inspect_start },
    { "_take_stats", pool_take_stats },
    { NULL, NULL }
};

void lfk_open_inspect(lua_State *L)
{
    lua_getfield(L, -1, "pool_methods");
    luaL_register(L, NULL, pool_inspect_methods);
    lua_pop(L, 1);
    lfk_open_read(L);
}
