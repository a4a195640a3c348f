-- Fault test on the 3-node cluster of scripts/kafka-cluster.sh (make test-faults): the leader
-- of the partition being written is killed (SIGKILL) or stopped (SIGSTOP) while 100,000
-- records are produced at 5,000/s with acks=all; then every acknowledged record must be in
-- the topic exactly once. A consumer killed mid-stream must, on restart of its group,
-- re-deliver at most its one uncommitted batch and skip nothing. A consumer group reading
-- while the leader of its partition is killed must read every record once, in order, and
-- its commits must survive. Only processes that
-- kafka-cluster.sh started (and the child consumer started here) are signalled.
--
-- The numbers are printed as TAP comments and written to build/faults-results.txt.
-- Duplicates are counted, not hidden. The producer is idempotent (idempotent = true): without
-- it a retry on the new leader can write a batch twice (seen once in two runs).
local support = require "spec.support"
local fk = require "fluxakafka"
local ffi = require "ffi"

local env = os.getenv("FK_CLUSTER_BROKERS")
if not env then
  describe("cluster faults", function()
    pending("needs FK_CLUSTER_BROKERS (make test-faults starts the cluster)")
  end)
  return
end
local BROKERS = {}
for b in env:gmatch("[^,]+") do BROKERS[#BROKERS + 1] = b end

local N = tonumber(os.getenv("FAULT_RECORDS") or "100000")
local RATE = tonumber(os.getenv("FAULT_RATE") or "5000")

ffi.cdef [[
typedef struct fk_md_broker { int32_t id; char *host; int port; } fk_md_broker;
typedef struct fk_md_partition { int32_t id; int err; int32_t leader; int replica_cnt; int32_t *replicas;
                                 int isr_cnt; int32_t *isrs; } fk_md_partition;
typedef struct fk_md_topic { char *topic; int partition_cnt; fk_md_partition *partitions; int err; } fk_md_topic;
typedef struct fk_md { int broker_cnt; fk_md_broker *brokers; int topic_cnt; fk_md_topic *topics;
                       int32_t orig_broker_id; char *orig_broker_name; } fk_md;
int rd_kafka_metadata(void *rk, int all_topics, void *only_rkt, const fk_md **metadatap, int timeout_ms);
void rd_kafka_metadata_destroy(const fk_md *metadata);
typedef struct { long tv_sec; long tv_nsec; } fk_fault_timespec;
int clock_gettime(int clk, fk_fault_timespec *ts);
]]
local rdkafka = ffi.load("librdkafka.so.1")

-- a monotonic clock without a process per reading (the pacing reads it 1,000 times)
local timespec = ffi.new("fk_fault_timespec")
local function now()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local results = assert(io.open("build/faults-results.txt", "a"))
local function report(line)
  print("# " .. line)
  results:write(os.date("!%Y-%m-%d %H:%M:%S UTC "), line, "\n")
  results:flush()
end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function node_pid(node)
  return tonumber(sh("bash scripts/kafka-cluster.sh pid " .. node))
end

local groups = {}
local function engine_with(topic, n_groups)
  local r = fk.new_registry()
  r:register_kafka(BROKERS, "cluster", { required_acks = -1, idempotent = true, delivery_timeout = 120, connect_timeout = 10 })
  r:register_kafka_topic(fk.new_kafka_topic(topic, "cluster"):partitions(1):replication_factor(3):min_insync_replicas(2))
  for i = 1, n_groups do
    groups[i] = support.unique("faults-group")
    r:register_kafka_consumer_group(fk.new_kafka_consumer_group(groups[i], "cluster"):topics(topic):session_timeout(6))
  end
  local engine = assert(r:validate())
  local ctx = engine:new_context()
  for _, a in ipairs(assert(fk.get_kafka_alters(ctx))) do
    -- the cluster is this test's own, but only the topic of this test is created
    if a.kind == "create_topic" and a.topic == topic then assert(a:exec(ctx)) end
  end
  return engine, engine:kafka("cluster")
end

-- The node leading partition 0 of topic, from a metadata request of a client of the pool.
local function leader_of(pool, group, topic)
  local cg = assert(pool:consumer_group(group))
  local out = ffi.new("const fk_md *[1]")
  local leader
  local deadline = os.time() + 30
  repeat
    if rdkafka.rd_kafka_metadata(cg:get_rdkafka_handle(), 1, nil, out, 5000) == 0 then
      local md = out[0]
      for i = 0, md.topic_cnt - 1 do
        local t = md.topics[i]
        if ffi.string(t.topic) == topic and t.partition_cnt > 0 and t.partitions[0].leader >= 0 then
          leader = t.partitions[0].leader
        end
      end
      rdkafka.rd_kafka_metadata_destroy(md)
    end
  until leader or os.time() > deadline
  cg:close()
  return assert(leader, "no leader for " .. topic)
end

-- Produces N records (key and value = sequence number) at RATE per second; at N/4 calls
-- fault(), at N/2 calls recover() (if given). Returns acked (set), failed count.
local function produce_under_fault(pool, topic, fault, recover)
  local acked, failed, first_error = {}, 0, nil
  local started = now()
  local function on_delivery(rec, err)
    if err then
      failed = failed + 1
      first_error = first_error or err
    else
      acked[tonumber(rec.key)] = true
    end
  end
  for i = 1, N do
    local k = tostring(i)
    assert(pool:produce({ topic = topic, key = k, value = k }, on_delivery))
    if i == math.floor(N / 4) then fault() end
    if recover and i == math.floor(N / 2) then recover() end
    if i % 100 == 0 then
      local ahead = i / RATE - (now() - started)
      if ahead > 0 then pool:poll(ahead) else pool:poll(0) end
    end
  end
  local ok, err = pool:flush(180)
  assert(ok, err)
  return acked, failed, first_error
end

-- Reads the whole topic with a new group; returns count per sequence number.
local function read_all(pool, group, want)
  local cg = assert(pool:consumer_group(group))
  local seen, total, idle_since = {}, 0, now()
  while now() - idle_since < 15 and total < want + 1000 do
    local fetches = assert(cg:poll_fetches(1, 10000))
    if not fetches:is_empty() then idle_since = now() end
    for rec in fetches:iter() do
      local i = tonumber(rec.key)
      seen[i] = (seen[i] or 0) + 1
      total = total + 1
    end
    if total >= want then
      -- anything beyond would be duplicates: give them a moment to show up
      if now() - idle_since > 3 then break end
    end
  end
  cg:close()
  return seen, total
end

local function verdict(label, acked, failed, first_error, seen)
  local n_acked, lost, dups = 0, 0, 0
  for i in pairs(acked) do
    n_acked = n_acked + 1
    if not seen[i] then lost = lost + 1 end
  end
  for _, c in pairs(seen) do if c > 1 then dups = dups + c - 1 end end
  report(("%s: %d records, %d acknowledged, %d failed%s, %d acknowledged lost, %d duplicates"):format(
    label, N, n_acked, failed, first_error and (" (first: " .. first_error .. ")") or "", lost, dups))
  return n_acked, lost, dups
end

describe("a 3-node cluster under faults", function()
  local topic = support.unique("faults-kill")
  local engine, pool

  it("SIGKILL of the partition leader loses no acknowledged record and duplicates none", function()
    engine, pool = engine_with(topic, 4)
    local leader = leader_of(pool, groups[1], topic)
    local pid = assert(node_pid(leader), "the leader's pid (node " .. leader .. ") is not one kafka-cluster.sh started")
    local acked, failed, first_error = produce_under_fault(pool, topic, function()
      assert(os.execute("kill -9 " .. pid) == 0)
    end)
    local seen = read_all(pool, groups[2], N)
    local n_acked, lost, dups = verdict(("SIGKILL of leader node %d at record %d"):format(leader, N / 4),
                                        acked, failed, first_error, seen)
    assert.is_true(n_acked > 0)
    assert.are.equal(0, lost)
    assert.are.equal(0, dups)
    sh("bash scripts/kafka-cluster.sh start-node " .. leader .. " 2>&1")
  end)

  it("a consumer killed mid-stream re-delivers at most its uncommitted batch and skips nothing", function()
    local child = ("luajit spec-faults/consumer_child.lua %s %s %s 2>/dev/null"):format(env, topic, groups[3])
    local p = assert(io.popen(child))
    local pid = tonumber(p:read("*l"):match("^pid (%d+)"))
    local processed, commits, since_commit, killed = {}, 0, 0, false
    -- the child may be ahead of what was read when it dies: what it wrote before is still in
    -- the pipe, so reading goes on to the end and counts everything it processed
    for line in p:lines() do
      if line == "c" then
        commits = commits + 1
        since_commit = 0
      else
        processed[tonumber(line:match("^r (%d+)"))] = true
        since_commit = since_commit + 1
        -- in the middle of the batch after the 20th commit
        if not killed and commits >= 20 and since_commit == 500 then
          assert(os.execute("kill -9 " .. pid) == 0)
          killed = true
        end
      end
    end
    p:close()
    assert.is_true(killed)
    local n_processed = 0
    for _ in pairs(processed) do n_processed = n_processed + 1 end
    -- the same group again, here: it starts from the last commit
    local seen = read_all(pool, groups[3], N - n_processed)
    local redelivered, missing = 0, 0
    for i in pairs(seen) do if processed[i] then redelivered = redelivered + 1 end end
    for i = 1, N do if not processed[i] and not seen[i] then missing = missing + 1 end end
    report(("consumer SIGKILLed after %d commits and %d records processed (%d after its last commit): %d re-delivered after restart, %d never delivered")
      :format(commits, n_processed, since_commit, redelivered, missing))
    assert.are.equal(0, missing)
    assert.is_true(redelivered <= 1000, "re-delivered more than one batch (1000 records)")
    assert.is_true(commits >= 20)
  end)

  it("SIGSTOP of the partition leader loses no acknowledged record and duplicates none", function()
    local stopped_topic = support.unique("faults-stop")
    local e2, p2 = engine_with(stopped_topic, 2)
    local leader = leader_of(p2, groups[1], stopped_topic)
    local pid = assert(node_pid(leader))
    local acked, failed, first_error = produce_under_fault(p2, stopped_topic, function()
      assert(os.execute("kill -STOP " .. pid) == 0)
    end, function()
      assert(os.execute("kill -CONT " .. pid) == 0)
    end)
    local seen = read_all(p2, groups[2], N)
    local n_acked, lost, dups = verdict(("SIGSTOP of leader node %d from record %d to %d"):format(leader, N / 4, N / 2),
                                        acked, failed, first_error, seen)
    e2:close()
    engine:close()
    assert.is_true(n_acked > 0)
    assert.are.equal(0, lost)
    assert.are.equal(0, dups)
  end)

  it("a consumer group reading through a SIGKILL of the partition leader reads every record once, in order", function()
    local read_topic = support.unique("faults-read")
    local e3, p3 = engine_with(read_topic, 2)
    local acked, failed = {}, 0
    for i = 1, N do
      local k = tostring(i)
      assert(p3:produce({ topic = read_topic, key = k, value = k }, function(rec, err)
        if err then failed = failed + 1 else acked[tonumber(rec.key)] = true end
      end))
      if i % 1000 == 0 then p3:poll(0) end
    end
    assert(p3:flush(120))
    assert.are.equal(0, failed)
    local leader = leader_of(p3, groups[1], read_topic)
    local pid = assert(node_pid(leader))
    local cg = assert(p3:consumer_group(groups[2]))
    local seen, count, dups, out_of_order, last = {}, 0, 0, 0, 0
    local killed, commit_failures, fetch_errors, first_problem = false, 0, 0, nil
    local idle_since = now()
    while count < N and now() - idle_since < 60 do
      local fetches = assert(cg:poll_fetches(1, 1000))
      if not fetches:is_empty() then idle_since = now() end
      for rec in fetches:iter() do
        local i = tonumber(rec.key)
        if seen[i] then dups = dups + 1 else count = count + 1 end
        seen[i] = true
        if i ~= last + 1 then out_of_order = out_of_order + 1 end
        last = i
      end
      fetches:each_error(function(_, _, err)
        fetch_errors = fetch_errors + 1
        first_problem = first_problem or err
      end)
      -- the coordinator may be the killed node: a commit can fail until another takes over
      local ok, err = cg:commit_uncommitted_offsets()
      if not ok then
        commit_failures = commit_failures + 1
        first_problem = first_problem or err
      end
      if not killed and count >= N / 4 then
        assert(os.execute("kill -9 " .. pid) == 0)
        killed = true
      end
    end
    -- once the cluster settled a commit goes through, and it is what the group reads next
    local committed, deadline = false, now() + 60
    repeat
      committed = cg:commit_uncommitted_offsets()
      if not committed then assert(cg:poll_fetches(0.2)) end   -- serves the group meanwhile
    until committed or now() > deadline
    local offsets = assert(cg:committed())
    report(("consumer reading through SIGKILL of leader node %d at record %d: %d of %d read, %d duplicates, %d out of order, %d failed commits, %d fetch errors%s; committed offset %s")
      :format(leader, N / 4, count, N, dups, out_of_order, commit_failures, fetch_errors,
              first_problem and (" (first: " .. tostring(first_problem) .. ")") or "", tostring(offsets[1] and offsets[1].offset)))
    cg:close()
    e3:close()
    sh("bash scripts/kafka-cluster.sh start-node " .. leader .. " 2>&1")
    assert.is_true(killed)
    assert.are.equal(N, count)
    assert.are.equal(0, dups)
    assert.are.equal(0, out_of_order)
    assert.is_truthy(committed)
    assert.are.equal(N, offsets[1].offset)
  end)
end)
