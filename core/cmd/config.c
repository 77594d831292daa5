/*
 * config.c - the agent's settings: one table, three sources.
 *
 * Owns: the table of the agent's settings (agent_rows, below), the engine
 * that reads any such table from flags, VIGIL_* environment variables and a
 * JSON config file, the parsers and their messages, and the checks of the
 * agent's settings against each other. main.c calls agent_settings_load
 * and hands the result to vigil_agent_run.
 *
 * The choices, and why:
 *   - One table. A setting is a row: its flag, its key, its variable, the
 *     JSON type it takes, its default as shown, its help, its parser. The
 *     help, the precedence, the errors and docs/AGENT.md's table come from
 *     it (spec/config_spec.lua checks the doc against --help), so a setting
 *     cannot exist in one place and not another.
 *   - One order: flags > environment > file > defaults. config_load reads
 *     the sources lowest first and each value replaces the one below it; a
 *     list (seeds, tokens) is replaced whole, while a repeated flag adds to
 *     it. Every value given anywhere is checked, the overridden ones too: a
 *     typo in the file is reported even while a flag hides it.
 *   - JSON through jansson (Debian: libjansson-dev) rather than cJSON: it
 *     reports a syntax error's line and column, refuses a key given twice
 *     (JSON_REJECT_DUPLICATES; cJSON would keep one silently), keeps
 *     integers apart from reals, refuses "\u0000" inside strings, and walks
 *     an object's keys in file order, so the first error reported is the
 *     first in the file. The file is read whole, 1 MiB at most.
 *   - Relative paths in the file are relative to the file's directory (a
 *     config directory can move whole); on the command line and in the
 *     environment they are relative to the working directory, as usual.
 *   - An empty variable counts as unset (`VIGIL_SEEDS=` in a unit file's
 *     EnvironmentFile means "none given", not "a bad value").
 *
 * Must never: exit, print, or let a value through unchecked. Errors go
 * back in st->err naming the flag, the variable, or the file and the key;
 * main.c prints them and exits with status 2.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "config.h"
#include "host.h"

/* ---- the engine --------------------------------------------------------------- */

static int config__fail(config_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int config__fail(config_state *st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->err, sizeof st->err, fmt, ap);
  va_end(ap);
  return CONFIG_ERROR;
}

void config_init(config_state *st, const config_setting *rows, size_t nrows, void *base, const char *cmd) {
  memset(st, 0, sizeof *st);
  st->rows = rows;
  st->nrows = nrows < CONFIG_ROWS_MAX ? nrows : CONFIG_ROWS_MAX;
  st->base = base;
  st->cmd = cmd;
}

int config_row(const config_state *st, const char *key) {
  for (size_t r = 0; r < st->nrows; r++)
    if (st->rows[r].key && strcmp(st->rows[r].key, key) == 0) return (int)r;
  return -1;
}

/* The row of a flag, "--name" or "--name=value" (then *inline_value). */
static int config__flag_row(const config_state *st, const char *arg, const char **inline_value) {
  for (size_t r = 0; r < st->nrows; r++) {
    const char *flag = st->rows[r].flag;
    size_t n = flag ? strlen(flag) : 0;
    if (!n || strncmp(arg, flag, n) != 0 || (arg[n] != '\0' && arg[n] != '=')) continue;
    *inline_value = arg[n] == '=' ? arg + n + 1 : NULL;
    return (int)r;
  }
  return -1;
}

/* Text for a message: at most 64 bytes of s, anything unprintable as '?'
 * (a key from a file should not be able to redraw the terminal). */
static const char *config__shown(const char *s, char *buf, size_t cap) {
  size_t n = 0;
  for (; *s && n + 1 < cap && n < 64; s++) buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  buf[n] = '\0';
  return buf;
}

/* A copy of prefix + text in the arena, or NULL when it is full. */
static const char *config__keep(config_state *st, const char *prefix, const char *text) {
  size_t p = prefix ? strlen(prefix) : 0, n = strlen(text);
  if (st->used + p + n + 1 > sizeof st->arena) return NULL;
  char *out = st->arena + st->used;
  if (p) memcpy(out, prefix, p);
  memcpy(out + p, text, n + 1);
  st->used += p + n + 1;
  return out;
}

/* Row r is about to get values from src: a list given by another source
 * is emptied first (a source replaces the lists of those below it). */
static void config__begin(config_state *st, int r, config_source src) {
  const config_setting *row = &st->rows[r];
  if ((row->flags & CONFIG_LIST) && st->source[r] != src && row->clear) row->clear(st->base, row);
  st->source[r] = src;
}

/* One value for row r, from `where` (a flag, a variable, "file: key"; ""
 * for the command's argument). */
static int config__set(config_state *st, int r, config_source src, const char *text, const char *where) {
  const config_setting *row = &st->rows[r];
  const char *prefix = (row->flags & CONFIG_PATH) && src == CONFIG_FILE && text[0] && text[0] != '/' ? st->dir : NULL;
  const char *kept = config__keep(st, prefix, text);
  if (!kept) return config__fail(st, "%s: the settings hold more than %d KiB of text", where, CONFIG_ARENA / 1024);
  char msg[1536];
  if (!row->parse(st->base, row, kept, msg, sizeof msg))
    return config__fail(st, "%s%s%s", where, *where ? ": " : "", msg);
  return CONFIG_OK;
}

/* "a number (200)", "an array", ... for "expected X, got Y". */
static const char *config__json_kind(const json_t *v, char *buf, size_t cap) {
  char shown[80];
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING:
    snprintf(buf, cap, "the string \"%s\"", config__shown(json_string_value(v), shown, sizeof shown));
    return buf;
  case JSON_INTEGER: snprintf(buf, cap, "the number %" JSON_INTEGER_FORMAT, json_integer_value(v)); return buf;
  case JSON_REAL: snprintf(buf, cap, "the number %g", json_real_value(v)); return buf;
  case JSON_TRUE: return "true";
  case JSON_FALSE: return "false";
  default: return "null";
  }
}

