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
try("bytecode", function() return load("\27LJ\2\0", "x") end)
try("source", function() return load("return 1", "x") end)
vigil.log.warn("probe", { result = table.concat(out, ",") })
]]

describe("a policy", function()
  local files = {}
  after_each(function()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
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
    assert.truthy(out:find("1 use of what policies cannot reach", 1, true), out)
    out, rc = agents.run(string.format("%s check agent.lua 2>&1", agents.VIGIL))
    assert.are.equal(0, rc, out)
  end)
end)
