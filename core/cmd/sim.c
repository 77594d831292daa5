/*
 * sim.c - `vigil sim`: run a cluster scenario on the simulator
 * (core/sim/, vigil_sim.h) and print what happened.
 *
 * Owns: the scenario -- when agents are killed, stopped and stalled, chosen
 * from the seed so a run is repeatable -- and the report: false alarms,
 * detection times per surviving observer (median, p99, max, missed),
 * frames, bytes and node time per agent-second, convergence, as a table or
 * as one JSON document.
 *
 * Must never: decide anything about membership (every verdict is a real
 * node's) or read a clock for anything but the report's node time and wall
 * time.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cmd.h"
#include "vigil_sim.h"

static const char usage_sim[] =
    "usage: vigil sim [flags]\n"
    "\n"
    "Simulate a cluster on the real membership code (every agent is a real node) over an\n"
    "in-memory network in virtual time, inject failures, and report false alarms,\n"
    "detection times, traffic and convergence. The same --seed gives the same run.\n"
    "\n"
    "flags:\n"
    "  --agents n             agents (default 5)\n"
    "  --interval duration    gossip interval (default 200ms)\n"
    "  --observers n          observers per agent, K (default 8; a cluster of K + 1 or fewer\n"
    "                         agents has everyone observe everyone)\n"
    "  --quorum n             alerts from a subject's observers that convict it (default 5)\n"
    "  --duration duration    simulated time (default 60s)\n"
    "  --loss fraction        datagrams lost on every link, 0 to 1 (default 0)\n"
    "  --delay duration       one-way latency (default 0.2ms)\n"
    "  --jitter duration      standard deviation of the latency (default 0.05ms)\n"
    "  --kill n               agents killed (kill -9: their hosts refuse) (default 0)\n"
    "  --stop n               agents stopped (SIGSTOP, host gone: silence) (default 0)\n"
    "  --stall-every duration one agent somewhere stalls this often (default: never)\n"
    "  --stall duration       how long a stall lasts (default 2s)\n"
    "  --warmup duration      no fault before this (default: a quarter of --duration)\n"
    "  --seeds n              the first n agents are everyone's seeds (default 1)\n"
    "  --threshold phi        conviction threshold (default 8)\n"
    "  --acceptable-pause d   the detector's acceptable pause (default 2s)\n"
    "  --window n             detector window, samples (default 1000)\n"
    "  --seed n               random seed (default 1)\n"
    "  --json                 print one JSON document instead of a table\n"
    "  --cdf file             also write every detection time to file, as CSV lines\n"
    "                         kind,seconds (kind kill or silent), for plots\n"
    "\n"
    "Kills and stops are spread evenly from --warmup to three quarters of --duration, on\n"
    "agents other than the seeds; the rest of the run is for detecting them. A false alarm\n"
    "is a peer_down, at any observer, about an agent whose process is alive (stalled\n"
    "ones included). Detection times run from the failure to each surviving observer's\n"
    "peer_down; `missed` counts observers that never convicted within the run.\n";

typedef struct scenario {
  vigil_sim_config cfg;
  vigil_time duration, warmup, stall_every, stall;
  uint32_t kills, stops;
  bool json;
  const char *cdf; /* write every detection time here (CSV) */
} scenario;

static double parse_fraction(const char *cmd, const char *flag, const char *v) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !(x >= 0 && x <= 1)) die(2, cmd, "%s: expected a fraction from 0 to 1, got '%s'", flag, v);
  return x;
}

static double parse_positive(const char *cmd, const char *flag, const char *v) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !(x > 0) || !isfinite(x)) die(2, cmd, "%s: expected a positive number, got '%s'", flag, v);
  return x;
}

