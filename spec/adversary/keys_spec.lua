-- Mismatched keys on the wire (issue 12, item 10): agents whose keyrings
-- share no key never see each other; each must say so at warn, with the
-- source, and not once per datagram. Real agents on loopback, bounded.
local agents = require("helpers.agents")

local function keyfile(b64) return agents.tmpfile(b64 .. "\n") end

local count = agents.count

describe("mismatched keys", function()
  local files = {}
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("are logged at warn with the source, at most once every 10 s, and counted", function()
    local k1 = keyfile("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    local k2 = keyfile("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=")
    files = { k1, k2 }
    local a = agents.start({ keyring = k1 })
    local b = agents.start({ keyring = k2, seeds = { a } })
    local c = agents.start({ seeds = { a } }) -- no keyring at all
    -- b and c send to a (their seed) five times a second.
    agents.wait(function()
      return (agents.metric(a, 'vigil_frames_rejected_total{reason="auth"}') or 0) >= 15
        and (agents.metric(a, 'vigil_frames_rejected_total{reason="unauthenticated"}') or 0) >= 15
    end, 8, "a to reject b's and c's frames")
    local log = agents.lines(a.log)
    local wrong = count(log, 'msg="frame sealed with a key not in our keyring"')
    local unsigned = count(log, 'msg="plaintext frame, and we have a keyring"')
    -- One warning in the first 10 s, whichever came first, then silence.
    assert.are.equal(1, wrong + unsigned, table.concat(log, "\n"))
    local line
    for _, l in ipairs(log) do
      if l:find("level=warn", 1, true) and (l:find(b.pname, 1, true) or l:find(c.pname, 1, true)) then line = l end
    end
    assert.truthy(line, "the warning names its source")
    assert.truthy(line:find("hint=", 1, true))
    assert.is_nil(agents.members(a)[b.pname])
    assert.is_nil(agents.members(a)[c.pname])
  end)

  it("without a keyring, an agent refuses to listen beyond loopback unless told --insecure", function()
    -- refused before anything is bound: nothing listens on 0.0.0.0
    for _, listen in ipairs({ "0.0.0.0:29911", "[::]:29911" }) do
      local out, rc = agents.run(string.format("%s agent --listen '%s' --http off 2>&1", agents.VIGIL, listen))
      assert.are.equal(2, rc, out)
      assert.truthy(out:find("without --keyring", 1, true), out)
      assert.truthy(out:find("head -c 32 /dev/urandom", 1, true), out)
      assert.truthy(out:find("--insecure", 1, true), out)
    end
    -- loopback needs no key; --insecure is a flag the agent knows
    local a = agents.start({ host = "127.0.0.2", args = "--insecure" })
    assert.truthy(agents.health(a))
  end)

  it("are reloaded on SIGHUP: a key added to the file is accepted at once, a broken file changes nothing", function()
    local key1, key2 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
    local k1, k2 = keyfile(key1), keyfile(key2)
    files = { k1, k2 }
    local a = agents.start({ keyring = k1 })
    local b = agents.start({ keyring = k2, seeds = { a } })
    agents.wait(function()
      return (agents.metric(a, 'vigil_frames_rejected_total{reason="auth"}') or 0) >= 5
    end, 5, "a to reject b")
    -- a broken file: the keys in force stay
    local f = io.open(k1, "w")
    f:write("not base64 at all\n")
    f:close()
    agents.signal(a, "HUP")
    agents.wait(function() return agents.log(a):find("keyring not reloaded", 1, true) ~= nil end, 5, "the warning")
    assert.is_nil(agents.members(a)[b.pname])
    -- the rotation's first step: the new key added, the old one still signing
    f = io.open(k1, "w")
    f:write(key1, "\n", key2, "\n")
    f:close()
    agents.signal(a, "HUP")
    agents.wait(function() return agents.log(a):find('msg="keyring reloaded" keys=2', 1, true) ~= nil end, 5,
      "the reload")
    agents.wait(function() return agents.members(a)[b.pname] ~= nil end, 5, "a to accept b's frames")
  end)
end)
