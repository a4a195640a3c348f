-- Shared by the locations of client_control_spec.lua: an engine with one pool "events" on the
-- test brokers and a consumer group on one topic, or one registered topic.
local fk = require "fluxakafka"

local M = {}

local function registry()
  local brokers = {}
  for b in (os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do brokers[#brokers + 1] = b end
  local r = fk.new_registry()
  r:register_kafka(brokers, "events")
  return r
end

local function engine_of(r)
  local engine = assert(r:validate())
  return engine, engine:kafka("events")
end

-- start_offset: the group's, when given
function M.group_engine(topic, group, start_offset)
  local r = registry()
  local builder = fk.new_kafka_consumer_group(group, "events"):topics(topic)
  if start_offset then builder:start_offset(start_offset) end
  r:register_kafka_consumer_group(builder)
  return engine_of(r)
end

-- the topic registered with that many partitions (not created: that is for the alters)
function M.topic_engine(topic, partitions)
  local r = registry()
  r:register_kafka_topic(fk.new_kafka_topic(topic, "events"):partitions(partitions))
  return engine_of(r)
end

return M
