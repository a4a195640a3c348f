-- Shared by the fault specs: the brokers of the 3-node cluster of scripts/kafka-cluster.sh
-- (FK_CLUSTER_BROKERS, set by make test-faults), its nodes' pids, engines on it, and the
-- figures each spec reports (TAP comments, also appended to build/faults-results.txt).
local fk = require "fluxakafka"
local support = require "spec.support"

local M = {}

M.env = os.getenv("FK_CLUSTER_BROKERS")
M.brokers = {}
for b in (M.env or ""):gmatch("[^,]+") do M.brokers[#M.brokers + 1] = b end

-- Without the cluster (FK_CLUSTER_BROKERS unset) the spec `name` shows as pending: true then.
function M.missing(name)
  if M.env then return false end
  local spec = getfenv(2)   -- busted's describe and pending live in the spec file's environment
  spec.describe(name, function()
    spec.pending("needs FK_CLUSTER_BROKERS (make test-faults starts the cluster)")
  end)
  return true
end

-- a monotonic clock without a process per reading (the pacing reads it 1,000 times)
M.now = support.monotonic

local results
function M.report(line)
  print("# " .. line)
  results = results or assert(io.open("build/faults-results.txt", "a"))
  results:write(os.date("!%Y-%m-%d %H:%M:%S UTC "), line, "\n")
  results:flush()
end

function M.sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

-- the pid of node n, only when kafka-cluster.sh started it
function M.node_pid(node)
  return tonumber(M.sh("bash scripts/kafka-cluster.sh pid " .. node))
end

function M.start_node(node)
  M.sh("bash scripts/kafka-cluster.sh start-node " .. node .. " 2>&1")
end

-- An engine with pool "cluster" (acks=all, idempotent), the topic (1 partition, replication
-- factor 3, min.insync.replicas 2) created and n_groups consumer groups of new names on it.
-- Returns engine, pool, { group names }.
function M.engine_with(topic, n_groups)
  local r = fk.new_registry()
  r:register_kafka(M.brokers, "cluster", { required_acks = -1, idempotent = true, delivery_timeout = 120, connect_timeout = 10 })
  r:register_kafka_topic(fk.new_kafka_topic(topic, "cluster"):partitions(1):replication_factor(3):min_insync_replicas(2))
  local groups = {}
  for i = 1, n_groups do
    groups[i] = support.unique("faults-group")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(groups[i], "cluster"):topics(topic):session_timeout(6))
  end
  local engine = assert(r:validate())
  local ctx = engine:new_context()
  for _, a in ipairs(assert(fk.get_kafka_alters(ctx))) do
    -- the cluster is the specs' own, but only the topic of this spec is created
    if a.kind == "create_topic" and a.topic == topic then assert(a:exec(ctx)) end
  end
  return engine, engine:kafka("cluster"), groups
end

-- The node leading partition 0 of topic, from the pool's metadata.
function M.leader_of(pool, topic)
  local leader
  local deadline = os.time() + 30
  repeat
    for _, t in ipairs(pool:list_topics() or {}) do
      local p = t.name == topic and t.partitions[1]
      if p and p.leader >= 0 then leader = p.leader end
    end
  until leader or os.time() > deadline
  return assert(leader, "no leader for " .. topic)
end

return M
