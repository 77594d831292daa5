/*
 * test_gossip.c - the GossipHandler: heartbeats, evaluate, mark_down, the
 * local-pause guard, membership events, and the events it publishes.
 * Everything runs on a virtual clock: `now` is an argument.
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"

#define MS(x) ((vigil_time)(x)*VIGIL_MS)

typedef struct fixture {
  vigil_pool *pool;
  vigil_handler *h;
  vigil_events *ev;
  vigil_metrics *m;
  vigil_subscription sub;
  uint32_t local, a, b, c;
} fixture;

/* A pool of the local peer and three remote peers a, b, c; handler with
 * threshold 8, interval 100 ms, events and metrics attached. The detectors
 * allow a 200 ms pause: a silent 100 ms peer is convicted within ~0.9 s. */
static void setup(fixture *f) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.dc = "dc1";
  cfg.detector.acceptable_pause = MS(200);
  f->pool = vigil_pool_new(&cfg, NULL);
  f->h = vigil_handler_new(f->pool);
  f->ev = vigil_events_new(64);
  f->m = vigil_metrics_new();
  vigil_handler_attach_events(f->h, f->ev);
  vigil_handler_attach_metrics(f->h, f->m);
  vigil_handler_set_interval(f->h, MS(100));
  vigil_events_subscribe(f->ev, &f->sub);
  vigil_peer_spec s = {"127.0.0.1:7000", NULL, NULL, NULL, 0, true, false, NULL};
  vigil_pool_add(f->pool, &s, 0, &f->local);
  s.is_local = false;
  s.pname = "127.0.0.1:7001";
  s.rack = "r1";
  vigil_pool_add(f->pool, &s, 0, &f->a);
  s.pname = "127.0.0.1:7002";
  vigil_pool_add(f->pool, &s, 0, &f->b);
  s.pname = "127.0.0.1:7003";
  s.dc = "dc2";
  vigil_pool_add(f->pool, &s, 0, &f->c);
}

static void teardown(fixture *f) {
  vigil_handler_free(f->h);
  vigil_events_free(f->ev);
  vigil_metrics_free(f->m);
  vigil_pool_free(f->pool);
}

static vigil_peer_state state(fixture *f, uint32_t idx) { return vigil_pool_get(f->pool, idx)->state; }

/* Run the cluster from `from` to `to`: every peer in `alive` heartbeats
 * every 200 ms, evaluate runs every 100 ms. Returns transitions seen. */
static size_t run(fixture *f, vigil_time from, vigil_time to, const uint32_t *alive, int nalive) {
  size_t total = 0;
  for (vigil_time t = from; t < to; t += MS(100)) {
    if ((t / MS(100)) % 2 == 0)
      for (int i = 0; i < nalive; i++) vigil_handler_record_heartbeat_idx(f->h, alive[i], t);
    total += vigil_handler_evaluate(f->h, t, NULL);
  }
  return total;
}

/* Next event of the fixture's subscriber (type 0 when none). */
static vigil_event next_event(fixture *f) {
  vigil_event e;
  if (!vigil_subscription_poll(&f->sub, &e)) memset(&e, 0, sizeof e);
  return e;
}

TEST(handler_starts_with_threshold_8_and_reads_back_settings) {
  fixture f;
  setup(&f);
  CHECK_NEAR(vigil_handler_threshold(f.h), 8.0, 0);
  CHECK_INT(vigil_handler_set_threshold(f.h, 12.5), VIGIL_OK);
  CHECK_NEAR(vigil_handler_threshold(f.h), 12.5, 0);
  CHECK_NEAR(vigil_pool_detector_config(f.pool)->threshold, 12.5, 0);
  CHECK_INT(vigil_handler_set_threshold(f.h, 0), VIGIL_EINVAL);
  CHECK_INT(vigil_handler_set_threshold(f.h, -3), VIGIL_EINVAL);
  CHECK_INT(vigil_handler_set_threshold(f.h, INFINITY), VIGIL_EINVAL);
  CHECK_NEAR(vigil_handler_threshold(f.h), 12.5, 0);
  CHECK_INT(vigil_handler_set_interval(f.h, 0), VIGIL_EINVAL);
  CHECK_INT(vigil_handler_interval(f.h), MS(100));
  CHECK_INT(vigil_handler_set_pause_factor(f.h, 0.5), VIGIL_EINVAL);
  CHECK(vigil_handler_pool(f.h) == f.pool);
  CHECK(vigil_handler_events(f.h) == f.ev);
  CHECK(vigil_handler_metrics(f.h) == f.m);
  teardown(&f);
}

