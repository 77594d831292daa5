/*
 * test_http.c - the HTTP server's two decisions, checked without an agent:
 * who may use a mutating endpoint (loopback, or the bearer token; the case
 * a spec can only reach from a network namespace), and who gets a
 * connection (per-address limit, eviction when full). The second runs the
 * real server (core/runtime/http.c) on its own libuv loop with client
 * sockets bound to 127.x.y.z addresses, stepping the loop by hand: no
 * sleeps on a deadline, no agent.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "runtime.h"

/* ---- who may change something ---------------------------------------------- */

static vigil__http_request request_from(bool loopback, const char *authorization) {
  vigil__http_request r = {"POST", "/v1/reload", "", loopback ? "127.0.0.1" : "10.0.0.9", loopback, authorization};
  return r;
}

TEST(loopback_clients_may_mutate_with_nothing_to_show) {
  vigil__http_request r = request_from(true, NULL);
  CHECK_INT(vigil__http_authorize(&r, NULL), VIGIL__HTTP_AUTH_OK);
  CHECK_INT(vigil__http_authorize(&r, "0123456789abcdef"), VIGIL__HTTP_AUTH_OK);
  r.authorization = "Bearer wrong-token-entirely";
  CHECK_INT(vigil__http_authorize(&r, "0123456789abcdef"), VIGIL__HTTP_AUTH_OK);
}

TEST(other_clients_are_refused_when_no_token_is_configured) {
  vigil__http_request r = request_from(false, NULL);
  CHECK_INT(vigil__http_authorize(&r, NULL), VIGIL__HTTP_AUTH_LOOPBACK_ONLY);
  CHECK_INT(vigil__http_authorize(&r, ""), VIGIL__HTTP_AUTH_LOOPBACK_ONLY);
  r.authorization = "Bearer anything-at-all";
  CHECK_INT(vigil__http_authorize(&r, NULL), VIGIL__HTTP_AUTH_LOOPBACK_ONLY);
  CHECK_STR(vigil__http_auth_name(VIGIL__HTTP_AUTH_LOOPBACK_ONLY), "loopback_only");
}

TEST(other_clients_need_exactly_the_bearer_token) {
  const char *token = "s3cret-Token_0123456789";
  struct {
    const char *authorization;
    vigil__http_auth want;
  } cases[] = {
      {NULL, VIGIL__HTTP_AUTH_MISSING},
      {"Bearer s3cret-Token_0123456789", VIGIL__HTTP_AUTH_OK},
      {"bearer   s3cret-Token_0123456789", VIGIL__HTTP_AUTH_OK},   /* the scheme is case-insensitive */
      {"Bearer s3cret-Token_012345678", VIGIL__HTTP_AUTH_WRONG},   /* a prefix */
      {"Bearer s3cret-Token_01234567890", VIGIL__HTTP_AUTH_WRONG}, /* one more */
      {"Bearer S3CRET-TOKEN_0123456789", VIGIL__HTTP_AUTH_WRONG},  /* the token is not */
      {"Bearer ", VIGIL__HTTP_AUTH_WRONG},
      {"Basic s3cret-Token_0123456789", VIGIL__HTTP_AUTH_WRONG},
      {"s3cret-Token_0123456789", VIGIL__HTTP_AUTH_WRONG},
      {"", VIGIL__HTTP_AUTH_WRONG}, /* the server's "unusable": too long, or sent twice */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vigil__http_request r = request_from(false, cases[i].authorization);
    vigil__http_auth got = vigil__http_authorize(&r, token);
    if (got != cases[i].want)
      CHECK_FAIL_("Authorization %s: got %s, want %s", cases[i].authorization ? cases[i].authorization : "(none)",
                  vigil__http_auth_name(got), vigil__http_auth_name(cases[i].want));
  }
}

static bool loopback4(const char *ip) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  inet_pton(AF_INET, ip, &sa.sin_addr);
  return vigil__http_addr_loopback((const struct sockaddr *)&sa);
}

