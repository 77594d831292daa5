/*
 * help.c - `vigil help [topic]` and the vigil(1) man page, from one text.
 *
 * Owns: the operator's reference, as a table of topics (one per command,
 * plus config, metrics and keys), each a list of blocks -- paragraphs,
 * headings, "term: meaning" items and verbatim examples -- and its two
 * renderings: wrapped plain text for the terminal (`vigil help agent`) and
 * roff for man (`vigil help --man`, which the build runs to make vigil.1).
 * A new command is a new row in `topics`; both renderings follow.
 *
 * The agent's settings are not written here: a SETTINGS block draws them
 * from config.c's table, the one `vigil agent --help`, the flags, the
 * config file and the environment all come from. The other commands' short
 * `--help` texts stay beside their flag parsing (main.c, sim.c);
 * spec/install_spec.lua checks that every flag one names, the other names
 * too, so the two cannot drift apart.
 *
 * Must never: describe what the binary does not do. Paths are the ones
 * this build installs to (VIGIL_LUA_INSTALLED, VIGIL_CPATH_INSTALLED).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"

typedef enum help_kind {
  HELP_END,      /* the end of a topic's blocks */
  HELP_PARA,     /* a paragraph, wrapped */
  HELP_HEAD,     /* a heading inside a topic */
  HELP_ITEM,     /* term, then its meaning, indented */
  HELP_CODE,     /* lines shown as they are (examples) */
  HELP_SETTINGS, /* the agent's settings, as items, from config.c's table */
} help_kind;

typedef struct help_block {
  help_kind kind;
  const char *term; /* HELP_ITEM only */
  const char *text;
} help_block;

/* The blocks, as a topic's table writes them. */
/* clang-format off */
#define P(t)     {HELP_PARA, NULL, t}
#define H(t)     {HELP_HEAD, NULL, t}
#define I(k, t)  {HELP_ITEM, k, t}
#define C(t)     {HELP_CODE, NULL, t}
#define SETTINGS {HELP_SETTINGS, NULL, NULL}
#define END      {HELP_END, NULL, NULL}
/* clang-format on */

typedef struct help_topic {
  const char *name;     /* vigil help NAME */
  const char *summary;  /* one line, for `vigil help` */
  const char *synopsis; /* a command's usage line; NULL for the topics that are not commands */
  const char *man;      /* the man page section of a topic that is not a command */
  const help_block *blocks;
} help_topic;

/* ---- the topics ---------------------------------------------------------------------- */

static const help_block intro[] = {
    P("vigil is a cluster agent. One runs on every machine of a cluster; the agents gossip heartbeats over UDP "
      "and each decides for itself, with a phi-accrual failure detector, which of its peers are up and which "
      "are down. What happens next is written in Lua: a policy (agent.lua) tunes the detector, subscribes to "
      "peer_up and peer_down and reacts (log, page, run a command, drain a node), is reloaded live, and is "
      "tested in virtual time before it reaches production."),
    P("`vigil help TOPIC` prints one section of this page. Every command also answers --help with its flags."),
    END,
};

static const help_block agent[] = {
    P("Run an agent until SIGINT or SIGTERM; then it tells its peers it is leaving and exits 0. With no flags "
      "it runs a single agent on loopback: gossip on UDP 127.0.0.1:7946, HTTP on 127.0.0.1:7947. The policy "
      "file, when given, must be readable; a policy that fails to load is logged and reported in /health, and "
      "the agent runs on without one until a reload succeeds."),
    H("Settings"),
    P("Every setting is a flag, a key of the JSON file --config names, and a VIGIL_* environment variable "
      "(`vigil help config`): flags win over the environment, the environment over the file, the file over "
      "the defaults."),
    SETTINGS,
    P("Durations are numbers with a unit: 150ms, 2s, 1.5m. Every bad flag or value exits with status 2 and a "
      "message naming the flag."),
    H("Signals"),
    I("SIGTERM, SIGINT", "Tell every peer this agent is leaving (they mark it down at once), stop the policy "
                         "and its commands, exit 0."),
    I("SIGHUP", "Read the keyring file again (a file that does not load leaves the keys in force) and reload "
                "the policy. Saving the policy file and `vigil reload` reload it too."),
    H("Under systemd"),
    P("The agent speaks systemd's notify protocol when NOTIFY_SOCKET is set (Type=notify): READY=1 once gossip "
      "and HTTP listen and the policy has loaded or failed to (STATUS= says which, and is updated after each "
      "reload), WATCHDOG=1 from the core loop when WatchdogSec= is set, STOPPING=1 on SIGTERM. vigil.service "
      "runs `vigil agent /etc/vigil/agent.lua` as the user vigil in a sandbox; AGENT.md, \"Running under "
      "systemd\" (in " VIGIL_DOC_INSTALLED "), says what the sandbox allows a policy's commands and how to "
      "loosen it."),
    H("Examples"),
    C("vigil agent agent.lua --listen 10.0.0.1:7946 --keyring /etc/vigil/keyring\n"
      "vigil agent agent.lua --listen 10.0.0.2:7946 --keyring /etc/vigil/keyring --seeds 10.0.0.1:7946"),
    END,
};

