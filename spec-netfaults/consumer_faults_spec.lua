-- A consumer group member through a network outage (make test-netfaults): the member reads
-- through toxiproxy while records are written through the broker's clean listener.
--   * Through a 10 s cut (the proxy refuses and drops connections; session_timeout 6 s, so
--     the member is thrown out of the group) it skips nothing, and reads records written after
--     the link healed within connect_timeout (10 s) of the heal; no poll_fetches holds the Lua
--     thread beyond its timeout, no commit beyond the commit's timeout.
--   * A commit during a black hole (data dropped both ways, connections left open) returns
--     within its timeout (issue 21: `cg:commit_uncommitted_offsets(timeout)`, 5 s here) with
--     `nil, err, code`, instead of holding the Lua thread until librdkafka gives up.
-- The counts go to .test-output/netfaults.tsv.
local nf = require "spec-netfaults.netfaults"
local support = require "spec.support"

if nf.missing("a consumer group member through network faults") then return end

local COMMIT_TIMEOUT = 5

-- Writes records keyed 1, 2, ... through the clean pool as time passes (rate a second);
-- returns produce_due(), which writes what is due and returns the last key written.
local function writer(clean, topic, rate)
  local seq, started = 0, nf.now()
  return function()
    while seq < (nf.now() - started) * rate do
      seq = seq + 1
      assert(clean:produce({ topic = topic, key = tostring(seq), value = tostring(seq) }))
    end
    clean:poll(0)
    return seq
  end
end

-- Polls the member once (timed), committing once a second; counts what it reads.
local function member(cg, clock)
  local m = { read = {}, unique = 0, redelivered = 0, commit_errors = {}, last_commit = 0, newest = 0 }
  function m.poll()
    local fetches = assert(clock.time("poll_fetches", cg.poll_fetches, cg, 0.2))
    for rec in fetches:iter() do
      local k = tonumber(rec.key)
      if m.read[k] then m.redelivered = m.redelivered + 1 else m.unique = m.unique + 1 end
      m.read[k] = true
      if k > m.newest then m.newest = k end
    end
    if nf.now() - m.last_commit >= 1 then
      m.last_commit = nf.now()
      local ok, _, code = clock.time("commit", cg.commit_uncommitted_offsets, cg, COMMIT_TIMEOUT)
      if not ok then m.commit_errors[tostring(code)] = (m.commit_errors[tostring(code)] or 0) + 1 end
    end
  end
  return m
end

describe("a consumer group member through network faults", function()
  it("a 10 s outage: nothing skipped, reading resumes within connect_timeout of the heal", function()
    nf.reset_proxy()
    local topic = support.unique("netfaults-cg")
    local engine, proxied, clean = nf.engine(topic, nil, { [topic] = true })
    local connect_timeout = proxied:get_pool_options().connect_timeout
    local produce_due = writer(clean, topic, 100)
    local cg = assert(proxied:consumer_group(topic .. "-proxied"))
    local clock = nf.clock()
    local m = member(cg, clock)
    -- the member reads before the link goes down
    assert(nf.wait_for(30, function() produce_due(); m.poll(); return m.unique > 0 end), "the member never read")
    local outage_from = nf.now() + 1
    local finish = nf.play({ nf.cut(1), nf.heal(11) })
    local healed = outage_from + 10
    -- resumed: a record written after the heal was read
    local first_after_heal
    local resumed = nf.wait_for(10 + 60, function()
      produce_due()
      m.poll()
      if not first_after_heal and nf.now() > healed then first_after_heal = produce_due() + 1 end
      return first_after_heal and m.newest >= first_after_heal
    end)
    local resume = resumed and nf.now() - healed
    local note = nf.driver_note(finish())
    -- then everything written is read
    local last = produce_due()
    assert(clean:flush(30))
    nf.wait_for(60, function()
      m.poll()
      for k = 1, last do if not m.read[k] then return false end end
      return true
    end)
    cg:close()
    engine:close(5)
    local missing = 0
    for k = 1, last do if not m.read[k] then missing = missing + 1 end end
    nf.report({ scenario = "consumer member, 10 s cut", records = last, acked = m.unique, lost = missing,
                dups = m.redelivered, longest_async = clock.longest.poll_fetches, longest_sync = clock.longest.commit,
                codes = m.commit_errors,
                note = ("%s; acked = records read, dups = read again; resumed %s s after the heal"):format(note, resume and ("%.1f"):format(resume) or "never") })
    assert.are.equal(0, missing, "records never read")
    assert.is_truthy(resume, "the member never read a record written after the heal")
    assert.is_true(resume <= connect_timeout, ("reading resumed %.1f s after the heal"):format(resume))
    assert.is_true(clock.longest.poll_fetches < 0.2 + nf.ASYNC_CALL_BOUND,
      ("a poll_fetches(0.2) held the Lua thread %.3f s"):format(clock.longest.poll_fetches))
    assert.is_true(clock.longest.commit <= COMMIT_TIMEOUT + 1.5,
      ("a commit held the Lua thread %.3f s"):format(clock.longest.commit))
  end)

  it("a commit during a black hole returns within its timeout", function()
    nf.reset_proxy()
    local topic = support.unique("netfaults-commit")
    local engine, proxied, clean = nf.engine(topic, nil, { [topic] = true })
    local produce_due = writer(clean, topic, 100)
    local cg = assert(proxied:consumer_group(topic .. "-proxied"))
    local read = 0
    assert(nf.wait_for(30, function()
      produce_due()
      read = read + #assert(cg:poll_fetches(0.2)):records()
      return read > 0
    end), "the member never read")
    -- the hole opens now, and the driver closes it 30 s later whatever the commit does
    for _, s in ipairs(nf.black_hole(0, 30)) do
      if s.at == 0 then nf.apply(s) end
    end
    local finish = nf.play({ nf.untoxic(30, "hole-down"), nf.untoxic(30, "hole-up") })
    local t0 = nf.now()
    local ok, err, code = cg:commit_uncommitted_offsets(COMMIT_TIMEOUT)
    local blocked = nf.now() - t0
    local note = nf.driver_note(finish())
    -- after the heal the member commits again (a rejoin may come first)
    local after_ok, after_code
    nf.wait_for(60, function()
      produce_due()
      cg:poll_fetches(0.2)
      local ok2, _, code2 = cg:commit_uncommitted_offsets(COMMIT_TIMEOUT)
      after_ok, after_code = ok2, code2
      return ok2
    end)
    cg:close()
    engine:close(5)
    nf.report({ scenario = "commit during a black hole", records = read, longest_sync = blocked,
                codes = { [tostring(ok and "ok" or code)] = 1 },
                note = ("%s; the commit returned %s (%s) after %.1f s; after the heal: %s"):format(
                  note, tostring(ok), tostring(err), blocked, after_ok and "committed" or tostring(after_code)) })
    assert.is_true(blocked <= COMMIT_TIMEOUT + 1.5, ("the commit held the Lua thread %.1f s"):format(blocked))
    assert.is_nil(ok)
    assert.is_truthy(code)
    assert.is_truthy(after_ok, "no commit succeeded after the heal: " .. tostring(after_code))
  end)
end)
