-- Transactions (pool option transactional_id) and the timestamp start of consumer groups,
-- against the real broker. Consumers read committed records only (librdkafka's default
-- isolation.level), so what a test reads back is what the transactions made visible.
local support = require "spec.support"
local fk = require "fluxakafka"

-- An engine with a transactional pool "tx", a plain pool "plain" and the given groups.
local function engine_with(tx_options, groups)
  local r = fk.new_registry()
  local options = { transactional_id = support.unique("txid") }
  for k, v in pairs(tx_options or {}) do options[k] = v end
  r:register_kafka(support.brokers, "tx", options)
  r:register_kafka(support.brokers, "plain")
  for _, g in ipairs(groups or {}) do r:register_kafka_consumer_group(g) end
  local engine = assert(r:validate())
  return engine, engine:kafka("tx"), engine:kafka("plain")
end

local function values(records)
  local out = {}
  for _, r in ipairs(records) do out[#out + 1] = r.value end
  return out
end

-- Reads `topic` from the beginning with a new group on `pool` until `last` was read.
local function read_until(engine_pool_code, topic, last)
  local group = support.unique("txread")
  local r = fk.new_registry()
  r:register_kafka(support.brokers, engine_pool_code)
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, engine_pool_code):topics(topic))
  local engine = assert(r:validate())
  local cg = assert(engine:kafka(engine_pool_code):consumer_group(group))
  local got, deadline = {}, os.time() + 30
  repeat
    local fetches = assert(cg:poll_fetches(0.5))
    for rec in fetches:iter() do got[#got + 1] = rec end
  until (got[#got] and got[#got].value == last) or os.time() > deadline
  engine:close()
  return got
end

describe("transactions", function()
  local engine
  after_each(function() if engine then engine:close() end engine = nil end)

  it("commit makes a transaction's records visible, abort hides them", function()
    local topic = support.unique("tx")
    local tx
    engine, tx = engine_with()
    assert.is_false(tx:in_transaction())
    assert.is_true(tx:begin_transaction())
    assert.is_true(tx:in_transaction())
    assert.is_true(tx:produce({ topic = topic, value = "one" }))
    assert.is_true(tx:produce_sync({ topic = topic, value = "two" }))
    assert.is_true(tx:commit_transaction())
    assert.is_false(tx:in_transaction())

    assert.is_true(tx:begin_transaction())
    assert.is_true(tx:produce_sync({ topic = topic, value = "aborted-1" }, { topic = topic, value = "aborted-2" }))
    assert.is_true(tx:abort_transaction())

    assert.is_true(tx:begin_transaction())
    assert.is_true(tx:produce({ topic = topic, value = "three" }))
    assert.is_true(tx:commit_transaction(30))

    assert.are.same({ "one", "two", "three" }, values(read_until("plain", topic, "three")))
    -- the aborted records and the transaction markers take offsets too
    local low, high = assert(tx:watermarks(topic, 0))
    assert.are.equal(0, low)
    assert.is_true(high >= 8, "high watermark " .. tostring(high))
  end)

  it("a transaction carries null values (tombstones) like any record", function()
    local topic = support.unique("tx-null")
    local tx
    engine, tx = engine_with()
    assert.is_true(tx:begin_transaction())
    assert.is_true(tx:produce({ topic = topic, key = "a" }))
    assert.is_true(tx:produce_sync({ topic = topic, key = "b", value = fk.null }, { topic = topic, key = "c", value = "" }))
    assert.is_true(tx:produce({ topic = topic, key = "end", value = "end" }))
    assert.is_true(tx:commit_transaction())
    local got = read_until("plain", topic, "end")
    assert.are.equal(4, #got)
    local by_key = {}
    for _, rec in ipairs(got) do by_key[rec.key] = rec end
    assert.is_nil(by_key.a.value)
    assert.is_nil(by_key.b.value)
    assert.are.equal("", by_key.c.value)
  end)

  it("records outside a transaction are refused with the reason", function()
    local topic = support.unique("tx")
    local tx
    engine, tx = engine_with()
    local ok, err, code = tx:produce({ topic = topic, value = "x" })
    assert.is_nil(ok)
    assert.matches("is transactional: produce between pool:begin_transaction()", err, 1, true)
    assert.are.equal("_STATE", code)
    ok, err, code = tx:produce_sync({ topic = topic, value = "x" })
    assert.is_nil(ok)
    assert.matches("begin_transaction", err, 1, true)
    assert.are.equal("_STATE", code)
    -- commit and abort need an open transaction
    local kind
    ok, err, code, kind = tx:commit_transaction()
    assert.is_nil(ok)
    assert.matches("commit_transaction: kafka pool 'tx' is not in a transaction", err, 1, true)
    assert.are.equal("_STATE", code)
    assert.are.equal("error", kind)
    assert.is_true(tx:begin_transaction())
    ok, err, code = tx:begin_transaction()
    assert.is_nil(ok)
    assert.matches("in a transaction already", err, 1, true)
    assert.is_true(tx:abort_transaction())
  end)

  it("a pool without transactional_id says so", function()
    local plain
    engine, _, plain = engine_with()
    local ok, err, code, kind = plain:begin_transaction()
    assert.is_nil(ok)
    assert.matches("kafka pool 'plain' has no transactional_id option", err, 1, true)
    assert.are.equal("_NOT_CONFIGURED", code)
    assert.are.equal("error", kind)
  end)

  it("a second producer with the same transactional_id fences the first", function()
    local topic, id = support.unique("tx"), support.unique("txid")
    local tx
    engine, tx = engine_with({ transactional_id = id })
    assert.is_true(tx:begin_transaction())
    assert.is_true(tx:produce_sync({ topic = topic, value = "old" }))
    local other_engine, other = engine_with({ transactional_id = id })
    assert.is_true(other:begin_transaction())   -- fences tx (and aborts its open transaction)
    assert.is_true(other:produce_sync({ topic = topic, value = "new" }))
    assert.is_true(other:commit_transaction())
    local ok, err, code, kind = tx:commit_transaction()
    assert.is_nil(ok)
    assert.is_string(code)
    assert.is_truthy(kind == "fatal" or kind == "abortable", kind)
    assert.matches("commit_transaction of kafka pool 'tx' failed", err, 1, true)
    other_engine:close()
    assert.are.same({ "new" }, values(read_until("plain", topic, "new")))
  end)

  it("consume-transform-produce: offsets commit with the transaction; after abort the records are read again", function()
    local input, output, group = support.unique("txin"), support.unique("txout"), support.unique("txg")
    local tx, plain
    engine, tx, plain = engine_with(nil, { fk.new_kafka_consumer_group(group, "tx"):topics(input) })
    for i = 1, 5 do assert.is_true(plain:produce({ topic = input, value = "v" .. i })) end
    assert.is_true(plain:flush(30))
    local cg = assert(tx:consumer_group(group))

    local function transform(records)
      for _, rec in ipairs(records) do
        assert.is_true(tx:produce({ topic = output, value = rec.value:upper() }))
      end
      assert.is_true(tx:send_offsets_to_transaction(cg))
    end

    local first = support.consume(cg, 5)
    assert.are.same({ "v1", "v2", "v3", "v4", "v5" }, values(first))
    assert.is_true(tx:begin_transaction())
    transform(first)
    assert.is_true(tx:abort_transaction())
    local committed = assert(cg:committed({ { topic = input, partition = 0 } }))
    assert.is_nil(committed[1].offset, "nothing committed yet")

    -- the aborted batch again, from the committed offset (none: the start of the partition)
    assert.is_true(cg:seek_to_committed())
    local again = support.consume(cg, 5)
    assert.are.same({ "v1", "v2", "v3", "v4", "v5" }, values(again))
    assert.is_true(tx:begin_transaction())
    transform(again)
    assert.is_true(tx:commit_transaction())

    committed = assert(cg:committed({ { topic = input, partition = 0 } }))
    assert.are.equal(5, committed[1].offset)
    assert.are.same({ "V1", "V2", "V3", "V4", "V5" }, values(read_until("plain", output, "V5")))

    -- seek_to_committed now goes back to offset 5: a new record is next, nothing twice
    assert.is_true(plain:produce_sync({ topic = input, value = "v6" }))
    assert.is_true(cg:seek_to_committed())
    assert.are.same({ "v6" }, values(support.consume(cg, 1)))
  end)

  it("send_offsets_to_transaction refuses a group that commits on its own", function()
    local input, group = support.unique("txin"), support.unique("txg")
    local tx
    engine, tx = engine_with(nil, { fk.new_kafka_consumer_group(group, "tx"):topics(input):auto_commit_interval(1) })
    local cg = assert(tx:consumer_group(group))
    assert.is_true(tx:begin_transaction())
    local ok, err = tx:send_offsets_to_transaction(cg)
    assert.is_nil(ok)
    assert.matches("commits on its own (auto_commit_interval)", err, 1, true)
    assert.is_true(tx:abort_transaction())
    ok, err = tx:send_offsets_to_transaction(cg)
    assert.is_nil(ok)
    assert.matches("not in a transaction", err, 1, true)
    assert.has_error(function() tx:send_offsets_to_transaction("cg") end)
  end)

  it("closing a pool in a transaction aborts it", function()
    local topic = support.unique("tx")
    local tx
    engine, tx = engine_with()
    assert.is_true(tx:begin_transaction())
    assert.is_true(tx:produce_sync({ topic = topic, value = "never" }))
    engine:close()
    engine = nil
    -- a committed record after it is readable at once: the aborted transaction does not hold
    -- read_committed consumers back until the coordinator's timeout
    local e2, tx2 = engine_with()
    engine = e2
    assert.is_true(tx2:begin_transaction())
    assert.is_true(tx2:produce({ topic = topic, value = "after" }))
    assert.is_true(tx2:commit_transaction())
    assert.are.same({ "after" }, values(read_until("plain", topic, "after")))
  end)
end)

describe("transaction options", function()
  it("are checked at validate, naming the pool", function()
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "a", { transactional_id = "t1", required_acks = 1 })
    local engine, err = r:validate()
    assert.is_nil(engine)
    assert.matches("kafka pool 'a': transactions (transactional_id) need required_acks = -1", err, 1, true)

    r = fk.new_registry()
    r:register_kafka(support.brokers, "a", { transactional_id = "same" })
    r:register_kafka(support.brokers, "b", { transactional_id = "same" })
    engine, err = r:validate()
    assert.is_nil(engine)
    assert.matches("transactional_id 'same' is also the one of pool 'a'", err, 1, true)

    assert.has_error(function()
      fk.new_registry():register_kafka(support.brokers, "a", { transactional_id = "" })
    end, "register_kafka: option 'transactional_id' must be a non-empty string")

    r = fk.new_registry()
    r:register_kafka(support.brokers, "a", { rdkafka = { ["transactional.id"] = "x" } })
    engine, err = r:validate()
    assert.is_nil(engine)
    assert.matches("transactional.id", err, 1, true)
    assert.matches("use the transactional_id option", err, 1, true)
  end)

  it("YAML transactionalID reaches the pool", function()
    local r = fk.new_registry()
    assert(r:init_by_yaml("p:\n  kafka:\n    brokers: [\"127.0.0.1:9092\"]\n    transactionalID: orders-tx\n"))
    local engine = assert(r:validate())
    assert.are.equal("orders-tx", engine:kafka("p"):get_pool_options().transactional_id)
    engine:close()
    local ok, err = fk.new_registry():init_by_yaml("p:\n  kafka:\n    brokers: [a]\n    transactionalId: x\n")
    assert.is_nil(ok)
    assert.matches("transactionalID", err, 1, true)
  end)
end)

describe("start_offset(timestamp)", function()
  local engine
  after_each(function() if engine then engine:close() end engine = nil end)

for _, threaded in ipairs({ false, true }) do
  -- threaded: opened as inside nginx (never_blocks), where the start offsets are looked up on
  -- a thread of their own and a later poll makes the assignment
  local how = threaded and " (lookup on a thread, as inside nginx)" or ""
  local function open(pool, group)
    if not threaded then return assert(pool:consumer_group(group)) end
    local job = assert(pool:_consumer_group_start("consumer_group", group, true))
    assert(job:_wait(30))
    return assert(job:_result())
  end

  it("starts at the first record written at or after the time" .. how, function()
    local topic = support.unique("ts")
    local hour = 3600 * 1000
    local now_ms = os.time() * 1000
    local group = support.unique("tsg")
    local pool
    engine, pool = support.engine(nil, {
      fk.new_kafka_consumer_group(group, "events"):topics(topic):start_offset(now_ms - 2.5 * hour) })
    assert.is_true(pool:produce_sync({ topic = topic, value = "3h ago", timestamp = now_ms - 3 * hour },
      { topic = topic, value = "2h ago", timestamp = now_ms - 2 * hour },
      { topic = topic, value = "1h ago", timestamp = now_ms - hour }))
    local cg = open(pool, group)
    assert.are.equal(now_ms - 2.5 * hour, cg:get_settings().start_offset)
    assert.are.same({ "2h ago", "1h ago" }, values(support.consume(cg, 2)))
  end)

  it("starts at the end when every record is older, and a committed offset wins" .. how, function()
    local topic = support.unique("ts")
    local group = support.unique("tsg")
    local now_ms = os.time() * 1000
    local pool
    engine, pool = support.engine(nil, {
      fk.new_kafka_consumer_group(group, "events"):topics(topic):start_offset(now_ms + 3600 * 1000) })
    assert.is_true(pool:produce_sync({ topic = topic, value = "old-1", timestamp = now_ms - 1000 },
      { topic = topic, value = "old-2", timestamp = now_ms - 500 }))
    local cg = open(pool, group)
    -- poll until the partition is assigned (its start looked up), then write a new record
    local deadline = os.time() + 30
    repeat assert(cg:poll_fetches(0.1)) until #assert(cg:assignment()) > 0 or os.time() > deadline
    assert.is_true(pool:produce_sync({ topic = topic, value = "new-1" }))
    assert.are.same({ "new-1" }, values(support.consume(cg, 1)))
    assert.is_true(cg:commit_uncommitted_offsets())
    cg:close()

    -- the same group again: offset 3 is committed, so the timestamp does not apply
    assert.is_true(pool:produce_sync({ topic = topic, value = "new-2", timestamp = now_ms - 2000 }))
    cg = open(pool, group)
    assert.are.same({ "new-2" }, values(support.consume(cg, 1)))
  end)
end

  it("is checked where it is given", function()
    local b = fk.new_kafka_consumer_group("g", "events")
    assert.has_error(function() b:start_offset(-5) end)
    assert.has_error(function() b:start_offset(1.5) end)
    assert.has_error(function() b:start_offset("yesterday") end)
    local r = fk.new_registry()
    assert(r:init_by_yaml("p:\n  kafka:\n    brokers: [a]\n    consumerGroups:\n      - name: g\n        topics: [t]\n        startOffset: 1700000000000\n"))
    local ok, err = fk.new_registry():init_by_yaml(
      "p:\n  kafka:\n    brokers: [a]\n    consumerGroups:\n      - name: g\n        topics: [t]\n        startOffset: -3\n")
    assert.is_nil(ok)
    assert.matches("startOffset", err, 1, true)
    assert.matches("milliseconds since the epoch", err, 1, true)
  end)
end)
