--- fluxakafka: Kafka pools, producers and consumer groups for Lua, on librdkafka.
-- The work is done in C (fluxakafka.core); this file adds the calls that must wait, so that
-- inside OpenResty they wait with ngx.sleep (yielding the worker) instead of blocking it.
local core = require "fluxakafka.core"

local M = {}
for name, value in pairs(core) do
  if not name:match("_methods$") and name:sub(1, 1) ~= "_" then M[name] = value end
end

local pool_methods = core.pool_methods
local engine_methods = core.engine_methods
local consumer_group_methods = core.consumer_group_methods

local YIELDABLE_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

-- True when running inside an OpenResty phase where ngx.sleep may yield.
local function in_yieldable_nginx()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or not ngx.get_phase then return false end
  return YIELDABLE_PHASES[ngx.get_phase()] == true
end
M._in_yieldable_nginx = in_yieldable_nginx

local function now()
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.now then
    ngx.update_time()
    return ngx.now()
  end
  return os.time()
end

local function check_timeout(fn, timeout, default)
  if timeout == nil then return default end
  if type(timeout) ~= "number" or timeout < 0 then
    error(fn .. ": argument 'timeout' must be a non-negative number of seconds", 3)
  end
  return timeout
end

--- Produces every record given and waits until each is acknowledged or failed, never longer
-- than the pool's delivery timeout (then nil, err, "_MSG_TIMED_OUT").
-- Returns true, or nil, err, code naming the first failure.
local produce_batch = pool_methods._produce_batch   -- checks self: a pool, not closed
function pool_methods:produce_sync(...)
  local batch, err, code = produce_batch(self, ...)
  if not batch then return nil, err, code end
  if in_yieldable_nginx() then
    local sleep = 0.001
    while batch:pending() > 0 do
      self:poll(0)
      local left = batch:remaining()
      if batch:pending() == 0 or left <= 0 then break end
      ngx.sleep(sleep < left and sleep or left)
      if sleep < 0.016 then sleep = sleep * 2 end
    end
  else
    while batch:pending() > 0 do
      local left = batch:remaining()
      if left <= 0 then break end
      self:poll(left < 0.1 and left or 0.1)
    end
  end
  return batch:result()
end

local core_flush = pool_methods.flush
--- Waits up to timeout seconds (default 60) until every buffered record is delivered or
-- failed; serves their callbacks. Returns true, or nil, err, code on timeout.
function pool_methods:flush(timeout)
  timeout = check_timeout("flush", timeout, 60)
  if not in_yieldable_nginx() then return core_flush(self, timeout) end
  local deadline = now() + timeout
  while self:in_flight() > 0 and now() < deadline do
    self:poll(0)
    if self:in_flight() > 0 then ngx.sleep(0.005) end
  end
  return core_flush(self, 0)
end

local core_pool_close = pool_methods.close
--- Flushes for up to timeout seconds (default 30), then fails what is left: every record's
-- callback is called either way. Closing twice is harmless.
function pool_methods:close(timeout)
  timeout = check_timeout("close", timeout, 30)
  if in_yieldable_nginx() and not self:is_closed() then
    self:flush(timeout)
    return core_pool_close(self, 0)
  end
  return core_pool_close(self, timeout)
end

local core_poll = consumer_group_methods._poll
--- Returns the records available now, or waits up to timeout seconds (default 1) for some.
function consumer_group_methods:poll_fetches(timeout, max_records)
  timeout = check_timeout("poll_fetches", timeout, 1)
  if not in_yieldable_nginx() or timeout == 0 then
    return core_poll(self, timeout, max_records)
  end
  local deadline = now() + timeout
  local sleep = 0.001
  while true do
    local fetches, err, code = core_poll(self, 0, max_records)
    if not fetches or not fetches:is_empty() or fetches:error_count() > 0 or now() >= deadline then
      return fetches, err, code
    end
    ngx.sleep(sleep)
    if sleep < 0.05 then sleep = sleep * 2 end
  end
end

-- LuaJIT: build record tables and produce plain records through the FFI
-- (see fluxakafka/ffi_fetches.lua and fluxakafka/ffi_produce.lua).
if rawget(_G, "jit") and os.getenv("FLUXAKAFKA_NO_FFI") == nil then
  local ok, fast = pcall(require, "fluxakafka.ffi_fetches")
  if ok and fast then fast.install(core.fetches_methods) end
  local ok_produce, fast_produce = pcall(require, "fluxakafka.ffi_produce")
  if ok_produce and fast_produce then fast_produce.install(pool_methods) end
end

local Context = {}
Context.__index = Context

--- A context for schema alters and async flush, bound to this engine.
function engine_methods:new_context()
  return setmetatable({ engine = self }, Context)
end

local function check_self(self, mt, fn, what)
  if getmetatable(self) ~= mt then
    error(("%s: expected %s as self (call it with ':'), got %s"):format(fn, what, type(self)), 3)
  end
end

function Context:get_engine()
  check_self(self, Context, "get_engine", "a context")
  return self.engine
end

M.Context = Context

local function engine_of(ctx, fn)
  if type(ctx) ~= "table" or getmetatable(ctx) ~= Context then
    error(fn .. ": argument 'ctx' must be a context from engine:new_context()", 3)
  end
  return ctx.engine
end

local Alter = {}
Alter.__index = Alter

--- Performs this alter against the broker. Warnings do nothing. Returns true | nil, err, code.
function Alter:exec(ctx)
  check_self(self, Alter, "exec", "an alter")
  if ctx ~= nil then engine_of(ctx, "exec") end
  return core._exec_alter(self._handle)
end

function Alter:__tostring()
  check_self(self, Alter, "__tostring", "an alter")
  return self.description
end

--- Compares what the registry declares with the live brokers of every pool and returns the
-- list of alters (see the README's schema management section), or nil, err, code.
function M.get_kafka_alters(ctx)
  local alters, err, code = core._get_alters(engine_of(ctx, "get_kafka_alters"))
  if not alters then return nil, err, code end
  for i = 1, #alters do setmetatable(alters[i], Alter) end
  return alters
end

M._private = { core = core, Alter = Alter }

return M
