-- A policy that tries to leave its sandbox (issue 12, item 8): jit, debug,
-- getfenv, package, string.dump, bytecode, blocking os.execute/io.popen,
-- os.exit. The agent's policy VM refuses each; `vigil check` names them.
local agents = require("helpers.agents")

local PROBE = [[
local out = {}
local function try(name, f) local ok, v = pcall(f) out[#out + 1] = name .. "=" .. tostring(ok and v ~= nil) end
try("getfenv", function() return getfenv end)
try("setfenv", function() return setfenv end)
try("debug", function() return debug end)
try("jit", function() return jit end)
try("package", function() return package end)
try("string.dump", function() return string.dump end)
try("method_dump", function() return ("").dump end)
try("os.execute", function() return os.execute end)
try("os.exit", function() return os.exit end)
try("io.popen", function() return io.popen end)
try("dofile", function() return dofile end)
try("require_jit", function() return require("jit") end)
try("require_debug", function() return require("debug") end)
try("require_os_execute", function() return require("os").execute end)
try("require_io_popen", function() return require("io").popen end)
try("require_string_dump", function() return require("string").dump end)
try("require_runtime", function() return require("vigil.runtime") end)
try("require_cjson", function() return require("cjson") end)
try("require_package", function() return require("package") end)
try("bytecode", function() return load("\27LJ\2\0", "x") end)
try("source", function() return load("return 1", "x") end)
vigil.log.warn("probe", { result = table.concat(out, ",") })
]]

local function rss_mib(a)
  local f = io.open("/proc/" .. a.pid .. "/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  local kb = s:match("VmRSS:%s*(%d+)")
  return kb and tonumber(kb) / 1024
end

describe("a policy", function()
  local files = {}
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("that allocates without end fails at its memory limit; detection goes on; SIGTERM stops the agent", function()
    local path = agents.tmpfile([[
vigil.on("peer_up", function(e)
  local t = {}
  while true do t[#t + 1] = string.rep("x", 65536) .. #t end
end)
]])
    files[#files + 1] = path
    local a = agents.start({ args = path .. " --policy-memory 16" })
    local b = agents.start({ seeds = { a } })
    agents.wait(function()
      return agents.log(a):find("more than its memory limit of 16 MiB", 1, true) ~= nil
    end, 10, "the handler to be stopped at its memory limit")
    assert.is_true((agents.metric(a, 'vigil_policy_errors_total{event="peer_up"}') or 0) >= 1)
    assert.is_true(rss_mib(a) < 200, "rss " .. tostring(rss_mib(a)) .. " MiB")
    -- detection went on: b killed is convicted
    agents.signal(b, "KILL")
    agents.wait(function() return agents.state(a, b) == "down" end, 5, "a to convict b")
    local t0 = os.time()
    agents.signal(a, "TERM")
    agents.wait(function() return not agents.running(a) end, 3, "the agent to exit on SIGTERM")
    assert.is_true(os.time() - t0 <= 3)
  end)

  it("reaches none of what would let it escape its guards", function()
    local path = agents.tmpfile(PROBE)
    files[#files + 1] = path
    local out = agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
    local result = out:match('msg="probe" source=policy result="([^"]*)"')
    assert.truthy(result, out)
    for pair in result:gmatch("[^,]+") do
      local name, reachable = pair:match("^(.-)=(%a+)$")
      if name == "source" then
        assert.are.equal("true", reachable, "plain source still loads")
      else
        assert.are.equal("false", reachable, name .. " is reachable")
      end
    end
  end)

  it("using one of them in a handler fails `vigil check`, with the line", function()
    local path = agents.tmpfile('vigil.on("peer_down", function(e)\n  os.execute("sleep 3")\nend)\n'
      .. 'vigil.log.info("debug mode", { note = "os.execute in a string is fine" })\n')
    files[#files + 1] = path
    local out, rc = agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("line 2: os.execute is not available to policies", 1, true), out)
    assert.truthy(out:find("1 problem found: names outside the vigil API or what policies cannot reach", 1, true), out)
    out, rc = agents.run(string.format("%s check agent.lua 2>&1", agents.VIGIL))
    assert.are.equal(0, rc, out)
  end)

  it("may require its own Lua modules, which run under the same guards", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert.is_true(os.execute("mkdir -p " .. dir) == 0)
    local f = assert(io.open(dir .. "/policy_helper.lua", "w"))
    f:write('return { escaped = tostring(os.execute ~= nil or io.popen ~= nil or require("os").execute ~= nil) }\n')
    f:close()
    local path = agents.tmpfile('local h = require("policy_helper")\n'
      .. 'vigil.log.warn("helper", { escaped = h.escaped, same = tostring(require("policy_helper") == h) })\n')
    files[#files + 1] = path
    local out = agents.run(string.format("LUA_PATH='%s/?.lua;;' %s check %s 2>&1", dir, agents.VIGIL, path))
    os.execute("rm -rf " .. dir)
    assert.truthy(out:find('msg="helper" source=policy escaped=false same=true', 1, true), out)
  end)
end)
