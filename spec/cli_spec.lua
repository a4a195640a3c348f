-- The fluxakafka command line, run as a real process against the real broker.
local fk = require "fluxakafka"

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

  it("stops at the first failure and says what was and was not applied", function()
    local good, bad = unique("cli-good"), unique("cli-bad")
    local path = migration({ { good, 1 } }, ([[
registry:register_kafka_topic(fk.new_kafka_topic(%q, 'cli'):partitions(1):config('no.such.config', '1'))
]]):format(bad))
    files[#files + 1] = path
    local code, out = run("apply " .. path)
    assert.are.equal(1, code, out)
    assert.matches("FAILED: Create topic '" .. bad:gsub("%-", "%%-") .. "'", out)
    assert.matches("done: Create topic '" .. good:gsub("%-", "%%-") .. "'", out)
    -- clean up what the failing migration left behind
    local cleanup = migration({ { good, 1 } })
    files[#files + 1] = cleanup
    assert.are.equal(0, (run("apply " .. cleanup)))
  end)
end)
