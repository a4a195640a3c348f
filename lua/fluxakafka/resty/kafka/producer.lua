--- resty.kafka.producer served by fluxakafka: lua-resty-kafka's producer API, with records
-- delivered by librdkafka through a fluxakafka pool.
--
-- * async (producer_type = "async"): send queues the record in librdkafka at once, true or
--   nil, "buffer overflow"; failed records reach error_handle grouped per topic-partition.
--   What is buffered when the worker exits (reload, quit) is delivered by fluxakafka.
-- * sync: send waits (yielding) for the acknowledgement and returns the next offset of the
--   partition as an int64 cdata, or nil and a plain error string.
local ffi = require "ffi"
local client = require "fluxakafka.resty.kafka.client"

local ngx = ngx
local crc32 = ngx.crc32_long
local pairs, ipairs, pcall, tostring = pairs, ipairs, pcall, tostring
local int64 = ffi.typeof("int64_t")

local _M = { _VERSION = "0.23" }
local mt = { __index = _M }

local DEFAULT_CLUSTER = 1
local async_by_cluster = {}   -- one async producer per cluster name per worker: the first

-- lua-resty-kafka's choice: crc32 of the key, else the producer's request counter, modulo
-- the partition count.
local function default_partitioner(key, num, correlation_id)
  local id = key and crc32(key) or correlation_id
  return id % num
end

-- Errors a later attempt may not hit (lua-resty-kafka's "retryable").
local TRANSIENT = {
  _MSG_TIMED_OUT = true, _TIMED_OUT = true, _TRANSPORT = true, _ALL_BROKERS_DOWN = true,
  _QUEUE_FULL = true, REQUEST_TIMED_OUT = true, NOT_ENOUGH_REPLICAS = true,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND = true, LEADER_NOT_AVAILABLE = true,
  NOT_LEADER_FOR_PARTITION = true, NETWORK_EXCEPTION = true, _LEADER_NOT_AVAILABLE = true,
}

-- lua-resty-kafka's words for a topic or partition the cluster does not have.
local function plain_error(err, code)
  if code == "UNKNOWN_TOPIC_OR_PART" or code == "_UNKNOWN_TOPIC" then return "not found topic" end
  if code == "_UNKNOWN_PARTITION" then return "not found partition" end
  return tostring(err)
end

-- ------------------------------------------------------------------ offsets

local function next_offset(self, topic, partition)
  local topics = self.sendbuffer.topics
  local partitions = topics[topic]
  if not partitions then
    partitions = {}
    topics[topic] = partitions
  end
  local buffer = partitions[partition]
  if not buffer then
    buffer = { offset = int64(0) }
    partitions[partition] = buffer
  end
  return buffer
end

local function delivered(self, rec)
  local buffer = next_offset(self, rec.topic, rec.partition)
  local offset = int64(rec.offset) + 1
  if offset > buffer.offset then buffer.offset = offset end
  return offset
end

-- ------------------------------------------------------------------ failures

-- Hands each topic-partition's failed records to error_handle (or the log) in one call, as
-- lua-resty-kafka does for a batch its retries could not send.
local function report_failures(premature, self)
  local failed = self._failed
  self._failed, self._report_pending = {}, false
  for topic, partitions in pairs(failed) do
    for partition, batch in pairs(partitions) do
      if self.error_handle then
        local ok, err = pcall(self.error_handle, topic, partition, batch.queue, batch.index, batch.err, batch.retryable)
        if not ok then ngx.log(ngx.ERR, "resty.kafka (fluxakafka): error_handle raised: ", err) end
      else
        ngx.log(ngx.ERR, "resty.kafka (fluxakafka): ", batch.index / 2, " buffered records of topic '", topic,
                "' partition ", partition, " were not sent: ", batch.err, ", retryable: ", tostring(batch.retryable))
      end
    end
  end
end

local function failed(self, rec, err, code)
  local partition = rec.partition or -1
  local partitions = self._failed[rec.topic]
  if not partitions then
    partitions = {}
    self._failed[rec.topic] = partitions
  end
  local batch = partitions[partition]
  if not batch then
    batch = { queue = {}, index = 0 }
    partitions[partition] = batch
  end
  batch.queue[batch.index + 1] = rec.key
  batch.queue[batch.index + 2] = rec.value
  batch.index = batch.index + 2
  batch.err, batch.retryable = plain_error(err, code), TRANSIENT[code] == true and rec.persisted ~= "yes"
  -- the failures of one batch arrive in one round of deliveries: report after it
  if not self._report_pending then
    self._report_pending = true
    if not ngx.timer.at(0, report_failures, self) then report_failures(false, self) end
  end
end

-- ------------------------------------------------------------------ partitions

-- The partition lua-resty-kafka would choose, or nil while the topic's partitions are not
-- known yet: librdkafka's consistent_random partitioner then makes the same choice for a key.
local function choose_partition(self, topic, key)
  local partitions = self.client.topic_partitions[topic]
  local num = partitions and partitions.num
  if not num or num <= 0 then return nil end
  local id = self.partitioner(key, num, self.correlation_id)
  self.correlation_id = (self.correlation_id + 1) % 1073741824
  return id
end

-- Learns a topic's partitions in a timer (async sends may come from phases that cannot
-- wait), then sends what waited for them.
local function learn_topic(self, topic)
  if self._learning[topic] then return end
  self._learning[topic] = true
  ngx.timer.at(0, function(premature)
    if not premature then client.refresh(self.client, topic) end
    self._learning[topic] = nil
    local waiting = self._waiting[topic]
    self._waiting[topic] = nil
    for _, rec in ipairs(waiting or {}) do
      rec.partition = choose_partition(self, topic, rec.key)
      local ok, err, code = self._pool:produce(rec, self._on_delivery)
      if not ok then failed(self, rec, err, code) end
    end
  end)
