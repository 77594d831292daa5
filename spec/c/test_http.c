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
} served;

static void stub_route(void *ud, const vigil__http_request *req, vigil__http_response *r) {
  served *s = ud;
  s->calls++;
  snprintf(s->peer, sizeof s->peer, "%s", req->peer);
  s->loopback = req->peer_loopback;
  s->has_authorization = req->authorization != NULL;
  snprintf(s->authorization, sizeof s->authorization, "%s", req->authorization ? req->authorization : "");
  r->status = 200;
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
  return CHECK_DONE();
}
