-- The HTTP endpoint under attack (trust issue: slowloris and open
-- mutations). A slowloris must not keep a local Prometheus from scraping:
-- per-address connection limits, eviction when full, a header deadline.
-- Mutating endpoints (POST /v1/reload) answer loopback clients, and others
-- only with the --http-token-file bearer token. Real agents on loopback;
-- the non-loopback client runs in a network namespace (root only). Every
-- wait is bounded.
local ffi = require("ffi")
local agents = require("helpers.agents") -- declares socket, connect, send, recv, ... and vigil_sockaddr_in

-- What helpers.agents does not declare (one by one, in pcall: another
-- spec's helper may have declared them already).
pcall(ffi.cdef, "int bind(int fd, const void *addr, unsigned len);")
pcall(ffi.cdef, "int clock_gettime(int clk, struct vigil_timeval *ts);")
local C = ffi.C
local AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, SO_LINGER, SO_RCVTIMEO = 2, 1, 1, 2, 13, 20
local CLOCK_MONOTONIC = 1
local MSG_DONTWAIT, MSG_NOSIGNAL = 0x40, 0x4000

local function now()
  local ts = ffi.new("struct vigil_timeval")
  C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_usec) / 1e9 -- tv_usec holds nanoseconds here (timespec)
end

local function sockaddr(ip, port)
  local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  local sa = ffi.new("struct vigil_sockaddr_in")
  sa.sin_family = AF_INET
  sa.sin_port = C.htons(port)
  sa.sin_addr = C.htonl(((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d))
  return sa
end

--- A TCP connection from source address `from` (any port) to 127.0.0.1:port,
--- with a receive timeout of `timeout` seconds; the fd, or nil.
local function connect_from(from, port, timeout)
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  assert(fd >= 0, "socket (out of file descriptors?)")
  local src, dst = sockaddr(from, 0), sockaddr("127.0.0.1", port)
  local tv = ffi.new("struct vigil_timeval", { timeout or 3, 0 })
  C.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, ffi.sizeof(tv))
  -- Closed with a reset, and reusable: hundreds of these must not leave
  -- TIME_WAIT ports that a later agent's HTTP port could collide with.
  local one, linger = ffi.new("int[1]", 1), ffi.new("int[2]", { 1, 0 })
  C.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4)
  C.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 8)
  if C.bind(fd, src, ffi.sizeof(src)) ~= 0 or C.connect(fd, dst, ffi.sizeof(dst)) ~= 0 then
    C.close(fd)
    return nil
  end
  return fd
end