static const help_block check[] = {
    P("Load a policy as an agent would (the same runtime, the same time budget) without starting one: syntax, "
      "the file's top level, vigil.on and vigil.configure arguments. Then scan its source, handlers included "
      "(code that loading does not run), for names that are not part of the vigil API (vigil.exce: \"did you "
      "mean vigil.exec?\") and for what a policy cannot reach (os.execute, io.popen, debug, jit, ...). Prints "
      "\"agent.lua: ok (N handlers, N timers)\", or each problem with its file and line, and exits 1. Put it in "
      "your deploy pipeline."),
    C("vigil check /etc/vigil/agent.lua"),
    END,
};

static const help_block reload[] = {
    P("Ask the agent at --http to reload its policy (POST /v1/reload), wait for the result (at most 5 s) and "
      "print it. Exits 1 when the new policy failed to load: the agent keeps running the previous one, and "
      "/health says why. SIGHUP (systemctl reload vigil) and saving the file do the same. Mutating requests "
      "are answered for loopback clients, or with the bearer token (see `vigil help keys`)."),
    H("Flags"),
    I("--http host:port", "The agent's HTTP address (default 127.0.0.1:7947)."),
    I("--http-token-file file", "Send the token in this file (an agent beyond loopback)."),
    END,
};

static const help_block members[] = {
    P("Show the members the agent at --http knows, as it sees them: peer, dc, rack, state, phi, last heard, "
      "generation, and the policy's status at the bottom. Exits 1 when no agent answers."),
    H("Flags"),
    I("--http host:port", "The agent's HTTP address (default 127.0.0.1:7947)."),
    I("--watch", "Refresh every second until interrupted: redrawn on a terminal; into a pipe each table "
                 "(or, with --json, each document on one line) follows the last, never an escape code."),
    I("--json", "Print the JSON of GET /v1/members as it is."),
    END,
};

static const help_block join[] = {
    P("Ask the local agent to contact agents at ADDR now (host:port, [ipv6]:port, or a host name or IP alone for "
      "port 7946; names are resolved by the command, agents only ever see IP literals). They become the agent's "
      "seeds: it sends them its heartbeat at once and every round until they answer. The command waits for their "
      "answers and prints who joined; it exits 0 when at least one did (gossip brings the rest, as with `serf "
      "join`), 1 when none answered in time. POST /v1/join: loopback clients, or the bearer token."),
    H("Flags"),
    I("--http host:port", "The local agent's HTTP address (default 127.0.0.1:7947)."),
    I("--http-token-file file", "Send the token in this file (an agent beyond loopback)."),
    I("--wait duration", "How long to wait for answers (default 5s; 0 = do not wait)."),
    END,
};

static const help_block leave[] = {
    P("Make the agent leave gracefully, as on SIGTERM: it tells its peers, which mark it down and report "
      "peer_left at once, and exits 0. The command waits until it is gone. POST /v1/leave: loopback clients, or "
      "the bearer token. Under systemd, prefer `systemctl stop vigil` (a leave the service manager sees)."),
    H("Flags"),
    I("--http host:port", "The agent's HTTP address (default 127.0.0.1:7947)."),
    I("--http-token-file file", "Send the token in this file (an agent beyond loopback)."),
    I("--wait duration", "How long to wait for it to exit (default 10s)."),
    END,
};

