/*
 * sim.c - the cluster simulator: N real nodes on an in-memory network in
 * virtual time (vigil_sim.h).
 *
 * Owns: the virtual clock and its agenda (a binary heap of timed items:
 * agent starts, node timers, datagram deliveries, refusals coming back,
 * stalls ending, convergence checks), the network model (per-link loss,
 * latency with jitter, cuts), the ground truth of every agent (alive,
 * stalled, killed, stopped, left) and the score kept against it.
 *
 * Must never: decide anything a node decides. The simulator only carries
 * bytes and fires timers; every conviction comes out of vigil_node, the
 * code the agent runs. It reads no clock either: the optional stopwatch
 * only measures node code for the report.
 *
 * Choices:
 *   - One pending timer item per agent, at the node's vigil_node_next_timer.
 *     A datagram can only move that earlier (a refusal) or leave it; an
 *     item that became stale is skipped when it comes up, so rescheduling
 *     is O(log n) and needs no removal from the heap.
 *   - A datagram to a killed or departed agent comes back to its sender as
 *     a refusal one round trip later (the host's ICMP); to a stopped agent
 *     it vanishes; to a stalled agent it waits in that agent's socket
 *     (bounded, like a receive buffer) and is read when the stall ends.
 *   - Events are scored as they are published (each node's ring is polled
 *     right after every call into it), so a small ring per node is enough
 *     and 5,000 nodes fit in memory; an overrun is counted, not hidden.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vigil_sim.h"

enum { IT_START, IT_TIMER, IT_DELIVER, IT_REFUSAL, IT_RESUME, IT_CHECK };

/* The generation of an agent, as the runtime makes them: wall-clock
 * milliseconds when the process starts (here a fixed 2023 instant plus
 * the virtual time: agents' clocks agree, as NTP makes them). Their
 * size on the wire is what real frames carry -- with generation 1 every
 * digest entry was 8 bytes shorter than a real one, and bytes per agent
 * ~20 % too low beside real agents (bench/README.md, the cross-check). */
#define SIM_GENERATION 1700000000000ull

typedef struct dgram {
  struct dgram *next; /* free list, backlog */
  uint32_t from;      /* sender */
  uint32_t len;
  uint8_t bytes[VIGIL_FRAME_MAX];
} dgram;

typedef struct item {
  vigil_time at;
  uint64_t seq;   /* ties broken in scheduling order: deterministic */
  uint32_t kind;  /* IT_* */
  uint32_t agent; /* whom it happens to */
  uint32_t epoch; /* IT_TIMER, IT_RESUME: the agent's epoch when scheduled */
  uint32_t peer;  /* IT_REFUSAL: the agent whose host refused */
  dgram *d;       /* IT_DELIVER */
} item;

typedef struct agent {
  char pname[VIGIL_PNAME_MAX];
  char dc[VIGIL_NAME_MAX];
  char rack[VIGIL_NAME_MAX];
  char tags[VIGIL_TAGS_TEXT]; /* its tag set, canonical ("" = none): read at each start */
  vigil_sim_status st;
  vigil_node *node;       /* alive, stalled or stopped: the process */
  vigil_subscription sub; /* the simulator's, for scoring */
  uint64_t generation;    /* of its latest process (see SIM_GENERATION) */
  uint32_t epoch;         /* bumped when the process changes or resumes */
  vigil_time sched;       /* time of its pending timer item (UINT64_MAX = none) */
  double loss;            /* extra loss on everything it sends or receives */
  vigil_time jitter;      /* extra latency deviation on everything it sends or receives */
  vigil_time stall_until; /* while stalled: when it resumes */
  vigil_time up_since;    /* alive (or stalled) since */
  vigil_time up_total;    /* time alive before up_since */
  dgram *backlog_head;    /* datagrams waiting while it stalls */
  dgram *backlog_tail;
  uint32_t backlog_len;
  int64_t fault; /* index of its latest kill or stop, -1 = none */
} agent;

typedef struct fault {
  vigil_sim_fault f;
  uint32_t n;        /* agents when it happened */
  vigil_time *det;   /* per agent: detection time after `at`, UINT64_MAX = none */
  uint8_t *watching; /* per agent: alive when it happened */
} fault;

typedef struct link {
  uint64_t key; /* (a + 1) << 32 | b; 0 = empty slot */
  double loss;
  bool cut;
} link;

typedef struct collected {
  uint32_t agent;
  vigil_event e;
} collected;

struct vigil_sim {
  vigil_sim_config cfg;
  vigil_time now;
  uint64_t rng;
  uint64_t seq;
  item *heap;
  uint32_t nheap, heap_cap;
  agent *a;
  uint32_t n, cap;
  int64_t *index; /* pname hash -> agent, open addressing, -1 = empty */
  uint32_t index_cap;
  link *links;
  uint32_t nlinks, links_cap;
  dgram *free_dgrams;
  fault *faults;
  uint32_t nfaults, faults_cap;
  collected *col; /* ring of collected events */
  uint32_t col_head, col_len, col_cap;
  const char **seeds; /* cfg.seeds entries: filled at each start (see sim__start) */
  uint32_t cur;       /* the agent whose node is running (the sender) */
  bool checking;
  vigil_sim_stats st;
};

/* ---- randomness: splitmix64, deterministic for a seed ------------------------ */

