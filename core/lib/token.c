/*
 * token.c - Dynomite-style ring tokens and the ring that maps a token to
 * the peer that owns it.
 *
 * Owns: 128-bit unsigned arithmetic on tokens (parse, format, compare) and
 * a sorted array of (token, peer idx) built from a pool.
 *
 * Must never: look at peer state beyond the mask it is given, or keep
 * pointers into the pool (peer arrays move; indices do not).
 *
 * Dynomite writes tokens as decimal strings and compares them as unsigned
 * big integers. Its rings use 32-bit tokens in practice, but nothing in the
 * format says so; 128 bits cover every token seen in Dynomite and Cassandra
 * (whose RandomPartitioner tokens go up to 2^127) clusters.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void vigil_token_from_u32(vigil_token *t, uint32_t v) {
  memset(t, 0, sizeof *t);
  t->mag[0] = v;
}

int vigil_token_parse(vigil_token *t, const char *s, size_t len) {
  vigil_token r = {{0, 0, 0, 0}};
  if (!s || len == 0) return VIGIL_EINVAL;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return VIGIL_EINVAL;
    /* r = r * 10 + digit, word by word, with the carry out of the top word
     * meaning the value no longer fits in 128 bits. */
    uint64_t carry = (uint64_t)(s[i] - '0');
    for (int w = 0; w < 4; w++) {
      uint64_t x = (uint64_t)r.mag[w] * 10u + carry;
      r.mag[w] = (uint32_t)x;
      carry = x >> 32;
    }
    if (carry) return VIGIL_ERANGE;
  }
  *t = r;
  return VIGIL_OK;
}

int vigil_token_format(const vigil_token *t, char *buf, size_t cap) {
  char digits[VIGIL_TOKEN_STRLEN];
  size_t n = 0;
  vigil_token q = *t;
  do {
    /* q, rem = divmod(q, 10), from the top word down. */
    uint64_t rem = 0;
    for (int w = 3; w >= 0; w--) {
      uint64_t cur = (rem << 32) | q.mag[w];
      q.mag[w] = (uint32_t)(cur / 10u);
      rem = cur % 10u;
    }
    digits[n++] = (char)('0' + rem);
  } while (q.mag[0] | q.mag[1] | q.mag[2] | q.mag[3]);
  if (cap < n + 1) return VIGIL_ERANGE;
  for (size_t i = 0; i < n; i++) buf[i] = digits[n - 1 - i];
  buf[n] = '\0';
  return (int)n;
}

int vigil_token_cmp(const vigil_token *a, const vigil_token *b) {
  for (int w = 3; w >= 0; w--) {
    if (a->mag[w] != b->mag[w]) return a->mag[w] < b->mag[w] ? -1 : 1;
  }
  return 0;
}

void vigil_ring_init(vigil_ring *ring) { memset(ring, 0, sizeof *ring); }

void vigil_ring_free(vigil_ring *ring) {
  free(ring->entries);
  vigil_ring_init(ring);
}

static int ring__entry_cmp(const void *pa, const void *pb) {
  const vigil_ring_entry *a = pa, *b = pb;
  int c = vigil_token_cmp(&a->token, &b->token);
  if (c) return c;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int vigil_ring_build(vigil_ring *ring, vigil_pool *pool, uint32_t state_mask) {
  uint32_t want = 0, slots = vigil_pool_slots(pool);
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (p && (!state_mask || (state_mask & (1u << p->state)))) want += p->ntokens;
  }
  ring->len = 0;
  if (want > ring->cap) {
    vigil_ring_entry *e = realloc(ring->entries, (size_t)want * sizeof *e);
    if (!e) return VIGIL_ENOMEM;
    ring->entries = e;
    ring->cap = want;
  }
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(pool, i);
    if (!p || (state_mask && !(state_mask & (1u << p->state)))) continue;
    for (uint32_t k = 0; k < p->ntokens; k++) {
      ring->entries[ring->len].token = p->tokens[k];
      ring->entries[ring->len].idx = p->idx;
      ring->len++;
    }
  }
  if (ring->len > 1) qsort(ring->entries, ring->len, sizeof *ring->entries, ring__entry_cmp);
  return VIGIL_OK;
}

int64_t vigil_ring_owner(const vigil_ring *ring, const vigil_token *t) {
  if (ring->len == 0) return -1;
  /* First entry with token >= t (lower bound); past the end wraps to 0. */
  uint32_t lo = 0, hi = ring->len;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (vigil_token_cmp(&ring->entries[mid].token, t) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == ring->len) lo = 0;
  return ring->entries[lo].idx;
}
