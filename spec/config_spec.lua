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
    { "base: &b\n  kafka:\n    brokers: [a]\nother: *b\n", "anchors, aliases and merge keys are not supported", 1 },
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

-- ------------------------------------------------------------------------------------------
-- Every key read back, the two sources compared error by error, limits and secrets.

local support = require "spec.support"

local function load_yaml(text, r)
  r = r or fk.new_registry()
  local ok, err = r:init_by_yaml(text)
  return ok, err, r
end

-- "e" with a kafka section made of `extra` YAML lines (4 spaces deep).
local function kafka_yaml(extra)
  return "e:\n  kafka:\n    brokers: [a]\n" .. (extra or "")
end

local function counts(r)
  return tostring(r):match("%((.-)%)")
end

describe("configuration documents: keys", function()
  it("reads TLS settings, the code key and quoted numbers in topic configs", function()
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml(kafka_yaml([[
    code: e
    requiredAcks: -1
    tls:
      caFile: /etc/ca.pem
      certFile: /etc/cert.pem
      keyFile: /etc/key.pem
      keyPassword: tls-secret-pw
      verify: false
    topics:
      - name: t1
        configs: {retention.ms: 60000, min.insync.replicas: "2", cleanup.policy: compact}
]])))
    assert.are.equal("fluxakafka.registry (1 pools, 0 consumer groups, 1 topics)", tostring(r))
    local engine = assert(r:validate())
    local o = engine:kafka("e"):get_pool_options()
    assert.are.equal(-1, o.required_acks)
    assert.are.same({ ca_file = "/etc/ca.pem", cert_file = "/etc/cert.pem", key_file = "/etc/key.pem",
                      key_password = "tls-secret-pw", verify = false }, o.tls)
    assert.is_nil(tostring(engine):find("tls-secret-pw", 1, true))
    engine:close()
  end)

  it("an empty tls map turns TLS on with verification", function()
    local r = fk.new_registry()
    assert.is_true(r:init_by_config({ e = { kafka = { brokers = { "a" }, tls = {} } } }))
    local engine = assert(r:validate())
    assert.are.same({ verify = true }, engine:kafka("e"):get_pool_options().tls)
    engine:close()
  end)

  it("uses defaults for keys not given", function()
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml(kafka_yaml()))
    local engine = assert(r:validate())
    local o = engine:kafka("e"):get_pool_options()
    assert.is_nil(o.client_id)
    assert.is_nil(o.sasl)
    assert.is_nil(o.tls)
    assert.are.near(0.005, o.producer_linger, 1e-9)   -- 5 ms, as librdkafka 2.x
    assert.are.same({}, engine:kafka("e"):consumer_group_names())
    engine:close()
  end)

  for _, mech in ipairs({ "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" }) do
    it("accepts SASL mechanism " .. mech, function()
      local r = fk.new_registry()
      assert.is_true(r:init_by_yaml(kafka_yaml("    saslMechanism: " .. mech .. "\n    saslUser: u\n    saslPassword: p\n")))
      local engine = assert(r:validate())
      assert.are.equal(mech, engine:kafka("e"):get_pool_options().sasl.mechanism)
      engine:close()
    end)
  end

  it("skips pools that have only other sections, and loads several kafka pools", function()
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml([[
db:
  mysql: {uri: "x"}
  redis: {uri: "y"}
a:
  kafka: {brokers: [h1]}
b:
  redis: {uri: z}
  kafka: {brokers: [h2], clientID: b-client}
]]))
    local engine = assert(r:validate())
    assert.are.same({ "a", "b" }, engine:pool_codes())
    assert.are.equal("b-client", engine:kafka("b"):get_pool_options().client_id)
    engine:close()
  end)

  it("an empty document registers nothing and succeeds", function()
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml(""))
    assert.is_true(r:init_by_yaml("# only a comment\n"))
    assert.is_true(r:init_by_config({}))
    assert.are.equal("0 pools, 0 consumer groups, 0 topics", counts(r))
  end)

  it("YAML tags of the core schema are understood, others refused", function()
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml(kafka_yaml("    clientID: !!str 123\n    requiredAcks: !!int 0\n")))
    local engine = assert(r:validate())
    assert.are.equal("123", engine:kafka("e"):get_pool_options().client_id)
    engine:close()
    local ok, err = load_yaml(kafka_yaml("    clientID: !custom x\n"))
    assert.is_nil(ok)
    assert.are.equal("YAML: the tag '!custom' is not supported in configuration documents (line 4, column 15)", err)
  end)

  it("consumer group settings reach the group (needs a broker)", function()
    local r = fk.new_registry()
    local brokers = {}
    for i, b in ipairs(support.brokers) do brokers[i] = b end
    assert.is_true(r:init_by_config({ events = { kafka = {
      brokers = brokers, connectTimeoutMs = 2000,
      consumerGroups = { { name = support.unique("cfg-group"), topics = { "orders", "payments" },
        sessionTimeoutMs = 30000, rebalanceTimeoutMs = 60000, fetchMaxBytes = 1048576,
        autoCommitIntervalMs = 5000 } } } } }))
    local engine = assert(r:validate())
    local pool = engine:kafka("events")
    local cg = pool:consumer_group(pool:consumer_group_names()[1])
    if not cg then
      engine:close()
      pending("no broker reachable at " .. table.concat(brokers, ","))
      return
    end
    local s = cg:get_settings()
    assert.are.same({ "orders", "payments" }, s.topics)
    assert.are.equal(30, s.session_timeout)
    assert.are.equal(60, s.rebalance_timeout)
    assert.are.equal(1048576, s.fetch_max_bytes)
    assert.are.equal(5, s.auto_commit_interval)
    cg:close()
    engine:close()
  end)
