-- What a new user meets in the first hour: mistakes that must fail early and name
-- themselves, ignore patterns in Lua options, YAML and the command line, the command line's
-- flags, the getters' effective values, and the module's public surface.
local fk = require "fluxakafka"
local cli = require "fluxakafka.cli"
local support = require "spec.support"

local BROKERS = support.brokers
local UNREACHABLE = "127.0.0.1:1"   -- nothing listens there: connections are refused

-- The error of f(), which must raise.
local function raised(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- Misuse errors point at the line of the caller (this file), never into the library.
local function assert_here(err)
  assert.matches("newcomer_spec%.lua:%d+: ", err)
  assert.is_nil(err:find("fluxakafka.lua:", 1, true), err)
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function write_file(suffix, body)
  local path = os.tmpname() .. suffix
  local f = assert(io.open(path, "w"))
  f:write(body)
  f:close()
  return path
end

-- The CLI as a process; returns exit code and combined output.
local function run_cli(args, env)
  local cmd = ("%s luajit bin/fluxakafka %s </dev/null 2>&1; echo \"EXIT:$?\""):format(env or "", args)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("EXIT:(%d+)%s*$")), (out:gsub("EXIT:%d+%s*$", ""))
end

-- The CLI in this process with captured output; `terminal` pretends stdin/stdout are ttys,
-- `answer` is what a user would type at the prompt (nil: the prompt must not appear).
local function main(args, terminal, answer)
  local out, err, prompted = {}, {}, false
  local function sink(t) return { write = function(self, ...) for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end return self end, flush = function() end } end
  local code = cli.main(args, {
    stdout = sink(out), stderr = sink(err),
    stdin_is_terminal = function() return terminal == true end,
    stdout_is_terminal = function() return terminal == true end,
    read = function() prompted = true return answer end,
  })
  return code, table.concat(out), table.concat(err), prompted
end

-- Deletes exactly the named topics and groups (a set), executing no other alter.
local function delete_only(names)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "cleanup")
  r:register_kafka_topic(fk.new_kafka_topic(support.unique("nc-cleanup-anchor"), "cleanup"))
  local engine = assert(r:validate())
  local ctx = engine:new_context()
  for _, a in ipairs(assert(fk.get_kafka_alters(ctx))) do
    if (a.kind == "delete_topic" or a.kind == "delete_group") and names[a.topic or a.group] then
      assert(a:exec(ctx))
    end
  end
  engine:close()
end

describe("a wrong broker address", function()
  local function unreachable_pool(groups)
    local r = fk.new_registry()
    r:register_kafka({ UNREACHABLE }, "events", { connect_timeout = 2 })
    for _, g in ipairs(groups or {}) do r:register_kafka_consumer_group(g) end
    local engine = assert(r:validate())
    return engine, engine:kafka("events")
  end

  it("fails produce_sync within connect_timeout, naming the brokers", function()
    local engine, pool = unreachable_pool()
    local t0 = support.now()
    local ok, err, code = pool:produce_sync({ topic = support.unique("nc-port"), value = "v" })
    local took = support.now() - t0
    assert.is_nil(ok)
    assert.are.equal("_ALL_BROKERS_DOWN", code)
    assert.matches("brokers 127.0.0.1:1 could not be reached within 2 s", err, 1, true)
    assert.matches("Connection refused", err, 1, true)
    assert.is_true(took >= 1.9 and took < 4, ("took %.2f s"):format(took))
    engine:close(0)
  end)

  it("fails consumer_group() within connect_timeout, naming the brokers", function()
    local engine, pool = unreachable_pool({ fk.new_kafka_consumer_group("nc-g", "events"):topics("t") })
    local t0 = support.now()
    local cg, err, code = pool:consumer_group("nc-g")
    local took = support.now() - t0
    assert.is_nil(cg)
    assert.are.equal("_TRANSPORT", code)
    assert.matches("brokers 127.0.0.1:1 could not be reached within 2 s", err, 1, true)
    assert.matches("Connection refused", err, 1, true)
    assert.is_true(took < 4, ("took %.2f s"):format(took))
    engine:close(0)
  end)

  it("fails a plan at once when the brokers refuse connections, naming them and the cause (Lua and CLI)", function()
    local engine = unreachable_pool()
    local t0 = support.now()
    local alters, err, code = fk.get_kafka_alters(engine:new_context())
    local took = support.now() - t0
    assert.is_nil(alters)
    assert.are.equal("_TRANSPORT", code)
    assert.matches("no broker of 127.0.0.1:1 can be reached: ", err, 1, true)
    assert.matches("Connection refused", err, 1, true)
    assert.is_true(took < 4, ("took %.2f s"):format(took))
    engine:close(0)

    local yaml = write_file(".yaml", ("events:\n  kafka:\n    brokers: [%q]\n    connectTimeoutMs: 2000\n    topics:\n      - name: nc-x\n"):format(UNREACHABLE))
    t0 = support.now()
    local code, out = run_cli("plan " .. yaml)
    took = support.now() - t0
    os.remove(yaml)
    assert.are.equal(1, code)
    assert.matches("no broker of 127.0.0.1:1 can be reached: ", out, 1, true)
    assert.is_true(took < 5, ("took %.2f s"):format(took))
  end)
end)

