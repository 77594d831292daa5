/*
 * http.c - the agent's small HTTP/1.1 server (GET /metrics, /v1/members,
 * /v1/info, /health, /v1/monitor; POST /v1/reload, /v1/join, /v1/leave,
 * /v1/force-leave), on the core thread's libuv loop.
 *
 * Owns: accepting connections, parsing requests with the nodejs
 * http-parser (Debian's libhttp-parser: small, battle-tested, no
 * allocation), enforcing the limits, and writing one response per
 * connection (Connection: close keeps the state machine trivial; scrapers
 * and the CLI open a connection per request anyway) -- or one stream.
 *
 * Streams (GET /v1/monitor). A route may answer with a stream: the head
 * goes out without a Content-Length, and the connection stays open for
 * its owner (api.c) to write lines to as events happen, until the client
 * closes it. The core thread must never wait on a reader, and a reader
 * must never make the agent hold memory without bound, so:
 *   - at most VIGIL__HTTP_STREAMS_MAX (8) streams are open; the next one
 *     gets a 503 (reason streams_full). Streams leave the list the
 *     per-address and total limits count: eight monitors on loopback do
 *     not keep a local Prometheus from scraping;
 *   - each stream holds at most VIGIL__HTTP_STREAM_QUEUE (64 KiB) written
 *     by us and not yet taken by the kernel, whose send buffer for it is
 *     set to as much: a write that does not fit is refused whole -- its owner
 *     counts what its reader missed and says so (`lagged`) once there is
 *     room again -- never buffered, never waited for;
 *   - a stream whose writes are being refused and whose reader takes
 *     nothing for VIGIL__HTTP_STREAM_STALL_MS (10 s) is closed (reason
 *     slow_reader): a reader that stopped reading does not keep its place.
 *   - no deadline otherwise: a monitor may wait hours for an event.
 *
 * Who gets a connection. A slowloris -- connections opened and fed their
 * headers a byte at a time, or never -- must not keep a local Prometheus
 * from scraping. So, cheapest rule first:
 *   - one client address holds at most PER_ADDRESS_MAX (8) connections: a
 *     scraper needs one, a person with curl a few; a ninth is refused;
 *   - when all CONNECTIONS_MAX (64) are taken, by many addresses, a
 *     newcomer whose address holds fewer connections than the address
 *     holding the most evicts that address's oldest connection still
 *     reading its request; otherwise it is refused. A flood from many
 *     addresses can delay a scrape, not starve it;
 *   - the request line and headers must be complete HEADER_DEADLINE_MS
 *     (2 s) after the accept, however slowly they trickle in: a header
 *     takes a scraper a millisecond. A connection that sends nothing is
 *     closed then too. The whole connection, the response included, has
 *     DEADLINE_MS (5 s).
 * Refusals get a 503 and a closed connection -- or just the closed
 * connection past REFUSING_MAX refusals still being written, so that
 * refusing costs nothing unbounded either. Every refusal, eviction and
 * timeout is counted by reason (vigil__http_reject). 64 connections are
 * few: the per-address counts are a walk of the list, not a table.
 *
 * Who may change something. Mutating endpoints (POST /v1/reload; join and
 * leave later) answer a client on loopback -- someone on this machine,
 * who could signal the agent anyway -- and any other client only with the
 * bearer token of --http-token-file: vigil__http_authorize decides, api.c
 * asks it for every mutating path.
 *
 * Must never: let a client hold the loop (every connection has a deadline),
 * buffer without bound (URL <= 2 KiB, headers <= 8 KiB, no bodies), or
 * crash on anything a socket can send. Bad requests get a 4xx and a closed
 * connection.
 */
#include <ctype.h>
#include <http_parser.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime.h"

#define URL_MAX            2048
#define HEADERS_MAX        8192
#define AUTH_MAX           512 /* an Authorization value longer than this is no token of ours */
#define CONNECTIONS_MAX    64
#define PER_ADDRESS_MAX    8
#define REFUSING_MAX       256 /* refusals still being written beyond which a refusal gets no 503 */
#define HEADER_DEADLINE_MS 2000
#define DEADLINE_MS        5000

/* Where the Authorization header stands. */
enum { AUTH_NONE, AUTH_SEEN, AUTH_UNUSABLE /* too long, or sent twice */ };

