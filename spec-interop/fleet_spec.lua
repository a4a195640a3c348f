-- A mixed fleet on one async SQL topic: FluxaORM-shaped Go services (spec-interop/go/fleet.go:
-- franz-go as FluxaORM sets it up, shamaton/msgpack 1.2.1) and fluxakafka's async SQL
-- consumers with default settings, in ONE consumer group, both writing and both applying,
-- while members are SIGKILLed and stopped gracefully. Needs Go (the module proxy) and the
-- broker of FK_TEST_BROKERS.
local fk = require "fluxakafka"
local support = require "spec.support"
local go = require "spec.go_build"

local pause, read_file = support.sleep_ms, support.read_file

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function report(line) print("# " .. line) end

local describe_go = go.available and describe or function(name) pending(name .. " (needs go on PATH)") end

describe_go("a mixed fleet of FluxaORM-shaped Go services and fluxakafka consumers", function()
  local dir, fleet, members = nil, nil, {}

  -- Starts a member and returns it once it printed its pid.
  local function start(kind, name, topic, group)
    local m = { kind = kind, name = name, out = dir .. "/" .. name .. ".out", err = dir .. "/" .. name .. ".err",
                stop = dir .. "/" .. name .. ".stop" }
    local cmd
    if kind == "go" then
      cmd = ("%s member -brokers %s -group %s -topic %s -name %s -applied %s"):format(fleet,
        table.concat(support.brokers, ","), group, topic, name, dir .. "/applied")
    else
      cmd = ("%s spec-interop/fleet_member.lua %s %s %s %s %s %s"):format(os.getenv("LUAJIT") or "luajit",
        table.concat(support.brokers, ","), topic, group, name, dir .. "/applied", m.stop)
    end
    m.pid = tonumber(sh(("%s > %s 2> %s & echo $!"):format(cmd, m.out, m.err)))
    members[#members + 1] = m
    local deadline = support.monotonic() + 30
    while not read_file(m.out):match("^pid ") do
      assert(support.monotonic() < deadline, name .. " did not start: " .. read_file(m.err))
      pause(50)
    end
    return m
  end

  local function kill(m) os.execute("kill -9 " .. m.pid .. " 2>/dev/null") m.killed = true end

  local function stop(m)
    if m.kind == "go" then os.execute("kill -TERM " .. m.pid) else io.open(m.stop, "w"):close() end
    local deadline = support.monotonic() + 30
    while not read_file(m.out):match("closed") do
      assert(support.monotonic() < deadline, m.name .. " did not close: " .. read_file(m.err))
      pause(50)
    end
    m.stopped = true
  end

  -- id -> list of { side, member, partition, offset }, in the order applied
  local function applied()
    local by_id = {}
    for side, name, partition, offset, id in read_file(dir .. "/applied"):gmatch("(%a+) (%S+) (%d+) (%d+) (%d+)\n") do
      id = tonumber(id)
      by_id[id] = by_id[id] or {}
      table.insert(by_id[id], { side = side, member = name, partition = tonumber(partition), offset = tonumber(offset) })
    end
    return by_id
  end

  local function wait_for(what, seconds, cond)
    local deadline = support.monotonic() + seconds
    while not cond() do
      assert(support.monotonic() < deadline, "timed out waiting for " .. what)
      pause(100)
    end
  end

  local engine, ctx, pool
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir) == 0)
    fleet = go.build("spec-interop/go/fleet.go", { "github.com/shamaton/msgpack@v1.2.1", "github.com/twmb/franz-go/pkg/kgo@v1.22.3" })
  end)
  after_each(function()
    for _, m in ipairs(members) do os.execute("kill -9 " .. m.pid .. " 2>/dev/null") end
    members = {}
    if engine then engine:close() end
    os.execute("rm -rf " .. dir)
  end)

  -- FluxaORM's FlushAsync of operations from..to, one INSERT each, written by fluxakafka;
  -- 31 tables (as fleet.go) so that every partition gets operations
  local function flush_from_lua(topic, from, to)
    local ops = {}
    for id = from, to do
      ops[#ops + 1] = { pool = "default", table = "t" .. id % 31,
                        queries = { { q = "INSERT INTO t" .. id % 31 .. " (id) VALUES (?)", p = { id } } } }
    end
    assert(ctx:flush_async(ops, { topic = topic }))
  end
  local function flush_from_go(topic, from, to)
    local out = sh(("%s produce -brokers %s -topic %s -from %d -to %d 2>&1"):format(fleet,
      table.concat(support.brokers, ","), topic, from, to))
    assert(out:match("produced " .. (to - from + 1)), out)
  end

  it("forms one group, and every operation is applied through kills and graceful stops", function()
    local topic, group = support.unique("fleet"), support.unique("fleet-group")
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "fleet")
    r:register_async_flush("fleet")
    r:register_kafka_topic(fk.new_kafka_topic(topic, "fleet"):partitions(6))
    engine = assert(r:validate())
    ctx = engine:new_context()
    pool = engine:kafka("fleet")
    for _, alter in ipairs(assert(fk.get_kafka_alters(ctx))) do
      if alter.kind == "create_topic" and alter.topic == topic then assert(alter:exec(ctx)) end
    end

    local next_id, written = 1, { go = 0, lua = 0 }
    local function flush(side, n)
      local from, to = next_id, next_id + n - 1
      if side == "go" then flush_from_go(topic, from, to) else flush_from_lua(topic, from, to) end
      next_id, written[side] = to + 1, written[side] + n
    end

    local go1, go2 = start("go", "go-1", topic, group), start("go", "go-2", topic, group)
    local lua1, lua2 = start("lua", "lua-1", topic, group), start("lua", "lua-2", topic, group)
    -- both sides take part: each applies operations before anyone is killed. The members join
    -- over seconds (cooperative-sticky hands a partition over in two rounds) and the first one
    -- in holds every partition meanwhile: writing goes on until both sides applied some
    local function sides()
      local seen = {}
      for _, list in pairs(applied()) do for _, a in ipairs(list) do seen[a.side] = true end end
      return seen
    end
    wait_for("both Go and Lua members to apply operations", 60, function()
      flush("go", 20)
      flush("lua", 20)
      local seen = sides()
      return seen.go and seen.lua
    end)

    kill(go1)
    kill(lua1)
    flush("go", 600)
    flush("lua", 600)
    local go3, lua3 = start("go", "go-3", topic, group), start("lua", "lua-3", topic, group)
    stop(go2)
    stop(lua2)
    flush("go", 300)
    flush("lua", 300)

    local total = next_id - 1
    wait_for("every operation to be applied", 120, function()
      local by_id, n = applied(), 0
      for _ in pairs(by_id) do n = n + 1 end
      return n >= total
    end)
    stop(go3)
    stop(lua3)

    local by_id = applied()
    local lost, repeats, by_side, repeated_after_graceful = 0, 0, { go = 0, lua = 0 }, 0
    local graceful = { ["go-2"] = true, ["lua-2"] = true }
    for id = 1, total do
      local list = by_id[id]
      if not list then
        lost = lost + 1
      else
        by_side[list[1].side] = by_side[list[1].side] + 1
        repeats = repeats + #list - 1
        if #list > 1 and graceful[list[1].member] and list[1].side == "lua" then
          repeated_after_graceful = repeated_after_graceful + 1
        end
      end
    end
    report(("mixed fleet: %d operations (%d written by Go, %d by Lua), applied first by Go %d, by Lua %d, "
      .. "lost %d, applied again %d (go-1 and lua-1 SIGKILLed, go-2 and lua-2 stopped)"):format(total,
      written.go, written.lua, by_side.go, by_side.lua, lost, repeats))
    assert.are.equal(0, lost)
    assert.is_true(by_side.go > 0 and by_side.lua > 0)
    -- a Lua member that closed gracefully had committed everything it applied
    assert.are.equal(0, repeated_after_graceful)
    for _, m in ipairs(members) do
      local err = read_file(m.err)
      assert.is_nil(err:match("INCONSISTENT_GROUP_PROTOCOL"), m.name .. ": " .. err)
      assert.is_nil(err:match("undecodable"), m.name .. ": " .. err)
    end
  end)
end)
