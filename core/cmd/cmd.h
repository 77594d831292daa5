/*
 * cmd.h - what the `vigil` command's files share (main.c, sim.c): flag
 * parsing helpers whose errors name the flag and exit with status 2.
 */
#ifndef VIGIL_CMD_H
#define VIGIL_CMD_H

#include <stdbool.h>

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

/* `vigil sim` (sim.c). */
int vigil_cmd_sim(args *a);

#endif
