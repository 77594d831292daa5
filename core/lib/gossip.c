/*
 * gossip.c - the GossipHandler: the single owner of peer-state transitions.
 *
 * Owns: the decision "is this peer up?" for every peer of a pool, and the
 * consequences of each change of answer (the peer's state and since, its
 * transition counters, the event published, the metrics updated).
 *
 * Must never: block, do I/O, read a clock or allocate in steady state. The
 * agent calls it from the core thread for every heartbeat and every tick;
 * time is the caller's `now`.
 *
 * The rules (those of the reference GossipHandler):
 *   - a heartbeat feeds the peer's detector and promotes the peer to normal
 *     at once when phi(now) <= threshold; unknown pnames and the local peer
 *     are ignored;
 *   - evaluate(now) makes every non-local peer normal iff it has been heard
 *     at least once and phi(now) <= threshold, and down otherwise;
 *   - mark_down convicts without asking the detector (announced shutdown).
 *
 * Every peer_up also says why the peer came up (vigil_up_reason), from what
 * the handler remembers of the peer since it was added: never up before
 * (joined), restarted while it was down (restarted), or neither
 * (recovered). A restart while the peer is up brings no peer_up: the peer
 * never went down, and peer_restarted says what happened. The peer keeps
 * the cause and reason of its latest up or down (last_cause, last_reason)
 * for `vigil members` and the policy's snapshot.
 *
 * The local-pause guard (see vigil_handler_evaluate in vigil.h) is what
 * keeps a stopped or starved agent from convicting everybody when it wakes
 * up: silence is only evidence if we were awake to hear it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Walks over every peer (evaluate, next_due) ask for the peer this many
 * slots ahead: a peer's record is hundreds of bytes, too far apart for the
 * hardware to guess, and a walk is otherwise one cache miss after another
 * when many peers (or many simulated agents) share the caches. */
#define PREFETCH_AHEAD 8

struct vigil_handler {
  vigil_pool *pool;       /* judged peers; not owned */
  vigil_events *events;   /* where transitions are published; may be NULL */
  vigil_metrics *metrics; /* counters to update; may be NULL */
  vigil_time interval;    /* expected time between two evaluate() calls */
  double pause_factor;    /* gap > factor * interval = a local pause */
  vigil_time last_eval;   /* now of the previous evaluate() */
  bool evaluated;         /* evaluate() has run at least once */
  vigil_transition *out;  /* evaluate() results, reused across calls */
  uint32_t out_cap;
  bool peer_counters;              /* count transitions per peer (with metrics) */
  vigil_peer_metrics peer_metrics; /* which per-peer families render_metrics renders */
};

vigil_handler *vigil_handler_new(vigil_pool *pool) {
  if (!pool) return NULL;
  vigil_handler *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->pool = pool;
  h->interval = VIGIL_SEC;
  h->pause_factor = 3.0;
  h->peer_counters = true;
  return h;
}

void vigil_handler_set_peer_counters(vigil_handler *h, bool on) { h->peer_counters = on; }

void vigil_handler_set_peer_metrics(vigil_handler *h, vigil_peer_metrics mode) { h->peer_metrics = mode; }

vigil_peer_metrics vigil_handler_peer_metrics(const vigil_handler *h) { return h->peer_metrics; }

void vigil_handler_free(vigil_handler *h) {
  if (!h) return;
  free(h->out);
  free(h);
}

int vigil_handler_set_threshold(vigil_handler *h, double threshold) {
  if (!(threshold > 0) || !isfinite(threshold)) return VIGIL_EINVAL;
  vigil_detector_config next = *vigil_pool_detector_config(h->pool);
  next.threshold = threshold;
  return vigil_pool_configure(h->pool, &next, NULL);
}

double vigil_handler_threshold(const vigil_handler *h) { return vigil_pool_detector_config(h->pool)->threshold; }

int vigil_handler_set_interval(vigil_handler *h, vigil_time interval) {
  if (interval == 0) return VIGIL_EINVAL;
  h->interval = interval;
  return VIGIL_OK;
}

