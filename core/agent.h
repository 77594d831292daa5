/*
 * agent.h - what the agent runtime's files (agent.c, http.c) share. Not
 * part of the public API; vigil.h has vigil_agent_run.
 */
#ifndef VIGIL_AGENT_H
#define VIGIL_AGENT_H

#include <uv.h>

#include "internal.h"

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

#endif
