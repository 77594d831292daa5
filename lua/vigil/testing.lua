--- vigil.testing - test policies with busted, in virtual time, on the real core.
---
--- A simulated cluster is the C simulator (vigil.core's `core.sim`, over
--- core/include/vigil_sim.h): every agent is a real vigil_node, the code
--- the agent runs, gossiping over an in-memory network that loses, delays,
--- partitions and refuses as a real one does, on a virtual clock. There is
--- no membership logic here: this module only runs policies on top. Each
--- agent that runs a policy gets its own vigil.runtime over a host bound to
--- that agent (its node's snapshot, its commands, its timers), as the
--- agent's script thread does. Events reach each policy in order, at their
--- virtual time, interleaved exactly with the policies' timers. Commands
--- the policies run are captured, never executed; their results are
--- scripted. The same seed gives the same run.
---
--- Two shapes:
---
---   -- a cluster where every agent runs the policy
---   local sim = testing.cluster({ agents = 5, interval = 0.2, seed = 1 })
---   sim:load("agent.lua")
---   sim:advance(5)
---   sim:crash(sim:agents()[3])
---   sim:advance(2)
---   assert.delivered(sim, "peer_down", { peer = sim:agents()[3] })
---
---   -- one agent's view: only `self` runs the policy; its peers are
---   -- real nodes too
---   local sim = testing.cluster({ self = "127.0.0.1:7946",
---     peers = { "127.0.0.2:7946", "127.0.0.3:7946" }, interval = 1.0, seed = 42 })
---
--- Simulated addresses are names inside the simulator only (nothing is
--- sent on a socket); use loopback names (127.0.0.0/8).
local core = require("vigil.core")
local runtime = require("vigil.runtime")
local text = require("vigil.text")

local M = {}

local Sim = {}
Sim.__index = Sim

-- Options that go to core.sim as they are.
local SIM_OPTIONS = { seeds = true, seed = true, interval = true, tick = true, reap_after = true, delay = true,
  jitter = true, start_spread = true, observers = true, quorum = true, loss = true, events = true, threshold = true,
  model = true, min_std_dev = true, acceptable_pause = true, max_samples = true, refused = true,
  first_estimate = true, min_mean = true }
-- Options that are gone, and why.
local REMOVED_OPTIONS = {
  fanout = "removed in protocol 2: an agent sends to its observers and subjects only; "
    .. "use observers (K) and quorum (H) to shape a large cluster",
}
-- Options this module reads.
local OWN_OPTIONS = { agents = true, self = true, dc = true, rack = true, tags = true, peers = true,
  thresholds = true, acceptable_pauses = true, budget = true }

-- Two times closer than this are the same instant: Lua seconds (doubles)
-- and the simulator's nanoseconds round differently.
local EPSILON = 1e-9
-- While an agent's policy settings wait for its node to start, time moves
-- in steps this long, so that they are in force within this of its start.
local PENDING_STEP = 0.001

local function agent_spec(p)
  if type(p) == "string" then return { pname = p } end
  if type(p) ~= "table" or type(p.pname) ~= "string" then
    error("an agent is a pname or {pname=, dc=, rack=, tags=}, got " .. tostring(p), 4)
  end
  return { pname = p.pname, dc = p.dc, rack = p.rack, tags = p.tags }
end

--- A simulated cluster.
---
--- Either `agents` (a count, named 127.x.y.z:7946 by the simulator, or a
--- list of pnames / {pname, dc, rack, tags}), where every agent runs the
--- policy; or `self` (+ `dc`, `rack`, `tags`) and `peers` (pnames or
--- {pname, dc, rack, tags}), the view of one agent: only self runs the
--- policy, self is the seed. `tags` are an agent's --tag, {role = "db"}:
--- its peers learn them from its heartbeats, as real agents do.
---
--- Network and cluster: interval (1 s for a single view, the agent's 0.2 s
--- otherwise), tick (interval / 2), seed (42), seeds (1: the first agent),
--- reap_after, delay (one-way latency, 0.2 ms), jitter (its standard
--- deviation, 0.05 ms), loss (0..1 on every datagram), start_spread
--- (agents start within it: one interval), observers (K, observers per
--- agent, 1 to 16: 8) and quorum (H, alerts that convict, 2 to 16: 5).
--- A cluster of K + 1 agents or fewer has everyone observe everyone and
--- convict on its own phi or a refusal; a larger one sends only to
--- observers and subjects and convicts on a quorum of the observers'
--- alerts (cause "observers"). The agents'
--- detector: threshold, model, min_std_dev, acceptable_pause, refused,
--- max_samples (the agent's defaults). For the policies: thresholds and
--- acceptable_pauses (per dc or pname, as vigil.configure), budget
--- (seconds a handler may run).
---
--- Events reach the policies (and sim.events) as the agent gives them:
--- peer_up and peer_down carry `cause`, peer_up also `reason` ("joined",
--- "recovered", "restarted").
---@param opts table
---@return table sim
function M.cluster(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if REMOVED_OPTIONS[k] then error("testing.cluster: " .. k .. ": " .. REMOVED_OPTIONS[k], 2) end
    if not SIM_OPTIONS[k] and not OWN_OPTIONS[k] then
      error("testing.cluster: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  -- core.sim checks each alone; a quorum above K would leave every node
  -- unable to start (the agents would stay pending), so say it here.
  local observers, quorum = opts.observers or 8, opts.quorum or 5
  if type(observers) == "number" and type(quorum) == "number" and quorum > observers then
    error(string.format("testing.cluster: quorum (%s%s) must be at most observers (%s%s)", tostring(quorum),
      opts.quorum and "" or ", the default", tostring(observers), opts.observers and "" or ", the default"), 2)
  end
  local single = opts.agents == nil
  if not single and (opts.self or opts.peers) then
    error("testing.cluster: give either agents, or self and peers", 2)
  end
  local copts = {}
  for k in pairs(SIM_OPTIONS) do copts[k] = opts[k] end
  copts.seed = copts.seed or 42
  copts.interval = copts.interval or (single and 1.0 or 0.2)
  if single then
    local agents = { { pname = opts.self or "127.0.0.1:7946", dc = opts.dc, rack = opts.rack, tags = opts.tags } }
    for _, p in ipairs(opts.peers or {}) do agents[#agents + 1] = agent_spec(p) end
    copts.agents = agents
  elseif type(opts.agents) == "table" then
    local agents = {}
    for i, p in ipairs(opts.agents) do agents[i] = agent_spec(p) end
    copts.agents = agents
  else
    copts.agents = opts.agents
  end
  local sim = setmetatable({
    core = core.sim(copts),
    single = single,
    interval = copts.interval,
    delay_s = copts.delay or 0.0002,  -- the latency in force (core.sim's default)
    jitter_s = copts.jitter or 0.00005,
    agent = {},          -- index -> agent record
    by_pname = {},       -- pname -> agent record
    timers = {},         -- every policy's virtual timers
    timer_seq = 0,
    scripted = {},       -- on_exec rules
    source = nil,        -- the policy loaded last (loaded again on joins and restarts)
    settings = {},       -- vigil.configure settings given as options
    events = {},         -- what the policies were given (each with its agent)
    execs = {},          -- commands the policies asked for
    logs = {},           -- what the policies logged
    errors = {},         -- handlers that raised or ran too long
    loads = {},          -- load results
    exec_counts = {},
  }, Sim)
  if opts.thresholds then sim.settings.thresholds = opts.thresholds end
  if opts.acceptable_pauses then sim.settings.acceptable_pauses = opts.acceptable_pauses end
  sim.budget = opts.budget
  for i = 1, sim.core:agents() do
    sim:track(i, not single or i == 1)
  end
  sim.self_pname = sim.agent[1].pname
  return sim
end

-- Start tracking agent i of the simulator; policy = whether it runs policies.
function Sim:track(i, policy)
  local ag = { index = i, pname = self.core:pname(i), policy = policy, proc = 1, stall_until = -math.huge }
  self.agent[i] = ag
  self.by_pname[ag.pname] = ag
  if policy then self:new_process(ag) end
  return ag
end

-- A new process for a policy agent: a fresh runtime (vigil.state is lost
-- with the process), its settings waiting until its node runs.
function Sim:new_process(ag)
  ag.proc = ag.proc + 1
  ag.rt = nil
  if not ag.policy then return end
  local budget = self.budget
  ag.pending = next(self.settings) and {} or nil
  if ag.pending then
    for k, v in pairs(self.settings) do ag.pending[k] = v end
  end
  ag.rt = runtime.new(self:host(ag))
  if budget then ag.rt.budget = budget end
end

-- The agent record for pname (raises on an unknown one).
function Sim:agent_of(pname, level)
  local ag = self.by_pname[pname]
  if not ag then error("no simulated agent " .. tostring(pname), (level or 2) + 1) end
  return ag
end

-- Whether agent ag's process is running code now (alive; not stalled,
-- stopped, killed, gone or not started yet).
function Sim:running(ag) return self.core:status(ag.index) == "alive" end

-- Apply the settings agent ag's policy asked for while its node did not run.
function Sim:apply_pending(ag)
  if not ag.pending or not self:running(ag) then return end
  local s = ag.pending
  ag.pending = nil
  self.core:apply(ag.index, s)
end

-- Whether a policy's settings wait for a node that has not started yet.
local function has_pending(sim)
  for _, ag in ipairs(sim.agent) do
    if ag.pending and sim.core:status(ag.index) == "pending" then return true end
  end
  return false
end

-- The host a policy runtime of agent ag runs on: everything in virtual
-- time, every read and command on that agent's node.
function Sim:host(ag)
  local sim = self
  local h = {}
  function h.now() return sim.core:now() end
  function h.snapshot() return sim.core:snapshot(ag.index) end
  function h.configure(s)
    local settings = {}
    for k, v in pairs(s) do settings[k] = v end
    if settings.budget then
      if ag.rt then ag.rt.budget = settings.budget end
      settings.budget = nil
    end
    if not next(settings) then return true end
    if not sim:running(ag) and sim.core:status(ag.index) ~= "stalled" then
      -- not started yet: in force as soon as it is
      ag.pending = ag.pending or {}
      for k, v in pairs(settings) do ag.pending[k] = v end
      return true
    end
    local ok, note = sim.core:apply(ag.index, settings)
    if ok then return true end
    return nil, note
  end
  function h.mark_down(pname)
    local ok, note = sim.core:mark_down(ag.index, pname)
    if ok then return true end
    return nil, note
  end
  -- fields: the list {k1, v1, ...} the runtime gives every host (vigil.log_fields);
  -- recorded as the agent writes it (fields, logfmt) and as a table (values).
  function h.log(level, msg, fields)
    local values = {}
    for i = 1, #fields - 1, 2 do values[fields[i]] = fields[i + 1] end
    sim.logs[#sim.logs + 1] = { level = level, msg = msg, fields = text.logfmt(fields), values = values,
      at = sim.core:now(), agent = ag.pname }
  end
  function h.hash(s) return core.hash(s) end
  function h.report(ok, err, generation)
    sim.loads[#sim.loads + 1] = { ok = ok, err = err, generation = generation, at = sim.core:now(), agent = ag.pname }
  end
  function h.count_exec(result)
    sim.exec_counts[result] = (sim.exec_counts[result] or 0) + 1
  end
  -- The budget: CPU seconds, checked by a count hook. Policy code runs with
  -- the JIT off (see prepare), so the hook fires even in tight loops.
  function h.call(kind, fn, ...)
    local budget = ag.rt and ag.rt.budget or 1.0
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
    sim.errors[#sim.errors + 1] = { kind = kind, err = tostring(err), interrupted = tripped, at = sim.core:now(),
      agent = ag.pname }
    return false, err, tripped
  end
  function h.prepare(fn)
    if jit then jit.off(fn, true) end
  end
  -- A timer of this agent's process: it fires only while the process runs
  -- (late after a stall or a stop, never after the process is gone).
  function h.timer(delay, period, fn)
    sim.timer_seq = sim.timer_seq + 1
    local t = { due = sim.core:now() + delay, period = period or 0, fn = fn, active = true, seq = sim.timer_seq,
      ag = ag, proc = ag.proc, kind = "timer" }
    function t.stop() t.active = false end
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
      timeout = spec.timeout, at = sim.core:now(), agent = ag.pname }
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
  return h
end

--- Load a policy on every agent that runs policies (every agent, or self
--- in a single view): a file path or a function(vigil). Raises on failure
--- (use try_load to test failures). Agents that join or restart later
--- load it too.
---@param source string|function
---@return table sim
function Sim:load(source)
  local ok, err = self:try_load(source)
  if not ok then error("policy failed to load: " .. tostring(err), 2) end
  return self
end

--- Load a policy on every agent that runs policies; returns true, or
--- false and the first error (file:line first).
---@param source string|function
---@return boolean ok
---@return string|nil err
function Sim:try_load(source)
  local first_err
  for _, ag in ipairs(self.agent) do
    if ag.rt then
      local ok, err = ag.rt:load(source)
      if not ok and not first_err then first_err = err end
    end
  end
  if first_err then return false, first_err end
  self.source = source
  return true
end

--- Hand every event the nodes published to its agent's policy, in order.
--- Returns how many there were.
---@return integer
function Sim:deliver()
  local n = 0
  while true do
    local i, ev = self.core:next_event()
    if not i then break end
    n = n + 1
    local ag = self.agent[i]
    if ag.policy then
      local rec = {}
      for k, v in pairs(ev) do rec[k] = v end
      rec.agent = ag.pname
      self.events[#self.events + 1] = rec
      if ag.rt then
        self:apply_pending(ag)
        ag.rt:dispatch(ev)
      end
    end
  end
  return n
end

-- When timer t can fire: its due time, later if its process is stalled;
-- nil while the process is stopped or not started, and for good once it
-- is gone.
function Sim:timer_due(t)
  if not t.active then return nil end
  local ag = t.ag
  if t.proc ~= ag.proc then
    t.active = false
    return nil
  end
  local st = self.core:status(ag.index)
  if st == "alive" then return t.due end
  -- a stalled process runs its timers (late) just after it resumes
  if st == "stalled" then return math.max(t.due, ag.stall_until + 1e-6) end
  return nil
end

-- The earliest timer that can fire, and when.
function Sim:next_timer()
  local when, which
  for _, t in ipairs(self.timers) do
    local due = self:timer_due(t)
    if due and (not when or due < when or (due == when and t.seq < which.seq)) then when, which = due, t end
  end
  return when, which
end

-- Fire timer t now (its process runs).
function Sim:fire(t)
  local now = self.core:now()
  if t.period > 0 then
    t.due = t.due + t.period
    if t.due <= now then t.due = now + t.period end -- late (a stall): once, then on from now
    if t.due <= now then t.due = now + 1e-6 end -- a period below the clock's resolution
  else
    t.active = false
  end
  local ag = t.ag
  if ag.rt then ag.rt.host.call(t.kind, t.fn) end
end

--- Move virtual time forward by `seconds`: the simulator runs until the
--- next event or policy timer, the event goes to its agent's policy, due
--- timers fire, and so on, in time order.
---@param seconds number
---@return table sim
function Sim:advance(seconds)
  local stop = self.core:now() + seconds
  self:deliver()
  while true do
    for _, ag in ipairs(self.agent) do self:apply_pending(ag) end
    local now = self.core:now()
    local due, t = self:next_timer()
    local target = stop
    if due and due < target then target = due end
    if has_pending(self) and now + PENDING_STEP < target then target = now + PENDING_STEP end
    if target < now then target = now end
    self.core:run(target, true)
    if self:deliver() == 0 then
      now = self.core:now()
      if t and due <= now + EPSILON then
        self:fire(t)
        self:deliver()
      elseif now >= stop - EPSILON then
        break
      end
    end
  end
  -- drop finished timers now and then
  if #self.timers > 256 then
    local live = {}
    for _, t in ipairs(self.timers) do
      if t.active then live[#live + 1] = t end
    end
    self.timers = live
  end
  return self
end

-- Raise a failed fault (nil, why) at the caller of the method.
local function check(ok, why)
  if not ok then error(why, 3) end
end

--- The agent's process dies (kill -9): no more heartbeats, and its host
--- answers heartbeats with "port unreachable". With { silent = true } the
--- host answers nothing (SIGSTOP, the machine died or froze, a cut-off
--- link): only phi can tell; sim:recover resumes it.
---@param pname string
---@param opts table|nil {silent = true}
---@return table sim
function Sim:crash(pname, opts)
  local ag = self:agent_of(pname)
  if opts and opts.silent then
    check(self.core:stop(ag.index))
  else
    check(self.core:kill(ag.index))
    ag.proc, ag.rt = ag.proc + 1, nil -- its policy is gone with it
  end
  return self
end

--- The agent comes back: a stopped one resumes where it was (same
--- generation: its timers fire late); a killed or departed one is started
--- again by its supervisor (a new process: a new generation, its policy
--- loaded afresh). Does nothing to an agent that runs.
---@param pname string
---@return table sim
function Sim:recover(pname)
  local ag = self:agent_of(pname)
  local st = self.core:status(ag.index)
  if st == "stopped" then
    check(self.core:resume(ag.index))
  elseif st == "killed" or st == "left" then
    self:restart(pname)
  end
  return self
end

--- The agent restarts: a new process with a new generation
--- (peer_restarted, then peer_up where it was known). A policy agent loads
--- the policy again, with a fresh vigil.state. With { tags = {...} } the
--- new process carries those tags (as an agent restarted with new --tag
--- flags); without, the ones it had.
---@param pname string
---@param opts table|nil {tags = {role = "db"}}
---@return table sim
function Sim:restart(pname, opts)
  local ag = self:agent_of(pname)
  if opts and opts.tags then self.core:set_tags(ag.index, opts.tags) end
  check(self.core:restart(ag.index))
  self:new_process(ag)
  if ag.rt and self.source then ag.rt:load(self.source) end
  return self
end

--- The agent shuts down gracefully (SIGTERM): it tells its peers, who
--- mark it down and left as soon as that arrives.
---@param pname string
---@return table sim
function Sim:leave(pname)
  local ag = self:agent_of(pname)
  check(self.core:leave(ag.index))
  ag.proc, ag.rt = ag.proc + 1, nil
  return self
end

--- A new agent starts now and joins through the seeds. In a cluster where
--- every agent runs the policy, it loads the policy too.
---@param p string|table pname or {pname, dc, rack, tags}
---@return table sim
function Sim:join(p)
  local spec = agent_spec(p)
  if self.by_pname[spec.pname] then error("agent " .. spec.pname .. " already exists", 2) end
  local i = self.core:add(spec)
  local ag = self:track(i, not self.single)
  if ag.rt and self.source then ag.rt:load(self.source) end
  return self
end

--- The agent freezes for `seconds` (a GC pause, a frozen VM): it hears
--- nothing and decides nothing, its timers wait; then it resumes and reads
--- what queued up. Time does not move: advance as usual.
---@param pname string
---@param seconds number
---@return table sim
function Sim:stall(pname, seconds)
  local ag = self:agent_of(pname)
  check(self.core:stall(ag.index, seconds))
  ag.stall_until = self.core:now() + seconds
  return self
end

--- This agent (self) stalls for `seconds` and time moves past the stall.
---@param seconds number
---@return table sim
function Sim:pause_self(seconds)
  self:stall(self.self_pname, seconds)
  return self:advance(seconds)
end

local function indices(sim, list)
  local out = {}
  for i, p in ipairs(type(list) == "table" and list or { list }) do out[i] = sim:agent_of(p, 3).index end
  return out
end

--- Cut every link between two groups of agents: both ways, or only from
--- a to b with { oneway = true }.
---@param a string[] pnames on one side
---@param b string[] pnames on the other
---@param opts table|nil {oneway = true}
---@return table sim
function Sim:partition(a, b, opts)
  local oneway = opts and opts.oneway or false
  for _, x in ipairs(indices(self, a)) do
    for _, y in ipairs(indices(self, b)) do
      if x ~= y then check(self.core:cut(x, y, oneway)) end
    end
  end
  return self
end

--- Undo every partition (losses stay).
---@return table sim
function Sim:heal()
  self.core:heal()
  return self
end

--- Datagram loss (0..1): loss(rate) on every link, loss(p, rate) on
--- everything agent p sends or receives, loss(a, b, rate) on the link
--- between a and b (both ways).
---@param a number|string the rate, or an agent's pname
---@param b number|string|nil the agent's rate, or the other end of the link
---@param rate number|nil the link's rate
---@return table sim
function Sim:loss(a, b, rate)
  if type(a) == "number" then
    self.core:set_loss(a)
  elseif type(b) == "number" then
    check(self.core:agent_loss(self:agent_of(a).index, b))
  else
    check(self.core:link_loss(self:agent_of(a).index, self:agent_of(b).index, rate))
  end
  return self
end

--- The standard deviation of the latency on every link (seconds), or,
--- with a pname first, the extra deviation on everything that agent sends
--- or receives (variances add up: a jittery host, a busy NIC).
---@param a number|string sd, or the agent
---@param sd number|nil the agent's sd
---@return table sim
function Sim:jitter(a, sd)
  if type(a) == "number" then return self:delay(self.delay_s, a) end
  check(self.core:agent_jitter(self:agent_of(a).index, sd))
  return self
end

--- The one-way latency of every link, and its standard deviation.
---@param d number seconds
---@param sd number|nil seconds (unchanged when nil)
---@return table sim
function Sim:delay(d, sd)
  self.delay_s, self.jitter_s = d, sd or self.jitter_s
  self.core:set_delay(self.delay_s, self.jitter_s)
  return self
end

--- Script the result of commands whose "file arg ..." line matches a Lua
--- pattern: {code=, stdout=, stderr=, delay=, hang=, spawn_error=}.
---@param pattern string
---@param result table
---@return table sim
function Sim:on_exec(pattern, result)
  self.scripted[#self.scripted + 1] = { pattern = pattern, result = result }
  return self
end

-- (observer, p) or (p): the second form is self's view.
local function view(sim, observer, p)
  if p == nil then observer, p = sim.self_pname, observer end
  return sim:agent_of(observer, 3).index, p
end

--- An agent's verdict on a peer: "normal", "down", ... ; nil when the
--- observer does not know it or is not running. sim:state(p) is self's
--- view (the first agent in a cluster).
---@param observer string
---@param p string|nil
---@return string|nil
function Sim:state(observer, p) return (self.core:state(view(self, observer, p))) end

--- An agent's phi of a peer now (0 when unknown). sim:phi(p) is self's view.
---@param observer string
---@param p string|nil
---@return number
function Sim:phi(observer, p) return self.core:phi(view(self, observer, p)) or 0 end

--- What vigil.peers() returns to observer's policy right now (self's by default).
---@param observer string|nil
---@return table[]
function Sim:peers(observer)
  local snap = self.core:snapshot(self:agent_of(observer or self.self_pname).index)
  return snap and snap.peers or {}
end

--- The agents' pnames, in order.
---@return string[]
function Sim:agents()
  local out = {}
  for i, ag in ipairs(self.agent) do out[i] = ag.pname end
  return out
end

--- The simulator's ground truth about an agent: "pending", "alive",
--- "stalled", "killed", "stopped" or "left".
---@param pname string
---@return string
function Sim:status(pname) return self.core:status(self:agent_of(pname).index) end

--- Virtual time, seconds.
---@return number
function Sim:now() return self.core:now() end

--- The simulator's score: false_alarms (peer_down about a live agent, per
--- observer), frames_sent, bytes_sent, frames_lost, refusals, converged
--- (seconds, nil until every live agent sees every other normal), faults.
---@return table
function Sim:stats() return self.core:stats() end

--- Every kill and stop so far, with who detected it how fast:
--- {pname, silent, at, observers, detected, detections = {seconds...}}.
---@return table[]
function Sim:faults() return self.core:faults() end

--- Events of a type (and matching fields, `agent` included) the policies
--- were given.
---@param type_ string
---@param fields table|nil
---@return table[]
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