vigil_time vigil_handler_interval(const vigil_handler *h) { return h->interval; }

int vigil_handler_set_pause_factor(vigil_handler *h, double factor) {
  if (!(factor >= 1.0) || !isfinite(factor)) return VIGIL_EINVAL;
  h->pause_factor = factor;
  return VIGIL_OK;
}

void vigil_handler_attach_metrics(vigil_handler *h, vigil_metrics *m) { h->metrics = m; }
void vigil_handler_attach_events(vigil_handler *h, vigil_events *ev) { h->events = ev; }
vigil_pool *vigil_handler_pool(const vigil_handler *h) { return h->pool; }
vigil_events *vigil_handler_events(const vigil_handler *h) { return h->events; }
vigil_metrics *vigil_handler_metrics(const vigil_handler *h) { return h->metrics; }

const char *vigil_up_reason_name(vigil_up_reason r) {
  static const char *const names[VIGIL_UP_REASONS] = {"", "joined", "recovered", "restarted"};
  return (unsigned)r < VIGIL_UP_REASONS ? names[r] : "";
}

/* Publish a peer event (and count it) when events / metrics are attached. */
static void handler__publish(vigil_handler *h, vigil_event_type type, const vigil_peer *p, vigil_peer_state previous,
                             double phi, vigil_cause cause, vigil_up_reason reason, vigil_time now) {
  if (h->metrics) vigil__metrics_event(h->metrics, type);
  if (!h->events) return;
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = type;
  e.at = now;
  vigil__copy(e.peer, sizeof e.peer, p->pname);
  vigil__copy(e.dc, sizeof e.dc, p->dc);
  vigil__copy(e.rack, sizeof e.rack, p->rack);
  if (p->tags) vigil__copy(e.tags, sizeof e.tags, p->tags);
  e.state = p->state;
  e.previous = previous;
  e.phi = phi;
  e.cause = cause;
  e.reason = reason;
  vigil_events_publish(h->events, &e);
}

/* Count a transition in the peer's own counters, allocated on first use. */
static void handler__count(vigil_handler *h, vigil_peer *p, vigil_peer_state from, vigil_peer_state to) {
  if (!h->metrics || !h->peer_counters) return;
  if (!p->transitions) {
    p->transitions = calloc(VIGIL_STATE_COUNT * VIGIL_STATE_COUNT, sizeof *p->transitions);
    if (!p->transitions) return; /* the count is lost, the transition is not */
  }
  p->transitions[from * VIGIL_STATE_COUNT + to]++;
}

/* Apply one transition. Returns false when the peer already was in `to`. */
static bool handler__apply(vigil_handler *h, vigil_peer *p, vigil_peer_state to, double phi, vigil_cause cause,
                           vigil_time now) {
  vigil_peer_state from = p->state;
  if (from == to) return false;
  p->state = to;
  p->since = now;
  handler__count(h, p, from, to);
  bool up = to == VIGIL_STATE_NORMAL;
  vigil_up_reason reason = !up            ? VIGIL_UP_NONE
                           : !p->ever_up  ? VIGIL_UP_JOINED
                           : p->restarted ? VIGIL_UP_RESTARTED
                                          : VIGIL_UP_RECOVERED;
  if (up) p->ever_up = true, p->restarted = false;
  p->last_cause = (uint8_t)cause;
  p->last_reason = (uint8_t)reason;
  if (h->metrics && to == VIGIL_STATE_DOWN) vigil__metrics_conviction(h->metrics, cause);
  handler__publish(h, up ? VIGIL_EVENT_PEER_UP : VIGIL_EVENT_PEER_DOWN, p, from, phi, cause, reason, now);
  return true;
}

/* Where the peer's silence is counted from: its latest heartbeat, or the end
 * of a local pause when that came later (the guard). */
