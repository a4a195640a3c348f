-- Consumes TOPIC in GROUP for cluster_faults_spec.lua until it is killed: for every batch it
-- prints "r <key>" per record (flushed), then commits and prints "c". First line: "pid <n>".
local fk = require "fluxakafka"
local brokers, topic, group = arg[1], arg[2], arg[3]
local list = {}
for b in brokers:gmatch("[^,]+") do list[#list + 1] = b end
local f = io.open("/proc/self/stat")
io.write("pid ", f:read("*a"):match("^(%d+)"), "\n")
f:close()
io.stdout:flush()
local r = fk.new_registry()
r:register_kafka(list, "cluster", { connect_timeout = 10 })
r:register_kafka_consumer_group(fk.new_kafka_consumer_group(group, "cluster"):topics(topic):session_timeout(6))
local pool = assert(r:validate()):kafka("cluster")
local cg = assert(pool:consumer_group(group))
while true do
  local fetches = assert(cg:poll_fetches(1, 1000))
  if not fetches:is_empty() then
    local out = {}
    for rec in fetches:iter() do out[#out + 1] = "r " .. rec.key end
    io.write(table.concat(out, "\n"), "\n")
    io.stdout:flush()
    assert(cg:commit_uncommitted_offsets())
    io.write("c\n")
    io.stdout:flush()
  end
end
