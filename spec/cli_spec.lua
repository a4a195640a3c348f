-- The fluxakafka command line, run as a real process against the real broker.
local fk = require "fluxakafka"
local support = require "spec.support"

local BROKERS = os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"

local counter = 0
local function unique(prefix)
  counter = counter + 1
  return ("%s-%d-%d-%d"):format(prefix, os.time(), counter, math.random(100000, 999999))
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs the CLI with stdin from /dev/null; returns exit code and combined output.
local function run(args)
  local cmd = ("FK_BROKERS=%s luajit bin/fluxakafka %s </dev/null 2>&1; echo \"EXIT:$?\""):format(
    shell_quote(BROKERS), args)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("EXIT:(%d+)%s*$"))
  return code, out:gsub("EXIT:%d+%s*$", "")
end

local function write_migration(body)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(body)
  f:close()
  return path
end

-- Topics and groups that other work left on the broker: the migrations here leave them alone,
-- so that the deletions under test are only this file's own.
local function foreign_names()
  local r = fk.new_registry()
  r:register_kafka({ BROKERS }, "probe")
  r:register_kafka_topic(fk.new_kafka_topic("cli-probe-" .. os.time(), "probe"))
  local engine = assert(r:validate())
  local topics, groups = {}, {}
  for _, a in ipairs(assert(fk.get_kafka_alters(engine:new_context()))) do
    if a.kind == "delete_topic" then topics[#topics + 1] = ("%q"):format(a.topic) end
    if a.kind == "delete_group" then groups[#groups + 1] = ("%q"):format(a.group) end
  end
  engine:close()
  return table.concat(topics, ", "), table.concat(groups, ", ")
end

local FOREIGN_TOPICS, FOREIGN_GROUPS

-- Deletes these topics (each a deletion of a pool that registers only a probe), nothing else.
local function delete_topics(names)
  local r = fk.new_registry()
  r:register_kafka({ BROKERS }, "probe")
  r:register_kafka_topic(fk.new_kafka_topic("cli-probe-" .. os.time(), "probe"))
  local engine = assert(r:validate())
  local ctx = engine:new_context()
  local wanted = {}
  for _, n in ipairs(names) do wanted[n] = true end
  for _, a in ipairs(assert(fk.get_kafka_alters(ctx))) do
    if a.kind == "delete_topic" and wanted[a.topic] then assert(a:exec(ctx)) end
  end
  engine:close()
end

-- A migration that manages one pool with `topics` registered.
local function migration(topics, extra)
  if not FOREIGN_TOPICS then FOREIGN_TOPICS, FOREIGN_GROUPS = foreign_names() end
  local lines = {
    "local registry = ...",
    "local fk = require 'fluxakafka'",
    ("registry:register_kafka({%q}, 'cli', { ignored_topics = { %s }, ignored_consumer_groups = { %s } })"):format(
      BROKERS, FOREIGN_TOPICS, FOREIGN_GROUPS),
  }
  for _, t in ipairs(topics) do
    lines[#lines + 1] = ("registry:register_kafka_topic(fk.new_kafka_topic(%q, 'cli'):partitions(%d))"):format(t[1], t[2])
  end
  lines[#lines + 1] = extra or ""
  return write_migration(table.concat(lines, "\n"))
end

describe("fluxakafka command line", function()
  local files = {}
  after_each(function()
    for _, f in ipairs(files) do os.remove(f) end
    files = {}
  end)

  it("prints usage and exits 1 without a command or files", function()
    local code, out = run("")
    assert.are.equal(1, code)
    assert.matches("usage: fluxakafka", out)
    code = run("plan")
    assert.are.equal(1, code)
    code, out = run("plan --bogus x.lua")
    assert.are.equal(1, code)
    assert.matches("unknown option '%-%-bogus'", out)
  end)

  it("runs from a clone with no LUA_PATH or LUA_CPATH set, called by any path and from any directory", function()
    local clone = io.popen("pwd"):read("*l")
    local link = os.tmpname()
    os.remove(link)
    assert(os.execute(("ln -s %s %s"):format(shell_quote(clone .. "/bin/fluxakafka"), shell_quote(link))) == 0)
    files[#files + 1] = link
    for _, command in ipairs({ "luajit " .. shell_quote(clone .. "/bin/fluxakafka"), shell_quote(link) }) do
      local p = assert(io.popen(("cd / && env -u LUA_PATH -u LUA_CPATH %s topics --brokers=%s 2>&1; echo \"EXIT:$?\"")
        :format(command, shell_quote(BROKERS))))
      local out = p:read("*a")
      p:close()
      assert.matches("EXIT:0%s*$", out)
      assert.matches("Pool 'default': %d+ topics", out)
    end
  end)

  it("reports a broken migration file with its path and exits 1", function()
    local path = write_migration("local registry = ...\nerror('boom in migration')")
    files[#files + 1] = path
    local code, out = run("plan " .. path)
    assert.are.equal(1, code)
    assert.matches("boom in migration", out)
    assert.matches(path:gsub("%p", "%%%0"), out)
  end)

  it("plans (exit 2), applies, then plans nothing (exit 0); deletions need --allow-delete", function()
    local a, b = unique("cli-a"), unique("cli-b")
    local first = migration({ { a, 2 }, { b, 1 } })
    files[#files + 1] = first

    -- everything else on the broker is unregistered for this pool: protect it by applying
    -- deletions only with the flag, and check the guard first
    local code, out = run("plan " .. first)
    assert.are.equal(2, code)
    assert.matches("Pool 'cli':", out)
    assert.matches("%+ Create topic '" .. a:gsub("%-", "%%-") .. "'", out)
    assert.matches("Plan: 2 to create, %d+ to change, %d+ to delete, %d+ warnings?%.", out)

    code, out = run("apply " .. first)
    assert.are.equal(0, code, out)
    assert.matches("applied: Create topic '" .. a:gsub("%-", "%%-") .. "'", out)

    -- b is no longer registered: a deletion, skipped without the flag
    local second = migration({ { a, 3 } })
    files[#files + 1] = second
    code, out = run("apply " .. second)
    assert.are.equal(0, code, out)
    assert.matches("applied: Increase partitions of topic '" .. a:gsub("%-", "%%-") .. "'", out)
    assert.matches("skipped: Delete topic '" .. b:gsub("%-", "%%-") .. "'", out)
    assert.matches("%-%-allow%-delete", out)

    code, out = run("plan " .. second)
    assert.are.equal(2, code)
    assert.matches("%- Delete topic '" .. b:gsub("%-", "%%-") .. "'", out)

    code, out = run("apply --allow-delete " .. second)
    assert.are.equal(0, code, out)
    assert.matches("applied: Delete topic '" .. b:gsub("%-", "%%-") .. "'", out)

    code, out = run("plan " .. second)
    assert.are.equal(0, code, out)
    assert.matches("Plan: 0 to create, 0 to change, 0 to delete", out)
  end)

  it("shows the broker's refusal of a config in the plan and applies nothing then", function()
    local good, bad = unique("cli-good"), unique("cli-bad")
    local path = migration({ { good, 1 } }, ([[
registry:register_kafka_topic(fk.new_kafka_topic(%q, 'cli'):partitions(1):config('retention.ms', '7d'))
]]):format(bad))
    files[#files + 1] = path
    local code, out = run("plan " .. path)
    assert.are.equal(1, code, out)
    assert.matches("+ Create topic '" .. bad .. "' in pool 'cli' with 1 partition, configs retention.ms=7d\n"
      .. "      refused by the broker: Invalid value 7d for configuration retention.ms", out, 1, true)
    assert.matches("(INVALID_CONFIG)", out, 1, true)
    assert.matches("warnings?, 1 refused by the broker%.", out)
    code, out = run("plan --json " .. path)
    assert.are.equal(1, code)
    local report = require("dkjson").decode(out:match("^[^\n]*"))
    assert.are.equal(1, report.summary.refused)
    for _, a in ipairs(report.plan) do
      if a.topic == bad then assert.are.equal("INVALID_CONFIG", a.refusal_code) end
    end
    code, out = run("apply " .. path)
    assert.are.equal(1, code, out)
    assert.matches("Nothing applied: the broker refuses alters of this plan", out, 1, true)
    code, out = run("plan " .. migration({ { good, 1 } }))
    assert.matches("+ Create topic '" .. good .. "'", out, 1, true)   -- still to do
  end)

  -- M.main in this process with a terminal that answers each deletion question through
  -- `answer(question)`; returns the exit code and everything written.
  local function interactive(args, answer)
    local written, last = {}, ""
    local sink = { write = function(self, ...)
      for i = 1, select("#", ...) do
        last = tostring((select(i, ...)))
        written[#written + 1] = last
      end
      return self
    end }
    local io_ = { stdout = sink, stderr = sink, read = function() return answer(last) end,
                  stdin_is_terminal = function() return true end, stdout_is_terminal = function() return false end }
    local code = require("fluxakafka.cli").main(args, io_)
    return code, table.concat(written)
  end

  it("in a terminal asks for each deletion by name: y, n, or all for the rest", function()
    -- "zzzz-": sorted after the broker's other topics, so that "all" reaches only these
    local names = { unique("zzzz-cli-confirm-1"), unique("zzzz-cli-confirm-2"), unique("zzzz-cli-confirm-3"),
                    unique("zzzz-cli-confirm-4") }
    local all = {}
    for i, n in ipairs(names) do all[i] = { n, 1 } end
    local first = migration(all)
    files[#files + 1] = first
    assert.are.equal(0, (run("apply " .. first)))

    local keep = migration({ { names[1], 1 } })
    files[#files + 1] = keep
    local asked = {}
    local answers = { [names[2]] = "n", [names[3]] = "maybe", [names[4]] = "all" }
    local code, out = interactive({ "apply", keep }, function(question)
      local name = question:match("^Delete topic '([^']+)'")
      asked[#asked + 1] = name or question
      local a = answers[name]
      if a == "maybe" then answers[name] = "all" end   -- answered properly the second time
      return a or "n"
    end)
    assert.are.equal(0, code, out)
    assert.matches("Confirm each of the %d+ deletions by name:", out)
    assert.matches("Delete topic '" .. names[2] .. "' in pool 'cli' (not registered)? [y/n/all] ", out, 1, true)
    assert.matches("answer y (delete it), n (keep it) or all", out, 1, true)
    assert.matches("skipped: Delete topic '" .. names[2] .. "'", out, 1, true)
    assert.matches("applied: Delete topic '" .. names[3] .. "'", out, 1, true)
    assert.matches("applied: Delete topic '" .. names[4] .. "'", out, 1, true)
    -- names[3] was asked twice; "all" there took names[4] without a question
    local count = {}
    for _, n in ipairs(asked) do count[n] = (count[n] or 0) + 1 end
    assert.are.equal(1, count[names[2]])
    assert.are.equal(2, count[names[3]])
    assert.is_nil(count[names[4]])
    code, out = run("plan " .. keep)
    assert.matches("- Delete topic '" .. names[2] .. "'", out, 1, true)
    assert.is_nil(out:find(names[3], 1, true))
    delete_topics({ names[1], names[2] })
  end)

  it("stops at the first failure and says what was and was not applied", function()
    -- a group with a live member cannot be deleted: confirmed in the terminal, it fails
    local good, topic, group = unique("cli-good"), unique("cli-live"), unique("cli-live-g")
    support.create_topic(topic, 1)
    local path = migration({ { good, 1 }, { topic, 1 } })
    files[#files + 1] = path
    local r = fk.new_registry()
    r:register_kafka({ BROKERS }, "live")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "live"):topics(topic))
    local e = assert(r:validate())
    local cg = assert(e:kafka("live"):consumer_group(group))
    local deadline = os.time() + 30
    while #assert(cg:assignment()) == 0 and os.time() < deadline do cg:poll_fetches(0.2) end
    local code, out = interactive({ "apply", path }, function(question)
      return question:find("'" .. group .. "'", 1, true) and "y" or "n"
    end)
    cg:close()
    e:close()
    assert.are.equal(1, code, out)
    assert.matches("FAILED: Delete consumer group '" .. group .. "'", out, 1, true)
    assert.matches("the group has active members", out, 1, true)
    assert.matches("done: Create topic '" .. good .. "'", out, 1, true)
    assert.matches("Not applied:\n  not done: Delete consumer group '" .. group .. "'", out, 1, true)
    delete_topics({ good, topic })
  end)
end)

-- ------------------------------------------------------------------ the data commands

local dkjson = require "dkjson"
local NULL = setmetatable({}, { __tostring = function() return "NULL" end })

local function decode(text)
  local v, _, err = dkjson.decode(text, 1, NULL)
  assert(v, ("not JSON (%s): %s"):format(tostring(err), text))
  return v
end

-- Runs the CLI with `input` on stdin; returns exit code, stdout and stderr apart.
local function run_split(args, input)
  local inp, errf = os.tmpname(), os.tmpname()
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local p = assert(io.popen(("luajit bin/fluxakafka %s <%s 2>%s; echo \"EXIT:$?\""):format(args, inp, errf)))
  local out = p:read("*a")
  p:close()
  local err = support.read_file(errf)
  os.remove(inp)
  os.remove(errf)
  return tonumber(out:match("EXIT:(%d+)%s*$")), (out:gsub("EXIT:%d+%s*$", "")), err
end

local B = "--brokers=" .. shell_quote(BROKERS)

describe("fluxakafka command line: describe, lag, consume, produce", function()
  local engine, pool
  before_each(function() engine, pool = support.engine({ connect_timeout = 5 }) end)
  after_each(function() engine:close() end)

  it("describe topic: partitions and the configs set on it; --json gives every config", function()
    local topic = support.unique("cli-dt")
    support.create_topic(topic, 2, { ["retention.ms"] = "3600000" })
    local code, out, err = run_split(("describe topic %s %s"):format(topic, B))
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    assert.matches("Topic '" .. topic:gsub("%p", "%%%0") .. "': 2 partitions", out)
    assert.matches("partition 1: leader %d+, replicas %d+, isrs %d+", out)
    assert.matches('retention.ms = "3600000" (DYNAMIC_TOPIC_CONFIG)', out, 1, true)
    assert.matches("%d+ configs at their defaults", out)

    code, out = run_split(("describe topic %s --json %s"):format(topic, B))
    assert.are.equal(0, code)
    local t = decode(out).topics[1]
    assert.are.equal(topic, t.name)
    assert.are.equal(2, #t.partitions)
    assert.are.same({ value = "3600000", source = "DYNAMIC_TOPIC_CONFIG", is_default = false,
                      is_sensitive = false, is_read_only = false }, t.configs["retention.ms"])
    assert.are.equal("DEFAULT_CONFIG", t.configs["segment.bytes"].source)

    code, out, err = run_split(("describe topic %s-missing %s"):format(topic, B))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("does not exist", err)
    code, _, err = run_split("describe table x " .. B)
    assert.are.equal(1, code)
    assert.matches("describe: give `topic NAME...` or `group NAME...`", err, 1, true)
  end)

  it("describe group and lag read a live group without rebalancing it", function()
    local topic, group = support.unique("cli-lag"), support.unique("cli-lag-g")
    support.create_topic(topic, 2)
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events")
    local rebalances = 0
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "events"):topics(topic)
      :on_assign(function() rebalances = rebalances + 1 end)
      :on_revoke(function() rebalances = rebalances + 1 end))
    local e = assert(r:validate())
    local cg = assert(e:kafka("events"):consumer_group(group))
    for p = 0, 1 do assert(pool:produce_sync({ topic = topic, partition = p, value = "a" })) end
    assert.are.equal(2, #support.consume(cg, 2))
    assert.is_true(cg:commit_uncommitted_offsets())
    assert(pool:produce_sync({ topic = topic, partition = 1, value = "b" }, { topic = topic, partition = 1, value = "c" }))
    local seen = rebalances

    local code, out, err = run_split(("describe group %s %s"):format(group, B))
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    assert.matches("state Stable, protocol type consumer, protocol cooperative%-sticky, coordinator %d+", out)
    assert.matches("1 member\n", out, 1, true)
    assert.matches(topic .. "[0,1]", out, 1, true)
    code, out = run_split(("describe group %s --json %s"):format(group, B))
    assert.are.equal(0, code)
    local g = decode(out).groups[1]
    assert.are.equal(group, g.name)
    assert.are.equal("Stable", g.state)
    assert.are.equal(1, #g.members)
    assert.are.equal(2, #g.members[1].assignment)
    assert.is_number(g.coordinator.id)

    code, out, err = run_split(("lag %s %s"):format(group, B))
    assert.are.equal(0, code, err)
    assert.matches("Group '" .. group:gsub("%p", "%%%0") .. "': total lag 2 over 2 partitions", out)
    assert.matches(topic .. "[1]: committed 1, high 3, lag 2", out, 1, true)
    code, out = run_split(("lag %s --json %s"):format(group, B))
    assert.are.equal(0, code)
    local lag = decode(out)
    assert.are.equal(2, lag.total_lag)
    assert.are.same({ topic = topic, partition = 0, committed = 1, high = 1, lag = 0 }, lag.partitions[1])

    support.drain(cg, 1)
    assert.are.equal(seen, rebalances, "the CLI's reads rebalanced the group")
    cg:close()
    e:close()

    code, _, err = run_split(("lag %s-missing %s"):format(group, B))
    assert.are.equal(1, code)
    assert.matches("^fluxakafka: lag: [^\n]*consumer group '[^']*%-missing' does not exist", err)
  end)

  it("consume prints key, value and headers of each partition from every start form", function()
    local topic = support.unique("cli-consume")
    support.create_topic(topic, 2)
    assert(pool:produce_sync(
      { topic = topic, partition = 0, key = "k1", value = "line\none", headers = { { key = "a\0b", value = "x" }, { key = "n" } } },
      { topic = topic, partition = 0, key = "k2" },
      { topic = topic, partition = 1, value = "" }))
    local code, out, err = run_split(("consume %s %s"):format(topic, B))
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(3, #lines)
    assert.matches('^partition=0 offset=0 timestamp=%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z key="k1" value="line\\none" headers={"a\\x00b"="x", "n"=null}$', lines[1])
    assert.matches('^partition=0 offset=1 .* key="k2" value=null$', lines[2])
    assert.matches('^partition=1 offset=0 .* key=null value=""$', lines[3])

    code, out = run_split(("consume %s --json --partition=0 %s"):format(topic, B))
    assert.are.equal(0, code)
    local got = decode(out)
    assert.are.equal(topic, got.topic)
    assert.are.equal(2, #got.records)
    assert.are.same({ { key = "a\0b", value = "x" }, { key = "n", value = NULL } }, got.records[1].headers)
    assert.are.equal("line\none", got.records[1].value)
    assert.are.equal(NULL, got.records[2].value)
    assert.is_number(got.records[1].timestamp)

    local function offsets(args)
      local c, o = run_split(("consume %s --json --partition=0 %s %s"):format(topic, args, B))
      assert.are.equal(0, c, o)
      local list = {}
      for i, rec in ipairs(decode(o).records) do list[i] = rec.offset end
      return list
    end
    local ts = got.records[2].timestamp
    assert.are.same({ 1 }, offsets("--offset=1"))
    assert.are.same({ 1 }, offsets("--offset=-1"))
    assert.are.same({ 0 }, offsets("--offset=beginning --count=1"))
    assert.are.same({}, offsets("--offset=end --timeout=0.2"))
    assert.are.same({ 0, 1 }, offsets("--offset=@" .. (ts - 60000)))
    assert.are.same({ 0, 1 }, offsets("--offset=@" .. os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(ts / 1000) - 60)))
    assert.are.same({}, offsets("--offset=@" .. (ts + 60000)))

    code, _, err = run_split(("consume %s --offset=yesterday %s"):format(topic, B))
    assert.are.equal(1, code)
    assert.matches("--offset: expected an offset", err, 1, true)
    code, _, err = run_split(("consume %s --partition=7 %s"):format(topic, B))
    assert.are.equal(1, code)
    assert.is_nil(err:find("%%%d|"), err)
  end)

  it("produce sends one record per line, keys split at the separator, empty as null on request", function()
    local topic = support.unique("cli-produce")
    support.create_topic(topic, 1)
    local code, out, err = run_split(("produce %s --key-separator=:: %s"):format(topic, B), "k1::v1\nno key\nk2::\n\n")
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    assert.matches("Produced 4 records to '" .. topic:gsub("%p", "%%%0") .. "'.", out)
    code, out = run_split(("produce %s --null-empty --json %s"):format(topic, B), "x\n\n")
    assert.are.equal(0, code)
    assert.are.same({ topic = topic, produced = 2, failed = 0, errors = {} }, decode(out))
    local recs = assert(pool:read(topic, 0, "beginning"))
    local got = {}
    for i, rec in ipairs(recs) do got[i] = { rec.key or "nil", rec.value or "nil" } end
    assert.are.same({ { "k1", "v1" }, { "nil", "no key" }, { "k2", "" }, { "nil", "" }, { "nil", "x" }, { "nil", "nil" } }, got)

    code, out, err = run_split(("produce %s-missing %s"):format(topic, B), "x\n")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("^fluxakafka: produce: ", err)
  end)

  it("prints only its own lines: a refused broker fails in the command's words; --verbose shows the client's", function()
    for _, command in ipairs({ "describe topic x", "lag g", "consume x", "topics" }) do
      local code, out, err = run_split(command .. " --brokers=127.0.0.1:1")
      assert.are.equal(1, code, command)
      assert.are.equal("", out)
      for line in err:gmatch("[^\n]+") do
        assert.matches("^fluxakafka: ", line)
        assert.is_nil(line:find("%%%d|"), line)
      end
      -- the cause, in the command's words (group_lag's own error names it already)
      if command ~= "lag g" then assert.matches("the Kafka client's last error: [^\n]*Connection refused", err) end
    end
    local code, _, err = run_split("lag g --verbose --brokers=127.0.0.1:1")
    assert.are.equal(1, code)
    assert.matches("fluxakafka: log of pool 'default' client [^\n]*, FAIL %(level 3%): [^\n]*Connection refused", err)
    code, _, err = run_split("lag g")
    assert.are.equal(1, code)
    assert.matches("give the brokers with --brokers", err, 1, true)
  end)

  it("runs from a rock installed with luarocks", function()
    if os.execute("command -v luarocks >/dev/null 2>&1") ~= 0 then
      pending("luarocks is not installed")
      return
    end
    -- a copy, so that luarocks' build files stay out of the work tree; the rock is an ordinary
    -- build, so neither it nor the compiler runs under make test-asan's preloaded sanitizer
    local dir = assert(io.popen("mktemp -d")):read("*l")
    local build = ("env -u LD_PRELOAD -u ASAN_OPTIONS sh -c 'cp -r lua csrc bin fluxakafka-scm-1.rockspec %s/ && cd %s && "
      .. "luarocks --lua-version=5.1 make --tree %s/tree fluxakafka-scm-1.rockspec >%s/build.log 2>&1'")
      :format(dir, dir, dir, dir)
    local built = os.execute(build) == 0
    local topic = support.unique("cli-rock")
    support.create_topic(topic, 1)
    assert(pool:produce_sync({ topic = topic, key = "k", value = "v" }))
    local p = assert(io.popen(("cd / && env -u LUA_PATH -u LUA_CPATH -u LD_PRELOAD -u ASAN_OPTIONS %s/tree/bin/fluxakafka consume %s %s --json 2>&1; echo \"EXIT:$?\"")
      :format(dir, topic, B)))
    local out = p:read("*a")
    p:close()
    local log = support.read_file(dir .. "/build.log") or ""
    os.execute("rm -rf " .. dir)
    assert.is_true(built, "luarocks make failed:\n" .. log:sub(-2000))
    assert.matches("EXIT:0%s*$", out)
    local got = decode((out:gsub("EXIT:0%s*$", "")))
    assert.are.equal("v", got.records[1].value)
  end)
end)
