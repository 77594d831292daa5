/*
 * test_member.c - membership on a fake network in virtual time: agents are
 * pool + handler + members triples whose datagrams go through an in-memory
 * queue, so joins, digests, restarts, leaves, fanout and reaping can be
 * checked deterministically (the multi-process specs check the same over
 * real UDP).
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"

#define MS(x)      ((vigil_time)(x)*VIGIL_MS)
#define MAX_AGENTS 64
#define QUEUE      65536

typedef struct agent {
  char pname[32];
  vigil_pool *pool;
  vigil_handler *h;
  vigil_events *ev;
  vigil_metrics *met;
  vigil_members *m;
  vigil_subscription sub;
  bool alive;    /* ticks and receives */
  bool isolated; /* sends and receives nothing (a partition) */
  bool refuses;  /* dead, and its host answers "port unreachable" */
} agent;

typedef struct datagram {
  int to;
  uint16_t len;
  uint8_t bytes[VIGIL_FRAME_MAX];
} datagram;

typedef struct net {
  agent a[MAX_AGENTS];
  int n;
  datagram *q; /* delivered at the next step */
  int nq;
  long dropped;
  vigil_keyring *kr; /* for agents started with a key */
  vigil_time pause;  /* acceptable_pause of the agents started next */
} net;

static int find_agent(net *nw, const char *pname) {
  for (int i = 0; i < nw->n; i++)
    if (strcmp(nw->a[i].pname, pname) == 0) return i;
  return -1;
}

typedef struct sender {
  net *nw;
  int from;
  vigil_time now;
} sender;

static int fake_send(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  sender *s = ud;
  net *nw = s->nw;
  int to = find_agent(nw, pname);
  if (to >= 0 && nw->a[to].refuses && !nw->a[s->from].isolated) {
    vigil_handler_refused_pname(nw->a[s->from].h, pname, s->now); /* the ICMP comes straight back */
    return 0;
  }
  if (to < 0 || nw->nq == QUEUE || nw->a[s->from].isolated) {
    nw->dropped++;
    return 0; /* UDP: the sender cannot tell */
  }
  datagram *d = &nw->q[nw->nq++];
  d->to = to;
  d->len = (uint16_t)len;
  memcpy(d->bytes, buf, len);
  return 0;
}

/* Start (or restart, with a new generation) agent i; seeds by index. */
static void start(net *nw, int i, uint64_t generation, const int *seeds, int nseeds, uint32_t fanout,
                  const vigil_keyring *kr, vigil_time now) {
  agent *a = &nw->a[i];
  if (a->m) {
    vigil_members_free(a->m);
    vigil_handler_free(a->h);
    vigil_events_free(a->ev);
    vigil_metrics_free(a->met);
    vigil_pool_free(a->pool);
  }
  snprintf(a->pname, sizeof a->pname, "127.0.0.1:%d", 7000 + i);
  vigil_pool_config pc;
  vigil_pool_config_init(&pc);
  pc.detector.acceptable_pause = nw->pause;
  a->pool = vigil_pool_new(&pc, NULL);
  a->h = vigil_handler_new(a->pool);
  a->ev = vigil_events_new(4096);
  a->met = vigil_metrics_new();
  vigil_handler_attach_events(a->h, a->ev);
  vigil_handler_attach_metrics(a->h, a->met);
  vigil_handler_set_interval(a->h, MS(100));
  vigil_events_subscribe(a->ev, &a->sub);
  vigil_members_config cfg;
  vigil_members_config_init(&cfg);
  cfg.self = a->pname;
  cfg.generation = generation;
  cfg.fanout = fanout;
  cfg.keyring = kr;
  cfg.seed = (uint64_t)i * 7919 + generation;
  cfg.reap_after = 30 * VIGIL_SEC;
  a->m = vigil_members_new(a->h, &cfg, now, NULL);
  for (int k = 0; k < nseeds; k++) {
    char s[32];
    snprintf(s, sizeof s, "127.0.0.1:%d", 7000 + seeds[k]);
    vigil_members_add_seed(a->m, s, NULL);
  }
  a->alive = true;
  a->refuses = false;
  if (i >= nw->n) nw->n = i + 1;
}

