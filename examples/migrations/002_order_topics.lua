-- Topics of the order service. Changing a number here and running `fluxakafka apply`
-- alters the live topic; removing a topic deletes it (with --allow-delete).
local registry = ...
local fk = require "fluxakafka"

registry:register_kafka_topic(
  fk.new_kafka_topic("orders", "events")
    :partitions(6)
    :replication_factor(1)
    :retention_ms(7 * 24 * 3600 * 1000)
    :cleanup_policy("delete"))

registry:register_kafka_topic(
  fk.new_kafka_topic("payments", "events")
    :partitions(3)
    :replication_factor(1)
    :retention_bytes(1073741824)
    :compression_type("lz4"))

registry:register_kafka_topic(
  fk.new_kafka_topic("order-snapshots", "events")
    :partitions(3)
    :cleanup_policy("compact")
    :config("min.cleanable.dirty.ratio", "0.1"))