TEST(a_heartbeat_promotes_a_peer_to_normal_at_once) {
  fixture f;
  setup(&f);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_DOWN);
  CHECK_INT(vigil_handler_record_heartbeat_pname(f.h, "127.0.0.1:7001", MS(10)), 1);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  CHECK_INT(vigil_pool_get(f.pool, f.a)->since, MS(10));
  vigil_event e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_UP);
  CHECK_STR(e.peer, "127.0.0.1:7001");
  CHECK_STR(e.dc, "dc1");
  CHECK_STR(e.rack, "r1");
  CHECK_INT(e.at, MS(10));
  CHECK_INT(e.state, VIGIL_STATE_NORMAL);
  CHECK_INT(e.previous, VIGIL_STATE_DOWN);
  /* A second heartbeat is recorded, not promoted again. */
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, f.a, MS(210)), 0);
  CHECK_INT(next_event(&f).type, 0);
  CHECK_INT(vigil_pool_get(f.pool, f.a)->heartbeats, 2);
  teardown(&f);
}

TEST(unknown_pnames_and_the_local_peer_are_ignored) {
  fixture f;
  setup(&f);
  CHECK_INT(vigil_handler_record_heartbeat_pname(f.h, "127.9.9.9:1", MS(1)), VIGIL_ENOENT);
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, 999, MS(1)), VIGIL_ENOENT);
  CHECK_INT(vigil_handler_record_heartbeat_pname(f.h, "127.0.0.1:7000", MS(1)), VIGIL_ELOCAL);
  CHECK_INT(state(&f, f.local), VIGIL_STATE_JOINING);
  CHECK_INT(vigil_detector_is_monitoring(&vigil_pool_get(f.pool, f.local)->detector), 0);
  CHECK_INT(vigil_pool_count(f.pool), 4);
  CHECK_INT(next_event(&f).type, 0);
  teardown(&f);
}

TEST(evaluate_keeps_live_peers_normal_and_convicts_a_silent_one) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a, f.b, f.c};
  run(&f, MS(0), MS(10000), all, 3);
  while (next_event(&f).type) {
  }
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_NORMAL);
  CHECK_INT(state(&f, f.c), VIGIL_STATE_NORMAL);
  CHECK_INT(state(&f, f.local), VIGIL_STATE_JOINING); /* never judged */

  /* c falls silent after its heartbeat at 9.8 s. */
  uint32_t two[] = {f.a, f.b};
  vigil_time convicted = 0;
  for (vigil_time t = MS(10000); t < MS(15000) && !convicted; t += MS(100)) {
    if ((t / MS(100)) % 2 == 0) {
      vigil_handler_record_heartbeat_idx(f.h, two[0], t);
      vigil_handler_record_heartbeat_idx(f.h, two[1], t);
    }
    const vigil_transition *tr;
    size_t n = vigil_handler_evaluate(f.h, t, &tr);
    for (size_t i = 0; i < n; i++) {
      CHECK_INT(tr[i].idx, f.c);
      CHECK_INT(tr[i].state, VIGIL_STATE_DOWN);
      CHECK_INT(tr[i].previous, VIGIL_STATE_NORMAL);
      CHECK(tr[i].phi > 8.0);
      convicted = t;
    }
  }
  /* Default detector: ~0.92 s of silence at 200 ms heartbeats. */
  CHECK(convicted >= MS(9800 + 900) && convicted <= MS(9800 + 1000));
  vigil_event e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_DOWN);
  CHECK_STR(e.peer, "127.0.0.1:7003");
  CHECK_STR(e.dc, "dc2");
  CHECK(e.phi > 8.0);
  CHECK_INT(e.at, convicted);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  teardown(&f);
}

