-- docs/API.md documents every public function and method: this walks the module's public
-- functions and every class's methods table and lists exactly what has no heading there.
local fk = require "fluxakafka"

local DOC = "docs/API.md"

-- The object name each methods table is documented under (see the top of docs/API.md). A
-- class not listed here is documented under its table's name without "_methods".
local OBJECT = {
  registry_methods = "registry", consumer_group_builder_methods = "builder",
  topic_builder_methods = "topic", engine_methods = "engine", pool_methods = "pool",
  consumer_group_methods = "cg", fetches_methods = "fetches",
}
-- Methods tables no program reaches (the batch behind produce_sync, the alter handle).
local INTERNAL = { batch_methods = true, alter_handle_methods = true }

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  return text
end

-- Every documented name: "fk.name" and "object:name" at the start of a heading.
local function documented(text)
  local names = {}
  for line in text:gmatch("[^\n]+") do
    local heading = line:match("^#+%s+(.*)$")
    if heading then
      for name in heading:gmatch("`([%w_]+[.:][%w_]+)") do names[name] = true end
    end
  end
  return names
end

local function public_names()
  local wanted = {}
  for name, value in pairs(fk) do
    if name:sub(1, 1) ~= "_" then wanted[#wanted + 1] = "fk." .. name end
  end
  local core = fk._private.core
  local classes = { ctx = fk.Context, alter = fk._private.Alter }
  for tname, methods in pairs(core) do
    if type(methods) == "table" and tname:match("_methods$") and not INTERNAL[tname] then
      classes[OBJECT[tname] or tname:gsub("_methods$", "")] = methods
    end
  end
  for object, methods in pairs(classes) do
    for name, value in pairs(methods) do
      if type(value) == "function" and name:sub(1, 1) ~= "_" then
        wanted[#wanted + 1] = object .. ":" .. name
      end
    end
  end
  table.sort(wanted)
  return wanted
end

describe("docs/API.md", function()
  it("has a heading for every public function and method", function()
    local have = documented(read(DOC))
    local missing = {}
    for _, name in ipairs(public_names()) do
      if not have[name] then missing[#missing + 1] = name end
    end
    assert(#missing == 0, ("%s has no heading for: %s (add `### \\`%s(...)\\`` sections)"):format(
      DOC, table.concat(missing, ", "), missing[1] or ""))
  end)

  it("documents nothing that does not exist", function()
    local exists = {}
    for _, name in ipairs(public_names()) do exists[name] = true end
    local stale = {}
    for name in pairs(documented(read(DOC))) do
      if not exists[name] then stale[#stale + 1] = name end
    end
    table.sort(stale)
    assert(#stale == 0, DOC .. " documents names the module does not have: " .. table.concat(stale, ", "))
  end)

  -- the table is the core's description of the options (csrc/fk_options.c), the one the YAML
  -- loader, register_kafka, the getters and "did you mean" read
  it("has the pool option table the core describes", function()
    local text = read(DOC)
    local first = text:find("<!-- pool options: generated from csrc/fk_options.c", 1, true)
    local last = text:find("<!-- end of the pool options -->", first or 1, true)
    assert(first and last, DOC .. " has lost the markers around its pool option table")
    local table_text = text:sub(text:find("\n", first, true) + 1, last - 1)
    local want = fk._private.core._pool_options_doc()
    assert(table_text == want, DOC .. "'s pool option table differs from csrc/fk_options.c's rows: after "
      .. "`make build`, rewrite it with `luajit scripts/options-doc.lua`; the core describes:\n" .. want)
    for _, name in ipairs({ "client_id", "transactional_id", "logger" }) do
      assert.matches("| `" .. name .. "` |", want, 1, true)
    end
  end)

  it("would notice a missing method (the check itself can fail)", function()
    local have = documented("## Pool\n### `pool:flush(timeout)`\n### `fk.VERSION`, `fk.new_registry()`\n")
    assert.is_true(have["pool:flush"])
    assert.is_true(have["fk.new_registry"])
    assert.is_nil(have["pool:produce"])
  end)
end)