end)

describe("configuration documents: bad input", function()
  -- { yaml, table (or false: YAML only), expected message (without line), line }
  local cases = {
    { kafka_yaml("    clientId: x\n"), { clientId = "x" },
      "e.kafka: unknown key 'clientId' (did you mean 'clientID'?)", 4 },
    { kafka_yaml("    saslpassword: x\n"), { saslpassword = "x" },
      "e.kafka: unknown key 'saslpassword' (did you mean 'saslPassword'?)", 4 },
    { kafka_yaml("    colour: x\n"), { colour = "x" }, "e.kafka: unknown key 'colour'", 4 },
    { kafka_yaml("    clientID: [x]\n"), { clientID = { "x" } }, "e.kafka.clientID: expected a string, got a list", 4 },
    { kafka_yaml("    clientID: true\n"), { clientID = true }, "e.kafka.clientID: expected a string, got a boolean", 4 },
    { kafka_yaml("    clientID:\n"), false, "e.kafka.clientID: expected a string, got null", 4 },
    { kafka_yaml("    clientID: ''\n"), { clientID = "" }, "e.kafka.clientID: must not be empty", 4 },
    { kafka_yaml("    requiredAcks: \"1\"\n"), { requiredAcks = "1" }, "e.kafka.requiredAcks: expected an integer, got a string", 4 },
    { kafka_yaml("    requiredAcks: -2\n"), { requiredAcks = -2 }, "e.kafka.requiredAcks: must be between -1 and 1, got -2", 4 },
    { kafka_yaml("    producerLingerMs: 1.5\n"), { producerLingerMs = 1.5 }, "e.kafka.producerLingerMs: expected an integer, got '1.5'", 4 },
    { kafka_yaml("    maxBufferedRecords: -1\n"), { maxBufferedRecords = -1 }, "e.kafka.maxBufferedRecords: must not be negative", 4 },
    { kafka_yaml("    deliveryTimeoutMs: 99999999999\n"), { deliveryTimeoutMs = 99999999999 },
      "e.kafka.deliveryTimeoutMs: must be between 0 and 2147483647", 4 },
    { kafka_yaml("    connectTimeoutMs: {a: 1}\n"), { connectTimeoutMs = { a = 1 } }, "e.kafka.connectTimeoutMs: expected an integer, got a map", 4 },
    { kafka_yaml("    brokers2: []\n"), { brokers2 = {} }, "e.kafka: unknown key 'brokers2'", 4 },
    { "e:\n  kafka:\n    brokers: []\n", { e = { kafka = { brokers = {} } } }, "e.kafka.brokers: must not be empty", 3 },
    { "e:\n  kafka:\n    brokers: [a, 5, [x]]\n", { e = { kafka = { brokers = { "a", "5", { "x" } } } } },
      "e.kafka.brokers[3]: expected a string, got a list", 3 },
    { kafka_yaml("    saslMechanism: plain\n    saslUser: u\n    saslPassword: p\n"),
      { saslMechanism = "plain", saslUser = "u", saslPassword = "p" }, "e.kafka.saslMechanism: unknown SASL mechanism 'plain'", 4 },
    { kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n"), { saslMechanism = "PLAIN", saslUser = "u" },
      "e.kafka: saslMechanism needs saslUser and saslPassword", 3 },
    { kafka_yaml("    saslUser: u\n    saslPassword: p\n"), { saslUser = "u", saslPassword = "p" },
      "e.kafka: saslUser and saslPassword need saslMechanism", 3 },
    { kafka_yaml("    code: other\n"), { code = "other" }, "e.kafka.code: differs from the pool code it is listed under", 4 },
    { kafka_yaml("    tls: true\n"), { tls = true }, "e.kafka.tls: expected a map", 4 },
    { kafka_yaml("    tls: {verify: yes}\n"), { tls = { verify = "yes" } }, "e.kafka.tls.verify: expected true or false, got a string", 4 },
    { kafka_yaml("    tls: {cafile: x}\n"), { tls = { cafile = "x" } }, "e.kafka.tls: unknown key 'cafile' (did you mean 'caFile'?)", 4 },
    { kafka_yaml("    ignoredTopics: x\n"), { ignoredTopics = "x" }, "e.kafka.ignoredTopics: expected a list of strings, got a string", 4 },
    { kafka_yaml("    ignoredConsumerGroups: [a, {b: 1}]\n"), { ignoredConsumerGroups = { "a", { b = 1 } } },
      "e.kafka.ignoredConsumerGroups[2]: expected a string, got a map", 4 },
    { kafka_yaml("    consumerGroups: {name: g}\n"), { consumerGroups = { name = "g" } },
      "e.kafka.consumerGroups: expected a list of consumer groups", 4 },
    { kafka_yaml("    consumerGroups:\n      - g\n"), { consumerGroups = { "g" } },
      "e.kafka.consumerGroups[1]: expected a map with name and topics", 5 },
    { kafka_yaml("    consumerGroups:\n      - name: g\n"), { consumerGroups = { { name = "g" } } },
      "e.kafka.consumerGroups[1]: missing required key 'topics'", 5 },
    { kafka_yaml("    consumerGroups:\n      - name: g\n        topics: []\n"), { consumerGroups = { { name = "g", topics = {} } } },
      "e.kafka.consumerGroups[1].topics: must not be empty", 6 },
    { kafka_yaml("    consumerGroups:\n      - {name: g, topics: [t]}\n      - {name: h, topics: [t], sessionTimeoutMs: -1}\n"),
      { consumerGroups = { { name = "g", topics = { "t" } }, { name = "h", topics = { "t" }, sessionTimeoutMs = -1 } } },
      "e.kafka.consumerGroups[2].sessionTimeoutMs: must not be negative", 6 },
    { kafka_yaml("    consumerGroups:\n      - {name: g, topics: [t], rebalanceTimeoutMs: x}\n"),
      { consumerGroups = { { name = "g", topics = { "t" }, rebalanceTimeoutMs = "x" } } },
      "e.kafka.consumerGroups[1].rebalanceTimeoutMs: expected an integer, got a string", 5 },
    { kafka_yaml("    consumerGroups:\n      - {name: g, topics: [t], fetchMaxBytes: 2.5}\n"),
      { consumerGroups = { { name = "g", topics = { "t" }, fetchMaxBytes = 2.5 } } },
      "e.kafka.consumerGroups[1].fetchMaxBytes: expected an integer, got '2.5'", 5 },
    { kafka_yaml("    consumerGroups:\n      - {name: g, topics: [t], autoCommitIntervalMs: -5}\n"),
      { consumerGroups = { { name = "g", topics = { "t" }, autoCommitIntervalMs = -5 } } },
      "e.kafka.consumerGroups[1].autoCommitIntervalMs: must not be negative", 5 },
    { kafka_yaml("    consumerGroups:\n      - {name: g, topics: [t], sessiontimeoutMs: 5}\n"),
      { consumerGroups = { { name = "g", topics = { "t" }, sessiontimeoutMs = 5 } } },
      "e.kafka.consumerGroups[1]: unknown key 'sessiontimeoutMs' (did you mean 'sessionTimeoutMs'?)", 5 },
    { kafka_yaml("    consumerGroups:\n      - {name: g, topics: [t]}\n      - {name: g, topics: [u]}\n"),
      { consumerGroups = { { name = "g", topics = { "t" } }, { name = "g", topics = { "u" } } } },
      "e.kafka.consumerGroups[2].name: consumer group 'g' is already listed at [1]", 6 },
    { kafka_yaml("    topics:\n      - partitions: 1\n"), { topics = { { partitions = 1 } } },
      "e.kafka.topics[1]: missing required key 'name'", 5 },
    { kafka_yaml("    topics:\n      - name: bad/name\n"), { topics = { { name = "bad/name" } } },
      "e.kafka.topics[1].name: not a valid Kafka topic name", 5 },
    { kafka_yaml("    topics:\n      - name: t\n        replicationFactor: 40000\n"),
      { topics = { { name = "t", replicationFactor = 40000 } } },
      "e.kafka.topics[1].replicationFactor: must be between 1 and 32767, got 40000", 6 },
    { kafka_yaml("    topics:\n      - name: t\n        configs: [a]\n"), { topics = { { name = "t", configs = { "a" } } } },
      "e.kafka.topics[1].configs: expected a map of config names to values", 6 },
    { kafka_yaml("    topics:\n      - name: t\n        configs: {retention.ms: [1]}\n"),
      { topics = { { name = "t", configs = { ["retention.ms"] = { 1 } } } } },
      "e.kafka.topics[1].configs.retention.ms: expected a value (string or number)", 6 },
    { kafka_yaml("    topics:\n      - name: t\n      - name: u\n      - name: t\n"),
      { topics = { { name = "t" }, { name = "u" }, { name = "t" } } },
      "e.kafka.topics[3].name: topic 't' is already listed at [1]", 7 },
    { "e: [1]\n", { e = { 1 } }, "e: expected a map of sections (kafka, mysql, ...)", 1 },
    { "e:\n  kafka: [a]\n", { e = { kafka = { "a" } } }, "e.kafka: expected a map", 2 },
    { "- a\n", { "a" }, "configuration: expected a map of pool codes to pool sections, got a list", 1 },
  }
  for _, case in ipairs(cases) do
    it("rejects " .. case[3], function()
      local ok, err, r = load_yaml(case[1])
      assert.is_nil(ok)
      assert.is_string(err)
      assert.matches(case[3], err, 1, true)
      assert.matches("%(line " .. case[4] .. ", column %d+%)$", err)
      assert.are.equal("0 pools, 0 consumer groups, 0 topics", counts(r))
      if case[2] then
        local t = case[2]
        if not (t.e or t[1]) then
          t = { e = { kafka = { brokers = { "a" } } } }
          for k, v in pairs(case[2]) do t.e.kafka[k] = v end
        end
        local r2 = fk.new_registry()
        local ok2, err2 = r2:init_by_config(t)
        assert.is_nil(ok2)
        -- the same message from a table, without a line
        assert.are.equal(err:gsub(" %(line %d+, column %d+%)$", ""), err2)
        assert.are.equal("0 pools, 0 consumer groups, 0 topics", counts(r2))
      end
    end)
  end

  it("gives the line and column of YAML syntax errors", function()
    local ok, err = load_yaml("e:\n  kafka:\n    brokers: [a\n    clientID: x\n")
    assert.is_nil(ok)
    assert.matches("^YAML syntax error: .*%(line %d+, column %d+%)$", err)
    ok, err = load_yaml("e:\n  kafka:\n\tbrokers: [a]\n")
    assert.is_nil(ok)
    assert.matches("YAML syntax error: .*%(line 3, column 1%)", err)
    ok, err = load_yaml("e: {kafka: {brokers: [a]}}\nx: 'unterminated\n")
    assert.is_nil(ok)
    assert.matches("YAML syntax error", err)
  end)

  it("refuses duplicate keys, anchors, aliases, merge keys and several documents", function()
    local ok, err = load_yaml("e:\n  kafka:\n    brokers: [a]\n    clientID: x\n    clientID: y\n")
    assert.is_nil(ok)
    assert.matches("key 'clientID' appears twice in one map (line 5, column 5)", err, 1, true)
    ok, err = load_yaml("e:\n  kafka: {brokers: [a]}\ne:\n  redis: {}\n")
    assert.is_nil(ok)
    assert.matches("key 'e' appears twice in one map (line 3, column 1)", err, 1, true)
    ok, err = load_yaml("e:\n  kafka:\n    brokers: &b [a]\n")
    assert.is_nil(ok)
    assert.matches("anchors, aliases and merge keys are not supported in configuration documents (line 3, column 14)", err, 1, true)
    ok, err = load_yaml("e:\n  kafka:\n    <<: {brokers: [a]}\n")
    assert.is_nil(ok)
    assert.matches("anchors, aliases and merge keys are not supported in configuration documents (line 3, column 5)", err, 1, true)
    ok, err = load_yaml("e: {kafka: {brokers: [a]}}\n---\nf: {kafka: {brokers: [b]}}\n")
    assert.is_nil(ok)
    assert.matches("only one document is allowed (line 2, column 1)", err, 1, true)
    ok, err = load_yaml("? [a, b]\n: x\n")
    assert.is_nil(ok)
    assert.matches("map keys must be plain strings", err, 1, true)
  end)

  it("bounds nesting depth and map width (no stack overflow, no quadratic blow-up)", function()
    local ok, err = load_yaml(("["):rep(100000) .. ("]"):rep(100000))
    assert.is_nil(ok)
    assert.matches("nested too deeply", err)
    ok, err = load_yaml("e:\n" .. ("  a:\n"):rep(1) .. ("x: "):rep(1))  -- an ordinary error still
    assert.is_nil(ok)
    local lines = { "e:", "  kafka:", "    brokers: [a]", "    topics:", "      - name: t", "        configs:" }
    for i = 1, 1001 do lines[#lines + 1] = ("          k%d: v"):format(i) end
    ok, err = load_yaml(table.concat(lines, "\n"))
    assert.is_nil(ok)
    assert.matches("a map has more than 1000 keys (line 1007,", err, 1, true)
    local deep = {}
    deep.self = deep
    ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a" }, x = deep } } })
    assert.is_nil(ok)
    assert.matches("nested too deeply (or contains itself)", err, 1, true)
    local wide = {}
    for i = 1, 1001 do wide["k" .. i] = "v" end
    ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a" },
      topics = { { name = "t", configs = wide } } } } })
    assert.is_nil(ok)
    assert.matches("e.kafka.topics[1].configs: has more than 1000 keys", err, 1, true)
    ok, err = fk.new_registry():init_by_yaml(("a"):rep(16 * 1024 * 1024 + 1))
    assert.is_nil(ok)
    assert.matches("larger than 16 MiB", err)
  end)

  it("names the key path of table values no document can hold", function()
    local ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a", print } } } })
    assert.is_nil(ok)
    assert.are.equal("init_by_config: e.kafka.brokers[2]: a function cannot be a configuration value", err)
    ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a" }, topics = { { name = "t", [5] = 1 } } } } })
    assert.is_nil(ok)
    assert.matches("init_by_config: e.kafka.topics[1]: mixes list items and named keys", err, 1, true)
    ok, err = fk.new_registry():init_by_config({ e = { kafka = { brokers = { "a\0b" } } } })
    assert.is_nil(ok)
    assert.matches("e.kafka.brokers[1]: contains a NUL byte", err, 1, true)
    assert.has_error(function() fk.new_registry():init_by_config(nil) end,
      "init_by_config: argument #1 'config' must be a table, got nil")
    assert.has_error(function() fk.new_registry():init_by_yaml(nil) end)
  end)
