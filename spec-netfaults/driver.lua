-- The fault driver of the network-fault specs (netfaults.play): plays a schedule of toxiproxy
-- API calls at their times, in a process of its own so that a Lua thread blocked in the spec
-- never delays a fault. Arguments: the API's host:port and the schedule file (lines
-- "seconds<TAB>method<TAB>path<TAB>body"). Prints one line per call: seconds, status, path.
local socket = require "socket"
local call = require "spec-netfaults.toxiproxy"

local api, file = arg[1], arg[2]
local started = socket.gettime()
for line in io.lines(file) do
  local at, method, path, body = line:match("^([%d.]+)\t(%u+)\t([^\t]+)\t(.*)$")
  local wait = started + tonumber(at) - socket.gettime()
  if wait > 0 then socket.sleep(wait) end
  local status = call(api, method, path, body ~= "" and body or nil)
  io.write(("%.2f %s %s %s\n"):format(socket.gettime() - started, tostring(status), method, path))
  io.flush()
end
