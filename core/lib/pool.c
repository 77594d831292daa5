/*
 * pool.c - the ServerPool: every peer this agent knows, itself included.
 *
 * Owns: the peer array (one contiguous array of slots, so the evaluate tick
 * walks memory in order), the free-slot stack that lets peers come and go
 * at run time while idx values stay stable, and an open-addressing hash
 * table (linear probing, backward-shift deletion, no tombstones) that finds
 * a peer by pname in O(1). Also the detector settings a policy gives per dc
 * or per pname (thresholds, acceptable pauses) and the configs the
 * overridden peers' detectors point at: one per distinct pair of settings
 * in use, so at most (64 + 1)^2 whatever the pool's size: rebuilt when the
 * overrides change (vigil_pool_set_thresholds / _acceptable_pauses), one
 * added when a peer joins or moves to a dc that needs it.
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

/* What the policy set for one dc or one pname: a threshold, an acceptable
 * pause, or both (vigil_pool_set_thresholds, vigil_pool_set_acceptable_pauses). */
typedef struct pool__override {
  char key[VIGIL_PNAME_MAX];
  bool has_threshold, has_pause;
  double threshold;
  vigil_time pause;
} pool__override;

/* A detector config some peers point at: the base config with a threshold,
 * a pause or both replaced. A peer takes each of the two from its pname's
 * override, else from its dc's, else from the base, so two kinds of
 * override keyed differently combine; peers that end up with the same pair
 * share one config. Peers no override touches point at the base itself. */
typedef struct pool__config {
  bool has_threshold, has_pause;
  double threshold;
  vigil_time pause;
  vigil_detector_config cfg;
} pool__config;

