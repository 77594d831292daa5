/*
 * node.c - one agent's whole membership logic, without a transport.
 *
 * Owns: the agent's pool, handler, events, metrics and membership, and the
 * schedule of its own work: when the next gossip round is due, when the
 * next evaluation tick is due, and when the earliest conviction falls due
 * between ticks. It also owns what a policy may change (vigil_node_apply)
 * and what a policy may read (vigil_node_snapshot), so that an agent and a
 * simulated agent answer a policy the same way.
 *
 * Must never: touch a socket, a clock or a thread. The three inputs --
 * a datagram, a refusal, a timer -- come with `now`; the outputs are calls
 * to the send function and events in the ring. The agent runtime
 * (core/runtime/agent.c) and the simulator (core/sim/sim.c) are its two
 * drivers; every decision either of them acts on is made here.
 *
 * The schedule, and why it is this one:
 *   - Gossip every `interval`, the first round at creation. A driver that
 *     calls late (a stalled process) gets one round, not a burst of
 *     catch-up rounds: stale heartbeats are worth nothing.
 *   - Evaluate every `tick` (interval / 2 unless set), so that a peer whose
 *     heartbeats stop is judged within half an interval, and the handler's
 *     local-pause guard sees a gap when the driver was stalled.
 *   - Between ticks, evaluate again when the earliest conviction falls due
 *     (vigil_members_next_due: the peers this agent judges itself -- every
 *     peer in a small cluster, its subjects in a large one), so a
 *     conviction or an alert is not late by a tick. The due time is
 *     recomputed after each evaluation, each refusal and each datagram
 *     (which can bring an alert to spread or a quorum); a heartbeat only
 *     moves deadlines later, so a stale due time costs at most one
 *     evaluation that changes nothing.
 *   - Urgent news (an alert, a refutation) is flushed to the peers the
 *     agent talks to as soon as it arrives, at most every interval / 8
 *     (vigil_members_flush), not at the next round.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NODE_EVENTS_DEFAULT 1024

struct vigil_node {
  vigil_pool *pool;
  vigil_handler *h;
  vigil_events *ev;
  vigil_metrics *met;
  vigil_members *m;
  vigil_send_fn send; /* the driver's transport */
  void *send_ud;
  vigil_time (*stopwatch)(void *ud); /* the driver's, to time rounds; may be NULL */
  void *stopwatch_ud;
  char self[VIGIL_PNAME_MAX];
  vigil_time interval;      /* gossip interval in force */
  vigil_time tick;          /* evaluate period in force */
  vigil_time next_gossip;   /* when the next gossip round is due */
  vigil_time next_tick;     /* when the next evaluation tick is due */
  vigil_time next_due;      /* earliest conviction between ticks (UINT64_MAX = none) */
  uint64_t refused_unknown; /* refusals from addresses no peer has */
  uint64_t refused_known;   /* refusals from known peers' addresses */
};

void vigil_node_config_init(vigil_node_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->interval = 200 * VIGIL_MS;
  cfg->reap_after = 60 * VIGIL_SEC;
  cfg->seed = 0x9e3779b97f4a7c15ull;
  cfg->events = NODE_EVENTS_DEFAULT;
  cfg->max_peers = VIGIL_MAX_PEERS;
  cfg->max_skew = VIGIL_MAX_SKEW;
  cfg->join_rate = VIGIL_JOIN_RATE;
  cfg->join_burst = VIGIL_JOIN_BURST;
  vigil_detector_config_init(&cfg->detector);
  cfg->detector.first_estimate = 0; /* the interval */
}

static vigil_time node__tick_for(vigil_time interval) {
  vigil_time t = interval / 2;
  return t ? t : 1;
}

