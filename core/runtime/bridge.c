/*
 * bridge.c - what the core thread and the script thread share.
 *
 * Owns: the bounded event queue (core -> script), the command queue
 * (script -> core), the latest published snapshot of the peers, the
 * reload/stop requests and the policy's status. One mutex guards them all;
 * every critical section is a bounded copy (one event, one command, one
 * pointer swap, one status struct), so neither thread ever waits for the
 * other's work -- the core never waits on Lua.
 *
 * Must never: block the core. When the event queue is full the oldest
 * event is dropped and counted; the script thread is told with one
 * `lagged {missed}` event before the next event it takes. Order is
 * publish order, so per peer it is preserved.
 *
 * Snapshots are immutable once published and reference counted (under
 * the mutex): the script thread reads one while the core builds the next,
 * and whichever thread drops the last reference frees it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

/* Policy commands waiting for the core: rare (a configure per load, a mark_down
 * per decision) and not small (a configure carries two 64-entry override
 * tables, ~7.5 KiB), so few: 64 is ~480 KiB when every slot has been used. */
#define COMMANDS_MAX 64

struct vigil_bridge {
  pthread_mutex_t mu;
  vigil_event *events; /* ring: [head, head + count) */
  uint32_t capacity, head, count;
  uint64_t missed; /* dropped since the script thread last took events */
  vigil_command *commands;
  uint32_t chead, ccount;
  vigil_snapshot *current; /* refs_ counts the bridge's own reference too */
  bool reload, stop;
  vigil_policy_status status;
  vigil_wake_fn wake_script, wake_core;
  void *script_ud, *core_ud;
};

static const char *const kind_names[VIGIL_POLICY_KINDS] = {
    "peer_up",    "peer_down", "peer_joined", "peer_left", "peer_restarted",
    "transition", "lagged",    "timer",       "exec",      "load",
};

const char *vigil_policy_kind_name(int kind) {
  return kind >= 0 && kind < VIGIL_POLICY_KINDS ? kind_names[kind] : "invalid";
}

vigil_bridge *vigil_bridge_new(uint32_t capacity, vigil_wake_fn wake_script, void *script_ud, vigil_wake_fn wake_core,
                               void *core_ud) {
  vigil_bridge *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->capacity = capacity ? capacity : 1024;
  b->events = calloc(b->capacity, sizeof *b->events);
  b->commands = calloc(COMMANDS_MAX, sizeof *b->commands);
  if (!b->events || !b->commands || pthread_mutex_init(&b->mu, NULL) != 0) {
    free(b->events);
    free(b->commands);
    free(b);
    return NULL;
  }
  b->wake_script = wake_script;
  b->script_ud = script_ud;
  b->wake_core = wake_core;
  b->core_ud = core_ud;
  return b;
}

/* Drop one reference (under the mutex). */
static void snap_unref(vigil_snapshot *s) {
  if (s && --s->refs_ == 0) free(s);
}

void vigil_bridge_free(vigil_bridge *b) {
  if (!b) return;
  snap_unref(b->current);
  pthread_mutex_destroy(&b->mu);
  free(b->events);
  free(b->commands);
  free(b);
}

void vigil_bridge_set_script_wake(vigil_bridge *b, vigil_wake_fn wake_script, void *script_ud) {
  pthread_mutex_lock(&b->mu);
  b->wake_script = wake_script;
  b->script_ud = script_ud;
  pthread_mutex_unlock(&b->mu);
}

/* Wake the script thread (the callback is read under the mutex: the host
 * may set it after the bridge was created). */
static void bridge__wake_script(vigil_bridge *b) {
  pthread_mutex_lock(&b->mu);
  vigil_wake_fn fn = b->wake_script;
  void *ud = b->script_ud;
  pthread_mutex_unlock(&b->mu);
  if (fn) fn(ud);
}

/* ---- core thread ---------------------------------------------------------- */