static uint64_t sim__rand(vigil_sim *s) {
  uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double sim__uniform(vigil_sim *s) { return (double)(sim__rand(s) >> 11) * 0x1.0p-53; }

static double sim__gaussian(vigil_sim *s) {
  double u1 = sim__uniform(s), u2 = sim__uniform(s);
  return sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
}

/* ---- the agenda --------------------------------------------------------------- */

static bool sim__before(const item *x, const item *y) { return x->at < y->at || (x->at == y->at && x->seq < y->seq); }

static int sim__push(vigil_sim *s, item it) {
  if (s->nheap == s->heap_cap) {
    uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
    item *h = realloc(s->heap, (size_t)cap * sizeof *h);
    if (!h) return VIGIL_ENOMEM;
    s->heap = h;
    s->heap_cap = cap;
  }
  it.seq = s->seq++;
  uint32_t i = s->nheap++;
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!sim__before(&it, &s->heap[p])) break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = it;
  return VIGIL_OK;
}

static item sim__pop(vigil_sim *s) {
  item top = s->heap[0];
  item last = s->heap[--s->nheap];
  uint32_t i = 0, n = s->nheap;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && sim__before(&s->heap[c + 1], &s->heap[c])) c++;
    if (!sim__before(&s->heap[c], &last)) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (n) s->heap[i] = last;
  return top;
}

/* ---- datagrams ------------------------------------------------------------------ */

static dgram *sim__dgram(vigil_sim *s) {
  dgram *d = s->free_dgrams;
  if (d) {
    s->free_dgrams = d->next;
    return d;
  }
  return malloc(sizeof *d);
}

static void sim__release(vigil_sim *s, dgram *d) {
  d->next = s->free_dgrams;
  s->free_dgrams = d;
}

/* ---- names ------------------------------------------------------------------------ */

static uint32_t sim__hash(const char *pname) { return vigil_hash(pname, strlen(pname)); }

static int sim__index_grow(vigil_sim *s) {
  uint32_t cap = s->index_cap ? s->index_cap * 2 : 64;
  int64_t *ix = malloc((size_t)cap * sizeof *ix);
  if (!ix) return VIGIL_ENOMEM;
  for (uint32_t k = 0; k < cap; k++) ix[k] = -1;
  for (uint32_t i = 0; i < s->n; i++) {
    uint32_t h = sim__hash(s->a[i].pname) & (cap - 1);
    while (ix[h] >= 0) h = (h + 1) & (cap - 1);
    ix[h] = i;
  }
  free(s->index);
  s->index = ix;
  s->index_cap = cap;
  return VIGIL_OK;
}

int64_t vigil_sim_find(const vigil_sim *s, const char *pname) {
  if (!s->index_cap || !pname) return -1;
  uint32_t h = sim__hash(pname) & (s->index_cap - 1);
  while (s->index[h] >= 0) {
    if (strcmp(s->a[s->index[h]].pname, pname) == 0) return s->index[h];
    h = (h + 1) & (s->index_cap - 1);
  }
  return -1;
}

/* ---- links ------------------------------------------------------------------------- */

static uint64_t sim__key(uint32_t a, uint32_t b) { return ((uint64_t)a + 1) << 32 | b; }

static link *sim__link(const vigil_sim *s, uint32_t a, uint32_t b) {
  if (!s->nlinks) return NULL;
  uint64_t key = sim__key(a, b);
  uint32_t h = (uint32_t)(key * 0x9e3779b97f4a7c15ull >> 32) & (s->links_cap - 1);
  while (s->links[h].key) {
    if (s->links[h].key == key) return &s->links[h];
    h = (h + 1) & (s->links_cap - 1);
  }
  return NULL;
}

static link *sim__link_make(vigil_sim *s, uint32_t a, uint32_t b) {
  link *l = sim__link(s, a, b);
  if (l) return l;
  if ((s->nlinks + 1) * 2 > s->links_cap) {
    uint32_t cap = s->links_cap ? s->links_cap * 2 : 64;
    link *t = calloc(cap, sizeof *t);
    if (!t) return NULL;
    for (uint32_t k = 0; k < s->links_cap; k++) {
      if (!s->links[k].key) continue;
      uint32_t h = (uint32_t)(s->links[k].key * 0x9e3779b97f4a7c15ull >> 32) & (cap - 1);
      while (t[h].key) h = (h + 1) & (cap - 1);
      t[h] = s->links[k];
    }
    free(s->links);
    s->links = t;
    s->links_cap = cap;
  }
  uint64_t key = sim__key(a, b);
  uint32_t h = (uint32_t)(key * 0x9e3779b97f4a7c15ull >> 32) & (s->links_cap - 1);
  while (s->links[h].key) h = (h + 1) & (s->links_cap - 1);
  s->links[h] = (link){key, 0, false};
  s->nlinks++;
  return &s->links[h];
}

static bool sim__cut_between(const vigil_sim *s, uint32_t a, uint32_t b) {
  const link *l = sim__link(s, a, b);
  return l && l->cut;
}

/* Whether a datagram a -> b is lost. */
static bool sim__lost(vigil_sim *s, uint32_t a, uint32_t b) {
  const link *l = sim__link(s, a, b);
  if (l && l->cut) return true;
  double keep = (1.0 - s->cfg.loss) * (1.0 - s->a[a].loss) * (1.0 - s->a[b].loss) * (1.0 - (l ? l->loss : 0.0));
  return keep < 1.0 && sim__uniform(s) >= keep;
}

