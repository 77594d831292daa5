/*
 * test_metrics.c - the Prometheus rendering of the handler's metrics:
 * families, labels, escaping, values. (spec/core_spec.lua also pipes the
 * output through promtool.)
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"

#define MS(x) ((vigil_time)(x)*VIGIL_MS)

static char *render(vigil_handler *h, vigil_time now) {
  size_t len = 0;
  char *s = vigil_handler_render_metrics(h, now, &len);
  if (s && strlen(s) != len) {
    free(s);
    return NULL;
  }
  return s;
}

TEST(metrics_cover_transitions_state_phi_and_handler_counters) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.dc = "eu-1";
  cfg.detector.acceptable_pause = MS(200);
  vigil_pool *pool = vigil_pool_new(&cfg, NULL);
  vigil_handler *h = vigil_handler_new(pool);
  vigil_metrics *m = vigil_metrics_new();
  vigil_events *ev = vigil_events_new(16);
  vigil_handler_attach_metrics(h, m);
  vigil_handler_attach_events(h, ev);
  vigil_peer_spec me = {"127.0.0.1:7000", NULL, "r1", NULL, 0, true, false};
  vigil_peer_spec a = {"127.0.0.1:7001", NULL, "r1", NULL, 0, false, false};
  uint32_t ia;
  vigil_pool_add(pool, &me, 0, NULL);
  vigil_handler_add_peer(h, &a, 0, &ia);
  for (int i = 0; i < 10; i++) vigil_handler_record_heartbeat_idx(h, ia, MS(200 * i));
  vigil_handler_evaluate(h, MS(2000), NULL);
  vigil_handler_evaluate(h, MS(2900), NULL); /* silent 1.1 s: down */
  vigil_handler_evaluate(h, MS(9000), NULL); /* 6.1 s after the last tick: a pause */
  vigil_handler_record_heartbeat_pname(h, "127.0.0.9:1", MS(9000));
  vigil_handler_record_heartbeat_pname(h, "127.0.0.1:7000", MS(9000));
  vigil_handler_gossip_round(h, MS(2), 1, MS(9000));

  char *s = render(h, MS(9500));
  CHECK(s != NULL);
  if (!s) return;
  CHECK(strstr(s, "# TYPE peer_state_transitions_total counter\n"));
  CHECK(strstr(s, "peer_state_transitions_total{peer=\"127.0.0.1:7001\",from=\"down\",to=\"normal\"} 1\n"));
  CHECK(strstr(s, "peer_state_transitions_total{peer=\"127.0.0.1:7001\",from=\"normal\",to=\"down\"} 1\n"));
  CHECK(strstr(s, "peer_state_current{peer=\"127.0.0.1:7001\",dc=\"eu-1\",rack=\"r1\"} 4\n"));
  CHECK(strstr(s, "peer_state_current{peer=\"127.0.0.1:7000\",dc=\"eu-1\",rack=\"r1\"} 1\n"));
  CHECK(strstr(s, "# TYPE gossip_phi_score gauge\n"));
  CHECK(strstr(s, "gossip_phi_score{peer=\"127.0.0.1:7001\",dc=\"eu-1\",rack=\"r1\"} "));
  CHECK(!strstr(s, "gossip_phi_score{peer=\"127.0.0.1:7000\""));
  CHECK(strstr(s, "peer_heartbeats_total{peer=\"127.0.0.1:7001\"} 10\n"));
  CHECK(strstr(s, "peer_last_heartbeat_age_seconds{peer=\"127.0.0.1:7001\"} 7.7"));
  CHECK(strstr(s, "cluster_peers{state=\"down\"} 1\n"));
  CHECK(strstr(s, "cluster_peers{state=\"joining\"} 1\n"));
  CHECK(strstr(s, "gossip_phi_threshold 8\n"));
  CHECK(strstr(s, "gossip_heartbeats_ignored_total{reason=\"unknown_peer\"} 1\n"));
  CHECK(strstr(s, "gossip_heartbeats_ignored_total{reason=\"local_peer\"} 1\n"));
  CHECK(strstr(s, "gossip_evaluations_total 3\n"));
  CHECK(strstr(s, "gossip_local_pauses_total 1\n"));
  CHECK(strstr(s, "cluster_events_total{type=\"peer_up\"} 1\n"));
  CHECK(strstr(s, "cluster_events_total{type=\"peer_down\"} 1\n"));
  CHECK(strstr(s, "cluster_events_total{type=\"peer_joined\"} 1\n"));
  CHECK(strstr(s, "gossip_round_duration_seconds_count 1\n"));
  CHECK(strstr(s, "gossip_round_duration_seconds_sum 0.002"));
  CHECK(strstr(s, "gossip_round_peers_seen 1\n"));
  /* phi is a float, not milli-units: the silent peer's phi at 9.5 s. */
  const char *phi = strstr(s, "gossip_phi_score{peer=\"127.0.0.1:7001\"");
  if (phi) {
    double v = atof(strchr(phi, '}') + 2);
    CHECK_NEAR(v, vigil_handler_phi(h, ia, MS(9500)), 1e-9);
  }
  free(s);
  vigil_handler_free(h);
  vigil_metrics_free(m);
  vigil_events_free(ev);
  vigil_pool_free(pool);
}

TEST(label_values_are_escaped) {
  vigil_pool *pool = vigil_pool_new(NULL, NULL);
  vigil_handler *h = vigil_handler_new(pool);
  vigil_peer_spec a = {"127.0.0.1:1", "d\\c", "r\"k", NULL, 0, false, false};
  vigil_pool_add(pool, &a, 0, NULL);
  char *s = render(h, 0);
  CHECK(s && strstr(s, "peer_state_current{peer=\"127.0.0.1:1\",dc=\"d\\\\c\",rack=\"r\\\"k\"} 4\n"));
  /* Without attached metrics the handler-wide families are absent. */
  CHECK(s && !strstr(s, "gossip_evaluations_total"));
  free(s);
  vigil_handler_free(h);
  vigil_pool_free(pool);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(metrics_cover_transitions_state_phi_and_handler_counters);
  RUN(label_values_are_escaped);
  return CHECK_DONE();
}
