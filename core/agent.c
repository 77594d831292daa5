/*
 * agent.c - the agent runtime: the core thread (../shared/DESIGN.md).
 *
 * Owns: the libuv loop that carries the UDP socket, the gossip timer, the
 * evaluate tick, the HTTP listener and the signals; the clocks (the only
 * place that reads them: uv_hrtime for `now`, the wall clock for log
 * timestamps and the generation); and the logs (logfmt on stderr).
 *
 * Must never: run Lua or wait on anything slow. Every callback does a
 * bounded amount of work: a datagram, a tick, a request. Datagrams are sent
 * with uv_udp_try_send, which never blocks and never queues: a frame the
 * kernel will not take now is counted and dropped, because the next
 * interval carries fresher news anyway.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "agent.h"

/* The one piece of process-wide state: how loud the logs are. */
static vigil_log_level log_level = VIGIL_LOG_INFO;

typedef struct agent {
  uv_loop_t loop;
  uv_udp_t udp;
  uv_timer_t gossip; /* every interval: send heartbeats */
  uv_timer_t tick;   /* every tick: evaluate, publish the snapshot */
  uv_timer_t due;    /* once: evaluate when the next conviction falls due */
  uv_signal_t sigint, sigterm, sighup;
  vigil__http http;
  bool http_on;
  const vigil_agent_config *cfg;
  char self[VIGIL_PNAME_MAX];
  vigil_pool *pool;
  vigil_handler *h;
  vigil_events *ev;
  vigil_metrics *met;
  vigil_members *m;
  vigil_subscription sub; /* the agent's own: it logs every event */
  vigil_bridge *bridge;   /* to the script thread; NULL without a policy */
  uv_async_t core_wake;   /* the script thread has commands for us */
  bool policy_on;
  vigil_time started;
  uint64_t send_unresolvable; /* pnames that are not IP literals */
  uint64_t icmp_unknown;      /* ICMP port unreachable from an address no peer has */
  uint64_t icmp_other;        /* other ICMP errors read (the handler counts refused peers) */
  bool errqueue_pending;      /* the socket reported an error: read its error queue */
  vigil_time cfg_interval;    /* gossip interval in force */
  uint32_t cfg_fanout;        /* fanout in force */
  int exit_code;
  uint8_t *rxbuf; /* RX_SLOTS x 64 KiB: libuv reads up to RX_SLOTS datagrams per
                   * recvmmsg into it, each chunk big enough to see oversized ones */
} agent;

int vigil_log_level_parse(const char *name) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

void vigil_agent_config_init(vigil_agent_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = "127.0.0.1:7946";
  cfg->http = "127.0.0.1:7947";
  cfg->log_level = VIGIL_LOG_INFO;
  cfg->interval = 200 * VIGIL_MS;
  cfg->tick = 100 * VIGIL_MS;
  cfg->reap_after = 60 * VIGIL_SEC;
  vigil_detector_config_init(&cfg->detector);
}

/* ---- logs ----------------------------------------------------------------- */

/* One logfmt line: ts, level, msg, then the caller's key=value pairs. */
static void agent__log(vigil_log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void agent__log(vigil_log_level lvl, const char *msg, const char *fmt, ...) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  if (lvl < log_level) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char line[1024];
  int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], msg);
  if (fmt && *fmt && n > 0 && (size_t)n < sizeof line - 2) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (k > 0) n += k;
  }
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  fwrite(line, 1, (size_t)n, stderr);
}

void vigil_log_set_level(vigil_log_level lvl) { log_level = lvl; }

void vigil_log(vigil_log_level lvl, const char *msg, const char *fields) {
  if (fields && *fields)
    agent__log(lvl, msg, "%s", fields);
  else
    agent__log(lvl, msg, NULL);
}

/* ---- addresses ---------------------------------------------------------------- */

/* "ip:port" or "[ip6]:port" to a sockaddr. Non-zero when not an IP literal. */
static int agent__sockaddr(const char *pname, struct sockaddr_storage *out) {
  size_t hl;
  uint16_t port;
  if (vigil_pname_parse(pname, &hl, &port) != VIGIL_OK) return UV_EINVAL;
  char host[VIGIL_PNAME_MAX];
  if (pname[0] == '[') {
    memcpy(host, pname + 1, hl - 2);
    host[hl - 2] = '\0';
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out);
  }
  memcpy(host, pname, hl);
  host[hl] = '\0';
  return uv_ip4_addr(host, port, (struct sockaddr_in *)out);
}

static bool agent__wildcard(const char *pname) {
  return strncmp(pname, "0.0.0.0:", 8) == 0 || strncmp(pname, "[::]:", 5) == 0;
}

/* ---- the wire ----------------------------------------------------------------- */

static int agent__send(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  agent *a = ud;
  struct sockaddr_storage to;
  if (agent__sockaddr(pname, &to) != 0) {
    a->send_unresolvable++;
    return UV_EINVAL;
  }
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  int rc = uv_udp_try_send(&a->udp, &b, 1, (const struct sockaddr *)&to);
  if (rc < 0 && rc != UV_EAGAIN) {
    /* Maybe the kernel reported an earlier datagram's ICMP error (port
     * unreachable, fragmentation needed, ...) instead of sending this one,
     * and cleared it: read the error queue soon (else epoll keeps waking us
     * for it), and try this frame once more. A real error fails again. */
    a->errqueue_pending = true;
    rc = uv_udp_try_send(&a->udp, &b, 1, (const struct sockaddr *)&to);
  }
  return rc < 0 ? rc : 0;
}

