/*
 * test_semantics.c - what a transition means, beyond its evidence: why a
 * peer came up (joined, recovered, restarted), the cause and reason each
 * peer keeps of its latest up or down (for `vigil members` and snapshots),
 * and per-dc / per-pname acceptable pauses, in the pool, through the
 * node's configure command, and on simulated agents. Virtual time only.
 */
#include <stdlib.h>

#include "check.h"
#include "internal.h" /* vigil__pool_place: what membership does when a peer says where it is */
#include "vigil.h"
#include "vigil_sim.h"

#define MS(x)  ((vigil_time)(x)*VIGIL_MS)
#define SEC(x) ((vigil_time)(x)*VIGIL_SEC)

typedef struct fixture {
  vigil_pool *pool;
  vigil_handler *h;
  vigil_events *ev;
  vigil_subscription sub;
  uint32_t a, b, c; /* a, b in dc1 (the local dc), c in dc2 */
} fixture;

/* The local peer and three remote peers; acceptable pause 200 ms, so a
 * silent 100 ms peer is convicted within a second. */
static void setup(fixture *f) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.dc = "dc1";
  cfg.detector.acceptable_pause = MS(200);
  f->pool = vigil_pool_new(&cfg, NULL);
  f->h = vigil_handler_new(f->pool);
  f->ev = vigil_events_new(64);
  vigil_handler_attach_events(f->h, f->ev);
  vigil_handler_set_interval(f->h, MS(100));
  vigil_events_subscribe(f->ev, &f->sub);
  vigil_peer_spec s = {"127.0.0.1:7000", NULL, NULL, NULL, 0, true, false, NULL};
  vigil_pool_add(f->pool, &s, 0, NULL);
  s.is_local = false;
  s.pname = "127.0.0.1:7001";
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
  vigil_pool_free(f->pool);
}

/* The next peer_up or peer_down of the subscriber (type 0 when none). */
static vigil_event next_transition(fixture *f) {
  vigil_event e;
  while (vigil_subscription_poll(&f->sub, &e))
    if (e.type == VIGIL_EVENT_PEER_UP || e.type == VIGIL_EVENT_PEER_DOWN) return e;
  memset(&e, 0, sizeof e);
  return e;
}

/* Heartbeat peer idx every 100 ms over [from, to), evaluating each time. */
static void beat(fixture *f, uint32_t idx, vigil_time from, vigil_time to) {
  for (vigil_time t = from; t < to; t += MS(100)) {
    vigil_handler_record_heartbeat_idx(f->h, idx, t);
    vigil_handler_evaluate(f->h, t, NULL);
  }
}

/* Evaluate every 100 ms over [from, to) without a heartbeat. */
static void silence(fixture *f, vigil_time from, vigil_time to) {
  for (vigil_time t = from; t < to; t += MS(100)) vigil_handler_evaluate(f->h, t, NULL);
}

static const vigil_peer *peer(fixture *f, uint32_t idx) { return vigil_pool_get(f->pool, idx); }

TEST(up_reasons_have_their_names) {
  CHECK_STR(vigil_up_reason_name(VIGIL_UP_NONE), "");
  CHECK_STR(vigil_up_reason_name(VIGIL_UP_JOINED), "joined");
  CHECK_STR(vigil_up_reason_name(VIGIL_UP_RECOVERED), "recovered");
  CHECK_STR(vigil_up_reason_name(VIGIL_UP_RESTARTED), "restarted");
  CHECK_STR(vigil_up_reason_name((vigil_up_reason)VIGIL_UP_REASONS), "");
  CHECK_STR(vigil_up_reason_name((vigil_up_reason)-1), "");
}