static void stop_all(net *nw) {
  for (int i = 0; i < nw->n; i++) {
    agent *a = &nw->a[i];
    vigil_members_free(a->m);
    vigil_handler_free(a->h);
    vigil_events_free(a->ev);
    vigil_metrics_free(a->met);
    vigil_pool_free(a->pool);
  }
  free(nw->q);
  free(nw);
}

static net *new_net(void) {
  net *nw = calloc(1, sizeof *nw);
  nw->q = malloc(sizeof(datagram) * QUEUE);
  nw->pause = MS(200); /* a silent 200 ms peer is convicted after ~0.92 s */
  return nw;
}

/* Deliver what is queued, then every 100 ms evaluate, every 200 ms tick. */
static void run(net *nw, vigil_time from, vigil_time to) {
  for (vigil_time t = from; t < to; t += MS(100)) {
    int nq = nw->nq;
    for (int k = 0; k < nq; k++) {
      datagram *d = &nw->q[k];
      agent *a = &nw->a[d->to];
      if (a->alive && !a->isolated) vigil_members_receive(a->m, d->bytes, d->len, t);
    }
    memmove(nw->q, nw->q + nq, (size_t)(nw->nq - nq) * sizeof *nw->q);
    nw->nq -= nq;
    for (int i = 0; i < nw->n; i++) {
      agent *a = &nw->a[i];
      if (!a->alive) continue;
      vigil_handler_evaluate(a->h, t, NULL);
      if ((t / MS(100)) % 2 == (vigil_time)(i % 2)) {
        sender s = {nw, i, t};
        vigil_members_tick(a->m, t, fake_send, &s);
      }
    }
  }
}

/* State of agent j as seen by agent i ("-" when unknown). */
static const char *seen(net *nw, int i, int j) {
  vigil_peer *p = vigil_pool_find(nw->a[i].pool, nw->a[j].pname);
  return p ? vigil_state_name(p->state) : "-";
}

/* Count events of `type` about agent j in agent i's subscription. */
static int events(net *nw, int i, vigil_event_type type, int j) {
  vigil_event e;
  int n = 0;
  while (vigil_subscription_poll(&nw->a[i].sub, &e))
    if (e.type == type && (j < 0 || strcmp(e.peer, nw->a[j].pname) == 0)) n++;
  return n;
}

static bool all_normal(net *nw) {
  for (int i = 0; i < nw->n; i++)
    for (int j = 0; j < nw->n; j++)
      if (i != j && nw->a[i].alive && nw->a[j].alive && strcmp(seen(nw, i, j), "normal") != 0) return false;
  return true;
}

TEST(three_agents_join_through_a_seed_and_converge) {
  net *nw = new_net();
  int seed[] = {0};
  start(nw, 0, 100, NULL, 0, 0, NULL, 0);
  start(nw, 1, 100, seed, 1, 0, NULL, 0);
  start(nw, 2, 100, seed, 1, 0, NULL, 0);
  run(nw, 0, MS(2000));
  CHECK(all_normal(nw));
  CHECK_STR(seen(nw, 1, 2), "normal"); /* 1 and 2 met through 0's digest */
  CHECK_INT(events(nw, 1, VIGIL_EVENT_PEER_JOINED, 2), 1);
  CHECK_INT(vigil_pool_get(nw->a[0].pool, (uint32_t)vigil_pool_local(nw->a[0].pool))->state, VIGIL_STATE_NORMAL);
  /* Placement travels in heartbeats. */
  uint64_t gen, ver;
  vigil_time heard;
  vigil_peer *p = vigil_pool_find(nw->a[0].pool, nw->a[1].pname);
  CHECK(vigil_members_info(nw->a[0].m, p->idx, &gen, &ver, &heard));
  CHECK_INT(gen, 100);
  CHECK(ver > 3);
  CHECK(heard > MS(1500));
  stop_all(nw);
}