void vigil_bridge_push_event(vigil_bridge *b, const vigil_event *e) {
  pthread_mutex_lock(&b->mu);
  if (b->count == b->capacity) { /* full: the oldest goes */
    b->head = (b->head + 1) % b->capacity;
    b->count--;
    b->missed++;
    b->status.lagged++;
  }
  b->events[(b->head + b->count) % b->capacity] = *e;
  b->count++;
  pthread_mutex_unlock(&b->mu);
  bridge__wake_script(b);
}

void vigil_bridge_publish(vigil_bridge *b, vigil_snapshot *s) {
  s->refs_ = 1;
  pthread_mutex_lock(&b->mu);
  vigil_snapshot *old = b->current;
  b->current = s;
  snap_unref(old);
  pthread_mutex_unlock(&b->mu);
}

bool vigil_bridge_take_command(vigil_bridge *b, vigil_command *out) {
  pthread_mutex_lock(&b->mu);
  bool got = b->ccount > 0;
  if (got) {
    *out = b->commands[b->chead];
    b->chead = (b->chead + 1) % COMMANDS_MAX;
    b->ccount--;
  }
  pthread_mutex_unlock(&b->mu);
  return got;
}

void vigil_bridge_request(vigil_bridge *b, bool reload, bool stop) {
  pthread_mutex_lock(&b->mu);
  b->reload |= reload;
  b->stop |= stop;
  pthread_mutex_unlock(&b->mu);
  bridge__wake_script(b);
}

void vigil_bridge_status(vigil_bridge *b, vigil_policy_status *out) {
  pthread_mutex_lock(&b->mu);
  *out = b->status;
  pthread_mutex_unlock(&b->mu);
}

/* ---- script thread ------------------------------------------------------------ */

size_t vigil_bridge_take_events(vigil_bridge *b, vigil_event *out, size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&b->mu);
  if (b->missed && n < max) {
    memset(&out[n], 0, sizeof out[n]);
    out[n].type = VIGIL_EVENT_LAGGED;
    out[n].missed = b->missed;
    out[n].at = b->count ? b->events[b->head].at : 0;
    b->missed = 0;
    n++;
  }
  while (n < max && b->count) {
    out[n++] = b->events[b->head];
    b->head = (b->head + 1) % b->capacity;
    b->count--;
  }
  pthread_mutex_unlock(&b->mu);
  return n;
}

const vigil_snapshot *vigil_bridge_acquire(vigil_bridge *b) {
  pthread_mutex_lock(&b->mu);
  vigil_snapshot *s = b->current;
  if (s) s->refs_++;
  pthread_mutex_unlock(&b->mu);
  return s;
}

void vigil_bridge_release(vigil_bridge *b, const vigil_snapshot *s) {
  if (!s) return;
  pthread_mutex_lock(&b->mu);
  snap_unref((vigil_snapshot *)s);
  pthread_mutex_unlock(&b->mu);
}

int vigil_bridge_send_command(vigil_bridge *b, const vigil_command *c) {
  pthread_mutex_lock(&b->mu);
  int rc = VIGIL_OK;
  if (b->ccount == COMMANDS_MAX) {
    rc = VIGIL_ERANGE;
  } else {
    b->commands[(b->chead + b->ccount) % COMMANDS_MAX] = *c;
    b->ccount++;
  }
  pthread_mutex_unlock(&b->mu);
  if (rc == VIGIL_OK && b->wake_core) b->wake_core(b->core_ud);
  return rc;
}

void vigil_bridge_take_requests(vigil_bridge *b, bool *reload, bool *stop) {
  pthread_mutex_lock(&b->mu);
  *reload = b->reload;
  *stop = b->stop;
  b->reload = false;
  pthread_mutex_unlock(&b->mu);
}

void vigil_bridge_set_status(vigil_bridge *b, const vigil_policy_status *st) {
  pthread_mutex_lock(&b->mu);
  uint64_t lagged = b->status.lagged; /* counted here, not by the script thread */
  b->status = *st;
  b->status.lagged = lagged;
  pthread_mutex_unlock(&b->mu);
}
