--- vigil.runtime - policy generations: loading, validating, swapping, and
--- delivering events to the active one.
---
--- The runtime runs on a *host*: the agent's script thread (bindings/host.c)
--- or, in specs, a simulated one. The host gives time, snapshots, timers,
--- processes, logs and a budgeted call; the runtime gives policies the
--- `vigil` API (lua/vigil/init.lua) on top. Both hosts use this same file,
--- so what a spec tests is what the agent runs.
---
--- A generation is everything one load of agent.lua declared: handlers,
--- timers, configuration. A load builds a new generation on the side; only
--- when the file ran and validated completely are the old generation's
--- timers stopped and the new handlers, timers and configuration put in
--- place, all at once, between two events. If anything fails, the old
--- generation keeps running.
local api = require("vigil")

local M = {}
M.__index = M

--- Events a policy can subscribe to.
M.EVENTS = {
  peer_up = true, peer_down = true, peer_joined = true, peer_left = true,
  peer_restarted = true, transition = true, lagged = true,
}

--- Create a runtime over a host.
---@param host table the host interface (see bindings/host.c, vigil.testing)
---@return table runtime
function M.new(host)
  local self = setmetatable({
    host = host,
    state = {},            -- vigil.state: survives reloads
    active = nil,          -- the running generation
    generation = 0,        -- successful loads
    budget = 1.0,          -- seconds a handler may run
    exec_limits = { concurrency = 4, queue = 64, max_output = 65536 },
  }, M)
  self.exec = require("vigil.exec").new(self)
  return self
end

--- A new, empty generation.
---@return table generation {handlers, timers, config, loading}
function M:new_generation()
  return {
    handlers = {},      -- event -> ordered list of {name=, fn=}
    timers = {},        -- declared timers (started at swap)
    config = nil,       -- the last vigil.configure table, validated
    loading = true,
  }
end

--- Register fn for event in generation g (named handlers are replaced).
---@param g table the generation
---@param event string
---@param name string|nil
---@param fn function
function M:add_handler(g, event, name, fn)
  local list = g.handlers[event]
  if not list then
    list = {}
    g.handlers[event] = list
  end
  if name then
    for _, h in ipairs(list) do
      if h.name == name then
        h.fn = fn
        return
      end
    end
  end
  list[#list + 1] = { name = name, fn = fn }
end

--- Load a policy: a file path or a function(vigil). Returns true, or false
--- and an error message that starts with file:line when there is one.
---@param source string|function
---@return boolean ok
---@return string|nil err
function M:load(source)
  local g = self:new_generation()
  local vigil = api.new(self, g)
  local code, chunk, err = source
  if type(source) == "function" then
    chunk = function() return source(vigil) end
  else
    chunk, err = loadfile(source)
    if not chunk then return self:failed(source, err) end
    setfenv(chunk, api.environment(vigil))
    code = chunk
  end
  -- A host may need to prepare the policy's code (vigil.testing turns the
  -- JIT off for it, so that the budget hook can always interrupt it).
  if self.host.prepare then self.host.prepare(code) end
  local ok, run_err = self.host.call("load", chunk)
  if not ok then

    return self:failed(source, run_err)
  end
  g.loading = false
  self:swap(g)
  return true
end

--- Report a failed load (the active generation stays).
---@param source string|function
---@param err any
---@return boolean false
---@return string err
function M:failed(source, err)
  err = tostring(err)
  local first = err:match("^[^\n]*")
  self.host.log("error", "policy load failed, the previous policy keeps running",
    api.log_fields({ policy = type(source) == "string" and source or "function", error = first }))
  self.host.report(false, first, self.generation)
  return false, err
end

--- Put generation g in place of the active one, all at once.
---@param g table the generation that loaded
function M:swap(g)
  local old = self.active
  if old then
    for _, t in ipairs(old.timers) do t:stop() end
  end
  self.active = g
  self.generation = self.generation + 1
  for _, t in ipairs(g.timers) do t:start() end
  if g.config then self.host.configure(g.config) end
  local n = 0
  for _, list in pairs(g.handlers) do n = n + #list end
  self.host.log("info", "policy loaded",
    api.log_fields({ generation = self.generation, handlers = n, timers = #g.timers }))
  self.host.report(true, nil, self.generation)
end

--- Deliver one event (a table from the host) to the active generation:
--- handlers for its type, then `transition` handlers for up/down changes.
--- A handler that errors or overruns is counted and logged by the host;
--- the others still run.
---@param ev table {type, peer, dc, rack, state, previous, phi, at, missed}
function M:dispatch(ev)
  local g = self.active
  if not g then return end
  local list = g.handlers[ev.type]
  if list then
    for i = 1, #list do self.host.call(ev.type, list[i].fn, ev) end
  end
  if ev.type ~= "lagged" then
    list = g.handlers.transition
    if list then
      for i = 1, #list do self.host.call("transition", list[i].fn, ev) end
    end
  end
end

return M