static void sim__parse(args *a, scenario *sc) {
  vigil_sim_config_init(&sc->cfg);
  sc->cfg.agents = 5;
  sc->duration = 60 * VIGIL_SEC;
  sc->stall = 2 * VIGIL_SEC;
  sc->warmup = UINT64_MAX;
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i], *v;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_sim, stdout);
      exit(0);
    } else if (is_flag(arg, "--agents", &v)) {
      sc->cfg.agents = (uint32_t)parse_uint(a->cmd, "--agents", flag_value(a, "--agents", v), 62500);
    } else if (is_flag(arg, "--interval", &v)) {
      sc->cfg.interval = parse_duration(a->cmd, "--interval", flag_value(a, "--interval", v));
    } else if (is_flag(arg, "--observers", &v)) {
      sc->cfg.observers = (uint32_t)parse_uint(a->cmd, "--observers", flag_value(a, "--observers", v), 16);
      if (!sc->cfg.observers) die(2, a->cmd, "--observers: from 1 to 16");
    } else if (is_flag(arg, "--quorum", &v)) {
      sc->cfg.quorum = (uint32_t)parse_uint(a->cmd, "--quorum", flag_value(a, "--quorum", v), 16);
      if (sc->cfg.quorum < 2) die(2, a->cmd, "--quorum: from 2 to the number of observers");
    } else if (is_flag(arg, "--fanout", &v)) {
      die(2, a->cmd, "--fanout: removed; each agent now talks to its observers and subjects only (docs/PROTOCOL.md)");
    } else if (is_flag(arg, "--duration", &v)) {
      sc->duration = parse_duration(a->cmd, "--duration", flag_value(a, "--duration", v));
    } else if (is_flag(arg, "--loss", &v)) {
      sc->cfg.loss = parse_fraction(a->cmd, "--loss", flag_value(a, "--loss", v));
    } else if (is_flag(arg, "--delay", &v)) {
      sc->cfg.delay = parse_duration(a->cmd, "--delay", flag_value(a, "--delay", v));
    } else if (is_flag(arg, "--jitter", &v)) {
      sc->cfg.jitter = parse_duration(a->cmd, "--jitter", flag_value(a, "--jitter", v));
    } else if (is_flag(arg, "--kill", &v)) {
      sc->kills = (uint32_t)parse_uint(a->cmd, "--kill", flag_value(a, "--kill", v), 10000);
    } else if (is_flag(arg, "--stop", &v)) {
      sc->stops = (uint32_t)parse_uint(a->cmd, "--stop", flag_value(a, "--stop", v), 10000);
    } else if (is_flag(arg, "--stall-every", &v)) {
      sc->stall_every = parse_duration(a->cmd, "--stall-every", flag_value(a, "--stall-every", v));
    } else if (is_flag(arg, "--stall", &v)) {
      sc->stall = parse_duration(a->cmd, "--stall", flag_value(a, "--stall", v));
    } else if (is_flag(arg, "--warmup", &v)) {
      sc->warmup = parse_duration(a->cmd, "--warmup", flag_value(a, "--warmup", v));
    } else if (is_flag(arg, "--seeds", &v)) {
      sc->cfg.seeds = (uint32_t)parse_uint(a->cmd, "--seeds", flag_value(a, "--seeds", v), 62500);
    } else if (is_flag(arg, "--threshold", &v)) {
      sc->cfg.detector.threshold = parse_positive(a->cmd, "--threshold", flag_value(a, "--threshold", v));
    } else if (is_flag(arg, "--acceptable-pause", &v)) {
      sc->cfg.detector.acceptable_pause =
          parse_duration(a->cmd, "--acceptable-pause", flag_value(a, "--acceptable-pause", v));
    } else if (is_flag(arg, "--window", &v)) {
      sc->cfg.detector.max_samples =
          (uint32_t)parse_uint(a->cmd, "--window", flag_value(a, "--window", v), VIGIL_MAX_SAMPLES_LIMIT);
    } else if (is_flag(arg, "--seed", &v)) {
      sc->cfg.seed = parse_uint(a->cmd, "--seed", flag_value(a, "--seed", v), (unsigned long)-1);
    } else if (is_flag(arg, "--cdf", &v)) {
      sc->cdf = flag_value(a, "--cdf", v);
    } else if (strcmp(arg, "--json") == 0) {
      sc->json = true;
    } else {
      die(2, a->cmd, "unknown argument '%s' (see vigil sim --help)", arg);
    }
  }
  if (sc->cfg.agents < 1) die(2, a->cmd, "--agents: at least 1");
  if (sc->duration == 0) die(2, a->cmd, "--duration: must be more than 0");
  if (sc->cfg.seeds < 1 || sc->cfg.seeds > sc->cfg.agents) die(2, a->cmd, "--seeds: from 1 to --agents");
  if (sc->warmup == UINT64_MAX) sc->warmup = sc->duration / 4;
  uint32_t candidates = sc->cfg.agents - sc->cfg.seeds;
  if (sc->kills + sc->stops > candidates)
    die(2, a->cmd, "--kill + --stop: at most %u (the agents that are not seeds)", candidates);
  if (sc->stall_every && sc->stall >= sc->stall_every) die(2, a->cmd, "--stall must be shorter than --stall-every");
}

