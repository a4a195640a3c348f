--- fluxakafka's strategy inside OpenResty (see fluxakafka/strategy.lua for what a strategy
-- answers), chosen by fluxakafka.lua when it is loaded in nginx. The methods stay those of
-- fluxakafka.lua; this file decides how they wait and where callbacks run:
--
-- * Waiting yields. In phases that may yield (rewrite, access, content, timer, ...) every
--   wait is an ngx.sleep loop; in the others (init_worker, set, header_filter, body_filter,
--   log, balancer, ...) a call that would have to wait fails at once with an error saying
--   so. exit_worker may block: the worker is leaving and serves nobody.
-- * Callbacks stay in their request. A delivery callback runs inside a later fluxakafka call
--   of the request (or timer) that produced the record, whichever call served the delivery.
--   Callbacks whose request has ended run in this module's worker timer, protected, with
--   errors logged.
-- * One timer per worker serves deliveries, log lines and late callbacks, and when the worker
--   exits (reload, quit) it delivers what is still buffered, up to the delivery timeout.
-- * No client in the master: in init_by_lua a registry may be built and validated, but
--   producing, consuming and alters raise: librdkafka's threads would not survive the fork.
local M = {}

local ngx = ngx
local get_phase = ngx.get_phase
local sleep = ngx.sleep
local co_running, co_status = coroutine.running, coroutine.status
local pairs, pcall, type, error, tostring, next = pairs, pcall, type, error, tostring, next

local YIELDABLE = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}
local MAY_BLOCK = { exit_worker = true }
local WEAK_KEYS, WEAK_VALUES = { __mode = "k" }, { __mode = "v" }

local function now()
  ngx.update_time()
  return ngx.now()
end

local raise   -- fluxakafka.lua's: raises at the line of the caller outside fluxakafka, set by strategy()

local function not_in_master(fn)
  if get_phase() == "init" then
    raise(fn .. ": not in nginx's master process (init_by_lua): librdkafka's threads do not "
          .. "survive the fork into the workers; build and validate the registry there, but use "
          .. "pools in init_worker_by_lua, a timer or a request")
  end
end

-- Raises unless the current phase may yield; returns "yield" or "block" (exit_worker).
local function wait_mode(fn, what)
  local phase = get_phase()
  if YIELDABLE[phase] then return "yield" end
  if MAY_BLOCK[phase] then return "block" end
  not_in_master(fn)
  raise(("%s: cannot %s in nginx phase '%s', which cannot yield; call it from a request "
         .. "phase (rewrite, access, content) or a timer (ngx.timer.at)"):format(fn, what, phase))
end

-- ------------------------------------------------------------------ owners of callbacks
-- An owner is the request (or timer) whose Lua code produced records with callbacks. It is
-- found through ngx.ctx, which nginx makes anew for every request and never reuses; the
-- coroutine is kept to notice the request's end (it is dead then, or recycled by nginx's
-- thread cache into a request with another ngx.ctx).
local owners_by_ctx = setmetatable({}, WEAK_KEYS)
local owner_by_thread = setmetatable({}, WEAK_KEYS)
local waiting = {}     -- owner -> true while callbacks wait for it
local orphans = {}     -- callbacks whose request ended, run by the worker timer
local active           -- owner of the Lua code now calling into fluxakafka

local function ctx_or_nil()
  local ok, ctx = pcall(function() return ngx.ctx end)
  return ok and ctx or nil
end

local function owner_of_current(create)
  local ctx = ctx_or_nil()
  if not ctx then return nil end
  local owner = owners_by_ctx[ctx]
  if owner or not create then return owner end
  -- nil in the phases that run outside a coroutine (log, header_filter, body_filter): the
  -- request's ctx alone then tells when it is over
  local thread = co_running()
  owner = { thread = thread, ctx = setmetatable({ ctx }, WEAK_VALUES), queue = {}, ended = false }
  owners_by_ctx[ctx] = owner
  if thread then
    local previous = owner_by_thread[thread]
    if previous then previous.ended = true end   -- the thread was recycled: that request is over
    owner_by_thread[thread] = owner
  end
  return owner
end

local function has_ended(owner)
  if not owner.ended and (owner.ctx[1] == nil or (owner.thread and co_status(owner.thread) == "dead")) then
    owner.ended = true
  end
  return owner.ended
end

