-- webhook.lua - post every conviction to a webhook, patiently.
--
-- curl with a 5 s timeout, three retries with exponential backoff (1 s,
-- 2 s, 4 s); the final outcome is logged either way. The payload is built
-- by a JSON encoder (vigil.json, lua-cjson), never by pasting strings: a
-- peer, dc or rack name with quotes, backslashes or odd bytes stays one
-- string value and cannot add or replace a key. It goes to curl on stdin,
-- and curl is run without a shell, so no name reaches a command line.
local URL = os.getenv("WEBHOOK_URL") or "https://hooks.example.com/vigil"

-- JSON has no NaN or infinity: send those as null (vigil.json refuses them).
local function number(x)
  if x ~= x or x == math.huge or x == -math.huge then return vigil.json.null end
  return x
end

vigil.on("peer_down", "webhook", function(ev)
  local body = vigil.json.encode({
    peer = ev.peer, dc = ev.dc, rack = ev.rack, cause = ev.cause,
    phi = number(math.floor(ev.phi * 100 + 0.5) / 100), at = number(ev.at),
  })
  vigil.exec({
    "curl", "-sS", "-f", "-m", "5", "-H", "Content-Type: application/json", "--data-binary", "@-", "--", URL,
    stdin = body,
    timeout = 10,
    retries = 3,
    backoff = 1,
    on_exit = function(code, _, stderr, why)
      if code == 0 then
        vigil.log.info("webhook delivered", { peer = ev.peer })
      else
        vigil.log.error("webhook failed", { peer = ev.peer, why = why, code = code, stderr = stderr })
      end
    end,
  })
end)
