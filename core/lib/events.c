/*
 * events.c - the cluster events ring: a bounded broadcast queue.
 *
 * Owns: the latest `capacity` events, numbered by a sequence that starts at
 * 1 and never wraps (64 bits), and the rule a subscriber follows to read
 * them.
 *
 * Must never: block or fail in publish. The publisher does not know its
 * subscribers: each subscriber is only a cursor (the seq it wants next), so
 * any number of them can read at their own pace and a slow one costs the
 * publisher nothing. A subscriber that falls more than `capacity` events
 * behind has lost the oldest ones; it is told so with one `lagged` event
 * carrying the count, then reads on from the oldest event still held. Order
 * is the publish order, so per peer it is preserved. One sink may see
 * every event as it is published, whatever the ring's size: what must
 * never miss one (the agent's log and policy bridge) is the sink.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vigil_events {
  vigil_event *ring; /* slot = (seq - 1) % capacity */
  uint32_t capacity;
  uint64_t published;    /* seq of the newest event; 0 = none yet */
  vigil_event_sink sink; /* sees every event as it is published (NULL = none) */
  void *sink_ud;
};

vigil_events *vigil_events_new(uint32_t capacity) {
  if (capacity == 0) capacity = 256;
  vigil_events *ev = calloc(1, sizeof *ev);
  if (!ev) return NULL;
  ev->ring = calloc(capacity, sizeof *ev->ring);
  if (!ev->ring) {
    free(ev);
    return NULL;
  }
  ev->capacity = capacity;
  return ev;
}

void vigil_events_free(vigil_events *ev) {
  if (!ev) return;
  free(ev->ring);
  free(ev);
}

uint32_t vigil_events_capacity(const vigil_events *ev) { return ev->capacity; }

void vigil_events_set_sink(vigil_events *ev, vigil_event_sink sink, void *ud) {
  ev->sink = sink;
  ev->sink_ud = ud;
}

uint64_t vigil_events_published(const vigil_events *ev) { return ev->published; }

uint64_t vigil_events_publish(vigil_events *ev, const vigil_event *e) {
  uint64_t seq = ++ev->published;
  vigil_event *slot = &ev->ring[(seq - 1) % ev->capacity];
  *slot = *e;
  slot->seq = seq;
  if (ev->sink) ev->sink(ev->sink_ud, slot);
  return seq;
}

void vigil_events_subscribe(vigil_events *ev, vigil_subscription *sub) {
  sub->events = ev;
  sub->next = ev->published + 1;
  sub->lagged_total = 0;
}

bool vigil_subscription_poll(vigil_subscription *sub, vigil_event *out) {
  const vigil_events *ev = sub->events;
  if (!ev || sub->next > ev->published) return false;
  uint64_t oldest = ev->published >= ev->capacity ? ev->published - ev->capacity + 1 : 1;
  if (sub->next < oldest) {
    memset(out, 0, sizeof *out);
    out->type = VIGIL_EVENT_LAGGED;
    out->missed = oldest - sub->next;
    out->at = ev->ring[(oldest - 1) % ev->capacity].at;
    out->seq = 0; /* synthesised for this subscriber, not in the ring */
    sub->lagged_total += out->missed;
    sub->next = oldest;
    return true;
  }
  *out = ev->ring[(sub->next - 1) % ev->capacity];
  sub->next++;
  return true;
}
