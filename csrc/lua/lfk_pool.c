/* Engine and pool objects. The engine userdata owns the core engine and with it every pool;
   a pool userdata borrows its fk_pool and keeps the engine userdata alive through its
   environment table. Delivery callbacks are kept in that environment, keyed by token, and
   are called here, on the Lua thread, after librdkafka has returned. */
#include "lfk.h"
#include "../fk_options.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* slots of a pool userdata's environment table */
#define ENV_ENGINE    1
#define ENV_CALLBACKS 2
#define ENV_RECORDS   3
#define ENV_OWNERS    4   /* token -> owner given to produce (see lfk_hooks.c) */

/* how long __gc of a forgotten engine lets buffered records drain before failing them */
#define GC_CLOSE_TIMEOUT_MS 500

/* Produce waits this long for room when librdkafka's queue is full (pool:_set_queue_wait). */
#define PRODUCE_BLOCK_MS 10000

typedef struct engine_ud {
    lfk_object head;
    fk_engine *engine;
    int        gc_close_timeout_ms;
} engine_ud;

/* A pool userdata has no finalizer of its own: its engine's finalizer sets `pool` to NULL.
   lua/fluxakafka/ffi_produce.lua reads `pool` through the FFI (struct fk_ffi_pool_ud) on
   every call instead of caching the core pointer: keep the two layouts equal. */
typedef struct pool_ud {
    lfk_object head;
    fk_pool *pool;          /* NULL once the engine is gone */
    double   next_token;
    unsigned calls;
    int      queue_wait_ms;
} pool_ud;

typedef char pool_ud_layout_check[offsetof(pool_ud, pool) == sizeof(void *) &&
                                   offsetof(pool_ud, queue_wait_ms) == 2 * sizeof(void *) + sizeof(double) + sizeof(unsigned) ? 1 : -1];

/* slots of a batch userdata's environment: its pool userdata (and so its engine), then
   the record tables from BATCH_ENV_RECORDS + 1 on */
#define BATCH_ENV_POOL 1
#define BATCH_ENV_RECORDS 1

typedef struct batch_ud {
    lfk_object head;
    fk_batch *batch;
} batch_ud;

/* ---------------------------------------------------------------- engine ---- */

void lfk_push_engine(lua_State *L, fk_engine *e)
{
    engine_ud *u = lua_newuserdata(L, sizeof *u);
    lfk_object_init(&u->head);
    u->engine = e;
    u->gc_close_timeout_ms = GC_CLOSE_TIMEOUT_MS;
    luaL_getmetatable(L, LFK_ENGINE);
    lua_setmetatable(L, -2);
    lua_newtable(L);              /* pool code -> pool userdata */
    lua_setfenv(L, -2);
}

static engine_ud *check_engine(lua_State *L, const char *fn)
{
    engine_ud *u = lfk_check_object(L, 1, LFK_ENGINE, fn, "engine");
    if (!u->engine) lfk_error(L, "%s: the engine is closed", fn);
    return u;
}

fk_engine *lfk_check_engine(lua_State *L, int idx, const char *fn)
{
    engine_ud *u = lfk_check_object(L, idx, LFK_ENGINE, fn, "engine");
    if (!u->engine) lfk_error(L, "%s: the engine is closed (it was garbage-collected)", fn);
    return u->engine;
}

/* Pushes the pool userdata of `code` (created on first use); raises for an unknown code. */
static pool_ud *push_pool(lua_State *L, int engine_idx, const char *code)
{
    engine_ud *e = lua_touserdata(L, engine_idx);
    fk_pool *p;
    pool_ud *u;

    lua_getfenv(L, engine_idx);
    lua_getfield(L, -1, code);
    if (!lua_isnil(L, -1)) {
        lua_remove(L, -2);
        return lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
    if (!(p = fk_engine_pool(e->engine, code)))
        lfk_error(L, "kafka: unknown kafka pool '%s'", code);
    u = lua_newuserdata(L, sizeof *u);
    lfk_object_init(&u->head);
    u->pool = p;
    u->next_token = 0;
    u->calls = 0;
    u->queue_wait_ms = PRODUCE_BLOCK_MS;
    luaL_getmetatable(L, LFK_POOL);
    lua_setmetatable(L, -2);
    lua_createtable(L, 4, 0);
    lua_pushvalue(L, engine_idx);
    lua_rawseti(L, -2, ENV_ENGINE);
    lua_newtable(L);
    lua_rawseti(L, -2, ENV_CALLBACKS);
    lua_newtable(L);
    lua_rawseti(L, -2, ENV_RECORDS);
    lua_newtable(L);
    lua_rawseti(L, -2, ENV_OWNERS);
    lua_setfenv(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, code);
    lua_remove(L, -2);
    return u;
}

static int engine_kafka(lua_State *L)
{
    check_engine(L, "kafka");
    push_pool(L, 1, lfk_check_string(L, 2, "kafka", 1, "code", NULL));
    return 1;
}

static int serve_deliveries(lua_State *L, int pool_idx, int protected);

/* Closes the pool at pool_idx: flush, purge what is left, report every delivery. */
static int close_pool(lua_State *L, int pool_idx, int timeout_ms)
{
    pool_ud *u = lua_touserdata(L, pool_idx);
    if (!u->pool) return 0;
    fk_pool_close(u->pool, timeout_ms);
    return serve_deliveries(L, pool_idx, 1);
}

/* Closes every pool of the engine; with `raise`, raises the first callback error after
   every pool was closed and every callback ran. */
static void engine_close_pools(lua_State *L, int engine_idx, int timeout_ms, int raise)
{
    engine_ud *e = lua_touserdata(L, engine_idx);
    int base = lua_gettop(L), errslot, env, has_error = 0;
    size_t i;

    lua_pushnil(L);
    errslot = lua_gettop(L);
    lua_getfenv(L, engine_idx);
    env = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, env)) {
        int pool_idx = lua_gettop(L);
        if (close_pool(L, pool_idx, timeout_ms) < 0 && !has_error) {
            lua_replace(L, errslot);
            has_error = 1;
        }
        lua_settop(L, pool_idx - 1);
    }
    /* pools nobody asked for have no callbacks: close them too, so none reopens (unless a
       callback finalized the engine meanwhile) */
    for (i = 0; e->engine && i < fk_engine_pool_count(e->engine); i++)
        fk_pool_close(fk_engine_pool_at(e->engine, i), 0);
    if (has_error && raise) {
        lua_pushvalue(L, errslot);
        lua_error(L);
    }
    lua_settop(L, base);
}

