-- spec/helpers/agents.lua - start, stop and observe real `vigil agent`
-- processes on loopback for the multi-process specs.
--
-- Every wait is bounded (default 10 s) and every agent started is killed by
-- stop_all(), so a failing spec never leaves processes behind or hangs.
-- Ports come from a random base so that two runs on one machine do not
-- collide.
local ffi = require("ffi")
local json = require("dkjson")

local M = {}

M.VIGIL = os.getenv("VIGIL_BIN") or "build/vigil"

ffi.cdef([[
  typedef unsigned short sa_family_t;
  struct vigil_sockaddr_in { sa_family_t sin_family; uint16_t sin_port; uint32_t sin_addr; char zero[8]; };
  struct vigil_timeval { long tv_sec; long tv_usec; };
  int socket(int domain, int type, int protocol);
  int connect(int fd, const void *addr, unsigned len);
  long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, unsigned alen);
  long send(int fd, const void *buf, size_t len, int flags);
  long recv(int fd, void *buf, size_t len, int flags);
  int setsockopt(int fd, int level, int name, const void *val, unsigned len);
  int close(int fd);
  int nanosleep(const struct vigil_timeval *req, struct vigil_timeval *rem);
  uint16_t htons(uint16_t v);
  uint32_t htonl(uint32_t v);
]])

local AF_INET, SOCK_STREAM, SOCK_DGRAM = 2, 1, 2
local SOL_SOCKET, SO_RCVTIMEO = 1, 20

local function loopback(port)
  local sa = ffi.new("struct vigil_sockaddr_in")
  sa.sin_family = AF_INET
  sa.sin_port = ffi.C.htons(port)
  sa.sin_addr = ffi.C.htonl(0x7f000001)
  return sa
end

local started = {}
local base
local next_slot = 0

local function random_base()
  local f = io.open("/dev/urandom", "rb")
  local b = f:read(2)
  f:close()
  return 20000 + ((b:byte(1) * 256 + b:byte(2)) % 1500) * 20
end

--- Sleep for s seconds (a bounded external sleep; LuaJIT has none).
function M.sleep(s)
  os.execute(string.format("sleep %.3f", s))
end