/* Latency of one datagram a -> b: the delay plus normal jitter whose
 * variance is the network's plus each end's (independent sources add). */
static vigil_time sim__latency(vigil_sim *s, uint32_t a, uint32_t b) {
  double d = (double)s->cfg.delay;
  double ja = (double)s->a[a].jitter, jb = (double)s->a[b].jitter, jn = (double)s->cfg.jitter;
  double sd = ja || jb ? sqrt(jn * jn + ja * ja + jb * jb) : jn;
  if (sd > 0) d += sd * sim__gaussian(s);
  return d < 0 ? 0 : (vigil_time)d;
}

/* ---- scoring --------------------------------------------------------------------- */

static bool sim__alive(vigil_sim_status st) { return st == VIGIL_SIM_ALIVE || st == VIGIL_SIM_STALLED; }

static void sim__collect(vigil_sim *s, uint32_t i, const vigil_event *e) {
  if (s->col_len == s->col_cap) {
    uint32_t cap = s->col_cap ? s->col_cap * 2 : 256;
    collected *c = malloc((size_t)cap * sizeof *c);
    if (!c) {
      s->st.events_lost++;
      return;
    }
    for (uint32_t k = 0; k < s->col_len; k++) c[k] = s->col[(s->col_head + k) % s->col_cap];
    free(s->col);
    s->col = c;
    s->col_cap = cap;
    s->col_head = 0;
  }
  collected *c = &s->col[(s->col_head + s->col_len++) % s->col_cap];
  c->agent = i;
  c->e = *e;
}

/* Score the events agent i's node published since the last look. */
static void sim__score(vigil_sim *s, uint32_t i) {
  agent *o = &s->a[i];
  vigil_event e;
  while (vigil_subscription_poll(&o->sub, &e)) {
    if (e.type == VIGIL_EVENT_LAGGED) {
      s->st.events_lost += e.missed;
      continue;
    }
    if (e.type == VIGIL_EVENT_PEER_DOWN) {
      int64_t x = vigil_sim_find(s, e.peer);
      if (x >= 0 && sim__alive(s->a[x].st)) {
        s->st.false_alarms++;
      } else if (x >= 0 && s->a[x].fault >= 0) {
        fault *f = &s->faults[s->a[x].fault];
        if (i < f->n && f->det[i] == UINT64_MAX && s->now >= f->f.at) f->det[i] = s->now - f->f.at;
      }
    }
    if (s->cfg.collect && e.type != VIGIL_EVENT_GOSSIP_ROUND) sim__collect(s, i, &e);
  }
}

/* ---- driving nodes ----------------------------------------------------------------- */

static int sim__send(void *ud, const char *pname, const uint8_t *buf, size_t len);

static vigil_time sim__watch(vigil_sim *s) { return s->cfg.stopwatch ? s->cfg.stopwatch(s->cfg.stopwatch_ud) : 0; }

/* After any call into agent i's node: score its events, and make sure a
 * timer item is pending at its next timer. */
static void sim__after(vigil_sim *s, uint32_t i) {
  agent *a = &s->a[i];
  sim__score(s, i);
  if (!a->node || a->st != VIGIL_SIM_ALIVE) return;
  vigil_time next = vigil_node_next_timer(a->node);
  if (next < s->now) next = s->now;
  if (next < a->sched) {
    a->sched = next;
    item it = {next, 0, IT_TIMER, i, a->epoch, 0, NULL};
    sim__push(s, it);
  }
}

static void sim__receive(vigil_sim *s, uint32_t i, const dgram *d) {
  agent *a = &s->a[i];
  s->cur = i;
  vigil_time t0 = sim__watch(s);
  vigil_node_receive(a->node, d->bytes, d->len, s->a[d->from].pname, s->now);
  s->st.node_ns += sim__watch(s) - t0;
  sim__after(s, i);
}

static int sim__start(vigil_sim *s, uint32_t i) {
  agent *a = &s->a[i];
  vigil_node_config nc;
  vigil_node_config_init(&nc);
  nc.self = a->pname;
  nc.dc = a->dc[0] ? a->dc : NULL;
  nc.rack = a->rack[0] ? a->rack : NULL;
  nc.tags = a->tags;
  /* Fix: the seeds were pointers into s->a taken once at creation; adding
   * agents reallocates s->a, and every later start read freed memory (ASan:
   * heap-use-after-free once a run grows past 16 agents). And a simulation
   * made with no agents had no seeds at all, so agents added later never
   * met. The seeds are the first cfg.seeds agents that exist, named now;
   * the node copies them. */
  uint32_t nseeds = s->cfg.seeds < s->n ? s->cfg.seeds : s->n;
  for (uint32_t k = 0; k < nseeds; k++) s->seeds[k] = s->a[k].pname;
  nc.seeds = s->seeds;
  nc.nseeds = nseeds;
  uint64_t wall = SIM_GENERATION + s->now / VIGIL_MS;
  a->generation = wall > a->generation ? wall : a->generation + 1;
  nc.generation = a->generation;
  nc.seed = sim__rand(s) | 1;
  nc.interval = s->cfg.interval;
  nc.tick = s->cfg.tick;
  nc.observers = s->cfg.observers;
  nc.quorum = s->cfg.quorum;
  nc.reap_after = s->cfg.reap_after;
  nc.detector = s->cfg.detector;
  nc.events = s->cfg.events;
  nc.no_peer_counters = true; /* 196 bytes a peer, times N^2: the sim scores events instead */
  const char *why = NULL;
  s->cur = i;
  vigil_time t0 = sim__watch(s);
  a->node = vigil_node_new(&nc, sim__send, s, s->now, &why);
  s->st.node_ns += sim__watch(s) - t0;
  if (!a->node) return VIGIL_ENOMEM;
  vigil_events_subscribe(vigil_node_events(a->node), &a->sub);
  a->st = VIGIL_SIM_ALIVE;
  a->epoch++;
  a->sched = UINT64_MAX;
  a->up_since = s->now;
  sim__after(s, i);
  return VIGIL_OK;
}

