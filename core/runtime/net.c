/*
 * net.c - the agent's gossip socket: UDP in and out, and its error queue.
 *
 * Owns: the UDP socket's set-up (receive buffer, IP_RECVERR), turning
 * datagrams into vigil_node_receive calls and ICMP "port unreachable"
 * errors into vigil_node_refused calls, and sending the frames the node
 * produces.
 *
 * Must never: block or queue. Datagrams are sent with uv_udp_try_send: a
 * frame the kernel will not take now is counted and dropped, because the
 * next interval carries fresher news anyway. Every datagram and every
 * error-queue entry is bounded work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "runtime.h"

#define RX_CHUNK 65536 /* libuv's per-datagram chunk with UV_UDP_RECVMMSG */
#define RX_SLOTS 32    /* datagrams per recvmmsg under load */

int vigil__net_sockaddr(const char *pname, struct sockaddr_storage *out) {
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

bool vigil__net_wildcard(const char *pname) {
  return strncmp(pname, "0.0.0.0:", 8) == 0 || strncmp(pname, "[::]:", 5) == 0;
}

/* A sockaddr as a pname ("ip:port", "[ip6]:port", canonical as pnames
 * are, so that a frame's sender compares with it as text); "" when not
 * IP. An IPv4 peer seen through a dual-stack socket (::ffff:a.b.c.d) is
 * named as IPv4. */
static void net__pname(const struct sockaddr *sa, char *out, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "";
  out[0] = '\0';
  if (sa->sa_family == AF_INET && uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip) == 0) {
    snprintf(out, cap, "%s:%u", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, sizeof ip))
      snprintf(out, cap, "%s:%u", ip, ntohs(s6->sin6_port));
    else if (uv_ip6_name(s6, ip, sizeof ip) == 0)
      snprintf(out, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
  }
}

int vigil__net_send(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  vigil__agent *a = ud;
  struct sockaddr_storage to;
  if (vigil__net_sockaddr(pname, &to) != 0) {
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
 * vigil_node_refused). Read to the end, or epoll keeps reporting the
 * socket. Bounded: the queue holds what the receive buffer allows.
 */
static void net__read_errqueue(vigil__agent *a, vigil_time now) {
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
    char pname[VIGIL_PNAME_MAX];
    net__pname((const struct sockaddr *)&dst, pname, sizeof pname);
    int rc = vigil_node_refused(a->node, pname[0] ? pname : NULL, now);
    char q[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)];
    if (vigil__log_enabled(VIGIL_LOG_DEBUG))
      vigil__logf(VIGIL_LOG_DEBUG, "port unreachable", "peer=%s known=%s",
                  vigil__log_quote(q, sizeof q, pname[0] ? pname : "?"), rc >= 0 ? "yes" : "no");
  }
}

static void net__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  vigil__agent *a = h->data;
  *buf = uv_buf_init((char *)a->rxbuf, RX_CHUNK * RX_SLOTS);
}

/* A frame with the wrong key, or none, is what a cluster with mismatched
 * keyrings looks like: agents that never see each other; one whose sender
 * is not its source address is a forgery or an agent behind NAT; one sent
 * too far from our clock is a replay or a clock out of sync. Say so at
 * warn, with the source, at most once every TRUST_WARN_EVERY (a flood of
 * them cannot flood the log); the frames between are counted in the next
 * warning and, all of them, in vigil_frames_rejected_total. */
#define TRUST_WARN_EVERY (10 * VIGIL_SEC)

/* What a rejection that speaks of trust says (the frame's key, source or
 * clock); false for the others, which only reach the debug log. */
static bool net__trust_text(int rc, const char **msg, const char **hint) {
  switch (rc) {
  case VIGIL_FRAME_EAUTH:
    *msg = "frame sealed with a key not in our keyring";
    *hint = "the sender's keyring shares no key with ours";
    return true;
  case VIGIL_FRAME_EENCRYPTED:
    *msg = "encrypted frame, and we have no keyring";
    *hint = "the sender runs with --keyring and we do not; every agent needs the same keyring";
    return true;
  case VIGIL_FRAME_EUNSIGNED:
    *msg = "plaintext frame, and we have a keyring";
    *hint = "the sender runs without --keyring; every agent needs the same keyring";
    return true;
  case VIGIL_FRAME_ESOURCE:
    *msg = "frame names another sender than its source address";
    *hint = "a forgery, or an agent whose packets leave from another address than it advertises (NAT, "
            "--advertise): agents must reach each other at the addresses they advertise";
    return true;
  case VIGIL_FRAME_ESKEW:
    *msg = "frame sent too far from our clock";
    *hint = "a replayed frame, or clocks out of sync: run NTP on every agent, or raise --max-clock-skew";
    return true;
  case VIGIL_FRAME_EGENERATION:
    *msg = "frame from a generation ahead of our clock";
    *hint = "a forgery, or the sender's clock is ahead of ours: run NTP on every agent";
    return true;
  default: return false;
  }
}

