/*
 * test_sim.c - the simulator itself (vigil_sim.h): that a run is a pure
 * function of its seed, that the network and the faults it injects do what
 * they say (loss, one-way cuts, kills that refuse, stops that are silent,
 * stalls whose datagrams queue, restarts, leaves, joins), and that its
 * score (false alarms, detection times, traffic, convergence) counts what
 * really happened -- including a false alarm when there is one.
 */
#include <stdlib.h>

#include "check.h"
#include "vigil_sim.h"
#include "sim_views.h"

#define MS(x)  ((vigil_time)(x)*VIGIL_MS)
#define SEC(x) ((vigil_time)(x)*VIGIL_SEC)

static vigil_sim *sim_new(uint32_t agents, uint64_t seed) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = agents;
  cfg.seed = seed;
  cfg.collect = true;
  const char *why = NULL;
  vigil_sim *s = vigil_sim_new(&cfg, &why);
  if (!s) fprintf(stderr, "vigil_sim_new: %s\n", why ? why : "?");
  return s;
}

/* Drain the collected events; count those of `type` about agent j (any
 * peer when j < 0) published by any agent but j. */
static int drain(vigil_sim *s, vigil_event_type type, int64_t j) {
  uint32_t who;
  vigil_event e;
  int n = 0;
  while (vigil_sim_next_event(s, &who, &e))
    if (e.type == type && (j < 0 || strcmp(e.peer, vigil_sim_pname(s, (uint32_t)j)) == 0)) n++;
  return n;
}

static bool same_stats(const vigil_sim_stats *a, const vigil_sim_stats *b) {
  return a->false_alarms == b->false_alarms && a->frames_sent == b->frames_sent && a->bytes_sent == b->bytes_sent &&
         a->frames_lost == b->frames_lost && a->refusals == b->refusals && a->events_lost == b->events_lost &&
         a->node_ns == b->node_ns && a->alive_ns == b->alive_ns && a->converged == b->converged &&
         a->faults == b->faults;
}

TEST(the_same_seed_gives_the_same_run_and_another_seed_another) {
  vigil_sim *s[3] = {sim_new(5, 42), sim_new(5, 42), sim_new(5, 43)};
  for (int k = 0; k < 3; k++) {
    vigil_sim_set_loss(s[k], 0.05);
    vigil_sim_set_delay(s[k], MS(2), MS(1)); /* enough jitter to reorder */
    vigil_sim_run(s[k], SEC(10), false);
    CHECK_INT(vigil_sim_kill(s[k], 3), VIGIL_OK);
    CHECK_INT(vigil_sim_stop(s[k], 4), VIGIL_OK);
    vigil_sim_run(s[k], SEC(20), false);
  }
  vigil_sim_stats st[3];
  for (int k = 0; k < 3; k++) vigil_sim_stats_get(s[k], &st[k]);
  CHECK(same_stats(&st[0], &st[1]));
  CHECK(!same_stats(&st[0], &st[2]));
  CHECK(st[0].frames_lost > 0 && st[0].refusals > 0);
  /* The event streams match one for one: agent, type, peer, time. */
  uint32_t a0, a1;
  vigil_event e0, e1;
  int events = 0, same = 1;
  for (;;) {
    bool m0 = vigil_sim_next_event(s[0], &a0, &e0), m1 = vigil_sim_next_event(s[1], &a1, &e1);
    CHECK(m0 == m1);
    if (!m0 || !m1) break;
    events++;
    same &= a0 == a1 && e0.type == e1.type && e0.at == e1.at && strcmp(e0.peer, e1.peer) == 0 && e0.phi == e1.phi;
  }
  CHECK_INT(same, 1);
  CHECK(events >= 5 * 4 + 4 + 3); /* joins, then the kill and the stop convicted */
  vigil_sim_free(s[0]);
  vigil_sim_free(s[1]);
  vigil_sim_free(s[2]);
  /* The first events differ in time: the agents started at other moments. */
  vigil_sim *x = sim_new(5, 42), *y = sim_new(5, 43);
  vigil_sim_run(x, SEC(1), false);
  vigil_sim_run(y, SEC(1), false);
  CHECK(vigil_sim_next_event(x, &a0, &e0) && vigil_sim_next_event(y, &a1, &e1));
  CHECK(e0.at != e1.at);
  vigil_sim_free(x);
  vigil_sim_free(y);
}