static int config__type_fail(config_state *st, const config_setting *row, const char *where, const json_t *v) {
  char want[160], got[128];
  if (row->want)
    snprintf(want, sizeof want, "%s", row->want);
  else if (row->flags & CONFIG_LIST)
    snprintf(want, sizeof want, "%s", row->json == CONFIG_OBJECT ? "an object of strings" : "an array of strings");
  else if (row->json == CONFIG_STRING)
    snprintf(want, sizeof want, "a string (%s)", row->arg ? row->arg : "text");
  else
    snprintf(want, sizeof want, "%s",
             row->json == CONFIG_NUMBER    ? "a number"
             : row->json == CONFIG_INTEGER ? "a whole number"
                                           : "true or false");
  return config__fail(st, "%s: expected %s, got %s", where, want, config__json_kind(v, got, sizeof got));
}

/* A JSON value of the config file for row r, as text for its parser. */
static int config__json(config_state *st, int r, const char *key, json_t *v) {
  const config_setting *row = &st->rows[r];
  char where[CONFIG_PATH_MAX + 160], shown[80];
  snprintf(where, sizeof where, "%s: %s", st->file, key);
  config__begin(st, r, CONFIG_FILE);
  if (row->flags & CONFIG_LIST) {
    if (row->json == CONFIG_OBJECT) { /* {"k": "v"} gives the items "k=v" */
      if (!json_is_object(v)) return config__type_fail(st, row, where, v);
      const char *k;
      json_t *item;
      json_object_foreach(v, k, item) {
        char at[sizeof where + 80], kv[1024];
        snprintf(at, sizeof at, "%s.%s", where, config__shown(k, shown, sizeof shown));
        if (!json_is_string(item)) {
          char got[128];
          return config__fail(st, "%s: expected a string, got %s", at, config__json_kind(item, got, sizeof got));
        }
        if ((size_t)snprintf(kv, sizeof kv, "%s=%s", k, json_string_value(item)) >= sizeof kv)
          return config__fail(st, "%s: longer than %zu characters", at, sizeof kv - 1);
        int rc = config__set(st, r, CONFIG_FILE, kv, at);
        if (rc) return rc;
      }
      return CONFIG_OK;
    }
    if (json_is_string(v)) return config__set(st, r, CONFIG_FILE, json_string_value(v), where);
    if (!json_is_array(v)) return config__type_fail(st, row, where, v);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      char at[sizeof where + 32];
      snprintf(at, sizeof at, "%s[%zu]", where, i);
      if (!json_is_string(item)) {
        char got[128];
        return config__fail(st, "%s: expected a string, got %s", at, config__json_kind(item, got, sizeof got));
      }
      int rc = config__set(st, r, CONFIG_FILE, json_string_value(item), at);
      if (rc) return rc;
    }
    return CONFIG_OK;
  }
  char num[64];
  const char *text = NULL;
  switch (row->json) {
  case CONFIG_STRING: text = json_is_string(v) ? json_string_value(v) : NULL; break;
  case CONFIG_NUMBER:
  case CONFIG_INTEGER:
    if (json_is_integer(v)) {
      snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      text = num;
    } else if (json_is_real(v) && row->json == CONFIG_NUMBER) {
      snprintf(num, sizeof num, "%.17g", json_real_value(v));
      text = num;
    }
    break;
  case CONFIG_BOOL: text = json_is_boolean(v) ? (json_is_true(v) ? "true" : "false") : NULL; break;
  case CONFIG_OBJECT: break;
  }
  if (!text) return config__type_fail(st, row, where, v);
  return config__set(st, r, CONFIG_FILE, text, where);
}

/* " (did you mean 'max_peers'?)" for "max-peers", "--max-peers", "MAX_PEERS". */
static void config__hint(const config_state *st, const char *key, char *hint, size_t cap) {
  char k[64];
  size_t n = 0;
  while (*key == '-') key++;
  for (; *key && n + 1 < sizeof k; key++) k[n++] = *key == '-' ? '_' : (char)tolower((unsigned char)*key);
  k[n] = '\0';
  if (config_row(st, k) >= 0)
    snprintf(hint, cap, " (did you mean '%s'?)", k);
  else
    snprintf(hint, cap, " (see vigil %s --help for the keys)", st->cmd);
}

/* Read the config file at path (named by flag or variable `by`). */
static int config__file(config_state *st, const char *path, const char *by) {
  if (strlen(path) + 1 >= sizeof st->file) return config__fail(st, "%s: the path is too long", by);
  snprintf(st->file, sizeof st->file, "%s", path);
  const char *slash = strrchr(path, '/');
  snprintf(st->dir, sizeof st->dir, "%.*s", slash ? (int)(slash - path + 1) : 0, path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return config__fail(st, "%s: cannot read '%s': %s", by, path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return config__fail(st, "%s: '%s' is not a regular file", by, path);
  }
  char *buf = malloc(CONFIG_FILE_MAX + 1);
  if (!buf) {
    close(fd);
    return config__fail(st, "%s: out of memory", path);
  }
  size_t len = 0;
  ssize_t got = 0;
  while (len <= CONFIG_FILE_MAX && (got = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len)) > 0) len += (size_t)got;
  int read_errno = errno;
  close(fd);
  if (got < 0) {
    free(buf);
    return config__fail(st, "%s: cannot read: %s", path, strerror(read_errno));
  }
  if (len > CONFIG_FILE_MAX) {
    free(buf);
    return config__fail(st, "%s: larger than %d KiB; a config file holds a few settings", path, CONFIG_FILE_MAX / 1024);
  }
  json_error_t je;
  json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  free(buf);
  if (!root) return config__fail(st, "%s: line %d, column %d: %s", path, je.line, je.column, je.text);
  int rc = CONFIG_OK;
  char got_kind[128], shown[80], hint[96];
  if (!json_is_object(root)) {
    rc = config__fail(st, "%s: expected a JSON object of settings, like {\"listen\": \"10.0.0.1:7946\"}, got %s", path,
                      config__json_kind(root, got_kind, sizeof got_kind));
  } else {
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
      int r = config_row(st, key);
      if (r < 0 && strcmp(key, "config") == 0) {
        rc = config__fail(st, "%s: config: a config file cannot name another one", path);
      } else if (r < 0) {
        config__hint(st, key, hint, sizeof hint);
        rc = config__fail(st, "%s: unknown key '%s'%s", path, config__shown(key, shown, sizeof shown), hint);
      } else if (st->rows[r].removed) {
        rc = config__fail(st, "%s: %s: %s", path, key, st->rows[r].removed);
      } else {
        rc = config__json(st, r, key, v);
      }
      if (rc) break;
    }
  }
  json_decref(root);
  return rc;
}

