/*
 * outbox.h - a node's send function for tests: it captures what the node
 * sends (the first OUTBOX_MAX datagrams, and a count of all), so a test can
 * see whom it sent to and decode what. Shared by the node tests.
 */
#ifndef VIGIL_TEST_OUTBOX_H
#define VIGIL_TEST_OUTBOX_H

#include <stdio.h>
#include <string.h>

#include "vigil.h"

#define OUTBOX_MAX 64

typedef struct outbox {
  int n; /* datagrams sent, all of them */
  char to[OUTBOX_MAX][VIGIL_PNAME_MAX];
  size_t len[OUTBOX_MAX];
  uint8_t bytes[OUTBOX_MAX][VIGIL_FRAME_MAX];
} outbox;

static inline int capture(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  outbox *o = ud;
  if (o->n < OUTBOX_MAX) {
    snprintf(o->to[o->n], sizeof o->to[o->n], "%s", pname);
    o->len[o->n] = len;
    memcpy(o->bytes[o->n], buf, len);
  }
  o->n++;
  return 0;
}

/* How many of the captured datagrams went to pname. */
static inline int sent_to(const outbox *o, const char *pname) {
  int n = 0;
  for (int k = 0; k < o->n && k < OUTBOX_MAX; k++) n += strcmp(o->to[k], pname) == 0;
  return n;
}

#endif
