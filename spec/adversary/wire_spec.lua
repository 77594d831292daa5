-- A stranger on the network (issue 12, items 1, 2, 3 and 5), against real
-- agents on loopback: it may forge any datagram from any address it can
-- bind, replay what it captured, and flood. Each attack is what the issue
-- tried; each ends by itself (bounded sends, bounded waits).
local agents = require("helpers.agents")
local wire = require("helpers.wire")

local U64_MAX = 0xffffffffffffffffULL

-- Every sample of a family summed (vigil_members{state=...}).
local function family_sum(a, name)
  local text = agents.get(a, "/metrics") or ""
  local sum = 0
  for line in text:gmatch("[^\n]+") do
    if line:find(name .. "{", 1, true) == 1 or line:find(name .. " ", 1, true) == 1 then
      sum = sum + (tonumber(line:match(" ([%d%.e+-]+)$")) or 0)
    end
  end
  return sum
end

local function metric(a, sample) return agents.metric(a, sample) or 0 end

-- A loopback address nobody uses: the attacker's, or a third party's.
local function spare(host)
  local port = agents.ports()
  return (host or "127.0.0.1") .. ":" .. port
end

local function cluster(opts)
  opts = opts or {}
  local a = agents.start({ keyring = opts.keyring, args = opts.args })
  local b = agents.start({ keyring = opts.keyring, args = opts.args, seeds = { a } })
  local c = agents.start({ keyring = opts.keyring, args = opts.args, seeds = { a } })
  agents.wait(function() return agents.all_normal({ a, b, c }) end, 10, "three agents to see each other up")
  return a, b, c
end

-- c stays up at a and b for `seconds`, and neither logged it down or gone.
local function stays_up(a, b, c, seconds)
  local deadline = os.time() + seconds
  repeat
    assert.are.equal("normal", agents.state(a, c))
    assert.are.equal("normal", agents.state(b, c))
    agents.sleep(0.3)
  until os.time() >= deadline
  for _, x in ipairs({ a, b }) do
    local log = agents.lines(x.log)
    for _, l in ipairs(log) do
      if l:find(c.pname, 1, true) then
        assert.is_nil(l:find('msg="peer down"', 1, true), l)
        assert.is_nil(l:find('msg="peer left"', 1, true), l)
      end
    end
  end
end

