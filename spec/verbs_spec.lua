-- The operator's verbs against real agents on loopback (docs/AGENT.md,
-- "Verbs"): join, leave, force-leave, monitor, info, and members --watch
-- into a pipe. Every wait is bounded; every process started is killed
-- after each test.
local ffi = require("ffi")
local json = require("dkjson")
local agents = require("helpers.agents") -- declares socket, connect, send, recv, setsockopt, close

local C = ffi.C
local AF_INET, SOCK_STREAM, SOL_SOCKET, SO_RCVBUF = 2, 1, 1, 8
local VIGIL = agents.VIGIL

-- Background processes of a test (monitors, agents started by hand): pids.
local background = {}

local function kill_background()
  for _, pid in ipairs(background) do -- and its children (an agent under `sh -c`)
    os.execute(string.format("pkill -KILL -P %d 2>/dev/null; kill -KILL %d 2>/dev/null", pid, pid))
  end
  background = {}
end

--- Run `cmd` in the background with stdout to out and stderr to err; its pid.
local function spawn(cmd, out, err)
  local p = io.popen(string.format("%s >%s 2>%s & echo $!", cmd, out, err or "/dev/null"))
  local pid = tonumber(p:read("*l"))
  p:close()
  background[#background + 1] = pid
  return pid
end

local function running(pid)
  local _, rc = agents.run(string.format("kill -0 %d 2>/dev/null && ! grep -q '^State:.*Z' /proc/%d/status", pid, pid))
  return rc == 0
end

local function http_of(a) return "--http 127.0.0.1:" .. a.http end

--- A `vigil` command against agent a; its stdout+stderr and exit status.
local function vigil(a, args)
  return agents.run(string.format("%s %s %s 2>&1", VIGIL, args, a and http_of(a) or ""))
end

local function file_text(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

--- A logfmt line as a table: key=value pairs, values bare or quoted with
--- JSON's escapes. nil when any of the line is not logfmt.
local function logfmt(line)
  local out, i, n = {}, 1, #line
  while i <= n do
    local key, after = line:match("^([%w_.%-]+)=()", i)
    if not key then return nil end
    i = after
    if line:sub(i, i) == '"' then
      local j = i + 1
      while j <= n and line:sub(j, j) ~= '"' do
        j = j + (line:sub(j, j) == "\\" and 2 or 1)
      end
      if j > n then return nil end
      out[key] = json.decode(line:sub(i, j)) -- a quoted value is a JSON string
      if out[key] == nil then return nil end
      i = j + 1
    else
      local v = line:match("^[^ ]+", i)
      if not v or v:find('["=]') then return nil end
      out[key] = v
      i = i + #v
    end
    if i <= n then
      if line:sub(i, i) ~= " " then return nil end
      i = i + 1
    end
  end
  return out
end

--- Connect to an agent's HTTP port and ask for its monitor stream, then
--- never read: the slowest reader there is. Its fd.
local function stuck_monitor(a, query)
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  assert(fd >= 0, "socket")
  local one = ffi.new("int[1]", 1)
  C.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, one, ffi.sizeof("int"))
  local sa = ffi.new("struct vigil_sockaddr_in")
  sa.sin_family = AF_INET
  sa.sin_port = C.htons(a.http)
  sa.sin_addr = C.htonl(0x7f000001)
  assert(C.connect(fd, sa, ffi.sizeof(sa)) == 0, "connect")
  local req = "GET /v1/monitor" .. (query or "") .. " HTTP/1.1\r\nHost: x\r\n\r\n"
  C.send(fd, req, #req, 0)
  return fd
end

local function monitors(a) return agents.metric(a, "vigil_http_monitor_connections") end

--- Start `vigil monitor` against a in the background; the file its lines go to.
local function monitor(a, flags)
  local out, err = os.tmpname(), os.tmpname()
  spawn(string.format("%s monitor %s %s", VIGIL, flags or "", http_of(a)), out, err)
  return out, err
end

describe("vigil verbs", function()
  local fds = {}
  after_each(function()
    for _, fd in ipairs(fds) do C.close(fd) end
    fds = {}
    kill_background()
    agents.stop_all()
  end)

  describe("join", function()
    it("makes two agents started without seeds meet, and says who answered", function()
      local a, b = agents.start(), agents.start()
      assert.is_nil(agents.state(a, b))
      local out, rc = vigil(a, "join " .. b.pname)
      assert.are.equal(0, rc, out)
      assert.truthy(out:find("joined " .. b.pname, 1, true), out)
      -- The answer was b's heartbeat: a holds it up, and b holds a.
      assert.are.equal("normal", agents.state(a, b))
      agents.wait(function() return agents.state(b, a) == "normal" end, 5, "b to see a")
      assert.truthy(agents.log(a):find('msg="join requested" by=http from=127.0.0.1 addrs=' .. b.pname, 1, true))
    end)

    it("takes a host name, and exits 1 when nobody answers in time", function()
      local a = agents.start()
      local silent = select(1, agents.ports()) -- nobody listens there
      local out, rc = vigil(a, "join --wait 500ms localhost:" .. silent)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find("127.0.0.1:" .. silent .. " did not answer within 0.5 s", 1, true), out)
      assert.truthy(out:find("no agent answered", 1, true), out)
    end)

    it("refuses what is not an address, naming it, with status 2", function()
      local a = agents.start()
      local out, rc = vigil(a, "join 127.0.0.1:99999")
      assert.are.equal(2, rc, out)
      assert.truthy(out:find("127.0.0.1:99999", 1, true), out)
      out, rc = vigil(a, "join")
      assert.are.equal(2, rc, out)
      -- The endpoint checks too: a client that skips the CLI gets a 400.
      local body = agents.raw_http(a, "POST /v1/join?addr=0.0.0.0:7946 HTTP/1.1\r\nHost: x\r\n\r\n")
      assert.truthy(body:find("^HTTP/1.1 400"), body)
      assert.truthy(body:find("is not an agent's address", 1, true), body)
    end)
  end)

  describe("leave", function()
    it("makes peers see peer_left at once, and the agent exits 0", function()
      local a = agents.start()
      -- b by hand, to learn its exit status.
      local port, http = agents.ports()
      local rcfile, log = os.tmpname(), os.tmpname()
      local pid = spawn(string.format(
        "sh -c '%s agent --listen 127.0.0.1:%d --http 127.0.0.1:%d --seeds %s 2>%s; echo $? >%s'",
        VIGIL, port, http, a.pname, log, rcfile), "/dev/null")
      local b = { http = http, pname = "127.0.0.1:" .. port }
      agents.wait(function() return agents.state(a, b) == "normal" end, 10, "a to see b")
      -- Monitors connected to it when it leaves: their streams end with it.
      fds[1] = stuck_monitor(b, "?all=1")
      local mon, monerr = monitor(b, "")
      agents.wait(function() return monitors(b) == 2 end, 5, "two monitors on b")
      local out, rc = vigil(b, "leave")
      assert.are.equal(0, rc, out)
      assert.truthy(out:find(b.pname .. " left", 1, true), out)
      agents.wait(function() return file_text(monerr):find("closed the stream", 1, true) ~= nil end, 5,
        "b's monitor to end")
      assert.are.equal("", file_text(mon))
      -- Gone when the command returns; it told a, which did not need phi.
      agents.wait(function() return not running(pid) end, 5, "b's shell to finish")
      assert.are.equal("0", file_text(rcfile):match("%d+"))
      assert.are.equal("down", agents.state(a, b))
      local left = agents.log(a):match('[^\n]*msg="peer left" peer=' .. b.pname .. '[^\n]*')
      assert.truthy(left, agents.log(a))
      local down = agents.log(a):match('[^\n]*msg="peer down" peer=' .. b.pname .. '[^\n]*')
      assert.truthy(down and down:find("cause=marked", 1, true), down)
      assert.truthy(file_text(log):find('msg="shutting down" by=http', 1, true))
      os.remove(rcfile)
      os.remove(log)
    end)
  end)

  describe("force-leave", function()
    it("removes a killed peer from members at once, and relayed news does not bring it back", function()
      local a = agents.start()
      local b = agents.start({ seeds = { a } })
      local c = agents.start({ seeds = { a } })
      agents.wait(function() return agents.all_normal({ a, b, c }) end, 10, "convergence")
      agents.signal(c, "KILL")
      agents.wait(function() return agents.state(a, c) == "down" end, 5, "a to convict c")
      local out, rc = vigil(a, "force-leave " .. c.pname)
      assert.are.equal(0, rc, out)
      assert.truthy(out:find("forgot " .. c.pname .. " (it was down)", 1, true), out)
      assert.is_nil(agents.members(a)[c.pname]) -- at once, not after --reap's 60 s
      assert.truthy(agents.log(a):find('msg="peer forced out" by=http from=127.0.0.1 peer=' .. c.pname, 1, true))
      -- b still lists c (down) and tells a about it every round: a second
      -- later, a still has forgotten it.
      agents.sleep(1)
      assert.are.equal("down", agents.state(b, c))
      assert.is_nil(agents.members(a)[c.pname])
      assert.are.equal(1, agents.metric(a, 'vigil_members_changes_total{kind="reaped"}'))
    end)

    it("refuses a peer the agent holds up unless --force, which it survives", function()
      local a = agents.start()
      local b = agents.start({ seeds = { a } })
      agents.wait(function() return agents.all_normal({ a, b }) end, 10, "convergence")
      local out, rc = vigil(a, "force-leave " .. b.pname)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find(b.pname .. " is normal", 1, true), out)
      assert.truthy(out:find("--force", 1, true), out)
      assert.are.equal("normal", agents.state(a, b))
      out, rc = vigil(a, "force-leave " .. "127.0.0.1:1")
      assert.are.equal(1, rc, out)
      assert.truthy(out:find("no member 127.0.0.1:1", 1, true), out)
      -- Forced: forgotten now; b is alive and back at its next heartbeat.
      out, rc = vigil(a, "force-leave --force " .. b.pname)
      assert.are.equal(0, rc, out)
      assert.truthy(out:find("it was normal", 1, true), out)
      agents.wait(function() return agents.state(a, b) == "normal" end, 5, "b to come back")
    end)
  end)

  describe("monitor", function()
    it("--json: one JSON document per line, a peer_down when an agent is killed", function()
      local a = agents.start()
      local b = agents.start({ seeds = { a } })
      agents.wait(function() return agents.all_normal({ a, b }) end, 10, "convergence")
      local out = monitor(a, "--json")
      agents.wait(function() return monitors(a) == 1 end, 5, "the monitor to connect")
      agents.signal(b, "KILL")
      agents.wait(function() return file_text(out):find('"type":"peer_down"', 1, true) ~= nil end, 5,
        "the monitor to print b's peer_down")
      local lines = agents.lines(out)
      assert.is_true(#lines >= 1)
      local down
      for _, line in ipairs(lines) do
        local ev = json.decode(line)
        assert.is_table(ev, line)
        assert.is_string(ev.type)
        assert.truthy(ev.ts:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), ev.ts)
        if ev.type == "peer_down" then down = ev end
      end
      assert.are.equal(b.pname, down.peer)
      assert.are.equal("refused", down.cause)
      assert.are.equal("normal", down.previous)
      assert.are.equal("down", down.state)
      assert.is_number(down.phi)
    end)

    it("logfmt: the agent's log line for each event, with event=", function()
      local a = agents.start()
      local out = monitor(a, "")
      agents.wait(function() return monitors(a) == 1 end, 5, "the monitor to connect")
      local b = agents.start({ seeds = { a } })
      agents.wait(function() return agents.state(a, b) == "normal" end, 10, "a to see b")
      agents.signal(b, "KILL")
      agents.wait(function() return file_text(out):find("event=peer_down", 1, true) ~= nil end, 5,
        "the monitor to print b's peer_down")
      local seen = {}
      for _, line in ipairs(agents.lines(out)) do
        local f = logfmt(line)
        assert.is_table(f, line)
        assert.truthy(f.ts and f.level and f.msg and f.event, line)
        seen[f.event] = f
      end
      assert.truthy(seen.peer_joined and seen.peer_up, file_text(out))
      assert.are.equal("joined", seen.peer_up.reason)
      assert.are.equal(b.pname, seen.peer_down.peer)
      assert.are.equal("peer down", seen.peer_down.msg)
      assert.are.equal("warn", seen.peer_down.level)
      assert.are.equal("refused", seen.peer_down.cause)
      assert.are.equal("normal", seen.peer_down.from)
    end)

    it("a reader that never reads does not stall detection, and the 9th reader is refused", function()
      local a = agents.start()
      local b = agents.start({ seeds = { a } })
      agents.wait(function() return agents.all_normal({ a, b }) end, 10, "convergence")
      for i = 1, 7 do fds[i] = stuck_monitor(a, "?all=1") end
      local out = monitor(a, "--json")
      agents.wait(function() return monitors(a) == 8 end, 5, "8 monitors to connect")
      -- The ninth is refused, and says why.
      local text, rc = vigil(a, "monitor")
      assert.are.equal(1, rc, text)
      assert.truthy(text:find("8 streams are open already", 1, true), text)
      assert.are.equal(1, agents.metric(a, 'vigil_http_connections_rejected_total{reason="streams_full"}'))
      -- Seven readers that take nothing: b's death is detected and
      -- reported to the one that reads, as ever.
      agents.signal(b, "KILL")
      agents.wait(function() return agents.state(a, b) == "down" end, 5, "a to convict b")
      agents.wait(function() return file_text(out):find('"type":"peer_down"', 1, true) ~= nil end, 5,
        "the reading monitor to print b's peer_down")
      -- The monitors hold none of loopback's 8 connection places.
      assert.is_not_nil(agents.members(a))
    end)

    it("answers loopback clients; others need the bearer token", function()
      local a = agents.start()
      -- Only loopback here (a network namespace would be needed for
      -- others: spec/c/test_http.c checks vigil__http_authorize): a
      -- loopback client needs nothing, and a bad query is a clear 400.
      local body = agents.raw_http(a, "GET /v1/monitor?format=xml HTTP/1.1\r\nHost: x\r\n\r\n")
      assert.truthy(body:find("^HTTP/1.1 400"), body)
      assert.truthy(body:find("format: expected json or logfmt, got 'xml'", 1, true), body)
      body = agents.raw_http(a, "HEAD /v1/monitor HTTP/1.1\r\nHost: x\r\n\r\n")
      assert.truthy(body:find("^HTTP/1.1 200"), body)
      assert.are.equal(0, monitors(a))
    end)
  end)

  describe("info", function()
    it("tells what the agent is, and of its keyring only how many keys", function()
      local keyring = agents.tmpfile("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
        .. "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=\n")
      local a = agents.start({ keyring = keyring, args = "--dc dc1 --rack r7 --interval 100ms --threshold 9" })
      local b = agents.start({ keyring = keyring, seeds = { a } })
      agents.wait(function() return agents.state(a, b) == "normal" end, 10, "a to see b")
      local out, rc = vigil(a, "info --json")
      assert.are.equal(0, rc, out)
      local info = json.decode(out)
      assert.is_table(info, out)
      assert.are.equal(a.pname, info.self)
      assert.are.equal(a.pname, info.listen)
      assert.are.equal("127.0.0.1:" .. a.http, info.http)
      assert.are.equal("dc1", info.dc)
      assert.are.equal("r7", info.rack)
      assert.is_true(info.generation > 1.7e12) -- ms since the epoch
      assert.are.equal(0, info.incarnation)
      assert.are.equal(0.1, info.interval_seconds)
      assert.are.equal(9, info.threshold)
      assert.are.equal(1, info.peers.normal)
      assert.are.equal(2, info.members)
      assert.is_true(info.keyring.enabled)
      assert.are.equal(2, info.keyring.keys)
      assert.truthy(out:find('"policy":null', 1, true), out) -- no policy: null
      assert.is_true(info.uptime_seconds > 0)
      assert.truthy(info.version:match("^%d+%.%d+%.%d+$"))
      local text
      text, rc = vigil(a, "info")
      assert.are.equal(0, rc, text)
      assert.truthy(text:find("keyring      on, 2 keys", 1, true), text)
      assert.truthy(text:find("self         " .. a.pname .. " (dc dc1, rack r7)", 1, true), text)
      assert.truthy(text:find("1 normal", 1, true), text)
      for _, secret in ipairs({ "MDEyMzQ1Njc4", "ZmVkY2JhOTg3" }) do
        assert.is_nil(out:find(secret, 1, true))
        assert.is_nil(text:find(secret, 1, true))
      end
      os.remove(keyring)
    end)
  end)

  describe("members --watch", function()
    it("writes no escape code into a pipe: plain tables, or JSON lines with --json", function()
      local a = agents.start()
      local text = agents.run(string.format("timeout 2 %s members --watch %s | cat", VIGIL, http_of(a)))
      assert.is_nil(text:find("\27", 1, true))
      assert.truthy(text:find("PEER", 1, true), text)
      -- Refreshes are apart by a blank line.
      local _, tables = text:gsub("PEER ", "")
      if tables > 1 then assert.truthy(text:find("\n\nPEER ", 1, true), text) end
      text = agents.run(string.format("timeout 2 %s members --watch --json %s | cat", VIGIL, http_of(a)))
      assert.is_nil(text:find("\27", 1, true))
      local docs = 0
      for line in text:gmatch("[^\n]+") do
        local doc = json.decode(line)
        assert.is_table(doc, line)
        assert.are.equal(a.pname, doc.self)
        docs = docs + 1
      end
      assert.is_true(docs >= 1)
    end)
  end)
end)
