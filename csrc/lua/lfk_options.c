/* Options as the core's rows describe them (fk_options.h), from and to Lua: register_kafka's
   options table, the getters, and the builders' setter methods (one per row). Lua takes
   durations in seconds; the rows hold milliseconds. */
#include "lfk.h"
#include "../fk_options.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FN "register_kafka"

/* ---------------------------------------------------------------- reading a table ---- */

static const char *opt_string(lua_State *L, int idx, const char *name)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        lfk_error(L, FN ": option '%s' must be a string, got %s", name, luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

static double opt_number(lua_State *L, int idx, const fk_option *row, const char *name)
{
    double v;
    if (lua_type(L, idx) != LUA_TNUMBER)
        lfk_error(L, FN ": option '%s' must be a number, got %s", name, luaL_typename(L, idx));
    v = lua_tonumber(L, idx);
    if (row->min >= 0 && !(v >= 0)) lfk_error(L, FN ": option '%s' must not be negative", name);
    return v;
}

static void set_text(lua_State *L, const fk_option *row, void *base, const char *value)
{
    if (!fk_option_set_text(row, base, value)) lfk_error(L, "%s: out of memory", row->lua);
}

static void set_number(lua_State *L, const fk_option *row, void *base, double value)
{
    if (!fk_option_set_number(row, base, value)) lfk_error(L, "%s: out of memory", row->lua);
}

/* fmt takes the name, the choices ("a, b or c"; "one of a, b, c" when listed) and the value. */
static void check_choice(lua_State *L, const fk_option *row, const char *value, const char *fmt, const char *name,
                         int listed)
{
    char choices[300];
    if (fk_option_choice(row, value) >= 0) return;
    strcpy(choices, listed ? "one of " : "");
    fk_option_choices_text(choices + strlen(choices), sizeof choices - strlen(choices), row, listed ? ", " : " or ");
    lfk_error(L, fmt, name, choices, value);
}

/* Values are converted to the text librdkafka takes; librdkafka itself checks them at validate. */
void lfk_check_properties(lua_State *L, int idx, fk_kvlist *out, const char *what)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        lfk_error(L, "%s must be a table of librdkafka property names to values, got %s", what,
                  luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char buf[64];
        const char *v;
        if (lua_type(L, -2) != LUA_TSTRING || lua_objlen(L, -2) == 0)
            lfk_error(L, "%s: property names must be non-empty strings", what);
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
            lfk_error(L, "%s: property '%s' must be a string, number or boolean, got %s", what,
                      lua_tostring(L, -2), luaL_typename(L, -1));
            return;
        }
        if (!fk_kvlist_set(out, lua_tostring(L, -2), v)) lfk_error(L, "%s: out of memory", what);
        lua_pop(L, 1);
    }
}

static void read_options(lua_State *L, int idx, const fk_option *rows, const char *prefix, void *base);

/* A section (sasl, tls): a table of its own rows; `true` / `false` when it has a switch. */
static void read_section(lua_State *L, int v, const fk_option *row, const char *name, void *base)
{
    const fk_option *sub;
    char prefix[160], keys[200];
    int has_switch = row->type == FK_FIELD_INT;
    if (has_switch && lua_type(L, v) == LUA_TBOOLEAN) {
        fk_option_set_number(row, base, lua_toboolean(L, v));
        return;
    }
    if (lua_type(L, v) != LUA_TTABLE) {
        fk_option_join_names(keys, sizeof keys, row->sub, FK_NAME_LUA, ", ", ", ", "", "=");
        lfk_error(L, FN ": option '%s' must be %sa table {%s}", name, has_switch ? "true or " : "", keys);
    }
    if (has_switch) fk_option_set_number(row, base, 1);
    snprintf(prefix, sizeof prefix, "%s.", name);
    read_options(L, v, row->sub, prefix, base);
    for (sub = row->sub; !fk_option_end(sub); sub++)
        if ((sub->flags & FK_OPT_REQUIRED) && !fk_option_is_set(sub, base))
            lfk_error(L, FN ": option '%s%s' is required", prefix, sub->lua);
}

