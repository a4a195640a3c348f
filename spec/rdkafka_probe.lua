-- librdkafka itself, through the FFI, for the specs to look at fluxakafka's consumer groups
-- from outside: a group's committed offsets as a separate client sees them, and the
-- rebalance protocol a consumer group's client joined with.
local ffi = require "ffi"

ffi.cdef [[
typedef struct rd_kafka_s fk_probe_rd_kafka_t;
typedef struct rd_kafka_conf_s fk_probe_conf_t;
typedef struct {
  char *topic; int32_t partition; int64_t offset; void *metadata; size_t metadata_size;
  void *opaque; int err; void *_private;
} fk_probe_partition_t;
typedef struct { int cnt; int size; fk_probe_partition_t *elems; } fk_probe_partition_list_t;
fk_probe_conf_t *rd_kafka_conf_new(void);
int rd_kafka_conf_set(fk_probe_conf_t *conf, const char *name, const char *value, char *errstr, size_t size);
fk_probe_rd_kafka_t *rd_kafka_new(int type, fk_probe_conf_t *conf, char *errstr, size_t size);
void rd_kafka_destroy(fk_probe_rd_kafka_t *rk);
fk_probe_partition_list_t *rd_kafka_topic_partition_list_new(int size);
void rd_kafka_topic_partition_list_destroy(fk_probe_partition_list_t *list);
fk_probe_partition_t *rd_kafka_topic_partition_list_add(fk_probe_partition_list_t *list, const char *topic, int32_t partition);
int rd_kafka_committed(fk_probe_rd_kafka_t *rk, fk_probe_partition_list_t *partitions, int timeout_ms);
const char *rd_kafka_err2name(int err);
const char *rd_kafka_rebalance_protocol(void *rk);
]]

-- the librdkafka the module runs on (librdkafka.so.1, maybe a newer one on LD_LIBRARY_PATH), not
-- the unversioned development link, which stays Debian's
local rdkafka = ffi.load("librdkafka.so.1")
local M = {}

-- "COOPERATIVE", "EAGER", or "NONE" before the client joined, for cg:get_rdkafka_handle()
function M.rebalance_protocol(handle)
  return ffi.string(rdkafka.rd_kafka_rebalance_protocol(handle))
end

-- A consumer client of `group` that never subscribes (so never joins): its committed()
-- reads the group's committed offsets from the coordinator like any other client would.
function M.group_reader(brokers, group)
  local conf, errstr = rdkafka.rd_kafka_conf_new(), ffi.new("char[512]")
  assert(rdkafka.rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, 512) == 0, ffi.string(errstr))
  assert(rdkafka.rd_kafka_conf_set(conf, "group.id", group, errstr, 512) == 0, ffi.string(errstr))
  local rk = rdkafka.rd_kafka_new(1, conf, errstr, 512)
  assert(rk ~= nil, ffi.string(errstr))
  local reader = {}
  -- partition -> committed offset (nil when none), or nil, error name
  function reader.committed(topic, partitions)
    local list = rdkafka.rd_kafka_topic_partition_list_new(#partitions)
    for _, p in ipairs(partitions) do rdkafka.rd_kafka_topic_partition_list_add(list, topic, p) end
    local err, offsets = rdkafka.rd_kafka_committed(rk, list, 10000), {}
    for i = 0, list.cnt - 1 do
      local o = tonumber(list.elems[i].offset)
      if o >= 0 then offsets[list.elems[i].partition] = o end
    end
    rdkafka.rd_kafka_topic_partition_list_destroy(list)
    if err ~= 0 then return nil, ffi.string(rdkafka.rd_kafka_err2name(err)) end
    return offsets
  end
  function reader.close() rdkafka.rd_kafka_destroy(rk) end
  return reader
end

return M
