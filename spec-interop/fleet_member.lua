-- A Lua member of the mixed fleet in fleet_spec.lua: the async SQL consumer with its default
-- settings, "applying" each operation by appending "lua NAME <partition> <offset> <id>" (one
-- line per query: a record carries the queries flushed together for its table) to
-- APPLIED before consume commits. Stops (closing the consumer, which leaves the group) when
-- the file STOP exists. Errors that consume returns go to stderr with their code.
-- arg: brokers topic group name applied stop
local support = require "spec.support"
local brokers, topic, group, name, applied_path, stop_path = unpack(arg)

local consumer, engine = support.async_sql_consumer(brokers, "fleet", { group = group, topic = topic, session_timeout = 6 })
local applied = assert(io.open(applied_path, "a"))
applied:setvbuf("no")

io.write("pid ", support.pid(), "\n")
io.stdout:flush()

while not support.exists(stop_path) do
  local n, err, code = consumer:consume(500, 1, function(op, rec)
    -- a record carries every operation flushed together for its table, one query each
    for _, q in ipairs(op.queries) do
      applied:write(("lua %s %d %d %s\n"):format(name, rec.partition, rec.offset, tostring(q.p[1])))
    end
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