end)

describe("configuration documents: all or nothing", function()
  it("keeps earlier registrations and registers nothing from a failing document", function()
    local r = fk.new_registry()
    r:register_kafka({ "x:1" }, "manual")
    assert.is_true(r:init_by_yaml("first:\n  kafka:\n    brokers: [a]\n    topics: [{name: t1}]\n"))
    -- the first pool of this document is fine, the consumer group of the second is not
    local ok, err = r:init_by_yaml([[
second:
  kafka:
    brokers: [b]
    consumerGroups: [{name: g, topics: [t]}]
    topics: [{name: t2}]
third:
  kafka:
    brokers: [c]
    consumerGroups: [{name: g}]
]])
    assert.is_nil(ok)
    assert.matches("third.kafka.consumerGroups[1]: missing required key 'topics' (line 9,", err, 1, true)
    ok = r:init_by_config({ second = { kafka = { brokers = { "b" } } }, third = { kafka = { brokers = "c" } } })
    assert.is_nil(ok)
    assert.are.equal("2 pools, 0 consumer groups, 1 topics", counts(r))
    local engine = assert(r:validate())
    assert.are.same({ "manual", "first" }, engine:pool_codes())
    engine:close()
  end)

  it("refuses a pool code that is already registered", function()
    local r = fk.new_registry()
    r:register_kafka({ "x:1" }, "events")
    local ok, err = r:init_by_yaml("events:\n  kafka:\n    brokers: [a]\n")
    assert.is_nil(ok)
    assert.are.equal("events.kafka: kafka pool 'events' is already registered (line 3, column 5)", err)
    assert.is_true(r:init_by_yaml("other:\n  kafka:\n    brokers: [a]\n"))
    ok, err = r:init_by_config({ other = { kafka = { brokers = { "a" } } } })
    assert.is_nil(ok)
    assert.are.equal("other.kafka: kafka pool 'other' is already registered", err)
    local engine = assert(r:validate())
    assert.are.same({ "events", "other" }, engine:pool_codes())
    engine:close()
  end)
end)

