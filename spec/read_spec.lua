-- pool:read: one partition read without a consumer group, from every form of start.
local support = require "spec.support"
local fk = require "fluxakafka"

local function offsets(recs)
  local out = {}
  for i, r in ipairs(recs) do out[i] = r.offset end
  return out
end

describe("pool:read", function()
  local engine, pool, topic
  local base = 1700000000000
  before_each(function()
    engine, pool = support.engine({ connect_timeout = 5 })
    topic = support.unique("read")
    local recs = {}
    for i = 1, 10 do
      recs[i] = { topic = topic, key = "k" .. i, value = "v" .. i, timestamp = base + i * 1000 }
    end
    assert.is_true(pool:produce_sync(unpack(recs)))
  end)
  after_each(function() engine:close() end)

  it("reads from an offset, the beginning, N before the end and a time, up to count", function()
    assert.are.same({ 3, 4, 5 }, offsets(assert(pool:read(topic, 0, 3, { count = 3 }))))
    assert.are.same({ 0, 1 }, offsets(assert(pool:read(topic, 0, "beginning", { count = 2 }))))
    assert.are.same({ 7, 8, 9 }, offsets(assert(pool:read(topic, 0, -3))))
    assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, offsets(assert(pool:read(topic, 0, -100))))
    assert.are.same({ 4, 5 }, offsets(assert(pool:read(topic, 0, { timestamp = base + 4500 }, { count = 2 }))))
    -- at the partition's end: nothing, after waiting the timeout for records
    assert.are.same({}, assert(pool:read(topic, 0, 10, { timeout = 0.2 })))
    assert.are.same({}, assert(pool:read(topic, 0, { timestamp = base + 60000 }, { timeout = 0.2 })))
    assert.are.same({}, assert(pool:read(topic, 0, 0, { count = 0 })))
    -- stops at the end as it was, well before the timeout
    local t0 = support.monotonic()
    assert.are.equal(10, #assert(pool:read(topic, 0, 0, { timeout = 20 })))
    assert.is_true(support.monotonic() - t0 < 10)
  end)

  it("hands out records shaped as a consumer group's, null values and headers included", function()
    local t2 = support.unique("read-shape")
    assert.is_true(pool:produce_sync(
      { topic = t2, key = "a", value = "x", headers = { { key = "h\0k", value = "v\0w" }, { key = "n" } } },
      { topic = t2, key = "b" },
      { topic = t2, value = "" }))
    local recs = assert(pool:read(t2, 0, "beginning"))
    assert.are.equal(3, #recs)
    assert.are.same({ { key = "h\0k", value = "v\0w" }, { key = "n" } }, recs[1].headers)
    assert.is_nil(recs[2].value)
    assert.are.equal("", recs[3].value)
    local r = fk.new_registry()
    local group = support.unique("read-shape-g")
    r:register_kafka(support.brokers, "events")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(t2))
    local e = assert(r:validate())
    local cg = assert(e:kafka("events"):consumer_group(group))
    local consumed = support.consume(cg, 3)
    cg:close()
    e:close()
    assert.are.same(consumed, recs)
  end)

  it("at the end, returns the records written while it waits", function()
    assert.are.same({}, assert(pool:read(topic, 0, "end", { timeout = 0.2 })))
    -- the end as an offset: "end" itself would race the record written below
    local job = assert(pool:_read_start("read", topic, 0, 10, { timeout = 20 }))
    assert.is_true(pool:produce_sync({ topic = topic, value = "later" }))
    assert.is_true(job:_wait(30))
    local recs = assert(job:_result())
    assert.are.equal(1, #recs)
    assert.are.equal("later", recs[1].value)
    assert.are.equal(10, recs[1].offset)
  end)

  it("fails naming an offset out of range, a topic or partition that does not exist", function()
    local ok, err, code = pool:read(topic, 0, 11)
    assert.is_nil(ok)
    assert.matches("offset 11 is out of range: the partition holds offsets 0 to 9 (10 is its end)", err, 1, true)
    assert.are.equal("OFFSET_OUT_OF_RANGE", code)
    ok, err, code = pool:read(topic .. "-missing", 0, 0)
    assert.is_nil(ok)
    assert.matches("topic '" .. topic .. "-missing' does not exist", err, 1, true)
    assert.are.equal("UNKNOWN_TOPIC_OR_PART", code)
    ok, err, code = pool:read(topic, 3, "beginning")
    assert.is_nil(ok)
    assert.matches("topic '" .. topic .. "' has no partition 3 (it has 1)", err, 1, true)
    assert.are.equal("_UNKNOWN_PARTITION", code)
  end)

  it("a read given up is cancelled and freed", function()
    local job = assert(pool:_read_start("read", topic, 0, "end", { timeout = 30 }))
    local t0 = support.monotonic()
    job = nil   -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_true(support.monotonic() - t0 < 5)
  end)

  it("raises on misuse and on a closed pool", function()
    assert.has_error(function() pool:read(1, 0, 0) end, "read: argument #1 'topic' must be a non-empty string, got number")
    assert.has_error(function() pool:read("t", -1, 0) end, "read: argument #2 'partition' must be a partition number (0 or more)")
    assert.has_error(function() pool:read("t", 0, "middle") end,
      "read: argument #3 'start' must be an offset (0 or more), -N (N records before the end), \"beginning\", \"end\" or { timestamp = ms }, got \"middle\"")
    assert.has_error(function() pool:read("t", 0, 0, { size = 1 }) end, "read: unknown option 'size' (known: count, timeout)")
    assert.has_error(function() pool:read("t", 0, 0, { count = -1 }) end,
      "read: option 'count' must be a number of records from 0 to 1000000")
    pool:close()
    assert.has_error(function() pool:read("t", 0, 0) end, "read: kafka pool 'events' is closed")
  end)
end)
