/*
 * main.c - the `vigil` command: agent, members, reload, check, test, sim,
 * version.
 *
 * Owns: the command line of every command but `vigil agent`'s settings
 * (flags, their checking and their help), and the `members` and `reload`
 * clients. The agent's settings -- flags, VIGIL_* variables, the --config
 * file, their precedence and their checks -- are config.c's table; the
 * runtime itself is vigil_agent_run (core/runtime/); the policy host
 * (LuaJIT on its own thread) is bindings/host.c; `vigil sim` is sim.c.
 *
 * Must never: start an agent with a value it could not parse. Every bad
 * flag or value exits with status 2 and a message naming the flag (or the
 * variable, or the file and the key).
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
#include "config.h"
#include "host.h"

extern char **environ;

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
    "  join      make the local agent contact other agents now, like `serf join`\n"
    "  leave     make an agent leave gracefully (its peers are told) and exit\n"
    "  force-leave  make the local agent forget a failed peer now\n"
    "  monitor   print an agent's events as they happen (logfmt or --json lines)\n"
    "  info      show what an agent is: name, generation, settings, peers, policy, keyring\n"
    "  check     load a policy file without starting an agent; report errors as file:line\n"
    "  test      run policy specs (busted, vigil.testing) in a directory, paths set up\n"
    "  sim       simulate a cluster of many agents on the real code, in virtual time\n"
    "  keygen    print a new random key for a keyring file\n"
    "  keys      list, install, use or remove a running agent's keys (rotation, no restart)\n"
    "  version   print the version\n"
    "  help      the reference: vigil help [topic] (agent, config, metrics, keys, ...)\n"
    "\n"
    "`vigil <command> --help` describes each command's flags; `man vigil` has every topic.\n";

static const char usage_reload[] =
    "usage: vigil reload [--http host:port] [--http-token-file file]\n"
    "\n"
    "Ask the agent at --http (default 127.0.0.1:7947) to reload its policy, wait for the\n"
    "result (at most 5 s) and print it. Exits 1 when the new policy failed to load (the\n"
    "agent keeps running the previous one). SIGHUP and saving the file do the same.\n"
    "--http-token-file sends the token in that file, for an agent beyond loopback.\n";

static const char usage_check[] =
    "usage: vigil check agent.lua\n"
    "\n"
    "Load a policy as an agent would, without starting one: syntax, the file's top level,\n"
    "vigil.on / vigil.configure arguments. Then scan its source, handlers included, for names\n"
    "that are not part of the vigil API (\"vigil.exce ... did you mean vigil.exec?\") and for\n"
    "what a policy cannot reach (os.execute, debug, ...). Prints a summary, or each problem\n"
    "with its line and exits 1.\n";

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
    "  --watch           every second until interrupted: redraw the table on a terminal;\n"
    "                    into a pipe or file, each table after a blank line (no escape\n"
    "                    codes); with --json, one document per line (JSON lines)\n"
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

static void check_pname(const char *cmd, const char *flag, const char *v) {
  size_t hl;
  uint16_t port;
  if (vigil_pname_parse(v, &hl, &port) != VIGIL_OK)
    die(2, cmd, "%s: expected host:port (port 1-65535), got '%s'", flag, v);
}

vigil_time parse_duration(const char *cmd, const char *flag, const char *v) {
  vigil_time t;
  char err[256];
  if (!config_duration(v, &t, err, sizeof err)) die(2, cmd, "%s: %s", flag, err);
  return t;
}

unsigned long parse_uint(const char *cmd, const char *flag, const char *v, unsigned long max) {
  unsigned long x;
  char err[256];
  if (!config_uint(v, max, &x, err, sizeof err)) die(2, cmd, "%s: %s", flag, err);
  return x;
}

/* ---- vigil agent ------------------------------------------------------------------ */

/* Every setting comes from core/cmd/config.c's table: flags, then VIGIL_*
 * variables, then the --config file, then the defaults. */
