--- Rebalance callbacks of consumer groups: builder:on_assign(fn) / builder:on_revoke(fn).
-- The core queues assignments and revocations while it polls; poll_fetches hands them to
-- these callbacks on the calling Lua thread. A revocation takes effect only after on_revoke
-- returned, so that the callback can still commit what was handed out.
local M = {}

local KINDS = { assign = "on_assign", revoke = "on_revoke" }

function M.install(core, registry_methods)
  local builder_methods = core.consumer_group_builder_methods
  local pool_methods = core.pool_methods
  local cg_methods = core.consumer_group_methods
  local of_builder = setmetatable({}, { __mode = "k" })    -- builder -> { assign=, revoke= }
  local of_registry = setmetatable({}, { __mode = "k" })   -- registry -> "pool\0name" -> cbs
  local of_engine = setmetatable({}, { __mode = "k" })     -- engine -> "pool\0name" -> cbs
  local of_group = setmetatable({}, { __mode = "k" })      -- consumer group -> cbs
  local serving = setmetatable({}, { __mode = "k" })       -- consumer group -> true in a callback

  for kind, method in pairs(KINDS) do
    builder_methods[method] = function(self, fn)
      if type(self) ~= "userdata" then
        error(method .. ": call it with ':' on a consumer group builder", 2)
      end
      if type(fn) ~= "function" then
        error(("%s: argument #1 'callback' must be a function(cg, partitions), got %s"):format(method, type(fn)), 2)
      end
      self:_identity()   -- raises unless self is a builder
      local cbs = of_builder[self] or {}
      of_builder[self] = cbs
      cbs[kind] = fn
      return self
    end
  end

  local core_register = registry_methods.register_kafka_consumer_group
  registry_methods.register_kafka_consumer_group = function(self, builder, ...)
    local result = { core_register(self, builder, ...) }
    local name, pool = builder:_identity()
    local by_key = of_registry[self] or {}
    of_registry[self] = by_key
    local cbs = of_builder[builder]
    by_key[pool .. "\0" .. name] = cbs and { assign = cbs.assign, revoke = cbs.revoke } or false
    return unpack(result)
  end

  local core_validate = registry_methods.validate
  registry_methods.validate = function(self, ...)
    local engine, err, code = core_validate(self, ...)
    if engine then
      local copy = {}
      for k, v in pairs(of_registry[self] or {}) do copy[k] = v end
      of_engine[engine] = copy
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
      cg:_rebalance_events(true, cbs.revoke ~= nil)
    end
  end
  for _, name in ipairs({ "consumer_group", "must_consumer_group", "_consumer_group_async" }) do
    local core_fn = pool_methods[name]
    pool_methods[name] = function(self, ...)
      local cg, err, code = core_fn(self, ...)
      if cg then attach(self, cg) end
      return cg, err, code
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

  local core_poll = cg_methods._poll
  cg_methods._poll = function(self, timeout, max_records)
    if serving[self] then
      error("poll_fetches: cannot be called from an on_assign / on_revoke callback", 2)
    end
    if not of_group[self] then return core_poll(self, timeout, max_records) end
    serve(self, false)
    local fetches, err, code = core_poll(self, timeout, max_records)
    serve(self, fetches ~= nil and not fetches:is_empty())
    return fetches, err, code
  end
end

return M
