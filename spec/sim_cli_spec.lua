-- spec/sim_cli_spec.lua - `vigil sim`, the command: its JSON report, its
-- determinism, its table, and how it refuses bad flags.
local json = require("dkjson")

local VIGIL = os.getenv("VIGIL_BIN") or "build/vigil"

local function run(args)
  local p = io.popen(VIGIL .. " sim " .. args .. " 2>&1; echo \"::rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  return out:gsub("::rc=%d+%s*$", ""), rc
end

describe("vigil sim", function()
  local SCENARIO = "--agents 12 --duration 40s --kill 2 --stop 2 --stall-every 15s --stall 1s --loss 0.01 --seed 3"

  it("reports a scenario as one JSON document with every field the issue names", function()
    local out, rc = run(SCENARIO .. " --json")
    assert.are.equal(0, rc, out)
    local r = assert(json.decode(out), out)
    assert.are.equal(12, r.agents)
    assert.are.equal(40, r.duration_s)
    assert.are.same({ 8, 5 }, { r.observers, r.quorum }) -- K and H, the defaults
    assert.are.equal(0, r.false_alarms)
    for _, kind in ipairs({ "kill", "silent" }) do
      local d = r.detections[kind]
      -- 2 faults of each kind; each is watched by the 8 agents that survive the run
      assert.are.equal(2 * 8, d.detected + d.missed)
      assert.are.equal(0, d.missed)
      assert.is_true(d.median_s > 0 and d.median_s <= d.p99_s and d.p99_s <= d.max_s)
    end
    assert.is_true(r.detections.kill.median_s < 1) -- the host refuses: fast
    assert.is_true(r.detections.silent.median_s > 2 and r.detections.silent.median_s < 4) -- phi
    -- 12 agents > K + 1: each sends to its observers and subjects (here nearly all
    -- 11 peers) 5 times a second, and flushes alerts and refutations at once
    assert.is_true(r.per_agent.frames_sent_per_s > 8 * 5 and r.per_agent.frames_sent_per_s < 11 * 5 + 5,
      r.per_agent.frames_sent_per_s)
    assert.is_true(r.per_agent.bytes_sent_per_s > 0 and r.per_agent.cpu_ns_per_s > 0)
    assert.is_true(r.converged_s > 0 and r.converged_s < 5)
  end)

  it("gives the same figures for the same seed and others for another", function()
    local a = json.decode((run(SCENARIO .. " --json")))
    local b = json.decode((run(SCENARIO .. " --json")))
    local c = json.decode((run(SCENARIO:gsub("--seed 3", "--seed 4") .. " --json")))
    local function figures(r)
      return { r.false_alarms, r.detections.kill.median_s, r.detections.silent.p99_s, r.per_agent.bytes_sent_per_s,
        r.frames_lost, r.steps }
    end
    assert.are.same(figures(a), figures(b))
    assert.are_not.same(figures(a), figures(c))
  end)

  it("prints a readable table without --json, and writes detection times with --cdf", function()
    local cdf = os.tmpname()
    local out, rc = run("--agents 5 --duration 20s --kill 1 --cdf " .. cdf)
    assert.are.equal(0, rc, out)
    assert.matches("false alarms%s+0", out)
    assert.matches("kill%s+median [%d.]+ s", out)
    local f = assert(io.open(cdf))
    local text = f:read("*a")
    f:close()
    os.remove(cdf)
    assert.matches("^kind,seconds\n", text)
    local _, lines = text:gsub("\nkill,[%d.]+", "")
    assert.are.equal(4, lines) -- one per surviving observer
  end)

  it("keeps each agent's traffic flat as the cluster grows beyond K + 1 agents", function()
    local function frames(n)
      local out, rc = run("--agents " .. n .. " --duration 20s --json")
      assert.are.equal(0, rc, out)
      return assert(json.decode(out), out).per_agent.frames_sent_per_s
    end
    local small, large = frames(9), frames(200)
    assert.is_true(small > 38 and small <= 40, small) -- 9 = K + 1: every agent to every other, 8 x 5/s
    -- its observers and subjects (16 at most) x 5/s, and the membership news of the
    -- start; to every peer it would be 199 x 5/s
    assert.is_true(large > 8 * 5 and large < 100, large)
  end)

  it("refuses bad flags with status 2 and a message naming them", function()
    for args, flag in pairs({ ["--agents 0"] = "--agents", ["--loss 1.5"] = "--loss", ["--interval 2x"] = "--interval",
      ["--agents 5 --kill 3 --stop 2"] = "--kill", ["--stall-every 1s --stall 1s"] = "--stall",
      ["--frobnicate"] = "--frobnicate", ["--fanout 8"] = "--fanout: removed", ["--observers 17"] = "--observers",
      ["--quorum 1"] = "--quorum" }) do
      local out, rc = run(args)
      assert.are.equal(2, rc, args)
      assert.is_truthy(out:find(flag, 1, true), out)
    end
  end)
end)