static vigil_time sim__monotonic(void *ud) {
  (void)ud;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (vigil_time)ts.tv_sec * VIGIL_SEC + (vigil_time)ts.tv_nsec;
}

static double sim__cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64, for the scenario's choices (apart from the simulator's own). */
static uint64_t sim__next(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

typedef struct action {
  vigil_time at;
  int kind; /* 0 kill, 1 stop, 2 stall, 3 the warmup ends */
} action;

static int sim__cmp_action(const void *x, const void *y) {
  const action *a = x, *b = y;
  return a->at < b->at ? -1 : a->at > b->at;
}

typedef struct summary {
  uint32_t n;
  double median, p99, max;
  uint64_t missed, already_down;
} summary;

static int sim__cmp_time(const void *x, const void *y) {
  vigil_time a = *(const vigil_time *)x, b = *(const vigil_time *)y;
  return a < b ? -1 : a > b;
}

/* Nearest-rank percentile of sorted values, in seconds. */
static double sim__pct(const vigil_time *v, size_t n, double p) {
  size_t k = (size_t)ceil(p * (double)n);
  if (k < 1) k = 1;
  return (double)v[k - 1] / 1e9;
}

/* Every detection time of every fault, as "kind,seconds" lines. */
static int sim__write_cdf(const vigil_sim *s, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  fprintf(f, "kind,seconds\n");
  for (uint32_t k = 0; k < st.faults; k++) {
    vigil_sim_fault flt;
    if (!vigil_sim_fault_get(s, k, &flt) || !flt.detected) continue;
    vigil_time *t = malloc(flt.detected * sizeof *t);
    if (!t) break;
    uint32_t n = vigil_sim_fault_detections(s, k, t, flt.detected);
    for (uint32_t i = 0; i < n && i < flt.detected; i++)
      fprintf(f, "%s,%.6f\n", flt.silent ? "silent" : "kill", (double)t[i] / 1e9);
    free(t);
  }
  return fclose(f);
}

/* Detection figures over every fault of one kind. */
static summary sim__detections(const vigil_sim *s, bool silent) {
  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  summary out = {0, NAN, NAN, NAN, 0, 0};
  vigil_time *all = NULL;
  size_t n = 0;
  for (uint32_t k = 0; k < st.faults; k++) {
    vigil_sim_fault f;
    if (!vigil_sim_fault_get(s, k, &f) || f.silent != silent) continue;
    out.missed += f.observers - f.detected;
    out.already_down += f.already_down;
    vigil_time *t = realloc(all, (n + f.detected + 1) * sizeof *t);
    if (!t) break;
    all = t;
    n += vigil_sim_fault_detections(s, k, all + n, f.detected);
  }
  if (n) {
    qsort(all, n, sizeof *all, sim__cmp_time);
    out.median = sim__pct(all, n, 0.5);
    out.p99 = sim__pct(all, n, 0.99);
    out.max = (double)all[n - 1] / 1e9;
  }
  out.n = (uint32_t)n;
  free(all);
  return out;
}

static void sim__json_num(double v) {
  if (isfinite(v))
    printf("%.6g", v);
  else
    printf("null");
}

static void sim__json_detection(const char *name, const summary *d, bool last) {
  printf("\"%s\":{\"median_s\":", name);
  sim__json_num(d->median);
  printf(",\"p99_s\":");
  sim__json_num(d->p99);
  printf(",\"max_s\":");
  sim__json_num(d->max);
  printf(",\"detected\":%u,\"missed\":%llu,\"already_down\":%llu}%s", d->n, (unsigned long long)d->missed,
         (unsigned long long)d->already_down, last ? "" : ",");
}

static void sim__table_detection(const char *name, const summary *d, uint32_t faults) {
  if (!faults) {
    printf("  %-8s none injected\n", name);
    return;
  }
  printf("  %-8s median %.2f s   p99 %.2f s   max %.2f s   detected %u   missed %llu", name, d->median, d->p99, d->max,
         d->n, (unsigned long long)d->missed);
  if (d->already_down) printf("   already down at the fault %llu", (unsigned long long)d->already_down);
  printf("\n");
}

int vigil_cmd_sim(args *a) {
  scenario sc;
  sim__parse(a, &sc);
  sc.cfg.stopwatch = sim__monotonic;
  double cpu0 = sim__cpu_seconds();
  const char *why = NULL;
  vigil_sim *s = vigil_sim_new(&sc.cfg, &why);
  if (!s) die(2, a->cmd, "%s", why ? why : "cannot create the simulation");

  /* The scenario: kills and stops evenly from warmup to 3/4 of the run,
   * stalls every stall_every after warmup. */
  uint32_t nfaults = sc.kills + sc.stops;
  vigil_time end_faults = sc.duration * 3 / 4 > sc.warmup ? sc.duration * 3 / 4 : sc.warmup;
  size_t nstalls = sc.stall_every
                       ? (size_t)((sc.duration - (sc.warmup < sc.duration ? sc.warmup : sc.duration)) / sc.stall_every)
                       : 0;
  action *acts = calloc(nfaults + nstalls + 2, sizeof *acts);
  if (!acts) die(1, a->cmd, "out of memory");
  size_t nacts = 0;
  for (uint32_t k = 0; k < nfaults; k++) {
    vigil_time at = sc.warmup + (nfaults > 1 ? (end_faults - sc.warmup) * k / (nfaults - 1) : 0);
    /* Alternate kinds so that kills and stops see the same conditions. */
    uint32_t kills_before = k * sc.kills / (nfaults ? nfaults : 1);
    uint32_t kills_after = (k + 1) * sc.kills / (nfaults ? nfaults : 1);
    acts[nacts++] = (action){at, kills_after > kills_before ? 0 : 1};
  }
  for (size_t k = 0; k < nstalls; k++) acts[nacts++] = (action){sc.warmup + sc.stall_every * (k + 1) - sc.stall, 2};
  acts[nacts++] = (action){sc.warmup < sc.duration ? sc.warmup : sc.duration, 3}; /* steady state starts */
  qsort(acts, nacts, sizeof *acts, sim__cmp_action);

  uint64_t rng = sc.cfg.seed ^ 0x5eed5eed5eedull;
  uint32_t n = sc.cfg.agents, first = sc.cfg.seeds;
  uint64_t steps = 0, stalls = 0;
  vigil_sim_stats warm;
  memset(&warm, 0, sizeof warm);
  for (size_t k = 0; k < nacts; k++) {
    if (acts[k].at >= sc.duration) break;
    steps += vigil_sim_run(s, acts[k].at, false);
    if (acts[k].kind == 3) {
      vigil_sim_stats_get(s, &warm);
      continue;
    }
    /* A victim: a random alive agent that is not a seed. */
    for (int tries = 0; tries < 1000; tries++) {
      uint32_t v = first + (uint32_t)(sim__next(&rng) % (n - first));
      if (vigil_sim_status_of(s, v) != VIGIL_SIM_ALIVE) continue;
      if (acts[k].kind == 0) vigil_sim_kill(s, v);
      if (acts[k].kind == 1) vigil_sim_stop(s, v);
      if (acts[k].kind == 2) {
        vigil_sim_stall(s, v, sc.stall);
        stalls++;
      }
      break;
    }
  }
  steps += vigil_sim_run(s, sc.duration, false);
  double cpu = sim__cpu_seconds() - cpu0;

  vigil_sim_stats st;
  vigil_sim_stats_get(s, &st);
  summary kill = sim__detections(s, false), silent = sim__detections(s, true);
  double agent_s = (double)st.alive_ns / 1e9;
  double frames = agent_s > 0 ? (double)st.frames_sent / agent_s : 0;
  double bytes = agent_s > 0 ? (double)st.bytes_sent / agent_s : 0;
  double node_ns = agent_s > 0 ? (double)st.node_ns / agent_s : 0;
  /* After the warmup: what a settled cluster costs (the start, where every
   * agent learns every other, is the rest). */
  double steady_s = (double)(st.alive_ns - warm.alive_ns) / 1e9;
  double steady_frames = steady_s > 0 ? (double)(st.frames_sent - warm.frames_sent) / steady_s : NAN;
  double steady_bytes = steady_s > 0 ? (double)(st.bytes_sent - warm.bytes_sent) / steady_s : NAN;
  double steady_ns = steady_s > 0 ? (double)(st.node_ns - warm.node_ns) / steady_s : NAN;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double converged = st.converged ? (double)st.converged / 1e9 : NAN;

  if (sc.json) {
    printf("{\"agents\":%u,\"duration_s\":", n);
    sim__json_num((double)sc.duration / 1e9);
    printf(",\"interval_s\":");
    sim__json_num((double)sc.cfg.interval / 1e9);
    printf(",\"observers\":%u,\"quorum\":%u,\"loss\":", sc.cfg.observers ? sc.cfg.observers : VIGIL_OBSERVERS,
           sc.cfg.quorum ? sc.cfg.quorum : VIGIL_QUORUM);
    sim__json_num(sc.cfg.loss);
    printf(",\"seed\":%llu,\"kills\":%u,\"stops\":%u,\"stalls\":%llu,\"false_alarms\":%llu,\"detections\":{",
           (unsigned long long)sc.cfg.seed, sc.kills, sc.stops, (unsigned long long)stalls,
           (unsigned long long)st.false_alarms);
    sim__json_detection("kill", &kill, false);
    sim__json_detection("silent", &silent, true);
    printf("},\"per_agent\":{\"frames_sent_per_s\":");
    sim__json_num(frames);
    printf(",\"bytes_sent_per_s\":");
    sim__json_num(bytes);
    printf(",\"cpu_ns_per_s\":");
    sim__json_num(node_ns);
    printf("},\"steady_per_agent\":{\"frames_sent_per_s\":");
    sim__json_num(steady_frames);
    printf(",\"bytes_sent_per_s\":");
    sim__json_num(steady_bytes);
    printf(",\"cpu_ns_per_s\":");
    sim__json_num(steady_ns);
    printf("},\"converged_s\":");
    sim__json_num(converged);
    printf(",\"frames_lost\":%llu,\"refusals\":%llu,\"events_lost\":%llu,\"steps\":%llu,\"run\":{\"cpu_s\":",
           (unsigned long long)st.frames_lost, (unsigned long long)st.refusals, (unsigned long long)st.events_lost,
           (unsigned long long)steps);
    sim__json_num(cpu);
    printf(",\"max_rss_mib\":");
    sim__json_num((double)ru.ru_maxrss / 1024.0);
    printf("}}\n");
  } else {
    printf(
        "vigil sim: %u agents, %.0f s simulated, interval %.0f ms, %u observers, quorum %u, loss %.1f %%, seed %llu\n",
        n, (double)sc.duration / 1e9, (double)sc.cfg.interval / 1e6,
        sc.cfg.observers ? sc.cfg.observers : VIGIL_OBSERVERS, sc.cfg.quorum ? sc.cfg.quorum : VIGIL_QUORUM,
        sc.cfg.loss * 100, (unsigned long long)sc.cfg.seed);
    printf("faults: %u killed, %u stopped, %llu stalls of %.1f s\n\n", sc.kills, sc.stops, (unsigned long long)stalls,
           (double)sc.stall / 1e9);
    printf("false alarms      %llu (peer_down about a live agent, per observer)\n",
           (unsigned long long)st.false_alarms);
    printf("detection (per surviving observer, from the failure):\n");
    sim__table_detection("kill", &kill, sc.kills);
    sim__table_detection("silent", &silent, sc.stops);
    if (isfinite(converged))
      printf("converged         %.1f s (every agent sees every live agent up)\n", converged);
    else
      printf("converged         never within the run\n");
    printf("per agent         %.1f frames/s   %.0f bytes/s   %.0f ns of node code per s\n", frames, bytes, node_ns);
    if (isfinite(steady_frames))
      printf("  after warmup    %.1f frames/s   %.0f bytes/s   %.0f ns of node code per s\n", steady_frames,
             steady_bytes, steady_ns);
    printf("network           %llu frames lost, %llu refusals delivered\n", (unsigned long long)st.frames_lost,
           (unsigned long long)st.refusals);
    if (st.events_lost)
      printf("WARNING           %llu events not scored (ring overrun)\n", (unsigned long long)st.events_lost);
    printf("run               %.1f s CPU, %.0f MiB peak memory, %llu steps\n", cpu, (double)ru.ru_maxrss / 1024.0,
           (unsigned long long)steps);
  }
  int rc = 0;
  if (sc.cdf && sim__write_cdf(s, sc.cdf) != 0) {
    fprintf(stderr, "vigil sim: cannot write %s\n", sc.cdf);
    rc = 1;
  }
  free(acts);
  vigil_sim_free(s);
  return rc;
}
