/* luaopen_fluxakafka_core: the module table and every class of the binding opened into it.
   Only this file calls the per-class openers; it is the top of the binding. */
#define _GNU_SOURCE 1   /* dladdr, RTLD_NODELETE */
#include "lfk.h"

#include <dlfcn.h>

static int module_librdkafka_version(lua_State *L)
{
    lua_pushstring(L, fk_librdkafka_version());
    return 1;
}

static const luaL_Reg module_functions[] = {
    { "librdkafka_version", module_librdkafka_version },
    { NULL, NULL }
};

/* Lua unloads a C module when its library handle is finalized, at lua_close, among the
   other finalizers: a delivery callback that runs inside an engine's finalizer and collects
   garbage can make it happen while this module's code is still on the stack, and
   librdkafka's threads may still be winding down. So the module holds one more reference to
   itself that is never given back: its code stays mapped until the process exits. */
static void pin_module(void)
{
    static int pinned;
    Dl_info info;
    if (pinned) return;
    if (dladdr((void *)pin_module, &info) && info.dli_fname && dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE))
        pinned = 1;
}

int luaopen_fluxakafka_core(lua_State *L)
{
    pin_module();
    lua_newtable(L);
    luaL_register(L, NULL, module_functions);
    lua_pushstring(L, FK_VERSION);
    lua_setfield(L, -2, "VERSION");
    lua_pushstring(L, FK_ASYNC_SQL_TOPIC_NAME);
    lua_setfield(L, -2, "ASYNC_SQL_TOPIC_NAME");
    lua_pushstring(L, FK_ASYNC_SQL_DEAD_LETTER_TOPIC_NAME);
    lua_setfield(L, -2, "ASYNC_SQL_DEAD_LETTER_TOPIC_NAME");
    lfk_open_registry(L);
    lfk_open_pool(L);
    lfk_open_job(L);
    lfk_open_inspect(L);
    lfk_open_consumer(L);
    lfk_open_admin(L);
    lfk_open_config(L);
    lfk_open_hooks(L);
    lfk_open_async_sql(L);
    return 1;
}