TEST(five_agents_converge_without_a_false_alarm_at_one_percent_loss) {
  vigil_sim *s = sim_new(5, 1);
  vigil_sim_set_loss(s, 0.01);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.converged, 0);
  vigil_sim_run(s, SEC(5), false);
  vigil_sim_stats at5;
  vigil_sim_stats_get(s, &at5);
  vigil_sim_run(s, SEC(60), false);
  vigil_sim_stats_get(s, &st);
  CHECK(st.converged > 0 && st.converged < SEC(2)); /* a few rounds after the last start */
  CHECK_INT(st.false_alarms, 0);
  CHECK_INT(drain(s, VIGIL_EVENT_PEER_DOWN, -1), 0);
  CHECK(all_normal(s));
  /* The loss is real: ~1 % of what was sent (5 x 4 frames every 200 ms
   * once everyone is known). */
  uint64_t sent = st.frames_sent - at5.frames_sent, lost = st.frames_lost - at5.frames_lost;
  CHECK_INT(sent, 5 * 4 * 275);
  CHECK(lost >= sent / 200 && lost <= sent / 50);
  CHECK_INT(st.faults, 0);
  CHECK_INT(st.alive_ns > SEC(5 * 59) && st.alive_ns <= SEC(5 * 60), 1);
  vigil_sim_free(s);
}

TEST(a_kill_and_a_stop_are_detected_by_every_survivor_in_plausible_times) {
  vigil_sim *s = sim_new(5, 3);
  vigil_sim_run(s, SEC(10), false);
  CHECK(all_normal(s));
  CHECK_INT(vigil_sim_kill(s, 3), VIGIL_OK);
  vigil_sim_run(s, SEC(20), false);
  CHECK_INT(vigil_sim_stop(s, 4), VIGIL_OK);
  vigil_sim_run(s, SEC(30), false);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.faults, 2);
  CHECK_INT(st.false_alarms, 0);
  CHECK(st.refusals > 0); /* the kill's host answered */
  vigil_sim_fault f;
  CHECK(vigil_sim_fault_get(s, 0, &f));
  CHECK_INT(f.agent, 3);
  CHECK(!f.silent);
  CHECK_INT(f.at, SEC(10));
  CHECK_INT(f.observers, 3); /* 0, 1, 2: agent 4 was alive then, stopped now */
  CHECK_INT(f.detected, 3);
  vigil_time t[8] = {0};
  CHECK_INT(vigil_sim_fault_detections(s, 0, t, 8), 3);
  /* A kill is convicted by refusal once overdue: well under a second. */
  CHECK(t[0] > MS(100) && t[0] <= t[1] && t[1] <= t[2] && t[2] < SEC(1));
  CHECK(vigil_sim_fault_get(s, 1, &f));
  CHECK_INT(f.agent, 4);
  CHECK(f.silent);
  CHECK_INT(f.observers, 3);
  CHECK_INT(f.detected, 3);
  CHECK_INT(vigil_sim_fault_detections(s, 1, t, 2), 3); /* the count, though only 2 fit */
  CHECK_INT(vigil_sim_fault_detections(s, 1, t, 8), 3);
  /* A silent one only by phi: ~2.8 s with the defaults. */
  CHECK(t[0] >= SEC(2) && t[0] <= t[1] && t[1] <= t[2] && t[2] <= SEC(4));
  CHECK(!vigil_sim_fault_get(s, 2, &f));
  CHECK_INT(vigil_sim_fault_detections(s, 2, t, 8), 0);
  /* Faults apply to agents in the right state only. */
  CHECK_INT(vigil_sim_kill(s, 3), VIGIL_EINVAL);
  CHECK_INT(vigil_sim_stop(s, 3), VIGIL_EINVAL);
  CHECK_INT(vigil_sim_kill(s, 99), VIGIL_ENOENT);
  CHECK_INT(vigil_sim_resume(s, 0), VIGIL_EINVAL);
  CHECK_STR(vigil_sim_status_name(vigil_sim_status_of(s, 3)), "killed");
  CHECK_STR(vigil_sim_status_name(vigil_sim_status_of(s, 4)), "stopped");
  CHECK(vigil_sim_node(s, 3) == NULL && vigil_sim_node(s, 4) == NULL);
  /* Killing a stopped agent is no second fault. */
  CHECK_INT(vigil_sim_kill(s, 4), VIGIL_OK);
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.faults, 2);
  vigil_sim_free(s);
}

