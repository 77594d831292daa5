/*
 * test_node.c - one node alone (vigil.h, "Node"): its schedule (first round
 * at creation, then every interval and every tick, one round when called
 * late), its refusal rule, what a policy may change (vigil_node_apply) and
 * read (vigil_node_snapshot), and its leave. The node's peers here are
 * hand-made frames; its send function captures what it sends.
 */
#include <stdlib.h>

#include "check.h"
#include "outbox.h"
#include "vigil.h"

#define MS(x)  ((vigil_time)(x)*VIGIL_MS)
#define SEC(x) ((vigil_time)(x)*VIGIL_SEC)

#define SELF "127.0.0.1:7946"
#define B    "127.0.0.2:7946"
#define C    "127.0.0.3:7946"
#define SEED "127.0.0.9:7946"

static vigil_node *node_new(vigil_node_config *cfg, outbox *o, vigil_time now) {
  static const char *const seeds[] = {SEED};
  if (!cfg->self) {
    cfg->self = SELF;
    cfg->seeds = seeds;
    cfg->nseeds = 1;
  }
  const char *why = NULL;
  vigil_node *n = vigil_node_new(cfg, capture, o, now, &why);
  if (!n) fprintf(stderr, "vigil_node_new: %s\n", why ? why : "?");
  return n;
}

/* A heartbeat from `from` (generation 1, version ver) arrives at `now`. */
static int beat(vigil_node *n, const char *from, const char *dc, uint64_t ver, vigil_time now) {
  static vigil_frame f;
  memset(&f, 0, sizeof f);
  f.type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f.from, sizeof f.from, "%s", from);
  if (dc) snprintf(f.dc, sizeof f.dc, "%s", dc);
  f.generation = 1;
  f.version = ver;
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = vigil_frame_encode(&f, NULL, buf, sizeof buf);
  if (len < 0) return len;
  return vigil_node_receive(n, buf, (size_t)len, from, now);
}

/* Drive the node's timer as a driver would, from its next timer to
 * `until`, with `peer` heartbeating every 200 ms from `beat_from` on
 * (beats_until: last beat before it; 0 = no peer). Returns the version
 * reached. */
static uint64_t drive(vigil_node *n, vigil_time from, vigil_time until, const char *peer, uint64_t ver,
                      vigil_time beats_until) {
  vigil_time next_beat = from;
  for (;;) {
    vigil_time t = vigil_node_next_timer(n);
    bool beating = peer && next_beat < beats_until;
    if (beating && next_beat <= t) t = next_beat;
    if (t >= until) break;
    if (beating && t == next_beat) {
      beat(n, peer, NULL, ++ver, t);
      next_beat += MS(200);
    } else {
      vigil_node_timer(n, t);
    }
  }
  return ver;
}

static const vigil_peer *peer(vigil_node *n, const char *pname) { return vigil_pool_find(vigil_node_pool(n), pname); }

static const char *state(vigil_node *n, const char *pname) {
  const vigil_peer *p = peer(n, pname);
  return p ? vigil_state_name(p->state) : "-";
}

/* Count the node's events of `type` (all types: 0), optionally about pname,
 * taking them from sub; the last one in *last. */
static int events(vigil_subscription *sub, vigil_event_type type, const char *pname, vigil_event *last) {
  vigil_event e;
  int n = 0;
  while (vigil_subscription_poll(sub, &e)) {
    if ((type && e.type != type) || (pname && strcmp(e.peer, pname) != 0)) continue;
    n++;
    if (last) *last = e;
  }
  return n;
}

TEST(the_first_gossip_round_is_due_at_creation) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, SEC(5));
  CHECK_INT(vigil_node_next_timer(n), SEC(5));
  CHECK_INT(o.n, 0); /* nothing is sent before the driver calls */
  vigil_node_timer(n, SEC(5));
  CHECK_INT(o.n, 1); /* the seed, not known yet */
  CHECK_INT(sent_to(&o, SEED), 1);
  vigil_frame *f = calloc(1, sizeof *f);
  CHECK_INT(vigil_frame_decode(o.bytes[0], o.len[0], NULL, f), VIGIL_OK);
  CHECK_INT(f->type, VIGIL_FRAME_HEARTBEAT);
  CHECK_STR(f->from, SELF);
  CHECK_INT(f->version, 1);
  free(f);
  /* The local peer is normal once it gossips. */
  CHECK_STR(state(n, SELF), "normal");
  vigil_node_free(n);
}

