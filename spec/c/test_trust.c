/*
 * test_trust.c - what a stranger's datagrams can and cannot make a node do
 * (issue 12; docs/PROTOCOL.md, "Admission", "Identity and news"; docs/
 * SECURITY.md): a frame counts only from its sender's address and near our
 * clock, relayed news never overrules a peer we hear, an alert cannot wrap
 * our incarnation, joins are bounded per source and in all, a peer never
 * heard is probed with backoff, and the events sink misses nothing.
 * One node, hand-made frames, a send function that counts what goes out.
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"

#define MS(x)  ((vigil_time)(x)*VIGIL_MS)
#define SEC(x) ((vigil_time)(x)*VIGIL_SEC)

#define SELF "127.0.0.1:7946"
#define B    "127.0.0.2:7946"
#define C    "127.0.0.3:7946"
#define D    "127.0.0.4:7946"
#define G    1700000000000ull /* our generation: the wall clock (ms) when we started, at now = 0 */

/* Where the node sent, and the last datagram to D. */
typedef struct outbox {
  int n, to_b, to_d;
  size_t d_len, b_len;
  uint8_t d_bytes[VIGIL_FRAME_MAX], b_bytes[VIGIL_FRAME_MAX];
} outbox;

static int capture(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  outbox *o = ud;
  o->n++;
  if (strcmp(pname, B) == 0) {
    o->to_b++;
    o->b_len = len;
    memcpy(o->b_bytes, buf, len);
  }
  if (strcmp(pname, D) == 0) {
    o->to_d++;
    o->d_len = len;
    memcpy(o->d_bytes, buf, len);
  }
  return 0;
}

static vigil_node *node_with(vigil_node_config *cfg, outbox *o) {
  cfg->self = SELF;
  cfg->generation = G;
  const char *why = NULL;
  vigil_node *n = vigil_node_new(cfg, capture, o, 0, &why);
  if (!n) fprintf(stderr, "vigil_node_new: %s\n", why ? why : "?");
  return n;
}

static vigil_node *node_new(outbox *o) {
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  return node_with(&cfg, o);
}

static vigil_frame *frame(uint32_t type, const char *from, uint64_t gen, uint64_t ver, uint64_t sent) {
  static vigil_frame f;
  memset(&f, 0, sizeof f);
  f.type = type;
  snprintf(f.from, sizeof f.from, "%s", from);
  f.generation = gen;
  f.version = ver;
  f.sent = sent;
  return &f;
}

static void entry(vigil_frame *f, const char *pname, uint64_t gen, uint64_t inc) {
  vigil_digest_entry *d = &f->digest[f->ndigest++];
  memset(d, 0, sizeof *d);
  snprintf(d->pname, sizeof d->pname, "%s", pname);
  d->generation = gen;
  d->incarnation = inc;
}

static int deliver(vigil_node *n, const vigil_frame *f, const vigil_keyring *kr, const char *src, vigil_time now) {
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = vigil_frame_encode(f, kr, buf, sizeof buf);
  if (len < 0) return len;
  return vigil_node_receive(n, buf, (size_t)len, src, now);
}

/* Our clock at `now`, as the node reads it. */
static uint64_t wall(vigil_time now) { return G + now / VIGIL_MS; }

static const char *state(vigil_node *n, const char *pname) {
  const vigil_peer *p = vigil_pool_find(vigil_node_pool(n), pname);
  return p ? vigil_state_name(p->state) : "-";
}

static uint64_t gen_of(vigil_node *n, const char *pname) {
  const vigil_peer *p = vigil_pool_find(vigil_node_pool(n), pname);
  uint64_t gen = 0, ver = 0;
  vigil_time heard = 0;
  if (!p || !vigil_members_info(vigil_node_members(n), p->idx, &gen, &ver, &heard)) return 0;
  return gen;
}

