/* The helpers every class of the binding shares: errors that point at the caller's line,
   argument checks, the userdata header, classes, error returns. This file calls nothing
   else of the binding: the per-class files call down into it, and lfk_module.c opens them. */
#include "lfk.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* True for a chunk of fluxakafka's own Lua code (fluxakafka.lua, fluxakafka/<file>.lua). */
static int is_library_source(const char *src)
{
    size_t n = strlen(src);
    const char *slash;
    if (src[0] != '@') return 0;
    if (n >= 14 && strcmp(src + n - 14, "fluxakafka.lua") == 0) return 1;
    slash = strrchr(src, '/');
    return slash && slash - src >= 11 && strncmp(slash - 11, "/fluxakafka", 11) == 0;
}

static void push_caller_where(lua_State *L)
{
    lua_Debug ar;
    int level;
    for (level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
        if (is_library_source(ar.source)) continue;
        lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
        return;
    }
    lua_pushliteral(L, "");
}

int lfk_error(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    push_caller_where(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

void *lfk_checkudata(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);
    lua_Debug ar;
    const char *fn = "?";
    if (p && lua_getmetatable(L, idx)) {
        lua_getfield(L, LUA_REGISTRYINDEX, tname);
        if (lua_rawequal(L, -1, -2)) {
            lua_pop(L, 2);
            return p;
        }
        lua_pop(L, 2);
    }
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) fn = ar.name;
    if (idx == 1)
        lfk_error(L, "%s: expected a %s as self, got %s (call it with ':', as in obj:%s(...))",
                  fn, tname, luaL_typename(L, idx), fn);
    lfk_error(L, "%s: argument #%d must be a %s, got %s", fn, idx - 1, tname, luaL_typename(L, idx));
    return NULL;
}

/* "fn: argument #n must be <expected>, got <type>"; n counts from the first argument after
   self for method calls, like lauxlib's own messages. */
static int arg_error(lua_State *L, int idx, const char *expected)
{
    lua_Debug ar;
    const char *fn = "?";
    int n = idx;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar)) {
        if (ar.name) fn = ar.name;
        if (ar.namewhat && strcmp(ar.namewhat, "method") == 0) n--;
    }
    return lfk_error(L, "%s: argument #%d must be %s, got %s", fn, n, expected, luaL_typename(L, idx));
}

const char *lfk_checklstring(lua_State *L, int idx, size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER) arg_error(L, idx, "a string");
    return lua_tolstring(L, idx, len);
}

void lfk_checktype(lua_State *L, int idx, int type)
{
    if (lua_type(L, idx) != type) {
        lua_pushfstring(L, "a %s", lua_typename(L, type));
        arg_error(L, idx, lua_tostring(L, -1));
    }
}

void lfk_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *meta, const char *export_as)
{
    int module = lua_gettop(L);
    luaL_newmetatable(L, name);
    if (meta) luaL_register(L, NULL, meta);
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, module, export_as);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

void lfk_object_init(lfk_object *o)
{
    o->finalized = 0;
}

/* the class name without the module prefix, for messages */
static const char *short_name(const char *tname)
{
    const char *dot = strrchr(tname, '.');
    return dot ? dot + 1 : tname;
}

void *lfk_check_any(lua_State *L, int idx, const char *tname, const char *fn)
{
    void *u = lua_touserdata(L, idx);
    int same = 0;
    if (u && lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, tname);
        same = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!same) {
        const char *got = luaL_typename(L, idx);
        if (u && luaL_getmetafield(L, idx, "__name")) {
            if (lua_type(L, -1) == LUA_TSTRING) got = lua_tostring(L, -1);
            /* the name stays referenced by the other metatable, so `got` stays valid */
            lua_pop(L, 1);
        }
        const char *name = short_name(tname), *article = strchr("aeiou", name[0]) ? "an" : "a";
        if (idx == 1)
            lfk_error(L, "%s: expected %s %s as self (call it with ':'), got %s", fn, article, name, got);
        else
            lfk_error(L, "%s: argument #%d must be %s %s, got %s", fn, idx - 1, article, name, got);
    }
    return u;
}

int lfk_is_finalized(const void *object)
{
    return ((const lfk_object *)object)->finalized;
}

void *lfk_check_object(lua_State *L, int idx, const char *tname, const char *fn, const char *what)
{
    void *u = lfk_check_any(L, idx, tname, fn);
    if (lfk_is_finalized(u))
        lfk_error(L, "%s: the %s is closed (it was garbage-collected)", fn, what);
    return u;
}

void *lfk_finalize(lua_State *L, int idx, const char *tname)
{
    lfk_object *o = lfk_check_any(L, idx, tname, "__gc");
    if (o->finalized) return NULL;
    o->finalized = 1;
    return o;
}

const char *lfk_check_string(lua_State *L, int idx, const char *fn, int argn, const char *what,
                             size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        lfk_error(L, "%s: argument #%d '%s' must be a string, got %s", fn, argn, what, luaL_typename(L, idx));
    return lua_tolstring(L, idx, len);
}

void lfk_check_function(lua_State *L, int idx, const char *fn, int argn, const char *what)
{
    if (!lua_isfunction(L, idx))
        lfk_error(L, "%s: argument #%d '%s' must be a function, got %s", fn, argn, what, luaL_typename(L, idx));
}

int lfk_push_error(lua_State *L, const fk_error *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err->msg);
    lua_pushstring(L, err->code[0] ? err->code : "UNKNOWN");
    return 3;
}

int lfk_raise(lua_State *L, const fk_error *err)
{
    lua_pushstring(L, err->msg);
    return lua_error(L);
}

double lfk_check_seconds_ms(lua_State *L, int idx, const char *what)
{
    double s;
    if (lua_type(L, idx) != LUA_TNUMBER)
        lfk_error(L, "%s: expected a number of seconds, got %s", what, luaL_typename(L, idx));
    s = lua_tonumber(L, idx);
    if (!(s >= 0) || s > 86400.0 * 365)
        lfk_error(L, "%s: expected a non-negative number of seconds, got %f", what, s);
    return s * 1000.0;
}

int lfk_opt_timeout_ms(lua_State *L, int idx, double default_seconds, const char *what)
{
    if (lua_isnoneornil(L, idx)) return (int)(default_seconds * 1000.0);
    return (int)ceil(lfk_check_seconds_ms(L, idx, what));
}

void lfk_check_strings(lua_State *L, int idx, const char *what)
{
    int i, n;
    if (lua_type(L, idx) != LUA_TTABLE)
        lfk_error(L, "%s: expected an array of strings, got %s", what, luaL_typename(L, idx));
    n = (int)lua_objlen(L, idx);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            lfk_error(L, "%s[%d]: expected a string, got %s", what, i, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
}

void lfk_check_string_array(lua_State *L, int idx, fk_strlist *list, const char *what)
{
    int i, n;
    lfk_check_strings(L, idx, what);
    n = (int)lua_objlen(L, idx);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (!fk_strlist_push(list, lua_tostring(L, -1))) lfk_error(L, "%s: out of memory", what);
        lua_pop(L, 1);
    }
}

void lfk_push_string_array(lua_State *L, const fk_strlist *list)
{
    size_t i;
    lua_createtable(L, (int)list->count, 0);
    for (i = 0; i < list->count; i++) {
        lua_pushstring(L, list->items[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

void lfk_push_kvlist(lua_State *L, const fk_kvlist *list)
{
    size_t i;
    lua_createtable(L, 0, (int)list->count);
    for (i = 0; i < list->count; i++) {
        lua_pushstring(L, list->values[i]);
        lua_setfield(L, -2, list->keys[i]);
    }
}