/*
 * The socket's error queue (IP_RECVERR): one entry per ICMP error for a
 * datagram we sent, with the datagram's destination. "Port unreachable"
 * from a peer's address means the agent on it is gone (see
 * vigil_handler_refused). Read to the end, or epoll keeps reporting the
 * socket. Bounded: the queue holds what the receive buffer allows.
 */
static void agent__read_errqueue(agent *a, vigil_time now) {
  a->errqueue_pending = false;
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&a->udp, &fd) != 0) return;
  for (int n = 0; n < 4096; n++) {
    struct sockaddr_storage dst;
    uint8_t payload[64];
    union {
      char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {payload, sizeof payload};
    struct msghdr msg = {0};
    msg.msg_name = &dst;
    msg.msg_namelen = sizeof dst;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    const struct sock_extended_err *ee = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR))
        ee = (const struct sock_extended_err *)CMSG_DATA(c);
    if (!ee || ee->ee_errno != ECONNREFUSED) {
      a->icmp_other++;
      continue;
    }
    char pname[VIGIL_PNAME_MAX] = "";
    char ip[INET6_ADDRSTRLEN] = "";
    if (dst.ss_family == AF_INET && uv_ip4_name((const struct sockaddr_in *)&dst, ip, sizeof ip) == 0)
      snprintf(pname, sizeof pname, "%s:%u", ip, ntohs(((const struct sockaddr_in *)&dst)->sin_port));
    else if (dst.ss_family == AF_INET6 && uv_ip6_name((const struct sockaddr_in6 *)&dst, ip, sizeof ip) == 0)
      snprintf(pname, sizeof pname, "[%s]:%u", ip, ntohs(((const struct sockaddr_in6 *)&dst)->sin6_port));
    int rc = pname[0] ? vigil_handler_refused_pname(a->h, pname, now) : VIGIL_ENOENT;
    if (rc < 0) a->icmp_unknown++;
    if (log_level <= VIGIL_LOG_DEBUG)
      agent__log(VIGIL_LOG_DEBUG, "port unreachable", "peer=%s known=%s", pname[0] ? pname : "?",
                 rc >= 0 ? "yes" : "no");
  }
}

/* Ask the kernel for ICMP errors about our datagrams (port unreachable). */
static void agent__want_errors(agent *a, int family) {
  uv_os_fd_t fd;
  int on = 1;
  if (uv_fileno((uv_handle_t *)&a->udp, &fd) != 0) return;
  if (family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
  else
    setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
}

#define RX_CHUNK 65536 /* libuv's per-datagram chunk with UV_UDP_RECVMMSG */
#define RX_SLOTS 32

static void agent__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  agent *a = h->data;
  *buf = uv_buf_init((char *)a->rxbuf, RX_CHUNK * RX_SLOTS);
}

static void agent__drain_events(agent *a);
static void agent__schedule_due(agent *a, vigil_time now);
static void agent__evaluate(agent *a, vigil_time now);

static void agent__recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags) {
  agent *a = u->data;
  if (n < 0 || (a->errqueue_pending && !from)) { /* an ICMP error for a datagram we sent */
    vigil_time now = uv_hrtime();
    agent__read_errqueue(a, now);
    agent__drain_events(a);
    agent__schedule_due(a, now);
    return;
  }
  if (n == 0 || !from) return; /* nothing, or the end of a batch */
  size_t len = (size_t)n;
  if (flags & UV_UDP_PARTIAL) len = RX_CHUNK; /* truncated by the kernel: too big */
  vigil_time now = uv_hrtime();
  int rc = vigil_members_receive(a->m, (const uint8_t *)buf->base, len, now);
  if (rc != VIGIL_OK && log_level <= VIGIL_LOG_DEBUG) {
    char ip[64] = "?";
    if (from->sa_family == AF_INET) uv_ip4_name((const struct sockaddr_in *)from, ip, sizeof ip);
    if (from->sa_family == AF_INET6) uv_ip6_name((const struct sockaddr_in6 *)from, ip, sizeof ip);
    agent__log(VIGIL_LOG_DEBUG, "frame rejected", "reason=%s from=%s bytes=%zu", vigil_frame_reason(rc), ip, len);
  }
  agent__drain_events(a);
}

/* ---- ticks ---------------------------------------------------------------------- */