--- Run a shell command; returns its stdout and its exit status.
function M.run(cmd)
  local p = io.popen(cmd .. "; echo \"::rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  return out:gsub("::rc=%d+%s*$", ""), rc
end

--- Allocate the ports of a new agent slot.
function M.ports()
  base = base or random_base()
  local slot = next_slot
  next_slot = next_slot + 1
  return base + slot * 2, base + slot * 2 + 1
end

--- Start an agent. opts: seeds (list of agents), keyring (path), args
--- (string: flags, or a policy path), env (string of NAME='value' words put
--- before the command), port/http (reuse a slot, for restarts), host (the
--- gossip address, "127.0.0.1" or "[::1]"; HTTP stays on 127.0.0.1).
--- Returns a handle.
function M.start(opts)
  opts = opts or {}
  local port, http = opts.port, opts.http
  if not port then port, http = M.ports() end
  local seeds = {}
  for _, s in ipairs(opts.seeds or {}) do seeds[#seeds + 1] = s.pname end
  local log = os.tmpname()
  local pname = (opts.host or "127.0.0.1") .. ":" .. port
  local cmd = string.format("%s %s agent --listen %s --http 127.0.0.1:%d %s %s %s 2>%s >/dev/null & echo $!",
    opts.env or "", M.VIGIL, pname, http, #seeds > 0 and ("--seeds " .. table.concat(seeds, ",")) or "",
    opts.keyring and ("--keyring " .. opts.keyring) or "", opts.args or "", log)
  local p = io.popen(cmd)
  local pid = tonumber(p:read("*l"))
  p:close()
  local a = { pid = pid, port = port, http = http, log = log, pname = pname, alive = true }
  started[#started + 1] = a
  -- Ready when HTTP answers (bounded).
  M.wait(function() return M.health(a) ~= nil end, 5, "agent on port " .. port .. " to answer HTTP")
  return a
end

--- CPU seconds an agent has used so far, all threads (/proc schedstat).
function M.cpu_seconds(a)
  local total = 0
  local p = io.popen("cat /proc/" .. a.pid .. "/task/*/schedstat 2>/dev/null")
  for l in p:lines() do total = total + (tonumber(l:match("^(%d+)")) or 0) end
  p:close()
  return total / 1e9
end

--- How many of `lines` hold `pattern` (plain text).
function M.count(lines, pattern)
  local n = 0
  for _, l in ipairs(lines) do
    if l:find(pattern, 1, true) then n = n + 1 end
  end
  return n
end

--- Resident memory of the agent's process in KiB (VmRSS), 0 when gone.
function M.rss_kib(a)
  local f = io.open("/proc/" .. a.pid .. "/status", "r")
  if not f then return 0 end
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)")) or 0
end

--- Whether this machine has an IPv6 loopback (::1) to test on.
function M.has_ipv6_loopback()
  local f = io.open("/proc/net/if_inet6")
  if not f then return false end
  local text = f:read("*a")
  f:close()
  return text:find("00000000000000000000000000000001", 1, true) ~= nil
end

--- Send a signal to an agent ("KILL", "TERM", "STOP", "CONT").
function M.signal(a, sig)
  os.execute(string.format("kill -%s %d 2>/dev/null", sig, a.pid))
  if sig == "KILL" or sig == "TERM" then
    a.alive = false
    -- reap the process so it does not linger as a zombie holding the port
    M.wait(function() return not M.running(a) end, 5, "agent " .. a.pid .. " to exit")
  end
end

function M.running(a)
  local _, rc = M.run(string.format("kill -0 %d 2>/dev/null && ! grep -q '^State:.*Z' /proc/%d/status", a.pid, a.pid))
  return rc == 0
end

--- Kill every agent this helper started.
function M.stop_all()
  for _, a in ipairs(started) do
    os.execute(string.format("kill -CONT %d 2>/dev/null; kill -KILL %d 2>/dev/null", a.pid, a.pid))
    os.remove(a.log)
  end
  started = {}
end

--- GET a path from an agent's HTTP port: body, or nil when it does not answer.
function M.get(a, path)
  local out, rc = M.run(string.format("curl -s -f -m 2 http://127.0.0.1:%d%s", a.http, path))
  if rc ~= 0 then return nil end
  return out
end

--- /health as a table, and its HTTP status (200 ok, 503 degraded); nil
--- when the agent does not answer.
function M.health(a)
  local out, rc = M.run(string.format("curl -s -m 2 -w '\\n%%{http_code}' http://127.0.0.1:%d/health", a.http))
  if rc ~= 0 then return nil end
  local body, code = out:match("^(.*)\n(%d+)%s*$")
  local doc = body and json.decode(body)
  if not doc then return nil end
  return doc, tonumber(code)
end

--- Members as seen by agent a: pname -> member table (via `vigil members --json`).
function M.members(a)
  local out, rc = M.run(string.format("%s members --json --http 127.0.0.1:%d 2>/dev/null", M.VIGIL, a.http))
  if rc ~= 0 then return nil end
  local doc = json.decode(out)
  if not doc then return nil end
  local by = {}
  for _, m in ipairs(doc.members) do by[m.pname] = m end
  return by
end

--- State of b as seen by a ("normal", "down", ... or nil when unknown).
function M.state(a, b)
  local ms = M.members(a)
  return ms and ms[b.pname] and ms[b.pname].state
end

--- Does every agent of the list see every other one as normal?
function M.all_normal(list)
  for _, a in ipairs(list) do
    local ms = M.members(a)
    if not ms then return false end
    for _, b in ipairs(list) do
      if a ~= b and (not ms[b.pname] or ms[b.pname].state ~= "normal") then return false end
    end
  end
  return true
end

--- A metric's value from a's /metrics (the first sample matching pattern).
function M.metric(a, pattern)
  local text = M.get(a, "/metrics") or ""
  for line in text:gmatch("[^\n]+") do
    if line:find(pattern, 1, true) == 1 then return tonumber(line:match(" ([%d%.e+-]+)$")) end
  end
  return nil
end

--- The agent's log so far.
function M.log(a)
  local f = io.open(a.log, "r")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

--- Write text to a new temporary file; returns its path.
function M.tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

--- The lines of a file (empty when it does not exist yet).
function M.lines(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do out[#out + 1] = line end
  f:close()
  return out
end

--- Poll pred every 0.1 s until it is true; error after timeout seconds.
function M.wait(pred, timeout, what)
  local polls = math.floor((timeout or 10) / 0.1)
  for _ = 1, polls do
    if pred() then return true end
    M.sleep(0.1)
  end
  if pred() then return true end
  -- Say what the agents were doing: the tail of each one's log.
  local tails = {}
  for _, a in ipairs(started) do
    local lines = {}
    for line in M.log(a):gmatch("[^\n]+") do lines[#lines + 1] = line end
    local status = M.running(a) and "running" or "gone"
    tails[#tails + 1] = string.format("--- agent %s (pid %d, %s):", a.pname, a.pid, status)
    for i = math.max(1, #lines - 6), #lines do tails[#tails + 1] = lines[i] end
  end
  error(string.format("timed out after %.1f s waiting for %s\n%s", timeout or 10, what or "a condition",
    table.concat(tails, "\n")), 2)
end

local function nap(ms)
  local ts = ffi.new("struct vigil_timeval", { 0, ms * 1000000 }) -- same layout as timespec
  ffi.C.nanosleep(ts, nil)
end

--- Send datagrams to an agent's gossip port from a throwaway socket, in
--- batches of `batch` (default: all at once) 5 ms apart.
function M.send_datagrams(a, list, batch)
  local fd = ffi.C.socket(AF_INET, SOCK_DGRAM, 0)
  assert(fd >= 0, "socket")
  local sa = loopback(a.port)
  local sent = 0
  for i, d in ipairs(list) do
    if ffi.C.sendto(fd, d, #d, 0, sa, ffi.sizeof(sa)) == #d then sent = sent + 1 end
    if batch and i % batch == 0 then nap(5) end
  end
  ffi.C.close(fd)
  return sent
end

--- UDP datagrams the kernel dropped for want of buffer space, machine-wide
--- (RcvbufErrors in /proc/net/snmp).
function M.udp_drops()
  local f = io.open("/proc/net/snmp", "r")
  if not f then return 0 end
  local text = f:read("*a")
  f:close()
  local names, values = text:match("\nUdp: ([^\n]+)\nUdp: ([^\n]+)")
  if not names then return 0 end
  local col, i = nil, 0
  for name in names:gmatch("%S+") do
    i = i + 1
    if name == "RcvbufErrors" then col = i end
  end
  i = 0
  for v in values:gmatch("%S+") do
    i = i + 1
    if i == col then return tonumber(v) end
  end
  return 0
end

--- Write raw bytes to an agent's HTTP port; returns what it answered.
function M.raw_http(a, bytes)
  local fd = ffi.C.socket(AF_INET, SOCK_STREAM, 0)
  assert(fd >= 0, "socket")
  local tv = ffi.new("struct vigil_timeval", { 3, 0 })
  ffi.C.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, ffi.sizeof(tv))
  local sa = loopback(a.http)
  assert(ffi.C.connect(fd, sa, ffi.sizeof(sa)) == 0, "connect")
  ffi.C.send(fd, bytes, #bytes, 0)
  local buf = ffi.new("char[65536]")
  local got = {}
  while true do
    local n = ffi.C.recv(fd, buf, 65536, 0)
    if n <= 0 then break end
    got[#got + 1] = ffi.string(buf, n)
  end
  ffi.C.close(fd)
  return table.concat(got)
end

return M
