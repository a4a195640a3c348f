--- How pool:produce copies a record under LuaJIT: one without a callback goes straight to
-- the C core's fk_pool_produce through the FFI, so the JIT compiles it into the caller's
-- loop. Anything unusual (a callback, headers, a value of the wrong type, a closed pool)
-- takes the binding's copy, which raises or reports exactly as documented. A value of nil or
-- fk.null is a Kafka null (a tombstone), as with the binding.
local ffi = require "ffi"

ffi.cdef [[
typedef struct fk_ffi_error { int rd_err; char code[64]; char msg[512]; } fk_ffi_error;
typedef struct fk_ffi_header { const char *key; size_t key_len; const void *value; size_t value_len; } fk_ffi_header;
typedef struct fk_ffi_record {
  const char *topic;
  const void *key; size_t key_len;
  const void *value; size_t value_len;
  const fk_ffi_header *headers; size_t header_count;
  int32_t partition;
  int64_t timestamp_ms;
} fk_ffi_record;
int fk_pool_produce(void *p, const fk_ffi_record *rec, uint64_t token, int block_ms, fk_ffi_error *err);
int fk_pool_poll(void *p, int timeout_ms);
size_t fk_pool_queued_deliveries(const void *p);
int fk_pool_is_closed(const void *p);
size_t fk_log_pending(void);
typedef struct fk_ffi_pool_ud {
  int finalized; void *pool; double next_token; unsigned calls; int queue_wait_ms;
} fk_ffi_pool_ud;
]]

local path = package.searchpath and package.searchpath("fluxakafka.core", package.cpath)
if not path then return nil end
local ok, lib = pcall(ffi.load, path)
if not ok then return nil end

local M = {}

local MAX_PARTITION = 2147483647

--- The copy for pool:produce (fluxakafka.lua): copy(pool, record, callback, owner), as the
-- binding's pool:_produce.
function M.copier(pool_methods, null)
  local c_produce, userdata_ptr = pool_methods._produce, pool_methods._ptr
  local record_buf = ffi.new("fk_ffi_record")
  local err = ffi.new("fk_ffi_error")
  -- pool userdata -> its own memory (struct pool_ud of csrc/lua/lfk_pool.c), valid while
  -- the pool is held; its `pool` field turns NULL when the engine is finalized, so it is read
  -- on every call and the core pointer is never kept across calls
  local userdata_of = setmetatable({}, { __mode = "k" })
  local calls = 0
  local pool_ud_ptr = ffi.typeof("fk_ffi_pool_ud *")
  local type, floor, ffi_string = type, math.floor, ffi.string

  return function(self, record, callback, owner)
    if callback ~= nil or type(record) ~= "table" then return c_produce(self, record, callback, owner) end
    local topic, value, key = record.topic, record.value, record.key
    local partition, timestamp = record.partition, record.timestamp
    local null_value = value == nil or value == null
    if type(topic) ~= "string" or (not null_value and type(value) ~= "string") or record.headers ~= nil
      or (key ~= nil and type(key) ~= "string")
      or (partition ~= nil and (type(partition) ~= "number" or partition < 0 or partition > MAX_PARTITION
                                or partition ~= floor(partition)))
      or (timestamp ~= nil and (type(timestamp) ~= "number" or timestamp < 0)) then
      return c_produce(self, record)
    end
    local ud = userdata_of[self]
    if ud == nil then
      ud = ffi.cast(pool_ud_ptr, userdata_ptr(self, "produce"))   -- raises for a wrong self
      userdata_of[self] = ud
    end
    local pool = ud.pool
    if pool == nil or lib.fk_pool_is_closed(pool) ~= 0 then return c_produce(self, record) end
    calls = calls + 1
    -- callbacks of earlier records, and librdkafka's log lines, are served here, on this
    -- thread, as in the C API path; a callback may close the pool or finalize the engine, so
    -- the pool is read again after them
    if calls % 16 == 0 then lib.fk_pool_poll(pool, 0) end
    if lib.fk_pool_queued_deliveries(pool) ~= 0 or (calls % 16 == 0 and lib.fk_log_pending() ~= 0) then
      self:poll(0)
      pool = ud.pool
      if pool == nil or lib.fk_pool_is_closed(pool) ~= 0 then return c_produce(self, record) end
    end
    record_buf.topic = topic
    if null_value then
      record_buf.value = nil
      record_buf.value_len = 0
    else
      record_buf.value = value
      record_buf.value_len = #value
    end
    if key then
      record_buf.key = key
      record_buf.key_len = #key
    else
      record_buf.key = nil
      record_buf.key_len = 0
    end
    record_buf.partition = partition or -1
    record_buf.timestamp_ms = timestamp or 0
    -- the pool's queue_full_timeout, as pool:_set_queue_wait left it in the userdata
    if lib.fk_pool_produce(pool, record_buf, 0, ud.queue_wait_ms, err) == 0 then
      return nil, ffi_string(err.msg), ffi_string(err.code)
    end
    return true
  end
end

return M