vigil_node *vigil_node_new(const vigil_node_config *cfg, vigil_send_fn send, void *ud, vigil_time now,
                           const char **why) {
  const char *bad = NULL;
  char tags[VIGIL_TAGS_TEXT];
  if (!cfg->self)
    bad = "self must be a \"host:port\" pname";
  else if (!send)
    bad = "a node needs a send function";
  else if (cfg->interval < VIGIL_MS)
    bad = "interval must be at least 1 ms";
  else if ((cfg->dc && !vigil_name_valid(cfg->dc)) || (cfg->rack && !vigil_name_valid(cfg->rack)))
    bad = "dc and rack: 1 to 47 letters, digits, '.', '_' or '-' (what peers accept from the wire)";
  else if (vigil_tags_parse(cfg->tags, tags, &bad) != VIGIL_OK)
    bad = bad ? bad : "bad tags";
  if (bad) {
    if (why) *why = bad;
    return NULL;
  }
  vigil_node *n = calloc(1, sizeof *n);
  if (!n) {
    if (why) *why = "out of memory";
    return NULL;
  }
  n->send = send;
  n->send_ud = ud;
  n->stopwatch = cfg->stopwatch;
  n->stopwatch_ud = cfg->stopwatch_ud;
  n->interval = cfg->interval;
  n->tick = cfg->tick ? cfg->tick : node__tick_for(cfg->interval);
  vigil__copy(n->self, sizeof n->self, cfg->self);

  vigil_pool_config pc;
  vigil_pool_config_init(&pc);
  pc.dc = cfg->dc;
  pc.detector = cfg->detector;
  /* Before any interval is known the detector assumes one: the gossip
   * interval, so a peer is not judged by a 200 ms estimate in a cluster
   * that gossips every second. */
  if (!pc.detector.first_estimate) pc.detector.first_estimate = cfg->interval;
  const char *err = NULL;
  n->pool = vigil_pool_new(&pc, &err);
  if (!n->pool) {
    if (why) *why = err ? err : "out of memory";
    vigil_node_free(n);
    return NULL;
  }
  n->h = vigil_handler_new(n->pool);
  n->ev = vigil_events_new(cfg->events ? cfg->events : NODE_EVENTS_DEFAULT);
  if (n->ev) vigil_events_set_sink(n->ev, cfg->on_event, cfg->on_event_ud);
  n->met = vigil_metrics_new();
  if (!n->h || !n->ev || !n->met) {
    if (why) *why = "out of memory";
    vigil_node_free(n);
    return NULL;
  }
  vigil_handler_attach_events(n->h, n->ev);
  vigil_handler_attach_metrics(n->h, n->met);
  vigil_handler_set_interval(n->h, n->tick);
  vigil_handler_set_peer_metrics(n->h, cfg->peer_metrics);
  vigil_handler_set_peer_counters(n->h, !cfg->no_peer_counters && cfg->peer_metrics != VIGIL_PEER_METRICS_OFF);

  vigil_members_config mc;
  vigil_members_config_init(&mc);
  mc.self = cfg->self;
  mc.dc = cfg->dc;
  mc.rack = cfg->rack;
  mc.tokens = cfg->tokens;
  mc.ntokens = cfg->ntokens;
  mc.tags = tags;
  mc.generation = cfg->generation;
  mc.interval = cfg->interval;
  mc.observers = cfg->observers;
  mc.quorum = cfg->quorum;
  mc.reap_after = cfg->reap_after;
  mc.keyring = cfg->keyring;
  mc.seed = cfg->seed;
  mc.max_peers = cfg->max_peers;
  mc.max_skew = cfg->max_skew;
  mc.join_rate = cfg->join_rate;
  mc.join_burst = cfg->join_burst;
  n->m = vigil_members_new(n->h, &mc, now, &err);
  if (!n->m) {
    if (why) *why = err ? err : "out of memory";
    vigil_node_free(n);
    return NULL;
  }
  for (uint32_t i = 0; i < cfg->nseeds; i++) {
    if (vigil_members_add_seed(n->m, cfg->seeds[i], NULL) != VIGIL_OK) {
      if (why) *why = "a seed is not a \"host:port\" pname";
      vigil_node_free(n);
      return NULL;
    }
  }
  n->next_gossip = now;
  n->next_tick = now + n->tick;
  n->next_due = UINT64_MAX;
  return n;
}

void vigil_node_free(vigil_node *n) {
  if (!n) return;
  vigil_members_free(n->m);
  vigil_handler_free(n->h);
  vigil_events_free(n->ev);
  vigil_metrics_free(n->met);
  vigil_pool_free(n->pool);
  free(n);
}

/* ---- the three inputs ------------------------------------------------------ */

