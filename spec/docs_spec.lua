-- spec/docs_spec.lua - the Lua code blocks of docs/POLICIES.md run as
-- written, so the guide cannot drift from the code.
--
-- Each ```lua block is one of three kinds:
--   * a spec (it calls describe): run here, inside busted, as it stands;
--   * a policy (it calls vigil.on / vigil.configure at its top level):
--     loaded on every agent of a 5-agent simulated cluster, which then
--     loses an agent; it must load, raise nothing, and react;
--   * a fragment of a handler (it uses `ev`): wrapped in a peer_down
--     handler, then treated as a policy.
local testing = require("vigil.testing")

local DOC = "docs/POLICIES.md"

--- The ```lua blocks of a Markdown file: { {line =, code =}, ... }.
local function lua_blocks(path)
  local f = assert(io.open(path))
  local blocks, current, n = {}, nil, 0
  for line in f:lines() do
    n = n + 1
    if current then
      if line:match("^```%s*$") then
        blocks[#blocks + 1] = current
        current = nil
      else
        current.code = current.code .. line .. "\n"
      end
    elseif line:match("^```lua%s*$") then
      current = { line = n + 1, code = "" }
    end
  end
  f:close()
  assert(not current, path .. ": a ```lua block is not closed")
  return blocks
end

local function kind(code)
  if code:find("describe%(") then return "spec" end
  if code:find("^%s*vigil%.on%(") or code:find("\nvigil%.on%(") or code:find("^%s*vigil%.configure") then
    return "policy"
  end
  return "fragment"
end

local function tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local blocks = lua_blocks(DOC)

describe(DOC, function()
  it("has Lua examples to check (the extractor finds them)", function()
    assert.is_true(#blocks >= 3, "found " .. #blocks)
    local kinds = {}
    for _, b in ipairs(blocks) do kinds[kind(b.code)] = true end
    assert.is_true(kinds.spec and kinds.policy and kinds.fragment and true or false)
  end)

  for _, b in ipairs(blocks) do
    local where = string.format("%s:%d", DOC, b.line)
    local k = kind(b.code)
    if k == "spec" then
      -- Run the guide's spec as a spec: its describe/it register here.
      -- (busted's describe/it/assert live in this file's environment.)
      local chunk = assert(loadstring(b.code, "@" .. where))
      setfenv(chunk, getfenv(1))
      describe("the spec at " .. where, function() chunk() end)
    else
      it(string.format("the %s at %s loads on every agent and reacts to a failure", k, where), function()
        local code = b.code
        if k == "fragment" then
          code = 'vigil.on("peer_down", "doc example", function(ev)\n' .. code .. "end)\n"
        end
        local path = tmpfile(code)
        local sim = testing.cluster({ agents = 5, interval = 0.2, seed = 7 })
        sim:on_exec(".", { code = 0, stdout = "ok" })
        local ok, err = sim:try_load(path)
        os.remove(path)
        assert.is_true(ok, tostring(err))
        sim:advance(10)
        local victim = sim:agents()[4]
        sim:crash(victim)
        sim:advance(10)
        assert.are.same({}, sim.errors)
        if code:find("vigil%.exec") then
          assert.is_true(#sim.execs >= 1, "the example ran no command")
        end
      end)
    end
  end
end)
