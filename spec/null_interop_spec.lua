-- Null values, null header values and NUL bytes in headers, against other clients both ways:
-- kcat (its -Z and -H name without a value write nulls, -J shows them) and Kafka's Java client
-- (spec/java/FkNullInterop.java, compiled at test time with the broker's own kafka-clients jar).
-- kcat keeps header names as C strings, so header keys with a NUL byte are checked with Java only.
local support = require "spec.support"
local dkjson = require "dkjson"

local BROKERS = table.concat(support.brokers, ",")
local NULL = setmetatable({}, { __tostring = function() return "NULL" end })

local function has(command)
  return os.execute("command -v " .. command .. " >/dev/null 2>&1") == 0
end

-- output of a shell command (stderr dropped) and whether it exited 0
-- (the other clients are not fluxakafka: they run without make test-asan's preloaded sanitizer)
local function capture(command)
  local quoted = "'" .. command:gsub("'", "'\\''") .. "'"
  local p = assert(io.popen("env -u LD_PRELOAD -u ASAN_OPTIONS sh -c " .. quoted .. " 2>/dev/null; echo \"EXIT:$?\""))
  local out = p:read("*a")
  p:close()
  return (out:gsub("EXIT:%d+%s*$", "")), out:match("EXIT:0%s*$") ~= nil
end

local function hex(s)
  if s == nil then return "NULL" end
  return "x" .. s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

-- a record of pool:read in the Java program's line form
local function java_line(rec)
  local line = ("%d key=%s value=%s"):format(rec.offset, hex(rec.key), hex(rec.value))
  for _, h in ipairs(rec.headers or {}) do line = line .. (" header=%s:%s"):format(hex(h.key), hex(h.value)) end
  return line
end

local function new_topic(prefix)
  local topic = support.unique(prefix)
  support.create_topic(topic, 1)
  return topic
end

describe("null values and null headers with kcat", function()
  local engine, pool
  before_each(function() engine, pool = support.engine() end)
  after_each(function() engine:close() end)

  it("kcat's nulls read as nil, its empty values as \"\"", function()
    if not has("kcat") then pending("kcat is not installed (make deps-bench installs it)") return end
    local topic = new_topic("kcat-null-in")
    local _, ok = capture(("printf 'k1:\\n' | kcat -P -b %s -t %s -p 0 -K: -Z -H n -H a=x"):format(BROKERS, topic))
    assert.is_true(ok, "kcat -P -Z failed")
    _, ok = capture(("printf 'k2:\\n' | kcat -P -b %s -t %s -p 0 -K:"):format(BROKERS, topic))
    assert.is_true(ok, "kcat -P failed")
    local recs = assert(pool:read(topic, 0, "beginning", { count = 2, timeout = 10 }))
    assert.are.equal(2, #recs)
    assert.are.equal("k1", recs[1].key)
    assert.is_nil(recs[1].value)
    assert.are.same({ { key = "n" }, { key = "a", value = "x" } }, recs[1].headers)
    assert.is_nil(recs[1].headers[1].value)
    assert.are.equal("k2", recs[2].key)
    assert.are.equal("", recs[2].value)
  end)

  it("kcat reads fluxakafka's nulls as null, an empty value as \"\", NUL bytes in header values", function()
    if not has("kcat") then pending("kcat is not installed (make deps-bench installs it)") return end
    local topic = new_topic("kcat-null-out")
    assert(pool:produce_sync(
      { topic = topic, partition = 0, key = "k1", headers = { { key = "n" }, { key = "a", value = "x\0y" } } },
      { topic = topic, partition = 0, key = "k2", value = require("fluxakafka").null },
      { topic = topic, partition = 0, value = "" }))
    local out, ok = capture(("kcat -C -b %s -t %s -p 0 -o beginning -c 3 -e -J"):format(BROKERS, topic))
    assert.is_true(ok, "kcat -C failed")
    local recs = {}
    for line in out:gmatch("[^\n]+") do recs[#recs + 1] = assert(dkjson.decode(line, 1, NULL)) end
    assert.are.equal(3, #recs)
    assert.are.equal("k1", recs[1].key)
    assert.are.equal(NULL, recs[1].payload)
    assert.are.same({ "n", NULL, "a", "x\0y" }, recs[1].headers)
    assert.are.equal(NULL, recs[2].payload)
    assert.are.equal(NULL, recs[3].key)
    assert.are.equal("", recs[3].payload)
  end)
end)

-- The directory of the Kafka jars (FK_KAFKA_CACHE or .cache, as scripts/kafka.sh keeps them),
-- fetched by scripts/kafka.sh when missing; nil when there are none.
local function kafka_libs()
  local version = os.getenv("FK_KAFKA_VERSION") or "3.9.1"
  local root = assert(io.popen("pwd")):read("*l")
  local libs = ("%s/kafka-%s/libs"):format(os.getenv("FK_KAFKA_CACHE") or (root .. "/.cache"), version)
  local function present() return support.exists(("%s/kafka-clients-%s.jar"):format(libs, version)) end
  if not present() then capture("bash scripts/kafka.sh fetch " .. version) end
  return present() and libs or nil
end

-- Compiles spec/java/FkNullInterop.java into a temporary directory; the java command line to
-- run it, or nil, why.
local function java_program()
  if not has("javac") or not has("java") then return nil, "javac / java are not installed" end
  local libs = kafka_libs()
  if not libs then return nil, "no kafka-clients jar (scripts/kafka.sh fetch failed)" end
  local dir = assert(io.popen("mktemp -d")):read("*l")
  local _, ok = capture(("javac -d %s -cp '%s/*' spec/java/FkNullInterop.java"):format(dir, libs))
  if not ok then return nil, "javac failed" end
  return ("java -cp '%s:%s/*' FkNullInterop %s"):format(dir, libs, BROKERS), dir
end

describe("null values, null headers and NUL bytes with the Java client", function()
  local engine, pool, java, dir
  setup(function()
    java, dir = java_program()
  end)
  teardown(function()
    if java then os.execute("rm -rf " .. dir) end
  end)
  before_each(function() engine, pool = support.engine() end)
  after_each(function() engine:close() end)

  it("Java reads what fluxakafka writes, byte for byte", function()
    if not java then pending(dir) return end
    local topic = new_topic("java-null-out")
    assert(pool:produce_sync(
      { topic = topic, partition = 0, key = "k1", headers = { { key = "n" }, { key = "a\0b", value = "x\0y" } } },
      { topic = topic, partition = 0, value = "" }))
    local out, ok = capture(("%s consume %s 2"):format(java, topic))
    assert.is_true(ok, "the Java consumer failed")
    assert.are.equal(table.concat({
      "0 key=" .. hex("k1") .. " value=NULL header=" .. hex("n") .. ":NULL header=" .. hex("a\0b") .. ":" .. hex("x\0y"),
      "1 key=NULL value=x",
    }, "\n") .. "\n", out)
  end)

  it("fluxakafka reads what Java writes: nil for nulls, NUL bytes kept", function()
    if not java then pending(dir) return end
    local topic = new_topic("java-null-in")
    local _, ok = capture(("%s produce %s"):format(java, topic))
    assert.is_true(ok, "the Java producer failed")
    local recs = assert(pool:read(topic, 0, "beginning", { count = 2, timeout = 10 }))
    assert.are.equal(2, #recs)
    assert.is_nil(recs[1].value)
    assert.are.same({ { key = "n" }, { key = "a\0b", value = "x\0y" } }, recs[1].headers)
    assert.is_nil(recs[2].key)
    assert.are.equal("", recs[2].value)
    -- and the same lines as the Java consumer prints for them
    local out = capture(("%s consume %s 2"):format(java, topic))
    assert.are.equal(java_line(recs[1]) .. "\n" .. java_line(recs[2]) .. "\n", out)
  end)
end)
