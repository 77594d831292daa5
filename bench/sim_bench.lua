-- bench/sim_bench.lua - how fast vigil.testing simulates (make bench):
--   1. one agent's view: an hour of virtual time for self + 10 peers at the
--      agent's 200 ms interval, self running agent.lua, 1 % loss, 5 ms of
--      latency jitter, one peer killed half-way;
--   2. a whole cluster: an hour of 5 agents each running agent.lua, same
--      network, one agent killed half-way.
-- Every simulated agent is a real node (the C membership code). Prints the
-- median of 5 runs of each.
local testing = require("vigil.testing")

local function view(seed)
  local peers = {}
  for i = 2, 11 do peers[#peers + 1] = "127.0.0." .. i .. ":7946" end
  local sim = testing.cluster({ self = "127.0.0.1:7946", peers = peers, interval = 0.2, seed = seed,
    jitter = 0.005, loss = 0.01 })
  sim:load("agent.lua")
  local t0 = os.clock()
  sim:advance(1800)
  sim:crash(peers[3])
  sim:advance(1800)
  return os.clock() - t0, #sim.events, #sim.logs
end

local function whole(seed)
  local sim = testing.cluster({ agents = 5, interval = 0.2, seed = seed, jitter = 0.005, loss = 0.01 })
  sim:load("agent.lua")
  local t0 = os.clock()
  sim:advance(1800)
  sim:crash(sim:agents()[3])
  sim:advance(1800)
  return os.clock() - t0, #sim.events, #sim.logs
end

local function report(what, fn)
  local runs = {}
  local events, logs
  for i = 1, 5 do runs[i], events, logs = fn(i) end
  table.sort(runs)
  print(string.format("vigil.testing: 1 h virtual, %s, 200 ms interval, agent.lua: median %.3f s CPU "
    .. "(min %.3f, max %.3f) over 5 runs; %d events and %d policy log lines per run", what, runs[3], runs[1],
    runs[5], events, logs))
end

report("self + 10 peers (one policy)", view)
report("5 agents (5 policies)", whole)
