/*
 * pool.c - the ServerPool: every peer this agent knows, itself included.
 *
 * Owns: the peer array (one contiguous array of slots, so the evaluate tick
 * walks memory in order), the free-slot stack that lets peers come and go
 * at run time while idx values stay stable, and an open-addressing hash
 * table (linear probing, backward-shift deletion, no tombstones) that finds
 * a peer by pname in O(1).
 *
 * Must never: decide a peer's state (gossip.c does) or keep a pointer into
 * the peer array across an add (the array may move).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct pool__bucket {
  uint32_t hash; /* pname hash, to skip most strcmp calls */
  uint32_t slot; /* peer idx + 1; 0 = empty bucket */
} pool__bucket;

/* A threshold override for a dc or a pname, with the detector config its
 * peers point at (a copy of the base config but for the threshold). */
typedef struct pool__override {
  char key[VIGIL_PNAME_MAX];
  vigil_detector_config cfg;
} pool__override;

struct vigil_pool {
  char dc[VIGIL_NAME_MAX];    /* the local dc */
  vigil_detector_config dcfg; /* shared by every detector; stable address */
  vigil_peer *peers;          /* slots [0, slots) */
  uint32_t slots;             /* high-water mark of used slots */
  uint32_t cap;               /* allocated slots */
  uint32_t count;             /* slots in use */
  uint32_t *free_slots;       /* stack of empty slots below `slots` */
  uint32_t nfree;
  int64_t local;              /* idx of the local peer or -1 */
  pool__bucket *table;        /* power-of-two sized, at most half full */
  pool__override **overrides; /* each separately allocated: stable addresses */
  uint32_t noverrides;
  uint32_t tmask;
  double y_star, y_star_for; /* model normal: the solution for a threshold, */
                             /* handed to every new detector (NAN = none yet) */
};

/* FNV-1a, folded to 32 bits. */
static uint32_t pool__hash(const char *s) {
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return (uint32_t)(h ^ (h >> 32));
}

void vigil_pool_config_init(vigil_pool_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->dc = NULL;
  vigil_detector_config_init(&cfg->detector);
  cfg->capacity = 16;
}

static int pool__grow_table(vigil_pool *pool, uint32_t want) {
  uint32_t size = 16;
  while (size < want * 2) size *= 2;
  if (pool->table && size <= pool->tmask + 1) return VIGIL_OK;
  pool__bucket *t = calloc(size, sizeof *t);
  if (!t) return VIGIL_ENOMEM;
  for (uint32_t i = 0; pool->table && i <= pool->tmask; i++) {
    pool__bucket b = pool->table[i];
    if (!b.slot) continue;
    uint32_t j = b.hash & (size - 1);
    while (t[j].slot) j = (j + 1) & (size - 1);
    t[j] = b;
  }
  free(pool->table);
  pool->table = t;
  pool->tmask = size - 1;
  return VIGIL_OK;
}

static int pool__grow_slots(vigil_pool *pool, uint32_t want) {
  if (want <= pool->cap) return VIGIL_OK;
  uint32_t cap = pool->cap ? pool->cap : 16;
  while (cap < want) cap *= 2;
  vigil_peer *p = realloc(pool->peers, (size_t)cap * sizeof *p);
  if (!p) return VIGIL_ENOMEM;
  pool->peers = p;
  uint32_t *f = realloc(pool->free_slots, (size_t)cap * sizeof *f);
  if (!f) return VIGIL_ENOMEM;
  pool->free_slots = f;
  pool->cap = cap;
  return VIGIL_OK;
}

vigil_pool *vigil_pool_new(const vigil_pool_config *cfg, const char **why) {
  vigil_pool_config def;
  if (!cfg) {
    vigil_pool_config_init(&def);
    cfg = &def;
  }
  if (vigil_detector_config_check(&cfg->detector, why) != VIGIL_OK) return NULL;
  vigil_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return NULL;
  const char *dc = cfg->dc && *cfg->dc ? cfg->dc : "default";
  if (!vigil__copy(pool->dc, sizeof pool->dc, dc)) {
    if (why) *why = "dc name is longer than 47 bytes";
    free(pool);
    return NULL;
  }
  pool->dcfg = cfg->detector;
  pool->local = -1;
  pool->y_star = pool->y_star_for = NAN;
  uint32_t cap = cfg->capacity ? cfg->capacity : 16;
  if (pool__grow_slots(pool, cap) != VIGIL_OK || pool__grow_table(pool, cap) != VIGIL_OK) {
    vigil_pool_free(pool);
    return NULL;
  }
  return pool;
}

