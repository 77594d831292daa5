/*
 * member.c - membership: what received frames mean and which frames to
 * send, between the wire (frame.c) and the handler (gossip.c).
 *
 * Owns: this agent's identity (pname, generation, heartbeat version), the
 * (generation, version) pair last heard of every peer, the seeds, and the
 * counters of frames in and out.
 *
 * Must never: touch a socket or a clock (the runtime passes datagrams,
 * `now` and a send function), or change a peer's state other than through
 * the handler. A rejected or stale frame changes nothing.
 *
 * The rules (docs/PROTOCOL.md, "Membership"):
 *   - A strictly newer (generation, version) for peer X -- heard from X
 *     itself or in anyone's digest -- is a heartbeat for X. Equal or older
 *     pairs (duplicates, replays, late relays) are stale and ignored.
 *   - A newer generation means X restarted: peer_restarted, its detector is
 *     reset, then the heartbeat is recorded.
 *   - A peer first heard of directly joins (peer_joined) and its frame is
 *     its first heartbeat. A peer first heard of in a digest joins and is
 *     watched from then on; it is up once a newer pair for it arrives (so
 *     a stale digest entry about a dead peer does not report it up).
 *   - A newer shutdown frame from X: X left (peer_down, then peer_left) at
 *     once, without waiting for phi.
 *   - Each interval the agent bumps its version and sends a heartbeat with a
 *     digest of peers it believes up (fresh news first, then round robin, so
 *     every peer's news travels; 8 entries when it goes to every peer, 32 to
 *     a fanout) to every peer, or to `fanout` random ones: O(fanout)
 *     frames per interval whatever the cluster size. Seeds not yet known
 *     are always sent to, which is how an agent joins.
 *   - Peers down for reap_after are forgotten (seeds stay seeds).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Digest entries a frame carries when it goes to every peer. Each peer
 * then hears every other directly each interval, and relays only cover
 * losses: with 8 entries a frame, a peer of a 20-agent cluster is relayed
 * to each other ~8 times an interval, and the decoding and bytes are 40 %
 * of a full digest's (bench/README.md). Frames to `fanout` peers carry the
 * most the wire allows, VIGIL_DIGEST_MAX: there relays are the news. */
#define DIGEST_ALL_TO_ALL 8

enum { RX_HEARTBEAT, RX_DIGEST, RX_SHUTDOWN, RX_UNKNOWN, RX_KINDS };
enum { IGN_SELF, IGN_STALE, IGN_UNKNOWN_TYPE, IGN_KINDS };

typedef struct member {
  uint64_t generation; /* latest generation heard (0 = nothing heard yet) */
  uint64_t version;    /* latest version heard within that generation */
  vigil_time heard;    /* when that news arrived */
  bool known;          /* generation and version are meaningful */
  bool direct;         /* heard from the peer itself since it (re)joined */
} member;

typedef struct seed {
  char pname[VIGIL_PNAME_MAX];
} seed;

struct vigil_members {
  vigil_handler *h;
  vigil_pool *pool;
  char self[VIGIL_PNAME_MAX];
  uint64_t generation;
  uint64_t version;
  uint32_t fanout;
  vigil_time reap_after;
  const vigil_keyring *kr;
  uint64_t rng;  /* xorshift64* state for the fanout choice */
  member *table; /* indexed by pool slot */
  uint32_t table_cap;
  seed *seeds;
  uint32_t nseeds, seeds_cap;
  uint32_t cursor;      /* digest round robin over pool slots */
  vigil_time last_tick; /* now of the previous tick: news since then is fresh */
  uint32_t fresh;       /* peers with news since the previous tick */
  uint32_t *chosen;     /* this tick's fanout targets */
  uint32_t chosen_cap;
  vigil_frame rx, tx; /* scratch frames (about 9 KiB each) */
  /* counters, rendered by vigil_members_render_metrics */
  uint64_t received[RX_KINDS];
  uint64_t sent[4]; /* by frame type 1..3 */
  uint64_t rejected[VIGIL_FRAME_REASONS];
  uint64_t ignored[IGN_KINDS];
  uint64_t send_errors;
  uint64_t bytes_in, bytes_out;
  uint64_t joined, restarted, left, reaped;
};

