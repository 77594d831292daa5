/*
 * log.c - the agent's logs: one logfmt line per record on stderr.
 *
 * Owns: the log level (the process's one piece of mutable global state
 * outside the agent: both threads log) and the line format -- ts, level,
 * msg, then key=value fields.
 *
 * Must never: write a line in pieces (one fwrite per line, so the core and
 * script threads never interleave inside a line) or grow a line without
 * bound (1 KiB, cut).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime.h"

static vigil_log_level log__level = VIGIL_LOG_INFO;

int vigil_log_level_parse(const char *name) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

void vigil_log_set_level(vigil_log_level lvl) { log__level = lvl; }

bool vigil__log_enabled(vigil_log_level lvl) { return lvl >= log__level; }

void vigil__logf(vigil_log_level lvl, const char *msg, const char *fmt, ...) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  if (lvl < log__level) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char line[1024];
  int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], msg);
  if (fmt && *fmt && n > 0 && (size_t)n < sizeof line - 2) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (k > 0) n += k;
  }
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  fwrite(line, 1, (size_t)n, stderr);
}

void vigil_log(vigil_log_level lvl, const char *msg, const char *fields) {
  if (fields && *fields)
    vigil__logf(lvl, msg, "%s", fields);
  else
    vigil__logf(lvl, msg, NULL);
}

/* The handler put the deciding phi and the cause in up and down events. */
void vigil__log_event(const vigil_event *e) {
  switch (e->type) {
  case VIGIL_EVENT_PEER_UP:
  case VIGIL_EVENT_PEER_DOWN:
    vigil__logf(e->type == VIGIL_EVENT_PEER_DOWN ? VIGIL_LOG_WARN : VIGIL_LOG_INFO,
                e->type == VIGIL_EVENT_PEER_DOWN ? "peer down" : "peer up",
                "peer=%s dc=%s rack=%s from=%s to=%s phi=%.3f cause=%s", e->peer, e->dc, e->rack,
                vigil_state_name(e->previous), vigil_state_name(e->state), e->phi, vigil_cause_name(e->cause));
    break;
  case VIGIL_EVENT_PEER_JOINED:
    vigil__logf(VIGIL_LOG_INFO, "peer joined", "peer=%s dc=%s rack=%s", e->peer, e->dc, e->rack);
    break;
  case VIGIL_EVENT_PEER_LEFT:
    vigil__logf(VIGIL_LOG_INFO, "peer left", "peer=%s dc=%s rack=%s", e->peer, e->dc, e->rack);
    break;
  case VIGIL_EVENT_PEER_RESTARTED:
    vigil__logf(VIGIL_LOG_INFO, "peer restarted", "peer=%s dc=%s rack=%s", e->peer, e->dc, e->rack);
    break;
  case VIGIL_EVENT_LAGGED:
    vigil__logf(VIGIL_LOG_WARN, "event log lagged", "missed=%llu", (unsigned long long)e->missed);
    break;
  default: break;
  }
}
