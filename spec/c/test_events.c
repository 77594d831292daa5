/*
 * test_events.c - the bounded broadcast ring: order, independent cursors,
 * lagged subscribers, and a publisher that never blocks.
 */
#include "check.h"
#include "vigil.h"

static void publish_up(vigil_events *ev, int i) {
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = VIGIL_EVENT_PEER_UP;
  e.at = (vigil_time)i;
  /* one loopback name per event, up to 2^24 of them: 127.0.0.2:7946 for i = 2 */
  snprintf(e.peer, sizeof e.peer, "127.%d.%d.%d:7946", (i >> 16) & 255, (i >> 8) & 255, i & 255);
  vigil_events_publish(ev, &e);
}

TEST(subscribers_see_events_in_publish_order) {
  vigil_events *ev = vigil_events_new(8);
  vigil_subscription s;
  vigil_events_subscribe(ev, &s);
  for (int i = 1; i <= 5; i++) publish_up(ev, i);
  vigil_event e;
  for (int i = 1; i <= 5; i++) {
    CHECK(vigil_subscription_poll(&s, &e));
    CHECK_INT(e.at, i);
    CHECK_INT(e.seq, i);
  }
  CHECK(!vigil_subscription_poll(&s, &e));
  CHECK_INT(vigil_events_published(ev), 5);
  vigil_events_free(ev);
}

TEST(a_subscription_starts_at_the_next_event) {
  vigil_events *ev = vigil_events_new(8);
  publish_up(ev, 1);
  vigil_subscription s;
  vigil_events_subscribe(ev, &s);
  vigil_event e;
  CHECK(!vigil_subscription_poll(&s, &e));
  publish_up(ev, 2);
  CHECK(vigil_subscription_poll(&s, &e));
  CHECK_STR(e.peer, "127.0.0.2:7946");
  vigil_events_free(ev);
}

TEST(each_subscriber_has_its_own_cursor) {
  vigil_events *ev = vigil_events_new(16);
  vigil_subscription fast, slow;
  vigil_events_subscribe(ev, &fast);
  vigil_events_subscribe(ev, &slow);
  vigil_event e;
  for (int i = 1; i <= 10; i++) {
    publish_up(ev, i);
    CHECK(vigil_subscription_poll(&fast, &e));
    CHECK_INT(e.at, i);
  }
  for (int i = 1; i <= 10; i++) {
    CHECK(vigil_subscription_poll(&slow, &e));
    CHECK_INT(e.at, i);
  }
  vigil_events_free(ev);
}

TEST(a_subscriber_that_falls_behind_gets_lagged_then_the_oldest_kept) {
  vigil_events *ev = vigil_events_new(4);
  vigil_subscription s;
  vigil_events_subscribe(ev, &s);
  for (int i = 1; i <= 10; i++) publish_up(ev, i); /* never blocks */
  vigil_event e;
  CHECK(vigil_subscription_poll(&s, &e));
  CHECK_INT(e.type, VIGIL_EVENT_LAGGED);
  CHECK_INT(e.missed, 6);
  CHECK_INT(s.lagged_total, 6);
  for (int i = 7; i <= 10; i++) {
    CHECK(vigil_subscription_poll(&s, &e));
    CHECK_INT(e.type, VIGIL_EVENT_PEER_UP);
    CHECK_INT(e.at, i);
  }
  CHECK(!vigil_subscription_poll(&s, &e));
  /* Lag again later: counted again. */
  for (int i = 11; i <= 20; i++) publish_up(ev, i);
  CHECK(vigil_subscription_poll(&s, &e));
  CHECK_INT(e.missed, 6);
  CHECK_INT(s.lagged_total, 12);
  vigil_events_free(ev);
}

TEST(capacity_defaults_to_256) {
  vigil_events *ev = vigil_events_new(0);
  CHECK_INT(vigil_events_capacity(ev), 256);
  vigil_events_free(ev);
  vigil_events_free(NULL);
}

TEST(a_million_events_through_a_small_ring_lose_none_for_a_keeping_up_reader) {
  vigil_events *ev = vigil_events_new(2);
  vigil_subscription s;
  vigil_events_subscribe(ev, &s);
  vigil_event e;
  long ok = 0;
  for (int i = 1; i <= 1000000; i++) {
    publish_up(ev, i);
    if (i % 2 == 0) {
      ok += vigil_subscription_poll(&s, &e) && e.at == (vigil_time)(i - 1);
      ok += vigil_subscription_poll(&s, &e) && e.at == (vigil_time)i;
    }
  }
  CHECK_INT(ok, 1000000);
  CHECK_INT(s.lagged_total, 0);
  vigil_events_free(ev);
}

static void sink_count(void *ud, const vigil_event *e) {
  vigil_time *last = ud;
  if (e->at == last[0] + 1 && e->seq == (uint64_t)e->at) last[0] = e->at; /* in order, numbered */
}

TEST(the_sink_sees_every_event_in_order_whatever_the_ring_holds) {
  vigil_events *ev = vigil_events_new(2);
  vigil_time last[1] = {0};
  vigil_events_set_sink(ev, sink_count, last);
  for (int i = 1; i <= 1000; i++) publish_up(ev, i); /* no reader: the ring keeps 2 */
  CHECK_INT(last[0], 1000);
  vigil_events_set_sink(ev, NULL, NULL);
  publish_up(ev, 1001);
  CHECK_INT(last[0], 1000);
  vigil_events_free(ev);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(subscribers_see_events_in_publish_order);
  RUN(a_subscription_starts_at_the_next_event);
  RUN(each_subscriber_has_its_own_cursor);
  RUN(a_subscriber_that_falls_behind_gets_lagged_then_the_oldest_kept);
  RUN(capacity_defaults_to_256);
  RUN(a_million_events_through_a_small_ring_lose_none_for_a_keeping_up_reader);
  RUN(the_sink_sees_every_event_in_order_whatever_the_ring_holds);
  return CHECK_DONE();
}
