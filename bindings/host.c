/*
 * host.c - the script thread: LuaJIT running the operator's policy on its
 * own libuv loop (../shared/DESIGN.md, "the rule of the two threads").
 *
 * Owns: the Lua state, the script loop, and the primitives the Lua runtime
 * (lua/vigil/runtime.lua) is built on -- time, snapshots, commands to the
 * core, timers, child processes, logs and the budgeted call. Everything it
 * knows about peers comes through the bridge (core/bridge.c); it never
 * touches the pool.
 *
 * The Lua state lives and dies on the script thread: host_start only sets
 * up the loop and its handles and starts the thread, which creates the state,
 * loads the runtime and tells host_start (the `ready` semaphore) whether it
 * came up; when its loop stops, the thread closes the handles, the loop and
 * the state itself. `vigil check` and bench-dispatch have no agent and no
 * second thread: they run the same VM on the calling thread.
 *
 * Must never: let a policy stop the agent. Every call into policy code goes
 * through host__call: a pcall with a traceback, and a time budget enforced
 * by a count hook. LuaJIT does not run hooks inside JIT-compiled traces, so
 * a compiled `while true do end` would never be interrupted: the policy VM
 * therefore runs with the JIT off (luaJIT_setmode(LUAJIT_MODE_OFF)) and
 * policies cannot load `jit` to turn it back on. Reaction code is small and
 * rarely run; LuaJIT's interpreter is fast enough for it, and being able to
 * stop it is worth more than compiling it.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "host.h"
#include "lua_event.h"

extern char **environ;

#define GRACE_MS    2000 /* between TERM and KILL for a command past its timeout */
#define DRAIN_MS    200  /* output still read after a command's own process exits */
#define EXIT_MS     500  /* at the agent's exit: between TERM and KILL for commands still running */
#define EVENT_BATCH 64

typedef struct host {
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wake;                /* events, reload or stop requests from the core */
  vigil_event batch[EVENT_BATCH]; /* events taken from the bridge, dispatched from batch_at */
  size_t batch_n, batch_at;
  uv_fs_event_t watch; /* the policy file's directory */
  uv_timer_t debounce; /* a burst of file changes -> one reload */
  uv_sem_t ready;      /* posted by the thread once host__vm has run */
  int vm_rc;           /* host__vm's result; read by host_start after ready */
  uv_mutex_t lock;     /* guards done */
  uv_cond_t finished;  /* signalled when done is set */
  bool done;           /* the thread has finished (handles, loop and Lua state closed) */
  vigil_bridge *b;     /* NULL in `vigil check` */
  lua_State *L;
  int rt_ref; /* the runtime object */
  char path[4096];
  char base[256];    /* the policy's file name, to filter directory events */
  double budget;     /* seconds a handler may run */
  uint64_t deadline; /* uv_hrtime after which the running handler is stopped */
  bool tripped;      /* the budget hook fired */
  bool watching, stopping;
  vigil_policy_status st;
  struct hproc *procs; /* commands whose process group may still run */
} host;

/* Bounded copy that always terminates (and truncates long paths). */
static void host__copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* A log field from a C string. */
#define HOST__F(k, v)                                                                                                  \
  { k, v, strlen(v) }

/* Log msg at error with the Lua error on top of L's stack as error=. */
static void host__log_error(const char *msg, lua_State *L) {
  size_t n = 0;
  const char *err = lua_tolstring(L, -1, &n);
  vigil_log_field f[] = {{"error", err ? err : "?", err ? n : 1}};
  vigil_log_fields(VIGIL_LOG_ERROR, msg, f, 1);
}

static host *host__of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "vigil.host");
  host *h = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return h;
}

static int host__kind_index(const char *kind) {
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    if (strcmp(kind, vigil_policy_kind_name(k)) == 0) return k;
  return VIGIL_POLICY_KINDS - 1;
}

static void host__publish_status(host *h) {
  if (h->b) vigil_bridge_set_status(h->b, &h->st);
}

/* ---- the budgeted call ------------------------------------------------------- */

static size_t host_memory_limit = VIGIL_POLICY_MEMORY;

void vigil_lua_host_set_memory_limit(size_t bytes) { host_memory_limit = bytes; }

