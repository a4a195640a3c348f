-- Shared by the specs: broker addresses, unique names, and waiting on real conditions.
local fk = require "fluxakafka"

local M = {}

M.brokers = {}
for b in (os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do M.brokers[#M.brokers + 1] = b end
M.sasl_brokers = { os.getenv("FK_TEST_SASL_BROKERS") or "127.0.0.1:9094" }

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
local counter = 0
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

-- An engine with one pool "events" and the given consumer groups (name -> topics list or
-- builder function). Returns engine, pool.
function M.engine(options, groups)
  local r = fk.new_registry()
  r:register_kafka(M.brokers, "events", options)
  for _, g in ipairs(groups or {}) do r:register_kafka_consumer_group(g) end
  local engine = assert(r:validate())
  return engine, engine:kafka("events")
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

return M
