/* Read-only requests on the pool's admin client: pool:_inspect_start(kind, ...) starts
   watermarks(topic, partition), list_topics() or list_groups() as a job (lfk_job.c), which
   fluxakafka.lua's methods of those names wait for. */
#include "lfk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* The answer of a request that succeeded, as the method returns it. */
static int push_answer(lua_State *L, fk_job *j, int owner_idx)
{
    fk_inspect_kind kind = fk_inspect_kind_of(j);
    size_t i, k;
    (void)owner_idx;
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

/* pool:_inspect_start(kind, ...) -> job | nil, err, code, where kind and its arguments are
   those of the method of that name (whose name the errors carry). */
static int pool_inspect_start(lua_State *L)
{
    const char *fn;
    fk_pool *p;
    const char *topic = NULL;
    double partition = 0;
    int kind;
    fk_error err;
    for (kind = 0; kind_names[kind] && !(lua_type(L, 2) == LUA_TSTRING && strcmp(kind_names[kind], lua_tostring(L, 2)) == 0);
         kind++) {}
    fn = kind_names[kind] ? kind_names[kind] : "_inspect_start";
    p = lfk_check_open_pool(L, fn);   /* self first: a closed pool says so */
    if (!kind_names[kind])
        return lfk_error(L, "_inspect_start: argument #1 'request' must be watermarks, list_topics or list_groups");
    if (kind == FK_INSPECT_WATERMARKS) {
        if (lua_type(L, 3) != LUA_TSTRING || lua_objlen(L, 3) == 0)
            lfk_error(L, "watermarks: argument #1 'topic' must be a non-empty string, got %s",
                      luaL_typename(L, 3));
        if (lua_type(L, 4) != LUA_TNUMBER)
            lfk_error(L, "watermarks: argument #2 'partition' must be a number, got %s",
                      luaL_typename(L, 4));
        topic = lua_tostring(L, 3);
        partition = lua_tonumber(L, 4);
        if (partition != floor(partition) || partition < 0 || partition > 2147483647.0)
            lfk_error(L, "watermarks: argument #2 'partition' must be a partition number (0 or more)");
    }
    lfk_push_job(L, 1, push_answer);
    return lfk_job_started(L, fk_inspect_start(p, (fk_inspect_kind)kind, topic, (int32_t)partition, &err), &err);
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
}
