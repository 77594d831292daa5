--- vigil.text - how text leaves the agent from Lua: the escapes of
--- core/runtime/log.c, for the JSON that vigil.json writes and the logfmt
--- fields that vigil.testing records.
---
--- The agent's own log lines are written in C (vigil_log_fields); this
--- mirrors its rules exactly, and spec/adversary/output_spec.lua holds the
--- two to the same output. Inside quotes: '"' and '\' with a backslash, \n
--- \r \t as such, other control bytes (< 0x20, 0x7f) as \u00XX; the C1
--- controls, the bidirectional controls and U+2028/U+2029 as \uXXXX; bytes
--- that are not UTF-8 as \ufffd, one per maximal ill-formed subsequence.
--- What comes out is ASCII plus valid UTF-8, and a quoted value is a valid
--- JSON string.
local M = {}

local byte, format, concat = string.byte, string.format, table.concat

-- ASCII bytes that are escaped, and how.
local ASCII = { [34] = '\\"', [92] = "\\\\", [10] = "\\n", [13] = "\\r", [9] = "\\t" }
for c = 0, 31 do ASCII[c] = ASCII[c] or format("\\u%04x", c) end
ASCII[127] = "\\u007f"

local function special(cp)
  return (cp >= 0x80 and cp <= 0x9f) or cp == 0x061c or cp == 0x200e or cp == 0x200f
    or (cp >= 0x202a and cp <= 0x202e) or (cp >= 0x2066 and cp <= 0x2069) or cp == 0x2028 or cp == 0x2029
end

-- The character at s[i] (a byte >= 0x80): the text it becomes and the
-- index after it. RFC 3629, as vigil__escape_char.
local function non_ascii(s, i, n)
  local c = byte(s, i)
  local need, lo, hi, cp = 0, 0x80, 0xbf, 0
  if c >= 0xc2 and c <= 0xdf then
    need, cp = 2, c - 0xc0
  elseif c >= 0xe0 and c <= 0xef then
    need, cp = 3, c - 0xe0
    if c == 0xe0 then lo = 0xa0 end
    if c == 0xed then hi = 0x9f end
  elseif c >= 0xf0 and c <= 0xf4 then
    need, cp = 4, c - 0xf0
    if c == 0xf0 then lo = 0x90 end
    if c == 0xf4 then hi = 0x8f end
  end
  local k = 1
  while k < need and i + k <= n do
    local b = byte(s, i + k)
    if b < lo or b > hi then break end
    lo, hi = 0x80, 0xbf
    cp = cp * 64 + (b - 0x80)
    k = k + 1
  end
  if need == 0 or k < need then return "\\ufffd", i + k end
  if special(cp) then return format("\\u%04x", cp), i + need end
  return s:sub(i, i + need - 1), i + need
end

-- Rewrite the bytes of s that `pattern` finds, ASCII ones from ASCII.
local function walk(s, pattern)
  if not s:find(pattern) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local j = s:find(pattern, i)
    if not j then
      out[#out + 1] = s:sub(i)
      break
    end
    if j > i then out[#out + 1] = s:sub(i, j - 1) end
    local c = byte(s, j)
    if c < 0x80 then
      out[#out + 1] = ASCII[c]
      i = j + 1
    else
      out[#out + 1], i = non_ascii(s, j, n)
    end
  end
  return concat(out)
end

--- s escaped for inside double quotes (a JSON string's body).
---@param s string
---@return string
function M.escape(s) return walk(s, '[%z\1-\31"\\\127-\255]') end

--- JSON from lua-cjson made valid UTF-8: cjson escapes '"', '\' and
--- control bytes but copies other bytes as they are; every byte >= 0x7f
--- of its output is inside a string, where these escapes are JSON.
---@param json string
---@return string
function M.json_safe(json) return walk(json, "[\127-\255]") end

--- s as one logfmt value: bare when nothing in it needs quoting, else
--- quoted and escaped (log.c's log__value).
---@param s string
---@return string
function M.logfmt_value(s)
  local e = M.escape(s)
  if s == "" or e ~= s or s:find("[ =]") then return '"' .. e .. '"' end
  return s
end

--- A list {k1, v1, k2, v2, ...} as logfmt fields, "k1=v1 k2=v2" (keys as
--- given: lua/vigil/init.lua checked them).
---@param list table
---@return string
function M.logfmt(list)
  local parts = {}
  for i = 1, #list - 1, 2 do parts[#parts + 1] = list[i] .. "=" .. M.logfmt_value(list[i + 1]) end
  return concat(parts, " ")
end

return M
