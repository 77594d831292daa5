-- per_dc_thresholds.lua - a far datacenter gets a more patient detector.
--
-- Heartbeats that cross an ocean arrive later and less regularly. Rather
-- than make every peer slower to convict, give the far dc its own
-- threshold, and one flaky host an even higher one. Local peers keep the
-- fast default.
vigil.configure({
  threshold = 8,
  thresholds = {
    ["us-west"] = 12,          -- a whole dc
    ["127.0.9.7:7946"] = 16,   -- one peer (a pname wins over its dc)
  },
})

vigil.on("peer_down", "log", function(ev)
  vigil.log.warn("peer down", { peer = ev.peer, dc = ev.dc, phi = ev.phi })
end)
