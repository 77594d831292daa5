/*
 * test_member.c - membership in virtual time: joins through a seed,
 * digests, kills (refused) and stops (silent), restarts, leaves, reaping
 * and observers, on the simulator (vigil_sim.h: real nodes on an in-memory
 * network), and, where a test must forge, replay or capture frames, on a
 * few nodes driven by hand (the rig below). The multi-process specs check
 * the same over real UDP.
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"
#include "vigil_sim.h"
#include "sim_views.h"

/* Agent i's generations are GEN(i) + 1, + 2, ... (wall-clock milliseconds
 * of a fixed 2023 instant plus a second per agent, as sim.c makes them). */
#define GEN(i) (1700000000000ull + (uint64_t)(i)*1000u)

#define MS(x) ((vigil_time)(x)*VIGIL_MS)

/* ---- on the simulator --------------------------------------------------------- */

/* n agents, agent 0 everyone's seed, 200 ms gossip, the detector's
 * acceptable pause `pause` (0 = the default 2 s), reaping after 30 s. */
static vigil_sim *sim_new(uint32_t n, vigil_time pause, uint32_t seeds, uint32_t observers) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = n;
  cfg.seeds = seeds;
  cfg.observers = observers;
  cfg.collect = true;
  cfg.reap_after = 30 * VIGIL_SEC;
  if (pause) cfg.detector.acceptable_pause = pause; /* 200 ms: a silent peer is convicted after ~0.92 s */
  const char *why = NULL;
  vigil_sim *s = vigil_sim_new(&cfg, &why);
  if (!s) fprintf(stderr, "vigil_sim_new: %s\n", why ? why : "?");
  return s;
}

/* Take the collected events; count those of `type` (0 = any) published by
 * agent i (-1 = any) about agent j (-1 = any). */
static int events(vigil_sim *s, int i, vigil_event_type type, int j) {
  uint32_t who;
  vigil_event e;
  int n = 0;
  while (vigil_sim_next_event(s, &who, &e))
    if ((i < 0 || who == (uint32_t)i) && (!type || e.type == type) &&
        (j < 0 || strcmp(e.peer, vigil_sim_pname(s, (uint32_t)j)) == 0))
      n++;
  return n;
}

/* ---- by hand: a few nodes, frames delivered 10 ms after they are sent --------- */

#define RIG_MAX   12
#define RIG_QUEUE 1024

typedef struct rig {
  vigil_node *n[RIG_MAX];
  char pname[RIG_MAX][32];
  bool up[RIG_MAX]; /* driven and reachable */
  int k;            /* nodes made */
  int cur;          /* the node being driven (the sender) */
  vigil_time now;
  struct {
    int from, to;
    uint16_t len;
    uint8_t bytes[VIGIL_FRAME_MAX];
  } q[RIG_QUEUE]; /* sent, delivered at the next step */
  int nq;
  long got[RIG_MAX][RIG_MAX]; /* datagrams delivered, [from][to] */
} rig;

static int rig_find(const rig *r, const char *pname) {
  for (int i = 0; i < r->k; i++)
    if (strcmp(r->pname[i], pname) == 0) return i;
  return -1;
}

static int rig_send(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  rig *r = ud;
  int to = rig_find(r, pname);
  if (to < 0 || !r->up[to] || r->nq == RIG_QUEUE) return 0; /* UDP: the sender cannot tell */
  r->q[r->nq].from = r->cur;
  r->q[r->nq].to = to;
  r->q[r->nq].len = (uint16_t)len;
  memcpy(r->q[r->nq].bytes, buf, len);
  r->nq++;
  return 0;
}

