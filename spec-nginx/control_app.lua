-- Shared by the locations of client_control_spec.lua: an engine with one pool "events" on the
-- test brokers and a consumer group on one topic.
local fk = require "fluxakafka"

local M = {}

function M.group_engine(topic, group)
  local brokers = {}
  for b in (os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do brokers[#brokers + 1] = b end
  local r = fk.new_registry()
  r:register_kafka(brokers, "events")
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic))
  local engine = assert(r:validate())
  return engine, engine:kafka("events")
end

return M