static bool loopback6(const char *ip) {
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, ip, &sa.sin6_addr);
  return vigil__http_addr_loopback((const struct sockaddr *)&sa);
}

TEST(loopback_is_127_slash_8_and_colon_colon_1_mapped_or_not) {
  CHECK(loopback4("127.0.0.1"));
  CHECK(loopback4("127.255.3.9"));
  CHECK(!loopback4("0.0.0.0")); /* the wildcard: reachable from elsewhere */
  CHECK(!loopback4("10.0.0.1"));
  CHECK(!loopback4("128.0.0.1"));
  CHECK(loopback6("::1"));
  CHECK(loopback6("::ffff:127.0.0.1")); /* what a dual-stack listener sees */
  CHECK(!loopback6("::"));
  CHECK(!loopback6("::ffff:10.0.0.1"));
  CHECK(!loopback6("fe80::1"));
  CHECK(!loopback6("::2"));
}

/* ---- who gets a connection --------------------------------------------------- */

typedef struct served {
  int calls;
  char peer[64];
  bool loopback;
  char authorization[600];
  bool has_authorization;
  vigil__http_stream *stream; /* the latest stream opened and not closed */
  int opened, closed;         /* streams its owner was told of */
} served;

static void stub_stream(void *ud, vigil__http_stream *st, bool open) {
  served *s = ud;
  if (open) {
    s->opened++;
    s->stream = st;
  } else {
    s->closed++;
    if (s->stream == st) s->stream = NULL;
  }
}

static void stub_route(void *ud, const vigil__http_request *req, vigil__http_response *r) {
  served *s = ud;
  s->calls++;
  snprintf(s->peer, sizeof s->peer, "%s", req->peer);
  s->loopback = req->peer_loopback;
  s->has_authorization = req->authorization != NULL;
  snprintf(s->authorization, sizeof s->authorization, "%s", req->authorization ? req->authorization : "");
  r->status = 200;
  if (strcmp(req->path, "/stream") == 0) { /* a stream, with its first line */
    r->stream = stub_stream;
    r->stream_ud = s;
    r->body = strdup("hello\n");
    r->len = 6;
    return;
  }
  r->body = strdup("ok\n");
  r->len = 3;
}

typedef struct rig {
  uv_loop_t loop;
  vigil__http srv;
  served seen;
  uint16_t port;
  int fds[256];
  int nfds;
} rig;

static void rig_start(rig *t) {
  memset(t, 0, sizeof *t);
  uv_loop_init(&t->loop);
  t->srv.route = stub_route;
  t->srv.ud = &t->seen;
  struct sockaddr_in any = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &any.sin_addr);
  CHECK_INT(vigil__http_start(&t->srv, &t->loop, (const struct sockaddr *)&any), 0);
  struct sockaddr_storage bound;
  int len = (int)sizeof bound;
  uv_tcp_getsockname(&t->srv.listener, (struct sockaddr *)&bound, &len);
  t->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

/* Connections the server has dealt with: each is serving, was refused,
 * or made room for one that is (an eviction). */
static uint64_t rig_handled(const rig *t) {
  const uint64_t *r = t->srv.rejected;
  return t->srv.serving + r[VIGIL__HTTP_REJECT_FULL] + r[VIGIL__HTTP_REJECT_PER_ADDRESS] +
         r[VIGIL__HTTP_REJECT_EVICTED];
}

/* Step the loop until pred holds (at most 2 s). */
#define RIG_UNTIL(t, pred)                                                                                             \
  do {                                                                                                                 \
    for (int i_ = 0; i_ < 2000 && !(pred); i_++) {                                                                     \
      uv_run(&(t)->loop, UV_RUN_NOWAIT);                                                                               \
      struct timespec ms_ = {0, 1000000};                                                                              \
      nanosleep(&ms_, NULL);                                                                                           \
    }                                                                                                                  \
    CHECK(pred);                                                                                                       \
  } while (0)