static vigil_time handler__silent_from(const vigil_peer *p) {
  return p->detector.last > p->guard_since ? p->detector.last : p->guard_since;
}

/* A refusal newer than the peer's latest heartbeat, with the peer overdue:
 * the process behind the port is gone (see vigil_handler_refused). */
static bool handler__refused_overdue(const vigil_peer *p, vigil_time now) {
  const vigil_detector *d = &p->detector;
  if (!d->cfg->refused || !(p->refused_at > d->last) || !vigil_detector_is_monitoring(d)) return false;
  vigil_time from = handler__silent_from(p);
  return now > from && now - from > vigil__detector_overdue(d);
}

static double handler__phi(const vigil_peer *p, vigil_time now) {
  return vigil_detector_phi_since(&p->detector, p->guard_since, now);
}

double vigil_handler_phi(const vigil_handler *h, uint32_t idx, vigil_time now) {
  const vigil_peer *p = vigil_pool_get(h->pool, idx);
  if (!p) return NAN;
  return p->is_local ? 0.0 : handler__phi(p, now);
}

int vigil_handler_record_heartbeat_idx(vigil_handler *h, uint32_t idx, vigil_time now) {
  vigil_peer *p = vigil_pool_get(h->pool, idx);
  if (!p) {
    if (h->metrics) vigil__metrics_heartbeat_ignored(h->metrics, VIGIL__IGNORED_UNKNOWN);
    return VIGIL_ENOENT;
  }
  if (p->is_local) {
    if (h->metrics) vigil__metrics_heartbeat_ignored(h->metrics, VIGIL__IGNORED_LOCAL);
    return VIGIL_ELOCAL;
  }
  vigil_detector_heartbeat(&p->detector, now);
  p->heartbeats++;
  if (p->state == VIGIL_STATE_NORMAL) return 0;
  if (vigil__detector_cmp(&p->detector, p->guard_since, now) > 0) return 0;
  return handler__apply(h, p, VIGIL_STATE_NORMAL, handler__phi(p, now), VIGIL_CAUSE_HEARTBEAT, now);
}

int vigil_handler_record_heartbeat_pname(vigil_handler *h, const char *pname, vigil_time now) {
  vigil_peer *p = vigil_pool_find(h->pool, pname);
  if (!p) {
    if (h->metrics) vigil__metrics_heartbeat_ignored(h->metrics, VIGIL__IGNORED_UNKNOWN);
    return VIGIL_ENOENT;
  }
  return vigil_handler_record_heartbeat_idx(h, p->idx, now);
}

/* Make room for one result per slot; on ENOMEM keep the old buffer. */
static void handler__reserve(vigil_handler *h) {
  uint32_t want = vigil_pool_slots(h->pool);
  if (want <= h->out_cap) return;
  uint32_t cap = h->out_cap ? h->out_cap : 16;
  while (cap < want) cap *= 2;
  vigil_transition *t = realloc(h->out, (size_t)cap * sizeof *t);
  if (!t) return;
  h->out = t;
  h->out_cap = cap;
}

/* A judging pass starts at `now`: was this agent paused since the previous
 * one (the local-pause guard)? */
static bool handler__pass(vigil_handler *h, vigil_time now) {
  bool paused =
      h->evaluated && now > h->last_eval && (double)(now - h->last_eval) > h->pause_factor * (double)h->interval;
  h->last_eval = now;
  h->evaluated = true;
  return paused;
}