TEST(evaluate_follows_phi_exactly_at_the_threshold) {
  fixture f;
  setup(&f);
  vigil_handler_record_heartbeat_idx(f.h, f.a, MS(0));
  /* Find the first millisecond at which phi exceeds 8 and check evaluate
   * flips exactly there: normal iff phi <= threshold. */
  vigil_time t = MS(1);
  while (vigil_handler_phi(f.h, f.a, t) <= 8.0) t += MS(1);
  CHECK_INT(vigil_handler_evaluate(f.h, t - MS(1), NULL), 0);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  CHECK_INT(vigil_handler_evaluate(f.h, t, NULL), 1);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_DOWN);
  teardown(&f);
}

TEST(never_heard_peers_stay_down_without_transitions) {
  fixture f;
  setup(&f);
  CHECK_INT(vigil_handler_evaluate(f.h, MS(100), NULL), 0);
  CHECK_INT(vigil_handler_evaluate(f.h, MS(5000), NULL), 0);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_DOWN);
  CHECK_INT(next_event(&f).type, 0);
  teardown(&f);
}

TEST(evaluate_normalises_any_other_remote_state) {
  fixture f;
  setup(&f);
  vigil_pool_get(f.pool, f.a)->state = VIGIL_STATE_LEAVING;
  vigil_pool_get(f.pool, f.b)->state = VIGIL_STATE_STANDBY;
  vigil_handler_record_heartbeat_idx(f.h, f.b, MS(0)); /* promoted to normal */
  const vigil_transition *tr;
  size_t n = vigil_handler_evaluate(f.h, MS(100), &tr);
  CHECK_INT(n, 1);
  CHECK_INT(tr[0].idx, f.a);
  CHECK_INT(tr[0].previous, VIGIL_STATE_LEAVING);
  CHECK_INT(tr[0].state, VIGIL_STATE_DOWN);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_NORMAL);
  teardown(&f);
}

TEST(mark_down_convicts_at_once_and_the_peer_stays_down_until_heard) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a, f.b, f.c};
  run(&f, MS(0), MS(2000), all, 3);
  while (next_event(&f).type) {
  }
  CHECK_INT(vigil_handler_mark_down_pname(f.h, "127.0.0.1:7002", MS(2000)), VIGIL_OK);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_DOWN);
  vigil_event e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_DOWN);
  CHECK(e.phi < 1.0); /* it was healthy: the detector was not consulted */
  /* The next ticks do not bring it back... */
  CHECK_INT(vigil_handler_evaluate(f.h, MS(2100), NULL), 0);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_DOWN);
  /* ...a heartbeat does. */
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, f.b, MS(2200)), 1);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_NORMAL);
  CHECK_INT(vigil_handler_mark_down_pname(f.h, "127.0.0.9:1", MS(1)), VIGIL_ENOENT);
  CHECK_INT(vigil_handler_mark_down_pname(f.h, "127.0.0.1:7000", MS(1)), VIGIL_ELOCAL);
  teardown(&f);
}

TEST(reset_detector_forgets_the_history) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a};
  run(&f, MS(0), MS(2000), all, 1);
  CHECK(vigil_detector_is_monitoring(&vigil_pool_get(f.pool, f.a)->detector));
  CHECK_INT(vigil_handler_reset_detector(f.h, f.a), VIGIL_OK);
  CHECK_INT(vigil_detector_is_monitoring(&vigil_pool_get(f.pool, f.a)->detector), 0);
  CHECK_INT(vigil_handler_reset_detector(f.h, 777), VIGIL_ENOENT);
  teardown(&f);
}