TEST(the_first_up_is_a_join_and_previous_stays_down) {
  fixture f;
  setup(&f);
  CHECK_INT(peer(&f, f.a)->last_cause, VIGIL_CAUSE_NONE); /* nothing happened to it yet */
  CHECK_INT(peer(&f, f.a)->last_reason, VIGIL_UP_NONE);
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, f.a, MS(100)), 1);
  vigil_event e = next_transition(&f);
  CHECK_INT(e.type, VIGIL_EVENT_PEER_UP);
  CHECK_INT(e.reason, VIGIL_UP_JOINED);
  CHECK_INT(e.cause, VIGIL_CAUSE_HEARTBEAT);
  CHECK_INT(e.previous, VIGIL_STATE_DOWN); /* stable for policies: a peer not heard yet is held down */
  CHECK_INT(peer(&f, f.a)->last_cause, VIGIL_CAUSE_HEARTBEAT);
  CHECK_INT(peer(&f, f.a)->last_reason, VIGIL_UP_JOINED);
  teardown(&f);
}

TEST(back_up_at_the_same_generation_is_a_recovery) {
  fixture f;
  setup(&f);
  beat(&f, f.a, MS(100), SEC(2));
  silence(&f, SEC(2), SEC(4)); /* a stall or a cut link: convicted by phi */
  (void)next_transition(&f);   /* the join */
  vigil_event down = next_transition(&f);
  CHECK_INT(down.type, VIGIL_EVENT_PEER_DOWN);
  CHECK_INT(down.reason, VIGIL_UP_NONE);
  CHECK_INT(peer(&f, f.a)->last_cause, VIGIL_CAUSE_PHI);
  CHECK_INT(peer(&f, f.a)->last_reason, VIGIL_UP_NONE);
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, f.a, SEC(4)), 1);
  vigil_event up = next_transition(&f);
  CHECK_INT(up.type, VIGIL_EVENT_PEER_UP);
  CHECK_INT(up.reason, VIGIL_UP_RECOVERED);
  CHECK_INT(up.previous, VIGIL_STATE_DOWN);
  CHECK_INT(peer(&f, f.a)->last_reason, VIGIL_UP_RECOVERED);
  CHECK(peer(&f, f.a)->since == SEC(4));
  /* And again: every later recovery is one too, a mark_down included. */
  CHECK_INT(vigil_handler_mark_down_pname(f.h, "127.0.0.1:7001", SEC(5)), VIGIL_OK);
  CHECK_INT(next_transition(&f).cause, VIGIL_CAUSE_MARKED);
  CHECK_INT(peer(&f, f.a)->last_cause, VIGIL_CAUSE_MARKED);
  vigil_handler_record_heartbeat_idx(f.h, f.a, SEC(6));
  CHECK_INT(next_transition(&f).reason, VIGIL_UP_RECOVERED);
  teardown(&f);
}

TEST(back_up_after_a_restart_while_down_is_a_restart) {
  fixture f;
  setup(&f);
  beat(&f, f.a, MS(100), SEC(2));
  CHECK_INT(vigil_handler_refused(f.h, f.a, SEC(2) + MS(50)), 0); /* killed: refused, not yet overdue */
  silence(&f, SEC(2), SEC(3));
  CHECK_INT(peer(&f, f.a)->state, VIGIL_STATE_DOWN);
  CHECK_INT(peer(&f, f.a)->last_cause, VIGIL_CAUSE_REFUSED);
  CHECK_INT(vigil_handler_peer_restarted(f.h, f.a, SEC(3)), VIGIL_OK); /* its supervisor started it again */
  CHECK_INT(vigil_handler_record_heartbeat_idx(f.h, f.a, SEC(3)), 1);
  (void)next_transition(&f); /* join */
  CHECK_INT(next_transition(&f).cause, VIGIL_CAUSE_REFUSED);
  vigil_event up = next_transition(&f);
  CHECK_INT(up.type, VIGIL_EVENT_PEER_UP);
  CHECK_INT(up.reason, VIGIL_UP_RESTARTED);
  CHECK_INT(up.cause, VIGIL_CAUSE_HEARTBEAT);
  CHECK_INT(peer(&f, f.a)->last_reason, VIGIL_UP_RESTARTED);
  /* The restart is spent: the next down and up is a recovery. */
  silence(&f, SEC(3), SEC(5));
  vigil_handler_record_heartbeat_idx(f.h, f.a, SEC(5));
  CHECK_INT(next_transition(&f).type, VIGIL_EVENT_PEER_DOWN);
  CHECK_INT(next_transition(&f).reason, VIGIL_UP_RECOVERED);
  teardown(&f);
}

