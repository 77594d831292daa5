-- Multi-process specs: real `vigil agent` processes gossiping over
-- loopback UDP. Each test is bounded in time and kills what it started.
local agents = require("helpers.agents")

local all_normal = agents.all_normal

-- Stop an agent for `seconds` (SIGSTOP, then SIGCONT), then wait `after`.
local function stall(a, seconds, after)
  agents.signal(a, "STOP")
  agents.sleep(seconds)
  agents.signal(a, "CONT")
  agents.sleep(after)
end

local function cluster(n, opts)
  local first = agents.start(opts)
  local list = { first }
  for _ = 2, n do
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.seeds = { first }
    list[#list + 1] = agents.start(o)
  end
  return list
end

describe("vigil agent", function()
  after_each(function() agents.stop_all() end)

  it("converges: three agents all see each other normal", function()
    local c = cluster(3)
    agents.wait(function() return all_normal(c) end, 10, "three agents to converge")
    -- 2 and 3 only had 1 as a seed: they met through 1's digests.
    assert.are.equal("normal", agents.state(c[2], c[3]))
    local h = agents.health(c[1])
    assert.are.equal("ok", h.status)
    assert.are.equal(2, h.peers.normal)
  end)

  it("sees a killed agent as down on both others", function()
    local c = cluster(3)
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    -- c[2] is the first peer c[1] sends to: the ICMP error of that datagram
    -- is pending when c[1] sends to c[3] (the kernel reports it there).
    agents.signal(c[2], "KILL")
    agents.wait(function()
      return agents.state(c[1], c[2]) == "down" and agents.state(c[3], c[2]) == "down"
    end, 5, "both survivors to convict the killed agent")
    assert.are.equal("normal", agents.state(c[1], c[3]))
    -- Its port is closed now: loopback answers "port unreachable", which
    -- convicts it as soon as it misses a heartbeat, not after phi's 2.8 s.
    local line = agents.log(c[1]):match('[^\n]*msg="peer down" peer=' .. c[2].pname .. '[^\n]*')
    assert.truthy(line and line:find("cause=refused", 1, true), line)
    assert.is_true(agents.metric(c[1], 'vigil_icmp_errors_total{kind="refused_peer"}') >= 1)
    assert.are.equal(1, agents.metric(c[1], 'vigil_convictions_total{cause="refused"}'))
    assert.are.equal(0, agents.metric(c[1], 'vigil_convictions_total{cause="phi"}'))
    -- Every heartbeat to the dead port brings an ICMP error back; each must
    -- be read off the socket's error queue, or epoll wakes the agent in a
    -- loop. Not a timing: a loop would burn the whole second, an agent
    -- that drains them uses a few milliseconds.
    for _, a in ipairs({ c[1], c[3] }) do
      local before, icmp = agents.cpu_seconds(a), agents.metric(a, 'vigil_icmp_errors_total{kind="refused_peer"}')
      agents.sleep(1)
      assert.is_true(agents.cpu_seconds(a) - before < 0.5, "the agent spins on the ICMP errors")
      assert.is_true(agents.metric(a, 'vigil_icmp_errors_total{kind="refused_peer"}') > icmp)
      assert.are.equal("normal", agents.state(a, a == c[1] and c[3] or c[1]))
    end
  end)

  it("sees a killed agent's port refuse over IPv6 too", function()
    if not agents.has_ipv6_loopback() then
      pending("no IPv6 loopback on this machine")
      return
    end
    local c = cluster(3, { host = "[::1]" })
    agents.wait(function() return all_normal(c) end, 10, "convergence over ::1")
    agents.signal(c[3], "KILL")
    agents.wait(function() return agents.state(c[1], c[3]) == "down" end, 5, "conviction over ::1")
    local line = agents.log(c[1]):match('[^\n]*msg="peer down" peer=%[::1%]:' .. c[3].port .. '[^\n]*')
    assert.truthy(line and line:find("cause=refused", 1, true), line)
    assert.is_true(agents.metric(c[1], 'vigil_icmp_errors_total{kind="refused_peer"}') >= 1)
  end)

  it("counts refusals from a seed that is not up yet, and keeps trying it", function()
    local seed_port = agents.ports()
    local a = agents.start({ args = "--seeds 127.0.0.1:" .. seed_port })
    agents.wait(function() return agents.metric(a, 'vigil_icmp_errors_total{kind="refused_unknown"}') >= 2 end, 5,
      "refusals from the absent seed")
    assert.are.equal(0, agents.metric(a, 'vigil_icmp_errors_total{kind="refused_peer"}'))
    -- The seed comes up on that port: it is found, and nothing was convicted.
    local b = agents.start({ port = seed_port, http = seed_port + 1 })
    agents.wait(function() return agents.state(a, b) == "normal" end, 5, "the seed to be found")
    assert.falsy(agents.log(a):find('msg="peer down"', 1, true))
  end)

  it("spares an agent stalled for 1.5 s (SIGSTOP): a stall is not a death", function()
    local c = cluster(3)
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    stall(c[3], 1.5, 1.5)
    assert.are.equal("normal", agents.state(c[1], c[3]))
    assert.are.equal("normal", agents.state(c[2], c[3]))
    assert.falsy(agents.log(c[1]):find('msg="peer down"', 1, true), "a stalled agent was convicted")
    assert.are.equal(0, agents.metric(c[1], 'vigil_icmp_errors_total{kind="refused_peer"}'))
  end)

  it("sees a restarted agent come back as restarted and up", function()
    local c = cluster(3)
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    agents.signal(c[3], "KILL")
    agents.wait(function() return agents.state(c[1], c[3]) == "down" end, 5, "conviction")
    local again = agents.start({ port = c[3].port, http = c[3].http, seeds = { c[1] } })
    agents.wait(function()
      return agents.state(c[1], again) == "normal" and agents.state(c[2], again) == "normal"
    end, 5, "the restarted agent to be up again")
    local log = agents.log(c[1])
    local restarted = log:find('msg="peer restarted" peer=' .. again.pname, 1, true)
    assert.truthy(restarted, "peer restarted logged")
    assert.truthy(log:find('msg="peer up" peer=' .. again.pname, restarted, true), "peer up after restarted")
    assert.is_true(agents.metric(c[1], 'vigil_members_changes_total{kind="restarted"}') >= 1)
  end)

  it("sees SIGTERM as the agent leaving, within a tick", function()
    local c = cluster(3)
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    agents.signal(c[2], "TERM")
    -- No waiting for phi: the shutdown frame marks it down at once. One
    -- poll of `vigil members` takes a few ms; phi alone would need ~2.8 s.
    assert.are.equal("down", agents.state(c[1], c[2]))
    assert.are.equal("down", agents.state(c[3], c[2]))
    assert.truthy(agents.log(c[1]):find('msg="peer left" peer=' .. c[2].pname, 1, true))
    assert.truthy(agents.log(c[2]):find('msg="told peers we are leaving" frames=2', 1, true))
    assert.are.equal(1, agents.metric(c[1], 'vigil_members_changes_total{kind="left"}'))
  end)

  it("convicts nobody after being stopped for 10 s (SIGSTOP, SIGCONT)", function()
    local c = cluster(3)
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    stall(c[1], 10, 2)
    assert.are.equal("normal", agents.state(c[1], c[2]))
    assert.are.equal("normal", agents.state(c[1], c[3]))
    assert.falsy(agents.log(c[1]):find('msg="peer down"', 1, true), "the stopped agent convicted a live peer")
    assert.is_true(agents.metric(c[1], "vigil_local_pauses_total") >= 1)
    -- The others did see it go (it was silent 10 s: phi, no refusal, its
    -- port stayed open) and come back.
    local line = agents.log(c[2]):match('[^\n]*msg="peer down" peer=' .. c[1].pname .. '[^\n]*')
    assert.truthy(line and line:find("cause=phi", 1, true), line)
    assert.are.equal("normal", agents.state(c[2], c[1]))
  end)

  it("rejects an agent with the wrong key, and counts its frames", function()
    local k1, k2 = os.tmpname(), os.tmpname()
    local f = io.open(k1, "w")
    f:write("# test key\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
    f:close()
    f = io.open(k2, "w")
    f:write("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n")
    f:close()
    local c = cluster(2, { keyring = k1 })
    local intruder = agents.start({ keyring = k2, seeds = { c[1] } })
    agents.wait(function() return all_normal(c) end, 5, "the keyed agents to converge")
    agents.wait(function()
      return (agents.metric(c[1], 'vigil_frames_rejected_total{reason="auth"}') or 0) >= 5
    end, 5, "the intruder's frames to be rejected")
    assert.is_nil(agents.members(c[1])[intruder.pname])
    assert.is_nil(agents.members(c[2])[intruder.pname])
    assert.is_true(agents.health(c[1]).authenticated)
    os.remove(k1)
    os.remove(k2)
  end)

  it("survives a burst of random, truncated and oversized datagrams", function()
    local c = cluster(2)
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    local before = agents.metric(c[1], 'vigil_frames_received_total{type="heartbeat"}')
    -- 3000 datagrams: random bytes, truncated copies of a valid frame, and
    -- oversized ones (1401..4000 bytes). Deterministic, so failures replay.
    local seed = 12345
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    end
    local valid = string.char(0x92, 0x02, 0xc4, 0x14, 0x84, 0x01, 0x01, 0x02, 0xab) .. "127.0.0.1:1"
      .. string.char(0x03, 0x01, 0x04, 0x01)
    local list = {}
    for i = 1, 3000 do
      local kind, bytes = i % 3, {}
      if kind == 0 then
        for k = 1, 1 + rand(200) do bytes[k] = string.char(rand(256)) end
        list[i] = table.concat(bytes)
      elseif kind == 1 then
        list[i] = valid:sub(1, 1 + rand(#valid - 1))
      else
        list[i] = string.rep(string.char(rand(256)), 1401 + rand(2600))
      end
    end
    -- Sent in batches of 25 a few ms apart, so the kernel's receive buffer
    -- (not the agent) is not what drops them; any datagram the kernel did
    -- drop anyway shows in /proc/net/snmp and is allowed for.
    local drops = agents.udp_drops()
    assert.are.equal(3000, agents.send_datagrams(c[1], list, 25))
    local function rejected()
      local total = 0
      for _, r in ipairs({ "too_big", "truncated", "malformed", "version", "value", "trailing", "missing", "count",
        "length", "depth", "duplicate" }) do
        total = total + (agents.metric(c[1], 'vigil_frames_rejected_total{reason="' .. r .. '"}') or 0)
      end
      return total
    end
    agents.wait(function() return rejected() >= 3000 - (agents.udp_drops() - drops) end, 5,
      "every delivered datagram to be counted as rejected")
    assert.is_true(rejected() <= 3000)
    local too_big = agents.metric(c[1], 'vigil_frames_rejected_total{reason="too_big"}') or 0
    assert.is_true(too_big >= 1000 - (agents.udp_drops() - drops))
    assert.is_true(agents.running(c[1]))
    agents.sleep(0.5)
    assert.is_true(all_normal(c))
    assert.is_true(agents.metric(c[1], 'vigil_frames_received_total{type="heartbeat"}') > before)
    -- The valid frame's "127.0.0.1:1" never became a member: truncated copies are rejected.
    assert.is_nil(agents.members(c[1])["127.0.0.1:1"])
  end)

  it("answers bad HTTP with a 4xx and keeps serving", function()
    local a = agents.start()
    assert.truthy(agents.raw_http(a, "GARBAGE\r\n\r\n"):find("^HTTP/1.1 400"))
    assert.truthy(agents.raw_http(a, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
      :find("^HTTP/1.1 405"))
    assert.truthy(agents.raw_http(a, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"):find("^HTTP/1.1 404"))
    assert.truthy(agents.raw_http(a, "GET /" .. string.rep("a", 3000) .. " HTTP/1.1\r\n\r\n"):find("^HTTP/1.1 414"))
    assert.truthy(agents.raw_http(a, "GET / HTTP/1.1\r\nX: " .. string.rep("b", 9000) .. "\r\n\r\n")
      :find("^HTTP/1.1 431"))
    assert.truthy(agents.raw_http(a, "GET /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"):find("^HTTP/1.1 413"))
    local ok = agents.raw_http(a, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.truthy(ok:find("^HTTP/1.1 200"))
    assert.truthy(ok:find('"status":"ok"', 1, true))
    assert.is_true(agents.metric(a, 'vigil_http_requests_total{code="4xx"}') >= 6)
  end)

  it("serves metrics that promtool accepts", function()
    -- With a policy, so that its families are checked too.
    local c = cluster(2, { args = "agent.lua" })
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    local text = agents.get(c[1], "/metrics")
    for _, family in ipairs({ "vigil_peer_state", "vigil_build_info", "vigil_policy_loaded",
      "vigil_http_requests_total" }) do
      assert.truthy(text:find("# TYPE " .. family .. " ", 1, true), family)
    end
    local path = os.tmpname()
    local f = io.open(path, "w")
    f:write(text)
    f:close()
    local out, rc = agents.run("promtool check metrics < " .. path .. " 2>&1")
    os.remove(path)
    assert.are.equal(0, rc, out)
  end)
end)

describe("the vigil command", function()
  local V = agents.VIGIL
  after_each(function() agents.stop_all() end)

  it("prints its version and help", function()
    local out, rc = agents.run(V .. " version")
    assert.are.equal(0, rc)
    assert.truthy(out:find("^vigil %d+%.%d+%.%d+"))
    for _, cmd in ipairs({ "agent", "members", "version" }) do
      out, rc = agents.run(V .. " " .. cmd .. " --help")
      assert.are.equal(0, rc, cmd)
      assert.truthy(out:find("usage: vigil " .. cmd, 1, true), cmd)
    end
  end)

  it("refuses unknown flags and bad values, naming the flag", function()
    local cases = {
      { "agent --bogus", "unknown flag --bogus" },
      { "agent --listen nowhere", "--listen: expected host:port" },
      { "agent --interval fast", "--interval: expected a duration" },
      { "agent --fanout 8", "--fanout: removed in protocol 2" },
      { "agent --fanout -1", "--fanout: removed in protocol 2" },
      { "agent --log-level loud", "--log-level: expected debug, info, warn or error" },
      { "agent --tokens 12x", "--tokens: '12x' is not a decimal token" },
      { "agent --seeds 127.0.0.1", "--seeds: expected host:port" },
      { "agent --keyring /nonexistent", "--keyring: /nonexistent: cannot open keyring" },
      { "agent --threshold 0", "--threshold: expected a number > 0" },
      { "agent /nonexistent/agent.lua", "cannot read policy file" },
      { "members --http", "--http needs a value" },
      { "members --frobnicate", "unknown flag --frobnicate" },
      { "frobnicate", "unknown command 'frobnicate'" },
    }
    for _, case in ipairs(cases) do
      local out, rc = agents.run(V .. " " .. case[1] .. " 2>&1")
      assert.are.equal(2, rc, case[1])
      assert.truthy(out:find(case[2], 1, true), case[1] .. " said: " .. out)
    end
  end)

  it("accepts seeds in Dynomite's dyn_seeds form", function()
    local a = agents.start()
    local b = agents.start({ args = string.format("--seeds '127.0.0.1:%d:rack1:dc1:1383429731'", a.port) })
    agents.wait(function() return agents.state(a, b) == "normal" and agents.state(b, a) == "normal" end, 5,
      "the dyn_seeds agent to join")
  end)

  it("shows members as a table", function()
    local c = cluster(2, { args = "--dc eu-1 --rack r7 --tokens 42" })
    agents.wait(function() return all_normal(c) end, 10, "convergence")
    local out, rc = agents.run(string.format("%s members --http 127.0.0.1:%d", V, c[1].http))
    assert.are.equal(0, rc)
    assert.truthy(out:find("^PEER%s+DC%s+RACK%s+STATE%s+PHI%s+LAST HEARD%s+GENERATION"))
    assert.truthy(out:find(c[2].pname .. "%s+eu%-1%s+r7%s+normal"))
    assert.truthy(out:find(c[1].pname .. "%s+eu%-1%s+r7%s+normal%s+%-%s+%(self%)"))
    local ms = agents.members(c[2])
    assert.are.same({ "42" }, ms[c[1].pname].tokens)
    local _, down_rc = agents.run(V .. " members --http 127.0.0.1:1 2>/dev/null")
    assert.are.equal(1, down_rc)
  end)
end)