typedef struct vigil__http_conn conn;
struct vigil__http_conn {
  uv_tcp_t tcp;        /* first: the handle's address is the conn's */
  uv_timer_t deadline; /* the header deadline, then the connection's */
  uv_write_t write;
  http_parser parser;
  vigil__http *server;
  conn *prev, *next;    /* on the server's list of serving connections, oldest first */
  bool listed;          /* on that list (refused connections never are) */
  uint64_t accepted_at; /* loop time (ms) of the accept: both deadlines count from it */
  uint8_t addr[16];     /* the client's address: 4 bytes (IPv4, IPv4-mapped unmapped) or 16 */
  uint8_t addr_len;
  bool peer_loopback;
  char peer[INET6_ADDRSTRLEN]; /* the address as text, for the route and logs */
  char url[URL_MAX + 1];
  size_t url_len;
  size_t header_bytes;
  char field[16];   /* the header name being read, lower-cased (first 16 bytes) */
  size_t field_len; /* its whole length */
  bool in_value;    /* the parser is in a value: the next name starts afresh */
  bool in_auth;     /* ... and that value is Authorization's */
  int auth_state;
  char auth[AUTH_MAX + 1];
  size_t auth_len;
  int status; /* an error status decided while parsing; 0 = none */
  bool responded;
  int closing; /* handles still to close */
  char *out;   /* the response, freed after the write */
  /* Streams only: */
  bool streaming;                  /* a stream's head went out; its owner writes */
  vigil__http_stream_fn on_stream; /* told when it opens and when it closes */
  void *stream_ud;
  size_t queued; /* bytes handed to uv_write and not yet written */
  char inbuf[4096];
};

/* One write on a stream, the bytes after it. */
typedef struct stream__write {
  uv_write_t req;
  conn *c;
  size_t len;
  char data[];
} stream__write;

static void conn__timeout(uv_timer_t *t);

static void conn__closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->closing == 0) {
    c->server->connections--;
    free(c->out);
    free(c);
  }
}

/* Take c off the serving list (it closes, or becomes a stream). */
static void conn__unlist(conn *c) {
  if (!c->listed) return;
  vigil__http *srv = c->server;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->oldest = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    srv->newest = c->prev;
  c->prev = c->next = NULL;
  c->listed = false;
  srv->serving--;
}

static void conn__close(conn *c) {
  /* Closing already; or the agent closing every handle as it exits (its
   * uv_walk), which cancels a stream's writes: their callbacks land here. */
  if (c->closing || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  c->closing = 2;
  conn__unlist(c);
  if (c->streaming) {
    c->server->streams--;
    if (c->on_stream) c->on_stream(c->stream_ud, c, false);
  }
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_stop(&c->deadline);
  uv_close((uv_handle_t *)&c->tcp, conn__closed);
  uv_close((uv_handle_t *)&c->deadline, conn__closed);
}

static void conn__written(uv_write_t *w, int status) {
  (void)status;
  conn__close(w->data);
}

static const char *status_text(int status) {
  switch (status) {
  case 200: return "OK";
  case 202: return "Accepted";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 503: return "Service Unavailable";
  default: return "Error";
  }
}

/* Send status + extra header lines + body (taken over: freed after the
 * write) and close. The write has what is left of the connection's
 * deadline. */
static void conn__respond(conn *c, int status, const char *type, const char *headers, char *body, size_t len,
                          bool head) {
  if (c->responded || c->closing) {
    free(body);
    return;
  }
  c->responded = true;
  uint64_t spent = uv_now(c->tcp.loop) - c->accepted_at;
  uv_timer_start(&c->deadline, conn__timeout, spent < DEADLINE_MS ? DEADLINE_MS - spent : 0, 0);
  c->server->requests[status >= 500 ? 3 : status >= 400 ? 2 : status >= 200 ? 1 : 0]++;
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_printf(&b,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                    "Cache-Control: no-store\r\n%s\r\n",
                    status, status_text(status), type, len, headers ? headers : "");
  if (!head && body) {
    if (!b.failed && b.len + len + 1 > b.cap) {
      char *d = realloc(b.data, b.len + len + 1);
      if (d) {
        b.data = d;
        b.cap = b.len + len + 1;
      } else {
        b.failed = true;
      }
    }
    if (!b.failed) {
      memcpy(b.data + b.len, body, len);
      b.len += len;
    }
  }
  free(body);
  if (b.failed) {
    free(b.data);
    conn__close(c);
    return;
  }
  c->out = b.data;
  uv_buf_t buf = uv_buf_init(c->out, (unsigned)b.len);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, conn__written) != 0) conn__close(c);
}

