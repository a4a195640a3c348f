-- SASL against the broker's SASL_PLAINTEXT listener: every mechanism, and refused credentials.
-- Kafka 4 refuses SCRAM from librdkafka before 2.6.1: there the SCRAM logins must fail saying so.
local support = require "spec.support"
local fk = require "fluxakafka"

local SCRAM_REFUSED = support.scram_refused()

local USERS = {
  { "PLAIN", "fluxa", "fluxa-secret" },
  { "SCRAM-SHA-256", "scram256", "scram256-secret" },
  { "SCRAM-SHA-512", "scram512", "scram512-secret" },
}

local function sasl_engine(mechanism, user, password, group, topic)
  local r = fk.new_registry()
  r:register_kafka(support.sasl_brokers, "secure", {
    sasl = { mechanism = mechanism, user = user, password = password }, delivery_timeout = 30, connect_timeout = 20 })
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "secure"):topics(topic):session_timeout(6))
  local engine = assert(r:validate())
  return engine, engine:kafka("secure")
end

describe("SASL", function()
  for _, u in ipairs(USERS) do
    local mechanism, user, password = u[1], u[2], u[3]

    if SCRAM_REFUSED and mechanism ~= "PLAIN" then
      it(mechanism .. " with the right password fails on Kafka 4 saying which librdkafka it needs", function()
        local topic, group = support.unique("sasl"), support.unique("sasl-group")
        local engine, pool = sasl_engine(mechanism, user, password, group, topic)
        local ok, err, code = pool:produce_sync({ topic = topic, value = mechanism })
        assert.is_nil(ok)
        assert.are.equal("_AUTHENTICATION", code)
        assert.matches("they refuse SCRAM from librdkafka before 2.6.1", err, 1, true)
        assert.matches("this process runs librdkafka " .. fk.librdkafka_version(), err, 1, true)
        local alters, aerr, acode = fk.get_kafka_alters(engine:new_context())
        assert.is_nil(alters)
        assert.are.equal("_AUTHENTICATION", acode)
        assert.matches("load librdkafka 2.6.1 or later", aerr, 1, true)
        engine:close()
      end)
    else
    it(mechanism .. " produces and consumes with the right password", function()
      local topic, group = support.unique("sasl"), support.unique("sasl-group")
      local engine, pool = sasl_engine(mechanism, user, password, group, topic)
      assert.is_true(pool:produce_sync({ topic = topic, value = mechanism }))
      local cg = assert(pool:consumer_group(group))
      local got = support.consume(cg, 1)
      cg:close()
      engine:close()
      assert.are.equal(mechanism, got[1] and got[1].value)
    end)
    end

    it(mechanism .. " fails fast and clearly with a wrong password, without showing it", function()
      local topic, group = support.unique("sasl"), support.unique("sasl-group")
      local wrong = "not-the-password-" .. math.random(1000, 9999)
      local engine, pool = sasl_engine(mechanism, user, wrong, group, topic)
      local started = support.now()
      local ok, err, code = pool:produce_sync({ topic = topic, value = "x" })
      assert.is_nil(ok)
      assert.are.equal("_AUTHENTICATION", code)
      assert.matches("[Aa]uthentication", err)
      assert.is_nil(err:find(wrong, 1, true))
      local cg, cerr, ccode = pool:consumer_group(group)
      assert.is_nil(cg)
      assert.are.equal("_AUTHENTICATION", ccode)
      assert.is_nil(cerr:find(wrong, 1, true))
      assert.is_true(support.now() - started < 30, "took too long to fail")
      assert.is_nil(tostring(pool):find(wrong, 1, true))
      engine:close()
    end)
  end

  it("keeps the password out of librdkafka's debug log as fluxakafka forwards it", function()
    -- SCRAM where the broker takes it from this librdkafka, PLAIN otherwise
    local mechanism, user, secret = "SCRAM-SHA-256", "scram256", "scram256-secret"
    if SCRAM_REFUSED then mechanism, user, secret = "PLAIN", "fluxa", "fluxa-secret" end
    local script = os.tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
local fk = require "fluxakafka"
for _, password in ipairs({ %q, "wrong-%s" }) do
  local r = fk.new_registry()
  r:register_kafka({ %q }, "secure", { sasl = { mechanism = %q, user = %q, password = password } })
  local engine = assert(r:validate())
  print(engine:kafka("secure"):produce_sync({ topic = "sasl-debug-log", value = "x" }))
  engine:close()
end
]]):format(secret, secret, support.sasl_brokers[1], mechanism, user))
    f:close()
    local p = assert(io.popen("FK_RDKAFKA_DEBUG=security,broker,conf,protocol luajit " .. script .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.matches("SASL", out)                       -- the debug log was really on
    assert.matches("true", out)                       -- and the right password worked
    assert.is_nil(out:find(secret, 1, true), "the password appears in the forwarded log")
  end)
end)
