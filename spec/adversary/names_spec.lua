-- Names from the wire (issue 12, item 4): a dc or rack is whatever a
-- stranger writes into a frame, and it ends up in logs, JSON, metrics
-- labels and commands' environments. Only [A-Za-z0-9._-] gets in; the rest
-- is rejected and counted. Real agent on loopback, bounded.
local agents = require("helpers.agents")

local wire = require("helpers.wire")

-- A heartbeat (protocol 2, unsigned) from `from` with rack `rack`.
local function heartbeat(from, rack)
  return wire.frame({ from = from, generation = 1000, version = 1, rack = rack })
end

describe("a name from the wire", function()
  after_each(function() agents.stop_all() end)

  it("with characters that need quoting is rejected and counted, and never reaches the log", function()
    local a = agents.start({})
    -- sent from the address it names: a frame counts only from there
    local s = wire.socket("127.0.0.1:" .. agents.ports())
    local evil = "r msg=\"disk wiped\" level=error"
    assert.is_true(s:send(a.pname, heartbeat(s.pname, evil)))
    agents.wait(function()
      return (agents.metric(a, 'vigil_frames_rejected_total{reason="value"}') or 0) >= 1
    end, 5, "the frame to be rejected for its value")
    assert.is_nil(agents.members(a)[s.pname])
    -- The same frame with a plain rack is accepted: the rack was the reason.
    assert.is_true(s:send(a.pname, heartbeat(s.pname, "rack-1.b_2")))
    agents.wait(function() return agents.members(a)[s.pname] ~= nil end, 5, "the plain frame's peer to join")
    assert.are.equal("rack-1.b_2", agents.members(a)[s.pname].rack)
    assert.is_nil(agents.log(a):find("disk wiped", 1, true))
    s:close()
  end)

  it("is refused as a flag too, so an agent cannot announce what its peers would reject", function()
    local out, rc = agents.run(agents.VIGIL .. " agent --listen 127.0.0.1:1 --rack 'a b' 2>&1")
    assert.are.equal(2, rc, out)
    assert.truthy(out:find("--rack: 1 to 47 letters, digits", 1, true), out)
  end)
end)
