/* Async SQL flush: Lua operation tables <-> the core's msgpack codec (csrc/fk_async_sql.c),
   and the consumer-side calls lua/fluxakafka/async_sql.lua builds the consumer from.
   Misuse raises naming ops[i] and the field; the world's failures return nil, err, code. */
#include "lfk.h"
#include "../fk_async_sql.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LFK_ARENA "fluxakafka.async_sql_arena"
#define TWO_53 9007199254740992.0
#define TWO_63 9223372036854775808.0

/* ---------------------------------------------------------------- arena ---- */

/* Scratch memory for one encode call, owned by a userdata so that a raise frees it. */
typedef struct arena_block { struct arena_block *next; size_t used, cap; char data[]; } arena_block;
typedef struct arena { arena_block *head; } arena;

static void arena_free(arena *a)
{
    while (a->head) {
        arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

static int arena_gc(lua_State *L)
{
    arena_free(lfk_checkudata(L, 1, LFK_ARENA));
    return 0;
}

static void *arena_alloc(lua_State *L, arena *a, size_t n)
{
    arena_block *b = a->head;
    n = (n + 15) & ~(size_t)15;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        if (!(b = malloc(sizeof *b + cap))) lfk_error(L, "async SQL encode: out of memory");
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    b->used += n;
    return memset(b->data + b->used - n, 0, n);
}

static const char *arena_text(lua_State *L, arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(L, a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---------------------------------------------------------------- encoding ---- */

/* Where the reader is, for error messages only: "ops[2].queries[1].p[3]" is the frames
   (ops, 2) (queries, 1) (p, 3). Formatted when an error is raised, never before. */
typedef struct frame {
    const char *field;   /* NULL: only an index */
    int         index;   /* 0: no index */
} frame;

#define MAX_DEPTH 8

typedef struct enc {
    lua_State  *L;
    arena      *a;
    int         normalize;   /* stack index of the cdata normalizer */
    const char *fn;          /* the function named in errors */
    frame       frames[MAX_DEPTH];
    int         depth;
} enc;

static int enc_fail(enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int enc_fail(enc *e, const char *fmt, ...)
{
    char what[300], path[300];
    size_t n = 0;
    int k;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    path[0] = '\0';
    for (k = 0; k < e->depth && n < sizeof path; k++) {
        const frame *f = &e->frames[k];
        if (f->field) n += (size_t)snprintf(path + n, sizeof path - n, "%s%.80s", k ? "." : "", f->field);
        if (f->index > 0 && n < sizeof path) n += (size_t)snprintf(path + n, sizeof path - n, "[%d]", f->index);
    }
    return lfk_error(e->L, "%s: %s: %s", e->fn, path, what);
}

static void push_frame(enc *e, const char *field, int index)
{
    if (e->depth == MAX_DEPTH) lfk_error(e->L, "%s: nesting too deep", e->fn);
    e->frames[e->depth].field = field;
    e->frames[e->depth].index = index;
    e->depth++;
}
static void pop_frame(enc *e) { e->depth--; }
static void set_index(enc *e, int index) { e->frames[e->depth - 1].index = index; }

static int is_null(lua_State *L, int idx)
{
    return lua_isnil(L, idx) || (lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL);
}

/* The length of an array that may hold nil: t.n when set, else the largest integer key. */
static int array_length(enc *e, int idx)
{
    lua_State *L = e->L;
    double max = 0;
    lua_getfield(L, idx, "n");
    if (!lua_isnil(L, -1)) {
        double n = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || n < 0 || n != floor(n) || n > 1e7)
            enc_fail(e, "field 'n' must be a non-negative integer (the array length)");
        lua_pop(L, 1);
        return (int)n;
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        double k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : -1;
        if (k < 1 || k != floor(k) || k > 1e7) enc_fail(e, "expected an array (keys 1..n, and 'n')");
        if (k > max) max = k;
        lua_pop(L, 1);
    }
    return (int)max;
}

/* Calls the normalizer on the cdata at idx: it returns a type letter ('i' or 'u') and text. */
static char normalize_cdata(enc *e, int idx, fk_bytes *text)
{
    lua_State *L = e->L;
    size_t tl, vl;
    const char *t, *v;
    lua_pushvalue(L, e->normalize);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 2);
    t = lua_tolstring(L, -2, &tl);
    v = lua_tolstring(L, -1, &vl);
    if (!t || !v || tl != 1) enc_fail(e, "%s", v ? v : "unsupported cdata (only int64_t and uint64_t)");
    text->ptr = arena_text(L, e->a, v, vl);
    text->len = vl;
    lua_pop(L, 2);
    return t[0];
}

static void set_text(enc *e, fk_bytes *out, const char *s)
{
    out->len = strlen(s);
    out->ptr = arena_text(e->L, e->a, s, out->len);
}

static void check_keys(enc *e, int idx, const char *const *known, const char *list)
{
    lua_State *L = e->L;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        size_t i;
        int found = 0;
        for (i = 0; k && known[i] && !found; i++) found = strcmp(k, known[i]) == 0;
        if (!found) {
            if (k) enc_fail(e, "unknown field '%s' (known: %s)", k, list);
            enc_fail(e, "unexpected %s key (known fields: %s)", luaL_typename(L, -2), list);
        }
        lua_pop(L, 1);
    }
}

/* A time given as unix seconds (number, rounded to microseconds) or RFC 3339 text. */
static void read_time(enc *e, int idx, int64_t *sec, int32_t *nsec)
{
    lua_State *L = e->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double t = lua_tonumber(L, idx), whole = floor(t);
        double micros = floor((t - whole) * 1e6 + 0.5);
        if (!(fabs(t) < 9e18)) enc_fail(e, "time %g is out of range", t);
        if (micros >= 1e6) {
            whole += 1;
            micros = 0;
        }
        *sec = (int64_t)whole;
        *nsec = (int32_t)micros * 1000;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!fk_sql_time_parse(s, len, sec, nsec)) enc_fail(e, "'%.60s' is not an RFC 3339 time", s);
    } else {
        enc_fail(e, "field 'time' must be unix seconds or an RFC 3339 string, got %s", luaL_typename(L, idx));
    }
}

