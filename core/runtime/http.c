/*
 * http.c - the agent's small HTTP/1.1 server (GET /metrics, /v1/members,
 * /health), on the core thread's libuv loop.
 *
 * Owns: accepting connections, parsing requests with the nodejs
 * http-parser (Debian's libhttp-parser: small, battle-tested, no
 * allocation), enforcing the limits, and writing one response per
 * connection (Connection: close keeps the state machine trivial; scrapers
 * and the CLI open a connection per request anyway).
 *
 * Must never: let a client hold the loop (every connection has a deadline),
 * buffer without bound (URL <= 2 KiB, headers <= 8 KiB, no bodies), or
 * crash on anything a socket can send. Bad requests get a 4xx and a closed
 * connection.
 */
#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define URL_MAX         2048
#define HEADERS_MAX     8192
#define CONNECTIONS_MAX 64
#define DEADLINE_MS     5000

typedef struct conn {
  uv_tcp_t tcp;        /* first: the handle's address is the conn's */
  uv_timer_t deadline; /* closes a slow or idle client */
  uv_write_t write;
  http_parser parser;
  vigil__http *server;
  char url[URL_MAX + 1];
  size_t url_len;
  size_t header_bytes;
  int status; /* an error status decided while parsing; 0 = none */
  bool responded;
  int closing; /* handles still to close */
  char *out;   /* the response, freed after the write */
  char inbuf[4096];
} conn;

static void conn__closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->closing == 0) {
    c->server->connections--;
    free(c->out);
    free(c);
  }
}

static void conn__close(conn *c) {
  if (c->closing) return;
  c->closing = 2;
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

/* Send status + body (taken over: freed after the write) and close. */
static void conn__respond(conn *c, int status, const char *type, char *body, size_t len, bool head) {
  if (c->responded || c->closing) {
    free(body);
    return;
  }
  c->responded = true;
  c->server->requests[status >= 500 ? 3 : status >= 400 ? 2 : status >= 200 ? 1 : 0]++;
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_printf(&b,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                    "Cache-Control: no-store\r\n\r\n",
                    status, status_text(status), type, len);
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
  conn__respond(c, status, "text/plain; charset=utf-8", msg, len, false);
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

static int on_header_bytes(http_parser *p, const char *at, size_t len) {
  (void)at;
  conn *c = p->data;
  c->header_bytes += len;
  if (c->header_bytes > HEADERS_MAX) {
    c->status = 431;
    return 1;
  }
  return 0;
}

static int on_headers_complete(http_parser *p) {
  conn *c = p->data;
  /* Note: 1 and 2 mean "no body" and "upgrade" to this callback's caller;
   * any other non-zero value aborts the parse. */
  bool post_ok = p->method == HTTP_POST && strncmp(c->url, "/v1/reload", 10) == 0;
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
  vigil__http_response r = {404, "text/plain; charset=utf-8", NULL, 0};
  const char *method = p->method == HTTP_POST ? "POST" : p->method == HTTP_HEAD ? "HEAD" : "GET";
  c->server->route(c->server->ud, method, c->url, q ? q : "", &r);
  if (r.status == 404 && !r.body) {
    conn__error(c, 404);
  } else {
    conn__respond(c, r.status, r.type, r.body, r.len, p->method == HTTP_HEAD);
  }
  return 1; /* one request per connection */
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_bytes,
    .on_header_value = on_header_bytes,
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
    if (!c->responded) conn__close(c); /* EOF or error before a full request */
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

static void conn__timeout(uv_timer_t *t) {
  conn *c = t->data;
  if (c->responded) {
    conn__close(c);
  } else {
    conn__error(c, 408);
  }
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
  srv->connections++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    conn__close(c);
    return;
  }
  if (srv->connections > CONNECTIONS_MAX) {
    srv->refused++;
    conn__error(c, 503);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_timer_start(&c->deadline, conn__timeout, DEADLINE_MS, 0);
  uv_read_start((uv_stream_t *)&c->tcp, conn__alloc, conn__read);
}

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