/* The process of agent i is gone (killed, left, restarting). */
static void sim__end_process(vigil_sim *s, uint32_t i) {
  agent *a = &s->a[i];
  if (sim__alive(a->st)) a->up_total += s->now - a->up_since;
  vigil_node_free(a->node);
  a->node = NULL;
  a->epoch++;
  a->sched = UINT64_MAX;
  while (a->backlog_head) {
    dgram *d = a->backlog_head;
    a->backlog_head = d->next;
    sim__release(s, d);
    s->st.frames_lost++;
  }
  a->backlog_tail = NULL;
  a->backlog_len = 0;
}

static int sim__send(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  vigil_sim *s = ud;
  uint32_t from = s->cur;
  s->st.frames_sent++;
  s->st.bytes_sent += len;
  int64_t to = vigil_sim_find(s, pname);
  if (to < 0 || (uint32_t)to == from || len > VIGIL_FRAME_MAX || sim__lost(s, from, (uint32_t)to)) {
    s->st.frames_lost++;
    return 0; /* UDP: the sender cannot tell */
  }
  vigil_time at = s->now + sim__latency(s, from, (uint32_t)to);
  dgram *d = sim__dgram(s);
  if (!d) {
    s->st.frames_lost++;
    return 0;
  }
  d->from = from;
  d->len = (uint32_t)len;
  memcpy(d->bytes, buf, len);
  item it = {at, 0, IT_DELIVER, (uint32_t)to, 0, 0, d};
  if (sim__push(s, it) != VIGIL_OK) {
    sim__release(s, d);
    s->st.frames_lost++;
  }
  return 0;
}

/* A datagram reached the host of agent i. */
static void sim__arrive(vigil_sim *s, uint32_t i, dgram *d) {
  agent *a = &s->a[i];
  switch (a->st) {
  case VIGIL_SIM_ALIVE:
    sim__receive(s, i, d);
    sim__release(s, d);
    return;
  case VIGIL_SIM_STALLED:
    if (a->backlog_len >= s->cfg.backlog) break;
    d->next = NULL;
    if (a->backlog_tail)
      a->backlog_tail->next = d;
    else
      a->backlog_head = d;
    a->backlog_tail = d;
    a->backlog_len++;
    return;
  case VIGIL_SIM_KILLED:
  case VIGIL_SIM_LEFT:
    /* Nothing listens on the port: the host answers the sender, unless
     * the way back is cut too. */
    if (!sim__cut_between(s, i, d->from)) {
      item it = {s->now + sim__latency(s, i, d->from), 0, IT_REFUSAL, d->from, 0, i, NULL};
      sim__push(s, it);
    }
    break;
  default: break;
  }
  s->st.frames_lost++;
  sim__release(s, d);
}

/* An agent that runs again reads what queued in its socket while it was
 * frozen (it must be alive). */
static void sim__read_backlog(vigil_sim *s, uint32_t i) {
  agent *a = &s->a[i];
  while (a->backlog_head && a->st == VIGIL_SIM_ALIVE) {
    dgram *d = a->backlog_head;
    a->backlog_head = d->next;
    a->backlog_len--;
    sim__receive(s, i, d);
    sim__release(s, d);
  }
  if (!a->backlog_head) a->backlog_tail = NULL;
}

/* Every alive agent sees every other alive agent as normal. */
static bool sim__converged(vigil_sim *s) {
  uint32_t alive = 0;
  for (uint32_t i = 0; i < s->n; i++) alive += s->a[i].st == VIGIL_SIM_ALIVE;
  /* Fix: with nobody alive (no agents yet: agents = 0, then vigil_sim_add)
   * the loop below found nothing wrong and reported a convergence of an
   * empty cluster, never checked again once agents joined. */
  if (!alive) return false;
  bool exact = alive != s->n; /* someone is not alive: check each peer's truth */
  for (uint32_t i = 0; i < s->n; i++) {
    if (s->a[i].st != VIGIL_SIM_ALIVE) continue;
    vigil_pool *pool = vigil_node_pool(s->a[i].node);
    uint32_t slots = vigil_pool_slots(pool), up = 0;
    for (uint32_t k = 0; k < slots; k++) {
      const vigil_peer *p = vigil_pool_get(pool, k);
      if (!p || p->is_local || p->state != VIGIL_STATE_NORMAL) continue;
      if (exact) {
        int64_t x = vigil_sim_find(s, p->pname);
        if (x < 0 || s->a[x].st != VIGIL_SIM_ALIVE) continue;
      }
      up++;
    }
    if (up + 1 < alive) return false;
  }
  return true;
}