static const help_block force_leave[] = {
    P("Make the local agent forget PEER (host:port) now: marked down (cause marked) and removed from its "
      "members at once, with a tombstone so that other agents' news does not bring it back (its own heartbeat "
      "still does: it is alive). For a peer that failed or left; a peer the agent holds up is refused unless "
      "--force. Each agent forgets for itself: run it where the peer should be gone (others reap it after their "
      "--reap time). POST /v1/force-leave."),
    H("Flags"),
    I("--http host:port", "The local agent's HTTP address (default 127.0.0.1:7947)."),
    I("--http-token-file file", "Send the token in this file (an agent beyond loopback)."),
    I("--force", "Forget the peer even though it is not down."),
    END,
};

static const help_block monitor[] = {
    P("Print the agent's events as they happen, one per line, until interrupted: peer_up (with its reason: "
      "joined, recovered, restarted), peer_down (with its cause), peer_joined, peer_left, peer_restarted, and "
      "lagged when this reader fell behind and missed some. logfmt lines by default (the agent's own log lines, "
      "with event=), JSON lines with --json. At most 8 readers; one that does not read is dropped, never "
      "waited for. GET /v1/monitor: loopback clients, or the bearer token."),
    H("Flags"),
    I("--http host:port", "The agent's HTTP address (default 127.0.0.1:7947)."),
    I("--http-token-file file", "Send the token in this file (an agent beyond loopback)."),
    I("--json", "JSON lines (the policy's event fields) instead of logfmt."),
    I("--all", "gossip_round events too (one per gossip interval)."),
    END,
};

static const help_block info[] = {
    P("Show what the agent is: version, name, generation, placement, addresses, gossip settings, peers by "
      "state, policy, keyring (on or off and how many keys, never a key), uptime. GET /v1/info."),
    H("Flags"),
    I("--http host:port", "The agent's HTTP address (default 127.0.0.1:7947)."),
    I("--json", "Print /v1/info as it is."),
    END,
};

static const help_block keygen[] = {
    P("Print a new random key (32 bytes from libsodium, in base64) on one line, as a keyring file holds it. "
      "`vigil help keys` says where a keyring lives and how to rotate one while the cluster runs."),
    C("(umask 077; vigil keygen > /var/lib/vigil/keyring)"),
    P("Copy the file to every agent and name it with --keyring (or the keyring key of vigil.json)."),
    END,
};

static const help_block sim[] = {
    P("Simulate a cluster on the real membership code (every simulated agent is a real node; only the network "
      "and the clock are simulated) in virtual time, inject failures, and report false alarms, detection "
      "times, traffic per agent and convergence. The same --seed gives the same run. Use it to judge a "
      "setting at the size you run before it reaches production; memory grows with the square of --agents "
      "(about 0.9 GiB at 1,000)."),
    H("Flags"),
    I("--agents n", "Agents (default 5)."),
    I("--interval duration", "Gossip interval (default 200ms)."),
    I("--observers n, --quorum n",
      "The observers watching each agent, and the alerts of them that convict (defaults 8 and 5, what agents "
      "run with: for experiments only)."),
    I("--duration duration", "Simulated time (default 60s)."),
    I("--loss fraction", "Datagrams lost on every link, 0 to 1 (default 0)."),
    I("--delay duration, --jitter duration", "One-way latency and its standard deviation (defaults 0.2ms, 0.05ms)."),
    I("--kill n", "Agents killed (kill -9: their hosts refuse) (default 0)."),
    I("--stop n", "Agents stopped (SIGSTOP, a dead host: silence) (default 0)."),
    I("--stall-every duration, --stall duration", "One agent somewhere freezes for --stall (default 2s) this "
                                                  "often (default: never), then resumes."),
    I("--warmup duration", "No fault before this (default: a quarter of --duration)."),
    I("--seeds n", "The first n agents are everyone's seeds (default 1)."),
    I("--threshold phi, --acceptable-pause duration, --window n", "The detector (defaults 8, 2s, 1000 samples)."),
    I("--seed n", "Random seed (default 1)."),
    I("--json", "Print one JSON document instead of a table."),
    I("--cdf file", "Also write every detection time to file as CSV lines kind,seconds, for plots."),
    C("vigil sim --agents 1000 --kill 3 --stop 3 --loss 0.05 --duration 120s"),
    END,
};

