--- How fetches copy records under LuaJIT: their tables are built in Lua through the FFI,
-- which the JIT compiles together with the caller's loop; the binding's copy serves plain
-- Lua 5.1.
-- The messages stay owned by the C core: each step checks the flag the core raises when the
-- consumer group is closed, so a released message is never read.
local ffi = require "ffi"

ffi.cdef [[
typedef struct fk_rd_kafka_message {
  int err;
  void *rkt;
  int32_t partition;
  void *payload;
  size_t len;
  void *key;
  size_t key_len;
  int64_t offset;
  void *_private;
} fk_rd_kafka_message;
const char *rd_kafka_topic_name(const void *rkt);
int64_t rd_kafka_message_timestamp(const fk_rd_kafka_message *m, void *tstype);
int rd_kafka_message_headers(const fk_rd_kafka_message *m, void **hdrsp);
size_t rd_kafka_header_cnt(const void *hdrs);
int rd_kafka_header_get_all(const void *hdrs, size_t idx, const char **namep, const void **valuep, size_t *sizep);
typedef struct fk_ffi_fetches_ud { int finalized; void *fetches; } fk_ffi_fetches_ud;
]]

local ok, rdkafka = pcall(ffi.load, "librdkafka.so.1")
if not ok then ok, rdkafka = pcall(ffi.load, "rdkafka") end
if not ok then return nil end

local M = {}

local message_array = ffi.typeof("fk_rd_kafka_message **")
local int_ptr = ffi.typeof("const int *")
local fetches_ud_ptr = ffi.typeof("const fk_ffi_fetches_ud *")
local headers_out = ffi.new("void *[1]")
local name_out = ffi.new("const char *[1]")
local value_out = ffi.new("const void *[1]")
local size_out = ffi.new("size_t[1]")
local ffi_string, tonumber, error = ffi.string, tonumber, error

local RELEASED = "these fetches belong to a closed consumer group; their records were released"
local COLLECTED = "the fetches are closed (they were garbage-collected)"

local has_no_headers   -- the core's fk_message_has_no_headers (see csrc/fk_fetch.c)
local header_key_len   -- the core's fk_header_key_len (see csrc/fk_headers.c)

-- Keys are byte strings (a NUL byte included); a null value is a header without `value`.
local function headers_of(m)
  if has_no_headers(m) ~= 0 then return nil end
  if rdkafka.rd_kafka_message_headers(m, headers_out) ~= 0 then return nil end
  local hdrs = headers_out[0]
  local n = tonumber(rdkafka.rd_kafka_header_cnt(hdrs))
  if n == 0 then return nil end
  local list = {}
  for h = 0, n - 1 do
    if rdkafka.rd_kafka_header_get_all(hdrs, h, name_out, value_out, size_out) == 0 then
      local name, value, size = name_out[0], value_out[0], size_out[0]
      list[#list + 1] = {
        key = ffi_string(name, header_key_len(name, value, size)),
        value = value ~= nil and ffi_string(value, size) or nil,
      }
    end
  end
  return list
end

-- Returns a function(i) building the table of message i (0-based), and the count. The
-- function keeps the fetches userdata reachable, so its memory (`ud`) stays valid; the
-- released flag lives in the core's fetches, which exist only while ud.fetches is set (a
-- weak table can hand back fetches whose finalizer ran).
local raw_of   -- the C method: checks that fetches are fetches, readable and not finalized

local function reader(fetches, fn)
  local raw, count, flag, self_ptr = raw_of(fetches, fn)
  local msgs = ffi.cast(message_array, raw)
  local released = ffi.cast(int_ptr, flag)
  local ud = ffi.cast(fetches_ud_ptr, self_ptr)
  local last_rkt, last_topic = nil, nil
  return function(i)
    if ud.fetches == nil or ud.finalized ~= 0 then error(fn .. ": " .. COLLECTED, 2) end
    if released[0] ~= 0 then error(fn .. ": " .. RELEASED, 2) end
    local _ = fetches
    local m = msgs[i]
    local rkt = m.rkt
    if rkt ~= last_rkt then
      last_rkt, last_topic = rkt, ffi_string(rdkafka.rd_kafka_topic_name(rkt))
    end
    local record = {
      topic = last_topic,
      value = m.payload ~= nil and ffi_string(m.payload, m.len) or nil,   -- nil: a null value
      partition = m.partition,
      offset = tonumber(m.offset),
      timestamp = tonumber(rdkafka.rd_kafka_message_timestamp(m, nil)),
    }
    if m.key ~= nil then record.key = ffi_string(m.key, m.key_len) end
    local headers = headers_of(m)
    if headers then record.headers = headers end
    return record
  end, count
end

--- The copy for fetches:iter(), records() and each_record(fn) (fluxakafka.lua): a table of
-- those three, as the binding's _iter, _records and _each_record.
function M.copier(fetches_methods)
  raw_of = fetches_methods._raw
  has_no_headers = ffi.cast("int (* const *)(const void *)", fetches_methods._message_has_no_headers)[0]
  header_key_len = ffi.cast("size_t (* const *)(const char *, const void *, size_t)",
    fetches_methods._header_key_len)[0]
  local copy = {}

  function copy.iter(self)
    local read, count = reader(self, "iter")
    local i = 0
    local keep_alive = self   -- the messages live as long as their fetches
    return function()
      if i >= count then return nil end
      local record = read(i)
      i = i + 1
      return record, keep_alive
    end
  end

  function copy.records(self)
    local read, count = reader(self, "records")
    local list = {}
    for i = 0, count - 1 do list[i + 1] = read(i) end
    return list
  end

  function copy.each_record(self, fn)
    local read, count = reader(self, "each_record")
    if type(fn) ~= "function" then
      error("each_record: argument #1 'callback' must be a function, got " .. type(fn), 2)
    end
    for i = 0, count - 1 do fn(read(i)) end
  end
  return copy
end

return M
