/*
 * vigil.h - the public C API of libvigil, the core of the vigil cluster agent.
 *
 * This header is the whole contract of the core. The core is a pure library:
 * it never reads a clock, never sleeps and never does I/O. Every function
 * that depends on time takes `now`, a monotonic timestamp in nanoseconds
 * (vigil_time), so the same code runs in real time inside the agent and in
 * virtual time under tests.
 *
 * Objects:
 *   vigil_detector  phi-accrual failure detector for one peer (phi.c)
 *   vigil_token     Dynomite-style unsigned ring token (token.c)
 *   vigil_pool      the peers of a cluster, looked up by pname (pool.c)
 *   vigil_ring      which peer owns a token (token.c)
 *   vigil_handler   the single owner of peer-state transitions (gossip.c)
 *   vigil_events    bounded broadcast ring of cluster events (events.c)
 *   vigil_metrics   failure metrics in Prometheus text format (metrics.c)
 *   vigil_frame     the wire format and its authentication (frame.c, auth.c)
 *   vigil_members   what frames mean and which to send (member.c)
 *   vigil_node      one agent's whole membership logic, driven by datagrams,
 *                   refusals and timers (node.c); the agent runtime
 *                   (vigil_runtime.h) and the simulator (vigil_sim.h) are
 *                   its two drivers
 *
 * The sources live in core/lib/. Nothing declared here touches a socket, a
 * thread or a clock; that promise is kept literally, so the same node runs
 * a real agent and thousands of simulated ones.
 *
 * Errors are negative integers named VIGIL_E*; vigil_strerror() names them.
 * Nothing here is thread-safe: one thread (the core thread) owns a handler,
 * its pool, its events and its metrics.
 */
#ifndef VIGIL_H
#define VIGIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIGIL_VERSION "0.1.0"

/* Monotonic time in nanoseconds. Only the agent runtime reads a clock. */
typedef uint64_t vigil_time;

#define VIGIL_US  ((vigil_time)1000)
#define VIGIL_MS  ((vigil_time)1000000)
#define VIGIL_SEC ((vigil_time)1000000000)

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

#define VIGIL_OK           0
#define VIGIL_EINVAL       (-22)   /* an argument is out of its documented range */
#define VIGIL_ENOMEM       (-12)   /* an allocation failed */
#define VIGIL_ENOENT       (-2)    /* no such peer */
#define VIGIL_EEXIST       (-17)   /* a peer with that pname already exists */
#define VIGIL_ERANGE       (-34)   /* a number does not fit (token > 2^128-1) */
#define VIGIL_ENAMETOOLONG (-36)   /* pname, dc or rack longer than allowed */
#define VIGIL_ELOCAL       (-1000) /* the operation does not apply to the local peer */

/* A static, human-readable name for an error code ("no such peer"). */
const char *vigil_strerror(int err);

/* 32-bit FNV-1a of n bytes: the stable hash behind vigil.responsible, the
 * same in the agent and in vigil.testing. */
uint32_t vigil_hash(const void *data, size_t n);

/* ------------------------------------------------------------------------ */
/* Detector (phi.c)                                                         */

typedef enum vigil_model {
  VIGIL_MODEL_NORMAL = 0,     /* Akka: logistic approximation of the normal CDF */
  VIGIL_MODEL_EXPONENTIAL = 1 /* Cassandra: phi = elapsed / (mean * ln 10) */
} vigil_model;

/* Largest window a detector accepts; bounds memory at 4 bytes a sample. */
#define VIGIL_MAX_SAMPLES_LIMIT 65536u
/* Longest inter-arrival interval stored (samples are microseconds in 32 bits). */
#define VIGIL_MAX_INTERVAL ((vigil_time)UINT32_MAX * 1000u)

typedef struct vigil_detector_config {
  vigil_model model;           /* which phi formula to use */
  double threshold;            /* phi at or above which a peer is unavailable */
  uint32_t max_samples;        /* window size; 0 = model default (1000 / 100) */
  vigil_time min_std_dev;      /* normal: floor of the window's std deviation */
  vigil_time acceptable_pause; /* normal: added to the window mean */
  vigil_time first_estimate;   /* normal: expected interval before any data */
  vigil_time min_mean;         /* exponential: floor of the window mean */
  bool refused;                /* convict an overdue peer whose host reports
                                * that nothing listens on its port (see
                                * vigil_handler_refused); default true */
} vigil_detector_config;

/*
 * Fill a config with the agent's defaults: model normal, threshold 8.0,
 * max_samples 0 (1000 for normal, 100 for exponential), min_std_dev 100 ms,
 * acceptable_pause 2 s, first_estimate 200 ms, min_mean 1 s, refused on.
 * With the agent's 200 ms heartbeat a silent peer is convicted after
 * ~2.8 s, a stall of up to ~2.5 s is ridden out, and a peer whose process
 * died (its host answers "port unreachable") is convicted as soon as it
 * misses a heartbeat (docs/DETECTOR.md has the arithmetic and the figures).
 */
void vigil_detector_config_init(vigil_detector_config *cfg);

/*
 * Check a config. Returns VIGIL_OK, or VIGIL_EINVAL with *why (when why is
 * not NULL) set to a static sentence naming the bad field.
 */
int vigil_detector_config_check(const vigil_detector_config *cfg, const char **why);

/* The window size a config really uses (resolves max_samples = 0). */
uint32_t vigil_detector_config_window(const vigil_detector_config *cfg);

/*
 * One peer's phi-accrual detector. Embed it; the only allocation is its
 * window of intervals (4 bytes a sample), made by vigil_detector_init for
 * 16 samples and doubled as samples arrive, up to the window size.
 * The detector reads its settings through `cfg`, which must outlive it; a
 * pool points all its detectors at one shared config, so a threshold change
 * applies to every peer at once.
 */
typedef struct vigil_detector {
  const vigil_detector_config *cfg; /* settings, shared, not owned */
  /* Hot: everything evaluate() reads for a healthy peer sits up here. */
  vigil_time last;     /* arrival time of the latest heartbeat */
  uint64_t heartbeats; /* heartbeats recorded since init or reset */
  double horizon;      /* silence (ns after `last`) at which phi reaches
                        * horizon_for; +inf = never. Cached so that judging a
                        * healthy peer needs no exp() or log(). */
  double horizon_for;  /* the threshold `horizon` was computed for */
  /* Cold: the window and its running sums. */
  uint32_t *window;  /* ring of inter-arrival intervals, microseconds */
  uint32_t cap;      /* window size (fixed at init): intervals kept at most */
  uint32_t len;      /* intervals in the window */
  uint32_t head;     /* index of the oldest interval */
  uint32_t alloc;    /* intervals allocated; grows by doubling up to cap */
  uint64_t sum;      /* running sum of the window, microseconds */
  uint64_t sumsq_hi; /* running sum of squares, 128-bit: high word */
  uint64_t sumsq_lo; /*   ... and low word (exact, never drifts) */
  double mean_us;    /* window mean, microseconds (kept with the sums) */
  double sd_us;      /* window standard deviation, microseconds */
  double y_star;     /* normal model: the y = (t - mu) / sigma where phi
                      * reaches y_star_for (solved once per threshold) */
  double y_star_for;
} vigil_detector;

/* Allocate the window. Returns VIGIL_OK, VIGIL_EINVAL (bad cfg) or VIGIL_ENOMEM. */
int vigil_detector_init(vigil_detector *d, const vigil_detector_config *cfg);

/* Free the window. The detector may be initialised again afterwards. */
void vigil_detector_free(vigil_detector *d);

/*
 * Record a heartbeat that arrived at `now`. The first heartbeat starts
 * monitoring (model normal seeds the window with first_estimate -/+ 25 %).
 * A later heartbeat adds its interval to the window only when the peer was
 * available (phi(now) < threshold) as it arrived, so the long silence of an
 * outage never skews the statistics. A heartbeat stamped before the latest
 * one is ignored.
 */
void vigil_detector_heartbeat(vigil_detector *d, vigil_time now);

/* Suspicion that the peer has failed, given no heartbeat since `last`.
 * 0 before any heartbeat. Never negative, never NaN; +inf only in the limit. */
double vigil_detector_phi(const vigil_detector *d, vigil_time now);

/* phi as if the latest heartbeat had arrived at `since` when that is later
 * than the real one (used by the handler's local-pause guard). */
double vigil_detector_phi_since(const vigil_detector *d, vigil_time since, vigil_time now);

/* phi(now) < threshold. */
bool vigil_detector_is_available(const vigil_detector *d, vigil_time now);

/* The earliest time at which phi reaches the threshold if no heartbeat
 * comes (UINT64_MAX when it never does: no heartbeat yet, or too few for
 * the exponential model). Accurate to a nanosecond. */
vigil_time vigil_detector_deadline(const vigil_detector *d);

/* True once at least one heartbeat has been recorded. */
bool vigil_detector_is_monitoring(const vigil_detector *d);

