-- The vigil.core binding: detector, pool, handler, events and metrics,
-- driven in virtual time (seconds as doubles).
local core = require("vigil.core")

-- A pool with the local peer and three remote peers; a handler over it.
local function cluster(opts)
  local pool = core.pool({
    dc = "dc1",
    -- a 200 ms pause: a silent 200 ms peer is convicted after ~0.92 s
    detector = opts and opts.detector or { acceptable_pause = 0.2 },
    peers = {
      { pname = "127.0.0.1:7000", is_local = true, rack = "r1" },
      { pname = "127.0.0.1:7001", rack = "r1", tokens = { 100 } },
      { pname = "127.0.0.1:7002", rack = "r2", tokens = { "200" } },
      { pname = "127.0.0.1:7003", dc = "dc2", tokens = { "300000000000000000000" } },
    },
  })
  return pool, core.handler(pool, { interval = 0.1, threshold = opts and opts.threshold })
end

-- Heartbeat `alive` every 0.2 s and evaluate every 0.1 s over [from, to);
-- returns every transition seen, with the time it happened.
local function run(h, from, to, alive)
  local seen = {}
  local steps = math.floor((to - from) / 0.1 + 0.5)
  for i = 0, steps - 1 do
    local t = from + i * 0.1
    if i % 2 == 0 then
      for _, p in ipairs(alive) do h:record_heartbeat(p, t) end
    end
    for _, tr in ipairs(h:evaluate(t)) do
      tr.at = t
      seen[#seen + 1] = tr
    end
  end
  return seen
end

local A, B, C = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"

describe("core.phi", function()
  it("gives Akka's realistic phi values", function()
    assert.is_near(0.3, core.phi(1000, 1000, 100), 0.1)
    assert.is_near(4.7, core.phi(1400, 1000, 100), 0.1)
    assert.is_near(15.3, core.phi(1700, 1000, 100), 0.1)
  end)

  it("rejects a standard deviation that is not positive", function()
    assert.has_error(function() core.phi(1, 1, 0) end,
      "bad argument #3 to 'phi' (standard deviation must be > 0)")
    assert.has_error(function() core.phi("x", 1, 1) end)
  end)
end)

describe("core.detector", function()
  it("is not monitoring and has phi 0 before any heartbeat", function()
    local d = core.detector()
    assert.is_false(d:is_monitoring())
    assert.are.equal(0, d:phi(100))
    assert.is_true(d:is_available(100))
  end)

  it("bootstraps from first_estimate, in seconds", function()
    local d = core.detector({ first_estimate = 1, min_std_dev = 0.1, acceptable_pause = 0 })
    d:heartbeat(10)
    assert.is_true(d:is_monitoring())
    assert.are.equal(2, d:samples())
    assert.is_near(1.0, d:mean(), 1e-9)
    assert.is_near(0.0625, d:variance(), 1e-9) -- (0.25 s)^2
    assert.is_near(0.3, d:phi(11), 0.2)
    assert.is_near(4.5, d:phi(12), 0.3)
    assert.is_true(d:phi(13) > 15)
    assert.is_false(d:is_available(13))
  end)

  it("learns the heartbeat interval and convicts a silent peer", function()
    local d = core.detector({ acceptable_pause = 0.2 })
    for i = 1, 100 do d:heartbeat(i * 0.2) end
    assert.is_near(0.2, d:mean(), 0.001)
    assert.is_true(d:phi(20 + 0.6) < 8)
    assert.is_true(d:phi(20 + 0.95) >= 8)
    -- the defaults (the agent's): a 2 s stall passes, ~2.8 s of silence does not
    local def = core.detector()
    for i = 1, 100 do def:heartbeat(i * 0.2) end
    assert.is_true(def:phi(20 + 2.2) < 8)
    assert.is_true(def:phi(20 + 2.8) >= 8)
    d:reset()
    assert.is_false(d:is_monitoring())
    assert.are.equal(0, d:phi(30))
  end)

  it("supports the exponential model", function()
    local d = core.detector({ model = "exponential", min_mean = 0, max_samples = 4 })
    for i = 1, 5 do d:heartbeat(0.111 * i) end
    assert.is_near(1.0, d:phi(0.666) * math.log(10), 0.01)
    assert.is_near(22.03, d:phi(3.0) * math.log(10), 0.01)
  end)

  it("names the bad option and why", function()
    assert.has_error(function() core.detector({ threshold = "high" }) end,
      "bad argument #1 to 'detector' (option 'threshold': number expected, got string)")
    assert.has_error(function() core.detector({ threshold = -1 }) end,
      "bad argument #1 to 'detector' (threshold must be a finite number > 0)")
    assert.has_error(function() core.detector({ model = "weibull" }) end,
      "bad argument #1 to 'detector' (option 'model' must be \"normal\" or \"exponential\", got \"weibull\")")
    assert.has_error(function() core.detector({ treshold = 8 }) end,
      "bad argument #1 to 'detector' (unknown option 'treshold')")
    assert.has_error(function() core.detector({ max_samples = 1.5 }) end,
      "bad argument #1 to 'detector' (option 'max_samples' must be an integer from 1 to 65536)")
    assert.has_error(function() core.detector({ min_std_dev = -0.1 }) end,
      "bad argument #1 to 'detector' (option 'min_std_dev' must be a finite number of seconds >= 0)")
  end)

  it("rejects times that are not finite non-negative seconds", function()
    local d = core.detector()
    assert.has_error(function() d:heartbeat(-1) end,
      "bad argument #1 to 'heartbeat' (time must be a finite number of seconds >= 0)")
    assert.has_error(function() d:phi(0 / 0) end)
    assert.has_error(function() d:phi(math.huge) end)
    assert.has_error(function() d:heartbeat() end)
  end)
end)

describe("core.pool", function()
  it("holds the configured peers with their placement and tokens", function()
    local pool = cluster()
    assert.are.equal(4, pool:count())
    local me = pool:peer("127.0.0.1:7000")
    assert.is_true(me.is_local)
    assert.are.equal("joining", me.state)
    local c = pool:peer(C)
    assert.are.equal("down", c.state)
    assert.are.equal("dc2", c.dc)
    assert.are.equal("default", c.rack)
    assert.is_false(c.is_same_dc)
    assert.are.equal("127.0.0.1", c.host)
    assert.are.equal(7003, c.port)
    assert.are.same({ "300000000000000000000" }, c.tokens)
    assert.are.equal(8, c.threshold)
    assert.are.equal(c.pname, pool:peer(c.idx).pname)
    assert.is_nil(pool:peer("127.0.0.9:1"))
  end)

  it("adds and removes peers at run time, a re-added peer starting fresh", function()
    local pool, h = cluster()
    run(h, 0, 2, { A })
    assert.are.equal("normal", h:state(A))
    assert.is_true(pool:remove(A))
    assert.is_false(pool:remove(A))
    assert.is_nil(pool:peer(A))
    pool:add({ pname = A }, 2)
    assert.are.equal("down", h:state(A))
    assert.are.equal(0, pool:peer(A).heartbeats)
    assert.are.equal(0, h:phi(A, 100))
  end)

  it("answers which peer owns a token, wrapping around", function()
    local pool, h = cluster()
    assert.are.equal(A, pool:owner(0))
    assert.are.equal(A, pool:owner("100"))
    assert.are.equal(B, pool:owner(101))
    assert.are.equal(C, pool:owner("4294967296"))
    assert.are.equal(A, pool:owner("300000000000000000001"))
    assert.is_nil(pool:owner(5, "normal"))
    h:record_heartbeat(B, 1)
    assert.are.equal(B, pool:owner(5, "normal"))
  end)

  it("rejects bad peers and tokens with a message that says why", function()
    local pool = cluster()
    assert.has_error(function() pool:add({ pname = "no-port" }) end,
      "bad argument #1 to 'add' (peer 'no-port' is not a valid \"host:port\", or is a second local peer)")
    assert.has_error(function() pool:add({ pname = A }) end,
      "bad argument #1 to 'add' (peer '127.0.0.1:7001' is already in the pool)")
    assert.has_error(function() pool:add({ pname = "127.0.0.1:1", colour = "red" }) end,
      "bad argument #1 to 'add' (unknown peer field 'colour')")
    assert.has_error(function() pool:add({ pname = "127.0.0.1:1", tokens = { "12x" } }) end,
      "bad argument #1 to 'add' (token '12x' is not a decimal number)")
    assert.has_error(function() pool:add({ pname = "127.0.0.1:1", tokens = { string.rep("9", 40) } }) end)
    assert.has_error(function() pool:add({ pname = "127.0.0.1:1", tokens = { -1 } }) end)
    assert.has_error(function() core.pool({ peers = { { pname = "127.0.0.1:1" }, { pname = "127.0.0.1:1" } } }) end,
      "bad argument #1 to 'pool' (peer '127.0.0.1:1' is already in the pool)")
    assert.has_error(function() core.pool({ detector = { threshold = 0 } }) end,
      "bad argument #1 to 'pool' (threshold must be a finite number > 0)")
  end)
end)

describe("core.handler", function()
  it("reads and sets its threshold", function()
    local _, h = cluster()
    assert.are.equal(8, h:threshold())
    h:set_threshold(10)
    assert.are.equal(10, h:threshold())
    assert.has_error(function() h:set_threshold(0) end,
      "bad argument #1 to 'set_threshold' (threshold must be a finite number > 0)")
    assert.are.equal(10, h:threshold())
    local _, h2 = cluster({ threshold = 12 })
    assert.are.equal(12, h2:threshold())
    assert.has_error(function() core.handler(core.pool(), { threshold = -2 }) end)
    assert.has_error(function() core.handler(core.pool(), { intervall = 1 }) end,
      "bad argument #2 to 'handler' (unknown option 'intervall')")
  end)

  it("promotes a peer on its first heartbeat and ignores unknown and local peers", function()
    local _, h = cluster()
    assert.are.equal("down", h:state(A))
    assert.is_true(h:record_heartbeat(A, 1.0))
    assert.are.equal("normal", h:state(A))
    assert.is_false(h:record_heartbeat(A, 1.2))
    local ok, err = h:record_heartbeat("127.0.0.9:1", 1.2)
    assert.is_nil(ok)
    assert.are.equal("unknown peer", err)
    ok, err = h:record_heartbeat("127.0.0.1:7000", 1.2)
    assert.is_nil(ok)
    assert.are.equal("local peer", err)
    assert.are.equal("joining", h:state("127.0.0.1:7000"))
  end)

  it("convicts a silent peer within a second and keeps the others normal", function()
    local _, h = cluster()
    local ups = run(h, 0, 5, { A, B, C })
    assert.are.equal(0, #ups) -- promotions happen on heartbeats, not in evaluate
    local seen = run(h, 5, 10, { A, B })
    assert.are.equal(1, #seen)
    assert.are.equal(C, seen[1].pname)
    assert.are.equal("down", seen[1].state)
    assert.are.equal("normal", seen[1].previous)
    assert.is_true(seen[1].phi > 8)
    -- C's last heartbeat was at 4.8 s; the default detector needs ~0.92 s.
    assert.is_true(seen[1].at >= 4.8 + 0.9 - 1e-9 and seen[1].at <= 4.8 + 1.0 + 1e-9)
    assert.are.equal("normal", h:state(A))
    assert.are.equal("normal", h:state(B))
  end)

  it("marks a peer down at once and keeps it down until it is heard again", function()
    local _, h = cluster()
    run(h, 0, 2, { A, B, C })
    assert.is_true(h:mark_down(B, 2))
    assert.are.equal("down", h:state(B))
    assert.are.equal(0, #h:evaluate(2.1))
    assert.are.equal("down", h:state(B))
    assert.is_true(h:record_heartbeat(B, 2.2))
    local ok, err = h:mark_down("127.0.0.9:9")
    assert.is_nil(ok)
    assert.are.equal("unknown peer", err)
  end)

  it("convicts a peer whose port refuses once it is overdue, and says so", function()
    local _, h = cluster()
    local sub = h:subscribe()
    run(h, 0, 3, { A, B, C }) -- C's last heartbeat: 2.8 s
    sub:poll()
    -- Refused before it is overdue (mean 0.2 + sd 0.1 s): only remembered,
    -- and evaluate is due when it will be.
    assert.is_false(h:refused(C, 2.9))
    assert.are.equal("normal", h:state(C))
    local due = h:next_due(2.9)
    assert.is_near(2.8 + 0.3, due, 0.01)
    assert.are.equal(0, #h:evaluate(due - 0.01))
    local seen = h:evaluate(due)
    assert.are.equal(1, #seen)
    local ev = sub:poll()
    assert.are.equal("peer_down", ev[1].type)
    assert.are.equal("refused", ev[1].cause)
    assert.is_true(ev[1].phi < 8)
    -- It stays down while silent, and a heartbeat brings it back.
    assert.are.equal(0, #h:evaluate(3.5))
    assert.is_true(h:record_heartbeat(C, 3.6))
    assert.are.equal("heartbeat", sub:poll()[1].cause)
    -- Refusals about a peer that heartbeats on time change nothing; with
    -- refused off they never convict.
    assert.is_false(h:refused(A, 3.6))
    h:configure({ refused = false })
    run(h, 3.6, 4.0, { A, B }) -- C overdue from ~3.9 s
    assert.is_false(h:refused(C, 4.0))
    assert.are.equal(0, #h:evaluate(4.0))
    assert.are.equal("normal", h:state(C))
    assert.is_nil(h:refused("127.9.9.9:1", 4.0))
    assert.is_true(h:next_due(4.0) > 4.0)
  end)

  it("does not convict anybody after this process was paused", function()
    local _, h = cluster()
    run(h, 0, 5, { A, B, C })
    assert.are.same({}, h:evaluate(15)) -- 10 s without a tick
    assert.is_true(h:phi(A, 15) < 1)
    local seen = run(h, 15.1, 20, { A, B })
    assert.are.equal(1, #seen)
    assert.are.equal(C, seen[1].pname)
  end)

  it("publishes every transition, in order, to each subscriber", function()
    local _, h = cluster()
    local sub1, sub2 = h:subscribe(), h:subscribe()
    run(h, 0, 1, { A, B, C })
    run(h, 1, 3, { A, B })
    local ev = sub1:poll()
    assert.are.equal(4, #ev)
    assert.are.same({ "peer_up", "peer_up", "peer_up", "peer_down" },
      { ev[1].type, ev[2].type, ev[3].type, ev[4].type })
    assert.are.same({ A, B, C, C }, { ev[1].peer, ev[2].peer, ev[3].peer, ev[4].peer })
    assert.are.equal("dc2", ev[4].dc)
    assert.are.equal("default", ev[4].rack)
    assert.are.equal("down", ev[4].state)
    assert.are.equal("normal", ev[4].previous)
    assert.is_true(ev[4].phi > 8)
    assert.is_true(ev[1].phi >= 0 and ev[1].phi < 1) -- up events carry the phi that promoted the peer
    assert.is_near(0, ev[1].at, 1e-9)
    assert.are.same({}, sub1:poll())
    assert.are.equal(4, #sub2:poll())
  end)

  it("tells a subscriber that fell behind how many events it lost", function()
    local pool = core.pool()
    local h = core.handler(pool, { events = 4 })
    local sub = h:subscribe()
    for i = 1, 10 do
      h:add_peer({ pname = "127.0.0." .. i .. ":7000" }, i)
    end
    local ev = sub:poll()
    assert.are.equal(5, #ev)
    assert.are.equal("lagged", ev[1].type)
    assert.are.equal(6, ev[1].missed)
    assert.are.equal("peer_joined", ev[2].type)
    assert.are.equal("127.0.0.7:7000", ev[2].peer)
    assert.are.equal(6, sub:lagged())
  end)

  it("reports membership changes as events", function()
    local _, h = cluster()
    local sub = h:subscribe()
    h:add_peer({ pname = "127.0.0.1:7004", dc = "dc3" }, 1)
    h:record_heartbeat("127.0.0.1:7004", 1.5)
    h:peer_restarted("127.0.0.1:7004", 2)
    h:peer_left("127.0.0.1:7004", 3)
    h:gossip_round(0.002, 3, 3.1)
    local types = {}
    for _, e in ipairs(sub:poll()) do types[#types + 1] = e.type end
    assert.are.same({ "peer_joined", "peer_up", "peer_restarted", "peer_down", "peer_left", "gossip_round" }, types)
    assert.is_true(h:remove_peer("127.0.0.1:7004"))
    assert.is_nil(h:state("127.0.0.1:7004"))
  end)

  it("exposes a peer snapshot with its phi", function()
    local _, h = cluster()
    run(h, 0, 3, { A })
    local p = h:peer(A, 3.5)
    assert.are.equal("normal", p.state)
    assert.are.equal(15, p.heartbeats)
    assert.is_true(p.phi > 0 and p.phi < 8)
    assert.are.equal(h:phi(A, 3.5), p.phi)
    assert.is_true(h:reset_detector(A))
    assert.are.equal(0, h:phi(A, 3.5))
  end)
end)

describe("metrics", function()
  local function scrape()
    local _, h = cluster()
    run(h, 0, 2, { A, B, C })
    run(h, 2, 4, { A, B })
    h:record_heartbeat("127.0.0.9:1", 4)
    h:gossip_round(0.001, 2, 4)
    return h:metrics(4)
  end

  it("renders failure metrics in the Prometheus text format", function()
    local text = scrape()
    local function has(sample) return text:find(sample .. "\n", 1, true) ~= nil end
    assert.is_true(has('vigil_peer_state_transitions_total{peer="127.0.0.1:7003",from="normal",to="down"} 1'))
    assert.is_true(has('vigil_peer_state{peer="127.0.0.1:7003",dc="dc2",rack="default",state="down"} 1'))
    assert.is_true(has('vigil_peer_state{peer="127.0.0.1:7003",dc="dc2",rack="default",state="normal"} 0'))
    local phi = text:match('vigil_peer_phi{peer="127.0.0.1:7003",dc="dc2",rack="default"} ([%d%.e+]+)\n')
    assert.is_not_nil(phi)
    assert.is_true(tonumber(phi) > 8 and tonumber(phi) < 1000) -- a float, not milli-units
    assert.truthy(text:find('vigil_heartbeats_ignored_total{reason="unknown_peer"} 1\n', 1, true))
  end)

  it("is accepted by promtool check metrics", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(scrape())
    f:close()
    local p = assert(io.popen("promtool check metrics < " .. path .. " 2>&1; echo \"rc=$?\""))
    local out = p:read("*a")
    p:close()
    os.remove(path)
    assert.are.equal("rc=0\n", out)
  end)
end)