static const help_block test[] = {
    P("Run the busted specs in dir (default: spec) under LuaJIT with vigil.testing and vigil.core on the "
      "paths, so a directory of policy specs needs no set-up: each spec loads a policy on every agent of a "
      "simulated cluster, injects failures and checks the reactions, in virtual time. Arguments after dir go "
      "to busted (e.g. --filter=name). Needs busted and luajit (Debian: lua-busted, luajit)."),
    C("vigil test spec --filter=drain"),
    END,
};

static const help_block config[] = {
    P("An agent is configured in two places. Its settings fix what it is: its address, seeds, placement, keys, "
      "HTTP listener and limits (`vigil help agent` lists them all). Its policy, agent.lua, tunes the detector "
      "with vigil.configure (threshold, acceptable_pause, min_std_dev, refused, per-dc thresholds), says what "
      "to do about transitions, and is reloaded live (`vigil help reload`)."),
    P("Each setting can be given three ways, and the first found wins: a flag (--max-peers 100), an "
      "environment variable (VIGIL_MAX_PEERS=100), a key of the JSON file that --config or VIGIL_CONFIG names "
      "({\"max_peers\": 100}); then its default. A list (seeds, tokens) given by one source replaces the list "
      "of the sources below it. Relative paths in the file are relative to the file's directory. Every value "
      "given is checked, overridden ones too, and a bad one stops the agent with status 2 and a message "
      "naming the flag, the variable, or the file and the key."),
    C("{\n"
      "  \"listen\": \"10.0.0.1:7946\",\n"
      "  \"seeds\": [\"10.0.0.2:7946\", \"10.0.0.3:7946\"],\n"
      "  \"keyring\": \"keyring\",\n"
      "  \"dc\": \"eu-west\"\n"
      "}"),
    H("Files"),
    I("/etc/vigil/agent.lua", "The policy vigil.service runs: the default policy, written as an operator's "
                              "guide; the package keeps your edits on upgrade."),
    I("/etc/vigil/vigil.json", "The settings vigil.service reads (--config): as shipped, one agent on "
                               "loopback, gossip on 127.0.0.1:7946 and HTTP on 127.0.0.1:7947."),
    I("/etc/vigil/http-token", "The bearer token for mutating HTTP requests from beyond loopback; root:vigil, "
                               "mode 640."),
    I("/var/lib/vigil", "The service's state directory: its home and the working directory of a policy's "
                        "commands, and the only place they may write besides their private /tmp."),
    I("/var/lib/vigil/keyring", "Where vigil.service keeps gossip keys (`vigil help keys`): vigil's, mode 600, "
                                "in a directory the agent may write, since `vigil keys` rewrites the file."),
    I(VIGIL_ETC_DEFAULTS, "The two files above as shipped, to compare with or start again from."),
    I(VIGIL_LUA_INSTALLED, "The Lua modules: the policy API (vigil), the runtime, vigil.testing; and in "
                           "vigil/meta the API's LuaLS annotations, for editors."),
    I(VIGIL_CPATH_INSTALLED "/vigil/core.so", "vigil.core, the Lua binding of the core, for vigil.testing "
                                              "and plain luajit."),
    I(VIGIL_DOC_INSTALLED, "The guides (AGENT.md, POLICIES.md, ...); in examples/, example policies and a "
                           "vigil.json with every key."),
    P("The binary finds its Lua modules relative to itself first (../share/vigil/lua from its directory), so "
      "an installed tree that was moved, or unpacked anywhere, works as it is."),
    H("Environment"),
    I("VIGIL_*", "The agent's settings (above; each one's variable is in `vigil help agent`)."),
    I("VIGIL_LUA_PATH", "The directory holding vigil/runtime.lua, used instead of the installed modules (to "
                        "try a changed Lua layer). Set but wrong, the agent and `vigil check` say so."),
    I("NOTIFY_SOCKET, WATCHDOG_USEC", "Set by systemd: see `vigil help agent`, \"Under systemd\"."),
    I("VIGIL_ON_DOWN", "Read by the default agent.lua: a shell command it runs, on one agent of the cluster, "
                       "for every peer that goes down (with VIGIL_PEER, VIGIL_DC, VIGIL_RACK, VIGIL_PHI, "
                       "VIGIL_CAUSE set)."),
    END,
};

