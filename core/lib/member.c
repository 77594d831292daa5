/*
 * member.c - membership: what received frames mean and which frames to
 * send, between the wire (frame.c) and the handler (gossip.c).
 *
 * Owns: this agent's identity (pname, generation, incarnation, heartbeat
 * version), what it knows of every peer (generation, incarnation, the
 * latest heartbeat version heard from the peer itself, the alerts raised
 * about it), the observer rings, the rumours waiting to be spread, the
 * seeds, and the counters of frames in and out.
 *
 * Must never: touch a socket or a clock (the runtime passes datagrams,
 * `now` and a send function); change a peer's state other than through the
 * handler; do work in proportion to the cluster's size on a frame or a
 * tick (a large cluster is thousands of peers: everything per frame and
 * per tick is O(K), O(news) or O(log N)). A rejected or stale frame
 * changes nothing.
 *
 * The rules (docs/PROTOCOL.md, "Membership" and "Observers"):
 *   - Every agent is watched by K observers, computed by everyone alike
 *     from the member list (ring.c). A subject sends its heartbeat to its
 *     observers every interval; an observer asks its subjects for theirs
 *     (flag want) and anyone who asks is answered for a few intervals.
 *     Heartbeats feed phi only when they come from the peer itself.
 *   - Small cluster (no more than K + 1 members): every agent observes
 *     every other; each sends to every peer and convicts on its own phi
 *     or a refusal, exactly as the detector always did.
 *   - Large cluster: an observer whose phi (or a refusal) condemns a
 *     subject raises an alert about the subject's (generation,
 *     incarnation); alerts spread as rumours (piggybacked on every frame,
 *     urgent ones flushed at once, each retransmitted ~3 log2 N times). An
 *     agent convicts X when max(L, H - D) of X's observers alerted about
 *     X's current incarnation, D being X's observers it already holds down
 *     (cause observers). Alerts from anyone but X's observers count for
 *     nothing.
 *   - A live agent that hears an alert about itself raises its incarnation
 *     and spreads that (refutation): alerts about an older incarnation are
 *     void, and a peer held down at an older incarnation is up again.
 *   - Membership news (joins, restarts, refutations) spreads as digest
 *     entries: rumours first, then a few members in round robin, or as
 *     many as fit to a peer that knows fewer members than we do.
 *   - Peers down for reap_after are forgotten (seeds stay seeds).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RUMOURS_MAX           256  /* rumours waiting to be spread; the oldest go first when full */
#define ALERTS_KEPT           16   /* alerters remembered per subject */
#define DIGEST_ROUTINE        1    /* round-robin entries per frame when the receiver's list is ours */
#define DIGEST_SMALL          8    /* entries per frame in a small cluster (relayed heartbeats) */
#define DIGEST_ALIVE          8    /* alive rumours per frame */
#define LINGER                5    /* intervals we keep answering a peer that asked */
#define TELL_MAX              64   /* peers to tell "you are held down" at the next flush */
#define FLUSH_SPACING         8    /* urgent flushes at most every interval / this */
#define LAMBDA                3    /* retransmissions: LAMBDA * ceil(log2(members + 1)) */
#define TOMBS_MAX             1024 /* reaped members remembered, so relayed news cannot bring them back */
#define SOURCES               64   /* join-rate buckets (by sender, direct-mapped) */
#define PROBE_CAP_SHIFT       6    /* a peer never heard is probed at most every 2^6 = 64 intervals */
#define PROBE_CAP_HEARD_SHIFT 2    /* one heard before and held down, every 4 */

enum { RX_HEARTBEAT, RX_DIGEST, RX_SHUTDOWN, RX_UNKNOWN, RX_KINDS };
enum { IGN_SELF, IGN_STALE, IGN_UNKNOWN_TYPE, IGN_GENERATION, IGN_HEARD, IGN_JOIN_RATE, IGN_FULL, IGN_KINDS };
enum { AL_ACCEPTED, AL_STALE, AL_NOT_OBSERVER, AL_UNKNOWN, AL_KINDS };
enum { R_ALIVE = 1, R_ALERT = 2 };

typedef struct member {
  uint64_t generation;     /* latest generation heard (0 = nothing heard yet) */
  uint64_t version;        /* latest heartbeat version heard from the peer itself */
  uint64_t incarnation;    /* latest incarnation heard within that generation */
  uint64_t h0;             /* the ring hash of its pname */
  vigil_time heard;        /* when the latest news arrived */
  vigil_time wanted_until; /* it asked for our heartbeats until then */
  vigil_time told_at;      /* when we last told it that it is held down */
  vigil_time resent_at;    /* when we last spread its alerts again (it was news to someone) */
  vigil_time direct_at;    /* when a frame of its own last came from its address (0 = never) */
  vigil_time probe_at;     /* silent: when it may be probed again */
  uint32_t members;        /* members it said it knows (0 = never said) */
  uint32_t mark;           /* == tx_seq: already an entry of the frame being built */
  uint64_t view;           /* the checksum of its member list it last sent (0 = never) */
  uint32_t *alerts;        /* observers that alerted about (generation, incarnation) */
  uint8_t nalerts;
  uint8_t probes;  /* probes sent since it was last heard */
  bool gen_direct; /* its generation came from itself (not only from others' news) */
  bool known;      /* generation and incarnation are meaningful */
  bool direct;     /* its placement came from its own frame */
  bool alerted;    /* we alerted about (generation, incarnation) ourselves */
  bool suspect;    /* listed in suspects */
  bool wanter;     /* listed in wanters */
} member;

typedef struct rumour {
  uint32_t subject;  /* pool slot */
  uint32_t observer; /* R_ALERT: the alerting observer's slot */
  uint64_t generation, incarnation;
  int32_t left; /* transmissions left */
  uint8_t kind;
} rumour;

/* A reaped member: news of it no newer than (generation, incarnation),
 * relayed by an agent that has not caught up, is stale until `until`. */
typedef struct tomb {
  uint64_t h0, generation, incarnation;
  vigil_time until;
} tomb;

typedef struct seed {
  char pname[VIGIL_PNAME_MAX];
} seed;

/* A sender's allowance of new peers (a token bucket, in millitokens). */
typedef struct source {
  uint64_t h;
  uint64_t milli;
  vigil_time at;
} source;

typedef struct idxs {
  uint32_t *v;
  uint32_t n, cap;
} idxs;

struct vigil_members {
  vigil_handler *h;
  vigil_pool *pool;
  char self[VIGIL_PNAME_MAX];
  uint32_t me;      /* our own pool slot */
  uint64_t self_h0; /* the ring hash of our pname */
  uint64_t generation;
  uint64_t version;
  uint64_t incarnation;
  vigil_time interval;
  vigil_time reap_after;
  vigil_time next_reap;
  vigil_time born;     /* `now` when made: our clock is generation + (now - born) */
  vigil_time max_skew; /* 0 = no clock checks */
  uint32_t max_peers, join_rate, join_burst;
  source sources[SOURCES];
  const vigil_keyring *kr;
  uint32_t k, quorum;
  vigil__rings *rings;
  bool small;
  bool roles_stale; /* the rings changed since observers / subjects were computed */
  uint64_t view;    /* checksum of our member list: what we know of whom */
  uint32_t observers[VIGIL__RINGS_MAX];
  uint32_t nobservers;
  uint32_t subjects[2 * VIGIL__RINGS_MAX];
  uint32_t nsubjects;
  member *table; /* indexed by pool slot */
  uint32_t table_cap;
  seed *seeds;
  uint32_t nseeds, seeds_cap;
  uint32_t cursor; /* digest round robin over pool slots */
  uint32_t fresh;  /* peers with news during the latest interval */
  uint32_t fresh_now;
  rumour rumours[RUMOURS_MAX];
  uint32_t nrumours;
  vigil_time flush_due; /* UINT64_MAX = nothing urgent waits */
  vigil_time last_flush;
  tomb *tombs; /* ring of TOMBS_MAX, allocated at the first reap */
  uint32_t ntombs, tomb_next;
  uint32_t tell[TELL_MAX];
  uint32_t ntell;
  idxs suspects, wanters, targets;
  vigil_frame rx, tx; /* scratch frames */
  uint32_t tx_seq;    /* counts frames built (members' marks) */
  /* counters, rendered by vigil_members_render_metrics */
  uint64_t received[RX_KINDS];
  uint64_t sent[4]; /* by frame type 1..3 */
  uint64_t rejected[VIGIL_FRAME_REASONS];
  uint64_t ignored[IGN_KINDS];
  uint64_t alerts_in[AL_KINDS];
  uint64_t alerts_raised, refutations, rumours_dropped, told;
  uint64_t overruled, probes;
  uint64_t send_errors;
  uint64_t bytes_in, bytes_out;
  uint64_t joined, restarted, left, reaped;
};

