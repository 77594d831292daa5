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

/* Lines of s starting with prefix; *sum (when given) adds up their values. */
static int lines_starting(const char *s, const char *prefix, double *sum) {
  int n = 0;
  size_t len = strlen(prefix);
  for (const char *line = s; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    if (strncmp(line, prefix, len) != 0) continue;
    n++;
    const char *end = strchr(line, '\n'), *sp = line;
    for (const char *c = line; c < end; c++)
      if (*c == ' ') sp = c;
    if (sum) *sum += atof(sp + 1);
  }
  return n;
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
  vigil_peer_spec me = {"127.0.0.1:7000", NULL, "r1", NULL, 0, true, false, NULL};
  vigil_peer_spec a = {"127.0.0.1:7001", NULL, "r1", NULL, 0, false, false, NULL};
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
  CHECK(strstr(s, "# TYPE vigil_peer_state_transitions_total counter\n"));
  CHECK(strstr(s, "vigil_peer_state_transitions_total{peer=\"127.0.0.1:7001\",from=\"down\",to=\"normal\"} 1\n"));
  CHECK(strstr(s, "vigil_peer_state_transitions_total{peer=\"127.0.0.1:7001\",from=\"normal\",to=\"down\"} 1\n"));
  /* One 0/1 series per state: 1 for the state the peer is in. */
  CHECK(strstr(s, "# TYPE vigil_peer_state gauge\n"));
  CHECK(strstr(s, "vigil_peer_state{peer=\"127.0.0.1:7001\",dc=\"eu-1\",rack=\"r1\",state=\"down\"} 1\n"));
  CHECK(strstr(s, "vigil_peer_state{peer=\"127.0.0.1:7001\",dc=\"eu-1\",rack=\"r1\",state=\"normal\"} 0\n"));
  CHECK(strstr(s, "vigil_peer_state{peer=\"127.0.0.1:7001\",dc=\"eu-1\",rack=\"r1\",state=\"unknown\"} 0\n"));
  CHECK(strstr(s, "vigil_peer_state{peer=\"127.0.0.1:7000\",dc=\"eu-1\",rack=\"r1\",state=\"joining\"} 1\n"));
  CHECK_INT(lines_starting(s, "vigil_peer_state{peer=\"127.0.0.1:7001\"", NULL), VIGIL_STATE_COUNT);
  double ones = 0;
  lines_starting(s, "vigil_peer_state{peer=\"127.0.0.1:7001\"", &ones);
  CHECK_NEAR(ones, 1, 0);
  CHECK(strstr(s, "# TYPE vigil_peer_phi gauge\n"));
  CHECK(strstr(s, "vigil_peer_phi{peer=\"127.0.0.1:7001\",dc=\"eu-1\",rack=\"r1\"} "));
  CHECK(!strstr(s, "vigil_peer_phi{peer=\"127.0.0.1:7000\""));
  CHECK(strstr(s, "vigil_peer_heartbeats_total{peer=\"127.0.0.1:7001\"} 10\n"));
  CHECK(strstr(s, "vigil_peer_last_heartbeat_age_seconds{peer=\"127.0.0.1:7001\"} 7.7"));
  CHECK(strstr(s, "vigil_members{state=\"down\"} 1\n"));
  CHECK(strstr(s, "vigil_members{state=\"joining\"} 1\n"));
  CHECK(strstr(s, "vigil_phi_threshold 8\n"));
  CHECK(strstr(s, "vigil_heartbeats_ignored_total{reason=\"unknown_peer\"} 1\n"));
  CHECK(strstr(s, "vigil_heartbeats_ignored_total{reason=\"local_peer\"} 1\n"));
  CHECK(strstr(s, "vigil_evaluations_total 3\n"));
  CHECK(strstr(s, "vigil_local_pauses_total 1\n"));
  CHECK(strstr(s, "vigil_events_total{type=\"peer_up\"} 1\n"));
  CHECK(strstr(s, "vigil_events_total{type=\"peer_down\"} 1\n"));
  CHECK(strstr(s, "vigil_events_total{type=\"peer_joined\"} 1\n"));
  CHECK(strstr(s, "gossip_round_duration_seconds_count 1\n"));
  CHECK(strstr(s, "gossip_round_duration_seconds_sum 0.002"));
  CHECK(strstr(s, "vigil_gossip_round_peers_seen 1\n"));
  /* phi is a float, not milli-units: the silent peer's phi at 9.5 s. */
  const char *phi = strstr(s, "vigil_peer_phi{peer=\"127.0.0.1:7001\"");
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
  vigil_peer_spec a = {"127.0.0.1:1", "d\\c", "r\"k", NULL, 0, false, false, NULL};
  vigil_pool_add(pool, &a, 0, NULL);
  char *s = render(h, 0);
  CHECK(s && strstr(s, "vigil_peer_state{peer=\"127.0.0.1:1\",dc=\"d\\\\c\",rack=\"r\\\"k\",state=\"down\"} 1\n"));
  /* Without attached metrics the handler-wide families are absent. */
  CHECK(s && !strstr(s, "vigil_evaluations_total"));
  free(s);
  vigil_handler_free(h);
  vigil_pool_free(pool);
}

