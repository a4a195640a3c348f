--- resty.kafka.protocol.consumer served by fluxakafka: only the timestamps of
-- basic-consumer's list_offset that name a place instead of a time (Kafka's ListOffsets
-- values). The protocol itself is librdkafka's business.
return {
  LIST_OFFSET_TIMESTAMP_LAST = -1,    -- the offset the next record gets
  LIST_OFFSET_TIMESTAMP_FIRST = -2,   -- the first offset still stored
  LIST_OFFSET_TIMESTAMP_MAX = -3,     -- the record with the largest timestamp (Kafka 3.0+)
}