TEST(next_timer_advances_by_the_interval_and_the_tick) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  /* 200 ms interval, 100 ms tick: timers at 0, 100, 200, ...; a round at
   * every other one. */
  vigil_time want[] = {0, MS(100), MS(200), MS(300), MS(400), MS(500), MS(600)};
  int rounds[] = {1, 1, 2, 2, 3, 3, 4};
  for (int k = 0; k < 7; k++) {
    CHECK_INT(vigil_node_next_timer(n), want[k]);
    vigil_node_timer(n, vigil_node_next_timer(n));
    CHECK_INT(o.n, rounds[k]);
  }
  /* Early calls do nothing that is not due. */
  vigil_node_timer(n, MS(650));
  CHECK_INT(o.n, 4);
  CHECK_INT(vigil_node_next_timer(n), MS(700));
  CHECK_INT(vigil_members_version(vigil_node_members(n)), 4);
  /* A tick of its own, set at creation. */
  vigil_node_free(n);
  o.n = 0;
  vigil_node_config_init(&cfg);
  cfg.interval = SEC(1);
  cfg.tick = MS(250);
  n = node_new(&cfg, &o, 0);
  vigil_node_timer(n, 0);
  CHECK_INT(vigil_node_next_timer(n), MS(250));
  vigil_node_free(n);
}

/* The node stalls (its driver calls 10 s late): one round, not fifty, and
 * a peer whose heartbeats stopped while we were frozen is not convicted
 * at once -- the handler's guard counts its silence from the stall's end
 * -- but a peer that stays silent is convicted one detection time later. */
TEST(a_late_timer_runs_one_round_and_the_pause_guard_sees_the_gap) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  drive(n, 0, SEC(3), B, 0, SEC(3));
  CHECK_STR(state(n, B), "normal");
  CHECK_INT(vigil_members_version(vigil_node_members(n)), 15);
  events(&sub, 0, NULL, NULL);
  o.n = 0;
  vigil_time late = SEC(13);
  vigil_node_timer(n, late);
  CHECK_INT(o.n, 2); /* one round: a heartbeat to B and one to the seed, not met yet */
  CHECK_INT(sent_to(&o, B), 1);
  CHECK_INT(vigil_members_version(vigil_node_members(n)), 16);
  CHECK_STR(state(n, B), "normal");
  CHECK_INT(events(&sub, VIGIL_EVENT_PEER_DOWN, NULL, NULL), 0);
  /* The schedule restarts from now, not from the missed slots. */
  CHECK(vigil_node_next_timer(n) > late && vigil_node_next_timer(n) <= late + MS(200));
  drive(n, late, late + SEC(1), NULL, 0, 0);
  CHECK_STR(state(n, B), "normal"); /* still within its fresh detection time */
  drive(n, late + SEC(1), late + SEC(4), NULL, 0, 0);
  CHECK_STR(state(n, B), "down");
  vigil_event e;
  CHECK_INT(events(&sub, VIGIL_EVENT_PEER_DOWN, B, &e), 1);
  CHECK_INT(e.cause, VIGIL_CAUSE_PHI);
  CHECK(e.at >= late + SEC(2) && e.at <= late + SEC(4)); /* ~2.8 s after the stall ended */
  vigil_node_free(n);
}

TEST(a_refusal_from_an_unknown_address_is_counted_and_changes_nothing) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  drive(n, 0, SEC(2), B, 0, SEC(2));
  events(&sub, 0, NULL, NULL);
  vigil_time next = vigil_node_next_timer(n);
  vigil_time refused_at = peer(n, B)->refused_at;
  CHECK_INT(vigil_node_refused(n, "127.9.9.9:1", SEC(2)), VIGIL_ENOENT);
  CHECK_INT(vigil_node_refused(n, SEED, SEC(2)), VIGIL_ENOENT); /* a seed not met is no peer */
  CHECK_INT(vigil_node_refused(n, NULL, SEC(2)), VIGIL_ENOENT);
  CHECK_INT(vigil_node_refused_unknown(n), 3);
  CHECK_INT(vigil_node_refused_known(n), 0);
  CHECK_INT(vigil_node_next_timer(n), next);
  CHECK_INT(peer(n, B)->refused_at, refused_at);
  CHECK_INT(vigil_pool_count(vigil_node_pool(n)), 2);
  CHECK_INT(events(&sub, 0, NULL, NULL), 0);
  drive(n, SEC(2), SEC(3), B, 10, SEC(3));
  CHECK_STR(state(n, B), "normal");
  vigil_node_free(n);
}

