/*
 * test_node_verbs.c - what `vigil join` and `vigil force-leave` ask of a
 * node (vigil.h, "Node"): vigil_node_join contacts an address at once and
 * keeps it as a seed until it answers, within a bounded seed list;
 * vigil_node_forget marks a peer down (cause marked) and forgets it at
 * once, with a tombstone, so relayed news of it does not bring it back
 * while the peer's own heartbeat does. One node, hand-made frames, a send
 * function that captures what it sends.
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
#define D    "127.0.0.4:7946"

static vigil_node *node_new(outbox *o, vigil_time now) {
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = SELF; /* no seeds: it knows nobody */
  const char *why = NULL;
  vigil_node *n = vigil_node_new(&cfg, capture, o, now, &why);
  if (!n) fprintf(stderr, "vigil_node_new: %s\n", why ? why : "?");
  return n;
}

/* A frame from `from` (generation 1) arrives at `now`, carrying digest
 * entries about `about` (NULL: none), each at generation 1, version ver. */
static int frame_from(vigil_node *n, const char *from, uint64_t ver, const char *const *about, vigil_time now) {
  static vigil_frame f;
  memset(&f, 0, sizeof f);
  f.type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f.from, sizeof f.from, "%s", from);
  f.generation = 1;
  f.version = ver;
  for (; about && *about; about++) {
    vigil_digest_entry *d = &f.digest[f.ndigest++];
    snprintf(d->pname, sizeof d->pname, "%s", *about);
    d->generation = 1;
    d->version = ver;
  }
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = vigil_frame_encode(&f, NULL, buf, sizeof buf);
  if (len < 0) return len;
  return vigil_node_receive(n, buf, (size_t)len, from, now);
}

static const vigil_peer *peer(vigil_node *n, const char *pname) { return vigil_pool_find(vigil_node_pool(n), pname); }

/* The membership counter vigil_members_changes_total{kind} from the metrics. */
static double changes(vigil_node *n, const char *kind) {
  size_t len;
  char *text = vigil_node_render_metrics(n, SEC(100), &len);
  char pat[64];
  snprintf(pat, sizeof pat, "vigil_members_changes_total{kind=\"%s\"} ", kind);
  const char *p = text ? strstr(text, pat) : NULL;
  double v = p ? strtod(p + strlen(pat), NULL) : -1;
  free(text);
  return v;
}

TEST(join_sends_our_heartbeat_at_once_and_every_round_until_heard) {
  outbox o = {0};
  vigil_node *n = node_new(&o, 0);
  vigil_node_timer(n, 0); /* the first round: nobody to send to */
  CHECK_INT(o.n, 0);
  CHECK_INT(vigil_node_join(n, B, MS(50)), VIGIL_OK);
  CHECK_INT(o.n, 1); /* now, not at the next round */
  CHECK_STR(o.to[0], B);
  vigil_frame *f = calloc(1, sizeof *f);
  CHECK_INT(vigil_frame_decode(o.bytes[0], o.len[0], NULL, f), VIGIL_OK);
  CHECK_INT(f->type, VIGIL_FRAME_HEARTBEAT);
  CHECK_STR(f->from, SELF);
  CHECK(f->flags & VIGIL_FLAG_WANT); /* answer me */
  free(f);
  /* A seed now: every round until B is heard. */
  vigil_node_timer(n, MS(200));
  vigil_node_timer(n, MS(400));
  CHECK_INT(sent_to(&o, B), 3);
  frame_from(n, B, 1, NULL, MS(450));
  CHECK(peer(n, B) != NULL);
  /* Joining a member, or this agent, sends nothing now. */
  o.n = 0;
  CHECK_INT(vigil_node_join(n, B, MS(460)), VIGIL_OK);
  CHECK_INT(vigil_node_join(n, SELF, MS(460)), VIGIL_OK);
  CHECK_INT(o.n, 0);
  CHECK_INT(vigil_node_join(n, "not-an-address", MS(460)), VIGIL_EINVAL);
  vigil_node_free(n);
}

TEST(the_seed_list_is_bounded) {
  outbox o = {0};
  vigil_node *n = node_new(&o, 0);
  int added = 0;
  for (int i = 0; i < VIGIL_SEEDS_MAX + 5; i++) {
    char pname[64];
    snprintf(pname, sizeof pname, "10.%d.%d.1:7946", i / 256, i % 256);
    if (vigil_node_join(n, pname, MS(1)) == VIGIL_OK) added++;
  }
  CHECK_INT(added, VIGIL_SEEDS_MAX);
  CHECK_INT(vigil_node_join(n, "10.200.0.1:7946", MS(1)), VIGIL_ERANGE);
  CHECK_INT(vigil_node_join(n, "10.0.0.1:7946", MS(1)), VIGIL_OK); /* one it has: still fine */
  vigil_node_free(n);
}

TEST(forget_marks_a_peer_down_then_removes_it_at_once) {
  outbox o = {0};
  vigil_node *n = node_new(&o, 0);
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  frame_from(n, B, 1, NULL, MS(10));
  frame_from(n, C, 1, NULL, MS(10));
  CHECK_STR(vigil_state_name(peer(n, B)->state), "normal");
  CHECK_INT(vigil_node_forget(n, B, MS(20)), VIGIL_OK);
  CHECK(peer(n, B) == NULL);
  CHECK(peer(n, C) != NULL);
  vigil_event e;
  int downs = 0;
  while (vigil_subscription_poll(&sub, &e))
    if (e.type == VIGIL_EVENT_PEER_DOWN && strcmp(e.peer, B) == 0) {
      downs++;
      CHECK_STR(vigil_cause_name(e.cause), "marked");
    }
  CHECK_INT(downs, 1);
  CHECK_INT(changes(n, "reaped"), 1);
  /* Not for this agent, nor for a peer it does not know. */
  CHECK_INT(vigil_node_forget(n, SELF, MS(30)), VIGIL_ELOCAL);
  CHECK_INT(vigil_node_forget(n, B, MS(30)), VIGIL_ENOENT);
  vigil_node_free(n);
}

TEST(a_forgotten_peer_stays_gone_on_relayed_news_and_returns_on_its_own) {
  outbox o = {0};
  vigil_node *n = node_new(&o, 0);
  frame_from(n, B, 1, NULL, MS(10));
  frame_from(n, C, 1, NULL, MS(10));
  CHECK_INT(vigil_node_forget(n, B, MS(20)), VIGIL_OK);
  /* C has not caught up: it still lists B, as it knew it. Relayed news
   * brings a peer it never knew (D), not the one it forgot. */
  const char *about[] = {B, D, NULL};
  CHECK_INT(frame_from(n, C, 2, about, MS(30)), VIGIL_OK);
  CHECK(peer(n, B) == NULL);
  CHECK(peer(n, D) != NULL);
  /* Still so much later (the tombstone lasts twice the reap time, 120 s). */
  CHECK_INT(frame_from(n, C, 3, about, SEC(100)), VIGIL_OK);
  CHECK(peer(n, B) == NULL);
  /* B itself speaking: it is alive, and back. */
  frame_from(n, B, 2, NULL, SEC(101));
  CHECK(peer(n, B) != NULL);
  vigil_node_free(n);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(join_sends_our_heartbeat_at_once_and_every_round_until_heard);
  RUN(the_seed_list_is_bounded);
  RUN(forget_marks_a_peer_down_then_removes_it_at_once);
  RUN(a_forgotten_peer_stays_gone_on_relayed_news_and_returns_on_its_own);
  return CHECK_DONE();
}
