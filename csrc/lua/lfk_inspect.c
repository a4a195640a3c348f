/* pool:watermarks(topic, partition), pool:list_topics(), pool:list_groups(): read-only
   requests on the pool's admin client. Each waits here for the broker (bounded by the pool's
   connect timeout); pool:_inspect_async(kind, ...) starts one on a thread of its own and
   returns a request whose :_ready() and :_result() let fluxakafka.nginx wait by yielding. */
#include "lfk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct inspect_ud { fk_inspect *job; } inspect_ud;

static const char *const kind_names[] = { "watermarks", "list_topics", "list_groups", NULL };

static void push_int_array(lua_State *L, const int32_t *v, size_t n)
{
    size_t i;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* The answer of a finished request as the public method returns it. */
static int push_answer(lua_State *L, fk_inspect *j, fk_inspect_kind kind)
{
    fk_error err;
    size_t i, k;
    if (!fk_inspect_result(j, &err)) return lfk_push_error(L, &err);
    if (kind == FK_INSPECT_WATERMARKS) {
        int64_t low, high;
        fk_inspect_watermarks(j, &low, &high);
        lua_pushnumber(L, (lua_Number)low);
        lua_pushnumber(L, (lua_Number)high);
        return 2;
    }
    if (kind == FK_INSPECT_TOPICS) {
        size_t n = fk_inspect_topic_count(j);
        lua_createtable(L, (int)n, 0);
        for (i = 0; i < n; i++) {
            size_t parts;
            int rd_err;
            const char *name = fk_inspect_topic(j, i, &parts, &rd_err);
            lua_createtable(L, 0, 3);
            lua_pushstring(L, name);
            lua_setfield(L, -2, "name");
            if (rd_err) {
                lua_pushstring(L, fk_err_name(rd_err));
                lua_setfield(L, -2, "error");
            }
            lua_createtable(L, (int)parts, 0);
            for (k = 0; k < parts; k++) {
                int32_t id, leader;
                const int32_t *replicas, *isrs;
                size_t nr, ni;
                if (!fk_inspect_partition(j, i, k, &id, &leader, &replicas, &nr, &isrs, &ni)) break;
                lua_createtable(L, 0, 4);
                lua_pushinteger(L, id);
                lua_setfield(L, -2, "id");
                lua_pushinteger(L, leader);
                lua_setfield(L, -2, "leader");
                push_int_array(L, replicas, nr);
                lua_setfield(L, -2, "replicas");
                push_int_array(L, isrs, ni);
                lua_setfield(L, -2, "isrs");
                lua_rawseti(L, -2, (int)k + 1);
            }
            lua_setfield(L, -2, "partitions");
            lua_rawseti(L, -2, (int)i + 1);
        }
        return 1;
    }
    {
        size_t n = fk_inspect_group_count(j);
        lua_createtable(L, (int)n, 0);
        for (i = 0; i < n; i++) {
            const char *name, *state, *protocol_type;
            size_t members;
            if (!fk_inspect_group(j, i, &name, &state, &protocol_type, &members)) break;
            lua_createtable(L, 0, 4);
            lua_pushstring(L, name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, state);
            lua_setfield(L, -2, "state");
            lua_pushinteger(L, (lua_Integer)members);
            lua_setfield(L, -2, "members");
            lua_pushstring(L, protocol_type);
            lua_setfield(L, -2, "protocol_type");
            lua_rawseti(L, -2, (int)i + 1);
        }
        return 1;
    }
}

/* Checks the arguments of `kind` (from index `first`) and starts the request; the request
   userdata is pushed (it frees the request when collected, so a raise cannot leak it). */
static inspect_ud *start(lua_State *L, fk_inspect_kind kind, int first, int async)
{
    const char *fn = kind_names[kind];
    fk_pool *p = lfk_check_open_pool(L, fn);
    const char *topic = NULL;
    double partition = 0;
    inspect_ud *u;
    fk_error err;
    if (kind == FK_INSPECT_WATERMARKS) {
        if (lua_type(L, first) != LUA_TSTRING || lua_objlen(L, first) == 0)
            luaL_error(L, "watermarks: argument #1 'topic' must be a non-empty string, got %s",
                       luaL_typename(L, first));
        if (lua_type(L, first + 1) != LUA_TNUMBER)
            luaL_error(L, "watermarks: argument #2 'partition' must be a number, got %s",
                       luaL_typename(L, first + 1));
        topic = lua_tostring(L, first);
        partition = lua_tonumber(L, first + 1);
        if (partition != floor(partition) || partition < 0 || partition > 2147483647.0)
            luaL_error(L, "watermarks: argument #2 'partition' must be a partition number (0 or more)");
    }
    u = lua_newuserdata(L, sizeof *u);
    u->job = NULL;
    luaL_getmetatable(L, LFK_INSPECT);
    lua_setmetatable(L, -2);
    /* the request keeps its pool (and so the engine) alive */
    lua_pushvalue(L, 1);
    lua_setfenv(L, -2);
    if (!(u->job = fk_inspect_start(p, kind, topic, (int32_t)partition, async, &err))) {
        lua_pop(L, 1);
        lfk_push_error(L, &err);
        return NULL;
    }
    return u;
}

static int sync_call(lua_State *L, fk_inspect_kind kind)
{
    inspect_ud *u = start(L, kind, 2, 0);
    int n;
    if (!u) return 3;
    n = push_answer(L, u->job, kind);
    fk_inspect_free(u->job);
    u->job = NULL;
    return n;
}

static int pool_watermarks(lua_State *L) { return sync_call(L, FK_INSPECT_WATERMARKS); }
static int pool_list_topics(lua_State *L) { return sync_call(L, FK_INSPECT_TOPICS); }
static int pool_list_groups(lua_State *L) { return sync_call(L, FK_INSPECT_GROUPS); }

/* pool:_inspect_async(kind, ...) -> request | nil, err, code */
static int pool_inspect_async(lua_State *L)
{
    const char *name;
    int kind;
    lfk_check_open_pool(L, "_inspect_async");   /* self first: a closed pool says so */
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "_inspect_async: argument #1 'request' must be a string, got %s", luaL_typename(L, 2));
    name = lua_tostring(L, 2);
    for (kind = 0; kind_names[kind] && strcmp(kind_names[kind], name) != 0; kind++) {}
    if (!kind_names[kind]) return luaL_error(L, "_inspect_async: unknown request '%s'", name);
    return start(L, (fk_inspect_kind)kind, 3, 1) ? 1 : 3;
}

