-- luacheck settings for vigil's Lua (make lint).
std = "luajit"
max_line_length = 120
files["spec/"] = { std = "+busted" }
-- Policies run with a global `vigil` (lua/vigil/init.lua).
files["agent.lua"] = { read_globals = { vigil = { other_fields = true, fields = { state = { other_fields = true, read_only = false } } } } }
files["examples/policies/"] = files["agent.lua"]
files["bench/micro/dispatch_policy.lua"] = files["agent.lua"]
self = false
