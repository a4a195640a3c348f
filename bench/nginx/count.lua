-- luajit bench/nginx/count.lua BROKERS TOPIC EXPECTED: prints how many records the topic
-- holds, reading until EXPECTED arrived (or 60 s passed) and 1 s more for any extra.
-- With a 4th argument "wait": reads nothing, waits (up to 60 s) until the topic's high
-- watermarks add up to EXPECTED and prints their sum: the moment the broker has every
-- record, which ends a timed span without a consumer's work on the broker inside it.
local fk = require "fluxakafka"
local ffi = require "ffi"
ffi.cdef "int usleep(unsigned int usec);"
local brokers, topic, expected, mode = arg[1], arg[2], tonumber(arg[3]), arg[4]
local list = {}
for b in brokers:gmatch("[^,]+") do list[#list + 1] = b end
local group = "bench-count-" .. os.time() .. "-" .. math.random(1000000)
local r = fk.new_registry()
r:register_kafka(list, "events")
r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic))
local engine = assert(r:validate())

local function high_watermarks(pool, partitions)
  local sum = 0
  for _, p in ipairs(partitions) do
    sum = sum + select(2, assert(pool:watermarks(topic, p.id)))
  end
  return sum
end

local function wait_for_watermarks()
  local pool, deadline, n = engine:kafka("events"), os.time() + 60, 0
  local partitions = assert(pool:describe_topics({ topic }))[1].partitions
  repeat
    n = high_watermarks(pool, partitions)
    if n >= expected then break end
    ffi.C.usleep(20000)   -- a round trip to the broker every 20 ms at most
  until os.time() >= deadline
  return n
end

local function read_back()
  local cg = assert(engine:kafka("events"):consumer_group(group))
  local n, deadline, extra_until = 0, os.time() + 60, nil
  while os.time() < deadline do
    local fetches = assert(cg:poll_fetches(0.5))
    n = n + fetches:count()
    if n >= expected then
      extra_until = extra_until or (os.clock() + 1)
      if fetches:is_empty() then break end
    end
  end
  cg:close()
  return n
end

local n = mode == "wait" and wait_for_watermarks() or read_back()
engine:close()
print(n)