/* Node i, named 127.0.0.1:7000+i, seeded with node 0 (unless it is 0). */
static vigil_node *rig_add(rig *r, int i, uint64_t generation, const vigil_keyring *kr, vigil_time pause) {
  snprintf(r->pname[i], sizeof r->pname[i], "127.0.0.1:%d", 7000 + i);
  if (i >= r->k) r->k = i + 1;
  const char *seeds[] = {"127.0.0.1:7000"};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = r->pname[i];
  cfg.seeds = seeds;
  cfg.nseeds = i ? 1 : 0;
  cfg.generation = generation;
  cfg.seed = (uint64_t)i * 7919 + generation;
  cfg.keyring = kr;
  if (pause) cfg.detector.acceptable_pause = pause;
  r->cur = i;
  r->n[i] = vigil_node_new(&cfg, rig_send, r, r->now, NULL);
  r->up[i] = r->n[i] != NULL;
  return r->n[i];
}

static void rig_run(rig *r, vigil_time until) {
  for (vigil_time t = r->now; t < until; t += MS(10)) {
    r->now = t;
    int nq = r->nq;
    for (int k = 0; k < nq; k++) {
      int to = r->q[k].to;
      if (!r->up[to]) continue;
      r->got[r->q[k].from][to]++;
      r->cur = to;
      vigil_node_receive(r->n[to], r->q[k].bytes, r->q[k].len, r->pname[r->q[k].from], t);
    }
    memmove(r->q, r->q + nq, (size_t)(r->nq - nq) * sizeof r->q[0]);
    r->nq -= nq;
    for (int i = 0; i < r->k; i++) {
      if (!r->up[i] || vigil_node_next_timer(r->n[i]) > t) continue;
      r->cur = i;
      vigil_node_timer(r->n[i], t);
    }
  }
  r->now = until;
}

static void rig_free(rig *r) {
  for (int i = 0; i < r->k; i++) vigil_node_free(r->n[i]);
  free(r);
}

static const char *rig_seen(rig *r, int i, int j) {
  vigil_peer *p = vigil_pool_find(vigil_node_pool(r->n[i]), r->pname[j]);
  return p ? vigil_state_name(p->state) : "-";
}

/* Node i's metrics, handler's and membership's (free() it). */
static char *rig_metrics(rig *r, int i) {
  size_t len;
  return vigil_node_render_metrics(r->n[i], r->now, &len);
}

/* ---- the tests ------------------------------------------------------------------ */

TEST(three_agents_join_through_a_seed_and_converge) {
  vigil_sim *s = sim_new(3, 0, 1, 0);
  vigil_sim_run(s, MS(2000), false);
  CHECK(all_normal(s));
  CHECK_STR(seen(s, 1, 2), "normal"); /* 1 and 2 met through 0's digest */
  CHECK_INT(events(s, 1, VIGIL_EVENT_PEER_JOINED, 2), 1);
  vigil_pool *pool = vigil_node_pool(vigil_sim_node(s, 0));
  CHECK_INT(vigil_pool_get(pool, (uint32_t)vigil_pool_local(pool))->state, VIGIL_STATE_NORMAL);
  /* Generation and version travel in heartbeats. */
  uint64_t gen, ver;
  vigil_time heard;
  vigil_peer *p = vigil_pool_find(pool, vigil_sim_pname(s, 1));
  CHECK(p && vigil_members_info(vigil_node_members(vigil_sim_node(s, 0)), p->idx, &gen, &ver, &heard));
  /* agent 1's first process: the wall clock when it started, as the runtime's */
  CHECK_INT(gen, vigil_members_generation(vigil_node_members(vigil_sim_node(s, 1))));
  CHECK(gen >= GEN(0) && gen < GEN(0) + 2000);
  CHECK(ver > 3);
  CHECK(heard > MS(1500));
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK(st.converged > 0 && st.converged < MS(2000));
  vigil_sim_free(s);
}

/* A 200 ms acceptable pause: a process killed on a live host (its port
 * refuses) and a silent one (SIGSTOP, or a dead host) are both convicted
 * by every other agent within about a second. */