static void sim__step(vigil_sim *s, item it) {
  /* Fix: IT_CHECK names no agent, and with no agents s->a is NULL: taking
   * &s->a[0] was arithmetic on a null pointer. */
  agent *a = it.kind == IT_CHECK ? NULL : &s->a[it.agent];
  switch (it.kind) {
  case IT_START:
    if (a->st == VIGIL_SIM_PENDING) sim__start(s, it.agent);
    break;
  case IT_TIMER:
    if (it.epoch != a->epoch || it.at != a->sched) break; /* stale */
    a->sched = UINT64_MAX;
    if (a->st != VIGIL_SIM_ALIVE) break;
    s->cur = it.agent;
    {
      vigil_time t0 = sim__watch(s);
      vigil_node_timer(a->node, s->now);
      s->st.node_ns += sim__watch(s) - t0;
    }
    sim__after(s, it.agent);
    break;
  case IT_DELIVER: sim__arrive(s, it.agent, it.d); break;
  case IT_REFUSAL:
    if (a->st == VIGIL_SIM_STALLED) {
      /* The kernel keeps the ICMP error in the socket's error queue: the
       * agent reads it when it resumes (its resume item comes first: it
       * was scheduled earlier for that instant). */
      it.at = a->stall_until;
      sim__push(s, it);
      break;
    }
    if (a->st != VIGIL_SIM_ALIVE) break; /* lost on a dead sender */
    s->st.refusals++;
    s->cur = it.agent;
    {
      vigil_time t0 = sim__watch(s);
      vigil_node_refused(a->node, s->a[it.peer].pname, s->now);
      s->st.node_ns += sim__watch(s) - t0;
    }
    sim__after(s, it.agent);
    break;
  case IT_RESUME:
    if (it.epoch != a->epoch || a->st != VIGIL_SIM_STALLED) break;
    a->st = VIGIL_SIM_ALIVE;
    a->epoch++;
    a->sched = UINT64_MAX;
    /* What queued in its socket is read now, then its late timers fire. */
    sim__read_backlog(s, it.agent);
    sim__after(s, it.agent);
    break;
  case IT_CHECK:
    if (sim__converged(s)) {
      s->st.converged = s->now;
      s->checking = false;
    } else {
      item next = {s->now + s->cfg.interval, 0, IT_CHECK, 0, 0, 0, NULL};
      sim__push(s, next);
    }
    break;
  default: break;
  }
}

uint64_t vigil_sim_run(vigil_sim *s, vigil_time until, bool stop_on_event) {
  uint64_t steps = 0;
  while (s->nheap && s->heap[0].at <= until) {
    item it = sim__pop(s);
    if (it.at > s->now) s->now = it.at;
    /* Fix: stop on an event this step published. Testing col_len alone
     * returned after every single step while earlier events were still
     * unread, with the clock barely moved. */
    uint32_t waiting = s->col_len;
    sim__step(s, it);
    steps++;
    if (stop_on_event && s->col_len > waiting) return steps;
  }
  if (until > s->now) s->now = until;
  return steps;
}

/* ---- creation ------------------------------------------------------------------- */

void vigil_sim_config_init(vigil_sim_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->seeds = 1;
  cfg->seed = 1;
  cfg->interval = 200 * VIGIL_MS;
  cfg->reap_after = 60 * VIGIL_SEC;
  vigil_detector_config_init(&cfg->detector);
  cfg->detector.first_estimate = 0; /* the interval */
  cfg->delay = 200 * VIGIL_US;
  cfg->jitter = 50 * VIGIL_US;
  cfg->events = 256;
  cfg->backlog = 4096;
}

/* The default name of agent i: a distinct loopback address, port 7946. */
static void sim__name(uint32_t i, char *out, size_t cap) {
  snprintf(out, cap, "127.%u.%u.%u:7946", (i / 62500u) % 250u + 1u, (i / 250u) % 250u, i % 250u + 1u);
}

static int64_t sim__add(vigil_sim *s, const vigil_sim_agent *spec, vigil_time start) {
  char name[VIGIL_PNAME_MAX];
  const char *pname = spec && spec->pname ? spec->pname : NULL;
  if (!pname) {
    sim__name(s->n, name, sizeof name);
    pname = name;
  }
  size_t hl;
  uint16_t port;
  if (vigil_pname_parse(pname, &hl, &port) != VIGIL_OK) return VIGIL_EINVAL;
  if (vigil_sim_find(s, pname) >= 0) return VIGIL_EEXIST;
  if (s->n == s->cap) {
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    agent *t = realloc(s->a, (size_t)cap * sizeof *t);
    if (!t) return VIGIL_ENOMEM;
    s->a = t;
    s->cap = cap;
  }
  if ((s->n + 1) * 2 > s->index_cap && sim__index_grow(s) != VIGIL_OK) return VIGIL_ENOMEM;
  uint32_t i = s->n;
  agent *a = &s->a[i];
  memset(a, 0, sizeof *a);
  if (!vigil__copy(a->pname, sizeof a->pname, pname)) return VIGIL_ENAMETOOLONG;
  if (spec && spec->dc && !vigil__copy(a->dc, sizeof a->dc, spec->dc)) return VIGIL_ENAMETOOLONG;
  if (spec && spec->rack && !vigil__copy(a->rack, sizeof a->rack, spec->rack)) return VIGIL_ENAMETOOLONG;
  if (vigil_tags_parse(spec ? spec->tags : NULL, a->tags, NULL) != VIGIL_OK) return VIGIL_EINVAL;
  a->st = VIGIL_SIM_PENDING;
  a->sched = UINT64_MAX;
  a->fault = -1;
  s->n++;
  uint32_t h = sim__hash(a->pname) & (s->index_cap - 1);
  while (s->index[h] >= 0) h = (h + 1) & (s->index_cap - 1);
  s->index[h] = i;
  item it = {start, 0, IT_START, i, 0, 0, NULL};
  if (sim__push(s, it) != VIGIL_OK) return VIGIL_ENOMEM;
  return i;
}

