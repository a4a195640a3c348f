-- produce_sync never waits longer than the delivery timeout it reports: librdkafka fails a
-- timed-out record only when its once-a-second scanner runs (later still while no broker
-- is reachable), so the wait enforces the bound itself.
local support = require "spec.support"
local fk = require "fluxakafka"

local MARGIN = 0.4   -- seconds: one poll interval (0.1 s) and a slow, shared machine; less
                     -- than librdkafka's scan interval, which the bound must not depend on

local function unreachable_pool(delivery_timeout)
  local r = fk.new_registry()
  r:register_kafka({ "127.0.0.1:1" }, "down", { delivery_timeout = delivery_timeout,
    -- longer than the delivery timeout: the bound under test is the delivery timeout, not the
    -- earlier "all brokers down" verdict (spec/newcomer_spec.lua checks that one)
    connect_timeout = 60 })
  local engine = assert(r:validate())
  return engine, engine:kafka("down")
end

describe("produce_sync with every broker down", function()
  for _, timeout in ipairs({ 1.5, 3 }) do
    it(("returns nil, err, _MSG_TIMED_OUT within a delivery timeout of %g s"):format(timeout), function()
      local engine, pool = unreachable_pool(timeout)
      finally(function() engine:close(0) end)
      local started = support.now()
      local x, y = { topic = support.unique("down"), value = "x" }, { topic = support.unique("down"), value = "y" }
      local ok, err, code = pool:produce_sync(x, y)
      local took = support.now() - started
      assert.is_nil(ok)
      assert.are.equal("_MSG_TIMED_OUT", code)
      -- given up on while librdkafka still holds them ("possibly": they may yet be written),
      -- or failed by librdkafka's own verdict at the same moment ("no": never sent)
      for _, rec in ipairs({ x, y }) do
        assert.is_truthy(rec.persisted == "possibly" or rec.persisted == "no", tostring(rec.persisted))
      end
      assert.matches("produce to '", err, 1, true)
      assert.is_true(took <= timeout + MARGIN, ("produce_sync took %.2f s for a timeout of %g s"):format(took, timeout))
      -- it did wait for the delivery, not fail at once
      assert.is_true(took >= timeout * 0.5 - 0.05, ("produce_sync gave up after %.2f s"):format(took))
    end)
  end

  it("a record with a callback fails at its delivery timeout, not before, and never left the client", function()
    local engine, pool = unreachable_pool(1.5)
    finally(function() engine:close(0) end)
    local started, failed_at, got = support.now(), nil, nil
    assert(pool:produce({ topic = support.unique("down"), value = "x" }, function(rec, err, code)
      failed_at, got = support.now(), { err = err, code = code, persisted = rec.persisted }
    end))
    while not failed_at and support.now() - started < 10 do pool:poll(0.05) end
    assert.is_truthy(got, "no callback")
    assert.are.equal("_MSG_TIMED_OUT", got.code, got.err)
    assert.are.equal("no", got.persisted)
    -- librdkafka's scan (once a second) may come up to a second late, never early
    local took = failed_at - started
    assert.is_true(took >= 1.5 and took <= 1.5 + 1 + MARGIN, ("failed after %.2f s"):format(took))
  end)

  it("reports a late delivery of the records it gave up on through the pool, not as a crash", function()
    local engine, pool = unreachable_pool(1)
    local ok, _, code = pool:produce_sync({ topic = support.unique("down"), value = "x" })
    assert.is_nil(ok)
    assert.are.equal("_MSG_TIMED_OUT", code)
    collectgarbage("collect")   -- the batch is released while librdkafka may still hold its record
    pool:flush(3)   -- librdkafka's own timeout (the same, seen by its scan a second later at most) ends it
    assert.are.equal(0, pool:in_flight())
    engine:close(0)
  end)
end)
