-- The records of a burst are staged and handed to librdkafka together (csrc/fk_stage.c).
-- What a user relies on: every record arrives, in the order produced, each reported once,
-- with no call needed after the last produce; records the batch call cannot carry keep their
-- place; a staged record librdkafka refuses is reported, never dropped.
local support = require "spec.support"
local fk = require "fluxakafka"

describe("staged produce", function()
  local engine, pool
  before_each(function() engine, pool = support.engine({ client_id = "spec-staging" }) end)
  after_each(function() engine:close() end)

  local read_back = support.read_back

  -- Produces n records (record(i)) through p, each with a callback; every one must fail with
  -- `code`, at once or through its callback. Returns the counts of each way, { at_once =,
  -- reported = }, which the callbacks keep adding to until they all ran.
  local function produce_refused(p, n, record, code)
    local count = { at_once = 0, reported = 0 }
    for i = 1, n do
      local ok, _, c = p:produce(record(i), function(_, err, cb_code)
        assert.is_not_nil(err)
        assert.are.equal(code, cb_code, tostring(err))
        count.reported = count.reported + 1
      end)
      if not ok then
        assert.are.equal(code, c)
        count.at_once = count.at_once + 1
      end
    end
    return count
  end

  local function values(records)
    local list = {}
    for i, rec in ipairs(records) do list[i] = rec.value end
    return list
  end

  it("hands over a burst's records in order with no call after the last produce", function()
    local topic = support.unique("staged-idle")
    assert(pool:produce_sync({ topic = topic, value = "first" }))   -- the topic exists
    local want = { "first" }
    for i = 1, 3000 do
      want[#want + 1] = "r" .. i
      assert(pool:produce({ topic = topic, value = "r" .. i }))
    end
    -- nothing more is asked of the pool: the stage's own thread hands over the tail
    assert.is_true(pool:_staged_batches() > 0, "the burst was not staged")
    local got = read_back(topic, #want)
    assert.are.same(want, values(got))
  end)

  it("keeps the place of records the batch call cannot carry", function()
    local topic = support.unique("staged-mixed")
    assert(pool:produce_sync({ topic = topic, value = "first" }))
    local sent = { { value = "first" } }
    for i = 1, 2000 do
      local rec = { topic = topic, value = "v" .. i }
      if i % 7 == 0 then rec.headers = { { key = "h", value = tostring(i) } } end
      if i % 11 == 0 then rec.partition = 0 end
      if i % 13 == 0 then rec.timestamp = 1700000000000 + i end
      if i % 17 == 0 then rec.value = nil end
      if i % 19 == 0 then rec.key = "" elseif i % 23 == 0 then rec.key = "k" .. i end
      if i % 29 == 0 then rec.value = ("x"):rep(5000) end   -- larger than a staged record
      sent[#sent + 1] = rec
      assert(pool:produce(rec))
    end
    assert.is_true(pool:_staged_batches() > 0, "the burst was not staged")
    local got = read_back(topic, #sent)
    assert.are.equal(#sent, #got)
    for i, rec in ipairs(sent) do
      local g = got[i]
      assert.are.equal(i - 1, g.offset)
      assert.are.equal(rec.value, g.value, "value of record " .. i)
      assert.are.equal(rec.key, g.key, "key of record " .. i)
      assert.are.same(rec.headers, g.headers, "headers of record " .. i)
      if rec.timestamp then assert.are.equal(rec.timestamp, g.timestamp) end
    end
  end)

  it("calls each staged record's callback once, in order, with its offset", function()
    local topic = support.unique("staged-callbacks")
    assert(pool:produce_sync({ topic = topic, value = "first" }))
    local offsets, failures = {}, 0
    for i = 1, 2000 do
      assert(pool:produce({ topic = topic, value = "c" .. i }, function(rec, err)
        if err then failures = failures + 1 end
        assert.are.equal("c" .. i, rec.value)
        assert.is_nil(offsets[i], "callback of record " .. i .. " ran twice")
        offsets[i] = rec.offset
      end))
    end
    assert.is_true(pool:_staged_batches() > 0, "the burst was not staged")
    assert.is_true(pool:flush(20))
    pool:poll(0)
    assert.are.equal(0, failures)
    for i = 1, 2000 do assert.are.equal(i, offsets[i], "offset of record " .. i) end
  end)

  it("reports a staged record librdkafka refuses through its callback, or counts and logs it", function()
    -- message.max.bytes 1000: records of 990 bytes fit a stage slot but not the producer
    local lines = {}
    local e, small = support.engine({ rdkafka = { ["message.max.bytes"] = 1000 },
                                      logger = function(_, _, msg) lines[#lines + 1] = msg end })
    local topic = support.unique("staged-refused")
    local value = ("z"):rep(990)
    local count = produce_refused(small, 500, function() return { topic = topic, value = value } end,
                                  "MSG_SIZE_TOO_LARGE")
    local before = small:unreported_failures()
    for _ = 1, 500 do
      local ok = small:produce({ topic = topic, value = value })
      if not ok then count.at_once = count.at_once + 1 end
    end
    assert.is_true(small:flush(10))
    small:poll(0)
    local at_once, reported = count.at_once, count.reported
    local counted = small:unreported_failures() - before
    assert.are.equal(1000, at_once + reported + counted)
    assert.is_true(reported + counted > 0, "no record was refused after staging")
    if counted > 0 then
      local logged = 0
      for _, line in ipairs(lines) do
        if line:find(topic, 1, true) and line:find("failed", 1, true) then logged = logged + 1 end
      end
      assert.are.equal(counted, logged)
    end
    e:close()
  end)

  it("a staged record to a partition that does not exist fails through its callback", function()
    local topic = support.unique("staged-partition")
    assert(pool:produce_sync({ topic = topic, value = "first" }))   -- 1 partition, known
    local count = produce_refused(pool, 300, function(i)
      return { topic = topic, value = "p" .. i, partition = 5 }
    end, "_UNKNOWN_PARTITION")
    assert.is_true(pool:flush(10))
    pool:poll(0)
    local at_once, reported = count.at_once, count.reported
    assert.are.equal(300, at_once + reported)
    assert.is_true(reported > 0, "no record was staged")
  end)

  it("closing hands over what is staged", function()
    local topic = support.unique("staged-close")
    local e, p = support.engine()
    assert(p:produce_sync({ topic = topic, value = "first" }))
    for i = 1, 3000 do assert(p:produce({ topic = topic, value = "z" .. i })) end
    e:close()
    assert.are.equal(3001, #read_back(topic, 3001))
  end)
end)