static void host__budget_hook(lua_State *L, lua_Debug *ar) {
  host *h = host__of(L);
  /* Memory: what the VM holds, in KiB (LuaJIT cannot take a custom
   * allocator on x86-64, so the limit is enforced here, every 1,000
   * instructions: a handler overshoots it by what it allocates in that
   * many, then fails). A full collection first: garbage is not a reason. */
  if (host_memory_limit && (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024u > host_memory_limit) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    if ((size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024u > host_memory_limit) {
      lua_getinfo(L, "Sl", ar);
      luaL_error(L, "%s:%d: stopped: the policy holds more than its memory limit of %d MiB (--policy-memory)",
                 ar->short_src, ar->currentline, (int)(host_memory_limit >> 20));
    }
  }
  if (uv_hrtime() > h->deadline) {
    h->tripped = true;
    lua_getinfo(L, "Sl", ar); /* where it was stopped: file:line, as for any error */
    luaL_error(L, "%s:%d: interrupted: ran past its budget of %.3g s", ar->short_src, ar->currentline, h->budget);
  }
}

static int host__traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_typename(L, 1);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Call the function at the top of the stack with nargs arguments below it
 * (function first), under the budget. Returns 0, or 1 with the message on
 * the stack; *interrupted tells a budget stop from an error. Counts and logs. */
static int host__pcall(host *h, lua_State *L, const char *kind, int nargs, bool *interrupted) {
  int fn = lua_gettop(L) - nargs;
  lua_pushcfunction(L, host__traceback);
  lua_insert(L, fn);
  h->tripped = false;
  h->deadline = uv_hrtime() + (uint64_t)(h->budget * 1e9);
  lua_sethook(L, host__budget_hook, LUA_MASKCOUNT, 1000);
  int rc = lua_pcall(L, nargs, 0, fn);
  lua_sethook(L, NULL, 0, 0);
  lua_remove(L, fn); /* the traceback handler */
  *interrupted = rc != 0 && h->tripped;
  if (rc == 0) return 0;
  size_t errlen = 0;
  const char *err = lua_tolstring(L, -1, &errlen);
  int k = host__kind_index(kind);
  if (*interrupted) {
    h->st.interrupted[k]++;
    char budget[32];
    snprintf(budget, sizeof budget, "%.3g", h->budget);
    vigil_log_field f[] = {HOST__F("source", "policy"), HOST__F("event", kind), HOST__F("budget_s", budget)};
    vigil_log_fields(VIGIL_LOG_ERROR, "policy handler interrupted", f, 3);
  } else {
    h->st.errors[k]++;
    /* One line: the message and the traceback, escaped by the log. */
    vigil_log_field f[] = {
        HOST__F("source", "policy"), HOST__F("event", kind), {"error", err ? err : "?", err ? errlen : 1}};
    vigil_log_fields(VIGIL_LOG_ERROR, "policy handler failed", f, 3);
  }
  host__publish_status(h);
  return 1;
}

/* host.call(kind, fn, ...) -> true | false, err, interrupted */
static int l_call(lua_State *L) {
  host *h = host__of(L);
  const char *kind = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  bool interrupted;
  if (host__pcall(h, L, kind, nargs, &interrupted) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  lua_pushboolean(L, interrupted);
  return 3;
}

/* ---- time, snapshots, commands, logs -------------------------------------------- */

static int l_now(lua_State *L) {
  lua_pushnumber(L, (double)uv_hrtime() / 1e9);
  return 1;
}

static int l_snapshot(lua_State *L) {
  host *h = host__of(L);
  const vigil_snapshot *s = h->b ? vigil_bridge_acquire(h->b) : NULL;
  if (!s) return 0;
  vigil_lua_push_snapshot(L, s);
  vigil_bridge_release(h->b, s);
  return 1;
}

static int host__send_command(lua_State *L, host *h, const vigil_command *c) {
  if (!h->b || vigil_bridge_send_command(h->b, c) == VIGIL_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushliteral(L, "command queue full");
  return 2;
}

/* What the operator configured for the settings vigil.configure may change
 * (vigil_lua_host_set_baseline): lua/vigil/runtime.lua puts it back when a
 * reload's policy no longer sets one. */
static struct {
  bool set;
  vigil_detector_config detector;
  vigil_time interval;
  char threshold_from[1024], interval_from[1024]; /* "" = the default */
} host_baseline;

void vigil_lua_host_set_baseline(const vigil_detector_config *detector, vigil_time interval, const char *threshold_from,
                                 const char *interval_from) {
  host_baseline.set = true;
  host_baseline.detector = *detector;
  host_baseline.interval = interval;
  host__copy(host_baseline.threshold_from, sizeof host_baseline.threshold_from, threshold_from ? threshold_from : "");
  host__copy(host_baseline.interval_from, sizeof host_baseline.interval_from, interval_from ? interval_from : "");
}

static void host__set_number(lua_State *L, const char *key, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}

/* host.baseline() -> settings, origins: the operator's value of each
 * vigil.configure setting (seconds for durations; budget is this host's
 * own default, thresholds none), and, for those the operator set, where
 * ("--threshold", "VIGIL_INTERVAL", "/etc/vigil/vigil.json"). */
static int l_baseline(lua_State *L) {
  vigil_agent_config defaults;
  vigil_agent_config_init(&defaults);
  const vigil_detector_config *d = host_baseline.set ? &host_baseline.detector : &defaults.detector;
  vigil_time interval = host_baseline.set ? host_baseline.interval : defaults.interval;
  lua_createtable(L, 0, 8);
  host__set_number(L, "threshold", d->threshold);
  host__set_number(L, "interval", (double)interval / 1e9);
  lua_pushstring(L, d->model == VIGIL_MODEL_EXPONENTIAL ? "exponential" : "normal");
  lua_setfield(L, -2, "model");
  host__set_number(L, "min_std_dev", (double)d->min_std_dev / 1e9);
  host__set_number(L, "acceptable_pause", (double)d->acceptable_pause / 1e9);
  lua_pushboolean(L, d->refused);
  lua_setfield(L, -2, "refused");
  lua_newtable(L);
  lua_setfield(L, -2, "thresholds");
  host__set_number(L, "budget", 1.0); /* host__prepare's */
  lua_createtable(L, 0, 2);
  if (host_baseline.threshold_from[0]) {
    lua_pushstring(L, host_baseline.threshold_from);
    lua_setfield(L, -2, "threshold");
  }
  if (host_baseline.interval_from[0]) {
    lua_pushstring(L, host_baseline.interval_from);
    lua_setfield(L, -2, "interval");
  }
  return 2;
}

/* host.configure(settings): already checked by lua/vigil/init.lua. */
static int l_configure(lua_State *L) {
  host *h = host__of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  vigil_command *c = lua_newuserdata(L, sizeof *c); /* large: not on the C stack, freed by the collector */
  const char *bad = vigil_lua_to_configure(L, 1, c);
  if (bad) return luaL_error(L, "configure: bad setting '%s'", bad);
  lua_getfield(L, 1, "budget");
  if (lua_isnumber(L, -1)) h->budget = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return host__send_command(L, h, c);
}

static int l_mark_down(lua_State *L) {
  host *h = host__of(L);
  vigil_command c;
  memset(&c, 0, sizeof c);
  c.type = VIGIL_CMD_MARK_DOWN;
  snprintf(c.pname, sizeof c.pname, "%s", luaL_checkstring(L, 1));
  return host__send_command(L, h, &c);
}

/* host.log(level, msg, {k1, v1, k2, v2, ...}): keys already checked by
 * lua/vigil/init.lua (log_fields), values any text; the log quotes and
 * escapes them (core/runtime/log.c), so nothing a policy logs can forge a
 * field or a line. At most HOST__LOG_FIELDS fields (then truncated=true); a
 * line is cut at 1 KiB. */
#define HOST__LOG_FIELDS 32

static int l_log(lua_State *L) {
  static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
  int lvl = luaL_checkoption(L, 1, "info", levels);
  const char *msg = luaL_checkstring(L, 2);
  vigil_log_field f[1 + HOST__LOG_FIELDS + 1] = {HOST__F("source", "policy")};
  size_t n = 1;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    int pairs = (int)lua_objlen(L, 3) / 2;
    if (pairs > HOST__LOG_FIELDS) f[1 + HOST__LOG_FIELDS] = (vigil_log_field)HOST__F("truncated", "true");
    for (int i = 0; i < pairs && n < 1 + HOST__LOG_FIELDS; i++) {
      lua_rawgeti(L, 3, 2 * i + 1);
      lua_rawgeti(L, 3, 2 * i + 2);
      bool strings = lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING;
      if (strings) { /* held by the table, which outlives their use below */
        f[n].key = lua_tostring(L, -2);
        f[n].value = lua_tolstring(L, -1, &f[n].len);
        n++;
      }
      lua_pop(L, 2);
    }
  }
  if (f[1 + HOST__LOG_FIELDS].key) f[n++] = f[1 + HOST__LOG_FIELDS]; /* more than fit: say so, last */
  vigil_log_fields((vigil_log_level)lvl, msg, f, n);
  return 0;
}

static int l_hash(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushnumber(L, vigil_hash(s, n));
  return 1;
}

/* host.report(ok, err, generation): a load finished. */
static int l_report(lua_State *L) {
  host *h = host__of(L);
  bool ok = lua_toboolean(L, 1);
  if (ok) {
    h->st.loaded = true;
    h->st.reloads_ok++;
    h->st.error[0] = '\0';
  } else {
    h->st.reloads_failed++;
    snprintf(h->st.error, sizeof h->st.error, "%s", luaL_optstring(L, 2, "error"));
  }
  h->st.generation = (uint64_t)luaL_optnumber(L, 3, 0);
  host__publish_status(h);
  return 0;
}

static int l_count_exec(lua_State *L) {
  host *h = host__of(L);
  const char *r = luaL_checkstring(L, 1);
  if (strcmp(r, "started") == 0)
    h->st.exec_started++;
  else if (strcmp(r, "ok") == 0)
    h->st.exec_ok++;
  else if (strcmp(r, "timeout") == 0)
    h->st.exec_timeout++;
  else if (strcmp(r, "rejected") == 0)
    h->st.exec_rejected++;
  else
    h->st.exec_failed++;
  host__publish_status(h);
  return 0;
}

/* ---- timers ------------------------------------------------------------------ */

typedef struct htimer {
  uv_timer_t t;
  host *h;
  int fn_ref;   /* the callback */
  int self_ref; /* keeps the Lua handle alive while the timer runs */
  bool repeat;
  bool closed;
} htimer;

typedef struct ltimer {
  htimer *ht; /* NULL once stopped */
} ltimer;

static void htimer__closed(uv_handle_t *handle) { free(handle->data); }

static void htimer__release(htimer *ht) {
  if (ht->closed) return;
  ht->closed = true;
  uv_timer_stop(&ht->t);
  luaL_unref(ht->h->L, LUA_REGISTRYINDEX, ht->fn_ref);
  luaL_unref(ht->h->L, LUA_REGISTRYINDEX, ht->self_ref);
  uv_close((uv_handle_t *)&ht->t, htimer__closed);
}

static void htimer__fire(uv_timer_t *t) {
  htimer *ht = t->data;
  host *h = ht->h;
  lua_rawgeti(h->L, LUA_REGISTRYINDEX, ht->fn_ref);
  bool interrupted;
  if (!ht->repeat) {
    /* One-shot: drop our references before the call (the callback may
     * start new timers); the function stays on the stack. */
    lua_rawgeti(h->L, LUA_REGISTRYINDEX, ht->self_ref);
    ltimer *lt = lua_touserdata(h->L, -1);
    if (lt) lt->ht = NULL;
    lua_pop(h->L, 1);
    htimer__release(ht);
  }
  if (host__pcall(h, h->L, "timer", 0, &interrupted) != 0) lua_pop(h->L, 1);
}

static int l_timer_stop(lua_State *L) {
  ltimer *lt = luaL_checkudata(L, 1, "vigil.host.timer");
  if (lt->ht) {
    htimer__release(lt->ht);
    lt->ht = NULL;
  }
  return 0;
}

/* host.timer(delay_s, period_s, fn) -> handle with :stop() */
static int l_timer(lua_State *L) {
  host *h = host__of(L);
  double delay = luaL_checknumber(L, 1), period = luaL_optnumber(L, 2, 0);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (!(delay >= 0) || !(period >= 0) || delay > 1e7 || period > 1e7)
    return luaL_argerror(L, 1, "delay and period must be seconds >= 0");
  htimer *ht = calloc(1, sizeof *ht);
  if (!ht) return luaL_error(L, "timer: out of memory");
  ht->h = h;
  ht->repeat = period > 0;
  uv_timer_init(&h->loop, &ht->t);
  ht->t.data = ht;
  lua_pushvalue(L, 3);
  ht->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ltimer *lt = lua_newuserdata(L, sizeof *lt);
  lt->ht = ht;
  luaL_getmetatable(L, "vigil.host.timer");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  ht->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uint64_t d = (uint64_t)(delay * 1000 + 0.5), p = (uint64_t)(period * 1000 + 0.5);
  uv_timer_start(&ht->t, htimer__fire, d, ht->repeat ? (p ? p : 1) : 0);
  return 1;
}

/* ---- child processes ----------------------------------------------------------- */

/* A command runs in its own process group (a new session: it leads it),
 * so that whatever it starts can be signalled with it: at its timeout, once
 * it has exited while something it started still holds its pipes, and when
 * the agent exits. */
typedef struct hproc {
  uv_process_t proc;
  struct hproc *next, *prev; /* host.procs */
  int pgid;                  /* 0 once the group was killed for good or never existed */
  uv_timer_t drain;
  uv_pipe_t in, out, err;
  uv_timer_t timeout, kill;
  uv_write_t write;
  uv_shutdown_t shutdown;
  host *h;
  int on_exit_ref;
  char *stdin_data;
  size_t stdin_len;
  size_t max_output;
  char *obuf, *ebuf;
  size_t olen, elen;
  int64_t code;
  int signal;
  bool exited, timed_out, has_in, reported;
  int open_pipes; /* stdout/stderr still open */
  int handles;    /* libuv handles still to close */
} hproc;

static void hproc__unlink(hproc *p) {
  if (p->prev)
    p->prev->next = p->next;
  else if (p->h->procs == p)
    p->h->procs = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = p->prev = NULL;
}

/* Signal the command's whole group (its own process when it has none). */
static void hproc__signal(hproc *p, int sig) {
  if (p->pgid > 0 && kill(-p->pgid, sig) == 0) return;
  if (!p->exited) uv_process_kill(&p->proc, sig);
}

static void hproc__closed(uv_handle_t *handle) {
  hproc *p = handle->data;
  if (--p->handles == 0) {
    hproc__unlink(p);
    free(p->obuf);
    free(p->ebuf);
    free(p->stdin_data);
    free(p);
  }
}

static void hproc__close(uv_handle_t *handle) {
  if (!uv_is_closing(handle)) uv_close(handle, hproc__closed);
}

static void hproc__finish(hproc *p) {
  if (p->reported || !p->exited || p->open_pipes > 0) return;
  p->reported = true;
  host *h = p->h;
  lua_State *L = h->L;
  uv_timer_stop(&p->timeout);
  uv_timer_stop(&p->kill);
  uv_timer_stop(&p->drain);
  /* A reaction is over when its command is: whatever it started in its
   * group (a backgrounded child, a pipe holder) goes with it. */
  if (p->pgid > 0) kill(-p->pgid, SIGKILL);
  p->pgid = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->on_exit_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, p->on_exit_ref);
  if (p->signal)
    lua_pushnil(L);
  else
    lua_pushnumber(L, (double)p->code);
  lua_pushinteger(L, p->signal);
  lua_pushlstring(L, p->obuf ? p->obuf : "", p->olen);
  lua_pushlstring(L, p->ebuf ? p->ebuf : "", p->elen);
  lua_pushboolean(L, p->timed_out);
  bool interrupted;
  if (host__pcall(h, L, "exec", 5, &interrupted) != 0) lua_pop(L, 1);
  hproc__close((uv_handle_t *)&p->proc);
  hproc__close((uv_handle_t *)&p->timeout);
  hproc__close((uv_handle_t *)&p->kill);
  hproc__close((uv_handle_t *)&p->drain);
  hproc__close((uv_handle_t *)&p->out);
  hproc__close((uv_handle_t *)&p->err);
  if (p->has_in) hproc__close((uv_handle_t *)&p->in);
}

/* The command exited, yet its pipes are still open after DRAIN_MS:
 * something it started holds them. End that group and report now. */
static void hproc__drained(uv_timer_t *t) {
  hproc *p = t->data;
  if (p->reported) return;
  if (!uv_is_closing((uv_handle_t *)&p->out)) uv_read_stop((uv_stream_t *)&p->out);
  if (!uv_is_closing((uv_handle_t *)&p->err)) uv_read_stop((uv_stream_t *)&p->err);
  p->open_pipes = 0;
  hproc__finish(p);
}

static void hproc__exit(uv_process_t *proc, int64_t status, int signal) {
  hproc *p = proc->data;
  p->exited = true;
  p->code = status;
  p->signal = signal;
  if (p->open_pipes > 0) uv_timer_start(&p->drain, hproc__drained, DRAIN_MS, 0);
  hproc__finish(p);
}

static void hproc__alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  static char scratch[65536]; /* the script loop is single-threaded */
  (void)suggested;
  *buf = uv_buf_init(scratch, sizeof scratch);
}