TEST(local_pause_guard_spares_live_peers_after_a_long_stop) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a, f.b, f.c};
  run(&f, MS(0), MS(5000), all, 3);
  /* This process stops for 10 s: no heartbeat is received, no tick runs. */
  const vigil_transition *tr;
  CHECK_INT(vigil_handler_evaluate(f.h, MS(15000), &tr), 0);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  /* The real (unguarded) phi would have convicted all three. */
  CHECK(vigil_detector_phi(&vigil_pool_get(f.pool, f.a)->detector, MS(15000)) > 8);
  /* a and b heartbeat again; c really died during our pause. */
  uint32_t two[] = {f.a, f.b};
  vigil_time convicted = 0;
  for (vigil_time t = MS(15100); t < MS(20000) && !convicted; t += MS(100)) {
    if ((t / MS(100)) % 2 == 0) {
      vigil_handler_record_heartbeat_idx(f.h, two[0], t);
      vigil_handler_record_heartbeat_idx(f.h, two[1], t);
    }
    size_t n = vigil_handler_evaluate(f.h, t, &tr);
    for (size_t i = 0; i < n; i++) {
      CHECK_INT(tr[i].idx, f.c);
      convicted = t;
    }
  }
  /* c is convicted one detection time after the pause ended. */
  CHECK(convicted >= MS(15000 + 900) && convicted <= MS(15000 + 1000));
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_NORMAL);
  /* The post-pause heartbeat interval did not enter a's window. */
  CHECK(vigil_detector_mean(&vigil_pool_get(f.pool, f.a)->detector) < 0.25e9);
  teardown(&f);
}

TEST(without_the_guard_a_long_stop_would_convict_everyone) {
  /* The same scenario with pause detection made impossible (factor huge):
   * proves the previous test depends on the guard. */
  fixture f;
  setup(&f);
  vigil_handler_set_pause_factor(f.h, 1e12);
  uint32_t all[] = {f.a, f.b, f.c};
  run(&f, MS(0), MS(5000), all, 3);
  CHECK_INT(vigil_handler_evaluate(f.h, MS(15000), NULL), 3);
  teardown(&f);
}

TEST(the_guard_does_not_revive_peers_already_down) {
  fixture f;
  setup(&f);
  uint32_t two[] = {f.a, f.b};
  vigil_handler_record_heartbeat_idx(f.h, f.c, MS(0));
  run(&f, MS(0), MS(3000), two, 2);
  CHECK_INT(state(&f, f.c), VIGIL_STATE_DOWN);
  CHECK_INT(vigil_handler_evaluate(f.h, MS(13000), NULL), 0);
  CHECK_INT(state(&f, f.c), VIGIL_STATE_DOWN);
  teardown(&f);
}

TEST(a_late_tick_within_the_pause_factor_is_not_a_pause) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a};
  run(&f, MS(0), MS(3000), all, 1);
  /* 300 ms gap = exactly 3 intervals: not a pause; a has been silent since
   * 2.8 s and is not convicted yet at 3.2 s either way. */
  vigil_handler_evaluate(f.h, MS(3200), NULL);
  CHECK_INT(vigil_pool_get(f.pool, f.a)->guard_since, 0);
  vigil_handler_evaluate(f.h, MS(3601), NULL); /* 401 ms > 3 x 100 ms */
  CHECK_INT(vigil_pool_get(f.pool, f.a)->guard_since, MS(3601));
  teardown(&f);
}