TEST(a_killed_agent_is_convicted_by_the_others_within_a_second_or_so) {
  vigil_sim *s = sim_new(4, MS(200), 1, 0);
  vigil_sim_run(s, MS(3000), false);
  CHECK(all_normal(s));
  events(s, -1, 0, -1);
  CHECK_INT(vigil_sim_kill(s, 2), VIGIL_OK);
  CHECK_INT(vigil_sim_stop(s, 3), VIGIL_OK);
  vigil_time t = MS(3000);
  while (t < MS(8000) && (strcmp(seen(s, 0, 2), "down") != 0 || strcmp(seen(s, 1, 2), "down") != 0 ||
                          strcmp(seen(s, 0, 3), "down") != 0 || strcmp(seen(s, 1, 3), "down") != 0)) {
    t += MS(100);
    vigil_sim_run(s, t, false);
  }
  CHECK_STR(seen(s, 0, 2), "down");
  CHECK_STR(seen(s, 1, 2), "down");
  CHECK_STR(seen(s, 0, 3), "down");
  CHECK_STR(seen(s, 1, 3), "down");
  CHECK(t <= MS(3000 + 1500)); /* last news <= 3.0 s, 0.92 s of silence, plus relay */
  CHECK_STR(seen(s, 0, 1), "normal");
  CHECK_INT(events(s, 0, VIGIL_EVENT_PEER_DOWN, 2), 1);
  vigil_sim_free(s);
}

/* The defaults (acceptable_pause 2 s): a dead process whose host refuses
 * our datagrams is convicted once it is overdue (mean + sd: ~0.3 s after its
 * last heartbeat here), a silent one only when phi says so (~2.8 s). */
TEST(a_killed_agent_whose_port_refuses_is_convicted_once_overdue) {
  vigil_sim *s = sim_new(4, 0, 1, 0);
  vigil_sim_run(s, MS(3000), false);
  CHECK(all_normal(s));
  events(s, -1, 0, -1);
  /* 1: kill -9 on a live host; 2: the host itself dies (silence only). */
  CHECK_INT(vigil_sim_kill(s, 1), VIGIL_OK);
  CHECK_INT(vigil_sim_stop(s, 2), VIGIL_OK);
  vigil_sim_run(s, MS(9000), false);
  vigil_time down1 = 0, down2 = 0;
  int refused = 0, phi = 0;
  uint32_t who;
  vigil_event e;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (who != 0 || e.type != VIGIL_EVENT_PEER_DOWN) continue;
    if (strcmp(e.peer, vigil_sim_pname(s, 1)) == 0) down1 = e.at, refused += e.cause == VIGIL_CAUSE_REFUSED;
    if (strcmp(e.peer, vigil_sim_pname(s, 2)) == 0) down2 = e.at, phi += e.cause == VIGIL_CAUSE_PHI;
  }
  CHECK(down1 > MS(3000) && down1 <= MS(3000 + 600)); /* overdue 0.3 s after the last news */
  CHECK(down2 >= MS(3000 + 2300) && down2 <= MS(3000 + 3300));
  CHECK_STR(seen(s, 3, 1), "down");
  CHECK_STR(seen(s, 0, 3), "normal");
  /* The cause travels with the event, and the counters say which it was. */
  CHECK_INT(refused, 1);
  CHECK_INT(phi, 1);
  size_t len = 0;
  char *text = vigil_node_render_metrics(vigil_sim_node(s, 0), vigil_sim_now(s), &len);
  CHECK(text && strstr(text, "vigil_convictions_total{cause=\"refused\"} 1\n"));
  CHECK(text && strstr(text, "vigil_convictions_total{cause=\"phi\"} 1\n"));
  free(text);
  vigil_sim_free(s);
}

/* A refusal about a live peer (forged, or stray ICMP) cannot be made by
 * the simulator, whose hosts only refuse for dead processes: it is handed
 * to a node driven by hand. Then, on the simulator, an agent with refusals
 * turned off waits for phi while its neighbour with the default convicts
 * on the refusal. */