TEST(a_two_second_stall_raises_no_false_alarm) {
  vigil_sim *s = sim_new(5, 5);
  vigil_sim_run(s, SEC(10), false);
  CHECK(all_normal(s));
  CHECK_INT(vigil_sim_stall(s, 2, SEC(2)), VIGIL_OK);
  CHECK_STR(vigil_sim_status_name(vigil_sim_status_of(s, 2)), "stalled");
  CHECK(vigil_sim_node(s, 2) != NULL); /* alive, frozen */
  CHECK_INT(vigil_sim_stall(s, 2, SEC(1)), VIGIL_EINVAL);
  vigil_sim_run(s, SEC(30), false);
  CHECK_INT(vigil_sim_status_of(s, 2), VIGIL_SIM_ALIVE);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  CHECK_INT(st.faults, 0);
  CHECK_INT(drain(s, VIGIL_EVENT_PEER_DOWN, -1), 0);
  CHECK(all_normal(s));
  vigil_sim_free(s);
}

/* The counter can fail: a 10 s stall is longer than the detector rides
 * out, so every other agent convicts a process that is alive. */
TEST(a_ten_second_stall_is_convicted_and_counted_as_false_alarms) {
  vigil_sim *s = sim_new(5, 5);
  vigil_sim_run(s, SEC(10), false);
  drain(s, 0, -1);
  CHECK_INT(vigil_sim_stall(s, 2, SEC(10)), VIGIL_OK);
  vigil_sim_run(s, SEC(19), false);
  for (uint32_t i = 0; i < 5; i++)
    if (i != 2) CHECK_STR(seen(s, i, 2), "down");
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 4);
  CHECK_INT(drain(s, VIGIL_EVENT_PEER_DOWN, 2), 4);
  vigil_sim_run(s, SEC(30), false);
  /* Back, it is up again everywhere, and its own node, judging across its
   * stall, convicted nobody (the local-pause guard). */
  CHECK(all_normal(s));
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 4);
  CHECK_INT(drain(s, VIGIL_EVENT_PEER_DOWN, -1), 0);
  vigil_sim_free(s);
}

/* a -> b cut one way. With two agents nothing relays a's news to b: b
 * convicts a (a false alarm: a is alive), while a, still hearing b, keeps
 * b up. With a third agent, a's heartbeats reach b inside the third's
 * digests, and nobody convicts anybody: a one-way cut is invisible to
 * gossip as long as someone relays. Healing restores the direct link. */
TEST(a_one_way_cut_convicts_only_where_no_news_is_relayed_and_heal_restores) {
  vigil_sim *s = sim_new(2, 9);
  vigil_sim_run(s, SEC(5), false);
  CHECK(all_normal(s));
  drain(s, 0, -1);
  CHECK_INT(vigil_sim_cut(s, 0, 1, true), VIGIL_OK);
  vigil_sim_run(s, SEC(15), false);
  CHECK_STR(seen(s, 1, 0), "down");
  CHECK_STR(seen(s, 0, 1), "normal");
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 1);
  vigil_sim_heal(s);
  vigil_sim_run(s, SEC(16), false);
  CHECK(all_normal(s));
  uint32_t who;
  vigil_event e;
  int up = 0;
  while (vigil_sim_next_event(s, &who, &e)) up += who == 1 && e.type == VIGIL_EVENT_PEER_UP;
  CHECK_INT(up, 1);
  CHECK_INT(vigil_sim_cut(s, 0, 7, true), VIGIL_ENOENT);
  vigil_sim_free(s);

  s = sim_new(3, 9);
  vigil_sim_run(s, SEC(5), false);
  CHECK_INT(vigil_sim_cut(s, 0, 1, true), VIGIL_OK);
  vigil_sim_run(s, SEC(15), false);
  CHECK(all_normal(s));
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  /* Cut both ways from 0, 0 is alone: both sides convict each other. */
  CHECK_INT(vigil_sim_cut(s, 0, 1, false), VIGIL_OK);
  CHECK_INT(vigil_sim_cut(s, 0, 2, false), VIGIL_OK);
  vigil_sim_run(s, SEC(25), false);
  CHECK_STR(seen(s, 0, 1), "down");
  CHECK_STR(seen(s, 0, 2), "down");
  CHECK_STR(seen(s, 1, 0), "down");
  CHECK_STR(seen(s, 1, 2), "normal");
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 4);
  vigil_sim_heal(s);
  vigil_sim_run(s, SEC(27), false);
  CHECK(all_normal(s));
  vigil_sim_free(s);
}

