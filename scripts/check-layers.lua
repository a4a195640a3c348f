-- The core's files call downward only: reads what each object file of csrc/*.c defines and
-- what it needs from the others (nm), and fails when the file -> file references form a
-- circle, naming the files of each circle and a symbol of each step. On success it prints
-- the layers, bottom first: a file calls only files of the lines above its own.
--
--   luajit scripts/check-layers.lua build/core/fk_*.o     (run by `make check-core`)
--
-- It sees direct references (calls and data). A lower file reaching up through a function
-- pointer it was handed (fk_job_ops, librdkafka's callbacks) is the intended way up and is
-- not a reference.
local NM = os.getenv("NM") or "nm"

local function file_of(object)
  return (object:match("([^/]+)%.o$") or object) .. ".c"
end

local defined_in = {}   -- symbol -> file
local needs = {}        -- file -> list of undefined symbols
local files = {}

for _, object in ipairs(arg) do
  local file = file_of(object)
  local pipe = assert(io.popen(NM .. " -P '" .. object .. "' 2>&1"))
  local out = pipe:read("*a")
  if not pipe:close() then
    io.stderr:write("check-layers: nm failed on ", object, ":\n", out)
    os.exit(2)
  end
  files[#files + 1] = file
  needs[file] = {}
  for name, kind in out:gmatch("([^%s]+) (%a) [^\n]*") do
    if kind == "U" then
      needs[file][#needs[file] + 1] = name
    elseif kind:match("%u") then   -- upper case: a global definition (T, D, B, R, ...)
      defined_in[name] = file
    end
  end
end
if #files == 0 then
  io.stderr:write("usage: luajit scripts/check-layers.lua OBJECT.o...\n")
  os.exit(2)
end
table.sort(files)

-- file -> { other file -> the first symbol (by name) that it needs from it }
local edges = {}
for _, file in ipairs(files) do
  edges[file] = {}
  table.sort(needs[file])
  for _, name in ipairs(needs[file]) do
    local owner = defined_in[name]
    if owner and owner ~= file and not edges[file][owner] then edges[file][owner] = name end
  end
end

local function targets(file)
  local list = {}
  for other in pairs(edges[file]) do list[#list + 1] = other end
  table.sort(list)
  return list
end

-- Tarjan's strongly connected components: each one of more than one file holds a circle.
local index, low, on_stack, stack, components, counter = {}, {}, {}, {}, {}, 0
local function connect(v)
  counter = counter + 1
  index[v], low[v] = counter, counter
  stack[#stack + 1], on_stack[v] = v, true
  for _, w in ipairs(targets(v)) do
    if not index[w] then
      connect(w)
      low[v] = math.min(low[v], low[w])
    elseif on_stack[w] then
      low[v] = math.min(low[v], index[w])
    end
  end
  if low[v] == index[v] then
    local component = {}
    repeat
      local w = table.remove(stack)
      on_stack[w] = nil
      component[#component + 1] = w
    until w == v
    if #component > 1 then components[#components + 1] = component end
  end
end
for _, file in ipairs(files) do
  if not index[file] then connect(file) end
end

-- The shortest circle through the component's first file (by name), inside the component.
local function circle(component)
  local inside = {}
  for _, f in ipairs(component) do inside[f] = true end
  table.sort(component)
  local start = component[1]
  local came_from, queue, head = {}, { start }, 1
  while head <= #queue do
    local v = queue[head]
    head = head + 1
    for _, w in ipairs(targets(v)) do
      if inside[w] and w == start then
        local path = { start }
        local u = v
        while u ~= start do
          table.insert(path, 2, u)
          u = came_from[u]
        end
        path[#path + 1] = start
        return path
      end
      if inside[w] and not came_from[w] and w ~= start then
        came_from[w] = v
        queue[#queue + 1] = w
      end
    end
  end
end

if #components > 0 then
  for _, component in ipairs(components) do
    local path = circle(component)
    local text = { path[1] }
    for i = 2, #path do
      text[#text + 1] = " -> " .. path[i] .. " (" .. edges[path[i - 1]][path[i]] .. ")"
    end
    io.stderr:write("check-layers: the core's files call each other in a circle: ", table.concat(text), "\n")
    if #component > #path - 1 then
      io.stderr:write("  (the files that reach each other: ", table.concat(component, " "), ")\n")
    end
  end
  os.exit(1)
end

-- A file's layer: one above the highest layer it calls into (0: it calls no other file).
local layer = {}
local function layer_of(file)
  if not layer[file] then
    local l = 0
    for _, other in ipairs(targets(file)) do l = math.max(l, layer_of(other) + 1) end
    layer[file] = l
  end
  return layer[file]
end
local rows, top = {}, 0
for _, file in ipairs(files) do
  local l = layer_of(file)
  rows[l] = rows[l] or {}
  table.insert(rows[l], file)
  top = math.max(top, l)
end
print(("check-layers: %d core files call downward only; layers, bottom first:"):format(#files))
for l = 0, top do print(("  %2d  %s"):format(l, table.concat(rows[l], " "))) end
