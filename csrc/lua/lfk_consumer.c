/* Consumer group and fetches objects. A fetches userdata keeps its consumer group userdata
   alive (environment table), so the consumer is never freed under live fetches. */
#include "lfk.h"
#include "../fk_options.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

typedef struct consumer_ud { lfk_object head; fk_consumer *consumer; } consumer_ud;
/* lua/fluxakafka/ffi_fetches.lua reads `fetches` through the FFI (struct fk_ffi_fetches_ud)
   to see that the fetches were not finalized: keep the two layouts equal. */
typedef struct fetches_ud  { lfk_object head; fk_fetches *fetches; } fetches_ud;

#define DEFAULT_MAX_RECORDS 10000

void lfk_push_consumer(lua_State *L, fk_consumer *c)
{
    consumer_ud *u = lua_newuserdata(L, sizeof *u);
    lfk_object_init(&u->head);
    u->consumer = c;
    luaL_getmetatable(L, LFK_CONSUMER);
    lua_setmetatable(L, -2);
}

/* a consumer group that may be closed, but not finalized */
static consumer_ud *check_any_consumer(lua_State *L, const char *fn)
{
    return lfk_check_object(L, 1, LFK_CONSUMER, fn, "kafka consumer group");
}

static consumer_ud *check_consumer(lua_State *L, const char *fn)
{
    consumer_ud *u = check_any_consumer(L, fn);
    if (fk_consumer_is_closed(u->consumer))
        lfk_error(L, "%s: kafka consumer group '%s' is closed", fn, fk_consumer_spec(u->consumer)->name);
    return u;
}

fk_consumer *lfk_check_consumer(lua_State *L, int idx, const char *fn)
{
    consumer_ud *u = lfk_check_object(L, idx, LFK_CONSUMER, fn, "kafka consumer group");
    if (fk_consumer_is_closed(u->consumer))
        lfk_error(L, "%s: kafka consumer group '%s' is closed", fn, fk_consumer_spec(u->consumer)->name);
    return u->consumer;
}

static int consumer_get_name(lua_State *L)
{
    consumer_ud *u = check_any_consumer(L, "get_name");
    lua_pushstring(L, fk_consumer_spec(u->consumer)->name);
    return 1;
}

static int consumer_get_settings(lua_State *L)
{
    consumer_ud *u = check_any_consumer(L, "get_settings");
    const fk_group_spec *g = fk_consumer_spec(u->consumer);
    lfk_push_options(L, fk_group_option_rows, g);
    lua_pushstring(L, g->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, g->pool);
    lua_setfield(L, -2, "pool");
    return 1;
}

static int consumer_get_rdkafka_handle(lua_State *L)
{
    consumer_ud *u = check_consumer(L, "get_rdkafka_handle");
    lua_pushlightuserdata(L, fk_consumer_rd_kafka(u->consumer));
    return 1;
}

static int consumer_poll(lua_State *L)
{
    consumer_ud *u = check_consumer(L, "poll_fetches");
    int timeout_ms = lfk_opt_timeout_ms(L, 2, 1, "poll_fetches");
    double max = DEFAULT_MAX_RECORDS;
    fetches_ud *f;
    fk_error err;
    if (!lua_isnoneornil(L, 3)) {
        if (lua_type(L, 3) != LUA_TNUMBER)
            return lfk_error(L, "poll_fetches: argument #2 'max_records' must be a number, got %s", luaL_typename(L, 3));
        max = lua_tonumber(L, 3);
    }
    if (!(max >= 1) || max > 1e9)
        return lfk_error(L, "poll_fetches: argument #2 'max_records' must be between 1 and 1e9");
    lua_settop(L, 1);
    f = lua_newuserdata(L, sizeof *f);
    lfk_object_init(&f->head);
    f->fetches = NULL;
    luaL_getmetatable(L, LFK_FETCHES);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    f->fetches = fk_consumer_poll(u->consumer, timeout_ms, (size_t)max, &err);
    lfk_serve_logs(L);
    if (!f->fetches) return lfk_push_error(L, &err);
    return 1;
}

int lfk_answer_consumer(lua_State *L, fk_job *j, int owner_idx)
{
    (void)owner_idx;
    lfk_push_consumer(L, fk_job_take_consumer(j));
    return 1;
}