TEST(a_killed_agent_is_convicted_by_the_others_within_a_second_or_so) {
  net *nw = new_net();
  int seed[] = {0};
  for (int i = 0; i < 3; i++) start(nw, i, 100, i ? seed : NULL, i ? 1 : 0, 0, NULL, 0);
  run(nw, 0, MS(3000));
  CHECK(all_normal(nw));
  events(nw, 0, 0, -1);
  events(nw, 1, 0, -1);
  nw->a[2].alive = false; /* kill -9 */
  vigil_time t = MS(3000);
  while (t < MS(8000) && (strcmp(seen(nw, 0, 2), "down") != 0 || strcmp(seen(nw, 1, 2), "down") != 0)) {
    run(nw, t, t + MS(100));
    t += MS(100);
  }
  CHECK_STR(seen(nw, 0, 2), "down");
  CHECK_STR(seen(nw, 1, 2), "down");
  CHECK(t <= MS(3000 + 1500)); /* last news <= 3.0 s, 0.92 s of silence, plus relay */
  CHECK_STR(seen(nw, 0, 1), "normal");
  CHECK_INT(events(nw, 0, VIGIL_EVENT_PEER_DOWN, 2), 1);
  stop_all(nw);
}

/* The defaults (acceptable_pause 2 s): a dead process whose host refuses
 * our datagrams is convicted once it is overdue (mean + sd: ~0.3 s after its
 * last heartbeat here), a silent one only when phi says so (~2.8 s), and a
 * stall shorter than that convicts nobody. */
TEST(a_killed_agent_whose_port_refuses_is_convicted_once_overdue) {
  net *nw = new_net();
  vigil_detector_config dc;
  vigil_detector_config_init(&dc);
  nw->pause = dc.acceptable_pause;
  int seed[] = {0};
  for (int i = 0; i < 4; i++) start(nw, i, 100, i ? seed : NULL, i ? 1 : 0, 0, NULL, 0);
  run(nw, 0, MS(3000));
  CHECK(all_normal(nw));
  /* 1: kill -9 on a live host; 2: the host itself dies (silence only). */
  nw->a[1].alive = false;
  nw->a[1].refuses = true;
  nw->a[2].alive = false;
  vigil_time t = MS(3000), down1 = 0, down2 = 0;
  while (t < MS(9000) && (!down1 || !down2)) {
    run(nw, t, t + MS(100));
    t += MS(100);
    if (!down1 && strcmp(seen(nw, 0, 1), "down") == 0) down1 = t;
    if (!down2 && strcmp(seen(nw, 0, 2), "down") == 0) down2 = t;
  }
  CHECK(down1 && down1 <= MS(3000 + 600)); /* overdue 0.3 s after the last news, then the next send */
  CHECK(down2 >= MS(3000 + 2300) && down2 <= MS(3000 + 3300));
  CHECK_STR(seen(nw, 3, 1), "down");
  CHECK_STR(seen(nw, 0, 3), "normal");
  /* The cause travels with the event, and the counters say which it was. */
  vigil_event e;
  int refused = 0, phi = 0;
  while (vigil_subscription_poll(&nw->a[0].sub, &e)) {
    if (e.type != VIGIL_EVENT_PEER_DOWN) continue;
    if (strcmp(e.peer, nw->a[1].pname) == 0) refused += e.cause == VIGIL_CAUSE_REFUSED;
    if (strcmp(e.peer, nw->a[2].pname) == 0) phi += e.cause == VIGIL_CAUSE_PHI;
  }
  CHECK_INT(refused, 1);
  CHECK_INT(phi, 1);
  size_t len = 0;
  char *text = vigil_handler_render_metrics(nw->a[0].h, t, &len);
  CHECK(text && strstr(text, "gossip_convictions_total{cause=\"refused\"} 1\n"));
  CHECK(text && strstr(text, "gossip_convictions_total{cause=\"phi\"} 1\n"));
  free(text);
  stop_all(nw);
}