/* A pool of `members` (this agent first) under a handler with metrics. */
static vigil_handler *handler_of(vigil_pool **pool, vigil_metrics **m, uint32_t members) {
  *pool = vigil_pool_new(NULL, NULL);
  vigil_handler *h = vigil_handler_new(*pool);
  *m = vigil_metrics_new();
  vigil_handler_attach_metrics(h, *m);
  for (uint32_t i = 0; i < members; i++) {
    char pname[VIGIL_PNAME_MAX];
    snprintf(pname, sizeof pname, "127.0.0.%u:7000", i + 1);
    vigil_peer_spec spec = {pname, NULL, NULL, NULL, 0, i == 0, false, NULL};
    vigil_pool_add(*pool, &spec, 0, NULL);
  }
  return h;
}

static void handler_done(vigil_handler *h, vigil_pool *pool, vigil_metrics *m) {
  vigil_handler_free(h);
  vigil_metrics_free(m);
  vigil_pool_free(pool);
}

TEST(per_peer_families_follow_the_switch_and_auto_stops_past_64_members) {
  static const struct {
    vigil_peer_metrics mode;
    uint32_t members;
    bool rendered;
  } cases[] = {
      {VIGIL_PEER_METRICS_AUTO, 3, true},   {VIGIL_PEER_METRICS_AUTO, VIGIL_PEER_METRICS_AUTO_MAX, true},
      {VIGIL_PEER_METRICS_AUTO, 65, false}, {VIGIL_PEER_METRICS_ON, 65, true},
      {VIGIL_PEER_METRICS_OFF, 3, false},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    vigil_pool *pool;
    vigil_metrics *m;
    vigil_handler *h = handler_of(&pool, &m, cases[c].members);
    CHECK_INT(vigil_handler_peer_metrics(h), VIGIL_PEER_METRICS_AUTO); /* the default */
    vigil_handler_set_peer_metrics(h, cases[c].mode);
    CHECK_INT(vigil_handler_peer_metrics(h), cases[c].mode);
    char *s = render(h, 0);
    CHECK(s != NULL);
    if (!s) continue;
    bool on = cases[c].rendered;
    CHECK_INT(strstr(s, on ? "vigil_metrics_per_peer 1\n" : "vigil_metrics_per_peer 0\n") != NULL, 1);
    /* No family at all, not an empty one: the series go with their HELP. */
    CHECK_INT(lines_starting(s, "vigil_peer_", NULL), on ? (cases[c].members * (VIGIL_STATE_COUNT + 3) - 2) : 0);
    CHECK_INT(strstr(s, "# TYPE vigil_peer_state gauge\n") != NULL, on);
    CHECK_INT(strstr(s, "# TYPE vigil_peer_phi gauge\n") != NULL, on);
    /* What stays whatever the switch: the counts by state, the handler's own. */
    double members = 0;
    CHECK_INT(lines_starting(s, "vigil_members{state=", &members), VIGIL_STATE_COUNT);
    CHECK_NEAR(members, cases[c].members, 0);
    CHECK(strstr(s, "vigil_evaluations_total 0\n"));
    free(s);
    handler_done(h, pool, m);
  }
}

/* Prometheus' naming rules: a vigil_ prefix, _total on counters and only
 * on them, a HELP for every TYPE. Returns how many families s holds. */