/* A time parameter's wire text: whole seconds in UTC, as FluxaORM's writer formats a
   time.Time (time.RFC3339 has no fraction, so Go drops it: the second is truncated). */
static void time_param_text(enc *e, int idx, fk_bytes *out)
{
    char buf[FK_SQL_TEXT_MAX];
    int64_t sec;
    int32_t nsec;
    read_time(e, idx, &sec, &nsec);
    fk_sql_time_format(sec, 0, buf);
    set_text(e, out, buf);
}

/* A number as FluxaORM writes a Go value: an integer value below 2^63 as int64 ('i', exact),
   any other as float64 ('f', Go's shortest 'g' text). */
static void number_param(enc *e, double v, fk_sql_param *p)
{
    char buf[FK_SQL_TEXT_MAX];
    if (v == floor(v) && fabs(v) < TWO_63) {
        p->type = FK_SQL_INT;
        snprintf(buf, sizeof buf, "%lld", (long long)v);
    } else {
        if (!isfinite(v)) enc_fail(e, "%g cannot be stored in SQL", v);
        p->type = FK_SQL_FLOAT;
        fk_sql_float_format(v, 'g', buf);
    }
    set_text(e, &p->value, buf);
}

/* FluxaORM's own form { n = true, t = "", v = "" } for NULL, { t = type, v = text } else;
   an absent t or v is "" (what a writer honouring omitempty leaves out). */
static void wire_param(enc *e, int idx, fk_sql_param *p)
{
    static const char *const keys[] = { "n", "t", "v", NULL };
    lua_State *L = e->L;
    fk_error err;
    size_t len;
    const char *t;
    check_keys(e, idx, keys, "n, t, v");
    lua_getfield(L, idx, "n");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN) enc_fail(e, "field 'n' must be a boolean");
    p->is_null = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (p->is_null) return;   /* t and v mean nothing then, to FluxaORM's reader too */
    lua_getfield(L, idx, "t");
    t = lua_tolstring(L, -1, &len);
    if (lua_type(L, -1) != LUA_TSTRING || len != 1)
        enc_fail(e, "field 't' must be one of \"s\", \"i\", \"u\", \"f\", \"b\", \"t\" (or n = true for NULL)");
    p->type = t[0];
    lua_getfield(L, idx, "v");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        enc_fail(e, "field 'v' must be the value as a string, got %s", luaL_typename(L, -1));
    p->value.ptr = lua_tolstring(L, -1, &p->value.len);
    if (!fk_sql_param_valid(p->type, p->value.ptr, p->value.len, &err)) enc_fail(e, "%s", err.msg);
    p->value.ptr = arena_text(L, e->a, p->value.ptr, p->value.len);
    lua_pop(L, 2);
}

static void read_param(enc *e, int idx, void *item)
{
    fk_sql_param *p = item;
    lua_State *L = e->L;
    fk_error err;
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    memset(p, 0, sizeof *p);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        p->is_null = 1;
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) break;
        p->is_null = 1;
        return;
    case LUA_TSTRING:
        p->type = FK_SQL_STRING;
        p->value.ptr = lua_tolstring(L, idx, &p->value.len);   /* kept alive by the ops table */
        return;
    case LUA_TBOOLEAN:
        p->type = FK_SQL_BOOL;
        p->value.ptr = lua_toboolean(L, idx) ? "1" : "0";
        p->value.len = 1;
        return;
    case LUA_TNUMBER:
        number_param(e, lua_tonumber(L, idx), p);
        return;
    case LUA_TTABLE:
        lua_getfield(L, idx, "t");
        lua_getfield(L, idx, "n");
        if (!lua_isnil(L, -1) || !lua_isnil(L, -2)) {
            lua_pop(L, 2);
            wire_param(e, idx, p);
            return;
        }
        lua_pop(L, 2);
        /* a time: { rfc3339 = text } (fk.sql_time) or { time = seconds | text } */
        lua_getfield(L, idx, "rfc3339");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_getfield(L, idx, "time");
        }
        if (!lua_isnil(L, -1)) {
            p->type = FK_SQL_TIME;
            time_param_text(e, lua_gettop(L), &p->value);
            lua_pop(L, 1);
            return;
        }
        lua_pop(L, 1);
        enc_fail(e, "a table parameter must be a time {time = ...} (fk.sql_time) or typed {t = ..., v = ...} "
                 "or {n = true} (NULL)");
        return;
    default:
        if (lua_type(L, idx) == 10) {   /* LuaJIT cdata */
            p->type = normalize_cdata(e, idx, &p->value);
            if (!fk_sql_param_valid(p->type, p->value.ptr, p->value.len, &err)) enc_fail(e, "%s", err.msg);
            return;
        }
        break;
    }
    enc_fail(e, "unsupported parameter type %s (use nil/fk.null, a string, number, boolean, "
             "int64/uint64 cdata, fk.sql_time(...) or {t=, v=})", luaL_typename(L, idx));
}