int vigil_node_receive(vigil_node *n, const uint8_t *buf, size_t len, const char *from, vigil_time now) {
  int rc = vigil_members_receive(n->m, buf, len, from, now);
  /* News may need spreading at once (an alert, a refutation, a probe):
   * the timer must know. (Judging deadlines only move later on a
   * datagram, and a quorum convicts as the alert arrives.) */
  vigil_time due = vigil_members_flush_due(n->m);
  if (due < n->next_due) n->next_due = due < now ? now : due;
  return rc;
}

/* Recompute the earliest conviction due between ticks (never before now:
 * next_due says so). */
static void node__due(vigil_node *n, vigil_time now) { n->next_due = vigil_members_next_due(n->m, now); }

int vigil_node_refused(vigil_node *n, const char *addr, vigil_time now) {
  int rc = addr ? vigil_members_refused(n->m, addr, now) : VIGIL_ENOENT;
  if (rc < 0) {
    n->refused_unknown++;
    return rc;
  }
  n->refused_known++;
  node__due(n, now); /* a refused peer may be convicted sooner than its phi says */
  return rc;
}

static void node__evaluate(vigil_node *n, vigil_time now) {
  vigil_members_evaluate(n->m, now);
  node__due(n, now);
  /* What was due has just been judged: a deadline at `now` that did not
   * convict (a hair from the boundary) is looked at again a little later,
   * never in a loop at the same instant. */
  if (n->next_due <= now) n->next_due = now + VIGIL_MS;
}

/* The next time a periodic thing is due after it ran at `now`: one period
 * on, or one period from now when the driver was late by more than one. */
static vigil_time node__next(vigil_time was, vigil_time period, vigil_time now) {
  vigil_time next = was + period;
  return next > now ? next : now + period;
}

void vigil_node_timer(vigil_node *n, vigil_time now) {
  vigil_members_flush(n->m, now, n->send, n->send_ud);
  if (now >= n->next_gossip) {
    vigil_time t0 = n->stopwatch ? n->stopwatch(n->stopwatch_ud) : 0;
    vigil_members_tick(n->m, now, n->send, n->send_ud);
    vigil_time took = n->stopwatch ? n->stopwatch(n->stopwatch_ud) - t0 : 0;
    vigil_handler_gossip_round(n->h, took, vigil_members_fresh(n->m), now);
    n->next_gossip = node__next(n->next_gossip, n->interval, now);
    vigil_members_flush(n->m, now, n->send, n->send_ud); /* what the round did not carry */
  }
  if (now >= n->next_tick) {
    node__evaluate(n, now);
    n->next_tick = node__next(n->next_tick, n->tick, now);
  } else if (now >= n->next_due) {
    node__evaluate(n, now);
  } else {
    node__due(n, now);
  }
}

vigil_time vigil_node_next_timer(const vigil_node *n) {
  vigil_time t = n->next_gossip < n->next_tick ? n->next_gossip : n->next_tick;
  return n->next_due < t ? n->next_due : t;
}

size_t vigil_node_leave(vigil_node *n, vigil_time now) {
  return vigil_members_shutdown(n->m, now, n->send, n->send_ud);
}

int vigil_node_join(vigil_node *n, const char *pname, vigil_time now) {
  int rc = vigil_members_contact(n->m, pname, now, n->send, n->send_ud);
  return rc < 0 ? rc : VIGIL_OK;
}

int vigil_node_forget(vigil_node *n, const char *pname, vigil_time now) {
  int rc = vigil_handler_mark_down_pname(n->h, pname, now);
  if (rc != VIGIL_OK) return rc;
  rc = vigil_members_forget(n->m, pname, now);
  node__due(n, now);
  return rc;
}

/* ---- what a policy changes and reads ----------------------------------------- */

static void node__set_interval(vigil_node *n, vigil_time interval, vigil_time now) {
  n->interval = interval;
  n->tick = node__tick_for(interval);
  vigil_handler_set_interval(n->h, n->tick);
  vigil_members_set_interval(n->m, interval);
  /* As a libuv timer restarted with a new period: the next round one
   * period from now. */
  n->next_gossip = now + interval;
  n->next_tick = now + n->tick;
}

