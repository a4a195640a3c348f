-- A Lua member of the mixed fleet in fleet_spec.lua: the async SQL consumer with its default
-- settings, "applying" each operation by appending "lua NAME <partition> <offset> <id>" to
-- APPLIED before consume commits. Stops (closing the consumer, which leaves the group) when
-- the file STOP exists. Errors that consume returns go to stderr with their code.
-- arg: brokers topic group name applied stop
local fk = require "fluxakafka"
local brokers, topic, group, name, applied_path, stop_path = unpack(arg)

local list = {}
for b in brokers:gmatch("[^,]+") do list[#list + 1] = b end
local r = fk.new_registry()
r:register_kafka(list, "fleet")
r:register_async_flush("fleet")
local engine = assert(r:validate())
local ctx = engine:new_context()
local consumer = assert(ctx:get_async_sql_consumer({ group = group, topic = topic, session_timeout = 6 }))
local applied = assert(io.open(applied_path, "a"))
applied:setvbuf("no")

local f = io.open("/proc/self/stat")
io.write("pid ", f:read("*a"):match("^(%d+)"), "\n")
f:close()
io.stdout:flush()

local function stopped()
  local s = io.open(stop_path)
  if s then s:close() end
  return s ~= nil
end

while not stopped() do
  local n, err, code = consumer:consume(500, 1, function(op, rec)
    applied:write(("lua %s %d %d %s\n"):format(name, rec.partition, rec.offset, tostring(op.queries[1].p[1])))
    return true
  end)
  if not n then
    io.stderr:write(("consume: %s (%s)\n"):format(tostring(err), tostring(code)))
    io.stderr:flush()
  end
end
consumer:close()
engine:close()
io.write("closed\n")