static void conn__error(conn *c, int status) {
  char *msg = NULL;
  size_t len = 0;
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_printf(&b, "%d %s\n", status, status_text(status));
  if (!b.failed) {
    msg = b.data;
    len = b.len;
  }
  conn__respond(c, status, "text/plain; charset=utf-8", NULL, msg, len, false);
}

/* ---- streams --------------------------------------------------------------------- */

static size_t stream__cap(const vigil__http *srv) {
  return srv->stream_queue ? srv->stream_queue : VIGIL__HTTP_STREAM_QUEUE;
}

static void stream__written(uv_write_t *req, int status) {
  stream__write *w = req->data;
  conn *c = w->c;
  c->queued -= w->len;
  free(w);
  if (status < 0) { /* the reader is gone (or the stream is closing: canceled) */
    conn__close(c);
    return;
  }
  /* The reader took something: not stalled. */
  if (!c->closing) uv_timer_stop(&c->deadline);
}

/* Queue bytes on a stream, within its bound unless `head`. */
static int stream__queue(conn *c, const char *data, size_t len, bool head) {
  if (c->closing || !c->streaming) return VIGIL_ENOENT;
  size_t cap = stream__cap(c->server);
  if (!head && (c->queued > cap || len > cap - c->queued)) {
    /* Refused: the reader has until the stall deadline to take something. */
    if (!uv_is_active((uv_handle_t *)&c->deadline)) {
      uint32_t ms = c->server->stream_stall_ms ? c->server->stream_stall_ms : VIGIL__HTTP_STREAM_STALL_MS;
      uv_timer_start(&c->deadline, conn__timeout, ms, 0);
    }
    return VIGIL_ERANGE;
  }
  stream__write *w = malloc(sizeof *w + len);
  if (!w) return VIGIL_ENOMEM;
  w->c = c;
  w->len = len;
  w->req.data = w;
  memcpy(w->data, data, len);
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
  c->queued += len;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, stream__written) != 0) {
    c->queued -= len;
    free(w);
    conn__close(c);
    return VIGIL_ENOENT;
  }
  return VIGIL_OK;
}

int vigil__http_stream_write(vigil__http_stream *s, const char *data, size_t len) {
  return stream__queue(s, data, len, false);
}

size_t vigil__http_stream_room(const vigil__http_stream *s) {
  size_t cap = stream__cap(s->server);
  return s->closing || !s->streaming || s->queued >= cap ? 0 : cap - s->queued;
}

const char *vigil__http_stream_peer(const vigil__http_stream *s) { return s->peer; }

/* Turn c into a stream: its head (and the route's first bytes) out, off
 * the serving list, no deadline; or a 503 when enough are open. */
static void conn__stream(conn *c, vigil__http_response *r) {
  vigil__http *srv = c->server;
  if (srv->streams >= VIGIL__HTTP_STREAMS_MAX) {
    free(r->body);
    srv->rejected[VIGIL__HTTP_REJECT_STREAMS_FULL]++;
    vigil__buf b = {NULL, 0, 0, false};
    vigil__buf_printf(&b,
                      "{\"error\":\"%d streams are open already, the most this agent serves; close one (a "
                      "`vigil monitor` elsewhere) and retry\"}\n",
                      VIGIL__HTTP_STREAMS_MAX);
    conn__respond(c, 503, "application/json", NULL, b.failed ? NULL : b.data, b.failed ? 0 : b.len, false);
    if (b.failed) free(b.data);
    return;
  }
  c->responded = true;
  c->streaming = true;
  conn__unlist(c);
  srv->streams++;
  srv->requests[1]++;
  uv_timer_stop(&c->deadline);
  /* The kernel's buffer for the stream no larger than ours (Linux doubles
   * it): a reader that stops reading shows as refused writes after a few
   * hundred KiB, not after the megabytes TCP autotuning would let pile up. */
  int sndbuf = (int)stream__cap(srv);
  uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_printf(&b,
                    "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: close\r\nCache-Control: no-store\r\n"
                    "X-Content-Type-Options: nosniff\r\n%s\r\n",
                    r->type, r->headers ? r->headers : "");
  int rc = b.failed ? VIGIL_ENOMEM : stream__queue(c, b.data, b.len, true);
  free(b.data);
  if (rc == VIGIL_OK && r->body && r->len) rc = stream__queue(c, r->body, r->len, true);
  free(r->body);
  if (rc != VIGIL_OK) {
    conn__close(c); /* its owner never hears of it */
    return;
  }
  c->on_stream = r->stream;
  c->stream_ud = r->stream_ud;
  c->on_stream(c->stream_ud, c, true);
}