TEST(a_restart_while_up_brings_no_up_and_leaves_later_recoveries_alone) {
  fixture f;
  setup(&f);
  beat(&f, f.b, MS(100), SEC(2));
  (void)next_transition(&f); /* join */
  /* Restarted faster than it could be convicted: its new process heartbeats
   * at once (member.c records it right after peer_restarted). */
  CHECK_INT(vigil_handler_peer_restarted(f.h, f.b, SEC(2)), VIGIL_OK);
  beat(&f, f.b, SEC(2), SEC(3));
  CHECK_INT(next_transition(&f).type, 0); /* no transition: it never went down */
  CHECK_INT(peer(&f, f.b)->state, VIGIL_STATE_NORMAL);
  CHECK_INT(peer(&f, f.b)->last_reason, VIGIL_UP_JOINED);
  silence(&f, SEC(3), SEC(5));
  vigil_handler_record_heartbeat_idx(f.h, f.b, SEC(5));
  CHECK_INT(next_transition(&f).type, VIGIL_EVENT_PEER_DOWN);
  vigil_event up = next_transition(&f);
  CHECK_INT(up.reason, VIGIL_UP_RECOVERED); /* same generation as when it went down */
  teardown(&f);
}

TEST(a_peer_forgotten_and_heard_again_joins_anew) {
  fixture f;
  setup(&f);
  beat(&f, f.c, MS(100), SEC(1));
  silence(&f, SEC(1), SEC(3));
  CHECK_INT(peer(&f, f.c)->state, VIGIL_STATE_DOWN);
  CHECK_INT(vigil_handler_remove_peer(f.h, "127.0.0.1:7003"), VIGIL_OK); /* reaped */
  vigil_peer_spec s = {"127.0.0.1:7003", "dc2", NULL, NULL, 0, false, false, NULL};
  uint32_t idx;
  CHECK_INT(vigil_handler_add_peer(f.h, &s, SEC(4), &idx), VIGIL_OK);
  CHECK_INT(vigil_handler_peer_restarted(f.h, idx, SEC(4)), VIGIL_OK); /* even with a new generation */
  vigil_handler_record_heartbeat_idx(f.h, idx, SEC(4));
  vigil_event e;
  vigil_event up = {0};
  while (vigil_subscription_poll(&f.sub, &e))
    if (e.type == VIGIL_EVENT_PEER_UP) up = e;
  CHECK_INT(up.type, VIGIL_EVENT_PEER_UP);
  CHECK(up.at == SEC(4));
  CHECK_INT(up.reason, VIGIL_UP_JOINED);
  teardown(&f);
}

TEST(large_cluster_transitions_carry_reasons_too) {
  fixture f;
  setup(&f);
  /* Membership decides (set_state), the handler still says why. */
  CHECK_INT(vigil_handler_set_state(f.h, f.b, VIGIL_STATE_NORMAL, VIGIL_CAUSE_MEMBERSHIP, SEC(1)), 1);
  vigil_event e = next_transition(&f);
  CHECK_INT(e.cause, VIGIL_CAUSE_MEMBERSHIP);
  CHECK_INT(e.reason, VIGIL_UP_JOINED);
  CHECK_INT(vigil_handler_set_state(f.h, f.b, VIGIL_STATE_DOWN, VIGIL_CAUSE_OBSERVERS, SEC(2)), 1);
  CHECK_INT(peer(&f, f.b)->last_cause, VIGIL_CAUSE_OBSERVERS);
  CHECK_INT(vigil_handler_peer_restarted(f.h, f.b, SEC(3)), VIGIL_OK);
  CHECK_INT(vigil_handler_set_state(f.h, f.b, VIGIL_STATE_NORMAL, VIGIL_CAUSE_MEMBERSHIP, SEC(3)), 1);
  (void)next_transition(&f);
  CHECK_INT(next_transition(&f).reason, VIGIL_UP_RESTARTED);
  teardown(&f);
}

