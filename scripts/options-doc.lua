-- Rewrites docs/API.md's table of pool options from the core's description of them
-- (csrc/fk_options.c), after `make build`: luajit scripts/options-doc.lua
-- spec/api_doc_spec.lua fails while the two differ.
local root = arg[0]:match("^(.*)/scripts/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. package.path
package.cpath = root .. "/build/?.so;" .. package.cpath
local core = require("fluxakafka")._private.core

local DOC = root .. "/docs/API.md"
local BEGIN = "<!-- pool options: generated from csrc/fk_options.c by scripts/options-doc.lua -->\n"
local END = "<!-- end of the pool options -->\n"

local f = assert(io.open(DOC, "rb"))
local text = f:read("*a")
f:close()
local first, after = text:find(BEGIN, 1, true)
local last = text:find(END, after or 1, true)
assert(first and last, DOC .. " has no generated pool option table (its two markers are missing)")
f = assert(io.open(DOC, "wb"))
f:write(text:sub(1, after), core._pool_options_doc(), text:sub(last))
f:close()