/* The value of variable name in envp, or NULL. */
static const char *config__getenv(char **envp, const char *name) {
  size_t n = strlen(name);
  for (char **e = envp; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

typedef struct config__given {
  int row;
  const char *value;
  bool positional; /* the command's argument rather than the flag */
} config__given;

int config_load(config_state *st, int argc, char **argv, char **envp) {
  config__given given[CONFIG_ARGS_MAX];
  size_t ngiven = 0;
  int file_row = -1, positional_row = -1;
  for (size_t r = 0; r < st->nrows; r++) {
    if (st->rows[r].flags & CONFIG_IS_FILE) file_row = (int)r;
    if (st->rows[r].flags & CONFIG_POSITIONAL) positional_row = (int)r;
  }
  const char *file = NULL, *file_by = NULL;
  bool positional_given = false;

  /* The command line first, to find --help and --config; its values are
   * applied last, above everything else. */
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i], *inline_value = NULL;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return CONFIG_HELP;
    if (ngiven == CONFIG_ARGS_MAX) return config__fail(st, "more than %d arguments", CONFIG_ARGS_MAX);
    if (arg[0] != '-') {
      if (positional_row < 0) return config__fail(st, "unexpected argument '%s' (see vigil %s --help)", arg, st->cmd);
      if (positional_given)
        return config__fail(st, "unexpected argument '%s' (one %s at most)", arg, st->rows[positional_row].key);
      positional_given = true;
      given[ngiven++] = (config__given){positional_row, arg, true};
      continue;
    }
    int r = config__flag_row(st, arg, &inline_value);
    if (r < 0) return config__fail(st, "unknown flag %s (see vigil %s --help)", arg, st->cmd);
    const config_setting *row = &st->rows[r];
    if (row->removed) return config__fail(st, "%s: %s", row->flag, row->removed);
    const char *value = inline_value;
    if (!value && (row->flags & CONFIG_SWITCH)) value = "true";
    if (!value && i + 1 >= argc) return config__fail(st, "%s needs a value (see vigil %s --help)", row->flag, st->cmd);
    if (!value) value = argv[++i];
    if (r == file_row) {
      file = value;
      file_by = row->flag;
      continue;
    }
    if (r == positional_row) {
      if (positional_given)
        return config__fail(st, "%s: one %s at most, and one was given already", row->flag, row->key);
      positional_given = true;
    }
    given[ngiven++] = (config__given){r, value, false};
  }

  /* The file, lowest. */
  if (!file && file_row >= 0 && st->rows[file_row].env) {
    const char *v = config__getenv(envp, st->rows[file_row].env);
    if (v && *v) file = v, file_by = st->rows[file_row].env;
  }
  if (file) {
    int rc = config__file(st, file, file_by);
    if (rc) return rc;
    st->source[file_row] = file_by == st->rows[file_row].flag ? CONFIG_FLAG : CONFIG_ENV;
  }

  /* The environment, above the file. */
  for (size_t r = 0; r < st->nrows; r++) {
    const config_setting *row = &st->rows[r];
    const char *v = row->env && (int)r != file_row ? config__getenv(envp, row->env) : NULL;
    if (!v || !*v) continue;
    if (row->removed) return config__fail(st, "%s: %s", row->env, row->removed);
    config__begin(st, (int)r, CONFIG_ENV);
    int rc = config__set(st, (int)r, CONFIG_ENV, v, row->env);
    if (rc) return rc;
  }

  /* The flags, above everything. */
  for (size_t i = 0; i < ngiven; i++) {
    const config_setting *row = &st->rows[given[i].row];
    config__begin(st, given[i].row, CONFIG_FLAG);
    int rc = config__set(st, given[i].row, CONFIG_FLAG, given[i].value, given[i].positional ? "" : row->flag);
    if (rc) return rc;
  }
  return CONFIG_OK;
}

const char *config_origin(const config_state *st, int r, char *buf, size_t cap) {
  if (r < 0 || (size_t)r >= st->nrows) return NULL;
  switch (st->source[r]) {
  case CONFIG_FLAG: return st->rows[r].flag;
  case CONFIG_ENV: return st->rows[r].env;
  case CONFIG_FILE: snprintf(buf, cap, "%s", st->file); return buf;
  default: return NULL;
  }
}

/* Where row r's value came from, for a message: the flag (also for a
 * default), the variable, or "file: key". */
static const char *config__where(const config_state *st, int r, char *buf, size_t cap) {
  if (r >= 0 && st->source[r] == CONFIG_FILE) {
    snprintf(buf, cap, "%s: %s", st->file, st->rows[r].key);
    return buf;
  }
  if (r >= 0 && st->source[r] == CONFIG_ENV) return st->rows[r].env;
  return r >= 0 ? st->rows[r].flag : "?";
}

#define USAGE_COLUMN 27 /* where the help text starts */
#define USAGE_WIDTH  96 /* and where it wraps */

/* text, wrapped at USAGE_WIDTH, each line after the first indented to the column. */
static void config__wrapped(FILE *out, const char *text, size_t col) {
  while (*text) {
    size_t room = USAGE_WIDTH - col, n = strlen(text);
    if (n > room) {
      n = room;
      while (n > 0 && text[n] != ' ') n--;
      if (n == 0) n = strcspn(text, " ");
    }
    fprintf(out, "%.*s\n", (int)n, text);
    text += n;
    while (*text == ' ') text++;
    if (*text) fprintf(out, "%*s", (int)col, "");
  }
}

void config_usage(const config_state *st, FILE *out) {
  for (size_t r = 0; r < st->nrows; r++) {
    const config_setting *row = &st->rows[r];
    if (row->removed || !row->flag) continue;
    char head[96];
    int n = snprintf(head, sizeof head, "  %s%s%s", row->flag, row->arg ? " " : "", row->arg ? row->arg : "");
    if (n + 1 >= USAGE_COLUMN)
      fprintf(out, "%s\n%*s", head, USAGE_COLUMN, "");
    else
      fprintf(out, "%-*s", USAGE_COLUMN, head);
    config__wrapped(out, row->help, USAGE_COLUMN);
    char meta[256];
    snprintf(meta, sizeof meta, "default: %s%s%s%s%s", row->def ? row->def : "none", row->key ? "; key: " : "",
             row->key ? row->key : "", row->env ? "; env: " : "", row->env ? row->env : "");
    fprintf(out, "%*s", USAGE_COLUMN, "");
    config__wrapped(out, meta, USAGE_COLUMN);
  }
}