size_t vigil_handler_evaluate(vigil_handler *h, vigil_time now, const vigil_transition **out) {
  handler__reserve(h);
  vigil_pool *pool = h->pool;
  uint32_t slots = vigil_pool_slots(pool);
  bool paused = handler__pass(h, now);

  size_t n = 0;
  uint32_t deferred = 0;
  for (uint32_t i = 0; i < slots; i++) {
    vigil__pool_prefetch_slot(pool, i + PREFETCH_AHEAD);
    vigil_peer *p = vigil_pool_get(pool, i);
    if (!p || p->is_local) continue;
    vigil_detector *d = &p->detector;
    if (paused && p->state == VIGIL_STATE_NORMAL) p->guard_since = now;
    if (d->horizon_for != d->cfg->threshold) vigil__detector_refresh(d);
    bool heard = vigil_detector_is_monitoring(d);
    vigil_peer_state want =
        heard && vigil__detector_cmp(d, p->guard_since, now) <= 0 ? VIGIL_STATE_NORMAL : VIGIL_STATE_DOWN;
    vigil_cause cause = VIGIL_CAUSE_PHI;
    if (want == VIGIL_STATE_NORMAL && handler__refused_overdue(p, now)) { /* and it stays down */
      want = VIGIL_STATE_DOWN;
      cause = VIGIL_CAUSE_REFUSED;
    }
    if (want == VIGIL_STATE_NORMAL && p->state == VIGIL_STATE_NORMAL && p->guard_since > d->last &&
        vigil__detector_cmp(d, 0, now) > 0)
      deferred++; /* convicted but for the guard */
    if (want == p->state) continue;
    if (n == h->out_cap) break; /* out of memory for results: rest next tick */
    double phi = heard ? handler__phi(p, now) : 0.0;
    vigil_transition *t = &h->out[n++];
    t->idx = i;
    t->previous = p->state;
    t->state = want;
    t->phi = phi;
    handler__apply(h, p, want, phi, cause, now);
  }
  if (h->metrics) vigil__metrics_evaluation(h->metrics, paused, deferred);
  if (out) *out = h->out;
  return n;
}

int vigil_handler_mark_down_pname(vigil_handler *h, const char *pname, vigil_time now) {
  vigil_peer *p = vigil_pool_find(h->pool, pname);
  if (!p) return VIGIL_ENOENT;
  if (p->is_local) return VIGIL_ELOCAL;
  double phi = handler__phi(p, now);
  handler__apply(h, p, VIGIL_STATE_DOWN, phi, VIGIL_CAUSE_MARKED, now);
  vigil_detector_reset(&p->detector);
  return VIGIL_OK;
}

int vigil_handler_refused(vigil_handler *h, uint32_t idx, vigil_time now) {
  vigil_peer *p = vigil_pool_get(h->pool, idx);
  if (!p) return VIGIL_ENOENT;
  if (p->is_local) return VIGIL_ELOCAL;
  if (h->metrics) vigil__metrics_refused(h->metrics);
  if (now > p->refused_at) p->refused_at = now;
  if (p->state != VIGIL_STATE_NORMAL || !handler__refused_overdue(p, now)) return 0;
  return handler__apply(h, p, VIGIL_STATE_DOWN, handler__phi(p, now), VIGIL_CAUSE_REFUSED, now);
}

int vigil_handler_refused_pname(vigil_handler *h, const char *pname, vigil_time now) {
  vigil_peer *p = vigil_pool_find(h->pool, pname);
  if (!p) return VIGIL_ENOENT;
  return vigil_handler_refused(h, p->idx, now);
}

/* When a monitored peer's phi reaches its threshold, or, refused, it
 * becomes overdue, if nothing more is heard from it (UINT64_MAX = never).
 * The cached horizon is within a nanosecond or so of the exact deadline; a
 * microsecond late is late enough to find it crossed. */
static vigil_time handler__deadline(vigil_peer *p) {
  vigil_detector *d = &p->detector;
  if (d->horizon_for != d->cfg->threshold) vigil__detector_refresh(d);
  vigil_time from = handler__silent_from(p), due = UINT64_MAX;
  if (isfinite(d->horizon) && d->horizon < (double)(UINT64_MAX - from) / 2)
    due = from + (vigil_time)d->horizon + VIGIL_US;
  if (d->cfg->refused && p->refused_at > d->last) {
    vigil_time t = from + vigil__detector_overdue(d) + VIGIL_US;
    if (t < due) due = t;
  }
  return due;
}

