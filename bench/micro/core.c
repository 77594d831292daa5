/*
 * bench/micro/core.c - the core's hot paths, timed (make bench).
 *
 * What it measures, each as the median of RUNS runs taken in one process,
 * side by side, so the ratios hold even on a noisy shared machine:
 *   - phi() per call, model normal and exponential, 1000-sample window;
 *   - record_heartbeat per call, by idx and by pname, over 10,000 peers;
 *   - evaluate() over 10,000 peers (all healthy: the steady state);
 *   - memory per peer at 1000 samples, computed from the structures and
 *     measured with glibc's mallinfo2 while adding 10,000 peers (and after
 *     their first heartbeat: windows grow as samples arrive);
 * It prints the machine first and the targets next to each figure.
 * Never part of `make test`: timings are not assertions.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "vigil.h"

#define RUNS  9
#define PEERS 10000

static volatile double sink;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static void print_machine(void) {
  struct utsname u;
  uname(&u);
  char model[256] = "unknown";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) == 0) {
        char *c = strchr(line, ':');
        if (c) {
          snprintf(model, sizeof model, "%s", c + 2);
          model[strcspn(model, "\n")] = 0;
        }
        break;
      }
    }
    fclose(f);
  }
  printf("machine: %s, %ld cores, %s %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine);
  printf("vigil %s, median of %d runs each\n\n", VIGIL_VERSION, RUNS);
}

/* A detector with a full 1000-sample window of ~200 ms intervals. */
static void full_detector(vigil_detector *d, vigil_detector_config *c, vigil_model model) {
  vigil_detector_config_init(c);
  c->model = model;
  c->max_samples = 1000;
  c->min_mean = 100 * VIGIL_MS;
  vigil_detector_init(d, c);
  vigil_time t = 0;
  for (int i = 0; i < 1200; i++) vigil_detector_heartbeat(d, t += 200 * VIGIL_MS + (vigil_time)(i % 7) * VIGIL_MS);
}

static double bench_phi(vigil_model model) {
  vigil_detector_config c;
  vigil_detector d;
  full_detector(&d, &c, model);
  const int n = 5000000;
  double runs[RUNS];
  for (int r = 0; r < RUNS; r++) {
    vigil_time base = d.last;
    double acc = 0, t0 = now_ns();
    for (int i = 0; i < n; i++) acc += vigil_detector_phi(&d, base + (vigil_time)(i & 1023) * VIGIL_MS);
    runs[r] = (now_ns() - t0) / n;
    sink = acc;
  }
  vigil_detector_free(&d);
  return median(runs, RUNS);
}

typedef struct cluster {
  vigil_pool *pool;
  vigil_handler *h;
  vigil_metrics *m;
  vigil_events *ev;
  char (*names)[32];
} cluster;

static void cluster_new(cluster *c, int peers) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.capacity = (uint32_t)peers;
  c->pool = vigil_pool_new(&cfg, NULL);
  c->h = vigil_handler_new(c->pool);
  c->m = vigil_metrics_new();
  c->ev = vigil_events_new(1024);
  vigil_handler_attach_metrics(c->h, c->m);
  vigil_handler_attach_events(c->h, c->ev);
  vigil_handler_set_interval(c->h, 100 * VIGIL_MS);
  c->names = malloc((size_t)peers * sizeof *c->names);
  for (int i = 0; i < peers; i++) {
    snprintf(c->names[i], sizeof c->names[i], "10.%d.%d.%d:8101", i >> 16, (i >> 8) & 255, i & 255);
    vigil_peer_spec s = {c->names[i], NULL, NULL, NULL, 0, false, false, NULL};
    vigil_pool_add(c->pool, &s, 0, NULL);
  }
}

static void cluster_free(cluster *c) {
  vigil_handler_free(c->h);
  vigil_metrics_free(c->m);
  vigil_events_free(c->ev);
  vigil_pool_free(c->pool);
  free(c->names);
}

/* Every peer heartbeats every 200 ms for `rounds` rounds from *t. */
static void warm(cluster *c, int peers, int rounds, vigil_time *t) {
  for (int r = 0; r < rounds; r++) {
    *t += 200 * VIGIL_MS;
    for (int i = 0; i < peers; i++) vigil_handler_record_heartbeat_idx(c->h, (uint32_t)i, *t + (vigil_time)i);
    vigil_handler_evaluate(c->h, *t + 150 * VIGIL_MS, NULL);
  }
}