static void hproc__read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hproc *p = s->data;
  bool is_out = s == (uv_stream_t *)&p->out;
  if (n > 0) {
    char **dst = is_out ? &p->obuf : &p->ebuf;
    size_t *len = is_out ? &p->olen : &p->elen;
    size_t room = p->max_output > *len ? p->max_output - *len : 0;
    size_t take = (size_t)n < room ? (size_t)n : room; /* beyond the bound: dropped */
    if (take) {
      if (!*dst) *dst = malloc(p->max_output);
      if (*dst) {
        memcpy(*dst + *len, buf->base, take);
        *len += take;
      }
    }
    return;
  }
  if (n < 0) {
    uv_read_stop(s);
    p->open_pipes--;
    hproc__finish(p);
  }
}

static void hproc__kill(uv_timer_t *t) {
  hproc *p = t->data;
  hproc__signal(p, SIGKILL);
}

static void hproc__timeout(uv_timer_t *t) {
  hproc *p = t->data;
  if (p->exited) return;
  p->timed_out = true;
  hproc__signal(p, SIGTERM);
  uv_timer_start(&p->kill, hproc__kill, GRACE_MS, 0);
}

static void hproc__stdin_done(uv_shutdown_t *req, int status) {
  (void)status;
  hproc__close((uv_handle_t *)req->handle);
}

