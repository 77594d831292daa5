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

/* s as one logfmt value, into dst (cap bytes, always terminated): as it is
 * when it needs no quotes, else quoted and escaped (log.c's rules); cut
 * between two characters, its quote closed, when it does not fit. Returns
 * dst. For a string from the network or a policy in a vigil__logf field:
 *   char q[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)];
 *   vigil__logf(lvl, "...", "peer=%s", vigil__log_quote(q, sizeof q, pname)); */
const char *vigil__log_quote(char *dst, size_t cap, const char *s);
#define VIGIL__LOG_QUOTED(n) ((n)*6 + 3) /* room for any n bytes, quoted */

/* The escaped form of the character that starts str (n > 0 bytes left),
 * the escapes of a logfmt quoted value and of a JSON string alike (log.c):
 * writes it to out (*len bytes, not terminated), sets *escaped when it
 * differs from the input, and returns how many bytes of str it took (>= 1;
 * an ill-formed UTF-8 sequence is one \ufffd for its maximal subpart). */
#define VIGIL__ESCAPE_MAX 6
size_t vigil__escape_char(const char *str, size_t n, char out[VIGIL__ESCAPE_MAX], size_t *len, bool *escaped);

/* ---- http.c --------------------------------------------------------------- */

/* What a route sees of a request. */
typedef struct vigil__http_request {
  const char *method;        /* "GET", "HEAD" or "POST" */
  const char *path;          /* without the query */
  const char *query;         /* after '?'; "" when none */
  const char *peer;          /* the client's address, "10.0.0.9" or "::1" (IPv4-mapped IPv6 shown as IPv4) */
  bool peer_loopback;        /* the client is on this machine's loopback: 127.0.0.0/8 or ::1 */
  const char *authorization; /* the Authorization header's value; NULL when absent, "" when unusable */
} vigil__http_request;

/* A streaming response: the connection stays open after the head, and its
 * owner writes to it as things happen (GET /v1/monitor). */
typedef struct vigil__http_conn vigil__http_stream;

/* Told once with open = true when a stream's head is queued, and once with
 * open = false when it closes: the client went away, a write failed, it
 * was dropped as a slow reader, or the server stops. Never for a stream
 * refused with a 503 (VIGIL__HTTP_STREAMS_MAX open already). */
typedef void (*vigil__http_stream_fn)(void *ud, vigil__http_stream *s, bool open);

typedef struct vigil__http_response {
  int status;          /* 200, 404, ... */
  const char *type;    /* Content-Type */
  char *body;          /* malloc'd; the server frees it */
  size_t len;          /* of body */
  const char *headers; /* extra header lines, each ending in "\r\n"; NULL for none */
  /* Non-NULL: a stream (status 200): no Content-Length, the body ends when
   * the connection closes; what `body` holds is its first bytes. A HEAD
   * request gets the head alone and no stream. */
  vigil__http_stream_fn stream;
  void *stream_ud;
} vigil__http_response;

/* Fill *r for a request (POST only reaches the route for paths the server
 * allows). Leaving status 404 and body NULL sends 404. */
typedef void (*vigil__http_route)(void *ud, const vigil__http_request *req, vigil__http_response *r);

/* Why a connection was turned away or closed early, for
 * vigil_http_connections_rejected_total{reason}. */
typedef enum vigil__http_reject {
  VIGIL__HTTP_REJECT_FULL,           /* refused: every slot taken, no address holds more than the newcomer's */
  VIGIL__HTTP_REJECT_PER_ADDRESS,    /* refused: its address already holds the per-address maximum */
  VIGIL__HTTP_REJECT_EVICTED,        /* closed to make room for a client from an address holding fewer */
  VIGIL__HTTP_REJECT_HEADER_TIMEOUT, /* request line and headers not complete within the header deadline */
  VIGIL__HTTP_REJECT_TIMEOUT,        /* response not taken within the connection's deadline */
  VIGIL__HTTP_REJECT_STREAMS_FULL,   /* a stream refused: VIGIL__HTTP_STREAMS_MAX open already */
  VIGIL__HTTP_REJECT_SLOW_READER,    /* a stream closed: its reader took nothing for the stall time */
  VIGIL__HTTP_REJECT_KINDS
} vigil__http_reject;

