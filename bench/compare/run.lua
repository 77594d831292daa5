-- bench/compare/run.lua - vigil, Serf and Tarantool's SWIM side by side
-- (make bench-compare). Every agent runs inside a network namespace this
-- script creates ("vigilbench"), on its loopback, at a 1 s interval:
--   1. idle cost per agent: CPU %, resident memory, bytes sent per second;
--   2. detection: kill -9 one agent KILLS times per cluster; the time until
--      each survivor's reaction fires. Then the same KILLS times with the
--      agent frozen (SIGSTOP) instead: its port stays open, so nothing but
--      silence tells it is gone -- a dead host, a cut link, a hung process;
--   3. a soak of SOAK seconds with 5 % of UDP packets dropped (nftables
--      numgen inside the namespace) and, in each cluster, one agent stopped
--      with SIGSTOP for 2 s every minute: false alarms.
-- Clusters of 5 and 20. Results: CSV in bench/results/, PNG plots drawn by
-- gnuplot, a summary on stdout. Bounded: every wait has a deadline, every
-- process is killed and the namespace deleted at the end (and on error).
--
-- Environment: KILLS (10), SOAK (600 s), IDLE (60 s), SIZES ("5,20"),
-- SYSTEMS ("vigil,serf,swim"), VIGIL (the binary, ./build/vigil), INTERVAL (vigil's --interval, "1s" to
-- match the others; "default" runs vigil with its default flags),
-- QUICK=1 for a short rehearsal (2 kills, 60 s soak, 20 s idle, size 5).
local ffi = require("ffi")
local json = require("dkjson")

ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_ts;
  int clock_gettime(int clk, bench_ts *ts);
]])
local tsbuf = ffi.new("bench_ts")
local function clock(id)
  ffi.C.clock_gettime(id, tsbuf)
  return tonumber(tsbuf.tv_sec) + tonumber(tsbuf.tv_nsec) * 1e-9
end
local function mono() return clock(1) end
local function real() return clock(0) end

