/*
 * vigil_runtime.h - the agent runtime: the core thread on libuv, its logs,
 * and the bridge to the script thread.
 *
 * This is the part of vigil that does I/O and reads clocks. Every decision
 * it acts on is the node's (vigil.h, vigil_node): the runtime turns sockets,
 * ICMP errors and timers into node inputs, sends the frames the node
 * produces, serves HTTP and carries events to the policy.
 */
#ifndef VIGIL_RUNTIME_H
#define VIGIL_RUNTIME_H

#include "vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Keyring files (keyfile.c)                                                */

/*
 * Load a keyring file: one key per line, 32 bytes in standard base64
 * (`head -c 32 /dev/urandom | base64`), blank lines and lines starting with
 * '#' ignored. The first key seals. Returns VIGIL_OK, or VIGIL_EINVAL with
 * a message naming the file and line in err (NUL-terminated, errlen bytes).
 */
int vigil_keyring_load(vigil_keyring *kr, const char *path, char *err, size_t errlen);

/*
 * Replace the keyring file at path (through a symbolic link, the file it
 * names) with kr's keys, the primary first: a new file beside it, mode
 * 0600, synced, then renamed over it -- never half written. Its comments
 * are not kept. Returns VIGIL_OK, or VIGIL_EINVAL with why in err (the
 * file as it was).
 */
