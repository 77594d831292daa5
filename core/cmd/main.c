/*
 * main.c - the `vigil` command: agent, members, reload, check, test, sim,
 * version.
 *
 * Owns: the command line (flags, their checking and their help), turning
 * seeds into addresses (hostnames are resolved here, once, at start-up),
 * and the `members` and `reload` clients. The runtime itself is
 * vigil_agent_run (core/runtime/); the policy host (LuaJIT on its own
 * thread) is bindings/host.c; `vigil sim` is sim.c beside this file.
 *
 * Must never: start an agent with a value it could not parse. Every bad
 * flag or value exits with status 2 and a message naming the flag.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cmd.h"
#include "host.h"

#define MAX_SEEDS 256

static const char *prog = "vigil";

void die(int code, const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s %s: ", prog, cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  exit(code);
}

static const char usage_main[] =
    "vigil - a Lua-scriptable cluster agent: gossip heartbeats, phi-accrual failure detection\n"
    "\n"
    "usage: vigil <command> [flags]\n"
    "\n"
    "commands:\n"
    "  agent     run an agent (with no flags: a single agent on loopback, 127.0.0.1:7946)\n"
    "  members   show the members an agent knows, like `serf members`\n"
    "  reload    make a running agent reload its policy (agent.lua)\n"
    "  check     load a policy file without starting an agent; report errors as file:line\n"
    "  test      run policy specs (busted, vigil.testing) in a directory, paths set up\n"
    "  sim       simulate a cluster of many agents on the real code, in virtual time\n"
    "  version   print the version\n"
    "\n"
    "`vigil <command> --help` describes each command's flags.\n";

static const char usage_agent[] =
    "usage: vigil agent [agent.lua] [flags]\n"
    "\n"
    "Run an agent until SIGINT or SIGTERM; then it tells its peers it is leaving.\n"
    "\n"
    "flags:\n"
    "  --listen host:port     UDP address for gossip (default 127.0.0.1:7946)\n"
    "  --advertise host:port  the address peers reach this agent at (default: --listen;\n"
    "                         required when --listen is 0.0.0.0 or [::])\n"
    "  --seeds a,b,...        agents to contact until they are known: host:port entries,\n"
    "                         or Dynomite dyn_seeds host:port:rack:dc:tokens joined by '|'\n"
    "  --dc name              this agent's datacenter (default \"default\")\n"
    "  --rack name            this agent's rack (default \"default\")\n"
    "  --tokens t1,t2         this agent's ring tokens (decimal, < 2^128)\n"
    "  --http host:port       HTTP for /metrics, /v1/members, /health (default 127.0.0.1:7947;\n"
    "                         \"off\" disables it)\n"
    "  --http-token-file file the bearer token (one line, 16-256 characters, file not\n"
    "                         readable by every user) clients beyond loopback must send to\n"
    "                         POST /v1/reload; without it, only loopback clients may\n"
    "  --keyring file         authenticate gossip with the keys in file (base64, one per line;\n"
    "                         the first signs, all verify); required to listen on anything\n"
    "                         but loopback, unless --insecure\n"
    "  --insecure             listen beyond loopback without a keyring (anyone who can reach\n"
    "                         the port can forge gossip)\n"
    "  --log-level level      debug, info, warn or error (default info)\n"
    "  --interval duration    gossip interval (default 200ms)\n"
    "  --reap duration        forget peers down this long (default 60s; 0 = never)\n"
    "  --max-peers n          the most peers this agent keeps, itself included (default 16384;\n"
    "                         0 = no bound); joins past it are dropped and counted\n"
    "  --max-clock-skew dur   frames sent further than this from our clock are rejected,\n"
    "                         and generations ahead of it (default 10s; 0 = no clock checks;\n"
    "                         must be shorter than --reap)\n"
    "  --policy-memory MiB    memory the policy may hold; a handler past it fails (default 64;\n"
    "                         0 = no limit)\n"
    "  --threshold phi        conviction threshold (default 8)\n"
    "\n"
    "Durations are numbers with a unit: 150ms, 2s, 1.5m.\n";

static const char usage_reload[] =
    "usage: vigil reload [--http host:port]\n"
    "\n"
    "Ask the agent at --http (default 127.0.0.1:7947) to reload its policy, wait for the\n"
    "result (at most 5 s) and print it. Exits 1 when the new policy failed to load (the\n"
    "agent keeps running the previous one). SIGHUP and saving the file do the same.\n";

static const char usage_check[] =
    "usage: vigil check agent.lua\n"
    "\n"
    "Load a policy as an agent would, without starting one: syntax, the file's top level,\n"
    "vigil.on / vigil.configure arguments. Prints a summary, or the error as file:line and\n"
    "exits 1.\n";

static const char usage_test[] = "usage: vigil test [dir]\n"
                                 "\n"
                                 "Run the busted specs in dir (default: spec) under LuaJIT with vigil.testing and\n"
                                 "vigil.core on the paths, so a directory of policy specs needs no set-up. Extra\n"
                                 "arguments after dir go to busted (e.g. --filter=name).\n";

static const char usage_members[] =
    "usage: vigil members [--http host:port] [--watch] [--json]\n"
    "\n"
    "Show the members the agent at --http knows: peer, dc, rack, state, phi, last heard,\n"
    "generation.\n"
    "\n"
    "flags:\n"
    "  --http host:port  the agent's HTTP address (default 127.0.0.1:7947)\n"
    "  --watch           redraw every second until interrupted\n"
    "  --json            print the raw JSON of /v1/members\n";

/* ---- flag parsing ------------------------------------------------------------ */

