-- luajit bench/nginx/count.lua BROKERS TOPIC EXPECTED: prints how many records the topic
-- holds, reading until EXPECTED arrived (or 60 s passed) and 1 s more for any extra.
local fk = require "fluxakafka"
local brokers, topic, expected = arg[1], arg[2], tonumber(arg[3])
local list = {}
for b in brokers:gmatch("[^,]+") do list[#list + 1] = b end
local group = "bench-count-" .. os.time() .. "-" .. math.random(1000000)
local r = fk.new_registry()
r:register_kafka(list, "events")
r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic))
local engine = assert(r:validate())
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
engine:close()
print(n)