static const help_block metrics[] = {
    P("GET /metrics on the agent's --http address answers in Prometheus text format. Every family starts with "
      "vigil_ and has a # HELP line; counters end in _total, times are seconds. These are the ones to watch "
      "first:"),
    I("vigil_members{state}", "Members by state, this agent included: alert when down is not 0."),
    I("vigil_convictions_total{cause}",
      "Peers convicted, by the evidence: phi (silence), refused (its host answered \"port unreachable\"), "
      "marked (it left), observers (a quorum of its observers, beyond 9 agents)."),
    I("vigil_peer_state{peer,dc,rack,state}",
      "1 for each peer's state, 0 for the other states: vigil_peer_state{state=\"down\"} == 1 lists the "
      "peers held down."),
    I("vigil_peer_phi{peer,dc,rack}", "Each peer's suspicion now; convicted past vigil_phi_threshold."),
    I("vigil_peer_state_transitions_total{peer,from,to}", "Transitions, per peer."),
    I("vigil_metrics_per_peer",
      "1 while the vigil_peer_* families are rendered: --metrics-per-peer auto (up to 64 members), on or off."),
    I("vigil_frames_rejected_total{reason}",
      "Datagrams dropped before touching any peer: malformed, unauthenticated, a wrong key, a forged source, "
      "too old (skew). A rise of reason=\"auth\" means keyrings that do not match."),
    I("vigil_frames_received_total{type}, vigil_frames_sent_total{type}", "Gossip traffic."),
    I("vigil_icmp_errors_total{kind}", "ICMP errors for this agent's datagrams, read from its socket's error queue."),
    I("vigil_local_pauses_total", "Times this agent found itself paused (a stalled VM or process)."),
    I("vigil_policy_reloads_total{result}, vigil_policy_last_reload_failed",
      "Policy loads: a rise of result=\"error\", or the gauge at 1, is a policy that did not load."),
    I("vigil_policy_errors_total{event}, vigil_policy_interrupted_total{event}",
      "Handlers that raised, or ran past their time budget."),
    I("vigil_policy_events_lagged_total", "Events lost because the policy fell behind."),
    I("vigil_policy_exec_total{result}", "Commands the policy ran, by outcome."),
    I("vigil_http_connections_rejected_total{reason}", "HTTP connections turned away or cut short."),
    I("vigil_build_info{version,protocol}, vigil_start_time_seconds", "What runs, and since when."),
    P("--metrics-per-peer off drops every vigil_peer_* family: each has a series per member, so a cluster of N "
      "agents scraped whole holds N * N of them (auto, the default, drops them past 64 members)."),
    I(VIGIL_MONITORING_INSTALLED "/grafana/vigil-dashboard.json",
      "A Grafana dashboard of these families: import it and pick the Prometheus data source."),
    I(VIGIL_MONITORING_INSTALLED "/prometheus/vigil-rules.yml",
      "Prometheus alerting rules (peers down, conviction storms, a failing or lagging policy, rejected "
      "frames, clock skew, unreachable agents); vigil-rules.test.yml beside it is their promtool test."),
    P("`curl -s 127.0.0.1:7947/metrics | grep '^# HELP'` lists them all. The other endpoints:"),
    I("GET /health",
      "JSON status: 200 \"ok\", or 503 \"degraded\" with reasons (the policy does not load, its thread is gone, "
      "its last reload failed), for a deploy or a load balancer to gate on."),
    I("GET /v1/members", "Every member as JSON; ?format=text gives the table of `vigil members`."),
    I("POST /v1/reload", "Reload the policy (202; the outcome shows in /health). Loopback clients, or the "
                         "bearer token."),
    END,
};