/* An unsigned 64-bit event field: a number, an int64/uint64 cdata or a decimal string. */
static uint64_t read_uint64(enc *e, int idx)
{
    lua_State *L = e->L;
    fk_bytes text = { NULL, 0 };
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (v != floor(v) || v < 0 || v >= 18446744073709551616.0)
            enc_fail(e, "expected an integer from 0 to 2^64-1, got %.17g", v);
        return (uint64_t)v;
    }
    if (lua_type(L, idx) == LUA_TSTRING) text.ptr = lua_tolstring(L, idx, &text.len);
    else if (lua_type(L, idx) == 10) normalize_cdata(e, idx, &text);
    else enc_fail(e, "expected an integer, got %s", luaL_typename(L, idx));
    if (!fk_sql_param_valid(FK_SQL_UINT, text.ptr, text.len, NULL))
        enc_fail(e, "'%.40s' is not an integer from 0 to 2^64-1", text.ptr);
    return strtoull(text.ptr, NULL, 10);
}

/* A Redis argument as the string go-redis would send for the Go value: integers in decimal,
   other numbers as strconv.FormatFloat(v, 'f', -1, 64), booleans "1"/"0". What has no such
   string (nil, NaN, tables, ...) raises: FluxaORM's arguments are []string. */
static void read_arg(enc *e, int idx, void *item)
{
    fk_bytes *out = item;
    lua_State *L = e->L;
    char buf[FK_SQL_FLOAT_MAX];
    if (lua_type(L, idx) == LUA_TSTRING) {
        out->ptr = lua_tolstring(L, idx, &out->len);
    } else if (lua_type(L, idx) == LUA_TBOOLEAN) {
        out->ptr = lua_toboolean(L, idx) ? "1" : "0";
        out->len = 1;
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        double d = lua_tonumber(L, idx);
        if (isnan(d)) enc_fail(e, "NaN is no Redis argument");
        if (d == floor(d) && fabs(d) < TWO_63) snprintf(buf, sizeof buf, "%lld", (long long)d);
        else fk_sql_float_format(d, 'f', buf);
        set_text(e, out, buf);
    } else if (lua_type(L, idx) == 10) {
        normalize_cdata(e, idx, out);
    } else {
        enc_fail(e, "a Redis argument must be a string, a number, a boolean or int64/uint64 cdata, got %s "
                 "(FluxaORM's arguments are strings)", is_null(L, idx) ? "null" : luaL_typename(L, idx));
    }
}

/* Reads the array field `name` of the table at idx with `read`, one item of `size` bytes
   each; *present is 0 when the field is nil (then it is an error when required). */
static void *read_list(enc *e, int idx, const char *name, int required, size_t size,
                       void (*read)(enc *, int, void *), size_t *count, int *present)
{
    lua_State *L = e->L;
    size_t n, i;
    char *items;
    int t;
    lua_getfield(L, idx, name);
    t = lua_gettop(L);
    *count = 0;
    *present = !lua_isnil(L, t);
    if (!*present) {
        if (required) enc_fail(e, "field '%s' is required (an array)", name);
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, t) != LUA_TTABLE) enc_fail(e, "field '%s' must be an array, got %s", name, luaL_typename(L, t));
    n = lua_objlen(L, t);
    items = arena_alloc(L, e->a, size * (n ? n : 1));
    push_frame(e, name, 0);
    for (i = 1; i <= n; i++) {
        set_index(e, (int)i);
        lua_rawgeti(L, t, (int)i);
        read(e, lua_gettop(L), items + (i - 1) * size);
        lua_pop(L, 1);
    }
    pop_frame(e);
    lua_pop(L, 1);
    *count = n;
    return items;
}

/* Reads the array field `name` (parameters or arguments, which may hold nil: see
   array_length) of the table at idx with `read`, one item of `size` bytes each. */
