-- bench/scale/crosscheck.lua - does the simulator tell the truth? The same
-- scenario on real agents and on `vigil sim`, side by side.
--
-- Real: N agents (`vigil agent`, default 50) on loopback, 200 ms interval
-- (protocol 2: observers); once they have converged, KILLS agents are killed with
-- SIGKILL and STOPS frozen with SIGSTOP, one at a time, FAULT_GAP seconds
-- apart; every survivor's log says when it convicted each one. Simulated:
-- `vigil sim` with the same N, interval and faults. Printed: median,
-- p99 and max detection time per kind, false alarms and bytes per agent for
-- both, and a CSV line each in bench/results/crosscheck.csv.
--
-- Bounded: every wait has a deadline; every agent is killed at the end.
-- Environment: N (50), KILLS (3), STOPS (3), FAULT_GAP (6). The CSV's
-- fourth column was protocol 1's fanout; protocol 2's lines say
-- "observers" there.
package.path = "spec/?.lua;" .. package.path
local agents = require("helpers.agents")
local json = require("dkjson")

local N = tonumber(os.getenv("N") or 50)
local KILLS = tonumber(os.getenv("KILLS") or 3)
local STOPS = tonumber(os.getenv("STOPS") or 3)
local GAP = tonumber(os.getenv("FAULT_GAP") or 6)

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } xc_ts;
  int clock_gettime(int clk, xc_ts *ts);
]])
local function wall()
  local ts = ffi.new("xc_ts")
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- "2026-11-27T00:13:30.123Z" -> seconds since the epoch (UTC).
local function parse_ts(s)
  local y, mo, d, h, mi, sec, ms = s:match("(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z")
  if not y then return nil end
  -- The agents log UTC; os.time would read it as local time: count the
  -- days since 1970 by hand (the civil-from-days algorithm).
  local function days_from_civil(yy, mm, dd)
    yy = mm <= 2 and yy - 1 or yy
    local era = math.floor(yy / 400)
    local yoe = yy - era * 400
    local doy = math.floor((153 * (mm + (mm > 2 and -3 or 9)) + 2) / 5) + dd - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60
    + tonumber(sec) + tonumber(ms) / 1000
end

local function pct(v, p)
  if #v == 0 then return nil end
  table.sort(v)
  local k = math.max(1, math.ceil(p * #v))
  return v[k]
end

local ok, err = pcall(function()
  print(string.format("real: starting %d agents, 200 ms interval", N))
  local list = {}
  local args = "--interval 200ms --log-level info"
  list[1] = agents.start({ args = args })
  for i = 2, N do list[i] = agents.start({ seeds = { list[1] }, args = args }) end
  agents.wait(function() return agents.all_normal(list) end, 60, "the real cluster to converge")
  print("real: converged")
  local t0 = wall()
  local bytes0 = {}
  for _, a in ipairs(list) do bytes0[a] = agents.metric(a, "vigil_gossip_sent_bytes_total") or 0 end
  -- Victims: never the seed; alternate kills and stops.
  local faults = {}
  local order = {}
  for _ = 1, KILLS do order[#order + 1] = "KILL" end
  for k = 1, STOPS do table.insert(order, math.min(#order + 1, 2 * k), "STOP") end
  for k, sig in ipairs(order) do
    local v = list[1 + k * math.floor((N - 1) / (#order + 1))]
    local at = wall()
    agents.signal(v, sig)
    v.fault = { sig = sig, at = at }
    faults[#faults + 1] = v
    agents.sleep(GAP)
  end
  agents.sleep(2)
  local t1 = wall()
  local bytes1 = 0
  local victims = {}
  for _, v in ipairs(faults) do victims[v.pname] = v end
  local det = { KILL = {}, STOP = {} }
  local false_alarms, missed = 0, { KILL = 0, STOP = 0 }
  for _, a in ipairs(list) do
    if not victims[a.pname] then
      bytes1 = bytes1 + (agents.metric(a, "vigil_gossip_sent_bytes_total") or 0) - bytes0[a]
      local seen = {}
      for line in agents.log(a):gmatch("[^\n]+") do
        if line:find('msg="peer down"', 1, true) then
          local ts, peer = line:match("ts=(%S+)"), line:match("peer=(%S+)")
          local t = parse_ts(ts)
          local v = victims[peer]
          if t and t >= t0 then
            if v and t >= v.fault.at and not seen[peer] then
              seen[peer] = true
              det[v.fault.sig][#det[v.fault.sig] + 1] = t - v.fault.at
            elseif not v or t < v.fault.at then
              false_alarms = false_alarms + 1
            end
          end
        end
      end
      for pname, v in pairs(victims) do
        if not seen[pname] then missed[v.fault.sig] = missed[v.fault.sig] + 1 end
      end
    end
  end
  local survivors = N - #faults
  local real = {
    kill = { pct(det.KILL, 0.5), pct(det.KILL, 0.99), pct(det.KILL, 1), missed.KILL },
    silent = { pct(det.STOP, 0.5), pct(det.STOP, 0.99), pct(det.STOP, 1), missed.STOP },
    false_alarms = false_alarms, bytes = bytes1 / survivors / (t1 - t0),
  }
  agents.stop_all()

  local cmd = string.format("%s sim --agents %d --interval 200ms --kill %d --stop %d --duration %ds "
    .. "--warmup 20s --json", agents.VIGIL, N, KILLS, STOPS, 20 + (KILLS + STOPS) * GAP + 10)
  local out = agents.run(cmd)
  local r = assert(json.decode(out), out)
  local sim = {
    kill = { r.detections.kill.median_s, r.detections.kill.p99_s, r.detections.kill.max_s,
      r.detections.kill.missed },
    silent = { r.detections.silent.median_s, r.detections.silent.p99_s, r.detections.silent.max_s,
      r.detections.silent.missed },
    false_alarms = r.false_alarms, bytes = r.per_agent.bytes_sent_per_s,
  }
  local function f(x) return x and string.format("%.2f", x) or "-" end
  print(string.format("%-6s %-22s %-22s %-6s %s", "", "kill med/p99/max (miss)", "silent med/p99/max (miss)",
    "false", "B/s/agent"))
  local csv = io.open("bench/results/crosscheck.csv", "a")
  for _, row in ipairs({ { "real", real }, { "sim", sim } }) do
    local x = row[2]
    print(string.format("%-6s %s/%s/%s (%d)       %s/%s/%s (%d)       %-6d %.0f", row[1], f(x.kill[1]),
      f(x.kill[2]), f(x.kill[3]), x.kill[4], f(x.silent[1]), f(x.silent[2]), f(x.silent[3]), x.silent[4],
      x.false_alarms, x.bytes))
    csv:write(table.concat({ os.date("!%Y-%m-%dT%H:%M:%SZ"), row[1], N, "observers", f(x.kill[1]), f(x.kill[2]),
      f(x.kill[3]), x.kill[4], f(x.silent[1]), f(x.silent[2]), f(x.silent[3]), x.silent[4], x.false_alarms,
      string.format("%.0f", x.bytes) }, ",") .. "\n")
  end
  csv:close()
end)
agents.stop_all()
if not ok then
  io.stderr:write("crosscheck failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