static void bench_heartbeat(double *by_idx, double *by_pname) {
  cluster c;
  cluster_new(&c, PEERS);
  vigil_time t = 0;
  warm(&c, PEERS, 20, &t);
  double ri[RUNS], rp[RUNS];
  for (int r = 0; r < RUNS; r++) {
    const int rounds = 50;
    double t0 = now_ns();
    for (int k = 0; k < rounds; k++) {
      t += 200 * VIGIL_MS;
      for (int i = 0; i < PEERS; i++) vigil_handler_record_heartbeat_idx(c.h, (uint32_t)i, t + (vigil_time)i);
    }
    ri[r] = (now_ns() - t0) / ((double)rounds * PEERS);
    t0 = now_ns();
    for (int k = 0; k < rounds; k++) {
      t += 200 * VIGIL_MS;
      for (int i = 0; i < PEERS; i++) vigil_handler_record_heartbeat_pname(c.h, c.names[i], t + (vigil_time)i);
    }
    rp[r] = (now_ns() - t0) / ((double)rounds * PEERS);
    vigil_handler_evaluate(c.h, t + 100 * VIGIL_MS, NULL);
  }
  *by_idx = median(ri, RUNS);
  *by_pname = median(rp, RUNS);
  cluster_free(&c);
}

static double bench_evaluate(size_t *transitions) {
  cluster c;
  cluster_new(&c, PEERS);
  vigil_time t = 0;
  warm(&c, PEERS, 20, &t);
  double runs[RUNS];
  *transitions = 0;
  for (int r = 0; r < RUNS; r++) {
    warm(&c, PEERS, 1, &t); /* fresh heartbeats, then time 20 ticks */
    double t0 = now_ns();
    for (int k = 0; k < 20; k++) *transitions += vigil_handler_evaluate(c.h, t + (vigil_time)k * VIGIL_MS, NULL);
    runs[r] = (now_ns() - t0) / 20;
  }
  cluster_free(&c);
  return median(runs, RUNS);
}

/* Heap bytes per peer once every peer has been heard `rounds` times. */
static double bench_heap_per_peer(int rounds) {
  struct mallinfo2 before = mallinfo2();
  cluster cl;
  cluster_new(&cl, PEERS);
  vigil_time t = 0;
  warm(&cl, PEERS, rounds, &t); /* allocates the handler's result buffer too */
  struct mallinfo2 after = mallinfo2();
  double names = (double)PEERS * sizeof *cl.names; /* the bench's own strings */
  cluster_free(&cl);
  return ((double)after.uordblks + (double)after.hblkhd - (double)before.uordblks - (double)before.hblkhd - names) /
         PEERS;
}

static void bench_memory(double *computed, double *measured, double *fresh) {
  /* Computed: the peer slot, its 1000-sample window, its share of the hash
   * table (8-byte buckets, at most half full) and of the results buffer. */
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  *computed = (double)sizeof(vigil_peer) + 1000.0 * 4 + 2 * 8 + sizeof(vigil_transition);

  /* Windows grow as samples arrive: measured full (1000 intervals, 1001
   * heartbeats) and fresh (one heartbeat). */
  *measured = bench_heap_per_peer(1001);
  *fresh = bench_heap_per_peer(1);
}

/* A heartbeat as the agent sends it: its own fields and a digest of
 * `entries` peers (32, the most, to a fanout; 8 when it goes to every peer). */
static void full_frame(vigil_frame *f, uint32_t entries) {
  memset(f, 0, sizeof *f);
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "10.0.0.1:7946");
  f->generation = 1764151200123ull;
  f->version = 123456;
  snprintf(f->dc, sizeof f->dc, "dc1");
  snprintf(f->rack, sizeof f->rack, "rack1");
  f->has_state = true;
  f->state = VIGIL_STATE_NORMAL;
  f->ntokens = 1;
  vigil_token_from_u32(&f->tokens[0], 101134286);
  f->ndigest = entries;
  for (uint32_t i = 0; i < f->ndigest; i++) {
    snprintf(f->digest[i].pname, sizeof f->digest[i].pname, "10.0.%u.%u:7946", i / 200, i % 200 + 2);
    f->digest[i].generation = 1764151200000ull + i;
    f->digest[i].incarnation = 100000 + i * 7;
  }
}

