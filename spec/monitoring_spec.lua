-- What an operator plugs into Prometheus and Grafana: the families a real
-- agent serves on /metrics, docs/AGENT.md's table of them ("Metrics"),
-- the Grafana dashboard (packaging/grafana/) and the alerting rules with
-- their unit tests (packaging/prometheus/). Each is held to the others: a
-- family the agent serves and the table lacks, a panel or a rule that
-- queries a family nobody serves, a rule without a test, all fail here.
local agents = require("helpers.agents")
local json = require("dkjson")

local DASHBOARD = "packaging/grafana/vigil-dashboard.json"
local RULES_DIR = "packaging/prometheus"
local RULES = RULES_DIR .. "/vigil-rules.yml"
local RULES_TEST = RULES_DIR .. "/vigil-rules.test.yml"

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local sorted = require("helpers.sets").sorted

local missing = require("helpers.sets").missing

--- promtool args (in directory dir, when given): its output and status,
--- or a failure that says how to get it (make deps installs it).
local function promtool(args, dir)
  local _, found = agents.run("command -v promtool >/dev/null")
  assert(found == 0, "promtool is not installed: apt-get install prometheus (make deps does)")
  return agents.run((dir and ("cd '" .. dir .. "' && ") or "") .. "promtool " .. args .. " 2>&1")
end

--- Families in Prometheus text: name -> type.
local function families(text)
  local out = {}
  for name, kind in text:gmatch("# TYPE (%S+) (%S+)") do out[name] = kind end
  return out
end

--- docs/AGENT.md's table of families (section "Metrics"): name -> type.
local function doc_families()
  local out, inside = {}, false
  for line in io.lines("docs/AGENT.md") do
    if line:match("^## ") then inside = line == "## Metrics" end
    local name, kind = line:match("^| `(vigil_[a-z0-9_]+)` | (%a+) |")
    if inside and name then out[name] = kind end
  end
  return out
end

--- The alerts docs/AGENT.md's table names (section "Metrics"): a set.
local function doc_alerts()
  local out, inside = {}, false
  for line in io.lines("docs/AGENT.md") do
    if line:match("^## ") then inside = line == "## Metrics" end
    local name = line:match("^| `(Vigil%w+)` |")
    if inside and name then out[name] = true end
  end
  return out
end

--- The vigil_ families an expression reads: a set. A summary's _sum and
--- _count series belong to their family.
local function names_in(expr, served, into)
  into = into or {}
  for name in expr:gmatch("vigil_[a-z0-9_]+") do
    local base = name:match("^(.-)_sum$") or name:match("^(.-)_count$") or name:match("^(.-)_bucket$")
    if base and (served[base] == "summary" or served[base] == "histogram") then name = base end
    into[name] = true
  end
  return into
end