/* The next "--flag value" or "--flag=value" value, or die naming the flag. */
const char *flag_value(args *a, const char *flag, const char *inline_value) {
  if (inline_value) return inline_value;
  if (a->i + 1 >= a->argc) die(2, a->cmd, "%s needs a value (see vigil %s --help)", flag, a->cmd);
  return a->argv[++a->i];
}

bool is_flag(const char *arg, const char *name, const char **inline_value) {
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '\0') {
    *inline_value = NULL;
    return true;
  }
  if (arg[n] == '=') {
    *inline_value = arg + n + 1;
    return true;
  }
  return false;
}

/* Is the pname's host a loopback address (127.0.0.0/8, ::1)? The wildcard
 * (0.0.0.0, ::) and every other address is reachable from elsewhere. */
static bool pname_is_loopback(const char *pname) {
  size_t hl;
  uint16_t port;
  if (vigil_pname_parse(pname, &hl, &port) != VIGIL_OK) return false;
  char host[64];
  bool v6 = pname[0] == '[';
  size_t n = v6 ? hl - 2 : hl;
  if (n >= sizeof host) return false;
  memcpy(host, pname + (v6 ? 1 : 0), n);
  host[n] = '\0';
  unsigned char a[16];
  if (!v6 && inet_pton(AF_INET, host, a) == 1) return a[0] == 127;
  if (v6 && inet_pton(AF_INET6, host, a) == 1) {
    static const unsigned char lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(a, lo, 16) == 0;
  }
  return false;
}

static void check_pname(const char *cmd, const char *flag, const char *v) {
  size_t hl;
  uint16_t port;
  if (vigil_pname_parse(v, &hl, &port) != VIGIL_OK)
    die(2, cmd, "%s: expected host:port (port 1-65535), got '%s'", flag, v);
}

vigil_time parse_duration(const char *cmd, const char *flag, const char *v) {
  if (strcmp(v, "0") == 0) return 0; /* "never", for --reap */
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  double unit = strcmp(end, "ms") == 0 ? 1e6 : strcmp(end, "s") == 0 ? 1e9 : strcmp(end, "m") == 0 ? 60e9 : 0;
  if (end == v || errno || unit == 0 || !(x >= 0) || x * unit > 1e18)
    die(2, cmd, "%s: expected a duration like 200ms, 2s or 1.5m, got '%s'", flag, v);
  return (vigil_time)(x * unit + 0.5);
}

unsigned long parse_uint(const char *cmd, const char *flag, const char *v, unsigned long max) {
  char *end;
  errno = 0;
  unsigned long x = strtoul(v, &end, 10);
  if (end == v || *end || errno || x > max || v[0] == '-')
    die(2, cmd, "%s: expected a whole number from 0 to %lu, got '%s'", flag, max, v);
  return x;
}

