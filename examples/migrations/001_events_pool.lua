-- The "events" pool and the consumer groups of the order service.
local registry = ...
local fk = require "fluxakafka"

local brokers = {}
for address in (os.getenv("FK_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do
  brokers[#brokers + 1] = address
end

registry:register_kafka(brokers, "events", {
  client_id = "order-service",
  -- topics and groups owned by other teams on the same cluster: exact names or `*` globs
  ignored_topics = { "legacy-clicks", "analytics-*" },
  ignored_consumer_groups = { "analytics-*" },
})

registry:register_kafka_consumer_group(
  fk.new_kafka_consumer_group("order-projector", "events"):topics("orders", "payments"))
registry:register_kafka_consumer_group(
  fk.new_kafka_consumer_group("payment-notifier", "events"):topics("payments"))
