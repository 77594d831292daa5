/*
 * metrics.c - FailureMetrics: what the handler counts, rendered in the
 * Prometheus text exposition format (0.0.4).
 *
 * Owns: the handler-wide counters (ignored heartbeats, evaluations, local
 * pauses, deferred convictions, events by type, gossip rounds) and the
 * rendering of every family, per-peer ones included. Per-peer counters live
 * in the peer (vigil_peer.transitions, .heartbeats) so they come and go with
 * it and cost no lookup on the hot path.
 *
 * Names follow Prometheus' conventions: every family starts with vigil_,
 * counters end in _total and gauges never do, values are in base units
 * (seconds, bytes), a state is a label with one 0/1 series per state. The
 * per-peer families are all vigil_peer_*: a cluster of N agents scraped
 * whole holds N * N series of each, so vigil_handler_set_peer_metrics can
 * leave them out (docs/AGENT.md, "Metrics", lists every family).
 *
 * Must never: be called from another thread than the handler's, or render
 * anything promtool would reject (every family has HELP and TYPE, counters
 * end in _total, label values are escaped, phi is a float, never milli-units).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vigil_metrics {
  uint64_t ignored[VIGIL__IGNORED_COUNT]; /* heartbeats dropped, by reason */
  uint64_t evaluations;                   /* evaluate() calls */
  uint64_t local_pauses;                  /* evaluate() calls that found a pause */
  uint64_t deferred;                      /* peer-ticks spared by the pause guard */
  uint64_t events[VIGIL_EVENT_TYPES];     /* published events, by type */
  uint64_t rounds;                        /* gossip rounds reported */
  double round_seconds_sum;               /* their total duration */
  uint32_t last_round_peers;              /* peers seen in the latest round */
  uint64_t refused;                       /* "port unreachable" reports for peers */
  uint64_t convictions[VIGIL_CAUSES];     /* peers convicted, by cause */
};

vigil_metrics *vigil_metrics_new(void) { return calloc(1, sizeof(vigil_metrics)); }

void vigil_metrics_free(vigil_metrics *m) { free(m); }

void vigil__metrics_heartbeat_ignored(vigil_metrics *m, vigil__ignored why) { m->ignored[why]++; }

void vigil__metrics_evaluation(vigil_metrics *m, bool paused, uint32_t deferred) {
  m->evaluations++;
  m->local_pauses += paused;
  m->deferred += deferred;
}

void vigil__metrics_event(vigil_metrics *m, vigil_event_type t) {
  if ((unsigned)t < VIGIL_EVENT_TYPES) m->events[t]++;
}

void vigil__metrics_refused(vigil_metrics *m) { m->refused++; }

uint64_t vigil__metrics_refused_total(const vigil_metrics *m) { return m->refused; }

void vigil__metrics_conviction(vigil_metrics *m, vigil_cause c) {
  if ((unsigned)c < VIGIL_CAUSES) m->convictions[c]++;
}

void vigil__metrics_gossip_round(vigil_metrics *m, vigil_time duration, uint32_t peers_seen) {
  m->rounds++;
  m->round_seconds_sum += (double)duration / 1e9;
  m->last_round_peers = peers_seen;
}