-- Called by the binding for each delivery of a record produced with an owner.
local function dispatch(owner, callback, record, err, code)
  if owner == active then return callback(record, err, code) end
  local item = { callback, record, err, code }
  if has_ended(owner) then
    orphans[#orphans + 1] = item
  else
    owner.queue[#owner.queue + 1] = item
    waiting[owner] = true
  end
end

-- Runs the callbacks waiting for this owner, in order. A raising callback propagates to the
-- owner's call; the rest stay queued for its next call. Returns how many ran.
local function run_own(owner)
  local queue, ran = owner.queue, 0
  while queue[1] do
    local item = table.remove(queue, 1)
    if queue[1] == nil then waiting[owner] = nil end
    ran = ran + 1
    item[1](item[2], item[3], item[4])
  end
  waiting[owner] = nil
  return ran
end

local function log_error(msg)
  ngx.log(ngx.ERR, "fluxakafka: ", msg)
end

-- ------------------------------------------------------------------ the worker timer
local tracked = setmetatable({}, WEAK_KEYS)   -- pools used in this worker
local busy = {}                               -- pools with records in flight: kept alive
local pump_running, pump_failed_reason = false, nil
local exiting_done = false
local core, fk_internal, core_in_flight

-- fluxakafka.lua's: serves a pool's deliveries, log lines and statistics
local function serve(pool, timeout) return fk_internal._serve(pool, timeout) end

-- `leaving`: the worker exits, so staged records go now; no batch window is worth waiting for
local function serve_all(leaving)
  local work = false
  for pool in pairs(tracked) do
    if pool:is_closed() then
      tracked[pool], busy[pool] = nil, nil
    else
      active = nil
      if leaving then pcall(pool._hand_over, pool) end
      local ok, err = pcall(serve, pool, 0)
      if not ok then log_error("a delivery callback raised: " .. tostring(err)) end
      if core_in_flight(pool) > 0 then
        busy[pool] = true
        work = true
      else
        busy[pool] = nil
      end
    end
  end
  for owner in pairs(waiting) do
    if has_ended(owner) then
      for _, item in ipairs(owner.queue) do orphans[#orphans + 1] = item end
      owner.queue = {}
      waiting[owner] = nil
    end
  end
  -- a callback may produce and so queue more: those run in the next round
  while orphans[1] do
    local list = orphans
    orphans = {}
    for _, item in ipairs(list) do
      local ok, err = pcall(item[1], item[2], item[3], item[4])
      if not ok then log_error("a delivery callback of an ended request raised: " .. tostring(err)) end
    end
  end
  core._serve_logs()
  return work or next(waiting) ~= nil
end

local function delivery_timeout_of(pool)
  local t = pool:get_pool_options().delivery_timeout
  return (t and t > 0) and t or 30
end

-- The worker is exiting (reload, quit): deliver what is buffered, up to the delivery timeout,
-- and keep serving a little while after the last record, for requests still finishing.
local function drain_for_exit()
  local deadline, quiet_since = now(), nil
  for pool in pairs(tracked) do
    deadline = math.max(deadline, now() + delivery_timeout_of(pool) + 1)
    -- a forgotten engine collected from now on drains as long as a record may take
    local engine = pool:_engine()
    pcall(engine._set_gc_close_timeout, engine, delivery_timeout_of(pool))
  end
  while now() < deadline do
    local work = serve_all(true)
    if work or orphans[1] then
      quiet_since = nil
    else
      quiet_since = quiet_since or now()
      if now() - quiet_since >= 0.5 then break end
    end
    sleep(0.005)
  end
  exiting_done = true
  for pool in pairs(tracked) do
    if core_in_flight(pool) > 0 then
      log_error(("pool '%s': %d records still undelivered at worker exit"):format(pool:get_code(), core_in_flight(pool)))
    end
  end
end

local function pump(premature)
  if premature then
    drain_for_exit()
    pump_running = false
    return
  end
  while true do
    local ok, work = pcall(serve_all)
    if not ok then log_error("worker timer: " .. tostring(work)) end
    if ngx.worker.exiting() then
      drain_for_exit()
      pump_running = false
      return
    end
    sleep((next(waiting) or orphans[1]) and 0.002 or 0.02)
  end
end

local function ensure_pump()
  if pump_running then return true end
  local ok, err = ngx.timer.at(0, pump)
  if ok then
    pump_running = true
    return true
  end
  if err ~= pump_failed_reason then
    pump_failed_reason = err
    log_error("cannot start the worker timer that serves deliveries: " .. tostring(err))
  end
  return false
end

local function track(pool)
  if not tracked[pool] then tracked[pool] = true end
  if not pump_running then ensure_pump() end
end

-- ------------------------------------------------------------------ the strategy
local S = {}

-- Rounds of w.step, yielding between them (1 ms, nginx's timer resolution, doubled up to
-- w.cap), until w.done or the deadline; the last round's answer.
local function rounds(w, owner, deadline, self, a)
  local step = 0.001
  while true do
    active = owner
    local r1, r2, r3 = w.step(self, a, owner)
    if owner and owner.queue[1] then run_own(owner) end
    if w.done(self, a, r1) or now() >= deadline then return r1, r2, r3 end
    sleep(step)
    if step < w.cap then step = step * 2 end
  end
end

local DRAINED = { cap = 0.016, step = function(pool) serve(pool, 0) end,
                  done = function(pool) return core_in_flight(pool) == 0 end }

S.mode = wait_mode
function S.may_yield() return YIELDABLE[get_phase()] == true end

-- a job's wait: rounds between sleeps when the mode yields (the job's work is bounded)
function S.run(w, mode, self, a)
  if mode == "yield" then return rounds(w, nil, math.huge, self, a) end
  return w.block(self, nil, a)
end

-- produce's C call fails at once with _QUEUE_FULL; retry_full waits for room, yielding
S.c_waits_for_room = false

-- records are handed to librdkafka at most once per nginx_batch_window, by produce or by the
-- worker timer's serving; no thread of the pool, which would wake for every few requests
S.staging = "paced"

-- The owner of the calling code's callbacks, made active: callbacks it gets while its call
-- serves the pool run at once. `pool`: a pool whose waits the worker timer should serve too.
function S.caller(pool)
  if pool then track(pool) end
  local owner = owner_of_current(false)
  active = owner
  return owner
end

-- Without a callback the owner is looked up only while some request has callbacks waiting,
-- so that plain records cost no ngx.ctx lookup.
function S.producer(pool, callback)
  if get_phase() == "init" then not_in_master("produce") end
  track(pool)
  local owner
  if callback ~= nil then
    owner = owner_of_current(true)
  elseif next(waiting) ~= nil then
    owner = owner_of_current(false)
  end
  active = owner
  return owner
end

function S.run_own(owner)
  if owner and owner.queue[1] then return run_own(owner) end
  return 0
end

-- The callbacks of other calls that served this request's deliveries run now; and once the
-- worker timer delivered the rest at exit and ended, a request waits for its own records.
function S.produced(pool, owner, ok)
  if owner and owner.queue[1] then run_own(owner) end
  if ok and exiting_done and YIELDABLE[get_phase()] then rounds(DRAINED, owner, now() + 30, pool) end
end

-- Yields where the phase may (see wait_mode); a call with nothing to wait for (timeout 0,
-- w.idle) does not wait, so it works in every phase.
function S.wait(w, owner, timeout, self, a)
  if timeout > 0 and not (w.idle and w.idle(self)) then
    if wait_mode(w.fn, w.what) == "yield" then
      local r1, r2, r3 = rounds(w, owner, now() + timeout, self, a)
      if not w.final then return r1, r2, r3 end
      timeout = 0
    end
  end
  active = owner
  local r1, r2, r3 = w.block(self, timeout, a)
  if owner and owner.queue[1] then run_own(owner) end
  return r1, r2, r3
end

-- Calls attempt again, yielding, until the queue has room or the pool's queue_full_timeout
-- passed. A batch some of whose records were queued before the queue filled ("already
-- queued") is never retried: that would send those records twice.
function S.retry_full(pool, owner, attempt, a, b, ok, err, code)
  local phase = get_phase()
  if not YIELDABLE[phase] then
    return ok, err .. " (nginx phase '" .. phase .. "' cannot wait for room)", code
  end
  local deadline = now() + pool:get_pool_options().queue_full_timeout
  local step = 0.001
  while not ok and code == "_QUEUE_FULL" and not err:find("already queued", 1, true)
        and now() < deadline do
    sleep(step)
    if step < 0.016 then step = step * 2 end
    active = owner
    ok, err, code = attempt(pool, a, b, owner)
  end
  return ok, err, code
end

-- Transactions wait for the transaction coordinator inside librdkafka, in calls that would
-- hold the worker: refused (exit_worker may block, so an abort there is allowed).
function S.hold(fn)
  if get_phase() == "exit_worker" then return end
  raise(fn .. ": transactions are not available inside nginx (librdkafka waits for the "
    .. "transaction coordinator without yielding, which would hold the worker); run "
    .. "exactly-once pipelines in a process of their own")
end

local LEVELS = { [0] = ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG }
function S.log(level, facility, message, pool_code)
  ngx.log(LEVELS[level] or ngx.NOTICE, "fluxakafka: ",
          pool_code ~= "" and ("pool '" .. tostring(pool_code) .. "': ") or "", facility, ": ", message)
end

-- For the curious (fk's internal _strategy): how many request owners are known, whether the
-- worker timer runs.
function S.owner_count()
  local n = 0
  for _ in pairs(owners_by_ctx) do n = n + 1 end
  return n
end
function S.pump_running() return pump_running end

--- The strategy, for fluxakafka.lua: core is the binding, internal fluxakafka's internals
-- (_raise, and _serve, which it sets once the methods are defined).
function M.strategy(core_module, internal)
  core, fk_internal, raise = core_module, internal, internal._raise
  core_in_flight = core.pool_methods.in_flight
  core._set_dispatcher(dispatch)
  return S
end

return M