/* ---- acceptable pauses per dc and per pname ---------------------------------- */

TEST(acceptable_pauses_apply_to_their_dc_and_pname_and_go_when_unset) {
  fixture f;
  setup(&f);
  vigil_pool *pool = f.pool;
  CHECK(vigil_pool_acceptable_pause_of(pool, f.a) == MS(200));
  vigil_pause_override ov[] = {{"dc2", SEC(3)}, {"127.0.0.1:7002", SEC(1)}};
  CHECK_INT(vigil_pool_set_acceptable_pauses(pool, ov, 2), VIGIL_OK);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.a) == MS(200)); /* dc1, no override of its own */
  CHECK(vigil_pool_acceptable_pause_of(pool, f.b) == SEC(1));  /* its pname */
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == SEC(3));  /* its dc */
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.c), 8.0, 0);      /* the pause alone changed */

  /* It is the detector's: the same silence convicts a but not c. */
  for (vigil_time t = MS(100); t < SEC(2); t += MS(100)) {
    vigil_handler_record_heartbeat_idx(f.h, f.a, t);
    vigil_handler_record_heartbeat_idx(f.h, f.c, t);
    vigil_handler_evaluate(f.h, t, NULL);
  }
  silence(&f, SEC(2), SEC(3) + MS(500));
  CHECK_INT(peer(&f, f.a)->state, VIGIL_STATE_DOWN);
  CHECK_INT(peer(&f, f.c)->state, VIGIL_STATE_NORMAL);
  silence(&f, SEC(3) + MS(500), SEC(6));
  CHECK_INT(peer(&f, f.c)->state, VIGIL_STATE_DOWN); /* ... only later: ~3.2 s of silence */

  /* A peer added later follows its dc's pause. */
  vigil_peer_spec s = {"127.0.0.1:7004", "dc2", NULL, NULL, 0, false, false, NULL};
  uint32_t d;
  CHECK_INT(vigil_pool_add(pool, &s, SEC(6), &d), VIGIL_OK);
  CHECK(vigil_pool_acceptable_pause_of(pool, d) == SEC(3));

  /* Unset: back to the base for everybody. */
  CHECK_INT(vigil_pool_set_acceptable_pauses(pool, NULL, 0), VIGIL_OK);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.b) == MS(200));
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == MS(200));
  CHECK(vigil_pool_acceptable_pause_of(pool, d) == MS(200));
  teardown(&f);
}

TEST(acceptable_pauses_and_thresholds_combine_per_setting) {
  fixture f;
  setup(&f);
  vigil_pool *pool = f.pool;
  vigil_threshold_override th[] = {{"dc2", 12.0}};
  vigil_pause_override pa[] = {{"127.0.0.1:7003", SEC(4)}, {"dc1", SEC(1)}};
  CHECK_INT(vigil_pool_set_thresholds(pool, th, 1), VIGIL_OK);
  CHECK_INT(vigil_pool_set_acceptable_pauses(pool, pa, 2), VIGIL_OK);
  /* c: threshold from its dc, pause from its pname. */
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.c), 12.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == SEC(4));
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.a), 8.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.a) == SEC(1));
  /* Peers with the same settings share one config. */
  CHECK(peer(&f, f.a)->detector.cfg == peer(&f, f.b)->detector.cfg);
  /* Clearing one kind keeps the other. */
  CHECK_INT(vigil_pool_set_thresholds(pool, NULL, 0), VIGIL_OK);
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.c), 8.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == SEC(4));
  CHECK_INT(vigil_pool_set_thresholds(pool, th, 1), VIGIL_OK);
  CHECK_INT(vigil_pool_set_acceptable_pauses(pool, NULL, 0), VIGIL_OK);
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.c), 12.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == MS(200));
  /* A live configure of the base reaches the overridden peers, but not
   * what their overrides set. */
  CHECK_INT(vigil_pool_set_acceptable_pauses(pool, pa, 2), VIGIL_OK);
  vigil_detector_config next = *vigil_pool_detector_config(pool);
  next.acceptable_pause = MS(500);
  next.threshold = 9.0;
  next.min_std_dev = MS(50);
  CHECK_INT(vigil_pool_configure(pool, &next, NULL), VIGIL_OK);
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.c), 12.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == SEC(4));
  CHECK(peer(&f, f.c)->detector.cfg->min_std_dev == MS(50));
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.a), 9.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.a) == SEC(1));
  CHECK(vigil_pool_acceptable_pause_of(pool, f.b) == SEC(1));
  teardown(&f);
}

