/*
 * ring.c - the observer rings: who watches whom in a large cluster.
 *
 * Owns: K orderings of the members (each a ring sorted by a hash of the
 * member's pname keyed by the ring's number), so that any agent can compute
 * from its member list, without asking anyone, which K agents observe a
 * given member (its successor on each ring) and which members it observes
 * itself (its predecessor on each ring). Rapid (USENIX ATC 2018) calls this
 * K-ring monitoring: the graph it makes is an expander, so a set of failed
 * members cannot hide from the survivors.
 *
 * Must never: allocate per lookup, or re-sort everything on each change.
 * Changes are collected and merged in one O(N) pass per ring at commit, so
 * a thousand joins in one interval cost one pass, not a thousand.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* An entry packs the top 40 bits of the member's key on the ring above
 * its pool slot (24 bits): ordering entries as integers orders by key,
 * and 40-bit keys of a few thousand members practically never tie (when
 * they do, slots break the tie, and two agents may disagree about one
 * observer; the quorum tolerates that). 8 bytes a member a ring. */
typedef uint64_t ring_entry;
#define SLOT_BITS 24
#define SLOT_MASK ((1ull << SLOT_BITS) - 1)
static ring_entry ring__entry(uint64_t key, uint32_t idx) { return (key & ~SLOT_MASK) | idx; }
static uint32_t ring__idx(ring_entry e) { return (uint32_t)(e & SLOT_MASK); }

struct vigil__rings {
  uint32_t k;        /* rings */
  uint32_t n;        /* entries in each ring */
  uint32_t cap;      /* entries allocated per ring */
  ring_entry *e;     /* ring r is e[r * cap .. r * cap + n) */
  uint64_t *h0;      /* base hash of each slot's member */
  uint8_t *flags;    /* per slot: LIVE (wanted in the rings), PENDING (to merge) */
  uint32_t slots;    /* size of h0 / flags */
  uint32_t *pending; /* slots to merge at commit */
  uint32_t npending, pending_cap;
  ring_entry *scratch; /* commit: the sorted additions of one ring */
  uint32_t scratch_cap;
  bool dirty;
};

enum { LIVE = 1, PENDING = 2 };

/* splitmix64's finaliser: spreads a base hash over each ring. */
static uint64_t ring__mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static uint64_t ring__key(uint64_t h0, uint32_t r) { return ring__mix(h0 + (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull); }

uint64_t vigil__ring_hash(const char *pname) {
  uint64_t h = 14695981039346656037ull; /* FNV-1a, then mixed */
  for (; *pname; pname++) {
    h ^= (unsigned char)*pname;
    h *= 1099511628211ull;
  }
  return ring__mix(h);
}

vigil__rings *vigil__rings_new(uint32_t k) {
  if (k == 0 || k > VIGIL__RINGS_MAX) return NULL;
  vigil__rings *r = calloc(1, sizeof *r);
  if (r) r->k = k;
  return r;
}

void vigil__rings_free(vigil__rings *r) {
  if (!r) return;
  free(r->e);
  free(r->h0);
  free(r->flags);
  free(r->pending);
  free(r->scratch);
  free(r);
}

static bool ring__slots(vigil__rings *r, uint32_t idx) {
  if (idx < r->slots) return true;
  uint32_t n = r->slots ? r->slots : 64;
  while (n <= idx) n *= 2;
  uint64_t *h = realloc(r->h0, (size_t)n * sizeof *h);
  if (!h) return false;
  r->h0 = h;
  uint8_t *f = realloc(r->flags, n);
  if (!f) return false;
  memset(f + r->slots, 0, n - r->slots);
  memset(h + r->slots, 0, (size_t)(n - r->slots) * sizeof *h);
  r->flags = f;
  r->slots = n;
  return true;
}

int vigil__rings_add(vigil__rings *r, uint32_t idx, uint64_t h0) {
  if (idx > SLOT_MASK) return VIGIL_EINVAL;
  if (!ring__slots(r, idx)) return VIGIL_ENOMEM;
  if ((r->flags[idx] & LIVE) && r->h0[idx] == h0 && !(r->flags[idx] & PENDING)) return VIGIL_OK; /* already in */
  if (!(r->flags[idx] & PENDING)) {
    if (r->npending == r->pending_cap) {
      uint32_t cap = r->pending_cap ? r->pending_cap * 2 : 64;
      uint32_t *p = realloc(r->pending, (size_t)cap * sizeof *p);
      if (!p) return VIGIL_ENOMEM;
      r->pending = p;
      r->pending_cap = cap;
    }
    r->pending[r->npending++] = idx;
  }
  r->h0[idx] = h0;
  r->flags[idx] = LIVE | PENDING;
  r->dirty = true;
  return VIGIL_OK;
}

void vigil__rings_remove(vigil__rings *r, uint32_t idx) {
  if (idx >= r->slots || !(r->flags[idx] & LIVE)) return;
  r->flags[idx] &= (uint8_t)~LIVE;
  r->dirty = true;
}

bool vigil__rings_contains(const vigil__rings *r, uint32_t idx) { return idx < r->slots && (r->flags[idx] & LIVE); }

static int ring__cmp(const void *a, const void *b) {
  ring_entry x = *(const ring_entry *)a, y = *(const ring_entry *)b;
  return x < y ? -1 : x > y;
}

int vigil__rings_commit(vigil__rings *r) {
  if (!r->dirty) return VIGIL_OK;
  uint32_t add = 0;
  for (uint32_t i = 0; i < r->npending; i++)
    if (r->flags[r->pending[i]] & LIVE) add++;
  uint32_t want = r->n + add;
  if (want > r->cap) {
    uint32_t cap = r->cap ? r->cap : 64;
    while (cap < want) cap *= 2;
    ring_entry *e = malloc((size_t)cap * r->k * sizeof *e);
    if (!e) return VIGIL_ENOMEM;
    for (uint32_t q = 0; q < r->k; q++)
      if (r->n) memcpy(e + (size_t)q * cap, r->e + (size_t)q * r->cap, (size_t)r->n * sizeof *e);
    free(r->e);
    r->e = e;
    r->cap = cap;
  }
  if (add > r->scratch_cap) {
    ring_entry *s = realloc(r->scratch, (size_t)add * sizeof *s);
    if (!s) return VIGIL_ENOMEM;
    r->scratch = s;
    r->scratch_cap = add;
  }
  uint32_t n = 0;
  for (uint32_t q = 0; q < r->k; q++) {
    ring_entry *e = r->e + (size_t)q * r->cap;
    /* Keep the entries still wanted whose member did not change (a slot
     * reused by another member, or re-added, comes back from pending). */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < r->n; i++) {
      uint32_t idx = ring__idx(e[i]);
      if (r->flags[idx] != LIVE || ring__entry(ring__key(r->h0[idx], q), idx) != e[i]) continue;
      e[kept++] = e[i];
    }
    uint32_t na = 0;
    for (uint32_t i = 0; i < r->npending; i++) {
      uint32_t idx = r->pending[i];
      if (r->flags[idx] & LIVE) r->scratch[na++] = ring__entry(ring__key(r->h0[idx], q), idx);
    }
    qsort(r->scratch, na, sizeof *r->scratch, ring__cmp);
    /* Merge from the back, in place. */
    uint32_t i = kept, j = na, o = kept + na;
    while (j > 0) {
      if (i > 0 && r->scratch[j - 1] < e[i - 1])
        e[--o] = e[--i];
      else
        e[--o] = r->scratch[--j];
    }
    n = kept + na;
  }
  for (uint32_t i = 0; i < r->npending; i++) r->flags[r->pending[i]] &= (uint8_t)~PENDING;
  r->npending = 0;
  r->n = n;
  r->dirty = false;
  return VIGIL_OK;
}