void vigil_members_config_init(vigil_members_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->reap_after = 60 * VIGIL_SEC;
  cfg->interval = 200 * VIGIL_MS;
  cfg->seed = 0x9e3779b97f4a7c15ull;
  cfg->max_peers = VIGIL_MAX_PEERS;
  cfg->max_skew = VIGIL_MAX_SKEW;
  cfg->join_rate = VIGIL_JOIN_RATE;
  cfg->join_burst = VIGIL_JOIN_BURST;
}

/* The member list's checksum: a sum over members of a hash of (pname,
 * generation, incarnation), kept as entries change. Two agents that know
 * the same members at the same incarnations have the same sum; a
 * neighbour whose sum differs gets full digests until they agree. */
static uint64_t members__term(uint64_t h0, uint64_t gen, uint64_t inc) {
  uint64_t x = h0 ^ (gen * 0x9e3779b97f4a7c15ull) ^ (inc * 0xc2b2ae3d27d4eb4full);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return x;
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

static bool idxs_has(const idxs *s, uint32_t v) {
  for (uint32_t i = 0; i < s->n; i++)
    if (s->v[i] == v) return true;
  return false;
}

static bool idxs_push(idxs *s, uint32_t v) {
  if (s->n == s->cap) {
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    uint32_t *p = realloc(s->v, (size_t)cap * sizeof *p);
    if (!p) return false;
    s->v = p;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  return true;
}

static void idxs_drop(idxs *s, uint32_t v) {
  for (uint32_t i = 0; i < s->n; i++)
    if (s->v[i] == v) s->v[i--] = s->v[--s->n];
}

vigil_members *vigil_members_new(vigil_handler *h, const vigil_members_config *cfg, vigil_time now, const char **why) {
  const char *bad = NULL;
  size_t hl;
  uint16_t port;
  vigil_pool *pool = vigil_handler_pool(h);
  uint32_t k = cfg->observers ? cfg->observers : VIGIL_OBSERVERS;
  uint32_t quorum = cfg->quorum ? cfg->quorum : VIGIL_QUORUM;
  if (!cfg->self || vigil_pname_parse(cfg->self, &hl, &port) != VIGIL_OK)
    bad = "self must be a \"host:port\" pname";
  else if (vigil_pool_local(pool) >= 0)
    bad = "the pool already has a local peer";
  else if (cfg->ntokens > VIGIL_FRAME_TOKENS_MAX)
    bad = "at most 64 tokens travel in a heartbeat";
  else if (k > VIGIL__RINGS_MAX)
    bad = "at most 16 observers per agent";
  else if (quorum > k || quorum < VIGIL_QUORUM_LOW)
    bad = "the quorum must be between 2 and the number of observers";
  else if (cfg->max_skew && cfg->reap_after && cfg->max_skew >= cfg->reap_after)
    bad = "the clock skew allowed must be shorter than the reap time (a captured frame must be too old to "
          "count before the peer it names is forgotten)";
  else if (cfg->max_peers == 1)
    bad = "max_peers counts this agent: at least 2";
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
  m->interval = cfg->interval ? cfg->interval : 200 * VIGIL_MS;
  m->reap_after = cfg->reap_after;
  m->kr = cfg->keyring;
  m->born = now;
  m->max_skew = cfg->max_skew;
  m->max_peers = cfg->max_peers;
  m->join_rate = cfg->join_rate;
  m->join_burst = cfg->join_burst ? cfg->join_burst : cfg->join_rate;
  m->k = k;
  m->quorum = quorum;
  m->small = true;
  m->flush_due = UINT64_MAX;
  /* Agents started together must not walk the member list in step: each
   * starts its round robin somewhere else, so that a member one agent
   * lacks is in some neighbour's next entries. */
  m->self_h0 = vigil__ring_hash(cfg->self);
  m->cursor = (uint32_t)(m->self_h0 >> 40);
  m->view = members__term(m->self_h0, m->generation, m->incarnation);
  m->roles_stale = true;
  m->rings = vigil__rings_new(k);
  vigil_peer_spec me = {cfg->self, cfg->dc, cfg->rack, cfg->tokens, cfg->ntokens, true, cfg->keyring != NULL,
                        cfg->tags};
  int rc = m->rings ? vigil_pool_add(pool, &me, now, &m->me) : VIGIL_ENOMEM;
  if (rc == VIGIL_OK && vigil__rings_add(m->rings, m->me, m->self_h0) != VIGIL_OK) rc = VIGIL_ENOMEM;
  if (rc != VIGIL_OK) {
    if (why)
      *why = rc == VIGIL_ENAMETOOLONG ? "dc or rack name too long"
             : rc == VIGIL_EINVAL     ? "bad tags (vigil_tags_parse says which)"
                                      : vigil_strerror(rc);
    vigil__rings_free(m->rings);
    free(m);
    return NULL;
  }
  return m;
}

void vigil_members_free(vigil_members *m) {
  if (!m) return;
  for (uint32_t i = 0; i < m->table_cap; i++) free(m->table[i].alerts);
  free(m->table);
  free(m->seeds);
  free(m->tombs);
  free(m->suspects.v);
  free(m->wanters.v);
  free(m->targets.v);
  vigil__rings_free(m->rings);
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
  if (m->nseeds >= VIGIL_SEEDS_MAX) return VIGIL_ERANGE;
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
uint64_t vigil_members_incarnation(const vigil_members *m) { return m->incarnation; }
uint64_t vigil_members_view(const vigil_members *m) { return m->view ? m->view : 1; }
vigil_time vigil_members_flush_due(const vigil_members *m) { return m->flush_due; }
uint32_t vigil_members_fresh(const vigil_members *m) { return m->fresh; }
uint64_t vigil_members_version(const vigil_members *m) { return m->version; }
uint32_t vigil_members_observers(const vigil_members *m) { return m->k; }
bool vigil_members_small(const vigil_members *m) { return m->small; }
void vigil_members_set_interval(vigil_members *m, vigil_time interval) {
  if (interval) m->interval = interval;
}

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

/* ---- rumours ----------------------------------------------------------------- */

static int32_t members__limit(const vigil_members *m) {
  uint32_t n = vigil_pool_count(m->pool), bits = 0;
  while ((1u << bits) < n + 1 && bits < 31) bits++;
  return (int32_t)(LAMBDA * (bits ? bits : 1));
}

/* Spread something at once (as soon as the flush spacing allows). */
static void members__urgent(vigil_members *m, vigil_time now) {
  vigil_time at = m->last_flush + m->interval / FLUSH_SPACING;
  if (m->last_flush == 0 || at < now) at = now;
  if (at < m->flush_due) m->flush_due = at;
}

static void members__rumour(vigil_members *m, uint8_t kind, uint32_t subject, uint32_t observer, uint64_t gen,
                            uint64_t inc) {
  rumour *r = NULL;
  for (uint32_t i = 0; i < m->nrumours && !r; i++) {
    rumour *x = &m->rumours[i];
    if (x->kind == kind && x->subject == subject && (kind == R_ALIVE || x->observer == observer)) r = x;
  }
  if (!r) {
    if (m->nrumours == RUMOURS_MAX) { /* full: the one with the fewest transmissions left goes */
      uint32_t worst = 0;
      for (uint32_t i = 1; i < m->nrumours; i++)
        if (m->rumours[i].left < m->rumours[worst].left) worst = i;
      m->rumours[worst] = m->rumours[--m->nrumours];
      m->rumours_dropped++;
    }
    r = &m->rumours[m->nrumours++];
  }
  *r = (rumour){subject, observer, gen, inc, members__limit(m), kind};
}

/* Forget every rumour, alert and listing about slot idx (it is reaped). */
static void members__forget(vigil_members *m, uint32_t idx) {
  for (uint32_t i = 0; i < m->nrumours; i++) {
    rumour *r = &m->rumours[i];
    if (r->subject == idx || (r->kind == R_ALERT && r->observer == idx)) m->rumours[i--] = m->rumours[--m->nrumours];
  }
  for (uint32_t i = 0; i < m->ntell; i++)
    if (m->tell[i] == idx) m->tell[i--] = m->tell[--m->ntell];
  idxs_drop(&m->suspects, idx);
  idxs_drop(&m->wanters, idx);
  for (uint32_t i = 0; i < m->table_cap; i++) { /* its alerts about others */
    member *e = &m->table[i];
    for (uint32_t a = 0; a < e->nalerts; a++)
      if (e->alerts[a] == idx) e->alerts[a--] = e->alerts[--e->nalerts];
  }
  if (idx < m->table_cap) {
    if (m->table[idx].known)
      m->view -= members__term(m->table[idx].h0, m->table[idx].generation, m->table[idx].incarnation);
    free(m->table[idx].alerts);
    memset(&m->table[idx], 0, sizeof m->table[idx]);
  }
}

/* ---- rings and roles -------------------------------------------------------- */

/* Apply the membership changes of the interval to the rings and recompute
 * this agent's observers and subjects (a new subject is watched from now). */
static void members__commit(vigil_members *m, vigil_time now) {
  bool was_small = m->small;
  m->small = vigil_pool_count(m->pool) <= m->k + 1;
  if (!was_small && m->small) {
    /* Back to everyone judging everyone: peers up, that we did not hear
     * from directly, get a full detection time before they are judged
     * (peers down stay down until heard). */
    uint32_t n = vigil_pool_slots(m->pool);
    for (uint32_t i = 0; i < n; i++) {
      vigil_peer *p = vigil_pool_get(m->pool, i);
      if (p && !p->is_local && p->state == VIGIL_STATE_NORMAL) vigil_handler_watch(m->h, i, now);
    }
  }
  if (was_small && !m->small) {
    /* Into observer mode: a peer learned from others and never heard from
     * itself was waiting to be heard; now membership is its evidence. A
     * peer heard and then convicted stays down. */
    uint32_t n = vigil_pool_slots(m->pool);
    for (uint32_t i = 0; i < n; i++) {
      vigil_peer *p = vigil_pool_get(m->pool, i);
      if (p && !p->is_local && p->state != VIGIL_STATE_NORMAL && p->heartbeats == 0 && i < m->table_cap &&
          m->table[i].known)
        vigil_handler_set_state(m->h, i, VIGIL_STATE_NORMAL, VIGIL_CAUSE_MEMBERSHIP, now);
    }
  }
  bool changed = vigil__rings_dirty(m->rings);
  if (vigil__rings_commit(m->rings) != VIGIL_OK) return; /* out of memory: keep the old roles */
  if (!changed && !m->roles_stale) return;
  m->roles_stale = false;
  uint64_t h0 = m->self_h0;
  m->nobservers = vigil__rings_observers(m->rings, h0, m->me, m->observers);
  uint32_t old[2 * VIGIL__RINGS_MAX], nold = m->nsubjects;
  memcpy(old, m->subjects, nold * sizeof *old);
  m->nsubjects = vigil__rings_subjects(m->rings, h0, m->me, m->subjects, 2 * VIGIL__RINGS_MAX);
  if (m->small) return; /* every peer judged by its own heartbeats: nothing to watch */
  for (uint32_t i = 0; i < m->nsubjects; i++) {
    bool fresh = true; /* a new subject, or every subject when observers just began */
    for (uint32_t j = 0; !was_small && fresh && j < nold; j++) fresh = old[j] != m->subjects[i];
    if (fresh) vigil_handler_watch(m->h, m->subjects[i], now);
  }
}

static bool members__is_subject(const vigil_members *m, uint32_t idx) {
  for (uint32_t i = 0; i < m->nsubjects; i++)
    if (m->subjects[i] == idx) return true;
  return false;
}

/* Does X (slot idx) have a quorum of alerts about its current incarnation? */
static bool members__quorum(vigil_members *m, uint32_t idx) {
  member *e = &m->table[idx];
  if (!e->nalerts) return false;
  uint32_t obs[VIGIL__RINGS_MAX];
  uint32_t no = vigil__rings_observers(m->rings, e->h0, idx, obs);
  uint32_t alerts = 0, down = 0;
  for (uint32_t i = 0; i < no; i++) {
    bool alerted = false;
    for (uint32_t a = 0; a < e->nalerts && !alerted; a++) alerted = e->alerts[a] == obs[i];
    if (alerted) {
      alerts++;
    } else if (obs[i] != m->me) {
      const vigil_peer *o = vigil_pool_get(m->pool, obs[i]);
      if (o && o->state == VIGIL_STATE_DOWN) down++;
    }
  }
  uint32_t h = m->quorum < no ? m->quorum : no;
  uint32_t need = h > down ? h - down : 0;
  if (need < VIGIL_QUORUM_LOW) need = VIGIL_QUORUM_LOW;
  return alerts >= need;
}

static void members__clear_alerts(member *e) {
  e->nalerts = 0;
  e->alerted = false;
}

/* Check X's quorum and convict it when it is there. */
static void members__judge_quorum(vigil_members *m, uint32_t idx, vigil_time now) {
  vigil_peer *p = vigil_pool_get(m->pool, idx);
  if (!p || p->is_local || p->state == VIGIL_STATE_DOWN || m->small) return;
  if (members__quorum(m, idx)) vigil_handler_set_state(m->h, idx, VIGIL_STATE_DOWN, VIGIL_CAUSE_OBSERVERS, now);
}

/* Record observer `obs`'s alert about X (slot idx) at X's current incarnation. */
static bool members__add_alert(vigil_members *m, uint32_t idx, uint32_t obs) {
  member *e = &m->table[idx];
  for (uint32_t a = 0; a < e->nalerts; a++)
    if (e->alerts[a] == obs) return false;
  if (!e->alerts) {
    e->alerts = malloc(ALERTS_KEPT * sizeof *e->alerts);
    if (!e->alerts) return false;
  }
  if (e->nalerts == ALERTS_KEPT) return false;
  e->alerts[e->nalerts++] = obs;
  if (!e->suspect && idxs_push(&m->suspects, idx)) e->suspect = true;
  return true;
}

/* Small cluster: every member but slot `skip` observes it (up to cap). */
static uint32_t members__others(const vigil_members *m, uint32_t skip, uint32_t *idx, uint32_t cap) {
  uint32_t n = 0, slots = vigil_pool_slots(m->pool);
  for (uint32_t i = 0; i < slots && n < cap; i++)
    if (i != skip && vigil_pool_get(m->pool, i)) idx[n++] = i;
  return n;
}

uint32_t vigil_members_observers_of(vigil_members *m, const char *pname, uint32_t *idx, uint32_t cap) {
  const vigil_peer *p = vigil_pool_find(m->pool, pname);
  if (!p) return 0;
  if (m->small) return members__others(m, p->idx, idx, cap);
  uint32_t n = 0, obs[VIGIL__RINGS_MAX];
  uint64_t h0 = p->is_local ? m->self_h0 : m->table[p->idx].h0;
  uint32_t no = vigil__rings_observers(m->rings, h0, p->idx, obs);
  for (uint32_t i = 0; i < no && n < cap; i++) idx[n++] = obs[i];
  return n;
}

uint32_t vigil_members_subjects(vigil_members *m, uint32_t *idx, uint32_t cap) {
  if (m->small) return members__others(m, m->me, idx, cap);
  uint32_t n = 0;
  for (uint32_t i = 0; i < m->nsubjects && n < cap; i++) idx[n++] = m->subjects[i];
  return n;
}

/* We, one of X's observers, condemn X (slot idx). */
static void members__raise(vigil_members *m, uint32_t idx, member *e, vigil_time now) {
  if (e->alerted) return;
  e->alerted = true;
  m->alerts_raised++;
  members__add_alert(m, idx, m->me);
  members__rumour(m, R_ALERT, idx, m->me, e->generation, e->incarnation);
  members__urgent(m, now);
}

/* ---- receiving ------------------------------------------------------------ */

/* Our wall clock in ms: the generation is the wall clock at start (the
 * runtime makes it so), `now` has run since. */
static uint64_t members__wall(const vigil_members *m, vigil_time now) {
  return m->generation + (now - m->born) / VIGIL_MS;
}

/* A generation no process can have started with yet (beyond our clock and
 * the skew allowed): a stranger's attempt to make a live peer look
 * restarted, so that everything it says afterwards is "an older process". */
static bool members__implausible(const vigil_members *m, uint64_t gen, vigil_time now) {
  return m->max_skew && gen > members__wall(m, now) + m->max_skew / VIGIL_MS;
}

/* Do we hear X ourselves? Then X's own frames, not others' news, say what
 * its generation and incarnation are. */
static bool members__hears(const vigil_members *m, const member *e, vigil_time now) {
  return e->direct_at && now - e->direct_at < LINGER * m->interval;
}

/* May `sender` introduce one more peer? A token bucket per sender (by its
 * verified address), direct-mapped: a flood of names from one source
 * costs a bounded number of joins per second. */
static bool members__may_join(vigil_members *m, const char *sender, vigil_time now) {
  if (!m->join_rate) return true;
  uint64_t h = vigil__ring_hash(sender);
  source *b = &m->sources[h % SOURCES];
  uint64_t cap = (uint64_t)m->join_burst * 1000u;
  if (b->h != h) *b = (source){h, cap, now};
  uint64_t refill = (now - b->at) / VIGIL_MS * m->join_rate; /* millitokens: rate per s = per ms * 1000 */
  b->at = now;
  b->milli = b->milli + refill > cap ? cap : b->milli + refill;
  if (b->milli < 1000) {
    m->ignored[IGN_JOIN_RATE]++;
    return false;
  }
  b->milli -= 1000;
  return true;
}

/* The newer of (g1, i1) and (g2, i2): 1 when the first is newer, -1 older, 0 equal. */
static int members__cmp(uint64_t g1, uint64_t i1, uint64_t g2, uint64_t i2) {
  if (g1 != g2) return g1 > g2 ? 1 : -1;
  if (i1 != i2) return i1 > i2 ? 1 : -1;
  return 0;
}

/* A peer joins the pool (and the rings); NULL when it cannot. */
static member *members__join(vigil_members *m, const char *pname, const char *dc, const char *rack,
                             const vigil_frame *f, vigil_time now, uint32_t *idx) {
  if (m->max_peers && vigil_pool_count(m->pool) >= m->max_peers) {
    m->ignored[IGN_FULL]++; /* a bound, not a guess: who is left out is whoever came last */
    return NULL;
  }
  /* Tags only from the peer's own frame: relayed news never says what they are. */
  vigil_peer_spec spec = {
      pname, dc, rack, f ? f->tokens : NULL, f ? f->ntokens : 0, false, m->kr != NULL, f ? f->tags : NULL};
  if (vigil_handler_add_peer(m->h, &spec, now, idx) != VIGIL_OK) return NULL;
  member *e = members__entry(m, *idx);
  uint64_t h0 = vigil__ring_hash(pname);
  if (!e || vigil__rings_add(m->rings, *idx, h0) != VIGIL_OK) {
    vigil_handler_remove_peer(m->h, pname);
    return NULL;
  }
  memset(e, 0, sizeof *e);
  e->h0 = h0;
  m->joined++;
  return e;
}

/* X (slot idx) is known at a newer (generation, incarnation): restart or
 * refutation. Alerts about the older one are void. */
static void members__advance(vigil_members *m, uint32_t idx, member *e, uint64_t gen, uint64_t inc, vigil_time now) {
  bool restart = e->known && gen != e->generation;
  if (e->known) m->view -= members__term(e->h0, e->generation, e->incarnation);
  m->view += members__term(e->h0, gen, inc);
  if (restart) {
    m->restarted++;
    vigil_handler_peer_restarted(m->h, idx, now);
    e->version = 0;
    e->direct = false;
  }
  e->generation = gen;
  e->incarnation = inc;
  e->known = true;
  e->gen_direct = false; /* the caller says when it came from the peer itself */
  members__clear_alerts(e);
  /* A subject we were about to condemn refuted: give it a full detection
   * time from now, so a one-way link does not alert again at once. */
  if (!restart && !m->small && members__is_subject(m, idx)) vigil_handler_watch(m->h, idx, now);
}

/* The sender's own fields. */
static void members__direct(vigil_members *m, const vigil_frame *f, vigil_time now) {
  vigil_peer *p = vigil_pool_find(m->pool, f->from);
  bool shutdown = f->type == VIGIL_FRAME_SHUTDOWN, heartbeat = f->type == VIGIL_FRAME_HEARTBEAT;
  uint32_t idx;
  member *e;
  if (!p) {
    if (shutdown) return; /* a stranger leaving: nothing to forget */
    e = members__join(m, f->from, f->dc, f->rack, f, now, &idx);
    if (!e) return;
    *e = (member){.generation = f->generation,
                  .version = f->version,
                  .incarnation = f->incarnation,
                  .h0 = e->h0,
                  .heard = now,
                  .direct_at = now,
                  .gen_direct = true,
                  .known = true,
                  .direct = true};
    m->view += members__term(e->h0, e->generation, e->incarnation);
    m->fresh_now++;
    if (m->small) {
      vigil_handler_record_heartbeat_idx(m->h, idx, now);
    } else {
      vigil_handler_feed(m->h, idx, now);
      vigil_handler_set_state(m->h, idx, VIGIL_STATE_NORMAL, VIGIL_CAUSE_HEARTBEAT, now);
    }
    members__rumour(m, R_ALIVE, idx, 0, f->generation, f->incarnation);
  } else {
    idx = p->idx;
    e = members__entry(m, idx);
    if (!e) return;
    if (e->known && f->generation < e->generation) {
      if (e->gen_direct) {
        m->ignored[IGN_STALE]++; /* an older process still talking */
        return;
      }
      /* The newer generation was only others' news, and the peer itself,
       * from its own address, says otherwise: it is the authority on its
       * own life (a relayed generation cannot silence a live peer). */
      m->overruled++;
    }
    e->direct_at = now;
    e->probes = 0;
    bool restart = !e->known || f->generation != e->generation;
    /* Its tags are those of its newest frame: a new process may carry a
     * new set (and peer_restarted, published next, already has it); within
     * one process a newer heartbeat may change them too. A frame that
     * brings nothing newer (a digest frame, a duplicate) changes nothing. */
    if (restart || f->version > e->version) vigil__pool_set_tags(m->pool, idx, f->tags);
    int c = restart || f->incarnation > e->incarnation ? 1 : 0;
    if (c > 0) {
      members__advance(m, idx, e, f->generation, f->incarnation, now);
      members__rumour(m, R_ALIVE, idx, 0, e->generation, e->incarnation);
      if (!m->small) members__urgent(m, now);
    }
    e->gen_direct = true;
    bool fresh_beat = restart || f->version > e->version;
    if (!fresh_beat) {
      if (heartbeat) m->ignored[IGN_STALE]++;
    } else {
      e->version = f->version;
      e->heard = now;
      m->fresh_now++;
      if (!e->direct) {
        vigil__pool_place(m->pool, idx, f->dc, f->rack, f->tokens, f->ntokens);
        e->direct = true;
      }
      if (shutdown) {
        m->left++;
        vigil_handler_peer_left(m->h, f->from, now);
        /* Agents that miss its shutdown learn it from its observers. */
        if (!m->small && members__is_subject(m, idx)) members__raise(m, idx, e, now);
        return;
      }
      if (heartbeat) {
        if (m->small) {
          vigil_handler_record_heartbeat_idx(m->h, idx, now);
        } else {
          vigil_handler_feed(m->h, idx, now);
          if (p->state != VIGIL_STATE_NORMAL) {
            if (c > 0 || !e->nalerts)
              vigil_handler_set_state(m->h, idx, VIGIL_STATE_NORMAL, VIGIL_CAUSE_HEARTBEAT, now);
            else if ((m->ntell < TELL_MAX) && (!e->told_at || now - e->told_at >= m->interval)) {
              /* Held down at the incarnation it still runs: it does not
               * know. Tell it (one frame back per interval at most). */
              e->told_at = now;
              m->tell[m->ntell++] = idx;
              members__urgent(m, now);
            }
          }
        }
      }
    }
  }
  if (f->flags & VIGIL_FLAG_WANT) {
    e->wanted_until = now + LINGER * m->interval;
    if (!e->wanter && idxs_push(&m->wanters, idx)) e->wanter = true;
  }
  if (f->members) e->members = f->members;
  if (f->view) e->view = f->view;
}

/* One alert carried by a frame. */
static void members__alert(vigil_members *m, const vigil_alert_entry *a, vigil_time now) {
  if (strcmp(a->subject, m->self) == 0) {
    /* About us. We are alive: refute, unless it is about a past life (or
     * an incarnation we never had: only we raise it, one at a time, and a
     * made-up 2^64-1 must not wrap ours around). */
    if (a->generation == m->generation && a->incarnation == m->incarnation) {
      m->view -= members__term(m->self_h0, m->generation, m->incarnation);
      m->incarnation = a->incarnation + 1;
      m->view += members__term(m->self_h0, m->generation, m->incarnation);
      m->refutations++;
      members__rumour(m, R_ALIVE, m->me, 0, m->generation, m->incarnation);
      members__urgent(m, now);
    }
    m->alerts_in[AL_STALE]++;
    return;
  }
  vigil_peer *p = vigil_pool_find(m->pool, a->subject);
  vigil_peer *o = vigil_pool_find(m->pool, a->observer);
  if (!p || !o) {
    m->alerts_in[AL_UNKNOWN]++;
    return;
  }
  member *e = members__entry(m, p->idx);
  if (!e) return;
  int c = members__cmp(a->generation, a->incarnation, e->generation, e->incarnation);
  if (!e->known || c < 0 || (c > 0 && (a->generation > e->generation || members__hears(m, e, now)))) {
    /* Older news, a generation we never heard of (its restart must come
     * from membership first), or an incarnation newer than the one the
     * subject itself tells us. */
    m->alerts_in[AL_STALE]++;
    return;
  }
  uint32_t obs[VIGIL__RINGS_MAX];
  uint32_t no = vigil__rings_observers(m->rings, e->h0, p->idx, obs);
  bool is_observer = false;
  for (uint32_t i = 0; i < no && !is_observer; i++) is_observer = obs[i] == o->idx;
  if (!is_observer) {
    m->alerts_in[AL_NOT_OBSERVER]++;
    return;
  }
  if (c > 0)
    members__advance(m, p->idx, e, a->generation, a->incarnation, now); /* it refuted, then was alerted again */
  m->alerts_in[AL_ACCEPTED]++;
  if (!members__add_alert(m, p->idx, o->idx)) return; /* heard already */
  members__rumour(m, R_ALERT, p->idx, o->idx, a->generation, a->incarnation);
  members__urgent(m, now);
  /* One of our subjects is accused and we have not judged it yet: ask it
   * now (a dead one's host refuses within a round trip). */
  if (members__is_subject(m, p->idx) && !e->alerted && m->ntell < TELL_MAX &&
      (!e->told_at || now - e->told_at >= m->interval / FLUSH_SPACING)) {
    e->told_at = now;
    m->tell[m->ntell++] = p->idx;
  }
  members__judge_quorum(m, p->idx, now);
}

static void members__bury(vigil_members *m, const member *e, vigil_time now) {
  if (!e->known) return;
  if (!m->tombs && !(m->tombs = calloc(TOMBS_MAX, sizeof *m->tombs))) return;
  /* A forced leave (vigil_members_forget) buries with reaping off too. */
  vigil_time ttl = 2 * (m->reap_after ? m->reap_after : 60 * VIGIL_SEC);
  m->tombs[m->tomb_next] = (tomb){e->h0, e->generation, e->incarnation, now + ttl};
  m->tomb_next = (m->tomb_next + 1) % TOMBS_MAX;
  if (m->ntombs < TOMBS_MAX) m->ntombs++;
}

/* Is news of `pname` at (gen, inc) about a member we reaped, no newer? */
static bool members__buried(const vigil_members *m, const char *pname, uint64_t gen, uint64_t inc, vigil_time now) {
  if (!m->ntombs) return false;
  uint64_t h0 = vigil__ring_hash(pname);
  for (uint32_t i = 0; i < m->ntombs; i++) {
    const tomb *t = &m->tombs[i];
    if (t->h0 == h0 && now < t->until) return members__cmp(gen, inc, t->generation, t->incarnation) <= 0;
  }
  return false;
}

/* A relayed entry's tags for X, a peer we do not hear ourselves (a heard
 * one's tags come from its own frames only): news no older than what we
 * know replaces them; a restart learned from others clears what the old
 * process had when the entry brings none. Without this, beyond 9 agents
 * only X's ~16 neighbours would know its tags. */
static void members__relayed_tags(vigil_members *m, const vigil_peer *p, const vigil_digest_entry *d, bool restart) {
  const char *have = p->tags ? p->tags : "";
  if (d->tags[0] ? strcmp(have, d->tags) != 0 : restart && have[0]) vigil__pool_set_tags(m->pool, p->idx, d->tags);
}

/* One membership entry carried by a frame: "X is alive at (gen, inc)",
 * and in a small cluster "X's heartbeat `version` was heard". */
static void members__entry_news(vigil_members *m, const vigil_digest_entry *d, const char *sender, bool spread,
                                vigil_time now) {
  if (strcmp(d->pname, m->self) == 0) return; /* news about ourselves */
  vigil_peer *p = vigil_pool_find(m->pool, d->pname);
  if (!p) {
    if (members__buried(m, d->pname, d->generation, d->incarnation, now)) {
      m->ignored[IGN_STALE]++;
      return;
    }
    if (members__implausible(m, d->generation, now)) {
      m->ignored[IGN_GENERATION]++;
      return;
    }
    if (!members__may_join(m, sender, now)) return;
    uint32_t idx;
    member *e = members__join(m, d->pname, d->dc, d->rack, NULL, now, &idx);
    if (!e) return;
    if (d->tags[0]) vigil__pool_set_tags(m->pool, idx, d->tags);
    e->generation = d->generation;
    e->incarnation = d->incarnation;
    e->version = d->version;
    e->heard = now;
    e->known = true;
    m->view += members__term(e->h0, e->generation, e->incarnation);
    m->fresh_now++;
    /* In a large cluster membership is the evidence for peers we do not
     * observe; in a small one a peer is up once a newer heartbeat of it
     * arrives (so a stale entry about a dead peer does not report it up). */
    if (!m->small) vigil_handler_set_state(m->h, idx, VIGIL_STATE_NORMAL, VIGIL_CAUSE_MEMBERSHIP, now);
    if (spread) members__rumour(m, R_ALIVE, idx, 0, d->generation, d->incarnation);
    return;
  }
  member *e = members__entry(m, p->idx);
  if (!e) return;
  int c = e->known ? members__cmp(d->generation, d->incarnation, e->generation, e->incarnation) : 1;
  if (c > 0 && members__implausible(m, d->generation, now)) {
    m->ignored[IGN_GENERATION]++; /* a generation from the future */
    return;
  }
  bool hears = members__hears(m, e, now);
  if (c > 0 && hears) {
    m->ignored[IGN_HEARD]++; /* others' word against the peer's own: a restart or refutation is news only from it */
    return;
  }
  bool tag_news = c >= 0 && !hears;
  bool restart = c > 0 && e->known && d->generation != e->generation;
  /* Small cluster: a newer heartbeat version relayed is a heartbeat. */
  bool beat = m->small && d->version &&
              (d->generation > e->generation || (d->generation == e->generation && d->version > e->version));
  if (c <= 0 && !beat) {
    if (tag_news) members__relayed_tags(m, p, d, false);
    m->ignored[IGN_STALE]++;
    /* Someone still tells X is alive at the incarnation we convicted: a
     * neighbour that learned of X after X's alerts had finished spreading
     * would never hear them. Spread them again (at most every other
     * interval per peer): the neighbour gets them with our next frame. */
    if (!m->small && c == 0 && p->state == VIGIL_STATE_DOWN && e->nalerts &&
        (!e->resent_at || now - e->resent_at >= 2 * m->interval)) {
      e->resent_at = now;
      for (uint32_t a = 0; a < e->nalerts; a++)
        members__rumour(m, R_ALERT, p->idx, e->alerts[a], e->generation, e->incarnation);
    }
    return;
  }
  if (c > 0) {
    bool refuted = e->known && d->generation == e->generation;
    members__advance(m, p->idx, e, d->generation, d->incarnation, now);
    if (!m->small && p->state != VIGIL_STATE_NORMAL)
      vigil_handler_set_state(m->h, p->idx, VIGIL_STATE_NORMAL, VIGIL_CAUSE_MEMBERSHIP, now);
    members__rumour(m, R_ALIVE, p->idx, 0, d->generation, d->incarnation);
    if (refuted && !m->small) members__urgent(m, now);
  }
  if (tag_news) members__relayed_tags(m, p, d, restart);
  e->heard = now;
  m->fresh_now++;
  if (beat) {
    e->version = d->version;
    vigil_handler_record_heartbeat_idx(m->h, p->idx, now);
  }
}

/* Ask for the memory the digest's entries will touch before touching any
 * of it, so that their cache misses overlap (pool.c). */
static void members__prefetch(const vigil_members *m, const vigil_frame *f) {
  uint32_t hash[VIGIL_DIGEST_MAX];
  uint32_t n = f->ndigest < VIGIL_DIGEST_MAX ? f->ndigest : VIGIL_DIGEST_MAX;
  for (uint32_t i = 0; i < n; i++) hash[i] = vigil__pool_prefetch_bucket(m->pool, f->digest[i].pname);
  for (uint32_t i = 0; i < n; i++) {
    int64_t idx = vigil__pool_prefetch_peer(m->pool, hash[i]);
    if (idx >= 0 && (uint64_t)idx < m->table_cap) __builtin_prefetch(&m->table[idx]);
  }
}

/* Is the frame what its sender could have sent, now? Its sender is the
 * datagram's source (nobody speaks for another agent: a shutdown or a
 * restart counts only from the peer's own address), its send time within
 * the skew of our clock (required when frames are signed: a captured frame
 * is worthless once older than that), its generation not from the future. */
static int members__admissible(const vigil_members *m, const vigil_frame *f, const char *src, vigil_time now) {
  if (src && strcmp(f->from, src) != 0) return VIGIL_FRAME_ESOURCE;
  if (!m->max_skew) return VIGIL_OK;
  uint64_t wall = members__wall(m, now), skew = m->max_skew / VIGIL_MS;
  if ((f->authenticated && !f->sent) || (f->sent && (f->sent > wall + skew || f->sent + skew < wall)))
    return VIGIL_FRAME_ESKEW;
  if (f->generation > wall + skew) return VIGIL_FRAME_EGENERATION;
  return VIGIL_OK;
}

int vigil_members_receive(vigil_members *m, const uint8_t *buf, size_t len, const char *src, vigil_time now) {
  vigil_frame *f = &m->rx;
  m->bytes_in += len;
  int rc = vigil_frame_decode(buf, len, m->kr, f);
  if (rc == VIGIL_OK) rc = members__admissible(m, f, src, now);
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
  members__prefetch(m, f);
  members__direct(m, f, now);
  if (f->type == VIGIL_FRAME_SHUTDOWN) return VIGIL_OK;
  /* A frame with more entries than rumours and one routine entry is a
   * full digest for a neighbour whose member list differs: what it
   * teaches is old news, learned by everyone through the same digests.
   * Re-spreading each entry as a rumour would cost a cluster started at
   * once thousands of transmissions per member for nothing. */
  bool full = f->ndigest > DIGEST_ALIVE + DIGEST_ROUTINE;
  for (uint32_t i = 0; i < f->ndigest; i++) members__entry_news(m, &f->digest[i], f->from, !full, now);
  for (uint32_t i = 0; i < f->nalerts; i++) members__alert(m, &f->alerts[i], now);
  return VIGIL_OK;
}

/* ---- judging ---------------------------------------------------------------- */

void vigil_members_evaluate(vigil_members *m, vigil_time now) {
  members__commit(m, now);
  if (m->small) {
    vigil_handler_evaluate(m->h, now, NULL);
    return;
  }
  bool paused = vigil_handler_begin_pass(m->h, now);
  for (uint32_t i = 0; i < m->nsubjects; i++) {
    uint32_t s = m->subjects[i];
    vigil_peer *p = vigil_pool_get(m->pool, s);
    member *e = s < m->table_cap ? &m->table[s] : NULL;
    if (!p || !e || p->state == VIGIL_STATE_DOWN) continue;
    vigil_cause cause;
    if (e->alerted) {
      if (paused) vigil_handler_judge(m->h, s, now, true, &cause); /* the guard, nothing else */
      continue;
    }
    if (vigil_handler_judge(m->h, s, now, paused, &cause) != 1) continue;
    members__raise(m, s, e, now);
    members__judge_quorum(m, s, now);
  }
  for (uint32_t i = 0; i < m->suspects.n; i++) { /* roles may have changed since the alerts came */
    uint32_t s = m->suspects.v[i];
    vigil_peer *p = vigil_pool_get(m->pool, s);
    member *e = s < m->table_cap ? &m->table[s] : NULL;
    if (!p || !e || !e->nalerts || p->state == VIGIL_STATE_DOWN) {
      if (e) e->suspect = false;
      m->suspects.v[i--] = m->suspects.v[--m->suspects.n];
      continue;
    }
    members__judge_quorum(m, s, now);
  }
}

vigil_time vigil_members_next_due(const vigil_members *m, vigil_time now) {
  vigil_time due = m->flush_due;
  if (m->small) {
    vigil_time t = vigil_handler_next_due(m->h, now);
    return t < due ? t : due;
  }
  for (uint32_t i = 0; i < m->nsubjects; i++) {
    uint32_t s = m->subjects[i];
    const vigil_peer *p = vigil_pool_get(m->pool, s);
    if (!p || p->state == VIGIL_STATE_DOWN || (s < m->table_cap && m->table[s].alerted)) continue;
    vigil_time t = vigil_handler_due_of(m->h, s, now);
    if (t < due) due = t;
  }
  return due < now ? now : due;
}

int vigil_members_refused(vigil_members *m, const char *pname, vigil_time now) {
  vigil_peer *p = vigil_pool_find(m->pool, pname);
  if (!p) return VIGIL_ENOENT;
  if (m->small) return vigil_handler_refused(m->h, p->idx, now);
  return vigil_handler_note_refused(m->h, p->idx, now);
}

/* ---- sending ---------------------------------------------------------------- */

/* Fill the tx frame with this agent's fields (no digest, no alerts). */
static void members__self_frame(vigil_members *m, uint32_t type, vigil_time now) {
  vigil_frame *f = &m->tx;
  const vigil_peer *me = vigil_pool_get(m->pool, m->me);
  memset(f, 0, offsetof(vigil_frame, tokens));
  m->tx_seq++;
  f->type = type;
  vigil__copy(f->from, sizeof f->from, m->self);
  f->generation = m->generation;
  f->version = m->version;
  f->incarnation = m->incarnation;
  f->members = vigil_pool_count(m->pool);
  f->view = m->view ? m->view : 1;
  f->sent = members__wall(m, now);
  vigil__copy(f->dc, sizeof f->dc, me->dc);
  vigil__copy(f->rack, sizeof f->rack, me->rack);
  vigil__copy(f->tags, sizeof f->tags, me->tags ? me->tags : ""); /* in every frame: its own fields */
  f->has_state = true;
  f->state = (uint8_t)me->state;
  f->ntokens = me->ntokens < VIGIL_FRAME_TOKENS_MAX ? me->ntokens : VIGIL_FRAME_TOKENS_MAX;
  if (f->ntokens) memcpy(f->tokens, me->tokens, f->ntokens * sizeof *f->tokens);
  f->ndigest = 0;
  f->nalerts = 0;
}

/* One entry into tx. A member is in a frame once: rumours mark theirs,
 * and the round robin skips the marked (it visits each slot once). */
static void members__digest_add(vigil_members *m, const vigil_peer *p, uint64_t gen, uint64_t inc, uint64_t ver) {
  vigil_frame *f = &m->tx;
  vigil_digest_entry *d = &f->digest[f->ndigest++];
  vigil__copy(d->pname, sizeof d->pname, p->pname);
  d->generation = gen;
  d->incarnation = inc;
  d->version = m->small ? ver : 0; /* small clusters relay heartbeats */
  vigil__copy(d->dc, sizeof d->dc, p->dc);
  vigil__copy(d->rack, sizeof d->rack, p->rack);
  vigil__copy(d->tags, sizeof d->tags, p->tags ? p->tags : "");
}

/* Rumours into tx: alerts still about the subject's current incarnation,
 * then alive news of members believed up, newest first. Marks the rumours
 * used (rumour.left is charged by the caller per frame sent). */
static void members__rumours(vigil_members *m, bool *used) {
  vigil_frame *f = &m->tx;
  uint32_t alive = 0;
  for (uint32_t i = m->nrumours; i-- > 0;) {
    rumour *r = &m->rumours[i];
    used[i] = false;
    const vigil_peer *p = vigil_pool_get(m->pool, r->subject);
    if (!p || r->left <= 0) continue;
    if (r->kind == R_ALERT) {
      const vigil_peer *o = vigil_pool_get(m->pool, r->observer);
      const member *e = r->subject < m->table_cap ? &m->table[r->subject] : NULL;
      if (!o || !e || e->generation != r->generation || e->incarnation != r->incarnation) {
        r->left = 0; /* void: it refuted or restarted */
        continue;
      }
      if (f->nalerts == VIGIL_ALERTS_MAX) continue;
      vigil_alert_entry *a = &f->alerts[f->nalerts++];
      vigil__copy(a->subject, sizeof a->subject, p->pname);
      a->generation = r->generation;
      a->incarnation = r->incarnation;
      vigil__copy(a->observer, sizeof a->observer, o->pname);
      used[i] = true;
    } else {
      if (alive == DIGEST_ALIVE || f->ndigest == VIGIL_DIGEST_MAX) continue;
      if (p->is_local) {
        members__digest_add(m, p, m->generation, m->incarnation, m->version);
      } else {
        const member *e = r->subject < m->table_cap ? &m->table[r->subject] : NULL;
        if (!e || !e->known || p->state == VIGIL_STATE_DOWN) {
          r->left = 0;
          continue;
        }
        members__digest_add(m, p, e->generation, e->incarnation, e->version);
        m->table[r->subject].mark = m->tx_seq;
      }
      alive++;
      used[i] = true;
    }
  }
}

/* Round-robin entries (members believed up) until tx holds `cap` entries. */
static void members__routine(vigil_members *m, uint32_t cap) {
  vigil_frame *f = &m->tx;
  uint32_t slots = vigil_pool_slots(m->pool);
  if (slots > m->table_cap) slots = m->table_cap;
  for (uint32_t step = 0; step < slots && f->ndigest < cap; step++) {
    uint32_t k = m->cursor++ % slots;
    const vigil_peer *p = vigil_pool_get(m->pool, k);
    const member *e = &m->table[k];
    if (!p || p->is_local || !e->known || p->state != VIGIL_STATE_NORMAL || e->mark == m->tx_seq) continue;
    members__digest_add(m, p, e->generation, e->incarnation, e->version);
  }
}

/* Encode tx, dropping digest entries, then alerts, until it fits. */
static int members__encode(vigil_members *m, uint8_t *buf) {
  for (;;) {
    int n = vigil_frame_encode(&m->tx, m->kr, buf, VIGIL_FRAME_MAX);
    if (n != VIGIL_FRAME_ETOOBIG) return n;
    if (m->tx.ndigest)
      m->tx.ndigest = m->tx.ndigest > 4 ? m->tx.ndigest - 4 : 0;
    else if (m->tx.nalerts)
      m->tx.nalerts--;
    else
      return n;
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

/* Forget one peer, with its tombstone. */
static int members__reap_one(vigil_members *m, const vigil_peer *p, vigil_time now) {
  uint32_t i = p->idx;
  char pname[VIGIL_PNAME_MAX];
  vigil__copy(pname, sizeof pname, p->pname);
  if (i < m->table_cap) members__bury(m, &m->table[i], now);
  int rc = vigil_handler_remove_peer(m->h, pname);
  if (rc != VIGIL_OK) return rc;
  vigil__rings_remove(m->rings, i);
  members__forget(m, i);
  m->reaped++;
  return VIGIL_OK;
}

/* Forget peers that have been down for reap_after. O(peers): run once a
 * second (or every interval, if longer), not on every round. */
static void members__reap(vigil_members *m, vigil_time now) {
  if (!m->reap_after || now < m->next_reap) return;
  vigil_time step = m->reap_after / 8 < VIGIL_SEC ? m->reap_after / 8 : VIGIL_SEC;
  m->next_reap = now + (step > m->interval ? step : m->interval);
  uint32_t slots = vigil_pool_slots(m->pool);
  for (uint32_t i = 0; i < slots; i++) {
    vigil_peer *p = vigil_pool_get(m->pool, i);
    if (!p || p->is_local || p->state != VIGIL_STATE_DOWN || now < p->since || now - p->since < m->reap_after) continue;
    members__reap_one(m, p, now);
  }
}

/* This round's targets: every peer (small cluster), or our observers, our
 * subjects and whoever asked for our heartbeats. The flag says whether
 * the frame asks for an answer (we observe the target). */
static void members__targets(vigil_members *m, vigil_time now) {
  m->targets.n = 0;
  if (m->small) {
    uint32_t slots = vigil_pool_slots(m->pool);
    for (uint32_t i = 0; i < slots; i++) {
      const vigil_peer *p = vigil_pool_get(m->pool, i);
      if (p && !p->is_local) idxs_push(&m->targets, i);
    }
    return;
  }
  for (uint32_t i = 0; i < m->nobservers; i++) idxs_push(&m->targets, m->observers[i]);
  for (uint32_t i = 0; i < m->nsubjects; i++)
    if (!idxs_has(&m->targets, m->subjects[i])) idxs_push(&m->targets, m->subjects[i]);
  for (uint32_t i = 0; i < m->wanters.n; i++) {
    uint32_t w = m->wanters.v[i];
    member *e = w < m->table_cap ? &m->table[w] : NULL;
    if (!e || e->wanted_until <= now || !vigil_pool_get(m->pool, w)) {
      if (e) e->wanter = false;
      m->wanters.v[i--] = m->wanters.v[--m->wanters.n];
      continue;
    }
    if (!idxs_has(&m->targets, w)) idxs_push(&m->targets, w);
  }
}

/* A peer we have never heard from ourselves, or hold down: it gets probes
 * (our bare heartbeat, asking for its), not our gossip, and fewer and
 * fewer of them -- after 1, 2, 4 ... up to 64 intervals for a peer never
 * heard, 4 for one that was (so that a healed
 * partition is seen within a few intervals) -- until it answers. A name a
 * stranger slipped into the member list costs its address a few small
 * datagrams, not a stream (docs/SECURITY.md). */
static bool members__silent(const vigil_peer *p, const member *e) {
  return !e || !e->direct_at || p->state == VIGIL_STATE_DOWN;
}

/* May a silent peer be probed now? If so, the probe is counted and the
 * next one put off. */
static bool members__probe(vigil_members *m, member *e, vigil_time now) {
  if (!e || now < e->probe_at) return false;
  uint32_t most = e->direct_at ? PROBE_CAP_HEARD_SHIFT : PROBE_CAP_SHIFT;
  uint32_t shift = e->probes < most ? e->probes : most;
  e->probe_at = now + (m->interval << shift);
  if (e->probes < UINT8_MAX) e->probes++;
  m->probes++;
  return true;
}

/* Send tx (plus variants) to every target: flag want to our subjects, and
 * a full digest to a target that knows fewer members than we do; silent
 * targets get a probe when one is due (only on the round: `routine`). */
static size_t members__broadcast(vigil_members *m, uint32_t type, bool routine, vigil_send_fn send, void *ud,
                                 vigil_time now) {
  size_t count = 0;
  uint32_t base = m->tx.ndigest, cursor = m->cursor;
  uint8_t buf[2][2][VIGIL_FRAME_MAX], probe[VIGIL_FRAME_MAX];
  int len[2][2] = {{-1, -1}, {-1, -1}}, probe_len = -1;
  for (uint32_t t = 0; t < m->targets.n; t++) {
    uint32_t idx = m->targets.v[t];
    const vigil_peer *p = vigil_pool_get(m->pool, idx);
    if (!p) continue;
    member *e = idx < m->table_cap ? &m->table[idx] : NULL;
    if (members__silent(p, e)) {
      if (!routine || !members__probe(m, e, now)) continue;
      if (probe_len < 0) {
        vigil_frame *f = &m->tx;
        uint32_t nd = f->ndigest, na = f->nalerts, flags = f->flags;
        f->ndigest = f->nalerts = 0;
        f->flags = VIGIL_FLAG_WANT;
        probe_len = members__encode(m, probe);
        f->ndigest = nd;
        f->nalerts = na;
        f->flags = flags;
        if (probe_len < 0) continue;
      }
      members__send(m, send, ud, p->pname, probe, (size_t)probe_len, type, &count);
      continue;
    }
    int want = !m->small && members__is_subject(m, idx);
    /* Our member lists differ: as many entries as fit, until they agree. */
    int sync = routine && e && e->view && e->view != (m->view ? m->view : 1);
    if (len[want][sync] < 0) {
      m->tx.ndigest = base;
      m->tx.flags = want ? VIGIL_FLAG_WANT : 0;
      if (routine) {
        m->cursor = cursor;
        members__routine(m, sync ? VIGIL_DIGEST_MAX : base + (m->small ? DIGEST_SMALL : DIGEST_ROUTINE));
      }
      len[want][sync] = members__encode(m, buf[want][sync]);
      if (len[want][sync] < 0) continue;
    }
    members__send(m, send, ud, p->pname, buf[want][sync], (size_t)len[want][sync], type, &count);
  }
  if (len[0][1] < 0 && len[1][1] < 0 && routine) { /* no sync frame went out: the rotation moves by a routine step */
    m->cursor = cursor;
    m->tx.ndigest = base;
    members__routine(m, base + (m->small ? DIGEST_SMALL : DIGEST_ROUTINE));
  }
  return count;
}

static void members__charge(vigil_members *m, const bool *used, size_t frames) {
  for (uint32_t i = 0; i < m->nrumours; i++)
    if (used[i]) m->rumours[i].left -= (int32_t)(frames ? frames : 1);
  for (uint32_t i = 0; i < m->nrumours; i++)
    if (m->rumours[i].left <= 0) m->rumours[i--] = m->rumours[--m->nrumours];
}

size_t vigil_members_tick(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud) {
  size_t count = 0;
  m->version++;
  m->fresh = m->fresh_now;
  m->fresh_now = 0;
  const vigil_peer *me = vigil_pool_get(m->pool, m->me);
  if (me->state == VIGIL_STATE_JOINING) vigil_handler_set_local_state(m->h, VIGIL_STATE_NORMAL, now);
  members__reap(m, now);
  members__commit(m, now);
  members__targets(m, now);

  members__self_frame(m, VIGIL_FRAME_HEARTBEAT, now);
  bool used[RUMOURS_MAX];
  members__rumours(m, used);
  count = members__broadcast(m, VIGIL_FRAME_HEARTBEAT, true, send, ud, now);
  /* Seeds not yet known get the plain frame and are asked to answer. */
  if (m->nseeds) {
    uint8_t buf[VIGIL_FRAME_MAX];
    m->tx.flags = VIGIL_FLAG_WANT;
    int len = members__encode(m, buf);
    if (len > 0) members__send_seeds(m, send, ud, buf, (size_t)len, VIGIL_FRAME_HEARTBEAT, &count);
  }
  members__charge(m, used, count);
  return count;
}

size_t vigil_members_flush(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud) {
  if (now < m->flush_due) return 0;
  m->flush_due = UINT64_MAX;
  m->last_flush = now;
  size_t count = 0;
  uint8_t buf[VIGIL_FRAME_MAX];
  /* Peers held down that still run the incarnation we convicted, and
   * subjects accused by others: one frame each, about themselves. */
  for (uint32_t i = 0; i < m->ntell; i++) {
    uint32_t idx = m->tell[i];
    const vigil_peer *p = vigil_pool_get(m->pool, idx);
    member *e = idx < m->table_cap ? &m->table[idx] : NULL;
    if (!p || !e) continue;
    /* A held-down peer just spoke to us (it is heard); an accused subject
     * we never heard is probed no faster than any silent peer. */
    if (p->state != VIGIL_STATE_DOWN && members__silent(p, e) && !members__probe(m, e, now)) continue;
    members__self_frame(m, VIGIL_FRAME_DIGEST, now);
    if (p->state == VIGIL_STATE_DOWN) {
      vigil_alert_entry *a = &m->tx.alerts[m->tx.nalerts++];
      vigil__copy(a->subject, sizeof a->subject, p->pname);
      a->generation = e->generation;
      a->incarnation = e->incarnation;
      vigil__copy(a->observer, sizeof a->observer, m->self);
      m->told++;
    } else {
      m->tx.flags = VIGIL_FLAG_WANT; /* a probe: answer me */
    }
    int len = members__encode(m, buf);
    if (len > 0) members__send(m, send, ud, p->pname, buf, (size_t)len, VIGIL_FRAME_DIGEST, &count);
  }
  m->ntell = 0;
  if (!m->nrumours) return count;
  members__commit(m, now);
  members__targets(m, now);
  members__self_frame(m, VIGIL_FRAME_DIGEST, now);
  bool used[RUMOURS_MAX];
  members__rumours(m, used);
  if (m->tx.nalerts || m->tx.ndigest) {
    size_t sent = members__broadcast(m, VIGIL_FRAME_DIGEST, false, send, ud, now);
    members__charge(m, used, sent);
    count += sent;
  }
  return count;
}

size_t vigil_members_shutdown(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud) {
  size_t count = 0;
  m->version++;
  vigil_handler_set_local_state(m->h, VIGIL_STATE_LEAVING, now);
  members__self_frame(m, VIGIL_FRAME_SHUTDOWN, now);
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = members__encode(m, buf);
  if (len < 0) return 0;
  uint32_t slots = vigil_pool_slots(m->pool);
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(m->pool, i);
    /* Everyone believed up hears it (no probes: a peer held down or never
     * up learns from its observers). */
    if (p && !p->is_local && p->state == VIGIL_STATE_NORMAL)
      members__send(m, send, ud, p->pname, buf, (size_t)len, VIGIL_FRAME_SHUTDOWN, &count);
  }
  members__send_seeds(m, send, ud, buf, (size_t)len, VIGIL_FRAME_SHUTDOWN, &count);
  return count;
}

int vigil_members_contact(vigil_members *m, const char *pname, vigil_time now, vigil_send_fn send, void *ud) {
  int rc = vigil_members_add_seed(m, pname, NULL);
  if (rc != VIGIL_OK) return rc;
  if (strcmp(pname, m->self) == 0 || vigil_pool_find(m->pool, pname)) return 0;
  /* The round's frame to unknown seeds, at the version already sent: the
   * seed joins us on it and answers (flag want). */
  members__self_frame(m, VIGIL_FRAME_HEARTBEAT, now);
  m->tx.flags = VIGIL_FLAG_WANT;
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = members__encode(m, buf);
  if (len < 0) return 0;
  size_t count = 0;
  members__send(m, send, ud, pname, buf, (size_t)len, VIGIL_FRAME_HEARTBEAT, &count);
  return (int)count;
}

int vigil_members_forget(vigil_members *m, const char *pname, vigil_time now) {
  vigil_peer *p = vigil_pool_find(m->pool, pname);
  if (!p) return VIGIL_ENOENT;
  if (p->is_local) return VIGIL_ELOCAL;
  return members__reap_one(m, p, now);
}

/* ---- metrics ------------------------------------------------------------------- */

static void family(vigil__buf *b, const char *name, const char *type, const char *help) {
  vigil__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *vigil_members_render_metrics(const vigil_members *m, char *text, size_t *len) {
  static const char *const rx_names[RX_KINDS] = {"heartbeat", "digest", "shutdown", "unknown"};
  static const char *const ign_names[IGN_KINDS] = {"self",           "stale",     "unknown_type", "generation",
                                                   "heard_directly", "join_rate", "full"};
  vigil__buf b = {text, len ? *len : strlen(text), len ? *len + 1 : strlen(text) + 1, false};
  family(&b, "vigil_frames_received_total", "counter", "Frames decoded, by type.");
  for (int i = 0; i < RX_KINDS; i++)
    vigil__buf_printf(&b, "vigil_frames_received_total{type=\"%s\"} %llu\n", rx_names[i],
                      (unsigned long long)m->received[i]);
  family(&b, "vigil_frames_rejected_total", "counter", "Datagrams rejected before touching any peer, by reason.");
  for (int i = 0; i < VIGIL_FRAME_REASONS; i++)
    vigil__buf_printf(&b, "vigil_frames_rejected_total{reason=\"%s\"} %llu\n",
                      vigil_frame_reason(VIGIL_FRAME_ETOOBIG - i), (unsigned long long)m->rejected[i]);
  family(&b, "vigil_frames_ignored_total", "counter", "Valid frames that brought no news, by reason.");
  for (int i = 0; i < IGN_KINDS; i++)
    vigil__buf_printf(&b, "vigil_frames_ignored_total{reason=\"%s\"} %llu\n", ign_names[i],
                      (unsigned long long)m->ignored[i]);
  family(&b, "vigil_frames_sent_total", "counter", "Frames handed to the network, by type.");
  for (int t = 1; t <= 3; t++)
    vigil__buf_printf(&b, "vigil_frames_sent_total{type=\"%s\"} %llu\n", rx_names[t - 1],
                      (unsigned long long)m->sent[t]);
  family(&b, "vigil_frames_send_errors_total", "counter", "Frames the network refused to send.");
  vigil__buf_printf(&b, "vigil_frames_send_errors_total %llu\n", (unsigned long long)m->send_errors);
  family(&b, "vigil_gossip_received_bytes_total", "counter", "Bytes of datagrams received.");
  vigil__buf_printf(&b, "vigil_gossip_received_bytes_total %llu\n", (unsigned long long)m->bytes_in);
  family(&b, "vigil_gossip_sent_bytes_total", "counter", "Bytes of datagrams sent.");
  vigil__buf_printf(&b, "vigil_gossip_sent_bytes_total %llu\n", (unsigned long long)m->bytes_out);
  family(&b, "vigil_members_changes_total", "counter", "Membership changes, by kind.");
  vigil__buf_printf(&b, "vigil_members_changes_total{kind=\"joined\"} %llu\n", (unsigned long long)m->joined);
  vigil__buf_printf(&b, "vigil_members_changes_total{kind=\"restarted\"} %llu\n", (unsigned long long)m->restarted);
  vigil__buf_printf(&b, "vigil_members_changes_total{kind=\"left\"} %llu\n", (unsigned long long)m->left);
  vigil__buf_printf(&b, "vigil_members_changes_total{kind=\"reaped\"} %llu\n", (unsigned long long)m->reaped);
  static const char *const al_names[AL_KINDS] = {"accepted", "stale", "not_observer", "unknown"};
  family(&b, "vigil_alerts_received_total", "counter",
         "Alerts about other peers received, by what became of them (only observers' alerts count).");
  for (int i = 0; i < AL_KINDS; i++)
    vigil__buf_printf(&b, "vigil_alerts_received_total{result=\"%s\"} %llu\n", al_names[i],
                      (unsigned long long)m->alerts_in[i]);
  family(&b, "vigil_alerts_raised_total", "counter", "Alerts this agent raised about its own subjects.");
  vigil__buf_printf(&b, "vigil_alerts_raised_total %llu\n", (unsigned long long)m->alerts_raised);
  family(&b, "vigil_probes_total", "counter",
         "Probes sent to peers not heard from directly (never, or since they were held down).");
  vigil__buf_printf(&b, "vigil_probes_total %llu\n", (unsigned long long)m->probes);
  family(&b, "vigil_generations_overruled_total", "counter",
         "Relayed generations a peer's own frames contradicted (it is the authority on its life).");
  vigil__buf_printf(&b, "vigil_generations_overruled_total %llu\n", (unsigned long long)m->overruled);
  family(&b, "vigil_refutations_total", "counter", "Times this agent refuted an alert about itself.");
  vigil__buf_printf(&b, "vigil_refutations_total %llu\n", (unsigned long long)m->refutations);
  family(&b, "vigil_rumours_dropped_total", "counter", "Rumours dropped before they were fully spread (queue full).");
  vigil__buf_printf(&b, "vigil_rumours_dropped_total %llu\n", (unsigned long long)m->rumours_dropped);
  family(&b, "vigil_rumours", "gauge", "Rumours waiting to be spread.");
  vigil__buf_printf(&b, "vigil_rumours %u\n", m->nrumours);
  family(&b, "vigil_observers", "gauge", "Agents observing this one (its K ring successors).");
  vigil__buf_printf(&b, "vigil_observers %u\n", m->small ? vigil_pool_count(m->pool) - 1 : m->nobservers);
  family(&b, "vigil_subjects", "gauge", "Peers this agent judges by its own detector.");
  vigil__buf_printf(&b, "vigil_subjects %u\n", m->small ? vigil_pool_count(m->pool) - 1 : m->nsubjects);
  family(&b, "vigil_suspects", "gauge", "Peers with alerts pending, not yet convicted.");
  vigil__buf_printf(&b, "vigil_suspects %u\n", m->suspects.n);
  family(&b, "vigil_small_cluster", "gauge", "1 when every agent observes every other (at most K + 1 members).");
  vigil__buf_printf(&b, "vigil_small_cluster %d\n", m->small ? 1 : 0);
  family(&b, "vigil_incarnation", "gauge", "This agent's incarnation (raised by each refutation).");
  vigil__buf_printf(&b, "vigil_incarnation %llu\n", (unsigned long long)m->incarnation);
  family(&b, "vigil_heartbeat_version", "gauge", "This agent's latest heartbeat version.");
  vigil__buf_printf(&b, "vigil_heartbeat_version %llu\n", (unsigned long long)m->version);
  if (b.failed) {
    free(b.data);
    return NULL;
  }
  if (len) *len = b.len;
  return b.data;
}