void vigil_members_config_init(vigil_members_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->reap_after = 60 * VIGIL_SEC;
  cfg->seed = 0x9e3779b97f4a7c15ull;
}

static uint64_t members__rand(vigil_members *m) {
  m->rng ^= m->rng >> 12;
  m->rng ^= m->rng << 25;
  m->rng ^= m->rng >> 27;
  return m->rng * 2685821657736338717ull;
}

static member *members__entry(vigil_members *m, uint32_t idx) {
  if (idx >= m->table_cap) {
    uint32_t cap = m->table_cap ? m->table_cap : 16;
    while (cap <= idx) cap *= 2;
    member *t = realloc(m->table, (size_t)cap * sizeof *t);
    if (!t) return NULL;
    memset(t + m->table_cap, 0, (size_t)(cap - m->table_cap) * sizeof *t);
    m->table = t;
    m->table_cap = cap;
  }
  return &m->table[idx];
}

vigil_members *vigil_members_new(vigil_handler *h, const vigil_members_config *cfg, vigil_time now, const char **why) {
  const char *bad = NULL;
  size_t hl;
  uint16_t port;
  vigil_pool *pool = vigil_handler_pool(h);
  if (!cfg->self || vigil_pname_parse(cfg->self, &hl, &port) != VIGIL_OK)
    bad = "self must be a \"host:port\" pname";
  else if (vigil_pool_local(pool) >= 0)
    bad = "the pool already has a local peer";
  else if (cfg->ntokens > VIGIL_FRAME_TOKENS_MAX)
    bad = "at most 64 tokens travel in a heartbeat";
  if (bad) {
    if (why) *why = bad;
    return NULL;
  }
  vigil_members *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->h = h;
  m->pool = pool;
  vigil__copy(m->self, sizeof m->self, cfg->self);
  m->generation = cfg->generation;
  m->fanout = cfg->fanout;
  m->reap_after = cfg->reap_after;
  m->kr = cfg->keyring;
  m->rng = cfg->seed ? cfg->seed : 1;
  vigil_peer_spec me = {cfg->self, cfg->dc, cfg->rack, cfg->tokens, cfg->ntokens, true, cfg->keyring != NULL};
  int rc = vigil_pool_add(pool, &me, now, NULL);
  if (rc != VIGIL_OK) {
    if (why) *why = rc == VIGIL_ENAMETOOLONG ? "dc or rack name too long" : vigil_strerror(rc);
    free(m);
    return NULL;
  }
  return m;
}

void vigil_members_free(vigil_members *m) {
  if (!m) return;
  free(m->table);
  free(m->seeds);
  free(m->chosen);
  free(m);
}

int vigil_members_add_seed(vigil_members *m, const char *pname, const vigil_peer_spec *placement) {
  (void)placement; /* placement comes from the seed's own heartbeat */
  size_t hl;
  uint16_t port;
  int rc = vigil_pname_parse(pname, &hl, &port);
  if (rc) return rc;
  if (strcmp(pname, m->self) == 0) return VIGIL_OK; /* listed as its own seed: fine */
  for (uint32_t i = 0; i < m->nseeds; i++)
    if (strcmp(m->seeds[i].pname, pname) == 0) return VIGIL_OK;
  if (m->nseeds == m->seeds_cap) {
    uint32_t cap = m->seeds_cap ? m->seeds_cap * 2 : 4;
    seed *s = realloc(m->seeds, (size_t)cap * sizeof *s);
    if (!s) return VIGIL_ENOMEM;
    m->seeds = s;
    m->seeds_cap = cap;
  }
  vigil__copy(m->seeds[m->nseeds++].pname, VIGIL_PNAME_MAX, pname);
  return VIGIL_OK;
}

