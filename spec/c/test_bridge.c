/*
 * test_bridge.c - what the core and script threads share: the event queue
 * (order, overflow into one lagged event), the command queue, snapshots and
 * their reference counts, requests, status -- and the same under two real
 * threads hammering it (run under ASan/UBSan by make test).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "vigil_runtime.h"

static int wakes;
static void count_wake(void *ud) {
  (void)ud;
  __atomic_add_fetch(&wakes, 1, __ATOMIC_RELAXED);
}

static vigil_event peer_event(int i) {
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = VIGIL_EVENT_PEER_DOWN;
  e.at = (vigil_time)i;
  snprintf(e.peer, sizeof e.peer, "127.0.0.1:%d", 1000 + i % 50000);
  return e;
}

TEST(events_arrive_in_order_and_overflow_becomes_one_lagged_event) {
  wakes = 0;
  vigil_bridge *b = vigil_bridge_new(4, count_wake, NULL, NULL, NULL);
  for (int i = 1; i <= 3; i++) {
    vigil_event e = peer_event(i);
    vigil_bridge_push_event(b, &e);
  }
  CHECK_INT(wakes, 3);
  vigil_event out[8];
  CHECK_INT(vigil_bridge_take_events(b, out, 8), 3);
  CHECK_INT(out[0].at, 1);
  CHECK_INT(out[2].at, 3);
  for (int i = 4; i <= 13; i++) { /* 10 into a queue of 4: the oldest 6 go */
    vigil_event e = peer_event(i);
    vigil_bridge_push_event(b, &e);
  }
  size_t n = vigil_bridge_take_events(b, out, 8);
  CHECK_INT(n, 5);
  CHECK_INT(out[0].type, VIGIL_EVENT_LAGGED);
  CHECK_INT(out[0].missed, 6);
  for (int k = 1; k <= 4; k++) CHECK_INT(out[k].at, 9 + k);
  CHECK_INT(vigil_bridge_take_events(b, out, 8), 0);
  vigil_policy_status st;
  vigil_bridge_status(b, &st);
  CHECK_INT(st.lagged, 6);
  vigil_bridge_free(b);
}

TEST(commands_queue_up_to_a_bound_and_wake_the_core) {
  wakes = 0;
  vigil_bridge *b = vigil_bridge_new(4, NULL, NULL, count_wake, NULL);
  vigil_command *c = calloc(1, sizeof *c);
  c->type = VIGIL_CMD_MARK_DOWN;
  int accepted = 0;
  for (int i = 0; i < 300; i++) {
    snprintf(c->pname, sizeof c->pname, "127.0.0.1:%d", i + 1);
    accepted += vigil_bridge_send_command(b, c) == VIGIL_OK;
  }
  CHECK_INT(accepted, 64); /* the bound: bridge.c COMMANDS_MAX */
  CHECK_INT(wakes, 64);
  int taken = 0;
  while (vigil_bridge_take_command(b, c)) {
    taken++;
    if (taken == 1) CHECK_STR(c->pname, "127.0.0.1:1");
  }
  CHECK_INT(taken, 64);
  CHECK_STR(c->pname, "127.0.0.1:64");
  free(c);
  vigil_bridge_free(b);
}

static vigil_snapshot *snap(int npeers, vigil_time at) {
  vigil_snapshot *s = calloc(1, sizeof *s + (size_t)npeers * sizeof s->peers[0]);
  s->at = at;
  s->npeers = (uint32_t)npeers;
  return s;
}

TEST(a_snapshot_outlives_its_replacement_while_someone_reads_it) {
  vigil_bridge *b = vigil_bridge_new(4, NULL, NULL, NULL, NULL);
  CHECK(vigil_bridge_acquire(b) == NULL);
  vigil_bridge_publish(b, snap(3, 1));
  const vigil_snapshot *s1 = vigil_bridge_acquire(b);
  CHECK_INT(s1->at, 1);
  vigil_bridge_publish(b, snap(5, 2)); /* s1 is still held: not freed */
  CHECK_INT(s1->npeers, 3);            /* ASan would flag a use after free */
  vigil_bridge_release(b, s1);
  const vigil_snapshot *s2 = vigil_bridge_acquire(b);
  CHECK_INT(s2->at, 2);
  vigil_bridge_release(b, s2);
  vigil_bridge_free(b); /* frees the current one; LeakSanitizer checks the rest */
}