TEST(membership_changes_publish_their_events) {
  fixture f;
  setup(&f);
  uint32_t d;
  vigil_peer_spec s = {"127.0.0.1:7004", "dc3", "r9", NULL, 0, false, false, NULL};
  CHECK_INT(vigil_handler_add_peer(f.h, &s, MS(5), &d), VIGIL_OK);
  vigil_event e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_JOINED);
  CHECK_STR(e.peer, "127.0.0.1:7004");
  CHECK_STR(e.dc, "dc3");
  CHECK_INT(e.state, VIGIL_STATE_DOWN);
  CHECK_INT(vigil_handler_add_peer(f.h, &s, MS(5), &d), VIGIL_EEXIST);

  vigil_handler_record_heartbeat_idx(f.h, d, MS(10));
  CHECK_INT(next_event(&f).type, VIGIL_EVENT_PEER_UP);
  CHECK_INT(vigil_handler_peer_restarted(f.h, d, MS(20)), VIGIL_OK);
  e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_RESTARTED);
  CHECK_INT(e.at, MS(20));
  CHECK_INT(vigil_detector_is_monitoring(&vigil_pool_get(f.pool, d)->detector), 0);

  vigil_handler_record_heartbeat_idx(f.h, d, MS(30));
  CHECK_INT(vigil_handler_peer_left(f.h, "127.0.0.1:7004", MS(40)), VIGIL_OK);
  e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_DOWN);
  e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_LEFT);
  CHECK_INT(e.previous, VIGIL_STATE_NORMAL);
  CHECK_INT(e.state, VIGIL_STATE_DOWN);
  CHECK_INT(state(&f, d), VIGIL_STATE_DOWN);

  CHECK_INT(vigil_handler_remove_peer(f.h, "127.0.0.1:7004"), VIGIL_OK);
  CHECK(vigil_pool_find(f.pool, "127.0.0.1:7004") == NULL);
  CHECK_INT(next_event(&f).type, 0);
  CHECK_INT(vigil_handler_peer_left(f.h, "127.0.0.1:7004", MS(50)), VIGIL_ENOENT);

  vigil_handler_gossip_round(f.h, MS(3), 2, MS(60));
  e = next_event(&f);
  CHECK_INT(e.type, VIGIL_EVENT_GOSSIP_ROUND);
  CHECK_INT(e.duration, MS(3));
  CHECK_INT(e.peers_seen, 2);
  teardown(&f);
}

TEST(a_handler_without_events_or_metrics_still_judges) {
  vigil_pool *pool = vigil_pool_new(NULL, NULL);
  vigil_handler *h = vigil_handler_new(pool);
  uint32_t a;
  vigil_peer_spec s = {"127.0.0.1:1", NULL, NULL, NULL, 0, false, false, NULL};
  vigil_pool_add(pool, &s, 0, &a);
  CHECK_INT(vigil_handler_record_heartbeat_idx(h, a, MS(0)), 1);
  CHECK_INT(vigil_handler_evaluate(h, MS(60000), NULL), 1);
  CHECK_INT(vigil_pool_get(pool, a)->state, VIGIL_STATE_DOWN);
  CHECK_INT(vigil_peer_transitions(vigil_pool_get(pool, a), VIGIL_STATE_NORMAL, VIGIL_STATE_DOWN), 0);
  CHECK(vigil_handler_new(NULL) == NULL);
  vigil_handler_free(h);
  vigil_pool_free(pool);
}

TEST(evaluate_over_a_growing_pool_reports_every_transition) {
  vigil_pool *pool = vigil_pool_new(NULL, NULL);
  vigil_handler *h = vigil_handler_new(pool);
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "127.0.%d.%d:7000", i / 250, i % 250 + 1);
    vigil_peer_spec s = {name, NULL, NULL, NULL, 0, false, false, NULL};
    vigil_pool_add(pool, &s, 0, NULL);
    vigil_handler_record_heartbeat_pname(h, name, MS(1));
  }
  const vigil_transition *tr;
  CHECK_INT(vigil_handler_evaluate(h, MS(100000), &tr), 1000);
  CHECK_INT(tr[999].state, VIGIL_STATE_DOWN);
  vigil_handler_free(h);
  vigil_pool_free(pool);
}

TEST(the_exponential_model_works_through_the_handler) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.detector.model = VIGIL_MODEL_EXPONENTIAL;
  cfg.detector.min_mean = MS(200);
  vigil_pool *pool = vigil_pool_new(&cfg, NULL);
  vigil_handler *h = vigil_handler_new(pool);
  uint32_t a;
  vigil_peer_spec s = {"127.0.0.1:1", NULL, NULL, NULL, 0, false, false, NULL};
  vigil_pool_add(pool, &s, 0, &a);
  for (int i = 0; i < 20; i++) vigil_handler_record_heartbeat_idx(h, a, MS(200 * i));
  /* phi = elapsed / (0.2 s ln 10) crosses 8 after 3.68 s. */
  CHECK_INT(vigil_handler_evaluate(h, MS(3800 + 3600), NULL), 0);
  CHECK_INT(vigil_handler_evaluate(h, MS(3800 + 3700), NULL), 1);
  vigil_handler_free(h);
  vigil_pool_free(pool);
}

