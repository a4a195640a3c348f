-- Objects that the collector finalized but that a weak-keyed table hands back: every method
-- raises "... is closed" (or answers harmlessly), tostring works, nothing touches freed
-- memory (the ASan run of the specs checks that part).
local support = require "spec.support"
local fk = require "fluxakafka"
local core = fk._private.core

-- Runs make() (which returns the object to watch), drops every reference, collects once
-- and returns what the weak-keyed table still holds: the object after its finalizer (or
-- its engine's) ran.
local function resurrect(make)
  local weak = setmetatable({}, { __mode = "k" })
  do
    local obj = make()
    weak[obj] = true
  end
  collectgarbage()
  collectgarbage("step")
  local back = next(weak)
  assert.is_not_nil(back, "the weak table lost the object before its finalizer ran")
  return back
end

local function sorted_methods(methods)
  local names = {}
  for name, f in pairs(methods) do
    if type(f) == "function" then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

-- Every method, with no arguments and with a plausible one, either answers or raises an
-- error that says the object is closed (or released).
local function check_all_methods(obj, methods, harmless)
  local called = 0
  for _, name in ipairs(sorted_methods(methods)) do
    for _, args in ipairs({ {}, { "x" }, { 0 }, { { topic = "t", value = "v" } } }) do
      local ok, err = pcall(methods[name], obj, unpack(args))
      called = called + 1
      if not ok then
        assert.is_string(err)
        -- with arguments, a wrong argument may be named first
        assert.is_truthy(err:find("closed", 1, true) or err:find("released", 1, true) or #args > 0,
          ("%s raised on a collected object without saying it is closed: %s"):format(name, err))
        -- (misuse errors carry the caller's position first: "file.lua:12: fn: ...")
        assert.is_truthy(err:find(name, 1, true) or err:gsub("^[^\n]-:%d+: ", ""):match("^[%w_]+:"),
          ("%s: the error names no function: %s"):format(name, err))
      else
        assert.is_truthy(harmless[name], ("%s succeeded on a collected object"):format(name))
      end
    end
  end
  assert.is_true(called > 0)
end

describe("objects reached after garbage collection", function()
  it("a registry raises 'closed' from every method and prints as closed", function()
    local r = resurrect(function() return fk.new_registry() end)
    assert.matches("closed", tostring(r))
    check_all_methods(r, core.registry_methods, {})
    local ok, err = pcall(r.register_kafka_topic, r)
    assert.is_false(ok)
    assert.matches("register_kafka_topic: the registry is closed", err, 1, true)
  end)

  it("builders raise 'closed', and a registry refuses a collected builder", function()
    local g = resurrect(function() return fk.new_kafka_consumer_group("g", "events"):topics("t") end)
    local t = resurrect(function() return fk.new_kafka_topic("t", "events"):partitions(1) end)
    assert.matches("closed", tostring(g))
    assert.matches("closed", tostring(t))
    check_all_methods(g, core.consumer_group_builder_methods, {})
    check_all_methods(t, core.topic_builder_methods, {})
    local r = fk.new_registry()
    local ok, err = pcall(r.register_kafka_consumer_group, r, g)
    assert.is_false(ok)
    assert.matches("register_kafka_consumer_group: the consumer group builder is closed", err, 1, true)
    ok, err = pcall(r.register_kafka_topic, r, t)
    assert.is_false(ok)
    assert.matches("register_kafka_topic: the topic builder is closed", err, 1, true)
  end)

  it("an engine and its pool raise 'closed' after the engine was collected", function()
    local topic = support.unique("resurrect")
    local engine = resurrect(function()
      local e = support.engine()
      assert(e:kafka("events"):produce_sync({ topic = topic, value = "x" }))
      return e
    end)
    assert.matches("closed", tostring(engine))
    check_all_methods(engine, core.engine_methods, { close = true, _close = true, new_context = true })
    local pool = resurrect(function()
      local _, p = support.engine()
      assert(p:produce({ topic = topic, value = "pending" }))
      return p
    end)
    assert.matches("closed", tostring(pool))
    assert.is_true(pool:is_closed())
    check_all_methods(pool, core.pool_methods, { close = true, _close = true, is_closed = true, _engine = true })
    -- the fast path of produce (FFI under LuaJIT) too
    local ok, err = pcall(pool.produce, pool, { topic = topic, value = "x" })
    assert.is_false(ok)
    assert.matches("closed", err)
  end)

  it("a batch of produce_sync raises 'closed' after collection", function()
    local topic = support.unique("resurrect")
    local batch = resurrect(function()
      local _, p = support.engine()
      return assert(p:_produce_batch({ topic = topic, value = "x" }))
    end)
    check_all_methods(batch, core.batch_methods, { pending = true })
    assert.are.equal(0, batch:pending())
  end)

  it("a consumer group and its fetches raise 'closed' after collection", function()
    local topic, group = support.unique("resurrect"), support.unique("resurrect-group")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    finally(function() engine:close() end)
    assert(pool:produce_sync({ topic = topic, value = "x" }))
    local cg = resurrect(function() return assert(pool:consumer_group(group)) end)
    assert.matches("closed", tostring(cg))
    assert.is_true(cg:is_closed())
    check_all_methods(cg, core.consumer_group_methods,
      { close = true, is_closed = true, _close_start = true })
    local ok, err = pcall(cg.commit_uncommitted_offsets, cg)
    assert.is_false(ok)
    assert.matches("commit_uncommitted_offsets: the kafka consumer group is closed", err, 1, true)

    local fetches, iterator
    do
      local weak = setmetatable({}, { __mode = "k" })
      do
        local live = assert(pool:consumer_group(group))
        local f, deadline = nil, os.time() + 30
        repeat f = assert(live:poll_fetches(1)) until not f:is_empty() or os.time() > deadline
        assert.is_false(f:is_empty())
        -- a finalizable holder keeps the fetches and an iterator over them: all of them are
        -- finalized in one cycle, and the holder's weak entry hands them back
        local holder = newproxy(true)
        getmetatable(holder).__gc = function() end
        getmetatable(holder).kept = { fetches = f, iterator = f:iter() }
        weak[holder] = true
      end
      collectgarbage()
      collectgarbage("step")
      local kept = getmetatable(assert(next(weak))).kept
      fetches, iterator = kept.fetches, kept.iterator
    end
    assert.is_not_nil(fetches)
    assert.is_not_nil(iterator)
    assert.matches("closed", tostring(fetches))
    check_all_methods(fetches, core.fetches_methods, {})
    ok, err = pcall(iterator)
    assert.is_false(ok)
    assert.matches("closed", err)
  end)

  it("finalizers called directly run once and leave the object closed", function()
    local r = fk.new_registry()
    local gc = getmetatable(r).__gc
    gc(r)
    gc(r)
    assert.matches("closed", tostring(r))
    local ok, err = pcall(r.validate, r)
    assert.is_false(ok)
    assert.matches("validate: the registry is closed", err, 1, true)
    local engine, pool = support.engine()
    getmetatable(engine).__gc(engine)
    getmetatable(engine).__gc(engine)
    assert.is_true(pool:is_closed())
    ok, err = pcall(pool.produce, pool, { topic = "t", value = "v" })
    assert.is_false(ok)
    assert.matches("closed", err)
  end)

  it("a delivery callback that calls its engine's finalizer ends the serving safely", function()
    local topic = support.unique("gc-in-callback")
    local engine, pool = support.engine()
    local calls = 0
    local function finalize_engine()
      calls = calls + 1
      getmetatable(engine).__gc(engine)
    end
    for _ = 1, 3 do assert(pool:produce({ topic = topic, value = "x" }, finalize_engine)) end
    -- the first callback frees the engine with its pools; the serving loop must stop there
    -- (the finalizer's own close already reported the other two records)
    local ok, err = pcall(pool.flush, pool, 10)
    assert.is_true(calls >= 1)
    if not ok then assert.matches("closed", err) end
    assert.is_true(pool:is_closed())
    ok, err = pcall(pool.produce, pool, { topic = topic, value = "x" })
    assert.is_false(ok)
    assert.matches("closed", err)
    -- a record table whose fields run code that finalizes the engine in the middle of produce
    local engine2, pool2 = support.engine()
    local sneaky = setmetatable({}, { __index = function(_, k)
      if k == "value" then getmetatable(engine2).__gc(engine2) end
      if k == "topic" then return topic elseif k == "value" then return "v" end
    end })
    ok, err = pcall(pool2.produce, pool2, sneaky)
    assert.is_false(ok)
    assert.matches("closed", err)
  end)

  it("finalizers run in any order at lua_close, also when a delivery callback collects", function()
    -- a separate process whose lua_close finalizes an engine with a pending callback that
    -- collects garbage and touches a consumer group and a registry finalized before it
    local script = ([[
      local fk = require "fluxakafka"
      local r = fk.new_registry()
      r:register_kafka({ "127.0.0.1:1" }, "dead", { delivery_timeout = 0.2, connect_timeout = 0.2 })
      local engine = assert(r:validate())
      local pool = engine:kafka("dead")
      KEEP = { engine = engine, registry = r, builder = fk.new_kafka_topic("t", "dead") }
      assert(pool:produce({ topic = "t", value = "v" }, function()
        collectgarbage("collect")
        print(tostring(KEEP.registry), pcall(KEEP.registry.validate, KEEP.registry))
        print(pcall(KEEP.builder.partitions, KEEP.builder, 1))
      end))
      print("end of script")
    ]]):gsub("\n", " ")
    local p = assert(io.popen(("luajit -e %q 2>&1; echo \"exit status: $?\""):format(script)))
    local out = p:read("*a")
    p:close()
    assert.matches("end of script", out, 1, true)
    assert.matches("exit status: 0", out, 1, true)
  end)
end)
