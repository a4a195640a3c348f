-- The assignment protocol of consumer groups against the real broker: cooperative-sticky by
-- default (what FluxaORM's Go services, on franz-go, join with), another strategy when
-- builder:rdkafka or the pool's rdkafka option chooses one, and a member the group refuses
-- saying so from poll_fetches and the async SQL consumer's consume instead of going quiet.
local fk = require "fluxakafka"
local support = require "spec.support"
local probe = require "spec.rdkafka_probe"
local core = require "fluxakafka.core"
-- commits exactly these offsets, as the async SQL consumer does
local function commit_offsets(cg, offsets) return require("fluxakafka.async_sql").commit_offsets(core, cg, offsets) end

local EAGER = { ["partition.assignment.strategy"] = "range,roundrobin" }

-- Polls every group given (others only keep their membership) until cg has partitions.
local function await_partitions(cg, others)
  local deadline = os.time() + 30
  repeat
    assert(cg:poll_fetches(0.1))
    for _, o in ipairs(others or {}) do assert(o:poll_fetches(0.1)) end
  until #assert(cg:assignment()) > 0 or os.time() > deadline
  return assert(cg:assignment())
end

-- Polls until poll_fetches fails (bounded); returns its err, code.
local function await_refusal(cg, holder)
  local deadline = os.time() + 30
  while os.time() <= deadline do
    local fetches, err, code = cg:poll_fetches(0.2)
    if not fetches then return err, code end
    assert(holder:poll_fetches(0))
  end
  error("poll_fetches never failed within 30 s")
end

describe("consumer group protocol", function()
  local engines = {}
  local function engine_with(groups, pool_options)
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events", pool_options)
    for _, g in ipairs(groups) do r:register_kafka_consumer_group(g) end
    local e = assert(r:validate())
    engines[#engines + 1] = e
    return e, e:kafka("events")
  end
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
  end)

  it("is cooperative-sticky by default; builder:rdkafka chooses another", function()
    local topic, group = support.unique("proto"), support.unique("proto-g")
    local _, pool = engine_with({
      fk.new_kafka_consumer_group(group, "events"):topics(topic),
      fk.new_kafka_consumer_group(group .. "-eager", "events"):topics(topic):rdkafka(EAGER),
    })
    assert.is_true(pool:produce_sync({ topic = topic, value = "x" }))
    local cooperative, eager = assert(pool:consumer_group(group)), assert(pool:consumer_group(group .. "-eager"))
    await_partitions(cooperative)
    await_partitions(eager)
    assert.are.equal("COOPERATIVE", probe.rebalance_protocol(cooperative:get_rdkafka_handle()))
    assert.are.equal("EAGER", probe.rebalance_protocol(eager:get_rdkafka_handle()))
    -- only what was given shows: the default is fluxakafka's, not a property of the group
    assert.are.same({}, cooperative:get_settings().rdkafka)
    cooperative:close()
    eager:close()
  end)

  it("a member refused by the group gets nil, err, INCONSISTENT_GROUP_PROTOCOL from every poll until it can join", function()
    local topic, group = support.unique("proto-mix"), support.unique("proto-mix-g")
    -- two pools, each with its own builder of the same group: the default, and eager
    local _, coop_pool = engine_with({ fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local _, eager_pool = engine_with({ fk.new_kafka_consumer_group(group, "events"):topics(topic):rdkafka(EAGER) })
    assert.is_true(coop_pool:produce_sync({ topic = topic, value = "before" }))
    local holder = assert(coop_pool:consumer_group(group))
    await_partitions(holder)
    local refused = assert(eager_pool:consumer_group(group))
    local err, code = await_refusal(refused, holder)
    assert.are.equal("INCONSISTENT_GROUP_PROTOCOL", code)
    assert.matches("kafka consumer group '" .. group .. "' cannot consume", err, 1, true)
    assert.matches("partition.assignment.strategy", err, 1, true)
    -- it does not go quiet: polls that find nothing keep saying why
    for _ = 1, 3 do
      local fetches, again_err, again_code = refused:poll_fetches(0.2)
      assert.is_nil(fetches)
      assert.are.equal("INCONSISTENT_GROUP_PROTOCOL", again_code, again_err)
    end
    -- once the group is empty the eager member forms it anew and consumes
    holder:close()
    local got, deadline = {}, os.time() + 30
    while #got == 0 and os.time() <= deadline do
      local fetches = refused:poll_fetches(0.5)
      for rec in (fetches and fetches:iter() or function() end) do got[#got + 1] = rec.value end
    end
    assert.are.same({ "before" }, got)
    refused:close()
  end)

  it("the async SQL consumer refused by the group returns nil, err, INCONSISTENT_GROUP_PROTOCOL from consume", function()
    local topic, group = support.unique("proto-asql"), support.unique("proto-asql-g")
    local _, coop_pool = engine_with({ fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local r = fk.new_registry()
    -- the async SQL consumer has no builder: a pool's rdkafka option chooses for its groups
    r:register_kafka(support.brokers, "events", { rdkafka = EAGER })
    r:register_async_flush("events")
    local eager_engine = assert(r:validate())
    engines[#engines + 1] = eager_engine
    local ctx = eager_engine:new_context()
    assert.is_true(coop_pool:produce_sync(unpack(fk.encode_async_sql({ { pool = "default", table = "t",
      queries = { { q = "SELECT 1" } } } }, topic))))
    local holder = assert(coop_pool:consumer_group(group))
    await_partitions(holder)
    local consumer = assert(ctx:get_async_sql_consumer({ group = group, topic = topic }))
    local handled, n, err, code = 0, nil, nil, nil
    local deadline = os.time() + 30
    repeat
      n, err, code = consumer:consume(10, 0.2, function() handled = handled + 1 return true end)
      assert(holder:poll_fetches(0))
    until n == nil or os.time() > deadline
    assert.is_nil(n)
    assert.are.equal("INCONSISTENT_GROUP_PROTOCOL", code, err)
    assert.are.equal(0, handled)
    consumer:close()
    holder:close()
  end)

  it("refuses to commit a partition the member no longer owns", function()
    local topic, group = support.unique("proto-own"), support.unique("proto-own-g")
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events")
    r:register_kafka_topic(fk.new_kafka_topic(topic, "events"):partitions(2))
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic))
    local e = assert(r:validate())
    engines[#engines + 1] = e
    local ctx = e:new_context()
    for _, alter in ipairs(assert(fk.get_kafka_alters(ctx))) do
      if alter.kind == "create_topic" and alter.topic == topic then assert(alter:exec(ctx)) end
    end
    local pool = e:kafka("events")
    local a = assert(pool:consumer_group(group))
    assert.are.equal(2, #await_partitions(a))
    -- a second member takes one partition over (cooperative: a gives it up in a poll)
    local b = assert(pool:consumer_group(group))
    local deadline = os.time() + 30
    repeat
      assert(a:poll_fetches(0.1))
      assert(b:poll_fetches(0.1))
    until (#assert(a:assignment()) == 1 and #assert(b:assignment()) == 1) or os.time() > deadline
    local kept, lost = assert(a:assignment())[1].partition, assert(b:assignment())[1].partition
    -- the partition b owns now: committing it would overwrite b's progress
    local ok, err, code = commit_offsets(a, { { topic = topic, partition = lost, offset = 1 } })
    assert.is_nil(ok)
    assert.are.equal("_STATE", code)
    assert.matches("'" .. topic .. "' [" .. lost .. "] is not assigned to this member", err, 1, true)
    assert.is_nil(assert(b:committed({ { topic = topic, partition = lost } }))[1].offset)
    -- its own partition commits, and a separate client sees the commit at once
    assert.is_true(commit_offsets(a, { { topic = topic, partition = kept, offset = 0 } }))
    assert.are.equal(0, assert(b:committed({ { topic = topic, partition = kept } }))[1].offset)
    a:close()
    b:close()
  end)

  -- librdkafka before 2.3.0 aborts the process when a cooperative-sticky member is destroyed
  -- between its JoinGroup and SyncGroup answers; fluxakafka's close waits for the first
  -- assignment there. Run in a child process: an abort shows as its exit status.
  it("closing members at every point of their join never takes the process down", function()
    local topic = support.unique("join-close")
    local p = assert(io.popen(("%s spec/join_close_child.lua %s %s %s 2 2>&1; echo \"exit status: $?\""):format(
      os.getenv("LUAJIT") or "luajit", table.concat(support.brokers, ","), topic, topic .. "-g")))
    local out = p:read("*a")
    p:close()
    assert.matches("done\nexit status: 0%s*$", out)
  end)
end)