static void *read_values(enc *e, int idx, const char *name, const char *what, size_t size,
                         void (*read)(enc *, int, void *), size_t *count, int *present)
{
    lua_State *L = e->L;
    char *items = NULL;
    int t, i, n;
    *count = 0;
    lua_getfield(L, idx, name);
    t = lua_gettop(L);
    *present = !lua_isnil(L, t);
    if (*present) {
        push_frame(e, name, 0);
        if (lua_type(L, t) != LUA_TTABLE) enc_fail(e, "must be an array of %s, got %s", what, luaL_typename(L, t));
        n = array_length(e, t);
        items = arena_alloc(L, e->a, size * (size_t)(n ? n : 1));
        for (i = 1; i <= n; i++) {
            set_index(e, i);
            lua_rawgeti(L, t, i);
            read(e, lua_gettop(L), items + (size_t)(i - 1) * size);
            lua_pop(L, 1);
        }
        *count = (size_t)n;
        pop_frame(e);
    }
    lua_pop(L, 1);
    return items;
}

static void read_query(enc *e, int idx, void *item)
{
    fk_sql_query *q = item;
    static const char *const keys[] = { "q", "p", NULL };
    lua_State *L = e->L;
    int present;   /* no parameters and p = {} are both an empty array, as FluxaORM's make() */
    if (lua_type(L, idx) != LUA_TTABLE) enc_fail(e, "a query must be a table {q = sql, p = params}");
    check_keys(e, idx, keys, "q, p");
    lua_getfield(L, idx, "q");
    if (lua_type(L, -1) != LUA_TSTRING) enc_fail(e, "field 'q' (the SQL text) must be a string, got %s", luaL_typename(L, -1));
    q->sql.ptr = lua_tolstring(L, -1, &q->sql.len);
    lua_pop(L, 1);
    q->params = read_values(e, idx, "p", "parameters", sizeof *q->params, read_param, &q->param_count, &present);
}

static void read_event(enc *e, int idx, void *item)
{
    fk_sql_event *ev = item;
    static const char *const keys[] = { "ci", "id", "ft", "ch", NULL };
    lua_State *L = e->L;
    if (lua_type(L, idx) != LUA_TTABLE) enc_fail(e, "an event must be a table {ci =, id =, ft =, ch =}");
    check_keys(e, idx, keys, "ci, id, ft, ch");
    lua_getfield(L, idx, "ci");
    push_frame(e, "ci", 0);
    if (!lua_isnil(L, -1)) ev->cache_index = read_uint64(e, lua_gettop(L));
    pop_frame(e);
    lua_getfield(L, idx, "id");
    push_frame(e, "id", 0);
    if (!lua_isnil(L, -1)) ev->id = read_uint64(e, lua_gettop(L));
    pop_frame(e);
    lua_getfield(L, idx, "ft");
    push_frame(e, "ft", 0);
    if (lua_type(L, -1) != LUA_TNUMBER || (lua_tonumber(L, -1) != 1 && lua_tonumber(L, -1) != 2 && lua_tonumber(L, -1) != 3))
        enc_fail(e, "must be 1 (insert), 2 (update) or 3 (delete)");
    ev->type = (unsigned)lua_tonumber(L, -1);
    pop_frame(e);
    lua_pop(L, 3);
    lua_getfield(L, idx, "ch");
    if (!lua_isnil(L, -1)) {
        int t = lua_gettop(L);
        size_t n = 0;
        push_frame(e, "ch", 0);
        if (lua_type(L, t) != LUA_TTABLE) enc_fail(e, "must be a table of column names to values");
        lua_pushnil(L);
        while (lua_next(L, t)) {
            n++;
            lua_pop(L, 1);
        }
        ev->has_changes = n > 0;   /* FluxaORM sends no changes as nil, never as an empty map */
        ev->changes = arena_alloc(L, e->a, sizeof *ev->changes * (n ? n : 1));
        lua_pushnil(L);
        while (lua_next(L, t)) {
            fk_sql_change *c = &ev->changes[ev->change_count];
            if (lua_type(L, -2) != LUA_TSTRING) enc_fail(e, "keys must be column names (strings)");
            c->column.ptr = lua_tolstring(L, -2, &c->column.len);
            push_frame(e, c->column.ptr, 0);
            read_param(e, -1, &c->param);
            pop_frame(e);
            ev->change_count++;
            lua_pop(L, 1);
        }
        pop_frame(e);
    }
    lua_pop(L, 1);
}

static void read_redis(enc *e, int idx, void *item)
{
    fk_sql_redis *r = item;
    static const char *const keys[] = { "p", "c", "a", NULL };
    lua_State *L = e->L;
    if (lua_type(L, idx) != LUA_TTABLE) enc_fail(e, "a Redis command must be a table {p = pool, c = command, a = args}");
    check_keys(e, idx, keys, "p, c, a");
    lua_getfield(L, idx, "p");
    if (lua_type(L, -1) != LUA_TSTRING) enc_fail(e, "field 'p' (the Redis pool) must be a string, got %s", luaL_typename(L, -1));
    r->pool.ptr = lua_tolstring(L, -1, &r->pool.len);
    lua_getfield(L, idx, "c");
    if (lua_type(L, -1) != LUA_TSTRING) enc_fail(e, "field 'c' (the command) must be a string, got %s", luaL_typename(L, -1));
    r->command.ptr = lua_tolstring(L, -1, &r->command.len);
    lua_pop(L, 2);
    r->args = read_values(e, idx, "a", "arguments", sizeof *r->args, read_arg, &r->arg_count, &r->has_args);
}