/* A sample of the node's metrics ("name{labels}"), or -1. */
static double metric(vigil_node *n, const char *sample) {
  char *text = vigil_node_render_metrics(n, 0, NULL);
  double v = -1;
  size_t k = strlen(sample);
  for (const char *p = text; p && *p;) {
    if (strncmp(p, sample, k) == 0 && p[k] == ' ') {
      v = strtod(p + k + 1, NULL);
      break;
    }
    const char *nl = strchr(p, '\n');
    p = nl ? nl + 1 : NULL;
  }
  free(text);
  return v;
}

TEST(a_frame_counts_only_from_its_senders_address) {
  outbox o = {0};
  vigil_node *n = node_new(&o);
  /* B's heartbeat, sent from C's address: nothing of it counts. */
  CHECK_INT(deliver(n, frame(1, B, G, 1, wall(MS(10))), NULL, C, MS(10)), VIGIL_FRAME_ESOURCE);
  CHECK_STR(state(n, B), "-");
  CHECK_INT(deliver(n, frame(1, B, G, 1, wall(MS(20))), NULL, B, MS(20)), VIGIL_OK);
  CHECK_STR(state(n, B), "normal");
  /* A shutdown naming B from anywhere else, at any generation: refused. */
  CHECK_INT(deliver(n, frame(3, B, G, 2, wall(MS(30))), NULL, C, MS(30)), VIGIL_FRAME_ESOURCE);
  CHECK_INT(deliver(n, frame(3, B, UINT64_MAX, 2, wall(MS(30))), NULL, "127.0.0.99:1", MS(30)), VIGIL_FRAME_ESOURCE);
  CHECK_STR(state(n, B), "normal");
  CHECK(metric(n, "vigil_frames_rejected_total{reason=\"source\"}") == 3);
  /* From B itself, B leaves. */
  CHECK_INT(deliver(n, frame(3, B, G, 2, wall(MS(40))), NULL, B, MS(40)), VIGIL_OK);
  CHECK_STR(state(n, B), "down");
  /* A driver without addresses (NULL) is not checked. */
  CHECK_INT(deliver(n, frame(1, C, G, 1, wall(MS(50))), NULL, NULL, MS(50)), VIGIL_OK);
  CHECK_STR(state(n, C), "normal");
  vigil_node_free(n);
}

TEST(frames_too_far_from_our_clock_or_from_the_future_are_rejected) {
  outbox o = {0};
  vigil_node *n = node_new(&o);
  vigil_time now = SEC(100);
  CHECK_INT(deliver(n, frame(1, B, G, 1, wall(now) - 11000), NULL, B, now), VIGIL_FRAME_ESKEW); /* 11 s old */
  CHECK_INT(deliver(n, frame(1, B, G, 1, wall(now) + 11000), NULL, B, now), VIGIL_FRAME_ESKEW); /* 11 s ahead */
  CHECK_INT(deliver(n, frame(1, B, wall(now) + 11000, 1, wall(now)), NULL, B, now), VIGIL_FRAME_EGENERATION);
  CHECK_INT(deliver(n, frame(1, B, UINT64_MAX, 1, 0), NULL, B, now), VIGIL_FRAME_EGENERATION);
  CHECK_STR(state(n, B), "-");
  CHECK_INT(deliver(n, frame(1, B, wall(now) + 9000, 1, wall(now) - 9000), NULL, B, now), VIGIL_OK); /* within 10 s */
  CHECK(metric(n, "vigil_frames_rejected_total{reason=\"skew\"}") == 2);
  CHECK(metric(n, "vigil_frames_rejected_total{reason=\"generation\"}") == 2);
  vigil_node_free(n);
  /* max_skew 0: no clock checks (a driver without a wall clock). */
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.max_skew = 0;
  n = node_with(&cfg, &o);
  CHECK_INT(deliver(n, frame(1, B, UINT64_MAX, 1, 1), NULL, B, now), VIGIL_OK);
  vigil_node_free(n);
}

