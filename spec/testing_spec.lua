-- vigil.testing itself: the simulated cluster must behave like the real
-- one (it runs the same core and runtime), deterministically.
local testing = require("vigil.testing")

local A, B, C, D = "127.0.0.2:7946", "127.0.0.3:7946", "127.0.0.4:7946", "127.0.0.5:7946"

local function cluster(opts)
  opts = opts or {}
  opts.self = opts.self or "127.0.0.1:7946"
  opts.peers = opts.peers or { A, B, C }
  opts.interval = opts.interval or 1.0
  return testing.cluster(opts)
end

local function recorder(sim)
  local seen = {}
  sim:load(function(vigil)
    vigil.on("transition", function(e) seen[#seen + 1] = e.type .. " " .. e.peer end)
  end)
  return seen
end

describe("vigil.testing", function()
  it("brings every peer up, then convicts a crashed one and revives it on recover", function()
    local sim = cluster()
    local seen = recorder(sim)
    sim:advance(5)
    for _, p in ipairs({ A, B, C }) do assert.are.equal("normal", sim:state(p)) end
    assert.are.equal(6, #seen) -- joined + up for each
    sim:crash(B)
    sim:advance(5)
    assert.are.equal("down", sim:state(B))
    assert.delivered(sim, "peer_down", { peer = B })
    assert.is_true(sim:phi(B) > 8)
    sim:recover(B)
    sim:advance(2)
    assert.are.equal("normal", sim:state(B))
    assert.are.equal("peer_up " .. B, seen[#seen])
  end)

  it("reports a restart as restarted and up, and a graceful leave at once", function()
    local sim = cluster()
    local seen = recorder(sim)
    sim:advance(3)
    sim:restart(A)
    sim:advance(0.01) -- its first heartbeat, one network delay away
    assert.are.same({ "peer_restarted " .. A }, { seen[7] })
    assert.are.equal(7, #seen) -- restarted before anyone missed it: never down
    sim:advance(1)
    assert.are.equal("normal", sim:state(A))
    local before = sim:now()
    sim:leave(C)
    sim:advance(0.01) -- its shutdown frame, one network delay away
    assert.are.equal("down", sim:state(C))
    assert.are.same({ "peer_down " .. C, "peer_left " .. C }, { seen[#seen - 1], seen[#seen] })
    local left = sim:delivered("peer_left", { peer = C })[1]
    assert.is_true(left.at - before < 0.005) -- no waiting for phi
  end)

  it("is deterministic: the same seed gives the same run", function()
    local function run(seed)
      local sim = cluster({ seed = seed, jitter = 0.2, loss = 0.1 })
      recorder(sim)
      sim:advance(30)
      sim:crash(A)
      sim:advance(30)
      local out = {}
      for _, e in ipairs(sim.events) do out[#out + 1] = string.format("%.6f %s %s", e.at, e.type, e.peer) end
      return table.concat(out, "\n")
    end
    assert.are.equal(run(7), run(7))
    assert.are_not.equal(run(7), run(8))
  end)

  it("partitions and heals", function()
    local sim = cluster({ peers = { A, B, C, D } })
    recorder(sim)
    sim:advance(3)
    sim:partition({ "127.0.0.1:7946", A, B }, { C, D })
    sim:advance(5)
    assert.are.same({ "normal", "normal", "down", "down" },
      { sim:state(A), sim:state(B), sim:state(C), sim:state(D) })
    sim:heal()
    sim:advance(3)
    assert.are.same({ "normal", "normal" }, { sim:state(C), sim:state(D) })
  end)

  it("does not convict live peers when this agent stalls (pause_self)", function()
    local sim = cluster()
    recorder(sim)
    sim:advance(10)
    sim:pause_self(15)
    sim:advance(5)
    assert.are.equal(0, #sim:delivered("peer_down"))
    for _, p in ipairs({ A, B, C }) do assert.are.equal("normal", sim:state(p)) end
  end)

  it("raises no false alarm under moderate jitter and loss, and still convicts a crash", function()
    local sim = cluster({ jitter = 0.1, loss = 0.01, seed = 3 })
    recorder(sim)
    sim:advance(600)
    assert.are.equal(0, #sim:delivered("peer_down"))
    sim:crash(C)
    sim:advance(5)
    assert.delivered(sim, "peer_down", { peer = C })
  end)

  it("runs one policy per agent, each bound to its own node", function()
    local sim = testing.cluster({ agents = { "127.0.0.1:7946", A, B }, interval = 0.2, seed = 5 })
    local selves, downs = {}, {}
    sim:load(function(vigil)
      vigil.after(1, function()
        selves[#selves + 1] = vigil.self().pname
        if vigil.self().pname == A then
          vigil.configure({ threshold = 3 })
          vigil.mark_down(B) -- A's verdict only
        end
      end)
      vigil.on("peer_down", function(e) downs[#downs + 1] = e.peer end)
    end)
    sim:advance(1.5)
    table.sort(selves)
    assert.are.same({ "127.0.0.1:7946", A, B }, selves)
    assert.are.same({ B }, downs)
    assert.delivered(sim, "peer_down", { agent = A, peer = B, cause = "marked" })
    assert.are.equal("normal", sim:state("127.0.0.1:7946", B))
    assert.are.equal(3, sim:peers(A)[1].threshold)
    assert.are.equal(8, sim:peers(B)[1].threshold)
  end)

  it("runs a stalled agent's timers late, a stopped one's when it resumes, a killed one's never", function()
    local sim = testing.cluster({ agents = { "127.0.0.1:7946", A, B }, interval = 0.2, seed = 5 })
    local fired = {}
    sim:load(function(vigil)
      vigil.every(1, function()
        local me = vigil.self().pname
        fired[me] = fired[me] or {}
        table.insert(fired[me], vigil.now())
      end)
    end)
    sim:advance(0.5)
    sim:stall(A, 2.2) -- until 2.7: the tick due at 1 fires at 2.7, then every second from there
    sim:crash(B, { silent = true })
    sim:advance(2.5) -- t = 3
    sim:recover(B) -- B's ticks due at 1, 2 and 3 fire once, now
    sim:advance(0.5)
    sim:crash("127.0.0.1:7946")
    sim:advance(2)
    local function rounded(list)
      local out = {}
      for i, t in ipairs(list or {}) do out[i] = math.floor(t * 1000 + 0.5) / 1000 end
      return out
    end
    assert.are.same({ 1, 2, 3 }, rounded(fired["127.0.0.1:7946"]))
    assert.are.same({ 2.7, 3.7, 4.7 }, rounded(fired[A]))
    assert.are.same({ 3, 4, 5 }, rounded(fired[B]))
  end)

  it("joins an agent over time; in a single view only self runs the policy", function()
    local sim = cluster()
    local seen = recorder(sim)
    sim:advance(3)
    sim:join(D)
    sim:advance(3)
    assert.are.equal("normal", sim:state(D))
    assert.are.equal("normal", sim:state(D, "127.0.0.1:7946"))
    assert.are.equal(8, #seen) -- self's view only: joined and up for D
    for _, e in ipairs(sim.events) do assert.are.equal("127.0.0.1:7946", e.agent) end
  end)

  it("models the network: global, per-agent and per-link loss, latency", function()
    local sim = cluster({ loss = 0.2 })
    recorder(sim)
    sim:advance(20)
    local lost = sim:stats().frames_lost
    assert.is_true(lost > 0)
    sim:loss(0):loss(A, 1) -- A is cut off by loss alone
    sim:advance(8)
    assert.are.equal("down", sim:state(A))
    assert.are.equal("normal", sim:state(B))
    sim:loss(A, 0):loss(B, C, 1) -- only B <-> C
    sim:advance(8)
    assert.are.same({ "normal", "normal", "normal" }, { sim:state(A), sim:state(B), sim:state(C) })
    assert.are.equal("normal", sim:state(B, C)) -- C's heartbeats reach B in the others' digests
    sim:delay(0.05, 0)
    local before = sim:now()
    sim:restart(C)
    sim:advance(0.2)
    local restarted = sim:delivered("peer_restarted", { peer = C })[1]
    assert.is_true(restarted.at - before > 0.05 - 1e-9, tostring(restarted.at - before)) -- one latency at least
    sim:delay(0.001, 0):jitter(A, 0.2) -- A's datagrams arrive up to ~0.5 s late, reordered
    sim:advance(10)
    assert.are.equal("normal", sim:state(A)) -- late is not lost: 2 s acceptable_pause
    assert.has_error(function() sim:jitter(A, "x") end)
  end)

  it("fires timers on the virtual clock and stops them", function()
    local sim = cluster()
    local ticks, late = 0, nil
    sim:load(function(vigil)
      local t = vigil.every(10, function() ticks = ticks + 1 end)
      vigil.after(25, function()
        late = vigil.now()
        t:stop()
      end)
    end)
    sim:advance(100)
    assert.are.equal(2, ticks)
    assert.are.equal(25, late)
  end)

  it("captures commands and plays their scripted results, timeouts and retries included", function()
    local sim = cluster()
    local results = {}
    sim:on_exec("^curl .*hooks", { code = 0, stdout = "ok" })
    sim:on_exec("^drain", { hang = true })
    sim:on_exec("^flaky", { code = 1, stderr = "nope" })
    sim:load(function(vigil)
      vigil.on("peer_down", function(e)
        vigil.exec({ "curl", "-s", "https://example.invalid/hooks", e.peer,
          on_exit = function(code, out) results[#results + 1] = "curl " .. code .. " " .. out end })
        vigil.exec({ "drain", e.peer, timeout = 3,
          on_exit = function(code, _, _, why) results[#results + 1] = "drain " .. tostring(code) .. " " .. why end })
        vigil.exec({ "flaky", retries = 2, backoff = 1,
          on_exit = function(code, _, err) results[#results + 1] = "flaky " .. code .. " " .. err end })
      end)
    end)
    sim:advance(3)
    sim:crash(A)
    sim:advance(10)
    assert.executed(sim, "^curl %-s https://example.invalid/hooks " .. A:gsub("%.", "%%."))
    assert.executed(sim, "^drain")
    assert.are.same({ "curl 0 ok", "drain nil timeout", "flaky 1 nope" }, results)
    local flaky = 0
    for _, e in ipairs(sim.execs) do flaky = flaky + (e.file == "flaky" and 1 or 0) end
    assert.are.equal(3, flaky) -- one try and two retries
  end)

  it("interrupts a policy handler that never returns, as the agent does", function()
    local sim = cluster({ budget = 0.2 })
    local after = false
    sim:load(function(vigil)
      vigil.on("peer_up", "spin", function() while true do end end)
      vigil.on("peer_up", "after", function() after = true end)
    end)
    sim:advance(2) -- every agent starts within the first interval
    assert.is_true(after)
    assert.is_true(sim.errors[1].interrupted)
    assert.truthy(sim.errors[1].err:find("interrupted: ran past its budget", 1, true))
  end)

  it("applies vigil.configure to the real detector", function()
    local sim = cluster({ peers = { A, { pname = B, dc = "far" } } })
    sim:load(function(vigil) vigil.configure({ threshold = 3, thresholds = { far = 30 }, acceptable_pause = 1 }) end)
    sim:advance(5)
    sim:crash(A, { silent = true })
    sim:crash(B, { silent = true })
    sim:advance(2.5)
    assert.are.equal("down", sim:state(A)) -- threshold 3: quick
    assert.are.equal("normal", sim:state(B)) -- threshold 30 for dc "far"
  end)

  it("reports a policy that fails to load", function()
    local sim = cluster()
    local ok, err = sim:try_load(function(vigil) vigil.configure({ threshold = "high" }) end)
    assert.is_false(ok)
    assert.truthy(err:find("threshold must be number > 0", 1, true))
    assert.has_error(function() sim:load(function() error("broken") end) end)
  end)

  it("refuses fanout, removed in protocol 2, pointing to observers and quorum", function()
    local ok, err = pcall(testing.cluster, { agents = 20, fanout = 8 })
    assert.is_false(ok)
    assert.truthy(err:find("testing.cluster: fanout: removed in protocol 2", 1, true), err)
    assert.truthy(err:find("observers (K) and quorum (H)", 1, true), err)
    ok, err = pcall(testing.cluster, { agents = 5, observers = 17 })
    assert.is_false(ok)
    assert.truthy(err:find("option 'observers' must be an integer from 1 to 16", 1, true), err)
  end)
end)
