--- Callbacks of consumer groups and pools written in Lua: builder:on_assign(fn) /
-- builder:on_revoke(fn) (rebalances), builder:stats_callback(fn) and the pool option
-- `stats_callback` (librdkafka's statistics, decoded from JSON). fluxakafka.lua's methods call
-- these functions; none of them redefines a method.
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

-- The stats_callback pool option: nil when fn is fine, else what is wrong with it.
function M.check_stats_callback(fn)
  if type(fn) ~= "function" then return "must be a function(stats), got " .. type(fn) end
  if not decode_json then return "needs a JSON library (lua-cjson or dkjson)" end
end

local of_builder = setmetatable({}, { __mode = "k" })    -- builder -> { assign=, revoke=, stats= }
local of_registry = setmetatable({}, { __mode = "k" })   -- registry -> "pool\0name" -> cbs
local of_engine = setmetatable({}, { __mode = "k" })     -- engine -> "pool\0name" -> cbs
local of_group = setmetatable({}, { __mode = "k" })      -- consumer group -> cbs
local serving = setmetatable({}, { __mode = "k" })       -- consumer group -> true in a callback

--- builder:on_assign(fn), builder:on_revoke(fn), builder:stats_callback(fn)
function M.add_builder_methods(builder_methods)
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
end

--- A builder was registered: its callbacks belong to the registry's group of its name.
function M.registered(registry, builder)
  local name, pool = builder:_identity()
  local by_key = of_registry[registry] or {}
  of_registry[registry] = by_key
  local cbs = of_builder[builder]
  by_key[pool .. "\0" .. name] = cbs and { assign = cbs.assign, revoke = cbs.revoke, stats = cbs.stats } or false
end

--- The registry was validated into engine: the engine keeps the callbacks as they are now.
function M.validated(registry, engine)
  local copy = {}
  for k, v in pairs(of_registry[registry] or {}) do copy[k] = v end
  of_engine[engine] = copy
end

--- A new member of a group of pool: its events are turned on before its first poll.
function M.attach(pool, cg)
  if not cg then return end
  local by_key = of_engine[pool:_engine()]
  local cbs = by_key and by_key[pool:get_code() .. "\0" .. cg:get_name()]
  if cbs then
    of_group[cg] = cbs
    if cbs.assign or cbs.revoke then cg:_rebalance_events(true, cbs.revoke ~= nil) end
  end
end

--- Hands a pool's statistics to fn (the pool's stats_callback option).
function M.serve_stats(pool, fn)
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

--- The poll of a group, with its callbacks served around c_poll (the binding's _poll).
function M.poller(c_poll)
  return function(cg, timeout, max_records)
    if serving[cg] then
      error("poll_fetches: cannot be called from an on_assign / on_revoke callback", 2)
    end
    if not of_group[cg] then return c_poll(cg, timeout, max_records) end
    local kept = held[cg]
    if kept then
      held[cg] = nil
      return kept
    end
    serve(cg, false)
    local fetches, err, code = c_poll(cg, timeout, max_records)
    local ok, raised = pcall(after_poll, cg, fetches)
    if not ok then
      if fetches and (fetches:count() > 0 or fetches:error_count() > 0) then held[cg] = fetches end
      error(raised, 0)
    end
    return fetches, err, code
  end
end

return M