int vigil_node_apply(vigil_node *n, const vigil_command *c, vigil_time now, char *note, size_t cap) {
  char scratch[8];
  if (!note) {
    note = scratch;
    cap = sizeof scratch;
  }
  note[0] = '\0';
  if (c->type == VIGIL_CMD_MARK_DOWN) {
    int rc = vigil_handler_mark_down_pname(n->h, c->pname, now);
    snprintf(note, cap, "%s", rc ? vigil_strerror(rc) : "ok");
    node__due(n, now);
    return rc;
  }
  if (c->type != VIGIL_CMD_CONFIGURE) {
    snprintf(note, cap, "unknown command %d", (int)c->type);
    return VIGIL_EINVAL;
  }
  vigil_detector_config next = *vigil_pool_detector_config(n->pool);
  if (c->has_threshold) next.threshold = c->threshold;
  if (c->has_model) next.model = c->model;
  if (c->has_min_std_dev) next.min_std_dev = c->min_std_dev;
  if (c->has_acceptable_pause) next.acceptable_pause = c->acceptable_pause;
  if (c->has_refused) next.refused = c->refused;
  if (c->has_interval && c->interval < VIGIL_MS) {
    snprintf(note, cap, "interval must be at least 1 ms");
    return VIGIL_EINVAL;
  }
  if (c->has_thresholds && c->nthresholds > VIGIL_CMD_THRESHOLDS_MAX) {
    snprintf(note, cap, "at most %d thresholds", VIGIL_CMD_THRESHOLDS_MAX);
    return VIGIL_EINVAL;
  }
  if (c->has_acceptable_pauses && c->nacceptable_pauses > VIGIL_CMD_THRESHOLDS_MAX) {
    snprintf(note, cap, "at most %d acceptable_pauses", VIGIL_CMD_THRESHOLDS_MAX);
    return VIGIL_EINVAL;
  }
  /* Checked before anything changes: past this point only memory can
   * fail, so the command applies whole or not at all. */
  for (uint32_t i = 0; c->has_thresholds && i < c->nthresholds; i++) {
    double t = c->thresholds[i].threshold;
    if (!c->thresholds[i].key[0] || memchr(c->thresholds[i].key, 0, VIGIL_CMD_KEY_MAX) == NULL || !(t > 0) ||
        !isfinite(t)) {
      snprintf(note, cap, "thresholds: every entry is a dc or pname and a finite number > 0");
      return VIGIL_EINVAL;
    }
  }
  for (uint32_t i = 0; c->has_acceptable_pauses && i < c->nacceptable_pauses; i++) {
    if (!c->acceptable_pauses[i].key[0] || memchr(c->acceptable_pauses[i].key, 0, VIGIL_CMD_KEY_MAX) == NULL ||
        c->acceptable_pauses[i].acceptable_pause > VIGIL_PAUSE_OVERRIDE_MAX) {
      snprintf(note, cap, "acceptable_pauses: every entry is a dc or pname and 0 to 3600 seconds");
      return VIGIL_EINVAL;
    }
  }
  const char *why = NULL;
  if (vigil_detector_config_check(&next, &why) != VIGIL_OK) {
    snprintf(note, cap, "%s", why ? why : "invalid detector settings");
    return VIGIL_EINVAL;
  }
  if (c->has_thresholds) {
    vigil_threshold_override ov[VIGIL_CMD_THRESHOLDS_MAX];
    for (uint32_t i = 0; i < c->nthresholds; i++) {
      ov[i].key = c->thresholds[i].key;
      ov[i].threshold = c->thresholds[i].threshold;
    }
    int rc = vigil_pool_set_thresholds(n->pool, ov, c->nthresholds);
    if (rc != VIGIL_OK) {
      snprintf(note, cap, "thresholds refused: %s", vigil_strerror(rc));
      return rc;
    }
  }
  if (c->has_acceptable_pauses) {
    vigil_pause_override ov[VIGIL_CMD_THRESHOLDS_MAX];
    for (uint32_t i = 0; i < c->nacceptable_pauses; i++) {
      ov[i].key = c->acceptable_pauses[i].key;
      ov[i].acceptable_pause = c->acceptable_pauses[i].acceptable_pause;
    }
    int rc = vigil_pool_set_acceptable_pauses(n->pool, ov, c->nacceptable_pauses);
    if (rc != VIGIL_OK) {
      snprintf(note, cap, "acceptable_pauses refused: %s", vigil_strerror(rc));
      return rc;
    }
  }
  if (vigil_pool_configure(n->pool, &next, &why) != VIGIL_OK) {
    snprintf(note, cap, "%s", why ? why : "invalid detector settings");
    return VIGIL_EINVAL;
  }
  if (c->has_interval && c->interval != n->interval) node__set_interval(n, c->interval, now);
  node__due(n, now);
  snprintf(note, cap,
           "threshold=%g model=%s min_std_dev_ms=%.0f acceptable_pause_ms=%.0f refused=%s interval_ms=%llu "
           "thresholds=%u acceptable_pauses=%u",
           next.threshold, next.model == VIGIL_MODEL_NORMAL ? "normal" : "exponential", (double)next.min_std_dev / 1e6,
           (double)next.acceptable_pause / 1e6, next.refused ? "on" : "off",
           (unsigned long long)(n->interval / VIGIL_MS), c->has_thresholds ? c->nthresholds : 0,
           c->has_acceptable_pauses ? c->nacceptable_pauses : 0);
  return VIGIL_OK;
}

