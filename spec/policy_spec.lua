-- Policies in real agents: the script thread never slows detection,
-- handlers that loop or raise are stopped and counted, reloads swap whole
-- or not at all, commands are killed at their timeout, and the default
-- agent.lua reacts once per cluster. Every test is bounded in time.
local agents = require("helpers.agents")

-- A policy file whose handlers append "<what> <peer>" lines to `rec`.
local function policy(rec, body)
  return agents.tmpfile(string.format([[
local REC = %q
local function record(line)
  local f = io.open(REC, "a")
  f:write(line, "\n")
  f:close()
end
%s
]], rec, body))
end

local all_normal = agents.all_normal

local function policy_health(a)
  local h = agents.health(a)
  return h and h.policy
end

describe("policies", function()
  local files = {}
  local function track(path)
    files[#files + 1] = path
    return path
  end
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("a handler busy for 3x the detection time slows no conviction, and then gets every event in order", function()
    local rec = track(os.tmpname())
    local file = track(policy(rec, [[
vigil.configure({ budget = 10 })
vigil.on("peer_down", "slow", function(e)
  record("down " .. e.peer)
  if vigil.state.slowed then return end
  vigil.state.slowed = true
  local t0 = vigil.now()
  while vigil.now() - t0 < 3 do end -- 3 s: about three detection times
  record("busy done")
end)
]]))
    local a = agents.start({ args = file })
    local b = agents.start({ seeds = { a } })
    local c = agents.start({ seeds = { a } })
    local d = agents.start({ seeds = { a } })
    local all = { a, b, c, d }
    agents.wait(function() return all_normal(all) end, 10, "convergence")
    agents.signal(c, "KILL")
    agents.wait(function() return agents.state(a, c) == "down" end, 5, "c convicted")
    -- The policy is now busy for 3 s. Kill d: the core must convict it on
    -- time anyway, and keep b normal.
    agents.signal(d, "KILL")
    local t0 = os.time()
    agents.wait(function() return agents.state(a, d) == "down" end, 2.5, "d convicted while the policy is busy")
    assert.are.equal("normal", agents.state(a, b))
    assert.are_not.same({ "busy done" }, { agents.lines(rec)[2] }) -- still busy when d was convicted
    agents.wait(function() return #agents.lines(rec) >= 3 end, 6, "the policy to catch up")
    assert.are.same({ "down " .. c.pname, "busy done", "down " .. d.pname }, agents.lines(rec))
    assert.truthy(os.time() - t0 <= 8)
    assert.falsy(agents.log(a):find('msg="peer down" peer=' .. b.pname, 1, true), "b was falsely convicted")
    assert.are.equal(0, agents.metric(a, "vigil_policy_events_lagged_total"))
  end)

  it("interrupts a handler that never returns, even a JIT-friendly one, and runs the next", function()
    local rec = track(os.tmpname())
    local file = track(policy(rec, [[
vigil.on("peer_up", "spin", function() while true do end end)
vigil.on("peer_up", "after", function(e) record("up " .. e.peer) end)
vigil.on("peer_joined", "oops", function() error("deliberate") end)
vigil.on("peer_joined", "still", function(e) record("joined " .. e.peer) end)
]]))
    local a = agents.start({ args = file })
    local b = agents.start({ seeds = { a } })
    agents.wait(function() return #agents.lines(rec) >= 2 end, 10, "both surviving handlers to run")
    assert.are.same({ "joined " .. b.pname, "up " .. b.pname }, agents.lines(rec))
    assert.are.equal(1, agents.metric(a, 'vigil_policy_interrupted_total{event="peer_up"}'))
    assert.are.equal(1, agents.metric(a, 'vigil_policy_errors_total{event="peer_joined"}'))
    local log = agents.log(a)
    assert.truthy(log:find('msg="policy handler interrupted" source=policy event=peer_up budget_s=1', 1, true))
    assert.truthy(log:find('msg="policy handler failed" source=policy event=peer_joined error="[^"]-:%d+: deliberate'))
    assert.are.equal("normal", agents.state(a, b))
    assert.is_true(agents.running(a))
  end)

  it("reloads on file change, SIGHUP and vigil reload, and keeps the old policy when a reload fails", function()
    local rec = track(os.tmpname())
    local function write(body)
      local f = io.open(files[2], "w")
      f:write(string.format("local REC = %q\nlocal function record(l) local f = io.open(REC, 'a') f:write(l, '\\n') "
        .. "f:close() end\n%s\n", rec, body))
      f:close()
    end
    track(agents.tmpfile(""))
    write('vigil.on("peer_down", "h", function(e) record("v1 " .. e.peer) end)')
    local a = agents.start({ args = files[2] })
    agents.wait(function() return (policy_health(a) or {}).generation == 1 end, 10, "generation 1")
    write('vigil.on("peer_down", "h", function(e) record("v2 " .. e.peer) end)')
    agents.wait(function() return policy_health(a).generation == 2 end, 5, "a reload on file change")
    agents.signal(a, "HUP")
    agents.wait(function() return policy_health(a).generation == 3 end, 5, "a reload on SIGHUP")
    local out, rc = agents.run(string.format("%s reload --http 127.0.0.1:%d", agents.VIGIL, a.http))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("reloaded: policy generation 4", 1, true))
    -- A broken edit: the reload fails, v2 keeps running.
    write('vigil.on("peer_down", "h", function(e) record("v3 " .. e.peer) end)\nvigil.configure({ threshold = "x" })')
    agents.wait(function() return policy_health(a).reloads_failed >= 1 end, 5, "the failed reload to be reported")
    local h = policy_health(a)
    assert.are.equal(4, h.generation)
    assert.truthy(h.error:find(":4: vigil.configure: threshold must be number > 0", 1, true), h.error)
    -- What runs is not what was deployed: /health says so, for a deploy to gate on.
    local doc, code = agents.health(a)
    assert.are.equal(503, code)
    assert.are.equal("degraded", doc.status)
    assert.are.same({ "last policy reload failed" }, doc.reasons)
    local table_out = agents.run(string.format("%s members --http 127.0.0.1:%d", agents.VIGIL, a.http))
    assert.truthy(table_out:find("LAST LOAD FAILED", 1, true))
    out, rc = agents.run(string.format("%s reload --http 127.0.0.1:%d 2>&1", agents.VIGIL, a.http))
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("reload failed (the previous policy keeps running)", 1, true))
    assert.is_true(agents.metric(a, 'vigil_policy_reloads_total{result="error"}') >= 2)
    -- Prove v2 is the one running: a peer goes down.
    local b = agents.start({ seeds = { a } })
    agents.wait(function() return agents.state(a, b) == "normal" end, 5, "b up")
    agents.signal(b, "KILL")
    agents.wait(function() return #agents.lines(rec) >= 1 end, 5, "the policy to see b go")
    assert.are.same({ "v2 " .. b.pname }, agents.lines(rec))
  end)

  it("answers /health 503 'degraded' while the policy does not load, 200 'ok' once it does", function()
    local path = track(agents.tmpfile("vigil.configure({ threshold = -1 })\n"))
    local a = agents.start({ args = path })
    local doc, code = agents.health(a)
    assert.are.equal(503, code)
    assert.are.equal("degraded", doc.status)
    assert.are.same({ "policy not loaded" }, doc.reasons)
    assert.truthy(doc.policy.error:find(":1:", 1, true), doc.policy.error)
    -- `vigil reload` still reads it (and says the reload failed).
    local out, rc = agents.run(string.format("%s reload --http 127.0.0.1:%d 2>&1", agents.VIGIL, a.http))
    assert.are.equal(1, rc, out)
    local f = io.open(path, "w")
    f:write("vigil.configure({ threshold = 9 })\n")
    f:close()
    agents.wait(function()
      local _, c = agents.health(a)
      return c == 200
    end, 5, "the fixed policy to load (a reload on file change)")
    doc = agents.health(a)
    assert.are.equal("ok", doc.status)
    assert.are.same({}, doc.reasons)
    -- An agent without a policy is ok too.
    local b = agents.start({})
    doc, code = agents.health(b)
    assert.are.equal(200, code)
    assert.are.equal("ok", doc.status)
  end)

  it("kills a command at its timeout and reports why", function()
    local rec = track(os.tmpname())
    local file = track(policy(rec, [[
vigil.on("peer_up", function(e)
  local t0 = vigil.now()
  vigil.exec({ "sleep", "30", timeout = 0.5, on_exit = function(code, out, err, why)
    record(string.format("%s %s %.1f", why, tostring(code), vigil.now() - t0))
  end })
  vigil.exec({ "sh", "-c", "echo \"$GREETING\"; cat", env = { GREETING = "hello" }, stdin = "from stdin",
    on_exit = function(code, out) record(string.format("exit %d %s", code, out:gsub("\n", "|"))) end })
end)
]]))
    local a = agents.start({ args = file })
    agents.start({ seeds = { a } })
    agents.wait(function() return #agents.lines(rec) >= 2 end, 5, "both commands to finish")
    local lines = agents.lines(rec)
    table.sort(lines)
    assert.are.equal("exit 0 hello|from stdin", lines[1])
    local why, code, took = lines[2]:match("^(%S+) (%S+) ([%d%.]+)$")
    assert.are.equal("timeout", why)
    assert.are.equal("nil", code) -- killed by a signal
    assert.is_true(tonumber(took) >= 0.5 and tonumber(took) < 2.5)
    assert.are.equal(1, agents.metric(a, 'vigil_policy_exec_total{result="timeout"}'))
    assert.are.equal(1, agents.metric(a, 'vigil_policy_exec_total{result="ok"}'))
  end)

  it("configures the detector live from the policy", function()
    local file = track(agents.tmpfile(
      'vigil.configure({ threshold = 3, thresholds = { far = 12 }, refused = false })\n'))
    local a = agents.start({ args = file })
    agents.wait(function() return agents.metric(a, "vigil_phi_threshold") == 3 end, 5, "threshold 3 in force")
    local line = agents.log(a):match('[^\n]*msg="policy configured the detector" threshold=3[^\n]*')
    assert.truthy(line and line:find("refused=off", 1, true), line)
  end)

  it("runs the default agent.lua reaction once per cluster", function()
    local out = track(os.tmpname())
    local env = string.format("VIGIL_ON_DOWN='echo \"$VIGIL_PEER\" >> %s'", out)
    local a = agents.start({ args = "agent.lua", env = env })
    local b = agents.start({ args = "agent.lua", env = env, seeds = { a } })
    local c = agents.start({ args = "agent.lua", env = env, seeds = { a } })
    agents.wait(function() return all_normal({ a, b, c }) end, 10, "convergence")
    agents.signal(c, "KILL")
    agents.wait(function() return #agents.lines(out) >= 1 end, 5, "the reaction to run")
    agents.sleep(1) -- would a second agent react too?
    assert.are.same({ c.pname }, agents.lines(out))
  end)
end)

describe("vigil check", function()
  it("accepts agent.lua and reports a broken policy as file:line", function()
    local out, rc = agents.run(agents.VIGIL .. " check agent.lua")
    assert.are.equal(0, rc)
    assert.truthy(out:find("agent.lua: ok (3 handlers, 0 timers)", 1, true), out)
    local bad = agents.tmpfile('vigil.on("peer_down", function() end)\nvigil.on("peer_sideways", function() end)\n')
    out, rc = agents.run(agents.VIGIL .. " check " .. bad .. " 2>&1")
    assert.are.equal(1, rc)
    assert.truthy(out:find(bad .. ":2: vigil.on: unknown event 'peer_sideways'", 1, true), out)
    local loop = agents.tmpfile("while true do end\n")
    out, rc = agents.run(agents.VIGIL .. " check " .. loop .. " 2>&1")
    assert.are.equal(1, rc)
    assert.truthy(out:find(loop .. ":1: interrupted", 1, true), out)
    os.remove(bad)
    os.remove(loop)
  end)
end)

describe("make demo", function()
  it("runs end to end: detection, one reaction, restart, clean stop", function()
    local port = agents.ports() -- a free slot's base, so a second run cannot collide
    local out, rc = agents.run(string.format("VIGIL_DEMO_PORT=%d timeout 60 bash examples/demo.sh 2>&1", port))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("detected down %d%.%d%d s after the kill"), out)
    assert.truthy(out:find("the reaction ran 1 time(s) for the whole cluster", 1, true), out)
    assert.truthy(out:find('msg="peer restarted"', 1, true), out)
    assert.truthy(out:find("demo finished.", 1, true), out)
    local _, left = agents.run(string.format("pgrep -f '[v]igil agent agent.lua --listen 127.0.0.1:%d'", port))
    assert.are_not.equal(0, left) -- nothing left running
  end)
end)

describe("vigil test", function()
  it("runs an operator's own spec directory with no set-up, and fails when a spec fails", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local f = io.open(dir .. "/mine_spec.lua", "w")
    f:write([[
local testing = require("vigil.testing")
describe("my policy", function()
  it("pages on a peer down", function()
    local sim = testing.cluster({ peers = { "127.0.0.2:7946" }, interval = 1 })
    sim:load(function(vigil) vigil.on("peer_down", function(e) vigil.exec({ "page", e.peer }) end) end)
    sim:advance(3)
    sim:crash("127.0.0.2:7946")
    sim:advance(5)
    assert.executed(sim, "^page 127%.0%.0%.2")
    assert.is_true(os.getenv("FAIL_ON_PURPOSE") == nil)
  end)
end)
]])
    f:close()
    local bin = agents.VIGIL:sub(1, 1) == "/" and agents.VIGIL or (os.getenv("PWD") .. "/" .. agents.VIGIL)
    local out, rc = agents.run(string.format("cd /tmp && %s test %s 2>&1", bin, dir))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("1 success / 0 failures", 1, true), out)
    out, rc = agents.run(string.format("cd /tmp && FAIL_ON_PURPOSE=1 %s test %s 2>&1", bin, dir))
    assert.are_not.equal(0, rc, out)
    os.execute("rm -rf " .. dir)
  end)
end)
