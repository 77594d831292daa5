/*
 * cmd.h - what the `vigil` command's files share (main.c, sim.c): flag
 * parsing helpers whose errors name the flag and exit with status 2.
 */
#ifndef VIGIL_CMD_H
#define VIGIL_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "vigil.h"

typedef struct args {
  int argc, i;
  char **argv;
  const char *cmd;
} args;

/* Print "vigil CMD: message" on stderr and exit with `code`. */
void die(int code, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

/* Whether arg is --name or --name=value (then *inline_value points at it). */
bool is_flag(const char *arg, const char *name, const char **inline_value);

/* The value of a flag: inline_value, or the next argument (or die). */
const char *flag_value(args *a, const char *flag, const char *inline_value);

/* 150ms, 2s, 1.5m; "0" is 0. Dies naming the flag on anything else. */
vigil_time parse_duration(const char *cmd, const char *flag, const char *v);

/* A whole number 0..max. Dies naming the flag on anything else. */
unsigned long parse_uint(const char *cmd, const char *flag, const char *v, unsigned long max);

/* The agent's HTTP API, for the commands (client.c). A connection to
 * `http` (host:port) with sends bounded by timeout_s seconds (0: 5 s) and
 * reads by timeout_s (0: none, for a stream); -1 with errno set when
 * nothing answers there. */
int vigil_http_connect(const char *cmd, const char *http, int timeout_s);
/* Die saying no agent answers at http (errno says why). */
void vigil_http_unreachable(const char *cmd, const char *http) __attribute__((noreturn));
/* Send one request without a body; token "" or NULL = none. Dies when it cannot. */
void vigil_http_send(const char *cmd, const char *http, const char *token, int fd, const char *method,
                     const char *target);
/* The status of an answer whose head is in `head`; 0 when it is not HTTP. */
int vigil_http_status(const char *head);
/* One request; its status, and the body (malloc'd, NUL-terminated, at most
 * 4 MiB) in *body. Dies when no agent answers or the answer is not HTTP. */
int vigil_http_call(const char *cmd, const char *http, const char *token, const char *method, const char *target,
                    char **body);
/* The bearer token of --http-token-file `path` (its first line, 1 to 256
 * printable characters without spaces, as the agent takes it) into out
 * (cap bytes). Dies naming the flag when the file does not hold one. */
void vigil_http_token_file(const char *cmd, const char *path, char *out, size_t cap);
/* `"key":"value"`'s value from a JSON answer of the agent's, before `end`
 * (NULL: anywhere), as escaped there (control bytes as '?'), \" and \\
 * undone: into out (cap bytes), or printed to f. false when absent. */
bool vigil_json_str(const char *doc, const char *end, const char *key, char *out, size_t cap);
bool vigil_json_print_str(FILE *f, const char *doc, const char *end, const char *key);

/* `vigil sim` (sim.c). */
int vigil_cmd_sim(args *a);

/* `vigil join`, `leave`, `force-leave`, `monitor`, `info` (verbs.c). */
int vigil_cmd_join(args *a);
int vigil_cmd_leave(args *a);
int vigil_cmd_force_leave(args *a);
int vigil_cmd_monitor(args *a);
int vigil_cmd_info(args *a);

/* `vigil keygen` and `vigil keys` (keys.c). */
int vigil_cmd_keygen(args *a);
int vigil_cmd_keys(args *a);

/* `vigil help [topic]`, `vigil help --man` (help.c). */
int vigil_cmd_help(args *a);

#endif