static int engine_close(lua_State *L)
{
    engine_ud *u = lfk_check_any(L, 1, LFK_ENGINE, "close");
    int timeout_ms;
    if (lfk_is_finalized(u) || !u->engine) return 0;
    timeout_ms = lfk_opt_timeout_ms(L, 2, 30, "close");
    lua_settop(L, 1);
    engine_close_pools(L, 1, timeout_ms, 1);
    return 0;
}

/* Callbacks that run here (deliveries failed by the close) find the engine finalized
   already: they cannot open a pool or reach a freed one. */
static int engine_gc(lua_State *L)
{
    engine_ud *u = lfk_finalize(L, 1, LFK_ENGINE);
    if (!u || !u->engine) return 0;
    lua_settop(L, 1);
    engine_close_pools(L, 1, u->gc_close_timeout_ms, 0);
    lua_settop(L, 1);
    /* the pool userdatas may outlive this finalizer: detach them from the core pools */
    lua_getfenv(L, 1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        ((pool_ud *)lua_touserdata(L, -1))->pool = NULL;
        lua_pop(L, 1);
    }
    fk_engine_free(u->engine, 0);
    u->engine = NULL;
    return 0;
}

/* How long the finalizer lets buffered records drain (nginx sets the delivery timeout: a
   worker that exits without closing its engine must still deliver them). */
static int engine_set_gc_close_timeout(lua_State *L)
{
    engine_ud *u = check_engine(L, "_set_gc_close_timeout");
    u->gc_close_timeout_ms = lfk_opt_timeout_ms(L, 2, GC_CLOSE_TIMEOUT_MS / 1000.0, "_set_gc_close_timeout");
    return 0;
}

static int engine_tostring(lua_State *L)
{
    engine_ud *u = lfk_check_any(L, 1, LFK_ENGINE, "__tostring");
    if (lfk_is_finalized(u) || !u->engine) lua_pushstring(L, "fluxakafka.engine (closed)");
    else lua_pushfstring(L, "fluxakafka.engine (%d pools)", (int)fk_engine_pool_count(u->engine));
    return 1;
}

static int engine_pool_codes(lua_State *L)
{
    engine_ud *u = check_engine(L, "pool_codes");
    size_t i, n = fk_engine_pool_count(u->engine);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushstring(L, fk_pool_spec_of(fk_engine_pool_at(u->engine, i))->code);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* ---------------------------------------------------------------- pool ---- */

static pool_ud *check_pool(lua_State *L, const char *fn)
{
    pool_ud *u = lfk_check_any(L, 1, LFK_POOL, fn);
    if (!u->pool) lfk_error(L, "%s: the kafka pool is closed (its engine was collected)", fn);
    return u;
}

static pool_ud *check_open_pool(lua_State *L, const char *fn)
{
    pool_ud *u = check_pool(L, fn);
    if (fk_pool_is_closed(u->pool))
        lfk_error(L, "%s: kafka pool '%s' is closed", fn, fk_pool_spec_of(u->pool)->code);
    return u;
}

fk_pool *lfk_check_open_pool(lua_State *L, const char *fn)
{
    return check_open_pool(L, fn)->pool;
}

static void set_number(lua_State *L, int t, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, t, k);
}

/* record.persisted: whether the record may be in the topic ("possibly": a retry can make a
   duplicate). */
static void set_persisted(lua_State *L, int rec, int persisted)
{
    if (persisted == FK_PERSISTED_YES) lua_pushliteral(L, "yes");
    else if (persisted == FK_PERSISTED_POSSIBLY) lua_pushliteral(L, "possibly");
    else lua_pushliteral(L, "no");
    lua_setfield(L, rec, "persisted");
}