/* Forget every heartbeat: back to "not monitoring", phi 0. */
void vigil_detector_reset(vigil_detector *d);

/* Mean of the window's intervals in nanoseconds (0 when empty). */
double vigil_detector_mean(const vigil_detector *d);

/* Population variance of the window's intervals in ns^2 (0 when empty). */
double vigil_detector_variance(const vigil_detector *d);

/* Number of intervals in the window. */
uint32_t vigil_detector_samples(const vigil_detector *d);

/*
 * The model-normal formula alone (Akka's PhiAccrualFailureDetector.phi):
 * y = (t - mean) / sd, e = exp(-y (1.5976 + 0.070566 y^2)),
 * phi = -log10(e / (1 + e)) when t > mean, else -log10(1 - 1 / (1 + e)).
 * Any unit, as long as the three arguments share it; sd must be > 0.
 */
double vigil_phi_normal(double t, double mean, double sd);

/* ------------------------------------------------------------------------ */
/* Tokens (token.c)                                                         */

/* An unsigned 128-bit ring token, as Dynomite's dyn_token (decimal text). */
typedef struct vigil_token {
  uint32_t mag[4]; /* magnitude, mag[0] the least significant word */
} vigil_token;

/* Longest decimal text of a token, with its NUL (2^128-1 has 39 digits). */
#define VIGIL_TOKEN_STRLEN 40

void vigil_token_from_u32(vigil_token *t, uint32_t v);

/* Parse decimal digits (no sign, no spaces, at least one digit).
 * VIGIL_EINVAL for any other character, VIGIL_ERANGE above 2^128-1. */
int vigil_token_parse(vigil_token *t, const char *s, size_t len);

/* Write the decimal text and a NUL into buf (cap >= VIGIL_TOKEN_STRLEN is
 * always enough). Returns the length, or VIGIL_ERANGE when cap is too small. */
int vigil_token_format(const vigil_token *t, char *buf, size_t cap);

/* <0, 0, >0 as a is less than, equal to, greater than b. */
int vigil_token_cmp(const vigil_token *a, const vigil_token *b);

/* ------------------------------------------------------------------------ */
/* Peers and pool (peer.c, pool.c)                                          */

typedef enum vigil_peer_state {
  VIGIL_STATE_UNKNOWN = 0,
  VIGIL_STATE_JOINING = 1,
  VIGIL_STATE_NORMAL = 2,
  VIGIL_STATE_STANDBY = 3,
  VIGIL_STATE_DOWN = 4,
  VIGIL_STATE_RESET = 5,
  VIGIL_STATE_LEAVING = 6
} vigil_peer_state;

#define VIGIL_STATE_COUNT 7

/* "unknown", "joining", "normal", ...; "invalid" outside the enum. */
const char *vigil_state_name(vigil_peer_state s);

/* The state named `name`, or -1. */
int vigil_state_parse(const char *name);

#define VIGIL_PNAME_MAX  128 /* "host:port" with its NUL */
#define VIGIL_NAME_MAX   48  /* dc and rack names with their NUL */
#define VIGIL_TOKENS_MAX 256 /* tokens a peer may own */

/*
 * Tags (tags.c): a few key=value pairs an agent carries in its heartbeats
 * (role, service, shard) for policies to select and react by. A tag set
 * has one form everywhere -- the frame, the pool, events, snapshots --
 * its text "k=v,k2=v2", keys sorted, at most VIGIL_TAGS_TEXT - 1 bytes; ""
 * is no tags. A key is [a-z][a-z0-9_]{0,31} (VIGIL_TAG_<KEY> in upper
 * case is a valid environment variable name); a value 0 to 63 bytes of
 * [A-Za-z0-9._:@+-], not starting with '-'. Neither holds ',' or '=', so
 * the text splits back into its tags, and two equal sets are equal strings.
 */
#define VIGIL_TAGS_MAX      16  /* tags in a set */
#define VIGIL_TAG_KEY_MAX   32  /* bytes of a key */
#define VIGIL_TAG_VALUE_MAX 63  /* bytes of a value */
#define VIGIL_TAGS_TEXT     256 /* a set as text, with its NUL: the budget of a set */

/* One tag of a set: pointers into the set's text (not NUL-terminated). */
typedef struct vigil_tag {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
} vigil_tag;

/* Whether len bytes are a valid tag key, a valid tag value. */
bool vigil_tag_key_valid(const char *key, size_t len);
bool vigil_tag_value_valid(const char *value, size_t len);

/*
 * Read a tag set given as "k=v,k2=v2" in any order (empty items are
 * skipped; NULL or "" is no tags) into its canonical text in out, keys
 * sorted. VIGIL_OK; VIGIL_EINVAL with *why (when why is not NULL) a static
 * sentence naming what is wrong: an item without '=', a bad key or value,
 * a key given twice, more than VIGIL_TAGS_MAX tags, or more than
 * VIGIL_TAGS_TEXT - 1 bytes of text. out is "" on failure.
 */
int vigil_tags_parse(const char *text, char out[VIGIL_TAGS_TEXT], const char **why);

/* Walk a canonical set: *pos starts at 0; each call fills *t with the next
 * tag and returns true, false after the last. */
bool vigil_tags_next(const char *tags, size_t *pos, vigil_tag *t);

/* The value of `key` in a canonical set (its length in *len), or NULL. */
const char *vigil_tags_get(const char *tags, const char *key, size_t *len);

/* How many tags a canonical set holds (0 for NULL or ""). */
uint32_t vigil_tags_count(const char *tags);

/* What the caller says about a peer when adding it to a pool. */
typedef struct vigil_peer_spec {
  const char *pname;         /* "host:port" or "[v6addr]:port"; port 1..65535 */
  const char *dc;            /* NULL or "" = the pool's dc */
  const char *rack;          /* NULL or "" = "default" */
  const vigil_token *tokens; /* may be NULL when ntokens is 0 */
  uint32_t ntokens;
  bool is_local;    /* this agent itself; never judged by a detector */
  bool is_secure;   /* peer talks over an authenticated channel */
  const char *tags; /* its tag set, "k=v,k2=v2" in any order (vigil_tags_parse); NULL or "" = none */
} vigil_peer_spec;

typedef struct vigil_peer {
  /* Hot: what evaluate() reads for every peer, kept together. */
  uint32_t idx;           /* slot in the pool; stable while the peer exists */
  vigil_peer_state state; /* owned by the handler; see gossip.c */
  bool in_use;            /* slot holds a peer */
  bool is_local;          /* this agent itself */
  bool is_same_dc;        /* dc equals the pool's dc */
  bool is_secure;         /* see vigil_peer_spec */
  uint16_t port;          /* endpoint port */
  uint8_t host_len;       /* the host is pname[0 .. host_len) (brackets kept) */
  vigil_time guard_since; /* local-pause guard: silence counted from here */
  vigil_time refused_at;  /* latest "port unreachable" for it; 0 = none */
  vigil_detector detector;
  /* Cold. */
  vigil_time since;    /* when the state last changed (or the peer was added) */
  uint64_t heartbeats; /* heartbeats accepted since the peer was added */
  /* Its latest peer_up / peer_down, as the handler published it (none
   * before the first): the evidence and, for an up, why it came up. */
  uint8_t last_cause;  /* a vigil_cause (declared with the events, below) */
  uint8_t last_reason; /* a vigil_up_reason; VIGIL_UP_NONE after a peer_down */
  bool ever_up;        /* it has been normal since it was added (its next up is not a join) */
  bool restarted;      /* it restarted while down: its next up is a restart, not a recovery */
  vigil_token *tokens; /* owned, ntokens entries */
  uint32_t ntokens;
  char pname[VIGIL_PNAME_MAX]; /* "host:port", the peer's name */
  char dc[VIGIL_NAME_MAX];
  char rack[VIGIL_NAME_MAX];
  /* Its tag set, canonical text (owned, at most VIGIL_TAGS_TEXT bytes);
   * NULL when it has none: a peer without tags costs no more. Set from
   * its own frames (member.c); never from others' news. */
  char *tags;
  /* How often the handler moved this peer from -> to, at
   * [from * VIGIL_STATE_COUNT + to]: allocated at its first counted
   * transition (only with metrics attached and peer counters on), NULL
   * before. Read it with vigil_peer_transitions. */
  uint32_t *transitions;
} vigil_peer;

/* How often the handler moved peer p from one state to another (0 when
 * not counted). */
uint32_t vigil_peer_transitions(const vigil_peer *p, vigil_peer_state from, vigil_peer_state to);

/* A dc or rack name as the wire accepts it: 1 to VIGIL_NAME_MAX-1 bytes,
 * each a letter, a digit, '.', '_' or '-'. */
bool vigil_name_valid(const char *name);

/* Split "host:port" (or "[v6]:port") into host length and port.
 * VIGIL_EINVAL when malformed, VIGIL_ENAMETOOLONG when too long. */