/* ---- parsers ------------------------------------------------------------------ */

bool config_duration(const char *text, vigil_time *out, char *err, size_t cap) {
  if (strcmp(text, "0") == 0) { /* "never", for --reap */
    *out = 0;
    return true;
  }
  char *end;
  errno = 0;
  double x = strtod(text, &end);
  double unit = strcmp(end, "ms") == 0 ? 1e6 : strcmp(end, "s") == 0 ? 1e9 : strcmp(end, "m") == 0 ? 60e9 : 0;
  if (end == text || errno || unit == 0 || !(x >= 0) || x * unit > 1e18 || isspace((unsigned char)text[0])) {
    snprintf(err, cap, "expected a duration like 200ms, 2s or 1.5m, got '%s'", text);
    return false;
  }
  *out = (vigil_time)(x * unit + 0.5);
  return true;
}

bool config_uint(const char *text, unsigned long max, unsigned long *out, char *err, size_t cap) {
  char *end;
  errno = 0;
  unsigned long x = strtoul(text, &end, 10);
  if (end == text || *end || errno || x > max || text[0] == '-' || text[0] == '+' || isspace((unsigned char)text[0])) {
    snprintf(err, cap, "expected a whole number from 0 to %lu, got '%s'", max, text);
    return false;
  }
  *out = x;
  return true;
}

/* ---- the agent's settings ------------------------------------------------------- */

#define AGENT_FIELD(type, base, row) ((type *)(void *)((char *)(base) + (row)->target))

/* Is the pname's host a loopback address (127.0.0.0/8, ::1)? The wildcard
 * (0.0.0.0, ::) and every other address is reachable from elsewhere. */
static bool agent__loopback(const char *pname) {
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

static bool agent__pname_ok(const char *text, char *err, size_t cap) {
  size_t hl;
  uint16_t port;
  if (vigil_pname_parse(text, &hl, &port) == VIGIL_OK) return true;
  snprintf(err, cap, "expected host:port (port 1-65535), got '%s'", text);
  return false;
}

/* --listen, --advertise: an IP literal and a port. */
static bool agent__pname(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  if (!agent__pname_ok(text, err, cap)) return false;
  *AGENT_FIELD(const char *, base, row) = text;
  return true;
}

/* --http: an address, or "off". */
static bool agent__http(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  if (strcmp(text, "off") == 0) {
    *AGENT_FIELD(const char *, base, row) = NULL;
    return true;
  }
  if (!agent__pname_ok(text, err, cap)) {
    snprintf(err, cap, "expected host:port (port 1-65535) or off, got '%s'", text);
    return false;
  }
  *AGENT_FIELD(const char *, base, row) = text;
  return true;
}

/* --dc, --rack: what a peer accepts from the wire. */
static bool agent__name(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  if (!vigil_name_valid(text)) {
    snprintf(err, cap, "1 to 47 letters, digits, '.', '_' or '-', got '%s'", text);
    return false;
  }
  *AGENT_FIELD(const char *, base, row) = text;
  return true;
}

/* Resolve host (a name or an IP) to "ip:port" / "[ip6]:port". */
static bool agent__resolve(const char *host, const char *port, char *out, size_t outcap, char *err, size_t cap) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(err, cap, "cannot resolve '%s': %s", host, gai_strerror(rc));
    if (res) freeaddrinfo(res);
    return false;
  }
  char ip[INET6_ADDRSTRLEN];
  if (res->ai_family == AF_INET6) {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr, ip, sizeof ip);
    snprintf(out, outcap, "[%s]:%s", ip, port);
  } else {
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, ip, sizeof ip);
    snprintf(out, outcap, "%s:%s", ip, port);
  }
  freeaddrinfo(res);
  return true;
}

/* One seed: "host:port" or dyn_seeds' "host:port:rack:dc:tokens". Only
 * the address is used: a seed's placement comes from its own heartbeats.
 * The host is resolved now. */
static bool agent__seed(agent_settings *s, const char *e, char *err, size_t cap) {
  char host[VIGIL_PNAME_MAX], port[8];
  const char *rest;
  if (s->cfg.nseeds == AGENT_MAX_SEEDS) {
    snprintf(err, cap, "more than %d seeds", AGENT_MAX_SEEDS);
    return false;
  }
  if (e[0] == '[') {
    const char *close = strchr(e, ']');
    if (!close || close[1] != ':' || (size_t)(close - e - 1) >= sizeof host) {
      snprintf(err, cap, "expected [ipv6]:port, got '%s'", e);
      return false;
    }
    memcpy(host, e + 1, (size_t)(close - e - 1));
    host[close - e - 1] = '\0';
    rest = close + 2;
  } else {
    const char *colon = strchr(e, ':');
    if (!colon || (size_t)(colon - e) >= sizeof host) {
      snprintf(err, cap, "expected host:port or host:port:rack:dc:tokens, got '%s'", e);
      return false;
    }
    memcpy(host, e, (size_t)(colon - e));
    host[colon - e] = '\0';
    rest = colon + 1;
  }
  size_t plen = strcspn(rest, ":");
  int extra = 0;
  for (const char *p = rest + plen; *p; p++) extra += *p == ':';
  if (plen == 0 || plen >= sizeof port || (extra != 0 && extra != 3)) {
    snprintf(err, cap, "expected host:port or host:port:rack:dc:tokens, got '%s'", e);
    return false;
  }
  memcpy(port, rest, plen);
  port[plen] = '\0';
  unsigned long pn;
  if (!config_uint(port, 65535, &pn, err, cap)) {
    snprintf(err, cap, "'%s': the port must be a whole number from 1 to 65535", e);
    return false;
  }
  if (extra == 3) { /* dyn_seeds: rack:dc:tokens; check the tokens at least */
    for (const char *t = strrchr(rest, ':') + 1; *t; t++)
      if ((*t < '0' || *t > '9') && *t != ',') {
        snprintf(err, cap, "bad tokens in dyn_seeds entry '%s'", e);
        return false;
      }
  }
  char *out = s->seeds[s->cfg.nseeds];
  if (!agent__resolve(host, port, out, VIGIL_PNAME_MAX, err, cap) || !agent__pname_ok(out, err, cap)) return false;
  s->seed_ptrs[s->cfg.nseeds++] = out;
  s->cfg.seeds = s->seed_ptrs;
  return true;
}