/* Log one event. The handler put the deciding phi in up and down events. */
static void agent__log_event(const vigil_event *e) {
  switch (e->type) {
  case VIGIL_EVENT_PEER_UP:
  case VIGIL_EVENT_PEER_DOWN:
    agent__log(e->type == VIGIL_EVENT_PEER_DOWN ? VIGIL_LOG_WARN : VIGIL_LOG_INFO,
               e->type == VIGIL_EVENT_PEER_DOWN ? "peer down" : "peer up",
               "peer=%s dc=%s rack=%s from=%s to=%s phi=%.3f cause=%s", e->peer, e->dc, e->rack,
               vigil_state_name(e->previous), vigil_state_name(e->state), e->phi, vigil_cause_name(e->cause));
    break;
  case VIGIL_EVENT_PEER_JOINED:
    agent__log(VIGIL_LOG_INFO, "peer joined", "peer=%s dc=%s rack=%s", e->peer, e->dc, e->rack);
    break;
  case VIGIL_EVENT_PEER_LEFT:
    agent__log(VIGIL_LOG_INFO, "peer left", "peer=%s dc=%s rack=%s", e->peer, e->dc, e->rack);
    break;
  case VIGIL_EVENT_PEER_RESTARTED:
    agent__log(VIGIL_LOG_INFO, "peer restarted", "peer=%s dc=%s rack=%s", e->peer, e->dc, e->rack);
    break;
  case VIGIL_EVENT_LAGGED:
    agent__log(VIGIL_LOG_WARN, "event log lagged", "missed=%llu", (unsigned long long)e->missed);
    break;
  default: break;
  }
}

static void agent__drain_events(agent *a) {
  vigil_event e;
  while (vigil_subscription_poll(&a->sub, &e)) {
    agent__log_event(&e);
    if (a->bridge && e.type != VIGIL_EVENT_GOSSIP_ROUND) vigil_bridge_push_event(a->bridge, &e);
  }
}

/* What the policy reads: every peer as of now, published for the script
 * thread (which never touches the pool). */
static void agent__publish_snapshot(agent *a, vigil_time now) {
  uint32_t slots = vigil_pool_slots(a->pool), n = vigil_pool_count(a->pool);
  vigil_snapshot *s = malloc(sizeof *s + (size_t)n * sizeof s->peers[0]);
  if (!s) return;
  s->at = now;
  vigil__copy(s->self, sizeof s->self, a->self);
  s->threshold = vigil_handler_threshold(a->h);
  s->interval = a->cfg_interval;
  s->fanout = a->cfg_fanout;
  uint32_t k = 0;
  for (uint32_t i = 0; i < slots && k < n; i++) {
    const vigil_peer *p = vigil_pool_get(a->pool, i);
    if (!p) continue;
    vigil_snapshot_peer *sp = &s->peers[k++];
    vigil__copy(sp->pname, sizeof sp->pname, p->pname);
    vigil__copy(sp->dc, sizeof sp->dc, p->dc);
    vigil__copy(sp->rack, sizeof sp->rack, p->rack);
    sp->state = p->state;
    sp->is_local = p->is_local;
    sp->phi = vigil_handler_phi(a->h, i, now);
    sp->threshold = vigil_pool_threshold_of(a->pool, i);
    sp->since = p->since;
    uint64_t ver;
    vigil_time heard;
    vigil_members_info(a->m, i, &sp->generation, &ver, &heard);
  }
  s->npeers = k;
  vigil_bridge_publish(a->bridge, s);
}

static void agent__on_gossip(uv_timer_t *t) {
  agent *a = t->data;
  vigil_time t0 = uv_hrtime();
  vigil_members_tick(a->m, t0, agent__send, a);
  vigil_time t1 = uv_hrtime();
  vigil_handler_gossip_round(a->h, t1 - t0, vigil_members_fresh(a->m), t1);
  agent__drain_events(a);
}

/* Judge every peer now, report what changed, and arm the due timer. */
static void agent__evaluate(agent *a, vigil_time now) {
  vigil_handler_evaluate(a->h, now, NULL);
  agent__drain_events(a);
  agent__schedule_due(a, now);
}

static void agent__on_due(uv_timer_t *t) { agent__evaluate(t->data, uv_hrtime()); }

/* Evaluate again when the earliest conviction falls due, if that is before
 * the next tick: a silent peer is convicted when its phi crosses the
 * threshold, not up to a tick later. In steady state heartbeats keep moving
 * the deadlines on and each tick re-arms this timer before it fires. */
static void agent__schedule_due(agent *a, vigil_time now) {
  vigil_time due = vigil_handler_next_due(a->h, now);
  uint64_t tick_ms = uv_timer_get_repeat(&a->tick);
  if (due == UINT64_MAX || due - now >= tick_ms * VIGIL_MS) {
    uv_timer_stop(&a->due);
    return;
  }
  uint64_t ms = (due - now + VIGIL_MS - 1) / VIGIL_MS; /* libuv counts whole milliseconds: round up */
  uv_timer_start(&a->due, agent__on_due, ms, 0);
}

static void agent__on_tick(uv_timer_t *t) {
  agent *a = t->data;
  vigil_time now = uv_hrtime();
  agent__evaluate(a, now);
  if (a->bridge) agent__publish_snapshot(a, now);
}