int vigil_pname_parse(const char *pname, size_t *host_len, uint16_t *port);

typedef struct vigil_pool_config {
  const char *dc;                 /* the local dc; NULL = "default" */
  vigil_detector_config detector; /* settings shared by every peer's detector */
  uint32_t capacity;              /* initial peer slots (grows as needed); 0 = 16 */
} vigil_pool_config;

typedef struct vigil_pool vigil_pool;

void vigil_pool_config_init(vigil_pool_config *cfg);

/* A new, empty pool. NULL on a bad config (with *why set when given) or
 * when memory runs out. */
vigil_pool *vigil_pool_new(const vigil_pool_config *cfg, const char **why);
void vigil_pool_free(vigil_pool *pool);

/*
 * Add a peer. The local peer starts joining, a remote peer starts down, both
 * with a fresh detector and since = now. Returns VIGIL_OK and its idx in
 * *idx (when idx is not NULL), VIGIL_EEXIST, VIGIL_EINVAL (bad pname, too
 * many tokens, bad tags, a second local peer), VIGIL_ENAMETOOLONG or
 * VIGIL_ENOMEM.
 * Adding may move the peer array: earlier vigil_peer pointers are invalid
 * afterwards, idx values are not.
 */
int vigil_pool_add(vigil_pool *pool, const vigil_peer_spec *spec, vigil_time now, uint32_t *idx);

/* Remove a peer and free its slot (the idx may be reused by a later add). */
int vigil_pool_remove(vigil_pool *pool, const char *pname);

/* The peer named pname, or NULL. O(1). */
vigil_peer *vigil_pool_find(vigil_pool *pool, const char *pname);

/* The peer in slot idx, or NULL when the slot is empty or out of range. */
vigil_peer *vigil_pool_get(vigil_pool *pool, uint32_t idx);

/* Number of peers, local included. */
uint32_t vigil_pool_count(const vigil_pool *pool);

/* One past the highest slot index: iterate 0 .. slots and skip NULL gets. */
uint32_t vigil_pool_slots(const vigil_pool *pool);

/* The local peer's idx, or -1 when the pool has none. */
int64_t vigil_pool_local(const vigil_pool *pool);

/*
 * Replace the base detector config live (threshold, model, min_std_dev,
 * acceptable_pause, first_estimate, min_mean; max_samples keeps its value:
 * windows are sized once). Every detector follows at once. VIGIL_EINVAL with
 * *why naming the field when the config is bad; nothing changes then.
 */
int vigil_pool_configure(vigil_pool *pool, const vigil_detector_config *cfg, const char **why);

/* A conviction threshold for one dc or one pname (a pname wins over its dc). */
typedef struct vigil_threshold_override {
  const char *key;  /* a dc name or a pname */
  double threshold; /* finite, > 0 */
} vigil_threshold_override;

/* Replace all threshold overrides (n = 0 clears them). Peers added later
 * follow them too. VIGIL_EINVAL (nothing changes) or VIGIL_ENOMEM. */
int vigil_pool_set_thresholds(vigil_pool *pool, const vigil_threshold_override *ov, uint32_t n);

/* The threshold the peer in slot idx is judged by (NaN for an empty slot). */
double vigil_pool_threshold_of(const vigil_pool *pool, uint32_t idx);

/* An acceptable pause for one dc or one pname (a pname wins over its dc):
 * the setting that decides how long a far or jittery peer may stay silent
 * (docs/DETECTOR.md, "A far datacenter"). */
typedef struct vigil_pause_override {
  const char *key;             /* a dc name or a pname */
  vigil_time acceptable_pause; /* at most VIGIL_PAUSE_OVERRIDE_MAX */
} vigil_pause_override;

#define VIGIL_PAUSE_OVERRIDE_MAX (3600 * VIGIL_SEC)

/* Replace all acceptable-pause overrides (n = 0 clears them), as
 * vigil_pool_set_thresholds; the two kinds combine (a peer may take its
 * threshold from its dc and its pause from its pname). VIGIL_EINVAL
 * (nothing changes) or VIGIL_ENOMEM. */
int vigil_pool_set_acceptable_pauses(vigil_pool *pool, const vigil_pause_override *ov, uint32_t n);

/* The acceptable pause the peer in slot idx is judged with (0 for an empty slot). */
vigil_time vigil_pool_acceptable_pause_of(const vigil_pool *pool, uint32_t idx);

/* The pool's dc and its shared detector config (writable: see handler). */
const char *vigil_pool_dc(const vigil_pool *pool);
vigil_detector_config *vigil_pool_detector_config(vigil_pool *pool);

/* ------------------------------------------------------------------------ */
/* Token ring (token.c)                                                     */

typedef struct vigil_ring_entry {
  vigil_token token;
  uint32_t idx;
} vigil_ring_entry;

typedef struct vigil_ring {
  vigil_ring_entry *entries; /* sorted by token, then idx */
  uint32_t len;
  uint32_t cap;
} vigil_ring;

void vigil_ring_init(vigil_ring *ring);
void vigil_ring_free(vigil_ring *ring);

/*
 * Rebuild the ring from the pool's tokens. state_mask selects peers by state
 * (bit 1 << state); 0 takes every peer. VIGIL_ENOMEM leaves the ring empty.
 */
int vigil_ring_build(vigil_ring *ring, vigil_pool *pool, uint32_t state_mask);

/*
 * The idx of the peer that owns `t`: as in Dynomite, the peer with the
 * smallest token >= t, wrapping around to the smallest token of all.
 * -1 when the ring is empty.
 */
int64_t vigil_ring_owner(const vigil_ring *ring, const vigil_token *t);

/* ------------------------------------------------------------------------ */
/* Events (events.c)                                                        */

typedef enum vigil_event_type {
  VIGIL_EVENT_PEER_UP = 1,
  VIGIL_EVENT_PEER_DOWN = 2,
  VIGIL_EVENT_PEER_JOINED = 3,
  VIGIL_EVENT_PEER_LEFT = 4,
  VIGIL_EVENT_PEER_RESTARTED = 5,
  VIGIL_EVENT_GOSSIP_ROUND = 6,
  VIGIL_EVENT_LAGGED = 7
} vigil_event_type;

#define VIGIL_EVENT_TYPES 8

/* Why a peer went up or down: the evidence behind a peer_up / peer_down. */
typedef enum vigil_cause {
  VIGIL_CAUSE_NONE = 0,      /* not a peer_up / peer_down */
  VIGIL_CAUSE_HEARTBEAT = 1, /* up: a heartbeat arrived and phi is under threshold */
  VIGIL_CAUSE_PHI = 2,       /* down: silence took phi past the threshold;
                              * up: phi fell under a raised threshold */
  VIGIL_CAUSE_REFUSED = 3,   /* down: overdue, and its port is closed */
  VIGIL_CAUSE_MARKED = 4,    /* down: it left, or the policy marked it */
  VIGIL_CAUSE_OBSERVERS = 5, /* down: a quorum of its observers alerted (large clusters) */
  VIGIL_CAUSE_MEMBERSHIP = 6 /* up: membership news relayed by others says it is alive
                              * (it joined, restarted or refuted an alert) */
} vigil_cause;

#define VIGIL_CAUSES 7

/* "heartbeat", "phi", "refused", "marked", "observers", "membership"; ""
 * for none or out of range. */
const char *vigil_cause_name(vigil_cause c);

/*
 * Why a peer came up, in this agent's memory of it: what a peer_up means
 * for the peer's history, where the cause is the evidence. A peer forgotten
 * (reaped) and heard again joins anew. `previous` stays "down" for a join:
 * the pool holds a peer never heard as down (docs/POLICIES.md).
 */
typedef enum vigil_up_reason {
  VIGIL_UP_NONE = 0,      /* not a peer_up */
  VIGIL_UP_JOINED = 1,    /* up for the first time since this agent added it */
  VIGIL_UP_RECOVERED = 2, /* back up after being down, at the generation it went down with */
  VIGIL_UP_RESTARTED = 3  /* back up after being down, with a new generation (peer_restarted
                           * came while it was down) */
} vigil_up_reason;

#define VIGIL_UP_REASONS 4

/* "joined", "recovered", "restarted"; "" for none or out of range. */
const char *vigil_up_reason_name(vigil_up_reason r);

/* "peer_up", "peer_down", ...; "invalid" outside the enum. */
const char *vigil_event_name(vigil_event_type t);

