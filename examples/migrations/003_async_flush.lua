-- FluxaORM's async SQL flush travels through Kafka: this registers its topic, its
-- dead-letter topic and its consumer group on the "events" pool.
local registry = ...
registry:register_async_flush("events", { topic_partitions = 6 })
