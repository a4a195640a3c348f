-- The module table: versions, the async SQL topic names and the entry points.
local fk = require "fluxakafka"

describe("module", function()
  it("exposes its version, librdkafka's and the async SQL topic names", function()
    assert.is_string(fk.VERSION)
    assert.matches("^%d+%.%d+%.%d+$", fk.VERSION)
    local v = fk.librdkafka_version()
    assert.is_string(v)
    assert.matches("^%d+%.%d+%.%d+", v)
    -- the librdkafka loaded in this process, which may be newer than the headers it was built with
    local ffi = require "ffi"
    pcall(ffi.cdef, "const char *rd_kafka_version_str(void);")
    assert.are.equal(ffi.string(ffi.load("librdkafka.so.1").rd_kafka_version_str()), v)
    assert.are.equal("_fluxa_async_sql", fk.ASYNC_SQL_TOPIC_NAME)
    assert.are.equal("_fluxa_async_sql_failed", fk.ASYNC_SQL_DEAD_LETTER_TOPIC_NAME)
  end)

  it("is found through LUA_PATH / LUA_CPATH with its C part as fluxakafka.core", function()
    local core = require "fluxakafka.core"
    assert.is_table(core)
    for _, name in ipairs({ "new_registry", "new_kafka_consumer_group", "librdkafka_version" }) do
      assert.is_function(fk[name], name)
    end
  end)

  it("hands out independent registries", function()
    local a, b = fk.new_registry(), fk.new_registry()
    assert.is_not_nil(a)
    assert.are_not.equal(a, b)
    a:register_kafka({ "127.0.0.1:9092" }, "only-in-a")
    b:register_kafka({ "127.0.0.1:9092" }, "only-in-b")
    local ea, eb = assert(a:validate()), assert(b:validate())
    assert.has_error(function() ea:kafka("only-in-b") end)
    assert.has_error(function() eb:kafka("only-in-a") end)
    ea:close()
    eb:close()
  end)
end)
