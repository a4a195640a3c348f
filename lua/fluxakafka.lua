--- fluxakafka: Kafka pools, producers and consumer groups for Lua, on librdkafka.
-- The work is done in C (fluxakafka.core). This file adds what is natural in Lua: the calls
-- that wait or call back into Lua, the log hook, contexts and alters. Each method is defined
-- once; what differs between environments is the strategy they call, chosen once below:
-- fluxakafka.strategy (block in C) or, inside OpenResty, fluxakafka.nginx (yield, keep
-- callbacks in their request). How a record is copied is chosen once too: LuaJIT's FFI or
-- the binding.
local core = require "fluxakafka.core"
local wait = require "fluxakafka.await"

local M = {}
for name, value in pairs(core) do
  if not name:match("_methods$") and name:sub(1, 1) ~= "_" then M[name] = value end
end
M._VERSION = core.VERSION

-- What the CLI, fluxakafka.nginx and the specs reach but programs need not see: `pairs(fk)`
-- lists only the public API; these are found through the module's metatable.
local internal = {}
setmetatable(M, { __index = internal })

local pool_methods = core.pool_methods
local engine_methods = core.engine_methods
local registry_methods = core.registry_methods
local consumer_group_methods = core.consumer_group_methods

local function check_timeout(fn, timeout, default)
  if timeout == nil then return default end
  if type(timeout) ~= "number" or timeout < 0 then
    error(fn .. ": argument 'timeout' must be a non-negative number of seconds", 3)
  end
  return timeout
end

-- Raises msg at the line of the nearest caller outside fluxakafka's own Lua files, as the
-- binding's errors do: methods call one another and tail-call the binding's primitives, so no
-- fixed level names the caller.
local function raise(msg)
  for level = 2, 64 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    local src = info.source
    local library = src:sub(1, 1) == "@" and (src:sub(-14) == "fluxakafka.lua" or src:find("/fluxakafka/[^/]*$"))
    if info.currentline > 0 and not library then
      error(info.short_src .. ":" .. info.currentline .. ": " .. msg, 0)
    end
  end
  error(msg, 0)
end
internal._raise = raise

-- Methods written in Lua check self themselves, so that pool.flush(10) says what is wrong.
local function check_self(self, fn, class)
  if type(self) ~= "userdata" then
    raise(("%s: expected a %s as self, got %s (call it with ':', as in %s:%s(...))"):format(
      fn, class, type(self), class == "kafka pool" and "pool" or "cg", fn))
  end
end
internal._check_self = check_self
internal._check_timeout = check_timeout

-- How calls wait and where callbacks run (see fluxakafka/strategy.lua), for every method.
local in_nginx = type(rawget(_G, "ngx")) == "table" and rawget(_G, "ngx").get_phase ~= nil
local S = in_nginx and require("fluxakafka.nginx").strategy(core, internal) or require("fluxakafka.strategy")
wait.set_strategy(S)
internal._strategy = S

-- ------------------------------------------------------------------ registering and validating
-- register_kafka, register_kafka_consumer_group, validate, engine:kafka and get_pool_options
-- are defined here, over the binding's primitives (the locals carry the public names: a
-- misuse error of the binding names the method the program called).
local rebalance = require "fluxakafka.rebalance"
rebalance.add_builder_methods(core.consumer_group_builder_methods)

-- The pool options that hold Lua values, or matter only to this file: taken out of the options
-- table before the C registry sees it. Each checks its value (nil: fine, else what is wrong).
local DEFAULT_QUEUE_FULL_TIMEOUT = 10
local LUA_POOL_OPTIONS = {
  { name = "stats_callback", check = rebalance.check_stats_callback },
  { name = "logger", check = function(v)
      if type(v) ~= "function" then return "must be a function(level, facility, message), got " .. type(v) end
    end },
  { name = "queue_full_timeout", check = function(v)
      if type(v) ~= "number" or v < 0 or v ~= v or v > 3600 then return "must be a number of seconds from 0 to 3600" end
    end },
}
local lua_options_of_registry = setmetatable({}, { __mode = "k" })  -- registry -> code -> opts
local lua_options_of_engine = setmetatable({}, { __mode = "k" })    -- engine -> code -> opts
local lua_options_of_pool = {}   -- pool code -> the options of the engine validated last

