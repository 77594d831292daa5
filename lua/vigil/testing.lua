--- vigil.testing - test policies with busted, in virtual time, on the real core.
---
--- A simulated cluster runs the real C detector and handler (vigil.core)
--- and the same policy runtime the agent runs (vigil.runtime), on a virtual
--- clock: peers heartbeat every interval with the jitter and loss you set,
--- evaluate ticks run, timers fire and events reach the policy in order.
--- Commands the policy runs are captured, never executed; their results are
--- scripted. The same seed gives the same run.
---
---   local testing = require("vigil.testing")
---   local sim = testing.cluster({ self = "10.0.0.1:7946",
---     peers = { "10.0.0.2:7946", "10.0.0.3:7946" }, interval = 1.0, seed = 42 })
---   sim:load("agent.lua")
---   sim:advance(10)
---   sim:crash("10.0.0.3:7946")
---   sim:advance(5)
---   assert.delivered(sim, "peer_down", { peer = "10.0.0.3:7946" })
local core = require("vigil.core")
local runtime = require("vigil.runtime")

local M = {}

local Sim = {}
Sim.__index = Sim

-- Settings that go to vigil.configure rather than to the simulation.
local POLICY_SETTINGS = { threshold = true, model = true, min_std_dev = true, acceptable_pause = true,
  refused = true, thresholds = true, fanout = true, budget = true }

--- Park-Miller "minimal standard" generator: exact in doubles, portable.
local function rng(seed)
  local x = (math.floor(seed or 1) % 2147483646) + 1
  return function()
    x = (x * 16807) % 2147483647
    return x / 2147483647
  end
end

local function peer_spec(p)
  if type(p) == "string" then return { pname = p } end
  return { pname = p.pname, dc = p.dc, rack = p.rack, tokens = p.tokens }
end

--- A simulated cluster seen from one agent (`self`).
---@param opts table {self=, dc=, rack=, peers={pname|{pname, dc, rack}}, interval=1, seed=42,
---  jitter=(seconds sd), loss=(0..1), start=(seconds), tick=(interval/2), threshold=, model=, ...}
---@return table sim
function M.cluster(opts)
  opts = opts or {}
  local interval = opts.interval or 1.0
  local self_pname = opts.self or "10.0.0.1:7946"
  local detector = {
    first_estimate = interval,
    min_std_dev = opts.min_std_dev or math.min(0.1, interval / 2),
    acceptable_pause = opts.acceptable_pause or 2.0, -- the agent's default
  }
  local pool = core.pool({ dc = opts.dc, detector = detector })
  pool:add({ pname = self_pname, is_local = true, dc = opts.dc, rack = opts.rack })
  local sim = setmetatable({
    t = opts.start or 0,
    interval = interval,
    tick = opts.tick or interval / 2,
    pool = pool,
    self_pname = self_pname,
    random = rng(opts.seed or 42),
    simulated = {},      -- pname -> simulated peer
    order = {},          -- pnames in creation order (deterministic iteration)
    timers = {},         -- virtual timers
    timer_seq = 0,
    scripted = {},       -- on_exec rules
    events = {},         -- what the policy was given
    execs = {},          -- commands the policy asked for
    logs = {},           -- what the policy logged
    errors = {},         -- handlers that raised or ran too long
    loads = {},          -- load results
    paused_until = -math.huge,
    jitter_default = opts.jitter or interval * 0.02,
    loss_default = opts.loss or 0,
  }, Sim)
  sim.handler = core.handler(pool, { interval = sim.tick, events = 1048576 })
  sim.sub = sim.handler:subscribe()
  sim.handler:set_local_state("normal", sim.t)
  sim.next_tick = sim.t + sim.tick
  sim.next_send = sim.t + sim.random() * interval
  sim.rt = runtime.new(sim:host())
  for _, p in ipairs(opts.peers or {}) do sim:add_peer(p) end
  local settings = {}
  for k, v in pairs(opts) do
    if POLICY_SETTINGS[k] then settings[k] = v end
  end
  if next(settings) then sim.host_impl.configure(settings) end
  return sim
end