TEST(a_refusal_does_not_convict_a_peer_that_heartbeats_on_time) {
  rig *r = calloc(1, sizeof *r);
  rig_add(r, 0, 1, NULL, MS(200));
  rig_add(r, 1, 1, NULL, MS(200));
  rig_run(r, MS(2000));
  CHECK_STR(rig_seen(r, 0, 1), "normal");
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(r->n[0]), &sub);
  /* Every 100 ms for 3 s. */
  for (vigil_time t = MS(2000); t < MS(5000); t += MS(100)) {
    CHECK_INT(vigil_node_refused(r->n[0], r->pname[1], t), 0);
    rig_run(r, t + MS(100));
  }
  CHECK_STR(rig_seen(r, 0, 1), "normal");
  CHECK_INT(vigil_node_refused_known(r->n[0]), 30);
  vigil_event e;
  int downs = 0;
  while (vigil_subscription_poll(&sub, &e)) downs += e.type == VIGIL_EVENT_PEER_DOWN;
  CHECK_INT(downs, 0);
  CHECK_INT(vigil_node_refused(r->n[0], "127.0.0.1:1", MS(5000)), VIGIL_ENOENT);
  CHECK_INT(vigil_node_refused(r->n[0], r->pname[0], MS(5000)), VIGIL_ELOCAL);
  CHECK_INT(vigil_node_refused_unknown(r->n[0]), 2);
  rig_free(r);

  /* Turned off, a refusal never convicts: the peer waits for phi. */
  vigil_sim *s = sim_new(3, MS(200), 1, 0);
  vigil_sim_run(s, MS(5000), false);
  vigil_command off = {0};
  off.type = VIGIL_CMD_CONFIGURE;
  off.has_refused = true;
  off.refused = false;
  char note[256];
  CHECK_INT(vigil_sim_apply(s, 0, &off, note, sizeof note), VIGIL_OK);
  CHECK(strstr(note, "refused=off") != NULL);
  events(s, -1, 0, -1);
  CHECK_INT(vigil_sim_kill(s, 2), VIGIL_OK);
  vigil_sim_run(s, MS(5600), false);
  CHECK_STR(seen(s, 0, 2), "normal");
  CHECK_STR(seen(s, 1, 2), "down"); /* agent 1 kept the default: it was quicker */
  vigil_sim_run(s, MS(7000), false);
  CHECK_STR(seen(s, 0, 2), "down");
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  CHECK(st.refusals > 0);
  uint32_t who;
  int by_phi = 0, by_refusal = 0;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (e.type != VIGIL_EVENT_PEER_DOWN) continue;
    by_phi += who == 0 && e.cause == VIGIL_CAUSE_PHI;
    by_refusal += who == 1 && e.cause == VIGIL_CAUSE_REFUSED;
  }
  CHECK_INT(by_phi, 1);
  CHECK_INT(by_refusal, 1);
  vigil_sim_free(s);
}

TEST(a_restart_is_seen_as_restarted_and_up) {
  vigil_sim *s = sim_new(3, MS(200), 1, 0);
  vigil_sim_run(s, MS(2000), false);
  CHECK_INT(vigil_sim_stop(s, 2), VIGIL_OK);
  vigil_sim_run(s, MS(5000), false);
  CHECK_STR(seen(s, 0, 2), "down");
  events(s, -1, 0, -1);
  CHECK_INT(vigil_sim_restart(s, 2), VIGIL_OK); /* a new process, a newer generation */
  vigil_sim_run(s, MS(6000), false);
  CHECK_STR(seen(s, 0, 2), "normal");
  CHECK_STR(seen(s, 1, 2), "normal");
  uint32_t who;
  vigil_event e;
  int restarted = 0, up = 0;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (who != 0 || strcmp(e.peer, vigil_sim_pname(s, 2)) != 0) continue;
    restarted += e.type == VIGIL_EVENT_PEER_RESTARTED;
    up += e.type == VIGIL_EVENT_PEER_UP && restarted; /* up after restarted */
  }
  CHECK_INT(restarted, 1);
  CHECK_INT(up, 1);
  /* A restart without going down (quick restart) is also seen. */
  uint64_t third = GEN(0) + vigil_sim_now(s) / VIGIL_MS; /* the wall clock as the third process starts */
  CHECK_INT(vigil_sim_restart(s, 2), VIGIL_OK);
  vigil_sim_run(s, MS(7000), false);
  CHECK_INT(events(s, 1, VIGIL_EVENT_PEER_RESTARTED, 2), 1);
  CHECK_STR(seen(s, 1, 2), "normal");
  CHECK_INT(vigil_members_generation(vigil_node_members(vigil_sim_node(s, 2))), third);
  vigil_sim_free(s);
}

