--- fluxakafka: Kafka pools, producers and consumer groups for Lua, on librdkafka.
-- The work is done in C (fluxakafka.core); this file adds the calls that must wait, so that
-- inside OpenResty they wait with ngx.sleep (yielding the worker) instead of blocking it.
local core = require "fluxakafka.core"

local M = {}
for name, value in pairs(core) do
  if not name:match("_methods$") and name:sub(1, 1) ~= "_" then M[name] = value end
end
M._VERSION = core.VERSION

-- What the CLI and the specs reach but programs need not see: `pairs(fk)` lists only the
-- public API; these are found through the module's metatable.
local internal = {}
setmetatable(M, { __index = internal })

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
internal._in_yieldable_nginx = in_yieldable_nginx

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

-- Methods written in Lua check self themselves, so that pool.flush(10) says what is wrong.
local function check_self(self, fn, class)
  if type(self) ~= "userdata" then
    error(("%s: expected a %s as self, got %s (call it with ':', as in %s:%s(...))"):format(
      fn, class, type(self), class == "kafka pool" and "pool" or "cg", fn), 3)
  end
end

--- Produces every record given and waits until each is acknowledged or failed.
-- Returns true, or nil, err, code naming the first failure.
function pool_methods:produce_sync(...)
  check_self(self, "produce_sync", "kafka pool")
  local batch, err, code = self:_produce_batch(...)
  if not batch then return nil, err, code end
  if in_yieldable_nginx() then
    local sleep = 0.001
    while batch:pending() > 0 do
      self:poll(0)
      if batch:pending() == 0 then break end
      ngx.sleep(sleep)
      if sleep < 0.016 then sleep = sleep * 2 end
    end
  else
    while batch:pending() > 0 do self:poll(0.1) end
  end
  return batch:result()
end

local core_flush = pool_methods.flush
--- Waits up to timeout seconds (default 60) until every buffered record is delivered or
-- failed; serves their callbacks. Returns true, or nil, err, code on timeout.
function pool_methods:flush(timeout)
  check_self(self, "flush", "kafka pool")
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
  check_self(self, "close", "kafka pool")
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
  check_self(self, "poll_fetches", "consumer group")
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

-- A registry is not an engine: registry:kafka(...) says to call validate() first, and
-- engine:produce_sync(...) says to take a pool first.
local function hint_on_missing(methods, hints)
  setmetatable(methods, { __index = function(_, name)
    for _, h in ipairs(hints) do
      if rawget(h.methods, name) then error(h.text:format(name, name), 2) end
    end
  end })
end
hint_on_missing(core.registry_methods, {
  { methods = engine_methods, text = "%s: this is a registry, not an engine: call registry:validate() first "
      .. "and use the engine it returns (local engine = assert(registry:validate()); engine:%s(...))" },
  { methods = pool_methods, text = "%s: this is a registry, not a pool: call registry:validate() first, "
      .. "then take a pool from the engine (assert(registry:validate()):kafka(code):%s(...))" },
})
hint_on_missing(engine_methods, {
  { methods = pool_methods, text = "%s: this is an engine, not a pool: take a pool first (engine:kafka(code):%s(...))" },
})

local Context = {}
Context.__index = Context

function Context:__tostring()
  return ("fluxakafka.context (%s)"):format(tostring(self.engine))
end

--- A context for schema alters and async flush, bound to this engine.
function engine_methods:new_context()
  return setmetatable({ engine = self }, Context)
end

function Context:get_engine()
  return self.engine
end

internal.Context = Context

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
  if ctx ~= nil then engine_of(ctx, "exec") end
  return core._exec_alter(self._handle)
end

function Alter:__tostring()
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

--- A one-line, readable form of a record table (records are plain tables, so they have no
-- __tostring of their own): topic, partition, offset, key, value (cut at 64 bytes), headers.
function M.record_tostring(rec)
  if type(rec) ~= "table" then
    error("record_tostring: argument #1 'record' must be a table, got " .. type(rec), 2)
  end
  local function show(v)
    if v == nil then return "nil" end
    v = tostring(v)
    if #v > 64 then v = v:sub(1, 64) .. ("...(%d bytes)"):format(#v) end
    return ("%q"):format(v):gsub("\\\n", "\\n")
  end
  local headers = {}
  local h = rec.headers
  if type(h) == "table" then
    if #h > 0 then
      for _, kv in ipairs(h) do headers[#headers + 1] = tostring(kv.key) .. "=" .. show(kv.value) end
    else
      for k, v in pairs(h) do headers[#headers + 1] = tostring(k) .. "=" .. show(v) end
      table.sort(headers)
    end
  end
  return ("record{topic=%s, partition=%s, offset=%s, timestamp=%s, key=%s, value=%s, headers={%s}}"):format(
    show(rec.topic), tostring(rec.partition), tostring(rec.offset), tostring(rec.timestamp),
    show(rec.key), show(rec.value), table.concat(headers, ", "))
end

internal._private = { core = core, Alter = Alter }

return M
