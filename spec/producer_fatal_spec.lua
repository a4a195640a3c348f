-- A producer's fatal error (issue 21): librdkafka ends a producer for good after one (an
-- idempotent producer's OUT_OF_ORDER_SEQUENCE_NUMBER, say), and the application is to replace
-- it. A pool survives it: the records the error failed are reported to their callbacks with
-- _FATAL and whether they may be in the topic, the logger hears of it, and later records go
-- through a new producer. A transactional pool keeps its producer and says "fatal" instead.
-- Under toxiproxy the error did not come (make test-netfaults), so librdkafka's own test hook
-- raises it here, on a producer talking to the real broker.
local support = require "spec.support"
local fk = require "fluxakafka"
local ffi = require "ffi"

ffi.cdef [[
typedef struct fk_spec_pool_ud { int finalized; void *pool; } fk_spec_pool_ud;
void *fk_pool_rd_kafka(void *p, int sync);
int rd_kafka_test_fatal_error(void *rk, int err, const char *reason);
]]
local core = ffi.load(package.searchpath("fluxakafka.core", package.cpath))
local rdkafka = ffi.load("rdkafka.so.1")
local OUT_OF_ORDER_SEQUENCE_NUMBER = 45

-- the pool's producer, as the C core holds it now
local function producer_of(pool, sync)
  local ud = ffi.cast("fk_spec_pool_ud *", pool:_ptr())
  local rk = core.fk_pool_rd_kafka(ud.pool, sync and 1 or 0)
  assert(rk ~= nil, "the pool has no producer yet")
  return rk
end

local function raise_fatal(pool, sync)
  assert.are.equal(0, rdkafka.rd_kafka_test_fatal_error(producer_of(pool, sync), OUT_OF_ORDER_SEQUENCE_NUMBER,
                                                        "raised by producer_fatal_spec"))
end

local function pool_with(options)
  local r = fk.new_registry()
  r:register_kafka(support.brokers, "p", options)
  local engine = assert(r:validate())
  return engine, engine:kafka("p")
end

-- produces n records with callbacks; returns the results table, filled as callbacks run
local function produce_n(pool, topic, n, tag)
  local results = { count = 0 }
  for i = 1, n do
    assert(pool:produce({ topic = topic, key = tag .. i, value = tag }, function(rec, err, code)
      results.count = results.count + 1
      results[#results + 1] = { key = rec.key, err = err, code = code, persisted = rec.persisted }
    end))
  end
  return results
end

local function wait_callbacks(pool, results, n)
  local deadline = support.now() + 20
  while results.count < n and support.now() < deadline do pool:poll(0.05) end
  assert.are.equal(n, results.count, "callbacks")
end

describe("a producer's fatal error", function()
  it("fails the records it caught with _FATAL and their persisted status, is logged, and the pool produces on", function()
    local lines = {}
    local engine, pool = pool_with({ idempotent = true, producer_linger = 0.5,
      logger = function(level, facility, message) lines[#lines + 1] = { level, facility, message } end })
    finally(function() engine:close(5) end)
    local topic = support.unique("fatal")
    -- the producer exists and has reached the broker
    wait_callbacks(pool, produce_n(pool, topic, 1, "first"), 1)
    local caught = produce_n(pool, topic, 20, "caught")   -- lingering: still queued
    raise_fatal(pool)
    wait_callbacks(pool, caught, 20)
    for _, r in ipairs(caught) do
      assert.are.equal("_FATAL", r.code, r.err)
      assert.matches("produce to '" .. topic .. "' failed", r.err, 1, true)
      -- queued, never sent: librdkafka says so
      assert.are.equal("no", r.persisted)
    end
    local logged
    for _, l in ipairs(lines) do
      if l[3]:find("fatal error (OUT_OF_ORDER_SEQUENCE_NUMBER", 1, true) then logged = l end
    end
    assert.is_truthy(logged, "the logger did not hear of the fatal error")
    assert.is_true(logged[1] <= 3, "logged at level " .. tostring(logged[1]))

    -- later records go through a new producer, callbacks and produce_sync alike
    local after = produce_n(pool, topic, 20, "after")
    wait_callbacks(pool, after, 20)
    for _, r in ipairs(after) do
      assert.is_nil(r.err)
      assert.are.equal("yes", r.persisted)
    end
    local rec = { topic = topic, value = "sync" }
    assert(pool:produce_sync(rec))
    assert.are.equal("yes", rec.persisted)
    assert.are.equal(0, pool:unreported_failures())
  end)

  it("a record produced before the error was served still goes through (produce_sync, no poll between)", function()
    local engine, pool = pool_with({ idempotent = true, producer_linger = 0,
      logger = function() end })
    finally(function() engine:close(5) end)
    local topic = support.unique("fatal-sync")
    assert(pool:produce_sync({ topic = topic, value = "before" }))
    raise_fatal(pool)
    local started = support.now()
    local rec = { topic = topic, value = "after" }
    local ok, err = pool:produce_sync(rec)
    assert.is_true(ok, err)
    assert.are.equal("yes", rec.persisted)
    assert.is_true(support.now() - started < 5, "produce_sync took " .. (support.now() - started) .. " s")
  end)

  it("a transactional pool keeps its producer: its records fail _FATAL, it is not replaced behind the transaction", function()
    local engine, pool = pool_with({ transactional_id = support.unique("fatal-txid"), logger = function() end })
    finally(function() engine:close(5) end)
    local topic = support.unique("fatal-tx")
    assert(pool:begin_transaction())
    assert(pool:produce_sync({ topic = topic, value = "in" }))
    local rk = producer_of(pool)
    raise_fatal(pool)
    for _ = 1, 2 do
      local ok, err, code = pool:produce_sync({ topic = topic, value = "after" })
      assert.is_nil(ok)
      assert.are.equal("_FATAL", code, err)
      pool:poll(0.1)
    end
    assert.are.equal(rk, producer_of(pool))
  end)
end)
