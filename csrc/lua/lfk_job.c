/* The one userdata of every job (fk_job in fluxakafka.h): job:_ready(), job:_wait([seconds]),
   job:_result() and a finalizer that gives a job up. Each starter of the binding hands over,
   with its job, the function that turns the answer into what the method returns; the Lua
   part waits for every job in one place (lua/fluxakafka/await.lua). */
#include "lfk.h"

typedef struct job_ud {
    fk_job        *job;      /* NULL once answered (or not started) */
    lfk_answer_fn  answer;
} job_ud;

void lfk_bind(lua_State *L, const char *tname, int owner_idx)
{
    if (owner_idx < 0) owner_idx = lua_gettop(L) + owner_idx + 1;
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, owner_idx);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
}

void lfk_push_job(lua_State *L, int owner_idx, lfk_answer_fn answer)
{
    job_ud *u;
    if (owner_idx < 0) owner_idx = lua_gettop(L) + owner_idx + 1;
    u = lua_newuserdata(L, sizeof *u);
    u->job = NULL;
    u->answer = answer;
    lfk_bind(L, LFK_JOB, owner_idx);   /* the job keeps what it works on alive */
}

int lfk_answer_true(lua_State *L, fk_job *j, int owner_idx)
{
    (void)j;
    (void)owner_idx;
    lua_pushboolean(L, 1);
    return 1;
}

int lfk_job_started(lua_State *L, fk_job *j, const fk_error *err)
{
    if (!j) {
        lua_pop(L, 1);
        return lfk_push_error(L, err);
    }
    ((job_ud *)lua_touserdata(L, -1))->job = j;
    return 1;
}

static job_ud *check_job(lua_State *L, const char *fn)
{
    job_ud *u = lfk_checkudata(L, 1, LFK_JOB);
    if (!u->job) lfk_error(L, "%s: the request was already answered", fn);
    return u;
}

/* Both serve librdkafka's log lines meanwhile: a job's client may be the only one logging
   (a consumer group's connection check), and a waiting caller should see why it waits. */
static int job_ready(lua_State *L)
{
    int ready = fk_job_ready(check_job(L, "_ready")->job);
    lfk_serve_logs(L);
    lua_pushboolean(L, ready);
    return 1;
}

/* job:_wait([seconds]): blocks until the answer is in (true) or the seconds passed (false) */
static int job_wait(lua_State *L)
{
    job_ud *u = check_job(L, "_wait");
    int ready, timeout_ms = lua_isnoneornil(L, 2) ? -1 : lfk_opt_timeout_ms(L, 2, 0, "_wait");
    ready = fk_job_wait(u->job, timeout_ms);
    lfk_serve_logs(L);
    lua_pushboolean(L, ready);
    return 1;
}

/* job:_result(): once ready, what the method returns (the job is then used up) */
static int job_result(lua_State *L)
{
    job_ud *u = check_job(L, "_result");
    fk_error err;
    int n;
    if (!fk_job_ready(u->job)) return lfk_error(L, "_result: the request is still running");
    lfk_serve_logs(L);
    lua_settop(L, 1);
    lua_getfenv(L, 1);
    lua_rawgeti(L, 2, 1);
    n = fk_job_error(u->job, &err) ? u->answer(L, u->job, 3) : lfk_push_error(L, &err);
    fk_job_free(u->job);
    u->job = NULL;
    return n;
}

static int job_gc(lua_State *L)
{
    job_ud *u = lfk_checkudata(L, 1, LFK_JOB);
    fk_job_free(u->job);   /* an answer given up: cancelled, then waited for */
    u->job = NULL;
    return 0;
}

static const luaL_Reg job_methods[] = {
    { "_ready", job_ready }, { "_wait", job_wait }, { "_result", job_result }, { NULL, NULL }
};
static const luaL_Reg job_meta[] = { { "__gc", job_gc }, { NULL, NULL } };

void lfk_open_job(lua_State *L)
{
    lfk_new_class(L, LFK_JOB, job_methods, job_meta, "job_methods");
}
