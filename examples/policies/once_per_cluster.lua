-- once_per_cluster.lua - drain a down peer from the load balancer, once.
--
-- Every agent sees the peer go down; vigil.responsible() is true on exactly
-- one live agent for that peer, so exactly one of them runs the drain. If
-- that agent dies too, the next one takes over on its own conviction.
local DRAIN = os.getenv("DRAIN_COMMAND") or "/usr/local/bin/lb-drain"

vigil.on("peer_down", "drain", function(ev)
  if not vigil.responsible(ev.peer) then return end
  vigil.exec({ DRAIN, ev.peer, timeout = 20, retries = 3, backoff = 2 })
end)

vigil.on("peer_up", "undrain", function(ev)
  if not vigil.responsible(ev.peer) then return end
  vigil.exec({ DRAIN, "--undo", ev.peer, timeout = 20, retries = 3, backoff = 2 })
end)