static void hproc__stdin_written(uv_write_t *req, int status) {
  hproc *p = req->data;
  if (status == 0 && uv_shutdown(&p->shutdown, (uv_stream_t *)&p->in, hproc__stdin_done) == 0) return;
  hproc__close((uv_handle_t *)&p->in);
}

/* host.spawn{file=, args=, env=, stdin=, timeout=, max_output=, on_exit=}
 * -> true | nil, err. on_exit(code|nil, signal, stdout, stderr, timed_out). */
static int l_spawn(lua_State *L) {
  host *h = host__of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "file");
  const char *file = luaL_checkstring(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "on_exit");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  int on_exit_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  /* argv: file, args... */
  lua_getfield(L, 1, "args");
  int nargs = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
  char **argv = calloc((size_t)nargs + 2, sizeof *argv);
  argv[0] = (char *)file;
  for (int i = 1; i <= nargs; i++) {
    lua_rawgeti(L, -1, i);
    argv[i] = (char *)lua_tostring(L, -1); /* kept alive by the args table */
    lua_pop(L, 1);
  }
  /* env: the agent's environment with the policy's entries on top. */
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  lua_getfield(L, 1, "env");
  size_t extra = 0;
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      extra++;
      lua_pop(L, 1);
    }
  }
  char **envp = calloc(nenv + extra + 1, sizeof *envp);
  char **owned = calloc(extra + 1, sizeof *owned);
  size_t ne = 0, no = 0;
  if (extra) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      size_t kl, vl;
      const char *k = lua_tolstring(L, -2, &kl);
      const char *v = lua_tolstring(L, -1, &vl);
      char *kv = malloc(kl + vl + 2);
      memcpy(kv, k, kl);
      kv[kl] = '=';
      memcpy(kv + kl + 1, v, vl + 1);
      owned[no++] = kv;
      envp[ne++] = kv;
      lua_pop(L, 1);
    }
  }
  for (size_t i = 0; i < nenv; i++) {
    bool overridden = false;
    for (size_t k = 0; k < no && !overridden; k++) {
      size_t kl = (size_t)(strchr(owned[k], '=') - owned[k]);
      overridden = strncmp(environ[i], owned[k], kl + 1) == 0;
    }
    if (!overridden) envp[ne++] = environ[i];
  }
  lua_pop(L, 1); /* env */

  hproc *p = calloc(1, sizeof *p);
  p->h = h;
  p->on_exit_ref = on_exit_ref;
  lua_getfield(L, 1, "max_output");
  p->max_output = lua_isnumber(L, -1) ? (size_t)lua_tonumber(L, -1) : 65536;
  lua_pop(L, 1);
  lua_getfield(L, 1, "stdin");
  if (lua_isstring(L, -1)) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    p->stdin_data = malloc(n + 1);
    memcpy(p->stdin_data, s, n + 1);
    p->stdin_len = n;
    p->has_in = true;
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "timeout");
  double timeout = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 10;
  lua_pop(L, 1);

  uv_pipe_init(&h->loop, &p->out, 0);
  uv_pipe_init(&h->loop, &p->err, 0);
  uv_timer_init(&h->loop, &p->timeout);
  uv_timer_init(&h->loop, &p->kill);
  uv_timer_init(&h->loop, &p->drain);
  p->handles = 6;
  if (p->has_in) {
    uv_pipe_init(&h->loop, &p->in, 0);
    p->handles++;
  }
  p->proc.data = p->out.data = p->err.data = p->in.data = p->timeout.data = p->kill.data = p->drain.data = p;
  p->write.data = p;

  uv_stdio_container_t stdio[3];
  stdio[0].flags = p->has_in ? (uv_stdio_flags)(UV_CREATE_PIPE | UV_READABLE_PIPE) : UV_IGNORE;
  stdio[0].data.stream = (uv_stream_t *)&p->in;
  stdio[1].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = (uv_stream_t *)&p->out;
  stdio[2].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = (uv_stream_t *)&p->err;
  uv_process_options_t opt;
  memset(&opt, 0, sizeof opt);
  opt.file = file;
  opt.args = argv;
  opt.env = envp;
  opt.exit_cb = hproc__exit;
  opt.stdio = stdio;
  opt.stdio_count = 3;
  opt.flags = UV_PROCESS_DETACHED; /* setsid(): its own session and process group */
  int rc = uv_spawn(&h->loop, &p->proc, &opt);
  lua_pop(L, 1); /* args */
  free(argv);
  free(envp);
  for (size_t k = 0; k < no; k++) free(owned[k]);
  free(owned);
  if (rc != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, on_exit_ref);
    p->reported = true;
    hproc__close((uv_handle_t *)&p->proc);
    hproc__close((uv_handle_t *)&p->out);
    hproc__close((uv_handle_t *)&p->err);
    hproc__close((uv_handle_t *)&p->timeout);
    hproc__close((uv_handle_t *)&p->kill);
    hproc__close((uv_handle_t *)&p->drain);
    if (p->has_in) hproc__close((uv_handle_t *)&p->in);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", file, uv_strerror(rc));
    return 2;
  }
  p->open_pipes = 2;
  p->pgid = p->proc.pid;
  p->h = h;
  p->next = h->procs;
  if (h->procs) h->procs->prev = p;
  h->procs = p;
  uv_read_start((uv_stream_t *)&p->out, hproc__alloc, hproc__read);
  uv_read_start((uv_stream_t *)&p->err, hproc__alloc, hproc__read);
  if (p->has_in) {
    uv_buf_t b = uv_buf_init(p->stdin_data, (unsigned)p->stdin_len);
    if (uv_write(&p->write, (uv_stream_t *)&p->in, &b, 1, hproc__stdin_written) != 0)
      hproc__close((uv_handle_t *)&p->in);
  }
  uv_timer_start(&p->timeout, hproc__timeout, (uint64_t)(timeout * 1000 + 0.5), 0);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- where vigil's Lua is -------------------------------------------------------- */