/* Calls the callback of every finished delivery. Unprotected: a raising callback stops the
   loop and the rest stay queued for the next serving call. Protected: every callback runs;
   returns -1 with the first error message pushed when one raised. */
static int serve_deliveries(lua_State *L, int pool_idx, int protected)
{
    pool_ud *u = lua_touserdata(L, pool_idx);
    fk_delivery d;
    int served = 0, env, cbs, recs, owners, failed = 0;

    lfk_serve_logs(L);
    if (!u->pool || fk_pool_queued_deliveries(u->pool) == 0) return 0;
    luaL_checkstack(L, 12, "deliveries");
    lua_getfenv(L, pool_idx);
    env = lua_gettop(L);
    lua_rawgeti(L, env, ENV_CALLBACKS);
    cbs = lua_gettop(L);
    lua_rawgeti(L, env, ENV_RECORDS);
    recs = lua_gettop(L);
    lua_rawgeti(L, env, ENV_OWNERS);
    owners = lua_gettop(L);
    /* a callback may finalize the engine (calling its __gc): then the pool is gone */
    while (u->pool && fk_pool_next_delivery(u->pool, &d)) {
        int top = lua_gettop(L), cb = top + 1, rec = top + 2, owner = top + 3, nargs = 3;
        lua_pushnumber(L, (double)d.token);
        lua_rawget(L, cbs);
        lua_pushnumber(L, (double)d.token);
        lua_rawget(L, recs);
        lua_pushnumber(L, (double)d.token);
        lua_rawget(L, owners);
        lua_pushnumber(L, (double)d.token);
        lua_pushnil(L);
        lua_rawset(L, cbs);
        lua_pushnumber(L, (double)d.token);
        lua_pushnil(L);
        lua_rawset(L, recs);
        if (!lua_isnil(L, owner)) {
            lua_pushnumber(L, (double)d.token);
            lua_pushnil(L);
            lua_rawset(L, owners);
        }
        if (!lua_isfunction(L, cb)) {
            lua_settop(L, top);
            continue;
        }
        set_persisted(L, rec, d.persisted);
        if (d.rd_err == 0) {
            set_number(L, rec, "partition", d.partition);
            set_number(L, rec, "offset", (double)d.offset);
            lua_getfield(L, rec, "timestamp");
            if (lua_isnil(L, -1) && d.timestamp_ms > 0) set_number(L, rec, "timestamp", (double)d.timestamp_ms);
            lua_pop(L, 1);
        }
        /* a callback with an owner goes through the dispatcher, which runs it now or hands
           it to the Lua thread (nginx request) that produced its record:
           dispatcher(owner, callback, record, err, code) */
        if (!lua_isnil(L, owner) && lfk_push_dispatcher(L)) {
            lua_pushvalue(L, owner);
            nargs = 5;
        }
        lua_pushvalue(L, cb);
        lua_pushvalue(L, rec);
        if (d.rd_err == 0) {
            lua_pushnil(L);
            lua_pushnil(L);
        } else {
            lua_getfield(L, rec, "topic");
            lua_pushfstring(L, "produce to '%s' failed: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?",
                            fk_err_description(d.rd_err));
            lua_remove(L, -2);
            lua_pushstring(L, fk_err_name(d.rd_err));
        }
        served++;
        if (!protected) {
            lua_call(L, nargs, 0);
        } else if (lua_pcall(L, nargs, 0, 0) != 0) {
            if (!failed) {
                failed = 1;
                lua_replace(L, env);   /* keep the first message where env was */
            } else {
                lua_pop(L, 1);
            }
        }
        lua_settop(L, top);
    }
    if (failed) {
        lua_settop(L, env);
        return -1;
    }
    lua_settop(L, env - 1);
    return served;
}

static int serve_or_raise(lua_State *L, int pool_idx)
{
    return serve_deliveries(L, pool_idx, 0);
}

/* produce and _produce_batch are closures over the pool metatable and the record field
   names, so the hot path neither looks up the registry nor interns a string per field. */
enum { UV_POOL_MT = 1, UV_TOPIC, UV_VALUE, UV_KEY, UV_PARTITION, UV_TIMESTAMP, UV_HEADERS, UV_COUNT = UV_HEADERS };
static const char *const record_fields[] = { "topic", "value", "key", "partition", "timestamp", "headers" };

static void get_field(lua_State *L, int idx, int uv)
{
    lua_pushvalue(L, lua_upvalueindex(uv));
    lua_gettable(L, idx);
}

/* nil or fk.null (a NULL light userdata): a Kafka null */
static int is_null(lua_State *L, int idx)
{
    return lua_isnil(L, idx) || (lua_type(L, idx) == LUA_TLIGHTUSERDATA && !lua_touserdata(L, idx));
}

/* A record or header value at idx: a string, or nil / fk.null for a null value (NULL). The
   string stays referenced by the record table, which the caller keeps pinned. */
static int read_bytes(lua_State *L, int idx, const void **ptr, size_t *len)
{
    *len = 0;
    *ptr = NULL;
    if (lua_type(L, idx) == LUA_TSTRING) *ptr = lua_tolstring(L, idx, len);
    else if (!is_null(L, idx)) return 0;
    return 1;
}