TEST(a_restart_gives_peer_restarted_and_the_next_generation) {
  vigil_sim *s = sim_new(4, 11);
  vigil_sim_run(s, SEC(5), false);
  uint64_t first = vigil_members_generation(vigil_node_members(vigil_sim_node(s, 1)));
  CHECK(first > 1600000000000ull); /* wall-clock-sized, as the runtime's */
  drain(s, 0, -1);
  /* The next process's generation is the (virtual) wall clock as it starts. */
  uint64_t next = 1700000000000ull + vigil_sim_now(s) / VIGIL_MS;
  CHECK(next > first);
  CHECK_INT(vigil_sim_restart(s, 1), VIGIL_OK);
  CHECK_INT(vigil_members_generation(vigil_node_members(vigil_sim_node(s, 1))), next);
  vigil_sim_run(s, SEC(7), false);
  CHECK(all_normal(s));
  uint32_t who;
  vigil_event e;
  int restarted[4] = {0}, down = 0;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (e.type == VIGIL_EVENT_PEER_RESTARTED && strcmp(e.peer, vigil_sim_pname(s, 1)) == 0) restarted[who]++;
    down += e.type == VIGIL_EVENT_PEER_DOWN;
  }
  CHECK_INT(restarted[0], 1);
  CHECK_INT(restarted[1], 0);
  CHECK_INT(restarted[2], 1);
  CHECK_INT(restarted[3], 1);
  CHECK_INT(down, 0);
  /* The generation as the others heard it. */
  for (uint32_t i = 0; i < 4; i++) {
    if (i == 1) continue;
    vigil_node *n = vigil_sim_node(s, i);
    uint64_t gen = 0, ver = 0;
    vigil_time heard = 0;
    vigil_peer *p = vigil_pool_find(vigil_node_pool(n), vigil_sim_pname(s, 1));
    CHECK(p && vigil_members_info(vigil_node_members(n), p->idx, &gen, &ver, &heard));
    CHECK_INT(gen, next);
  }
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  CHECK_INT(vigil_sim_restart(s, 9), VIGIL_ENOENT);
  vigil_sim_free(s);
}

TEST(a_leave_gives_peer_left_at_every_other_agent) {
  vigil_sim *s = sim_new(5, 13);
  vigil_sim_run(s, SEC(5), false);
  drain(s, 0, -1);
  vigil_sim_stats before, after;
  vigil_sim_stats_get(s, &before);
  CHECK_INT(vigil_sim_leave(s, 4), VIGIL_OK);
  vigil_sim_stats_get(s, &after);
  CHECK_INT(after.frames_sent - before.frames_sent, 4); /* a shutdown frame to each peer */
  CHECK_INT(vigil_sim_status_of(s, 4), VIGIL_SIM_LEFT);
  CHECK(vigil_sim_node(s, 4) == NULL);
  CHECK_INT(vigil_sim_leave(s, 4), VIGIL_EINVAL);
  vigil_sim_run(s, SEC(5) + MS(10), false);
  uint32_t who;
  vigil_event e;
  int left[5] = {0}, down = 0;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (strcmp(e.peer, vigil_sim_pname(s, 4)) != 0) continue;
    if (e.type == VIGIL_EVENT_PEER_LEFT) left[who]++;
    if (e.type == VIGIL_EVENT_PEER_DOWN) down += e.cause == VIGIL_CAUSE_MARKED;
  }
  for (int i = 0; i < 4; i++) CHECK_INT(left[i], 1);
  CHECK_INT(down, 4);
  vigil_sim_run(s, SEC(10), false);
  for (uint32_t i = 0; i < 4; i++) CHECK_STR(seen(s, i, 4), "down");
  vigil_sim_stats_get(s, &after);
  CHECK_INT(after.false_alarms, 0);
  CHECK_INT(after.faults, 0); /* a leave is no failure */
  CHECK(after.refusals > 0);  /* its port is closed: heartbeats to it come back */
  vigil_sim_free(s);
}

TEST(agents_added_over_time_join_and_converge) {
  vigil_sim *s = sim_new(3, 17);
  vigil_sim_run(s, SEC(5), false);
  CHECK(all_normal(s));
  drain(s, 0, -1);
  vigil_sim_agent named = {"127.2.2.3:7000", "dc2", "r9", NULL};
  CHECK_INT(vigil_sim_add(s, NULL), 3);
  CHECK_INT(vigil_sim_add(s, &named), 4);
  CHECK_INT(vigil_sim_add(s, &named), VIGIL_EEXIST);
  vigil_sim_agent bad = {"no-port", NULL, NULL, NULL};
  CHECK(vigil_sim_add(s, &bad) < 0);
  CHECK_INT(vigil_sim_agents(s), 5);
  CHECK_INT(vigil_sim_status_of(s, 3), VIGIL_SIM_ALIVE); /* started at once */
  CHECK_STR(vigil_sim_pname(s, 3), "127.1.0.4:7946");
  CHECK_INT(vigil_sim_find(s, "127.2.2.3:7000"), 4);
  vigil_sim_run(s, SEC(8), false);
  CHECK(all_normal(s));
  uint32_t who;
  vigil_event e;
  int joined[5] = {0};
  while (vigil_sim_next_event(s, &who, &e))
    if (e.type == VIGIL_EVENT_PEER_JOINED && strcmp(e.peer, "127.2.2.3:7000") == 0) joined[who]++;
  for (int i = 0; i < 4; i++) CHECK_INT(joined[i], 1);
  /* Its placement travelled with its heartbeats. */
  vigil_peer *p = vigil_pool_find(vigil_node_pool(vigil_sim_node(s, 0)), "127.2.2.3:7000");
  CHECK(p && strcmp(p->dc, "dc2") == 0 && strcmp(p->rack, "r9") == 0);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  vigil_sim_free(s);
}