vigil_sim *vigil_sim_new(const vigil_sim_config *cfg, const char **why) {
  const char *bad = NULL;
  vigil_detector_config det = cfg->detector;
  if (!det.first_estimate) det.first_estimate = cfg->interval;
  if (cfg->interval < VIGIL_MS)
    bad = "interval must be at least 1 ms";
  else if (!(cfg->loss >= 0 && cfg->loss <= 1))
    bad = "loss must be between 0 and 1";
  else if (cfg->seeds < 1)
    bad = "seeds must be at least 1: agents join through them";
  else if (cfg->agents && cfg->seeds > cfg->agents)
    bad = "more seeds than agents";
  else if (vigil_detector_config_check(&det, &bad) != VIGIL_OK && !bad)
    bad = "bad detector settings";
  else if (cfg->observers > 16)
    bad = "at most 16 observers per agent";
  else if ((cfg->quorum ? cfg->quorum : VIGIL_QUORUM) > (cfg->observers ? cfg->observers : VIGIL_OBSERVERS) ||
           (cfg->quorum && cfg->quorum < VIGIL_QUORUM_LOW))
    bad = "the quorum must be between 2 and the number of observers (default 8; the quorum's default is 5)";
  if (bad) {
    if (why) *why = bad;
    return NULL;
  }
  vigil_sim *s = calloc(1, sizeof *s);
  if (!s) {
    if (why) *why = "out of memory";
    return NULL;
  }
  s->cfg = *cfg;
  if (!s->cfg.events) s->cfg.events = 256;
  if (!s->cfg.backlog) s->cfg.backlog = 4096;
  s->cfg.names = NULL; /* not kept: copied below */
  s->rng = cfg->seed ? cfg->seed : 1;
  vigil_time spread = cfg->start_spread ? cfg->start_spread : cfg->interval;
  for (uint32_t i = 0; i < cfg->agents; i++) {
    vigil_time start = (vigil_time)(sim__uniform(s) * (double)spread);
    if (sim__add(s, cfg->names ? &cfg->names[i] : NULL, start) < 0) {
      if (why) *why = "bad agent name, duplicate name or out of memory";
      vigil_sim_free(s);
      return NULL;
    }
  }
  s->seeds = calloc(cfg->seeds ? cfg->seeds : 1, sizeof *s->seeds);
  if (!s->seeds) {
    if (why) *why = "out of memory";
    vigil_sim_free(s);
    return NULL;
  }
  s->checking = true;
  item check = {spread, 0, IT_CHECK, 0, 0, 0, NULL};
  sim__push(s, check);
  return s;
}

void vigil_sim_free(vigil_sim *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->n; i++) {
    vigil_node_free(s->a[i].node);
    for (dgram *d = s->a[i].backlog_head, *nx; d; d = nx) {
      nx = d->next;
      free(d);
    }
  }
  for (uint32_t k = 0; k < s->nheap; k++) free(s->heap[k].d);
  for (dgram *d = s->free_dgrams, *nx; d; d = nx) {
    nx = d->next;
    free(d);
  }
  for (uint32_t k = 0; k < s->nfaults; k++) {
    free(s->faults[k].det);
    free(s->faults[k].watching);
  }
  free(s->faults);
  free(s->heap);
  free(s->a);
  free(s->index);
  free(s->links);
  free(s->col);
  free(s->seeds);
  free(s);
}

/* ---- agents ------------------------------------------------------------------------ */

const char *vigil_sim_status_name(vigil_sim_status st) {
  static const char *const names[] = {"pending", "alive", "stalled", "killed", "stopped", "left"};
  return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "invalid";
}

vigil_time vigil_sim_now(const vigil_sim *s) { return s->now; }
uint32_t vigil_sim_agents(const vigil_sim *s) { return s->n; }
const char *vigil_sim_pname(const vigil_sim *s, uint32_t i) { return i < s->n ? s->a[i].pname : NULL; }
vigil_sim_status vigil_sim_status_of(const vigil_sim *s, uint32_t i) {
  return i < s->n ? s->a[i].st : VIGIL_SIM_PENDING;
}

vigil_node *vigil_sim_node(const vigil_sim *s, uint32_t i) {
  return i < s->n && sim__alive(s->a[i].st) ? s->a[i].node : NULL;
}

int64_t vigil_sim_add(vigil_sim *s, const vigil_sim_agent *a) {
  int64_t i = sim__add(s, a, s->now);
  if (i >= 0) vigil_sim_run(s, s->now, false); /* start it now */
  return i;
}

