-- Registry, builders, validate and the engine: argument checks and clear errors.
local fk = require "fluxakafka"
local support = require "spec.support"

describe("module", function()
  it("exposes its version, librdkafka's and the async SQL topic names", function()
    assert.matches("^%d+%.%d+%.%d+$", fk.VERSION)
    assert.matches("^%d+%.%d+%.%d+", fk.librdkafka_version())
    assert.are.equal("_fluxa_async_sql", fk.ASYNC_SQL_TOPIC_NAME)
    assert.are.equal("_fluxa_async_sql_failed", fk.ASYNC_SQL_DEAD_LETTER_TOPIC_NAME)
  end)
end)

describe("registry", function()
  it("registers a pool with every option and hands them back", function()
    local r = fk.new_registry()
    r:register_kafka({ "127.0.0.1:9092", "127.0.0.1:9093" }, "events", {
      client_id = "svc", required_acks = 1, producer_linger = 0.005, max_buffered_records = 5000,
      delivery_timeout = 12, connect_timeout = 3,
      sasl = { mechanism = "SCRAM-SHA-256", user = "u", password = "top-secret-pw" },
      ignored_topics = { "legacy" }, ignored_consumer_groups = { "old-group" },
    })
    local engine = assert(r:validate())
    local pool = engine:kafka("events")
    assert.are.equal("events", pool:get_code())
    assert.are.same({ "127.0.0.1:9092", "127.0.0.1:9093" }, pool:get_brokers())
    local o = pool:get_pool_options()
    assert.are.equal("svc", o.client_id)
    assert.are.equal(1, o.required_acks)
    assert.are.near(0.005, o.producer_linger, 1e-9)
    assert.are.equal(5000, o.max_buffered_records)
    assert.are.equal(12, o.delivery_timeout)
    assert.are.same({ mechanism = "SCRAM-SHA-256", user = "u", password = "top-secret-pw" }, o.sasl)
    assert.are.same({ "legacy" }, o.ignored_topics)
    assert.are.same({ "old-group" }, o.ignored_consumer_groups)
    for _, s in ipairs({ tostring(pool), tostring(engine), tostring(r) }) do
      assert.is_nil(s:find("top-secret-pw", 1, true))
    end
    engine:close()
  end)

  it("accepts a pool without options, with librdkafka-compatible defaults", function()
    local r = fk.new_registry()
    r:register_kafka({ "127.0.0.1:9092" }, "plain")
    local engine = assert(r:validate())
    local o = engine:kafka("plain"):get_pool_options()
    assert.are.equal(-1, o.required_acks)
    assert.are.equal(0, o.producer_linger)
    assert.is_nil(o.sasl)
    engine:close()
  end)

  it("raises on misuse, naming the function and the argument", function()
    local r = fk.new_registry()
    assert.has_error(function() r:register_kafka("127.0.0.1:9092", "x") end,
      "register_kafka: argument #1 'brokers' must be an array of strings, got string")
    assert.has_error(function() r:register_kafka({ "b" }, 12) end,
      "register_kafka: argument #2 'code' must be a string, got number")
    assert.has_error(function() r:register_kafka({ "b" }, "x", { required_acks = 5 }) end)
    assert.has_error(function() r:register_kafka({ "b" }, "x", { clientId = "typo" }) end)
    local ok, err = pcall(r.register_kafka, r, { "b" }, "x", { clientId = "typo" })
    assert.is_false(ok)
    assert.matches("unknown option 'clientId'", err)
    ok, err = pcall(r.register_kafka, r, { "b" }, "x", { sasl = { mechanism = "KERBEROS", user = "u", password = "p" } })
    assert.is_false(ok)
    assert.matches("sasl.mechanism", err)
    ok, err = pcall(r.register_kafka, r, { "b" }, "x", { producer_linger = -1 })
    assert.is_false(ok)
    assert.matches("producer_linger", err)
    ok, err = pcall(r.register_kafka, r, { "b" }, "x", { sasl = { mechanism = "PLAIN", user = "u", password = 42 } })
    assert.is_false(ok)
    assert.is_nil(err:find("42", 1, true))
  end)

  it("builds consumer groups fluently", function()
    local b = fk.new_kafka_consumer_group("g", "events")
    assert.are.equal(b, b:topics("a", "b"))
    assert.are.equal(b, b:session_timeout(30))
    assert.are.equal(b, b:rebalance_timeout(60))
    assert.are.equal(b, b:fetch_max_bytes(10485760))
    assert.are.equal(b, b:auto_commit_interval(5))
    assert.has_error(function() b:session_timeout("30") end)
    assert.has_error(function() b:fetch_max_bytes(-1) end)
    assert.has_error(function() b:topics(1) end)
    assert.has_error(function() b:topics() end)
  end)

  it("lists consumer groups of a pool in registration order", function()
    local r = fk.new_registry()
    r:register_kafka({ "b:1" }, "events")
    r:register_kafka({ "b:1" }, "other")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group("zeta", "events"):topics("t"))
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group("alpha", "events"):topics("t"))
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group("elsewhere", "other"):topics("t"))
    local engine = assert(r:validate())
    assert.are.same({ "zeta", "alpha" }, engine:kafka("events"):consumer_group_names())
    assert.are.same({ "elsewhere" }, engine:kafka("other"):consumer_group_names())
    engine:close()
  end)

  it("validate explains what is inconsistent", function()
    local cases = {
      { function(r) r:register_kafka_consumer_group(fk.new_kafka_consumer_group("g1", "nope"):topics("t")) end,
        "consumer group 'g1' uses unknown pool 'nope'" },
      { function(r) r:register_kafka_consumer_group(fk.new_kafka_consumer_group("g2", "events")) end,
        "consumer group 'g2' of pool 'events' has no topics" },
      { function(r) r:register_kafka({ "b:1" }, "events") end, "pool 'events' is registered more than once" },
      { function(r)
          r:register_kafka_consumer_group(fk.new_kafka_consumer_group("dup", "events"):topics("t"))
          r:register_kafka_consumer_group(fk.new_kafka_consumer_group("dup", "events"):topics("u"))
        end, "consumer group 'dup' is registered more than once in pool 'events'" },
    }
    for _, case in ipairs(cases) do
      local r = fk.new_registry()
      r:register_kafka({ "b:1" }, "events")
      case[1](r)
      local engine, err = r:validate()
      assert.is_nil(engine)
      assert.matches(case[2], err, 1, true)
    end
  end)

  it("engine:kafka raises for an unknown pool, and a later registration does not change an engine", function()
    local r = fk.new_registry()
    r:register_kafka({ "b:1" }, "events")
    local engine = assert(r:validate())
    local ok, err = pcall(engine.kafka, engine, "missing")
    assert.is_false(ok)
    assert.matches("unknown kafka pool 'missing'", err)
    r:register_kafka({ "b:1" }, "later")
    assert.has_error(function() engine:kafka("later") end)
    assert.is_table(engine:new_context())
    engine:close()
  end)
end)
