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
end)
