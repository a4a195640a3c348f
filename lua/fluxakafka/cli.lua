--- The `fluxakafka` command line: plan and apply topic and consumer group alters described by
-- migration files (Lua files that receive the registry as `...`) or YAML configs.
local fk = require "fluxakafka"
local common = require "fluxakafka.cli_common"
local data = require "fluxakafka.cli_data"

local json, array, split_list = common.json, common.array, common.split_list

local M = {}

local USAGE = [[
usage: fluxakafka <command> [options] <file>...
       fluxakafka describe topic|group NAME... --brokers=HOST:PORT,... [--json]
       fluxakafka lag GROUP --brokers=... [--json]
       fluxakafka consume TOPIC --brokers=... [--partition=P] [--offset=START] [--count=N] [--json]
       fluxakafka produce TOPIC --brokers=... [--key-separator=SEP] [--partition=P] < lines

commands:
  plan     print every pending alter, grouped by pool, with what the broker refuses of it;
           exit 0 when nothing is pending, 2 when something is, 1 on error or a refusal
  apply    print the plan, then perform it in order, stopping at the first failure;
           exit 0 when everything pending was applied, 1 on failure
  topics   list every topic of each pool's cluster with its partitions (leader, replicas,
           in-sync replicas); files are optional when --brokers is given
  groups   list every consumer group of each pool's cluster (state, members, protocol type)
  describe topic NAME...  partitions and configs (the ones not at their defaults; --json: all)
  describe group NAME...  state, protocol, coordinator, members and their assignments
  lag GROUP               committed offset, high watermark and lag of each partition
  consume TOPIC           print records without joining a group or committing
  produce TOPIC           one record per line of stdin
           describe, lag, consume and produce work on the cluster of --brokers (or
           FLUXAKAFKA_BROKERS), never join a group, and exit 0, or 1 on an error

files:     *.lua migration files (they receive the registry as `...`), *.yaml / *.yml
           configuration documents; applied to one registry in the order given

options:
  --allow-delete          also delete unregistered topics and consumer groups (apply), without
                          asking; without it deletions are listed and skipped, or, when stdin
                          is a terminal, asked about one by one (y, n, or all for the rest)
  -y, --yes               never ask: skip the questions (deletions still need --allow-delete)
  --brokers=HOST:PORT,... use these brokers for every pool (also FLUXAKAFKA_BROKERS)
  --ignore-topic=PATTERN  never delete topics matching PATTERN (`*` is any run of characters);
                          repeatable, added to every pool's ignored_topics
  --ignore-group=PATTERN  the same for consumer groups (ignored_consumer_groups)
  --json                  print the result as one JSON object on stdout
  --color=auto|always|never
                          colour the plan; auto (default): only when stdout is a terminal and
                          NO_COLOR is not set
  -v, --verbose           also print the Kafka client's log lines (stderr)
  --version               print fluxakafka's and librdkafka's versions
  -h, --help              this text

consume and produce:
  --partition=P           only this partition (consume: default every partition, in order;
                          produce: default the partitioner's choice)
  --offset=START          where each partition is read from: an offset, beginning (default),
                          end (waits --timeout for new records), -N (the last N records),
                          @MS (the first record at or after MS ms since the epoch) or
                          @YYYY-MM-DDTHH:MM:SS[.fff]Z (the same, a UTC time)
  --count=N               at most N records of each partition (default 100)
  --timeout=SECONDS       how long a read waits for records (default 1)
  --key-separator=SEP     produce: the text before the first SEP of a line is the key
  --null-empty            produce: an empty value is sent as a null value (a tombstone)
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
  counts.refused = 0
  for _, pool in ipairs(pools) do
    out:write(("Pool '%s':\n"):format(pool))
    for _, alter in ipairs(by_pool[pool]) do
      out:write(("  %s %s\n"):format(SIGNS[alter.kind] or "?", alter.description))
      if alter.refusal then
        counts.refused = counts.refused + 1
        out:write(("      refused by the broker: %s (%s)\n"):format(alter.refusal, alter.refusal_code))
      end
    end
  end
  out:write(("Plan: %d to create, %d to change, %d to delete, %d warning%s%s.\n"):format(
    counts.create, counts.change, counts.delete, counts.warning, counts.warning == 1 and "" or "s",
    counts.refused > 0 and (", %d refused by the broker"):format(counts.refused) or ""))
  return counts
end

local function is_terminal(fd)
  local ok = os.execute("test -t " .. fd)
  return ok == 0 or ok == true
end

local COLORS = { ["+"] = "32", ["~"] = "33", ["!"] = "35", ["-"] = "31" }

-- A writer that colours the sign at the start of each plan line.
local function colouring(out, on)
  if not on then return out end
  return {
    write = function(self, ...)
      for i = 1, select("#", ...) do
        local text = tostring((select(i, ...)))
        text = text:gsub("^(  )([%+~!%-])( )", function(a, sign, b)
          return a .. "\27[" .. COLORS[sign] .. "m" .. sign .. "\27[0m" .. b
        end)
        out:write(text)
      end
      return self
    end,
    flush = function() if out.flush then out:flush() end end,
  }
end

local function alter_json(alter)
  return {
    kind = alter.kind, pool = alter.pool, description = alter.description,
    topic = alter.topic, group = alter.group, warning = alter.warning == true,
    sign = SIGNS[alter.kind] or "?", refusal = alter.refusal, refusal_code = alter.refusal_code,
  }
end

local FLAGS = {
  ["-h"] = "help", ["--help"] = "help", ["--version"] = "version", ["--allow-delete"] = "allow_delete",
  ["--yes"] = "yes", ["-y"] = "yes", ["--json"] = "json", ["--verbose"] = "verbose", ["-v"] = "verbose",
  ["--null-empty"] = "null_empty",
}

local function whole(name, min)
  return function(o, v)
    local n = v:match("^%d+$") and tonumber(v)
    if not n or n < min then return ("option '--%s' takes a whole number of at least %d, got '%s'"):format(name, min, v) end
    o[name] = n
  end
end

-- options with a value: each stores it in o, or returns an error message
local VALUED = {
  brokers = function(o, v) o.brokers = v end,
  ["ignore-topic"] = function(o, v) o.ignore_topics[#o.ignore_topics + 1] = v end,
  ["ignore-group"] = function(o, v) o.ignore_groups[#o.ignore_groups + 1] = v end,
  color = function(o, v)
    if v ~= "auto" and v ~= "always" and v ~= "never" then
      return ("option '--color' takes auto, always or never, got '%s'"):format(v)
    end
    o.color = v
  end,
  partition = whole("partition", 0),
  count = whole("count", 1),
  offset = function(o, v) o.offset = v end,
  timeout = function(o, v)
    o.timeout = tonumber(v)
    if not o.timeout or o.timeout < 0 then return ("option '--timeout' takes seconds, got '%s'"):format(v) end
  end,
  ["key-separator"] = function(o, v)
    if v == "" then return "option '--key-separator' needs a separator" end
    o.key_separator = v
  end,
}

local function parse_args(args)
  local o = { files = {}, ignore_topics = {}, ignore_groups = {}, color = "auto" }
  local i = 1
  local function value(a, name)
    local v = a:match("^%-%-[%w-]+=(.*)$")
    if v then return v end
    i = i + 1
    if args[i] == nil then return nil, ("option '--%s' needs a value"):format(name) end
    return args[i]
  end
  while args[i] ~= nil do
    local a = args[i]
    local name = a:match("^%-%-([%w-]+)")
    if FLAGS[a] then o[FLAGS[a]] = true
    elseif VALUED[name] then
      local v, err = value(a, name)
      err = err or VALUED[name](o, v)
      if err then return nil, err end
    elseif a:sub(1, 1) == "-" then return nil, ("unknown option '%s'"):format(a)
    elseif not o.command then o.command = a
    else o.files[#o.files + 1] = a end
    i = i + 1
  end
  o.args = o.files   -- for the commands that take names rather than files
  return o
end

-- The registry of the files, with --brokers and the ignore patterns; its engine, or nil
-- after saying why.
local function open_files(o, err_out)
  local registry = fk.new_registry()
  local ok, err = load_files(registry, o.files)
  if not ok then err_out:write("fluxakafka: ", err, "\n") return nil end
  local brokers = common.brokers(o)
  if brokers then
    local list = split_list(brokers)
    if #list == 0 then err_out:write("fluxakafka: --brokers: no broker given\n") return nil end
    registry:_set_brokers(list)
  end
  if #o.ignore_topics > 0 or #o.ignore_groups > 0 then
    registry:_add_ignored(o.ignore_topics, o.ignore_groups)
  end
  local engine, verr = registry:validate()
  if not engine then err_out:write("fluxakafka: invalid registry: ", verr, "\n") return nil end
  return engine
end

-- `topics` / `groups`: the pools of the files (or one pool on --brokers alone), read-only.
local function inspect_command(o, out, err_out)
  local engine, err
  if #o.files == 0 then
    engine, err = common.default_pool(o)
    if not common.brokers(o) then err = "give config files or --brokers" end
    if not engine then err_out:write("fluxakafka: ", o.command, ": ", err, "\n", USAGE) return 1 end
  else
    engine = open_files(o, err_out)
    if not engine then return 1 end
  end
  local report, code = {}, 0
  for _, pool_code in ipairs(engine:pool_codes()) do
    local pool = engine:kafka(pool_code)
    local list, lerr = (o.command == "topics" and pool.list_topics or pool.list_groups)(pool)
    if not list then
      err_out:write("fluxakafka: pool '", pool_code, "': ", lerr, "\n")
      code = 1
    elseif o.json then
      for _, item in ipairs(list) do
        if item.partitions then
          item.partitions = array(item.partitions)
          for _, p in ipairs(item.partitions) do p.replicas, p.isrs = array(p.replicas), array(p.isrs) end
        end
      end
      report[pool_code] = array(list)
    elseif o.command == "topics" then
      out:write(("Pool '%s': %d topic%s\n"):format(pool_code, #list, #list == 1 and "" or "s"))
      for _, t in ipairs(list) do
        out:write(("  %s: %d partition%s%s\n"):format(t.name, #t.partitions, #t.partitions == 1 and "" or "s",
          t.error and (" (error " .. t.error .. ")") or ""))
        for _, p in ipairs(t.partitions) do
          out:write(("    partition %d: leader %d, replicas %s, isrs %s\n"):format(p.id, p.leader,
            table.concat(p.replicas, ","), table.concat(p.isrs, ",")))
        end
      end
    else
      out:write(("Pool '%s': %d consumer group%s\n"):format(pool_code, #list, #list == 1 and "" or "s"))
      for _, g in ipairs(list) do
        out:write(("  %s: state %s, %d member%s, protocol type %s\n"):format(g.name, g.state, g.members,
          g.members == 1 and "" or "s", g.protocol_type ~= "" and g.protocol_type or "-"))
      end
    end
  end
  if o.json then out:write(json(report), "\n") end
  engine:close()
  return code
end

-- One question on the terminal: y / n / all for the deletion described; nil at the end of input.
local function ask(out, read, alter)
  while true do
    out:write(("%s? [y/n/all] "):format(alter.description))
    if out.flush then out:flush() end
    local answer = read()
    if answer == nil then out:write("\n") return nil end
    answer = answer:lower():match("^%s*(.-)%s*$")
    if answer == "y" or answer == "yes" then return "y" end
    if answer == "n" or answer == "no" or answer == "" then return "n" end
    if answer == "all" then return "all" end
    out:write("  answer y (delete it), n (keep it) or all (delete it and every deletion after it)\n")
  end
end

-- The deletions to perform: all with --allow-delete; otherwise, when stdin is a terminal (and
-- neither --yes nor --json), the ones confirmed one by one. Returns a set (alter -> true).
local function confirmed_deletions(o, alters, io_, out, stdin_tty)
  local approved, deletions = {}, {}
  for _, alter in ipairs(alters) do if is_deletion(alter) then deletions[#deletions + 1] = alter end end
  if o.allow_delete then
    for _, alter in ipairs(deletions) do approved[alter] = true end
    return approved
  end
  if #deletions == 0 or o.yes or o.json or not stdin_tty() then return approved end
  out:write(("Confirm each of the %d deletion%s by name:\n"):format(#deletions, #deletions == 1 and "" or "s"))
  local read = function() return io_.read and io_.read("*l") or io.read("*l") end
  local all = false
  for _, alter in ipairs(deletions) do
    local answer = all and "y" or ask(out, read, alter)
    if answer == nil then break end
    all = all or answer == "all"
    approved[alter] = answer ~= "n" or nil
  end
  return approved
end

-- Performs the alters in order, stopping at the first failure; returns the exit code.
local function apply_alters(alters, approved, ctx, report, say)
  local applied, skipped = {}, {}
  for i, alter in ipairs(alters) do
    if alter.warning then
      -- nothing to do
    elseif is_deletion(alter) and not approved[alter] then
      skipped[#skipped + 1] = alter
      report.skipped[#report.skipped + 1] = alter_json(alter)
    else
      local done, exec_err = alter:exec(ctx)
      if not done then
        say:write(("FAILED: %s\n  %s\n"):format(alter.description, exec_err))
        say:write(("Applied %d alter%s before the failure:\n"):format(#applied, #applied == 1 and "" or "s"))
        for _, a in ipairs(applied) do say:write("  done: ", a.description, "\n") end
        say:write("Not applied:\n")
        for j = i, #alters do
          if not alters[j].warning then say:write("  not done: ", alters[j].description, "\n") end
        end
        report.failed = { alter = alter_json(alter), error = tostring(exec_err) }
        return 1
      end
      applied[#applied + 1] = alter
      report.applied[#report.applied + 1] = alter_json(alter)
      say:write(("applied: %s\n"):format(alter.description))
    end
  end
  say:write(("Applied %d alter%s.\n"):format(#applied, #applied == 1 and "" or "s"))
  if #skipped > 0 then
    say:write(("Skipped %d deletion%s (confirm them, or run apply with --allow-delete):\n"):format(
      #skipped, #skipped == 1 and "" or "s"))
    for _, a in ipairs(skipped) do say:write("  skipped: ", a.description, "\n") end
  end
  return 0
end

-- `plan` / `apply`: the alters of the files against the brokers.
local function migrate(o, io_, out, err_out)
  if #o.files == 0 then
    err_out:write("fluxakafka: no migration or config file given\n", USAGE)
    return 1
  end
  local stdout_tty = io_.stdout_is_terminal or function() return is_terminal(1) end
  local stdin_tty = io_.stdin_is_terminal or function() return is_terminal(0) end
  local colour = o.color == "always" or (o.color == "auto" and not o.json and os.getenv("NO_COLOR") == nil
    and stdout_tty())
  local engine = open_files(o, err_out)
  if not engine then return 1 end
  local ctx = engine:new_context()
  local alters, aerr = fk.get_kafka_alters(ctx)
  if not alters then
    err_out:write("fluxakafka: cannot read the brokers: ", aerr, "\n")
    engine:close()
    return 1
  end

  local report = { command = o.command, plan = array(), applied = array(), skipped = array() }
  for i, alter in ipairs(alters) do report.plan[i] = alter_json(alter) end
  local counts = print_plan(o.json and { write = function() end } or colouring(out, colour), alters)
  local pending = counts.create + counts.change + counts.delete
  report.summary = { create = counts.create, change = counts.change, delete = counts.delete,
                     warning = counts.warning, refused = counts.refused, pending = pending }
  local function finish(code)
    if o.json then
      report.exit_code = code
      out:write(json(report), "\n")
    end
    engine:close()
    return code
  end
  -- human-readable lines go to stdout, or to stderr when stdout carries the JSON
  local say = o.json and err_out or out
  if counts.refused > 0 then
    if o.command == "apply" then say:write("Nothing applied: the broker refuses alters of this plan (see above).\n") end
    return finish(1)
  end
  if o.command == "plan" then return finish(pending > 0 and 2 or 0) end
  if pending == 0 then
    say:write("Nothing to apply.\n")
    return finish(0)
  end
  local approved = confirmed_deletions(o, alters, io_, out, stdin_tty)
  return finish(apply_alters(alters, approved, ctx, report, say))
end

local COMMANDS = {
  plan = migrate, apply = migrate,
  topics = function(o, _, out, err_out) return inspect_command(o, out, err_out) end,
}
COMMANDS.groups = COMMANDS.topics
for _, name in ipairs({ "describe", "lag", "consume", "produce" }) do
  COMMANDS[name] = function(o, io_, out, err_out) return data.run(o, out, err_out, io_.stdin or io.stdin) end
end

--- Runs the command line; returns the exit code. `io_` replaces the io library in tests
-- (io_.stdin_is_terminal / io_.stdout_is_terminal, when given, replace the terminal checks).
function M.main(args, io_)
  io_ = io_ or io
  local out, err_out = io_.stdout, io_.stderr
  local o, perr = parse_args(args or {})
  if not o then err_out:write("fluxakafka: ", perr, "\n", USAGE) return 1 end
  if o.help then out:write(USAGE) return 0 end
  if o.version then
    out:write(("fluxakafka %s (librdkafka %s)\n"):format(fk.VERSION, fk.librdkafka_version()))
    return 0
  end
  local run = COMMANDS[o.command]
  if not run then
    err_out:write(o.command and ("fluxakafka: unknown command '%s'\n"):format(o.command) or "", USAGE)
    return 1
  end
  -- the library's lines are the client's, not the command's: kept off the terminal
  local hidden = common.install_logger(err_out, o.verbose)
  local ok, code = pcall(run, o, io_, out, err_out)
  common.log_summary(err_out, hidden, ok and code or 1)
  if not ok then error(code, 0) end
  return code
end

return M