/* Reads the operation at idx; pushes its record key (table name, or the pool when the table
   is empty) and leaves it on the stack. */
static void read_op(enc *e, int idx, fk_async_op *op)
{
    static const char *const keys[] = { "pool", "table", "queries", "events", "redis", NULL };
    lua_State *L = e->L;
    int present;
    if (lua_type(L, idx) != LUA_TTABLE) enc_fail(e, "an operation must be a table {pool =, table =, queries =, ...}");
    check_keys(e, idx, keys, "pool, table, queries, events, redis");
    lua_getfield(L, idx, "pool");
    if (lua_type(L, -1) != LUA_TSTRING || lua_objlen(L, -1) == 0)
        enc_fail(e, "field 'pool' (the database pool code) must be a non-empty string, got %s", luaL_typename(L, -1));
    op->pool.ptr = lua_tolstring(L, -1, &op->pool.len);
    lua_getfield(L, idx, "table");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        enc_fail(e, "field 'table' must be a string, got %s", luaL_typename(L, -1));
    if (lua_isnil(L, -1) || lua_objlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);   /* FluxaORM keys such records by the pool code */
    }
    lua_remove(L, -2);
    op->queries = read_list(e, idx, "queries", 1, sizeof *op->queries, read_query, &op->query_count, &present);
    op->events = read_list(e, idx, "events", 0, sizeof *op->events, read_event, &op->event_count, &op->has_events);
    op->redis = read_list(e, idx, "redis", 0, sizeof *op->redis, read_redis, &op->redis_count, &op->has_redis);
}

/* _async_sql_encode(ops, topic, normalize [, fn]) -> array of records {topic=, key=, value=}:
   one per (pool, table), the operations of each concatenated in order. Errors name fn
   (default "flush_async"). */
static int async_sql_encode(lua_State *L)
{
    enc e;
    int n, i, groups, keys, ops_idx = 1, out;
    fk_async_op *ops, *group;
    int *group_of, *first;
    lfk_checktype(L, 1, LUA_TTABLE);
    lfk_checkstring(L, 2);
    lfk_checktype(L, 3, LUA_TFUNCTION);
    e.fn = luaL_optstring(L, 4, "flush_async");
    lua_settop(L, 4);
    e.L = L;
    e.normalize = 3;
    e.depth = 0;
    push_frame(&e, "ops", 0);
    e.a = lua_newuserdata(L, sizeof *e.a);   /* 5 */
    e.a->head = NULL;
    luaL_getmetatable(L, LFK_ARENA);
    lua_setmetatable(L, -2);
    n = (int)lua_objlen(L, ops_idx);
    ops = arena_alloc(L, e.a, sizeof *ops * (size_t)(n ? n : 1));
    group_of = arena_alloc(L, e.a, sizeof *group_of * (size_t)(n ? n : 1));
    first = arena_alloc(L, e.a, sizeof *first * (size_t)(n ? n : 1));
    lua_newtable(L);                          /* 6: "pool\0key" -> group number */
    keys = lua_gettop(L);
    lua_createtable(L, n, 0);                 /* 7: group number -> key */
    groups = 0;
    for (i = 1; i <= n; i++) {
        set_index(&e, i);
        lua_rawgeti(L, ops_idx, i);
        read_op(&e, lua_gettop(L), &ops[i - 1]);   /* pushes the key */
        lua_pushlstring(L, ops[i - 1].pool.ptr, ops[i - 1].pool.len);
        lua_pushlstring(L, "", 1);
        lua_pushvalue(L, -3);
        lua_concat(L, 3);
        lua_pushvalue(L, -1);
        lua_rawget(L, keys);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            first[groups] = i - 1;
            group_of[i - 1] = ++groups;
            lua_pushinteger(L, groups);
            lua_rawset(L, keys);
            lua_rawseti(L, keys + 1, groups);   /* the key */
        } else {
            group_of[i - 1] = (int)lua_tointeger(L, -1);
            lua_pop(L, 3);
        }
        lua_pop(L, 1);   /* the op */
    }
    group = arena_alloc(L, e.a, sizeof *group * (size_t)(n ? n : 1));
    lua_createtable(L, groups, 0);
    out = lua_gettop(L);
    for (i = 1; i <= groups; i++) {
        int k, count = 0;
        size_t len;
        fk_error err;
        char *value;
        for (k = first[i - 1]; k < n; k++)
            if (group_of[k] == i) group[count++] = ops[k];
        if (!(value = fk_async_sql_encode(group, (size_t)count, &len, &err)))
            return lfk_error(L, "%s: %s", e.fn, err.msg);
        lua_createtable(L, 0, 3);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "topic");
        lua_rawgeti(L, keys + 1, i);
        lua_setfield(L, -2, "key");
        lua_pushlstring(L, value, len);
        free(value);
        lua_setfield(L, -2, "value");
        lua_rawseti(L, out, i);
    }
    arena_free(e.a);   /* now, rather than at the next collection */
    return 1;
}