static const help_block keys[] = {
    P("Without a keyring an agent listens on loopback only, and warns that gossip is unauthenticated. With a "
      "keyring (--keyring FILE) every frame it sends is encrypted and authenticated with the keyring's first "
      "key, the primary; a frame that no key of the keyring opens is dropped and counted "
      "(vigil_frames_rejected_total) before it touches a peer. Every agent of a cluster needs a key in common."),
    P("A keyring file holds one base64 32-byte key per line (at most 8); blank lines and lines starting with # "
      "are ignored. `vigil keygen` prints a new key. Under vigil.service the keyring lives in the agent's own "
      "directory, since `vigil keys` rewrites it (/etc is read-only to the agent), and vigil.json names it:"),
    C("vigil keygen | install -o vigil -g vigil -m 600 /dev/stdin /var/lib/vigil/keyring\n"
      "# /etc/vigil/vigil.json: \"keyring\": \"/var/lib/vigil/keyring\""),
    H("Rotation"),
    P("Without a restart, each step on every agent before the next: `vigil keys install NEW` (it decrypts), "
      "`vigil keys use NEW` (it encrypts), `vigil keys remove OLD`; the agent writes each change to its "
      "keyring file first. Or edit every agent's file the same way (new key second, then first, then the old "
      "one gone) and reload each time: SIGHUP (systemctl reload vigil) reads the file again, and a file that "
      "does not load is logged while the keys in force stay."),
    H("The HTTP token"),
    P("Reads (/metrics, /v1/members, /v1/info, /health) answer anyone who can reach the HTTP port. Changes "
      "(every POST: reload, join, leave, keys ...) and the monitor stream answer loopback clients, and others "
      "only when --http-token-file is given and they send \"Authorization: Bearer TOKEN\" (401 without it; "
      "403 when the agent has no token file). The file holds one line of 16 to 256 printable characters and "
      "must not be readable by every user."),
    C("head -c 32 /dev/urandom | base64 > /etc/vigil/http-token\n"
      "chown root:vigil /etc/vigil/http-token; chmod 640 /etc/vigil/http-token"),
    END,
};

static const help_topic topics[] = {
    {"agent", "run an agent: flags, signals, systemd", "vigil agent [agent.lua] [flags]", NULL, agent},
    {"check", "check a policy file without starting an agent", "vigil check agent.lua", NULL, check},
    {"reload", "make a running agent reload its policy", "vigil reload [--http host:port] [--http-token-file file]",
     NULL, reload},
    {"members", "show the members an agent knows", "vigil members [--http host:port] [--watch] [--json]", NULL,
     members},
    {"join", "make the agent contact other agents now", "vigil join [flags] ADDR [ADDR...]", NULL, join},
    {"leave", "make the agent leave the cluster and exit", "vigil leave [flags]", NULL, leave},
    {"force-leave", "make the agent forget a failed peer now", "vigil force-leave [flags] PEER", NULL, force_leave},
    {"monitor", "print the agent's events as they happen", "vigil monitor [flags]", NULL, monitor},
    {"info", "show what the agent is and how it is set", "vigil info [flags]", NULL, info},
    {"keygen", "print a new key for a keyring", "vigil keygen", NULL, keygen},
    {"sim", "simulate a cluster of many agents in virtual time", "vigil sim [flags]", NULL, sim},
    {"test", "run policy specs (busted, vigil.testing)", "vigil test [dir] [busted flags]", NULL, test},
    {"config", "where an agent's settings live: flags, policy, files, environment", NULL, "CONFIGURATION", config},
    {"metrics", "what /metrics, /health and the other endpoints answer", NULL, "METRICS AND ENDPOINTS", metrics},
    {"keys", "encrypting gossip, key rotation, the HTTP token", NULL, "KEYS", keys},
};

#define NTOPICS (sizeof topics / sizeof topics[0])

/* ---- plain text ------------------------------------------------------------------------ */

#define WIDTH  80
#define INDENT 26 /* where an item's meaning starts */

/* Print text wrapped at WIDTH, every line but the first indented by
 * `indent`; the first starts at column `col`. Words are never split. */
