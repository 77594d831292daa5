/*
 * verbs.c - the `vigil` commands that ask a running agent for something
 * over its HTTP API, as Serf's verbs do over its RPC: join, leave,
 * force-leave, monitor, info.
 *
 * Owns: their flags and help, turning host names into the IP literals an
 * agent takes (join, force-leave), a small HTTP/1.1 client (one request per
 * connection, as the agent serves them; the bearer token of
 * --http-token-file for an agent beyond loopback), the bounded waits that
 * tell the operator what came of a request (join: did they answer; leave:
 * is it gone), and copying the monitor's stream to stdout as it comes.
 * What each request does is the agent's (core/runtime/api.c); `members`,
 * `reload` and `agent` are main.c's.
 *
 * Must never: wait without a bound (every connect, send and read has a
 * timeout, every poll a deadline -- but the monitor's stream, which is
 * meant to last), read an answer without a bound (4 MiB), or print a byte
 * from the agent that could drive the terminal (errors are shown from
 * their JSON escapes, never unescaped control bytes).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cmd.h"

#define VERBS_JOIN_MAX 16     /* addresses per join: what the agent takes in one request */
#define VERBS_PORT     "7946" /* the gossip port when an address has none (Serf's too) */

/* What every verb is told on its command line. */
typedef struct verbs__opts {
  const char *cmd;
  const char *http; /* the agent's HTTP address */
  char token[257];  /* the bearer token; "" = none */
  bool json, force, all;
  vigil_time wait; /* join, leave: how long to wait for the outcome */
} verbs__opts;

static const char usage_join[] =
    "usage: vigil join [flags] ADDR [ADDR...]\n"
    "\n"
    "Ask the local agent to contact agents at ADDR now (host:port, [ipv6]:port, or a host\n"
    "name or IP alone for port 7946; names are resolved here). They become seeds of the\n"
    "agent: it sends them its heartbeat at once and every round until they answer. Waits\n"
    "for their answers (--wait) and prints who joined. Exits 0 when at least one did\n"
    "(gossip brings the rest, as with `serf join`), 1 when none answered in time.\n"
    "\n"
    "flags:\n"
    "  --http host:port        the local agent's HTTP address (default 127.0.0.1:7947)\n"
    "  --http-token-file file  send its bearer token (an agent beyond loopback)\n"
    "  --wait duration         how long to wait for answers (default 5s; 0 = do not wait)\n";

static const char usage_leave[] = "usage: vigil leave [flags]\n"
                                  "\n"
                                  "Make the agent leave gracefully, as on SIGTERM: it tells its peers, which mark it\n"
                                  "down and report peer_left at once, and exits 0. Waits until it is gone (--wait).\n"
                                  "\n"
                                  "flags:\n"
                                  "  --http host:port        the agent's HTTP address (default 127.0.0.1:7947)\n"
                                  "  --http-token-file file  send its bearer token (an agent beyond loopback)\n"
                                  "  --wait duration         how long to wait for it to exit (default 10s)\n";

static const char usage_force_leave[] =
    "usage: vigil force-leave [flags] PEER\n"
    "\n"
    "Make the local agent forget PEER (host:port) now: marked down (cause marked) and\n"
    "removed from its members at once, with a tombstone so that other agents' news does\n"
    "not bring it back. For a peer that failed or left: a peer the agent holds up is\n"
    "refused, since a running agent comes back at its next heartbeat -- stop it with\n"
    "`vigil leave` on its machine, or add --force. Each agent forgets for itself: run it\n"
    "where the peer should be gone (others reap it when their --reap time passes).\n"
    "\n"
    "flags:\n"
    "  --http host:port        the local agent's HTTP address (default 127.0.0.1:7947)\n"
    "  --http-token-file file  send its bearer token (an agent beyond loopback)\n"
    "  --force                 forget the peer even though it is not down\n";

static const char usage_monitor[] =
    "usage: vigil monitor [flags]\n"
    "\n"
    "Print the agent's events as they happen, one per line, until interrupted: peer_up,\n"
    "peer_down, peer_joined, peer_left, peer_restarted, and lagged when this reader fell\n"
    "behind and missed some. logfmt lines by default (the agent's log lines for them,\n"
    "with event=), JSON lines with --json. Exits 1 when the agent closes the stream\n"
    "(it stopped, or dropped this reader for not reading).\n"
    "\n"
    "flags:\n"
    "  --http host:port        the agent's HTTP address (default 127.0.0.1:7947)\n"
    "  --http-token-file file  send its bearer token (an agent beyond loopback)\n"
    "  --json                  JSON lines (the policy's event fields) instead of logfmt\n"
    "  --all                   gossip_round events too (one per gossip interval)\n";

