-- Builds the specs' Go programs (FluxaORM's side of the interop tests) once per source
-- version, in a temporary module outside the checkout, with modules from the Go module proxy.
local M = {}

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return ok == true or ok == 0, out
end

M.available = sh("command -v go >/dev/null")

-- The path of the binary built from `source` (a single-file main package) with `modules`
-- ("path@version" strings); raises with the Go tool's output when the build fails.
function M.build(source, modules)
  local ok, sum = sh("md5sum " .. source)
  assert(ok, sum)
  local name = source:match("([^/]+)%.go$")
  local dir = (os.getenv("TMPDIR") or "/tmp") .. "/fluxakafka-go-" .. name .. "-" .. sum:match("^(%x+)")
  local bin = dir .. "/" .. name
  local existing = io.open(bin)
  if existing then
    existing:close()
    return bin
  end
  assert(sh("mkdir -p " .. dir .. " && cp " .. source .. " " .. dir .. "/main.go"))
  local mod = assert(io.open(dir .. "/go.mod", "w"))
  mod:write("module fluxakafka/" .. name .. "\n\ngo 1.21\n")
  mod:close()
  -- under make test-asan LD_PRELOAD carries libasan and the module, which the Go
  -- toolchain's C helpers must not load
  local built, out = sh("cd " .. dir .. " && unset LD_PRELOAD && go get " .. table.concat(modules, " ")
    .. " && CGO_ENABLED=0 go build -o " .. name .. ".tmp . && mv " .. name .. ".tmp " .. name)
  assert(built, "building " .. source .. " failed (is the Go module proxy reachable?):\n" .. out)
  return bin
end

return M