vigil_time vigil_handler_next_due(const vigil_handler *h, vigil_time now) {
  vigil_time due = UINT64_MAX;
  uint32_t slots = vigil_pool_slots(h->pool);
  for (uint32_t i = 0; i < slots; i++) {
    vigil__pool_prefetch_slot(h->pool, i + PREFETCH_AHEAD);
    vigil_peer *p = vigil_pool_get(h->pool, i);
    if (!p || p->is_local || p->state != VIGIL_STATE_NORMAL) continue;
    if (!vigil_detector_is_monitoring(&p->detector)) return now; /* convicted at the next evaluate */
    vigil_time t = handler__deadline(p);
    if (t < due) due = t;
  }
  return due < now ? now : due;
}

/* ---- large clusters: the protocol decides, the handler applies ------------ */

static vigil_peer *handler__remote(const vigil_handler *h, uint32_t idx, int *rc) {
  vigil_peer *p = vigil_pool_get(h->pool, idx);
  *rc = !p ? VIGIL_ENOENT : p->is_local ? VIGIL_ELOCAL : VIGIL_OK;
  return *rc ? NULL : p;
}

int vigil_handler_feed(vigil_handler *h, uint32_t idx, vigil_time now) {
  int rc;
  vigil_peer *p = handler__remote(h, idx, &rc);
  if (!p) return rc;
  vigil_detector_heartbeat(&p->detector, now);
  p->heartbeats++;
  return VIGIL_OK;
}

bool vigil_handler_begin_pass(vigil_handler *h, vigil_time now) {
  bool paused = handler__pass(h, now);
  if (h->metrics) vigil__metrics_evaluation(h->metrics, paused, 0);
  return paused;
}

int vigil_handler_judge(vigil_handler *h, uint32_t idx, vigil_time now, bool paused, vigil_cause *cause) {
  int rc;
  vigil_peer *p = handler__remote(h, idx, &rc);
  if (!p) return rc;
  vigil_detector *d = &p->detector;
  if (paused) p->guard_since = now;
  if (d->horizon_for != d->cfg->threshold) vigil__detector_refresh(d);
  if (!vigil_detector_is_monitoring(d)) return 0; /* not watched yet: vigil_handler_watch */
  if (vigil__detector_cmp(d, p->guard_since, now) > 0) {
    if (cause) *cause = VIGIL_CAUSE_PHI;
    return 1;
  }
  if (handler__refused_overdue(p, now)) {
    if (cause) *cause = VIGIL_CAUSE_REFUSED;
    return 1;
  }
  return 0;
}

int vigil_handler_watch(vigil_handler *h, uint32_t idx, vigil_time now) {
  int rc;
  vigil_peer *p = handler__remote(h, idx, &rc);
  if (!p) return rc;
  p->guard_since = now;
  /* Never heard: its first heartbeat is as good as due now, so that a
   * subject that never answers is judged like one that fell silent. */
  if (!vigil_detector_is_monitoring(&p->detector)) vigil_detector_heartbeat(&p->detector, now);
  return VIGIL_OK;
}

int vigil_handler_note_refused(vigil_handler *h, uint32_t idx, vigil_time now) {
  int rc;
  vigil_peer *p = handler__remote(h, idx, &rc);
  if (!p) return rc;
  if (h->metrics) vigil__metrics_refused(h->metrics);
  if (now > p->refused_at) p->refused_at = now;
  return VIGIL_OK;
}

int vigil_handler_set_state(vigil_handler *h, uint32_t idx, vigil_peer_state to, vigil_cause cause, vigil_time now) {
  int rc;
  vigil_peer *p = handler__remote(h, idx, &rc);
  if (!p) return rc;
  if (to != VIGIL_STATE_NORMAL && to != VIGIL_STATE_DOWN) return VIGIL_EINVAL;
  double phi = vigil_detector_is_monitoring(&p->detector) ? handler__phi(p, now) : 0.0;
  return handler__apply(h, p, to, phi, cause, now) ? 1 : 0;
}