/* Resolve host (a name or an IP) to "ip:port" / "[ip6]:port". */
static void resolve(const char *cmd, const char *what, const char *host, const char *port, char *out, size_t cap) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0 || !res) die(2, cmd, "%s: cannot resolve '%s': %s", what, host, gai_strerror(rc));
  char ip[INET6_ADDRSTRLEN];
  if (res->ai_family == AF_INET6) {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip, sizeof ip);
    snprintf(out, cap, "[%s]:%s", ip, port);
  } else {
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%s", ip, port);
  }
  freeaddrinfo(res);
}

/*
 * Seeds: "a:1,b:2" or Dynomite's dyn_seeds "host:port:rack:dc:tokens|...".
 * Only the address is used: a seed's placement comes from its own
 * heartbeats. Each host is resolved now.
 */
static uint32_t parse_seeds(const char *cmd, const char *v, char (*out)[VIGIL_PNAME_MAX], uint32_t max) {
  char *copy = strdup(v);
  uint32_t n = 0;
  char *save = NULL;
  for (char *e = strtok_r(copy, ",|", &save); e; e = strtok_r(NULL, ",|", &save)) {
    if (n == max) die(2, cmd, "--seeds: more than %u seeds", max);
    char host[VIGIL_PNAME_MAX], port[8];
    const char *rest;
    if (e[0] == '[') {
      const char *close = strchr(e, ']');
      if (!close || close[1] != ':' || (size_t)(close - e - 1) >= sizeof host)
        die(2, cmd, "--seeds: expected [ipv6]:port, got '%s'", e);
      memcpy(host, e + 1, (size_t)(close - e - 1));
      host[close - e - 1] = '\0';
      rest = close + 2;
    } else {
      const char *colon = strchr(e, ':');
      if (!colon || (size_t)(colon - e) >= sizeof host)
        die(2, cmd, "--seeds: expected host:port or host:port:rack:dc:tokens, got '%s'", e);
      memcpy(host, e, (size_t)(colon - e));
      host[colon - e] = '\0';
      rest = colon + 1;
    }
    size_t plen = strcspn(rest, ":");
    int extra = 0;
    for (const char *p = rest + plen; *p; p++) extra += *p == ':';
    if (plen == 0 || plen >= sizeof port || (extra != 0 && extra != 3))
      die(2, cmd, "--seeds: expected host:port or host:port:rack:dc:tokens, got '%s'", e);
    memcpy(port, rest, plen);
    port[plen] = '\0';
    parse_uint(cmd, "--seeds (port)", port, 65535);
    if (extra == 3) { /* dyn_seeds: rack:dc:tokens; check the tokens at least */
      const char *toks = strrchr(rest, ':') + 1;
      for (const char *t = toks; *t; t++)
        if ((*t < '0' || *t > '9') && *t != ',') die(2, cmd, "--seeds: bad tokens in dyn_seeds entry '%s'", e);
    }
    resolve(cmd, "--seeds", host, port, out[n], VIGIL_PNAME_MAX);
    check_pname(cmd, "--seeds", out[n]);
    n++;
  }
  free(copy);
  return n;
}

static uint32_t parse_tokens(const char *cmd, const char *v, vigil_token *out, uint32_t max) {
  uint32_t n = 0;
  const char *p = v;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (n == max) die(2, cmd, "--tokens: at most %u tokens", max);
    int rc = vigil_token_parse(&out[n], p, len);
    if (rc) die(2, cmd, "--tokens: '%.*s' is not a decimal token below 2^128", (int)len, p);
    n++;
    p += len;
    if (*p == ',') p++;
  }
  return n;
}

/*
 * --http-token-file: the bearer token that lets clients beyond loopback
 * use the mutating endpoints. One line of 16 to 256 characters that an
 * HTTP header can carry (printable ASCII, no spaces); a trailing newline
 * is fine. The file must not be readable by every user: the token is a
 * password.
 */
