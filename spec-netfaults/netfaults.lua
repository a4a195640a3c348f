-- Shared by the network-fault specs (make test-netfaults): toxiproxy between the pool under test
-- and the private broker of scripts/kafka-netfaults.sh, faults played by a child process
-- (driver.lua) so that a call blocking the Lua thread never delays a fault or its end, a paced
-- producer that times every call, the read-back through the broker's clean listener, and the
-- counts each scenario reports (TAP comments and a line in .test-output/netfaults.tsv).
local fk = require "fluxakafka"
local assert = require "luassert"   -- busted's, which a module does not see as a global
local support = require "spec.support"

local M = {}

M.proxy = os.getenv("FK_NETFAULTS_PROXY")         -- host:port toxiproxy listens on (advertised)
M.upstream = os.getenv("FK_NETFAULTS_UPSTREAM")   -- the broker's listener behind the proxy
M.clean = os.getenv("FK_NETFAULTS_CLEAN")         -- the broker's listener no fault touches
M.api = os.getenv("FK_TOXIPROXY_API")             -- toxiproxy's HTTP API, host:port
M.now = support.monotonic
M.RATE = tonumber(os.getenv("NETFAULTS_RATE") or "500")
-- a failure this much before its delivery timeout counts as early: none may be, librdkafka is
-- given delivery_timeout itself (its verdict comes at it or up to a second later) and
-- produce_sync gives up at it, not before
local EARLY_SLACK = 0
-- a produce or poll (no waiting asked for) that takes longer holds the Lua thread
M.ASYNC_CALL_BOUND = 0.5

-- Without the environment of make test-netfaults the spec shows as pending: true then.
function M.missing(name)
  if M.proxy and M.clean and M.api then return false end
  local spec = getfenv(2)
  spec.describe(name, function()
    spec.pending("needs FK_NETFAULTS_PROXY, FK_NETFAULTS_CLEAN and FK_TOXIPROXY_API (make test-netfaults)")
  end)
  return true
end

local call = require "spec-netfaults.toxiproxy"
local function api(method, path, body) return call(M.api, method, path, body) end

-- Toxiproxy's proxy "kafka" from the advertised address to the broker, with no toxic, enabled.
function M.reset_proxy()
  api("DELETE", "/proxies/kafka")
  local status, body = api("POST", "/proxies",
    ('{"name":"kafka","listen":"%s","upstream":"%s","enabled":true}'):format(M.proxy, M.upstream))
  assert(status == 201, "toxiproxy refused the proxy: " .. tostring(status) .. " " .. body)
end

-- The faults a schedule is made of: { at = seconds from the start, <one of these> }.
-- toxic(name, type, attributes as JSON, stream): stream "downstream" (broker to client, the
-- default) or "upstream"; untoxic(name); cut(): the proxy refuses and drops every connection;
-- heal(): it accepts again.
function M.toxic(at, name, type, attributes, stream)
  return { at = at, method = "POST", path = "/proxies/kafka/toxics",
           body = ('{"name":"%s","type":"%s","stream":"%s","toxicity":1,"attributes":%s}')
             :format(name, type, stream or "downstream", attributes) }
end
function M.untoxic(at, name)
  return { at = at, method = "DELETE", path = "/proxies/kafka/toxics/" .. name }
end
function M.cut(at) return { at = at, method = "POST", path = "/proxies/kafka", body = '{"enabled":false}' } end
function M.heal(at) return { at = at, method = "POST", path = "/proxies/kafka", body = '{"enabled":true}' } end

-- A black hole both ways: data is held and connections are never closed, new ones included.
function M.black_hole(from, to)
  return { M.toxic(from, "hole-down", "timeout", '{"timeout":0}'),
           M.toxic(from, "hole-up", "timeout", '{"timeout":0}', "upstream"),
           M.untoxic(to, "hole-down"), M.untoxic(to, "hole-up") }
end

-- One fault of a schedule, now, from this process.
function M.apply(s)
  local status, body = api(s.method, s.path, s.body)
  assert(status >= 200 and status < 300, ("toxiproxy refused %s %s: %s"):format(s.method, s.path, body))
end

-- Waits for cond() up to seconds, 20 ms between tries; returns its last value.
function M.wait_for(seconds, cond)
  local deadline = M.now() + seconds
  local v = cond()
  while not v and M.now() < deadline do
    support.sleep_ms(20)
    v = cond()
  end
  return v
end

-- Plays the schedule in a child process from now on; returns a function that waits for its
-- end and returns its log (one line per fault: seconds from the start, status, path).
function M.play(schedule)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  table.sort(schedule, function(a, b) return a.at < b.at end)
  for _, s in ipairs(schedule) do
    f:write(("%.3f\t%s\t%s\t%s\n"):format(s.at, s.method, s.path, s.body or ""))
  end
  f:close()
  local p = assert(io.popen(("luajit spec-netfaults/driver.lua %s %s"):format(M.api, file)))
  return function()
    local log = p:read("*a")
    p:close()
    os.remove(file)
    return log
  end
end

