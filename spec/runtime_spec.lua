-- The policy runtime (lua/vigil/runtime.lua, init.lua, exec.lua) on a fake
-- host: generations, reloads, dispatch, configure, timers, exec, responsible.
-- The real host (bindings/host.c) is covered by spec/policy_spec.lua.
local runtime = require("vigil.runtime")

-- A host that records what the runtime asks of it; time and timers are
-- manual, processes complete when the spec says so.
local function fake_host()
  local h = { t = 0, logs = {}, configured = {}, marked = {}, timers = {}, spawned = {}, reports = {},
    exec_counts = {}, snap = { threshold = 8, peers = {} } }
  function h.now() return h.t end
  function h.snapshot() return h.snap end
  function h.configure(t) h.configured[#h.configured + 1] = t return true end
  function h.mark_down(p) h.marked[#h.marked + 1] = p return true end
  function h.log(level, msg, fields) h.logs[#h.logs + 1] = { level = level, msg = msg, fields = fields } end
  function h.call(_, fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then return true end
    return false, err, false
  end
  function h.hash(s)
    local x = 0
    for i = 1, #s do x = (x * 31 + s:byte(i)) % 4294967296 end
    return x
  end
  function h.report(ok, err, gen) h.reports[#h.reports + 1] = { ok = ok, err = err, gen = gen } end
  function h.count_exec(r) h.exec_counts[r] = (h.exec_counts[r] or 0) + 1 end
  function h.timer(delay, period, fn)
    local t = { due = h.t + delay, period = period, fn = fn, active = true }
    function t.stop() t.active = false end
    h.timers[#h.timers + 1] = t
    return t
  end
  function h.spawn(spec)
    if spec.file == "missing" then return nil, "missing: no such file or directory" end
    h.spawned[#h.spawned + 1] = spec
    return true
  end
  -- Advance virtual time, firing due timers in order.
  function h.advance(s)
    local stop = h.t + s
    while true do
      local next_t
      for _, t in ipairs(h.timers) do
        if t.active and t.due <= stop and (not next_t or t.due < next_t.due) then next_t = t end
      end
      if not next_t then break end
      h.t = next_t.due
      if next_t.period > 0 then next_t.due = next_t.due + next_t.period else next_t.active = false end
      next_t.fn()
    end
    h.t = stop
  end
  return h
end

local function ev(type_, peer, extra)
  local e = { type = type_, peer = peer, dc = "dc1", rack = "r1", state = "down", previous = "normal", phi = 9, at = 1 }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local tmpfile = require("helpers.agents").tmpfile

describe("the policy runtime", function()
  local host, rt
  before_each(function()
    host = fake_host()
    rt = runtime.new(host)
  end)

  it("delivers events to their handlers in order, and all but lagged to transition", function()
    local seen = {}
    assert.is_true(rt:load(function(vigil)
      vigil.on("peer_down", function(e) seen[#seen + 1] = "down " .. e.peer end)
      vigil.on("transition", function(e) seen[#seen + 1] = "any " .. e.type end)
      vigil.on("lagged", function(e) seen[#seen + 1] = "lagged " .. e.missed end)
    end))
    rt:dispatch(ev("peer_down", "127.0.0.1:1"))
    rt:dispatch(ev("peer_up", "127.0.0.2:1"))
    rt:dispatch({ type = "lagged", missed = 7, at = 2 })
    assert.are.same({ "down 127.0.0.1:1", "any peer_down", "any peer_up", "lagged 7" }, seen)
  end)

  it("keeps running the other handlers when one raises", function()
    local ran = false
    rt:load(function(vigil)
      vigil.on("peer_down", function() error("boom") end)
      vigil.on("peer_down", function() ran = true end)
    end)
    rt:dispatch(ev("peer_down", "127.0.0.1:1"))
    assert.is_true(ran)
  end)

  it("replaces a named handler instead of adding a second one", function()
    local calls = 0
    rt:load(function(vigil)
      vigil.on("peer_down", "page", function() calls = calls + 1 end)
      vigil.on("peer_down", "page", function() calls = calls + 10 end)
    end)
    rt:dispatch(ev("peer_down", "127.0.0.1:1"))
    assert.are.equal(10, calls)
  end)

  it("swaps generations whole on reload, and keeps the old one when the new one fails", function()
    local log = {}
    local v1 = tmpfile('vigil.on("peer_down", "h", function(e) LOG[#LOG + 1] = "v1 " .. e.peer end)\n')
    local v2 = tmpfile('vigil.on("peer_up", "h", function(e) LOG[#LOG + 1] = "v2 " .. e.peer end)\n')
    local broken = tmpfile('vigil.on("peer_up", function() end)\nlocal x = nil + 1\n')
    local syntax = tmpfile('vigil.on("peer_up", function(\n')
    _G.LOG = log
    assert.is_true(rt:load(v1))
    rt:dispatch(ev("peer_down", "127.0.0.1:1"))
    local ok, err = rt:load(broken)
    assert.is_false(ok)
    assert.truthy(err:find(broken .. ":2:", 1, true), err)
    ok, err = rt:load(syntax)
    assert.is_false(ok)
    assert.truthy(err:find(syntax .. ":2:", 1, true), err)
    rt:dispatch(ev("peer_down", "127.0.0.2:1")) -- v1 still runs
    assert.is_true(rt:load(v2))
    rt:dispatch(ev("peer_down", "127.0.0.3:1")) -- v1's handler is gone
    rt:dispatch(ev("peer_up", "127.0.0.4:1", { state = "normal", previous = "down" }))
    assert.are.same({ "v1 127.0.0.1:1", "v1 127.0.0.2:1", "v2 127.0.0.4:1" }, log)
    assert.are.equal(2, rt.generation)
    assert.are.same({ true, false, false, true }, { host.reports[1].ok, host.reports[2].ok, host.reports[3].ok,
      host.reports[4].ok })
    assert.truthy(host.reports[2].err:find(broken .. ":2:", 1, true))
    for _, p in ipairs({ v1, v2, broken, syntax }) do os.remove(p) end
    _G.LOG = nil
  end)

  it("delivers each event exactly once across reloads", function()
    local got = {}
    local function policy(vigil)
      vigil.on("peer_down", function(e) got[#got + 1] = e.peer end)
    end
    rt:load(policy)
    for i = 1, 100 do
      rt:dispatch(ev("peer_down", "127.0.0." .. i .. ":1"))
      if i % 10 == 0 then rt:load(policy) end
      if i % 15 == 0 then rt:load(function() error("bad edit") end) end
    end
    assert.are.equal(100, #got)
    for i = 1, 100 do assert.are.equal("127.0.0." .. i .. ":1", got[i]) end
  end)

  it("keeps vigil.state across reloads", function()
    local function policy(vigil) vigil.state.loads = (vigil.state.loads or 0) + 1 end
    rt:load(policy)
    rt:load(policy)
    rt:load(function() error("no") end)
    assert.are.equal(2, rt.state.loads)
  end)

  it("validates vigil.configure, naming the bad setting, and applies it at the swap", function()
    local errs = {}
    for _, bad in ipairs({ { treshold = 8 }, { threshold = -1 }, { model = "weibull" }, { fanout = 1.5 },
      { thresholds = { dc2 = "high" } }, { interval = 0 }, { refused = "yes" } }) do
      local ok, err = rt:load(function(vigil) vigil.configure(bad) end)
      assert.is_false(ok)
      errs[#errs + 1] = err:match("^[^\n]*")
    end
    assert.truthy(errs[1]:find("unknown setting 'treshold'", 1, true))
    assert.truthy(errs[2]:find("threshold must be number > 0, got -1", 1, true))
    assert.truthy(errs[3]:find("model must be", 1, true))
    assert.truthy(errs[4]:find("fanout: removed in protocol 2", 1, true))
    assert.truthy(errs[5]:find("thresholds['dc2'] must be a number > 0", 1, true))
    assert.truthy(errs[6]:find("interval must be", 1, true))
    assert.truthy(errs[7]:find("refused must be true or false, got yes", 1, true))
    assert.are.equal(0, #host.configured) -- nothing changed
    assert.is_true(rt:load(function(vigil)
      vigil.configure({ threshold = 10 })
      vigil.configure({ thresholds = { dc2 = 12 }, acceptable_pause = 0.5, refused = false })
    end))
    assert.are.equal(1, #host.configured)
    assert.are.same({ threshold = 10, thresholds = { dc2 = 12 }, acceptable_pause = 0.5, refused = false },
      host.configured[1])
  end)

  it("refuses fanout, removed in protocol 2, saying why, at the policy's line", function()
    local ok, err = rt:load(function(vigil)
      vigil.configure({ fanout = 8 }) -- the line the error must name
    end)
    assert.is_false(ok)
    local line = debug.getinfo(1, "l").currentline - 3
    assert.truthy(err:find("runtime_spec.lua:" .. line .. ": vigil.configure: fanout: removed in protocol 2", 1, true),
      err)
    assert.truthy(err:find("observers", 1, true), err)
    assert.are.equal(0, #host.configured)
  end)

  it("starts declared timers at the swap and stops them at the next reload", function()
    local ticks = 0
    rt:load(function(vigil) vigil.every(1, function() ticks = ticks + 1 end) end)
    host.advance(3.5)
    assert.are.equal(3, ticks)
    rt:load(function() end)
    host.advance(5)
    assert.are.equal(3, ticks)
    local once = 0
    rt:load(function(vigil)
      vigil.on("peer_down", function() vigil.after(2, function() once = once + 1 end) end)
    end)
    rt:dispatch(ev("peer_down", "127.0.0.1:1"))
    host.advance(10)
    assert.are.equal(1, once)
    assert.has_error(function() rt.active = rt.active; require("vigil").new(rt, rt.active).every(0, function() end) end)
  end)

  it("runs commands through a bounded queue with retries and backoff", function()
    rt.exec_limits = { concurrency = 1, queue = 2, max_output = 100 }
    local results = {}
    local vigil = require("vigil").new(rt, rt:new_generation())
    local function done(code, out, err, why) results[#results + 1] = { code, out, err, why } end
    assert.is_true(vigil.exec({ "a", on_exit = done }))
    assert.is_true(vigil.exec({ "b", "x", on_exit = done }))
    assert.is_true(vigil.exec({ "c", on_exit = done }))
    local ok, why = vigil.exec({ "d" })
    assert.is_nil(ok)
    assert.are.equal("exec queue full", why)
    assert.are.equal(1, #host.spawned) -- one at a time
    host.spawned[1].on_exit(0, 0, "out-a", "", false)
    assert.are.equal(2, #host.spawned)
    assert.are.same({ "x" }, host.spawned[2].args)
    host.spawned[2].on_exit(1, 0, "", "err-b", false)
    host.spawned[3].on_exit(nil, 15, "", "", true)
    assert.are.same({ { 0, "out-a", "", "exit" }, { 1, "", "err-b", "exit" }, { nil, "", "", "timeout" } }, results)
    assert.are.same({ started = 3, ok = 1, failed = 1, timeout = 1, rejected = 1 }, host.exec_counts)

    -- retries: 2 retries, backoff 1 s doubling; the spawn fails each time.
    rt.exec_limits.concurrency = 4
    local final
    vigil.exec({ "missing", retries = 2, backoff = 1, on_exit = function(...) final = { ... } end })
    assert.is_nil(final)
    host.advance(0.99)
    assert.is_nil(final)
    host.advance(0.02) -- first retry at 1 s
    host.advance(1.98)
    assert.is_nil(final)
    host.advance(0.02) -- second retry at 1 + 2 s
    assert.are.same({ nil, "", "missing: no such file or directory", "spawn" }, final)
  end)

  it("rejects bad exec specs, naming the field", function()
    local vigil = require("vigil").new(rt, rt:new_generation())
    assert.has_error(function() vigil.exec({}) end, "vigil.exec: the command (spec[1]) must be a string")
    assert.has_error(function() vigil.exec({ "x", timeout = -1 }) end)
    assert.has_error(function() vigil.exec({ "x", colour = 1 }) end, "vigil.exec: unknown option 'colour'")
    assert.has_error(function() vigil.exec({ "x", env = { ["A=B"] = "c" } }) end)
  end)

  it("makes exactly one live agent responsible for each peer", function()
    local peers = {}
    for i = 1, 5 do peers[i] = { pname = "127.0.0." .. i .. ":7946", state = i == 5 and "down" or "normal" } end
    for _, target in ipairs({ "127.0.0.5:7946", "127.0.0.2:7946", "127.9.9.9:1" }) do
      local responsible = 0
      for i = 1, 5 do
        local snap = { threshold = 8, peers = {} }
        for k, p in ipairs(peers) do
          snap.peers[k] = { pname = p.pname, state = p.state, is_local = k == i }
        end
        host.snap = snap
        local vigil = require("vigil").new(rt, rt:new_generation())
        if vigil.responsible(target) then responsible = responsible + 1 end
      end
      assert.are.equal(1, responsible, target)
    end
  end)

  it("formats log fields as logfmt", function()
    local fs = require("vigil").fields_string
    assert.are.equal('a=1 b="two words" c=x', fs({ c = "x", b = "two words", a = 1 }))
    assert.are.equal('q="say \\"hi\\""', fs({ q = 'say "hi"' }))
  end)
end)
