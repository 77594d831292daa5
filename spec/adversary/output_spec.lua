-- What the agent writes for programs to parse (trust issue: injection in
-- output): its log lines, /v1/members and /health, and the JSON policies
-- build with vigil.json. A value -- a policy's message or field, a name, an
-- error -- must stay one value: no forged key, no forged line, only valid
-- UTF-8. The real binary (`vigil check`, agents on loopback, bounded); the
-- C encoders themselves are spec/c/test_output.c.
local agents = require("helpers.agents")
local dkjson = require("dkjson") -- an independent JSON decoder

local EVIL = 'r msg="disk wiped" level=error'

-- ---- independent readers ---------------------------------------------------

-- RFC 3629, byte by byte.
local valid_utf8 = require("helpers.utf8").valid

-- Nothing a terminal or a line-based reader would act on: no raw control
-- byte but the line ends, no raw bidi control or line separator.
local function inert(s)
  return not s:find("[%z\1-\9\11-\31\127]") and not s:find("\226\128[\168\169\170-\174]")
    and not s:find("\226\129[\166-\169]") and not s:find("\194[\128-\159]")
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xc0 + math.floor(cp / 64), 0x80 + cp % 64) end
  return string.char(0xe0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local UNESCAPE = { ['"'] = '"', ["\\"] = "\\", n = "\n", r = "\r", t = "\t" }

-- A logfmt line as a list of {key, value}, values unescaped (go-logfmt's
-- reading); nil and why when it is not well formed.
local function parse_logfmt(line)
  local fields, i, n = {}, 1, #line
  while i <= n do
    local k, j = line:match("^([%w_%.%-]+)=()", i)
    if not k then return nil, "no key at " .. i end
    i = j
    local v
    if line:sub(i, i) == '"' then
      local out = {}
      i = i + 1
      while true do
        local c = line:sub(i, i)
        if c == "" then return nil, "unterminated quote" end
        if c == '"' then
          i = i + 1
          break
        end
        if c == "\\" then
          local e = line:sub(i + 1, i + 1)
          if e == "u" then
            out[#out + 1] = utf8_char(tonumber(line:sub(i + 2, i + 5), 16))
            i = i + 6
          elseif UNESCAPE[e] then
            out[#out + 1] = UNESCAPE[e]
            i = i + 2
          else
            return nil, "bad escape at " .. i
          end
        else
          out[#out + 1] = c
          i = i + 1
        end
      end
      v = table.concat(out)
    else
      v = line:match("^[^ ]*", i)
      i = i + #v
    end
    fields[#fields + 1] = { k, v }
    if i <= n then
      if line:sub(i, i) ~= " " then return nil, "no space after a value at " .. i end
      i = i + 1
    end
  end
  return fields
end

-- The lines of text containing `needle`.
local function lines_with(text, needle)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if line:find(needle, 1, true) then out[#out + 1] = line end
  end
  return out
end

local function keys_of(fields)
  local keys = {}
  for i, f in ipairs(fields) do keys[i] = f[1] end
  return keys
end

local function value(fields, key)
  for _, f in ipairs(fields) do
    if f[1] == key then return f[2] end
  end
end

describe("the agent's output", function()
  local files = {}
  local function policy(text)
    local path = agents.tmpfile(text)
    files[#files + 1] = path
    return path
  end
  after_each(function()
    agents.stop_all()
    for _, p in ipairs(files) do os.remove(p) end
    files = {}
  end)

  it("logs what a policy logs as one quoted value per field: no forged key, level or line", function()
    local path = policy([[
vigil.log.warn('probe "x"\nlevel=error', {
  rack = 'r msg="disk wiped" level=error',
  peer = '-x";$(id)\nts=forged level=error msg="forged"',
  bytes = "\255\254 \226\128\174txt \226\128\168 \27[2J\0end",
  n = 1.5,
})
]])
    local out = agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
    assert.truthy(valid_utf8(out), out)
    assert.truthy(inert(out), out)
    assert.are.same({}, lines_with(out, "forged\""))
    local lines = lines_with(out, "msg=\"probe")
    assert.are.equal(1, #lines, out)
    local fields, err = parse_logfmt(lines[1])
    assert.truthy(fields, err)
    assert.are.same({ "ts", "level", "msg", "source", "bytes", "n", "peer", "rack" }, keys_of(fields))
    assert.are.equal("warn", value(fields, "level"))
    assert.are.equal('probe "x"\nlevel=error', value(fields, "msg"))
    assert.are.equal("policy", value(fields, "source"))
    assert.are.equal(EVIL, value(fields, "rack"))
    assert.are.equal('-x";$(id)\nts=forged level=error msg="forged"', value(fields, "peer"))
    assert.are.equal("\239\191\189\239\191\189 \226\128\174txt \226\128\168 \27[2J\0end", value(fields, "bytes"))
    assert.are.equal("1.5", value(fields, "n"))
    -- vigil.testing records the fields as the agent writes them
    local mirror = require("vigil").fields_string({
      rack = 'r msg="disk wiped" level=error',
      peer = '-x";$(id)\nts=forged level=error msg="forged"',
      bytes = "\255\254 \226\128\174txt \226\128\168 \27[2J\0end",
      n = 1.5,
    })
    assert.truthy(lines[1]:find(" source=policy " .. mirror, 1, true), lines[1] .. "\n" .. mirror)
  end)

  it("refuses a field name the log cannot carry, at the policy's line", function()
    local path = policy('local x = 1\nvigil.log.info("x", { ["a b=c"] = x })\n')
    local out, rc = agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(":2: vigil.log: bad field name", 1, true), out)
    path = policy('vigil.log.info("x", { level = "error" })\n')
    out, rc = agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(":1: vigil.log: field name 'level' is the agent's own", 1, true), out)
  end)

  it("gives policies vigil.json, whose output keeps hostile strings as values in valid UTF-8", function()
    local path = policy([[
local ev = { peer = 'a","peer":"evil', dc = 'd\\"}', rack = "\255\226\128\168" }
local text = vigil.json.encode({ peer = ev.peer, dc = ev.dc, rack = ev.rack, phi = 9.25 })
local back = vigil.json.decode(text)
assert(back.peer == ev.peer and back.dc == ev.dc)
local bad, why = vigil.json.decode('{"a": NaN}')
assert(bad == nil and why:find("vigil.json.decode", 1, true))
assert(not pcall(vigil.json.encode, { x = 0 / 0 }))
assert(not pcall(vigil.json.encode, { f = print }))
local deep = string.rep("[", 200) .. string.rep("]", 200)
assert(vigil.json.decode(deep) == nil)
vigil.log.warn("json", { out = text })
]])
    local out, rc = agents.run(string.format("%s check %s 2>&1", agents.VIGIL, path))
    assert.are.equal(0, rc, out)
    local lines = lines_with(out, 'msg="json"')
    assert.are.equal(1, #lines, out)
    local text = value(assert(parse_logfmt(lines[1])), "out")
    assert.truthy(valid_utf8(text) and inert(text), text)
    local doc, _, err = dkjson.decode(text)
    assert.is_nil(err)
    local keys = {}
    for k in pairs(doc) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "dc", "peer", "phi", "rack" }, keys)
    assert.are.equal('a","peer":"evil', doc.peer)
    assert.are.equal('d\\"}', doc.dc)
    assert.are.equal("\239\191\189\226\128\168", doc.rack)
    assert.are.equal(1, select(2, text:gsub('"peer":', "")))
  end)

  it("keeps a failing handler's message, bad bytes and all, in one field of one line", function()
    local path = policy([[
vigil.after(0.05, function() error("boom \255 \"q\" level=error\nts=forged level=error msg=\"forged\"") end)
]])
    local a = agents.start({ args = path })
    agents.wait(function() return agents.log(a):find("policy handler failed", 1, true) ~= nil end, 5,
      "the timer's error to be logged")
    local log = agents.log(a)
    assert.truthy(valid_utf8(log) and inert(log), log)
    for line in log:gmatch("[^\n]+") do
      assert.truthy(parse_logfmt(line), line)
      assert.are.equal("ts=", line:sub(1, 3), line)
      assert.falsy(line:find("^ts=forged"), line)
    end
    local lines = lines_with(log, "policy handler failed")
    assert.are.equal(1, #lines)
    local fields = assert(parse_logfmt(lines[1]))
    assert.are.same({ "ts", "level", "msg", "source", "event", "error" }, keys_of(fields))
    assert.truthy(value(fields, "error"):find('boom \239\191\189 "q" level=error\nts=forged level=error msg="forged"',
      1, true), value(fields, "error"))
  end)

  it("answers /health and /v1/members with valid JSON when the policy's error holds any bytes", function()
    -- (the policy's own escapes: bytes that are not UTF-8, a colour, bidi, a separator, a cut sequence)
    local path = policy([[error("bad \255\254 \"quoted\" \27[31m \226\128\174 \226\128\168 \226\128 end")]] .. "\n")
    local a = agents.start({ args = path })
    local body, rc = agents.run(string.format("curl -s -m 2 http://127.0.0.1:%d/health", a.http))
    assert.are.equal(0, rc)
    assert.truthy(valid_utf8(body) and inert(body:gsub("\n$", "")), body)
    local doc, _, err = dkjson.decode(body)
    assert.is_nil(err, body)
    assert.are.equal("degraded", doc.status)
    local e = doc.policy.error
    assert.truthy(e:find('bad \239\191\189\239\191\189 "quoted" \27[31m \226\128\174 \226\128\168 \239\191\189 end', 1,
      true), e)
    body, rc = agents.run(string.format("curl -s -m 2 http://127.0.0.1:%d/v1/members", a.http))
    assert.are.equal(0, rc)
    assert.truthy(valid_utf8(body), body)
    doc, _, err = dkjson.decode(body)
    assert.is_nil(err, body)
    assert.are.equal(a.pname, doc.self)
    local log = agents.log(a)
    assert.truthy(valid_utf8(log) and inert(log), log)
    local lines = lines_with(log, "policy load failed")
    assert.are.equal(1, #lines, log)
    assert.truthy(parse_logfmt(lines[1]), lines[1])
  end)
end)

describe("vigil.json without lua-cjson", function()
  local saved = {}
  before_each(function()
    for _, m in ipairs({ "cjson", "vigil.json" }) do saved[m] = package.loaded[m] end
    saved.preload = package.preload.cjson
    package.loaded.cjson, package.loaded["vigil.json"] = nil, nil
    package.preload.cjson = function() error("module 'cjson' not found:\n\tno file 'cjson.so'") end
  end)
  after_each(function()
    package.preload.cjson = saved.preload
    for _, m in ipairs({ "cjson", "vigil.json" }) do package.loaded[m] = saved[m] end
  end)

  it("raises an error that says what to install, and nothing else breaks", function()
    local json = require("vigil.json")
    assert.is_false((json.available()))
    local ok, err = pcall(json.encode, { a = 1 })
    assert.is_false(ok)
    assert.truthy(err:find("vigil.json.encode: lua-cjson is not installed (Debian: apt-get install lua-cjson)", 1,
      true), err)
    ok, err = pcall(json.decode, "{}")
    assert.is_false(ok)
    assert.truthy(err:find("apt-get install lua-cjson", 1, true), err)
  end)
end)
