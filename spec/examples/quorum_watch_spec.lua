local testing = require("vigil.testing")

describe("examples/policies/quorum_watch.lua", function()
  it("alerts once when a dc loses its majority and logs when it is back", function()
    local peers = {}
    for i = 2, 5 do peers[#peers + 1] = { pname = "127.0.1." .. i .. ":7946", dc = "east" } end
    local s = testing.cluster({ self = "127.0.1.1:7946", dc = "east", peers = peers, interval = 1.0 })
    s:load("examples/policies/quorum_watch.lua")
    s:advance(10)
    assert.are.equal(0, #s.execs)
    s:crash("127.0.1.2:7946") -- 4 of 5 up: quorum (3) holds
    s:advance(10)
    assert.are.equal(0, #s.execs)
    s:crash("127.0.1.3:7946")
    s:crash("127.0.1.4:7946") -- 2 of 5: lost
    s:advance(10)
    assert.executed(s, "quorum lost in east")
    assert.logged(s, "lost its quorum", "error")
    s:advance(30)
    assert.are.equal(1, #s.execs) -- once, not every 5 s
    s:recover("127.0.1.3:7946")
    s:advance(10)
    assert.logged(s, "quorum back", "info")
  end)
end)
