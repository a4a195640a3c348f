-- Handlers for resty_compat_spec: lua-resty-kafka application code (resty.kafka.*, served by
-- fluxakafka's compat directory), one per /r/<name>; each prints what the spec checks.
local producer = require "resty.kafka.producer"
local client = require "resty.kafka.client"
local bconsumer = require "resty.kafka.basic-consumer"
local protocol_consumer = require "resty.kafka.protocol.consumer"

local M = {}
local arg = function(name) return ngx.var["arg_" .. name] end
local results = ngx.shared.results

local function brokers(port, sasl)
  return { { host = "127.0.0.1", port = tonumber(port) or 9092, sasl_config = sasl } }
end

local function elapsed(t0)
  ngx.update_time()
  return ngx.now() - t0
end

local H = {}

-- sync sends: the next offset of the partition, int64
function H.sync_send()
  local p = producer:new(brokers())
  local first, err = p:send(arg("topic"), arg("key"), "halo world")
  if not first then return ngx.say("send err:", err) end
  local second = assert(p:send(arg("topic"), arg("key"), "halo again"))
  ngx.say(tostring(first), " ", tostring(second), " ", tonumber(second - first), " ", type(first))
end

function H.two_topics()
  local p = producer:new(brokers())
  local a, err1 = p:send(arg("topic"), "key", "one")
  local b, err2 = p:send(arg("topic2"), "key", "two")
  ngx.say(tostring(a), " ", tostring(err1), " ", tostring(b), " ", tostring(err2))
end

function H.bad_broker_first()
  local list = { { host = "127.0.0.1", port = 1 }, { host = "127.0.0.1", port = 9092 } }
  local offset, err = producer:new(list):send(arg("topic"), nil, "halo world")
  ngx.say(tostring(offset), " ", tostring(err))
end

-- the metadata says 3 partitions, the topic has 1: the chosen partition does not exist
function H.missing_partition()
  local p = producer:new(brokers())
  assert(p:send(arg("topic"), "a", "x"))
  p.client.topic_partitions[arg("topic")] = { num = 3, [0] = { id = 0, leader = 1 }, [1] = { id = 1, leader = 1 },
                                              [2] = { id = 2, leader = 1 } }
  local key = ngx.crc32_long("b") % 3 ~= 0 and "b" or "c"
  local offset, err = p:send(arg("topic"), key, "x")
  ngx.say(tostring(offset), " ", tostring(err))
end

function H.sasl_send()
  local sasl = { mechanism = arg("mechanism"), user = arg("user"), password = arg("password") }
  local offset, err = producer:new(brokers(9094, sasl)):send(arg("topic"), nil, "over sasl")
  ngx.say(tostring(offset), " ", tostring(err))
end

function H.ssl_send()
  local config = { ssl = true, ssl_verify = arg("verify") == "1", ssl_ca_file = arg("ca"), socket_timeout = 3000,
                   request_timeout = 1000, max_retry = 1 }
  local offset, err = producer:new(brokers(9095), config):send(arg("topic"), nil, "over tls")
  ngx.say(tostring(offset), " ", tostring(err))
end

-- async: 2000 records after a flush move the producer's offsets on by 2000
function H.async_offsets()
  local p = producer:new(brokers(), { producer_type = "async", flush_time = 100 }, arg("topic"))
  p:send(arg("topic"), "key", "first")
  p:flush()
  local before = p:offset()
  for i = 1, 2000 do assert(p:send(arg("topic"), "key", "message " .. i)) end
  local t0 = ngx.now()
  local after
  repeat
    ngx.sleep(0.05)
    after = p:offset()
  until after - before >= 2000 or elapsed(t0) > 10
  ngx.say(tostring(before), " ", tostring(after - before))
end

-- keyed records: the partition each key should land on, by lua-resty-kafka's rule computed
-- here with nginx's own crc32
function H.keyed()
  local p = producer:new(brokers(), { producer_type = "async", flush_time = 10 }, "keyed-" .. arg("topic"))
  local n, parts = tonumber(arg("n")), tonumber(arg("partitions"))
  local expected = {}
  for i = 1, n do
    local key = "key-" .. i
    assert(p:send(arg("topic"), key, key))
    expected[#expected + 1] = key .. "=" .. (ngx.crc32_long(key) % parts)
  end
  p:flush()
  ngx.say(table.concat(expected, " "))
end

function H.unkeyed_sync()
  local p = producer:new(brokers())
  for i = 1, tonumber(arg("n")) do
    local offset, err = p:send(arg("topic"), nil, tostring(i))
    if not offset then return ngx.say("send err:", err) end
  end
  ngx.say("sent")
end

-- a full buffer is refused at once
function H.overflow()
  local p = producer:new({ { host = "127.0.0.1", port = 1 } },
                         { producer_type = "async", max_buffering = 5 }, "overflow")
  local answers, t0 = {}, ngx.now()
  for i = 1, 7 do
    local ok, err = p:send("overflow-topic", nil, tostring(i))
    answers[i] = ok and "true" or err
  end
  ngx.say(table.concat(answers, ","), " ", elapsed(t0))
end

-- undeliverable records reach error_handle once per topic-partition, after the retries
function H.error_handle()
  local t0 = ngx.now()
  local p = producer:new({ { host = "127.0.0.1", port = 1 } }, {
    producer_type = "async", flush_time = 100, max_retry = 2, retry_backoff = 100, request_timeout = 500,
    error_handle = function(topic, partition_id, queue, index, err, retryable)
      results:incr("error_handle_calls", 1, 0)
      results:set("error_handle", table.concat({ topic, partition_id, table.concat(queue, ",", 1, index), index,
                                                 tostring(err ~= nil), tostring(retryable), elapsed(t0) }, " "))
    end,
  }, "unreachable")
  for i = 1, 3 do assert(p:send("failing-topic", "k" .. i, "v" .. i)) end
  ngx.say("queued")
end

-- a sync send in the log phase fails as lua-resty-kafka's does; an async one is accepted
function H.log_phase()
  local ok, err = pcall(function() return producer:new(brokers()):send(arg("topic"), nil, "x") end)
  results:set("log_sync", tostring(ok) .. " " .. tostring(err))
  local p = producer:new(brokers(), { producer_type = "async" }, "log-phase")
  results:set("log_async", tostring(p:send(arg("topic"), nil, "from the log phase")))
end

function H.cluster_names()
  local a = producer:new(brokers(), { producer_type = "async", flush_time = 500 }, "c1")
  local b = producer:new(brokers(9999), { producer_type = "async", flush_time = 100 }, "c1")
  local c = producer:new(brokers(), { producer_type = "async" }, "c2")
  ngx.say(tostring(a == b), " ", tostring(a == c), " ", b.client.broker_list[1].port)
end

-- the keys APISIX's kafka-logger and Kong's kafka-log pass
function H.gateway_config()
  local config = {
    request_timeout = 2000, producer_type = arg("type"), required_acks = -1, batch_num = 100,
    batch_size = 1048576, max_buffering = 10000, flush_time = 200, refresh_interval = 60000,
    api_version = 2, ssl = false, ssl_verify = false, socket_timeout = 5000, keepalive = true,
    keepalive_timeout = 60000, keepalive_size = 10, max_retry = 3, retry_backoff = 200,
  }
  local p = producer:new(brokers(), config, "gateway-" .. arg("type"))
  local ok, err = p:send(arg("topic"), "gw", "through a gateway's settings")
  if ok and arg("type") == "async" then p:flush() end
  ngx.say(tostring(ok), " ", tostring(err), " ", p.client.broker_list[1].port)
end

-- records buffered (lingering 1 s) when nginx reloads
function H.before_reload()
  local p = producer:new(brokers(), { producer_type = "async", flush_time = 1000, batch_num = 100000 }, "reload")
  for i = 1, tonumber(arg("n")) do assert(p:send(arg("topic"), nil, tostring(i))) end
  ngx.say("buffered")
end

-- client
local function metadata_json(partitions)
  local out = {}
  for id = 0, (partitions.num or 0) - 1 do
    local p = partitions[id]
    out[#out + 1] = ("%d:leader=%s,replicas=%d,isr=%d"):format(id, tostring(p.leader), #p.replicas, #p.isr)
  end
  return "num=" .. tostring(partitions.num) .. " " .. table.concat(out, " ")
end

function H.fetch_metadata()
  local port, sasl = tonumber(arg("port")) or 9092, nil
  if arg("user") then sasl = { mechanism = arg("mechanism") or "PLAIN", user = arg("user"), password = arg("password") } end
  local cli = client:new(brokers(port, sasl), { ssl = arg("ssl") == "1" })
  local brokers_found, partitions = cli:fetch_metadata(arg("topic"))
  if not brokers_found then return ngx.say("fetch err:", partitions) end
  local leader = cli:choose_broker(arg("topic"), 0)
  ngx.say(metadata_json(partitions), " broker=", leader.host, ":", leader.port, " ",
          tostring(cli:choose_broker(arg("topic"), 99) == nil))
end

function H.refresh_timer()
  local cli = client:new(brokers(), { refresh_interval = 100 })
  cli.topic_partitions = { [arg("topic")] = {}, [arg("topic") .. "-absent"] = {} }
  ngx.sleep(0.5)
  local p = cli.topic_partitions[arg("topic")]
  ngx.say(p and p.num and metadata_json(p) or "not refreshed", " ",
          tostring(cli.topic_partitions[arg("topic") .. "-absent"] == nil))
end

function H.resolver()
  local count = 0
  local cli = client:new({ { host = "kafka.invalid", port = 9092 } }, {
    resolver = function(host) count = count + 1; return "127.0.0.1" end })
  local found, partitions = cli:fetch_metadata(arg("topic"))
  ngx.say("resolved ", count, " ", tostring(found ~= nil), " ", tostring(found and partitions.num))
end

-- basic consumer
function H.list_offsets()
  local c = bconsumer:new(brokers())
  local out = {}
  for _, case in ipairs({ { arg("topic"), 0, "FIRST" }, { arg("topic"), 1, "FIRST" }, { arg("topic"), 0, "LAST" },
                          { arg("topic"), 1, "LAST" }, { "not-exist-" .. arg("topic"), 0, "LAST" },
                          { arg("topic"), 999, "LAST" } }) do
    local offset, err = c:list_offset(case[1], case[2], protocol_consumer["LIST_OFFSET_TIMESTAMP_" .. case[3]])
    out[#out + 1] = tostring(offset or err)
  end
  ngx.say(table.concat(out, "|"))
end

function H.fetch()
  local c = bconsumer:new(brokers())
  local ret, err = c:fetch(arg("topic"), tonumber(arg("partition")), tonumber(arg("offset")))
  if not ret then return ngx.say("err ", err) end
  local values, kinds = {}, ""
  for _, record in ipairs(ret.records) do
    values[#values + 1] = record.value
    kinds = type(record.offset) .. "/" .. type(record.timestamp)
  end
  ngx.say(table.concat(values), " ", #ret.records, " ", kinds, " ", tostring(ret.high_watermark))
end

function M.run(name)
  local handler = H[name]
  if not handler then return ngx.exit(404) end
  handler()
end

-- the APISIX-style logger of examples/openresty, for the smoke test
function M.logger(topic)
  if not M._logger then
    M._logger = require("resty_kafka_logger").new({
      brokers = brokers(), topic = topic, batch_max_size = 100, inactive_timeout = 0.2, cluster_name = "smoke" })
  end
  return M._logger
end

return M
