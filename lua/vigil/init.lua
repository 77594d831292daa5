--- vigil - the API a policy (agent.lua) is written against.
---
--- A policy is a Lua file the agent runs on its script thread. It gets a
--- global `vigil` with the functions below. Events arrive in order; reads
--- (`vigil.peers()`, `vigil.peer()`, ...) come from a snapshot the detector
--- publishes every tick; writes (`vigil.configure`, `vigil.mark_down`) are
--- sent to the detector, which applies them between two of its ticks. A
--- handler that raises or runs past its budget is stopped, logged and
--- counted, never the agent. docs/POLICIES.md is the guide.
local check = require("vigil.check")
local json = require("vigil.json")
local text = require("vigil.text")

local M = {}

-- Settings that existed once: their names get a reason, not "unknown".
local REMOVED = {
  fanout = "removed in protocol 2: an agent sends to its observers and subjects only, whatever the "
    .. "cluster size, so there is nothing to choose (docs/PROTOCOL.md, \"Observers\")",
}

local function fail(fmt, ...)
  error(string.format(fmt, ...), 3)
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

local function positive(v) return finite(v) and v > 0 end

local function seconds(lo, hi)
  return function(v) return finite(v) and v >= lo and v <= hi end
end

--- What vigil.configure takes: one row per setting, and nothing about a
--- setting anywhere else in this file. `want` is what the error says a
--- value must be; `ok(v)` checks a value. A row with `map` takes a table
--- of dc or pname -> value (at most 64), each value checked with `ok` and
--- described by `map`; with nothing configured, a map is empty. `unit =
--- "s"` shows values as durations in the logs (200ms, 2s). To add a
--- setting: a row here, and what the host does with it
--- (bindings/lua_event.h, vigil_lua_to_configure; the runtime's baseline,
--- bindings/host.c l_baseline, when the operator can set it too).
local ROWS = {
  threshold = { want = "number > 0", ok = positive },
  interval = { want = "seconds from 0.001 to 3600", ok = seconds(0.001, 3600), unit = "s" },
  model = { want = '"normal" or "exponential"', ok = function(v) return v == "normal" or v == "exponential" end },
  min_std_dev = { want = "seconds from 0.001 to 3600", ok = seconds(0.001, 3600), unit = "s" },
  acceptable_pause = { want = "seconds from 0 to 3600", ok = seconds(0, 3600), unit = "s" },
  refused = { want = "true or false", ok = function(v) return type(v) == "boolean" end },
  thresholds = { want = "table of dc or pname -> number > 0", map = "a number > 0", ok = positive },
  acceptable_pauses = { want = "table of dc or pname -> seconds from 0 to 3600", map = "seconds from 0 to 3600",
    ok = seconds(0, 3600), unit = "s" },
  budget = { want = "seconds from 0.001 to 60", ok = seconds(0.001, 60), unit = "s" },
}

