-- Handlers of the nginx benchmarks: the same request work through fluxakafka and through
-- lua-resty-kafka (Debian's lua-nginx-kafka, module nginx.kafka.*), each with its defaults;
-- and, for the fixed-rate runs, lua-resty-kafka's async producer with acks=-1, as Debian's and
-- as fluxakafka's compatibility layer serves it (resty.kafka.producer, first on the path).
local M = {}

local brokers, resty_brokers = {}, {}
for b in (os.getenv("FK_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do
  brokers[#brokers + 1] = b
  local host, port = b:match("^(.*):(%d+)$")
  resty_brokers[#resty_brokers + 1] = { host = host, port = tonumber(port) }
end
local payload = ("x"):rep(tonumber(os.getenv("FK_BENCH_SIZE") or "100"))
local registry

function M.init()
  local fk = require "fluxakafka"
  registry = fk.new_registry()
  registry:register_kafka(brokers, "defaults")                                 -- fluxakafka's defaults
  registry:register_kafka(brokers, "linger0", { producer_linger = 0 })          -- no batching wait
  registry:register_kafka(brokers, "acks1", { required_acks = 1 })             -- lua-resty-kafka's acks
  assert(registry:validate())
end

-- An async lua-resty-kafka producer with acks=-1 and its other defaults (batches of 200,
-- flushed every 1 s), from either implementation. The cluster name keeps it apart from the
-- default-acks one: lua-resty-kafka hands out one async producer per cluster name.
local function resty_acks_all(module)
  return require(module):new(resty_brokers, { producer_type = "async", required_acks = -1 }, "acks_all")
end

function M.init_worker()
  M.engine = assert(registry:validate())
  local producer = require "nginx.kafka.producer"
  M.resty_async = producer:new(resty_brokers, { producer_type = "async" })
  M.resty_producer = producer
  M.resty_acks_all = resty_acks_all("nginx.kafka.producer")
  M.compat_acks_all = resty_acks_all("resty.kafka.producer")
end

local function answer(ok, err)
  if not ok then
    ngx.status = 500
    ngx.say(tostring(err))
    return
  end
  ngx.say("ok")
end

function M.handle(kind)
  local topic = ngx.var.arg_topic
  if kind == "noop" then
    ngx.say("ok")   -- the request alone: what nginx and Lua cost without Kafka
  elseif kind == "fk_async" then
    answer(M.engine:kafka("defaults"):produce({ topic = topic, value = payload }))
  elseif kind == "fk_async_acks1" then
    answer(M.engine:kafka("acks1"):produce({ topic = topic, value = payload }))
  elseif kind == "fk_async_linger0" then
    answer(M.engine:kafka("linger0"):produce({ topic = topic, value = payload }))
  elseif kind == "fk_sync" then
    answer(M.engine:kafka("defaults"):produce_sync({ topic = topic, value = payload }))
  elseif kind == "resty_async" then
    answer(M.resty_async:send(topic, nil, payload))
  elseif kind == "resty_acks_all" then
    answer(M.resty_acks_all:send(topic, nil, payload))
  elseif kind == "compat_acks_all" then
    answer(M.compat_acks_all:send(topic, nil, payload))
  elseif kind == "resty_sync" then
    -- a sync producer's send buffer is not shared between requests: one per request, as in
    -- lua-resty-kafka's own example (the async one is shared: its buffer is meant for that)
    answer(M.resty_producer:new(resty_brokers):send(topic, nil, payload))
  end
end

return M
