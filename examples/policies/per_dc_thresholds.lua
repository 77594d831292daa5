-- per_dc_thresholds.lua - a far datacenter gets a more patient detector.
--
-- Heartbeats that cross an ocean arrive later and less regularly, and the
-- link between two dcs drops for a second or two now and then. What rides
-- out a gap of G seconds is the acceptable pause, not the threshold:
-- measured (bench/README.md, "A far datacenter"), a threshold of 12
-- instead of 8 rides out gaps only ~0.3 s longer, while each second of
-- acceptable pause rides out a second more -- and costs a second of
-- detection time for that dc only. So: the far dc gets a 3 s pause (no
-- false alarm up to 3 s cuts, detection ~3.9 s instead of ~2.9 s); local
-- peers keep the fast default; one flaky host gets a higher threshold on
-- top of its dc's pause.
vigil.configure({
  acceptable_pauses = {
    ["us-west"] = 3,           -- a whole dc (seconds)
  },
  thresholds = {
    ["127.0.9.7:7946"] = 16,   -- one peer (a pname wins over its dc)
  },
})

vigil.on("peer_down", "log", function(ev)
  vigil.log.warn("peer down", { peer = ev.peer, dc = ev.dc, phi = ev.phi, cause = ev.cause })
end)