/*
 * An installed vigil finds its Lua modules relative to its own binary
 * (/proc/self/exe): <bindir>/VIGIL_LUA_REL, which CMake computes from the
 * install layout ("../share/vigil/lua" for bin/ and share/), and its Lua C
 * module at <bindir>/VIGIL_CPATH_REL. So a tree installed under any prefix,
 * staged with DESTDIR or unpacked with dpkg -x, works where it lands. Then
 * the build tree (the source's lua/, the build's lib/: what a developer
 * runs build/vigil with; left out of packaged builds, -DVIGIL_SOURCE_PATHS=
 * OFF), then the configured prefix (a system without /proc). VIGIL_LUA_PATH,
 * when set, is the one place the Lua modules are looked for.
 */
static bool host__holds(const char *dir, const char *probe) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/%s", dir, probe);
  return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* <directory of the running binary>/rel into out; false without /proc. */
static bool host__beside_binary(const char *rel, char *out, size_t cap) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return false;
  exe[n] = '\0'; /* an upgraded binary reads "/usr/bin/vigil (deleted)": its directory still holds */
  char *slash = strrchr(exe, '/');
  if (!slash) return false;
  *slash = '\0';
  n = snprintf(out, cap, "%s/%s", exe, rel);
  return n > 0 && (size_t)n < cap;
}