static const char usage_info[] = "usage: vigil info [flags]\n"
                                 "\n"
                                 "Show what the agent is: version, name, generation, placement, addresses, gossip\n"
                                 "settings, peers by state, policy, keyring (on or off, how many keys), uptime.\n"
                                 "\n"
                                 "flags:\n"
                                 "  --http host:port  the agent's HTTP address (default 127.0.0.1:7947)\n"
                                 "  --json            print /v1/info as it is\n";

/* ---- flags ------------------------------------------------------------------- */

static void verbs__token(verbs__opts *o, const char *path) {
  vigil_http_token_file(o->cmd, path, o->token, sizeof o->token);
}

/* Parse the flags every verb shares and the ones `allowed` names
 * ("json", "force", "all", "wait", "token"); the other arguments are
 * left in args[0..*nargs). Returns 1 when --help was printed. */
static int verbs__flags(args *a, verbs__opts *o, const char *usage, const char *allowed, const char **argv_out,
                        int *nargs, int max) {
  const char *v;
  *nargs = 0;
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage, stdout);
      return 1;
    } else if (is_flag(arg, "--http", &v)) {
      o->http = flag_value(a, "--http", v);
      size_t hl;
      uint16_t port;
      if (vigil_pname_parse(o->http, &hl, &port) != VIGIL_OK)
        die(2, o->cmd, "--http: expected host:port (port 1-65535), got '%s'", o->http);
    } else if (strstr(allowed, "token") && is_flag(arg, "--http-token-file", &v)) {
      verbs__token(o, flag_value(a, "--http-token-file", v));
    } else if (strstr(allowed, "wait") && is_flag(arg, "--wait", &v)) {
      o->wait = parse_duration(o->cmd, "--wait", flag_value(a, "--wait", v));
      if (o->wait > 3600 * VIGIL_SEC) die(2, o->cmd, "--wait: at most 1h");
    } else if (strstr(allowed, "json") && strcmp(arg, "--json") == 0) {
      o->json = true;
    } else if (strstr(allowed, "force") && strcmp(arg, "--force") == 0) {
      o->force = true;
    } else if (strstr(allowed, "all") && strcmp(arg, "--all") == 0) {
      o->all = true;
    } else if (arg[0] == '-' && arg[1]) {
      die(2, o->cmd, "unknown flag %s (see vigil %s --help)", arg, o->cmd);
    } else {
      if (*nargs == max) die(2, o->cmd, "at most %d arguments (see vigil %s --help)", max, o->cmd);
      argv_out[(*nargs)++] = arg;
    }
  }
  return 0;
}

static void verbs__init(verbs__opts *o, const char *cmd) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->http = "127.0.0.1:7947";
}

/*
 * An agent's address as the agent takes it -- an IP literal and a port,
 * "10.0.0.2:7946" or "[fd00::2]:7946" -- from what an operator types:
 * host:port, [ipv6]:port, or a host, an IPv4 or [ipv6] (or bare IPv6)
 * alone for port 7946. Host names are resolved here, the first address
 * getaddrinfo gives, as --seeds does.
 */
