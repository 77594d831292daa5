local testing = require("vigil.testing")
local dkjson = require("dkjson") -- an independent decoder for what the policy produced

-- RFC 3629, byte by byte: what a JSON parser is owed.
local valid_utf8 = require("helpers.utf8").valid

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

  -- Names on the wire are validated now; the payload must not depend on
  -- it. Events with names no honest wire carries go straight to the policy.
  it("encodes hostile names as values: no key added or replaced, valid UTF-8, nothing on the command line", function()
    local s = testing.cluster({ self = "127.0.0.1:7946", peers = {} })
    s:on_exec("^curl", { code = 0 })
    s:load("examples/policies/webhook.lua")
    s:advance(1)
    local peer = 'x","peer":"evil","cause":"none'
    local dc = 'd\\"}, {"dc": "x'
    local rack = "\255\254 \226\128\174txt \226\128\168\n\0\27[2J"
    s.agent[1].rt:dispatch({ type = "peer_down", peer = peer, dc = dc, rack = rack, state = "down",
      previous = "normal", phi = math.huge, cause = "phi", at = 12.5 })
    s:advance(1)
    assert.are.equal(1, #s.execs)
    local body = s.execs[1].stdin
    assert.is_true(valid_utf8(body), body)
    assert.falsy(body:find("[%z\1-\31]"), "a raw control byte")
    assert.falsy(body:find("\226\128[\168\169\170-\174]"), "a raw separator or bidi control")
    local doc, _, err = dkjson.decode(body)
    assert.is_nil(err)
    local keys = {}
    for k in pairs(doc) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "at", "cause", "dc", "peer", "rack" }, keys) -- phi: null (infinite)
    assert.are.equal(peer, doc.peer)
    assert.are.equal(dc, doc.dc)
    assert.are.equal("phi", doc.cause)
    assert.are.equal("\239\191\189\239\191\189 \226\128\174txt \226\128\168\n\0\27[2J", doc.rack)
    assert.are.equal(1, select(2, body:gsub('"peer":', "")))
    for _, a in ipairs(s.execs[1].args) do
      assert.falsy(a:find("evil", 1, true))
    end
  end)
end)