/* A client connection from address `from`, handled by the server. */
static int rig_connect(rig *t, const char *from) {
  uint64_t before = rig_handled(t);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET, .sin_port = htons(t->port)};
  inet_pton(AF_INET, from, &src.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  struct linger lg = {1, 0}; /* close with a reset: no TIME_WAIT left behind */
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
    CHECK_FAIL_("cannot connect from %s", from);
    close(fd);
    return -1;
  }
  t->fds[t->nfds++] = fd;
  RIG_UNTIL(t, rig_handled(t) == before + 1);
  return fd;
}

/* Whether the server closed fd (EOF or a reset, maybe after a response),
 * without waiting. */
static bool rig_closed(int fd) {
  char buf[512];
  ssize_t n;
  do n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  while (n > 0);
  return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

static void rig_stop(rig *t) {
  for (int i = 0; i < t->nfds; i++) close(t->fds[i]);
  RIG_UNTIL(t, t->srv.connections == 0); /* every connection freed: ASan checks */
  vigil__http_stop(&t->srv);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&t->loop), 0);
}

TEST(one_address_holds_at_most_8_connections) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  for (int i = 0; i < 8; i++) rig_connect(t, "127.0.0.9");
  CHECK_INT(t->srv.serving, 8);
  int ninth = rig_connect(t, "127.0.0.9");
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_PER_ADDRESS], 1);
  CHECK_INT(t->srv.serving, 8);
  RIG_UNTIL(t, rig_closed(ninth));
  CHECK_INT(t->srv.requests[3], 1); /* its 503 */
  rig_connect(t, "127.0.0.1");      /* another address: served */
  CHECK_INT(t->srv.serving, 9);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_FULL] + t->srv.rejected[VIGIL__HTTP_REJECT_EVICTED], 0);
  rig_stop(t);
  free(t);
}

TEST(when_full_a_newcomer_evicts_the_oldest_of_the_address_holding_most) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  int first[8];
  for (int a = 0; a < 8; a++) { /* 8 addresses x 8: all 64 places */
    char ip[32];
    snprintf(ip, sizeof ip, "127.0.0.%d", 10 + a);
    for (int i = 0; i < 8; i++) {
      int fd = rig_connect(t, ip);
      if (i == 0) first[a] = fd;
    }
  }
  CHECK_INT(t->srv.serving, 64);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_PER_ADDRESS], 0);
  rig_connect(t, "127.0.0.1"); /* holds 0: the oldest of all (127.0.0.10's first) goes */
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_EVICTED], 1);
  CHECK_INT(t->srv.serving, 64);
  RIG_UNTIL(t, rig_closed(first[0]));
  CHECK(!rig_closed(first[1]));
  rig_connect(t, "127.0.0.1"); /* holds 1; 127.0.0.10 now 7: 127.0.0.11's first goes */
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_EVICTED], 2);
  RIG_UNTIL(t, rig_closed(first[1]));
  CHECK(!rig_closed(first[2]));
  /* A request on the newcomer's connection is served as usual. */
  int fd = t->fds[t->nfds - 1];
  const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_INT(send(fd, req, strlen(req), MSG_NOSIGNAL), (long)strlen(req));
  RIG_UNTIL(t, t->seen.calls == 1);
  CHECK_STR(t->seen.peer, "127.0.0.1");
  CHECK(t->seen.loopback);
  rig_stop(t);
  free(t);
}

TEST(when_full_of_equals_a_newcomer_from_a_present_address_is_refused) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  for (int a = 1; a <= 64; a++) { /* 64 addresses, one each */
    char ip[32];
    snprintf(ip, sizeof ip, "127.0.1.%d", a);
    rig_connect(t, ip);
  }
  CHECK_INT(t->srv.serving, 64);
  rig_connect(t, "127.0.1.1"); /* would hold 2 where the most is 1: refused */
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_FULL], 1);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_EVICTED], 0);
  rig_connect(t, "127.0.2.1"); /* holds 0 where the most is 1: evicts */
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_EVICTED], 1);
  CHECK_INT(t->srv.serving, 64);
  CHECK_STR(vigil__http_reject_name(VIGIL__HTTP_REJECT_FULL), "full");
  CHECK_STR(vigil__http_reject_name(VIGIL__HTTP_REJECT_HEADER_TIMEOUT), "header_timeout");
  rig_stop(t);
  free(t);
}