/* Apply what the policy asked for (vigil.configure, vigil.mark_down). */
static void agent__apply(agent *a, const vigil_command *c, vigil_time now) {
  if (c->type == VIGIL_CMD_MARK_DOWN) {
    int rc = vigil_handler_mark_down_pname(a->h, c->pname, now);
    agent__log(rc ? VIGIL_LOG_WARN : VIGIL_LOG_INFO, "policy marked a peer down", "peer=%s result=\"%s\"", c->pname,
               rc ? vigil_strerror(rc) : "ok");
    agent__drain_events(a);
    return;
  }
  vigil_detector_config next = *vigil_pool_detector_config(a->pool);
  if (c->has_threshold) next.threshold = c->threshold;
  if (c->has_model) next.model = c->model;
  if (c->has_min_std_dev) next.min_std_dev = c->min_std_dev;
  if (c->has_acceptable_pause) next.acceptable_pause = c->acceptable_pause;
  if (c->has_refused) next.refused = c->refused;
  const char *why = NULL;
  if (vigil_pool_configure(a->pool, &next, &why) != VIGIL_OK) {
    agent__log(VIGIL_LOG_ERROR, "policy configure refused", "error=\"%s\"", why ? why : "invalid");
    return;
  }
  if (c->has_thresholds) {
    vigil_threshold_override ov[VIGIL_CMD_THRESHOLDS_MAX];
    for (uint32_t i = 0; i < c->nthresholds; i++) {
      ov[i].key = c->thresholds[i].key;
      ov[i].threshold = c->thresholds[i].threshold;
    }
    if (vigil_pool_set_thresholds(a->pool, ov, c->nthresholds) != VIGIL_OK)
      agent__log(VIGIL_LOG_ERROR, "policy thresholds refused", "count=%u", c->nthresholds);
  }
  if (c->has_fanout) {
    a->cfg_fanout = c->fanout;
    vigil_members_set_fanout(a->m, c->fanout);
  }
  if (c->has_interval && c->interval >= VIGIL_MS && c->interval != a->cfg_interval) {
    a->cfg_interval = c->interval;
    uint64_t iv = c->interval / VIGIL_MS, tk = iv / 2 ? iv / 2 : 1;
    vigil_handler_set_interval(a->h, tk * VIGIL_MS);
    uv_timer_start(&a->gossip, agent__on_gossip, iv, iv);
    uv_timer_start(&a->tick, agent__on_tick, tk, tk);
  }
  agent__log(VIGIL_LOG_INFO, "policy configured the detector",
             "threshold=%g model=%s min_std_dev_ms=%.0f acceptable_pause_ms=%.0f refused=%s interval_ms=%llu "
             "fanout=%u thresholds=%u",
             next.threshold, next.model == VIGIL_MODEL_NORMAL ? "normal" : "exponential",
             (double)next.min_std_dev / 1e6, (double)next.acceptable_pause / 1e6, next.refused ? "on" : "off",
             (unsigned long long)(a->cfg_interval / VIGIL_MS), a->cfg_fanout, c->has_thresholds ? c->nthresholds : 0);
}

static void agent__on_core_wake(uv_async_t *w) {
  agent *a = w->data;
  vigil_command c;
  vigil_time now = uv_hrtime();
  while (vigil_bridge_take_command(a->bridge, &c)) agent__apply(a, &c, now);
}

static void agent__wake_core(void *ud) { uv_async_send(ud); }

/* ---- HTTP ------------------------------------------------------------------------- */

static void json_str(vigil__buf *b, const char *s) {
  vigil__buf_puts(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      vigil__buf_printf(b, "\\%c", c);
    else if (c < 0x20)
      vigil__buf_printf(b, "\\u%04x", c);
    else
      vigil__buf_printf(b, "%c", c);
  }
  vigil__buf_puts(b, "\"");
}

static void json_num(vigil__buf *b, double v) {
  if (isfinite(v))
    vigil__buf_printf(b, "%.6g", v);
  else
    vigil__buf_puts(b, "null");
}

static void agent__members_json(agent *a, vigil_time now, vigil__buf *b) {
  vigil__buf_puts(b, "{\"self\":");
  json_str(b, a->self);
  vigil__buf_printf(b, ",\"generation\":%llu,\"members\":[", (unsigned long long)vigil_members_generation(a->m));
  uint32_t slots = vigil_pool_slots(a->pool);
  bool first = true;
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(a->pool, i);
    if (!p) continue;
    uint64_t gen, ver;
    vigil_time heard;
    vigil_members_info(a->m, i, &gen, &ver, &heard);
    vigil__buf_puts(b, first ? "{\"pname\":" : ",{\"pname\":");
    first = false;
    json_str(b, p->pname);
    vigil__buf_puts(b, ",\"dc\":");
    json_str(b, p->dc);
    vigil__buf_puts(b, ",\"rack\":");
    json_str(b, p->rack);
    vigil__buf_puts(b, ",\"state\":");
    json_str(b, vigil_state_name(p->state));
    vigil__buf_puts(b, ",\"phi\":");
    json_num(b, vigil_handler_phi(a->h, i, now));
    vigil__buf_puts(b, ",\"last_heard_seconds\":");
    if (heard && now >= heard)
      json_num(b, (double)(now - heard) / 1e9);
    else
      vigil__buf_puts(b, "null");
    vigil__buf_printf(b, ",\"since_seconds\":");
    json_num(b, now > p->since ? (double)(now - p->since) / 1e9 : 0.0);
    vigil__buf_printf(b, ",\"generation\":%llu,\"version\":%llu,\"is_local\":%s,\"tokens\":[", (unsigned long long)gen,
                      (unsigned long long)ver, p->is_local ? "true" : "false");
    for (uint32_t k = 0; k < p->ntokens; k++) {
      char tok[VIGIL_TOKEN_STRLEN];
      vigil_token_format(&p->tokens[k], tok, sizeof tok);
      vigil__buf_printf(b, "%s\"%s\"", k ? "," : "", tok);
    }
    vigil__buf_puts(b, "]}");
  }
  vigil__buf_puts(b, "]}\n");
}