TEST(a_signed_frame_must_carry_its_send_time) {
  vigil_keyring kr = {0};
  CHECK_INT(vigil_keyring_add_base64(&kr, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), VIGIL_OK);
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.keyring = &kr;
  vigil_node *n = node_with(&cfg, &o);
  CHECK_INT(deliver(n, frame(1, B, G, 1, 0), &kr, B, MS(10)), VIGIL_FRAME_ESKEW);
  CHECK_INT(deliver(n, frame(1, B, G, 1, wall(MS(10))), &kr, B, MS(10)), VIGIL_OK);
  CHECK_STR(state(n, B), "normal");
  /* Our own frames carry it, signed: our clock when we sent them. */
  vigil_node_timer(n, MS(200));
  CHECK(o.to_b > 0);
  vigil_frame g;
  CHECK_INT(vigil_frame_decode(o.b_bytes, o.b_len, &kr, &g), VIGIL_OK);
  CHECK(g.authenticated);
  CHECK_INT(g.sent, wall(MS(200)));
  vigil_node_free(n);
}

TEST(relayed_news_never_overrules_a_peer_we_hear) {
  outbox o = {0};
  vigil_node *n = node_new(&o);
  vigil_time t = MS(10);
  CHECK_INT(deliver(n, frame(1, B, G, 1, wall(t)), NULL, B, t), VIGIL_OK);
  CHECK_INT(deliver(n, frame(1, C, G, 1, wall(t)), NULL, C, t), VIGIL_OK);
  /* C says B restarted (a plausible generation): we hear B, B did not say so. */
  vigil_frame *f = frame(1, C, G, 2, wall(t));
  entry(f, B, G + 5000, 0);
  CHECK_INT(deliver(n, f, NULL, C, t), VIGIL_OK);
  CHECK_INT(gen_of(n, B), G);
  CHECK(metric(n, "vigil_frames_ignored_total{reason=\"heard_directly\"}") == 1);
  /* From the future: ignored whoever we hear. */
  f = frame(1, C, G, 3, wall(t));
  entry(f, D, UINT64_MAX, 0);
  CHECK_INT(deliver(n, f, NULL, C, t), VIGIL_OK);
  CHECK_STR(state(n, D), "-");
  CHECK(metric(n, "vigil_frames_ignored_total{reason=\"generation\"}") == 1);
  /* B silent for a while: the relayed restart is believed ... */
  t = SEC(2);
  f = frame(1, C, G, 4, wall(t));
  entry(f, B, G + 1500, 0);
  CHECK_INT(deliver(n, f, NULL, C, t), VIGIL_OK);
  CHECK_INT(gen_of(n, B), G + 1500);
  /* ... until B itself, from its address, says otherwise: its word wins. */
  CHECK_INT(deliver(n, frame(1, B, G, 2, wall(t)), NULL, B, t), VIGIL_OK);
  CHECK_INT(gen_of(n, B), G);
  CHECK(metric(n, "vigil_generations_overruled_total") == 1);
  CHECK_STR(state(n, B), "normal");
  /* And once heard at G, its older self's word is stale again. */
  CHECK_INT(deliver(n, frame(1, B, G - 1, 9, wall(t)), NULL, B, t), VIGIL_OK);
  CHECK_INT(gen_of(n, B), G);
  vigil_node_free(n);
}