/* Send a request in pieces, each read by the server on its own, and wait
 * for the route to be called. */
static void send_pieces(rig *t, const char *const *pieces) {
  int calls = t->seen.calls;
  int fd = rig_connect(t, "127.0.0.1");
  for (const char *const *p = pieces; *p; p++) {
    send(fd, *p, strlen(*p), MSG_NOSIGNAL);
    for (int i = 0; i < 5; i++) uv_run(&t->loop, UV_RUN_NOWAIT); /* each piece read on its own */
  }
  RIG_UNTIL(t, t->seen.calls == calls + 1);
}

TEST(the_route_gets_the_authorization_header_however_it_is_split) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  const char *whole[] = {"POST /v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc \r\n\r\n", NULL};
  send_pieces(t, whole);
  CHECK(t->seen.has_authorization);
  CHECK_STR(t->seen.authorization, "Bearer abc"); /* trailing blanks trimmed */
  const char *split[] = {
      "POST /v1/reload HTTP/1.1\r\nX-Author", "ity: no\r\nAUTHO", "rization: Bear", "er d", "ef\r\n\r\n", NULL};
  send_pieces(t, split);
  CHECK_STR(t->seen.authorization, "Bearer def");
  const char *none[] = {"POST /v1/reload HTTP/1.1\r\nAuthorization-X: Bearer abc\r\n\r\n", NULL};
  send_pieces(t, none);
  CHECK(!t->seen.has_authorization);
  const char *twice[] = {"POST /v1/reload HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
                         NULL};
  send_pieces(t, twice);
  CHECK(t->seen.has_authorization);
  CHECK_STR(t->seen.authorization, ""); /* unusable: never one of the two */
  char big[900];
  snprintf(big, sizeof big, "GET /health HTTP/1.1\r\nAuthorization: Bearer %0600d\r\n\r\n", 7);
  const char *too_long[] = {big, NULL};
  send_pieces(t, too_long);
  CHECK_STR(t->seen.authorization, "");
  rig_stop(t);
  free(t);
}

/* ---- streams ------------------------------------------------------------------------ */

/* Open a stream from `from` (its receive buffer as small as the kernel
 * allows when `small`); returns the client's socket. */
static int open_stream(rig *t, const char *from, bool small) {
  int opened = t->seen.opened;
  int fd = rig_connect(t, from);
  if (fd < 0) return fd;
  if (small) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof one);
  }
  const char *req = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req, strlen(req), MSG_NOSIGNAL);
  RIG_UNTIL(t, t->seen.opened == opened + 1);
  return fd;
}

/* Read what the server sent so far (up to cap - 1 bytes), without waiting. */
static size_t read_now(int fd, char *buf, size_t cap) {
  size_t len = 0;
  ssize_t n;
  while (len + 1 < cap && (n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT)) > 0) len += (size_t)n;
  buf[len] = '\0';
  return len;
}

TEST(a_stream_gets_a_head_without_length_then_what_its_owner_writes) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  int fd = open_stream(t, "127.0.0.1", false);
  CHECK_INT(t->srv.streams, 1);
  CHECK_INT(t->srv.serving, 0); /* off the list the connection limits count */
  CHECK_INT(vigil__http_stream_write(t->seen.stream, "one\n", 4), VIGIL_OK);
  CHECK_INT(vigil__http_stream_write(t->seen.stream, "two\n", 4), VIGIL_OK);
  char buf[1024] = "";
  size_t len = 0;
  for (int i = 0; i < 2000 && !strstr(buf, "two\n"); i++) {
    uv_run(&t->loop, UV_RUN_NOWAIT);
    len += read_now(fd, buf + len, sizeof buf - len);
  }
  CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(buf, "Content-Length") == NULL); /* the body ends when the connection does */
  CHECK(strstr(buf, "Connection: close\r\n") != NULL);
  const char *body = strstr(buf, "\r\n\r\n");
  CHECK(body && strcmp(body + 4, "hello\none\ntwo\n") == 0);
  /* No deadline: the 5 s a response has do not apply. Its reader leaves:
   * the owner is told, the connection freed. */
  CHECK(!rig_closed(fd));
  close(fd);
  t->nfds--;
  RIG_UNTIL(t, t->seen.closed == 1);
  CHECK_INT(t->srv.streams, 0);
  CHECK(t->seen.stream == NULL);
  rig_stop(t);
  free(t);
}

