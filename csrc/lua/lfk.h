/* Shared pieces of the Lua binding (Lua 5.1 C API, built for LuaJIT), one section per file,
   bottom layer first: a file calls only what the sections above its own declare
   (`make check-binding` fails otherwise). */
#ifndef LFK_H
#define LFK_H

#include <lua.h>
#include <lauxlib.h>

#include "../fluxakafka.h"

/* metatable names of the classes */
#define LFK_REGISTRY       "fluxakafka.registry"
#define LFK_GROUP_BUILDER  "fluxakafka.consumer_group_builder"
#define LFK_TOPIC_BUILDER  "fluxakafka.topic_builder"
#define LFK_ENGINE         "fluxakafka.engine"
#define LFK_POOL           "fluxakafka.pool"
#define LFK_BATCH          "fluxakafka.produce_batch"
#define LFK_CONSUMER       "fluxakafka.consumer_group"
#define LFK_FETCHES        "fluxakafka.fetches"
#define LFK_JOB            "fluxakafka.job"
#define LFK_ALTER          "fluxakafka.alter"

/* ---- lfk_support.c: errors, argument checks, userdata, classes ---- */

/* Misuse errors point at the caller's line: the position is that of the first Lua frame
   outside fluxakafka's own Lua files (never a line inside the library). The binding raises
   through lfk_error, never luaL_error (which would point at the library's own Lua code). */
int lfk_error(lua_State *L, const char *fmt, ...);

/* luaL_checkudata with a message that names the method and, for self, says "call it with
   ':'" (pool.produce(rec) instead of pool:produce(rec)). */
void *lfk_checkudata(lua_State *L, int idx, const char *tname);

/* lauxlib's argument checks of the same names, raising through lfk_error (with the caller's
   position); use these, not luaL_check*. */
const char *lfk_checklstring(lua_State *L, int idx, size_t *len);
#define lfk_checkstring(L, idx) lfk_checklstring((L), (idx), NULL)
void        lfk_checktype(lua_State *L, int idx, int type);

/* Every userdata of the binding begins with this header. A finalized object can still be
   reached from Lua (a weak-keyed table hands it back after collection, and at lua_close the
   finalizers of other objects may call it), so no method may trust what its __gc freed:
   classes get their objects through lfk_check_object, which refuses finalized ones, and
   finalizers go through lfk_finalize, which makes them run once. */
typedef struct lfk_object {
    int finalized;
} lfk_object;

/* Initialises the header of a new userdata. */
void  lfk_object_init(lfk_object *o);
/* The object of class `tname` at idx, or a raise naming fn: "fn: expected a <tname> as
   self/argument ..., got <type>" for a wrong value, "fn: the <what> is closed (it was
   garbage-collected)" for a finalized object. */
void *lfk_check_object(lua_State *L, int idx, const char *tname, const char *fn, const char *what);
/* The same without refusing finalized objects (for is_closed, close and __tostring); check
   lfk_is_finalized before touching what the finalizer frees. */
void *lfk_check_any(lua_State *L, int idx, const char *tname, const char *fn);
int   lfk_is_finalized(const void *object);
/* For __gc: the object, marked finalized, when its finalizer has not run yet; NULL when it
   already ran (so a finalizer called twice, e.g. getmetatable(x).__gc(x), frees nothing). */
void *lfk_finalize(lua_State *L, int idx, const char *tname);

/* The string at idx (not a number: no coercion), or a raise "fn: argument #argn 'what' must
   be a string, got <type>". len may be NULL. */
const char *lfk_check_string(lua_State *L, int idx, const char *fn, int argn, const char *what,
                             size_t *len);
/* Raises "fn: argument #argn 'what' must be a function, got <type>" unless idx holds one. */
void lfk_check_function(lua_State *L, int idx, const char *fn, int argn, const char *what);

/* Creates metatable `name` with __index = a methods table holding `methods`, plus `meta`
   (may be NULL) as metamethods. Leaves nothing on the stack. The methods table is also
   stored in the module table (at -1 on entry) under `export_as`, so that the Lua part of
   the module can add methods written in Lua. */
void lfk_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *meta, const char *export_as);

/* Returns `nil, err.msg, err.code` (3 values). */
int lfk_push_error(lua_State *L, const fk_error *err);
/* Raises err.msg as a Lua error. */
int lfk_raise(lua_State *L, const fk_error *err);

/* Seconds (Lua number) to milliseconds; raises naming `what` when negative or not a number. */
int    lfk_opt_timeout_ms(lua_State *L, int idx, double default_seconds, const char *what);
double lfk_check_seconds_ms(lua_State *L, int idx, const char *what);

/* Array of strings at idx (a table) appended to list; raises naming `what`. */
void lfk_check_string_array(lua_State *L, int idx, fk_strlist *list, const char *what);
/* Only the check (raises naming `what`), for callers that must check before allocating. */
void lfk_check_strings(lua_State *L, int idx, const char *what);
void lfk_push_string_array(lua_State *L, const fk_strlist *list);
/* A table of the list's keys to its values. */
void lfk_push_kvlist(lua_State *L, const fk_kvlist *list);