static const char *load_http_token(const char *cmd, const char *path) {
  static char token[257];
  char buf[sizeof token + 3];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(2, cmd, "--http-token-file: cannot read '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) die(2, cmd, "--http-token-file: '%s' is not a regular file", path);
  if (st.st_mode & (S_IROTH | S_IWOTH))
    die(2, cmd, "--http-token-file: '%s' is open to every user (mode %03o): the token is a password; chmod 600 it",
        path, (unsigned)(st.st_mode & 0777));
  ssize_t n = read(fd, buf, sizeof buf);
  int err = errno;
  close(fd);
  if (n < 0) die(2, cmd, "--http-token-file: cannot read '%s': %s", path, strerror(err));
  size_t len = (size_t)n;
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
  if (len == 0)
    die(2, cmd, "--http-token-file: '%s' is empty; make a token with head -c 32 /dev/urandom | base64 > %s", path,
        path);
  if (len >= sizeof token) die(2, cmd, "--http-token-file: '%s': the token is longer than 256 characters", path);
  for (size_t i = 0; i < len; i++)
    if (buf[i] < 0x21 || buf[i] > 0x7e)
      die(2, cmd,
          "--http-token-file: '%s': byte %zu is a space, a control character or not ASCII; the file holds one "
          "token on one line",
          path, i + 1);
  if (len < 16)
    die(2, cmd,
        "--http-token-file: '%s': the token has %zu characters, at least 16 needed (head -c 32 /dev/urandom | base64)",
        path, len);
  memcpy(token, buf, len);
  token[len] = '\0';
  return token;
}

/* ---- vigil agent ------------------------------------------------------------------ */

static int cmd_agent(args *a) {
  static char seeds[MAX_SEEDS][VIGIL_PNAME_MAX];
  static const char *seed_ptrs[MAX_SEEDS];
  static vigil_token tokens[VIGIL_FRAME_TOKENS_MAX];
  static vigil_keyring keyring;
  vigil_agent_config cfg;
  vigil_agent_config_init(&cfg);
  const char *v;
  bool insecure = false;
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_agent, stdout);
      return 0;
    } else if (is_flag(arg, "--listen", &v)) {
      cfg.listen = flag_value(a, "--listen", v);
      check_pname(a->cmd, "--listen", cfg.listen);
    } else if (strcmp(arg, "--insecure") == 0) {
      insecure = true;
    } else if (is_flag(arg, "--advertise", &v)) {
      cfg.advertise = flag_value(a, "--advertise", v);
      check_pname(a->cmd, "--advertise", cfg.advertise);
    } else if (is_flag(arg, "--seeds", &v)) {
      cfg.nseeds = parse_seeds(a->cmd, flag_value(a, "--seeds", v), seeds, MAX_SEEDS);
      for (uint32_t i = 0; i < cfg.nseeds; i++) seed_ptrs[i] = seeds[i];
      cfg.seeds = seed_ptrs;
    } else if (is_flag(arg, "--dc", &v)) {
      cfg.dc = flag_value(a, "--dc", v);
      if (!vigil_name_valid(cfg.dc)) die(2, a->cmd, "--dc: 1 to 47 letters, digits, '.', '_' or '-', got '%s'", cfg.dc);
    } else if (is_flag(arg, "--rack", &v)) {
      cfg.rack = flag_value(a, "--rack", v);
      if (!vigil_name_valid(cfg.rack))
        die(2, a->cmd, "--rack: 1 to 47 letters, digits, '.', '_' or '-', got '%s'", cfg.rack);
    } else if (is_flag(arg, "--tokens", &v)) {
      cfg.ntokens = parse_tokens(a->cmd, flag_value(a, "--tokens", v), tokens, VIGIL_FRAME_TOKENS_MAX);
      cfg.tokens = tokens;
    } else if (is_flag(arg, "--http", &v)) {
      cfg.http = flag_value(a, "--http", v);
      if (strcmp(cfg.http, "off") == 0)
        cfg.http = NULL;
      else
        check_pname(a->cmd, "--http", cfg.http);
    } else if (is_flag(arg, "--http-token-file", &v)) {
      cfg.http_token = load_http_token(a->cmd, flag_value(a, "--http-token-file", v));
    } else if (is_flag(arg, "--keyring", &v)) {
      char err[512];
      const char *path = flag_value(a, "--keyring", v);
      if (vigil_keyring_load(&keyring, path, err, sizeof err) != VIGIL_OK) die(2, a->cmd, "--keyring: %s", err);
      cfg.keyring = &keyring;
      cfg.keyring_path = path;
    } else if (is_flag(arg, "--log-level", &v)) {
      const char *lvl = flag_value(a, "--log-level", v);
      int l = vigil_log_level_parse(lvl);
      if (l < 0) die(2, a->cmd, "--log-level: expected debug, info, warn or error, got '%s'", lvl);
      cfg.log_level = (vigil_log_level)l;
    } else if (is_flag(arg, "--interval", &v)) {
      cfg.interval = parse_duration(a->cmd, "--interval", flag_value(a, "--interval", v));
      if (cfg.interval < VIGIL_MS) die(2, a->cmd, "--interval: at least 1ms");
    } else if (is_flag(arg, "--fanout", &v)) {
      die(2, a->cmd,
          "--fanout: removed in protocol 2; an agent talks to its observers and subjects only, "
          "whatever the cluster size (docs/PROTOCOL.md, \"Observers\")");
    } else if (is_flag(arg, "--policy-memory", &v)) {
      vigil_lua_host_set_memory_limit(
          (size_t)parse_uint(a->cmd, "--policy-memory", flag_value(a, "--policy-memory", v), 65536) << 20);
    } else if (is_flag(arg, "--reap", &v)) {
      cfg.reap_after = parse_duration(a->cmd, "--reap", flag_value(a, "--reap", v));
    } else if (is_flag(arg, "--max-peers", &v)) {
      cfg.max_peers = (uint32_t)parse_uint(a->cmd, "--max-peers", flag_value(a, "--max-peers", v), 1u << 24);
      if (cfg.max_peers == 1) die(2, a->cmd, "--max-peers: counts this agent too: at least 2 (or 0 = no bound)");
    } else if (is_flag(arg, "--max-clock-skew", &v)) {
      cfg.max_skew = parse_duration(a->cmd, "--max-clock-skew", flag_value(a, "--max-clock-skew", v));
    } else if (is_flag(arg, "--threshold", &v)) {
      const char *t = flag_value(a, "--threshold", v);
      char *end;
      double x = strtod(t, &end);
      if (end == t || *end || !(x > 0) || x > 1e6) die(2, a->cmd, "--threshold: expected a number > 0, got '%s'", t);
      cfg.detector.threshold = x;
    } else if (arg[0] == '-') {
      die(2, a->cmd, "unknown flag %s (see vigil agent --help)", arg);
    } else if (!cfg.policy) {
      cfg.policy = arg;
      if (access(arg, R_OK) != 0) die(2, a->cmd, "cannot read policy file '%s': %s", arg, strerror(errno));
    } else {
      die(2, a->cmd, "unexpected argument '%s' (one policy file at most)", arg);
    }
  }
  /* Gossip that other machines can reach, unauthenticated, lets anyone who
   * can send it a datagram forge heartbeats, alerts and leaves: refuse,
   * unless told so in as many words. */
  if (!cfg.keyring && !insecure && cfg.listen && !pname_is_loopback(cfg.listen))
    die(2, a->cmd,
        "--listen %s without --keyring: anyone who can reach that port could forge heartbeats, alerts "
        "and leaves. Make a key (head -c 32 /dev/urandom | base64 > /etc/vigil/keyring, mode 600), copy it to "
        "every agent and add --keyring /etc/vigil/keyring; or add --insecure to run without",
        cfg.listen);
  if (cfg.max_skew && cfg.reap_after && cfg.max_skew >= cfg.reap_after)
    die(2, a->cmd,
        "--max-clock-skew (%.3gs) must be shorter than --reap (%.3gs): a captured frame must be too old to count "
        "before the peer it names is forgotten",
        (double)cfg.max_skew / 1e9, (double)cfg.reap_after / 1e9);
  /* The tick evaluates twice per interval, so a conviction is never more
   * than half an interval late. */
  cfg.tick = cfg.interval / 2 ? cfg.interval / 2 : cfg.interval;
  cfg.policy_host = &vigil_lua_host;
  return vigil_agent_run(&cfg);
}