static void family(vigil__buf *b, const char *name, const char *type, const char *help) {
  vigil__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{peer="..."[,dc="...",rack="..."][,state="..."]} value: placement
 * labels when asked, a state label when given one. */
static void peer_sample(vigil__buf *b, const char *name, const vigil_peer *p, bool placement, const char *state,
                        double v) {
  vigil__buf_printf(b, "%s{peer=\"", name);
  vigil__buf_label(b, p->pname);
  if (placement) {
    vigil__buf_puts(b, "\",dc=\"");
    vigil__buf_label(b, p->dc);
    vigil__buf_puts(b, "\",rack=\"");
    vigil__buf_label(b, p->rack);
  }
  if (state) vigil__buf_printf(b, "\",state=\"%s", state);
  vigil__buf_puts(b, "\"} ");
  vigil__buf_value(b, v);
  vigil__buf_puts(b, "\n");
}

/* Whether the vigil_peer_* families are rendered now: a cluster of N
 * agents scraped whole holds N * N of each, so they can be turned off, and
 * "auto" turns them off past VIGIL_PEER_METRICS_AUTO_MAX members. */
static bool peer_families_on(const vigil_handler *h) {
  switch (vigil_handler_peer_metrics(h)) {
  case VIGIL_PEER_METRICS_ON: return true;
  case VIGIL_PEER_METRICS_OFF: return false;
  default: return vigil_pool_count(vigil_handler_pool(h)) <= VIGIL_PEER_METRICS_AUTO_MAX;
  }
}

static void render_handler_wide(const vigil_metrics *m, vigil__buf *b) {
  static const char *const reasons[VIGIL__IGNORED_COUNT] = {"unknown_peer", "local_peer"};
  family(b, "vigil_heartbeats_ignored_total", "counter", "Heartbeats the handler ignored, by reason.");
  for (int i = 0; i < VIGIL__IGNORED_COUNT; i++)
    vigil__buf_printf(b, "vigil_heartbeats_ignored_total{reason=\"%s\"} %llu\n", reasons[i],
                      (unsigned long long)m->ignored[i]);
  family(b, "vigil_evaluations_total", "counter", "Evaluate ticks run.");
  vigil__buf_printf(b, "vigil_evaluations_total %llu\n", (unsigned long long)m->evaluations);
  family(b, "vigil_local_pauses_total", "counter",
         "Evaluate ticks that came so late this agent must have been paused.");
  vigil__buf_printf(b, "vigil_local_pauses_total %llu\n", (unsigned long long)m->local_pauses);
  family(b, "vigil_convictions_deferred_total", "counter",
         "Peer evaluations whose conviction the local-pause guard held back.");
  vigil__buf_printf(b, "vigil_convictions_deferred_total %llu\n", (unsigned long long)m->deferred);
  family(b, "vigil_refused_total", "counter",
         "Datagrams to a known peer that its host refused (ICMP port unreachable).");
  vigil__buf_printf(b, "vigil_refused_total %llu\n", (unsigned long long)m->refused);
  family(b, "vigil_convictions_total", "counter",
         "Transitions of peers to down, by the evidence: phi, refused, marked (it left), observers.");
  for (int c = VIGIL_CAUSE_PHI; c < VIGIL_CAUSES; c++)
    if (c != VIGIL_CAUSE_MEMBERSHIP) /* evidence for up, never for down */
      vigil__buf_printf(b, "vigil_convictions_total{cause=\"%s\"} %llu\n", vigil_cause_name((vigil_cause)c),
                        (unsigned long long)m->convictions[c]);
  family(b, "vigil_events_total", "counter", "Cluster events published, by type.");
  for (int t = VIGIL_EVENT_PEER_UP; t < VIGIL_EVENT_LAGGED; t++)
    vigil__buf_printf(b, "vigil_events_total{type=\"%s\"} %llu\n", vigil_event_name((vigil_event_type)t),
                      (unsigned long long)m->events[t]);
  family(b, "vigil_gossip_round_duration_seconds", "summary", "Duration of the gossip rounds reported.");
  vigil__buf_puts(b, "vigil_gossip_round_duration_seconds_sum ");
  vigil__buf_value(b, m->round_seconds_sum);
  vigil__buf_printf(b, "\nvigil_gossip_round_duration_seconds_count %llu\n", (unsigned long long)m->rounds);
  family(b, "vigil_gossip_round_peers_seen", "gauge", "Peers heard from in the latest gossip round.");
  vigil__buf_printf(b, "vigil_gossip_round_peers_seen %u\n", m->last_round_peers);
}

/* The vigil_peer_* families: one series (or one per state) per member. */
static void render_per_peer(const vigil_handler *h, vigil__buf *b, vigil_time now) {
  vigil_pool *pool = vigil_handler_pool(h);
  uint32_t slots = vigil_pool_slots(pool);

  family(b, "vigil_peer_state_transitions_total", "counter",
         "State transitions the handler applied, by peer and from/to state.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (!p) continue;
    for (int from = 0; from < VIGIL_STATE_COUNT; from++)
      for (int to = 0; to < VIGIL_STATE_COUNT; to++) {
        if (!vigil_peer_transitions(p, (vigil_peer_state)from, (vigil_peer_state)to)) continue;
        vigil__buf_puts(b, "vigil_peer_state_transitions_total{peer=\"");
        vigil__buf_label(b, p->pname);
        vigil__buf_printf(b, "\",from=\"%s\",to=\"%s\"} %u\n", vigil_state_name((vigil_peer_state)from),
                          vigil_state_name((vigil_peer_state)to),
                          vigil_peer_transitions(p, (vigil_peer_state)from, (vigil_peer_state)to));
      }
  }

  /* One series per state, 1 for the peer's state and 0 for the others
   * (a state set): sum by (state) counts peers, == 1 selects them. */
  family(b, "vigil_peer_state", "gauge",
         "1 for each peer's current state, 0 for the others (unknown, joining, normal, standby, down, reset, "
         "leaving).");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (!p) continue;
    for (int s = 0; s < VIGIL_STATE_COUNT; s++)
      peer_sample(b, "vigil_peer_state", p, true, vigil_state_name((vigil_peer_state)s),
                  p->state == (vigil_peer_state)s);
  }

  family(b, "vigil_peer_phi", "gauge", "Current phi-accrual suspicion of each remote peer.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p && !p->is_local) peer_sample(b, "vigil_peer_phi", p, true, NULL, vigil_handler_phi(h, i, now));
  }

  family(b, "vigil_peer_heartbeats_total", "counter", "Heartbeats recorded for each remote peer.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p && !p->is_local) peer_sample(b, "vigil_peer_heartbeats_total", p, false, NULL, (double)p->heartbeats);
  }

  family(b, "vigil_peer_last_heartbeat_age_seconds", "gauge",
         "Seconds since the latest heartbeat of each monitored peer.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (!p || p->is_local || !vigil_detector_is_monitoring(&p->detector)) continue;
    vigil_time last = p->detector.last;
    peer_sample(b, "vigil_peer_last_heartbeat_age_seconds", p, false, NULL,
                now > last ? (double)(now - last) / 1e9 : 0.0);
  }

  family(b, "vigil_peer_heartbeat_interval_mean_seconds", "gauge",
         "Mean heartbeat inter-arrival time in each peer's detector window.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p && !p->is_local && vigil_detector_samples(&p->detector))
      peer_sample(b, "vigil_peer_heartbeat_interval_mean_seconds", p, false, NULL,
                  vigil_detector_mean(&p->detector) / 1e9);
  }

  family(b, "vigil_peer_heartbeat_interval_stddev_seconds", "gauge",
         "Standard deviation of the heartbeat inter-arrival times in each peer's window.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p && !p->is_local && vigil_detector_samples(&p->detector))
      peer_sample(b, "vigil_peer_heartbeat_interval_stddev_seconds", p, false, NULL,
                  sqrt(vigil_detector_variance(&p->detector)) / 1e9);
  }

  family(b, "vigil_peer_state_age_seconds", "gauge", "Seconds each peer has been in its current state.");
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p)
      peer_sample(b, "vigil_peer_state_age_seconds", p, false, NULL,
                  now > p->since ? (double)(now - p->since) / 1e9 : 0.0);
  }
}

