/* Schema alters for Lua: core._get_alters(engine) returns plain tables (description, pool,
   warning, kind, ...) each holding a "fluxakafka.alter" userdata that owns the core alter and
   keeps its engine alive. */
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
    luaL_getmetatable(L, LFK_ALTER);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, engine_idx);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    if (!fk_alter_copy(&u->alter, a)) luaL_error(L, "get_kafka_alters: out of memory");
    u->owned = 1;
    lua_setfield(L, t, "_handle");
}

static int get_alters(lua_State *L)
{
    fk_engine *e = lfk_check_engine(L, 1, "get_kafka_alters");
    fk_alter_list list = { 0 };
    fk_error err;
    size_t i;
    if (!fk_get_alters(e, &list, &err)) {
        fk_alter_list_clear(&list);
        return lfk_push_error(L, &err);
    }
    lua_createtable(L, (int)list.count, 0);
    for (i = 0; i < list.count; i++) {
        push_alter(L, 1, &list.items[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    fk_alter_list_clear(&list);
    return 1;
}

static int exec_alter(lua_State *L)
{
    alter_ud *u = lfk_check_object(L, 1, LFK_ALTER, "exec", "alter");
    fk_engine *e;
    fk_error err;
    lua_getfenv(L, 1);
    lua_rawgeti(L, -1, 1);
    e = lfk_check_engine(L, lua_gettop(L), "exec");
    if (!u->owned) return luaL_error(L, "exec: this alter was released");
    if (!fk_alter_exec(e, &u->alter, &err)) return lfk_push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg alter_methods[] = { { NULL, NULL } };
static const luaL_Reg alter_meta[] = { { "__gc", alter_gc }, { NULL, NULL } };

void lfk_open_admin(lua_State *L)
{
    lfk_new_class(L, LFK_ALTER, alter_methods, alter_meta, "alter_handle_methods");
    lua_pushcfunction(L, get_alters);
    lua_setfield(L, -2, "_get_alters");
    lua_pushcfunction(L, exec_alter);
    lua_setfield(L, -2, "_exec_alter");
    lua_pushstring(L, FK_ASYNC_SQL_CONSUMER_GROUP_NAME);
    lua_setfield(L, -2, "ASYNC_SQL_CONSUMER_GROUP_NAME");
}
