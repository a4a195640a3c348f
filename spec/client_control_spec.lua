-- Client control: raw librdkafka properties, compression and idempotence options.
local support = require "spec.support"
local fk = require "fluxakafka"
local ffi = require "ffi"

ffi.cdef [[
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
const rd_kafka_conf_t *rd_kafka_conf(rd_kafka_t *rk);
int rd_kafka_conf_get(const rd_kafka_conf_t *conf, const char *name, char *dest, size_t *dest_size);
]]
-- the librdkafka the module runs on (librdkafka.so.1, maybe a newer one on LD_LIBRARY_PATH), not
-- the unversioned development link, which stays Debian's
local rdkafka = ffi.load("librdkafka.so.1")

-- What librdkafka holds for `name` in the live client of a consumer group.
local function live_property(cg, name)
  local rk = ffi.cast("rd_kafka_t *", cg:get_rdkafka_handle())
  local buf, size = ffi.new("char[512]"), ffi.new("size_t[1]", 512)
  assert(rdkafka.rd_kafka_conf_get(rdkafka.rd_kafka_conf(rk), name, buf, size) == 0, name)
  return ffi.string(buf)
end

local function validate_error(options, builder)
  local r = fk.new_registry()
  r:register_kafka(support.brokers, "events", options)
  if builder then r:register_kafka_consumer_group(builder) end
  local engine, err = r:validate()
  assert.is_nil(engine)
  return err
end

