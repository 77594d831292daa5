local testing = require("vigil.testing")

describe("examples/policies/flap_damping.lua", function()
  local P = "127.0.0.2:7946"
  local function sim()
    local s = testing.cluster({ self = "127.0.0.1:7946", peers = { P, "127.0.0.3:7946" }, interval = 1.0, seed = 1 })
    s:load("examples/policies/flap_damping.lua")
    s:advance(3)
    return s
  end
  local function bounce(s)
    s:crash(P)
    s:advance(4)
    s:recover(P)
    s:advance(2)
  end

  it("pages for a peer that goes down", function()
    local s = sim()
    bounce(s)
    assert.executed(s, "peer down: 127%.0%.0%.2:7946")
  end)

  it("stops paging for a peer that flaps, warns once, and pages again after a quiet window", function()
    local s = sim()
    for _ = 1, 6 do bounce(s) end -- 6 downs in 36 s
    assert.are.equal(6, #s:delivered("peer_down", { peer = P }))
    assert.are.equal(3, #s.execs)
    local warnings = 0
    for _, l in ipairs(s.logs) do warnings = warnings + (l.msg:find("flapping") and 1 or 0) end
    assert.are.equal(1, warnings)
    s:advance(120) -- quiet
    bounce(s)
    assert.are.equal(4, #s.execs)
  end)
end)
