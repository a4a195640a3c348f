--- fluxakafka inside OpenResty. Installed by fluxakafka.lua when it is loaded in nginx.
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

local check_timeout   -- fluxakafka.lua's, set by install

-- A sleep that starts at 1 ms (nginx's timer resolution) and doubles up to cap seconds.
local function backoff(cap)
  local step = 0.001
  return function()
    sleep(step)
    if step < cap then step = step * 2 end
  end
end

local raise   -- fluxakafka.lua's: raises at the line of the caller outside fluxakafka, set by install

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
  local thread = co_running()
  owner = { thread = thread, ctx = setmetatable({ ctx }, WEAK_VALUES), queue = {}, ended = false }
  owners_by_ctx[ctx] = owner
  local previous = owner_by_thread[thread]
  if previous then previous.ended = true end   -- the thread was recycled: that request is over
  owner_by_thread[thread] = owner
  return owner
end

local function has_ended(owner)
  if not owner.ended and (owner.ctx[1] == nil or co_status(owner.thread) == "dead") then
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
local core, fk
local core_poll, core_close, core_flush, core_engine_close, core_in_flight

local function serve_all()
  local work = false
  for pool in pairs(tracked) do
    if pool:is_closed() then
      tracked[pool], busy[pool] = nil, nil
    else
      active = nil
      local ok, err = pcall(core_poll, pool, 0)
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
    local work = serve_all()
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
    sleep(work and 0.002 or 0.02)
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

-- ------------------------------------------------------------------ the waiting calls

-- Waits (yielding) until done() or the deadline; serves the pool meanwhile.
local function wait_until(pool, owner, deadline, done)
  local pause = backoff(0.016)
  while not done() do
    if now() >= deadline then return false end
    pause()
    active = owner
    core_poll(pool, 0)
    if owner and owner.queue[1] then run_own(owner) end
  end
  return true
end

function M.install(fk_module, core_module, internal)
  fk, core = fk_module, core_module
  check_timeout = internal._check_timeout
  raise = internal._raise
  local pool_methods = core.pool_methods
  local engine_methods = core.engine_methods
  local consumer_group_methods = core.consumer_group_methods
  core_poll = pool_methods.poll
  core_close = pool_methods.close
  core_flush = pool_methods.flush
  core_in_flight = pool_methods.in_flight
  core_engine_close = engine_methods.close
  local c_produce = pool_methods.produce
  local produce_batch = pool_methods._produce_batch
  local core_fetch = consumer_group_methods.poll_fetches

  core._set_dispatcher(dispatch)
  -- the calls that wait for the brokers (fluxakafka.await) yield where the phase may
  require("fluxakafka.await").set_strategy({
    mode = wait_mode,
    may_yield = function() return YIELDABLE[get_phase()] == true end,
    sleep = sleep,
  })

  local LEVELS = { [0] = ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG }
  internal._default_logger = function(level, facility, message, pool_code)
    ngx.log(LEVELS[level] or ngx.NOTICE, "fluxakafka: ",
            pool_code ~= "" and ("pool '" .. tostring(pool_code) .. "': ") or "", facility, ": ", message)
  end

  local function queue_full_timeout(pool)
    return pool:get_pool_options().queue_full_timeout
  end

  -- After attempt() failed with a full local queue: calls it again, yielding, until it no
  -- longer does or the pool's queue_full_timeout passed. A batch some of whose records were
  -- queued before the queue filled ("already queued") is never retried: that would send
  -- those records twice.
  local function retry_while_full(pool, owner, attempt, ok, err, code)
    local deadline = now() + queue_full_timeout(pool)
    local pause = backoff(0.016)
    while not ok and code == "_QUEUE_FULL" and not err:find("already queued", 1, true)
          and now() < deadline do
      pause()
      active = owner
      ok, err, code = attempt()
    end
    return ok, err, code
  end

  --- produce(record, callback): never blocks the worker. A full queue is waited for by
  -- yielding, up to the pool's queue_full_timeout, where the phase may yield; elsewhere it
  -- fails at once with _QUEUE_FULL.
  local check_self = internal._check_self

  function pool_methods:produce(record, callback)
    check_self(self, "produce", "kafka pool")
    local phase = get_phase()
    if phase == "init" then not_in_master("produce") end
    track(self)
    -- without a callback the owner is looked up only while some request has callbacks
    -- waiting, so that plain records cost no ngx.ctx lookup
    local owner
    if callback ~= nil then
      owner = owner_of_current(true)
    elseif next(waiting) ~= nil then
      owner = owner_of_current(false)
    end
    active = owner
    local ok, err, code = c_produce(self, record, callback, owner)
    if not ok and code == "_QUEUE_FULL" then
      if YIELDABLE[phase] then
        ok, err, code = retry_while_full(self, owner, function()
          return c_produce(self, record, callback, owner)
        end, ok, err, code)
      else
        err = err .. " (nginx phase '" .. phase .. "' cannot wait for room)"
      end
    end
    if owner and owner.queue[1] then run_own(owner) end
    if ok and exiting_done and YIELDABLE[phase] then
      -- the worker timer already delivered the rest and ended: this request waits for its own
      wait_until(self, owner, now() + 30, function() return core_in_flight(self) == 0 end)
    end
    return ok, err, code
  end

  function pool_methods:produce_sync(...)
    check_self(self, "produce_sync", "kafka pool")
    local mode = wait_mode("produce_sync", "wait for acknowledgements")
    if mode == "block" then
      local batch, err, code = produce_batch(self, ...)
      if not batch then return nil, err, code end
      while batch:pending() > 0 and batch:remaining() > 0 do core_poll(self, 0.1) end
      return batch:result()
    end
    track(self)
    local owner = owner_of_current(false)
    active = owner
    local batch, err, code = produce_batch(self, ...)
    if not batch and code == "_QUEUE_FULL" then
      local records, n = { ... }, select("#", ...)
      batch, err, code = retry_while_full(self, owner, function()
        return produce_batch(self, unpack(records, 1, n))
      end, batch, err, code)
    end
    if not batch then return nil, err, code end
    local pause = backoff(0.008)
    while batch:pending() > 0 and batch:remaining() > 0 do
      active = owner
      core_poll(self, 0)
      if batch:pending() == 0 then break end
      pause()
    end
    if owner and owner.queue[1] then run_own(owner) end
    return batch:result()
  end

  function pool_methods:poll(timeout)
    check_self(self, "poll", "kafka pool")
    local owner = owner_of_current(false)
    active = owner
    if timeout == nil or timeout == 0 then
      local n = core_poll(self, 0)
      if owner and owner.queue[1] then n = n + run_own(owner) end
      return n
    end
    local mode = wait_mode("poll", "wait")
    if mode == "block" then return core_poll(self, timeout) end
    local deadline = now() + timeout
    local n = core_poll(self, 0)
    if owner and owner.queue[1] then n = n + run_own(owner) end
    local pause = backoff(0.016)
    while n == 0 and now() < deadline do
      pause()
      active = owner
      n = core_poll(self, 0)
      if owner and owner.queue[1] then n = n + run_own(owner) end
    end
    return n
  end

  --- flush(timeout): yields until every buffered record of the pool is delivered or failed,
  -- then runs this request's callbacks. Returns true, or nil, err, code on timeout.
  function pool_methods:flush(timeout)
    check_self(self, "flush", "kafka pool")
    timeout = check_timeout("flush", timeout, 60)
    local owner = owner_of_current(false)
    if timeout > 0 then
      local mode = wait_mode("flush", "wait for deliveries")
      if mode == "block" then return core_flush(self, timeout) end
      track(self)
      wait_until(self, owner, now() + timeout, function()
        return core_in_flight(self) == 0 and not (owner and owner.queue[1])
      end)
    end
    active = owner
    local ok, err, code = core_flush(self, 0)
    if owner and owner.queue[1] then run_own(owner) end
    return ok, err, code
  end

  --- close(timeout): flushes (yielding) for up to timeout seconds (default 30), then fails
  -- what is left, so every callback is called.
  function pool_methods:close(timeout)
    check_self(self, "close", "kafka pool")
    timeout = check_timeout("close", timeout, 30)
    if self:is_closed() then return core_close(self, 0) end
    local owner = owner_of_current(false)
    if timeout > 0 and core_in_flight(self) > 0 then
      local mode = wait_mode("close", "wait for deliveries")
      if mode == "block" then return core_close(self, timeout) end
      wait_until(self, owner, now() + timeout, function() return core_in_flight(self) == 0 end)
    end
    active = owner
    core_close(self, 0)
    if owner and owner.queue[1] then run_own(owner) end
  end

  function engine_methods:close(timeout)
    check_timeout("close", timeout, nil)
    local phase = get_phase()
    if YIELDABLE[phase] then
      local ok, codes = pcall(self.pool_codes, self)
      if ok then
        for _, code in ipairs(codes) do self:kafka(code):close(timeout) end
      end
      return core_engine_close(self, 0)
    end
    return core_engine_close(self, timeout)
  end

  local core_fetch_poll = consumer_group_methods._poll
  function consumer_group_methods:poll_fetches(timeout, max_records)
    check_self(self, "poll_fetches", "consumer group")
    timeout = check_timeout("poll_fetches", timeout, 1)
    if timeout == 0 then return core_fetch_poll(self, 0, max_records) end
    local mode = wait_mode("poll_fetches", "wait for records")
    if mode == "block" then return core_fetch(self, timeout, max_records) end
    local deadline = now() + timeout
    local pause = backoff(0.05)
    while true do
      local fetches, err, code = core_fetch_poll(self, 0, max_records)
      if not fetches or not fetches:is_empty() or fetches:error_count() > 0 or now() >= deadline then
        return fetches, err, code
      end
      pause()
    end
  end

  -- Transactions wait for the transaction coordinator inside librdkafka, in calls that would
  -- hold the worker: refused here (exit_worker may block, so an abort there is allowed).
  for _, fn in ipairs({ "begin_transaction", "send_offsets_to_transaction", "commit_transaction",
                        "abort_transaction" }) do
    local core_fn = pool_methods[fn]
    pool_methods[fn] = function(self, ...)
      check_self(self, fn, "kafka pool")
      if get_phase() == "exit_worker" then return core_fn(self, ...) end
      error(fn .. ": transactions are not available inside nginx (librdkafka waits for the "
        .. "transaction coordinator without yielding, which would hold the worker); run "
        .. "exactly-once pipelines in a process of their own", 2)
    end
  end

  return {
    owner_count = function()
      local n = 0
      for _ in pairs(owners_by_ctx) do n = n + 1 end
      return n
    end,
    pump_running = function() return pump_running end,
  }
end

return M
