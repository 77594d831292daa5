-- webhook.lua - post every conviction to a webhook, patiently.
--
-- curl with a 5 s timeout, three retries with exponential backoff (1 s,
-- 2 s, 4 s); the final outcome is logged either way. The payload is passed
-- on stdin, never through a shell, so peer names cannot inject anything.
local URL = os.getenv("WEBHOOK_URL") or "https://hooks.example.com/vigil"

vigil.on("peer_down", "webhook", function(ev)
  local body = string.format('{"peer":"%s","dc":"%s","phi":%.2f,"cause":"%s","at":%.3f}', ev.peer, ev.dc, ev.phi,
    ev.cause, ev.at)
  vigil.exec({
    "curl", "-sS", "-f", "-m", "5", "-H", "Content-Type: application/json", "--data-binary", "@-", URL,
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
