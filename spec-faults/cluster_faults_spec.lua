-- Fault test on the 3-node cluster of scripts/kafka-cluster.sh (make test-faults): the leader
-- of the partition being written is killed (SIGKILL) or stopped (SIGSTOP) while 100,000
-- records are produced at 5,000/s with acks=all; then every acknowledged record must be in
-- the topic exactly once. A consumer killed mid-stream must, on restart of its group,
-- re-deliver at most its one uncommitted batch and skip nothing. A consumer group reading
-- while the leader of its partition is killed must read every record once, in order, and
-- its commits must survive. Only processes that kafka-cluster.sh started (and the child
-- consumer started here) are signalled.
--
-- The numbers are printed as TAP comments and written to build/faults-results.txt.
-- Duplicates are counted, not hidden. The producer is idempotent (idempotent = true): without
-- it a retry on the new leader can write a batch twice (seen once in two runs).
local support = require "spec.support"
local cluster = require "spec-faults.cluster"

if cluster.missing("cluster faults") then return end

local N = tonumber(os.getenv("FAULT_RECORDS") or "100000")
local RATE = tonumber(os.getenv("FAULT_RATE") or "5000")
local now, report, node_pid = cluster.now, cluster.report, cluster.node_pid
local engine_with, leader_of = cluster.engine_with, cluster.leader_of

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
  local engine, pool, groups

  it("SIGKILL of the partition leader loses no acknowledged record and duplicates none", function()
    engine, pool, groups = engine_with(topic, 4)
    local leader = leader_of(pool, topic)
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
    cluster.start_node(leader)
  end)

  it("a consumer killed mid-stream re-delivers at most its uncommitted batch and skips nothing", function()
    local child = ("luajit spec-faults/consumer_child.lua %s %s %s 2>/dev/null"):format(cluster.env, topic, groups[3])
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
    local e2, p2, g2 = engine_with(stopped_topic, 2)
    local leader = leader_of(p2, stopped_topic)
    local pid = assert(node_pid(leader))
    local acked, failed, first_error = produce_under_fault(p2, stopped_topic, function()
      assert(os.execute("kill -STOP " .. pid) == 0)
    end, function()
      assert(os.execute("kill -CONT " .. pid) == 0)
    end)
    local seen = read_all(p2, g2[2], N)
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
    local e3, p3, g3 = engine_with(read_topic, 1)
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
    local leader = leader_of(p3, read_topic)
    local pid = assert(node_pid(leader))
    local cg = assert(p3:consumer_group(g3[1]))
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
    cluster.start_node(leader)
    assert.is_true(killed)
    assert.are.equal(N, count)
    assert.are.equal(0, dups)
    assert.are.equal(0, out_of_order)
    assert.is_truthy(committed)
    assert.are.equal(N, offsets[1].offset)
  end)
end)