/* --seeds: entries joined by ',' (or '|', dyn_seeds' separator). */
static bool agent__seeds(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  (void)row;
  agent_settings *s = base;
  char entry[512];
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, ",|");
    if (n >= sizeof entry) {
      snprintf(err, cap, "entry longer than %zu characters", sizeof entry - 1);
      return false;
    }
    memcpy(entry, p, n);
    entry[n] = '\0';
    if (n && !agent__seed(s, entry, err, cap)) return false;
    p += n;
    if (*p) p++;
  }
  return true;
}

static void agent__seeds_clear(void *base, const config_setting *row) {
  (void)row;
  agent_settings *s = base;
  s->cfg.nseeds = 0;
  s->cfg.seeds = NULL;
}

/* --tokens: decimal tokens below 2^128 joined by ','. */
static bool agent__tokens(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  (void)row;
  agent_settings *s = base;
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, ",");
    if (s->cfg.ntokens == VIGIL_FRAME_TOKENS_MAX) {
      snprintf(err, cap, "at most %d tokens", VIGIL_FRAME_TOKENS_MAX);
      return false;
    }
    if (vigil_token_parse(&s->tokens[s->cfg.ntokens], p, len) != 0) {
      snprintf(err, cap, "'%.*s' is not a decimal token below 2^128", (int)(len < 64 ? len : 64), p);
      return false;
    }
    s->cfg.ntokens++;
    s->cfg.tokens = s->tokens;
    p += len;
    if (*p) p++;
  }
  return true;
}

static void agent__tokens_clear(void *base, const config_setting *row) {
  (void)row;
  agent_settings *s = base;
  s->cfg.ntokens = 0;
  s->cfg.tokens = NULL;
}

/* One --tag item, "key=value", checked as peers check what arrives on the
 * wire (tags.c), then merged into the set. */
static bool agent__tag_item(agent_settings *s, const char *item, char *err, size_t cap) {
  char shown[80], next[2 * VIGIL_TAGS_TEXT + 2], merged[VIGIL_TAGS_TEXT];
  const char *eq = strchr(item, '='), *why = NULL;
  size_t klen = eq ? (size_t)(eq - item) : 0, have = 0;
  config__shown(item, shown, sizeof shown);
  if (!eq) {
    snprintf(err, cap, "expected key=value, got '%s'", shown);
    return false;
  }
  if (!vigil_tag_key_valid(item, klen)) {
    snprintf(err, cap,
             "'%s': a tag key is 1 to 32 of a-z, 0-9 and '_', starting with a letter (commands get it as "
             "VIGIL_TAG_<KEY>)",
             shown);
    return false;
  }
  if (!vigil_tag_value_valid(eq + 1, strlen(eq + 1))) {
    snprintf(err, cap,
             "'%s': a tag value is 0 to 63 of A-Z, a-z, 0-9, '.', '_', ':', '@', '+' and '-', not starting with '-' "
             "(it reaches every peer's logs and commands)",
             shown);
    return false;
  }
  char key[VIGIL_TAG_KEY_MAX + 1];
  memcpy(key, item, klen);
  key[klen] = '\0';
  const char *was = vigil_tags_get(s->tags, key, &have);
  if (was) {
    snprintf(err, cap, "tag '%s' given twice ('%s=%.*s', then '%s')", key, key, (int)have, was, shown);
    return false;
  }
  snprintf(next, sizeof next, "%s%s%s", s->tags, s->tags[0] ? "," : "", item);
  if (vigil_tags_parse(next, merged, &why) != VIGIL_OK) {
    snprintf(err, cap, "'%s': %s; tags travel in every frame this agent sends, so a set stays small", shown,
             why ? why : "bad tags");
    return false;
  }
  memcpy(s->tags, merged, sizeof merged);
  s->cfg.tags = s->tags;
  return true;
}

/* --tag: key=value; an item list joined by ',' too (VIGIL_TAGS="role=db,shard=7"),
 * as a value never holds a ','. */
static bool agent__tag(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  (void)row;
  char item[VIGIL_TAG_KEY_MAX + VIGIL_TAG_VALUE_MAX + 2];
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, ",");
    if (n >= sizeof item) {
      char shown[80];
      snprintf(err, cap, "'%s...': longer than a tag can be (a key of 32 bytes, '=', a value of 63)",
               config__shown(p, shown, 48));
      return false;
    }
    memcpy(item, p, n);
    item[n] = '\0';
    if (n && !agent__tag_item(base, item, err, cap)) return false;
    p += n;
    if (*p) p++;
  }
  return true;
}

static void agent__tags_clear(void *base, const config_setting *row) {
  (void)row;
  agent_settings *s = base;
  s->tags[0] = '\0';
  s->cfg.tags = NULL;
}

/* --keyring: loaded now (and again on SIGHUP, by the runtime). */
static bool agent__keyring(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  (void)row;
  agent_settings *s = base;
  if (vigil_keyring_load(&s->keyring, text, err, cap) != VIGIL_OK) return false;
  s->cfg.keyring = &s->keyring;
  s->cfg.keyring_path = text;
  return true;
}

/*
 * --http-token-file: the bearer token that lets clients beyond loopback
 * use the mutating endpoints. One line of 16 to 256 characters that an
 * HTTP header can carry (printable ASCII, no spaces); a trailing newline
 * is fine. The file must not be readable by every user: the token is a
 * password.
 */