/* ---- vigil members -------------------------------------------------------------------- */

/* method path on host:port; the body in a malloc'd string, or die. The
 * status must be `expect`. */
static char *http_request(const char *cmd, const char *addr, const char *method, const char *path, int expect) {
  char host[VIGIL_PNAME_MAX], port[8];
  size_t hl;
  uint16_t p;
  if (vigil_pname_parse(addr, &hl, &p) != VIGIL_OK) die(2, cmd, "--http: expected host:port, got '%s'", addr);
  if (addr[0] == '[') {
    memcpy(host, addr + 1, hl - 2);
    host[hl - 2] = '\0';
  } else {
    memcpy(host, addr, hl);
    host[hl] = '\0';
  }
  snprintf(port, sizeof port, "%u", p);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0 || !res) die(1, cmd, "cannot resolve %s", addr);
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0)
    die(1, cmd, "no agent answers at %s (%s); is `vigil agent` running with --http %s?", addr, strerror(errno), addr);
  freeaddrinfo(res);
  char req[512];
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                   method, path, addr);
  if (write(fd, req, (size_t)n) != n) die(1, cmd, "cannot send the request to %s", addr);
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) die(1, cmd, "out of memory");
  for (;;) {
    if (len + 4096 > cap) {
      cap *= 2;
      if (cap > (64u << 20)) die(1, cmd, "response from %s too large", addr);
      char *bigger = realloc(buf, cap);
      if (!bigger) die(1, cmd, "out of memory reading from %s", addr);
      buf = bigger;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) die(1, cmd, "reading from %s: %s", addr, strerror(errno));
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  int status = 0;
  /* /health answers 503 while the agent is degraded: still a document. */
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 ||
      (status != expect && !(expect == 200 && status == 503 && strcmp(path, "/health") == 0)))
    die(1, cmd, "the agent at %s answered %d to %s", addr, status, path);
  char *body = strstr(buf, "\r\n\r\n");
  if (!body) die(1, cmd, "malformed response from %s", addr);
  memmove(buf, body + 4, strlen(body + 4) + 1);
  return buf;
}