describe("mistakes in the registry", function()
  it("refuses durations out of range in the builder, naming the method, the unit and the range", function()
    local b = fk.new_kafka_consumer_group("g", "events")
    local err = raised(function() b:session_timeout(30000) end)
    assert_here(err)
    assert.matches("session_timeout: 30000 seconds is out of range: the unit is seconds, from 0.001 to 3600", err, 1, true)
    err = raised(function() b:rebalance_timeout(300000) end)
    assert.matches("rebalance_timeout: 300000 seconds is out of range: the unit is seconds, from 0.001 to 86400", err, 1, true)
    err = raised(function() b:auto_commit_interval(1e6) end)
    assert.matches("auto_commit_interval: 1000000 seconds is out of range", err, 1, true)
    -- in range, and 0 (the default / manual commits), still pass
    assert.are.equal(b, b:session_timeout(30):rebalance_timeout(60):auto_commit_interval(0):session_timeout(0))
    -- a configuration document's milliseconds are checked against the same range
    local ok, yerr = fk.new_registry():init_by_yaml(
      "e:\n  kafka:\n    brokers: [a]\n    consumerGroups:\n      - name: g\n        topics: [t]\n        sessionTimeoutMs: 30000000\n")
    assert.is_nil(ok)
    assert.matches("sessionTimeoutMs: must be between 0 and 3600000", yerr, 1, true)
  end)

  it("refuses a producer_linger above 1 s (milliseconds written as seconds)", function()
    local r = fk.new_registry()
    local err = raised(function() r:register_kafka(BROKERS, "events", { producer_linger = 5 }) end)
    assert_here(err)
    assert.matches("option 'producer_linger' is in seconds: 5 s is above the 1 s limit (for 5 ms write 0.005)", err, 1, true)
    r:register_kafka(BROKERS, "events", { producer_linger = 0.005 })
    local ok, yerr = fk.new_registry():init_by_yaml("e:\n  kafka:\n    brokers: [a]\n    producerLingerMs: 5000\n")
    assert.is_nil(ok)
    assert.matches("e.kafka.producerLingerMs: must be between 0 and 1000, got 5000", yerr, 1, true)
    assert.is_true(fk.new_registry():init_by_yaml("e:\n  kafka:\n    brokers: [a]\n    producerLingerMs: 5\n"))
  end)

  it("says 'did you mean' for the other spelling of an option, both ways", function()
    local r = fk.new_registry()
    local err = raised(function() r:register_kafka(BROKERS, "events", { clientID = "x" }) end)
    assert_here(err)
    assert.matches("unknown option 'clientID' (did you mean 'client_id'?)", err, 1, true)
    err = raised(function() r:register_kafka(BROKERS, "events", { producerLingerMs = 5 }) end)
    assert.matches("(did you mean 'producer_linger'?)", err, 1, true)
    err = raised(function() r:register_kafka(BROKERS, "events", { ignored_topic = {} }) end)
    assert.matches("(did you mean 'ignored_topics'?)", err, 1, true)
    local ok, yerr = r:init_by_yaml("e:\n  kafka:\n    brokers: [a]\n    client_id: x\n")
    assert.is_nil(ok)
    assert.matches("unknown key 'client_id' (did you mean 'clientID'?)", yerr, 1, true)
    ok, yerr = r:init_by_yaml("e:\n  kafka:\n    brokers: [a]\n    consumerGroups:\n      - name: g\n        topics: [t]\n        session_timeout: 30\n")
    assert.is_nil(ok)
    assert.matches("(did you mean 'sessionTimeoutMs'?)", yerr, 1, true)
    ok, yerr = r:init_by_yaml("e:\n  kafka:\n    brokers: [a]\n    ignored_topics: [x]\n")
    assert.matches("(did you mean 'ignoredTopics'?)", yerr, 1, true)
  end)

  it("names a tab in YAML", function()
    local ok, err = fk.new_registry():init_by_yaml("events:\n  kafka:\n\tbrokers: [a]\n")
    assert.is_nil(ok)
    assert.matches("line 3 contains a tab character; YAML indents with spaces only", err, 1, true)
  end)

  it("says to call validate() when a registry is used as an engine or a pool", function()
    local r = fk.new_registry()
    r:register_kafka(BROKERS, "events")
    local err = raised(function() r:kafka("events") end)
    assert_here(err)
    assert.matches("kafka: this is a registry, not an engine: call registry:validate() first", err, 1, true)
    err = raised(function() r:produce_sync({ topic = "t", value = "v" }) end)
    assert_here(err)
    assert.matches("produce_sync: this is a registry, not a pool: call registry:validate() first", err, 1, true)
    local engine = assert(r:validate())
    err = raised(function() engine:produce_sync({ topic = "t", value = "v" }) end)
    assert_here(err)
    assert.matches("produce_sync: this is an engine, not a pool: take a pool first", err, 1, true)
    assert.is_nil(r.no_such_method)
    engine:close()
  end)
end)

