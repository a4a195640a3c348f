--- The `fluxakafka` command line: plan and apply topic and consumer group alters described by
-- migration files (Lua files that receive the registry as `...`) or YAML configs.
local fk = require "fluxakafka"

local M = {}

local USAGE = [[
usage: fluxakafka <command> [options] <file>...

commands:
  plan     print every pending alter, grouped by pool; exit 0 when nothing is pending,
           2 when something is, 1 on error
  apply    print the plan, then perform it in order, stopping at the first failure;
           exit 0 when everything pending was applied, 1 on failure

files:     *.lua migration files (they receive the registry as `...`), *.yaml / *.yml
           configuration documents; applied to one registry in the order given

options:
  --allow-delete   also perform deletions of topics and consumer groups (apply); without it,
                   deletions are listed and skipped, or asked about when stdin is a terminal
  --yes            answer yes to that question (same as --allow-delete)
  -h, --help       this text
]]

local SIGNS = {
  create_topic = "+", add_partitions = "~", alter_topic_config = "~",
  partitions_warning = "!", replication_warning = "!",
  delete_topic = "-", delete_group = "-",
}

local function is_deletion(alter)
  return alter.kind == "delete_topic" or alter.kind == "delete_group"
end

local function load_files(registry, files)
  for _, path in ipairs(files) do
    if path:match("%.ya?ml$") then
      local ok, err = registry:init_by_yaml_file(path)
      if not ok then return nil, err end
    else
      local chunk, err = loadfile(path)
      if not chunk then return nil, ("cannot load migration %s: %s"):format(path, err) end
      local ok, run_err = pcall(chunk, registry, path)
      if not ok then return nil, ("migration %s failed: %s"):format(path, tostring(run_err)) end
    end
  end
  return true
end

local function print_plan(out, alters)
  local counts = { create = 0, change = 0, delete = 0, warning = 0 }
  local by_pool, pools = {}, {}
  for _, alter in ipairs(alters) do
    if not by_pool[alter.pool] then
      by_pool[alter.pool] = {}
      pools[#pools + 1] = alter.pool
    end
    table.insert(by_pool[alter.pool], alter)
    local sign = SIGNS[alter.kind] or "?"
    if sign == "+" then counts.create = counts.create + 1
    elseif sign == "~" then counts.change = counts.change + 1
    elseif sign == "-" then counts.delete = counts.delete + 1
    else counts.warning = counts.warning + 1 end
  end
  for _, pool in ipairs(pools) do
    out:write(("Pool '%s':\n"):format(pool))
    for _, alter in ipairs(by_pool[pool]) do
      out:write(("  %s %s\n"):format(SIGNS[alter.kind] or "?", alter.description))
    end
  end
  out:write(("Plan: %d to create, %d to change, %d to delete, %d warning%s.\n"):format(
    counts.create, counts.change, counts.delete, counts.warning, counts.warning == 1 and "" or "s"))
  return counts
end

local function stdin_is_terminal()
  local ok = os.execute("test -t 0")
  return ok == 0 or ok == true
end

--- Runs the command line; returns the exit code. `io_` replaces the io library in tests.
function M.main(args, io_)
  io_ = io_ or io
  local out, err_out = io_.stdout, io_.stderr
  local command, files, allow_delete = nil, {}, false
  for _, a in ipairs(args or {}) do
    if a == "-h" or a == "--help" then out:write(USAGE) return 0
    elseif a == "--allow-delete" or a == "--yes" then allow_delete = true
    elseif a:sub(1, 1) == "-" then err_out:write(("fluxakafka: unknown option '%s'\n"):format(a), USAGE) return 1
    elseif not command then command = a
    else files[#files + 1] = a end
  end
  if command ~= "plan" and command ~= "apply" then
    err_out:write(command and ("fluxakafka: unknown command '%s'\n"):format(command) or "", USAGE)
    return 1
  end
  if #files == 0 then
    err_out:write("fluxakafka: no migration or config file given\n", USAGE)
    return 1
  end

  local registry = fk.new_registry()
  local ok, err = load_files(registry, files)
  if not ok then err_out:write("fluxakafka: ", err, "\n") return 1 end
  local engine, verr = registry:validate()
  if not engine then err_out:write("fluxakafka: invalid registry: ", verr, "\n") return 1 end
  local ctx = engine:new_context()
  local alters, aerr = fk.get_kafka_alters(ctx)
  if not alters then
    err_out:write("fluxakafka: cannot read the brokers: ", aerr, "\n")
    engine:close()
    return 1
  end

  local counts = print_plan(out, alters)
  local pending = counts.create + counts.change + counts.delete
  if command == "plan" then
    engine:close()
    return pending > 0 and 2 or 0
  end

  if pending == 0 then
    out:write("Nothing to apply.\n")
    engine:close()
    return 0
  end
  if counts.delete > 0 and not allow_delete and stdin_is_terminal() then
    out:write(("Apply %d deletion%s? Type 'yes' to delete: "):format(counts.delete, counts.delete == 1 and "" or "s"))
    out:flush()
    allow_delete = (io_.read and io_.read("*l") or io.read("*l")) == "yes"
  end

  local applied, skipped = {}, {}
  for i, alter in ipairs(alters) do
    if alter.warning then
      -- nothing to do
    elseif is_deletion(alter) and not allow_delete then
      skipped[#skipped + 1] = alter
    else
      local done, exec_err = alter:exec(ctx)
      if not done then
        out:write(("FAILED: %s\n  %s\n"):format(alter.description, exec_err))
        out:write(("Applied %d alter%s before the failure:\n"):format(#applied, #applied == 1 and "" or "s"))
        for _, a in ipairs(applied) do out:write("  done: ", a.description, "\n") end
        out:write("Not applied:\n")
        for j = i, #alters do
          if not alters[j].warning then out:write("  not done: ", alters[j].description, "\n") end
        end
        engine:close()
        return 1
      end
      applied[#applied + 1] = alter
      out:write(("applied: %s\n"):format(alter.description))
    end
  end
  out:write(("Applied %d alter%s.\n"):format(#applied, #applied == 1 and "" or "s"))
  if #skipped > 0 then
    out:write(("Skipped %d deletion%s (run apply with --allow-delete to perform them):\n"):format(
      #skipped, #skipped == 1 and "" or "s"))
    for _, a in ipairs(skipped) do out:write("  skipped: ", a.description, "\n") end
  end
  engine:close()
  return 0
end

return M