static void agent__members_text(agent *a, vigil_time now, vigil__buf *b) {
  vigil__buf_printf(b, "%-24s %-10s %-10s %-8s %9s %11s %s\n", "PEER", "DC", "RACK", "STATE", "PHI", "LAST HEARD",
                    "GENERATION");
  uint32_t slots = vigil_pool_slots(a->pool);
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(a->pool, i);
    if (!p) continue;
    uint64_t gen, ver;
    vigil_time heard;
    vigil_members_info(a->m, i, &gen, &ver, &heard);
    char last[32] = "-", phi[32] = "-";
    if (p->is_local)
      snprintf(last, sizeof last, "(self)");
    else if (heard && now >= heard)
      snprintf(last, sizeof last, "%.1fs ago", (double)(now - heard) / 1e9);
    if (!p->is_local) snprintf(phi, sizeof phi, "%.2f", vigil_handler_phi(a->h, i, now));
    vigil__buf_printf(b, "%-24s %-10s %-10s %-8s %9s %11s %llu\n", p->pname, p->dc, p->rack, vigil_state_name(p->state),
                      phi, last, (unsigned long long)gen);
  }
  if (a->bridge) {
    vigil_policy_status st;
    vigil_bridge_status(a->bridge, &st);
    if (st.error[0])
      vigil__buf_printf(b, "\npolicy: %s, generation %llu, LAST LOAD FAILED: %s\n", a->cfg->policy,
                        (unsigned long long)st.generation, st.error);
    else
      vigil__buf_printf(b, "\npolicy: %s, generation %llu, %s\n", a->cfg->policy, (unsigned long long)st.generation,
                        st.loaded ? "ok" : "not loaded");
  }
}

static void agent__health(agent *a, vigil_time now, vigil__buf *b) {
  uint32_t by_state[VIGIL_STATE_COUNT] = {0};
  uint32_t slots = vigil_pool_slots(a->pool);
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(a->pool, i);
    if (p && !p->is_local) by_state[p->state]++;
  }
  vigil__buf_puts(b, "{\"status\":\"ok\",\"self\":");
  json_str(b, a->self);
  vigil__buf_printf(b, ",\"generation\":%llu,\"uptime_seconds\":", (unsigned long long)vigil_members_generation(a->m));
  json_num(b, (double)(now - a->started) / 1e9);
  vigil__buf_printf(b, ",\"authenticated\":%s,\"peers\":{", a->cfg->keyring ? "true" : "false");
  for (int s = 0; s < VIGIL_STATE_COUNT; s++)
    vigil__buf_printf(b, "%s\"%s\":%u", s ? "," : "", vigil_state_name((vigil_peer_state)s), by_state[s]);
  vigil__buf_puts(b, "},\"policy\":");
  if (!a->bridge) {
    vigil__buf_puts(b, "null}\n");
    return;
  }
  vigil_policy_status st;
  vigil_bridge_status(a->bridge, &st);
  vigil__buf_puts(b, "{\"path\":");
  json_str(b, a->cfg->policy);
  vigil__buf_printf(b, ",\"running\":%s,\"loaded\":%s,\"generation\":%llu,\"reloads_failed\":%llu,\"error\":",
                    st.running ? "true" : "false", st.loaded ? "true" : "false", (unsigned long long)st.generation,
                    (unsigned long long)st.reloads_failed);
  if (st.error[0])
    json_str(b, st.error);
  else
    vigil__buf_puts(b, "null");
  vigil__buf_puts(b, "}}\n");
}

/* The policy's counters, appended to /metrics. */
static void agent__policy_metrics(agent *a, vigil__buf *b) {
  if (!a->bridge) return;
  vigil_policy_status st;
  vigil_bridge_status(a->bridge, &st);
  vigil__buf_puts(b, "# HELP policy_errors_total Policy handlers that raised an error, by event.\n"
                     "# TYPE policy_errors_total counter\n");
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    vigil__buf_printf(b, "policy_errors_total{event=\"%s\"} %llu\n", vigil_policy_kind_name(k),
                      (unsigned long long)st.errors[k]);
  vigil__buf_puts(b, "# HELP policy_interrupted_total Policy handlers stopped at their time budget, by event.\n"
                     "# TYPE policy_interrupted_total counter\n");
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    vigil__buf_printf(b, "policy_interrupted_total{event=\"%s\"} %llu\n", vigil_policy_kind_name(k),
                      (unsigned long long)st.interrupted[k]);
  vigil__buf_printf(b,
                    "# HELP policy_reloads_total Policy loads, by result.\n# TYPE policy_reloads_total counter\n"
                    "policy_reloads_total{result=\"ok\"} %llu\npolicy_reloads_total{result=\"error\"} %llu\n",
                    (unsigned long long)st.reloads_ok, (unsigned long long)st.reloads_failed);
  vigil__buf_printf(b,
                    "# HELP policy_events_total Events handed to the policy.\n# TYPE policy_events_total counter\n"
                    "policy_events_total %llu\n"
                    "# HELP policy_events_lagged_total Events lost because the policy fell behind.\n"
                    "# TYPE policy_events_lagged_total counter\npolicy_events_lagged_total %llu\n",
                    (unsigned long long)st.delivered, (unsigned long long)st.lagged);
  vigil__buf_printf(b,
                    "# HELP policy_exec_total Commands the policy ran, by result.\n# TYPE policy_exec_total counter\n"
                    "policy_exec_total{result=\"ok\"} %llu\npolicy_exec_total{result=\"failed\"} %llu\n"
                    "policy_exec_total{result=\"timeout\"} %llu\npolicy_exec_total{result=\"rejected\"} %llu\n",
                    (unsigned long long)st.exec_ok, (unsigned long long)st.exec_failed,
                    (unsigned long long)st.exec_timeout, (unsigned long long)st.exec_rejected);
  vigil__buf_printf(b,
                    "# HELP policy_generation Policy generations loaded successfully.\n"
                    "# TYPE policy_generation gauge\npolicy_generation %llu\n",
                    (unsigned long long)st.generation);
}

