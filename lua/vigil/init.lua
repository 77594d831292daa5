--- vigil - the API a policy (agent.lua) is written against.
---
--- A policy is a Lua file the agent runs on its script thread. It gets a
--- global `vigil` with the functions below. Events arrive in order; reads
--- (`vigil.peers()`, `vigil.peer()`, ...) come from a snapshot the detector
--- publishes every tick; writes (`vigil.configure`, `vigil.mark_down`) are
--- sent to the detector, which applies them between two of its ticks. A
--- handler that raises or runs past its budget is stopped, logged and
--- counted, never the agent. docs/POLICIES.md is the guide.
local json = require("vigil.json")
local text = require("vigil.text")

local M = {}

-- Settings that existed once: their names get a reason, not "unknown".
local REMOVED = {
  fanout = "removed in protocol 2: an agent sends to its observers and subjects only, whatever the "
    .. "cluster size, so there is nothing to choose (docs/PROTOCOL.md, \"Observers\")",
}

local SETTINGS = {
  threshold = "number > 0",
  interval = "seconds from 0.001 to 3600",
  model = '"normal" or "exponential"',
  min_std_dev = "seconds from 0.001 to 3600",
  acceptable_pause = "seconds from 0 to 3600",
  refused = "true or false",
  thresholds = "table of dc or pname -> number > 0",
  budget = "seconds from 0.001 to 60",
}

local function fail(fmt, ...)
  error(string.format(fmt, ...), 3)
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

