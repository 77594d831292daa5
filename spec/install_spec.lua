-- spec/install_spec.lua - vigil as an operator gets it: the reference
-- (`vigil help`, vigil(1)), an installed tree (`cmake --install`, moved
-- after installation), the notify protocol systemd runs it with, its unit,
-- and the Debian packages (built, inspected, unpacked and run, lintian).
--
-- Real tools only: cmake, cc, pkg-config, groff, dpkg-buildpackage,
-- systemd-analyze, lintian. A tool that is not installed turns its tests
-- into pending ones that say so (`make deps` installs what `make test`
-- needs; `make deps-deb` adds lintian and systemd). Every command runs
-- under `timeout`; the package build is the slow part (about a minute).
local agents = require("helpers.agents")
local ffi = require("ffi")

local PWD = os.getenv("PWD")
local function absolute(p) return p:sub(1, 1) == "/" and p or (PWD .. "/" .. p) end
local VIGIL = absolute(agents.VIGIL)
local BUILD = VIGIL:match("^(.*)/[^/]+$")

--- A word for the shell, quoted.
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- Run a shell command (stderr too) under a time limit; output and status.
local function sh(cmd, limit)
  return agents.run(string.format("timeout %d bash -c %s 2>&1", limit or 60, q(cmd)))
end

local function has(tool) return select(2, agents.run("command -v " .. tool .. " >/dev/null 2>&1")) == 0 end

local function tmpdir()
  local out = agents.run("mktemp -d /tmp/vigil-install.XXXXXX")
  return (out:gsub("%s+$", ""))
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return s
end

--- The set of --flags a text names (--help itself aside).
local function flags(text)
  local set = {}
  for f in text:gmatch("%-%-[%a][%w%-]*") do
    if f ~= "--help" then set[f] = true end
  end
  return set
end

local missing = require("helpers.sets").missing

-- The topics the reference must have (others may be added).
local TOPICS = { "agent", "check", "reload", "members", "sim", "test", "config", "metrics", "keys" }

