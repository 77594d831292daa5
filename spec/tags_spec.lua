-- Node tags (--tag role=db): what peers learn of each other's tags, what a
-- policy reads (ev.tags, vigil.peers()), selects by (vigil.on and
-- vigil.peers filters) and hands to commands (vigil.tag_env, agent.lua's
-- VIGIL_ON_DOWN). Simulated clusters in virtual time (vigil.testing), then
-- two real agents on loopback. spec/c/test_tags.c has the wire format and
-- every rejection.
local testing = require("vigil.testing")
local agents = require("helpers.agents")
local ffi = require("ffi")
local json = require("dkjson")

pcall(ffi.cdef, "int setenv(const char *name, const char *value, int overwrite); int unsetenv(const char *name);")

local DB1, DB2, CACHE, PLAIN = "127.0.0.1:7946", "127.0.0.2:7946", "127.0.0.3:7946", "127.0.0.4:7946"

local function cluster()
  return testing.cluster({
    agents = {
      { pname = DB1, tags = { role = "db", shard = 1 } },
      { pname = DB2, tags = { role = "db", shard = 2 } },
      { pname = CACHE, tags = { role = "cache", zone = "eu-west-1a" } },
      { pname = PLAIN },
    },
    interval = 0.2,
    seed = 7,
  })
end

