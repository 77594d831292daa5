-- The default policy, agent.lua, in virtual time.
local ffi = require("ffi")
local testing = require("vigil.testing")

ffi.cdef([[
  int setenv(const char *name, const char *value, int overwrite);
  int unsetenv(const char *name);
]])

local SELF, A, B = "10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946"

local function sim(on_down, self)
  if on_down then ffi.C.setenv("VIGIL_ON_DOWN", on_down, 1) else ffi.C.unsetenv("VIGIL_ON_DOWN") end
  local peers = {}
  for _, p in ipairs({ SELF, A, B }) do
    if p ~= (self or SELF) then peers[#peers + 1] = p end
  end
  local s = testing.cluster({ self = self or SELF, peers = peers, interval = 0.2 })
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
    local ran = 0
    for _, self in ipairs({ SELF, A }) do
      local s = sim("drain-it", self)
      s:crash(B)
      s:advance(3)
      for _, e in ipairs(s.execs) do
        assert.are.equal("/bin/sh", e.file)
        assert.are.same({ "-c", "drain-it" }, e.args)
        assert.are.equal(B, e.env.VIGIL_PEER)
        assert.are.equal("refused", e.env.VIGIL_CAUSE)
        ran = ran + 1
      end
    end
    assert.are.equal(1, ran)
  end)

  it("holds reactions back for a flapping peer", function()
    local runs = 0
    for _, self in ipairs({ SELF, A }) do
      local s = sim("drain-it", self)
      for _ = 1, 6 do
        s:crash(B)
        s:advance(2)
        s:recover(B)
        s:advance(2)
      end
      runs = runs + #s.execs
      if #s.execs > 0 then assert.logged(s, "flapping; reaction held back", "warn") end
    end
    assert.are.equal(3, runs) -- FLAP_LIMIT reactions, then held back
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
