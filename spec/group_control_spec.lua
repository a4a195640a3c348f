-- Consumer group control: assignment, seek, pause / resume, committed offsets, lag, the
-- start offset, and rebalance callbacks (on_assign / on_revoke) against the real broker.
local support = require "spec.support"
local fk = require "fluxakafka"

-- Polls cg until it has an assignment (bounded); returns it.
local function await_assignment(cg, want, others)
  local deadline = os.time() + 30
  local a
  repeat
    assert(cg:poll_fetches(0.1))
    for _, o in ipairs(others or {}) do assert(o:poll_fetches(0.1)) end
    a = assert(cg:assignment())
  until #a >= (want or 1) or os.time() > deadline
  return a
end

local function sorted_offsets(records)
  local out = {}
  for _, r in ipairs(records) do out[#out + 1] = r.offset end
  table.sort(out)
  return out
end

describe("consumer group control", function()
  local engine, pool, topic, group
  before_each(function()
    topic, group = support.unique("ctl"), support.unique("ctl-g")
  end)
  after_each(function() if engine then engine:close() end end)

  local function open(builder_fn)
    local b = fk.new_kafka_consumer_group(group, "events"):topics(topic)
    if builder_fn then b = builder_fn(b) end
    engine, pool = support.engine(nil, { b })
    return assert(pool:consumer_group(group))
  end

  it("assignment lists the partitions, seek re-reads from an offset", function()
    local cg = open()
    assert.is_true(pool:produce_sync({ topic = topic, value = "r0" }, { topic = topic, value = "r1" },
      { topic = topic, value = "r2" }, { topic = topic, value = "r3" }))
    local got = support.consume(cg, 4)
    assert.are.same({ 0, 1, 2, 3 }, sorted_offsets(got))
    assert.are.same({ { topic = topic, partition = 0 } }, cg:assignment())
    assert.is_true(cg:seek(topic, 0, 1))
    local again = support.consume(cg, 3)
    assert.are.same({ 1, 2, 3 }, sorted_offsets(again))
    assert.are.equal("r1", again[1].value)
    local ok, err, code = cg:seek(topic, 7, 0)
    assert.is_nil(ok)
    assert.matches("seek of kafka consumer group '" .. group .. "'", err, 1, true)
    assert.is_string(code)
    cg:close()
  end)

  it("pause stops fetches from a partition until resume", function()
    local cg = open()
    assert.is_true(pool:produce_sync({ topic = topic, value = "a" }))
    assert.are.equal(1, #support.consume(cg, 1))
    local parts = cg:assignment()
    assert.is_true(cg:pause(parts))
    assert.is_true(pool:produce_sync({ topic = topic, value = "b" }, { topic = topic, value = "c" }))
    assert.are.same({}, support.drain(cg, 2))
    assert.is_true(cg:resume(parts))
    local got = support.consume(cg, 2)
    assert.are.same({ 1, 2 }, sorted_offsets(got))
    cg:close()
  end)

  it("committed and lag follow the commits", function()
    local cg = open()
    assert.is_true(pool:produce_sync({ topic = topic, value = "1" }, { topic = topic, value = "2" },
      { topic = topic, value = "3" }, { topic = topic, value = "4" }, { topic = topic, value = "5" }))
    assert.are.equal(5, #support.consume(cg, 5))
    local c = assert(cg:committed())
    assert.are.equal(1, #c)
    assert.is_nil(c[1].offset)    -- nothing committed yet
    local lag = assert(cg:lag())
    assert.are.same({ { topic = topic, partition = 0, high = 5, lag = 5 } }, lag)
    assert.is_true(cg:commit_uncommitted_offsets())
    c = assert(cg:committed({ { topic = topic, partition = 0 } }))
    assert.are.equal(5, c[1].offset)
    assert.is_true(pool:produce_sync({ topic = topic, value = "6" }, { topic = topic, value = "7" }))
    local low, high = pool:watermarks(topic, 0)
    assert.are.equal(0, low)
    lag = assert(cg:lag())
    assert.are.same({ { topic = topic, partition = 0, committed = 5, high = high, lag = high - 5 } }, lag)
    assert.are.equal(2, lag[1].lag)
    cg:close()
  end)

  it("start_offset latest skips what was there before the group's first assignment", function()
    assert.has_error(function() fk.new_kafka_consumer_group("g", "e"):start_offset("middle") end,
      'start_offset: expected "earliest", "latest" or a timestamp in milliseconds, got middle')
    local cg = open(function(b) return b:start_offset("latest") end)
    assert.are.equal("latest", cg:get_settings().start_offset)
    assert.is_true(pool:produce_sync({ topic = topic, value = "old" }))
    await_assignment(cg)
    -- the start position is resolved when fetching starts: produce until a record arrives;
    -- the first one is never "old" (with earliest it would be)
    local got, deadline = {}, os.time() + 30
    while #got == 0 and os.time() <= deadline do
      assert.is_true(pool:produce_sync({ topic = topic, value = "new" }))
      for rec in assert(cg:poll_fetches(0.3)):iter() do got[#got + 1] = rec end
    end
    assert.is_true(#got >= 1)
    assert.is_true(got[1].offset >= 1)
    assert.are.equal("new", got[1].value)
    cg:close()
  end)

  it("raises on misuse, naming the method and argument", function()
    local cg = open()
    assert.has_error(function() cg:seek(topic, "x", 1) end,
      "seek: argument #2 'partition' must be a partition number (0 or more)")
    assert.has_error(function() cg:seek(topic, 0, -1) end,
      "seek: argument #3 'offset' must be an offset (an integer, 0 or more)")
    assert.has_error(function() cg:pause("x") end,
      "pause: argument #1 'partitions' must be an array of {topic=, partition=}, got string")
    assert.has_error(function() cg:resume({ { topic = topic } }) end,
      "resume: partitions[1].partition must be a partition number (0 or more)")
    assert.has_error(function() cg:committed({ 5 }) end,
      "committed: partitions[1] must be a table {topic=, partition=}, got number")
    cg:close()
    assert.has_error(function() cg:lag() end, "lag: kafka consumer group '" .. group .. "' is closed")
    assert.has_error(function() cg:assignment() end, "assignment: kafka consumer group '" .. group .. "' is closed")
  end)
end)

describe("rebalance callbacks", function()
for _, strategy in ipairs({ "range", "cooperative-sticky" }) do
  it("on_assign and on_revoke run in poll_fetches; a commit in on_revoke means nothing is read twice (" .. strategy .. ")", function()
    local topic, group = support.unique("rb"), support.unique("rb-g")
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events")
    r:register_kafka_topic(fk.new_kafka_topic(topic, "events"):partitions(2))
    local events = {}
    local function builder(member)
      return fk.new_kafka_consumer_group(group, "events"):topics(topic):session_timeout(10)
        :rdkafka({ ["partition.assignment.strategy"] = strategy })
        :on_assign(function(cg, parts)
          events[#events + 1] = { member = member, kind = "assign", n = #parts }
        end)
        :on_revoke(function(cg, parts)
          -- the partitions are still ours: what was handed out can be committed
          local assigned = {}
          for _, p in ipairs(assert(cg:assignment())) do assigned[p.topic .. "/" .. p.partition] = true end
          for _, p in ipairs(parts) do assert(assigned[p.topic .. "/" .. p.partition], "revoked before on_revoke") end
          assert(cg:commit_uncommitted_offsets())
          events[#events + 1] = { member = member, kind = "revoke", n = #parts }
        end)
    end
    r:register_kafka_consumer_group(builder("a"))
    local e = assert(r:validate())
    local ctx = e:new_context()
    for _, alter in ipairs(assert(fk.get_kafka_alters(ctx))) do
      if alter.description:find(topic, 1, true) then assert(alter:exec(ctx)) end
    end
    local pool = e:kafka("events")
    local a = assert(pool:consumer_group(group))
    local recs = {}
    for i = 1, 20 do recs[i] = { topic = topic, key = "k" .. i, value = "v" .. i } end
    assert.is_true(pool:produce_sync(unpack(recs)))
    local first = support.consume(a, 20)
    assert.are.equal(20, #first)
    assert.are.equal("assign", events[1].kind)
    assert.are.equal("a", events[1].member)
    assert.are.equal(2, events[1].n)
    -- a second member joins: a's partitions are revoked (a commits), then shared out
    local b = assert(pool:consumer_group(group))
    local seen = {}
    local deadline = os.time() + 40
    repeat
      for _, cg in ipairs({ a, b }) do
        for rec in assert(cg:poll_fetches(0.1)):iter() do seen[#seen + 1] = rec end
      end
    until (#assert(a:assignment()) == 1 and #assert(b:assignment()) == 1) or os.time() > deadline
    assert.are.equal(1, #a:assignment())
    assert.are.equal(1, #b:assignment())
    -- cooperative rebalances also call on_assign with nothing new (an empty list), as often
    -- as the group needs rounds; what is asserted is the order of the events that move partitions
    local moves, kinds = {}, {}
    for _, ev in ipairs(events) do
      kinds[#kinds + 1] = ev.member .. ":" .. ev.kind .. ev.n
      if ev.n > 0 then moves[#moves + 1] = ev end
    end
    assert.are.equal("revoke", moves[2].kind, table.concat(kinds, " "))
    assert.are.equal(strategy == "range" and 2 or 1, moves[2].n, table.concat(kinds, " "))
    -- nothing of the first 20 comes again, and new records reach exactly one member each
    local more = {}
    for i = 1, 10 do more[i] = { topic = topic, key = "m" .. i, value = "m" .. i } end
    assert.is_true(pool:produce_sync(unpack(more)))
    deadline = os.time() + 30
    while #seen < 10 and os.time() <= deadline do
      for _, cg in ipairs({ a, b }) do
        for rec in assert(cg:poll_fetches(0.1)):iter() do seen[#seen + 1] = rec end
      end
    end
    for _, cg in ipairs({ a, b }) do
      for rec in assert(cg:poll_fetches(0.5)):iter() do seen[#seen + 1] = rec end
    end
    local values = {}
    for _, rec in ipairs(seen) do values[#values + 1] = rec.value end
    table.sort(values)
    local want = {}
    for i = 1, 10 do want[i] = "m" .. i end
    table.sort(want)
    assert.are.same(want, values)
    b:close()
    a:close()
    e:close()
  end)
end

  it("a callback cannot poll, and its error is raised by poll_fetches after the rebalance", function()
    local topic, group = support.unique("rb2"), support.unique("rb2-g")
    local calls = 0
    local engine, pool = support.engine(nil, {
      fk.new_kafka_consumer_group(group, "events"):topics(topic):on_assign(function(cg)
        calls = calls + 1
        cg:poll_fetches(0)
      end) })
    assert.has_error(function() fk.new_kafka_consumer_group("g", "e"):on_revoke("x") end,
      "on_revoke: argument #1 'callback' must be a function(cg, partitions), got string")
    -- the topic exists before the group subscribes: its first assignment holds the partition
    assert.is_true(pool:produce_sync({ topic = topic, value = "x" }))
    local cg = assert(pool:consumer_group(group))
    local err
    local deadline = os.time() + 60
    while not err and os.time() <= deadline do
      local ok, e = pcall(cg.poll_fetches, cg, 0.2)
      if not ok then err = e end
    end
    assert(err, "no rebalance reached on_assign within 60 s (on_assign ran " .. calls .. " times)")
    assert.matches("poll_fetches: cannot be called from an on_assign / on_revoke callback", err, 1, true)
    assert.are.equal(1, calls)
    -- the assignment took effect all the same
    assert.are.equal(1, #support.consume(cg, 1))
    cg:close()
    engine:close()
  end)
end)

describe("committed and lag on a thread of their own (_request_start, used inside nginx)", function()
  it("give the same answers as the blocking calls", function()
    local topic, group = support.unique("ctl-async"), support.unique("ctl-async-g")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local cg = assert(pool:consumer_group(group))
    assert.is_true(pool:produce_sync({ topic = topic, value = "1" }, { topic = topic, value = "2" },
      { topic = topic, value = "3" }))
    assert.are.equal(3, #support.consume(cg, 3))
    assert.is_true(cg:commit_uncommitted_offsets())
    assert.is_true(pool:produce_sync({ topic = topic, value = "4" }))
    local function await(req)
      local deadline = os.time() + 15
      while not req:_ready() and os.time() <= deadline do end
      return req:_result()
    end
    local lag = await(assert(cg:_request_start("lag")))
    assert.are.same({ { topic = topic, partition = 0, committed = 3, high = 4, lag = 1 } }, lag)
    assert.are.same(cg:lag(), lag)
    local c = await(assert(cg:_request_start("committed", { { topic = topic, partition = 0 } })))
    assert.are.same({ { topic = topic, partition = 0, offset = 3 } }, c)
    assert.are.same(cg:committed(), await(assert(cg:_request_start("committed"))))
    -- closing waits for a request still running; its answer stays readable
    local req = assert(cg:_request_start("lag"))
    cg:close()
    assert.is_true(req:_ready())
    assert.are.equal(1, #assert(req:_result()))
    engine:close()
  end)
end)

describe("closing without waiting (_close_start, used inside nginx)", function()
  it("is closed for every call at once, leaves the group on a thread, and a new member takes over", function()
    local topic, group = support.unique("close-async"), support.unique("close-async-g")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    assert.is_true(pool:produce_sync({ topic = topic, value = "1" }, { topic = topic, value = "2" }))
    local cg = assert(pool:consumer_group(group))
    assert.are.equal(2, #support.consume(cg, 2))
    assert.is_true(cg:commit_uncommitted_offsets())
    local closing = assert(cg:_close_start())
    assert.is_true(cg:is_closed())
    assert.has_error(function() cg:poll_fetches(0) end, "poll_fetches: kafka consumer group '" .. group .. "' is closed")
    assert.is_true(closing:_wait(30))
    closing:_result()
    cg:close()   -- harmless once closed
    -- the group was left: a new member is assigned the partition and reads on from the commit
    assert.is_true(pool:produce_sync({ topic = topic, value = "3" }))
    local next_member = assert(pool:consumer_group(group))
    local rest = support.consume(next_member, 1)
    assert.are.equal("3", rest[1].value)
    -- one left closing is waited for by close and by its finalizer
    closing = assert(next_member:_close_start())
    next_member:close()
    assert.is_true(closing:_ready())
    local forgotten = assert(pool:consumer_group(group))
    forgotten:_close_start()
    forgotten = nil
    collectgarbage()
    collectgarbage()
    engine:close()
  end)
end)

describe("a job given up (collected before its answer)", function()
  it("stops a consumer group's connection check at its next step, not at connect_timeout", function()
    local group = support.unique("given-up-g")
    local r = fk.new_registry()
    r:register_kafka({ "127.0.0.1:1" }, "down", { connect_timeout = 10 })
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "down"):topics("t"))
    local engine = assert(r:validate())
    local job = assert(engine:kafka("down"):_consumer_group_start("consumer_group", group, true))
    assert.is_false(job:_wait(0.3), "nothing answers on 127.0.0.1:1 within connect_timeout")
    local t0 = support.monotonic()
    job = nil
    collectgarbage()
    collectgarbage()
    local took = support.monotonic() - t0
    assert.is_true(took < 2, ("the finalizer waited %.1f s for a check given up"):format(took))
    engine:close()
  end)
end)