/* The first of the three places that holds probe, into out; otherwise false
 * and out says where it looked. */
static bool host__locate(const char *rel, const char *source, const char *installed, const char *probe, char *out,
                         size_t cap) {
  char beside[PATH_MAX] = "";
  if (host__beside_binary(rel, beside, sizeof beside) && host__holds(beside, probe)) {
    host__copy(out, cap, beside);
    return true;
  }
  if (source && host__holds(source, probe)) {
    host__copy(out, cap, source);
    return true;
  }
  if (host__holds(installed, probe)) {
    host__copy(out, cap, installed);
    return true;
  }
  snprintf(out, cap, "no %s in %s%s%s or %s", probe, beside[0] ? beside : "(no /proc/self/exe)", source ? ", " : "",
           source ? source : "", installed);
  return false;
}

#ifdef VIGIL_SOURCE_PATHS
#define HOST__SOURCE_LUA   VIGIL_LUA_DIR
#define HOST__SOURCE_CPATH VIGIL_CPATH_DIR
#else
#define HOST__SOURCE_LUA   NULL
#define HOST__SOURCE_CPATH NULL
#endif

bool vigil_lua_dir(char *out, size_t cap) {
  const char *env = getenv("VIGIL_LUA_PATH");
  if (env && *env) {
    if (host__holds(env, "vigil/runtime.lua")) {
      host__copy(out, cap, env);
      return true;
    }
    snprintf(out, cap, "VIGIL_LUA_PATH=%s holds no vigil/runtime.lua (unset it to use the installed modules)", env);
    return false;
  }
  return host__locate(VIGIL_LUA_REL, HOST__SOURCE_LUA, VIGIL_LUA_INSTALLED, "vigil/runtime.lua", out, cap);
}

bool vigil_lua_cdir(char *out, size_t cap) {
  return host__locate(VIGIL_CPATH_REL, HOST__SOURCE_CPATH, VIGIL_CPATH_INSTALLED, "vigil/core.so", out, cap);
}

/* ---- the VM ---------------------------------------------------------------------- */

static const luaL_Reg host_functions[] = {
    {"call", l_call},
    {"now", l_now},
    {"snapshot", l_snapshot},
    {"configure", l_configure},
    {"baseline", l_baseline},
    {"mark_down", l_mark_down},
    {"log", l_log},
    {"hash", l_hash},
    {"report", l_report},
    {"count_exec", l_count_exec},
    {"timer", l_timer},
    {"spawn", l_spawn},
    {NULL, NULL},
};

/* Create the Lua state and the runtime (lua/vigil/runtime.lua) over this
 * host. Returns 0, or non-zero with the reason logged. */
static int host__vm(host *h) {
  lua_State *L = luaL_newstate();
  if (!L) return 1;
  h->L = L;
  luaL_openlibs(L);
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF); /* see the comment at the top */
  lua_pushlightuserdata(L, h);
  lua_setfield(L, LUA_REGISTRYINDEX, "vigil.host");
  luaL_newmetatable(L, "vigil.host.timer");
  lua_newtable(L);
  lua_pushcfunction(L, l_timer_stop);
  lua_setfield(L, -2, "stop");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  /* package.path: the Lua layer first (see vigil_lua_dir). */
  char lua_dir[PATH_MAX];
  if (!vigil_lua_dir(lua_dir, sizeof lua_dir)) {
    vigil_log_field f[] = {HOST__F("error", lua_dir),
                           HOST__F("hint", "reinstall vigil, or set VIGIL_LUA_PATH to the directory holding vigil/")};
    vigil_log_fields(VIGIL_LOG_ERROR, "cannot find vigil's Lua modules", f, 2);
    return 1;
  }
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", lua_dir, lua_dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);

  lua_getglobal(L, "require");
  lua_pushliteral(L, "vigil.runtime");
  if (lua_pcall(L, 1, 1, 0) != 0) {
    host__log_error("cannot load the Lua runtime (lua/vigil)", L);
    return 1;
  }
  lua_getfield(L, -1, "new");
  lua_newtable(L);
  luaL_register(L, NULL, host_functions);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    host__log_error("cannot start the Lua runtime", L);
    return 1;
  }
  h->rt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  /* Every string's methods are the string library: ("").dump would reach
   * what the policy's environment leaves out. This VM runs policies only. */
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  return 0;
}

/* rt:load(path) -> ok, err */
static bool host__load(host *h, char *err, size_t errlen) {
  lua_State *L = h->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->rt_ref);
  lua_getfield(L, -1, "load");
  lua_insert(L, -2);
  lua_pushstring(L, h->path);
  if (lua_pcall(L, 2, 2, 0) != 0) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return false;
  }
  bool ok = lua_toboolean(L, -2);
  if (!ok && err) snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
  lua_pop(L, 2);
  return ok;
}

static void host__reload(host *h, const char *why) {
  vigil_log_field f[] = {HOST__F("policy", h->path), HOST__F("by", why)};
  vigil_log_fields(VIGIL_LOG_INFO, "policy reloading", f, 2);
  char err[1024];
  host__load(h, err, sizeof err);
}

/* A stop or a reload asked for: acted on at once, between two events, never
 * behind the backlog (issue 12, item 7). Returns false to stop. */
static bool host__requests(host *h) {
  bool reload, stop;
  vigil_bridge_take_requests(h->b, &reload, &stop);
  if (stop) {
    h->stopping = true;
    uv_stop(&h->loop);
    return false;
  }
  if (reload) host__reload(h, "request");
  return true;
}

