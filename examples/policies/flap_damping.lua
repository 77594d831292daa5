-- flap_damping.lua - react to a peer going down, unless it is flapping.
--
-- A peer that went down more than LIMIT times in WINDOW seconds is
-- flapping (a bad link, a crash loop): paging on every bounce helps nobody.
-- Its reactions are held back, with one warning, until it has been quiet for
-- a whole window. The history lives in vigil.state, so a reload keeps it.
local LIMIT, WINDOW = 3, 60
local PAGE = os.getenv("PAGE_COMMAND") or "/usr/local/bin/page"

vigil.state.flaps = vigil.state.flaps or {}

local function recent_downs(peer, now)
  local kept = {}
  for _, t in ipairs(vigil.state.flaps[peer] or {}) do
    if now - t < WINDOW then kept[#kept + 1] = t end
  end
  return kept
end

vigil.on("peer_down", "page-unless-flapping", function(ev)
  local now = vigil.now()
  local downs = recent_downs(ev.peer, now)
  downs[#downs + 1] = now
  vigil.state.flaps[ev.peer] = downs
  if #downs > LIMIT then
    if #downs == LIMIT + 1 then
      vigil.log.warn("peer is flapping; holding reactions back", { peer = ev.peer, downs = #downs, window = WINDOW })
    end
    return
  end
  vigil.exec({ PAGE, "peer down: " .. ev.peer, timeout = 10 })
end)