static int on_url(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->url_len + len > URL_MAX) {
    c->status = 414;
    return 1;
  }
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  c->url[c->url_len] = '\0';
  return 0;
}

/* Headers are counted against HEADERS_MAX; Authorization's value is kept
 * (the one header the route needs), all others are only counted. */
static int header__count(conn *c, size_t len) {
  c->header_bytes += len;
  if (c->header_bytes > HEADERS_MAX) {
    c->status = 431;
    return 1;
  }
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->in_value) { /* a new header: its name may come in pieces */
    c->in_value = false;
    c->field_len = 0;
  }
  for (size_t i = 0; i < len; i++, c->field_len++)
    if (c->field_len < sizeof c->field) c->field[c->field_len] = (char)tolower((unsigned char)at[i]);
  return header__count(c, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (!c->in_value) {
    c->in_value = true;
    c->in_auth = c->field_len == 13 && memcmp(c->field, "authorization", 13) == 0;
    if (c->in_auth) c->auth_state = c->auth_state == AUTH_NONE ? AUTH_SEEN : AUTH_UNUSABLE;
  }
  if (c->in_auth && c->auth_state == AUTH_SEEN) {
    if (c->auth_len + len > AUTH_MAX) {
      c->auth_state = AUTH_UNUSABLE;
    } else {
      memcpy(c->auth + c->auth_len, at, len);
      c->auth_len += len;
    }
  }
  return header__count(c, len);
}

/* The paths POST reaches; the route decides who may use them. */
static bool http__post_path(const char *url) {
  static const char *const paths[] = {"/v1/reload",       "/v1/join",     "/v1/leave",      "/v1/force-leave",
                                      "/v1/keys/install", "/v1/keys/use", "/v1/keys/remove"};
  size_t n = strcspn(url, "?");
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (strlen(paths[i]) == n && strncmp(url, paths[i], n) == 0) return true;
  return false;
}

static int on_headers_complete(http_parser *p) {
  conn *c = p->data;
  /* Note: 1 and 2 mean "no body" and "upgrade" to this callback's caller;
   * any other non-zero value aborts the parse. */
  bool post_ok = p->method == HTTP_POST && http__post_path(c->url);
  if (p->method != HTTP_GET && p->method != HTTP_HEAD && !post_ok) {
    c->status = 405;
    return -1;
  }
  if ((p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX)) {
    c->status = 413; /* GET with a body: nothing here reads one */
    return -1;
  }
  return 0;
}

static int on_message_complete(http_parser *p) {
  conn *c = p->data;
  char *q = strchr(c->url, '?');
  if (q) *q++ = '\0';
  const char *auth = NULL;
  if (c->auth_state == AUTH_SEEN) {
    while (c->auth_len && (c->auth[c->auth_len - 1] == ' ' || c->auth[c->auth_len - 1] == '\t')) c->auth_len--;
    c->auth[c->auth_len] = '\0';
    auth = c->auth;
  } else if (c->auth_state == AUTH_UNUSABLE) {
    auth = "";
  }
  const char *method = p->method == HTTP_POST ? "POST" : p->method == HTTP_HEAD ? "HEAD" : "GET";
  vigil__http_request req = {
      .method = method,
      .path = c->url,
      .query = q ? q : "",
      .peer = c->peer,
      .peer_loopback = c->peer_loopback,
      .authorization = auth,
  };
  vigil__http_response r = {404, "text/plain; charset=utf-8", NULL, 0, NULL, NULL, NULL};
  c->server->route(c->server->ud, &req, &r);
  if (r.status == 404 && !r.body) {
    conn__error(c, 404);
  } else if (r.stream && p->method != HTTP_HEAD) {
    conn__stream(c, &r);
  } else {
    conn__respond(c, r.status, r.type, r.headers, r.body, r.len, p->method == HTTP_HEAD);
  }
  return 1; /* one request per connection */
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void conn__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  conn *c = h->data;
  *buf = uv_buf_init(c->inbuf, sizeof c->inbuf);
}

