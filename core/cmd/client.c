/*
 * client.c - the `vigil` commands' HTTP/1.1 client for their agent's API:
 * one request per connection (as the agent serves them), the bearer token
 * of --http-token-file when there is one, and small readers for the JSON
 * the agent answers with. members, reload, keys, join, leave, force-leave,
 * monitor and info all go through here.
 *
 * Must never: wait without a bound (every connect and send has a timeout,
 * reads too unless the caller asks for a stream), read an answer without a
 * bound (4 MiB), leave a request (which may hold a key or a token) in
 * memory after it is sent, or hand back a byte from the agent that could
 * drive a terminal (JSON strings are read as they are escaped).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmd.h"

#define CLIENT_ANSWER_MAX (4u << 20) /* bytes of an answer we read */

int vigil_http_connect(const char *cmd, const char *http, int timeout_s) {
  char host[VIGIL_PNAME_MAX], port[8];
  size_t hl;
  uint16_t p;
  if (vigil_pname_parse(http, &hl, &p) != VIGIL_OK) die(2, cmd, "--http: expected host:port, got '%s'", http);
  bool v6 = http[0] == '[';
  memcpy(host, http + v6, hl - 2 * v6);
  host[hl - 2 * v6] = '\0';
  snprintf(port, sizeof port, "%u", p);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0 || !res) die(1, cmd, "cannot resolve %s: %s", http, gai_strerror(rc));
  int fd = -1, err = ECONNREFUSED;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    struct timeval tv = {timeout_s ? timeout_s : 5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* connect too */
    tv.tv_sec = timeout_s;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) errno = err;
  return fd;
}

void vigil_http_unreachable(const char *cmd, const char *http) {
  die(1, cmd, "no agent answers at %s (%s); is `vigil agent` running with --http %s?", http, strerror(errno), http);
}

void vigil_http_send(const char *cmd, const char *http, const char *token, int fd, const char *method,
                     const char *target) {
  char req[4096];
  bool auth = token && token[0];
  int n =
      snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n%s%s%s\r\n",
               method, target, http, auth ? "Authorization: Bearer " : "", auth ? token : "", auth ? "\r\n" : "");
  if (n < 0 || (size_t)n >= sizeof req) die(2, cmd, "request too long");
  for (int sent = 0; sent < n;) {
    ssize_t w = send(fd, req + sent, (size_t)(n - sent), MSG_NOSIGNAL);
    if (w <= 0) {
      sodium_memzero(req, sizeof req);
      die(1, cmd, "cannot send the request to %s: %s", http, strerror(errno));
    }
    sent += (int)w;
  }
  sodium_memzero(req, sizeof req); /* it may hold a key or the token */
}

int vigil_http_status(const char *head) {
  int status = 0;
  if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) return 0;
  return status;
}

int vigil_http_call(const char *cmd, const char *http, const char *token, const char *method, const char *target,
                    char **body) {
  int fd = vigil_http_connect(cmd, http, 5);
  if (fd < 0) vigil_http_unreachable(cmd, http);
  vigil_http_send(cmd, http, token, fd, method, target);
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap);
  if (!buf) die(1, cmd, "out of memory");
  for (;;) {
    if (len + 1 == cap) {
      if (cap >= CLIENT_ANSWER_MAX) die(1, cmd, "the answer from %s is larger than 4 MiB", http);
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) die(1, cmd, "out of memory");
      buf = bigger;
      cap *= 2;
    }
    ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die(1, cmd, "reading from %s: %s", http, strerror(errno));
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  int status = vigil_http_status(buf);
  char *start = strstr(buf, "\r\n\r\n");
  if (!status || !start) die(1, cmd, "%s answered something that is not HTTP", http);
  memmove(buf, start + 4, len - (size_t)(start + 4 - buf) + 1);
  *body = buf;
  return status;
}

void vigil_http_token_file(const char *cmd, const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) die(2, cmd, "--http-token-file: cannot read '%s': %s", path, strerror(errno));
  char line[512];
  if (!fgets(line, sizeof line, f)) line[0] = '\0';
  fclose(f);
  size_t n = strcspn(line, "\r\n");
  line[n] = '\0';
  if (n == 0 || n >= cap || n > 256) {
    sodium_memzero(line, sizeof line);
    die(2, cmd, "--http-token-file: '%s' holds no token of 1 to 256 characters", path);
  }
  for (size_t i = 0; i < n; i++)
    if (line[i] < 0x21 || line[i] > 0x7e) {
      sodium_memzero(line, sizeof line);
      die(2, cmd, "--http-token-file: '%s': the token holds a space or a byte that is not printable ASCII", path);
    }
  memcpy(out, line, n + 1);
  sodium_memzero(line, sizeof line);
}

bool vigil_json_print_str(FILE *f, const char *doc, const char *end, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(doc, pat);
  if (!p || (end && p >= end)) return false;
  for (p += strlen(pat); *p && *p != '"'; p++) {
    if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
    fputc((unsigned char)*p >= 0x20 ? *p : '?', f);
  }
  return true;
}

bool vigil_json_str(const char *doc, const char *end, const char *key, char *out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(doc, pat);
  size_t k = 0;
  bool found = p && (!end || p < end);
  if (found)
    for (p += strlen(pat); *p && *p != '"' && k + 1 < cap; p++) {
      if (*p == '\\' && p[1]) p++;
      out[k++] = (unsigned char)*p >= 0x20 ? *p : '?';
    }
  if (cap) out[k] = '\0';
  return found;
}