/* vigil_frames_received_total{type="heartbeat"} of agent i's node. */
static long long heartbeats_received(vigil_sim *s, uint32_t i) {
  size_t len;
  char *text = vigil_node_render_metrics(vigil_sim_node(s, i), vigil_sim_now(s), &len);
  const char *key = "vigil_frames_received_total{type=\"heartbeat\"} ";
  char *at = text ? strstr(text, key) : NULL;
  long long n = at ? atoll(at + strlen(key)) : -1;
  free(text);
  return n;
}

TEST(a_stalled_agents_datagrams_queue_up_to_the_backlog_and_are_read_at_resume) {
  for (int bounded = 0; bounded < 2; bounded++) {
    vigil_sim_config cfg;
    vigil_sim_config_init(&cfg);
    cfg.agents = 3;
    cfg.seed = 21;
    cfg.backlog = bounded ? 5 : 0; /* 0: the default, 4096 */
    vigil_sim *s = vigil_sim_new(&cfg, NULL);
    vigil_sim_run(s, SEC(5), false);
    long long got = heartbeats_received(s, 0);
    vigil_sim_stats before, after;
    vigil_sim_stats_get(s, &before);
    CHECK_INT(vigil_sim_stall(s, 0, SEC(2)), VIGIL_OK);
    /* Up to a hair before the end of the stall: nothing read, 2 agents x
     * 10 rounds queued (or lost past the backlog). */
    vigil_sim_run(s, SEC(7) - 1, false);
    CHECK_INT(heartbeats_received(s, 0), got);
    vigil_sim_stats_get(s, &after);
    CHECK_INT(after.frames_lost - before.frames_lost, bounded ? 20 - 5 : 0);
    vigil_sim_run(s, SEC(7), false); /* the resume, and no other delivery at that instant */
    CHECK_INT(heartbeats_received(s, 0), got + (bounded ? 5 : 20));
    vigil_sim_free(s);
  }
}

TEST(frames_and_bytes_are_counted) {
  vigil_sim *s = sim_new(3, 23);
  vigil_sim_run(s, SEC(5), false);
  vigil_sim_stats a, b;
  vigil_sim_stats_get(s, &a);
  CHECK(a.frames_sent > 0);
  /* At the start, frames to seeds not started yet are lost (nothing
   * listens on a host that is not there yet: the simulator is silent). */
  CHECK(a.frames_lost < 5);
  CHECK(a.bytes_sent > a.frames_sent * 40 && a.bytes_sent < a.frames_sent * VIGIL_FRAME_MAX);
  vigil_sim_run(s, SEC(15), false);
  vigil_sim_stats_get(s, &b);
  /* Three agents, all to all, every 200 ms for 10 s: 3 x 2 x 50. */
  CHECK_INT(b.frames_sent - a.frames_sent, 300);
  CHECK(b.bytes_sent - a.bytes_sent > 300 * 40);
  CHECK_INT(b.frames_lost - a.frames_lost, 0);
  CHECK_INT(b.refusals, 0);
  CHECK_INT(b.events_lost, 0);
  CHECK_INT(b.node_ns, 0); /* no stopwatch */
  vigil_sim_free(s);
}

static vigil_time fake_clock(void *ud) {
  vigil_time *t = ud;
  return *t += 1000; /* every reading is 1 us later */
}

TEST(a_stopwatch_measures_node_code_only) {
  vigil_time clock = 0;
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = 3;
  cfg.stopwatch = fake_clock;
  cfg.stopwatch_ud = &clock;
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  vigil_sim_run(s, SEC(2), false);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK(st.node_ns > 0 && st.node_ns < clock);
  CHECK_INT(vigil_sim_now(s), SEC(2)); /* the virtual clock is not the stopwatch */
  vigil_sim_free(s);
}

