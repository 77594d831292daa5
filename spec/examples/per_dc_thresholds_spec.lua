local testing = require("vigil.testing")

describe("examples/policies/per_dc_thresholds.lua", function()
  it("gives the far dc a longer acceptable pause and the flaky host a higher threshold", function()
    local near, far, flaky = "127.0.0.2:7946", "127.0.9.2:7946", "127.0.9.7:7946"
    local s = testing.cluster({ self = "127.0.0.1:7946", dc = "us-east", interval = 1.0, tick = 0.05, jitter = 0.2,
      peers = { { pname = near, dc = "us-east" }, { pname = far, dc = "us-west" },
        { pname = flaky, dc = "us-west" } } })
    s:load("examples/policies/per_dc_thresholds.lua")
    s:advance(20)
    -- silent failures (dead hosts): only phi, and so the thresholds, decide
    s:crash(near, { silent = true })
    s:crash(far, { silent = true })
    s:crash(flaky, { silent = true })
    local down_at = {}
    for _ = 1, 100 do
      s:advance(0.1)
      for _, p in ipairs({ near, far, flaky }) do
        if not down_at[p] and s:state(p) == "down" then down_at[p] = s:now() end
      end
    end
    local th, pause = {}, {}
    for _, p in ipairs(s:peers()) do
      th[p.pname] = p.threshold
      pause[p.pname] = p.acceptable_pause
    end
    assert.are.same({ 8, 8, 16 }, { th[near], th[far], th[flaky] })
    assert.are.same({ 2, 3, 3 }, { pause[near], pause[far], pause[flaky] })
    -- the far dc's extra second of pause is a second more before conviction
    assert.truthy(down_at[near] and down_at[far] and down_at[flaky])
    assert.is_true(down_at[far] - down_at[near] > 0.5, "far convicted later than near")
    local phi = {}
    for _, ev in ipairs(s:delivered("peer_down")) do phi[ev.peer] = ev.phi end
    assert.is_true(phi[near] >= 8 and phi[near] < 8.5, "near: " .. tostring(phi[near]))
    assert.is_true(phi[flaky] >= 16 and phi[flaky] < 16.5, "flaky: " .. tostring(phi[flaky]))
    assert.logged(s, "peer down", "warn")
  end)
end)
