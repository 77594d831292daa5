-- What a transition means to a policy and to an operator: why a peer came
-- up (reason: joined, recovered, restarted), the cause each peer keeps of
-- its latest up or down (vigil.peers(), /v1/members, `vigil members`), and
-- per-dc acceptable pauses (vigil.configure{acceptable_pauses = ...}).
-- Simulated clusters in virtual time (vigil.testing), and one small real
-- pair of agents on loopback for the HTTP side.
local testing = require("vigil.testing")

-- A pname as a Lua pattern that matches only itself.
local function esc(pname) return (pname:gsub("%p", "%%%0")) end

-- A policy that keeps what it reads from vigil.peer() as each peer_up
-- arrives, next to the event's own fields.
local function recorder(vigil)
  vigil.state.seen = vigil.state.seen or {}
  vigil.on("peer_up", "record", function(ev)
    local p = vigil.peer(ev.peer)
    vigil.state.seen[#vigil.state.seen + 1] = { peer = ev.peer, reason = ev.reason, cause = ev.cause,
      snapshot_reason = p and p.reason, snapshot_cause = p and p.cause }
  end)
end

-- The reasons of the peer_up events `agent` was given about `peer`, in order.
local function reasons(sim, agent, peer)
  local out = {}
  for _, ev in ipairs(sim:delivered("peer_up", { agent = agent, peer = peer })) do out[#out + 1] = ev.reason end
  return out
end

describe("peer_up says why the peer came up", function()
  local sim, P
  before_each(function()
    sim = testing.cluster({ agents = 4, interval = 0.2, seed = 3 })
    sim:load(recorder)
    sim:advance(3)
    P = sim:agents()
  end)

  it("joined: the first time an agent sees a peer up, with previous still down", function()
    for _, o in ipairs(P) do
      for _, p in ipairs(P) do
        if o ~= p then assert.are.same({ "joined" }, reasons(sim, o, p), o .. " about " .. p) end
      end
    end
    local ev = sim:delivered("peer_up", { agent = P[1], peer = P[2] })[1]
    assert.are.equal("down", ev.previous) -- unchanged for policies: a peer not heard yet is held down
    assert.are.equal("heartbeat", ev.cause)
  end)

  it("recovered: back up with the same process after a silent stop", function()
    sim:crash(P[3], { silent = true }) -- SIGSTOP: only phi can tell
    sim:advance(5)
    assert.delivered(sim, "peer_down", { agent = P[1], peer = P[3], cause = "phi" })
    sim:recover(P[3]) -- SIGCONT: the same generation
    sim:advance(3)
    assert.are.same({ "joined", "recovered" }, reasons(sim, P[1], P[3]))
    assert.are.same({ "joined", "recovered" }, reasons(sim, P[2], P[3]))
  end)

  it("restarted: back up with a new generation after a kill", function()
    sim:crash(P[4]) -- kill -9: its host refuses
    sim:advance(3)
    assert.delivered(sim, "peer_down", { agent = P[1], peer = P[4], cause = "refused" })
    sim:recover(P[4]) -- its supervisor starts it again
    sim:advance(3)
    assert.delivered(sim, "peer_restarted", { agent = P[1], peer = P[4] })
    assert.are.same({ "joined", "restarted" }, reasons(sim, P[1], P[4]))
    assert.are.same({ "joined", "restarted" }, reasons(sim, P[2], P[4]))
  end)

  it("joined again for a new agent, and the snapshot agrees with the event", function()
    local newcomer = "127.0.0.99:7946"
    sim:join(newcomer)
    sim:advance(3)
    assert.are.same({ "joined" }, reasons(sim, P[1], newcomer))
    -- Each peer_up handler read vigil.peer(ev.peer): the same cause and reason.
    local seen = 0
    for _, ev in ipairs(sim:delivered("peer_up")) do
      seen = seen + 1
      assert.is_string(ev.reason)
    end
    assert.is_true(seen >= 12 + 4)
    for _, p in ipairs(sim:peers(P[1])) do
      if p.pname == P[1] then
        assert.is_nil(p.cause) -- itself: never judged
      else
        assert.are.equal("heartbeat", p.cause)
        assert.are.equal("joined", p.reason)
      end
    end
  end)

  it("the policy's vigil.peer() carries the cause of the latest change and no reason while down", function()
    sim:crash(P[2])
    sim:advance(3)
    local p = nil
    for _, q in ipairs(sim:peers(P[1])) do
      if q.pname == P[2] then p = q end
    end
    assert.are.equal("down", p.state)
    assert.are.equal("refused", p.cause)
    assert.is_nil(p.reason)
  end)
end)

describe("records of what the policy read", function()
  it("match the event: vigil.peer(ev.peer) inside a peer_up handler has its cause and reason", function()
    local sim = testing.cluster({ self = "127.0.0.1:7946", peers = { "127.0.0.2:7946", "127.0.0.3:7946" },
      interval = 0.2, seed = 5 })
    local seen
    sim:load(function(vigil)
      recorder(vigil)
      seen = vigil.state.seen
    end)
    sim:advance(3)
    sim:crash("127.0.0.2:7946", { silent = true })
    sim:advance(5)
    sim:recover("127.0.0.2:7946")
    sim:advance(3)
    assert.are.equal(3, #seen)
    for _, r in ipairs(seen) do
      assert.are.equal(r.reason, r.snapshot_reason)
      assert.are.equal(r.cause, r.snapshot_cause)
    end
    assert.are.equal("recovered", seen[3].reason)
  end)
end)

describe("per-dc acceptable pauses", function()
  local near1, near2, far = "127.0.0.1:7946", "127.0.0.2:7946", "127.0.1.1:7946"
  local function cluster(opts)
    local o = { agents = { near1, near2, { pname = far, dc = "far" } }, interval = 0.2, seed = 11 }
    for k, v in pairs(opts or {}) do o[k] = v end
    local sim = testing.cluster(o)
    sim:load(function(vigil) vigil.on("transition", function() end) end)
    sim:advance(3)
    return sim
  end

  local function pause_of(sim, observer, pname)
    for _, p in ipairs(sim:peers(observer)) do
      if p.pname == pname then return p.acceptable_pause end
    end
  end

  it("a 3 s stall of the far agent is a false alarm with the defaults", function()
    local sim = cluster()
    sim:stall(far, 3.0)
    sim:advance(5)
    assert.delivered(sim, "peer_down", { agent = near1, peer = far })
  end)

  it("and is ridden out once its dc gets acceptable_pauses = {far = 3.5}, near peers unchanged", function()
    local sim = cluster({ acceptable_pauses = { far = 3.5 } })
    assert.are.equal(3.5, pause_of(sim, near1, far))
    assert.are.equal(2.0, pause_of(sim, near1, near2))
    sim:stall(far, 3.0)
    sim:advance(5)
    assert.are.equal(0, #sim:delivered("peer_down"))
    -- A near agent stalling as long is still convicted: only the far dc got patience.
    sim:stall(near2, 3.0)
    sim:advance(5)
    assert.delivered(sim, "peer_down", { agent = near1, peer = near2 })
  end)

  it("is set, replaced and cleared by a policy's vigil.configure", function()
    local sim = cluster()
    sim:load(function(vigil)
      vigil.configure({ acceptable_pauses = { far = 1, [near2] = 0.5 } })
    end)
    sim:advance(0.5)
    assert.are.equal(1, pause_of(sim, near1, far))
    assert.are.equal(0.5, pause_of(sim, near1, near2))
    assert.are.equal(2, pause_of(sim, near2, near1))
    sim:load(function(vigil) vigil.configure({ acceptable_pauses = {} }) end)
    sim:advance(0.5)
    assert.are.equal(2, pause_of(sim, near1, far))
    assert.are.equal(2, pause_of(sim, near1, near2))
  end)

  it("refuses bad tables with a message naming the entry, changing nothing", function()
    local sim = cluster({ acceptable_pauses = { far = 3 } })
    local cases = {
      { { far = -1 }, "acceptable_pauses%['far'%] must be seconds from 0 to 3600, got %-1" },
      { { far = 3601 }, "acceptable_pauses%['far'%] must be seconds from 0 to 3600" },
      { { far = "3" }, "acceptable_pauses%['far'%] must be seconds" },
      { { [1] = 3 }, "acceptable_pauses: keys must be dc names or pnames, got 1" },
      { 3, "acceptable_pauses must be table of dc or pname %-> seconds from 0 to 3600, got 3" },
    }
    for _, case in ipairs(cases) do
      local ok, err = sim:try_load(function(vigil) vigil.configure({ acceptable_pauses = case[1] }) end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(case[2]), tostring(err))
    end
    local many = {}
    for i = 1, 65 do many["dc" .. i] = 1 end
    local ok, err = sim:try_load(function(vigil) vigil.configure({ acceptable_pauses = many }) end)
    assert.is_false(ok)
    assert.truthy(err:find("at most 64 entries, got 65", 1, true), err)
    sim:advance(0.5)
    assert.are.equal(3, pause_of(sim, near1, far))
  end)
end)

-- The HTTP side on two real agents (loopback): /v1/members and `vigil members`.
describe("vigil members on real agents", function()
  local agents = require("helpers.agents")
  after_each(function() agents.stop_all() end)

  it("shows each peer's last cause and reason, and no phi for a down peer", function()
    local a = agents.start()
    local b = agents.start({ seeds = { a } })
    agents.wait(function() return agents.state(a, b) == "normal" end, 10, "b to be up on a")
    local m = agents.members(a)[b.pname]
    assert.are.equal("heartbeat", m.cause)
    assert.are.equal("joined", m.reason)
    assert.is_number(m.phi)
    assert.is_nil(agents.members(a)[a.pname].cause) -- itself: never judged
    agents.signal(b, "KILL")
    agents.wait(function() return agents.state(a, b) == "down" end, 10, "a to convict b")
    m = agents.members(a)[b.pname]
    assert.are.equal("refused", m.cause)
    assert.is_nil(m.reason)
    local out, rc = agents.run(string.format("%s members --http 127.0.0.1:%d", agents.VIGIL, a.http))
    assert.are.equal(0, rc)
    assert.truthy(out:find("^PEER%s+DC%s+RACK%s+STATE%s+PHI%s+LAST HEARD%s+GENERATION%s+CAUSE%s+CHANGED"), out)
    local row = out:match("\n(" .. esc(b.pname) .. "[^\n]*)")
    assert.truthy(row and row:find("^%S+%s+default%s+default%s+down%s+%-%s+[%d.]+s ago%s+%d+%s+refused%s+[%d.]+s ago$"),
      row)
    -- Its supervisor starts it again: a new generation, back up as "restarted".
    local again = agents.start({ port = b.port, http = b.http, seeds = { a } })
    agents.wait(function() return agents.state(a, again) == "normal" end, 10, "b to be up again on a")
    m = agents.members(a)[again.pname]
    assert.are.equal("heartbeat", m.cause)
    assert.are.equal("restarted", m.reason)
    local log = agents.log(a)
    local up = 'msg="peer up" peer=' .. esc(b.pname) .. ' dc=default rack=default from=down to=normal phi=[%d.]+ '
    local joined = log:find(up .. 'cause=heartbeat reason=joined')
    local restarted = log:find(up .. 'cause=heartbeat reason=restarted', joined or 1)
    assert.truthy(joined and restarted, log)
    -- a down has a cause and no reason
    assert.truthy(log:find('msg="peer down" peer=' .. esc(b.pname) .. ' [^\n]* cause=refused\n'), log)
  end)
end)