/* Record a kill or stop of agent i, and who is there to detect it. */
static void sim__fault(vigil_sim *s, uint32_t i, bool silent) {
  if (s->nfaults == s->faults_cap) {
    uint32_t cap = s->faults_cap ? s->faults_cap * 2 : 8;
    fault *t = realloc(s->faults, (size_t)cap * sizeof *t);
    if (!t) return;
    s->faults = t;
    s->faults_cap = cap;
  }
  fault *f = &s->faults[s->nfaults];
  f->n = s->n;
  f->det = malloc((size_t)s->n * sizeof *f->det);
  f->watching = calloc(s->n, 1);
  if (!f->det || !f->watching) {
    free(f->det);
    free(f->watching);
    return;
  }
  f->f = (vigil_sim_fault){i, silent, s->now, 0, 0, 0};
  for (uint32_t o = 0; o < s->n; o++) {
    f->det[o] = UINT64_MAX;
    if (o == i || !sim__alive(s->a[o].st)) continue;
    /* An observer that already holds it down (a false alarm before, or it
     * never saw it up) has nothing left to detect: counted apart, in
     * neither the detection times nor the misses. One that has not heard
     * of it yet (a cluster still converging) or never saw it up has
     * nothing to detect either, and will not learn of a dead agent. */
    const vigil_peer *p = vigil_pool_find(vigil_node_pool(s->a[o].node), s->a[i].pname);
    f->watching[o] = !p ? 0 : p->state == VIGIL_STATE_DOWN ? 2 : p->state == VIGIL_STATE_NORMAL ? 1 : 0;
  }
  s->a[i].fault = s->nfaults++;
  s->st.faults = s->nfaults;
}

int vigil_sim_kill(vigil_sim *s, uint32_t i) {
  if (i >= s->n) return VIGIL_ENOENT;
  agent *a = &s->a[i];
  if (a->st != VIGIL_SIM_ALIVE && a->st != VIGIL_SIM_STALLED && a->st != VIGIL_SIM_STOPPED) return VIGIL_EINVAL;
  bool was_down = a->st == VIGIL_SIM_STOPPED;
  sim__end_process(s, i);
  a->st = VIGIL_SIM_KILLED;
  if (!was_down) sim__fault(s, i, false);
  return VIGIL_OK;
}

int vigil_sim_stop(vigil_sim *s, uint32_t i) {
  if (i >= s->n) return VIGIL_ENOENT;
  agent *a = &s->a[i];
  if (a->st != VIGIL_SIM_ALIVE && a->st != VIGIL_SIM_STALLED) return VIGIL_EINVAL;
  a->up_total += s->now - a->up_since;
  a->st = VIGIL_SIM_STOPPED;
  a->epoch++;
  a->sched = UINT64_MAX;
  sim__fault(s, i, true);
  return VIGIL_OK;
}

int vigil_sim_resume(vigil_sim *s, uint32_t i) {
  if (i >= s->n) return VIGIL_ENOENT;
  agent *a = &s->a[i];
  if (a->st != VIGIL_SIM_STOPPED) return VIGIL_EINVAL;
  a->st = VIGIL_SIM_ALIVE;
  a->up_since = s->now;
  a->epoch++;
  /* Fix: the fault is over. Left pointing at it, a later peer_down about
   * this agent (it leaves, say) was scored as a detection of the old stop,
   * seconds or hours late. */
  a->fault = -1;
  /* Fix: stopped in the middle of a stall, it kept what had queued in its
   * socket unread until some later stall ended (and those datagrams
   * counted against that stall's backlog). SIGCONT: it reads them now. */
  sim__read_backlog(s, i);
  sim__after(s, i);
  return VIGIL_OK;
}

int vigil_sim_stall(vigil_sim *s, uint32_t i, vigil_time d) {
  if (i >= s->n) return VIGIL_ENOENT;
  agent *a = &s->a[i];
  if (a->st != VIGIL_SIM_ALIVE) return VIGIL_EINVAL;
  a->st = VIGIL_SIM_STALLED;
  a->epoch++;
  a->sched = UINT64_MAX;
  a->stall_until = s->now + d;
  item it = {s->now + d, 0, IT_RESUME, i, a->epoch, 0, NULL};
  return sim__push(s, it);
}

int vigil_sim_restart(vigil_sim *s, uint32_t i) {
  if (i >= s->n) return VIGIL_ENOENT;
  agent *a = &s->a[i];
  if (a->st == VIGIL_SIM_PENDING) return VIGIL_EINVAL;
  sim__end_process(s, i);
  /* Fix: a new process ends the fault of the old one (see resume). */
  a->fault = -1;
  return sim__start(s, i);
}

int vigil_sim_set_tags(vigil_sim *s, uint32_t i, const char *tags) {
  if (i >= s->n) return VIGIL_ENOENT;
  char canon[VIGIL_TAGS_TEXT];
  if (vigil_tags_parse(tags, canon, NULL) != VIGIL_OK) return VIGIL_EINVAL;
  memcpy(s->a[i].tags, canon, sizeof canon);
  return VIGIL_OK;
}

