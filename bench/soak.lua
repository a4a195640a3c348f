--- Memory soak: resident memory, open descriptors and threads of this process, sampled while
--   1. RECORDS (5,000,000) records are produced asynchronously (no callback) while a consumer
--      group in the same process reads them back, and
--   2. CYCLES (100,000) pool:consumer_group() / cg:close() cycles run. The rate is measured on
--      the first CALIBRATE cycles; when the whole count would take longer than CYCLE_SECONDS
--      (600), the count is scaled down and the output says so.
-- Samples go to OUT (build/soak/samples.csv): phase, done, seconds, rss_kib, fds, threads,
-- lua_kib. The summary compares the first sample after warm-up (WARMUP, a fraction of each
-- phase, 0.2) with the last one and the maximum.
--
--   make soak                      (RECORDS=, CYCLES=, FK_BROKERS=, OUT= as environment)
--
-- The topic is created for the run (1 partition) and deleted afterwards; the consumer group
-- names are unique. Only the run's own topic is ever created or deleted.
local fk = require "fluxakafka"
local ffi_ok, ffi = pcall(require, "ffi")

local RECORDS = tonumber(os.getenv("RECORDS") or "5000000")
local CYCLES = tonumber(os.getenv("CYCLES") or "100000")
local CYCLE_SECONDS = tonumber(os.getenv("CYCLE_SECONDS") or "600")
local CALIBRATE = tonumber(os.getenv("CALIBRATE") or "200")
local WARMUP = tonumber(os.getenv("WARMUP") or "0.2")
local OUT = os.getenv("OUT") or "build/soak/samples.csv"
local BROKERS = {}
for b in (os.getenv("FK_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do BROKERS[#BROKERS + 1] = b end

-- ---------------------------------------------------------------- measuring ----
local now
if ffi_ok then
  ffi.cdef [[ typedef struct { long tv_sec; long tv_nsec; } fk_soak_timespec;
              int clock_gettime(int clk, fk_soak_timespec *ts); ]]
  local ts = ffi.new("fk_soak_timespec")
  now = function()
    ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
  end
else
  now = function()
    local f = io.popen("date +%s.%N")
    local t = tonumber(f:read("*l"))
    f:close()
    return t
  end
end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local PID = tonumber(read_file("/proc/self/stat"):match("^(%d+)"))

local function status_field(name)
  return tonumber(read_file("/proc/self/status"):match(name .. ":%s*(%d+)"))
end

local function fd_count()
  -- /proc/self inside the shell would be the shell's: name this process
  local p = io.popen(("ls /proc/%d/fd | wc -l"):format(PID))
  local n = tonumber(p:read("*l"))
  p:close()
  return n - 1   -- the pipe to `ls` itself
end

os.execute("mkdir -p " .. OUT:match("^(.*)/[^/]*$"))
local csv = assert(io.open(OUT, "w"))
csv:write("phase,done,seconds,rss_kib,fds,threads,lua_kib\n")
local samples = { records = {}, cycles = {} }
local started = now()

local function sample(phase, done)
  local s = { done = done, seconds = now() - started, rss = status_field("VmRSS"), fds = fd_count(),
              threads = status_field("Threads"), lua = math.floor(collectgarbage("count")) }
  samples[phase][#samples[phase] + 1] = s
  csv:write(("%s,%d,%.1f,%d,%d,%d,%d\n"):format(phase, done, s.seconds, s.rss, s.fds, s.threads, s.lua))
  csv:flush()
  return s
end

-- ---------------------------------------------------------------- setup ----
local stamp = ("%d-%d"):format(os.time(), PID)
local TOPIC = "soak-" .. stamp
local GROUP = "soak-group-" .. stamp
local CYCLE_GROUP = "soak-cycle-" .. stamp

local function engine_for(topics)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "soak", { max_buffered_records = 200000 })
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(GROUP, "soak"):topics(TOPIC))
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(CYCLE_GROUP, "soak"):topics(TOPIC))
  for _, t in ipairs(topics) do r:register_kafka_topic(t) end
  return assert(r:validate())
end

-- Runs only the alter of `kind` on the run's own topic: the list also holds alters of the
-- broker's other topics (other people's), which are never executed here.
local function exec_own(engine, kind)
  local ctx = engine:new_context()
  local alters = assert(fk.get_kafka_alters(ctx))
  for _, a in ipairs(alters) do
    if a.kind == kind and a.topic == TOPIC then return assert(a:exec(ctx)) end
  end
  error("no " .. kind .. " alter for " .. TOPIC)
end

do
  local e = engine_for({ fk.new_kafka_topic(TOPIC, "soak"):partitions(1):retention_ms(600000) })
  exec_own(e, "create_topic")
  e:close()
