/*
 * peer.c - what a peer is called and which states it can be in.
 *
 * Owns: the state and event names shared by C, Lua and the wire, and the
 * parsing of a pname (an IP literal and a port: "a.b.c.d:port" or
 * "[v6addr]:port") into its parts.
 *
 * Must never: change a peer's state. Only gossip.c (the handler) does that.
 */
#include <arpa/inet.h>
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

/* An IPv4 address in dotted-quad form as inet_ntop writes it: four
 * decimals 0..255, no leading zeros, nothing else. */
static bool peer__ipv4(const char *h, size_t n) {
  unsigned parts = 0, v = 0, digits = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || h[i] == '.') {
      if (!digits || v > 255 || (digits > 1 && h[i - digits] == '0')) return false;
      parts++;
      v = digits = 0;
    } else if (h[i] >= '0' && h[i] <= '9' && digits < 3) {
      v = v * 10 + (unsigned)(h[i] - '0');
      digits++;
    } else {
      return false;
    }
  }
  return parts == 4;
}

bool vigil__host_literal(const char *h, size_t n) {
  if (n && h[0] == '[') {
    /* "[v6]": canonical (RFC 5952, as inet_ntop writes it), so that one
     * address has one pname and a datagram's source compares as text. */
    char in[INET6_ADDRSTRLEN], out[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (n < 4 || h[n - 1] != ']' || n - 2 >= sizeof in) return false;
    memcpy(in, h + 1, n - 2);
    in[n - 2] = '\0';
    if (inet_pton(AF_INET6, in, &a) != 1 || !inet_ntop(AF_INET6, &a, out, sizeof out)) return false;
    return strcmp(in, out) == 0;
  }
  return peer__ipv4(h, n);
}

int vigil_pname_parse(const char *pname, size_t *host_len, uint16_t *port) {
  size_t n = strlen(pname);
  if (n >= VIGIL_PNAME_MAX) return VIGIL_ENAMETOOLONG;
  const char *colon = strrchr(pname, ':');
  if (!colon || colon == pname) return VIGIL_EINVAL;
  size_t hl = (size_t)(colon - pname);
  if (!vigil__host_literal(pname, hl)) return VIGIL_EINVAL; /* an IP literal, not a host name */
  const char *digits = colon + 1;
  size_t nd = strlen(digits);
  if (nd == 0 || nd > 5 || digits[0] == '0') return VIGIL_EINVAL;
  unsigned long v = 0;
  for (size_t i = 0; i < nd; i++) {
    if (digits[i] < '0' || digits[i] > '9') return VIGIL_EINVAL;
    v = v * 10 + (unsigned long)(digits[i] - '0');
  }
  if (v > 65535) return VIGIL_EINVAL;
  *host_len = hl;
  *port = (uint16_t)v;
  return VIGIL_OK;
}