static bool agent__http_token(void *base, const config_setting *row, const char *path, char *err, size_t cap) {
  (void)row;
  agent_settings *s = base;
  char buf[sizeof s->http_token + 3];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, cap, "cannot read '%s': %s", path, strerror(errno));
    return false;
  }
  struct stat sb;
  memset(&sb, 0, sizeof sb); /* fstat failing reads as "not a regular file" */
  ssize_t n = -1;
  int read_errno = 0;
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && !(sb.st_mode & (S_IROTH | S_IWOTH))) {
    n = read(fd, buf, sizeof buf);
    read_errno = errno;
  }
  close(fd);
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, cap, "'%s' is not a regular file", path);
    return false;
  }
  if (sb.st_mode & (S_IROTH | S_IWOTH)) {
    snprintf(err, cap, "'%s' is open to every user (mode %03o): the token is a password; chmod 600 it", path,
             (unsigned)(sb.st_mode & 0777));
    return false;
  }
  if (n < 0) {
    snprintf(err, cap, "cannot read '%s': %s", path, strerror(read_errno));
    return false;
  }
  size_t len = (size_t)n;
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
  if (len == 0) {
    snprintf(err, cap, "'%s' is empty; make a token with head -c 32 /dev/urandom | base64 > %s", path, path);
    return false;
  }
  if (len >= sizeof s->http_token) {
    snprintf(err, cap, "'%s': the token is longer than 256 characters", path);
    return false;
  }
  for (size_t i = 0; i < len; i++)
    if (buf[i] < 0x21 || buf[i] > 0x7e) {
      snprintf(err, cap,
               "'%s': byte %zu is a space, a control character or not ASCII; the file holds one token on one line",
               path, i + 1);
      return false;
    }
  if (len < 16) {
    snprintf(err, cap, "'%s': the token has %zu characters, at least 16 needed (head -c 32 /dev/urandom | base64)",
             path, len);
    return false;
  }
  memcpy(s->http_token, buf, len);
  s->http_token[len] = '\0';
  s->cfg.http_token = s->http_token;
  return true;
}

static bool agent__switch(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  bool on = strcmp(text, "true") == 0 || strcmp(text, "1") == 0;
  if (!on && strcmp(text, "false") != 0 && strcmp(text, "0") != 0) {
    snprintf(err, cap, "expected true or false, got '%s'", text);
    return false;
  }
  *AGENT_FIELD(bool, base, row) = on;
  return true;
}

static bool agent__log_level(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  int l = vigil_log_level_parse(text);
  if (l < 0) {
    snprintf(err, cap, "expected debug, info, warn or error, got '%s'", text);
    return false;
  }
  *AGENT_FIELD(vigil_log_level, base, row) = (vigil_log_level)l;
  return true;
}

static bool agent__duration(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  return config_duration(text, AGENT_FIELD(vigil_time, base, row), err, cap);
}

static bool agent__interval(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  vigil_time t;
  if (!config_duration(text, &t, err, cap)) return false;
  if (t < VIGIL_MS) {
    snprintf(err, cap, "at least 1ms, got '%s'", text);
    return false;
  }
  *AGENT_FIELD(vigil_time, base, row) = t;
  return true;
}

static bool agent__max_peers(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  unsigned long x;
  if (!config_uint(text, row->max, &x, err, cap)) return false;
  if (x == 1) {
    snprintf(err, cap, "counts this agent too: at least 2 (or 0 = no bound)");
    return false;
  }
  *AGENT_FIELD(uint32_t, base, row) = (uint32_t)x;
  return true;
}

/* --metrics-per-peer: auto, on or off (vigil_peer_metrics). */
static bool agent__peer_metrics(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  static const char *const names[] = {"auto", "on", "off"};
  for (int i = 0; i < 3; i++)
    if (strcmp(text, names[i]) == 0) {
      *AGENT_FIELD(vigil_peer_metrics, base, row) = (vigil_peer_metrics)i;
      return true;
    }
  snprintf(err, cap, "expected auto, on or off, got '%s'", text);
  return false;
}

static bool agent__mib(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  unsigned long x;
  if (!config_uint(text, row->max, &x, err, cap)) return false;
  *AGENT_FIELD(size_t, base, row) = (size_t)x << 20;
  return true;
}

static bool agent__threshold(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  char *end;
  double x = strtod(text, &end);
  if (end == text || *end || !(x > 0) || x > 1e6 || isspace((unsigned char)text[0])) {
    snprintf(err, cap, "expected a number > 0, got '%s'", text);
    return false;
  }
  *AGENT_FIELD(double, base, row) = x;
  return true;
}

static bool agent__policy(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  if (access(text, R_OK) != 0) {
    snprintf(err, cap, "cannot read policy file '%s': %s", text, strerror(errno));
    return false;
  }
  *AGENT_FIELD(const char *, base, row) = text;
  return true;
}

/* --config itself: read by the engine before everything else. */
static bool agent__config(void *base, const config_setting *row, const char *text, char *err, size_t cap) {
  (void)base, (void)row, (void)text, (void)err, (void)cap;
  return true;
}

#define DURATION_WANT "a duration string like \"200ms\", \"2s\" or \"1.5m\""
#define CFG(field)    offsetof(agent_settings, cfg.field)

/*
 * Every setting of `vigil agent`. To add one, add a row: flag, arg (what
 * --help calls its value), key, env, the JSON type, flags (CONFIG_LIST for
 * values that add up: give a clear function too; CONFIG_PATH for files),
 * the default as shown, the help, the parser and the field it writes (an
 * offsetof into agent_settings). The flag, the config key, the variable,
 * the precedence, --help and its errors come with the row. Then add the
 * row to docs/AGENT.md's Configuration table (spec/config_spec.lua fails
 * until it is there). A repeatable --tag k=v with an object in the file
 * would be:
 *   {"--tag", "k=v", "tags", "VIGIL_TAGS", CONFIG_OBJECT, NULL, CONFIG_LIST, NULL, "...",
 *    agent__tag, agent__tags_clear, offsetof(agent_settings, tags)}
 * where agent__tag parses "k=v" items (an env value "a=1,b=2" splits at
 * commas in the parser, as --seeds does).
 */