TEST(a_lower_threshold_convicts_sooner_on_the_next_tick) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a};
  run(&f, MS(0), MS(3000), all, 1); /* last heartbeat at 2.8 s */
  CHECK_INT(vigil_handler_evaluate(f.h, MS(3200), NULL), 0);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  CHECK_INT(vigil_handler_set_threshold(f.h, 1.0), VIGIL_OK);
  CHECK_INT(vigil_handler_evaluate(f.h, MS(3400), NULL), 1);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_DOWN);
  /* And a higher one promotes nothing by itself but delays conviction. */
  CHECK_INT(vigil_handler_set_threshold(f.h, 30.0), VIGIL_OK);
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, f.a, MS(3500)), 1);
  size_t flips = 0; /* at 8 it would be convicted ~0.92 s after 3.5 s */
  for (vigil_time t = MS(3600); t <= MS(4700); t += MS(100)) flips += vigil_handler_evaluate(f.h, t, NULL);
  CHECK_INT(flips, 0);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_NORMAL);
  teardown(&f);
}

TEST(evaluate_agrees_with_phi_for_every_peer_and_tick) {
  /* evaluate() decides from cached horizons; replay a jittery cluster and
   * check every decision against phi computed from scratch. */
  fixture f;
  setup(&f);
  unsigned seed = 11;
  int mismatches = 0, decisions = 0;
  uint32_t ids[] = {f.a, f.b, f.c};
  vigil_time next[3] = {0, MS(50), MS(90)};
  for (vigil_time t = 0; t < MS(60000); t += MS(100)) {
    for (int i = 0; i < 3; i++) {
      while (next[i] <= t) {
        vigil_handler_record_heartbeat_idx(f.h, ids[i], next[i]);
        seed = seed * 1103515245u + 12345u;
        /* c has long random stalls, b mild jitter, a is regular */
        vigil_time gap = MS(200) + (i == 2 && seed % 50 == 0 ? MS(400 + seed % 2000) : 0) +
                         (i >= 1 ? (vigil_time)(seed % 60) * MS(1) : 0);
        next[i] += gap;
      }
    }
    vigil_handler_evaluate(f.h, t, NULL);
    for (int i = 0; i < 3; i++) {
      double phi = vigil_handler_phi(f.h, ids[i], t);
      bool heard = vigil_detector_is_monitoring(&vigil_pool_get(f.pool, ids[i])->detector);
      vigil_peer_state want = heard && phi <= 8.0 ? VIGIL_STATE_NORMAL : VIGIL_STATE_DOWN;
      mismatches += state(&f, ids[i]) != want;
      decisions++;
    }
  }
  CHECK_INT(mismatches, 0);
  CHECK_INT(decisions, 1800);
  teardown(&f);
}