describe("vigil help", function()
  local listed = {}
  local list_out = sh(q(VIGIL) .. " help")
  for name in list_out:gmatch("\n  (%S+)%s+[^\n]+") do listed[#listed + 1] = name end

  it("lists the reference's topics", function()
    local set = {}
    for _, t in ipairs(listed) do set[t] = true end
    for _, t in ipairs(TOPICS) do assert.is_true(set[t] == true, "topic " .. t .. " missing from:\n" .. list_out) end
  end)

  it("prints every topic it lists; a command's starts with its usage", function()
    for _, t in ipairs(listed) do
      local out, rc = sh(q(VIGIL) .. " help " .. t)
      assert.equal(0, rc, out)
      assert.is_true(#out > 200, "vigil help " .. t .. " is nearly empty:\n" .. out)
      local _, crc = sh(q(VIGIL) .. " " .. t .. " --help")
      local head = "usage: vigil " .. t
      if crc == 0 and t ~= "keys" then assert.are.equal(head, out:sub(1, #head), out:sub(1, 200)) end
    end
  end)

  it("refuses an unknown topic with status 2 and the list", function()
    local out, rc = sh(q(VIGIL) .. " help no-such-topic")
    assert.equal(2, rc)
    assert.truthy(out:find("no topic 'no-such-topic'", 1, true), out)
    assert.truthy(out:find("\n  agent ", 1, true), out)
  end)

  it("names every flag a command's --help names, and no flag it does not", function()
    for _, t in ipairs(listed) do
      local topic = sh(q(VIGIL) .. " help " .. t)
      local usage, rc = sh(q(VIGIL) .. " " .. t .. " --help")
      -- Commands only (a topic that is not a command starts otherwise).
      if rc == 0 and topic:sub(1, #("usage: vigil " .. t)) == "usage: vigil " .. t then
        local want, have = flags(usage), flags(topic)
        assert.same({}, missing(want, have), "vigil help " .. t .. " does not describe these flags of --help")
        assert.same({}, missing(have, want), "vigil help " .. t .. " names flags that --help does not")
      end
    end
  end)

  it("names, in `vigil help metrics`, only families a running agent exports", function()
    finally(agents.stop_all)
    local a = agents.start({ args = q(PWD .. "/agent.lua") })
    local b = agents.start({ seeds = { a } })
    agents.wait(function() return agents.all_normal({ a, b }) end, 10, "two agents to see each other")
    local exported = {}
    for name in (agents.get(a, "/metrics") or ""):gmatch("# TYPE (%S+)") do exported[name] = true end
    local named = {}
    for line in sh(q(VIGIL) .. " help metrics"):gmatch("[^\n]+") do
      local term = line:match("^  ([a-z].-)%s%s") or line:match("^  ([a-z]%S*)$")
      for name in ((term or ""):gsub("%b{}", "") .. ","):gmatch("([a-z][a-z0-9_]*),") do named[name] = true end
    end
    assert.is_true(next(named) ~= nil, "no metric family found in vigil help metrics")
    assert.same({}, missing(named, exported), "vigil help metrics names families /metrics does not have")
  end)

  local groff = has("groff")
  local man_it = groff and it or pending
  man_it("writes a man page that groff renders without a warning, with every topic" ..
    (groff and "" or " (groff is not installed: apt-get install groff-base)"), function()
    local dir = tmpdir()
    finally(function() os.execute("rm -rf " .. q(dir)) end)
    local out, rc = sh(q(VIGIL) .. " help --man > " .. dir .. "/vigil.1")
    assert.equal(0, rc, out)
    local warnings = sh("groff -man -Tutf8 -ww -z " .. dir .. "/vigil.1")
    assert.equal("", warnings)
    local text = sh("groff -man -Tutf8 -P-cbou " .. dir .. "/vigil.1")
    for _, t in ipairs(listed) do
      local first = sh(q(VIGIL) .. " help " .. t):match("^usage: (vigil [^\n]+)")
      if first then assert.truthy(text:find(first, 1, true), "the man page lacks " .. first) end
    end
    for _, s in ipairs({ "CONFIGURATION", "METRICS AND ENDPOINTS", "KEYS", "EXIT STATUS" }) do
      assert.truthy(text:find("\n" .. s, 1, true), "the man page lacks " .. s)
    end
    -- The build made vigil.1 from this very binary.
    local built = io.open(BUILD .. "/vigil.1", "r")
    if built then
      local b = built:read("*a")
      built:close()
      assert.equal(read(dir .. "/vigil.1"), b, BUILD .. "/vigil.1 is not what `vigil help --man` prints")
    end
  end)
end)

-- ---- an installed tree ---------------------------------------------------------------

-- A C program against vigil.h and vigil.pc: seal and open a frame (libsodium,
-- msgpack), then watch a detector convict a silent peer.
local C_PROGRAM = [[
#include <stdio.h>
#include <string.h>
#include <vigil.h>

int main(void) {
  static vigil_keyring kr;
  static vigil_frame f, g;
  if (vigil_keyring_add_base64(&kr, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") != VIGIL_OK) return 1;
  f.type = VIGIL_FRAME_HEARTBEAT;
  strcpy(f.from, "127.0.0.1:7946");
  f.generation = 1;
  f.version = 1;
  uint8_t buf[4096];
  int n = vigil_frame_encode(&f, &kr, buf, sizeof buf);
  if (n <= 0 || vigil_frame_decode(buf, (size_t)n, &kr, &g) != VIGIL_OK || strcmp(g.from, f.from) != 0) return 2;
  vigil_detector_config cfg;
  vigil_detector_config_init(&cfg);
  vigil_detector d;
  if (vigil_detector_init(&d, &cfg) != VIGIL_OK) return 3;
  for (int i = 0; i < 50; i++) vigil_detector_heartbeat(&d, (vigil_time)i * 200 * VIGIL_MS);
  double phi = vigil_detector_phi(&d, 49 * 200 * VIGIL_MS + 30 * VIGIL_SEC);
  vigil_detector_free(&d);
  printf("libvigil %s: a frame of %d bytes; phi %s the threshold\n", VIGIL_VERSION, n, phi > 8 ? "past" : "under");
  return phi > 8 ? 0 : 4;
}
]]

--- Compile C_PROGRAM against the vigil.pc found under root and run it.
local function build_c_program(root)
  local pc = sh("find " .. q(root) .. " -name vigil.pc -path '*pkgconfig*' | head -1"):gsub("%s+$", "")
  assert.truthy(pc ~= "", "no vigil.pc under " .. root)
  local dir = tmpdir()
  write(dir .. "/prog.c", C_PROGRAM)
  local out, rc = sh(string.format("cd %s && cc -std=c11 -Wall -Werror -o prog prog.c $(PKG_CONFIG_PATH=%s " ..
    "pkg-config --cflags --libs vigil) && ./prog", q(dir), q(pc:match("^(.*)/[^/]+$"))), 120)
  os.execute("rm -rf " .. dir)
  return out, rc
end

-- A module only the installed tree has, and a policy that requires it: it
-- loads only when the binary takes its Lua from beside itself (the build
-- tree's binary could otherwise fall back to the source's lua/).
local PROBE_POLICY = [[
local probe = require("install_probe")
assert(probe.where == "installed")
vigil.on("peer_down", "probe", function() end)
]]

local PROBE_SPEC = [[
describe("an installed vigil test", function()
  it("finds vigil.core and vigil.testing beside the binary", function()
    local core = package.searchpath("vigil.core", package.cpath)
    assert.truthy(core and core:find(os.getenv("PROBE_ROOT"), 1, true), tostring(core))
    local testing = package.searchpath("vigil.testing", package.path)
    assert.truthy(testing and testing:find(os.getenv("PROBE_ROOT"), 1, true), tostring(testing))
    assert.is_table(require("vigil.testing"))
  end)
end)
]]

--- From an installed or unpacked tree whose /usr is usr: the binary runs,
--- finds its Lua beside itself with no VIGIL_LUA_PATH, checks policy.
local function runs_from(usr, policy)
  local bin = q(usr .. "/bin/vigil")
  local env = "env -u VIGIL_LUA_PATH "
  local out, rc = sh(env .. bin .. " --version")
  assert.equal(0, rc, out)
  assert.truthy(out:find("^vigil %d+%.%d+%.%d+"), out)
  out, rc = sh(env .. bin .. " help agent")
  assert.equal(0, rc, out)
  assert.truthy(out:find("--listen", 1, true), out)
  out, rc = sh(env .. bin .. " check " .. q(policy))
  assert.equal(0, rc, out)
  assert.truthy(out:find(": ok (", 1, true), out)
  write(usr .. "/share/vigil/lua/install_probe.lua", 'return { where = "installed" }\n')
  local probe = usr .. "/probe.lua"
  write(probe, PROBE_POLICY)
  out, rc = sh(env .. bin .. " check " .. q(probe))
  assert.equal(0, rc, "the binary did not take its Lua from " .. usr .. "/share/vigil/lua:\n" .. out)
  os.remove(usr .. "/share/vigil/lua/install_probe.lua")
  os.remove(probe)
end

describe("an installed tree (cmake --install)", function()
  local dir

  lazy_setup(function()
    dir = tmpdir()
    local out, rc = sh(string.format("cmake --install %s --prefix %s/a/usr", q(BUILD), q(dir)), 120)
    assert.equal(0, rc, out)
  end)

  lazy_teardown(function()
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  it("holds the binary, the Lua modules, vigil.core, the man page, the unit and the examples", function()
    local files = sh("cd " .. q(dir .. "/a/usr") .. " && find . -type f | sort")
    for _, want in ipairs({ "./bin/vigil", "/vigil/core.so", "./share/vigil/lua/vigil/runtime.lua",
      "./share/vigil/lua/vigil/testing.lua", "./share/man/man1/vigil.1", "./lib/systemd/system/vigil.service",
      "./lib/sysusers.d/vigil.conf", "./share/vigil/etc/agent.lua", "./share/vigil/etc/vigil.json",
      "./share/vigil/lua/vigil/meta/", "./share/doc/vigil/examples/policies/webhook.lua", "./include/vigil.h",
      "/libvigil.a", "/pkgconfig/vigil.pc" }) do
      assert.truthy(files:find(want, 1, true), want .. " is not installed:\n" .. files)
    end
  end)

  it("runs from there with no VIGIL_LUA_PATH: version, help, and check of the shipped agent.lua", function()
    runs_from(dir .. "/a/usr", dir .. "/a/usr/share/vigil/etc/agent.lua")
  end)

  it("runs policy specs with vigil.testing and vigil.core from the tree (vigil test)", function()
    os.execute("mkdir -p " .. q(dir .. "/specs/spec"))
    write(dir .. "/specs/spec/probe_spec.lua", PROBE_SPEC)
    local out, rc = sh(string.format("cd %s && env -u VIGIL_LUA_PATH PROBE_ROOT=%s %s test spec", q(dir .. "/specs"),
      q(dir .. "/a/usr"), q(dir .. "/a/usr/bin/vigil")), 60)
    assert.equal(0, rc, out)
    assert.truthy(out:find("1 success", 1, true), out)
  end)

  it("still runs once the whole tree is moved elsewhere", function()
    assert.equal(0, select(2, sh(string.format("mv %s %s", q(dir .. "/a"), q(dir .. "/moved")))))
    finally(function() os.execute(string.format("mv %s %s", q(dir .. "/moved"), q(dir .. "/a"))) end)
    runs_from(dir .. "/moved/usr", dir .. "/moved/usr/share/vigil/etc/agent.lua")
  end)

  it("says where it looked when VIGIL_LUA_PATH points at no Lua modules", function()
    local out, rc = sh(string.format("VIGIL_LUA_PATH=%s %s check %s", q(dir .. "/nowhere"),
      q(dir .. "/a/usr/bin/vigil"), q(dir .. "/a/usr/share/vigil/etc/agent.lua")))
    assert.equal(1, rc, out)
    assert.truthy(out:find("cannot find vigil's Lua modules", 1, true), out)
    assert.truthy(out:find(dir .. "/nowhere holds no vigil/runtime.lua", 1, true), out)
  end)

  it("lets a C program build against vigil.h with pkg-config --cflags --libs vigil", function()
    local out, rc = build_c_program(dir .. "/a")
    assert.equal(0, rc, out)
    assert.truthy(out:find("phi past the threshold", 1, true), out)
  end)
end)

-- ---- systemd's notify protocol ----------------------------------------------------------

pcall(ffi.cdef, [[
  struct vigil_sockaddr_un { unsigned short sun_family; char sun_path[108]; };
  int bind(int fd, const void *addr, unsigned len);
]])

--- A datagram socket where the agent's sd_notify messages arrive (what
--- systemd listens on); :until(pred, seconds) collects messages until one
--- satisfies pred, bounded.
local function notify_socket()
  local dir = tmpdir()
  local path = dir .. "/notify"
  local fd = ffi.C.socket(1, 2, 0) -- AF_UNIX, SOCK_DGRAM
  assert(fd >= 0, "socket(AF_UNIX)")
  local sa = ffi.new("struct vigil_sockaddr_un")
  sa.sun_family = 1
  ffi.copy(sa.sun_path, path)
  assert(ffi.C.bind(fd, sa, ffi.sizeof(sa)) == 0, "bind " .. path)
  local tv = ffi.new("struct vigil_timeval", { 0, 200000 })
  ffi.C.setsockopt(fd, 1, 20, tv, ffi.sizeof(tv)) -- SOL_SOCKET, SO_RCVTIMEO
  local s = { path = path, seen = {} }
  function s:until_msg(pred, seconds)
    local buf = ffi.new("char[4096]")
    for _ = 1, math.floor(seconds / 0.2) do
      local n = tonumber(ffi.C.recv(fd, buf, 4096, 0))
      if n > 0 then
        local m = ffi.string(buf, n)
        self.seen[#self.seen + 1] = m
        if pred(m) then return m end
      end
    end
    error("no such notify message within " .. seconds .. " s; got:\n" .. table.concat(self.seen, "\n---\n"))
  end
  function s:close()
    ffi.C.close(fd)
    os.execute("rm -rf " .. q(dir))
  end
  return s
end

local function status_of(m) return m:match("STATUS=([^\n]*)") end

describe("under systemd (the notify protocol, Type=notify)", function()
  local sock
  before_each(function() sock = notify_socket() end)
  after_each(function()
    agents.stop_all()
    sock:close()
  end)

  it("says READY=1 once the policy has loaded, with its generation in STATUS=, and STOPPING=1 on SIGTERM",
    function()
      local a = agents.start({ env = "NOTIFY_SOCKET=" .. sock.path, args = q(PWD .. "/agent.lua") })
      local ready = sock:until_msg(function(m) return m:find("READY=1", 1, true) end, 10)
      local st = status_of(ready)
      assert.truthy(st and st:find("gossip " .. a.pname, 1, true), ready)
      assert.truthy(st:find("policy " .. PWD .. "/agent.lua generation 1", 1, true), ready)
      assert.truthy(agents.log(a):find('msg="told systemd the agent is ready"', 1, true), agents.log(a))
      agents.signal(a, "TERM")
      sock:until_msg(function(m) return m:find("STOPPING=1", 1, true) end, 5)
    end)

  it("says READY=1 with the error when the policy does not load, and follows reloads in STATUS=", function()
    local policy = agents.tmpfile("vigil.on('peer_down', 'x', function() end)\nthis is not lua\n")
    finally(function() os.remove(policy) end)
    local a = agents.start({ env = "NOTIFY_SOCKET=" .. sock.path, args = q(policy) })
    local ready = sock:until_msg(function(m) return m:find("READY=1", 1, true) end, 10)
    assert.truthy(status_of(ready):find("failed to load: " .. policy .. ":2:", 1, true), ready)
    write(policy, "vigil.on('peer_down', 'x', function() end)\n")
    agents.signal(a, "HUP")
    -- (saving the file reloads it too: one reload or two)
    sock:until_msg(function(m) return (status_of(m) or ""):find(" generation %d+$") end, 10)
    write(policy, "vigil.configure({ threshold = 'high' })\n")
    agents.signal(a, "HUP")
    local failed = sock:until_msg(function(m) return (status_of(m) or ""):find("last reload failed", 1, true) end, 10)
    local want = " generation %d+; its last reload failed: " .. policy:gsub("%p", "%%%0") .. ":1:"
    assert.truthy(status_of(failed):find(want), failed)
  end)

  it("pings the watchdog from the core loop when systemd asks for one (WATCHDOG_USEC)", function()
    agents.start({ env = "NOTIFY_SOCKET=" .. sock.path .. " WATCHDOG_USEC=400000" })
    sock:until_msg(function(m) return m:find("READY=1", 1, true) end, 10)
    for _ = 1, 3 do sock:until_msg(function(m) return m == "WATCHDOG=1" end, 5) end
  end)
end)

-- ---- the unit ------------------------------------------------------------------------------

--- The unit's [Service] settings: name -> list of values.
local function unit_settings(text)
  local set = {}
  for line in text:gmatch("[^\n]+") do
    local k, v = line:match("^(%w+)=(.*)$")
    if k then
      set[k] = set[k] or {}
      table.insert(set[k], v)
    end
  end
  return set
end

local analyze = has("systemd-analyze")

describe("vigil.service", function()
  local unit_path = BUILD .. "/vigil.service"
  local unit = read(unit_path)
  local set = unit_settings(unit)

  it("is a notify service running the agent with /etc/vigil's policy and settings, reloaded by SIGHUP", function()
    assert.same({ "notify" }, set.Type)
    local tail = "/vigil agent /etc/vigil/agent.lua --config /etc/vigil/vigil.json"
    assert.equal(tail, set.ExecStart[1]:sub(-#tail), set.ExecStart[1])
    assert.same({ "/bin/kill -HUP $MAINPID" }, set.ExecReload)
    assert.same({ "vigil" }, set.User)
    assert.same({ "vigil" }, set.StateDirectory)
    assert.same({ "vigil" }, set.ConfigurationDirectory)
  end)

  it("runs as written: its ExecStart, the shipped vigil.json and agent.lua bring an agent to READY=1", function()
    local sock = notify_socket()
    local dir = tmpdir()
    local pid
    finally(function() -- (one finally per test: a second would replace it)
      if pid then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
      sock:close()
      os.execute("rm -rf " .. q(dir))
    end)
    -- /etc/vigil is the scratch directory; the binary is the one under test;
    -- the ports come from the environment (it beats the file), away from
    -- anything else on this machine.
    local cmd = set.ExecStart[1]:gsub("^%S+", q(VIGIL)):gsub("/etc/vigil/", dir .. "/")
    os.execute(string.format("cp %s %s/agent.lua && cp %s/packaging/vigil.json %s/vigil.json", q(PWD .. "/agent.lua"),
      q(dir), q(PWD), q(dir)))
    local port, http = agents.ports()
    local log = dir .. "/log"
    local p = io.popen(string.format("NOTIFY_SOCKET=%s VIGIL_LISTEN=127.0.0.1:%d VIGIL_HTTP=127.0.0.1:%d %s 2>%s " ..
      ">/dev/null & echo $!", q(sock.path), port, http, cmd, q(log)))
    pid = tonumber(p:read("*l"))
    p:close()
    local ok, ready = pcall(sock.until_msg, sock, function(m) return m:find("READY=1", 1, true) end, 10)
    assert.is_true(ok, tostring(ready) .. "\n" .. (io.open(log) and read(log) or ""))
    assert.truthy(status_of(ready):find(dir .. "/agent.lua generation 1", 1, true), ready)
    os.execute("kill -TERM " .. pid)
    sock:until_msg(function(m) return m:find("STOPPING=1", 1, true) end, 5)
  end)

  local verify_it = analyze and it or pending
  verify_it("passes systemd-analyze verify" .. (analyze and "" or " (systemd-analyze is not installed: make deps-deb)"),
    function()
      -- verify wants ExecStart's binary to exist: point it at the one under test.
      local dir = tmpdir()
      finally(function() os.execute("rm -rf " .. q(dir)) end)
      write(dir .. "/vigil.service", (unit:gsub("ExecStart=%S+", "ExecStart=" .. VIGIL)))
      local out, rc = sh("systemd-analyze verify --man=no " .. q(dir .. "/vigil.service"))
      assert.equal(0, rc, out)
      assert.equal("", out)
    end)

  local security_it = analyze and it or pending
  security_it("is sandboxed: systemd-analyze security rates its exposure SAFE or OK" ..
    (analyze and "" or " (systemd-analyze is not installed)"), function()
    local out, rc = sh("systemd-analyze security --offline=yes --no-pager " .. q(unit_path))
    local level, badge = out:match("Overall exposure level for vigil%.service: ([%d%.]+) (%u+)")
    assert.truthy(level, "rc " .. tostring(rc) .. ":\n" .. out)
    assert.truthy(badge == "SAFE" or badge == "OK", "exposure " .. level .. " " .. badge .. ":\n" .. out)
  end)
end)

-- ---- the Debian packages ------------------------------------------------------------------

-- Libraries `make deps` installs that the package build does not need.
local NOT_BUILD_DEPENDS = { ["libclang-rt-14-dev"] = "make fuzz's" }

describe("debian/control", function()
  it("build-depends on every library -dev package the build installs (Makefile DEPS)", function()
    local makefile = read(PWD .. "/Makefile")
    local deps = makefile:match("\nDEPS := (.-[^\\])\n")
    assert.truthy(deps, "no DEPS := list in the Makefile")
    local control = read(PWD .. "/debian/control")
    local build_depends = control:match("\nBuild%-Depends:(.-)\n%S")
    local listed = {}
    for name in build_depends:gmatch("([%w%.%+%-]+)") do listed[name] = true end
    local absent = {}
    for name in deps:gmatch("(lib[%w%.%+%-]+%-dev)") do
      if not listed[name] and not NOT_BUILD_DEPENDS[name] then absent[#absent + 1] = name end
    end
    assert.same({}, absent, "add these to debian/control's Build-Depends (or to NOT_BUILD_DEPENDS here)")
  end)
end)

local deb_tools = {}
for _, t in ipairs({ "dpkg-buildpackage", "dh", "fakeroot", "dpkg-deb" }) do
  if not has(t) then deb_tools[#deb_tools + 1] = t end
end

if #deb_tools > 0 then
  pending("the Debian packages (" .. table.concat(deb_tools, ", ") .. " missing: make deps)")
else
  describe("the Debian packages (make deb)", function()
    local out_dir, deb, dev, version

    lazy_setup(function()
      out_dir = tmpdir()
      local out, rc = sh(string.format("DEB_BUILD_OPTIONS='nocheck noddebs' JOBS=2 bash %s/packaging/build-deb.sh %s",
        q(PWD), q(out_dir)), 600)
      assert.equal(0, rc, out)
      deb = sh("ls " .. q(out_dir) .. "/vigil_*.deb"):gsub("%s+$", "")
      dev = sh("ls " .. q(out_dir) .. "/libvigil-dev_*.deb"):gsub("%s+$", "")
      version = sh("dpkg-deb -f " .. q(deb) .. " Version"):gsub("%s+$", "")
    end)

    lazy_teardown(function()
      if out_dir then os.execute("rm -rf " .. q(out_dir)) end
    end)

    it("vigil holds the binary, the Lua modules, vigil.core, the unit, the man page and /etc/vigil", function()
      local files = sh("dpkg-deb -c " .. q(deb))
      for _, want in ipairs({ " ./usr/bin/vigil\n", "./usr/share/vigil/lua/vigil/runtime.lua",
        "/vigil/lua/vigil/core.so", "./lib/systemd/system/vigil.service", "./usr/share/man/man1/vigil.1.gz",
        "./etc/vigil/agent.lua", "./etc/vigil/vigil.json", "./usr/share/doc/vigil/copyright",
        "./usr/share/doc/vigil/examples/policies/webhook.lua", "./usr/lib/sysusers.d/vigil.conf" }) do
        assert.truthy(files:find(want, 1, true), want .. " is not in the package:\n" .. files)
      end
      assert.is_nil(files:find("vigil.h", 1, true), "the header belongs to libvigil-dev")
    end)

    it("vigil depends on its libraries (shlibs), lua-cjson and adduser; /etc/vigil's files are conffiles", function()
      local depends = sh("dpkg-deb -f " .. q(deb) .. " Depends")
      for _, lib in ipairs({ "libc6", "libluajit-5.1-2", "libuv1", "libsodium23", "libsystemd0",
        "libjansson4", "libhttp-parser2.9", "lua-cjson", "adduser" }) do
        assert.truthy(depends:find(lib, 1, true), lib .. " is not in Depends: " .. depends)
      end
      local ctrl = out_dir .. "/control"
      assert.equal(0, select(2, sh("dpkg-deb -e " .. q(deb) .. " " .. q(ctrl))))
      local conffiles = read(ctrl .. "/conffiles")
      assert.truthy(conffiles:find("/etc/vigil/agent.lua", 1, true), conffiles)
      assert.truthy(conffiles:find("/etc/vigil/vigil.json", 1, true), conffiles)
      local postinst = read(ctrl .. "/postinst")
      assert.truthy(postinst:find("adduser --system", 1, true), postinst)
      assert.truthy(postinst:find("deb-systemd-helper", 1, true) and postinst:find("vigil.service", 1, true),
        "the unit is not enabled on installation:\n" .. postinst)
    end)

    it("libvigil-dev holds vigil.h, libvigil.a and vigil.pc", function()
      local files = sh("dpkg-deb -c " .. q(dev))
      for _, want in ipairs({ "./usr/include/vigil.h", "/libvigil.a", "/pkgconfig/vigil.pc" }) do
        assert.truthy(files:find(want, 1, true), want .. " is not in libvigil-dev:\n" .. files)
      end
    end)

    it("unpacked anywhere (dpkg -x), runs: its version, help, check of /etc/vigil/agent.lua", function()
      local root = out_dir .. "/root"
      assert.equal(0, select(2, sh(string.format("dpkg -x %s %s && dpkg -x %s %s", q(deb), q(root), q(dev), q(root)))))
      runs_from(root .. "/usr", root .. "/etc/vigil/agent.lua")
      local out = sh(q(root .. "/usr/bin/vigil") .. " --version")
      assert.truthy(out:find("vigil " .. version, 1, true), "package " .. version .. ", binary says " .. out)
    end)

    it("lets a C program build against the unpacked libvigil-dev", function()
      local out, rc = build_c_program(out_dir .. "/root")
      assert.equal(0, rc, out)
      assert.truthy(out:find("libvigil " .. version, 1, true), out)
    end)

    local lint_it = has("lintian") and it or pending
    lint_it("passes lintian without errors" .. (has("lintian") and "" or " (lintian is not installed: make deps-deb)"),
      function()
        local changes = sh("ls " .. q(out_dir) .. "/*.changes"):gsub("%s+$", "")
        local out, rc = sh("lintian --fail-on error " .. q(changes), 300)
        assert.equal(0, rc, out)
        out = out:gsub("running with root privileges is not recommended!\n?", "")
        if out ~= "" then print("\nlintian (warnings, not errors):\n" .. out) end
      end)
  end)
end
