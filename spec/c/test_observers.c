/*
 * test_observers.c - large clusters: the observer rings (ring.c), alerts
 * and the quorum, refutation, one-way cuts, and the switch between a small
 * cluster (everyone judges everyone) and observers, on the simulator and on
 * frames forged by hand.
 */
#include <stdlib.h>

#include "check.h"
#include "internal.h"
#include "vigil.h"
#include "vigil_sim.h"
#include "sim_views.h"

#define SEC(x) ((vigil_time)(x)*VIGIL_SEC)
#define MS(x)  ((vigil_time)(x)*VIGIL_MS)

/* ---- the rings ------------------------------------------------------------ */

static void name_of(char *buf, size_t cap, uint32_t i) { snprintf(buf, cap, "127.0.%u.%u:7946", i / 250, i % 250 + 1); }

static bool has(const uint32_t *v, uint32_t n, uint32_t x) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i] == x) return true;
  return false;
}

TEST(observers_are_k_distinct_members_and_subjects_are_exactly_their_inverse) {
  enum { N = 120, K = 8 };
  vigil__rings *r = vigil__rings_new(K);
  uint64_t h[N];
  for (uint32_t i = 0; i < N; i++) {
    char name[32];
    name_of(name, sizeof name, i);
    h[i] = vigil__ring_hash(name);
    CHECK_INT(vigil__rings_add(r, i, h[i]), VIGIL_OK);
  }
  CHECK_INT(vigil__rings_commit(r), VIGIL_OK);
  CHECK_INT(vigil__rings_size(r), N);
  static uint32_t obs[N][VIGIL__RINGS_MAX], nobs[N];
  for (uint32_t x = 0; x < N; x++) {
    nobs[x] = vigil__rings_observers(r, h[x], x, obs[x]);
    CHECK_INT(nobs[x], K);
    CHECK(!has(obs[x], nobs[x], x));
    for (uint32_t a = 0; a < nobs[x]; a++)
      for (uint32_t b = a + 1; b < nobs[x]; b++) CHECK(obs[x][a] != obs[x][b]);
  }
  uint32_t total = 0;
  for (uint32_t o = 0; o < N; o++) {
    uint32_t subj[2 * VIGIL__RINGS_MAX];
    uint32_t ns = vigil__rings_subjects(r, h[o], o, subj, 2 * VIGIL__RINGS_MAX);
    total += ns;
    for (uint32_t x = 0; x < N; x++) CHECK_INT(has(subj, ns, x), has(obs[x], nobs[x], o));
  }
  CHECK_INT(total, N * K); /* every observation counted once from each side */
  vigil__rings_free(r);
}

/* Two agents that know the same members, each in its own pool slots,
 * compute the same observers for everyone. */
TEST(agents_that_know_the_same_members_agree_on_every_observer) {
  enum { N = 60, K = 8 };
  vigil__rings *a = vigil__rings_new(K), *b = vigil__rings_new(K);
  char names[N][32];
  for (uint32_t i = 0; i < N; i++) {
    name_of(names[i], sizeof names[i], i);
    vigil__rings_add(a, i, vigil__ring_hash(names[i]));         /* slot i */
    vigil__rings_add(b, N - 1 - i, vigil__ring_hash(names[i])); /* slot N-1-i */
  }
  vigil__rings_commit(a);
  vigil__rings_commit(b);
  for (uint32_t i = 0; i < N; i++) {
    uint32_t oa[VIGIL__RINGS_MAX], ob[VIGIL__RINGS_MAX];
    uint64_t h = vigil__ring_hash(names[i]);
    uint32_t na = vigil__rings_observers(a, h, i, oa), nb = vigil__rings_observers(b, h, N - 1 - i, ob);
    CHECK_INT(na, nb);
    for (uint32_t k = 0; k < na && k < nb; k++) CHECK_INT(oa[k], N - 1 - ob[k]);
  }
  vigil__rings_free(a);
  vigil__rings_free(b);
}