-- options without the ones held in Lua, and those (nil when there are none)
local function split_lua_options(options)
  if type(options) ~= "table" then return options, nil end
  local held
  for _, opt in ipairs(LUA_POOL_OPTIONS) do
    local v = options[opt.name]
    if v ~= nil then
      local problem = opt.check(v)
      if problem then error(("register_kafka: option '%s' %s"):format(opt.name, problem), 3) end
      held = held or {}
      held[opt.name] = v
    end
  end
  if not held then return options, nil end
  local rest = {}
  for k, v in pairs(options) do if held[k] == nil then rest[k] = v end end
  return rest, held
end

do
  local register_kafka = registry_methods._register_kafka
  function registry_methods:register_kafka(brokers, code, options)
    local rest, held = split_lua_options(options)
    local result = { register_kafka(self, brokers, code, rest) }
    if held then
      local by_code = lua_options_of_registry[self] or {}
      lua_options_of_registry[self] = by_code
      by_code[code] = held
    end
    return unpack(result)
  end
end

do
  local register_kafka_consumer_group = registry_methods._register_kafka_consumer_group
  function registry_methods:register_kafka_consumer_group(builder, ...)
    local result = { register_kafka_consumer_group(self, builder, ...) }
    rebalance.registered(self, builder)
    return unpack(result)
  end
end

do
  local validate = registry_methods._validate
  function registry_methods:validate()
    local engine, err, code = validate(self)
    if engine then
      local by_code = lua_options_of_registry[self] or {}
      local copy = {}
      -- the engine validated last speaks for its pool codes (log lines carry only the code)
      for _, pool_code in ipairs(engine:pool_codes()) do
        copy[pool_code] = by_code[pool_code]
        lua_options_of_pool[pool_code] = by_code[pool_code]
      end
      lua_options_of_engine[engine] = copy
      rebalance.validated(self, engine)
    end
    return engine, err, code
  end
end

--- Seconds a produce call waits for room when librdkafka's queue is full.
local function queue_full_timeout(pool)
  local opts = lua_options_of_pool[pool:get_code()]
  return opts and opts.queue_full_timeout or DEFAULT_QUEUE_FULL_TIMEOUT
end

do
  local get_pool_options = pool_methods._get_pool_options
  function pool_methods:get_pool_options()
    local options = get_pool_options(self)
    local opts = lua_options_of_pool[self:get_code()]
    options.queue_full_timeout = opts and opts.queue_full_timeout or DEFAULT_QUEUE_FULL_TIMEOUT
    options.logger = opts and opts.logger
    return options
  end
end

-- The pool's queue wait and batching are set once, when the pool object is first handed out.
do
  local kafka = engine_methods._kafka
  local configured_pools = setmetatable({}, { __mode = "k" })
  function engine_methods:kafka(code)
    local pool = kafka(self, code)
    if not configured_pools[pool] then
      configured_pools[pool] = true
      pool:_set_queue_wait(S.c_waits_for_room and queue_full_timeout(pool) or 0)
      pool:_set_staging(S.staging)
    end
    return pool
  end
end

-- a pool's statistics go to its stats_callback option
local function serve_stats(pool)
  local by_code = lua_options_of_engine[pool:_engine()]
  local opts = by_code and by_code[pool:get_code()]
  if opts and opts.stats_callback then rebalance.serve_stats(pool, opts.stats_callback) end
end

-- ------------------------------------------------------------------ logging
-- librdkafka logs from its own threads; the core queues each line (secrets masked) and the
-- binding hands them here, on the Lua thread, wherever delivery callbacks run.
local user_logger