static void conn__read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n < 0) {
    /* EOF or an error before a full request; or a stream's reader left. */
    if (!c->responded || c->streaming) conn__close(c);
    return;
  }
  if (n == 0 || c->responded) return;
  size_t used = http_parser_execute(&c->parser, &settings, buf->base, (size_t)n);
  if (c->responded) return;
  if (c->status) {
    conn__error(c, c->status);
  } else if (used != (size_t)n || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
    conn__error(c, 400);
  }
}

/* The header deadline (no complete request yet: 408), or the
 * connection's (the response not taken: just close). */
static void conn__timeout(uv_timer_t *t) {
  conn *c = t->data;
  if (c->streaming) { /* writes refused, and its reader took nothing since */
    c->server->rejected[VIGIL__HTTP_REJECT_SLOW_READER]++;
    conn__close(c);
  } else if (c->responded) {
    c->server->rejected[VIGIL__HTTP_REJECT_TIMEOUT]++;
    conn__close(c);
  } else {
    c->server->rejected[VIGIL__HTTP_REJECT_HEADER_TIMEOUT]++;
    conn__error(c, 408);
  }
}

/* ---- addresses --------------------------------------------------------------- */

/* The address of sa as 4 bytes (IPv4, and IPv4-mapped IPv6: a dual-stack
 * listener sees 127.0.0.1 as ::ffff:127.0.0.1) or 16. Returns its length,
 * 0 for another family. */
static uint8_t http__addr_key(const struct sockaddr *sa, uint8_t key[16]) {
  static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (sa->sa_family == AF_INET) {
    memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return 4;
  }
  if (sa->sa_family == AF_INET6) {
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (memcmp(a, v4mapped, 12) == 0) {
      memcpy(key, a + 12, 4);
      return 4;
    }
    memcpy(key, a, 16);
    return 16;
  }
  return 0;
}

static bool http__key_loopback(const uint8_t *key, uint8_t len) {
  static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return len == 4 ? key[0] == 127 : len == 16 && memcmp(key, lo6, 16) == 0;
}

bool vigil__http_addr_loopback(const struct sockaddr *sa) {
  uint8_t key[16];
  uint8_t len = http__addr_key(sa, key);
  return len && http__key_loopback(key, len);
}

/* Learn who is at the other end. Non-zero when the peer is already gone. */
static int conn__identify(conn *c) {
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return -1;
  c->addr_len = http__addr_key((const struct sockaddr *)&ss, c->addr);
  if (!c->addr_len) return -1;
  c->peer_loopback = http__key_loopback(c->addr, c->addr_len);
  if (uv_inet_ntop(c->addr_len == 4 ? AF_INET : AF_INET6, c->addr, c->peer, sizeof c->peer) != 0) c->peer[0] = '\0';
  return 0;
}

static bool conn__same_addr(const conn *a, const conn *b) {
  return a->addr_len == b->addr_len && memcmp(a->addr, b->addr, a->addr_len) == 0;
}

/* ---- who gets a connection ---------------------------------------------------- */

/* Serving connections from like's address. */
static uint32_t server__count(const vigil__http *srv, const conn *like) {
  uint32_t n = 0;
  for (const conn *o = srv->oldest; o; o = o->next) n += conn__same_addr(o, like);
  return n;
}

/* The connection to close for a newcomer whose address holds `mine`: the
 * oldest one still reading its request of the address holding the most,
 * when that is more than `mine`. NULL: refuse the newcomer instead. */
static conn *server__victim(const vigil__http *srv, uint32_t mine) {
  uint32_t most = 0;
  conn *victim = NULL;
  for (conn *o = srv->oldest; o; o = o->next) {
    if (o->responded) continue; /* on its way out */
    uint32_t n = server__count(srv, o);
    if (n > most) {
      most = n;
      victim = o;
    }
  }
  return most > mine ? victim : NULL;
}

