-- fluxakafka inside a real nginx (Debian's nginx with lua-nginx-module and lua-resty-core),
-- 2 workers, against the real broker. No part of ngx is mocked.
local support = require "spec-nginx.support"
local fk = require "fluxakafka"

local PORT = tonumber(os.getenv("FK_NGINX_PORT") or "18080")

local HTTP = [[
  init_by_lua_block { require("app").init() }
  init_worker_by_lua_block { require("app").init_worker() }
  server {
    listen 127.0.0.1:%d;
    location /ping { content_by_lua_block { ngx.say(ngx.worker.pid()) } }
    location /init_guard { content_by_lua_block { ngx.say(require("app").init_guard) } }
    location /result { content_by_lua_block { ngx.say(ngx.shared.results:get(ngx.var.arg_key)) } }
    location /slow_group { content_by_lua_block {
      local app = require "app"
      local t0 = ngx.now()
      local cg, err, code = app.pool("dead"):consumer_group("nginx-dead-group")
      ngx.update_time()
      ngx.say(ngx.worker.pid(), " ", tostring(cg), " ", tostring(code), " ", ngx.now() - t0)
    } }
    location /full_queue { content_by_lua_block {
      local app = require "app"
      local pool = app.pool("tiny")
      local codes = {}
      local t0 = ngx.now()
      for i = 1, 6 do
        local ok, err, code = pool:produce({ topic = "nginx-tiny", value = tostring(i) })
        codes[#codes + 1] = ok and "ok" or code
      end
      ngx.update_time()
      ngx.say(ngx.worker.pid(), " ", table.concat(codes, ","), " ", ngx.now() - t0)
    } }
    location /full_queue_log {
      content_by_lua_block { ngx.say("logged later") }
      log_by_lua_block {
        local pool = require("app").pool("tiny")
        local codes, t0 = {}, ngx.now()
        for i = 1, 6 do
          local ok, err, code = pool:produce({ topic = "nginx-tiny", value = tostring(i) })
          codes[#codes + 1] = ok and "ok" or (code .. ":" .. err)
        end
        ngx.update_time()
        ngx.shared.results:set("full_queue_log", table.concat(codes, ",") .. " " .. (ngx.now() - t0))
        local ok, err = pcall(pool.produce_sync, pool, { topic = "nginx-tiny", value = "x" })
        ngx.shared.results:set("sync_in_log", tostring(ok) .. " " .. tostring(err))
      }
    }
    location /callbacks { content_by_lua_block {
      local app = require "app"
      local pool = app.pool("events")
      local id, n = ngx.var.arg_id, tonumber(ngx.var.arg_n)
      for i = 1, n do
        assert(pool:produce({ topic = ngx.var.arg_topic, value = id .. ":" .. i }, function(rec, err)
          ngx.say("cb ", id, " ", rec.value, " ", tostring(err), " ", tostring(rec.offset ~= nil))
          if ngx.var.arg_raise == "1" and i == n then error("callback of request " .. id .. " raised") end
        end))
      end
      local ok, err = pool:flush(30)
      ngx.say("flushed ", id, " ", tostring(ok), " ", tostring(err))
    } }
    location /late_callback { content_by_lua_block {
      local pool = require("app").pool("events")
      local id = ngx.var.arg_id
      assert(pool:produce({ topic = ngx.var.arg_topic, value = id }, function(rec, err)
        ngx.shared.results:set("late:" .. id, ngx.get_phase() .. " " .. tostring(err) .. " " .. tostring(rec.offset))
      end))
      ngx.say("produced ", id)
    } }
    location /paced { content_by_lua_block {
      ngx.say(require("app").paced_run(ngx.var.arg_code, ngx.var.arg_topic, tonumber(ngx.var.arg_n)))
    } }
    location /sync_fill { content_by_lua_block {
      local pool = require("app").pool("events")
      local recs = {}
      for i = 1, 3 do recs[i] = { topic = ngx.var.arg_topic, value = tostring(i) } end
      assert(pool:produce_sync(recs[1], recs[2], recs[3]))
      for i = 1, 3 do ngx.say(recs[i].partition, " ", recs[i].offset, " ", recs[i].timestamp) end
    } }
    location /tombstones { content_by_lua_block {
      local fk = require "fluxakafka"
      local pool = require("app").pool("events")
      local topic, delivered = ngx.var.arg_topic, nil
      assert(pool:produce({ topic = topic, key = "async", value = fk.null }))
      assert(pool:produce({ topic = topic, key = "callback" }, function(rec, err)
        delivered = tostring(rec.value) .. " " .. tostring(err)
      end))
      assert(pool:produce_sync({ topic = topic, key = "sync", headers = { { key = "trace" }, { key = "a\0b", value = "" } } },
                               { topic = topic, key = "empty", value = "" }))
      assert(pool:flush(30))
      ngx.say("delivered ", delivered)
    } }
    location /consume_topic { content_by_lua_block { ngx.say(require("app").consume_topic) } }
    location /consume { content_by_lua_block {
      local count, twice, ok, err = require("app").consume(tonumber(ngx.var.arg_n), tonumber(ngx.var.arg_seconds))
      ngx.say(count, " ", twice, " ", tostring(ok), " ", tostring(err))
    } }
    location /consume_in_timer { content_by_lua_block {
      local app = require "app"
      assert(ngx.timer.at(0, function()
        local count, twice, ok = app.consume(100, 20)
        ngx.shared.results:set("timer_consume", count .. " " .. twice .. " " .. tostring(ok))
      end))
      ngx.say("started")
    } }
    location /async_sql { content_by_lua_block {
      require("app").async_sql_roundtrip(ngx.var.arg_topic, 9, ngx.var.arg_topic)
      ngx.say("flushed")
    } }
    location /async_sql_redelivery { content_by_lua_block {
      require("app").async_sql_redelivery(ngx.var.arg_topic, ngx.var.arg_topic)
      ngx.say("flushed")
    } }
    location /dead_produce { content_by_lua_block {
      local pool = require("app").pool("dead")
      assert(pool:produce({ topic = "nginx-dead", value = "x" }))
      ngx.say("ok")
    } }
  }
]]

local nginx

local function get(path)
  return support.get(PORT, path)
end

describe("fluxakafka in nginx", function()
  setup(function()
    nginx = support.start({ port = PORT, workers = 2, http = HTTP:format(PORT) })
  end)
  teardown(function()
    if nginx then nginx.stop() end
  end)

  it("builds and validates the registry in the master without starting a thread there, also across a reload", function()
    local master = nginx.pid()
    assert.are.equal(1, support.threads(master))
    local status, body = get("/init_guard")
    assert.are.equal(200, status)
    assert.matches("false", body, 1, true)
    assert.matches("not in nginx's master process", body, 1, true)
    local workers = nginx.workers()
    assert(nginx.signal("reload"))
    assert(support.wait_for(20, function()
      local now = nginx.workers()
      for _, old in ipairs(workers) do for _, new in ipairs(now) do if old == new then return false end end end
      return #now == 2
    end), "the workers were not replaced by the reload")
    assert.are.equal(1, support.threads(master))
    assert.are.equal(200, (get("/ping")))
  end)

  it("a phase that cannot yield gets an error at once instead of a blocked worker", function()
    local status, body = get("/result?key=init_worker_sync")
    assert.are.equal(200, status)
    local ok, elapsed = body:match("^(%a+) .*phase 'init_worker', which cannot yield.* ([%d.e-]+)\n$")
    assert.are.equal("false", ok, body)
    assert.is_true(tonumber(elapsed) < 0.5, body)
  end)

  it("consumer_group() against unreachable brokers waits by yielding: the worker answers meanwhile", function()
    -- the slow request and the pings run at the same time from one client: the slow one is
    -- started in a separate process so that this process can ping
    local out = os.tmpname()
    assert(support.sh(("curl -s 'http://127.0.0.1:%d/slow_group' > %s &"):format(PORT, out)))
    -- wait until the request is in its worker (its librdkafka client logs the refusal)
    assert(support.wait_for(5, function() return nginx.log():find("rdkafka#consumer", 1, true) end))
    local slowest_ping, answered_by = 0, {}
    local done = support.wait_for(10, function()
      local _, body, took = get("/ping")
      if took > slowest_ping then slowest_ping = took end
      local finished = (support.read_file(out) or "") ~= ""
      if not finished then answered_by[tonumber(body)] = true end
      return finished
    end, 0.01)
    assert(done, "the consumer_group request did not finish")
    local pid, cg, code, elapsed = support.read_file(out):match("^(%d+) (%S+) (%S+) ([%d.]+)")
    os.remove(out)
    assert.are.equal("nil", cg)
    assert.are.equal("_TRANSPORT", code)
    assert.is_true(tonumber(elapsed) >= 1.5, "the check should take the connect_timeout (2 s)")
    -- the worker that waited 2 s answered pings meanwhile, and no ping took long
    assert.is_true(answered_by[tonumber(pid)], "no ping was answered by the waiting worker " .. pid)
    assert.is_true(slowest_ping < 0.5, "a ping took " .. slowest_ping .. " s")
  end)

  it("a full local queue: a request waits by yielding up to queue_full_timeout, the log phase fails at once", function()
    local out = os.tmpname()
    assert(support.sh(("curl -s 'http://127.0.0.1:%d/full_queue' > %s &"):format(PORT, out)))
    local slowest_ping, answered_by = 0, {}
    assert(support.wait_for(10, function()
      local _, body, took = get("/ping")
      if took > slowest_ping then slowest_ping = took end
      local finished = (support.read_file(out) or "") ~= ""
      if not finished then answered_by[tonumber(body)] = true end
      return finished
    end, 0.01))
    local pid, codes, elapsed = support.read_file(out):match("^(%d+) (%S+) ([%d.]+)")
    os.remove(out)
    assert.is_true(answered_by[tonumber(pid)], "no ping was answered by the waiting worker " .. pid)
    -- 5 fit (max_buffered_records = 5), the 6th waited 1.5 s for room and then said so
    assert.are.equal("ok,ok,ok,ok,ok,_QUEUE_FULL", codes)
    assert.is_true(tonumber(elapsed) >= 1.4 and tonumber(elapsed) < 5, elapsed)
    assert.is_true(slowest_ping < 0.5, "a ping took " .. slowest_ping .. " s")

    assert.are.equal(200, (get("/full_queue_log")))
    local body
    assert(support.wait_for(5, function()
      body = select(2, get("/result?key=full_queue_log"))
      return body ~= "nil\n"
    end))
    -- the other worker may have an empty queue or the one filled above: either way, the
    -- record that does not fit fails at once and says why
    local took = tonumber(body:match(" ([%d.e-]+)\n$"))
    assert.matches("_QUEUE_FULL:.*nginx phase 'log' cannot wait for room", body)
    assert.is_true(took < 0.5, body)
    local sync = select(2, get("/result?key=sync_in_log"))
    assert.matches("^false .*produce_sync: cannot wait for acknowledgements in nginx phase 'log'", sync)
  end)

  it("a busy worker hands records to librdkafka once per nginx_batch_window: fewer, larger produce requests", function()
    local spec_support = require "spec.support"
    local paced_topic, unpaced_topic = spec_support.unique("nginx-paced"), spec_support.unique("nginx-unpaced")
    -- 500 records, one every 2 ms (about 1.2 s), in one worker, through each pool, after one
    -- that created the topic
    local function batches(code, topic)
      local status, body = get("/paced?code=" .. code .. "&n=500&topic=" .. topic)
      assert.are.equal(200, status, body)
      return tonumber(body:match("^(%d+)"))
    end
    local paced, unpaced = batches("paced", paced_topic), batches("unpaced", unpaced_topic)
    -- the default window of 100 ms allows about 13 hand-overs in that time; librdkafka's own
    -- 5 ms linger alone makes a batch every few records
    assert.is_true(paced > 0 and paced <= 40, "paced: " .. paced .. " produce batches for 500 records")
    assert.is_true(unpaced > 2 * paced, "without pacing: " .. unpaced .. " batches, paced: " .. paced)
    -- every record arrived, in order
    local got = spec_support.read_back(paced_topic, 501)
    assert.are.equal(501, #got)
    for i = 0, 500 do assert.are.equal(tostring(i), got[i + 1].value) end
  end)

  it("delivery callbacks run in the request that produced the record, and write to its response", function()
    local topic = "nginx-cb-" .. os.time() .. "-" .. math.random(100000)
    local paths = {}
    for i = 1, 20 do paths[i] = ("/callbacks?id=r%d&n=20&topic=%s"):format(i, topic) end
    local results = support.get_all(PORT, paths, 60)
    for i = 1, 20 do
      local status, body = results[i][1], results[i][2]
      assert.are.equal(200, status, body)
      local own, foreign = 0, 0
      for id, value, err, has_offset in body:gmatch("cb (%S+) (%S+) (%S+) (%S+)\n") do
        if id == "r" .. i and value:match("^r" .. i .. ":") then own = own + 1 else foreign = foreign + 1 end
        assert.are.equal("nil", err)
        assert.are.equal("true", has_offset)
      end
      assert.are.equal(20, own, body)
      assert.are.equal(0, foreign, body)
      assert.matches("flushed r" .. i .. " true nil", body, 1, true)
    end
  end)

  it("a callback that raises fails only the request that produced its record", function()
    local topic = "nginx-raise-" .. os.time() .. "-" .. math.random(100000)
    local paths = {}
    for i = 1, 10 do
      paths[i] = ("/callbacks?id=r%d&n=5&topic=%s&raise=%s"):format(i, topic, i == 1 and "1" or "0")
    end
    local results = support.get_all(PORT, paths, 60)
    assert.are.equal(500, results[1][1])
    assert.matches("callback of request r1 raised", nginx.log(), 1, true)
    for i = 2, 10 do
      assert.are.equal(200, results[i][1], results[i][2])
      assert.matches("flushed r" .. i .. " true nil", results[i][2], 1, true)
    end
  end)

  it("callbacks of a request that ended before its delivery run in the worker timer", function()
    local topic = "nginx-late-" .. os.time() .. "-" .. math.random(100000)
    local ids = {}
    for i = 1, 10 do
      ids[i] = "late" .. i .. "-" .. math.random(1000000)
      assert.are.equal(200, (get(("/late_callback?id=%s&topic=%s"):format(ids[i], topic))))
    end
    for _, id in ipairs(ids) do
      local body
      assert(support.wait_for(10, function()
        body = select(2, get("/result?key=late:" .. id))
        return body ~= "nil\n"
      end), "the callback of " .. id .. " never ran")
      assert.matches("^timer nil %d+\n$", body)
    end
  end)

  it("produce_sync fills each record's partition, offset and timestamp", function()
    local topic = "nginx-sync-" .. os.time() .. "-" .. math.random(100000)
    local status, body = get("/sync_fill?topic=" .. topic)
    assert.are.equal(200, status, body)
    local lines = {}
    for p, o, ts in body:gmatch("(%d+) (%d+) (%d+)\n") do lines[#lines + 1] = { tonumber(p), tonumber(o), tonumber(ts) } end
    assert.are.equal(3, #lines, body)
    for i = 1, 3 do
      assert.are.equal(0, lines[i][1])
      assert.are.equal(i - 1, lines[i][2])
      assert.is_true(math.abs(lines[i][3] / 1000 - os.time()) < 60)
    end
  end)

  it("null values and null header values produced in a request read back as nil", function()
    local spec_support = require "spec.support"
    local topic, group = spec_support.unique("nginx-null"), spec_support.unique("nginx-null-g")
    local status, body = get("/tombstones?topic=" .. topic)
    assert.are.equal(200, status, body)
    assert.are.equal("delivered nil nil\n", body)
    local e = spec_support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local cg = assert(e:kafka("events"):consumer_group(group))
    local got = spec_support.consume(cg, 4)
    cg:close()
    e:close()
    local by_key = {}
    for _, rec in ipairs(got) do by_key[rec.key] = rec end
    assert.are.equal(4, #got)
    assert.is_nil(by_key.async.value)
    assert.is_nil(by_key.callback.value)
    assert.is_nil(by_key.sync.value)
    assert.are.equal("", by_key.empty.value)
    assert.are.same({ { key = "trace" }, { key = "a\0b", value = "" } }, by_key.sync.headers)
  end)

  it("a consumer group in a request and in a timer reads each record once and commits without blocking", function()
    local topic = select(2, get("/consume_topic")):match("%S+")
    local spec_support = require "spec.support"
    local e, pool = spec_support.engine()
    local function produce(from, to)
      local recs = {}
      for i = from, to do recs[#recs + 1] = { topic = topic, value = "c" .. i } end
      assert.is_true(pool:produce_sync(unpack(recs)))
    end
    produce(1, 200)
    local status, body = get("/consume?n=200&seconds=20")
    assert.are.equal(200, status, body)
    assert.matches("^200 0 true nil\n$", body)
    -- 100 more, read in a timer by a new client from the committed offset on: none twice
    produce(201, 300)
    e:close()
    assert.are.equal(200, (get("/consume_in_timer")))
    local result
    assert(support.wait_for(30, function()
      result = select(2, get("/result?key=timer_consume"))
      return result ~= "nil\n"
    end))
    assert.are.equal("100 0 true\n", result)
  end)

  -- GET location for a new topic; then what the async SQL consumer timer it started stored
  local function async_sql_timer_result(location)
    local topic = "nginx-asql-" .. os.time() .. "-" .. math.random(100000)
    local status, body = get(location .. "?topic=" .. topic)
    assert.are.equal(200, status, body)
    local result
    assert(support.wait_for(30, function()
      result = select(2, get("/result?key=" .. topic))
      return result ~= "nil\n"
    end), "the consumer timer did not finish")
    return result
  end

  it("async SQL operations flushed in a request are applied by the async SQL consumer in a timer", function()
    -- 9 operations on 3 tables: one record per (pool, table)
    assert.are.equal("3\n", async_sql_timer_result("/async_sql"))
  end)

  it("the async SQL consumer in a timer delivers a transiently failed record again, with those after it", function()
    assert.are.equal("a b b c transient\n", async_sql_timer_result("/async_sql_redelivery"))
  end)

  it("librdkafka's log lines go through ngx.log with nginx's levels, never as raw stderr lines", function()
    assert.are.equal(200, (get("/dead_produce")))
    assert(support.wait_for(10, function()
      return nginx.log():find("%[error%][^\n]*fluxakafka: pool 'dead': FAIL: [^\n]*Connection refused")
    end), "no librdkafka FAIL line in error.log")
    -- the raw form the core writes to stderr when no Lua logger is installed
    assert.is_nil((nginx.log() .. nginx.stderr()):find("fluxakafka: %%%d|", 1, false))
  end)
end)

describe("fluxakafka in nginx across reloads", function()
  local RELOAD_PORT = PORT + 1
  local HTTP_RELOAD = [[
  log_format ids '$status $uri $request_id';
  access_log logs/ids.log ids;
  init_by_lua_block { require("app").init() }
  init_worker_by_lua_block { require("app").init_worker() }
  server {
    listen 127.0.0.1:%d;
    location /async { content_by_lua_block {
      local ok, err, code = require("app").pool("events"):produce({
        topic = ngx.var.arg_topic, key = ngx.var.request_id, value = ngx.var.request_id })
      if not ok then ngx.status = 503 ngx.say(err) return end
      ngx.say("ok")
    } }
  }
]]

  it("async records acknowledged during two reloads and a quit all reach the topic, once", function()
    local spec_support = require "spec.support"
    local topic = "nginx-reload-" .. os.time() .. "-" .. math.random(100000)
    local server = support.start({ port = RELOAD_PORT, workers = 2, http = HTTP_RELOAD:format(RELOAD_PORT),
                                   log_level = "notice" })
    local ids_log = server.prefix .. "/logs/ids.log"
    local function acknowledged()
      local ids = {}
      for status, uri, id in (support.read_file(ids_log) or ""):gmatch("(%d+) (%S+) (%x+)\n") do
        if status == "200" and uri == "/async" then ids[#ids + 1] = id end
      end
      return ids
    end
    local wrk_out = os.tmpname()
    assert(support.sh(("wrk -t2 -c16 -d30s 'http://127.0.0.1:%d/async?topic=%s' > %s 2>&1 &")
                      :format(RELOAD_PORT, topic, wrk_out)))
    local master = server.pid()
    for round = 1, 3 do
      local before = #acknowledged()
      assert(support.wait_for(20, function() return #acknowledged() >= before + 5000 end),
             "load did not go on before round " .. round)
      if round < 3 then assert(server.signal("reload")) else assert(server.signal("quit")) end
    end
    assert(support.wait_for(60, function() return not support.sh("kill -0 " .. master .. " 2>/dev/null") end),
           "nginx did not quit")
    support.sh("pkill -f 'wrk -t2 -c16 -d30s http://127.0.0.1:" .. RELOAD_PORT .. "' 2>/dev/null")
    local acked = acknowledged()
    assert.is_true(#acked > 15000, "only " .. #acked .. " requests were acknowledged")

    local group = "nginx-reload-reader-" .. math.random(1000000)
    local r = fk.new_registry()
    r:register_kafka(spec_support.brokers, "events")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic))
    local engine = assert(r:validate())
    local cg = assert(engine:kafka("events"):consumer_group(group))
    local got = spec_support.consume(cg, #acked, 90)
    for _, rec in ipairs(spec_support.drain(cg, 1)) do got[#got + 1] = rec end
    cg:close()
    engine:close()
    local in_topic, duplicates = {}, 0
    for _, rec in ipairs(got) do
      if in_topic[rec.value] then duplicates = duplicates + 1 end
      in_topic[rec.value] = true
    end
    local missing = 0
    for _, id in ipairs(acked) do if not in_topic[id] then missing = missing + 1 end end
    assert.are.equal(0, missing, ("%d of %d acknowledged records are not in the topic"):format(missing, #acked))
    assert.are.equal(0, duplicates)
    assert.are.equal(#acked, #got)
    assert.is_nil(server.log():find("still undelivered at worker exit", 1, true))
    os.remove(wrk_out)
  end)
end)
