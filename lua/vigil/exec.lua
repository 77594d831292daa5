--- vigil.exec - running commands for a policy: validation, a bounded queue
--- behind a concurrency limit, retries with exponential backoff.
---
--- The host does the process work (uv_spawn on the script loop, pipes
--- bounded at max_output, the timeout with TERM then KILL); this module
--- decides what runs when. Commands never go through a shell unless the
--- policy names one ({"sh", "-c", "..."}).
local log_fields = require("vigil").log_fields

local M = {}
M.__index = M

local function fail(level, fmt, ...)
  error(string.format(fmt, ...), level + 1)
end

--- An executor for runtime rt (limits in rt.exec_limits).
---@param rt table the runtime
---@return table executor
function M.new(rt)
  return setmetatable({ rt = rt, running = 0, queue = {}, head = 1, tail = 0 }, M)
end

--- Check a vigil.exec spec; returns a job or raises naming the field.
---@param spec table
---@param level integer error level of the policy's call
---@return table job
local function check(spec, level)
  if type(spec) ~= "table" then
    fail(level, "vigil.exec: expected {\"cmd\", \"arg\", ...}, got %s", type(spec))
  end
  if type(spec[1]) ~= "string" or spec[1] == "" then
    fail(level, "vigil.exec: the command (spec[1]) must be a string")
  end
  local args = {}
  for i = 2, #spec do
    if type(spec[i]) ~= "string" and type(spec[i]) ~= "number" then
      fail(level, "vigil.exec: argument %d must be a string, got %s", i - 1, type(spec[i]))
    end
    args[#args + 1] = tostring(spec[i])
  end
  local job = { file = spec[1], args = args, attempt = 1 }
  for k, v in pairs(spec) do
    if type(k) ~= "number" then
      if k == "timeout" then
        if not (type(v) == "number" and v > 0 and v <= 3600) then
          fail(level, "vigil.exec: timeout must be seconds from 0 to 3600")
        end
      elseif k == "retries" then
        if not (type(v) == "number" and v >= 0 and v <= 100 and v == math.floor(v)) then
          fail(level, "vigil.exec: retries must be a whole number from 0 to 100")
        end
      elseif k == "backoff" then
        if not (type(v) == "number" and v >= 0 and v <= 3600) then
          fail(level, "vigil.exec: backoff must be seconds >= 0")
        end
      elseif k == "env" then
        if type(v) ~= "table" then fail(level, "vigil.exec: env must be a table of strings") end
        for ek, ev in pairs(v) do
          if type(ek) ~= "string" or ek:find("[=%z]") or (type(ev) ~= "string" and type(ev) ~= "number") then
            fail(level, "vigil.exec: env entries must be NAME = \"value\"")
          end
        end
      elseif k == "stdin" then
        if type(v) ~= "string" then fail(level, "vigil.exec: stdin must be a string") end
      elseif k == "on_exit" then
        if type(v) ~= "function" then fail(level, "vigil.exec: on_exit must be a function") end
      else
        fail(level, "vigil.exec: unknown option '%s'", tostring(k))
      end
      job[k] = v
    end
  end
  job.timeout = job.timeout or 10
  job.retries = job.retries or 0
  job.backoff = job.backoff or 1
  return job
end

--- Queue a command (see vigil.exec). Returns true, or nil and why.
---@param spec table
---@param level? integer
---@return boolean|nil ok
---@return string|nil why
function M:submit(spec, level)
  local job = check(spec, (level or 1) + 1)
  return self:enqueue(job)
end

--- Start a checked job now, or queue it behind the running ones.
---@param job table
---@return boolean|nil ok
---@return string|nil why
function M:enqueue(job)
  local limits = self.rt.exec_limits
  if self.running < limits.concurrency then
    self:start(job)
    return true
  end
  if self.tail - self.head + 1 >= limits.queue then
    self.rt.host.count_exec("rejected")
    self.rt.host.log("warn", "exec queue full: command dropped",
      log_fields({ cmd = job.file, queued = self.tail - self.head + 1 }))
    return nil, "exec queue full"
  end
  self.tail = self.tail + 1
  self.queue[self.tail] = job
  return true
end

--- Spawn a job through the host.
---@param job table
function M:start(job)
  local host = self.rt.host
  self.running = self.running + 1
  host.count_exec("started")
  local proc, err = host.spawn({
    file = job.file, args = job.args, env = job.env, stdin = job.stdin, timeout = job.timeout,
    max_output = self.rt.exec_limits.max_output,
    on_exit = function(code, signal, out, errout, timed_out)
      local why = timed_out and "timeout" or (signal and signal ~= 0 and "signal") or "exit"
      self:finished(job, code, out, errout, why)
    end,
  })
  if not proc then self:finished(job, nil, "", tostring(err), "spawn") end
end

--- A run ended: retry with backoff, or report to on_exit; then start what waits.
---@param job table
---@param code number|nil exit code (nil when killed by a signal or never started)
---@param out string
---@param errout string
---@param why string "exit", "timeout", "signal" or "spawn"
function M:finished(job, code, out, errout, why)
  local host = self.rt.host
  self.running = self.running - 1
  local ok = why == "exit" and code == 0
  if not ok and job.attempt <= job.retries then
    local delay = job.backoff * 2 ^ (job.attempt - 1)
    host.log("warn", "exec failed, will retry", log_fields({ cmd = job.file, attempt = job.attempt, why = why,
      code = tostring(code), retry_in = string.format("%.3g", delay) }))
    job.attempt = job.attempt + 1
    host.timer(delay, 0, function() self:enqueue(job) end)
  else
    host.count_exec(ok and "ok" or (why == "timeout" and "timeout" or "failed"))
    if not ok then
      host.log("warn", "exec failed", log_fields({ cmd = job.file, attempts = job.attempt, why = why,
        code = tostring(code) }))
    end
    if job.on_exit then job.on_exit(code, out, errout, why) end
  end
  while self.running < self.rt.exec_limits.concurrency and self.head <= self.tail do
    local next_job = self.queue[self.head]
    self.queue[self.head] = nil
    self.head = self.head + 1
    self:start(next_job)
  end
end

return M
