-- Async SQL flush against the real broker: the codec (Lua <-> Lua, Lua <-> Go with the
-- msgpack library FluxaORM uses), keys on franz-go's partitions, the consume loop
-- (dead letters, transient failures, crashes) and FluxaORM's consumer group name.
local support = require "spec.support"
local fk = require "fluxakafka"

local unique = support.unique

local function sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1; echo \"exit=$?\""))
  local out = f:read("*a")
  f:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return status == 0, out:gsub("exit=%d+%s*$", "")
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function unhex(s) return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)) end

-- The canonical dump of spec/go/async_sql_interop.go, written from Lua tables (decoded
-- operations as well as the tables given to flush_async).
local function num(x)
  if type(x) == "cdata" then return "num:" .. tostring(x):gsub("U?LL$", "") end
  if x == math.floor(x) and math.abs(x) < 1e15 then return ("num:%.0f"):format(x) end
  return ("num:%.17g"):format(x)
end

local function value_dump(v)
  if v == nil or v == fk.null then return "null" end
  if type(v) == "string" then return "str:" .. hex(v) end
  if type(v) == "boolean" then return v and "bool:1" or "bool:0" end
  if type(v) == "number" or type(v) == "cdata" then return num(v) end
  if type(v) == "table" and v.rfc3339 then return "time:" .. v.rfc3339 end
  if type(v) == "table" and v.t then
    if v.n then return "null" end
    if v.t == "s" then return "str:" .. hex(v.v) end
    if v.t == "b" then return "bool:" .. v.v end
    if v.t == "t" then return "time:" .. v.v end
    return num(tonumber(v.v) and #v.v < 16 and tonumber(v.v) or
      (v.t == "u" and require("ffi").C.strtoull(v.v, nil, 10) or require("ffi").C.strtoll(v.v, nil, 10)))
  end
  error("cannot dump " .. tostring(v))
end

local function length(t) return t.n or table.maxn(t) end

