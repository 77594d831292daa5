-- examples/core_demo.lua - the vigil core in real time (what `make demo`
-- runs until the networked agent exists).
--
-- A pool of three peers sends heartbeats every 200 ms (with a little
-- jitter, as a real network has). The handler evaluates every 100 ms.
-- At 3 s one peer falls silent; at 6 s it comes back. Every transition is
-- printed with its time and phi, and while the peer is silent its phi is
-- shown climbing towards the threshold.
--
-- Run it with `make demo`, or by hand from the repository root:
--   LUA_CPATH="build/lib/?.so;;" luajit examples/core_demo.lua
local ffi = require("ffi")
local core = require("vigil.core")

ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } vigil_timespec;
  int clock_gettime(int clk, vigil_timespec *ts);
  int nanosleep(const vigil_timespec *req, vigil_timespec *rem);
]])

local CLOCK_MONOTONIC = 1
local ts = ffi.new("vigil_timespec")
local function clock()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function sleep_until(t)
  local d = t - clock()
  if d <= 0 then return end
  local req = ffi.new("vigil_timespec")
  req.tv_sec = math.floor(d)
  req.tv_nsec = math.floor((d - math.floor(d)) * 1e9)
  ffi.C.nanosleep(req, nil)
end

local HEARTBEAT, TICK = 0.2, 0.1
local SILENT, FROM, TO, STOP = "127.0.0.1:7003", 3.0, 6.0, 8.0

local pool = core.pool({
  dc = "dc1",
  peers = {
    { pname = "127.0.0.1:7000", is_local = true },
    { pname = "127.0.0.1:7001", rack = "r1" },
    { pname = "127.0.0.1:7002", rack = "r2" },
    { pname = SILENT, rack = "r3" },
  },
})
local handler = core.handler(pool, { interval = TICK })
local events = handler:subscribe()
local peers = { "127.0.0.1:7001", "127.0.0.1:7002", SILENT }

math.randomseed(42)
local t0 = clock()
local next_beat = {}
for i, p in ipairs(peers) do next_beat[p] = 0.05 * i end

print(string.format("vigil %s core demo: 3 peers, heartbeats every %d ms, threshold phi = %g",
  core.version, HEARTBEAT * 1000, handler:threshold()))
print(string.format("%s falls silent at %.1f s and comes back at %.1f s\n", SILENT, FROM, TO))

local last_heard = {}
local tick = 0
while true do
  tick = tick + 1
  local t = tick * TICK
  if t > STOP + 1e-9 then break end
  sleep_until(t0 + t)
  local now = clock() - t0

  -- Heartbeats due by now; the silent peer's are lost between FROM and TO.
  for _, p in ipairs(peers) do
    while next_beat[p] <= now do
      local silent = p == SILENT and next_beat[p] >= FROM and next_beat[p] < TO
      if not silent then
        handler:record_heartbeat(p, now)
        last_heard[p] = now
      end
      next_beat[p] = next_beat[p] + HEARTBEAT + (math.random() - 0.5) * 0.04
    end
  end

  handler:evaluate(now)
  for _, e in ipairs(events:poll()) do
    if e.type == "peer_down" then
      print(string.format("t=%6.3fs  %-9s %s  phi=%.2f  (silent for %.3f s)",
        e.at, e.type, e.peer, e.phi, e.at - last_heard[e.peer]))
    else
      print(string.format("t=%6.3fs  %-9s %s  phi=%.2f", e.at, e.type, e.peer, handler:phi(e.peer, e.at)))
    end
  end
  if now >= FROM and now < TO and tick % 2 == 0 and handler:state(SILENT) == "normal" then
    print(string.format("t=%6.3fs            %s  phi=%.2f  state=%s", now, SILENT,
      handler:phi(SILENT, now), handler:state(SILENT)))
  end
end

print("\nfinal states:")
for _, p in ipairs(pool:peers()) do
  if not p.is_local then
    print(string.format("  %-15s %-7s phi=%.2f  heartbeats=%d", p.pname, p.state,
      handler:phi(p.pname, STOP), p.heartbeats))
  end
end
