/*
 * peer.c - what a peer is called and which states it can be in.
 *
 * Owns: the state and event names shared by C, Lua and the wire, and the
 * parsing of a pname ("host:port", or "[v6addr]:port") into its parts.
 *
 * Must never: change a peer's state. Only gossip.c (the handler) does that.
 */
#include <string.h>

#include "internal.h"

static const char *const state_names[VIGIL_STATE_COUNT] = {
    "unknown", "joining", "normal", "standby", "down", "reset", "leaving",
};

uint32_t vigil_peer_transitions(const vigil_peer *p, vigil_peer_state from, vigil_peer_state to) {
  if (!p->transitions || (unsigned)from >= VIGIL_STATE_COUNT || (unsigned)to >= VIGIL_STATE_COUNT) return 0;
  return p->transitions[from * VIGIL_STATE_COUNT + to];
}

const char *vigil_state_name(vigil_peer_state s) {
  return (unsigned)s < VIGIL_STATE_COUNT ? state_names[s] : "invalid";
}

int vigil_state_parse(const char *name) {
  for (int i = 0; i < VIGIL_STATE_COUNT; i++)
    if (strcmp(name, state_names[i]) == 0) return i;
  return -1;
}

static const char *const event_names[VIGIL_EVENT_TYPES] = {
    "invalid", "peer_up", "peer_down", "peer_joined", "peer_left", "peer_restarted", "gossip_round", "lagged",
};

const char *vigil_event_name(vigil_event_type t) {
  return (unsigned)t < VIGIL_EVENT_TYPES ? event_names[t] : "invalid";
}

const char *vigil_cause_name(vigil_cause c) {
  static const char *const names[VIGIL_CAUSES] = {"",       "heartbeat", "phi",       "refused",
                                                  "marked", "observers", "membership"};
  return (unsigned)c < VIGIL_CAUSES ? names[c] : "";
}

int vigil_pname_parse(const char *pname, size_t *host_len, uint16_t *port) {
  size_t n = strlen(pname);
  if (n >= VIGIL_PNAME_MAX) return VIGIL_ENAMETOOLONG;
  const char *colon = strrchr(pname, ':');
  if (!colon || colon == pname) return VIGIL_EINVAL;
  size_t hl = (size_t)(colon - pname);
  if (pname[0] == '[') {
    /* "[v6]:port": the bracket must close right before the colon. */
    if (hl < 3 || pname[hl - 1] != ']') return VIGIL_EINVAL;
  } else if (memchr(pname, ':', hl)) {
    return VIGIL_EINVAL; /* a bare IPv6 address is ambiguous: use brackets */
  }
  for (size_t i = 0; i < hl; i++) {
    unsigned char c = (unsigned char)pname[i];
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\') return VIGIL_EINVAL; /* ASCII: valid UTF-8 anywhere */
  }
  const char *digits = colon + 1;
  size_t nd = strlen(digits);
  if (nd == 0 || nd > 5) return VIGIL_EINVAL;
  unsigned long v = 0;
  for (size_t i = 0; i < nd; i++) {
    if (digits[i] < '0' || digits[i] > '9') return VIGIL_EINVAL;
    v = v * 10 + (unsigned long)(digits[i] - '0');
  }
  if (v == 0 || v > 65535) return VIGIL_EINVAL;
  if (hl > UINT8_MAX) return VIGIL_ENAMETOOLONG;
  *host_len = hl;
  *port = (uint16_t)v;
  return VIGIL_OK;
}
