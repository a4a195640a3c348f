-- KIP-848's consumer group protocol (group_protocol "consumer"): what validate() refuses with it,
-- that it needs librdkafka 2.12.0, and, on Kafka 4 with such a librdkafka, a group that consumes
-- and that list_groups and describe_groups show as a Stable consumer-protocol group with its member.
local fk = require "fluxakafka"
local support = require "spec.support"

local NEW_RDKAFKA = support.librdkafka_at_least(2, 12, 0)
local KAFKA_4 = support.kafka_major() >= 4

local function validate_group(builder, pool_options)
  local r = fk.new_registry()
  r:register_kafka(support.brokers, "events", pool_options)
  r:register_kafka_consumer_group(builder)
  return r:validate()
end

describe("group_protocol 'consumer' (KIP-848)", function()
  if not NEW_RDKAFKA then
    it("is refused by validate() under a librdkafka before 2.12.0, naming the one loaded", function()
      local engine, err = validate_group(fk.new_kafka_consumer_group("g848", "events"):topics("t")
        :group_protocol("consumer"))
      assert.is_nil(engine)
      assert.matches("group_protocol 'consumer' (KIP-848) needs librdkafka 2.12.0 or later", err, 1, true)
      assert.matches("runs librdkafka " .. fk.librdkafka_version(), err, 1, true)
    end)
  end

  it("is refused with a session timeout or a client-side assignor, naming them", function()
    if not NEW_RDKAFKA then return pending("needs librdkafka >= 2.12.0 (loaded: " .. fk.librdkafka_version() .. ")") end
    local cases = {
      { fk.new_kafka_consumer_group("g848", "events"):topics("t"):group_protocol("consumer"):session_timeout(10),
        nil, "session_timeout cannot be set with group_protocol 'consumer'" },
      { fk.new_kafka_consumer_group("g848", "events"):topics("t"):group_protocol("consumer")
          :rdkafka({ ["partition.assignment.strategy"] = "range" }),
        nil, "rdkafka property 'partition.assignment.strategy' cannot be set with group_protocol 'consumer'" },
      { fk.new_kafka_consumer_group("g848", "events"):topics("t"):group_protocol("consumer"),
        { rdkafka = { ["heartbeat.interval.ms"] = "500" } },
        "rdkafka property 'heartbeat.interval.ms' (of the pool) cannot be set with group_protocol 'consumer'" },
    }
    for _, case in ipairs(cases) do
      local engine, err = validate_group(case[1], case[2])
      assert.is_nil(engine)
      assert.matches(case[3], err, 1, true)
      assert.matches("kafka consumer group 'g848' of pool 'events'", err, 1, true)
    end
  end)

  it("is an option of the builder, of Lua tables and of YAML, and group.protocol is left to it", function()
    local builder_err = select(2, pcall(function() fk.new_kafka_consumer_group("g", "events"):group_protocol("eager") end))
    assert.matches("group_protocol: expected classic or consumer, got 'eager'", tostring(builder_err), 1, true)
    local r = fk.new_registry()
    local ok, err = r:init_by_yaml("events:\n  kafka:\n    brokers: [\"127.0.0.1:9092\"]\n" ..
      "    consumerGroups:\n      - name: g\n        topics: [t]\n        groupProtocol: sideways\n")
    assert.is_nil(ok)
    assert.matches("groupProtocol", err, 1, true)
    assert.matches("sideways", err, 1, true)
    local engine, verr = validate_group(fk.new_kafka_consumer_group("g", "events"):topics("t")
      :rdkafka({ ["group.protocol"] = "consumer" }))
    assert.is_nil(engine)
    assert.matches("rdkafka property 'group.protocol' is set by fluxakafka: use group_protocol", verr, 1, true)
    -- "classic" is what an unset option means, and it validates with every librdkafka
    local classic = assert(validate_group(fk.new_kafka_consumer_group("g", "events"):topics("t"):group_protocol("classic")))
    classic:close()
  end)

  it("consumes on Kafka 4, and list_groups shows the group Stable with its member", function()
    if not (NEW_RDKAFKA and KAFKA_4) then
      return pending("needs Kafka >= 4 (FK_TEST_KAFKA_VERSION) and librdkafka >= 2.12.0 (loaded: "
        .. fk.librdkafka_version() .. ")")
    end
    local topic, group = support.unique("kip848"), support.unique("kip848-g")
    local r = fk.new_registry()
    assert(r:init_by_yaml(("events:\n  kafka:\n    brokers: [%q]\n    consumerGroups:\n" ..
      "      - name: %s\n        topics: [%s]\n        groupProtocol: consumer\n"):format(support.brokers[1], group, topic)))
    local engine = assert(r:validate())
    local pool = engine:kafka("events")
    for i = 1, 5 do assert.is_true(pool:produce_sync({ topic = topic, key = "k" .. i, value = "v" .. i })) end
    local cg = assert(pool:consumer_group(group))
    local got = support.consume(cg, 5)
    assert.are.equal(5, #got)
    local listed
    for _, g in ipairs(assert(pool:list_groups())) do
      if g.name == group then listed = g end
    end
    assert.is_table(listed, "list_groups does not show " .. group)
    assert.are.equal("Stable", listed.state)
    assert.are.equal(1, listed.members)
    local described = assert(pool:describe_groups({ group }))[1]
    assert.are.equal("consumer", described.type)
    assert.are.equal("Stable", described.state)
    assert.are.equal(1, #described.members)
    assert.are.equal(topic, described.members[1].assignment[1].topic)
    cg:close()
    engine:close()
  end)
end)
