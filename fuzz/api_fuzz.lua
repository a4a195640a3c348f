--- A random misuse fuzzer over the public Lua API of fluxakafka, reproducible from its seed
-- (as far as the live broker answers the same way: whether a poll returns records, say,
-- decides which objects exist later on).
--
--   luajit fuzz/api_fuzz.lua --seed 7 --calls 500        one seed, a fixed number of calls
--   luajit fuzz/api_fuzz.lua --seconds 300               seeds 1, 2, ... until time is up
--   options: --brokers 127.0.0.1:9092 (a live broker for the pools that must work),
--            --verbose (print every call), FLUXAKAFKA_NO_FFI=1 for the C API paths
--
-- Each step calls a method of a random object with random arguments (wrong types, nil,
-- NaN/inf, huge strings, objects of another kind as self), closes or drops objects, runs the
-- collector and takes back objects that a weak-keyed table still holds after their
-- finalizer ran, calls finalizers directly, and passes callbacks that close the pool or the
-- engine, produce again, collect garbage or raise. The process must survive all of it (an
-- AddressSanitizer build checks memory), and every error raised must be a Lua error whose
-- message names the function. At the end the script returns normally, so lua_close runs the
-- finalizers of whatever is left, in whatever order.
--
-- Nothing here creates topics on the broker except the run's own unique topic (records only
-- go to it or to names the library refuses locally); pools that are meant to fail point at
-- 127.0.0.1:1, where nothing listens. The last line is
--   api_fuzz: seed S: N calls, E errors raised, V violations
-- and the exit status is 0 only when no violation was seen.
local fk = require "fluxakafka"
local core = fk._private.core

