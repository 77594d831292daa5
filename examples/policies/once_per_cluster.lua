-- once_per_cluster.lua - drain a down peer from the load balancer, once.
--
-- Every agent sees the peer go down; vigil.responsible() is true on exactly
-- one live agent for that peer (every agent that sees the same live set
-- picks the same one), so exactly one of them runs the drain. If that
-- agent dies too, the next one takes over on its own conviction.
--
-- The undo runs only for a peer this agent saw go down: every peer also
-- comes "up" when it first joins (each agent hears each other one when
-- the cluster forms or grows), and undoing a drain that never happened,
-- from whichever agents felt responsible while the cluster was still
-- forming, would touch the load balancer for nothing.
--
-- The peer is one argument of its own, after "--" (the end of options for
-- getopt and most tools): the command runs without a shell, and even a
-- name that starts with "-" is read as the operand, never as an option.
local DRAIN = os.getenv("DRAIN_COMMAND") or "/usr/local/bin/lb-drain"

vigil.state.down = vigil.state.down or {} -- peers seen down (survives reloads)

vigil.on("peer_down", "drain", function(ev)
  vigil.state.down[ev.peer] = true
  if not vigil.responsible(ev.peer) then return end
  vigil.exec({ DRAIN, "--", ev.peer, timeout = 20, retries = 3, backoff = 2 })
end)

vigil.on("peer_up", "undrain", function(ev)
  if not vigil.state.down[ev.peer] then return end -- first seen: nothing to undo
  vigil.state.down[ev.peer] = nil
  if not vigil.responsible(ev.peer) then return end
  vigil.exec({ DRAIN, "--undo", "--", ev.peer, timeout = 20, retries = 3, backoff = 2 })
end)
