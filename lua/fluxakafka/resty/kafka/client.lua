--- resty.kafka.client served by fluxakafka: lua-resty-kafka's client object (broker list,
-- metadata cache, choose_broker) over a fluxakafka pool. Every client, producer and
-- basic consumer of one worker with the same brokers and settings shares one pool, made on
-- first use (never in the master: librdkafka's threads would not survive the fork).
local fk = require "fluxakafka"

local ngx = ngx
local pairs, ipairs, type, tostring, tonumber = pairs, ipairs, type, tostring, tonumber
local concat, sort = table.concat, table.sort
local min, max = math.min, math.max

local _M = { _VERSION = "0.23" }
local mt = { __index = _M }

-- Phases where lua-resty-kafka can use cosockets; elsewhere it fails in ngx.socket.tcp().
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

--- Raises what ngx.socket.tcp() raises in a phase without cosockets, so that code written
-- for lua-resty-kafka sees the failure it knows.
function _M._require_cosockets()
  local phase = ngx.get_phase()
  if not COSOCKET_PHASES[phase] then
    error("API disabled in the context of " .. phase .. "_by_lua*", 0)
  end
end

function _M._can_wait()
  return COSOCKET_PHASES[ngx.get_phase()] == true
end

-- ------------------------------------------------------------------ pools

local LEVELS = { [0] = ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG }

-- lua-resty-kafka logs one unreachable broker of the list at info level and only the loss
-- of all of them as an error; librdkafka's lines are sorted the same way.
local function log_line(level, facility, message)
  if facility == "FAIL" then
    ngx.log(ngx.INFO, "resty.kafka (fluxakafka): a broker failed, fetch_metadata and sends use the others: ", message)
  elseif facility == "ALLBROKERSDOWN" or facility == "ALLBRODOWN" then
    ngx.log(ngx.ERR, "resty.kafka (fluxakafka): all brokers failed: ", message)
  else
    ngx.log(LEVELS[level] or ngx.NOTICE, "resty.kafka (fluxakafka): ", facility, ": ", message)
  end
end

local function ms(v, default) return tonumber(v) or default end

-- The librdkafka settings of lua-resty-kafka's producer and socket options. A record may
-- take as long as lua-resty-kafka's tries would: max_retry requests of request_timeout
-- each with retry_backoff between them, after waiting up to flush_time in the buffer.
local function pool_options(opts, sasl)
  local request_timeout = ms(opts.request_timeout, 2000)
  local max_retry = max(ms(opts.max_retry, 3), 1)
  local retry_backoff = ms(opts.retry_backoff, 100)
  local linger = min(max(ms(opts.flush_time, 1000), 0), 1000)   -- fluxakafka lingers 1 s at most
  local socket_timeout = ms(opts.socket_timeout, 3000)
  local delivery = max_retry * request_timeout + (max_retry - 1) * retry_backoff + linger
  local rdkafka = {
    ["batch.num.messages"] = max(ms(opts.batch_num, 200), 1),
    ["batch.size"] = max(ms(opts.batch_size, 1048576), 1),
    ["retries"] = max_retry - 1,
    ["retry.backoff.ms"] = max(retry_backoff, 1),
    ["request.timeout.ms"] = max(request_timeout, 1),
    ["socket.timeout.ms"] = max(socket_timeout, 10),
    ["socket.keepalive.enable"] = opts.keepalive ~= false,
  }
  if opts.refresh_interval then
    rdkafka["topic.metadata.refresh.interval.ms"] = max(ms(opts.refresh_interval, 300000), 10)
  end
  local options = {
    client_id = "worker" .. ngx.worker.pid(),
    required_acks = tonumber(opts.required_acks) or 1,
    producer_linger = linger / 1000,
    max_buffered_records = max(ms(opts.max_buffering, 50000), 1),
    delivery_timeout = delivery / 1000,
    connect_timeout = socket_timeout / 1000,
    queue_full_timeout = opts.wait_on_buffer_full and max(ms(opts.wait_buffer_timeout, 5), 0) or 0,
    partitioner = "consistent_random",   -- crc32(key) % partitions: lua-resty-kafka's choice
    logger = log_line,
    sasl = sasl,
    rdkafka = rdkafka,
  }
  if opts.ssl then
    options.tls = { verify = opts.ssl_verify == true, ca_file = opts.ssl_ca_file,
                    cert_file = opts.ssl_cert_file, key_file = opts.ssl_key_file }
  end
  return options
end

-- A stable text for a table of plain values, to find the pool of equal settings.
local function signature(v)
  if type(v) ~= "table" then return type(v) .. ":" .. tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do
    if type(v[k]) ~= "function" then parts[#parts + 1] = tostring(k) .. "=" .. signature(v[k]) end
  end
  return "{" .. concat(parts, ",") .. "}"
end

-- host:port strings (after the resolver) and the SASL settings of the first broker that has
-- some: librdkafka authenticates to every broker of a cluster the same way.
local function bootstrap(broker_list, resolver)
  local list, sasl = {}, nil
  for _, b in ipairs(broker_list) do
    local host = resolver and resolver(b.host) or b.host
    list[#list + 1] = tostring(host) .. ":" .. tostring(b.port)
    local s = b.sasl_config
    if s and not sasl then
      sasl = { mechanism = s.mechanism or "PLAIN", user = s.user, password = s.password }
    end
  end
  return list, sasl
end

local pools, pool_count = {}, 0

--- The fluxakafka pool of this client: pool, or nil, err when the settings are refused.
function _M._pool(self)
  local pool = self._fk_pool
  if pool then return pool end
  local list, sasl = bootstrap(self.broker_list, self.socket_config.resolver)
  local options = pool_options(self._config, sasl)
  local key = signature(list) .. signature(options)
  pool = pools[key]
  if not pool then
    pool_count = pool_count + 1
    local registry = fk.new_registry()
    local code = "resty-kafka-" .. pool_count
    local ok, err = pcall(registry.register_kafka, registry, list, code, options)
    if not ok then return nil, tostring(err) end
    local engine, verr = registry:validate()
    if not engine then return nil, verr end
    pool = engine:kafka(code)
    pools[key] = pool
  end
  self._fk_pool = pool
  return pool
end

-- ------------------------------------------------------------------ metadata

local function topic_info(t)
  local info = { errcode = 0, num = 0 }
  for _, p in ipairs(t.partitions or {}) do
    info[p.id] = { errcode = 0, id = p.id, leader = p.leader, replicas = p.replicas or {}, isr = p.isrs or {} }
    info.num = info.num + 1
  end
  return info
end

-- fluxakafka names brokers by id only: each id seen maps to a broker of the list (the
-- first one when the list is shorter than the cluster).
local function brokers_of(self, topics)
  local ids, seen = {}, {}
  for _, t in pairs(topics) do
    for id, p in pairs(t) do
      if type(id) == "number" then
        for _, b in ipairs({ p.leader, unpack(p.replicas) }) do
          if not seen[b] then seen[b] = true; ids[#ids + 1] = b end
        end
      end
    end
  end
  sort(ids)
  local brokers, list = {}, self.broker_list
  for i, id in ipairs(ids) do
    local b = list[#ids == #list and i or 1]
    brokers[id] = { host = b.host, port = b.port, sasl_config = b.sasl_config }
  end
  return brokers
end

-- Reads the metadata of every topic this client knows and of new_topic (yields).
local function refresh(self, new_topic)
  local pool, perr = _M._pool(self)
  if not pool then return nil, perr end
  local all, err = pool:list_topics()
  if not all then
    ngx.log(ngx.ERR, "resty.kafka (fluxakafka): all brokers failed in fetch topic metadata: ", err)
    return nil, "all brokers failed in fetch topic metadata"
  end
  local wanted = {}
  for name in pairs(self.topic_partitions) do wanted[name] = true end
  if new_topic then wanted[new_topic] = true end
  local topics = {}
  for _, t in ipairs(all) do
    if wanted[t.name] and not t.error then topics[t.name] = topic_info(t) end
  end
  self.topic_partitions = topics
  self.brokers = brokers_of(self, topics)
  return self.brokers, topics
end
_M.refresh = refresh

local function cached(self, topic)
  local partitions = self.topic_partitions[topic]
  if partitions and partitions.num and partitions.num > 0 then return self.brokers, partitions end
  return nil, "not found topic"
end

function _M.new(self, broker_list, client_config)
  local opts = client_config or {}
  local cli = setmetatable({
    broker_list = broker_list,
    topic_partitions = {},
    brokers = {},
    api_versions = {},
    client_id = "worker" .. ngx.worker.pid(),
    socket_config = {
      socket_timeout = opts.socket_timeout or 3000,
      keepalive_timeout = opts.keepalive_timeout or 600000,
      keepalive_size = opts.keepalive_size or 2,
      ssl = opts.ssl or false,
      ssl_verify = opts.ssl_verify or false,
      resolver = opts.resolver,
    },
    _config = opts,
  }, mt)
  if opts.refresh_interval then
    local ok, err = ngx.timer.every(opts.refresh_interval / 1000, function(premature)
      if not premature and next(cli.topic_partitions) then refresh(cli) end
    end)
    if not ok then ngx.log(ngx.ERR, "resty.kafka (fluxakafka): cannot start the metadata refresh timer: ", err) end
  end
  return cli
end

--- brokers, partitions of topic (from the cache, else asking the cluster: yields), or
-- nil, err ("not found topic").
function _M.fetch_metadata(self, topic)
  local brokers, partitions = cached(self, topic)
  if brokers then return brokers, partitions end
  _M._require_cosockets()
  refresh(self, topic)
  return cached(self, topic)
end

--- The leader of the partition: { host =, port =, sasl_config = }, or nil, err.
function _M.choose_broker(self, topic, partition_id)
  local brokers, partitions = self:fetch_metadata(topic)
  if not brokers then return nil, partitions end
  local partition = partitions[partition_id]
  if not partition then return nil, "not found partition" end
  local broker = brokers[partition.leader]
  if not broker then return nil, "not found broker" end
  return broker
end

--- librdkafka negotiates API versions by itself and does not tell them: always -1, the
-- answer lua-resty-kafka gives for an API the broker does not list.
function _M.choose_api_version()
  return -1
end

return _M