uint32_t vigil__rings_size(const vigil__rings *r) { return r->n; }
bool vigil__rings_dirty(const vigil__rings *r) { return r->dirty; }
uint32_t vigil__rings_k(const vigil__rings *r) { return r->k; }

/* Index of the first entry of ring q not less than (key, idx). */
static uint32_t ring__lower(const ring_entry *e, uint32_t n, uint64_t key, uint32_t idx) {
  uint32_t lo = 0, hi = n;
  ring_entry x = ring__entry(key, idx);
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (e[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* On each ring, the first member after the one with base hash h0 and
 * slot idx that is neither idx nor a member found on an earlier ring: at
 * most k distinct members, fewer when the rings are small. */
uint32_t vigil__rings_observers(const vigil__rings *r, uint64_t h0, uint32_t idx, uint32_t *out) {
  uint32_t n = r->n, found = 0;
  for (uint32_t q = 0; q < r->k && n > 0; q++) {
    const ring_entry *e = r->e + (size_t)q * r->cap;
    uint64_t key = ring__key(h0, q);
    uint32_t pos = ring__lower(e, n, key, idx);
    if (pos < n && e[pos] == ring__entry(key, idx)) pos++;
    for (uint32_t tries = 0; tries < n; tries++, pos++) {
      uint32_t cand = ring__idx(e[pos % n]);
      bool dup = cand == idx;
      for (uint32_t f = 0; f < found && !dup; f++) dup = out[f] == cand;
      if (dup) continue;
      out[found++] = cand;
      break;
    }
  }
  return found;
}

/* The members whose observers include idx: each is within the k members
 * before idx on some ring (an observer is at most k places after its
 * subject: k - 1 earlier rings can take only k - 1 of the places), so
 * those are the candidates, each checked with the observer rule itself. */
uint32_t vigil__rings_subjects(const vigil__rings *r, uint64_t h0, uint32_t idx, uint32_t *out, uint32_t cap) {
  uint32_t n = r->n, found = 0;
  if (n < 2) return 0;
  for (uint32_t q = 0; q < r->k; q++) {
    const ring_entry *e = r->e + (size_t)q * r->cap;
    uint32_t pos = ring__lower(e, n, ring__key(h0, q), idx);
    uint32_t steps = r->k < n - 1 ? r->k : n - 1;
    for (uint32_t s = 1; s <= steps; s++) {
      uint32_t cand = ring__idx(e[(pos + n - s) % n]);
      if (cand == idx) continue;
      bool dup = false;
      for (uint32_t f = 0; f < found && !dup; f++) dup = out[f] == cand;
      if (dup) continue;
      uint32_t obs[VIGIL__RINGS_MAX];
      uint32_t no = vigil__rings_observers(r, r->h0[cand], cand, obs);
      bool mine = false;
      for (uint32_t o = 0; o < no && !mine; o++) mine = obs[o] == idx;
      if (mine && found < cap) out[found++] = cand;
    }
  }
  return found;
}
