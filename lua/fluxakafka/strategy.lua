--- How fluxakafka waits, and where callbacks run: the strategy of the environment, chosen
-- once when fluxakafka is loaded. The methods (fluxakafka.lua) are defined once and call it;
-- this file is the strategy of a Lua program of its own, fluxakafka.nginx the one inside
-- OpenResty, which yields instead of blocking and keeps callbacks in their request.
--
-- A wait is described once per method, at load, by a table `w`:
--   fn, what   the method's name and what it waits for, for the errors of phases that cannot
--   block(self, timeout, a)  the call waiting in C, bounded by timeout (0: do not wait)
--   step(self, a, owner)     one round of work without waiting (serving deliveries), for a
--                            strategy that sleeps between rounds itself
--   done(self, a, r1)        whether waiting is over after a step that returned r1
--   final      after the rounds, block(self, 0, a) gives the answer (else the last step's)
--   idle(self) optional: nothing to wait for, so even a phase that cannot wait may call
--   cap        the longest sleep between rounds, in seconds
local M = {}

--- "yield" or "block" for a call of fn that has to `what`; raises where it can do neither.
function M.mode() return "block" end

--- Whether a call that must always be possible (closing) yields here; else it blocks.
function M.may_yield() return false end

--- Waits as w describes until w.done, in the given mode ("yield" or "block", from mode() or
-- may_yield()), with no deadline of its own (the work is bounded: a job): here in C.
function M.run(w, _, self, a) return w.block(self, nil, a) end

--- Whether produce's C call itself waits for room in a full queue (queue_full_timeout).
M.c_waits_for_room = true

--- How produce stages records before librdkafka (csrc/fk_stage.h): the records of a burst
-- go together, and a thread of the pool hands over what a burst leaves within 1 ms.
M.staging = "bursts"

--- The owner of the callbacks that the caller's code will get: nil here, where every
-- callback runs in whichever call serves its delivery. `pool` is the pool the call uses.
function M.caller() return nil end

--- produce's owner: the one of a call that gives `callback`.
function M.producer() return nil end

--- Runs the callbacks that waited for owner; how many ran.
function M.run_own() return 0 end

--- After produce queued a record (ok) or not.
function M.produced() end

--- Waits as w describes, for up to timeout seconds: here in C.
function M.wait(w, _, timeout, self, a) return w.block(self, timeout, a) end

--- After attempt(self, a, b, owner) (produce, produce_sync) answered ok, err, code with a
-- full queue: here the C call waited already, so its answer stands.
function M.retry_full(_, _, _, _, _, ok, err, code) return ok, err, code end

--- Raises where a call may not hold the thread in C (transactions); nothing here.
function M.hold() end

--- Where librdkafka's log lines go unless a logger was given.
function M.log(level, facility, message)
  io.stderr:write(("fluxakafka: %%%d|%s|%s\n"):format(level, facility, message))
end

return M
