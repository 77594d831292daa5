local testing = require("vigil.testing")

describe("examples/policies/once_per_cluster.lua", function()
  local agents = { "10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946", "10.0.0.4:7946" }
  local victim = "10.0.0.4:7946"

  -- The same cluster seen from each agent: exactly one of them drains.
  local function run_from(self)
    local peers = {}
    for _, p in ipairs(agents) do
      if p ~= self then peers[#peers + 1] = p end
    end
    local s = testing.cluster({ self = self, peers = peers, interval = 1.0 })
    s:load("examples/policies/once_per_cluster.lua")
    s:advance(5)
    s:crash(victim)
    s:advance(5)
    return s
  end

  it("drains a down peer from exactly one agent", function()
    local drains = 0
    for _, self in ipairs({ "10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946" }) do
      local s = run_from(self)
      assert.delivered(s, "peer_down", { peer = victim })
      for _, e in ipairs(s.execs) do
        if e.line:find("lb%-drain 10%.0%.0%.4:7946$") then drains = drains + 1 end
      end
    end
    assert.are.equal(1, drains)
  end)
end)
