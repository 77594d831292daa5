-- The agent's settings: `vigil agent --help` and docs/AGENT.md's table
-- agree; a config file, VIGIL_* variables and flags in a real agent, with
-- their precedence and their errors; and what a policy's vigil.configure
-- does to them: it overrides the configured value while its generation is
-- loaded, and a reload without it restores that value (lua/vigil/runtime.lua
-- on a fake host, then in a real agent). Every wait is bounded.
-- spec/c/test_config.c has every error path of the readers.
local agents = require("helpers.agents")
local runtime = require("vigil.runtime")

local V = agents.VIGIL

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  return text
end

local function lines_with(text, plain)
  local n = 0
  for line in text:gmatch("[^\n]+") do
    if line:find(plain, 1, true) then n = n + 1 end
  end
  return n
end

-- ---------------------------------------------------------------------------
-- The documentation

--- `vigil agent --help`'s settings: flag -> {key, env, default}.
local function help_settings()
  local out, rc = agents.run(V .. " agent --help")
  assert.are.equal(0, rc)
  local settings, flag = {}, nil
  for line in out:gmatch("[^\n]+") do
    local f = line:match("^  (%-%-[%w-]+)")
    if f then flag = f end
    local def, rest = line:match("^%s+default: ([^;]+)(.*)$")
    if def and flag then
      settings[flag] = { default = def, key = rest:match("; key: ([%w_]+)") or "—",
        env = rest:match("; env: ([%w_]+)") }
      flag = nil
    end
  end
  return settings
end

--- docs/AGENT.md's Configuration table: flag -> {key, env, default}.
local function doc_settings()
  local settings, inside = {}, false
  for line in io.lines("docs/AGENT.md") do
    if line:match("^## ") then inside = line == "## Configuration" end
    if inside and line:match("^| `%-%-") then
      local cells = {}
      for cell in (line:gsub("\\|", "")):gmatch("|%s*([^|]-)%s*%f[|]") do cells[#cells + 1] = cell end
      local function bare(c) return (c:gsub("`", "")) end
      settings[cells[1]:match("^`(%-%-[%w-]+)")] =
        { key = bare(cells[2]), env = bare(cells[3]), default = bare(cells[4]) }
    end
  end
  return settings
end

describe("docs/AGENT.md's Configuration table", function()
  it("lists every setting of vigil agent --help, with the same key, variable and default", function()
    local help, doc = help_settings(), doc_settings()
    local n = 0
    for flag, h in pairs(help) do
      n = n + 1
      assert.is_table(doc[flag], flag .. " is in vigil agent --help but not in docs/AGENT.md")
      assert.are.same(h, doc[flag], flag)
    end
    for flag in pairs(doc) do assert.is_table(help[flag], flag .. " is in docs/AGENT.md but not in --help") end
    assert.is_true(n >= 19, "found " .. n .. " settings in --help")
  end)

  it("shows an example config file that loads (examples/vigil.json, beside its keyring and policy)", function()
    -- As an operator would install it: /etc/vigil/{vigil.json,keyring,agent.lua}.
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. dir) == 0)
    write(dir .. "/vigil.json", read("examples/vigil.json"))
    write(dir .. "/keyring", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n")
    write(dir .. "/agent.lua", read("agent.lua"))
    -- Its addresses are documentation's (192.0.2.0/24): run it on loopback,
    -- with its own seeds replaced (flags > file), so nothing is sent there.
    local ok, err = pcall(function()
      local port, http = agents.ports()
      local a = agents.start({ port = port, http = http,
        args = string.format("--config %s/vigil.json --seeds 127.0.0.1:%d", dir, port) })
      agents.wait(function() return agents.health(a).policy and agents.health(a).policy.loaded end, 5, "policy")
      local me = agents.members(a)[a.pname]
      assert.are.equal("eu-west-1", me.dc)
      assert.are.equal("r12", me.rack)
      assert.are.equal(dir .. "/agent.lua", agents.health(a).policy.path)
      local settings = 'msg="settings" config=' .. dir .. "/vigil.json flags=listen,seeds,http"
      assert.truthy(agents.log(a):find(settings, 1, true), agents.log(a))
    end)
    agents.stop_all()
    os.execute("rm -rf " .. dir)
    assert(ok, err)
  end)
end)

-- ---------------------------------------------------------------------------
-- vigil.configure against the configured settings, on a fake host