TEST(bad_configs_are_rejected_with_a_reason) {
  vigil_sim_config cfg;
  const char *why;
  vigil_sim_config_init(&cfg);
  cfg.agents = 5;
  cfg.loss = 2;
  why = NULL;
  CHECK(vigil_sim_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "loss"));
  cfg.loss = -0.1;
  CHECK(vigil_sim_new(&cfg, NULL) == NULL);
  vigil_sim_config_init(&cfg);
  cfg.agents = 5;
  cfg.interval = 0;
  why = NULL;
  CHECK(vigil_sim_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "interval"));
  vigil_sim_config_init(&cfg);
  cfg.agents = 5;
  cfg.seeds = 6;
  why = NULL;
  CHECK(vigil_sim_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "seeds"));
  vigil_sim_config_init(&cfg);
  cfg.agents = 5;
  cfg.detector.threshold = -1;
  why = NULL;
  CHECK(vigil_sim_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "threshold"));
  vigil_sim_agent names[2] = {{"127.0.0.1:1", NULL, NULL, NULL}, {"127.0.0.1:1", NULL, NULL, NULL}};
  vigil_sim_config_init(&cfg);
  cfg.agents = 2;
  cfg.names = names;
  why = NULL;
  CHECK(vigil_sim_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "duplicate"));
  vigil_sim_config_init(&cfg);
  cfg.agents = 2;
  cfg.seeds = 0;
  why = NULL;
  CHECK(vigil_sim_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "seeds"));
  /* And a good one is accepted: the checks are not always failing. */
  vigil_sim_config_init(&cfg);
  cfg.agents = 2;
  cfg.names = names;
  names[1].pname = "127.0.0.1:2";
  vigil_sim *s = vigil_sim_new(&cfg, &why);
  CHECK(s != NULL);
  CHECK_STR(vigil_sim_pname(s, 1), "127.0.0.1:2");
  /* Live changes are checked too. */
  CHECK_INT(vigil_sim_set_loss(s, 1.5), VIGIL_EINVAL);
  CHECK_INT(vigil_sim_set_loss(s, 0.5), VIGIL_OK);
  CHECK_INT(vigil_sim_set_agent_jitter(s, 7, VIGIL_MS), VIGIL_ENOENT);
  CHECK_INT(vigil_sim_kill(s, 1), VIGIL_EINVAL); /* not started yet */
  vigil_sim_free(s);
}

/* The host of a killed agent refuses; the refusal comes back to a sender
 * that is stalled meanwhile: its kernel keeps the error, and the agent
 * reads it when it resumes. The pause guard then counts the dead peer's
 * silence from the resume, so the refusal convicts once it is overdue
 * again (~0.3 s), long before phi would (~2.7 s). */
TEST(a_refusal_waits_for_a_stalled_sender) {
  vigil_sim *s = sim_new(3, 7);
  /* A 150 ms one-way latency: a round trip (300 ms) outlasts a gossip
   * interval, so a refusal for agent 0 is always on its way back. */
  vigil_sim_set_delay(s, 150 * VIGIL_MS, 0);
  vigil_sim_run(s, 10 * VIGIL_SEC, false);
  CHECK_INT(vigil_sim_kill(s, 2), VIGIL_OK);
  vigil_sim_run(s, 10 * VIGIL_SEC + 150 * VIGIL_MS, false);
  CHECK_INT(vigil_sim_stall(s, 0, 2 * VIGIL_SEC), VIGIL_OK);
  vigil_node *n0 = vigil_sim_node(s, 0);
  uint64_t before = vigil_node_refused_known(n0);
  vigil_sim_run(s, 12 * VIGIL_SEC + 140 * VIGIL_MS, false);
  const vigil_peer *p = vigil_pool_find(vigil_node_pool(n0), vigil_sim_pname(s, 2));
  CHECK(p != NULL);
  CHECK_INT(p->state, VIGIL_STATE_NORMAL); /* still stalled: judged nothing */
  CHECK_INT(vigil_node_refused_known(n0), before);
  /* Resumed at 12.15 s: 0.1 ms later, before any datagram it sends now
   * could have come back, the refusal kept while it stalled is read. */
  vigil_sim_run(s, 12 * VIGIL_SEC + 150 * VIGIL_MS + 100 * VIGIL_US, false);
  CHECK(vigil_node_refused_known(n0) > before);
  vigil_sim_run(s, 12 * VIGIL_SEC + 900 * VIGIL_MS, false);
  p = vigil_pool_find(vigil_node_pool(n0), vigil_sim_pname(s, 2));
  CHECK_INT(p->state, VIGIL_STATE_DOWN);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  vigil_sim_free(s);
}