static void pool__release(vigil_peer *p) {
  vigil_detector_free(&p->detector);
  free(p->tokens);
  p->tokens = NULL;
  free(p->transitions);
  p->transitions = NULL;
  p->in_use = false;
}

void vigil_pool_free(vigil_pool *pool) {
  if (!pool) return;
  for (uint32_t i = 0; i < pool->slots; i++)
    if (pool->peers[i].in_use) pool__release(&pool->peers[i]);
  free(pool->peers);
  free(pool->free_slots);
  free(pool->table);
  for (uint32_t i = 0; i < pool->noverrides; i++) free(pool->overrides[i]);
  free(pool->overrides);
  free(pool);
}

/* The bucket holding pname, or the empty bucket where it would go. */
static uint32_t pool__probe(const vigil_pool *pool, const char *pname, uint32_t h) {
  uint32_t i = h & pool->tmask;
  for (;;) {
    pool__bucket b = pool->table[i];
    if (!b.slot) return i;
    if (b.hash == h && strcmp(pool->peers[b.slot - 1].pname, pname) == 0) return i;
    i = (i + 1) & pool->tmask;
  }
}

vigil_peer *vigil_pool_find(vigil_pool *pool, const char *pname) {
  if (!pname) return NULL;
  uint32_t i = pool__probe(pool, pname, pool__hash(pname));
  uint32_t slot = pool->table[i].slot;
  return slot ? &pool->peers[slot - 1] : NULL;
}

uint32_t vigil__pool_prefetch_bucket(const vigil_pool *pool, const char *pname) {
  uint32_t h = pool__hash(pname);
  __builtin_prefetch(&pool->table[h & pool->tmask]);
  return h;
}

void vigil__pool_prefetch_slot(const vigil_pool *pool, uint32_t idx) {
  if (idx >= pool->slots) return;
  const char *p = (const char *)&pool->peers[idx];
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 127); /* the hot fields, wherever the lines fall */
}

int64_t vigil__pool_prefetch_peer(const vigil_pool *pool, uint32_t hash) {
  pool__bucket b = pool->table[hash & pool->tmask];
  if (!b.slot || b.hash != hash) return -1; /* a miss, or further along: not worth chasing */
  const vigil_peer *p = &pool->peers[b.slot - 1];
  __builtin_prefetch(p->pname);
  __builtin_prefetch(p);
  return (int64_t)b.slot - 1;
}

vigil_peer *vigil_pool_get(vigil_pool *pool, uint32_t idx) {
  if (idx >= pool->slots || !pool->peers[idx].in_use) return NULL;
  return &pool->peers[idx];
}

uint32_t vigil_pool_count(const vigil_pool *pool) { return pool->count; }
uint32_t vigil_pool_slots(const vigil_pool *pool) { return pool->slots; }
int64_t vigil_pool_local(const vigil_pool *pool) { return pool->local; }
const char *vigil_pool_dc(const vigil_pool *pool) { return pool->dc; }
vigil_detector_config *vigil_pool_detector_config(vigil_pool *pool) { return &pool->dcfg; }

/* The config a peer's detector follows: a pname override, else a dc
 * override, else the base. */
static const vigil_detector_config *pool__config_for(const vigil_pool *pool, const vigil_peer *p) {
  const vigil_detector_config *by_dc = NULL;
  for (uint32_t i = 0; i < pool->noverrides; i++) {
    const pool__override *o = pool->overrides[i];
    if (strcmp(o->key, p->pname) == 0) return &o->cfg;
    if (!by_dc && strcmp(o->key, p->dc) == 0) by_dc = &o->cfg;
  }
  return by_dc ? by_dc : &pool->dcfg;
}

