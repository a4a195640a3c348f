-- Schema management against the real broker: every row of "What Gets Compared", ignored and
-- internal names, unmanaged pools, async-flush topics, and plan stability after apply.
local fk = require "fluxakafka"

local BROKERS = {}
for b in (os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"):gmatch("[^,]+") do BROKERS[#BROKERS + 1] = b end

local counter = 0
local function unique(prefix)
  counter = counter + 1
  return ("%s-%d-%d-%d"):format(prefix, os.time(), counter, math.random(100000, 999999))
end

-- Builds an engine from a setup function; returns ctx and the engine (closed in after_each).
local engines = {}
local function context(setup, options)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "events", options or {})
  setup(r)
  local engine = assert(r:validate())
  engines[#engines + 1] = engine
  return engine:new_context(), engine
end

-- A registry whose one pool ("down", connect_timeout 1 s) has no broker listening.
local function unreachable_registry()
  local r = fk.new_registry()
  r:register_kafka({ "127.0.0.1:1" }, "down", { connect_timeout = 1 })
  r:register_kafka_topic(fk.new_kafka_topic("t", "down"))
  return r
end

local function plan(ctx)
  return assert(fk.get_kafka_alters(ctx))
end

local function find(alters, kind, name)
  for _, a in ipairs(alters) do
    if a.kind == kind and (a.topic == name or a.group == name) then return a end
  end
end

local function apply_all(ctx, alters)
  for _, a in ipairs(alters) do
    local ok, err = a:exec(ctx)
    assert(ok, err)
  end
end

-- Applies only the alters that concern `names` (other work on the broker stays untouched).
local function apply_for(ctx, alters, names)
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  for _, a in ipairs(alters) do
    if set[a.topic or a.group] then assert(a:exec(ctx)) end
  end
end

local function topic_exists(ctx, name)
  -- a topic exists when a pool that does not register it would delete it
  local probe = context(function(r) r:register_kafka_topic(fk.new_kafka_topic(unique("probe"), "events")) end)
  return find(plan(probe), "delete_topic", name) ~= nil
end

describe("get_kafka_alters", function()
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
  end)

  it("creates a missing topic with its partitions, replication factor and configs", function()
    local name = unique("create")
    local ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(3):replication_factor(1)
        :retention_ms(86400000):cleanup_policy("delete"))
    end)
    local alters = plan(ctx)
    local create = assert(find(alters, "create_topic", name), "no create alter")
    assert.are.equal("events", create.pool)
    assert.is_false(create.warning)
    assert.are.equal(3, create.partitions)
    assert.matches("Create topic '" .. name:gsub("%-", "%%-") .. "'", create.description)
    assert.matches("3 partitions", create.description)
    assert.matches("retention.ms=86400000", create.description)
    assert.is_true(create:exec(ctx))
    -- the new topic is ready right after exec: all 3 partitions take records
    local pool = engines[#engines]:kafka("events")
    assert(pool:produce_sync({ topic = name, value = "p2", partition = 2 }))
    assert.is_nil(find(plan(ctx), "create_topic", name))
    assert.is_nil(find(plan(ctx), "alter_topic_config", name))
  end)

  it("increases partitions, and only warns for a decrease or a replication factor change", function()
    local name = unique("parts")
    local ctx = context(function(r) r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(2)) end)
    apply_for(ctx, plan(ctx), { name })

    ctx = context(function(r) r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(4)) end)
    local grow = assert(find(plan(ctx), "add_partitions", name))
    assert.matches("2 %-> 4", grow.description)
    assert.matches("warning: keys move to other partitions", grow.description, 1, true)
    assert.is_true(grow:exec(ctx))
    assert.is_nil(find(plan(ctx), "add_partitions", name))

    ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(1):replication_factor(3))
    end)
    local alters = plan(ctx)
    local shrink = assert(find(alters, "partitions_warning", name))
    local rf = assert(find(alters, "replication_warning", name))
    assert.is_true(shrink.warning)
    assert.is_true(rf.warning)
    assert.matches("4 partitions but 1", shrink.description)
    assert.is_true(shrink:exec(ctx))   -- does nothing
    assert.is_true(rf:exec(ctx))
    assert(find(plan(ctx), "partitions_warning", name), "the warning must stay: nothing changed")
  end)

  it("alters only differing configs and keeps every other override of the topic", function()
    local name = unique("configs")
    local ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(1)
        :retention_ms(86400000):config("segment.ms", "3600000"):max_message_bytes(2000000))
    end)
    apply_for(ctx, plan(ctx), { name })

    -- declare only retention.ms, with a new value
    ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(1):retention_ms(3600000))
    end)
    local alter = assert(find(plan(ctx), "alter_topic_config", name))
    assert.are.equal("Alter topic '" .. name .. "' in pool 'events' config retention.ms: 86400000 -> 3600000",
      alter.description)
    assert.are.same({ ["retention.ms"] = "3600000" }, alter.configs)
    assert.is_true(alter:exec(ctx))

    -- the overrides that were not mentioned are still there
    ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(1):retention_ms(3600000)
        :config("segment.ms", "3600000"):max_message_bytes(2000000))
    end)
    assert.is_nil(find(plan(ctx), "alter_topic_config", name))
  end)

  it("has the broker check new topics and config changes: a refusal shows in the plan, nothing changes", function()
    local fresh, old, fine = unique("refused-new"), unique("refused-old"), unique("refused-fine")
    local ctx = context(function(r) r:register_kafka_topic(fk.new_kafka_topic(old, "events"):partitions(1)) end)
    apply_for(ctx, plan(ctx), { old })

    ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(fresh, "events"):partitions(1):config("retention.ms", "7d"))
      r:register_kafka_topic(fk.new_kafka_topic(old, "events"):partitions(1):config("retention.ms", "7d"))
      r:register_kafka_topic(fk.new_kafka_topic(fine, "events"):partitions(1):retention_ms(3600000))
      r:register_kafka_topic(fk.new_kafka_topic(unique("refused-rf"), "events"):partitions(1):replication_factor(99))
    end)
    local alters = plan(ctx)
    local create = assert(find(alters, "create_topic", fresh))
    assert.are.equal("INVALID_CONFIG", create.refusal_code)
    assert.matches("7d", create.refusal, 1, true)
    assert.matches("retention.ms", create.refusal, 1, true)
    local alter = assert(find(alters, "alter_topic_config", old))
    assert.are.equal("INVALID_CONFIG", alter.refusal_code)
    assert.matches("retention.ms", alter.refusal, 1, true)
    for _, a in ipairs(alters) do
      if a.kind == "create_topic" and a.topic:match("^refused%-rf") then
        assert.are.equal("INVALID_REPLICATION_FACTOR", a.refusal_code)
      end
    end
    local accepted = assert(find(alters, "create_topic", fine))
    assert.is_nil(accepted.refusal)
    assert.is_nil(accepted.refusal_code)
    -- validate-only: nothing was created or changed by the plan
    assert.is_false(topic_exists(ctx, fresh))
    assert.is_false(topic_exists(ctx, fine))
    local pool = engines[#engines]:kafka("events")
    local described = assert(pool:describe_topics({ old }))[1]
    assert.are.equal("DEFAULT_CONFIG", described.configs["retention.ms"].source)
    -- exec of a refused alter fails as the broker says
    local ok, err, code = create:exec(ctx)
    assert.is_nil(ok)
    assert.are.equal("INVALID_CONFIG", code)
    assert.matches("7d", err, 1, true)
  end)

  it("compares values as the broker means them", function()
    local name = unique("stable")
    local ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(1):cleanup_policy("delete,compact")
        :compression_type("none"))
    end)
    apply_for(ctx, plan(ctx), { name })
    ctx = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(name, "events"):partitions(1)
        :cleanup_policy("compact,delete")            -- other order
        :compression_type("uncompressed")            -- what "none" means on the broker
        :config("min.insync.replicas", "1")          -- equal to the broker default
        :config("retention.bytes", "-1"))            -- default, spelled as a number
    end)
    assert.is_nil(find(plan(ctx), "alter_topic_config", name))
  end)

  it("deletes unregistered topics but not internal or ignored ones, and lists deletions last", function()
    local keep, ignored, orphan = unique("keep"), unique("ignored"), unique("orphan")
    local ctx, engine = context(function(r) r:register_kafka_topic(fk.new_kafka_topic(keep, "events"):partitions(1)) end,
      { ignored_topics = { ignored } })
    local pool = engine:kafka("events")
    assert(pool:produce_sync({ topic = ignored, value = "x" }, { topic = orphan, value = "x" }))
    local alters = plan(ctx)
    assert(find(alters, "create_topic", keep))
    local delete = assert(find(alters, "delete_topic", orphan))
    assert.matches("Delete topic '" .. orphan:gsub("%-", "%%-") .. "'", delete.description)
    assert.is_nil(find(alters, "delete_topic", ignored))
    assert.is_nil(find(alters, "delete_topic", "__consumer_offsets"))
    local seen_delete = false
    for _, a in ipairs(alters) do
      if a.kind:match("^delete") then seen_delete = true
      else assert.is_false(seen_delete, "a non-deletion after a deletion: " .. a.description) end
    end
    assert.is_true(delete:exec(ctx))
    assert.is_false(topic_exists(ctx, orphan))
  end)

  it("manages no topic of a pool without registered topics", function()
    local orphan = unique("unmanaged")
    local ctx, engine = context(function() end)
    assert(engine:kafka("events"):produce_sync({ topic = orphan, value = "x" }))
    for _, a in ipairs(plan(ctx)) do
      assert.is_nil(a.topic, "unexpected topic alter: " .. a.description)
    end
  end)

  it("deletes unregistered consumer groups, not ignored ones, and reports a group with members", function()
    local topic, orphan, ignored, busy = unique("groups"), unique("orphan-group"), unique("ignored-group"), unique("busy-group")
    local r = fk.new_registry()
    r:register_kafka(BROKERS, "events")
    for _, g in ipairs({ orphan, ignored, busy }) do
      r:register_kafka_consumer_group(fk.new_kafka_consumer_group(g, "events"):topics(topic):session_timeout(6))
    end
    local producer_engine = assert(r:validate())
    engines[#engines + 1] = producer_engine
    local pool = producer_engine:kafka("events")
    assert(pool:produce_sync({ topic = topic, value = "x" }))
    -- each group commits an offset so that it exists on the broker
    local busy_cg
    for _, g in ipairs({ orphan, ignored, busy }) do
      local cg = assert(pool:consumer_group(g))
      local deadline = os.time() + 30
      repeat local f = cg:poll_fetches(1) until not f:is_empty() or os.time() > deadline
      assert(cg:commit_uncommitted_offsets())
      if g == busy then busy_cg = cg else cg:close() end
    end

    local ctx = context(function() end, { ignored_consumer_groups = { ignored } })
    local alters = plan(ctx)
    local del = assert(find(alters, "delete_group", orphan))
    assert.matches("Delete consumer group '" .. orphan:gsub("%-", "%%-") .. "'", del.description)
    assert.is_nil(find(alters, "delete_group", ignored))
    assert.is_true(del:exec(ctx))
    assert.is_nil(find(plan(ctx), "delete_group", orphan))

    local busy_alter = assert(find(alters, "delete_group", busy))
    local ok, err, code = busy_alter:exec(ctx)
    assert.is_nil(ok)
    assert.are.equal("NON_EMPTY_GROUP", code)
    assert.matches(busy:gsub("%-", "%%-"), err)
    busy_cg:close()
    assert.is_true(busy_alter:exec(ctx))
  end)

  it("creates the async flush topics and never deletes them or the async consumer group", function()
    local ctx = context(function(r) r:register_async_flush("events", { topic_partitions = 2 }) end)
    local alters = plan(ctx)
    for _, name in ipairs({ fk.ASYNC_SQL_TOPIC_NAME, fk.ASYNC_SQL_DEAD_LETTER_TOPIC_NAME }) do
      local create = find(alters, "create_topic", name)
      if create then assert.is_true(create:exec(ctx)) end
      assert.is_nil(find(alters, "delete_topic", name))
    end
    alters = plan(ctx)
    assert.is_nil(find(alters, "create_topic", fk.ASYNC_SQL_TOPIC_NAME))
    assert.is_nil(find(alters, "delete_group", fk.ASYNC_SQL_CONSUMER_GROUP_NAME))
  end)

  it("returns nothing right after its whole plan was applied", function()
    local a, b, orphan = unique("stable-a"), unique("stable-b"), unique("stable-orphan")
    -- what other work left on the broker stays out of this plan; the orphan made here is in it
    local foreign_topics, foreign_groups = {}, {}
    for _, x in ipairs(plan(context(function(r) r:register_kafka_topic(fk.new_kafka_topic(unique("probe"), "events")) end))) do
      if x.kind == "delete_topic" then foreign_topics[#foreign_topics + 1] = x.topic end
      if x.kind == "delete_group" then foreign_groups[#foreign_groups + 1] = x.group end
    end
    local _, maker = context(function() end)
    assert(maker:kafka("events"):produce_sync({ topic = orphan, value = "x" }))
    local options = { ignored_topics = foreign_topics, ignored_consumer_groups = foreign_groups }
    local setup = function(r)
      r:register_kafka_topic(fk.new_kafka_topic(a, "events"):partitions(2):retention_ms(7200000)
        :cleanup_policy("delete,compact"):min_insync_replicas(1))
      r:register_kafka_topic(fk.new_kafka_topic(b, "events"):partitions(1):compression_type("lz4"))
      r:register_async_flush("events", { topic_partitions = 2 })
    end
    local ctx = context(setup, options)
    local first = plan(ctx)
    assert(find(first, "delete_topic", orphan), "the orphan topic should be deleted")
    apply_all(ctx, first)
    local again = plan(context(setup, options))
    local left = {}
    for _, x in ipairs(again) do
      if not x.warning then left[#left + 1] = x.description end
    end
    assert.are.same({}, left)
  end)

  it("fails with nil, err, code when the brokers cannot be reached", function()
    local e = assert(unreachable_registry():validate())
    engines[#engines + 1] = e
    local started = os.time()
    local alters, err, code = fk.get_kafka_alters(e:new_context())
    assert.is_nil(alters)
    assert.matches("down", err)
    assert.is_string(code)
    assert.is_true(os.time() - started < 60)
  end)

  it("raises for a missing context", function()
    assert.has_error(function() fk.get_kafka_alters(nil) end)
  end)
end)

describe("alters on a thread of their own (_get_alters_start, _exec_alter_start, used inside nginx)", function()
  local core = fk._private.core
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
  end)

  local function await(req)
    local deadline = os.time() + 60
    while not req:_ready() and os.time() <= deadline do end
    return req:_result()
  end

  it("plan and apply as the blocking calls do", function()
    local topic = unique("async-alter")
    local ctx, engine = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(topic, "events"):partitions(2):config("retention.ms", "3600000"))
    end)
    local blocking, threaded = find(plan(ctx), "create_topic", topic), nil
    for _, a in ipairs(assert(await(assert(core._get_alters_start(engine))))) do
      if a.topic == topic then
        assert.is_nil(threaded, "one alter for the topic")
        threaded = a
      end
    end
    assert.are.equal(blocking.description, threaded.description)
    assert.are.same(blocking.configs, threaded.configs)
    assert.is_true(await(assert(core._exec_alter_start(threaded._handle))))
    local again = plan(ctx)
    for _, a in ipairs(again) do assert.are_not.equal(topic, a.topic, a.description) end
    -- the topic was created as declared: shrinking the declaration is a warning now
    local smaller = context(function(r)
      r:register_kafka_topic(fk.new_kafka_topic(topic, "events"):partitions(1):config("retention.ms", "3600000"))
    end)
    local warning = find(plan(smaller), "partitions_warning", topic)
    assert(warning, "a topic with 2 partitions declared with 1 gives a warning")
    -- a warning does nothing: answered at once
    local req = assert(core._exec_alter_start(warning._handle))
    assert.is_true(req:_ready())
    assert.is_true(req:_result())
    assert.has_error(function() req:_result() end, "_result: the request was already answered")
  end)

  it("against unreachable brokers: nil, err, code; closing the engine waits for a running request", function()
    local r = unreachable_registry()
    local engine = assert(r:validate())
    local req = assert(core._get_alters_start(engine))
    assert.is_false(req:_ready())
    engine:close()
    assert.is_true(req:_ready())
    local alters, err, code = req:_result()
    assert.is_nil(alters)
    assert.matches("down", err)
    assert.is_string(code)
    -- one left running and forgotten is waited for by its finalizer
    engine = assert(r:validate())
    engines[#engines + 1] = engine
    req = assert(core._get_alters_start(engine))
    req = nil
    collectgarbage()
    collectgarbage()
    local again, again_err = await(assert(core._get_alters_start(engine)))
    assert.is_nil(again)
    assert.matches("down", again_err)
  end)
end)
