---@meta vigil
-- The `vigil` API a policy (agent.lua) is written against, for editors:
-- LuaLS (lua-language-server) definitions, never loaded by the agent.
-- Point your editor at this directory (docs/POLICIES.md, "Editor support"):
--
--     { "workspace.library": ["/usr/share/vigil/lua/vigil/meta"] }
--
-- (under /usr/local for `cmake --install build`; examples/.luarc.json).
--
-- The implementation is lua/vigil/init.lua; spec/authoring_spec.lua checks
-- that every name the runtime gives a policy is declared here, and that
-- nothing here is missing from the runtime.

-- ---------------------------------------------------------------------------
-- Names
-- ---------------------------------------------------------------------------

--- What vigil.on subscribes to.
---@alias vigil.EventName
---| "peer_up"        # a peer is heard and judged up
---| "peer_down"      # a peer is convicted (or announced it is leaving)
---| "peer_joined"    # a peer is seen for the first time
---| "peer_left"      # a peer shut down gracefully (after its peer_down)
---| "peer_restarted" # a peer came back with a new generation
---| "transition"     # any of the five above
---| "lagged"         # the policy fell behind and events were dropped

--- A peer's state, as the detector sees it.
---@alias vigil.State "unknown"|"joining"|"normal"|"standby"|"down"|"reset"|"leaving"

--- The evidence behind a peer_up: "heartbeat" (this agent heard it), "phi"
--- (its phi fell under a raised threshold), "membership" (beyond 9 agents:
--- relayed membership news says it is alive).
---@alias vigil.UpCause "heartbeat"|"phi"|"membership"

--- The evidence behind a peer_down: "phi" (silence), "refused" (its host
--- answered "port unreachable": the process is gone), "observers" (beyond 9
--- agents: a quorum of its observers alerted), "marked" (it left, or a
--- policy marked it).
---@alias vigil.DownCause "phi"|"refused"|"observers"|"marked"

--- Why a peer came up, in this agent's memory of it: "joined" (up for the
--- first time since this agent added it), "recovered" (back after being
--- down, same generation), "restarted" (back after being down, with a new
--- generation).
---@alias vigil.UpReason "joined"|"recovered"|"restarted"

--- The model of the inter-arrival times behind phi.
---@alias vigil.Model "normal"|"exponential"

--- How a command ended: "exit" (it exited, code says how), "timeout" (killed
--- at its timeout), "signal" (killed by a signal), "spawn" (it never started).
---@alias vigil.ExecWhy "exit"|"timeout"|"signal"|"spawn"

-- ---------------------------------------------------------------------------
-- Events: what a handler gets
-- ---------------------------------------------------------------------------

--- Every event.
---@class vigil.Event
---@field type "peer_up"|"peer_down"|"peer_joined"|"peer_left"|"peer_restarted"|"lagged" what happened
---@field at number when, in seconds on the agent's monotonic clock (as vigil.now())
---@field seq? number its position in the agent's event history (absent on lagged)

--- An event about one peer.
---@class vigil.PeerEvent: vigil.Event
---@field type "peer_up"|"peer_down"|"peer_joined"|"peer_left"|"peer_restarted"
---@field peer string its pname, "host:port" (from the network: never paste it into JSON or a shell line)
---@field dc string its datacenter (from the network)
---@field rack string its rack (from the network)
---@field tags table<string, string> its tags, {role = "db"} ({} for none), from its own heartbeats
---@field state vigil.State its state now
---@field previous vigil.State its state before
---@field phi number the deciding suspicion for peer_up and peer_down (0 for the others)
---@field cause? vigil.UpCause|vigil.DownCause the evidence, on peer_up and peer_down
---@field reason? vigil.UpReason why it came up, on peer_up

--- A peer is heard and judged up.
---@class vigil.PeerUpEvent: vigil.PeerEvent
---@field type "peer_up"
---@field cause vigil.UpCause
---@field reason vigil.UpReason

--- A peer is convicted (or announced it is leaving).
---@class vigil.PeerDownEvent: vigil.PeerEvent
---@field type "peer_down"
---@field cause vigil.DownCause

--- A peer is seen for the first time.
---@class vigil.PeerJoinedEvent: vigil.PeerEvent
---@field type "peer_joined"

--- A peer shut down gracefully (after its peer_down).
---@class vigil.PeerLeftEvent: vigil.PeerEvent
---@field type "peer_left"

--- A peer came back with a new generation.
---@class vigil.PeerRestartedEvent: vigil.PeerEvent
---@field type "peer_restarted"

--- The policy fell behind: `missed` events were dropped, oldest first.
---@class vigil.LaggedEvent: vigil.Event
---@field type "lagged"
---@field missed number how many events were dropped

