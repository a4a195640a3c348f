-- librdkafka's log lines reach the Lua logger on the calling thread, with secrets masked.
local support = require "spec.support"
local fk = require "fluxakafka"

describe("logging", function()
  after_each(function() fk.set_logger(nil) end)

  local function dead_pool(options)
    local r = fk.new_registry()
    r:register_kafka({ "127.0.0.1:1" }, "dead", options)
    local e = assert(r:validate())
    return e, e:kafka("dead")
  end

  -- polls the pool until cond() holds (the lines come with the calls on the pool)
  local function poll_until(pool, cond)
    local deadline = support.now() + 10
    while not cond() and support.now() < deadline do pool:poll(0.05) end
    return cond()
  end

  it("fk.set_logger receives each line on this thread, inside the pool's calls", function()
    local lines, main = {}, coroutine.running()
    fk.set_logger(function(level, facility, message, pool_code)
      lines[#lines + 1] = { level = level, facility = facility, message = message, pool = pool_code,
                            same_thread = coroutine.running() == main }
    end)
    local e, pool = dead_pool({ delivery_timeout = 60 })
    assert(pool:produce({ topic = "logged", value = "x" }))
    assert(poll_until(pool, function()
      for _, l in ipairs(lines) do if l.facility == "FAIL" then return true end end
    end), "no FAIL line reached the logger")
    for _, l in ipairs(lines) do
      if l.facility == "FAIL" then
        assert.are.equal(3, l.level)
        assert.are.equal("dead", l.pool)
        assert.matches("Connection refused", l.message, 1, true)
        assert.is_true(l.same_thread)
      end
    end
    e:close(0)
  end)

  it("a pool's logger option takes its lines, and a password never reaches any logger", function()
    local secret = "fluxa-secret"
    local mine, global = {}, {}
    fk.set_logger(function(_, _, message) global[#global + 1] = message end)
    local e, pool = dead_pool({
      logger = function(_, facility, message) mine[#mine + 1] = facility .. " " .. message end,
      sasl = { mechanism = "PLAIN", user = "fluxa", password = secret },
    })
    assert(pool:produce({ topic = "logged", value = "x" }))
    assert(poll_until(pool, function() return #mine > 0 end), "the pool's logger got nothing")
    for _, m in ipairs(mine) do assert.is_nil(m:find(secret, 1, true)) end
    for _, m in ipairs(global) do assert.is_nil(m:find("127.0.0.1:1", 1, true), "a line of the pool reached fk.set_logger") end
    e:close(0)
    assert.has_error(function() fk.set_logger("yes") end)
  end)

  it("a logger that raises does not break the call that served the line", function()
    local called = false
    fk.set_logger(function() called = true error("logger boom") end)
    local e, pool = dead_pool()
    assert(pool:produce({ topic = "logged", value = "x" }))
    assert(poll_until(pool, function() return called end))
    assert.are.equal(0, pool:poll(0))
    e:close(0)
  end)

  -- Runs `body` (Lua, with `fk` loaded and `lines` collecting what the logger got) in a child
  -- luajit; returns what the child wrote to stderr, and to stdout (the lines, one a line).
  local function child(body)
    local script, errfile = os.tmpname(), os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write("local fk = require 'fluxakafka'\n",
            "local lines = {}\n",
            "fk.set_logger(function(level, facility, message, pool) ",
            "lines[#lines + 1] = ('%d|%s|%s|%s'):format(level, facility, pool, message) end)\n",
            body, "\n",
            "for _, l in ipairs(lines) do io.stdout:write(l, '\\n') end\n")
    f:close()
    local p = assert(io.popen(("luajit %s 2>%s"):format(script, errfile)))
    local out = p:read("*a")
    p:close()
    local err = support.read_file(errfile)
    os.remove(script)
    os.remove(errfile)
    return err, out
  end

  it("with a logger set nothing reaches stderr: a refused broker, a failing record without callback", function()
    local err, out = child([[
local r = fk.new_registry()
r:register_kafka({ "127.0.0.1:1" }, "dead", { delivery_timeout = 1 })
local e = assert(r:validate())
local pool = e:kafka("dead")
assert(pool:produce({ topic = "logged", value = "no callback" }))
local deadline = os.time() + 10
while pool:poll(0.1) == 0 and os.time() < deadline do end
e:close(1)
]])
    assert.are.equal("", err)
    assert.matches("3|FAIL|dead|", out, 1, true)
    assert.matches("3|DELIVERY|dead|[^\n]*pool 'dead': record to 'logged' failed", out)
  end)

  it("a record failing at close without a callback reaches the logger, not stderr", function()
    local err, out = child([[
local r = fk.new_registry()
r:register_kafka({ "127.0.0.1:1" }, "dead", { delivery_timeout = 60 })
local e = assert(r:validate())
assert(e:kafka("dead"):produce({ topic = "at-close", value = "x" }))
e:close(0)
]])
    assert.are.equal("", err)
    assert.matches("3|DELIVERY|dead|[^\n]*record to 'at%-close' failed", out)
  end)

  it("a pool closed inside a transaction says so through the logger", function()
    local topic = support.unique("logger-txn")
    support.create_topic(topic, 1)
    local err, out = child(([[
local r = fk.new_registry()
r:register_kafka({ %q }, "txn", { transactional_id = %q })
local e = assert(r:validate())
local pool = e:kafka("txn")
assert(pool:begin_transaction())
assert(pool:produce({ topic = %q, value = "x" }, function() end))
e:close(10)
]]):format(support.brokers[1], support.unique("logger-txn-id"), topic))
    assert.are.equal("", err)
    assert.matches("4|TXNCLOSE|txn|[^\n]*closed in a transaction: aborted it", out)
  end)
end)

