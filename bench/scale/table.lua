-- bench/scale/table.lua - bench/results/scale.csv as the Markdown table of
-- bench/README.md (run by bench/scale/run.lua; also by hand:
-- `luajit bench/scale/table.lua`).
local path = arg and arg[1] or "bench/results/scale.csv"
local f = assert(io.open(path))
local header = {}
for name in f:read("*l"):gmatch("[^,]+") do header[#header + 1] = name end
local rows = {}
for line in f:lines() do
  local r, i = {}, 0
  for v in (line .. ","):gmatch("([^,]*),") do
    i = i + 1
    r[header[i]] = v
  end
  rows[#rows + 1] = r
end
f:close()

local function s(v, fmt)
  local x = tonumber(v)
  if not x then return "–" end
  return string.format(fmt or "%.2f", x)
end
local function kb(v)
  local x = tonumber(v)
  if not x then return "–" end
  return x >= 10000 and string.format("%.0f", x / 1000) or string.format("%.1f", x / 1000)
end

local settled = header[20] == "steady_frames_per_s" -- protocol 2's CSV has the after-warm-up columns
if settled then
  print("| agents | interval | false alarms "
    .. "| kill -9: median / p99 / max (missed, already down) | silent: median / p99 / max (missed, already down) "
    .. "| frames/s/agent | kB/s/agent | node µs/s/agent | settled: frames/s, kB/s, node µs/s | converged | run CPU |")
  print("| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |")
  for _, r in ipairs(rows) do
    print(string.format(
      "| %s | %s s | %s | %s / %s / %s (%s, %s) | %s / %s / %s (%s, %s) | %s | %s | %s | %s, %s, %s | %s | %s s |",
      r.agents, r.interval_s, r.false_alarms, s(r.kill_median_s), s(r.kill_p99_s), s(r.kill_max_s), r.kill_missed,
      r.kill_already_down, s(r.silent_median_s), s(r.silent_p99_s), s(r.silent_max_s), r.silent_missed,
      r.silent_already_down, s(r.frames_per_s, "%.1f"), kb(r.bytes_per_s),
      s(tonumber(r.node_ns_per_s) and r.node_ns_per_s / 1000, "%.0f"), s(r.steady_frames_per_s, "%.1f"),
      kb(r.steady_bytes_per_s), s(tonumber(r.steady_node_ns_per_s) and r.steady_node_ns_per_s / 1000, "%.0f"),
      r.converged_s ~= "" and (s(r.converged_s, "%.1f") .. " s") or "never", s(r.run_cpu_s, "%.0f")))
  end
  return
end
print("| agents | interval | fanout | false alarms "
  .. "| kill -9: median / p99 / max (missed, already down) | silent: median / p99 / max (missed, already down) "
  .. "| frames/s/agent | kB/s/agent | node µs/s/agent | converged | run CPU |")
print("| ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
for _, r in ipairs(rows) do
  print(string.format(
    "| %s | %s s | %s | %s | %s / %s / %s (%s, %s) | %s / %s / %s (%s, %s) | %s | %s | %s | %s | %s s |",
    r.agents, r.interval_s, r.fanout == "0" and "all" or r.fanout, r.false_alarms, s(r.kill_median_s),
    s(r.kill_p99_s), s(r.kill_max_s), r.kill_missed, r.kill_already_down, s(r.silent_median_s), s(r.silent_p99_s),
    s(r.silent_max_s), r.silent_missed, r.silent_already_down, s(r.frames_per_s, "%.1f"), kb(r.bytes_per_s),
    s(tonumber(r.node_ns_per_s) and r.node_ns_per_s / 1000, "%.0f"),
    r.converged_s ~= "" and (s(r.converged_s, "%.1f") .. " s") or "never", s(r.run_cpu_s, "%.0f")))
end