TEST(removals_and_reused_slots_take_effect_at_commit) {
  vigil__rings *r = vigil__rings_new(4);
  for (uint32_t i = 0; i < 10; i++) vigil__rings_add(r, i, vigil__ring_hash((char[]){(char)('a' + i), 0}));
  vigil__rings_commit(r);
  CHECK_INT(vigil__rings_size(r), 10);
  vigil__rings_remove(r, 3);
  CHECK(!vigil__rings_contains(r, 3));
  CHECK_INT(vigil__rings_size(r), 10); /* not before the commit */
  vigil__rings_add(r, 3, vigil__ring_hash("reused"));
  vigil__rings_remove(r, 7);
  CHECK_INT(vigil__rings_commit(r), VIGIL_OK);
  CHECK_INT(vigil__rings_size(r), 9);
  CHECK(vigil__rings_contains(r, 3));
  CHECK(!vigil__rings_contains(r, 7));
  for (uint32_t x = 0; x < 10; x++) {
    uint32_t o[VIGIL__RINGS_MAX];
    uint32_t n = vigil__rings_observers(r, vigil__ring_hash("q"), 99, o);
    CHECK_INT(n, 4);
    CHECK(!has(o, n, 7));
  }
  /* Tiny rings: as many distinct observers as there are others. */
  vigil__rings *t = vigil__rings_new(8);
  uint32_t o[VIGIL__RINGS_MAX];
  vigil__rings_add(t, 0, 1);
  vigil__rings_commit(t);
  CHECK_INT(vigil__rings_observers(t, 1, 0, o), 0);
  vigil__rings_add(t, 1, 2);
  vigil__rings_add(t, 2, 3);
  vigil__rings_commit(t);
  CHECK_INT(vigil__rings_observers(t, 1, 0, o), 2);
  CHECK(vigil__rings_new(0) == NULL && vigil__rings_new(VIGIL__RINGS_MAX + 1) == NULL);
  vigil__rings_free(t);
  vigil__rings_free(r);
}

/* ---- on the simulator --------------------------------------------------------- */

static vigil_sim *sim_new(uint32_t n, uint64_t seed, double loss) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = n;
  cfg.seed = seed;
  cfg.loss = loss;
  cfg.seeds = 2;
  cfg.collect = true;
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  return s;
}

static void drain(vigil_sim *s) {
  uint32_t who;
  vigil_event e;
  while (vigil_sim_next_event(s, &who, &e)) {
  }
}

/* peer_down events about agent j, by cause. */
static void downs(vigil_sim *s, uint32_t j, int by_cause[VIGIL_CAUSES]) {
  uint32_t who;
  vigil_event e;
  memset(by_cause, 0, sizeof(int) * VIGIL_CAUSES);
  while (vigil_sim_next_event(s, &who, &e))
    if (e.type == VIGIL_EVENT_PEER_DOWN && strcmp(e.peer, vigil_sim_pname(s, j)) == 0) by_cause[e.cause]++;
}

/* Agent i's view of agent x's observers, as agent indices. */
static uint32_t observers_of(vigil_sim *s, uint32_t i, uint32_t x, uint32_t *out) {
  vigil_node *n = vigil_sim_node(s, i);
  uint32_t idx[VIGIL__RINGS_MAX];
  uint32_t k = vigil_members_observers_of(vigil_node_members(n), vigil_sim_pname(s, x), idx, VIGIL__RINGS_MAX);
  for (uint32_t q = 0; q < k; q++) {
    const vigil_peer *p = vigil_pool_get(vigil_node_pool(n), idx[q]);
    out[q] = (uint32_t)vigil_sim_find(s, p->pname);
  }
  return k;
}

/* A frame from agent `from` (a rumour frame, no heartbeat) carrying alerts
 * about `subject` from each of `observers`, handed to agent `to`. */
static int forge_alerts(vigil_sim *s, uint32_t from, uint32_t to, uint32_t subject, uint64_t inc,
                        const uint32_t *observers, uint32_t n) {
  static vigil_frame f;
  memset(&f, 0, sizeof f);
  f.type = VIGIL_FRAME_DIGEST;
  snprintf(f.from, sizeof f.from, "%s", vigil_sim_pname(s, from));
  f.generation = vigil_members_generation(vigil_node_members(vigil_sim_node(s, from)));
  uint64_t gen = vigil_members_generation(vigil_node_members(vigil_sim_node(s, subject)));
  for (uint32_t i = 0; i < n; i++) {
    vigil_alert_entry *a = &f.alerts[f.nalerts++];
    snprintf(a->subject, sizeof a->subject, "%s", vigil_sim_pname(s, subject));
    a->generation = gen;
    a->incarnation = inc;
    snprintf(a->observer, sizeof a->observer, "%s", vigil_sim_pname(s, observers[i]));
  }
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = vigil_frame_encode(&f, NULL, buf, sizeof buf);
  if (len < 0) return len;
  return vigil_node_receive(vigil_sim_node(s, to), buf, (size_t)len, vigil_sim_pname(s, from), vigil_sim_now(s));
}