-- name -> what it must be (M.SETTINGS, for tools), and the names in order (for logs).
local SETTINGS, NAMES = {}, {}
for k, row in pairs(ROWS) do
  SETTINGS[k] = row.want
  NAMES[#NAMES + 1] = k
end
table.sort(NAMES)

--- Check a vigil.configure table; returns a clean copy or raises (naming
--- the setting, at the policy's line) without changing anything.
local function check_settings(t)
  local function bad(fmt, ...) -- level 4: bad, check_settings, configure, the policy
    error(string.format(fmt, ...), 4)
  end
  if type(t) ~= "table" then bad("vigil.configure: expected a table of settings, got %s", type(t)) end
  local out = {}
  for k, v in pairs(t) do
    if REMOVED[k] then bad("vigil.configure: %s: %s", k, REMOVED[k]) end
    local row = ROWS[k]
    if not row then bad("vigil.configure: unknown setting '%s'", tostring(k)) end
    if row.map and type(v) == "table" then
      local copy, n = {}, 0
      for key, x in pairs(v) do
        n = n + 1
        if type(key) ~= "string" or key == "" or #key > 127 then
          bad("vigil.configure: %s: keys must be dc names or pnames, got %s", k, tostring(key))
        end
        if not row.ok(x) then bad("vigil.configure: %s['%s'] must be %s, got %s", k, key, row.map, tostring(x)) end
        copy[key] = x
      end
      if n > 64 then bad("vigil.configure: %s: at most 64 entries, got %d", k, n) end
      v = copy
    elseif row.map or not row.ok(v) then
      bad("vigil.configure: %s must be %s, got %s", k, row.want, tostring(v))
    end
    out[k] = v
  end
  return out
end

--- The names vigil.configure takes, sorted.
---@return string[]
function M.setting_names() return NAMES end

--- Whether setting k is a table of dc or pname -> value.
---@param k string
---@return boolean
function M.setting_is_map(k) return ROWS[k] ~= nil and ROWS[k].map ~= nil end

local function show_value(row, v)
  if type(v) ~= "number" then return tostring(v) end
  if row and row.unit == "s" then
    if v ~= 0 and v < 1 then return string.format("%gms", v * 1000) end
    return string.format("%gs", v)
  end
  return string.format("%g", v)
end

--- A setting's value as the logs show it: 8, 200ms, 2s, "normal",
--- "dc2=12,10.0.0.9:7946=10" ("none" for an empty table).
---@param k string
---@param v any
---@return string
function M.show_setting(k, v)
  local row = ROWS[k]
  if type(v) ~= "table" then return show_value(row, v) end
  local keys = {}
  for key in pairs(v) do keys[#keys + 1] = tostring(key) end
  table.sort(keys)
  for i, key in ipairs(keys) do keys[i] = key .. "=" .. show_value(row, v[key]) end
  return #keys > 0 and table.concat(keys, ",") or "none"
end

--- A peer filter, as vigil.on and vigil.peers take it: {tags = {role =
--- "db", zone = true}}. A peer (or a peer's event) matches when it has
--- every tag named, with that value (a number is its text: shard = 7 is
--- "7"), or with any value for true. Returns the tags wanted (a copy), or
--- raises at the policy's line naming what is wrong.
---@param fn_name string
---@param filter table
---@return table
local function check_filter(fn_name, filter)
  local function bad(fmt, ...) error(fn_name .. ": " .. string.format(fmt, ...), 4) end
  if type(filter) ~= "table" then bad("a filter is a table like {tags = {role = \"db\"}}, got %s", type(filter)) end
  local want = {}
  for k, v in pairs(filter) do
    if k ~= "tags" then bad("a filter takes tags = {key = \"value\"}, not '%s'", tostring(k)) end
    if type(v) ~= "table" then bad("filter tags must be a table of key = \"value\" (or true), got %s", type(v)) end
    for tk, tv in pairs(v) do
      if type(tk) ~= "string" or #tk > 32 or not tk:find("^[a-z][a-z0-9_]*$") then
        bad("filter tag key %s: 1 to 32 of a-z, 0-9 and '_', starting with a letter", tostring(tk))
      end
      if type(tv) == "number" then tv = tostring(tv) end
      if type(tv) ~= "string" and tv ~= true then
        bad("filter tags.%s must be a string (or true: any value), got %s", tk, tostring(tv))
      end
      want[tk] = tv
    end
  end
  return want
end

--- Whether tags (a peer's or an event's) have every tag `want` names.
---@param want table
---@param tags table|nil
---@return boolean
local function tags_match(want, tags)
  tags = tags or {}
  for k, v in pairs(want) do
    local have = tags[k]
    if have == nil or (v ~= true and have ~= v) then return false end
  end
  return true
end

M.tags_match = tags_match

--- A peer's (or an event's) tags as environment variables for a command:
--- {VIGIL_TAG_ROLE = "db", VIGIL_TAG_SHARD = "7"}. A key is [a-z0-9_], so
--- upper-cased it is a valid variable name; the values come from the wire
--- checked (no quote, space, '$', '/', ',' or '=': docs/PROTOCOL.md).
---@param t table|nil a peer event or a peer (its .tags)
---@param into table|nil add to this table (returned) instead of a new one
---@return table
local function tag_env(t, into)
  local env = into or {}
  local tags = type(t) == "table" and type(t.tags) == "table" and t.tags or {}
  for k, v in pairs(tags) do
    if type(k) == "string" and k:find("^[a-z][a-z0-9_]*$") then env["VIGIL_TAG_" .. k:upper()] = tostring(v) end
  end
  return env
end

M.tag_env = tag_env

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

--- The API tree of a guarded table (see guard): name -> true (a function
--- or value), a tree (a guarded sub-table), or "open" (vigil.state).
---@param t table
---@return table
local function api_tree(t)
  local tree = {}
  for k in pairs(getmetatable(t).vigil_known) do
    local v = rawget(t, k)
    local mt = type(v) == "table" and getmetatable(v)
    tree[k] = type(v) ~= "table" and true or (mt and mt.vigil_known and api_tree(v)) or "open"
  end
  return tree
end

--- Make t refuse names it does not have: reading, calling or setting
--- `vigil.exce` raises at the policy's line "vigil.exce is not part of
--- the vigil API (did you mean vigil.exec?)" instead of handing back nil
--- (which would fail later, further away, as "attempt to call a nil
--- value"). The known names are t's own plus `optional` (values that may
--- be nil, like vigil.json.null without lua-cjson); `vigil check` reads
--- the same list (M.api). root() is the whole API, for the hint.
---@param t table
---@param path string "vigil", "vigil.log"
---@param root fun(): table
---@param optional? string[]
---@return table t
local function guard(t, path, root, optional)
  local known = {}
  for k in pairs(t) do known[k] = true end
  for _, k in ipairs(optional or {}) do known[k] = true end
  return setmetatable(t, {
    vigil_known = known,
    __index = function(_, k)
      if known[k] then return nil end
      error(check.unknown_message(api_tree(root()), path, k), 2)
    end,
    __newindex = function(self, k, v)
      if known[k] then return rawset(self, k, v) end
      error(check.unknown_message(api_tree(root()), path, k)
        .. "; a policy cannot add to it: keep your own values in vigil.state or in locals", 2)
    end,
  })
end

--- Build the `vigil` table a policy sees, bound to runtime rt and the
--- generation g being loaded.
function M.new(rt, g)
  local host = rt.host
  local vigil = {}

  --- Subscribe to an event: peer_up, peer_down, peer_joined, peer_left,
  --- peer_restarted, transition (any of those) or lagged. The handler gets
  --- {type, peer, dc, rack, tags, state, previous, phi, at} (lagged: {type,
  --- missed, at}). A named handler replaces the one of the same name. A
  --- filter before the handler, {tags = {role = "db"}}, calls it only for
  --- peers that have those tags: vigil.on("peer_down", {tags = {role =
  --- "db"}}, fn) or vigil.on("peer_down", "drain-db", {tags = ...}, fn).
  ---@param event string
  ---@param ... any [name], [filter], handler
  function vigil.on(event, ...)
    local n = select("#", ...)
    local args = { ... }
    while n > 1 and args[n] == nil do n = n - 1 end -- vigil.on(event, fn, nil) is vigil.on(event, fn)
    local name, filter, fn = nil, nil, args[n]
    if n == 3 then
      name, filter = args[1], args[2]
    elseif n == 2 and type(args[1]) == "table" then
      filter = args[1]
    elseif n == 2 then
      name = args[1]
    elseif n ~= 1 then
      fail("vigil.on: expected (event, [name], [filter], handler), got %d arguments", n + 1)
    end
    if not rt.EVENTS[event] then
      fail("vigil.on: unknown event '%s' (peer_up, peer_down, peer_joined, peer_left, peer_restarted, "
        .. "transition, lagged)", tostring(event))
    end
    if name ~= nil and type(name) ~= "string" then fail("vigil.on: the name must be a string, got %s", type(name)) end
    if type(fn) ~= "function" then fail("vigil.on: the handler must be a function, got %s", type(fn)) end
    if filter ~= nil then
      local want = check_filter("vigil.on", filter)
      if event == "lagged" then fail("vigil.on: lagged is about the policy, not a peer: it takes no filter") end
      local handler = fn
      fn = function(ev)
        if tags_match(want, ev.tags) then return handler(ev) end
      end
    end
    rt:add_handler(g, event, name, fn)
  end

  --- Tune the detector and the runtime, live. Settings: threshold,
  --- interval, model, min_std_dev, acceptable_pause, refused (convict an
  --- overdue peer whose port is closed), thresholds =
  --- {dc2 = 12, ["host:port"] = 10}, budget (seconds a handler may run).
  --- A bad value raises an error naming it, and nothing changes. What
  --- the policy sets overrides the agent's own settings (flags, VIGIL_*,
  --- the config file) while this policy is loaded; a reload whose policy
  --- no longer sets one restores the agent's (runtime.lua, apply_settings).
  ---@param settings table
  function vigil.configure(settings)
    local clean = check_settings(settings)
    if g.loading then
      g.config = g.config or {}
      for k, v in pairs(clean) do g.config[k] = v end
    else
      rt:configure_live(clean)
    end
  end

  --- Every peer the agent knows (itself included), from the latest
  --- snapshot; with a filter, {tags = {role = "cache"}}, only the peers
  --- that have those tags (as vigil.on's filter).
  ---@param filter? table
  ---@return table[] {pname, dc, rack, tags, state, phi, since, generation, is_local, threshold}
  function vigil.peers(filter)
    local want = filter ~= nil and check_filter("vigil.peers", filter) or nil
    local snap = host.snapshot()
    local peers = snap and snap.peers or {}
    if not want then return peers end
    local out = {}
    for _, p in ipairs(peers) do
      if tags_match(want, p.tags) then out[#out + 1] = p end
    end
    return out
  end

  --- A peer's tags as a command's environment: vigil.tag_env(ev) is
  --- {VIGIL_TAG_ROLE = "db", ...} for an event's peer (or a peer from
  --- vigil.peers()); vigil.tag_env(ev, env) adds them to env and returns it.
  ---@param ev table a peer event or a peer
  ---@param env? table
  ---@return table
  function vigil.tag_env(ev, env)
    if type(ev) ~= "table" then fail("vigil.tag_env: expected an event or a peer, got %s", type(ev)) end
    if env ~= nil and type(env) ~= "table" then fail("vigil.tag_env: env must be a table, got %s", type(env)) end
    return tag_env(ev, env)
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

  -- Last: every name above is the API, any other raises (guard).
  local function root() return vigil end
  guard(vigil.log, "vigil.log", root)
  guard(vigil.json, "vigil.json", root, { "null" })
  return guard(vigil, "vigil", root)
end

local api_cache

--- The names of the `vigil` API, as the runtime builds it (a table built
--- on no runtime, never used): the tree vigil.check works on.
---@return table tree name -> true | tree | "open"
function M.api()
  api_cache = api_cache or api_tree(M.new({ state = {} }, {}))
  return api_cache
end

--- The names vigil.configure takes (name -> what it must be): for specs
--- and tools that check the API's description (lua/vigil/meta/vigil.lua).
M.SETTINGS = SETTINGS

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

--- What `vigil check` finds in a policy's source without running it, even
--- inside handlers that loading does not run: uses of what a policy
--- cannot reach, "line N: NAME is not available to policies (WHY)", and
--- names that are not part of the vigil API, "line N: vigil.exce is not
--- part of the vigil API (did you mean vigil.exec?)". A list sorted by
--- line (empty when none). A static scan over Lua tokens (vigil.check):
--- the environment and the guarded `vigil` table are what enforce it.
---@param source string
---@return string[]
function M.forbidden_uses(source)
  local found = {}
  for _, f in ipairs(check.forbidden_uses(source, M.FORBIDDEN)) do
    found[#found + 1] = { f[1], string.format("%s is not available to policies (%s)", f[2], M.FORBIDDEN[f[2]]) }
  end
  for _, f in ipairs(check.unknown_fields(source, M.api())) do found[#found + 1] = f end
  table.sort(found, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local out = {}
  for i, f in ipairs(found) do out[i] = string.format("line %d: %s", f[1], f[2]) end
  return out
end

return M