uint64_t vigil_members_generation(const vigil_members *m) { return m->generation; }
void vigil_members_set_fanout(vigil_members *m, uint32_t fanout) { m->fanout = fanout; }
uint32_t vigil_members_fresh(const vigil_members *m) { return m->fresh; }
uint64_t vigil_members_version(const vigil_members *m) { return m->version; }

bool vigil_members_info(const vigil_members *m, uint32_t idx, uint64_t *generation, uint64_t *version,
                        vigil_time *heard) {
  vigil_peer *p = vigil_pool_get(m->pool, idx);
  if (!p) return false;
  if (p->is_local) {
    *generation = m->generation;
    *version = m->version;
    *heard = 0;
    return true;
  }
  const member *e = idx < m->table_cap ? &m->table[idx] : NULL;
  *generation = e && e->known ? e->generation : 0;
  *version = e && e->known ? e->version : 0;
  *heard = e && e->known ? e->heard : 0;
  return true;
}

/* ---- receiving ------------------------------------------------------------ */

/* Placement a direct frame announces, applied on first contact and restart. */
static void members__place(vigil_members *m, uint32_t idx, const vigil_frame *f) {
  vigil__pool_place(m->pool, idx, f->dc, f->rack, f->tokens, f->ntokens);
}

/* One piece of news about `pname`: (generation, version), heard directly
 * (f = the peer's own frame) or in a digest (f = NULL). */
static void members__news(vigil_members *m, const char *pname, uint64_t gen, uint64_t ver, const char *dc,
                          const char *rack, const vigil_frame *f, bool shutdown, vigil_time now) {
  if (strcmp(pname, m->self) == 0) return; /* news about ourselves */
  vigil_peer *p = vigil_pool_find(m->pool, pname);
  if (!p) {
    if (shutdown) return; /* a stranger leaving: nothing to forget */
    vigil_peer_spec spec = {pname, dc, rack, f ? f->tokens : NULL, f ? f->ntokens : 0, false, m->kr != NULL};
    uint32_t idx;
    if (vigil_handler_add_peer(m->h, &spec, now, &idx) != VIGIL_OK) return;
    member *e = members__entry(m, idx);
    if (!e) {
      vigil_handler_remove_peer(m->h, pname);
      return;
    }
    *e = (member){gen, ver, now, true, f != NULL};
    m->joined++;
    if (f) vigil_handler_record_heartbeat_idx(m->h, idx, now);
    return;
  }
  uint32_t idx = p->idx;
  member *e = members__entry(m, idx);
  if (!e) return;
  bool restart = e->known && gen > e->generation;
  bool newer = !e->known || restart || (gen == e->generation && ver > e->version);
  if (!newer) {
    m->ignored[IGN_STALE]++;
    return;
  }
  bool first = !e->known;
  *e = (member){gen, ver, now, true, e->direct && !restart};
  if (restart) {
    m->restarted++;
    vigil_handler_peer_restarted(m->h, idx, now);
  }
  if (f && !e->direct) {
    members__place(m, idx, f);
    e->direct = true;
  }
  if (shutdown) {
    m->left++;
    vigil_handler_peer_left(m->h, pname, now);
  } else if (!first || f) {
    vigil_handler_record_heartbeat_idx(m->h, idx, now);
  }
}

/* Ask for the memory the digest's entries will touch -- each peer's bucket,
 * then its record and its table entry -- before touching any of it, so
 * that their cache misses overlap. An agent that hears from thousands of
 * peers, or a simulator running thousands of agents, keeps little of it in
 * cache between two frames. */