static bool metric(vigil_sim *s, uint32_t i, const char *line) {
  size_t len;
  char *text = vigil_node_render_metrics(vigil_sim_node(s, i), vigil_sim_now(s), &len);
  bool ok = text && strstr(text, line) != NULL;
  if (!ok) fprintf(stderr, "  (agent %u's metrics lack \"%s\")\n", i, line);
  free(text);
  return ok;
}

/* Only the subject's observers' alerts count, only about its current
 * incarnation, and it takes a quorum (5 of 8) of them to convict. */
TEST(a_quorum_of_observers_alerts_convicts_and_nothing_less_does) {
  vigil_sim *s = sim_new(30, 3, 0);
  vigil_sim_run(s, SEC(10), false);
  CHECK(all_normal(s));
  CHECK(!vigil_members_small(vigil_node_members(vigil_sim_node(s, 0))));
  uint32_t x = 7, obs[VIGIL__RINGS_MAX];
  uint32_t k = observers_of(s, 0, x, obs);
  CHECK_INT(k, 8);
  uint32_t strangers[8], ns = 0;
  for (uint32_t i = 1; i < 30 && ns < 8; i++)
    if (i != x && !has(obs, k, i)) strangers[ns++] = i;
  /* Eight alerts from agents that are not x's observers: nothing. */
  CHECK_INT(forge_alerts(s, 1, 0, x, 0, strangers, ns), VIGIL_OK);
  CHECK_STR(seen(s, 0, x), "normal");
  CHECK(metric(s, 0, "vigil_alerts_received_total{result=\"not_observer\"} 8"));
  /* About a later incarnation than x ever had: adopted, but four
   * observers are not a quorum. About an older one: stale. */
  CHECK_INT(forge_alerts(s, 1, 0, x, 0, obs, 4), VIGIL_OK);
  CHECK_STR(seen(s, 0, x), "normal");
  CHECK(metric(s, 0, "vigil_alerts_received_total{result=\"accepted\"} 4"));
  CHECK(metric(s, 0, "vigil_suspects 1"));
  CHECK_INT(forge_alerts(s, 1, 0, x, 0, obs, 4), VIGIL_OK); /* the same four again */
  CHECK_STR(seen(s, 0, x), "normal");
  drain(s);
  /* The fifth observer makes the quorum. */
  CHECK_INT(forge_alerts(s, 1, 0, x, 0, obs, 5), VIGIL_OK);
  CHECK_STR(seen(s, 0, x), "down");
  vigil_sim_run(s, vigil_sim_now(s) + MS(300), false); /* the simulator collects the event */
  uint32_t who;
  vigil_event e;
  int observers = 0;
  while (vigil_sim_next_event(s, &who, &e))
    observers += who == 0 && e.type == VIGIL_EVENT_PEER_DOWN && e.cause == VIGIL_CAUSE_OBSERVERS;
  CHECK_INT(observers, 1);
  /* x hears of it, refutes with a new incarnation, and is up again
   * everywhere. (The forged alerts spread like real ones: an alert names
   * its observer, but nothing proves the observer wrote it -- without
   * signed alerts, whoever can send a frame can forge a quorum; see the
   * trust issue. The refutation is what undoes it.) */
  vigil_sim_run(s, SEC(13), false);
  CHECK(all_normal(s));
  CHECK(vigil_members_incarnation(vigil_node_members(vigil_sim_node(s, x))) >= 1);
  /* Alerts about the incarnation x has refuted are void now. */
  CHECK_INT(forge_alerts(s, 1, 0, x, 0, obs, 8), VIGIL_OK);
  CHECK_STR(seen(s, 0, x), "normal");
  vigil_sim_free(s);
}

/* An agent that hears an alert about itself raises its incarnation; the
 * others learn it, and nobody convicts anybody. */
