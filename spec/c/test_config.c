/*
 * test_config.c - the agent's settings (core/cmd/config.c): the precedence
 * flags > VIGIL_* > config file > defaults, lists replaced whole, relative
 * paths in the file, the defaults --help shows against the runtime's, and
 * every error path of the file and environment readers: each must name
 * the file and the key, or the variable, and say what was expected.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char dir[256]; /* a fresh directory for this run's files */

static void setup(void) {
  if (dir[0]) return;
  snprintf(dir, sizeof dir, "/tmp/vigil-test-config-XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(1);
  }
}

/* dir/name holding text (mode 0600); its path in a static buffer per slot. */
static const char *write_file(const char *name, const char *text) {
  static char paths[8][512];
  static int slot;
  setup();
  char *path = paths[slot++ % 8];
  snprintf(path, 512, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
  chmod(path, 0600);
  return path;
}

static agent_settings s, defaults;

/* Load with the config file holding json (NULL: no file), the environment
 * env (NULL-terminated "NAME=value" list, or NULL) and flags (NULL-terminated). */
static int load(const char *json, const char *const *env, const char *const *flags) {
  char *argv[64];
  int argc = 0;
  if (json) {
    argv[argc++] = "--config";
    argv[argc++] = (char *)write_file("vigil.json", json);
  }
  for (int i = 0; flags && flags[i] && argc < 63; i++) argv[argc++] = (char *)flags[i];
  argv[argc] = NULL;
  return agent_settings_load(&s, argc, argv, (char **)env);
}

/* The error of loading json, or "" when it loaded. */
static const char *file_error(const char *json) { return load(json, NULL, NULL) == CONFIG_ERROR ? s.st.err : ""; }

#define CHECK_HAS(text, part)                                                                                          \
  do {                                                                                                                 \
    const char *t_ = (text), *p_ = (part);                                                                             \
    if (!strstr(t_, p_)) CHECK_FAIL_("\"%s\" does not say \"%s\"", t_, p_);                                            \
  } while (0)

static const char *origin(const char *key) {
  static char buf[1024];
  const char *o = agent_settings_origin(&s, key, buf, sizeof buf);
  return o ? o : "default";
}

/* ---- precedence -------------------------------------------------------------- */

TEST(flags_win_over_the_environment_which_wins_over_the_file) {
  const char *env[] = {"VIGIL_THRESHOLD=10", "VIGIL_INTERVAL=500ms", "VIGIL_DC=env-dc", "VIGIL_BIN=ignored", NULL};
  const char *flags[] = {"--threshold", "12", NULL};
  int rc = load("{\"threshold\": 9, \"interval\": \"1s\", \"dc\": \"file-dc\", \"rack\": \"file-rack\", "
                "\"max_peers\": 100}",
                env, flags);
  CHECK_INT(rc, CONFIG_OK);
  CHECK_NEAR(s.cfg.detector.threshold, 12, 0); /* flag > env > file */
  CHECK_INT(s.cfg.interval, 500 * VIGIL_MS);   /* env > file */
  CHECK_STR(s.cfg.dc, "env-dc");               /* env > file */
  CHECK_STR(s.cfg.rack, "file-rack");          /* file > default */
  CHECK_INT(s.cfg.max_peers, 100);             /* file > default */
  CHECK_INT(s.cfg.reap_after, 60 * VIGIL_SEC); /* the default */
  CHECK_INT(s.cfg.tick, 250 * VIGIL_MS);       /* half the interval in force */
  CHECK_STR(origin("threshold"), "--threshold");
  CHECK_STR(origin("interval"), "VIGIL_INTERVAL");
  CHECK_STR(origin("rack"), s.st.file);
  CHECK_STR(origin("reap"), "default");
  CHECK_STR(s.cfg.config_file, s.st.file);
  CHECK_STR(s.cfg.settings_from, "flags=threshold env=dc,interval file=rack,max_peers"); /* VIGIL_BIN: not ours */
}

TEST(the_start_up_log_says_which_source_gave_which_setting) {
  const char *env[] = {"VIGIL_INTERVAL=500ms", NULL};
  const char *flags[] = {"--threshold=12", NULL};
  CHECK_INT(load("{\"rack\": \"r1\", \"interval\": \"1s\"}", env, flags), CONFIG_OK);
  /* Each setting under the source whose value won. */
  CHECK_STR(s.cfg.settings_from, "flags=threshold env=interval file=rack");
  CHECK_INT(load(NULL, NULL, NULL), CONFIG_OK);
  CHECK_STR(s.cfg.settings_from, "");
  CHECK(s.cfg.config_file == NULL);
}

TEST(config_file_comes_from_the_flag_before_the_variable) {
  const char *other = write_file("other.json", "{\"dc\": \"from-env-file\"}");
  char var[600];
  snprintf(var, sizeof var, "VIGIL_CONFIG=%s", other);
  const char *env[] = {var, NULL};
  CHECK_INT(load("{\"dc\": \"from-flag-file\"}", env, NULL), CONFIG_OK);
  CHECK_STR(s.cfg.dc, "from-flag-file");
  CHECK_INT(load(NULL, env, NULL), CONFIG_OK);
  CHECK_STR(s.cfg.dc, "from-env-file");
}

TEST(a_list_from_a_higher_source_replaces_the_lower_one_whole) {
  const char *json = "{\"seeds\": [\"127.0.0.1:1\", \"127.0.0.2:2\"], \"tokens\": \"1,2\"}";
  CHECK_INT(load(json, NULL, NULL), CONFIG_OK);
  CHECK_INT(s.cfg.nseeds, 2);
  CHECK_STR(s.cfg.seeds[1], "127.0.0.2:2");
  CHECK_INT(s.cfg.ntokens, 2);
  const char *env[] = {"VIGIL_SEEDS=127.0.0.3:3", NULL};
  CHECK_INT(load(json, env, NULL), CONFIG_OK);
  CHECK_INT(s.cfg.nseeds, 1);
  CHECK_STR(s.cfg.seeds[0], "127.0.0.3:3");
  CHECK_INT(s.cfg.ntokens, 2); /* untouched by the environment */
  /* A repeated flag adds to the list; together they replace the env's. */
  const char *flags[] = {"--seeds", "127.0.0.4:4", "--seeds=127.0.0.5:5,127.0.0.6:6", NULL};
  CHECK_INT(load(json, env, flags), CONFIG_OK);
  CHECK_INT(s.cfg.nseeds, 3);
  CHECK_STR(s.cfg.seeds[0], "127.0.0.4:4");
  CHECK_STR(s.cfg.seeds[2], "127.0.0.6:6");
  /* An empty array is "no seeds". */
  CHECK_INT(load("{\"seeds\": []}", NULL, NULL), CONFIG_OK);
  CHECK_INT(s.cfg.nseeds, 0);
}

TEST(an_empty_variable_counts_as_unset) {
  const char *env[] = {"VIGIL_THRESHOLD=", "VIGIL_SEEDS=", "VIGIL_CONFIG=", NULL};
  CHECK_INT(load(NULL, env, NULL), CONFIG_OK);
  CHECK_NEAR(s.cfg.detector.threshold, 8, 0);
  CHECK_STR(origin("threshold"), "default");
}

TEST(switches_read_from_flags_variables_and_booleans) {
  const char *json = "{\"listen\": \"0.0.0.0:7946\", \"advertise\": \"10.0.0.1:7946\", \"insecure\": true}";
  CHECK_INT(load(json, NULL, NULL), CONFIG_OK);
  CHECK(s.insecure);
  const char *off[] = {"VIGIL_INSECURE=false", NULL};
  CHECK_INT(load(json, off, NULL), CONFIG_ERROR); /* the variable wins: now a keyring is required */
  CHECK_HAS(s.st.err, "vigil.json: listen 0.0.0.0:7946 without --keyring");
  const char *flags[] = {"--insecure", NULL};
  CHECK_INT(load(json, off, flags), CONFIG_OK);
  CHECK(s.insecure);
}

TEST(relative_paths_in_the_file_are_relative_to_its_directory) {
  write_file("keyring", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n");
  write_file("agent.lua", "-- a policy\n");
  write_file("http-token", "0123456789abcdef0123456789abcdef\n");
  char want[600];
  /* From somewhere else: the paths must not depend on the working directory. */
  char cwd[512];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK_INT(chdir("/"), 0);
  CHECK_INT(
      load("{\"keyring\": \"keyring\", \"policy\": \"agent.lua\", \"http_token_file\": \"http-token\"}", NULL, NULL),
      CONFIG_OK);
  snprintf(want, sizeof want, "%s/keyring", dir);
  CHECK_STR(s.cfg.keyring_path, want);
  CHECK(s.cfg.keyring && s.cfg.keyring->nkeys == 1);
  snprintf(want, sizeof want, "%s/agent.lua", dir);
  CHECK_STR(s.cfg.policy, want);
  CHECK_STR(s.cfg.http_token, "0123456789abcdef0123456789abcdef");
  /* On the command line and in the environment: the working directory. */
  const char *env[] = {"VIGIL_POLICY=agent.lua", NULL};
  CHECK_INT(load(NULL, env, NULL), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "VIGIL_POLICY: cannot read policy file 'agent.lua'");
  CHECK_INT(chdir(cwd), 0);
}

TEST(the_policy_is_the_argument_or_policy_once) {
  const char *policy = write_file("p.lua", "-- p\n");
  const char *arg[] = {policy, NULL};
  CHECK_INT(load(NULL, NULL, arg), CONFIG_OK);
  CHECK_STR(s.cfg.policy, policy);
  const char *flag[] = {"--policy", policy, NULL};
  CHECK_INT(load(NULL, NULL, flag), CONFIG_OK);
  CHECK_STR(s.cfg.policy, policy);
  const char *two[] = {policy, policy, NULL};
  CHECK_INT(load(NULL, NULL, two), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "unexpected argument");
  const char *both[] = {policy, "--policy", policy, NULL};
  CHECK_INT(load(NULL, NULL, both), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "--policy: one policy at most");
  const char *missing[] = {"/nonexistent/agent.lua", NULL};
  CHECK_INT(load(NULL, NULL, missing), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "cannot read policy file '/nonexistent/agent.lua'");
}

/* ---- defaults ---------------------------------------------------------------- */

/* The settings that a default can be read back into, compared. */
static bool same_settings(const agent_settings *a, const agent_settings *b) {
  const char *da = a->cfg.dc ? a->cfg.dc : "default", *db = b->cfg.dc ? b->cfg.dc : "default";
  const char *ra = a->cfg.rack ? a->cfg.rack : "default", *rb = b->cfg.rack ? b->cfg.rack : "default";
  return strcmp(a->cfg.listen, b->cfg.listen) == 0 && strcmp(a->cfg.http, b->cfg.http) == 0 && strcmp(da, db) == 0 &&
         strcmp(ra, rb) == 0 && a->cfg.log_level == b->cfg.log_level && a->cfg.interval == b->cfg.interval &&
         a->cfg.reap_after == b->cfg.reap_after && a->cfg.max_peers == b->cfg.max_peers &&
         a->cfg.max_skew == b->cfg.max_skew && a->cfg.detector.threshold == b->cfg.detector.threshold &&
         a->policy_memory == b->policy_memory && a->insecure == b->insecure && a->cfg.nseeds == b->cfg.nseeds;
}

TEST(the_defaults_help_shows_are_the_ones_in_force) {
  CHECK_INT(load(NULL, NULL, NULL), CONFIG_OK);
  defaults = s;
  vigil_agent_config rt;
  vigil_agent_config_init(&rt);
  CHECK_INT(defaults.cfg.interval, rt.interval);
  CHECK_INT(defaults.cfg.max_peers, VIGIL_MAX_PEERS);
  CHECK_INT(defaults.policy_memory, 64u << 20);
  /* Every "default X" of --help, given as the flag's value, changes nothing. */
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  agent_settings_usage(&s, out);
  fclose(out);
  int checked = 0;
  char flag[64] = "";
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "  --", 4) == 0 && sscanf(line + 2, "%63[-a-z]", flag) == 1) continue;
    char def[128];
    if (sscanf(line, " default: %127[^;]", def) != 1 || !flag[0]) continue;
    if (strcmp(def, "none") == 0 || strcmp(def, "the listen address") == 0) continue;
    char value[256];
    snprintf(value, sizeof value, "%s=%s", flag, def);
    const char *flags[] = {value, NULL};
    int rc = load(NULL, NULL, flags);
    if (rc != CONFIG_OK) CHECK_FAIL_("%s: %s", value, s.st.err);
    if (rc == CONFIG_OK && !same_settings(&s, &defaults)) CHECK_FAIL_("%s is not the default in force", value);
    checked++;
  }
  free(text);
  CHECK(checked >= 12);
}

