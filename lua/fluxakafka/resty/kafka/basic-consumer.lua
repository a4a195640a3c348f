--- resty.kafka.basic-consumer served by fluxakafka: offsets of a partition and records read
-- from an offset, without a consumer group (what APISIX's Kafka pubsub uses).
-- Offsets and timestamps are int64: list_offset answers its text ("67LL"), records carry
-- cdata, as lua-resty-kafka does.
local ffi = require "ffi"
local client = require "fluxakafka.resty.kafka.client"
local protocol = require "fluxakafka.resty.kafka.protocol.consumer"

local tonumber, tostring, ipairs = tonumber, tostring, ipairs
local int64 = ffi.typeof("int64_t")
local min = math.min

local _M = { _VERSION = "0.23" }
local mt = { __index = _M }

local MAX_RECORDS = 10000   -- one fetch answers at most this many records
local READ_TIMEOUT = 1

function _M.new(self, broker_list, client_config)
  local opts = client_config or {}
  local cli = client:new(broker_list, client_config)
  return setmetatable({
    client = cli,
    correlation_id = 1,
    isolation_level = opts.isolation_level or 0,
    client_rack = opts.client_rack or "default",
    socket_config = cli.socket_config,
  }, mt)
end

-- The pool, after checking that the partition exists: pool, or nil, err.
local function pool_for(self, topic, partition)
  local broker, err = self.client:choose_broker(topic, partition)
  if not broker then return nil, err end
  return client._pool(self.client)
end

-- The offset where reading by `timestamp` starts, as a Lua number, or nil, err.
local function offset_of(pool, topic, partition, timestamp)
  if timestamp == protocol.LIST_OFFSET_TIMESTAMP_FIRST or timestamp == protocol.LIST_OFFSET_TIMESTAMP_LAST then
    local low, high = pool:watermarks(topic, partition)
    if not low then return nil, high end
    return timestamp == protocol.LIST_OFFSET_TIMESTAMP_FIRST and low or high
  end
  if not pool.offsets_for_times then
    return nil, "list_offset by timestamp needs pool:offsets_for_times, which this fluxakafka build lacks"
  end
  local offsets, err = pool:offsets_for_times(topic, { [partition] = timestamp })
  if not offsets then return nil, err end
  return offsets[partition] or -1
end

--- The offset of partition at timestamp (ms, or LIST_OFFSET_TIMESTAMP_FIRST / _LAST, the
-- default being FIRST) as text such as "67LL", or nil, err.
function _M.list_offset(self, topic, partition, timestamp)
  client._require_cosockets()
  timestamp = tonumber(timestamp) or protocol.LIST_OFFSET_TIMESTAMP_FIRST
  local pool, err = pool_for(self, topic, partition)
  if not pool then return nil, err end
  local offset, oerr = offset_of(pool, topic, partition, timestamp)
  if not offset then return nil, oerr end
  return tostring(int64(offset))
end

local function as_fetched(rec)
  return { offset = int64(rec.offset), timestamp = int64(rec.timestamp or 0), key = rec.key, value = rec.value,
           headers = rec.headers }
end

--- The records of partition from offset on: { records = { {offset=, timestamp=, key=, value=}, ... },
-- high_watermark =, last_stable_offset =, log_start_offset =, errcode = 0 }, or nil, err
-- ("OFFSET_OUT_OF_RANGE" outside the partition's offsets, "not found topic", ...).
function _M.fetch(self, topic, partition, offset)
  client._require_cosockets()
  local pool, err = pool_for(self, topic, partition)
  if not pool then return nil, err end
  local low, high = pool:watermarks(topic, partition)
  if not low then return nil, high end
  offset = tonumber(offset)
  if not offset or offset < low or offset > high then return nil, "OFFSET_OUT_OF_RANGE" end
  local result = { errcode = 0, high_watermark = int64(high), last_stable_offset = int64(high),
                   log_start_offset = int64(low), aborted_transactions = {}, records = {} }
  if offset == high then return result end
  if not pool.read then
    return nil, "fetch needs pool:read, which this fluxakafka build lacks"
  end
  local recs, rerr = pool:read(topic, partition, offset, { count = min(high - offset, MAX_RECORDS), timeout = READ_TIMEOUT })
  if not recs then return nil, rerr end
  for i, rec in ipairs(recs) do result.records[i] = as_fetched(rec) end
  return result
end

return _M