TEST(a_live_agent_refutes_an_alert_about_itself) {
  vigil_sim *s = sim_new(20, 5, 0);
  vigil_sim_run(s, SEC(10), false);
  uint32_t obs[VIGIL__RINGS_MAX];
  observers_of(s, 0, 4, obs);
  CHECK_INT(forge_alerts(s, 1, 4, 4, 0, obs, 1), VIGIL_OK);
  CHECK_INT(vigil_members_incarnation(vigil_node_members(vigil_sim_node(s, 4))), 1);
  CHECK(metric(s, 4, "vigil_refutations_total 1"));
  /* About a past incarnation: nothing to refute. */
  CHECK_INT(forge_alerts(s, 1, 4, 4, 0, obs, 1), VIGIL_OK);
  CHECK_INT(vigil_members_incarnation(vigil_node_members(vigil_sim_node(s, 4))), 1);
  vigil_sim_run(s, SEC(15), false);
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  CHECK(all_normal(s));
  vigil_sim_free(s);
}

/* A 6 s stall is longer than detection: the stalled agent is convicted
 * everywhere (false alarms, by definition), learns it when it resumes,
 * refutes, and everyone has it up again within seconds. */
TEST(a_long_stall_is_convicted_then_refuted_back_up_everywhere) {
  vigil_sim *s = sim_new(30, 7, 0.01);
  vigil_sim_run(s, SEC(10), false);
  drain(s);
  CHECK_INT(vigil_sim_stall(s, 12, SEC(6)), VIGIL_OK);
  vigil_sim_run(s, SEC(16), false);
  int down = 0;
  for (uint32_t i = 0; i < 30; i++) down += i != 12 && strcmp(seen(s, i, 12), "down") == 0;
  CHECK_INT(down, 29);
  int by[VIGIL_CAUSES];
  downs(s, 12, by);
  CHECK(by[VIGIL_CAUSE_OBSERVERS] >= 21); /* all but (at most) its 8 observers */
  vigil_sim_run(s, SEC(20), false);
  CHECK(all_normal(s));
  CHECK(vigil_members_incarnation(vigil_node_members(vigil_sim_node(s, 12))) >= 1);
  vigil_sim_free(s);
}

/* An agent cut off one way from a minority of its 8 observers (3), or
 * half of them (4): they alert, it hears the alerts (the other way works)
 * and refutes each time, and nobody convicts it. (Cut off from a quorum,
 * 5, some agent now and then counts 5 alerts before the refutation
 * reaches it: a conviction, undone at once.) Only an agent cut off both
 * ways from everyone stays convicted. */
TEST(a_one_way_cut_from_observers_convicts_nobody_isolation_does) {
  for (int cut = 3; cut <= 4; cut++) {
    vigil_sim *s = sim_new(40, 11, 0.01);
    vigil_sim_run(s, SEC(10), false);
    uint32_t x = 21, obs[VIGIL__RINGS_MAX];
    uint32_t k = observers_of(s, 0, x, obs);
    CHECK_INT(k, 8);
    for (int i = 0; i < cut; i++) CHECK_INT(vigil_sim_cut(s, x, obs[i], true), VIGIL_OK);
    vigil_sim_run(s, SEC(70), false);
    vigil_sim_stats st;
    vigil_sim_stats_get(s, &st);
    CHECK_INT(st.false_alarms, 0);
    CHECK(all_normal(s));
    CHECK(vigil_members_incarnation(vigil_node_members(vigil_sim_node(s, x))) >= 3); /* it kept refuting */
    vigil_sim_heal(s);
    for (uint32_t i = 0; i < 40; i++)
      if (i != x) CHECK_INT(vigil_sim_cut(s, x, i, false), VIGIL_OK);
    vigil_sim_run(s, SEC(80), false);
    int down = 0;
    for (uint32_t i = 0; i < 40; i++) down += i != x && strcmp(seen(s, i, x), "down") == 0;
    CHECK_INT(down, 39);
    vigil_sim_heal(s);
    vigil_sim_run(s, SEC(90), false);
    CHECK(all_normal(s));
    vigil_sim_free(s);
  }
}

/* kill -9 in a large cluster: the observers' refusals become alerts, the
 * alerts a quorum everywhere, within about a second. */