/* Validate a spec and fill a peer from it (everything but idx and slot). */
static int pool__fill(vigil_pool *pool, vigil_peer *p, const vigil_peer_spec *spec, vigil_time now) {
  size_t host_len;
  uint16_t port;
  if (!spec->pname) return VIGIL_EINVAL;
  int rc = vigil_pname_parse(spec->pname, &host_len, &port);
  if (rc) return rc;
  if (spec->ntokens > VIGIL_TOKENS_MAX || (spec->ntokens && !spec->tokens)) return VIGIL_EINVAL;
  const char *dc = spec->dc && *spec->dc ? spec->dc : pool->dc;
  const char *rack = spec->rack && *spec->rack ? spec->rack : "default";
  memset(p, 0, sizeof *p);
  if (!vigil__copy(p->dc, sizeof p->dc, dc) || !vigil__copy(p->rack, sizeof p->rack, rack)) return VIGIL_ENAMETOOLONG;
  vigil__copy(p->pname, sizeof p->pname, spec->pname);
  p->host_len = (uint8_t)host_len;
  p->port = port;
  p->is_local = spec->is_local;
  p->is_secure = spec->is_secure;
  p->is_same_dc = strcmp(p->dc, pool->dc) == 0;
  p->state = spec->is_local ? VIGIL_STATE_JOINING : VIGIL_STATE_DOWN;
  p->since = now;
  if (spec->ntokens) {
    p->tokens = malloc((size_t)spec->ntokens * sizeof *p->tokens);
    if (!p->tokens) return VIGIL_ENOMEM;
    memcpy(p->tokens, spec->tokens, (size_t)spec->ntokens * sizeof *p->tokens);
    p->ntokens = spec->ntokens;
  }
  const vigil_detector_config *cfg = pool__config_for(pool, p);
  rc = vigil_detector_init(&p->detector, cfg);
  if (rc) {
    free(p->tokens);
    return rc;
  }
  /* Every detector of the pool solves the same equation for the same
   * threshold: solve it once per threshold, not once per peer (it was a
   * seventh of a 1,000-agent simulation's time, every join paying it). */
  if (cfg->model == VIGIL_MODEL_NORMAL) {
    if (pool->y_star_for != cfg->threshold) {
      pool->y_star = vigil__phi_y_star(cfg->threshold);
      pool->y_star_for = cfg->threshold;
    }
    p->detector.y_star = pool->y_star;
    p->detector.y_star_for = pool->y_star_for;
  }
  return VIGIL_OK;
}

int vigil_pool_add(vigil_pool *pool, const vigil_peer_spec *spec, vigil_time now, uint32_t *idx) {
  if (!spec || !spec->pname) return VIGIL_EINVAL;
  if (spec->is_local && pool->local >= 0) return VIGIL_EINVAL;
  if (vigil_pool_find(pool, spec->pname)) return VIGIL_EEXIST;
  if (pool->count == UINT32_MAX / 4) return VIGIL_ENOMEM;
  int rc = pool__grow_table(pool, pool->count + 1);
  if (rc) return rc;
  bool fresh = pool->nfree == 0;
  if (fresh && (rc = pool__grow_slots(pool, pool->slots + 1))) return rc;
  uint32_t slot = fresh ? pool->slots : pool->free_slots[pool->nfree - 1];

  vigil_peer p;
  rc = pool__fill(pool, &p, spec, now);
  if (rc) return rc;
  p.idx = slot;
  p.in_use = true;
  pool->peers[slot] = p;
  if (fresh)
    pool->slots++;
  else
    pool->nfree--;
  pool->count++;
  if (p.is_local) pool->local = slot;

  uint32_t h = pool__hash(p.pname);
  uint32_t b = pool__probe(pool, p.pname, h);
  pool->table[b].hash = h;
  pool->table[b].slot = slot + 1;
  if (idx) *idx = slot;
  return VIGIL_OK;
}

int vigil_pool_remove(vigil_pool *pool, const char *pname) {
  if (!pname) return VIGIL_ENOENT;
  uint32_t i = pool__probe(pool, pname, pool__hash(pname));
  uint32_t slot = pool->table[i].slot;
  if (!slot) return VIGIL_ENOENT;

  /* Backward-shift deletion: pull later members of the probe run into the
   * hole when their home bucket does not lie between the hole and them. */
  uint32_t hole = i, j = i;
  for (;;) {
    j = (j + 1) & pool->tmask;
    pool__bucket b = pool->table[j];
    if (!b.slot) break;
    uint32_t home = b.hash & pool->tmask;
    bool between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!between) {
      pool->table[hole] = b;
      hole = j;
    }
  }
  pool->table[hole].slot = 0;
  pool->table[hole].hash = 0;

  vigil_peer *p = &pool->peers[slot - 1];
  if (p->is_local) pool->local = -1;
  pool__release(p);
  pool->count--;
  if (slot == pool->slots) {
    pool->slots--;
    /* Trailing empty slots leave the free stack as the high-water mark drops. */
    while (pool->slots && !pool->peers[pool->slots - 1].in_use) {
      uint32_t top = pool->slots - 1;
      for (uint32_t k = 0; k < pool->nfree; k++) {
        if (pool->free_slots[k] == top) {
          pool->free_slots[k] = pool->free_slots[--pool->nfree];
          break;
        }
      }
      pool->slots--;
    }
  } else {
    pool->free_slots[pool->nfree++] = slot - 1;
  }
  return VIGIL_OK;
}