describe("calls with '.' instead of ':'", function()
  local engine, pool
  setup(function() engine, pool = support.engine() end)
  teardown(function() engine:close() end)

  it("name the method and say \"call it with ':'\", at the caller's line", function()
    local rec = { topic = "t", value = "v" }
    local calls = {
      produce_sync = function() pool.produce_sync(rec) end,
      produce = function() pool.produce(rec) end,
      poll = function() pool.poll(rec) end,
      flush = function() pool.flush(10) end,
      close = function() pool.close(10) end,
      consumer_group = function() pool.consumer_group("g") end,
      get_pool_options = function() pool.get_pool_options() end,
      kafka = function() engine.kafka("events") end,
    }
    for name, call in pairs(calls) do
      local err = raised(call)
      assert_here(err)
      assert.matches("^" .. name .. ": expected an? [%w ]+ as self", err:gsub("^[^\n]-:%d+: ", ""))
      assert.matches("call it with ':'", err, 1, true)
    end
  end)

  it("other misuse errors also point at the caller's line", function()
    for _, call in ipairs({
      function() pool:produce_sync({ topic = 1, value = "v" }) end,
      function() pool:produce({ topic = "t", value = true }) end,
      function() pool:flush(-1) end,
      function() engine:kafka("nobody") end,
      function() fk.new_registry():register_kafka("b", "x") end,
      function() fk.new_kafka_topic("t", "p"):partitions(0) end,
      function() fk.get_kafka_alters(nil) end,
      function() engine:kafka() end,
      function() pool:consumer_group() end,
      function() fk.new_kafka_consumer_group("g") end,
      function() fk.new_registry():init_by_yaml(nil) end,
    }) do
      assert_here(raised(call))
    end
  end)
end)

