-- bench/far_dc.lua - what a far datacenter's settings change (issue 13).
--
-- Six real nodes on the simulator (core.sim, virtual time, 200 ms
-- heartbeats): three in dc "near", three in dc "far". Everything the far
-- agents send or receive gets JITTER of latency deviation (a jittery WAN),
-- and every 20 to 40 s the far dc is cut from the near one for GAP seconds
-- (a WAN hiccup: no heartbeat crosses). After MINUTES of that, one far
-- agent is stopped (SIGSTOP: silent, only phi can tell) and we time how
-- long each observer takes to convict it.
--
-- Each configuration is a vigil.configure every agent's policy sends, with
-- the override keyed by the other dc (a near agent sets it for "far", a far
-- agent for "near": the same policy file, reading vigil.self().dc), so
-- that each dc is patient with the other and strict within itself. Printed:
-- false alarms (peer_down about a live agent) per hour of the cluster,
-- within a dc and across the two, and the time the near agents take to
-- convict the silent far agent (median and worst over observers and runs;
-- the far agents that share its dc keep the defaults).
--
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lib/?.so;;" \
--     luajit bench/far_dc.lua [runs] [minutes] [gap seconds] [jitter seconds]
local core = require("vigil.core")

local RUNS = tonumber(arg and arg[1]) or 5
local MINUTES = tonumber(arg and arg[2]) or 10
local GAP = tonumber(arg and arg[3]) or 1.5
local JITTER = tonumber(arg and arg[4]) or 0.3

-- name, and the settings for an agent whose other dc is `other`.
local CONFIGS = {
  { name = "defaults (threshold 8, acceptable_pause 2 s)", settings = function() return nil end },
  { name = "thresholds = {[other] = 12}", settings = function(other) return { thresholds = { [other] = 12 } } end },
  { name = "thresholds = {[other] = 16}", settings = function(other) return { thresholds = { [other] = 16 } } end },
  { name = "acceptable_pauses = {[other] = 1}",
    settings = function(other) return { acceptable_pauses = { [other] = 1 } } end },
  { name = "acceptable_pauses = {[other] = 3}",
    settings = function(other) return { acceptable_pauses = { [other] = 3 } } end },
  { name = "acceptable_pauses = {[other] = 4}",
    settings = function(other) return { acceptable_pauses = { [other] = 4 } } end },
}

local NEAR = { "127.0.0.1:7946", "127.0.0.2:7946", "127.0.0.3:7946" }
local FAR = { "127.0.1.1:7946", "127.0.1.2:7946", "127.0.1.3:7946" }

local function agents()
  local list = {}
  for _, p in ipairs(NEAR) do list[#list + 1] = { pname = p, dc = "near" } end
  for _, p in ipairs(FAR) do list[#list + 1] = { pname = p, dc = "far" } end
  return list
end

local function median(xs)
  if #xs == 0 then return 0 / 0 end
  table.sort(xs)
  local m = math.floor((#xs + 1) / 2)
  return #xs % 2 == 1 and xs[m] or (xs[m] + xs[m + 1]) / 2
end

-- Drain the simulator's events: peer_down about live agents counted in
-- alarms.within / alarms.across; with `victim`, the time each near agent
-- convicted it (after `since`) into `detected`.
local function drain(sim, dc_of, alarms, victim, since, detected)
  while true do
    local i, ev = sim:next_event()
    if not i then return end
    if ev.type == "peer_down" then
      local observer = sim:pname(i)
      if ev.peer == victim then
        if dc_of[observer] == "near" then detected[#detected + 1] = ev.at - since end
      elseif sim:status(sim:find(ev.peer)) == "alive" then
        local key = dc_of[observer] == dc_of[ev.peer] and "within" or "across"
        alarms[key] = alarms[key] + 1
      end
    end
  end
end

local function run(config, seed)
  local sim = core.sim({ agents = agents(), interval = 0.2, seed = seed, delay = 0.02 })
  local dc_of = {}
  for _, p in ipairs(NEAR) do dc_of[p] = "near" end
  for _, p in ipairs(FAR) do dc_of[p] = "far" end
  sim:run(1)
  for i = 1, sim:agents() do
    local settings = config.settings(dc_of[sim:pname(i)] == "near" and "far" or "near")
    if settings then assert(sim:apply(i, settings)) end
  end
  for i = #NEAR + 1, sim:agents() do assert(sim:agent_jitter(i, JITTER)) end
  sim:run(10) -- formed, and the far links' jitter learnt by the windows
  local alarms = { within = 0, across = 0 }
  drain(sim, dc_of, { within = 0, across = 0 })
  local rng = seed * 7919
  local function rand() -- a tiny LCG, so the gaps do not depend on the simulator's own stream
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng / 2147483648
  end
  local stop_at = 10 + MINUTES * 60
  local t = 10
  while true do
    local next_gap = t + 20 + 20 * rand()
    if next_gap + GAP >= stop_at then break end
    sim:run(next_gap)
    drain(sim, dc_of, alarms)
    for i = 1, #NEAR do
      for k = #NEAR + 1, sim:agents() do assert(sim:cut(i, k, false)) end
    end
    sim:run(next_gap + GAP)
    sim:heal()
    t = next_gap + GAP
  end
  sim:run(stop_at)
  drain(sim, dc_of, alarms)
  local victim = sim:agents() -- the last far agent
  assert(sim:stop(victim))
  sim:run(stop_at + 30)
  local detections = {}
  drain(sim, dc_of, { within = 0, across = 0 }, sim:pname(victim), sim:now() - 30, detections)
  return alarms, detections
end

local hours = RUNS * MINUTES / 60
print(string.format("far dc: %d runs x %d min, 200 ms heartbeats, far links +%.0f ms jitter (sd), far cut from near "
  .. "for %.1f s every 20-40 s; 3 near + 3 far agents", RUNS, MINUTES, JITTER * 1000, GAP))
print(string.format("%-46s %15s %15s %12s %10s", "settings (every agent, keyed by the other dc)",
  "alarms/h within", "alarms/h across", "detect med", "detect max"))
for _, config in ipairs(CONFIGS) do
  local within, across, all = 0, 0, {}
  for seed = 1, RUNS do
    local a, d = run(config, seed)
    within, across = within + a.within, across + a.across
    for _, x in ipairs(d) do all[#all + 1] = x end
  end
  local worst = 0
  for _, x in ipairs(all) do worst = math.max(worst, x) end
  print(string.format("%-46s %15.1f %15.1f %11.2fs %9.2fs", config.name, within / hours, across / hours, median(all),
    worst))
end
