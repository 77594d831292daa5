-- luacheck settings for vigil policies (agent.lua and the like):
--
--     luacheck --config /usr/local/share/vigil/lua/vigil/policy.luacheckrc agent.lua
--
-- A policy runs with a global `vigil` (docs/POLICIES.md, "The vigil API")
-- and LuaJIT's standard library without what a policy cannot reach
-- ("What a policy cannot do"). With this file luacheck knows both: it flags
-- `vigil.exce{}` ("accessing undefined field exce of global vigil"),
-- `vigil.log.wran(...)`, a write to `vigil.on`, `os.execute` and `jit`,
-- and lets `vigil.state` hold anything. `vigil check` finds the same names
-- without luacheck; spec/authoring_spec.lua keeps this list equal to the
-- runtime's.
--
-- Or from your own .luacheckrc: `files["policies/"] = dofile("<this file>")`.

local function fields(...)
  local t = {}
  for _, name in ipairs({ ... }) do t[name] = {} end
  return { fields = t }
end

local vigil = {
  fields = {
    on = {}, configure = {}, peers = {}, peer = {}, self = {}, mark_down = {}, threshold = {}, now = {},
    after = {}, every = {}, exec = {}, responsible = {}, tag_env = {},
    log = fields("debug", "info", "warn", "error"),
    json = fields("encode", "decode", "null"),
    state = { other_fields = true, read_only = false }, -- the policy's own: anything goes
  },
}

-- Start from luacheck's own LuaJIT standard (in `stds` when luacheck runs
-- this file as a config, from its module when another config dofile()s
-- it) and take out what the policy's environment leaves out.
local function luajit_globals()
  local std = type(stds) == "table" and stds.luajit
  if not std then
    local ok, builtin = pcall(require, "luacheck.builtin_standards")
    std = ok and type(builtin) == "table" and builtin.luajit
  end
  return type(std) == "table" and std.read_globals or {}
end
local base = luajit_globals()
local REMOVED = {
  jit = true, debug = true, package = true, getfenv = true, setfenv = true, dofile = true, module = true,
  ["string.dump"] = true, ["os.execute"] = true, ["os.exit"] = true, ["io.popen"] = true,
}
local read_globals = {}
for name, def in pairs(base) do
  if not REMOVED[name] then
    if type(def) == "table" and type(def.fields) == "table" then
      local copy = {}
      for k, v in pairs(def) do copy[k] = v end
      copy.fields = {}
      for k, v in pairs(def.fields) do
        if not REMOVED[name .. "." .. k] then copy.fields[k] = v end
      end
      def = copy
    end
    read_globals[name] = def
  end
end
read_globals.vigil = vigil

return { std = { read_globals = read_globals } }
