local testing = require("vigil.testing")

describe("examples/policies/per_dc_thresholds.lua", function()
  it("gives the far dc and the flaky host higher thresholds, so a local peer is convicted first", function()
    local near, far, flaky = "10.0.0.2:7946", "10.9.0.2:7946", "10.9.0.7:7946"
    local s = testing.cluster({ self = "10.0.0.1:7946", dc = "us-east", interval = 1.0, tick = 0.05, jitter = 0.2,
      peers = { { pname = near, dc = "us-east" }, { pname = far, dc = "us-west" },
        { pname = flaky, dc = "us-west" } } })
    s:load("examples/policies/per_dc_thresholds.lua")
    s:advance(20)
    s:crash(near)
    s:crash(far)
    s:crash(flaky)
    local down_at = {}
    for _ = 1, 100 do
      s:advance(0.1)
      for _, p in ipairs({ near, far, flaky }) do
        if not down_at[p] and s:state(p) == "down" then down_at[p] = s:now() end
      end
    end
    local th = {}
    for _, p in ipairs(s:peers()) do th[p.pname] = p.threshold end
    assert.are.same({ 8, 12, 16 }, { th[near], th[far], th[flaky] })
    assert.is_true(down_at[near] < down_at[far], "near before far")
    assert.is_true(down_at[near] < down_at[flaky], "near before the flaky host")
    assert.logged(s, "peer down", "warn")
  end)
end)