-- ---------------------------------------------------------------------------
-- What the calls take and give
-- ---------------------------------------------------------------------------

--- vigil.configure's settings; each is optional, a bad value raises and
--- changes nothing.
---@class vigil.Settings
---@field threshold? number phi at which a peer is convicted (> 0; default 8)
---@field interval? number seconds between two heartbeats (0.001 to 3600; default 0.2)
---@field model? vigil.Model the inter-arrival model (default "normal")
---@field min_std_dev? number seconds, the least deviation the model assumes (0.001 to 3600)
---@field acceptable_pause? number seconds a live peer may stall without being convicted (0 to 3600)
---@field refused? boolean convict an overdue peer whose port is closed (default true)
---@field thresholds? table<string, number> per dc or per pname ({dc2 = 12, ["10.0.0.9:7946"] = 10}); at most 64
---@field acceptable_pauses? table<string, number> seconds per dc or per pname (0 to 3600); at most 64
---@field budget? number seconds a handler may run (0.001 to 60; default 1)

--- A peer as vigil.peers() gives it (from the latest snapshot).
---@class vigil.Peer
---@field pname string "host:port"
---@field dc string its datacenter
---@field rack string its rack
---@field tags table<string, string> its tags, {role = "db"} ({} for none, or not heard from it yet)
---@field state vigil.State its state
---@field phi number its suspicion now (0 for this agent)
---@field threshold number the threshold it is judged at (its dc's or its own, else the global one)
---@field acceptable_pause number the stall, in seconds, it may take (its dc's or its own, else the global one)
---@field cause? vigil.UpCause|vigil.DownCause the evidence of its latest peer_up or peer_down (nil before any)
---@field reason? vigil.UpReason why it came up, while it is up
---@field since number when it entered its state, in seconds on the agent's clock
---@field generation number its process's generation (a restart makes a new one)
---@field is_local boolean true for this agent

--- Which peers vigil.on and vigil.peers take: those with every tag named,
--- with that value (true: any value).
---@class vigil.Filter
---@field tags? table<string, string|number|true> {role = "db", zone = true}

--- vigil.exec's command: the program and its arguments in the array part,
--- never through a shell unless you name one.
---@class vigil.ExecSpec
---@field [integer] string|number the program (1) and its arguments (2..n)
---@field timeout? number seconds before TERM, then KILL 2 s later (0 to 3600; default 10)
---@field retries? integer attempts after a failure (0 to 100; default 0)
---@field backoff? number seconds before the first retry, doubled each time (default 1)
---@field env? table<string, string|number> added to the agent's environment
---@field stdin? string written to the command's standard input
--- called once, after the last attempt
---@field on_exit? fun(code: integer|nil, stdout: string, stderr: string, why: vigil.ExecWhy)

-- ---------------------------------------------------------------------------
-- vigil
-- ---------------------------------------------------------------------------

--- The API a policy sees, as the global `vigil` (also `require("vigil")`).
--- Any other name raises: "vigil.exce is not part of the vigil API (did you
--- mean vigil.exec?)".
---@class vigil
vigil = {}

--- What vigil.after and vigil.every return.
---@class vigil.Timer
---@field stop fun(self: vigil.Timer) stop the timer; it will not fire again

--- Structured logs on the agent's stderr (logfmt, `source=policy`): field
--- names are 1 to 64 of A-Z a-z 0-9 _ . - and not ts, level, msg or source
--- (others raise); values are quoted and escaped as they need.
---@class vigil.Log
vigil.log = {}

--- A debug line.
---@param msg any
---@param fields? table<string, any>
function vigil.log.debug(msg, fields) end

--- An info line.
---@param msg any
---@param fields? table<string, any>
function vigil.log.info(msg, fields) end

--- A warn line.
---@param msg any
---@param fields? table<string, any>
function vigil.log.warn(msg, fields) end

--- An error line.
---@param msg any
---@param fields? table<string, any>
function vigil.log.error(msg, fields) end

--- JSON, from lua-cjson (raises "lua-cjson is not installed" without it).
---@class vigil.Json
vigil.json = {}

--- JSON text for a value: tables with keys 1..n are arrays, others objects;
--- always valid UTF-8. Raises on what JSON cannot carry (functions, NaN,
--- inf, sparse arrays, nesting deeper than 64).
---@param value any
---@return string
function vigil.json.encode(value) end

--- A value from JSON text, or nil and why when it is not JSON (or nests
--- deeper than 64). Raises when text is not a string.
---@param text string
---@return any|nil value
---@return string|nil err
function vigil.json.decode(text) end

--- JSON's null, as decode returns it and encode takes it.
---@type lightuserdata
vigil.json.null = nil

--- Subscribe to an event. A named handler replaces the handler of the same
--- name (handy while editing); unnamed ones add up.
---@param event vigil.EventName
---@param name_or_fn string|fun(ev: vigil.Event) a name, or the handler
---@param fn? fun(ev: vigil.Event) the handler, when a name was given
---@overload fun(event: "peer_up", fn: fun(ev: vigil.PeerUpEvent))
---@overload fun(event: "peer_up", name: string, fn: fun(ev: vigil.PeerUpEvent))
---@overload fun(event: "peer_down", fn: fun(ev: vigil.PeerDownEvent))
---@overload fun(event: "peer_down", name: string, fn: fun(ev: vigil.PeerDownEvent))
---@overload fun(event: "peer_joined", fn: fun(ev: vigil.PeerJoinedEvent))
---@overload fun(event: "peer_joined", name: string, fn: fun(ev: vigil.PeerJoinedEvent))
---@overload fun(event: "peer_left", fn: fun(ev: vigil.PeerLeftEvent))
---@overload fun(event: "peer_left", name: string, fn: fun(ev: vigil.PeerLeftEvent))
---@overload fun(event: "peer_restarted", fn: fun(ev: vigil.PeerRestartedEvent))
---@overload fun(event: "peer_restarted", name: string, fn: fun(ev: vigil.PeerRestartedEvent))
---@overload fun(event: "transition", fn: fun(ev: vigil.PeerEvent))
---@overload fun(event: "transition", name: string, fn: fun(ev: vigil.PeerEvent))
---@overload fun(event: "lagged", fn: fun(ev: vigil.LaggedEvent))
---@overload fun(event: "lagged", name: string, fn: fun(ev: vigil.LaggedEvent))
---@overload fun(event: vigil.EventName, filter: vigil.Filter, fn: fun(ev: vigil.PeerEvent))
---@overload fun(event: vigil.EventName, name: string, filter: vigil.Filter, fn: fun(ev: vigil.PeerEvent))
function vigil.on(event, name_or_fn, fn) end

--- Tune the detector and the runtime, live. At the top level of the file
--- the settings apply once the file has loaded completely. A bad value
--- raises an error naming it, and nothing changes.
---@param settings vigil.Settings
function vigil.configure(settings) end

--- Every peer the agent knows, itself included, from the latest snapshot
--- (at most a tick old); with a filter, only those with the tags named.
---@param filter? vigil.Filter
---@return vigil.Peer[]
function vigil.peers(filter) end

--- A peer's tags as a command's environment, {VIGIL_TAG_ROLE = "db"}; with
--- env, added to it (and env returned): vigil.exec{..., env = vigil.tag_env(ev, {VIGIL_PEER = ev.peer})}.
---@param ev vigil.PeerEvent|vigil.Peer
---@param env? table<string, string|number>
---@return table<string, string>
function vigil.tag_env(ev, env) end

--- One peer by pname, or nil.
---@param pname string
---@return vigil.Peer|nil
function vigil.peer(pname) end

--- This agent, as a peer.
---@return vigil.Peer|nil
function vigil.self() end

--- Convict a peer now, without waiting for the detector (cause "marked").
---@param pname string
---@return boolean|nil ok
---@return string|nil why
function vigil.mark_down(pname) end

--- The conviction threshold in force.
---@return number
function vigil.threshold() end

--- Monotonic time in seconds (the detector's clock; virtual in specs).
---@return number
function vigil.now() end

--- Run fn once, s seconds from now.
---@param s number seconds (>= 0)
---@param fn fun()
---@return vigil.Timer
function vigil.after(s, fn) end

--- Run fn every s seconds.
---@param s number seconds (> 0)
---@param fn fun()
---@return vigil.Timer
function vigil.every(s, fn) end

--- Run a command asynchronously, never through a shell: killed at its
--- timeout (TERM, then KILL), retried with exponential backoff on failure,
--- queued behind the running ones (4 at once, 64 waiting). Returns true, or
--- nil and "exec queue full". A bad spec raises naming the field.
---@param spec vigil.ExecSpec
---@return boolean|nil ok
---@return string|nil why
function vigil.exec(spec) end

--- A table that survives reloads: keep counters and memories here.
---@type table<any, any>
vigil.state = {}

--- True on exactly one live agent for that peer (rendezvous hashing over
--- the normal agents, the peer excluded): a reaction guarded by it runs
--- once per cluster, not once per agent.
---@param pname string
---@return boolean
function vigil.responsible(pname) end

return vigil
