-- bench/micro/intake.lua - UDP intake of one agent (make bench): a sender
-- process floods it through loopback with heartbeats from 1000 fake peers at
-- rising rates; for each rate, the frames the agent accepted per second, the
-- share lost, and the agent's CPU. Each step lasts 2 s; the run stops itself.
local agents = require("helpers.agents")

local FLOOD = arg[1] or "build-bench/flood"
local function cpu_seconds(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  local s = f:read("*a")
  f:close()
  local fields = {}
  for x in s:gsub("^.-%) ", ""):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100 -- utime + stime, in ticks of 1/100 s
end
local function received(a)
  return (agents.metric(a, 'vigil_frames_received_total{type="heartbeat"}') or 0)
end

local a = agents.start({ args = "--reap 0 --log-level warn" })
local best = 0
print(string.format("%10s %12s %8s %8s", "offered/s", "accepted/s", "lost", "cpu"))
for _, rate in ipairs({ 100000, 200000, 300000, 400000, 500000, 700000 }) do
  local r0, c0 = received(a), cpu_seconds(a.pid)
  local out = agents.run(string.format("%s 127.0.0.1:%d %d 2 1000", FLOOD, a.port, rate))
  local sent = tonumber(out)
  agents.sleep(0.3)
  local got, cpu = received(a) - r0, cpu_seconds(a.pid) - c0
  local lost = 1 - got / sent
  print(string.format("%10d %12.0f %7.2f%% %7.0f%%", rate, got / 2, lost * 100, cpu / 2 * 100))
  if lost < 0.01 then best = math.max(best, got / 2) end
end
print(string.format("UDP intake: %.0f frames/s accepted with under 1%% lost (target >= 300000)", best))
agents.stop_all()
