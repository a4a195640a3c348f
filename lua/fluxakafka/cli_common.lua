--- What the command line's commands share: JSON, quoting of bytes, broker lists, the one
-- pool of `--brokers`, and the logger that keeps librdkafka's own text off the terminal.
local fk = require "fluxakafka"

local M = {}

M.NULL = fk.null   -- a JSON null where a table field must be present

-- the length of the UTF-8 sequence starting at s[i] (a lead byte and its continuation bytes);
-- nil when there is none
local function utf8_length(s, i)
  local c = s:byte(i)
  local n = c >= 0xF0 and c <= 0xF4 and 4 or c >= 0xE0 and c < 0xF0 and 3 or c >= 0xC2 and c < 0xE0 and 2 or nil
  if not n then return nil end
  for j = i + 1, i + n - 1 do
    local d = s:byte(j)
    if not d or d < 0x80 or d > 0xBF then return nil end
  end
  return n
end

local JSON_NAMED = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- A JSON string of the bytes of s: well-formed UTF-8 as it is, any other byte as \u00XX
-- (JSON has no bytes, so a consumer decoding it reads that byte as a Latin-1 character).
local function json_string(s)
  local parts, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c >= 0x80 and utf8_length(s, i)
    if len then
      parts[#parts + 1] = s:sub(i, i + len - 1)
      i = i + len
    else
      local ch = s:sub(i, i)
      parts[#parts + 1] = JSON_NAMED[ch] or ((c < 0x20 or c >= 0x7f) and ("\\u%04x"):format(c) or ch)
      i = i + 1
    end
  end
  return '"' .. table.concat(parts) .. '"'
end

--- Just enough JSON: strings, numbers, booleans, arrays (see M.array), objects; anything
-- else (M.NULL) is null.
function M.json(v)
  local t = type(v)
  if t == "string" then
    return json_string(v)
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    if v[1] ~= nil or next(v) == nil and getmetatable(v) == "array" then
      local parts = {}
      for i = 1, #v do parts[i] = M.json(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys, parts = {}, {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = json_string(tostring(k)) .. ":" .. M.json(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end

--- Marks t (or a new table) as a JSON array, so that an empty one is [] and not {}.
function M.array(t) return setmetatable(t or {}, { __metatable = "array" }) end

--- A byte string quoted for one line of text: printable ASCII as it is, `"` and `\` escaped,
-- other control bytes as \n, \t, \r or \xHH; bytes from 0x80 up are kept (UTF-8 text stays
-- readable). nil (a Kafka null) is `null`.
function M.quote(s)
  if s == nil or s == fk.null then return "null" end
  return '"' .. s:gsub('[%c"\\\127]', function(ch)
    return JSON_NAMED[ch] or ("\\x%02x"):format(ch:byte())
  end) .. '"'
end

function M.split_list(text)
  local list = {}
  for item in text:gmatch("[^,%s]+") do list[#list + 1] = item end
  return list
end

--- The brokers of --brokers or FLUXAKAFKA_BROKERS; nil when neither is set.
function M.brokers(o)
  local brokers = o.brokers or os.getenv("FLUXAKAFKA_BROKERS")
  if brokers and brokers ~= "" then return brokers end
  return nil
end

--- An engine with one pool, `default`, on the brokers given: engine, pool; or nil, err.
function M.default_pool(o)
  local brokers = M.brokers(o)
  if not brokers then return nil, "give the brokers with --brokers=HOST:PORT,... (or FLUXAKAFKA_BROKERS)" end
  local list = M.split_list(brokers)
  if #list == 0 then return nil, "--brokers: no broker given" end
  local registry = fk.new_registry()
  registry:register_kafka(list, "default")
  local engine, err = registry:validate()
  if not engine then return nil, "invalid registry: " .. tostring(err) end
  return engine, engine:kafka("default")
end

-- A log line without the bracketed prefixes librdkafka puts before its text (the client's
-- name, its thread): what is left says what happened.
local function log_text(message)
  local text = message
  repeat
    local rest = text:match("^%[[^%]]*%]:?%s*(.*)$")
    text = rest or text
  until not rest
  return text
end

--- Sends the library's log lines (librdkafka's and fluxakafka's own) to the command line:
-- with `verbose` each is written to err_out in the command's wording, otherwise the errors
-- among them are counted and the last one kept, for M.log_summary. Returns that record.
function M.install_logger(err_out, verbose)
  local hidden = { errors = 0 }
  fk.set_logger(function(level, facility, message, pool)
    if verbose then
      local client = message:match("^%[([^%]]*)%]")
      err_out:write(("fluxakafka: log of pool '%s'%s, %s (level %d): %s\n"):format(pool,
        client and (" client " .. client) or "", facility, level, log_text(message)))
    elseif level <= 3 then
      hidden.errors = hidden.errors + 1
      hidden.last = log_text(message)
    end
  end)
  return hidden
end

--- After a command that failed (exit code 1): the last error the Kafka client logged, which
-- often says why (a refused connection, a failed login), and how many there were.
function M.log_summary(err_out, hidden, code)
  fk.set_logger(nil)
  if code == 1 and hidden.errors > 0 then
    err_out:write(("fluxakafka: the Kafka client's last error: %s\n"):format(hidden.last))
    if hidden.errors > 1 then
      err_out:write(("fluxakafka: (%d errors in all; --verbose shows them)\n"):format(hidden.errors))
    end
  end
end

return M