end

-- ------------------------------------------------------------------ producer

local function pool_of(self)
  local pool = self._pool
  if pool then return pool end
  local err
  pool, err = client._pool(self.client)
  self._pool = pool
  return pool, err
end

-- A partitioner of the application's needs the partition count: the record waits for it.
local function wait_for_partitions(self, rec)
  local waiting = self._waiting[rec.topic] or {}
  self._waiting[rec.topic] = waiting
  if #waiting >= self.ringbuffer.size then return nil, "buffer overflow" end
  waiting[#waiting + 1] = rec
  return true
end

local function send_async(self, topic, key, message)
  local pool, err = pool_of(self)
  if not pool then return nil, err end
  local rec = { topic = topic, key = key, value = message }
  local known = self.client.topic_partitions[topic]
  if not (known and known.num and known.num > 0) then
    learn_topic(self, topic)
    if self.partitioner ~= default_partitioner then return wait_for_partitions(self, rec) end
  end
  rec.partition = choose_partition(self, topic, key)
  local ok, perr, code = pool:produce(rec, self._on_delivery)
  if ok then return true end
  if code == "_QUEUE_FULL" then
    return nil, self.ringbuffer.wait_on_buffer_full and "buffer overflow timeout" or "buffer overflow"
  end
  return nil, plain_error(perr, code)
end

local function send_sync(self, topic, key, message)
  client._require_cosockets()
  local pool, err = pool_of(self)
  if not pool then return nil, err end
  self.client:fetch_metadata(topic)
  local rec = { topic = topic, key = key, value = message, partition = choose_partition(self, topic, key) }
  local ok, perr, code = pool:produce_sync(rec)
  if not ok then
    if code == "_UNKNOWN_PARTITION" or code == "UNKNOWN_TOPIC_OR_PART" then client.refresh(self.client) end
    return nil, plain_error(perr, code)
  end
  return delivered(self, rec)
end

function _M.new(self, broker_list, producer_config, cluster_name)
  local opts = producer_config or {}
  local name = cluster_name or DEFAULT_CLUSTER
  local async = opts.producer_type == "async"
  if async and async_by_cluster[name] then return async_by_cluster[name] end
  local p = setmetatable({
    client = client:new(broker_list, producer_config),
    async = async,
    correlation_id = 1,
    required_acks = opts.required_acks or 1,
    request_timeout = opts.request_timeout or 2000,
    retry_backoff = opts.retry_backoff or 100,
    max_retry = opts.max_retry or 3,
    api_version = opts.api_version or 1,
    partitioner = opts.partitioner or default_partitioner,
    error_handle = opts.error_handle,
    -- what lua-resty-kafka's buffers held, as far as an application reads them
    ringbuffer = { batch_num = opts.batch_num or 200, size = opts.max_buffering or 50000,
                   wait_on_buffer_full = opts.wait_on_buffer_full or false },
    sendbuffer = { batch_num = opts.batch_num or 200, batch_size = opts.batch_size or 1048576, topics = {} },
    _failed = {}, _learning = {}, _waiting = {},
  }, mt)
  p._on_delivery = function(rec, err, code)
    if err then failed(p, rec, err, code) else delivered(p, rec) end
  end
  if async then async_by_cluster[name] = p end
  return p
end

--- async: true, or nil, "buffer overflow". sync: the next offset (int64 cdata), or nil, err.
function _M.send(self, topic, key, message)
  if self.async then return send_async(self, topic, key, message) end
  return send_sync(self, topic, key, message)
end

--- Delivers what is buffered (yielding, where the phase may) and runs the deliveries'
-- bookkeeping. Returns true.
function _M.flush(self)
  local pool = self._pool
  if not pool then return true end
  if client._can_wait() then
    pool:flush(pool:get_pool_options().delivery_timeout + 1)
  end
  pool:poll(0)
  return true
end

--- The sum of the next offsets of every topic-partition this producer delivered to, and the
-- offsets by topic and partition (int64 cdata).
function _M.offset(self)
  if self._pool then self._pool:poll(0) end
  local sum, details = 0, {}
  for topic, partitions in pairs(self.sendbuffer.topics) do
    details[topic] = {}
    for partition, buffer in pairs(partitions) do
      sum = sum + buffer.offset
      details[topic][partition] = buffer.offset
    end
  end
  return sum, details
end

return _M
