/* Schema alters for Lua: core._get_alters(engine) returns plain tables (description, pool,
   warning, kind, ...) each holding a "fluxakafka.alter" userdata that owns the core alter and
   keeps its engine alive; core._exec_alter(handle) performs one. Both wait for the broker;
   core._get_alters_async / core._exec_alter_async start the same work on a thread of its own
   and return a request whose :_ready() and :_result() let fluxakafka.nginx wait by yielding. */
#include "lfk.h"

#include <string.h>

typedef struct alter_ud { lfk_object head; fk_alter alter; int owned; } alter_ud;

static int alter_gc(lua_State *L)
{
    alter_ud *u = lfk_finalize(L, 1, LFK_ALTER);
    if (!u) return 0;
    if (u->owned) fk_alter_clear(&u->alter);
    u->owned = 0;
    return 0;
}

/* Gives the userdata on top class tname and an environment holding the engine at
   engine_idx, which it keeps alive. */
static void bind_to_engine(lua_State *L, const char *tname, int engine_idx)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, engine_idx);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
}

static void push_alter(lua_State *L, int engine_idx, const fk_alter *a)
{
    alter_ud *u;
    size_t i;
    int t;

    lua_createtable(L, 0, 10);
    t = lua_gettop(L);
    lua_pushstring(L, a->description);
    lua_setfield(L, t, "description");
    lua_pushstring(L, a->pool);
    lua_setfield(L, t, "pool");
    lua_pushboolean(L, fk_alter_is_warning(a));
    lua_setfield(L, t, "warning");
    lua_pushstring(L, fk_alter_kind_name(a->kind));
    lua_setfield(L, t, "kind");
    lua_pushstring(L, a->name);
    lua_setfield(L, t, a->kind == FK_ALTER_DELETE_GROUP ? "group" : "topic");
    if (a->partitions > 0) {
        lua_pushinteger(L, a->partitions);
        lua_setfield(L, t, "partitions");
    }
    if (a->replication_factor > 0) {
        lua_pushinteger(L, a->replication_factor);
        lua_setfield(L, t, "replication_factor");
    }
    if (a->configs.count) {
        lua_newtable(L);
        for (i = 0; i < a->configs.count; i++) {
            lua_pushstring(L, a->configs.values[i]);
            lua_setfield(L, -2, a->configs.keys[i]);
        }
        lua_setfield(L, t, "configs");
    }
    if (a->old_values.count) {
        lua_newtable(L);
        for (i = 0; i < a->old_values.count; i++) {
            lua_pushstring(L, a->old_values.values[i]);
            lua_setfield(L, -2, a->old_values.keys[i]);
        }
        lua_setfield(L, t, "old_configs");
    }
    u = lua_newuserdata(L, sizeof *u);
    lfk_object_init(&u->head);
    u->owned = 0;
    bind_to_engine(L, LFK_ALTER, engine_idx);
    if (!fk_alter_copy(&u->alter, a)) luaL_error(L, "get_kafka_alters: out of memory");
    u->owned = 1;
    lua_setfield(L, t, "_handle");
}