/* The value at v for row, named `name` in messages (sasl.user). */
static void read_value(lua_State *L, int v, const fk_option *row, const char *name, void *base)
{
    char what[160];
    double n;
    switch (row->kind) {
    case FK_OPT_STRING:
        if ((row->flags & FK_OPT_NOT_EMPTY) && !*opt_string(L, v, name))
            lfk_error(L, FN ": option '%s' must be a non-empty string", name);
        set_text(L, row, base, opt_string(L, v, name));
        break;
    case FK_OPT_INT:
        n = opt_number(L, v, row, name);
        if (n != floor(n) || n < (double)row->min || n > (double)row->max)
            lfk_error(L, FN ": option '%s' must be an integer between %f and %f, got %f", name,
                      (double)row->min, (double)row->max, n);
        set_number(L, row, base, n);
        break;
    case FK_OPT_MS:
        n = opt_number(L, v, row, name) * 1000.0;
        if (row->type != FK_FIELD_DOUBLE) n = ceil(n);
        if (n > (double)row->max)
            lfk_error(L, FN ": option '%s' is in seconds: %f s is above the %f s limit (for 5 ms write 0.005)",
                      name, n / 1000.0, row->max / 1000.0);
        set_number(L, row, base, n);
        break;
    case FK_OPT_BOOL:
        if (lua_type(L, v) != LUA_TBOOLEAN)
            lfk_error(L, FN ": option '%s' must be a boolean, got %s", name, luaL_typename(L, v));
        set_number(L, row, base, lua_toboolean(L, v));
        break;
    case FK_OPT_ENUM:
        check_choice(L, row, opt_string(L, v, name), FN ": option '%s' must be %s, got '%s'", name, row->noun != NULL);
        set_text(L, row, base, lua_tostring(L, v));
        break;
    case FK_OPT_STRINGS:
        snprintf(what, sizeof what, FN ": option '%s'", name);
        lfk_check_string_array(L, v, fk_option_field(row, base), what);
        break;
    case FK_OPT_KV:
        snprintf(what, sizeof what, FN ": option '%s'", name);
        lfk_check_properties(L, v, fk_option_field(row, base), what);
        break;
    case FK_OPT_NESTED:
        read_section(L, v, row, name, base);
        break;
    default:
        break;
    }
}

static void read_options(lua_State *L, int idx, const fk_option *rows, const char *prefix, void *base)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const fk_option *row;
        const char *k, *hint;
        char name[128], known[600];
        if (lua_type(L, -2) != LUA_TSTRING) lfk_error(L, FN ": option names must be strings");
        k = lua_tostring(L, -2);
        if (!(row = fk_option_find(rows, k, FK_NAME_LUA))) {
            hint = fk_option_suggest(rows, k, FK_NAME_LUA);
            fk_option_join_names(known, sizeof known, rows, FK_NAME_LUA, ", ", ", ", "", "");
            lfk_error(L, FN ": unknown option '%s%s'%s%s%s (known: %s)", prefix, k, hint ? " (did you mean '" : "",
                      hint ? hint : "", hint ? "'?)" : "", known);
        }
        snprintf(name, sizeof name, "%s%s", prefix, k);
        read_value(L, lua_gettop(L), row, name, base);
        lua_pop(L, 1);
    }
}

void lfk_read_options(lua_State *L, int idx, const fk_option *rows, void *base)
{
    read_options(L, idx, rows, "", base);
}

/* ---------------------------------------------------------------- getters ---- */

/* Pushes the value in effect (defaults filled in, durations in seconds); 0 when there is
   nothing to show (an unset string, a section that is off). */
static int push_value(lua_State *L, const fk_option *row, const void *base)
{
    const char *s;
    const fk_group_spec *g = base;
    switch (row->kind) {
    case FK_OPT_STRING:
    case FK_OPT_ENUM:
        if (!(s = fk_option_text(row, base) ? fk_option_text(row, base) : row->if_unset)) return 0;
        lua_pushstring(L, s);
        return 1;
    case FK_OPT_INT: lua_pushnumber(L, fk_option_effective(row, base)); return 1;
    case FK_OPT_MS: lua_pushnumber(L, fk_option_effective(row, base) / 1000.0); return 1;
    case FK_OPT_BOOL: lua_pushboolean(L, fk_option_number(row, base) != 0); return 1;
    case FK_OPT_STRINGS: lfk_push_string_array(L, fk_option_field(row, (void *)base)); return 1;
    case FK_OPT_KV: lfk_push_kvlist(L, fk_option_field(row, (void *)base)); return 1;
    case FK_OPT_NESTED:
        if (!fk_option_is_set(row, base)) return 0;
        lfk_push_options(L, row->sub, base);
        return 1;
    case FK_OPT_START:
        if (g->start_timestamp_ms > 0) lua_pushnumber(L, (lua_Number)g->start_timestamp_ms);
        else lua_pushstring(L, g->start_latest ? "latest" : "earliest");
        return 1;
    default:
        return 0;
    }
}

void lfk_push_options(lua_State *L, const fk_option *rows, const void *base)
{
    const fk_option *row;
    lua_newtable(L);
    for (row = rows; !fk_option_end(row); row++) {
        /* a builder's shortcut for one topic config shows in the configs */
        if (!fk_option_name(row, FK_NAME_LUA) || (row->type == FK_FIELD_KV && row->kind != FK_OPT_KV)) continue;
        if (push_value(L, row, base)) lua_setfield(L, -2, row->lua);
    }
}

/* ---------------------------------------------------------------- builder methods ---- */