TEST(a_pname_entry_for_one_setting_leaves_the_other_to_its_dc) {
  fixture f;
  setup(&f);
  vigil_pool *pool = f.pool;
  /* The pname's entry (a threshold) comes first in the merged overrides:
   * the dc's pause must still be found. */
  vigil_threshold_override th[] = {{"127.0.0.1:7003", 16.0}};
  vigil_pause_override pa[] = {{"dc2", SEC(3)}};
  CHECK_INT(vigil_pool_set_thresholds(pool, th, 1), VIGIL_OK);
  CHECK_INT(vigil_pool_set_acceptable_pauses(pool, pa, 1), VIGIL_OK);
  CHECK_NEAR(vigil_pool_threshold_of(pool, f.c), 16.0, 0);
  CHECK(vigil_pool_acceptable_pause_of(pool, f.c) == SEC(3));
  teardown(&f);
}

TEST(a_peer_that_turns_out_to_be_in_another_dc_takes_that_dcs_pause) {
  fixture f;
  setup(&f);
  vigil_pause_override ov[] = {{"dc2", SEC(3)}};
  vigil_threshold_override th[] = {{"dc3", 10.0}};
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, ov, 1), VIGIL_OK);
  CHECK_INT(vigil_pool_set_thresholds(f.pool, th, 1), VIGIL_OK);
  /* Learned from others' digests as dc1; its own frame says dc2, then dc3. */
  CHECK(vigil_pool_acceptable_pause_of(f.pool, f.a) == MS(200));
  CHECK_INT(vigil__pool_place(f.pool, f.a, "dc2", NULL, NULL, 0), VIGIL_OK);
  CHECK(vigil_pool_acceptable_pause_of(f.pool, f.a) == SEC(3));
  CHECK_INT(vigil__pool_place(f.pool, f.a, "dc3", NULL, NULL, 0), VIGIL_OK);
  CHECK(vigil_pool_acceptable_pause_of(f.pool, f.a) == MS(200));
  CHECK_NEAR(vigil_pool_threshold_of(f.pool, f.a), 10.0, 0);
  teardown(&f);
}

TEST(bad_acceptable_pauses_are_refused_and_change_nothing) {
  fixture f;
  setup(&f);
  vigil_pause_override good[] = {{"dc2", SEC(2)}};
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, good, 1), VIGIL_OK);
  vigil_pause_override too_long[] = {{"dc1", SEC(3601)}};
  vigil_pause_override no_key[] = {{NULL, SEC(1)}};
  vigil_pause_override empty_key[] = {{"", SEC(1)}};
  char long_key[VIGIL_PNAME_MAX + 1];
  memset(long_key, 'x', VIGIL_PNAME_MAX);
  long_key[VIGIL_PNAME_MAX] = '\0';
  vigil_pause_override long_one[] = {{long_key, SEC(1)}};
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, too_long, 1), VIGIL_EINVAL);
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, no_key, 1), VIGIL_EINVAL);
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, empty_key, 1), VIGIL_EINVAL);
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, long_one, 1), VIGIL_EINVAL);
  CHECK_INT(vigil_pool_set_acceptable_pauses(f.pool, NULL, 3), VIGIL_EINVAL);
  CHECK(vigil_pool_acceptable_pause_of(f.pool, f.c) == SEC(2));
  CHECK(vigil_pool_acceptable_pause_of(f.pool, f.a) == MS(200));
  CHECK(vigil_pool_acceptable_pause_of(f.pool, 999) == 0);
  teardown(&f);
}

/* ---- through the node: configure and snapshot ------------------------------------ */