TEST(a_shutdown_is_seen_as_left_at_once) {
  vigil_sim *s = sim_new(3, MS(200), 1, 0);
  vigil_sim_run(s, MS(2000), false);
  events(s, -1, 0, -1);
  vigil_sim_stats before, after;
  vigil_sim_stats_get(s, &before);
  CHECK_INT(vigil_sim_leave(s, 2), VIGIL_OK);
  vigil_sim_stats_get(s, &after);
  CHECK_INT(after.frames_sent - before.frames_sent, 2); /* a shutdown frame to each peer */
  vigil_sim_run(s, MS(2010), false);                    /* one delivery */
  CHECK_STR(seen(s, 0, 2), "down");
  CHECK_STR(seen(s, 1, 2), "down");
  uint32_t who;
  vigil_event e;
  int down = 0, left = 0;
  while (vigil_sim_next_event(s, &who, &e)) {
    if (who != 0) continue;
    down += e.type == VIGIL_EVENT_PEER_DOWN;
    left += e.type == VIGIL_EVENT_PEER_LEFT;
  }
  CHECK_INT(down, 1);
  CHECK_INT(left, 1);
  /* It stays down (no late digest brings it back), and is reaped after
   * reap_after (30 s here). */
  vigil_sim_run(s, MS(20000), false);
  CHECK_STR(seen(s, 0, 2), "down");
  vigil_sim_run(s, MS(33000), false);
  CHECK_STR(seen(s, 0, 2), "-");
  CHECK_STR(seen(s, 1, 2), "-");
  vigil_sim_free(s);
}

TEST(stale_and_replayed_frames_never_refresh_a_peer) {
  rig *r = calloc(1, sizeof *r);
  rig_add(r, 0, 1, NULL, MS(200));
  rig_add(r, 1, 1, NULL, MS(200));
  rig_run(r, MS(1000) + MS(10)); /* up to the rounds at 1.0 s, sent, not delivered */
  CHECK_STR(rig_seen(r, 0, 1), "normal");
  /* Capture 1's frame to 0 as it is sent. */
  int k = 0;
  while (k < r->nq && !(r->q[k].from == 1 && r->q[k].to == 0)) k++;
  CHECK(k < r->nq);
  if (k == r->nq) return;
  uint8_t old[VIGIL_FRAME_MAX];
  size_t oldlen = r->q[k].len;
  memcpy(old, r->q[k].bytes, oldlen);
  r->nq = 0;
  CHECK_INT(vigil_node_receive(r->n[0], old, oldlen, NULL, MS(1000)), VIGIL_OK);
  r->up[1] = false; /* 1 dies; an attacker replays its last frame */
  for (vigil_time t = MS(1100); t < MS(4000); t += MS(100)) {
    CHECK_INT(vigil_node_receive(r->n[0], old, oldlen, NULL, t), VIGIL_OK); /* valid, just old */
    rig_run(r, t + MS(100));
  }
  CHECK_STR(rig_seen(r, 0, 1), "down");
  char *text = rig_metrics(r, 0);
  CHECK(text && strstr(text, "vigil_frames_ignored_total{reason=\"stale\"} 29\n"));
  free(text);
  rig_free(r);
}