/* cg:_commit_start([timeout]) -> job | nil, err, code: commit_uncommitted_offsets as a job,
   answered _TIMED_OUT once timeout seconds passed (none: the pool's connect_timeout) */
static int consumer_commit_start(lua_State *L)
{
    consumer_ud *u = check_consumer(L, "commit_uncommitted_offsets");
    int timeout_ms = lua_isnoneornil(L, 2) ? -1 : lfk_opt_timeout_ms(L, 2, 0, "commit_uncommitted_offsets");
    fk_error err;
    lua_settop(L, 1);
    lfk_push_job(L, 1, lfk_answer_true);
    return lfk_job_started(L, fk_consumer_commit_start(u->consumer, NULL, 0, timeout_ms, &err), &err);
}

/* ---- control ---- */

static void push_partitions(lua_State *L, const fk_partitions *l, int with_offset)
{
    size_t i;
    lua_createtable(L, (int)l->count, 0);
    for (i = 0; i < l->count; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, l->items[i].topic);
        lua_setfield(L, -2, "topic");
        lua_pushinteger(L, l->items[i].partition);
        lua_setfield(L, -2, "partition");
        if (with_offset) {
            /* librdkafka's "no offset" (-1001) reads as nil */
            if (l->items[i].offset >= 0) {
                lua_pushnumber(L, (lua_Number)l->items[i].offset);
                lua_setfield(L, -2, "offset");
            }
            if (l->items[i].rd_err) {
                lua_pushstring(L, fk_err_name(l->items[i].rd_err));
                lua_setfield(L, -2, "error");
            }
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* Raises unless the value at idx is an array of {topic=, partition=}; checked before anything
   is allocated, so a raise cannot leak. */
static void check_partitions(lua_State *L, int idx, const char *fn)
{
    int i, n;
    if (lua_type(L, idx) != LUA_TTABLE)
        lfk_error(L, "%s: argument #1 'partitions' must be an array of {topic=, partition=}, got %s", fn,
                  luaL_typename(L, idx));
    n = (int)lua_objlen(L, idx);
    for (i = 1; i <= n; i++) {
        double part;
        lua_rawgeti(L, idx, i);
        if (lua_type(L, -1) != LUA_TTABLE)
            lfk_error(L, "%s: partitions[%d] must be a table {topic=, partition=}, got %s", fn, i, luaL_typename(L, -1));
        lua_getfield(L, -1, "topic");
        if (lua_type(L, -1) != LUA_TSTRING)
            lfk_error(L, "%s: partitions[%d].topic must be a string, got %s", fn, i, luaL_typename(L, -1));
        lua_getfield(L, -2, "partition");
        part = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || part < 0 || part != (double)(int32_t)part)
            lfk_error(L, "%s: partitions[%d].partition must be a partition number (0 or more)", fn, i);
        lua_pop(L, 3);
    }
}

static int read_partitions(lua_State *L, int idx, fk_partitions *out)
{
    int i, n = (int)lua_objlen(L, idx), ok = 1;
    for (i = 1; i <= n && ok; i++) {
        lua_rawgeti(L, idx, i);
        lua_getfield(L, -1, "topic");
        lua_getfield(L, -2, "partition");
        ok = fk_partitions_add(out, lua_tostring(L, -2), (int32_t)lua_tonumber(L, -1), -1001);
        lua_pop(L, 3);
    }
    return ok;
}

static int finish_partitions(lua_State *L, int ok, fk_partitions *l, const fk_error *err, int with_offset)
{
    if (!ok) {
        fk_partitions_clear(l);
        return lfk_push_error(L, err);
    }
    push_partitions(L, l, with_offset);
    fk_partitions_clear(l);
    return 1;
}

static int consumer_assignment(lua_State *L)
{
    consumer_ud *u = check_consumer(L, "assignment");
    fk_partitions l = { 0 };
    fk_error err;
    int ok = fk_consumer_assignment(u->consumer, &l, &err);
    return finish_partitions(L, ok, &l, &err, 0);
}

/* seek's arguments topic, partition, offset from index `at` on, checked */
static void check_seek_target(lua_State *L, int at, const char **topic, int32_t *partition,
                              int64_t *offset)
{
    double part, off;
    if (lua_type(L, at) != LUA_TSTRING)
        lfk_error(L, "seek: argument #1 'topic' must be a string, got %s", luaL_typename(L, at));
    *topic = lua_tostring(L, at);
    part = lua_tonumber(L, at + 1);
    if (lua_type(L, at + 1) != LUA_TNUMBER || part < 0 || part != (double)(int32_t)part)
        lfk_error(L, "seek: argument #2 'partition' must be a partition number (0 or more)");
    off = lua_tonumber(L, at + 2);
    if (lua_type(L, at + 2) != LUA_TNUMBER || off < 0 || off != floor(off))
        lfk_error(L, "seek: argument #3 'offset' must be an offset (an integer, 0 or more)");
    *partition = (int32_t)part;
    *offset = (int64_t)off;
}

static int pause_or_resume(lua_State *L, int pause)
{
    const char *fn = pause ? "pause" : "resume";
    consumer_ud *u = check_consumer(L, fn);
    fk_partitions l = { 0 };
    fk_error err;
    int ok;
    check_partitions(L, 2, fn);
    ok = read_partitions(L, 2, &l);
    if (!ok) fk_error_set(&err, "_NO_MEMORY", "%s: out of memory", fn);
    else ok = fk_consumer_pause(u->consumer, &l, pause, &err);
    fk_partitions_clear(&l);
    if (!ok) return lfk_push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int consumer_pause(lua_State *L) { return pause_or_resume(L, 1); }
static int consumer_resume(lua_State *L) { return pause_or_resume(L, 0); }

void lfk_push_lag(lua_State *L, const fk_partitions *l)
{
    size_t i;
    lua_createtable(L, (int)l->count, 0);
    for (i = 0; i < l->count; i++) {
        const fk_partition *p = &l->items[i];
        lua_createtable(L, 0, 5);
        lua_pushstring(L, p->topic);
        lua_setfield(L, -2, "topic");
        lua_pushinteger(L, p->partition);
        lua_setfield(L, -2, "partition");
        if (p->offset >= 0) {   /* nil: nothing committed yet */
            lua_pushnumber(L, (lua_Number)p->offset);
            lua_setfield(L, -2, "committed");
        }
        lua_pushnumber(L, (lua_Number)p->high);
        lua_setfield(L, -2, "high");
        lua_pushnumber(L, (lua_Number)(p->high - (p->offset >= 0 ? p->offset : p->low)));
        lua_setfield(L, -2, "lag");
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* The answers of committed and lag jobs that succeeded, and of seek and seek_to_committed. */
static int push_committed(lua_State *L, fk_job *j, int owner_idx)
{
    fk_partitions l = { 0 };
    (void)owner_idx;
    fk_job_take_partitions(j, &l);
    push_partitions(L, &l, 1);
    fk_partitions_clear(&l);
    return 1;
}

static int push_lag_answer(lua_State *L, fk_job *j, int owner_idx)
{
    fk_partitions l = { 0 };
    (void)owner_idx;
    fk_job_take_partitions(j, &l);
    lfk_push_lag(L, &l);
    fk_partitions_clear(&l);
    return 1;
}

/* The partitions a request starts with, from the arguments at 3..: committed's (default: the
   assignment) or seek's one target; 0 with err. */
static int request_partitions(lua_State *L, fk_consumer *c, fk_request_kind kind, fk_partitions *l, fk_error *err)
{
    if (kind == FK_REQUEST_SEEK) {
        const char *topic;
        int32_t partition;
        int64_t offset;
        check_seek_target(L, 3, &topic, &partition, &offset);
        if (fk_partitions_add(l, topic, partition, offset)) return 1;
        fk_error_set(err, "_NO_MEMORY", "seek: out of memory");
        return 0;
    }
    if (kind != FK_REQUEST_COMMITTED) return 1;
    if (lua_isnil(L, 3)) return fk_consumer_assignment(c, l, err);
    check_partitions(L, 3, "committed");
    if (read_partitions(L, 3, l)) return 1;
    fk_error_set(err, "_NO_MEMORY", "committed: out of memory");
    return 0;
}

/* cg:_request_start(request, ...) -> job | nil, err, code, where request and its arguments
   are those of the method of that name (whose name the errors carry): "committed"
   [, partitions], "lag", "seek", topic, partition, offset, or "seek_to_committed". */
static int consumer_request_start(lua_State *L)
{
    static const char *const kinds[] = { "committed", "lag", "seek", "seek_to_committed", NULL };
    static const fk_request_kind kind_of[] = { FK_REQUEST_COMMITTED, FK_REQUEST_LAG, FK_REQUEST_SEEK,
                                               FK_REQUEST_REWIND };
    static const lfk_answer_fn answers[] = { push_committed, push_lag_answer, lfk_answer_true, lfk_answer_true };
    fk_partitions l = { 0 };
    consumer_ud *u;
    fk_error err;
    int i;
    for (i = 0; kinds[i] && !(lua_type(L, 2) == LUA_TSTRING && strcmp(kinds[i], lua_tostring(L, 2)) == 0); i++) {}
    u = check_consumer(L, kinds[i] ? kinds[i] : "_request_start");   /* self first: closed says so */
    if (!kinds[i])
        return lfk_error(L, "_request_start: argument #1 'request' must be committed, lag, seek or seek_to_committed");
    lua_settop(L, 5);   /* the job userdata goes to 6, above the arguments */
    if (!request_partitions(L, u->consumer, kind_of[i], &l, &err)) {
        fk_partitions_clear(&l);
        return lfk_push_error(L, &err);
    }
    lfk_push_job(L, 1, answers[i]);
    i = lfk_job_started(L, fk_consumer_request_start(u->consumer, kind_of[i], &l, &err), &err);
    fk_partitions_clear(&l);
    return i;
}

/* _rebalance_events(record, defer_revoke); _rebalance_take() -> { {kind=, partitions=}, ... }
   or nil; _rebalance_done(): the Lua part calls on_assign / on_revoke between take and done. */
static int consumer_rebalance_events(lua_State *L)
{
    consumer_ud *u = check_consumer(L, "_rebalance_events");
    fk_consumer_rebalance_events(u->consumer, lua_toboolean(L, 2), lua_toboolean(L, 3));
    return 0;
}

static int consumer_rebalance_take(lua_State *L)
{
    consumer_ud *u = check_any_consumer(L, "_rebalance_take");
    fk_partitions l = { 0 };
    int assign, n = 0;
    lua_newtable(L);
    while (fk_consumer_rebalance_next(u->consumer, &assign, &l)) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, assign ? "assign" : "revoke");
        lua_setfield(L, -2, "kind");
        push_partitions(L, &l, 0);
        fk_partitions_clear(&l);
        lua_setfield(L, -2, "partitions");
        lua_rawseti(L, -2, ++n);
    }
    if (n == 0) lua_pushnil(L);
    return 1;
}

static int consumer_rebalance_done(lua_State *L)
{
    consumer_ud *u = check_any_consumer(L, "_rebalance_done");
    fk_consumer_rebalance_done(u->consumer);
    return 0;
}

/* cg:_take_stats() -> the oldest queued statistics JSON text, or nil */
static int consumer_take_stats(lua_State *L)
{
    consumer_ud *u = check_any_consumer(L, "_take_stats");
    char *json = fk_consumer_take_stats(u->consumer);
    if (!json) return 0;
    lua_pushstring(L, json);
    free(json);
    return 1;
}


static int answer_nothing(lua_State *L, fk_job *j, int owner_idx)
{
    (void)L;
    (void)j;
    (void)owner_idx;
    return 0;
}

/* is_closed, __tostring and cg:_close_start() also answer for a finalized consumer group
   (closed). _close_start: a job for fluxakafka.lua's close (the group counts as closed at
   once, leaving it runs on a thread of its own), or nothing when there is nothing to wait for. */
static int consumer_close_start(lua_State *L)
{
    consumer_ud *u = lfk_check_any(L, 1, LFK_CONSUMER, "close");
    fk_error err;
    if (lfk_is_finalized(u) || !u->consumer) return 0;
    lua_settop(L, 1);
    lfk_push_job(L, 1, answer_nothing);
    if (lfk_job_started(L, fk_consumer_close_start(u->consumer, &err), &err) == 1) return 1;
    fk_consumer_close(u->consumer);   /* no job to be had: a group must always be closable */
    return 0;
}

static int consumer_is_closed(lua_State *L)
{
    consumer_ud *u = lfk_check_any(L, 1, LFK_CONSUMER, "is_closed");
    lua_pushboolean(L, lfk_is_finalized(u) || !u->consumer || fk_consumer_is_closed(u->consumer));
    return 1;
}

static int consumer_gc(lua_State *L)
{
    consumer_ud *u = lfk_finalize(L, 1, LFK_CONSUMER);
    if (!u) return 0;
    fk_consumer_free(u->consumer);
    u->consumer = NULL;
    return 0;
}

static int consumer_tostring(lua_State *L)
{
    consumer_ud *u = lfk_check_any(L, 1, LFK_CONSUMER, "__tostring");
    const fk_group_spec *g;
    if (lfk_is_finalized(u) || !u->consumer) {
        lua_pushliteral(L, "fluxakafka.consumer_group (closed)");
        return 1;
    }
    g = fk_consumer_spec(u->consumer);
    lua_pushfstring(L, "fluxakafka.consumer_group(%s@%s)%s", g->name, g->pool,
                    fk_consumer_is_closed(u->consumer) ? " (closed)" : "");
    return 1;
}

/* ---------------------------------------------------------------- fetches ---- */

static fk_fetches *check_fetches_fn(lua_State *L, const char *fn)
{
    fetches_ud *u = lfk_check_object(L, 1, LFK_FETCHES, fn, "fetches");
    return u->fetches;
}

static fk_fetches *check_readable(lua_State *L, const char *fn)
{
    fk_fetches *f = check_fetches_fn(L, fn);
    if (fk_fetches_released(f))
        lfk_error(L, "%s: these fetches belong to a closed consumer group; their records were released", fn);
    return f;
}

/* Field names of a record table, pushed once per call instead of interned per field. */
enum { K_TOPIC, K_KEY, K_VALUE, K_PARTITION, K_OFFSET, K_TIMESTAMP, K_HEADERS, K_COUNT };
static const char *const key_names[K_COUNT] = { "topic", "key", "value", "partition", "offset",
                                               "timestamp", "headers" };

/* Pushes the K_COUNT key strings followed by a slot for the last topic string; returns the
   index of the first. */
static int push_keys(lua_State *L)
{
    int i, base = lua_gettop(L) + 1;
    luaL_checkstack(L, K_COUNT + 8, "fetches");
    for (i = 0; i < K_COUNT; i++) lua_pushstring(L, key_names[i]);
    lua_pushnil(L);   /* cached topic string */
    return base;
}

#define KEY(base, k) ((base) + (k))
#define TOPIC_SLOT(base) ((base) + K_COUNT)

/* t[key] = the value on top (popped); t may be relative */
static void set_key(lua_State *L, int t, int key_idx)
{
    if (t < 0) t = lua_gettop(L) + t + 1;
    lua_pushvalue(L, key_idx);
    lua_insert(L, -2);
    lua_rawset(L, t);
}

static int fetches_header(const void *src, size_t i, size_t h, const char **key, size_t *key_len,
                          const void **value, size_t *value_len)
{
    return fk_fetches_header(src, i, h, key, key_len, value, value_len);
}

static void push_record(lua_State *L, fk_fetches *f, size_t i, int keys)
{
    fk_record_view v;
    fk_fetches_record(f, i, &v);
    lfk_push_record(L, &v, fetches_header, f, i, keys);
}

int lfk_push_record_keys(lua_State *L) { return push_keys(L); }

void lfk_push_record(lua_State *L, const fk_record_view *rec, lfk_header_fn header, const void *src, size_t i,
                     int keys)
{
    const fk_record_view v = *rec;
    size_t h;
    int t;
    lua_createtable(L, 0, 7);
    t = lua_gettop(L);
    /* records of one poll mostly share a topic: reuse its string */
    if (lua_isnil(L, TOPIC_SLOT(keys)) || strcmp(lua_tostring(L, TOPIC_SLOT(keys)), v.topic) != 0) {
        lua_pushstring(L, v.topic);
        lua_replace(L, TOPIC_SLOT(keys));
    }
    lua_pushvalue(L, TOPIC_SLOT(keys));
    set_key(L, t, KEY(keys, K_TOPIC));
    if (v.key) {
        lua_pushlstring(L, v.key, v.key_len);
        set_key(L, t, KEY(keys, K_KEY));
    }
    if (v.value) {   /* a null value stays nil, apart from an empty one */
        lua_pushlstring(L, v.value, v.value_len);
        set_key(L, t, KEY(keys, K_VALUE));
    }
    lua_pushinteger(L, v.partition);
    set_key(L, t, KEY(keys, K_PARTITION));
    lua_pushnumber(L, (double)v.offset);
    set_key(L, t, KEY(keys, K_OFFSET));
    lua_pushnumber(L, (double)v.timestamp_ms);
    set_key(L, t, KEY(keys, K_TIMESTAMP));
    if (v.header_count) {
        lua_createtable(L, (int)v.header_count, 0);
        for (h = 0; h < v.header_count; h++) {
            const char *key;
            const void *value;
            size_t key_len, len;
            if (!header(src, i, h, &key, &key_len, &value, &len)) continue;
            lua_createtable(L, 0, 2);
            lua_pushlstring(L, key, key_len);
            set_key(L, -2, KEY(keys, K_KEY));
            if (value) {
                lua_pushlstring(L, value, len);
                set_key(L, -2, KEY(keys, K_VALUE));
            }
            lua_rawseti(L, -2, (int)h + 1);
        }
        set_key(L, t, KEY(keys, K_HEADERS));
    }
}

static int fetches_is_empty(lua_State *L)
{
    lua_pushboolean(L, fk_fetches_count(check_fetches_fn(L, "is_empty")) == 0);
    return 1;
}

static int fetches_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)fk_fetches_count(check_fetches_fn(L, "count")));
    return 1;
}