/* A header from the string key at key_idx and the value at value_idx; 0 when the value is
   neither a string nor a null. */
static int read_header(lua_State *L, int key_idx, int value_idx, fk_header *h)
{
    h->key = lua_tolstring(L, key_idx, &h->key_len);
    return read_bytes(L, value_idx, &h->value, &h->value_len);
}

/* headers = { source = "api", trace = fk.null, ... }: every entry a string name -> string
   value or fk.null (never dropped). The header storage is a userdata pushed on the stack. */
static void read_header_map(lua_State *L, int hidx, fk_produce_record *rec, const char *fn)
{
    size_t n = 0, i = 0, ignored_len;
    const void *ignored;
    fk_header *h;
    lua_pushnil(L);
    while (lua_next(L, hidx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            lfk_error(L, "%s: record field 'headers' mixes a list and a map: use { {key=, value=}, ... } "
                      "or { name = value, ... }", fn);
        if (!read_bytes(L, -1, &ignored, &ignored_len))
            lfk_error(L, "%s: record field 'headers.%s' must be a string or fk.null, got %s", fn,
                      lua_tostring(L, -2), luaL_typename(L, -1));
        n++;
        lua_pop(L, 1);
    }
    if (n == 0) return;
    h = lua_newuserdata(L, sizeof *h * n);
    lua_pushnil(L);
    while (lua_next(L, hidx) && i < n) {
        read_header(L, -2, -1, &h[i++]);
        lua_pop(L, 1);
    }
    rec->headers = h;
    rec->header_count = i;
}

/* headers = { {key = "source", value = "api"}, {key = "trace"}, ... } (no value: null) */
static void read_header_list(lua_State *L, int hidx, int n, fk_produce_record *rec, const char *fn)
{
    int entries = 0, i;
    fk_header *h;
    lua_pushnil(L);
    while (lua_next(L, hidx)) {
        entries++;
        lua_pop(L, 1);
    }
    if (entries != n)
        lfk_error(L, "%s: record field 'headers' mixes a list and a map: use { {key=, value=}, ... } "
                  "or { name = value, ... }", fn);
    h = lua_newuserdata(L, sizeof *h * (size_t)n);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, hidx, i);
        if (lua_type(L, -1) != LUA_TTABLE)
            lfk_error(L, "%s: record field 'headers[%d]' must be a table {key=, value=}", fn, i);
        lua_getfield(L, -1, "key");
        lua_getfield(L, -2, "value");
        if (lua_type(L, -2) != LUA_TSTRING)
            lfk_error(L, "%s: record field 'headers[%d].key' must be a string", fn, i);
        /* both strings are also referenced by the headers table, which stays pinned */
        if (!read_header(L, -2, -1, &h[i - 1]))
            lfk_error(L, "%s: record field 'headers[%d].value' must be a string, nil or fk.null, got %s",
                      fn, i, luaL_typename(L, -1));
        lua_pop(L, 3);
    }
    rec->headers = h;
    rec->header_count = (size_t)n;
}

/* Reads the record table at idx into rec. Values stay pinned on the stack (pushed above
   idx) until the caller pops them; header storage is a userdata pushed too. */
static void read_record(lua_State *L, int idx, fk_produce_record *rec, const char *fn, int argn)
{
    size_t len;
    memset(rec, 0, sizeof *rec);
    rec->partition = -1;
    if (lua_type(L, idx) != LUA_TTABLE)
        lfk_error(L, "%s: argument #%d 'record' must be a table, got %s", fn, argn, luaL_typename(L, idx));
    luaL_checkstack(L, 8, fn);

    get_field(L, idx, UV_TOPIC);
    if (lua_type(L, -1) != LUA_TSTRING)
        lfk_error(L, "%s: record field 'topic' must be a string, got %s", fn, luaL_typename(L, -1));
    rec->topic = lua_tostring(L, -1);

    get_field(L, idx, UV_VALUE);
    if (!read_bytes(L, -1, &rec->value, &rec->value_len))
        lfk_error(L, "%s: record field 'value' must be a string, or nil / fk.null for a null value, got %s",
                  fn, luaL_typename(L, -1));

    get_field(L, idx, UV_KEY);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            lfk_error(L, "%s: record field 'key' must be a string or nil, got %s", fn, luaL_typename(L, -1));
        rec->key = lua_tolstring(L, -1, &len);
        rec->key_len = len;
    }

    get_field(L, idx, UV_PARTITION);
    if (!lua_isnil(L, -1)) {
        double p = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || p < 0 || p > 2147483647.0 || p != (double)(int32_t)p)
            lfk_error(L, "%s: record field 'partition' must be a non-negative integer", fn);
        rec->partition = (int32_t)p;
    }
    get_field(L, idx, UV_TIMESTAMP);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
            lfk_error(L, "%s: record field 'timestamp' must be milliseconds since the epoch", fn);
        rec->timestamp_ms = (int64_t)lua_tonumber(L, -1);
    }
    lua_pop(L, 2);

    get_field(L, idx, UV_HEADERS);
    if (!lua_isnil(L, -1)) {
        int hidx = lua_gettop(L), n;
        if (lua_type(L, hidx) != LUA_TTABLE)
            lfk_error(L, "%s: record field 'headers' must be an array of {key=, value=} or a map of name -> value", fn);
        n = (int)lua_objlen(L, hidx);
        if (n == 0) read_header_map(L, hidx, rec, fn);
        else read_header_list(L, hidx, n, rec, fn);
    }
}

