-- Configuration documents: YAML and Lua tables of the same shape, every key, every kind of
-- bad input, and nothing registered from a document that fails.
local fk = require "fluxakafka"

local FULL_YAML = [[
events:
  mysql:
    uri: "root:root@tcp(localhost:3306)/app"
  kafka:
    brokers:
      - 127.0.0.1:9092
      - 127.0.0.1:9093
    clientID: my-service
    requiredAcks: 1
    producerLingerMs: 5
    maxBufferedRecords: 5000
    deliveryTimeoutMs: 20000
    connectTimeoutMs: 3000
    saslMechanism: SCRAM-SHA-512
    saslUser: kafka-user
    saslPassword: yaml-secret-pw
    consumerGroups:
      - name: order-group
        topics: [orders, payments]
        sessionTimeoutMs: 30000
        rebalanceTimeoutMs: 60000
        fetchMaxBytes: 10485760
        autoCommitIntervalMs: 5000
      - name: payment-group
        topics:
          - payments
    ignoredTopics: [legacy-topic]
    ignoredConsumerGroups: [legacy-consumer]
    topics:
      - name: orders
        partitions: 6
        replicationFactor: 3
        configs:
          retention.ms: 86400000
          cleanup.policy: "delete"
cache:
  redis:
    uri: localhost:6379
]]

local FULL_TABLE = {
  events = {
    mysql = { uri = "root:root@tcp(localhost:3306)/app" },
    kafka = {
      brokers = { "127.0.0.1:9092", "127.0.0.1:9093" },
      clientID = "my-service", requiredAcks = 1, producerLingerMs = 5, maxBufferedRecords = 5000,
      deliveryTimeoutMs = 20000, connectTimeoutMs = 3000,
      saslMechanism = "SCRAM-SHA-512", saslUser = "kafka-user", saslPassword = "yaml-secret-pw",
      consumerGroups = {
        { name = "order-group", topics = { "orders", "payments" }, sessionTimeoutMs = 30000,
          rebalanceTimeoutMs = 60000, fetchMaxBytes = 10485760, autoCommitIntervalMs = 5000 },
        { name = "payment-group", topics = { "payments" } },
      },
      ignoredTopics = { "legacy-topic" }, ignoredConsumerGroups = { "legacy-consumer" },
      topics = { { name = "orders", partitions = 6, replicationFactor = 3,
                   configs = { ["retention.ms"] = "86400000", ["cleanup.policy"] = "delete" } } },
    },
  },
  cache = { redis = { uri = "localhost:6379" } },
}

local function pool_of(load)
  local r = fk.new_registry()
  assert(load(r))
  local engine = assert(r:validate())
  return engine, engine:kafka("events")
end

local function describe_pool(pool)
  return { code = pool:get_code(), brokers = pool:get_brokers(), options = pool:get_pool_options(),
           groups = pool:consumer_group_names() }
end