TEST(a_refusal_does_not_convict_a_peer_that_heartbeats_on_time) {
  net *nw = new_net();
  int seed[] = {0};
  for (int i = 0; i < 3; i++) start(nw, i, 100, i ? seed : NULL, i ? 1 : 0, 0, NULL, 0);
  run(nw, 0, MS(2000));
  events(nw, 0, 0, -1);
  /* Forged or stray ICMP about a live peer, every 100 ms for 3 s. */
  for (vigil_time t = MS(2000); t < MS(5000); t += MS(100)) {
    CHECK_INT(vigil_handler_refused_pname(nw->a[0].h, nw->a[1].pname, t), 0);
    run(nw, t, t + MS(100));
  }
  CHECK_STR(seen(nw, 0, 1), "normal");
  CHECK_INT(events(nw, 0, VIGIL_EVENT_PEER_DOWN, -1), 0);
  /* Turned off, a refusal never convicts: the peer waits for phi. */
  vigil_detector_config off = *vigil_pool_detector_config(nw->a[0].pool);
  off.refused = false;
  CHECK_INT(vigil_pool_configure(nw->a[0].pool, &off, NULL), VIGIL_OK);
  nw->a[2].alive = false;
  nw->a[2].refuses = true;
  run(nw, MS(5000), MS(5600));
  CHECK_STR(seen(nw, 0, 2), "normal");
  run(nw, MS(5600), MS(7000));
  CHECK_STR(seen(nw, 0, 2), "down");
  CHECK_STR(seen(nw, 1, 2), "down"); /* agent 1 kept the default: it was quicker */
  CHECK_INT(vigil_handler_refused_pname(nw->a[0].h, "127.0.0.1:1", MS(7000)), VIGIL_ENOENT);
  CHECK_INT(vigil_handler_refused_pname(nw->a[0].h, nw->a[0].pname, MS(7000)), VIGIL_ELOCAL);
  stop_all(nw);
}

TEST(a_restart_is_seen_as_restarted_and_up) {
  net *nw = new_net();
  int seed[] = {0};
  for (int i = 0; i < 3; i++) start(nw, i, 100, i ? seed : NULL, i ? 1 : 0, 0, NULL, 0);
  run(nw, 0, MS(2000));
  nw->a[2].alive = false;
  run(nw, MS(2000), MS(5000));
  CHECK_STR(seen(nw, 0, 2), "down");
  events(nw, 0, 0, -1);
  start(nw, 2, 200, seed, 1, 0, NULL, MS(5000)); /* a new process, a newer generation */
  run(nw, MS(5000), MS(6000));
  CHECK_STR(seen(nw, 0, 2), "normal");
  CHECK_STR(seen(nw, 1, 2), "normal");
  vigil_event e;
  int restarted = 0, up = 0;
  while (vigil_subscription_poll(&nw->a[0].sub, &e)) {
    if (strcmp(e.peer, nw->a[2].pname) != 0) continue;
    restarted += e.type == VIGIL_EVENT_PEER_RESTARTED;
    up += e.type == VIGIL_EVENT_PEER_UP && restarted; /* up after restarted */
  }
  CHECK_INT(restarted, 1);
  CHECK_INT(up, 1);
  /* A restart without going down (quick restart) is also seen. */
  events(nw, 1, 0, -1);
  start(nw, 2, 300, seed, 1, 0, NULL, MS(6000));
  run(nw, MS(6000), MS(7000));
  CHECK_INT(events(nw, 1, VIGIL_EVENT_PEER_RESTARTED, 2), 1);
  CHECK_STR(seen(nw, 1, 2), "normal");
  stop_all(nw);
}

TEST(a_shutdown_is_seen_as_left_at_once) {
  net *nw = new_net();
  int seed[] = {0};
  for (int i = 0; i < 3; i++) start(nw, i, 100, i ? seed : NULL, i ? 1 : 0, 0, NULL, 0);
  run(nw, 0, MS(2000));
  events(nw, 0, 0, -1);
  sender s = {nw, 2, 0};
  CHECK_INT(vigil_members_shutdown(nw->a[2].m, MS(2000), fake_send, &s), 2);
  nw->a[2].alive = false;
  run(nw, MS(2000), MS(2100)); /* one delivery step */
  CHECK_STR(seen(nw, 0, 2), "down");
  CHECK_STR(seen(nw, 1, 2), "down");
  vigil_event e;
  int down = 0, left = 0;
  while (vigil_subscription_poll(&nw->a[0].sub, &e)) {
    down += e.type == VIGIL_EVENT_PEER_DOWN;
    left += e.type == VIGIL_EVENT_PEER_LEFT;
  }
  CHECK_INT(down, 1);
  CHECK_INT(left, 1);
  /* It stays down (no late digest brings it back), and is reaped after
   * reap_after (30 s here). */
  run(nw, MS(2100), MS(20000));
  CHECK_STR(seen(nw, 0, 2), "down");
  run(nw, MS(20000), MS(33000));
  CHECK_STR(seen(nw, 0, 2), "-");
  CHECK_STR(seen(nw, 1, 2), "-");
  stop_all(nw);
}