TEST(help_lists_every_setting_with_its_key_and_variable) {
  char *argv[] = {"--listen", "127.0.0.1:1", "--help", NULL};
  CHECK_INT(agent_settings_load(&s, 3, argv, NULL), CONFIG_HELP);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  agent_settings_usage(&s, out);
  fclose(out);
  CHECK_HAS(text, "usage: vigil agent");
  CHECK_HAS(text, "--max-peers n");
  CHECK_HAS(text, "default: 16384; key: max_peers; env: VIGIL_MAX_PEERS");
  CHECK_HAS(text, "default: none; env: VIGIL_CONFIG");
  CHECK_HAS(text, "key: http_token_file; env: VIGIL_HTTP_TOKEN_FILE");
  CHECK(strstr(text, "--fanout") == NULL); /* removed settings are not offered */
  /* The table itself (what `vigil help` lists): every row --help shows. */
  size_t n = 0, shown = 0;
  const config_setting *rows = agent_settings_table(&n);
  for (size_t r = 0; r < n; r++) {
    if (rows[r].removed) continue;
    shown++;
    char head[96];
    snprintf(head, sizeof head, "  %s%s%s", rows[r].flag, rows[r].arg ? " " : "", rows[r].arg ? rows[r].arg : "");
    CHECK_HAS(text, head);
  }
  CHECK(shown >= 19);
  free(text);
}