/* A long tick and interval, so that the refusal's due time is the earliest
 * thing on the schedule and the conviction is visibly not late by a tick. */
TEST(a_refusal_from_an_overdue_peer_moves_the_timer_earlier_and_convicts) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.interval = SEC(2);
  cfg.tick = SEC(1);
  cfg.detector.first_estimate = MS(200); /* B's real pace, not the interval */
  vigil_node *n = node_new(&cfg, &o, 0);
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  /* B heartbeats every 200 ms until 4.0 s (last beat at 3.8 s). */
  drive(n, 0, SEC(4) + MS(10), B, 0, SEC(4));
  CHECK_STR(state(n, B), "normal");
  events(&sub, 0, NULL, NULL);
  vigil_time before = vigil_node_next_timer(n);
  CHECK_INT(before, SEC(5)); /* the next tick */
  /* A refusal while B is not overdue yet: recorded, nothing more. */
  CHECK_INT(vigil_node_refused(n, B, SEC(3) + MS(850)), 0);
  CHECK_INT(vigil_node_refused_known(n), 1);
  CHECK_INT(vigil_node_refused_unknown(n), 0);
  vigil_time due = vigil_node_next_timer(n);
  /* Overdue: mean (200 ms) plus one standard deviation floored at
   * min_std_dev (100 ms) after the last beat (3.8 s). */
  CHECK(due < before);
  CHECK(due > SEC(3) + MS(800) + MS(250) && due <= SEC(3) + MS(800) + MS(350));
  vigil_node_timer(n, due - MS(10)); /* early: nothing is due */
  CHECK_STR(state(n, B), "normal");
  for (int k = 0; k < 3 && strcmp(state(n, B), "normal") == 0; k++) vigil_node_timer(n, vigil_node_next_timer(n));
  CHECK_STR(state(n, B), "down");
  vigil_event e;
  CHECK_INT(events(&sub, VIGIL_EVENT_PEER_DOWN, B, &e), 1);
  CHECK_INT(e.cause, VIGIL_CAUSE_REFUSED);
  CHECK(e.at >= due && e.at <= due + MS(2));
  CHECK_INT(vigil_node_refused(n, SELF, e.at), VIGIL_ELOCAL);
  vigil_node_free(n);
}

TEST(a_bad_threshold_is_refused_with_a_note_and_changes_nothing) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  drive(n, 0, SEC(1), B, 0, SEC(1));
  vigil_time next = vigil_node_next_timer(n);
  vigil_command c = {0};
  c.type = VIGIL_CMD_CONFIGURE;
  c.has_threshold = true;
  c.threshold = -1;
  c.has_interval = true; /* all or none: the good settings do not apply either */
  c.interval = SEC(1);
  char note[256] = "";
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_EINVAL);
  CHECK(strstr(note, "threshold") != NULL);
  CHECK_NEAR(vigil_handler_threshold(vigil_node_handler(n)), 8.0, 0);
  CHECK_NEAR(vigil_pool_detector_config(vigil_node_pool(n))->threshold, 8.0, 0);
  CHECK_INT(vigil_node_interval(n), MS(200));
  CHECK_INT(vigil_node_next_timer(n), next);
  c.threshold = NAN;
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), NULL, 0), VIGIL_EINVAL); /* no note buffer: fine */
  c.threshold = 5;
  c.interval = 0;
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_EINVAL);
  CHECK(strstr(note, "interval") != NULL);
  CHECK_NEAR(vigil_handler_threshold(vigil_node_handler(n)), 8.0, 0);
  c.type = (vigil_command_type)99;
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_EINVAL);
  CHECK(strstr(note, "unknown command") != NULL);
  /* A good one applies, and the note says what is in force. */
  c.type = VIGIL_CMD_CONFIGURE;
  c.has_interval = false;
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_OK);
  CHECK(strstr(note, "threshold=5 ") && strstr(note, "interval_ms=200"));
  CHECK_NEAR(vigil_handler_threshold(vigil_node_handler(n)), 5.0, 0);
  vigil_node_free(n);
}