TEST(stale_and_replayed_frames_never_refresh_a_peer) {
  net *nw = new_net();
  int seed[] = {0};
  start(nw, 0, 100, NULL, 0, 0, NULL, 0);
  start(nw, 1, 100, seed, 1, 0, NULL, 0);
  run(nw, 0, MS(1000));
  /* Capture one of 1's frames to 0 as it is sent. */
  nw->nq = 0;
  sender s = {nw, 1, 0};
  vigil_members_tick(nw->a[1].m, MS(1000), fake_send, &s);
  CHECK(nw->nq >= 1);
  datagram old = nw->q[0];
  nw->nq = 0;
  CHECK_INT(vigil_members_receive(nw->a[0].m, old.bytes, old.len, MS(1000)), VIGIL_OK);
  nw->a[1].alive = false; /* 1 dies; an attacker replays its last frame */
  for (vigil_time t = MS(1100); t < MS(4000); t += MS(100)) {
    vigil_members_receive(nw->a[0].m, old.bytes, old.len, t);
    vigil_handler_evaluate(nw->a[0].h, t, NULL);
  }
  CHECK_STR(seen(nw, 0, 1), "down");
  size_t len;
  char *text = vigil_handler_render_metrics(nw->a[0].h, MS(4000), &len);
  text = vigil_members_render_metrics(nw->a[0].m, text, &len);
  CHECK(text && strstr(text, "frames_ignored_total{reason=\"stale\"} 29\n"));
  free(text);
  stop_all(nw);
}

