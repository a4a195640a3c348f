-- The same work as bench/baseline.c, through fluxakafka's Lua API.
--   luajit bench/fluxakafka_bench.lua produce [brokers] <topic> [count [size]]
--   luajit bench/fluxakafka_bench.lua consume [brokers] <topic> [count]
--   luajit bench/fluxakafka_bench.lua latency [brokers] <topic> [count [size]]
-- brokers is recognised by its ':' (a topic name cannot hold one); without it FK_BROKERS or
-- 127.0.0.1:9092. count defaults to 1000000, size to 100 bytes.
-- Producer settings as in baseline.c: ACKS (required_acks, default -1), LINGER_MS
-- (producer_linger, default 0), QUEUE_MAX (max_buffered_records, default the library's),
-- MAX_IN_FLIGHT (max_in_flight, default 5).
-- produce: one warm-up record (produce_sync, not counted), then `pool:produce({topic=, value=})`
-- count times with no callback, then `pool:flush(60)`; timed until the flush returns.
-- consume: a new group, `cg:poll_fetches(1)` and `for rec in fetches:iter()`, timed from the
-- first record received to the count-th; gives up after 120 s.
-- latency: `pool:produce_sync({topic=, value=})` one record at a time, 50 untimed first, then
-- count (default 2000) timed one by one.
-- produce and consume also print "CPU <mode> <ns>": the CPU time of the calling thread per
-- record over the timed span (librdkafka's own threads not included), and "PROCCPU <mode>
-- <client ns> <broker ns>": the CPU of the whole process (all threads, getrusage RUSAGE_SELF)
-- and of the broker (utime+stime of /proc/$FK_BROKER_PID/stat; "n/a" without it) per record
-- over the same span (consume: from before the group is created to the count-th record), as
-- bench/franz/franz_bench.go measures franz-go.
-- consume reads every field of each record (topic, partition, offset, key, value, headers,
-- timestamp), as franz_bench.go and baseline.c's consume-records do.
--   luajit bench/fluxakafka_bench.lua tables [count]
-- tables: no Kafka; builds count record tables shaped like the ones fetches hand out (the
-- same constructor, a value copied out of C memory) and keeps each alive for a while, as a
-- loop handing records on would: the CPU an API with one Lua table per record cannot go below
-- under LuaJIT. Prints "RESULT tables <count> <CPU ns per record>" (not records per second).
-- Prints "RESULT <mode> <count> <records per second>" (latency: "RESULT latency <count>
-- <p50 ms> <p99 ms>") as its last line; exits 1 on a failure.
local fk = require "fluxakafka"
local ffi = require "ffi"

ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } fk_bench_timespec;
  int clock_gettime(int clk, fk_bench_timespec *ts);
  int getpid(void);
  typedef struct { long tv_sec; long tv_usec; } fk_bench_timeval;
  typedef struct { fk_bench_timeval ru_utime, ru_stime; long ru_rest[14]; } fk_bench_rusage;
  int getrusage(int who, fk_bench_rusage *usage);
]]
local ts = ffi.new("fk_bench_timespec")
local function clock_seconds(clock)
  ffi.C.clock_gettime(clock, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local function now() return clock_seconds(1) end               -- CLOCK_MONOTONIC
local function thread_cpu() return clock_seconds(3) end        -- CLOCK_THREAD_CPUTIME_ID
local usage = ffi.new("fk_bench_rusage")
local function process_cpu()                                    -- RUSAGE_SELF: every thread
  assert(ffi.C.getrusage(0, usage) == 0)
  return tonumber(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    + tonumber(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
end
-- utime+stime of the broker in seconds (fields 14 and 15 of its stat line, in USER_HZ = 100
-- ticks per second), or nil without FK_BROKER_PID
local function broker_cpu()
  local pid = os.getenv("FK_BROKER_PID")
  local f = pid and pid ~= "" and io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local line = f:read("*l")
  f:close()
  local utime, stime = line:match("%) %S+" .. (" %S+"):rep(10) .. " (%d+) (%d+)")
  return (tonumber(utime) + tonumber(stime)) / 100
end
-- a timed span's CPU: span() at its start, then span_end(start, mode, count) prints PROCCPU
local function span() return { process_cpu(), broker_cpu() } end
local function span_end(start, mode, records)
  local client, broker = process_cpu(), broker_cpu()
  print(("PROCCPU %s %.1f %s"):format(mode, (client - start[1]) * 1e9 / records,
    (broker and start[2]) and ("%.1f"):format((broker - start[2]) * 1e9 / records) or "n/a"))
end

local function usage()
  io.stderr:write("usage: fluxakafka_bench.lua produce [brokers] <topic> [count [size]]\n",
                  "       fluxakafka_bench.lua consume [brokers] <topic> [count]\n",
                  "       fluxakafka_bench.lua latency [brokers] <topic> [count [size]]\n",
                  "       fluxakafka_bench.lua tables [count]\n")
  os.exit(2)
end

local args = { ... }
local mode = args[1]

if mode == "tables" then
  local count = tonumber(args[2] or 1000000)
  if not count or count < 1 then usage() end
  local payload = ffi.new("char[100]")
  ffi.fill(payload, 100, ("x"):byte())   -- the bytes of the records the consume mode reads
  local position = ffi.new("int64_t[2]", 0, 1733300000000)
  local ffi_string, tonumber = ffi.string, tonumber
  local held = {}   -- the last 256 records stay reachable, as in a loop handing records on
  local bytes = 0
  local start = thread_cpu()
  for n = 1, count do
    position[0] = n
    local record = {
      topic = "bench",
      value = ffi_string(payload, 100),
      partition = 0,
      offset = tonumber(position[0]),
      timestamp = tonumber(position[1]),
    }
    held[n % 256 + 1] = record
    bytes = bytes + #record.value
  end
  local ns = (thread_cpu() - start) * 1e9 / count
  print(("built %d record tables (%d value bytes)"):format(count, bytes))
  print(("RESULT tables %d %.1f"):format(count, ns))
  os.exit(0)
end
local i = 2
local brokers = os.getenv("FK_BROKERS") or "127.0.0.1:9092"
if #args >= 3 and args[2]:find(":", 1, true) then brokers, i = args[2], 3 end
local topic = args[i]
local count = tonumber(args[i + 1] or (mode == "latency" and 2000 or 1000000))
if not topic or not count or count < 1 then usage() end

local function env_number(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return assert(tonumber(v), name .. " must be a number")
end
local acks = env_number("ACKS") or -1
local linger_ms = env_number("LINGER_MS") or 0
local queue_max = env_number("QUEUE_MAX")
local max_in_flight = env_number("MAX_IN_FLIGHT") or 5

local registry = fk.new_registry()
registry:register_kafka({ brokers }, "bench", {
  required_acks = acks,
  producer_linger = linger_ms / 1000,
  max_buffered_records = queue_max,
  max_in_flight = max_in_flight,
})
local group = ("bench-fluxakafka-%d-%d"):format(os.time(), ffi.C.getpid())
registry:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "bench"):topics(topic))
local engine = assert(registry:validate())
local pool = engine:kafka("bench")

if mode == "produce" then
  local size = tonumber(args[i + 2] or 100)
  if not size or size < 0 then usage() end
  local payload = ("x"):rep(size)
  print(("settings: required_acks=%d producer_linger=%gs max_buffered_records=%s (FLUXAKAFKA_NO_FFI: %s)")
    :format(acks, linger_ms / 1000, tostring(queue_max or "default"),
            os.getenv("FLUXAKAFKA_NO_FFI") or "unset"))
  -- warm-up: the topic exists and its metadata is known before the clock starts
  assert(pool:produce_sync({ topic = topic, value = payload }))
  local failures_before = pool:unreported_failures()
  local start, cpu_start, proc_start = now(), thread_cpu(), span()
  for _ = 1, count do
    local ok, err = pool:produce({ topic = topic, value = payload })
    if not ok then error(err) end
  end
  local flushed, flush_err = pool:flush(60)
  local elapsed = now() - start
  span_end(proc_start, "produce", count)
  local failures = pool:unreported_failures() - failures_before
  print(("produced %d records of %d bytes to '%s' in %.3f s (%d failed)")
    :format(count - failures, size, topic, elapsed, failures))
  print(("CPU produce %.1f"):format((thread_cpu() - cpu_start) * 1e9 / count))
  print(("RESULT produce %d %.1f"):format(count, (count - failures) / elapsed))
  if not flushed then io.stderr:write("flush failed: ", tostring(flush_err), "\n") end
  engine:close()
  os.exit((flushed and failures == 0) and 0 or 1)
elseif mode == "consume" then
  print(("settings: group=%s (FLUXAKAFKA_NO_FFI: %s)")
    :format(group, os.getenv("FLUXAKAFKA_NO_FFI") or "unset"))
  -- the process and broker CPU span starts before the group does: librdkafka fetches ahead
  -- while the group is still being joined, and that broker work belongs to these records
  local proc_first = span()
  local cg = assert(pool:consumer_group(group))
  local received, bytes, first, last = 0, 0, nil, nil
  local cpu_first, cpu_last = 0, 0   -- CPU time of this (the reading) thread
  local touched = 0
  local give_up = now() + 120
  while received < count and now() < give_up do
    local fetches = assert(cg:poll_fetches(1))
    for record in fetches:iter() do
      if not first then first, cpu_first = now(), thread_cpu() end
      received = received + 1
      bytes = bytes + #record.value
      touched = touched + (record.key and #record.key or 0) + (record.headers and #record.headers or 0)
        + #record.topic + record.partition + record.offset % 2 + record.timestamp % 2
      if received == count then break end
    end
    last, cpu_last = now(), thread_cpu()
  end
  if received > 0 then span_end(proc_first, "consume", received) end
  cg:close()
  engine:close()
  if received < count then
    io.stderr:write(("received only %d of %d records from '%s' in 120 s\n"):format(received, count, topic))
    os.exit(1)
  end
  if last <= first then last = first + 1e-9 end
  print(("consumed %d records (%d bytes, checksum %d) from '%s' in %.3f s"):format(received, bytes, touched, topic, last - first))
  print(("CPU consume %.1f"):format((cpu_last - cpu_first) * 1e9 / received))
  print(("RESULT consume %d %.1f"):format(count, received / (last - first)))
elseif mode == "latency" then
  local size = tonumber(args[i + 2] or 100)
  if not size or size < 0 then usage() end
  local payload = ("x"):rep(size)
  local ms = {}
  for n = -49, count do
    local start = now()
    local ok, err = pool:produce_sync({ topic = topic, value = payload })
    if not ok then error(err) end
    if n >= 1 then ms[n] = (now() - start) * 1000 end
  end
  engine:close()
  table.sort(ms)
  -- nearest rank, as in baseline.c
  local function quantile(q) return ms[math.max(1, math.ceil(q * count))] end
  print(("latency of %d acknowledged records of %d bytes to '%s': p50 %.3f ms, p99 %.3f ms, max %.3f ms")
    :format(count, size, topic, quantile(0.5), quantile(0.99), ms[count]))
  print(("RESULT latency %d %.3f %.3f"):format(count, quantile(0.5), quantile(0.99)))
else
  usage()
end
