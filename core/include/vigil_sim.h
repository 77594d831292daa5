/*
 * vigil_sim.h - the cluster simulator: N nodes (vigil.h, vigil_node) on an
 * in-memory network in virtual time.
 *
 * Every simulated agent is a real vigil_node, the same code the agent
 * runtime drives; only the transport and the clock are simulated. The
 * network loses, delays and reorders datagrams per link, partitions
 * (symmetric or one way), and answers for dead processes as a host does
 * ("port unreachable", delivered back to the sender as a refusal). Agents
 * can be killed (the host refuses), stopped (silence: SIGSTOP, a dead
 * host), stalled for a while (then resume, reading what queued up),
 * restarted (a new generation), made to leave gracefully, and added over
 * time.
 *
 * The simulator keeps the ground truth -- which agents are alive -- and
 * scores the nodes against it as it runs: false alarms (a peer_down about
 * an agent whose process is alive), detection times of kills and stops
 * per surviving observer, frames and bytes sent, time to convergence.
 *
 * Like the library it drives, it reads no clock: `now` is virtual, and the
 * optional stopwatch (a driver's clock) is read only to report how much
 * time the node code took, never to decide anything. The same seed gives
 * the same run.
 */
#ifndef VIGIL_SIM_H
#define VIGIL_SIM_H

#include "vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vigil_sim vigil_sim;

/* One agent's identity; pname NULL = the simulator names it. */
typedef struct vigil_sim_agent {
  const char *pname; /* "host:port"; a loopback address by default */
  const char *dc;    /* NULL = "default" */
  const char *rack;  /* NULL = "default" */
  const char *tags;  /* its tag set, "k=v,k2=v2" (vigil_tags_parse); NULL = none */
} vigil_sim_agent;

typedef struct vigil_sim_config {
  uint32_t agents;                /* agents started at time 0 (within start_spread) */
  const vigil_sim_agent *names;   /* NULL, or `agents` entries */
  uint32_t seeds;                 /* the first `seeds` agents are everyone's seeds (1) */
  uint64_t seed;                  /* random seed of the whole run (1) */
  vigil_time interval;            /* gossip interval (200 ms) */
  vigil_time tick;                /* evaluate period; 0 = interval / 2 */
  uint32_t observers;             /* K observers per agent; 0 = VIGIL_OBSERVERS */
  uint32_t quorum;                /* H alerts that convict; 0 = VIGIL_QUORUM */
  vigil_time reap_after;          /* 60 s */
  vigil_detector_config detector; /* the agents' detector (the agent's defaults) */
  double loss;                    /* fraction of datagrams lost on every link (0) */
  vigil_time delay;               /* one-way latency (200 us) */
  vigil_time jitter;              /* standard deviation added to the latency (50 us) */
  vigil_time start_spread;        /* agents start uniformly within it; 0 = one interval */
  uint32_t events;                /* each node's event ring (256) */
  bool collect;                   /* keep every node's events for vigil_sim_next_event */
  uint32_t backlog;               /* datagrams a stalled agent's socket holds (4096) */
  /* Optional: a driver's clock (ns), read around node calls to report the
   * time spent in node code (vigil_sim_stats.node_ns). */
  vigil_time (*stopwatch)(void *ud);
  void *stopwatch_ud;
} vigil_sim_config;

/* Fill a config with the defaults above. */
void vigil_sim_config_init(vigil_sim_config *cfg);

/* A simulation at time 0 with cfg->agents agents scheduled to start. NULL
 * with *why set on a bad config or when memory runs out. */
vigil_sim *vigil_sim_new(const vigil_sim_config *cfg, const char **why);
void vigil_sim_free(vigil_sim *s);

/* Virtual time now. */
vigil_time vigil_sim_now(const vigil_sim *s);

/*
 * Run until `until` (every datagram, refusal and timer due before it), and
 * leave the clock there. With stop_on_event, return as soon as a node
 * published a collected event (cfg.collect), with the clock at that event.
 * Returns the number of steps taken.
 */
uint64_t vigil_sim_run(vigil_sim *s, vigil_time until, bool stop_on_event);

/* ---- agents ---------------------------------------------------------------- */

typedef enum vigil_sim_status {
  VIGIL_SIM_PENDING = 0, /* not started yet */
  VIGIL_SIM_ALIVE = 1,   /* running */
  VIGIL_SIM_STALLED = 2, /* alive, frozen until it resumes */
  VIGIL_SIM_KILLED = 3,  /* process dead: its host refuses datagrams */
  VIGIL_SIM_STOPPED = 4, /* silent: SIGSTOP or a dead host */
  VIGIL_SIM_LEFT = 5     /* left gracefully: its host refuses datagrams */
} vigil_sim_status;

/* "pending", "alive", ... */
const char *vigil_sim_status_name(vigil_sim_status st);

uint32_t vigil_sim_agents(const vigil_sim *s);
const char *vigil_sim_pname(const vigil_sim *s, uint32_t i);
vigil_sim_status vigil_sim_status_of(const vigil_sim *s, uint32_t i);

/* The index of the agent named pname, or -1. */
int64_t vigil_sim_find(const vigil_sim *s, const char *pname);