/* Events for at most DISPATCH_SLICE, a request check between every two;
 * then back to the loop (a file change's reload, timers) and, if more
 * wait, here again at its next turn. */
#define DISPATCH_SLICE (50 * VIGIL_MS)

static void host__dispatch(host *h) {
  lua_State *L = h->L;
  uint64_t t0 = uv_hrtime();
  while (!h->stopping) {
    if (h->batch_at == h->batch_n) {
      h->batch_n = vigil_bridge_take_events(h->b, h->batch, EVENT_BATCH);
      h->batch_at = 0;
      if (!h->batch_n) break;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->rt_ref);
    lua_getfield(L, -1, "dispatch");
    lua_insert(L, -2);
    vigil_lua_push_event(L, &h->batch[h->batch_at++]);
    if (lua_pcall(L, 2, 0, 0) != 0) { /* a runtime bug, not a policy error */
      host__log_error("policy runtime failed to dispatch", L);
      lua_pop(L, 1);
    }
    h->st.delivered++;
    if (!host__requests(h)) return;
    if (uv_hrtime() - t0 >= DISPATCH_SLICE) {
      uv_async_send(&h->wake); /* the rest after the loop's other work */
      break;
    }
  }
  host__publish_status(h);
}

static void host__on_wake(uv_async_t *a) {
  host *h = a->data;
  if (host__requests(h)) host__dispatch(h);
}

static void host__on_debounce(uv_timer_t *t) { host__reload(t->data, "file change"); }

static void host__on_fs(uv_fs_event_t *w, const char *filename, int events, int status) {
  (void)events;
  host *h = w->data;
  if (status < 0 || !filename || strcmp(filename, h->base) != 0) return;
  uv_timer_start(&h->debounce, host__on_debounce, 300, 0); /* editors write in bursts */
}

static void host__wake_fn(void *ud) { uv_async_send(ud); }

static void host__close_walk(uv_handle_t *handle, void *arg) {
  (void)arg;
  if (!uv_is_closing(handle)) uv_close(handle, NULL);
}

/* Close every handle of the script loop, let their close callbacks run, close
 * the loop, then the Lua state (none of those callbacks calls into Lua). Runs
 * on the thread that owns them: the script thread in the agent. */
/* Commands must not outlive the agent: TERM every group still running,
 * give them EXIT_MS, then KILL what is left. */
static void host__end_commands(host *h) {
  bool any = false;
  for (hproc *p = h->procs; p; p = p->next)
    if (p->pgid > 0 && kill(-p->pgid, SIGTERM) == 0) any = true;
  if (!any) return;
  uint64_t deadline = uv_hrtime() + (uint64_t)EXIT_MS * 1000000u;
  while (uv_hrtime() < deadline) {
    bool alive = false;
    for (hproc *p = h->procs; p && !alive; p = p->next) alive = p->pgid > 0 && kill(-p->pgid, 0) == 0;
    if (!alive) return;
    usleep(10000);
  }
  for (hproc *p = h->procs; p; p = p->next)
    if (p->pgid > 0) kill(-p->pgid, SIGKILL);
}