/* A duration in seconds within the row's range; the message names the method, the unit and
   the range, since 30000 for 30 s is the usual mistake. 0 is allowed (its meaning says why). */
static double method_seconds(lua_State *L, const fk_option *row)
{
    double s, ms;
    char zero[64] = "";
    if (lua_type(L, 2) != LUA_TNUMBER)
        lfk_error(L, "%s: expected a number of seconds, got %s", row->lua, luaL_typename(L, 2));
    s = lua_tonumber(L, 2);
    ms = ceil(s * 1000.0);
    if (!(s >= 0) || ms > (double)row->max) {
        if (row->zero) snprintf(zero, sizeof zero, "; 0 means %s", row->zero);
        else if (row->if_zero) snprintf(zero, sizeof zero, "; 0 means the default (%g s)", row->if_zero / 1000);
        lfk_error(L, "%s: %f seconds is out of range: the unit is seconds, from %f to %f%s", row->lua, s, 0.001,
                  row->max / 1000.0, zero);
    }
    return ms;
}

static double method_count(lua_State *L, const fk_option *row)
{
    double n;
    if (lua_type(L, 2) != LUA_TNUMBER)
        lfk_error(L, "%s: expected a number, got %s", row->lua, luaL_typename(L, 2));
    n = lua_tonumber(L, 2);
    if (n != floor(n) || n < (double)row->min || n > (double)row->max)
        lfk_error(L, "%s: expected an integer between %.0f and %.0f, got %f", row->lua, (double)row->min,
                  (double)row->max, n);
    return n;
}

/* builder:topics(name, ...): adds each name once. */
static void method_names(lua_State *L, const fk_option *row, fk_strlist *list)
{
    int i, n = lua_gettop(L);
    if (n < 2) lfk_error(L, "%s: expected at least one %s", row->lua, row->noun);
    for (i = 2; i <= n; i++) {
        if (lua_type(L, i) != LUA_TSTRING || lua_objlen(L, i) == 0)
            lfk_error(L, "%s: argument #%d must be a non-empty string, got %s", row->lua, i - 1, luaL_typename(L, i));
        if (!fk_strlist_contains(list, lua_tostring(L, i)) && !fk_strlist_push(list, lua_tostring(L, i)))
            lfk_error(L, "%s: out of memory", row->lua);
    }
}

static void method_start(lua_State *L, fk_group_spec *g)
{
    const char *v = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
    if (lua_type(L, 2) == LUA_TNUMBER) {
        /* a record timestamp: milliseconds since the epoch, like record.timestamp */
        double ms = lua_tonumber(L, 2);
        if (!(ms > 0) || ms != floor(ms) || ms > 9.2e18)
            lfk_error(L, "start_offset: a timestamp must be a whole number of milliseconds since "
                      "the epoch, above 0 (e.g. (os.time() - 3600) * 1000), got %s", lua_tostring(L, 2));
        g->start_timestamp_ms = (int64_t)ms;
        g->start_latest = 0;
        return;
    }
    if (strcmp(v, "earliest") != 0 && strcmp(v, "latest") != 0)
        lfk_error(L, "start_offset: expected \"earliest\", \"latest\" or a timestamp in milliseconds, got %s",
                  lua_type(L, 2) == LUA_TSTRING ? v : luaL_typename(L, 2));
    g->start_latest = strcmp(v, "latest") == 0;
    g->start_timestamp_ms = 0;
}

void lfk_set_option_by_method(lua_State *L, const fk_option *row, void *base)
{
    char what[160];
    switch (row->kind) {
    case FK_OPT_MS: set_number(L, row, base, method_seconds(L, row)); break;
    case FK_OPT_INT: set_number(L, row, base, method_count(L, row)); break;
    case FK_OPT_ENUM:
        check_choice(L, row, lfk_check_string(L, 2, row->lua, 1, row->noun ? row->noun : "value", NULL), "%s: expected %s, got '%s'", row->lua, 0);
        set_text(L, row, base, lua_tostring(L, 2));
        break;
    case FK_OPT_KV:
        snprintf(what, sizeof what, "%s: argument #1 'properties'", row->lua);
        lfk_check_properties(L, 2, fk_option_field(row, base), what);
        break;
    case FK_OPT_STRINGS: method_names(L, row, fk_option_field(row, base)); break;
    case FK_OPT_START: method_start(L, base); break;
    default: break;
    }
}

void lfk_add_option_methods(lua_State *L, const char *methods, const fk_option *rows, lua_CFunction setter)
{
    const fk_option *row;
    lua_getfield(L, -1, methods);
    for (row = rows; !fk_option_end(row); row++) {
        if (!fk_option_name(row, FK_NAME_LUA)) continue;
        lua_pushlightuserdata(L, (void *)row);
        lua_pushcclosure(L, setter, 1);
        lua_setfield(L, -2, row->lua);
    }
    lua_pop(L, 1);
}
