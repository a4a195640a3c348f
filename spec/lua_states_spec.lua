-- Several Lua states in one process (a C host may open two, or close one and open another):
-- what fluxakafka's Lua part installs in the binding (the log sink, nginx's dispatcher of
-- callbacks) belongs to the state that installed it. The other state is opened through
-- LuaJIT's FFI with the C API the luajit executable exports, loads the same core.so, and is
-- closed before this state uses its pools.
local support = require "spec.support"
local fk = require "fluxakafka"
local core = require "fluxakafka.core"

local ok_ffi, ffi = pcall(require, "ffi")

describe("two Lua states in one process", function()
  if not ok_ffi then
    pending("needs LuaJIT's FFI to open a second state")
    return
  end
  pcall(ffi.cdef, [[
    typedef struct lua_State lua_State;
    lua_State *luaL_newstate(void);
    void luaL_openlibs(lua_State *L);
    int luaL_loadstring(lua_State *L, const char *s);
    int lua_pcall(lua_State *L, int nargs, int nresults, int errfunc);
    const char *lua_tolstring(lua_State *L, int idx, size_t *len);
    void lua_close(lua_State *L);
  ]])

  -- Runs chunk in a new state (which finds fluxakafka through the same LUA_PATH and
  -- LUA_CPATH), closes the state and returns what the chunk returned; raises its error.
  local function in_other_state(chunk)
    local L = ffi.C.luaL_newstate()
    assert(L ~= nil, "luaL_newstate failed")
    ffi.C.luaL_openlibs(L)
    local status = ffi.C.luaL_loadstring(L, chunk)
    if status == 0 then status = ffi.C.lua_pcall(L, 0, 1, 0) end
    local s = ffi.C.lua_tolstring(L, -1, nil)
    local result = s ~= nil and ffi.string(s) or nil
    ffi.C.lua_close(L)
    assert(status == 0, result)
    return result
  end

  local other_dispatcher = [[
    local fk = require "fluxakafka"
    require("fluxakafka.core")._set_dispatcher(function() error("the other state's dispatcher ran") end)
    return fk.VERSION
  ]]

  -- polls until cond() holds or 20 s passed
  local function poll_until(pool, cond)
    local deadline = support.monotonic() + 20
    while not cond() and support.monotonic() < deadline do pool:poll(0.05) end
    return cond() and true or false
  end

  -- produces one record with a callback and an owner (the binding's _produce primitive, as
  -- pool:produce calls it with the owner nginx's strategy gives) and returns a function that
  -- tells what the callback received
  local function produce_owned(pool, owner)
    local got
    assert(pool:_produce({ topic = support.unique("states"), value = "v" }, function(record, err)
      got = { value = record.value, err = err }
    end, owner))
    return function() return got end
  end

  after_each(function() core._set_dispatcher(nil) end)

  it("a dispatcher another state installed, closed since, does not take this state's callbacks", function()
    assert.are.equal(fk.VERSION, in_other_state(other_dispatcher))
    local engine, pool = support.engine()
    local got = produce_owned(pool, {})
    assert.is_true(poll_until(pool, got), "the callback did not run")
    assert.are.same({ value = "v" }, got())
    engine:close(5)
  end)

  it("this state's dispatcher stays when another state installs its own", function()
    local owners = {}
    core._set_dispatcher(function(owner, callback, record, err, code)
      owners[#owners + 1] = owner
      callback(record, err, code)
    end)
    assert.are.equal(fk.VERSION, in_other_state(other_dispatcher))
    local engine, pool = support.engine()
    local owner = {}
    local got = produce_owned(pool, owner)
    assert.is_true(poll_until(pool, got), "the callback did not run")
    assert.are.same({ value = "v" }, got())
    assert.are.equal(1, #owners)
    assert.are.equal(owner, owners[1])
    engine:close(5)
  end)

  it("this state's logger gets its pools' lines after another state loaded fluxakafka and closed", function()
    in_other_state [[
      local fk = require "fluxakafka"
      fk.set_logger(function() end)
    ]]
    local lines = {}
    fk.set_logger(function(_, facility, _, pool_code) lines[#lines + 1] = pool_code .. " " .. facility end)
    local r = fk.new_registry()
    r:register_kafka({ "127.0.0.1:1" }, "dead", { delivery_timeout = 60 })
    local engine = assert(r:validate())
    local pool = engine:kafka("dead")
    assert(pool:produce({ topic = "logged", value = "x" }))
    local ok = poll_until(pool, function()
      for _, l in ipairs(lines) do if l == "dead FAIL" then return true end end
    end)
    fk.set_logger(nil)
    engine:close(0)
    assert.is_true(ok, "no FAIL line of the dead pool reached this state's logger")
  end)
end)
