--- vigil.check - what `vigil check` finds in a policy's source without
--- running it: names that are not part of the `vigil` API (`vigil.exce`,
--- `vigil.log.wran`) with the closest real name, and uses of what a policy
--- cannot reach (os.execute, debug, ...).
---
--- Loading a policy runs only its top level; a typo inside a handler would
--- first raise when the event comes, in production. So the source is
--- scanned too. The scan works on Lua tokens, not on lines: strings and
--- comments (long brackets included) say what they like, and a match needs
--- the exact shape `vigil.name`, `vigil:name` or `vigil["name"]`. It sees
--- every `vigil` as the API table (a policy that names something else
--- `vigil` gets findings about it), and nothing reached through a local
--- alias (`local log = vigil.log`): the runtime's own guard (lua/vigil/init.lua)
--- catches those when they run, with the same message.
---
--- Pure functions over a string; nothing here knows the runtime. The API
--- itself comes from the caller (init.lua builds it from the real table).
local M = {}

-- Two-character and three-character operators, longest first: `..` must
-- never be read as a field access.
local OPERATORS = { "...", "..", "==", "~=", "<=", ">=", "::" }

--- Lua's tokens in source: a list of {kind = "name"|"string"|"number"|"op",
--- value, line}. Comments and whitespace are dropped; a string's value is its
--- text when it has no escapes (nil otherwise: nothing here needs it). An
--- unterminated string or comment ends the list (the file does not load
--- anyway, and loading reports where).
---@param src string
---@return table[]
function M.tokens(src)
  local toks, n = {}, 0
  local i, line, len = 1, 1, #src
  local function push(kind, value, at)
    n = n + 1
    toks[n] = { kind = kind, value = value, line = at }
  end
  local function lines_in(s)
    local _, c = s:gsub("\n", "")
    return c
  end
  -- Skip a long bracket [==[ ... ]==] opening at i; returns its text and the
  -- index after it, or nil when it is not closed.
  local function long_bracket(at)
    local eq = src:match("^%[(=*)%[", at)
    local open = 2 + #eq
    local close = src:find("]" .. eq .. "]", at + open, true)
    if not close then return nil end
    return src:sub(at + open, close - 1), close + open
  end
  if src:sub(1, 1) == "#" then i = (src:find("\n", 1, true) or len + 1) end -- a #! line, as loadfile skips it
  while i <= len do
    local c = src:sub(i, i)
    if c == "\n" then
      line, i = line + 1, i + 1
    elseif c:find("^[ \t\r\f\v]") then
      i = src:find("[^ \t\r\f\v]", i) or len + 1
    elseif c == "-" and src:sub(i + 1, i + 1) == "-" then
      if src:find("^%[=*%[", i + 2) then
        local body, after = long_bracket(i + 2)
        if not body then break end
        line, i = line + lines_in(body), after
      else
        i = src:find("\n", i, true) or len + 1
      end
    elseif c == "[" and src:find("^%[=*%[", i) then
      local body, after = long_bracket(i)
      if not body then break end
      push("string", body, line)
      line, i = line + lines_in(body), after
    elseif c == '"' or c == "'" then
      local j, start, escaped = i + 1, line, false
      while true do
        local d = src:sub(j, j)
        if d == "" or d == "\n" then return toks end -- unterminated
        if d == "\\" then
          escaped = true
          local e = src:sub(j + 1, j + 1)
          if e == "\n" then line = line + 1 end
          j = j + 2
          if e == "z" then -- \z skips the whitespace after it, newlines included
            local ws = src:match("^%s*", j)
            line, j = line + lines_in(ws), j + #ws
          end
        elseif d == c then
          break
        else
          j = j + 1
        end
      end
      push("string", not escaped and src:sub(i + 1, j - 1) or nil, start)
      i = j + 1
    elseif c:find("^[%a_]") then
      local name = src:match("^[%w_]+", i)
      push("name", name, line)
      i = i + #name
    elseif c:find("^%d") or (c == "." and src:find("^%.%d", i)) then
      local num = src:match("^0[xX][%x%.]*[pP][%+%-]?%d*", i) or src:match("^0[xX][%x%.]*", i)
        or src:match("^[%d%.]*[eE][%+%-]?%d*", i) or src:match("^[%d%.]*", i)
      num = num .. (src:match("^[%w_]*", i + #num)) -- LuaJIT's 1ULL, 2i
      push("number", num, line)
      i = i + #num
    else
      local op = c
      for _, o in ipairs(OPERATORS) do
        if src:sub(i, i + #o - 1) == o then
          op = o
          break
        end
      end
      push("op", op, line)
      i = i + #op
    end
  end
  return toks
end

--- The distance between two names: insertions, deletions, substitutions and
--- swaps of two neighbours (optimal string alignment), so `exce` is 1 from
--- `exec`, as a typist would count.
---@param a string
---@param b string
---@return integer
function M.distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local d = {}
  for x = 0, la do
    d[x] = { [0] = x }
  end
  for y = 0, lb do d[0][y] = y end
  for x = 1, la do
    for y = 1, lb do
      local cost = a:byte(x) == b:byte(y) and 0 or 1
      local v = math.min(d[x - 1][y] + 1, d[x][y - 1] + 1, d[x - 1][y - 1] + cost)
      if x > 1 and y > 1 and a:byte(x) == b:byte(y - 1) and a:byte(x - 1) == b:byte(y) then
        v = math.min(v, d[x - 2][y - 2] + 1)
      end
      d[x][y] = v
    end
  end
  return d[la][lb]
end

local function collect(api, prefix, out)
  for k, v in pairs(api) do
    out[#out + 1] = prefix .. "." .. k
    if type(v) == "table" then collect(v, prefix .. "." .. k, out) end
  end
  return out
end

--- Every name an API tree (see M.unknown_fields) holds, as full paths:
--- {"vigil.after", "vigil.configure", "vigil.exec", "vigil.json", ...}, sorted.
---@param api table
---@return string[]
function M.names(api)
  local out = collect(api, "vigil", {})
  table.sort(out)
  return out
end

--- The closest real name to `path.name`, or nil: one of path's own names
--- within a typo's distance (about one edit per three letters, or one is
--- the start of the other), else the same name elsewhere in the API
--- (`vigil.warn` -> `vigil.log.warn`).
---@param api table the API tree
---@param path string where the name was looked up ("vigil", "vigil.log")
---@param name string
---@return string|nil
function M.suggest(api, path, name)
  if type(name) ~= "string" or name == "" or #name > 64 then return nil end
  local best, best_d
  local limit = math.max(1, math.floor(#name / 3))
  for _, full in ipairs(M.names(api)) do
    local parent, leaf = full:match("^(.*)%.([^.]+)$")
    local d = M.distance(name, leaf)
    if parent ~= path then
      d = d == 0 and 0.5 or math.huge -- elsewhere: only the very name
    elseif d > limit and #name >= 3 and #leaf >= 3
      and (leaf:sub(1, #name) == name or name:sub(1, #leaf) == leaf) then
      d = limit
    end
    if d <= limit and (not best_d or d < best_d) then best, best_d = full, d end
  end
  return best
end

--- The message for a name that is not part of the API, as the runtime
--- raises it and `vigil check` prints it.
---@param api table
---@param path string
---@param name any
---@return string
function M.unknown_message(api, path, name)
  local shown
  if type(name) == "string" and #name > 64 then
    shown = string.format("%s[%q...]", path, name:sub(1, 64))
  elseif type(name) == "string" and name:match("^[%a_][%w_]*$") then
    shown = path .. "." .. name
  else
    shown = string.format("%s[%s]", path, type(name) == "string" and string.format("%q", name) or tostring(name))
  end
  local hint = M.suggest(api, path, name)
  if hint then return string.format("%s is not part of the vigil API (did you mean %s?)", shown, hint) end
  return string.format('%s is not part of the vigil API (docs/POLICIES.md, "The vigil API")', shown)
end

local function is_op(t, ...)
  if not t or t.kind ~= "op" then return false end
  for k = 1, select("#", ...) do
    if t.value == select(k, ...) then return true end
  end
  return false
end

-- The key of a field access at toks[j]: `.name` / `:name` / `["name"]`;
-- returns the key, its token and the index after it, or nil.
local function access(toks, j)
  local t = toks[j]
  if is_op(t, ".", ":") and toks[j + 1] and toks[j + 1].kind == "name" then
    return toks[j + 1].value, toks[j + 1], j + 2
  end
  if is_op(t, "[") and toks[j + 1] and toks[j + 1].kind == "string" and toks[j + 1].value
    and is_op(toks[j + 2], "]") then
    return toks[j + 1].value, toks[j + 1], j + 3
  end
  return nil
end

--- Names used in source that the API does not have: a list of {line,
--- message}, in source order. api is a tree of the names `vigil` holds:
--- `true` for a function or value, a table for a table of known names
--- (vigil.log), `"open"` for a table that takes any name (vigil.state).
--- Reads, calls and writes all count: the runtime refuses them all.
---@param source string
---@param api table
---@return table[]
function M.unknown_fields(source, api)
  local toks, found = M.tokens(source), {}
  for idx, t in ipairs(toks) do
    if t.kind == "name" and t.value == "vigil" and not is_op(toks[idx - 1], ".", ":") then
      local node, path, j = api, "vigil", idx + 1
      while type(node) == "table" do
        local key, keytok, after = access(toks, j)
        if key == nil then break end
        if node[key] == nil then
          found[#found + 1] = { keytok.line, M.unknown_message(api, path, key) }
          break
        end
        node, path, j = node[key], path .. "." .. key, after
      end
    end
  end
  return found
end

--- Uses of forbidden names in source: a list of {line, name}. A name is
--- "x" or "lib.fn"; it counts where the code names it (`debug.traceback`,
--- `os.execute(...)`, `os["execute"]`), not where it is a table key,
--- an assignment's target or a new local (`{ debug = true }`,
--- `local debug = false`), nor as a field of something else (`vigil.log.debug`).
---@param source string
---@param forbidden table name -> why
---@return table[]
function M.forbidden_uses(source, forbidden)
  local toks, found = M.tokens(source), {}
  for idx, t in ipairs(toks) do
    local prev = toks[idx - 1]
    if t.kind == "name" and not is_op(prev, ".", ":") then
      for name in pairs(forbidden) do
        local lib, fn = name:match("^([%w_]+)%.([%w_]+)$")
        if fn then
          if t.value == lib and access(toks, idx + 1) == fn and not is_op(toks[idx + 1], ":") then
            found[#found + 1] = { t.line, name }
          end
        elseif t.value == name and not is_op(toks[idx + 1], "=")
          and not (prev and prev.kind == "name" and (prev.value == "local" or prev.value == "function")) then
          found[#found + 1] = { t.line, name }
        end
      end
    end
  end
  return found
end

return M