char *vigil_handler_render_metrics(const vigil_handler *h, vigil_time now, size_t *len) {
  vigil__buf b = {NULL, 0, 0, false};
  vigil_pool *pool = vigil_handler_pool(h);
  uint32_t slots = vigil_pool_slots(pool);
  const vigil_metrics *m = vigil_handler_metrics(h);

  bool per_peer = peer_families_on(h);
  family(&b, "vigil_metrics_per_peer", "gauge",
         "1 while the per-peer families (vigil_peer_*) are rendered; 0 when metrics_per_peer turned them off.");
  vigil__buf_printf(&b, "vigil_metrics_per_peer %d\n", per_peer ? 1 : 0);
  if (per_peer) render_per_peer(h, &b, now);

  uint32_t by_state[VIGIL_STATE_COUNT] = {0};
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p) by_state[p->state]++;
  }
  family(&b, "vigil_members", "gauge", "Members this agent knows (itself included), by state.");
  for (int s = 0; s < VIGIL_STATE_COUNT; s++)
    vigil__buf_printf(&b, "vigil_members{state=\"%s\"} %u\n", vigil_state_name((vigil_peer_state)s), by_state[s]);

  family(&b, "vigil_phi_threshold", "gauge", "Phi at which a peer is convicted.");
  vigil__buf_puts(&b, "vigil_phi_threshold ");
  vigil__buf_value(&b, vigil_handler_threshold(h));
  vigil__buf_puts(&b, "\n");

  if (m) render_handler_wide(m, &b);

  if (b.failed) {
    free(b.data);
    return NULL;
  }
  if (len) *len = b.len;
  return b.data;
}
