-- One nginx worker producing through a bad network (make test-netfaults): 8 clients send
-- produce_sync requests (a pool through toxiproxy, default timeouts) for 35 s while every
-- connection is reset every 2 s for 8 s, then the link is a black hole for 10 s. Proves:
--   * every request is answered: the record's offset, or an error naming its code and the
--     record's persisted status;
--   * no acknowledged record is missing from the topic (read back through the clean listener);
--   * a failed request whose record is in the topic said "possibly" persisted;
--   * no request failed before the delivery timeout, none after the link healed;
--   * the worker keeps serving other requests meanwhile (produce_sync yields): the slowest ping
--     is the longest the worker's Lua thread was held.
local nf = require "spec-netfaults.netfaults"
local nginx_support = require "spec-nginx.support"
local support = require "spec.support"
local socket = require "socket"

if nf.missing("one nginx worker through network faults") then return end

local CLIENTS = 8
local LOAD_SECONDS = 35
local HEALED_AT = 22

local HTTP = [[
  server {
    listen 127.0.0.1:%d;
    location /ping { content_by_lua_block { ngx.say("pong") } }
    location /produce { content_by_lua_file %s/spec-netfaults/nginx_produce.lua; }
  }
]]

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- The clients: each sends requests one after another until `until_wall` (seconds since the
-- epoch) and writes one line per request, "<id> <start> <body> <seconds> <http status>".
-- Returns the output file and the file written when all of them ended.
local function start_clients(port, topic, until_wall)
  local out, done, client = os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(done)
  local f = assert(io.open(client, "w"))
  f:write(([[
i=0
while [ "$(date +%%s)" -lt %d ]; do
  i=$((i+1)); t=$(date +%%s.%%N)
  body=$(curl -s -m 120 -w ' %%{time_total} %%{http_code}' "http://127.0.0.1:%d/produce?topic=%s&id=$1-$i" | tr '\n' ' ')
  echo "$1-$i $t $body"
done
]]):format(until_wall, port, topic))
  f:close()
  assert(nginx_support.sh(("(for c in $(seq 1 %d); do sh %s $c >> %s 2>&1 & done; wait; rm -f %s; touch %s) &")
    :format(CLIENTS, client, out, client, done)))
  return out, done
end

describe("one nginx worker through network faults", function()
  local nginx, port
  setup(function()
    port = free_port()
    nginx = nginx_support.start({ port = port, workers = 1, http = HTTP:format(port, nginx_support.root),
                                  main = "env FK_NETFAULTS_PROXY;" })
  end)
  teardown(function() if nginx then nginx.stop() end end)

  it("resets, then a 10 s black hole, under produce_sync requests: every request answered, nothing lost, the worker keeps answering", function()
    nf.reset_proxy()
    local topic = support.unique("netfaults-nginx")
    local engine, _, clean = nf.engine(topic)
    local delivery_timeout = clean:get_pool_options().delivery_timeout
    local wall0 = support.now()
    local finish = nf.play((function()
      local s = nf.black_hole(12, HEALED_AT)
      for t = 2, 8, 2 do
        s[#s + 1] = nf.toxic(t, "reset", "reset_peer", '{"timeout":0}')
        s[#s + 1] = nf.untoxic(t + 0.2, "reset")
      end
      return s
    end)())
    local out, done = start_clients(port, topic, math.ceil(wall0 + LOAD_SECONDS))
    local slowest_ping, pings = 0, 0
    local ended = nf.wait_for(LOAD_SECONDS + delivery_timeout + 60, function()
      local _, body, took = nginx_support.get(port, "/ping")
      assert(body == "pong\n", "ping answered " .. tostring(body))
      pings = pings + 1
      slowest_ping = math.max(slowest_ping, took)
      return support.exists(done)
    end)
    local note = nf.driver_note(finish())
    assert(ended, "the clients did not end")
    os.remove(done)

    local results, bad = {}, 0
    for line in io.lines(out) do
      local id, start, body, took, status = line:match("^(%S+) ([%d.]+) (.-)%s+([%d.]+)%s+(%d%d%d)%s*$")
      local r = { at = tonumber(start) - wall0, callbacks = 1 }
      r.done = r.at + tonumber(took or 0)
      if status == "200" and body:match("^ok %d+") then
        results[id] = r
      elseif status == "503" and body:match("^error %S+ %S+ ") then
        r.code, r.persisted = body:match("^error (%S+) (%S+) ")
        r.err = body
        results[id] = r
      else
        bad = bad + 1
      end
    end
    os.remove(out)
    local seen = nf.read_back(engine, topic)
    engine:close(5)
    -- the clients' clock starts at wall0: `started` 0 and healed_at in the same seconds
    local c = nf.count(results, seen, delivery_timeout, 0, HEALED_AT)
    c.scenario = "nginx worker, resets then black hole 10 s"
    c.longest_async = slowest_ping
    c.note = ("%s; %d malformed answers; %d pings, slowest %.3f s"):format(note, bad, pings, slowest_ping)
    nf.report(c)
    assert.are.equal(0, bad, "requests without a well-formed answer")
    nf.assert_promises(c, { delivery_timeout = delivery_timeout })
  end)
end)