int vigil_keyring_save(const vigil_keyring *kr, const char *path, char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* The bridge between the core thread and the script thread (bridge.c)     */

/*
 * The only things the two threads share (../shared/DESIGN.md). The core
 * pushes events and publishes snapshots; the script thread takes events,
 * reads snapshots and sends commands. Every operation holds one mutex for a
 * bounded copy and never waits for the other thread's work: the core never
 * waits on Lua. Wake-ups go through the callbacks given at creation
 * (uv_async_send in the runtime; both are safe to call from any thread).
 */
typedef struct vigil_bridge vigil_bridge;

typedef void (*vigil_wake_fn)(void *ud);

/* What the script thread reports about the policy (for /health, metrics). */
#define VIGIL_POLICY_KINDS 10 /* peer_up .. peer_restarted, transition, lagged, timer, exec, load */
typedef struct vigil_policy_status {
  bool running;        /* a script thread is attached */
  bool loaded;         /* a policy generation is active */
  uint64_t generation; /* successful loads so far */
  char path[256];
  char error[512]; /* the last load error ("" = none), file:line first */
  uint64_t reloads_ok, reloads_failed;
  uint64_t errors[VIGIL_POLICY_KINDS];      /* handler errors by kind */
  uint64_t interrupted[VIGIL_POLICY_KINDS]; /* handlers stopped at their budget */
  uint64_t delivered;                       /* events handed to the policy */
  uint64_t lagged;                          /* events lost because the policy fell behind */
  uint64_t exec_started, exec_ok, exec_failed, exec_timeout, exec_rejected;
} vigil_policy_status;

/* Names of the kinds counted above ("peer_up", ..., "load"). */
const char *vigil_policy_kind_name(int kind);

vigil_bridge *vigil_bridge_new(uint32_t capacity, vigil_wake_fn wake_script, void *script_ud, vigil_wake_fn wake_core,
                               void *core_ud);
void vigil_bridge_free(vigil_bridge *b);

/* Core thread. */
void vigil_bridge_push_event(vigil_bridge *b, const vigil_event *e);
void vigil_bridge_publish(vigil_bridge *b, vigil_snapshot *s); /* takes ownership (malloc'd) */
bool vigil_bridge_take_command(vigil_bridge *b, vigil_command *out);
void vigil_bridge_request(vigil_bridge *b, bool reload, bool stop);
void vigil_bridge_status(vigil_bridge *b, vigil_policy_status *out);

/* Either thread: set (or change) how the script thread is woken. */
void vigil_bridge_set_script_wake(vigil_bridge *b, vigil_wake_fn wake_script, void *script_ud);

/* Script thread. */
size_t vigil_bridge_take_events(vigil_bridge *b, vigil_event *out, size_t max); /* lagged comes as an event */
const vigil_snapshot *vigil_bridge_acquire(vigil_bridge *b);                    /* NULL before the first */
void vigil_bridge_release(vigil_bridge *b, const vigil_snapshot *s);
int vigil_bridge_send_command(vigil_bridge *b, const vigil_command *c); /* VIGIL_ERANGE when the queue is full */
void vigil_bridge_take_requests(vigil_bridge *b, bool *reload, bool *stop);
void vigil_bridge_set_status(vigil_bridge *b, const vigil_policy_status *st);

/* ------------------------------------------------------------------------ */
/* Policy host hook (the vigil binary provides it; core/ knows no Lua)       */

typedef struct vigil_policy_host {
  /* Start the script thread for cfg->policy; non-zero when it cannot. */
  int (*start)(void *ud, vigil_bridge *b, const char *policy_path);
  /* Ask it to stop and wait at most wait_ms for it; then detach. */
  void (*stop)(void *ud, int wait_ms);
  void *ud;
} vigil_policy_host;

/* ------------------------------------------------------------------------ */
/* The agent runtime (agent.c): the core thread on libuv                     */

typedef enum vigil_log_level {
  VIGIL_LOG_DEBUG = 0,
  VIGIL_LOG_INFO = 1,
  VIGIL_LOG_WARN = 2,
  VIGIL_LOG_ERROR = 3
} vigil_log_level;

/* "debug", "info", "warn", "error"; -1 for anything else. */
int vigil_log_level_parse(const char *name);

/* Write one logfmt line to stderr: ts, level, msg (quoted and escaped),
 * then `fields` ("k=v k2=v2", already formatted and trusted as it is, or
 * NULL). Thread-safe: one write per line. Lines below the agent's log level
 * are skipped. Text that comes from the network or a policy goes through
 * vigil_log_fields instead. */
void vigil_log(vigil_log_level lvl, const char *msg, const char *fields);

/* One key=value field of a log line. The value is any `len` bytes. */
typedef struct vigil_log_field {
  const char *key;   /* [A-Za-z0-9_.-]; any other byte is written '_' */
  const char *value; /* quoted and escaped as it needs (docs/AGENT.md, "Logs") */
  size_t len;        /* bytes of value */
} vigil_log_field;

/* vigil_log with fields given as values: each is written as one logfmt
 * value whatever its bytes (quotes, newlines, '=', invalid UTF-8 ...), so no
 * value can end its field or its line. A line is at most 1 KiB: what does
 * not fit is cut and the line ends with truncated=true. */
void vigil_log_fields(vigil_log_level lvl, const char *msg, const vigil_log_field *fields, size_t n);

/* Set the level below which vigil_log drops lines (vigil_agent_run sets it
 * from its config). */
void vigil_log_set_level(vigil_log_level lvl);

typedef struct vigil_agent_config {
  const char *listen;    /* UDP bind address, "ip:port" */
  const char *advertise; /* pname peers know us by; NULL = listen */
  const char *http;      /* HTTP bind "ip:port"; NULL or "" = no HTTP */
  const char *dc;        /* NULL = "default" */
  const char *rack;      /* NULL = "default" */
  const vigil_token *tokens;
  uint32_t ntokens;
  const char *tags;         /* this agent's tag set, "k=v,k2=v2" (vigil_tags_parse); NULL = none */
  const char *const *seeds; /* pnames (IP literals) to contact until known */
  uint32_t nseeds;
  vigil_keyring *keyring;   /* NULL: unauthenticated (warned once); replaced in place on SIGHUP */
  const char *keyring_path; /* the file it came from: read again on SIGHUP */
  vigil_log_level log_level;
  vigil_time interval;                         /* gossip interval (200 ms) */
  vigil_time tick;                             /* evaluate period (100 ms) */
  vigil_time reap_after;                       /* forget peers down this long (60 s) */
  uint32_t max_peers;                          /* bound on the member list (VIGIL_MAX_PEERS); 0 = none */
  vigil_time max_skew;                         /* clock skew allowed (VIGIL_MAX_SKEW); 0 = no checks */
  vigil_peer_metrics metrics_per_peer;         /* the vigil_peer_* families of /metrics: AUTO (on up to 64) */
  vigil_detector_config detector;              /* threshold, model, ... */
  const char *policy;                          /* agent.lua path, run by policy_host */
  const struct vigil_policy_host *policy_host; /* NULL: no policy runtime */
  uint32_t policy_queue;                       /* events the policy may fall behind by (1024) */
  /* The bearer token clients beyond loopback must send to mutating HTTP
   * endpoints (POST /v1/reload); NULL: those answer loopback clients only. */
  const char *http_token;
  /* For the start-up log only: the config file the settings were read from
   * (NULL: none), and which settings came from flags, the environment and
   * that file ("flags=listen env=seeds file=dc,rack"; NULL or "": none). */
  const char *config_file;
  const char *settings_from;
} vigil_agent_config;

void vigil_agent_config_init(vigil_agent_config *cfg);

/*
 * Run an agent until SIGINT or SIGTERM (then announce the departure to
 * every peer and return 0). Returns non-zero, after logging why, when it
 * cannot start (address in use, bad address, ...). Logs are logfmt lines on
 * stderr.
 */
int vigil_agent_run(const vigil_agent_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* VIGIL_RUNTIME_H */
