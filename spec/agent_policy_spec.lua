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
  it("logs every transition with its phi", function()
    local s = sim(nil)
    s:crash(B)
    s:advance(3)
    local found
    for _, l in ipairs(s.logs) do
      if l.msg == "policy saw a transition" and l.fields:find("event=peer_down", 1, true) then found = l.fields end
    end
    assert.truthy(found)
    local phi = tonumber(found:match("phi=([%d%.]+)"))
    assert.is_true(phi > 8)
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

  it("sets the detector for 200 ms heartbeats", function()
    local s = sim(nil)
    local t0 = s:now()
    s:crash(A)
    while s:state(A) ~= "down" and s:now() - t0 < 5 do s:advance(0.05) end
    local took = s:now() - t0
    assert.is_true(took > 0.7 and took < 1.3, "convicted after " .. took .. " s")
  end)
end)
