-- A pool inherited across fork() (as nginx workers inherit what the master made) must not
-- use the parent's librdkafka threads: the child gets a fresh producer of its own.
local support = require "spec.support"
local fk = require "fluxakafka"

local ok_ffi, ffi = pcall(require, "ffi")

describe("fork", function()
  if not ok_ffi then
    pending("needs LuaJIT's FFI to fork")
    return
  end
  pcall(ffi.cdef, [[
    int fork(void);
    int waitpid(int pid, int *status, int options);
    void _exit(int status);
  ]])

  it("a child process produces through a pool its parent already used", function()
    local topic, group = support.unique("fork"), support.unique("fork-group")
    local engine, pool = support.engine(nil, { fk.new_kafka_consumer_group(group, "events"):topics(topic) })
    assert(pool:produce_sync({ topic = topic, key = "parent", value = "before fork" }))

    local pid = ffi.C.fork()
    if pid == 0 then
      -- the child: never return into busted; report through the exit status
      local ok = pcall(function()
        assert(pool:produce_sync({ topic = topic, key = "child", value = "from the child" }))
      end)
      ffi.C._exit(ok and 0 or 1)
    end
    assert.is_true(pid > 0)
    local status = ffi.new("int[1]")
    assert.are.equal(pid, ffi.C.waitpid(pid, status, 0))
    assert.are.equal(0, status[0], "the child could not produce")

    -- the parent's producer still works too
    assert(pool:produce_sync({ topic = topic, key = "parent", value = "after fork" }))
    local cg = assert(pool:consumer_group(group))
    local got = support.consume(cg, 3)
    cg:close()
    engine:close()
    local keys = {}
    for _, r in ipairs(got) do keys[#keys + 1] = r.key end
    table.sort(keys)
    assert.are.same({ "child", "parent", "parent" }, keys)
  end)
end)
