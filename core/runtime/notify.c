/*
 * notify.c - telling systemd how the agent is (sd_notify, Type=notify).
 *
 * Owns: the agent's side of the notify protocol, through libsystemd.
 * READY=1 is sent once the gossip socket and HTTP listen and the policy,
 * if there is one, has loaded or failed to: a unit ordered after vigil
 * starts against an agent that is really there, and `systemctl status
 * vigil` shows in STATUS= which of the two it was. STATUS= follows every
 * later reload. WATCHDOG=1 is sent from the core loop at half of
 * WatchdogSec=, so systemd restarts an agent whose core thread stopped
 * turning (the policy thread has its own guards, and /health). STOPPING=1
 * when the agent starts to leave.
 *
 * One timer does it all: every 20 ms until ready (the script thread
 * reports the first load through the bridge; it never calls us), then at
 * the watchdog's pace or once a second while a policy's status may change.
 * Without NOTIFY_SOCKET (not under systemd) nothing is armed, nothing sent.
 *
 * Must never: block the core loop on systemd (one datagram to a local
 * socket per message), or pass a policy's error text unsanitised: the
 * protocol is newline-separated, so control characters become spaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VIGIL_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "runtime.h"

#define NOTIFY_POLL_MS   20               /* until ready */
#define NOTIFY_STATUS_MS 1000             /* then, for STATUS= after reloads */
#define NOTIFY_READY_MAX (10 * VIGIL_SEC) /* READY=1 at the latest, policy loaded or not */
#define NOTIFY_ERROR_MAX 200              /* bytes of a load error shown in STATUS= */

#ifdef VIGIL_SYSTEMD

static void notify__send(const char *msg) { sd_notify(0, msg); }

/* The policy's part of STATUS=, from what the script thread reported. */
static void notify__policy(const vigil__agent *a, const vigil_policy_status *st, char *out, size_t cap) {
  if (!a->cfg->policy) {
    snprintf(out, cap, "no policy");
    return;
  }
  char err[NOTIFY_ERROR_MAX + 1];
  size_t n = strlen(st->error);
  if (n > NOTIFY_ERROR_MAX) n = NOTIFY_ERROR_MAX;
  for (size_t i = 0; i < n; i++) err[i] = (unsigned char)st->error[i] < 0x20 ? ' ' : st->error[i];
  err[n] = '\0';
  if (!st->running)
    snprintf(out, cap, "policy %s not running", a->cfg->policy);
  else if (st->loaded && err[0])
    snprintf(out, cap, "policy %s generation %llu; its last reload failed: %s", a->cfg->policy,
             (unsigned long long)st->generation, err);
  else if (st->loaded)
    snprintf(out, cap, "policy %s generation %llu", a->cfg->policy, (unsigned long long)st->generation);
  else if (err[0])
    snprintf(out, cap, "policy %s failed to load: %s", a->cfg->policy, err);
  else
    snprintf(out, cap, "policy %s still loading", a->cfg->policy);
}

static void notify__status(vigil__agent *a, const vigil_policy_status *st, bool ready) {
  char policy[512], msg[1024];
  notify__policy(a, st, policy, sizeof policy);
  const char *self = a->cfg->advertise ? a->cfg->advertise : a->cfg->listen;
  snprintf(msg, sizeof msg, "%sSTATUS=gossip %s, http %s; %s", ready ? "READY=1\n" : "", self,
           a->http_on ? a->cfg->http : "off", policy);
  notify__send(msg);
}

static void notify__on_timer(uv_timer_t *t) {
  vigil__agent *a = t->data;
  vigil__notify *n = &a->notify;
  vigil_policy_status st;
  memset(&st, 0, sizeof st);
  if (a->bridge) vigil_bridge_status(a->bridge, &st);
  vigil_time now = uv_hrtime();
  if (n->watchdog_ms && (!n->pinged || now - n->pinged >= n->watchdog_ms * VIGIL_MS / 2)) {
    notify__send("WATCHDOG=1");
    n->pinged = now;
  }
  if (!n->ready) {
    /* The first load's verdict; the thread reports running just before it. */
    bool settled = !a->bridge || st.loaded || st.reloads_failed;
    if (!settled && now - a->started < NOTIFY_READY_MAX) return;
    n->ready = true;
    notify__status(a, &st, true);
    vigil__logf(VIGIL_LOG_INFO, "told systemd the agent is ready", "policy_loaded=%s watchdog_ms=%llu",
                st.loaded ? "yes" : "no", (unsigned long long)n->watchdog_ms);
  } else if (st.generation != n->generation || st.reloads_failed != n->failed || st.running != n->running) {
    notify__status(a, &st, false);
  }
  n->generation = st.generation;
  n->failed = st.reloads_failed;
  n->running = st.running;
  uint64_t every = a->bridge ? NOTIFY_STATUS_MS : 0;
  if (n->watchdog_ms && (!every || n->watchdog_ms / 2 < every)) every = n->watchdog_ms / 2 ? n->watchdog_ms / 2 : 1;
  if (!every)
    uv_timer_stop(t);
  else if (uv_timer_get_repeat(t) != every)
    uv_timer_start(t, notify__on_timer, every, every);
}

void vigil__notify_start(vigil__agent *a) {
  vigil__notify *n = &a->notify;
  memset(n, 0, sizeof *n);
  const char *sock = getenv("NOTIFY_SOCKET");
  if (!sock || !*sock) return;
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) n->watchdog_ms = usec / 1000 ? usec / 1000 : 1;
  uv_timer_init(&a->loop, &n->timer);
  n->timer.data = a;
  n->on = true;
  uv_timer_start(&n->timer, notify__on_timer, 0, NOTIFY_POLL_MS);
}

void vigil__notify_stopping(vigil__agent *a) {
  if (!a->notify.on) return;
  notify__send("STOPPING=1\nSTATUS=leaving: telling peers, stopping the policy");
}

#else /* built without libsystemd (-DVIGIL_SYSTEMD=OFF): an agent that never says anything */

void vigil__notify_start(vigil__agent *a) { memset(&a->notify, 0, sizeof a->notify); }
void vigil__notify_stopping(vigil__agent *a) { (void)a; }

#endif
