-- Quick start: register a pool and a consumer group, produce records, consume them back
-- and commit. Run with `make demo` (it starts a local broker), or against your own broker:
--   FK_BROKERS=host:9092 luajit examples/quickstart.lua
local fk = require "fluxakafka"

local brokers = {}
for address in (os.getenv("FK_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do
  brokers[#brokers + 1] = address
end
math.randomseed(os.time())
local run = os.time() .. "-" .. math.random(1000, 9999)
local topic = "quickstart-orders-" .. run
local group = "quickstart-group-" .. run

print(("fluxakafka %s on librdkafka %s"):format(fk.VERSION, fk.librdkafka_version()))

local registry = fk.new_registry()
registry:register_kafka(brokers, "events", { client_id = "fluxakafka-quickstart" })
registry:register_kafka_consumer_group(
  fk.new_kafka_consumer_group(group, "events"):topics(topic):session_timeout(10))
local engine = assert(registry:validate())
local pool = engine:kafka("events")
print(("pool '%s' -> %s"):format(pool:get_code(), table.concat(pool:get_brokers(), ",")))

-- Synchronous produce: returns when the broker has acknowledged every record.
assert(pool:produce_sync(
  { topic = topic, key = "order-1", value = '{"status":"created"}',
    headers = { { key = "source", value = "quickstart" } } },
  { topic = topic, key = "order-2", value = '{"status":"created"}' }))
print("produce_sync: 2 records acknowledged")

-- Asynchronous produce: callbacks run inside poll/flush on this thread.
local delivered = 0
for i = 3, 5 do
  assert(pool:produce({ topic = topic, key = "order-" .. i, value = '{"status":"shipped"}' },
    function(record, err)
      assert(not err, err)
      delivered = delivered + 1
      print(("delivered %s to partition %d at offset %d"):format(record.key, record.partition, record.offset))
    end))
end
assert(pool:flush(10))
print(("flush: %d async records delivered"):format(delivered))

-- Consume: a new group starts at the earliest record; offsets are committed explicitly.
local cg = assert(pool:consumer_group(group))
local received, deadline = 0, os.time() + 30
while received < 5 and os.time() < deadline do
  local fetches = cg:poll_fetches(1)
  fetches:each_error(function(t, partition, err) print("fetch error", t, partition, err) end)
  for record in fetches:iter() do
    received = received + 1
    print(("consumed %s = %s (partition %d, offset %d)"):format(record.key, record.value,
      record.partition, record.offset))
  end
end
assert(received == 5, ("expected 5 records, got %d"):format(received))
assert(cg:commit_uncommitted_offsets())
print("offsets committed")
cg:close()
engine:close()
print("done")
