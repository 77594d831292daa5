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
---
--- Settings (vigil.configure) against the agent's own: what the operator
--- configured (flags > VIGIL_* > config file > defaults; host.baseline())
--- is the baseline. A generation that sets a setting overrides it while it
--- is loaded; the next generation that does not set it gets the baseline
--- back. Both are logged, and overriding a value the operator gave
--- explicitly is a warning, once per load (apply_settings).
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
    overridden = {},       -- settings the active generation set (vigil.configure): restored when dropped
    in_force = {},         -- setting -> the value a policy last set (absent: the operator's)
    warned = {},           -- settings the active generation was warned about overriding
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
  self:apply_settings(g)
  local n = 0
  for _, list in pairs(g.handlers) do n = n + #list end
  self.host.log("info", "policy loaded",
    api.log_fields({ generation = self.generation, handlers = n, timers = #g.timers }))
  self.host.report(true, nil, self.generation)
end

--- What the operator configured for each setting vigil.configure takes,
--- and where each explicitly set one came from ("--threshold",
--- "VIGIL_INTERVAL", a config file); nil when the host has no baseline
--- (then settings merge into what is in force and are never restored).
---@return table|nil values
---@return table origins
function M:baseline()
  if not self.host.baseline then return nil, {} end
  local values, from = self.host.baseline()
  return values or {}, from or {}
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if b[k] ~= v then return false end
  end
  for k, v in pairs(b) do
    if a[k] ~= v then return false end
  end
  return true
end

-- A setting's value when no policy sets it: the operator's; for a table of
-- per-dc / per-peer values, none.
local function configured(base, k)
  local v = base[k]
  if v == nil and api.setting_is_map(k) then v = {} end
  return v
end

--- Setting k is set to v by the active generation: log it when that
--- changes what is in force (or, at a load, differs from the operator's
--- value: each load says what it overrides), and add it to `explicit`
--- when it overrides a value the operator gave (once per generation).
---@param k string
---@param v any
---@param base table the baseline
---@param from table where the operator set each setting
---@param explicit string[] collects the overrides to warn about
---@param at_load boolean at the generation's swap, rather than from a handler
function M:override(k, v, base, from, explicit, at_load)
  local show = api.show_setting
  local c = configured(base, k)
  local before = self.in_force[k]
  if before == nil then before = c end
  local shown_c = c == nil and "nothing" or show(k, c)
  if not same(v, before) or (at_load and not same(v, c)) then
    self.host.log("info", string.format("policy overrides %s %s -> %s (configured %s)", k, show(k, before), show(k, v),
      shown_c), api.log_fields({ setting = k, from = show(k, before), to = show(k, v), configured = shown_c }))
  end
  if from[k] and not same(v, c) and not self.warned[k] then
    self.warned[k] = true
    explicit[#explicit + 1] = string.format("%s %s -> %s (%s)", k, shown_c, show(k, v), from[k])
  end
  self.in_force[k] = v
  self.overridden[k] = true
end

--- One warning for the values the operator gave that a policy overrides.
---@param explicit string[]
function M:warn_explicit(explicit)
  if #explicit == 0 then return end
  self.host.log("warn", "policy overrides settings given explicitly: " .. table.concat(explicit, "; "),
    api.log_fields({ hint = "the policy's vigil.configure wins while it is loaded; remove the setting from the "
      .. "policy to use the agent's own" }))
end

--- Apply generation g's settings at its swap: each one it sets overrides
--- the baseline; each one the generation before set and g does not is
--- restored to the baseline. One configure for all of it.
---@param g table the generation being put in place
function M:apply_settings(g)
  local set = g.config or {}
  local base, from = self:baseline()
  if not base then
    if g.config then self.host.configure(g.config) end
    return
  end
  local out, explicit, previous = {}, {}, self.overridden
  self.overridden, self.warned = {}, {}
  for _, k in ipairs(api.setting_names()) do
    local v = set[k]
    if v ~= nil then
      out[k] = v
      self:override(k, v, base, from, explicit, true)
    elseif previous[k] then
      local c, before = configured(base, k), self.in_force[k]
      if c == nil then
        self.host.log("warn", string.format("policy no longer sets %s; it stays at %s (nothing configured to restore)",
          k, api.show_setting(k, before)), api.log_fields({ setting = k }))
        self.overridden[k] = true
      else
        out[k] = c
        self.in_force[k] = nil
        if not same(before, c) then
          self.host.log("info", string.format("%s restored to configured %s", k, api.show_setting(k, c)),
            api.log_fields({ setting = k, value = api.show_setting(k, c), was = api.show_setting(k, before) }))
        end
      end
    end
  end
  self:warn_explicit(explicit)
  if next(out) then self.host.configure(out) end
end

--- vigil.configure from a handler or a timer (after the load): in force
--- now, and an override of the active generation like one made at load.
---@param clean table settings, already checked
---@return boolean|nil ok
---@return string|nil err
function M:configure_live(clean)
  local base, from = self:baseline()
  if base then
    local explicit = {}
    for _, k in ipairs(api.setting_names()) do
      if clean[k] ~= nil then self:override(k, clean[k], base, from, explicit, false) end
    end
    self:warn_explicit(explicit)
  end
  return self.host.configure(clean)
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