describe("configuration documents", function()
  it("loads every key of a YAML document and skips other sections", function()
    local engine, pool = pool_of(function(r) return r:init_by_yaml(FULL_YAML) end)
    local o = pool:get_pool_options()
    assert.are.same({ "127.0.0.1:9092", "127.0.0.1:9093" }, pool:get_brokers())
    assert.are.equal("my-service", o.client_id)
    assert.are.equal(1, o.required_acks)
    assert.are.near(0.005, o.producer_linger, 1e-9)
    assert.are.equal(5000, o.max_buffered_records)
    assert.are.equal(20, o.delivery_timeout)
    assert.are.equal(3, o.connect_timeout)
    assert.are.same({ mechanism = "SCRAM-SHA-512", user = "kafka-user", password = "yaml-secret-pw" }, o.sasl)
    assert.are.same({ "legacy-topic" }, o.ignored_topics)
    assert.are.same({ "legacy-consumer" }, o.ignored_consumer_groups)
    assert.are.same({ "order-group", "payment-group" }, pool:consumer_group_names())
    assert.are.same({ "events" }, engine:pool_codes())
    engine:close()
  end)

  it("a Lua table of the same shape gives the same pools", function()
    local e1, from_yaml = pool_of(function(r) return r:init_by_yaml(FULL_YAML) end)
    local e2, from_table = pool_of(function(r) return r:init_by_config(FULL_TABLE) end)
    assert.are.same(describe_pool(from_yaml), describe_pool(from_table))
    e1:close()
    e2:close()
  end)

  it("registers the declared topics for schema management", function()
    local r = fk.new_registry()
    assert(r:init_by_yaml(FULL_YAML))
    local engine = assert(r:validate())
    -- the declared topic is what the planner compares: a plan against an unreachable broker
    -- is not needed to see it; validate accepted it and the pool is managed
    assert.is_table(engine:new_context())
    engine:close()
  end)

  it("reads a YAML file and names a missing one", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(FULL_YAML)
    f:close()
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml_file(path))
    os.remove(path)
    local ok, err = fk.new_registry():init_by_yaml_file(path)
    assert.is_nil(ok)
    assert.matches(path:gsub("%p", "%%%0"), err)
    assert.matches("No such file", err)
  end)

  local bad_yaml = {
    { "events:\n  kafka:\n    brokers: [a]\n    clientId: x\n", "events.kafka: unknown key 'clientId' (did you mean 'clientID'?)", 4 },
    { "events:\n  kafka:\n    brokers: a\n", "events.kafka.brokers: expected a list of strings, got a string", 3 },
    { "events:\n  kafka:\n    clientID: x\n", "events.kafka: missing required key 'brokers'", 3 },
    { "events:\n  kafka:\n    brokers: [a]\n    consumerGroups:\n      - name: g\n        topics: x\n",
      "events.kafka.consumerGroups[1].topics: expected a list of strings, got a string", 6 },
    { "events:\n  kafka:\n    brokers: [a]\n    consumerGroups:\n      - topics: [t]\n",
      "events.kafka.consumerGroups[1]: missing required key 'name'", 5 },
    { "events:\n  kafka:\n    brokers: [a]\n    saslMechanism: GSSAPI\n    saslUser: u\n    saslPassword: p\n",
      "events.kafka.saslMechanism: unknown SASL mechanism 'GSSAPI'", 4 },
    { "events:\n  kafka:\n    brokers: [a]\n    producerLingerMs: -5\n", "events.kafka.producerLingerMs: must not be negative", 4 },
    { "events:\n  kafka:\n    brokers: [a]\n    requiredAcks: 2\n", "events.kafka.requiredAcks: must be between -1 and 1", 4 },
    { "events:\n  kafka:\n    brokers: [a]\n    maxBufferedRecords: lots\n", "events.kafka.maxBufferedRecords: expected an integer", 4 },
    { "events:\n  kafka:\n    brokers: [a]\n    topics:\n      - name: t\n        partitions: 0\n",
      "events.kafka.topics[1].partitions: must be between 1 and", 6 },
    { "events:\n  kafka:\n    brokers: [a]\n    saslMechanism: PLAIN\n", "saslMechanism needs saslUser and saslPassword", nil },
    { "events:\n  kafka:\n    brokers: [a\n", "YAML syntax error", 4 },
    { "events:\n  kafka:\n    brokers: [a]\n    brokers: [b]\n", "key 'brokers' appears twice", 4 },
    { "base: &b\n  kafka:\n    brokers: [a]\nother: *b\n", "anchors and aliases are not supported", 1 },
  }
  for _, case in ipairs(bad_yaml) do
    it("rejects bad YAML: " .. case[2], function()
      local r = fk.new_registry()
      local ok, err = r:init_by_yaml(case[1])
      assert.is_nil(ok)
      assert.matches(case[2], err, 1, true)
      if case[3] then assert.matches("line " .. case[3], err, 1, true) end
    end)
  end

  it("registers nothing from a document with an error", function()
    local r = fk.new_registry()
    assert(r:init_by_yaml("first:\n  kafka:\n    brokers: [a]\n"))
    local ok = r:init_by_yaml("second:\n  kafka:\n    brokers: [b]\nthird:\n  kafka:\n    brokers: c\n")
    assert.is_nil(ok)
    local engine = assert(r:validate())
    assert.are.same({ "first" }, engine:pool_codes())
    engine:close()
  end)

  it("never shows the SASL password in an error", function()
    local secret = "very-private-pw"
    local docs = {
      "e:\n  kafka:\n    brokers: [a]\n    saslMechanism: NOPE\n    saslUser: u\n    saslPassword: " .. secret .. "\n",
      "e:\n  kafka:\n    brokers: [a]\n    saslPassword: [" .. secret .. "]\n",
      "e:\n  kafka:\n    brokers: [a]\n    saslPassword: " .. secret .. "\n",
    }
    for _, doc in ipairs(docs) do
      local ok, err = fk.new_registry():init_by_yaml(doc)
      assert.is_nil(ok)
      assert.is_nil(err:find(secret, 1, true), err)
    end
    local ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a" }, saslPassword = { secret } } } })
    assert.is_nil(ok)
    assert.is_nil(err:find(secret, 1, true))
    local engine, pool = pool_of(function(r) return r:init_by_yaml(FULL_YAML) end)
    assert.is_nil(tostring(pool):find("yaml-secret-pw", 1, true))
    engine:close()
  end)

  it("rejects table values no document can hold, naming them", function()
    local ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a" }, clientID = print } } })
    assert.is_nil(ok)
    assert.matches("clientID", err)
    ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = {} } } })
    assert.is_nil(ok)
    assert.matches("e.kafka.brokers: must not be empty", err, 1, true)
    assert.has_error(function() fk.new_registry():init_by_config("x") end)
  end)
end)