static void verbs__address(const char *cmd, const char *arg, char *out, size_t cap) {
  char host[VIGIL_PNAME_MAX], port[8] = VERBS_PORT;
  size_t n = strlen(arg);
  if (n == 0 || n >= sizeof host) die(2, cmd, "'%s' is not an address (host:port)", arg);
  const char *colon = strrchr(arg, ':');
  if (arg[0] == '[') {
    const char *close = strchr(arg, ']');
    if (!close || (close[1] && close[1] != ':') || close == arg + 1)
      die(2, cmd, "'%s': expected [ipv6]:port or [ipv6]", arg);
    memcpy(host, arg + 1, (size_t)(close - arg - 1));
    host[close - arg - 1] = '\0';
    if (close[1] == ':') snprintf(port, sizeof port, "%.7s", close + 2);
  } else if (colon && strchr(arg, ':') == colon) { /* one colon: host:port */
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    if (strlen(colon + 1) >= sizeof port) die(2, cmd, "'%s': the port must be 1 to 65535", arg);
    snprintf(port, sizeof port, "%s", colon + 1);
  } else { /* a host alone, or a bare IPv6 address */
    unsigned char a6[16];
    if (colon && inet_pton(AF_INET6, arg, a6) != 1)
      die(2, cmd, "'%s' is not an address: expected host:port, [ipv6]:port, or a host alone (port %s)", arg,
          VERBS_PORT);
    memcpy(host, arg, n + 1);
  }
  char *end;
  unsigned long p = strtoul(port, &end, 10);
  if (!host[0] || !port[0] || *end || p == 0 || p > 65535 || port[0] == '-' || port[0] == '+')
    die(2, cmd, "'%s': expected host:port with a port from 1 to 65535", arg);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0 || !res) die(1, cmd, "cannot resolve '%s': %s", host, gai_strerror(rc));
  char ip[INET6_ADDRSTRLEN];
  if (res->ai_family == AF_INET6) {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip, sizeof ip);
    snprintf(out, cap, "[%s]:%lu", ip, p);
  } else {
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%lu", ip, p);
  }
  freeaddrinfo(res);
}

/* s percent-encoded for a query value: everything but unreserved bytes. */
static void verbs__query_escape(char *out, size_t cap, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t k = 0;
  for (; *s && k + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
        c == '_' || c == '~' || c == ':') {
      out[k++] = (char)c;
    } else {
      out[k++] = '%';
      out[k++] = hex[c >> 4];
      out[k++] = hex[c & 15];
    }
  }
  out[k] = '\0';
}

/* ---- the client (client.c) ------------------------------------------------------- */

static int verbs__connect(const verbs__opts *o, int timeout_s) {
  return vigil_http_connect(o->cmd, o->http, timeout_s);
}
static void verbs__unreachable(const verbs__opts *o) { vigil_http_unreachable(o->cmd, o->http); }
static void verbs__send(const verbs__opts *o, int fd, const char *method, const char *target) {
  vigil_http_send(o->cmd, o->http, o->token, fd, method, target);
}
static int verbs__status(const char *buf) { return vigil_http_status(buf); }
static int verbs__call(const verbs__opts *o, const char *method, const char *target, char **body) {
  return vigil_http_call(o->cmd, o->http, o->token, method, target, body);
}
static bool verbs__print_json_str(FILE *f, const char *doc, const char *end, const char *key) {
  return vigil_json_print_str(f, doc, end, key);
}
static void verbs__json_str(const char *doc, const char *end, const char *key, char *out, size_t cap) {
  (void)vigil_json_str(doc, end, key, out, cap);
}

/* The agent refused: say why (its {"error": ...}) and exit 1. */
static void verbs__refused(const verbs__opts *o, int status, const char *body) {
  fprintf(stderr, "vigil %s: ", o->cmd);
  if (!verbs__print_json_str(stderr, body, NULL, "error"))
    fprintf(stderr, "the agent at %s answered %d", o->http, status);
  fputc('\n', stderr);
  exit(1);
}

static void verbs__sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static double verbs__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- vigil join ------------------------------------------------------------------ */

/* The state of `pname` in a /v1/members document ("" when not a member). */
static void verbs__member_state(const char *doc, const char *pname, char *out, size_t cap) {
  char pat[VIGIL_PNAME_MAX + 16];
  snprintf(pat, sizeof pat, "\"pname\":\"%s\"", pname);
  const char *p = strstr(doc, pat);
  out[0] = '\0';
  if (!p) return;
  const char *next = strstr(p + 1, "\"pname\":\"");
  verbs__json_str(p, next, "state", out, cap);
}