static void members__prefetch(const vigil_members *m, const vigil_frame *f) {
  uint32_t hash[VIGIL_DIGEST_MAX];
  uint32_t n = f->ndigest < VIGIL_DIGEST_MAX ? f->ndigest : VIGIL_DIGEST_MAX;
  for (uint32_t i = 0; i < n; i++) hash[i] = vigil__pool_prefetch_bucket(m->pool, f->digest[i].pname);
  int64_t idx[VIGIL_DIGEST_MAX];
  for (uint32_t i = 0; i < n; i++) {
    idx[i] = vigil__pool_prefetch_peer(m->pool, hash[i]);
    if (idx[i] >= 0 && (uint64_t)idx[i] < m->table_cap) __builtin_prefetch(&m->table[idx[i]]);
  }
  /* The windows the heartbeats will be added to, once the peers are in. */
  for (uint32_t i = 0; i < n; i++) {
    if (idx[i] < 0) continue;
    const vigil_peer *p = vigil_pool_get(m->pool, (uint32_t)idx[i]);
    const vigil_detector *d = p ? &p->detector : NULL;
    if (d && d->window && d->alloc) __builtin_prefetch(&d->window[(d->head + d->len) % d->alloc]);
  }
}

int vigil_members_receive(vigil_members *m, const uint8_t *buf, size_t len, vigil_time now) {
  vigil_frame *f = &m->rx;
  m->bytes_in += len;
  int rc = vigil_frame_decode(buf, len, m->kr, f);
  if (rc != VIGIL_OK) {
    int i = vigil_frame_reason_index(rc);
    if (i >= 0) m->rejected[i]++;
    return rc;
  }
  bool known = f->type >= VIGIL_FRAME_HEARTBEAT && f->type <= VIGIL_FRAME_SHUTDOWN;
  m->received[known ? f->type - 1 : RX_UNKNOWN]++;
  if (strcmp(f->from, m->self) == 0) {
    m->ignored[IGN_SELF]++;
    return VIGIL_OK;
  }
  if (!known) {
    m->ignored[IGN_UNKNOWN_TYPE]++;
    return VIGIL_OK;
  }
  bool shutdown = f->type == VIGIL_FRAME_SHUTDOWN;
  if (!shutdown) members__prefetch(m, f);
  members__news(m, f->from, f->generation, f->version, f->dc, f->rack, f, shutdown, now);
  if (!shutdown)
    for (uint32_t i = 0; i < f->ndigest; i++) {
      const vigil_digest_entry *d = &f->digest[i];
      members__news(m, d->pname, d->generation, d->version, d->dc, d->rack, NULL, false, now);
    }
  return VIGIL_OK;
}

/* ---- sending ---------------------------------------------------------------- */

/* Fill the tx frame with this agent's fields (no digest). */
static void members__self_frame(vigil_members *m, uint32_t type) {
  vigil_frame *f = &m->tx;
  const vigil_peer *me = vigil_pool_get(m->pool, (uint32_t)vigil_pool_local(m->pool));
  memset(f, 0, offsetof(vigil_frame, tokens));
  f->type = type;
  vigil__copy(f->from, sizeof f->from, m->self);
  f->generation = m->generation;
  f->version = m->version;
  vigil__copy(f->dc, sizeof f->dc, me->dc);
  vigil__copy(f->rack, sizeof f->rack, me->rack);
  f->has_state = true;
  f->state = (uint8_t)me->state;
  f->ntokens = me->ntokens < VIGIL_FRAME_TOKENS_MAX ? me->ntokens : VIGIL_FRAME_TOKENS_MAX;
  if (f->ntokens) memcpy(f->tokens, me->tokens, f->ntokens * sizeof *f->tokens);
  f->ndigest = 0;
}

static bool members__digestible(const vigil_members *m, uint32_t i, const vigil_peer *p) {
  return p && !p->is_local && p->state == VIGIL_STATE_NORMAL && i < m->table_cap && m->table[i].known;
}