TEST(a_changed_interval_moves_the_schedule) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  drive(n, 0, SEC(1) + MS(50), NULL, 0, 0);
  CHECK_INT(o.n, 6); /* rounds at 0, 0.2 .. 1.0 s to the seed */
  vigil_command c = {0};
  c.type = VIGIL_CMD_CONFIGURE;
  c.has_interval = true;
  c.interval = SEC(1);
  char note[256];
  CHECK_INT(vigil_node_apply(n, &c, SEC(1) + MS(50), note, sizeof note), VIGIL_OK);
  CHECK(strstr(note, "interval_ms=1000") != NULL);
  CHECK_INT(vigil_node_interval(n), SEC(1));
  CHECK_INT(vigil_handler_interval(vigil_node_handler(n)), MS(500)); /* the tick follows */
  CHECK_INT(vigil_node_next_timer(n), SEC(1) + MS(550));
  o.n = 0;
  drive(n, SEC(1) + MS(50), SEC(6), NULL, 0, 0);
  CHECK_INT(o.n, 4); /* rounds at 2.05, 3.05, 4.05, 5.05 s */
  vigil_snapshot *s = vigil_node_snapshot(n, SEC(6));
  CHECK(s && s->interval == SEC(1));
  free(s);
  /* The same interval again moves nothing. */
  vigil_time next = vigil_node_next_timer(n);
  CHECK_INT(vigil_node_apply(n, &c, SEC(6), NULL, 0), VIGIL_OK);
  CHECK_INT(vigil_node_next_timer(n), next);
  vigil_node_free(n);
}

TEST(mark_down_convicts_a_peer_with_cause_marked) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  drive(n, 0, SEC(1), B, 0, SEC(1));
  events(&sub, 0, NULL, NULL);
  vigil_command c = {0};
  c.type = VIGIL_CMD_MARK_DOWN;
  snprintf(c.pname, sizeof c.pname, "%s", B);
  char note[64];
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_OK);
  CHECK_STR(note, "ok");
  CHECK_STR(state(n, B), "down");
  vigil_event e;
  CHECK_INT(events(&sub, VIGIL_EVENT_PEER_DOWN, B, &e), 1);
  CHECK_INT(e.cause, VIGIL_CAUSE_MARKED);
  snprintf(c.pname, sizeof c.pname, "%s", C);
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_ENOENT);
  CHECK_STR(note, vigil_strerror(VIGIL_ENOENT));
  snprintf(c.pname, sizeof c.pname, "%s", SELF);
  CHECK_INT(vigil_node_apply(n, &c, SEC(1), note, sizeof note), VIGIL_ELOCAL);
  /* It stays down until it is heard from again. */
  vigil_node_timer(n, vigil_node_next_timer(n));
  CHECK_STR(state(n, B), "down");
  CHECK_INT(beat(n, B, NULL, 100, SEC(1) + MS(200)), VIGIL_OK);
  CHECK_STR(state(n, B), "normal");
  vigil_node_free(n);
}

TEST(a_snapshot_shows_every_peer_as_judged_at_its_time) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.dc = "dc1";
  cfg.rack = "r1";
  cfg.observers = 5;
  cfg.quorum = 3;
  vigil_node *n = node_new(&cfg, &o, 0);
  drive(n, 0, SEC(2), B, 0, SEC(2));
  beat(n, C, "dc2", 1, SEC(2));
  vigil_command c = {0};
  c.type = VIGIL_CMD_CONFIGURE;
  c.has_thresholds = true;
  c.nthresholds = 1;
  snprintf(c.thresholds[0].key, sizeof c.thresholds[0].key, "dc2");
  c.thresholds[0].threshold = 12;
  CHECK_INT(vigil_node_apply(n, &c, SEC(2), NULL, 0), VIGIL_OK);
  /* Not driven since 2 s: the snapshot judges phi at its own time. */
  vigil_snapshot *s = vigil_node_snapshot(n, SEC(4));
  CHECK(s != NULL);
  if (!s) return;
  CHECK_INT(s->at, SEC(4));
  CHECK_STR(s->self, SELF);
  CHECK_NEAR(s->threshold, 8, 0);
  CHECK_INT(s->interval, MS(200));
  CHECK_INT(s->observers, 5);
  CHECK_INT(s->npeers, 3);
  int seen = 0;
  for (uint32_t k = 0; k < s->npeers; k++) {
    const vigil_snapshot_peer *p = &s->peers[k];
    if (strcmp(p->pname, SELF) == 0) {
      seen |= 1;
      CHECK(p->is_local);
      CHECK_STR(vigil_state_name(p->state), "normal");
      CHECK_STR(p->dc, "dc1");
      CHECK_STR(p->rack, "r1");
      CHECK_NEAR(p->phi, 0, 0);
    } else if (strcmp(p->pname, B) == 0) {
      seen |= 2;
      CHECK(!p->is_local);
      CHECK_STR(vigil_state_name(p->state), "normal");
      CHECK_STR(p->dc, "dc1");           /* a frame without a dc: the pool's */
      CHECK(p->phi > 0.1 && p->phi < 1); /* 2.2 s of silence: the mean plus the acceptable pause */
      CHECK_NEAR(p->phi, vigil_handler_phi(vigil_node_handler(n), peer(n, B)->idx, SEC(4)), 0);
      CHECK_NEAR(p->threshold, 8, 0);
      CHECK_INT(p->generation, 1);
      CHECK_INT(p->since, 0); /* up since its first beat */
    } else if (strcmp(p->pname, C) == 0) {
      seen |= 4;
      CHECK_STR(p->dc, "dc2");
      CHECK_NEAR(p->threshold, 12, 0); /* its dc's override */
      CHECK_INT(p->since, SEC(2));
    }
  }
  CHECK_INT(seen, 7);
  free(s);
  vigil_node_free(n);
}