int vigil_cmd_join(args *a) {
  verbs__opts o;
  verbs__init(&o, "join");
  o.wait = 5 * VIGIL_SEC;
  const char *given[VERBS_JOIN_MAX];
  int n;
  if (verbs__flags(a, &o, usage_join, "token wait", given, &n, VERBS_JOIN_MAX)) return 0;
  if (n == 0) die(2, o.cmd, "which agents? vigil join ADDR [ADDR...] (see vigil join --help)");
  static char addrs[VERBS_JOIN_MAX][VIGIL_PNAME_MAX];
  char target[VERBS_JOIN_MAX * 3 * VIGIL_PNAME_MAX + 32] = "/v1/join?";
  for (int i = 0; i < n; i++) {
    verbs__address(o.cmd, given[i], addrs[i], sizeof addrs[i]);
    char esc[3 * VIGIL_PNAME_MAX];
    verbs__query_escape(esc, sizeof esc, addrs[i]);
    size_t used = strlen(target);
    snprintf(target + used, sizeof target - used, "%saddr=%s", i ? "&" : "", esc);
  }
  char *body;
  int status = verbs__call(&o, "POST", target, &body);
  if (status != 202) verbs__refused(&o, status, body);
  /* What the agent did with each: contacting, member, self, refused. */
  enum { CONTACTING, MEMBER, SELF, REFUSED } what[VERBS_JOIN_MAX];
  const char *p = body;
  for (int i = 0; i < n; i++) {
    p = strstr(p, "{\"addr\":\"");
    const char *end = p ? strchr(p, '}') : NULL;
    char status_s[32] = "";
    if (p) verbs__json_str(p, end, "status", status_s, sizeof status_s);
    what[i] = strcmp(status_s, "member") == 0    ? MEMBER
              : strcmp(status_s, "self") == 0    ? SELF
              : strcmp(status_s, "refused") == 0 ? REFUSED
                                                 : CONTACTING;
    if (what[i] == REFUSED) {
      fprintf(stderr, "vigil join: %s: ", addrs[i]);
      verbs__print_json_str(stderr, p, end, "error");
      fputc('\n', stderr);
    }
    if (p)
      p++;
    else
      break;
  }
  free(body);
  /* Wait for each one contacted to be heard: it is a member, and up. */
  double deadline = verbs__now() + (double)o.wait / 1e9, started = verbs__now();
  bool done[VERBS_JOIN_MAX] = {false};
  int joined = 0, pending = 0;
  for (int i = 0; i < n; i++) {
    if (what[i] == SELF) {
      printf("%s is this agent\n", addrs[i]);
      done[i] = true;
    } else if (what[i] == REFUSED) {
      done[i] = true;
    } else {
      pending++;
    }
  }
  for (;;) {
    char *members;
    status = verbs__call(&o, "GET", "/v1/members", &members);
    if (status != 200) verbs__refused(&o, status, members);
    for (int i = 0; i < n; i++) {
      if (done[i]) continue;
      char state[32];
      verbs__member_state(members, addrs[i], state, sizeof state);
      if (strcmp(state, "normal") != 0) continue;
      done[i] = true;
      pending--;
      joined++;
      if (what[i] == MEMBER)
        printf("%s was a member already (normal)\n", addrs[i]);
      else
        printf("joined %s (it answered in %.1f s)\n", addrs[i], verbs__now() - started);
    }
    free(members);
    if (!pending || verbs__now() >= deadline) break;
    verbs__sleep_ms(100);
  }
  for (int i = 0; i < n; i++)
    if (!done[i])
      printf("%s did not answer within %.1f s (the agent keeps contacting it every round)\n", addrs[i],
             (double)o.wait / 1e9);
  fflush(stdout);
  if (joined == 0) {
    fprintf(stderr, "vigil join: no agent answered; check the addresses, that they run `vigil agent`, and "
                    "that their keyrings share a key with this one\n");
    return 1;
  }
  return 0;
}

/* ---- vigil leave ----------------------------------------------------------------- */

int vigil_cmd_leave(args *a) {
  verbs__opts o;
  verbs__init(&o, "leave");
  o.wait = 10 * VIGIL_SEC;
  const char *rest[1];
  int n;
  if (verbs__flags(a, &o, usage_leave, "token wait", rest, &n, 0)) return 0;
  char *body;
  int status = verbs__call(&o, "POST", "/v1/leave", &body);
  if (status != 202) verbs__refused(&o, status, body);
  char self[VIGIL_PNAME_MAX];
  verbs__json_str(body, NULL, "self", self, sizeof self);
  free(body);
  /* Gone when its HTTP port stops answering: the agent closes it last. */
  double deadline = verbs__now() + (double)o.wait / 1e9;
  for (;;) {
    int fd = verbs__connect(&o, 1);
    if (fd < 0) {
      printf("%s left: its peers were told, and the agent exited\n", self[0] ? self : o.http);
      return 0;
    }
    close(fd);
    if (verbs__now() >= deadline) break;
    verbs__sleep_ms(100);
  }
  die(1, o.cmd, "the agent at %s is leaving but still answers after %.1f s", o.http, (double)o.wait / 1e9);
}