static void members__digest_add(vigil_members *m, uint32_t i, const vigil_peer *p) {
  vigil_digest_entry *d = &m->tx.digest[m->tx.ndigest++];
  vigil__copy(d->pname, sizeof d->pname, p->pname);
  d->generation = m->table[i].generation;
  d->version = m->table[i].version;
  vigil__copy(d->dc, sizeof d->dc, p->dc);
  vigil__copy(d->rack, sizeof d->rack, p->rack);
}

/*
 * Up to `cap` peers believed up: first those whose news arrived since
 * the previous tick (fresh news spreads in a few hops, as in SWIM's
 * piggybacking), then the others in round robin so that every peer's news
 * travels eventually. Both walks start at the cursor, and the cursor moves
 * past what was taken, so that when more peers have news than a digest
 * holds (every peer, in a cluster that heartbeats all to all) successive
 * frames relay different ones.
 */
static void members__digest(vigil_members *m, uint32_t cap, vigil_time now) {
  vigil_frame *f = &m->tx;
  uint32_t slots = vigil_pool_slots(m->pool);
  if (!m->table_cap) { /* no peer heard of yet: nothing to send, the rotation moves on */
    m->fresh = 0;
    m->cursor += slots;
    m->last_tick = now;
    return;
  }
  if (slots > m->table_cap) slots = m->table_cap; /* cannot happen: every remote slot has an entry */
  uint32_t i = slots ? m->cursor % slots : 0;
  m->fresh = 0;
  /* The table is small and dense; a peer's own record is only looked at
   * when its entry says there is something to send: walking every slot
   * each round stays cheap however many peers the agent knows. */
  for (uint32_t step = 0; step < slots; step++, i = i + 1 == slots ? 0 : i + 1) {
    if (!(m->table[i].heard > m->last_tick)) continue;
    const vigil_peer *p = vigil_pool_get(m->pool, i);
    if (!p || p->is_local) continue;
    m->fresh++;
    if (f->ndigest < cap && members__digestible(m, i, p)) {
      members__digest_add(m, i, p);
      if (f->ndigest == cap) m->cursor = i + 1; /* full: the next frame starts after it */
    }
  }
  for (uint32_t step = 0; step < slots && f->ndigest < cap; step++) {
    uint32_t k = m->cursor++ % slots;
    if (!m->table[k].known || m->table[k].heard > m->last_tick) continue;
    const vigil_peer *p = vigil_pool_get(m->pool, k);
    if (members__digestible(m, k, p)) members__digest_add(m, k, p);
  }
  m->last_tick = now;
}

/* Encode tx, dropping digest entries until it fits a datagram. */
static int members__encode(vigil_members *m, uint8_t *buf) {
  for (;;) {
    int n = vigil_frame_encode(&m->tx, m->kr, buf, VIGIL_FRAME_MAX);
    if (n != VIGIL_FRAME_ETOOBIG || m->tx.ndigest == 0) return n;
    m->tx.ndigest = m->tx.ndigest > 4 ? m->tx.ndigest - 4 : 0;
  }
}

static void members__send(vigil_members *m, vigil_send_fn send, void *ud, const char *pname, const uint8_t *buf,
                          size_t len, uint32_t type, size_t *count) {
  if (send(ud, pname, buf, len) < 0) {
    m->send_errors++;
  } else {
    m->sent[type]++;
    m->bytes_out += len;
  }
  (*count)++;
}

/* Send buf to the seeds no peer of the pool answers for yet. */
static void members__send_seeds(vigil_members *m, vigil_send_fn send, void *ud, const uint8_t *buf, size_t len,
                                uint32_t type, size_t *count) {
  for (uint32_t i = 0; i < m->nseeds; i++)
    if (!vigil_pool_find(m->pool, m->seeds[i].pname))
      members__send(m, send, ud, m->seeds[i].pname, buf, len, type, count);
}

