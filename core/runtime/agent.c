/*
 * agent.c - the agent runtime's loop: the core thread (../shared/DESIGN.md).
 *
 * Owns: the libuv loop and what lives on it -- the node's one timer, the
 * signals, the bridge to the script thread -- and the clocks: uv_hrtime
 * for `now`, the wall clock for the generation. The UDP socket is net.c's,
 * the HTTP API api.c's and http.c's, the logs log.c's; every decision is
 * the node's (core/lib/node.c), which this file only drives: datagrams,
 * refusals and timer expiries in, frames and events out.
 *
 * Must never: run Lua or wait on anything slow. Every callback does a
 * bounded amount of work: a datagram, a timer, a request, a command.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"

/* How often the snapshot the policy reads is refreshed, at most. */
#define SNAPSHOT_EVERY (100 * VIGIL_MS)

void vigil_agent_config_init(vigil_agent_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = "127.0.0.1:7946";
  cfg->http = "127.0.0.1:7947";
  cfg->log_level = VIGIL_LOG_INFO;
  cfg->interval = 200 * VIGIL_MS;
  cfg->tick = 100 * VIGIL_MS;
  cfg->reap_after = 60 * VIGIL_SEC;
  cfg->max_peers = VIGIL_MAX_PEERS;
  cfg->max_skew = VIGIL_MAX_SKEW;
  vigil_detector_config_init(&cfg->detector);
}

/* ---- driving the node ------------------------------------------------------ */

static void agent__on_timer(uv_timer_t *t);

/* What the policy reads: every peer as of now (the script thread never
 * touches the node). */
static void agent__publish_snapshot(vigil__agent *a, vigil_time now) {
  vigil_snapshot *s = vigil_node_snapshot(a->node, now);
  if (s) vigil_bridge_publish(a->bridge, s);
}

/* Every event, as the node publishes it: logged and handed to the policy
 * bridge and to `vigil monitor` readers there and then, so no burst of
 * transitions in one input (a partition at scale) can overwrite one
 * before all have seen it. */
static void agent__on_event(void *ud, const vigil_event *e) {
  vigil__agent *a = ud;
  vigil__log_event(e);
  if (a->bridge && e->type != VIGIL_EVENT_GOSSIP_ROUND) vigil_bridge_push_event(a->bridge, e);
  vigil__api_monitor_event(a, e);
}

void vigil__agent_settle(vigil__agent *a, vigil_time now) {
  /* Arm the one timer at the node's next due work -- unless it already is:
   * most datagrams leave that time where it was, and this runs for every
   * one. libuv counts whole milliseconds from its cached loop time: round
   * up, so the node is never woken before its work is due. */
  vigil_time next = vigil_node_next_timer(a->node);
  if (next == a->timer_for && uv_is_active((uv_handle_t *)&a->timer)) return;
  uint64_t ms = next > now ? (next - now + VIGIL_MS - 1) / VIGIL_MS : 0;
  uv_timer_start(&a->timer, agent__on_timer, ms, 0);
  a->timer_for = next;
}

static void agent__on_timer(uv_timer_t *t) {
  vigil__agent *a = t->data;
  vigil_time now = uv_hrtime();
  vigil_node_timer(a->node, now);
  if (a->bridge && now - a->snapshot_at >= SNAPSHOT_EVERY) {
    agent__publish_snapshot(a, now);
    a->snapshot_at = now;
  }
  vigil__agent_settle(a, now);
}

/* Apply what the policy asked for (vigil.configure, vigil.mark_down). */
static void agent__apply(vigil__agent *a, const vigil_command *c, vigil_time now) {
  char note[512];
  int rc = vigil_node_apply(a->node, c, now, note, sizeof note);
  char qpeer[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)], qnote[VIGIL__LOG_QUOTED(sizeof note)];
  if (c->type == VIGIL_CMD_MARK_DOWN) /* the pname is whatever the policy gave */
    vigil__logf(rc ? VIGIL_LOG_WARN : VIGIL_LOG_INFO, "policy marked a peer down", "peer=%s result=%s",
                vigil__log_quote(qpeer, sizeof qpeer, c->pname), vigil__log_quote(qnote, sizeof qnote, note));
  else if (rc)
    vigil__logf(VIGIL_LOG_ERROR, "policy configure refused", "error=%s", vigil__log_quote(qnote, sizeof qnote, note));
  else
    vigil__logf(VIGIL_LOG_INFO, "policy configured the detector", "%s", note);
}

static void agent__on_core_wake(uv_async_t *w) {
  vigil__agent *a = w->data;
  vigil_command c;
  vigil_time now = uv_hrtime();
  while (vigil_bridge_take_command(a->bridge, &c)) agent__apply(a, &c, now);
  vigil__agent_settle(a, now);
}

static void agent__wake_core(void *ud) { uv_async_send(ud); }

/* ---- lifecycle --------------------------------------------------------------- */