typedef struct vigil_event {
  uint64_t seq; /* position in the ring's history, from 1 */
  vigil_event_type type;
  vigil_time at;              /* when it happened */
  char peer[VIGIL_PNAME_MAX]; /* peer events: the pname */
  char dc[VIGIL_NAME_MAX];
  char rack[VIGIL_NAME_MAX];
  vigil_peer_state state;     /* peer events: the state after the event */
  vigil_peer_state previous;  /* peer events: the state before */
  double phi;                 /* peer_up, peer_down: the phi that decided it; else 0 */
  vigil_cause cause;          /* peer_up, peer_down: the evidence; else none */
  vigil_up_reason reason;     /* peer_up: joined, recovered or restarted; else none */
  vigil_time duration;        /* gossip_round: how long the round took */
  uint32_t peers_seen;        /* gossip_round: peers heard from in the round */
  uint64_t missed;            /* lagged: events this subscriber lost */
  char tags[VIGIL_TAGS_TEXT]; /* peer events: the peer's tag set as this agent knew it then ("" = none) */
} vigil_event;

typedef struct vigil_events vigil_events;

/* A subscriber: a cursor into the ring. Plain struct, embed it anywhere; the
 * ring keeps no list of subscribers, so there is nothing to unsubscribe. */
typedef struct vigil_subscription {
  vigil_events *events;
  uint64_t next;         /* seq of the next event to deliver */
  uint64_t lagged_total; /* events this subscriber has lost in all */
} vigil_subscription;

/* A ring holding the latest `capacity` events (0 = 256). NULL on ENOMEM. */
vigil_events *vigil_events_new(uint32_t capacity);
void vigil_events_free(vigil_events *ev);
uint32_t vigil_events_capacity(const vigil_events *ev);

/* A function that sees every event as it is published, before any later
 * one: called from within the publisher (the node's inputs), it must not
 * call back into the node. */
typedef void (*vigil_event_sink)(void *ud, const vigil_event *e);

/* Set the ring's one sink (NULL: none). Subscribers may lag and lose the
 * oldest events (told as `lagged`); the sink never does. */
void vigil_events_set_sink(vigil_events *ev, vigil_event_sink sink, void *ud);

/* Publish a copy of *e (its seq is assigned). Never blocks, never fails:
 * when the ring is full the oldest event is overwritten. Returns the seq. */
uint64_t vigil_events_publish(vigil_events *ev, const vigil_event *e);

/* Total events published so far. */
uint64_t vigil_events_published(const vigil_events *ev);

/* Start a subscription at the next event to be published. */
void vigil_events_subscribe(vigil_events *ev, vigil_subscription *sub);

/*
 * Take the next event for this subscriber into *out. Returns true when an
 * event was taken, false when the subscriber is up to date. A subscriber
 * that fell more than `capacity` events behind first gets one
 * VIGIL_EVENT_LAGGED with `missed` set, then resumes at the oldest event
 * still in the ring.
 */
bool vigil_subscription_poll(vigil_subscription *sub, vigil_event *out);

/* ------------------------------------------------------------------------ */
/* Metrics (metrics.c)                                                      */

typedef struct vigil_metrics vigil_metrics;

vigil_metrics *vigil_metrics_new(void);
void vigil_metrics_free(vigil_metrics *m);

/* ------------------------------------------------------------------------ */
/* GossipHandler (gossip.c)                                                 */

typedef struct vigil_handler vigil_handler;

typedef struct vigil_transition {
  uint32_t idx;
  vigil_peer_state state;    /* the new state */
  vigil_peer_state previous; /* the state before */
  double phi;                /* phi that decided it */
} vigil_transition;

/* A handler over `pool` (not owned), interval 1 s, pause factor 3. Its
 * threshold is the pool's detector threshold (8.0 unless configured). */
vigil_handler *vigil_handler_new(vigil_pool *pool);
void vigil_handler_free(vigil_handler *h);

/* The conviction threshold; also the detectors' availability threshold.
 * VIGIL_EINVAL unless finite and > 0. */
int vigil_handler_set_threshold(vigil_handler *h, double threshold);
double vigil_handler_threshold(const vigil_handler *h);

/* The expected evaluate() period, used by the local-pause guard.
 * VIGIL_EINVAL when 0. */
int vigil_handler_set_interval(vigil_handler *h, vigil_time interval);
vigil_time vigil_handler_interval(const vigil_handler *h);

/* How far past `interval` an evaluate() may come before it counts as a
 * local pause: gap > factor * interval (default 3; VIGIL_EINVAL when < 1). */
int vigil_handler_set_pause_factor(vigil_handler *h, double factor);

/* Attach (or detach with NULL) the metrics and events the handler updates.
 * Neither is owned. */
void vigil_handler_attach_metrics(vigil_handler *h, vigil_metrics *m);
void vigil_handler_attach_events(vigil_handler *h, vigil_events *ev);

/* Count transitions per peer for its metrics (on by default; 196 bytes a
 * peer once it has transitioned). The simulator turns it off to fit
 * thousands of agents that each know thousands in one process. */
void vigil_handler_set_peer_counters(vigil_handler *h, bool on);

/* Which per-peer metric families (vigil_peer_*: state, phi, heartbeats,
 * transitions, ...) vigil_handler_render_metrics renders. Each holds a
 * series (or one per state) per member, so a cluster of N agents scraped
 * whole holds N * N of them: AUTO (the default) renders them while the pool
 * holds at most VIGIL_PEER_METRICS_AUTO_MAX members, ON always, OFF never
 * (the gauge vigil_metrics_per_peer says which). Counting is separate
 * (vigil_handler_set_peer_counters). */
typedef enum vigil_peer_metrics {
  VIGIL_PEER_METRICS_AUTO = 0,
  VIGIL_PEER_METRICS_ON,
  VIGIL_PEER_METRICS_OFF
} vigil_peer_metrics;
#define VIGIL_PEER_METRICS_AUTO_MAX 64
void vigil_handler_set_peer_metrics(vigil_handler *h, vigil_peer_metrics mode);
vigil_peer_metrics vigil_handler_peer_metrics(const vigil_handler *h);

vigil_pool *vigil_handler_pool(const vigil_handler *h);
vigil_events *vigil_handler_events(const vigil_handler *h);
vigil_metrics *vigil_handler_metrics(const vigil_handler *h);

/*
 * Record an inbound gossip heartbeat from the peer identified by pname at
 * `now`: feed its detector and, when phi(now) <= threshold and the peer is
 * not normal, promote it to normal at once (publishing peer_up). Unknown
 * pnames and the local peer are ignored (and counted). Returns 1 when the
 * peer was promoted, 0 when only recorded, VIGIL_ENOENT or VIGIL_ELOCAL when
 * ignored.
 */
int vigil_handler_record_heartbeat_pname(vigil_handler *h, const char *pname, vigil_time now);

/* The same, for the peer in slot idx (VIGIL_ENOENT for an empty slot). */
int vigil_handler_record_heartbeat_idx(vigil_handler *h, uint32_t idx, vigil_time now);

/*
 * Judge every non-local peer at `now`: normal iff at least one heartbeat was
 * recorded and phi(now) <= threshold, else down. Applies the transitions,
 * publishes their events, updates metrics and returns them through *out
 * (valid until the next call into the handler); the count is the result.
 * Never blocks, never does I/O, does not allocate unless the pool grew.
 *
 * Local-pause guard: when this call comes more than pause_factor * interval
 * after the previous one, the process itself was paused (stopped, starved,
 * suspended), so silence measured across the gap says nothing about the
 * peers. Each peer's silence is then counted from this call's `now` instead
 * of from its last heartbeat, until the peer heartbeats again: a live peer
 * gets a full detection time to be heard, a dead one is convicted one
 * detection time after the pause ended. Peers that were already down stay
 * down.
 */
size_t vigil_handler_evaluate(vigil_handler *h, vigil_time now, const vigil_transition **out);

/* Mark a peer down without consulting its detector (it announced its
 * shutdown). Publishes peer_down with its current phi, then resets the
 * detector, so the peer stays down until it is heard from again (a later
 * heartbeat promotes it as usual). VIGIL_ENOENT, VIGIL_ELOCAL; VIGIL_OK
 * also when it was already down. */
int vigil_handler_mark_down_pname(vigil_handler *h, const char *pname, vigil_time now);

/*
 * Our datagram to the peer in slot idx was refused: its host answered that
 * nothing listens on the peer's port (ICMP port unreachable), which is what
 * a host says after the agent process on it died. Silence alone cannot tell
 * a dead process from a stalled one; this can. The refusal is remembered
 * until the peer's next heartbeat. While the detector config's `refused` is
 * on, a normal peer with a refusal newer than its last heartbeat is
 * convicted (cause refused) as soon as it is also overdue: silent for longer
 * than its mean interval plus one standard deviation (floored at
 * min_std_dev), counted like phi's silence (guard included). Overdue is what
 * keeps a stray or forged ICMP from convicting a peer that heartbeats on
 * time, and a refusal that raced a restart from convicting the new process.
 * Returns 1 when the peer went down now, 0 when the refusal was only
 * recorded, VIGIL_ENOENT or VIGIL_ELOCAL.
 */
int vigil_handler_refused(vigil_handler *h, uint32_t idx, vigil_time now);
int vigil_handler_refused_pname(vigil_handler *h, const char *pname, vigil_time now);

