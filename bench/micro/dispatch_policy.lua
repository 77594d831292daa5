-- bench/micro/dispatch_policy.lua - the policy `vigil bench-dispatch` feeds:
-- a handler for the event and one for `transition`, each doing a little
-- work, as a real policy would.
local downs, by_dc = 0, {}
vigil.on("peer_down", "count", function(ev)
  downs = downs + 1
  by_dc[ev.dc] = (by_dc[ev.dc] or 0) + 1
end)
vigil.on("transition", "last", function(ev) vigil.state.last = ev.peer end)