static int fetches_records(lua_State *L)
{
    fk_fetches *f = check_readable(L, "records");
    size_t i, n = fk_fetches_count(f);
    int keys = push_keys(L);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        push_record(L, f, i, keys);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int fetches_each_record(lua_State *L)
{
    fk_fetches *f = check_readable(L, "each_record");
    fetches_ud *u = lua_touserdata(L, 1);
    size_t i;
    int keys;
    lfk_check_function(L, 2, "each_record", 1, "callback");
    lua_settop(L, 2);
    keys = push_keys(L);
    for (i = 0; i < fk_fetches_count(f); i++) {
        lua_pushvalue(L, 2);
        push_record(L, f, i, keys);
        lua_call(L, 1, 0);
        /* the callback may have finalized these fetches (calling their __gc) */
        if (lfk_is_finalized(u))
            return lfk_error(L, "each_record: the fetches were finalized during the iteration");
        if (fk_fetches_released(f))
            return lfk_error(L, "each_record: the consumer group was closed during the iteration");
    }
    return 0;
}

static int fetches_each_error(lua_State *L)
{
    fk_fetches *f = check_fetches_fn(L, "each_error");
    fetches_ud *u = lua_touserdata(L, 1);
    size_t i;
    if (!lua_isfunction(L, 2))
        return lfk_error(L, "each_error: argument #1 must be a function, got %s", luaL_typename(L, 2));
    for (i = 0; i < fk_fetches_error_count(f); i++) {
        const char *topic, *msg, *code;
        int32_t partition;
        fk_fetches_error(f, i, &topic, &partition, &msg, &code);
        lua_pushvalue(L, 2);
        lua_pushstring(L, topic);
        lua_pushinteger(L, partition);
        lua_pushstring(L, msg);
        lua_pushstring(L, code);
        lua_call(L, 4, 0);
        if (lfk_is_finalized(u))
            return lfk_error(L, "each_error: the fetches were finalized during the iteration");
    }
    return 0;
}

/* upvalues: 1 the fetches, 2 the next index, 3.. the keys and the cached topic string */
static int fetches_iter_next(lua_State *L)
{
    fetches_ud *u = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2));
    int keys, k;
    /* the iterator keeps its fetches reachable, but a weak table can hand both back after
       the fetches were finalized */
    if (lfk_is_finalized(u))
        return lfk_error(L, "iter: the fetches are closed (they were garbage-collected)");
    if (fk_fetches_released(u->fetches))
        return lfk_error(L, "iter: these fetches belong to a closed consumer group; their records were released");
    if ((size_t)i >= fk_fetches_count(u->fetches)) return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(2));
    lua_settop(L, 0);
    keys = 1;
    luaL_checkstack(L, K_COUNT + 8, "iter");
    for (k = 0; k <= K_COUNT; k++) lua_pushvalue(L, lua_upvalueindex(3 + k));
    push_record(L, u->fetches, (size_t)i, keys);
    lua_pushvalue(L, TOPIC_SLOT(keys));
    lua_replace(L, lua_upvalueindex(3 + K_COUNT));
    return 1;
}