/* ---- errors: the file ------------------------------------------------------------- */

TEST(file_errors_name_the_file_the_key_and_what_was_expected) {
  static const struct {
    const char *json, *says;
  } cases[] = {
      {"{\"interval\": 200}", "interval: expected a duration string like \"200ms\", \"2s\" or \"1.5m\", got the "
                              "number 200"},
      {"{\"interval\": \"fast\"}", "interval: expected a duration like 200ms, 2s or 1.5m, got 'fast'"},
      {"{\"interval\": \"0.1ms\"}", "interval: at least 1ms"},
      {"{\"reap\": \"-1s\"}", "reap: expected a duration"},
      {"{\"max_peers\": \"100\"}", "max_peers: expected a whole number, got the string \"100\""},
      {"{\"max_peers\": 2.5}", "max_peers: expected a whole number, got the number 2.5"},
      {"{\"max_peers\": -1}", "max_peers: expected a whole number from 0 to 16777216, got '-1'"},
      {"{\"max_peers\": 99999999}", "max_peers: expected a whole number from 0 to 16777216"},
      {"{\"max_peers\": 1}", "max_peers: counts this agent too"},
      {"{\"policy_memory\": 70000}", "policy_memory: expected a whole number from 0 to 65536"},
      {"{\"threshold\": 0}", "threshold: expected a number > 0, got '0'"},
      {"{\"threshold\": \"8\"}", "threshold: expected a number, got the string \"8\""},
      {"{\"threshold\": null}", "threshold: expected a number, got null"},
      {"{\"insecure\": \"yes\"}", "insecure: expected true or false, got the string \"yes\""},
      {"{\"listen\": 7946}", "listen: expected a string (host:port), got the number 7946"},
      {"{\"listen\": \"nowhere\"}", "listen: expected host:port (port 1-65535), got 'nowhere'"},
      {"{\"advertise\": \"10.0.0.1:0\"}", "advertise: expected host:port"},
      {"{\"http\": \"nowhere\"}", "http: expected host:port (port 1-65535) or off, got 'nowhere'"},
      {"{\"dc\": \"\"}", "dc: 1 to 47 letters"},
      {"{\"rack\": \"r 1\"}", "rack: 1 to 47 letters"},
      {"{\"log_level\": \"loud\"}", "log_level: expected debug, info, warn or error, got 'loud'"},
      {"{\"seeds\": \"127.0.0.1\"}", "seeds: expected host:port or host:port:rack:dc:tokens, got '127.0.0.1'"},
      {"{\"seeds\": [\"127.0.0.1:1\", 2]}", "seeds[1]: expected a string, got the number 2"},
      {"{\"seeds\": [\"127.0.0.1:1\", \"127.0.0.1:x\"]}", "seeds[1]: '127.0.0.1:x': the port must be"},
      {"{\"seeds\": {\"a\": 1}}", "seeds: expected an array of strings, got an object"},
      {"{\"tokens\": [\"12x\"]}", "tokens[0]: '12x' is not a decimal token below 2^128"},
      {"{\"keyring\": \"no-such-keyring\"}", "/no-such-keyring: cannot open keyring"},
      {"{\"http_token_file\": \"no-such-token\"}", "http_token_file: cannot read '"},
      {"{\"bogus\": 1}", "unknown key 'bogus' (see vigil agent --help for the keys)"},
      {"{\"max-peers\": 5}", "unknown key 'max-peers' (did you mean 'max_peers'?)"},
      {"{\"--Listen\": 5}", "(did you mean 'listen'?)"},
      {"{\"fanout\": 8}", "fanout: removed in protocol 2"},
      {"{\"config\": \"other.json\"}", "config: a config file cannot name another one"},
      {"[\"listen\"]", "expected a JSON object of settings, like {\"listen\": \"10.0.0.1:7946\"}, got an array"},
      {"{\"listen\": \"127.0.0.1:1\",\n \"dc\": }", "line 2, column"},
      {"{\"dc\": \"a\", \"dc\": \"b\"}", "duplicate object key"},
      {"{\"dc\": \"a\\u0000b\"}", "\\u0000 is not allowed"},
      {"", "line 1, column"},
      {"{\"listen\": \"0.0.0.0:7946\", \"advertise\": \"10.0.0.1:7946\"}",
       "vigil.json: listen 0.0.0.0:7946 without --keyring"},
      {"{\"reap\": \"5s\"}", "--max-clock-skew (10s) must be shorter than "},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *err = file_error(cases[i].json);
    if (!*err) {
      CHECK_FAIL_("%s loaded; want an error saying %s", cases[i].json, cases[i].says);
      continue;
    }
    CHECK_HAS(err, cases[i].says);
    CHECK_HAS(err, "vigil.json"); /* every one names the file */
  }
  /* ... and the key, also where the error is only found after reading it. */
  CHECK_HAS(file_error("{\"reap\": \"5s\"}"), "vigil.json: reap (5s)");
}