vigil_time vigil_handler_due_of(const vigil_handler *h, uint32_t idx, vigil_time now) {
  vigil_peer *p = vigil_pool_get(h->pool, idx);
  if (!p || p->is_local || !vigil_detector_is_monitoring(&p->detector)) return UINT64_MAX;
  vigil_time due = handler__deadline(p);
  return due < now ? now : due;
}

int vigil_handler_reset_detector(vigil_handler *h, uint32_t idx) {
  vigil_peer *p = vigil_pool_get(h->pool, idx);
  if (!p) return VIGIL_ENOENT;
  vigil_detector_reset(&p->detector);
  return VIGIL_OK;
}

int vigil_handler_add_peer(vigil_handler *h, const vigil_peer_spec *spec, vigil_time now, uint32_t *idx) {
  uint32_t i;
  int rc = vigil_pool_add(h->pool, spec, now, &i);
  if (rc) return rc;
  const vigil_peer *p = vigil_pool_get(h->pool, i);
  handler__publish(h, VIGIL_EVENT_PEER_JOINED, p, VIGIL_STATE_UNKNOWN, 0.0, VIGIL_CAUSE_NONE, VIGIL_UP_NONE, now);
  if (idx) *idx = i;
  return VIGIL_OK;
}

int vigil_handler_peer_left(vigil_handler *h, const char *pname, vigil_time now) {
  vigil_peer *p = vigil_pool_find(h->pool, pname);
  if (!p) return VIGIL_ENOENT;
  if (p->is_local) return VIGIL_ELOCAL;
  vigil_peer_state before = p->state;
  int rc = vigil_handler_mark_down_pname(h, pname, now);
  if (rc) return rc;
  handler__publish(h, VIGIL_EVENT_PEER_LEFT, p, before, 0.0, VIGIL_CAUSE_NONE, VIGIL_UP_NONE, now);
  return VIGIL_OK;
}

int vigil_handler_peer_restarted(vigil_handler *h, uint32_t idx, vigil_time now) {
  vigil_peer *p = vigil_pool_get(h->pool, idx);
  if (!p) return VIGIL_ENOENT;
  if (p->is_local) return VIGIL_ELOCAL;
  vigil_detector_reset(&p->detector);
  /* Down, its next up is the new process's; up, it never went down, and
   * a later down and up happen at the new generation (recovered). */
  if (p->state != VIGIL_STATE_NORMAL) p->restarted = true;
  handler__publish(h, VIGIL_EVENT_PEER_RESTARTED, p, p->state, 0.0, VIGIL_CAUSE_NONE, VIGIL_UP_NONE, now);
  return VIGIL_OK;
}

int vigil_handler_remove_peer(vigil_handler *h, const char *pname) { return vigil_pool_remove(h->pool, pname); }

int vigil_handler_set_local_state(vigil_handler *h, vigil_peer_state s, vigil_time now) {
  if ((unsigned)s >= VIGIL_STATE_COUNT) return VIGIL_EINVAL;
  int64_t local = vigil_pool_local(h->pool);
  if (local < 0) return VIGIL_ENOENT;
  vigil_peer *p = vigil_pool_get(h->pool, (uint32_t)local);
  if (p->state == s) return VIGIL_OK;
  handler__count(h, p, p->state, s);
  p->state = s;
  p->since = now;
  return VIGIL_OK;
}

void vigil_handler_gossip_round(vigil_handler *h, vigil_time duration, uint32_t peers_seen, vigil_time now) {
  if (h->metrics) {
    vigil__metrics_gossip_round(h->metrics, duration, peers_seen);
    vigil__metrics_event(h->metrics, VIGIL_EVENT_GOSSIP_ROUND);
  }
  if (!h->events) return;
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = VIGIL_EVENT_GOSSIP_ROUND;
  e.at = now;
  e.duration = duration;
  e.peers_seen = peers_seen;
  vigil_events_publish(h->events, &e);
}