describe("raw librdkafka properties", function()
  it("reach the pool's producers: message.max.bytes refuses a larger record", function()
    local topic = support.unique("rdprops")
    local big = ("x"):rep(5000)
    local engine, pool = support.engine({ rdkafka = { ["message.max.bytes"] = 1000 } })
    local ok, err, code = pool:produce_sync({ topic = topic, value = big })
    assert.is_nil(ok)
    assert.are.equal("MSG_SIZE_TOO_LARGE", code)
    assert.matches(topic, err, 1, true)
    assert.is_true(pool:produce_sync({ topic = topic, value = "small" }))
    engine:close()
    -- the same record passes without the property (the limit came from it)
    local engine2, pool2 = support.engine()
    assert.is_true(pool2:produce_sync({ topic = topic, value = big }))
    engine2:close()
  end)

  it("also reach the lingering producer of produce()", function()
    local topic = support.unique("rdprops-async")
    local engine, pool = support.engine({ producer_linger = 0.005, rdkafka = { ["message.max.bytes"] = "1000" } })
    local ok, err, code = pool:produce({ topic = topic, value = ("y"):rep(3000) })
    assert.is_nil(ok, err)
    assert.are.equal("MSG_SIZE_TOO_LARGE", code)
    engine:close()
  end)

  it("apply to consumer groups: the pool's consumer and global ones, then the group's own", function()
    local topic, group = support.unique("rdprops-cg"), support.unique("rdprops-g")
    local engine, pool = support.engine(
      { rdkafka = { ["fetch.min.bytes"] = 7, ["batch.num.messages"] = 77, ["socket.keepalive.enable"] = true } },
      { fk.new_kafka_consumer_group(group, "events"):topics(topic)
          :rdkafka({ ["fetch.wait.max.ms"] = "50", ["fetch.error.backoff.ms"] = 60 }) })
    local cg = assert(pool:consumer_group(group))
    assert.are.equal("50", live_property(cg, "fetch.wait.max.ms"))
    assert.are.equal("60", live_property(cg, "fetch.error.backoff.ms"))
    assert.are.equal("7", live_property(cg, "fetch.min.bytes"))
    assert.are.equal("true", live_property(cg, "socket.keepalive.enable"))
    -- a producer property of the pool is not set on the consumer (librdkafka would warn)
    assert.are.equal("10000", live_property(cg, "batch.num.messages"))
    assert.are.same({ ["fetch.wait.max.ms"] = "50", ["fetch.error.backoff.ms"] = "60" }, cg:get_settings().rdkafka)
    assert.are.same({ ["fetch.min.bytes"] = "7", ["batch.num.messages"] = "77", ["socket.keepalive.enable"] = "true" },
      pool:get_pool_options().rdkafka)
    cg:close()
    engine:close()
  end)

  it("are refused at validate() with librdkafka's message naming the key", function()
    local err = validate_error({ rdkafka = { ["no.such.property"] = "1" } })
    assert.matches("kafka pool 'events': rdkafka property 'no.such.property' refused by librdkafka", err, 1, true)
    assert.matches("No such configuration property", err, 1, true)
    err = validate_error({ rdkafka = { ["message.max.bytes"] = "lots" } })
    assert.matches("rdkafka property 'message.max.bytes' refused by librdkafka", err, 1, true)
    err = validate_error(nil, fk.new_kafka_consumer_group("g", "events"):topics("t")
      :rdkafka({ ["fetch.wait.max.ms"] = -5 }))
    assert.matches("kafka consumer group 'g' of pool 'events': rdkafka property 'fetch.wait.max.ms'", err, 1, true)
  end)

  it("that fluxakafka owns are refused with the option to use instead", function()
    local cases = {
      { "bootstrap.servers", "localhost:1", "use the brokers argument" },
      { "linger.ms", 0, "use producer_linger" },
      { "acks", "all", "use required_acks" },
      { "max.in.flight.requests.per.connection", 1, "use max_in_flight" },
      { "sasl.username", "u", "use the sasl option" },
      { "security.protocol", "ssl", "use the sasl and tls options" },
      { "enable.auto.offset.store", true, "fluxakafka stores the offsets" },
      { "dr_msg_cb", "x", "callbacks" },
    }
    for _, case in ipairs(cases) do
      local err = validate_error({ rdkafka = { [case[1]] = case[2] } })
      assert.matches("rdkafka property '" .. case[1] .. "' is set by fluxakafka: ", err, 1, true)
      assert.matches(case[3], err, 1, true)
    end
    local err = validate_error(nil, fk.new_kafka_consumer_group("g", "events"):topics("t")
      :rdkafka({ ["group.id"] = "other" }))
    assert.matches("rdkafka property 'group.id' is set by fluxakafka: it is the consumer group's name", err, 1, true)
    err = validate_error(nil, fk.new_kafka_consumer_group("g", "events"):topics("t")
      :rdkafka({ ["enable.auto.commit"] = true }))
    assert.matches("use auto_commit_interval", err, 1, true)
  end)

  it("of a producer are refused on a consumer group, which would ignore them", function()
    local err = validate_error(nil, fk.new_kafka_consumer_group("g", "events"):topics("t")
      :rdkafka({ ["compression.type"] = "lz4" }))
    assert.matches("rdkafka property 'compression.type' is a producer property", err, 1, true)
  end)

  it("raise on misuse, naming the function and argument", function()
    local r = fk.new_registry()
    assert.has_error(function() r:register_kafka(support.brokers, "e", { rdkafka = "x" }) end,
      "register_kafka: option 'rdkafka' must be a table of librdkafka property names to values, got string")
    assert.has_error(function() r:register_kafka(support.brokers, "e", { rdkafka = { ["a.b"] = {} } }) end,
      "register_kafka: option 'rdkafka': property 'a.b' must be a string, number or boolean, got table")
    assert.has_error(function() fk.new_kafka_consumer_group("g", "e"):rdkafka({ [1] = "x" }) end,
      "rdkafka: argument #1 'properties': property names must be non-empty strings")
  end)

  it("come from YAML and config tables, under the pool's kafka section and a group", function()
    local topic, group = support.unique("rdyaml"), support.unique("rdyaml-g")
    local r = fk.new_registry()
    assert(r:init_by_yaml(([[
events:
  kafka:
    brokers: [%s]
    compression: lz4
    idempotent: true
    rdkafka:
      message.max.bytes: 1000
      socket.keepalive.enable: true
    consumerGroups:
      - name: %s
        topics: [%s]
        rdkafka:
          fetch.wait.max.ms: "40"
]]):format(support.brokers[1], group, topic)))
    local engine = assert(r:validate())
    local pool = engine:kafka("events")
    local o = pool:get_pool_options()
    assert.are.equal("lz4", o.compression)
    assert.is_true(o.idempotent)
    assert.are.same({ ["message.max.bytes"] = "1000", ["socket.keepalive.enable"] = "true" }, o.rdkafka)
    local _, _, code = pool:produce_sync({ topic = topic, value = ("z"):rep(4000) })
    assert.are.equal("MSG_SIZE_TOO_LARGE", code)
    local cg = assert(pool:consumer_group(group))
    assert.are.equal("40", live_property(cg, "fetch.wait.max.ms"))
    cg:close()
    engine:close()

    local r2 = fk.new_registry()
    local ok, err = r2:init_by_config({ events = { kafka = { brokers = support.brokers, rdkafka = { ["x"] = { 1 } } } } })
    assert.is_nil(ok)
    assert.matches("events.kafka.rdkafka.x: expected a value", err, 1, true)
    ok, err = r2:init_by_config({ events = { kafka = { brokers = support.brokers, compression = "brotli" } } })
    assert.is_nil(ok)
    assert.matches("events.kafka.compression: expected none, gzip, snappy, lz4 or zstd", err, 1, true)
  end)
end)