static int fetches_iter(lua_State *L)
{
    check_readable(L, "iter");
    lua_settop(L, 1);
    lua_pushinteger(L, 0);
    push_keys(L);
    lua_pushcclosure(L, fetches_iter_next, 2 + K_COUNT + 1);
    return 1;
}

/* For the FFI fast path: messages array, count, the released flag and this userdata's own
   memory (whose `fetches` field turns NULL when it is finalized), as light userdata. */
static int fetches_raw(lua_State *L)
{
    /* the method of the fast path that asks, for its messages */
    static const char *const callers[] = { "iter", "records", "each_record", NULL };
    const char *fn = "_raw";
    int i;
    for (i = 0; callers[i]; i++)
        if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), callers[i]) == 0) fn = callers[i];
    fk_fetches *f = check_readable(L, fn);
    const int *flag;
    void *const *msgs = fk_fetches_messages(f, &flag);
    lua_pushlightuserdata(L, (void *)msgs);
    lua_pushinteger(L, (lua_Integer)fk_fetches_count(f));
    lua_pushlightuserdata(L, (void *)flag);
    lua_pushlightuserdata(L, lua_touserdata(L, 1));
    return 4;
}

static int fetches_error_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)fk_fetches_error_count(check_fetches_fn(L, "error_count")));
    return 1;
}

