-- spec/keys_spec.lua - keys (issue 13): `vigil keygen`; `vigil keys list |
-- install | use | remove` on real agents on loopback, a rotation that keeps
-- the cluster up throughout, the refusals and their reasons; and sealed
-- frames: what an agent sends cannot be read without the key, and the Lua
-- sealer (spec/helpers/wire.lua) agrees with docs/PROTOCOL.md's vector.
-- Every wait is bounded; every agent is killed after each test.
local agents = require("helpers.agents")
local wire = require("helpers.wire")

local K1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

local function keygen()
  local out, rc = agents.run(agents.VIGIL .. " keygen")
  assert(rc == 0, out)
  return (out:gsub("%s+$", ""))
end

--- `vigil keys ARGS` against agent a: output (stdout and stderr), status.
local function keys(a, args)
  return agents.run(string.format("%s keys %s --http 127.0.0.1:%d 2>&1", agents.VIGIL, args, a.http))
end

local function fingerprint(b64) return (wire.fingerprint(wire.key(b64))) end

--- The keys of a keyring file, comments and blank lines left out.
local function file_keys(path)
  local out = {}
  for _, l in ipairs(agents.lines(path)) do
    if l ~= "" and not l:find("^%s*#") then out[#out + 1] = l end
  end
  return out
end

local function mode(path)
  local out = agents.run("stat -c %a " .. path)
  return (out:gsub("%s+$", ""))
end

local function metric(a, sample) return agents.metric(a, sample) or 0 end

-- ```vector NAME blocks of docs/PROTOCOL.md, as bytes.
local function vector(name)
  local f = assert(io.open("docs/PROTOCOL.md"))
  local text = f:read("*a")
  f:close()
  local hex = assert(text:match("```vector " .. name .. "\n(.-)```"), "vector " .. name)
  return (hex:gsub("%s", ""):gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

local function sock_pname()
  local _, port = agents.ports()
  return "127.0.0.1:" .. port
end

describe("keys", function()
  local files = {}
  local function keyfile(...)
    local path = agents.tmpfile(table.concat({ ... }, "\n") .. "\n")
    files[#files + 1] = path
    return path
  end
  local socks = {}
  local function tap()
    local s = wire.socket(sock_pname())
    socks[#socks + 1] = s
    return s
  end
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    for _, s in ipairs(socks) do s:close() end
    files, socks = {}, {}
  end)

  it("vigil keygen prints a new base64 32-byte key a line, a keyring file's form", function()
    local a, b = keygen(), keygen()
    assert.truthy(a:match("^[A-Za-z0-9+/]+=$") and #a == 44, a)
    assert.are_not.equal(a, b)
    assert.are.equal(32, #wire.key(a))
    -- what it prints is a keyring an agent starts with
    local ag = agents.start({ keyring = keyfile(a) })
    local out = keys(ag, "list")
    assert.truthy(out:find(fingerprint(a), 1, true), out)
    local help, rc = agents.run(agents.VIGIL .. " keygen --help")
    assert.are.equal(0, rc)
    assert.truthy(help:find("umask 077", 1, true), help)
    local _, bad = agents.run(agents.VIGIL .. " keygen extra 2>&1")
    assert.are.equal(2, bad)
  end)

  it("the Lua sealer gives docs/PROTOCOL.md's sealed vector byte for byte, and opens it", function()
    local nonce = {}
    for i = 0, 23 do nonce[#nonce + 1] = string.char(0x40 + i) end
    local shutdown = { type = wire.SHUTDOWN, from = "10.0.0.1:7000", generation = 1764151200, version = 43 }
    local sealed = vector("shutdown_sealed")
    assert.are.equal(sealed, wire.frame(shutdown, wire.key(K1), table.concat(nonce)))
    assert.are.equal(vector("shutdown"), wire.frame(shutdown))
    assert.are.equal(wire.body(shutdown), (wire.open(sealed, wire.key(K1))))
    local _, why = wire.open(sealed, wire.key(keygen()))
    assert.are.equal("auth", why)
    assert.are.equal("cb2f5160", fingerprint(K1))
  end)

  it("rotate a running cluster's key: install, use, remove, each on every agent; nobody goes down", function()
    local K2 = keygen()
    local fp1, fp2 = fingerprint(K1), fingerprint(K2)
    -- one keyring file per agent, as on separate machines
    local ka, kb, kc = keyfile(K1), keyfile(K1), keyfile(K1)
    local t = tap() -- c's second seed: it never answers, so c keeps sending to it
    local a = agents.start({ keyring = ka })
    local b = agents.start({ keyring = kb, seeds = { a } })
    local c = agents.start({ keyring = kc, args = "--seeds " .. a.pname .. "," .. t.pname })
    local all = { a, b, c }
    agents.wait(function() return agents.all_normal(all) end, 10, "three agents up")

    local out, rc = keys(a, "list")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find(fp1 .. "%s+primary"), out)
    assert.falsy(out:find(K1, 1, true), "list never shows a key")

    -- c's frames, as the tap sees them: which key opens the latest?
    local function sealed_with()
      local got
      agents.wait(function()
        local list = t:drain()
        got = list[#list]
        return got ~= nil
      end, 5, "a frame of c's at the tap")
      if wire.open(got, wire.key(K2)) then return fp2 end
      if wire.open(got, wire.key(K1)) then return fp1 end
      return "neither"
    end
    local function step(verb, key, want)
      for _, x in ipairs(all) do
        local o, r = keys(x, verb .. " " .. key)
        assert.are.equal(0, r, o)
        assert.truthy(o:find(want, 1, true), o)
      end
      agents.sleep(0.6) -- three gossip rounds under the new keys
      assert.is_true(agents.all_normal(all), "everyone still up after " .. verb)
    end

    step("install", K2, "installed " .. fp2)
    assert.are.equal(fp1, sealed_with(), "the primary still seals after install")
    step("use", K2, fp2 .. " is the primary key")
    t:drain()
    assert.are.equal(fp2, sealed_with(), "the new key seals after use")
    step("remove", K1, "removed " .. fp1)

    for _, x in ipairs(all) do
      assert.are.equal(0, agents.count(agents.lines(x.log), 'msg="peer down"'), agents.log(x))
      assert.are.equal(0, metric(x, 'vigil_frames_rejected_total{reason="auth"}'))
      assert.are.equal(0, metric(x, 'vigil_frames_rejected_total{reason="unauthenticated"}'))
      assert.truthy(agents.log(x):find('msg="keyring changed" action=remove key=' .. fp1, 1, true))
    end
    -- every file holds the new key alone, readable by its owner only
    for _, path in ipairs({ ka, kb, kc }) do
      assert.are.same({ K2 }, file_keys(path))
      assert.are.equal("600", mode(path))
    end
    out = keys(b, "list")
    assert.truthy(out:find(fp2 .. "%s+primary"), out)
    assert.falsy(out:find(fp1, 1, true), out)
    -- the old key is gone from the running agent: a frame sealed with it
    -- is rejected, one sealed with the new key counts
    local rejected = metric(a, 'vigil_frames_rejected_total{reason="auth"}')
    local x = tap()
    local now = wire.now_ms()
    x:send(a.pname, wire.frame({ from = x.pname, generation = now, version = 1, sent = now }, wire.key(K1)))
    agents.wait(function() return metric(a, 'vigil_frames_rejected_total{reason="auth"}') > rejected end, 5,
      "a to reject a frame sealed with the removed key")
    x:send(a.pname, wire.frame({ from = x.pname, generation = now, version = 2, sent = wire.now_ms() }, wire.key(K2)))
    agents.wait(function() return agents.members(a)[x.pname] ~= nil end, 5, "a frame sealed with the new key to count")
    -- and a restart reads the file the rotation wrote
    agents.signal(a, "KILL")
    a = agents.start({ keyring = ka, seeds = { b }, port = a.port, http = a.http })
    agents.wait(function() return agents.all_normal({ a, b, c }) end, 10, "a back, with the rotated keyring")
  end)

  it("refuses what cannot be done, with the reason, and changes nothing", function()
    local path = keyfile(K1)
    local a = agents.start({ keyring = path })
    local out, rc = keys(a, "install not-a-key")
    assert.are.equal(2, rc, out)
    assert.truthy(out:find("not a base64 32-byte key", 1, true), out)
    out, rc = keys(a, "install " .. K1)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("installed already", 1, true), out)
    out, rc = keys(a, "remove " .. K1)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("primary", 1, true), out)
    local stranger = keygen()
    out, rc = keys(a, "use " .. stranger)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("not installed", 1, true), out)
    out, rc = keys(a, "remove " .. stranger)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("not installed", 1, true), out)
    out, rc = keys(a, "use " .. K1)
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("nothing changed", 1, true), out)
    -- a key on standard input (out of the process list); the ring holds 8
    local added = { K1 }
    for i = 2, 8 do
      added[i] = keygen()
      out, rc = agents.run(string.format("echo '%s' | %s keys install - --http 127.0.0.1:%d 2>&1", added[i],
        agents.VIGIL, a.http))
      assert.are.equal(0, rc, out)
    end
    out, rc = keys(a, "install " .. keygen())
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("holds 8 keys", 1, true), out)
    assert.are.same(added, file_keys(path))
    -- the file edited behind the agent's back is never overwritten ...
    local f = io.open(path, "w")
    f:write(K1, "\n")
    f:close()
    out, rc = keys(a, "remove " .. added[8])
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("no longer holds the keys in force", 1, true), out)
    assert.are.same({ K1 }, file_keys(path))
    -- ... until it is loaded (SIGHUP)
    agents.signal(a, "HUP")
    agents.wait(function() return agents.log(a):find('msg="keyring reloaded" keys=1', 1, true) ~= nil end, 5,
      "the reload")
    out, rc = keys(a, "install " .. added[2])
    assert.are.equal(0, rc, out)
    -- changes are POSTs
    out = agents.run(string.format("curl -s -o /dev/null -w '%%{http_code}' 'http://127.0.0.1:%d/v1/keys/use?key=x'",
      a.http))
    assert.are.equal("405", out)
    -- an agent without a keyring cannot get one while it runs, and says why
    local plain = agents.start({})
    out, rc = keys(plain, "install " .. K1)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("without a keyring", 1, true), out)
    out, rc = keys(plain, "list")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("not encrypted", 1, true), out)
    out, rc = keys(plain, "frobnicate")
    assert.are.equal(2, rc, out)
  end)

  it("what an agent sends with a keyring cannot be read on the wire; without one it can", function()
    local t = tap()
    local args = "--dc zz-secret-dc --rack rk-hidden-42 --seeds " .. t.pname
    local a = agents.start({ keyring = keyfile(K1), args = args })
    local got
    agents.wait(function()
      got = t:drain()[1]
      return got ~= nil
    end, 5, "a frame at the tap")
    for _, secret in ipairs({ a.pname, "zz-secret-dc", "rk-hidden-42", "127.0.0.1" }) do
      assert.falsy(got:find(secret, 1, true), "'" .. secret .. "' readable in a sealed frame")
    end
    -- the frame does carry them: the key opens it
    local body = assert(wire.open(got, wire.key(K1)))
    assert.truthy(body:find(a.pname, 1, true) and body:find("zz-secret-dc", 1, true)
      and body:find("rk-hidden-42", 1, true))
    -- and without a keyring, the same capture reads in clear
    local t2 = tap()
    local plain = agents.start({ args = "--dc zz-secret-dc --rack rk-hidden-42 --seeds " .. t2.pname })
    agents.wait(function()
      got = t2:drain()[1]
      return got ~= nil
    end, 5, "a plaintext frame at the tap")
    assert.truthy(got:find(plain.pname, 1, true) and got:find("zz-secret-dc", 1, true), "a plaintext frame")
    -- each side names the other's frames: encrypted, unauthenticated
    t:send(plain.pname, wire.frame({ from = t.pname, generation = 1, version = 1 }, wire.key(K1)))
    agents.wait(function() return metric(plain, 'vigil_frames_rejected_total{reason="encrypted"}') >= 1 end, 5,
      "the keyless agent to reject a sealed frame as encrypted")
  end)
end)