-- (MSG_NOSIGNAL: a send to a connection the agent closed must not kill busted)
local function send(fd, s) return C.send(fd, s, #s, MSG_NOSIGNAL) end

--- Everything the server sends until it closes (or the receive timeout).
local function read_all(fd)
  local buf, got = ffi.new("char[4096]"), {}
  while true do
    local n = C.recv(fd, buf, 4096, 0)
    if n <= 0 then break end
    got[#got + 1] = ffi.string(buf, n)
  end
  return table.concat(got)
end

--- What the server has sent so far, without waiting: the bytes, "" when it
--- closed the connection (a reset included: closing on unread bytes sends
--- one), nil when it has sent nothing yet.
local EAGAIN = 11
local function read_now(fd)
  local buf = ffi.new("char[4096]")
  local n = C.recv(fd, buf, 4096, MSG_DONTWAIT)
  if n < 0 then return ffi.errno() ~= EAGAIN and "" or nil end
  return ffi.string(buf, n)
end

--- curl: body and HTTP status (0 when nothing answered). extra: curl flags.
local function curl(url, extra, prefix)
  local out = agents.run(string.format("%s curl -s -m 2 %s -w '\\n%%{http_code}' '%s' 2>/dev/null", prefix or "",
    extra or "", url))
  local body, code = out:match("^(.*)\n(%d+)%s*$")
  return body or "", tonumber(code) or 0
end

local function metric(a, reason)
  return agents.metric(a, 'vigil_http_connections_rejected_total{reason="' .. reason .. '"}') or 0
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

local PARTIAL = "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow"

describe("the HTTP endpoint under a slowloris", function()
  local fds = {}
  after_each(function()
    for _, fd in ipairs(fds) do C.close(fd) end
    fds = {}
    agents.stop_all()
  end)

  it("serves a local scraper while one address holds 200 half-open connections", function()
    local a = agents.start({})
    for _ = 1, 200 do
      local fd = connect_from("127.0.0.9", a.http)
      assert.truthy(fd, "connect from 127.0.0.9")
      send(fd, PARTIAL)
      fds[#fds + 1] = fd
    end
    -- Well inside the attackers' 2 s header deadline: scrape five times.
    for i = 1, 5 do
      local body, code = curl("http://127.0.0.1:" .. a.http .. "/metrics", "--interface 127.0.0.1")
      assert.are.equal(200, code, "scrape " .. i)
      assert.truthy(body:find("vigil_http_requests_total", 1, true))
    end
    -- 8 held, the 192 others refused at once (with a 503, or closed when
    -- too many refusals were being written at the same moment).
    agents.wait(function() return metric(a, "per_address") >= 192 end, 3, "192 refusals")
    local refused, waiting = 0, 0
    for _, fd in ipairs(fds) do
      local got = read_now(fd)
      if got == nil then
        waiting = waiting + 1
      elseif got == "" or got:find("^HTTP/1.1 503") then
        refused = refused + 1
      end
    end
    assert.are.equal(8, waiting)
    assert.are.equal(192, refused)
    assert.are.equal(192, metric(a, "per_address"))
    assert.are.equal(192, agents.metric(a, "vigil_http_connections_refused_total"))
  end)

  it("evicts a slowloris spread over 20 addresses to make room for a scraper", function()
    local a = agents.start({})
    for host = 10, 29 do
      for _ = 1, 8 do
        local fd = connect_from("127.0.0." .. host, a.http)
        assert.truthy(fd, "connect from 127.0.0." .. host)
        send(fd, PARTIAL)
        fds[#fds + 1] = fd
      end
    end
    -- 160 connections for 64 places: the newcomers evicted the crowded.
    local body, code = curl("http://127.0.0.1:" .. a.http .. "/metrics", "--interface 127.0.0.1")
    assert.are.equal(200, code, body)
    local evicted = tonumber(body:match('vigil_http_connections_rejected_total{reason="evicted"} (%d+)'))
    local full = tonumber(body:match('vigil_http_connections_rejected_total{reason="full"} (%d+)'))
    -- Every connection beyond the 64 places evicted one or was refused (no
    -- address reached 8 of 64); the scraper's own connection evicted one more.
    assert.are.equal(160 - 64 + 1, evicted + full, body)
    assert.is_true(evicted > 0)
    assert.are.equal(0, tonumber(body:match('vigil_http_connections_rejected_total{reason="per_address"} (%d+)')))
  end)

  it("closes a connection whose headers are not complete 2 s after it opened, however they trickle", function()
    local a = agents.start({})
    local t0 = now()
    local idle = assert(connect_from("127.0.0.1", a.http, 6))
    local slow = assert(connect_from("127.0.0.1", a.http, 6))
    fds = { idle, slow }
    send(slow, "GET /metrics HTTP/1.1\r\n")
    for i = 1, 4 do -- a header line every 0.4 s: bytes keep coming, the deadline does not move
      agents.sleep(0.4)
      send(slow, "X-Slow-" .. i .. ": 1\r\n")
    end
    local answer = read_all(slow)
    local took = now() - t0
    assert.truthy(answer:find("^HTTP/1.1 408"), answer)
    assert.is_true(took > 1.5 and took < 3.5, string.format("closed after %.2f s", took))
    -- the idle one, that never sent a byte, went at the same time
    assert.truthy(read_all(idle):find("^HTTP/1.1 408"))
    assert.is_true(now() - t0 < 3.5)
    assert.are.equal(2, metric(a, "header_timeout"))
    -- and a normal request is not affected
    local _, code = curl("http://127.0.0.1:" .. a.http .. "/health")
    assert.are.equal(200, code)
  end)
end)

describe("POST /v1/reload", function()
  local files = {}
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  local function policy_generation(a)
    local h = agents.health(a)
    return h and h.policy and h.policy.generation
  end

  it("works from any loopback address without a token", function()
    local policy = agents.tmpfile('vigil.on("peer_up", function() end)\n')
    files = { policy }
    local a = agents.start({ args = policy })
    agents.wait(function() return policy_generation(a) == 1 end, 5, "the first load")
    local url = "http://127.0.0.1:" .. a.http .. "/v1/reload"
    for gen, from in ipairs({ "127.0.0.1", "127.0.0.5" }) do
      local body, code = curl(url, "-X POST --interface " .. from)
      assert.are.equal(202, code, body)
      agents.wait(function() return policy_generation(a) == gen + 1 end, 5, "the reload from " .. from)
    end
    assert.truthy(agents.log(a):find('msg="policy reload requested" by=http from=127.0.0.5', 1, true))
  end)

  it("is refused at start-up with a token file that cannot be right", function()
    local short = agents.tmpfile("abc\n")
    local empty = agents.tmpfile("\n")
    local spaced = agents.tmpfile("0123456789 abcdefghij\n")
    local open = agents.tmpfile("0123456789abcdefghij\n")
    files = { short, empty, spaced, open }
    os.execute("chmod 600 " .. short .. " " .. empty .. " " .. spaced .. "; chmod 644 " .. open)
    for _, case in ipairs({
      { short, "at least 16" }, { empty, "is empty" }, { spaced, "one token on one line" },
      { open, "chmod 600" }, { "/nonexistent/token", "cannot read" },
    }) do
      local out, rc = agents.run(string.format("%s agent --http-token-file %s --http off 2>&1", agents.VIGIL, case[1]))
      assert.are.equal(2, rc, out)
      assert.truthy(out:find("--http-token-file: ", 1, true), out)
      assert.truthy(out:find(case[2], 1, true), out)
    end
  end)

  it("warns once at start when HTTP listens beyond loopback without a token", function()
    local port, http = agents.ports()
    local a = agents.start({ port = port, http = http, args = "--http 0.0.0.0:" .. http })
    local warn = 'level=warn msg="http listens beyond loopback: mutating endpoints answer loopback clients only"'
    assert.are.equal(1, count(agents.log(a), (warn:gsub("%p", "%%%0"))))
    local quiet = agents.start({}) -- loopback: nothing to say
    assert.are.equal(0, count(agents.log(quiet), "http listens beyond loopback"))
  end)
end)

-- A client that is not on loopback: a network namespace whose loopback
-- device also holds 10.77.0.1, where the agent listens on 0.0.0.0 and
-- curl talks to 10.77.0.1 (so the agent sees a peer of 10.77.0.1).
describe("POST /v1/reload from beyond loopback", function()
  local ns, pids, files
  local NSADDR = "10.77.0.1"

  local function netns()
    if agents.run("id -u"):match("%d+") ~= "0" then return nil, "not root" end
    local name = string.format("vigil-http-%d-%d", os.time() % 100000, math.random(1e6))
    local _, rc = agents.run(string.format(
      "ip netns add %s 2>/dev/null && ip netns exec %s ip link set lo up && ip netns exec %s ip addr add %s/32 dev lo",
      name, name, name, NSADDR))
    if rc ~= 0 then
      os.execute("ip netns del " .. name .. " 2>/dev/null")
      return nil, "ip netns add failed"
    end
    return name
  end

  -- An agent inside the namespace, HTTP on 0.0.0.0:http; returns its log path.
  local function start_in_ns(http, args)
    local log = os.tmpname()
    files[#files + 1] = log
    local policy = agents.tmpfile('vigil.on("peer_up", function() end)\n')
    files[#files + 1] = policy
    local p = io.popen(string.format("ip netns exec %s %s agent %s --listen 127.0.0.1:%d --http 0.0.0.0:%d %s 2>%s " ..
      ">/dev/null & echo $!", ns, agents.VIGIL, policy, http - 1, http, args or "", log))
    pids[#pids + 1] = tonumber(p:read("*l"))
    p:close()
    agents.wait(function()
      return select(2, curl("http://127.0.0.1:" .. http .. "/health", "", "ip netns exec " .. ns)) == 200
    end, 5, "the agent in the namespace to answer")
    return log
  end

  local function post(http, header)
    return curl(string.format("http://%s:%d/v1/reload", NSADDR, http),
      "-X POST" .. (header and (" -H '" .. header .. "'") or ""), "ip netns exec " .. ns)
  end

  before_each(function()
    pids, files = {}, {}
    ns = netns()
  end)
  after_each(function()
    for _, pid in ipairs(pids) do os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    for _, p in ipairs(files) do os.remove(p) end
    if ns then os.execute("ip netns del " .. ns .. " 2>/dev/null") end
  end)

  it("is refused with 403 and how to enable it when no token is configured; reads stay open", function()
    if not ns then
      pending("needs root and `ip netns` to give a client a non-loopback address; spec/c/test_http.c checks the rule")
      return
    end
    local _, http = agents.ports()
    start_in_ns(http)
    local body, code = post(http)
    assert.are.equal(403, code, body)
    assert.truthy(body:find("--http-token-file", 1, true), body)
    assert.truthy(body:find("loopback", 1, true), body)
    local metrics, mcode = curl(string.format("http://%s:%d/metrics", NSADDR, http), "", "ip netns exec " .. ns)
    assert.are.equal(200, mcode)
    assert.truthy(metrics:find('vigil_http_mutations_refused_total{reason="loopback_only"} 1', 1, true))
    -- the namespace's own loopback still may
    local _, lcode = curl("http://127.0.0.1:" .. http .. "/v1/reload", "-X POST", "ip netns exec " .. ns)
    assert.are.equal(202, lcode)
  end)

  it("takes the right bearer token, and refuses a wrong or missing one", function()
    if not ns then
      pending("needs root and `ip netns` to give a client a non-loopback address; spec/c/test_http.c checks the rule")
      return
    end
    local token = "s3cret-Token_0123456789"
    local file = agents.tmpfile(token .. "\n")
    files[#files + 1] = file
    os.execute("chmod 600 " .. file)
    local _, http = agents.ports()
    local log = start_in_ns(http, "--http-token-file " .. file)
    local body, code = post(http)
    assert.are.equal(401, code, body)
    assert.truthy(body:find("no bearer token", 1, true), body)
    body, code = post(http, "Authorization: Bearer " .. token .. "x")
    assert.are.equal(401, code, body)
    assert.truthy(body:find("wrong token", 1, true), body)
    body, code = post(http, "Authorization: Basic " .. token)
    assert.are.equal(401, code, body)
    body, code = post(http, "Authorization: Bearer " .. token)
    assert.are.equal(202, code, body)
    body, code = post(http, "authorization: bearer " .. token) -- names and scheme are case-insensitive
    assert.are.equal(202, code, body)
    local f = io.open(log)
    local text = f:read("*a")
    f:close()
    assert.are.equal(2, count(text, 'msg="policy reload requested" by=http from=10%.77%.0%.1'))
    assert.is_nil(text:find("http listens beyond loopback", 1, true)) -- a token is configured: no warning
    -- `vigil reload` from beyond loopback: refused without the token, done with it
    local cmd = string.format("ip netns exec %s %s reload --http %s:%d", ns, agents.VIGIL, NSADDR, http)
    local out, rc = agents.run(cmd .. " 2>&1")
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("answered 401", 1, true), out)
    out, rc = agents.run(cmd .. " --http-token-file " .. file .. " 2>&1")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("reloaded: policy generation", 1, true), out)
  end)
end)
