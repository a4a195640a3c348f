-- Read-only cluster requests of a pool: watermarks, list_topics, list_groups, and the CLI's
-- topics / groups commands. Only this file's own topics and groups are asserted on (the broker
-- is shared).
local support = require "spec.support"
local fk = require "fluxakafka"

local function find(list, name)
  for _, item in ipairs(list) do if item.name == name then return item end end
end

describe("pool inspection", function()
  local engine, pool
  before_each(function() engine, pool = support.engine({ connect_timeout = 5 }) end)
  after_each(function() engine:close() end)

  it("watermarks gives a partition's low and high offsets", function()
    local topic = support.unique("wm")
    assert.is_true(pool:produce_sync({ topic = topic, value = "a" }, { topic = topic, value = "b" },
      { topic = topic, value = "c" }))
    local low, high = pool:watermarks(topic, 0)
    assert.are.equal(0, low)
    assert.are.equal(3, high)
    assert.is_true(pool:produce_sync({ topic = topic, value = "d" }))
    assert.are.equal(4, select(2, pool:watermarks(topic, 0)))
  end)

  it("watermarks of a partition that does not exist returns nil, err, code", function()
    local topic = support.unique("wm-missing")
    local ok, err, code = pool:watermarks(topic, 0)
    assert.is_nil(ok)
    assert.matches("watermarks of '" .. topic .. "' partition 0 (kafka pool 'events') failed", err, 1, true)
    assert.is_string(code)
    assert.matches("UNKNOWN", code)
    -- the admin client never creates the topic
    assert.is_nil(find(assert(pool:list_topics()), topic))
  end)

  it("list_topics lists the cluster's topics, sorted, with their partitions", function()
    local topic = support.unique("lt")
    support.create_topic(topic, 3)
    local topics = assert(pool:list_topics())
    for i = 2, #topics do assert.is_true(topics[i - 1].name < topics[i].name) end
    local t = find(topics, topic)
    assert.is_table(t, topic .. " not listed")
    assert.are.equal(3, #t.partitions)
    for i, p in ipairs(t.partitions) do
      assert.are.equal(i - 1, p.id)
      assert.is_number(p.leader)
      assert.are.equal(1, #p.replicas)
      assert.are.same(p.replicas, p.isrs)
      assert.are.equal(p.leader, p.replicas[1])
    end
    assert.is_table(find(topics, "__consumer_offsets"), "internal topics are listed too")
  end)

  it("list_groups shows a joined group with its state and members", function()
    local topic, group = support.unique("lg"), support.unique("lg-g")
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic))
    local e = assert(r:validate())
    assert.is_true(pool:produce_sync({ topic = topic, value = "x" }))
    local cg = assert(e:kafka("events"):consumer_group(group))
    assert.are.equal(1, #support.consume(cg, 1))   -- joined and assigned
    local g, deadline = nil, os.time() + 20
    repeat
      g = find(assert(pool:list_groups()), group)
      if not (g and g.state == "Stable") then cg:poll_fetches(0.2) end
    until (g and g.state == "Stable") or os.time() > deadline
    assert.is_table(g)
    assert.are.equal("Stable", g.state)
    assert.are.equal(1, g.members)
    assert.are.equal("consumer", g.protocol_type)
    cg:close()
    e:close()
  end)

  it("runs on a thread of its own for callers that must not block (_inspect_start)", function()
    local topic = support.unique("wm-async")
    assert.is_true(pool:produce_sync({ topic = topic, value = "a" }, { topic = topic, value = "b" }))
    local req = assert(pool:_inspect_start("watermarks", topic, 0))
    local deadline = os.time() + 10
    while not req:_ready() and os.time() <= deadline do end
    local low, high = req:_result()
    assert.are.equal(0, low)
    assert.are.equal(2, high)
    assert.has_error(function() req:_result() end, "_result: the request was already answered")
    local groups_req = assert(pool:_inspect_start("list_groups"))
    groups_req = nil  -- collected while (maybe) running: the collector waits for the thread
    collectgarbage()
    collectgarbage()
    assert.is_nil(groups_req)
  end)

  it("raises on misuse and on a closed pool", function()
    assert.has_error(function() pool:watermarks(1, 0) end,
      "watermarks: argument #1 'topic' must be a non-empty string, got number")
    assert.has_error(function() pool:watermarks("t", -1) end,
      "watermarks: argument #2 'partition' must be a partition number (0 or more)")
    assert.has_error(function() pool:watermarks("t") end,
      "watermarks: argument #2 'partition' must be a number, got no value")
    pool:close()
    assert.has_error(function() pool:list_topics() end, "list_topics: kafka pool 'events' is closed")
    assert.has_error(function() pool:list_groups() end, "list_groups: kafka pool 'events' is closed")
  end)
end)

describe("fluxakafka topics / groups", function()
  local function run(args)
    local p = assert(io.popen("luajit bin/fluxakafka " .. args .. " </dev/null 2>&1; echo \"EXIT:$?\""))
    local out = p:read("*a")
    p:close()
    return tonumber(out:match("EXIT:(%d+)%s*$")), out
  end

  it("prints the topics and groups of the brokers", function()
    local topic = support.unique("cli-lt")
    local engine, pool = support.engine()
    assert.is_true(pool:produce_sync({ topic = topic, value = "a" }))
    engine:close()
    local code, out = run("topics --brokers=" .. table.concat(support.brokers, ","))
    assert.are.equal(0, code, out)
    assert.matches("Pool 'default': %d+ topics", out)
    assert.matches("\n  " .. topic:gsub("%-", "%%-") .. ": 1 partition\n    partition 0: leader %d+, replicas %d+, isrs %d+\n", out)
    code, out = run("groups --json --brokers=" .. table.concat(support.brokers, ","))
    assert.are.equal(0, code, out)
    assert.matches('^{"default":%[', out)
    code, out = run("topics")
    assert.are.equal(1, code)
    assert.matches("topics: give config files or --brokers", out, 1, true)
  end)
end)
