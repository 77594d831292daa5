-- Names from the wire (issue 12, item 4): a dc or rack is whatever a
-- stranger writes into a frame, and it ends up in logs, JSON, metrics
-- labels and commands' environments. Only [A-Za-z0-9._-] gets in; the rest
-- is rejected and counted. Real agent on loopback, bounded.
local agents = require("helpers.agents")

-- A heartbeat frame (protocol 2, unsigned) from `from` with rack `rack`:
-- just enough msgpack, by hand.
local function str(s)
  if #s < 32 then return string.char(0xa0 + #s) .. s end
  return string.char(0xd9, #s) .. s
end
local function heartbeat(from, rack)
  local body = string.char(0x85) -- map of 5
    .. string.char(0x01, 0x01) -- type: heartbeat
    .. string.char(0x02) .. str(from) -- from
    .. string.char(0x03, 0xce, 0x00, 0x00, 0x03, 0xe8) -- generation 1000
    .. string.char(0x04, 0x01) -- version 1
    .. string.char(0x06) .. str(rack) -- rack
  return string.char(0x92, 0x02, 0xc4, #body) .. body
end

describe("a name from the wire", function()
  after_each(function() agents.stop_all() end)

  it("with characters that need quoting is rejected and counted, and never reaches the log", function()
    local a = agents.start({})
    local evil = "r msg=\"disk wiped\" level=error"
    assert.are.equal(1, agents.send_datagrams(a, { heartbeat("127.0.0.1:9", evil) }, 1))
    agents.wait(function()
      return (agents.metric(a, 'frames_rejected_total{reason="value"}') or 0) >= 1
    end, 5, "the frame to be rejected for its value")
    assert.is_nil(agents.members(a)["127.0.0.1:9"])
    -- The same frame with a plain rack is accepted: the rack was the reason.
    assert.are.equal(1, agents.send_datagrams(a, { heartbeat("127.0.0.1:9", "rack-1.b_2") }, 1))
    agents.wait(function() return agents.members(a)["127.0.0.1:9"] ~= nil end, 5, "the plain frame's peer to join")
    assert.are.equal("rack-1.b_2", agents.members(a)["127.0.0.1:9"].rack)
    assert.is_nil(agents.log(a):find("disk wiped", 1, true))
  end)

  it("is refused as a flag too, so an agent cannot announce what its peers would reject", function()
    local out, rc = agents.run(agents.VIGIL .. " agent --listen 127.0.0.1:1 --rack 'a b' 2>&1")
    assert.are.equal(2, rc, out)
    assert.truthy(out:find("--rack: 1 to 47 letters, digits", 1, true), out)
  end)
end)