TEST(an_overridden_value_is_still_checked) {
  const char *flags[] = {"--interval", "1s", NULL};
  CHECK_INT(load("{\"interval\": \"fast\"}", NULL, flags), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "vigil.json: interval: expected a duration");
  const char *env[] = {"VIGIL_THRESHOLD=high", NULL};
  const char *flag[] = {"--threshold", "9", NULL};
  CHECK_INT(load(NULL, env, flag), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "VIGIL_THRESHOLD: expected a number > 0, got 'high'");
}

TEST(a_file_that_cannot_be_read_is_an_error_naming_what_named_it) {
  char *argv[] = {"--config", "/nonexistent/vigil.json", NULL};
  CHECK_INT(agent_settings_load(&s, 2, argv, NULL), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "--config: cannot read '/nonexistent/vigil.json': No such file or directory");
  char *env[] = {"VIGIL_CONFIG=/nonexistent/vigil.json", NULL};
  CHECK_INT(agent_settings_load(&s, 0, NULL, env), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "VIGIL_CONFIG: cannot read '/nonexistent/vigil.json'");
  setup();
  char *dir_argv[] = {"--config", dir, NULL};
  CHECK_INT(agent_settings_load(&s, 2, dir_argv, NULL), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "is not a regular file");
  /* Bounded: past 1 MiB it is not a config file. */
  size_t big = CONFIG_FILE_MAX + 16;
  char *text = malloc(big + 1);
  memset(text, ' ', big);
  text[0] = '{';
  text[big - 1] = '}';
  text[big] = '\0';
  CHECK_HAS(file_error(text), "larger than 1024 KiB");
  free(text);
}