--- Check a vigil.configure table; returns a clean copy or raises (naming
--- the setting, at the policy's line) without changing anything.
local function check_settings(t)
  local function bad(fmt, ...) -- level 4: bad, check_settings, configure, the policy
    error(string.format(fmt, ...), 4)
  end
  if type(t) ~= "table" then bad("vigil.configure: expected a table of settings, got %s", type(t)) end
  local out = {}
  for k, v in pairs(t) do
    local want = SETTINGS[k]
    if REMOVED[k] then bad("vigil.configure: %s: %s", k, REMOVED[k]) end
    if not want then bad("vigil.configure: unknown setting '%s'", tostring(k)) end
    local ok
    if k == "threshold" then
      ok = finite(v) and v > 0
    elseif k == "interval" or k == "min_std_dev" then
      ok = finite(v) and v >= 0.001 and v <= 3600
    elseif k == "acceptable_pause" then
      ok = finite(v) and v >= 0 and v <= 3600
    elseif k == "budget" then
      ok = finite(v) and v >= 0.001 and v <= 60
    elseif k == "refused" then
      ok = type(v) == "boolean"
    elseif k == "model" then
      ok = v == "normal" or v == "exponential"
    elseif k == "thresholds" then
      ok = type(v) == "table"
      local n = 0
      if ok then
        local copy = {}
        for key, th in pairs(v) do
          n = n + 1
          if type(key) ~= "string" or key == "" or #key > 127 then
            bad("vigil.configure: thresholds: keys must be dc names or pnames, got %s", tostring(key))
          end
          if not (finite(th) and th > 0) then
            bad("vigil.configure: thresholds['%s'] must be a number > 0, got %s", key, tostring(th))
          end
          copy[key] = th
        end
        if n > 64 then bad("vigil.configure: thresholds: at most 64 entries, got %d", n) end
        v = copy
      end
    end
    if not ok then bad("vigil.configure: %s must be %s, got %s", k, want, tostring(v)) end
    out[k] = v
  end
  return out
end

local function check_seconds(fn, s)
  if not (finite(s) and s >= 0) then fail("%s: expected seconds >= 0, got %s", fn, tostring(s)) end
end

-- Keys the agent writes on every line: a policy's field must not pass for one.
local RESERVED_KEYS = { ts = true, level = true, msg = true, source = true }

--- Log fields as the host takes them: a list {k1, v1, k2, v2, ...} sorted
--- by key, values as text (numbers %.6g). A key must be 1 to 64 of
--- [A-Za-z0-9_.-] and not ts, level, msg or source: any other raises an
--- error at `level` (the policy's line), rather than be renamed into
--- something that could collide. A value can be anything: the log quotes
--- and escapes it (core/runtime/log.c). A non-table is one field, value.
---@param fields table|nil
---@param level? integer error level of the caller to blame
---@return table list
local function log_fields(fields, level)
  level = (level or 1) + 1
  if fields == nil then return {} end
  if type(fields) ~= "table" then return { "value", tostring(fields) } end
  local keys, by_name = {}, {}
  for k, v in pairs(fields) do
    local name = k
    if type(k) == "number" then name = string.format("%.14g", k) end
    if type(name) ~= "string" then
      error(string.format("vigil.log: a field name must be a string, got %s", type(k)), level)
    end
    if #name == 0 or #name > 64 or name:find("[^A-Za-z0-9_%.%-]") then
      error(string.format("vigil.log: bad field name %s: use 1 to 64 of A-Z a-z 0-9 _ . -", string.format("%q", name)),
        level)
    end
    if RESERVED_KEYS[name] then
      error(string.format("vigil.log: field name '%s' is the agent's own (ts, level, msg, source)", name), level)
    end
    keys[#keys + 1] = name
    by_name[name] = v
  end
  table.sort(keys)
  local list = {}
  for _, k in ipairs(keys) do
    local v = by_name[k]
    list[#list + 1] = k
    list[#list + 1] = type(v) == "number" and string.format("%.6g", v) or tostring(v)
  end
  return list
end

M.log_fields = log_fields

--- Log fields as the agent writes them ("a=1 b=\"two words\""), for specs
--- and vigil.testing: log_fields, then the log's quoting (vigil.text).
---@param fields table|nil
---@return string
local function fields_string(fields) return text.logfmt(log_fields(fields, 2)) end

M.fields_string = fields_string

--- Build the `vigil` table a policy sees, bound to runtime rt and the
--- generation g being loaded.
function M.new(rt, g)
  local host = rt.host
  local vigil = {}

  --- Subscribe to an event: peer_up, peer_down, peer_joined, peer_left,
  --- peer_restarted, transition (any of those) or lagged. The handler gets
  --- {type, peer, dc, rack, state, previous, phi, at} (lagged: {type,
  --- missed, at}). A named handler replaces the one of the same name.
  ---@param event string
  ---@param name_or_fn string|function a name, or the handler
  ---@param fn? function the handler, when a name was given
  function vigil.on(event, name_or_fn, fn)
    local name = name_or_fn
    if type(name_or_fn) == "function" and fn == nil then
      name, fn = nil, name_or_fn
    end
    if not rt.EVENTS[event] then
      fail("vigil.on: unknown event '%s' (peer_up, peer_down, peer_joined, peer_left, peer_restarted, "
        .. "transition, lagged)", tostring(event))
    end
    if name ~= nil and type(name) ~= "string" then fail("vigil.on: the name must be a string, got %s", type(name)) end
    if type(fn) ~= "function" then fail("vigil.on: the handler must be a function, got %s", type(fn)) end
    rt:add_handler(g, event, name, fn)
  end

  --- Tune the detector and the runtime, live. Settings: threshold,
  --- interval, model, min_std_dev, acceptable_pause, refused (convict an
  --- overdue peer whose port is closed), thresholds =
  --- {dc2 = 12, ["host:port"] = 10}, budget (seconds a handler may run).
  --- A bad value raises an error naming it, and nothing changes.
  ---@param settings table
  function vigil.configure(settings)
    local clean = check_settings(settings)
    if g.loading then
      g.config = g.config or {}
      for k, v in pairs(clean) do g.config[k] = v end
    else
      host.configure(clean)
    end
  end

  --- Every peer the agent knows (itself included), from the latest snapshot.
  ---@return table[] {pname, dc, rack, state, phi, since, generation, is_local, threshold}
  function vigil.peers()
    local snap = host.snapshot()
    return snap and snap.peers or {}
  end

  --- One peer by pname, or nil.
  ---@param pname string
  ---@return table|nil
  function vigil.peer(pname)
    if type(pname) ~= "string" then fail("vigil.peer: expected a pname string, got %s", type(pname)) end
    for _, p in ipairs(vigil.peers()) do
      if p.pname == pname then return p end
    end
    return nil
  end

  --- This agent, as a peer table.
  ---@return table|nil
  function vigil.self()
    for _, p in ipairs(vigil.peers()) do
      if p.is_local then return p end
    end
    return nil
  end

  --- Mark a peer down now, without waiting for the detector.
  ---@param pname string
  function vigil.mark_down(pname)
    if type(pname) ~= "string" then fail("vigil.mark_down: expected a pname string, got %s", type(pname)) end
    return host.mark_down(pname)
  end

  --- The conviction threshold in force.
  ---@return number
  function vigil.threshold()
    local snap = host.snapshot()
    return snap and snap.threshold or 8
  end

  --- Monotonic time in seconds (the detector's clock; virtual in specs).
  ---@return number
  function vigil.now() return host.now() end

  local function timer(fn_name, delay, period, fn)
    check_seconds(fn_name, delay)
    if type(fn) ~= "function" then fail("%s: the callback must be a function, got %s", fn_name, type(fn)) end
    if period and period <= 0 then fail("%s: the period must be > 0", fn_name) end
    local t = { running = false }
    function t.start()
      if t.running then return end
      t.running = true
      t.h = host.timer(delay, period or 0, function()
        if not period then t.running = false end
        fn()
      end)
    end
    --- Stop the timer; it will not fire again.
    function t.stop()
      if t.h then t.h:stop() end
      t.running = false
    end
    if g.loading then
      g.timers[#g.timers + 1] = t
    else
      t.start()
      local active = rt.active
      if active then active.timers[#active.timers + 1] = t end
    end
    return t
  end

  --- Run fn once, s seconds from now. Returns a timer with :stop().
  ---@param s number seconds
  ---@param fn function
  function vigil.after(s, fn) return timer("vigil.after", s, nil, fn) end

  --- Run fn every s seconds. Returns a timer with :stop().
  ---@param s number seconds (> 0)
  ---@param fn function
  function vigil.every(s, fn)
    if not (finite(s) and s > 0) then fail("vigil.every: expected seconds > 0, got %s", tostring(s)) end
    return timer("vigil.every", s, s, fn)
  end

  --- Run a command, asynchronously, never through a shell:
  --- vigil.exec{"cmd", "arg", timeout = 10, env = {K = "v"}, stdin = "...",
  --- retries = 0, backoff = 1, on_exit = function(code, stdout, stderr, why) end}.
  --- Killed at the timeout (TERM, then KILL), retried with exponential
  --- backoff on failure, queued behind the running ones. Returns true, or
  --- nil and why when the queue is full.
  ---@param spec table
  function vigil.exec(spec) return rt.exec:submit(spec, 2) end

  --- Structured logs, on the agent's stderr: vigil.log.info("msg", {k = v}).
  --- Every value is quoted and escaped as it needs; field names are
  --- [A-Za-z0-9_.-] (others raise). docs/POLICIES.md, "Logging".
  vigil.log = {}
  for _, level in ipairs({ "debug", "info", "warn", "error" }) do
    vigil.log[level] = function(msg, fields)
      host.log(level, tostring(msg), log_fields(fields, 2))
    end
  end

  --- JSON from lua-cjson (vigil.json.encode(value) -> text, raises on
  --- what JSON cannot carry; vigil.json.decode(text) -> value, or nil and
  --- why; vigil.json.null). Without lua-cjson both raise saying so.
  vigil.json = { encode = json.encode, decode = json.decode, null = json.null }

  --- A table that survives reloads: keep counters and memories here.
  vigil.state = rt.state

  --- True on exactly one live agent for a given peer: a reaction guarded by
  --- it runs once per cluster, not once per agent. The choice is rendezvous
  --- hashing over the normal agents (the peer itself excluded), so every
  --- agent that sees the same live set picks the same one.
  ---@param pname string
  ---@return boolean
  function vigil.responsible(pname)
    if type(pname) ~= "string" then fail("vigil.responsible: expected a pname string, got %s", type(pname)) end
    local best, best_score, me
    for _, p in ipairs(vigil.peers()) do
      if p.is_local then me = p.pname end
      if p.state == "normal" and p.pname ~= pname then
        local score = host.hash(pname .. "\0" .. p.pname)
        if not best or score > best_score or (score == best_score and p.pname < best) then
          best, best_score = p.pname, score
        end
      end
    end
    return best ~= nil and best == me
  end

  return vigil
end

--- What a policy cannot reach, and why: each would let it escape the
--- handler budget, the agent's process or its own environment. `vigil
--- check` names any use of them (M.forbidden_uses).
M.FORBIDDEN = {
  jit = "it turns the JIT back on, past the budget's hook",
  debug = "debug.sethook removes the budget's hook",
  package = "package.loaded reaches jit and debug, package.loadlib loads C code",
  getfenv = "it reaches the agent's own environment",
  setfenv = "it rewrites other functions' environments",
  ["string.dump"] = "bytecode can crash the VM",
  ["os.execute"] = "it blocks the policy thread: use vigil.exec",
  ["io.popen"] = "it blocks the policy thread: use vigil.exec",
  ["os.exit"] = "it would stop the agent",
  dofile = "it runs files outside the policy's guards: use require",
}

local function without(lib, names)
  local copy = {}
  for k, v in pairs(lib) do copy[k] = v end
  for _, n in ipairs(names) do copy[n] = nil end
  return copy
end

--- The global environment a policy file runs in: the standard library
--- without what would defeat the runtime's guards (M.FORBIDDEN), and
--- `vigil`. Source only: load/loadstring/loadfile refuse bytecode.
function M.environment(vigil)
  local env = {}
  for k, v in pairs(_G) do env[k] = v end
  env.jit, env.debug, env.package, env.getfenv, env.setfenv, env.dofile, env._G = nil, nil, nil, nil, nil, nil, env
  env.string = without(string, { "dump" })
  env.os = without(os, { "execute", "exit" })
  env.io = without(io, { "popen" })
  local real_load, real_loadstring, real_loadfile = load, loadstring, loadfile
  env.load = function(chunk, name) return real_load(chunk, name, "t") end
  env.loadstring = function(s, name) return real_load(s, name, "t") end
  env.loadfile = function(path) return real_loadfile(path, "t") end
  if real_loadstring == nil then env.loadstring = nil end
  env.vigil = vigil
  env.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    vigil.log.info(table.concat(parts, "\t"))
  end
  env.require = M.policy_require(env, vigil)
  return env
end

-- The standard libraries a policy may name in require: its own, guarded
-- copies (require("os") must not hand back the real os.execute).
local POLICY_LIBS = { string = true, table = true, math = true, os = true, io = true, coroutine = true, bit = true }

--- `require` as a policy sees it: "vigil", the guarded standard libraries,
--- and Lua source modules on package.path, run in the policy's own
--- environment (so they are bound by the same guards). Never C modules,
--- jit, ffi, debug, package or the agent's own modules (vigil.*): each
--- would hand back what the environment takes away.
function M.policy_require(env, vigil)
  local loaded = {}
  return function(name)
    if type(name) ~= "string" then error("require: expected a module name", 2) end
    if name == "vigil" then return vigil end
    if POLICY_LIBS[name] then return env[name] or require(name) end
    if name == "jit" or name:match("^jit%.") or name == "ffi" or name == "debug" or name == "package"
      or name:match("^vigil%.") then
      error("require '" .. name .. "': not available to policies (it would reach past the policy's guards)", 2)
    end
    if loaded[name] ~= nil then return loaded[name] end
    local path = package.searchpath(name, package.path)
    if not path then
      error("require '" .. name .. "': no Lua module of that name on the policy path "
        .. "(C modules are not available to policies)", 2)
    end
    local chunk, err = loadfile(path, "t")
    if not chunk then error("require '" .. name .. "': " .. tostring(err), 2) end
    setfenv(chunk, env)
    local value = chunk(name)
    if value == nil then value = true end
    loaded[name] = value
    return value
  end
end

--- Uses of what a policy cannot reach, found in its source: a list of
--- "line N: NAME is not available to policies (WHY)" (empty when none).
--- A static scan, for `vigil check`: the environment is what enforces it.
function M.forbidden_uses(source)
  local found, n = {}, 0
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    -- strings and comments say what they like ("debug mode" is fine)
    local code = line:gsub('"[^"]*"', '""'):gsub("'[^']*'", "''"):gsub("%-%-.*$", "")
    for name, why in pairs(M.FORBIDDEN) do
      local pat = "%f[%w_.]" .. name:gsub("%.", "%%.") .. "%f[^%w_]"
      if code:find(pat) then found[#found + 1] = { n, name, why } end
    end
  end
  table.sort(found, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local out = {}
  for i, f in ipairs(found) do
    out[i] = string.format("line %d: %s is not available to policies (%s)", f[1], f[2], f[3])
  end
  return out
end

return M
