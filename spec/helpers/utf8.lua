-- spec/helpers/utf8.lua - is a string valid UTF-8 (RFC 3629: no overlong
-- forms, no surrogates, nothing above U+10FFFF)? For the specs that check
-- what the agent writes: logs, JSON, policies' payloads.
local M = {}

function M.valid(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or (c >= 0xc2 and c <= 0xdf) and 2 or (c >= 0xe0 and c <= 0xef) and 3
      or (c >= 0xf0 and c <= 0xf4) and 4 or nil
    if not len or i + len - 1 > n then return false end
    for k = 1, len - 1 do
      local b = s:byte(i + k)
      if b < 0x80 or b > 0xbf then return false end
    end
    local b = s:byte(i + 1)
    if (c == 0xe0 and b < 0xa0) or (c == 0xed and b > 0x9f) or (c == 0xf0 and b < 0x90) or (c == 0xf4 and b > 0x8f) then
      return false
    end
    i = i + len
  end
  return true
end

return M
