-- lua-resty-kafka applications on fluxakafka: nginx (1 worker) with fk.resty_compat_path()
-- first on lua_package_path runs plain resty.kafka.* code (spec-nginx/resty_app.lua) against
-- the real broker. The checks follow what lua-resty-kafka's own producer, client and
-- basic-consumer tests check, plus the semantics applications and gateways rely on.
local support = require "spec-nginx.support"
local fk = require "fluxakafka"

local PORT = tonumber(os.getenv("FK_RESTY_NGINX_PORT") or "18091")
local BROKERS = { os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092" }
local TLS_DIR = os.getenv("FK_TEST_TLS_DIR") or ".kafka/tls"

local HTTP = [[
  server {
    listen 127.0.0.1:%d;
    location ~ ^/r/(\w+)$ { content_by_lua_block { require("resty_app").run(ngx.var[1]) } }
    location /result { content_by_lua_block { ngx.say(ngx.shared.results:get(ngx.var.arg_key)) } }
    location /log_phase {
      content_by_lua_block { ngx.say("ok") }
      log_by_lua_block { require("resty_app").run("log_phase") }
    }
    location /logged {
      content_by_lua_block { ngx.say("ok") }
      log_by_lua_block { require("resty_app").logger(ngx.var.arg_topic):log("request " .. ngx.var.arg_id) }
    }
  }
]]

local function unique(prefix)
  return ("%s-%d-%d"):format(prefix, os.time(), math.random(1000000))
end

-- A topic of `partitions` partitions, made with fluxakafka's alters (only its own creation).
local function create_topic(name, partitions)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "admin")
  r:register_kafka_topic(fk.new_kafka_topic(name, "admin"):partitions(partitions):replication_factor(1))
  local engine = assert(r:validate())
  local ctx = engine:new_context()
  for _, alter in ipairs(assert(fk.get_kafka_alters(ctx))) do
    if alter.description:find("'" .. name .. "'", 1, true) and alter.description:find("^Create") then
      assert(alter:exec(ctx))
    end
  end
  engine:close()
  return name
end

-- Every record of `topic` (until `want` arrived), read with a consumer group of fluxakafka.
local function read_back(topic, want, seconds)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "reader")
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(topic .. "-reader", "reader"):topics(topic))
  local engine = assert(r:validate())
  local cg = assert(engine:kafka("reader"):consumer_group(topic .. "-reader"))
  local got, deadline = {}, support.now() + (seconds or 30)
  while #got < want and support.now() < deadline do
    for rec in assert(cg:poll_fetches(0.5)):iter() do got[#got + 1] = rec end
  end
  cg:close()
  engine:close()
  return got
end

local function high_watermark(topic, partition)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "marks")
  local engine = assert(r:validate())
  local _, high = engine:kafka("marks"):watermarks(topic, partition)
  engine:close()
  return high
end

local nginx
local function get(path)
  local status, body = support.get(PORT, path, 60)
  assert.are.equal(200, status, body)
  return (body:gsub("\n$", ""))
end

-- What a handler stored under `key` in the shared dict, once it is there (else nil).
local function stored(key, seconds)
  return support.wait_for(seconds, function()
    local r = get("/result?key=" .. key)
    return r ~= "nil" and r
  end, 0.1) or nil
end