/* ---------------------------------------------------------------- decoding ---- */

typedef struct dec {
    lua_State *L;
    int        bigint;   /* stack index: function(type, text) for integers beyond 2^53 */
    int        time;     /* stack index: function(text, sec, nsec) */
} dec;

static void push_big(dec *d, char type, const char *text, size_t len)
{
    char t = type;
    lua_pushvalue(d->L, d->bigint);
    lua_pushlstring(d->L, &t, 1);
    lua_pushlstring(d->L, text, len);
    lua_call(d->L, 2, 1);
}

static void push_int(dec *d, int64_t v)
{
    char buf[32];
    if (v >= -(int64_t)TWO_53 && v <= (int64_t)TWO_53) {
        lua_pushnumber(d->L, (double)v);
        return;
    }
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    push_big(d, FK_SQL_INT, buf, strlen(buf));
}

static void push_uint(dec *d, uint64_t v)
{
    char buf[32];
    if (v <= (uint64_t)TWO_53) {
        lua_pushnumber(d->L, (double)v);
        return;
    }
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    push_big(d, FK_SQL_UINT, buf, strlen(buf));
}

static void push_param(dec *d, const fk_sql_param *p)
{
    lua_State *L = d->L;
    char buf[400];   /* as long as a number text fk_sql_param_valid accepts */
    if (p->is_null) {
        lua_pushlightuserdata(L, NULL);
        return;
    }
    switch (p->type) {
    case FK_SQL_INT:
    case FK_SQL_UINT:
    case FK_SQL_FLOAT: {
        size_t n = p->value.len < sizeof buf - 1 ? p->value.len : sizeof buf - 1;
        memcpy(buf, p->value.ptr, n);
        buf[n] = '\0';
        /* validated by the decoder: integers fit their type */
        if (p->type == FK_SQL_INT) push_int(d, strtoll(buf, NULL, 10));
        else if (p->type == FK_SQL_UINT) push_uint(d, strtoull(buf, NULL, 10));
        else lua_pushnumber(L, strtod(buf, NULL));
        return;
    }
    case FK_SQL_BOOL:
        lua_pushboolean(L, p->value.ptr[0] == '1');
        return;
    case FK_SQL_TIME: {
        int64_t sec = 0;
        int32_t nsec = 0;
        /* validated by the decoder; handed over in UTC, with any fraction the text had */
        fk_sql_time_parse(p->value.ptr, p->value.len, &sec, &nsec);
        fk_sql_time_format(sec, nsec, buf);
        lua_pushvalue(L, d->time);
        lua_pushstring(L, buf);
        lua_pushnumber(L, (double)sec);
        lua_pushnumber(L, nsec);
        lua_call(L, 3, 1);
        return;
    }
    default:
        lua_pushlstring(L, p->value.ptr, p->value.len);
    }
}

static void push_op(dec *d, const fk_async_op *op)
{
    lua_State *L = d->L;
    size_t i, j;
    lua_createtable(L, 0, 4);
    lua_pushlstring(L, op->pool.ptr, op->pool.len);
    lua_setfield(L, -2, "pool");
    lua_createtable(L, (int)op->query_count, 0);
    for (i = 0; i < op->query_count; i++) {
        const fk_sql_query *q = &op->queries[i];
        lua_createtable(L, 0, 2);
        lua_pushlstring(L, q->sql.ptr, q->sql.len);
        lua_setfield(L, -2, "q");
        lua_createtable(L, (int)q->param_count, 0);
        for (j = 0; j < q->param_count; j++) {
            push_param(d, &q->params[j]);
            lua_rawseti(L, -2, (int)j + 1);
        }
        lua_setfield(L, -2, "p");
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "queries");
    if (op->has_events) {
        lua_createtable(L, (int)op->event_count, 0);
        for (i = 0; i < op->event_count; i++) {
            const fk_sql_event *ev = &op->events[i];
            lua_createtable(L, 0, 4);
            push_uint(d, ev->cache_index);
            lua_setfield(L, -2, "ci");
            push_uint(d, ev->id);
            lua_setfield(L, -2, "id");
            lua_pushinteger(L, (lua_Integer)ev->type);
            lua_setfield(L, -2, "ft");
            if (ev->has_changes) {
                lua_createtable(L, 0, (int)ev->change_count);
                for (j = 0; j < ev->change_count; j++) {
                    lua_pushlstring(L, ev->changes[j].column.ptr, ev->changes[j].column.len);
                    push_param(d, &ev->changes[j].param);
                    lua_rawset(L, -3);
                }
                lua_setfield(L, -2, "ch");
            }
            lua_rawseti(L, -2, (int)i + 1);
        }
        lua_setfield(L, -2, "events");
    }
    if (op->has_redis) {
        lua_createtable(L, (int)op->redis_count, 0);
        for (i = 0; i < op->redis_count; i++) {
            const fk_sql_redis *r = &op->redis[i];
            lua_createtable(L, 0, 3);
            lua_pushlstring(L, r->pool.ptr, r->pool.len);
            lua_setfield(L, -2, "p");
            lua_pushlstring(L, r->command.ptr, r->command.len);
            lua_setfield(L, -2, "c");
            if (r->has_args) {
                lua_createtable(L, (int)r->arg_count, 0);
                for (j = 0; j < r->arg_count; j++) {
                    lua_pushlstring(L, r->args[j].ptr, r->args[j].len);
                    lua_rawseti(L, -2, (int)j + 1);
                }
                lua_setfield(L, -2, "a");
            }
            lua_rawseti(L, -2, (int)i + 1);
        }
        lua_setfield(L, -2, "redis");
    }
}