static char *http_get(const char *cmd, const char *addr, const char *path) {
  return http_request(cmd, addr, "GET", path, 200);
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig) {
  (void)sig;
  interrupted = 1;
}

static int cmd_members(args *a) {
  const char *http = "127.0.0.1:7947", *v;
  bool watch = false, json = false;
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_members, stdout);
      return 0;
    } else if (is_flag(arg, "--http", &v)) {
      http = flag_value(a, "--http", v);
      check_pname(a->cmd, "--http", http);
    } else if (strcmp(arg, "--watch") == 0) {
      watch = true;
    } else if (strcmp(arg, "--json") == 0) {
      json = true;
    } else {
      die(2, a->cmd, "unknown %s %s (see vigil members --help)", arg[0] == '-' ? "flag" : "argument", arg);
    }
  }
  const char *path = json ? "/v1/members" : "/v1/members?format=text";
  if (!watch) {
    char *body = http_get(a->cmd, http, path);
    fputs(body, stdout);
    free(body);
    return 0;
  }
  signal(SIGINT, on_interrupt);
  while (!interrupted) {
    char *body = http_get(a->cmd, http, path);
    printf("\033[H\033[2J%s", body);
    fflush(stdout);
    free(body);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* A number after "key": in a small JSON document (our own /health). */
static double json_number(const char *doc, const char *key) {
  const char *p = strstr(doc, key);
  return p ? strtod(p + strlen(key), NULL) : -1;
}

static int cmd_reload(args *a) {
  const char *http = "127.0.0.1:7947", *v;
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_reload, stdout);
      return 0;
    } else if (is_flag(arg, "--http", &v)) {
      http = flag_value(a, "--http", v);
      check_pname(a->cmd, "--http", http);
    } else {
      die(2, a->cmd, "unknown %s %s (see vigil reload --help)", arg[0] == '-' ? "flag" : "argument", arg);
    }
  }
  char *before = http_get(a->cmd, http, "/health");
  if (strstr(before, "\"policy\":null")) die(1, a->cmd, "the agent at %s runs no policy", http);
  double gen0 = json_number(before, "\"generation\":"), failed0 = json_number(before, "\"reloads_failed\":");
  /* "generation" appears twice (the agent's, then the policy's): take the last. */
  const char *pol = strstr(before, "\"policy\":{");
  if (pol) gen0 = json_number(pol, "\"generation\":");
  free(before);
  free(http_request(a->cmd, http, "POST", "/v1/reload", 202));
  for (int i = 0; i < 50; i++) {
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    char *now = http_get(a->cmd, http, "/health");
    const char *p = strstr(now, "\"policy\":{");
    double gen = p ? json_number(p, "\"generation\":") : -1, failed = json_number(now, "\"reloads_failed\":");
    if (gen > gen0) {
      printf("reloaded: policy generation %.0f\n", gen);
      free(now);
      return 0;
    }
    if (failed > failed0) {
      const char *e = strstr(now, "\"error\":\"");
      fprintf(stderr, "reload failed (the previous policy keeps running): ");
      if (e)
        for (e += 9; *e && !(*e == '"' && e[-1] != '\\'); e++) fputc(*e, stderr);
      fputc('\n', stderr);
      free(now);
      return 1;
    }
    free(now);
  }
  die(1, a->cmd, "no result from %s after 5 s", http);
}