/* Forget peers that have been down for reap_after. */
static void members__reap(vigil_members *m, vigil_time now) {
  if (!m->reap_after) return;
  uint32_t slots = vigil_pool_slots(m->pool);
  for (uint32_t i = 0; i < slots; i++) {
    vigil_peer *p = vigil_pool_get(m->pool, i);
    if (!p || p->is_local || p->state != VIGIL_STATE_DOWN || now < p->since || now - p->since < m->reap_after) continue;
    char pname[VIGIL_PNAME_MAX];
    vigil__copy(pname, sizeof pname, p->pname);
    if (vigil_handler_remove_peer(m->h, pname) == VIGIL_OK) {
      if (i < m->table_cap) memset(&m->table[i], 0, sizeof m->table[i]);
      m->reaped++;
    }
  }
}

/* Pick this tick's targets: every remote peer, or `fanout` random ones. */
static uint32_t members__choose(vigil_members *m) {
  uint32_t slots = vigil_pool_slots(m->pool);
  uint32_t remote = vigil_pool_count(m->pool) - 1;
  uint32_t want = m->fanout && m->fanout < remote ? m->fanout : remote;
  if (want > m->chosen_cap) {
    uint32_t *c = realloc(m->chosen, (size_t)want * sizeof *c);
    if (!c) return 0;
    m->chosen = c;
    m->chosen_cap = want;
  }
  uint32_t n = 0;
  if (want == remote) {
    for (uint32_t i = 0; i < slots; i++) {
      const vigil_peer *p = vigil_pool_get(m->pool, i);
      if (p && !p->is_local) m->chosen[n++] = i;
    }
    return n;
  }
  /* Random distinct slots, O(fanout) expected: the pool is dense (removed
   * slots are reused), so few draws miss. Bounded in case it is not. */
  for (uint32_t tries = 0; n < want && tries < want * 16; tries++) {
    uint32_t i = (uint32_t)(members__rand(m) % slots);
    const vigil_peer *p = vigil_pool_get(m->pool, i);
    if (!p || p->is_local) continue;
    bool dup = false;
    for (uint32_t k = 0; k < n && !dup; k++) dup = m->chosen[k] == i;
    if (!dup) m->chosen[n++] = i;
  }
  return n;
}

size_t vigil_members_tick(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud) {
  size_t count = 0;
  m->version++;
  const vigil_peer *me = vigil_pool_get(m->pool, (uint32_t)vigil_pool_local(m->pool));
  if (me->state == VIGIL_STATE_JOINING) vigil_handler_set_local_state(m->h, VIGIL_STATE_NORMAL, now);
  members__reap(m, now);

  uint32_t n = members__choose(m);
  bool all = n + 1 >= vigil_pool_count(m->pool);
  members__self_frame(m, VIGIL_FRAME_HEARTBEAT);
  members__digest(m, all ? DIGEST_ALL_TO_ALL : VIGIL_DIGEST_MAX, now);
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = members__encode(m, buf);
  if (len < 0) return 0;

  for (uint32_t k = 0; k < n; k++) {
    const vigil_peer *p = vigil_pool_get(m->pool, m->chosen[k]);
    members__send(m, send, ud, p->pname, buf, (size_t)len, VIGIL_FRAME_HEARTBEAT, &count);
  }
  members__send_seeds(m, send, ud, buf, (size_t)len, VIGIL_FRAME_HEARTBEAT, &count);
  return count;
}

size_t vigil_members_shutdown(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud) {
  size_t count = 0;
  m->version++;
  vigil_handler_set_local_state(m->h, VIGIL_STATE_LEAVING, now);
  members__self_frame(m, VIGIL_FRAME_SHUTDOWN);
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = members__encode(m, buf);
  if (len < 0) return 0;
  uint32_t slots = vigil_pool_slots(m->pool);
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(m->pool, i);
    if (p && !p->is_local) members__send(m, send, ud, p->pname, buf, (size_t)len, VIGIL_FRAME_SHUTDOWN, &count);
  }
  members__send_seeds(m, send, ud, buf, (size_t)len, VIGIL_FRAME_SHUTDOWN, &count);
  return count;
}

