--- Callbacks of consumer groups and pools written in Lua: builder:on_assign(fn) /
-- builder:on_revoke(fn) (rebalances), builder:stats_callback(fn) and the pool option
-- `stats_callback` (librdkafka's statistics, decoded from JSON). install returns
-- serve_stats(pool), which hands a pool's statistics to its callback.
--
-- Rebalances:
-- The core queues assignments and revocations while it polls; poll_fetches hands them to
-- these callbacks on the calling Lua thread. A revocation takes effect only after on_revoke
-- returned, so that the callback can still commit what was handed out.
local M = {}

local KINDS = { assign = "on_assign", revoke = "on_revoke", stats = "stats_callback" }

-- librdkafka's statistics are JSON: lua-cjson when installed, else dkjson (a pure Lua
-- library that comes with busted, Debian's lua-dkjson).
local decode_json
do
  local ok, cjson = pcall(require, "cjson.safe")
  if ok and cjson then
    decode_json = cjson.decode
  else
    local ok_dk, dkjson = pcall(require, "dkjson")
    if ok_dk and dkjson then decode_json = function(text) return dkjson.decode(text) end end
  end
end

function M.install(core, registry_methods)
  local builder_methods = core.consumer_group_builder_methods
  local pool_methods = core.pool_methods
  local cg_methods = core.consumer_group_methods
  local of_builder = setmetatable({}, { __mode = "k" })    -- builder -> { assign=, revoke= }
  local of_registry = setmetatable({}, { __mode = "k" })   -- registry -> "pool\0name" -> cbs
  local of_engine = setmetatable({}, { __mode = "k" })     -- engine -> "pool\0name" -> cbs
  local of_group = setmetatable({}, { __mode = "k" })      -- consumer group -> cbs
  local serving = setmetatable({}, { __mode = "k" })       -- consumer group -> true in a callback

  local identity = builder_methods._identity
  for kind, method in pairs(KINDS) do
    builder_methods[method] = function(self, fn)
      if type(self) ~= "userdata" then
        error(method .. ": call it with ':' on a consumer group builder", 2)
      end
      -- self first (a builder, not collected), in this method's name
      local ok, err = pcall(identity, self)
      if not ok then
        error(method .. ": " .. (tostring(err):gsub("^[^\n]-:%d+: ", ""):gsub("^_identity: ", "")), 2)
      end
      if type(fn) ~= "function" then
        error(("%s: argument #1 'callback' must be a function(%s), got %s"):format(method,
          kind == "stats" and "stats" or "cg, partitions", type(fn)), 2)
      end
      if kind == "stats" and not decode_json then
        error("stats_callback: needs a JSON library (lua-cjson or dkjson)", 2)
      end
      local cbs = of_builder[self] or {}
      of_builder[self] = cbs
      cbs[kind] = fn
      return self
    end
  end

  -- the pool option stats_callback (a function) never reaches the C registry
  local pool_stats_of_registry = setmetatable({}, { __mode = "k" })   -- registry -> code -> fn
  local pool_stats_of_engine = setmetatable({}, { __mode = "k" })     -- engine -> code -> fn
  local register_kafka = registry_methods.register_kafka
  registry_methods.register_kafka = function(self, brokers, code, options, ...)
    if type(options) ~= "table" or options.stats_callback == nil then
      return register_kafka(self, brokers, code, options, ...)
    end
    local fn = options.stats_callback
    if type(fn) ~= "function" then
      error("register_kafka: option 'stats_callback' must be a function(stats), got " .. type(fn), 2)
    end
    if not decode_json then
      error("register_kafka: option 'stats_callback' needs a JSON library (lua-cjson or dkjson)", 2)
    end
    local rest = {}
    for k, v in pairs(options) do if k ~= "stats_callback" then rest[k] = v end end
    local result = { register_kafka(self, brokers, code, rest, ...) }
    local by_code = pool_stats_of_registry[self] or {}
    pool_stats_of_registry[self] = by_code
    by_code[code] = fn
    return unpack(result)
  end

  local register_kafka_consumer_group = registry_methods.register_kafka_consumer_group
  registry_methods.register_kafka_consumer_group = function(self, builder, ...)
    local result = { register_kafka_consumer_group(self, builder, ...) }
    local name, pool = builder:_identity()
    local by_key = of_registry[self] or {}
    of_registry[self] = by_key
    local cbs = of_builder[builder]
    by_key[pool .. "\0" .. name] = cbs and { assign = cbs.assign, revoke = cbs.revoke, stats = cbs.stats } or false
    return unpack(result)
  end

  local validate = registry_methods.validate
  registry_methods.validate = function(self, ...)
    local engine, err, code = validate(self, ...)
    if engine then
      local copy = {}
      for k, v in pairs(of_registry[self] or {}) do copy[k] = v end
      of_engine[engine] = copy
      local stats = {}
      for k, v in pairs(pool_stats_of_registry[self] or {}) do stats[k] = v end
      pool_stats_of_engine[engine] = stats
    end
    return engine, err, code
  end

  -- every way of making a consumer group turns the events on before its first poll
  local function attach(pool, cg)
    if not cg then return end
    local by_key = of_engine[pool:_engine()]
    local cbs = by_key and by_key[pool:get_code() .. "\0" .. cg:get_name()]
    if cbs then
      of_group[cg] = cbs
      if cbs.assign or cbs.revoke then cg:_rebalance_events(true, cbs.revoke ~= nil) end
    end
  end
  -- (the core functions are called through locals of their own names: a misuse error
  -- names the method the program called)
  local consumer_group = pool_methods.consumer_group
  pool_methods.consumer_group = function(self, ...)
    local cg, err, code = consumer_group(self, ...)
    attach(self, cg)
    return cg, err, code
  end
  local must_consumer_group = pool_methods.must_consumer_group
  pool_methods.must_consumer_group = function(self, ...)
    local cg = must_consumer_group(self, ...)
    attach(self, cg)
    return cg
  end

  -- a pool's statistics are handed to its callback by whatever serves the pool (pool:poll,
  -- and so produce_sync): serve_stats, returned by install
  local function serve_stats(pool)
    local by_code = pool_stats_of_engine[pool:_engine()]
    local fn = by_code and by_code[pool:get_code()]
    if fn and not pool:is_closed() then
      for text in function() return pool:_take_stats() end do fn(decode_json(text)) end
    end
  end

  -- Events wait in queued[cg] (oldest first). serve() runs their callbacks in order; with
  -- `hold_revoke` it stops before a revocation, which then waits for the next poll_fetches
  -- (or an empty one), so that on_revoke can commit records the application has processed
  -- meanwhile. Deferred revocations take effect once no revocation is left in the queue
  -- (also when a callback raised: the error is raised after).
  local queued = setmetatable({}, { __mode = "k" })

  local function serve(cg, hold_revoke)
    local q = queued[cg] or {}
    queued[cg] = q
    local more = cg:_rebalance_take()
    for _, ev in ipairs(more or {}) do q[#q + 1] = ev end
    if #q == 0 then return end
    local cbs = of_group[cg] or {}
    local ok, err = true, nil
    serving[cg] = true
    while q[1] and ok and not (hold_revoke and q[1].kind == "revoke") do
      local ev = table.remove(q, 1)
      local fn = cbs[ev.kind]
      if fn then ok, err = pcall(fn, cg, ev.partitions) end
    end
    serving[cg] = nil
    local revoke_left = false
    for _, ev in ipairs(q) do revoke_left = revoke_left or ev.kind == "revoke" end
    if not revoke_left then cg:_rebalance_done() end
    if not ok then error(err, 0) end
  end

  -- The poll that serves a rebalance can also hand out records. When a callback raises
  -- after that poll, its fetches wait in held[cg] and the next poll_fetches returns them
  -- before polling again: raising must not cost records whose position already moved on.
  local held = setmetatable({}, { __mode = "k" })

  local function after_poll(cg, fetches)
    serve(cg, fetches ~= nil and not fetches:is_empty())
    local on_stats = of_group[cg].stats
    if on_stats then
      for text in function() return cg:_take_stats() end do on_stats(decode_json(text)) end
    end
  end

  local _poll = cg_methods._poll
  cg_methods._poll = function(self, timeout, max_records)
    if serving[self] then
      error("poll_fetches: cannot be called from an on_assign / on_revoke callback", 2)
    end
    if not of_group[self] then return _poll(self, timeout, max_records) end
    local kept = held[self]
    if kept then
      held[self] = nil
      return kept
    end
    serve(self, false)
    local fetches, err, code = _poll(self, timeout, max_records)
    local ok, raised = pcall(after_poll, self, fetches)
    if not ok then
      if fetches and (fetches:count() > 0 or fetches:error_count() > 0) then held[self] = fetches end
      error(raised, 0)
    end
    return fetches, err, code
  end
  return serve_stats
end

return M