local function log_sink(level, facility, message, pool_code)
  local opts = lua_options_of_pool[pool_code]
  local default = S.log   -- stderr; ngx.log inside nginx
  local logger = opts and opts.logger or user_logger or default
  local ok, err = pcall(logger, level, facility, message, pool_code)
  if not ok and logger ~= default then
    default(3, "LOGGER", "the fluxakafka logger raised: " .. tostring(err), pool_code)
    default(level, facility, message, pool_code)
  end
end
core._set_log_sink(log_sink)

--- Sets the function that receives librdkafka's log lines: fn(level, facility, message, pool)
-- with syslog levels (3 error, 4 warning, 6 info, 7 debug). nil restores the default
-- (stderr; ngx.log inside nginx). A pool's `logger` option takes precedence for its lines.
function M.set_logger(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("set_logger: argument #1 must be a function(level, facility, message) or nil, got " .. type(fn), 2)
  end
  user_logger = fn
end

-- ------------------------------------------------------------------ waiting calls

-- The calls that wait for the brokers: each starts a job (fluxakafka.h's fk_job, its work on
-- a thread of its own) and waits for its answer through fluxakafka.await.
local BROKERS = "wait for the brokers"
local function waiting_methods(methods, class, start, names)
  for _, fn in ipairs(names) do
    methods[fn] = function(self, ...)
      check_self(self, fn, class)
      return wait.await(fn, BROKERS, start, self, fn, ...)
    end
  end
end
waiting_methods(pool_methods, "kafka pool", pool_methods._inspect_start,
  { "watermarks", "list_topics", "list_groups", "describe_topics", "describe_groups", "group_lag",
    "offsets_for_times" })
waiting_methods(pool_methods, "kafka pool", pool_methods._read_start, { "read" })
waiting_methods(consumer_group_methods, "consumer group", consumer_group_methods._request_start,
  { "committed", "lag", "seek", "seek_to_committed" })

-- Opening a group checks the connection (a job too). A caller that yields polls the group
-- without ever blocking, so its start offset lookups go on a thread as well.
local group_start = pool_methods._consumer_group_start
local function open_group(pool, fn, name)
  local mode = wait.mode(fn, BROKERS)
  local cg, err, code = wait.job(mode, group_start(pool, fn, name, mode == "yield"))
  rebalance.attach(pool, cg)   -- its rebalance callbacks, before its first poll
  return cg, err, code
end

--- A new member of the registered group `name`: the group, or nil, err, code.
function pool_methods:consumer_group(name)
  check_self(self, "consumer_group", "kafka pool")
  return open_group(self, "consumer_group", name)
end

function pool_methods:must_consumer_group(name)
  check_self(self, "must_consumer_group", "kafka pool")
  local cg, err = open_group(self, "must_consumer_group", name)
  if not cg then raise("must_consumer_group: " .. err) end
  return cg
end

--- Leaves the group and destroys its client; fetches still alive become empty. Leaving runs
-- on a thread of its own while the caller waits, yielding inside nginx where the phase may
-- (elsewhere it waits: a group must always be closable).
local close_start = consumer_group_methods._close_start
function consumer_group_methods:close()
  check_self(self, "close", "consumer group")
  wait.finish(close_start, self)
end

--- Commits the offsets of every record poll_fetches handed out: true, or nil, err, code
-- (_TIMED_OUT once timeout seconds passed without the broker's answer; default: the pool's
-- connect_timeout).
local commit_start = consumer_group_methods._commit_start
function consumer_group_methods:commit_uncommitted_offsets(timeout)
  check_self(self, "commit_uncommitted_offsets", "consumer group")
  return wait.await("commit_uncommitted_offsets", "wait for the broker", commit_start, self, timeout)
end

-- ------------------------------------------------------------------ calls that serve and wait
-- Each method below is defined here only. Where it runs changes the strategy S (how it waits,
-- whose callbacks it runs) and how a record is copied, never the method: a wait is a table
-- made once (see fluxakafka/strategy.lua), so a call allocates nothing to wait.

-- How records are copied: under LuaJIT, plain records go to the core through the FFI and
-- fetches build their tables through it (fluxakafka/ffi_produce.lua, ffi_fetches.lua); else
-- the binding does both. Not inside nginx for produce: each request runs its handler in a
-- new coroutine, mostly interpreted, and an interpreted FFI call costs more than a C API call
-- (measured: 16 against 12 us of worker CPU per request with one produce).
local fetches_methods = core.fetches_methods
local copy_produce = pool_methods._produce
local copy_records = { iter = fetches_methods._iter, records = fetches_methods._records,
                       each_record = fetches_methods._each_record }
if rawget(_G, "jit") and os.getenv("FLUXAKAFKA_NO_FFI") == nil then
  local ok, fast = pcall(require, "fluxakafka.ffi_fetches")
  if ok and fast then copy_records = fast.copier(fetches_methods) end
  local ok_produce, fast_produce = pcall(require, "fluxakafka.ffi_produce")
  if ok_produce and fast_produce and not in_nginx then
    copy_produce = fast_produce.copier(pool_methods, core.null)
  end
end

-- (tail calls: an error of the copy names the program's line)
local copy_iter, copy_list, copy_each = copy_records.iter, copy_records.records, copy_records.each_record
--- An iterator over the records: for record in fetches:iter() do ... end
function fetches_methods:iter() return copy_iter(self) end
--- The records as a list.
function fetches_methods:records() return copy_list(self) end
--- Calls fn(record) for every record, in order.
function fetches_methods:each_record(fn) return copy_each(self, fn) end

local c_poll, c_flush, c_close = pool_methods._poll, pool_methods._flush, pool_methods._close
local produce_batch, in_flight = pool_methods._produce_batch, pool_methods.in_flight

-- Serves the pool: delivery callbacks (after waiting up to timeout in C for a first one),
-- librdkafka's log lines, its statistics. How many callbacks ran.
local function serve(pool, timeout)
  local n = c_poll(pool, timeout)
  serve_stats(pool)
  return n
end
internal._serve = serve   -- fluxakafka.nginx's worker timer

local function serve_now(pool) serve(pool, 0) end
local function none_in_flight(pool) return in_flight(pool) == 0 end

--- Records and callbacks go to the pool; a full queue is waited for as the strategy says
-- (in C for up to queue_full_timeout; yielding inside nginx). true, or nil, err, code.
function pool_methods:produce(record, callback)
  check_self(self, "produce", "kafka pool")
  local owner = S.producer(self, callback)
  local ok, err, code = copy_produce(self, record, callback, owner)
  if not ok and code == "_QUEUE_FULL" then
    ok, err, code = S.retry_full(self, owner, copy_produce, record, callback, ok, err, code)
  end
  S.produced(self, owner, ok)
  return ok, err, code
end

-- produce_sync waits on its batch: in C, by polling the pool until the batch is over.
local function await_batch(pool, _, batch)
  while batch:pending() > 0 do
    local left = batch:remaining()
    if left <= 0 then break end
    pool:poll(left < 0.1 and left or 0.1)
  end
  return batch:result()
end
local function batch_over(_, batch) return batch:pending() == 0 or batch:remaining() <= 0 end
local function batch_again(pool, records) return produce_batch(pool, unpack(records, 1, records.n)) end
local ACKNOWLEDGED = { fn = "produce_sync", what = "wait for acknowledgements", cap = 0.008,
                       block = await_batch, step = serve_now, done = batch_over, final = true }

--- Produces every record given and waits until each is acknowledged or failed. Each record
-- table gets its partition, offset and timestamp. Returns true, or nil, err, code.
-- Never waits longer than the pool's delivery timeout (then nil, err, "_MSG_TIMED_OUT").
function pool_methods:produce_sync(...)
  check_self(self, "produce_sync", "kafka pool")
  S.mode("produce_sync", ACKNOWLEDGED.what)   -- before any record is queued
  local owner = S.caller(self)
  local batch, err, code = produce_batch(self, ...)
  if not batch and code == "_QUEUE_FULL" then
    -- a rare path: the records are kept to be tried again
    batch, err, code = S.retry_full(self, owner, batch_again, { n = select("#", ...), ... }, nil, batch, err, code)
  end
  if not batch then return nil, err, code end
  return S.wait(ACKNOWLEDGED, owner, batch:remaining(), self, batch)
end

local function poll_once(pool, timeout, owner) return serve(pool, timeout) + S.run_own(owner) end
local function poll_step(pool, owner) return poll_once(pool, 0, owner) end
local function served_some(_, _, n) return n > 0 end
local SERVED = { fn = "poll", what = "wait", cap = 0.016, block = poll_once, step = poll_step, done = served_some }

--- Runs the callbacks of finished deliveries, waiting up to timeout seconds (default 0) for a
-- first one. How many ran.
function pool_methods:poll(timeout)
  check_self(self, "poll", "kafka pool")
  timeout = check_timeout("poll", timeout, 0)
  local owner = S.caller()
  return S.wait(SERVED, owner, timeout, self, owner)
end

-- a flush or close that waits by rounds hands the staged records over first (csrc/fk_stage.h)
local hand_over = pool_methods._hand_over
local function hand_over_and_serve(pool)
  hand_over(pool)
  serve(pool, 0)
end

local FLUSHED = { fn = "flush", what = "wait for deliveries", cap = 0.016,
                  block = c_flush, step = hand_over_and_serve, done = none_in_flight, final = true }

--- Waits up to timeout seconds (default 60) until every buffered record of the pool is
-- delivered or failed, running their callbacks. true, or nil, err, code on timeout.
function pool_methods:flush(timeout)
  check_self(self, "flush", "kafka pool")
  timeout = check_timeout("flush", timeout, 60)
  return S.wait(FLUSHED, S.caller(self), timeout, self)
end

local CLOSED = { fn = "close", what = "wait for deliveries", cap = 0.016, idle = none_in_flight,
                 block = c_close, step = hand_over_and_serve, done = none_in_flight, final = true }

--- Flushes for up to timeout seconds (default 30), then fails what is left: every record's
-- callback is called either way. Closing twice is harmless.
function pool_methods:close(timeout)
  check_self(self, "close", "kafka pool")
  timeout = check_timeout("close", timeout, 30)
  if self:is_closed() then return c_close(self, 0) end
  S.wait(CLOSED, S.caller(), timeout, self)
end

local c_engine_close = engine_methods._close
--- Closes every pool of the engine (each as pool:close(timeout) does; default 30 s).
function engine_methods:close(timeout)
  check_timeout("close", timeout, nil)
  if S.may_yield() then
    -- pool by pool, so that the waits yield; then the engine closes what is left at once
    local ok, codes = pcall(self.pool_codes, self)
    if ok then
      for _, code in ipairs(codes) do self:kafka(code):close(timeout) end
    end
    return c_engine_close(self, 0)
  end
  return c_engine_close(self, timeout)
end

-- Transactions wait for the transaction coordinator inside librdkafka, holding the thread:
-- the strategy refuses them where that may not happen (inside nginx).
for _, fn in ipairs({ "begin_transaction", "send_offsets_to_transaction", "commit_transaction",
                      "abort_transaction" }) do
  local c_transaction = pool_methods["_" .. fn]
  pool_methods[fn] = function(self, ...)
    check_self(self, fn, "kafka pool")
    S.hold(fn)
    return c_transaction(self, ...)
  end
end

-- the group's poll, with its on_assign / on_revoke / stats callbacks served around it
local c_fetch = rebalance.poller(consumer_group_methods._poll)
local function fetch_now(cg, max_records) return c_fetch(cg, 0, max_records) end
local function got_some(_, _, fetches)
  return not fetches or not fetches:is_empty() or fetches:error_count() > 0
end
local FETCHED = { fn = "poll_fetches", what = "wait for records", cap = 0.05,
                  block = c_fetch, step = fetch_now, done = got_some }

--- Returns the records available now, or waits up to timeout seconds (default 1) for some.
function consumer_group_methods:poll_fetches(timeout, max_records)
  check_self(self, "poll_fetches", "consumer group")
  timeout = check_timeout("poll_fetches", timeout, 1)
  return S.wait(FETCHED, nil, timeout, self, max_records)
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

-- ------------------------------------------------------------------ contexts and alters

local Context = {}
Context.__index = Context

function Context:__tostring()
  if type(self) ~= "table" then error("__tostring: expected a context as self, got " .. type(self), 2) end
  return ("fluxakafka.context (%s)"):format(tostring(self.engine))
end

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

internal.Context = Context

-- ctx:flush_async and ctx:get_async_sql_consumer (see fluxakafka/async_sql.lua)
require("fluxakafka.async_sql").install(M, core, Context)

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
  return wait.await("exec", BROKERS, core._exec_alter_start, self._handle)
end

function Alter:__tostring()
  check_self(self, Alter, "__tostring", "an alter")
  return self.description
end

--- Compares what the registry declares with the live brokers of every pool and returns the
-- list of alters (see the README's schema management section), or nil, err, code.
function M.get_kafka_alters(ctx)
  local engine = engine_of(ctx, "get_kafka_alters")
  local alters, err, code = wait.await("get_kafka_alters", BROKERS, core._get_alters_start, engine)
  if not alters then return nil, err, code end
  for i = 1, #alters do setmetatable(alters[i], Alter) end
  return alters
end

-- A value of a record for record_tostring: nil for a null (nil or fk.null), else quoted,
-- cut at 64 bytes.
local function show_bytes(v)
  if v == nil or v == core.null then return "nil" end
  v = tostring(v)
  if #v > 64 then v = v:sub(1, 64) .. ("...(%d bytes)"):format(#v) end
  return (("%q"):format(v):gsub("\\\n", "\\n"))
end

-- A header key as it is when it reads plainly, else quoted like a value (NUL bytes, spaces).
local function show_header_key(k)
  k = tostring(k)
  if k:find("^[%w_.:/-]+$") then return k end
  return show_bytes(k)
end

--- A one-line, readable form of a record table (records are plain tables, so they have no
-- __tostring of their own): topic, partition, offset, key, value (cut at 64 bytes), headers.
function M.record_tostring(rec)
  if type(rec) ~= "table" then
    error("record_tostring: argument #1 'record' must be a table, got " .. type(rec), 2)
  end
  local headers = {}
  local h = rec.headers
  if type(h) == "table" then
    if #h > 0 then
      for _, kv in ipairs(h) do headers[#headers + 1] = show_header_key(kv.key) .. "=" .. show_bytes(kv.value) end
    else
      for k, v in pairs(h) do headers[#headers + 1] = show_header_key(k) .. "=" .. show_bytes(v) end
      table.sort(headers)
    end
  end
  return ("record{topic=%s, partition=%s, offset=%s, timestamp=%s, key=%s, value=%s, headers={%s}}"):format(
    show_bytes(rec.topic), tostring(rec.partition), tostring(rec.offset), tostring(rec.timestamp),
    show_bytes(rec.key), show_bytes(rec.value), table.concat(headers, ", "))
end

--- The directory that serves lua-resty-kafka's modules (resty.kafka.producer, ...) from
-- fluxakafka when "<dir>/?.lua" comes first on lua_package_path: beside this file, in a
-- clone (lua/) as in an installed rock (share/lua/5.1/).
function M.resty_compat_path()
  local here = debug.getinfo(1, "S").source:match("^@(.*)fluxakafka%.lua$")
  if not here then error("resty_compat_path: fluxakafka was not loaded from a file", 2) end
  if here:sub(1, 1) ~= "/" then
    local cwd = os.getenv("PWD")
    if not cwd then
      local p = io.popen("pwd")
      cwd = p:read("*l")
      p:close()
    end
    here = cwd .. "/" .. here:gsub("^%./", "")
  end
  return here .. "fluxakafka/resty_compat"
end

internal._private = { core = core, Alter = Alter }

return M