describe("a stranger on the wire", function()
  local socks = {}
  local function sock(pname)
    local s = wire.socket(pname)
    socks[#socks + 1] = s
    return s
  end
  after_each(function()
    for _, s in ipairs(socks) do s:close() end
    socks = {}
    agents.stop_all()
  end)

  it("cannot end a live peer with a shutdown from another address", function()
    local a, b, c = cluster()
    local gen = agents.health(c).generation
    assert.is_true(gen > 1e12, "c's generation is its start time in ms")
    local s = sock(spare())
    for _, g in ipairs({ U64_MAX, gen, gen + 1 }) do
      local f = wire.frame({ type = wire.SHUTDOWN, from = c.pname, generation = g, version = 1e9 })
      assert.is_true(s:send(a.pname, f))
      assert.is_true(s:send(b.pname, f))
    end
    stays_up(a, b, c, 2)
    assert.is_true(metric(a, 'vigil_frames_rejected_total{reason="source"}') >= 3)
    assert.is_true(metric(b, 'vigil_frames_rejected_total{reason="source"}') >= 3)
    assert.are.equal(1, agents.count(agents.lines(a.log), 'msg="frame names another sender than its source address"'))
  end)

  it("cannot silence a live peer with a relayed generation, far or near", function()
    local a, b, c = cluster()
    local s = sock(spare())
    local now = wire.now_ms()
    -- From its own address, a frame that looks like any member's, whose
    -- digest says c restarted: with 2^64-1 (from the future), and with a
    -- generation within the skew allowed (plausible, but a and b hear c).
    for i = 1, 20 do
      local f = wire.frame({ from = s.pname, generation = now, version = i, sent = wire.now_ms(),
        digest = { { c.pname, U64_MAX, 0 }, { c.pname, now + 5000, 0 } } })
      s:send(a.pname, f)
      s:send(b.pname, f)
      agents.sleep(0.1)
    end
    stays_up(a, b, c, 3)
    assert.is_true(metric(a, 'vigil_frames_ignored_total{reason="generation"}') >= 1)
    assert.is_true(metric(a, 'vigil_frames_ignored_total{reason="heard_directly"}') >= 1)
  end)

  it("cannot reach past the bounds on peers: a rate per source and a maximum", function()
    local a = agents.start({ args = "--max-peers 300" })
    local s = sock(spare())
    local now = wire.now_ms()
    -- 100,000 names in 6,250 frames of 16 entries, as fast as the socket goes.
    local names, frames = 0, 0
    for f = 0, 6249 do
      local digest = {}
      for k = 0, 15 do
        local n = f * 16 + k
        digest[#digest + 1] = { string.format("127.%d.%d.%d:%d", 1 + n % 200, math.floor(n / 200) % 250,
          1 + math.floor(n / 50000), 7000 + n % 7), now, 0 }
      end
      if s:send(a.pname, wire.frame({ from = s.pname, generation = now, version = f + 1, sent = now,
        digest = digest })) then
        frames = frames + 1
        names = names + 16
      end
    end
    assert.is_true(frames > 5000, "the flood went out")
    agents.wait(function() return metric(a, 'vigil_frames_ignored_total{reason="full"}') > 0 end, 10,
      "the pool to fill and refuse")
    local peers = family_sum(a, "vigil_members")
    assert.is_true(peers <= 300, "at most --max-peers: " .. peers)
    assert.is_true(metric(a, 'vigil_frames_ignored_total{reason="join_rate"}') > 0, "the source's rate was reached")
    -- the agent stays small and answers
    local rss = agents.rss_kib(a)
    assert.is_true(rss < 64 * 1024, "RSS " .. rss .. " KiB")
    assert.truthy(agents.health(a))
  end)

  it("is not an amplifier: a third party named in forged frames gets fewer bytes than the attacker sent", function()
    local a, b, c = cluster()
    local victim = sock(spare("127.0.0.77"))
    local s = sock(spare())
    local now = wire.now_ms()
    for i = 1, 100 do
      -- as the third party itself (rejected: wrong source) ...
      local f = wire.frame({ from = victim.pname, generation = now, version = i, sent = now })
      s:send(({ a, b, c })[i % 3 + 1].pname, f)
      -- ... and as news about it, from the attacker's own address
      f = wire.frame({ from = s.pname, generation = now, version = i, sent = now,
        digest = { { victim.pname, now + i, 0 } } })
      s:send(({ a, b, c })[i % 3 + 1].pname, f)
    end
    local got, bytes = victim:collect(12)
    assert.is_true(bytes <= s.sent_bytes,
      string.format("the third party got %d bytes in %d datagrams; the attacker sent %d bytes", bytes, got,
        s.sent_bytes))
    assert.is_true(got > 0, "the third party was probed (it could be a new member)")
    local probes = metric(a, "vigil_probes_total") + metric(b, "vigil_probes_total") + metric(c, "vigil_probes_total")
    assert.is_true(probes > 0, "the third party was probed, not sent gossip")
  end)

  it("cannot replay a captured signed frame of a reaped peer, from its own address", function()
    local b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    local kr = agents.tmpfile(b64 .. "\n")
    local args = "--reap 3s --max-clock-skew 1s"
    local a = agents.start({ keyring = kr, args = args })
    local b = agents.start({ keyring = kr, args = args, seeds = { a } })
    -- c's seeds: a, and an address we hold: c sends it its signed heartbeats.
    local tap = sock(spare())
    local c = agents.start({ keyring = kr, args = args .. " --seeds " .. a.pname .. "," .. tap.pname })
    agents.wait(function() return agents.all_normal({ a, b, c }) end, 10, "three agents up")
    local captured
    agents.wait(function()
      captured = tap:drain()[1]
      return captured ~= nil
    end, 5, "a frame of c's at the tap")
    agents.signal(c, "KILL")
    agents.wait(function() return agents.members(a)[c.pname] == nil end, 15, "a to reap c")
    -- Now the replay, from c's own address (its port is free again).
    local from_c = sock(c.pname)
    local rejected = metric(a, 'vigil_frames_rejected_total{reason="skew"}')
    from_c:send(a.pname, captured)
    agents.wait(function() return metric(a, 'vigil_frames_rejected_total{reason="skew"}') > rejected end, 5,
      "a to reject the replay as too old")
    -- A signed frame without a send time is refused too ...
    local key = wire.key(b64)
    local now = wire.now_ms()
    from_c:send(a.pname, wire.frame({ from = c.pname, generation = now, version = 1 }, key))
    agents.wait(function() return metric(a, 'vigil_frames_rejected_total{reason="skew"}') > rejected + 1 end, 5,
      "a to reject a signed frame without a send time")
    agents.sleep(1)
    assert.is_nil(agents.members(a)[c.pname], "the replays brought nothing back")
    -- ... and a fresh one, signed and stamped, is what a restart looks like:
    -- the same encoder, the same address, accepted (the test can tell).
    from_c:send(a.pname, wire.frame({ from = c.pname, generation = wire.now_ms(), version = 1,
      sent = wire.now_ms() }, key))
    agents.wait(function() return agents.members(a)[c.pname] ~= nil end, 5, "a fresh signed frame to count")
    os.remove(kr)
  end)
end)