--- Add a peer to the cluster. It starts heartbeating within half an
--- interval; its first heartbeat heard makes it join (peer_joined, then
--- peer_up), as on the wire.
---@param p string|table pname or {pname, dc, rack, tokens}
function Sim:add_peer(p)
  local spec = peer_spec(p)
  if self.simulated[spec.pname] or spec.pname == self.self_pname then error("duplicate peer " .. spec.pname, 2) end
  local sp = { pname = spec.pname, spec = spec, joined = false, up = true, reachable = true, generation = 1,
    next_beat = self.t + self.random() * self.interval * 0.5 }
  self.simulated[spec.pname] = sp
  self.order[#self.order + 1] = spec.pname
  return self
end

-- A heartbeat from p reaches this agent.
function Sim:hear(p)
  if not p.joined then
    self.handler:add_peer(p.spec, self.t)
    p.joined = true
  end
  self.handler:record_heartbeat(p.pname, self.t)
end

-- The host the policy runtime runs on: everything in virtual time.
function Sim:host()
  local sim = self
  local h = {}
  function h.now() return sim.t end
  function h.snapshot()
    local peers = {}
    for i, p in ipairs(sim.pool:peers()) do
      local sp = sim.simulated[p.pname]
      peers[i] = {
        pname = p.pname, dc = p.dc, rack = p.rack, state = p.state, since = p.since, is_local = p.is_local,
        phi = p.is_local and 0 or sim.handler:phi(p.pname, sim.t),
        threshold = p.threshold,
        generation = sp and sp.generation or 0,
      }
    end
    return { self = sim.self_pname, threshold = sim.handler:threshold(), interval = sim.interval, at = sim.t,
      peers = peers }
  end
  function h.configure(s)
    local det = {}
    for _, k in ipairs({ "threshold", "model", "min_std_dev", "acceptable_pause", "refused" }) do det[k] = s[k] end
    if next(det) then sim.handler:configure(det) end
    if s.thresholds then sim.handler:set_thresholds(s.thresholds) end
    if s.interval then
      sim.interval = s.interval
      sim.tick = s.interval / 2
      sim.handler:set_interval(sim.tick)
    end
    if s.budget then sim.rt.budget = s.budget end
    return true
  end
  function h.mark_down(pname)
    local ok, err = sim.handler:mark_down(pname, sim.t)
    sim:deliver()
    return ok, err
  end
  function h.log(level, msg, fields)
    sim.logs[#sim.logs + 1] = { level = level, msg = msg, fields = fields, at = sim.t }
  end
  function h.hash(s) return core.hash(s) end
  function h.report(ok, err, generation)
    sim.loads[#sim.loads + 1] = { ok = ok, err = err, generation = generation, at = sim.t }
  end
  function h.count_exec(result)
    sim.exec_counts = sim.exec_counts or {}
    sim.exec_counts[result] = (sim.exec_counts[result] or 0) + 1
  end
  -- The budget: CPU seconds, checked by a count hook. Policy code runs with
  -- the JIT off (see prepare), so the hook fires even in tight loops.
  function h.call(kind, fn, ...)
    local budget = sim.rt.budget
    local deadline = os.clock() + budget
    local tripped = false
    debug.sethook(function()
      if os.clock() > deadline then
        tripped = true
        local info = debug.getinfo(2, "Sl")
        error(string.format("%s:%d: interrupted: ran past its budget of %.3g s", info and info.short_src or "?",
          info and info.currentline or 0, budget), 2)
      end
    end, "", 1000)
    local ok, err = pcall(fn, ...)
    debug.sethook()
    if ok then return true end
    sim.errors[#sim.errors + 1] = { kind = kind, err = tostring(err), interrupted = tripped, at = sim.t }
    return false, err, tripped
  end
  function h.prepare(fn)
    if jit then jit.off(fn, true) end
  end
  function h.timer(delay, period, fn)
    sim.timer_seq = sim.timer_seq + 1
    local t = { due = sim.t + delay, period = period or 0, fn = fn, active = true, seq = sim.timer_seq }
    function t.stop() t.active = false end
    t.kind = "timer"
    sim.timers[#sim.timers + 1] = t
    return t
  end
  function h.spawn(spec)
    local line = spec.file
    for _, a in ipairs(spec.args or {}) do line = line .. " " .. a end
    local result = { code = 0, stdout = "", stderr = "" }
    for i = #sim.scripted, 1, -1 do
      if line:find(sim.scripted[i].pattern) then
        result = sim.scripted[i].result
        break
      end
    end
    sim.execs[#sim.execs + 1] = { file = spec.file, args = spec.args, line = line, env = spec.env, stdin = spec.stdin,
      timeout = spec.timeout, at = sim.t }
    if result.spawn_error then return nil, spec.file .. ": " .. result.spawn_error end
    local hangs = result.hang or (result.delay or 0) > spec.timeout
    local t = h.timer(hangs and spec.timeout or (result.delay or 0), 0, function()
      if hangs then
        spec.on_exit(nil, 15, "", "", true)
      else
        spec.on_exit(result.code, 0, result.stdout or "", result.stderr or "", false)
      end
    end)
    t.kind = "exec"
    return true
  end
  self.host_impl = h
  return h
end

--- Load a policy: a file path or a function(vigil). Raises on failure (use
--- try_load to test failures).
function Sim:load(source)
  local ok, err = self:try_load(source)
  if not ok then error("policy failed to load: " .. tostring(err), 2) end
  return self
end

--- Load a policy; returns true, or false and the error (file:line first).
function Sim:try_load(source)
  return self.rt:load(source)
end

--- Hand the core's pending events to the policy, in order.
function Sim:deliver()
  for _, ev in ipairs(self.sub:poll()) do
    if ev.type ~= "gossip_round" then
      self.events[#self.events + 1] = ev
      self.rt:dispatch(ev)
    end
  end
end

local function gaussian(random)
  local u1, u2 = random(), random()
  return math.sqrt(-2 * math.log(u1 + 1e-12)) * math.cos(2 * math.pi * u2)
end

-- The earliest thing that happens next: a tick, a conviction falling due
-- (the agent evaluates then too), this agent's gossip round, a heartbeat or
-- a timer.
function Sim:next_occurrence(limit)
  local when, what, which = limit, nil, nil
  if self.next_tick <= when then when, what = self.next_tick, "tick" end
  local due = self.handler:next_due(self.t)
  if due and due > self.t and due < when then when, what = due, "due" end
  if self.next_send < when then when, what = self.next_send, "send" end
  for _, pname in ipairs(self.order) do
    local p = self.simulated[pname]
    if p.up and p.next_beat < when then when, what, which = p.next_beat, "beat", p end
  end
  for _, t in ipairs(self.timers) do
    if t.active and (t.due < when or (t.due == when and what == nil)) then when, what, which = t.due, "timer", t end
  end
  return when, what, which
end

--- Move virtual time forward by `seconds`, running everything due.
---@param seconds number
function Sim:advance(seconds)
  local stop = self.t + seconds
  while true do
    local when, what, which = self:next_occurrence(stop)
    if not what then break end
    self.t = when
    local paused = self.t < self.paused_until
    if what == "tick" then
      self.next_tick = self.t + self.tick
      if not paused then self.handler:evaluate(self.t) end
    elseif what == "due" then
      if not paused then self.handler:evaluate(self.t) end
    elseif what == "send" then
      -- This agent heartbeats every peer; the host of a crashed one answers
      -- "port unreachable" (unless it is silent: a dead host, a partition).
      self.next_send = self.t + self.interval
      if not paused then
        for _, pname in ipairs(self.order) do
          local p = self.simulated[pname]
          if p.refuses and p.reachable and p.joined then self.handler:refused(pname, self.t) end
        end
      end
    elseif what == "beat" then
      local p = which
      local jitter = p.jitter or self.jitter_default
      p.next_beat = self.t + math.max(self.interval * 0.05, self.interval + jitter * gaussian(self.random))
      local lost = self.random() < (p.loss or self.loss_default)
      if p.reachable and not lost and not paused then self:hear(p) end
    else
      local t = which
      if paused then
        t.due = self.paused_until -- a stalled agent runs its timers late
      else
        if t.period > 0 then t.due = t.due + t.period else t.active = false end
        self.host_impl.call(t.kind, t.fn)
      end
    end
    self:deliver()
  end
  self.t = stop
  -- drop finished timers now and then
  if #self.timers > 256 then
    local live = {}
    for _, t in ipairs(self.timers) do if t.active then live[#live + 1] = t end end
    self.timers = live
  end
  return self
end

local function peer_of(sim, pname)
  local p = sim.simulated[pname]
  if not p then error("no simulated peer " .. tostring(pname), 3) end
  return p
end

--- The peer's process dies (kill -9): no more heartbeats, and its host
--- answers this agent's heartbeats with "port unreachable". With
--- { silent = true } the host answers nothing: the machine died, froze or
--- was cut off, and only phi can tell.
---@param opts table|nil {silent = true}
function Sim:crash(pname, opts)
  local p = peer_of(self, pname)
  p.up = false
  p.refuses = not (opts and opts.silent)
  return self
end

--- The peer resumes heartbeating, same generation.
function Sim:recover(pname)
  local p = peer_of(self, pname)
  p.up = true
  p.refuses = false
  p.next_beat = self.t + self.interval * 0.1
  return self
end

--- The peer restarts: a new generation, heard at once.
function Sim:restart(pname)
  local p = peer_of(self, pname)
  p.generation = p.generation + 1
  p.up = true
  p.refuses = false
  if p.joined then self.handler:peer_restarted(pname, self.t) end
  self:deliver()
  if p.reachable then self:hear(p) end
  p.next_beat = self.t + self.interval
  self:deliver()
  return self
end

--- The peer shuts down gracefully (SIGTERM): down and left at once.
function Sim:leave(pname)
  local p = peer_of(self, pname)
  p.up = false
  p.refuses = true -- its process is gone: its port is closed
  if p.joined then self.handler:peer_left(pname, self.t) end
  self:deliver()
  return self
end

--- Split the cluster in two: this agent hears only the side it is on.
---@param a string[] pnames on one side
---@param b string[] pnames on the other
function Sim:partition(a, b)
  local side = {}
  for _, p in ipairs(a) do side[p] = 1 end
  for _, p in ipairs(b) do side[p] = 2 end
  local mine = side[self.self_pname] or 1
  for pname, p in pairs(self.simulated) do p.reachable = (side[pname] or mine) == mine end
  return self
end

--- Undo every partition.
function Sim:heal()
  for _, p in pairs(self.simulated) do p.reachable = true end
  return self
end

--- Heartbeat jitter of one peer (standard deviation, seconds).
function Sim:jitter(pname, sd) peer_of(self, pname).jitter = sd return self end

--- Fraction of one peer's heartbeats lost (0..1).
function Sim:loss(pname, rate) peer_of(self, pname).loss = rate return self end

--- This agent stalls for `seconds` (a GC pause, SIGSTOP, a frozen VM): no
--- ticks, no heartbeats heard, timers late; then it resumes.
function Sim:pause_self(seconds)
  self.paused_until = self.t + seconds
  return self:advance(seconds)
end

--- Script the result of commands whose "file arg ..." line matches a Lua
--- pattern: {code=, stdout=, stderr=, delay=, hang=, spawn_error=}.
function Sim:on_exec(pattern, result)
  self.scripted[#self.scripted + 1] = { pattern = pattern, result = result }
  return self
end

--- The core's verdict on a peer: "normal", "down", ... (nil before it joined)
function Sim:state(pname) return (self.handler:state(pname)) end

--- The peer's phi now (0 before it joined).
function Sim:phi(pname) return self.handler:phi(pname, self.t) or 0 end

--- Virtual time, seconds.
function Sim:now() return self.t end

--- What vigil.peers() returns to the policy right now.
function Sim:peers() return self.host_impl.snapshot().peers end

--- Events of a type (and matching fields) the policy was given.
function Sim:delivered(type_, fields)
  local out = {}
  for _, ev in ipairs(self.events) do
    local ok = ev.type == type_
    for k, v in pairs(fields or {}) do ok = ok and ev[k] == v end
    if ok then out[#out + 1] = ev end
  end
  return out
end

-- luassert helpers: assert.delivered(sim, type, fields),
-- assert.executed(sim, pattern), assert.logged(sim, pattern [, level]).
local ok_luassert, luassert = pcall(require, "luassert")
local ok_say, say = pcall(require, "say")
if ok_luassert and ok_say then
  local function delivered(_, args)
    local sim, type_, fields = args[1], args[2], args[3]
    return #sim:delivered(type_, fields) > 0
  end
  say:set("assertion.delivered.positive", "Expected event %s %s to have been delivered")
  say:set("assertion.delivered.negative", "Expected event %s %s not to have been delivered")
  luassert:register("assertion", "delivered", function(state, args)
    args[2], args[3] = args[2], args[3]
    local r = delivered(state, args)
    args[1] = args[2]
    args[2] = require("vigil").fields_string(args[3] or {})
    args.n = 2
    return r
  end, "assertion.delivered.positive", "assertion.delivered.negative")

  local function find_in(list, key, pattern, extra)
    for _, item in ipairs(list) do
      if tostring(item[key]):find(pattern) and (not extra or extra(item)) then return true end
    end
    return false
  end
  say:set("assertion.executed.positive", "Expected a command matching %s to have been run")
  say:set("assertion.executed.negative", "Expected no command matching %s to have been run")
  luassert:register("assertion", "executed", function(_, args)
    local r = find_in(args[1].execs, "line", args[2])
    args[1], args.n = args[2], 1
    return r
  end, "assertion.executed.positive", "assertion.executed.negative")
  say:set("assertion.logged.positive", "Expected a log line matching %s to have been written")
  say:set("assertion.logged.negative", "Expected no log line matching %s to have been written")
  luassert:register("assertion", "logged", function(_, args)
    local level = args[3]
    local r = find_in(args[1].logs, "msg", args[2], function(l) return not level or l.level == level end)
    args[1], args.n = args[2], 1
    return r
  end, "assertion.logged.positive", "assertion.logged.negative")
end

return M