/*
 * The earliest time after which evaluate() could convict some peer that is
 * normal now, if nothing is heard from it before: the minimum over normal
 * peers of their phi deadline and, for refused peers, of the moment they
 * become overdue. UINT64_MAX when no normal peer can be convicted. The agent
 * runs evaluate at this time so that a conviction is not late by a tick;
 * heartbeats only move a deadline later, so waking at a stale answer costs
 * an evaluate that changes nothing. O(peers).
 */
vigil_time vigil_handler_next_due(const vigil_handler *h, vigil_time now);

/*
 * Large clusters (docs/DETECTOR.md, "Observers"): the protocol decides,
 * the handler still applies every transition and keeps the detectors.
 *
 * feed: a direct heartbeat from the peer in slot idx: feed its detector
 *   and clear its refusal, without deciding anything. VIGIL_ENOENT,
 *   VIGIL_ELOCAL.
 * begin_pass: start judging a set of peers at `now`; returns true when the
 *   local-pause guard applies to this pass (see vigil_handler_evaluate),
 *   and counts the evaluation in the metrics.
 * judge: would the peer in slot idx be convicted at `now` -- phi past its
 *   threshold, or refused and overdue, silence counted as in evaluate (with
 *   `paused` from begin_pass)? Changes nothing but the guard. 1 with *cause
 *   set (phi or refused), 0, or VIGIL_ENOENT / VIGIL_ELOCAL.
 * watch: start counting the peer's silence from `now` (it just became one
 *   this agent judges); a peer never heard gets its first-estimate interval.
 * note_refused: remember a refusal without judging (judge decides).
 * set_state: apply a transition decided by the protocol (normal or down),
 *   with its cause; publishes the event. 1 when the state changed, 0 when
 *   it already was, VIGIL_ENOENT, VIGIL_ELOCAL, VIGIL_EINVAL.
 * due_of: the earliest time judge could condemn the peer (UINT64_MAX =
 *   never), as vigil_handler_next_due for one peer.
 */
int vigil_handler_feed(vigil_handler *h, uint32_t idx, vigil_time now);
bool vigil_handler_begin_pass(vigil_handler *h, vigil_time now);
int vigil_handler_judge(vigil_handler *h, uint32_t idx, vigil_time now, bool paused, vigil_cause *cause);
int vigil_handler_watch(vigil_handler *h, uint32_t idx, vigil_time now);
int vigil_handler_note_refused(vigil_handler *h, uint32_t idx, vigil_time now);
int vigil_handler_set_state(vigil_handler *h, uint32_t idx, vigil_peer_state to, vigil_cause cause, vigil_time now);
vigil_time vigil_handler_due_of(const vigil_handler *h, uint32_t idx, vigil_time now);

/* Forget the detector history of the peer in slot idx. VIGIL_ENOENT. */
int vigil_handler_reset_detector(vigil_handler *h, uint32_t idx);

/* The phi the handler would judge the peer by at `now` (guard included);
 * 0 for the local peer. VIGIL_ENOENT gives NaN. */
double vigil_handler_phi(const vigil_handler *h, uint32_t idx, vigil_time now);

/*
 * Membership changes that the wire layer reports:
 * add_peer: vigil_pool_add, then peer_joined (a remote peer starts down and
 *   is promoted by its first heartbeat; the local peer starts joining).
 * peer_left: the peer announced it is leaving: mark_down, then peer_left.
 *   It stays in the pool (down) until remove_peer.
 * peer_restarted: the peer came back with a new generation: its detector is
 *   reset and peer_restarted published; record its heartbeat next.
 * remove_peer: forget the peer (reaping); publishes nothing.
 * Each returns what vigil_pool_add / mark_down return (VIGIL_ENOENT, ...).
 */
int vigil_handler_add_peer(vigil_handler *h, const vigil_peer_spec *spec, vigil_time now, uint32_t *idx);
int vigil_handler_peer_left(vigil_handler *h, const char *pname, vigil_time now);
int vigil_handler_peer_restarted(vigil_handler *h, uint32_t idx, vigil_time now);
int vigil_handler_remove_peer(vigil_handler *h, const char *pname);

/* Set the local peer's own state (joining while starting, normal once
 * gossiping, leaving while shutting down). Counted like any transition;
 * publishes no event (events are about other peers). VIGIL_ENOENT when the
 * pool has no local peer, VIGIL_EINVAL for a state out of range. */
int vigil_handler_set_local_state(vigil_handler *h, vigil_peer_state s, vigil_time now);

/* Report a finished gossip round: publishes gossip_round, updates metrics. */
void vigil_handler_gossip_round(vigil_handler *h, vigil_time duration, uint32_t peers_seen, vigil_time now);

/*
 * Render every metric of the handler, its pool and its attached metrics in
 * the Prometheus text exposition format (version 0.0.4) as of `now`.
 * Returns a malloc'd NUL-terminated string (free() it) and its length in
 * *len, or NULL on ENOMEM. Without attached metrics only the per-peer
 * families are rendered.
 */
char *vigil_handler_render_metrics(const vigil_handler *h, vigil_time now, size_t *len);

/* ------------------------------------------------------------------------ */
/* Frames (frame.c, auth.c) -- the wire format; docs/PROTOCOL.md            */

#define VIGIL_PROTOCOL_VERSION 2
#define VIGIL_FRAME_MAX        1400 /* bytes in a datagram, at most */
#define VIGIL_FRAME_TOKENS_MAX 64   /* tokens a heartbeat may carry */
#define VIGIL_DIGEST_MAX       32   /* digest entries a frame may carry */
#define VIGIL_ALERTS_MAX       16   /* alerts a frame may carry */
#define VIGIL_FLAG_WANT        1u   /* flags: "send me your heartbeats" (I observe you) */
#define VIGIL_FRAME_DEPTH_MAX  8    /* nesting of unknown values skipped */
#define VIGIL_KEY_BYTES        32   /* a keyring key */
#define VIGIL_KEYRING_MAX      8    /* keys in a keyring */
#define VIGIL_NONCE_BYTES      24   /* a sealed frame's nonce (XChaCha20-Poly1305) */
#define VIGIL_MAC_BYTES        16   /* a sealed frame's authentication tag (Poly1305) */
#define VIGIL_KEY_FINGERPRINT  9    /* a key's fingerprint: 8 hex digits and a NUL */
/* What sealing adds to a body: the key hint, the nonce and the tag. */
#define VIGIL_SEAL_OVERHEAD (1 + VIGIL_NONCE_BYTES + VIGIL_MAC_BYTES)

typedef enum vigil_frame_type {
  VIGIL_FRAME_HEARTBEAT = 1, /* "I am alive": sender's state and a digest */
  VIGIL_FRAME_DIGEST = 2,    /* rumours between rounds (alerts, membership news); no heartbeat */
  VIGIL_FRAME_SHUTDOWN = 3   /* "I am leaving now" */
} vigil_frame_type;

/* Why a datagram was rejected: negative codes, named by vigil_frame_reason()
 * (the label of vigil_frames_rejected_total{reason}). */
#define VIGIL_FRAME_ETOOBIG    (-2001) /* "too_big": longer than VIGIL_FRAME_MAX */
#define VIGIL_FRAME_ETRUNCATED (-2002) /* "truncated": ends inside a value */
#define VIGIL_FRAME_EMALFORMED (-2003) /* "malformed": wrong msgpack type or shape */
#define VIGIL_FRAME_EVERSION   (-2004) /* "version": unsupported envelope version */
#define VIGIL_FRAME_EDEPTH     (-2005) /* "depth": values nested too deep */
#define VIGIL_FRAME_ECOUNT     (-2006) /* "count": too many tokens, digest entries or alerts */
#define VIGIL_FRAME_ELENGTH    (-2007) /* "length": a string longer than its field allows */
#define VIGIL_FRAME_EMISSING   (-2008) /* "missing": a required field is absent */
#define VIGIL_FRAME_EVALUE     (-2009) /* "value": bad pname, state, token or text */
#define VIGIL_FRAME_EDUPLICATE (-2010) /* "duplicate": a field given twice */
#define VIGIL_FRAME_ETRAILING  (-2011) /* "trailing": bytes after the frame */
#define VIGIL_FRAME_EUNSIGNED  (-2012) /* "unauthenticated": a plaintext frame, keyring set */
#define VIGIL_FRAME_EAUTH      (-2013) /* "auth": sealed, and no key of the keyring opens it */
/* Rejected by membership (vigil_members_receive), not by the codec: */
#define VIGIL_FRAME_ESOURCE     (-2014) /* "source": `from` is not the datagram's source address */
#define VIGIL_FRAME_ESKEW       (-2015) /* "skew": sent too far from our clock (or signed without a send time) */
#define VIGIL_FRAME_EGENERATION (-2016) /* "generation": the sender's generation is ahead of our clock */
/* By the codec again: */
#define VIGIL_FRAME_EENCRYPTED (-2017) /* "encrypted": sealed, and we have no keyring */