TEST(agent_names_default_to_distinct_loopback_addresses) {
  vigil_sim *s = sim_new(600, 1); /* not run: names only */
  CHECK_INT(vigil_sim_agents(s), 600);
  CHECK_STR(vigil_sim_pname(s, 0), "127.1.0.1:7946");
  CHECK_STR(vigil_sim_pname(s, 1), "127.1.0.2:7946");
  CHECK_STR(vigil_sim_pname(s, 250), "127.1.1.1:7946");
  CHECK(vigil_sim_pname(s, 600) == NULL);
  int ok = 0;
  for (uint32_t i = 0; i < 600; i++) {
    const char *p = vigil_sim_pname(s, i);
    size_t n = strlen(p);
    ok += strncmp(p, "127.", 4) == 0 && n > 5 && strcmp(p + n - 5, ":7946") == 0 && vigil_sim_find(s, p) == i &&
          vigil_sim_status_of(s, i) == VIGIL_SIM_PENDING;
  }
  CHECK_INT(ok, 600); /* find() gives each name back its own index: all distinct */
  CHECK_INT(vigil_sim_find(s, "127.0.0.1:7946"), -1);
  vigil_sim_free(s);
}

/* The size the project's benchmarks start at: observers, converging in
 * seconds, then O(K) frames a round whatever the cluster size. */
TEST(two_hundred_agents_converge_and_send_o_k_frames) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = 200;
  cfg.seeds = 3;
  cfg.seed = 29;
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  vigil_sim_run(s, SEC(5), false);
  vigil_sim_stats at5, st;
  vigil_sim_stats_get(s, &at5);
  CHECK(at5.converged > 0 && at5.converged < SEC(5));
  vigil_sim_run(s, SEC(7), false);
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  CHECK_INT(st.events_lost, 0);
  /* O(K) frames: to 8 observers and ~8 subjects a round (a few more when
   * views differ), whatever the cluster size. */
  uint64_t frames = st.frames_sent - at5.frames_sent;
  CHECK(frames >= 200 * 10 * 12 && frames <= 200 * 10 * 20);
  CHECK_INT(st.frames_lost - at5.frames_lost, 0);
  CHECK(all_normal(s));
  vigil_sim_free(s);
}

/* A fault ends when its agent comes back: what happens to the agent later
 * (here it leaves, and everyone marks it down) is no detection of the old
 * fault. */
TEST(a_fault_ends_when_its_agent_comes_back) {
  for (int how = 0; how < 2; how++) {
    vigil_sim *s = sim_new(4, 31);
    vigil_sim_run(s, SEC(5), false);
    if (how == 0) {
      CHECK_INT(vigil_sim_kill(s, 3), VIGIL_OK);
      CHECK_INT(vigil_sim_restart(s, 3), VIGIL_OK); /* at once: nobody noticed */
    } else {
      CHECK_INT(vigil_sim_stop(s, 3), VIGIL_OK);
      vigil_sim_run(s, SEC(5) + MS(500), false);
      CHECK_INT(vigil_sim_resume(s, 3), VIGIL_OK); /* SIGCONT before phi convicts */
    }
    vigil_sim_run(s, SEC(10), false);
    CHECK(all_normal(s));
    CHECK_INT(vigil_sim_leave(s, 3), VIGIL_OK);
    vigil_sim_run(s, SEC(12), false);
    CHECK_INT(drain(s, VIGIL_EVENT_PEER_LEFT, 3), 3);
    vigil_sim_fault f;
    CHECK(vigil_sim_fault_get(s, 0, &f));
    CHECK_INT(f.observers, 3);
    CHECK_INT(f.detected, 0);
    CHECK_INT(vigil_sim_fault_detections(s, 0, NULL, 0), 0);
    vigil_sim_stats st;
    vigil_sim_stats_get(s, &st);
    CHECK_INT(st.false_alarms, 0);
    vigil_sim_free(s);
  }
}

TEST(detections_can_be_counted_without_a_buffer) {
  vigil_sim *s = sim_new(4, 33);
  vigil_sim_run(s, SEC(5), false);
  CHECK_INT(vigil_sim_kill(s, 3), VIGIL_OK);
  vigil_sim_run(s, SEC(10), false);
  CHECK_INT(vigil_sim_fault_detections(s, 0, NULL, 0), 3);
  vigil_sim_free(s);
}

/* With stop_on_event the run returns at the next event published, not at
 * once because earlier events are still waiting to be read. */
