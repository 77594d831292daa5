/*
 * config.h - the agent's settings (config.c): one table of settings, each
 * readable from a flag, a VIGIL_* environment variable and a key of a JSON
 * config file, with one order of precedence: flags > environment > file >
 * defaults.
 *
 * The engine (config_load) knows nothing of the agent: it walks a table of
 * config_setting rows and calls each row's parser. The agent's table and
 * its cross-checks are agent_settings_*; `vigil agent --help` and the
 * Configuration table of docs/AGENT.md are both drawn from that table
 * (spec/config_spec.lua holds them together).
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vigil_runtime.h"

/* Where a setting's value came from, lowest precedence first. */
typedef enum config_source { CONFIG_DEFAULT = 0, CONFIG_FILE, CONFIG_ENV, CONFIG_FLAG } config_source;

/* The JSON a config file must give a setting. CONFIG_OBJECT is for lists of
 * k=v items ({"k": "v", ...}); any list also takes a string or an array of
 * strings. */
typedef enum config_json { CONFIG_STRING = 0, CONFIG_NUMBER, CONFIG_INTEGER, CONFIG_BOOL, CONFIG_OBJECT } config_json;

/* What a row is, beyond a plain single value. */
#define CONFIG_LIST       1u /* items: a repeated flag adds its items; a source of higher precedence replaces them all */
#define CONFIG_PATH       2u  /* a file: relative in the config file means relative to the file's directory */
#define CONFIG_SWITCH     4u  /* a flag without a value (--insecure); --insecure=false also works */
#define CONFIG_POSITIONAL 8u  /* also the command's one argument that is not a flag (the policy) */
#define CONFIG_IS_FILE    16u /* this row names the config file itself (--config, VIGIL_CONFIG) */

typedef struct config_setting config_setting;

/* Parse one value (a flag's value, a variable, a JSON value as text; for a
 * list, one value of the list) into the struct at base. true, or false
 * with what was expected in err ("expected a duration like 200ms, 2s or
 * 1.5m, got 'fast'"): the engine adds where the value came from. The text
 * stays valid as long as the config_state: keep pointers to it. */
typedef bool (*config_parse_fn)(void *base, const config_setting *row, const char *text, char *err, size_t cap);

/* One setting. To add one, add a row to the agent's table (config.c); the
 * flag, the key, the variable, --help and the precedence come with it. */
struct config_setting {
  const char *flag; /* "--max-peers" */
  const char *arg;  /* what the flag takes, for --help ("n"); NULL for a switch */
  const char *key;  /* config file key ("max_peers"); NULL: cannot be set in a file */
  const char *env;  /* environment variable ("VIGIL_MAX_PEERS") */
  config_json json; /* the JSON type the file must give */
  const char *want; /* how a wrong JSON type is explained; NULL: from json and arg */
  unsigned flags;   /* CONFIG_LIST, CONFIG_PATH, ... */
  const char *def;  /* the default as --help and docs/AGENT.md show it; NULL: none */
  const char *help; /* what it does, one or two sentences for --help */
  config_parse_fn parse;
  void (*clear)(void *base, const config_setting *row); /* lists: empty it */
  size_t target;       /* offsetof the field the parser writes, in the struct at base */
  unsigned long max;   /* numbers: the largest value accepted */
  const char *removed; /* a setting that existed once: why it is refused (hidden from --help) */
};

#define CONFIG_ROWS_MAX 64
#define CONFIG_ARGS_MAX 256         /* flags on one command line */
#define CONFIG_ARENA    (64 * 1024) /* copies of every value read */
#define CONFIG_FILE_MAX (1 << 20)   /* a config file is a few lines: 1 MiB is plenty */
#define CONFIG_PATH_MAX 4096

enum { CONFIG_OK = 0, CONFIG_HELP = 1, CONFIG_ERROR = 2 };

/* One reading of the settings: the table, the struct the parsers write
 * into, where each value came from, and the text they point at. */
