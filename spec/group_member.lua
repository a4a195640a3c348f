-- A member of the consumer group of spec/group_commit_spec.lua: the async SQL consumer with
-- its default settings (but a short session), taking 3 ms per operation. It writes
-- to LOG, each line stamped with the monotonic clock (seconds, comparable between processes):
--   "pid <n>" first, "<t> r <partition> <offset>" for each record handed to the handler,
--   "<t> c <partition>:<offset> ..." once consume returned success (the positions after the
--   batch, committed), "<t> e <code> <message>" when it returned an error, "<t> closed" after a
--   graceful close, which it does when the file STOP exists.
-- arg: brokers topic group session_timeout log stop
local support = require "spec.support"

local brokers, topic, group, session, log_path, stop_path = unpack(arg)
local log = assert(io.open(log_path, "a"))
log:setvbuf("no")
local function stamp() return ("%.6f"):format(support.monotonic()) end

log:write("pid ", support.pid(), "\n")
local consumer, engine = support.async_sql_consumer(brokers, "events",
  { group = group, topic = topic, session_timeout = tonumber(session) })

while not support.exists(stop_path) do
  local positions = {}
  local n, err, code = consumer:consume(50, 0.2, function(_, rec)
    log:write(stamp(), " r ", rec.partition, " ", rec.offset, "\n")
    positions[rec.partition] = rec.offset + 1
    support.sleep_ms(3)
    return true
  end)
  if not n then
    log:write(stamp(), " e ", tostring(code), " ", tostring(err), "\n")
  elseif n > 0 then
    local parts = {}
    for p, o in pairs(positions) do parts[#parts + 1] = p .. ":" .. o end
    log:write(stamp(), " c ", table.concat(parts, " "), "\n")
  end
end
consumer:close()
engine:close()
log:write(stamp(), " closed\n")
