--- The one way fluxakafka waits for a job: a call that waits for the brokers, started as an
-- fk_job (see csrc/fluxakafka.h) whose work runs on a thread of its own, and returned by the
-- binding as a "fluxakafka.job" userdata (job:_ready(), job:_wait(), job:_result()).
-- The wait itself is the strategy's (fluxakafka.lua sets the environment's, see
-- fluxakafka/strategy.lua): outside nginx it blocks in job:_wait(); inside it yields, sleeping
-- between job:_ready() polls as for every other wait, and raises in phases that cannot yield.
local M = {}

local strategy = {
  -- "yield" or "block" for a call of fn that has to `what` ("wait for the brokers"); raises
  -- where it can do neither
  mode = function() return "block" end,
  -- whether a call that must always be possible (closing) yields here; else it blocks
  may_yield = function() return false end,
  run = function(w, _, job) return w.block(job) end,
}

-- a job's wait, as the strategies run waits (see fluxakafka/strategy.lua)
local JOB = { cap = 0.016, block = function(job) job:_wait() end, step = function(job) return job:_ready() end,
              done = function(_, _, ready) return ready end }

--- Sets the strategy (fluxakafka.lua, once, at load).
function M.set_strategy(s) strategy = s end

--- "yield" or "block" for fn here, raising where it can do neither: for a method that starts
-- its job differently when it must not block.
function M.mode(fn, what) return strategy.mode(fn, what) end

--- Waits for job, as mode says, and returns its answer: what the method returns. A starter's
-- nil, err, code (the job did not start) is passed on.
function M.job(mode, job, err, code)
  if not job then return nil, err, code end
  strategy.run(JOB, mode, job)
  return job:_result()
end

--- The method of a call that waits: start(...) returns the job (or nil, err, code); its
-- answer is returned. Raises before starting anything where the caller cannot wait.
function M.await(fn, what, start, ...)
  return M.job(strategy.mode(fn, what), start(...))
end

--- For a call that must always be possible (closing): yields where the caller may, else
-- blocks. start(...) returns the job, or nothing when there is nothing to wait for.
function M.finish(start, ...)
  return M.job(strategy.may_yield() and "yield" or "block", start(...))
end

return M