TEST(a_key_from_the_file_is_shown_harmlessly) {
  /* An escape sequence in a key must not reach the terminal as one. */
  const char *err = file_error("{\"\\u001b[2Jx\": 1}");
  CHECK_HAS(err, "unknown key '?[2Jx'");
  CHECK(strchr(err, 0x1b) == NULL);
}

/* ---- errors: the environment and the flags ------------------------------------------ */

TEST(variable_errors_name_the_variable) {
  static const struct {
    const char *var, *says;
  } cases[] = {
      {"VIGIL_INTERVAL=fast", "VIGIL_INTERVAL: expected a duration like 200ms, 2s or 1.5m, got 'fast'"},
      {"VIGIL_REAP=1h", "VIGIL_REAP: expected a duration"},
      {"VIGIL_MAX_PEERS=many", "VIGIL_MAX_PEERS: expected a whole number from 0 to 16777216, got 'many'"},
      {"VIGIL_MAX_PEERS= 5", "VIGIL_MAX_PEERS: expected a whole number"},
      {"VIGIL_MAX_CLOCK_SKEW=10", "VIGIL_MAX_CLOCK_SKEW: expected a duration"},
      {"VIGIL_POLICY_MEMORY=-1", "VIGIL_POLICY_MEMORY: expected a whole number"},
      {"VIGIL_THRESHOLD=-3", "VIGIL_THRESHOLD: expected a number > 0, got '-3'"},
      {"VIGIL_INSECURE=maybe", "VIGIL_INSECURE: expected true or false, got 'maybe'"},
      {"VIGIL_LISTEN=nowhere", "VIGIL_LISTEN: expected host:port"},
      {"VIGIL_ADVERTISE=[::1]", "VIGIL_ADVERTISE: expected host:port"},
      {"VIGIL_HTTP=:80", "VIGIL_HTTP: expected host:port (port 1-65535) or off"},
      {"VIGIL_DC=a/b", "VIGIL_DC: 1 to 47 letters"},
      {"VIGIL_RACK=r|1", "VIGIL_RACK: 1 to 47 letters"},
      {"VIGIL_SEEDS=127.0.0.1:1,nowhere", "VIGIL_SEEDS: expected host:port or host:port:rack:dc:tokens, got 'nowhere'"},
      {"VIGIL_TOKENS=1,x", "VIGIL_TOKENS: 'x' is not a decimal token"},
      {"VIGIL_LOG_LEVEL=trace", "VIGIL_LOG_LEVEL: expected debug, info, warn or error, got 'trace'"},
      {"VIGIL_KEYRING=/nonexistent/keyring", "VIGIL_KEYRING: /nonexistent/keyring: cannot open keyring"},
      {"VIGIL_HTTP_TOKEN_FILE=/nonexistent/token", "VIGIL_HTTP_TOKEN_FILE: cannot read '/nonexistent/token'"},
      {"VIGIL_POLICY=/nonexistent/agent.lua", "VIGIL_POLICY: cannot read policy file"},
      {"VIGIL_FANOUT=8", "VIGIL_FANOUT: removed in protocol 2"},
      {"VIGIL_LISTEN=0.0.0.0:7946", "VIGIL_LISTEN 0.0.0.0:7946 without --keyring"},
      {"VIGIL_REAP=5s", "--max-clock-skew (10s) must be shorter than VIGIL_REAP (5s)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *env[] = {cases[i].var, NULL};
    if (load(NULL, env, NULL) != CONFIG_ERROR) {
      CHECK_FAIL_("%s loaded; want an error saying %s", cases[i].var, cases[i].says);
      continue;
    }
    CHECK_HAS(s.st.err, cases[i].says);
  }
}

TEST(flag_errors_name_the_flag) {
  static const struct {
    const char *flags[4], *says;
  } cases[] = {
      {{"--bogus"}, "unknown flag --bogus (see vigil agent --help)"},
      {{"--listen"}, "--listen needs a value"},
      {{"--interval", "fast"}, "--interval: expected a duration"},
      {{"--insecure=maybe"}, "--insecure: expected true or false, got 'maybe'"},
      {{"--fanout", "8"}, "--fanout: removed in protocol 2"},
      {{"--tokens", "12x"}, "--tokens: '12x' is not a decimal token"},
      {{"--keyring", "/nonexistent"}, "--keyring: /nonexistent: cannot open keyring"},
      {{"--max-clock-skew", "2m"}, "--max-clock-skew (120s) must be shorter than --reap (60s)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (load(NULL, NULL, cases[i].flags) != CONFIG_ERROR) {
      CHECK_FAIL_("%s loaded; want an error saying %s", cases[i].flags[0], cases[i].says);
      continue;
    }
    CHECK_HAS(s.st.err, cases[i].says);
  }
}

TEST(a_token_file_open_to_everyone_is_refused) {
  const char *path = write_file("open-token", "0123456789abcdef0123456789abcdef\n");
  chmod(path, 0644);
  const char *flags[] = {"--http-token-file", path, NULL};
  CHECK_INT(load(NULL, NULL, flags), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "--http-token-file: ");
  CHECK_HAS(s.st.err, "is open to every user (mode 644)");
  path = write_file("short-token", "short\n");
  const char *short_flags[] = {"--http-token-file", path, NULL};
  CHECK_INT(load(NULL, NULL, short_flags), CONFIG_ERROR);
  CHECK_HAS(s.st.err, "the token has 5 characters, at least 16 needed");
}

/* ---- the engine, with a table of its own ---------------------------------------------- */

/* A repeatable k=v setting with an object in the file: what `--tag` will be. */
typedef struct tags {
  char items[8][64];
  int n;
} tags;

static bool tag_parse(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  (void)row;
  tags *t = base;
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, ",");
    if (!memchr(p, '=', n) || t->n == 8 || n >= 64) {
      snprintf(err, cap, "expected k=v, got '%.*s'", (int)n, p);
      return false;
    }
    memcpy(t->items[t->n], p, n);
    t->items[t->n++][n] = '\0';
    p += n;
    if (*p) p++;
  }
  return true;
}