static int fetches_gc(lua_State *L)
{
    fetches_ud *u = lfk_finalize(L, 1, LFK_FETCHES);
    if (!u) return 0;
    fk_fetches_free(u->fetches);
    u->fetches = NULL;
    return 0;
}

static int fetches_tostring(lua_State *L)
{
    fetches_ud *u = lfk_check_any(L, 1, LFK_FETCHES, "__tostring");
    fk_fetches *f = u->fetches;
    if (lfk_is_finalized(u) || !f) {
        lua_pushliteral(L, "fluxakafka.fetches (closed)");
        return 1;
    }
    lua_pushfstring(L, "fluxakafka.fetches (%d records, %d errors)", (int)fk_fetches_count(f),
                    (int)fk_fetches_error_count(f));
    return 1;
}

static const luaL_Reg consumer_methods[] = {
    { "get_name", consumer_get_name },
    { "get_settings", consumer_get_settings },
    { "get_rdkafka_handle", consumer_get_rdkafka_handle },
    { "_poll", consumer_poll },
    { "_commit_start", consumer_commit_start },
    { "_close_start", consumer_close_start },
    { "is_closed", consumer_is_closed },
    { "assignment", consumer_assignment },
    { "pause", consumer_pause },
    { "resume", consumer_resume },
    { "_request_start", consumer_request_start },
    { "_take_stats", consumer_take_stats },
    { "_rebalance_events", consumer_rebalance_events },
    { "_rebalance_take", consumer_rebalance_take },
    { "_rebalance_done", consumer_rebalance_done },
    { NULL, NULL }
};
static const luaL_Reg consumer_meta[] = {
    { "__gc", consumer_gc }, { "__tostring", consumer_tostring }, { NULL, NULL }
};