int vigil_sim_leave(vigil_sim *s, uint32_t i) {
  if (i >= s->n) return VIGIL_ENOENT;
  agent *a = &s->a[i];
  if (a->st != VIGIL_SIM_ALIVE) return VIGIL_EINVAL;
  s->cur = i;
  vigil_time t0 = sim__watch(s);
  vigil_node_leave(a->node, s->now);
  s->st.node_ns += sim__watch(s) - t0;
  sim__score(s, i);
  sim__end_process(s, i);
  a->st = VIGIL_SIM_LEFT;
  return VIGIL_OK;
}

int vigil_sim_apply(vigil_sim *s, uint32_t i, const vigil_command *c, char *note, size_t cap) {
  if (i >= s->n) return VIGIL_ENOENT;
  if (!sim__alive(s->a[i].st)) {
    if (note && cap) snprintf(note, cap, "agent %s is %s", s->a[i].pname, vigil_sim_status_name(s->a[i].st));
    return VIGIL_EINVAL;
  }
  s->cur = i;
  int rc = vigil_node_apply(s->a[i].node, c, s->now, note, cap);
  sim__after(s, i);
  return rc;
}

/* ---- the network ----------------------------------------------------------------- */

int vigil_sim_set_loss(vigil_sim *s, double loss) {
  if (!(loss >= 0 && loss <= 1)) return VIGIL_EINVAL;
  s->cfg.loss = loss;
  return VIGIL_OK;
}

int vigil_sim_set_agent_jitter(vigil_sim *s, uint32_t i, vigil_time jitter) {
  if (i >= s->n) return VIGIL_ENOENT;
  s->a[i].jitter = jitter;
  return VIGIL_OK;
}

void vigil_sim_set_delay(vigil_sim *s, vigil_time delay, vigil_time jitter) {
  s->cfg.delay = delay;
  s->cfg.jitter = jitter;
}

int vigil_sim_set_agent_loss(vigil_sim *s, uint32_t i, double loss) {
  if (i >= s->n) return VIGIL_ENOENT;
  if (!(loss >= 0 && loss <= 1)) return VIGIL_EINVAL;
  s->a[i].loss = loss;
  return VIGIL_OK;
}

int vigil_sim_set_link_loss(vigil_sim *s, uint32_t a, uint32_t b, double loss, bool oneway) {
  if (a >= s->n || b >= s->n) return VIGIL_ENOENT;
  if (!(loss >= 0 && loss <= 1)) return VIGIL_EINVAL;
  link *l = sim__link_make(s, a, b);
  if (!l) return VIGIL_ENOMEM;
  l->loss = loss;
  if (!oneway) return vigil_sim_set_link_loss(s, b, a, loss, true);
  return VIGIL_OK;
}

int vigil_sim_cut(vigil_sim *s, uint32_t a, uint32_t b, bool oneway) {
  if (a >= s->n || b >= s->n) return VIGIL_ENOENT;
  link *l = sim__link_make(s, a, b);
  if (!l) return VIGIL_ENOMEM;
  l->cut = true;
  if (!oneway) return vigil_sim_cut(s, b, a, true);
  return VIGIL_OK;
}

void vigil_sim_heal(vigil_sim *s) {
  for (uint32_t k = 0; k < s->links_cap; k++) s->links[k].cut = false;
}

/* ---- what happened ------------------------------------------------------------- */

bool vigil_sim_next_event(vigil_sim *s, uint32_t *agent_out, vigil_event *e) {
  if (!s->col_len) return false;
  collected *c = &s->col[s->col_head];
  *agent_out = c->agent;
  *e = c->e;
  s->col_head = (s->col_head + 1) % s->col_cap;
  s->col_len--;
  return true;
}

void vigil_sim_stats_get(const vigil_sim *s, vigil_sim_stats *out) {
  *out = s->st;
  out->alive_ns = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    out->alive_ns += s->a[i].up_total;
    if (sim__alive(s->a[i].st)) out->alive_ns += s->now - s->a[i].up_since;
  }
}

bool vigil_sim_fault_get(const vigil_sim *s, uint32_t k, vigil_sim_fault *out) {
  if (k >= s->nfaults) return false;
  const fault *f = &s->faults[k];
  *out = f->f;
  out->observers = out->detected = out->already_down = 0;
  for (uint32_t o = 0; o < f->n; o++) {
    if (!f->watching[o] || !sim__alive(s->a[o].st)) continue;
    if (f->watching[o] == 2) {
      out->already_down++;
      continue;
    }
    out->observers++;
    out->detected += f->det[o] != UINT64_MAX;
  }
  return true;
}

static int sim__cmp_time(const void *x, const void *y) {
  vigil_time a = *(const vigil_time *)x, b = *(const vigil_time *)y;
  return a < b ? -1 : a > b;
}

uint32_t vigil_sim_fault_detections(const vigil_sim *s, uint32_t k, vigil_time *out, uint32_t cap) {
  if (k >= s->nfaults) return 0;
  const fault *f = &s->faults[k];
  uint32_t n = 0;
  for (uint32_t o = 0; o < f->n; o++) {
    if (f->watching[o] != 1 || !sim__alive(s->a[o].st) || f->det[o] == UINT64_MAX) continue;
    if (n < cap) out[n] = f->det[o];
    n++;
  }
  /* Fix: counting only (out NULL, cap 0) passed NULL to qsort, whose
   * argument is declared nonnull (UBSan: "null pointer passed as argument
   * 1"). */
  if (out && cap) qsort(out, n < cap ? n : cap, sizeof *out, sim__cmp_time);
  return n;
}
