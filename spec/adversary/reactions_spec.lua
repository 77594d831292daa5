-- Reactions that try to outlive their budget (issue 12, item 7): a shell
-- whose grandchild holds the pipes, a command still running when the agent
-- exits. Real agents on loopback; every wait bounded.
local agents = require("helpers.agents")

-- How many processes have `tag` in their command line.
local function running(tag)
  -- "[1]20.5" matches "120.5" but not itself: the shell running pgrep is not counted
  local out = agents.run(string.format("pgrep -f 'sleep [%s]%s'", tag:sub(1, 1), tag:sub(2)))
  local n = 0
  for _ in out:gmatch("%d+") do n = n + 1 end
  return n
end

describe("a reaction", function()
  local files = {}
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("whose grandchild holds its pipes still times out, reports, and takes the grandchild with it", function()
    local rec = os.tmpname()
    -- a duration nothing else on the machine sleeps: how pgrep finds it
    local tag = string.format("120.%06d", math.random(1e6 - 1))
    local path = agents.tmpfile(string.format([[
local REC = %q
vigil.on("peer_up", function(e)
  local t0 = vigil.now()
  vigil.exec({ "/bin/sh", "-c", "sleep %s; echo done", timeout = 1, on_exit = function(code, out, err, why)
    local f = io.open(REC, "a")
    f:write(string.format("%%s %%.1f\n", why, vigil.now() - t0))
    f:close()
  end })
  -- the next command still runs: the slot was not lost
  vigil.exec({ "/bin/echo", "next", on_exit = function(code, out)
    local f = io.open(REC, "a")
    f:write("next " .. out)
    f:close()
  end })
end)
]], rec, tag))
    files = { rec, path }
    local a = agents.start({ args = path })
    agents.start({ seeds = { a } })
    agents.wait(function() return #agents.lines(rec) >= 2 end, 6, "on_exit of both commands")
    local lines = agents.lines(rec)
    table.sort(lines)
    assert.are.equal("next next", lines[1])
    local why, took = lines[2]:match("^(%S+) ([%d.]+)$")
    assert.are.equal("timeout", why)
    assert.is_true(tonumber(took) < 4, lines[2])
    agents.wait(function() return running(tag) == 0 end, 3, "the grandchild to be gone")
  end)

  it("backlog of slow events does not hold up a reload", function()
    -- Each event keeps the policy busy 0.4 s (within its budget); six
    -- agents joining queue a dozen of them: ~5 s of work. A reload asked
    -- for meanwhile runs between two events, not after the last.
    local path = agents.tmpfile([[
vigil.configure({ budget = 2 })
local n = 0
local function slow(e)
  local t = os.clock() + 0.4
  while os.clock() < t do end
  n = n + 1
  vigil.log.info("handled", { n = n })
end
vigil.on("peer_joined", slow)
vigil.on("peer_up", slow)
]])
    files = { path }
    local a = agents.start({ args = path })
    for _ = 1, 6 do agents.start({ seeds = { a } }) end
    local function handled() return agents.count(agents.lines(a.log), 'msg="handled"') end
    agents.wait(function() return handled() >= 1 end, 5, "the backlog to start")
    local out, rc = agents.run(string.format("%s reload --http 127.0.0.1:%d 2>&1", agents.VIGIL, a.http))
    assert.are.equal(0, rc, out)
    agents.wait(function() return handled() >= 12 end, 15, "the backlog to end")
    local log = agents.lines(a.log)
    local reloaded, last
    for i, l in ipairs(log) do
      if l:find('msg="policy reloading"', 1, true) and not reloaded then reloaded = i end
      if l:find('msg="handled"', 1, true) then last = i end
    end
    assert.truthy(reloaded, table.concat(log, "\n"))
    assert.is_true(reloaded < last, "the reload waited for the whole backlog:\n" .. table.concat(log, "\n"))
  end)

  it("does not outlive the agent", function()
    local tag = string.format("121.%06d", math.random(1e6 - 1))
    local path = agents.tmpfile(string.format([[
vigil.on("peer_up", function(e)
  vigil.exec({ "/bin/sh", "-c", "sleep %s & sleep %s", timeout = 60, on_exit = function() end })
end)
]], tag, tag))
    files = { path }
    local a = agents.start({ args = path })
    agents.start({ seeds = { a } })
    agents.wait(function() return running(tag) >= 2 end, 5, "the command and its child to run")
    agents.signal(a, "TERM")
    agents.wait(function() return not agents.running(a) end, 5, "the agent to exit")
    agents.wait(function() return running(tag) == 0 end, 3, "its command's group to be gone")
  end)
end)
