-- Child of group_protocol_spec.lua: opens members of one cooperative-sticky group and closes
-- each at a different point of its join (before, during and after its first assignment),
-- ROUNDS times, then prints "done". A process abort shows as its exit status.
-- arg: brokers topic group rounds
local fk = require "fluxakafka"
local brokers, topic, group, rounds = arg[1], arg[2], arg[3], tonumber(arg[4])
local list = {}
for b in brokers:gmatch("[^,]+") do list[#list + 1] = b end
local r = fk.new_registry()
r:register_kafka(list, "join")
r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "join"):topics(topic):session_timeout(6))
local engine = assert(r:validate())
local pool = engine:kafka("join")
assert(pool:produce_sync({ topic = topic, key = "k", value = "v" }))   -- the broker creates the topic
for round = 1, rounds do
  local members = {}
  for i = 1, 3 do
    members[i] = assert(pool:consumer_group(group))
    -- the members poll for different times: some are closed before the group answered their
    -- JoinGroup, some between their JoinGroup and SyncGroup answers, some once assigned
    assert(members[i]:poll_fetches(((round + i) % 6) * 0.1))
  end
  for i = 3, 1, -1 do members[i]:close() end
end
engine:close()
print("done")