TEST(a_stream_holds_at_most_its_bound_and_a_stalled_reader_is_dropped) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  t->srv.stream_queue = 8192;
  t->srv.stream_stall_ms = 300;
  int fd = open_stream(t, "127.0.0.1", true);
  vigil__http_stream *st = t->seen.stream;
  /* The reader reads nothing: write 1 KiB lines, letting the loop run, until
   * the kernel's buffers are full and the stream's own bound refuses. */
  char line[1024];
  memset(line, 'x', sizeof line - 1);
  line[sizeof line - 1] = '\n';
  size_t accepted = 0;
  int refused = 0;
  for (int i = 0; i < 65536 && refused < 50; i++) {
    int rc = vigil__http_stream_write(st, line, sizeof line);
    if (rc == VIGIL_OK) {
      accepted += sizeof line;
      refused = 0;
    } else {
      CHECK_INT(rc, VIGIL_ERANGE);
      refused++;
    }
    CHECK(vigil__http_stream_room(st) <= 8192);
    uv_run(&t->loop, UV_RUN_NOWAIT);
  }
  CHECK_INT(refused, 50); /* the writes stopped fitting, and nothing grew past the bound */
  CHECK(accepted < (64u << 20));
  CHECK(vigil__http_stream_room(st) < sizeof line);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_SLOW_READER], 0);
  /* Refused, and its reader takes nothing: closed at the stall deadline. */
  RIG_UNTIL(t, t->seen.closed == 1);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_SLOW_READER], 1);
  CHECK_INT(t->srv.streams, 0);
  CHECK_STR(vigil__http_reject_name(VIGIL__HTTP_REJECT_SLOW_READER), "slow_reader");
  (void)fd;
  rig_stop(t);
  free(t);
}

TEST(a_reader_that_catches_up_keeps_its_stream) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  t->srv.stream_queue = 4096;
  t->srv.stream_stall_ms = 200;
  /* A reader with the kernel's usual buffer: one that can hardly hold a
   * segment gets its window updates late (TCP's silly-window avoidance),
   * which is the kernel's pace, not the reader's. */
  int fd = open_stream(t, "127.0.0.1", false);
  vigil__http_stream *st = t->seen.stream;
  char line[1024], sink[65536];
  memset(line, 'y', sizeof line);
  int refused = 0;
  for (int i = 0; i < 65536 && !refused; i++) {
    refused = vigil__http_stream_write(st, line, sizeof line) == VIGIL_ERANGE;
    uv_run(&t->loop, UV_RUN_NOWAIT);
  }
  CHECK(refused); /* the stall clock runs */
  /* The reader catches up and goes on reading for longer than the stall
   * time: the writes it took stopped the clock, so it stays. */
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    uv_run(&t->loop, UV_RUN_NOWAIT);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 600);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_SLOW_READER], 0);
  CHECK_INT(t->seen.closed, 0);
  if (!t->seen.closed) CHECK_INT(vigil__http_stream_write(st, "z\n", 2), VIGIL_OK);
  rig_stop(t);
  free(t);
}