TEST(per_dc_and_per_peer_thresholds_apply_live) {
  fixture f;
  setup(&f); /* a, b in dc1; c in dc2 */
  uint32_t all[] = {f.a, f.b, f.c};
  run(&f, MS(0), MS(3000), all, 3); /* last heartbeats at 2.8 s */
  vigil_threshold_override ov[] = {{"dc2", 30.0}, {"127.0.0.1:7001", 1.0}};
  CHECK_INT(vigil_pool_set_thresholds(f.pool, ov, 2), VIGIL_OK);
  CHECK_NEAR(vigil_pool_threshold_of(f.pool, f.a), 1.0, 0);
  CHECK_NEAR(vigil_pool_threshold_of(f.pool, f.b), 8.0, 0);
  CHECK_NEAR(vigil_pool_threshold_of(f.pool, f.c), 30.0, 0);
  /* 0.6 s of silence convicts a (threshold 1) only. */
  CHECK_INT(vigil_handler_evaluate(f.h, MS(3100), NULL), 0);
  CHECK_INT(vigil_handler_evaluate(f.h, MS(3400), NULL), 1);
  CHECK_INT(state(&f, f.a), VIGIL_STATE_DOWN);
  /* 1.2 s: b (threshold 8) goes, c (dc2, threshold 30) stays. */
  for (vigil_time t = MS(3500); t <= MS(4000); t += MS(100)) vigil_handler_evaluate(f.h, t, NULL);
  CHECK_INT(state(&f, f.b), VIGIL_STATE_DOWN);
  CHECK_INT(state(&f, f.c), VIGIL_STATE_NORMAL);
  /* A peer added later in dc2 follows the dc2 override. */
  vigil_peer_spec s = {"127.0.0.1:7009", "dc2", NULL, NULL, 0, false, false, NULL};
  uint32_t d;
  vigil_pool_add(f.pool, &s, MS(4000), &d);
  CHECK_NEAR(vigil_pool_threshold_of(f.pool, d), 30.0, 0);
  /* Clearing the overrides puts everyone back on the base threshold. */
  CHECK_INT(vigil_pool_set_thresholds(f.pool, NULL, 0), VIGIL_OK);
  CHECK_NEAR(vigil_pool_threshold_of(f.pool, f.c), 8.0, 0);
  vigil_threshold_override bad[] = {{"dc3", -1}};
  CHECK_INT(vigil_pool_set_thresholds(f.pool, bad, 1), VIGIL_EINVAL);
  teardown(&f);
}

TEST(a_live_configure_changes_every_detector_and_rejects_bad_values) {
  fixture f;
  setup(&f);
  uint32_t all[] = {f.a};
  run(&f, MS(0), MS(3000), all, 1);
  vigil_detector_config c = *vigil_pool_detector_config(f.pool);
  c.acceptable_pause = MS(3000);
  CHECK_INT(vigil_pool_configure(f.pool, &c, NULL), VIGIL_OK);
  size_t flips = 0; /* with 3 s of acceptable pause, 2 s of silence is fine */
  for (vigil_time t = MS(3000); t <= MS(4800); t += MS(100)) flips += vigil_handler_evaluate(f.h, t, NULL);
  CHECK_INT(flips, 0);
  const char *why = NULL;
  c.min_std_dev = 0;
  CHECK_INT(vigil_pool_configure(f.pool, &c, &why), VIGIL_EINVAL);
  CHECK(why && strstr(why, "min_std_dev"));
  CHECK_INT(vigil_pool_detector_config(f.pool)->acceptable_pause, MS(3000)); /* unchanged */
  teardown(&f);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(handler_starts_with_threshold_8_and_reads_back_settings);
  RUN(a_heartbeat_promotes_a_peer_to_normal_at_once);
  RUN(unknown_pnames_and_the_local_peer_are_ignored);
  RUN(evaluate_keeps_live_peers_normal_and_convicts_a_silent_one);
  RUN(evaluate_follows_phi_exactly_at_the_threshold);
  RUN(never_heard_peers_stay_down_without_transitions);
  RUN(evaluate_normalises_any_other_remote_state);
  RUN(mark_down_convicts_at_once_and_the_peer_stays_down_until_heard);
  RUN(reset_detector_forgets_the_history);
  RUN(local_pause_guard_spares_live_peers_after_a_long_stop);
  RUN(without_the_guard_a_long_stop_would_convict_everyone);
  RUN(the_guard_does_not_revive_peers_already_down);
  RUN(a_late_tick_within_the_pause_factor_is_not_a_pause);
  RUN(membership_changes_publish_their_events);
  RUN(a_handler_without_events_or_metrics_still_judges);
  RUN(evaluate_over_a_growing_pool_reports_every_transition);
  RUN(the_exponential_model_works_through_the_handler);
  RUN(a_lower_threshold_convicts_sooner_on_the_next_tick);
  RUN(evaluate_agrees_with_phi_for_every_peer_and_tick);
  RUN(per_dc_and_per_peer_thresholds_apply_live);
  RUN(a_live_configure_changes_every_detector_and_rejects_bad_values);
  return CHECK_DONE();
}
