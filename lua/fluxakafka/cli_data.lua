--- The command line's commands on one cluster's data, without joining any group:
-- `describe topic|group NAME...`, `lag GROUP`, `consume TOPIC`, `produce TOPIC`.
local common = require "fluxakafka.cli_common"

local json, array, quote, NULL = common.json, common.array, common.quote, common.NULL

local M = {}

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end

-- ------------------------------------------------------------------ describe

local function partition_line(p)
  return ("    partition %d: leader %d, replicas %s, isrs %s\n"):format(p.id, p.leader,
    table.concat(p.replicas, ","), table.concat(p.isrs, ","))
end

local function print_topic(out, t)
  out:write(("Topic '%s': %s\n"):format(t.name, plural(#t.partitions, "partition")))
  for _, p in ipairs(t.partitions) do out:write(partition_line(p)) end
  local names, defaults = {}, 0
  for name, c in pairs(t.configs) do
    if c.is_default then defaults = defaults + 1 else names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local c = t.configs[name]
    out:write(("    %s = %s (%s)\n"):format(name, c.is_sensitive and "(sensitive)" or quote(c.value), c.source))
  end
  out:write(("    %s at their defaults (--json lists every config)\n"):format(plural(defaults, "config")))
end

local function topic_json(t)
  t.partitions = array(t.partitions)
  for _, p in ipairs(t.partitions) do p.replicas, p.isrs = array(p.replicas), array(p.isrs) end
  for _, c in pairs(t.configs) do if c.value == nil then c.value = NULL end end
  return t
end

local function assignment_text(assignment)
  local by_topic, topics = {}, {}
  for _, a in ipairs(assignment) do
    if not by_topic[a.topic] then by_topic[a.topic] = {} topics[#topics + 1] = a.topic end
    table.insert(by_topic[a.topic], a.partition)
  end
  table.sort(topics)
  local parts = {}
  for _, name in ipairs(topics) do
    table.sort(by_topic[name])
    parts[#parts + 1] = ("%s[%s]"):format(name, table.concat(by_topic[name], ","))
  end
  return #parts > 0 and table.concat(parts, " ") or "nothing assigned"
end

local function print_group(out, g)
  local c = g.coordinator
  out:write(("Group '%s': state %s, protocol type %s, protocol %s, coordinator %s, %s\n"):format(g.name, g.state,
    g.protocol_type ~= "" and g.protocol_type or "-", g.protocol ~= "" and g.protocol or "-",
    c and c.id and ("%d (%s:%d)"):format(c.id, c.host, c.port) or "-", plural(#g.members, "member")))
  for _, m in ipairs(g.members) do
    out:write(("    member %s: client id %s, host %s: %s\n"):format(m.id, m.client_id, m.host,
      assignment_text(m.assignment)))
  end
end

local function group_json(g)
  g.members = array(g.members)
  for _, m in ipairs(g.members) do m.assignment = array(m.assignment) end
  return g
end

local DESCRIBE = {
  topic = { call = "describe_topics", key = "topics", print = print_topic, to_json = topic_json },
  group = { call = "describe_groups", key = "groups", print = print_group, to_json = group_json },
}

function M.describe(o, pool, out)
  local what, names = o.args[1], { unpack(o.args, 2) }
  local kind = DESCRIBE[what]
  if not kind or #names == 0 then return nil, "describe: give `topic NAME...` or `group NAME...`" end
  local list, err = pool[kind.call](pool, names)
  if not list then return nil, err end
  if o.json then
    for i, item in ipairs(list) do list[i] = kind.to_json(item) end
    out:write(json({ [kind.key] = array(list) }), "\n")
  else
    for _, item in ipairs(list) do kind.print(out, item) end
  end
  return 0
end

-- ------------------------------------------------------------------ lag

function M.lag(o, pool, out)
  local group = o.args[1]
  if not group or o.args[2] then return nil, "lag: give one consumer group" end
  local list, err = pool:group_lag(group)
  if not list then return nil, err end
  local total = 0
  for _, p in ipairs(list) do total = total + p.lag end
  if o.json then
    for _, p in ipairs(list) do if p.committed == nil then p.committed = NULL end end
    out:write(json({ group = group, total_lag = total, partitions = array(list) }), "\n")
    return 0
  end
  out:write(("Group '%s': total lag %d over %s\n"):format(group, total, plural(#list, "partition")))
  for _, p in ipairs(list) do
    out:write(("    %s[%d]: committed %s, high %d, lag %d\n"):format(p.topic, p.partition,
      p.committed and tostring(p.committed) or "-", p.high, p.lag))
  end
  return 0
end

-- ------------------------------------------------------------------ consume

-- Days from 1970-01-01 to a date of the proleptic Gregorian calendar (a civil-calendar
-- formula: years counted from March, so that the leap day ends a year).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m > 2 and m - 3 or m + 9) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- "@MS" or "@YYYY-MM-DDTHH:MM:SS[.fff][Z]" (UTC): ms since the epoch; nil when neither
local function parse_time(text)
  local ms = text:match("^@(%d+)$")
  if ms then return tonumber(ms) end
  local y, mo, d, h, mi, s, frac = text:match("^@(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)%.?(%d*)Z?$")
  if not y then return nil end
  local seconds = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + h * 3600 + mi * 60 + s
  return seconds * 1000 + math.floor(tonumber("0." .. (frac ~= "" and frac or "0")) * 1000 + 0.5)
end

--- --offset's text as pool:read's start; nil, err when it is none of the forms.
function M.parse_start(text)
  if text == nil or text == "beginning" or text == "end" then return text or "beginning" end
  local n = text:match("^%-?%d+$") and tonumber(text)
  if n then return n end
  local ms = parse_time(text)
  if ms then return { timestamp = ms } end
  return nil, ("--offset: expected an offset, beginning, end, -N, @MS or @YYYY-MM-DDTHH:MM:SSZ, got '%s'"):format(text)
end

local function iso_time(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) .. (".%03dZ"):format(ms % 1000)
end

local function record_line(r)
  local line = ("partition=%d offset=%d timestamp=%s key=%s value=%s"):format(r.partition, r.offset,
    iso_time(r.timestamp), quote(r.key), quote(r.value))
  if r.headers and #r.headers > 0 then
    local hs = {}
    for i, h in ipairs(r.headers) do hs[i] = quote(h.key) .. "=" .. quote(h.value) end
    line = line .. " headers={" .. table.concat(hs, ", ") .. "}"
  end
  return line .. "\n"
end

local function record_json(r)
  local headers = array()
  for i, h in ipairs(r.headers or {}) do headers[i] = { key = h.key, value = h.value == nil and NULL or h.value } end
  return { partition = r.partition, offset = r.offset, timestamp = r.timestamp, headers = headers,
           key = r.key == nil and NULL or r.key, value = r.value == nil and NULL or r.value }
end

-- the partitions to read: --partition, or every partition of the topic
local function partitions_of(o, pool, topic)
  if o.partition then return { o.partition } end
  local topics, err = pool:describe_topics({ topic })
  if not topics then return nil, err end
  local ids = {}
  for i, p in ipairs(topics[1].partitions) do ids[i] = p.id end
  table.sort(ids)
  return ids
end

function M.consume(o, pool, out)
  local topic = o.args[1]
  if not topic or o.args[2] then return nil, "consume: give one topic" end
  local start, serr = M.parse_start(o.offset)
  if not start then return nil, serr end
  local ids, err = partitions_of(o, pool, topic)
  if not ids then return nil, err end
  local records = array()
  for _, id in ipairs(ids) do
    local recs, rerr = pool:read(topic, id, start, { count = o.count or 100, timeout = o.timeout or 1 })
    if not recs then return nil, rerr end
    for _, r in ipairs(recs) do
      if o.json then records[#records + 1] = record_json(r) else out:write(record_line(r)) end
    end
  end
  if o.json then out:write(json({ topic = topic, records = records }), "\n") end
  return 0
end

-- ------------------------------------------------------------------ produce

-- one stdin line as a record: key and value split at the first separator, when one is given
local function line_record(o, topic, line)
  local rec = { topic = topic, partition = o.partition, value = line }
  if o.key_separator then
    local at = line:find(o.key_separator, 1, true)
    if at then rec.key, rec.value = line:sub(1, at - 1), line:sub(at + #o.key_separator) end
  end
  if o.null_empty and rec.value == "" then rec.value = nil end
  return rec
end

function M.produce(o, pool, out, err_out, stdin)
  local topic = o.args[1]
  if not topic or o.args[2] then return nil, "produce: give one topic" end
  -- a topic (or partition) that does not exist fails here, rather than after delivery_timeout
  local ok, err = pool:watermarks(topic, o.partition or 0)
  if not ok then return nil, err end
  local report = { topic = topic, produced = 0, failed = 0, errors = array() }
  local function failed(n, msg, code)
    report.failed = report.failed + 1
    report.errors[#report.errors + 1] = { line = n, error = tostring(msg), code = code or NULL }
  end
  local n = 0
  for line in stdin:lines() do
    n = n + 1
    local line_no = n
    local queued, perr, pcode = pool:produce(line_record(o, topic, line), function(_, derr, dcode)
      if derr then failed(line_no, derr, dcode) else report.produced = report.produced + 1 end
    end)
    if not queued then failed(line_no, perr, pcode) end
  end
  pool:close()   -- delivers what is buffered; every callback has run when it returns
  if o.json then
    out:write(json(report), "\n")
  else
    for _, e in ipairs(report.errors) do err_out:write(("fluxakafka: line %d: %s\n"):format(e.line, e.error)) end
    out:write(("Produced %s to '%s'%s.\n"):format(plural(report.produced, "record"), topic,
      report.failed > 0 and (", " .. report.failed .. " failed") or ""))
  end
  return report.failed > 0 and 1 or 0
end

--- Runs one of the commands above on the pool of --brokers; returns the exit code.
function M.run(o, out, err_out, stdin)
  local engine, pool = common.default_pool(o)
  if not engine then
    err_out:write("fluxakafka: ", o.command, ": ", pool, "\n")
    return 1
  end
  local code, err = M[o.command](o, pool, out, err_out, stdin)
  engine:close()
  if not code then
    err_out:write("fluxakafka: ", o.command, ": ", tostring(err), "\n")
    return 1
  end
  return code
end

return M
