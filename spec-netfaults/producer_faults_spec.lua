-- Producing through a bad network (make test-netfaults): toxiproxy between the pool and its
-- private broker plays one fault per scenario while records go out at 500 a second (and, where
-- it says so, one produce_sync a second). The topic is then read back through the broker's
-- clean listener and every result is matched to it by the record's key. Each scenario proves,
-- with the pool's default timeouts (delivery_timeout 30 s, connect_timeout 10 s):
--   * no acknowledged record is missing from the topic;
--   * every record gets exactly one result (one callback, or produce_sync's return);
--   * a failed record that is in the topic says so (record.persisted "possibly"), so a caller
--     never retries a record it was told was not written and makes a duplicate;
--   * no record fails before its delivery_timeout: a flapping or dead link is retried until then;
--   * once the link is well again nothing fails (no `_FATAL` left behind by an idempotent
--     producer's error);
--   * produce and poll never hold the Lua thread (longest call under 0.5 s), produce_sync not
--     beyond its delivery timeout;
--   * with idempotence, or where no connection breaks, no record is written twice.
-- The counts of each scenario go to .test-output/netfaults.tsv (the README's table).
local nf = require "spec-netfaults.netfaults"

if nf.missing("producing through network faults") then return end

local toxic, untoxic, cut, heal = nf.toxic, nf.untoxic, nf.cut, nf.heal

local function concat(...)
  local all = {}
  for _, list in ipairs({ ... }) do for _, s in ipairs(list) do all[#all + 1] = s end end
  return all
end

-- both directions: two toxics of one kind, "<name>-down" and "<name>-up"
local function both(at, name, type, attributes)
  return { toxic(at, name .. "-down", type, attributes), toxic(at, name .. "-up", type, attributes, "upstream") }
end
local function unboth(at, name) return { untoxic(at, name .. "-down"), untoxic(at, name .. "-up") } end

-- the link cut for `down` seconds every `every` seconds from `from` until `to`
local function flapping(from, to, every, down)
  local s = {}
  for t = from, to - every + 0.001, every do
    s[#s + 1] = cut(t)
    s[#s + 1] = heal(t + down)
  end
  return s
end

-- every connection reset (RST) every `every` seconds from `from` until `to`
local function resets(from, to, every)
  local s = {}
  for t = from, to - every + 0.001, every do
    s[#s + 1] = toxic(t, "reset", "reset_peer", '{"timeout":0}')
    s[#s + 1] = untoxic(t + 0.2, "reset")
  end
  return s
end

local function scenario(spec, opts)
  local c, delivery_timeout = nf.producer_scenario(spec)
  opts = opts or {}
  opts.delivery_timeout = delivery_timeout
  nf.assert_promises(c, opts)
end

describe("producing through network faults", function()
  it("latency (100 ms each way, jitter 50 ms) for 10 s: every record acknowledged once", function()
    scenario({ name = "latency 100 ms each way", duration = 15, healed_at = 12,
               schedule = concat(both(2, "lat", "latency", '{"latency":100,"jitter":50}'), unboth(12, "lat")) },
             { no_dups = true, no_failures = true })
  end)

  it("bandwidth (24 KB/s towards the broker) for 10 s: every record acknowledged once", function()
    scenario({ name = "bandwidth 24 KB/s up", duration = 15, healed_at = 12,
               schedule = { toxic(2, "bw", "bandwidth", '{"rate":24}', "upstream"), untoxic(12, "bw") } },
             { no_dups = true, no_failures = true })
  end)

  it("slicer (64-byte pieces, 0.2 ms apart) for 10 s: every record acknowledged once", function()
    scenario({ name = "slicer 64 B", duration = 15, healed_at = 12,
               schedule = concat(both(2, "slice", "slicer", '{"average_size":64,"size_variation":32,"delay":200}'),
                                unboth(12, "slice")) },
             { no_dups = true, no_failures = true })
  end)

  it("a black hole of 10 s: nothing lost, nothing failed early, all well afterwards", function()
    scenario({ name = "black hole 10 s", duration = 20, healed_at = 13, sync = true, schedule = nf.black_hole(3, 13) })
  end)

  it("a black hole of 60 s: nothing lost, records fail at their delivery timeout and not before", function()
    scenario({ name = "black hole 60 s", duration = 70, healed_at = 63, sync = true, schedule = nf.black_hole(3, 63) })
  end)

  it("connection resets every 0.7 s for 16 s, not idempotent: nothing lost, failures flagged", function()
    scenario({ name = "reset_peer every 0.7 s", duration = 25, healed_at = 19.5, sync = true,
               schedule = resets(3, 19.1, 0.7) })
  end)

  it("connection resets every 0.7 s for 16 s, idempotent: nothing lost or duplicated, no _FATAL afterwards", function()
    scenario({ name = "reset_peer every 0.7 s, idempotent", duration = 25, healed_at = 19.5, sync = true,
               options = { idempotent = true }, schedule = resets(3, 19.1, 0.7) }, { no_dups = true })
  end)

  it("slow close (2 s) with a 0.5 s cut every 4 s: nothing lost, nothing failed early", function()
    scenario({ name = "slow close 2 s + cuts", duration = 25, healed_at = 21, sync = true,
               schedule = concat({ toxic(1, "slow", "slow_close", '{"delay":2000}') }, flapping(3, 23, 4, 0.5),
                                 { untoxic(21, "slow") }) })
  end)

  it("a flapping link (cut 0.3 s every 3 s) for 45 s, longer than connect_timeout: nothing fails", function()
    scenario({ name = "flapping 0.3 s every 3 s for 45 s", duration = 52, healed_at = 45.3, sync = true,
               schedule = flapping(3, 51, 3, 0.3) }, { no_failures = true })
  end)
end)