/* "full", "per_address", "evicted", "header_timeout", "timeout",
 * "streams_full", "slow_reader". */
const char *vigil__http_reject_name(int reason);

/* Whether a request may use a mutating endpoint (POST /v1/reload, and any
 * later one: join, leave). Loopback clients may, with nothing to show; any
 * other client only with "Authorization: Bearer <token>" matching `token`
 * (compared in constant time). */
typedef enum vigil__http_auth {
  VIGIL__HTTP_AUTH_OK,            /* allowed */
  VIGIL__HTTP_AUTH_LOOPBACK_ONLY, /* not loopback, and no token configured */
  VIGIL__HTTP_AUTH_MISSING,       /* not loopback, no bearer token sent */
  VIGIL__HTTP_AUTH_WRONG,         /* not loopback, a bearer token that does not match */
  VIGIL__HTTP_AUTH_KINDS
} vigil__http_auth;

/* token: NULL (or "") when none is configured. */
vigil__http_auth vigil__http_authorize(const vigil__http_request *req, const char *token);

/* "ok", "loopback_only", "missing_token", "wrong_token". */
const char *vigil__http_auth_name(int auth);

/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool vigil__http_addr_loopback(const struct sockaddr *sa);

/* The per-connection list (http.c). */
struct vigil__http_conn;

/* Streams (http.c, top comment): at most this many open at once; each
 * holds at most VIGIL__HTTP_STREAM_QUEUE bytes written and not yet taken
 * by its reader (what does not fit is refused, never buffered), and one
 * whose reader takes nothing for VIGIL__HTTP_STREAM_STALL_MS while writes
 * are being refused is closed (reason slow_reader). Streams do not count
 * against the per-address and total connection limits. */
#define VIGIL__HTTP_STREAMS_MAX     8
#define VIGIL__HTTP_STREAM_QUEUE    (64 * 1024)
#define VIGIL__HTTP_STREAM_STALL_MS 10000

typedef struct vigil__http {
  uv_tcp_t listener;
  vigil__http_route route;
  void *ud;
  uint32_t connections;                               /* open now, refused ones still closing included */
  uint32_t serving;                                   /* of which on the list below: counted against the limits */
  struct vigil__http_conn *oldest, *newest;           /* the serving connections, in order of arrival */
  uint64_t rejected[VIGIL__HTTP_REJECT_KINDS];        /* connections turned away or cut short, by reason */
  uint64_t requests[4];                               /* answered: 1xx (unused), 2xx, 4xx, 5xx */
  uint64_t mutations_refused[VIGIL__HTTP_AUTH_KINDS]; /* mutating requests refused, by vigil__http_auth */
  uint32_t streams;                                   /* streams open now (not counted in serving) */
  uint32_t stream_queue;                              /* bytes a stream may hold; 0 = VIGIL__HTTP_STREAM_QUEUE */
  uint32_t stream_stall_ms;                           /* 0 = VIGIL__HTTP_STREAM_STALL_MS (tests shorten both) */
} vigil__http;

int vigil__http_start(vigil__http *srv, uv_loop_t *loop, const struct sockaddr *addr);
void vigil__http_stop(vigil__http *srv);

/* Queue len bytes on a stream, whole or not at all: VIGIL_OK; VIGIL_ERANGE
 * when they do not fit in what is left of its bound (nothing is queued, and
 * the stall clock starts); VIGIL_ENOENT when the stream is closing. Never
 * blocks. */
int vigil__http_stream_write(vigil__http_stream *s, const char *data, size_t len);