TEST(an_older_generation_is_stale_too) {
  rig *r = calloc(1, sizeof *r);
  rig_add(r, 0, 100, NULL, MS(200));
  rig_add(r, 1, 500, NULL, MS(200));
  rig_run(r, MS(1000));
  CHECK_STR(rig_seen(r, 0, 1), "normal");
  /* An old incarnation of 1 (generation 400) still sends: ignored. */
  vigil_frame *f = calloc(1, sizeof *f);
  f->type = VIGIL_FRAME_SHUTDOWN;
  snprintf(f->from, sizeof f->from, "%s", r->pname[1]);
  f->generation = 400;
  f->version = 1000000;
  uint8_t buf[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK_INT(vigil_node_receive(r->n[0], buf, (size_t)n, NULL, MS(1000)), VIGIL_OK);
  CHECK_STR(rig_seen(r, 0, 1), "normal");
  /* The current generation's shutdown is news: it left. */
  f->generation = 500;
  n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK_INT(vigil_node_receive(r->n[0], buf, (size_t)n, NULL, MS(1000)), VIGIL_OK);
  CHECK_STR(rig_seen(r, 0, 1), "down");
  free(f);
  rig_free(r);
}

TEST(wrong_keys_and_garbage_are_rejected_and_counted) {
  vigil_keyring k1 = {0}, k2 = {0};
  vigil_keyring_add_base64(&k1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  vigil_keyring_add_base64(&k2, "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=");
  rig *r = calloc(1, sizeof *r);
  rig_add(r, 0, 1, &k1, 0);
  rig_add(r, 1, 1, &k1, 0);
  rig_add(r, 2, 1, &k2, 0);  /* the intruder */
  rig_add(r, 3, 1, NULL, 0); /* no key at all */
  rig_run(r, MS(2000));
  CHECK_STR(rig_seen(r, 0, 1), "normal");
  CHECK_STR(rig_seen(r, 0, 2), "-");
  CHECK_STR(rig_seen(r, 0, 3), "-");
  CHECK_STR(rig_seen(r, 1, 2), "-");
  /* 2 and 3 only know the seed: a round every 200 ms, 0 .. 1.8 s. */
  CHECK_INT(r->got[2][0], 10);
  CHECK_INT(r->got[3][0], 10);
  uint8_t junk[64];
  for (int i = 0; i < 64; i++) junk[i] = (uint8_t)(i * 37);
  CHECK(vigil_node_receive(r->n[0], junk, sizeof junk, NULL, MS(2000)) < 0);
  size_t len;
  char *text = vigil_node_render_metrics(r->n[0], MS(2000), &len);
  CHECK(text != NULL);
  if (text) {
    CHECK(strstr(text, "vigil_frames_rejected_total{reason=\"auth\"} 10\n"));            /* 2's */
    CHECK(strstr(text, "vigil_frames_rejected_total{reason=\"unauthenticated\"} 10\n")); /* 3's */
    CHECK(strstr(text, "vigil_frames_rejected_total{reason=\"malformed\"} 1\n"));        /* the junk */
    CHECK(strstr(text, "vigil_frames_received_total{type=\"heartbeat\"}"));
    CHECK(strlen(text) == len);
  }
  free(text);
  rig_free(r);
}

/* Fifty agents: each is watched by 8 observers and sends to its observers,
 * its subjects and whoever asked, ~16 frames a round whatever the size of
 * the cluster. A stopped agent is convicted by everyone on its observers'
 * alerts. */
TEST(fifty_agents_converge_send_o_k_frames_and_convict_on_a_quorum) {
  vigil_sim *s = sim_new(50, MS(200), 2, 0);
  vigil_sim_run(s, MS(15000), false);
  CHECK(all_normal(s));
  CHECK(!vigil_members_small(vigil_node_members(vigil_sim_node(s, 0))));
  events(s, -1, 0, -1);
  vigil_sim_stats a, b;
  vigil_sim_stats_get(s, &a);
  vigil_sim_run(s, MS(35000), false);
  vigil_sim_stats_get(s, &b);
  uint64_t frames = b.frames_sent - a.frames_sent; /* 100 rounds of 50 agents */
  CHECK(frames >= 50 * 100 * 8 && frames <= 50 * 100 * 20);
  CHECK_INT(events(s, -1, VIGIL_EVENT_PEER_DOWN, -1), 0);
  CHECK_INT(b.false_alarms, 0);
  CHECK(all_normal(s));
  CHECK_INT(vigil_sim_stop(s, 9), VIGIL_OK);
  vigil_sim_run(s, MS(40000), false);
  int noticed = 0, by_observers = 0;
  uint32_t who;
  vigil_event e;
  while (vigil_sim_next_event(s, &who, &e))
    if (e.type == VIGIL_EVENT_PEER_DOWN && strcmp(e.peer, vigil_sim_pname(s, 9)) == 0)
      by_observers += e.cause == VIGIL_CAUSE_OBSERVERS;
  for (uint32_t i = 0; i < 50; i++) noticed += i != 9 && strcmp(seen(s, i, 9), "down") == 0;
  CHECK_INT(noticed, 49);
  CHECK_INT(by_observers, 49);
  vigil_sim_fault f;
  CHECK(vigil_sim_fault_get(s, 0, &f));
  CHECK_INT(f.observers, 49);
  CHECK_INT(f.detected, 49);
  vigil_sim_free(s);
}

/* In a small cluster every frame carries up to 8 entries, each with the
 * member's latest heartbeat version; successive frames relay different
 * members, so every member's news travels. */
TEST(small_cluster_digests_rotate_so_every_peer_is_relayed) {
  rig *r = calloc(1, sizeof *r);
  for (int i = 0; i < 9; i++) rig_add(r, i, 1, NULL, MS(200));
  rig_run(r, MS(3000));
  for (int i = 0; i < 9; i++)
    for (int j = 0; j < 9; j++)
      if (i != j) CHECK_STR(rig_seen(r, i, j), "normal");
  CHECK(vigil_members_small(vigil_node_members(r->n[0])));
  rig_run(r, MS(3010)); /* agent 0's round at 3.0 s: sent, not delivered */
  static vigil_frame f;
  int k = 0;
  while (k < r->nq && r->q[k].from != 0) k++;
  CHECK(k < r->nq);
  if (k < r->nq) {
    CHECK_INT(vigil_frame_decode(r->q[k].bytes, r->q[k].len, NULL, &f), VIGIL_OK);
    CHECK_INT(f.ndigest, 8);
    for (uint32_t d = 0; d < f.ndigest; d++) CHECK(f.digest[d].version > 0);
  }
  rig_free(r);
}

TEST(a_config_without_a_valid_self_is_refused) {
  vigil_pool *pool = vigil_pool_new(NULL, NULL);
  vigil_handler *h = vigil_handler_new(pool);
  vigil_members_config cfg;
  vigil_members_config_init(&cfg);
  const char *why = NULL;
  cfg.self = "no-port";
  CHECK(vigil_members_new(h, &cfg, 0, &why) == NULL);
  CHECK(why && strstr(why, "host:port"));
  cfg.self = "127.0.0.1:9";
  vigil_members *m = vigil_members_new(h, &cfg, 0, &why);
  CHECK(m != NULL);
  CHECK(vigil_members_new(h, &cfg, 0, &why) == NULL); /* the pool has its local peer */
  CHECK_INT(vigil_members_add_seed(m, "bad seed", NULL), VIGIL_EINVAL);
  vigil_members_free(m);
  vigil_handler_free(h);
  vigil_pool_free(pool);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(three_agents_join_through_a_seed_and_converge);
  RUN(a_killed_agent_is_convicted_by_the_others_within_a_second_or_so);
  RUN(a_killed_agent_whose_port_refuses_is_convicted_once_overdue);
  RUN(a_refusal_does_not_convict_a_peer_that_heartbeats_on_time);
  RUN(a_restart_is_seen_as_restarted_and_up);
  RUN(a_shutdown_is_seen_as_left_at_once);
  RUN(stale_and_replayed_frames_never_refresh_a_peer);
  RUN(an_older_generation_is_stale_too);
  RUN(wrong_keys_and_garbage_are_rejected_and_counted);
  RUN(fifty_agents_converge_send_o_k_frames_and_convict_on_a_quorum);
  RUN(small_cluster_digests_rotate_so_every_peer_is_relayed);
  RUN(a_config_without_a_valid_self_is_refused);
  return CHECK_DONE();
}
