/* pool:read(topic, partition, start, {count =, timeout =}) without a consumer group:
   pool:_read_start("read", ...) starts it as a job (fk_read_start, lfk_job.c) that
   fluxakafka.lua's read waits for; its answer is an array of records shaped as
   poll_fetches hands them out. */
#include "lfk.h"

#include <math.h>
#include <string.h>

#define DEFAULT_COUNT 100
#define MAX_COUNT 1000000

typedef struct read_args {
    const char     *topic;
    int32_t         partition;
    fk_read_start_t start;
    int64_t         start_value;
    size_t          count;
    int             timeout_ms;
} read_args;

static int read_header(const void *src, size_t i, size_t h, const char **key, size_t *key_len, const void **value,
                       size_t *value_len)
{
    return fk_read_header(src, i, h, key, key_len, value, value_len);
}

static int push_records(lua_State *L, fk_job *j, int owner_idx)
{
    size_t i, n = fk_read_count(j);
    int keys = lfk_push_record_keys(L);
    (void)owner_idx;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        fk_record_view v;
        fk_read_record(j, i, &v);
        lfk_push_record(L, &v, read_header, j, i, keys);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int integral(double v) { return v == floor(v) && fabs(v) < 9007199254740992.0; }

/* start (argument #3, at index 5) */
static void check_start(lua_State *L, read_args *a)
{
    static const char *const usage = "read: argument #3 'start' must be an offset (0 or more), -N (N records before "
                                      "the end), \"beginning\", \"end\" or { timestamp = ms }";
    double v = 0;
    switch (lua_type(L, 5)) {
    case LUA_TNUMBER:
        if (!integral(v = lua_tonumber(L, 5))) lfk_error(L, "%s, got %f", usage, v);
        a->start = v >= 0 ? FK_READ_OFFSET : FK_READ_FROM_END;
        a->start_value = (int64_t)(v >= 0 ? v : -v);
        return;
    case LUA_TSTRING:
        if (strcmp(lua_tostring(L, 5), "beginning") == 0) a->start = FK_READ_BEGINNING;
        else if (strcmp(lua_tostring(L, 5), "end") == 0) a->start = FK_READ_END;
        else lfk_error(L, "%s, got \"%s\"", usage, lua_tostring(L, 5));
        return;
    case LUA_TTABLE:
        lua_getfield(L, 5, "timestamp");
        if (lua_type(L, -1) != LUA_TNUMBER || !integral(v = lua_tonumber(L, -1)) || v < 0)
            lfk_error(L, "%s: the timestamp must be ms since the epoch (0 or more)", usage);
        lua_pop(L, 1);
        a->start = FK_READ_TIMESTAMP;
        a->start_value = (int64_t)v;
        return;
    default:
        lfk_error(L, "%s, got %s", usage, luaL_typename(L, 5));
    }
}

/* options (argument #4, at index 6): count, timeout */
static void check_options(lua_State *L, read_args *a)
{
    a->count = DEFAULT_COUNT;
    a->timeout_ms = 1000;
    if (lua_isnoneornil(L, 6)) return;
    if (lua_type(L, 6) != LUA_TTABLE)
        lfk_error(L, "read: argument #4 'options' must be a table { count =, timeout = }, got %s", luaL_typename(L, 6));
    lua_pushnil(L);
    while (lua_next(L, 6)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        if (strcmp(key, "count") == 0) {
            double v = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || !integral(v) || v < 0 || v > MAX_COUNT)
                lfk_error(L, "read: option 'count' must be a number of records from 0 to %d", MAX_COUNT);
            a->count = (size_t)v;
        } else if (strcmp(key, "timeout") == 0) {
            a->timeout_ms = (int)ceil(lfk_check_seconds_ms(L, -1, "read: option 'timeout'"));
        } else {
            lfk_error(L, "read: unknown option '%s' (known: count, timeout)",
                      lua_type(L, -2) == LUA_TSTRING ? key : luaL_typename(L, -2));
        }
        lua_pop(L, 1);
    }
}

/* pool:_read_start("read", topic, partition, start [, options]) -> job | nil, err, code */
static int pool_read_start(lua_State *L)
{
    fk_pool *p = lfk_check_open_pool(L, "read");   /* self first: a closed pool says so */
    read_args a = { 0 };
    fk_error err;
    double partition;
    if (lua_type(L, 3) != LUA_TSTRING || lua_objlen(L, 3) == 0)
        lfk_error(L, "read: argument #1 'topic' must be a non-empty string, got %s", luaL_typename(L, 3));
    if (lua_type(L, 4) != LUA_TNUMBER)
        lfk_error(L, "read: argument #2 'partition' must be a number, got %s", luaL_typename(L, 4));
    partition = lua_tonumber(L, 4);
    if (partition != floor(partition) || partition < 0 || partition > 2147483647.0)
        lfk_error(L, "read: argument #2 'partition' must be a partition number (0 or more)");
    a.topic = lua_tostring(L, 3);
    a.partition = (int32_t)partition;
    check_start(L, &a);
    check_options(L, &a);
    lfk_push_job(L, 1, push_records);
    return lfk_job_started(L, fk_read_start(p, a.topic, a.partition, a.start, a.start_value, a.count, a.timeout_ms, &err),
                           &err);
}

static const luaL_Reg pool_read_methods[] = {
    { "_read_start", pool_read_start },
    { NULL, NULL }
};

void lfk_open_read(lua_State *L)
{
    lua_getfield(L, -1, "pool_methods");
    luaL_register(L, NULL, pool_read_methods);
    lua_pop(L, 1);
}
