/*
 * flood.c - send heartbeats from many fake peers to one agent, at a set
 * rate, for bench/micro/intake.lua: `flood host:port rate seconds npeers`.
 *
 * Frames are encoded once per peer and their version patched in place (it
 * is written as a fixed 4-byte msgpack uint32), so the sender costs little
 * more than the sendmmsg calls. Prints the number of datagrams sent.
 *
 * An agent counts a frame only from the address it names (docs/PROTOCOL.md,
 * "Admission"): fake peer i is 127.100.x.y on the socket's port, and each
 * datagram leaves from its peer's address (IP_PKTINFO's source, on one
 * socket: every 127.0.0.0/8 address is local).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vigil.h"

#define BATCH 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: flood host:port rate seconds npeers\n");
    return 2;
  }
  char host[64];
  int port;
  if (sscanf(argv[1], "%63[^:]:%d", host, &port) != 2) return 2;
  double rate = atof(argv[2]), seconds = atof(argv[3]);
  int npeers = atoi(argv[4]);
  if (npeers < 1 || npeers > 60000 || rate <= 0) return 2;

  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, host, &to.sin_addr);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sndbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in me = {0};
  me.sin_family = AF_INET;
  socklen_t melen = sizeof me;
  if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 || getsockname(fd, (struct sockaddr *)&me, &melen) != 0) {
    perror("flood: bind");
    return 1;
  }
  unsigned my_port = ntohs(me.sin_port);
  struct in_addr *src = malloc((size_t)npeers * sizeof *src);

  /* One frame per fake peer; remember where its 4-byte version sits. */
  uint8_t(*frames)[VIGIL_FRAME_MAX] = malloc((size_t)npeers * VIGIL_FRAME_MAX);
  int *lens = malloc((size_t)npeers * sizeof *lens), *voff = malloc((size_t)npeers * sizeof *voff);
  uint32_t *ver = malloc((size_t)npeers * sizeof *ver);
  static vigil_frame f;
  for (int i = 0; i < npeers; i++) {
    memset(&f, 0, sizeof f);
    f.type = VIGIL_FRAME_HEARTBEAT;
    char ip[32];
    snprintf(ip, sizeof ip, "127.%d.%d.%d", 100 + i / 62500, (i / 250) % 250, i % 250 + 1);
    inet_pton(AF_INET, ip, &src[i]);
    snprintf(f.from, sizeof f.from, "%s:%u", ip, my_port);
    f.generation = 1;
    f.version = 0x01000000; /* encoded as ce + 4 bytes */
    ver[i] = 0x01000000;
    lens[i] = vigil_frame_encode(&f, NULL, frames[i], VIGIL_FRAME_MAX);
    voff[i] = -1;
    for (int k = 0; k + 4 < lens[i]; k++)
      if (frames[i][k] == 0x04 && frames[i][k + 1] == 0xce && frames[i][k + 2] == 0x01 && frames[i][k + 3] == 0 &&
          frames[i][k + 4] == 0)
        voff[i] = k + 2;
    if (voff[i] < 0) {
      fprintf(stderr, "flood: version not found in frame\n");
      return 1;
    }
  }

  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  /* each row a multiple of CMSG_ALIGN's unit (size_t), the array aligned to it */
  _Alignas(size_t) char ctl[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
  memset(msgs, 0, sizeof msgs);
  memset(ctl, 0, sizeof ctl);
  long sent = 0, next_peer = 0;
  double t0 = now_s(), end = t0 + seconds;
  for (;;) {
    double t = now_s();
    if (t >= end) break;
    long due = (long)((t - t0) * rate);
    if (sent >= due) {
      struct timespec nap = {0, 50000};
      nanosleep(&nap, NULL);
      continue;
    }
    int n = (int)(due - sent < BATCH ? due - sent : BATCH);
    for (int k = 0; k < n; k++) {
      int p = (int)(next_peer++ % npeers);
      uint32_t v = ++ver[p];
      uint8_t *b = frames[p] + voff[p];
      b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
      iov[k].iov_base = frames[p];
      iov[k].iov_len = (size_t)lens[p];
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_name = &to;
      msgs[k].msg_hdr.msg_namelen = sizeof to;
      msgs[k].msg_hdr.msg_control = ctl[k];
      msgs[k].msg_hdr.msg_controllen = sizeof ctl[k];
      struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);
      memset(pi, 0, sizeof *pi);
      pi->ipi_spec_dst = src[p]; /* the datagram leaves from its fake peer's address */
    }
    int r = sendmmsg(fd, msgs, (unsigned)n, 0);
    if (r > 0) sent += r;
  }
  printf("%ld\n", sent);
  return 0;
}