--- The dashboard's queries: every target's expr and every variable's query.
local function dashboard_queries(dash)
  local out = {}
  local function walk(panels)
    for _, p in ipairs(panels or {}) do
      for _, t in ipairs(p.targets or {}) do out[#out + 1] = t.expr end
      walk(p.panels)
    end
  end
  walk(dash.panels)
  for _, v in ipairs(dash.templating.list) do out[#out + 1] = v.definition end
  return out
end

-- A cluster of two, the first running the default policy (so that the
-- vigil_policy_* families are there), scraped once for every test.
local served, text, a
describe("the families an agent serves on /metrics", function()
  lazy_setup(function()
    a = agents.start({ args = "agent.lua" })
    local b = agents.start({ seeds = { a } })
    agents.wait(function() return agents.all_normal({ a, b }) end, 10, "two agents to see each other")
    agents.wait(function()
      local h = agents.health(a)
      return h and h.policy and h.policy.loaded
    end, 5, "the policy to load")
    text = agents.get(a, "/metrics") or ""
    served = families(text)
  end)
  lazy_teardown(agents.stop_all)

  it("are every family of docs/AGENT.md's table, with its type, and no other", function()
    local doc = doc_families()
    assert.is_true(next(served) ~= nil, "no family in /metrics")
    assert.same({}, missing(served, doc), "families /metrics serves that docs/AGENT.md, \"Metrics\", lacks")
    assert.same({}, missing(doc, served), "families docs/AGENT.md lists that /metrics does not serve")
    for name, kind in pairs(served) do assert.are.equal(kind, doc[name], name .. "'s type") end
  end)

  it("follow the naming rules: vigil_ first, _total on counters and only on them", function()
    for name, kind in pairs(served) do
      assert.truthy(name:find("^vigil_"), name)
      assert.are.equal(kind == "counter", name:find("_total$") ~= nil, name .. " is a " .. kind)
      assert.truthy(text:find("# HELP " .. name .. " ", 1, true), name .. " has no HELP")
    end
  end)

  it("are accepted by promtool check metrics, the policy's families included", function()
    assert.truthy(served.vigil_policy_errors_total and served.vigil_peer_state, "the families under test")
    local path = os.tmpname()
    write(path, text)
    local out, rc = promtool("check metrics < " .. path)
    os.remove(path)
    assert.are.equal(0, rc, out)
  end)

  it("give each member one 0/1 series per state, and say what runs since when", function()
    local me = a.pname:gsub("%p", "%%%0")
    local n, sum, normal = 0, 0, nil
    local series = '\nvigil_peer_state{peer="' .. me .. '",dc="[^"]*",rack="[^"]*",state="(%a+)"} (%S+)'
    for state, v in text:gmatch(series) do
      n, sum = n + 1, sum + tonumber(v)
      if state == "normal" then normal = tonumber(v) end
    end
    assert.are.equal(7, n)
    assert.are.equal(1, sum)
    assert.are.equal(1, normal)
    local version = agents.run(agents.VIGIL .. " version"):match("^vigil (%S+)")
    assert.truthy(text:find('\nvigil_build_info{version="' .. version .. '",protocol="2"} 1\n', 1, true), version)
    -- The start time is the generation (the wall clock at start, in ms).
    local start = tonumber(text:match("\nvigil_start_time_seconds (%S+)\n"))
    assert.is_near(agents.health(a).generation / 1000, start, 0.001)
  end)

  it("leave out the per-peer families with --metrics-per-peer off, and keep the counts", function()
    local c = agents.start({ seeds = { a }, args = "--metrics-per-peer off" })
    agents.wait(function() return agents.state(c, a) == "normal" end, 10, "c to see a")
    local body = agents.get(c, "/metrics") or ""
    assert.truthy(body:find("\nvigil_metrics_per_peer 0\n", 1, true))
    assert.falsy(body:find("\nvigil_peer_", 1, true), "a per-peer family is rendered")
    assert.falsy(body:find("# TYPE vigil_peer_", 1, true), "a per-peer family is declared")
    assert.truthy(body:find('\nvigil_members{state="normal"} ', 1, true))
    assert.truthy(text:find("\nvigil_metrics_per_peer 1\n", 1, true), "auto renders them for 2 members")
    local out, rc = agents.run(agents.VIGIL .. " agent --metrics-per-peer sometimes 2>&1")
    assert.are.equal(2, rc)
    assert.truthy(out:find("--metrics-per-peer: expected auto, on or off, got 'sometimes'", 1, true), out)
  end)
end)

describe("the Grafana dashboard", function()
  local dash = json.decode(read(DASHBOARD))

  it("is JSON Grafana imports, asking for its Prometheus data source", function()
    assert.is_table(dash, DASHBOARD .. " is not JSON")
    assert.are.equal("DS_PROMETHEUS", dash.__inputs[1].name)
    assert.are.equal("prometheus", dash.__inputs[1].pluginId)
    assert.truthy(dash.uid and dash.title and dash.schemaVersion)
    local ids, n = {}, 0
    local function check(p)
      assert.is_nil(ids[p.id], "panel id " .. tostring(p.id) .. " twice")
      ids[p.id] = true
      assert.is_true(p.gridPos.x + p.gridPos.w <= 24, p.title .. " is wider than the dashboard")
      if p.type ~= "row" then
        n = n + 1
        assert.are.equal("${DS_PROMETHEUS}", p.datasource.uid, p.title)
        assert.is_true(#p.targets > 0, p.title .. " has no query")
        for _, t in ipairs(p.targets) do assert.are.equal("${DS_PROMETHEUS}", t.datasource.uid, p.title) end
      end
    end
    for _, p in ipairs(dash.panels) do check(p) end
    assert.is_true(n >= 20, n .. " panels")
    local vars = {}
    for _, v in ipairs(dash.templating.list) do
      vars[v.name] = true
      assert.are.equal("${DS_PROMETHEUS}", v.datasource.uid, v.name)
    end
    assert.same({ instance = true, job = true, peer = true }, vars)
  end)

  it("queries only families the agent serves and docs/AGENT.md lists", function()
    assert.is_table(served, "the agent's families (the spec above)")
    local used = {}
    for _, q in ipairs(dashboard_queries(dash)) do names_in(q, served, used) end
    assert.same({}, missing(used, served), "families the dashboard queries that /metrics does not serve")
    assert.same({}, missing(used, doc_families()), "families the dashboard queries that docs/AGENT.md lacks")
    -- What it is there to show.
    for _, name in ipairs({ "vigil_members", "vigil_peer_state", "vigil_convictions_total", "vigil_peer_phi",
      "vigil_frames_received_total", "vigil_gossip_sent_bytes_total", "vigil_frames_rejected_total",
      "vigil_policy_errors_total", "vigil_policy_events_lagged_total", "vigil_policy_exec_total",
      "vigil_http_connections_rejected_total" }) do
      assert.is_true(used[name], "no panel shows " .. name)
    end
  end)

  it("holds queries Prometheus parses", function()
    -- Every query as a recording rule, its variables given values: promtool
    -- parses them all.
    local lines = { "groups:", "  - name: dashboard", "    rules:" }
    for i, q in ipairs(dashboard_queries(dash)) do
      q = q:gsub("%$__rate_interval", "5m"):gsub("%$%a+", ".*")
      if not q:find("^label_values%(") then
        lines[#lines + 1] = string.format("      - record: dashboard_query_%d\n        expr: %s", i, json.encode(q))
      end
    end
    local path = os.tmpname()
    write(path, table.concat(lines, "\n") .. "\n")
    local out, rc = promtool("check rules " .. path)
    os.remove(path)
    assert.are.equal(0, rc, out)
  end)
end)

describe("the Prometheus alerting rules", function()
  local rules = read(RULES)

  it("pass promtool check rules", function()
    local out, rc = promtool("check rules " .. RULES)
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("SUCCESS", 1, true), out)
  end)

  it("pass their unit tests, which test every alert", function()
    local out, rc = promtool("test rules " .. RULES_TEST)
    assert.are.equal(0, rc, out)
    local alerts, tested = {}, {}
    for name in rules:gmatch("\n%s*%- alert: (%S+)") do alerts[name] = true end
    for name in read(RULES_TEST):gmatch("\n%s*alertname: (%S+)") do tested[name] = true end
    assert.is_true(#sorted(alerts) >= 10, "alerts: " .. table.concat(sorted(alerts), ", "))
    assert.same({}, missing(alerts, tested), "alerts without a test")
    assert.same({}, missing(alerts, doc_alerts()), "alerts docs/AGENT.md does not list")
    assert.same({}, missing(doc_alerts(), alerts), "alerts docs/AGENT.md lists that the rules lack")
  end)

  it("query only families the agent serves", function()
    assert.is_table(served, "the agent's families (the spec above)")
    local used = {}
    for line in rules:gmatch("[^\n]+") do
      if not line:find("^%s*#") then names_in(line, served, used) end
    end
    assert.is_true(next(used) ~= nil)
    assert.same({}, missing(used, served), "families the rules use that /metrics does not serve")
  end)
end)

describe("an installed tree (cmake --install)", function()
  it("holds the dashboard, and the rules with their tests, which pass where they land", function()
    local vigil = agents.VIGIL:sub(1, 1) == "/" and agents.VIGIL or (os.getenv("PWD") .. "/" .. agents.VIGIL)
    local build = vigil:match("^(.*)/[^/]+$")
    local dir = os.tmpname()
    os.remove(dir)
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local out, rc = agents.run(string.format("cmake --install '%s' --prefix '%s' 2>&1", build, dir))
    assert.are.equal(0, rc, out)
    local share = dir .. "/share/vigil"
    assert.are.same(json.decode(read(DASHBOARD)), json.decode(read(share .. "/grafana/vigil-dashboard.json")))
    assert.are.equal(read(RULES), read(share .. "/prometheus/vigil-rules.yml"))
    out, rc = promtool("test rules vigil-rules.test.yml", share .. "/prometheus")
    assert.are.equal(0, rc, out)
  end)
end)