TEST(a_killed_agent_is_convicted_by_every_survivor_on_its_observers_alerts) {
  vigil_sim *s = sim_new(60, 13, 0.01);
  vigil_sim_run(s, SEC(10), false);
  drain(s);
  CHECK_INT(vigil_sim_kill(s, 33), VIGIL_OK);
  vigil_sim_run(s, SEC(14), false);
  vigil_sim_fault f;
  CHECK(vigil_sim_fault_get(s, 0, &f));
  CHECK_INT(f.observers, 59);
  CHECK_INT(f.detected, 59);
  vigil_time t[64];
  uint32_t n = vigil_sim_fault_detections(s, 0, t, 64);
  CHECK_INT(n, 59);
  CHECK(n == 59 && t[58] < SEC(2)); /* the slowest observer, within two seconds */
  int by[VIGIL_CAUSES];
  downs(s, 33, by);
  CHECK(by[VIGIL_CAUSE_OBSERVERS] >= 51);
  CHECK(metric(s, 0, "vigil_small_cluster 0"));
  vigil_sim_free(s);
}

/* Up to K + 1 agents every agent judges every other itself, on its own
 * detector: causes phi and refused, and no alert is ever raised. */
TEST(a_small_cluster_judges_every_peer_itself) {
  vigil_sim *s = sim_new(9, 17, 0.01);
  vigil_sim_run(s, SEC(10), false);
  CHECK(all_normal(s));
  CHECK(vigil_members_small(vigil_node_members(vigil_sim_node(s, 0))));
  drain(s);
  CHECK_INT(vigil_sim_kill(s, 4), VIGIL_OK);
  CHECK_INT(vigil_sim_stop(s, 6), VIGIL_OK);
  vigil_sim_run(s, SEC(20), false);
  int by[VIGIL_CAUSES];
  downs(s, 4, by);
  CHECK_INT(by[VIGIL_CAUSE_REFUSED] + by[VIGIL_CAUSE_PHI], 7);
  CHECK_INT(by[VIGIL_CAUSE_OBSERVERS], 0);
  for (uint32_t i = 0; i < 9; i++)
    if (i != 4 && i != 6) CHECK(metric(s, i, "vigil_alerts_raised_total 0"));
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  vigil_sim_free(s);
}

/* A cluster that grows from 5 to 25 agents moves to observers, and back
 * to everyone-judges-everyone when it shrinks, without a false alarm. */
TEST(a_growing_then_shrinking_cluster_switches_modes_without_false_alarms) {
  vigil_sim *s = sim_new(5, 19, 0.01);
  vigil_sim_run(s, SEC(5), false);
  for (uint32_t i = 0; i < 20; i++) {
    CHECK(vigil_sim_add(s, NULL) >= 0);
    vigil_sim_run(s, SEC(5) + MS(300) * (i + 1), false);
  }
  vigil_sim_run(s, SEC(30), false);
  CHECK(all_normal(s));
  CHECK(!vigil_members_small(vigil_node_members(vigil_sim_node(s, 0))));
  for (uint32_t i = 9; i < 25; i++) CHECK_INT(vigil_sim_leave(s, i), VIGIL_OK);
  vigil_sim_run(s, SEC(130), false); /* reaped after 60 s: small again */
  CHECK(vigil_members_small(vigil_node_members(vigil_sim_node(s, 0))));
  CHECK(all_normal(s));
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK_INT(st.false_alarms, 0);
  /* Small again: a stop is judged by phi, at every survivor. */
  drain(s);
  CHECK_INT(vigil_sim_stop(s, 3), VIGIL_OK);
  vigil_sim_run(s, SEC(140), false);
  int by[VIGIL_CAUSES];
  downs(s, 3, by);
  CHECK_INT(by[VIGIL_CAUSE_PHI], 8);
  vigil_sim_free(s);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(observers_are_k_distinct_members_and_subjects_are_exactly_their_inverse);
  RUN(agents_that_know_the_same_members_agree_on_every_observer);
  RUN(removals_and_reused_slots_take_effect_at_commit);
  RUN(a_quorum_of_observers_alerts_convicts_and_nothing_less_does);
  RUN(a_live_agent_refutes_an_alert_about_itself);
  RUN(a_long_stall_is_convicted_then_refuted_back_up_everywhere);
  RUN(a_one_way_cut_from_observers_convicts_nobody_isolation_does);
  RUN(a_killed_agent_is_convicted_by_every_survivor_on_its_observers_alerts);
  RUN(a_small_cluster_judges_every_peer_itself);
  RUN(a_growing_then_shrinking_cluster_switches_modes_without_false_alarms);
  return CHECK_DONE();
}