static int cmd_check(args *a) {
  if (a->argc == 3 && (strcmp(a->argv[2], "--help") == 0 || strcmp(a->argv[2], "-h") == 0)) {
    fputs(usage_check, stdout);
    return 0;
  }
  if (a->argc != 3 || a->argv[2][0] == '-') die(2, a->cmd, "expected one policy file (see vigil check --help)");
  if (access(a->argv[2], R_OK) != 0) die(2, a->cmd, "cannot read '%s': %s", a->argv[2], strerror(errno));
  return vigil_policy_check(a->argv[2]);
}

/* The first of two directories that holds `probe`, relative to it. */
static const char *first_existing(const char *a, const char *b, const char *probe) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", a, probe);
  return access(path, R_OK) == 0 ? a : b;
}

static int cmd_test(args *a) {
  if (a->argc >= 3 && (strcmp(a->argv[2], "--help") == 0 || strcmp(a->argv[2], "-h") == 0)) {
    fputs(usage_test, stdout);
    return 0;
  }
  const char *lua_dir = getenv("VIGIL_LUA_PATH");
  if (!lua_dir) lua_dir = first_existing(VIGIL_LUA_DIR, VIGIL_LUA_INSTALLED, "vigil/testing.lua");
  const char *c_dir = first_existing(VIGIL_CPATH_DIR, VIGIL_CPATH_INSTALLED, "vigil/core.so");
  char lpath[8192], cpath[8192];
  const char *old_l = getenv("LUA_PATH"), *old_c = getenv("LUA_CPATH");
  snprintf(lpath, sizeof lpath, "%s/?.lua;%s/?/init.lua;./?.lua;./?/init.lua;%s", lua_dir, lua_dir,
           old_l ? old_l : ";");
  snprintf(cpath, sizeof cpath, "%s/?.so;%s", c_dir, old_c ? old_c : ";");
  setenv("LUA_PATH", lpath, 1);
  setenv("LUA_CPATH", cpath, 1);
  char *argv[64];
  int n = 0;
  argv[n++] = "busted";
  argv[n++] = "--lua=luajit";
  argv[n++] = a->argc >= 3 ? a->argv[2] : "spec";
  for (int i = 3; i < a->argc && n < 63; i++) argv[n++] = a->argv[i];
  argv[n] = NULL;
  execvp("busted", argv);
  die(1, a->cmd, "cannot run busted (%s); install it with apt-get install lua-busted", strerror(errno));
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  args a = {argc, 1, argv, argv[1]};
  const char *cmd = argv[1];
  if (strcmp(cmd, "agent") == 0) return cmd_agent(&a);
  if (strcmp(cmd, "members") == 0) return cmd_members(&a);
  if (strcmp(cmd, "reload") == 0) return cmd_reload(&a);
  if (strcmp(cmd, "check") == 0) return cmd_check(&a);
  if (strcmp(cmd, "test") == 0) return cmd_test(&a);
  if (strcmp(cmd, "sim") == 0) return vigil_cmd_sim(&a);
  if (strcmp(cmd, "bench-dispatch") == 0) { /* for bench/, not in the usage */
    if (argc < 3) die(2, cmd, "usage: vigil bench-dispatch policy.lua [events]");
    return vigil_policy_bench(argv[2], argc > 3 ? atol(argv[3]) : 1000000);
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    if (argc > 2 && strcmp(argv[2], "--help") == 0) {
      puts("usage: vigil version\n\nPrint vigil's version.");
      return 0;
    }
    if (argc > 2) die(2, "version", "unexpected argument '%s'", argv[2]);
    printf("vigil %s (protocol %d)\n", VIGIL_VERSION, VIGIL_PROTOCOL_VERSION);
    return 0;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage_main, stdout);
    return 0;
  }
  fprintf(stderr, "vigil: unknown command '%s'\n\n%s", cmd, usage_main);
  return 2;
}
