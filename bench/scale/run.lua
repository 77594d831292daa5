-- bench/scale/run.lua - the protocol (observers, alerts, quorum) at 5 to
-- 5,000 agents, on the simulator (make bench-scale). Every run is `vigil
-- sim` over the real node code: 1 % loss, kills and silent stops after a
-- warm-up, a 2 s stall of some agent every 30 s, at a 200 ms and a 1 s
-- interval, with the protocol's defaults (nothing to choose: K = 8
-- observers, quorum 5).
--
-- Results: bench/results/scale.csv (one line a run), scale-cdf-*.csv (every
-- detection time of a run) and gnuplot PNGs: detection CDF per interval,
-- false alarms and bytes per agent against size, beside protocol 1's
-- figures (bench/results/scale-protocol1.csv, the previous table). A
-- summary table on stdout.
--
-- Bounded: each run has a fixed simulated duration.
--
-- Each run warms up for as many intervals as its size needs to converge
-- from one seed (5,000 agents: ~235 rounds, 47 s at 200 ms but 4 minutes
-- at 1 s), then runs 40 s of faults: settled figures are settled.
--
-- Environment: SIZES ("5,50,100,200,1000,5000"), INTERVALS ("0.2,1"),
-- DURATION (60: 20 s of warm-up at least, then 40 s), SEED (1), VIGIL
-- (./build/vigil), MAIN=0 (skip the runs with faults), IDLE=0 (skip the
-- runs without), MERGE=1 (keep scale.csv's rows for what is not run now).
local json = require("dkjson")

local VIGIL = os.getenv("VIGIL") or "./build/vigil"
local OUT = "bench/results"
local function list(env, default)
  local t = {}
  for x in (os.getenv(env) or default):gmatch("[%d.]+") do t[#t + 1] = tonumber(x) end
  return t
end
local SIZES = list("SIZES", "5,50,100,200,1000,5000")
local INTERVALS = list("INTERVALS", "0.2,1")
local DURATION = tonumber(os.getenv("DURATION") or 60)
local SEED = tonumber(os.getenv("SEED") or 1)

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return ok, out
end

local function faults(n)
  local k = math.min(3, math.floor((n - 1) / 2))
  return k, k
end

local function num(x) return x == nil and "" or string.format("%.6g", x) end

-- Rounds a cluster started from one seed needs to converge, roughly
-- (measured: 1,000 agents ~40, 5,000 ~235): the warm-up is that many
-- intervals, so that faults hit a settled cluster and the settled figures
-- are settled, at 200 ms and at 1 s alike.
local function rounds(n) return n >= 5000 and 300 or (n >= 1000 and 75 or 25) end

-- MERGE=1: keep the rows of scale.csv for sizes and intervals not run now.
local kept = {}
if os.getenv("MERGE") == "1" then
  local f = io.open(OUT .. "/scale.csv")
  if f then
    f:read("*l")
    for line in f:lines() do
      local n, i = line:match("^(%d+),([%d.]+),")
      local rerun = false
      for _, s in ipairs(SIZES) do
        for _, iv in ipairs(INTERVALS) do rerun = rerun or (tonumber(n) == s and tonumber(i) == iv) end
      end
      if not rerun then kept[#kept + 1] = line end
    end
    f:close()
  end
end

if os.getenv("MAIN") ~= "0" then -- MAIN=0: only the idle runs below
  local csv = assert(io.open(OUT .. "/scale.csv", "w"))
  csv:write("agents,interval_s,fanout,loss,duration_s,false_alarms,kill_median_s,kill_p99_s,kill_max_s,"
    .. "kill_missed,kill_already_down,silent_median_s,silent_p99_s,silent_max_s,silent_missed,silent_already_down,"
    .. "frames_per_s,bytes_per_s,node_ns_per_s,steady_frames_per_s,steady_bytes_per_s,steady_node_ns_per_s,"
    .. "converged_s,events_lost,run_cpu_s,max_rss_mib\n")
  for _, line in ipairs(kept) do csv:write(line, "\n") end
  for _, interval in ipairs(INTERVALS) do
    for _, n in ipairs(SIZES) do
      local kills, stops = faults(n)
      local warm = math.max(math.floor(DURATION / 3), math.ceil(rounds(n) * interval))
      local dur = warm + DURATION - math.floor(DURATION / 3)
      local cdf = string.format("%s/scale-cdf-n%d-i%g.csv", OUT, n, interval)
      local cmd = string.format("%s sim --agents %d --interval %dms --duration %ds --loss 0.01 "
        .. "--kill %d --stop %d --stall-every 30s --stall 2s --warmup %ds --seed %d --json --cdf %s", VIGIL, n,
        math.floor(interval * 1000 + 0.5), dur, kills, stops, warm, SEED, cdf)
      io.write(string.format("run   N=%-5d interval=%gs ... ", n, interval))
      io.flush()
      local ok, out = sh(cmd)
      local r = ok and json.decode(out)
      if not r then
        io.write("FAILED\n" .. out .. "\n")
      else
        local d, st = r.detections, r.steady_per_agent or {}
        csv:write(table.concat({ r.agents, interval, "observers", r.loss, r.duration_s, r.false_alarms,
          num(d.kill.median_s), num(d.kill.p99_s), num(d.kill.max_s), d.kill.missed, d.kill.already_down,
          num(d.silent.median_s), num(d.silent.p99_s), num(d.silent.max_s), d.silent.missed,
          d.silent.already_down, num(r.per_agent.frames_sent_per_s),
          num(r.per_agent.bytes_sent_per_s), num(r.per_agent.cpu_ns_per_s), num(st.frames_sent_per_s),
          num(st.bytes_sent_per_s), num(st.cpu_ns_per_s), num(r.converged_s), r.events_lost,
          num(r.run.cpu_s), num(r.run.max_rss_mib) }, ",") .. "\n")
        csv:flush()
        io.write(string.format("%d false alarms, kill %s s, silent %s s, %.0f B/s/agent settled (%.0f s CPU)\n",
          r.false_alarms, num(d.kill.median_s), num(d.silent.median_s), st.bytes_sent_per_s or 0, r.run.cpu_s))
      end
    end
  end
  csv:close()
end

-- What a settled cluster costs when nothing fails: a run per size without
-- faults or stalls, measured after a warm-up long enough for the cluster to
-- converge from one seed (~55 rounds at 1,000 agents... ~275 at 5,000:
-- convergence takes rounds, so a 1 s interval needs 5 times the seconds).
local idle = assert(io.open(OUT .. "/scale-idle.csv", "w"))
idle:write("agents,interval_s,warmup_s,converged_s,frames_per_s,bytes_per_s,node_ns_per_s,false_alarms,run_cpu_s,"
  .. "max_rss_mib\n")
if os.getenv("IDLE") ~= "0" then
  for _, interval in ipairs(INTERVALS) do
    for _, n in ipairs(SIZES) do
      local warm = math.max(10, math.ceil(rounds(n) * interval))
      local cmd = string.format("%s sim --agents %d --interval %dms --duration %ds --warmup %ds --loss 0.01 "
        .. "--seed %d --json", VIGIL, n, math.floor(interval * 1000 + 0.5), warm + 30, warm, SEED)
      io.write(string.format("idle  N=%-5d interval=%gs warm-up %d s ... ", n, interval, warm))
      io.flush()
      local ok, out = sh(cmd)
      local r = ok and json.decode(out)
      if not r then
        io.write("FAILED\n" .. out .. "\n")
      else
        local st = r.steady_per_agent
        idle:write(table.concat({ n, interval, warm, num(r.converged_s), num(st.frames_sent_per_s),
          num(st.bytes_sent_per_s), num(st.cpu_ns_per_s), r.false_alarms, num(r.run.cpu_s),
          num(r.run.max_rss_mib) }, ",") .. "\n")
        idle:flush()
        io.write(string.format("converged %s s, %.1f frames/s, %.0f B/s, %.0f ns/s per agent\n", num(r.converged_s),
          st.frames_sent_per_s, st.bytes_sent_per_s, st.cpu_ns_per_s))
      end
    end
  end
end
idle:close()
os.execute("luajit bench/scale/table.lua > " .. OUT .. "/scale.md")
print("table: " .. OUT .. "/scale.md")

-- Plots (gnuplot, when installed).
if not sh("command -v gnuplot >/dev/null") then
  print("gnuplot not found: CSV only")
  return
end
local gp = assert(io.open(OUT .. "/scale.gp", "w"))
gp:write([[
set datafile separator ","
set terminal pngcairo size 900,560 noenhanced
set key left top
set grid
]])
for _, interval in ipairs(INTERVALS) do
  local plots = {}
  for _, n in ipairs(SIZES) do
    local f = string.format("%s/scale-cdf-n%d-i%g.csv", OUT, n, interval)
    local h = io.open(f)
    if h then
      h:close()
      for _, kind in ipairs({ "kill", "silent" }) do
        plots[#plots + 1] = string.format([['< grep ^%s, %s | sort -t, -k2 -g' using 2:($0+1) smooth cnormal ]]
          .. [[with lines lw 2 %s title "N=%d %s"]], kind, f, kind == "silent" and "dt 2" or "dt 1", n, kind)
      end
    end
  end
  if #plots > 0 then
    gp:write(string.format('set output "%s/scale-detection-i%g.png"\n', OUT, interval))
    gp:write(string.format('set title "Detection time per surviving observer, interval %g s, 1%% loss"\n', interval))
    gp:write('set xlabel "seconds from the failure to the observer\'s peer_down"\nset ylabel "fraction"\n')
    gp:write("set logscale x\nplot " .. table.concat(plots, ", \\\n  ") .. "\nunset logscale x\n")
  end
end
-- Protocol 2 (this run) beside protocol 1's rows (fanout all / 8).
-- col: the column in scale.csv; col1: in scale-protocol1.csv.
local function series(col, col1, title_fmt)
  local parts = {}
  for _, interval in ipairs(INTERVALS) do
    parts[#parts + 1] = string.format([['%s/scale.csv' using ($2==%g ? $1 : 1/0):%s with linespoints ]]
      .. [[lw 2 title "%s"]], OUT, interval, col, string.format(title_fmt, interval, "observers (protocol 2)"))
    for _, fanout in ipairs({ 0, 8 }) do
      parts[#parts + 1] = string.format([['%s/scale-protocol1.csv' using ($2==%g && $3==%d ? $1 : 1/0):%s ]]
        .. [[with linespoints lw 1 dt 3 title "%s"]], OUT, interval, fanout, col1,
        string.format(title_fmt, interval, "protocol 1, fanout " .. (fanout == 0 and "all" or tostring(fanout))))
    end
  end
  return table.concat(parts, ", \\\n  ")
end
gp:write(string.format('set output "%s/scale-false-alarms.png"\n', OUT))
gp:write('set title "False alarms (peer_down about a live agent, per observer) against cluster size"\n')
gp:write('set xlabel "agents"\nset ylabel "false alarms in the run (+1)"\nset logscale xy\n')
gp:write("plot " .. series("($6+1)", "($6+1)", "interval %g s, %s") .. "\n")
gp:write(string.format('set output "%s/scale-bytes.png"\n', OUT))
gp:write('set title "Bytes sent per agent per second against cluster size"\n')
gp:write('set ylabel "bytes / s / agent (protocol 2: after the warm-up)"\n')
gp:write("plot " .. series("21", "18", "interval %g s, %s") .. "\n")
gp:close()
local ok, out = sh("gnuplot " .. OUT .. "/scale.gp")
print(ok and "plots: " .. OUT .. "/scale-*.png" or ("gnuplot failed:\n" .. out))