struct vigil_pool {
  char dc[VIGIL_NAME_MAX];    /* the local dc */
  vigil_detector_config dcfg; /* shared by every detector; stable address */
  vigil_peer *peers;          /* slots [0, slots) */
  uint32_t slots;             /* high-water mark of used slots */
  uint32_t cap;               /* allocated slots */
  uint32_t count;             /* slots in use */
  uint32_t *free_slots;       /* stack of empty slots below `slots` */
  uint32_t nfree;
  int64_t local;             /* idx of the local peer or -1 */
  pool__bucket *table;       /* power-of-two sized, at most half full */
  pool__override *overrides; /* one per key, both kinds merged */
  uint32_t noverrides;
  pool__config **configs; /* each separately allocated: detectors point into them */
  uint32_t nconfigs, configs_cap;
  uint32_t tmask;
  double y_star, y_star_for; /* model normal: the solution for a threshold, */
                             /* handed to every new detector (NAN = none yet) */
  size_t tag_bytes;          /* tag text held by the peers, NULs included */
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

static void pool__release(vigil_pool *pool, vigil_peer *p) {
  vigil_detector_free(&p->detector);
  free(p->tokens);
  p->tokens = NULL;
  if (p->tags) pool->tag_bytes -= strlen(p->tags) + 1;
  free(p->tags);
  p->tags = NULL;
  free(p->transitions);
  p->transitions = NULL;
  p->in_use = false;
}

void vigil_pool_free(vigil_pool *pool) {
  if (!pool) return;
  for (uint32_t i = 0; i < pool->slots; i++)
    if (pool->peers[i].in_use) pool__release(pool, &pool->peers[i]);
  free(pool->peers);
  free(pool->free_slots);
  free(pool->table);
  free(pool->overrides);
  for (uint32_t i = 0; i < pool->nconfigs; i++) free(pool->configs[i]);
  free(pool->configs);
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

/* The overrides that apply to a peer, each setting from its pname's entry,
 * else its dc's: into *want (has_ flags clear when none applies). */
static void pool__wanted(const pool__override *ov, uint32_t n, const vigil_peer *p, pool__config *want) {
  const pool__override *by_pname = NULL, *by_dc = NULL;
  for (uint32_t i = 0; i < n && !(by_pname && by_dc); i++) { /* both: each setting may come from either */
    if (!by_pname && strcmp(ov[i].key, p->pname) == 0)
      by_pname = &ov[i];
    else if (!by_dc && strcmp(ov[i].key, p->dc) == 0)
      by_dc = &ov[i];
  }
  memset(want, 0, sizeof *want);
  const pool__override *t = by_pname && by_pname->has_threshold ? by_pname
                            : by_dc && by_dc->has_threshold     ? by_dc
                                                                : NULL;
  const pool__override *a = by_pname && by_pname->has_pause ? by_pname : by_dc && by_dc->has_pause ? by_dc : NULL;
  if (t) want->has_threshold = true, want->threshold = t->threshold;
  if (a) want->has_pause = true, want->pause = a->pause;
}

static bool pool__same(const pool__config *a, const pool__config *b) {
  return a->has_threshold == b->has_threshold && a->has_pause == b->has_pause &&
         (!a->has_threshold || a->threshold == b->threshold) && (!a->has_pause || a->pause == b->pause);
}

/* The base config with what `c` replaces. */
static void pool__derive(const vigil_pool *pool, pool__config *c) {
  c->cfg = pool->dcfg;
  if (c->has_threshold) c->cfg.threshold = c->threshold;
  if (c->has_pause) c->cfg.acceptable_pause = c->pause;
}

/* The config among configs[0 .. n) equal to want, or NULL. */
static vigil_detector_config *pool__find_config(pool__config *const *configs, uint32_t n, const pool__config *want) {
  for (uint32_t i = 0; i < n; i++)
    if (pool__same(configs[i], want)) return &configs[i]->cfg;
  return NULL;
}

/* Make sure *configs holds a config equal to want (allocating it when
 * not). VIGIL_ENOMEM leaves the list as it was. */
static int pool__need_config(const vigil_pool *pool, pool__config ***configs, uint32_t *n, uint32_t *cap,
                             const pool__config *want) {
  if (!want->has_threshold && !want->has_pause) return VIGIL_OK;
  if (pool__find_config(*configs, *n, want)) return VIGIL_OK;
  if (*n == *cap) {
    uint32_t next = *cap ? *cap * 2 : 4;
    pool__config **grown = realloc(*configs, (size_t)next * sizeof *grown);
    if (!grown) return VIGIL_ENOMEM;
    *configs = grown;
    *cap = next;
  }
  pool__config *c = malloc(sizeof *c);
  if (!c) return VIGIL_ENOMEM;
  *c = *want;
  pool__derive(pool, c);
  (*configs)[(*n)++] = c;
  return VIGIL_OK;
}

/* The config a peer's detector follows: the base, or the one its
 * overrides make (which pool__need_config has made sure exists). */
static const vigil_detector_config *pool__config_for(const vigil_pool *pool, const vigil_peer *p) {
  if (!pool->noverrides) return &pool->dcfg;
  pool__config want;
  pool__wanted(pool->overrides, pool->noverrides, p, &want);
  const vigil_detector_config *c = pool__find_config(pool->configs, pool->nconfigs, &want);
  return c ? c : &pool->dcfg;
}

/* Validate a spec and fill a peer from it (everything but idx and slot). */
static int pool__fill(vigil_pool *pool, vigil_peer *p, const vigil_peer_spec *spec, vigil_time now) {
  size_t host_len;
  uint16_t port;
  if (!spec->pname) return VIGIL_EINVAL;
  int rc = vigil_pname_parse(spec->pname, &host_len, &port);
  if (rc) return rc;
  if (spec->ntokens > VIGIL_TOKENS_MAX || (spec->ntokens && !spec->tokens)) return VIGIL_EINVAL;
  char tags[VIGIL_TAGS_TEXT];
  if (vigil_tags_parse(spec->tags, tags, NULL) != VIGIL_OK) return VIGIL_EINVAL;
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
  if (tags[0]) {
    size_t n = strlen(tags) + 1;
    if (!(p->tags = malloc(n))) {
      free(p->tokens);
      return VIGIL_ENOMEM;
    }
    memcpy(p->tags, tags, n);
  }
  if (pool->noverrides) { /* its dc's or its own overrides may make a config no peer needed yet */
    pool__config want;
    pool__wanted(pool->overrides, pool->noverrides, p, &want);
    rc = pool__need_config(pool, &pool->configs, &pool->nconfigs, &pool->configs_cap, &want);
    if (rc) {
      free(p->tokens);
      free(p->tags);
      return rc;
    }
  }
  const vigil_detector_config *cfg = pool__config_for(pool, p);
  rc = vigil_detector_init(&p->detector, cfg);
  if (rc) {
    free(p->tokens);
    free(p->tags);
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
  if (p.tags) pool->tag_bytes += strlen(p.tags) + 1;

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
  pool__release(pool, p);
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
  if (dc && *dc && strcmp(dc, p->dc) != 0) {
    vigil__copy(p->dc, sizeof p->dc, dc);
    p->is_same_dc = strcmp(p->dc, pool->dc) == 0;
    /* Its dc's overrides follow it. Out of memory for a new config, it is
     * judged by the base until the next change of overrides. */
    if (pool->noverrides) {
      pool__config want;
      pool__wanted(pool->overrides, pool->noverrides, p, &want);
      (void)pool__need_config(pool, &pool->configs, &pool->nconfigs, &pool->configs_cap, &want);
      p->detector.cfg = pool__config_for(pool, p);
      vigil__detector_refresh(&p->detector);
    }
  }
  if (rack && *rack) vigil__copy(p->rack, sizeof p->rack, rack);
  return VIGIL_OK;
}

int vigil__pool_set_tags(vigil_pool *pool, uint32_t idx, const char *tags) {
  vigil_peer *p = vigil_pool_get(pool, idx);
  if (!p) return VIGIL_ENOENT;
  const char *now = p->tags ? p->tags : "";
  if (!tags) tags = "";
  if (strcmp(now, tags) == 0) return 0;
  char *next = NULL;
  if (*tags) {
    size_t n = 0;
    while (n < VIGIL_TAGS_TEXT && tags[n]) n++;
    if (n == VIGIL_TAGS_TEXT) return VIGIL_EINVAL; /* not a set: a frame never holds one */
    if (!(next = malloc(n + 1))) return VIGIL_ENOMEM;
    memcpy(next, tags, n + 1);
    pool->tag_bytes += n + 1;
  }
  if (p->tags) pool->tag_bytes -= strlen(p->tags) + 1;
  free(p->tags);
  p->tags = next;
  return 1;
}

size_t vigil__pool_tag_bytes(const vigil_pool *pool) { return pool->tag_bytes; }

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
  for (uint32_t i = 0; i < pool->nconfigs; i++) pool__derive(pool, pool->configs[i]);
  pool__repoint(pool);
  return VIGIL_OK;
}

/* Put `next` (n entries, owned from now on) in force: the configs every
 * peer needs are made first, so that running out of memory changes
 * nothing; then every detector is pointed at its own and the old ones go. */
static int pool__set_overrides(vigil_pool *pool, pool__override *next, uint32_t n) {
  pool__config **configs = NULL;
  uint32_t nconfigs = 0, cap = 0;
  int rc = VIGIL_OK;
  for (uint32_t i = 0; i < pool->slots && rc == VIGIL_OK; i++) {
    if (!pool->peers[i].in_use) continue;
    pool__config want;
    pool__wanted(next, n, &pool->peers[i], &want);
    rc = pool__need_config(pool, &configs, &nconfigs, &cap, &want);
  }
  if (rc != VIGIL_OK) {
    for (uint32_t i = 0; i < nconfigs; i++) free(configs[i]);
    free(configs);
    free(next);
    return rc;
  }
  pool__override *old = pool->overrides;
  pool__config **old_configs = pool->configs;
  uint32_t nold = pool->nconfigs;
  pool->overrides = next;
  pool->noverrides = n;
  pool->configs = configs;
  pool->nconfigs = nconfigs;
  pool->configs_cap = cap;
  pool__repoint(pool); /* before freeing: detectors still point at the old configs */
  free(old);
  for (uint32_t i = 0; i < nold; i++) free(old_configs[i]);
  free(old_configs);
  return VIGIL_OK;
}

static bool pool__key_ok(const char *key) { return key && *key && strlen(key) < VIGIL_PNAME_MAX; }

/* The current overrides with one kind dropped (`keep_thresholds` says
 * which stays), room for `extra` more entries: a new array, or NULL. */
static pool__override *pool__keep(const vigil_pool *pool, bool keep_thresholds, uint32_t extra, uint32_t *n) {
  pool__override *next = malloc(((size_t)pool->noverrides + extra + 1) * sizeof *next);
  if (!next) return NULL;
  *n = 0;
  for (uint32_t i = 0; i < pool->noverrides; i++) {
    pool__override o = pool->overrides[i];
    if (keep_thresholds)
      o.has_pause = false;
    else
      o.has_threshold = false;
    if (o.has_threshold || o.has_pause) next[(*n)++] = o;
  }
  return next;
}

/* The entry for key in next[0 .. *n), appended (cleared) when absent. */
static pool__override *pool__entry(pool__override *next, uint32_t *n, const char *key) {
  for (uint32_t i = 0; i < *n; i++)
    if (strcmp(next[i].key, key) == 0) return &next[i];
  pool__override *o = &next[(*n)++];
  memset(o, 0, sizeof *o);
  vigil__copy(o->key, sizeof o->key, key);
  return o;
}

int vigil_pool_set_thresholds(vigil_pool *pool, const vigil_threshold_override *ov, uint32_t n) {
  if (n && !ov) return VIGIL_EINVAL;
  for (uint32_t i = 0; i < n; i++)
    if (!pool__key_ok(ov[i].key) || !(ov[i].threshold > 0) || !isfinite(ov[i].threshold)) return VIGIL_EINVAL;
  uint32_t count;
  pool__override *next = pool__keep(pool, false, n, &count);
  if (!next) return VIGIL_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    pool__override *o = pool__entry(next, &count, ov[i].key);
    o->has_threshold = true;
    o->threshold = ov[i].threshold;
  }
  return pool__set_overrides(pool, next, count);
}

int vigil_pool_set_acceptable_pauses(vigil_pool *pool, const vigil_pause_override *ov, uint32_t n) {
  if (n && !ov) return VIGIL_EINVAL;
  for (uint32_t i = 0; i < n; i++)
    if (!pool__key_ok(ov[i].key) || ov[i].acceptable_pause > VIGIL_PAUSE_OVERRIDE_MAX) return VIGIL_EINVAL;
  uint32_t count;
  pool__override *next = pool__keep(pool, true, n, &count);
  if (!next) return VIGIL_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    pool__override *o = pool__entry(next, &count, ov[i].key);
    o->has_pause = true;
    o->pause = ov[i].acceptable_pause;
  }
  return pool__set_overrides(pool, next, count);
}

double vigil_pool_threshold_of(const vigil_pool *pool, uint32_t idx) {
  if (idx >= pool->slots || !pool->peers[idx].in_use) return NAN;
  return pool->peers[idx].detector.cfg->threshold;
}

vigil_time vigil_pool_acceptable_pause_of(const vigil_pool *pool, uint32_t idx) {
  if (idx >= pool->slots || !pool->peers[idx].in_use) return 0;
  return pool->peers[idx].detector.cfg->acceptable_pause;
}