/* One decoder per Lua state (an upvalue of _async_sql_decode), reused for every record.
   The hooks it calls are the module's own and never decode in turn. */
#define LFK_DECODER "fluxakafka.async_sql_decoder"
typedef struct decoder_ud { fk_async_decoder *d; } decoder_ud;

static int decoder_gc(lua_State *L)
{
    decoder_ud *u = lfk_checkudata(L, 1, LFK_DECODER);
    fk_async_decoder_free(u->d);
    u->d = NULL;
    return 0;
}

/* _async_sql_decode(value, bigint, time) -> op | nil, err, "_BAD_MSG" */
static int async_sql_decode(lua_State *L)
{
    size_t len;
    const char *value = lfk_checklstring(L, 1, &len);
    decoder_ud *u = lua_touserdata(L, lua_upvalueindex(1));
    const fk_async_op *op;
    fk_error err;
    dec d;
    lfk_checktype(L, 2, LUA_TFUNCTION);
    lfk_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    if (!u->d && !(u->d = fk_async_decoder_new())) return lfk_error(L, "decode_async_sql: out of memory");
    if (!(op = fk_async_decoder_decode(u->d, value, len, &err))) return lfk_push_error(L, &err);
    d.L = L;
    d.bigint = 2;
    d.time = 3;
    push_op(&d, op);
    return 1;
}

/* ---------------------------------------------------------------- helpers ---- */

/* _sql_time(seconds | rfc3339) -> rfc3339 (nanoseconds kept), sec, nsec (raises on bad input) */
static int sql_time(lua_State *L)
{
    enc e;
    char buf[FK_SQL_TEXT_MAX];
    int64_t sec;
    int32_t nsec;
    lua_settop(L, 1);
    e.L = L;
    e.fn = "sql_time";
    e.depth = 0;
    push_frame(&e, "argument #1", 0);
    read_time(&e, 1, &sec, &nsec);
    fk_sql_time_format(sec, nsec, buf);
    lua_pushstring(L, buf);
    lua_pushnumber(L, (double)sec);
    lua_pushnumber(L, nsec);
    return 3;
}

/* nil and a formatted message, for misuse the Lua caller raises at its own caller */
static int fail2(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail2(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return 2;
}

/* _sql_typed(type, value) -> the text of value (a number or a decimal string) as a parameter
   of type 'i', 'u' or 'f', as Go's strconv writes such a Go value | nil, err */
static int sql_typed(lua_State *L)
{
    char t = lfk_checkstring(L, 1)[0];
    char buf[FK_SQL_FLOAT_MAX];
    double v;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        v = lua_tonumber(L, 2);
        if (t != FK_SQL_FLOAT && (v != floor(v) || v < (t == FK_SQL_INT ? -TWO_63 : 0) ||
                                  v >= (t == FK_SQL_INT ? TWO_63 : 2 * TWO_63)))
            return fail2(L, "%.17g does not fit %s", v, t == FK_SQL_INT ? "int64" : "uint64");
        snprintf(buf, sizeof buf, "%.0f", v);
    } else {
        size_t len;
        const char *text = lfk_checklstring(L, 2, &len);
        fk_error err;
        if (!fk_sql_param_valid(t, text, len, &err)) return fail2(L, "%s", err.msg);
        if (t == FK_SQL_INT) snprintf(buf, sizeof buf, "%lld", strtoll(text, NULL, 10));
        else if (t == FK_SQL_UINT) snprintf(buf, sizeof buf, "%llu", strtoull(text, NULL, 10));
        v = strtod(text, NULL);
    }
    if (t == FK_SQL_FLOAT) {
        if (!isfinite(v)) return fail2(L, "%g cannot be stored in SQL", v);
        fk_sql_float_format(v, 'g', buf);
    }
    lua_pushstring(L, buf);
    return 1;
}

/* _async_flush_pool(engine) -> the pool code async flush is registered on, or nil */
static int async_flush_pool(lua_State *L)
{
    /* argument 2: the name of the calling method, for the error when the engine is gone */
    const fk_registry *r = fk_engine_registry(lfk_check_engine(L, 1, luaL_optstring(L, 2, "flush_async")));
    if (r->async_flush_pool) lua_pushstring(L, r->async_flush_pool);
    else lua_pushnil(L);
    return 1;
}