describe("configuration documents: files", function()
  local function write_tmp(text)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    return path
  end

  it("names the file and the line of an error in it", function()
    local path = write_tmp(kafka_yaml("    requiredAcks: 7\n"))
    local r = fk.new_registry()
    local ok, err = r:init_by_yaml_file(path)
    os.remove(path)
    assert.is_nil(ok)
    assert.are.equal(path .. ": e.kafka.requiredAcks: must be between -1 and 1, got 7 (line 4, column 19)", err)
    assert.are.equal("0 pools, 0 consumer groups, 0 topics", counts(r))
    path = write_tmp("e:\n  kafka: [\n")
    ok, err = fk.new_registry():init_by_yaml_file(path)
    os.remove(path)
    assert.is_nil(ok)
    assert.matches(path .. ": YAML syntax error", err, 1, true)
  end)

  it("names the path and the OS error of a file it cannot read", function()
    local ok, err = fk.new_registry():init_by_yaml_file("/nonexistent/dir/config.yaml")
    assert.is_nil(ok)
    assert.are.equal("cannot read configuration file '/nonexistent/dir/config.yaml': No such file or directory", err)
    ok, err = fk.new_registry():init_by_yaml_file("/")
    assert.is_nil(ok)
    assert.matches("cannot read configuration file '/': Is a directory", err, 1, true)
  end)

  it("a file and the same text give the same pools", function()
    local path = write_tmp(FULL_YAML)
    local r1, r2 = fk.new_registry(), fk.new_registry()
    assert.is_true(r1:init_by_yaml_file(path))
    os.remove(path)
    assert.is_true(r2:init_by_yaml(FULL_YAML))
    assert.are.equal(tostring(r2), tostring(r1))
    local e1, e2 = assert(r1:validate()), assert(r2:validate())
    assert.are.same(describe_pool(e2:kafka("events")), describe_pool(e1:kafka("events")))
    e1:close()
    e2:close()
  end)
end)