TEST(an_alert_about_an_incarnation_we_never_had_is_ignored) {
  outbox o = {0};
  vigil_node *n = node_new(&o);
  vigil_frame *f = frame(1, B, G, 1, wall(MS(10)));
  f->nalerts = 1;
  snprintf(f->alerts[0].subject, sizeof f->alerts[0].subject, "%s", SELF);
  snprintf(f->alerts[0].observer, sizeof f->alerts[0].observer, "%s", B);
  f->alerts[0].generation = G;
  f->alerts[0].incarnation = UINT64_MAX; /* would wrap ours to 0 */
  CHECK_INT(deliver(n, f, NULL, B, MS(10)), VIGIL_OK);
  CHECK_INT(vigil_members_incarnation(vigil_node_members(n)), 0);
  f = frame(1, B, G, 2, wall(MS(20)));
  f->nalerts = 1;
  snprintf(f->alerts[0].subject, sizeof f->alerts[0].subject, "%s", SELF);
  snprintf(f->alerts[0].observer, sizeof f->alerts[0].observer, "%s", B);
  f->alerts[0].generation = G;
  f->alerts[0].incarnation = 0; /* about us as we are: refuted */
  CHECK_INT(deliver(n, f, NULL, B, MS(20)), VIGIL_OK);
  CHECK_INT(vigil_members_incarnation(vigil_node_members(n)), 1);
  vigil_node_free(n);
}

/* B's frame at t introducing 32 new names, from `base` on. */
static int names_from_b(vigil_node *n, uint32_t base, uint64_t ver, vigil_time t) {
  vigil_frame *f = frame(1, B, G, ver, wall(t));
  for (uint32_t k = 0; k < VIGIL_DIGEST_MAX; k++) {
    char name[VIGIL_PNAME_MAX];
    uint32_t i = base + k;
    snprintf(name, sizeof name, "127.1.%u.%u:7946", i / 250u, i % 250u + 1u);
    entry(f, name, G, 0);
  }
  return deliver(n, f, NULL, B, t);
}

TEST(joins_are_bounded_per_source_and_in_all) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.join_rate = 10;
  cfg.join_burst = 20;
  cfg.max_peers = 0;
  vigil_node *n = node_with(&cfg, &o);
  for (uint32_t i = 0; i < 10; i++) CHECK_INT(names_from_b(n, i * 32, i + 1, MS(10)), VIGIL_OK);
  CHECK_INT(vigil_pool_count(vigil_node_pool(n)), 2 + 20); /* us, B, and B's burst */
  CHECK_INT(names_from_b(n, 1000, 20, MS(1010)), VIGIL_OK);
  CHECK_INT(vigil_pool_count(vigil_node_pool(n)), 2 + 20 + 10); /* a second later: 10 more */
  CHECK(metric(n, "vigil_frames_ignored_total{reason=\"join_rate\"}") == 300 + 22);
  vigil_node_free(n);

  vigil_node_config_init(&cfg);
  cfg.max_peers = 50;
  n = node_with(&cfg, &o);
  for (uint32_t i = 0; i < 10; i++) CHECK_INT(names_from_b(n, i * 32, i + 1, MS(10)), VIGIL_OK);
  CHECK_INT(vigil_pool_count(vigil_node_pool(n)), 50);
  CHECK(metric(n, "vigil_frames_ignored_total{reason=\"full\"}") > 0);
  /* Full, a stranger's own heartbeat is refused too. */
  CHECK_INT(deliver(n, frame(1, C, G, 1, wall(MS(20))), NULL, C, MS(20)), VIGIL_OK);
  CHECK_STR(state(n, C), "-");
  vigil_node_free(n);
}

