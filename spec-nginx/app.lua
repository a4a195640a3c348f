-- The Lua side of the nginx specs: handlers the test nginx.conf calls. Each handler uses
-- fluxakafka as an application would; results that a phase cannot print go to the shared
-- dict "results".
local fk = require "fluxakafka"

local M = {}
local brokers = {}
for b in (os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do brokers[#brokers + 1] = b end
M.brokers = brokers

local registry
local results = ngx.shared.results

local function elapsed(t0)
  ngx.update_time()
  return ngx.now() - t0
end

-- init_by_lua: the registry is built and validated in the master; what a client would need
-- is refused there.
function M.init()
  registry = fk.new_registry()
  registry:register_kafka(brokers, "events", { client_id = "nginx-spec" })
  -- nothing listens on port 1: connections are refused at once
  registry:register_kafka({ "127.0.0.1:1" }, "dead", { connect_timeout = 2, delivery_timeout = 30 })
  registry:register_kafka({ "127.0.0.1:1" }, "tiny", { max_buffered_records = 5, queue_full_timeout = 1.5 })
  registry:register_kafka_consumer_group(fk.new_kafka_consumer_group("nginx-dead-group", "dead"):topics("t"))
  -- the same pool, paced (the default nginx_batch_window) and not: each counts the produce
  -- batches librdkafka reports per topic
  registry:register_kafka(brokers, "paced", { statistics_interval = 0.1, stats_callback = M.batch_counter("paced") })
  registry:register_kafka(brokers, "unpaced", { statistics_interval = 0.1, nginx_batch_window = 0,
                                                stats_callback = M.batch_counter("unpaced") })
  -- made anew for each nginx start, so that each run reads only its own records
  M.consume_topic = ("nginx-consume-%d-%d"):format(os.time(), math.random(1000000))
  registry:register_kafka_consumer_group(fk.new_kafka_consumer_group(M.consume_topic .. "-group", "events")
    :topics(M.consume_topic))
  registry:register_async_flush("events", { topic_partitions = 1 })
  M.init_engine = assert(registry:validate())
  local ok, err = pcall(function()
    return M.init_engine:kafka("events"):produce({ topic = "nginx-master", value = "x" })
  end)
  M.init_guard = tostring(ok) .. " " .. tostring(err)
end

function M.init_worker()
  M.engine = assert(registry:validate())
  -- init_worker cannot yield: anything that waits fails at once, with a reason
  local t0 = ngx.now()
  local ok, err = pcall(M.engine.kafka(M.engine, "events").produce_sync, M.engine:kafka("events"),
                        { topic = "nginx-init-worker", value = "x" })
  results:set("init_worker_sync", tostring(ok) .. " " .. tostring(err) .. " " .. elapsed(t0))
end

function M.pool(code) return M.engine:kafka(code or "events") end

-- A stats_callback adding up, per topic, the produce batches (record sets) of each report
-- (librdkafka's batchcnt window restarts with every report), and counting the reports.
function M.batch_counter(code)
  return function(stats)
    for topic, t in pairs(stats.topics or {}) do
      if t.batchcnt and t.batchcnt.cnt and t.batchcnt.cnt > 0 then
        results:incr("batches:" .. code .. ":" .. topic, t.batchcnt.cnt, 0)
      end
    end
    results:incr("reports:" .. code, 1, 0)
  end
end

-- Produces n records to topic through pool `code`, one every 2 ms (as n requests of a busy
-- worker would), flushes, and waits for two more statistics reports; returns the number of
-- produce batches librdkafka sent for the topic. A first record, "0", waited for, creates the
-- topic: records produced while its metadata is unknown would wait and go together anyway.
function M.paced_run(code, topic, n)
  local pool = M.pool(code)
  assert(pool:produce_sync({ topic = topic, value = "0" }))
  for i = 1, n do
    assert(pool:produce({ topic = topic, value = tostring(i) }))
    ngx.sleep(0.002)
  end
  assert(pool:flush(30))
  local reports = results:get("reports:" .. code) or 0
  local deadline = ngx.now() + 10
  while (results:get("reports:" .. code) or 0) < reports + 2 and ngx.now() < deadline do ngx.sleep(0.05) end
  return results:get("batches:" .. code .. ":" .. topic) or 0
end

-- Flushes `n` SQL operations to a topic of the caller's, then applies them in a timer with the
-- async SQL consumer (a group of its own); the timer stores what it saw in results[key].
function M.async_sql_roundtrip(topic, n, key)
  local ctx = M.engine:new_context()
  local ops = {}
  for i = 1, n do
    ops[i] = { pool = "db", table = "t" .. (i % 3), queries = { { q = "INSERT INTO t VALUES (?)", p = { i } } } }
  end
  assert(ctx:flush_async(ops, { topic = topic }))
  assert(ngx.timer.at(0, function()
    local consumer = assert(ctx:get_async_sql_consumer({ topic = topic, group = topic .. "-group" }))
    local seen, deadline = 0, ngx.now() + 20
    while seen < 3 and ngx.now() < deadline do
      local handled = assert(consumer:consume(100, 0.5, function(op)
        seen = seen + 1
        return true
      end))
      ngx.update_time()
    end
    consumer:close()
    results:set(key, tostring(seen))
  end))
end

-- Flushes operations on tables a, b and c to a topic of the caller's; a timer applies them
-- with the async SQL consumer, failing b once (transient): results[key] is the order in which
-- the handler saw the records, then the kind of the failure consume returned.
function M.async_sql_redelivery(topic, key)
  local ctx = M.engine:new_context()
  local ops = {}
  for i, t in ipairs({ "a", "b", "c" }) do ops[i] = { pool = "db", table = t, queries = { { q = "SELECT " .. i } } } end
  assert(ctx:flush_async(ops, { topic = topic }))
  assert(ngx.timer.at(0, function()
    local consumer = assert(ctx:get_async_sql_consumer({ topic = topic, group = topic .. "-group" }))
    local seen, failed, kind = {}, false, nil
    local deadline = ngx.now() + 20
    while #seen < 4 and ngx.now() < deadline do
      local handled, err, k = consumer:consume(100, 0.5, function(_, rec)
        seen[#seen + 1] = rec.key
        if rec.key == "b" and not failed then
          failed = true
          return nil, "deadlock found", "transient"
        end
        return true
      end)
      if not handled then kind = k end
      ngx.update_time()
    end
    consumer:close()
    results:set(key, table.concat(seen, " ") .. " " .. tostring(kind))
  end))
end

-- Reads up to `want` records of the consume topic in a consumer group, commits, closes.
function M.consume(want, seconds)
  local cg = assert(M.pool():consumer_group(M.consume_topic .. "-group"))
  local seen, deadline = {}, ngx.now() + seconds
  local count = 0
  while count < want and ngx.now() < deadline do
    local fetches = assert(cg:poll_fetches(0.5))
    for rec in fetches:iter() do
      count = count + 1
      seen[rec.value] = (seen[rec.value] or 0) + 1
    end
    ngx.update_time()
  end
  local ok, err = cg:commit_uncommitted_offsets()
  cg:close()
  local twice = 0
  for _, n in pairs(seen) do if n > 1 then twice = twice + 1 end end
  return count, twice, ok, err
end

return M
