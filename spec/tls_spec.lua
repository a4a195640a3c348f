-- TLS against the broker's SSL (9095) and SASL_SSL (9096) listeners, whose certificates
-- scripts/kafka.sh makes with a throw-away CA in .kafka/tls.
local support = require "spec.support"
local fk = require "fluxakafka"

local TLS_DIR = os.getenv("FK_TEST_TLS_DIR") or ".kafka/tls"
local SSL = os.getenv("FK_TEST_SSL_BROKERS") or "127.0.0.1:9095"
local SASL_SSL = os.getenv("FK_TEST_SASL_SSL_BROKERS") or "127.0.0.1:9096"

local function roundtrip(brokers, options)
  local topic, group = support.unique("tls"), support.unique("tls-group")
  local r = fk.new_registry()
  r:register_kafka({ brokers }, "secure", options)
  r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "secure"):topics(topic):session_timeout(6))
  local engine = assert(r:validate())
  local pool = engine:kafka("secure")
  local ok, err, code = pool:produce_sync({ topic = topic, value = "over tls" })
  local got = {}
  local cg, cerr, ccode
  if ok then
    cg, cerr, ccode = pool:consumer_group(group)
    if cg then
      got = support.consume(cg, 1)
      cg:close()
    end
  end
  engine:close()
  return { ok = ok, err = err, code = code, cg_err = cerr, cg_code = ccode, value = got[1] and got[1].value }
end

describe("TLS", function()
  it("verifies the broker against the given CA and carries records", function()
    local res = roundtrip(SSL, { tls = { ca_file = TLS_DIR .. "/ca.pem" } })
    assert.is_true(res.ok, res.err)
    assert.are.equal("over tls", res.value)
  end)

  it("presents a client certificate", function()
    local res = roundtrip(SSL, { tls = { ca_file = TLS_DIR .. "/ca.pem", cert_file = TLS_DIR .. "/client.pem",
                                         key_file = TLS_DIR .. "/client.key" } })
    assert.is_true(res.ok, res.err)
    assert.are.equal("over tls", res.value)
  end)

  it("carries SASL over TLS", function()
    local sasl = { mechanism = "SCRAM-SHA-512", user = "scram512", password = "scram512-secret" }
    -- Kafka 4 refuses SCRAM from librdkafka before 2.6.1 (sasl_spec checks what that says)
    if support.scram_refused() then
      sasl = { mechanism = "PLAIN", user = "fluxa", password = "fluxa-secret" }
    end
    local res = roundtrip(SASL_SSL, { tls = { ca_file = TLS_DIR .. "/ca.pem" }, sasl = sasl })
    assert.is_true(res.ok, res.err)
    assert.are.equal("over tls", res.value)
  end)

  it("refuses a broker its CA does not vouch for, quickly and clearly", function()
    local started = support.now()
    local res = roundtrip(SSL, { tls = { ca_file = "/etc/ssl/certs/ca-certificates.crt" } })
    assert.is_nil(res.ok)
    assert.are.equal("_SSL", res.code)
    assert.matches("SSL", res.err)
    assert.is_true(support.now() - started < 30)
  end)

  it("can skip verification when asked to", function()
    local res = roundtrip(SSL, { tls = { verify = false } })
    assert.is_true(res.ok, res.err)
  end)

  it("takes the same settings from YAML", function()
    local r = fk.new_registry()
    assert(r:init_by_yaml(([[
secure:
  kafka:
    brokers: ["%s"]
    tls:
      caFile: %s/ca.pem
      verify: true
]]):format(SSL, TLS_DIR)))
    local engine = assert(r:validate())
    local pool = engine:kafka("secure")
    assert.are.same({ ca_file = TLS_DIR .. "/ca.pem", verify = true }, pool:get_pool_options().tls)
    assert.is_true(pool:produce_sync({ topic = support.unique("tls-yaml"), value = "x" }))
    engine:close()
  end)
end)