/* Bytes a write may queue now (0 when closing). */
size_t vigil__http_stream_room(const vigil__http_stream *s);

/* The client's address, for logs. */
const char *vigil__http_stream_peer(const vigil__http_stream *s);

/* ---- the agent (agent.c), as net.c and api.c see it ------------------------ */

/* systemd's notify protocol (notify.c): READY=1, STATUS=, WATCHDOG=1,
 * STOPPING=1 while NOTIFY_SOCKET is set; nothing otherwise. */
typedef struct vigil__notify {
  uv_timer_t timer;            /* polls for readiness, then paces the watchdog and STATUS= */
  bool on;                     /* NOTIFY_SOCKET was set at start */
  bool ready;                  /* READY=1 sent */
  bool running;                /* the policy thread ran, as last told in STATUS= */
  uint64_t watchdog_ms;        /* WatchdogSec= (WATCHDOG_USEC); 0 = none */
  vigil_time pinged;           /* the last WATCHDOG=1 */
  uint64_t generation, failed; /* the policy's generation and failed reloads, as last told */
} vigil__notify;

typedef struct vigil__agent {
  uv_loop_t loop;
  uv_udp_t udp;
  uv_timer_t timer;     /* armed at the node's next timer */
  vigil_time timer_for; /* the node time it is armed for */
  uv_signal_t sigint, sigterm, sighup;
  vigil__http http;
  bool http_on;
  const vigil_agent_config *cfg;
  vigil_node *node;     /* every decision */
  vigil_bridge *bridge; /* to the script thread; NULL without a policy */
  uv_async_t core_wake; /* the script thread has commands for us */
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
  struct vigil__monitor {
    vigil__http_stream *s;             /* NULL: a free place */
    uint32_t flags;                    /* VIGIL__MONITOR_* */
    uint64_t missed;                   /* events not delivered since the last one that was */
  } monitors[VIGIL__HTTP_STREAMS_MAX]; /* GET /v1/monitor readers (api.c) */
  uint64_t monitor_dropped;            /* events a monitor reader missed, all readers */
  bool leaving;                        /* vigil__agent_leave ran */
  vigil__notify notify;                /* systemd (notify.c) */
} vigil__agent;

#define VIGIL__MONITOR_JSON 1u /* JSON lines, else logfmt */
#define VIGIL__MONITOR_ALL  2u /* gossip_round events too */

/* After any input: log and forward the node's new events, re-arm the timer. */
void vigil__agent_settle(vigil__agent *a, vigil_time now);

/* notify.c: once the agent listens and its policy thread started; then on
 * leaving. No-ops when not under systemd. */
void vigil__notify_start(vigil__agent *a);
void vigil__notify_stopping(vigil__agent *a);

/* Leave gracefully, as on SIGTERM: the node's shutdown frames to every
 * peer, then the loop stops and vigil_agent_run returns 0. `by` says who
 * asked, for the log ("SIGTERM", "http"). Once only. */
void vigil__agent_leave(vigil__agent *a, const char *by);

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

/* Append s[0..n) to b as a JSON string literal (RFC 8259): quoted, escaped
 * by vigil__escape_char, valid UTF-8 whatever s holds. */
void vigil__json_str(vigil__buf *b, const char *s, size_t n);

/* The route of the agent's HTTP server: /metrics, /v1/members, /health,
 * POST /v1/reload. ud is the agent. Mutating endpoints answer loopback
 * clients, and others only with the agent's --http-token-file token
 * (vigil__http_authorize). */
void vigil__api_route(void *ud, const vigil__http_request *req, vigil__http_response *r);

/* Hand one node event to every GET /v1/monitor reader (agent.c's event
 * sink calls it for every event): rendered once per format asked for,
 * queued on each reader's stream without blocking; a reader whose stream
 * is full misses it and is told `lagged` before the next one it gets. */
void vigil__api_monitor_event(vigil__agent *a, const vigil_event *e);

#endif
