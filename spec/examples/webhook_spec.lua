local testing = require("vigil.testing")

describe("examples/policies/webhook.lua", function()
  local P = "127.0.0.2:7946"
  local function sim(result)
    local s = testing.cluster({ self = "127.0.0.1:7946", peers = { P }, interval = 1.0 })
    s:on_exec("^curl", result)
    s:load("examples/policies/webhook.lua")
    s:advance(3)
    s:crash(P)
    s:advance(15)
    return s
  end

  it("posts the conviction as JSON on stdin, never on a command line", function()
    local s = sim({ code = 0 })
    assert.are.equal(1, #s.execs)
    local e = s.execs[1]
    assert.truthy(e.stdin:find('"peer":"' .. P .. '"', 1, true))
    assert.truthy(e.stdin:find('"cause":"refused"', 1, true))
    assert.falsy(e.line:find(P, 1, true))
    assert.are.equal(10, e.timeout)
    assert.logged(s, "webhook delivered")
  end)

  it("retries three times with backoff, then logs the failure", function()
    local s = sim({ code = 22, stderr = "The requested URL returned error: 503" })
    assert.are.equal(4, #s.execs)
    local gaps = {}
    for i = 2, 4 do gaps[#gaps + 1] = math.floor((s.execs[i].at - s.execs[i - 1].at) * 1000 + 0.5) / 1000 end
    assert.are.same({ 1, 2, 4 }, gaps)
    assert.logged(s, "webhook failed", "error")
  end)
end)