TEST(requests_and_status_cross_over) {
  vigil_bridge *b = vigil_bridge_new(4, NULL, NULL, NULL, NULL);
  bool reload, stop;
  vigil_bridge_take_requests(b, &reload, &stop);
  CHECK(!reload && !stop);
  vigil_bridge_request(b, true, false);
  vigil_bridge_take_requests(b, &reload, &stop);
  CHECK(reload && !stop);
  vigil_bridge_take_requests(b, &reload, &stop);
  CHECK(!reload); /* taken once */
  vigil_policy_status st;
  memset(&st, 0, sizeof st);
  st.generation = 7;
  snprintf(st.error, sizeof st.error, "agent.lua:3: boom");
  vigil_bridge_set_status(b, &st);
  vigil_policy_status got;
  vigil_bridge_status(b, &got);
  CHECK_INT(got.generation, 7);
  CHECK_STR(got.error, "agent.lua:3: boom");
  CHECK_STR(vigil_policy_kind_name(0), "peer_up");
  CHECK_STR(vigil_policy_kind_name(VIGIL_POLICY_KINDS - 1), "load");
  vigil_bridge_free(b);
}

/* Two threads: the core pushes 200,000 events and publishes a snapshot
 * every 100; the script thread takes events in batches and reads
 * snapshots. Every event is either delivered, in order, or counted as
 * missed; none is delivered twice. */
typedef struct stress {
  vigil_bridge *b;
  int pushed;
  volatile int done;
} stress;

static void *producer(void *arg) {
  stress *s = arg;
  for (int i = 1; i <= s->pushed; i++) {
    vigil_event e = peer_event(i);
    vigil_bridge_push_event(s->b, &e);
    if (i % 100 == 0) vigil_bridge_publish(s->b, snap(4, (vigil_time)i));
  }
  __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

TEST(two_threads_lose_nothing_silently_and_keep_order) {
  stress s = {vigil_bridge_new(256, NULL, NULL, NULL, NULL), 200000, 0};
  pthread_t t;
  pthread_create(&t, NULL, producer, &s);
  uint64_t delivered = 0, missed = 0, last = 0, out_of_order = 0, snaps = 0;
  static vigil_event batch[64];
  for (;;) {
    bool finished = __atomic_load_n(&s.done, __ATOMIC_ACQUIRE);
    size_t n = vigil_bridge_take_events(s.b, batch, 64);
    for (size_t k = 0; k < n; k++) {
      if (batch[k].type == VIGIL_EVENT_LAGGED) {
        missed += batch[k].missed;
        continue;
      }
      out_of_order += batch[k].at <= last;
      last = batch[k].at;
      delivered++;
    }
    const vigil_snapshot *sn = vigil_bridge_acquire(s.b);
    if (sn) {
      snaps += sn->npeers == 4;
      vigil_bridge_release(s.b, sn);
    }
    if (finished && n == 0) break;
  }
  pthread_join(t, NULL);
  CHECK_INT(out_of_order, 0);
  CHECK_INT(delivered + missed, 200000);
  CHECK(snaps > 0);
  vigil_bridge_free(s.b);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(events_arrive_in_order_and_overflow_becomes_one_lagged_event);
  RUN(commands_queue_up_to_a_bound_and_wake_the_core);
  RUN(a_snapshot_outlives_its_replacement_while_someone_reads_it);
  RUN(requests_and_status_cross_over);
  RUN(two_threads_lose_nothing_silently_and_keep_order);
  return CHECK_DONE();
}
