-- OpenResty under a broker fault, on the 3-node cluster of scripts/kafka-cluster.sh (make
-- test-faults): one nginx worker answers produce_sync requests (acks=all, idempotent) from
-- several clients at once while the leader of the partition is SIGKILLed. Every request must
-- end with an answer (the record's offset, or an error naming its code), every acknowledged
-- record must be in the topic exactly once, and the worker must keep answering other
-- requests while the failover holds the produce requests back (they wait by yielding).
local cluster = require "spec-faults.cluster"
local nginx_support = require "spec-nginx.support"

if cluster.missing("nginx under cluster faults") then return end

local PORT = tonumber(os.getenv("FK_NGINX_FAULTS_PORT") or "18093")
local REQUESTS = tonumber(os.getenv("FAULT_REQUESTS") or "3000")
local CLIENTS = 8

local HTTP = [[
  server {
    listen 127.0.0.1:%d;
    location /ping { content_by_lua_block { ngx.say("pong") } }
    location /produce { content_by_lua_block {
      local pool = package.loaded.faults_pool
      if not pool then
        local fk = require "fluxakafka"
        local brokers = {}
        for b in os.getenv("FK_CLUSTER_BROKERS"):gmatch("[^,]+") do brokers[#brokers + 1] = b end
        local r = fk.new_registry()
        r:register_kafka(brokers, "cluster", { required_acks = -1, idempotent = true,
                                              delivery_timeout = 60, connect_timeout = 10 })
        pool = assert(r:validate()):kafka("cluster")
        package.loaded.faults_pool = pool
      end
      local rec = { topic = ngx.var.arg_topic, key = ngx.var.arg_id, value = ngx.var.arg_id }
      local ok, err, code = pool:produce_sync(rec)
      if ok then
        ngx.say("ok ", rec.offset)
      else
        ngx.status = 503
        ngx.say("error ", tostring(code), " ", tostring(err))
      end
    } }
  }
]]

describe("nginx under cluster faults", function()
  local nginx
  setup(function()
    nginx = nginx_support.start({ port = PORT, workers = 1, http = HTTP:format(PORT),
                                  main = "env FK_CLUSTER_BROKERS;" })
  end)
  teardown(function() if nginx then nginx.stop() end end)

  it("SIGKILL of the partition leader under produce_sync requests: every request answered, no acknowledged record lost or duplicated, the worker keeps answering", function()
    local topic = require("spec.support").unique("faults-nginx")
    local engine, pool, groups = cluster.engine_with(topic, 1)
    local leader = cluster.leader_of(pool, topic)
    local pid = assert(cluster.node_pid(leader))
    local out, client = os.tmpname(), os.tmpname()
    -- one request: "<id> <body> <seconds> <http status>" on one line (000: no answer in 120 s)
    local f = assert(io.open(client, "w"))
    f:write(("body=$(curl -s -m 120 -w ' %%{time_total} %%{http_code}' 'http://127.0.0.1:%d/produce?topic=%s&id='\"$1\" | tr '\\n' ' ')\n"
      .. "echo \"$1 $body\"\n"):format(PORT, topic))
    f:close()
    assert(nginx_support.sh(("seq 1 %d | xargs -P %d -n 1 sh %s >> %s 2>&1 &"):format(REQUESTS, CLIENTS, client, out)))
    local function lines()
      local n = 0
      for _ in (nginx_support.read_file(out) or ""):gmatch("\n") do n = n + 1 end
      return n
    end
    -- pings all along; the leader dies once a quarter of the requests were answered
    local killed, killed_at, slowest, slowest_after_kill, pings = false, nil, 0, 0, 0
    local finished = nginx_support.wait_for(300, function()
      local _, body, took = nginx_support.get(PORT, "/ping")
      assert(body == "pong\n", "ping answered " .. tostring(body))
      pings = pings + 1
      if took > slowest then slowest = took end
      if killed and took > slowest_after_kill then slowest_after_kill = took end
      local answered = lines()
      if not killed and answered >= REQUESTS / 4 then
        assert(os.execute("kill -9 " .. pid) == 0)
        killed, killed_at = true, answered
      end
      return answered >= REQUESTS
    end, 0.02)
    assert(finished, "only " .. lines() .. " of " .. REQUESTS .. " requests were answered")

    local acked, errors, bad, first_error, longest = {}, 0, 0, nil, 0
    for line in io.lines(out) do
      local id, body, took, status = line:match("^(%d+) (.-)%s+([%d.]+)%s+(%d%d%d)%s*$")
      if took and tonumber(took) > longest then longest = tonumber(took) end
      if status == "200" and body:match("^ok %d+") then
        acked[tonumber(id)] = true
      elseif status == "503" and body:match("^error %S+ ") then
        errors = errors + 1
        first_error = first_error or body
      else
        bad = bad + 1
        first_error = first_error or line
      end
    end
    os.remove(out)
    os.remove(client)

    -- read the topic back
    local cg = assert(pool:consumer_group(groups[1]))
    local seen, total, n_acked = {}, 0, 0
    for _ in pairs(acked) do n_acked = n_acked + 1 end
    local idle_since = cluster.now()
    while cluster.now() - idle_since < 10 do
      local fetches = assert(cg:poll_fetches(1))
      if not fetches:is_empty() then idle_since = cluster.now() end
      for rec in fetches:iter() do
        local i = tonumber(rec.key)
        seen[i] = (seen[i] or 0) + 1
        total = total + 1
      end
      if total >= n_acked and cluster.now() - idle_since > 3 then break end
    end
    cg:close()
    engine:close()
    cluster.start_node(leader)
    local lost, dups = 0, 0
    for i in pairs(acked) do if not seen[i] then lost = lost + 1 end end
    for _, c in pairs(seen) do if c > 1 then dups = dups + c - 1 end end
    cluster.report(("nginx, 1 worker, %d clients: SIGKILL of leader node %d after %d of %d requests: %d acknowledged, %d answered with an error%s, %d malformed, %d acknowledged lost, %d duplicates; longest request %.3f s; %d pings, slowest %.3f s (%.3f s after the kill)")
      :format(CLIENTS, leader, killed_at or -1, REQUESTS, n_acked, errors,
              first_error and (" (first: " .. first_error .. ")") or "", bad, lost, dups, longest, pings, slowest,
              slowest_after_kill))
    assert.is_true(killed)
    assert.are.equal(0, bad)
    assert.are.equal(REQUESTS, n_acked + errors)
    assert.is_true(n_acked > REQUESTS / 2, "most requests should be acknowledged")
    assert.are.equal(0, lost)
    assert.are.equal(0, dups)
    -- the failover holds produce requests back for seconds (the controller waits 3 s for the
    -- dead node's heartbeat); a blocked worker would hold the pings as long
    assert.is_true(longest >= 1.5, "no request waited for the failover (longest " .. longest .. " s)")
    assert.is_true(slowest_after_kill < 1, "a ping took " .. slowest_after_kill .. " s after the kill")
  end)
end)