TEST(at_most_8_streams_and_they_leave_room_for_requests) {
  rig *t = calloc(1, sizeof *t);
  rig_start(t);
  for (int i = 0; i < VIGIL__HTTP_STREAMS_MAX; i++) open_stream(t, "127.0.0.1", false);
  CHECK_INT(t->srv.streams, 8);
  CHECK_INT(t->srv.serving, 0);
  /* A ninth: 503, its owner never told. */
  int fd = rig_connect(t, "127.0.0.1");
  const char *req = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req, strlen(req), MSG_NOSIGNAL);
  RIG_UNTIL(t, rig_closed(fd));
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_STREAMS_FULL], 1);
  CHECK_INT(t->seen.opened, 8);
  CHECK_INT(t->srv.requests[3], 1);
  /* The eight streams hold none of the address's 8 places: a scrape from
   * the same address is served. */
  int calls = t->seen.calls;
  fd = rig_connect(t, "127.0.0.1");
  req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req, strlen(req), MSG_NOSIGNAL);
  RIG_UNTIL(t, t->seen.calls == calls + 1 && rig_closed(fd));
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_PER_ADDRESS], 0);
  /* HEAD gets the head alone, never a stream. */
  fd = rig_connect(t, "127.0.0.2");
  req = "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req, strlen(req), MSG_NOSIGNAL);
  RIG_UNTIL(t, rig_closed(fd));
  CHECK_INT(t->seen.opened, 8);
  CHECK_INT(t->srv.rejected[VIGIL__HTTP_REJECT_STREAMS_FULL], 1);
  rig_stop(t);
  CHECK_INT(t->seen.closed, 8);
  free(t);
}

/* ---- the monitor (api.c) over a stream ----------------------------------------------- */

/* An event as the node would publish it. */
static vigil_event monitor_event(vigil_event_type type, int n) {
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = type;
  snprintf(e.peer, sizeof e.peer, "127.0.%d.%d:7946", n / 250, n % 250 + 1);
  snprintf(e.dc, sizeof e.dc, "default");
  snprintf(e.rack, sizeof e.rack, "r\"1"); /* escaped in JSON */
  e.state = type == VIGIL_EVENT_PEER_DOWN ? VIGIL_STATE_DOWN : VIGIL_STATE_NORMAL;
  e.previous = type == VIGIL_EVENT_PEER_DOWN ? VIGIL_STATE_NORMAL : VIGIL_STATE_DOWN;
  e.cause = type == VIGIL_EVENT_PEER_DOWN ? VIGIL_CAUSE_REFUSED : VIGIL_CAUSE_HEARTBEAT;
  return e;
}