static int cmd_agent(args *a) {
  static agent_settings s;
  int rc = agent_settings_load(&s, a->argc - 2, a->argv + 2, environ);
  if (rc == CONFIG_HELP) {
    agent_settings_usage(&s, stdout);
    return 0;
  }
  if (rc != CONFIG_OK) die(2, a->cmd, "%s", s.st.err);
  vigil_lua_host_set_memory_limit(s.policy_memory);
  /* What a policy's vigil.configure overrides, and a reload without it
   * restores (docs/POLICIES.md). */
  char tfrom[CONFIG_PATH_MAX], ifrom[CONFIG_PATH_MAX];
  vigil_lua_host_set_baseline(&s.cfg.detector, s.cfg.interval,
                              agent_settings_origin(&s, "threshold", tfrom, sizeof tfrom),
                              agent_settings_origin(&s, "interval", ifrom, sizeof ifrom));
  s.cfg.policy_host = &vigil_lua_host;
  return vigil_agent_run(&s.cfg);
}

/* ---- vigil members -------------------------------------------------------------------- */

/* method path on host:port; the body in a malloc'd string, or die. The
 * status must be `expect` (or 503 from /health: a degraded agent still
 * answers with its document). */
static char *http_request_as(const char *cmd, const char *addr, const char *token, const char *method, const char *path,
                             int expect) {
  char *body = NULL;
  int status = vigil_http_call(cmd, addr, token, method, path, &body);
  if (status != expect && !(expect == 200 && status == 503 && strcmp(path, "/health") == 0))
    die(1, cmd, "the agent at %s answered %d to %s", addr, status, path);
  return body;
}

static char *http_get(const char *cmd, const char *addr, const char *path) {
  return http_request_as(cmd, addr, NULL, "GET", path, 200);
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
  /* Escape codes only for a terminal: `vigil members --watch | jq` or into
   * a file gets plain documents (JSON lines with --json, tables apart by a
   * blank line otherwise). */
  bool redraw = !json && isatty(STDOUT_FILENO);
  signal(SIGINT, on_interrupt);
  for (bool first = true; !interrupted; first = false) {
    char *body = http_get(a->cmd, http, path);
    printf("%s%s", redraw ? "\033[H\033[2J" : !json && !first ? "\n" : "", body);
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
  char token[257] = "";
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_reload, stdout);
      return 0;
    } else if (is_flag(arg, "--http", &v)) {
      http = flag_value(a, "--http", v);
      check_pname(a->cmd, "--http", http);
    } else if (is_flag(arg, "--http-token-file", &v)) {
      vigil_http_token_file(a->cmd, flag_value(a, "--http-token-file", v), token, sizeof token);
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
  free(http_request_as(a->cmd, http, token, "POST", "/v1/reload", 202));
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

static int cmd_test(args *a) {
  if (a->argc >= 3 && (strcmp(a->argv[2], "--help") == 0 || strcmp(a->argv[2], "-h") == 0)) {
    fputs(usage_test, stdout);
    return 0;
  }
  char lua_dir[4096], c_dir[4096];
  if (!vigil_lua_dir(lua_dir, sizeof lua_dir)) die(1, a->cmd, "cannot find vigil's Lua modules: %s", lua_dir);
  if (!vigil_lua_cdir(c_dir, sizeof c_dir)) die(1, a->cmd, "cannot find vigil.core: %s", c_dir);
  char lpath[16384], cpath[8192];
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
  if (strcmp(cmd, "join") == 0) return vigil_cmd_join(&a);
  if (strcmp(cmd, "leave") == 0) return vigil_cmd_leave(&a);
  if (strcmp(cmd, "force-leave") == 0) return vigil_cmd_force_leave(&a);
  if (strcmp(cmd, "monitor") == 0) return vigil_cmd_monitor(&a);
  if (strcmp(cmd, "info") == 0) return vigil_cmd_info(&a);
  if (strcmp(cmd, "keygen") == 0) return vigil_cmd_keygen(&a);
  if (strcmp(cmd, "keys") == 0) return vigil_cmd_keys(&a);
  if (strcmp(cmd, "help") == 0) return vigil_cmd_help(&a);
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