end

-- ---------------------------------------------------------------- phase 1 ----
local engine = engine_for({})
local pool = engine:kafka("soak")
local cg = assert(pool:consumer_group(GROUP))
local value = string.rep("v", 32)
local record = { topic = TOPIC, value = value }
local CHUNK = 5000
local every = math.max(CHUNK, math.floor(RECORDS / 40 / CHUNK) * CHUNK)
local consumed, produced, failed_produce = 0, 0, 0

local function consume_ready(timeout)
  local fetches = assert(cg:poll_fetches(timeout, 20000))
  local n = 0
  for rec in fetches:iter() do
    if #rec.value == #value then n = n + 1 end
  end
  consumed = consumed + n
  return n
end

io.write(("soak: phase 1: %d records to %s, consumed in the same process\n"):format(RECORDS, TOPIC))
sample("records", 0)
local phase1_start = now()
while produced < RECORDS do
  for _ = 1, CHUNK do
    local ok = pool:produce(record)
    if ok then produced = produced + 1 else failed_produce = failed_produce + 1 end
  end
  consume_ready(0)
  if produced % every == 0 then
    cg:commit_uncommitted_offsets()
    sample("records", produced)
  end
end
assert(pool:flush(120))
local deadline = now() + 300
while consumed < produced and now() < deadline do consume_ready(0.5) end
cg:commit_uncommitted_offsets()
local phase1_seconds = now() - phase1_start
collectgarbage("collect")
sample("records", produced)
cg:close()
io.write(("soak: phase 1: produced %d (%d refused, %d failed after acceptance), consumed %d in %.1f s\n")
  :format(produced, failed_produce, pool:unreported_failures(), consumed, phase1_seconds))

-- ---------------------------------------------------------------- phase 2 ----
local cycles_done = 0
local function cycle()
  local c = assert(pool:consumer_group(CYCLE_GROUP))
  c:close()
  cycles_done = cycles_done + 1
end

sample("cycles", 0)
local t0 = now()
for _ = 1, CALIBRATE do cycle() end
local rate = CALIBRATE / (now() - t0)
local planned = CYCLES
local scaled = ""
if CYCLES / rate > CYCLE_SECONDS then
  planned = math.max(CALIBRATE, math.floor(rate * CYCLE_SECONDS / 1000) * 1000)
  scaled = (" (scaled down from %d: %.0f cycles/s would take %.0f s)"):format(CYCLES, rate, CYCLES / rate)
end
io.write(("soak: phase 2: %d consumer_group()/close() cycles%s\n"):format(planned, scaled))
local step = math.max(1, math.floor(planned / 40))
local phase2_start = t0
while cycles_done < planned do
  cycle()
  if cycles_done % step == 0 then sample("cycles", cycles_done) end
end
local phase2_seconds = now() - phase2_start
collectgarbage("collect")
sample("cycles", cycles_done)

engine:close()
do
  local e = engine_for({ fk.new_kafka_topic("soak-anchor-" .. stamp, "soak") })   -- makes the pool managed
  exec_own(e, "delete_topic")
  e:close()
end
csv:close()

-- ---------------------------------------------------------------- summary ----
local function summary(phase, unit)
  local list = samples[phase]
  local from = list[math.max(1, math.floor(#list * WARMUP) + 1)]
  local last, max = list[#list], { rss = 0, fds = 0, threads = 0 }
  for _, s in ipairs(list) do
    for _, k in ipairs({ "rss", "fds", "threads" }) do if s[k] > max[k] then max[k] = s[k] end end
  end
  io.write(("soak: %s: after warm-up (%d %s) RSS %.1f MiB, fds %d, threads %d; at the end (%d %s) RSS %.1f MiB (%+.1f), fds %d (%+d), threads %d (%+d); max RSS %.1f MiB, fds %d, threads %d\n")
    :format(phase, from.done, unit, from.rss / 1024, from.fds, from.threads, last.done, unit, last.rss / 1024,
            (last.rss - from.rss) / 1024, last.fds, last.fds - from.fds, last.threads, last.threads - from.threads,
            max.rss / 1024, max.fds, max.threads))
end
io.write(("soak: phase 1 took %.1f s (%.0f records/s produced and consumed); phase 2 took %.1f s (%.1f cycles/s)\n")
  :format(phase1_seconds, produced / phase1_seconds, phase2_seconds, cycles_done / phase2_seconds))
summary("records", "records")
summary("cycles", "cycles")
io.write("soak: samples in " .. OUT .. "\n")
if consumed < produced then
  io.write(("soak: FAILED: consumed %d of %d records\n"):format(consumed, produced))
  os.exit(1)
end