/* Callbacks (served deliveries) and the __index of a record table run Lua code between the
   check of self and the use of its pool; code that finalized the engine meanwhile (its __gc
   called directly) must find a raise, not a freed pool. */
static void recheck_pool(lua_State *L, pool_ud *u, const char *fn)
{
    if (!u->pool) lfk_error(L, "%s: the kafka pool is closed (its engine was collected)", fn);
}

/* check_open_pool for the closures: the metatable is upvalue 1 */
static pool_ud *fast_check_pool(lua_State *L, const char *fn)
{
    pool_ud *u = lua_touserdata(L, 1);
    if (!u || !lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(UV_POOL_MT)))
        lfk_error(L, "%s: expected a kafka pool as self (call it with ':')", fn);
    lua_pop(L, 1);
    if (!u->pool) lfk_error(L, "%s: the kafka pool is closed (its engine was collected)", fn);
    if (fk_pool_is_closed(u->pool))
        lfk_error(L, "%s: kafka pool '%s' is closed", fn, fk_pool_spec_of(u->pool)->code);
    return u;
}

static int pool_produce(lua_State *L)
{
    pool_ud *u = fast_check_pool(L, "produce");
    fk_produce_record rec;
    uint64_t token = 0;
    fk_error err;

    if (!lua_isnoneornil(L, 3) && !lua_isfunction(L, 3))
        return lfk_error(L, "produce: argument #2 'callback' must be a function or nil, got %s",
                         luaL_typename(L, 3));
    lua_settop(L, 4);   /* 4: the owner of the callback (internal, see lfk_set_dispatcher) */
    /* serve finished deliveries now and then, so callbacks run and memory stays bounded */
    if ((++u->calls & 15u) == 0) fk_pool_poll(u->pool, 0);
    serve_or_raise(L, 1);
    read_record(L, 2, &rec, "produce", 1);
    recheck_pool(L, u, "produce");
    if (lua_isfunction(L, 3)) token = (uint64_t)(u->next_token += 1);
    if (!fk_pool_produce(u->pool, &rec, token, u->queue_wait_ms, &err)) return lfk_push_error(L, &err);
    if (token) {
        lua_getfenv(L, 1);
        lua_rawgeti(L, -1, ENV_CALLBACKS);
        lua_pushnumber(L, (double)token);
        lua_pushvalue(L, 3);
        lua_rawset(L, -3);
        lua_rawgeti(L, -2, ENV_RECORDS);
        lua_pushnumber(L, (double)token);
        lua_pushvalue(L, 2);
        lua_rawset(L, -3);
        if (!lua_isnil(L, 4)) {
            lua_rawgeti(L, -3, ENV_OWNERS);
            lua_pushnumber(L, (double)token);
            lua_pushvalue(L, 4);
            lua_rawset(L, -3);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int pool_produce_batch(lua_State *L)
{
    pool_ud *u = fast_check_pool(L, "produce_sync");
    int n = lua_gettop(L) - 1, i;
    fk_produce_record *recs;
    batch_ud *b;
    fk_error err;

    if (n < 1) return lfk_error(L, "produce_sync: expected at least one record");
    serve_or_raise(L, 1);
    recs = lua_newuserdata(L, sizeof *recs * (size_t)n);
    for (i = 0; i < n; i++) read_record(L, i + 2, &recs[i], "produce_sync", i + 1);
    b = lua_newuserdata(L, sizeof *b);
    lfk_object_init(&b->head);
    b->batch = NULL;
    luaL_getmetatable(L, LFK_BATCH);
    lua_setmetatable(L, -2);
    recheck_pool(L, u, "produce_sync");
    /* environment: the pool (so the batch keeps its engine alive), then the record tables,
       filled with partition, offset and timestamp by result() */
    lua_createtable(L, n + 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, BATCH_ENV_POOL);
    for (i = 0; i < n; i++) {
        lua_pushvalue(L, i + 2);
        lua_rawseti(L, -2, i + 1 + BATCH_ENV_RECORDS);
    }
    lua_setfenv(L, -2);
    if (!(b->batch = fk_pool_produce_batch(u->pool, recs, (size_t)n, u->queue_wait_ms, &err)))
        return lfk_push_error(L, &err);
    return 1;
}

static int pool_poll(lua_State *L)
{
    pool_ud *u = check_open_pool(L, "poll");
    int timeout_ms = lfk_opt_timeout_ms(L, 2, 0, "poll");
    lua_settop(L, 1);
    fk_pool_poll(u->pool, fk_pool_queued_deliveries(u->pool) ? 0 : timeout_ms);
    lua_pushinteger(L, serve_or_raise(L, 1));
    return 1;
}

static int pool_flush(lua_State *L)
{
    pool_ud *u = check_open_pool(L, "flush");
    int timeout_ms = lfk_opt_timeout_ms(L, 2, 60, "flush");
    fk_error err;
    int ok;
    lua_settop(L, 1);
    ok = fk_pool_flush(u->pool, timeout_ms, &err);
    serve_or_raise(L, 1);
    if (!ok) return lfk_push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* Transactions return true, or nil, message, code and what to do next ("retriable",
   "abortable", "fatal" or "error"); the deliveries they finished are served before. */
static int txn_result(lua_State *L, int ok, const fk_error *err, int kind)
{
    serve_or_raise(L, 1);
    if (!ok) {
        lfk_push_error(L, err);
        lua_pushstring(L, fk_txn_kind_name(kind));
        return 4;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int pool_begin_transaction(lua_State *L)
{
    pool_ud *u = check_open_pool(L, "begin_transaction");
    int timeout_ms = lfk_opt_timeout_ms(L, 2, 30, "begin_transaction");
    fk_error err;
    int kind = 0, ok;
    lua_settop(L, 1);
    ok = fk_pool_begin_transaction(u->pool, timeout_ms, &err, &kind);
    return txn_result(L, ok, &err, kind);
}

static int pool_send_offsets_to_transaction(lua_State *L)
{
    pool_ud *u = check_open_pool(L, "send_offsets_to_transaction");
    fk_consumer *c = lfk_check_consumer(L, 2, "send_offsets_to_transaction");
    int timeout_ms = lfk_opt_timeout_ms(L, 3, 30, "send_offsets_to_transaction");
    fk_error err;
    int kind = 0, ok;
    lua_settop(L, 2);
    ok = fk_pool_send_offsets_to_transaction(u->pool, c, timeout_ms, &err, &kind);
    return txn_result(L, ok, &err, kind);
}

/* commit and abort: no timeout means the rest of the transaction's own (librdkafka's advice) */
static int end_transaction(lua_State *L, int commit)
{
    const char *fn = commit ? "commit_transaction" : "abort_transaction";
    pool_ud *u = check_open_pool(L, fn);
    int timeout_ms = lua_isnoneornil(L, 2) ? -1 : lfk_opt_timeout_ms(L, 2, 0, fn);
    fk_error err;
    int kind = 0, ok;
    lua_settop(L, 1);
    ok = commit ? fk_pool_commit_transaction(u->pool, timeout_ms, &err, &kind)
                : fk_pool_abort_transaction(u->pool, timeout_ms, &err, &kind);
    return txn_result(L, ok, &err, kind);
}

static int pool_commit_transaction(lua_State *L) { return end_transaction(L, 1); }
static int pool_abort_transaction(lua_State *L) { return end_transaction(L, 0); }

static int pool_in_transaction(lua_State *L)
{
    pool_ud *u = check_pool(L, "in_transaction");
    lua_pushboolean(L, fk_pool_in_transaction(u->pool));
    return 1;
}

static int pool_close(lua_State *L)
{
    pool_ud *u = lfk_check_any(L, 1, LFK_POOL, "close");
    int timeout_ms = lfk_opt_timeout_ms(L, 2, 30, "close");
    lua_settop(L, 1);
    if (!u->pool) return 0;
    if (close_pool(L, 1, timeout_ms) < 0) return lua_error(L);
    return 0;
}

/* How long produce and produce_sync wait for room in a full queue (seconds; 0: fail at once
   with _QUEUE_FULL). Inside nginx the module sets 0 and does any waiting itself, yielding. */
static int pool_set_queue_wait(lua_State *L)
{
    pool_ud *u = check_pool(L, "_set_queue_wait");
    u->queue_wait_ms = lfk_opt_timeout_ms(L, 2, PRODUCE_BLOCK_MS / 1000.0, "_set_queue_wait");
    return 0;
}

/* How produce stages records (fk_pool_set_staging): "bursts" (a thread of the pool hands over
   what a burst leaves) or "paced" (inside nginx: the worker's timer serves the pool, so no
   thread; at most one hand-over per nginx_batch_window) or "off". */
static int pool_set_staging(lua_State *L)
{
    static const char *const modes[] = { "off", "bursts", "paced" };
    static const int values[] = { FK_STAGING_OFF, FK_STAGING_BURSTS, FK_STAGING_PACED };
    pool_ud *u = check_pool(L, "_set_staging");
    const char *mode = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
    size_t i;
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(mode, modes[i]) == 0) {
            fk_pool_set_staging(u->pool, values[i]);
            return 0;
        }
    }
    return lfk_error(L, "_set_staging: argument #1 'mode' must be \"off\", \"bursts\" or \"paced\", got %s",
                     lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2));
}

/* Staged records go to librdkafka now: a flush or close waiting in nginx does not wait for
   the end of the batch window. */
static int pool_hand_over(lua_State *L)
{
    pool_ud *u = check_pool(L, "_hand_over");
    fk_pool_hand_over(u->pool);
    return 0;
}

static int pool_staged_batches(lua_State *L)
{
    pool_ud *u = check_pool(L, "_staged_batches");
    lua_pushnumber(L, (lua_Number)fk_pool_staged_batches(u->pool));
    return 1;
}

static int pool_is_closed(lua_State *L)
{
    pool_ud *u = lfk_check_any(L, 1, LFK_POOL, "is_closed");
    lua_pushboolean(L, !u->pool || fk_pool_is_closed(u->pool));
    return 1;
}

static int pool_in_flight(lua_State *L)
{
    pool_ud *u = check_pool(L, "in_flight");
    lua_pushinteger(L, (lua_Integer)fk_pool_in_flight(u->pool));
    return 1;
}

static int pool_unreported_failures(lua_State *L)
{
    pool_ud *u = check_pool(L, "unreported_failures");
    lua_pushinteger(L, (lua_Integer)fk_pool_unreported_failures(u->pool));
    return 1;
}

static int pool_get_code(lua_State *L)
{
    lua_pushstring(L, fk_pool_spec_of(check_pool(L, "get_code")->pool)->code);
    return 1;
}

static int pool_get_brokers(lua_State *L)
{
    lfk_push_string_array(L, &fk_pool_spec_of(check_pool(L, "get_brokers")->pool)->brokers);
    return 1;
}

static int pool_get_pool_options(lua_State *L)
{
    lfk_push_options(L, fk_pool_option_rows, &fk_pool_spec_of(check_pool(L, "get_pool_options")->pool)->options);
    return 1;
}

static int pool_consumer_group_names(lua_State *L)
{
    pool_ud *u = check_pool(L, "consumer_group_names");
    const char *code = fk_pool_spec_of(u->pool)->code;
    lua_getfenv(L, 1);
    lua_rawgeti(L, -1, ENV_ENGINE);
    {
        engine_ud *e = lua_touserdata(L, -1);
        const fk_registry *r = fk_engine_registry(e->engine);
        size_t i;
        int n = 0;
        lua_newtable(L);
        for (i = 0; i < r->group_count; i++) {
            if (strcmp(r->groups[i].pool, code) != 0) continue;
            lua_pushstring(L, r->groups[i].name);
            lua_rawseti(L, -2, ++n);
        }
    }
    return 1;
}



/* pool:_consumer_group_start(fn, name, never_blocks) -> job | nil, err, code: consumer_group
   and must_consumer_group (fn, which the errors name) as a job whose answer is the group. */
static int pool_consumer_group_start(lua_State *L)
{
    const char *given = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
    /* only the two methods' names: errors must name a function the caller knows */
    const char *fn = strcmp(given, "consumer_group") == 0 || strcmp(given, "must_consumer_group") == 0
                         ? given : "_consumer_group_start";
    pool_ud *u = check_open_pool(L, fn);   /* self first: a closed pool says so */
    const char *name = lfk_check_string(L, 3, fn, 1, "name", NULL);
    fk_error err;
    lfk_push_job(L, 1, lfk_answer_consumer);
    return lfk_job_started(L, fk_consumer_new_start(u->pool, name, lua_toboolean(L, 4), &err), &err);
}

static int pool_tostring(lua_State *L)
{
    pool_ud *u = lfk_check_any(L, 1, LFK_POOL, "__tostring");
    if (!u->pool) lua_pushstring(L, "fluxakafka.pool (closed)");
    else lua_pushfstring(L, "fluxakafka.pool(%s)%s", fk_pool_spec_of(u->pool)->code,
                         fk_pool_is_closed(u->pool) ? " (closed)" : "");
    return 1;
}

/* This pool userdata's own memory, for the FFI fast path: it stays valid as long as the
   caller holds the pool, and its `pool` field turns NULL when the engine is finalized, so
   the fast path reads that field on every call instead of keeping the core pointer. */
static int pool_ptr(lua_State *L)
{
    /* the fast path of produce asks, naming itself */
    int for_produce = lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "produce") == 0;
    pool_ud *u = check_pool(L, for_produce ? "produce" : "_ptr");
    lua_pushlightuserdata(L, u);
    return 1;
}

static int pool_engine(lua_State *L)
{
    lfk_check_any(L, 1, LFK_POOL, "_engine");
    lua_getfenv(L, 1);
    lua_rawgeti(L, -1, ENV_ENGINE);
    return 1;
}

/* ---------------------------------------------------------------- batch ---- */

static batch_ud *check_batch(lua_State *L, const char *fn)
{
    batch_ud *b = lfk_check_object(L, 1, LFK_BATCH, fn, "produce batch");
    if (!b->batch) lfk_error(L, "%s: the batch was released", fn);
    /* at lua_close the engine's finalizer may have run before this batch's */
    lua_getfenv(L, 1);
    lua_rawgeti(L, -1, BATCH_ENV_POOL);
    if (!((pool_ud *)lua_touserdata(L, -1))->pool)
        lfk_error(L, "%s: the kafka pool is closed (its engine was collected)", fn);
    lua_pop(L, 2);
    return b;
}

static int batch_pending(lua_State *L)
{
    batch_ud *b = lfk_check_any(L, 1, LFK_BATCH, "pending");
    lua_pushinteger(L, !lfk_is_finalized(b) && b->batch ? (lua_Integer)fk_batch_pending(b->batch) : 0);
    return 1;
}

/* Seconds left until the delivery timeout of the pool, counted from produce_sync (0 once
   it passed): produce_sync waits no longer than that. */
static int batch_remaining(lua_State *L)
{
    batch_ud *b = check_batch(L, "remaining");
    lua_pushnumber(L, fk_batch_remaining_ms(b->batch) / 1000.0);
    return 1;
}

static int batch_result(lua_State *L)
{
    batch_ud *b = check_batch(L, "result");
    fk_error err;
    if (fk_batch_pending(b->batch) && fk_batch_remaining_ms(b->batch) > 0)
        return lfk_error(L, "result: %d records are still waiting for their delivery",
                         (int)fk_batch_pending(b->batch));
    lua_settop(L, 1);
    lua_getfenv(L, 1);
    {
        fk_delivery d;
        size_t i;
        for (i = 0; fk_batch_delivery(b->batch, i, &d); i++) {
            lua_rawgeti(L, 2, (int)i + 1 + BATCH_ENV_RECORDS);
            if (lua_istable(L, -1)) set_persisted(L, 3, d.persisted);
            if (lua_istable(L, -1) && !d.rd_err) {
                set_number(L, 3, "partition", d.partition);
                set_number(L, 3, "offset", (double)d.offset);
                lua_getfield(L, 3, "timestamp");
                if (lua_isnil(L, -1) && d.timestamp_ms > 0) set_number(L, 3, "timestamp", (double)d.timestamp_ms);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    if (!fk_batch_result(b->batch, &err)) return lfk_push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int batch_gc(lua_State *L)
{
    batch_ud *b = lfk_finalize(L, 1, LFK_BATCH);
    if (!b) return 0;
    fk_batch_release(b->batch);
    b->batch = NULL;
    return 0;
}

/* The calls that serve callbacks or may wait (_produce, _poll, _flush, _close, the
   transactions) are primitives: lua/fluxakafka.lua defines the public method of each once,
   over the environment's strategy (how to wait, whose callbacks run where). So are _kafka and
   _get_pool_options, whose public methods add the options held in Lua. */
static const luaL_Reg engine_methods[] = {
    { "_kafka", engine_kafka },
    { "_close", engine_close },
    { "pool_codes", engine_pool_codes },
    { "_set_gc_close_timeout", engine_set_gc_close_timeout },
    { NULL, NULL }
};
static const luaL_Reg engine_meta[] = {
    { "__gc", engine_gc }, { "__tostring", engine_tostring }, { NULL, NULL }
};

static const luaL_Reg pool_methods[] = {
    { "get_code", pool_get_code },
    { "get_brokers", pool_get_brokers },
    { "_get_pool_options", pool_get_pool_options },
    { "consumer_group_names", pool_consumer_group_names },
    { "_poll", pool_poll },
    { "_flush", pool_flush },
    { "_close", pool_close },
    { "is_closed", pool_is_closed },
    { "_begin_transaction", pool_begin_transaction },
    { "_send_offsets_to_transaction", pool_send_offsets_to_transaction },
    { "_commit_transaction", pool_commit_transaction },
    { "_abort_transaction", pool_abort_transaction },
    { "in_transaction", pool_in_transaction },
    { "in_flight", pool_in_flight },
    { "unreported_failures", pool_unreported_failures },
    { "_consumer_group_start", pool_consumer_group_start },
    { "_set_queue_wait", pool_set_queue_wait },
    { "_set_staging", pool_set_staging },
    { "_staged_batches", pool_staged_batches },
    { "_hand_over", pool_hand_over },
    { "_engine", pool_engine },
    { "_ptr", pool_ptr },
    { NULL, NULL }
};
static const luaL_Reg pool_meta[] = {
    { "__tostring", pool_tostring }, { NULL, NULL }
};

static const luaL_Reg batch_methods[] = {
    { "pending", batch_pending }, { "remaining", batch_remaining }, { "result", batch_result },
    { NULL, NULL }
};
static const luaL_Reg batch_meta[] = {
    { "__gc", batch_gc }, { NULL, NULL }
};

static void add_record_closure(lua_State *L, int methods, const char *name, lua_CFunction fn)
{
    int i;
    luaL_getmetatable(L, LFK_POOL);
    for (i = 0; i < UV_COUNT - 1; i++) lua_pushstring(L, record_fields[i]);
    lua_pushcclosure(L, fn, UV_COUNT);
    lua_setfield(L, methods, name);
}

void lfk_open_pool(lua_State *L)
{
    lfk_new_class(L, LFK_ENGINE, engine_methods, engine_meta, "engine_methods");
    lfk_new_class(L, LFK_POOL, pool_methods, pool_meta, "pool_methods");
    lua_getfield(L, -1, "pool_methods");
    add_record_closure(L, lua_gettop(L), "_produce", pool_produce);
    add_record_closure(L, lua_gettop(L), "_produce_batch", pool_produce_batch);
    lua_pop(L, 1);
    lfk_new_class(L, LFK_BATCH, batch_methods, batch_meta, "batch_methods");
}
