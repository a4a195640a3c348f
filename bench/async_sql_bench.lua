-- Async SQL throughput against the broker, in operations per second:
--   flush_async   ctx:flush_async of BATCH operations per call (encode + produce_sync)
--   produce_sync  pool:produce_sync of the very same record bytes, BATCH records per call
--   consume       async consumer: decode + handler + explicit commit, per poll
--   poll          plain consumer group: poll_fetches + commit_uncommitted_offsets
--
--   luajit bench/async_sql_bench.lua [operations] [batch]     (defaults 20000, 100)
-- Environment: FK_BROKERS (127.0.0.1:9092). Topics and groups are unique per run.
local fk = require "fluxakafka"

local N = tonumber(arg[1]) or 20000
local BATCH = tonumber(arg[2]) or 100
local brokers = { os.getenv("FK_BROKERS") or "127.0.0.1:9092" }

local ffi = require "ffi"
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } fk_bench_timespec;
  int clock_gettime(int clock, fk_bench_timespec *ts);
]]
local ts = ffi.new("fk_bench_timespec")
local function now()   -- CLOCK_MONOTONIC, seconds
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local stamp = ("%d-%d"):format(os.time(), math.random(1e6))
local async_topic, plain_topic = "bench-asql-" .. stamp, "bench-asql-plain-" .. stamp
local registry = fk.new_registry()
registry:register_kafka(brokers, "bench", { producer_linger = 0.001 })
registry:register_async_flush("bench")
registry:register_kafka_consumer_group(fk.new_kafka_consumer_group("bench-plain-" .. stamp, "bench"):topics(plain_topic))
local engine = assert(registry:validate())
local ctx = engine:new_context()
local pool = engine:kafka("bench")

-- one query of five typed parameters per operation, each on its own table (one record each)
local function op(i)
  return { pool = "default", table = "t" .. (i % 1000),
    queries = { { q = "UPDATE `t` SET `Name` = ?, `Age` = ?, `Score` = ?, `Active` = ? WHERE `ID` = ?",
                  p = { "name " .. i, i % 90, i * 0.5, i % 2 == 0, i } } } }
end
local batches = {}
for b = 1, math.ceil(N / BATCH) do
  local ops = {}
  for i = (b - 1) * BATCH + 1, math.min(b * BATCH, N) do ops[#ops + 1] = op(i) end
  batches[b] = ops
end

local results = {}
local function report(name, count, seconds)
  results[#results + 1] = ("%-13s %8d ops in %6.2f s = %9.0f ops/s"):format(name, count, seconds, count / seconds)
  print(results[#results])
end

-- warm-up: topics created, connections up
assert(ctx:flush_async({ op(0) }, { topic = async_topic }))
assert(pool:produce_sync({ topic = plain_topic, key = "t0", value = fk.encode_async_sql({ op(0) })[1].value }))

local t0 = now()
for _, ops in ipairs(batches) do assert(ctx:flush_async(ops, { topic = async_topic })) end
report("flush_async", N, now() - t0)

local encoded = {}
for b, ops in ipairs(batches) do encoded[b] = fk.encode_async_sql(ops, plain_topic) end
t0 = now()
for _, recs in ipairs(encoded) do assert(pool:produce_sync(unpack(recs))) end
report("produce_sync", N, now() - t0)

local consumer = assert(ctx:get_async_sql_consumer({ group = "bench-asql-" .. stamp, topic = async_topic }))
local seen = 0
-- the first poll joins the group (seconds): timed from the first record on
while seen == 0 do assert(consumer:consume(1, 1, function() seen = seen + 1; return true end)) end
t0 = now()
while seen < N + 1 do
  assert(consumer:consume(10000, 1, function(o) seen = seen + (o.pool and 1 or 0); return true end))
end
report("consume", N, now() - t0)
consumer:close()

local cg = assert(pool:consumer_group("bench-plain-" .. stamp))
seen = 0
while seen == 0 do seen = seen + assert(cg:poll_fetches(1, 1)):count() end
assert(cg:commit_uncommitted_offsets())
t0 = now()
while seen < N + 1 do
  local fetches = assert(cg:poll_fetches(1, 10000))
  for rec in fetches:iter() do if rec.value then seen = seen + 1 end end
  assert(cg:commit_uncommitted_offsets())
end
report("poll", N, now() - t0)
cg:close()
engine:close()
