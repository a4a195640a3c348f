--- A request logger in the style of APISIX's kafka-logger: the log phase adds one entry per
-- request to a batch, and a timer hands full (or idle) batches to an async
-- resty.kafka.producer. It is plain lua-resty-kafka code; with fluxakafka's compat directory
-- first on lua_package_path it runs on fluxakafka unchanged:
--
--   lua_package_path "/path/to/fluxakafka/resty_compat/?.lua;;";   -- fk.resty_compat_path()
--   init_worker_by_lua_block {
--     logger = require("resty_kafka_logger").new({
--       brokers = { { host = "127.0.0.1", port = 9092 } }, topic = "access-log" })
--   }
--   log_by_lua_block { logger:log(ngx.var.request_id .. " " .. ngx.var.uri) }
local producer = require "resty.kafka.producer"

local M = {}
local Logger = { __index = {} }
local methods = Logger.__index

--- conf: brokers, topic, and optionally key, cluster_name, batch_max_size (entries per batch,
-- default 1000), inactive_timeout (seconds an unfinished batch waits, default 5),
-- max_retry_count (times a failed entry is sent again, default 0), producer_config.
function M.new(conf)
  local self = setmetatable({
    conf = conf,
    batch = {},
    batch_max_size = conf.batch_max_size or 1000,
    inactive_timeout = conf.inactive_timeout or 5,
    max_retry_count = conf.max_retry_count or 0,
    timer_armed = false,
  }, Logger)
  self.producer_config = conf.producer_config or {
    producer_type = "async", required_acks = 1, request_timeout = 2000,
    batch_num = 200, batch_size = 1048576, max_buffering = 50000, flush_time = 1000,
  }
  return self
end

-- One send per entry, as kafka-logger does; entries the producer refuses are tried again in
-- a later batch while they have retries left.
local function send_batch(premature, self, batch)
  local p = producer:new(self.conf.brokers, self.producer_config, self.conf.cluster_name or "logger")
  local retry = {}
  for _, entry in ipairs(batch) do
    local ok, err = p:send(self.conf.topic, self.conf.key, entry.data)
    if not ok then
      if entry.tries < self.max_retry_count then
        entry.tries = entry.tries + 1
        retry[#retry + 1] = entry
      else
        ngx.log(ngx.ERR, "kafka logger: dropping an entry: ", err)
      end
    end
  end
  if retry[1] and not premature then ngx.timer.at(1, send_batch, self, retry) end
end

local function take_batch(self)
  local batch = self.batch
  self.batch = {}
  return batch
end

-- Sends whatever waited inactive_timeout seconds without filling a batch.
local function on_idle(premature, self)
  self.timer_armed = false
  if self.batch[1] then send_batch(premature, self, take_batch(self)) end
end

--- Adds one entry (a string) to the batch; callable from the log phase.
function methods:log(data)
  local batch = self.batch
  batch[#batch + 1] = { data = data, tries = 0 }
  if #batch >= self.batch_max_size then
    ngx.timer.at(0, send_batch, self, take_batch(self))
  elseif not self.timer_armed then
    self.timer_armed = ngx.timer.at(self.inactive_timeout, on_idle, self) and true or false
  end
end

return M
