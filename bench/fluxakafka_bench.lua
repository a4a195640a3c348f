-- The same work as bench/baseline.c, through fluxakafka's Lua API.
--   luajit bench/fluxakafka_bench.lua produce <brokers> <topic> <count> <size>
--   luajit bench/fluxakafka_bench.lua consume <brokers> <topic> <count>
-- Prints "RESULT <mode> <count> <records per second>" as its last line.
local fk = require "fluxakafka"
local ffi = require "ffi"

ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } fk_bench_timespec;
  int clock_gettime(int clk, fk_bench_timespec *ts);
]]
local ts = ffi.new("fk_bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local mode, brokers, topic, count = arg[1], arg[2], arg[3], tonumber(arg[4])
local registry = fk.new_registry()
registry:register_kafka({ brokers }, "bench", { required_acks = -1, producer_linger = 0 })
local group = "bench-fluxakafka-" .. os.time()
registry:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "bench"):topics(topic))
local engine = assert(registry:validate())
local pool = engine:kafka("bench")

if mode == "produce" then
  local size = tonumber(arg[5])
  local record = { topic = topic, value = ("x"):rep(size) }
  local produce = pool.produce
  local start = now()
  for _ = 1, count do
    local ok, err = produce(pool, record)
    if not ok then error(err) end
  end
  assert(pool:flush(120))
  local elapsed = now() - start
  local failures = pool:unreported_failures()
  print(("produced %d records of %d bytes in %.3f s (%d failed)"):format(count, size, elapsed, failures))
  print(("RESULT produce %d %.1f"):format(count, (count - failures) / elapsed))
  engine:close()
  os.exit(failures == 0 and 0 or 1)
elseif mode == "consume" then
  local cg = assert(pool:consumer_group(group))
  local received, bytes, first, last = 0, 0, nil, nil
  local give_up = now() + 120
  while received < count and now() < give_up do
    local fetches = cg:poll_fetches(1)
    for record in fetches:iter() do
      if not first then first = now() end
      received = received + 1
      bytes = bytes + #record.value
    end
    last = now()
  end
  cg:close()
  engine:close()
  if received < count then
    io.stderr:write(("received only %d of %d records\n"):format(received, count))
    os.exit(1)
  end
  print(("consumed %d records (%d bytes) in %.3f s"):format(received, bytes, last - first))
  print(("RESULT consume %d %.1f"):format(count, received / (last - first)))
else
  io.stderr:write("usage: fluxakafka_bench.lua produce|consume <brokers> <topic> <count> [size]\n")
  os.exit(2)
end