vigil_snapshot *vigil_node_snapshot(const vigil_node *n, vigil_time now) {
  uint32_t slots = vigil_pool_slots(n->pool), count = vigil_pool_count(n->pool);
  /* One allocation: the header, the peers, then their tags' text (the
   * peers' tags point there), so a snapshot is freed, or handed to the
   * other thread, whole. */
  size_t head = sizeof(vigil_snapshot) + (size_t)count * sizeof(vigil_snapshot_peer);
  size_t text_cap = vigil__pool_tag_bytes(n->pool), text_len = 0;
  vigil_snapshot *s = malloc(head + text_cap);
  if (!s) return NULL;
  char *text = (char *)s + head;
  s->refs_ = 0;
  s->at = now;
  vigil__copy(s->self, sizeof s->self, n->self);
  s->threshold = vigil_handler_threshold(n->h);
  s->interval = n->interval;
  s->observers = vigil_members_observers(n->m);
  uint32_t k = 0;
  for (uint32_t i = 0; i < slots && k < count; i++) {
    const vigil_peer *p = vigil_pool_get(n->pool, i);
    if (!p) continue;
    vigil_snapshot_peer *sp = &s->peers[k++];
    vigil__copy(sp->pname, sizeof sp->pname, p->pname);
    vigil__copy(sp->dc, sizeof sp->dc, p->dc);
    vigil__copy(sp->rack, sizeof sp->rack, p->rack);
    sp->state = p->state;
    sp->is_local = p->is_local;
    sp->phi = vigil_handler_phi(n->h, i, now);
    sp->threshold = vigil_pool_threshold_of(n->pool, i);
    sp->acceptable_pause = vigil_pool_acceptable_pause_of(n->pool, i);
    sp->since = p->since;
    sp->cause = (vigil_cause)p->last_cause;
    sp->reason = p->state == VIGIL_STATE_NORMAL ? (vigil_up_reason)p->last_reason : VIGIL_UP_NONE;
    sp->tags = "";
    size_t tl = p->tags ? strlen(p->tags) + 1 : 0;
    if (tl && text_len + tl <= text_cap) {
      memcpy(text + text_len, p->tags, tl);
      sp->tags = text + text_len;
      text_len += tl;
    }
    uint64_t ver;
    vigil_time heard;
    vigil_members_info(n->m, i, &sp->generation, &ver, &heard);
  }
  s->npeers = k;
  return s;
}

char *vigil_node_render_metrics(const vigil_node *n, vigil_time now, size_t *len) {
  char *text = vigil_handler_render_metrics(n->h, now, len);
  return text ? vigil_members_render_metrics(n->m, text, len) : NULL;
}

vigil_pool *vigil_node_pool(const vigil_node *n) { return n->pool; }
vigil_handler *vigil_node_handler(const vigil_node *n) { return n->h; }
vigil_members *vigil_node_members(const vigil_node *n) { return n->m; }
vigil_events *vigil_node_events(const vigil_node *n) { return n->ev; }
const char *vigil_node_self(const vigil_node *n) { return n->self; }
vigil_time vigil_node_interval(const vigil_node *n) { return n->interval; }
uint32_t vigil_node_observers(const vigil_node *n) { return vigil_members_observers(n->m); }
uint64_t vigil_node_refused_unknown(const vigil_node *n) { return n->refused_unknown; }
uint64_t vigil_node_refused_known(const vigil_node *n) { return n->refused_known; }