static void agent__metrics(agent *a, vigil_time now, vigil__http_response *r) {
  size_t len;
  char *text = vigil_handler_render_metrics(a->h, now, &len);
  if (text) text = vigil_members_render_metrics(a->m, text, &len);
  if (!text) {
    r->status = 503;
    return;
  }
  vigil__buf b = {text, len, len + 1, false};
  static const char *const classes[4] = {"1xx", "2xx", "4xx", "5xx"};
  vigil__buf_puts(&b, "# HELP http_requests_total HTTP requests answered, by status class.\n"
                      "# TYPE http_requests_total counter\n");
  for (int i = 1; i < 4; i++)
    vigil__buf_printf(&b, "http_requests_total{code=\"%s\"} %llu\n", classes[i],
                      (unsigned long long)a->http.requests[i]);
  vigil__buf_printf(&b,
                    "# HELP http_connections_refused_total Connections turned away (too many open).\n"
                    "# TYPE http_connections_refused_total counter\nhttp_connections_refused_total %llu\n",
                    (unsigned long long)a->http.refused);
  vigil__buf_printf(&b,
                    "# HELP frames_unsendable_total Frames for peers whose pname is not an IP address.\n"
                    "# TYPE frames_unsendable_total counter\nframes_unsendable_total %llu\n",
                    (unsigned long long)a->send_unresolvable);
  vigil__buf_printf(&b,
                    "# HELP icmp_errors_total ICMP errors for datagrams this agent sent, by kind: refused by a "
                    "known peer's host (port unreachable), refused by an address no peer has, other.\n"
                    "# TYPE icmp_errors_total counter\n"
                    "icmp_errors_total{kind=\"refused_peer\"} %llu\nicmp_errors_total{kind=\"refused_unknown\"} "
                    "%llu\nicmp_errors_total{kind=\"other\"} %llu\n",
                    (unsigned long long)vigil__metrics_refused_total(a->met), (unsigned long long)a->icmp_unknown,
                    (unsigned long long)a->icmp_other);
  agent__policy_metrics(a, &b);
  if (b.failed) {
    free(b.data);
    r->status = 503;
    return;
  }
  r->status = 200;
  r->type = "text/plain; version=0.0.4; charset=utf-8";
  r->body = b.data;
  r->len = b.len;
}

