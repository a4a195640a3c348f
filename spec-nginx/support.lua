-- For the nginx specs: a real nginx (Debian's, with lua-nginx-module) started with a
-- configuration of the spec's own in a temporary prefix, and a small HTTP client.
local socket = require "socket"

local M = {}

M.root = os.getenv("PWD")
M.brokers = os.getenv("FK_TEST_BROKERS") or "127.0.0.1:9092"
M.nginx = os.getenv("FK_NGINX") or "nginx"

local MODULE_DIRS = { "/usr/lib/nginx/modules", "/usr/local/openresty/nginx/modules" }

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end
M.sh = sh

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
M.read_file = read_file

function M.now()
  return socket.gettime()
end

-- Waits for cond() up to seconds; returns its last value.
function M.wait_for(seconds, cond, step)
  local deadline = M.now() + seconds
  local v = cond()
  while not v and M.now() < deadline do
    socket.sleep(step or 0.05)
    v = cond()
  end
  return v
end

-- The load_module lines for the Lua module (Debian builds it as a dynamic module).
local function module_lines()
  for _, dir in ipairs(MODULE_DIRS) do
    if read_file(dir .. "/ngx_http_lua_module.so") then
      return ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;\n"):format(dir, dir)
    end
  end
  return ""   -- OpenResty: built in
end

local function port_open(port)
  local c = socket.tcp()
  c:settimeout(0.2)
  local ok = c:connect("127.0.0.1", port)
  c:close()
  return ok ~= nil
end

-- A port that takes connections (the kernel completes them) but never answers: a broker that
-- cannot be reached, where a refused connection would fail at once. Returns "host:port" and
-- the listening socket (close it when done).
function M.silent_listener()
  local server = assert(socket.bind("127.0.0.1", 0, 128))
  local _, port = server:getsockname()
  return "127.0.0.1:" .. port, server
end

-- Starts nginx with `http` as the body of its http block (the spec's servers) and `main` as
-- extra main-level directives; `lua_path_first`, when given, comes first on lua_package_path.
-- Returns a handle: prefix, port, pid(), stop(), reload(), log().
function M.start(opts)
  local prefix = os.tmpname()
  os.remove(prefix)
  assert(sh("mkdir -p " .. prefix .. "/conf " .. prefix .. "/logs"))
  local conf = module_lines() .. ([[
worker_processes %d;
error_log logs/error.log %s;
pid logs/nginx.pid;
env FK_TEST_BROKERS;
%s
events { worker_connections 2048; }
http {
  access_log logs/access.log;
  lua_package_path "%s%s/lua/?.lua;%s/spec-nginx/?.lua;;";
  lua_package_cpath "%s;;";
  lua_shared_dict results 10m;
%s
}
]]):format(opts.workers or 2, opts.log_level or "info", opts.main or "",
           opts.lua_path_first and (opts.lua_path_first .. ";") or "", M.root, M.root,
           os.getenv("FK_TEST_CPATH") or (M.root .. "/build/?.so"), opts.http)
  local f = assert(io.open(prefix .. "/conf/nginx.conf", "w"))
  f:write(conf)
  f:close()
  assert(not port_open(opts.port), "port " .. opts.port .. " is already taken")
  local ok = sh(("%s -p %s -c conf/nginx.conf 2>%s/logs/stderr.log"):format(M.nginx, prefix, prefix))
  assert(ok, "nginx did not start: " .. tostring(read_file(prefix .. "/logs/stderr.log"))
         .. tostring(read_file(prefix .. "/logs/error.log")))
  assert(M.wait_for(10, function() return port_open(opts.port) end), "nginx does not answer on " .. opts.port)
  local h = { prefix = prefix, port = opts.port }
  function h.pid()
    return tonumber(read_file(prefix .. "/logs/nginx.pid") or "")
  end
  function h.signal(sig)
    return sh(("%s -p %s -c conf/nginx.conf -s %s 2>>%s/logs/stderr.log"):format(M.nginx, prefix, sig, prefix))
  end
  function h.running()
    local pid = h.pid()
    return pid and sh("kill -0 " .. pid .. " 2>/dev/null")
  end
  function h.stop()
    local pid = h.pid()
    if not pid then return end
    h.signal("quit")
    if not M.wait_for(60, function() return not sh("kill -0 " .. pid .. " 2>/dev/null") end) then
      sh("kill -9 " .. pid)
    end
  end
  function h.log() return read_file(prefix .. "/logs/error.log") or "" end
  function h.access_log() return read_file(prefix .. "/logs/access.log") or "" end
  function h.stderr() return read_file(prefix .. "/logs/stderr.log") or "" end
  -- the pids of the worker processes (children of the master)
  function h.workers()
    local pids = {}
    local p = io.popen("pgrep -P " .. h.pid())
    for line in p:lines() do pids[#pids + 1] = tonumber(line) end
    p:close()
    return pids
  end
  return h
end

-- Threads of a process, from /proc.
function M.threads(pid)
  local s = read_file("/proc/" .. pid .. "/status") or ""
  return tonumber(s:match("Threads:%s+(%d+)"))
end

-- GET path; returns status, body, seconds taken.
function M.get(port, path, timeout)
  local t0 = M.now()
  local c = socket.tcp()
  c:settimeout(timeout or 30)
  assert(c:connect("127.0.0.1", port))
  c:send("GET " .. path .. " HTTP/1.0\r\nHost: test\r\n\r\n")
  local data = c:receive("*a")
  c:close()
  local status = tonumber((data or ""):match("^HTTP/1%.%d (%d+)"))
  local body = (data or ""):match("\r\n\r\n(.*)$") or ""
  return status, body, M.now() - t0
end

-- Sends every path at once (one connection each) and returns { {status, body}, ... } in order.
function M.get_all(port, paths, timeout)
  local conns, results, pending = {}, {}, 0
  for i, path in ipairs(paths) do
    local c = socket.tcp()
    c:settimeout(5)
    assert(c:connect("127.0.0.1", port))
    c:send("GET " .. path .. " HTTP/1.0\r\nHost: test\r\n\r\n")
    c:settimeout(0)
    conns[i] = { sock = c, buf = {} }
    pending = pending + 1
  end
  local deadline = M.now() + (timeout or 60)
  while pending > 0 and M.now() < deadline do
    local socks = {}
    for _, conn in pairs(conns) do if not conn.done then socks[#socks + 1] = conn.sock end end
    local readable = socket.select(socks, nil, 1)
    for _, s in ipairs(readable) do
      for i, conn in pairs(conns) do
        if conn.sock == s then
          local data, err, partial = s:receive(65536)
          local chunk = data or partial
          if chunk and #chunk > 0 then conn.buf[#conn.buf + 1] = chunk end
          if err == "closed" then
            conn.done = true
            pending = pending - 1
            s:close()
            local all = table.concat(conn.buf)
            results[i] = { tonumber(all:match("^HTTP/1%.%d (%d+)")), all:match("\r\n\r\n(.*)$") or "" }
          end
        end
      end
    end
  end
  return results
end

return M