static void bench_frames(uint32_t entries, double *enc, double *dec, int *bytes) {
  static vigil_frame f, g;
  full_frame(&f, entries);
  uint8_t buf[VIGIL_FRAME_MAX];
  *bytes = vigil_frame_encode(&f, NULL, buf, sizeof buf);
  double re[RUNS], rd[RUNS];
  const int n = 200000;
  for (int r = 0; r < RUNS; r++) {
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
      f.version++;
      sink += vigil_frame_encode(&f, NULL, buf, sizeof buf);
    }
    re[r] = (now_ns() - t0) / n;
    t0 = now_ns();
    for (int i = 0; i < n; i++) sink += vigil_frame_decode(buf, (size_t)*bytes, NULL, &g);
    rd[r] = (now_ns() - t0) / n;
  }
  *enc = median(re, RUNS);
  *dec = median(rd, RUNS);
}

static const char *verdict(double v, double target) { return v <= target ? "ok" : "OVER TARGET"; }

int main(void) {
  print_machine();
  double phi_n = bench_phi(VIGIL_MODEL_NORMAL);
  double phi_e = bench_phi(VIGIL_MODEL_EXPONENTIAL);
  double hb_idx, hb_pname;
  bench_heartbeat(&hb_idx, &hb_pname);
  size_t tr;
  double ev = bench_evaluate(&tr);
  double mem_c, mem_m, mem_f;
  bench_memory(&mem_c, &mem_m, &mem_f);
  double enc, dec, enc8, dec8;
  int frame_bytes, frame8_bytes;
  bench_frames(VIGIL_DIGEST_MAX, &enc, &dec, &frame_bytes);
  bench_frames(8, &enc8, &dec8, &frame8_bytes);

  printf("%-44s %12s %12s\n", "measure", "median", "target");
  printf("%-44s %9.1f ns %9s ns  %s\n", "phi(), model normal", phi_n, "<= 40", verdict(phi_n, 40));
  printf("%-44s %9.1f ns %9s ns  %s\n", "phi(), model exponential", phi_e, "<= 40", verdict(phi_e, 40));
  printf("%-44s %9.1f ns %9s ns  %s\n", "record_heartbeat, by idx (10k peers)", hb_idx, "<= 50", verdict(hb_idx, 50));
  printf("%-44s %9.1f ns %12s\n", "record_heartbeat, by pname (10k peers)", hb_pname, "-");
  printf("%-44s %9.3f ms %9s ms  %s\n", "evaluate(), 10,000 peers", ev / 1e6, "<= 0.5", verdict(ev / 1e6, 0.5));
  printf("%-44s %9.0f B  %9s B   %s\n", "memory per peer, 1000 samples (computed)", mem_c, "<= 8704",
         verdict(mem_c, 8704));
  printf("%-44s %9.0f B  %9s B   %s\n", "memory per peer, 1000 samples (malloc'd)", mem_m, "<= 8704",
         verdict(mem_m, 8704));
  printf("%-44s %9.0f B %12s\n", "memory per peer, first heartbeat (malloc'd)", mem_f, "-");
  char label[64];
  snprintf(label, sizeof label, "frame encode, 32-entry digest (%d B)", frame_bytes);
  printf("%-44s %9.1f ns %12s\n", label, enc, "-");
  snprintf(label, sizeof label, "frame decode, 32-entry digest (%d B)", frame_bytes);
  printf("%-44s %9.1f ns %12s\n", label, dec, "-");
  snprintf(label, sizeof label, "frame encode, 8-entry digest (%d B)", frame8_bytes);
  printf("%-44s %9.1f ns %12s\n", label, enc8, "-");
  snprintf(label, sizeof label, "frame decode, 8-entry digest (%d B)", frame8_bytes);
  printf("%-44s %9.1f ns %12s\n", label, dec8, "-");
  printf("\nratios: exponential/normal phi %.2f, pname/idx heartbeat %.2f, evaluate per peer %.1f ns\n", phi_e / phi_n,
         hb_pname / hb_idx, ev / PEERS);
  printf("(evaluate saw %zu transitions while timed: 0 means the steady state was measured)\n", tr);
  return 0;
}