local function fake_host(baseline, from)
  local h = { logs = {}, configured = {} }
  function h.now() return 0 end
  function h.snapshot() return { threshold = 8, peers = {} } end
  function h.configure(t)
    h.configured[#h.configured + 1] = t
    return true
  end
  function h.log(level, msg, fields) h.logs[#h.logs + 1] = { level = level, msg = msg, fields = fields } end
  function h.call(_, fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then return true end
    return false, err, false
  end
  function h.report() end
  function h.hash() return 0 end
  function h.timer() return { stop = function() end } end
  if baseline then
    function h.baseline() return baseline, from or {} end
  end
  return h
end

local BASE = { threshold = 12, interval = 0.2, model = "normal", min_std_dev = 0.1, acceptable_pause = 2,
  refused = true, thresholds = {}, budget = 1 }

local function messages(h, level)
  local out = {}
  for _, l in ipairs(h.logs) do
    if not level or l.level == level then out[#out + 1] = l.msg end
  end
  return out
end

local function load(rt, fn) assert(rt:load(fn)) end

describe("vigil.configure against the agent's settings", function()
  it("overrides the configured value while the policy is loaded, and says so", function()
    local h = fake_host(BASE, { threshold = "--threshold" })
    local rt = runtime.new(h)
    load(rt, function(vigil) vigil.configure({ threshold = 8, interval = 0.5 }) end)
    assert.are.same({ threshold = 8, interval = 0.5 }, h.configured[1])
    local info = messages(h, "info")
    assert.truthy(info[1] == "policy overrides interval 200ms -> 500ms (configured 200ms)", info[1])
    assert.are.equal("policy overrides threshold 12 -> 8 (configured 12)", info[2])
    -- The flag was given explicitly: one warning, naming it.
    assert.are.same({ "policy overrides settings given explicitly: threshold 12 -> 8 (--threshold)" },
      messages(h, "warn"))
  end)

  it("restores the configured value when a reload no longer sets it", function()
    local h = fake_host(BASE, { threshold = "VIGIL_THRESHOLD" })
    local rt = runtime.new(h)
    load(rt, function(vigil) vigil.configure({ threshold = 8, thresholds = { dc2 = 14 }, budget = 5 }) end)
    h.logs = {}
    load(rt, function(vigil) vigil.on("peer_down", function() end) end)
    assert.are.same({ threshold = 12, thresholds = {}, budget = 1 }, h.configured[2])
    assert.are.same({ "budget restored to configured 1s", "threshold restored to configured 12",
      "thresholds restored to configured none", "policy loaded" }, messages(h, "info"))
    -- Nothing was overridden: no warning, and the next reload sends nothing.
    assert.are.same({}, messages(h, "warn"))
    load(rt, function() end)
    assert.are.equal(2, #h.configured)
  end)

  it("keeps a setting the new version still sets, and warns again on each load that overrides a flag", function()
    local h = fake_host(BASE, { threshold = "--threshold" })
    local rt = runtime.new(h)
    load(rt, function(vigil) vigil.configure({ threshold = 8 }) end)
    load(rt, function(vigil) vigil.configure({ threshold = 9 }) end)
    assert.are.same({ threshold = 9 }, h.configured[2])
    assert.are.equal(2, #messages(h, "warn"))
    assert.are.equal("policy overrides threshold 8 -> 9 (configured 12)", messages(h, "info")[3])
  end)

  it("logs nothing for a value equal to the configured one, nor warns about a setting nobody gave", function()
    local h = fake_host(BASE, {})
    local rt = runtime.new(h)
    load(rt, function(vigil) vigil.configure({ threshold = 12, acceptable_pause = 3 }) end)
    assert.are.same({ "policy overrides acceptable_pause 2s -> 3s (configured 2s)", "policy loaded" },
      messages(h, "info"))
    assert.are.same({}, messages(h, "warn")) -- acceptable_pause has no flag: nobody set it
    load(rt, function() end)
    assert.are.same({ acceptable_pause = 2, threshold = 12 }, h.configured[2])
  end)

  it("counts a handler's vigil.configure as the generation's, restored at the next reload", function()
    local h = fake_host(BASE, { interval = "/etc/vigil/vigil.json" })
    local rt = runtime.new(h)
    load(rt, function(vigil)
      vigil.on("peer_down", function() vigil.configure({ interval = 1 }) end)
    end)
    assert.are.equal(0, #h.configured)
    rt:dispatch({ type = "peer_down", peer = "127.0.0.2:1" })
    rt:dispatch({ type = "peer_down", peer = "127.0.0.3:1" })
    assert.are.same({ { interval = 1 }, { interval = 1 } }, h.configured)
    -- Logged when it changed (not again for the same value), warned once for the generation.
    assert.are.equal(1, lines_with(table.concat(messages(h, "info"), "\n"), "policy overrides interval 200ms -> 1s"))
    assert.are.same({ "policy overrides settings given explicitly: interval 200ms -> 1s (/etc/vigil/vigil.json)" },
      messages(h, "warn"))
    load(rt, function() end)
    assert.are.same({ interval = 0.2 }, h.configured[3])
  end)

  it("changes nothing when a reload fails", function()
    local h = fake_host(BASE, {})
    local rt = runtime.new(h)
    load(rt, function(vigil) vigil.configure({ threshold = 8 }) end)
    assert.is_false(rt:load(function(vigil)
      vigil.configure({ threshold = 9 })
      error("broken")
    end))
    assert.are.equal(1, #h.configured)
    load(rt, function(vigil) vigil.configure({ threshold = 8 }) end)
    assert.are.same({ threshold = 8 }, h.configured[2]) -- still overridden: nothing to restore
  end)

  it("merges settings as before on a host that has no baseline", function()
    local h = fake_host(nil)
    local rt = runtime.new(h)
    load(rt, function(vigil) vigil.configure({ threshold = 8 }) end)
    load(rt, function() end)
    assert.are.same({ { threshold = 8 } }, h.configured)
  end)
end)

-- ---------------------------------------------------------------------------
-- A real agent

describe("vigil agent's settings", function()
  local files = {}
  local function tmp(text)
    local path = agents.tmpfile(text)
    files[#files + 1] = path
    return path
  end
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("lets a policy override --threshold, with a warning, and restores it on a reload without configure", function()
    local policy = tmp("vigil.configure({ threshold = 8 })\n")
    local a = agents.start({ args = policy .. " --threshold 12" })
    agents.wait(function() return agents.metric(a, "vigil_phi_threshold") == 8 end, 5, "the policy's threshold")
    local log = agents.log(a)
    assert.truthy(log:find("threshold=12", 1, true)) -- "agent started" says what was configured
    assert.are.equal(1, lines_with(log, 'level=info msg="policy overrides threshold 12 -> 8 (configured 12)"'))
    assert.are.equal(1, lines_with(log,
      'level=warn msg="policy overrides settings given explicitly: threshold 12 -> 8 (--threshold)"'))
    write(policy, "vigil.on('peer_down', function() end)\n") -- configure removed
    local _, rc = agents.run(string.format("%s reload --http 127.0.0.1:%d", V, a.http))
    assert.are.equal(0, rc)
    agents.wait(function() return agents.metric(a, "vigil_phi_threshold") == 12 end, 5, "threshold 12 restored")
    agents.wait(function()
      return lines_with(agents.log(a), 'msg="threshold restored to configured 12"') == 1
    end, 5, "the restore to be logged")
  end)

  it("reads a config file under the environment and the flags, relative paths from the file's directory", function()
    local policy = tmp("vigil.on('peer_down', function() end)\n")
    local dir, name = policy:match("^(.*)/([^/]+)$")
    local config = tmp(string.format('{"policy": "%s", "threshold": 10, "dc": "file-dc", "rack": "file-rack", '
      .. '"interval": "300ms"}', name))
    local a = agents.start({ args = "--config " .. config .. " --interval 250ms", env = "VIGIL_DC=env-dc" })
    agents.wait(function() return agents.health(a).policy and agents.health(a).policy.loaded end, 5, "the policy")
    assert.are.equal(dir .. "/" .. name, agents.health(a).policy.path)
    assert.are.equal(10, agents.metric(a, "vigil_phi_threshold"))
    local me = agents.members(a)[a.pname]
    assert.are.equal("env-dc", me.dc)     -- env > file
    assert.are.equal("file-rack", me.rack) -- file > default
    local log = agents.log(a)
    assert.truthy(log:find("interval_ms=250", 1, true), log) -- flag > file
    assert.truthy(log:find('msg="settings" config=' .. config .. " flags=listen,http,interval env=dc "
      .. "file=policy,rack,threshold", 1, true), log)
  end)

  it("refuses a bad setting from any source with status 2, naming where it came from", function()
    local config = tmp('{"listen": "127.0.0.1:7946",\n "max_peers": "many"}')
    local cases = {
      { "--config " .. config, config .. ": max_peers: expected a whole number, got the string \"many\"" },
      { "--config " .. tmp('{"max-peers": 5}'), "unknown key 'max-peers' (did you mean 'max_peers'?)" },
      { "--config " .. tmp('{"dc": "a",'), "line 1, column" },
      { "--config /nonexistent/vigil.json", "--config: cannot read '/nonexistent/vigil.json'" },
      { "VIGIL_MAX_PEERS=many agent_cmd", "VIGIL_MAX_PEERS: expected a whole number from 0 to 16777216, got 'many'" },
      { "VIGIL_CONFIG=/nonexistent/vigil.json agent_cmd", "VIGIL_CONFIG: cannot read" },
      { "--interval fast", "--interval: expected a duration" },
    }
    for _, case in ipairs(cases) do
      local cmd
      if case[1]:find("agent_cmd", 1, true) then
        cmd = case[1]:gsub("agent_cmd", V .. " agent")
      else
        cmd = V .. " agent " .. case[1]
      end
      local out, rc = agents.run(cmd .. " 2>&1")
      assert.are.equal(2, rc, cmd)
      assert.truthy(out:find(case[2], 1, true), cmd .. " said: " .. out)
      assert.truthy(out:find("^vigil agent: "), out)
    end
  end)
end)