/* ---- lfk_hooks.c ---- */

/* The functions fluxakafka's Lua part installs in the binding (lfk_hooks.c), kept per
   lua_State. serve_logs: hands the queued librdkafka log lines to the log sink
   (_set_log_sink). push_dispatcher: pushes the dispatcher (_set_dispatcher) and returns 1, or
   pushes nothing and returns 0 when this state has none. */
void lfk_serve_logs(lua_State *L);
int  lfk_push_dispatcher(lua_State *L);
void lfk_open_hooks(lua_State *L);

/* ---- lfk_options.c ---- */

/* Options as the rows of fk_options.h describe them (lfk_options.c). read: the options table
   at idx into base, raising "register_kafka: ..." on a wrong value or an unknown name. push:
   a table of the values in effect. set_by_method: the builder method of row, value at 2.
   add_option_methods: one setter closure per row with a Lua name into the module's methods
   table `methods`. check_properties: raw librdkafka properties at idx, raising naming what. */
struct fk_option;
void lfk_read_options(lua_State *L, int idx, const struct fk_option *rows, void *base);
void lfk_push_options(lua_State *L, const struct fk_option *rows, const void *base);
void lfk_set_option_by_method(lua_State *L, const struct fk_option *row, void *base);
void lfk_add_option_methods(lua_State *L, const char *methods, const struct fk_option *rows, lua_CFunction setter);
void lfk_check_properties(lua_State *L, int idx, fk_kvlist *out, const char *what);

/* ---- lfk_job.c ---- */

/* Jobs (lfk_job.c): a starter checks its arguments, pushes an empty job userdata with
   lfk_push_job (before starting: a raise then leaks nothing), starts the job and returns
   lfk_job_started(L, job, &err): the userdata, or nil, err, code when the job did not start.
   answer(L, j, owner_idx) pushes what the method returns once the job succeeded (the value
   that was at owner_idx, kept alive by the job, is at owner_idx again) and returns the
   number of values. */
typedef int (*lfk_answer_fn)(lua_State *L, fk_job *j, int owner_idx);
void lfk_push_job(lua_State *L, int owner_idx, lfk_answer_fn answer);
int  lfk_job_started(lua_State *L, fk_job *j, const fk_error *err);
int  lfk_answer_true(lua_State *L, fk_job *j, int owner_idx);   /* the answer `true` */
/* Gives the userdata on top class tname and an environment table holding the value at
   owner_idx, which it keeps alive (read back with lua_getfenv and lua_rawgeti 1). */
void lfk_bind(lua_State *L, const char *tname, int owner_idx);
void lfk_open_job(lua_State *L);

/* ---- lfk_consumer.c ---- */

/* Consumer group userdata: push one owning c; check the argument at idx (raises when it is
   not one, or closed, naming fn). */
void         lfk_push_consumer(lua_State *L, fk_consumer *c);
/* The answer of a job that opened a consumer group: the group's userdata. */
int          lfk_answer_consumer(lua_State *L, fk_job *j, int owner_idx);
fk_consumer *lfk_check_consumer(lua_State *L, int idx, const char *fn);
/* { {topic=, partition=, committed=, high=, lag=}, ... } (cg:lag, pool:group_lag) */
void lfk_push_lag(lua_State *L, const fk_partitions *l);
/* Record tables, as poll_fetches hands them out: lfk_push_record_keys pushes the field names
   once (returns the index of the first), then lfk_push_record pushes record i, its headers
   read with header(src, i, h, ...). */
typedef int (*lfk_header_fn)(const void *src, size_t i, size_t h, const char **key, size_t *key_len,
                             const void **value, size_t *value_len);
int  lfk_push_record_keys(lua_State *L);
void lfk_push_record(lua_State *L, const fk_record_view *v, lfk_header_fn header, const void *src, size_t i,
                     int keys);
void         lfk_open_consumer(lua_State *L);

/* ---- lfk_pool.c: engine and pools ---- */

/* Pushes a new engine userdata owning e. */
void lfk_push_engine(lua_State *L, fk_engine *e);
/* The engine of the engine userdata at idx; raises (naming fn) when it is closed. */
fk_engine *lfk_check_engine(lua_State *L, int idx, const char *fn);
/* The pool of the pool userdata at index 1; raises (naming fn) when it is closed. */
fk_pool *lfk_check_open_pool(lua_State *L, const char *fn);
void lfk_open_pool(lua_State *L);

/* ---- lfk_registry.c ---- */

/* The registry at index 1 (self), not finalized; raises naming fn. */
fk_registry *lfk_check_registry(lua_State *L, const char *fn);
void lfk_open_registry(lua_State *L);

/* ---- the per-class openers of the other files, called by luaopen_fluxakafka_core
   (lfk_module.c) with the module table on top ---- */
void lfk_open_admin(lua_State *L);
void lfk_open_async_sql(lua_State *L);
void lfk_open_config(lua_State *L);
void lfk_open_inspect(lua_State *L);
void lfk_open_read(lua_State *L);   /* by lfk_open_inspect */

#endif