static void help__wrap(FILE *out, const char *text, int indent, int col) {
  const char *p = text;
  bool first = true;
  while (*p) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " ");
    if (!n) break;
    if (!first && col + 1 + (int)n > WIDTH) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
    } else if (!first) {
      fputc(' ', out);
      col++;
    }
    fwrite(p, 1, n, out);
    col += (int)n;
    p += n;
    first = false;
  }
  fputc('\n', out);
}

typedef void (*help_item_fn)(FILE *out, const char *term, const char *text);

/* Each of the agent's settings, as an item: config.c's table, what
 * `vigil agent --help` lists (agent_settings_usage is the table's public
 * door: it leaves s->st holding it). Removed settings stay hidden. */
static void help__settings(FILE *out, help_item_fn item) {
  agent_settings *s = calloc(1, sizeof *s);
  FILE *null = fopen("/dev/null", "w");
  if (!s || !null) die(1, "help", "cannot read the agent's settings: %s", s ? "no /dev/null" : "out of memory");
  agent_settings_usage(s, null);
  fclose(null);
  for (size_t r = 0; r < s->st.nrows; r++) {
    const config_setting *row = &s->st.rows[r];
    if (row->removed || !row->flag || !row->help) continue;
    char term[128], text[1024];
    snprintf(term, sizeof term, "%s%s%s", row->flag, row->arg ? " " : "", row->arg ? row->arg : "");
    snprintf(text, sizeof text, "%s (default %s%s%s%s%s).", row->help, row->def ? row->def : "none",
             row->key ? "; key " : "", row->key ? row->key : "", row->env ? "; env " : "", row->env ? row->env : "");
    item(out, term, text);
  }
  free(s);
}

static void help__text_item(FILE *out, const char *term, const char *text) {
  int n = fprintf(out, "  %s", term);
  if (n + 2 > INDENT)
    fprintf(out, "\n%*s", INDENT, "");
  else
    fprintf(out, "%*s", INDENT - n, "");
  help__wrap(out, text, INDENT, INDENT);
}

static void help__text_blocks(FILE *out, const help_block *b) {
  for (; b->kind != HELP_END; b++) {
    switch (b->kind) {
    case HELP_PARA:
      fputc('\n', out);
      help__wrap(out, b->text, 0, 0);
      break;
    case HELP_HEAD: fprintf(out, "\n%s:\n", b->text); break;
    case HELP_ITEM: help__text_item(out, b->term, b->text); break;
    case HELP_SETTINGS: help__settings(out, help__text_item); break;
    case HELP_CODE: {
      fputc('\n', out);
      for (const char *l = b->text; *l;) {
        size_t n = strcspn(l, "\n");
        fprintf(out, "    %.*s\n", (int)n, l);
        l += n + (l[n] == '\n');
      }
      break;
    }
    case HELP_END: break;
    }
  }
}

static void help__text(FILE *out, const help_topic *t) {
  if (t->synopsis)
    fprintf(out, "usage: %s\n", t->synopsis);
  else
    fprintf(out, "vigil: %s\n", t->summary);
  help__text_blocks(out, t->blocks);
}

/* ---- roff (man 7 man) ------------------------------------------------------------------ */

/* Text for roff: backslashes escaped, a leading '.' or '\'' neutralised,
 * and a '-' that starts a word (a flag: --listen, -h) written as a minus
 * sign, so that man renders it as typed and copy-paste works. */
static void help__roff(FILE *out, const char *s, size_t n, bool all_minus) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool line_start = i == 0 || s[i - 1] == '\n';
    if (line_start && (c == '.' || c == '\'')) fputs("\\&", out);
    if (c == '\\') {
      fputs("\\e", out);
    } else if (c == '-' && (all_minus || i == 0 || strchr(" \n([`\"'|,-", s[i - 1]))) {
      fputs("\\-", out);
    } else {
      fputc(c, out);
    }
  }
}

static void help__roff_str(FILE *out, const char *s, bool all_minus) { help__roff(out, s, strlen(s), all_minus); }

static void help__man_item(FILE *out, const char *term, const char *text) {
  fputs(".TP\n\\fB", out);
  help__roff_str(out, term, true);
  fputs("\\fR\n", out);
  help__roff_str(out, text, false);
  fputc('\n', out);
}