static const config_setting agent_rows[] = {
    {.flag = "--config",
     .arg = "file",
     .env = "VIGIL_CONFIG",
     .flags = CONFIG_IS_FILE,
     .help = "a JSON file of settings, keyed like the flags ({\"listen\": \"10.0.0.1:7946\", \"seeds\": [...]}); "
             "relative paths in it are relative to its directory",
     .parse = agent__config},
    {.flag = "--policy",
     .arg = "file",
     .key = "policy",
     .env = "VIGIL_POLICY",
     .flags = CONFIG_PATH | CONFIG_POSITIONAL,
     .help = "the policy (agent.lua) the agent runs; also given as the command's argument",
     .parse = agent__policy,
     .target = CFG(policy)},
    {.flag = "--listen",
     .arg = "host:port",
     .key = "listen",
     .env = "VIGIL_LISTEN",
     .def = "127.0.0.1:7946",
     .help = "UDP address for gossip",
     .parse = agent__pname,
     .target = CFG(listen)},
    {.flag = "--advertise",
     .arg = "host:port",
     .key = "advertise",
     .env = "VIGIL_ADVERTISE",
     .def = "the listen address",
     .help = "the address peers reach this agent at (an IP literal: it is the agent's name); required when "
             "listening on 0.0.0.0 or [::]",
     .parse = agent__pname,
     .target = CFG(advertise)},
    {.flag = "--seeds",
     .arg = "a,b,...",
     .key = "seeds",
     .env = "VIGIL_SEEDS",
     .flags = CONFIG_LIST,
     .help = "agents to contact until they are known: host:port entries, or Dynomite dyn_seeds "
             "host:port:rack:dc:tokens joined by '|'; hostnames are resolved once, at start",
     .parse = agent__seeds,
     .clear = agent__seeds_clear},
    {.flag = "--dc",
     .arg = "name",
     .key = "dc",
     .env = "VIGIL_DC",
     .def = "default",
     .help = "this agent's datacenter: 1 to 47 letters, digits, '.', '_' or '-'",
     .parse = agent__name,
     .target = CFG(dc)},
    {.flag = "--rack",
     .arg = "name",
     .key = "rack",
     .env = "VIGIL_RACK",
     .def = "default",
     .help = "this agent's rack: 1 to 47 letters, digits, '.', '_' or '-'",
     .parse = agent__name,
     .target = CFG(rack)},
    {.flag = "--tokens",
     .arg = "t1,t2",
     .key = "tokens",
     .env = "VIGIL_TOKENS",
     .flags = CONFIG_LIST,
     .help = "this agent's ring tokens (decimal, < 2^128, at most 64; strings in the file)",
     .parse = agent__tokens,
     .clear = agent__tokens_clear},
    {.flag = "--tag",
     .arg = "key=value",
     .key = "tags",
     .env = "VIGIL_TAGS",
     .json = CONFIG_OBJECT,
     .flags = CONFIG_LIST,
     .help = "a tag of this agent (role=db), repeatable; VIGIL_TAGS=role=db,shard=7; an object in the file. "
             "Peers see it in vigil members, policies select peers by it and commands get VIGIL_TAG_ROLE. Keys "
             "1-32 of a-z 0-9 _ (a letter first), values 0-63 of A-Z a-z 0-9 . _ : @ + - (no '-' first); at most "
             "16 tags, 255 bytes as k=v,k2=v2",
     .parse = agent__tag,
     .clear = agent__tags_clear},
    {.flag = "--http",
     .arg = "host:port",
     .key = "http",
     .env = "VIGIL_HTTP",
     .def = "127.0.0.1:7947",
     .help = "HTTP for /metrics, /v1/members, /health; \"off\" disables it",
     .parse = agent__http,
     .target = CFG(http)},
    {.flag = "--http-token-file",
     .arg = "file",
     .key = "http_token_file",
     .env = "VIGIL_HTTP_TOKEN_FILE",
     .flags = CONFIG_PATH,
     .help = "the bearer token (one line, 16-256 characters, file not readable by every user) clients beyond "
             "loopback must send to POST /v1/reload; without it, only loopback clients may",
     .parse = agent__http_token},
    {.flag = "--keyring",
     .arg = "file",
     .key = "keyring",
     .env = "VIGIL_KEYRING",
     .flags = CONFIG_PATH,
     .help = "authenticate gossip with the keys in file (base64, one per line; the first signs, all verify); "
             "required to listen on anything but loopback, unless --insecure",
     .parse = agent__keyring},
    {.flag = "--insecure",
     .key = "insecure",
     .env = "VIGIL_INSECURE",
     .json = CONFIG_BOOL,
     .flags = CONFIG_SWITCH,
     .def = "false",
     .help = "listen beyond loopback without a keyring (anyone who can reach the port can forge gossip)",
     .parse = agent__switch,
     .target = offsetof(agent_settings, insecure)},
    {.flag = "--log-level",
     .arg = "level",
     .key = "log_level",
     .env = "VIGIL_LOG_LEVEL",
     .def = "info",
     .help = "debug, info, warn or error",
     .parse = agent__log_level,
     .target = CFG(log_level)},
    {.flag = "--interval",
     .arg = "duration",
     .key = "interval",
     .env = "VIGIL_INTERVAL",
     .want = DURATION_WANT,
     .def = "200ms",
     .help = "gossip interval; the detector ticks twice per interval",
     .parse = agent__interval,
     .target = CFG(interval)},
    {.flag = "--reap",
     .arg = "duration",
     .key = "reap",
     .env = "VIGIL_REAP",
     .want = DURATION_WANT,
     .def = "60s",
     .help = "forget peers down this long; 0 = never",
     .parse = agent__duration,
     .target = CFG(reap_after)},
    {.flag = "--max-peers",
     .arg = "n",
     .key = "max_peers",
     .env = "VIGIL_MAX_PEERS",
     .json = CONFIG_INTEGER,
     .def = "16384",
     .help = "the most peers this agent keeps, itself included; joins past it are dropped and counted; "
             "0 = no bound",
     .parse = agent__max_peers,
     .target = CFG(max_peers),
     .max = 1u << 24},
    {.flag = "--metrics-per-peer",
     .arg = "mode",
     .key = "metrics_per_peer",
     .env = "VIGIL_METRICS_PER_PEER",
     .def = "auto",
     .help = "the per-peer families of /metrics (vigil_peer_*: a series per member, N * N across a cluster): "
             "auto renders them up to 64 members, on always, off never",
     .parse = agent__peer_metrics,
     .target = CFG(metrics_per_peer)},
    {.flag = "--max-clock-skew",
     .arg = "duration",
     .key = "max_clock_skew",
     .env = "VIGIL_MAX_CLOCK_SKEW",
     .want = DURATION_WANT,
     .def = "10s",
     .help = "frames sent further than this from our clock are rejected, and generations ahead of it; "
             "must be shorter than --reap; 0 = no clock checks",
     .parse = agent__duration,
     .target = CFG(max_skew)},
    {.flag = "--policy-memory",
     .arg = "MiB",
     .key = "policy_memory",
     .env = "VIGIL_POLICY_MEMORY",
     .json = CONFIG_INTEGER,
     .def = "64",
     .help = "memory the policy may hold; a handler past it fails; 0 = no limit",
     .parse = agent__mib,
     .target = offsetof(agent_settings, policy_memory),
     .max = 65536},
    {.flag = "--threshold",
     .arg = "phi",
     .key = "threshold",
     .env = "VIGIL_THRESHOLD",
     .json = CONFIG_NUMBER,
     .def = "8",
     .help = "conviction threshold; a policy's vigil.configure may override it while it is loaded "
             "(docs/POLICIES.md)",
     .parse = agent__threshold,
     .target = CFG(detector.threshold)},
    {.flag = "--fanout",
     .arg = "n",
     .key = "fanout",
     .env = "VIGIL_FANOUT",
     .json = CONFIG_INTEGER,
     .removed = "removed in protocol 2; an agent talks to its observers and subjects only, whatever the cluster "
                "size (docs/PROTOCOL.md, \"Observers\")"},
};

