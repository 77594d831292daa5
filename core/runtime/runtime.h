/*
 * runtime.h - what the agent runtime's files share (agent.c, net.c, api.c,
 * log.c, http.c, bridge.c, keyfile.c). Not part of any public API: the
 * runtime's contract is vigil_runtime.h. Like libuv's unix files with
 * uv-common.h, the runtime uses the core's small internal helpers
 * (bounded copies, text buffers) from core/lib/internal.h.
 */
#ifndef VIGIL_RUNTIME_INTERNAL_H
#define VIGIL_RUNTIME_INTERNAL_H

#include <uv.h>

#include "internal.h"
#include "vigil_runtime.h"

/* ---- log.c ---------------------------------------------------------------- */

/* One logfmt line: ts, level, msg, then the caller's key=value pairs. */
void vigil__logf(vigil_log_level lvl, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether lines at `lvl` are written (skip formatting debug lines otherwise). */
bool vigil__log_enabled(vigil_log_level lvl);

/* Log one event of the node (peer up / down / joined / left / restarted, lagged). */
void vigil__log_event(const vigil_event *e);

/* ---- http.c --------------------------------------------------------------- */

typedef struct vigil__http_response {
  int status;       /* 200, 404, ... */
  const char *type; /* Content-Type */
  char *body;       /* malloc'd; the server frees it */
  size_t len;
} vigil__http_response;

/* Fill *r for a request (method "GET", "HEAD" or "POST"; POST only reaches
 * the route for paths the server allows). Leaving status 404 and body NULL
 * sends 404. */
typedef void (*vigil__http_route)(void *ud, const char *method, const char *path, const char *query,
                                  vigil__http_response *r);

typedef struct vigil__http {
  uv_tcp_t listener;
  vigil__http_route route;
  void *ud;
  uint32_t connections; /* open now */
  uint64_t refused;     /* turned away: too many connections */
  uint64_t requests[4]; /* answered: 1xx (unused), 2xx, 4xx, 5xx */
} vigil__http;

int vigil__http_start(vigil__http *srv, uv_loop_t *loop, const struct sockaddr *addr);
void vigil__http_stop(vigil__http *srv);

/* ---- the agent (agent.c), as net.c and api.c see it ------------------------ */

typedef struct vigil__agent {
  uv_loop_t loop;
  uv_udp_t udp;
  uv_timer_t timer;     /* armed at the node's next timer */
  vigil_time timer_for; /* the node time it is armed for */
  uv_signal_t sigint, sigterm, sighup;
  vigil__http http;
  bool http_on;
  const vigil_agent_config *cfg;
  vigil_node *node;       /* every decision */
  vigil_subscription sub; /* the agent's own: it logs every event */
  vigil_bridge *bridge;   /* to the script thread; NULL without a policy */
  uv_async_t core_wake;   /* the script thread has commands for us */
  bool policy_on;
  vigil_time started;
  vigil_time snapshot_at;     /* when the policy's snapshot was last published */
  uint64_t send_unresolvable; /* pnames that are not IP literals */
  uint64_t icmp_other;        /* other ICMP errors read */
  bool errqueue_pending;      /* the socket reported an error: read its error queue */
  vigil_time key_warned_at;   /* the last warning about a frame with the wrong key (0 = none) */
  uint64_t key_suppressed;    /* such frames since that warning, not logged */
  int exit_code;
  uint8_t *rxbuf; /* recvmmsg buffer, see net.c */
} vigil__agent;

/* After any input: log and forward the node's new events, re-arm the timer. */
void vigil__agent_settle(vigil__agent *a, vigil_time now);

/* ---- net.c: the UDP socket ------------------------------------------------ */

/* "ip:port" or "[ip6]:port" to a sockaddr. Non-zero when not an IP literal. */
int vigil__net_sockaddr(const char *pname, struct sockaddr_storage *out);

/* 0.0.0.0:port or [::]:port. */
bool vigil__net_wildcard(const char *pname);

/* Bind the gossip socket, ask for ICMP errors, start receiving into the
 * node. Returns 0 or a libuv error. */
int vigil__net_start(vigil__agent *a, const struct sockaddr_storage *addr);

/* The node's send function (vigil_send_fn): ud is the agent. */
int vigil__net_send(void *ud, const char *pname, const uint8_t *buf, size_t len);

/* ---- api.c: the HTTP API ------------------------------------------------- */

/* The route of the agent's HTTP server: /metrics, /v1/members, /health,
 * POST /v1/reload. ud is the agent. */
void vigil__api_route(void *ud, const char *method, const char *path, const char *query, vigil__http_response *r);

#endif