/* _async_sql_open_start(engine, group, topic [, session_timeout_s [, never_blocks]]) -> job |
   nil, err, code: opening the async SQL consumer's group as a job (fk_consumer_open_start) */
static int async_sql_open_start(lua_State *L)
{
    fk_engine *e = lfk_check_engine(L, 1, "get_async_sql_consumer");
    const char *group = lfk_checkstring(L, 2), *topic = lfk_checkstring(L, 3);
    const fk_registry *r = fk_engine_registry(e);
    fk_pool *p = r->async_flush_pool ? fk_engine_pool(e, r->async_flush_pool) : NULL;
    fk_group_spec spec;
    fk_error err;
    fk_job *j;
    int session_timeout_ms = 0;
    if (!p) return lfk_error(L, "get_async_sql_consumer: async flush is not registered (registry:register_async_flush)");
    if (!lua_isnoneornil(L, 4))
        session_timeout_ms = (int)lfk_check_seconds_ms(L, 4, "get_async_sql_consumer: option 'session_timeout'");
    lua_settop(L, 5);
    lfk_push_job(L, 1, lfk_answer_consumer);
    if (!fk_async_sql_group_spec(&spec, r->async_flush_pool, group, topic))
        return lfk_error(L, "get_async_sql_consumer: out of memory");
    if (session_timeout_ms) spec.session_timeout_ms = session_timeout_ms;
    j = fk_consumer_open_start(p, &spec, lua_toboolean(L, 5), &err);
    fk_group_spec_clear(&spec);
    return lfk_job_started(L, j, &err);
}

/* Reads { {topic=, partition=, offset=}, ... } at idx into a userdata-backed array. */
static fk_partition_offset *check_offsets(lua_State *L, int idx, const char *fn, size_t *n)
{
    fk_partition_offset *list;
    size_t i;
    lfk_checktype(L, idx, LUA_TTABLE);
    *n = lua_objlen(L, idx);
    list = lua_newuserdata(L, sizeof *list * (*n ? *n : 1));
    for (i = 0; i < *n; i++) {
        lua_rawgeti(L, idx, (int)i + 1);
        lua_getfield(L, -1, "topic");
        lua_getfield(L, -2, "partition");
        lua_getfield(L, -3, "offset");
        if (lua_type(L, -3) != LUA_TSTRING || lua_type(L, -2) != LUA_TNUMBER || lua_type(L, -1) != LUA_TNUMBER)
            lfk_error(L, "%s: entry %d must be {topic=, partition=, offset=}", fn, (int)i + 1);
        list[i].topic = lua_tostring(L, -3);   /* kept alive by the argument table */
        list[i].partition = (int32_t)lua_tonumber(L, -2);
        list[i].offset = (int64_t)lua_tonumber(L, -1);
        lua_pop(L, 4);
    }
    return list;
}

/* _consumer_commit_start(cg, list) -> job | nil, err, code: a commit of exactly these offsets */
static int consumer_commit_start(lua_State *L)
{
    fk_consumer *c = lfk_check_consumer(L, 1, "commit_offsets");
    size_t n;
    fk_partition_offset *list = check_offsets(L, 2, "commit_offsets", &n);
    fk_error err;
    lfk_push_job(L, 1, lfk_answer_true);
    return lfk_job_started(L, fk_consumer_commit_start(c, list, n, -1, &err), &err);
}

/* _consumer_seek(cg, list, timeout) -> true | nil, err, code */
static int consumer_seek(lua_State *L)
{
    fk_consumer *c = lfk_check_consumer(L, 1, "seek");
    int timeout = lfk_opt_timeout_ms(L, 3, 10, "seek: argument 'timeout'");
    size_t n;
    fk_partition_offset *list = check_offsets(L, 2, "seek", &n);
    fk_error err;
    if (!fk_consumer_seek_offsets(c, list, n, timeout, &err)) return lfk_push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg functions[] = {
    { "_async_sql_encode", async_sql_encode },
    { "_sql_time", sql_time },
    { "_sql_typed", sql_typed },
    { "_async_flush_pool", async_flush_pool },
    { "_async_sql_open_start", async_sql_open_start },
    { "_consumer_commit_start", consumer_commit_start },
    { "_consumer_seek", consumer_seek },
    { NULL, NULL }
};

void lfk_open_async_sql(lua_State *L)
{
    luaL_newmetatable(L, LFK_ARENA);
    lua_pushcfunction(L, arena_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_register(L, NULL, functions);
    {
        decoder_ud *u = lua_newuserdata(L, sizeof *u);
        u->d = NULL;
        luaL_newmetatable(L, LFK_DECODER);
        lua_pushcfunction(L, decoder_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_pushcclosure(L, async_sql_decode, 1);
        lua_setfield(L, -2, "_async_sql_decode");
    }
    lua_pushlightuserdata(L, NULL);   /* the same value as cjson.null and ngx.null */
    lua_setfield(L, -2, "null");
    lua_pushstring(L, FK_DEFAULT_PARTITIONER);
    lua_setfield(L, -2, "DEFAULT_PARTITIONER");
}
