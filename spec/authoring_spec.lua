-- Writing a policy (issue 13, "Policy authoring"): `vigil check` and the
-- runtime name a misspelt vigil field with the closest real one, found
-- statically even inside handlers; the shipped luacheck config and the LuaLS
-- definitions (lua/vigil/meta/vigil.lua) describe exactly the API the
-- runtime gives, so they cannot drift from it.
local agents = require("helpers.agents")
local api = require("vigil")
local check = require("vigil.check")
local runtime = require("vigil.runtime")
local testing = require("vigil.testing")

local META = "lua/vigil/meta/vigil.lua"
local LUACHECKRC = "lua/vigil/policy.luacheckrc"
-- agent.lua and every example policy
local POLICIES = { "agent.lua" }
for p in agents.run("ls examples/policies/*.lua"):gmatch("[^\n]+") do POLICIES[#POLICIES + 1] = p end

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

local function vigil_check(path)
  return agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
end

local function luacheck(path)
  return agents.run(string.format("luacheck --no-color --codes --config %s %s 2>&1", LUACHECKRC, path))
end

local sorted = require("helpers.sets").sorted

-- ---- what the meta file declares ------------------------------------------------

-- Names declared as `function vigil.x(` or `vigil.x = `.
local function meta_names(src)
  local names = {}
  for line in src:gmatch("[^\n]+") do
    local n = line:match("^function (vigil%.[%w_.]+)%(") or line:match("^(vigil%.[%w_.]+) = ")
    if n then names[n] = true end
  end
  return names
end

-- The fields of a ---@class, its parents' included: name -> "required" | "optional".
local function class_fields(src, class)
  local fields, parent, inside = {}, nil, false
  for line in (src .. "\n"):gmatch("([^\n]*)\n") do
    local name, base = line:match("^%-%-%-@class ([%w_.]+):?%s*([%w_.]*)")
    if name then
      inside = name == class
      if inside and base ~= "" then parent = base end
    elseif inside and line:match("^%-%-%-") then
      local f, opt = line:match("^%-%-%-@field ([%w_]+)(%??)")
      if f then fields[f] = opt == "?" and "optional" or "required" end
    elseif not line:match("^%-%-%-") then
      inside = false
    end
  end
  if parent then
    for f, how in pairs(class_fields(src, parent)) do fields[f] = fields[f] or how end
  end
  return fields
end

-- The values of a ---@alias written as `---| "value"` lines.
local function alias_values(src, alias)
  local values, inside = {}, false
  for line in src:gmatch("[^\n]+") do
    if line:match("^%-%-%-@alias ") then
      inside = line:match("^%-%-%-@alias ([%w_.]+)") == alias
    elseif inside and line:match('^%-%-%-| "') then
      values[line:match('^%-%-%-| "([^"]+)"')] = true
    elseif not line:match("^%-%-%-") then
      inside = false
    end
  end
  return values
end

-- ---- what the runtime gives ------------------------------------------------------

-- The names a policy's `vigil` holds, enumerated inside a real policy (a file
-- loaded by the runtime, in the policy environment) and logged.
local ENUMERATE = [[
local function walk(t, prefix)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  local mt = getmetatable(t)
  for k in pairs(mt and mt.vigil_known or {}) do names[#names + 1] = k end -- known, possibly nil (json.null)
  for _, k in ipairs(names) do
    vigil.log.info("api", { name = prefix .. "." .. k })
    local v = rawget(t, k)
    if type(v) == "table" and k ~= "state" then walk(v, prefix .. "." .. k) end
  end
end
walk(vigil, "vigil")
]]

local function runtime_names()
  local path = agents.tmpfile(ENUMERATE)
  local sim = testing.cluster({ self = "127.0.0.1:7946", peers = { "127.0.0.2:7946" } })
  sim:load(path)
  os.remove(path)
  local names = {}
  for _, l in ipairs(sim.logs) do
    if l.msg == "api" then names[l.values.name] = true end
  end
  return names
end

-- The names in a luacheck field definition, as full paths; `open` for a
-- table that takes any field.
local function luacheck_names(def, prefix, out)
  for k, v in pairs(def.fields or {}) do
    local full = prefix .. "." .. k
    out[full] = true
    if v.other_fields then out[full] = "open" end
    luacheck_names(v, full, out)
  end
  return out
end

describe("vigil check", function()
  local files = {}
  local function policy(text)
    local path = agents.tmpfile(text)
    files[#files + 1] = path
    return path
  end
  after_each(function()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("rejects vigil.exce{} with file:line and the name it meant", function()
    local path = policy('vigil.configure({ threshold = 8 })\nvigil.exce({ "/bin/true" })\n')
    local out, rc = vigil_check(path)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(path .. ": line 2: vigil.exce is not part of the vigil API (did you mean vigil.exec?)",
      1, true), out)
    -- and loading it (as the agent would) fails at the same line, same words
    assert.truthy(out:find(":2: vigil.exce is not part of the vigil API (did you mean vigil.exec?)", 1, true), out)
  end)

  it("finds a typo inside a handler that loading never runs", function()
    local path = policy(table.concat({
      'vigil.on("peer_down", "page", function(ev)',
      '  if ev.cause == "refused" then',
      '    vigil.log.wran("process gone", { peer = ev.peer })',
      "  end",
      "  vigil.mark_dwon(ev.peer)",
      "end)",
      "",
    }, "\n"))
    local out, rc = vigil_check(path)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(path .. ": line 3: vigil.log.wran is not part of the vigil API (did you mean "
      .. "vigil.log.warn?)", 1, true), out)
    assert.truthy(out:find(path .. ": line 5: vigil.mark_dwon is not part of the vigil API (did you mean "
      .. "vigil.mark_down?)", 1, true), out)
    assert.falsy(out:find(": ok (", 1, true), out)
  end)

  it("reads code, not strings or comments, and knows a name from another table of vigil", function()
    local path = policy(table.concat({
      "-- vigil.exce in a comment is fine",
      "--[[ and in a long comment,",
      "     vigil.exce{} on its second line ]]",
      'local doc = [==[ vigil.exce{} in a long string',
      "  over two lines ]==]",
      'local s = "vigil.exce" .. \'vigil.log.wran\' .. "\\"vigil.exce"',
      "local t = { vigil = { exce = 1 } }",
      "vigil.state.anything = { goes = t.vigil.exce }",
      "local null = vigil.json.null",
      'vigil.on("peer_up", function(ev) vigil.log.info("up", { peer = ev.peer, doc = doc, s = s, n = null }) end)',
      "vigil.warn('x')",
      "",
    }, "\n"))
    local out, rc = vigil_check(path)
    assert.are.equal(1, rc, out)
    local _, findings = out:gsub(path:gsub("%p", "%%%0") .. ": line %d+: ", "")
    assert.are.equal(1, findings, out)
    assert.truthy(out:find(path .. ": line 11: vigil.warn is not part of the vigil API (did you mean "
      .. "vigil.log.warn?)", 1, true), out)
  end)

  it("passes agent.lua and every example policy", function()
    assert.is_true(#POLICIES >= 6, table.concat(POLICIES, " "))
    for _, p in ipairs(POLICIES) do
      local out, rc = vigil_check(p)
      assert.are.equal(0, rc, out)
      assert.truthy(out:find(p .. ": ok (", 1, true), out)
    end
  end)
end)

describe("the vigil table a policy gets", function()
  local function sim_with(src)
    local path = agents.tmpfile(src)
    local sim = testing.cluster({ self = "127.0.0.1:7946", peers = { "127.0.0.2:7946" }, interval = 1 })
    local ok, err = sim:try_load(path)
    os.remove(path)
    return sim, ok, err, path
  end

  it("raises on an unknown name, read, called or set, at the policy's line with the hint", function()
    local _, ok, err, path = sim_with("local x = 1\nlocal exe = vigil.exce\n")
    assert.is_false(ok)
    assert.truthy(err:find(path .. ":2: vigil.exce is not part of the vigil API (did you mean vigil.exec?)", 1, true),
      err)
    _, ok, err = sim_with("vigil.json.decoded('{}')\n")
    assert.is_false(ok)
    assert.truthy(err:find(":1: vigil.json.decoded is not part of the vigil API (did you mean vigil.json.decode?)",
      1, true), err)
    _, ok, err = sim_with("vigil.helpers = {}\n")
    assert.is_false(ok)
    assert.truthy(err:find(":1: vigil.helpers is not part of the vigil API", 1, true), err)
    assert.truthy(err:find("keep your own values in vigil.state", 1, true), err)
    _, ok, err = sim_with("vigil.timer(1, function() end)\n")
    assert.is_false(ok)
    assert.truthy(err:find('vigil.timer is not part of the vigil API (docs/POLICIES.md, "The vigil API")', 1, true),
      err)
  end)

  it("names the typo when a handler reaches it, through a local alias too", function()
    local sim, ok, err = sim_with(table.concat({
      "local log = vigil.log",
      'vigil.on("peer_down", function(ev)',
      '  log.wran("down", { peer = ev.peer })',
      "end)",
      "",
    }, "\n"))
    assert.is_true(ok, err)
    sim:advance(5)
    sim:crash("127.0.0.2:7946")
    sim:advance(5)
    assert.are.equal(1, #sim.errors)
    assert.are.equal("peer_down", sim.errors[1].kind)
    assert.truthy(sim.errors[1].err:find(":3: vigil.log.wran is not part of the vigil API (did you mean "
      .. "vigil.log.warn?)", 1, true), sim.errors[1].err)
  end)

  it("still gives everything it has, nil values included, and rawget to probe for a newer name", function()
    local sim, ok, err = sim_with(table.concat({
      "vigil.state.n = (vigil.state.n or 0) + 1",
      'vigil.log.info("probe", { json = type(vigil.json.encode), null = tostring(vigil.json.null ~= nil),',
      '  future = tostring(rawget(vigil, "some_future_call")), now = type(vigil.now()) })',
      "",
    }, "\n"))
    assert.is_true(ok, err)
    local v
    for _, l in ipairs(sim.logs) do
      if l.msg == "probe" then v = l.values end
    end
    assert.are.same({ json = "function", null = "true", future = "nil", now = "number" }, v)
  end)
end)

describe("vigil.check", function()
  it("counts a swap of two letters as one typo, and suggests only close names", function()
    assert.are.equal(1, check.distance("exce", "exec"))
    assert.are.equal(1, check.distance("wran", "warn"))
    assert.are.equal(3, check.distance("kitten", "sitting"))
    local tree = api.api()
    assert.are.equal("vigil.exec", check.suggest(tree, "vigil", "exce"))
    assert.are.equal("vigil.peers", check.suggest(tree, "vigil", "pears"))
    assert.are.equal("vigil.log.warn", check.suggest(tree, "vigil.log", "warning"))
    assert.are.equal("vigil.json.encode", check.suggest(tree, "vigil", "encode"))
    assert.is_nil(check.suggest(tree, "vigil", "frobnicate"))
    assert.is_nil(check.suggest(tree, "vigil", "phi"))
  end)

  it("keeps line numbers across long strings, comments and escaped newlines", function()
    local toks = check.tokens('--[[\n\n]] local a = [[\n\n]] .. "x\\\ny" .. "p\\z\n  q"\n#\nvigil.exce')
    local last = toks[#toks]
    assert.are.same({ kind = "name", value = "exce", line = 9 }, last)
  end)
end)

describe("luacheck --config " .. LUACHECKRC, function()
  it("is clean on agent.lua and every example policy", function()
    for _, p in ipairs(POLICIES) do
      local out, rc = luacheck(p)
      assert.are.equal(0, rc, out)
    end
  end)

  it("flags vigil.exce, vigil.log.wran, a write to vigil.on and what a policy cannot reach", function()
    local lines = { 'vigil.exce({ "x" })', 'vigil.log.wran("x")', "vigil.on = nil", "vigil.state.mine = 1" }
    for name in pairs(api.FORBIDDEN) do
      lines[#lines + 1] = string.format("print(%s)", name)
    end
    local path = agents.tmpfile(table.concat(lines, "\n") .. "\n")
    local out, rc = luacheck(path)
    os.remove(path)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(":1:1: (W143) accessing undefined field 'exce' of global 'vigil'", 1, true), out)
    assert.truthy(out:find(":2:1: (W143) accessing undefined field 'log.wran' of global 'vigil'", 1, true), out)
    assert.truthy(out:find(":3:1: (W122) setting read-only field 'on' of global 'vigil'", 1, true), out)
    assert.falsy(out:find(":4:", 1, true), out)
    for i = 5, #lines do
      assert.truthy(out:find(":" .. i .. ":%d+: %(W1[14]3%) accessing undefined"), lines[i] .. "\n" .. out)
    end
  end)
end)

describe("the API's descriptions cannot drift from the runtime", function()
  local meta = read(META)
  local names = runtime_names()

  it("found the runtime's names (the enumeration works)", function()
    assert.truthy(names["vigil.exec"] and names["vigil.log.warn"] and names["vigil.json.null"]
      and names["vigil.state"])
  end)

  it("the LuaLS definitions declare every name a policy's vigil has, and no other", function()
    assert.are.same(sorted(names), sorted(meta_names(meta)))
  end)

  it("the LuaLS definitions declare every setting vigil.configure takes, and no other", function()
    local settings = {}
    for k in pairs(api.SETTINGS) do settings[k] = true end
    assert.are.same(sorted(settings), sorted(class_fields(meta, "vigil.Settings")))
  end)

  it("the LuaLS definitions declare every event vigil.on takes", function()
    assert.are.same(sorted(runtime.EVENTS), sorted(alias_values(meta, "vigil.EventName")))
  end)

  it("the LuaLS definitions declare every option vigil.exec takes", function()
    local options = {}
    for k in read("lua/vigil/exec.lua"):gmatch('k == "([%w_]+)"') do options[k] = true end
    assert.is_true(next(options) ~= nil)
    assert.are.same(sorted(options), sorted(class_fields(meta, "vigil.ExecSpec")))
  end)

  it("the LuaLS definitions declare the fields of the events and peers a policy gets", function()
    local path = agents.tmpfile([[
vigil.on("transition", function(ev)
  local keys = {}
  for k in pairs(ev) do keys[#keys + 1] = k end
  table.sort(keys)
  vigil.log.info("event", { type = ev.type, keys = table.concat(keys, " ") })
end)
vigil.every(1, function()
  for _, p in ipairs(vigil.peers()) do
    local keys = {}
    for k in pairs(p) do keys[#keys + 1] = k end
    table.sort(keys)
    vigil.log.info("peer", { keys = table.concat(keys, " ") })
  end
end)
]])
    local a, b = "127.0.0.2:7946", "127.0.0.3:7946"
    local sim = testing.cluster({ self = "127.0.0.1:7946", peers = { a, b }, interval = 1 })
    sim:load(path)
    os.remove(path)
    sim:advance(10)  -- joined, up
    sim:crash(a)     -- down
    sim:advance(10)
    sim:recover(a)   -- restarted, up
    sim:advance(10)
    sim:leave(b)     -- down, left
    sim:advance(10)
    local class = { peer_up = "vigil.PeerUpEvent", peer_down = "vigil.PeerDownEvent",
      peer_joined = "vigil.PeerJoinedEvent", peer_left = "vigil.PeerLeftEvent",
      peer_restarted = "vigil.PeerRestartedEvent" }
    local seen = {}
    for _, l in ipairs(sim.logs) do
      local msg, keys = l.msg, l.values.keys
      local cls = msg == "event" and class[l.values.type] or msg == "peer" and "vigil.Peer"
      if cls then
        local declared = class_fields(meta, cls)
        seen[cls] = seen[cls] or {}
        for k in keys:gmatch("%S+") do
          assert.truthy(declared[k], string.format("%s has field '%s' (%s): not declared in %s", cls, k, keys, META))
          seen[cls][k] = true
        end
        for k, how in pairs(declared) do
          if how == "required" then
            assert.truthy(keys:find("%f[%w_]" .. k .. "%f[^%w_]"), string.format("%s declares '%s' but got only %s",
              cls, k, keys))
          end
        end
      end
    end
    assert.are.same({ "vigil.Peer", "vigil.PeerDownEvent", "vigil.PeerJoinedEvent", "vigil.PeerLeftEvent",
      "vigil.PeerRestartedEvent", "vigil.PeerUpEvent" }, sorted(seen))
  end)

  it("the shipped luacheck config knows every name a policy's vigil has, and no other", function()
    local conf = dofile(LUACHECKRC)
    local declared = luacheck_names(conf.std.read_globals.vigil, "vigil", {})
    assert.are.same(sorted(names), sorted(declared))
    assert.are.equal("open", declared["vigil.state"])
  end)
end)