int vigil__pool_place(vigil_pool *pool, uint32_t idx, const char *dc, const char *rack, const vigil_token *tokens,
                      uint32_t ntokens) {
  vigil_peer *p = vigil_pool_get(pool, idx);
  if (!p) return VIGIL_ENOENT;
  if (ntokens > VIGIL_TOKENS_MAX || (ntokens && !tokens)) return VIGIL_EINVAL;
  if ((dc && strlen(dc) >= sizeof p->dc) || (rack && strlen(rack) >= sizeof p->rack)) return VIGIL_ENAMETOOLONG;
  vigil_token *t = NULL;
  if (ntokens) {
    t = malloc((size_t)ntokens * sizeof *t);
    if (!t) return VIGIL_ENOMEM;
    memcpy(t, tokens, (size_t)ntokens * sizeof *t);
  }
  free(p->tokens);
  p->tokens = t;
  p->ntokens = ntokens;
  if (dc && *dc) {
    vigil__copy(p->dc, sizeof p->dc, dc);
    p->is_same_dc = strcmp(p->dc, pool->dc) == 0;
  }
  if (rack && *rack) vigil__copy(p->rack, sizeof p->rack, rack);
  return VIGIL_OK;
}

/* Point every detector at its config again and refresh its horizon. */
static void pool__repoint(vigil_pool *pool) {
  for (uint32_t i = 0; i < pool->slots; i++) {
    vigil_peer *p = &pool->peers[i];
    if (!p->in_use) continue;
    p->detector.cfg = pool__config_for(pool, p);
    vigil__detector_refresh(&p->detector);
  }
}

int vigil_pool_configure(vigil_pool *pool, const vigil_detector_config *cfg, const char **why) {
  if (vigil_detector_config_check(cfg, why) != VIGIL_OK) return VIGIL_EINVAL;
  vigil_detector_config next = *cfg;
  next.max_samples = pool->dcfg.max_samples; /* windows are sized once */
  pool->dcfg = next;
  for (uint32_t i = 0; i < pool->noverrides; i++) {
    double t = pool->overrides[i]->cfg.threshold;
    pool->overrides[i]->cfg = next;
    pool->overrides[i]->cfg.threshold = t;
  }
  pool__repoint(pool);
  return VIGIL_OK;
}

int vigil_pool_set_thresholds(vigil_pool *pool, const vigil_threshold_override *ov, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if (!ov[i].key || !*ov[i].key || strlen(ov[i].key) >= VIGIL_PNAME_MAX) return VIGIL_EINVAL;
    if (!(ov[i].threshold > 0) || !isfinite(ov[i].threshold)) return VIGIL_EINVAL;
  }
  pool__override **next = n ? calloc(n, sizeof *next) : NULL;
  if (n && !next) return VIGIL_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    next[i] = malloc(sizeof **next);
    if (!next[i]) {
      for (uint32_t k = 0; k < i; k++) free(next[k]);
      free(next);
      return VIGIL_ENOMEM;
    }
    vigil__copy(next[i]->key, sizeof next[i]->key, ov[i].key);
    next[i]->cfg = pool->dcfg;
    next[i]->cfg.threshold = ov[i].threshold;
  }
  pool__override **old = pool->overrides;
  uint32_t nold = pool->noverrides;
  pool->overrides = next;
  pool->noverrides = n;
  pool__repoint(pool); /* before freeing: detectors still point at the old configs */
  for (uint32_t i = 0; i < nold; i++) free(old[i]);
  free(old);
  return VIGIL_OK;
}

double vigil_pool_threshold_of(const vigil_pool *pool, uint32_t idx) {
  if (idx >= pool->slots || !pool->peers[idx].in_use) return NAN;
  return pool->peers[idx].detector.cfg->threshold;
}