#define AGENT_ROWS (sizeof agent_rows / sizeof agent_rows[0])
_Static_assert(AGENT_ROWS <= CONFIG_ROWS_MAX, "more settings than config_state tracks: raise CONFIG_ROWS_MAX");

const config_setting *agent_settings_table(size_t *n) {
  *n = AGENT_ROWS;
  return agent_rows;
}

const char *agent_settings_origin(const agent_settings *s, const char *key, char *buf, size_t cap) {
  return config_origin(&s->st, config_row(&s->st, key), buf, cap);
}

/* "flags=listen,threshold env=seeds file=dc,rack": which keys came from
 * where, for the start-up log (keys are the table's own names: no quoting). */
static void agent__sources(agent_settings *s) {
  static const struct {
    config_source src;
    const char *name;
  } groups[] = {{CONFIG_FLAG, "flags"}, {CONFIG_ENV, "env"}, {CONFIG_FILE, "file"}};
  char *out = s->sources;
  size_t cap = sizeof s->sources, len = 0;
  out[0] = '\0';
  for (size_t g = 0; g < 3; g++) {
    char keys[sizeof s->sources] = "";
    size_t k = 0;
    for (size_t r = 0; r < s->st.nrows; r++) {
      if (s->st.source[r] != groups[g].src || !s->st.rows[r].key) continue;
      int n = snprintf(keys + k, sizeof keys - k, "%s%s", k ? "," : "", s->st.rows[r].key);
      if (n > 0 && (size_t)n < sizeof keys - k) k += (size_t)n;
    }
    if (!k) continue;
    int n = snprintf(out + len, cap - len, "%s%s=%s", len ? " " : "", groups[g].name, keys);
    if (n > 0 && (size_t)n < cap - len) len += (size_t)n;
  }
}

int agent_settings_load(agent_settings *s, int argc, char **argv, char **envp) {
  memset(s, 0, offsetof(agent_settings, st));
  vigil_agent_config_init(&s->cfg);
  s->policy_memory = VIGIL_POLICY_MEMORY;
  config_init(&s->st, agent_rows, AGENT_ROWS, s, "agent");
  int rc = config_load(&s->st, argc, argv, envp);
  if (rc != CONFIG_OK) return rc;
  config_state *st = &s->st;
  char w1[CONFIG_PATH_MAX + 64], w2[CONFIG_PATH_MAX + 64];
  /* Gossip that other machines can reach, unauthenticated, lets anyone who
   * can send it a datagram forge heartbeats, alerts and leaves: refuse,
   * unless told so in as many words. */
  if (!s->cfg.keyring && !s->insecure && s->cfg.listen && !agent__loopback(s->cfg.listen))
    return config__fail(st,
                        "%s %s without --keyring: anyone who can reach that port could forge heartbeats, alerts "
                        "and leaves. Make a key (head -c 32 /dev/urandom | base64 > /etc/vigil/keyring, mode 600), "
                        "copy it to every agent and add --keyring /etc/vigil/keyring (or \"keyring\" in the config "
                        "file, or VIGIL_KEYRING); or add --insecure to run without",
                        config__where(st, config_row(st, "listen"), w1, sizeof w1), s->cfg.listen);
  if (s->cfg.max_skew && s->cfg.reap_after && s->cfg.max_skew >= s->cfg.reap_after)
    return config__fail(st,
                        "%s (%.3gs) must be shorter than %s (%.3gs): a captured frame must be too old to count "
                        "before the peer it names is forgotten",
                        config__where(st, config_row(st, "max_clock_skew"), w1, sizeof w1),
                        (double)s->cfg.max_skew / 1e9, config__where(st, config_row(st, "reap"), w2, sizeof w2),
                        (double)s->cfg.reap_after / 1e9);
  /* The tick evaluates twice per interval, so a conviction is never more
   * than half an interval late. */
  s->cfg.tick = s->cfg.interval / 2 ? s->cfg.interval / 2 : s->cfg.interval;
  agent__sources(s);
  s->cfg.config_file = st->file[0] ? st->file : NULL;
  s->cfg.settings_from = s->sources;
  return CONFIG_OK;
}

void agent_settings_usage(agent_settings *s, FILE *out) {
  config_init(&s->st, agent_rows, AGENT_ROWS, s, "agent");
  fputs("usage: vigil agent [agent.lua] [flags]\n"
        "\n"
        "Run an agent until SIGINT or SIGTERM; then it tells its peers it is leaving.\n"
        "\n"
        "Every setting is a flag, a key of the JSON file --config names, and a VIGIL_*\n"
        "environment variable. Flags win over the environment, the environment over the\n"
        "file, the file over the defaults. A policy's vigil.configure may override threshold\n"
        "and interval while it is loaded; a reload without it restores these values.\n"
        "\n"
        "settings:\n",
        out);
  config_usage(&s->st, out);
  fputs("\nDurations are numbers with a unit: 150ms, 2s, 1.5m. docs/AGENT.md, \"Configuration\".\n", out);
}