describe("configuration documents: secrets", function()
  local SECRET = "Sup3r-Secret-Value"

  it("never puts the SASL or TLS key password into an error or tostring", function()
    local yaml_docs = {
      kafka_yaml("    saslPassword: " .. SECRET .. "\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslPassword: " .. SECRET .. "\n"),
      kafka_yaml("    saslMechanism: NOPE\n    saslUser: u\n    saslPassword: " .. SECRET .. "\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: {" .. SECRET .. ": 1}\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: [" .. SECRET .. "]\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: " .. SECRET .. "\n    bogus: 1\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: '" .. SECRET .. "\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: !secret " .. SECRET .. "\n"),
      kafka_yaml("    tls: {keyPassword: [" .. SECRET .. "]}\n"),
      kafka_yaml("    tls: {keyPassword: " .. SECRET .. ", verify: 3}\n"),
      kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: " .. SECRET .. "\n    saslPassword: x\n"),
    }
    for _, doc in ipairs(yaml_docs) do
      local ok, err = load_yaml(doc)
      assert.is_nil(ok, doc)
      assert.is_nil(err:find(SECRET, 1, true), err)
    end
    local tables = {
      { saslPassword = SECRET },
      { saslMechanism = "NOPE", saslUser = "u", saslPassword = SECRET },
      { saslMechanism = "PLAIN", saslUser = "u", saslPassword = { SECRET } },
      { saslMechanism = "PLAIN", saslUser = "u", saslPassword = SECRET .. "\0" },
      { saslMechanism = "PLAIN", saslUser = "u", saslPassword = function() return SECRET end },
      { tls = { keyPassword = { SECRET } } },
    }
    for _, extra in ipairs(tables) do
      local t = { e = { kafka = { brokers = { "a" } } } }
      for k, v in pairs(extra) do t.e.kafka[k] = v end
      local ok, err = fk.new_registry():init_by_config(t)
      assert.is_nil(ok)
      assert.is_nil(err:find(SECRET, 1, true), err)
    end
    local r = fk.new_registry()
    assert.is_true(r:init_by_yaml(kafka_yaml("    saslMechanism: PLAIN\n    saslUser: u\n    saslPassword: " .. SECRET ..
      "\n    tls: {keyPassword: " .. SECRET .. "}\n")))
    local engine = assert(r:validate())
    local pool = engine:kafka("e")
    for _, s in ipairs({ tostring(r), tostring(engine), tostring(pool) }) do
      assert.is_nil(s:find(SECRET, 1, true), s)
    end
    engine:close()
  end)
end)