static void host__shutdown(host *h) {
  host__end_commands(h);
  uv_walk(&h->loop, host__close_walk, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_loop_close(&h->loop);
  if (h->L) lua_close(h->L);
  h->L = NULL;
}

/* The script thread: build the VM here, report to host_start, run the policy
 * until asked to stop, tear everything down, then tell host_stop. */
static void host__main(void *arg) {
  host *h = arg;
  h->vm_rc = host__vm(h);
  uv_sem_post(&h->ready); /* host_start reads vm_rc after this */
  if (h->vm_rc == 0) {
    h->st.running = true;
    host__copy(h->st.path, sizeof h->st.path, h->path);
    host__publish_status(h);
    char err[1024];
    host__load(h, err, sizeof err);
    host__dispatch(h);
    uv_run(&h->loop, UV_RUN_DEFAULT);
  }
  vigil_bridge_set_script_wake(h->b, NULL, NULL); /* before h->wake is closed */
  h->st.running = false;
  host__publish_status(h);
  host__shutdown(h);
  uv_mutex_lock(&h->lock);
  h->done = true;
  uv_cond_signal(&h->finished);
  uv_mutex_unlock(&h->lock);
}

/* ---- the vigil_policy_host interface --------------------------------------------------- */

static host the_host; /* one policy per agent process */

static int host__prepare(host *h, vigil_bridge *b, const char *path) {
  memset(h, 0, sizeof *h);
  h->b = b;
  h->budget = 1.0;
  char resolved[PATH_MAX];
  host__copy(h->path, sizeof h->path, realpath(path, resolved) ? resolved : path);
  const char *slash = strrchr(h->path, '/');
  host__copy(h->base, sizeof h->base, slash ? slash + 1 : h->path);
  return uv_loop_init(&h->loop) != 0;
}

/* The primitives host_start and host_stop meet the script thread on. 0, or
 * non-zero with none of them left initialised. */
static int host__sync_init(host *h) {
  if (uv_sem_init(&h->ready, 0) != 0) return 1;
  if (uv_mutex_init(&h->lock) == 0) {
    if (uv_cond_init(&h->finished) == 0) return 0;
    uv_mutex_destroy(&h->lock);
  }
  uv_sem_destroy(&h->ready);
  return 1;
}

/* Only once the thread is joined, or was never started. */
static void host__sync_destroy(host *h) {
  uv_cond_destroy(&h->finished);
  uv_mutex_destroy(&h->lock);
  uv_sem_destroy(&h->ready);
}

static int host_start(void *ud, vigil_bridge *b, const char *path) {
  (void)ud;
  host *h = &the_host;
  if (host__prepare(h, b, path) != 0) return 1;
  uv_async_init(&h->loop, &h->wake, host__on_wake);
  h->wake.data = h;
  uv_timer_init(&h->loop, &h->debounce);
  h->debounce.data = h;
  char dir[4096];
  host__copy(dir, sizeof dir, h->path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  if (uv_fs_event_init(&h->loop, &h->watch) == 0) {
    h->watch.data = h;
    h->watching = uv_fs_event_start(&h->watch, host__on_fs, slash ? dir : ".", 0) == 0;
  }
  if (host__sync_init(h) != 0) {
    host__shutdown(h);
    return 1;
  }
  vigil_bridge_set_script_wake(b, host__wake_fn, &h->wake);
  if (uv_thread_create(&h->thread, host__main, h) != 0) {
    vigil_bridge_set_script_wake(b, NULL, NULL);
    host__shutdown(h);
    host__sync_destroy(h);
    return 1;
  }
  /* The thread creates the Lua state and loads the runtime; wait for its
   * verdict. On failure it has already closed everything: join it. */
  uv_sem_wait(&h->ready);
  if (h->vm_rc != 0) {
    uv_thread_join(&h->thread);
    host__sync_destroy(h);
    return 1;
  }
  return 0;
}

static void host_stop(void *ud, int wait_ms) {
  (void)ud;
  host *h = &the_host;
  vigil_bridge_request(h->b, false, true);
  uint64_t deadline = uv_hrtime() + (uint64_t)(wait_ms > 0 ? wait_ms : 0) * 1000000u;
  uv_mutex_lock(&h->lock);
  while (!h->done) { /* against the deadline: wake-ups may be spurious */
    uint64_t now = uv_hrtime();
    if (now >= deadline) break;
    uv_cond_timedwait(&h->finished, &h->lock, deadline - now);
  }
  bool done = h->done;
  uv_mutex_unlock(&h->lock);
  if (!done) {
    vigil_log(VIGIL_LOG_WARN, "policy thread did not stop in time; exiting without it", NULL);
    return; /* the process is exiting: the thread goes with it */
  }
  uv_thread_join(&h->thread); /* it has closed its handles, loop and Lua state */
  host__sync_destroy(h);
}

const vigil_policy_host vigil_lua_host = {host_start, host_stop, NULL};

/* Uses, in the policy's source, of what policies cannot reach (the
 * environment already refuses them; this names them before a handler
 * trips on one in production). Printed as "path: line N: ...". */
static int host__forbidden(host *h, const char *path) {
  lua_State *L = h->L;
  static const char scan[] = "local path = ...\n"
                             "local f = io.open(path, 'r')\n"
                             "if not f then return {} end\n"
                             "local s = f:read('*a')\n"
                             "f:close()\n"
                             "return require('vigil').forbidden_uses(s)\n";
  if (luaL_loadstring(L, scan) != 0) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushstring(L, path);
  if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  int n = (int)lua_objlen(L, -1);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    fprintf(stderr, "%s: %s\n", path, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

int vigil_policy_check(const char *path) {
  host *h = &the_host;
  vigil_log_set_level(VIGIL_LOG_WARN); /* the verdict is printed below; keep the noise out */
  if (host__prepare(h, NULL, path) != 0 || host__vm(h) != 0) return 1; /* no agent: on this thread */
  char err[1024];
  bool ok = host__load(h, err, sizeof err);
  int forbidden = host__forbidden(h, path);
  if (ok && forbidden) {
    /* The findings are of two kinds (lua/vigil/check.lua): forbidden names
     * and names the vigil API does not have; the summary says which. */
    fprintf(stderr,
            "%s: %d problem%s found: names outside the vigil API or what policies cannot reach (docs/POLICIES.md, "
            "\"Editor support\" and \"What a policy cannot do\")\n",
            path, forbidden, forbidden == 1 ? "" : "s");
    ok = false;
  } else if (ok) {
    lua_rawgeti(h->L, LUA_REGISTRYINDEX, h->rt_ref);
    lua_getfield(h->L, -1, "active");
    int handlers = 0, timers = 0;
    if (lua_istable(h->L, -1)) {
      lua_getfield(h->L, -1, "handlers");
      lua_pushnil(h->L);
      while (lua_next(h->L, -2)) {
        handlers += (int)lua_objlen(h->L, -1);
        lua_pop(h->L, 1);
      }
      lua_pop(h->L, 1);
      lua_getfield(h->L, -1, "timers");
      timers = (int)lua_objlen(h->L, -1);
      lua_pop(h->L, 1);
    }
    lua_pop(h->L, 2);
    printf("%s: ok (%d handlers, %d timers)\n", path, handlers, timers);
  } else if (!forbidden) {
    fprintf(stderr, "%s\n", err);
  } else if (err[0]) {
    fprintf(stderr, "%s\n", err);
  }
  host__shutdown(h);
  return ok ? 0 : 1;
}

int vigil_policy_bench(const char *path, long n) {
  host *h = &the_host;
  vigil_log_set_level(VIGIL_LOG_WARN);
  if (host__prepare(h, NULL, path) != 0 || host__vm(h) != 0) return 1; /* no agent: on this thread */
  char err[1024];
  if (!host__load(h, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  lua_State *L = h->L;
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = VIGIL_EVENT_PEER_DOWN;
  e.state = VIGIL_STATE_DOWN;
  e.previous = VIGIL_STATE_NORMAL;
  e.phi = 9.5;
  snprintf(e.dc, sizeof e.dc, "dc1");
  snprintf(e.rack, sizeof e.rack, "r1");
  uint64_t t0 = uv_hrtime();
  for (long i = 0; i < n; i++) {
    /* exactly what host__dispatch does for each event */
    snprintf(e.peer, sizeof e.peer, "10.0.%ld.%ld:7946", (i / 250) % 250, i % 250 + 1);
    e.at = t0 + (uint64_t)i;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->rt_ref);
    lua_getfield(L, -1, "dispatch");
    lua_insert(L, -2);
    vigil_lua_push_event(L, &e);
    if (lua_pcall(L, 2, 0, 0) != 0) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      return 1;
    }
  }
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  printf("%ld events in %.3f s: %.0f events/s into Lua handlers (%s)\n", n, secs, (double)n / secs, path);
  lua_close(L);
  return 0;
}
