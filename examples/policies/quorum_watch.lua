-- quorum_watch.lua - alert when a datacenter loses its quorum.
--
-- Every few seconds, count the normal peers of each dc (this agent
-- included) against the dc's size; when fewer than a majority are up, log an
-- error and run the alert command once, and say so again when the quorum is
-- back. Useful for replicated stores that stop serving without a majority.
local EVERY = 5
local ALERT = os.getenv("QUORUM_ALERT") or "/usr/local/bin/alert"

vigil.state.quorum_lost = vigil.state.quorum_lost or {}

local function check()
  local size, up = {}, {}
  for _, p in ipairs(vigil.peers()) do
    size[p.dc] = (size[p.dc] or 0) + 1
    up[p.dc] = (up[p.dc] or 0) + (p.state == "normal" and 1 or 0)
  end
  for dc, n in pairs(size) do
    local quorum = math.floor(n / 2) + 1
    local lost = up[dc] < quorum
    if lost and not vigil.state.quorum_lost[dc] then
      vigil.log.error("datacenter lost its quorum", { dc = dc, up = up[dc], size = n, quorum = quorum })
      vigil.exec({ ALERT, "quorum lost in " .. dc, timeout = 10, retries = 1 })
    elseif not lost and vigil.state.quorum_lost[dc] then
      vigil.log.info("datacenter has its quorum back", { dc = dc, up = up[dc], size = n })
    end
    vigil.state.quorum_lost[dc] = lost
  end
end

vigil.every(EVERY, check)
