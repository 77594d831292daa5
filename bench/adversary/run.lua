-- bench/adversary/run.lua - the figures of docs/SECURITY.md: what the
-- issue-12 attacks cost a real agent on loopback, measured, not argued
-- (make bench-adversary). Bounded: each part sends a fixed number of
-- datagrams and watches for a fixed time.
--
--   flood:      100,000 forged names in 6,250 frames from one source, then
--               25,600 more from 40 sources: peers held, RSS, CPU seconds.
--   memory:     RSS per peer held, from the 40-source fill.
--   reflection: 100 forged heartbeats naming a third party and 100 entries
--               about it, against 3 agents; bytes the third party gets in
--               22 s against bytes the attacker sent (the issue's figure:
--               4.2 MB for 2.9 kB).
--
-- Environment: VIGIL_BIN (build/vigil).
package.path = "spec/?.lua;" .. package.path
local agents = require("helpers.agents")
local wire = require("helpers.wire")

local function peers(a)
  local text = agents.get(a, "/metrics") or ""
  local n = 0
  for v in text:gmatch('\ncluster_peers{state="[^"]+"} (%d+)') do n = n + tonumber(v) end
  return n
end

local function names(base, n, now)
  local digest = {}
  for k = 0, n - 1 do
    local i = base + k
    digest[#digest + 1] = { string.format("127.%d.%d.%d:%d", 1 + i % 200, math.floor(i / 200) % 250,
      1 + math.floor(i / 50000) % 250, 7000 + math.floor(i / 12500000)), now, 0 }
  end
  return digest
end

local function flood()
  local a = agents.start({})
  agents.sleep(1)
  local rss0, cpu0 = agents.rss_kib(a), agents.cpu_seconds(a)
  local s = wire.socket("127.0.0.1:" .. agents.ports())
  local now = wire.now_ms()
  local t0 = os.time()
  for f = 0, 6249 do
    s:send(a.pname, wire.frame({ from = s.pname, generation = now, version = f + 1, sent = now,
      digest = names(f * 16, 16, now) }))
  end
  agents.sleep(5)
  local one = { peers = peers(a), rss = agents.rss_kib(a), cpu = agents.cpu_seconds(a) - cpu0,
    rate = agents.metric(a, 'vigil_frames_ignored_total{reason="join_rate"}') or 0, secs = os.time() - t0 }
  print(string.format("flood, one source: 100,000 names in 6,250 frames (%d s): %d peers held, RSS %.1f -> %.1f MiB, "
    .. "%.2f CPU s, %d entries refused for the source's rate", one.secs, one.peers, rss0 / 1024, one.rss / 1024,
    one.cpu, one.rate))
  -- Many sources: each gets its burst (512) and its rate (128/s).
  local before_peers, before_rss = peers(a), agents.rss_kib(a)
  for src = 1, 40 do
    local x = wire.socket(string.format("127.0.3.%d:%d", src, 40000 + src))
    for f = 0, 39 do
      x:send(a.pname, wire.frame({ from = x.pname, generation = now, version = f + 1, sent = wire.now_ms(),
        digest = names(200000 + (src * 40 + f) * 16, 16, now) }))
    end
    x:close()
  end
  agents.sleep(5)
  local after_peers, after_rss = peers(a), agents.rss_kib(a)
  print(string.format("flood, 40 sources x 640 names: %d -> %d peers, RSS %.1f -> %.1f MiB: %.0f bytes a peer",
    before_peers, after_peers, before_rss / 1024, after_rss / 1024,
    (after_rss - before_rss) * 1024 / math.max(1, after_peers - before_peers)))
  s:close()
  agents.stop_all()
end

local function reflection()
  local a = agents.start({})
  local b = agents.start({ seeds = { a } })
  local c = agents.start({ seeds = { a } })
  agents.wait(function() return agents.all_normal({ a, b, c }) end, 10, "three agents up")
  local victim = wire.socket("127.0.0.77:" .. agents.ports())
  local s = wire.socket("127.0.0.1:" .. agents.ports())
  local now = wire.now_ms()
  local list = { a, b, c }
  for i = 1, 100 do
    s:send(list[i % 3 + 1].pname, wire.frame({ from = victim.pname, generation = now, version = i, sent = now }))
    s:send(list[i % 3 + 1].pname, wire.frame({ from = s.pname, generation = now, version = i, sent = now,
      digest = { { victim.pname, now + i, 0 } } }))
  end
  local got, bytes = victim:collect(22)
  print(string.format("reflection: the attacker sent %d bytes in %d datagrams; the third party got %d bytes in %d "
    .. "datagrams in 22 s (ratio %.3f)", s.sent_bytes, s.sent, bytes, got, bytes / math.max(1, s.sent_bytes)))
  victim:close()
  s:close()
  agents.stop_all()
end

flood()
reflection()