static void agent__close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void vigil__agent_leave(vigil__agent *a, const char *by) {
  if (a->leaving) return;
  a->leaving = true;
  vigil__notify_stopping(a);
  vigil_time now = uv_hrtime();
  vigil__logf(VIGIL_LOG_INFO, "shutting down", "by=%s", by);
  size_t n = vigil_node_leave(a->node, now);
  vigil__logf(VIGIL_LOG_INFO, "told peers we are leaving", "frames=%zu", n);
  uv_stop(&a->loop);
}

static void agent__on_stop(uv_signal_t *s, int signum) {
  vigil__agent_leave(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* SIGHUP: read the keyring file again (a rotation: add the new key
 * everywhere, then make it first, then drop the old one, a SIGHUP each).
 * A file that does not load leaves the keys in force. The node holds a
 * pointer to the keyring: it is replaced in place, on the core thread,
 * between two datagrams. */
static void agent__reload_keyring(vigil__agent *a) {
  if (!a->cfg->keyring || !a->cfg->keyring_path) return;
  vigil_keyring next;
  char err[256];
  if (vigil_keyring_load(&next, a->cfg->keyring_path, err, sizeof err) != VIGIL_OK) {
    vigil__logf(VIGIL_LOG_WARN, "keyring not reloaded: the keys in force stay", "path=\"%s\" error=\"%s\"",
                a->cfg->keyring_path, err);
    return;
  }
  *a->cfg->keyring = next;
  vigil__logf(VIGIL_LOG_INFO, "keyring reloaded", "keys=%u", next.nkeys);
}

static void agent__on_hup(uv_signal_t *s, int signum) {
  (void)signum;
  vigil__agent *a = s->data;
  agent__reload_keyring(a);
  if (!a->bridge) {
    if (!a->cfg->keyring) vigil__logf(VIGIL_LOG_WARN, "SIGHUP ignored: this agent runs no policy and no keyring", NULL);
    return;
  }
  vigil__logf(VIGIL_LOG_INFO, "policy reload requested", "by=SIGHUP");
  vigil_bridge_request(a->bridge, true, false);
}

static int agent__fail(vigil__agent *a, const char *msg, const char *what, int rc) {
  vigil__logf(VIGIL_LOG_ERROR, msg, "address=%s error=\"%s\"", what, uv_strerror(rc));
  a->exit_code = 1;
  return 1;
}

/* Round-trip time of a gossip round, for the node's metrics. */
static vigil_time agent__stopwatch(void *ud) {
  (void)ud;
  return uv_hrtime();
}

static int agent__start(vigil__agent *a, const vigil_agent_config *cfg) {
  struct sockaddr_storage listen_addr, http_addr;
  if (vigil__net_sockaddr(cfg->listen, &listen_addr) != 0)
    return agent__fail(a, "bad listen address", cfg->listen, UV_EINVAL);
  const char *self = cfg->advertise ? cfg->advertise : cfg->listen;
  if (vigil__net_wildcard(self)) {
    vigil__logf(VIGIL_LOG_ERROR, "a wildcard listen address needs --advertise", "listen=%s", cfg->listen);
    return 1;
  }
  struct sockaddr_storage self_addr;
  if (vigil__net_sockaddr(self, &self_addr) != 0)
    return agent__fail(a, "advertised pname must be ip:port", self, UV_EINVAL);

  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  vigil_node_config nc;
  vigil_node_config_init(&nc);
  nc.self = self;
  nc.dc = cfg->dc;
  nc.rack = cfg->rack;
  nc.tokens = cfg->tokens;
  nc.ntokens = cfg->ntokens;
  nc.tags = cfg->tags;
  nc.seeds = cfg->seeds;
  nc.nseeds = cfg->nseeds;
  /* Milliseconds of wall clock: a restart a second later still counts as
   * newer; a clock stepped backwards across a restart would not. */
  nc.generation = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
  nc.seed = nc.generation ^ (uint64_t)uv_os_getpid() << 32;
  nc.interval = cfg->interval;
  nc.tick = cfg->tick;
  nc.reap_after = cfg->reap_after;
  nc.max_peers = cfg->max_peers;
  nc.max_skew = cfg->max_skew;
  nc.peer_metrics = cfg->metrics_per_peer;
  nc.keyring = cfg->keyring;
  nc.detector = cfg->detector;
  nc.detector.first_estimate = 0; /* the gossip interval */
  nc.on_event = agent__on_event;  /* the log and the bridge see every event */
  nc.on_event_ud = a;
  nc.stopwatch = agent__stopwatch;
  a->started = uv_hrtime();
  const char *why = NULL;
  a->node = vigil_node_new(&nc, vigil__net_send, a, a->started, &why);
  if (!a->node) {
    vigil__logf(VIGIL_LOG_ERROR, "bad agent settings", "error=\"%s\"", why ? why : "out of memory");
    return 1;
  }

  int rc = vigil__net_start(a, &listen_addr);
  if (rc) return agent__fail(a, "cannot bind the gossip socket", cfg->listen, rc);

  if (cfg->http && *cfg->http) {
    if (vigil__net_sockaddr(cfg->http, &http_addr) != 0)
      return agent__fail(a, "bad http address", cfg->http, UV_EINVAL);
    a->http.route = vigil__api_route;
    a->http.ud = a;
    rc = vigil__http_start(&a->http, &a->loop, (const struct sockaddr *)&http_addr);
    if (rc) return agent__fail(a, "cannot listen for http", cfg->http, rc);
    a->http_on = true;
  }

  uv_timer_init(&a->loop, &a->timer);
  a->timer.data = a;

  uv_signal_init(&a->loop, &a->sigint);
  uv_signal_init(&a->loop, &a->sigterm);
  uv_signal_init(&a->loop, &a->sighup);
  a->sigint.data = a->sigterm.data = a->sighup.data = a;
  uv_signal_start(&a->sigint, agent__on_stop, SIGINT);
  uv_signal_start(&a->sigterm, agent__on_stop, SIGTERM);
  uv_signal_start(&a->sighup, agent__on_hup, SIGHUP);

  char qtags[VIGIL__LOG_QUOTED(VIGIL_TAGS_TEXT)];
  vigil__logf(VIGIL_LOG_INFO, "agent started",
              "self=%s listen=%s http=%s generation=%llu seeds=%u interval_ms=%llu threshold=%g "
              "authenticated=%s version=%s tags=%s",
              self, cfg->listen, a->http_on ? cfg->http : "off", (unsigned long long)nc.generation, cfg->nseeds,
              (unsigned long long)(cfg->interval / VIGIL_MS), cfg->detector.threshold, cfg->keyring ? "yes" : "no",
              VIGIL_VERSION, vigil__log_quote(qtags, sizeof qtags, cfg->tags ? cfg->tags : ""));
  /* Where the settings came from (flags > VIGIL_* > config file > defaults):
   * the first thing to read when a value is not the one expected. */
  if (cfg->config_file || (cfg->settings_from && *cfg->settings_from)) {
    char qfile[VIGIL__LOG_QUOTED(256)];
    bool from = cfg->settings_from && *cfg->settings_from;
    vigil__logf(VIGIL_LOG_INFO, "settings", "config=%s%s%s",
                cfg->config_file ? vigil__log_quote(qfile, sizeof qfile, cfg->config_file) : "none", from ? " " : "",
                from ? cfg->settings_from : "");
  }
  if (a->http_on && !cfg->http_token && !vigil__http_addr_loopback((const struct sockaddr *)&http_addr))
    vigil__logf(
        VIGIL_LOG_WARN, "http listens beyond loopback: mutating endpoints answer loopback clients only",
        "http=%s endpoints=\"POST /v1/*, GET /v1/monitor\" hint=\"to allow other clients, add --http-token-file "
        "FILE\"",
        cfg->http);
  if (!cfg->keyring)
    vigil__logf(VIGIL_LOG_WARN, "gossip is unauthenticated: anyone who can reach the gossip port can forge heartbeats",
                "listen=%s hint=\"start every agent with --keyring FILE\"", cfg->listen);
  if (cfg->policy) {
    if (!cfg->policy_host) {
      vigil__logf(VIGIL_LOG_ERROR, "a policy was given but this build has no policy runtime", "policy=%s", cfg->policy);
      return 1;
    }
    uv_async_init(&a->loop, &a->core_wake, agent__on_core_wake);
    a->core_wake.data = a;
    a->bridge =
        vigil_bridge_new(cfg->policy_queue ? cfg->policy_queue : 1024, NULL, NULL, agent__wake_core, &a->core_wake);
    if (!a->bridge) return agent__fail(a, "out of memory", self, UV_ENOMEM);
    agent__publish_snapshot(a, uv_hrtime());
    if (cfg->policy_host->start(cfg->policy_host->ud, a->bridge, cfg->policy) != 0) {
      vigil__logf(VIGIL_LOG_ERROR, "cannot start the policy runtime", "policy=%s", cfg->policy);
      return 1;
    }
    a->policy_on = true;
  }
  /* The first gossip round is due now. */
  vigil__agent_settle(a, uv_hrtime());
  vigil__notify_start(a); /* READY=1 once the policy has loaded or failed */
  return 0;
}

static void agent__free(vigil__agent *a) {
  free(a->rxbuf);
  if (!a->policy_on) vigil_bridge_free(a->bridge); /* a detached script thread may still hold it */
  vigil_node_free(a->node);
}

int vigil_agent_run(const vigil_agent_config *cfg) {
  vigil__agent *a = calloc(1, sizeof *a);
  if (!a) return 1;
  vigil_log_set_level(cfg->log_level);
  a->cfg = cfg;
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&a->loop);
  int rc = agent__start(a, cfg);
  if (rc == 0) uv_run(&a->loop, UV_RUN_DEFAULT);
  /* The script thread gets 2 s to finish what it is doing (a handler past
   * its budget is interrupted within that); then the process exits anyway. */
  if (a->policy_on) cfg->policy_host->stop(cfg->policy_host->ud, 2000);
  /* Close every handle (listeners, timers, signals, HTTP connections) and
   * let the loop finish their callbacks. */
  uv_walk(&a->loop, agent__close_walk, NULL);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  uv_loop_close(&a->loop);
  agent__free(a);
  rc = rc ? rc : a->exit_code;
  free(a);
  return rc;
}