/* ---- vigil force-leave ------------------------------------------------------------- */

int vigil_cmd_force_leave(args *a) {
  verbs__opts o;
  verbs__init(&o, "force-leave");
  const char *given[1];
  int n;
  if (verbs__flags(a, &o, usage_force_leave, "token force", given, &n, 1)) return 0;
  if (n != 1) die(2, o.cmd, "which peer? vigil force-leave PEER (see vigil force-leave --help)");
  char pname[VIGIL_PNAME_MAX], esc[3 * VIGIL_PNAME_MAX], target[4 * VIGIL_PNAME_MAX];
  verbs__address(o.cmd, given[0], pname, sizeof pname);
  verbs__query_escape(esc, sizeof esc, pname);
  snprintf(target, sizeof target, "/v1/force-leave?peer=%s%s", esc, o.force ? "&force=1" : "");
  char *body;
  int status = verbs__call(&o, "POST", target, &body);
  if (status != 200) verbs__refused(&o, status, body);
  char was[32];
  verbs__json_str(body, NULL, "was", was, sizeof was);
  free(body);
  printf("forgot %s (it was %s)\n", pname, was);
  return 0;
}

/* ---- vigil monitor ------------------------------------------------------------------- */

int vigil_cmd_monitor(args *a) {
  verbs__opts o;
  verbs__init(&o, "monitor");
  const char *rest[1];
  int n;
  if (verbs__flags(a, &o, usage_monitor, "token json all", rest, &n, 0)) return 0;
  char target[64];
  snprintf(target, sizeof target, "/v1/monitor?format=%s%s", o.json ? "json" : "logfmt", o.all ? "&all=1" : "");
  int fd = verbs__connect(&o, 5);
  if (fd < 0) verbs__unreachable(&o);
  verbs__send(&o, fd, "GET", target);
  /* The head, within 5 s; then the stream, for as long as it lasts. */
  char buf[16384];
  size_t len = 0;
  char *body = NULL;
  while (!body) {
    if (len + 1 == sizeof buf) die(1, o.cmd, "%s sent a head larger than 16 KiB", o.http);
    ssize_t r = recv(fd, buf + len, sizeof buf - len - 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die(1, o.cmd, "no answer from %s: %s", o.http, r < 0 ? strerror(errno) : "connection closed");
    len += (size_t)r;
    buf[len] = '\0';
    body = strstr(buf, "\r\n\r\n");
  }
  body += 4;
  int status = verbs__status(buf);
  if (status != 200) {
    /* A refusal: its body is short and already here, or follows. */
    size_t have = len - (size_t)(body - buf);
    memmove(buf, body, have + 1);
    for (ssize_t r; have + 1 < sizeof buf && (r = recv(fd, buf + have, sizeof buf - have - 1, 0)) > 0;)
      have += (size_t)r;
    buf[have] = '\0';
    verbs__refused(&o, status, buf);
  }
  struct timeval none = {0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  size_t have = len - (size_t)(body - buf);
  if (have) fwrite(body, 1, have, stdout);
  fflush(stdout);
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r || fflush(stdout) != 0) return 1; /* stdout closed */
  }
  close(fd);
  fprintf(stderr, "vigil monitor: the agent at %s closed the stream (it stopped, or dropped this reader)\n", o.http);
  return 1;
}

/* ---- vigil info ---------------------------------------------------------------------- */

int vigil_cmd_info(args *a) {
  verbs__opts o;
  verbs__init(&o, "info");
  const char *rest[1];
  int n;
  if (verbs__flags(a, &o, usage_info, "json", rest, &n, 0)) return 0;
  char *body;
  int status = verbs__call(&o, "GET", o.json ? "/v1/info" : "/v1/info?format=text", &body);
  if (status != 200) verbs__refused(&o, status, body);
  fputs(body, stdout);
  free(body);
  return 0;
}
