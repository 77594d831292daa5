-- The default policy, agent.lua, in virtual time.
local ffi = require("ffi")
local testing = require("vigil.testing")

ffi.cdef([[
  int setenv(const char *name, const char *value, int overwrite);
  int unsetenv(const char *name);
]])

local SELF, A, B = "127.0.0.1:7946", "127.0.0.2:7946", "127.0.0.3:7946"

-- A cluster of SELF, A and B. Only SELF runs agent.lua, unless every = true:
-- then every agent runs it, as in production.
local function sim(on_down, every)
  if on_down then ffi.C.setenv("VIGIL_ON_DOWN", on_down, 1) else ffi.C.unsetenv("VIGIL_ON_DOWN") end
  local s
  if every then
    s = testing.cluster({ agents = { SELF, A, B }, interval = 0.2 })
  else
    s = testing.cluster({ self = SELF, peers = { A, B }, interval = 0.2 })
  end
  s:load("agent.lua")
  ffi.C.unsetenv("VIGIL_ON_DOWN")
  s:advance(5)
  return s
end

describe("agent.lua", function()
  it("logs every transition with its phi and its cause", function()
    local s = sim(nil)
    s:crash(B) -- the process died: its port refuses
    s:crash(A, { silent = true }) -- the host died: silence only
    s:advance(4)
    local found = {}
    for _, l in ipairs(s.logs) do
      if l.msg == "policy saw a transition" and l.fields:find("event=peer_down", 1, true) then
        found[l.fields:match("peer=(%S+)")] = l.fields
      end
    end
    assert.truthy(found[B] and found[B]:find("cause=refused", 1, true))
    assert.is_true(tonumber(found[B]:match("phi=([%d%.]+)")) < 8)
    assert.truthy(found[A] and found[A]:find("cause=phi", 1, true))
    assert.is_true(tonumber(found[A]:match("phi=([%d%.]+)")) > 8)
  end)

  it("runs nothing when VIGIL_ON_DOWN is not set", function()
    local s = sim(nil)
    s:crash(B)
    s:advance(3)
    assert.are.equal(0, #s.execs)
  end)

  it("runs VIGIL_ON_DOWN through sh, with the peer in its environment, on exactly one agent", function()
    local s = sim("drain-it", true)
    s:crash(B)
    s:advance(3)
    assert.are.equal(2, #s:delivered("peer_down", { peer = B })) -- both survivors convicted it
    assert.are.equal(1, #s.execs) -- one of them reacted
    local e = s.execs[1]
    assert.are.equal("/bin/sh", e.file)
    assert.are.same({ "-c", "drain-it" }, e.args)
    assert.are.equal(B, e.env.VIGIL_PEER)
    assert.are.equal("refused", e.env.VIGIL_CAUSE)
    assert.is_true(e.agent == SELF or e.agent == A)
  end)

  it("holds reactions back for a flapping peer", function()
    local s = sim("drain-it", true)
    for _ = 1, 6 do
      s:crash(B)
      s:advance(2)
      s:recover(B) -- its supervisor starts it again
      s:advance(2)
    end
    assert.are.equal(12, #s:delivered("peer_down", { peer = B })) -- 6 bounces, seen by 2 agents
    assert.are.equal(3, #s.execs) -- FLAP_LIMIT reactions, then held back
    assert.logged(s, "flapping; reaction held back", "warn")
  end)

  it("sets the detector: a dead process in ~0.3 s, a dead host in ~2.8 s, a 2 s stall spared", function()
    local function time_to_down(s, peer)
      local t0 = s:now()
      while s:state(peer) ~= "down" and s:now() - t0 < 6 do s:advance(0.02) end
      return s:now() - t0
    end
    local s = sim(nil)
    s:crash(A)
    local took = time_to_down(s, A)
    assert.is_true(took > 0.1 and took < 0.6, "a refusing peer convicted after " .. took .. " s")
    s = sim(nil)
    s:crash(A, { silent = true })
    took = time_to_down(s, A)
    assert.is_true(took > 2.4 and took < 3.1, "a silent peer convicted after " .. took .. " s")
    s = sim(nil)
    for _ = 1, 5 do
      s:crash(A, { silent = true })
      s:advance(2)
      s:recover(A)
      s:advance(3)
    end
    assert.are.equal("normal", s:state(A))
    assert.are.equal(0, #s:delivered("peer_down"))
  end)
end)