static int sink(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  (void)ud, (void)pname, (void)buf, (void)len;
  return 0;
}

TEST(the_configure_command_sets_and_clears_acceptable_pauses) {
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = "127.0.0.1:7946";
  vigil_node *n = vigil_node_new(&cfg, sink, NULL, 0, NULL);
  CHECK(n != NULL);
  vigil_pool *pool = vigil_node_pool(n);
  vigil_peer_spec s = {"127.0.0.2:7946", "far", NULL, NULL, 0, false, false, NULL};
  uint32_t far, near;
  CHECK_INT(vigil_pool_add(pool, &s, 0, &far), VIGIL_OK);
  s.pname = "127.0.0.3:7946";
  s.dc = NULL;
  CHECK_INT(vigil_pool_add(pool, &s, 0, &near), VIGIL_OK);

  vigil_command *c = calloc(1, sizeof *c);
  c->type = VIGIL_CMD_CONFIGURE;
  c->has_acceptable_pauses = true;
  c->nacceptable_pauses = 1;
  snprintf(c->acceptable_pauses[0].key, sizeof c->acceptable_pauses[0].key, "far");
  c->acceptable_pauses[0].acceptable_pause = SEC(3);
  char note[512];
  CHECK_INT(vigil_node_apply(n, c, SEC(1), note, sizeof note), VIGIL_OK);
  CHECK(strstr(note, "acceptable_pauses=1") != NULL);
  CHECK(vigil_pool_acceptable_pause_of(pool, far) == SEC(3));
  CHECK(vigil_pool_acceptable_pause_of(pool, near) == SEC(2));

  vigil_snapshot *snap = vigil_node_snapshot(n, SEC(1));
  CHECK(snap != NULL);
  for (uint32_t i = 0; snap && i < snap->npeers; i++) {
    if (strcmp(snap->peers[i].pname, "127.0.0.2:7946") == 0) CHECK(snap->peers[i].acceptable_pause == SEC(3));
    if (strcmp(snap->peers[i].pname, "127.0.0.3:7946") == 0) CHECK(snap->peers[i].acceptable_pause == SEC(2));
  }
  free(snap);

  /* Out of range, or one entry too many: refused with a reason, nothing changes. */
  c->acceptable_pauses[0].acceptable_pause = SEC(3601);
  c->has_threshold = true;
  c->threshold = 11;
  CHECK_INT(vigil_node_apply(n, c, SEC(2), note, sizeof note), VIGIL_EINVAL);
  CHECK(strstr(note, "acceptable_pauses") != NULL);
  CHECK_NEAR(vigil_handler_threshold(vigil_node_handler(n)), 8.0, 0);
  c->acceptable_pauses[0].acceptable_pause = SEC(1);
  c->nacceptable_pauses = VIGIL_CMD_THRESHOLDS_MAX + 1;
  CHECK_INT(vigil_node_apply(n, c, SEC(2), note, sizeof note), VIGIL_EINVAL);
  CHECK(strstr(note, "at most 64 acceptable_pauses") != NULL);
  CHECK(vigil_pool_acceptable_pause_of(pool, far) == SEC(3));

  /* An empty table clears them; a configure without the key keeps them. */
  c->has_threshold = false;
  c->nacceptable_pauses = 0;
  CHECK_INT(vigil_node_apply(n, c, SEC(3), note, sizeof note), VIGIL_OK);
  CHECK(vigil_pool_acceptable_pause_of(pool, far) == SEC(2));
  free(c);
  vigil_node_free(n);
}

/* ---- on simulated agents: the membership paths --------------------------------- */

/* The reasons of the peer_up events agent 0 published about agent j since
 * the last call, as a string ("J", "R" recovered, "S" restarted). */
static void ups_about(vigil_sim *s, uint32_t j, char *out, size_t cap) {
  uint32_t who;
  vigil_event e;
  size_t n = 0;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (who != 0 || e.type != VIGIL_EVENT_PEER_UP || strcmp(e.peer, vigil_sim_pname(s, j)) != 0) continue;
    if (n + 1 < cap) out[n++] = e.reason == VIGIL_UP_JOINED ? 'J' : e.reason == VIGIL_UP_RECOVERED ? 'R' : 'S';
  }
  out[n] = '\0';
}