typedef struct config_state {
  const config_setting *rows;
  size_t nrows;
  void *base;                            /* what the parsers write into */
  const char *cmd;                       /* "agent": for "see vigil agent --help" */
  config_source source[CONFIG_ROWS_MAX]; /* where each row's value came from */
  char file[CONFIG_PATH_MAX];            /* the config file read ("" = none) */
  char dir[CONFIG_PATH_MAX];             /* its directory, with a trailing '/' ("" = the working one) */
  char err[2048];                        /* why config_load failed */
  size_t used;                           /* of arena */
  char arena[CONFIG_ARENA];              /* every value, copied (JSON text is freed after reading) */
} config_state;

/* Prepare st to read `rows` into base. */
void config_init(config_state *st, const config_setting *rows, size_t nrows, void *base, const char *cmd);

/*
 * Read the settings: the flags in argv (argc of them: the arguments after
 * the command), the environment envp ("NAME=value" strings, NULL-terminated;
 * empty variables count as unset), and the JSON file named by the
 * CONFIG_IS_FILE row's flag or variable. Precedence: flags > environment >
 * file > what base held before (the defaults); a list given by a source
 * replaces the list of a source below it. Every value given is checked,
 * including those a higher source overrides. Returns CONFIG_OK,
 * CONFIG_HELP (--help or -h was given) or CONFIG_ERROR with st->err naming
 * the flag, the variable, or the file and the key.
 */
int config_load(config_state *st, int argc, char **argv, char **envp);

/* The row whose key (config file name) is key, or -1. */
int config_row(const config_state *st, const char *key);

/* Where row r's value came from, as an operator would recognise it:
 * "--threshold", "VIGIL_THRESHOLD", "/etc/vigil/vigil.json: threshold";
 * NULL for a default. buf holds the text when it needs room. */
const char *config_origin(const config_state *st, int r, char *buf, size_t cap);

/* --help's list of the settings, drawn from the table: for each row its
 * flag, what it does, then "default: D; key: K; env: E". */
void config_usage(const config_state *st, FILE *out);

/* Parsers that more than the agent use (sim.c): true, or false with the
 * reason in err. "0" is a duration of 0. */
bool config_duration(const char *text, vigil_time *out, char *err, size_t cap);
bool config_uint(const char *text, unsigned long max, unsigned long *out, char *err, size_t cap);

/* ---- the agent's settings ------------------------------------------------ */

#define AGENT_MAX_SEEDS 256

typedef struct agent_settings {
  vigil_agent_config cfg; /* what vigil_agent_run is given */
  bool insecure;          /* listen beyond loopback without a keyring */
  size_t policy_memory;   /* bytes the policy VM may hold; 0 = no limit */
  /* What cfg points into. */
  char seeds[AGENT_MAX_SEEDS][VIGIL_PNAME_MAX];
  const char *seed_ptrs[AGENT_MAX_SEEDS];
  vigil_token tokens[VIGIL_FRAME_TOKENS_MAX];
  char tags[VIGIL_TAGS_TEXT]; /* --tag, canonical ("k=v,k2=v2", keys sorted) */
  vigil_keyring keyring;
  char http_token[257];
  char sources[512]; /* "flags=listen,threshold env=seeds file=dc" for the start-up log */
  config_state st;
} agent_settings;

/* Read the agent's settings (argv: the arguments after `vigil agent`) and
 * check them together (a keyring beyond loopback, --max-clock-skew under
 * --reap). CONFIG_OK, CONFIG_HELP or CONFIG_ERROR with s->st.err. */
int agent_settings_load(agent_settings *s, int argc, char **argv, char **envp);

/* `vigil agent --help`. */
void agent_settings_usage(agent_settings *s, FILE *out);

/* The agent's table of settings, *n rows (for `vigil help`, which lists
 * them too; rows with `removed` set are refused settings: skip them). */
const config_setting *agent_settings_table(size_t *n);

/* Where the setting with config key `key` came from (config_origin); NULL
 * for a default. */
const char *agent_settings_origin(const agent_settings *s, const char *key, char *buf, size_t cap);

#endif
