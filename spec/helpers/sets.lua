-- spec/helpers/sets.lua - sets as tables of key -> true, for the specs that
-- compare what two sources name (docs against the binary, a meta file
-- against the runtime, a dashboard against /metrics).
local M = {}

--- The keys of a set, sorted.
function M.sorted(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

--- The keys of a that b lacks, sorted.
function M.missing(a, b)
  local out = {}
  for k in pairs(a) do
    if not b[k] then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

return M