#define VIGIL_FRAME_REASONS 17

/* "too_big", "truncated", ... for the codes above; "unknown" otherwise. */
const char *vigil_frame_reason(int rc);

/* The index 0 .. VIGIL_FRAME_REASONS-1 of a rejection code, or -1. */
int vigil_frame_reason_index(int rc);

typedef struct vigil_digest_entry {
  char pname[VIGIL_PNAME_MAX]; /* the member the entry is about */
  uint64_t generation;         /* its generation (changes on restart) */
  uint64_t incarnation;        /* its incarnation (grows when it refutes an alert) */
  char dc[VIGIL_NAME_MAX];     /* "" when not given */
  char rack[VIGIL_NAME_MAX];   /* "" when not given */
  uint64_t version;            /* its latest heartbeat version known; 0 = not given
                                * (small clusters relay it, large ones do not) */
  char tags[VIGIL_TAGS_TEXT];  /* its tag set as the sender knows it, canonical ("" = none or not given) */
} vigil_digest_entry;

/* "observer says subject, as of (generation, incarnation), is down". */
typedef struct vigil_alert_entry {
  char subject[VIGIL_PNAME_MAX];
  uint64_t generation;
  uint64_t incarnation;
  char observer[VIGIL_PNAME_MAX];
} vigil_alert_entry;

typedef struct vigil_frame {
  uint32_t type;              /* vigil_frame_type, or an unknown type to skip */
  char from[VIGIL_PNAME_MAX]; /* the sender's pname */
  uint64_t generation;        /* the sender's generation */
  uint64_t version;           /* the sender's heartbeat version */
  char dc[VIGIL_NAME_MAX];    /* the sender's dc ("" when not given) */
  char rack[VIGIL_NAME_MAX];  /* the sender's rack ("" when not given) */
  bool has_state;             /* state was given */
  uint8_t state;              /* the sender's own view of its state */
  uint64_t incarnation;       /* the sender's incarnation (0 when not given) */
  uint32_t flags;             /* VIGIL_FLAG_* (0 when not given) */
  uint32_t members;           /* members the sender knows, itself included (0 = not given) */
  uint64_t view;              /* checksum of the sender's member list (0 = not given) */
  uint64_t sent;              /* the sender's wall clock when it sent the frame, in ms since
                               * the epoch (0 = not given; every frame of ours has it) */
  char tags[VIGIL_TAGS_TEXT]; /* the sender's tag set, canonical text ("" = none) */
  uint32_t ntokens;
  vigil_token tokens[VIGIL_FRAME_TOKENS_MAX];
  uint32_t ndigest;
  vigil_digest_entry digest[VIGIL_DIGEST_MAX];
  uint32_t nalerts;
  vigil_alert_entry alerts[VIGIL_ALERTS_MAX];
  bool authenticated; /* decode: it was sealed, and a key of our keyring opened it */
} vigil_frame;

/*
 * A set of 32-byte keys (auth.c): the first, the primary, seals every frame
 * sent; every one is tried on the frames received. Change it only with the
 * functions below, which keep each key's hint (the first byte of its
 * fingerprint, sent with every sealed frame so the receiver tries the
 * right key first) beside it. A zeroed struct is an empty keyring.
 */
typedef struct vigil_keyring {
  uint32_t nkeys;
  uint8_t keys[VIGIL_KEYRING_MAX][VIGIL_KEY_BYTES];
  uint8_t hints[VIGIL_KEYRING_MAX]; /* hints[i]: the hint of keys[i] */
} vigil_keyring;

/* Decode one key given in base64 (standard alphabet, padded; surrounding
 * spaces and a newline allowed): VIGIL_OK, or VIGIL_EINVAL when it is not
 * exactly 32 bytes of base64. */
int vigil_key_from_base64(const char *b64, uint8_t key[VIGIL_KEY_BYTES]);

/* Add one key given in base64 (same rules as a line of the file) at the
 * end: VIGIL_OK, VIGIL_EINVAL, or VIGIL_ERANGE when the keyring is full. */
int vigil_keyring_add_base64(vigil_keyring *kr, const char *b64);

/* A key's fingerprint, what operators see in place of the key: the first
 * 4 bytes of its BLAKE2b-256 hash as 8 lower-case hex digits
 * (`base64 -d <<< KEY | b2sum -l 256 | cut -c1-8`). */
void vigil_key_fingerprint(const uint8_t key[VIGIL_KEY_BYTES], char out[VIGIL_KEY_FINGERPRINT]);

/* The index of key in the keyring, or -1. */
int vigil_keyring_find(const vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]);

/* Runtime rotation (`vigil keys`). install: add a key after the others
 * (it opens frames, seals none) -- VIGIL_EEXIST when it is there already,
 * VIGIL_ERANGE when the keyring holds VIGIL_KEYRING_MAX. use: make an
 * installed key the primary, the others keeping their order --
 * VIGIL_ENOENT when it is not installed. remove: drop a key that is not
 * the primary -- VIGIL_ENOENT when it is not installed, VIGIL_EINVAL when
 * it is the primary. A failed call changes nothing. */
int vigil_keyring_install(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]);
int vigil_keyring_use(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]);
int vigil_keyring_remove(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]);

/* Whether two keyrings hold the same keys in the same order. */
bool vigil_keyring_equal(const vigil_keyring *a, const vigil_keyring *b);

/*
 * Encode a frame into buf (cap bytes; VIGIL_FRAME_MAX is always enough for
 * what fits in a datagram). With a keyring (not NULL, nkeys > 0) the body
 * is sealed -- encrypted and authenticated, XChaCha20-Poly1305 -- with the
 * primary key under a fresh random nonce (docs/PROTOCOL.md, "Encryption"),
 * which costs VIGIL_SEAL_OVERHEAD + 2 bytes of the datagram. Returns the
 * length, or VIGIL_FRAME_ETOOBIG when it does not fit, VIGIL_EINVAL for a
 * frame that breaks the limits.
 */
int vigil_frame_encode(const vigil_frame *f, const vigil_keyring *kr, uint8_t *buf, size_t cap);

/*
 * Decode one datagram into *f. Every length, count and nesting depth is
 * bounded; nothing is allocated. Unknown fields are skipped; an unknown
 * type decodes (f->type tells) so the caller can skip it. With a keyring
 * only sealed frames are accepted (a plaintext one is
 * VIGIL_FRAME_EUNSIGNED), and one no key opens is VIGIL_FRAME_EAUTH --
 * every key is tried, at most VIGIL_KEYRING_MAX, the one the frame's hint
 * names first; without one, a sealed frame is VIGIL_FRAME_EENCRYPTED.
 * Returns VIGIL_OK or one of the VIGIL_FRAME_E* codes; *f is only
 * meaningful on VIGIL_OK.
 */
int vigil_frame_decode(const uint8_t *buf, size_t len, const vigil_keyring *kr, vigil_frame *f);

/* ------------------------------------------------------------------------ */
/* Membership (member.c): what frames mean, and which to send               */

/*
 * The gossip protocol above the handler, still without sockets or clocks:
 * it turns received datagrams into heartbeats, joins, restarts and leaves,
 * and builds the frames to send each interval. The agent runtime feeds it
 * datagrams and `now`, and gives it a function that sends bytes to a pname.
 * docs/PROTOCOL.md ("Membership") states the rules.
 */
typedef struct vigil_members vigil_members;

typedef struct vigil_members_config {
  const char *self;          /* this agent's pname (an IP literal and port) */
  const char *dc;            /* NULL = the pool's dc */
  const char *rack;          /* NULL = "default" */
  const vigil_token *tokens; /* this agent's tokens */
  uint32_t ntokens;
  const char *tags;             /* this agent's tag set, "k=v,k2=v2" (vigil_tags_parse); NULL = none */
  uint64_t generation;          /* grows on every start (the runtime uses the wall clock) */
  vigil_time interval;          /* gossip interval (for lingering and flush pacing); 0 = 200 ms */
  vigil_time reap_after;        /* forget peers down this long; 0 = never */
  const vigil_keyring *keyring; /* sign and verify with it; NULL = unauthenticated */
  uint64_t seed;                /* random seed (kept for drivers; the protocol is deterministic) */
  uint32_t observers;           /* K, observers per agent; 0 = VIGIL_OBSERVERS (8) */
  uint32_t quorum;              /* H, alerts that convict; 0 = VIGIL_QUORUM (5); at most K */
  /* Bounds against strangers (docs/SECURITY.md): */
  uint32_t max_peers;  /* peers the pool may hold, itself included (VIGIL_MAX_PEERS); 0 = no bound */
  vigil_time max_skew; /* frames sent further than this from our clock are rejected, and
                        * generations ahead of it (10 s); 0 = no clock checks */
  uint32_t join_rate;  /* new peers one source may introduce per second (128); 0 = no bound */
  uint32_t join_burst; /* ... and at once (512) */
} vigil_members_config;