local function dump(op)
  local out = { "pool=" .. hex(op.pool) }
  for _, q in ipairs(op.queries) do
    local line = "q=" .. hex(q.q)
    for i = 1, length(q.p or {}) do line = line .. " " .. value_dump(q.p[i]) end
    out[#out + 1] = line
  end
  if op.events == nil then out[#out + 1] = "events=nil" end
  for _, e in ipairs(op.events or {}) do
    local line = ("event ci=%s id=%s ft=%s"):format(num(e.ci or 0), num(e.id or 0), num(e.ft))
    local cols = {}
    for c in pairs(e.ch or {}) do cols[#cols + 1] = c end
    table.sort(cols)
    for _, c in ipairs(cols) do line = line .. " " .. hex(c) .. "=" .. value_dump(e.ch[c]) end
    out[#out + 1] = line
  end
  if op.redis == nil then out[#out + 1] = "redis=nil" end
  for _, r in ipairs(op.redis or {}) do
    local line = ("redis p=%s c=%s"):format(hex(r.p), hex(r.c))
    for i = 1, length(r.a or {}) do line = line .. " " .. value_dump(r.a[i]) end
    out[#out + 1] = line
  end
  return table.concat(out, "|")
end

-- What the Lua side sends: every parameter type, values beyond 2^53, NULL in the middle
-- and at the end of a parameter list, events with and without changes, Redis commands.
local function lua_samples()
  return {
    { pool = "default", table = "users",
      queries = {
        { q = "INSERT INTO `users` (`ID`, `Name`, `Score`, `Flag`, `At`, `Note`) VALUES (?, ?, ?, ?, ?, ?)",
          p = { 18446744073709551615ULL, "Zoë \"q\"\n\0x", -2.5, false, fk.sql_time("2024-02-29T23:59:58Z"), nil, n = 6 } },
        { q = "UPDATE `users` SET `Big` = ?, `Neg` = ?, `Small` = ? WHERE `ID` = ?",
          p = { 9223372036854775807LL, fk.sql_int("-9223372036854775808"), 42, fk.sql_uint("7") } },
        { q = "UPDATE `users` SET `F` = ?, `T` = ?", p = { fk.sql_float(3), fk.sql_time(1700000000) } },
      },
      events = { { ci = 3, id = 9007199254740993ULL, ft = 2, ch = { Name = "ann", Note = fk.null, Score = 1.25 } },
                 { ci = 0, id = 7, ft = 3 } },
      redis = { { p = "default", c = "del", a = { "u:7", "" } } } },
    { pool = "logs", table = "audit", queries = { { q = "DELETE FROM `audit` WHERE `ID` = ?", p = { 1 } } } },
  }
end

local go = require "spec.go_build"
local function go_interop()
  return go.build("spec/go/async_sql_interop.go", { "github.com/shamaton/msgpack@v1.2.1", "github.com/twmb/franz-go/pkg/kgo@v1.22.3" })
end

local function run_go(args, input)
  local path = os.tmpname()
  write_file(path, input or "")
  local ok, out = sh(go_interop() .. " " .. args .. " < " .. path)
  os.remove(path)
  assert(ok, out)
  return out
end

local function lines(text)
  local t = {}
  for l in text:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local function go_it(name, fn)
  if go.available then it(name, fn) else pending(name .. " (needs go on PATH)") end
end

-- The Go program's cases (spec/go/async_sql_interop.go): FluxaORM-shaped operations, each
-- as Lua source of the operation a Lua user flushes (lua), Lua source of what decoding its
-- record hands over (expect), and FluxaORM's msgpack bytes (go). Seeded: the same every run.
local INTEROP_N, INTEROP_SEED = 500, 20240501
local ffi = require "ffi"
local float_bits = ffi.new("union { uint64_t u; double d; }")
local interop_env = {
  fk = fk, N = fk.null,
  I = function(text) return ffi.C.strtoll(text, nil, 10) end,
  U = function(text) return ffi.C.strtoull(text, nil, 10) end,
  F = function(bits)
    float_bits.u = ffi.C.strtoull(bits, nil, 16)
    return float_bits.d
  end,
  T = function(text, sec) return setmetatable({ rfc3339 = text, time = sec }, fk.SqlTime) end,
}

local function lua_value(src)
  local f = assert(loadstring("return " .. src))
  setfenv(f, interop_env)
  return f()
end

local loaded_cases = {}
local function go_cases(n, seed)
  local key = n .. "/" .. seed
  if loaded_cases[key] then return loaded_cases[key] end
  local list = {}
  for kind, text in run_go(("cases %d %d"):format(n, seed)):gmatch("([LEG]) ([^\n]*)") do
    if kind == "L" then list[#list + 1] = { lua = text } end
    list[#list][kind == "L" and "lua" or kind == "E" and "expect" or "go"] = text
  end
  for _, c in ipairs(list) do c.table = lua_value(c.lua).table end
  loaded_cases[key] = list
  return list
end

-- Compares a decoded operation with the expected one, strictly (types, cdata kinds, the
-- sign of zero, times' text and seconds, no extra fields). Returns true or false, why.
local function same(want, got, path)
  local function differ(what) return false, ("%s: %s"):format(path, what) end
  if type(want) ~= type(got) then
    return differ(("want %s %s, got %s %s"):format(type(want), tostring(want), type(got), tostring(got)))
  end
  if type(want) == "cdata" then
    if ffi.istype("uint64_t", want) ~= ffi.istype("uint64_t", got) or want ~= got then
      return differ(("want %s, got %s"):format(tostring(want), tostring(got)))
    end
  elseif type(want) == "table" then
    if getmetatable(want) ~= getmetatable(got) then return differ("not of the same metatable") end
    for k, v in pairs(want) do
      local ok, why = same(v, got[k], path .. "." .. tostring(k))
      if not ok then return false, why end
    end
    for k in pairs(got) do
      if want[k] == nil then return differ("unexpected field " .. tostring(k)) end
    end
  elseif want ~= got or (want == 0 and 1 / want ~= 1 / got) then
    return differ(("want %s, got %s"):format(tostring(want), tostring(got)))
  end
  return true
end

-- "byte-identical 512/512" and "decoded-equal 512/512" from the Go program's report.
local function go_counts(out)
  return out:match("byte%-identical (%d+/%d+)"), out:match("decoded%-equal (%d+/%d+)")
end

describe("async SQL codec", function()
  it("decodes what it encodes, one record per pool and table, keyed by table", function()
    local ops = lua_samples()
    -- two more operations for users: the same record, queries appended in order
    ops[3] = { pool = "default", table = "users", queries = { { q = "SELECT 3" } } }
    ops[4] = { pool = "other", table = "users", queries = { { q = "SELECT 4" } } }
    ops[5] = { pool = "default", queries = { { q = "SELECT 5" } }, events = {} }
    local records = fk.encode_async_sql(ops)
    assert.are.same({ "users", "audit", "users", "default" },
      { records[1].key, records[2].key, records[3].key, records[4].key })
    assert.are.equal(4, #records)
    local first = assert(fk.decode_async_sql(records[1].value))
    assert.are.equal(4, #first.queries)
    assert.are.equal("SELECT 3", first.queries[4].q)
    local expected = lua_samples()[1]
    expected.queries[4] = { q = "SELECT 3" }
    assert.are.equal(dump(expected), dump(first))
    assert.are.equal(dump(lua_samples()[2]), dump(assert(fk.decode_async_sql(records[2].value))))
    local last = assert(fk.decode_async_sql(records[4].value))
    assert.are.same({}, last.events)
    assert.is_nil(last.redis)
  end)

  it("gives integers beyond 2^53 as int64/uint64 cdata and smaller ones as numbers", function()
    local ffi = require "ffi"
    local op = assert(fk.decode_async_sql(fk.encode_async_sql(lua_samples())[1].value))
    local p = op.queries[2].p
    assert.is_true(ffi.istype("int64_t", p[1]))
    assert.are.equal("9223372036854775807LL", tostring(p[1]))
    assert.are.equal("-9223372036854775808LL", tostring(p[2]))
    assert.are.equal(42, p[3])
    assert.are.equal(7, p[4])
    assert.is_true(ffi.istype("uint64_t", op.queries[1].p[1]))
    assert.are.equal("9007199254740993ULL", tostring(op.events[1].id))
    assert.are.equal(fk.null, op.queries[1].p[6])
    assert.are.equal(6, #op.queries[1].p)
    assert.are.equal("2024-02-29T23:59:58Z", op.queries[1].p[5].rfc3339)
    assert.are.equal("2023-11-14T22:13:20Z", tostring(op.queries[3].p[2]))
    assert.are.equal(1700000000, op.queries[3].p[2].time)
    -- a time another writer sent with an offset arrives in UTC
    local offset = assert(fk.decode_async_sql("\x82\xa4pool\xa1d\xa7queries\x91\x82\xa1q\xa1x\xa1p\x91" ..
      "\x82\xa1t\xa1t\xa1v\xb92024-01-01T01:00:00+01:00"))
    assert.are.equal(fk.sql_time("2024-01-01T00:00:00Z"), offset.queries[1].p[1])
    assert.are.equal(1704067200, offset.queries[1].p[1].time)
  end)

  it("names the operation and the field of bad input", function()
    local function fails(ops, pattern)
      local ok, err = pcall(fk.encode_async_sql, ops)
      assert.is_false(ok)
      assert.matches(pattern, err, 1, true)
    end
    fails({ { pool = "d", queries = {} }, { pool = "d", queries = { { q = "x", p = { {} } } } } },
      "ops[2].queries[1].p[1]: a table parameter must be")
    fails({ { pool = "d", queries = { { q = "x", p = { print } } } } }, "ops[1].queries[1].p[1]: unsupported parameter type function")
    fails({ { pool = "d", queries = { { q = "x", p = { 0 / 0 } } } } }, "ops[1].queries[1].p[1]:")
    fails({ { pool = "d", queries = { { q = "x", p = { { t = "i", v = "1.5" } } } } } }, "ops[1].queries[1].p[1]: value '1.5' of type 'i' is not a decimal integer")
    fails({ { pool = "d", queries = { { q = "x", p = { { t = "u", v = "18446744073709551616" } } } } } }, "out of the uint64 range")
    fails({ { pool = "d", queries = { { q = "x", p = { { time = "yesterday" } } } } } }, "ops[1].queries[1].p[1]: 'yesterday' is not an RFC 3339 time")
    fails({ { pool = "d", queries = { { sql = "x" } } } }, "ops[1].queries[1]: unknown field 'sql'")
    fails({ { pool = "d", queries = { { q = 5 } } } }, "ops[1].queries[1]: field 'q' (the SQL text) must be a string")
    fails({ { table = "t", queries = {} } }, "ops[1]: field 'pool'")
    fails({ { pool = "d" } }, "ops[1]: field 'queries' is required")
    fails({ { pool = "d", queries = {}, events = { { ci = 1, id = -1, ft = 1 } } } }, "ops[1].events[1].id: expected an integer from 0 to 2^64-1, got -1")
    fails({ { pool = "d", queries = {}, events = { { ci = 1, id = 1, ft = 9 } } } }, "ops[1].events[1].ft: must be 1 (insert), 2 (update) or 3 (delete)")
    fails({ { pool = "d", queries = {}, events = { { ci = 1, id = 1, ft = 1, ch = { x = print } } } } }, "ops[1].events[1].ch.x: unsupported parameter type")
    fails({ { pool = "d", queries = {}, redis = { { p = "r", c = "set", a = { {} } } } } }, "ops[1].redis[1].a[1]: a Redis argument must be")
    fails({ { pool = "d", queries = {}, redis = { { c = "set" } } } }, "ops[1].redis[1]: field 'p' (the Redis pool) must be a string")
    assert.has_error(function() fk.sql_int("12a") end, "sql_int: value '12a' of type 'i' is not a decimal integer")
    assert.has_error(function() fk.sql_time({}) end, "sql_time: argument #1 must be unix seconds or an RFC 3339 string, got table")
  end)

  it("refuses values that are not its records, saying why", function()
    local function bad(value, pattern)
      local op, err, code = fk.decode_async_sql(value)
      assert.is_nil(op)
      assert.are.equal("_BAD_MSG", code)
      assert.matches(pattern, err, 1, true)
    end
    bad("", "the value is empty")
    bad("not msgpack at all", "async SQL record cannot be decoded")
    bad("\x81\xa4pool", "truncated")
    bad("\x92\x01\x02", "not a msgpack map")
    bad("\x81\xa7queries\x90", "the key 'pool' is missing")
    -- a parameter whose text does not fit its type
    bad("\x82\xa4pool\xa1d\xa7queries\x91\x82\xa1q\xa1x\xa1p\x91\x82\xa1t\xa1i\xa1v\xa3abc",
      "queries[1].p[1]: parameter value 'abc' of type 'i' is not a decimal integer")
  end)

  it("answers every corrupted record with an operation or _BAD_MSG", function()
    local value = fk.encode_async_sql(lua_samples())[1].value
    local decoded, refused = 0, 0
    local seed = 12345
    local function random(n)   -- a fixed sequence, the same on every run
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    for _ = 1, 3000 do
      local bytes = { value:byte(1, -1) }
      for _ = 1, random(4) do bytes[random(#bytes)] = random(256) - 1 end
      local cut = random(8) == 1 and random(#bytes) or #bytes
      local op, err, code = fk.decode_async_sql(string.char(unpack(bytes, 1, cut)))
      if op then
        assert.is_string(op.pool)
        decoded = decoded + 1
      else
        assert.are.equal("_BAD_MSG", code, err)
        refused = refused + 1
      end
    end
    assert.is_true(decoded > 0 and refused > 0, decoded .. " decoded, " .. refused .. " refused")
  end)

  -- Hand-made msgpack for what other writers may send: map{k, v, ...} keeps its order;
  -- strings under 256 bytes, small integers, booleans, NIL, raw(bytes) as they are.
  local NIL = {}
  local function map(kv) return { map = kv } end
  local function raw(bytes) return { raw = bytes } end
  local function mp(v)
    if v == NIL then return "\xc0" end
    if type(v) == "boolean" then return v and "\xc3" or "\xc2" end
    if type(v) == "string" then return (#v < 32 and string.char(0xa0 + #v) or "\xd9" .. string.char(#v)) .. v end
    if type(v) == "number" then
      if v >= 0 and v < 128 then return string.char(v) end
      if v < 0 and v >= -32 then return string.char(256 + v) end
      assert(v >= 0 and v < 65536)
      return "\xcd" .. string.char(math.floor(v / 256), v % 256)
    end
    if v.raw then return v.raw end
    local items, out = v.map or v, {}
    for i = 1, #items do out[i] = mp(items[i]) end
    local n = v.map and #items / 2 or #items
    return string.char((v.map and 0x80 or 0x90) + n) .. table.concat(out)
  end
  local function record(fields) return mp(map(fields)) end

  it("reads what a writer honouring omitempty leaves out, and the tagged keys FluxaORM writes", function()
    local op = assert(fk.decode_async_sql(record({ "pool", "d", "queries", {
        map({ "q", "x", "p", { map({ "t", "s" }), map({ "n", true }), map({ "t", "i", "v", "5" }) } }), map({ "q", "y" }) },
      "events", { map({ "id", 2, "ft", 3 }) }, "redis", { map({ "p", "r", "c", "del" }) } })))
    assert.are.same({ { q = "x", p = { "", fk.null, 5 } }, { q = "y", p = {} } }, op.queries)
    assert.are.same({ { ci = 0, id = 2, ft = 3 } }, op.events)
    assert.are.same({ { p = "r", c = "del" } }, op.redis)
    local tagged = fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { "a" } } },
      events = { { ci = 1, id = 2, ft = 1, ch = { a = 1 } } }, redis = { { p = "r", c = "del", a = { "k" } } } } })[1].value
    for _, key in ipairs({ "events,omitempty", "redis,omitempty", "n,omitempty", "t,omitempty", "v,omitempty",
      "ch,omitempty", "a,omitempty" }) do
      assert.truthy(tagged:find(mp(key), 1, true), key)
    end
    assert.are.same({ pool = "d", queries = { { q = "x", p = { "a" } } }, events = { { ci = 1, id = 2, ft = 1, ch = { a = 1 } } },
      redis = { { p = "r", c = "del", a = { "k" } } } }, assert(fk.decode_async_sql(tagged)))
    -- column names are kept whole, a ",omitempty" in them included
    local ch = assert(fk.decode_async_sql(fk.encode_async_sql({ { pool = "d", queries = {},
      events = { { ft = 2, ch = { ["x,omitempty"] = 1 } } } } })[1].value)).events[1].ch
    assert.are.same({ ["x,omitempty"] = 1 }, ch)
  end)

  it("takes FluxaORM's NULL form and writes NULL as FluxaORM does", function()
    local value = fk.encode_async_sql({ { pool = "d", queries = {
      { q = "x", p = { nil, fk.null, { n = true, t = "", v = "" }, { n = true }, { n = true, t = "s", v = "ignored" }, n = 5 } },
      { q = "y", p = { "a", { n = false, t = "s", v = "b" }, { t = "s" } } }, { q = "z" } } } })[1].value
    local null = mp(map({ "n,omitempty", true, "t,omitempty", "", "v,omitempty", "" }))
    local _, nulls = value:gsub(null:gsub("%p", "%%%0"), "")
    assert.are.equal(5, nulls)
    assert.truthy(value:find(mp(map({ "n,omitempty", false, "t,omitempty", "s", "v,omitempty", "b" })), 1, true))
    assert.truthy(value:find(mp("q") .. mp("z") .. mp("p") .. "\x90", 1, true), "no parameters: an empty array")
    local op = assert(fk.decode_async_sql(value))
    assert.are.same({ fk.null, fk.null, fk.null, fk.null, fk.null }, op.queries[1].p)
    assert.are.same({ "a", "b", "" }, op.queries[2].p)
    assert.has_error(function() fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { { n = 1 } } } } } }) end,
      "encode_async_sql: ops[1].queries[1].p[1]: field 'n' must be a boolean")
    assert.has_error(function() fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { { n = false, t = "" } } } } } }) end,
      "encode_async_sql: ops[1].queries[1].p[1]: field 't' must be one of \"s\", \"i\", \"u\", \"f\", \"b\", \"t\" (or n = true for NULL)")
    assert.has_error(function() fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { { t = "s", value = "x" } } } } } }) end,
      "encode_async_sql: ops[1].queries[1].p[1]: unknown field 'value' (known: n, t, v)")
  end)

  it("writes times as FluxaORM does: UTC, whole seconds, years beyond 0000-9999 included", function()
    local function wire(param)
      local value = fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { param } } } } })[1].value
      local at = select(2, value:find("v,omitempty", 1, true)) + 1   -- a fixstr follows
      return value:sub(at + 1, at + value:byte(at) - 0xa0)
    end
    local t = fk.sql_time("2024-05-01T14:00:00.75+02:00")
    assert.are.equal("2024-05-01T12:00:00.75Z", t.rfc3339)   -- the value keeps its fraction ...
    assert.are.equal(1714564800.75, t.time)
    assert.are.equal("2024-05-01T12:00:00Z", wire(t))          -- ... the wire has none, as Go's RFC3339
    assert.are.equal("1969-12-31T23:59:59Z", wire(fk.sql_time(-0.5)))
    assert.are.equal("2024-05-01T12:00:00Z", wire({ time = 1714564800.999 }))
    -- the typed form goes as given: the way to send a fraction FluxaORM's reader parses
    assert.are.equal("2024-05-01T12:00:00.25Z", wire({ t = "t", v = "2024-05-01T12:00:00.25Z" }))
    for text, sec in pairs({ ["10000-01-01T00:00:00Z"] = 253402300800, ["-0001-01-01T00:00:00Z"] = -62198755200,
      ["0000-02-29T00:00:00Z"] = -62162121600, ["99999-12-31T23:59:59Z"] = 3093527980799 }) do
      assert.are.equal(text, wire(fk.sql_time(text)))
      assert.are.equal(text, wire(fk.sql_time(sec)))
      local op = assert(fk.decode_async_sql(fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { { t = "t", v = text } } } } } })[1].value))
      assert.are.same(fk.sql_time(text), op.queries[1].p[1])
      assert.are.equal(sec, op.queries[1].p[1].time)
    end
    local fraction = assert(fk.decode_async_sql(fk.encode_async_sql({ { pool = "d", queries = { { q = "x",
      p = { { t = "t", v = "2024-05-01T12:00:00.25-01:00" } } } } } })[1].value)).queries[1].p[1]
    assert.are.equal("2024-05-01T13:00:00.25Z", fraction.rfc3339)
    assert.has_error(function() fk.sql_time("999-01-01T00:00:00Z") end, "sql_time: argument #1: '999-01-01T00:00:00Z' is not an RFC 3339 time")
    assert.has_error(function() fk.sql_time("2023-02-29T00:00:00Z") end, "sql_time: argument #1: '2023-02-29T00:00:00Z' is not an RFC 3339 time")
  end)

  it("writes typed numbers as Go's strconv does and reads FluxaORM's NaN and infinities", function()
    assert.are.same({ t = "f", v = "0.1" }, fk.sql_float(0.1))
    assert.are.same({ t = "f", v = "1.23456789e+08" }, fk.sql_float(123456789))
    assert.are.same({ t = "f", v = "1e-05" }, fk.sql_float(0.00001))
    assert.are.same({ t = "f", v = "0.0001" }, fk.sql_float(0.0001))
    assert.are.same({ t = "f", v = "1.5" }, fk.sql_float("1.50"))
    assert.are.same({ t = "f", v = "-0" }, fk.sql_float(-0.0))
    assert.are.same({ t = "i", v = "7" }, fk.sql_int("007"))
    assert.are.same({ t = "u", v = "18446744073709551615" }, fk.sql_uint(18446744073709551615ULL))
    assert.has_error(function() fk.sql_int(1.5) end, "sql_int: 1.5 does not fit int64")
    assert.has_error(function() fk.sql_uint(-1) end, "sql_uint: -1 does not fit uint64")
    assert.has_error(function() fk.sql_float(1 / 0) end, "sql_float: inf cannot be stored in SQL")
    local value = fk.encode_async_sql({ { pool = "d", queries = { { q = "x", p = { 0.1, 1e21, 5, 2 ^ 63,
      { t = "f", v = "NaN" }, { t = "f", v = "+Inf" }, { t = "f", v = "-Inf" } } } } } })[1].value
    for _, text in ipairs({ "0.1", "1e+21", "5", "9.223372036854776e+18" }) do assert.truthy(value:find(mp(text), 1, true), text) end
    local p = assert(fk.decode_async_sql(value)).queries[1].p
    assert.is_true(p[5] ~= p[5])
    assert.are.equal(math.huge, p[6])
    assert.are.equal(-math.huge, p[7])
  end)

  it("sends Redis arguments as the strings go-redis sends, refusing what has none", function()
    local function args(a)
      local op = assert(fk.decode_async_sql(fk.encode_async_sql({ { pool = "d", queries = {},
        redis = { { p = "r", c = "set", a = a } } } })[1].value))
      return op.redis[1].a
    end
    assert.are.same({ "k", "5", "-3", "0.5", "1000000000000000000000", "0.0000001", "1", "0", "9223372036854775807",
      "9223372036854776000", "+Inf", "-Inf", "18446744073709551615", "-5", "" },
      args({ "k", 5, -3, 0.5, 1e21, 1e-7, true, false, 9223372036854775807LL, 2 ^ 63, 1 / 0, -1 / 0,
        18446744073709551615ULL, -5LL, "" }))
    assert.are.same({}, args({}))
    assert.is_nil(args(nil))
    local function refused(a, why)
      assert.has_error(function() fk.encode_async_sql({ { pool = "d", queries = {}, redis = { { p = "r", c = "set", a = a } } } }) end,
        "encode_async_sql: ops[1].redis[1].a[2]: " .. why)
    end
    refused({ "k", fk.null }, "a Redis argument must be a string, a number, a boolean or int64/uint64 cdata, got null (FluxaORM's arguments are strings)")
    refused({ "k", nil, n = 2 }, "a Redis argument must be a string, a number, a boolean or int64/uint64 cdata, got null (FluxaORM's arguments are strings)")
    refused({ "k", {} }, "a Redis argument must be a string, a number, a boolean or int64/uint64 cdata, got table (FluxaORM's arguments are strings)")
    refused({ "k", 0 / 0 }, "NaN is no Redis argument")
    -- records of older fluxakafka versions carried msgpack numbers and booleans: read as text
    local old = assert(fk.decode_async_sql(record({ "pool", "d", "queries", {}, "redis", { map({ "p", "r", "c", "set",
      "a", { "k", 5, -3, true, raw("\xcb\x3f\xe0\0\0\0\0\0\0") } }) } })))
    assert.are.same({ "k", "5", "-3", "1", "0.5" }, old.redis[1].a)
    local _, err, code = fk.decode_async_sql(record({ "pool", "d", "queries", {}, "redis", { map({ "p", "r", "c", "set",
      "a", { "k", NIL } }) } }))
    assert.are.equal("_BAD_MSG", code)
    assert.matches("redis[1].a[2]: a Redis argument must be a string", err, 1, true)
  end)

  it("reads and writes cache indexes and ids up to 2^64-1, sending no changes as nil", function()
    local value = fk.encode_async_sql({ { pool = "d", queries = {}, events = {
      { ci = 18446744073709551615ULL, id = "9223372036854775808", ft = 2, ch = {} }, { ci = 2 ^ 53, id = 0, ft = 1 } } } })[1].value
    assert.truthy(value:find(mp("ci") .. "\xcf\xff\xff\xff\xff\xff\xff\xff\xff" .. mp("id") .. "\xcf\x80\0\0\0\0\0\0\0"
      .. mp("ft") .. "\x02" .. mp("ch,omitempty") .. "\xc0", 1, true))
    local events = assert(fk.decode_async_sql(value)).events
    assert.are.equal("18446744073709551615ULL", tostring(events[1].ci))
    assert.are.equal("9223372036854775808ULL", tostring(events[1].id))
    assert.is_nil(events[1].ch)
    assert.are.equal(2 ^ 53, events[2].ci)
    assert.has_error(function() fk.encode_async_sql({ { pool = "d", queries = {}, events = { { ci = -1, ft = 1 } } } }) end,
      "encode_async_sql: ops[1].events[1].ci: expected an integer from 0 to 2^64-1, got -1")
    local function event(fields) return record({ "pool", "d", "queries", {}, "events", { map(fields) } }) end
    assert.are.equal(255, assert(fk.decode_async_sql(event({ "ft", 255 }))).events[1].ft)
    local _, err = fk.decode_async_sql(event({ "ft", 256 }))
    assert.matches("events[1]: 'ft' must be an unsigned integer up to 255", err, 1, true)
    _, err = fk.decode_async_sql(event({ "ci", -1 }))
    assert.matches("events[1]: 'ci' must be an unsigned integer up to 18446744073709551615", err, 1, true)
  end)

  go_it("writes byte for byte what FluxaORM's writer makes of the same operations, read back by FluxaORM's types", function()
    local cases = go_cases(INTEROP_N, INTEROP_SEED)
    local values = {}
    for i, c in ipairs(cases) do
      local records = fk.encode_async_sql({ lua_value(c.lua) })
      assert.are.equal(1, #records)
      assert.are.equal(c.table, records[1].key)
      values[i] = hex(records[1].value)
    end
    local out = run_go(("check %d %d"):format(INTEROP_N, INTEROP_SEED), table.concat(values, "\n") .. "\n")
    local identical, equal = go_counts(out)
    print(("# Lua -> Go: %s of fluxakafka's encodings byte-identical to FluxaORM's msgpack.Marshal (map entries"
      .. " sorted), %s decoded by FluxaORM's types equal to its values"):format(identical, equal))
    local all = #cases .. "/" .. #cases
    assert.are.equal(all, identical, out)
    assert.are.equal(all, equal, out)
  end)

  go_it("decodes what FluxaORM's writer makes, value for value", function()
    local cases = go_cases(INTEROP_N, INTEROP_SEED)
    local equal, first = 0, nil
    for _, c in ipairs(cases) do
      local op, err = fk.decode_async_sql(unhex(c.go))
      local ok, why = false, err
      if op then ok, why = same(lua_value(c.expect), op, c.table) end
      if ok then equal = equal + 1 else first = first or why end
    end
    print(("# Go -> Lua: %d/%d of FluxaORM's records decoded value for value"):format(equal, #cases))
    assert.are.equal(#cases, equal, first)
  end)
end)

describe("async SQL flush and consume", function()
  local engine, ctx, pool, topic, dead, group
  local opened = {}
  local function consumer(options)
    local c = assert(ctx:get_async_sql_consumer(options or { group = group, topic = topic,
      dead_letter_topic = dead, session_timeout = 6 }))
    opened[#opened + 1] = c
    return c
  end

  before_each(function()
    topic, dead, group = unique("asql"), unique("asql-dead"), unique("asql-group")
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events")
    r:register_async_flush("events", { topic_partitions = 1 })
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group .. "-dead", "events"):topics(dead))
    engine = assert(r:validate())
    ctx = engine:new_context()
    pool = engine:kafka("events")
  end)
  after_each(function()
    for _, c in ipairs(opened) do c:close() end
    opened = {}
    engine:close()
  end)

  -- Consumes until `want` operations were handled (or 30 s passed); returns them.
  local function consume_all(c, want, handler)
    local got, deadline = {}, os.time() + 30
    while #got < want and os.time() <= deadline do
      assert(c:consume(100, 0.5, function(op, rec)
        got[#got + 1] = { op = op, rec = rec }
        if handler then return handler(op, rec) end
        return true
      end))
    end
    return got
  end

  it("delivers flushed operations to the handler as they were given", function()
    local ops = lua_samples()
    assert.is_true(ctx:flush_async(ops, { topic = topic }))
    local got = consume_all(consumer(), 2)
    assert.are.equal(2, #got)
    assert.are.equal("users", got[1].rec.key)
    assert.are.equal(topic, got[1].rec.topic)
    assert.are.equal(dump(ops[1]), dump(got[1].op))
    assert.are.equal(dump(ops[2]), dump(got[2].op))
    -- committed: the group's next client has nothing left to read
    opened[1]:close()
    local again = consumer()
    local seen = 0
    for _ = 1, 6 do
      assert(again:consume(100, 0.5, function() seen = seen + 1; return true end))
    end
    assert.are.equal(0, seen)
  end)

  -- FluxaORM's side through the broker: franz-go with FluxaORM's msgpack records, the same
  -- generator as the codec specs (another seed), one record per case keyed by its table.
  local BROKER_N, BROKER_SEED = 60, 7
  local function go_kafka(command, on_topic, extra)
    return run_go(("%s %s %s %d %d %s"):format(command, table.concat(support.brokers, ","), on_topic, BROKER_N,
      BROKER_SEED, extra or ""))
  end
  local function broker_cases()
    local list, by_key = {}, {}
    for i, c in ipairs(go_cases(BROKER_N, BROKER_SEED)) do
      if i > BROKER_N then break end
      list[i] = c
      by_key[c.table] = c
    end
    return list, by_key
  end
  -- How many of the records (decoded by the consumer) equal their case's expected values.
  local function equal_to_cases(got, by_key)
    local equal, first = 0, nil
    for _, g in ipairs(got) do
      local c = by_key[g.rec.key]
      local ok, why = false, "unknown key " .. tostring(g.rec.key)
      if c then ok, why = same(lua_value(c.expect), g.op, c.table) end
      if ok then equal = equal + 1 else first = first or why end
    end
    return equal, first
  end

  go_it("hands the records a FluxaORM service flushes to the handler value for value (franz-go -> Lua)", function()
    local _, by_key = broker_cases()
    assert.matches("produced " .. BROKER_N, go_kafka("produce", topic))
    local got = consume_all(consumer(), BROKER_N)
    local equal, first = equal_to_cases(got, by_key)
    print(("# franz-go -> broker -> get_async_sql_consumer: %d/%d records handled value for value"):format(equal, BROKER_N))
    assert.are.equal(BROKER_N, #got)
    assert.are.equal(BROKER_N, equal, first)
  end)

  go_it("flushes records a FluxaORM service reads value for value (flush_async -> franz-go)", function()
    local list = broker_cases()
    local ops = {}
    for i, c in ipairs(list) do ops[i] = lua_value(c.lua) end
    assert.is_true(ctx:flush_async(ops, { topic = topic }))
    local identical, equal = go_counts(go_kafka("consume", topic, BROKER_N))
    print(("# flush_async -> broker -> franz-go: %s byte-identical to FluxaORM's, %s decoded equal"):format(identical, equal))
    assert.are.equal(BROKER_N .. "/" .. BROKER_N, identical)
    assert.are.equal(BROKER_N .. "/" .. BROKER_N, equal)
  end)

  go_it("dead-letters records with events that FluxaORM reads back with their changes (Lua -> franz-go)", function()
    local ops, with_changes = {}, 0
    for _, c in ipairs(broker_cases()) do
      local op = lua_value(c.lua)
      if op.events then
        ops[#ops + 1] = op
        for _, e in ipairs(op.events) do
          if e.ch and next(e.ch) then with_changes = with_changes + 1 end
        end
      end
    end
    assert.is_true(#ops > 10 and with_changes > 10, #ops .. " operations, " .. with_changes .. " events with changes")
    assert.is_true(ctx:flush_async(ops, { topic = topic }))
    local got = consume_all(consumer(), #ops, function() return nil, "Error 1146: no such table", "permanent" end)
    assert.are.equal(#ops, #got)
    local out = go_kafka("consume", dead, #ops .. " dead")
    local identical, equal = go_counts(out)
    local all = #ops .. "/" .. #ops
    print(("# dead letters Lua -> franz-go: %s byte-identical, %s decoded equal (%d events with changes)"):format(
      identical, equal, with_changes))
    assert.matches("error-header " .. all, out, 1, true)
    assert.are.equal(all, identical, out)
    assert.are.equal(all, equal, out)
  end)

  go_it("reads FluxaORM's dead letters (franz-go -> Lua)", function()
    local _, by_key = broker_cases()
    assert.matches("produced " .. BROKER_N, go_kafka("produce", dead, "dead"))
    local cg = assert(pool:consumer_group(group .. "-dead"))
    finally(function() cg:close() end)
    local got, with_header = {}, 0
    for _, rec in ipairs(support.consume(cg, BROKER_N)) do
      got[#got + 1] = { rec = rec, op = assert(fk.decode_async_sql(rec.value)) }
      local h = rec.headers and rec.headers[1]
      if h and h.key == "error" and h.value:find(rec.key, 1, true) then with_header = with_header + 1 end
    end
    local equal, first = equal_to_cases(got, by_key)
    print(("# dead letters franz-go -> Lua: %d/%d decoded value for value"):format(equal, BROKER_N))
    assert.are.equal(BROKER_N, #got)
    assert.are.equal(BROKER_N, with_header)
    assert.are.equal(BROKER_N, equal, first)
  end)

  it("dead-letters undecodable records and permanent failures with the same key, value and an error header", function()
    assert(pool:produce_sync({ topic = topic, key = "poison", value = "\xc1 not msgpack" }))
    assert.is_true(ctx:flush_async({
      { pool = "default", table = "bad", queries = { { q = "INSERT INTO nowhere VALUES (1)" } } },
      { pool = "default", table = "good", queries = { { q = "SELECT 1" } } },
    }, { topic = topic }))
    local handled = {}
    local got = consume_all(consumer(), 2, function(op, rec)
      handled[#handled + 1] = rec.key
      if rec.key == "bad" then return nil, "Table 'nowhere' doesn't exist", "permanent" end
      return true
    end)
    assert.are.same({ "bad", "good" }, handled)
    assert.are.equal(2, #got)
    local cg = assert(pool:consumer_group(group .. "-dead"))
    finally(function() cg:close() end)
    local letters = support.consume(cg, 2)
    assert.are.equal(2, #letters)
    assert.are.equal("poison", letters[1].key)
    assert.are.equal("\xc1 not msgpack", letters[1].value)
    assert.are.equal("error", letters[1].headers[1].key)
    assert.matches("cannot be decoded", letters[1].headers[1].value, 1, true)
    assert.are.equal("bad", letters[2].key)
    assert.are.same(assert(fk.decode_async_sql(letters[2].value)).queries, { { q = "INSERT INTO nowhere VALUES (1)", p = {} } })
    assert.are.same({ { key = "error", value = "Table 'nowhere' doesn't exist" } }, letters[2].headers)
  end)

  it("dead-letters a null-valued record as a null (a tombstone), an empty one as empty", function()
    assert(pool:produce_sync({ topic = topic, key = "tombstone" }, { topic = topic, key = "empty", value = "" }))
    local handled = 0
    local c = consumer()
    local deadline = os.time() + 30
    local seen = 0
    repeat
      seen = seen + assert(c:consume(100, 0.5, function() handled = handled + 1; return true end))
    until seen == 2 or os.time() > deadline
    assert.are.equal(2, seen)
    assert.are.equal(0, handled)   -- neither decodes: the handler never sees them
    local cg = assert(pool:consumer_group(group .. "-dead"))
    finally(function() cg:close() end)
    local letters = support.consume(cg, 2)
    assert.are.equal(2, #letters)
    table.sort(letters, function(a, b) return a.offset < b.offset end)
    assert.are.equal("tombstone", letters[1].key)
    assert.is_nil(letters[1].value)
    assert.are.equal("error", letters[1].headers[1].key)
    assert.matches("the value is null", letters[1].headers[1].value, 1, true)
    assert.are.equal("empty", letters[2].key)
    assert.are.equal("", letters[2].value)
    assert.matches("the value is empty", letters[2].headers[1].value, 1, true)
  end)

  it("delivers a transiently failed record again, with the records after it, and commits those before it", function()
    local ops = {}
    for i = 1, 5 do ops[i] = { pool = "default", table = "t" .. i, queries = { { q = "SELECT " .. i } } } end
    assert.is_true(ctx:flush_async(ops, { topic = topic }))
    local c = consumer()
    local seen, failed_once = {}, false
    local deadline = os.time() + 30
    local result, err, kind
    -- up to the transient failure of t3 (the batch may arrive in pieces)
    repeat
      result, err, kind = c:consume(100, 0.5, function(_, rec)
        seen[#seen + 1] = rec.key
        if rec.key == "t3" and not failed_once then
          failed_once = true
          return nil, "deadlock found", "transient"
        end
        return true
      end)
    until result == nil or os.time() > deadline
    assert.is_nil(result)
    assert.are.equal("deadlock found", err)
    assert.are.equal("transient", kind)
    assert.are.same({ "t1", "t2", "t3" }, seen)
    -- the same client reads t3 again, then t4 and t5
    local rest = consume_all(c, 3)
    assert.are.same({ "t3", "t4", "t5" }, { rest[1].rec.key, rest[2].rec.key, rest[3].rec.key })
    -- and a handler that raises stops the batch the same way before the error propagates
    assert.is_true(ctx:flush_async({ { pool = "default", table = "t6", queries = { { q = "SELECT 6" } } } }, { topic = topic }))
    local raised
    deadline = os.time() + 30
    repeat
      local ok, e = pcall(c.consume, c, 100, 0.5, function() error("handler crashed") end)
      if not ok then raised = e end
    until raised or os.time() > deadline
    assert.matches("handler crashed", raised)
    local again = consume_all(c, 1)
    assert.are.equal("t6", again[1].rec.key)
  end)

  it("stops like a transient failure when a dead letter cannot be written, and reopens the group when it cannot seek", function()
    assert.is_true(ctx:flush_async({
      { pool = "default", table = "a", queries = { { q = "SELECT 1" } } },
      { pool = "default", table = "b", queries = { { q = "SELECT 2" } } },
    }, { topic = topic }))
    local c = consumer({ group = group, topic = topic, dead_letter_topic = "not a topic", session_timeout = 6 })
    local function permanent_b(_, rec)
      if rec.key == "b" then return nil, "no such table", "permanent" end
      return true
    end
    local result, err, code
    local deadline = os.time() + 30
    repeat result, err, code = c:consume(100, 0.5, permanent_b) until result == nil or os.time() > deadline
    assert.is_nil(result)
    assert.matches("dead-lettering the record at " .. topic .. " [0] offset 1 failed: produce to 'not a topic' failed", err, 1, true)
    assert.are.equal("INVALID_TOPIC_EXCEPTION", code)
    -- b comes again (a was committed); this time seeking back fails, so the group is reopened
    local core = fk._private.core
    local seek = core._consumer_seek
    core._consumer_seek = function() return nil, "seek refused", "_STATE" end
    finally(function() core._consumer_seek = seek end)
    local keys = {}
    deadline = os.time() + 30
    repeat
      result = c:consume(100, 0.5, function(_, rec)
        keys[#keys + 1] = rec.key
        return nil, "try later", "transient"
      end)
    until result == nil or os.time() > deadline
    assert.are.same({ "b" }, keys)
    core._consumer_seek = seek
    local got = consume_all(c, 1)
    assert.are.equal("b", got[1].rec.key)
  end)

  it("delivers again what a crashed process handled but did not commit", function()
    assert.is_true(ctx:flush_async({ { pool = "default", table = "crash", queries = { { q = "SELECT 1" } } } }, { topic = topic }))
    local script = os.tmpname()
    write_file(script, ([[
      local fk = require "fluxakafka"
      local r = fk.new_registry()
      r:register_kafka({ %q }, "events")
      r:register_async_flush("events")
      local engine = assert(r:validate())
      local c = assert(engine:new_context():get_async_sql_consumer({ group = %q, topic = %q, session_timeout = 6 }))
      local deadline = os.time() + 30
      while os.time() < deadline do
        c:consume(10, 0.5, function(op, rec)
          io.stdout:write("handled ", rec.key, "\n")
          io.stdout:flush()
          os.exit(3)   -- dies between handling and committing
        end)
      end
      os.exit(4)
    ]]):format(support.brokers[1], group, topic))
    local _, out = sh("luajit " .. script)
    os.remove(script)
    assert.matches("handled crash", out, 1, true)
    local got = consume_all(consumer(), 1)
    assert.are.equal("crash", got[1].rec.key)
  end)

  it("fails with nil, err, code when the topic cannot be written and raises on misuse", function()
    local ok, err, code = ctx:flush_async({ { pool = "d", queries = {} } }, { topic = "bad topic name" })
    assert.is_nil(ok)
    assert.matches("^flush_async: produce to 'bad topic name' failed", err)
    assert.are.equal("INVALID_TOPIC_EXCEPTION", code)
    assert.has_error(function() ctx:flush_async("x") end, "flush_async: argument #1 'ops' must be an array of operations")
    assert.has_error(function() ctx:flush_async({}, { topics = "x" }) end, "flush_async: unknown option 'topics'")
    assert.is_true(ctx:flush_async({}))
    local c = consumer()
    assert.has_error(function() c:consume(10, 0.1) end, "consume: argument #3 'handler' must be a function(op, record)")
    assert.has_error(function() c:consume(0, 0.1, print) end, "consume: argument #1 'count' must be a positive integer")
    c:close()
    c:close()
    assert.has_error(function() c:consume(1, 0, print) end, "consume: the async SQL consumer is closed")
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "plain")
    local e = assert(r:validate())
    finally(function() e:close() end)
    assert.has_error(function() e:new_context():flush_async({}) end,
      "flush_async: async flush is not registered (call registry:register_async_flush(pool, options) first)")
  end)

  it("uses FluxaORM's topic by default", function()
    local key = unique("default-topic")
    assert.is_true(ctx:flush_async({ { pool = "default", table = key, queries = { { q = "SELECT 1" } } } }))
    -- a group of its own on the shared topic: only this run's record is looked at
    local c = consumer({ group = unique("asql-default"), session_timeout = 6 })
    assert.are.equal(fk.ASYNC_SQL_TOPIC_NAME, c.topic)
    local found, deadline = nil, os.time() + 30
    while not found and os.time() <= deadline do
      assert(c:consume(1000, 0.5, function(op, rec)
        if rec.key == key then found = op end
        return true
      end))
    end
    assert.truthy(found)
    assert.are.equal("SELECT 1", found.queries[1].q)
  end)
end)

describe("async SQL keys and partitions", function()
  local engines = {}
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
  end)
  local function engine_with(options, setup)
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events", options)
    if setup then setup(r) end
    local e = assert(r:validate())
    engines[#engines + 1] = e
    return e
  end

  -- The partition each key's record landed on, as the broker acknowledged it.
  local function delivered_partitions(pool, topic, keys)
    local parts = {}
    for i, key in ipairs(keys) do
      pool:produce({ topic = topic, key = key, value = "v" }, function(rec, err)
        assert(not err, err)
        parts[i] = rec.partition
      end)
    end
    assert(pool:flush(30))
    return parts
  end

  go_it("puts keyed records on the partitions franz-go's default partitioner chooses (murmur2)", function()
    local topic = unique("asql-parts")
    local e = engine_with(nil, function(r) r:register_kafka_topic(fk.new_kafka_topic(topic, "events"):partitions(6)) end)
    local ctx = e:new_context()
    for _, a in ipairs(assert(fk.get_kafka_alters(ctx))) do
      if a.kind == "create_topic" and a.topic == topic then assert(a:exec(ctx)) end
    end
    local keys = {}
    for i = 1, 1000 do keys[i] = (i % 3 == 0 and "user:" or "table_") .. i .. (i % 7 == 0 and "\0\255" or "") end
    assert.are.equal("murmur2_random", e:kafka("events"):get_pool_options().partitioner)
    local ours = delivered_partitions(e:kafka("events"), topic, keys)
    local theirs = lines(run_go("partitions 6", table.concat(keys, "\n") .. "\n"))
    assert.are.equal(1000, #theirs)
    local used = {}
    for i = 1, 1000 do
      assert.are.equal(tonumber(theirs[i]), ours[i], "key " .. keys[i])
      used[ours[i]] = true
    end
    for p = 0, 5 do assert.is_true(used[p], "partition " .. p .. " unused") end

    -- another partitioner, by option, moves keys elsewhere
    local other = engine_with({ partitioner = "consistent" })
    assert.are.equal("consistent", other:kafka("events"):get_pool_options().partitioner)
    local moved = 0
    for i, p in ipairs(delivered_partitions(other:kafka("events"), topic, keys)) do
      if p ~= ours[i] then moved = moved + 1 end
    end
    assert.is_true(moved > 300, "only " .. moved .. " keys moved")
  end)

  it("accepts librdkafka's partitioner names as an option and a YAML key, and refuses others", function()
    for _, name in ipairs({ "random", "consistent", "consistent_random", "murmur2", "murmur2_random", "fnv1a", "fnv1a_random" }) do
      assert.are.equal(name, engine_with({ partitioner = name }):kafka("events"):get_pool_options().partitioner)
    end
    assert.has_error(function() engine_with({ partitioner = "crc" }) end,
      "register_kafka: option 'partitioner' must be one of random, consistent, consistent_random, murmur2, murmur2_random, fnv1a, fnv1a_random, got 'crc'")
    local r = fk.new_registry()
    assert(r:init_by_yaml("p:\n  kafka:\n    brokers: [\"127.0.0.1:9092\"]\n    partitioner: fnv1a\n"))
    local e = assert(r:validate())
    engines[#engines + 1] = e
    assert.are.equal("fnv1a", e:kafka("p"):get_pool_options().partitioner)
    local ok, err = fk.new_registry():init_by_yaml("p:\n  kafka:\n    brokers: [a]\n    partitioner: nope\n")
    assert.is_nil(ok)
    assert.matches("p.kafka.partitioner: unknown partitioner", err, 1, true)
  end)
end)

describe("async SQL consumer group", function()
  it("is FluxaORM's _fluxa_async_sql, never planned for deletion once register_async_flush was called", function()
    assert.are.equal("_fluxa_async_sql", fk.ASYNC_SQL_CONSUMER_GROUP_NAME)
    local function plan(with_async)
      local r = fk.new_registry()
      r:register_kafka(support.brokers, "events")
      if with_async then r:register_async_flush("events", { topic_partitions = 1 }) end
      local e = assert(r:validate())
      local alters = assert(fk.get_kafka_alters(e:new_context()))
      e:close()
      for _, a in ipairs(alters) do
        if a.kind == "delete_group" and a.group == fk.ASYNC_SQL_CONSUMER_GROUP_NAME then return true end
      end
      return false
    end
    local r = fk.new_registry()
    r:register_kafka(support.brokers, "events")
    r:register_async_flush("events", { topic_partitions = 1 })
    local engine = assert(r:validate())
    finally(function() engine:close() end)
    -- a member of the group, as a FluxaORM service's consumer would be
    local c = assert(engine:new_context():get_async_sql_consumer({ session_timeout = 6 }))
    finally(function() c:close() end)
    assert.are.equal(fk.ASYNC_SQL_CONSUMER_GROUP_NAME, c:get_name())
    assert.are.equal(fk.ASYNC_SQL_CONSUMER_GROUP_NAME, c:get_consumer_group():get_name())
    -- the group exists on the broker: a registry without async flush would delete it
    local deadline = os.time() + 30
    while not plan(false) and os.time() <= deadline do
      c:get_consumer_group():poll_fetches(0.2, 1)   -- joins; handles nothing, commits nothing
    end
    assert.is_true(plan(false), "the group never appeared on the broker")
    assert.is_false(plan(true))
    -- and pool:consumer_group knows the group too, as FluxaORM's ConsumerGroup does
    local cg = assert(engine:kafka("events"):consumer_group(fk.ASYNC_SQL_CONSUMER_GROUP_NAME))
    assert.are.same({ fk.ASYNC_SQL_TOPIC_NAME }, cg:get_settings().topics)
    cg:close()
  end)
end)