static void tag_clear(void *base, const config_setting *row) {
  (void)row;
  ((tags *)base)->n = 0;
}

static const config_setting tag_rows[] = {
    {.flag = "--config", .arg = "file", .env = "T_CONFIG", .flags = CONFIG_IS_FILE, .help = "the file"},
    {.flag = "--tag",
     .arg = "k=v",
     .key = "tags",
     .env = "T_TAGS",
     .json = CONFIG_OBJECT,
     .flags = CONFIG_LIST,
     .help = "a tag",
     .parse = tag_parse,
     .clear = tag_clear},
};

TEST(a_setting_is_one_row_even_an_object_of_tags) {
  static config_state st;
  tags t = {0};
  const char *path = write_file("tags.json", "{\"tags\": {\"role\": \"cache\", \"zone\": \"b\"}}");
  char *argv[] = {"--config", (char *)path, NULL};
  config_init(&st, tag_rows, 2, &t, "test");
  CHECK_INT(config_load(&st, 2, argv, NULL), CONFIG_OK);
  CHECK_INT(t.n, 2);
  CHECK_STR(t.items[0], "role=cache"); /* in the file's order */
  CHECK_STR(t.items[1], "zone=b");
  char *env[] = {"T_TAGS=a=1,b=2", NULL};
  config_init(&st, tag_rows, 2, &t, "test");
  CHECK_INT(config_load(&st, 2, argv, env), CONFIG_OK);
  CHECK_INT(t.n, 2);
  CHECK_STR(t.items[0], "a=1");
  char *flags[] = {"--config", (char *)path, "--tag", "x=1", "--tag=y=2", NULL};
  config_init(&st, tag_rows, 2, &t, "test");
  CHECK_INT(config_load(&st, 5, flags, env), CONFIG_OK);
  CHECK_INT(t.n, 2);
  CHECK_STR(t.items[1], "y=2");
  path = write_file("tags.json", "{\"tags\": {\"role\": 1}}");
  char *bad[] = {"--config", (char *)path, NULL};
  config_init(&st, tag_rows, 2, &t, "test");
  CHECK_INT(config_load(&st, 2, bad, NULL), CONFIG_ERROR);
  CHECK_HAS(st.err, "tags.json: tags.role: expected a string, got the number 1");
  path = write_file("tags.json", "{\"tags\": [\"a=1\"]}");
  char *arr[] = {"--config", (char *)path, NULL};
  config_init(&st, tag_rows, 2, &t, "test");
  CHECK_INT(config_load(&st, 2, arr, NULL), CONFIG_ERROR);
  CHECK_HAS(st.err, "tags: expected an object of strings, got an array");
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(flags_win_over_the_environment_which_wins_over_the_file);
  RUN(the_start_up_log_says_which_source_gave_which_setting);
  RUN(config_file_comes_from_the_flag_before_the_variable);
  RUN(a_list_from_a_higher_source_replaces_the_lower_one_whole);
  RUN(an_empty_variable_counts_as_unset);
  RUN(switches_read_from_flags_variables_and_booleans);
  RUN(relative_paths_in_the_file_are_relative_to_its_directory);
  RUN(the_policy_is_the_argument_or_policy_once);
  RUN(the_defaults_help_shows_are_the_ones_in_force);
  RUN(help_lists_every_setting_with_its_key_and_variable);
  RUN(file_errors_name_the_file_the_key_and_what_was_expected);
  RUN(an_overridden_value_is_still_checked);
  RUN(a_file_that_cannot_be_read_is_an_error_naming_what_named_it);
  RUN(a_key_from_the_file_is_shown_harmlessly);
  RUN(variable_errors_name_the_variable);
  RUN(flag_errors_name_the_flag);
  RUN(a_token_file_open_to_everyone_is_refused);
  RUN(a_setting_is_one_row_even_an_object_of_tags);
  if (dir[0]) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  return CHECK_DONE();
}