/* The cause and reason agent 0 keeps of agent j. */
static const vigil_peer *seen_by_0(vigil_sim *s, uint32_t j) {
  vigil_node *n = vigil_sim_node(s, 0);
  return n ? vigil_pool_find(vigil_node_pool(n), vigil_sim_pname(s, j)) : NULL;
}

TEST(simulated_agents_tell_joins_recoveries_and_restarts_apart) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = 4;
  cfg.seed = 7;
  cfg.collect = true;
  cfg.reap_after = SEC(20);
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  CHECK(s != NULL);
  char ups[16];
  vigil_sim_run(s, SEC(3), false);
  ups_about(s, 2, ups, sizeof ups);
  CHECK_STR(ups, "J");

  CHECK_INT(vigil_sim_stop(s, 2), VIGIL_OK); /* SIGSTOP: silent, same process */
  vigil_sim_run(s, SEC(8), false);
  CHECK_INT(seen_by_0(s, 2)->state, VIGIL_STATE_DOWN);
  CHECK_INT(seen_by_0(s, 2)->last_cause, VIGIL_CAUSE_PHI);
  CHECK_INT(vigil_sim_resume(s, 2), VIGIL_OK);
  vigil_sim_run(s, SEC(10), false);
  ups_about(s, 2, ups, sizeof ups);
  CHECK_STR(ups, "R");
  CHECK_INT(seen_by_0(s, 2)->last_reason, VIGIL_UP_RECOVERED);

  CHECK_INT(vigil_sim_kill(s, 2), VIGIL_OK); /* kill -9, then its supervisor */
  vigil_sim_run(s, SEC(13), false);
  CHECK_INT(seen_by_0(s, 2)->last_cause, VIGIL_CAUSE_REFUSED);
  CHECK_INT(vigil_sim_restart(s, 2), VIGIL_OK);
  vigil_sim_run(s, SEC(16), false);
  ups_about(s, 2, ups, sizeof ups);
  CHECK_STR(ups, "S");
  CHECK_INT(seen_by_0(s, 2)->last_cause, VIGIL_CAUSE_HEARTBEAT);
  CHECK_INT(seen_by_0(s, 2)->last_reason, VIGIL_UP_RESTARTED);

  /* Down long enough to be forgotten, then back: a join again. */
  CHECK_INT(vigil_sim_stop(s, 2), VIGIL_OK);
  vigil_sim_run(s, SEC(50), false);
  CHECK(seen_by_0(s, 2) == NULL);
  CHECK_INT(vigil_sim_resume(s, 2), VIGIL_OK);
  vigil_sim_run(s, SEC(55), false);
  ups_about(s, 2, ups, sizeof ups);
  CHECK_STR(ups, "J");
  vigil_sim_free(s);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(up_reasons_have_their_names);
  RUN(the_first_up_is_a_join_and_previous_stays_down);
  RUN(back_up_at_the_same_generation_is_a_recovery);
  RUN(back_up_after_a_restart_while_down_is_a_restart);
  RUN(a_restart_while_up_brings_no_up_and_leaves_later_recoveries_alone);
  RUN(a_peer_forgotten_and_heard_again_joins_anew);
  RUN(large_cluster_transitions_carry_reasons_too);
  RUN(acceptable_pauses_apply_to_their_dc_and_pname_and_go_when_unset);
  RUN(acceptable_pauses_and_thresholds_combine_per_setting);
  RUN(a_pname_entry_for_one_setting_leaves_the_other_to_its_dc);
  RUN(a_peer_that_turns_out_to_be_in_another_dc_takes_that_dcs_pause);
  RUN(bad_acceptable_pauses_are_refused_and_change_nothing);
  RUN(the_configure_command_sets_and_clears_acceptable_pauses);
  RUN(simulated_agents_tell_joins_recoveries_and_restarts_apart);
  return CHECK_DONE();
}
