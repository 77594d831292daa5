--- vigil.json - JSON for policies (vigil.json.encode / decode), from
--- lua-cjson (Debian: lua-cjson).
---
--- Loaded here, by the runtime, outside the policy's environment: a policy
--- gets the two functions and `null`, never the module or its settings.
--- The instance is cjson.new()'s own, so nothing else that loads cjson can
--- change how it behaves. Configured for output other programs parse:
---  * numbers that JSON cannot carry (NaN, inf) are refused, both ways;
---  * nesting is bounded (MAX_DEPTH), both ways: a cycle or a hostile
---    document fails instead of exhausting the C stack;
---  * what encode returns is valid UTF-8: cjson copies bytes >= 0x80 as
---    they are, so invalid sequences become \ufffd, and U+2028/U+2029, C1 and
---    bidi controls are written \uXXXX (vigil.text, the log's escapes).
--- Without lua-cjson the agent still runs: encode and decode raise an
--- error that says what to install.
local text = require("vigil.text")

local M = {}

--- How deep tables and documents may nest.
M.MAX_DEPTH = 64

local ok, cjson = pcall(require, "cjson")
local J, missing
if ok and type(cjson) == "table" and type(cjson.new) == "function" then
  J = cjson.new()
  J.encode_invalid_numbers(false)
  J.decode_invalid_numbers(false)
  J.encode_max_depth(M.MAX_DEPTH)
  J.decode_max_depth(M.MAX_DEPTH)
  J.encode_sparse_array(false, 2, 10) -- {[1]=1, [1000]=2} is refused, not a thousand nulls
  J.encode_keep_buffer(false)
else
  missing = "lua-cjson is not installed (Debian: apt-get install lua-cjson)"
    .. (ok and "" or ": " .. tostring(cjson):match("^[^\n]*"))
end

--- Whether lua-cjson is there (vigil.json works), and why not.
---@return boolean
---@return string|nil
function M.available() return J ~= nil, missing end

--- JSON's null, as decode returns it and encode takes it (nil when lua-cjson
--- is missing).
M.null = J and J.null or nil

--- A Lua value as JSON text: tables with keys 1..n are arrays, other tables
--- objects, strings any bytes (escaped, invalid UTF-8 as \ufffd). Raises on
--- what JSON cannot carry (functions, NaN, inf, nesting past MAX_DEPTH,
--- sparse arrays).
---@param value any
---@return string
function M.encode(value)
  if not J then error("vigil.json.encode: " .. missing, 2) end
  local done, out = pcall(J.encode, value)
  if not done then error("vigil.json.encode: " .. tostring(out), 2) end
  return text.json_safe(out)
end

--- JSON text as a Lua value (JSON null is vigil.json.null). Returns nil and
--- why when the text is not JSON (or nests past MAX_DEPTH): it came from
--- somewhere else. Raises when s is not a string.
---@param s string
---@return any|nil value
---@return string|nil err
function M.decode(s)
  if not J then error("vigil.json.decode: " .. missing, 2) end
  if type(s) ~= "string" then error("vigil.json.decode: expected a string, got " .. type(s), 2) end
  local done, value = pcall(J.decode, s)
  if not done then return nil, "vigil.json.decode: " .. tostring(value) end
  return value
end

return M
