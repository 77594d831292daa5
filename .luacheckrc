-- luacheck settings for vigil's Lua (make lint).
std = "luajit"
max_line_length = 120
files["spec/"] = { std = "+busted" }
-- Policies run with a global `vigil` and without what a policy cannot
-- reach: the settings vigil ships for them (lua/vigil/policy.luacheckrc).
local function policy_config()
  for _, up in ipairs({ "", "../", "../../", "../../../" }) do -- luacheck may run in a subdirectory
    local chunk = loadfile(up .. "lua/vigil/policy.luacheckrc")
    if chunk then return chunk() end
  end
  error("lua/vigil/policy.luacheckrc not found: run luacheck inside the repository")
end
files["agent.lua"] = policy_config()
files["examples/policies/"] = files["agent.lua"]
files["bench/micro/dispatch_policy.lua"] = files["agent.lua"]
-- LuaLS definitions: they declare the global `vigil`, with empty bodies.
files["lua/vigil/meta/"] = { globals = { "vigil" }, unused_args = false }
self = false
