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
      local ok, err, code = pool:produce_sync({ topic = support.unique("down"), value = "x" },
                                              { topic = support.unique("down"), value = "y" })
      local took = support.now() - started
      assert.is_nil(ok)
      assert.are.equal("_MSG_TIMED_OUT", code)
      assert.matches("produce to '", err, 1, true)
      assert.is_true(took <= timeout + MARGIN, ("produce_sync took %.2f s for a timeout of %g s"):format(took, timeout))
      -- it did wait for the delivery, not fail at once
      assert.is_true(took >= timeout * 0.5 - 0.05, ("produce_sync gave up after %.2f s"):format(took))
    end)
  end

  it("reports a late delivery of the records it gave up on through the pool, not as a crash", function()
    local engine, pool = unreachable_pool(1)
    local ok, _, code = pool:produce_sync({ topic = support.unique("down"), value = "x" })
    assert.is_nil(ok)
    assert.are.equal("_MSG_TIMED_OUT", code)
    collectgarbage("collect")   -- the batch is released while librdkafka may still hold its record
    pool:flush(3)   -- librdkafka's own timeout (shorter by up to one scan) ends the record
    assert.are.equal(0, pool:in_flight())
    engine:close(0)
  end)
end)