static void server__accept(uv_stream_t *listener, int status) {
  vigil__http *srv = listener->data;
  if (status < 0) return;
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    /* Accept into a throwaway handle is not possible without memory: leave
     * it in the backlog; the next accept retries. */
    return;
  }
  c->server = srv;
  uv_tcp_init(listener->loop, &c->tcp);
  uv_timer_init(listener->loop, &c->deadline);
  c->tcp.data = c;
  c->deadline.data = c;
  c->accepted_at = uv_now(listener->loop);
  srv->connections++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || conn__identify(c) != 0) {
    conn__close(c);
    return;
  }
  uint32_t mine = server__count(srv, c);
  int reject = -1;
  conn *victim = NULL;
  if (mine >= PER_ADDRESS_MAX) {
    reject = VIGIL__HTTP_REJECT_PER_ADDRESS;
  } else if (srv->serving >= CONNECTIONS_MAX) {
    victim = server__victim(srv, mine);
    if (!victim) reject = VIGIL__HTTP_REJECT_FULL;
  }
  if (reject >= 0) {
    srv->rejected[reject]++;
    /* A 503 says why, unless too many refusals are being written already. */
    if (srv->connections - srv->serving - srv->streams > REFUSING_MAX)
      conn__close(c);
    else
      conn__error(c, 503);
    return;
  }
  if (victim) {
    srv->rejected[VIGIL__HTTP_REJECT_EVICTED]++;
    conn__close(victim);
  }
  c->listed = true;
  c->prev = srv->newest;
  if (srv->newest)
    srv->newest->next = c;
  else
    srv->oldest = c;
  srv->newest = c;
  srv->serving++;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_timer_start(&c->deadline, conn__timeout, HEADER_DEADLINE_MS, 0);
  uv_read_start((uv_stream_t *)&c->tcp, conn__alloc, conn__read);
}

/* ---- who may change something -------------------------------------------------- */

/* Equal secrets, in time that depends on neither's content nor length:
 * both are hashed, the hashes compared in constant time. */
static bool http__same_secret(const char *given, const char *want) {
  uint8_t h1[crypto_generichash_BYTES], h2[crypto_generichash_BYTES];
  if (sodium_init() < 0) return false; /* idempotent */
  crypto_generichash(h1, sizeof h1, (const unsigned char *)given, strlen(given), NULL, 0);
  crypto_generichash(h2, sizeof h2, (const unsigned char *)want, strlen(want), NULL, 0);
  return sodium_memcmp(h1, h2, sizeof h1) == 0;
}

vigil__http_auth vigil__http_authorize(const vigil__http_request *req, const char *token) {
  if (req->peer_loopback) return VIGIL__HTTP_AUTH_OK;
  if (!token || !*token) return VIGIL__HTTP_AUTH_LOOPBACK_ONLY;
  const char *h = req->authorization;
  if (!h) return VIGIL__HTTP_AUTH_MISSING;
  if (strncasecmp(h, "Bearer ", 7) != 0) return VIGIL__HTTP_AUTH_WRONG;
  for (h += 7; *h == ' ' || *h == '\t';) h++;
  return http__same_secret(h, token) ? VIGIL__HTTP_AUTH_OK : VIGIL__HTTP_AUTH_WRONG;
}

const char *vigil__http_auth_name(int auth) {
  static const char *const names[VIGIL__HTTP_AUTH_KINDS] = {"ok", "loopback_only", "missing_token", "wrong_token"};
  return auth >= 0 && auth < VIGIL__HTTP_AUTH_KINDS ? names[auth] : "?";
}

const char *vigil__http_reject_name(int reason) {
  static const char *const names[VIGIL__HTTP_REJECT_KINDS] = {"full",    "per_address",  "evicted",    "header_timeout",
                                                              "timeout", "streams_full", "slow_reader"};
  return reason >= 0 && reason < VIGIL__HTTP_REJECT_KINDS ? names[reason] : "?";
}

/* ---- the listener ---------------------------------------------------------------- */

int vigil__http_start(vigil__http *srv, uv_loop_t *loop, const struct sockaddr *addr) {
  int rc = uv_tcp_init(loop, &srv->listener);
  if (rc) return rc;
  srv->listener.data = srv;
  rc = uv_tcp_bind(&srv->listener, addr, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&srv->listener, 128, server__accept);
  if (rc) uv_close((uv_handle_t *)&srv->listener, NULL);
  return rc;
}

void vigil__http_stop(vigil__http *srv) {
  if (!uv_is_closing((uv_handle_t *)&srv->listener)) uv_close((uv_handle_t *)&srv->listener, NULL);
}