TEST(leave_sends_a_shutdown_frame_to_every_peer_and_seed) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  vigil_node *n = node_new(&cfg, &o, 0);
  drive(n, 0, SEC(1), B, 0, SEC(1));
  beat(n, C, NULL, 1, SEC(1));
  o.n = 0;
  CHECK_INT(vigil_node_leave(n, SEC(1)), 3);
  CHECK_INT(o.n, 3);
  CHECK_INT(sent_to(&o, B), 1);
  CHECK_INT(sent_to(&o, C), 1);
  CHECK_INT(sent_to(&o, SEED), 1);
  vigil_frame *f = calloc(1, sizeof *f);
  for (int k = 0; k < 3; k++) {
    CHECK_INT(vigil_frame_decode(o.bytes[k], o.len[k], NULL, f), VIGIL_OK);
    CHECK_INT(f->type, VIGIL_FRAME_SHUTDOWN);
    CHECK_STR(f->from, SELF);
    CHECK_INT(f->version, 6); /* newer than the last heartbeat (5 rounds) */
  }
  free(f);
  CHECK_STR(state(n, SELF), "leaving");
  vigil_node_free(n);
}

TEST(a_bad_node_config_is_refused_with_a_reason) {
  outbox o = {0};
  vigil_node_config cfg;
  const char *why;
  vigil_node_config_init(&cfg);
  why = NULL;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "self"));
  cfg.self = "no-port";
  why = NULL;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "host:port"));
  cfg.self = SELF;
  why = NULL;
  CHECK(vigil_node_new(&cfg, NULL, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "send"));
  cfg.interval = 0;
  why = NULL;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "interval"));
  vigil_node_config_init(&cfg);
  cfg.self = SELF;
  cfg.detector.threshold = 0;
  why = NULL;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "threshold"));
  static const char *const bad[] = {"bad seed"};
  vigil_node_config_init(&cfg);
  cfg.self = SELF;
  cfg.seeds = bad;
  cfg.nseeds = 1;
  why = NULL;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "seed"));
  cfg.nseeds = 0;
  vigil_node *n = vigil_node_new(&cfg, capture, &o, 0, &why);
  CHECK(n != NULL);
  vigil_node_free(n);
  vigil_node_free(NULL);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(the_first_gossip_round_is_due_at_creation);
  RUN(next_timer_advances_by_the_interval_and_the_tick);
  RUN(a_late_timer_runs_one_round_and_the_pause_guard_sees_the_gap);
  RUN(a_refusal_from_an_unknown_address_is_counted_and_changes_nothing);
  RUN(a_refusal_from_an_overdue_peer_moves_the_timer_earlier_and_convicts);
  RUN(a_bad_threshold_is_refused_with_a_note_and_changes_nothing);
  RUN(a_changed_interval_moves_the_schedule);
  RUN(mark_down_convicts_a_peer_with_cause_marked);
  RUN(a_snapshot_shows_every_peer_as_judged_at_its_time);
  RUN(leave_sends_a_shutdown_frame_to_every_peer_and_seed);
  RUN(a_bad_node_config_is_refused_with_a_reason);
  return CHECK_DONE();
}
