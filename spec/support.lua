-- Shared by the specs: broker addresses, unique names, and waiting on real conditions.
local fk = require "fluxakafka"

local M = {}

M.brokers = {}
for b in (os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do M.brokers[#M.brokers + 1] = b end
M.sasl_brokers = { os.getenv("FK_TEST_SASL_BROKERS") or "127.0.0.1:9094" }

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
local counter = 0
-- The test broker's Kafka major version (FK_TEST_KAFKA_VERSION, set by scripts/with-kafka.sh).
function M.kafka_major()
  return tonumber((os.getenv("FK_TEST_KAFKA_VERSION") or "3.9.1"):match("^(%d+)"))
end

-- Whether the librdkafka loaded in this process is at least major.minor.patch.
function M.librdkafka_at_least(major, minor, patch)
  local a, b, c = require("fluxakafka").librdkafka_version():match("^(%d+)%.(%d+)%.(%d+)")
  return tonumber(a) * 1000000 + tonumber(b) * 1000 + tonumber(c) >= major * 1000000 + minor * 1000 + patch
end

-- Kafka 4 refuses SCRAM logins from librdkafka before 2.6.1.
function M.scram_refused()
  return M.kafka_major() >= 4 and not M.librdkafka_at_least(2, 6, 1)
end

function M.unique(prefix)
  counter = counter + 1
  return ("%s-%d-%d-%d"):format(prefix, os.time(), counter, math.random(100000, 999999))
end

local function now()
  local f = io.popen("date +%s.%N")
  local t = tonumber(f:read("*l"))
  f:close()
  return t
end
M.now = now

-- Seconds on the monotonic clock, without a process per reading; the same clock in every
-- process of the machine, so child processes can stamp what they write with it. (LuaJIT.)
local has_ffi, ffi = pcall(require, "ffi")
if has_ffi then
  ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } fk_spec_timespec;
  int clock_gettime(int clk, fk_spec_timespec *ts);
  int poll(void *fds, unsigned long nfds, int timeout);
  ]]
  local timespec = ffi.new("fk_spec_timespec")
  function M.monotonic()
    ffi.C.clock_gettime(1, timespec)
    return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
  end

  function M.sleep_ms(ms) ffi.C.poll(nil, 0, ms) end
end

-- A file's text, "" when it cannot be read (not written yet).
function M.read_file(path)
  local f = io.open(path)
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

-- For the specs' child processes: their own pid, and an async SQL consumer (options as
-- get_async_sql_consumer's) on a pool `code` of the brokers in `csv` ("host:port,...").
function M.pid() return tonumber(M.read_file("/proc/self/stat"):match("^(%d+)")) end

function M.async_sql_consumer(csv, code, options)
  local list = {}
  for b in csv:gmatch("[^,]+") do list[#list + 1] = b end
  local r = fk.new_registry()
  r:register_kafka(list, code)
  r:register_async_flush(code)
  local engine = assert(r:validate())
  return assert(engine:new_context():get_async_sql_consumer(options)), engine
end

function M.exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- An engine with one pool "events" and the given consumer groups (name -> topics list or
-- builder function). Returns engine, pool.
function M.engine(options, groups)
  local r = fk.new_registry()
  r:register_kafka(M.brokers, "events", options)
  for _, g in ipairs(groups or {}) do r:register_kafka_consumer_group(g) end
  local engine = assert(r:validate())
  return engine, engine:kafka("events")
end

-- Reads partition 0 of `topic` from the beginning through an engine of its own, until `want`
-- records came or `seconds` (default 20) passed; returns the records.
function M.read_back(topic, want, seconds)
  local e, reader = M.engine()
  local got, deadline = {}, M.monotonic() + (seconds or 20)
  while #got < want and M.monotonic() < deadline do
    for _, rec in ipairs(assert(reader:read(topic, 0, #got, { count = want - #got, timeout = 1 }))) do
      got[#got + 1] = rec
    end
  end
  e:close()
  return got
end

-- Polls until `want` records arrived or `seconds` passed; returns the records.
function M.consume(cg, want, seconds)
  local got, deadline = {}, os.time() + (seconds or 30)
  while #got < want and os.time() <= deadline do
    local fetches = assert(cg:poll_fetches(0.5))
    for rec in fetches:iter() do got[#got + 1] = rec end
  end
  return got
end

-- Polls for `seconds` and returns every record seen (for "nothing arrives" checks).
function M.drain(cg, seconds)
  local got, deadline = {}, now() + seconds
  while now() < deadline do
    local fetches = assert(cg:poll_fetches(0.2))
    for rec in fetches:iter() do got[#got + 1] = rec end
  end
  return got
end

-- Creates `topic` with `partitions` partitions and the given configs through the alters.
function M.create_topic(topic, partitions, configs)
  local r = fk.new_registry()
  r:register_kafka(M.brokers, "events")
  local t = fk.new_kafka_topic(topic, "events"):partitions(partitions)
  for k, v in pairs(configs or {}) do t:config(k, v) end
  r:register_kafka_topic(t)
  local e = assert(r:validate())
  local ctx = e:new_context()
  for _, alter in ipairs(assert(fk.get_kafka_alters(ctx))) do
    if alter.description:find(topic, 1, true) then assert(alter:exec(ctx)) end
  end
  e:close()
end

return M
