-- bench/sim_bench.lua - how fast vigil.testing simulates: one hour of
-- virtual time for a 10-peer cluster at the agent's 200 ms interval, running agent.lua,
-- with jitter and 1 % loss. Prints the median of 5 runs (make bench).
local testing = require("vigil.testing")

local function once(seed)
  local peers = {}
  for i = 2, 11 do peers[#peers + 1] = "10.0.0." .. i .. ":7946" end
  local sim = testing.cluster({ self = "10.0.0.1:7946", peers = peers, interval = 0.2, seed = seed,
    jitter = 0.05, loss = 0.01 })
  sim:load("agent.lua")
  local t0 = os.clock()
  sim:advance(1800)
  sim:crash(peers[3])
  sim:advance(1800)
  return os.clock() - t0, #sim.events, #sim.logs
end

local runs = {}
local events, logs
for i = 1, 5 do runs[i], events, logs = once(i) end
table.sort(runs)
print(string.format("vigil.testing: 1 h virtual, 10 peers, 200 ms interval, agent.lua: median %.3f s CPU "
  .. "(min %.3f, max %.3f) over 5 runs; %d events and %d policy log lines per run", runs[3], runs[1], runs[5],
  events, logs))
