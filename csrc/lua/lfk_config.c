/* registry:init_by_yaml(text), :init_by_yaml_file(path), :init_by_config(table). A Lua table
   is turned into the same document tree the YAML reader makes, so both are validated by
   fk_registry_init_by_doc alone. */
#include "lfk.h"
#include "../fk_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The tree under construction lives in a userdata so that a raise frees it. */
typedef struct doc_holder { fk_doc *doc; } doc_holder;

static int holder_gc(lua_State *L)
{
    doc_holder *h = lua_touserdata(L, 1);
    fk_doc_free(h->doc);
    h->doc = NULL;
    return 0;
}

static doc_holder *new_holder(lua_State *L)
{
    doc_holder *h = lua_newuserdata(L, sizeof *h);
    h->doc = NULL;
    lua_newtable(L);
    lua_pushcfunction(L, holder_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    return h;
}

static int push_result(lua_State *L, fk_registry *r, const fk_doc *doc)
{
    fk_error err;
    if (!fk_registry_init_by_doc(r, doc, &err)) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}


static int init_by_yaml(lua_State *L)
{
    fk_registry *r = lfk_check_registry(L, "init_by_yaml");
    size_t len;
    const char *text = lfk_check_string(L, 2, "init_by_yaml", 1, "yaml", &len);
    doc_holder *h = new_holder(L);
    fk_error err;
    if (!(h->doc = fk_yaml_parse(text, len, &err))) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return push_result(L, r, h->doc);
}

static int init_by_yaml_file(lua_State *L)
{
    fk_registry *r = lfk_check_registry(L, "init_by_yaml_file");
    const char *path = lfk_check_string(L, 2, "init_by_yaml_file", 1, "path", NULL);
    doc_holder *h = new_holder(L);
    luaL_Buffer b;
    FILE *f = fopen(path, "rb");
    fk_error err;
    size_t total = 0, n;
    char chunk[8192];

    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read configuration file '%s': %s", path, strerror(errno));
        return 2;
    }
    luaL_buffinit(L, &b);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        total += n;
        if (total > FK_DOC_MAX_BYTES) {
            fclose(f);
            lua_pushnil(L);
            lua_pushfstring(L, "configuration file '%s' is larger than 16 MiB", path);
            return 2;
        }
        luaL_addlstring(&b, chunk, n);
    }
    if (ferror(f)) {
        fclose(f);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read configuration file '%s': %s", path, strerror(errno));
        return 2;
    }
    fclose(f);
    luaL_pushresult(&b);
    {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        if (!(h->doc = fk_yaml_parse(text, len, &err))) {
            lua_pushnil(L);
            lua_pushfstring(L, "%s: %s", path, err.msg);
            return 2;
        }
    }
    {
        fk_error e2;
        if (!fk_registry_init_by_doc(r, h->doc, &e2)) {
            lua_pushnil(L);
            lua_pushfstring(L, "%s: %s", path, e2.msg);
            return 2;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* The key path of the value being converted, as the validation writes it:
   events.kafka.consumerGroups[1].topics. */
typedef struct conv {
    char   path[512];
    char  *problem;
    size_t plen;
} conv;

static size_t path_push(conv *c, const char *key, size_t index)
{
    size_t n = strlen(c->path);
    if (n < sizeof c->path - 1) {
        if (key) snprintf(c->path + n, sizeof c->path - n, n ? ".%.200s" : "%.200s", key);
        else snprintf(c->path + n, sizeof c->path - n, "[%zu]", index);
    }
    return n;
}

static fk_doc *conv_fail(conv *c, const char *what)
{
    snprintf(c->problem, c->plen, "init_by_config: %s: %s", *c->path ? c->path : "the configuration", what);
    return NULL;
}

/* Converts the value at idx into a tree; NULL with c->problem filled when the table holds
   what no document can (a function, a self reference, mixed keys) or memory runs out.
   Never raises, so nothing half-built can leak. Values are never quoted in messages (one
   may be a password). */
static fk_doc *to_doc(lua_State *L, int idx, int depth, conv *c)
{
    char text[64];
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len) return conv_fail(c, "contains a NUL byte");
        return fk_doc_new_scalar(FK_SCALAR_TEXT, s, 0, 0);
    }
    case LUA_TNUMBER: {
        double v = lua_tonumber(L, idx);
        if (v == floor(v) && fabs(v) < 9.2e18) snprintf(text, sizeof text, "%lld", (long long)v);
        else snprintf(text, sizeof text, "%.17g", v);
        return fk_doc_new_scalar(FK_SCALAR_NUMBER, text, 0, 0);
    }
    case LUA_TBOOLEAN:
        return fk_doc_new_scalar(FK_SCALAR_BOOL, lua_toboolean(L, idx) ? "true" : "false", 0, 0);
    case LUA_TTABLE: {
        size_t n = lua_objlen(L, idx), count = 0, i, len;
        fk_doc *d;
        if (depth > FK_DOC_MAX_DEPTH || !lua_checkstack(L, 8))
            return conv_fail(c, "is nested too deeply (or contains itself)");
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            lua_pop(L, 1);
        }
        if (n > 0 && count == n) {
            if (!(d = fk_doc_new(FK_DOC_SEQUENCE, 0, 0))) return NULL;
            for (i = 1; i <= n; i++) {
                fk_doc *item;
                len = path_push(c, NULL, i);
                lua_rawgeti(L, idx, (int)i);
                item = to_doc(L, lua_gettop(L), depth + 1, c);
                lua_pop(L, 1);
                if (!fk_doc_append(d, item)) {
                    fk_doc_free(d);
                    return NULL;
                }
                c->path[len] = '\0';
            }
            return d;
        }
        if (count > FK_DOC_MAX_MAP_KEYS) {
            char what[64];
            snprintf(what, sizeof what, "has more than %d keys", FK_DOC_MAX_MAP_KEYS);
            return conv_fail(c, what);
        }
        if (!(d = fk_doc_new(FK_DOC_MAP, 0, 0))) return NULL;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            fk_doc *item;
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                fk_doc_free(d);
                return conv_fail(c, "mixes list items and named keys, or has a non-string key");
            }
            len = path_push(c, lua_tostring(L, -2), 0);
            item = to_doc(L, lua_gettop(L), depth + 1, c);
            if (!item || !fk_doc_put(d, lua_tostring(L, -2), item)) {
                lua_pop(L, 2);
                fk_doc_free(d);
                return NULL;
            }
            c->path[len] = '\0';
            lua_pop(L, 1);
        }
        return d;
    }
    default: {
        char what[96];
        snprintf(what, sizeof what, "a %s cannot be a configuration value", luaL_typename(L, idx));
        return conv_fail(c, what);
    }
    }
}

static int init_by_config(lua_State *L)
{
    fk_registry *r = lfk_check_registry(L, "init_by_config");
    doc_holder *h;
    char problem[800] = "init_by_config: out of memory";
    conv c;
    if (lua_type(L, 2) != LUA_TTABLE)
        return lfk_error(L, "init_by_config: argument #1 'config' must be a table, got %s", luaL_typename(L, 2));
    lua_settop(L, 2);
    h = new_holder(L);
    c.path[0] = '\0';
    c.problem = problem;
    c.plen = sizeof problem;
    if (!(h->doc = to_doc(L, 2, 0, &c))) {
        lua_pushnil(L);
        lua_pushstring(L, problem);
        return 2;
    }
    return push_result(L, r, h->doc);
}

static const luaL_Reg config_methods[] = {
    { "init_by_yaml", init_by_yaml },
    { "init_by_yaml_file", init_by_yaml_file },
    { "init_by_config", init_by_config },
    { NULL, NULL }
};

void lfk_open_config(lua_State *L)
{
    lua_getfield(L, -1, "registry_methods");
    luaL_register(L, NULL, config_methods);
    lua_pop(L, 1);
}