local QUICK = os.getenv("QUICK") == "1"
local KILLS = tonumber(os.getenv("KILLS") or (QUICK and 2 or 10))
local SOAK = tonumber(os.getenv("SOAK") or (QUICK and 60 or 600))
local IDLE = tonumber(os.getenv("IDLE") or (QUICK and 20 or 60))
local INTERVAL = os.getenv("INTERVAL") or "1s"
local TAG = os.getenv("TAG") and ("-" .. os.getenv("TAG"):gsub("^%-", "")) or "" -- suffix of the result files
local SIZES = {}
for s in (os.getenv("SIZES") or (QUICK and "5" or "5,20")):gmatch("%d+") do SIZES[#SIZES + 1] = tonumber(s) end

local NS = "vigilbench"
local ROOT = io.popen("pwd"):read("*l")
local VIGIL = os.getenv("VIGIL") or (ROOT .. "/build/vigil") -- another build, to compare two commits
local OUT = ROOT .. "/bench/results"
local WORK = os.tmpname()
os.remove(WORK)
os.execute("mkdir -p " .. WORK .. " " .. OUT)

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"::rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  return out:gsub("::rc=%d+%s*$", ""), rc
end
local function nsexec(cmd) return "ip netns exec " .. NS .. " " .. cmd end
local function sleep(s) os.execute(string.format("sleep %.3f", s)) end
local START = mono()
local function log(fmt, ...) io.stderr:write(string.format("[%7.1f] " .. fmt .. "\n", mono() - START, ...)) end

local procs = {}
local function spawn(cmd, logfile)
  local p = io.popen(nsexec(cmd) .. " >>" .. logfile .. " 2>&1 & echo $!")
  local pid = tonumber(p:read("*l"))
  p:close()
  procs[pid] = true
  return pid
end
local function kill(pid, sig)
  os.execute(string.format("kill -%s %d 2>/dev/null", sig or "KILL", pid))
  if (sig or "KILL") == "KILL" then
    procs[pid] = nil
    -- gone, or a zombie waiting for init to reap it (bounded: 5 s)
    os.execute(string.format("for i in $(seq 250); do kill -0 %d 2>/dev/null && ! grep -q '^State:.*Z' "
      .. "/proc/%d/status 2>/dev/null || break; sleep 0.02; done", pid, pid))
  end
end
local function cleanup()
  for pid in pairs(procs) do
    os.execute(string.format("kill -CONT %d 2>/dev/null; kill -KILL %d 2>/dev/null", pid, pid))
  end
  procs = {}
  os.execute("ip netns del " .. NS .. " 2>/dev/null")
end

local function file_lines(path)
  local out = {}
  local f = io.open(path)
  if not f then return out end
  for l in f:lines() do out[#out + 1] = l end
  f:close()
  return out
end

local function loss(on)
  sh(nsexec("nft delete table inet vigilbench"))
  if on then
    local rules = WORK .. "/loss.nft"
    local f = assert(io.open(rules, "w"))
    f:write([[
table inet vigilbench {
  chain input {
    type filter hook input priority 0;
    meta l4proto udp numgen random mod 100 < 5 counter drop
  }
}
]])
    f:close()
    local out, rc = sh(nsexec("nft -f " .. rules))
    if rc ~= 0 then io.stderr:write(out) end
    assert(rc == 0, "nftables: cannot install the 5% loss rule")
  end
end

-------------------------------------------------------------------------------
-- The three systems. Each: start(i, port, seed_port) -> agent; events(agent)
-- -> list of {t = realtime, subject = key, kind}; key(agent) -> what the
-- others call it; alive(cluster) -> converged?
-------------------------------------------------------------------------------
local POLICY = WORK .. "/bench_policy.lua"
do
  -- agent.lua as it is, plus a reaction that logs when peer_down fired: the
  -- log line's ts (wall clock, ms) is the time of the reaction. (A policy
  -- may not popen or setfenv: docs/POLICIES.md, "What a policy cannot do".)
  local src = assert(io.open(ROOT .. "/agent.lua")):read("*a")
  local f = assert(io.open(POLICY, "w"))
  f:write(src, [[

vigil.on("peer_down", "bench-record", function(e)
  vigil.log.warn("DETECT", { peer = e.peer })
end)
]])
  f:close()
end

-- "2026-11-27T05:44:16.123Z" -> seconds since the epoch (UTC).
local function log_time(ts)
  local y, mo, d, h, mi, sec, ms = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (Howard Hinnant's algorithm)
  local yy = mo <= 2 and y - 1 or y
  local era = math.floor(yy / 400)
  local yoe = yy - era * 400
  local doy = math.floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) + tonumber(ms) / 1000
end

local systems = {}

systems.vigil = {
  start = function(i, port, seed)
    local a = { port = port, http = port + 10000, log = string.format("%s/vigil-%d.log", WORK, port) }
    a.pid = spawn(string.format("%s agent %s --listen 127.0.0.1:%d --http 127.0.0.1:%d %s %s "
      .. "--log-level warn", VIGIL, POLICY, port, a.http, i > 0 and ("--seeds 127.0.0.1:" .. seed) or "",
      INTERVAL == "default" and "" or ("--interval " .. INTERVAL)), a.log)
    return a
  end,
  key = function(a) return "127.0.0.1:" .. a.port end,
  events = function(a)
    local out = {}
    for _, l in ipairs(file_lines(a.log)) do
      local ts, peer = l:match('^ts=(%S+) .-msg="DETECT" .-peer=(%S+)')
      local t = ts and log_time(ts)
      if t then out[#out + 1] = { t = t, subject = peer, kind = "down" } end
    end
    return out
  end,
  alive = function(cluster)
    local out = sh(nsexec(string.format("%s members --json --http 127.0.0.1:%d", VIGIL, cluster[1].http)))
    local doc = json.decode(out)
    if not doc then return false end
    local n = 0
    for _, m in ipairs(doc.members) do n = n + (m.state == "normal" and 1 or 0) end
    return n == #cluster
  end,
}

local SERF_HANDLER = WORK .. "/serf_handler.sh"
do
  local f = assert(io.open(SERF_HANDLER, "w"))
  f:write([[#!/bin/sh
t=$(date +%s.%N)
while read -r name rest; do echo "$t $SERF_EVENT $name" >> "$1"; done
]])
  f:close()
  os.execute("chmod +x " .. SERF_HANDLER)
end

systems.serf = {
  start = function(i, port, seed)
    local a = { port = port, rpc = port + 10000, log = string.format("%s/serf-%d.log", WORK, port),
      ev = string.format("%s/serf-%d.events", WORK, port) }
    a.pid = spawn(string.format("serf agent -node=n%d -bind=127.0.0.1:%d -rpc-addr=127.0.0.1:%d -profile=lan "
      .. "-log-level=warn -event-handler='member-failed=%s %s' %s", port, port, a.rpc, SERF_HANDLER, a.ev,
      i > 0 and ("-join=127.0.0.1:" .. seed) or ""), a.log)
    return a
  end,
  key = function(a) return "n" .. a.port end,
  events = function(a)
    local out = {}
    for _, l in ipairs(file_lines(a.ev)) do
      local t, name = l:match("^(%S+) member%-failed (%S+)")
      if t then out[#out + 1] = { t = tonumber(t), subject = name, kind = "failed" } end
    end
    return out
  end,
  alive = function(cluster)
    local out = sh(nsexec(string.format("serf members -rpc-addr=127.0.0.1:%d -status=alive", cluster[1].rpc)))
    local n = 0
    for _ in out:gmatch("alive") do n = n + 1 end
    return n == #cluster
  end,
}

local SWIM = WORK .. "/swim_agent.lua"
do
  local f = assert(io.open(SWIM, "w"))
  f:write([[
-- One Tarantool SWIM member: heartbeat_rate 1, ack_timeout 1; records
-- every member that becomes suspected or dead, with the wall clock.
local swim = require('swim')
local fiber = require('fiber')
local clock = require('clock')
local port, seed, out = tonumber(arg[1]), tonumber(arg[2]), arg[3]
local s = swim.new({ uri = '127.0.0.1:' .. port, uuid = require('uuid').str(), heartbeat_rate = 1, ack_timeout = 1 })
if seed > 0 then s:probe_member('127.0.0.1:' .. seed) end
s:on_member_event(function(m, e)
  if e:is_new_status() and (m:status() == 'suspected' or m:status() == 'dead') then
    local f = io.open(out, 'a')
    f:write(string.format('%.6f %s %s\n', clock.realtime(), m:status(), m:uri()))
    f:close()
  end
end)
while true do
  fiber.sleep(1)
  local f = io.open(out .. '.size', 'w')
  local alive = 0
  for _, m in s:pairs() do if m:status() == 'alive' then alive = alive + 1 end end
  f:write(alive, '\n')
  f:close()
end
]])
  f:close()
end

systems.swim = {
  start = function(i, port, seed)
    local a = { port = port, log = string.format("%s/swim-%d.log", WORK, port),
      ev = string.format("%s/swim-%d.events", WORK, port) }
    a.pid = spawn(string.format("tarantool %s %d %d %s", SWIM, port, i > 0 and seed or 0, a.ev), a.log)
    return a
  end,
  key = function(a) return "127.0.0.1:" .. a.port end,
  events = function(a)
    local out = {}
    for _, l in ipairs(file_lines(a.ev)) do
      local t, st, uri = l:match("^(%S+) (%S+) (%S+)")
      if t then out[#out + 1] = { t = tonumber(t), subject = uri, kind = st } end
    end
    return out
  end,
  alive = function(cluster)
    for _, a in ipairs(cluster) do
      local l = file_lines(a.ev .. ".size")
      if tonumber(l[1] or 0) ~= #cluster then return false end
    end
    return true
  end,
}

local ORDER = {}
for name in (os.getenv("SYSTEMS") or "vigil,serf,swim"):gmatch("%a+") do
  assert(systems[name], "SYSTEMS: unknown system " .. name)
  ORDER[#ORDER + 1] = name
end
local next_port = 21000

local function start_cluster(name, n)
  local sys = systems[name]
  local base = next_port
  next_port = next_port + math.max(100, n + 50) -- clusters that run at once never share a port
  local cluster = {}
  for i = 0, n - 1 do
    cluster[i + 1] = sys.start(i, base + i, base)
    cluster[i + 1].index = i
    if i == 0 then sleep(0.3) end
  end
  return cluster, base
end

local function wait(pred, timeout, what)
  local deadline = mono() + timeout
  while mono() < deadline do
    if pred() then return true end
    sleep(0.2)
  end
  log("warning: timed out after %d s waiting for %s", timeout, what)
  return false
end

local function stop_cluster(cluster)
  for _, a in ipairs(cluster) do kill(a.pid) end
end

-- CPU time of a process in seconds, to the nanosecond (/proc/PID/schedstat;
-- /proc/PID/stat counts in 10 ms ticks, too coarse for idle agents). All
-- threads: the agent's script thread counts too.
local function cpu_seconds(pid)
  local total = 0
  local p = io.popen("cat /proc/" .. pid .. "/task/*/schedstat 2>/dev/null")
  for l in p:lines() do total = total + (tonumber(l:match("^(%d+)")) or 0) end
  p:close()
  return total / 1e9
end
local function rss_kib(pid)
  for _, l in ipairs(file_lines("/proc/" .. pid .. "/status")) do
    local kb = l:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
  return 0
end
local function lo_tx()
  return tonumber((sh(nsexec("cat /sys/class/net/lo/statistics/tx_bytes")))) or 0
end

local function median(t)
  if #t == 0 then return 0 / 0 end
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[math.ceil(#s / 2)]
end
local function pct(t, p)
  if #t == 0 then return 0 / 0 end
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[math.min(#s, math.ceil(#s * p))]
end

-------------------------------------------------------------------------------
local ok, err = pcall(function()
  cleanup()
  assert(select(2, sh("ip netns add " .. NS)) == 0, "cannot create the network namespace (root is needed)")
  sh(nsexec("ip link set lo up"))
  loss(false)

  local idle_csv = { "system,size,cpu_percent_per_agent,rss_mib_per_agent,bytes_per_second_per_agent" }
  local det_csv = { "system,size,kill,survivor,seconds,kind" }
  local summary = {}

  for _, size in ipairs(SIZES) do
    for _, name in ipairs(ORDER) do
      local sys = systems[name]
      log("%s, %d agents: starting", name, size)
      local cluster = start_cluster(name, size)
      wait(function() return sys.alive(cluster) end, 60, name .. " to converge")
      sleep(5)
      -- 1. idle cost, 30 s
      local c0, b0, t0 = {}, lo_tx(), mono()
      for _, a in ipairs(cluster) do c0[a.pid] = cpu_seconds(a.pid) end
      sleep(IDLE)
      local secs = mono() - t0
      local cpu, rss = {}, {}
      for _, a in ipairs(cluster) do
        cpu[#cpu + 1] = (cpu_seconds(a.pid) - c0[a.pid]) / secs * 100
        rss[#rss + 1] = rss_kib(a.pid) / 1024
      end
      local bytes = (lo_tx() - b0) / secs / size
      local s = { cpu = median(cpu), rss = median(rss), bytes = bytes, det = {}, det2 = {}, frozen = {} }
      summary[name .. size] = s
      idle_csv[#idle_csv + 1] = string.format("%s,%d,%.4f,%.2f,%.0f", name, size, s.cpu, s.rss, bytes)
      log("%s, %d agents: idle cpu %.3f%%, rss %.1f MiB, %.0f B/s per agent", name, size, s.cpu, s.rss, bytes)

      -- 2. detection: KILLS process deaths (kill -9), then KILLS silent
      -- failures (SIGSTOP: the port stays open, nothing answers)
      for k = 1, 2 * KILLS do
        local frozen = k > KILLS
        local victim = cluster[2 + (k - 1) % (size - 1)]
        local key = sys.key(victim)
        local t_kill = real()
        kill(victim.pid, frozen and "STOP" or "KILL")
        local survivors = {}
        for _, a in ipairs(cluster) do if a ~= victim then survivors[#survivors + 1] = a end end
        local seen = {}
        local limit = name == "vigil" and 15 or 40
        wait(function()
          local all = true
          for _, a in ipairs(survivors) do
            if not seen[a] then
              for _, e in ipairs(sys.events(a)) do
                if e.subject == key and e.t >= t_kill and (e.kind ~= "dead") then
                  seen[a] = e.t - t_kill
                  break
                end
              end
            end
            all = all and seen[a] ~= nil
          end
          return all
        end, limit, name .. " survivors to detect the kill")
        if name == "swim" and not frozen then -- dead comes later than suspected: record it too
          wait(function()
            for _, a in ipairs(survivors) do
              local dead = false
              for _, e in ipairs(sys.events(a)) do
                if e.subject == key and e.t >= t_kill and e.kind == "dead" then dead = true end
              end
              if not dead then return false end
            end
            return true
          end, 20, "swim survivors to mark the kill dead")
          for _, a in ipairs(survivors) do
            for _, e in ipairs(sys.events(a)) do
              if e.subject == key and e.t >= t_kill and e.kind == "dead" then
                s.det2[#s.det2 + 1] = e.t - t_kill
                det_csv[#det_csv + 1] = string.format("%s,%d,%d,%d,%.3f,dead", name, size, k, a.index, e.t - t_kill)
                break
              end
            end
          end
        end
        for _, a in ipairs(survivors) do
          if seen[a] then
            local list = frozen and s.frozen or s.det
            list[#list + 1] = seen[a]
            det_csv[#det_csv + 1] = string.format("%s,%d,%d,%d,%.3f,%s%s", name, size, k, a.index, seen[a],
              name == "swim" and "suspected" or (name == "serf" and "failed" or "down"), frozen and "-frozen" or "")
          end
        end
        log("%s, %d agents: %s %d: median detection %.2f s over %d survivors", name, size,
          frozen and "freeze" or "kill", frozen and k - KILLS or k, median(frozen and s.frozen or s.det), #survivors)
        if frozen then kill(victim.pid) end -- SIGKILL ends a stopped process too
        -- restart the victim in place and let the cluster settle
        local fresh = sys.start(victim.index, victim.port, cluster[1].port)
        fresh.index = victim.index
        for i, a in ipairs(cluster) do if a == victim then cluster[i] = fresh end end
        wait(function() return sys.alive(cluster) end, 60, name .. " to take the restarted agent back")
        sleep(2)
      end
      stop_cluster(cluster)
    end
  end

  -- 3. soak: every system and size at once, 5 % UDP loss, one agent of each
  -- cluster stopped 2 s every minute.
  log("soak: %d s, 5%% UDP loss, SIGSTOP 2 s every 60 s", SOAK)
  local clusters = {}
  for _, size in ipairs(SIZES) do
    for _, name in ipairs(ORDER) do
      local c = start_cluster(name, size)
      clusters[#clusters + 1] = { name = name, size = size, c = c }
    end
  end
  for _, cl in ipairs(clusters) do wait(function() return systems[cl.name].alive(cl.c) end, 90, cl.name .. " soak") end
  sleep(10)
  loss(true)
  local soak_start = real()
  local deadline = mono() + SOAK
  local next_stop = mono() + 30
  while mono() < deadline do
    if mono() >= next_stop then
      for _, cl in ipairs(clusters) do kill(cl.c[3].pid, "STOP") end
      sleep(2)
      for _, cl in ipairs(clusters) do kill(cl.c[3].pid, "CONT") end
      next_stop = next_stop + 60
    end
    sleep(1)
  end
  loss(false)
  local soak_csv = { "system,size,false_alarms,stalled_agent_convictions,soak_seconds" }
  for _, cl in ipairs(clusters) do
    local sys = systems[cl.name]
    local stalled = sys.key(cl.c[3])
    local false_alarms, stall = 0, 0
    for _, a in ipairs(cl.c) do
      for _, e in ipairs(sys.events(a)) do
        if e.t >= soak_start and e.kind ~= "dead" then
          if e.subject == stalled then stall = stall + 1 else false_alarms = false_alarms + 1 end
        end
      end
    end
    local s = summary[cl.name .. cl.size]
    s.false_alarms, s.stall = false_alarms, stall
    soak_csv[#soak_csv + 1] = string.format("%s,%d,%d,%d,%d", cl.name, cl.size, false_alarms, stall, SOAK)
    stop_cluster(cl.c)
  end

  -- phi of one peer around a failure (vigil, 5 agents): kill -9, then SIGSTOP
  local phi_csv = { "seconds_from_failure,phi,state,failure" }
  for _, sig in ipairs({ "KILL", "STOP" }) do
    local c = start_cluster("vigil", 5)
    wait(function() return systems.vigil.alive(c) end, 60, "vigil for the phi trace")
    sleep(3)
    local victim = c[4]
    local key = systems.vigil.key(victim)
    local t_kill
    local t0 = mono()
    while mono() - t0 < 9 do
      if not t_kill and mono() - t0 >= 3 then
        t_kill = mono()
        kill(victim.pid, sig)
      end
      local out = sh(nsexec(string.format("%s members --json --http 127.0.0.1:%d", VIGIL, c[1].http)))
      local doc = json.decode(out)
      if doc then
        for _, m in ipairs(doc.members) do
          if m.pname == key then
            phi_csv[#phi_csv + 1] = string.format("%.3f,%.4f,%s,%s", mono() - (t_kill or (t0 + 3)), m.phi or 0,
              m.state, sig == "KILL" and "kill" or "sigstop")
          end
        end
      end
      sleep(0.05)
    end
    if sig == "STOP" then kill(victim.pid) end
    stop_cluster(c)
  end

  local function write(name, lines)
    local f = assert(io.open(OUT .. "/" .. name, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end
  write("idle" .. TAG .. ".csv", idle_csv)
  write("detection" .. TAG .. ".csv", det_csv)
  write("soak" .. TAG .. ".csv", soak_csv)
  write("phi_trace" .. TAG .. ".csv", phi_csv)

  -- plots
  local gp = assert(io.open(WORK .. "/plots.gp", "w"))
  gp:write(string.format([[
set datafile separator ","
set terminal pngcairo size 900,560 noenhanced
set output "%s/detection_cdf%s.png"
set title "Time from failure to each survivor's reaction (1 s interval); solid: kill -9, dashed: SIGSTOP"
set xlabel "seconds"
set ylabel "fraction of detections"
set key bottom right
set grid
set xrange [0:*]
set yrange [0:1]
]], OUT, TAG))
  local plots, color = {}, 0
  for _, size in ipairs(SIZES) do
    for _, name in ipairs(ORDER) do
      color = color + 1
      for _, suffix in ipairs({ "", "-frozen" }) do
        local kind = (name == "swim" and "suspected" or (name == "serf" and "failed" or "down")) .. suffix
        local file = string.format("%s/cdf_%s_%d%s.dat", WORK, name, size, suffix)
        local vals = {}
        for _, l in ipairs(det_csv) do
          local sys, sz, _, _, secs, k = l:match("^(%w+),(%d+),(%d+),(%d+),([%d%.]+),([%w%-]+)$")
          if sys == name and tonumber(sz) == size and k == kind then vals[#vals + 1] = tonumber(secs) end
        end
        table.sort(vals)
        local f = io.open(file, "w")
        for i, v in ipairs(vals) do f:write(string.format("%.3f,%.4f\n", v, i / #vals)) end
        f:close()
        if #vals > 0 then
          plots[#plots + 1] = string.format('"%s" using 1:2 with steps lw 2 dt %d lc %d title "%s, %d agents%s%s"',
            file, suffix == "" and 1 or 2, color, name, size,
            name == "swim" and " (suspected)" or "", suffix == "" and ", kill -9" or ", SIGSTOP")
        end
      end
    end
  end
  gp:write("plot " .. table.concat(plots, ", \\\n  ") .. "\n")
  gp:write(string.format([[
set output "%s/phi_around_kill%s.png"
set title "vigil: phi of one peer, seen by another, around its failure at t = 0 (1 s interval, threshold 8)"
set xlabel "seconds from the failure"
set ylabel "phi"
set y2label "state (1 = down)"
set yrange [0:20]
set y2range [0:5]
set y2tics 1
set key top left
set arrow from graph 0, first 8 to graph 1, first 8 nohead dt 2
%s
]], OUT, TAG, (function()
    local csv = OUT .. "/phi_trace" .. TAG .. ".csv"
    local function src(mode) return string.format('"< grep \',%s$\' %s"', mode, csv) end
    local down = '1:(stringcolumn(3) eq "down" ? 1 : 0) axes x1y2 with steps'
    return "plot " .. table.concat({
      src("sigstop") .. ' using 1:2 with linespoints pt 7 ps 0.5 title "phi, SIGSTOP (silence only)"',
      src("kill") .. ' using 1:2 with linespoints pt 5 ps 0.5 title "phi, kill -9"',
      src("kill") .. " using " .. down .. ' dt 2 title "down, kill -9 (port refused)"',
      src("sigstop") .. " using " .. down .. ' dt 3 title "down, SIGSTOP"',
    }, ", \\\n  ")
  end)()))
  gp:close()
  sh("gnuplot " .. WORK .. "/plots.gp")

  -- summary
  print(string.format("\n%-6s %4s %10s %10s %10s %10s %10s %9s %9s %9s %7s %7s", "system", "size", "median s",
    "p99 s", "dead med", "frozen med", "frozen p99", "cpu %", "rss MiB", "B/s", "false", "stall"))
  for _, size in ipairs(SIZES) do
    for _, name in ipairs(ORDER) do
      local s = summary[name .. size]
      print(string.format("%-6s %4d %10.2f %10.2f %10s %10.2f %10.2f %9.3f %9.1f %9.0f %7s %7s", name, size,
        median(s.det), pct(s.det, 0.99), #s.det2 > 0 and string.format("%.2f", median(s.det2)) or "-",
        median(s.frozen), pct(s.frozen, 0.99), s.cpu, s.rss, s.bytes, tostring(s.false_alarms), tostring(s.stall)))
    end
  end
  for _, size in ipairs(SIZES) do
    local v, se, sw = summary["vigil" .. size], summary["serf" .. size], summary["swim" .. size]
    if v and se and sw then print(string.format("ratios at %d agents: detection vigil/serf %.2f, "
      .. "vigil/swim(suspected) %.2f; "
      .. "cpu vigil/serf %.2f, vigil/swim %.2f; rss vigil/serf %.2f, vigil/swim %.2f", size,
      median(v.det) / median(se.det), median(v.det) / median(sw.det), v.cpu / se.cpu, v.cpu / sw.cpu,
      v.rss / se.rss, v.rss / sw.rss)) end
  end
end)
cleanup()
os.execute("rm -rf " .. WORK)
if not ok then
  io.stderr:write("bench-compare failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
