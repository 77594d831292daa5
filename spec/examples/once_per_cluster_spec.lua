-- Five agents, every one running the policy: the cluster reacts once.
local testing = require("vigil.testing")

describe("examples/policies/once_per_cluster.lua", function()
  local function cluster(seed)
    local sim = testing.cluster({ agents = 5, interval = 0.2, seed = seed })
    sim:load("examples/policies/once_per_cluster.lua")
    return sim, sim:agents()
  end

  -- Commands matching pattern, run anywhere in the cluster.
  local function ran(sim, pattern)
    local n = 0
    for _, e in ipairs(sim.execs) do n = n + (e.line:find(pattern) and 1 or 0) end
    return n
  end

  it("runs nothing while nothing fails, from the cluster's start through a long quiet period", function()
    for seed = 1, 5 do
      local sim = cluster(seed)
      sim:advance(600)
      assert.are.equal(20, #sim:delivered("peer_up")) -- the cluster formed: each agent saw each other come up
      assert.are.equal(0, #sim.execs, "seed " .. seed .. ": " .. (sim.execs[1] and sim.execs[1].line or ""))
    end
  end)

  it("drains a killed agent exactly once for the whole cluster, and undoes it once when it is back", function()
    for seed = 1, 5 do
      local sim, P = cluster(seed)
      sim:advance(5)
      local victim = P[1 + seed % 5]
      sim:crash(victim)
      sim:advance(5)
      assert.are.equal(4, #sim:delivered("peer_down", { peer = victim })) -- every survivor convicted it
      local drain = "lb%-drain %-%- " .. victim:gsub("%p", "%%%0") .. "$"
      assert.are.equal(1, ran(sim, drain), "seed " .. seed)
      assert.are.equal(1, #sim.execs)
      sim:restart(victim)
      sim:advance(5)
      assert.are.equal(1, ran(sim, "lb%-drain %-%-undo %-%- " .. victim:gsub("%p", "%%%0") .. "$"), "seed " .. seed)
      assert.are.equal(2, #sim.execs)
      -- the undo ran where the drain ran
      assert.are.equal(sim.execs[1].agent, sim.execs[2].agent)
    end
  end)

  -- Names on the wire are printable ASCII now, but a policy is the last
  -- place to rely on it: a peer whose name looks like an option or a shell
  -- line is handed to the command as one operand, after "--".
  it("passes a hostile peer name as one argument after --, never as an option", function()
    local sim = testing.cluster({ self = "127.0.0.1:7946", peers = {} })
    sim:load("examples/policies/once_per_cluster.lua")
    sim:advance(1)
    local rt = sim.agent[1].rt -- this agent's policy runtime: deliver what no honest wire carries
    for _, name in ipairs({ "--all", "-rf /", "x; reboot", "$(reboot)", "a b\tc" }) do
      sim.execs = {}
      rt:dispatch({ type = "peer_down", peer = name, dc = "d", rack = "r", state = "down", previous = "normal",
        phi = 9, cause = "phi", at = sim:now() })
      rt:dispatch({ type = "peer_up", peer = name, dc = "d", rack = "r", state = "normal", previous = "down",
        phi = 0, cause = "heartbeat", at = sim:now() })
      sim:advance(1)
      assert.are.equal(2, #sim.execs, name)
      assert.are.equal("/usr/local/bin/lb-drain", sim.execs[1].file)
      assert.are.same({ "--", name }, sim.execs[1].args)
      assert.are.same({ "--undo", "--", name }, sim.execs[2].args)
    end
  end)
end)