static inspect_ud *check_request(lua_State *L, const char *fn)
{
    inspect_ud *u = luaL_checkudata(L, 1, LFK_INSPECT);
    if (!u->job) luaL_error(L, "%s: the request was already answered", fn);
    return u;
}

static int request_ready(lua_State *L)
{
    lua_pushboolean(L, fk_inspect_ready(check_request(L, "_ready")->job));
    return 1;
}

/* request:_result(): the answer once ready (the request is then used up). */
static int request_result(lua_State *L)
{
    inspect_ud *u = check_request(L, "_result");
    int n;
    if (!fk_inspect_ready(u->job)) return luaL_error(L, "_result: the request is still running");
    n = push_answer(L, u->job, fk_inspect_kind_of(u->job));
    fk_inspect_free(u->job);
    u->job = NULL;
    return n;
}

static int request_gc(lua_State *L)
{
    inspect_ud *u = luaL_checkudata(L, 1, LFK_INSPECT);
    fk_inspect_free(u->job);   /* waits for a running request (bounded by connect_timeout) */
    u->job = NULL;
    return 0;
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

static const luaL_Reg request_methods[] = {
    { "_ready", request_ready }, { "_result", request_result }, { NULL, NULL }
};
static const luaL_Reg request_meta[] = { { "__gc", request_gc }, { NULL, NULL } };
static const luaL_Reg pool_inspect_methods[] = {
    { "watermarks", pool_watermarks },
    { "list_topics", pool_list_topics },
    { "list_groups", pool_list_groups },
    { "_inspect_async", pool_inspect_async },
    { "_take_stats", pool_take_stats },
    { NULL, NULL }
};

void lfk_open_inspect(lua_State *L)
{
    lfk_new_class(L, LFK_INSPECT, request_methods, request_meta, "inspect_request_methods");
    lua_getfield(L, -1, "pool_methods");
    luaL_register(L, NULL, pool_inspect_methods);
    lua_pop(L, 1);
}