#define VIGIL_MAX_PEERS  16384 /* default bound on the pool: ~13 MiB of peer state (docs/SECURITY.md) */
#define VIGIL_MAX_SKEW   (10 * VIGIL_SEC)
#define VIGIL_JOIN_RATE  128
#define VIGIL_JOIN_BURST 512

#define VIGIL_OBSERVERS  8 /* observers watching each agent, by default */
#define VIGIL_QUORUM     5 /* of them, alerts that convict */
#define VIGIL_QUORUM_LOW 2 /* fewest alerts that convict, however many observers are down */

void vigil_members_config_init(vigil_members_config *cfg);

/* Send `len` bytes to the agent named `pname`; returns 0 or a negative
 * error (counted, never retried: the next interval sends fresh news). */
typedef int (*vigil_send_fn)(void *ud, const char *pname, const uint8_t *buf, size_t len);

/*
 * Membership over handler h (whose pool gets this agent as its local peer).
 * NULL with *why set on a bad config or a pool that already has a local
 * peer.
 */
vigil_members *vigil_members_new(vigil_handler *h, const vigil_members_config *cfg, vigil_time now, const char **why);
void vigil_members_free(vigil_members *m);

/* A seed: an address to send to until a peer of that pname is known.
 * VIGIL_ERANGE past VIGIL_SEEDS_MAX seeds (vigil join adds them at run
 * time: the list is bounded), VIGIL_EINVAL when pname is not a pname. */
int vigil_members_add_seed(vigil_members *m, const char *pname, const vigil_peer_spec *placement);

#define VIGIL_SEEDS_MAX 1024 /* seeds one agent keeps: --seeds and vigil join together */

/* vigil join: add pname as a seed and, when no peer of that name is known
 * yet, send it our heartbeat now (asking for its), without waiting for the
 * next round. Returns the frames handed to send (0 or 1) or a negative
 * error of vigil_members_add_seed. */
int vigil_members_contact(vigil_members *m, const char *pname, vigil_time now, vigil_send_fn send, void *ud);

/* Forget the peer `pname` now, as reaping would after reap_after: it
 * leaves the pool, the rings and every rumour, and gets the tombstone a
 * reaped peer gets (relayed news of it no newer than what we knew is
 * ignored for twice reap_after, or 120 s when reaping is off), so that
 * agents that still list it cannot bring it back; a frame from the peer
 * itself can, since it is alive. Counted as reaped. VIGIL_ENOENT for a
 * pname not in the pool, VIGIL_ELOCAL for this agent. */
int vigil_members_forget(vigil_members *m, const char *pname, vigil_time now);

/*
 * Take one received datagram. Returns VIGIL_OK when it was accepted (even
 * if it brought no news), or the VIGIL_FRAME_E* reason it was rejected for;
 * either way it is counted. A rejected datagram never changes a peer.
 */
int vigil_members_receive(vigil_members *m, const uint8_t *buf, size_t len, const char *src, vigil_time now);

/*
 * One gossip interval: bump this agent's heartbeat version, forget peers
 * down for reap_after, and send a heartbeat (own fields, rumours, digest
 * entries) to every peer in a small cluster, or to this agent's observers,
 * its subjects (flag want) and whoever asked for it in a large one, and to
 * every seed not yet known. Returns the number of frames handed to `send`.
 */
size_t vigil_members_tick(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud);

/* Announce this agent's departure: a shutdown frame to every peer and seed.
 * Returns the number of frames handed to `send`. */
size_t vigil_members_shutdown(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud);

/*
 * Judge what is due at `now`: in a small cluster (every agent observes
 * every other) vigil_handler_evaluate; in a large one, this agent's
 * subjects by phi (raising alerts), then the quorum of every suspect.
 */
void vigil_members_evaluate(vigil_members *m, vigil_time now);

/* When something must be judged or flushed next (UINT64_MAX = nothing). */
vigil_time vigil_members_next_due(const vigil_members *m, vigil_time now);
/* When urgent news waits to be flushed (UINT64_MAX = none). */
vigil_time vigil_members_flush_due(const vigil_members *m);

/* Send what urgent news (alerts, refutations) waits, when it is due:
 * returns frames handed to send. */
size_t vigil_members_flush(vigil_members *m, vigil_time now, vigil_send_fn send, void *ud);

/* Our datagram to `pname` was refused. As vigil_handler_refused_pname in
 * a small cluster; in a large one the refusal is evidence for this
 * agent's own verdict on a subject (an alert), never a conviction alone. */
int vigil_members_refused(vigil_members *m, const char *pname, vigil_time now);

/* Change the gossip interval (lingering and flush pacing follow it). */
void vigil_members_set_interval(vigil_members *m, vigil_time interval);

/* Observers per agent (K) and whether every agent observes every other
 * (the cluster is no bigger than K + 1). */
uint32_t vigil_members_observers(const vigil_members *m);
bool vigil_members_small(const vigil_members *m);

/* The observers of the member `pname` as this agent computes them (every
 * other member in a small cluster): up to cap pool slots into idx; returns
 * how many, 0 for an unknown pname. The subjects this agent judges itself
 * likewise (the members it observes). */
uint32_t vigil_members_observers_of(vigil_members *m, const char *pname, uint32_t *idx, uint32_t cap);
uint32_t vigil_members_subjects(vigil_members *m, uint32_t *idx, uint32_t cap);

/* Peers whose news arrived during the latest interval (gossip_round). */
uint32_t vigil_members_fresh(const vigil_members *m);

/* This agent's generation, incarnation and current heartbeat version. */
uint64_t vigil_members_generation(const vigil_members *m);
uint64_t vigil_members_incarnation(const vigil_members *m);
/* The checksum of this agent's member list (docs/PROTOCOL.md, "view"):
 * agents that know the same members at the same incarnations agree. */
uint64_t vigil_members_view(const vigil_members *m);
uint64_t vigil_members_version(const vigil_members *m);

/* What this agent knows of the peer in slot idx: generation and version
 * heard, time of the latest news (0 = none). false for an empty slot. */
bool vigil_members_info(const vigil_members *m, uint32_t idx, uint64_t *generation, uint64_t *version,
                        vigil_time *heard);

/* Append the membership metrics (vigil_frames_*, vigil_members_*, ...) in
 * Prometheus text to a malloc'd string from vigil_handler_render_metrics; returns the new
 * string (the old one is freed) or NULL on ENOMEM. */
char *vigil_members_render_metrics(const vigil_members *m, char *text, size_t *len);

/* ------------------------------------------------------------------------ */
/* Node (node.c): one agent's whole membership logic, without a transport   */

/*
 * A node is everything one agent decides: its pool, handler, events,
 * metrics and membership (the digest and dissemination policy, joins,
 * restarts, leaves, reaping) and the refusal rule. It is driven by three
 * inputs, each with `now`: a datagram arrived (vigil_node_receive), a
 * refusal arrived (vigil_node_refused), a timer fired (vigil_node_timer).
 * It produces frames, through the send function given at creation, and
 * events, in its ring. No sockets, no clock, no threads: the agent runtime
 * drives it from libuv and real time, the simulator from a virtual clock
 * and an in-memory network, and both run the same decisions.
 */
typedef struct vigil_node vigil_node;

typedef struct vigil_node_config {
  const char *self;          /* this agent's pname (an IP literal and port) */
  const char *dc;            /* NULL = "default" */
  const char *rack;          /* NULL = "default" */
  const vigil_token *tokens; /* this agent's tokens (at most VIGIL_FRAME_TOKENS_MAX) */
  uint32_t ntokens;
  const char *tags;         /* this agent's tag set, "k=v,k2=v2" in any order (vigil_tags_parse):
                             * sent in every frame it sends; NULL or "" = none */
  const char *const *seeds; /* pnames to contact until a peer of that name is known */
  uint32_t nseeds;
  uint64_t generation;            /* grows on every start (the runtime uses the wall clock) */
  uint64_t seed;                  /* random seed (reserved) */
  vigil_time interval;            /* gossip interval (200 ms) */
  vigil_time tick;                /* evaluate period (100 ms); 0 = interval / 2 */
  vigil_time reap_after;          /* forget peers down this long (60 s); 0 = never */
  uint32_t observers;             /* K observers per agent; 0 = VIGIL_OBSERVERS (tests, simulations) */
  uint32_t quorum;                /* H alerts that convict; 0 = VIGIL_QUORUM */
  uint32_t max_peers;             /* VIGIL_MAX_PEERS; 0 = no bound */
  vigil_time max_skew;            /* VIGIL_MAX_SKEW; 0 = no clock checks */
  uint32_t join_rate, join_burst; /* VIGIL_JOIN_RATE, VIGIL_JOIN_BURST; 0 = no bound */
  const vigil_keyring *keyring;   /* sign and verify; NULL = unauthenticated */
  vigil_detector_config detector; /* first_estimate 0 = the gossip interval */
  uint32_t events;                /* capacity of the event ring for subscribers (1024) */
  vigil_event_sink on_event;      /* optional: sees every event as it is published, however many
                                   * one input publishes (the agent's log and policy bridge) */
  void *on_event_ud;
  bool no_peer_counters;           /* skip per-peer transition counters (see vigil_handler_set_peer_counters) */
  vigil_peer_metrics peer_metrics; /* per-peer metric families (vigil_handler_set_peer_metrics): AUTO;
                                    * OFF also skips the per-peer transition counters */
  /* Optional: a driver's clock, read only to time the node's own gossip
   * rounds for the gossip_round event and its metrics (never for a
   * decision). NULL: rounds report a duration of 0. */
  vigil_time (*stopwatch)(void *ud);
  void *stopwatch_ud;
} vigil_node_config;