/* Agent i's node (NULL unless it is alive or stalled). Read it; change it
 * only through vigil_sim_apply. */
vigil_node *vigil_sim_node(const vigil_sim *s, uint32_t i);

/* Add an agent that starts now (a join over time). Returns its index or a
 * negative error (VIGIL_EEXIST for a pname in use). */
int64_t vigil_sim_add(vigil_sim *s, const vigil_sim_agent *a);

/* Faults, effective now. Each returns VIGIL_OK, VIGIL_ENOENT (no such
 * agent) or VIGIL_EINVAL (not in a state the fault applies to). */
int vigil_sim_kill(vigil_sim *s, uint32_t i);                /* kill -9: the host refuses */
int vigil_sim_stop(vigil_sim *s, uint32_t i);                /* SIGSTOP / host death: silence */
int vigil_sim_resume(vigil_sim *s, uint32_t i);              /* SIGCONT after a stop */
int vigil_sim_stall(vigil_sim *s, uint32_t i, vigil_time d); /* frozen for d, then resumes */
int vigil_sim_restart(vigil_sim *s, uint32_t i);             /* a new process: generation + 1 */
int vigil_sim_leave(vigil_sim *s, uint32_t i);               /* graceful: shutdown frames, then gone */

/* The tags agent i starts with from its next start on (as an agent reads
 * --tag when it starts: a running process keeps its own until restarted).
 * VIGIL_ENOENT, or VIGIL_EINVAL when tags is not a tag set
 * (vigil_tags_parse); NULL or "" = none. */
int vigil_sim_set_tags(vigil_sim *s, uint32_t i, const char *tags);

/* A policy's command, applied to agent i's node (vigil_node_apply).
 * VIGIL_ENOENT: no such agent; VIGIL_EINVAL (with a note): its process is
 * not running. */
int vigil_sim_apply(vigil_sim *s, uint32_t i, const vigil_command *c, char *note, size_t cap);

/* ---- the network ----------------------------------------------------------- */

/* Loss on every link (0..1; VIGIL_EINVAL otherwise). */
int vigil_sim_set_loss(vigil_sim *s, double loss);
/* Latency and its jitter on every link. */
void vigil_sim_set_delay(vigil_sim *s, vigil_time delay, vigil_time jitter);
/* Extra loss on every datagram agent i sends or receives (0..1). */
int vigil_sim_set_agent_loss(vigil_sim *s, uint32_t i, double loss);
/* Extra latency deviation on every datagram agent i sends or receives
 * (normal; variances add up with the network's and the other end's). */
int vigil_sim_set_agent_jitter(vigil_sim *s, uint32_t i, vigil_time jitter);
/* Extra loss on the link a -> b, and b -> a unless oneway (0..1). */
int vigil_sim_set_link_loss(vigil_sim *s, uint32_t a, uint32_t b, double loss, bool oneway);
/* Cut the link a -> b, and b -> a unless oneway. VIGIL_ENOMEM. */
int vigil_sim_cut(vigil_sim *s, uint32_t a, uint32_t b, bool oneway);
/* Undo every cut (losses stay). */
void vigil_sim_heal(vigil_sim *s);

/* ---- what happened ---------------------------------------------------------- */

/* With cfg.collect: the next event any node published, in time order, and
 * the index of the agent that published it. false when none is waiting. */
bool vigil_sim_next_event(vigil_sim *s, uint32_t *agent, vigil_event *e);

/* Detection of one fault (kill or stop), from each surviving observer. */
typedef struct vigil_sim_fault {
  uint32_t agent;        /* who failed */
  bool silent;           /* stopped (true) or killed (false) */
  vigil_time at;         /* when */
  uint32_t observers;    /* agents alive when it failed and at the end, that saw it up */
  uint32_t detected;     /* of those, how many convicted it */
  uint32_t already_down; /* alive then and at the end, but already holding it down */
} vigil_sim_fault;

typedef struct vigil_sim_stats {
  uint64_t false_alarms; /* peer_down about an agent whose process was alive, per observer */
  uint64_t frames_sent;  /* datagrams handed to the network */
  uint64_t bytes_sent;
  uint64_t frames_lost; /* lost to loss, cuts, silence, full backlogs */
  uint64_t refusals;    /* refusals delivered back to senders */
  uint64_t events_lost; /* node events the simulator could not score (ring overrun) */
  vigil_time node_ns;   /* stopwatch time spent in node code */
  vigil_time alive_ns;  /* sum over agents of time alive (for per-agent rates) */
  vigil_time converged; /* first time every alive agent saw every other as normal; 0 = not yet */
  uint32_t faults;      /* kills and stops so far */
} vigil_sim_stats;

void vigil_sim_stats_get(const vigil_sim *s, vigil_sim_stats *out);

/* Fault k (0 .. stats.faults-1). false when out of range. */
bool vigil_sim_fault_get(const vigil_sim *s, uint32_t k, vigil_sim_fault *out);

/* Detection times of fault k, one per observer that convicted it, in ns
 * after the fault, sorted ascending, into out (cap entries). Returns how
 * many there are (may exceed cap). */
uint32_t vigil_sim_fault_detections(const vigil_sim *s, uint32_t k, vigil_time *out, uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif /* VIGIL_SIM_H */