-- The fault driver's log in short: how many calls, and any toxiproxy refused (a broken schedule).
function M.driver_note(log)
  local calls, refused = 0, {}
  for status, what in log:gmatch("[%d.]+ (%S+) ([^\n]+)") do
    calls = calls + 1
    if not status:match("^20") then refused[#refused + 1] = status .. " " .. what end
  end
  assert(#refused == 0, "toxiproxy refused: " .. table.concat(refused, "; "))
  return calls .. " fault calls"
end

-- An engine with pool "proxied" (through the proxy, options as given), pool "clean" and the
-- topic (1 partition, created through the clean listener) and consumer groups of new names on
-- it (groups: { name = builder function or true }). Returns engine, proxied, clean.
function M.engine(topic, options, groups)
  local r = fk.new_registry()
  r:register_kafka({ M.proxy }, "proxied", options)
  r:register_kafka({ M.clean }, "clean")
  r:register_kafka_topic(fk.new_kafka_topic(topic, "clean"):partitions(1))
  for name, fn in pairs(groups or {}) do
    for _, pool in ipairs({ "proxied", "clean" }) do
      local b = fk.new_kafka_consumer_group(name .. "-" .. pool, pool):topics(topic):session_timeout(6)
      if type(fn) == "function" then fn(b) end
      r:register_kafka_consumer_group(b)
    end
  end
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(topic .. "-readback", "clean"):topics(topic))
  local engine = assert(r:validate())
  local ctx = engine:new_context()
  for _, a in ipairs(assert(fk.get_kafka_alters(ctx))) do
    if a.kind == "create_topic" and a.topic == topic then assert(a:exec(ctx)) end
  end
  return engine, engine:kafka("proxied"), engine:kafka("clean")
end

-- The longest single call of each kind, and how many calls.
function M.clock()
  local c = { longest = {}, calls = 0 }
  function c.time(kind, fn, ...)
    local t0 = M.now()
    local r = { fn(...) }
    local took = M.now() - t0
    c.calls = c.calls + 1
    if took > (c.longest[kind] or 0) then c.longest[kind] = took end
    return unpack(r, 1, table.maxn(r))
  end
  function c.async_longest() return math.max(c.longest.produce or 0, c.longest.poll or 0) end
  return c
end

-- Every record of the topic, read from the clean listener until the high watermark: key -> count.
function M.read_back(engine, topic)
  local clean = engine:kafka("clean")
  local _, high = assert(clean:watermarks(topic, 0))
  local cg = assert(clean:consumer_group(topic .. "-readback"))
  local seen, total, deadline = {}, 0, M.now() + 60
  while total < high and M.now() < deadline do
    for rec in assert(cg:poll_fetches(1)):iter() do
      seen[rec.key] = (seen[rec.key] or 0) + 1
      total = total + 1
    end
  end
  cg:close()
  assert(total == high, ("read %d of the topic's %d records"):format(total, high))
  return seen, total
end

-- Produces at M.RATE records per second for `duration` seconds while `schedule` plays, one
-- produce_sync a second as well when opts.sync; then flushes. Every record is keyed by a
-- sequence number, so a result is matched to what the topic holds. Returns the results:
-- { [key] = { at = produced, done = result time, err, code, persisted, callbacks, sync } },
-- the clock, the fault driver's log, the flush's seconds.
function M.run_producer(pool, topic, duration, schedule, opts)
  opts = opts or {}
  local results, clock, seq = {}, M.clock(), 0
  local function on_delivery(rec, err, code)
    local r = results[rec.key]
    r.callbacks = r.callbacks + 1
    r.done, r.err, r.code, r.persisted = M.now(), err, code, rec.persisted
  end
  local function next_record()
    seq = seq + 1
    local key = tostring(seq)
    results[key] = { at = M.now(), callbacks = 0 }
    return { topic = topic, key = key, value = topic .. "/" .. key }, results[key]
  end
  local finish = M.play(schedule)
  local started, next_sync = M.now(), 1
  while M.now() - started < duration do
    local elapsed = M.now() - started
    while seq < elapsed * M.RATE do
      local rec = next_record()
      assert(clock.time("produce", pool.produce, pool, rec, on_delivery))
    end
    if opts.sync and elapsed >= next_sync then
      next_sync = next_sync + 1
      local rec, r = next_record()
      r.sync = true
      local ok, err, code = clock.time("produce_sync", pool.produce_sync, pool, rec)
      r.callbacks, r.done, r.err, r.code, r.persisted = 1, M.now(), (not ok) and err or nil, code, rec.persisted
    end
    clock.time("poll", pool.poll, pool, 0.01)
  end
  local log = finish()
  local t0 = M.now()
  local delivery_timeout = pool:get_pool_options().delivery_timeout
  pool:flush(delivery_timeout + 15)
  return results, clock, log, M.now() - t0, started
end

-- The counts of a producer scenario. healed_at: seconds from the start after which the link
-- is well; a record produced after it must not fail.
function M.count(results, seen, delivery_timeout, started, healed_at)
  local c = { records = 0, acked = 0, failed = 0, lost = 0, dups = 0, failed_written = 0,
              failed_written_unflagged = 0, callback_anomalies = 0, early = 0, earliest_failure = nil,
              failed_after_heal = 0, slowest_ack = 0, codes = {}, persisted = {} }
  for key, r in pairs(results) do
    c.records = c.records + 1
    if r.callbacks ~= 1 then c.callback_anomalies = c.callback_anomalies + 1 end
    if r.done and not r.err then
      c.acked = c.acked + 1
      if not seen[key] then c.lost = c.lost + 1 end
      c.slowest_ack = math.max(c.slowest_ack, r.done - r.at)
    elseif r.done then
      c.failed = c.failed + 1
      c.codes[tostring(r.code)] = (c.codes[tostring(r.code)] or 0) + 1
      c.persisted[tostring(r.persisted)] = (c.persisted[tostring(r.persisted)] or 0) + 1
      if seen[key] then
        c.failed_written = c.failed_written + 1
        -- a failed record that is in the topic must say it may have been written
        if r.persisted ~= "possibly" and r.persisted ~= "yes" then
          c.failed_written_unflagged = c.failed_written_unflagged + 1
        end
      end
      local age = r.done - r.at
      if age < delivery_timeout - EARLY_SLACK then c.early = c.early + 1 end
      if not c.earliest_failure or age < c.earliest_failure then c.earliest_failure = age end
      if healed_at and r.at - started > healed_at then c.failed_after_heal = c.failed_after_heal + 1 end
    end
  end
  for _, n in pairs(seen) do if n > 1 then c.dups = c.dups + n - 1 end end
  return c
end

local function list(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  return #parts > 0 and table.concat(parts, ",") or "-"
end
M.list = list

local TSV = ".test-output/netfaults.tsv"
local COLUMNS = { "scenario", "records", "acked", "lost", "dups", "failed", "failed_written",
                  "failed_written_unflagged", "callback_anomalies", "early", "earliest_failure",
                  "failed_after_heal", "slowest_ack", "longest_async", "longest_sync", "flush_s", "codes", "persisted", "note" }

-- One line of the results table (header written when the file is new) and a TAP comment.
function M.report(row)
  local fresh = support.read_file(TSV) == ""
  local f = assert(io.open(TSV, "a"))
  if fresh then f:write(table.concat(COLUMNS, "\t"), "\n") end
  local cells = {}
  for i, col in ipairs(COLUMNS) do
    local v = row[col]
    if type(v) == "table" then v = list(v)
    elseif type(v) == "number" and v ~= math.floor(v) then v = ("%.3f"):format(v)
    elseif v == nil then v = "-" end
    cells[i] = tostring(v)
  end
  f:write(table.concat(cells, "\t"), "\n")
  f:close()
  local shown = {}
  for i, col in ipairs(COLUMNS) do shown[i] = col .. "=" .. cells[i] end
  print("# " .. table.concat(shown, " "))
end

-- A producer scenario from start to counts: engine, load under the schedule, read-back.
-- spec: { name, options, duration, schedule, healed_at, sync }. Returns the counts (with the
-- clock's longest calls filled in) and the engine's delivery_timeout.
function M.producer_scenario(spec)
  M.reset_proxy()
  local topic = support.unique("netfaults")
  local engine, proxied = M.engine(topic, spec.options)
  local delivery_timeout = proxied:get_pool_options().delivery_timeout
  local results, clock, log, flush_took, started = M.run_producer(proxied, topic, spec.duration, spec.schedule,
                                                                  { sync = spec.sync })
  M.reset_proxy()
  local seen = M.read_back(engine, topic)
  engine:close(5)
  local c = M.count(results, seen, delivery_timeout, started, spec.healed_at)
  c.scenario = spec.name
  c.longest_async, c.longest_sync = clock.async_longest(), clock.longest.produce_sync
  c.flush_s = flush_took
  c.note = M.driver_note(log)
  M.report(c)
  return c, delivery_timeout
end

-- The assertions every producer scenario shares (the promises of issue 21).
function M.assert_promises(c, opts)
  opts = opts or {}
  assert.is_true(c.acked > 0, "nothing was acknowledged")
  assert.are.equal(0, c.lost, "acknowledged records missing from the topic")
  assert.are.equal(0, c.callback_anomalies, "results not reported exactly once")
  assert.are.equal(0, c.failed_written_unflagged,
    "failed records that are in the topic without persisted = \"possibly\"")
  assert.are.equal(0, c.early, ("records failed before their delivery timeout (earliest after %s s)")
    :format(tostring(c.earliest_failure)))
  assert.are.equal(0, c.failed_after_heal, "records produced after the link healed failed")
  assert.is_true(c.longest_async < M.ASYNC_CALL_BOUND,
    ("a produce or poll(0.01) held the Lua thread %.3f s"):format(c.longest_async))
  if c.longest_sync then
    assert.is_true(c.longest_sync <= opts.delivery_timeout + 1.5,
      ("a produce_sync held the Lua thread %.3f s"):format(c.longest_sync))
  end
  if opts.no_dups then assert.are.equal(0, c.dups, "duplicated records") end
  if opts.no_failures then assert.are.equal(0, c.failed, "failed records") end
end

return M