describe("compression and idempotent pool options", function()
  it("produce records that come back intact", function()
    local topic, group = support.unique("lz4"), support.unique("lz4-g")
    local engine, pool = support.engine({ compression = "lz4", idempotent = true },
      { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    local o = pool:get_pool_options()
    assert.are.equal("lz4", o.compression)
    assert.is_true(o.idempotent)
    local value = ("compressible "):rep(500)
    assert.is_true(pool:produce_sync({ topic = topic, key = "a", value = value }, { topic = topic, value = "b" }))
    local cg = assert(pool:consumer_group(group))
    local got = support.consume(cg, 2)
    assert.are.equal(2, #got)
    assert.are.equal(value, got[1].value)
    assert.are.equal("b", got[2].value)
    cg:close()
    engine:close()
  end)

  it("are checked: a known codec, a boolean, and acks = all for idempotence", function()
    local r = fk.new_registry()
    assert.has_error(function() r:register_kafka(support.brokers, "e", { compression = "brotli" }) end,
      "register_kafka: option 'compression' must be none, gzip, snappy, lz4 or zstd, got 'brotli'")
    assert.has_error(function() r:register_kafka(support.brokers, "e", { idempotent = "yes" }) end,
      "register_kafka: option 'idempotent' must be a boolean, got string")
    local err = validate_error({ idempotent = true, required_acks = 1 })
    assert.matches("idempotent producers need required_acks = -1", err, 1, true)
    err = validate_error({ idempotent = true, max_in_flight = 6 })
    assert.matches("idempotent and transactional producers allow max_in_flight of at most 5, got 6", err, 1, true)
    assert.has_error(function() r:register_kafka(support.brokers, "e", { max_in_flight = 0 }) end)
    local defaults = select(2, support.engine())
    assert.are.equal(5, defaults:get_pool_options().max_in_flight)
    assert.is_false(defaults:get_pool_options().idempotent)
    assert.is_nil(defaults:get_pool_options().compression)
    assert.are.same({}, defaults:get_pool_options().rdkafka)
  end)
end)

describe("max_in_flight", function()
  it("of 1 (one request at a time) delivers a pool's records in order", function()
    local topic, group = support.unique("inflight"), support.unique("inflight-g")
    local engine, pool = support.engine({ max_in_flight = 1, producer_linger = 0 },
      { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    assert.are.equal(1, pool:get_pool_options().max_in_flight)
    for i = 1, 2000 do assert(pool:produce({ topic = topic, partition = 0, value = tostring(i) })) end
    assert.is_true(pool:flush(30))
    assert.are.equal(0, pool:unreported_failures())
    local cg = assert(pool:consumer_group(group))
    local got = support.consume(cg, 2000)
    for i = 1, 2000 do assert.are.equal(tostring(i), got[i] and got[i].value) end
    cg:close()
    engine:close()
  end)
end)

describe("statistics", function()
  it("of a pool's producers reach stats_callback as a table, inside pool:poll", function()
    local topic = support.unique("stats")
    local seen = {}
    local engine, pool = support.engine({ client_id = "stats-spec", statistics_interval = 0.1,
      stats_callback = function(stats) seen[#seen + 1] = stats end })
    assert.are.equal(0.1, pool:get_pool_options().statistics_interval)
    assert.is_true(pool:produce_sync({ topic = topic, value = "x" }))
    local deadline = os.time() + 10
    while #seen == 0 and os.time() <= deadline do pool:poll(0.1) end
    assert.is_true(#seen > 0, "no statistics arrived")
    assert.are.equal("producer", seen[1].type)
    assert.are.equal("stats-spec", seen[1].client_id)
    assert.is_table(seen[1].brokers)
    engine:close()
  end)

  it("of a consumer group reach its stats_callback inside poll_fetches", function()
    local topic, group = support.unique("stats-cg"), support.unique("stats-g")
    local seen = {}
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic)
      :statistics_interval(0.1):stats_callback(function(stats) seen[#seen + 1] = stats end) })
    local cg = assert(pool:consumer_group(group))
    assert.are.equal(0.1, cg:get_settings().statistics_interval)
    local deadline = os.time() + 10
    while #seen == 0 and os.time() <= deadline do assert(cg:poll_fetches(0.1)) end
    assert.is_true(#seen > 0, "no statistics arrived")
    assert.are.equal("consumer", seen[1].type)
    cg:close()
    engine:close()
  end)

  it("are off by default and checked", function()
    local seen = 0
    local engine, pool = support.engine({ stats_callback = function() seen = seen + 1 end })
    assert.are.equal(0, pool:get_pool_options().statistics_interval)
    assert.is_true(pool:produce_sync({ topic = support.unique("stats-off"), value = "x" }))
    pool:poll(0.3)
    assert.are.equal(0, seen)
    engine:close()
    local r = fk.new_registry()
    assert.has_error(function() r:register_kafka(support.brokers, "e", { stats_callback = 1 }) end,
      "register_kafka: option 'stats_callback' must be a function(stats), got number")
    assert.has_error(function() fk.new_kafka_consumer_group("g", "e"):stats_callback(true) end,
      "stats_callback: argument #1 'callback' must be a function(stats), got boolean")
    assert.has_error(function() r:register_kafka(support.brokers, "e", { statistics_interval = -1 }) end,
      "register_kafka: option 'statistics_interval' must not be negative")
    local err = validate_error({ rdkafka = { ["statistics.interval.ms"] = 100 } })
    assert.matches("use the statistics_interval option", err, 1, true)
  end)
end)