/* ---- metrics ------------------------------------------------------------------- */

static void family(vigil__buf *b, const char *name, const char *type, const char *help) {
  vigil__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *vigil_members_render_metrics(const vigil_members *m, char *text, size_t *len) {
  static const char *const rx_names[RX_KINDS] = {"heartbeat", "digest", "shutdown", "unknown"};
  static const char *const ign_names[IGN_KINDS] = {"self", "stale", "unknown_type"};
  vigil__buf b = {text, len ? *len : strlen(text), len ? *len + 1 : strlen(text) + 1, false};
  family(&b, "frames_received_total", "counter", "Frames decoded, by type.");
  for (int i = 0; i < RX_KINDS; i++)
    vigil__buf_printf(&b, "frames_received_total{type=\"%s\"} %llu\n", rx_names[i], (unsigned long long)m->received[i]);
  family(&b, "frames_rejected_total", "counter", "Datagrams rejected before touching any peer, by reason.");
  for (int i = 0; i < VIGIL_FRAME_REASONS; i++)
    vigil__buf_printf(&b, "frames_rejected_total{reason=\"%s\"} %llu\n", vigil_frame_reason(VIGIL_FRAME_ETOOBIG - i),
                      (unsigned long long)m->rejected[i]);
  family(&b, "frames_ignored_total", "counter", "Valid frames that brought no news, by reason.");
  for (int i = 0; i < IGN_KINDS; i++)
    vigil__buf_printf(&b, "frames_ignored_total{reason=\"%s\"} %llu\n", ign_names[i],
                      (unsigned long long)m->ignored[i]);
  family(&b, "frames_sent_total", "counter", "Frames handed to the network, by type.");
  for (int t = 1; t <= 3; t++)
    vigil__buf_printf(&b, "frames_sent_total{type=\"%s\"} %llu\n", rx_names[t - 1], (unsigned long long)m->sent[t]);
  family(&b, "frames_send_errors_total", "counter", "Frames the network refused to send.");
  vigil__buf_printf(&b, "frames_send_errors_total %llu\n", (unsigned long long)m->send_errors);
  family(&b, "gossip_bytes_received_total", "counter", "Bytes of datagrams received.");
  vigil__buf_printf(&b, "gossip_bytes_received_total %llu\n", (unsigned long long)m->bytes_in);
  family(&b, "gossip_bytes_sent_total", "counter", "Bytes of datagrams sent.");
  vigil__buf_printf(&b, "gossip_bytes_sent_total %llu\n", (unsigned long long)m->bytes_out);
  family(&b, "members_changes_total", "counter", "Membership changes, by kind.");
  vigil__buf_printf(&b, "members_changes_total{kind=\"joined\"} %llu\n", (unsigned long long)m->joined);
  vigil__buf_printf(&b, "members_changes_total{kind=\"restarted\"} %llu\n", (unsigned long long)m->restarted);
  vigil__buf_printf(&b, "members_changes_total{kind=\"left\"} %llu\n", (unsigned long long)m->left);
  vigil__buf_printf(&b, "members_changes_total{kind=\"reaped\"} %llu\n", (unsigned long long)m->reaped);
  family(&b, "gossip_generation", "gauge", "This agent's generation.");
  vigil__buf_printf(&b, "gossip_generation %llu\n", (unsigned long long)m->generation);
  family(&b, "gossip_heartbeat_version", "gauge", "This agent's latest heartbeat version.");
  vigil__buf_printf(&b, "gossip_heartbeat_version %llu\n", (unsigned long long)m->version);
  if (b.failed) {
    free(b.data);
    return NULL;
  }
  if (len) *len = b.len;
  return b.data;
}
