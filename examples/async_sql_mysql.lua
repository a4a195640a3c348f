-- Async SQL flush end to end: operations are produced to Kafka with ctx:flush_async, then a
-- consumer applies each record's queries to MariaDB in one transaction (LuaSQL), sending
-- what fails for good to the dead-letter topic. `make example-async-sql` starts a private
-- MariaDB (scripts/mariadb.sh) and runs this against the local broker.
--
-- Settings (environment): FK_BROKERS (127.0.0.1:9092), FK_MYSQL_HOST/PORT/DB/USER/PASSWORD
-- (what `scripts/mariadb.sh env` prints), FK_ASYNC_SQL_TOPIC / FK_ASYNC_SQL_GROUP (FluxaORM's
-- names by default).
local fk = require "fluxakafka"
local luasql = require "luasql.mysql"

local env = os.getenv
local topic = env("FK_ASYNC_SQL_TOPIC") or fk.ASYNC_SQL_TOPIC_NAME
local group = env("FK_ASYNC_SQL_GROUP") or fk.ASYNC_SQL_CONSUMER_GROUP_NAME

local db_env = assert(luasql.mysql())
local db = assert(db_env:connect(env("FK_MYSQL_DB") or "fluxa", env("FK_MYSQL_USER") or "fluxa",
  env("FK_MYSQL_PASSWORD") or "fluxa-secret", env("FK_MYSQL_HOST") or "127.0.0.1",
  tonumber(env("FK_MYSQL_PORT") or "3407")))
assert(db:execute([[CREATE TABLE IF NOT EXISTS users (
  id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(100), balance DOUBLE, active BOOL,
  born DATETIME(6), note TEXT NULL)]]))

-- LuaSQL has no bound parameters: each ? outside quotes becomes a literal of its type.
local function literal(v)
  if v == fk.null then return "NULL" end
  if type(v) == "string" then return "'" .. db:escape(v) .. "'" end
  if type(v) == "boolean" then return v and "1" or "0" end
  if type(v) == "number" then return ("%.17g"):format(v) end
  if type(v) == "cdata" then return (tostring(v):gsub("U?LL$", "")) end
  if getmetatable(v) == fk.SqlTime then   -- RFC 3339 UTC -> DATETIME literal
    return "'" .. v.rfc3339:gsub("T", " "):gsub("Z$", "") .. "'"
  end
  error("no SQL literal for " .. tostring(v))
end

local function bind(sql, params)
  local out, n, quote = {}, 0, nil
  for i = 1, #sql do
    local c = sql:sub(i, i)
    if quote then
      if c == quote then quote = nil end
      out[#out + 1] = c
    elseif c == "'" or c == '"' or c == "`" then
      quote = c
      out[#out + 1] = c
    elseif c == "?" then
      n = n + 1
      out[#out + 1] = literal(params[n])
    else
      out[#out + 1] = c
    end
  end
  return table.concat(out)
end

-- MariaDB errors worth retrying: lost connections, deadlocks, lock time-outs.
local function transient(err)
  return err:find("gone away") or err:find("Lost connection") or err:find("Can't connect")
    or err:find("Deadlock") or err:find("Lock wait timeout")
end

local function apply(op)
  assert(db:setautocommit(false))
  for _, q in ipairs(op.queries) do
    local ok, err = db:execute(bind(q.q, q.p))
    if not ok then
      db:rollback()
      db:setautocommit(true)
      return nil, err, transient(err) and "transient" or "permanent"
    end
  end
  assert(db:commit())
  db:setautocommit(true)
  return true
end

local registry = fk.new_registry()
registry:register_kafka({ env("FK_BROKERS") or "127.0.0.1:9092" }, "events")
registry:register_async_flush("events", { topic_partitions = 1 })
local engine = assert(registry:validate())
local ctx = engine:new_context()

local id = os.time() * 1000 + math.random(999)
assert(ctx:flush_async({
  { pool = "default", table = "users", queries = {
      { q = "INSERT INTO users (id, name, balance, active, born, note) VALUES (?, ?, ?, ?, ?, ?)",
        p = { id, "O'Brien", 12.5, true, fk.sql_time("1990-05-17T08:30:00Z"), nil, n = 6 } },
      { q = "UPDATE users SET balance = balance + ? WHERE id = ?", p = { 0.25, id } } } },
  { pool = "default", table = "missing", queries = { { q = "INSERT INTO missing VALUES (?)", p = { 1 } } } },
}, { topic = topic }))
print("flushed 2 operations to " .. topic)

local consumer = assert(ctx:get_async_sql_consumer({ group = group, topic = topic }))
local handled, dead_lettered, deadline = 0, 0, os.time() + 30
while os.time() < deadline do
  local n, err, kind = consumer:consume(100, 1, function(op, record)
    local ok, why, class = apply(op)
    print(("%s %s [%d] @%d: %s"):format(ok and "applied" or class, record.key, record.partition,
      record.offset, ok and (#op.queries .. " queries") or why))
    if class == "permanent" then dead_lettered = dead_lettered + 1 end
    return ok, why, class
  end)
  if not n then print("consume stopped: " .. err .. " (" .. tostring(kind) .. ")") end
  handled = handled + (n or 0)
  local cur = assert(db:execute("SELECT name, balance, active, born FROM users WHERE id = " .. id))
  local row = cur:fetch({}, "a")
  cur:close()
  if row and dead_lettered > 0 then
    print(("users row %d: name=%s balance=%s active=%s born=%s"):format(id, row.name, row.balance, row.active, row.born))
    break
  end
end
consumer:close()
engine:close()
db:close()
db_env:close()
print(("handled %d records, %d sent to %s"):format(handled, dead_lettered, fk.ASYNC_SQL_DEAD_LETTER_TOPIC_NAME))