describe("record headers", function()
  it("are delivered when given as a map, as when given as a list; a mix is refused", function()
    local topic, group = support.unique("nc-headers"), support.unique("nc-headers-g")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    assert(pool:produce_sync(
      { topic = topic, key = "map", value = "1", headers = { source = "api", trace = "t-1" } },
      { topic = topic, key = "list", value = "2", headers = { { key = "source", value = "batch" } } }))
    local err = raised(function()
      pool:produce_sync({ topic = topic, value = "3", headers = { { key = "a", value = "b" }, source = "api" } })
    end)
    assert.matches("record field 'headers' mixes a list and a map", err, 1, true)
    err = raised(function() pool:produce_sync({ topic = topic, value = "3", headers = { source = 7 } }) end)
    assert.matches("record field 'headers.source' must be a string or fk.null, got number", err, 1, true)

    local cg = assert(pool:consumer_group(group))
    local got = support.consume(cg, 2, 30)
    assert.are.equal(2, #got)
    local by_key = {}
    for _, rec in ipairs(got) do
      local h = {}
      for _, kv in ipairs(rec.headers or {}) do h[kv.key] = kv.value end
      by_key[rec.key] = h
    end
    assert.are.same({ source = "api", trace = "t-1" }, by_key.map)
    assert.are.same({ source = "batch" }, by_key.list)
    cg:close()
    engine:close()
  end)
end)

describe("getters", function()
  it("show the durations in effect, not 0", function()
    local group, topic = support.unique("nc-settings"), support.unique("nc-settings-t")
    local engine, pool = support.engine({}, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local o = pool:get_pool_options()
    assert.are.equal(30, o.delivery_timeout)
    assert.are.equal(10, o.connect_timeout)
    assert.are.near(0.005, o.producer_linger, 1e-9)
    local cg = assert(pool:consumer_group(group))
    local s = cg:get_settings()
    assert.are.equal(45, s.session_timeout)
    assert.are.equal(300, s.rebalance_timeout)
    assert.are.equal(52428800, s.fetch_max_bytes)
    assert.are.equal(0, s.auto_commit_interval)
    cg:close()
    engine:close()
    engine, pool = support.engine({ delivery_timeout = 5, connect_timeout = 2.5 })
    o = pool:get_pool_options()
    assert.are.equal(5, o.delivery_timeout)
    assert.are.equal(2.5, o.connect_timeout)
    engine:close()
  end)
end)

describe("the module's surface", function()
  it("lists only public names in pairs(fk), has _VERSION, and keeps internals reachable", function()
    for name, value in pairs(fk) do
      assert.is_true(name == "_VERSION" or name:sub(1, 1) ~= "_", name)
      assert.is_not.equal("Context", name)
      assert.is_falsy(type(value) == "table" and name:match("_methods$"), name)
    end
    assert.are.equal(fk.VERSION, fk._VERSION)
    assert.is_table(fk._private)
    assert.is_table(fk.Context)
  end)

  it("prints contexts and records readably", function()
    local engine = support.engine()
    assert.matches("^fluxakafka%.context %(fluxakafka%.engine %(1 pools%)%)$", tostring(engine:new_context()))
    engine:close()
    local text = fk.record_tostring({ topic = "orders", partition = 2, offset = 41, key = "k-1",
      value = ("x"):rep(100), headers = { { key = "source", value = "api" } } })
    assert.matches('topic="orders", partition=2, offset=41', text, 1, true)
    assert.matches('key="k-1"', text, 1, true)
    assert.matches("...(100 bytes)", text, 1, true)
    assert.matches('headers={source="api"}', text, 1, true)
    -- a null value (nil or fk.null) shows as nil, an empty one as ""; an odd header key is quoted
    text = fk.record_tostring({ topic = "state", key = "order-1", headers = { { key = "trace" }, { key = "a\0b", value = "" } } })
    assert.matches('key="order-1", value=nil, headers={trace=nil, "a\\0b"=""}', text, 1, true)
    assert.matches("value=nil", fk.record_tostring({ topic = "state", value = fk.null }), 1, true)
    assert.matches('value=""', fk.record_tostring({ topic = "state", value = "" }), 1, true)
    assert.matches("headers={trace=nil}", fk.record_tostring({ topic = "state", headers = { trace = fk.null } }), 1, true)
    assert_here(raised(function() fk.record_tostring("x") end))
  end)
end)

-- Topics and groups of this file on the shared broker: two kept by patterns, two not.
-- Only alters naming them are ever executed here; every other alter is only looked at.
describe("ignore patterns", function()
  local P = support.unique("nc-ign")
  local names = {
    keep_topic = P .. "-keep-t", drop_topic = P .. "-drop-t",
    keep_group = P .. "-keep-g", drop_group = P .. "-drop-g",
  }
  local mine = {}
  for _, n in pairs(names) do mine[n] = true end

  local function exec_mine(ctx, alters, kinds)
    for _, a in ipairs(alters) do
      if kinds[a.kind] and mine[a.topic or a.group] then assert(a:exec(ctx)) end
    end
  end

  setup(function()
    local r = fk.new_registry()
    r:register_kafka(BROKERS, "setup", { ignored_topics = { "*" }, ignored_consumer_groups = { "*" } })
    r:register_kafka_topic(fk.new_kafka_topic(names.keep_topic, "setup"):partitions(1):replication_factor(1))
    r:register_kafka_topic(fk.new_kafka_topic(names.drop_topic, "setup"):partitions(1):replication_factor(1))
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(names.keep_group, "setup"):topics(names.keep_topic))
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(names.drop_group, "setup"):topics(names.keep_topic))
    local engine = assert(r:validate())
    local ctx = engine:new_context()
    exec_mine(ctx, assert(fk.get_kafka_alters(ctx)), { create_topic = true })
    local pool = engine:kafka("setup")
    assert(pool:produce_sync({ topic = names.keep_topic, value = "x" }))
    -- a group exists on the broker once it committed an offset
    for _, g in ipairs({ names.keep_group, names.drop_group }) do
      local cg = assert(pool:consumer_group(g))
      assert.are.equal(1, #support.consume(cg, 1, 30))
      assert(cg:commit_uncommitted_offsets())
      cg:close()
    end
    engine:close()
  end)

  teardown(function() delete_only(mine) end)

  -- the deletions a plan lists for this file's names
  local function deletions(alters)
    local seen = {}
    for _, a in ipairs(alters) do
      if (a.kind == "delete_topic" or a.kind == "delete_group") and mine[a.topic or a.group] then
        seen[a.topic or a.group] = true
      end
    end
    return seen
  end

  local function assert_kept(seen)
    assert.is_nil(seen[names.keep_topic])
    assert.is_nil(seen[names.keep_group])
    assert.is_true(seen[names.drop_topic])
    assert.is_true(seen[names.drop_group])
  end

  it("protect what they match in Lua options (prefix and infix '*')", function()
    local r = fk.new_registry()
    r:register_kafka(BROKERS, "events", {
      ignored_topics = { P .. "-keep-*" },
      ignored_consumer_groups = { "nc-ign-*-keep-g" },
    })
    r:register_kafka_topic(fk.new_kafka_topic(P .. "-main", "events"))
    local engine = assert(r:validate())
    assert_kept(deletions(assert(fk.get_kafka_alters(engine:new_context()))))
    -- an exact name still works, and a pattern matches whole names only
    engine:close()
    r = fk.new_registry()
    r:register_kafka(BROKERS, "events", { ignored_topics = { names.keep_topic, P .. "-keep" },
                                          ignored_consumer_groups = { names.keep_group } })
    r:register_kafka_topic(fk.new_kafka_topic(P .. "-main", "events"))
    engine = assert(r:validate())
    assert_kept(deletions(assert(fk.get_kafka_alters(engine:new_context()))))
    engine:close()
  end)

  it("protect what they match in YAML", function()
    local r = fk.new_registry()
    assert(r:init_by_yaml(([[
events:
  kafka:
    brokers: [%q]
    ignoredTopics: ["%s-keep-*"]
    ignoredConsumerGroups: ["*-keep-g"]
    topics:
      - name: %s-main
]]):format(BROKERS[1], P, P)))
    local engine = assert(r:validate())
    assert_kept(deletions(assert(fk.get_kafka_alters(engine:new_context()))))
    engine:close()
  end)

  it("protect what they match on the command line (--ignore-topic, --ignore-group; plan --json)", function()
    local yaml = write_file(".yaml", ("events:\n  kafka:\n    brokers: [%q]\n    topics:\n      - name: %s-main\n"):format(BROKERS[1], P))
    local code, out = run_cli(("plan --json --ignore-topic=%s --ignore-group %s %s"):format(
      shell_quote(P .. "-keep-*"), shell_quote("*-keep-g"), yaml))
    os.remove(yaml)
    assert.are.equal(2, code, out)
    local json = out:match("(%b{})%s*$")
    assert.is_string(json, out)
    assert.matches(('"kind":"delete_topic","pool":"events","sign":"-","topic":"%s"'):format(names.drop_topic):gsub("%p", "%%%0"), json)
    assert.matches(('"group":"%s","kind":"delete_group"'):format(names.drop_group):gsub("%p", "%%%0"), json)
    assert.is_nil(json:find(names.keep_topic, 1, true))
    assert.is_nil(json:find(names.keep_group, 1, true))
    assert.matches('"exit_code":2', json, 1, true)
    assert.matches('"summary":{', json, 1, true)
  end)

  it("apply --yes does not prompt and does not delete; the prompt answered 'no' deletes nothing either", function()
    -- every deletion candidate other than this file's two is ignored by name
    local r = fk.new_registry()
    r:register_kafka(BROKERS, "probe")
    r:register_kafka_topic(fk.new_kafka_topic(P .. "-probe", "probe"))
    local probe = assert(r:validate())
    local foreign_topics, foreign_groups = {}, {}
    for _, a in ipairs(assert(fk.get_kafka_alters(probe:new_context()))) do
      if a.kind == "delete_topic" and not mine[a.topic] then foreign_topics[#foreign_topics + 1] = ("%q"):format(a.topic) end
      if a.kind == "delete_group" and not mine[a.group] then foreign_groups[#foreign_groups + 1] = ("%q"):format(a.group) end
    end
    probe:close()
    local migration = write_file(".lua", table.concat({
      "local registry = ...",
      "local fk = require 'fluxakafka'",
      ("registry:register_kafka({%q}, 'events', { ignored_topics = { %q, %s }, ignored_consumer_groups = { %q, %s } })"):format(
        BROKERS[1], P .. "-keep-*", table.concat(foreign_topics, ", "), "*-keep-g", table.concat(foreign_groups, ", ")),
      ("registry:register_kafka_topic(fk.new_kafka_topic(%q, 'events'):partitions(1):replication_factor(1))"):format(names.keep_topic),
    }, "\n"))
    local code, out, _, prompted = main({ "apply", "--yes", migration }, true, nil)
    assert.are.equal(0, code)
    assert.is_false(prompted)
    assert.matches("Skipped 2 deletions", out, 1, true)
    code, out, _, prompted = main({ "apply", migration }, true, "no")
    assert.are.equal(0, code)
    assert.is_true(prompted)
    assert.matches("Skipped 2 deletions", out, 1, true)
    -- both are still there: the plan still lists them
    code, out = main({ "plan", migration })
    os.remove(migration)
    assert.are.equal(2, code)
    assert.matches(names.drop_topic, out, 1, true)
    assert.matches(names.drop_group, out, 1, true)
  end)
end)

describe("command line flags", function()
  local migration
  local flags_topic = support.unique("nc-flags")
  setup(function()
    migration = write_file(".lua", table.concat({
      "local registry = ...",
      "local fk = require 'fluxakafka'",
      ("registry:register_kafka({%q}, 'events', { ignored_topics = { '*' }, ignored_consumer_groups = { '*' } })"):format(UNREACHABLE),
      ("registry:register_kafka_topic(fk.new_kafka_topic(%q, 'events'):partitions(1):replication_factor(1))"):format(flags_topic),
    }, "\n"))
  end)
  teardown(function()
    os.remove(migration)
    delete_only({ [flags_topic] = true })   -- the topic apply created
  end)

  it("--version prints fluxakafka's and librdkafka's versions", function()
    local code, out = run_cli("--version")
    assert.are.equal(0, code)
    assert.are.equal(("fluxakafka %s (librdkafka %s)\n"):format(fk.VERSION, fk.librdkafka_version()), out)
  end)

  it("--brokers and FLUXAKAFKA_BROKERS replace every pool's brokers", function()
    local code, out = run_cli(("plan --brokers=%s %s"):format(shell_quote(table.concat(BROKERS, ",")), migration))
    assert.are.equal(2, code, out)
    assert.matches("Plan: 1 to create, 0 to change, 0 to delete", out, 1, true)
    code, out = run_cli("plan " .. migration, "FLUXAKAFKA_BROKERS=" .. shell_quote(table.concat(BROKERS, ",")))
    assert.are.equal(2, code, out)
    code, out = run_cli("plan --brokers")
    assert.are.equal(1, code)
    assert.matches("option '--brokers' needs a value", out, 1, true)
  end)

  it("colours only on a terminal or with --color=always; --json is never coloured", function()
    local brokers = "--brokers=" .. shell_quote(table.concat(BROKERS, ","))
    local _, plain = run_cli(("plan %s %s"):format(brokers, migration))
    assert.is_nil(plain:find("\27[", 1, true))
    local _, coloured = run_cli(("plan --color=always %s %s"):format(brokers, migration))
    assert.matches("\27[32m+\27[0m Create topic", coloured, 1, true)
    local code, out = main({ "plan", brokers:gsub("'", ""), migration }, true)
    assert.are.equal(2, code)
    assert.matches("\27[32m+\27[0m", out, 1, true)
    code, out = main({ "plan", "--json", brokers:gsub("'", ""), migration }, true)
    assert.are.equal(2, code)
    assert.is_nil(out:find("\27[", 1, true))
    local saved = os.getenv("NO_COLOR")
    if saved == nil then
      code, out = run_cli(("plan %s %s"):format(brokers, migration), "NO_COLOR=1")
      assert.is_nil(out:find("\27[", 1, true))
    end
    code, out = run_cli("plan --color=sometimes " .. migration)
    assert.are.equal(1, code)
    assert.matches("option '--color' takes auto, always or never", out, 1, true)
  end)

  it("apply --json reports the plan and what was applied; exit codes stay 0 / 2 / 1", function()
    local brokers = "--brokers=" .. table.concat(BROKERS, ",")
    local code, out = main({ "apply", "--json", brokers, migration })
    assert.are.equal(0, code, out)
    assert.matches('"command":"apply"', out, 1, true)
    assert.matches('"applied":[{"description":"Create topic', out, 1, true)
    assert.matches('"exit_code":0', out, 1, true)
    code, out = main({ "plan", "--json", brokers, migration })
    assert.are.equal(0, code)
    assert.matches('"plan":[]', out, 1, true)
    assert.are.equal(1, (main({ "plan", "--bogus", migration })))
  end)
end)