/* Fill a config with the agent's defaults (above); self must still be set. */
void vigil_node_config_init(vigil_node_config *cfg);

/*
 * A node named cfg->self, started at `now`: its first gossip round is due
 * at once. Frames go out through send(ud, pname, bytes, len) (see
 * vigil_send_fn), called only from within the node's functions. NULL with
 * *why set (when why is not NULL) on a bad config or when memory runs out.
 */
vigil_node *vigil_node_new(const vigil_node_config *cfg, vigil_send_fn send, void *ud, vigil_time now,
                           const char **why);
void vigil_node_free(vigil_node *n);

/*
 * A datagram arrived from `from`, the source address as a pname (canonical:
 * "a.b.c.d:port" or "[v6]:port"). A frame counts only when its sender is
 * that address (VIGIL_FRAME_ESOURCE otherwise): nobody speaks for another
 * agent. NULL skips that check, for drivers without IP addresses. Returns
 * VIGIL_OK when it was accepted or the VIGIL_FRAME_E* reason it was
 * rejected for; either way it is counted and a rejected one changes nothing.
 */
int vigil_node_receive(vigil_node *n, const uint8_t *buf, size_t len, const char *from, vigil_time now);

/*
 * The host at `addr` (a pname) refused a datagram we sent it: nothing
 * listens on that port (ICMP port unreachable). A known peer's refusal is
 * evidence (vigil_handler_refused) and moves the next timer earlier when it
 * makes a conviction due; one from an address no peer has is counted.
 * Returns what vigil_handler_refused returns.
 */
int vigil_node_refused(vigil_node *n, const char *addr, vigil_time now);

/*
 * A timer fired: run whatever is due at `now` -- a gossip round (bump the
 * heartbeat version, send heartbeats with digests, reap) and an evaluation
 * of every peer (on the tick, and when a conviction falls due between
 * ticks). Calling it early does nothing that is not due; calling it late
 * (the process stalled) runs each due thing once, and the handler's
 * local-pause guard sees the gap.
 */
void vigil_node_timer(vigil_node *n, vigil_time now);

/* When vigil_node_timer should next be called. Receiving and refusals can
 * move it earlier; ask again after each of them. */
vigil_time vigil_node_next_timer(const vigil_node *n);

/* Leave gracefully: a shutdown frame to every peer and seed. Returns the
 * number of frames handed to send. The node should not be driven after. */
size_t vigil_node_leave(vigil_node *n, vigil_time now);

/* `vigil join`: contact pname (an IP literal and port) now as a seed --
 * our heartbeat goes to it at once, and every round until a peer of that
 * name is known (vigil_members_contact). VIGIL_OK, VIGIL_EINVAL (not a
 * pname) or VIGIL_ERANGE (VIGIL_SEEDS_MAX seeds already). */
int vigil_node_join(vigil_node *n, const char *pname, vigil_time now);

/* `vigil force-leave`: mark the peer down now (cause marked: peer_down
 * is published unless it was down already) and forget it at once, with
 * its tombstone (vigil_members_forget). Whether a peer may be forced out
 * is the caller's decision (the agent refuses a peer heard lately unless
 * told to: docs/AGENT.md). VIGIL_OK, VIGIL_ENOENT, VIGIL_ELOCAL. */
int vigil_node_forget(vigil_node *n, const char *pname, vigil_time now);

typedef struct vigil_snapshot_peer {
  char pname[VIGIL_PNAME_MAX];
  char dc[VIGIL_NAME_MAX];
  char rack[VIGIL_NAME_MAX];
  vigil_peer_state state;
  bool is_local;
  double phi;                  /* as judged at `at` */
  double threshold;            /* the threshold this peer is judged by */
  vigil_time since;            /* when its state last changed */
  uint64_t generation;         /* its generation as last heard (0 = never) */
  vigil_time acceptable_pause; /* the acceptable pause it is judged with */
  vigil_cause cause;           /* the evidence of its latest peer_up / peer_down (none before) */
  vigil_up_reason reason;      /* why it last came up, while it is up; else none */
  const char *tags;            /* its tag set, canonical text ("" = none); points into the
                                * snapshot's own allocation, valid as long as it is */
} vigil_snapshot_peer;

typedef struct vigil_snapshot {
  uint32_t refs_; /* private to bridge.c: references held */
  vigil_time at;  /* when the core took it */
  char self[VIGIL_PNAME_MAX];
  double threshold;    /* the base threshold */
  vigil_time interval; /* gossip interval */
  uint32_t observers;  /* K: observers per agent */
  uint32_t npeers;
  vigil_snapshot_peer peers[]; /* npeers entries, the local peer included */
} vigil_snapshot;

#define VIGIL_CMD_THRESHOLDS_MAX 64
/* An override's key with its NUL: a dc name (< 48 bytes) or a pname, whose
 * canonical form is at most 47 bytes ("[ffff:...:ffff]:65535"). */
#define VIGIL_CMD_KEY_MAX 48

typedef enum vigil_command_type { VIGIL_CMD_CONFIGURE = 1, VIGIL_CMD_MARK_DOWN = 2 } vigil_command_type;

typedef struct vigil_command {
  vigil_command_type type;
  char pname[VIGIL_PNAME_MAX]; /* mark_down: the peer */
  /* configure: each setting applies only when its has_ flag is set; the
   * core merges them into its current settings and checks the result. */
  bool has_threshold, has_model, has_min_std_dev, has_acceptable_pause, has_interval, has_thresholds;
  bool has_acceptable_pauses;
  bool has_refused, refused;
  double threshold;
  vigil_model model;
  vigil_time min_std_dev;
  vigil_time acceptable_pause;
  vigil_time interval;
  uint32_t nthresholds;
  struct {
    char key[VIGIL_CMD_KEY_MAX];
    double threshold;
  } thresholds[VIGIL_CMD_THRESHOLDS_MAX];
  uint32_t nacceptable_pauses; /* at most VIGIL_CMD_THRESHOLDS_MAX */
  struct {
    char key[VIGIL_CMD_KEY_MAX];
    vigil_time acceptable_pause;
  } acceptable_pauses[VIGIL_CMD_THRESHOLDS_MAX];
} vigil_command;
/*
 * Apply what a policy asked for: VIGIL_CMD_CONFIGURE merges the settings
 * that are present into the current ones and applies them all or none;
 * VIGIL_CMD_MARK_DOWN marks a peer down. A changed interval moves the
 * gossip round and the tick (interval / 2). Returns VIGIL_OK, or an error
 * with `note` (cap bytes, may be NULL) saying why; on VIGIL_OK `note` says
 * what is now in force, as logfmt fields.
 */
int vigil_node_apply(vigil_node *n, const vigil_command *c, vigil_time now, char *note, size_t cap);

/* Every peer as of `now`, for a policy to read: a malloc'd snapshot
 * (free() it, or hand it to the bridge), NULL on ENOMEM. */
vigil_snapshot *vigil_node_snapshot(const vigil_node *n, vigil_time now);

/* Every metric of the node (handler, pool, membership) in Prometheus text,
 * as vigil_handler_render_metrics. */
char *vigil_node_render_metrics(const vigil_node *n, vigil_time now, size_t *len);

/* The node's parts, for reading (drivers must not change peers directly). */
vigil_pool *vigil_node_pool(const vigil_node *n);
vigil_handler *vigil_node_handler(const vigil_node *n);
vigil_members *vigil_node_members(const vigil_node *n);
vigil_events *vigil_node_events(const vigil_node *n);
const char *vigil_node_self(const vigil_node *n);
vigil_time vigil_node_interval(const vigil_node *n);
uint32_t vigil_node_observers(const vigil_node *n);

/* Refusals from addresses that no peer has (counted, never evidence). */
uint64_t vigil_node_refused_unknown(const vigil_node *n);
/* Refusals from known peers' addresses (evidence; see vigil_node_refused). */
uint64_t vigil_node_refused_known(const vigil_node *n);

#ifdef __cplusplus
}
#endif

#endif /* VIGIL_H */