static void net__trust_warning(vigil__agent *a, int rc, const char *msg, const char *hint, const char *src,
                               vigil_time now) {
  if (a->key_warned_at && now - a->key_warned_at < TRUST_WARN_EVERY) {
    a->key_suppressed++;
    return;
  }
  char q[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)];
  vigil__logf(VIGIL_LOG_WARN, msg, "from=%s reason=%s hint=\"%s\" not_logged_since_last=%llu",
              vigil__log_quote(q, sizeof q, src), vigil_frame_reason(rc), hint, (unsigned long long)a->key_suppressed);
  a->key_warned_at = now;
  a->key_suppressed = 0;
}

static void net__recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags) {
  vigil__agent *a = u->data;
  if (n < 0 || (a->errqueue_pending && !from)) { /* an ICMP error for a datagram we sent */
    vigil_time now = uv_hrtime();
    net__read_errqueue(a, now);
    vigil__agent_settle(a, now);
    return;
  }
  if (n == 0 || !from) return; /* nothing, or the end of a batch */
  size_t len = (size_t)n;
  if (flags & UV_UDP_PARTIAL) len = RX_CHUNK; /* truncated by the kernel: too big */
  vigil_time now = uv_hrtime();
  char src[VIGIL_PNAME_MAX];
  net__pname(from, src, sizeof src);
  int rc = vigil_node_receive(a->node, (const uint8_t *)buf->base, len, src[0] ? src : NULL, now);
  const char *msg, *hint;
  if (net__trust_text(rc, &msg, &hint))
    net__trust_warning(a, rc, msg, hint, src[0] ? src : "?", now);
  else if (rc != VIGIL_OK && vigil__log_enabled(VIGIL_LOG_DEBUG)) {
    char q[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)];
    vigil__logf(VIGIL_LOG_DEBUG, "frame rejected", "reason=%s from=%s bytes=%zu", vigil_frame_reason(rc),
                vigil__log_quote(q, sizeof q, src[0] ? src : "?"), len);
  }
  vigil__agent_settle(a, now);
}

/* A burst of frames (every peer's heartbeat landing in the same
 * millisecond, or a flood) must wait in the kernel, not be dropped there:
 * ask for 4 MiB. SO_RCVBUFFORCE passes net.core.rmem_max when the agent may
 * (root or CAP_NET_ADMIN); otherwise SO_RCVBUF gets what the limit allows. */
static void net__grow_rcvbuf(vigil__agent *a) {
  uv_os_fd_t fd;
  int want = 4 << 20;
  if (uv_fileno((uv_handle_t *)&a->udp, &fd) == 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0)
    return;
  uv_recv_buffer_size((uv_handle_t *)&a->udp, &want);
}

/* Ask the kernel for ICMP errors about our datagrams (port unreachable). */
static void net__want_errors(vigil__agent *a, int family) {
  uv_os_fd_t fd;
  int on = 1;
  if (uv_fileno((uv_handle_t *)&a->udp, &fd) != 0) return;
  if (family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
  else
    setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
}

int vigil__net_start(vigil__agent *a, const struct sockaddr_storage *addr) {
  a->rxbuf = malloc(RX_CHUNK * RX_SLOTS); /* untouched pages cost no memory */
  if (!a->rxbuf) return UV_ENOMEM;
  /* recvmmsg: up to RX_SLOTS datagrams per system call under load. */
  int rc = uv_udp_init_ex(&a->loop, &a->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
  a->udp.data = a;
  if (!rc) rc = uv_udp_bind(&a->udp, (const struct sockaddr *)addr, 0);
  if (rc) return rc;
  net__grow_rcvbuf(a);
  net__want_errors(a, addr->ss_family);
  return uv_udp_recv_start(&a->udp, net__alloc, net__recv);
}