static void agent__route(void *ud, const char *method, const char *path, const char *query, vigil__http_response *r) {
  agent *a = ud;
  vigil_time now = uv_hrtime();
  if (strcmp(path, "/v1/reload") == 0) {
    vigil__buf b = {NULL, 0, 0, false};
    r->type = "application/json";
    if (strcmp(method, "POST") != 0) {
      vigil__buf_puts(&b, "{\"error\":\"use POST\"}\n");
      r->status = 405;
    } else if (!a->bridge) {
      vigil__buf_puts(&b, "{\"error\":\"this agent runs no policy\"}\n");
      r->status = 409;
    } else {
      vigil_bridge_request(a->bridge, true, false);
      agent__log(VIGIL_LOG_INFO, "policy reload requested", "by=http");
      vigil__buf_puts(&b, "{\"status\":\"reload requested\"}\n");
      r->status = 202;
    }
    r->body = b.data;
    r->len = b.len;
    return;
  }
  if (strcmp(path, "/metrics") == 0) {
    agent__metrics(a, now, r);
    return;
  }
  vigil__buf b = {NULL, 0, 0, false};
  if (strcmp(path, "/v1/members") == 0) {
    if (strstr(query, "format=text")) {
      agent__members_text(a, now, &b);
      r->type = "text/plain; charset=utf-8";
    } else {
      agent__members_json(a, now, &b);
      r->type = "application/json";
    }
  } else if (strcmp(path, "/health") == 0) {
    agent__health(a, now, &b);
    r->type = "application/json";
  } else {
    return; /* 404 */
  }
  if (b.failed) {
    free(b.data);
    r->status = 503;
    return;
  }
  r->status = 200;
  r->body = b.data;
  r->len = b.len;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void agent__close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void agent__on_stop(uv_signal_t *s, int signum) {
  agent *a = s->data;
  vigil_time now = uv_hrtime();
  agent__log(VIGIL_LOG_INFO, "shutting down", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
  size_t n = vigil_members_shutdown(a->m, now, agent__send, a);
  agent__log(VIGIL_LOG_INFO, "told peers we are leaving", "frames=%zu", n);
  uv_stop(&a->loop);
}

static void agent__on_hup(uv_signal_t *s, int signum) {
  (void)signum;
  agent *a = s->data;
  if (!a->bridge) {
    agent__log(VIGIL_LOG_WARN, "SIGHUP ignored: this agent runs no policy", NULL);
    return;
  }
  agent__log(VIGIL_LOG_INFO, "policy reload requested", "by=SIGHUP");
  vigil_bridge_request(a->bridge, true, false);
}

/* A burst of frames (every peer's heartbeat landing in the same
 * millisecond, or a flood) must wait in the kernel, not be dropped there:
 * ask for 4 MiB. SO_RCVBUFFORCE passes net.core.rmem_max when the agent may
 * (root or CAP_NET_ADMIN); otherwise SO_RCVBUF gets what the limit allows. */
static void agent__grow_rcvbuf(agent *a) {
  uv_os_fd_t fd;
  int want = 4 << 20;
  if (uv_fileno((uv_handle_t *)&a->udp, &fd) == 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0)
    return;
  uv_recv_buffer_size((uv_handle_t *)&a->udp, &want);
}

static int agent__fail(agent *a, const char *msg, const char *what, int rc) {
  agent__log(VIGIL_LOG_ERROR, msg, "address=%s error=\"%s\"", what, uv_strerror(rc));
  a->exit_code = 1;
  return 1;
}

static int agent__start(agent *a, const vigil_agent_config *cfg) {
  struct sockaddr_storage listen_addr, http_addr;
  if (agent__sockaddr(cfg->listen, &listen_addr) != 0)
    return agent__fail(a, "bad listen address", cfg->listen, UV_EINVAL);
  const char *self = cfg->advertise ? cfg->advertise : cfg->listen;
  if (agent__wildcard(self)) {
    agent__log(VIGIL_LOG_ERROR, "a wildcard listen address needs --advertise", "listen=%s", cfg->listen);
    return 1;
  }
  struct sockaddr_storage self_addr;
  if (agent__sockaddr(self, &self_addr) != 0)
    return agent__fail(a, "advertised pname must be ip:port", self, UV_EINVAL);
  vigil__copy(a->self, sizeof a->self, self);

  const char *why = NULL;
  vigil_pool_config pc;
  vigil_pool_config_init(&pc);
  pc.dc = cfg->dc;
  pc.detector = cfg->detector;
  /* Before any interval is known the detector assumes one: assume the
   * configured gossip interval, so a peer is not judged by a 200 ms
   * estimate in a cluster that gossips every second. */
  pc.detector.first_estimate = cfg->interval;
  a->pool = vigil_pool_new(&pc, &why);
  if (!a->pool) {
    agent__log(VIGIL_LOG_ERROR, "bad detector settings", "error=\"%s\"", why ? why : "out of memory");
    return 1;
  }
  a->h = vigil_handler_new(a->pool);
  a->ev = vigil_events_new(1024);
  a->met = vigil_metrics_new();
  if (!a->h || !a->ev || !a->met) return agent__fail(a, "out of memory", self, UV_ENOMEM);
  vigil_handler_attach_events(a->h, a->ev);
  vigil_handler_attach_metrics(a->h, a->met);
  vigil_handler_set_interval(a->h, cfg->tick);
  vigil_events_subscribe(a->ev, &a->sub);

  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  vigil_members_config mc;
  vigil_members_config_init(&mc);
  mc.self = self;
  mc.dc = cfg->dc;
  mc.rack = cfg->rack;
  mc.tokens = cfg->tokens;
  mc.ntokens = cfg->ntokens;
  /* Milliseconds of wall clock: a restart a second later still counts as
   * newer; a clock stepped backwards across a restart would not. */
  mc.generation = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
  mc.fanout = cfg->fanout;
  a->cfg_fanout = cfg->fanout;
  a->cfg_interval = cfg->interval;
  mc.reap_after = cfg->reap_after;
  mc.keyring = cfg->keyring;
  mc.seed = mc.generation ^ (uint64_t)uv_os_getpid() << 32;
  a->started = uv_hrtime();
  a->m = vigil_members_new(a->h, &mc, a->started, &why);
  if (!a->m) {
    agent__log(VIGIL_LOG_ERROR, "bad membership settings", "error=\"%s\"", why ? why : "out of memory");
    return 1;
  }
  for (uint32_t i = 0; i < cfg->nseeds; i++) {
    if (vigil_members_add_seed(a->m, cfg->seeds[i], NULL) != VIGIL_OK) {
      agent__log(VIGIL_LOG_ERROR, "bad seed", "seed=%s", cfg->seeds[i]);
      return 1;
    }
  }

  a->rxbuf = malloc(RX_CHUNK * RX_SLOTS); /* untouched pages cost no memory */
  if (!a->rxbuf) return agent__fail(a, "out of memory", self, UV_ENOMEM);
  /* recvmmsg: up to RX_SLOTS datagrams per system call under load. */
  int rc = uv_udp_init_ex(&a->loop, &a->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
  a->udp.data = a;
  if (!rc) rc = uv_udp_bind(&a->udp, (const struct sockaddr *)&listen_addr, 0);
  if (rc) return agent__fail(a, "cannot bind the gossip socket", cfg->listen, rc);
  agent__grow_rcvbuf(a);
  agent__want_errors(a, listen_addr.ss_family);
  uv_udp_recv_start(&a->udp, agent__alloc, agent__recv);

  if (cfg->http && *cfg->http) {
    if (agent__sockaddr(cfg->http, &http_addr) != 0) return agent__fail(a, "bad http address", cfg->http, UV_EINVAL);
    a->http.route = agent__route;
    a->http.ud = a;
    rc = vigil__http_start(&a->http, &a->loop, (const struct sockaddr *)&http_addr);
    if (rc) return agent__fail(a, "cannot listen for http", cfg->http, rc);
    a->http_on = true;
  }

  uv_timer_init(&a->loop, &a->gossip);
  uv_timer_init(&a->loop, &a->tick);
  uv_timer_init(&a->loop, &a->due);
  a->gossip.data = a->tick.data = a->due.data = a;
  uint64_t interval_ms = cfg->interval / VIGIL_MS ? cfg->interval / VIGIL_MS : 1;
  uint64_t tick_ms = cfg->tick / VIGIL_MS ? cfg->tick / VIGIL_MS : 1;
  uv_timer_start(&a->gossip, agent__on_gossip, 0, interval_ms);
  uv_timer_start(&a->tick, agent__on_tick, tick_ms, tick_ms);

  uv_signal_init(&a->loop, &a->sigint);
  uv_signal_init(&a->loop, &a->sigterm);
  uv_signal_init(&a->loop, &a->sighup);
  a->sigint.data = a->sigterm.data = a->sighup.data = a;
  uv_signal_start(&a->sigint, agent__on_stop, SIGINT);
  uv_signal_start(&a->sigterm, agent__on_stop, SIGTERM);
  uv_signal_start(&a->sighup, agent__on_hup, SIGHUP);

  agent__log(VIGIL_LOG_INFO, "agent started",
             "self=%s listen=%s http=%s generation=%llu seeds=%u interval_ms=%llu fanout=%u threshold=%g "
             "authenticated=%s version=%s",
             self, cfg->listen, a->http_on ? cfg->http : "off", (unsigned long long)mc.generation, cfg->nseeds,
             (unsigned long long)interval_ms, cfg->fanout, cfg->detector.threshold, cfg->keyring ? "yes" : "no",
             VIGIL_VERSION);
  if (!cfg->keyring)
    agent__log(VIGIL_LOG_WARN, "gossip is unauthenticated: anyone who can reach the gossip port can forge heartbeats",
               "listen=%s hint=\"start every agent with --keyring FILE\"", cfg->listen);
  if (cfg->policy) {
    if (!cfg->policy_host) {
      agent__log(VIGIL_LOG_ERROR, "a policy was given but this build has no policy runtime", "policy=%s", cfg->policy);
      return 1;
    }
    uv_async_init(&a->loop, &a->core_wake, agent__on_core_wake);
    a->core_wake.data = a;
    a->bridge =
        vigil_bridge_new(cfg->policy_queue ? cfg->policy_queue : 1024, NULL, NULL, agent__wake_core, &a->core_wake);
    if (!a->bridge) return agent__fail(a, "out of memory", self, UV_ENOMEM);
    agent__publish_snapshot(a, uv_hrtime());
    if (cfg->policy_host->start(cfg->policy_host->ud, a->bridge, cfg->policy) != 0) {
      agent__log(VIGIL_LOG_ERROR, "cannot start the policy runtime", "policy=%s", cfg->policy);
      return 1;
    }
    a->policy_on = true;
  }
  return 0;
}

static void agent__free(agent *a) {
  free(a->rxbuf);
  if (!a->policy_on) vigil_bridge_free(a->bridge); /* a detached script thread may still hold it */
  vigil_members_free(a->m);
  vigil_handler_free(a->h);
  vigil_events_free(a->ev);
  vigil_metrics_free(a->met);
  vigil_pool_free(a->pool);
}

int vigil_agent_run(const vigil_agent_config *cfg) {
  agent *a = calloc(1, sizeof *a);
  if (!a) return 1;
  log_level = cfg->log_level;
  a->cfg = cfg;
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&a->loop);
  int rc = agent__start(a, cfg);
  if (rc == 0) uv_run(&a->loop, UV_RUN_DEFAULT);
  /* The script thread gets 2 s to finish what it is doing (a handler past
   * its budget is interrupted within that); then the process exits anyway. */
  if (a->policy_on) cfg->policy_host->stop(cfg->policy_host->ud, 2000);
  /* Close every handle (listeners, timers, signals, HTTP connections) and
   * let the loop finish their callbacks. */
  uv_walk(&a->loop, agent__close_walk, NULL);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  uv_loop_close(&a->loop);
  agent__free(a);
  rc = rc ? rc : a->exit_code;
  free(a);
  return rc;
}
