-- Closing, double closing, calls on closed objects and forgotten objects.
local support = require "spec.support"
local fk = require "fluxakafka"

describe("lifetimes", function()
  it("closing twice is harmless and calls after close raise a clear error", function()
    local topic, group = support.unique("life"), support.unique("life-group")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local cg = assert(pool:consumer_group(group))
    cg:close()
    cg:close()
    assert.is_true(cg:is_closed())
    for _, call in ipairs({
      function() cg:poll_fetches(0) end,
      function() cg:commit_uncommitted_offsets() end,
      function() cg:get_rdkafka_handle() end,
    }) do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.matches("closed", err)
    end
    pool:close()
    pool:close()
    local ok, err = pcall(pool.produce, pool, { topic = topic, value = "x" })
    assert.is_false(ok)
    assert.matches("kafka pool 'events' is closed", err, 1, true)
    ok, err = pcall(pool.produce_sync, pool, { topic = topic, value = "x" })
    assert.is_false(ok)
    assert.matches("closed", err)
    engine:close()
    engine:close()
  end)

  it("fetches of a closed consumer group refuse to hand out released records", function()
    local topic, group = support.unique("life"), support.unique("life-group")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    assert(pool:produce_sync({ topic = topic, value = "x" }))
    local cg = assert(pool:consumer_group(group))
    local fetches, deadline = nil, os.time() + 30
    repeat fetches = cg:poll_fetches(1) until not fetches:is_empty() or os.time() > deadline
    assert.is_false(fetches:is_empty())
    cg:close()
    -- either nothing (the records were released) or a clear error; never stale memory
    for _, method in ipairs({ "records", "is_empty" }) do
      local ok, res = pcall(fetches[method], fetches)
      if ok then
        if method == "records" then assert.are.same({}, res) end
      else
        assert.matches("closed", res)
      end
    end
    local ok, err = pcall(function() for _ in fetches:iter() do end end)
    if not ok then assert.matches("closed", err) end
    engine:close()
  end)

  it("fetches that outlive a forgotten consumer group are collected safely", function()
    local topic, group = support.unique("life"), support.unique("life-group")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    finally(function() engine:close() end)
    assert(pool:produce_sync({ topic = topic, value = "x" }))
    local fetches
    do
      local cg = assert(pool:consumer_group(group))
      local deadline = os.time() + 30
      repeat fetches = cg:poll_fetches(1) until not fetches:is_empty() or os.time() > deadline
      assert.is_false(fetches:is_empty())
    end
    collectgarbage("collect")
    collectgarbage("collect")
    local ok, res = pcall(fetches.records, fetches)
    if ok then
      -- the fetches kept their group alive: the record must still be intact
      assert.are.equal(1, #res)
      assert.are.equal("x", res[1].value)
    else
      assert.matches("closed", res)
    end
    fetches = nil
    collectgarbage("collect")
  end)

  it("pool:close leaves its consumer groups open and working", function()
    local topic, group = support.unique("life"), support.unique("life-group")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    finally(function() engine:close() end)
    assert(pool:produce_sync({ topic = topic, value = "first" }))
    local cg = assert(pool:consumer_group(group))
    finally(function() cg:close() end)
    assert.are.equal("first", support.consume(cg, 1)[1].value)
    assert(pool:produce_sync({ topic = topic, value = "before close" }))
    pool:close()
    local got = support.consume(cg, 1)
    assert.are.equal(1, #got)
    assert.are.equal("before close", got[1].value)
    assert.is_true(cg:commit_uncommitted_offsets())
    -- new clients need the producer's pool: it is closed now
    local ok, other, err = pcall(pool.consumer_group, pool, group)
    if not ok then
      assert.matches("closed", other)   -- raised: must say why
    elseif other then
      other:close()                     -- or it still makes clients: fine too
    else
      assert.is_string(err)             -- or nil, err
    end
  end)

  it("close reports every buffered record to its callback", function()
    local topic = support.unique("close")
    local engine, pool = support.engine()
    local calls, failures = 0, 0
    for i = 1, 100 do
      assert(pool:produce({ topic = topic, value = tostring(i) }, function(_, err)
        calls = calls + 1
        if err then failures = failures + 1 end
      end))
    end
    pool:close()
    assert.are.equal(100, calls)
    assert.are.equal(0, failures)
    engine:close()
  end)

  it("close with no time left fails what is buffered, through the callbacks", function()
    local engine, pool = support.engine({ delivery_timeout = 30 })
    -- a broker that does not exist: nothing can be delivered
    local r = fk.new_registry()
    r:register_kafka({ "127.0.0.1:1" }, "nowhere")
    local dead_engine = assert(r:validate())
    local dead = dead_engine:kafka("nowhere")
    local codes = {}
    for i = 1, 10 do
      assert(dead:produce({ topic = "t", value = tostring(i) }, function(_, err, code)
        codes[#codes + 1] = code
        assert.is_string(err)
      end))
    end
    dead:close(0)
    assert.are.equal(10, #codes)
    assert.matches("PURGE", codes[1])
    dead_engine:close()
    engine:close()
  end)

  it("forgotten engines and consumer groups are collected without blocking for long", function()
    local topic, group = support.unique("gc"), support.unique("gc-group")
    do
      local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
      assert(pool:produce_sync({ topic = topic, value = "x" }))
      assert(pool:produce({ topic = topic, value = "pending" }))
      local cg = assert(pool:consumer_group(group))
      cg:poll_fetches(0)
    end
    local started = support.now()
    collectgarbage("collect")
    collectgarbage("collect")
    local took = support.now() - started
    assert.is_true(took < 5, ("collection took %.1f s"):format(took))
  end)
end)