/* The list (or nil, err, code) as get_kafka_alters returns it; takes the list. */
static int push_alters(lua_State *L, int engine_idx, fk_alter_list *list, int ok, const fk_error *err)
{
    size_t i;
    if (!ok) {
        fk_alter_list_clear(list);
        return lfk_push_error(L, err);
    }
    lua_createtable(L, (int)list->count, 0);
    for (i = 0; i < list->count; i++) {
        push_alter(L, engine_idx, &list->items[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    fk_alter_list_clear(list);
    return 1;
}

static int get_alters(lua_State *L)
{
    fk_engine *e = lfk_check_engine(L, 1, "get_kafka_alters");
    fk_alter_list list = { 0 };
    fk_error err;
    int ok = fk_get_alters(e, &list, &err);
    return push_alters(L, 1, &list, ok, &err);
}

/* The alter of the handle at 1 and its engine (pushed on the stack); raises naming "exec". */
static alter_ud *check_alter(lua_State *L, fk_engine **e)
{
    alter_ud *u = lfk_check_object(L, 1, LFK_ALTER, "exec", "alter");
    lua_getfenv(L, 1);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    *e = lfk_check_engine(L, lua_gettop(L), "exec");
    if (!u->owned) luaL_error(L, "exec: this alter was released");
    return u;
}

static int exec_alter(lua_State *L)
{
    fk_engine *e;
    alter_ud *u = check_alter(L, &e);
    fk_error err;
    if (!fk_alter_exec(e, &u->alter, &err)) return lfk_push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* ------------------------------------------------ requests on a thread of their own ---- */

typedef struct admin_request_ud { fk_admin_job *job; int is_exec; } admin_request_ud;

/* A request for the job (or nil, err, code when it could not start); its environment holds
   the engine at engine_idx, which the job works on and push_alters hands to every alter. */
static int push_request(lua_State *L, int engine_idx, fk_admin_job *job, int is_exec, const fk_error *err)
{
    admin_request_ud *r;
    if (!job) return lfk_push_error(L, err);
    r = lua_newuserdata(L, sizeof *r);
    r->job = job;
    r->is_exec = is_exec;
    bind_to_engine(L, LFK_ADMIN_REQUEST, engine_idx);
    return 1;
}

static int get_alters_async(lua_State *L)
{
    fk_engine *e = lfk_check_engine(L, 1, "get_kafka_alters");
    fk_error err;
    return push_request(L, 1, fk_get_alters_start(e, &err), 0, &err);
}

static int exec_alter_async(lua_State *L)
{
    fk_engine *e;
    alter_ud *u = check_alter(L, &e);
    fk_error err;
    return push_request(L, lua_gettop(L), fk_alter_exec_start(e, &u->alter, &err), 1, &err);
}

static admin_request_ud *check_request(lua_State *L, const char *fn)
{
    admin_request_ud *r = luaL_checkudata(L, 1, LFK_ADMIN_REQUEST);
    if (!r->job) luaL_error(L, "%s: the request was already answered", fn);
    return r;
}

static int request_ready(lua_State *L)
{
    lua_pushboolean(L, fk_admin_job_ready(check_request(L, "_ready")->job));
    return 1;
}

/* request:_result(): what the blocking call would have returned, once ready (the request is
   then used up). */
static int request_result(lua_State *L)
{
    admin_request_ud *r = check_request(L, "_result");
    fk_alter_list list = { 0 };
    fk_error err;
    int ok;
    if (!fk_admin_job_ready(r->job)) return luaL_error(L, "_result: the request is still running");
    ok = fk_admin_job_result(r->job, &list, &err);
    fk_admin_job_free(r->job);
    r->job = NULL;
    if (r->is_exec) {
        if (!ok) return lfk_push_error(L, &err);
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_getfenv(L, 1);
    lua_rawgeti(L, -1, 1);
    return push_alters(L, lua_gettop(L), &list, ok, &err);
}

static int request_gc(lua_State *L)
{
    admin_request_ud *r = luaL_checkudata(L, 1, LFK_ADMIN_REQUEST);
    fk_admin_job_free(r->job);   /* waits for a running request */
    r->job = NULL;
    return 0;
}

static const luaL_Reg alter_methods[] = { { NULL, NULL } };
static const luaL_Reg alter_meta[] = { { "__gc", alter_gc }, { NULL, NULL } };
static const luaL_Reg request_methods[] = {
    { "_ready", request_ready }, { "_result", request_result }, { NULL, NULL }
};
static const luaL_Reg request_meta[] = { { "__gc", request_gc }, { NULL, NULL } };

void lfk_open_admin(lua_State *L)
{
    lfk_new_class(L, LFK_ALTER, alter_methods, alter_meta, "alter_handle_methods");
    lfk_new_class(L, LFK_ADMIN_REQUEST, request_methods, request_meta, "admin_request_methods");
    lua_pushcfunction(L, get_alters);
    lua_setfield(L, -2, "_get_alters");
    lua_pushcfunction(L, exec_alter);
    lua_setfield(L, -2, "_exec_alter");
    lua_pushcfunction(L, get_alters_async);
    lua_setfield(L, -2, "_get_alters_async");
    lua_pushcfunction(L, exec_alter_async);
    lua_setfield(L, -2, "_exec_alter_async");
    lua_pushstring(L, FK_ASYNC_SQL_CONSUMER_GROUP_NAME);
    lua_setfield(L, -2, "ASYNC_SQL_CONSUMER_GROUP_NAME");
}
