-- Consumer groups against the real broker: batches, offsets, commits, settings.
local support = require "spec.support"
local fk = require "fluxakafka"

describe("consumer group", function()
  local engine, pool, topic, group
  local opened = {}
  local function open(name)
    local cg = assert(pool:consumer_group(name or group))
    opened[#opened + 1] = cg
    return cg
  end

  before_each(function()
    topic, group = support.unique("cons"), support.unique("group")
    engine, pool = support.engine(nil, {
      fk.new_kafka_consumer_group(group, "events"):topics(topic):session_timeout(6):rebalance_timeout(20)
        :fetch_max_bytes(1048576),
      fk.new_kafka_consumer_group(group .. "-auto", "events"):topics(topic):session_timeout(6)
        :auto_commit_interval(0.2),
    })
  end)
  after_each(function()
    for _, cg in ipairs(opened) do cg:close() end
    opened = {}
    engine:close()
  end)

  local function produce(n, prefix)
    local recs = {}
    for i = 1, n do recs[i] = { topic = topic, key = (prefix or "k") .. i, value = "value " .. i } end
    assert(pool:produce_sync(unpack(recs)))
  end

  it("is a new client on every call, with its settings and librdkafka handle", function()
    local a, b = open(), open()
    assert.are_not.equal(a, b)
    assert.are.equal(group, a:get_name())
    assert.are.same({ name = group, pool = "events", topics = { topic }, session_timeout = 6,
      rebalance_timeout = 20, fetch_max_bytes = 1048576, auto_commit_interval = 0,
      start_offset = "earliest", rdkafka = {}, statistics_interval = 0, group_protocol = "classic" }, a:get_settings())
    assert.are.equal("userdata", type(a:get_rdkafka_handle()))
    assert.are.not_equal(a:get_rdkafka_handle(), b:get_rdkafka_handle())
  end)

  it("keeps fractional seconds and the defaults in its settings", function()
    local cg = open(group .. "-auto")
    local settings = cg:get_settings()
    assert.are.equal(group .. "-auto", settings.name)
    assert.are.equal("events", settings.pool)
    assert.are.same({ topic }, settings.topics)
    assert.are.near(0.2, settings.auto_commit_interval, 1e-9)
    assert.are.equal(6, settings.session_timeout)
    assert.is_number(settings.rebalance_timeout)
    assert.is_number(settings.fetch_max_bytes)
  end)

  it("subscribes to every topic given to topics(...)", function()
    local t2, t3 = support.unique("cons-b"), support.unique("cons-c")
    local g = support.unique("multi")
    local e, p = support.engine(nil, {
      fk.new_kafka_consumer_group(g, "events"):topics(topic, t2, t3):session_timeout(6),
    })
    finally(function() e:close() end)
    assert.is_true(p:produce_sync({ topic = topic, value = "a" }, { topic = t2, value = "b" },
      { topic = t3, value = "c" }, { topic = t3, value = "c2" }))
    local cg = assert(p:consumer_group(g))
    finally(function() cg:close() end)
    assert.are.same({ topic, t2, t3 }, cg:get_settings().topics)
    local got = support.consume(cg, 4)
    assert.are.equal(4, #got)
    local by_topic = {}
    for _, r in ipairs(got) do
      by_topic[r.topic] = (by_topic[r.topic] or "") .. r.value
    end
    assert.are.same({ [topic] = "a", [t2] = "b", [t3] = "cc2" }, by_topic)
  end)

  it("gives each group every record, independently of the others", function()
    produce(3)
    local a, b = open(group), open(group .. "-auto")
    local from_a = support.consume(a, 3)
    assert.are.equal(3, #from_a)
    local from_b = support.consume(b, 3)
    assert.are.equal(3, #from_b)
    for i = 1, 3 do
      assert.are.equal("k" .. i, from_a[i].key)
      assert.are.equal("k" .. i, from_b[i].key)
    end
  end)

  it("reports an unregistered group as nil, err; must_consumer_group raises", function()
    local cg, err, code = pool:consumer_group("nobody-registered-this")
    assert.is_nil(cg)
    assert.matches("nobody%-registered%-this", err)
    assert.is_string(code)
    assert.has_error(function() pool:must_consumer_group("nobody-registered-this") end)
    local must = pool:must_consumer_group(group)
    opened[#opened + 1] = must
    assert.are.equal(group, must:get_name())
  end)

  it("starts at the earliest record and hands out batches", function()
    produce(50)
    local cg = open()
    local got, biggest, deadline = {}, 0, os.time() + 30
    while #got < 50 and os.time() < deadline do
      local fetches = cg:poll_fetches(1)
      local recs = fetches:records()
      if #recs > biggest then biggest = #recs end
      for _, r in ipairs(recs) do got[#got + 1] = r end
    end
    assert.are.equal(50, #got)
    assert.is_true(biggest > 1, "every poll returned a single record")
    assert.are.equal("k1", got[1].key)
    assert.are.equal("value 50", got[50].value)
  end)

  it("a new group starts at the earliest record even when produced after it opened", function()
    produce(1, "existing")           -- the topic exists
    local cg = open()
    produce(2, "after-open")         -- produced before the group's first poll
    local got = support.consume(cg, 3)
    assert.are.equal(3, #got)
    assert.are.same({ "existing1", "after-open1", "after-open2" }, { got[1].key, got[2].key, got[3].key })
  end)

  it("a group opened before its topic exists receives the records produced once it does", function()
    local cg = open()
    local first = cg:poll_fetches(0.5)   -- may report the missing topic through each_error
    assert.is_true(first:is_empty())
    produce(2, "late")
    local got = support.consume(cg, 2)
    assert.are.equal(2, #got, "records produced after the group subscribed to a missing topic never arrived")
    assert.are.equal("late1", got[1].key)
  end)

  it("builds records through the FFI under LuaJIT unless told not to", function()
    -- the iterator is the copy's: the binding's is a C closure, the FFI's a Lua function
    local next_record = debug.getinfo(assert(open():poll_fetches(0)):iter())
    if os.getenv("FLUXAKAFKA_NO_FFI") then
      assert.are.equal("C", next_record.what)
    else
      assert.are.equal("Lua", next_record.what)
    end
  end)

  it("returns empty fetches when nothing arrives within the timeout", function()
    local cg = open()
    local started = support.now()
    local fetches = cg:poll_fetches(0.5)
    assert.is_true(fetches:is_empty())
    assert.are.same({}, fetches:records())
    assert.is_true(support.now() - started < 5)
    assert.are.equal(0, #fetches:records())
    local n = 0
    fetches:each_record(function() n = n + 1 end)
    for _ in fetches:iter() do n = n + 1 end
    assert.are.equal(0, n)
    -- the default timeout (1 s) is bounded too
    started = support.now()
    assert.is_true(cg:poll_fetches():is_empty())
    assert.is_true(support.now() - started < 5)
  end)

  it("hands out records with every field filled in", function()
    local at = os.time() * 1000 - 5000
    assert(pool:produce_sync(
      { topic = topic, key = "with-headers", value = "v", headers = { { key = "h1", value = "x" }, { key = "h1", value = "y" } } },
      { topic = topic, value = "keyless", timestamp = at }))
    local got = support.consume(open(), 2)
    assert.are.equal(2, #got)
    assert.are.equal(topic, got[1].topic)
    assert.are.equal("with-headers", got[1].key)
    assert.are.same({ { key = "h1", value = "x" }, { key = "h1", value = "y" } }, got[1].headers)
    assert.are.equal(0, got[1].partition)
    assert.is_true(got[1].offset >= 0)
    assert.are.equal(got[1].offset + 1, got[2].offset)
    assert.is_nil(got[2].key)
    assert.are.equal(at, got[2].timestamp)
  end)

  it("hands out a null value as nil and an empty one as \"\", through records, iter and each_record", function()
    assert(pool:produce_sync(
      { topic = topic, key = "null" },
      { topic = topic, key = "empty", value = "" },
      { topic = topic, key = "null, null header", headers = { { key = "h" } } },
      { topic = topic, value = fk.null }))
    local cg = open()
    local fetches, deadline = nil, os.time() + 30
    repeat fetches = cg:poll_fetches(1) until fetches:count() == 4 or os.time() > deadline
    assert.are.equal(4, fetches:count())
    local via_iter, via_each = {}, {}
    for rec in fetches:iter() do via_iter[#via_iter + 1] = rec end
    fetches:each_record(function(rec) via_each[#via_each + 1] = rec end)
    for _, list in ipairs({ fetches:records(), via_iter, via_each }) do
      assert.are.same({ "null", "empty", "null, null header" }, { list[1].key, list[2].key, list[3].key })
      assert.is_nil(list[1].value)
      assert.are.equal("", list[2].value)
      assert.is_nil(list[3].value)
      assert.are.same({ { key = "h" } }, list[3].headers)
      assert.is_nil(list[4].key)
      assert.is_nil(list[4].value)
      assert.are.equal(list[3].offset + 1, list[4].offset)
    end
  end)

  -- Records without headers are recognised from the bytes around their value instead of
  -- librdkafka's header parser (csrc/fk_fetch.c): every value-length class of the record
  -- format's varint, every codec, headers next to records without them, and null values (no
  -- value bytes to look around: length -1 on the wire) must still come out exactly as sent.
  it("hands out headers exactly, whatever the value length, the codec or the neighbouring records", function()
    local codecs = { "none", "gzip", "snappy", "lz4", "zstd" }
    local lengths = { 0, 1, 63, 64, 100, 8191, 8192, 70000 }
    local r = fk.new_registry()
    local topics = {}
    for _, codec in ipairs(codecs) do
      r:register_kafka(support.brokers, codec, { compression = codec })
      topics[#topics + 1] = support.unique("hdr-" .. codec)
    end
    local g = support.unique("hdr-group")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(g, "none"):topics(unpack(topics)))
    local e = assert(r:validate())
    local sent = {}
    for c, codec in ipairs(codecs) do
      local batch = {}
      for i, len in ipairs(lengths) do
        local value = ("\0"):rep(len)
        batch[#batch + 1] = { topic = topics[c], key = codec .. " bare " .. len, value = value }
        batch[#batch + 1] = { topic = topics[c], key = codec .. " headers " .. len, value = value,
          headers = { { key = "empty", value = "" }, { key = "n" .. i, value = "\0" .. len } } }
        batch[#batch + 1] = { topic = topics[c], key = codec .. " null " .. len }
        batch[#batch + 1] = { topic = topics[c], key = codec .. " null, headers " .. len,
          headers = { { key = "null" }, { key = "\0n" .. i, value = "" } } }
      end
      batch[#batch + 1] = { topic = topics[c], key = codec .. " last, no headers", value = "x" }
      assert(e:kafka(codec):produce_sync(unpack(batch)))
      for _, rec in ipairs(batch) do sent[rec.key] = rec end
    end
    local cg = assert(e:kafka("none"):consumer_group(g))
    local ok, err = pcall(function()
      local want = 0
      for _ in pairs(sent) do want = want + 1 end
      local got = support.consume(cg, want, 60)
      assert.are.equal(want, #got)
      for _, rec in ipairs(got) do
        local expected = assert(sent[rec.key], "a record nobody sent: " .. tostring(rec.key))
        if expected.value then
          assert.are.equal(#expected.value, #rec.value, rec.key)
        else
          assert.is_nil(rec.value, rec.key)
        end
        assert.are.same(expected.headers, rec.headers, rec.key)
      end
    end)
    cg:close()
    e:close()
    assert(ok, err)
  end)

  it("each_record, iter and records agree; each_error is callable", function()
    produce(5)
    local cg = open()
    local fetches
    local deadline = os.time() + 30
    repeat fetches = cg:poll_fetches(1) until fetches:count() == 5 or os.time() > deadline
    local via_each, via_iter = {}, {}
    fetches:each_record(function(r) via_each[#via_each + 1] = r.key end)
    for r in fetches:iter() do via_iter[#via_iter + 1] = r.key end
    local via_records = {}
    for _, r in ipairs(fetches:records()) do via_records[#via_records + 1] = r.key end
    assert.are.same(via_records, via_each)
    assert.are.same(via_records, via_iter)
    local errors = 0
    fetches:each_error(function() errors = errors + 1 end)
    assert.are.equal(0, errors)
  end)

  it("commit_uncommitted_offsets: a new client continues after the committed records", function()
    produce(5, "first")
    local cg = open()
    assert.are.equal(5, #support.consume(cg, 5))
    local raised, msg = pcall(cg.commit_uncommitted_offsets, cg, -1)
    assert.is_false(raised)
    assert.matches("commit_uncommitted_offsets: expected a non-negative number of seconds", msg, 1, true)
    assert.is_true(cg:commit_uncommitted_offsets(5))   -- a bound, in seconds
    assert.is_true(cg:commit_uncommitted_offsets())
    cg:close()
    produce(3, "second")
    local again = open()
    local got = support.consume(again, 3)
    assert.are.equal(3, #got)
    assert.are.equal("second1", got[1].key)
    assert.are.same({}, support.drain(again, 1))
  end)

  it("without a commit (manual mode) a new client reads the same records again", function()
    produce(4)
    local cg = open()
    assert.are.equal(4, #support.consume(cg, 4))
    cg:close()
    local again = open()
    local got = support.consume(again, 4)
    assert.are.equal(4, #got)
    assert.are.equal("k1", got[1].key)
  end)

  it("with auto_commit_interval, handed-out records are committed without asking", function()
    produce(4)
    local cg = open(group .. "-auto")
    assert.are.equal(4, #support.consume(cg, 4))
    support.drain(cg, 1.5)           -- keep polling past several commit intervals
    cg:close()
    produce(1, "later")
    local again = open(group .. "-auto")
    local got = support.consume(again, 1)
    assert.are.equal("later1", got[1].key)
    assert.are.same({}, support.drain(again, 1))
  end)
end)
