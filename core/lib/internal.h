/*
 * internal.h - declarations shared between the core's files and nothing
 * else. Everything here is prefixed vigil__ (two underscores): it is not part
 * of the public contract in vigil.h and may change at any time.
 */
#ifndef VIGIL_INTERNAL_H
#define VIGIL_INTERNAL_H

#include "vigil.h"

/* A byte a dc or rack name may hold: [A-Za-z0-9._-]. */
static inline bool vigil__name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Is h[0..n) an IP literal as a pname holds it: a dotted quad without
 * leading zeros, or "[v6]" in canonical form (RFC 5952)? */
bool vigil__host_literal(const char *h, size_t n);

/* Bounded copy: at most cap-1 bytes and a NUL. Returns false when src did
 * not fit (dst is then left as an empty string). */
bool vigil__copy(char *dst, size_t cap, const char *src);

/* A growable text buffer used to render metrics. Once an allocation fails
 * the buffer is marked failed and every further append is a no-op. */
typedef struct vigil__buf {
  char *data;
  size_t len;
  size_t cap;
  bool failed;
} vigil__buf;

void vigil__buf_printf(vigil__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vigil__buf_puts(vigil__buf *b, const char *s);
/* Append a Prometheus label value: backslash, quote and newline escaped. */
void vigil__buf_label(vigil__buf *b, const char *s);
/* Append a sample value: +Inf, -Inf, NaN or the shortest exact decimal. */
void vigil__buf_value(vigil__buf *b, double v);

/* Detector internals for the handler (phi.c). */

/* Bring the cached horizon up to date with cfg->threshold. */
void vigil__detector_refresh(vigil_detector *d);

/* The sign of phi - threshold, as of `now` with silence counted from
 * max(last, since): -1, 0 or +1. Exact; uses the cached horizon when it is
 * current and the answer is not within a hair of the boundary. */
int vigil__detector_cmp(const vigil_detector *d, vigil_time since, vigil_time now);

/* Model normal: the y = (t - mu) / sigma at which phi reaches threshold
 * (bisection over vigil_phi_normal, ~100 evaluations: worth caching). */
double vigil__phi_y_star(double threshold);

/* Silence (ns after the latest heartbeat) past which the next heartbeat is
 * overdue: the window mean (first_estimate before any interval) plus its
 * standard deviation floored at min_std_dev. The bar a refusal needs. */
vigil_time vigil__detector_overdue(const vigil_detector *d);

/* Replace a peer's dc, rack and tokens (pool.c); NULL dc/rack keep the
 * current ones. VIGIL_ENAMETOOLONG, VIGIL_EINVAL, VIGIL_ENOMEM. */
int vigil__pool_place(vigil_pool *pool, uint32_t idx, const char *dc, const char *rack, const vigil_token *tokens,
                      uint32_t ntokens);

/* Replace a peer's tags with a canonical set (pool.c; "" or NULL: none).
 * 1 when they changed, 0 when they were the same, VIGIL_ENOENT,
 * VIGIL_ENOMEM (the old set stays). */
int vigil__pool_set_tags(vigil_pool *pool, uint32_t idx, const char *tags);

/* Bytes of tag text the pool's peers hold, NULs included (pool.c): what a
 * snapshot needs beside its peers. */
size_t vigil__pool_tag_bytes(const vigil_pool *pool);

/* Sort n (<= VIGIL_TAGS_MAX) tags, each already checked, by key and write
 * their canonical text into out (tags.c). VIGIL_OK, VIGIL_EEXIST (a key
 * twice) or VIGIL_ENAMETOOLONG (over VIGIL_TAGS_TEXT - 1 bytes); out is
 * "" on failure. Shared by the frame decoder and vigil_tags_parse. */
int vigil__tags_build(vigil_tag *t, uint32_t n, char out[VIGIL_TAGS_TEXT]);

/* Lookups in two steps, for a batch of names (a frame's digest): first
 * compute each name's hash and prefetch its bucket, then prefetch the
 * peer the bucket points at (its pname and hot fields) and learn its idx
 * (-1 when the first bucket probed is not it). Only hints: the lookups
 * that follow are the real ones; the batch's cache misses overlap
 * instead of being paid one after the other (pool.c). */
uint32_t vigil__pool_prefetch_bucket(const vigil_pool *pool, const char *pname);
/* The hot fields of the peer in slot idx, ahead of a walk over the pool
 * (evaluate, next_due): a hint, nothing read. */
void vigil__pool_prefetch_slot(const vigil_pool *pool, uint32_t idx);
int64_t vigil__pool_prefetch_peer(const vigil_pool *pool, uint32_t hash);

/* Observer rings (ring.c). K orderings of the members; a member's
 * observers are its successors, one per ring, all distinct. Changes
 * (add, remove) take effect at commit. */
#define VIGIL__RINGS_MAX 16
typedef struct vigil__rings vigil__rings;
uint64_t vigil__ring_hash(const char *pname);
vigil__rings *vigil__rings_new(uint32_t k);
void vigil__rings_free(vigil__rings *r);
int vigil__rings_add(vigil__rings *r, uint32_t idx, uint64_t h0);
void vigil__rings_remove(vigil__rings *r, uint32_t idx);
bool vigil__rings_contains(const vigil__rings *r, uint32_t idx);
int vigil__rings_commit(vigil__rings *r);
uint32_t vigil__rings_size(const vigil__rings *r);
bool vigil__rings_dirty(const vigil__rings *r);
uint32_t vigil__rings_k(const vigil__rings *r);
/* The observers of the member (h0, idx): up to k distinct slots. */
uint32_t vigil__rings_observers(const vigil__rings *r, uint64_t h0, uint32_t idx, uint32_t *out);
/* The members idx observes: up to cap slots. */
uint32_t vigil__rings_subjects(const vigil__rings *r, uint64_t h0, uint32_t idx, uint32_t *out, uint32_t cap);

/* Hooks from the handler into the metrics object (metrics.c). */
typedef enum vigil__ignored {
  VIGIL__IGNORED_UNKNOWN = 0, /* heartbeat for a pname not in the pool */
  VIGIL__IGNORED_LOCAL = 1,   /* heartbeat for the local peer */
  VIGIL__IGNORED_COUNT = 2
} vigil__ignored;

void vigil__metrics_heartbeat_ignored(vigil_metrics *m, vigil__ignored why);
void vigil__metrics_evaluation(vigil_metrics *m, bool paused, uint32_t deferred);
void vigil__metrics_event(vigil_metrics *m, vigil_event_type t);
void vigil__metrics_gossip_round(vigil_metrics *m, vigil_time duration, uint32_t peers_seen);
void vigil__metrics_refused(vigil_metrics *m);
uint64_t vigil__metrics_refused_total(const vigil_metrics *m); /* refusals about known peers so far */
void vigil__metrics_conviction(vigil_metrics *m, vigil_cause c);

/* vigil_frame_encode with the nonce given instead of drawn at random
 * (frame.c): for test vectors only. Sealing two frames with one key and
 * one nonce gives both away: nothing that sends may call it. */
int vigil__frame_encode_nonce(const vigil_frame *f, const vigil_keyring *kr, const uint8_t nonce[VIGIL_NONCE_BYTES],
                              uint8_t *buf, size_t cap);

#endif
