-- Client control inside a real nginx (1 worker): the inspection calls, seeks and schema
-- alters, which librdkafka answers only synchronously, run on a C thread while the request
-- yields, so the worker keeps answering.
local support = require "spec-nginx.support"

local PORT = tonumber(os.getenv("FK_NGINX_CONTROL_PORT") or "18091")

local HTTP = [[
  server {
    listen 127.0.0.1:%d;
    location /ping { content_by_lua_block { ngx.say("pong") } }
    location /inspect { content_by_lua_block {
      local topic, group = ngx.var.arg_topic, ngx.var.arg_group
      local engine, pool = require("control_app").group_engine(topic, group)
      assert(pool:produce_sync({ topic = topic, value = "a" }, { topic = topic, value = "b" }))
      local low, high = pool:watermarks(topic, 0)
      local listed = false
      for _, t in ipairs(assert(pool:list_topics())) do listed = listed or t.name == topic end
      assert(pool:list_groups())
      local cg = assert(pool:consumer_group(group))
      local got, deadline = 0, ngx.now() + 20
      while got < 2 and ngx.now() < deadline do got = got + #assert(cg:poll_fetches(0.2)):records() end
      assert(cg:commit_uncommitted_offsets())
      local lag = assert(cg:lag())
      local committed = assert(cg:committed())
      ngx.say(low, " ", high, " ", tostring(listed), " ", got, " ", lag[1].committed, " ", lag[1].lag, " ", committed[1].offset)
      cg:close()
      engine:close()
    } }
    location /seek { content_by_lua_block {
      local topic, group = ngx.var.arg_topic, ngx.var.arg_group
      local engine, pool = require("control_app").group_engine(topic, group)
      assert(pool:produce_sync({ topic = topic, value = "a" }, { topic = topic, value = "b" }, { topic = topic, value = "c" }))
      local cg = assert(pool:consumer_group(group))
      local function read(n)
        local values, deadline = {}, ngx.now() + 20
        while #values < n and ngx.now() < deadline do
          for rec in assert(cg:poll_fetches(0.2)):iter() do values[#values + 1] = rec.value end
        end
        return table.concat(values)
      end
      local first = read(3)
      assert(cg:seek(topic, 0, 1))
      local after_seek = read(2)
      -- nothing committed yet: back to where the group starts (earliest)
      assert(cg:seek_to_committed())
      local after_rewind = read(3)
      local ok, err = cg:seek(topic, 7, 0)   -- not assigned to this member
      ngx.say(first, " ", after_seek, " ", after_rewind, " ", tostring(ok), " ", tostring(err ~= nil))
      cg:close()
      engine:close()
    } }
    location /seek_in_log_phase {
      content_by_lua_block {
        local topic, group = ngx.var.arg_topic, ngx.var.arg_group
        local engine, pool = require("control_app").group_engine(topic, group)
        ngx.ctx.engine = engine
        ngx.ctx.cg = assert(pool:consumer_group(group))
        ngx.say("x")
      }
      log_by_lua_block {
        local cg, engine = ngx.ctx.cg, ngx.ctx.engine
        local ok, err = pcall(cg.seek, cg, ngx.var.arg_topic, 0, 0)
        local ok2, err2 = pcall(cg.seek_to_committed, cg)
        ngx.log(ngx.ERR, "SEEKLOG ", tostring(ok), " ", tostring(err), " | ", tostring(ok2), " ", tostring(err2))
        ngx.timer.at(0, function() cg:close() engine:close() end)
      } }
    location /dead_watermarks { content_by_lua_block {
      local fk = require "fluxakafka"
      local r = fk.new_registry()
      r:register_kafka({ "SILENT_BROKER" }, "dead", { connect_timeout = 2 })
      local pool = assert(r:validate()):kafka("dead")
      local t0 = ngx.now()
      local ok, err, code = pool:watermarks("t", 0)
      ngx.update_time()
      ngx.say(tostring(ok), " ", tostring(code), " ", ngx.now() - t0)
    } }
    location /close { content_by_lua_block {
      local topic, group = ngx.var.arg_topic, ngx.var.arg_group
      local engine, pool = require("control_app").group_engine(topic, group)
      assert(pool:produce_sync({ topic = topic, value = "a" }))
      local cg = assert(pool:consumer_group(group))
      local got, deadline = 0, ngx.now() + 20
      while got < 1 and ngx.now() < deadline do got = got + #assert(cg:poll_fetches(0.2)):records() end
      -- a light thread that runs whenever this one yields: it runs once before close, then
      -- again only if close yields while the group is left
      local ticks, closing = 0, true
      local ticker = ngx.thread.spawn(function()
        while closing do
          ticks = ticks + 1
          ngx.sleep(0.001)
        end
      end)
      cg:close()
      closing = false
      ngx.thread.wait(ticker)
      local ok, err = pcall(cg.poll_fetches, cg, 0)
      ngx.say(got, " ", tostring(ticks > 1), " ", tostring(cg:is_closed()), " ", tostring(ok), " ",
              tostring(err):match("is closed") or tostring(err))
      engine:close()
    } }
    location /start_timestamp { content_by_lua_block {
      local topic, group = ngx.var.arg_topic, ngx.var.arg_group
      local hour, now_ms = 3600 * 1000, ngx.time() * 1000
      local engine, pool = require("control_app").group_engine(topic, group, now_ms - 2.5 * hour)
      assert(pool:produce_sync({ topic = topic, value = "3h", timestamp = now_ms - 3 * hour },
        { topic = topic, value = "2h", timestamp = now_ms - 2 * hour },
        { topic = topic, value = "1h", timestamp = now_ms - hour }))
      local cg = assert(pool:consumer_group(group))
      local values, deadline = {}, ngx.now() + 20
      while #values < 2 and ngx.now() < deadline do
        for rec in assert(cg:poll_fetches(0.2)):iter() do values[#values + 1] = rec.value end
      end
      ngx.say(table.concat(values, " "))
      cg:close()
      engine:close()
    } }
    location /alters { content_by_lua_block {
      local fk = require "fluxakafka"
      local topic = ngx.var.arg_topic
      local engine, pool = require("control_app").topic_engine(topic, 3)
      local ctx = engine:new_context()
      local function ours()
        local list = {}
        for _, alter in ipairs(assert(fk.get_kafka_alters(ctx))) do
          if alter.topic == topic then list[#list + 1] = alter end
        end
        return list
      end
      local before = ours()
      for _, alter in ipairs(before) do assert(alter:exec(ctx)) end
      local after = ours()
      local rec = { topic = topic, partition = 2, value = "x" }   -- the last declared partition
      assert(pool:produce_sync(rec))
      ngx.say(#before, " ", before[1].kind, " ", #after, " ", rec.partition, " ", rec.offset)
      engine:close()
    } }
    location /dead_alters { content_by_lua_block {
      local fk = require "fluxakafka"
      local r = fk.new_registry()
      r:register_kafka({ "SILENT_BROKER" }, "dead", { connect_timeout = 2 })
      r:register_kafka_topic(fk.new_kafka_topic("t", "dead"))
      local ctx = assert(r:validate()):new_context()
      local t0 = ngx.now()
      local ok, err, code = fk.get_kafka_alters(ctx)
      ngx.update_time()
      ngx.say(tostring(ok), " ", tostring(code), " ", ngx.now() - t0)
    } }
    location /alters_in_log_phase {
      content_by_lua_block {
        local fk = require "fluxakafka"
        local engine = require("control_app").topic_engine(ngx.var.arg_topic, 1)
        ngx.ctx.engine = engine
        ngx.ctx.ctx = engine:new_context()
        for _, alter in ipairs(assert(fk.get_kafka_alters(ngx.ctx.ctx))) do
          if alter.topic == ngx.var.arg_topic then ngx.ctx.alter = alter end
        end
        ngx.say(ngx.ctx.alter.kind)
      }
      log_by_lua_block {
        local fk = require "fluxakafka"
        local ok, err = pcall(fk.get_kafka_alters, ngx.ctx.ctx)
        local ok2, err2 = pcall(ngx.ctx.alter.exec, ngx.ctx.alter, ngx.ctx.ctx)
        ngx.log(ngx.ERR, "ALTERLOG ", tostring(ok), " ", tostring(err), " | ", tostring(ok2), " ", tostring(err2))
        local engine = ngx.ctx.engine
        ngx.timer.at(0, function() engine:close() end)
      } }
    location /transaction { content_by_lua_block {
      local fk = require "fluxakafka"
      local r = fk.new_registry()
      r:register_kafka({ "127.0.0.1:9092" }, "tx", { transactional_id = "nginx-tx" })
      local pool = assert(r:validate()):kafka("tx")
      local ok, err = pcall(pool.begin_transaction, pool)
      ngx.say(tostring(ok), " ", tostring(err), " ", tostring(pool:in_transaction()))
    } }
    location /log_phase { content_by_lua_block { ngx.say("x") }
      log_by_lua_block {
        local fk = require "fluxakafka"
        local r = fk.new_registry()
        r:register_kafka({ "127.0.0.1:1" }, "dead")
        local ok, err = pcall(function() return assert(r:validate()):kafka("dead"):list_topics() end)
        ngx.log(ngx.ERR, "LOGPHASE ", tostring(ok), " ", tostring(err))
      } }
  }
]]

describe("client control in nginx", function()
  local nginx, silent
  setup(function()
    -- brokers that cannot be reached (they never answer) keep a call waiting its whole connect_timeout
    local address
    address, silent = support.silent_listener()
    nginx = support.start({ port = PORT, workers = 1, http = HTTP:format(PORT):gsub("SILENT_BROKER", address) })
  end)
  teardown(function()
    if nginx then nginx.stop() end
    if silent then silent:close() end
  end)

  -- GET <location> for a new topic and group; the response body
  local function on_new_topic(location)
    local topic = ("nginx-ctl-%d-%d"):format(os.time(), math.random(100000, 999999))
    local status, body = support.get(PORT, location .. "?topic=" .. topic .. "&group=" .. topic .. "-g")
    assert.are.equal(200, status, body)
    return body
  end

  it("watermarks, list_topics, list_groups, committed and lag work from a request", function()
    assert.are.equal("0 2 true 2 2 0 2\n", on_new_topic("/inspect"))
  end)

  it("seek and seek_to_committed work from a request", function()
    assert.are.equal("abc bc abc nil true\n", on_new_topic("/seek"))
  end)

  it("seek and seek_to_committed wait by yielding: where nginx cannot yield they raise", function()
    on_new_topic("/seek_in_log_phase")
    assert(support.wait_for(10, function() return nginx.log():find("SEEKLOG", 1, true) end))
    assert.matches("SEEKLOG false .-seek: cannot wait for the brokers in nginx phase 'log'.- | false .-seek_to_committed: cannot wait",
      nginx.log())
  end)

  -- GET location (a call against unreachable brokers with a connect_timeout of 2 s) in the
  -- background while pinging the only worker: the call fails after its timeout and the worker
  -- answers pings all the while
  local function pings_answered_during(location)
    local out = os.tmpname()
    assert(support.sh(("curl -s 'http://127.0.0.1:%d%s' > %s &"):format(PORT, location, out)))
    local slowest, pings = 0, 0
    local done = support.wait_for(10, function()
      local _, body, took = support.get(PORT, "/ping")
      if took > slowest then slowest = took end
      local finished = (support.read_file(out) or "") ~= ""
      if not finished and body == "pong\n" then pings = pings + 1 end
      return finished
    end, 0.01)
    assert(done, "the request to " .. location .. " did not finish")
    local ok, code, elapsed = support.read_file(out):match("^(%S+) (%S+) ([%d.]+)")
    os.remove(out)
    assert.are.equal("nil", ok)
    assert.are_not.equal("nil", code)
    assert.is_true(tonumber(elapsed) >= 1.5, "the request should take the connect_timeout (2 s)")
    assert.is_true(pings > 10, "the worker answered only " .. pings .. " pings meanwhile")
    assert.is_true(slowest < 0.5, "a ping took " .. slowest .. " s")
  end

  it("a watermarks call against unreachable brokers yields: the only worker answers meanwhile", function()
    pings_answered_during("/dead_watermarks")
  end)

  it("cg:close leaves the group by yielding; the group is closed after it", function()
    assert.are.equal("1 true true false is closed\n", on_new_topic("/close"))
  end)

  it("a start_offset(timestamp) group looks its start up on a thread and starts at the time", function()
    assert.are.equal("2h 1h\n", on_new_topic("/start_timestamp"))
  end)

  it("get_kafka_alters and alter:exec work from a request: the topic is created as declared", function()
    assert.are.equal("1 create_topic 0 2 0\n", on_new_topic("/alters"))
  end)

  it("get_kafka_alters against unreachable brokers yields: the only worker answers meanwhile", function()
    pings_answered_during("/dead_alters")
  end)

  it("get_kafka_alters and alter:exec raise where nginx cannot yield", function()
    assert.are.equal("create_topic\n", on_new_topic("/alters_in_log_phase"))
    assert(support.wait_for(10, function() return nginx.log():find("ALTERLOG", 1, true) end))
    assert.matches("ALTERLOG false .-get_kafka_alters: cannot wait for the brokers in nginx phase 'log'.- | "
      .. "false .-exec: cannot wait for the brokers in nginx phase 'log'", nginx.log())
  end)

  it("transactions raise instead of holding the worker", function()
    local status, body = support.get(PORT, "/transaction")
    assert.are.equal(200, status, body)
    assert.matches("^false .-begin_transaction: transactions are not available inside nginx", body)
    assert.matches(" false\n$", body)
  end)

  it("raises in a phase that cannot yield", function()
    assert.are.equal(200, (support.get(PORT, "/log_phase")))
    assert(support.wait_for(5, function() return nginx.log():find("LOGPHASE", 1, true) end))
    assert.matches("LOGPHASE false .-list_topics: cannot wait for the brokers in nginx phase 'log'", nginx.log())
  end)
end)