TEST(a_monitor_that_fell_behind_is_told_how_many_events_it_missed) {
  /* The agent's API over a real server: only what GET /v1/monitor uses. */
  vigil__agent *a = calloc(1, sizeof *a);
  vigil_agent_config cfg;
  vigil_agent_config_init(&cfg);
  a->cfg = &cfg;
  uv_loop_init(&a->loop);
  a->http.route = vigil__api_route;
  a->http.ud = a;
  a->http.stream_queue = 4096;
  struct sockaddr_in lo = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
  CHECK_INT(vigil__http_start(&a->http, &a->loop, (const struct sockaddr *)&lo), 0);
  struct sockaddr_in bound;
  int blen = (int)sizeof bound;
  uv_tcp_getsockname(&a->http.listener, (struct sockaddr *)&bound, &blen);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_INT(connect(fd, (struct sockaddr *)&bound, sizeof bound), 0);
  const char *req = "GET /v1/monitor?format=json HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req, strlen(req), MSG_NOSIGNAL);
  for (int i = 0; i < 2000 && !a->monitors[0].s; i++) {
    uv_run(&a->loop, UV_RUN_NOWAIT);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  CHECK(a->monitors[0].s != NULL);
  CHECK_INT(a->http.streams, 1);
  /* The reader reads nothing: events until some are dropped for it. */
  int sent = 0;
  for (; sent < 100000 && a->monitor_dropped < 5; sent++) {
    vigil_event e = monitor_event(VIGIL_EVENT_PEER_UP, sent);
    vigil__api_monitor_event(a, &e);
    uv_run(&a->loop, UV_RUN_NOWAIT);
  }
  CHECK_INT(a->monitor_dropped, 5);
  CHECK_INT(a->monitors[0].missed, 5);
  /* gossip_round is not for this reader (no all=1): not counted missed. */
  vigil_event round = monitor_event(VIGIL_EVENT_GOSSIP_ROUND, 0);
  vigil__api_monitor_event(a, &round);
  CHECK_INT(a->monitors[0].missed, 5);
  /* It catches up; the next event comes after a lagged line. */
  size_t cap = 8u << 20, len = 0;
  char *got = malloc(cap);
  for (int i = 0; i < 4000 && vigil__http_stream_room(a->monitors[0].s) < 4096; i++) {
    len += read_now(fd, got + len, cap - len);
    uv_run(&a->loop, UV_RUN_NOWAIT);
    struct timespec ms = {0, 500000};
    nanosleep(&ms, NULL);
  }
  CHECK_INT(vigil__http_stream_room(a->monitors[0].s), 4096);
  vigil_event down = monitor_event(VIGIL_EVENT_PEER_DOWN, 7);
  vigil__api_monitor_event(a, &down);
  CHECK_INT(a->monitors[0].missed, 0);
  for (int i = 0; i < 2000 && !strstr(got, "\"peer_down\""); i++) {
    uv_run(&a->loop, UV_RUN_NOWAIT);
    len += read_now(fd, got + len, cap - len);
  }
  const char *body = strstr(got, "\r\n\r\n");
  CHECK(body != NULL);
  /* Whole lines only, each one JSON object; the last two: lagged, then the event. */
  int lines = 0;
  const char *last = NULL, *before = NULL;
  for (const char *l = body ? body + 4 : got; *l;) {
    const char *nl = strchr(l, '\n');
    if (!nl) {
      CHECK_FAIL_("a line cut short: %.60s", l);
      break;
    }
    CHECK(strncmp(l, "{\"type\":\"", 9) == 0 && nl[-1] == '}');
    lines++;
    before = last;
    last = l;
    l = nl + 1;
  }
  CHECK_INT(lines, sent - 5 + 2);
  CHECK(before && strncmp(before, "{\"type\":\"lagged\",", 17) == 0);
  CHECK(before && strstr(before, "\"missed\":5}\n") != NULL);
  CHECK(last && strncmp(last, "{\"type\":\"peer_down\",", 20) == 0);
  CHECK(last && strstr(last, "\"peer\":\"127.0.0.8:7946\",\"dc\":\"default\",\"rack\":\"r\\\"1\"") != NULL);
  CHECK(last && strstr(last, "\"state\":\"down\",\"previous\":\"normal\",\"phi\":0,\"cause\":\"refused\"}") != NULL);
  free(got);
  close(fd);
  for (int i = 0; i < 2000 && a->http.connections; i++) {
    uv_run(&a->loop, UV_RUN_NOWAIT);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  CHECK_INT(a->http.connections, 0);
  CHECK(a->monitors[0].s == NULL); /* told it closed */
  vigil__http_stop(&a->http);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&a->loop), 0);
  free(a);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(loopback_clients_may_mutate_with_nothing_to_show);
  RUN(other_clients_are_refused_when_no_token_is_configured);
  RUN(other_clients_need_exactly_the_bearer_token);
  RUN(loopback_is_127_slash_8_and_colon_colon_1_mapped_or_not);
  RUN(one_address_holds_at_most_8_connections);
  RUN(when_full_a_newcomer_evicts_the_oldest_of_the_address_holding_most);
  RUN(when_full_of_equals_a_newcomer_from_a_present_address_is_refused);
  RUN(the_route_gets_the_authorization_header_however_it_is_split);
  RUN(a_stream_gets_a_head_without_length_then_what_its_owner_writes);
  RUN(a_stream_holds_at_most_its_bound_and_a_stalled_reader_is_dropped);
  RUN(a_reader_that_catches_up_keeps_its_stream);
  RUN(at_most_8_streams_and_they_leave_room_for_requests);
  RUN(a_monitor_that_fell_behind_is_told_how_many_events_it_missed);
  return CHECK_DONE();
}
