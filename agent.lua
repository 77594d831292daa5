-- agent.lua - the default vigil policy.
--
-- vigil runs this file on its script thread, next to (never in the way of)
-- the failure detector. It decides nothing about who is up: the detector
-- does. It says what to do about it. Edit it and save: the agent reloads
-- it by itself (or send SIGHUP, or run `vigil reload`); if your edit does
-- not load, the agent logs the file:line and keeps the previous version.
-- Check an edit before it ships with `vigil check agent.lua`.
--
-- Everything below uses the `vigil` API; docs/POLICIES.md describes it all.

---------------------------------------------------------------------------
-- 1. The detector
--
-- A peer is convicted on one of two kinds of evidence:
--  * its process died: its host answers our heartbeats with "port
--    unreachable" and the peer has missed a heartbeat (mean interval plus
--    one standard deviation): ~0.3 s at 200 ms heartbeats, ~1.1 s at 1 s.
--    `refused = false` turns this off (where ICMP is filtered it simply
--    never fires);
--  * silence: its suspicion, phi, passes `threshold`. `acceptable_pause`
--    (seconds) is the stall a live peer may take without being convicted
--    (GC pauses, a busy or migrating VM, SIGSTOP): with 2 s, a stall of up
--    to ~2.5 s passes, and a silent peer (dead host, cut link) is convicted
--    ~2.8 s after its last heartbeat at 200 ms, ~3.6 s at 1 s.
-- Up to 9 agents every agent weighs this evidence about every other. In a
-- larger cluster each peer is watched by 8 of the agents (its observers,
-- chosen by the protocol: there is nothing to set, whatever the size); they
-- weigh it, and every agent convicts the peer once 5 of them agree (cause
-- "observers"), at about the same time. The settings below apply the same.
-- Lower `acceptable_pause` for faster silent-failure detection at the cost
-- of false alarms on stalls.
--
-- A far or jittery datacenter: give it its own acceptable pause, about the
-- longest gap in its heartbeats you want to ride out, with
-- `acceptable_pauses = { ["dc-far"] = 3 }` (seconds; a pname works too):
-- it is about the peers judged, so the far dc's own agents want the near
-- dc named there instead (`vigil.self().dc` says where a policy runs).
-- Each second of it rides out a gap a second longer and convicts a dead
-- peer of that dc a second later. A per-dc threshold is not that knob:
-- measured with 300 ms of jitter and a WAN cut now and then, threshold 12
-- instead of 8 rides out gaps only ~0.3 s longer (2.5 s instead of 2.2 s),
-- 16 hardly more, while `acceptable_pauses = 3` rides out 3 s gaps
-- (bench/README.md, "A far datacenter"). docs/DETECTOR.md has the
-- arithmetic, bench/README.md the figures these defaults were chosen on.
---------------------------------------------------------------------------
--
-- These are the defaults, and the agent's own settings (flags, VIGIL_*
-- variables, --config: docs/AGENT.md) come first: a value set here
-- overrides them while this policy is loaded (logged, and warned when the
-- operator set it explicitly); taken out again, the configured value is
-- back at the next reload. Uncomment what this policy must decide itself.
-- vigil.configure({
--   threshold = 8,
--   acceptable_pause = 2.0,
--   min_std_dev = 0.1,
--   refused = true,
-- })

---------------------------------------------------------------------------
-- 2. Logging every transition
--
-- One line per change of any peer, with phi, on the agent's stderr; a
-- peer_up also says why it came up (`reason`: "joined" the first time this
-- agent sees it, "recovered" with the same process, "restarted" with a new
-- one). Remove
-- this section if your log pipeline already has the agent's own lines.
---------------------------------------------------------------------------
vigil.on("transition", "log", function(ev)
  vigil.log.info("policy saw a transition", {
    event = ev.type, peer = ev.peer, dc = ev.dc, from = ev.previous, to = ev.state, phi = ev.phi,
    cause = ev.cause, reason = ev.reason, -- reason (peer_up): joined, recovered or restarted
  })
end)

---------------------------------------------------------------------------
-- 3. Damping flapping peers
--
-- A peer that went down FLAP_LIMIT times within FLAP_WINDOW seconds is
-- "flapping": its reactions are held back until it has been quiet for a
-- window, so a sick network link does not page anyone ten times a minute.
-- vigil.state survives reloads, so the history does too.
---------------------------------------------------------------------------
local FLAP_LIMIT, FLAP_WINDOW = 3, 60

vigil.state.downs = vigil.state.downs or {}

local function flapping(peer)
  local now, recent = vigil.now(), {}
  for _, t in ipairs(vigil.state.downs[peer] or {}) do
    if now - t < FLAP_WINDOW then recent[#recent + 1] = t end
  end
  recent[#recent + 1] = now
  vigil.state.downs[peer] = recent
  return #recent > FLAP_LIMIT
end

---------------------------------------------------------------------------
-- 4. Reacting to a peer going down
--
-- When VIGIL_ON_DOWN is set in the agent's environment, it is run (through
-- /bin/sh) for every peer that goes down, with VIGIL_PEER, VIGIL_DC,
-- VIGIL_RACK, VIGIL_PHI and VIGIL_CAUSE ("phi": silence, "refused": its
-- process is gone, "observers": a quorum of its observers convicted it, in
-- a cluster of more than 9 agents, "marked") set, and the peer's tags as
-- VIGIL_TAG_<KEY> (an agent started with --tag role=db gives
-- VIGIL_TAG_ROLE=db). To react to some peers only, give the handler a
-- filter: vigil.on("peer_down", "react", { tags = { role = "db" } }, fn).
-- vigil.responsible()
-- makes exactly one live agent run it, so the cluster reacts once, not
-- once per agent. It gets 30 s and two retries. Replace the command with whatever your service needs:
-- drain the node from a load balancer, page, open a ticket.
---------------------------------------------------------------------------
local ON_DOWN = os.getenv("VIGIL_ON_DOWN")

vigil.on("peer_down", "react", function(ev)
  if flapping(ev.peer) then
    vigil.log.warn("peer is flapping; reaction held back", { peer = ev.peer, window_s = FLAP_WINDOW })
    return
  end
  if not ON_DOWN or ON_DOWN == "" then return end
  if not vigil.responsible(ev.peer) then
    vigil.log.debug("another agent reacts to this one", { peer = ev.peer })
    return
  end
  vigil.log.info("reacting to a peer down", { peer = ev.peer, command = ON_DOWN })
  vigil.exec({
    "/bin/sh", "-c", ON_DOWN,
    env = vigil.tag_env(ev, { -- VIGIL_TAG_<KEY> for each of its tags, beside these
      VIGIL_PEER = ev.peer, VIGIL_DC = ev.dc, VIGIL_RACK = ev.rack, VIGIL_PHI = string.format("%.2f", ev.phi),
      VIGIL_CAUSE = ev.cause,
    }),
    timeout = 30,
    retries = 2,
    backoff = 1,
    on_exit = function(code, stdout, stderr, why)
      vigil.log.info("reaction finished", {
        peer = ev.peer, code = code, why = why, stdout = stdout:sub(1, 200), stderr = stderr:sub(1, 200),
      })
    end,
  })
end)

---------------------------------------------------------------------------
-- 5. Knowing when the policy fell behind
--
-- If a handler is slow, events queue up; past the queue's size the oldest
-- are dropped and this handler hears how many. The detector itself is never
-- slowed: only reactions are late.
---------------------------------------------------------------------------
vigil.on("lagged", "warn", function(ev)
  vigil.log.warn("policy fell behind; events were dropped", { missed = ev.missed })
end)
