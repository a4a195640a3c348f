-- Plan time over many registered topics: how long get_kafka_alters takes to read the broker
-- state (metadata, one batched DescribeConfigs, ListConsumerGroups) and compare.
-- usage: luajit bench/alters_bench.lua [topics] [brokers]
local fk = require "fluxakafka"

local count = tonumber(arg[1]) or 1000
local brokers = arg[2] or os.getenv("FK_BROKERS") or "127.0.0.1:9092"
local prefix = "bench-plan-" .. os.time()

local function clock()
  local f = io.popen("date +%s.%N")
  local t = tonumber(f:read("*l"))
  f:close()
  return t
end

local function build(with_topics)
  local r = fk.new_registry()
  r:register_kafka({ brokers }, "bench", {})
  for i = 1, count do
    local t = fk.new_kafka_topic(("%s-%05d"):format(prefix, i), "bench"):partitions(1):retention_ms(3600000)
    if with_topics then r:register_kafka_topic(t) end
  end
  local engine = assert(r:validate())
  return engine:new_context(), engine
end

local ctx, engine = build(true)
local t0 = clock()
local alters = assert(fk.get_kafka_alters(ctx))
local first_plan = clock() - t0

-- create them (only the creates: leave everything else on the broker alone)
local t1 = clock()
local created = 0
for _, a in ipairs(alters) do
  if a.kind == "create_topic" then
    assert(a:exec(ctx))
    created = created + 1
  end
end
local create_time = clock() - t1

-- the measured case: every topic exists and every config is compared
local samples = {}
for i = 1, 5 do
  local s = clock()
  local again = assert(fk.get_kafka_alters(ctx))
  samples[i] = clock() - s
  for _, a in ipairs(again) do
    assert(a.topic == nil or not a.topic:find(prefix, 1, true) or a.kind == "delete_topic",
      "unexpected alter after apply: " .. a.description)
  end
end
table.sort(samples)

-- Deleting goes one alter at a time (each waits until the broker shows it): slow for 1000
-- topics, so it is left to FK_BENCH_CLEANUP=1. `make bench` on a broker it started itself
-- removes everything when it stops the broker.
if os.getenv("FK_BENCH_CLEANUP") == "1" then
  local keep = fk.new_registry()
  keep:register_kafka({ brokers }, "bench", {})
  keep:register_kafka_topic(fk.new_kafka_topic("bench-plan-keeper", "bench"))
  local keep_engine = assert(keep:validate())
  local keep_ctx = keep_engine:new_context()
  for _, a in ipairs(assert(fk.get_kafka_alters(keep_ctx))) do
    if a.kind == "delete_topic" and a.topic:find(prefix, 1, true) then assert(a:exec(keep_ctx)) end
  end
  keep_engine:close()
end
engine:close()

print(("RESULT plan %d topics: first plan (nothing exists) %.3f s; create %d topics %.1f s; plan with all existing: median %.3f s, min %.3f s, max %.3f s")
  :format(count, first_plan, created, create_time, samples[3], samples[1], samples[5]))