-- The tags of a table as "k=v,k2=v2", keys sorted ("" for none).
local function text(tags)
  local keys = {}
  for k in pairs(tags or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. "=" .. tostring(tags[k]) end
  return table.concat(keys, ",")
end

-- The peers named in the log lines `msg` that `agent` wrote, sorted.
local function logged_peers(sim, agent, msg)
  local out = {}
  for _, l in ipairs(sim.logs) do
    if l.agent == agent and l.msg == msg then out[#out + 1] = l.values.peer end
  end
  table.sort(out)
  return out
end

describe("tags in a simulated cluster", function()
  it("every agent sees each peer's tags in vigil.peers() and on the peer's events", function()
    local sim = cluster()
    sim:load(function(vigil)
      vigil.on("transition", "tags", function(ev) vigil.log.info("event", { peer = ev.peer, tags = text(ev.tags) }) end)
    end)
    sim:advance(3)
    local want = { [DB1] = "role=db,shard=1", [DB2] = "role=db,shard=2", [CACHE] = "role=cache,zone=eu-west-1a",
      [PLAIN] = "" }
    for _, observer in ipairs(sim:agents()) do
      local seen = 0
      for _, p in ipairs(sim:peers(observer)) do
        assert.are.equal("table", type(p.tags))
        assert.are.equal(want[p.pname], text(p.tags), observer .. " about " .. p.pname)
        seen = seen + 1
      end
      assert.are.equal(4, seen)
    end
    -- peer_up comes with the peer's own first heartbeat, and so with its
    -- tags; peer_joined has them only when that heartbeat was also the first
    -- news of it (the seed's digest introduces the others, without tags).
    for _, o in ipairs(sim:agents()) do
      for p, tags in pairs(want) do
        if o ~= p then
          local up = sim:delivered("peer_up", { agent = o, peer = p })[1]
          assert.are.equal(tags, text(up.tags), o .. " about " .. p)
          local joined = sim:delivered("peer_joined", { agent = o, peer = p })[1]
          assert.truthy(text(joined.tags) == tags or text(joined.tags) == "", o .. " about " .. p)
        end
      end
    end
    -- The seed hears each agent first from the agent itself.
    local joined = sim:delivered("peer_joined", { agent = DB1, peer = CACHE })[1]
    assert.are.equal("role=cache,zone=eu-west-1a", text(joined.tags))
  end)

  it("a handler with a tag filter gets only the events of peers with those tags", function()
    local sim = cluster()
    sim:load(function(vigil)
      vigil.on("peer_down", { tags = { role = "db" } }, function(ev) vigil.log.warn("db down", { peer = ev.peer }) end)
      vigil.on("peer_down", "any-role", { tags = { role = true } }, function(ev)
        vigil.log.warn("tagged down", { peer = ev.peer })
      end)
      vigil.on("peer_down", "shard2", { tags = { role = "db", shard = 2 } }, function(ev)
        vigil.log.warn("shard 2 down", { peer = ev.peer })
      end)
      vigil.on("peer_down", "all", function(ev) vigil.log.info("down", { peer = ev.peer }) end)
    end)
    sim:advance(3)
    sim:crash(DB2)
    sim:crash(CACHE)
    sim:crash(PLAIN)
    sim:advance(4)
    assert.are.same({ DB2, CACHE, PLAIN }, logged_peers(sim, DB1, "down"))
    assert.are.same({ DB2 }, logged_peers(sim, DB1, "db down"))
    assert.are.same({ DB2, CACHE }, logged_peers(sim, DB1, "tagged down"))
    assert.are.same({ DB2 }, logged_peers(sim, DB1, "shard 2 down"))
  end)

  it("vigil.peers{tags = ...} lists only the peers with those tags", function()
    local sim = cluster()
    local found = {}
    sim:load(function(vigil)
      vigil.every(1, function()
        local names = {}
        for _, p in ipairs(vigil.peers({ tags = { role = "db" } })) do names[#names + 1] = p.pname end
        table.sort(names)
        found[vigil.self().pname] = names
        found.any = #vigil.peers({ tags = { zone = true } })
        found.none = #vigil.peers({ tags = { role = "web" } })
      end)
    end)
    sim:advance(3)
    assert.are.same({ DB1, DB2 }, found[PLAIN])
    assert.are.same({ DB1, DB2 }, found[DB1]) -- itself included, as vigil.peers() includes it
    assert.are.equal(1, found.any)
    assert.are.equal(0, found.none)
  end)

  it("a peer restarted with other tags: peer_restarted already carries the new set", function()
    local sim = cluster()
    sim:load(function() end)
    sim:advance(3)
    sim:restart(DB2, { tags = { role = "cache" } })
    sim:advance(2)
    local ev = sim:delivered("peer_restarted", { agent = DB1, peer = DB2 })[1]
    assert.is_table(ev)
    assert.are.equal("role=cache", text(ev.tags))
    for _, p in ipairs(sim:peers(CACHE)) do
      if p.pname == DB2 then assert.are.equal("role=cache", text(p.tags)) end
    end
  end)

  it("vigil.tag_env gives a command the peer's tags as VIGIL_TAG_<KEY>", function()
    local sim = cluster()
    sim:load(function(vigil)
      vigil.on("peer_down", function(ev)
        if vigil.self().pname ~= DB1 then return end
        vigil.exec({ "drain", ev.peer, env = vigil.tag_env(ev, { VIGIL_PEER = ev.peer }) })
      end)
    end)
    sim:advance(3)
    sim:crash(CACHE)
    sim:crash(PLAIN)
    sim:advance(4)
    local by = {}
    for _, e in ipairs(sim.execs) do by[e.args[1]] = e.env end
    assert.are.same({ VIGIL_PEER = CACHE, VIGIL_TAG_ROLE = "cache", VIGIL_TAG_ZONE = "eu-west-1a" }, by[CACHE])
    assert.are.same({ VIGIL_PEER = PLAIN }, by[PLAIN])
  end)

  it("agent.lua runs VIGIL_ON_DOWN with the peer's tags as VIGIL_TAG_<KEY>, once for the cluster", function()
    assert.are.equal(0, ffi.C.setenv("VIGIL_ON_DOWN", "drain \"$VIGIL_PEER\" \"$VIGIL_TAG_ROLE\"", 1))
    local sim = cluster()
    local ok, err = pcall(function() sim:load("agent.lua") end)
    ffi.C.unsetenv("VIGIL_ON_DOWN") -- read by agent.lua as it loads
    assert.is_true(ok, err)
    sim:advance(3)
    sim:crash(DB2)
    sim:advance(4)
    assert.are.equal(1, #sim.execs)
    local env = sim.execs[1].env
    assert.are.equal(DB2, env.VIGIL_PEER)
    assert.are.equal("db", env.VIGIL_TAG_ROLE)
    assert.are.equal("2", env.VIGIL_TAG_SHARD)
    assert.are.equal("refused", env.VIGIL_CAUSE)
  end)

  it("refuses bad filters and bad tags, naming what is wrong", function()
    local sim = cluster()
    local function loads(fn)
      local ok, err = sim:try_load(fn)
      return ok and "" or err
    end
    assert.truthy(loads(function(vigil) vigil.on("peer_down", { tag = { role = "db" } }, print) end)
      :find("vigil.on: a filter takes tags = {key = \"value\"}, not 'tag'", 1, true))
    assert.truthy(loads(function(vigil) vigil.on("peer_down", { tags = { Role = "db" } }, print) end)
      :find("vigil.on: filter tag key Role", 1, true))
    assert.truthy(loads(function(vigil) vigil.on("peer_down", { tags = { role = false } }, print) end)
      :find("filter tags.role must be a string (or true: any value), got false", 1, true))
    assert.truthy(loads(function(vigil) vigil.on("lagged", { tags = { role = "db" } }, print) end)
      :find("lagged is about the policy, not a peer", 1, true))
    assert.truthy(loads(function(vigil) vigil.peers({ tags = "role=db" }) end)
      :find("vigil.peers: filter tags must be a table", 1, true))
    assert.truthy(loads(function(vigil) vigil.tag_env("x") end)
      :find("vigil.tag_env: expected an event or a peer, got string", 1, true))
    local ok, err = pcall(testing.cluster, { agents = { { pname = DB1, tags = { Role = "db" } } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("tag key 'Role'", 1, true), err)
    ok, err = pcall(testing.cluster, { agents = { { pname = DB1, tags = { role = "a b" } } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("tag role = 'a b'", 1, true), err)
  end)
end)

describe("tags on real agents", function()
  after_each(function() agents.stop_all() end)

  it("two agents with tags see each other's tags in vigil members --json and the table", function()
    local policy = agents.tmpfile([[
vigil.on("peer_up", { tags = { role = "cache" } }, function(ev)
  vigil.log.info("a cache is up", { peer = ev.peer, zone = ev.tags.zone, env = vigil.tag_env(ev).VIGIL_TAG_ROLE })
end)
]])
    local a = agents.start({ args = policy .. " --tag role=db --tag shard=7" })
    local b = agents.start({ seeds = { a }, env = "VIGIL_TAGS='role=cache,zone=eu-west-1a'" })
    agents.wait(function()
      local ma, mb = agents.members(a), agents.members(b)
      return ma and mb and ma[b.pname] and mb[a.pname] and ma[b.pname].state == "normal"
        and mb[a.pname].state == "normal" and ma[b.pname].tags.role ~= nil and mb[a.pname].tags.role ~= nil
    end, 10, "both agents up, with each other's tags")
    local ma, mb = agents.members(a), agents.members(b)
    assert.are.same({ role = "cache", zone = "eu-west-1a" }, ma[b.pname].tags)
    assert.are.same({ role = "db", shard = "7" }, mb[a.pname].tags)
    assert.are.same({ role = "db", shard = "7" }, ma[a.pname].tags) -- its own, as is_local
    local out, rc = agents.run(string.format("%s members --http 127.0.0.1:%d", agents.VIGIL, b.http))
    assert.are.equal(0, rc)
    assert.truthy(out:find("^PEER%s.-%sCHANGED%s+TAGS\n"), out)
    assert.truthy(out:find(a.pname:gsub("%p", "%%%0") .. "[^\n]*role=db,shard=7\n"), out)
    assert.truthy(out:find(b.pname:gsub("%p", "%%%0") .. "[^\n]*role=cache,zone=eu%-west%-1a\n"), out)
    assert.truthy(agents.log(a):find('msg="agent started".-tags="role=db,shard=7"'), agents.log(a))
    out = agents.run(string.format("%s info --http 127.0.0.1:%d", agents.VIGIL, a.http))
    assert.truthy(out:find("\ntags +role=db,shard=7\n"), out)
    assert.are.same({ role = "cache", zone = "eu-west-1a" }, json.decode(agents.get(b, "/v1/info")).tags)
    -- The policy on a got b's peer_up with its tags (the script thread's copy of the event).
    agents.wait(function() return agents.log(a):find('msg="a cache is up"', 1, true) ~= nil end, 5, "a's policy")
    assert.truthy(agents.log(a):find('msg="a cache is up" source=policy env=cache peer=' .. b.pname:gsub("%p", "%%%0")
      .. " zone=eu%-west%-1a"), agents.log(a))
    os.remove(policy)
  end)

  it("refuses a bad tag at start-up, naming where it came from and why", function()
    local out, rc = agents.run(agents.VIGIL .. " agent --tag Role=db 2>&1")
    assert.are.equal(2, rc)
    assert.truthy(out:find("--tag: 'Role=db': a tag key is 1 to 32 of a-z, 0-9 and '_'", 1, true), out)
    out, rc = agents.run("VIGIL_TAGS='role=db,role=cache' " .. agents.VIGIL .. " agent 2>&1")
    assert.are.equal(2, rc)
    assert.truthy(out:find("VIGIL_TAGS: tag 'role' given twice", 1, true), out)
    local cfg = agents.tmpfile('{"tags": {"role": "../etc"}}')
    out, rc = agents.run(agents.VIGIL .. " agent --config " .. cfg .. " 2>&1")
    os.remove(cfg)
    assert.are.equal(2, rc)
    assert.truthy(out:find(": tags.role: 'role=../etc': a tag value is", 1, true), out)
  end)
end)