describe("lua-resty-kafka applications on fluxakafka", function()
  local one, two, four
  setup(function()
    one = create_topic(unique("resty-one"), 1)
    two = create_topic(unique("resty-two"), 2)
    four = create_topic(unique("resty-four"), 4)
    local compat = fk.resty_compat_path()
    nginx = support.start({ port = PORT, workers = 1,
                            lua_path_first = compat .. "/?.lua;" .. support.root .. "/examples/openresty/?.lua",
                            http = HTTP:format(PORT) })
  end)
  teardown(function()
    if nginx then nginx.stop() end
  end)

  it("fk.resty_compat_path() names the directory that serves resty.kafka.*", function()
    local dir = fk.resty_compat_path()
    assert.are.equal("/", dir:sub(1, 1))
    for _, m in ipairs({ "producer", "client", "basic-consumer", "protocol/consumer" }) do
      assert.is_true(support.read_file(dir .. "/resty/kafka/" .. m .. ".lua") ~= nil, m)
    end
  end)

  describe("producer", function()
    it("a sync send answers the next offset of the partition as an int64", function()
      assert.are.equal("1LL 2LL 1 cdata", get("/r/sync_send?topic=" .. one))
      assert.are.equal("3LL 4LL 1 cdata", get("/r/sync_send?topic=" .. one .. "&key=k"))
    end)

    it("sends to two topics from one producer", function()
      local other = unique("resty-other")
      local body = get("/r/two_topics?topic=" .. one .. "&topic2=" .. other)
      assert.matches("^%d+LL nil %d+LL nil$", body)
    end)

    it("sends with an unreachable broker first in the list", function()
      local topic = create_topic(unique("resty-bad-first"), 1)
      assert.are.equal("1LL nil", get("/r/bad_broker_first?topic=" .. topic))
    end)

    it("a partition the topic does not have: 'not found partition'", function()
      local topic = create_topic(unique("resty-missing"), 1)
      assert.are.equal("nil not found partition", get("/r/missing_partition?topic=" .. topic))
    end)

    for _, u in ipairs({ { "PLAIN", "fluxa", "fluxa-secret" }, { "SCRAM-SHA-256", "scram256", "scram256-secret" },
                         { "SCRAM-SHA-512", "scram512", "scram512-secret" } }) do
      it("authenticates with the brokers' sasl_config: " .. u[1], function()
        local topic = create_topic(unique("resty-sasl"), 1)
        assert.are.equal("1LL nil", get(("/r/sasl_send?topic=%s&mechanism=%s&user=%s&password=%s"):format(
          topic, u[1], u[2], u[3])))
      end)
    end

    it("ssl = true sends over TLS; ssl_verify = true checks the broker's certificate", function()
      local ca = TLS_DIR .. "/ca.pem"
      if not support.read_file(ca) then return pending("no test CA at " .. ca) end
      ca = ca:sub(1, 1) == "/" and ca or (support.root .. "/" .. ca)
      local topic = create_topic(unique("resty-tls"), 1)
      assert.are.equal("1LL nil", get("/r/ssl_send?topic=" .. topic))
      assert.are.equal("2LL nil", get("/r/ssl_send?topic=" .. topic .. "&verify=1&ca=" .. ca))
      -- verified against the system's trust store, which does not know the test CA
      assert.matches("^nil ", get("/r/ssl_send?topic=" .. topic .. "&verify=1"))
    end)

    it("async: 2000 sends after a flush move offset() on by 2000", function()
      assert.are.equal("1LL 2000LL", get("/r/async_offsets?topic=" .. create_topic(unique("resty-async"), 1)))
    end)

    it("keyed records land on crc32(key) % partitions, as lua-resty-kafka places them: 200 of 200", function()
      local topic = create_topic(unique("resty-keyed"), 4)
      local expected = {}
      for key, partition in get("/r/keyed?n=200&partitions=4&topic=" .. topic):gmatch("(%S+)=(%d+)") do
        expected[key] = tonumber(partition)
      end
      local got = read_back(topic, 200)
      assert.are.equal(200, #got)
      local matched = 0
      for _, rec in ipairs(got) do
        if expected[rec.key] == rec.partition then matched = matched + 1 end
      end
      assert.are.equal(200, matched)
    end)

    it("records without a key take the partitions in turn", function()
      assert.are.equal("sent", get("/r/unkeyed_sync?n=8&topic=" .. four))
      local got = read_back(four, 8)
      local order = {}
      for _, rec in ipairs(got) do order[tonumber(rec.value)] = rec.partition end
      assert.are.same({ 1, 2, 3, 0, 1, 2, 3, 0 }, order)
    end)

    it("a full buffer answers nil, 'buffer overflow' at once", function()
      local answers, seconds = get("/r/overflow"):match("^(.*) (%S+)$")
      assert.are.equal("true,true,true,true,true,buffer overflow,buffer overflow", answers)
      assert.is_true(tonumber(seconds) < 0.1, seconds)
    end)

    it("error_handle gets each failed topic-partition batch once, after the retries", function()
      assert.are.equal("queued", get("/r/error_handle"))
      local report = stored("error_handle", 20)
      assert.is_truthy(report)
      local topic, partition, queue, index, has_err, retryable, seconds =
        report:match("^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$")
      assert.are.same({ "failing-topic", "-1", "k1,v1,k2,v2,k3,v3", "6", "true", "true" },
                      { topic, partition, queue, index, has_err, retryable })
      -- 2 tries of 0.5 s, 0.1 s between them, 0.1 s in the buffer
      assert.is_true(tonumber(seconds) >= 1 and tonumber(seconds) < 5, seconds)
      assert.are.equal("1", get("/result?key=error_handle_calls"))
    end)

    it("in the log phase: async sends are accepted, a sync send fails as lua-resty-kafka's does", function()
      get("/log_phase?topic=" .. one)
      assert.are.equal("false API disabled in the context of log_by_lua*", stored("log_sync", 5))
      assert.are.equal("true", get("/result?key=log_async"))
    end)

    it("one async producer per cluster name per worker: the first configuration wins", function()
      assert.are.equal("true false 9092", get("/r/cluster_names"))
    end)

    it("accepts the settings APISIX and Kong pass, sync and async", function()
      local topic = create_topic(unique("resty-gateway"), 1)
      assert.are.equal("1LL nil 9092", get("/r/gateway_config?type=sync&topic=" .. topic))
      assert.are.equal("true nil 9092", get("/r/gateway_config?type=async&topic=" .. topic))
      assert.are.equal(2, high_watermark(topic, 0))
    end)
  end)

  describe("client", function()
    it("fetch_metadata gives the partitions with leader, replicas and isr; choose_broker the leader", function()
      assert.are.equal("num=2 0:leader=1,replicas=1,isr=1 1:leader=1,replicas=1,isr=1 broker=127.0.0.1:9092 true",
                       get("/r/fetch_metadata?topic=" .. two))
    end)

    it("fetch_metadata over SASL and over TLS", function()
      assert.matches("^num=2 ", get("/r/fetch_metadata?port=9094&user=fluxa&password=fluxa-secret&topic=" .. two))
      assert.matches("^num=2 ", get("/r/fetch_metadata?port=9095&ssl=1&topic=" .. two))
    end)

    it("an unknown topic: 'not found topic'", function()
      assert.are.equal("fetch err:not found topic", get("/r/fetch_metadata?topic=" .. unique("resty-none")))
    end)

    it("refresh_interval refreshes the cached topics in a timer", function()
      assert.are.equal("num=4 0:leader=1,replicas=1,isr=1 1:leader=1,replicas=1,isr=1 2:leader=1,replicas=1,isr=1 "
                       .. "3:leader=1,replicas=1,isr=1 true", get("/r/refresh_timer?topic=" .. four))
    end)

    it("the resolver option turns broker host names into addresses", function()
      assert.matches("^resolved [1-9]%d* true 4$", get("/r/resolver?topic=" .. four))
    end)
  end)

  describe("basic-consumer", function()
    local odd = {}
    local even = {}
    setup(function()
      -- 135 records without a key: 1, 3, ... on partition 1 and 2, 4, ... on partition 0
      assert.are.equal("sent", get("/r/unkeyed_sync?n=135&topic=" .. two))
      for i = 1, 135 do
        if i % 2 == 1 then odd[#odd + 1] = tostring(i) else even[#even + 1] = tostring(i) end
      end
    end)

    it("list_offset: first and last offsets as int64 text; a missing topic or partition is named", function()
      assert.are.equal("0LL|0LL|67LL|68LL|not found topic|not found partition", get("/r/list_offsets?topic=" .. two))
    end)

    it("fetch: the records from an offset on, with int64 offsets and timestamps", function()
      local probe = get(("/r/fetch?topic=%s&partition=0&offset=0"):format(two))
      if probe:find("pool:read", 1, true) then return pending("this fluxakafka build has no pool:read") end
      assert.are.equal(table.concat(even) .. " 67 cdata/cdata 67LL", probe)
      assert.are.equal(table.concat(odd) .. " 68 cdata/cdata 68LL",
                       get(("/r/fetch?topic=%s&partition=1&offset=0"):format(two)))
      assert.are.equal(table.concat(even, "", 51) .. " 17 cdata/cdata 67LL",
                       get(("/r/fetch?topic=%s&partition=0&offset=50"):format(two)))
    end)

    it("fetch: beyond the end is OFFSET_OUT_OF_RANGE; at the end nothing; missing topic or partition named", function()
      assert.are.equal("err OFFSET_OUT_OF_RANGE", get(("/r/fetch?topic=%s&partition=0&offset=200"):format(two)))
      assert.are.equal("err OFFSET_OUT_OF_RANGE", get(("/r/fetch?topic=%s&partition=1&offset=200"):format(two)))
      assert.are.equal(" 0  67LL", get(("/r/fetch?topic=%s&partition=0&offset=67"):format(two)))
      assert.are.equal("err not found topic", get("/r/fetch?partition=0&offset=0&topic=" .. unique("resty-none")))
      assert.are.equal("err not found partition", get(("/r/fetch?topic=%s&partition=999&offset=0"):format(two)))
    end)
  end)

  describe("gateway smoke", function()
    it("an APISIX-style log-phase logger: 2000 requests, every record read back", function()
      local topic = create_topic(unique("resty-smoke"), 2)
      for from = 1, 2000, 200 do
        local paths = {}
        for id = from, from + 199 do paths[#paths + 1] = ("/logged?topic=%s&id=%d"):format(topic, id) end
        for _, res in ipairs(support.get_all(PORT, paths, 60)) do assert.are.equal(200, res[1]) end
      end
      local got = read_back(topic, 2000, 60)
      local seen = {}
      for _, rec in ipairs(got) do seen[rec.value] = (seen[rec.value] or 0) + 1 end
      local missing, twice = 0, 0
      for id = 1, 2000 do
        local n = seen["request " .. id] or 0
        if n == 0 then missing = missing + 1 elseif n > 1 then twice = twice + 1 end
      end
      assert.are.same({ 2000, 0, 0 }, { #got, missing, twice })
    end)

    it("records buffered when nginx reloads are delivered, none lost", function()
      local topic = create_topic(unique("resty-reload"), 1)
      assert.are.equal("buffered", get("/r/before_reload?n=500&topic=" .. topic))
      assert.is_true(nginx.signal("reload"))
      assert.is_true(support.wait_for(30, function() return high_watermark(topic, 0) == 500 end, 0.2))
    end)
  end)
end)