TEST(an_older_generation_is_stale_too) {
  net *nw = new_net();
  int seed[] = {0};
  start(nw, 0, 100, NULL, 0, 0, NULL, 0);
  start(nw, 1, 500, seed, 1, 0, NULL, 0);
  run(nw, 0, MS(1000));
  CHECK_STR(seen(nw, 0, 1), "normal");
  /* An old incarnation of 1 (generation 400) still sends: ignored. */
  vigil_frame *f = calloc(1, sizeof *f);
  f->type = VIGIL_FRAME_SHUTDOWN;
  snprintf(f->from, sizeof f->from, "%s", nw->a[1].pname);
  f->generation = 400;
  f->version = 1000000;
  uint8_t buf[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK_INT(vigil_members_receive(nw->a[0].m, buf, (size_t)n, MS(1000)), VIGIL_OK);
  CHECK_STR(seen(nw, 0, 1), "normal");
  free(f);
  stop_all(nw);
}

TEST(wrong_keys_and_garbage_are_rejected_and_counted) {
  net *nw = new_net();
  vigil_keyring k1 = {0}, k2 = {0};
  vigil_keyring_add_base64(&k1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  vigil_keyring_add_base64(&k2, "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=");
  int seed[] = {0};
  start(nw, 0, 100, NULL, 0, 0, &k1, 0);
  start(nw, 1, 100, seed, 1, 0, &k1, 0);
  start(nw, 2, 100, seed, 1, 0, &k2, 0);  /* the intruder */
  start(nw, 3, 100, seed, 1, 0, NULL, 0); /* no key at all */
  run(nw, 0, MS(2000));
  CHECK_STR(seen(nw, 0, 1), "normal");
  CHECK_STR(seen(nw, 0, 2), "-");
  CHECK_STR(seen(nw, 0, 3), "-");
  CHECK_STR(seen(nw, 1, 2), "-");
  uint8_t junk[64];
  for (int i = 0; i < 64; i++) junk[i] = (uint8_t)(i * 37);
  CHECK(vigil_members_receive(nw->a[0].m, junk, sizeof junk, MS(2000)) < 0);
  size_t len;
  char *text = vigil_handler_render_metrics(nw->a[0].h, MS(2000), &len);
  text = vigil_members_render_metrics(nw->a[0].m, text, &len);
  CHECK(text != NULL);
  if (text) {
    CHECK(strstr(text, "frames_rejected_total{reason=\"auth\"} 10\n"));           /* 2 ticks at 0, 0.2 .. 1.8 s */
    CHECK(strstr(text, "frames_rejected_total{reason=\"unauthenticated\"} 9\n")); /* 3: 0.1 .. 1.7 s arrive */
    CHECK(strstr(text, "frames_rejected_total{reason=\"malformed\"} 1\n"));       /* the junk */
    CHECK(strstr(text, "frames_received_total{type=\"heartbeat\"}"));
    CHECK(strlen(text) == len);
  }
  free(text);
  stop_all(nw);
}

TEST(fifty_agents_with_fanout_8_converge_and_raise_no_false_alarm) {
  net *nw = new_net();
  int seeds[] = {0, 1};
  for (int i = 0; i < 50; i++) start(nw, i, 100, seeds, 2, 8, NULL, 0);
  run(nw, 0, MS(15000));
  CHECK(all_normal(nw));
  for (int i = 0; i < 50; i++) events(nw, i, 0, -1);
  /* Each tick sends O(fanout) frames: 8, plus no seeds (all known). */
  nw->nq = 0;
  sender s = {nw, 7, 0};
  CHECK_INT(vigil_members_tick(nw->a[7].m, MS(15000), fake_send, &s), 8);
  nw->nq = 0;
  run(nw, MS(15000), MS(45000));
  int downs = 0;
  for (int i = 0; i < 50; i++) downs += events(nw, i, VIGIL_EVENT_PEER_DOWN, -1);
  CHECK_INT(downs, 0);
  CHECK(all_normal(nw));
  /* And a death is still noticed by everyone. */
  nw->a[9].alive = false;
  run(nw, MS(45000), MS(50000));
  int noticed = 0;
  for (int i = 0; i < 50; i++) noticed += i != 9 && strcmp(seen(nw, i, 9), "down") == 0;
  CHECK_INT(noticed, 49);
  stop_all(nw);
}

/* All to all, a frame carries 8 digest entries; with 11 peers all fresh
 * every interval, successive frames must relay different ones. */
TEST(full_digests_rotate_so_every_peer_is_relayed) {
  net *nw = new_net();
  int seed[] = {0};
  for (int i = 0; i < 12; i++) start(nw, i, 100, i ? seed : NULL, i ? 1 : 0, 0, NULL, 0);
  run(nw, 0, MS(3000));
  CHECK(all_normal(nw));
  static vigil_frame f;
  bool relayed[12] = {false};
  vigil_time t = MS(3000);
  for (int round = 0; round < 2; round++, t += MS(200)) {
    /* Every other agent heartbeats; agent 0 hears them all: all fresh. */
    for (int j = 1; j < 12; j++) {
      nw->nq = 0;
      sender s = {nw, j, t};
      vigil_members_tick(nw->a[j].m, t, fake_send, &s);
      for (int k = 0; k < nw->nq; k++)
        if (nw->q[k].to == 0) vigil_members_receive(nw->a[0].m, nw->q[k].bytes, nw->q[k].len, t + MS(1));
    }
    nw->nq = 0;
    sender s = {nw, 0, t + MS(2)};
    CHECK_INT(vigil_members_tick(nw->a[0].m, t + MS(2), fake_send, &s), 11);
    CHECK_INT(vigil_members_fresh(nw->a[0].m), 11);
    CHECK_INT(vigil_frame_decode(nw->q[0].bytes, nw->q[0].len, NULL, &f), VIGIL_OK);
    CHECK_INT(f.ndigest, 8);
    for (uint32_t k = 0; k < f.ndigest; k++) {
      int j = find_agent(nw, f.digest[k].pname);
      if (j >= 0) relayed[j] = true;
    }
  }
  int n = 0;
  for (int j = 1; j < 12; j++) n += relayed[j];
  CHECK_INT(n, 11);
  stop_all(nw);
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
  RUN(fifty_agents_with_fanout_8_converge_and_raise_no_false_alarm);
  RUN(full_digests_rotate_so_every_peer_is_relayed);
  RUN(a_config_without_a_valid_self_is_refused);
  return CHECK_DONE();
}
