/* The Lua functions fluxakafka's Lua part installs in the binding: the dispatcher of
   callbacks that have an owner (nginx.lua) and the sink of librdkafka's log lines
   (fluxakafka.lua). Each is kept in the Lua registry under a light userdata key, not in a C
   variable: the registry is one per lua_State (its coroutines share it), so two states of one
   process each have their own, and a closed state leaves nothing behind that another could
   reach. */
#include "lfk.h"

#include <stdio.h>

/* only their addresses matter: unique within the process, so no other registry key can
   equal them */
static const char dispatcher_key = 'd';
static const char log_sink_key = 'l';

/* pushes the hook stored under key: a function, or nil */
static void push_hook(lua_State *L, const char *key)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

/* stores the function (or nil: none) at 1 under key */
static void set_hook(lua_State *L, const char *key, const char *fn)
{
    if (!lua_isnoneornil(L, 1) && !lua_isfunction(L, 1))
        lfk_error(L, "%s: expected a function or nil", fn);
    lua_settop(L, 1);
    lua_pushlightuserdata(L, (void *)key);
    lua_pushvalue(L, 1);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/* _set_dispatcher(fn): deliveries produced with an owner (produce's 4th argument) call
   fn(owner, callback, record, err, code) instead of callback(record, err, code). */
static int module_set_dispatcher(lua_State *L)
{
    set_hook(L, &dispatcher_key, "_set_dispatcher");
    return 0;
}

int lfk_push_dispatcher(lua_State *L)
{
    push_hook(L, &dispatcher_key);
    if (lua_isfunction(L, -1)) return 1;
    lua_pop(L, 1);
    return 0;
}

/* _set_log_sink(fn): librdkafka's log lines are queued by the core and handed to
   fn(level, facility, message, pool_code) on this thread; nil writes them to stderr again.
   The core's queue is one per process: with several states, whichever serves first takes
   a line. */
static int module_set_log_sink(lua_State *L)
{
    set_hook(L, &log_sink_key, "_set_log_sink");
    fk_log_capture(lua_isfunction(L, 1));
    return 0;
}

/* one line to this state's sink, if it still has one (a logger may have replaced it) */
static void call_sink(lua_State *L, int level, const char *facility, const char *message, const char *pool)
{
    push_hook(L, &log_sink_key);
    lua_pushinteger(L, level);
    lua_pushstring(L, facility);
    lua_pushstring(L, message);
    lua_pushstring(L, pool);
    /* a failing logger must not turn a log line into an error of the caller */
    if (lua_pcall(L, 4, 0, 0)) lua_pop(L, 1);
}

void lfk_serve_logs(lua_State *L)
{
    fk_log_line line;
    size_t dropped;
    int has_sink, got;
    /* the queue is looked at first: this runs in every poll and produce */
    if (fk_log_pending() == 0) return;
    luaL_checkstack(L, 6, "logs");
    push_hook(L, &log_sink_key);
    has_sink = lua_isfunction(L, -1);
    lua_pop(L, 1);
    if (!has_sink) return;
    while ((got = fk_log_next(&line, &dropped)) || dropped) {
        if (dropped) {
            char message[96];
            snprintf(message, sizeof message, "%d librdkafka log lines were dropped (more than 1024 waited)",
                     (int)dropped);
            call_sink(L, 4, "LOGDROP", message, "");
        }
        if (got) call_sink(L, line.level, line.facility, line.message, line.pool);
    }
}

static int module_serve_logs(lua_State *L)
{
    lfk_serve_logs(L);
    return 0;
}

void lfk_open_hooks(lua_State *L)
{
    lua_pushcfunction(L, module_set_dispatcher);
    lua_setfield(L, -2, "_set_dispatcher");
    lua_pushcfunction(L, module_set_log_sink);
    lua_setfield(L, -2, "_set_log_sink");
    lua_pushcfunction(L, module_serve_logs);
    lua_setfield(L, -2, "_serve_logs");
}