static int check_names(const char *s) {
  int families = 0;
  for (const char *t = s; s && (t = strstr(t, "# TYPE ")) != NULL; t++) {
    char name[128], type[32];
    if (sscanf(t, "# TYPE %127s %31s", name, type) != 2) {
      CHECK(!"a TYPE line without name and type");
      break;
    }
    families++;
    size_t n = strlen(name);
    bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
    if (strncmp(name, "vigil_", 6) != 0) CHECK_FAIL_("family %s lacks the vigil_ prefix", name);
    if (strcmp(type, "counter") == 0 && !total) CHECK_FAIL_("counter %s does not end in _total", name);
    if (strcmp(type, "counter") != 0 && total) CHECK_FAIL_("%s %s ends in _total", type, name);
    char help[160];
    snprintf(help, sizeof help, "# HELP %s ", name);
    if (!strstr(s, help)) CHECK_FAIL_("family %s has no HELP", name);
  }
  return families;
}

/* The handler's families and the membership's (through a node). */
static int drop(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  (void)ud, (void)pname, (void)buf, (void)len;
  return 0;
}

TEST(every_family_is_prefixed_and_only_counters_end_in_total) {
  vigil_pool *pool;
  vigil_metrics *m;
  vigil_handler *h = handler_of(&pool, &m, 3);
  char *s = render(h, 0);
  CHECK(s != NULL);
  CHECK(check_names(s) >= 20);
  free(s);
  handler_done(h, pool, m);

  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = "127.0.0.1:7000";
  vigil_node *n = vigil_node_new(&cfg, drop, NULL, 0, NULL);
  CHECK(n != NULL);
  if (!n) return;
  size_t len;
  s = vigil_node_render_metrics(n, MS(100), &len);
  CHECK(s && strstr(s, "# TYPE vigil_frames_rejected_total counter\n"));
  CHECK(check_names(s) >= 40);
  free(s);
  vigil_node_free(n);
}

/* A node told `off` neither renders the per-peer families nor counts
 * per-peer transitions (196 bytes a peer it would never show). */

TEST(a_node_with_peer_metrics_off_keeps_no_per_peer_counters) {
  for (int off = 0; off <= 1; off++) {
    vigil_node_config cfg;
    vigil_node_config_init(&cfg);
    CHECK_INT(cfg.peer_metrics, VIGIL_PEER_METRICS_AUTO);
    cfg.self = "127.0.0.1:7000";
    cfg.peer_metrics = off ? VIGIL_PEER_METRICS_OFF : VIGIL_PEER_METRICS_AUTO;
    vigil_node *n = vigil_node_new(&cfg, drop, NULL, 0, NULL);
    CHECK(n != NULL);
    if (!n) return;
    vigil_peer_spec spec = {"127.0.0.2:7000", NULL, NULL, NULL, 0, false, false, NULL};
    vigil_handler *h = vigil_node_handler(n);
    uint32_t idx;
    CHECK_INT(vigil_handler_add_peer(h, &spec, 0, &idx), VIGIL_OK);
    vigil_handler_record_heartbeat_idx(h, idx, MS(100)); /* held down until heard: now up */
    const vigil_peer *p = vigil_pool_get(vigil_node_pool(n), idx);
    CHECK(p && p->state == VIGIL_STATE_NORMAL);
    CHECK_INT(p ? vigil_peer_transitions(p, VIGIL_STATE_DOWN, VIGIL_STATE_NORMAL) : 9, off ? 0 : 1);
    size_t len;
    char *s = vigil_node_render_metrics(n, MS(200), &len);
    CHECK(s && (strstr(s, "vigil_peer_state{") != NULL) == !off);
    CHECK(s && strstr(s, "vigil_events_total{type=\"peer_up\"} 1\n"));
    free(s);
    vigil_node_free(n);
  }
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(metrics_cover_transitions_state_phi_and_handler_counters);
  RUN(label_values_are_escaped);
  RUN(per_peer_families_follow_the_switch_and_auto_stops_past_64_members);
  RUN(every_family_is_prefixed_and_only_counters_end_in_total);
  RUN(a_node_with_peer_metrics_off_keeps_no_per_peer_counters);
  return CHECK_DONE();
}
