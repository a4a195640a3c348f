-- The API fuzzer (fuzz/api_fuzz.lua) for a fixed set of seeds, through the FFI paths and
-- through the C API (FLUXAKAFKA_NO_FFI=1). Each run is a separate process, so a crash shows
-- as its exit status; under `make test-asan` the processes inherit AddressSanitizer. The
-- fuzzer itself checks that every error is a Lua error naming its function.
local support = require "spec.support"

local SEEDS = { 1, 2, 3, 4 }
local CALLS = 300

local function run(seed, env)
  local cmd = ("%s luajit fuzz/api_fuzz.lua --seed %d --calls %d --brokers %s 2>&1; echo \"exit status: $?\"")
    :format(env, seed, CALLS, table.concat(support.brokers, ","))
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("exit status: (%d+)%s*$"))
end

local function violations(out)
  local list = {}
  for line in out:gmatch("api_fuzz: violation: [^\n]*") do list[#list + 1] = line end
  return list
end

describe("api fuzzer", function()
  for _, mode in ipairs({ { "through the FFI paths", "" }, { "through the C API", "FLUXAKAFKA_NO_FFI=1" } }) do
    for _, seed in ipairs(SEEDS) do
      it(("survives seed %d %s with only Lua errors that name their function"):format(seed, mode[1]), function()
        local out, status = run(seed, mode[2])
        local summary = out:match("api_fuzz: total: [^\n]*")
        assert.is_not_nil(summary, "the fuzzer did not finish:\n" .. out:sub(-3000))
        assert.matches(("api_fuzz: total: %d calls"):format(CALLS), summary, 1, true)
        assert(summary:find(" 0 violations", 1, true), table.concat(violations(out), "\n"))
        -- errors were raised and checked (misuse is most of what the fuzzer does)
        assert.is_true(tonumber(summary:match("(%d+) errors raised")) > 0)
        assert.are.equal(0, status, out:sub(-3000))
      end)
    end
  end
end)