TEST(a_run_stops_at_the_next_event_published) {
  vigil_sim *s = sim_new(3, 35);
  vigil_sim_run(s, SEC(5), false); /* the joins wait, unread */
  uint64_t steps = vigil_sim_run(s, SEC(8), true);
  CHECK(steps > 100);
  CHECK_INT(vigil_sim_now(s), SEC(8)); /* nothing happened: ran to the end */
  CHECK_INT(vigil_sim_kill(s, 2), VIGIL_OK);
  drain(s, 0, -1);
  vigil_sim_run(s, SEC(20), true);
  CHECK(vigil_sim_now(s) > SEC(8) && vigil_sim_now(s) < SEC(9));
  uint32_t who;
  vigil_event e;
  CHECK(vigil_sim_next_event(s, &who, &e));
  CHECK_INT(e.type, VIGIL_EVENT_PEER_DOWN);
  CHECK_INT(e.at, vigil_sim_now(s));
  CHECK(!vigil_sim_next_event(s, &who, &e) || e.at == vigil_sim_now(s));
  vigil_sim_free(s);
}

/* Stopped in the middle of a stall, then continued: what queued during the
 * stall is read at the resume, and the backlog starts empty again. */
TEST(a_stall_interrupted_by_a_stop_still_reads_its_backlog_at_resume) {
  vigil_sim *s = sim_new(3, 37);
  vigil_sim_run(s, SEC(5), false);
  long long got = heartbeats_received(s, 0);
  CHECK_INT(vigil_sim_stall(s, 0, SEC(2)), VIGIL_OK);
  vigil_sim_run(s, SEC(6) - 1, false); /* 2 agents x 5 rounds queue */
  CHECK_INT(vigil_sim_stop(s, 0), VIGIL_OK);
  vigil_sim_run(s, SEC(6) + MS(500), false);
  CHECK_INT(vigil_sim_resume(s, 0), VIGIL_OK);
  CHECK_INT(heartbeats_received(s, 0), got + 10);
  vigil_sim_free(s);
}

/* An empty simulation has not converged: there is nobody yet. */
TEST(an_empty_simulation_converges_only_once_agents_join) {
  vigil_sim *s = sim_new(0, 39);
  vigil_sim_run(s, SEC(1), false);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.converged, 0);
  CHECK_INT(vigil_sim_add(s, NULL), 0);
  CHECK_INT(vigil_sim_add(s, NULL), 1);
  vigil_sim_run(s, SEC(3), false);
  vigil_sim_stats_get(s, &st);
  CHECK(st.converged > SEC(1) && st.converged < SEC(3));
  vigil_sim_free(s);
}

/* Past the agent table's first size (16): adding moves the table, and the
 * agents started after that still find their seeds. */
TEST(many_agents_added_over_time_still_reach_their_seeds) {
  vigil_sim *s = sim_new(3, 41);
  vigil_sim_run(s, SEC(2), false);
  for (int k = 0; k < 30; k++) {
    CHECK_INT(vigil_sim_add(s, NULL), 3 + k);
    vigil_sim_run(s, SEC(2) + MS(100) * (vigil_time)(k + 1), false);
  }
  vigil_sim_run(s, SEC(10), false);
  CHECK_INT(vigil_sim_agents(s), 33);
  CHECK(all_normal(s));
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  vigil_sim_free(s);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(the_same_seed_gives_the_same_run_and_another_seed_another);
  RUN(five_agents_converge_without_a_false_alarm_at_one_percent_loss);
  RUN(a_kill_and_a_stop_are_detected_by_every_survivor_in_plausible_times);
  RUN(a_two_second_stall_raises_no_false_alarm);
  RUN(a_ten_second_stall_is_convicted_and_counted_as_false_alarms);
  RUN(a_one_way_cut_convicts_only_where_no_news_is_relayed_and_heal_restores);
  RUN(a_restart_gives_peer_restarted_and_the_next_generation);
  RUN(a_leave_gives_peer_left_at_every_other_agent);
  RUN(agents_added_over_time_join_and_converge);
  RUN(a_stalled_agents_datagrams_queue_up_to_the_backlog_and_are_read_at_resume);
  RUN(frames_and_bytes_are_counted);
  RUN(a_stopwatch_measures_node_code_only);
  RUN(bad_configs_are_rejected_with_a_reason);
  RUN(a_refusal_waits_for_a_stalled_sender);
  RUN(agent_names_default_to_distinct_loopback_addresses);
  RUN(a_fault_ends_when_its_agent_comes_back);
  RUN(detections_can_be_counted_without_a_buffer);
  RUN(a_run_stops_at_the_next_event_published);
  RUN(a_stall_interrupted_by_a_stop_still_reads_its_backlog_at_resume);
  RUN(an_empty_simulation_converges_only_once_agents_join);
  RUN(many_agents_added_over_time_still_reach_their_seeds);
  RUN(two_hundred_agents_converge_and_send_o_k_frames);
  return CHECK_DONE();
}
