-- Looking at a cluster without touching it: describe_topics, describe_groups, group_lag,
-- offsets_for_times and list_groups read through the admin API and never join a group. Only
-- this file's own topics and groups are asserted on (the broker is shared).
local support = require "spec.support"
local fk = require "fluxakafka"

local function find(list, name)
  for _, item in ipairs(list) do if item.name == name then return item end end
end

-- an engine whose pool "events" knows the group `group` on `topic`, with callbacks counting
-- its rebalances (on_assign / on_revoke)
local function group_engine(group, topic, events)
  local r = fk.new_registry()
  r:register_kafka(support.brokers, "events", { connect_timeout = 5 })
  local b = fk.new_kafka_consumer_group(group, "events"):topics(topic)
  if events then
    b:on_assign(function(_, parts) events[#events + 1] = { "assign", #parts } end)
    b:on_revoke(function(_, parts) events[#events + 1] = { "revoke", #parts } end)
  end
  r:register_kafka_consumer_group(b)
  return assert(r:validate())
end

-- polls cg until describe_groups says the group is Stable with one member, and the member
-- has taken the assignment the broker shows; returns the description
local function stable(pool, cg, group)
  local deadline = os.time() + 30
  while os.time() <= deadline do
    local g = assert(pool:describe_groups({ group }))[1]
    local n = g.members[1] and #g.members[1].assignment or 0
    if g.state == "Stable" and #g.members == 1 and n > 0 and #assert(cg:assignment()) == n then return g end
    cg:poll_fetches(0.2)
  end
  error("group " .. group .. " did not become Stable")
end

describe("inspection without joining", function()
  local engine, pool
  before_each(function() engine, pool = support.engine({ connect_timeout = 5 }) end)
  after_each(function() engine:close() end)

  it("describe_topics gives partitions and configs with their source", function()
    local topic = support.unique("dt")
    support.create_topic(topic, 2, { ["retention.ms"] = "3600000" })
    local list = assert(pool:describe_topics({ topic }))
    assert.are.equal(1, #list)
    local t = list[1]
    assert.are.equal(topic, t.name)
    assert.are.equal(2, #t.partitions)
    for i, p in ipairs(t.partitions) do
      assert.are.equal(i - 1, p.id)
      assert.are.equal(p.leader, p.replicas[1])
      assert.are.same(p.replicas, p.isrs)
    end
    assert.are.same({ value = "3600000", source = "DYNAMIC_TOPIC_CONFIG", is_default = false,
      is_sensitive = false, is_read_only = false }, t.configs["retention.ms"])
    local policy = t.configs["cleanup.policy"]
    assert.are.equal("delete", policy.value)
    assert.is_true(policy.is_default)
    assert.are.equal("DEFAULT_CONFIG", policy.source)
    -- one name for a list of one, and the order asked is kept
    assert.are.equal(topic, assert(pool:describe_topics(topic))[1].name)
    local two = assert(pool:describe_topics({ "__consumer_offsets", topic }))
    assert.are.same({ "__consumer_offsets", topic }, { two[1].name, two[2].name })
  end)

  it("describe_topics of a topic that does not exist fails naming it", function()
    local topic = support.unique("dt-missing")
    local ok, err, code = pool:describe_topics({ topic })
    assert.is_nil(ok)
    assert.matches("topic '" .. topic .. "' does not exist", err, 1, true)
    assert.are.equal("UNKNOWN_TOPIC_OR_PART", code)
    assert.is_nil(find(assert(pool:list_topics()), topic), "never created")
  end)

  it("describe_groups, group_lag and list_groups do not rebalance a live member", function()
    local topic, group = support.unique("dg"), support.unique("dg-g")
    support.create_topic(topic, 3)
    local events = {}
    local e = group_engine(group, topic, events)
    local cg = assert(e:kafka("events"):consumer_group(group))
    local before = stable(pool, cg, group)
    local assignment = assert(cg:assignment())
    assert.are.equal(3, #assignment)
    local seen = #events   -- the first assignment
    assert.is_true(seen >= 1)

    -- read it from outside while it keeps polling
    for p = 0, 2 do
      assert.is_true(pool:produce_sync({ topic = topic, partition = p, value = "a" },
        { topic = topic, partition = p, value = "b" }))
    end
    local got = support.consume(cg, 6)
    assert.are.equal(6, #got)
    assert.is_true(cg:commit_uncommitted_offsets())
    assert.is_true(pool:produce_sync({ topic = topic, partition = 1, value = "c" }))
    for _ = 1, 3 do
      local g = assert(pool:describe_groups({ group }))[1]
      assert.are.equal(group, g.name)
      assert.are.equal("Stable", g.state)
      assert.are.equal("consumer", g.protocol_type)
      assert.are.equal("cooperative-sticky", g.protocol)
      assert.is_number(g.coordinator.id)
      assert.are.equal(1, #g.members)
      assert.are.equal(before.members[1].id, g.members[1].id)
      assert.is_string(g.members[1].client_id)
      assert.is_string(g.members[1].host)
      assert.are.equal(3, #g.members[1].assignment)
      local lag = assert(pool:group_lag(group))
      assert.are.equal(3, #lag)
      for i, p in ipairs(lag) do
        assert.are.equal(topic, p.topic)
        assert.are.equal(i - 1, p.partition)
        assert.are.equal(2, p.committed)
        assert.are.equal(p.partition == 1 and 3 or 2, p.high)
        assert.are.equal(p.high - p.committed, p.lag)
      end
      local listed = find(assert(pool:list_groups()), group)
      assert.are.same({ name = group, state = "Stable", members = 1, protocol_type = "consumer" }, listed)
      cg:poll_fetches(0.2)
    end
    -- a join would revoke and assign within the session; poll through a while of it
    support.drain(cg, 3)
    assert.are.equal(seen, #events, "no rebalance callback while it was inspected")
    assert.are.same(assignment, assert(cg:assignment()))
    local after = assert(pool:describe_groups({ group }))[1]
    assert.are.equal("Stable", after.state)
    assert.are.equal(before.members[1].id, after.members[1].id)

    -- the same check notices a real join: a second member rebalances the first
    local e2 = group_engine(group, topic)
    local cg2 = assert(e2:kafka("events"):consumer_group(group))
    local deadline = os.time() + 60
    while #events == seen and os.time() <= deadline do
      cg:poll_fetches(0.2)
      cg2:poll_fetches(0.2)
    end
    assert.is_true(#events > seen, "a joining member rebalances the group")
    cg2:close()
    cg:close()
    e2:close()
    e:close()
  end)

  it("describe_groups of a group that does not exist says Dead; group_lag fails naming it", function()
    local group = support.unique("dg-none")
    local g = assert(pool:describe_groups(group))[1]
    assert.are.equal(group, g.name)
    assert.are.equal("Dead", g.state)
    assert.are.same({}, g.members)
    local ok, err, code = pool:group_lag(group)
    assert.is_nil(ok)
    assert.matches("consumer group '" .. group .. "' does not exist", err, 1, true)
    assert.are.equal("GROUP_ID_NOT_FOUND", code)
  end)

  it("group_lag counts an assigned partition without a commit from its beginning", function()
    local topic, group = support.unique("gl"), support.unique("gl-g")
    assert.is_true(pool:produce_sync({ topic = topic, value = "a" }, { topic = topic, value = "b" }))
    local e = group_engine(group, topic)
    local cg = assert(e:kafka("events"):consumer_group(group))
    stable(pool, cg, group)
    local lag = assert(pool:group_lag(group))
    assert.are.equal(1, #lag)
    assert.is_nil(lag[1].committed)
    assert.are.equal(2, lag[1].high)
    assert.are.equal(2, lag[1].lag)
    cg:close()
    e:close()
  end)

  it("offsets_for_times gives the first offset at or after a time, -1 past the end", function()
    local topic = support.unique("oft")
    support.create_topic(topic, 2)
    local base = 1700000000000
    assert.is_true(pool:produce_sync(
      { topic = topic, partition = 0, value = "a", timestamp = base },
      { topic = topic, partition = 0, value = "b", timestamp = base + 1000 },
      { topic = topic, partition = 0, value = "c", timestamp = base + 2000 },
      { topic = topic, partition = 1, value = "d", timestamp = base + 500 }))
    assert.are.same({ [0] = 0, [1] = 0 }, assert(pool:offsets_for_times(topic, { [0] = 0, [1] = 0 })))
    assert.are.same({ [0] = 1, [1] = -1 }, assert(pool:offsets_for_times(topic, { [0] = base + 1, [1] = base + 501 })))
    assert.are.same({ [0] = 2 }, assert(pool:offsets_for_times(topic, { [0] = base + 2000 })))
    assert.are.same({ [0] = -1 }, assert(pool:offsets_for_times(topic, { [0] = base + 2001 })))
    local ok, err, code = pool:offsets_for_times(topic, { [2] = 0 })
    assert.is_nil(ok)
    assert.matches("has no partition 2 (it has 2)", err, 1, true)
    assert.are.equal("_UNKNOWN_PARTITION", code)
    ok, err, code = pool:offsets_for_times(topic .. "-missing", { [0] = 0 })
    assert.is_nil(ok)
    assert.matches("topic '" .. topic .. "-missing' does not exist", err, 1, true)
    assert.are.equal("UNKNOWN_TOPIC_OR_PART", code)
  end)

  it("raises on misuse and on a closed pool", function()
    assert.has_error(function() pool:describe_topics({}) end,
      "describe_topics: argument #1 'names' must be a name or a non-empty array of names, got an empty table")
    assert.has_error(function() pool:describe_groups({ "a", 2 }) end,
      "describe_groups: names[2] must be a non-empty string, got number")
    assert.has_error(function() pool:group_lag() end,
      "group_lag: argument #1 'group' must be a non-empty string, got no value")
    assert.has_error(function() pool:offsets_for_times("t", { [0] = "x" }) end,
      "offsets_for_times: argument #2 'times': the values must be times in ms since the epoch (0 or more)")
    assert.has_error(function() pool:offsets_for_times("t", { a = 1 }) end,
      "offsets_for_times: argument #2 'times': the keys must be partition numbers (0 or more)")
    pool:close()
    assert.has_error(function() pool:describe_groups({ "g" }) end, "describe_groups: kafka pool 'events' is closed")
    assert.has_error(function() pool:group_lag("g") end, "group_lag: kafka pool 'events' is closed")
  end)
end)