local opts = { seed = nil, calls = 400, seconds = nil, brokers = os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092" }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--seed" then opts.seed = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--calls" then opts.calls = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--seconds" then opts.seconds = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--brokers" then opts.brokers = arg[i + 1]; i = i + 1
    elseif a == "--verbose" then opts.verbose = true
    else io.stderr:write("api_fuzz: unknown argument ", a, "\n"); os.exit(2) end
    i = i + 1
  end
end

-- (--seconds is counted with os.time: a second's precision is plenty)
local function own_pid()
  local f = io.open("/proc/self/stat")
  local pid = f and f:read("*a"):match("^(%d+)") or "0"
  if f then f:close() end
  return tonumber(pid)
end

-- ---------------------------------------------------------------- random numbers ----
-- Park-Miller: exact in doubles, the same sequence on every Lua.
local state = 1
local function reseed(s) state = s % 2147483646 + 1 end
local function rand(n)
  state = (state * 16807) % 2147483647
  return state % n + 1
end
local function pick(t) return t[rand(#t)] end
local function chance(per_mille) return rand(1000) <= per_mille end

-- ---------------------------------------------------------------- the run's names ----
local run_id = ("%d-%07d"):format(os.time(), own_pid())
local TOPIC = "api-fuzz-" .. run_id                 -- the only topic records may reach
local GROUP = "api-fuzz-group-" .. run_id
local DEAD = "127.0.0.1:1"                          -- nothing listens there
local live_brokers = {}
for b in opts.brokers:gmatch("[^,]+") do live_brokers[#live_brokers + 1] = b end

local HUGE = string.rep("x", 1024 * 1024)
local strings = { "", "events", "dead", TOPIC, GROUP, "x", HUGE, "a\0b", "bad topic!", "..",
                  string.rep("t", 250), "delete", "snappy", "PLAIN", "-1", "1e400", "%s%s%n" }
-- names a record may carry besides TOPIC: each is refused before anything is sent
local bad_topics = { "", "bad topic!", "..", string.rep("t", 250), HUGE, "a\0b", 5 }
local numbers = { 0, 1, -1, 0.001, 0.01, 0.5, 3, 2 ^ 31, 2 ^ 53, -2 ^ 63, 1e308, -1e308,
                  0 / 0, 1 / 0, -1 / 0, 1e-300 }
local broker_lists = { { DEAD }, live_brokers, {}, { DEAD, DEAD } }

-- ---------------------------------------------------------------- the objects ----
-- kind -> methods table (the C methods and those the Lua part adds)
local kinds = {
  registry = core.registry_methods,
  group_builder = core.consumer_group_builder_methods,
  topic_builder = core.topic_builder_methods,
  engine = core.engine_methods,
  pool = core.pool_methods,
  consumer_group = core.consumer_group_methods,
  fetches = core.fetches_methods,
  batch = core.batch_methods,
  context = fk.Context,
  alter = fk._private.Alter,
}
local method_names = {}
local all_names = { __gc = true, __tostring = true, get_kafka_alters = true, new_registry = true,
                    new_kafka_consumer_group = true, new_kafka_topic = true, iter = true }
for kind, methods in pairs(kinds) do
  local names = {}
  for name, v in pairs(methods) do
    if type(v) == "function" and name ~= "__index" then names[#names + 1] = name; all_names[name] = true end
  end
  table.sort(names)
  method_names[kind] = names
end
local kind_list = {}
for kind in pairs(kinds) do kind_list[#kind_list + 1] = kind end
table.sort(kind_list)

local metatable_kinds = {
  ["fluxakafka.registry"] = "registry", ["fluxakafka.consumer_group_builder"] = "group_builder",
  ["fluxakafka.topic_builder"] = "topic_builder", ["fluxakafka.engine"] = "engine",
  ["fluxakafka.pool"] = "pool", ["fluxakafka.consumer_group"] = "consumer_group",
  ["fluxakafka.fetches"] = "fetches", ["fluxakafka.produce_batch"] = "batch",
}

local function kind_of(v)
  local t = type(v)
  if t == "function" then return "iterator" end
  if t ~= "userdata" and t ~= "table" then return nil end
  local mt = getmetatable(v)
  if mt == nil then return nil end
  if mt == fk.Context then return "context" end
  if mt == fk._private.Alter then return "alter" end
  return type(mt) == "table" and metatable_kinds[rawget(mt, "__name")] or nil
end

local live = {}        -- array of { kind =, obj =, resurrected = bool }
local MAX_LIVE = 48
local graveyard = setmetatable({}, { __mode = "k" })   -- dropped objects -> drop number
local drops = 0
local consumer_groups = 0

local function add(obj, resurrected)
  local kind = kind_of(obj)
  if not kind then return end
  for _, e in ipairs(live) do if rawequal(e.obj, obj) then return end end
  if kind == "consumer_group" then consumer_groups = consumer_groups + 1 end
  live[#live + 1] = { kind = kind, obj = obj, resurrected = resurrected }
end

local function drop(i)
  local e = table.remove(live, i)
  if e.kind == "consumer_group" then consumer_groups = consumer_groups - 1 end
  drops = drops + 1
  graveyard[e.obj] = drops
end

-- ---------------------------------------------------------------- the checks ----
local stats = { calls = 0, errors = 0, violations = 0 }
local violations = {}

local function violation(what)
  stats.violations = stats.violations + 1
  if #violations < 20 then violations[#violations + 1] = what end
  io.stderr:write("api_fuzz: VIOLATION: ", what, "\n")
end

local CALLBACK_ERROR = "api_fuzz callback raised on purpose"

-- An error must be a string naming a function of the API ("fn: ..."), or come from a
-- callback of ours.
local function check_error(label, fname, err)
  stats.errors = stats.errors + 1
  if type(err) ~= "string" then
    return violation(("%s raised a %s, not a message"):format(label, type(err)))
  end
  if err:find(CALLBACK_ERROR, 1, true) then return end
  local msg = err:gsub("^[^\n]-:%d+: ", "")
  local named = msg:match("^([%w_]+):")
  if msg:find(fname, 1, true) or (named and all_names[named]) then return end
  violation(("%s raised an error that names no function: %s"):format(label, msg:sub(1, 200)))
end

-- ---------------------------------------------------------------- values ----
local depth = 0   -- callbacks nest: keep it bounded

local function any_object()
  if #live == 0 then return nil end
  return pick(live).obj
end

local make_callback

local function record()
  local r = { topic = chance(850) and TOPIC or pick(bad_topics), value = chance(900) and "v" or pick({ 1, {}, false, HUGE }) }
  if chance(200) then r.key = pick({ "k", "", 5, HUGE }) end
  if chance(150) then r.partition = pick({ 0, -1, 0.5, 2 ^ 31, 0 / 0, 1 / 0, "0" }) end
  if chance(150) then r.timestamp = pick({ 1732406400000, -1, 0 / 0, 1 / 0, "now" }) end
  if chance(150) then r.headers = pick({ {}, { { key = "h", value = "v" } }, { { key = 1 } }, "h", { 5 } }) end
  return r
end

local function value()
  local r = rand(20)
  if r <= 2 then return nil
  elseif r == 3 then return chance(500)
  elseif r <= 6 then return pick(numbers)
  elseif r <= 9 then return pick(strings)
  elseif r <= 11 then return record()
  elseif r == 12 then
    local t = {}
    t.self = t
    t[1] = t
    return t
  elseif r == 13 then return pick(broker_lists)
  elseif r == 14 then return pick({ {}, { delivery_timeout = 0.2, connect_timeout = 0.2 }, { bogus = 1 },
                                    { required_acks = 7 }, { sasl = "x" }, { tls = 5 }, { producer_linger = 0 / 0 } })
  elseif r == 15 then return make_callback()
  elseif r == 16 then return { dead = { kafka = { brokers = { DEAD }, consumerGroups = { { name = GROUP, topics = { TOPIC } } } } } }
  else return any_object() end
end

-- timeouts are kept short so that no call blocks the run
local TIMED = { poll = true, flush = true, close = true, poll_fetches = true, _poll = true }
local function arguments(fname)
  local n, args = rand(4) - 1, {}
  for i = 1, n do
    local v = value()
    if TIMED[fname] and type(v) == "number" and v > 0.05 then v = 0.01 end
    args[i] = v
  end
  return args, n
end

-- A callback that does something re-entrant with a random object, then maybe raises.
function make_callback()
  local action = rand(9)
  local target = any_object()
  return function(...)
    if depth > 3 then return end
    depth = depth + 1
    local ok, err = pcall(function(...)
      local kind = kind_of(target)
      if action == 1 and (kind == "pool" or kind == "engine" or kind == "consumer_group") then
        target:close(0)
      elseif action == 2 and kind == "pool" then
        target:produce({ topic = TOPIC, value = "again" }, chance(500) and make_callback() or nil)
      elseif action == 3 then
        collectgarbage("collect")
      elseif action == 4 and kind == "pool" then
        target:poll(0)
      elseif action == 5 and kind == "pool" then
        target:flush(0)
      elseif action == 6 then
        error(CALLBACK_ERROR)
      elseif action == 7 and kind then
        tostring(target)
      elseif action == 8 and type(target) == "userdata" and getmetatable(target).__gc then
        getmetatable(target).__gc(target)   -- a finalizer by hand, in the middle of a call
      end
      return ...
    end, ...)
    depth = depth - 1
    if not ok and err and not tostring(err):find(CALLBACK_ERROR, 1, true) then
      check_error("callback", "callback", err)
    end
    if action == 6 then error(CALLBACK_ERROR) end
  end
end

-- ---------------------------------------------------------------- fixtures ----
-- Under librdkafka < 2.3.0 the fuzzer's group uses the eager assignors. Those versions abort the
-- process (an assertion in rd_kafka_sticky_assignor_state_destroy, librdkafka issue 4312) when a
-- cooperative-sticky member is destroyed between two answers of the group protocol;
-- fluxakafka's close waits that window out (csrc/fk_consumer_close.c), but the fuzzer's
-- hundreds of random opens, drops and collections still met it about once in 16 runs. This
-- file checks fluxakafka's API under misuse, not librdkafka's assignor: the cooperative close
-- is covered by spec/group_protocol_spec.lua and spec/join_close_child.lua.
local function group_strategy()
  local major, minor = fk.librdkafka_version():match("^(%d+)%.(%d+)")
  if tonumber(major) * 100 + tonumber(minor) < 203 then
    return { ["partition.assignment.strategy"] = "range,roundrobin" }
  end
  return {}
end

local function fixture()
  local r = fk.new_registry()
  add(r)
  local ok, err = pcall(function()
    r:register_kafka(live_brokers, "events", { delivery_timeout = 2, connect_timeout = 2 })
    r:register_kafka({ DEAD }, "dead", { delivery_timeout = 0.2, connect_timeout = 0.2 })
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(GROUP, "events"):topics(TOPIC)
      :session_timeout(6):auto_commit_interval(0):rdkafka(group_strategy()))
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(GROUP, "dead"):topics(TOPIC))
    r:register_kafka_topic(fk.new_kafka_topic(TOPIC, "dead"):partitions(1))
    local engine = assert(r:validate())
    add(engine)
    add(engine:kafka("events"))
    add(engine:kafka("dead"))
    add(engine:new_context())
  end)
  if not ok then violation("fixture failed: " .. tostring(err)) end
  add(fk.new_kafka_consumer_group(GROUP, "events"))
  add(fk.new_kafka_topic(TOPIC, "events"))
end

-- ---------------------------------------------------------------- steps ----
local function describe(v)
  local k = kind_of(v)
  if k then return k end
  if type(v) == "string" then return ("string(%d)"):format(#v) end
  return type(v) == "number" and tostring(v) or type(v)
end

local function call(label, fname, f, ...)
  stats.calls = stats.calls + 1
  if opts.verbose then
    local d = {}
    for i = 1, select("#", ...) do d[i] = describe((select(i, ...))) end
    io.stderr:write(("api_fuzz: #%d %s(%s)\n"):format(stats.calls, label, table.concat(d, ", ")))
  end
  local started = opts.verbose and os.time()
  local res = { pcall(f, ...) }
  if opts.verbose and os.time() - started >= 2 then
    io.stderr:write(("api_fuzz: #%d %s took %d s\n"):format(stats.calls, label, os.time() - started))
  end
  if not res[1] then
    check_error(label, fname, res[2])
    return
  end
  for i = 2, #res do add(res[i]) end
  -- alters come as a list
  if type(res[2]) == "table" and kind_of(res[2]) == nil then
    for _, v in ipairs(res[2]) do if kind_of(v) == "alter" then add(v) end end
  end
end

local function step()
  local r = rand(100)
  if r <= 62 and #live > 0 then
    -- a method of some kind on a random object: mostly its own kind, sometimes another's;
    -- kinds are drawn evenly, then an object of the kind
    local present, seen = {}, {}
    for _, x in ipairs(live) do
      if not seen[x.kind] then seen[x.kind] = true; present[#present + 1] = x.kind end
    end
    local of_kind, want = {}, pick(present)
    for _, x in ipairs(live) do if x.kind == want then of_kind[#of_kind + 1] = x end end
    local e = pick(of_kind)
    local kind = e.kind == "iterator" and pick(kind_list) or e.kind
    if chance(150) then kind = pick(kind_list) end
    local fname = pick(method_names[kind])
    local f = kinds[kind][fname]
    if fname == "exec" and kind == "alter" then
      -- only alters of the unreachable pool may run: an alter of the live broker could
      -- change topics other people use
      if not (type(e.obj) == "table" and e.obj.pool == "dead") then return end
    end
    if fname == "consumer_group" or fname == "must_consumer_group" then
      if consumer_groups >= 4 then return end
    end
    local args, n = arguments(fname)
    call(kind .. ":" .. fname, fname, f, e.obj, unpack(args, 1, n))
  elseif r <= 67 and #live > 0 then
    local e = pick(live)
    if e.kind == "iterator" then
      call("iterator()", "iter", e.obj)
    else
      call("tostring", "__tostring", tostring, e.obj)
    end
  elseif r <= 70 and #live > 0 then
    -- a finalizer called directly, then the object kept in use
    local e = pick(live)
    local mt = type(e.obj) == "userdata" and getmetatable(e.obj)
    if mt and mt.__gc then call(e.kind .. ".__gc", "__gc", mt.__gc, e.obj) end
  elseif r <= 74 then
    local which = rand(4)
    local args, n = arguments("new")
    if which == 1 then call("new_registry", "new_registry", fk.new_registry)
    elseif which == 2 then call("new_kafka_consumer_group", "new_kafka_consumer_group", fk.new_kafka_consumer_group, unpack(args, 1, n))
    elseif which == 3 then call("new_kafka_topic", "new_kafka_topic", fk.new_kafka_topic, unpack(args, 1, n))
    else call("get_kafka_alters", "get_kafka_alters", fk.get_kafka_alters, unpack(args, 1, n)) end
  elseif r <= 82 and #live > 0 then
    drop(rand(#live))
  elseif r <= 86 then
    collectgarbage("collect")
    if chance(500) then collectgarbage("step") end
  elseif r <= 92 then
    -- take back what a weak-keyed table still holds after collection
    -- (in drop order: the table's own order depends on addresses, the run must not)
    local back = {}
    for obj, n in pairs(graveyard) do back[#back + 1] = { n = n, obj = obj } end
    table.sort(back, function(a, b) return a.n < b.n end)
    for _, b in ipairs(back) do
      if #live >= MAX_LIVE then break end
      add(b.obj, true)
    end
    back = nil
  elseif r <= 93 then
    fixture()
  elseif r <= 97 and consumer_groups < 4 then
    -- a consumer group of the registered name, so that groups, fetches and their
    -- iterators get fuzzed too
    for _, e in ipairs(live) do
      if e.kind == "pool" then
        call("pool:consumer_group", "consumer_group", e.obj.consumer_group, e.obj, GROUP)
        break
      end
    end
  elseif #live > 0 then
    -- a record produced with a re-entrant callback on a random pool
    for _, e in ipairs(live) do
      if e.kind == "pool" then
        call("pool:produce", "produce", e.obj.produce, e.obj, record(), make_callback())
        break
      end
    end
  end
  while #live > MAX_LIVE do drop(rand(#live)) end
  while consumer_groups > 4 do
    for i, e in ipairs(live) do
      if e.kind == "consumer_group" then
        pcall(e.obj.close, e.obj)
        drop(i)
        break
      end
    end
  end
end

local function run_seed(seed, calls, deadline)
  reseed(seed)
  fixture()
  local start, errors, violations_before = stats.calls, stats.errors, stats.violations
  while stats.calls - start < calls and (not deadline or os.time() < deadline) do step() end
  print(("api_fuzz: seed %d: %d calls, %d errors raised, %d violations"):format(
    seed, stats.calls - start, stats.errors - errors, stats.violations - violations_before))
  -- what is left is dropped: the next seed's collections (or lua_close) finalize it
  while #live > 0 do drop(#live) end
end

if opts.seconds then
  local deadline, seed = os.time() + opts.seconds, opts.seed or 1
  while os.time() < deadline do
    run_seed(seed, opts.calls, deadline)
    seed = seed + 1
  end
else
  run_seed(opts.seed or 1, opts.calls)
end

for _, v in ipairs(violations) do print("api_fuzz: violation: " .. v) end
print(("api_fuzz: total: %d calls, %d errors raised, %d violations"):format(stats.calls, stats.errors, stats.violations))
if stats.violations > 0 then os.exit(1) end