static void help__man_blocks(FILE *out, const help_block *b) {
  for (; b->kind != HELP_END; b++) {
    switch (b->kind) {
    case HELP_PARA:
      fputs(".PP\n", out);
      help__roff_str(out, b->text, false);
      fputc('\n', out);
      break;
    case HELP_HEAD:
      fputs(".PP\n.B ", out);
      help__roff_str(out, b->text, false);
      fputc('\n', out);
      break;
    case HELP_ITEM: help__man_item(out, b->term, b->text); break;
    case HELP_SETTINGS: help__settings(out, help__man_item); break;
    case HELP_CODE:
      fputs(".PP\n.RS 4\n.nf\n", out);
      help__roff_str(out, b->text, true);
      fputs("\n.fi\n.RE\n", out);
      break;
    case HELP_END: break;
    }
  }
}

static void help__man(FILE *out) {
  fputs(".\\\" vigil(1), generated by `vigil help --man` from core/cmd/help.c: edit that file.\n", out);
  fprintf(out, ".TH VIGIL 1 \"\" \"vigil %s\" \"vigil manual\"\n.ad l\n.nh\n", VIGIL_VERSION);
  fputs(".SH NAME\nvigil \\- a Lua\\-scriptable cluster agent: gossip heartbeats, phi\\-accrual failure "
        "detection\n.SH SYNOPSIS\n.nf\n",
        out);
  for (size_t i = 0; i < NTOPICS; i++)
    if (topics[i].synopsis) {
      help__roff_str(out, topics[i].synopsis, true);
      fputc('\n', out);
    }
  fputs("vigil help [topic]\nvigil version\n.fi\n.SH DESCRIPTION\n", out);
  help__man_blocks(out, intro);
  fputs(".SH COMMANDS\n", out);
  for (size_t i = 0; i < NTOPICS; i++) {
    if (!topics[i].synopsis) continue;
    fputs(".SS \"", out);
    help__roff_str(out, topics[i].synopsis, true);
    fputs("\"\n", out);
    help__man_blocks(out, topics[i].blocks);
  }
  for (size_t i = 0; i < NTOPICS; i++) {
    if (topics[i].synopsis) continue;
    fprintf(out, ".SH %s\n", topics[i].man);
    help__man_blocks(out, topics[i].blocks);
  }
  fputs(".SH EXIT STATUS\n0 on success; 1 when the command failed (a policy that does not load, no agent "
        "answering, an agent that could not start); 2 for a bad flag or value, with a message naming it.\n"
        ".SH SEE ALSO\n.BR systemctl (1),\n.BR busted (1),\n.BR luajit (1).\n"
        ".PP\nThe operator's guides, in " VIGIL_DOC_INSTALLED ": AGENT.md (running agents), POLICIES.md "
        "(writing and testing policies), DETECTOR.md (how a peer is judged), PROTOCOL.md (the wire format), "
        "SECURITY.md.\n",
        out);
}

/* ---- vigil help -------------------------------------------------------------------------- */

static void help__list(FILE *out) {
  fputs("usage: vigil help [topic]\n\ntopics:\n", out);
  for (size_t i = 0; i < NTOPICS; i++) fprintf(out, "  %-12s %s\n", topics[i].name, topics[i].summary);
  fputs("\n`man vigil` has every topic on one page.\n", out);
}

int vigil_cmd_help(args *a) {
  if (a->argc == 2) {
    help__list(stdout);
    return 0;
  }
  const char *what = a->argv[2];
  if (a->argc > 3) die(2, a->cmd, "one topic at a time (see vigil help)");
  if (strcmp(what, "--man") == 0) {
    help__man(stdout);
    return 0;
  }
  if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
    help__list(stdout);
    return 0;
  }
  for (size_t i = 0; i < NTOPICS; i++)
    if (strcmp(what, topics[i].name) == 0) {
      help__text(stdout, &topics[i]);
      return 0;
    }
  fprintf(stderr, "vigil help: no topic '%s'\n\n", what);
  help__list(stderr);
  return 2;
}
