-- Admin calls (plans of alters, the command line) fail fast with the real cause and its code when
-- the brokers refuse the client or refuse connections, instead of reporting "could not be
-- reached" once connect_timeout has passed.
local fk = require "fluxakafka"
local support = require "spec.support"

local CONNECT_TIMEOUT = 10

local function plan(brokers, options)
  local r = fk.new_registry()
  options = options or {}
  options.connect_timeout = CONNECT_TIMEOUT
  r:register_kafka({ brokers }, "p", options)
  r:register_kafka_topic(fk.new_kafka_topic(support.unique("admin-err"), "p"))
  local engine = assert(r:validate())
  local started = support.monotonic()
  local alters, err, code = fk.get_kafka_alters(engine:new_context())
  local took = support.monotonic() - started
  engine:close()
  return alters, err, code, took
end

-- a port on this machine where nothing listens
local function closed_port()
  local port = 1
  return "127.0.0.1:" .. port
end

describe("admin calls", function()
  it("fail with _AUTHENTICATION and the broker's reason when the password is wrong, long before connect_timeout", function()
    local alters, err, code, took = plan(support.sasl_brokers[1],
      { sasl = { mechanism = "PLAIN", user = "fluxa", password = "not-the-password" } })
    assert.is_nil(alters)
    assert.are.equal("_AUTHENTICATION", code)
    assert.matches("cannot read the topics of kafka pool 'p'", err, 1, true)
    assert.matches("Invalid username or password", err, 1, true)
    assert.is_nil(err:find("not-the-password", 1, true))
    assert.is_true(took < CONNECT_TIMEOUT / 2, ("took %.1f s"):format(took))
  end)

  it("inspection (list_topics, describe_topics) fails the same way, long before connect_timeout", function()
    local r = fk.new_registry()
    r:register_kafka(support.sasl_brokers, "p", { connect_timeout = CONNECT_TIMEOUT,
      sasl = { mechanism = "PLAIN", user = "fluxa", password = "not-the-password" } })
    local engine = assert(r:validate())
    local pool = engine:kafka("p")
    for _, call in ipairs({ function() return pool:list_topics() end,
                            function() return pool:describe_topics({ "t" }) end }) do
      local started = support.monotonic()
      local topics, err, code = call()
      local took = support.monotonic() - started
      assert.is_nil(topics)
      assert.are.equal("_AUTHENTICATION", code)
      assert.matches("Invalid username or password", err, 1, true)
      assert.is_true(took < CONNECT_TIMEOUT / 2, ("took %.1f s"):format(took))
    end
    engine:close()
  end)

  it("fail with _TRANSPORT naming the brokers when every broker refuses the connection", function()
    local brokers = closed_port()
    local alters, err, code, took = plan(brokers)
    assert.is_nil(alters)
    assert.are.equal("_TRANSPORT", code)
    assert.matches("no broker of " .. brokers .. " can be reached", err, 1, true)
    assert.matches("Connection refused", err, 1, true)
    assert.is_true(took < CONNECT_TIMEOUT / 2, ("took %.1f s"):format(took))
  end)

  it("still answer after a refused call, once the client is right (nothing of the refusal sticks to the next pool)", function()
    local alters, err = plan(support.brokers[1])
    assert.is_table(alters, err)
  end)

  it("fail fast from the command line too, with the cause", function()
    local p = assert(io.popen(("cd %s && env -u LUA_PATH -u LUA_CPATH luajit bin/fluxakafka topics --brokers=%s 2>&1; echo \"EXIT:$?\"")
      :format(io.popen("pwd"):read("*l"), closed_port())))
    local out = p:read("*a")
    p:close()
    assert.matches("EXIT:1%s*$", out)
    assert.matches("Connection refused", out, 1, true)
  end)
end)