TEST(a_peer_never_heard_is_probed_further_and_further_apart) {
  outbox o = {0};
  vigil_node *n = node_new(&o);
  vigil_time t = MS(1);
  /* B heartbeats every interval and tells us of D, which never speaks. */
  vigil_frame *f = frame(1, B, G, 1, wall(t));
  entry(f, D, G, 0);
  CHECK_INT(deliver(n, f, NULL, B, t), VIGIL_OK);
  uint64_t ver = 1;
  for (t = MS(200); t <= SEC(20); t += MS(200)) {
    CHECK_INT(deliver(n, frame(1, B, G, ++ver, wall(t)), NULL, B, t), VIGIL_OK);
    vigil_node_timer(n, t);
  }
  /* 100 rounds: B got one frame each; D a probe at once, then after 1, 2,
   * 4, 8, 16, 32, 64 rounds (at most every 64 after that). */
  CHECK(o.to_b >= 100);
  CHECK(o.to_d >= 6 && o.to_d <= 8);
  CHECK(metric(n, "vigil_probes_total") == o.to_d);
  /* A probe is our bare heartbeat asking for D's: no entries, no alerts. */
  vigil_frame g;
  CHECK_INT(vigil_frame_decode(o.d_bytes, o.d_len, NULL, &g), VIGIL_OK);
  CHECK(g.flags & VIGIL_FLAG_WANT);
  CHECK_INT(g.ndigest, 0);
  CHECK_INT(g.nalerts, 0);
  CHECK(o.d_len < 120);
  /* Once D answers it gets gossip every round. */
  int before = o.to_d;
  CHECK_INT(deliver(n, frame(1, D, G, 1, wall(t)), NULL, D, t), VIGIL_OK);
  for (int k = 0; k < 5; k++, t += MS(200)) {
    deliver(n, frame(1, D, G, (uint64_t)k + 2, wall(t)), NULL, D, t);
    vigil_node_timer(n, t);
  }
  CHECK(o.to_d - before >= 5);
  vigil_node_free(n);
}

/* Counts what the node's sink saw. */
static void count_event(void *ud, const vigil_event *e) {
  uint64_t *seen = ud;
  if (e->type == VIGIL_EVENT_PEER_JOINED) seen[0]++;
  seen[1]++;
}

TEST(the_events_sink_sees_every_event_however_many_one_input_publishes) {
  outbox o = {0};
  uint64_t seen[2] = {0, 0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.join_rate = 0; /* no bound per source: 32 joins a datagram */
  cfg.events = 16;   /* a ring smaller than one input's events */
  cfg.on_event = count_event;
  cfg.on_event_ud = seen;
  vigil_node *n = node_with(&cfg, &o);
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  uint64_t polled = 0, lagged = 0;
  for (uint32_t i = 0; i < 100; i++) {
    CHECK_INT(names_from_b(n, i * 32, i + 1, MS(10)), VIGIL_OK);
    vigil_event e; /* a subscriber reading after every input still loses some */
    while (vigil_subscription_poll(&sub, &e)) {
      if (e.type == VIGIL_EVENT_LAGGED)
        lagged += e.missed;
      else if (e.type == VIGIL_EVENT_PEER_JOINED)
        polled++;
    }
  }
  vigil_node_timer(n, MS(20));
  CHECK_INT(seen[0], 1 + 3200); /* B and every name: the sink lost none */
  CHECK_INT(seen[1], vigil_events_published(vigil_node_events(n)));
  CHECK(lagged > 0);
  CHECK(polled < 1 + 3200); /* the ring alone lost joins */
  vigil_node_free(n);
}

TEST(a_bad_bound_is_refused_with_a_reason) {
  outbox o = {0};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = SELF;
  cfg.max_skew = SEC(60); /* = the reap time */
  const char *why = NULL;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "reap"));
  vigil_node_config_init(&cfg);
  cfg.self = SELF;
  cfg.max_peers = 1;
  CHECK(vigil_node_new(&cfg, capture, &o, 0, &why) == NULL);
  CHECK(why && strstr(why, "max_peers"));
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(a_frame_counts_only_from_its_senders_address);
  RUN(frames_too_far_from_our_clock_or_from_the_future_are_rejected);
  RUN(a_signed_frame_must_carry_its_send_time);
  RUN(relayed_news_never_overrules_a_peer_we_hear);
  RUN(an_alert_about_an_incarnation_we_never_had_is_ignored);
  RUN(joins_are_bounded_per_source_and_in_all);
  RUN(a_peer_never_heard_is_probed_further_and_further_apart);
  RUN(the_events_sink_sees_every_event_however_many_one_input_publishes);
  RUN(a_bad_bound_is_refused_with_a_reason);
  return CHECK_DONE();
}