static int (*const message_has_no_headers)(const void *) = fk_message_has_no_headers;
static size_t (*const header_key_len)(const char *, const void *, size_t) = fk_header_key_len;

/* _records, _each_record, _iter: the binding's copy of records into tables; the methods
   records, each_record and iter are lua/fluxakafka.lua's, over this copy or the FFI's. */
static const luaL_Reg fetches_methods[] = {
    { "is_empty", fetches_is_empty },
    { "count", fetches_count },
    { "_records", fetches_records },
    { "_each_record", fetches_each_record },
    { "each_error", fetches_each_error },
    { "error_count", fetches_error_count },
    { "_iter", fetches_iter },
    { "_raw", fetches_raw },
    { NULL, NULL }
};
static const luaL_Reg fetches_meta[] = {
    { "__gc", fetches_gc }, { "__tostring", fetches_tostring }, { NULL, NULL }
};

void lfk_open_consumer(lua_State *L)
{
    lfk_new_class(L, LFK_CONSUMER, consumer_methods, consumer_meta, "consumer_group_methods");
    lfk_new_class(L, LFK_FETCHES, fetches_methods, fetches_meta, "fetches_methods");
    /* the FFI fast path calls the core's header functions through these pointers */
    lua_getfield(L, -1, "fetches_methods");
    lua_pushlightuserdata(L, (void *)&message_has_no_headers);
    lua_setfield(L, -2, "_message_has_no_headers");
    lua_pushlightuserdata(L, (void *)&header_key_len);
    lua_setfield(L, -2, "_header_key_len");
    lua_pop(L, 1);
}
