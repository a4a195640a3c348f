--- Async SQL flush over Kafka, wire-compatible with FluxaORM's FlushAsync and
-- GetAsyncSQLConsumer: ctx:flush_async(ops) and ctx:get_async_sql_consumer(options).
-- The msgpack codec is in C (csrc/fk_async_sql.c); this file holds the Lua-level contract:
-- typed parameter helpers, the consume loop, dead-lettering and the rewind after a
-- transient failure. See the README's "Async SQL flush" section.
local M = {}

local wait = require "fluxakafka.await"

local has_ffi, ffi = pcall(require, "ffi")
if has_ffi then
  pcall(ffi.cdef, [[
    long long strtoll(const char *s, char **end, int base);
    unsigned long long strtoull(const char *s, char **end, int base);
  ]])
end

local tostring, type, error, pcall, setmetatable = tostring, type, error, pcall, setmetatable
local unpack = unpack or table.unpack

local PRODUCE_CHUNK = 1000   -- records per produce_sync call (keeps unpack within Lua's limits)

-- The calls that wait for a broker, through fluxakafka.await (yielding inside nginx).
function M.open_group(core, engine, group, topic, session_timeout)
  local mode = wait.mode("get_async_sql_consumer", "wait for the brokers")
  return wait.job(mode, core._async_sql_open_start(engine, group, topic, session_timeout, mode == "yield"))
end

-- offsets: { {topic=, partition=, offset=}, ... }, committed exactly
function M.commit_offsets(core, cg, offsets)
  return wait.await("consume", "wait for the broker", core._consumer_commit_start, cg, offsets)
end

-- offsets: { {topic=, partition=, offset=}, ... }. Where waiting blocks, one seek of them all
-- that waits at most 10 ms for librdkafka's fetcher; where it yields (nginx), a seek job per
-- partition.
function M.seek_offsets(core, cg, offsets)
  local mode = wait.mode("consume", "wait for the broker")
  if mode == "block" then return core._consumer_seek(cg, offsets, 10) end
  for _, p in ipairs(offsets) do
    local ok, err, code = wait.job(mode, cg:_request_start("seek", p.topic, p.partition, p.offset))
    if not ok then return nil, err, code end
  end
  return true
end

function M.install(fk, core, Context)
  local null = core.null

  -- A time parameter: fields `time` (unix seconds, a number) and `rfc3339` (the exact UTC text).
  local SqlTime = { __name = "fluxakafka.sql_time" }
  SqlTime.__index = SqlTime
  function SqlTime.__tostring(t) return t.rfc3339 end
  function SqlTime.__eq(a, b) return a.rfc3339 == b.rfc3339 end
  function SqlTime.__lt(a, b) return a.time < b.time or (a.time == b.time and a.rfc3339 < b.rfc3339) end

  local function make_time(text, sec, nsec)
    return setmetatable({ time = sec + nsec / 1e9, rfc3339 = text }, SqlTime)
  end

  --- fk.sql_time(unix_seconds | "RFC 3339 text") -> a time parameter. Numbers keep
  -- microseconds (what a double holds for today's dates); text keeps nanoseconds. The wire
  -- carries whole seconds, as FluxaORM writes a time.Time (see the README).
  function fk.sql_time(value)
    if type(value) ~= "number" and type(value) ~= "string" then
      error("sql_time: argument #1 must be unix seconds or an RFC 3339 string, got " .. type(value), 2)
    end
    return make_time(core._sql_time(value))
  end
  fk.SqlTime = SqlTime

  local function typed(fn, t)
    return function(value)
      if type(value) == "cdata" then
        value = tostring(value):gsub("U?LL$", "")
      elseif type(value) ~= "number" and type(value) ~= "string" then
        error(fn .. ": argument #1 must be a number, a decimal string or int64/uint64 cdata, got " .. type(value), 2)
      end
      -- the text Go's strconv writes for the same value (FluxaORM's form): "7", "0.1", "1e+21"
      local text, err = core._sql_typed(t, value)
      if not text then error(fn .. ": " .. err, 2) end
      return { t = t, v = text }
    end
  end
  --- Typed parameters for values a Lua number cannot hold or says differently:
  -- fk.sql_int("9223372036854775807"), fk.sql_uint(x), fk.sql_float(3).
  fk.sql_int = typed("sql_int", "i")
  fk.sql_uint = typed("sql_uint", "u")
  fk.sql_float = typed("sql_float", "f")

  -- int64_t / uint64_t cdata -> wire type and decimal text, for the C encoder.
  local function normalize(value)
    if has_ffi then
      if ffi.istype("uint64_t", value) then return "u", (tostring(value):gsub("ULL$", "")) end
      if ffi.istype("int64_t", value) then return "i", (tostring(value):gsub("LL$", "")) end
    end
    return nil, "unsupported cdata " .. tostring(value) .. " (only int64_t and uint64_t)"
  end

  -- Integers beyond 2^53: int64_t / uint64_t cdata under LuaJIT, else the typed {t=, v=} form.
  local bigint
  if has_ffi then
    local C = ffi.C
    bigint = function(t, text)
      if t == "u" then return C.strtoull(text, nil, 10) end
      return C.strtoll(text, nil, 10)
    end
  else
    bigint = function(t, text) return { t = t, v = text } end
  end

  local encode, decode = core._async_sql_encode, core._async_sql_decode

  --- fk.encode_async_sql(ops [, topic]) -> records {topic=, key=, value=} (one per pool and
  -- table); fk.decode_async_sql(value) -> op | nil, err, "_BAD_MSG". For tools and tests.
  function fk.encode_async_sql(ops, topic)
    if type(ops) ~= "table" then error("encode_async_sql: argument #1 'ops' must be an array of operations", 2) end
    return encode(ops, topic or fk.ASYNC_SQL_TOPIC_NAME, normalize, "encode_async_sql")
  end
  function fk.decode_async_sql(value)
    if type(value) ~= "string" then error("decode_async_sql: argument #1 must be a string, got " .. type(value), 2) end
    return decode(value, bigint, make_time)
  end

  local function engine_pool(ctx, fn)
    local code = core._async_flush_pool(ctx.engine, fn)
    if not code then
      error(fn .. ": async flush is not registered (call registry:register_async_flush(pool, options) first)", 3)
    end
    return ctx.engine:kafka(code)
  end

  local function check_options(fn, options, known)
    if options == nil then return {} end
    if type(options) ~= "table" then error(fn .. ": argument 'options' must be a table or nil", 3) end
    for k, v in pairs(options) do
      if not known[k] then error(fn .. ": unknown option '" .. tostring(k) .. "'", 3) end
      if known[k] == "string" and (type(v) ~= "string" or v == "") then
        error(fn .. ": option '" .. k .. "' must be a non-empty string", 3)
      end
      if known[k] == "number" and (type(v) ~= "number" or v <= 0) then
        error(fn .. ": option '" .. k .. "' must be a positive number of seconds", 3)
      end
    end
    return options
  end

  --- Produces the operations (see the README) to the async SQL topic: one record per
  -- (pool, table), keyed by the table name, msgpack as FluxaORM writes it, and waits until
  -- every record is acknowledged. Returns true, or nil, err, code. Bad input raises.
  function Context:flush_async(ops, options)
    if type(ops) ~= "table" then error("flush_async: argument #1 'ops' must be an array of operations", 2) end
    options = check_options("flush_async", options, { topic = "string" })
    local pool = engine_pool(self, "flush_async")
    local records = encode(ops, options.topic or fk.ASYNC_SQL_TOPIC_NAME, normalize)
    for first = 1, #records, PRODUCE_CHUNK do
      local last = math.min(first + PRODUCE_CHUNK - 1, #records)
      local ok, err, code = pool:produce_sync(unpack(records, first, last))
      if not ok then
        if first > 1 then err = err .. (" (records 1..%d of %d were delivered)"):format(first - 1, #records) end
        return nil, "flush_async: " .. err, code
      end
    end
    return true
  end

  local Consumer = { __name = "fluxakafka.async_sql_consumer" }
  Consumer.__index = Consumer
  M.Consumer = Consumer

  --- A consumer in FluxaORM's group (fk.ASYNC_SQL_CONSUMER_GROUP_NAME) on the async SQL topic.
  -- options: group (another group name), topic, dead_letter_topic, session_timeout (seconds).
  -- Returns it, or nil, err, code.
  function Context:get_async_sql_consumer(options)
    options = check_options("get_async_sql_consumer", options,
      { group = "string", topic = "string", dead_letter_topic = "string", session_timeout = "number" })
    local pool = engine_pool(self, "get_async_sql_consumer")
    local c = setmetatable({
      engine = self.engine, pool = pool,
      group = options.group or fk.ASYNC_SQL_CONSUMER_GROUP_NAME,
      topic = options.topic or fk.ASYNC_SQL_TOPIC_NAME,
      dead_letter_topic = options.dead_letter_topic or fk.ASYNC_SQL_DEAD_LETTER_TOPIC_NAME,
      session_timeout = options.session_timeout,
    }, Consumer)
    local cg, err, code = c:_group()
    if not cg then return nil, err, code end
    return c
  end

  -- The consumer group client, opened again after a rewind that could not seek.
  function Consumer:_group()
    if self.closed then error("consume: the async SQL consumer is closed", 3) end
    if not self.cg then
      local cg, err, code = M.open_group(core, self.engine, self.group, self.topic, self.session_timeout)
      if not cg then return nil, err, code end
      self.cg = cg
    end
    return self.cg
  end

  function Consumer:get_name() return self.group end
  --- The underlying consumer group (assignment, lag, ... of the core API).
  function Consumer:get_consumer_group() return self:_group() end

  -- Sends a record to the dead-letter topic with the same key and value and header `error`;
  -- a null value stays a null (as FluxaORM copies it), never an empty one.
  function Consumer:_dead_letter(rec, message)
    local ok, err, code = self.pool:produce_sync({
      topic = self.dead_letter_topic, key = rec.key, value = rec.value,
      headers = { { key = "error", value = tostring(message) } },
    })
    if ok then return true end
    return nil, ("dead-lettering the record at %s [%d] offset %d failed: %s"):format(
      rec.topic, rec.partition, rec.offset, err), code
  end

  -- The positions after records[first..last] (each partition's offset after its last one
  -- there, or with `at_first` its first one): { {topic=, partition=, offset=}, ... }.
  local function positions(records, first, last, at_first)
    local list, by_topic = {}, {}
    for i = first, last do
      local rec = records[i]
      local parts = by_topic[rec.topic]
      if not parts then
        parts = {}
        by_topic[rec.topic] = parts
      end
      local entry = parts[rec.partition]
      if not entry then
        entry = { topic = rec.topic, partition = rec.partition, offset = rec.offset }
        parts[rec.partition] = entry
        list[#list + 1] = entry
      end
      if not at_first then entry.offset = rec.offset + 1 end
    end
    return list
  end

  -- After a failure at records[failed]: commits what was handled before it, and moves every
  -- partition with unhandled records back to its first unhandled one, so that the next
  -- consume delivers them again. When seeking fails, the group is closed and reopened: it
  -- then starts from the committed offsets, which exclude the unhandled records.
  function Consumer:_rewind(records, failed)
    local cg = self.cg
    local commit_err, commit_code
    local handled = positions(records, 1, failed - 1)
    if #handled > 0 then
      local ok, err, code = M.commit_offsets(core, cg, handled)
      if not ok then commit_err, commit_code = err, code end
    end
    local ok = M.seek_offsets(core, cg, positions(records, failed, #records, true))
    if not ok or commit_err then
      -- without a seek (or with a failed commit, where the group's offsets are unknown to us)
      -- only reopening is safe: the committed offsets never include unhandled records
      cg:close()
      self.cg = nil
    end
    return commit_err, commit_code
  end

  -- nil, err, code of the partition error a poll left (see consume), forgetting it
  function Consumer:_fetch_failure()
    local e = self.fetch_error
    self.fetch_error = nil
    return nil, e[1], e[2]
  end

  --- Polls once (up to block_time seconds, at most count records) and hands each record's
  -- decoded operation to handler(op, record), in order. The handler returns true, or
  -- nil, err, "permanent" (the record goes to the dead-letter topic) or nil, err, "transient"
  -- (the batch stops; this record and the rest are delivered again by the next consume).
  -- Returns the number of records handled, or nil, err, code ("transient" for the
  -- handler's transient failures, a Kafka error name otherwise: a failed commit, the group's
  -- errors that poll_fetches returns, a partition's fetch error). A handler that raises
  -- stops the batch like a transient failure, then the error is raised again.
  function Consumer:consume(count, block_time, handler)
    if count ~= nil and (type(count) ~= "number" or count < 1 or count ~= math.floor(count)) then
      error("consume: argument #1 'count' must be a positive integer", 2)
    end
    if block_time ~= nil and (type(block_time) ~= "number" or block_time < 0) then
      error("consume: argument #2 'block_time' must be a non-negative number of seconds", 2)
    end
    if type(handler) ~= "function" then
      error("consume: argument #3 'handler' must be a function(op, record)", 2)
    end
    local cg, err, code = self:_group()
    if not cg then return nil, err, code end
    if self.fetch_error then return self:_fetch_failure() end
    local fetches
    fetches, err, code = cg:poll_fetches(block_time or 1, count or 100)
    if not fetches then return nil, err, code end
    local records = fetches:records()
    -- a partition's error fails this call when the poll brought no record, else the next one
    -- (records are handled first: their positions moved on)
    if fetches:error_count() > 0 then
      fetches:each_error(function(topic, partition, msg, ecode)
        self.fetch_error = self.fetch_error or { ("consume: %s [%d]: %s"):format(topic, partition, msg), ecode }
      end)
    end
    if #records == 0 and self.fetch_error then return self:_fetch_failure() end
    for i = 1, #records do
      local rec = records[i]
      local op, derr
      if rec.value == nil then
        derr = "async SQL record cannot be decoded: the value is null (a tombstone)"
      else
        op, derr = decode(rec.value, bigint, make_time)
      end
      local ok, herr, kind
      if not op then
        ok, herr, kind = self:_dead_letter(rec, derr)
      else
        local called, r1, r2, r3 = pcall(handler, op, rec)
        if not called then
          self:_rewind(records, i)
          error(r1, 0)
        end
        if r1 then
          ok = true
        elseif r3 == "permanent" then
          ok, herr, kind = self:_dead_letter(rec, r2 or "permanent failure")
        else
          -- "transient", or no kind given: never lose a record, deliver it again
          herr, kind = r2 or "the handler returned " .. tostring(r1), "transient"
        end
      end
      if not ok then
        local cerr = self:_rewind(records, i)
        if cerr then herr = herr .. " (and committing the records before it failed: " .. cerr .. ")" end
        return nil, herr, kind
      end
    end
    if #records > 0 then
      local ok, cerr, ccode = M.commit_offsets(core, cg, positions(records, 1, #records))
      if not ok then return nil, cerr, ccode end
    end
    return #records
  end

  --- Leaves the group. Closing twice is harmless.
  function Consumer:close()
    if self.cg then self.cg:close() end
    self.cg = nil
    self.closed = true
  end

  function Consumer:__tostring()
    return ("fluxakafka.async_sql_consumer(%s on %s)%s"):format(self.group, self.topic, self.closed and " (closed)" or "")
  end
end

return M
